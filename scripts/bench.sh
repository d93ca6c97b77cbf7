#!/usr/bin/env bash
# The performance picture in one run (docs/performance.md): builds the native
# preset's benchmark programs, then runs
#   1. the core's Google Benchmark (build/native/tests/renkei_core_bench),
#   2. its WASM twin in node (tests/perf/wasm_bench.cjs; needs build/wasm, or
#      RENKEI_WASM_DIR), which then prints WASM / native per case class,
#   3. the load benchmark: complete OAuth flows against the real server in
#      process, with 1, 8 and 32 clients (tests/perf/load_flows.cpp),
#   4. for context: bare cpp-httplib on a trivial route and our /healthz,
#      measured by the same client code,
#   5. diagnostics, among them flows --browser-like (each flow also loads the
#      flow page and its assets with a browser's Accept-Encoding),
# and prints a summary table. Everything runs on 127.0.0.1 only.
#
#   bash scripts/bench.sh
#   LOAD_CLIENTS="1 8 32" LOAD_SECONDS=15 bash scripts/bench.sh     (the defaults)
#   SKIP_CORE=1 SKIP_WASM=1 DIAGNOSTICS=0 bash scripts/bench.sh     (load only)
#   EXTRA=1 bash scripts/bench.sh   then also, against a real renkei-server process:
#     scripts/bench-reference.sh  (vs panva's oidc-provider, same node client),
#     scripts/bench-memory.sh     (VmRSS with 10,000 flows in progress),
#     scripts/bench-sustained.sh  (60 s, 256 clients: busy answers, RSS, recovery)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# emcc's JS optimizer needs Debian's acorn, which node only finds through NODE_PATH.
export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:${NODE_PATH}}"

LOAD_CLIENTS="${LOAD_CLIENTS:-1 8 32}"
LOAD_SECONDS="${LOAD_SECONDS:-15}"
TRIVIAL_SECONDS="${TRIVIAL_SECONDS:-3}"

step() { printf '\n==> %s\n' "$*"; }

step "machine"
printf 'nproc: %s\n' "$(nproc)"
printf 'cpu: %s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
printf 'memory: %s\n' "$(grep -m1 MemTotal /proc/meminfo | tr -s ' ')"
printf 'load average (1/5/15 min): %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'temp folder: %s (%s)\n' "${TMPDIR:-/tmp}" "$(df -T "${TMPDIR:-/tmp}" | awk 'NR==2 {print $2}')"
printf 'commit: %s\n' "$(git rev-parse --short HEAD 2>/dev/null || echo '?')"

step "build (preset native)"
bash scripts/setup.sh
cmake --preset native >/dev/null
cmake --build --preset native -j2 --target renkei_core_bench renkei_load_bench
bench=build/native/tests/renkei_load_bench

if [[ -z "${SKIP_CORE:-}" ]]; then
  step "core: Google Benchmark (native)"
  build/native/tests/renkei_core_bench
fi

if [[ -z "${SKIP_WASM:-}" ]]; then
  step "core: WASM twin (node)"
  if [[ ! -f build/wasm/renkei_core.wasm ]]; then
    cmake --preset wasm >/dev/null
    cmake --build --preset wasm -j2
  fi
  node tests/perf/wasm_bench.cjs --wasm-dir "${RENKEI_WASM_DIR:-build/wasm}" --native build/native/tests/renkei_core_bench
fi

summaries=()
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
run_load() {  # label, then the load benchmark's arguments
  local label="$1"
  shift
  step "load: ${label}: renkei_load_bench $*"
  # A failed flow makes the program exit 1; the figures are still wanted.
  "$bench" "$@" | tee "$out" || true
  local line
  line="$(grep '^SUMMARY ' "$out" | tail -1 | cut -d' ' -f2-)"
  if [[ -n "$line" ]]; then summaries+=("${label}"$'\t'"${line}"); fi
}

run_load "bare cpp-httplib, trivial GET" --trivial --clients 8 --seconds "$TRIVIAL_SECONDS"
run_load "our server, GET /healthz" --healthz --clients 8 --seconds "$TRIVIAL_SECONDS"
for c in $LOAD_CLIENTS; do
  run_load "flows, ${c} client(s)" --clients "$c" --seconds "$LOAD_SECONDS"
done

# Diagnostics (DIAGNOSTICS=0 skips them): what the limits are made of.
if [[ "${DIAGNOSTICS:-1}" != 0 ]]; then
  # More worker threads than keep-alive clients: cpp-httplib holds a worker per connection.
  run_load "flows, 32 clients, 64 server threads" --clients 32 --server-threads 64 \
    --seconds "$LOAD_SECONDS"
  # As browsers: Accept-Encoding: gzip, deflate, br, and the flow page with its
  # assets (CSS, JS, WASM glue and module) fetched once per flow.
  run_load "flows, 8 clients, browser-like" --clients 8 --browser-like --seconds "$LOAD_SECONDS"
  # The database on tmpfs: the same work without the fsync of each commit.
  if [[ -d /dev/shm && -w /dev/shm ]]; then
    shm="$(mktemp -d /dev/shm/renkei-bench-XXXXXX)"
    run_load "flows, 8 clients, DB on tmpfs" --clients 8 --database "$shm/renkei.db" \
      --seconds "$LOAD_SECONDS"
    rm -rf "$shm"
  fi
fi

step "summary"
printf '%s\n' "${summaries[@]}" | node -e '
const rows = require("fs").readFileSync(0, "utf8").trim().split("\n").filter(Boolean).map((l) => {
  const tab = l.indexOf("\t");
  return [l.slice(0, tab), JSON.parse(l.slice(tab + 1))];
});
const f = (x, d = 1) => (x === undefined ? "-" : Number(x).toFixed(d));
const head = ["run", "clients", "ok/s", "req/s", "p50 ms", "p99 ms", "max ms", "worst step p99",
              "errors", "RSS MiB before→after"];
const out = [head];
for (const [label, s] of rows) {
  const whole = s.steps.whole_flow || s.steps.trivial || s.steps.healthz || {};
  let worst = ["-", 0];
  for (const [k, v] of Object.entries(s.steps)) {
    if (k !== "whole_flow" && v.p99 > worst[1]) worst = [k, v.p99];
  }
  const rss = s.rss_before_kb > 0
    ? `${f(s.rss_before_kb / 1024)}→${f(s.rss_after_kb / 1024)}` : "-";
  out.push([label, String(s.clients), f(s.per_s), f(s.req_per_s, 0), f(whole.p50, 2),
            f(whole.p99, 2), f(whole.max, 1), `${worst[0]} ${f(worst[1], 1)}`,
            String(s.errors), rss]);
}
const w = head.map((_, i) => Math.max(...out.map((r) => [...r[i]].length)));
for (const r of out) console.log(r.map((c, i) => c + " ".repeat(w[i] - [...c].length)).join("  "));
console.log("\nok/s: flows/s for flow runs, requests/s otherwise; p50/p99/max: whole flow " +
            "(or one request); RSS: whole process (server + client threads).");
'

if [[ -n "${EXTRA:-}" ]]; then
  step "reference server comparison (scripts/bench-reference.sh)"
  bash scripts/bench-reference.sh
  step "memory with 10,000 flows in progress (scripts/bench-memory.sh)"
  bash scripts/bench-memory.sh
  step "sustained load above capacity (scripts/bench-sustained.sh)"
  bash scripts/bench-sustained.sh
  SUSTAINED_LOAD_ARGS=--honor-retry-after bash scripts/bench-sustained.sh
fi
