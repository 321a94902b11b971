/*-------------------------------------------------------------------------
 *
 * sandbox.c
 *	  Composes the sandbox of one run from its mechanisms, in a fixed order.
 *
 * The kernel sandbox itself (namespaces, pivot_root, privileges, the
 * cgroup wait and seccomp) is the jail library (jail.h), entered by
 * executor_child.c right after the fork, before the descriptors are set
 * up.  What is left here runs after it, inside the jail:
 *
 *	 1. rlimits (limits.c): RLIMIT_AS (second memory layer under the
 *		per-run cgroup), RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_CORE, and
 *		RLIMIT_NPROC when the sandbox is on.
 *
 * A step that fails stops the run: nothing is silently skipped.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>

#include "limits.h"
#include "sandbox.h"

const char *
sandbox_enter(const RunRequest *req)
{
	const char *err;

	if ((err = limits_apply(req)) != NULL)
		return err;
	return NULL;
}
