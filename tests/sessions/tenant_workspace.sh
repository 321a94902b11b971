# tests/sessions/tenant_workspace.sh (sourced by run.sh, on its cluster,
# after tenant_limit.sh): the tenant limit workspace_mb when the tally of
# extension/workspace_tally.c cannot know: after a crash restart (shared
# memory starts empty) the tenant's files from before still count, and a
# file put into a workspace by hand counts once pi.tenant_workspace_recount_s
# has passed.

echo "# the tenant limit workspace_mb after a restart, and files put in by hand"
pi_sql "CREATE ROLE ws_t IN ROLE pi_user" >/dev/null
pi_sql "SELECT pi.set_tenant_limit('ws_t', 'workspace_mb', 1)" >/dev/null
# twrite SID PATH BYTES: pi.write_file as ws_t; its output or its error
twrite() {
  pi_psql -c "SET ROLE ws_t" \
    -c "SELECT pi.write_file('$1', '$2', convert_to(repeat('x', $3), 'UTF8')) ->> 'size'" 2>&1
}
W1=$(tsql ws_t "SELECT pi.create_session('w1')")
W2=$(tsql ws_t "SELECT pi.create_session('w2')")
r=$(twrite "$W1" a.bin 700000)
check "a tenant allowed 1 MB writes 700000 bytes" '[ "$r" = 700000 ]' || echo "# $r"

pi_cluster_restart          # immediate: as after a crash
pi_wait_ready 90
r=$(twrite "$W2" b.bin 400000)
check "after a restart, 400000 more bytes in another session are refused" \
  '[[ "$r" == *"over its limit workspace_mb (1 MB)"* ]]' || echo "# $r"
r=$(twrite "$W2" b.bin 300000)
check "and 300000 fit" '[ "$r" = 300000 ]' || echo "# $r"

echo "pi.tenant_workspace_recount_s = 1" | as_pg tee -a "$PI_TEST_DATA/postgresql.conf" >/dev/null
pi_sql "SELECT pg_reload_conf()" >/dev/null
WS2=$(pi_sql "SELECT workspace FROM pi.sessions WHERE id = '$W2'")
as_pg dd if=/dev/zero of="$WS2/by_hand.bin" bs=1000 count=60 status=none
sleep 2
r=$(twrite "$W1" c.bin 10000)
check "a file put in by hand counts after pi.tenant_workspace_recount_s" \
  '[[ "$r" == *"over its limit workspace_mb (1 MB)"* ]]' || echo "# $r"
r=$(tsql ws_t "SELECT in_use FROM pi.show_tenant_limits() WHERE limit_name = 'workspace_mb'")
check "pi.show_tenant_limits counts it too" '[ "$r" = 2 ]' || echo "# $r"

for s in "$W1" "$W2"; do pi_sql "SELECT pi.close_session('$s')" >/dev/null; done
