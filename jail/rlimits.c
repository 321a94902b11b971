/*-------------------------------------------------------------------------
 *
 * rlimits.c
 *	  Per-process resource limits (setrlimit) of one sandboxed run,
 *	  applied by the forked child after jail_enter() and before any user
 *	  code runs.
 *
 * What is limited, and why this way:
 *	 RLIMIT_AS		memory_mb: the second memory layer under the per-run
 *					memory cgroup (cgroup.c), and the only one where no
 *					memory controller is delegated; it turns
 *					bytearray(10**10) into a clean MemoryError instead of
 *					an OOM kill.  It counts per process and not tmpfs.
 *	 RLIMIT_CPU		a backstop should the executor's wall-clock kill ever be
 *					late.  The hard limit one second above the soft one
 *					turns an ignored SIGXCPU into SIGKILL.  A kernel sets it
 *					per cell instead, relative to the CPU time it has used
 *					(executor/runner.py), so it passes 0 here.
 *	 RLIMIT_FSIZE	max_file_size_mb, per file written.
 *	 RLIMIT_CORE	always 0: a core of a 4 GB process would fill the disk.
 *	 RLIMIT_NPROC	only inside the run's own user namespace, where it
 *					counts that run's processes only.  Outside one it
 *					would count every process of the server's user, the
 *					server included, so the caller passes 0 then.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <sys/resource.h>

#include "jail_int.h"

static int
set_limit(int resource, const char *name, rlim_t soft, rlim_t hard,
		  char *err, size_t errlen)
{
	struct rlimit rl;

	rl.rlim_cur = soft;
	rl.rlim_max = hard;
	if (setrlimit(resource, &rl) == 0)
		return 0;
	return jail_error(err, errlen, errno, "rlimits: could not set %s to %llu",
					  name, (unsigned long long) soft);
}

int
jail_rlimits_apply(const JailRlimits *rl, char *err, size_t errlen)
{
	rlim_t		mem = (rlim_t) rl->memory_mb * 1024 * 1024;
	rlim_t		fsize = (rlim_t) rl->max_file_size_mb * 1024 * 1024;
	rlim_t		cpu = (rlim_t) rl->cpu_seconds;

	if (rl->memory_mb > 0 &&
		set_limit(RLIMIT_AS, "RLIMIT_AS", mem, mem, err, errlen) < 0)
		return -1;
	if (rl->cpu_seconds > 0 &&
		set_limit(RLIMIT_CPU, "RLIMIT_CPU", cpu, cpu + 1, err, errlen) < 0)
		return -1;
	if (rl->max_file_size_mb > 0 &&
		set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", fsize, fsize, err, errlen) < 0)
		return -1;
	if (set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0, 0, err, errlen) < 0)
		return -1;
	if (rl->nproc > 0 &&
		set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", rl->nproc, rl->nproc,
				  err, errlen) < 0)
		return -1;
	return 0;
}
