# tests/gateway/robustness.sh: sourced by run.sh.  Hostile and broken
# requests get clear errors and the gateway stays up.
raw() {   # raw BYTES: send bytes on a fresh TCP connection, print the reply
  python3 - "$GWPORT" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1"))
try:
    s.shutdown(socket.SHUT_WR)
    print(s.recv(4096).decode("latin-1").split("\r\n")[0])
except Exception as e:
    print("closed", e)
PY
}
alive() { curl -sf "$U/health" >/dev/null; }
R=$(raw 'GARBAGE\r\n\r\n'); check "malformed request line: closed, server up" alive
R=$(raw 'GET /health HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n'); check "malformed header: 400" '[[ "$R" == *" 400"* ]]'
R=$(raw 'GET /health HTTP/9.9\r\n\r\n'); check "unknown HTTP version: 505" '[[ "$R" == *" 505"* ]]'
R=$(raw "POST /api/execute HTTP/1.1\r\nHost: x\r\nX-API-Key: $KEY\r\nContent-Length: 100\r\n\r\n{\"code\":")
check "truncated body: no crash" alive
R=$(raw "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: $(head -c 100000 /dev/zero | tr '\0' a)\r\n\r\n")
check "huge header: 431 or close, server up" '[[ "$R" == *431* || "$R" == *closed* || "$R" == *" 4"* ]] && alive'
printf '{"code": "\xff\xfe"}' >"$PI_TEST_DIR/bad_utf8.json"
req POST /api/execute --data-binary @"$PI_TEST_DIR/bad_utf8.json"
check "invalid UTF-8 in JSON: 400" 'is_error 400'
python3 -c "print('['*10000 + ']'*10000)" >"$PI_TEST_DIR/deep.json"
req POST /api/execute --data-binary @"$PI_TEST_DIR/deep.json"
check "JSON nested 10000 deep: 400" 'is_error 400 && alive'
req POST /mcp -H 'Content-Type: application/json' --data-binary @"$PI_TEST_DIR/deep.json"
check "deep JSON on /mcp: 400" '[ "$STATUS" = 400 ] && alive'
# slowloris: 50 connections that trickle a header each; others still served
python3 - "$GWPORT" <<'PY' &
import socket, sys, time
socks = []
for i in range(50):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
time.sleep(4)
PY
SLOW=$!
sleep 1
check "slow clients do not block others" alive
wait $SLOW
check "server up after all of it" alive
