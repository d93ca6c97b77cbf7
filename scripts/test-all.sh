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

# The whole suite once more under AddressSanitizer and UndefinedBehaviorSanitizer
# (preset asan: Debug, no benchmarks, no WASM/browser tests), then a short run of
# every fuzzer. Both come before the native tests so that the native ctest
# summary stays the last thing printed.
step "ASan+UBSan (preset asan)"
asan_start=$SECONDS
cmake --preset asan
cmake --build --preset asan -j2
ctest --preset asan -j2
printf 'asan build and tests: %d s\n' "$((SECONDS - asan_start))"

step "fuzz smoke (scripts/fuzz.sh, 20 s per target)"
bash scripts/fuzz.sh --seconds 20

step "tests (ctest --preset native)"
ctest --preset native -j2
