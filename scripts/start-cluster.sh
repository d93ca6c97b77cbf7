#!/usr/bin/env bash
# Several instances behind a real load balancer (issue 9), on this machine:
#
#   bash scripts/start-cluster.sh [--port N] [--no-build] [--instances N] [--config FILE]
#
# starts a private, throw-away PostgreSQL 15 cluster (scripts/with-postgres.sh),
# three renkei-server instances (a, b, c; --instances N for 1 to 9) on free
# loopback ports sharing its database, with the development configuration
# (config/dev.json, or --config FILE) and the same development secrets, and HAProxy on 127.0.0.1:8080 (or --port N) in front of
# them: balance roundrobin, no stickiness, health checks on /healthz. Every
# instance's issuer is HAProxy's address, so Origin, Host and redirects work
# through it; every response names its instance in X-Renkei-Instance. The
# first instance to start seeds the demo data into the empty database (the
# others find it there). Each instance delivers result mails to its own
# maildir.
#
# When everything answers it prints, one per line,
#
#   instance NAME http://127.0.0.1:PORT pid PID maildir DIR
#   cluster ready: http://127.0.0.1:8080/demo/
#
# and waits. Ctrl-C (SIGINT) or SIGTERM stops HAProxy, the instances and
# PostgreSQL and deletes every temporary file (the database included).
# Tests start it with --port on a free port and --no-build (the build is
# theirs), in a process group of its own, and stop it by signalling that
# group (kill -TERM -- -PGID), as Ctrl-C does: a signal to the first PID
# alone waits for the inner part to end (bash runs traps after the
# foreground command).
#
#   --port N      HAProxy's port (default 8080)
#   --no-build    use the existing build/native/server/renkei-server
#                 (RENKEI_SERVER_BIN overrides the binary)
#   --instances N number of instances, 1 to 9 (default 3)
#   --config FILE the configuration every instance starts from (default
#                 config/dev.json); the script sets port, instance_name,
#                 database, maildir, issuer, web_root and the threads, and
#                 moves redirect URIs on http://127.0.0.1:8080 to HAProxy's
#                 address (scripts/bench-reference.sh uses it for its rows)
#
# Threads per instance: worker_threads 64 and max_in_flight 48 (the
# production defaults) with one or two instances, 32 and 24 from three on,
# so that the instances' connection pools (one connection per worker
# thread) stay under the private cluster's max_connections=200.
set -euo pipefail

caller_pwd=$(pwd)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

lb_port=8080
build=1
count=3
base_config=config/dev.json
inner=0
args=("$@")
while (($#)); do
  case "$1" in
    --port) lb_port=${2:?--port needs a number}; shift 2 ;;
    --no-build) build=0; shift ;;
    --instances) count=${2:?--instances needs a number}; shift 2 ;;
    --config) base_config=${2:?--config needs a file}; shift 2 ;;
    --inner) inner=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/!p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "start-cluster.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

if ! [[ "$count" =~ ^[1-9]$ ]]; then
  echo "start-cluster.sh: --instances takes 1 to 9" >&2
  exit 2
fi
# A relative --config is the caller's; the default is the repository's.
if [[ "$base_config" != /* && "$base_config" != config/dev.json ]]; then
  base_config="$caller_pwd/$base_config"
fi
if [[ ! -f "$base_config" ]]; then
  echo "start-cluster.sh: $base_config not found" >&2
  exit 2
fi
base_config=$(cd "$(dirname "$base_config")" && pwd)/$(basename "$base_config")

if ((inner == 0)); then
  if ! command -v haproxy >/dev/null; then
    echo "start-cluster.sh: haproxy not found (apt-get install haproxy)" >&2
    exit 2
  fi
  if ((build)); then
    bash scripts/setup.sh
    export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:${NODE_PATH}}"
    cmake --preset wasm >/dev/null
    cmake --build --preset wasm -j2
    cmake --preset native >/dev/null
    cmake --build --preset native -j2 --target renkei-server
  fi
  # The rest runs inside with-postgres.sh, which owns the database cluster
  # and deletes it when this script's inner part ends.
  exec bash scripts/with-postgres.sh bash "${BASH_SOURCE[0]}" --inner "${args[@]}" \
    --config "$base_config"
fi

# ---- inner part: RENKEI_TEST_POSTGRES_URI points at the private cluster ----
server_bin=${RENKEI_SERVER_BIN:-$repo/build/native/server/renkei-server}
if [[ ! -x "$server_bin" ]]; then
  echo "start-cluster.sh: $server_bin not found (run without --no-build)" >&2
  exit 2
fi
: "${RENKEI_TEST_POSTGRES_URI:?start-cluster.sh --inner runs under with-postgres.sh}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/renkei-cluster.XXXXXX")
pids=()
stop_all() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# One database for the cluster, in the private PostgreSQL.
db_uri="${RENKEI_TEST_POSTGRES_URI%/*}/renkei"
psql_bin=${RENKEI_PG_BIN:-/usr/lib/postgresql/15/bin}/psql
"$psql_bin" -q -d "$RENKEI_TEST_POSTGRES_URI" -c "CREATE DATABASE renkei" >/dev/null

issuer="http://127.0.0.1:$lb_port"
names=(a b c d e f g h i)
names=("${names[@]:0:count}")
if ((count <= 2)); then threads=64 in_flight=48; else threads=32 in_flight=24; fi
ports=()
for name in "${names[@]}"; do
  port=$(free_port)
  ports+=("$port")
  mkdir -p "$tmp/mail-$name"
  # config/dev.json with this instance's port, name, database and maildir;
  # the issuer and the demo app's redirect are HAProxy's address.
  node -e '
    const fs = require("fs");
    const [src, dst, port, name, db, maildir, issuer, web, threads, inFlight] = process.argv.slice(1);
    const c = JSON.parse(fs.readFileSync(src, "utf8"));
    Object.assign(c, { port: +port, instance_name: name, database: db, maildir, issuer,
                       web_root: web, worker_threads: +threads, max_in_flight: +inFlight });
    for (const client of c.clients) client.redirect_uris = client.redirect_uris.map(
      (u) => u.replace("http://127.0.0.1:8080", issuer));
    fs.writeFileSync(dst, JSON.stringify(c, null, 2));
  ' "$base_config" "$tmp/$name.json" "$port" "$name" "$db_uri" "$tmp/mail-$name" \
    "$issuer" "$repo/web" "$threads" "$in_flight"
done

# All start at once (the seed is taken by one of them only).
start_instance() {  # index; the port comes on the command line (--port)
  "$server_bin" --config "$tmp/${names[$1]}.json" --port "${ports[$1]}" \
    >"$tmp/${names[$1]}.log" 2>&1 &
  pids[$1]=$!
}
for i in "${!names[@]}"; do start_instance "$i"; done

# Healthy, or 1 as soon as the process ended (PID given) or after 30 s.
wait_healthy() {  # port, what, log, pid
  for _ in $(seq 300); do
    if curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$1/healthz"; then return 0; fi
    if [[ -n "${4:-}" ]] && ! kill -0 "$4" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "start-cluster.sh: $2 did not answer /healthz:" >&2
  if [[ -n "${3:-}" ]]; then cat "$3" >&2; fi
  return 1
}
for i in "${!names[@]}"; do
  # A free port can be taken between the check and the start: try others.
  for attempt in 1 2 3 4 5; do
    if wait_healthy "${ports[$i]}" "instance ${names[$i]}" "$tmp/${names[$i]}.log" "${pids[$i]}" 2>"$tmp/wait.err"; then
      break
    fi
    if ((attempt == 5)) || ! grep -q "cannot listen" "$tmp/${names[$i]}.log"; then
      cat "$tmp/wait.err" >&2
      exit 1
    fi
    wait "${pids[$i]}" 2>/dev/null || true
    ports[$i]=$(free_port)
    start_instance "$i"
  done
done

# HAProxy: every request to the next healthy instance (no cookie, no stick
# table). Only a request that never reached an instance (connection refused:
# the instance is dead) is retried, on another instance (redispatch): a POST
# that an instance received may have been committed, so it is never replayed.
# One exception: a GET of a content-hashed static name (/static/….<16 hex>.js)
# that an instance answers 404 is asked of the next instances too. During a
# rolling deployment the page of one build names a script (flow-bundle.js:
# the core's glue and flow.js) that an instance of the other build cannot
# serve; without the retry the customer gets an empty page whose address bar
# still holds /authorize (docs/deployment.md, "Rolling deployments").
cat >"$tmp/haproxy.cfg" <<EOF
global
    maxconn 1000

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    retries 2
    option redispatch 1
    retry-on conn-failure 404
    option http-server-close

frontend renkei
    bind 127.0.0.1:$lb_port
    default_backend instances

backend instances
    balance roundrobin
    acl hashed_static path_reg '^/static/.+\\.[0-9a-f]{16}\\.[a-z]+\$'
    http-request disable-l7-retry unless METH_GET hashed_static
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
EOF
for i in "${!names[@]}"; do
  echo "    server ${names[$i]} 127.0.0.1:${ports[$i]} check" >>"$tmp/haproxy.cfg"
done
haproxy -f "$tmp/haproxy.cfg" -db >"$tmp/haproxy.log" 2>&1 &
pids+=("$!")
wait_healthy "$lb_port" "HAProxy on 127.0.0.1:$lb_port" "$tmp/haproxy.log" "${pids[-1]}" || exit 1

for i in "${!names[@]}"; do
  echo "instance ${names[$i]} http://127.0.0.1:${ports[$i]} pid ${pids[$i]} maildir $tmp/mail-${names[$i]}"
done
echo "cluster ready: $issuer/demo/"
echo "(Ctrl-C stops HAProxy, the instances and PostgreSQL and deletes $tmp)" >&2

# Wait until a signal or until HAProxy ends (an instance that dies is
# HAProxy's business: it takes it out of the rotation).
wait "${pids[-1]}" || true
