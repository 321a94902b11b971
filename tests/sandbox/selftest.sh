#!/bin/bash
# tests/sandbox/selftest.sh
#	Escape probes against the sandbox library alone (no PostgreSQL, no
#	executor): each probe runs /usr/bin/python3 -c inside jail-selftest,
#	which makes the zygote's calls from jail/jail.h, and asserts the
#	specific containment (the errno, the signal, the cgroup OOM kill), not
#	just "it failed".  The suite through pi.execute lives beside this one;
#	this one pins down the kernel mechanisms.
#
#	usage: tests/sandbox/selftest.sh [--as USER]
#		--as postgres	re-run as that user (root only), as in production
#	Build first: make -f jail/jail.mk tests/sandbox/jail-selftest
#	(tests/sandbox/run.sh, part of make test, builds and runs it)
#	For the cgroup probes: scripts/cgroup-setup.sh (as root) first; without
#	a delegated memory cgroup they are reported as failures, not skipped.
set -u

here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = --as ]; then
	exec runuser -u "$2" -- bash "$here/selftest.sh"
fi

SELFTEST=${SELFTEST:-$here/jail-selftest}
PY=/usr/bin/python3
if [ ! -x "$SELFTEST" ]; then
	echo "selftest: $SELFTEST not built (make -f jail/jail.mk jail-selftest)" >&2
	exit 2
fi

cd /tmp
WS=$(mktemp -d /tmp/pi-sandbox-ws-XXXXXX)
OUT=$(mktemp /tmp/pi-sandbox-out-XXXXXX)
ERR=$(mktemp /tmp/pi-sandbox-err-XXXXXX)
HOST_CANARY=/tmp/pi-sandbox-host-canary-$$
echo "host secret" > "$HOST_CANARY"
export API_KEY=selftest-secret-canary-$$	# must not be visible inside
cleanup() {
	rm -rf "$WS" "$OUT" "$ERR" "$HOST_CANARY"
	[ -n "${listener:-}" ] && kill "$listener" 2>/dev/null
}
trap cleanup EXIT

passed=0
failed=0
skipped=0

# Helpers every probe can use: t() reports "OK value" or "ERR ENAME";
# sc() makes a raw system call through ctypes (bytes become pointers).
PRELUDE='
import os, sys, errno, ctypes, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def t(f):
    try:
        return "OK %s" % (f(),)
    except OSError as e:
        return "ERR " + errno.errorcode.get(e.errno, str(e.errno))
def sc(nr, *args):
    a = [ctypes.c_char_p(x) if isinstance(x, bytes) else ctypes.c_long(x) for x in args]
    r = libc.syscall(ctypes.c_long(nr), *a)
    return "OK" if r >= 0 else "ERR " + errno.errorcode.get(ctypes.get_errno(), "?")
'

# probe NAME EXPECT_REGEX PYTHON_CODE [jail-selftest options]
#	The matched text is the probe's stdout, then "RC=<exit status>", then
#	jail-selftest's stderr (so "oom_kill" can be matched).
probe() {
	local name=$1 expect=$2 code=$3
	shift 3
	"$SELFTEST" --workspace "$WS" "$@" -- "$PY" -c "$PRELUDE
$code" >"$OUT" 2>"$ERR"
	local rc=$?
	local result
	result="$(cat "$OUT")
RC=$rc
$(grep -v '^pi-executor: ' "$ERR")"
	if grep -Eq -- "$expect" <<<"$result"; then
		passed=$((passed + 1))
		printf 'ok      %s\n' "$name"
	else
		failed=$((failed + 1))
		printf 'FAILED  %s\n        expected /%s/, got:\n' "$name" "$expect"
		sed 's/^/        | /' <<<"$result" | head -15
	fi
}

# check NAME COMMAND...: a host-side assertion after a probe
check() {
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then
		passed=$((passed + 1))
		printf 'ok      %s\n' "$name"
	else
		failed=$((failed + 1))
		printf 'FAILED  %s (host-side check: %s)\n' "$name" "$*"
	fi
}

echo "# sandbox self-test as $(id -un) (uid $(id -u))"

# --- identity and privileges ---------------------------------------------
# supplementary groups: only the own gid or the overflow gid (host groups
# that are not mapped, see jail/userns.c)
probe "runs as the unprivileged inside uid/gid 1000" '^1000 1000 \[\]$' \
	'print(os.getuid(), os.getgid(), [g for g in os.getgroups() if g not in (1000, 65534)])'
probe "no capabilities, no_new_privs, seccomp filter" \
	'^CapInh=0+ CapPrm=0+ CapEff=0+ CapBnd=0+ CapAmb=0+ NoNewPrivs=1 Seccomp=2$' \
	'st = dict(l.split(":\t") for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
print(" ".join("%s=%s" % (k, st[k].strip()) for k in ("CapInh","CapPrm","CapEff","CapBnd","CapAmb","NoNewPrivs","Seccomp")))'
# EINVAL, not EPERM: uid 0 does not even exist in the run's user namespace
probe "setuid(0) impossible (uid 0 unmapped)" '^ERR EINVAL$' 'print(t(lambda: os.setuid(0)))'
probe "hostname is sandbox, sethostname refused" '^sandbox ERR EPERM$' \
	'print(socket.gethostname(), sc(170, b"evil", 4))'

# --- file system view -----------------------------------------------------
probe "root holds only the minimal tree" '^bin dev etc lib lib32 lib64 proc sbin tmp usr workspace$' \
	'print(" ".join(sorted(os.listdir("/"))))'
probe "/dev holds only the safe devices" '^fd full null random shm stderr stdin stdout urandom zero$' \
	'print(" ".join(sorted(os.listdir("/dev"))))'
probe "cwd is /workspace" '^/workspace$' 'print(os.getcwd())'
probe "/etc/shadow absent" '^ERR ENOENT$' 'print(t(lambda: open("/etc/shadow").read()))'
probe "/root absent" '^ERR ENOENT$' 'print(t(lambda: os.listdir("/root")))'
probe "/home absent" '^ERR ENOENT$' 'print(t(lambda: os.listdir("/home")))'
probe "/var/lib/postgresql (data directory) absent" '^ERR ENOENT$' \
	'print(t(lambda: os.listdir("/var/lib/postgresql")))'
probe "PostgreSQL Unix socket absent" '^ERR ENOENT ERR ENOENT$' \
	's = socket.socket(socket.AF_UNIX)
print(t(lambda: s.connect("/var/run/postgresql/.s.PGSQL.5432")), t(lambda: os.listdir("/run")))'
probe "/sys absent" '^ERR ENOENT$' 'print(t(lambda: os.listdir("/sys")))'
probe "/etc/passwd is the generated one" '^sandbox:x:1000:1000:sandbox:/workspace:' \
	'print([l for l in open("/etc/passwd") if l.startswith("sandbox")][0])'
probe "host /tmp not visible" '^ERR ENOENT$' "print(t(lambda: open('$HOST_CANARY').read()))"
probe "write /usr refused (read-only)" '^ERR EROFS$' 'print(t(lambda: open("/usr/pwned", "w")))'
probe "write /etc refused (read-only)" '^ERR EROFS$' 'print(t(lambda: open("/etc/pwned", "w")))'
probe "write / refused (read-only)" '^ERR EROFS$' 'print(t(lambda: os.mkdir("/pwned")))'
probe "overwrite /proc/self/exe refused" '^ERR (EROFS|ETXTBSY|EACCES)$' \
	'print(t(lambda: open("/proc/self/exe", "r+b")))'
probe "/proc/sys and sysrq-trigger read-only" '^ERR EROFS ERR (EROFS|ENOENT)$' \
	'print(t(lambda: open("/proc/sys/kernel/core_pattern", "w")), t(lambda: open("/proc/sysrq-trigger", "w")))'
probe "mknod of a device refused" '^ERR EPERM$' \
	'import stat
print(t(lambda: os.mknod("/workspace/mem", stat.S_IFCHR | 0o666, os.makedev(1, 1))))'
probe "/usr is nosuid (setuid binaries inert)" '^NOSUID$' \
	'print("NOSUID" if os.statvfs("/usr").f_flag & os.ST_NOSUID else "SUID")'
probe "private /tmp is writable, capped" '^OK .*ERR ENOSPC$' \
	'print(t(lambda: open("/tmp/x", "w").write("x")), t(lambda: open("/tmp/big", "wb").write(b"x" * (32 << 20))))' \
	--tmp-mb 8
probe "/dev/shm is capped" '^ERR ENOSPC$' \
	'print(t(lambda: open("/dev/shm/big", "wb").write(b"x" * (64 << 20))))'
ln -sf /etc/shadow "$WS/shadow-link"
probe "symlink planted in the workspace resolves inside the sandbox" '^ERR ENOENT$' \
	'print(t(lambda: open("/workspace/shadow-link").read()))'
rm -f "$WS/shadow-link"
probe "workspace is writable" '^OK 5$' 'print(t(lambda: open("/workspace/hello.txt", "w").write("hello")))'
check "workspace file lands on the host, owned by $(id -un)" \
	test -O "$WS/hello.txt"

# --- processes ------------------------------------------------------------
probe "own PID namespace: only PID 1 in /proc" '^PIDS 1$' \
	'print("PIDS", " ".join(sorted(p for p in os.listdir("/proc") if p.isdigit())))'
probe "host process environment unreachable" '^ERR ENOENT$' \
	"print(t(lambda: open('/proc/$$/environ').read()))"
probe "fixed environment, no API key" '^HOME=/workspace KEY=none$' \
	'print("HOME=%s KEY=%s" % (os.environ.get("HOME"), os.environ.get("API_KEY", "none")))'
probe "kill -9 -1 reaches only the run" '^alive$' \
	'import signal, time
pid = os.fork()
if pid == 0:
    time.sleep(30); os._exit(0)
os.kill(-1, signal.SIGKILL); os.waitpid(pid, 0); print("alive")'
probe "ptrace of a sibling refused" '^ERR EPERM$' \
	'import signal
pid = os.fork()
if pid == 0:
    import time; time.sleep(30); os._exit(0)
print(sc(101, 16, pid, 0, 0)); os.kill(pid, signal.SIGKILL)'
probe "process_vm_readv refused" '^ERR EPERM$' 'print(sc(310, 1, 0, 0, 0, 0, 0))'
probe "double-forked daemon dies with the run" '^spawned$' \
	"import subprocess
subprocess.Popen(['/bin/sh', '-c', '(/bin/sleep 311$$ &) ; exit 0']).wait(); print('spawned')"
sleep 0.2
check "no daemon survives the run" bash -c "! pgrep -f '[s]leep 311$$'"
FORK_BOMB='import time
n = 0
try:
    for i in range(1000):
        if os.fork() == 0:
            time.sleep(60); os._exit(0)
        n += 1
    print("FORKS", n, "no limit")
except OSError as e:
    print("FORKS", n, "ERR", errno.errorcode[e.errno])'
probe "fork bomb stopped by pids.max" '^FORKS [0-9]+ ERR EAGAIN$' "$FORK_BOMB" --pids 32
probe "thread bomb stopped by pids.max" '^THREADS [0-9]+ stopped$' \
	'import threading, time
n = 0
try:
    for i in range(1000):
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start(); n += 1
    print("THREADS", n, "no limit")
except RuntimeError:
    print("THREADS", n, "stopped")
os._exit(0)' --pids 32
if [ "$(id -u)" = 0 ]; then
	# the kernel exempts host uid 0 from RLIMIT_NPROC (INIT_USER)
	echo "skip    fork bomb stopped by RLIMIT_NPROC without cgroup (root is exempt; run with --as postgres)"
	skipped=$((skipped + 1))
else
probe "fork bomb stopped by RLIMIT_NPROC without cgroup" '^FORKS [0-9]+ ERR EAGAIN$' "$FORK_BOMB" --no-cgroup --nproc 32
fi

# --- memory ---------------------------------------------------------------
probe "bytearray memory bomb killed by the memory cgroup" 'oom_kill' \
	'b = bytearray(1 << 30); print("survived")' --memory-mb 200
probe "numpy memory bomb killed by the memory cgroup" 'oom_kill' \
	'import numpy as np; a = np.ones(1 << 28); print("survived")' --memory-mb 200
probe "tmpfs memory bomb contained by the memory cgroup" 'oom_kill|ERR ENOMEM' \
	'f = open("/tmp/fill", "wb")
print(t(lambda: [f.write(b"x" * (1 << 20)) for i in range(600)]))' --memory-mb 200 --tmp-mb 2048

# --- system calls refused by seccomp ---------------------------------------
probe "mount refused" '^ERR EPERM$' 'print(sc(165, b"none", b"/tmp", b"tmpfs", 0, 0))'
probe "umount2 refused" '^ERR EPERM$' 'print(sc(166, b"/proc", 2))'
probe "chroot refused" '^ERR EPERM$' 'print(sc(161, b"/tmp"))'
probe "pivot_root refused" '^ERR EPERM$' 'print(sc(155, b"/tmp", b"/tmp"))'
probe "open_tree/fsopen refused" '^ERR EPERM ERR EPERM$' 'print(sc(428, -100, b"/", 0), sc(430, b"tmpfs", 0))'
probe "unshare(CLONE_NEWUSER) refused" '^ERR EPERM$' 'print(sc(272, 0x10000000))'
probe "setns refused" '^ERR EPERM$' 'print(sc(308, 0, 0))'
probe "clone(CLONE_NEWUSER) refused" '^ERR EPERM$' 'print(sc(56, 0x10000000 | 17, 0, 0, 0, 0))'
probe "clone3 reports ENOSYS (glibc falls back to clone)" '^ERR ENOSYS$' 'print(sc(435, 0, 0))'
probe "subprocess still works (clone fallback)" '^hi$' \
	'import subprocess; print(subprocess.run(["/bin/echo", "hi"], capture_output=True, text=True).stdout.strip())'
probe "bpf refused" '^ERR EPERM$' 'print(sc(321, 0, 0, 0))'
probe "perf_event_open refused" '^ERR EPERM$' 'print(sc(298, 0, 0, -1, -1, 0))'
probe "userfaultfd refused" '^ERR EPERM$' 'print(sc(323, 0))'
probe "io_uring_setup reports ENOSYS" '^ERR ENOSYS$' 'print(sc(425, 8, 0))'
probe "keyctl/add_key refused" '^ERR EPERM ERR EPERM$' 'print(sc(250, 0, 0), sc(248, b"user", b"x", 0, 0, 0))'
probe "kexec_load/init_module refused" '^ERR EPERM ERR EPERM$' 'print(sc(246, 0, 0, 0, 0), sc(175, 0, 0, b""))'
probe "open_by_handle_at refused" '^ERR EPERM$' 'print(sc(304, -100, 0, 0))'
probe "personality(ADDR_NO_RANDOMIZE) refused, PER_LINUX allowed" '^ERR EPERM OK$' \
	'print(sc(135, 0x0040000), sc(135, 0))'
probe "TIOCSTI refused, also with garbage in the upper half" '^ERR EPERM ERR EPERM$' \
	'print(sc(16, 0, 0x5412, b"x"), sc(16, 0, 0x100005412, b"x"))'
probe "i386 int 0x80 system call kills the process" 'RC=159' \
	'import mmap
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(b"\xb8\x14\x00\x00\x00\xcd\x80\xc3")  # mov eax, 20 (getpid); int 0x80; ret
f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))
print("survived", f())'
probe "x32 system call kills the process" 'RC=159' 'print("survived", sc(0x40000000 + 39))'

# --- network --------------------------------------------------------------
probe "AF_NETLINK refused (family)" '^ERR EAFNOSUPPORT$' 'print(t(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 0)))'
probe "AF_NETLINK raw refused (type)" '^ERR EPERM$' 'print(t(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)))'
probe "AF_PACKET refused" '^ERR EAFNOSUPPORT$' 'print(t(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)))'
probe "AF_VSOCK/AF_ALG refused" '^ERR EAFNOSUPPORT ERR EAFNOSUPPORT$' \
	'print(sc(41, 40, 1, 0), sc(41, 38, 5, 0))'
probe "family with upper-half garbage refused" '^ERR EAFNOSUPPORT$' 'print(sc(41, 0x100000010, 2, 0))'
probe "raw IPv4/IPv6 sockets refused" '^ERR EPERM ERR EPERM$' \
	'print(t(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)), t(lambda: socket.socket(socket.AF_INET6, socket.SOCK_RAW | socket.SOCK_NONBLOCK, 58)))'
probe "only the loopback interface exists" '^IFACES lo$' \
	'print("IFACES", " ".join(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]))'
probe "TCP to 127.0.0.1:5432 finds nothing" '^ERR ECONNREFUSED$' \
	'print(t(lambda: socket.create_connection(("127.0.0.1", 5432), timeout=2)))'
probe "TCP to the outside is unreachable" '^ERR ENETUNREACH$' \
	'print(t(lambda: socket.create_connection(("8.8.8.8", 53), timeout=2)))'
probe "UDP/DNS to the outside is unreachable" '^ERR ENETUNREACH$' \
	'print(t(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("8.8.8.8", 53))))'
probe "loopback is up inside" '^OK' \
	's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(t(lambda: socket.create_connection(s.getsockname(), timeout=2)))'
abstract="pi-selftest-abstract-$$"
"$PY" -c "import socket, time
s = socket.socket(socket.AF_UNIX); s.bind('\0$abstract'); s.listen(1); time.sleep(60)" &
listener=$!
# wait until the name is bound (not a guessed delay)
for _ in $(seq 1 100); do
	grep -q "@$abstract\$" /proc/net/unix && break
	sleep 0.1
done
check "host abstract socket reachable from the host (probe sanity)" \
	"$PY" -c "import socket; socket.socket(socket.AF_UNIX).connect('\0$abstract')"
probe "host abstract Unix socket unreachable" '^ERR ECONNREFUSED$' \
	"print(t(lambda: socket.socket(socket.AF_UNIX).connect('\0$abstract')))"
probe "network configuration refused" '^ERR EPERM$' \
	'import fcntl
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print(t(lambda: fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", 0))))'

# --- descriptors ------------------------------------------------------------
probe "no leaked descriptors" '^FDS 0 1 2 3$' \
	'print("FDS", " ".join(sorted(os.listdir("/proc/self/fd"), key=int)))'

# --- the data stack works inside ----------------------------------------------
probe "numpy, pandas, matplotlib import and savefig works" '^PLOT [0-9]{4,}$' \
	'import numpy as np, pandas as pd, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
df = pd.DataFrame({"x": np.arange(10), "y": np.arange(10) ** 2})
df.plot(x="x", y="y"); plt.savefig("/workspace/plot.png")
print("PLOT", os.path.getsize("/workspace/plot.png"))' --memory-mb 1024
check "plot written to the host workspace" test -s "$WS/plot.png"

[ "$skipped" = 0 ] || echo "# $skipped probe(s) skipped, reason printed above"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
