# tests/lib/cluster.sh: helpers for tests that need a real, throwaway cluster.
# Source it from bash:
#
#   . "$(dirname "$0")/../lib/cluster.sh"
#   pi_cluster_start "pi.max_concurrent_jobs = 4"   # extra postgresql.conf lines
#   check "print works" '[ "$(pi_psql -c "SELECT pi.execute($$print(1)$$)->>$$stdout$$")" = 1 ]'
#   summary            # prints "N passed, M failed"; non-zero when M > 0
#
# The cluster runs as the postgres user (initdb refuses root) in a fresh
# directory under /tmp owned by postgres, listens on 127.0.0.1 and a Unix
# socket in that directory on a free port, and is stopped and removed on exit
# (set PI_KEEP=1 to keep it).  Variables it sets: PI_TEST_DIR, PI_TEST_PORT,
# PI_TEST_DB, PI_TEST_DATA, PI_TEST_LOG.

PI_PGBIN=${PI_PGBIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
[ -x "$PI_PGBIN/initdb" ] || PI_PGBIN=/usr/lib/postgresql/15/bin
PI_TEST_DB=${PI_TEST_DB:-pi_test}
PI_PASSED=${PI_PASSED:-0}
PI_FAILED=${PI_FAILED:-0}
PI_TEST_DIR=
PI_TEST_PORT=

. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/common.sh"

# Print a TCP port on 127.0.0.1 that nobody listens on, below the kernel's
# ephemeral range (32768-60999 by default) so an outgoing connection cannot
# take it between this probe and our bind.  Another test run may still pick
# the same port at the same moment: whoever binds it uses pi_pid_listens (or
# pi_cluster_start's retry) to make sure the listener is its own.
pi_free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$(( 20000 + (RANDOM % 12000) ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  return 1
}

# pi_pid_listens PID PORT: process PID itself holds a listening TCP socket
# on PORT (not some other program that answers there).
pi_pid_listens() {
  local pid=$1 hex inode
  hex=$(printf '%04X' "$2")
  for inode in $(awk -v p=":$hex" '$2 ~ (p "$") && $4 == "0A" { print $10 }'                    /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
    [ -n "$(find "/proc/$pid/fd" -lname "socket:\\[$inode\\]" 2>/dev/null | head -n 1)" ] && return 0
  done
  return 1
}

# pi_gateway_start LOG CMD...: start CMD (a pi-gateway, with its environment
# given through env) in the background on a free port passed as PORT; wait
# until that very process listens there; on a port taken meanwhile, try
# another.  Sets PI_GW_PORT and PI_GW_PID.
pi_gateway_start() {
  local log=$1 try; shift
  for try in 1 2 3 4 5; do
    PI_GW_PORT=$(pi_free_port) || return 1
    PORT=$PI_GW_PORT "$@" >>"$log" 2>&1 &
    PI_GW_PID=$!
    wait_until 10 pi_pid_listens "$PI_GW_PID" "$PI_GW_PORT" && return 0
    kill "$PI_GW_PID" 2>/dev/null; wait "$PI_GW_PID" 2>/dev/null
    echo "# gateway did not listen on port $PI_GW_PORT (try $try)"
  done
  return 1
}

# This cluster's processes, found from its own postmaster.pid down the
# process tree (never by name over the whole machine: other clusters and
# other test runs may be running): postmaster -> "pi launcher" ->
# pi-executor -> kernels.
pi_children() {  # pi_children PID: its child pids
  cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep .
}
pi_postmaster_pid() {
  head -n 1 "$PI_TEST_DATA/postmaster.pid" 2>/dev/null || as_pg head -n 1 "$PI_TEST_DATA/postmaster.pid"
}
pi_launcher_pid() {
  local pm c
  pm=$(pi_postmaster_pid) || return 1
  for c in $(pi_children "$pm"); do
    tr '\0' ' ' <"/proc/$c/cmdline" 2>/dev/null | grep -q 'pi launcher' && { echo "$c"; return 0; }
  done
  return 1
}
pi_executor_pid() {
  local l c
  l=$(pi_launcher_pid) || return 1
  for c in $(pi_children "$l"); do
    [ "$(cat "/proc/$c/comm" 2>/dev/null)" = pi-executor ] && { echo "$c"; return 0; }
  done
  return 1
}
pi_kernel_pids() {  # every kernel (pool and session) of this cluster's executor
  local e z f
  e=$(pi_executor_pid) || return 1
  # the executor (the loop) -> its zygote -> the forkers -> their kernels
  for z in $(pi_children "$e"); do
    for f in $(pi_children "$z"); do pi_children "$f"; done
  done
}
# pi_session_kernel FILE: the kernel whose /workspace holds FILE
pi_session_kernel() {
  local k
  for k in $(pi_kernel_pids); do
    [ -e "/proc/$k/root/workspace/$1" ] && { echo "$k"; return 0; }
  done
  return 1
}
# pi_stale_run_cgroups FILE: run cgroups (v1 memory and pids) left by
# kernels that are gone, of the pids listed in FILE (this cluster's kernels,
# sampled while it ran: other clusters share the parent cgroups)
pi_stale_run_cgroups() {
  local d pid
  for pid in $(sort -u "$1"); do
    kill -0 "$pid" 2>/dev/null && continue
    for d in /sys/fs/cgroup/memory/power_interpreter/run-$pid /sys/fs/cgroup/pids/power_interpreter/run-$pid; do
      [ -d "$d" ] && echo "$d"
    done
  done
  return 0
}
# pi_stray_executors: pi-executor processes of this cluster (working
# directory = its data directory) that are not the launcher's current child
pi_stray_executors() {
  local cur p
  cur=$(pi_executor_pid)
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$cur" ] && continue
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = pi-executor ] || continue
    [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$PI_TEST_DATA" ] && echo "$p"
  done
  return 0
}

# pi_psql ARGS...: psql as postgres against the test database.
pi_psql() {
  as_pg "$PI_PGBIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 \
    -h "$PI_TEST_DIR" -p "$PI_TEST_PORT" -d "$PI_TEST_DB" "$@"
}

# pi_sql 'SQL': one query, output trimmed of trailing newlines.
pi_sql() {
  pi_psql -c "$1"
}

# wait_until SECONDS COMMAND...: poll every 0.2 s until COMMAND succeeds.
wait_until() {
  local limit=$1; shift
  local deadline=$(( $(date +%s%N) + limit * 1000000000 ))
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    [ "$(date +%s%N)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

# wait_sql SECONDS 'SQL' EXPECTED: poll until the query prints EXPECTED.
_pi_sql_is() { [ "$(pi_sql "$1" 2>/dev/null)" = "$2" ]; }
wait_sql() {
  wait_until "$1" _pi_sql_is "$2" "$3"
}

_pi_ready() {
  [ "$(pi_psql -c "SET statement_timeout = '5s'" \
        -c "SELECT pi.execute('print(1)')->>'status'" 2>/dev/null)" = completed ]
}

# pi_wait_ready [SECONDS]: wait until pi.execute answers (default 60 s).
pi_wait_ready() {
  wait_until "${1:-60}" _pi_ready
}

pi_pg_ctl() {
  as_pg "$PI_PGBIN/pg_ctl" -D "$PI_TEST_DATA" -l "$PI_TEST_LOG" "$@"
}

# pi_cgroup_setup: as root, delegate the sandbox's parent cgroups to postgres
# (scripts/cgroup-setup.sh: idempotent, harmless without cgroup v1/v2 memory),
# so runs get a per-run memory + pids cgroup.  Not root: nothing (the
# executor then logs that RLIMIT_AS is the memory limit in force).
pi_cgroup_setup() {
  local script
  script=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/cgroup-setup.sh
  if [ "$(id -u)" = 0 ] && [ -f "$script" ]; then
    bash "$script" postgres >/dev/null 2>&1 || echo "cgroup-setup failed (runs fall back to rlimits)"
  fi
  return 0
}

# pi_cluster_start [CONF_LINE...]: initdb, configure, start, create the
# database and the extension, wait until pi.execute answers.
pi_cluster_start() {
  pi_cgroup_setup
  PI_TEST_DIR=$(mktemp -d /tmp/pi-test.XXXXXX)
  chmod 0755 "$PI_TEST_DIR"
  chown postgres: "$PI_TEST_DIR" 2>/dev/null || sudo -n chown postgres: "$PI_TEST_DIR"
  PI_TEST_DATA=$PI_TEST_DIR/data
  PI_TEST_LOG=$PI_TEST_DIR/postgresql.log
  PI_TEST_PORT=$(pi_free_port)
  trap pi_cluster_cleanup EXIT
  trap "exit 130" INT TERM

  as_pg "$PI_PGBIN/initdb" -D "$PI_TEST_DATA" -A trust -U postgres --no-sync \
    >"$PI_TEST_DIR/initdb.log" 2>&1 || {
      echo "initdb failed:"; cat "$PI_TEST_DIR/initdb.log"; return 1; }
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PI_TEST_PORT"
    echo "unix_socket_directories = '$PI_TEST_DIR'"
    echo "shared_preload_libraries = 'power_interpreter'"
    echo "pi.database = '$PI_TEST_DB'"
    echo "max_worker_processes = 32"
    echo "fsync = off"
    echo "log_min_messages = info"
    local line
    for line in "$@"; do echo "$line"; done
  } | as_pg tee -a "$PI_TEST_DATA/postgresql.conf" >/dev/null

  # the port was free when chosen; another run may have bound it since
  local try
  for try in 1 2 3 4 5; do
    pi_pg_ctl -w -t 60 start >/dev/null && break
    if [ "$try" -lt 5 ] && grep -q 'could not bind\|could not create any TCP/IP sockets' "$PI_TEST_LOG"; then
      PI_TEST_PORT=$(pi_free_port)
      echo "# port taken meanwhile; retrying on $PI_TEST_PORT"
      echo "port = $PI_TEST_PORT" | as_pg tee -a "$PI_TEST_DATA/postgresql.conf" >/dev/null
      as_pg truncate -s 0 "$PI_TEST_LOG"
      continue
    fi
    echo "cluster start failed; log:"; tail -n 50 "$PI_TEST_LOG"; return 1
  done
  as_pg "$PI_PGBIN/createdb" -h "$PI_TEST_DIR" -p "$PI_TEST_PORT" "$PI_TEST_DB" || return 1
  pi_sql "CREATE EXTENSION power_interpreter" || {
    echo "CREATE EXTENSION failed; log:"; tail -n 50 "$PI_TEST_LOG"; return 1; }
  if ! pi_wait_ready 60; then
    echo "pi.execute('print(1)') did not answer 'completed' within 60 s:"
    pi_psql -c "SET statement_timeout = '10s'" -c "SELECT pi.execute('print(1)')" || true
    tail -n 50 "$PI_TEST_LOG"
    return 1
  fi
}

# pi_cluster_restart [MODE]: pg_ctl restart (default -m immediate).
pi_cluster_restart() {
  pi_pg_ctl -w -t 60 -m "${1:-immediate}" restart >/dev/null
}

pi_cluster_stop() {
  [ -n "$PI_TEST_DIR" ] && [ -f "$PI_TEST_DATA/postmaster.pid" ] && \
    pi_pg_ctl -w -t 30 -m fast stop >/dev/null 2>&1
  return 0
}

pi_cluster_cleanup() {
  local rc=$?
  [ -n "$PI_TEST_DIR" ] || return $rc
  if [ "$PI_FAILED" -gt 0 ] && [ -f "$PI_TEST_LOG" ]; then
    echo "---- last lines of $PI_TEST_LOG ----"
    tail -n 40 "$PI_TEST_LOG"
    echo "----"
  fi
  pi_cluster_stop || pi_pg_ctl -m immediate stop >/dev/null 2>&1 || true
  if [ "${PI_KEEP:-0}" = 1 ]; then
    echo "kept $PI_TEST_DIR"
  else
    rm -rf "$PI_TEST_DIR"
  fi
  PI_TEST_DIR=
  return $rc
}

# check NAME COND...: COND is one shell string (evaluated) or a command with
# arguments.  Prints ok/not ok and counts.
check() {
  # the caller's last status, for a condition '[ $? = 0 ]' about the command
  # just before (local and shift below would reset it to 0)
  local last=$?
  local name=$1; shift
  local ok=1
  if [ $# -eq 1 ]; then
    (exit "$last"); eval "$1" >/dev/null 2>&1 || ok=0
  else
    "$@" >/dev/null 2>&1 || ok=0
  fi
  if [ $ok = 1 ]; then
    PI_PASSED=$((PI_PASSED + 1)); echo "ok - $name"
  else
    PI_FAILED=$((PI_FAILED + 1)); echo "not ok - $name"
  fi
  [ $ok = 1 ]
}

# pass NAME / fail NAME [DETAIL]: record a result computed by the caller.
pass() { PI_PASSED=$((PI_PASSED + 1)); echo "ok - $1"; }
fail() { PI_FAILED=$((PI_FAILED + 1)); echo "not ok - $1${2:+: $2}"; return 1; }

# summary: prints "N passed, M failed"; non-zero when M > 0.
summary() {
  echo "$PI_PASSED passed, $PI_FAILED failed"
  [ "$PI_FAILED" -eq 0 ]
}
