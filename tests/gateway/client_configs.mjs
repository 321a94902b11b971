// tests/gateway/client_configs.mjs: runs the client configurations README.md
// gives, as written, against a running gateway.
//
//   node client_configs.mjs README URL KEY GATEWAY MCP_REMOTE
//
// README.md marks each block: "<!-- client-config: NAME -->" before a JSON
// block of the shape Claude Desktop and Cursor read ({"mcpServers": {...}}),
// and "<!-- walkthrough: rest -->" before the curl walkthrough.  Only the
// address (http://127.0.0.1:8080), the key (YOUR_KEY) and the programs'
// locations are swapped for this run's: a "command" of pi-gateway runs
// GATEWAY, and "npx -y mcp-remote" runs the mcp-remote installed in
// MCP_REMOTE (no network here).  Each MCP configuration must connect with the
// official SDK client, list the tools and run a cell; the walkthrough must
// run to its end under "set -e" with every curl answering 2xx.
// Prints "ok - ..." / "not ok - ..." lines and "# client_configs: finished".
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [readmePath, base, key, gateway, mcpRemote] = process.argv.slice(2);
const readme = readFileSync(readmePath, "utf8");
const DOC_URL = "http://127.0.0.1:8080";
let failures = 0;
const ok = (n) => console.log(`ok - ${n}`);
const notOk = (n, why) => { failures++; console.log(`not ok - ${n}${why ? ": " + why : ""}`); };

// the fenced block after a marker
function blockAfter(marker) {
  const at = readme.indexOf(marker);
  if (at < 0) return null;
  const m = readme.slice(at).match(/```[a-z]*\n([\s\S]*?)```/);
  return m ? m[1] : null;
}

const swap = (s) => s.split(DOC_URL).join(base).split("YOUR_KEY").join(key);

async function tryClient(name, transport) {
  const client = new Client({ name: `readme-${name}`, version: "1" });
  try {
    await client.connect(transport);
    const tools = await client.listTools();
    const names = tools.tools.map((t) => t.name);
    if (!names.includes("execute_code")) throw new Error(`tools: ${names.join(", ")}`);
    const r = await client.callTool({ name: "execute_code", arguments: { code: "print(6 * 7)" } });
    const text = (r.content || []).map((c) => c.text || "").join("\n");
    if (!text.includes("42")) throw new Error(`execute_code answered: ${text.slice(0, 200)}`);
    ok(`README ${name}: connects, lists tools, runs a cell`);
  } catch (e) {
    notOk(`README ${name}: connects, lists tools, runs a cell`, String(e && e.message || e).slice(0, 300));
  } finally {
    await client.close().catch(() => {});
  }
}

const home = mkdtempSync(join(tmpdir(), "pi-client-configs-"));
for (const name of ["claude-desktop-stdio", "claude-desktop-remote", "cursor"]) {
  const text = blockAfter(`<!-- client-config: ${name} -->`);
  if (text === null) {
    notOk(`README has the ${name} configuration`);
    continue;
  }
  let server;
  try {
    const servers = JSON.parse(text).mcpServers;
    server = servers[Object.keys(servers)[0]];
  } catch (e) {
    notOk(`README ${name}: the block is JSON with mcpServers`, e.message);
    continue;
  }
  if (server.url) {
    await tryClient(name, new StreamableHTTPClientTransport(new URL(swap(server.url)),
      { requestInit: { headers: JSON.parse(swap(JSON.stringify(server.headers || {}))) } }));
    continue;
  }
  let command = server.command;
  let args = (server.args || []).map(swap);
  if (command === "pi-gateway") command = gateway;
  if (command === "npx") {
    const i = args.indexOf("mcp-remote");
    if (i < 0) { notOk(`README ${name}: npx runs mcp-remote`, args.join(" ")); continue; }
    command = process.execPath;
    args = [mcpRemote, ...args.slice(i + 1)];
  }
  const env = { ...process.env, HOME: home, ...JSON.parse(swap(JSON.stringify(server.env || {}))) };
  await tryClient(name, new StdioClientTransport({ command, args, env, stderr: "ignore" }));
}

// the curl walkthrough, run as written in a scratch folder
const walk = blockAfter("<!-- walkthrough: rest -->");
if (walk === null) {
  notOk("README has the REST walkthrough");
} else {
  const dir = mkdtempSync(join(tmpdir(), "pi-walkthrough-"));
  // every curl must succeed: -f turns an HTTP error into a failing command
  const script = "set -euo pipefail\n" + swap(walk).replace(/curl -s /g, "curl -sSf ");
  writeFileSync(join(dir, "walk.sh"), script);
  const r = spawnSync("bash", [join(dir, "walk.sh")], { cwd: dir, encoding: "utf8", timeout: 180000 });
  const out = r.stdout || "";
  const want = ['"stdout": "10\\n"', '"rows": 2', "Oslo", "done", "hello"];
  const missing = want.filter((w) => !out.replace(/":"/g, '": "').replace(/":(\d)/g, '": $1').includes(w));
  if (r.status === 0 && missing.length === 0) ok("README REST walkthrough runs as written");
  else notOk("README REST walkthrough runs as written",
    `exit ${r.status}; missing ${missing.join(", ")}; ${(r.stderr || "").slice(-300)} ${out.slice(-300)}`);
}
console.log(`# client_configs: ${failures} failures`);
console.log("# client_configs: finished");
process.exit(failures ? 1 : 0);
