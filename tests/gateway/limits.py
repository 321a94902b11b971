#!/usr/bin/env python3
"""tests/gateway/limits.py: the connection and session limits of pi-gateway.

Run by limits_nodb.sh against a gateway started with
PI_GATEWAY_CONNECTIONS_PER_ADDRESS=PER_ADDRESS, PI_GATEWAY_HEADER_TIMEOUT=
HEADER_S and PI_GATEWAY_MCP_SESSIONS=SESSIONS, listening on 127.0.0.1.  All
of 127.0.0.0/8 is loopback on Linux, so connecting from 127.0.0.2 or
127.0.0.3 (socket.bind) plays a second and third client address.

    limits.py PORT API_KEY PER_ADDRESS HEADER_S SESSIONS

Prints "ok - ..." / "not ok - ..." per check.
"""
import http.client
import json
import socket
import sys
import time

PORT = int(sys.argv[1])
KEY = sys.argv[2]
PER_ADDRESS = int(sys.argv[3])
HEADER_S = int(sys.argv[4])
SESSIONS = int(sys.argv[5])
FLOOD = 520  # the attack of the issue: more than the old global limit, 512


def check(name, ok, detail=""):
    print(("ok - " if ok else "not ok - ") + name + ("" if ok or not detail else ": " + str(detail)))
    sys.stdout.flush()


class BoundConnection(http.client.HTTPConnection):
    """An HTTP connection from a chosen loopback source address."""

    def __init__(self, source, timeout=10):
        super().__init__("127.0.0.1", PORT, timeout=timeout, source_address=(source, 0))


def mcp(body, session=None, source="127.0.0.2"):
    """POST body to /mcp; returns (status, headers, parsed JSON or None)."""
    c = BoundConnection(source)
    h = {"X-API-Key": KEY, "Content-Type": "application/json",
         "Accept": "application/json, text/event-stream"}
    if session:
        h["Mcp-Session-Id"] = session
    c.request("POST", "/mcp", json.dumps(body), h)
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        return r.status, r.headers, json.loads(data)
    except ValueError:
        return r.status, r.headers, None


INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "limits", "version": "1"}}}
LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


def initialize():
    status, headers, _ = mcp(INIT)
    return status, headers.get("Mcp-Session-Id")


def works(session):
    status, _, body = mcp(LIST, session)
    return status == 200 and body is not None and "tools" in body.get("result", {})


def raw_connect(source):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", PORT))
    return s


def closed_by_server(s, wait):
    """Did the server close s (EOF or reset) within wait seconds?"""
    s.settimeout(wait)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


# ---- a flood of idle connections from one address ---------------------------
flood = []
refused_connect = 0
for i in range(FLOOD):
    try:
        flood.append(raw_connect("127.0.0.1"))
    except OSError:
        refused_connect += 1
time.sleep(1)
open_ = [s for s in flood if not closed_by_server(s, 0.01)]
held = len(open_)
check("flood of %d idle connections from one address: at most %d held, the rest "
      "closed at once" % (FLOOD, PER_ADDRESS),
      held <= PER_ADDRESS,
      "held %d, refused at connect %d" % (held, refused_connect))

t0 = time.time()
status, sid = initialize()
check("authenticated MCP initialize from another address during the flood",
      status == 200 and sid and works(sid), status)
check("... answered at once (under 2 s)", time.time() - t0 < 2, time.time() - t0)

still = [s for s in open_ if not closed_by_server(s, HEADER_S + 2)]
check("the flood's held connections are closed by the header deadline (%d s)" % HEADER_S,
      len(still) == 0, "%d still open" % len(still))
for s in flood:
    s.close()
time.sleep(0.5)

c = BoundConnection("127.0.0.1")
c.request("GET", "/openapi.json", headers={"X-API-Key": KEY})
check("the flooding address is served again once its connections are gone",
      c.getresponse().status == 200)
c.close()

# ---- slowloris: headers trickled a byte at a time ---------------------------
s = raw_connect("127.0.0.3")
request = b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 200
t0 = time.time()
closed_after = None
for i in range(len(request)):
    try:
        s.sendall(request[i:i + 1])
    except OSError:
        closed_after = time.time() - t0
        break
    if closed_by_server(s, 0.25):
        closed_after = time.time() - t0
        break
s.close()
check("a connection trickling header bytes is closed after the header deadline",
      closed_after is not None and HEADER_S - 0.5 <= closed_after <= HEADER_S + 2,
      closed_after)

# a kept-alive connection that sends requests in whole is not disturbed
c = BoundConnection("127.0.0.3")
ok = True
for i in range(3):
    c.request("GET", "/openapi.json", headers={"X-API-Key": KEY})
    r = c.getresponse()
    r.read()
    ok = ok and r.status == 200
check("several requests on one kept-alive connection", ok)
c.close()

# ---- the MCP session table -----------------------------------------------------
first = [initialize()[1] for _ in range(SESSIONS)]
check("%d sessions fill the table" % SESSIONS, all(first) and all(works(x) for x in first))
works(first[0])                 # first[0] used last: first[1] is now the LRU
status, newest = initialize()
check("initialize with the table full: the new session works",
      status == 200 and works(newest), status)
status, _, body = mcp(LIST, first[1])
msg = (body or {}).get("error", {}).get("message", "")
check("the least recently used session was evicted: 404 saying why",
      status == 404 and (body or {}).get("error", {}).get("code") == -32001
      and "least recently used" in msg, (status, msg))
check("a recently used session survives", works(first[0]))

bad = 0
ids = []
for i in range(4 * SESSIONS):
    status, sid = initialize()
    if status != 200 or not sid or not works(sid):
        bad += 1
    ids.append(sid)
check("%d more initialize calls: every session handed out works" % (4 * SESSIONS), bad == 0,
      "%d did not" % bad)
status, _, body = mcp(LIST, ids[0])
check("the oldest of them is evicted (404)", status == 404, status)

# every place taken by a legacy SSE stream: no session to give, 503
streams = []
for i in range(SESSIONS):
    c = BoundConnection("127.0.0.2")
    c.request("GET", "/sse", headers={"X-API-Key": KEY, "Accept": "text/event-stream"})
    r = c.getresponse()
    r.readline()                # "event: endpoint"
    endpoint = r.readline().decode()    # "data: /messages?sessionId=..."
    streams.append((c, endpoint.strip().split("sessionId=")[-1]))
status, headers, body = mcp(INIT)
check("every session busy (open SSE streams): initialize gets 503 with Retry-After, no id",
      status == 503 and headers.get("Retry-After") and not headers.get("Mcp-Session-Id")
      and "error" in (body or {}), status)
# the server would notice the streams gone only at a keepalive (15 s or
# more): end one of their sessions as a client does
c = BoundConnection("127.0.0.2")
c.request("DELETE", "/mcp", headers={"X-API-Key": KEY, "Mcp-Session-Id": streams[0][1]})
check("DELETE /mcp ends a legacy SSE session", c.getresponse().status == 200)
c.close()
status, sid = initialize()
check("a session ended: initialize works again", status == 200 and works(sid), status)
for c, _ in streams:
    c.close()
