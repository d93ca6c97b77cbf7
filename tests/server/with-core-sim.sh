#!/usr/bin/env bash
# Runs a test program against the simulated core-banking gateway: makes
# throw-away certificates, starts renkei-core-sim on free ports with the test
# servers' date (2026-11-25), exports where it is, runs the program, stops
# the simulator.
#
#   tests/server/with-core-sim.sh SIM_BINARY TEST_BINARY [args…]
#
# Exports RENKEI_TEST_CORE_SIM (the directory: ca.pem, client.pem, …,
# rogue-client.pem), RENKEI_TEST_CORE_SIM_PORT and _CONTROL_PORT, and the
# simulator's binary as RENKEI_TEST_CORE_SIM_BIN (for tests that start a
# private one, e.g. to restart it). With
# RENKEI_TEST_RECORDS=remote (set by ctest) every TestServer reads its records
# from the simulator (tests/server/test_server.h).
set -euo pipefail
sim=${1:?sim binary}; shift
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir=$(mktemp -d)
cleanup() {
  if [ -n "${sim_pid:-}" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
bash "$here/../../scripts/make-core-sim-certs.sh" "$dir"
"$sim" --cert "$dir/server.pem" --key "$dir/server.key" --client-ca "$dir/ca.pem" \
  --port 0 --control-port 0 --port-file "$dir/ports" --today 2026-11-25 >"$dir/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do [ -s "$dir/ports" ] && break; sleep 0.1; done
if [ ! -s "$dir/ports" ]; then cat "$dir/sim.log" >&2; echo "renkei-core-sim did not start" >&2; exit 1; fi
read -r port control <"$dir/ports"
export RENKEI_TEST_CORE_SIM="$dir" RENKEI_TEST_CORE_SIM_PORT="$port" RENKEI_TEST_CORE_SIM_CONTROL_PORT="$control"
RENKEI_TEST_CORE_SIM_BIN="$(cd "$(dirname "$sim")" && pwd)/$(basename "$sim")"
export RENKEI_TEST_CORE_SIM_BIN
"$@"
