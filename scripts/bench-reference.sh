#!/usr/bin/env bash
# Our server against a reference OAuth server, same machine, same run, same
# client (docs/performance.md, "Reference server comparison"):
#   - panva's oidc-provider (npm devDependency; tests/perf/reference/oidc_server.mjs,
#     in-memory adapter, programmatic login/consent interactions), and
#   - renkei-server (a real process; scripts/bench-server.sh),
# both driven by tests/perf/reference/flow_load.mjs (node, keep-alive agents,
# N concurrent users, complete authorization-code + PKCE flows with one API
# read). For each client count the runs alternate; the summary gives
# flows/s for each and the ratio renkei / oidc-provider. 127.0.0.1 only.
#
# With PostgreSQL 15 and HAProxy installed, renkei also runs on PostgreSQL
# (synchronous_commit=on), through scripts/start-cluster.sh --instances N
# (a private PostgreSQL cluster each, the same test configuration and
# database-free overrides as the SQLite server): one instance, driven
# directly ("renkei PG ×1"), and two instances behind HAProxy, round robin
# without stickiness ("renkei PG ×2 HAProxy"). Every row's ratio is against
# the oidc-provider row of the same client count in the same run.
#
#   bash scripts/bench-reference.sh
#   REF_CLIENTS="1 8 32" REF_SECONDS=10 bash scripts/bench-reference.sh   (the defaults)
#   BUILD_DIR=build/h-perf NO_BUILD=1 bash scripts/bench-reference.sh   (an existing build)
#   RENKEI_DB_DIR=/dev/shm bash scripts/bench-reference.sh   (our database on tmpfs: no fsync,
#       closer to oidc-provider's in-memory adapter; a diagnostic only)
#   REF_PG_INSTANCES="1 2" (the default when PostgreSQL 15 and haproxy exist; "" skips the
#       PostgreSQL rows; a count ≥ 2 goes through HAProxy, 1 straight to the instance)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR="${BUILD_DIR:-build/native}"
RENKEI_SERVER_BIN="$BUILD_DIR/server/renkei-server"
source scripts/bench-server.sh

REF_CLIENTS="${REF_CLIENTS:-1 8 32}"
REF_SECONDS="${REF_SECONDS:-10}"
if [[ -x /usr/lib/postgresql/15/bin/initdb ]] && command -v haproxy >/dev/null; then
  REF_PG_INSTANCES="${REF_PG_INSTANCES-1 2}"
else
  REF_PG_INSTANCES="${REF_PG_INSTANCES-}"
  [[ -z "$REF_PG_INSTANCES" ]] && echo "(PostgreSQL 15 or haproxy missing: no PostgreSQL rows)"
fi

bench_machine
bench_build renkei-server
if [[ ! -d node_modules/oidc-provider ]]; then
  step "npm install (oidc-provider)"
  npm install --no-audit --no-fund
fi
printf 'oidc-provider %s\n' "$(node -p 'require("./node_modules/oidc-provider/package.json").version')"

OIDC_PID=
CLUSTER_PGIDS=()
work="$(mktemp -d "${TMPDIR:-/tmp}/renkei-bench-ref-XXXXXX")"
cleanup() {
  if [[ -n "$OIDC_PID" ]]; then kill -TERM "$OIDC_PID" 2>/dev/null || true; wait "$OIDC_PID" 2>/dev/null || true; fi
  local g
  for g in "${CLUSTER_PGIDS[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
  for g in "${CLUSTER_PGIDS[@]}"; do wait "$g" 2>/dev/null || true; done
  renkei_stop
  rm -rf "$work"
}
trap cleanup EXIT

step "start both servers"
renkei_start
node tests/perf/reference/oidc_server.mjs >"$work/oidc.out" 2>"$work/oidc.err" &
OIDC_PID=$!
for _ in $(seq 1 100); do grep -q '^LISTENING ' "$work/oidc.out" 2>/dev/null && break; sleep 0.1; done
OIDC_URL="http://127.0.0.1:$(awk '/^LISTENING/ {print $2}' "$work/oidc.out")"
echo "oidc-provider pid $OIDC_PID at $OIDC_URL"

# renkei on PostgreSQL: scripts/start-cluster.sh with the configuration of
# the SQLite server (scripts/bench-server.sh), one cluster per instance count.
declare -A PG_URL PG_PIDS PG_REDIRECT
if [[ -n "$REF_PG_INSTANCES" ]]; then
  renkei_cluster_config "$work/cluster-base.json"
  server_abs="$(cd "$(dirname "$RENKEI_SERVER_BIN")" && pwd)/$(basename "$RENKEI_SERVER_BIN")"
  for n in $REF_PG_INSTANCES; do
    step "start renkei on PostgreSQL, $n instance(s)"
    lb_port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});')"
    RENKEI_SERVER_BIN="$server_abs" setsid bash scripts/start-cluster.sh --port "$lb_port" --no-build \
      --instances "$n" --config "$work/cluster-base.json" >"$work/cluster-$n.log" 2>&1 &
    CLUSTER_PGIDS+=("$!")
    for _ in $(seq 1 900); do
      grep -q '^cluster ready: ' "$work/cluster-$n.log" && break
      kill -0 "${CLUSTER_PGIDS[-1]}" 2>/dev/null || break
      sleep 0.1
    done
    if ! grep -q '^cluster ready: ' "$work/cluster-$n.log"; then
      cat "$work/cluster-$n.log"; echo "start-cluster.sh --instances $n did not get ready"; exit 1
    fi
    grep '^instance ' "$work/cluster-$n.log"
    PG_PIDS[$n]="$(awk '/^instance / {print $5}' "$work/cluster-$n.log" | tr '\n' ' ')"
    PG_REDIRECT[$n]="http://127.0.0.1:$lb_port/demo/callback"
    if ((n == 1)); then PG_URL[$n]="$(awk '/^instance / {print $3; exit}' "$work/cluster-$n.log")"
    else PG_URL[$n]="http://127.0.0.1:$lb_port"; fi
    # Every instance's movable clock into service hours (it is per instance).
    for u in $(awk '/^instance / {print $3}' "$work/cluster-$n.log"); do
      curl -fsS -o /dev/null -X POST "$u/admin/api/dev/clock" \
        -H "Authorization: Bearer $RENKEI_DEV_ADMIN_TOKEN" -H 'X-Renkei-Staff: bench' \
        -H 'Content-Type: application/json' -d "{\"set\":\"$RENKEI_OPEN_TIME\"}"
    done
  done
fi

summaries="$work/summaries"
: >"$summaries"
CLK_TCK="$(getconf CLK_TCK)"
run() {  # label target url clients [redirect-uri] [pids]
  local out="$work/run.out"
  # The server process(es) of this row: their CPU time and resident memory.
  local pids
  case "$1" in
    oidc-provider) pids="$OIDC_PID" ;;
    "renkei SQLite") pids="$RENKEI_PID" ;;
    *) pids="${6:-}" ;;
  esac
  step "$1, $4 user(s), ${REF_SECONDS} s"
  local t0
  t0="$(renkei_cpu_ticks $pids)"
  # The load client's own CPU (user + system of the node process, bash's
  # `time`): it runs on the same cores, so it bounds what any server can
  # reach on this machine.
  local TIMEFORMAT='%U %S'
  { time node tests/perf/reference/flow_load.mjs --target "$2" --url "$3" --clients "$4" \
    --seconds "$REF_SECONDS" ${5:+--redirect-uri "$5"} >"$out" 2>"$work/client.err"; } \
    2>"$work/client.time" || true
  cat "$out"
  local cpu_ms=$(( ($(renkei_cpu_ticks $pids) - t0) * 1000 / CLK_TCK ))
  local client_ms
  client_ms="$(awk '{ printf "%d", ($1 + $2) * 1000 }' "$work/client.time")"
  local line
  line="$(grep '^SUMMARY ' "$out" | tail -1 | cut -d' ' -f2-)"
  local rss=0 pid
  for pid in $pids; do rss=$((rss + $(renkei_rss_kb "$pid"))); done
  [[ -n "$line" ]] && printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$rss" "$cpu_ms" "$client_ms" "$line" >>"$summaries"
}
for c in $REF_CLIENTS; do
  run oidc-provider oidc "$OIDC_URL" "$c"
  run "renkei SQLite" renkei "$RENKEI_URL" "$c"
  for n in $REF_PG_INSTANCES; do
    if ((n == 1)); then label="renkei PG ×1"; else label="renkei PG ×$n HAProxy"; fi
    run "$label" renkei "${PG_URL[$n]}" "$c" "${PG_REDIRECT[$n]}" "${PG_PIDS[$n]}"
  done
done

step "summary"
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").filter(Boolean)
  .map((l) => { const [label, rss, cpu, client, j] = l.split("\t"); return { label, rss: Number(rss), cpu_ms: Number(cpu), client_ms: Number(client), ...JSON.parse(j) }; });
const f = (x, d = 1) => Number(x).toFixed(d);
const head = ["server", "users", "flows/s", "req/s", "flow p50 ms", "flow p99 ms", "slowest step p99", "failed", "server RSS MiB", "CPU ms/flow", "client CPU ms/flow", "renkei/oidc", "CPU/flow vs oidc"];
const out = [head];
const byClients = {};
for (const r of rows) if (r.target === "oidc") byClients[r.clients] = r;
for (const r of rows) {
  const w = r.steps.whole_flow || {};
  let worst = ["-", 0];
  for (const [k, v] of Object.entries(r.steps)) if (k !== "whole_flow" && v.p99 > worst[1]) worst = [k, v.p99];
  const ref = byClients[r.clients];
  const ratio = r.target === "renkei" && ref ? f(r.per_s / ref.per_s, 2) + "×" : "";
  // Server CPU (user + system) over the run, per complete flow.
  const cpuPerFlow = (x) => (x.ok > 0 ? x.cpu_ms / x.ok : NaN);
  const cpuRatio = r.target === "renkei" && ref ? f(cpuPerFlow(r) / cpuPerFlow(ref), 2) + "×" : "";
  out.push([r.label, String(r.clients), f(r.per_s), f(r.req_per_s, 0),
            f(w.p50 ?? NaN, 1), f(w.p99 ?? NaN, 1), `${worst[0]} ${f(worst[1], 1)}`, String(r.failed), f(r.rss / 1024),
            f(cpuPerFlow(r), 2), f(r.ok > 0 ? r.client_ms / r.ok : NaN, 2), ratio, cpuRatio]);
}
const wd = head.map((_, i) => Math.max(...out.map((r) => [...r[i]].length)));
for (const r of out) console.log(r.map((c, i) => c + " ".repeat(wd[i] - [...c].length)).join("  "));
' "$summaries"
