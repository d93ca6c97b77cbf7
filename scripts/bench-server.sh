# Sourced by the benchmark scripts (bench-reference.sh, bench-sustained.sh,
# bench-memory.sh): starts one renkei-server process on 127.0.0.1 for a load
# run and stops it again.
#
#   source scripts/bench-server.sh
#   renkei_start [extra jq-free JSON overrides as KEY=JSON ...]
#   → RENKEI_PID, RENKEI_PORT, RENKEI_URL, RENKEI_DIR (temp folder: config,
#     database, maildir, server.log)
#   renkei_rss_kb            VmRSS of the server in kB
#   renkei_cpu_ticks [PID…]  user+system CPU ticks of the server (or of PIDs)
#   renkei_stop
#
# The config is tests/browser/test-config.json (dev mode: /dev/simulate-call;
# movable clock) with: a free port, a fresh database and maildir in a temp
# folder (ext4 under $TMPDIR: fsync costs are real), the production defaults
# for worker_threads (64) and max_in_flight (48) unless overridden, a
# rate limit far above the load (every client is 127.0.0.1), and a call pool
# of 64 numbers (as renkei_load_bench in process; see finding 3 of
# docs/performance.md). RENKEI_DB_DIR=/dev/shm puts the database on tmpfs
# instead (no fsync cost: a diagnostic, not a production setting). The movable clock is then set to 10:00 JST on a
# Wednesday through POST /admin/api/dev/clock with the dev admin token
# (kDevAdminToken in server/src/ops/config.h), so every run is inside service hours.

# Shared by the scripts: a section heading, the machine the figures come
# from, and building the named targets in $BUILD_DIR unless NO_BUILD is set.
step() { printf '\n==> %s\n' "$*"; }
bench_machine() {
  step "machine"
  printf 'nproc: %s\ncpu: %s\nload average: %s\nnode: %s\ncommit: %s\n' "$(nproc)" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(node --version)" \
    "$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
}
bench_build() {
  [[ -n "${NO_BUILD:-}" ]] && return 0
  step "build $* ($BUILD_DIR)"
  if [[ "$BUILD_DIR" == build/native ]]; then cmake --preset native >/dev/null; fi
  cmake --build "$BUILD_DIR" -j2 --target "$@"
}

RENKEI_SERVER_BIN="${RENKEI_SERVER_BIN:-build/native/server/renkei-server}"
RENKEI_DEV_ADMIN_TOKEN="renkei-development-admin-token"
RENKEI_OPEN_TIME="${RENKEI_OPEN_TIME:-2026-11-25T10:00:00+09:00}"

renkei_start() {
  local repo
  repo="$(pwd)"
  RENKEI_DIR="$(mktemp -d "${TMPDIR:-/tmp}/renkei-bench-server-XXXXXX")"
  RENKEI_PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});')"
  RENKEI_URL="http://127.0.0.1:${RENKEI_PORT}"
  local dbdir="$RENKEI_DIR"
  if [[ -n "${RENKEI_DB_DIR:-}" ]]; then dbdir="$(mktemp -d "$RENKEI_DB_DIR/renkei-bench-db-XXXXXX")"; fi
  RENKEI_DB="$dbdir/renkei.db"
  node - "$repo" "$RENKEI_DIR" "$RENKEI_PORT" "$RENKEI_DB" "$@" <<'JS'
const fs = require('fs');
const [repo, dir, port, db, ...overrides] = process.argv.slice(2);
const c = JSON.parse(fs.readFileSync(`${repo}/tests/browser/test-config.json`, 'utf8'));
const base = `http://127.0.0.1:${port}`;
Object.assign(c, {
  port: Number(port), issuer: base, database: db, maildir: `${dir}/mail`,
  web_root: `${repo}/web`, worker_threads: 64, max_in_flight: 48, rate_limit_per_minute: 100000000,
  call_pool: Array.from({ length: 64 }, (_, i) => `0120${String(i + 1).padStart(6, '0')}`),
});
c.clients[0].redirect_uris = [`${base}/demo/callback`];
for (const o of overrides) { const eq = o.indexOf('='); c[o.slice(0, eq)] = JSON.parse(o.slice(eq + 1)); }
fs.writeFileSync(`${dir}/config.json`, JSON.stringify(c, null, 2));
JS
  local bin="$RENKEI_SERVER_BIN"
  [[ "$bin" == /* ]] || bin="$repo/$bin"
  (cd "$RENKEI_DIR" && exec "$bin" --config "$RENKEI_DIR/config.json" \
     >"$RENKEI_DIR/server.out" 2>"$RENKEI_DIR/server.log") &
  RENKEI_PID=$!
  local i
  for i in $(seq 1 100); do
    if curl -fsS -o /dev/null "$RENKEI_URL/healthz" 2>/dev/null; then break; fi
    if ! kill -0 "$RENKEI_PID" 2>/dev/null; then
      echo "renkei-server exited:"; cat "$RENKEI_DIR/server.out" "$RENKEI_DIR/server.log"; return 1
    fi
    sleep 0.1
  done
  curl -fsS -o /dev/null -X POST "$RENKEI_URL/admin/api/dev/clock" \
    -H "Authorization: Bearer $RENKEI_DEV_ADMIN_TOKEN" -H 'X-Renkei-Staff: bench' \
    -H 'Content-Type: application/json' -d "{\"set\":\"$RENKEI_OPEN_TIME\"}" ||
    { echo "could not set the server's clock"; return 1; }
  echo "renkei-server pid $RENKEI_PID at $RENKEI_URL (folder $RENKEI_DIR)"
}

# The cluster's configuration for the benchmarks (bench-reference.sh,
# pg-round-trips.sh): the bench config with a rate limit far above the load
# and a call pool of 64 numbers; the demo client's redirect on
# http://127.0.0.1:8080, which scripts/start-cluster.sh moves to HAProxy's port.
renkei_cluster_config() {  # OUT_FILE
  node - "$1" <<'JS'
const fs = require('fs');
const c = JSON.parse(fs.readFileSync('tests/browser/test-config.json', 'utf8'));
Object.assign(c, {
  rate_limit_per_minute: 100000000,
  call_pool: Array.from({ length: 64 }, (_, i) => `0120${String(i + 1).padStart(6, '0')}`),
});
c.clients[0].redirect_uris = ['http://127.0.0.1:8080/demo/callback'];
fs.writeFileSync(process.argv[2], JSON.stringify(c, null, 2));
JS
}
renkei_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/${1:-$RENKEI_PID}/status" 2>/dev/null || echo -1; }
# CPU time (user + system, all threads) of the given processes (default: the
# server), in clock ticks: /proc/PID/stat fields 14 and 15, counted after the
# command name's closing parenthesis (the name may hold spaces).
renkei_cpu_ticks() {
  local pid total=0
  for pid in "${@:-$RENKEI_PID}"; do
    total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

renkei_stop() {
  if [[ -n "${RENKEI_PID:-}" ]] && kill -0 "$RENKEI_PID" 2>/dev/null; then
    kill -TERM "$RENKEI_PID"
    local i
    for i in $(seq 1 50); do kill -0 "$RENKEI_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$RENKEI_PID" 2>/dev/null && kill -KILL "$RENKEI_PID"
    wait "$RENKEI_PID" 2>/dev/null || true
  fi
  RENKEI_PID=
  if [[ -n "${RENKEI_DIR:-}" && -z "${KEEP:-}" ]]; then
    rm -rf "$RENKEI_DIR"
    if [[ -n "${RENKEI_DB_DIR:-}" && -n "${RENKEI_DB:-}" ]]; then rm -rf "$(dirname "$RENKEI_DB")"; fi
  fi
}
