# tests/gateway/openapi.sh: sourced by run.sh (issue 14).  Lints the live
# /openapi.json with @redocly/cli (rules in redocly.yaml: the recommended
# set, strict) and checks live answers of every route against it
# (openapi.mjs), then runs README.md's client configurations and curl
# walkthrough as written (client_configs.mjs).  Needs run.sh's U, KEY, GW,
# ROOT, PI_TEST_DIR and node_deps.sh's NODE_DIR and NODE22.
OA_DOC=$PI_TEST_DIR/openapi.json
STATUS=$(curl -s -o "$OA_DOC" -w '%{http_code}' "$U/openapi.json")
check "/openapi.json without a key: 200" '[ "$STATUS" = 200 ]'
REDOCLY=$NODE_DIR/node_modules/@redocly/cli/bin/cli.js
if [ -f "$REDOCLY" ]; then
  OA_LINT=$("$NODE22" "$REDOCLY" lint --config "$HERE/redocly.yaml" --format=stylish "$OA_DOC" 2>&1)
  # "0 problems" is the only clean answer: warnings count as well
  if "$NODE22" "$REDOCLY" lint --config "$HERE/redocly.yaml" --format=json "$OA_DOC" 2>/dev/null \
      | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["totals"] == {"errors": 0, "warnings": 0, "ignored": 0} else 1)'; then
    pass "openapi: redocly lint clean (0 errors, 0 warnings)"
  else
    fail "openapi: redocly lint clean (0 errors, 0 warnings)" "$(echo "$OA_LINT" | grep -E 'error|warn' | head -n 8 | tr '\n' ' ')"
  fi
else
  fail "openapi: redocly lint clean" "@redocly/cli is not installed in $NODE_DIR"
fi
cp "$HERE/openapi.mjs" "$PI_TEST_DIR/"
OA_OUT=$PI_TEST_DIR/openapi.out
"$NODE22" "$PI_TEST_DIR/openapi.mjs" "$U" "$KEY" >"$OA_OUT" 2>&1
while IFS= read -r line; do
  case "$line" in
    "ok - "*) pass "${line#ok - }" ;;
    "not ok - "*) fail "${line#not ok - }" ;;
  esac
done <"$OA_OUT"
grep -q '^# openapi: finished' "$OA_OUT" \
  || fail "openapi.mjs ran to its end" "$(tail -n 3 "$OA_OUT" | tr '\n' ' ')"

# README's client configurations and curl walkthrough, run as written
# (client_configs.mjs swaps in this run's address, key and programs)
cp "$HERE/client_configs.mjs" "$PI_TEST_DIR/"
CC_OUT=$PI_TEST_DIR/client_configs.out
"$NODE22" "$PI_TEST_DIR/client_configs.mjs" "$ROOT/README.md" "$U" "$KEY" "$GW" \
  "$NODE_DIR/node_modules/mcp-remote/dist/proxy.js" >"$CC_OUT" 2>&1
while IFS= read -r line; do
  case "$line" in
    "ok - "*) pass "${line#ok - }" ;;
    "not ok - "*) fail "${line#not ok - }" ;;
  esac
done <"$CC_OUT"
grep -q '^# client_configs: finished' "$CC_OUT" \
  || fail "client_configs.mjs ran to its end" "$(tail -n 3 "$CC_OUT" | tr '\n' ' ')"
