#!/usr/bin/env bash
# tests/image/run.sh: the Debian package installed for real, and the
# container image made from the same root (packaging/container/README.md).
#  1. mmdebstrap builds a Debian 12 root (bookworm, -updates, -security) and
#     installs build/deb's package into it with apt (setup-root.sh, the
#     Containerfile's own step), which brings PostgreSQL 15 and the Python
#     packages of its Depends.
#  2. The install: in a container of that root, README.Debian's procedure
#     with a cluster of the distribution's layout (pg_createcluster),
#     CREATE EXTENSION, pi.execute, the packaged gateway from PATH as the
#     role pi_gateway with the key that postinst generated, and the gateway
#     suite's REST and MCP checks (tests/gateway/http.sh) against it.
#  3. The image: podman build of packaging/container/Containerfile on that
#     root; it refuses a runtime without user namespaces or a writable
#     cgroup; started with a volume it answers /health and its health
#     check, runs a job, loads a dataset, stops cleanly on SIGTERM with a
#     job running, and after a restart has the dataset and finishes the job.
#     DATABASE_URL naming a server without the extension stops it at start
#     with the explanation.
#  4. dpkg --purge in the root leaves no file of the package.
# Needs root, mmdebstrap, podman and runc (scripts/deps.sh installs them); a
# missing tool is a failure, not a skip.  The root is built in /tmp and
# removed at the end (set PI_KEEP=1 to keep it); debs already in
# /var/cache/apt/archives are used instead of downloading them again.
# Prints "N passed, M failed"; exits non-zero on failure.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib/cluster.sh"

PKG=postgresql-15-power-interpreter
for tool in mmdebstrap podman runc curl dpkg-deb; do
  command -v "$tool" >/dev/null || fail "$tool is installed (scripts/deps.sh)"
done
[ "$(id -u)" = 0 ] || fail "runs as root (mmdebstrap and podman build a root file system)"
[ "$PI_FAILED" = 0 ] || { summary; exit 1; }

T=$(mktemp -d /tmp/pi-image.XXXXXX)
chmod 0755 "$T"
R=$T/root
TAG=$$-$RANDOM
BASE=localhost/pi-image-root:$TAG
IMG=localhost/pi-image:$TAG
VOL=pi-image-data-$TAG
CONTAINERS=()
# This machine's root lacks CAP_SYS_RESOURCE and its cgroups are v1 with a
# v2 hierarchy beside (hybrid, which crun refuses): runc, and rlimits no
# higher than ours (podman's defaults would raise them).
podman_run() {
  podman --runtime runc run --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" \
    --ulimit "nproc=16384:16384" "$@"
}
# what the sandbox needs of the runtime (packaging/container/README.md)
SANDBOX_OPTS=(--security-opt unmask=ALL --cap-add SYS_ADMIN)
cleanup() {
  local c
  # -v: the anonymous volumes of the image's VOLUME go with their container
  for c in "${CONTAINERS[@]}"; do podman rm -f -v -t 5 "$c" >/dev/null 2>&1; done
  podman rmi -f "$IMG" >/dev/null 2>&1
  podman rmi -f "$BASE" >/dev/null 2>&1
  podman volume rm -f "$VOL" >/dev/null 2>&1
  [ -n "${PLAIN_DATA:-}" ] && as_pg "$PI_PGBIN/pg_ctl" -D "$PLAIN_DATA" -m immediate stop >/dev/null 2>&1
  if [ "${PI_KEEP:-0}" = 1 ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

DEB=${PI_DEB:-}
if [ -z "$DEB" ]; then
  make -C "$ROOT" deb >"$T/deb.log" 2>&1
  check "make deb builds the package" '[ $? = 0 ]' || true
  DEB=$(ls "$ROOT"/build/deb/${PKG}_*.deb 2>/dev/null | head -n 1)
  [ -n "$DEB" ] || { tail -n 30 "$T/deb.log"; summary; exit 1; }
fi

echo "# 1. a Debian 12 root, the package installed into it with apt"
t0=$(date +%s)
mmdebstrap --variant=apt --mode=root --skip=download/empty \
  --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
  --setup-hook='ln /var/cache/apt/archives/*.deb "$1/var/cache/apt/archives/" 2>/dev/null || true' \
  --customize-hook="mkdir -p \"\$1/tmp/pi-image\" && cp '$DEB' '$ROOT/packaging/container/setup-root.sh' '$ROOT/packaging/container/entrypoint.sh' \"\$1/tmp/pi-image/\"" \
  --customize-hook="chroot \"\$1\" sh /tmp/pi-image/setup-root.sh /tmp/pi-image/$(basename "$DEB")" \
  --customize-hook='rm -rf "$1/tmp/pi-image"' \
  bookworm "$R" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main" >"$T/mmdebstrap.log" 2>&1
rc=$?; check "mmdebstrap + apt install of the package ($(( $(date +%s) - t0 )) s)" '[ $rc = 0 ]' \
  || { tail -n 40 "$T/mmdebstrap.log"; summary; exit 1; }
in_root() { chroot "$R" "$@"; }
check "dpkg in the root knows it as installed" \
  '[ "$(in_root dpkg-query -W -f="\${db:Status-Status}" $PKG)" = installed ]'
check "apt brought PostgreSQL 15 and the Python stack" \
  'in_root dpkg-query -W postgresql-15 python3-pandas python3-matplotlib python3-sklearn >/dev/null'
check "postinst generated the gateway's key (0600 root)" \
  '[ "$(stat -c %a:%U "$R/etc/power-interpreter/api_key")" = 600:root ]'
check "no cluster is baked into the root" '[ -z "$(ls -A "$R/etc/postgresql/15" 2>/dev/null)" ]'
echo "# $(du -sh --apparent-size "$R" | cut -f1) root"

t0=$(date +%s)
tar --numeric-owner -C "$R" -c . | podman import -q - "$BASE" >/dev/null
check "the root imports as an image ($(( $(date +%s) - t0 )) s)" 'podman image exists "$BASE"' \
  || { summary; exit 1; }

echo "# 2. README.Debian's procedure in that root, with pg_createcluster"
C=pi-image-install-$TAG; CONTAINERS+=("$C")
GWPORT=$(pi_free_port)
podman_run -d --name "$C" "${SANDBOX_OPTS[@]}" -p "127.0.0.1:$GWPORT:8080" \
  "$BASE" sleep infinity >/dev/null
inc() { podman exec "$C" "$@"; }
inc_in() { podman exec -i "$C" "$@"; }   # with this script's stdin (SQL)
inc pg_createcluster 15 pkgtest -p 5432 >"$T/install.log" 2>&1
check "pg_createcluster 15 pkgtest" '[ $? = 0 ]' || cat "$T/install.log"
inc sh -c "echo \"shared_preload_libraries = 'power_interpreter'\" > /etc/postgresql/15/pkgtest/conf.d/power_interpreter.conf" \
  && inc pg_ctlcluster 15 pkgtest start >>"$T/install.log" 2>&1
check "the cluster starts with the library preloaded" '[ $? = 0 ]' || cat "$T/install.log"
inc runuser -u postgres -- createdb pi >>"$T/install.log" 2>&1
inc runuser -u postgres -- psql -X -q -d pi -c 'CREATE EXTENSION power_interpreter' >>"$T/install.log" 2>&1
check "CREATE EXTENSION power_interpreter" '[ $? = 0 ]' || true
check "pi.execute runs Python in the sandbox" \
  '[ "$(inc runuser -u postgres -- psql -X -At -d pi -c "SELECT pi.execute(\$\$print(6*7)\$\$)->>\$\$stdout\$\$")" = 42 ]'
# README.Debian: the roles, the key from /etc/power-interpreter/api_key;
# the gateway runs as the OS user pi_gateway (systemd's DynamicUser there)
inc_in sh -c 'PI_KEY=$(head -n 1 /etc/power-interpreter/api_key) runuser -u postgres -- psql -X -q -d pi -v ON_ERROR_STOP=1' >>"$T/install.log" 2>&1 <<'SQL'
CREATE ROLE pi_gateway LOGIN;
CREATE ROLE pi_default_tenant NOLOGIN IN ROLE pi_user;
GRANT pi_authenticator, pi_default_tenant TO pi_gateway;
\getenv key PI_KEY
SELECT pi.register_api_key('pi_default_tenant', 'service key', :'key');
SQL
rc=$?
check "README.Debian's roles and key" \
  '[ $rc = 0 ] && [ "$(inc runuser -u postgres -- psql -X -At -d pi -c "SELECT count(*) FROM pg_roles WHERE rolname = \$\$pi_gateway\$\$")" = 1 ]' \
  || tail -n 5 "$T/install.log"
KEY=$(head -n 1 "$R/etc/power-interpreter/api_key")
inc sh -c 'useradd --system --no-create-home pi_gateway &&
  install -o pi_gateway -m 0400 /etc/power-interpreter/api_key /run/pi-gateway.key'
# the env file read as systemd's EnvironmentFile= does: one KEY=VALUE a line
podman exec -d "$C" sh -c 'while IFS= read -r l; do case "$l" in ""|"#"*) ;; *) export "$l" ;; esac
  done </etc/power-interpreter/pi-gateway.env
  exec runuser -u pi_gateway -- env HOST=0.0.0.0 MAX_FILE_SIZE_MB=8 PI_GATEWAY_EXECUTE_WAIT=3 \
    API_KEY_FILE=/run/pi-gateway.key pi-gateway >/tmp/gw.log 2>&1' >/dev/null
U=http://127.0.0.1:$GWPORT
gw_up() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$U/health")" = 200 ]; }
check "/usr/bin/pi-gateway with pi-gateway.env answers /health" 'wait_until 60 gw_up' \
  || inc cat /tmp/gw.log
PI_TEST_DIR=$T GW_HOST=0.0.0.0 GW_DB_SUPERUSER=0
echo "# the gateway suite's REST and MCP checks, against the installed package"
. "$ROOT/tests/gateway/http.sh"
inc pg_dropcluster --stop 15 pkgtest
check "pg_dropcluster --stop" '[ $? = 0 ]' || true
podman rm -f -v -t 0 "$C" >/dev/null

echo "# 3. the image"
t0=$(date +%s)
podman build -q --runtime runc --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=16384:16384 \
  --format docker --network none --build-arg BASE="$BASE" \
  -f "$ROOT/packaging/container/Containerfile" -t "$IMG" "$ROOT" >"$T/build.log" 2>&1
rc=$?; check "podman build of packaging/container/Containerfile ($(( $(date +%s) - t0 )) s)" '[ $rc = 0 ]' \
  || { tail -n 20 "$T/build.log"; summary; exit 1; }
check "the image has a health check on /health" \
  '[[ "$(podman image inspect --format "{{json .Config.Healthcheck}}" "$IMG")" == *"/health"* ]]'
check "one volume, the data directory's parent" \
  '[[ "$(podman image inspect --format "{{json .Config.Volumes}}" "$IMG")" == *"/var/lib/power-interpreter"* ]]'

KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
ENVS=(-e API_KEY="$KEY" -e MAX_FILE_SIZE_MB=8 -e MAX_CONCURRENT_JOBS=3 -e JOB_TIMEOUT=300
      -e MAX_EXECUTION_TIME=120 -e MAX_MEMORY_MB=768)

# once RUN...: a container that must end by itself; sets OUT and RC
once() {
  local c=pi-image-once-$TAG-$RANDOM; CONTAINERS+=("$c")
  podman_run -d --name "$c" "$@" >/dev/null 2>&1
  RC=$(timeout 120 podman wait "$c" 2>/dev/null | tail -n 1)
  OUT=$(podman logs "$c" 2>&1)
  podman rm -f -v "$c" >/dev/null 2>&1
}
once "${ENVS[@]}" "$IMG"
check "no user namespaces with a fresh /proc: exit 3, says what to allow" \
  '[ "$RC" = 3 ] && [[ "$OUT" == *"refusing to start: the sandbox needs user namespaces"* ]] && [[ "$OUT" == *PI_ALLOW_UNSANDBOXED=1* ]]'
# the sandbox's syscalls allowed, the cgroup left read-only (no SYS_ADMIN)
NOCG_OPTS=(--security-opt unmask=ALL --security-opt seccomp=unconfined)
once "${ENVS[@]}" --security-opt unmask=ALL "$IMG"
check "podman's seccomp profile without SYS_ADMIN (no sethostname): exit 3" \
  '[ "$RC" = 3 ] && [[ "$OUT" == *"refusing to start: the sandbox needs user namespaces"* ]]'
once "${ENVS[@]}" "${NOCG_OPTS[@]}" "$IMG"
check "no writable cgroup: exit 3, says what to allow" \
  '[ "$RC" = 3 ] && [[ "$OUT" == *"need a"*"writable cgroup"* ]] && [[ "$OUT" == *PI_ALLOW_NO_CGROUP=1* ]]'
once "${ENVS[@]}" -e API_KEY=short "${SANDBOX_OPTS[@]}" "$IMG"
check "a short API_KEY: exit 2 naming it" '[ "$RC" = 2 ] && [[ "$OUT" == *"API_KEY must be at least 16"* ]]'

# the explicit ways to start anyway: loud in the log, and they do serve
# started OPTS...: a container that must serve; sets OUT (its log) and STDOUT
# (what print(1) printed through the gateway); removed afterwards
started() {
  local c=pi-image-allow-$TAG-$RANDOM p; CONTAINERS+=("$c")
  p=$(pi_free_port)
  podman_run -d --name "$c" -p "127.0.0.1:$p:8080" "$@" "$IMG" >/dev/null 2>>"$T/podman.log"
  U=http://127.0.0.1:$p
  STDOUT=
  if wait_until 240 gw_up; then
    req POST /api/execute -d '{"code":"print(1)"}'; STDOUT=$(jq_ 'd["stdout"]')
  fi
  OUT=$(podman logs "$c" 2>&1)
  podman rm -f -v -t 30 "$c" >/dev/null 2>&1
}
started "${ENVS[@]}" "${NOCG_OPTS[@]}" -e PI_ALLOW_NO_CGROUP=1
check "PI_ALLOW_NO_CGROUP=1: serves, sandbox on with per-process limits, said loudly" \
  '[ "$STDOUT" = 1 ] && [[ "$OUT" == *"*** NO PER-RUN CGROUP"* ]] && [[ "$OUT" == *"sandbox: on, per-process limits only"* ]]' \
  || { echo "# print(1) printed: $STDOUT ($BODY)"; tail -n 15 <<<"$OUT" | sed 's/^/#   /'; }
started "${ENVS[@]}" -e PI_ALLOW_UNSANDBOXED=1
check "PI_ALLOW_UNSANDBOXED=1: serves with the sandbox off, said loudly" \
  '[ "$STDOUT" = 1 ] && [[ "$OUT" == *"*** THE SANDBOX IS OFF"* ]] && [[ "$OUT" == *"sandbox: OFF"* ]]'

# DATABASE_URL at a server without the extension (a plain cluster here,
# standing in for a managed PostgreSQL): the gateway refuses it
PLAIN_DATA=$T/plain; mkdir -p "$T/plainsock" "$PLAIN_DATA"
chown postgres: "$T/plainsock" "$PLAIN_DATA"; chmod 0700 "$PLAIN_DATA"
as_pg "$PI_PGBIN/initdb" -D "$PLAIN_DATA" -A trust -U postgres --no-sync >/dev/null 2>&1
as_pg "$PI_PGBIN/pg_ctl" -D "$PLAIN_DATA" -l "$T/plainsock/log" -w \
  -o "-k $T/plainsock -c listen_addresses='' -p 5432" start >/dev/null 2>&1
check "a plain cluster (no extension) for it" '[ -S "$T/plainsock/.s.PGSQL.5432" ]' || cat "$T/plainsock/log"
once "${ENVS[@]}" -v "$T/plainsock:/plainsock" \
  -e DATABASE_URL="host=/plainsock port=5432 dbname=postgres user=postgres" "$IMG"
check "DATABASE_URL without the extension: exit 2, the gateway's reason and what to do" \
  '[ "$RC" = 2 ] && [[ "$OUT" == *"has no power_interpreter extension"* ]] && [[ "$OUT" == *"unset DATABASE_URL"* ]]'
as_pg "$PI_PGBIN/pg_ctl" -D "$PLAIN_DATA" -m fast stop >/dev/null 2>&1; PLAIN_DATA=

C=pi-image-$TAG; CONTAINERS+=("$C")
GWPORT=$(pi_free_port); U=http://127.0.0.1:$GWPORT
podman volume create "$VOL" >/dev/null
t0=$(date +%s)
# (podman's stderr: without systemd it cannot time the health check itself,
# and says so at every start and stop; `podman healthcheck run` below)
podman_run -d --name "$C" "${SANDBOX_OPTS[@]}" "${ENVS[@]}" -p "127.0.0.1:$GWPORT:8080" \
  -v "$VOL:/var/lib/power-interpreter" "$IMG" >/dev/null 2>>"$T/podman.log"
wait_until 240 gw_up; rc=$?
check "first start: /health answers 200 ($(( $(date +%s) - t0 )) s: initdb, the extension, a trial run)" '[ $rc = 0 ]' \
  || podman logs "$C" 2>&1 | tail -n 30
# the log read whole first: with pipefail, grep -q closing the pipe early
# would fail the check by podman's SIGPIPE even when the line is there
C_LOG=$(podman logs "$C" 2>&1)
check "the entrypoint reports the sandbox with per-run cgroups" \
  '[[ "$C_LOG" == *"sandbox: on, with per-run cgroups"* ]]'
check "podman healthcheck run: healthy" 'podman healthcheck run "$C" >/dev/null 2>&1'
psql_c() { podman exec "$C" runuser -u postgres -- psql -X -At -d pi -c "$1"; }
SETTINGS=$(psql_c "SELECT concat_ws(' ', current_setting('pi.max_concurrent_jobs'), current_setting('pi.job_timeout'),
  current_setting('pi.max_memory_mb'), current_setting('pi.max_execution_time'), current_setting('pi.max_file_size_mb'))")
check "the environment's settings are in force ($SETTINGS)" '[ "$SETTINGS" = "3 5min 768 2min 8" ]'
check "PostgreSQL listens on no TCP port" '[ "$(psql_c "SHOW listen_addresses")" = "" ]'

req POST /api/jobs/submit -d '{"code":"print(sum(range(10)))"}'; JOB=$(jq_ 'd["job_id"]')
req GET "/api/jobs/$JOB/result?wait=60"
check "a job runs to completed" '[ "$(jq_ "d[\"status\"]")" = completed ] && [ "$(jq_ "d[\"stdout\"]")" = 45 ]'
req POST /api/sessions -d '{"label":"image"}'; SID=$(jq_ 'd["session_id"]')
req POST "/api/files/upload?session_id=$SID&path=kept.csv" --data-binary $'a,b\n1,2\n3,4\n5,6\n'
req POST /api/data/load-csv -d "{\"file_path\":\"kept.csv\",\"dataset_name\":\"kept\",\"session_id\":\"$SID\"}"
LJOB=$(jq_ 'd["job_id"]'); req GET "/api/jobs/$LJOB/result?wait=60"
req POST /api/data/query -d '{"sql":"SELECT sum(b) AS s FROM kept"}'
check "a CSV loads into the dataset kept" '[ "$STATUS" = 200 ] && [[ "$BODY" == *12* ]]'

# SIGTERM with a job running: the fast shutdown hands it back to the queue
req POST /api/jobs/submit -d '{"code":"import time\ntime.sleep(6)\nprint(\"survived\")", "timeout": 120}'
RJOB=$(jq_ 'd["job_id"]')
job_running() { req GET "/api/jobs/$RJOB/status"; [ "$(jq_ 'd["status"]')" = running ]; }
check "a long job is running" 'wait_until 60 job_running'
t0=$(date +%s)
podman stop -t 90 "$C" >/dev/null 2>>"$T/podman.log"
check "SIGTERM: stopped by itself with status 0 ($(( $(date +%s) - t0 )) s)" \
  '[ "$(podman inspect --format "{{.State.ExitCode}}" "$C")" = 0 ]'
podman logs "$C" >"$T/first.log" 2>&1
FIRST_LINES=$(wc -l <"$T/first.log")
check "... the gateway first, then PostgreSQL's fast shutdown" \
  'grep -q "fast shutdown request" "$T/first.log" && grep -q "database system is shut down" "$T/first.log" && grep -q "pi-entrypoint: stopped" "$T/first.log"'

t0=$(date +%s)
podman start "$C" >/dev/null 2>>"$T/podman.log"
wait_until 240 gw_up; rc=$?
check "restart on the same volume: /health answers 200 ($(( $(date +%s) - t0 )) s)" '[ $rc = 0 ]' \
  || podman logs "$C" 2>&1 | tail -n 30
podman logs "$C" 2>&1 | tail -n +"$((FIRST_LINES + 1))" >"$T/second.log"
check "the cluster was shut down cleanly (no recovery at the restart)" \
  '! grep -q "not properly shut down\|automatic recovery in progress" "$T/second.log"'
check "the restart made no new cluster" '! grep -q "first start" "$T/second.log"'
req POST /api/data/query -d '{"sql":"SELECT sum(b) AS s FROM kept"}'
check "the dataset survived the restart" '[ "$STATUS" = 200 ] && [[ "$BODY" == *12* ]]'
req GET "/api/jobs/$RJOB/result?wait=90"
check "the job running at SIGTERM ran again to completed" \
  '[ "$(jq_ "d[\"status\"]")" = completed ] && [ "$(jq_ "d[\"stdout\"]")" = survived ]'
req GET "/api/files?session_id=$SID"
check "the session's workspace survived too" '[[ "$BODY" == *kept.csv* ]]'
podman stop -t 90 "$C" >/dev/null 2>>"$T/podman.log"
check "second SIGTERM: status 0" '[ "$(podman inspect --format "{{.State.ExitCode}}" "$C")" = 0 ]'

echo "# 4. dpkg --purge in the root"
in_root dpkg --purge "$PKG" >"$T/purge.log" 2>&1
check "dpkg --purge $PKG" '[ $? = 0 ]' || cat "$T/purge.log"
check "dpkg forgot it" '[ -z "$(in_root dpkg-query -W -f="\${db:Status-Status}" $PKG 2>/dev/null)" ]'
left=$(dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' |
       while read -r f; do [ -e "$R$f" ] || [ -L "$R$f" ] && echo "$f"; done)
check "none of the package's files is left" '[ -z "$left" ]' || echo "$left" | sed 's/^/#   left: /'
check "nor /etc/power-interpreter (the key)" '[ ! -e "$R/etc/power-interpreter" ]'
check "nor its documentation directory" '[ ! -e "$R/usr/share/doc/$PKG" ]'
summary
