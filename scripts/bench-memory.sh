#!/usr/bin/env bash
# Resident memory of renkei-server with HOLD_FLOWS (default 10,000) flows in
# progress (docs/performance.md, "Memory with 10,000 flows in progress"):
#   1. start a separate renkei-server process (scripts/bench-server.sh);
#   2. renkei_load_bench --url … --hold-flows N --server-pid PID: HOLD_CLIENTS
#      (default 16) client threads start N flows and drive each through
#      /authorize, GET /api/flow, ①, ② and ③ to screen ④ (call_wait), then
#      leave it open (no cancel; flows expire only after flow_idle_seconds,
#      900 s); the tool reads the server's VmRSS from /proc/PID/status before
#      the first flow and 3 s after the last one (the client is another
#      process, so nothing of it is counted);
#   3. print the server's VmRSS/VmHWM, the database size and the open flows.
# IN_PROCESS=1 also runs the in-process variant (server and client threads in
# one process) for comparison.
#
#   bash scripts/bench-memory.sh
#   HOLD_FLOWS=10000 HOLD_CLIENTS=16 bash scripts/bench-memory.sh   (the defaults)
#   BUILD_DIR=build/h-perf NO_BUILD=1 bash scripts/bench-memory.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR="${BUILD_DIR:-build/native}"
RENKEI_SERVER_BIN="$BUILD_DIR/server/renkei-server"
source scripts/bench-server.sh
HOLD_FLOWS="${HOLD_FLOWS:-10000}"
HOLD_CLIENTS="${HOLD_CLIENTS:-16}"
bench="$BUILD_DIR/tests/renkei_load_bench"

bench_machine
bench_build renkei-server renkei_load_bench
trap renkei_stop EXIT

step "start renkei-server"
renkei_start
printf 'server VmRSS at start: %s kB\n' "$(renkei_rss_kb)"
step "hold $HOLD_FLOWS flows on ④ with $HOLD_CLIENTS clients"
"$bench" --url "$RENKEI_URL" --server-pid "$RENKEI_PID" --hold-flows "$HOLD_FLOWS" \
  --clients "$HOLD_CLIENTS" --max-seconds 110 || true
grep -E '^Vm(RSS|HWM|Data)|^Threads' "/proc/$RENKEI_PID/status"
db_kb=$(du -ck "$RENKEI_DB"* | tail -1 | cut -f1)
printf 'database with -wal/-shm: %s kB\n' "$db_kb"
if command -v sqlite3 >/dev/null; then
  printf 'flows in the database by screen: '
  sqlite3 "$RENKEI_DB" "SELECT group_concat(screen || ' ' || n, ', ') FROM (SELECT screen, count(*) AS n FROM flows GROUP BY screen);" 2>/dev/null || echo '?'
fi
renkei_stop

if [[ -n "${IN_PROCESS:-}" ]]; then
  step "in process (server + client threads in one process)"
  "$bench" --hold-flows "$HOLD_FLOWS" --clients "$HOLD_CLIENTS" --max-seconds 110 || true
fi
