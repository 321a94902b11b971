# tests/sessions/tenant_limit.sh (sourced by run.sh, on its cluster): the
# tenant limit max_sessions.  A tenant allowed 1 live kernel loses its
# first session's state when it opens a second, through pi.execute and
# pi.submit_job alike, and the notice names the limit; a tenant at the
# default keeps 3 sessions alive; an administrator's change holds from the
# tenant's next run, with the executor still the same process.

echo "# the tenant limit max_sessions (pi.max_sessions = 6 for this part)"
# the rest of run.sh needs pi.max_sessions = 2; here the server must hold
# both tenants' kernels, so that only the tenant limit evicts
echo "pi.max_sessions = 6" | as_pg tee -a "$PI_TEST_DATA/postgresql.conf" >/dev/null
pi_cluster_restart fast
pi_wait_ready 90
pi_sql "CREATE ROLE sl_t1 IN ROLE pi_user; CREATE ROLE sl_t2 IN ROLE pi_user" >/dev/null

# tsql ROLE SQL: one query as the tenant ROLE
tsql() { pi_psql -c "SET ROLE $1" -c "$2"; }
# tex ROLE SID CODE: pi.execute in session SID as ROLE
tex() { tsql "$1" "SELECT pi.execute(\$c\$$3\$c\$, 30, '$2')"; }
in_use() { tsql "$1" "SELECT in_use FROM pi.show_tenant_limits() WHERE limit_name = 'max_sessions'"; }

pi_sql "SELECT pi.set_tenant_limit('sl_t1', 'max_sessions', 1)" >/dev/null
A1=$(tsql sl_t1 "SELECT pi.create_session('a1')")
A2=$(tsql sl_t1 "SELECT pi.create_session('a2')")
A3=$(tsql sl_t1 "SELECT pi.create_session('a3')")
B1=$(tsql sl_t2 "SELECT pi.create_session('b1')")
B2=$(tsql sl_t2 "SELECT pi.create_session('b2')")
B3=$(tsql sl_t2 "SELECT pi.create_session('b3')")
EXEC0=$(pi_executor_pid)

tex sl_t2 "$B1" 'mine = "b1"' >/dev/null
tex sl_t2 "$B2" 'mine = "b2"' >/dev/null
tex sl_t1 "$A1" 'mine = "a1"' >/dev/null
r=$(tex sl_t1 "$A2" 'mine = "a2"')
check "a tenant at 1 live kernel starts its second session's kernel" rj '.status == "completed" and .session.kernel == "started"'
r=$(tex sl_t1 "$A1" '"mine" in globals()')
check "and its first session lost its state, the notice naming the limit and the fix" \
  rj '.result.json == false and .session.state_reset == true
      and (.session.notice | contains("at most 1 live kernels for this tenant: its limit max_sessions"))
      and (.session.notice | contains("pi.set_tenant_limit('"'"'sl_t1'"'"', '"'"'max_sessions'"'"', n)"))' \
  || echo "# $r" | head -c 600
check "pi.show_tenant_limits counts its 1 live kernel" '[ "$(in_use sl_t1)" = 1 ]'

tex sl_t2 "$B3" 'mine = "b3"' >/dev/null
r=$(tsql sl_t2 "SELECT jsonb_build_array(pi.execute('mine', 30, '$B1') -> 'result' -> 'json',
                                        pi.execute('mine', 30, '$B2') -> 'result' -> 'json',
                                        pi.execute('mine', 30, '$B3') -> 'result' -> 'json')")
check "a tenant at the default keeps its 3 sessions alive meanwhile" rj '. == ["b1", "b2", "b3"]' \
  || echo "# $r"
check "pi.show_tenant_limits counts its 3 live kernels" '[ "$(in_use sl_t2)" = 3 ]'

# a job in a session is held to the limit too (the job worker sends it)
JOB=$(tsql sl_t1 "SELECT pi.submit_job('mine = \"a3\"', 30, '$A3')")
wait_sql 60 "SELECT status FROM pi.jobs WHERE id = '$JOB'" completed
r=$(tex sl_t1 "$A1" '"mine" in globals()')
check "a job opening a session kernel evicts the tenant's other one too" \
  rj '.result.json == false and .session.state_reset == true and (.session.notice | contains("limit max_sessions"))'

# raised, the limit holds from the next run, with nothing restarted
tex sl_t1 "$A1" 'mine = "a1 again"' >/dev/null
pi_sql "SELECT pi.set_tenant_limit('sl_t1', 'max_sessions', 2)" >/dev/null
tex sl_t1 "$A2" 'mine = "a2 again"' >/dev/null
r=$(tex sl_t1 "$A1" 'mine')
check "raised to 2, the tenant's next session kernel leaves the other alive" \
  rj '.result.json == "a1 again" and .session.kernel == "reused" and .session.state_reset == false' \
  || echo "# $r" | head -c 600
check "pi.show_tenant_limits counts its 2 live kernels" '[ "$(in_use sl_t1)" = 2 ]'
check "the executor was not restarted" '[ -n "$EXEC0" ] && [ "$(pi_executor_pid)" = "$EXEC0" ]'
r=$(tex sl_t2 "$B1" 'mine')
check "the other tenant's sessions still hold their state" rj '.result.json == "b1" and .session.kernel == "reused"'

for s in "$A1" "$A2" "$A3" "$B1" "$B2" "$B3"; do pi_sql "SELECT pi.close_session('$s')" >/dev/null; done
