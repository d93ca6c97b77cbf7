#!/usr/bin/env bash
# How soon screen ① is usable on a phone (docs/performance.md, "First screen
# on a phone"): a real renkei-server process with the dev-mode bench config
# (scripts/bench-server.sh), then LOADS cold loads of GET /authorize?… in
# headless chromium with the phone profile applied through the DevTools
# protocol (Slow 4G: 150 ms latency, 1.6 Mbit/s down, 750 kbit/s up; CPU
# slowed 4×), each in a fresh browser (tests/perf/first_screen.cjs). Reports
# the median, min and max time until ① is shown and its first field takes
# typing, and when the WASM core was ready. A benchmark, never a pass/fail
# test. 127.0.0.1 only.
#
#   bash scripts/bench-first-screen.sh
#   LOADS=10 bash scripts/bench-first-screen.sh                       (the default)
#   FIRST_SCREEN_ARGS="--cpu 1 --latency 0 --down-kbit 0 --up-kbit 0" bash scripts/bench-first-screen.sh   (no throttling)
#   BUILD_DIR=build/before NO_BUILD=1 bash scripts/bench-first-screen.sh        (another build)
#   RENKEI_WASM_DIR=/path/to/build/wasm bash scripts/bench-first-screen.sh      (another module)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR="${BUILD_DIR:-build/native}"
RENKEI_SERVER_BIN="$BUILD_DIR/server/renkei-server"
source scripts/bench-server.sh

LOADS="${LOADS:-10}"

bench_machine
printf 'wasm folder: %s\n' "${RENKEI_WASM_DIR:-web/../build/wasm}"
bench_build renkei-server
if [[ ! -d node_modules/playwright-core ]]; then
  step "npm install (playwright-core)"
  npm install --no-audit --no-fund
fi

trap renkei_stop EXIT
step "start renkei-server ($RENKEI_SERVER_BIN)"
renkei_start

step "$LOADS cold loads of /authorize?… on the phone profile"
# shellcheck disable=SC2086
node tests/perf/first_screen.cjs --url "$RENKEI_URL" --loads "$LOADS" ${VERBOSE:+--verbose} ${FIRST_SCREEN_ARGS:-}
