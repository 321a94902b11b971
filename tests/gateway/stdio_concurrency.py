#!/usr/bin/env python3
"""tests/gateway/stdio_concurrency.py: pi-gateway --stdio keeps answering
while a long cell runs, and notifications/cancelled stops that cell.

    stdio_concurrency.py GATEWAY      (DATABASE_URL in the environment)

Sends a cell that sleeps for 120 s, then a ping: the ping must be answered
while the cell still runs (its answer comes first).  Then cancels the cell
and runs another in the same session, which must complete (the session is
free again); then closes stdin, and the gateway must exit without waiting
for the cancelled cell's sleep.  Prints ok/not ok lines and "# stdio: finished".
"""
import json
import subprocess
import sys
import threading
import queue

gw = sys.argv[1]
p = subprocess.Popen([gw, "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
answers = queue.Queue()


def reader():
    for line in p.stdout:
        try:
            answers.put(json.loads(line))
        except ValueError:
            answers.put({"unparsable": line})
    answers.put(None)


threading.Thread(target=reader, daemon=True).start()
failures = 0


def send(msg):
    p.stdin.write(json.dumps(msg) + "\n")
    p.stdin.flush()


def wait_for(req_id, limit=90):
    """Answers up to the one with this id (the others seen on the way)."""
    seen = []
    while True:
        try:
            m = answers.get(timeout=limit)
        except queue.Empty:
            return None, seen
        if m is None:
            return None, seen
        if m.get("id") == req_id:
            return m, seen
        seen.append(m)


def check(name, cond, why=""):
    global failures
    if cond:
        print(f"ok - {name}")
    else:
        failures += 1
        print(f"not ok - {name}: {why}"[:600])


send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
      "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                 "clientInfo": {"name": "stdio-check", "version": "1"}}})
m, _ = wait_for(1)
check("stdio: initialize", m is not None and "result" in m, m)
send({"jsonrpc": "2.0", "method": "notifications/initialized"})
send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
      "params": {"name": "execute_code",
                 "arguments": {"code": "import time\ntime.sleep(120)\nprint('slept')"}}})
send({"jsonrpc": "2.0", "id": 3, "method": "ping"})
m, seen = wait_for(3)
check("stdio: a ping is answered while a long cell runs",
      m is not None and "result" in m and not any(x.get("id") == 2 for x in seen),
      f"ping answer {m}, before it {seen}")
send({"jsonrpc": "2.0", "method": "notifications/cancelled",
      "params": {"requestId": 2, "reason": "the user stopped it"}})
send({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
      "params": {"name": "execute_code", "arguments": {"code": "print(6 * 7)"}}})
m, seen = wait_for(4)
text = json.dumps(m)
check("stdio: after notifications/cancelled the next cell runs in the same session",
      m is not None and "42" in text and not m.get("result", {}).get("isError"), text)
p.stdin.close()
try:
    rc = p.wait(timeout=60)
    check("stdio: end of input ends the gateway without waiting for the cancelled cell",
          rc == 0, f"exit status {rc}")
except subprocess.TimeoutExpired:
    p.kill()
    check("stdio: end of input ends the gateway without waiting for the cancelled cell",
          False, "still running 60 s after stdin closed")
print(f"# stdio: {failures} failures")
print("# stdio: finished")
sys.exit(1 if failures else 0)
