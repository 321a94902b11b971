#!/usr/bin/env bash
# Start the Power Interpreter service: a PostgreSQL 15 cluster owned by the
# postgres user with the power_interpreter extension preloaded, database "pi"
# and the extension created, and (once it exists) the pi-gateway.
#
#   PI_HOME  state directory (default ./.pi): data/, postgresql.log
#   PGPORT   port (default 5433); listens on 127.0.0.1 only
#   PORT API_KEY  the gateway's port (default 8080) and key (at least 16
#            characters; default: generated into $PI_HOME/api_key)
#   MAX_EXECUTION_TIME MAX_MEMORY_MB MAX_FILE_SIZE_MB MAX_CONCURRENT_JOBS
#   JOB_TIMEOUT  -> pi.* settings, rewritten at every run (restart on change)
#
# Idempotent: when it is already running with the same settings it only
# prints how to reach it.
set -euo pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/gateway.sh"

# Refuse bad gateway settings before anything changes.
if [ -n "${API_KEY:-}" ] && [ ${#API_KEY} -lt 16 ]; then
  echo "API_KEY must be at least 16 characters (it has ${#API_KEY}); unset it to" >&2
  echo "use the key generated into \$PI_HOME/api_key." >&2
  exit 1
fi
if [ -n "${PORT:-}" ] && ! [[ "$PORT" =~ ^[0-9]+$ && "$PORT" -ge 1 && "$PORT" -le 65535 ]]; then
  echo "PORT must be a TCP port number (1-65535), not \"$PORT\"." >&2
  exit 1
fi

PGPORT=${PGPORT:-5433}
PI_DB=pi

PI_HOME=${PI_HOME:-./.pi}
mkdir -p "$PI_HOME"
PI_HOME=$(cd "$PI_HOME" && pwd -P)


# The postgres user must be able to reach PI_HOME (a parent directory such as
# a 0700 home or CI workspace may forbid it).  If it cannot, keep the cluster
# under /var/lib/power-interpreter/<hash of PI_HOME> and leave a pointer.
if ! as_pg test -x "$PI_HOME" 2>/dev/null; then
  hash=$(printf '%s' "$PI_HOME" | sha256sum | cut -c1-12)
  STATE=/var/lib/power-interpreter/$hash
  as_root mkdir -p "$STATE"
  as_root chown postgres: "$STATE"
  as_root chmod 0755 "$STATE"
  echo "$STATE" >"$PI_HOME/state-dir" 2>/dev/null || true
  echo "note: $PI_HOME is not reachable by the postgres user (a parent directory"
  echo "      is not searchable); the cluster lives in $STATE instead."
  echo "      Set PI_HOME to a directory postgres can reach to change that."
else
  STATE=$PI_HOME
  # postgres must own the directory that holds the socket and the log
  if [ "$(stat -c %U "$STATE")" != postgres ]; then
    as_root chown postgres: "$STATE"
  fi
  as_root chmod 0755 "$STATE"
fi

DATA=$STATE/data
LOG=$STATE/postgresql.log
SOCKDIR=$STATE

pg_ctl() { as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" "$@"; }
psql_pi() {
  as_pg "$PGBIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PGPORT" "$@"
}

# ---- cluster -------------------------------------------------------------
if [ ! -f "$DATA/PG_VERSION" ]; then
  echo "Creating cluster in $DATA"
  as_pg "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
  cat <<CONF | as_pg tee -a "$DATA/postgresql.conf" >/dev/null

# ---- Power Interpreter (scripts/run.sh) ----
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCKDIR'
shared_preload_libraries = 'power_interpreter'
pi.database = '$PI_DB'
max_worker_processes = 32
include_if_exists = 'pi_settings.conf'
CONF
  # trust, but only on the Unix socket and loopback (listen_addresses above)
  cat <<HBA | as_pg tee "$DATA/pg_hba.conf" >/dev/null
# Power Interpreter: trust on the Unix socket and loopback only.
local   all   all                 trust
host    all   all   127.0.0.1/32  trust
HBA
fi

# The gateway's role reaches the service's database and no other (postgres,
# template1, other services' databases): its rules come first in
# pg_hba.conf, rewritten at every run between their markers (an older
# cluster gets them too), and a running server reloads them.
HBA_GW=$(cat <<HBA
# BEGIN pi_gateway (scripts/run.sh): the gateway's role, $PI_DB only
local   $PI_DB   pi_gateway                 trust
host    $PI_DB   pi_gateway   127.0.0.1/32  trust
local   all      pi_gateway                 reject
host    all      pi_gateway   0.0.0.0/0     reject
host    all      pi_gateway   ::/0          reject
# END pi_gateway
HBA
)
HBA_NOW=$(as_pg cat "$DATA/pg_hba.conf")
HBA_NEW=$(printf '%s\n' "$HBA_GW"
  printf '%s\n' "$HBA_NOW" | sed '/^# BEGIN pi_gateway/,/^# END pi_gateway/d')
hba_changed=0
if [ "$HBA_NEW" != "$HBA_NOW" ]; then
  printf '%s\n' "$HBA_NEW" | as_pg tee "$DATA/pg_hba.conf" >/dev/null
  hba_changed=1
fi

# Settings from the environment: rewritten at every run.
SETTINGS=$(
  echo "# written by scripts/run.sh at every start; edit the environment instead"
  echo "port = $PGPORT"
  [ -n "${MAX_EXECUTION_TIME:-}" ]  && echo "pi.max_execution_time = ${MAX_EXECUTION_TIME}"
  [ -n "${JOB_TIMEOUT:-}" ]         && echo "pi.job_timeout = ${JOB_TIMEOUT}"
  [ -n "${MAX_MEMORY_MB:-}" ]       && echo "pi.max_memory_mb = ${MAX_MEMORY_MB}"
  [ -n "${MAX_FILE_SIZE_MB:-}" ]    && echo "pi.max_file_size_mb = ${MAX_FILE_SIZE_MB}"
  [ -n "${MAX_CONCURRENT_JOBS:-}" ] && echo "pi.max_concurrent_jobs = ${MAX_CONCURRENT_JOBS}"
  true
)
changed=0
if [ "$(as_pg cat "$DATA/pi_settings.conf" 2>/dev/null || true)" != "$SETTINGS" ]; then
  printf '%s\n' "$SETTINGS" | as_pg tee "$DATA/pi_settings.conf" >/dev/null
  changed=1
fi

# the sandbox's per-run memory + pids cgroups: root delegates the parents
# to postgres (idempotent; without it runs fall back to rlimits, see the log)
if [ "$(id -u)" = 0 ]; then
  bash "$(dirname "$0")/cgroup-setup.sh" postgres >/dev/null 2>&1 || true
else
  sudo -n bash "$(dirname "$0")/cgroup-setup.sh" postgres >/dev/null 2>&1 || true
fi

running=0
PG_STARTED=1
if as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then running=1; fi

if [ $running = 1 ] && [ $changed = 1 ]; then
  echo "Settings changed: restarting"
  pg_ctl -w -t 60 -m fast restart >/dev/null
elif [ $running = 0 ]; then
  echo "Starting PostgreSQL on 127.0.0.1:$PGPORT (log: $LOG)"
  if ! pg_ctl -w -t 60 start >/dev/null; then
    echo "PostgreSQL did not start; last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2 || true
    exit 1
  fi
else
  PG_STARTED=0
  echo "Already running (data: $DATA)"
  if [ $hba_changed = 1 ]; then pg_ctl reload >/dev/null; fi
fi

# ---- database and extension ---------------------------------------------
if [ "$(psql_pi -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$PI_DB'")" != 1 ]; then
  as_pg "$PGBIN/createdb" -h "$SOCKDIR" -p "$PGPORT" "$PI_DB"
fi
psql_pi -d "$PI_DB" -c "SET client_min_messages = warning" \
  -c "CREATE EXTENSION IF NOT EXISTS power_interpreter" \
  -c "ALTER EXTENSION power_interpreter UPDATE"

# ---- readiness ------------------------------------------------------------
ready=0
deadline=$(( $(date +%s) + 60 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  st=$(psql_pi -d "$PI_DB" -c "SET statement_timeout = '5s'" \
         -c "SELECT pi.execute('print(1)')->>'status'" 2>/dev/null || true)
  if [ "$st" = completed ]; then ready=1; break; fi
  sleep 0.2
done
if [ $ready = 0 ]; then
  echo "pi.execute('print(1)') did not answer 'completed' within 60 s; last lines of $LOG:" >&2
  psql_pi -d "$PI_DB" -c "SET statement_timeout = '10s'" -c "SELECT pi.execute('print(1)')" >&2 || true
  tail -n 30 "$LOG" >&2 || true
  exit 1
fi

# ---- gateway ----------------------------------------------------------------
# start_gateway: runs pi-gateway (REST + MCP over HTTP on 127.0.0.1:$PORT,
# default 8080) under its supervisor (scripts/gateway-supervisor.sh, which
# starts it again when it dies) when the binary is installed; does nothing
# otherwise.  Both run as the postgres user; the gateway connects over the
# cluster's Unix socket.  The key is API_KEY, or $STATE/api_key (generated on
# first use); the one in force is written to $STATE/pi-gateway.key (0600) and
# the gateway reads it from there (API_KEY_FILE), so it is on no command line.
# A running gateway is kept when its settings and key are unchanged and
# PostgreSQL was not (re)started by this run; otherwise it is restarted.
# Fails (exit 1) when the port is taken or the gateway does not answer.
GATEWAY_MSG=
start_gateway() {
  local gw keyfile=$STATE/api_key gwlog=$STATE/pi-gateway.log
  local gwport=${PORT:-8080} key settings sup oldport pid i up=0
  gw=$PGBIN/pi-gateway
  [ -x "$gw" ] || gw=$(command -v pi-gateway 2>/dev/null || true)
  [ -n "$gw" ] && [ -x "$gw" ] || return 0

  if [ -n "${API_KEY:-}" ]; then
    key=$API_KEY
  else
    key=$(as_pg cat "$keyfile" 2>/dev/null || true)
    if [ -z "$key" ]; then
      key=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
      printf '%s\n' "$key" | as_pg sh -c "umask 077; cat > '$keyfile'"
    fi
  fi
  # The gateway is no superuser (docs/tenants.md): it logs in as pi_gateway,
  # which may resolve API keys (pi_authenticator) and become the tenant
  # roles granted to it, such as pi_default_tenant, whose key is API_KEY.
  psql_pi -d "$PI_DB" -v ON_ERROR_STOP=1 -q <<'SQL' >/dev/null
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
ALTER ROLE pi_gateway LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
GRANT pi_user TO pi_default_tenant;
GRANT pi_authenticator, pi_default_tenant TO pi_gateway;
SQL
  settings=$(
    echo "HOST=127.0.0.1"
    echo "PORT=$gwport"
    echo "DATABASE_URL=${DATABASE_URL:-host=$SOCKDIR port=$PGPORT dbname=$PI_DB user=pi_gateway}"
    echo "PI_DEFAULT_TENANT=${PI_DEFAULT_TENANT:-pi_default_tenant}"
    echo "MAX_FILE_SIZE_MB=${MAX_FILE_SIZE_MB:-500}"
    echo "API_KEY_FILE=$STATE/pi-gateway.key"
  )

  sup=$(gw_supervisor_pid) || sup=
  pid=$(gw_gateway_pid) || pid=
  if [ -n "$sup" ] && [ -n "$pid" ] && [ "$PG_STARTED" = 0 ] &&
     [ "$(as_pg cat "$STATE/pi-gateway.env" 2>/dev/null)" = "$settings" ] &&
     [ "$(as_pg head -n 1 "$STATE/pi-gateway.key" 2>/dev/null)" = "$key" ] &&
     curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$gwport/health" 2>/dev/null; then
    GATEWAY_MSG="http://127.0.0.1:$gwport (already running, pid $pid; log $gwlog)"
  else
    # a new port must be free; the old one may be held by our own gateway
    oldport=$(as_pg sed -n 's/^PORT=//p' "$STATE/pi-gateway.env" 2>/dev/null || true)
    if gw_port_in_use "$gwport" &&
       ! { [ -n "$sup$pid" ] && [ "${oldport:-$gwport}" = "$gwport" ]; }; then
      echo "port $gwport on 127.0.0.1 is in use by another program: pi-gateway cannot listen" >&2
      echo "there; set PORT to a free port (a running gateway was left as it was)." >&2
      exit 1
    fi
    gw_stop || true
    printf '%s\n' "$key" |
      as_pg sh -c "umask 077; cat > '$STATE/pi-gateway.key.new' && mv '$STATE/pi-gateway.key.new' '$STATE/pi-gateway.key'"
    printf '%s\n' "$settings" | as_pg sh -c "umask 077; cat > '$STATE/pi-gateway.env'"
    as_pg sh -c "cat > '$STATE/pi-gateway-supervisor.sh'" <"$(dirname "$0")/gateway-supervisor.sh"

    # detached (own session) so that it outlives this script and the terminal;
    # setpriv execs, leaving no root parent behind
    local runas=(setpriv --reuid=postgres --regid=postgres --init-groups --)
    [ "$(id -u)" = 0 ] || runas=(sudo -n -u postgres --)
    [ "$(id -u)" = "$(id -u postgres)" ] && runas=()
    (cd / && setsid -f "${runas[@]}" env -i PATH=/usr/bin:/bin LANG=C.UTF-8 \
       bash "$STATE/pi-gateway-supervisor.sh" "$STATE" "$gw" </dev/null >/dev/null 2>&1)

    # up when it answers; failed at once when the supervisor gave up
    for i in $(seq 1 50); do
      if curl -fsS -o /dev/null "http://127.0.0.1:$gwport/health" 2>/dev/null &&
         pid=$(gw_gateway_pid); then up=1; break; fi
      [ "$i" -gt 3 ] && ! gw_supervisor_pid >/dev/null && break
      sleep 0.2
    done
    if [ $up = 0 ]; then
      echo "pi-gateway did not answer on 127.0.0.1:$gwport; last lines of $gwlog:" >&2
      tail -n 8 "$gwlog" >&2 2>/dev/null || true
      gw_stop || true
      exit 1
    fi
    GATEWAY_MSG="http://127.0.0.1:$gwport (REST /api/..., MCP; pid $pid, restarted by a supervisor if it dies; log $gwlog)"
  fi
  # listed by pi.list_api_keys() like any key (read by the server, so the
  # key is on no command line)
  # (a new API_KEY replaces the old one: the old stops working at once)
  printf '%s\n' "SELECT pi.register_api_key('pi_default_tenant', 'API_KEY', split_part(pg_read_file(:'keyfile'), E'\\n', 1));" \
    "UPDATE pi.api_keys SET revoked_at = now() WHERE role = 'pi_default_tenant' AND label = 'API_KEY' AND revoked_at IS NULL AND key_hash <> sha256(convert_to(split_part(pg_read_file(:'keyfile'), E'\\n', 1), 'UTF8'));" |
    psql_pi -d "$PI_DB" -v keyfile="$STATE/pi-gateway.key" >/dev/null 2>&1 ||
    echo "warning: could not register API_KEY in pi.api_keys" >&2
  if [ -n "${API_KEY:-}" ]; then
    GATEWAY_MSG="$GATEWAY_MSG
            API key: the API_KEY you set"
  else
    GATEWAY_MSG="$GATEWAY_MSG
            API key: in $keyfile (set API_KEY to choose one)"
  fi
}
start_gateway

# ---- how to reach it ------------------------------------------------------
if [ "$PI_HOME" = "$(pwd -P)/.pi" ]; then
  STOP_CMD="make stop"
else
  STOP_CMD="PI_HOME=$PI_HOME make stop   (or: PI_HOME=$PI_HOME bash scripts/stop.sh)"
fi
PSQL_CMD="psql -h 127.0.0.1 -p $PGPORT -U postgres -d $PI_DB"
cat <<INFO

Power Interpreter is running.
  Connect:  $PSQL_CMD
            (trust authentication on 127.0.0.1 and the Unix socket in $SOCKDIR;
             it listens on loopback only)
  Example:  $PSQL_CMD -c "SELECT pi.execute('print(1)')"
  Log:      $LOG
  Data:     $DATA
  Stop:     $STOP_CMD
INFO
[ -n "$GATEWAY_MSG" ] && echo "  Gateway:  $GATEWAY_MSG"
exit 0
