# tests/gateway/node_deps.sh: sourced by run.sh.  Installs the npm packages
# the gateway suite drives pi-gateway with into NODE_DIR (default
# ~/.cache/pi-gateway-tests, PI_GATEWAY_NODE_DIR overrides):
#   @modelcontextprotocol/sdk          the official client (mcp_client.mjs)
#   @modelcontextprotocol/conformance  the conformance suite (conformance.sh)
#   node@22                            the Node 22 the conformance suite needs
#   @redocly/cli, ajv, ajv-formats     lint /openapi.json and check live
#                                      answers against it (openapi.sh)
#   mcp-remote                         the bridge README's Claude Desktop
#                                      configuration uses (client_configs.mjs)
#   @modelcontextprotocol/inspector    the Inspector CLI, pinned (inspector.sh)
# pi_node_deps returns non-zero and sets PI_NODE_DEPS_ERROR when one of them
# is missing afterwards; run.sh counts that as a failure.
NODE_DIR=${PI_GATEWAY_NODE_DIR:-$HOME/.cache/pi-gateway-tests}
NODE22=$NODE_DIR/node_modules/node/bin/node
CONF=$NODE_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js
# pinned: its --strict checks change between versions, and a test must not
# start failing because npm published a stricter one
INSPECTOR_VERSION=2.12.0
INSPECTOR=$NODE_DIR/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js
PI_NODE_DEPS_ERROR=

_pi_node_missing() {
  local m=()
  [ -f "$NODE_DIR/node_modules/@modelcontextprotocol/sdk/package.json" ] || m+=("@modelcontextprotocol/sdk")
  [ -f "$CONF" ] || m+=("@modelcontextprotocol/conformance")
  [[ "$("$NODE22" --version 2>/dev/null)" == v22.* ]] || m+=("node@22")
  [ -f "$NODE_DIR/node_modules/@redocly/cli/package.json" ] || m+=("@redocly/cli@2")
  [ -f "$NODE_DIR/node_modules/ajv/package.json" ] || m+=("ajv@8")
  [ -f "$NODE_DIR/node_modules/ajv-formats/package.json" ] || m+=("ajv-formats@3")
  [ -f "$NODE_DIR/node_modules/mcp-remote/dist/proxy.js" ] || m+=("mcp-remote@0.15")
  grep -qs "\"version\": \"$INSPECTOR_VERSION\"" \
    "$NODE_DIR/node_modules/@modelcontextprotocol/inspector/package.json" \
    || m+=("@modelcontextprotocol/inspector@$INSPECTOR_VERSION")
  command -v node >/dev/null || m+=("node (Debian package nodejs)")
  echo "${m[*]}"
}

pi_node_deps() {
  local missing log
  missing=$(_pi_node_missing)
  [ -z "$missing" ] && return 0
  mkdir -p "$NODE_DIR" || { PI_NODE_DEPS_ERROR="cannot create $NODE_DIR"; return 1; }
  if ! command -v npm >/dev/null; then
    PI_NODE_DEPS_ERROR="missing: $missing; npm is not installed (scripts/deps.sh installs it)"
    return 1
  fi
  log=$NODE_DIR/npm-install.log
  # one install at a time: other test runs may share NODE_DIR
  (
    flock -w 600 9 || exit 1
    [ -z "$(_pi_node_missing)" ] && exit 0
    cd "$NODE_DIR" || exit 1
    [ -f package.json ] || npm init -y >/dev/null 2>&1
    npm install --no-audit --no-fund \
      @modelcontextprotocol/sdk @modelcontextprotocol/conformance node@22 \
      @redocly/cli@2 ajv@8 ajv-formats@3 mcp-remote@0.15 \
      "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" >"$log" 2>&1
  ) 9>"$NODE_DIR/.install.lock"
  missing=$(_pi_node_missing)
  if [ -n "$missing" ]; then
    PI_NODE_DEPS_ERROR="missing after npm install: $missing; $(tail -n 3 "$log" 2>/dev/null | tr '\n' ' ')"
    return 1
  fi
  return 0
}
