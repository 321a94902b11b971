#!/usr/bin/env bash
# tests/layout/run.sh: the tree's shape holds.
#  - no two source files of a program depend on each other in a circle:
#    symbol edges between object files (nm), any cycle fails
#    (tests/layout/symbol_cycles.sh);
#  - the checker itself finds a planted cycle (so this test can fail);
#  - no source file over 800 lines (STYLE: a file over ~800 lines is
#    asking to be split).
# Builds what it checks.  Prints "N passed, M failed".
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
HERE=tests/layout
passed=0; failed=0
ok()   { echo "ok - $1"; passed=$((passed + 1)); }
fail() { echo "not ok - $1"; failed=$((failed + 1)); }

make -s all >/dev/null 2>&1 || { fail "build"; echo "$passed passed, $failed failed"; exit 1; }

# the checker finds a planted cycle a -> b -> a
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'int b(void);\nint a(void) { return b(); }\n' > "$tmp/a.c"
printf 'int a(void);\nint b(void) { return a(); }\n' > "$tmp/b.c"
printf 'int a(void);\nint c(void) { return a(); }\n' > "$tmp/c.c"
for f in a b c; do cc -c -o "$tmp/$f.o" "$tmp/$f.c"; done
if bash "$HERE/symbol_cycles.sh" planted "$tmp/a.o" "$tmp/b.o" "$tmp/c.o" >"$tmp/out" 2>&1; then
  fail "the checker finds a planted cycle"; sed 's/^/#   /' "$tmp/out"
else
  ok "the checker finds a planted cycle"
fi
if bash "$HERE/symbol_cycles.sh" acyclic "$tmp/a.o" "$tmp/c.o" >"$tmp/out" 2>&1; then
  ok "the checker passes an acyclic set"
else
  fail "the checker passes an acyclic set"; sed 's/^/#   /' "$tmp/out"
fi

# every program, with everything it links from this tree
check_program() {
  local name=$1; shift
  local out
  if out=$(bash "$HERE/symbol_cycles.sh" "$name" "$@" 2>&1); then
    ok "$name: no cycle between files ($(echo "$out" | tail -n 1))"
  else
    fail "$name: cycle between files"; echo "$out" | sed 's/^/#   /'
  fi
}
check_program "power_interpreter.so" extension/*.o bgworker/*.o common/*.o
check_program "pi-executor" executor/*.o jail/*.o common/*.o
check_program "jail" jail/*.o
check_program "pi-gateway" gateway/*.o

# no source file over 800 lines
long=$(find extension bgworker executor jail common include gateway tests bench scripts \
         -type f ! -name runner_py.h \( -name '*.c' -o -name '*.h' -o -name '*.py' -o -name '*.sh' -o -name '*.mjs' \) \
         -exec awk 'END { if (NR > 800) print FILENAME " (" NR " lines)" }' {} \;)
if [ -z "$long" ]; then ok "no source file over 800 lines"; else fail "source files over 800 lines"; echo "$long" | sed 's/^/#   /'; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
