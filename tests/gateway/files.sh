# tests/gateway/files.sh: sourced by run.sh after tenants.sh (it uses the
# tenants' gateway at $T with keys K1 and K2).  Issue 14: the seed's bodies
# without a session (a default workspace per tenant), downloads by Range
# and by offset/length, uploads in appended chunks, CORS, what an OAuth
# client hears without a key, and that no route lets a tenant near another
# tenant's files.

# checkd NAME COND DETAIL: check, showing DETAIL when it fails
checkd() { check "$1" "$2" || echo "#   ${3:0:300}"; }

echo "# the seed's bodies, without a session"
printf 'a,b\n1,2\n3,4\n' >"$PI_TEST_DIR/data.csv"
req POST /api/files/upload -F file=@"$PI_TEST_DIR/data.csv"
DSID=$(jq_ 'd["session_id"]')
check "upload data.csv without a session: 200, into the default workspace" '[ "$STATUS" = 200 ] && [ "$(jq_ "d[\"path\"]")" = data.csv ] && [ ${#DSID} = 36 ]'
req POST /api/data/load-csv -d '{"file_path": "data.csv", "dataset_name": "my_data"}'
JOB=$(jq_ 'd["job_id"]')
check "POST /api/data/load-csv {file_path, dataset_name} without a session: a job" '[ "$STATUS" = 200 ] && [ ${#JOB} = 36 ]'
req GET "/api/jobs/$JOB/result?wait=60"
checkd "... the load completes" '[ "$(jq_ "d[\"status\"]")" = completed ]' "$BODY"
req POST /api/data/query -d '{"sql": "SELECT sum(b) AS s FROM my_data"}'
check "... and the dataset answers queries" '[ "$STATUS" = 200 ] && [[ "$BODY" == *6* ]]'
req POST /api/execute -d "{\"code\": \"import pandas as pd\\nprint(pd.read_csv('data.csv')['b'].sum())\\nopen('out.txt', 'w').write('from a run')\"}"
checkd "execute without a session reads the default workspace's files" '[ "$(jq_ "d[\"stdout\"]")" = 6 ]' "$BODY"
check "... and its result lists the file it wrote" '[[ "$(jq_ "d[\"files\"]")" == *out.txt* ]]'
req GET "/api/files/download?path=out.txt"
check "download without a session gets what that run wrote" '[ "$STATUS" = 200 ] && [ "$BODY" = "from a run" ]'
req GET /api/files
check "list files without a session: the default workspace, named" '[ "$STATUS" = 200 ] && [ "$(jq_ "d[\"session_id\"]")" = "$DSID" ] && [[ "$BODY" == *data.csv* ]]'
req POST /api/execute -d '{"code": "kept = 1"}'
req POST /api/execute -d '{"code": "print(kept)"}'
checkd "runs without a session keep no Python state" '[ "$(jq_ "d[\"error\"][\"type\"]")" = NameError ]' "$BODY"
req POST /api/jobs/submit -d "{\"code\": \"print(open('data.csv').read().count(chr(10)))\"}"
JOB=$(jq_ 'd["job_id"]'); req GET "/api/jobs/$JOB/result?wait=60"
checkd "a job without a session reads them too" '[ "$(jq_ "d[\"stdout\"]")" = 3 ]' "$BODY"
req POST /api/jobs/submit -d '{"code": "import time\ntime.sleep(8)"}'; JOB=$(jq_ 'd["job_id"]')
req POST /api/execute -d '{"code": "print(5)", "timeout": 30}'
checkd "a job without a session does not make the next run busy" '[ "$STATUS" = 200 ] && [ "$(jq_ "d[\"stdout\"]")" = 5 ]' "$BODY"
req POST "/api/jobs/$JOB/cancel"
check "the default session is one per role" '[ "$(pi_sql "SELECT count(*) FROM pi.sessions WHERE is_default AND owner = current_user")" = 1 ]'

echo "# download ranges"
head -c 1000 /dev/urandom >"$PI_TEST_DIR/r.bin"
req POST "/api/files/upload?session_id=$SID&path=r.bin" --data-binary @"$PI_TEST_DIR/r.bin"
rng() {   # rng RANGE-HEADER-or-"" QUERY: sets STATUS, HDR (headers), $PI_TEST_DIR/rng.out
  local h=()
  [ -n "$1" ] && h=(-H "Range: $1")
  STATUS=$(curl -s -D "$PI_TEST_DIR/rng.hdr" -o "$PI_TEST_DIR/rng.out" -w '%{http_code}' -H "X-API-Key: $KEY" "${h[@]}" \
    "$U/api/files/download?session_id=$SID&path=r.bin$2")
  HDR=$(tr -d '\r' <"$PI_TEST_DIR/rng.hdr")
}
slice() { tail -c +$(($1 + 1)) "$PI_TEST_DIR/r.bin" | head -c "$2"; }
same() { cmp -s <(slice "$1" "$2") "$PI_TEST_DIR/rng.out"; }
rng "" ""
check "whole download: 200, Accept-Ranges: bytes" '[ "$STATUS" = 200 ] && [[ "$HDR" == *"Accept-Ranges: bytes"* ]] && same 0 1000'
rng "bytes=0-9" ""
check "Range bytes=0-9: 206, Content-Range, those 10 bytes" '[ "$STATUS" = 206 ] && [[ "$HDR" == *"Content-Range: bytes 0-9/1000"* ]] && same 0 10'
rng "bytes=990-" ""
check "Range bytes=990-: 206, the last 10 bytes" '[ "$STATUS" = 206 ] && [[ "$HDR" == *"Content-Range: bytes 990-999/1000"* ]] && same 990 10'
rng "bytes=-25" ""
check "suffix Range bytes=-25: the last 25 bytes" '[ "$STATUS" = 206 ] && [[ "$HDR" == *"Content-Range: bytes 975-999/1000"* ]] && same 975 25'
rng "bytes=-5000" ""
check "suffix longer than the file: the whole file, 206" '[ "$STATUS" = 206 ] && [[ "$HDR" == *"Content-Range: bytes 0-999/1000"* ]] && same 0 1000'
rng "bytes=995-2000" ""
check "Range ending beyond the end: cut at the end" '[ "$STATUS" = 206 ] && [[ "$HDR" == *"Content-Range: bytes 995-999/1000"* ]] && same 995 5'
rng "bytes=1000-" ""
check "Range starting at the end: 416 with Content-Range bytes */1000" '[ "$STATUS" = 416 ] && [[ "$HDR" == *"Content-Range: bytes */1000"* ]] && grep -q range_not_satisfiable "$PI_TEST_DIR/rng.out"'
rng "bytes=-0" ""
check "Range bytes=-0: 416" '[ "$STATUS" = 416 ]'
rng "bytes=0-1,5-6" ""
check "several ranges: 200 with the whole file (documented)" '[ "$STATUS" = 200 ] && same 0 1000'
rng "bytes=x-y" ""
check "a malformed Range is ignored: 200 whole" '[ "$STATUS" = 200 ] && same 0 1000'
rng "" "&offset=100&length=50"
check "offset=100&length=50: 200, those bytes" '[ "$STATUS" = 200 ] && same 100 50 && [[ "$HDR" == *"Content-Length: 50"* ]]'
rng "" "&offset=990&length=100"
check "length beyond the end: cut at the end" '[ "$STATUS" = 200 ] && same 990 10'
rng "" "&offset=1000"
check "offset at the end: 200, empty" '[ "$STATUS" = 200 ] && [ ! -s "$PI_TEST_DIR/rng.out" ]'
rng "" "&offset=1001"
check "offset beyond the end: 416" '[ "$STATUS" = 416 ]'
rng "" "&offset=-1"
check "a negative offset: 400" '[ "$STATUS" = 400 ]'
rng "bytes=0-1" "&offset=1"
check "Range and offset together: 400" '[ "$STATUS" = 400 ]'
req POST "/api/files/upload?session_id=$SID&path=empty.bin" --data-binary ''
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KEY" -H 'Range: bytes=0-' "$U/api/files/download?session_id=$SID&path=empty.bin")
check "Range on an empty file: 416" '[ "$STATUS" = 416 ]'

echo "# uploads in appended chunks"
head -c 2500000 /dev/urandom >"$PI_TEST_DIR/parts.bin"
split -b 1000000 -d "$PI_TEST_DIR/parts.bin" "$PI_TEST_DIR/part."
req POST "/api/files/upload?session_id=$SID&path=parts.bin" --data-binary @"$PI_TEST_DIR/part.00"
req POST "/api/files/upload?session_id=$SID&path=parts.bin&append=true" --data-binary @"$PI_TEST_DIR/part.01"
req POST /api/files/upload -F session_id="$SID" -F path=parts.bin -F append=true -F file=@"$PI_TEST_DIR/part.02"
checkd "append=true (query, then form field): the size adds up" '[ "$STATUS" = 200 ] && [ "$(jq_ "d[\"size\"]")" = 2500000 ]' "$BODY"
curl -s -H "X-API-Key: $KEY" -o "$PI_TEST_DIR/parts.out" "$U/api/files/download?session_id=$SID&path=parts.bin"
check "... and the file reassembles byte for byte" cmp -s "$PI_TEST_DIR/parts.bin" "$PI_TEST_DIR/parts.out"
req POST "/api/files/upload?session_id=$SID&path=parts.bin" --data-binary 'x'
check "without append an upload replaces the file" '[ "$(jq_ "d[\"size\"]")" = 1 ]'
req POST "/api/files/upload?session_id=$SID&path=parts.bin&append=yes" --data-binary 'x'
check "append=yes: 400" 'is_error 400'
req POST /api/files/upload -F session_id="$SID" -F path=parts.bin -F append=1 -F file=@"$PI_TEST_DIR/part.02"
check "a form field append=1: 400, the file untouched" 'is_error 400 && [ "$(pi_sql "SELECT size FROM pi.list_files('"'"'$SID'"'"') WHERE path = '"'"'parts.bin'"'"'")" = 1 ]'

echo "# CORS and clients without a key"
pf() { curl -s -D - -o /dev/null -X OPTIONS -H "Origin: $1" -H 'Access-Control-Request-Method: POST' \
  -H 'Access-Control-Request-Headers: x-api-key, content-type' "$U$2" | tr -d '\r'; }
H=$(pf http://localhost:5173 /api/execute)
check "preflight from a loopback page: 204 with the allowed methods and headers" '[[ "$H" == *" 204"* ]] && [[ "$H" == *"Access-Control-Allow-Origin: http://localhost:5173"* ]] && [[ "$H" == *"Access-Control-Allow-Methods: POST, OPTIONS"* ]] && [[ "$H" == *X-API-Key* ]]'
H=$(pf https://app.example.com /mcp)
check "preflight from an origin in ALLOWED_ORIGINS" '[[ "$H" == *" 204"* ]] && [[ "$H" == *"Access-Control-Allow-Origin: https://app.example.com"* ]] && [[ "$H" == *Mcp-Session-Id* ]]'
H=$(curl -s -D - -o /dev/null -X OPTIONS "$U/api/files" | tr -d '\r')
check "a plain OPTIONS (no Origin): 204 with Allow" '[[ "$H" == *" 204"* ]] && [[ "$H" == *"Allow: GET, DELETE, OPTIONS"* ]] && [[ "$H" != *Access-Control* ]]'
H=$(pf https://evil.example.com /api/execute)
check "preflight from another origin: 403, no Allow-Origin" '[[ "$H" == *" 403"* ]] && [[ "$H" != *Access-Control-Allow-Origin* ]]'
H=$(curl -s -D - -o /dev/null -H "X-API-Key: $KEY" -H 'Origin: https://app.example.com' "$U/api/data/datasets" | tr -d '\r')
check "an allowed origin's call carries Allow-Origin and exposes headers" '[[ "$H" == *"Access-Control-Allow-Origin: https://app.example.com"* ]] && [[ "$H" == *"Access-Control-Expose-Headers:"*Content-Range* ]]'
H=$(curl -s -D - -o /dev/null -H "X-API-Key: $KEY" -H 'Origin: https://evil.example.com' "$U/api/data/datasets" | tr -d '\r')
check "another origin's call carries none" '[[ "$H" != *Access-Control-Allow-Origin* ]]'
req POST /register -d '{"redirect_uris":["http://x"]}'
check "POST /register (OAuth registration): an OAuth error saying to send the API key" '[ "$STATUS" = 400 ] && [ "$(jq_ "d[\"error\"]")" = invalid_client_metadata ] && [[ "$(jq_ "d[\"error_description\"]")" == *X-API-Key* ]]'
STATUS=$(curl -s -o "$PI_TEST_DIR/body" -w '%{http_code}' "$U/mcp" -d '{}'); BODY=$(cat "$PI_TEST_DIR/body")
check "MCP without a key: 401 saying API key, not OAuth" 'is_error 401 && [[ "$BODY" == *"not OAuth"* ]]'
LINK=$(mktemp -d)
make -s -C "$ROOT" -f gateway/gateway.mk link-gateway GATEWAY_LINKDIR="$LINK" bindir="$ROOT/gateway" >/dev/null 2>&1
check "make link-gateway (run by make run) puts pi-gateway on PATH" '[ "$(PATH=$LINK:$PATH command -v pi-gateway)" = "$LINK/pi-gateway" ] && [ "$(readlink -f "$LINK/pi-gateway")" = "$(readlink -f "$GW")" ]'
rm -rf "$LINK"

echo "# OpenAPI of the files routes"
req GET /openapi.json
check "OpenAPI: download documents offset, length, Range, 206 and 416" 'python3 - "$PI_TEST_DIR/body" <<PY
import json, sys
d = json.load(open(sys.argv[1]))
g = d["paths"]["/api/files/download"]["get"]
names = {p["name"] for p in g["parameters"]}
assert {"offset", "length", "Range", "path", "session_id"} <= names, names
assert {"200", "206", "416", "404"} <= set(g["responses"]), g["responses"].keys()
u = d["paths"]["/api/files/upload"]["post"]
assert "append" in {p["name"] for p in u["parameters"]}
assert "append" in json.dumps(u["requestBody"])
assert "options" in d["paths"]["/api/execute"]
PY'

echo "# another tenant's files, by every route"
treq "$K1" POST "/api/files/upload?path=t1.txt" --data-binary 'tenant one'
T1SID=$(jq_ 'd["session_id"]')
check "tenant 1 uploads without a session" '[ "$STATUS" = 200 ] && [ ${#T1SID} = 36 ]'
treq "$K2" GET "/api/files/download?path=t1.txt"
check "tenant 2 without a session: its own default workspace, no t1.txt (404)" '[ "$STATUS" = 404 ]'
treq "$K2" GET /api/files
check "tenant 2's default workspace is another one" '[ "$STATUS" = 200 ] && [ "$(jq_ "d[\"session_id\"]")" != "$T1SID" ] && [[ "$BODY" != *t1.txt* ]]'
treq "$K2" GET "/api/files/download?session_id=$T1SID&path=t1.txt" -H 'Range: bytes=0-3'
check "tenant 2 with tenant 1's default session id, by Range: 404" '[ "$STATUS" = 404 ]'
treq "$K2" GET "/api/files/download?session_id=$T1SID&path=t1.txt&offset=0&length=3"
check "... by offset/length: 404" '[ "$STATUS" = 404 ]'
treq "$K2" POST "/api/files/upload?session_id=$T1SID&path=t1.txt&append=true" --data-binary 'x'
check "... appending to it: 404" '[ "$STATUS" = 404 ]'
treq "$K2" DELETE "/api/files?session_id=$T1SID&path=t1.txt"
check "... deleting it: 404" '[ "$STATUS" = 404 ]'
treq "$K2" GET "/api/files?session_id=$T1SID"
check "... listing it: 404" '[ "$STATUS" = 404 ]'
treq "$K2" POST /api/data/load-csv -d "{\"file_path\": \"t1.txt\", \"dataset_name\": \"stolen\", \"session_id\": \"$T1SID\"}"
check "... loading it: 404" '[ "$STATUS" = 404 ]'
treq "$K2" POST /api/execute -d "{\"code\": \"print(open('t1.txt').read())\"}"
checkd "... executing without a session does not see it" '[[ "$BODY" != *"tenant one"* ]] && [ "$(jq_ "d[\"error\"][\"type\"]")" = FileNotFoundError ]' "$BODY"
treq "$K1" GET "/api/files/download?path=t1.txt"
check "tenant 1 still reads its file" '[ "$STATUS" = 200 ] && [ "$BODY" = "tenant one" ]'
# MCP: tenant 1's resource URI, read by tenant 2's conversation
mcpt() {   # mcpt KEY SESSION BODY: the answer's body in BODY
  BODY=$(curl -s -X POST -H "X-API-Key: $1" ${2:+-H "Mcp-Session-Id: $2"} -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -d "$3" "$T/mcp")
}
msid() { curl -s -D - -o /dev/null -X POST -H "X-API-Key: $1" -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' -d "$MINIT" "$T/mcp" | tr -d '\r' | awk -F': ' 'tolower($1) == "mcp-session-id" {print $2}'; }
M1=$(msid "$K1"); M2=$(msid "$K2")
mcpt "$K1" "$M1" '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"execute_code","arguments":{"code":"open(\"secret.txt\",\"w\").write(\"t1 secret\")"}}}'
URI=$(jq_ '[c["uri"] for c in d["result"]["content"] if c["type"] == "resource_link"][0]')
checkd "tenant 1's run links its file" '[[ "$URI" == pi://sessions/*/files/secret.txt ]]' "$BODY"
mcpt "$K1" "$M1" "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"resources/read\",\"params\":{\"uri\":\"$URI\"}}"
checkd "tenant 1 reads it" '[ "$(jq_ "d[\"result\"][\"contents\"][0][\"text\"]")" = "t1 secret" ]' "$BODY"
mcpt "$K2" "$M2" '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"execute_code","arguments":{"code":"print(1)"}}}'
mcpt "$K2" "$M2" "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"resources/read\",\"params\":{\"uri\":\"$URI\"}}"
checkd "tenant 2's conversation reading tenant 1's resource: -32002" '[ "$(jq_ "d[\"error\"][\"code\"]")" = -32002 ] && [[ "$BODY" != *"t1 secret"* ]]' "$BODY"
mcpt "$K2" "$M2" '{"jsonrpc":"2.0","id":7,"method":"resources/list"}'
checkd "... nor lists it" '[ "$STATUS" = 200 ] || true; [[ "$BODY" != *secret.txt* ]] && [[ "$BODY" == *resources* ]]' "$BODY"
mcpt "$K2" "$M1" "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"resources/read\",\"params\":{\"uri\":\"$URI\"}}"
checkd "tenant 2 with tenant 1's MCP session id: no read" '[[ "$BODY" != *"t1 secret"* ]]' "$BODY"
