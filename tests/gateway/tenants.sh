# tests/gateway/tenants.sh: sourced by run.sh.  A gateway that logs in as a
# non-superuser role (pi_gateway, as `make run` sets it up) serves two
# tenant keys and the default tenant's API_KEY; each tenant's calls on the
# other's session and job get 404, and the gateway's role reads no secrets.
pi_psql >/dev/null <<'SQL'
CREATE ROLE pi_gateway LOGIN;
CREATE ROLE pi_default_tenant NOLOGIN IN ROLE pi_user;
CREATE ROLE gw_t1 NOLOGIN IN ROLE pi_user;
CREATE ROLE gw_t2 NOLOGIN IN ROLE pi_user;
GRANT pi_authenticator, pi_default_tenant, gw_t1, gw_t2 TO pi_gateway;
SQL
K1=$(pi_sql "SELECT pi.create_api_key('gw_t1', 'test')")
K2=$(pi_sql "SELECT pi.create_api_key('gw_t2', 'test')")
pi_gateway_start "$PI_TEST_DIR/gw-tenants.log" env \
  DATABASE_URL="host=$PI_TEST_DIR port=$PI_TEST_PORT dbname=$PI_TEST_DB user=pi_gateway" \
  PI_DEFAULT_TENANT=pi_default_tenant API_KEY="$KEY" "$GW" \
  || { echo "# the tenants' gateway did not start:"; tail -n 5 "$PI_TEST_DIR/gw-tenants.log"; }
GWPIDS+=("$PI_GW_PID")
T=http://127.0.0.1:$PI_GW_PORT
treq() {   # treq KEY METHOD PATH [curl args...]: sets STATUS and BODY
  local k=$1 m=$2 p=$3; shift 3
  STATUS=$(curl -s -o "$PI_TEST_DIR/body" -w '%{http_code}' -X "$m" -H "X-API-Key: $k" "$@" "$T$p")
  BODY=$(cat "$PI_TEST_DIR/body")
}
treq "$K1" POST /api/sessions -d '{}'; S1=$(jq_ 'd["session_id"]')
check "tenant 1 creates a session" '[ "$STATUS" = 200 ] && [ -n "$S1" ]'
treq "$K1" POST /api/execute -d "{\"code\":\"secret = 7; print(secret)\",\"session_id\":\"$S1\"}"
check "tenant 1 runs code in it" '[ "$STATUS" = 200 ] && [ "$(jq_ "d[\"stdout\"]")" = 7 ]'
treq "$K1" POST /api/jobs/submit -d '{"code":"print(1)"}'; J1=$(jq_ 'd["job_id"]')
check "tenant 1 submits a job" '[ "$STATUS" = 200 ] && [ -n "$J1" ]'
treq "$K2" POST /api/execute -d "{\"code\":\"print(secret)\",\"session_id\":\"$S1\"}"
check "tenant 2 runs code in tenant 1's session: 404" '[ "$STATUS" = 404 ]'
treq "$K2" GET "/api/jobs/$J1/status"
check "tenant 2 reads tenant 1's job status: 404" '[ "$STATUS" = 404 ]'
treq "$K2" GET "/api/jobs/$J1/result"
check "tenant 2 reads tenant 1's job result: 404" '[ "$STATUS" = 404 ]'
treq "$K2" POST "/api/jobs/$J1/cancel"
check "tenant 2 cancels tenant 1's job: 404" '[ "$STATUS" = 404 ]'
treq "$K2" GET "/api/files?session_id=$S1"
check "tenant 2 lists tenant 1's files: 404" '[ "$STATUS" = 404 ]'
treq "$K2" GET "/api/files/download?session_id=$S1&path=x.txt"
check "tenant 2 downloads from tenant 1's session: 404" '[ "$STATUS" = 404 ]'
treq "$KEY" GET "/api/jobs/$J1/status"
check "the default tenant (API_KEY) does not see tenant 1's job: 404" '[ "$STATUS" = 404 ]'
treq "$K1" GET "/api/jobs/$J1/status"
check "tenant 1 still sees its job" '[ "$STATUS" = 200 ]'
treq "$KEY" POST /api/execute -d '{"code":"print(2)"}'
check "the default tenant (API_KEY) runs code" '[ "$STATUS" = 200 ]'
treq "x$K1" GET /api/data/datasets
check "an unknown key: 401" '[ "$STATUS" = 401 ]'
OWNERS=$(pi_sql "SELECT string_agg(DISTINCT submitted_by, ',' ORDER BY submitted_by) FROM pi.jobs WHERE submitted_by IN ('gw_t1', 'pi_default_tenant')")
check "jobs are recorded as their tenants'" '[ "$OWNERS" = gw_t1,pi_default_tenant ]'
check "key use is counted" '[ "$(pi_sql "SELECT use_count > 0 FROM pi.api_keys WHERE role = \$\$gw_t1\$\$")" = t ]'
# an MCP session answers only the tenant whose key opened it
MINIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
MSID1=$(curl -s -D - -o /dev/null -X POST -H "X-API-Key: $K1" -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' -d "$MINIT" "$T/mcp" | tr -d '\r' | awk -F': ' 'tolower($1) == "mcp-session-id" {print $2}')
MLIST='{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
mcp_as() { curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-API-Key: $1" -H "Mcp-Session-Id: $MSID1" \
  -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d "$MLIST" "$T/mcp"; }
check "tenant 1 opens an MCP session" '[ ${#MSID1} = 32 ]'
check "tenant 1 uses its MCP session" '[ "$(mcp_as "$K1")" = 200 ]'
check "tenant 2 uses tenant 1's MCP session id: 404" '[ "$(mcp_as "$K2")" = 404 ]'
check "the default tenant uses it: 404" '[ "$(mcp_as "$KEY")" = 404 ]'
mcp_end_as() { curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "X-API-Key: $1" -H "Mcp-Session-Id: $MSID1" "$T/mcp"; }
check "tenant 2 ends tenant 1's MCP session: 404" '[ "$(mcp_end_as "$K2")" = 404 ]'
check "... and tenant 1's session still answers" '[ "$(mcp_as "$K1")" = 200 ]'
gw_sql() { as_pg "$PI_PGBIN/psql" -X -A -t -q -h "$PI_TEST_DIR" -p "$PI_TEST_PORT" -U pi_gateway -d "$PI_TEST_DB" -c "$1" 2>&1; }
check "the gateway's role cannot read pi.api_keys" '[[ "$(gw_sql "SELECT * FROM pi.api_keys")" == *"permission denied"* ]]'
check "the gateway's role cannot read pg_authid" '[[ "$(gw_sql "SELECT rolpassword FROM pg_authid")" == *"permission denied"* ]]'
check "the gateway's role cannot read pi.jobs" '[[ "$(gw_sql "SELECT code FROM pi.jobs")" == *"permission denied"* ]]'
. "$ROOT/tests/gateway/metrics_check.sh"
treq "$K1" GET /metrics
check "... yet its /metrics has the job figures (pi.job_counts), well-formed" \
  '[ "$STATUS" = 200 ] && [[ "$BODY" == *"pi_jobs_queued{kind=\"async\"} "* ]] && [[ "$BODY" == *"pi_jobs_running{kind=\"load_csv\"} "* ]] && [[ "$BODY" != *"unavailable"* ]] && metrics_wellformed <<<"$BODY"'

echo "# per-tenant limits (docs/tenants.md): tenant 1 reaches each, tenant 2 is not affected"
pi_sql "SELECT pi.set_tenant_limit('gw_t1', 'max_sync_runs', 1), pi.set_tenant_limit('gw_t1', 'max_jobs', 1),
        pi.set_tenant_limit('gw_t1', 'workspace_mb', 1)" >/dev/null
sync_in_use() { [ "$(pi_sql "SELECT in_use FROM pi.show_tenant_limits('gw_t1') WHERE limit_name = 'max_sync_runs'")" = "$1" ]; }
# two runs of tenant 1 sent at once: one runs, the other is refused
RACE=()
for i in 1 2; do
  curl -s -o "$PI_TEST_DIR/race$i" -D "$PI_TEST_DIR/race$i.h" -w '%{http_code}' -H "X-API-Key: $K1" \
    "$T/api/execute" -d '{"code":"import time; time.sleep(15); print(\"ran\")","timeout":60}' >"$PI_TEST_DIR/race$i.s" &
  RACE+=($!)
done
wait_until 30 sync_in_use 1
treq "$K1" POST /api/execute -d '{"code":"print(1)","timeout":10}'
check "tenant 1 at max_sync_runs: 429 tenant_limit naming the limit" \
  '[ "$STATUS" = 429 ] && [ "$(jq_ "d[\"error\"][\"code\"]")" = tenant_limit ] && [[ "$BODY" == *max_sync_runs* ]] && [[ "$BODY" == *pi.set_tenant_limit* ]]'
RA=$(curl -s -D - -o /dev/null -H "X-API-Key: $K1" "$T/api/execute" -d '{"code":"print(1)","timeout":10}' | tr -d '\r' | awk -F': ' 'tolower($1) == "retry-after" {print $2}')
check "... with Retry-After" '[ -n "$RA" ]'
MCALL='{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"execute_code","arguments":{"code":"print(1)","timeout":10}}}'
MBODY=$(curl -s -X POST -H "X-API-Key: $K1" -H "Mcp-Session-Id: $MSID1" -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' -d "$MCALL" "$T/mcp")
check "tenant 1's MCP execute_code at the limit: an error naming tenant_limit" \
  '[[ "$MBODY" == *isError* ]] && [[ "$MBODY" == *tenant_limit* ]] && [[ "$MBODY" == *max_sync_runs* ]]'
treq "$K2" POST /api/execute -d '{"code":"print(\"t2\")","timeout":30}'
check "tenant 2 runs meanwhile" '[ "$STATUS" = 200 ] && [ "$(jq_ "d[\"stdout\"]")" = t2 ]'
treq "$KEY" POST /api/execute -d '{"code":"print(\"default\")","timeout":30}'
check "the default tenant runs meanwhile" '[ "$STATUS" = 200 ]'
wait "${RACE[@]}"
RS=$(for i in 1 2; do cat "$PI_TEST_DIR/race$i.s"; echo; done | sort | tr '\n' ' ')
check "of the two racing runs one ran and one got 429 ($RS)" '[ "$RS" = "200 429 " ]'
wait_until 30 sync_in_use 0
check "the slot is free again" sync_in_use 0
# jobs
treq "$K1" POST /api/jobs/submit -d '{"code":"import time; time.sleep(60)","timeout":90}'; JL=$(jq_ 'd["job_id"]')
check "tenant 1 submits a job" '[ "$STATUS" = 200 ] && [ -n "$JL" ]'
treq "$K1" POST /api/jobs/submit -d '{"code":"print(1)"}'
check "tenant 1 at max_jobs: 429 naming the limit" '[ "$STATUS" = 429 ] && [[ "$BODY" == *max_jobs* ]]'
treq "$K2" POST /api/jobs/submit -d '{"code":"print(1)"}'
check "tenant 2 submits meanwhile" '[ "$STATUS" = 200 ]'
treq "$K1" POST "/api/jobs/$JL/cancel"
# workspace storage
head -c 1500000 /dev/zero >"$PI_TEST_DIR/w.bin"
treq "$K1" POST "/api/files/upload?session_id=$S1&path=w.bin" --data-binary @"$PI_TEST_DIR/w.bin"
check "tenant 1 over workspace_mb: 507 storage_limit naming the limit" \
  '[ "$STATUS" = 507 ] && [ "$(jq_ "d[\"error\"][\"code\"]")" = storage_limit ] && [[ "$BODY" == *workspace_mb* ]]'
treq "$K2" POST /api/sessions -d '{}'; S2=$(jq_ 'd["session_id"]')
treq "$K2" POST "/api/files/upload?session_id=$S2&path=w.bin" --data-binary @"$PI_TEST_DIR/w.bin"
check "tenant 2 uploads the same file" '[ "$STATUS" = 200 ]'
# the administrator's path: raising the limit lets tenant 1 through
pi_sql "SELECT pi.set_tenant_limit('gw_t1', 'workspace_mb', NULL)" >/dev/null
treq "$K1" POST "/api/files/upload?session_id=$S1&path=w.bin" --data-binary @"$PI_TEST_DIR/w.bin"
check "after the administrator lifts it, tenant 1 uploads" '[ "$STATUS" = 200 ]'
check "the gateway's role cannot set limits" '[[ "$(gw_sql "SELECT pi.set_tenant_limit('"'"'gw_t1'"'"', '"'"'max_jobs'"'"', 100)")" == *"permission denied"* ]]'
check "... nor write pi.tenant_limits" '[[ "$(gw_sql "UPDATE pi.tenant_limits SET max_jobs = 100")" == *"permission denied"* ]]'
pi_sql "DELETE FROM pi.tenant_limits" >/dev/null
