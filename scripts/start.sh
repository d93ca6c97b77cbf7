#!/usr/bin/env bash
# The main job: install what is missing, build the native server, and run it
# with the development configuration (config/dev.json: dev mode, movable
# clock, 127.0.0.1:8080). The first start creates var/ with the SQLite
# database and the demo data set; result mails land in var/mail (maildir).
# Ctrl-C (SIGINT) or SIGTERM stops it gracefully.
#
#   bash scripts/start.sh [extra renkei-server options, e.g. --port 8081]
#
# The core's command-line demo of the earlier version is still available:
#   build/native/tools/renkei-cases <tests/parity/demo.jsonl
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
# The customer's screens run the WASM build of the core (served from build/wasm).
# emcc's JS optimizer needs Debian's acorn, which node only finds through NODE_PATH.
export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:${NODE_PATH}}"
cmake --preset wasm >/dev/null
cmake --build --preset wasm -j2
cmake --preset native >/dev/null
cmake --build --preset native -j2 --target renkei-server renkei-cases

# exec: the server receives the signals directly (graceful shutdown).
exec build/native/server/renkei-server --config config/dev.json "$@"
