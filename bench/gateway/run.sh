#!/usr/bin/env bash
# bench/gateway/run.sh: what the gateway adds to a call.  p50/p99 of
# print(1) over REST /api/execute (wrk) and over SQL (pgbench), each with a
# C client on one connection, in the same run; then /health with wrk as the
# HTTP floor and /api/execute with wrk (32 connections) for clean 503s.
#   SECONDS_EACH (10) per path; WRK_SECONDS (10)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib/cluster.sh"
WRK_SECONDS=${WRK_SECONDS:-10}
GW=$ROOT/gateway/pi-gateway
[ -x "$GW" ] || make -C "$ROOT" -f gateway/gateway.mk gateway/pi-gateway >/dev/null || exit 1
pi_cluster_start || exit 1
KEY=benchkey0123456789abcdef; GWPORT=$(pi_free_port); U=http://127.0.0.1:$GWPORT
DATABASE_URL="host=$PI_TEST_DIR port=$PI_TEST_PORT dbname=$PI_TEST_DB user=postgres" \
  PORT=$GWPORT API_KEY=$KEY "$GW" 2>"$PI_TEST_DIR/gw.log" & GWPID=$!
trap 'kill $GWPID 2>/dev/null; pi_cluster_cleanup' EXIT
wait_until 10 curl -sf "$U/health"

# Both paths with a C client over one kept-alive connection, so that the
# difference is what the gateway adds: wrk for REST, pgbench for SQL.
SECONDS_EACH=${SECONDS_EACH:-10}
cat >"$PI_TEST_DIR/post1.lua" <<LUA
wrk.method = "POST"; wrk.body = '{"code":"print(1)"}'
wrk.headers["X-API-Key"] = "$KEY"; wrk.headers["Content-Type"] = "application/json"
LUA
# wrk --latency prints "50%  3.21ms"; convert us/ms/s to ms
wrk_pct() {
  awk -v p="$1%" '$1 == p { v = $2; u = v; gsub(/[0-9.]/, "", u); gsub(/[a-z]/, "", v);
    if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.2f", v }' "$2"
}
wrk -t1 -c1 -d"${SECONDS_EACH}s" --latency -s "$PI_TEST_DIR/post1.lua" "$U/api/execute" >"$PI_TEST_DIR/rest.txt"
R50=$(wrk_pct 50 "$PI_TEST_DIR/rest.txt"); R99=$(wrk_pct 99 "$PI_TEST_DIR/rest.txt")
printf "SELECT pi.execute('print(1)');\n" | as_pg tee "$PI_TEST_DIR/p1.sql" >/dev/null
as_pg mkdir -p "$PI_TEST_DIR/pgb"
(cd "$PI_TEST_DIR/pgb" && as_pg "$PI_PGBIN/pgbench" -n -c1 -T"$SECONDS_EACH" -f "$PI_TEST_DIR/p1.sql" \
  --log --log-prefix="$PI_TEST_DIR/pgb/log" -h "$PI_TEST_DIR" -p "$PI_TEST_PORT" "$PI_TEST_DB" >/dev/null 2>&1)
pgb_pct() {
  cat "$PI_TEST_DIR"/pgb/log* | awk '{print $3}' | sort -n |
    awk -v p="$1" '{v[NR]=$1} END {i=int(p/100*NR+0.999999); if(i<1)i=1; printf "%.2f", v[i]/1000}'
}
S50=$(pgb_pct 50); S99=$(pgb_pct 99)
echo "print(1) over REST: p50 ${R50} ms, p99 ${R99} ms (wrk, 1 kept-alive connection, ${SECONDS_EACH}s)"
echo "print(1) over SQL:  p50 ${S50} ms, p99 ${S99} ms (pgbench, 1 connection, ${SECONDS_EACH}s)"
echo "REST adds p50 $(awk -v r="$R50" -v s="$S50" 'BEGIN { printf "%.2f", r - s }') ms (target <= 1 ms)"
if command -v wrk >/dev/null; then
  echo "--- wrk /health, 4 connections, ${WRK_SECONDS}s (HTTP floor)"
  wrk -t2 -c4 -d"${WRK_SECONDS}s" "$U/health" | grep -E 'Requests/sec|Latency'
  cat >"$PI_TEST_DIR/post.lua" <<LUA
wrk.method = "POST"; wrk.body = '{"code":"print(1)"}'
wrk.headers["X-API-Key"] = "$KEY"; wrk.headers["Content-Type"] = "application/json"
local codes = {}
response = function(status) codes[status] = (codes[status] or 0) + 1 end
done = function() for k, v in pairs(codes) do io.write("status ", k, ": ", v, "\n") end end
LUA
  RSS0=$(ps -o rss= -p $GWPID)
  echo "--- wrk /api/execute, 32 connections, ${WRK_SECONDS}s (503 when the executor is full)"
  wrk -t2 -c32 -d"${WRK_SECONDS}s" -s "$PI_TEST_DIR/post.lua" "$U/api/execute" | grep -E 'Requests/sec|Latency|status|Non-2xx|Socket errors'
  echo "gateway RSS before/after: ${RSS0} kB / $(ps -o rss= -p $GWPID) kB"
fi
