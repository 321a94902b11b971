// tests/gateway/long_cell.mjs: issue 14's long run, as an assistant's client
// meets it.  The official TypeScript SDK client with its default options (a
// request times out after 60 s) runs a 70 s cell through a gateway with its
// default settings (execute_code waits at most 45 s): the call must answer
// before the client gives up, saying the run goes on as a job, without
// restarting it; get_job_result with a wait then returns the cell's end.
//
//   node long_cell.mjs URL KEY
//
// Prints "ok - ..." / "not ok - ..." lines and "# long_cell: finished".
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, key] = process.argv.slice(2);
let failures = 0;
const check = (name, ok, why) => {
  if (ok) console.log(`ok - ${name}`);
  else { failures++; console.log(`not ok - ${name}: ${String(why).slice(0, 400)}`); }
};
const text = (r) => (r?.content || []).filter((c) => c.type === "text").map((c) => c.text).join("\n");

const client = new Client({ name: "pi-long-cell", version: "1" });
try {
  await client.connect(new StreamableHTTPClientTransport(new URL(url + "/mcp"),
    { requestInit: { headers: { "X-API-Key": key } } }));
  const t0 = Date.now();
  // the cell counts its own starts in a file: a restart would show as 2
  let r = await client.callTool({ name: "execute_code", arguments: {
    code: "import time\nn = int(open('starts.txt').read()) + 1 if __import__('os').path.exists('starts.txt') else 1\n" +
          "open('starts.txt', 'w').write(str(n))\nprint('started', n, flush=True)\ntime.sleep(70)\nprint('finished after 70 s')",
    timeout: 120 } });
  const waited = (Date.now() - t0) / 1000;
  const sc = r.structuredContent || {};
  check(`a 70 s cell answers before the SDK's 60 s default timeout (${waited.toFixed(1)} s)`, waited < 60 && !r.isError, text(r));
  check("... saying it goes on as a job, with its id and how to wait for it",
        sc.still_running === true && typeof sc.job_id === "string" && text(r).includes(sc.job_id) &&
        text(r).includes("get_job_result"), text(r));
  check("... with the output so far", text(r).includes("started 1"), text(r));
  let done = null;
  for (let i = 0; i < 4 && sc.job_id && !done; i++) {
    r = await client.callTool({ name: "get_job_result", arguments: { job_id: sc.job_id, wait: 40 } });
    if (r.structuredContent?.status === "completed") done = r;
  }
  check("get_job_result with a wait returns the cell's end", done !== null && text(done).includes("finished after 70 s"), text(r));
  check("... and the cell ran once, not restarted", done !== null && /started 1\b/.test(done.structuredContent?.stdout || "") &&
        !/started 2/.test(done.structuredContent?.stdout || ""), done?.structuredContent?.stdout);
} catch (e) {
  check("the long cell ran to its end without a client error", false, e.stack || e);
} finally {
  await client.close().catch(() => {});
}
console.log("# long_cell: finished");
process.exit(failures ? 1 : 0);
