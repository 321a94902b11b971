#!/usr/bin/env bash
# tests/gateway/run.sh: pi-gateway end to end.  Starts a throwaway cluster
# (tests/lib/cluster.sh) and a gateway on a free port, then checks every REST
# route and error with curl, MCP with the official TypeScript SDK client
# (Streamable HTTP and legacy SSE) and the Inspector CLI (inspector.sh),
# --stdio, restart of PostgreSQL under the gateway, and robustness against
# malformed and hostile requests (robustness.sh, hostile.sh; the SQLSTATE
# table with sqlstate_stub.sh), and
# numbers beyond 64-bit integers (bignum.sh), API_KEY_FILE (keyfile.sh).
# Prints "N passed, M failed"; exits non-zero on failure.
#
#   PI_GATEWAY_NODE_DIR  where npm installs the test clients
#                        (default ~/.cache/pi-gateway-tests)
#   PI_GATEWAY_CONFORMANCE=1  also run the MCP conformance suite (slow)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib/cluster.sh"

GW=$ROOT/gateway/pi-gateway
[ -x "$GW" ] || make -C "$ROOT" -f gateway/gateway.mk gateway/pi-gateway >/dev/null || exit 1
pi_cluster_start || exit 1

KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
GWLOG=$PI_TEST_DIR/gateway.log
export DATABASE_URL="host=$PI_TEST_DIR port=$PI_TEST_PORT dbname=$PI_TEST_DB user=postgres"
GWPIDS=()
stop_gateways() { local p; for p in "${GWPIDS[@]}"; do kill "$p" 2>/dev/null; done; }
trap 'stop_gateways; pi_cluster_cleanup' EXIT
# a port found free may be taken by another run before we bind it: the
# gateway counts as started only when this very process listens
# a short execute_code wait budget keeps the issue 14 tests fast
pi_gateway_start "$GWLOG" env API_KEY="$KEY" MAX_FILE_SIZE_MB="${MAX_FILE_SIZE_MB:-8}" \
  PI_GATEWAY_EXECUTE_WAIT=3 ALLOWED_ORIGINS=https://other.example.org,https://app.example.com "$GW" \
  || { echo "gateway did not start:"; cat "$GWLOG"; fail "gateway starts"; summary; exit 1; }
GWPIDS+=("$PI_GW_PID"); GWPORT=$PI_GW_PORT; U=http://127.0.0.1:$GWPORT

# Issue 14's 70 s cell through a second gateway with default settings
# (execute_code waits its default 45 s), run by the SDK client with its
# default options in the background while the rest of the suite goes on;
# its lines are counted at the end.  It needs the npm clients: started
# once they are installed (below).
start_long_cell() {
  # a tenant of its own, so its sync slot and job count nothing of the
  # default tenant's limits that the rest of the suite uses meanwhile
  pi_sql "CREATE ROLE gw_long NOLOGIN IN ROLE pi_user" >/dev/null
  LONG_KEY=$(pi_sql "SELECT pi.create_api_key('gw_long', 'the 70 s cell')")
  pi_gateway_start "$PI_TEST_DIR/gateway-default.log" env API_KEY="$KEY" "$GW" \
    || { fail "a gateway with default settings starts" "$(tail -n 3 "$PI_TEST_DIR/gateway-default.log")"; return; }
  GWPIDS+=("$PI_GW_PID")
  cp "$HERE/long_cell.mjs" "$PI_TEST_DIR/"
  node "$PI_TEST_DIR/long_cell.mjs" "http://127.0.0.1:$PI_GW_PORT" "$LONG_KEY" >"$PI_TEST_DIR/long_cell.out" 2>&1 &
  LONG_CELL_PID=$!
}

echo "# layout"
if ls "$ROOT"/gateway/*.o >/dev/null 2>&1; then
  check "no circular dependencies between gateway files" \
    bash "$ROOT/tests/layout/symbol_cycles.sh" pi-gateway "$ROOT"/gateway/*.o
fi

# REST routes and MCP by hand: shared with tests/image (its packaged gateway)
HTTP_SH_SQL=1
. "$HERE/http.sh"

echo "# MCP with the official TypeScript SDK"
# The SDK client and the conformance suite come from npm (tests/gateway/
# node_deps.sh); a client that cannot run is a failure, never silence.
. "$HERE/node_deps.sh"
if pi_node_deps; then
  pass "npm test clients installed (SDK, conformance suite, Node 22)"
else
  fail "npm test clients installed (SDK, conformance suite, Node 22)" "$PI_NODE_DEPS_ERROR"
fi
# the client runs from this run's own directory, so runs with another
# NODE_DIR never swap a node_modules link under each other
cp "$HERE/mcp_client.mjs" "$PI_TEST_DIR/"
ln -sfn "$NODE_DIR/node_modules" "$PI_TEST_DIR/node_modules"
start_long_cell
MCP_OUT=$PI_TEST_DIR/mcp_client.out
node "$PI_TEST_DIR/mcp_client.mjs" "$U" "$KEY" >"$MCP_OUT" 2>&1
MCP_RC=$?
while IFS= read -r line; do
  case "$line" in
    "ok - "*) pass "${line#ok - }" ;;
    "not ok - "*) fail "${line#not ok - }" ;;
    *) echo "  $line" ;;
  esac
done <"$MCP_OUT"
# a client that died before or between its checks (missing module, crash)
# prints no "not ok": its missing end line is the failure
if ! grep -q '^# mcp_client: finished' "$MCP_OUT"; then
  fail "mcp: the SDK client ran to its end" \
    "exit status $MCP_RC: $(grep -m 3 -E 'Error|ERR_|not found' "$MCP_OUT" | tr '\n' ' ')"
fi

cp "$HERE/mcp_files.mjs" "$PI_TEST_DIR/"
node "$PI_TEST_DIR/mcp_files.mjs" "$U" "$KEY" >"$PI_TEST_DIR/mcp_files.out" 2>&1
while IFS= read -r line; do
  case "$line" in
    "ok - "*) pass "${line#ok - }" ;;
    "not ok - "*) fail "${line#not ok - }" ;;
    *) echo "  $line" ;;
  esac
done <"$PI_TEST_DIR/mcp_files.out"
grep -q '^# mcp_files: finished' "$PI_TEST_DIR/mcp_files.out" \
  || fail "mcp files: the SDK client ran to its end" "$(grep -m 3 -E 'Error|ERR_' "$PI_TEST_DIR/mcp_files.out" | tr '\n' ' ')"

echo "# OpenAPI: lint and live answers of every route (issue 14)"
. "$HERE/openapi.sh"

echo "# MCP Inspector CLI (issue 14)"
. "$HERE/inspector.sh"

echo "# --stdio"
pi_wait_ready 60
OUT=$(printf '%s\n' "$INIT" '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
  '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute_code","arguments":{"code":"print(40+2)"}}}' \
  | "$GW" --stdio 2>/dev/null)
check "stdio: initialize and a tool call" '[ "$(echo "$OUT" | wc -l)" = 2 ] && [[ "$OUT" == *42* ]]'
# a ping and notifications/cancelled are served while a long cell runs
python3 "$HERE/stdio_concurrency.py" "$GW" >"$PI_TEST_DIR/stdio.out" 2>&1
while IFS= read -r line; do
  case "$line" in
    "ok - "*) pass "${line#ok - }" ;;
    "not ok - "*) fail "${line#not ok - }" ;;
  esac
done <"$PI_TEST_DIR/stdio.out"
grep -q '^# stdio: finished' "$PI_TEST_DIR/stdio.out" \
  || fail "stdio_concurrency.py ran to its end" "$(tail -n 3 "$PI_TEST_DIR/stdio.out" | tr '\n' ' ')"

echo "# API_KEY_FILE"
. "$HERE/keyfile.sh"

echo "# tenants (issue 13)"
. "$HERE/tenants.sh"

echo "# files: default workspace, ranges, append, CORS, OAuth, tenants (issue 14)"
. "$HERE/files.sh"

echo "# uploads that fail part-way lose nothing and leave nothing"
. "$HERE/upload_atomic.sh"

echo "# numbers beyond 64-bit integers"
. "$HERE/bignum.sh"

echo "# robustness"
. "$HERE/robustness.sh"

echo "# hostile input (issue 10)"
GW_PID=${GWPIDS[0]}
. "$HERE/hostile.sh"

echo "# arguments of the wrong type or out of range"
. "$HERE/arg_types.sh"

echo "# SQLSTATE mapping and long error texts (own stub cluster)"
PI_GATEWAY="$GW" bash "$HERE/sqlstate_stub.sh" >"$PI_TEST_DIR/sqlstate_stub.out" 2>&1
while IFS= read -r line; do
  case "$line" in
    "ok - "*) pass "${line#ok - }" ;;
    "not ok - "*) fail "${line#not ok - }" ;;
    *" passed, "*" failed") ;;
    *) echo "  $line" ;;
  esac
done <"$PI_TEST_DIR/sqlstate_stub.out"
# a stub run that died before its summary would otherwise count nothing
tail -n 1 "$PI_TEST_DIR/sqlstate_stub.out" | grep -qE '^[0-9]+ passed, [0-9]+ failed$' \
  || fail "sqlstate_stub.sh ran to its summary" "$(tail -n 2 "$PI_TEST_DIR/sqlstate_stub.out" | tr '\n' ' ')"
if PI_GATEWAY="$GW" bash "$HERE/limits_nodb.sh" >"$PI_TEST_DIR/limits.out" 2>&1; then pass "limits_nodb.sh: connection and session limits"; else fail "limits_nodb.sh" "$(grep -v '^ok' "$PI_TEST_DIR/limits.out" | head -c 500)"; fi

echo "# the 70 s cell (started in the background)"
if [ -n "${LONG_CELL_PID:-}" ]; then
  wait "$LONG_CELL_PID"
  while IFS= read -r line; do
    case "$line" in
      "ok - "*) pass "${line#ok - }" ;;
      "not ok - "*) fail "${line#not ok - }" ;;
    esac
  done <"$PI_TEST_DIR/long_cell.out"
  grep -q '^# long_cell: finished' "$PI_TEST_DIR/long_cell.out" \
    || fail "long_cell.mjs ran to its end" "$(tail -n 3 "$PI_TEST_DIR/long_cell.out" | tr '\n' ' ')"
fi

echo "# PostgreSQL restart under the gateway"
curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KEY" "$U/api/execute" \
  -d '{"code":"import time\ntime.sleep(12)  # in flight"}' --max-time 60 >"$PI_TEST_DIR/inflight" &
INFLIGHT=$!
# restart once the call really runs in PostgreSQL, not after a guessed delay
wait_sql 20 "SELECT count(*) > 0 FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pi.execute%' AND pid <> pg_backend_pid()" t \
  || echo "# the call did not show up in pg_stat_activity"
pi_cluster_restart immediate >/dev/null
wait "$INFLIGHT"; INFLIGHT_STATUS=$(cat "$PI_TEST_DIR/inflight")
check "call in flight during restart: 503" '[ "$INFLIGHT_STATUS" = 503 ]'
pi_wait_ready 60
req POST /api/execute -d '{"code":"print(1)"}'
check "next call after restart works" '[ "$STATUS" = 200 ] && [ "$(jq_ "d[\"stdout\"]")" = 1 ]'
check "gateway still running" kill -0 "${GWPIDS[0]}"

if [ "${PI_GATEWAY_CONFORMANCE:-1}" = 1 ]; then
  echo "# MCP conformance suite"
  . "$HERE/conformance.sh"
fi

summary
