#!/usr/bin/env bash
# Installs what Renkei needs to build and test, from Debian's packages and the
# npm registry (see /work/shared/TOOLCHAIN.md). Idempotent: when every package is
# already installed it touches neither apt nor the network, so repeated runs are
# fast and work offline. Runs as root, or through sudo otherwise. Never prompts.
#
#   bash scripts/setup.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive

# What the project uses, and why.
packages=(
  # native build and tests
  build-essential cmake g++ git ca-certificates pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  # the fuzz preset: clang with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
  nlohmann-json3-dev libcpp-httplib-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev
  # static files compressed once per version: brotli and gzip (zlib)
  libbrotli-dev zlib1g-dev
  # the WASM build (emcc 3.1.6); its JS optimizer needs Debian's acorn
  emscripten node-acorn
  # node: the WASM tests, the parity check, the web tooling
  nodejs
  # scripts (start-cluster.sh's health checks: curl), the SMTP test peer
  python3 python3-aiosmtpd curl
  # the simulated core-banking gateway's throw-away certificates
  # (scripts/make-core-sim-certs.sh; issue 14): the openssl command
  openssl
  # browser tests (headless) with Japanese glyphs; HTTP load tests
  chromium fonts-ipafont-gothic wrk
  # the console (issue 5): apt-get source unpacks imgui's source package with
  # dpkg-dev; pyftsubset (fonttools) subsets IPAGothic for the console
  dpkg-dev python3-fonttools
  # the PostgreSQL store (issue 9): libpq to build against, the server for the
  # storage tests' throw-away cluster (scripts/with-postgres.sh); HAProxy for
  # scripts/start-cluster.sh and the cluster tests (tests/cluster)
  postgresql libpq-dev haproxy
  # FAPI 2.0 (issue 13): JWS verification of client assertions and DPoP proofs
  # with a kept JOSE library (cjose, over OpenSSL; its .pc needs jansson)
  libcjose-dev libjansson-dev
  # benchmark scripts: flame graphs (scripts/flamegraph.sh: perf, addr2line
  # from binutils) and the PostgreSQL round-trip count (scripts/pg-round-trips.sh)
  linux-perf binutils strace
)
# NodeSource's nodejs ships npm itself and conflicts with Debian's npm package:
# ask for Debian's only when no npm comes with the installed node.
if ! command -v npm >/dev/null 2>&1; then
  packages+=(npm)
fi

is_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    # -n: fail instead of waiting for a password nobody can type (CI, no stdin).
    if [[ -t 0 ]]; then sudo env DEBIAN_FRONTEND=noninteractive "$@"
    else sudo -n env DEBIAN_FRONTEND=noninteractive "$@"; fi
  else
    echo "setup.sh: need root or sudo to run: $*" >&2
    return 1
  fi
}

# The console's WASM build takes Dear ImGui's sources from Debian's source
# package (scripts/fetch-imgui.sh): apt needs a deb-src entry for the same
# suites as the binary entries. Written once, beside Debian's own file.
deb_src_list=/etc/apt/sources.list.d/renkei-deb-src.sources
need_update=0
if [[ -f /etc/apt/sources.list.d/debian.sources && ! -f "$deb_src_list" ]] &&
   ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ &&
   ! grep -qs '^deb-src' /etc/apt/sources.list; then
  echo "setup.sh: adding deb-src entries ($deb_src_list) for the imgui sources"
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
    as_root tee "$deb_src_list" >/dev/null
  need_update=1
fi

missing=()
for p in "${packages[@]}"; do
  is_installed "$p" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup.sh: installing ${missing[*]}"
  as_root apt-get update -q
  as_root apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
  # npm may have arrived with nodejs just now.
  if ! command -v npm >/dev/null 2>&1; then
    as_root apt-get install -y -q --no-install-recommends npm </dev/null
  fi
else
  echo "setup.sh: all ${#packages[@]} Debian packages present"
  if ((need_update)); then as_root apt-get update -q; fi
fi

# JavaScript dependencies of the repository (none yet; later: playwright-core …).
# Skipped when node_modules already matches the lock file.
if [[ -f package.json ]]; then
  if [[ -f package-lock.json && -f node_modules/.package-lock.json &&
        node_modules/.package-lock.json -nt package-lock.json &&
        node_modules/.package-lock.json -nt package.json ]]; then
    echo "setup.sh: node_modules up to date"
  elif [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund </dev/null
  else
    npm install --no-audit --no-fund </dev/null
  fi
fi
