# tests/gateway/bignum.sh: sourced by run.sh.  Numbers that do not fit a
# 64-bit integer come back over REST and MCP.  jsonb prints the float 1e20
# as the integer 100000000000000000000, which jansson alone refuses ("too
# big integer"); integers that do fit keep every digit.
num_is() {   # num_is PYTHON_EXPR EXPECTED: d is the response body
  python3 -c 'import sys, json; d = json.loads(sys.argv[1]); v = eval(sys.argv[2]); e = eval(sys.argv[3]); sys.exit(0 if v == e and type(v) is type(e) else 1)' "$BODY" "$1" "$2"
}
req POST /api/execute -d '{"code":"1e20"}'
check "REST execute 1e20: 200, result.json is the number 1e20" '[ "$STATUS" = 200 ] && num_is "d[\"result\"][\"json\"]" 1e20'
req POST /api/execute -d '{"code":"-1e300"}'
check "REST execute -1e300: 200, the number -1e300" '[ "$STATUS" = 200 ] && num_is "d[\"result\"][\"json\"]" -1e300'
req POST /api/execute -d '{"code":"2**64"}'
check "REST execute 2**64: 200, the exact digits (a string)" '[ "$STATUS" = 200 ] && num_is "d[\"result\"][\"json\"]" "\"18446744073709551616\""'
req POST /api/execute -d '{"code":"[1e20, 9223372036854775807, -9223372036854775808, -1e300]"}'
check "REST execute a list: big floats and int64 limits exact" '[ "$STATUS" = 200 ] && num_is "d[\"result\"][\"json\"]" "[1e20, 9223372036854775807, -9223372036854775808, -1e300]"'
req POST /api/data/query -d '{"sql":"SELECT 1e20::float8 AS a, -1e300::float8 AS b, 9223372036854775807::bigint AS c, 1e20 AS d"}'
check "REST query SELECT 1e20, -1e300, max bigint: every value" '[ "$STATUS" = 200 ] && num_is "d[\"rows\"][0]" "[1e20, -1e300, 9223372036854775807, 1e20]"'

curl -s -D "$PI_TEST_DIR/hdr" -o "$PI_TEST_DIR/body" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' "$U/mcp" -d "$INIT"
BSID=$(grep -i '^mcp-session-id:' "$PI_TEST_DIR/hdr" | cut -d' ' -f2 | tr -d '\r')
mcp -H "Mcp-Session-Id: $BSID" -d '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"execute_code","arguments":{"code":"[1e20, 2**64, -1e300]"}}}'
check "MCP execute_code [1e20, 2**64, -1e300]: every value" '[ "$STATUS" = 200 ] && num_is "d[\"result\"][\"structuredContent\"][\"result\"][\"json\"]" "[1e20, \"18446744073709551616\", -1e300]" && num_is "d[\"result\"][\"isError\"]" False'
mcp -H "Mcp-Session-Id: $BSID" -d '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"query_dataset","arguments":{"sql":"SELECT 1e20::float8 AS a, -1e300::float8 AS b"}}}'
check "MCP query_dataset SELECT 1e20, -1e300: every value" '[ "$STATUS" = 200 ] && num_is "d[\"result\"][\"structuredContent\"][\"rows\"][0]" "[1e20, -1e300]"'
mcp -H "Mcp-Session-Id: $BSID" -H 'Accept: application/json, text/event-stream' -d '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"execute_code","arguments":{"code":"1e20"},"_meta":{"progressToken":"p1"}}}'
check "MCP execute_code with progress (SSE): 1e20 comes back" '[ "$STATUS" = 200 ] && [[ "$BODY" == *"\"json\":1e+20"* || "$BODY" == *"\"json\":1e20"* || "$BODY" == *"\"json\":100000000000000000000"* ]] && [[ "$BODY" != *"unreadable"* ]]'
req DELETE /mcp -H "Mcp-Session-Id: $BSID"
