#!/usr/bin/env bash
# tests/service/run.sh: the service scripts (scripts/run.sh, scripts/stop.sh)
# around the gateway, against a real instance of `make run` in a PI_HOME of
# its own on free ports, stopped and removed on exit (PI_KEEP=1 keeps it):
#   - the supervisor restarts a gateway killed with SIGKILL;
#   - the API key is on no process's command line;
#   - run.sh again applies a new PORT or API_KEY, refuses a short key at
#     once, and fails loudly when the gateway cannot listen;
#   - stop.sh stops the supervisor and the gateway (no process left) and
#     kills no process a stale pid file names.
# Needs the programs installed (make install, which `make test` does).
# Prints "N passed, M failed"; exits non-zero on failure.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib/cluster.sh"

if [ ! -x "$PI_PGBIN/pi-gateway" ]; then
  echo "pi-gateway is not installed in $PI_PGBIN (make install first)"
  echo "0 passed, 1 failed"; exit 1
fi

export PI_HOME
PI_HOME=$(mktemp -d /tmp/pi-service.XXXXXX)
chmod 0755 "$PI_HOME"
export PGPORT PORT
PGPORT=$(pi_free_port)
PORT=$(pi_free_port)
unset API_KEY DATABASE_URL
OUT=$PI_HOME/out.txt
HELPER_PIDS=()

# pids (other than ours) whose command line mentions PI_HOME
pids_of_home() {
  local f pid
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    [ "$pid" = $$ ] || [ "$pid" = "$BASHPID" ] && continue
    tr '\0' ' ' 2>/dev/null <"$f" | grep -qF "$PI_HOME" && echo "$pid"
  done
  return 0
}

cleanup() {
  local rc=$? p
  for p in "${HELPER_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [ "$PI_FAILED" -gt 0 ]; then
    echo "---- last lines of the gateway log ----"
    tail -n 20 "$PI_HOME/pi-gateway.log" 2>/dev/null
    echo "----"
  fi
  bash "$ROOT/scripts/stop.sh" >/dev/null 2>&1
  # whatever a failing stop.sh left: only processes of this PI_HOME
  for p in $(pids_of_home); do kill -9 "$p" 2>/dev/null; done
  if [ "${PI_KEEP:-0}" = 1 ]; then echo "kept $PI_HOME"; else rm -rf "$PI_HOME"; fi
  return $rc
}
trap cleanup EXIT
trap "exit 130" INT TERM

# run_sh / stop_sh: the scripts with the environment above; RC, output in OUT
run_sh() { bash "$ROOT/scripts/run.sh" >"$OUT" 2>&1; RC=$?; }
stop_sh() { bash "$ROOT/scripts/stop.sh" >"$OUT" 2>&1; RC=$?; }
health() { curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$1/health"; }
# status PORT KEY: the HTTP status of an authenticated call
status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "X-API-Key: $2" \
    "http://127.0.0.1:$1/api/data/datasets"
}
gw_pid() { cat "$PI_HOME/pi-gateway.pid" 2>/dev/null; }
sup_pid() { cat "$PI_HOME/pi-gateway-supervisor.pid" 2>/dev/null; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
# on_no_cmdline FILE: the text in FILE is on no process's command line (grep
# reads the pattern from the file, so its own arguments do not hold it)
on_no_cmdline() { ! grep -aqF -f "$1" /proc/[0-9]*/cmdline 2>/dev/null; }

echo "# start"
run_sh
check "run.sh exits 0" '[ "$RC" = 0 ]' || cat "$OUT"
check "the gateway answers /health" health "$PORT"
check "the printed URL names PORT" grep -qF "http://127.0.0.1:$PORT" "$OUT"
KEY=$(cat "$PI_HOME/api_key" 2>/dev/null)
check "the generated key works" '[ "$(status "$PORT" "$KEY")" = 200 ]'

echo "# the gateway's role reaches the service's database only"
# gw_connect DB: what `SELECT 1` as pi_gateway in DB prints (the socket is in PI_HOME)
gw_connect() {
  as_pg "$PI_PGBIN/psql" -X -A -t -q -h "$PI_HOME" -p "$PGPORT" -U pi_gateway -d "$1" -c 'SELECT 1' 2>&1
}
as_pg "$PI_PGBIN/psql" -X -q -h "$PI_HOME" -p "$PGPORT" -U postgres -d postgres \
  -c 'CREATE DATABASE other_service' >/dev/null 2>&1
check "pi_gateway connects to the service's database" '[ "$(gw_connect pi)" = 1 ]'
for db in postgres template1 other_service; do
  check "pi_gateway cannot connect to $db" "[[ \"\$(gw_connect $db)\" == *'pg_hba.conf rejects connection'* ]]"
done
check "pi_gateway cannot connect over TCP to postgres either" \
  '[[ "$(as_pg "$PI_PGBIN/psql" -X -h 127.0.0.1 -p "$PGPORT" -U pi_gateway -d postgres -c "SELECT 1" 2>&1)" == *"pg_hba.conf rejects connection"* ]]'
check "postgres still connects to postgres" \
  '[ "$(as_pg "$PI_PGBIN/psql" -X -A -t -q -h "$PI_HOME" -p "$PGPORT" -U postgres -d postgres -c "SELECT 1")" = 1 ]'
# an older cluster's pg_hba.conf (no gateway rules) gets them at the next run
as_pg sed -i '/^# BEGIN pi_gateway/,/^# END pi_gateway/d' "$PI_HOME/data/pg_hba.conf"
as_pg "$PI_PGBIN/pg_ctl" -D "$PI_HOME/data" reload >/dev/null
check "without the rules, pi_gateway reaches postgres (the check can fail)" '[ "$(gw_connect postgres)" = 1 ]'
run_sh
check "run.sh again puts the rules back and reloads: postgres is refused again" \
  '[ "$RC" = 0 ] && [[ "$(gw_connect postgres)" == *"pg_hba.conf rejects connection"* ]] && [ "$(as_pg grep -c "^# BEGIN pi_gateway" "$PI_HOME/data/pg_hba.conf")" = 1 ]'

echo "# the API key is on no command line (item 2)"
check "the generated key is in no /proc/*/cmdline" on_no_cmdline "$PI_HOME/api_key"
check "the key file is mode 0600" '[ "$(stat -c %a "$PI_HOME/api_key")" = 600 ]'

echo "# supervisor (item 1)"
P1=$(gw_pid)
check "a supervisor is running" alive "$(sup_pid)"
kill -9 "$P1" 2>/dev/null
sleep 0.3
check "after kill -9 the gateway answers again within 6 s" wait_until 6 health "$PORT"
P2=$(gw_pid)
check "it is a new process" '[ -n "$P2" ] && [ "$P2" != "$P1" ] && alive "$P2"'
check "the restart is logged" grep -q "restarting" "$PI_HOME/pi-gateway.log"
kill -9 "$P2" 2>/dev/null; sleep 0.3
check "a second kill -9: answers again" wait_until 8 health "$PORT"

echo "# run.sh again (item 3)"
P1=$(gw_pid)
run_sh
check "same settings: exit 0, same gateway" '[ "$RC" = 0 ] && [ "$(gw_pid)" = "$P1" ] && grep -q "already running" "$OUT"'
OLDPORT=$PORT; PORT=$(pi_free_port)
run_sh
check "new PORT: exit 0" '[ "$RC" = 0 ]' || cat "$OUT"
check "new PORT: the gateway answers on it" health "$PORT"
check "new PORT: not on the old one" '! health "$OLDPORT"'
check "new PORT: the URL printed is the new one" grep -qF "http://127.0.0.1:$PORT" "$OUT"

export API_KEY
API_KEY=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$API_KEY" >"$PI_HOME/key2"
run_sh
check "new API_KEY: exit 0" '[ "$RC" = 0 ]' || cat "$OUT"
check "new API_KEY: it is accepted" '[ "$(status "$PORT" "$API_KEY")" = 200 ]'
check "new API_KEY: the old key is refused" '[ "$(status "$PORT" "$KEY")" = 401 ]'
check "new API_KEY: in no /proc/*/cmdline" on_no_cmdline "$PI_HOME/key2"
GOOD_KEY=$API_KEY

API_KEY=short-key-123
T0=$(date +%s%N)
run_sh
T1=$(( ($(date +%s%N) - T0) / 1000000 ))
check "short API_KEY: exit 1" '[ "$RC" = 1 ]'
check "short API_KEY: says at least 16 characters" grep -q "at least 16 characters" "$OUT"
check "short API_KEY: fails at once (${T1} ms < 3000)" '[ "$T1" -lt 3000 ]'
check "short API_KEY: the running gateway is untouched" '[ "$(status "$PORT" "$GOOD_KEY")" = 200 ]'
API_KEY=$GOOD_KEY

BUSY=$(pi_free_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(5); time.sleep(120)' "$BUSY" &
HELPER_PIDS+=($!)
wait_until 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$BUSY"
OLDPORT=$PORT; PORT=$BUSY
T0=$(date +%s%N)
run_sh
T1=$(( ($(date +%s%N) - T0) / 1000000 ))
check "PORT in use: non-zero exit" '[ "$RC" != 0 ]'
check "PORT in use: says so" grep -qi "in use" "$OUT"
check "PORT in use: fails fast (${T1} ms < 8000)" '[ "$T1" -lt 8000 ]'
check "PORT in use: the running gateway is untouched" '[ "$(status "$OLDPORT" "$GOOD_KEY")" = 200 ]'
PORT=$OLDPORT

echo "# stop (items 1 and 4)"
S=$(sup_pid); G=$(gw_pid)
stop_sh
check "stop.sh exits 0 and says the gateway stopped" '[ "$RC" = 0 ] && grep -q "pi-gateway stopped" "$OUT"' || cat "$OUT"
check "the supervisor is gone" '! alive "$S"'
check "the gateway is gone" '! alive "$G"'
check "no process of this PI_HOME is left" '[ -z "$(pids_of_home)" ]' || pids_of_home | while read -r p; do tr '\0' ' ' </proc/$p/cmdline; echo; done
check "nothing answers on PORT" '! health "$PORT"'

# a pid file naming a process that is not our gateway: the pid was reused
if [ "$(id -u)" = 0 ]; then
  setpriv --reuid=postgres --regid=postgres --clear-groups sleep 300 &
else
  sleep 300 &
fi
STRANGER=$!
HELPER_PIDS+=($STRANGER)
sleep 0.2
echo "$STRANGER" >"$PI_HOME/pi-gateway.pid"
echo "$STRANGER" >"$PI_HOME/pi-gateway-supervisor.pid"
stop_sh
check "stale pid file (pid reused): that process is not killed" alive "$STRANGER"
check "stale pid file (pid reused): says was not running" grep -q "pi-gateway was not running" "$OUT" || cat "$OUT"
kill "$STRANGER" 2>/dev/null; wait "$STRANGER" 2>/dev/null
echo "$STRANGER" >"$PI_HOME/pi-gateway.pid"
stop_sh
check "stale pid file (process gone): says was not running" '[ "$RC" = 0 ] && grep -q "pi-gateway was not running" "$OUT" && ! grep -q "pi-gateway stopped" "$OUT"'

echo "# a gateway that died before stop"
run_sh
check "run.sh starts again" '[ "$RC" = 0 ] && health "$PORT"' || cat "$OUT"
S=$(sup_pid); G=$(gw_pid)
kill -9 "$S" "$G" 2>/dev/null; sleep 0.3
stop_sh
check "both dead: stop.sh says was not running" '[ "$RC" = 0 ] && grep -q "pi-gateway was not running" "$OUT"' || cat "$OUT"

summary
