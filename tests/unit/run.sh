#!/usr/bin/env bash
# C unit tests of the pure parsing code of the extension (CSV scanner, type
# inference, dialect and header detection, the analysis and the feed to
# COPY), built as a plain program against the server headers with
# pg_stubs.c standing in for the backend.  Needs no cluster.
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
exit "$rc"
