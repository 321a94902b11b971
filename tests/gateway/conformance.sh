# tests/gateway/conformance.sh: sourced by run.sh.  Runs the official MCP
# conformance suite (@modelcontextprotocol/conformance, Node 22) against a
# loopback gateway started with the test-only flags --test-no-auth (the
# suite sends no API key) and --test-tools (the tools its tools-call-*
# scenarios call).  Scenarios a tools-only server cannot pass are expected
# failures, listed with the reason.
CPORT=$(pi_free_port)
PORT=$CPORT "$GW" --test-no-auth --test-tools >>"$GWLOG" 2>&1 &
GWPIDS+=($!)
wait_until 10 curl -sf "http://127.0.0.1:$CPORT/health"
NODE22=$NODE_DIR/node_modules/node/bin/node
[ -x "$NODE22" ] || NODE22=node
CONF=$NODE_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js
declare -A XFAIL=(
  [tools-call-sampling]="needs server-to-client sampling requests; pi-gateway sends none"
  [tools-call-elicitation]="needs server-to-client elicitation requests; pi-gateway sends none"
  [elicitation-sep1034-defaults]="needs elicitation"
  [elicitation-sep1330-enums]="needs elicitation"
  [resources-list]="pi-gateway offers tools only"
  [resources-read-text]="pi-gateway offers tools only"
  [resources-read-binary]="pi-gateway offers tools only"
  [resources-templates-read]="pi-gateway offers tools only"
  [resources-subscribe]="pi-gateway offers tools only"
  [resources-unsubscribe]="pi-gateway offers tools only"
  [prompts-list]="pi-gateway offers tools only"
  [prompts-get-simple]="pi-gateway offers tools only"
  [prompts-get-with-args]="pi-gateway offers tools only"
  [prompts-get-embedded-resource]="pi-gateway offers tools only"
  [prompts-get-with-image]="pi-gateway offers tools only"
  [completion-complete]="pi-gateway offers tools only"
  [logging-set-level]="accepted, but the scenario expects log output pi-gateway does not produce"
  [server-sse-polling]="SSE resumability (Last-Event-ID) is not implemented"
  [json-schema-2020-12]="needs its own test tool with a 2020-12 schema (not added)"
)
for s in $("$NODE22" "$CONF" list --server 2>/dev/null | sed -n 's/^ *[-*] *\([a-z0-9-]*\).*/\1/p'); do
  out=$(cd "$PI_TEST_DIR" && timeout 60 "$NODE22" "$CONF" server --url "http://127.0.0.1:$CPORT/mcp" --scenario "$s" 2>&1)
  if echo "$out" | grep -qE 'Failed: *[1-9]|FAILURE'; then
    if [ -n "${XFAIL[$s]:-}" ]; then echo "ok - conformance $s # expected failure: ${XFAIL[$s]}"
    else fail "conformance $s" "$(echo "$out" | grep -E 'FAILURE|rror' | head -3 | tr '\n' ' ')"; fi
  else
    pass "conformance $s"
  fi
done
