#!/usr/bin/env bash
# Start the Power Interpreter service: a PostgreSQL 15 cluster owned by the
# postgres user with the power_interpreter extension preloaded, database "pi"
# and the extension created, and (once it exists) the pi-gateway.
#
#   PI_HOME  state directory (default ./.pi): data/, postgresql.log
#   PGPORT   port (default 5433); listens on 127.0.0.1 only
#   MAX_EXECUTION_TIME MAX_MEMORY_MB MAX_FILE_SIZE_MB MAX_CONCURRENT_JOBS
#   JOB_TIMEOUT  -> pi.* settings, rewritten at every run (restart on change)
#
# Idempotent: when it is already running with the same settings it only
# prints how to reach it.
set -euo pipefail

PGBIN=$(pg_config --bindir 2>/dev/null || true)
[ -x "$PGBIN/initdb" ] || PGBIN=/usr/lib/postgresql/15/bin
PGPORT=${PGPORT:-5433}
PI_DB=pi

PI_HOME=${PI_HOME:-./.pi}
mkdir -p "$PI_HOME"
PI_HOME=$(cd "$PI_HOME" && pwd -P)

as_pg() {
  if [ "$(id -u)" = "$(id -u postgres)" ]; then
    (cd / && "$@")
  elif [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && sudo -u postgres -- "$@")
  fi
}
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

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

running=0
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
  echo "Already running (data: $DATA)"
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
# start_gateway: starts pi-gateway (REST + MCP) once it exists; until then it
# does nothing.  It will need API_KEY, DATABASE_URL and PORT.
start_gateway() {
  local gw
  gw=$(command -v pi-gateway 2>/dev/null || true)
  [ -n "$gw" ] || gw=$PGBIN/pi-gateway
  [ -x "$gw" ] || return 0
  # API_KEY: from the environment, else generated once into $PI_HOME/api_key
  if [ -z "${API_KEY:-}" ]; then
    [ -s "$PI_HOME/api_key" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$PI_HOME/api_key")
    API_KEY=$(cat "$PI_HOME/api_key")
  fi
  local host=${HOST:-127.0.0.1} port=${PORT:-8080} pidf=$STATE/pi-gateway.pid
  local db=${DATABASE_URL:-"host=$SOCKDIR port=$PGPORT dbname=$PI_DB user=postgres"}
  if ! { [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; }; then
    # a supervisor that restarts pi-gateway if it dies; stop.sh TERMs it
    API_KEY=$API_KEY HOST=$host PORT=$port DATABASE_URL=$db nohup bash -c \
      'trap "kill \$c 2>/dev/null; exit 0" TERM INT; while :; do "$0" & c=$!; wait $c; sleep 1; done' \
      "$gw" >>"$STATE/pi-gateway.log" 2>&1 </dev/null &
    echo $! >"$pidf"
  fi
  GATEWAY_MSG="http://$host:$port  (REST /api/..., MCP /mcp, log $STATE/pi-gateway.log)
            API key: $API_KEY  (send X-API-Key or Authorization: Bearer)"
}
GATEWAY_MSG=
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
