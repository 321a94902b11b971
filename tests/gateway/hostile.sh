# tests/gateway/hostile.sh: sourced by run.sh and fuzz_nodb.sh.  Input that
# used to kill pi-gateway or grow it without bound (issue 10): bytes that
# are not UTF-8 in the URL, method or arguments, error texts cut
# mid-character, and bodies over a route's limit.  Each check needs no
# database (without one an operation fails 503, which is still an answer).
#
# Needs: ROOT, U, KEY, PI_TEST_DIR, GW_PID, and check, pass, fail, req,
# jq_, is_error.  First the unit test of gateway/utf8.c (utf8_test.c).
. "$ROOT/tests/lib/ctest.sh"
pi_c_test utf8_test "$PI_TEST_DIR" "$ROOT/tests/gateway/utf8_test.c" \
  "$ROOT/gateway/utf8.c" -ljansson

# gateway/error_terms.c: SQL hints in REST and MCP terms (issue 14)
pi_c_test error_terms_test "$PI_TEST_DIR" "$ROOT/tests/gateway/error_terms_test.c" \
  "$ROOT/gateway/error_terms.c" "$ROOT/gateway/utf8.c" -ljansson

alive() { curl -s -o /dev/null "$U/health"; }
raw_status() {   # raw_status BYTES: first line of the reply to raw bytes
  python3 - "${U##*:}" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1"))
try:
    print(s.recv(4096).decode("latin-1").split("\r\n")[0])
except Exception as e:
    print("closed", e)
PY
}
valid_json() { python3 -c 'import json,sys; json.loads(sys.stdin.buffer.read().decode("utf-8"))' <<<"$BODY"; }
rss_mb() { awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$GW_PID/status"; }

STATUS=$(curl -s -o "$PI_TEST_DIR/body" -w '%{http_code}' "$U/%ff"); BODY=$(cat "$PI_TEST_DIR/body")
check "GET /%ff without a key: 404 JSON error, server up" 'is_error 404 && valid_json && alive'
STATUS=$(curl -s -o "$PI_TEST_DIR/body" -w '%{http_code}' "$U/api/%c3%28/%e2%82/%f0%90%80"); BODY=$(cat "$PI_TEST_DIR/body")
check "truncated UTF-8 sequences in the URL: 404 JSON" 'is_error 404 && valid_json'
STATUS=$(curl -s -o "$PI_TEST_DIR/body" -w '%{http_code}' -X PUT "$U/api/jobs/%ff%fe/status"); BODY=$(cat "$PI_TEST_DIR/body")
check "405 on a URL that is not UTF-8: JSON error, server up" 'is_error 405 && valid_json && alive'
R=$(raw_status 'G\xffT /health HTTP/1.1\r\nHost: x\r\n\r\n')
check "method that is not UTF-8: an HTTP answer, server up" '[[ "$R" == HTTP/1.1* || "$R" == closed* ]] && alive'
R=$(raw_status 'GET /%ff HTTP/1.1\r\nHost: x\r\n\r\n')
check "raw GET /%ff: 404" '[[ "$R" == *" 404"* ]] && alive'

req GET "/api/files?session_id=%ff%fe"
check "query parameter not UTF-8: 400 naming it" 'is_error 400 && [[ "$BODY" == *session_id* ]]'
req GET "/api/jobs/%ff/status"
check "path segment not UTF-8: 400" 'is_error 400 && valid_json'

# each operation's required arguments are parsed once per process
# (ops.c): asked twice, from the one table, a call without code names it
for i in 1 2; do
  req POST /api/execute -d '{"timeout": 5}'
  check "execute without code ($i): 400 naming the missing argument" \
    'is_error 400 && [ "$(jq_ "d[\"error\"][\"message\"]")" = "missing required argument \"code\"" ]'
done

LONG=$(python3 -c 'print("\u00e9" * 400)')
req POST /api/execute -d "{\"code\":\"1\",\"timeout\":\"$LONG\"}"
check "long non-ASCII timeout: a JSON error, not a crash" '[[ "$STATUS" == [45]* ]] && is_error "$STATUS" && valid_json && alive'

# MCP: the same input gives the real error, not "unknown tool"
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
curl -s -D "$PI_TEST_DIR/hdr" -o /dev/null -H "X-API-Key: $KEY" -H 'Content-Type: application/json' "$U/mcp" -d "$INIT"
HSID=$(grep -i '^mcp-session-id:' "$PI_TEST_DIR/hdr" | cut -d' ' -f2 | tr -d '\r')
hmcp() { req POST /mcp -H 'Content-Type: application/json' -H "Mcp-Session-Id: $HSID" "$@"; }
hmcp -d "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"execute_code\",\"arguments\":{\"code\":\"1\",\"timeout\":\"$LONG\"}}}"
check "MCP execute_code with a long non-ASCII timeout: isError with the real error" \
  '[ "$(jq_ "d[\"result\"][\"isError\"]")" = True ] && [[ "$(jq_ "d[\"result\"][\"content\"][0][\"text\"]")" == Error* ]] && [[ "$BODY" != *"unknown tool"* ]]'
hmcp -d "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"$LONG\"}}"
check "MCP unknown tool with a long non-ASCII name: -32602" '[ "$STATUS" = 200 ] && [ "$(jq_ "d[\"error\"][\"code\"]")" = -32602 ] && valid_json'
hmcp -d "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"$LONG\"}"
check "MCP unknown method with a long non-ASCII name: -32601" '[ "$(jq_ "d[\"error\"][\"code\"]")" = -32601 ] && valid_json'
printf '{"jsonrpc":"2.0","id":5,"method":"ping",\xff\xfe}' >"$PI_TEST_DIR/bad.json"
hmcp --data-binary @"$PI_TEST_DIR/bad.json"
check "MCP body with bytes that are not UTF-8: -32700 JSON" '[ "$STATUS" = 400 ] && [ "$(jq_ "d[\"error\"][\"code\"]")" = -32700 ] && valid_json'

# bodies: a route's own limit, by Content-Length, as chunks arrive, and by
# the count of JSON values
head -c 100000 /dev/zero | tr '\0' ' ' >"$PI_TEST_DIR/pad.txt"
{ printf '{"label":"'; cat "$PI_TEST_DIR/pad.txt"; printf '"}'; } >"$PI_TEST_DIR/label.json"
req POST /api/sessions --data-binary @"$PI_TEST_DIR/label.json"
check "100 kB body to /api/sessions (limit 64 kB): 413" 'is_error 413'
python3 -c 'import sys; sys.stdout.write("[" + "0," * 10000000 + "0]")' >"$PI_TEST_DIR/array.json"
RSS0=$(rss_mb)
req POST /api/execute --data-binary @"$PI_TEST_DIR/array.json"
check "20 MB JSON array to /api/execute: 413" 'is_error 413'
req POST /api/execute -H 'Transfer-Encoding: chunked' --data-binary @"$PI_TEST_DIR/array.json"
check "the same array chunked (no Content-Length): 413" 'is_error 413'
python3 -c 'import sys; sys.stdout.write("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":[" + "0," * 500000 + "0]}}")' >"$PI_TEST_DIR/values.json"
hmcp --data-binary @"$PI_TEST_DIR/values.json"
check "1 MB MCP body of 500000 values: 413 before parsing" '[ "$STATUS" = 413 ] && [[ "$BODY" == *values* ]]'
RSS1=$(rss_mb)
check "the oversize bodies grew the gateway by less than 64 MB ($RSS0 -> $RSS1 MB)" '[ -n "$RSS0" ] && [ -n "$RSS1" ] && [ $((RSS1 - RSS0)) -lt 64 ]'
rm -f "$PI_TEST_DIR/array.json" "$PI_TEST_DIR/values.json"
check "server up after the hostile input" alive
