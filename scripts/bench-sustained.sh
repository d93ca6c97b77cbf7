#!/usr/bin/env bash
# Sustained load above capacity against a real renkei-server process
# (docs/performance.md, "Sustained load above capacity"):
#   1. start renkei-server (scripts/bench-server.sh: production worker_threads
#      64 and max_in_flight 48; the per-IP rate limit raised, or every client on
#      127.0.0.1 would only ever see 429);
#   2. run renkei_load_bench --url with SUSTAINED_CLIENTS client threads
#      (default 256, far above what 2 cores serve) for SUSTAINED_SECONDS
#      (default 60), complete flows as in docs/performance.md;
#   3. meanwhile sample the server's VmRSS, threads and open fds every
#      SAMPLE_SECONDS (default 5);
#   4. count the server's answers by status from its JSON log (busy = 503
#      in-flight limit, 429 rate limit; any other 5xx is a defect);
#   5. recovery: right after the load stops, run single flows until one
#      completes, and report how long after the end of the load it did.
#
#   bash scripts/bench-sustained.sh
#   SUSTAINED_CLIENTS=256 SUSTAINED_SECONDS=60 bash scripts/bench-sustained.sh   (the defaults)
#   SUSTAINED_LOAD_ARGS=--honor-retry-after bash scripts/bench-sustained.sh
#       (clients wait Retry-After after a busy answer, as a customer would;
#        without it they start the next flow at once: the worst case)
#   BUILD_DIR=build/h-perf NO_BUILD=1 bash scripts/bench-sustained.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR="${BUILD_DIR:-build/native}"
RENKEI_SERVER_BIN="$BUILD_DIR/server/renkei-server"
source scripts/bench-server.sh

CLIENTS="${SUSTAINED_CLIENTS:-256}"
SECONDS_RUN="${SUSTAINED_SECONDS:-60}"
SAMPLE="${SAMPLE_SECONDS:-5}"
bench="$BUILD_DIR/tests/renkei_load_bench"

bench_machine
bench_build renkei-server renkei_load_bench

work="$(mktemp -d "${TMPDIR:-/tmp}/renkei-bench-sustained-XXXXXX")"
LOAD_PID=
cleanup() {
  if [[ -n "$LOAD_PID" ]]; then kill -TERM "$LOAD_PID" 2>/dev/null || true; wait "$LOAD_PID" 2>/dev/null || true; fi
  renkei_stop
  rm -rf "$work"
}
trap cleanup EXIT

step "start renkei-server"
renkei_start "$@"
sample() {
  printf '%6.1f s  VmRSS %6d kB  threads %4s  fds %5s\n' "$1" "$(renkei_rss_kb)" \
    "$(awk '/^Threads:/ {print $2}' "/proc/$RENKEI_PID/status")" \
    "$(ls "/proc/$RENKEI_PID/fd" | wc -l)"
}
sample 0 | tee "$work/samples"

step "load: $CLIENTS clients for $SECONDS_RUN s ${SUSTAINED_LOAD_ARGS:-}"
start_ns=$(date +%s%N)
"$bench" --url "$RENKEI_URL" --clients "$CLIENTS" --seconds "$SECONDS_RUN" \
  --max-seconds "$((SECONDS_RUN + 20))" ${SUSTAINED_LOAD_ARGS:-} >"$work/load.out" 2>&1 &
LOAD_PID=$!
while kill -0 "$LOAD_PID" 2>/dev/null; do
  sleep "$SAMPLE"
  kill -0 "$LOAD_PID" 2>/dev/null || break
  sample "$(( ($(date +%s%N) - start_ns) / 1000000 ))e-3" | tee -a "$work/samples"
done
wait "$LOAD_PID" || true
LOAD_PID=
end_ns=$(date +%s%N)
cat "$work/load.out"
sample "$(( (end_ns - start_ns) / 1000000 ))e-3" | tee -a "$work/samples"

step "recovery: single flows until one completes"
recovered=
for i in $(seq 1 20); do
  t0=$(date +%s%N)
  if "$bench" --url "$RENKEI_URL" --clients 1 --flows 1 --max-seconds 10 >"$work/recovery.out" 2>&1; then
    t1=$(date +%s%N)
    recovered=$(( (t1 - end_ns) / 1000000 ))
    printf 'attempt %d: a complete flow in %d ms; %d ms after the load stopped\n' "$i" \
      "$(( (t1 - t0) / 1000000 ))" "$recovered"
    break
  fi
  printf 'attempt %d failed:\n' "$i"; grep -A5 '^errors' "$work/recovery.out" || true
  sleep 0.5
done
[[ -n "$recovered" ]] || echo "NO RECOVERY within 20 attempts"
sample "$(( ($(date +%s%N) - start_ns) / 1000000 ))e-3" | tee -a "$work/samples"

step "server's answers by status during the run (from its JSON log)"
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
const by = {}; const other5xx = {}; let exceptions = 0;
for (const l of lines) {
  if (!l.startsWith("{")) continue;
  let j; try { j = JSON.parse(l); } catch { continue; }
  if (j.event === "exception") { exceptions++; continue; }
  if (j.status === undefined) continue;
  by[j.status] = (by[j.status] || 0) + 1;
  if (j.status >= 500 && j.status !== 503) other5xx[`${j.status} ${j.method} ${j.path}`] = (other5xx[`${j.status} ${j.method} ${j.path}`] || 0) + 1;
}
const total = Object.values(by).reduce((a, b) => a + b, 0);
console.log(`answers: ${total}; by status: ${JSON.stringify(by)}`);
console.log(`busy: 503 ${by[503] || 0}, 429 ${by[429] || 0}`);
console.log(`5xx other than 503 busy: ${Object.values(other5xx).reduce((a, b) => a + b, 0)} ${JSON.stringify(other5xx)}; exception log lines: ${exceptions}`);
' "$RENKEI_DIR/server.log"
curl -fsS "$RENKEI_URL/metrics" | grep -E '^renkei_http_shed_total' || true
step "RSS samples"
cat "$work/samples"
