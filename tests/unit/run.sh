#!/usr/bin/env bash
# C unit tests of pure code, built as plain programs.  Needs no cluster.
#  - the extension's parsing code (CSV scanner, type inference, dialect and
#    header detection, the analysis and the feed to COPY), against the
#    server headers with pg_stubs.c standing in for the backend;
#  - common/tree_remove.c (run as postgres when started as root: root
#    ignores the folder modes the test plants).
# Prints "N passed, M failed" as its last line.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
CC=${CC:-cc}

BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT

# The extension's sources under test, compiled afresh (not the PIC objects
# of the library) with the warnings PostgreSQL builds with.
SOURCES=(
  "$ROOT/extension/csv_scan.c"
  "$ROOT/extension/csv_header.c"
  "$ROOT/extension/csv_load.c"
  "$ROOT/extension/csv_parallel.c"
  "$HERE/pg_stubs.c"
  "$HERE/unit_main.c"
  "$HERE/test_csv_scan.c"
  "$HERE/test_csv_load.c"
)
CFLAGS=(-std=gnu99 -O1 -g -Wall -Wmissing-prototypes -Wpointer-arith -fwrapv
        -fno-strict-aliasing -D_GNU_SOURCE
        -I"$ROOT/extension" -I"$HERE" -I"$("$PG_CONFIG" --includedir-server)")

if ! "$CC" "${CFLAGS[@]}" -o "$BUILD/unit_tests" "${SOURCES[@]}" -lpthread 2>"$BUILD/cc.log"; then
  cat "$BUILD/cc.log"
  echo "# the unit tests did not build"
  echo "0 passed, 1 failed"
  exit 1
fi
# warnings are failures too: the tested code is built with -Wall in the library
if [ -s "$BUILD/cc.log" ]; then
  cat "$BUILD/cc.log"
  echo "# the unit tests built with warnings"
  echo "0 passed, 1 failed"
  exit 1
fi

# a crash (an uncaught error aborts) still ends with the summary line
cd "$BUILD" || exit 1
./unit_tests | tee "$BUILD/out"
rc=${PIPESTATUS[0]}
if ! tail -n 1 "$BUILD/out" | grep -qE '^[0-9]+ passed, [0-9]+ failed$'; then
  echo "# the unit tests stopped early (status $rc)"
  echo "0 passed, 1 failed"
  exit 1
fi
summary=$(tail -n 1 "$BUILD/out")
p=${summary%% passed*}; f=${summary#*, }; f=${f%% failed}

# common/tree_remove.c
if "$CC" -std=gnu11 -O2 -Wall -Wextra -Werror -I"$ROOT/common" -o "$BUILD/tree_remove_test" \
     "$HERE/tree_remove_test.c" "$ROOT/common/tree_remove.c" 2>"$BUILD/cc2.log"; then
  chmod 755 "$BUILD"
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
    runuser -u postgres -- "$BUILD/tree_remove_test" > "$BUILD/out2"
  else
    "$BUILD/tree_remove_test" > "$BUILD/out2"
  fi
  rc2=$?
  cat "$BUILD/out2"
  line=$(tail -n 1 "$BUILD/out2")
  if [[ "$line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    p=$((p + BASH_REMATCH[1])); f=$((f + BASH_REMATCH[2]))
    [ "$rc2" = 0 ] || [ "${BASH_REMATCH[2]}" != 0 ] || f=$((f + 1))
  else
    echo "# tree_remove_test stopped early (status $rc2)"; f=$((f + 1))
  fi
else
  cat "$BUILD/cc2.log"; echo "# tree_remove_test did not build"; f=$((f + 1))
fi
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
