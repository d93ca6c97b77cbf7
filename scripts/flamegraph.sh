#!/usr/bin/env bash
# A flame graph (SVG) of renkei-server under load: starts the server as the
# benchmark scripts do (scripts/bench-server.sh: SQLite on ext4 under $TMPDIR,
# production thread and in-flight settings), drives it with
# renkei_load_bench --url (complete flows, N users), records the server alone
# with `perf record` for the length of the run, and renders the samples with
# scripts/flamegraph.mjs (our own renderer: no third-party code). Also writes
# the self time by DSO and by function next to the SVG (.txt).
#
#   bash scripts/flamegraph.sh                       → docs/perf/flamegraph.svg
#   OUT=docs/perf/server-after.svg TITLE="…" bash scripts/flamegraph.sh
#   CLIENTS=32 SECONDS_=10 BROWSER_LIKE=1 bash scripts/flamegraph.sh
#   CALLGRAPH=fp bash scripts/flamegraph.sh   (frame pointers: cheaper, but
#       stacks through libc and libstdc++ are cut short; default dwarf)
#   RENKEI_SERVER_BIN=/path/renkei-server LOAD_BENCH=/path/renkei_load_bench NO_BUILD=1 …
#   FOLDED=/tmp/x.folded (also keep the folded stacks)
#   MIN_PERCENT=0.2 (frames narrower than this share are left out: SVG size)
#
# Needs linux-perf and a kernel that lets this user record (root, or
# kernel.perf_event_paranoid ≤ 1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR="${BUILD_DIR:-build/native}"
RENKEI_SERVER_BIN="${RENKEI_SERVER_BIN:-$BUILD_DIR/server/renkei-server}"
LOAD_BENCH="${LOAD_BENCH:-$BUILD_DIR/tests/renkei_load_bench}"
source scripts/bench-server.sh

CLIENTS="${CLIENTS:-32}"
SECONDS_="${SECONDS_:-10}"
OUT="${OUT:-docs/perf/flamegraph.svg}"
TITLE="${TITLE:-renkei-server, ${CLIENTS} users, complete flows}"
CALLGRAPH="${CALLGRAPH:-dwarf}"
FREQ="${FREQ:-499}"
MIN_PERCENT="${MIN_PERCENT:-0.25}"
command -v perf >/dev/null || { echo "perf missing: apt-get install linux-perf"; exit 1; }

bench_machine
bench_build renkei-server renkei_load_bench

work="$(mktemp -d "${TMPDIR:-/tmp}/renkei-flame-XXXXXX")"
PERF_PID=
cleanup() {
  if [[ -n "$PERF_PID" ]]; then kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true; fi
  renkei_stop
  rm -rf "$work"
}
trap cleanup EXIT

step "start the server"
renkei_start
# A short warm-up, so the graph shows steady state rather than start-up.
"$LOAD_BENCH" --url "$RENKEI_URL" --clients "$CLIENTS" --seconds 2 >/dev/null || true

step "record ${SECONDS_} s at ${CLIENTS} users (perf --call-graph $CALLGRAPH, ${FREQ} Hz)"
if [[ "$CALLGRAPH" == dwarf ]]; then cg="dwarf,16384"; else cg="$CALLGRAPH"; fi
perf record -F "$FREQ" --call-graph "$cg" -p "$RENKEI_PID" -o "$work/perf.data" 2>"$work/perf.err" &
PERF_PID=$!
sleep 0.5
"$LOAD_BENCH" --url "$RENKEI_URL" --clients "$CLIENTS" --seconds "$SECONDS_" \
  ${BROWSER_LIKE:+--browser-like} | grep -E '^(==|[0-9]+ flows|errors)' || true
kill -INT "$PERF_PID"
wait "$PERF_PID" || true
PERF_PID=
cat "$work/perf.err" | grep -v '^\[ perf record: Woken' || true

step "render $OUT"
mkdir -p "$(dirname "$OUT")"
perf script -i "$work/perf.data" --no-inline 2>/dev/null >"$work/perf.txt"
node scripts/flamegraph.mjs --title "$TITLE" --min-percent "$MIN_PERCENT" <"$work/perf.txt" >"$OUT"
# Inclusive shares: the HTTP layer's middleware and helpers, httplib's
# request handling, SQLite, and the kernel's fsync path.
node scripts/flamegraph.mjs --top 25 \
  --inclusive 'install_middleware' --inclusive 'add_security_headers|write_access_log|write_log_line' \
  --inclusive '^renkei::server::(json_body|send_json|cookie_value)' --inclusive 'tolower' \
  --inclusive 'process_request' --inclusive 'sqlite3' --inclusive 'fdatasync|fsync' \
  <"$work/perf.txt" >"${OUT%.svg}.txt"
# FOLDED=path also keeps the folded stacks (one line per stack: frames;… count),
# for questions the SVG does not answer (e.g. inclusive time per route).
if [[ -n "${FOLDED:-}" ]]; then node scripts/flamegraph.mjs --folded <"$work/perf.txt" >"$FOLDED"; fi
printf '%s: %s bytes\n' "$OUT" "$(stat -c %s "$OUT")"
head -12 "${OUT%.svg}.txt"; sed -n "/^inclusive/,\$p" "${OUT%.svg}.txt"
