#!/usr/bin/env bash
# What static files cost the server (docs/performance.md, "Static files:
# compressed once"): a real renkei-server process with the dev-mode bench
# config (scripts/bench-server.sh), then
#   1. per request: GET /static/flow.js with Accept-Encoding: br, REQUESTS
#      times over one keep-alive connection (curl), the server's CPU divided
#      by the count;
#   2. per page load: LOADS cold loads of screen ① in headless chromium, each
#      with a fresh profile (tests/perf/page_load.cjs), the server's CPU per
#      load from /proc/PID (utime+stime in clock ticks, and the threads'
#      schedstat in ns); then the load's requests replayed back to back, and
#      one at a time 30 ms apart (each request's own CPU);
#   3. for context: what idle keep-alive connections cost (IDLE_CONNECTIONS
#      connections, one request each, then 1.5 s of silence): httplib 0.11.4's
#      own wait polls an idle connection every ~11 ms until its keep-alive
#      timeout; the server's KeepAliveServer (server.cpp) every 500 ms.
# A benchmark, never a pass/fail test. 127.0.0.1 only.
#
#   bash scripts/bench-page-load.sh
#   LOADS=20 REQUESTS=200 bash scripts/bench-page-load.sh            (the defaults)
#   BUILD_DIR=build/before NO_BUILD=1 bash scripts/bench-page-load.sh  (another build)
#   PERF_OUT=/tmp/page.perf bash scripts/bench-page-load.sh  (also perf record -g
#       of the server during the page loads; perf report -i /tmp/page.perf)
#   RENKEI_WASM_DIR=/tmp/wasm-copy bash scripts/bench-page-load.sh  (the WASM
#       module from there; default build/wasm)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR="${BUILD_DIR:-build/native}"
RENKEI_SERVER_BIN="$BUILD_DIR/server/renkei-server"
source scripts/bench-server.sh

LOADS="${LOADS:-20}"
REQUESTS="${REQUESTS:-200}"
IDLE_CONNECTIONS="${IDLE_CONNECTIONS:-6}"
CLK_TCK="$(getconf CLK_TCK)"

# The server serves the WASM module from $RENKEI_WASM_DIR, else build/wasm. A
# worktree without its own may point at main's build/wasm; best a copy, since
# a file that changes during the run is a new version (compressed again, and
# the replays' hashed names answer 404).
wasm_dir="${RENKEI_WASM_DIR:-build/wasm}"
if [[ ! -f "$wasm_dir/renkei_core.wasm" || ! -f "$wasm_dir/renkei_core.js" ]]; then
  echo "bench-page-load: no renkei_core.wasm/.js in $wasm_dir (build the wasm preset, or set RENKEI_WASM_DIR)" >&2
  exit 1
fi

bench_machine
bench_build renkei-server
if [[ ! -d node_modules/playwright-core ]]; then
  step "npm install (playwright-core)"
  npm install --no-audit --no-fund
fi

PERF_PID=
cleanup() {
  if [[ -n "$PERF_PID" ]]; then kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true; fi
  renkei_stop
}
trap cleanup EXIT

step "start renkei-server ($RENKEI_SERVER_BIN)"
renkei_start

# utime+stime of the server in clock ticks; the threads' on-CPU nanoseconds.
cpu_ns() { cat /proc/"$RENKEI_PID"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }

step "GET /static/flow.js with Accept-Encoding: br, $REQUESTS requests on one connection"
url="$RENKEI_URL/static/flow.js"
curl -s -o /dev/null -D - -H 'Accept-Encoding: br' "$url" | grep -iE '^(content-encoding|content-length|vary|etag):' || true
args=()
for _ in $(seq 1 "$REQUESTS"); do args+=(-o /dev/null "$url"); done
t0="$(renkei_cpu_ticks)"; n0="$(cpu_ns)"
curl -s -H 'Accept-Encoding: br' "${args[@]}"
t1="$(renkei_cpu_ticks)"; n1="$(cpu_ns)"
awk -v t="$((t1 - t0))" -v n="$((n1 - n0))" -v r="$REQUESTS" -v hz="$CLK_TCK" 'BEGIN {
  printf "server CPU per GET /static/flow.js (br): %.3f ms (utime+stime ticks), %.3f ms (schedstat)\n",
         t * 1000 / hz / r, n / 1e6 / r }'

step "$LOADS cold loads of screen ① in headless chromium (+ 1 warm-up)"
if [[ -n "${PERF_OUT:-}" ]]; then
  perf record -g -q -o "$PERF_OUT" -p "$RENKEI_PID" 2>/dev/null &
  PERF_PID=$!
  sleep 1
fi
node tests/perf/page_load.cjs --url "$RENKEI_URL" --pid "$RENKEI_PID" --loads "$LOADS" ${VERBOSE:+--verbose}
if [[ -n "$PERF_PID" ]]; then
  kill -INT "$PERF_PID"; wait "$PERF_PID" 2>/dev/null || true; PERF_PID=
  echo "perf profile: $PERF_OUT (perf report -i $PERF_OUT --no-children)"
fi

step "$IDLE_CONNECTIONS idle keep-alive connections for 1.5 s"
node - "$RENKEI_PORT" "$RENKEI_PID" "$IDLE_CONNECTIONS" <<'JS'
const net = require('net');
const fs = require('fs');
const [port, pid, n] = process.argv.slice(2).map(Number);
const ns = () => fs.readdirSync(`/proc/${pid}/task`).reduce((s, t) => {
  try { return s + Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch (e) { return s; }
}, 0);
(async () => {
  const socks = await Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    s.once('data', () => resolve(s));
  })));
  const before = ns();
  await new Promise((r) => setTimeout(r, 1500));
  const ms = (ns() - before) / 1e6;
  for (const s of socks) s.destroy();
  console.log(`server CPU with ${n} idle keep-alive connections: ${ms.toFixed(2)} ms in 1.5 s ` +
              `(${(ms / n / 1.5).toFixed(2)} ms per connection-second)`);
})();
JS
