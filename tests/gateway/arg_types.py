#!/usr/bin/env python3
"""tests/gateway/arg_types.py: every argument of every REST body, bodiless
route's query string and MCP tool, sent with a value of the wrong JSON type
or out of its range, is refused before any SQL runs, by a message naming the
field, what it takes (type and range) and what was sent.

The routes and tools come from the gateway itself (/openapi.json and
tools/list), so an argument added later is checked too.  No database is
needed (a refusal comes first); arg_types.sh runs this against a gateway
with or without one.  Prints "ok - ..." / "not ok - ..." lines and
"# arg_types: finished" at the end.

    arg_types.py BASE_URL API_KEY
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

BASE, KEY = sys.argv[1], sys.argv[2]
UUID = "00000000-0000-0000-0000-000000000001"


def ok(cond, name, why=""):
    print(("ok - " if cond else "not ok - ") + name + ("" if cond else "  # " + why[:400]))


def http(method, path, body=None, headers=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    h = {"X-API-Key": KEY, "Content-Type": "application/json"}
    h.update(headers or {})
    r = urllib.request.Request(BASE + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def fmt_bound(b):
    return str(int(b)) if float(b).is_integer() else "%g" % b


def takes(schema):
    """What the gateway says a schema takes."""
    t = schema["type"]
    if t in ("integer", "number"):
        what = "an integer" if t == "integer" else "a number"
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is not None and hi is not None:
            return "%s from %s to %s" % (what, fmt_bound(lo), fmt_bound(hi))
        if lo is not None:
            return "%s of at least %s" % (what, fmt_bound(lo))
        return what
    return {"string": "a string", "boolean": "a boolean (true or false)",
            "object": "a JSON object"}[t]


def wrong_values(schema):
    """(value, how the gateway describes it) pairs a schema refuses."""
    t = schema["type"]
    if t == "string":
        return [(5, "the number 5"), (True, "the boolean true"), (["x"], "an array"),
                ({"a": 1}, "an object")]
    if t == "boolean":
        return [("yes", 'a string ("yes")'), (1, "the number 1")]
    if t == "object":
        return [(5, "the number 5"), ("x", 'a string ("x")'), ([], "an array")]
    out = [("10", 'a string ("10")'), (True, "the boolean true"), (1e30, "the number 1e+30")]
    if t == "integer":
        out.append((1.5, "the number 1.5"))
    if "minimum" in schema:
        out.append((schema["minimum"] - 1, "the number %s" % fmt_bound(schema["minimum"] - 1)))
    if "maximum" in schema and schema["maximum"] < 1e15:
        out.append((schema["maximum"] + 1, "the number %s" % fmt_bound(schema["maximum"] + 1)))
    return out


def good_value(schema):
    t = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if t == "string":
        return UUID if schema.get("format") == "uuid" else "x"
    if t in ("integer", "number"):
        return schema.get("minimum", 1)
    if t == "boolean":
        return False
    return {}


def cases(schema, prefix=""):
    """(field path, its schema) for every typed property, nested ones too."""
    for name, ps in schema.get("properties", {}).items():
        if "type" not in ps:
            continue
        yield prefix + name, ps
        if ps["type"] == "object":
            yield from cases(ps, prefix + name + ".")


def body_with(schema, field, value):
    """A body with every required argument valid and field set to value."""
    body = {r: good_value(schema["properties"][r]) for r in schema.get("required", [])}
    parts = field.split(".")
    d = body
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value
    return body


def message_ok(msg, field, schema, described):
    want = "%s must be %s; got %s" % (field, takes(schema), described)
    return want in msg, want


doc = json.loads(http("GET", "/openapi.json")[1])
n_rest = 0
for path, item in sorted(doc["paths"].items()):
    for method, op in item.items():
        if path in ("/mcp", "/messages") or not isinstance(op, dict):
            continue
        schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if schema and schema.get("type") == "object" and "properties" in schema:
            for field, ps in cases(schema):
                for value, described in wrong_values(ps):
                    st, text, _ = http(method.upper(), path.replace("{id}", UUID),
                                       body_with(schema, field, value))
                    msg = json.loads(text).get("error", {}).get("message", "") if text.startswith("{") else text
                    good, want = message_ok(msg, field, ps, described)
                    ok(st == 400 and good, "%s %s %s=%s: 400 '%s'" % (method.upper(), path, field, json.dumps(value), want),
                       "status %s: %s" % (st, text))
                    n_rest += 1
        # the query string of a bodiless route: numbers and booleans as text
        for p in op.get("parameters", []):
            ps = p.get("schema", {})
            if p.get("in") != "query" or ps.get("type") not in ("integer", "number", "boolean"):
                continue
            texts = [("abc", 'a string ("abc")'), ("1e30", "the number 1e+30")]
            if ps.get("type") == "boolean":
                texts = [("yes", 'a string ("yes")')]
            if "minimum" in ps:
                texts.append(("-1", "the number -1"))
            if ps.get("type") == "integer":
                texts.append(("1.5", "the number 1.5"))
            for text_value, described in texts:
                q = "?%s=%s" % (p["name"], urllib.parse.quote(text_value))
                # the file routes have their own query checks (files.c); the
                # others go through the operation's schema
                st, text, _ = http(method.upper(), path.replace("{id}", UUID) + q + "&path=x")
                msg = json.loads(text).get("error", {}).get("message", "") if text.startswith("{") else text
                good = "%s must be" % p["name"] in msg and (
                    ps.get("type") == "boolean" or ("from %s" % fmt_bound(ps.get("minimum", 0)) in msg))
                ok(st == 400 and good and "got" in msg,
                   "%s %s%s: 400 naming %s, its range and what was sent" % (method.upper(), path, q, p["name"]),
                   "status %s: %s" % (st, text))
                n_rest += 1
ok(n_rest >= 80, "REST: %d wrong arguments tried over every route (at least 80)" % n_rest)

# ---- MCP --------------------------------------------------------------
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "arg_types", "version": "1"}}}
st, text, hdr = http("POST", "/mcp", INIT, {"Accept": "application/json, text/event-stream"})
sid = {k.lower(): v for k, v in hdr.items()}.get("mcp-session-id", "")
ok(st == 200 and sid, "MCP initialize", "status %s: %s" % (st, text))
H = {"Mcp-Session-Id": sid, "Accept": "application/json, text/event-stream"}
rid = [10]


def rpc(method, params):
    rid[0] += 1
    st, text, _ = http("POST", "/mcp", {"jsonrpc": "2.0", "id": rid[0], "method": method,
                                        "params": params}, H)
    if text.startswith("event:") or "\ndata:" in text:
        text = [l[5:].strip() for l in text.splitlines() if l.startswith("data:")][-1]
    return json.loads(text)


tools = rpc("tools/list", {})["result"]["tools"]
names = [t["name"] for t in tools]
n_mcp = 0
for tool in tools:
    schema = tool["inputSchema"]
    for field, ps in cases(schema):
        for value, described in wrong_values(ps):
            r = rpc("tools/call", {"name": tool["name"], "arguments": body_with(schema, field, value)})
            res = r.get("result", {})
            msg = " ".join(c.get("text", "") for c in res.get("content", []))
            good, want = message_ok(msg, field, ps, described)
            ok(res.get("isError") is True and good,
               "MCP %s %s=%s: isError '%s'" % (tool["name"], field, json.dumps(value), want), json.dumps(r))
            n_mcp += 1
ok(n_mcp >= 80, "MCP: %d wrong arguments tried over every tool (at least 80)" % n_mcp)

r = rpc("tools/call", {"name": "execute_code", "arguments": 5})
ok(r.get("result", {}).get("isError") is True and "params.arguments must be an object"
   in json.dumps(r), "MCP arguments that are no object: isError saying so", json.dumps(r))
for bad, described in ((5, "the number 5"), (None, "null"), (["execute_code"], "an array")):
    r = rpc("tools/call", {"name": bad, "arguments": {"code": "1"}})
    m = r.get("error", {}).get("message", "")
    ok(r.get("error", {}).get("code") == -32602 and "params.name must be a string" in m
       and all(n in m for n in names) and "got " + described in m and 'unknown tool ""' not in m,
       "MCP tools/call with name %s: -32602 saying params.name must be a string, listing the tools"
       % json.dumps(bad), json.dumps(r))
r = rpc("tools/call", {"arguments": {}})
m = r.get("error", {}).get("message", "")
ok(r.get("error", {}).get("code") == -32602 and "params.name must be a string" in m and "missing" in m,
   "MCP tools/call without a name: -32602 saying it is missing", json.dumps(r))
r = rpc("tools/call", {"name": "no_such_tool"})
m = r.get("error", {}).get("message", "")
ok(r.get("error", {}).get("code") == -32602 and 'unknown tool "no_such_tool"' in m and "execute_code" in m,
   "MCP unknown tool: -32602 naming it and the tools there are", json.dumps(r))
for bad, described in ((5, "the number 5"), (None, "nothing (it is missing)"), (["u"], "an array")):
    r = rpc("resources/read", {} if bad is None else {"uri": bad})
    m = r.get("error", {}).get("message", "")
    ok(r.get("error", {}).get("code") == -32602 and "params.uri must be a string" in m and "got " + described in m,
       "MCP resources/read with uri %s: -32602 saying it must be a string" % json.dumps(bad), json.dumps(r))
for bad, described in ((5, "the number 5"), ("abc", 'a string ("abc")'), ("-3", 'a string ("-3")')):
    r = rpc("resources/list", {"cursor": bad})
    m = r.get("error", {}).get("message", "")
    ok(r.get("error", {}).get("code") == -32602 and "params.cursor must be a string given as nextCursor" in m
       and "got " + described in m,
       "MCP resources/list with cursor %s: -32602, not a silent first page" % json.dumps(bad), json.dumps(r))
print("# arg_types: finished")
