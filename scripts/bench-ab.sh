#!/usr/bin/env bash
# Two builds of renkei_load_bench side by side in one run (before/after a
# change): for each case the two binaries run one after the other, in-process
# server each (the server code is the one compiled into that binary), same
# clients and seconds, and a table gives both rates and the ratio.
#
#   bash scripts/bench-ab.sh BEFORE_BIN AFTER_BIN
#   AB_SECONDS=10 AB_CASES="flows:32 healthz:8 browser:32" bash scripts/bench-ab.sh A B
#
# Cases: flows:N (complete flows, N users), browser:N (the same, --browser-like),
# healthz:N (GET /healthz: middleware + one read transaction), bare:N (bare
# cpp-httplib JSON POST: the same in both unless httplib changed; a check of
# the machine's drift between the two runs).
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 BEFORE_BIN AFTER_BIN"; exit 2; }
A="$1"
B="$2"
AB_SECONDS="${AB_SECONDS:-10}"
AB_CASES="${AB_CASES:-flows:32 browser:32 healthz:8}"
printf 'nproc %s, load average %s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
rows=()
for c in $AB_CASES; do
  kind="${c%%:*}"
  n="${c##*:}"
  case "$kind" in
    flows) args=(--clients "$n") ;;
    browser) args=(--clients "$n" --browser-like) ;;
    healthz) args=(--healthz --clients "$n") ;;
    bare) args=(--bare-post --clients "$n") ;;
    *) echo "unknown case $kind"; exit 2 ;;
  esac
  rate() {
    local out
    out="$("$1" "${args[@]}" --seconds "$AB_SECONDS" 2>&1 | grep '^SUMMARY ' | cut -d' ' -f2-)" || true
    node -e 'const j=JSON.parse(process.argv[1]||"{}");console.log(j.mode==="flows"?`${j.per_s.toFixed(1)} flows/s ${j.req_per_s.toFixed(0)} req/s fail ${j.failed}`:`${(j.per_s||0).toFixed(0)} req/s fail ${j.failed}`)' "$out"
  }
  ra="$(rate "$A")"
  rb="$(rate "$B")"
  rows+=("$c|$ra|$rb")
  printf '%-12s before: %-40s after: %s\n' "$c" "$ra" "$rb"
done
echo
echo "| case | before | after | after/before |"
echo "|---|---|---|---|"
for r in "${rows[@]}"; do
  IFS='|' read -r c ra rb <<<"$r"
  ratio="$(node -e 'const a=parseFloat(process.argv[1]),b=parseFloat(process.argv[2]);console.log((b/a).toFixed(2)+"×")' "$ra" "$rb")"
  echo "| $c | $ra | $rb | $ratio |"
done
