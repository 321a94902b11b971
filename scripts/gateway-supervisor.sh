#!/usr/bin/env bash
# scripts/gateway-supervisor.sh STATE GATEWAY: keep pi-gateway running.
#
# scripts/run.sh copies this file into STATE and starts it detached (its own
# session), as the postgres user, with an empty environment; scripts/stop.sh
# ends it with SIGTERM, which it passes on to the gateway before it exits.
# There is no systemd here, and a restart loop needs nothing more.
#
# The gateway's settings come from STATE/pi-gateway.env (NAME=VALUE lines,
# mode 0600, since DATABASE_URL may hold a password); the API key stays in
# the file API_KEY_FILE names, so neither is on any command line.
#
# When the gateway exits:
#   status 0  it was asked to stop (SIGTERM): the supervisor ends too;
#   status 2  it refused its configuration: starting it again cannot help,
#             the supervisor ends and the log says why;
#   else      (a crash, SIGKILL, status 1 "cannot listen") it is started
#             again after 1 s, then 2, 4 ... up to 30 s while it keeps dying;
#             a gateway that ran a minute starts the count afresh.
# Every restart is logged in STATE/pi-gateway.log, beside the gateway's own
# output.  STATE/pi-gateway-supervisor.pid and STATE/pi-gateway.pid name the
# two processes while they run.
set -u
STATE=$1
GW=$2
LOG=$STATE/pi-gateway.log
BACKOFF_MAX_S=30
STABLE_RUN_S=60

log() { printf '%s pi-gateway-supervisor: %s\n' "$(date '+%F %T')" "$*" >>"$LOG"; }

while IFS= read -r line; do
  case "${line%%=*}" in
    HOST|PORT|DATABASE_URL|MAX_FILE_SIZE_MB|API_KEY_FILE|PI_GATEWAY_DB_POOL|ALLOWED_ORIGINS|PI_DEFAULT_TENANT)
      export "${line?}" ;;
  esac
done <"$STATE/pi-gateway.env"

echo $$ >"$STATE/pi-gateway-supervisor.pid"
child=
stopping=0
# only a flag and a signal: the loop below does the rest
trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT HUP

backoff=1
restarts=0
while [ $stopping = 0 ]; do
  started=$SECONDS
  "$GW" </dev/null >>"$LOG" 2>&1 &
  child=$!
  echo "$child" >"$STATE/pi-gateway.pid"
  # a trap interrupts wait (status > 128); wait again for the real status
  wait "$child"; rc=$?
  while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done
  child=
  rm -f "$STATE/pi-gateway.pid"
  [ $stopping = 1 ] && break
  case $rc in
    0) log "pi-gateway stopped (status 0); not starting it again"; break ;;
    2) log "pi-gateway refused its configuration (status 2, see above); not starting it again"; break ;;
  esac
  [ $((SECONDS - started)) -ge $STABLE_RUN_S ] && backoff=1
  restarts=$((restarts + 1))
  if [ $rc -gt 128 ]; then why="killed by signal $((rc - 128))"; else why="exit status $rc"; fi
  log "pi-gateway exited ($why); restarting in ${backoff} s (restart $restarts)"
  sleep "$backoff" &
  child=$!
  wait "$child"
  child=
  backoff=$((backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2))
done
rm -f "$STATE/pi-gateway-supervisor.pid"
log "stopped"
