// tests/gateway/openapi.mjs: checks live answers of every route of a running
// pi-gateway against its own GET /openapi.json.
//
//   node openapi.mjs URL KEY
//
// It calls every path and method of the document at least once with a
// success and, where it is cheap to provoke, with errors, and fails when an
// answer's status is not documented for its route, when its content type is
// not the documented one, or when a JSON body does not match the documented
// schema (JSON Schema 2020-12, as OpenAPI 3.1 uses).  A route of the
// document that no call reached, or a call whose path the document lacks,
// fails too, so a route added later without a test here shows up.
// Prints "ok - ..." / "not ok - ..." lines and "# openapi: finished".
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [base, key] = process.argv.slice(2);
const results = [];
let failures = 0;
const ok = (name) => console.log(`ok - ${name}`);
const notOk = (name, why) => {
  failures++;
  console.log(`not ok - ${name}${why ? ": " + why : ""}`);
};

// ---- the document ----------------------------------------------------------
const docResp = await fetch(`${base}/openapi.json`);
if (docResp.status !== 200) {
  notOk("openapi: /openapi.json is served without a key", `status ${docResp.status}`);
  console.log("# openapi: finished");
  process.exit(1);
}
ok("openapi: /openapi.json is served without a key");
const doc = await docResp.json();

// inline "#/components/..." references, so each response schema compiles alone
function resolveRefs(node) {
  if (Array.isArray(node)) return node.map(resolveRefs);
  if (node && typeof node === "object") {
    if (typeof node.$ref === "string" && node.$ref.startsWith("#/")) {
      let target = doc;
      for (const part of node.$ref.slice(2).split("/")) target = target[part];
      return resolveRefs(target);
    }
    const out = {};
    for (const [k, v] of Object.entries(node)) out[k] = resolveRefs(v);
    return out;
  }
  return node;
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

// the document's path template that a concrete path matches
function templateOf(path) {
  const bare = path.split("?")[0];
  for (const t of Object.keys(doc.paths)) {
    const re = new RegExp("^" + t.replace(/[.]/g, "\\.").replace(/\{[^}]+\}/g, "[^/]+") + "$");
    if (re.test(bare)) return t;
  }
  return null;
}

const reached = new Set();

// call METHOD PATH {headers, body, noKey, raw}: checks the answer against the
// document and returns {status, json, text, headers}
async function call(method, path, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (!opts.noKey) headers["X-API-Key"] = key;
  let body = opts.body;
  if (body !== undefined && typeof body !== "string" && !(body instanceof Uint8Array) &&
      !(body instanceof FormData)) {
    body = JSON.stringify(body);
    headers["Content-Type"] = headers["Content-Type"] || "application/json";
  }
  const ctl = new AbortController();
  const resp = await fetch(base + path, { method, headers, body, signal: ctl.signal });
  const name = `${method} ${path.split("?")[0]} -> ${resp.status}`;
  const ctype = (resp.headers.get("content-type") || "").split(";")[0].trim();
  let text = "";
  if (opts.firstChunkOnly) {
    const reader = resp.body.getReader();
    const { value } = await reader.read();
    text = new TextDecoder().decode(value || new Uint8Array());
    ctl.abort();
  } else {
    text = await resp.text();
  }
  const out = { status: resp.status, text, headers: resp.headers, json: undefined };
  const tpl = templateOf(path);
  if (tpl === null) {
    notOk(`openapi: ${name}`, "path not in the document");
    return out;
  }
  const op = doc.paths[tpl][method.toLowerCase()];
  if (!op) {
    if (resp.status !== 405) notOk(`openapi: ${name}`, `${method} ${tpl} not in the document`);
    return out;
  }
  if (resp.status >= 200 && resp.status < 300) reached.add(`${method} ${tpl}`);
  const spec = op.responses[String(resp.status)] || op.responses.default;
  if (!spec) {
    notOk(`openapi: ${name}`, `status ${resp.status} is not documented (documented: ${Object.keys(op.responses).join(" ")}); body ${text.slice(0, 200)}`);
    return out;
  }
  if (!spec.content) {
    if (text.length > 0 && resp.status !== 204)
      notOk(`openapi: ${name}`, `a body of ${text.length} bytes where the document has none`);
    else ok(`openapi: ${name}`);
    return out;
  }
  const media = spec.content[ctype] || spec.content[ctype.split("/")[0] + "/*"] || spec.content["*/*"];
  if (!media) {
    notOk(`openapi: ${name}`, `content type "${ctype}" is not documented (${Object.keys(spec.content).join(", ")})`);
    return out;
  }
  if (ctype === "application/json") {
    try {
      out.json = JSON.parse(text);
    } catch (e) {
      notOk(`openapi: ${name}`, `body is not JSON: ${text.slice(0, 120)}`);
      return out;
    }
    const validate = ajv.compile(resolveRefs(media.schema || {}));
    if (!validate(out.json)) {
      notOk(`openapi: ${name}`, `${ajv.errorsText(validate.errors)}; body ${text.slice(0, 300)}`);
      return out;
    }
  }
  ok(`openapi: ${name}`);
  return out;
}

function expect(cond, name, why) {
  if (cond) ok(name);
  else notOk(name, why);
}

// ---- every route ----------------------------------------------------------
await call("GET", "/health", { noKey: true });
await call("GET", "/openapi.json", { noKey: true });
await call("GET", "/metrics");
await call("GET", "/metrics", { noKey: true });

const sess = await call("POST", "/api/sessions", { body: {} });
const sid = sess.json && sess.json.session_id;
expect(typeof sid === "string", "openapi: a session to work in", sess.text.slice(0, 200));
await call("POST", "/api/sessions", { body: "{" });

await call("POST", "/api/execute", { body: { code: "x = 6 * 7\nprint(x)\nx", session_id: sid } });
await call("POST", "/api/execute", { body: { code: "1/0" } });
await call("POST", "/api/execute", { body: { code: "print(1)" }, noKey: true });
await call("POST", "/api/execute", { body: { timeout: 3 } });
await call("POST", "/api/execute", { body: { code: "1", session_id: "00000000-0000-0000-0000-000000000000" } });

const sub = await call("POST", "/api/jobs/submit", { body: { code: "import time\ntime.sleep(0.5)\n7" } });
const jid = sub.json && sub.json.job_id;
expect(typeof jid === "string", "openapi: a job to look at", sub.text.slice(0, 200));
await call("GET", `/api/jobs/${jid}/status`);
await call("GET", `/api/jobs/${jid}/result?wait=60`);
await call("POST", `/api/jobs/${jid}/cancel`);
await call("GET", "/api/jobs/00000000-0000-0000-0000-000000000000/status");
await call("GET", "/api/jobs/not-a-uuid/result");

const csv = "name,amount,day\nalpha,1.5,2024-01-02\nbeta,2.25,2024-02-03\n";
const q = (o) => new URLSearchParams(o).toString();
await call("POST", `/api/files/upload?${q({ session_id: sid, path: "data.csv" })}`, {
  body: csv, headers: { "Content-Type": "application/octet-stream" } });
const form = new FormData();
form.append("session_id", sid);
form.append("path", "form.txt");
form.append("file", new Blob(["from a form\n"]), "form.txt");
await call("POST", "/api/files/upload", { body: form });
await call("GET", `/api/files?${q({ session_id: sid })}`);
const dl = await call("GET", `/api/files/download?${q({ session_id: sid, path: "data.csv" })}`);
expect(dl.text === csv, "openapi: download gives the uploaded bytes back");
await call("GET", `/api/files/download?${q({ session_id: sid, path: "data.csv" })}`,
  { headers: { Range: "bytes=0-3" } });
await call("GET", `/api/files/download?${q({ session_id: sid, path: "nothing.csv" })}`);
await call("GET", "/api/files/download?path=x");

const load = await call("POST", "/api/data/load-csv", { body: { session_id: sid, file_path: "data.csv", dataset_name: "openapi_check" } });
// a load is a job: the table is there once it has completed
if (load.json && load.json.job_id)
  await call("GET", `/api/jobs/${load.json.job_id}/result?wait=120`);
await call("POST", "/api/data/load-csv", { body: { session_id: sid, file_path: "nothing.csv", dataset_name: "openapi_missing" } });
await call("GET", "/api/data/datasets");
await call("POST", "/api/data/query", { body: { sql: "SELECT name, amount FROM openapi_check ORDER BY name" } });
await call("POST", "/api/data/query", { body: { sql: "DROP TABLE openapi_check" } });

await call("DELETE", `/api/files?${q({ session_id: sid, path: "form.txt" })}`);
await call("DELETE", `/api/files?${q({ session_id: sid, path: "form.txt" })}`);

// MCP Streamable HTTP
const mcpHeaders = { Accept: "application/json, text/event-stream", "Content-Type": "application/json" };
const init = await call("POST", "/mcp", { headers: mcpHeaders, body: {
  jsonrpc: "2.0", id: 1, method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "openapi-check", version: "1" } } } });
const msid = init.headers.get("mcp-session-id");
expect(!!msid, "openapi: MCP initialize gives a session id");
const withSession = { ...mcpHeaders, "Mcp-Session-Id": msid, "MCP-Protocol-Version": "2025-06-18" };
await call("POST", "/mcp", { headers: withSession, body: { jsonrpc: "2.0", method: "notifications/initialized" } });
await call("POST", "/mcp", { headers: withSession, body: { jsonrpc: "2.0", id: 2, method: "tools/list" } });
await call("GET", "/mcp", { headers: { Accept: "text/event-stream", "Mcp-Session-Id": msid } });
await call("DELETE", "/mcp", { headers: { "Mcp-Session-Id": msid } });
await call("DELETE", "/mcp", { headers: { "Mcp-Session-Id": msid } });
await call("POST", "/mcp", { headers: withSession, body: { jsonrpc: "2.0", id: 3, method: "ping" } });

// MCP legacy HTTP+SSE: the stream's first event names where to post
const sse = await call("GET", "/sse", { headers: { Accept: "text/event-stream" }, firstChunkOnly: true });
const endpoint = (sse.text.match(/data: *(\S+)/) || [])[1];
expect(!!endpoint, "openapi: /sse names its message endpoint", sse.text.slice(0, 200));
if (endpoint) {
  const path = endpoint.startsWith("http") ? new URL(endpoint).pathname + new URL(endpoint).search : endpoint;
  await call("POST", path, { headers: { "Content-Type": "application/json" }, body: {
    jsonrpc: "2.0", id: 1, method: "initialize",
    params: { protocolVersion: "2024-11-05", capabilities: {}, clientInfo: { name: "openapi-check", version: "1" } } } });
}
await call("POST", "/messages?sessionId=00000000-0000-0000-0000-000000000000", {
  headers: { "Content-Type": "application/json" }, body: { jsonrpc: "2.0", id: 1, method: "ping" } });

// OAuth endpoints a client may look for: an OAuth error saying to send the key
await call("POST", "/register", { noKey: true, body: { client_name: "x" } });
await call("GET", "/authorize?response_type=code", { noKey: true });
await call("POST", "/token", { noKey: true, body: "grant_type=client_credentials",
  headers: { "Content-Type": "application/x-www-form-urlencoded" } });

// the CORS preflight of every path, from a loopback origin (allowed)
for (const tpl of Object.keys(doc.paths)) {
  const path = tpl.replace(/\{[^}]+\}/g, "00000000-0000-0000-0000-000000000000");
  await call("OPTIONS", path, { noKey: true, headers: {
    Origin: "http://127.0.0.1:3000", "Access-Control-Request-Method": "POST" } });
}

// ---- coverage ---------------------------------------------------------------
for (const [tpl, item] of Object.entries(doc.paths)) {
  for (const method of Object.keys(item)) {
    const id = `${method.toUpperCase()} ${tpl}`;
    const has2xx = Object.keys(item[method].responses).some((s) => s.startsWith("2"));
    if (!has2xx) continue;		// GET /mcp: 405 by design
    expect(reached.has(id), `openapi: ${id} answered with success at least once`);
  }
}
console.log(`# openapi: ${failures} failures`);
console.log("# openapi: finished");
process.exit(failures ? 1 : 0);
