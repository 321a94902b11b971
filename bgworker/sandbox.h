/*-------------------------------------------------------------------------
 *
 * sandbox.h
 *	  The one call that turns a freshly forked executor child into a
 *	  sandboxed process.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_SANDBOX_H
#define PI_SANDBOX_H

#include "executor.h"

/*
 * Confine the calling process for the run described by req.  Called in the
 * child after its descriptors are set up and before any user code runs.
 * Returns NULL on success, else a message naming the step that failed; the
 * caller then reports a SandboxError and exits without running the code.
 */
extern const char *sandbox_enter(const RunRequest *req);

#endif							/* PI_SANDBOX_H */
