# tests/gateway/arg_types.sh: sourced by run.sh and fuzz_nodb.sh.  Every
# argument of every REST route and MCP tool sent with the wrong JSON type
# or out of its range ({"code": 5}, {"code": ["x"]}, "limit": 1e30, 1.5
# for an integer) is refused before any SQL runs, naming the field, what it
# takes and what was sent; tools/call with a name that is no string says
# so (arg_types.py walks /openapi.json and tools/list).
# Needs: HERE, U, KEY, PI_TEST_DIR, and pass, fail.
python3 "$HERE/arg_types.py" "$U" "$KEY" >"$PI_TEST_DIR/arg_types.out" 2>&1
while IFS= read -r line; do
  case "$line" in
    "ok - "*) pass "${line#ok - }" ;;
    "not ok - "*) fail "${line#not ok - }" ;;
  esac
done <"$PI_TEST_DIR/arg_types.out"
grep -q '^# arg_types: finished' "$PI_TEST_DIR/arg_types.out" \
  || fail "arg_types.py ran to its end" "$(tail -n 3 "$PI_TEST_DIR/arg_types.out" | tr '\n' ' ')"
