# tests/lib/ctest.sh: build a small C unit test and count its TAP lines.
# Sourced by tests/gateway/hostile.sh and limits_nodb.sh, which each check
# gateway sources this way; one copy keeps the build flags and the reading
# of "ok - " / "not ok - " lines the same for all of them.
#
#   pi_c_test NAME DIR SOURCES... LIBS...
#
# builds DIR/NAME with cc against gateway/ and PostgreSQL's headers, runs
# it, and turns each "ok - X" into pass X and each "not ok - X" into fail X
# (other lines are echoed as comments).  A build failure is one failed
# check, "NAME.c builds", with the start of the compiler's output.
# Needs ROOT, pass and fail (tests/lib/cluster.sh).

pi_c_test() {
  local name=$1 dir=$2 line
  shift 2
  if cc -std=gnu11 -I "$ROOT/gateway" -I "$(pg_config --includedir)" "$@" \
       -o "$dir/$name" 2>"$dir/${name}_cc.log"; then
    while IFS= read -r line; do
      case "$line" in
        "ok - "*) pass "${line#ok - }" ;;
        "not ok - "*) fail "${line#not ok - }" ;;
        *) echo "  $line" ;;
      esac
    done < <("$dir/$name")
  else
    fail "$name.c builds" "$(head -c 300 "$dir/${name}_cc.log")"
  fi
}
