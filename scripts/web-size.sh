#!/usr/bin/env bash
# The compressed transfer of screen ① (SOA201): its HTML, CSS, JS and the WASM
# core, each gzip -9 (what a build could precompress), against the 150 KB goal
# (150,000 bytes). With --url BASE it also measures what a running server
# actually sends (Accept-Encoding: gzip, body bytes on the wire).
#
#   bash scripts/web-size.sh                 # files: web/ and build/wasm (or RENKEI_WASM_DIR)
#   bash scripts/web-size.sh --url http://127.0.0.1:8080
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
wasm_dir="${RENKEI_WASM_DIR:-build/wasm}"
goal=150000
url=""
if [[ "${1:-}" == "--url" ]]; then url="${2:?--url needs a base URL}"; fi

files=(
  web/flow/index.html
  web/static/flow.css
  web/static/flow.js
  "$wasm_dir/renkei_core.js"
  "$wasm_dir/renkei_core.wasm"
)

total_raw=0
total_gz=0
printf '%-40s %10s %10s\n' "screen ① (SOA201)" "bytes" "gzip -9"
for f in "${files[@]}"; do
  if [[ ! -f "$f" ]]; then
    echo "web-size.sh: missing $f (build the wasm preset first)" >&2
    exit 1
  fi
  raw=$(wc -c <"$f")
  gz=$(gzip -9c "$f" | wc -c)
  total_raw=$((total_raw + raw))
  total_gz=$((total_gz + gz))
  printf '%-40s %10d %10d\n' "$f" "$raw" "$gz"
done
printf '%-40s %10d %10d\n' "total" "$total_raw" "$total_gz"
verdict="within"
if ((total_gz > goal)); then verdict="OVER"; fi
printf 'goal: %d bytes compressed: %s (%d%% of the goal)\n' "$goal" "$verdict" $((total_gz * 100 / goal))

if [[ -n "$url" ]]; then
  # Paths as the page asks for them; the flow page itself needs no session to load.
  # flow.css comes inside the page when the server inlines it (data-inline):
  # then it is not fetched, and not counted twice.
  paths=(/flow/ /static/flow.css /static/flow.js /static/wasm/renkei_core.js /static/wasm/renkei_core.wasm)
  if ! curl -sS "$url/flow/" | grep -q '<link rel="stylesheet" href="/static/flow\.'; then
    paths=(/flow/ /static/flow.js /static/wasm/renkei_core.js /static/wasm/renkei_core.wasm)
  fi
  wire=0
  for p in "${paths[@]}"; do
    n=$(curl -sS -o /dev/null -H 'Accept-Encoding: gzip' -w '%{size_download}' "$url$p")
    printf '%-40s %10s %10d\n' "$url$p" "wire" "$n"
    wire=$((wire + n))
  done
  printf '%-40s %10s %10d\n' "total on the wire" "" "$wire"
fi
((total_gz <= goal))
