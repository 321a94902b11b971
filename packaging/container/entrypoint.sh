#!/bin/bash
# pi-entrypoint: process 1 of the Power Interpreter image
# (packaging/container/README.md).  Configured entirely by the environment:
#
#   API_KEY              the key clients send (X-API-Key), at least 16 characters
#   PORT                 the gateway's port (default 8080), on HOST (default 0.0.0.0)
#   MAX_EXECUTION_TIME   -> pi.max_execution_time (seconds)
#   MAX_MEMORY_MB        -> pi.max_memory_mb
#   MAX_FILE_SIZE_MB     -> pi.max_file_size_mb and the gateway's body limit
#   MAX_CONCURRENT_JOBS  -> pi.max_concurrent_jobs
#   JOB_TIMEOUT          -> pi.job_timeout (seconds)
#   DATABASE_URL         unset: this image's own PostgreSQL; set: only the
#                        gateway runs, against that server, which must have
#                        the extension (a managed PostgreSQL cannot)
#   PI_ALLOW_UNSANDBOXED=1  start although the runtime refuses user namespaces
#                        (Python then runs unconfined: pi.sandbox = off)
#   PI_ALLOW_NO_CGROUP=1    start although no cgroup can be delegated (memory
#                        and process limits per process only: RLIMIT_AS/NPROC)
#
# The volume /var/lib/power-interpreter holds the cluster (data/, with the
# session workspaces in data/pi_workspaces).  First start: initdb, the
# database pi, CREATE EXTENSION.  Every start: the settings above are
# written to data/pi_settings.conf, the extension is updated, API_KEY is
# registered (an older API_KEY is revoked), PostgreSQL (with the job
# workers, its background workers) and then the gateway start.  SIGTERM:
# the gateway stops, then PostgreSQL with a fast shutdown (running jobs go
# back to the queue, the rescuer runs them again at the next start).
# Either process dying ends the container (status 1) so the platform
# restarts it.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
STATE=/var/lib/power-interpreter
DATA=$STATE/data
SOCK=/var/run/postgresql
DB=pi
PG_PID=
GW_PID=

say() { echo "pi-entrypoint: $*" >&2; }
die() { local rc=$1 l; shift; for l in "$@"; do echo "pi-entrypoint: $l" >&2; done; exit "$rc"; }
loud() {
  local l
  echo "pi-entrypoint: ********************************************************" >&2
  for l in "$@"; do echo "pi-entrypoint: *** $l" >&2; done
  echo "pi-entrypoint: ********************************************************" >&2
}
# The users below root lose every capability for good, including from the
# bounding set: CAP_SYS_ADMIN, when the runtime grants it, is for this
# script alone (to make the container's own cgroup writable).
as_pg() { (cd / && setpriv --reuid=postgres --regid=postgres --init-groups --bounding-set=-all -- "$@"); }
psql_pi() { as_pg "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$SOCK" -d "${1:-$DB}"; }

[ "$(id -u)" = 0 ] || die 2 "must start as root (it drops to the users postgres and pi-gateway); do not set USER in the container runtime"

# ---- the environment -------------------------------------------------------
# Everything is checked before anything changes on the volume.
is_count() { [[ "$1" =~ ^[1-9][0-9]{0,8}$ ]]; }
bad=()
if [ -z "${API_KEY:-}" ]; then
  bad+=("API_KEY is not set: set it to the key clients will send (at least 16 characters, e.g. \`openssl rand -hex 24\`)")
elif [ ${#API_KEY} -lt 16 ] || [[ "$API_KEY" == *[[:space:]]* ]]; then
  bad+=("API_KEY must be at least 16 characters without spaces (it has ${#API_KEY} characters)")
fi
PORT=${PORT:-8080}
if ! [[ "$PORT" =~ ^[0-9]{1,5}$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
  bad+=("PORT must be a TCP port number (1-65535), not \"$PORT\"")
fi
for v in MAX_EXECUTION_TIME MAX_MEMORY_MB MAX_FILE_SIZE_MB MAX_CONCURRENT_JOBS JOB_TIMEOUT; do
  if [ -n "${!v:-}" ] && ! is_count "${!v}"; then
    bad+=("$v must be a positive whole number, not \"${!v}\" (unset it for the default)")
  fi
done
for v in PI_ALLOW_UNSANDBOXED PI_ALLOW_NO_CGROUP; do
  case "${!v:-0}" in 0|1) ;; *) bad+=("$v must be 1 or 0, not \"${!v}\"") ;; esac
done
[ ${#bad[@]} -eq 0 ] || die 2 "${bad[@]}"

# gateway_env: the gateway's whole environment (nothing else leaks in)
gateway_env() {
  local v
  echo "PATH=/usr/bin:/bin"
  echo "LANG=C.UTF-8"
  echo "HOST=${HOST:-0.0.0.0}"
  echo "PORT=$PORT"
  echo "API_KEY=$API_KEY"
  echo "PI_DEFAULT_TENANT=pi_default_tenant"
  echo "MAX_FILE_SIZE_MB=${MAX_FILE_SIZE_MB:-500}"
  for v in ALLOWED_ORIGINS PI_GATEWAY_DB_POOL PI_GATEWAY_MAX_CONNECTIONS \
           PI_GATEWAY_CONNECTIONS_PER_ADDRESS PI_GATEWAY_HEADER_TIMEOUT \
           PI_GATEWAY_MCP_SESSIONS PI_GATEWAY_EXECUTE_WAIT; do
    [ -z "${!v:-}" ] || echo "$v=${!v}"
  done
}

# start_gateway URL: the gateway as the user pi-gateway, in the background
start_gateway() {
  local -a envv
  mapfile -t envv < <(gateway_env; echo "DATABASE_URL=$1")
  (cd / && exec setpriv --reuid=pi-gateway --regid=pi-gateway --init-groups --bounding-set=-all -- \
     env -i "${envv[@]}" /usr/bin/pi-gateway) &
  GW_PID=$!
}

# ---- another server: the gateway only -----------------------------------------
if [ -n "${DATABASE_URL:-}" ]; then
  say "DATABASE_URL is set: running only the gateway, against that server; this image's"
  say "own PostgreSQL stays off (unset DATABASE_URL to use it, with the volume)"
  trap '[ -n "$GW_PID" ] && kill -TERM "$GW_PID" 2>/dev/null' TERM INT
  start_gateway "$DATABASE_URL"
  rc=0; wait "$GW_PID" || rc=$?
  # a trapped signal interrupts the first wait: wait for the end itself
  while kill -0 "$GW_PID" 2>/dev/null; do rc=0; wait "$GW_PID" || rc=$?; done
  if [ "$rc" = 2 ]; then
    die 2 "the gateway refused DATABASE_URL (above).  Python runs inside PostgreSQL: the server" \
      "must be a PostgreSQL 15 with the postgresql-15-power-interpreter package and" \
      "CREATE EXTENSION power_interpreter.  A managed PostgreSQL (RDS, Cloud SQL, Railway's," \
      "Supabase, Neon, ...) cannot load it: unset DATABASE_URL to use this image's own"  \
      "PostgreSQL, which keeps its data on the volume $STATE."
  fi
  exit "$rc"
fi

# ---- the sandbox: what the runtime allows ----------------------------------------
# The kernels run in user, mount, PID, network, IPC and UTS namespaces with
# a fresh /proc (docs/sandbox.md); per-run memory and process limits need a
# cgroup the server's user may create children in.  Container runtimes
# refuse both by default: say what is missing and refuse to start without it
# unless the operator says otherwise.
SANDBOX=on
CGROUP=yes

mount_of() {  # the mount point of a cgroup v1 controller, or of cgroup2
  awk -v c="$1" '
    c == "cgroup2" && $3 == "cgroup2" { print $2; exit }
    c != "cgroup2" && $3 == "cgroup" {
      n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) { print $2; exit }
    }' /proc/self/mounts
}

# Runtimes mount the container's own cgroup read-only.  Given CAP_SYS_ADMIN
# (--cap-add SYS_ADMIN), root here may make it writable: the hierarchies are
# the container's own cgroup, so what is delegated below is a part of the
# container's limits, never the host's.
cgroup_remount_rw() {
  local m
  for m in $(mount_of memory) $(mount_of pids) $(mount_of cgroup2); do
    grep -qE "^[^ ]+ $m [^ ]+ ro," /proc/self/mounts || continue
    mount -o remount,bind,rw "$m" 2>/dev/null || true
  done
}

# cgroup v2 in a cgroup namespace: the root of the namespace holds our
# processes, and v2 enables controllers for children only in a cgroup
# without processes of its own.  Move everything into a leaf first.
v2_leave_root() {
  local v2 p
  v2=$(mount_of cgroup2)
  [ -n "$v2" ] && [ -w "$v2/cgroup.subtree_control" ] || return 0
  grep -qw memory "$v2/cgroup.controllers" 2>/dev/null || return 0
  grep -qw memory "$v2/cgroup.subtree_control" && return 0
  mkdir -p "$v2/pi-init" 2>/dev/null || return 0
  for p in $(cat "$v2/cgroup.procs"); do echo "$p" >"$v2/pi-init/cgroup.procs" 2>/dev/null || true; done
}

# what the sandbox's trial run does first (jail/): the namespaces, a fresh
# proc, its own host name (seccomp profiles of runtimes refuse sethostname
# without CAP_SYS_ADMIN); the executor's own trial at the first run below
# has the last word
userns_works() {
  as_pg unshare --user --map-root-user --mount --pid --net --ipc --uts --fork --mount-proc \
    hostname pi-probe
}
cgroup_works() {  # v1 memory hierarchy, or v2 with memory: postgres may create a child
  local mem v2 probe
  mem=$(mount_of memory)
  v2=$(mount_of cgroup2)
  for d in ${mem:+"$mem/power_interpreter"} ${v2:+"$v2/power_interpreter"}; do
    [ -d "$d" ] || continue
    if [ -n "$v2" ] && [ "$d" = "$v2/power_interpreter" ]; then
      grep -qw memory "$d/cgroup.controllers" 2>/dev/null || continue
    fi
    probe=$d/probe-$$
    if as_pg mkdir "$probe" 2>/dev/null; then rmdir "$probe"; return 0; fi
  done
  return 1
}

if ! ns_err=$(userns_works 2>&1); then
  if [ "${PI_ALLOW_UNSANDBOXED:-0}" = 1 ]; then
    loud "THE SANDBOX IS OFF: this runtime refuses user namespaces ($ns_err)." \
         "PI_ALLOW_UNSANDBOXED=1: Python code runs UNCONFINED, as the postgres user," \
         "with access to the database files and the network.  Only for trusted code."
    SANDBOX=off
  else
    die 3 "refusing to start: the sandbox needs user namespaces (with a fresh /proc and a" \
      "host name of their own) and this container runtime refuses them: $ns_err" \
      "Allow them (packaging/container/README.md): podman run --security-opt unmask=ALL" \
      "--cap-add SYS_ADMIN ...; docker run --security-opt systempaths=unconfined" \
      "--cap-add SYS_ADMIN (AppArmor hosts: also --security-opt apparmor=unconfined)." \
      "Or set PI_ALLOW_UNSANDBOXED=1 to run Python unconfined (unsafe: trusted code only)."
  fi
fi
if [ "$SANDBOX" = on ]; then
  cgroup_remount_rw
  v2_leave_root
  pi-cgroup-setup postgres power_interpreter >/dev/null 2>&1 || true
  if ! cgroup_works; then
    CGROUP=no
    if [ "${PI_ALLOW_NO_CGROUP:-0}" = 1 ] || [ "${PI_ALLOW_UNSANDBOXED:-0}" = 1 ]; then
      loud "NO PER-RUN CGROUP: the runtime gives no writable cgroup to delegate." \
           "Runs keep their namespaces and seccomp, but memory and process limits are" \
           "per process only (RLIMIT_AS, RLIMIT_NPROC): tmpfs and many processes escape them."
    else
      die 3 "refusing to start: the sandbox's per-run memory and process limits need a" \
        "writable cgroup (v1 memory hierarchy, or v2 with the memory controller) and" \
        "this container's /sys/fs/cgroup is read-only or has no memory controller." \
        "Let this script make the container's own cgroup writable: --cap-add SYS_ADMIN" \
        "(kept by this script alone; packaging/container/README.md), or use a VM-based" \
        "platform, or set PI_ALLOW_NO_CGROUP=1 for per-process limits only."
    fi
  fi
fi

# ---- the cluster on the volume ------------------------------------------------------
install -d -o postgres -g postgres -m 2775 "$SOCK"
install -d -o postgres -g postgres -m 0755 "$STATE"
if [ ! -f "$DATA/PG_VERSION" ]; then
  if [ -e "$DATA" ] && [ -n "$(ls -A "$DATA" 2>/dev/null)" ]; then
    die 2 "$DATA is not empty but holds no PostgreSQL cluster (no PG_VERSION): move it away," \
      "or mount an empty volume at $STATE"
  fi
  say "first start: creating the cluster in $DATA"
  install -d -o postgres -g postgres -m 0700 "$DATA"
  as_pg "$PGBIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=reject >/dev/null
  cat >>"$DATA/postgresql.conf" <<CONF

# ---- Power Interpreter image (pi-entrypoint) ----
listen_addresses = ''
unix_socket_directories = '$SOCK'
shared_preload_libraries = 'power_interpreter'
pi.database = '$DB'
include_if_exists = 'pi_settings.conf'
CONF
  # only the Unix socket: postgres as itself, the gateway's user as the role
  # pi_gateway (peer, mapped); nothing over TCP
  cat >"$DATA/pg_hba.conf" <<'HBA'
# Power Interpreter image: Unix socket only, peer authentication.
local   all   postgres                 peer
local   pi    pi_gateway               peer map=gateway
HBA
  echo "gateway   pi-gateway   pi_gateway" >>"$DATA/pg_ident.conf"
  chown postgres: "$DATA/postgresql.conf" "$DATA/pg_hba.conf" "$DATA/pg_ident.conf"
fi
[ "$(stat -c %U "$DATA")" = postgres ] || chown -R postgres: "$DATA"

jobs=${MAX_CONCURRENT_JOBS:-4}
{
  echo "# written by pi-entrypoint at every start from the environment: change that instead"
  echo "max_worker_processes = $(( jobs + 16 ))"
  echo "pi.sandbox = $SANDBOX"
  [ -z "${MAX_EXECUTION_TIME:-}" ]  || echo "pi.max_execution_time = $MAX_EXECUTION_TIME"
  [ -z "${JOB_TIMEOUT:-}" ]         || echo "pi.job_timeout = $JOB_TIMEOUT"
  [ -z "${MAX_MEMORY_MB:-}" ]       || echo "pi.max_memory_mb = $MAX_MEMORY_MB"
  [ -z "${MAX_FILE_SIZE_MB:-}" ]    || echo "pi.max_file_size_mb = $MAX_FILE_SIZE_MB"
  [ -z "${MAX_CONCURRENT_JOBS:-}" ] || echo "pi.max_concurrent_jobs = $MAX_CONCURRENT_JOBS"
} | as_pg sh -c "cat >'$DATA/pi_settings.conf'"

# ---- start ------------------------------------------------------------------------
shutdown() {
  trap '' TERM INT
  say "stopping: the gateway, then PostgreSQL (fast shutdown: running jobs return to the queue)"
  [ -z "$GW_PID" ] || kill -TERM "$GW_PID" 2>/dev/null || true
  [ -z "$GW_PID" ] || wait "$GW_PID" 2>/dev/null || true
  [ -z "$PG_PID" ] || kill -INT "$PG_PID" 2>/dev/null || true
  [ -z "$PG_PID" ] || wait "$PG_PID" 2>/dev/null || true
  say "stopped"
  exit 0
}
trap shutdown TERM INT

# cgroup v2 moves a process only below an ancestor its user may write: the
# executor's move into power_interpreter/executor needs the server inside
# power_interpreter too (in a leaf of its own, as v2 wants).
V2=$(mount_of cgroup2)
PG_CGROUP=
if [ "$CGROUP" = yes ] && [ -n "$V2" ] && grep -qw memory "$V2/power_interpreter/cgroup.controllers" 2>/dev/null &&
   [ -z "$(mount_of memory)" ]; then
  PG_CGROUP=$V2/power_interpreter/server
  mkdir -p "$PG_CGROUP" && chown postgres "$PG_CGROUP" "$PG_CGROUP/cgroup.procs"
fi
(
  cd /
  [ -z "$PG_CGROUP" ] || echo "$BASHPID" >"$PG_CGROUP/cgroup.procs"
  exec setpriv --reuid=postgres --regid=postgres --init-groups --bounding-set=-all -- \
    "$PGBIN/postgres" -D "$DATA"
) &
PG_PID=$!
for _ in $(seq 1 300); do
  as_pg "$PGBIN/pg_isready" -q -h "$SOCK" && break
  kill -0 "$PG_PID" 2>/dev/null || die 1 "PostgreSQL did not start (its log is above);" \
    "a value from MAX_EXECUTION_TIME, MAX_MEMORY_MB, MAX_FILE_SIZE_MB, MAX_CONCURRENT_JOBS or" \
    "JOB_TIMEOUT out of its range is named there as pi.<setting>"
  sleep 0.2
done
as_pg "$PGBIN/pg_isready" -q -h "$SOCK" || die 1 "PostgreSQL did not accept connections within 60 s"

[ "$(psql_pi postgres <<<"SELECT 1 FROM pg_database WHERE datname = '$DB'")" = 1 ] ||
  as_pg "$PGBIN/createdb" -h "$SOCK" "$DB"
# the gateway is no superuser (docs/tenants.md): it resolves keys and
# becomes the tenant pi_default_tenant, whose key is API_KEY; the key
# reaches psql through its environment, never a command line
API_KEY=$API_KEY psql_pi <<'SQL' >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS power_interpreter;
ALTER EXTENSION power_interpreter UPDATE;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pi_gateway') THEN
    CREATE ROLE pi_gateway LOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pi_default_tenant') THEN
    CREATE ROLE pi_default_tenant NOLOGIN;
  END IF;
END
$$;
GRANT pi_user TO pi_default_tenant;
GRANT pi_authenticator, pi_default_tenant TO pi_gateway;
\getenv key API_KEY
SELECT pi.register_api_key('pi_default_tenant', 'API_KEY', :'key')
 WHERE NOT EXISTS (SELECT 1 FROM pi.api_keys WHERE role = 'pi_default_tenant' AND label = 'API_KEY'
                   AND revoked_at IS NULL AND key_hash = sha256(convert_to(:'key', 'UTF8')));
UPDATE pi.api_keys SET revoked_at = now()
 WHERE role = 'pi_default_tenant' AND label = 'API_KEY' AND revoked_at IS NULL
   AND key_hash <> sha256(convert_to(:'key', 'UTF8'));
SQL

# The sandbox as the kernel really built it: one run, which must complete,
# and (with cgroups) run inside its own memory cgroup.
probe=
for _ in $(seq 1 150); do
  probe=$(psql_pi <<<"SET statement_timeout = '20s'; SELECT pi.execute(\$\$print(open('/proc/self/cgroup').read())\$\$)" 2>&1) || true
  [[ "$probe" == *'"status": "completed"'* ]] && break
  [[ "$probe" == *SandboxUnavailable* ]] && break
  sleep 0.4
done
if [[ "$probe" != *'"status": "completed"'* ]]; then
  die 3 "refusing to serve: the first run did not complete: $probe"
fi
if [ "$SANDBOX" = on ] && [ "$CGROUP" = yes ] && ! grep -q 'memory[^\\]*/power_interpreter/' <<<"$probe"; then
  die 3 "refusing to serve: a cgroup was delegated but the first run is not in one: $probe"
fi
say "sandbox: $( [ "$SANDBOX" = on ] && echo "on, $( [ "$CGROUP" = yes ] && echo 'with per-run cgroups' || echo 'per-process limits only')" || echo OFF)"

start_gateway "host=$SOCK dbname=$DB user=pi_gateway"
say "PostgreSQL (pid $PG_PID) and the gateway (pid $GW_PID, port $PORT) are running; data on $STATE"

rc=0
wait -n "$PG_PID" "$GW_PID" || rc=$?
# only a process ending on its own gets here (a signal runs shutdown)
if ! kill -0 "$PG_PID" 2>/dev/null; then
  say "PostgreSQL ended (status $rc): stopping the gateway"
  kill -TERM "$GW_PID" 2>/dev/null || true; wait "$GW_PID" 2>/dev/null || true
else
  say "the gateway ended (status $rc): stopping PostgreSQL"
  kill -INT "$PG_PID" 2>/dev/null || true; wait "$PG_PID" 2>/dev/null || true
fi
exit 1
