/*-------------------------------------------------------------------------
 *
 * query_limits.h
 *	  What one pi.query statement may consume in its backend: memory,
 *	  temporary files, work_mem (query_limits.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_QUERY_LIMITS_H
#define PI_QUERY_LIMITS_H

#include <sys/resource.h>

/* The backend's data limit before pi.query lowered it. */
typedef struct QueryMemoryBound
{
	struct rlimit saved;
	bool		active;
} QueryMemoryBound;

/* Set the statement's settings; call inside pi.query's GUC nest level. */
extern void pi_query_limits_apply(void);

/* Bound what the backend may allocate from now on, and lift the bound. */
extern void pi_query_memory_bound_begin(QueryMemoryBound *bound);
extern void pi_query_memory_bound_end(QueryMemoryBound *bound);

/*
 * Rethrow an error of a bounded statement; one that a limit caused becomes
 * an error that names the pi.query setting.  Does not return.
 */
extern void pi_query_limits_rethrow(ErrorData *edata) pg_attribute_noreturn();

#endif							/* PI_QUERY_LIMITS_H */
