#!/usr/bin/env bash
# Round trips to PostgreSQL per complete flow of one renkei-server build: one
# instance on a throw-away PostgreSQL (scripts/start-cluster.sh --instances 1),
# one node client (tests/perf/reference/flow_load.mjs) for 5 s, and
# `strace -f -yy -e trace=sendto` on the server: every send that is not on
# the instance's own HTTP port goes to PostgreSQL (libpq sends one batch per
# round trip). Also prints the HTTP sends. A count, not a timing: it does not
# depend on the machine's load. Needs strace.
#
#   bash scripts/pg-round-trips.sh [build/native/server/renkei-server]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v strace >/dev/null || { echo "strace missing: apt-get install strace"; exit 1; }
B="$(realpath "${1:-build/native/server/renkei-server}")"; work=$(mktemp -d)
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});')
source scripts/bench-server.sh
renkei_cluster_config "$work/cfg.json"
RENKEI_SERVER_BIN="$B" setsid bash scripts/start-cluster.sh --port "$port" --no-build --instances 1 --config "$work/cfg.json" >"$work/cl.log" 2>&1 &
CL=$!
for _ in $(seq 1 600); do grep -q '^cluster ready' "$work/cl.log" && break; sleep 0.1; done
url=$(awk '/^instance / {print $3; exit}' "$work/cl.log"); pid=$(awk '/^instance / {print $5; exit}' "$work/cl.log")
curl -fsS -o /dev/null -X POST "$url/admin/api/dev/clock" -H "Authorization: Bearer $RENKEI_DEV_ADMIN_TOKEN" -H 'X-Renkei-Staff: bench' -H 'Content-Type: application/json' -d "{\"set\":\"$RENKEI_OPEN_TIME\"}"
node tests/perf/reference/flow_load.mjs --target renkei --url "$url" --clients 1 --seconds 2 --redirect-uri "http://127.0.0.1:$port/demo/callback" >/dev/null
strace -f -yy -e trace=sendto -p "$pid" -o "$work/st" 2>/dev/null & ST=$!
sleep 1
out=$(node tests/perf/reference/flow_load.mjs --target renkei --url "$url" --clients 1 --seconds 5 --redirect-uri "http://127.0.0.1:$port/demo/callback")
kill -INT $ST; wait $ST 2>/dev/null || true
flows=$(grep -oE '^[0-9]+ flows ok' <<<"$out" | grep -oE '^[0-9]+')
total=$(grep -c 'sendto(' "$work/st" || true)
http=$(grep 'sendto(' "$work/st" | grep -c "127.0.0.1:$(sed -E 's#http://127.0.0.1:([0-9]+).*#\1#' <<<"$url")->" || true)
echo "$B: $flows flows in 5 s; per flow: $(awk -v h=$http -v f=$flows 'BEGIN{printf "%.1f", h/f}') HTTP sends, $(awk -v t=$total -v h=$http -v f=$flows 'BEGIN{printf "%.1f", (t-h)/f}') PostgreSQL sends (round trips)"
kill -TERM -- -$CL 2>/dev/null; wait $CL 2>/dev/null || true
rm -rf "$work"
