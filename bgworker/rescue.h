/*-------------------------------------------------------------------------
 *
 * rescue.h
 *	  The job workers' periodic sweep (bgworker/rescue.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_RESCUE_H
#define PI_RESCUE_H

#include "nodes/pg_list.h"

/* A job runs at most this many times (SQL text: it is spliced into queries). */
#define PI_JOB_MAX_ATTEMPTS "2"

extern void pi_rescue_jobs(int my_slot, int64 my_boot_id, MemoryContext ctx,
						   List **expired);

#endif							/* PI_RESCUE_H */
