#!/usr/bin/env bash
# tests/gateway_load/run.sh: /api/execute under 32 concurrent connections with
# wrk: every answer is a completed run or a clean busy 503 (never a failed
# run, a socket error, a 500 or a hang), the gateway's memory does not grow
# with the load, and it answers normally afterwards.  LOAD_SECONDS (30) sets the duration.
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
GWPID=
trap 'kill $GWPID 2>/dev/null; pi_cluster_cleanup' EXIT
pi_gateway_start "$PI_TEST_DIR/gw.log" env API_KEY=$KEY \
  DATABASE_URL="host=$PI_TEST_DIR port=$PI_TEST_PORT dbname=$PI_TEST_DB user=postgres" "$GW" \
  || { cat "$PI_TEST_DIR/gw.log"; echo "0 passed, 1 failed"; exit 1; }
GWPID=$PI_GW_PID; GWPORT=$PI_GW_PORT; U=http://127.0.0.1:$GWPORT

# A short timeout makes a call that finds every sync slot busy give up
# within a second: the load must then show clean busy answers, not errors.
# An answer counts by its body, not its HTTP status: a success is a JSON
# body with "status": "completed"; busy is a 503 with Retry-After and a
# *_busy error code; anything else (a 200 whose run failed or timed out, a
# 500, ...) is an error, counted by kind, with sample bodies.
cat >"$PI_TEST_DIR/load.lua" <<LUA
wrk.method = "POST"; wrk.body = '{"code":"print(1)","timeout":1}'
wrk.headers["X-API-Key"] = "$KEY"; wrk.headers["Content-Type"] = "application/json"
counts = {}
samples = {}
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function() counts = {}; samples = {} end
local function header(headers, name)
  for k, v in pairs(headers) do if string.lower(k) == name then return v end end
  return nil
end
response = function(status, headers, body)
  local kind
  local st = string.match(body or "", '"status"%s*:%s*"([%w_]+)"')
  local code = string.match(body or "", '"code"%s*:%s*"([%w_]+)"')
  local etype = string.match(body or "", '"type"%s*:%s*"([%w_]+)"')
  if status == 200 and st == "completed" then
    kind = "completed"
  elseif status == 503 and header(headers, "retry-after") and code and string.match(code, "busy\$") then
    kind = "busy"
  else
    kind = "error:" .. status .. ":" .. (st or code or "no-status") .. (etype and (":" .. etype) or "")
    if #samples < 3 then
      table.insert(samples, (string.gsub(string.sub(body or "", 1, 300), "\n", " ")))
    end
  end
  counts[kind] = (counts[kind] or 0) + 1
end
done = function(summary, latency, requests)
  local total = {}
  local n = 0
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
    for _, b in ipairs(t:get("samples")) do
      if n < 3 then io.write("sample ", b, "\n"); n = n + 1 end
    end
  end
  for k, v in pairs(total) do io.write("answer ", k, " ", v, "\n") end
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

completed=$(awk '$1 == "answer" && $2 == "completed" {print $3}' "$PI_TEST_DIR/wrk.out")
busy=$(awk '$1 == "answer" && $2 == "busy" {print $3}' "$PI_TEST_DIR/wrk.out")
bad=$(awk '$1 == "answer" && $2 ~ /^error:/ {n += $3} END {print n + 0}' "$PI_TEST_DIR/wrk.out")
errors=$(awk '$1 == "errors" {print $2}' "$PI_TEST_DIR/wrk.out")
all=$(( ${completed:-0} + ${busy:-0} + bad ))
echo "#   answers: ${completed:-0} completed, ${busy:-0} busy (503 + Retry-After), $bad errors, of $all"
check "the load got completed runs" "[ \"${completed:-0}\" -gt 0 ]"
check "every answer is a completed run or a clean busy 503 ($bad of $all are not)" \
  "[ \"$bad\" = 0 ] && [ $all -gt 0 ]"
check "no socket errors or timeouts" "[ \"${errors:-1}\" = 0 ]"
check "gateway memory grew by less than 20 MB" "[ $(( RSS1 - RSS0 )) -lt 20480 ]"
AFTER=$(curl -s -X POST -H "X-API-Key: $KEY" -d '{"code":"print(7)"}' "$U/api/execute")
check "the gateway still answers with a completed run" \
  jq -e '.status == "completed" and .stdout == "7\n"' <<<"$AFTER" || echo "#   $AFTER" | cut -c1-300
check "the gateway is still running" "kill -0 $GWPID"
summary
