#!/usr/bin/env bash
# Stop the service started by scripts/run.sh (fine if it is not running).
set -euo pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/gateway.sh"

PI_HOME=${PI_HOME:-./.pi}
if [ ! -d "$PI_HOME" ]; then
  echo "Power Interpreter is not running (no $PI_HOME)"; exit 0
fi
PI_HOME=$(cd "$PI_HOME" && pwd -P)


STATE=$PI_HOME
[ -f "$PI_HOME/state-dir" ] && STATE=$(cat "$PI_HOME/state-dir")
DATA=$STATE/data

# the gateway and its supervisor, when the pid files name processes that
# really are ours (scripts/gateway.sh checks them in /proc)
if gw_stop; then
  echo "pi-gateway stopped"
elif [ -x "$PGBIN/pi-gateway" ] || [ -f "$STATE/pi-gateway.env" ]; then
  echo "pi-gateway was not running"
fi

if [ -f "$DATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  as_pg "$PGBIN/pg_ctl" -D "$DATA" -w -t 60 -m fast stop >/dev/null
  echo "Power Interpreter stopped ($DATA)"
else
  echo "Power Interpreter is not running"
fi
