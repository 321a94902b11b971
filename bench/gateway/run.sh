#!/usr/bin/env bash
# bench/gateway/run.sh: what the gateway adds to a call.  p50/p99 of
# print(1) over REST /api/execute and over SQL (psql -c in a loop would
# measure psql start-up, so SQL is timed inside one session with
# clock_timestamp), in the same run; then /health with wrk as the HTTP
# floor and /api/execute with wrk (32 connections) for clean 503s.
#   N (200) calls per path; WRK_SECONDS (10)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib/cluster.sh"
N=${N:-200}; WRK_SECONDS=${WRK_SECONDS:-10}
GW=$ROOT/gateway/pi-gateway
[ -x "$GW" ] || make -C "$ROOT" -f gateway/gateway.mk gateway/pi-gateway >/dev/null || exit 1
pi_cluster_start || exit 1
KEY=benchkey0123456789abcdef; GWPORT=$(pi_free_port); U=http://127.0.0.1:$GWPORT
DATABASE_URL="host=$PI_TEST_DIR port=$PI_TEST_PORT dbname=$PI_TEST_DB user=postgres" \
  PORT=$GWPORT API_KEY=$KEY "$GW" 2>"$PI_TEST_DIR/gw.log" & GWPID=$!
trap 'kill $GWPID 2>/dev/null; pi_cluster_cleanup' EXIT
wait_until 10 curl -sf "$U/health"

python3 - "$U" "$KEY" "$N" <<'PY' >"$PI_TEST_DIR/rest.txt"
import http.client, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); key = sys.argv[2]; n = int(sys.argv[3])
c = http.client.HTTPConnection(u.hostname, u.port)
body = '{"code":"print(1)"}'
for i in range(n + 10):
    t = time.perf_counter()
    c.request("POST", "/api/execute", body, {"X-API-Key": key, "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    if i >= 10: print((time.perf_counter() - t) * 1000)
PY
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p/100); if (i<1) i=1; printf "%.2f", a[i]}'; }
grep -o '[0-9.]*$' "$PI_TEST_DIR/rest.txt" >"$PI_TEST_DIR/r"
# server-side timing: the NOTICE lines (psql writes them to stderr)
pi_psql 2>&1 >/dev/null <<SQL | grep -o '[0-9.]*$' >"$PI_TEST_DIR/s"
DO \$\$ DECLARE t timestamptz; BEGIN
  FOR i IN 1..$N LOOP t := clock_timestamp(); PERFORM pi.execute('print(1)');
    RAISE NOTICE '%', extract(epoch FROM clock_timestamp() - t) * 1000; END LOOP; END \$\$;
SQL
R50=$(pct 50 <"$PI_TEST_DIR/r"); R99=$(pct 99 <"$PI_TEST_DIR/r")
S50=$(pct 50 <"$PI_TEST_DIR/s"); S99=$(pct 99 <"$PI_TEST_DIR/s")
echo "print(1) over REST: p50 ${R50} ms, p99 ${R99} ms ($N calls, keep-alive)"
echo "print(1) over SQL:  p50 ${S50} ms, p99 ${S99} ms ($N calls, server-side timing)"
echo "REST adds p50 $(echo "$R50 - $S50" | bc) ms (target <= 1 ms)"
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
