#!/usr/bin/env bash
# Development: the simulated core-banking gateway (tools/renkei_core_sim.cpp)
# on https://127.0.0.1:8443, with throw-away certificates made now in
# var/core-sim/ (a CA, the gateway's certificate, Renkei's client
# certificate). Then, in another terminal, the server reading its records
# from it:
#
#   bash scripts/start-core-sim.sh [renkei-core-sim options, e.g. --latency-ms 300]
#   build/native/server/renkei-server --config config/dev-remote.json
#
# Switches while it runs (docs/core-banking.md):
#   curl -s localhost:8444/control
#   curl -s localhost:8444/control -d '{"maintenance_until":"2026-12-01T06:00:00+09:00"}'
#   curl -s localhost:8444/control -d '{"error":"unavailable"}'   # or busy, internal, none
#   curl -s localhost:8444/control -d '{"hang":true}'
# Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x build/native/tools/renkei-core-sim ]; then
  cmake --preset native >/dev/null
  cmake --build --preset native -j2 --target renkei-core-sim
fi
rm -rf var/core-sim
bash scripts/make-core-sim-certs.sh var/core-sim
exec build/native/tools/renkei-core-sim --cert var/core-sim/server.pem --key var/core-sim/server.key \
  --client-ca var/core-sim/ca.pem --port 8443 --control-port 8444 "$@"
