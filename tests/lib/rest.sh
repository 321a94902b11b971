# tests/lib/rest.sh: curl and JSON helpers for checks against a running
# pi-gateway's REST routes.  Sourced by tests/gateway/http.sh (so also by
# tests/gateway/run.sh and tests/image/run.sh) and tests/gateway/fuzz_nodb.sh.
# Needs: U (the gateway's base URL), KEY (its API key), PI_TEST_DIR (scratch).

# req METHOD PATH [curl args...]: sets STATUS and BODY
req() {
  local m=$1 p=$2; shift 2
  STATUS=$(curl -s -o "$PI_TEST_DIR/body" -w '%{http_code}' -X "$m" -H "X-API-Key: $KEY" "$@" "$U$p")
  BODY=$(cat "$PI_TEST_DIR/body")
}
# jq_ PYTHON_EXPR: prints the expression over d, BODY parsed as JSON
jq_() { python3 -c "import sys,json; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1" <<<"$BODY" 2>/dev/null; }
# is_error CODE: STATUS is CODE and BODY is an error with a code and a message
is_error() { [ "$STATUS" = "$1" ] && [ -n "$(jq_ 'd["error"]["code"]')" ] && [ -n "$(jq_ 'd["error"]["message"]')" ]; }
