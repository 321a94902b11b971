#!/usr/bin/env bash
# tests/load/run.sh: the executor under twice its configured load, ~40 s.
#
# Clients, all at once: 2 x pi.max_sync_executions sync runs back to back,
# 2 x pi.max_concurrent_jobs job submitters (submit, wait, check), and
# session clients (state kept across calls).  It fails on:
#   - any answer that is not a completed run or a clean busy one (SQLSTATE
#     53000 or status "busy"): the result's status is checked, not only
#     that the call returned;
#   - live kernels above pool + sessions + slots at any sample;
#   - the executor's descriptors or memory growing, or not returning to
#     their idle level afterwards;
#   - leftovers once it is over: kernels, run cgroups, temporary workspaces.
# Timed only by LOAD_SECONDS; it asserts no latency (bench/ measures those).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib/cluster.sh"
. "$ROOT/tests/lib/load_clients.sh"

LOAD_SECONDS=${LOAD_SECONDS:-40}
MAX_SYNC=4
MAX_JOBS=2
MAX_SESSIONS=4
PREFORK=2		# the executor's default: min(2, max_sync)
SYNC_CLIENTS=$((2 * MAX_SYNC))
JOB_CLIENTS=$((2 * MAX_JOBS))
SESSION_CLIENTS=3

pi_cluster_start "pi.max_sync_executions = $MAX_SYNC" \
	"pi.max_concurrent_jobs = $MAX_JOBS" "pi.max_sessions = $MAX_SESSIONS" \
	"max_connections = 60" || { echo "0 passed, 1 failed"; exit 1; }

# this cluster's executor: postmaster -> pi launcher -> pi-executor (the loop)
PM=$(head -n 1 "$PI_TEST_DATA/postmaster.pid")
EXEC=
for l in $(pgrep -P "$PM"); do
	for e in $(pgrep -P "$l" -x pi-executor); do EXEC=$e; done
done
[ -n "$EXEC" ] || { echo "# no pi-executor under postmaster $PM"; echo "0 passed, 1 failed"; exit 1; }
kernels() {
	local z f
	for z in $(pgrep -P "$EXEC"); do
		for f in $(pgrep -P "$z"); do pgrep -P "$f"; done
	done
}
nkernels() { kernels | wc -l; }
nfds() { ls "/proc/$EXEC/fd" 2>/dev/null | wc -l; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$EXEC/status"; }
WS_ROOT=$(pi_sql "SELECT setting FROM pg_settings WHERE name = 'pi.workspace_root'")
[ -n "$WS_ROOT" ] || WS_ROOT=$PI_TEST_DATA/pi_workspaces
ROOT_DIR=$(as_pg readlink -f "/proc/$EXEC/cwd")

pi_psql < "$ROOT/tests/lib/load_procedures.sql" >/dev/null || { echo "# the load procedures did not load"; echo "0 passed, 1 failed"; exit 1; }

sleep 2
K0=$(nkernels); FD0=$(nfds); RSS0=$(rss_kb)
echo "# idle: $K0 kernels, $FD0 descriptors, loop RSS $RSS0 kB"

OUT=$PI_TEST_DIR/load
load_clients_start "$OUT" "$LOAD_SECONDS" "$SYNC_CLIENTS" "$JOB_CLIENTS" "$SESSION_CLIENTS"

KMAX=0; FDMAX=0; RSSMAX=0
SEEN=$OUT/kernels-seen
for _ in $(seq 1 "$LOAD_SECONDS"); do
	sleep 1
	kernels >> "$SEEN"
	k=$(nkernels); f=$(nfds); r=$(rss_kb)
	[ "$k" -gt "$KMAX" ] && KMAX=$k
	[ "$f" -gt "$FDMAX" ] && FDMAX=$f
	[ "${r:-0}" -gt "$RSSMAX" ] && RSSMAX=$r
done
wait "${LOAD_CLIENT_PIDS[@]}"

load_clients_tally "$OUT"
ok=$LOAD_OK; busy=$LOAD_BUSY; bad=$LOAD_BAD; missing=$LOAD_MISSING
echo "# $((SYNC_CLIENTS + JOB_CLIENTS + SESSION_CLIENTS)) clients for ${LOAD_SECONDS} s: $ok completed, $busy busy, $bad other answers"
echo "# peak: $KMAX kernels, $FDMAX descriptors, loop RSS $RSSMAX kB"

# after the load: back to idle within 15 s
KLIMIT=$((PREFORK + MAX_SESSIONS))
settled() { [ "$(nkernels)" -le "$KLIMIT" ] && [ "$(nfds)" -le $((FD0 + 4 * MAX_SESSIONS + 8)) ]; }
wait_until 15 settled
sleep 6		# cgroups of reaped kernels go within ~5 s
K1=$(nkernels); FD1=$(nfds); RSS1=$(rss_kb)
echo "# after: $K1 kernels, $FD1 descriptors, loop RSS $RSS1 kB"

check "every client reported its counts" "[ $missing = 0 ]"
check "runs completed under load ($ok)" "[ $ok -gt $((SYNC_CLIENTS * 5)) ]"
check "no answer other than completed or busy ($bad)" "[ $bad = 0 ]"
KBOUND=$((PREFORK + MAX_SESSIONS + MAX_SYNC + MAX_JOBS))
check "live kernels stayed within pool + sessions + slots (peak $KMAX <= $KBOUND)" "[ $KMAX -le $KBOUND ]"
check "the executor's descriptors stayed bounded (peak $FDMAX)" "[ $FDMAX -le $((4 * KBOUND + 2 * (SYNC_CLIENTS + JOB_CLIENTS + SESSION_CLIENTS) + 64)) ]"
check "the executor's memory stayed bounded (peak +$(( (RSSMAX - RSS0) / 1024 )) MB)" "[ $((RSSMAX - RSS0)) -lt 65536 ]"
check "kernels back to pool + live sessions after the load ($K1 <= $KLIMIT)" "[ $K1 -le $KLIMIT ]"
check "descriptors back near idle ($FD1 vs $FD0)" "[ $FD1 -le $((FD0 + 4 * MAX_SESSIONS + 8)) ]"

# leftovers: run cgroups of this executor's kernels that are gone (other
# instances on the machine have their own), temporary workspaces of
# kernels that are gone
STALE=$(pi_stale_run_cgroups "$SEEN")
check "no run cgroup of a gone kernel is left" "[ -z \"$STALE\" ]" || echo "$STALE" | head -5 | sed 's/^/#   /'
RUNS=$(as_pg sh -c "ls '$ROOT_DIR/.runs' 2>/dev/null | wc -l" 2>/dev/null || echo 0)
[ -d "$ROOT_DIR/.runs" ] || RUNS=$(as_pg sh -c "ls '$WS_ROOT/.runs' 2>/dev/null | wc -l")
check "temporary workspaces only for live pool kernels ($RUNS <= $PREFORK)" "[ ${RUNS:-0} -le $PREFORK ]"
check "the executor is the same process (no restart under load)" "[ \"\$(pgrep -x pi-executor | grep -cx $EXEC)\" = 1 ]"

summary
