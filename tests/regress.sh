#!/usr/bin/env bash
# Run pg_regress for every sql/*.sql (sorted) against a temporary instance,
# as the postgres user, from a copy of sql/ and expected/ in a temp directory
# (the source tree may not be readable by postgres).
# Prints "N passed, M failed"; exits non-zero when M > 0.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/common.sh"
PGXS_DIR=$(dirname "$(pg_config --pgxs)")/..
PG_REGRESS=$(cd "$PGXS_DIR" && pwd)/src/test/regress/pg_regress
[ -x "$PG_REGRESS" ] || PG_REGRESS=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress


shopt -s nullglob
tests=()
for f in "$ROOT"/sql/*.sql; do
  t=$(basename "$f" .sql)
  if [ -n "${REGRESS_TESTS:-}" ] && ! [[ " $REGRESS_TESTS " == *" $t "* ]]; then continue; fi
  tests+=("$t")
done
if [ ${#tests[@]} -eq 0 ]; then
  echo "regress: no sql/*.sql tests"
  echo "0 passed, 0 failed"
  exit 0
fi
mapfile -t tests < <(printf '%s\n' "${tests[@]}" | LC_ALL=C sort)

# the sandbox's per-run cgroups (idempotent; harmless where absent)
if [ "$(id -u)" = 0 ]; then
  bash "$ROOT/scripts/cgroup-setup.sh" postgres >/dev/null 2>&1 || true
fi

WORK=$(mktemp -d /tmp/pi-regress.XXXXXX)
cleanup() {
  # an interrupted pg_regress may leave its temporary postmaster running
  if [ -f "$WORK/tmp_check/data/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$WORK/tmp_check/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ "${PI_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cp -r "$ROOT/sql" "$WORK/sql"
mkdir -p "$WORK/expected"
[ -d "$ROOT/expected" ] && cp -r "$ROOT/expected/." "$WORK/expected/"
[ -d "$ROOT/data" ] && cp -r "$ROOT/data" "$WORK/data"
cat >"$WORK/regress.conf" <<CONF
shared_preload_libraries = 'power_interpreter'
pi.database = 'contrib_regression'
max_worker_processes = 32
CONF
chown -R postgres: "$WORK" 2>/dev/null || sudo -n chown -R postgres: "$WORK"
chmod 0755 "$WORK"

echo "regress: ${tests[*]}"
as_pg "$PG_REGRESS" \
  --temp-instance="$WORK/tmp_check" \
  --temp-config="$WORK/regress.conf" \
  --inputdir="$WORK" --outputdir="$WORK" \
  --bindir="$PGBIN" \
  --load-extension=power_interpreter \
  --dbname=contrib_regression \
  "${tests[@]}" 2>&1 | tee "$WORK/pg_regress.out"
rc=${PIPESTATUS[0]}

total=${#tests[@]}
failed=$(grep -cE '(FAILED|failed \(ignored\))' "$WORK/pg_regress.out" || true)
passed=$(grep -cE '\.\.\. ok|^ok ' "$WORK/pg_regress.out" || true)
if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then
  # pg_regress itself failed (instance did not start, ...): count all as failed
  failed=$(( total - passed ))
  [ "$failed" -gt 0 ] || failed=1
  for f in "$WORK"/tmp_check/log/*.log "$WORK"/log/*.log; do
    [ -f "$f" ] && { echo "---- $f"; tail -n 40 "$f"; }
  done
fi
if [ -s "$WORK/regression.diffs" ]; then
  echo "---- regression.diffs ----"
  cat "$WORK/regression.diffs"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$rc" -eq 0 ]
