#!/usr/bin/env bash
# Async job queue against a real cluster: throughput and exactly-once, commit
# semantics, sync calls not starved by long jobs, cancel, timeout, and rescue
# of jobs after executor death, worker death and an immediate restart; a
# cancel that answered true ends the job cancelled (r).
# Prints "N passed, M failed".
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/cluster.sh"

JOBS=4
# PARTS=adf runs only those parts (letters as below; c includes g)
want() { [ -z "${PARTS:-}" ] || [[ "$PARTS" == *"$1"* ]]; }
pi_cluster_start "pi.max_concurrent_jobs = $JOBS" || { fail "cluster start"; summary; exit 1; }
echo "# cluster in $PI_TEST_DIR, port $PI_TEST_PORT"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
status_of() { pi_sql "SELECT pi.job_status('$1')->>'status'" 2>/dev/null; }
# wait_status SECONDS ID STATUS...: until the job has one of the statuses
_status_in() {
  local id=$1; shift
  local s; s=$(status_of "$id") || return 1
  local w; for w in "$@"; do [ "$s" = "$w" ] && return 0; done
  return 1
}
wait_status() { local t=$1; shift; wait_until "$t" _status_in "$@"; }
submit() { pi_sql "SELECT pi.submit_job(\$pi\$$1\$pi\$${2:+, timeout_s := $2})"; }
executor_pid() { pi_executor_pid; }

# pi-executor processes of this cluster left behind by a dead parent (found
# by their working directory, the data directory: other clusters on the
# machine have their own)
_no_stray_executors() { [ -z "$(pi_stray_executors)" ]; }

# ---------------------------------------------------------------- (a)
if want a; then
echo "# (a) 200 async jobs"
pi_sql "CREATE TABLE t_a AS
        SELECT i, pi.submit_job('print(' || i || ')') AS id FROM generate_series(1, 200) i" \
  || fail "submit 200 jobs"
t0=$(now_ms)
check "200 jobs finish within 120 s" wait_sql 120 \
  "SELECT count(*) FROM t_a JOIN pi.jobs j USING (id)
    WHERE j.status IN ('completed','failed','timeout','cancelled')" 200
echo "#     finished in $(( $(now_ms) - t0 )) ms"
check "all 200 completed" wait_sql 1 \
  "SELECT count(*) FROM t_a WHERE pi.job_status(id)->>'status' = 'completed'" 200
check "stdout of each job is its number" wait_sql 1 \
  "SELECT count(*) FROM t_a WHERE pi.job_result(id)->>'stdout' = i || E'\n'" 200
check "each job ran exactly once (attempts = 1)" wait_sql 1 \
  "SELECT count(*) FROM t_a JOIN pi.jobs j USING (id) WHERE j.attempts = 1" 200
bad=$(pi_sql "SELECT count(*) FROM t_a JOIN pi.jobs j USING (id) WHERE j.status <> 'completed' OR j.attempts <> 1")
[ "$bad" = 0 ] || pi_sql "SELECT i, j.status, j.attempts, j.result FROM t_a JOIN pi.jobs j USING (id)
                          WHERE j.status <> 'completed' OR j.attempts <> 1 LIMIT 5"

fi
# ---------------------------------------------------------------- (b)
if want b; then
echo "# (b) rolled-back submit"
# The job would write a file into a session workspace, which the host sees
# (a file in the sandbox's own /tmp never reaches the host).
SB=$(pi_sql "SELECT pi.create_session('rollback')")
WSB=$(pi_sql "SELECT workspace FROM pi.sessions WHERE id = '$SB'")
marker="rollback_marker_$$_$RANDOM"
pi_psql -c "BEGIN" \
  -c "SELECT pi.submit_job('open(\"$marker\", \"w\").write(\"ran\")', 30, '$SB')" \
  -c "ROLLBACK" >/dev/null || fail "rolled-back submit"
check "rolled-back job left no row" wait_sql 1 \
  "SELECT count(*) FROM pi.jobs WHERE code LIKE '%$marker%'" 0
# the same write committed, right after, in the same session: it shows the
# file would be seen, and once it is done the rolled-back one had its chance
after=$(pi_sql "SELECT pi.submit_job('open(\"$marker.after\", \"w\").write(\"ran\")', 30, '$SB')")
check "a committed job's file in the workspace is seen by the host" \
  "wait_status 30 $after completed && [ -s '$WSB/$marker.after' ]"
sleep 1
check "rolled-back job had no side effect" "[ -d '$WSB' ] && [ ! -e '$WSB/$marker' ]"
# a committed one right after still runs (the wake-up was not lost)
id=$(submit 'print("after rollback")')
check "a job submitted after the rollback completes" wait_status 30 "$id" completed

fi
# ---------------------------------------------------------------- (c, g)
if want c; then
echo "# (c) long jobs do not block pi.execute; (g) cancel"
long=()
for _ in $(seq 1 $JOBS); do long+=("$(submit 'import time; time.sleep(30)')"); done
check "$JOBS long jobs running" wait_sql 20 \
  "SELECT count(*) FROM pi.jobs WHERE id IN ($(printf "'%s'," "${long[@]}" | sed 's/,$//')) AND status = 'running'" "$JOBS"
t0=$(now_ms)
out=$(pi_sql "SELECT pi.execute('print(2)')->>'stdout'")
dt=$(( $(now_ms) - t0 ))
echo "#     pi.execute with $JOBS long jobs running: ${dt} ms"
check "pi.execute answers while the pool is busy" "[ \"\$out\" = 2 ]"
check "... within 5 s" "[ $dt -lt 5000 ]"

pending=$(submit 'print("should never run")')
check "job queued behind a full pool is pending" "[ \"\$(status_of $pending)\" = pending ]"
check "cancel_job of a pending job returns true" wait_sql 1 "SELECT pi.cancel_job('$pending')" t
check "cancelled pending job is cancelled" wait_status 5 "$pending" cancelled
check "cancelled pending job never started" wait_sql 1 \
  "SELECT count(*) FROM pi.jobs WHERE id = '$pending' AND started_at IS NULL AND attempts = 0" 1

t0=$(now_ms)
check "cancel_job of a running job returns true" wait_sql 1 "SELECT pi.cancel_job('${long[0]}')" t
check "cancelled running job ends cancelled within 10 s" wait_status 10 "${long[0]}" cancelled
echo "#     running job cancelled in $(( $(now_ms) - t0 )) ms"
check "cancel_job of a finished job returns false" wait_sql 1 "SELECT pi.cancel_job('${long[0]}')" f
for id in "${long[@]:1}"; do pi_sql "SELECT pi.cancel_job('$id')" >/dev/null; done
check "remaining long jobs cancelled" wait_sql 15 \
  "SELECT count(*) FROM pi.jobs WHERE kind = 'async' AND status IN ('pending','running')" 0

fi
# ---------------------------------------------------------------- (h)
if want h; then
echo "# (h) timeout"
id=$(submit 'while True: pass' 2)
t0=$(now_ms)
check "busy loop with timeout_s 2 ends timeout" wait_status 20 "$id" timeout
echo "#     timed out after $(( $(now_ms) - t0 )) ms"
check "timeout job stays timeout (not re-queued)" "sleep 1; [ \"\$(status_of $id)\" = timeout ]"

fi
# ---------------------------------------------------------------- (d)
if want d; then
echo "# (d) kill -9 of the executor during a job"
id=$(submit 'import time; time.sleep(5); print("done")')
check "(d) job running" wait_status 20 "$id" running
sleep 0.5
ex=$(executor_pid)
if [ -n "$ex" ]; then
  echo "#     killing executor pid $ex"
  kill -9 "$ex"
  check "(d) job rescued: completed after executor restart" wait_status 60 "$id" completed
  check "(d) rescued job printed done" wait_sql 1 "SELECT pi.job_result('$id')->>'stdout'" done
  echo "#     (d) final: $(pi_sql "SELECT status || ' attempts=' || attempts || ' ' || coalesce(result::text,'') FROM pi.jobs WHERE id = '$id'" 2>&1 | cut -c1-400)"
  check "(d) executor restarted (new pid)" "n=\$(executor_pid); [ -n \"\$n\" ] && [ \"\$n\" != $ex ]"
  check "(d) pi.execute works again" pi_wait_ready 30
else
  fail "(d) found the executor process" "no pi-executor child of the pi launcher"
fi

fi
# ---------------------------------------------------------------- (e)
if want e; then
echo "# (e) kill -9 of a job worker backend during a job"
id=$(submit 'import time; time.sleep(5); print("done")')
check "(e) job running" wait_status 20 "$id" running
sleep 0.5
wpid=$(pi_sql "SELECT worker_pid FROM pi.jobs WHERE id = '$id'")
if [ -n "$wpid" ] && ps -p "$wpid" -o args= | grep -q "pi worker"; then
  echo "#     killing worker pid $wpid ($(ps -p "$wpid" -o args=))"
  kill -9 "$wpid"
  check "(e) job_status shows attempt 2 while the rerun runs" wait_sql 60 \
    "SELECT s->>'status' || ' ' || (s->>'attempt') || ' ' || (s->>'notice' IS NOT NULL)::text FROM pi.job_status('$id') s" "running 2 true"
  check "(e) job rescued: completed" wait_status 90 "$id" completed
  check "(e) job ran twice (attempts = 2)" wait_sql 1 "SELECT attempts FROM pi.jobs WHERE id = '$id'" 2
  check "(e) the result says it is attempt 2 and why" wait_sql 1 \
    "SELECT (r->>'attempt') || ' ' || (r->>'notice' LIKE 'this job ran again%worker%')::text FROM pi.job_result('$id') r" "2 true"
  check "(e) pi.execute works again" pi_wait_ready 60
else
  fail "(e) worker_pid of the running job is a pi worker" "worker_pid='$wpid'"
fi
echo "#     (e) final: $(pi_sql "SELECT status || ' attempts=' || attempts || ' ' || coalesce(result::text,'') FROM pi.jobs WHERE id = '$id'" 2>&1 | cut -c1-300)"

fi
# ---------------------------------------------------------------- (f)
if want f; then
echo "# (f) pg_ctl restart -m immediate during a job"
id=$(submit 'import time; time.sleep(5); print("done")')
check "(f) job running" wait_status 20 "$id" running
sleep 0.5
if pi_cluster_restart immediate; then
  pass "(f) restarted"
else
  fail "(f) restarted"
fi
check "(f) job leaves running within 60 s" wait_status 60 "$id" completed failed
st=$(status_of "$id")
att=$(pi_sql "SELECT attempts FROM pi.jobs WHERE id = '$id'")
echo "#     (f) status $st after $att attempts"
if [ "$st" = failed ]; then
  check "(f) failed only after its second attempt, with a clear error" \
    "[ $att -ge 2 ] && [ -n \"\$(pi_sql \"SELECT pi.job_result('$id')->'error'->>'message'\")\" ]"
else
  check "(f) rescued job completed" "[ \"$st\" = completed ]"
fi
check "(f) no job left running" wait_sql 30 \
  "SELECT count(*) FROM pi.jobs WHERE status = 'running'" 0
check "(f) pi.execute works after restart" pi_wait_ready 60

fi

if want i; then
echo "# (i) statement_timeout and query cancel stop a sync pi.execute and its Python"
sid=$(pi_sql "SELECT pi.create_session('cancel test')")
LATE='import time; time.sleep(3); open("late.txt", "w").write("ran on")'
# late_write_seen: the next run of the session looks for the late write.
# Runs of a session take turns, so a cell that was not stopped would finish
# (and write) before this one looks: no guessed sleep needed.
late_write_seen() {
  pi_sql "SELECT pi.execute(\$pi\$import os; print(os.path.exists('late.txt'))\$pi\$, 30, '$sid')->>'stdout'"
}
out=$(pi_psql -c "SET statement_timeout = '1s'" -c "SELECT pi.execute(\$pi\$$LATE\$pi\$, 30, '$sid')" 2>&1)
check "(i) statement_timeout ends pi.execute with the timeout error" \
  "echo \"\$out\" | grep -q 'canceling statement due to statement timeout'"
r=$(late_write_seen)
check "(i) the run was killed: its late write never happened" "[ '$r' = False ]"
pi_psql -c "SELECT pi.execute(\$pi\$$LATE\$pi\$, 30, '$sid')" >/dev/null 2>&1 &
cpid=$!
# cancel once the call runs, not after a guessed delay
wait_sql 20 "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%late.txt%' AND state = 'active' AND pid <> pg_backend_pid()" 1
pi_sql "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%late.txt%' AND pid <> pg_backend_pid()" >/dev/null
wait $cpid; crc=$?
check "(i) query cancel ends pi.execute with an error" "[ $crc -ne 0 ]"
r=$(late_write_seen)
check "(i) the cancelled run was killed: no late write" "[ '$r' = False ]"
check "(i) pi.execute works after the cancels" pi_wait_ready 30
fi

if want j; then
echo "# (j) finished jobs older than pi.job_retention leave pi.jobs; newer ones stay"
pi_sql "INSERT INTO pi.jobs (code, timeout_s, status, submitted_at, finished_at)
        VALUES ('print(\"ancient\")', 10, 'completed', now() - interval '40 days', now() - interval '40 days'),
               ('print(\"recent\")', 10, 'completed', now() - interval '1 day', now() - interval '1 day')" >/dev/null
check "(j) the job finished 40 days ago is deleted within 20 s" \
  wait_sql 20 "SELECT count(*) FROM pi.jobs WHERE code = 'print(\"ancient\")'" 0
check "(j) the job finished a day ago stays" \
  "[ \"\$(pi_sql \"SELECT count(*) FROM pi.jobs WHERE code = 'print(\\\"recent\\\")'\")\" = 1 ]"
fi

if want k; then
echo "# (k) a job runs once while its worker lives, whatever its kind and length"
# pi.job_lease_time (a testing setting) shortened so that the lease runs out
# many times over while a load waits for a lock inside its transaction
pi_sql "ALTER SYSTEM SET pi.job_lease_time = '3s'" >/dev/null && pi_sql "SELECT pg_reload_conf()" >/dev/null
check "(k) pi.job_lease_time is 3 s" wait_sql 5 "SHOW pi.job_lease_time" 3s
ksid=$(pi_sql "SELECT pi.create_session('lease')")
pi_sql "SELECT pi.write_file('$ksid', 'k.csv', convert_to(E'a,b\n1,2\n', 'UTF8'))" >/dev/null
kjob=$(pi_sql "SELECT pi.load_csv('k.csv', 'leased', '$ksid')")
check "(k) first load of the dataset" wait_status 30 "$kjob" completed
coproc LOCKER { as_pg "$PI_PGBIN/psql" -X -A -t -q -h "$PI_TEST_DIR" -p "$PI_TEST_PORT" -d "$PI_TEST_DB" 2>&1; }
echo "BEGIN; SELECT 'locked' FROM pi.datasets WHERE name = 'leased' FOR UPDATE;" >&"${LOCKER[1]}"
read -r -t 10 locked <&"${LOCKER[0]}"
kjob=$(pi_sql "SELECT pi.load_csv('k.csv', 'leased', '$ksid')")
kpy=$(submit 'import time; time.sleep(12); print("long")')
# 22 s: the lease (3 s) runs out, and the other workers' rescue sweeps
# (every 10 s, checked at least every 5 s) have had time to act on it
sleep 22
echo "COMMIT;" >&"${LOCKER[1]}"
exec {LOCKER[1]}>&-
check "(k) the load that waited for the lock completed" wait_status 30 "$kjob" completed
check "(k) ... and ran once (attempts = 1)" wait_sql 1 "SELECT attempts FROM pi.jobs WHERE id = '$kjob'" 1
check "(k) a 12 s Python job with a 3 s lease ran once" wait_status 30 "$kpy" completed
check "(k) ... attempts = 1" wait_sql 1 "SELECT attempts FROM pi.jobs WHERE id = '$kpy'" 1
pi_sql "ALTER SYSTEM RESET pi.job_lease_time" >/dev/null && pi_sql "SELECT pg_reload_conf()" >/dev/null
fi

if want l; then
echo "# (l) a connection the executor drops while it lives does not stall the queue"
# a stand-in socket that takes one run and closes it; before it closes, the
# real executor's socket is put back
as_pg env D="$PI_TEST_DATA" /usr/bin/python3 -c '
import os, socket, sys
real = os.environ["D"] + "/pi_executor.sock"; saved = real + ".saved"
os.rename(real, saved)
s = socket.socket(socket.AF_UNIX); s.bind(real); s.listen(8)
print("ready", flush=True)
c, _ = s.accept(); c.recv(65536)
os.rename(saved, real)
c.close()
' > "$PI_TEST_DIR/fake.out" 2>&1 &
fake=$!
wait_until 10 grep -q ready "$PI_TEST_DIR/fake.out"
t0=$(now_ms)
lid=$(submit 'print("after a dropped connection")')
wait $fake
check "(l) the job whose connection was dropped completes within 15 s" wait_status 15 "$lid" completed
echo "#     completed after $(( $(now_ms) - t0 )) ms"
check "(l) ... on its second attempt, which its result explains" wait_sql 1 \
  "SELECT (r->>'attempt') || ' ' || (r->>'notice' LIKE 'this job ran again%executor%')::text FROM pi.job_result('$lid') r" "2 true"
lid=$(submit 'print("next")')
check "(l) the next job runs at once (no wait for an executor restart)" wait_status 8 "$lid" completed
fi

if want m; then
echo "# (m) the job workers do not keep what one job used"
# results of ~1 MB each: a worker that kept them would grow by tens of MB
worker_total() {  # sum of the workers' memory context totals, in bytes
  local before; before=$(wc -l < "$PI_TEST_LOG")
  pi_sql "SELECT pg_log_backend_memory_contexts(pid) FROM pg_stat_activity WHERE backend_type = 'pi worker'" >/dev/null
  sleep 3
  tail -n +"$((before + 1))" "$PI_TEST_LOG" | grep -o 'Grand total: [0-9]* bytes' | awk '{ s += $3 } END { print s + 0 }'
}
pi_sql "CREATE TABLE t_m AS SELECT pi.submit_job('print(\"x\" * 1000000)') AS id FROM generate_series(1, 8)" >/dev/null
wait_sql 60 "SELECT count(*) FROM t_m JOIN pi.jobs USING (id) WHERE status = 'completed'" 8
m0=$(worker_total)
pi_sql "INSERT INTO t_m SELECT pi.submit_job('print(\"x\" * 1000000)') FROM generate_series(1, 40)" >/dev/null
wait_sql 120 "SELECT count(*) FROM t_m JOIN pi.jobs USING (id) WHERE status = 'completed'" 48
m1=$(worker_total)
echo "#     worker memory: $m0 bytes after 8 jobs, $m1 after 48"
check "(m) 40 more jobs with 1 MB results grow the workers by less than 4 MB" \
  "[ $m0 -gt 0 ] && [ $(( m1 - m0 )) -lt 4000000 ]"
fi

if want n; then
echo "# (n) a session past pi.session_ttl is removed with its live kernel"
# here (not in tests/sessions) because that suite stops idle kernels after 4 s
kernels() { pi_kernel_pids; }
nsid=$(pi_sql "SELECT pi.create_session('expiring')")
pi_sql "SELECT pi.execute('open(\"marker-n\", \"w\").write(\"1\"); e = 1', 30, '$nsid')" >/dev/null
nk=
for p in $(kernels); do
  [ -e "/proc/$p/root/workspace/marker-n" ] && nk=$p
done
check "(n) found the expiring session's kernel" "[ -n '$nk' ]"
pi_sql "UPDATE pi.sessions SET last_used_at = now() - interval '30 days' WHERE id = '$nsid'" >/dev/null
check "(n) the expired session is removed within 30 s" \
  wait_sql 30 "SELECT count(*) FROM pi.sessions WHERE id = '$nsid'" 0
check "(n) ... and its kernel is stopped" wait_until 5 test ! -e "/proc/${nk:-1}"
fi

if want o; then
echo "# (o) progress is coalesced: 20,000 pi.progress() calls are a few writes, the last value stays"
# A trigger counts every write of a job's progress exactly (the statistics
# counters arrive late and count the other jobs' updates too).  Each call
# below sends a new message, so every write changes it.
pi_sql "CREATE TABLE progress_writes (job uuid, at timestamptz DEFAULT clock_timestamp());
        CREATE FUNCTION count_progress_write() RETURNS trigger LANGUAGE plpgsql AS
          \$\$BEGIN INSERT INTO public.progress_writes (job) VALUES (NEW.id); RETURN NEW; END\$\$;
        CREATE TRIGGER count_progress_write AFTER UPDATE OF progress, progress_message ON pi.jobs
          FOR EACH ROW WHEN (OLD.progress_message IS DISTINCT FROM NEW.progress_message)
          EXECUTE FUNCTION public.count_progress_write()" >/dev/null || fail "(o) progress trigger"
c0=$(pi_sql "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
# raised at the end: a completed job's progress is set to 1, a failed one
# keeps the last value sent
oid=$(submit 'import pi, time
t0 = time.time()
for i in range(1, 20001):
    pi.progress(i / 40000, "step %d" % i)
    time.sleep(0.0001)  # a run of a few seconds, not one burst
print("%.2f" % (time.time() - t0))
raise RuntimeError("end of the loop")' 120)
check "(o) the job of 20,000 progress calls ends" wait_status 120 "$oid" failed
writes=$(pi_sql "SELECT count(*) FROM progress_writes WHERE job = '$oid'")
secs=$(pi_sql "SELECT pi.job_result('$oid')->>'stdout'")
sleep 1.5   # statistics are flushed at most once a second
c1=$(pi_sql "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
echo "#     $writes progress writes for a loop of ${secs} s; $((c1 - c0)) commits in the database meanwhile"
check "(o) ... at most a few progress writes a second (< 200 in all)" "[ ${writes:-99999} -lt 200 ]"
check "(o) ... the recorded progress is the last value sent" wait_sql 1 \
  "SELECT progress || ' ' || progress_message FROM pi.jobs WHERE id = '$oid'" "0.5 step 20000"
pi_sql "DROP TRIGGER count_progress_write ON pi.jobs; DROP FUNCTION count_progress_write(); DROP TABLE progress_writes" >/dev/null

echo "# (o) a value sent just after a write shows within a second, with no frame after it"
pid_=$(submit 'import pi, time
pi.progress(0.1, "first")
for i in range(1, 6):
    pi.progress(0.1 + i / 10, "burst %d sent at %.3f" % (i, time.time()))
time.sleep(5)' 60)
# polled from the submit on, so the lag measured is not the poll's
seen=
for _ in $(seq 1 300); do
  m=$(pi_sql "SELECT s->>'status' || '|' || coalesce(s->>'progress_message', '') FROM pi.job_status('$pid_') s")
  case $m in
    "running|burst 5 sent at "*) seen=$(date +%s%N); break ;;
    running*|pending*) ;;
    *) break ;;
  esac
  sleep 0.05
done
if [ -n "$seen" ]; then
  sent=${m#running|burst 5 sent at }
  lag=$(( seen / 1000000 - $(printf '%.0f' "$(echo "$sent * 1000" | bc)") ))
  echo "#     the last of the burst was visible ${lag} ms after it was sent"
  check "(o) the last progress of a burst is in pi.job_status within 1 s while the job runs" "[ $lag -lt 1000 ]"
else
  fail "(o) the last progress of a burst is in pi.job_status while the job runs" "last seen: $m"
fi
pi_sql "SELECT pi.cancel_job('$pid_')" >/dev/null
fi

if want p; then
echo "# (p) a running job's stdout so far: growing in pi.job_status, a bounded tail, few writes"
pid_=$(submit 'import time
for i in range(40):
    print("tick %d" % i)
    time.sleep(0.2)' 120)
# polled while the job runs: each distinct stdout_bytes seen, in order
seen=(); last=; tail_ok=1; st=
for _ in $(seq 1 600); do
  row=$(pi_sql "SELECT s->>'status', s->>'stdout_bytes', replace(s->>'stdout', E'\\n', '/')
                FROM pi.job_status('$pid_') s")
  st=${row%%|*}; rest=${row#*|}; bytes=${rest%%|*}; out=${rest#*|}
  [ "$st" = running ] || { [ "$st" = pending ] && { sleep 0.1; continue; }; break; }
  if [ "$bytes" != "${last:-}" ] && [ "$bytes" != 0 ]; then
    seen+=("$bytes"); last=$bytes
    # the text shown is exactly what was printed so far (the last line may
    # lack its newline: print writes it separately)
    want_out=$(/usr/bin/python3 -c "s = ''.join('tick %d\n' % i for i in range(40))[:$bytes]
print(s.replace(chr(10), '/'))")
    [ "$out" = "$want_out" ] || { tail_ok=0; echo "#     at $bytes bytes: got [$out] want [$want_out]"; }
  fi
  sleep 0.1
done
echo "#     stdout_bytes seen while running: ${seen[*]}"
check "(p) pi.job_status showed the stdout growing at least 5 times while the job ran" \
  "[ ${#seen[@]} -ge 5 ] && [ '$st' != running ]"
check "(p) ... each time exactly what was printed so far" "[ $tail_ok = 1 ]"
check "(p) ... growing only" "printf '%s\n' ${seen[*]:-0} | sort -n -c"
check "(p) the job completes with its whole stdout in the result, as before" wait_sql 30 \
  "SELECT (r->>'status') || ' ' || length(r->>'stdout') || ' ' || (r->>'stdout' LIKE 'tick 0%tick 39' || E'\n') FROM pi.job_result('$pid_') r" \
  "completed 310 true"

# A trigger counts every write of the live output exactly (statistics
# counters arrive late and count other updates too).
pi_sql "CREATE TABLE output_writes (job uuid, bytes bigint);
        CREATE FUNCTION count_output_write() RETURNS trigger LANGUAGE plpgsql AS
          \$\$BEGIN INSERT INTO public.output_writes VALUES (NEW.id, NEW.stdout_bytes); RETURN NEW; END\$\$;
        CREATE TRIGGER count_output_write AFTER UPDATE OF stdout_tail ON pi.jobs
          FOR EACH ROW WHEN (OLD.stdout_bytes IS DISTINCT FROM NEW.stdout_bytes)
          EXECUTE FUNCTION public.count_output_write()" >/dev/null || fail "(p) output trigger"
# 300,000 lines (about 3.9 MB, past the 1 MB cap of the result's stdout),
# each its own write to the pipe, with a multi-byte character in each line
tid=$(submit 'import sys
for i in range(300000):
    print("é line %d" % i)
raise RuntimeError("end of the loop")' 300)
check "(p) the job of 300,000 prints ends" wait_status 300 "$tid" failed
writes=$(pi_sql "SELECT count(*) FROM output_writes WHERE job = '$tid'")
echo "#     $writes writes of the live output for 300,000 prints in a tight loop"
check "(p) ... its live output was written, a few times (< 200 writes)" \
  "[ ${writes:-99999} -lt 200 ] && [ ${writes:-0} -ge 1 ]"
total=$(/usr/bin/python3 -c 'print(sum(len(("é line %d\n" % i).encode()) for i in range(300000)))')
check "(p) ... stdout_bytes counts every byte printed, past the result's cap" wait_sql 1 \
  "SELECT stdout_bytes FROM pi.jobs WHERE id = '$tid'" "$total"
check "(p) ... the tail is the newest output, at most 16 KB, whole lines from its second" wait_sql 1 \
  "SELECT octet_length(stdout_tail) <= 16384 AND octet_length(stdout_tail) > 16000
      AND stdout_tail LIKE '%é line 299998' || E'\n' || 'é line 299999' || E'\n'
      AND split_part(stdout_tail, E'\n', 2) ~ '^é line [0-9]+$'
      FROM pi.jobs WHERE id = '$tid'" t
check "(p) ... while the result's stdout keeps its cap and is flagged" wait_sql 1 \
  "SELECT r->>'stdout_truncated' FROM pi.job_result('$tid') r" true
check "(p) ... pi.job_status says the tail is not all of it" wait_sql 1 \
  "SELECT s->>'stdout_truncated' || ' ' || (s->>'stdout_bytes') FROM pi.job_status('$tid') s" "true $total"
# a print every half millisecond: each reaches the worker in a frame of
# its own (a tight loop fills the pipe, and one read takes many lines)
fid=$(submit 'import time
for i in range(5000):
    print("step %d" % i)
    time.sleep(0.0005)' 300)
check "(p) the job of 5,000 spaced prints ends" wait_status 300 "$fid" completed
writes=$(pi_sql "SELECT count(*) FROM output_writes WHERE job = '$fid'")
echo "#     $writes writes of the live output for 5,000 prints in $(pi_sql "SELECT round((r->>'elapsed_ms')::numeric) FROM pi.job_result('$fid') r") ms"
check "(p) ... a few writes a second, not one per print (< 200 writes)" \
  "[ ${writes:-99999} -lt 200 ] && [ ${writes:-0} -ge 1 ]"
check "(p) ... the last write holds the last line" wait_sql 1 \
  "SELECT stdout_tail LIKE '%step 4999' || E'\\n' FROM pi.jobs WHERE id = '$fid'" t
pi_sql "DROP TRIGGER count_output_write ON pi.jobs; DROP FUNCTION count_output_write(); DROP TABLE output_writes" >/dev/null
fi

if want q; then
echo "# (q) pi.progress_notices: a plain pi.execute relays pi.progress() as NOTICEs, coalesced"
q_code='import pi, time
for i in range(1, 2001):
    pi.progress(i / 2000, "n %d" % i)
    time.sleep(0.001)'
pi_psql -c "SET pi.progress_notices = on" -c "SELECT pi.execute(\$q\$$q_code\$q\$)->>'status'" \
  > "$PI_TEST_DIR/q.out" 2> "$PI_TEST_DIR/q.err"
qn=$(grep -c 'NOTICE:  pi.progress: ' "$PI_TEST_DIR/q.err")
echo "#     $qn notices for 2,000 pi.progress() calls"
check "(q) the run completes and its reports arrive as a few NOTICEs (1 to 199)" \
  "[ \"\$(cat $PI_TEST_DIR/q.out)\" = completed ] && [ $qn -ge 1 ] && [ $qn -lt 200 ]"
check "(q) ... the last one is the last report" \
  "tail -n 1 $PI_TEST_DIR/q.err | grep -q 'pi.progress: {\"progress\": *1[.0]*, *\"message\": *\"n 2000\"}'"
pi_psql -c "SELECT pi.execute(\$q\$import pi; pi.progress(0.5, 'x')\$q\$)->>'status'" > /dev/null 2> "$PI_TEST_DIR/q2.err"
check "(q) ... and none without the setting" "! grep -q 'pi.progress' $PI_TEST_DIR/q2.err"
fi

# ---------------------------------------------------------------- (r)
if want r; then
echo "# (r) a cancel that answered true ends the job cancelled, even as its code ends or its executor is lost"
# The worker writes a job's end with the row locked, after a last look at
# the cancel flag.  A session holding the row makes the worker wait there,
# the run over; pi.cancel_job from that session then lands in the window
# between the run's end and its recording.
# cancel_at_end JOB [BEFORE]: hold JOB's row, run the shell command BEFORE
# (if any), wait until the job's worker waits for the row, cancel the job
# from the holding session and commit; prints pi.cancel_job's answer.
cancel_at_end() {
  local job=$1 before=${2:-} wpid answer=
  wpid=$(pi_sql "SELECT worker_pid FROM pi.jobs WHERE id = '$job'")
  coproc HOLDER { as_pg "$PI_PGBIN/psql" -X -A -t -q -h "$PI_TEST_DIR" -p "$PI_TEST_PORT" -d "$PI_TEST_DB" 2>&1; }
  echo "BEGIN; SELECT 'held' FROM pi.jobs WHERE id = '$job' FOR UPDATE;" >&"${HOLDER[1]}"
  read -r -t 60 _ <&"${HOLDER[0]}"
  [ -n "$before" ] && eval "$before"
  _waits_for_row() {
    [ "$(pi_sql "SELECT count(*) FROM pg_stat_activity WHERE pid = $wpid AND wait_event_type = 'Lock'")" = 1 ]
  }
  wait_until 60 _waits_for_row || echo "#     the worker of $job did not wait for its row" >&2
  echo "SELECT pi.cancel_job('$job'); COMMIT;" >&"${HOLDER[1]}"
  read -r -t 60 answer <&"${HOLDER[0]}"
  exec {HOLDER[1]}>&-
  wait "$HOLDER_PID" 2>/dev/null
  echo "$answer"
}
# a run that ends on its own (no output: its last expression is its result)
id=$(submit 'import time; time.sleep(2); 6 * 7' 60)
check "(r) job running" wait_status 20 "$id" running
answer=$(cancel_at_end "$id")
check "(r) cancel_job answered true as the code ended" "[ '$answer' = t ]"
check "(r) ... the job ends" wait_status 30 "$id" cancelled completed failed
check "(r) ... cancelled, not completed" "[ \"\$(status_of $id)\" = cancelled ]"
check "(r) ... what it returned is kept, and the error says how its code had ended" wait_sql 1 \
  "SELECT (r->'result'->>'repr') || ' ' || (r->'error'->>'type') || ' ' || (r->'error'->>'detail' LIKE '%(completed)%')::text
     FROM pi.job_result('$id') r" "42 Cancelled true"
# a run whose executor dies under it, the cancel landing before the re-queue
id=$(submit 'import time; time.sleep(30)' 60)
check "(r) second job running" wait_status 20 "$id" running
sleep 0.5
ex=$(executor_pid)
answer=$(cancel_at_end "$id" '[ -n "$ex" ] && kill -9 "$ex"')
check "(r) cancel_job answered true as the executor was lost" "[ -n '$ex' ] && [ '$answer' = t ]"
check "(r) ... and the job ends cancelled, never queued again (attempts = 1)" \
  "wait_status 60 $id cancelled completed failed pending &&
   [ \"\$(pi_sql \"SELECT status || ' ' || attempts FROM pi.jobs WHERE id = '$id'\")\" = 'cancelled 1' ]"
check "(r) pi.execute works again" pi_wait_ready 60
# a pi.cancel_job not yet committed already stops the run: the worker's
# writes of live output skip a row another transaction holds
SR=$(pi_sql "SELECT pi.create_session('cancel before commit')")
WSR=$(pi_sql "SELECT workspace FROM pi.sessions WHERE id = '$SR'")
id=$(pi_sql "SELECT pi.submit_job(\$pi\$
import time
while True:
    with open('beat', 'a') as f:
        f.write('x')
    print('y' * 100)
    time.sleep(0.02)
\$pi\$, 120, '$SR')")
beat_size() { as_pg stat -c %s "$WSR/beat" 2>/dev/null || echo 0; }
beats() { [ "$(beat_size)" -gt 0 ]; }
beat_stopped() { local a; a=$(beat_size); sleep 1; [ "$a" = "$(beat_size)" ]; }
check "(r) a job that writes and prints runs" "wait_status 20 $id running && wait_until 20 beats"
coproc HOLDER { as_pg "$PI_PGBIN/psql" -X -A -t -q -h "$PI_TEST_DIR" -p "$PI_TEST_PORT" -d "$PI_TEST_DB" 2>&1; }
echo "BEGIN; SELECT 'held' FROM pi.jobs WHERE id = '$id' FOR UPDATE;" >&"${HOLDER[1]}"
read -r -t 60 _ <&"${HOLDER[0]}"
sleep 1  # the worker's live-output writes (every 250 ms) meet the held row
echo "SELECT pi.cancel_job('$id');" >&"${HOLDER[1]}"
read -r -t 60 answer <&"${HOLDER[0]}"
check "(r) its run stops while the cancelling transaction is still open" \
  "[ '$answer' = t ] && wait_until 30 beat_stopped && [ \"\$(status_of $id)\" = running ]"
echo "COMMIT;" >&"${HOLDER[1]}"
exec {HOLDER[1]}>&-
wait "$HOLDER_PID" 2>/dev/null
check "(r) ... and ends cancelled once it commits" wait_status 30 "$id" cancelled
# output that never lets the worker's socket run dry does not hold a cancel back
id=$(submit 'while True: print("x" * 200)' 120)
check "(r) printing job running" "wait_status 20 $id running && sleep 1"
check "(r) a job printing in a tight loop is cancelled" \
  "[ \"\$(pi_sql \"SELECT pi.cancel_job('$id')\")\" = t ] && wait_status 60 $id cancelled"
fi

if want d || want e || want f || want r; then
  check "no pi-executor process of this cluster left behind by the kills and restarts" \
    wait_until 20 _no_stray_executors \
    || for p in $(pi_stray_executors); do echo "#     stray: $p $(tr '\0' ' ' </proc/$p/cmdline)"; done
fi

summary
