#!/usr/bin/env bash
# Everything CI checks, from a fresh clone: install the toolchain, build the
# WASM core, build the native tree (tools, server, tests; it points the node and
# parity tests at build/wasm), then run every test through ctest.
#
#   bash scripts/test-all.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# emcc's JS optimizer needs Debian's acorn, which node only finds through NODE_PATH.
export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:${NODE_PATH}}"

step() { printf '\n==> %s\n' "$*"; }

step "setup"
bash scripts/setup.sh

step "WASM core (preset wasm)"
cmake --preset wasm
cmake --build --preset wasm -j2
wasm=build/wasm/renkei_core.wasm
printf 'renkei_core.wasm: %d bytes, %d gzipped (-9)\n' \
  "$(wc -c <"$wasm")" "$(gzip -9c "$wasm" | wc -c)"

step "native (preset native)"
cmake --preset native
cmake --build --preset native -j2

step "tests (ctest --preset native)"
ctest --preset native -j2
