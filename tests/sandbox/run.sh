#!/usr/bin/env bash
# tests/sandbox/run.sh: the sandbox escape suite, through the real SQL path.
#
# Starts a throwaway cluster (tests/lib/cluster.sh, server as postgres), then
# runs attacks through pi.execute (and a few through pi.submit_job), each
# asserting its SPECIFIC containment: the errno or exception the kernel gave,
# an empty listing, or a host-side check that a file really is unchanged or
# absent and that no process of the run survived.  After every group of
# attacks (and after every bomb) the server answers and a run in another
# session is unaffected.
#
#   bash tests/sandbox/run.sh            (PI_KEEP=1 keeps the cluster dir)
#   ONLY=regex bash tests/sandbox/run.sh (only attacks whose name matches)
#
# Prints "N passed, M failed" last; non-zero on any failure.  An attack that
# gets through is a release blocker: fix the jail, keep the test.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/cluster.sh"

command -v jq >/dev/null || { echo "jq is required"; exit 2; }

echo "Starting a throwaway cluster..."
pi_cluster_start "pi.max_memory_mb = 768" "pi.max_file_size_mb = 50" \
  "pi.max_sync_executions = 4" || { echo "cluster did not start"; exit 1; }

OUT=$PI_TEST_DIR/escape
as_pg mkdir -p "$OUT"
DATA=$PI_TEST_DATA
PORT=$PI_TEST_PORT
RAND=$RANDOM$RANDOM

grep -q "sandbox on" "$PI_TEST_LOG" || { echo "executor does not report 'sandbox on':"; grep pi-executor "$PI_TEST_LOG" | tail; }
grep "pi-executor: sandbox: \|memory limit in force" "$PI_TEST_LOG" | head -n 6 | sed 's/^/# /'

SA=$(pi_sql "SELECT pi.create_session('attacker')")
SB=$(pi_sql "SELECT pi.create_session('victim')")
WS_A=$DATA/pi_workspaces/$SA
WS_B=$DATA/pi_workspaces/$SB
[ -d "$WS_A" ] || WS_A=$(find "$DATA" -maxdepth 3 -type d -name "$SA" | head -n 1)
[ -d "$WS_B" ] || WS_B=$(find "$DATA" -maxdepth 3 -type d -name "$SB" | head -n 1)
[ -d "$WS_A" ] && [ -d "$WS_B" ] || { echo "session workspaces not found under $DATA"; exit 1; }

# host-side secrets and victims
PI_HOME_DIR=$PI_TEST_DIR/pi_home
as_pg mkdir -p "$PI_HOME_DIR"
SECRET="pi-secret-$RAND"
printf '%s\n' "$SECRET" | as_pg tee "$PI_HOME_DIR/api_key" >/dev/null
as_pg chmod 600 "$PI_HOME_DIR/api_key"
printf 'victim data %s\n' "$RAND" | as_pg tee "$WS_B/private.txt" >/dev/null
TABLE_FILE=$DATA/$(pi_sql "SELECT pg_relation_filepath('pi.jobs')")
PM_PID=$(head -n 1 "$DATA/postmaster.pid")
# this cluster's zygote: the pi-executor child of its launcher
ZYGOTE_PID() { pi_executor_pid; }
Z0=$(ZYGOTE_PID)
sum_of() { md5sum "$@" 2>/dev/null | awk '{print $1}' | tr '\n' ' '; }
HOST_SUMS0=$(sum_of "$DATA/postgresql.conf" "$DATA/global/pg_control" "$PI_HOME_DIR/api_key" "$WS_B/private.txt" "$(pg_config --bindir)/pi-executor")

# run cgroups (their names are child pids): none of ours may be left at the end
cgroups_now() { ls -d /sys/fs/cgroup/*/power_interpreter/run-* 2>/dev/null | sort; }
CGROUPS0=$(cgroups_now)
# Other clusters on the machine share the parent cgroups (and may leak run-*
# directories of their own while this suite runs): a run cgroup is ours when
# its pid was one of our executor's kernels, sampled all along.
KERNELS_SEEN=$OUT/kernels_seen
( while [ -d "$OUT" ]; do pi_kernel_pids 2>/dev/null; sleep 0.1; done ) >"$KERNELS_SEEN" &
SAMPLER=$!

# Helpers available to every attack (prepended to the code).
PRELUDE='import errno as _e, os, sys, socket, ctypes, ctypes.util
def tryit(f):
    try:
        r = f()
        return "OK:" + repr(r)[:200]
    except OSError as e:
        return "%s:%s" % (type(e).__name__, _e.errorcode.get(e.errno, e.errno))
    except Exception as e:
        return "%s:%s" % (type(e).__name__, str(e)[:200])
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(nr, *args):
    libc.syscall.argtypes = [ctypes.c_long] + [ctypes.c_ulong] * len(args)
    r = libc.syscall(nr, *args)
    return "ret=%d" % r if r >= 0 else _e.errorcode.get(ctypes.get_errno(), ctypes.get_errno())
def read(p):
    with open(p, "rb") as f:
        return f.read()
def write(p, data=b"x"):
    with open(p, "wb") as f:
        f.write(data)
'

# run_py NAME CODE [SESSION] [TIMEOUT_S]: pi.execute; the jsonb lands in $OUT/NAME.json
# (PRE_SQL, if set, runs first in the same connection: SET of a limit)
run_py() {
  local name=$1 code=$2 sess=${3:-} t=${4:-30} s=NULL
  [ -n "$sess" ] && s="'$sess'::uuid"
  printf "%sSELECT pi.execute(:'code', %s, %s);\n" "${PRE_SQL:-}" "$t" "$s" |
    pi_psql -v code="$PRELUDE$code" >"$OUT/$name.json" 2>"$OUT/$name.err"
}

# attack NAME JQ-FILTER CODE [SESSION] [TIMEOUT_S]
attack() {
  local name=$1 filter=$2 code=$3
  if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then return 0; fi
  run_py "$name" "$code" "${4:-}" "${5:-30}"
  # jq 1.6 -e answers 0 for an empty file: a failed psql must not pass
  if [ -s "$OUT/$name.json" ] && jq -e "$filter" "$OUT/$name.json" >/dev/null 2>&1; then
    pass "$name"
  else
    fail "$name" "$(head -c 600 "$OUT/$name.json" "$OUT/$name.err" | tr '\n' ' ')"
  fi
  ATTACKS=$((ATTACKS + 1))
  if [ $((ATTACKS % 10)) = 0 ]; then healthy "health after $ATTACKS attacks"; fi
}
ATTACKS=0

# stdout is exactly one line
out() { printf '.status == "completed" and .stdout == "%s\\n"' "$1"; }

# healthy NAME: the server answers and a run in the victim's session works
healthy() {
  local r
  r=$(printf "SELECT pi.execute('print(6*7); print(open(\"private.txt\").read().split()[0])', 30, '%s'::uuid)->>'stdout';\n" "$SB" | pi_psql 2>&1)
  if [ "$(pi_sql 'SELECT 1' 2>&1)" = 1 ] && [ "$r" = $'42\nvictim' ]; then
    pass "$1"
  else
    fail "$1" "$r"
  fi
}

# no_survivors MARKER: no host process has MARKER in its command line
no_survivors() { ! pgrep -f -- "$1" >/dev/null; }

echo "# --- reading what is not ours"
attack read_postgresql_conf "$(out FileNotFoundError:ENOENT)" "print(tryit(lambda: read('$DATA/postgresql.conf')))"
attack read_pg_control "$(out FileNotFoundError:ENOENT)" "print(tryit(lambda: read('$DATA/global/pg_control')))"
attack read_table_file "$(out FileNotFoundError:ENOENT)" "print(tryit(lambda: read('$TABLE_FILE')))"
attack list_data_dir "$(out FileNotFoundError:ENOENT)" "print(tryit(lambda: os.listdir('$DATA')))"
attack read_other_workspace "$(out FileNotFoundError:ENOENT)" "print(tryit(lambda: read('$WS_B/private.txt')))" "$SA"
attack other_workspace_relative "$(out FileNotFoundError:ENOENT)" "print(tryit(lambda: read('../$SB/private.txt')))" "$SA"
attack read_etc_shadow "$(out FileNotFoundError:ENOENT)" "print(tryit(lambda: read('/etc/shadow')))"
attack list_root_home "$(out FileNotFoundError:ENOENT)" "print(tryit(lambda: os.listdir('/root')))"
attack root_has_only_the_sandbox \
  '.status == "completed" and (.stdout | fromjson | (index("var") == null and index("home") == null and index("root") == null and index("run") == null and index("sys") == null and index("workspace") != null))' \
  "import json; print(json.dumps(sorted(os.listdir('/'))))"
attack etc_passwd_is_generated "$(out 'root,sandbox,nobody')" "print(','.join(l.split(':')[0] for l in open('/etc/passwd')))"
attack api_key_file "$(out FileNotFoundError:ENOENT)" "print(tryit(lambda: read('$PI_HOME_DIR/api_key')))"
attack proc_shows_only_the_run "$(out '[1]')" "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))"
attack proc_1_environ_no_secrets \
  ".status == \"completed\" and (.stdout | test(\"PGDATA|PGPORT|API_KEY|$SECRET\") | not) and (.stdout | test(\"^(OK:|PermissionError:EACCES)\"))" \
  "print(tryit(lambda: read('/proc/1/environ')))"
attack postmaster_environ "$(out FileNotFoundError:ENOENT)" "print(tryit(lambda: read('/proc/$PM_PID/environ')))"
attack environment_is_fixed \
  ".status == \"completed\" and (.stdout | fromjson | (map(test(\"^PG|API_KEY|DATABASE_URL\")) | any | not) and (index(\"OPENBLAS_NUM_THREADS\") != null)) and (.stdout | contains(\"$SECRET\") | not)" \
  "import json; print(json.dumps(sorted(os.environ)))"
attack var_run_postgresql "$(out FileNotFoundError:ENOENT)" "print(tryit(lambda: os.listdir('/var/run/postgresql')))"
attack sys_absent "$(out FileNotFoundError:ENOENT)" "print(tryit(lambda: os.listdir('/sys')))"
attack dev_is_minimal "$(out 'FileNotFoundError:ENOENT FileNotFoundError:ENOENT FileNotFoundError:ENOENT')" \
  "print(tryit(lambda: read('/dev/mem')), tryit(lambda: read('/dev/sda')), tryit(lambda: read('/dev/kmsg')))"

echo "# --- writing outside the workspace"
attack write_usr "$(out OSError:EROFS)" "print(tryit(lambda: write('/usr/pwned')))"
attack write_etc_passwd "$(out OSError:EROFS)" "print(tryit(lambda: write('/etc/passwd')))"
attack write_root_dir "$(out OSError:EROFS)" "print(tryit(lambda: write('/pwned')))"
attack write_proc_sys "$(out OSError:EROFS)" "print(tryit(lambda: write('/proc/sys/kernel/hostname', b'pwned')))"
attack write_sysrq_trigger '.stdout == "OSError:EROFS\n" or .stdout == "FileNotFoundError:ENOENT\n"' "print(tryit(lambda: write('/proc/sysrq-trigger', b'b')))"
attack write_host_tmp_path "$(out FileNotFoundError:ENOENT)" "print(tryit(lambda: write('$PI_TEST_DIR/pwned')))"
check host_test_dir_unchanged '[ ! -e "$PI_TEST_DIR/pwned" ]'
attack private_tmp "$(out 'OK:None')" "print(tryit(lambda: write('/tmp/pi-escape-$RAND', b'y')))"
check host_tmp_has_nothing '[ ! -e "/tmp/pi-escape-$RAND" ]'
attack remount_root_rw "$(out EPERM)" "print(sc(165, 0, ctypes.cast(ctypes.c_char_p(b'/'), ctypes.c_void_p).value, 0, 0x1000|0x20, 0))"
attack umount_workspace "$(out EPERM)" "print(sc(166, ctypes.cast(ctypes.c_char_p(b'/workspace'), ctypes.c_void_p).value, 2))"
attack chroot_out "$(out PermissionError:EPERM)" "os.makedirs('/tmp/c', exist_ok=True); print(tryit(lambda: os.chroot('/tmp/c')))"
attack mknod_block_device "$(out PermissionError:EPERM)" "import stat; print(tryit(lambda: os.mknod('/tmp/sda', stat.S_IFBLK | 0o600, os.makedev(8, 0))))"
attack open_by_handle_at "$(out EPERM)" "print(sc(304, 0xffffff9c, 0, 0))"
attack write_uid_map '.stdout == "OSError:EROFS\n" or .stdout == "PermissionError:EPERM\n"' "print(tryit(lambda: write('/proc/self/uid_map', b'0 0 1')))"

echo "# --- links planted in the workspace"
attack plant_links "$(out planted)" "
os.symlink('$DATA/postgresql.conf', 'conf_link')
os.symlink('/etc/passwd', 'passwd_link')
os.symlink('$DATA', 'data_link')
os.symlink('$PI_TEST_DIR/pwned_via_link', 'write_link')
os.symlink('/', 'root_link')
os.symlink('$DATA/postgresql.conf', 'data.csv')
print('planted')" "$SA"
attack follow_link_later_run "$(out FileNotFoundError:ENOENT)" "print(tryit(lambda: read('conf_link')))" "$SA"
attack follow_root_link_later_run \
  '.status == "completed" and (.stdout | fromjson | (index("workspace") != null and index("home") == null and index("var") == null))' \
  "import json; print(json.dumps(os.listdir('root_link')))" "$SA"
r=$(pi_sql "SELECT encode(pi.read_file('$SA', 'passwd_link'), 'escape')" 2>&1)
if [[ $r == *ERROR* ]] && [[ $r != *root:x:0* ]]; then pass read_file_refuses_symlink; else fail read_file_refuses_symlink "$r"; fi
r=$(pi_sql "SELECT encode(pi.read_file('$SA', 'data_link/postgresql.conf'), 'escape')" 2>&1)
if [[ $r == *ERROR* ]] && [[ $r != *listen_addresses* ]]; then pass read_file_refuses_dir_link; else fail read_file_refuses_dir_link "$r"; fi
r=$(pi_sql "SELECT encode(pi.read_file('$SA', '../$SB/private.txt'), 'escape')" 2>&1)
if [[ $r == *ERROR* ]] && [[ $r != *victim* ]]; then pass read_file_refuses_traversal; else fail read_file_refuses_traversal "$r"; fi
r=$(pi_sql "SELECT pi.write_file('$SA', 'write_link', 'pwned'::bytea)" 2>&1)
if [[ $r == *ERROR* ]] && [ ! -e "$PI_TEST_DIR/pwned_via_link" ]; then pass write_file_refuses_symlink; else fail write_file_refuses_symlink "$r"; fi
r=$(pi_sql "SELECT pi.delete_file('$SA', 'data_link/postgresql.conf')" 2>&1)
if [[ $r == *ERROR* || $r == f ]] && [ -f "$DATA/postgresql.conf" ]; then pass delete_file_refuses_dir_link; else fail delete_file_refuses_dir_link "$r"; fi
# pi.load_csv through a link: refused at the call, or its job fails; no dataset
r=$(pi_sql "SELECT pi.load_csv('data.csv', 'leak_$RAND', '$SA')" 2>&1)
if [[ $r != *ERROR* ]]; then
  wait_sql 30 "SELECT pi.job_status('$r')->>'status' IN ('failed','completed','cancelled')" t
  st=$(pi_sql "SELECT pi.job_status('$r')->>'status'" 2>&1)
else st=refused; fi
n=$(pi_sql "SELECT count(*) FROM pi.list_datasets() d WHERE d::text LIKE '%leak_$RAND%'" 2>&1)
if { [ "$st" = refused ] || [ "$st" = failed ]; } && [ "$n" = 0 ]; then pass load_csv_refuses_symlink; else fail load_csv_refuses_symlink "$st $n $r"; fi
r=$(pi_sql "SELECT pi.load_csv('../../postgresql.conf', 'leak2_$RAND', '$SA')" 2>&1)
if [[ $r != *ERROR* ]]; then
  wait_sql 30 "SELECT pi.job_status('$r')->>'status' IN ('failed','completed','cancelled')" t
  st=$(pi_sql "SELECT pi.job_status('$r')->>'status'" 2>&1)
else st=refused; fi
if [ "$st" = refused ] || [ "$st" = failed ]; then pass load_csv_refuses_traversal; else fail load_csv_refuses_traversal "$st $r"; fi
attack hard_link_to_host_file "$(out OSError:EXDEV)" "print(tryit(lambda: os.link('/usr/bin/python3.11', 'py_hardlink')))" "$SA"
attack hard_link_etc "$(out OSError:EXDEV)" "print(tryit(lambda: os.link('/etc/passwd', 'pw_hardlink')))" "$SA"
r=$(pi_sql "SELECT string_agg(path, ',' ORDER BY path) FROM pi.list_files('$SA')" 2>&1)
if [[ $r != *postgresql.conf* ]] && [[ $r != *pg_control* ]]; then pass list_files_does_not_follow_links; else fail list_files_does_not_follow_links "$r"; fi

echo "# --- special files a run leaves in its workspace (rule 10: no server process blocks on them)"
# Each call runs in ONE backend under statement_timeout 5s and `timeout 20`:
# a server that blocks in open() on a FIFO ignores both timeout and cancel,
# so a regression fails here instead of hanging the suite.  Devices are not
# tested: the sandbox cannot make one (mknod_block_device above; the
# workspace is mounted nodev).
wanted() { [ -z "${ONLY:-}" ] || [[ $1 =~ $ONLY ]]; }
SF=$(pi_sql "SELECT pi.create_session('specials')")
WS_F=$DATA/pi_workspaces/$SF
[ -d "$WS_F" ] || WS_F=$(find "$DATA" -maxdepth 3 -type d -name "$SF" | head -n 1)
# sql_timed NAME SQL: SQL and then "SELECT 'backend alive'" in one backend;
# output (errors too) in $OUT/NAME.out, the time taken in $MS
sql_timed() {
  local t0
  t0=$(date +%s%N)
  printf "SET statement_timeout = '5s';\n%s\nSELECT 'backend alive';\n" "$2" |
    as_pg timeout 20 "$PI_PGBIN/psql" -X -A -t -q -h "$PI_TEST_DIR" -p "$PI_TEST_PORT" \
      -d "$PI_TEST_DB" >"$OUT/$1.out" 2>&1
  MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
# unjam: open every FIFO of the workspace for reading and writing at once
# (never blocks), which frees any process a regression left blocked in open()
unjam() {
  local f
  for f in $(find "$WS_F" -type p 2>/dev/null); do
    as_pg timeout 2 bash -c 'exec 3<>"$1"; sleep 0.2' _ "$f" 2>/dev/null
  done
}
# refused_fast NAME KIND SQL: the call fails within 3 s with an error that
# says the file is KIND, and the same backend answers afterwards
refused_fast() {
  wanted "$1" || return 0
  sql_timed "$1" "$3"
  if [ "$MS" -lt 3000 ] && grep -q "ERROR: .* is $2, not a regular file" "$OUT/$1.out" &&
     grep -q "^HINT: .*pi.delete_file" "$OUT/$1.out" && grep -qx 'backend alive' "$OUT/$1.out"; then
    pass "$1"
  else
    fail "$1" "$MS ms: $(head -c 500 "$OUT/$1.out" | tr '\n' ' ')"
  fi
  unjam
}
attack plant_special_files "$(out 'planted PermissionError:EPERM')" "
import stat
os.mkfifo('report.csv'); os.mkfifo('notes.txt')
socket.socket(socket.AF_UNIX).bind('socket.csv')
os.mkdir('sub'); os.mkfifo('sub/deep.csv')
write('real.csv', b'a,b\n1,2\n')
write('swap.csv', b'a,b\n1,2\n')
print('planted', tryit(lambda: os.mknod('device.csv', stat.S_IFCHR | 0o600, os.makedev(1, 3))))" "$SF"
check special_files_on_disk '[ -p "$WS_F/report.csv" ] && [ -S "$WS_F/socket.csv" ] && [ ! -e "$WS_F/device.csv" ]'
refused_fast read_file_fifo "a FIFO" "SELECT pi.read_file('$SF', 'report.csv');"
refused_fast read_file_fifo_in_folder "a FIFO" "SELECT pi.read_file('$SF', 'sub/deep.csv');"
refused_fast read_file_socket "a socket" "SELECT pi.read_file('$SF', 'socket.csv');"
refused_fast read_file_fifo_range "a FIFO" "SELECT pi.read_file('$SF', 'report.csv', 10, 5);"
refused_fast append_file_fifo "a FIFO" "SELECT pi.write_file('$SF', 'notes.txt', 'more', true);"
refused_fast append_file_socket "a socket" "SELECT pi.write_file('$SF', 'socket.csv', 'more', true);"
refused_fast write_file_over_fifo "a FIFO" "SELECT pi.write_file('$SF', 'report.csv', 'new');"
refused_fast load_csv_fifo "a FIFO" "SELECT pi.load_csv('report.csv', 'fifo_$RAND', '$SF');"
refused_fast load_csv_socket "a socket" "SELECT pi.load_csv('socket.csv', 'sock_$RAND', '$SF');"
check special_files_left_alone '[ -p "$WS_F/report.csv" ] && [ -p "$WS_F/notes.txt" ] && [ -S "$WS_F/socket.csv" ]'

# a FIFO planted under the temporary name pi.write_file writes to first
if wanted write_file_temp_name_fifo; then
  sql_timed write_file_temp_name_fifo "SELECT pg_backend_pid() AS pid \\gset
SELECT pi.execute(format('import os; os.mkfifo(\".t.txt.pi-upload-%s\")', :pid), 30, '$SF')->>'status';
SELECT pi.write_file('$SF', 't.txt', 'fresh')->>'size';"
  if [ "$MS" -lt 8000 ] && [ "$(as_pg cat "$WS_F/t.txt" 2>/dev/null)" = fresh ] &&
     ! grep -q ERROR "$OUT/write_file_temp_name_fifo.out" && [ -z "$(ls -A "$WS_F" | grep pi-upload)" ]; then
    pass write_file_temp_name_fifo
  else
    fail write_file_temp_name_fifo "$MS ms: $(head -c 500 "$OUT/write_file_temp_name_fifo.out" | tr '\n' ' ')"
  fi
  unjam
fi

# a FIFO swapped in after pi.load_csv checked the file: the job is visible
# to the workers only at COMMIT, so the swap inside the transaction always
# comes before the worker opens the file
if wanted load_csv_fifo_swapped; then
  sql_timed load_csv_fifo_swapped "BEGIN;
SELECT pi.load_csv('swap.csv', 'swap_$RAND', '$SF') AS job \\gset
SELECT pi.execute('import os; os.remove(\"swap.csv\"); os.mkfifo(\"swap.csv\")', 30, '$SF')->>'status';
COMMIT;
SELECT :'job';"
  JOB=$(grep -Eo '^[0-9a-f-]{36}$' "$OUT/load_csv_fifo_swapped.out" | tail -n 1)
  if [ -n "$JOB" ] && wait_sql 20 "SELECT pi.job_status('$JOB')->>'status' IN ('failed','completed','cancelled','timeout')" t; then
    r=$(pi_sql "SELECT pi.job_status('$JOB')::text || pi.job_result('$JOB')::text" 2>&1)
    if [[ $r == *'"status": "failed"'* ]] && [[ $r == *"is a FIFO"* ]] && [ -p "$WS_F/swap.csv" ]; then
      pass load_csv_fifo_swapped
    else fail load_csv_fifo_swapped "$r"; fi
  else
    fail load_csv_fifo_swapped "job '$JOB' still $(pi_sql "SELECT pi.job_status('$JOB')->>'status'" 2>&1) after 20 s: $(head -c 300 "$OUT/load_csv_fifo_swapped.out" | tr '\n' ' ')"
  fi
  unjam
  # the workers are free: a load of a regular file goes through
  J2=$(pi_sql "SELECT pi.load_csv('real.csv', 'real_$RAND', '$SF')" 2>&1)
  if wait_sql 30 "SELECT pi.job_status('$J2')->>'status'" completed; then pass load_after_fifo_completes
  else fail load_after_fifo_completes "$J2 $(pi_sql "SELECT pi.job_status('$J2')" 2>&1)"; fi
fi

if wanted list_files_with_special_files; then
  sql_timed list_files_with_special_files "SELECT string_agg(path, ',' ORDER BY path) FROM pi.list_files('$SF');"
  if [ "$MS" -lt 3000 ] && grep -Eq '^(.*,)?real\.csv(,.*)?$' "$OUT/list_files_with_special_files.out" &&
     ! grep -q 'report.csv\|socket.csv\|deep.csv\|ERROR' "$OUT/list_files_with_special_files.out"; then
    pass list_files_with_special_files
  else fail list_files_with_special_files "$MS ms: $(head -c 300 "$OUT/list_files_with_special_files.out" | tr '\n' ' ')"; fi
fi
if wanted delete_special_files; then
  sql_timed delete_special_files "SELECT pi.delete_file('$SF', 'report.csv') AND pi.delete_file('$SF', 'socket.csv') AND pi.delete_file('$SF', 'sub/deep.csv');"
  if [ "$MS" -lt 3000 ] && grep -qx t "$OUT/delete_special_files.out" &&
     [ ! -e "$WS_F/report.csv" ] && [ ! -e "$WS_F/socket.csv" ] && [ ! -e "$WS_F/sub/deep.csv" ]; then
    pass delete_special_files
  else fail delete_special_files "$MS ms: $(head -c 300 "$OUT/delete_special_files.out" | tr '\n' ' ')"; fi
fi
# pi.delete_file of a missing file used to keep its two descriptors: the
# ninth such call in one transaction failed with "too many workspace files"
if wanted delete_missing_file_keeps_no_descriptor; then
  r=$(pi_sql "SELECT count(*) FROM generate_series(1, 40) g WHERE pi.delete_file('$SF', 'missing' || g)" 2>&1)
  if [ "$r" = 0 ]; then pass delete_missing_file_keeps_no_descriptor
  else fail delete_missing_file_keeps_no_descriptor "$r"; fi
fi
# a lease taken by the session's live kernel: an open for writing used to
# wait for the lease break (lease-break-time, 45 s), deaf to statement_timeout
attack take_lease "$(out 'lease taken')" "
import fcntl
write('leased.csv', b'a,b\n1,2\n')
leased_file = open('leased.csv', 'r')
fcntl.fcntl(leased_file, fcntl.F_SETLEASE, fcntl.F_RDLCK)
print('lease taken')" "$SF"
if wanted append_file_leased; then
  sql_timed append_file_leased "SELECT pi.write_file('$SF', 'leased.csv', 'x', true);"
  if [ "$MS" -lt 3000 ] && grep -q 'ERROR: .*holds a lease on it' "$OUT/append_file_leased.out" &&
     grep -qx 'backend alive' "$OUT/append_file_leased.out"; then
    pass append_file_leased
  else
    fail append_file_leased "$MS ms: $(head -c 500 "$OUT/append_file_leased.out" | tr '\n' ' ')"
  fi
fi
attack release_lease "$(out released)" "leased_file.close(); print('released')" "$SF"
healthy after_special_files

echo "# --- what a closed session leaves on disk"
SD=$(pi_sql "SELECT pi.create_session('deep')")
WS_D=$DATA/pi_workspaces/$SD
[ -d "$WS_D" ] || WS_D=$(find "$DATA" -maxdepth 3 -type d -name "$SD" | head -n 1)
attack deep_folders_made "$(out 'made 150')" "
d = '.'
for i in range(150):
    d = os.path.join(d, 'level%03d' % i)
os.makedirs(d)
write(d + '/bottom.txt'); os.mkfifo(d + '/bottom.fifo')
os.makedirs('locked/inner'); write('locked/inner/f')
os.makedirs(os.path.join(d, 'locked_deep')); write(os.path.join(d, 'locked_deep', 'f'))
os.chmod(os.path.join(d, 'locked_deep'), 0)
os.chmod('locked', 0)
print('made', d.count('/'))" "$SD"
DEEPEST=$WS_D$(for i in $(seq 0 149); do printf '/level%03d' "$i"; done)
check deep_folders_on_disk '[ -f "$DEEPEST/bottom.txt" ] && [ -p "$DEEPEST/bottom.fifo" ]'
r=$(pi_sql "SELECT pi.close_session('$SD')" 2>&1)
check close_session_removes_deep_workspace "[ '$r' = t ] && [ -n '$WS_D' ] && [ ! -e '$WS_D' ]"

echo "# --- network"
attack tcp_to_cluster_port "$(out ConnectionRefusedError:ECONNREFUSED)" "print(tryit(lambda: socket.create_connection(('127.0.0.1', $PORT), timeout=3)))"
attack tcp_to_5432 "$(out ConnectionRefusedError:ECONNREFUSED)" "print(tryit(lambda: socket.create_connection(('127.0.0.1', 5432), timeout=3)))"
attack tcp_to_internet "$(out OSError:ENETUNREACH)" "print(tryit(lambda: socket.create_connection(('1.1.1.1', 443), timeout=3)))"
attack tcp_to_private_net "$(out OSError:ENETUNREACH)" "print(tryit(lambda: socket.create_connection(('10.0.0.1', 80), timeout=3)))"
attack tcp6_to_internet "$(out OSError:ENETUNREACH)" "print(tryit(lambda: socket.create_connection(('2606:4700:4700::1111', 443), timeout=3)))"
attack udp_dns_query "$(out OSError:ENETUNREACH)" "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); print(tryit(lambda: s.sendto(b'\\x00' * 12, ('8.8.8.8', 53))))"
attack dns_resolution \
  '.status == "completed" and (.stdout | startswith("gaierror:"))' \
  "print(tryit(lambda: socket.getaddrinfo('example.com', 80)))"
attack only_loopback_interface "$(out "['lo']")" "print([l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]])"
# seccomp: families other than UNIX/INET/INET6 -> EAFNOSUPPORT; SOCK_RAW of any family -> EPERM
attack af_packet "$(out 'OSError:EAFNOSUPPORT PermissionError:EPERM')" "print(tryit(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)), tryit(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)))"
attack af_netlink "$(out 'OSError:EAFNOSUPPORT PermissionError:EPERM')" "print(tryit(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 0)), tryit(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)))"
attack af_vsock_and_alg "$(out 'OSError:EAFNOSUPPORT OSError:EAFNOSUPPORT')" "print(tryit(lambda: socket.socket(40, socket.SOCK_STREAM, 0)), tryit(lambda: socket.socket(38, socket.SOCK_SEQPACKET, 0)))"
attack raw_socket "$(out PermissionError:EPERM)" "print(tryit(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)))"
attack raw_socket_syscall "$(out EPERM)" "print(sc(41, 2, 3, 1))"
attack netlink_socket_syscall "$(out EAFNOSUPPORT)" "print(sc(41, 16, 2, 0))"
# an abstract Unix socket of the host: abstract names live in the network namespace
ABSTRACT="pi-escape-abstract-$RAND"
as_pg python3 -c "
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind('\0$ABSTRACT'); s.listen(1); s.settimeout(8)
try:
    s.accept(); open('$OUT/abstract_connected', 'w').write('yes')
except socket.timeout:
    pass" &
LISTENER=$!
# attack only once the name is bound: before that ECONNREFUSED proves nothing
wait_until 10 grep -q "@$ABSTRACT\$" /proc/net/unix || fail "host abstract socket listening" "$ABSTRACT never appeared in /proc/net/unix"
attack host_abstract_unix_socket "$(out ConnectionRefusedError:ECONNREFUSED)" "s = socket.socket(socket.AF_UNIX); print(tryit(lambda: s.connect('\\0$ABSTRACT')))"
kill $LISTENER 2>/dev/null; wait $LISTENER 2>/dev/null
check host_abstract_socket_saw_nobody '[ ! -e "$OUT/abstract_connected" ]'
attack postgres_unix_socket "$(out FileNotFoundError:ENOENT)" "s = socket.socket(socket.AF_UNIX); print(tryit(lambda: s.connect('$PI_TEST_DIR/.s.PGSQL.$PORT')))"
attack executor_unix_socket "$(out FileNotFoundError:ENOENT)" "s = socket.socket(socket.AF_UNIX); print(tryit(lambda: s.connect('$DATA/pi_executor.sock')))"
attack if_nameindex_netlink "$(out PermissionError:EPERM)" "print(tryit(lambda: socket.if_nameindex()))"

echo "# --- processes and resources"
attack fork_bomb \
  '.status == "completed" and (.stdout | test("^BlockingIOError:EAGAIN after [0-9]+\n$")) and ((.stdout | capture("after (?<n>[0-9]+)").n | tonumber) < 260)' \
  "import time
n = 0
while True:
    try:
        pid = os.fork()
    except OSError as e:
        print('%s:%s after %d' % (type(e).__name__, _e.errorcode[e.errno], n)); break
    if pid == 0:
        time.sleep(60); os._exit(0)
    n += 1" "" 60
healthy after_fork_bomb
attack thread_bomb \
  '.status == "completed" and (.stdout | test("^RuntimeError after [0-9]+\n$")) and ((.stdout | capture("after (?<n>[0-9]+)").n | tonumber) < 260)' \
  "import threading, time
ev = threading.Event(); n = 0
while True:
    try:
        threading.Thread(target=ev.wait, daemon=True).start(); n += 1
    except RuntimeError:
        print('RuntimeError after %d' % n); break
ev.set()" "" 60
attack memory_bytearray '.status == "failed" and .error.type == "MemoryLimitExceeded" and (.error.message | contains("768 MB"))' "b = bytearray(10**10)"
attack memory_list '.status == "failed" and .error.type == "MemoryLimitExceeded"' "x = []
while True:
    x.append(bytearray(10**6))"
attack memory_numpy '.status == "failed" and .error.type == "MemoryLimitExceeded"' "import numpy as np; a = np.ones(10**10)"
attack memory_mmap "$(out OSError:ENOMEM)" "import mmap; print(tryit(lambda: mmap.mmap(-1, 10**10)))"
# files of 40 MB: each stays under pi.max_file_size_mb (50), the tmpfs cap stops them
FILL="
def fill(d):
    def go():
        for n in range(10**4):
            with open('%s/fill%d' % (d, n), 'wb') as f:
                for i in range(40): f.write(b'x' * 2**20)
    return go
"
attack dev_shm_fill "$(out 'OSError:ENOSPC 64')" "$FILL
r = tryit(fill('/dev/shm')); print(r, round(os.statvfs('/dev/shm').f_blocks * os.statvfs('/dev/shm').f_frsize / 2**20))"
attack tmp_fill "$(out 'OSError:ENOSPC 512')" "$FILL
r = tryit(fill('/tmp')); print(r, round(os.statvfs('/tmp').f_blocks * os.statvfs('/tmp').f_frsize / 2**20))" "" 60
# tmpfs pages are invisible to RLIMIT_AS: only the memory cgroup stops this
attack tmpfs_plus_heap_cgroup \
  '.status == "failed" and .error.type == "MemoryLimitExceeded" and (.error.message | contains("768 MB"))' \
  "
for n in range(12):
    with open('/tmp/fill%d' % n, 'wb') as f:
        for i in range(40): f.write(b'x' * 2**20)
with open('/dev/shm/fill', 'wb') as f:
    for i in range(40): f.write(b'x' * 2**20)
x = []
for i in range(600): x.append(b'y' * 2**20)
print('not stopped')" "" 60
healthy after_memory_bombs
attack workspace_file_size '.status == "failed" and .error.type == "FileSizeLimitExceeded"' "
with open('big.bin', 'wb') as f:
    for i in range(100): f.write(b'x' * 2**20)" "$SA"
rm -f "$WS_A/big.bin"
attack output_flood '.status == "completed" and .stdout_truncated == true and (.stdout | length) < 2000000' "
for i in range(100): sys.stdout.write('x' * 10**6)" "" 60
attack infinite_loop '.status == "timeout" and .error.type == "TimeoutError" and .elapsed_ms < 6000' "while True: pass" "" 2
attack sleep_past_timeout '.status == "timeout" and .elapsed_ms < 6000' "import time; time.sleep(100)" "" 2
MARK=$((3000 + RANDOM % 1000)).$RAND
attack double_fork_daemon "$(out started)" "
import time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv('/bin/sleep', ['sleep', '$MARK'])
    os._exit(0)
time.sleep(0.3); print('started')"
sleep 0.5
check double_fork_daemon_did_not_survive no_survivors "sleep $MARK"
MARK2=$((4000 + RANDOM % 1000)).$RAND
attack new_process_group_past_timeout '.status == "timeout"' "
import time, subprocess
subprocess.Popen(['/bin/sleep', '$MARK2'], start_new_session=True)
time.sleep(100)" "" 2
sleep 0.5
check process_group_escape_did_not_survive no_survivors "sleep $MARK2"
attack ptrace_sibling "$(out 'PermissionError:EPERM')" "
import time
pid = os.fork()
if pid == 0:
    time.sleep(30); os._exit(0)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
r = libc.ptrace(16, pid, None, None)
print('PermissionError:' + _e.errorcode[ctypes.get_errno()] if r < 0 else 'attached')
os.kill(pid, 9)"
attack kill_minus_one "$(out 'ProcessLookupError:ESRCH alive')" "import signal; print(tryit(lambda: os.kill(-1, signal.SIGKILL)), 'alive')"
attack kill_zygote "$(out ProcessLookupError:ESRCH)" "print(tryit(lambda: os.kill($Z0, 9)))"
attack kill_postmaster "$(out ProcessLookupError:ESRCH)" "print(tryit(lambda: os.kill($PM_PID, 9)))"
attack kill_pid1_self "$(out alive)" "import signal; os.kill(1, signal.SIGTERM); os.kill(1, signal.SIGKILL); print('alive')"
check zygote_unchanged '[ "$(ZYGOTE_PID)" = "$Z0" ] && kill -0 "$PM_PID"'
# a run is the OOM killer's first choice (oom_score_adj 1000, set before
# the sandbox) and cannot change that: its /proc is read-only
attack oom_score_first "$(out '1000 OSError:EROFS 1000 OSError:EROFS 1000')" "adj = lambda: open('/proc/self/oom_score_adj').read().strip()
first = adj()
lowered = tryit(lambda: write('/proc/self/oom_score_adj', b'0'))
print(first, lowered, adj(), tryit(lambda: write('/proc/self/oom_score_adj', b'-1000')), adj())"
attack setuid_binary \
  '.status == "completed" and (.stdout | test("^nosuid nnp=1 rc=[1-9][0-9]*\n$"))' \
  "import subprocess, stat
assert os.stat('/usr/bin/mount').st_mode & stat.S_ISUID
nnp = [l.split()[1] for l in open('/proc/self/status') if l.startswith('NoNewPrivs')][0]
opts = [l.split()[5] for l in open('/proc/self/mountinfo') if l.split()[4] == '/usr'][0]
r = subprocess.run(['/usr/bin/mount', '-t', 'tmpfs', 'x', '/tmp'], capture_output=True)
print('nosuid' if 'nosuid' in opts else opts, 'nnp=' + nnp, 'rc=%d' % r.returncode)"
attack no_capabilities "$(out 'CapInh:0 CapPrm:0 CapEff:0 CapBnd:0 CapAmb:0 Seccomp:2')" \
  "print(' '.join('%s%d' % (l.split()[0], int(l.split()[1], 16)) for l in open('/proc/self/status') if l.startswith(('Cap', 'Seccomp:'))))"

echo "# --- raw system calls through ctypes"
attack sc_mount "$(out EPERM)" "print(sc(165, 0, 0, 0, 0, 0))"
attack sc_unshare_user "$(out EPERM)" "print(sc(272, 0x10000000))"
attack sc_unshare_mount "$(out EPERM)" "print(sc(272, 0x00020000))"
attack sc_setns "$(out EPERM)" "fd = os.open('/proc/self/ns/user', os.O_RDONLY); print(sc(308, fd, 0))"
attack sc_clone_newuser "$(out EPERM)" "print(sc(56, 0x10000000 | 17, 0, 0, 0, 0))"
attack sc_bpf "$(out EPERM)" "print(sc(321, 0, 0, 0))"
attack sc_ptrace_traceme "$(out EPERM)" "print(sc(101, 0, 0, 0, 0))"
attack sc_io_uring_setup "$(out ENOSYS)" "buf = ctypes.create_string_buffer(120); print(sc(425, 4, ctypes.addressof(buf)))"
attack sc_keyctl "$(out EPERM)" "print(sc(250, 0, 0, 0, 0, 0))"
attack sc_add_key "$(out EPERM)" "print(sc(248, 0, 0, 0, 0, 0))"
attack sc_perf_event_open "$(out EPERM)" "buf = ctypes.create_string_buffer(128); print(sc(298, ctypes.addressof(buf), 0, 0xffffffffffffffff, 0xffffffffffffffff, 0))"
attack sc_userfaultfd "$(out EPERM)" "print(sc(323, 0))"
attack sc_init_module "$(out EPERM)" "print(sc(175, 0, 0, 0))"
attack sc_kexec_load "$(out EPERM)" "print(sc(246, 0, 0, 0, 0))"
attack sc_process_vm_readv "$(out EPERM)" "print(sc(310, 1, 0, 0, 0, 0, 0))"
attack sc_personality_no_aslr "$(out EPERM)" "print(sc(135, 0x0040000))"
attack sc_socket_high_bits_family "$(out EAFNOSUPPORT)" "print(sc(41, (1 << 32) | 1, 1, 0))"
attack tiocsti "$(out EPERM)" "print(sc(16, 1, 0x5412, ctypes.addressof(ctypes.create_string_buffer(b'x'))))"
attack tiocsti_high_bits "$(out EPERM)" "print(sc(16, 1, (1 << 32) | 0x5412, ctypes.addressof(ctypes.create_string_buffer(b'x'))))"

echo "# --- files the workspace quota cannot see"
# An O_TMPFILE file has no name, so the quota's walk of the workspace never
# counts it: open/openat with the bit answer EOPNOTSUPP (Python names it
# ENOTSUP: the same errno 95), openat2 (flags in memory) ENOSYS.
notsup() { printf '.status == "completed" and (.stdout | test("^%s(ENOTSUP|EOPNOTSUPP)\\n$"))' "${1:-}"; }
attack o_tmpfile_workspace "$(notsup OSError:)" "print(tryit(lambda: os.open('.', os.O_TMPFILE | os.O_WRONLY, 0o600)))" "$SA"
attack o_tmpfile_tmp "$(notsup OSError:)" "print(tryit(lambda: os.open('/tmp', os.O_TMPFILE | os.O_RDWR, 0o600)))"
attack o_tmpfile_linkat "$(notsup OSError:)" "print(tryit(lambda: os.link('/proc/self/fd/%d' % os.open('.', os.O_TMPFILE | os.O_WRONLY, 0o600), 'named')))" "$SA"
attack o_tmpfile_raw_open "$(notsup)" "print(sc(2, ctypes.addressof(ctypes.create_string_buffer(b'/workspace')), os.O_TMPFILE | os.O_RDWR, 0o600))" "$SA"
# flags is an int: bits above 31 are ignored by the kernel and must not hide the bit
attack o_tmpfile_openat_high_bits "$(notsup)" "print(sc(257, (1 << 64) - 100, ctypes.addressof(ctypes.create_string_buffer(b'.')), (1 << 32) | os.O_TMPFILE | os.O_RDWR, 0o600))" "$SA"
attack openat2_enosys "$(out ENOSYS)" "
how = ctypes.create_string_buffer(24); ctypes.c_uint64.from_buffer(how, 0).value = os.O_TMPFILE | os.O_RDWR; ctypes.c_uint64.from_buffer(how, 8).value = 0o600
print(sc(437, (1 << 64) - 100, ctypes.addressof(ctypes.create_string_buffer(b'.')), ctypes.addressof(how), 24))" "$SA"
# what uses O_TMPFILE falls back to a named file, and still works
attack tempfile_still_works "$(out 'x y z True []')" "
import tempfile
with tempfile.TemporaryFile() as f: f.write(b'x'); f.seek(0); a = f.read().decode()
with tempfile.TemporaryFile(dir='.') as f: f.write(b'y'); f.seek(0); b = f.read().decode()
with tempfile.NamedTemporaryFile(dir='.') as f:
    f.write(b'z'); f.flush(); c = open(f.name).read(); named = os.path.basename(f.name) in os.listdir('.')
print(a, b, c, named, [n for n in os.listdir('.') if n.startswith('tmp')])" "$SA"
attack open_without_o_tmpfile "$(out 'ok')" "
fd = os.open('plain-open', os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600); os.write(fd, b'ok'); os.close(fd)
print(open('plain-open').read()); os.unlink('plain-open')" "$SA"

. "$HERE/disk.sh"

echo "# --- descriptors and /proc/self"
# 0 /dev/null, 1 stdout, 2 stderr, 3 result channel, 4 the kernel's control
# pipe (read-only: cells come in there); nothing else of the zygote's
attack leaked_descriptors '.status == "completed" and (.stdout | fromjson | (.[0] == "/dev/null" and (.[1:5] | all(startswith("pipe:"))) and length == 6 and .[5] == "fd4 read-only"))' "
import json, fcntl
fds = sorted(int(f) for f in os.listdir('/proc/self/fd'))
links = [os.readlink('/proc/self/fd/%d' % f) for f in fds if os.path.exists('/proc/self/fd/%d' % f) and f != max(fds)]
links.append('fd4 read-only' if fcntl.fcntl(4, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY else 'fd4 writable')
print(json.dumps(links))"
attack proc_self_exe_write \
  '.status == "completed" and (.stdout == "PermissionError:EACCES\n" or .stdout == "OSError:ETXTBSY\n")' \
  "print(tryit(lambda: open('/proc/self/exe', 'r+b')))"
attack proc_self_exe_via_fd \
  '.status == "completed" and (.stdout == "PermissionError:EACCES\n" or .stdout == "OSError:ETXTBSY\n")' \
  "fd = os.open('/proc/self/exe', os.O_PATH); print(tryit(lambda: open('/proc/self/fd/%d' % fd, 'r+b')))"
check host_files_unchanged '[ "$(sum_of "$DATA/postgresql.conf" "$DATA/global/pg_control" "$PI_HOME_DIR/api_key" "$WS_B/private.txt" "$(pg_config --bindir)/pi-executor")" = "$HOST_SUMS0" ]'
attack proc_1_root_is_ours "$(out 'FileNotFoundError:ENOENT')" "print(tryit(lambda: read('/proc/1/root$DATA/postgresql.conf')))"
# Runs are dumpable (jail/privileges.c: the executor reads their open files
# for the quota): a process may read the memory of another of its own run,
# never of anything outside it (its PID namespace shows nothing else)
attack proc_mem_only_within_the_run "$(out 'True FileNotFoundError:ENOENT FileNotFoundError:ENOENT')" "
import time
pid = os.fork()
if pid == 0:
    time.sleep(30); os._exit(0)
with open('/proc/%d/maps' % pid) as f: mapped = len(f.read()) > 0
print(mapped, tryit(lambda: read('/proc/$Z0/maps')), tryit(lambda: read('/proc/$PM_PID/mem')))
os.kill(pid, 9)"

echo "# --- state left for the next run"
attack leave_state "$(out left)" "
import builtins, pandas as pd
builtins.print_orig = print
pd.DataFrame.sum = lambda self, *a, **k: 'poisoned'
os.environ['LEAKED'] = 'yes'
with open('/tmp/leftover', 'w') as f: f.write('x')
with open('/dev/shm/leftover', 'w') as f: f.write('x')
pd.read_csv = None
builtins.open = None
print_orig('left')" "$SA"
attack state_not_visible "$(out '[False, True, None, False, False, False, False]')" "
import builtins, pandas as pd, json
print([hasattr(builtins, 'print_orig'), builtins.open is not None, os.environ.get('LEAKED'),
       os.path.exists('/tmp/leftover'), os.path.exists('/dev/shm/leftover'),
       pd.DataFrame({'a': [1, 2]}).sum().iloc[0] != 3, pd.read_csv is None])" "$SB"

echo "# --- async jobs"
job() {  # job NAME FILTER CODE: submit, wait, check pi.job_result
  local name=$1 filter=$2 code=$3 id
  id=$(printf "SELECT pi.submit_job(:'code', 60);\n" | pi_psql -v code="$PRELUDE$code" 2>&1)
  if ! wait_sql 60 "SELECT pi.job_status('$id')->>'status' IN ('completed','failed','timeout','cancelled')" t; then
    fail "$name" "job $id did not finish"; return
  fi
  pi_sql "SELECT pi.job_result('$id')" >"$OUT/$name.json" 2>&1
  if [ -s "$OUT/$name.json" ] && jq -e "$filter" "$OUT/$name.json" >/dev/null 2>&1; then pass "$name"; else fail "$name" "$(head -c 600 "$OUT/$name.json")"; fi
}
job job_read_pg_control '.stdout == "FileNotFoundError:ENOENT\n"' "print(tryit(lambda: read('$DATA/global/pg_control')))"
job job_tcp_to_cluster '.stdout == "ConnectionRefusedError:ECONNREFUSED\n"' "print(tryit(lambda: socket.create_connection(('127.0.0.1', $PORT), timeout=3)))"
job job_write_host_tmp '.stdout == "FileNotFoundError:ENOENT\n"' "print(tryit(lambda: write('$PI_TEST_DIR/pwned_by_job')))"
check job_host_tmp_unchanged '[ ! -e "$PI_TEST_DIR/pwned_by_job" ]'
job job_fork_bomb '(.stdout | test("^BlockingIOError:EAGAIN"))' "
import time
while True:
    try:
        pid = os.fork()
    except OSError as e:
        print('%s:%s' % (type(e).__name__, _e.errorcode[e.errno])); break
    if pid == 0:
        time.sleep(60); os._exit(0)"
job job_memory_bomb '.error.type == "MemoryLimitExceeded"' "b = bytearray(10**10)"

echo "# --- afterwards"
sleep 1
# a leak of ours is a run-<pid> directory that appeared during the suite,
# whose pid was one of our kernels, and that stays empty
leaked_cgroups() {
  local d
  comm -13 <(echo "$CGROUPS0") <(cgroups_now) | while read -r d; do
    [ -n "$d" ] && grep -qx "${d##*/run-}" "$KERNELS_SEEN" && \
      [ -z "$(cat "$d/cgroup.procs" 2>/dev/null)" ] && echo "$d"
  done
}
L1=$(leaked_cgroups); sleep 1; L2=$(leaked_cgroups)
kill "$SAMPLER" 2>/dev/null
echo "# $(sort -u "$KERNELS_SEEN" | wc -l) kernels of this cluster seen"
LEAKED=$(comm -12 <(echo "$L1") <(echo "$L2") | grep .)
if [ -s "$KERNELS_SEEN" ] && [ -z "$LEAKED" ]; then pass no_run_cgroups_left
else fail no_run_cgroups_left "$(for d in $LEAKED; do printf '%s (made %s) ' "$d" "$(stat -c %y "$d" 2>/dev/null | cut -c12-19)"; done)"; fi
# only this run's unique markers: "sleep 60" may be another run's process
check no_sandbox_process_left '[ -z "$(pgrep -u postgres -f "sleep ($MARK|$MARK2)")" ]'
check zygote_never_restarted '[ "$(ZYGOTE_PID)" = "$Z0" ]'
healthy final_health
echo "# $ATTACKS pi.execute attacks"

# The jail library's own self-test (tests/sandbox/selftest.sh driving
# jail-selftest, no PostgreSQL), as postgres like the executor, from a copy
# postgres can read; its "N passed, M failed" adds to ours.
echo "# --- jail self-test (selftest.sh)"
ROOT=$(cd "$HERE/../.." && pwd)
if make -s -C "$ROOT" -f jail/jail.mk tests/sandbox/jail-selftest >"$OUT/selftest-build.log" 2>&1; then
  ST=$PI_TEST_DIR/selftest
  mkdir -p "$ST" && cp "$HERE/jail-selftest" "$HERE/selftest.sh" "$ST/" && chown -R postgres: "$ST"
  as_pg env SELFTEST="$ST/jail-selftest" bash "$ST/selftest.sh" >"$OUT/selftest.out" 2>&1
  st_rc=$?
  sed 's/^/#   /' "$OUT/selftest.out"
  st_line=$(tail -n 1 "$OUT/selftest.out")
  if [[ "$st_line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    PI_PASSED=$((PI_PASSED + BASH_REMATCH[1])); PI_FAILED=$((PI_FAILED + BASH_REMATCH[2]))
    echo "# jail self-test: $st_line"
    [ "$st_rc" = 0 ] || [ "${BASH_REMATCH[2]}" != 0 ] || fail "jail self-test exit status" "$st_rc"
  else
    fail "jail self-test ran to its summary" "status $st_rc: $(tail -n 3 "$OUT/selftest.out" | tr '\n' ' ')"
  fi
else
  fail "jail self-test builds" "$(tail -n 5 "$OUT/selftest-build.log" | tr '\n' ' ')"
fi
summary
