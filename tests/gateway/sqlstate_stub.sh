#!/usr/bin/env bash
# tests/gateway/sqlstate_stub.sh: how pi-gateway answers PostgreSQL errors.
# A plain throwaway cluster (no extension) gets a stub pi.execute that
# raises whatever SQLSTATE and message the code names, so every row of the
# SQLSTATE table in gateway/db.c is checked without having to break an
# executor, and so are error texts longer than the gateway's buffer.
# run.sh runs it; it also runs alone.
# Prints "N passed, M failed"; exits non-zero on failure.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib/cluster.sh"

GW=${PI_GATEWAY:-$ROOT/gateway/pi-gateway}
[ -x "$GW" ] || make -C "$ROOT" -f gateway/gateway.mk gateway/pi-gateway >/dev/null || exit 1

STUB_DIR=$(mktemp -d /tmp/pi-gw-stub.XXXXXX)
chmod 0755 "$STUB_DIR"
chown postgres: "$STUB_DIR" 2>/dev/null || sudo -n chown postgres: "$STUB_DIR"
STUB_PORT=$(pi_free_port)
stub_ctl() { as_pg "$PI_PGBIN/pg_ctl" -D "$STUB_DIR/data" -l "$STUB_DIR/pg.log" "$@"; }
cleanup() {
  [ -n "${GW_PID:-}" ] && kill "$GW_PID" 2>/dev/null
  stub_ctl -m immediate stop >/dev/null 2>&1
  rm -rf "$STUB_DIR"
}
trap cleanup EXIT
as_pg "$PI_PGBIN/initdb" -D "$STUB_DIR/data" -A trust -U postgres --no-sync >/dev/null 2>&1 \
  || { echo "initdb failed"; exit 1; }
stub_ctl -w -o "-p $STUB_PORT -k $STUB_DIR -c listen_addresses=''" start >/dev/null \
  || { echo "cluster start failed"; cat "$STUB_DIR/pg.log"; exit 1; }

# pi.execute('raise SQLSTATE') raises that SQLSTATE; 'long SQLSTATE' with a
# message and hint far over 512 bytes of two- and three-byte characters
# (the 512th byte falls inside a character); 'ascii N' with N bytes of 'a'.
as_pg "$PI_PGBIN/psql" -X -q -h "$STUB_DIR" -p "$STUB_PORT" -d postgres -v ON_ERROR_STOP=1 <<'SQL' >/dev/null || exit 1
CREATE SCHEMA pi;
-- REST calls without a session run in the caller's default session
CREATE FUNCTION pi.default_session() RETURNS uuid LANGUAGE sql AS 'SELECT NULL::uuid';
CREATE FUNCTION pi.execute(code text, timeout integer, session uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  IF code LIKE 'raise %' THEN
    RAISE EXCEPTION 'stub error %', split_part(code, ' ', 2)
      USING ERRCODE = split_part(code, ' ', 2), HINT = 'Stub hint.';
  ELSIF code LIKE 'long %' THEN
    RAISE EXCEPTION '%', repeat('é', 250) || repeat('€', 100)
      USING ERRCODE = split_part(code, ' ', 2), HINT = repeat('ß', 100);
  ELSIF code LIKE 'ascii %' THEN
    RAISE EXCEPTION '%', repeat('a', split_part(code, ' ', 2)::int)
      USING ERRCODE = '22023';
  END IF;
  RETURN jsonb_build_object('status', 'completed', 'stdout', code);
END $$;
SQL

KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
GWPORT=$(pi_free_port)
U=http://127.0.0.1:$GWPORT
PORT=$GWPORT API_KEY=$KEY DATABASE_URL="host=$STUB_DIR port=$STUB_PORT dbname=postgres user=postgres" \
  "$GW" >"$STUB_DIR/gateway.log" 2>&1 &
GW_PID=$!
wait_until 10 pi_pid_listens "$GW_PID" "$GWPORT" || { echo "gateway did not start:"; cat "$STUB_DIR/gateway.log"; exit 1; }

# run CODE: POST /api/execute; sets STATUS, BODY, RETRY (Retry-After)
run() {
  STATUS=$(curl -s -D "$STUB_DIR/hdr" -o "$STUB_DIR/body" -w '%{http_code}' \
    -H "X-API-Key: $KEY" "$U/api/execute" -d "{\"code\":\"$1\"}")
  BODY=$(cat "$STUB_DIR/body")
  RETRY=$(grep -i '^retry-after:' "$STUB_DIR/hdr" | cut -d' ' -f2 | tr -d '\r')
}
field() { python3 -c "import sys,json; print(json.load(sys.stdin)['error'][sys.argv[1]])" "$1" <<<"$BODY" 2>/dev/null; }

echo "# SQLSTATE -> HTTP (stub pi.execute)"
run "print(1)"
check "the stub answers" '[ "$STATUS" = 200 ]'
# SQLSTATE  status  code  Retry-After
while read -r state status code retry; do
  run "raise $state"
  check "SQLSTATE $state: $status $code${retry:+ with Retry-After}" \
    '[ "$STATUS" = "$status" ] && [ "$(field code)" = "$code" ] && [ "$(field sqlstate)" = "$state" ] && [ "${RETRY:-}" = "$retry" ] && [[ "$(field message)" == *"(SQLSTATE $state)" ]]'
done <<'TABLE'
58000 503 executor_unavailable 1
53000 503 executor_busy 1
53300 503 insufficient_resources 1
53400 429 tenant_limit 1
53100 507 storage_limit
57P01 503 database_unavailable 1
57P03 503 database_unavailable 1
57000 503 database_unavailable 1
57P04 503 database_unavailable 1
54000 422 limit_exceeded
54001 422 limit_exceeded
54011 422 limit_exceeded
54023 422 limit_exceeded
72000 503 conflict 1
21000 400 invalid_request
3F000 400 invalid_request
44000 400 invalid_request
25006 400 invalid_request
2201B 400 invalid_request
22003 400 invalid_request
42501 400 invalid_request
08006 503 database_unavailable 1
55000 503 database_unavailable 1
40001 503 conflict 1
57014 504 timeout
42704 404 not_found
58P01 404 not_found
22023 400 invalid_request
42601 400 invalid_request
XX000 500 internal_error
P0001 500 internal_error
TABLE

run "raise 54011"
check "program limit (54011): PostgreSQL's message and hint are passed through" \
  '[[ "$(field message)" == "stub error 54011. Stub hint. (SQLSTATE 54011)" ]] && [ "$(field hint)" = "Stub hint." ]'
# every status the stub answered is one the OpenAPI document lists for the route
curl -s "$U/openapi.json" >"$STUB_DIR/openapi.json"
check "the OpenAPI document lists 422 for POST /api/execute, with the SQLSTATE class" \
  'python3 -c "import json,sys; r=json.load(open(sys.argv[1]))[\"paths\"][\"/api/execute\"][\"post\"][\"responses\"]; assert \"54\" in r[\"422\"][\"description\"]" "$STUB_DIR/openapi.json"'

echo "# error texts longer than the gateway's buffer"
for state in 22023 58000 XX000; do
  run "long $state"
  check "a ${state} error of 1000 bytes: valid JSON, cut between characters, SQLSTATE kept" \
    'python3 -c "import json,sys; m=json.loads(sys.stdin.buffer.read().decode(\"utf-8\"))[\"error\"][\"message\"]; assert len(m.encode())<=511 and m.endswith(\" (SQLSTATE $state)\") and \"\ufffd\" not in m" <<<"$BODY"'
done
for n in 494 495 496 511 512; do
  run "ascii $n"
  check "an error of $n ASCII bytes: at most 511 bytes, SQLSTATE kept" \
    'python3 -c "import json,sys; m=json.loads(sys.stdin.read())[\"error\"][\"message\"]; assert len(m)<=511 and m.endswith(\" (SQLSTATE 22023)\")" <<<"$BODY"'
done
check "the gateway is still running" kill -0 "$GW_PID"
summary
