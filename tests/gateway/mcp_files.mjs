// tests/gateway/mcp_files.mjs: files handed over MCP (issue 14), with the
// official TypeScript SDK client and its default options: a run's files as
// resource_link content (small images and text embedded), resources/list
// and resources/read of the conversation's own session only, the size cap
// of resources/read, and what an OAuth-capable client hears without a key.
// Prints "ok - NAME" / "not ok - NAME: why" lines that run.sh counts.
// Usage: node mcp_files.mjs URL API_KEY
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, key] = process.argv.slice(2);
const headers = { "X-API-Key": key };
let failed = 0;
function check(name, cond, why = "") {
  if (cond) console.log(`ok - mcp files: ${name}`);
  else { failed++; console.log(`not ok - mcp files: ${name}${why ? ": " + why : ""}`); }
}
const js = (x) => (JSON.stringify(x) ?? "").slice(0, 400);
const connect = async (name) => {
  const client = new Client({ name, version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url + "/mcp"), { requestInit: { headers } }));
  return client;
};
const errorOf = (p) => p.then(() => null, (e) => e);

async function links() {
  const client = await connect("pi-files");
  check("initialize advertises resources", !!client.getServerCapabilities()?.resources, js(client.getServerCapabilities()));
  let l = await client.listResources();
  check("resources/list before any run is empty (and makes no session)", Array.isArray(l.resources) && l.resources.length === 0, js(l));

  const code = [
    "import pandas as pd, matplotlib",
    "matplotlib.use('Agg')",
    "import matplotlib.pyplot as plt",
    "pd.DataFrame({'city': ['Oslo', 'Rome'], 'temp': [3, 18]}).to_excel('report.xlsx', index=False)",
    "open('notes.txt', 'w').write('small notes')",
    "plt.plot([1, 2], [3, 4]); plt.savefig('chart.png'); plt.close()",
    "print('written')",
  ].join("\n");
  const r = await client.callTool({ name: "execute_code", arguments: { code } });
  const items = r.content || [];
  const link = (name) => items.find((c) => c.type === "resource_link" && c.name === name);
  const xlsx = link("report.xlsx");
  check("a run's xlsx comes back as a resource_link with uri, name, mimeType and size",
        xlsx && xlsx.uri.startsWith("pi://sessions/") &&
        xlsx.mimeType === "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" && xlsx.size > 0, js(items));
  check("every file the run wrote is linked", !!link("notes.txt") && !!link("chart.png"), js(items.map((c) => c.type + ":" + (c.name || ""))));
  const emb = items.find((c) => c.type === "resource" && c.resource?.uri === link("notes.txt")?.uri);
  check("small text is embedded whole", emb?.resource?.text === "small notes", js(emb));
  const img = items.find((c) => c.type === "image" && c.mimeType === "image/png");
  check("a small image the run saved is embedded as an image",
        img && Buffer.from(img.data, "base64").subarray(1, 4).toString() === "PNG", js(items.map((c) => c.type)));

  // byte-identical with what REST serves from the same session
  const sid = r.structuredContent?.session?.id;
  const rd = await client.readResource({ uri: xlsx.uri });
  const bytes = Buffer.from(rd.contents?.[0]?.blob || "", "base64");
  const rest = Buffer.from(await (await fetch(`${url}/api/files/download?session_id=${sid}&path=report.xlsx`, { headers })).arrayBuffer());
  check("resources/read gives the xlsx as a base64 blob, byte-identical with the REST download",
        bytes.length === xlsx.size && bytes.subarray(0, 2).toString() === "PK" && rest.equals(bytes),
        `${bytes.length} vs ${rest.length} bytes, link size ${xlsx.size}`);
  check("... with its mimeType", rd.contents?.[0]?.mimeType === xlsx.mimeType, js(rd.contents?.[0]?.mimeType));
  const rt = await client.readResource({ uri: link("notes.txt").uri });
  check("resources/read gives a text file as text", rt.contents?.[0]?.text === "small notes", js(rt));

  l = await client.listResources();
  check("resources/list lists the session's files", ["report.xlsx", "notes.txt", "chart.png"].every((n) => l.resources.some((x) => x.name === n && x.uri && x.mimeType)), js(l));

  let e = await errorOf(client.readResource({ uri: xlsx.uri.replace("report.xlsx", "missing.xlsx") }));
  check("resources/read of a missing file: -32002", e?.code === -32002, String(e));
  e = await errorOf(client.readResource({ uri: xlsx.uri.replace("report.xlsx", "..%2F..%2Fetc%2Fpasswd") }));
  check("resources/read of a path out of the workspace fails", !!e && !String(e).includes("root:"), String(e));

  // a file over the cap: a clear error naming the ways to read it in parts
  await client.callTool({ name: "execute_code", arguments: { code: "open('big.bin', 'wb').write(b'x' * (9 << 20))" } });
  e = await errorOf(client.readResource({ uri: xlsx.uri.replace("report.xlsx", "big.bin") }));
  check("resources/read over 8 MiB: an error saying how to read it in parts", !!e && String(e).includes("download_file") && String(e).includes("Range"), String(e));

  // another conversation of the same key sees none of it
  const other = await connect("pi-files-other");
  e = await errorOf(other.readResource({ uri: xlsx.uri }));
  check("another MCP session cannot read this session's file: -32002", e?.code === -32002, String(e));
  await other.callTool({ name: "execute_code", arguments: { code: "print(1)" } });
  const ol = await other.listResources();
  check("... and does not list it", !ol.resources.some((x) => x.name === "report.xlsx"), js(ol));
  e = await errorOf(other.readResource({ uri: xlsx.uri }));
  check("... even once it has a session of its own", e?.code === -32002, String(e));
  await other.close();
  await client.close();
}

// An OAuth-capable client (as mcp-remote is) without a key: the 401 starts
// OAuth discovery in the SDK whatever it says, and the gateway's OAuth
// endpoints answer with what to do instead.
async function oauthWithoutKey() {
  const provider = {
    get redirectUrl() { return "http://127.0.0.1:1/callback"; },
    get clientMetadata() { return { redirect_uris: ["http://127.0.0.1:1/callback"], client_name: "pi-test" }; },
    clientInformation() { return undefined; },
    saveClientInformation() {},
    tokens() { return undefined; },
    saveTokens() {},
    redirectToAuthorization() { throw new Error("the client was sent to authorize"); },
    saveCodeVerifier() {},
    codeVerifier() { return "v"; },
  };
  const client = new Client({ name: "pi-oauth", version: "1.0.0" });
  const e = await errorOf(client.connect(new StreamableHTTPClientTransport(new URL(url + "/mcp"), { authProvider: provider })));
  check("an OAuth client without a key is told to send the API key, not sent to authorize",
        !!e && String(e).includes("API key") && !String(e).includes("authorize"), String(e));
}

try { await links(); } catch (e) { failed++; console.log(`not ok - mcp files: links: ${e.stack || e}`); }
try { await oauthWithoutKey(); } catch (e) { failed++; console.log(`not ok - mcp files: oauth: ${e.stack || e}`); }
console.log("# mcp_files: finished");
process.exit(failed ? 1 : 0);
