#!/usr/bin/env bash
# tests/gateway_load/run.sh: /api/execute under 32 concurrent connections with
# wrk: every answer is 200 or a clean 503 (never a socket error, a 500 or a
# hang), the gateway's memory does not grow with the load, and it answers
# normally afterwards.  LOAD_SECONDS (30) sets the duration.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib/cluster.sh"
LOAD_SECONDS=${LOAD_SECONDS:-30}

command -v wrk >/dev/null || { echo "wrk is missing (scripts/deps.sh installs it)"; echo "0 passed, 1 failed"; exit 1; }
GW=$ROOT/gateway/pi-gateway
[ -x "$GW" ] || make -C "$ROOT" -f gateway/gateway.mk gateway/pi-gateway >/dev/null || exit 1
pi_cluster_start || { echo "0 passed, 1 failed"; exit 1; }
KEY=loadtestkey0123456789abcdef
GWPORT=$(pi_free_port); U=http://127.0.0.1:$GWPORT
DATABASE_URL="host=$PI_TEST_DIR port=$PI_TEST_PORT dbname=$PI_TEST_DB user=postgres" \
  PORT=$GWPORT API_KEY=$KEY "$GW" 2>"$PI_TEST_DIR/gw.log" & GWPID=$!
trap 'kill $GWPID 2>/dev/null; pi_cluster_cleanup' EXIT
wait_until 10 curl -sf "$U/health"

# A short timeout makes a call that finds every sync slot busy give up
# within a second: the load must then show clean 503s, not errors.
cat >"$PI_TEST_DIR/load.lua" <<LUA
wrk.method = "POST"; wrk.body = '{"code":"print(1)","timeout":1}'
wrk.headers["X-API-Key"] = "$KEY"; wrk.headers["Content-Type"] = "application/json"
counts = {}
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function() counts = {} end
response = function(status) counts[status] = (counts[status] or 0) + 1 end
done = function(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write("status ", k, " ", v, "\n") end
  local e = summary.errors
  io.write("errors ", e.connect + e.read + e.write + e.timeout, "\n")
end
LUA

# warm up, then the baseline memory
for _ in 1 2 3 4 5; do curl -s -o /dev/null -X POST -H "X-API-Key: $KEY" -d '{"code":"print(1)"}' "$U/api/execute"; done
RSS0=$(ps -o rss= -p $GWPID | tr -d ' ')
wrk -t2 -c32 -d"${LOAD_SECONDS}s" --timeout 20s -s "$PI_TEST_DIR/load.lua" "$U/api/execute" >"$PI_TEST_DIR/wrk.out" 2>&1
cat "$PI_TEST_DIR/wrk.out" | sed 's/^/#   /'
RSS1=$(ps -o rss= -p $GWPID | tr -d ' ')
echo "#   gateway RSS before/after: ${RSS0} kB / ${RSS1} kB"

ok200=$(awk '$1 == "status" && $2 == 200 {print $3}' "$PI_TEST_DIR/wrk.out")
others=$(awk '$1 == "status" && $2 != 200 && $2 != 503 {n += $3} END {print n + 0}' "$PI_TEST_DIR/wrk.out")
errors=$(awk '$1 == "errors" {print $2}' "$PI_TEST_DIR/wrk.out")
check "the load got answers" "[ \"${ok200:-0}\" -gt 0 ]"
check "every answer is 200 or 503" "[ \"$others\" = 0 ]"
check "no socket errors or timeouts" "[ \"${errors:-1}\" = 0 ]"
check "gateway memory grew by less than 20 MB" "[ $(( RSS1 - RSS0 )) -lt 20480 ]"
check "the gateway still answers" \
  "curl -s -X POST -H 'X-API-Key: $KEY' -d '{\"code\":\"print(7)\"}' '$U/api/execute' | grep -q '7'"
check "the gateway is still running" "kill -0 $GWPID"
summary
