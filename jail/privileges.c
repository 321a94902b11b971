/*-------------------------------------------------------------------------
 *
 * privileges.c
 *	  Drop every privilege the child holds before untrusted code runs:
 *	  the capability bounding set, the ambient set, the effective,
 *	  permitted and inheritable sets, and set no_new_privs; the process
 *	  stays dumpable, on purpose (see below).
 *
 * A child created with CLONE_NEWUSER holds every capability inside its
 * namespace; it needs them to mount and to configure loopback, and must
 * lose them all afterwards.  Changing to the inside uid does not clear
 * them: after userns_write_maps() the child's uid already is
 * JAIL_INSIDE_UID (it is the same kernel uid), so there is no 0 -> non-0
 * transition that would clear capabilities implicitly.  Hence every set is
 * cleared explicitly, bounding set first because dropping it needs
 * CAP_SETPCAP.
 *
 * no_new_privs makes setuid/setgid bits and file capabilities inert for
 * execve() (the /usr bind is also nosuid) and is required to load a
 * seccomp filter without CAP_SYS_ADMIN.
 *
 * Dumpable, not non-dumpable: the executor counts against the workspace
 * quota the deleted files a run still holds open or mapped, which it can
 * only see in /proc/<pid>/fd and /proc/<pid>/maps (executor/held.c).  A
 * kernel is forked from the zygote, never exec'd, so its memory belongs
 * to the initial user namespace, and reading a non-dumpable one would
 * need CAP_SYS_PTRACE there: the executor could not look, and 200 MB of
 * unlinked files stayed held under a 5 MB quota.  Being dumpable opens
 * the run to processes of the server's own uid outside the sandbox (the
 * executor, PostgreSQL, the gateway), which own the workspaces and the
 * data directory anyway.  No other run can reach it: each run has its own
 * PID namespace and /proc, and seccomp refuses ptrace, process_vm_*,
 * pidfd_getfd and kcmp.  Inside the run, its processes may read each
 * other's memory, which holds nothing they do not share already (and a
 * program it exec's was dumpable before this change too: exec resets the
 * flag).  Core dumps stay off: RLIMIT_CORE is 0, hard (rlimits.c), and
 * prctl(PR_SET_DUMPABLE) is refused by the filter so that a run cannot
 * hide its files from the quota (it would be stopped anyway).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "jail_int.h"

/*
 * The highest capability number the running kernel knows; read from /proc
 * so a kernel newer than our headers has its new capabilities dropped too.
 * Read without stdio: fopen mallocs (see jail_read_file).
 */
static int
last_capability(void)
{
	char		buf[16];
	char	   *end;
	long		last = -1;

	if (jail_read_file("/proc/sys/kernel/cap_last_cap", buf, sizeof(buf)) == 0)
	{
		errno = 0;
		last = strtol(buf, &end, 10);
		if (errno != 0 || end == buf || (*end != '\n' && *end != '\0'))
			last = -1;
	}
	/* 63 is the largest the 64-bit capability sets can hold. */
	return (last >= 0 && last <= 63) ? last : 63;
}

int
privileges_drop(char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr;
	struct __user_cap_data_struct data[2];
	int			last = last_capability();
	int			cap;

	for (cap = 0; cap <= last; cap++)
	{
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return jail_error(err, errlen, errno,
							  "privileges: drop capability %d from the bounding set",
							  cap);
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return jail_error(err, errlen, errno,
						  "privileges: clear the ambient capability set");

	/*
	 * Lock the securebits so that nothing regains capabilities through a
	 * uid change either (the filter also has no setuid exception to use).
	 */
	if (prctl(PR_SET_SECUREBITS,
			  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
			  SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
			  SECBIT_KEEP_CAPS_LOCKED |
			  SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
			  0, 0, 0) < 0)
		return jail_error(err, errlen, errno, "privileges: lock securebits");

	if (setresgid(JAIL_INSIDE_GID, JAIL_INSIDE_GID, JAIL_INSIDE_GID) < 0)
		return jail_error(err, errlen, errno,
						  "privileges: setresgid(%d)", JAIL_INSIDE_GID);
	if (setresuid(JAIL_INSIDE_UID, JAIL_INSIDE_UID, JAIL_INSIDE_UID) < 0)
		return jail_error(err, errlen, errno,
						  "privileges: setresuid(%d)", JAIL_INSIDE_UID);

	memset(&hdr, 0, sizeof(hdr));
	memset(data, 0, sizeof(data));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	hdr.pid = 0;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return jail_error(err, errlen, errno,
						  "privileges: clear effective, permitted and inheritable capabilities");

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return jail_error(err, errlen, errno, "privileges: PR_SET_NO_NEW_PRIVS");
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		return jail_error(err, errlen, errno, "privileges: PR_SET_DUMPABLE 1");

	return 0;
}
