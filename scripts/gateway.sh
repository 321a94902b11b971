# scripts/gateway.sh: the gateway's processes, for run.sh and stop.sh.
# Source it from bash after common.sh; STATE must be set when a function
# runs.  Files in STATE, all the postgres user's:
#
#   pi-gateway-supervisor.sh   a copy of scripts/gateway-supervisor.sh
#   pi-gateway-supervisor.pid  the supervisor, while it runs
#   pi-gateway.pid             the gateway it runs now
#   pi-gateway.env             the gateway's settings (mode 0600)
#   pi-gateway.key             the API key in force (mode 0600, API_KEY_FILE)
#   pi-gateway.log             the gateway's output and every restart
#
# A pid file may outlive its process, and the pid be reused by another one
# on a shared machine: a pid is only ours when its process is the postgres
# user's and is our program for this STATE (checked in /proc).

# _pg_owns PID: PID is a live process of the postgres user
_pg_owns() {
  [[ "$1" =~ ^[0-9]+$ ]] && [ "$(stat -c %u "/proc/$1" 2>/dev/null)" = "$(id -u postgres)" ]
}

# gw_supervisor_pid: print the supervisor's pid, if ours runs
gw_supervisor_pid() {
  local pid
  pid=$(cat "$STATE/pi-gateway-supervisor.pid" 2>/dev/null) || return 1
  _pg_owns "$pid" || return 1
  tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qxF "$STATE/pi-gateway-supervisor.sh" || return 1
  echo "$pid"
}

# gw_gateway_pid: print the gateway's pid, if ours runs: its program is
# pi-gateway and its environment names this STATE (the key file, or for a
# gateway started before the supervisor existed, the socket directory)
gw_gateway_pid() {
  local pid exe line
  pid=$(cat "$STATE/pi-gateway.pid" 2>/dev/null) || return 1
  _pg_owns "$pid" || return 1
  exe=$(as_pg readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)}     # the binary was reinstalled under it
  [ "${exe##*/}" = pi-gateway ] || return 1
  while IFS= read -r -d '' line; do
    case "$line" in
      "API_KEY_FILE=$STATE/pi-gateway.key" | "DATABASE_URL=host=$STATE port="*)
        echo "$pid"; return 0 ;;
    esac
  done < <(as_pg cat "/proc/$pid/environ" 2>/dev/null)
  return 1
}

_pid_alive() { [ -n "$1" ] && [ -d "/proc/$1" ]; }

# gw_stop: stop our supervisor and gateway (SIGTERM, SIGKILL after 15 s)
# and remove their pid files.  Fails when neither was running.
gw_stop() {
  local sup gw i
  sup=$(gw_supervisor_pid) || sup=
  gw=$(gw_gateway_pid) || gw=
  if [ -z "$sup$gw" ]; then
    as_pg rm -f "$STATE/pi-gateway-supervisor.pid" "$STATE/pi-gateway.pid"
    return 1
  fi
  # both: the supervisor must not start the gateway again, and a gateway
  # whose supervisor died must stop too
  as_pg kill -TERM $sup $gw 2>/dev/null
  for i in $(seq 1 75); do
    _pid_alive "$sup" || _pid_alive "$gw" || break
    sleep 0.2
  done
  if _pid_alive "$sup" || _pid_alive "$gw"; then
    echo "pi-gateway did not stop within 15 s; killing it" >&2
    as_pg kill -KILL $sup $gw 2>/dev/null
  fi
  as_pg rm -f "$STATE/pi-gateway-supervisor.pid" "$STATE/pi-gateway.pid"
  return 0
}

# gw_port_in_use PORT: something listens on 127.0.0.1:PORT
gw_port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
