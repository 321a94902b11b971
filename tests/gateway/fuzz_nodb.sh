#!/usr/bin/env bash
# tests/gateway/fuzz_nodb.sh: the checks of hostile.sh against a pi-gateway
# with no database behind it (DATABASE_URL names a port nobody listens on),
# so they run in seconds without a cluster.  run.sh runs the same checks
# against a gateway with a database.
# Prints "N passed, M failed"; exits non-zero on failure.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib/cluster.sh"

GW=${PI_GATEWAY:-$ROOT/gateway/pi-gateway}
[ -x "$GW" ] || make -C "$ROOT" -f gateway/gateway.mk gateway/pi-gateway >/dev/null || exit 1
PI_TEST_DIR=$(mktemp -d /tmp/pi-gw-nodb.XXXXXX)
KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
GWPORT=$(pi_free_port)
U=http://127.0.0.1:$GWPORT
PORT=$GWPORT API_KEY=$KEY MAX_FILE_SIZE_MB=64 \
  DATABASE_URL="host=127.0.0.1 port=$(pi_free_port) dbname=none connect_timeout=2" \
  "$GW" >"$PI_TEST_DIR/gateway.log" 2>&1 &
GW_PID=$!
trap 'kill "$GW_PID" 2>/dev/null; rm -rf "$PI_TEST_DIR"' EXIT
wait_until 10 pi_pid_listens "$GW_PID" "$GWPORT" || { echo "gateway did not start:"; cat "$PI_TEST_DIR/gateway.log"; exit 1; }

. "$ROOT/tests/lib/rest.sh"

echo "# hostile input, no database"
. "$HERE/hostile.sh"
echo "# arguments of the wrong type or out of range, no database"
. "$HERE/arg_types.sh"
check "gateway process still running" kill -0 "$GW_PID"
summary
