#!/usr/bin/env bash
# Server CPU per complete flow of two renkei-server builds, side by side in
# one run: for each round, build A then build B is started as the benchmark
# scripts start it (scripts/bench-server.sh: SQLite synchronous=FULL on ext4,
# production threads), warmed for 2 s, then driven by one renkei_load_bench
# --url (complete flows, N users, S seconds); the server's user+system CPU
# (/proc/PID/stat) over the run is divided by the flows it completed.
# Rounds alternate A and B so that drift of the machine hits both.
#
#   bash scripts/bench-cpu-ab.sh BEFORE/renkei-server AFTER/renkei-server
#   AB_CLIENTS=32 AB_SECONDS=10 AB_ROUNDS=2 BROWSER_LIKE=1 bash scripts/bench-cpu-ab.sh A B
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
A="${1:?usage: bench-cpu-ab.sh BEFORE_SERVER AFTER_SERVER}"
B="${2:?usage: bench-cpu-ab.sh BEFORE_SERVER AFTER_SERVER}"
BUILD_DIR="${BUILD_DIR:-build/native}"
LOAD_BENCH="${LOAD_BENCH:-$BUILD_DIR/tests/renkei_load_bench}"
CLIENTS="${AB_CLIENTS:-32}"
SECONDS_="${AB_SECONDS:-10}"
ROUNDS="${AB_ROUNDS:-2}"
source scripts/bench-server.sh
bench_machine
trap renkei_stop EXIT
hz="$(getconf CLK_TCK)"
declare -A sum_ms sum_flows
run_one() {  # label binary
  RENKEI_SERVER_BIN="$2"
  renkei_start >/dev/null
  "$LOAD_BENCH" --url "$RENKEI_URL" --clients "$CLIENTS" --seconds 2 ${BROWSER_LIKE:+--browser-like} >/dev/null || true
  local t0 out flows t1
  t0="$(renkei_cpu_ticks)"
  out="$("$LOAD_BENCH" --url "$RENKEI_URL" --clients "$CLIENTS" --seconds "$SECONDS_" ${BROWSER_LIKE:+--browser-like})"
  t1="$(renkei_cpu_ticks)"
  renkei_stop
  flows="$(grep -oE '^[0-9]+ flows ok' <<<"$out" | grep -oE '^[0-9]+')"
  local rate; rate="$(grep -oE '[0-9.]+ flows/s' <<<"$out" | head -1)"
  local ms; ms="$(awk -v t=$((t1 - t0)) -v hz="$hz" -v f="$flows" 'BEGIN { printf "%.3f", (f > 0 ? t * 1000 / hz / f : 0) }')"
  printf '| %s | %s | %s | %s |\n' "$1" "$rate" "$flows" "$ms"
  sum_ms[$1]="$(awk -v a="${sum_ms[$1]:-0}" -v b=$((t1 - t0)) 'BEGIN { print a + b }')"
  sum_flows[$1]=$(( ${sum_flows[$1]:-0} + flows ))
}
step "server CPU per flow, ${CLIENTS} users, ${SECONDS_} s, ${ROUNDS} rounds (A = $A, B = $B)"
echo "| build | rate | flows | server CPU ms/flow |"
echo "|---|---:|---:|---:|"
for ((r = 1; r <= ROUNDS; r++)); do run_one A "$A"; run_one B "$B"; done
a="$(awk -v t="${sum_ms[A]}" -v hz="$hz" -v f="${sum_flows[A]}" 'BEGIN { printf "%.3f", t * 1000 / hz / f }')"
b="$(awk -v t="${sum_ms[B]}" -v hz="$hz" -v f="${sum_flows[B]}" 'BEGIN { printf "%.3f", t * 1000 / hz / f }')"
printf '\nall rounds: A %s ms/flow, B %s ms/flow, B/A %s\n' "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')"
