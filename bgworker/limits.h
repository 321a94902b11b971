/*-------------------------------------------------------------------------
 *
 * limits.h
 *	  Resource limits (setrlimit) of one sandboxed run.
 *
 *-------------------------------------------------------------------------
 */
/*
 * The name shadows the C library's <limits.h> for any build that puts
 * bgworker/ on the -I path (the PGXS build does): pass the system header
 * through, so <limits.h> keeps working there.  Our own build uses -iquote.
 */
#include_next <limits.h>

#ifndef PI_LIMITS_H
#define PI_LIMITS_H

/*
 * Only a forward declaration: executor.h includes jail.h, which includes
 * <limits.h>, which can land here again through the compiler's
 * include_next chain before RunRequest is declared.
 */
struct RunRequest;

/*
 * Apply the run's rlimits to the calling process.  Returns NULL on success,
 * else a static message naming the limit that could not be set.
 */
extern const char *limits_apply(const struct RunRequest *req);

#endif							/* PI_LIMITS_H */
