#!/usr/bin/env bash
# tests/sessions/run.sh: live Python state of sessions (executor kernels)
# through SQL on a real cluster: variables kept across pi.execute and
# pi.submit_job, isolation of two sessions, a kernel killed with SIGKILL,
# idle reaping (pi.session_idle_timeout), LRU eviction (pi.max_sessions),
# pi.reset_session / pi.close_session, pi.query() from Python, the
# workspace quota inside runs (pi.max_workspace_mb), pi.blas_threads, and
# path attacks planted from Python and followed later; last, the tenant
# limits max_sessions (tenant_limit.sh) and workspace_mb (tenant_workspace.sh).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/cluster.sh"

# The idle timeout leaves every other check a wide margin (a loaded machine
# can take seconds between two runs of one session); the idle check polls
# for the kernel to go instead of sleeping past the timeout.
IDLE_S=15
pi_cluster_start "pi.session_idle_timeout = $IDLE_S" "pi.max_sessions = 2" "pi.blas_threads = 2" \
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
# this cluster's kernels only (tests/lib/cluster.sh): the one whose
# /workspace holds this session's marker
SK=$(pi_session_kernel marker-s1)
check "found the session's kernel" "[ -n '$SK' ]"
[ -n "$SK" ] && kill -9 "$SK"
# the executor has noticed once it reaped its child
[ -n "$SK" ] && wait_until 10 eval "[ ! -e /proc/$SK ]"
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

echo "# idle reaping (pi.session_idle_timeout = $IDLE_S)"
ex "$S3" 'idle = 1
open("idle-s3", "w").write("1")' >/dev/null
IK=$(pi_session_kernel idle-s3)
check "found the idle session's kernel" "[ -n '$IK' ]"
t0=$(date +%s)
# poll for the kernel to stop (no run may touch the session meanwhile)
[ -n "$IK" ] && wait_until $((IDLE_S + 30)) eval "[ ! -e /proc/$IK ]"
echo "#     the kernel stopped after $(( $(date +%s) - t0 )) s"
check "the idle kernel stopped, not before pi.session_idle_timeout" \
  "[ -n '$IK' ] && [ ! -e /proc/$IK ] && [ $(( $(date +%s) - t0 )) -ge $((IDLE_S - 3)) ]"
r=$(ex "$S3" '"idle" in globals()')
check "idle kernel was stopped" rj '.result.json == false and .session.state_reset == true and (.session.notice | contains("without a run"))'

echo "# pi.blas_threads = 2"
r=$(ex "$S1" 'import os
try:
    import threadpoolctl
    pools = [p.get("num_threads") for p in threadpoolctl.threadpool_info()]
except ImportError:
    pools = None
print(os.environ["OPENBLAS_NUM_THREADS"], pools)
[os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")] + [pools]')
check "runs see OPENBLAS_NUM_THREADS=2 (and OMP/MKL/NUMEXPR)" rj '.result.json[0:4] == ["2","2","2","2"] and (.stdout | startswith("2 ")) and (.result.json[4] == null or (.result.json[4] | all(. == 2)))' \
  || echo "# $r" | head -c 600
r=$(pi_sql "SELECT pi.execute('import os; print(os.environ[\"OPENBLAS_NUM_THREADS\"])')->>'stdout'")
check "stateless runs too" "[ '$r' = 2 ]"

echo "# workspace quota inside runs (SET pi.max_workspace_mb = 5)"
S4=$(pi_sql "SELECT pi.create_session('quota')")
# exq SID CODE: pi.execute with the 5 MB quota
exq() {
  pi_psql -c "SET pi.max_workspace_mb = 5" -c "SELECT pi.execute(\$c\$$2\$c\$, 30, '$1')"
}
r=$(exq "$S4" 'import os
before = 1
for i in range(20):
    with open("q%02d.bin" % i, "wb") as f:
        f.write(os.urandom(1 << 20))')
check "20 MB from Python: WorkspaceQuotaExceeded" rj '.status == "failed" and .error.type == "WorkspaceQuotaExceeded" and (.error.message | test("the session workspace holds [0-9]+ MB, over pi.max_workspace_mb \\(5 MB\\); delete files with pi.delete_file\\(\\) or from Python, or raise pi.max_workspace_mb"))' \
  || echo "# $r" | head -c 600
NQ=$(pi_sql "SELECT count(*) FROM pi.list_files('$S4') WHERE path LIKE 'q%.bin'")
check "the files written are listable ($NQ)" "[ '$NQ' -ge 5 ]"
r=$(exq "$S4" 'before')
check "over the quota, the next run is stopped too" rj '.error.type == "WorkspaceQuotaExceeded"'
ND=$(pi_sql "SELECT count(*) FROM pi.list_files('$S4') f WHERE f.path LIKE 'q%.bin' AND pi.delete_file('$S4', f.path)")
check "and deletable with pi.delete_file ($ND)" "[ '$ND' = '$NQ' ] && [ \"\$(pi_sql \"SELECT count(*) FROM pi.list_files('$S4')\")\" = 0 ]"
r=$(exq "$S4" 'open("small.txt", "w").write("ok")
before + 1')
check "after deleting, the next run works (variables kept)" rj '.status == "completed" and .result.json == 2 and .session.kernel == "reused"' \
  || echo "# $r" | head -c 600
r=$(pi_psql -c "SET pi.max_workspace_mb = 5" -c "SELECT pi.execute(\$c\$import os, time
for i in range(100):
    open('t%d' % i, 'wb').write(os.urandom(1 << 20))
    time.sleep(0.02)\$c\$, 30)")
check "a stateless run filling its temporary workspace is stopped" rj '.status == "failed" and .error.type == "WorkspaceQuotaExceeded" and (.error.message | contains("temporary workspace"))' \
  || echo "# $r" | head -c 600

echo "# path attacks planted by one cell, followed by a later cell and by SQL"
S5=$(pi_sql "SELECT pi.create_session('attacker')")
r=$(ex "$S5" "import os
os.symlink('/etc/shadow', 'shadow')
os.symlink('../$S4', 'other')
os.symlink('/proc/1/root', 'hostroot')
os.makedirs('sub', exist_ok=True)
os.symlink('../../$S4/small.txt', 'sub/stolen.txt')
sorted(os.listdir('.'))")
check "one cell plants links to /etc/shadow and ../<other session>" rj '.status == "completed" and (.result.json | index("shadow") != null) and (.result.json | index("other") != null)' \
  || echo "# $r" | head -c 600
r=$(ex "$S5" "import os
def follow(p, how):
    try:
        how(p)
        return 'followed'
    except OSError as e:
        return type(e).__name__
[follow('shadow', lambda p: open(p).read()), follow('other', os.listdir),
 follow('other/small.txt', lambda p: open(p).read()), follow('sub/stolen.txt', lambda p: open(p).read()),
 os.path.exists('/etc/shadow'), os.path.exists('/$S4'), os.readlink('other'),
 sorted(os.listdir('/'))]")
check "a later cell follows them: no such file (contained)" rj '.result.json[0:4] == ["FileNotFoundError","FileNotFoundError","FileNotFoundError","FileNotFoundError"] and .result.json[4] == false and .result.json[5] == false and (.result.json[7] | index("etc") != null) and (.result.json[7] | map(select(length == 36)) | length) == 0' \
  || echo "# $r" | head -c 800
r=$(ex "$S5" "import os
def follow(p):
    try:
        return sorted(os.listdir(p))[:3]
    except OSError as e:
        return type(e).__name__
follow('hostroot')")
check "a link to /proc/1/root stays in the sandbox's own PID namespace" rj '.status == "completed" and ((.result.json | type) == "string" or (.result.json | index("pi_workspaces") == null))' \
  || echo "# $r" | head -c 600
for p in shadow other/small.txt sub/stolen.txt hostroot/etc/passwd; do
  out=$(pi_sql "SELECT length(pi.read_file('$S5', '$p'))" 2>&1)
  check "pi.read_file('$p') is refused" "printf '%s' \"\$out\" | grep -q 'ERROR' && printf '%s' \"\$out\" | grep -Eq 'link|out of the session workspace'" \
    || echo "# $out"
done
WS4=$(pi_sql "SELECT workspace FROM pi.sessions WHERE id = '$S4'")
check "the other session's file is untouched" "[ \"\$(cat '$WS4/small.txt')\" = ok ]"

echo "# a restart of the executor loses every kernel: the next run of the session says so"
S7=$(pi_sql "SELECT pi.create_session('executor restart')")
ex "$S7" 'w = 7' >/dev/null
ZYGOTE=$(pi_executor_pid)
check "found this cluster's executor" "[ -n '$ZYGOTE' ]"
[ -n "$ZYGOTE" ] && kill -9 "$ZYGOTE"
pi_wait_ready 60
r=$(ex "$S7" '"w" in globals()')
check "after an executor restart the run says the state was reset" \
  rj '.result.json == false and .session.kernel == "started" and .session.state_reset == true and (.session.notice | contains("executor restarted"))'
r=$(ex "$S7" 'w = 8; w')
r=$(ex "$S7" 'w')
check "and the next runs keep state again, without a notice" \
  rj '.result.json == 8 and .session.kernel == "reused" and .session.state_reset == false'

echo "# pi.close_session stops the kernel"
ex "$S2" 'z = 1' >/dev/null
# found before the close: the close removes the workspace and its marker
ZK=$(pi_session_kernel mine.txt)
check "found the session's kernel before the close" "[ -n '$ZK' ]"
pi_sql "SELECT pi.close_session('$S2')" >/dev/null
[ -n "$ZK" ] && wait_until 10 eval "[ ! -e /proc/$ZK ]"
check "close_session left no kernel" "[ -n '$ZK' ] && [ ! -e /proc/$ZK ]"

# last: it restarts the cluster with more session kernels
. "$HERE/tenant_limit.sh"
. "$HERE/tenant_workspace.sh"

summary
