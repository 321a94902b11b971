#!/usr/bin/env bash
# tests/gateway/limits_nodb.sh: the limits against floods (limits.py: a
# connection flood from one address, slowloris, the MCP session table) and
# the unit check of db.c's error text (db_error_test.c), against a
# pi-gateway with no database behind it, so it runs in seconds.  run.sh
# runs it too.
# Prints "N passed, M failed"; exits non-zero on failure.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib/cluster.sh"
. "$ROOT/tests/lib/ctest.sh"

GW=${PI_GATEWAY:-$ROOT/gateway/pi-gateway}
[ -x "$GW" ] || make -C "$ROOT" -f gateway/gateway.mk gateway/pi-gateway >/dev/null || exit 1
PI_PASSED=${PI_PASSED:-0} PI_FAILED=${PI_FAILED:-0}
LIM_DIR=$(mktemp -d /tmp/pi-gw-limits.XXXXXX)
KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
LIM_PORT=$(pi_free_port)
PER_ADDRESS=64 HEADER_S=3 SESSIONS=8
PORT=$LIM_PORT API_KEY=$KEY PI_GATEWAY_HEADER_TIMEOUT=$HEADER_S \
  PI_GATEWAY_CONNECTIONS_PER_ADDRESS=$PER_ADDRESS PI_GATEWAY_MCP_SESSIONS=$SESSIONS \
  DATABASE_URL="host=127.0.0.1 port=$(pi_free_port) dbname=none connect_timeout=2" \
  "$GW" >"$LIM_DIR/gateway.log" 2>&1 &
LIM_PID=$!; disown "$LIM_PID"
# an SSE stream whose client left holds the stop until its next keepalive
stop_gateway() {
  kill "$LIM_PID" 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$LIM_PID" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$LIM_PID" 2>/dev/null
  rm -rf "$LIM_DIR"
}
trap stop_gateway EXIT
wait_until 10 curl -s -o /dev/null "http://127.0.0.1:$LIM_PORT/health" ||
  { echo "gateway did not start:"; cat "$LIM_DIR/gateway.log"; exit 1; }

echo "# connection and session limits"
while IFS= read -r line; do
  case "$line" in
    "ok - "*) pass "${line#ok - }" ;;
    "not ok - "*) fail "${line#not ok - }" ;;
    *) echo "  $line" ;;
  esac
done < <(python3 "$HERE/limits.py" "$LIM_PORT" "$KEY" "$PER_ADDRESS" "$HEADER_S" "$SESSIONS" 2>&1)
check "gateway process still running" kill -0 "$LIM_PID"

echo "# db.c: a long error text stays inside GwError.message"
pi_c_test db_error_test "$LIM_DIR" "$HERE/db_error_test.c" "$ROOT/gateway/db.c" \
  "$ROOT/gateway/common.c" "$ROOT/gateway/utf8.c" -lpq -ljansson
check "refused connections are not logged one line each" \
  '[ "$(grep -c "connection limit" "$LIM_DIR/gateway.log")" -le 40 ]'
summary
