# tests/datasets/split.sh: a large load on two backends (the job's worker
# and a helper background worker, both filling a staging table in
# pi_staging), and what a crash or a cancel in each phase leaves: nothing
# (no staging table, no table, no dataset row, no helper; after a cancel,
# the worker lives on).  Sourced by run.sh after its large-load section
# (uses its cluster, SID, WS, load).

# nothing_left NAME: no staging table, no table or dataset row NAME, no helper
nothing_left() {
  [ "$(pi_sql "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = 'pi_staging')
                    + (SELECT count(*) FROM pg_tables WHERE tablename = '$1')
                    + (SELECT count(*) FROM pi.datasets WHERE name = '$1')
                    + (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pi load helper')")" = 0 ]
}
helper_pid() {
  pi_sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pi load helper' LIMIT 1" 2>/dev/null | grep .
}
staging_of() { echo "pi_staging.load_$(echo "$1" | tr -d -)"; }
job_status() { pi_sql "SELECT status FROM pi.jobs WHERE id = '$1'" 2>/dev/null; }
ended() { case "$(job_status "$1")" in completed|failed|cancelled|timeout) return 0 ;; esac; return 1; }

echo "# a large file is loaded by two backends, and analysed"
check "the large load used two backends" \
  "[ \"\$(pi_sql \"SELECT (r->>'load_cores') || '/' || (r->>'copy_path') FROM pi.jobs j, pi.job_result(j.id) r WHERE j.kind = 'load_csv' AND j.payload->>'dataset_name' = 'big' AND j.status = 'completed'\")\" = 2/direct ]"
check "the planner has statistics of every column and the row count when the job says completed" \
  "[ \"\$(pi_sql \"SELECT (SELECT count(*) FROM pg_stats WHERE schemaname = 'pi_data' AND tablename = 'big') || '/' || (SELECT reltuples::bigint FROM pg_class WHERE oid = 'pi_data.big'::regclass)\")\" = 3/1500000 ]"
check "the loaded table is in the tenant's schema, owned as before, readable by pi_reader, and no staging table is left" \
  "[ \"\$(pi_sql \"SELECT tableowner = (SELECT tableowner FROM pg_tables WHERE schemaname = 'pi_data' AND tablename = 'swap') AND has_table_privilege('pi_reader', 'pi_data.big', 'SELECT') FROM pg_tables WHERE schemaname = 'pi_data' AND tablename = 'big'\")\" = t ] &&
   nothing_left big_none"
ids_of_big() { pi_sql "SELECT count(DISTINCT id) || '/' || min(id) || '/' || max(id) FROM pi_data.big"; }
check "the split load's rows are the file's, first and last included" '[ "$(ids_of_big)" = 1500000/0/1499999 ]'

as_pg /usr/bin/python3 -c "
import random
r = random.Random(2)
with open('$WS/huge.csv', 'w') as f:
    f.write('id,v,t,d\n')
    for i in range(5000000):
        f.write('%d,%d.%02d,text number %d,2024-01-%02d\n' % (i, r.randrange(10**6), r.randrange(100), i, 1 + i % 28))
"

echo "# kill -9 of the helper, then of the job's worker, mid-load: the job fails after its retry, nothing is left"
job=$(pi_sql "SELECT pi.load_csv('huge.csv', 'crashed', '$SID')")
check "the helper starts" wait_until 120 helper_pid
hp=$(helper_pid); [ -n "$hp" ] && kill -9 "$hp"
attempt2_helper() {
  [ "$(pi_sql "SELECT attempts FROM pi.jobs WHERE id = '$job' AND status = 'running'" 2>/dev/null)" = 2 ] && helper_pid
}
check "after the server's restart the job runs again, with a helper" wait_until 180 attempt2_helper
wp=$(pi_sql "SELECT worker_pid FROM pi.jobs WHERE id = '$job'")
[ -n "$wp" ] && kill -9 "$wp"
check "killed twice, the job fails" "wait_until 180 ended $job && [ \"\$(job_status $job)\" = failed ]"
check "the crashes left no staging table, no table, no dataset row, no helper" \
  "wait_until 60 nothing_left crashed"
check "and the cluster loads again" \
  "wait_sql 60 \"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'pi worker'\" t"

echo "# an immediate restart of the server mid-load: the re-run loads the whole file, nothing else is left"
job=$(pi_sql "SELECT pi.load_csv('huge.csv', 'restarted', '$SID')")
check "the helper starts" wait_until 120 helper_pid
check "the server restarts (immediate)" pi_cluster_restart immediate
check "the re-run completes" "wait_until 240 ended $job && [ \"\$(job_status $job)\" = completed ]"
check "the re-run loaded every row once, and left no staging table and no helper" \
  "[ \"\$(pi_sql 'SELECT count(*) FROM pi_data.restarted')\" = 5000000 ] &&
   [ \"\$(pi_sql \"SELECT attempts FROM pi.jobs WHERE id = '$job'\")\" = 2 ] && wait_until 30 nothing_left none_such"

echo "# cancel during the analysis"
job=$(pi_sql "SELECT pi.load_csv('huge.csv', 'cancel_analysis', '$SID')")
analysing() { pi_sql "SELECT progress_message FROM pi.jobs WHERE id = '$job'" | grep -q '^analysing'; }
check "the analysis reports progress" wait_until 120 analysing
pi_sql "SELECT pi.cancel_job('$job')" >/dev/null
check "cancelled in the analysis: the job ends cancelled" "wait_until 30 ended $job && [ \"\$(job_status $job)\" = cancelled ]"
check "cancelled in the analysis: nothing is left" "wait_until 30 nothing_left cancel_analysis"

echo "# cancel during the load (both backends copying)"
job=$(pi_sql "SELECT pi.load_csv('huge.csv', 'cancel_load', '$SID')")
check "the helper starts" wait_until 120 helper_pid
answer=$(pi_sql "SELECT pi.cancel_job('$job')")
# a generous wait: one CI run saw this check fail within 30 s while the
# load was left undone; say what the job ended as, and when, if it fails
check "cancelled mid-load: the job ends cancelled" "wait_until 120 ended $job && [ \"\$(job_status $job)\" = cancelled ]" ||
  echo "#   cancel_job answered '$answer'; the job: $(pi_sql "SELECT status || ' ' || coalesce(finished_at - started_at, interval '0')::text || ' ' || coalesce(result::text, '') FROM pi.jobs WHERE id = '$job'" | cut -c1-300)"
check "cancelled mid-load: nothing is left" "wait_until 30 nothing_left cancel_load"

echo "# cancel at several points of a split load, the last as it swaps and commits: the answer holds"
# cancel_at JOB AT: wait (60 s at most) until the job's progress reaches AT,
# then cancel it; prints pi.cancel_job's answer.  Progress of a load: the
# analysis up to 0.5, COPY on two backends up to 0.95, the statistics from
# 0.96, the swap and the commit from 0.99 (tried three times: the narrowest).
pi_sql "CREATE PROCEDURE public.cancel_at(job uuid, at_progress float8, INOUT answer boolean DEFAULT NULL)
LANGUAGE plpgsql AS \$\$
DECLARE
  deadline timestamptz := clock_timestamp() + interval '60 s';
BEGIN
  WHILE clock_timestamp() < deadline
    AND coalesce((pi.job_status(job)->>'progress')::float8, 0) < at_progress
    AND (SELECT status FROM pi.jobs WHERE id = job) IN ('pending', 'running') LOOP
    PERFORM pg_sleep(0.002);
    COMMIT;
  END LOOP;
  answer := pi.cancel_job(job);
END \$\$" >/dev/null
outcomes=
for at in 0.7 0.9 0.96 0.99 0.99 0.99; do
  job=$(pi_sql "SELECT pi.load_csv('huge.csv', 'cancel_at', '$SID')")
  answer=$(pi_sql "CALL public.cancel_at('$job', $at)")
  # as generous as the mid-load check above: one CI run found a load
  # cancelled at 0.9 still running after 60 s; if it happens again, say
  # what the job and its backends were doing
  wait_until 120 ended "$job" ||
    echo "#   not ended after 120 s: $(pi_sql "SELECT j.status || ' cancel_requested=' || j.cancel_requested || ' ' || coalesce(pi.job_status(j.id)::text, '') FROM pi.jobs j WHERE j.id = '$job'" | cut -c1-300); backends: $(pi_sql "SELECT string_agg(pid || ' ' || coalesce(backend_type, '') || ' ' || coalesce(wait_event_type || ':' || wait_event, 'cpu') || ' ' || left(coalesce(query, ''), 60), ' | ') FROM pg_stat_activity WHERE backend_type NOT IN ('client backend', 'checkpointer', 'background writer', 'walwriter', 'autovacuum launcher', 'logical replication launcher')" | cut -c1-600)"
  outcome="$at:$answer/$(job_status "$job")"
  echo "# cancelled at progress $outcome"
  case "$outcome" in
    *:t/cancelled) wait_until 30 nothing_left cancel_at || outcome="$outcome(left)" ;;
    *:f/completed) pi_sql "SELECT pi.drop_dataset('cancel_at')" >/dev/null ;;
  esac
  outcomes="$outcomes $outcome"
done
pi_sql "DROP PROCEDURE public.cancel_at" >/dev/null
check "a cancel that answered true ended the load cancelled with nothing left, one that answered false found it completed" \
  "! echo '$outcomes' | tr ' ' '\n' | grep . | grep -qv ':t/cancelled$\|:f/completed$'"
check "a cancel in the middle of the two-backend COPY answered true" "echo '$outcomes' | grep -q '0.7:t/cancelled'"

echo "# cancel while the statistics are gathered (ANALYZE waits on a lock the test holds)"
job=$(pi_sql "SELECT pi.load_csv('huge.csv', 'cancel_stats', '$SID')")
check "the helper starts" wait_until 120 helper_pid
coproc LOCKER { as_pg "$PI_PGBIN/psql" -X -A -t -q -h "$PI_TEST_DIR" -p "$PI_TEST_PORT" -d "$PI_TEST_DB" 2>&1; }
echo "BEGIN; LOCK TABLE $(staging_of "$job") IN SHARE UPDATE EXCLUSIVE MODE; SELECT 'locked';" >&"${LOCKER[1]}"
read -r -t 60 locked <&"${LOCKER[0]}"
waits_for_analyze() {
  [ "$(pi_sql "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = '$(staging_of "$job")'::regclass AND mode = 'ShareUpdateExclusiveLock'")" = 1 ]
}
check "the load reaches its statistics and waits there" "[ \"$locked\" = locked ] && wait_until 120 waits_for_analyze"
pi_sql "SELECT pi.cancel_job('$job')" >/dev/null
check "cancelled while gathering statistics: the job ends cancelled while the lock is still held" \
  "wait_until 30 ended $job && [ \"\$(job_status $job)\" = cancelled ]"
echo "ROLLBACK;" >&"${LOCKER[1]}"
exec {LOCKER[1]}>&-
wait "$LOCKER_PID" 2>/dev/null
check "cancelled while gathering statistics: nothing is left" "wait_until 30 nothing_left cancel_stats"
# its clean-up met the lock: the worker must still answer interrupts after it
wpid=$(pi_sql "SELECT worker_pid FROM pi.jobs WHERE id = '$job'")
check "the worker that ran it still answers interrupts (pg_terminate_backend ends it)" \
  "[ -n '$wpid' ] && [ \"\$(pi_sql 'SELECT pg_terminate_backend($wpid, 20000)' 2>/dev/null)\" = t ]"
check "its replacement runs loads" \
  "wait_sql 60 \"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'pi worker'\" t"

echo "# cancel during the swap (the old table is held by a reader)"
load v1.csv cancel_swap
check "the first, small load of the dataset" "[ \"$LAST_STATUS\" = completed ]"
coproc READER2 { as_pg "$PI_PGBIN/psql" -X -A -t -q -h "$PI_TEST_DIR" -p "$PI_TEST_PORT" -d "$PI_TEST_DB" 2>&1; }
echo "BEGIN; SELECT 'r1', count(*) FROM pi_data.cancel_swap;" >&"${READER2[1]}"
read -r -t 60 first <&"${READER2[0]}"
job=$(pi_sql "SELECT pi.load_csv('huge.csv', 'cancel_swap', '$SID')")
waits_for_swap() {
  [ "$(pi_sql "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'pi_data.cancel_swap'::regclass AND mode = 'AccessExclusiveLock'")" = 1 ]
}
check "the load reaches its swap and waits for the reader" "[ \"$first\" = 'r1|2' ] && wait_until 180 waits_for_swap"
pi_sql "SELECT pi.cancel_job('$job')" >/dev/null
check "cancelled in the swap: the job ends cancelled while the reader still holds the table" \
  "wait_until 30 ended $job && [ \"\$(job_status $job)\" = cancelled ]"
echo "SELECT 'r2', count(*) FROM pi_data.cancel_swap; COMMIT;" >&"${READER2[1]}"
read -r -t 60 second <&"${READER2[0]}"
exec {READER2[1]}>&-
wait "$READER2_PID" 2>/dev/null
check "cancelled in the swap: the reader saw the old rows throughout, and they are still the dataset" \
  "[ \"$second\" = 'r2|2' ] && [ \"\$(pi_sql 'SELECT count(*) FROM pi_data.cancel_swap')\" = 2 ]"
check "cancelled in the swap: no staging table, no helper, one table for the dataset" \
  "wait_until 30 nothing_left none_such &&
   [ \"\$(pi_sql \"SELECT count(*) FROM pg_tables WHERE tablename LIKE 'cancel_swap%'\")\" = 1 ]"
echo "# cancel while the clean-up drops the staging table (a session holds its catalog row): the worker lives on"
# The drop runs with interrupts held, and the worker's cancel timer keeps
# firing inside it.  Such a cancel once outlived the clean-up and was thrown
# by the next log line, past every handler: the worker exited and its job
# stayed running until the lease ran out (60 s), then ended WorkerLost.
job=$(pi_sql "SELECT pi.load_csv('huge.csv', 'cancel_cleanup', '$SID')")
check "the helper starts" wait_until 120 helper_pid
wpid=$(pi_sql "SELECT worker_pid FROM pi.jobs WHERE id = '$job'")
coproc CATLOCK { as_pg "$PI_PGBIN/psql" -X -A -t -q -h "$PI_TEST_DIR" -p "$PI_TEST_PORT" -d "$PI_TEST_DB" 2>&1; }
echo "BEGIN; SELECT 'locked' FROM pg_class WHERE oid = '$(staging_of "$job")'::regclass FOR UPDATE;" >&"${CATLOCK[1]}"
read -r -t 60 locked <&"${CATLOCK[0]}"
pi_sql "SELECT pi.cancel_job('$job')" >/dev/null
worker_waits() {
  [ "$(pi_sql "SELECT count(*) FROM pg_stat_activity WHERE pid = $wpid AND wait_event_type = 'Lock'")" = 1 ]
}
check "the cancelled load's clean-up waits for the catalog row" \
  "[ \"$locked\" = locked ] && wait_until 60 worker_waits"
sleep 1  # several turns of the worker's 200 ms cancel timer inside the clean-up
echo "ROLLBACK;" >&"${CATLOCK[1]}"
exec {CATLOCK[1]}>&-
wait "$CATLOCK_PID" 2>/dev/null
check "cancelled in the clean-up: its own worker ends the job cancelled (not the rescue, as lost)" \
  "wait_until 120 ended $job &&
   [ \"\$(pi_sql \"SELECT status || '/' || (result->'error'->>'type') FROM pi.jobs WHERE id = '$job'\")\" = cancelled/Cancelled ]"
check "cancelled in the clean-up: the worker that ran it lives on" \
  "[ -n '$wpid' ] && [ \"\$(pi_sql \"SELECT count(*) FROM pg_stat_activity WHERE pid = $wpid AND backend_type = 'pi worker'\")\" = 1 ]"
check "cancelled in the clean-up: nothing is left" "wait_until 30 nothing_left cancel_cleanup"
as_pg rm -f "$WS/huge.csv"
