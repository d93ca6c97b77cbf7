#!/usr/bin/env bash
# Our server against a reference OAuth server, same machine, same run, same
# client (docs/performance.md, "Reference server comparison"):
#   - panva's oidc-provider (npm devDependency; tests/perf/reference/oidc_server.mjs,
#     in-memory adapter, programmatic login/consent interactions), and
#   - renkei-server (a real process; scripts/bench-server.sh),
# both driven by tests/perf/reference/flow_load.mjs (node, keep-alive agents,
# N concurrent users, complete authorization-code + PKCE flows with one API
# read). For each client count the two runs alternate; the summary gives
# flows/s for both and the ratio renkei / oidc-provider. 127.0.0.1 only.
#
#   bash scripts/bench-reference.sh
#   REF_CLIENTS="1 8 32" REF_SECONDS=10 bash scripts/bench-reference.sh   (the defaults)
#   BUILD_DIR=build/h-perf NO_BUILD=1 bash scripts/bench-reference.sh   (an existing build)
#   RENKEI_DB_DIR=/dev/shm bash scripts/bench-reference.sh   (our database on tmpfs: no fsync,
#       closer to oidc-provider's in-memory adapter; a diagnostic only)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR="${BUILD_DIR:-build/native}"
RENKEI_SERVER_BIN="$BUILD_DIR/server/renkei-server"
source scripts/bench-server.sh

REF_CLIENTS="${REF_CLIENTS:-1 8 32}"
REF_SECONDS="${REF_SECONDS:-10}"

bench_machine
bench_build renkei-server
if [[ ! -d node_modules/oidc-provider ]]; then
  step "npm install (oidc-provider)"
  npm install --no-audit --no-fund
fi
printf 'oidc-provider %s\n' "$(node -p 'require("./node_modules/oidc-provider/package.json").version')"

OIDC_PID=
work="$(mktemp -d "${TMPDIR:-/tmp}/renkei-bench-ref-XXXXXX")"
cleanup() {
  if [[ -n "$OIDC_PID" ]]; then kill -TERM "$OIDC_PID" 2>/dev/null || true; wait "$OIDC_PID" 2>/dev/null || true; fi
  renkei_stop
  rm -rf "$work"
}
trap cleanup EXIT

step "start both servers"
renkei_start
node tests/perf/reference/oidc_server.mjs >"$work/oidc.out" 2>"$work/oidc.err" &
OIDC_PID=$!
for _ in $(seq 1 100); do grep -q '^LISTENING ' "$work/oidc.out" 2>/dev/null && break; sleep 0.1; done
OIDC_URL="http://127.0.0.1:$(awk '/^LISTENING/ {print $2}' "$work/oidc.out")"
echo "oidc-provider pid $OIDC_PID at $OIDC_URL"

summaries="$work/summaries"
: >"$summaries"
run() {  # target url clients
  local out="$work/run.out"
  step "$1, $3 user(s), ${REF_SECONDS} s"
  node tests/perf/reference/flow_load.mjs --target "$1" --url "$2" --clients "$3" \
    --seconds "$REF_SECONDS" | tee "$out" || true
  local line
  line="$(grep '^SUMMARY ' "$out" | tail -1 | cut -d' ' -f2-)"
  local rss
  if [[ "$1" == oidc ]]; then rss="$(renkei_rss_kb "$OIDC_PID")"; else rss="$(renkei_rss_kb)"; fi
  [[ -n "$line" ]] && printf '%s\t%s\n' "$rss" "$line" >>"$summaries"
}
for c in $REF_CLIENTS; do
  run oidc "$OIDC_URL" "$c"
  run renkei "$RENKEI_URL" "$c"
done

step "summary"
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").filter(Boolean)
  .map((l) => { const [rss, j] = l.split("\t"); return { rss: Number(rss), ...JSON.parse(j) }; });
const f = (x, d = 1) => Number(x).toFixed(d);
const head = ["server", "users", "flows/s", "req/s", "flow p50 ms", "flow p99 ms", "slowest step p99", "failed", "server RSS MiB", "renkei/oidc"];
const out = [head];
const byClients = {};
for (const r of rows) (byClients[r.clients] ||= {})[r.target] = r;
for (const r of rows) {
  const w = r.steps.whole_flow || {};
  let worst = ["-", 0];
  for (const [k, v] of Object.entries(r.steps)) if (k !== "whole_flow" && v.p99 > worst[1]) worst = [k, v.p99];
  const pair = byClients[r.clients];
  const ratio = r.target === "renkei" && pair.oidc ? f(r.per_s / pair.oidc.per_s, 2) + "×" : "";
  out.push([r.target === "oidc" ? "oidc-provider" : "renkei-server", String(r.clients), f(r.per_s), f(r.req_per_s, 0),
            f(w.p50 ?? NaN, 1), f(w.p99 ?? NaN, 1), `${worst[0]} ${f(worst[1], 1)}`, String(r.failed), f(r.rss / 1024), ratio]);
}
const wd = head.map((_, i) => Math.max(...out.map((r) => [...r[i]].length)));
for (const r of out) console.log(r.map((c, i) => c + " ".repeat(wd[i] - [...c].length)).join("  "));
' "$summaries"
