# tests/gateway/inspector.sh: sourced by run.sh after node_deps.sh.  The MCP
# Inspector CLI (pinned in node_deps.sh) against the running gateway:
# tools/list in --strict mode must report no schema portability problem at
# all (no error, no warning), and a few tool calls must succeed with
# nothing on stderr.  --strict applies to tools/list only in this version;
# the tool results are also checked against the SDK's schemas by
# mcp_client.mjs.
# Uses: U, KEY, PI_TEST_DIR, INSPECTOR (node_deps.sh), check/fail.

# the CLI keeps a catalog and client config under HOME: give it its own
INSPECTOR_HOME=$PI_TEST_DIR/inspector-home
mkdir -p "$INSPECTOR_HOME"
pi_inspector() {   # inspector ARGS...: stdout in ISTDOUT, stderr in ISTDERR, status in IRC
  HOME=$INSPECTOR_HOME timeout 120 node "$INSPECTOR" --cli --transport http \
    --server-url "$U/mcp" --header "X-API-Key: $KEY" "$@" \
    >"$PI_TEST_DIR/insp.out" 2>"$PI_TEST_DIR/insp.err"
  IRC=$?; ISTDOUT=$(cat "$PI_TEST_DIR/insp.out"); ISTDERR=$(cat "$PI_TEST_DIR/insp.err")
}
# ITOOL_TEXT: the text content of the last tools/call
itool_text() {
  python3 -c 'import sys, json; print("".join(c.get("text", "") for c in json.load(sys.stdin)["content"]))' \
    <<<"$ISTDOUT" 2>/dev/null
}

if [ ! -f "$INSPECTOR" ]; then
  fail "inspector: the Inspector CLI is installed" "no $INSPECTOR (see node_deps.sh)"
else
  pi_inspector --strict --method tools/list
  NTOOLS=$(python3 -c 'import sys, json; print(len(json.load(sys.stdin)["tools"]))' <<<"$ISTDOUT" 2>/dev/null)
  check "inspector --strict tools/list: exit 0, ${NTOOLS:-no} tools, 0 warnings" \
    '[ "$IRC" = 0 ] && [ "${NTOOLS:-0}" -ge 13 ] && [ -z "$ISTDERR" ]'
  [ -n "$ISTDERR" ] && echo "$ISTDERR" | head -n 20 | sed 's/^/  # /'

  pi_inspector --method tools/call --tool-name execute_code --tool-args-json '{"code":"print(6*7)\n0.1 + 0.2"}'
  check "inspector tools/call execute_code: clean, text has output and the value" \
    '[ "$IRC" = 0 ] && [ -z "$ISTDERR" ] && [[ "$(itool_text)" == *42*0.3* ]]'
  pi_inspector --method tools/call --tool-name query_dataset --tool-args-json '{"sql":"SELECT 288434.11::float8 AS amount"}'
  check "inspector tools/call query_dataset: clean, a Markdown table" \
    '[ "$IRC" = 0 ] && [ -z "$ISTDERR" ] && [[ "$(itool_text)" == *"| amount |"*"| 288434.11 |"* ]]'
  for t in list_files list_datasets create_session; do
    pi_inspector --method tools/call --tool-name "$t" --tool-args-json '{}'
    check "inspector tools/call $t: clean" '[ "$IRC" = 0 ] && [ -z "$ISTDERR" ]'
  done
  pi_inspector --method tools/call --tool-name get_job_status --tool-args-json '{"job_id":"00000000-0000-0000-0000-000000000000"}'
  check "inspector tools/call of an unknown job: isError with the message and hint" \
    '[ "$IRC" != 0 ] && [[ "$(itool_text)" == *"does not exist"*"Hint: "* ]]'
fi
