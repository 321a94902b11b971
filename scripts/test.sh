#!/usr/bin/env bash
# The command behind `make test`: install dependencies, build, install, then
# run tests/regress.sh and every tests/*/run.sh, and print the totals.
#   TESTS="regress jobs"   run only these suites (names: regress, or the
#                          directory names under tests/)
#   SKIP_BUILD=1           skip deps/build/install (already done)
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  bash scripts/deps.sh || { echo "deps failed"; exit 1; }
  make -j"$(nproc)" || { echo "build failed"; exit 1; }
  as_root make install || { echo "make install failed"; exit 1; }
fi

wanted() {
  [ -z "${TESTS:-}" ] && return 0
  [[ " ${TESTS//,/ } " == *" $1 "* ]]
}

suites=()
wanted regress && suites+=("tests/regress.sh")
for f in tests/*/run.sh; do
  [ -f "$f" ] || continue
  name=$(basename "$(dirname "$f")")
  wanted "$name" && suites+=("$f")
done

total_pass=0; total_fail=0; bad_suites=()
for s in "${suites[@]}"; do
  echo
  echo "===== $s ====="
  out=$(mktemp)
  bash "$s" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
  rm -f "$out"
  if [ -n "$line" ]; then
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
  else
    p=0; f=1; echo "($s printed no 'N passed, M failed' line)"
  fi
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; echo "($s exited with status $rc)"; fi
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
  [ "$f" -gt 0 ] && bad_suites+=("$s")
done

echo
[ ${#bad_suites[@]} -gt 0 ] && echo "failing suites: ${bad_suites[*]}"
echo "TOTAL (${#suites[@]} suites):"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ ${#suites[@]} -gt 0 ]
