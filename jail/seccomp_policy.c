/*-------------------------------------------------------------------------
 *
 * seccomp_policy.c
 *	  The seccomp-bpf policy of a run: what it is, why each rule exists,
 *	  how it is compiled once in the zygote and loaded in every child.
 *
 * Shape of the policy: default ALLOW with targeted denials.  CPython with
 * numpy, pandas and matplotlib touches well over a hundred system calls
 * (threads, mmap variants, futexes, epoll, getrandom, statx, ...) and the
 * set changes with library versions; an allow-list would break user code
 * in ways that look like library bugs.  The namespaces, the read-only
 * root and the dropped capabilities already confine what ordinary calls
 * can reach, so the filter's job is to shut the kernel interfaces that
 * are dangerous in themselves (large attack surface, or a way out of the
 * namespaces).  docs/sandbox.md has the same list with reasons.
 *
 * Denials return an errno, never kill: code that probes for a feature
 * (io_uring, userfaultfd, perf) must fall back cleanly, and a Python
 * exception with EPERM is a clearer result for the user than a dead
 * process.  Exceptions:
 *	- system calls of a foreign architecture (i386 int 0x80, x32) kill the
 *	  process: the policy only describes x86_64 numbers, so a foreign ABI
 *	  would see a different, unfiltered table;
 *	- io_uring_*, clone3 and openat2 return ENOSYS, which libraries and
 *	  glibc read as "kernel too old" and fall back (glibc falls back from
 *	  clone3 to clone, whose flags a classic filter can inspect; clone3 and
 *	  openat2 pass their flags in memory, which seccomp cannot read).
 *
 * Why compile once: building the filter with libseccomp costs ~2.3 ms per
 * run, and doing it after Py_Initialize leaves freed chunks that cost
 * every later child ~1.5 ms (docs/architecture.md).  So jail_prepare() compiles it
 * before Python starts, exports the BPF program through a memfd and keeps
 * the raw instructions; a child only makes one seccomp() call.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <seccomp.h>

#include "jail_int.h"

/* System calls refused outright, with the reason. */
typedef struct DeniedSyscall
{
	const char *name;
	int			errnum;
	const char *why;			/* documentation; docs/sandbox.md repeats it */
} DeniedSyscall;

static const DeniedSyscall denied_syscalls[] = {
	/* looking into or steering other processes */
	{"ptrace", EPERM, "inspect/modify another process"},
	{"process_vm_readv", EPERM, "read another process's memory"},
	{"process_vm_writev", EPERM, "write another process's memory"},
	{"process_madvise", EPERM, "act on another process's memory"},
	{"pidfd_getfd", EPERM, "steal another process's descriptors"},
	{"kcmp", EPERM, "compare kernel objects of other processes (address leaks)"},

	/* changing the file system view: the root built by mountns.c is final */
	{"mount", EPERM, "file system view is fixed"},
	{"umount2", EPERM, "file system view is fixed (unmounting could reveal what a mount hides)"},
	{"pivot_root", EPERM, "file system view is fixed"},
	{"chroot", EPERM, "file system view is fixed"},
	{"move_mount", EPERM, "new mount API"},
	{"open_tree", EPERM, "new mount API (can clone mounts)"},
	{"fsopen", EPERM, "new mount API"},
	{"fsmount", EPERM, "new mount API"},
	{"fsconfig", EPERM, "new mount API"},
	{"fspick", EPERM, "new mount API"},
	{"mount_setattr", EPERM, "new mount API"},
	{"open_by_handle_at", EPERM, "opens files by handle, bypassing the mount tree (shocker)"},
	{"name_to_handle_at", EPERM, "companion of open_by_handle_at"},
	{"openat2", ENOSYS, "flags in memory, so O_TMPFILE cannot be seen; callers fall back to openat"},

	/* namespaces: a nested user namespace regains every capability in it */
	{"unshare", EPERM, "new namespaces are a large kernel attack surface"},
	{"setns", EPERM, "joining other namespaces"},

	/* kernel attack surface that the data stack does not use */
	{"bpf", EPERM, "eBPF verifier/JIT attack surface"},
	{"perf_event_open", EPERM, "perf attack surface, side channels"},
	{"userfaultfd", EPERM, "makes kernel races easy to win"},
	{"io_uring_setup", ENOSYS, "io_uring attack surface; ENOSYS so libraries fall back"},
	{"io_uring_enter", ENOSYS, "io_uring"},
	{"io_uring_register", ENOSYS, "io_uring"},
	{"keyctl", EPERM, "kernel keyrings are not namespaced"},
	{"add_key", EPERM, "kernel keyrings are not namespaced"},
	{"request_key", EPERM, "kernel keyrings are not namespaced"},
	{"fanotify_init", EPERM, "file system wide monitoring"},
	{"lookup_dcookie", EPERM, "profiling interface"},
	{"vhangup", EPERM, "terminal hangup"},

	/* machine administration: capabilities are gone, refuse before the kernel looks */
	{"kexec_load", EPERM, "replace the kernel"},
	{"kexec_file_load", EPERM, "replace the kernel"},
	{"init_module", EPERM, "load kernel code"},
	{"finit_module", EPERM, "load kernel code"},
	{"delete_module", EPERM, "unload kernel code"},
	{"reboot", EPERM, "machine state"},
	{"swapon", EPERM, "machine state"},
	{"swapoff", EPERM, "machine state"},
	{"acct", EPERM, "machine state"},
	{"syslog", EPERM, "kernel log leaks addresses"},
	{"quotactl", EPERM, "file system administration"},
	{"quotactl_fd", EPERM, "file system administration"},
	{"iopl", EPERM, "raw port I/O"},
	{"ioperm", EPERM, "raw port I/O"},
	{"settimeofday", EPERM, "system clock"},
	{"clock_settime", EPERM, "system clock"},
	{"clock_adjtime", EPERM, "system clock"},
	{"adjtimex", EPERM, "system clock"},
	{"sethostname", EPERM, "UTS is fixed"},
	{"setdomainname", EPERM, "UTS is fixed"},
	{"uselib", ENOSYS, "obsolete loader interface"},
	{"nfsservctl", ENOSYS, "obsolete"},
};

/*
 * Namespace flags refused in clone().  CLONE_NEWTIME (0x80) is left out: in
 * clone() that bit belongs to the exit signal field, and clone() ignores
 * it as a namespace flag.
 */
static const unsigned long denied_clone_flags[] = {
	CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET,
	CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP,
};

/*
 * Address families refused in socket()/socketpair(): everything but
 * AF_UNIX, AF_INET and AF_INET6 (AF_NETLINK, AF_PACKET, AF_KEY, AF_VSOCK,
 * AF_BLUETOOTH, AF_ALG, ...: rarely needed, frequent sources of kernel
 * bugs).  Expressed as "== each value in 0..9 other than 1 and 2" plus
 * "> AF_INET6"; the comparison is on the full 64-bit register, so garbage
 * in the upper half lands in the "> AF_INET6" rule and is refused too.
 */
static const int denied_low_families[] = {
	AF_UNSPEC, 3, 4, 5, 6, 7, 8, 9,
};

/*
 * The kernel's __O_TMPFILE bit (include/uapi/asm-generic/fcntl.h; glibc's
 * own __O_TMPFILE also holds O_DIRECTORY).  An O_TMPFILE file has no name
 * until linkat() gives it one, so the workspace quota's walk
 * (executor/quota.c) never sees it: it could fill the disk unseen.
 */
#define KERNEL_O_TMPFILE_BIT	020000000

#if defined(O_TMPFILE) && (O_TMPFILE & KERNEL_O_TMPFILE_BIT) == 0
#error "O_TMPFILE does not hold the bit the seccomp rule for it looks at"
#endif

static int
add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
		 unsigned int ncmp, const struct scmp_arg_cmp *cmp,
		 char *err, size_t errlen)
{
	int			nr = seccomp_syscall_resolve_name(name);
	int			rc;

	if (nr == __NR_SCMP_ERROR)
		return jail_error(err, errlen, 0,
						  "seccomp: libseccomp does not know system call \"%s\"",
						  name);
	rc = seccomp_rule_add_array(ctx, action, nr, ncmp, cmp);
	if (rc < 0)
		return jail_error(err, errlen, -rc,
						  "seccomp: add rule for \"%s\"", name);
	return 0;
}

static int
add_socket_rules(scmp_filter_ctx ctx, const char *call, char *err, size_t errlen)
{
	struct scmp_arg_cmp cmp;
	size_t		i;

	for (i = 0; i < sizeof(denied_low_families) / sizeof(denied_low_families[0]); i++)
	{
		cmp = SCMP_A0_64(SCMP_CMP_EQ, (scmp_datum_t) denied_low_families[i]);
		if (add_rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), call, 1, &cmp, err, errlen) < 0)
			return -1;
	}
	cmp = SCMP_A0_64(SCMP_CMP_GT, (scmp_datum_t) AF_INET6);
	if (add_rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), call, 1, &cmp, err, errlen) < 0)
		return -1;

	/*
	 * Raw and packet sockets: inside its own network namespace the run
	 * holds CAP_NET_RAW until privileges_drop(), and raw sockets are a
	 * classic kernel attack surface.  The type argument carries
	 * SOCK_NONBLOCK/SOCK_CLOEXEC in its upper bits, hence the mask
	 * (SOCK_TYPE_MASK is 0xf in the kernel).
	 */
	cmp = SCMP_A1_64(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW);
	if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), call, 1, &cmp, err, errlen) < 0)
		return -1;
	cmp = SCMP_A1_64(SCMP_CMP_MASKED_EQ, 0xf, SOCK_PACKET);
	if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), call, 1, &cmp, err, errlen) < 0)
		return -1;
	return 0;
}

static int
build_policy(scmp_filter_ctx ctx, char *err, size_t errlen)
{
	struct scmp_arg_cmp cmp[1];
	size_t		i;

	for (i = 0; i < sizeof(denied_syscalls) / sizeof(denied_syscalls[0]); i++)
	{
		if (add_rule(ctx, SCMP_ACT_ERRNO(denied_syscalls[i].errnum),
					 denied_syscalls[i].name, 0, NULL, err, errlen) < 0)
			return -1;
	}

	if (add_socket_rules(ctx, "socket", err, errlen) < 0 ||
		add_socket_rules(ctx, "socketpair", err, errlen) < 0)
		return -1;

	/* clone() with a namespace flag; clone3() cannot be inspected */
	for (i = 0; i < sizeof(denied_clone_flags) / sizeof(denied_clone_flags[0]); i++)
	{
		cmp[0] = SCMP_A0_64(SCMP_CMP_MASKED_EQ, denied_clone_flags[i],
							denied_clone_flags[i]);
		if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, cmp, err, errlen) < 0)
			return -1;
	}
	if (add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err, errlen) < 0)
		return -1;

	/*
	 * O_TMPFILE in open()/openat(): EOPNOTSUPP, what a file system without
	 * it answers, on which Python's tempfile and glibc's tmpfile() fall back
	 * to a named file.  Only the bit is looked at (the kernel refuses it
	 * without O_DIRECTORY anyway), so no other flag can hide it; flags is
	 * an int and the bit lies in its low half.  openat2 is refused above.
	 */
	cmp[0] = SCMP_A1_64(SCMP_CMP_MASKED_EQ, KERNEL_O_TMPFILE_BIT, KERNEL_O_TMPFILE_BIT);
	if (add_rule(ctx, SCMP_ACT_ERRNO(EOPNOTSUPP), "open", 1, cmp, err, errlen) < 0)
		return -1;
	cmp[0] = SCMP_A2_64(SCMP_CMP_MASKED_EQ, KERNEL_O_TMPFILE_BIT, KERNEL_O_TMPFILE_BIT);
	if (add_rule(ctx, SCMP_ACT_ERRNO(EOPNOTSUPP), "openat", 1, cmp, err, errlen) < 0)
		return -1;

	/*
	 * ioctl TIOCSTI pushes characters into a terminal's input queue (the
	 * classic sandbox escape through a shared tty); TIOCLINUX can do the
	 * same on a virtual console.  The command is an unsigned int but the
	 * register is 64 bits: compare only the low half, or a caller could
	 * set bit 32 and slip past an exact comparison.
	 */
	cmp[0] = SCMP_A1_64(SCMP_CMP_MASKED_EQ, 0xffffffffUL, TIOCSTI);
	if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, cmp, err, errlen) < 0)
		return -1;
	cmp[0] = SCMP_A1_64(SCMP_CMP_MASKED_EQ, 0xffffffffUL, TIOCLINUX);
	if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, cmp, err, errlen) < 0)
		return -1;

	/*
	 * personality(): refuse every value above PER_LINUX32|UNAME26
	 * (0x20008).  All flags that weaken exploit mitigations for the code
	 * that runs next (ADDR_NO_RANDOMIZE 0x40000, MMAP_PAGE_ZERO,
	 * READ_IMPLIES_EXEC, ADDR_LIMIT_*) lie above it.  libseccomp 2.5
	 * cannot AND two comparisons of one argument, so the 0xffffffff query
	 * that Docker also allows is refused as well; nothing in the data
	 * stack issues it.  Compared on 64 bits: garbage in the upper half
	 * is above the bound too.
	 */
	cmp[0] = SCMP_A0_64(SCMP_CMP_GT, 0x20008);
	if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "personality", 1, cmp, err, errlen) < 0)
		return -1;

	/*
	 * prctl(PR_SET_DUMPABLE): the executor reads a run's open files and
	 * mappings through /proc to count deleted files it still holds against
	 * the workspace quota (executor/held.c), which needs the run to stay
	 * dumpable (privileges.c).  A run that made itself non-dumpable would
	 * only be stopped (the executor fails closed); refusing the call says
	 * why at once.  The option is an int: compare the low half only.
	 */
	cmp[0] = SCMP_A0_64(SCMP_CMP_MASKED_EQ, 0xffffffffUL, PR_SET_DUMPABLE);
	if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "prctl", 1, cmp, err, errlen) < 0)
		return -1;

	return 0;
}

/*
 * Read the compiled program back from a memfd: libseccomp 2.5 only
 * exports to a file descriptor.
 */
static int
export_program(scmp_filter_ctx ctx, JailConfig *cfg, char *err, size_t errlen)
{
	struct stat st;
	void	   *buf;
	ssize_t		n;
	int			fd;
	int			rc;

	fd = memfd_create("pi-seccomp-bpf", MFD_CLOEXEC);
	if (fd < 0)
		return jail_error(err, errlen, errno, "seccomp: memfd_create for export");
	rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
	{
		close(fd);
		return jail_error(err, errlen, -rc, "seccomp: seccomp_export_bpf");
	}
	if (fstat(fd, &st) < 0)
	{
		int			save = errno;

		close(fd);
		return jail_error(err, errlen, save, "seccomp: fstat of exported program");
	}
	if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
		st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
	{
		close(fd);
		return jail_error(err, errlen, 0,
						  "seccomp: exported program has invalid size %lld",
						  (long long) st.st_size);
	}
	buf = malloc(st.st_size);
	if (buf == NULL)
	{
		close(fd);
		return jail_error(err, errlen, ENOMEM, "seccomp: buffer for program");
	}
	n = pread(fd, buf, st.st_size, 0);
	if (n != st.st_size)
	{
		int			save = (n < 0) ? errno : EIO;

		free(buf);
		close(fd);
		return jail_error(err, errlen, save, "seccomp: read back exported program");
	}
	close(fd);
	cfg->bpf = buf;
	cfg->bpf_len = (unsigned short) (st.st_size / sizeof(struct sock_filter));
	return 0;
}

int
seccomp_policy_compile(JailConfig *cfg, char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	int			rc;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL)
		return jail_error(err, errlen, 0, "seccomp: seccomp_init failed");

	/*
	 * Native x86_64 only: seccomp_init adds the native architecture;
	 * anything else (i386 through int 0x80, x32 numbers) hits BADARCH.
	 */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
							   SCMP_ACT_KILL_PROCESS)) < 0 ||
		(rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0)
	{
		seccomp_release(ctx);
		return jail_error(err, errlen, -rc, "seccomp: set filter attributes");
	}
	/* a binary tree keeps the per-syscall cost flat as the list grows */
	(void) seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

	if (build_policy(ctx, err, errlen) < 0 ||
		export_program(ctx, cfg, err, errlen) < 0)
	{
		seccomp_release(ctx);
		return -1;
	}
	seccomp_release(ctx);
	return 0;
}

/*
 * Load the precompiled program.  Needs no_new_privs (privileges_drop) and
 * must be the last step of jail_enter: after it, mount and friends fail.
 * The child is single threaded here, so no TSYNC.
 */
int
seccomp_policy_load(const JailConfig *cfg, char *err, size_t errlen)
{
	struct sock_fprog prog;

	if (cfg->bpf == NULL || cfg->bpf_len == 0)
		return jail_error(err, errlen, 0,
						  "seccomp: no compiled filter (jail_prepare not called?)");
	prog.len = cfg->bpf_len;
	prog.filter = (struct sock_filter *) cfg->bpf;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return jail_error(err, errlen, errno, "seccomp: load filter");
	return 0;
}
