# tests/gateway/upload_atomic.sh: sourced by run.sh after files.sh (it uses
# the tenants' gateway at $T, treq and pi_sql).  An upload that fails
# part-way (here: a tenant's workspace limit, reached after the first
# chunks went through) loses nothing and leaves nothing: the file is
# written whole or not changed at all, with append=true its old content is
# intact, and no part file is left in the workspace.  Chunked
# (Transfer-Encoding), Content-Length and multipart bodies alike.
pi_psql >/dev/null <<'SQL'
CREATE ROLE gw_t3 NOLOGIN IN ROLE pi_user;
GRANT gw_t3 TO pi_gateway;
SQL
K3=$(pi_sql "SELECT pi.create_api_key('gw_t3', 'upload test')")
pi_sql "SELECT pi.set_tenant_limit('gw_t3', 'workspace_mb', 3)" >/dev/null
treq "$K3" POST /api/sessions -d '{}'; S3=$(jq_ 'd["session_id"]')
head -c 1000000 /dev/urandom >"$PI_TEST_DIR/keep.bin"
head -c 2500000 /dev/urandom >"$PI_TEST_DIR/big.bin"
up() {   # up QUERY [curl args...]: upload big.bin to tenant 3's session
  local q=$1; shift
  treq "$K3" POST "/api/files/upload?session_id=$S3&$q" "$@"
}
# listing: the session's files as "path:size ..."
listing() { treq "$K3" GET "/api/files?session_id=$S3"; jq_ '" ".join("%s:%s" % (f["path"], f["size"]) for f in d["files"])'; }
intact() {   # intact: keep.bin is byte for byte what was uploaded first
  curl -s -H "X-API-Key: $K3" -o "$PI_TEST_DIR/keep.out" "$T/api/files/download?session_id=$S3&path=keep.bin"
  cmp -s "$PI_TEST_DIR/keep.bin" "$PI_TEST_DIR/keep.out"
}
up "path=keep.bin" --data-binary @"$PI_TEST_DIR/keep.bin"
check "tenant 3 (workspace_mb 3) uploads a 1 MB file" '[ "$STATUS" = 200 ] && [ "$(listing)" = "keep.bin:1000000" ]'

up "path=keep.bin&append=true" -H 'Transfer-Encoding: chunked' --data-binary @"$PI_TEST_DIR/big.bin"
checkd "chunked append of 2.5 MB over the limit after two chunks: 507" '[ "$STATUS" = 507 ] && [[ "$BODY" == *workspace_mb* ]]' "$BODY"
L=$(listing)
checkd "... the file keeps its old content, and no part file is left" 'intact && [ "$L" = "keep.bin:1000000" ]' "$L"
up "path=new.bin" -H 'Transfer-Encoding: chunked' --data-binary @"$PI_TEST_DIR/big.bin"
L=$(listing)
checkd "chunked upload of a new file over the limit: 507, no file and no part left" '[ "$STATUS" = 507 ] && [ "$L" = "keep.bin:1000000" ]' "$L"
up "path=keep.bin" -H 'Transfer-Encoding: chunked' --data-binary @"$PI_TEST_DIR/big.bin"
L=$(listing)
checkd "chunked replace over the limit: 507, the old file intact" '[ "$STATUS" = 507 ] && intact && [ "$L" = "keep.bin:1000000" ]' "$L"
up "path=keep.bin&append=true" --data-binary @"$PI_TEST_DIR/big.bin"
L=$(listing)
checkd "the same append with Content-Length: 507, the old file intact" '[ "$STATUS" = 507 ] && intact && [ "$L" = "keep.bin:1000000" ]' "$L"
treq "$K3" POST /api/files/upload -F session_id="$S3" -F path=keep.bin -F append=true -F file=@"$PI_TEST_DIR/big.bin"
L=$(listing)
checkd "... and as multipart/form-data: 507, the old file intact" '[ "$STATUS" = 507 ] && intact && [ "$L" = "keep.bin:1000000" ]' "$L"
# a body that breaks off part-way: the client hangs up after two chunks
python3 - "${T##*:}" "$K3" "$S3" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(("POST /api/files/upload?session_id=%s&path=keep.bin&append=true HTTP/1.1\r\n"
           "Host: x\r\nX-API-Key: %s\r\nContent-Length: 5000000\r\n\r\n" % (sys.argv[3], sys.argv[2])).encode())
s.sendall(b"x" * 2200000)
time.sleep(2)
s.close()
PY
only_keep() { [ "$(listing)" = "keep.bin:1000000" ]; }
wait_until 20 only_keep
L=$(listing)
checkd "a client that hangs up after two chunks of an append: the old file intact, no part left" 'intact && [ "$L" = "keep.bin:1000000" ]' "$L"

pi_sql "SELECT pi.set_tenant_limit('gw_t3', 'workspace_mb', 20)" >/dev/null
up "path=keep.bin&append=true" -H 'Transfer-Encoding: chunked' --data-binary @"$PI_TEST_DIR/big.bin"
cat "$PI_TEST_DIR/keep.bin" "$PI_TEST_DIR/big.bin" >"$PI_TEST_DIR/both.bin"
curl -s -H "X-API-Key: $K3" -o "$PI_TEST_DIR/both.out" "$T/api/files/download?session_id=$S3&path=keep.bin"
L=$(listing)
checkd "under the limit the chunked append goes through whole, no part left" '[ "$STATUS" = 200 ] && [ "$(jq_ "d[\"size\"]")" = 3500000 ] && [ "$(jq_ "d[\"path\"]")" = keep.bin ] && cmp -s "$PI_TEST_DIR/both.bin" "$PI_TEST_DIR/both.out" && [ "$L" = "keep.bin:3500000" ]' "$BODY $L"
up "path=keep.bin" -H 'Transfer-Encoding: chunked' --data-binary @"$PI_TEST_DIR/big.bin"
curl -s -H "X-API-Key: $K3" -o "$PI_TEST_DIR/big.out" "$T/api/files/download?session_id=$S3&path=keep.bin"
L=$(listing)
checkd "... and a chunked replace too" '[ "$STATUS" = 200 ] && cmp -s "$PI_TEST_DIR/big.bin" "$PI_TEST_DIR/big.out" && [ "$L" = "keep.bin:2500000" ] && [ "$(jq_ "d[\"bytes_received\"]")" = 2500000 ]' "$BODY $L"
