# tests/executor/protocol_fuzz.py SOCKET EXECUTOR_PID CASES SEED
#
# Malformed exchanges at the executor's socket, as a buggy or hostile
# client of the protocol (include/executor_protocol.h) would send them:
# random bytes, lengths past the payload, truncated headers, JSON that is
# not an object or has members of the wrong type, unknown tags and ops,
# frames out of order, a query answered with garbage, a hang-up halfway
# through a frame, workspaces outside the root, limits of every sign and
# size.  After every 25 cases and at the end a normal run must complete;
# the executor must be the same process, with as many descriptors and
# about as much memory as before.  Prints one line; exit status 0 when
# all of that holds.
import json
import os
import random
import socket
import struct
import sys
import time

SOCK, EXEC_PID, CASES, SEED = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(SEED)


def frame(tag, payload):
    return tag + struct.pack("!I", len(payload)) + payload


def request(**members):
    r = {"op": "run", "kind": "sync", "code": "print(1)", "timeout_ms": 5000, "memory_mb": 512,
         "max_file_size_mb": 10, "max_output_bytes": 1000, "workspace": None}
    r.update(members)
    return json.dumps(r).encode()


ODD_VALUES = [None, True, 1, -1, 2**63, 1e308, "x" * 50, [], {}, [1, "a"], {"a": {"b": []}},
              "\u0000", 0.5, "10", -2**31, 2**64]
MEMBERS = ["op", "kind", "code", "timeout_ms", "memory_mb", "max_file_size_mb", "max_output_bytes",
           "workspace", "session_id", "job_id", "live_output", "owner", "workspace_quota_mb",
           "workspace_max_files"]
QUERY_CODE = ("import pi\ntry:\n    print(pi.query('select 1'))\n"
              "except Exception as e:\n    print(type(e).__name__)")


def hostile_case():
    k = rnd.randrange(13)
    if k == 0:
        return os.urandom(rnd.randint(0, 300))
    if k == 1:      # a length far past what follows
        return b"Q" + struct.pack("!I", rnd.choice([2**31, 2**32 - 1, 10**9, 65536])) + b"{}"
    if k == 2:      # a truncated header
        return b"Q" + os.urandom(rnd.randint(0, 3))
    if k == 3:      # payloads that are not a JSON object
        return frame(b"Q", rnd.choice([b"{", b"[1,2]", b"null", b'"s"', b'{"op":', b"\xff\xfe",
                                       b"{}" * 1000, b"[" * 100000 + b"]" * 100000]))
    if k == 4:      # one member of an odd type or value
        r = json.loads(request())
        r[rnd.choice(MEMBERS)] = rnd.choice(ODD_VALUES)
        return frame(b"Q", json.dumps(r).encode())
    if k == 5:      # unknown tags
        return frame(bytes([rnd.randint(0, 255)]), os.urandom(rnd.randint(0, 40)))
    if k == 6:      # a client frame before the request, or a server's
        return frame(rnd.choice([b"A", b"C", b"R", b"P", b"S", b"O"]), b'{"ok": true, "result": {}}')
    if k == 7:      # two requests on one connection
        return frame(b"Q", request()) + frame(b"Q", request())
    if k == 8:      # ops that are not ours, or ours without their members
        return frame(b"Q", request(op=rnd.choice(["", "x" * 1000, "reset_session", "owner_sessions", "run\u0000"])))
    if k == 9:      # workspaces outside the root
        return frame(b"Q", request(workspace=rnd.choice(["/", "/etc", "relative", "/tmp/../etc", "", "/nonexistent", "/proc/self"])))
    if k == 10:     # answers nobody asked for, while the run goes on
        return (frame(b"Q", request(code="import time; time.sleep(0.2); print(1)"))
                + frame(b"A", os.urandom(30)) + frame(b"A", b'{"ok":true}'))
    if k == 11:     # a query answered with garbage
        return frame(b"Q", request(code=QUERY_CODE)) + frame(b"A", rnd.choice(
            [b"{}", b"[]", b'{"ok":false}', b'{"ok":true,"result":5}', os.urandom(10)]))
    p = request()   # a hang-up halfway through the payload
    return b"Q" + struct.pack("!I", len(p)) + p[:rnd.randint(0, len(p) - 1)]


def exchange(data, wait, half_close=False):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(wait)
    out = b""
    try:
        s.connect(SOCK)
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except OSError:
        pass
    s.close()
    return out


def normal_run_completes():
    out = exchange(frame(b"Q", request()), 30)
    while len(out) >= 5:
        tag, n = out[:1], struct.unpack("!I", out[1:5])[0]
        if tag == b"R":
            return json.loads(out[5:5 + n]).get("status") == "completed"
        out = out[5 + n:]
    return False


def descriptors():
    """Once the pool has refilled: the fewest seen over ~2 s (a kernel
    being spawned or reaped holds a few for a moment)."""
    seen = []
    for _ in range(10):
        time.sleep(0.2)
        seen.append(len(os.listdir("/proc/%d/fd" % EXEC_PID)))
    return min(seen)


def rss_kb():
    for line in open("/proc/%d/status" % EXEC_PID):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


normal_run_completes()          # the pool is warm before the baseline
fds0, rss0 = descriptors(), rss_kb()
failures = []
for i in range(CASES):
    exchange(hostile_case(), rnd.choice([0.05, 0.3]), half_close=rnd.random() < 0.3)
    if i % 25 == 24 and not normal_run_completes():
        failures.append("a normal run after case %d did not complete" % i)
ok_after = normal_run_completes()
try:
    os.kill(EXEC_PID, 0)
    fds1, rss1 = descriptors(), rss_kb()
except OSError:
    print("the executor is gone after the fuzzing")
    sys.exit(1)
if not ok_after:
    failures.append("the last normal run did not complete")
if fds1 > fds0 + 2:
    failures.append("descriptors grew from %d to %d" % (fds0, fds1))
if rss1 > rss0 + 16384:
    failures.append("the loop's memory grew from %d to %d kB" % (rss0, rss1))
print("%d hostile exchanges (seed %d): descriptors %d -> %d, loop RSS %d -> %d kB; %s"
      % (CASES, SEED, fds0, fds1, rss0, rss1, "; ".join(failures) or "a normal run completes"))
sys.exit(1 if failures else 0)
