/*-------------------------------------------------------------------------
 *
 * limits.c
 *	  Resource limits (setrlimit) of one sandboxed run, applied by the
 *	  forked child before it runs any user code.
 *
 * What is limited, and why this way:
 *	 RLIMIT_AS		memory_mb.  cgroup v2 has no memory controller on the
 *					target hosts (DESIGN.md), so the address-space limit is
 *					the memory limit; it turns bytearray(10**10) into a clean
 *					MemoryError instead of an OOM kill.
 *	 RLIMIT_CPU		the wall-clock timeout rounded up, plus one second: a
 *					backstop should the zygote's wall-clock kill ever be
 *					late.  The hard limit one second above the soft one
 *					turns an ignored SIGXCPU into SIGKILL.  A kernel
 *					(timeout_ms 0 here) sets it per cell instead, relative
 *					to the CPU time it has used (runner.py).
 *	 RLIMIT_FSIZE	max_file_size_mb, per file written.
 *	 RLIMIT_CORE	0: a core of a 4 GB process would fill the disk.
 *
 *	 RLIMIT_NPROC	only with the sandbox on (EXECUTOR_PIDS_MAX): inside the
 *					run's own user namespace it counts that run's processes
 *					only.  Outside one it would count every process of the
 *					server's user, the server included, so with the sandbox
 *					off it stays unset.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "executor.h"
#include "limits.h"

static char limits_error[256];

static const char *
set_limit(int resource, const char *name, rlim_t soft, rlim_t hard)
{
	struct rlimit rl;

	rl.rlim_cur = soft;
	rl.rlim_max = hard;
	if (setrlimit(resource, &rl) == 0)
		return NULL;
	snprintf(limits_error, sizeof(limits_error),
			 "could not set %s to %llu: %s",
			 name, (unsigned long long) soft, strerror(errno));
	return limits_error;
}

const char *
limits_apply(const RunRequest *req)
{
	const char *err;
	rlim_t		mem = (rlim_t) req->memory_mb * 1024 * 1024;
	rlim_t		fsize = (rlim_t) req->max_file_size_mb * 1024 * 1024;
	rlim_t		cpu = (rlim_t) (req->timeout_ms + 999) / 1000 + 1;

	if ((err = set_limit(RLIMIT_AS, "RLIMIT_AS", mem, mem)) != NULL)
		return err;
	if (req->timeout_ms > 0 &&
		(err = set_limit(RLIMIT_CPU, "RLIMIT_CPU", cpu, cpu + 1)) != NULL)
		return err;
	if ((err = set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", fsize, fsize)) != NULL)
		return err;
	if ((err = set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0, 0)) != NULL)
		return err;

	/*
	 * Inside the sandbox's per-run user namespace RLIMIT_NPROC counts only
	 * this run's processes and threads: the second layer under the cgroup's
	 * pids.max (and the only one where no pids cgroup is delegated).
	 */
	if (executor_sandbox_mode == SANDBOX_ON &&
		(err = set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", EXECUTOR_PIDS_MAX,
						 EXECUTOR_PIDS_MAX)) != NULL)
		return err;
	return NULL;
}
