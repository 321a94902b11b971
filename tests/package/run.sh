#!/usr/bin/env bash
# tests/package/run.sh: the deployment checks (packaging/deployment.md).
#  1. pi-gateway against a plain cluster without the extension: exit 2 and
#     the explanation; with a stand-in pi.execute it starts; with no server
#     listening it starts too (/health reports it).
#  2. when debhelper and lintian are installed: `make deb`, lintian, the
#     package unpacked into a throwaway root (dpkg-deb -x): files, links,
#     modes, maintainer scripts, units (systemd-analyze verify).
#  (installing it for real, in a throwaway Debian root: tests/image)
# Prints "N passed, M failed"; exits non-zero on failure.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib/cluster.sh"

PKG=postgresql-15-power-interpreter
GW=${PI_GATEWAY:-$ROOT/gateway/pi-gateway}
[ -x "$GW" ] || make -C "$ROOT" -f gateway/gateway.mk gateway/pi-gateway >/dev/null || exit 1

T=$(mktemp -d /tmp/pi-package.XXXXXX)
chmod 0755 "$T"
chown postgres: "$T" 2>/dev/null || as_root chown postgres: "$T"
PORT_PG=$(pi_free_port)
plain_ctl() { as_pg "$PI_PGBIN/pg_ctl" -D "$T/data" -l "$T/pg.log" "$@"; }
cleanup() {
  [ -n "${GW_PID:-}" ] && kill "$GW_PID" 2>/dev/null
  plain_ctl -m immediate stop >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT

echo "# pi-gateway and a database without the extension"
as_pg "$PI_PGBIN/initdb" -D "$T/data" -A trust -U postgres --no-sync >/dev/null 2>&1 \
  || { echo "initdb failed"; exit 1; }
plain_ctl -w -o "-p $PORT_PG -k $T -c listen_addresses=''" start >/dev/null \
  || { echo "cluster start failed"; cat "$T/pg.log"; exit 1; }
KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
URL="host=$T port=$PORT_PG dbname=postgres user=postgres"

# gw_once: run the gateway until it exits (at most 15 s); sets RC, OUT
gw_once() {
  OUT=$(PORT=$(pi_free_port) API_KEY=$KEY DATABASE_URL=$URL timeout 15 "$GW" 2>&1)
  RC=$?
}
gw_once
check "exit status 2" '[ "$RC" = 2 ]'
check "names the database and the missing extension" \
  '[[ "$OUT" == *"database \"postgres\""*"has no power_interpreter extension"* ]]'
check "says that the extension must be inside that server" \
  '[[ "$OUT" == *"must be installed in it"* ]]'
if [ -f "$PI_PGBIN/../../../../share/postgresql/15/extension/power_interpreter.control" ] ||
   [ -f "$(as_pg "$PI_PGBIN/pg_config" --sharedir)/extension/power_interpreter.control" ]; then
  check "the server has the files: says to run CREATE EXTENSION" \
    '[[ "$OUT" == *"run CREATE EXTENSION power_interpreter"* ]]'
else
  check "the server lacks the files: says a managed PostgreSQL cannot work" \
    '[[ "$OUT" == *"managed PostgreSQL"* ]]'
fi

as_pg "$PI_PGBIN/psql" -X -q -h "$T" -p "$PORT_PG" -d postgres -v ON_ERROR_STOP=1 <<'SQL' >/dev/null || exit 1
CREATE SCHEMA pi;
CREATE FUNCTION pi.execute(code text, timeout integer, session uuid) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('status', 'completed') $$;
SQL
pi_gateway_start "$T/gw-stub.log" env API_KEY="$KEY" DATABASE_URL="$URL" "$GW"
check "with pi.execute there it starts and listens" '[ -n "${PI_GW_PID:-}" ] && kill -0 "$PI_GW_PID"'
GW_PID=${PI_GW_PID:-}
kill "$GW_PID" 2>/dev/null; wait "$GW_PID" 2>/dev/null; GW_PID=

plain_ctl -m fast stop >/dev/null 2>&1
pi_gateway_start "$T/gw-down.log" env API_KEY="$KEY" DATABASE_URL="$URL" "$GW"
GW_PID=${PI_GW_PID:-}
check "with no server listening it starts anyway" '[ -n "$GW_PID" ] && kill -0 "$GW_PID"'
check "and says the server cannot be reached now" 'grep -q "cannot be reached now" "$T/gw-down.log"'
check "/health answers 503 database_unavailable" \
  '[ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$PI_GW_PORT/health")" = 503 ]'
kill "$GW_PID" 2>/dev/null; wait "$GW_PID" 2>/dev/null; GW_PID=

echo "# the Debian package"
if ! command -v dh >/dev/null || ! command -v dpkg-buildpackage >/dev/null; then
  # scripts/deps.sh installs them: a check that cannot run is a failure
  fail "debhelper and dpkg-buildpackage are installed (scripts/deps.sh)"
  summary; exit $?
fi
DEB=${PI_DEB:-}
if [ -z "$DEB" ]; then
  make -C "$ROOT" deb >"$T/deb.log" 2>&1
  check "make deb builds the package" '[ $? = 0 ]' || true
  DEB=$(ls "$ROOT"/build/deb/${PKG}_*.deb 2>/dev/null | head -n 1)
  [ -n "$DEB" ] || { tail -n 30 "$T/deb.log"; summary; exit 1; }
fi

if command -v lintian >/dev/null; then
  lintian --pedantic -I "$DEB" >"$T/lintian.txt" 2>&1
  sed 's/^/#   /' "$T/lintian.txt"
  check "lintian: no error or warning (the rest is overridden or explained)" \
    '! grep -Eq "^[EW]: " "$T/lintian.txt"'
  check "lintian: nothing left but overrides" '! grep -Eq "^[EWIP]: " "$T/lintian.txt"'
else
  echo "# lintian is not installed: not linted"
fi

R=$T/root
dpkg-deb -x "$DEB" "$R"
dpkg-deb -e "$DEB" "$T/control"
for f in usr/lib/postgresql/15/lib/power_interpreter.so \
         usr/share/postgresql/15/extension/power_interpreter.control \
         usr/share/postgresql/15/extension/power_interpreter--0.1.sql \
         usr/lib/postgresql/15/bin/pi-executor usr/lib/postgresql/15/bin/pi-gateway \
         usr/sbin/pi-cgroup-setup \
         lib/systemd/system/pi-gateway.service lib/systemd/system/pi-cgroup-setup.service \
         lib/systemd/system/postgresql@.service.d/power-interpreter.conf \
         etc/power-interpreter/pi-gateway.env \
         usr/share/doc/$PKG/README.Debian usr/share/doc/$PKG/runner.py.gz \
         usr/share/man/man1/pi-gateway.1.gz usr/share/man/man1/pi-executor.1.gz \
         usr/share/man/man8/pi-cgroup-setup.8.gz; do
  check "holds /$f" "[ -s '$R/$f' ]"
done
check "/usr/bin/pi-gateway links to PostgreSQL's bin" \
  '[ "$(readlink "$R/usr/bin/pi-gateway")" = ../lib/postgresql/15/bin/pi-gateway ]'
check "the programs are executable" \
  '[ -x "$R/usr/lib/postgresql/15/bin/pi-executor" ] && [ -x "$R/usr/lib/postgresql/15/bin/pi-gateway" ] && [ -x "$R/usr/sbin/pi-cgroup-setup" ]'
check "the packaged pi-gateway runs (usage, exit 2)" \
  '{ "$R/usr/lib/postgresql/15/bin/pi-gateway" --help 2>&1 || true; } | grep -q "usage: pi-gateway"'
check "the packaged pi-executor embeds runner.py" \
  'grep -aq "The Python side of a pi-executor kernel" "$R/usr/lib/postgresql/15/bin/pi-executor"'
check "the packaged library loads PostgreSQL symbols only from the server (no unresolved libs)" \
  '! ldd "$R/usr/lib/postgresql/15/lib/power_interpreter.so" | grep -q "not found"'
check "the binaries are hardened (BIND_NOW, RELRO)" \
  'for b in pi-executor pi-gateway; do readelf -d "$R/usr/lib/postgresql/15/bin/$b" | grep -q BIND_NOW || exit 1; readelf -l "$R/usr/lib/postgresql/15/bin/$b" | grep -q GNU_RELRO || exit 1; done'
check "Depends: postgresql-15 and the Python packages" \
  'dep=$(dpkg-deb -f "$DEB" Depends); for p in postgresql-15 python3-numpy python3-pandas python3-matplotlib libpython3.11; do [[ "$dep" == *"$p"* ]] || exit 1; done'
check "Depends: at least the PostgreSQL 15 minor it was built against" \
  '[[ "$(dpkg-deb -f "$DEB" Depends)" == *"postgresql-15 (>= $(dpkg-query -W -f="\${Version}" postgresql-server-dev-15 | sed "s/-.*//"))"* ]]'
check "pi-gateway.env is a conffile" 'grep -qx /etc/power-interpreter/pi-gateway.env "$T/control/conffiles"'
check "maintainer scripts are valid sh" \
  'for s in postinst postrm prerm preinst; do [ ! -f "$T/control/$s" ] || sh -n "$T/control/$s" || exit 1; done'
# dh_installsystemd --no-enable: enabled again on upgrade only when the
# admin had enabled it (debian-installed / was-enabled), never started
check "postinst: the gateway unit is not enabled nor started at installation" \
  'grep -q "debian-installed .pi-gateway.service" "$T/control/postinst" && ! grep -q "deb-systemd-invoke.*pi-gateway" "$T/control/postinst"'
check "postinst: the cgroup unit is enabled and started" \
  'grep -q "deb-systemd-invoke .* .pi-cgroup-setup.service" "$T/control/postinst"'

# postinst run against the throwaway root: makes a 0600 key, once
mkdir -p "$T/etcroot/etc/power-interpreter"
sed "s#/etc/power-interpreter#$T/etcroot/etc/power-interpreter#g; /^#DEBHELPER#/d" \
  "$ROOT/debian/postinst" > "$T/postinst.test"
sh "$T/postinst.test" configure >/dev/null 2>&1
k1=$(cat "$T/etcroot/etc/power-interpreter/api_key" 2>/dev/null)
check "postinst makes a key of 48 hex digits, mode 0600" \
  '[[ "$k1" =~ ^[0-9a-f]{48}$ ]] && [ "$(stat -c %a "$T/etcroot/etc/power-interpreter/api_key")" = 600 ]'
sh "$T/postinst.test" configure >/dev/null 2>&1
check "postinst keeps an existing key" '[ "$(cat "$T/etcroot/etc/power-interpreter/api_key")" = "$k1" ]'

if command -v systemd-analyze >/dev/null; then
  # verify resolves ExecStart= and man: links on the host: point them at
  # the unpacked root
  mkdir -p "$T/units"
  for u in pi-gateway.service pi-cgroup-setup.service; do
    sed -e "s#ExecStart=/usr/#ExecStart=$R/usr/#" -e "s#^EnvironmentFile=.*#EnvironmentFile=$R/etc/power-interpreter/pi-gateway.env#" \
      -e "/^LoadCredential=/s#/etc/#$R/etc/#" "$R/lib/systemd/system/$u" > "$T/units/$u"
  done
  SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$T/units/pi-gateway.service" \
    "$T/units/pi-cgroup-setup.service" >"$T/verify.txt" 2>&1
  grep -v -e 'Failed to .*bus' -e 'Cannot find unit for notify-reload' "$T/verify.txt" | sed 's/^/#   /'
  check "systemd-analyze verify: the units parse without complaint" \
    '! grep -Eiv "bus|ignoring|connect" "$T/verify.txt" | grep -Eiq "error|unknown|invalid|failed"'
  if systemd-analyze security --help >/dev/null 2>&1; then
    systemd-analyze security --offline=yes "$T/units/pi-gateway.service" 2>/dev/null | tail -n 1 | sed 's/^/#   /'
  fi
else
  echo "# systemd-analyze is not installed: units not verified"
fi

# The real installation (apt into a Debian 12 root, pg_createcluster, the
# gateway suite's HTTP checks, purge) is tests/image/run.sh: never dpkg -i
# here, where the system's PostgreSQL holds make install's files.
summary
