#!/usr/bin/env bash
# tests/sessions/run.sh: live Python state of sessions (executor kernels)
# through SQL on a real cluster: variables kept across pi.execute and
# pi.submit_job, isolation of two sessions, a kernel killed with SIGKILL,
# idle reaping (pi.session_idle_timeout), LRU eviction (pi.max_sessions),
# pi.reset_session / pi.close_session, and pi.query() from Python.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/cluster.sh"

pi_cluster_start "pi.session_idle_timeout = 4" "pi.max_sessions = 2" \
  || { echo "cluster did not start"; echo "0 passed, 1 failed"; exit 1; }

S1=$(pi_sql "SELECT pi.create_session('one')")
S2=$(pi_sql "SELECT pi.create_session('two')")
S3=$(pi_sql "SELECT pi.create_session('three')")

# ex SID CODE [JQ]: pi.execute in session SID; prints the result (or .JQ)
ex() {
  pi_sql "SELECT pi.execute(\$c\$$2\$c\$, 30, '$1')${3:+->$3}"
}
# job SID CODE: pi.submit_job and wait; prints the result
job() {
  local id st
  id=$(pi_sql "SELECT pi.submit_job(\$c\$$2\$c\$, 30, '$1')")
  for _ in $(seq 1 300); do
    st=$(pi_sql "SELECT status FROM pi.jobs WHERE id = '$id'")
    case "$st" in pending|running) sleep 0.1 ;; *) break ;; esac
  done
  pi_sql "SELECT pi.job_result('$id')"
}
# rj FILTER: the last result ($r) satisfies the jq filter
rj() { printf '%s' "$r" | jq -e "$1" >/dev/null 2>&1; }

echo "# state across sync and async runs"
r=$(ex "$S1" 'x = 41
def inc(v):
    return v + 1')
check "first run starts a kernel" rj '.session.kernel == "started" and .session.state_reset == false'
r=$(job "$S1" 'x = inc(x)
x')
check "submit_job sees the variables of pi.execute" rj '.result.json == 42 and .session.kernel == "reused"'
r=$(ex "$S1" 'x')
check "pi.execute sees what the job set" rj '.result.json == 42'

echo "# two sessions never see each other's state or files"
ex "$S2" 'import os
secret = 2
open("mine.txt", "w").write("2")' >/dev/null
r=$(ex "$S1" 'import os
["secret" in globals(), os.path.exists("mine.txt"), "x" in globals()]')
check "sessions isolated" rj '.result.json == [false, false, true]'

echo "# kill -9 of a session kernel"
ex "$S1" 'open("marker-s1", "w").write("1")' >/dev/null
# kernels of every pi-executor (other clusters may run): the one whose
# /workspace holds this session's marker
kernels() { for z in $(pgrep -u postgres -f '^pi-executor'); do pgrep -P "$z"; done; }
SK=
for p in $(kernels); do
  [ -e "/proc/$p/root/workspace/marker-s1" ] && SK=$p
done
check "found the session's kernel" "[ -n '$SK' ]"
[ -n "$SK" ] && kill -9 "$SK"
sleep 0.3
r=$(ex "$S1" '"x" in globals()')
check "next run says the state was reset" rj '.result.json == false and .session.state_reset == true and (.session.notice | contains("died"))'

echo "# pi.reset_session"
ex "$S1" 'y = 1' >/dev/null
check "reset_session stops a live kernel" "[ \"\$(pi_sql \"SELECT pi.reset_session('$S1')\")\" = t ]"
check "reset_session without a kernel" "[ \"\$(pi_sql \"SELECT pi.reset_session('$S1')\")\" = f ]"
r=$(ex "$S1" '"y" in globals()')
check "after reset the state is gone" rj '.result.json == false and .session.kernel == "started"'

echo "# LRU eviction with pi.max_sessions = 2"
ex "$S2" 'k = 2' >/dev/null
ex "$S1" 'k = 1' >/dev/null
r=$(ex "$S3" 'k = 3')      # S2 is the least recently used
r=$(ex "$S2" '"k" in globals()')
check "evicted session says so" rj '.result.json == false and .session.state_reset == true and (.session.notice | contains("make room"))'

echo "# pi.query from Python"
WS=$(pi_sql "SELECT workspace FROM pi.sessions WHERE id = '$S3'")
pi_sql "SELECT pi.write_file('$S3', 'a.csv', convert_to(E'id,name,score,day\n1,ann,1.5,2024-01-02\n2,bob,2.5,2024-02-03\n', 'UTF8'))" >/dev/null
LJ=$(pi_sql "SELECT pi.load_csv('a.csv', 'a', '$S3')")
for _ in $(seq 1 300); do
  st=$(pi_sql "SELECT status FROM pi.jobs WHERE id = '$LJ'")
  case "$st" in pending|running) sleep 0.1 ;; *) break ;; esac
done
check "load_csv completed" "[ '$st' = completed ]"
r=$(ex "$S3" 'import pi
df = pi.query("SELECT * FROM a ORDER BY id")
[list(df.columns), int(df.score.sum() * 10), str(df.id.dtype), str(df.day.dtype), df.name.tolist()]')
check "pi.query returns a typed DataFrame" rj '.result.json[0] == ["id","name","score","day"] and .result.json[1] == 40 and .result.json[2] == "int64" and (.result.json[3] | startswith("datetime64")) and .result.json[4] == ["ann","bob"]' \
  || echo "# $r" | head -c 600
r=$(ex "$S3" 'import pi
try:
    pi.query("DELETE FROM a")
    out = "not refused"
except pi.QueryError as e:
    out = "refused: " + str(e)
out')
check "pi.query refuses DELETE with pi.QueryError" rj '.result.json | startswith("refused")' || echo "# $r" | head -c 600
r=$(job "$S3" 'import pi
len(pi.query("SELECT id FROM a"))')
check "pi.query from an async job" rj '.result.json == 2' || echo "# $r" | head -c 600
r=$(ex "$S3" 'import pi
d = pi.datasets()
"a" in set(d["name"]) if "name" in d else repr(d)')
check "pi.datasets lists the dataset" rj '.result.json == true' || echo "# $r" | head -c 600

echo "# idle reaping (pi.session_idle_timeout = 4)"
ex "$S3" 'idle = 1' >/dev/null
sleep 6
r=$(ex "$S3" '"idle" in globals()')
check "idle kernel was stopped" rj '.result.json == false and .session.state_reset == true and (.session.notice | contains("without a run"))'

echo "# pi.close_session stops the kernel"
ex "$S2" 'z = 1' >/dev/null
pi_sql "SELECT pi.close_session('$S2')" >/dev/null
n=0
for p in $(kernels); do
  [ -e "/proc/$p/root/workspace/mine.txt" ] && n=$((n + 1))
done
check "close_session left no kernel" "[ $n -eq 0 ]"

summary
