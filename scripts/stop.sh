#!/usr/bin/env bash
# Stop the service started by scripts/run.sh (fine if it is not running).
set -euo pipefail
. "$(dirname "$0")/common.sh"

PI_HOME=${PI_HOME:-./.pi}
if [ ! -d "$PI_HOME" ]; then
  echo "Power Interpreter is not running (no $PI_HOME)"; exit 0
fi
PI_HOME=$(cd "$PI_HOME" && pwd -P)


STATE=$PI_HOME
[ -f "$PI_HOME/state-dir" ] && STATE=$(cat "$PI_HOME/state-dir")
DATA=$STATE/data

# (the gateway, once it exists, is stopped here too)
if [ -f "$STATE/pi-gateway.pid" ]; then
  as_pg kill "$(cat "$STATE/pi-gateway.pid")" 2>/dev/null || true
  as_pg rm -f "$STATE/pi-gateway.pid" || true
  echo "pi-gateway stopped"
fi

if [ -f "$DATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  as_pg "$PGBIN/pg_ctl" -D "$DATA" -w -t 60 -m fast stop >/dev/null
  echo "Power Interpreter stopped ($DATA)"
else
  echo "Power Interpreter is not running"
fi
