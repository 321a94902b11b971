// tests/gateway/mcp_client.mjs: the official TypeScript SDK client against
// pi-gateway's /mcp.  Prints "ok - NAME" / "not ok - NAME: why" lines that
// run.sh counts.  Usage: node mcp_client.mjs URL API_KEY
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";

const [url, key] = process.argv.slice(2);
const headers = { "X-API-Key": key };
let failed = 0;
function check(name, cond, why = "") {
  if (cond) console.log(`ok - mcp: ${name}`);
  else { failed++; console.log(`not ok - mcp: ${name}${why ? ": " + why : ""}`); }
}
const js = (x) => JSON.stringify(x) ?? "";
const text = (r) => (r.content || []).filter((c) => c.type === "text").map((c) => c.text).join("\n");

async function streamable() {
  const client = new Client({ name: "pi-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url + "/mcp"), { requestInit: { headers } });
  await client.connect(transport);
  check("initialize gives a session id", !!transport.sessionId);
  check("server info", client.getServerVersion()?.name === "pi-gateway");

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const n of ["execute_code", "submit_job", "get_job_status", "get_job_result", "cancel_job",
                   "create_session", "list_files", "upload_file", "download_file",
                   "load_dataset", "query_dataset", "list_datasets"])
    check(`tools/list has ${n}`, names.includes(n));
  check("every tool has input and output schema", tools.every((t) => t.inputSchema && t.outputSchema && t.description));

  let st;
  let r = await client.callTool({ name: "execute_code", arguments: { code: "x = 40 + 2\nprint('hello')\nx" } });
  check("execute_code runs", !r.isError && text(r).includes("hello") && text(r).includes("42"), JSON.stringify(r).slice(0, 300));
  check("structuredContent", r.structuredContent?.status === "completed");
  r = await client.callTool({ name: "execute_code", arguments: { code: "print(x * 2)" } });
  check("variable kept across calls", text(r).includes("84"), text(r));

  r = await client.callTool({ name: "execute_code", arguments: { code: "import matplotlib.pyplot as plt\nplt.plot([1,2,3],[4,1,9])\nplt.show()" } });
  const img = (r.content || []).find((c) => c.type === "image");
  check("chart as image content", img && img.mimeType === "image/png" && img.data.length > 100, JSON.stringify(r).slice(0, 300));

  r = await client.callTool({ name: "execute_code", arguments: { code: "1/0" } });
  check("python error is isError with traceback", r.isError === true && text(r).includes("ZeroDivisionError"), text(r));

  const csv = "city,temp\nOslo,3\nRome,18\nCairo,30\n";
  r = await client.callTool({ name: "upload_file", arguments: { path: "weather.csv", content: csv } });
  check("upload_file text", !r.isError && r.structuredContent?.size === csv.length, text(r));
  r = await client.callTool({ name: "upload_file", arguments: { path: "b.bin", content: Buffer.from([0, 1, 2, 255]).toString("base64"), encoding: "base64" } });
  check("upload_file base64", !r.isError && r.structuredContent?.size === 4, text(r));
  r = await client.callTool({ name: "list_files", arguments: {} });
  check("list_files sees uploads", js(r.structuredContent).includes("weather.csv"), text(r));
  r = await client.callTool({ name: "download_file", arguments: { path: "weather.csv" } });
  check("download_file text", text(r) === csv, text(r));
  r = await client.callTool({ name: "download_file", arguments: { path: "b.bin" } });
  check("download_file binary as base64", r.structuredContent?.encoding === "base64" && r.structuredContent?.content === "AAEC/w==", JSON.stringify(r.structuredContent));
  r = await client.callTool({ name: "execute_code", arguments: { code: "import pandas as pd\npd.read_csv('weather.csv')['temp'].sum()" } });
  check("code reads the uploaded file", text(r).includes("51"), text(r));

  r = await client.callTool({ name: "submit_job", arguments: { code: "print(6*7)" } });
  const j2 = r.structuredContent?.job_id;
  check("submit_job", !!j2, text(r));
  for (let i = 0; i < 100; i++) {
    st = await client.callTool({ name: "get_job_status", arguments: { job_id: j2 } });
    if (!["pending", "running"].includes(st.structuredContent?.status)) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  r = await client.callTool({ name: "get_job_result", arguments: { job_id: j2 } });
  check("get_job_result", text(r).includes("42"), text(r));

  const progress = [];
  r = await client.callTool({ name: "execute_code", arguments: { code: "import time\ntime.sleep(2.5)\nprint('slept')" } },
                            undefined, { onprogress: (p) => progress.push(p) });
  check("progress notifications while running", progress.length >= 2 && text(r).includes("slept"), `${progress.length} notifications; ${text(r)}`);

  await longRuns(client);
  await liveOutput(client);

  r = await client.callTool({ name: "load_dataset", arguments: { file_path: "weather.csv", dataset_name: "weather" } });
  const job = r.structuredContent?.job_id;
  check("load_dataset returns a job", !r.isError && !!job, text(r));

  for (let i = 0; i < 100 && job; i++) {
    st = await client.callTool({ name: "get_job_status", arguments: { job_id: job } });
    if (!["pending", "running"].includes(st.structuredContent?.status)) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  check("load job completes", st?.structuredContent?.status === "completed", text(st || {}));
  r = await client.callTool({ name: "query_dataset", arguments: { sql: "SELECT sum(temp) AS s FROM weather" } });
  check("query_dataset", !r.isError && js(r.structuredContent).includes("51"), text(r));
  r = await client.callTool({ name: "list_datasets", arguments: {} });
  check("list_datasets", js(r.structuredContent).includes("weather"), text(r));

  await modelText(client, tools);

  r = await client.callTool({ name: "no_such_tool", arguments: {} }).catch((e) => ({ err: e }));
  check("unknown tool is a JSON-RPC error", !!r.err);
  await transport.terminateSession();
  check("DELETE ends the session", true);
  await client.close();
}

// Issue 14.  run.sh starts the gateway with PI_GATEWAY_EXECUTE_WAIT=3, so a
// 6 s run stands for a 70 s one against the SDK's 60 s request timeout.
async function longRuns(client) {
  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
  let t0 = Date.now();
  let r = await client.callTool({ name: "execute_code", arguments: { code: "import time\ntime.sleep(6)\nlong_done = 'late'\nprint(long_done)" } });
  let dt = Date.now() - t0;
  const sc = r.structuredContent || {};
  check("a run past the wait budget answers within it, not as an error", !r.isError && dt < 5500, `${dt} ms; ${text(r)}`);
  check("... saying it goes on as a job, with the job id and how to wait", sc.still_running === true && !!sc.job_id &&
        text(r).includes(sc.job_id) && text(r).includes("get_job_result"), text(r));
  const progress = [];
  r = await client.callTool({ name: "get_job_result", arguments: { job_id: sc.job_id, wait: 20 } },
                            undefined, { onprogress: (p) => progress.push(p) });
  check("get_job_result with wait returns the run's result", r.structuredContent?.status === "completed" && text(r).includes("late"), text(r));
  check("... with progress notifications while it waits", progress.length >= 1, `${progress.length} notifications`);
  r = await client.callTool({ name: "execute_code", arguments: { code: "print(long_done * 2)" } });
  check("the job ran in the conversation's session (not restarted)", text(r).includes("latelate"), text(r));

  // a job in the session: execute_code fails at once, saying why
  r = await client.callTool({ name: "submit_job", arguments: { code: "import time\ntime.sleep(8)" } });
  const busyJob = r.structuredContent?.job_id;
  for (let i = 0; i < 50; i++) {
    const st = await client.callTool({ name: "get_job_status", arguments: { job_id: busyJob } });
    if (st.structuredContent?.status === "running") break;
    await sleep(100);
  }
  for (const [how, args] of [["sync", { wait: 0, timeout: 30 }], ["job-backed", {}]]) {
    t0 = Date.now();
    r = await client.callTool({ name: "execute_code", arguments: { code: "print(1)", ...args } });
    dt = Date.now() - t0;
    check(`busy session (${how} run): fails at once`, r.isError === true && dt < 3500, `${dt} ms; ${text(r)}`);
    check(`busy session (${how} run): the error names the busy session and the job`,
          text(r).includes("session is busy") && text(r).includes(busyJob) && text(r).includes("Detail:"), text(r));
    check(`busy session (${how} run): the hint names MCP tools, not SQL functions`,
          text(r).includes("get_job_result") && text(r).includes("cancel_job") &&
          !text(r).includes("pi.job_result") && !text(r).includes("wait_s"), text(r));
  }
  r = await client.callTool({ name: "cancel_job", arguments: { job_id: busyJob } });
  check("submit_job's description tells that jobs share the session's state",
        !(await client.listTools()).tools.find((t) => t.name === "submit_job").description.includes("fresh interpreter"));

  // notifications/cancelled stops the run and frees the session at once
  for (const [how, args] of [["sync run", { wait: 0, timeout: 60 }], ["job-backed run", { timeout: 60 }]]) {
    const ac = new AbortController();
    const p = client.callTool({ name: "execute_code", arguments: { code: "import time\ntime.sleep(40)", ...args } },
                              undefined, { signal: ac.signal }).catch((e) => ({ aborted: e }));
    await sleep(1500);
    ac.abort("test cancels");
    const a = await p;
    t0 = Date.now();
    r = await client.callTool({ name: "execute_code", arguments: { code: "print('after cancel')", wait: 0, timeout: 30 } });
    dt = Date.now() - t0;
    check(`cancelling a ${how} frees its session at once`, !!a.aborted && text(r).includes("after cancel") && dt < 4000,
          `${dt} ms; ${text(r)}`);
  }
}

// Issue 14, what a model reads: most clients pass on the text content
// alone, so it must carry every fact, compactly.
async function modelText(client, tools) {
  const hints = ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"];
  const bad = tools.filter((t) => !t.annotations || !t.annotations.title ||
                                  hints.some((h) => typeof t.annotations[h] !== "boolean"));
  check("every tool has annotations: title and the four hints", tools.length > 0 && bad.length === 0,
        bad.map((t) => t.name).join(", "));
  const ann = (n) => tools.find((t) => t.name === n)?.annotations || {};
  check("annotations: query_dataset reads only, execute_code may destroy, nothing reaches outside",
        ann("query_dataset").readOnlyHint === true && ann("execute_code").readOnlyHint === false &&
        ann("execute_code").destructiveHint === true && tools.every((t) => t.annotations?.openWorldHint === false));
  const opts = tools.find((t) => t.name === "load_dataset")?.inputSchema?.properties?.options?.properties || {};
  check("load_dataset's schema spells out its options",
        ["types", "on_error", "header", "delimiter", "quote", "escape", "encoding"].every((o) => opts[o]?.description) &&
        js(opts.on_error.enum) === js(["fail", "skip"]), js(Object.keys(opts)));

  let r = await client.callTool({ name: "query_dataset", arguments: { sql: "SELECT city, temp FROM weather ORDER BY temp" } });
  check("query_dataset text: a Markdown table with the column types",
        text(r).includes("3 rows; columns: city text, temp integer") && text(r).includes("| city | temp |\n|---|---|\n| Oslo | 3 |"), text(r));
  r = await client.callTool({ name: "query_dataset", arguments: { sql: "SELECT g, 288434.11::float8 AS amount, 0.1::float8 + 0.2::float8 AS sum FROM generate_series(1, 80) g" } });
  check("query_dataset text: floats as a person writes them", text(r).includes("| 1 | 288434.11 | 0.3 |") && !text(r).includes("288434.10999"), text(r).slice(0, 300));
  check("query_dataset text: a row cap and how many more rows", text(r).includes("| 50 |") && !text(r).includes("| 51 |") &&
        text(r).includes("30 more rows (80 in all)") && r.structuredContent?.rows?.length === 80, text(r).slice(-200));

  const csv = "id,amount,day\n1,10.5,2024-01-01\n2,oops,2024-01-02\n3,288434.11,2024-01-03\n4,7,not a date\n5,1,2024-01-05\n";
  await client.callTool({ name: "upload_file", arguments: { path: "sales.csv", content: csv } });
  r = await client.callTool({ name: "load_dataset", arguments: { file_path: "sales.csv", dataset_name: "sales",
    options: { types: { amount: "double precision", day: "date" }, on_error: "skip" } } });
  check("load_dataset text: the job and how to wait for it", text(r).includes(r.structuredContent?.job_id) && text(r).includes("get_job_result"), text(r));
  r = await client.callTool({ name: "get_job_result", arguments: { job_id: r.structuredContent?.job_id, wait: 30 } });
  const lt = text(r);
  check("load result text: rows and dataset", lt.includes("Loaded 3 rows into dataset sales"), lt);
  check("load result text: each column's type",
        lt.includes("| id | integer |") && lt.includes("| amount | double precision |") && lt.includes("| day | date |"), lt);
  check("load result text: rejected rows with the first reasons",
        lt.includes("Rejected rows: 2") && /line 3: .*oops/.test(lt) && /line 5: .*not a date/.test(lt), lt);

  r = await client.callTool({ name: "execute_code", arguments: { code:
    "import pandas as pd\ndisplay(pd.DataFrame({'shown': [288434.11]}))\npd.DataFrame({'n': range(200), 'amount': [288434.11] * 200, 'x': [0.1 + 0.2] * 200})" } });
  const et = text(r);
  check("DataFrame result: a Markdown table with its shape", et.includes("Result (DataFrame, 200 rows × 3 columns)") &&
        et.includes("| | n | amount | x |\n|---|---|---|---|\n| 0 | 0 | 288434.11 | 0.3 |"), et.slice(0, 400));
  check("DataFrame result: a row cap and how many more rows", et.includes("150 more rows (200 in all)") && !et.includes("| 50 | 50 |"), et.slice(-300));
  check("DataFrame result: no float noise", !/288434\.10999|0\.30000000000000004/.test(et), et.slice(0, 300));
  check("display(DataFrame): its Markdown keeps the digits", et.includes("288434.11 |") && !/\| +288434 \|/.test(et), et.slice(-300));

  r = await client.callTool({ name: "execute_code", arguments: { code:
    "print('first line')\nfor i in range(2000): print('line', i, 'of output')\nprint('last line')" } });
  const out = r.structuredContent?.stdout || "";
  check("long stdout: the text keeps its head and tail and says what was cut",
        text(r).includes("first line") && text(r).includes("last line") && !text(r).includes("line 1000 of output") &&
        /\[… \d+ bytes of \d+ cut here; structuredContent.stdout has all of it/.test(text(r)) && text(r).length < 3500,
        `${text(r).length} chars`);
  check("long stdout: structuredContent keeps the whole", out.includes("line 1000 of output") && out.includes("last line"), `${out.length} bytes`);

  r = await client.callTool({ name: "execute_code", arguments: { code: "import time\ntime.sleep(10)", timeout: 1, wait: 0 } });
  check("a run's notice (cell interrupted) is in the text", r.isError === true && /Notice: .*interrupted/.test(text(r)), text(r));
  r = await client.callTool({ name: "get_job_status", arguments: { job_id: "00000000-0000-0000-0000-000000000000" } });
  check("an error's text: message, then the hint on its own line", r.isError === true &&
        /^Error \(not_found\): .*does not exist/.test(text(r)) && /\nHint: \S/.test(text(r)), text(r));
}

// Issue 15: progress notifications carry the code's pi.progress() fraction
// and message and its last line of output; a run that becomes a job
// answers with what it printed so far.
async function liveOutput(client) {
  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
  let r = await client.callTool({ name: "submit_job", arguments: {
    code: "import pi, time\nfor i in range(1, 9):\n    pi.progress(i / 8, 'step %d of 8' % i)\n    print('line %d' % i)\n    time.sleep(0.6)" } });
  const id = r.structuredContent?.job_id;
  const progress = [];
  r = await client.callTool({ name: "get_job_result", arguments: { job_id: id, wait: 30 } },
                            undefined, { onprogress: (p) => progress.push(p) });
  check("get_job_result waits for the job that reports progress", r.structuredContent?.status === "completed", text(r));
  const fr = progress.filter((p) => p.total === 1 && p.progress > 0 && p.progress <= 1);
  check("... its notifications carry pi.progress() fractions as progress/total (at least 3 of them)",
        fr.length >= 3 && new Set(fr.map((p) => p.progress)).size >= 3, js(progress));
  check("... fractions that never go down", fr.every((p, i) => i === 0 || p.progress >= fr[i - 1].progress), js(fr));
  check("... with the code's progress message and its last line of output",
        fr.some((p) => /step [1-8] of 8/.test(p.message) && /last output: line [1-8]$/.test(p.message)), js(progress));

  // execute_code waits its budget (3 s here), then answers with the output so far
  const eprog = [];
  let t0 = Date.now();
  r = await client.callTool({ name: "execute_code", arguments: {
    code: "import pi, time\nfor i in range(60):\n    pi.progress(i / 60, 'part %d' % i)\n    print('so far %d' % i)\n    time.sleep(0.2)" } },
    undefined, { onprogress: (p) => eprog.push(p) });
  const sc = r.structuredContent || {};
  check("execute_code that becomes a job returns the output printed so far",
        sc.still_running === true && /^so far 0\nso far 1\n/.test(sc.stdout || "") && text(r).includes("Output so far:\nso far 0"), text(r));
  check("... and its progress notifications while it waited carry the fraction and the message",
        eprog.some((p) => p.total === 1 && p.progress > 0 && /part \d+/.test(p.message) && /last output: so far \d+/.test(p.message)), js(eprog));
  const seen = [];
  for (let i = 0; i < 40 && sc.job_id; i++) {
    const st = await client.callTool({ name: "get_job_status", arguments: { job_id: sc.job_id } });
    const s = st.structuredContent || {};
    if (s.status !== "running") break;
    if (!seen.length || seen[seen.length - 1] !== s.stdout_bytes) seen.push(s.stdout_bytes);
    if (seen.length >= 3) break;
    await sleep(400);
  }
  check("get_job_status shows the job's stdout growing", seen.length >= 3 && seen[2] > seen[0], js(seen));
  if (sc.job_id) await client.callTool({ name: "cancel_job", arguments: { job_id: sc.job_id } });

  // a plain pi.execute (wait 0: no job) relays pi.progress() as NOTICEs
  for (let i = 0; i < 50; i++) {
    const st = await client.callTool({ name: "get_job_status", arguments: { job_id: sc.job_id } });
    if (!["pending", "running"].includes(st.structuredContent?.status)) break;
    await sleep(200);
  }
  const sprog = [];
  r = await client.callTool({ name: "execute_code", arguments: { wait: 0, timeout: 30,
    code: "import pi, time\nfor i in range(1, 6):\n    pi.progress(i / 5, 'sync step %d' % i)\n    time.sleep(0.7)\nprint('sync done')" } },
    undefined, { onprogress: (p) => sprog.push(p) });
  check("a plain execute_code (not a job) also sends pi.progress() fractions and messages",
        text(r).includes("sync done") && !r.structuredContent?.job_id &&
        sprog.some((p) => p.total === 1 && p.progress > 0 && /sync step [1-5]/.test(p.message)), js(sprog) + text(r));
}

async function legacySse() {
  const client = new Client({ name: "pi-test-sse", version: "1.0.0" });
  const transport = new SSEClientTransport(new URL(url + "/sse"), {
    requestInit: { headers }, eventSourceInit: { fetch: (u, i) => fetch(u, { ...i, headers: { ...(i?.headers || {}), ...headers } }) },
  });
  await client.connect(transport);
  const r = await client.callTool({ name: "execute_code", arguments: { code: "print(2+3)" } });
  check("legacy HTTP+SSE transport runs code", text(r).includes("5"), text(r));
  await client.close();
}

try { await streamable(); } catch (e) { failed++; console.log(`not ok - mcp: streamable http: ${e.stack || e}`); }
try { await legacySse(); } catch (e) { failed++; console.log(`not ok - mcp: legacy sse: ${e.stack || e}`); }
// run.sh counts a client that never gets here (a missing module, a crash)
// as a failure
console.log("# mcp_client: finished");
process.exit(failed ? 1 : 0);
