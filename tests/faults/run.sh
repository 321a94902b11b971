#!/usr/bin/env bash
# tests/faults/run.sh: kill -9 of each of the executor's processes in turn
# (a forker, a kernel, the zygote, another kernel, the loop), ~12 s apart,
# under twice its configured load (the clients of tests/load), ~80 s.
#
# It fails on:
#   - a run that does not complete again within 20 s of a kill;
#   - processes of a killed executor, zygote or forker that live on (a
#     kernel must die with its forker, a forker with its zygote, the
#     zygote with the loop);
#   - an answer that is not a completed run (with its right output), a
#     clean busy one, or one of the two that say what happened: the
#     executor stopped during the run, SQLSTATE 58000 "run the code
#     again" (a zygote, forker or loop was killed: everything restarts),
#     or "failed" with KilledBySignal (the run whose own kernel was
#     killed); a session whose kernel went says state_reset and counts as
#     completed; a job that never ends is a failure;
#   - leftovers once it is over: more kernels than pool + sessions, run
#     cgroups of kernels that are gone, temporary workspaces, executors
#     that are not the launcher's current one.
# Timed only by the kill schedule; it asserts no latency.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib/cluster.sh"
. "$ROOT/tests/lib/load_clients.sh"
MAX_SYNC=4
MAX_JOBS=2
MAX_SESSIONS=4
PREFORK=2		# the executor's default: min(2, max_sync)
SYNC_CLIENTS=$((2 * MAX_SYNC))
JOB_CLIENTS=$((2 * MAX_JOBS))
SESSION_CLIENTS=3
VICTIMS="forker kernel zygote kernel executor"
GAP=12
NVICTIMS=$(wc -w <<< "$VICTIMS")
LOAD_SECONDS=$(( (NVICTIMS + 1) * GAP ))
ALLOWED_KINDS="sqlstate:58000 failed:KilledBySignal"

pi_cluster_start "pi.max_sync_executions = $MAX_SYNC" \
	"pi.max_concurrent_jobs = $MAX_JOBS" "pi.max_sessions = $MAX_SESSIONS" \
	"max_connections = 60" || { echo "0 passed, 1 failed"; exit 1; }
pi_psql < "$ROOT/tests/lib/load_procedures.sql" >/dev/null ||
	{ echo "# the load procedures did not load"; echo "0 passed, 1 failed"; exit 1; }
WS_ROOT=$(pi_sql "SELECT setting FROM pg_settings WHERE name = 'pi.workspace_root'")
[ -n "$WS_ROOT" ] || WS_ROOT=$PI_TEST_DATA/pi_workspaces

# the executor's processes by kind, from the launcher down (this cluster's only)
zygote_pid() { pi_children "$(pi_executor_pid)" | head -n 1; }
forker_pids() { local z; z=$(zygote_pid) && [ -n "$z" ] && pi_children "$z"; }
victim_pid() {
	case $1 in
		executor) pi_executor_pid ;;
		zygote) zygote_pid ;;
		forker) forker_pids | head -n 1 ;;
		kernel) pi_kernel_pids | shuf -n 1 ;;
	esac
}
# every process of the executor's tree now: loop, zygote, forkers, kernels
executor_tree() {
	local e z f
	e=$(pi_executor_pid) || return 0
	echo "$e"
	for z in $(pi_children "$e"); do
		echo "$z"
		for f in $(pi_children "$z"); do echo "$f"; pi_children "$f"; done
	done
}
all_gone() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }

OUT=$PI_TEST_DIR/faults
load_clients_start "$OUT" "$LOAD_SECONDS" "$SYNC_CLIENTS" "$JOB_CLIENTS" "$SESSION_CLIENTS"
# every kernel seen, for the leftover cgroups check
SEEN=$OUT/kernels-seen
( while [ -d "$OUT" ]; do pi_kernel_pids 2>/dev/null; sleep 0.5; done ) > "$SEEN" &
SAMPLER=$!

START=$(date +%s)
n=0
for v in $VICTIMS; do
	n=$((n + 1))
	sleep $(( START + n * GAP - $(date +%s) > 0 ? START + n * GAP - $(date +%s) : 0 ))
	pid=$(victim_pid "$v")
	if [ -z "$pid" ]; then
		fail "found a $v to kill"
		continue
	fi
	# what must die with it: a forker's kernels, everything under the zygote or the loop
	case $v in
		executor) doomed=$(executor_tree) ;;
		zygote) doomed=$(executor_tree | grep -vx "$(pi_executor_pid)") ;;
		forker) doomed="$pid $(pi_children "$pid")" ;;
		*) doomed=$pid ;;
	esac
	kill -9 "$pid"
	echo "# $(( $(date +%s) - START )) s: kill -9 of the $v ($pid)"
	check "after kill -9 of the $v, a run completes again within 20 s" wait_until 20 _pi_ready
	check "... and what had to die with the $v is gone" wait_until 10 all_gone $doomed
done
wait "${LOAD_CLIENT_PIDS[@]}"

load_clients_tally "$OUT"
ok=$LOAD_OK; busy=$LOAD_BUSY; bad=$LOAD_BAD; missing=$LOAD_MISSING; kinds_seen=$LOAD_KINDS
echo "# $((SYNC_CLIENTS + JOB_CLIENTS + SESSION_CLIENTS)) clients for $LOAD_SECONDS s: $ok completed, $busy busy, $bad other answers"
unexpected=""
for k in $kinds_seen; do
	[[ " $ALLOWED_KINDS " == *" $k "* ]] || unexpected="$unexpected $k"
done
check "every client reported its counts" "[ $missing = 0 ]"
check "runs completed through the kills ($ok)" "[ $ok -gt $((SYNC_CLIENTS * 5)) ]"
check "every other answer said the executor or the run's kernel stopped (${unexpected:-none else})" "[ -z \"$unexpected\" ]"

# after it: the launcher's executor only, back to pool + sessions
kill "$SAMPLER" 2>/dev/null
check "no executor of this cluster but the launcher's current one" '[ -z "$(pi_stray_executors)" ]'
settled() { [ "$(pi_kernel_pids | wc -l)" -le $((PREFORK + MAX_SESSIONS)) ]; }
check "kernels back to pool + live sessions within 15 s" wait_until 15 settled
sleep 6		# cgroups of reaped kernels go within ~5 s
STALE=$(pi_stale_run_cgroups "$SEEN")
check "no run cgroup of a gone kernel is left" "[ -z \"$STALE\" ]" || echo "$STALE" | head -5 | sed 's/^/#   /'
RUNS=$(as_pg sh -c "ls '$WS_ROOT/.runs' 2>/dev/null | wc -l")
check "temporary workspaces only for live pool kernels ($RUNS <= $PREFORK)" "[ ${RUNS:-0} -le $PREFORK ]"
check "the executor never ran out of descriptors" "! grep -q 'Too many open files' '$PI_TEST_LOG'"

summary
