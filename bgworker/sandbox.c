/*-------------------------------------------------------------------------
 *
 * sandbox.c
 *	  Composes the sandbox of one run from its mechanisms, in a fixed order.
 *
 * Each kernel mechanism lives in its own file with a small interface
 * (limits.c today; namespaces, pivot_root and seccomp to come), and this
 * file is the single place that decides their order.  The order matters:
 * namespaces must exist before pivot_root, and the seccomp filter comes
 * last because it forbids the system calls the earlier steps need.
 *
 *	 1. (to come) user, mount, pid, net and ipc namespaces
 *	 2. (to come) pivot_root into a read-only root plus the workspace
 *	 3. rlimits (limits.c)
 *	 4. (to come) no_new_privs and the seccomp filter
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
