#!/usr/bin/env bash
# Runs CMD with a private, throw-away PostgreSQL 15 cluster:
#
#   scripts/with-postgres.sh CMD [ARGS…]
#
# The cluster lives in a new temporary folder, listens on 127.0.0.1 on a free
# port (and on a Unix socket inside that folder only), trusts local
# connections of the role `renkei`, and is stopped and deleted when CMD ends,
# whatever its outcome. CMD sees
#
#   RENKEI_TEST_POSTGRES_URI=postgresql://renkei@127.0.0.1:PORT/postgres
#
# (the storage tests create one database per test through it) and
#
#   RENKEI_TEST_POSTGRES_CTL=TMPDIR/pgctl
#
# a small script that crashes and restarts that cluster for tests of what
# happens when the database dies: `pgctl stop` is an immediate shutdown
# (pg_ctl stop -m immediate: no checkpoint, crash recovery at the next start),
# `pgctl start` starts it again on the same port. The exit
# status is CMD's. PostgreSQL refuses to run as root, so under root the
# server runs as the `postgres` user (created by Debian's postgresql package);
# otherwise as the caller. Nothing here touches the machine's own clusters.
set -euo pipefail

pg_bin=${RENKEI_PG_BIN:-/usr/lib/postgresql/15/bin}
if [[ ! -x "$pg_bin/initdb" ]]; then
  echo "with-postgres.sh: $pg_bin/initdb not found (apt-get install postgresql; scripts/setup.sh)" >&2
  exit 2
fi
if (($# == 0)); then
  echo "usage: with-postgres.sh CMD [ARGS...]" >&2
  exit 2
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/renkei-pg.XXXXXX")
as_pg=()
if [[ "$(id -u)" -eq 0 ]]; then
  chown postgres: "$dir"
  as_pg=(runuser -u postgres --)
fi

cleanup() {
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${as_pg[@]}" "$pg_bin/initdb" -D "$dir/data" -U renkei --auth=trust -E UTF8 --no-locale \
  >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 2; }

# A random port in 20000-59999 that nothing answers on (bash only: no
# python on a minimal machine).
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

# A free port can be taken between the check and the start: try a few.
started=0
for _ in 1 2 3 4 5; do
  port=$(free_port)
  pg_opts="-p $port -c listen_addresses=127.0.0.1 -k $dir -c max_connections=200"
  if "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
       -o "$pg_opts" start >/dev/null 2>&1; then
    started=1
    break
  fi
done
if ((started == 0)); then
  echo "with-postgres.sh: the PostgreSQL server did not start:" >&2
  cat "$dir/server.log" >&2 || true
  exit 2
fi

# The crash/restart control for tests (see the top of this file).
{
  printf '#!/usr/bin/env bash\nset -euo pipefail\ncase "${1:-}" in\n'
  printf '  stop) exec %s %q -D %q -m immediate -w stop ;;\n' "${as_pg[*]:-}" "$pg_bin/pg_ctl" "$dir/data"
  printf '  start) exec %s %q -D %q -l %q -w -t 60 -o %q start ;;\n' "${as_pg[*]:-}" \
    "$pg_bin/pg_ctl" "$dir/data" "$dir/server.log" "$pg_opts"
  printf '  *) echo "usage: pgctl stop|start" >&2; exit 2 ;;\nesac\n'
} >"$dir/pgctl"
chmod 755 "$dir/pgctl"
export RENKEI_TEST_POSTGRES_CTL="$dir/pgctl"
export RENKEI_TEST_POSTGRES_URI="postgresql://renkei@127.0.0.1:$port/postgres"
echo "with-postgres.sh: PostgreSQL 15 on 127.0.0.1:$port ($dir)" >&2
set +e
"$@"
status=$?
set -e
exit "$status"
