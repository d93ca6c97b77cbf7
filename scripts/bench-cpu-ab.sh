#!/usr/bin/env bash
# Server CPU per complete flow of two renkei-server builds, side by side in
# one run: for each round, build A then build B is started as the benchmark
# scripts start it (scripts/bench-server.sh: SQLite synchronous=FULL on ext4,
# production threads), warmed for 2 s, then driven by one renkei_load_bench
# --url (complete flows, N users, S seconds); the server's user+system CPU
# (/proc/PID/stat) over the run is divided by the flows it completed.
# Rounds alternate A and B so that drift of the machine hits both.
#
# RECORDS=remote: both builds read the records from the simulated core-banking
# gateway (tools/renkei_core_sim.cpp, one for the whole run, throw-away
# certificates, the demo data set as of the server's date), as in production
# (docs/core-banking.md). The table then also gives the gateway calls, the TLS
# connections the gateway accepted (handshakes) and the simulator's own CPU,
# each per flow. AB_RECORDS_A / AB_RECORDS_B: JSON merged into that build's
# "records" (e.g. '{"pool":{"max_idle":0}}'; a build older than the pool
# refuses the key).
#
#   bash scripts/bench-cpu-ab.sh BEFORE/renkei-server AFTER/renkei-server
#   AB_CLIENTS=32 AB_SECONDS=10 AB_ROUNDS=2 BROWSER_LIKE=1 bash scripts/bench-cpu-ab.sh A B
#   RECORDS=remote AB_ROUNDS=3 bash scripts/bench-cpu-ab.sh A B
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
A="${1:?usage: bench-cpu-ab.sh BEFORE_SERVER AFTER_SERVER}"
B="${2:?usage: bench-cpu-ab.sh BEFORE_SERVER AFTER_SERVER}"
BUILD_DIR="${BUILD_DIR:-build/native}"
LOAD_BENCH="${LOAD_BENCH:-$BUILD_DIR/tests/renkei_load_bench}"
CLIENTS="${AB_CLIENTS:-32}"
SECONDS_="${AB_SECONDS:-10}"
ROUNDS="${AB_ROUNDS:-2}"
SIM_BIN="${SIM_BIN:-$BUILD_DIR/tools/renkei-core-sim}"
source scripts/bench-server.sh
bench_machine
hz="$(getconf CLK_TCK)"
sim_pid= sim_dir=
cleanup() {
  renkei_stop
  if [[ -n "$sim_pid" ]]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  [[ -n "$sim_dir" ]] && rm -rf "$sim_dir"
}
trap cleanup EXIT
if [[ "${RECORDS:-local}" == remote ]]; then
  sim_dir="$(mktemp -d)"
  bash scripts/make-core-sim-certs.sh "$sim_dir"
  "$SIM_BIN" --cert "$sim_dir/server.pem" --key "$sim_dir/server.key" --client-ca "$sim_dir/ca.pem" \
    --port 0 --control-port 0 --port-file "$sim_dir/ports" --today "${RENKEI_OPEN_TIME:0:10}" \
    >"$sim_dir/sim.log" 2>&1 &
  sim_pid=$!
  for _ in $(seq 1 100); do [[ -s "$sim_dir/ports" ]] && break; sleep 0.1; done
  read -r sim_port sim_control <"$sim_dir/ports"
  step "records: renkei-core-sim on https://127.0.0.1:$sim_port (pid $sim_pid)"
fi
sim_counter() {  # calls | tls_connections
  curl -fsS "http://127.0.0.1:$sim_control/control" | node -e \
    "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s)['$1']))"
}
records_override() {  # extra JSON
  node -e 'const [d, port, extra] = process.argv.slice(1);
    const r = { source: "remote", url: `https://127.0.0.1:${port}`, client_cert: `${d}/client.pem`,
      client_key: `${d}/client.key`, ca: `${d}/ca.pem`, timeout_ms: 3000, read_retries: 1 };
    console.log(JSON.stringify(Object.assign(r, JSON.parse(extra || "{}"))));' \
    "$sim_dir" "$sim_port" "$1"
}
declare -A sum_ms sum_flows
run_one() {  # label binary
  RENKEI_SERVER_BIN="$2"
  if [[ -n "$sim_pid" ]]; then
    local extra_var="AB_RECORDS_$1"
    renkei_start "records=$(records_override "${!extra_var:-}")" seed_demo_data=false >/dev/null
  else
    renkei_start >/dev/null
  fi
  "$LOAD_BENCH" --url "$RENKEI_URL" --clients "$CLIENTS" --seconds 2 ${BROWSER_LIKE:+--browser-like} >/dev/null || true
  local t0 out flows t1 c0 c1 h0 h1 s0 s1
  if [[ -n "$sim_pid" ]]; then c0="$(sim_counter calls)"; h0="$(sim_counter tls_connections)"; s0="$(renkei_cpu_ticks "$sim_pid")"; fi
  t0="$(renkei_cpu_ticks)"
  out="$("$LOAD_BENCH" --url "$RENKEI_URL" --clients "$CLIENTS" --seconds "$SECONDS_" ${BROWSER_LIKE:+--browser-like})"
  t1="$(renkei_cpu_ticks)"
  if [[ -n "$sim_pid" ]]; then c1="$(sim_counter calls)"; h1="$(sim_counter tls_connections)"; s1="$(renkei_cpu_ticks "$sim_pid")"; fi
  renkei_stop
  flows="$(grep -oE '^[0-9]+ flows ok' <<<"$out" | grep -oE '^[0-9]+')"
  local rate; rate="$(grep -oE '[0-9.]+ flows/s' <<<"$out" | head -1)"
  local ms; ms="$(awk -v t=$((t1 - t0)) -v hz="$hz" -v f="$flows" 'BEGIN { printf "%.3f", (f > 0 ? t * 1000 / hz / f : 0) }')"
  if [[ -n "$sim_pid" ]]; then
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$rate" "$flows" "$ms" \
      "$(awk -v n=$((c1 - c0)) -v f="$flows" 'BEGIN { printf "%.2f", (f > 0 ? n / f : 0) }')" \
      "$(awk -v n=$((h1 - h0)) -v f="$flows" 'BEGIN { printf "%.3f", (f > 0 ? n / f : 0) }')" \
      "$(awk -v t=$((s1 - s0)) -v hz="$hz" -v f="$flows" 'BEGIN { printf "%.3f", (f > 0 ? t * 1000 / hz / f : 0) }')"
  else
    printf '| %s | %s | %s | %s |\n' "$1" "$rate" "$flows" "$ms"
  fi
  sum_ms[$1]="$(awk -v a="${sum_ms[$1]:-0}" -v b=$((t1 - t0)) 'BEGIN { print a + b }')"
  sum_flows[$1]=$(( ${sum_flows[$1]:-0} + flows ))
}
step "server CPU per flow, ${CLIENTS} users, ${SECONDS_} s, ${ROUNDS} rounds (A = $A, B = $B)"
if [[ -n "$sim_pid" ]]; then
  echo "| build | rate | flows | server CPU ms/flow | gateway calls/flow | TLS handshakes/flow | gateway (simulator) CPU ms/flow |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
else
  echo "| build | rate | flows | server CPU ms/flow |"
  echo "|---|---:|---:|---:|"
fi
for ((r = 1; r <= ROUNDS; r++)); do run_one A "$A"; run_one B "$B"; done
a="$(awk -v t="${sum_ms[A]}" -v hz="$hz" -v f="${sum_flows[A]}" 'BEGIN { printf "%.3f", t * 1000 / hz / f }')"
b="$(awk -v t="${sum_ms[B]}" -v hz="$hz" -v f="${sum_flows[B]}" 'BEGIN { printf "%.3f", t * 1000 / hz / f }')"
printf '\nall rounds: A %s ms/flow, B %s ms/flow, B/A %s\n' "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')"
