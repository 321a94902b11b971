/*-------------------------------------------------------------------------
 *
 * job_live.h
 *	  What a running job shows before it ends (bgworker/job_live.c): its
 *	  latest pi.progress() report and the newest part of its stdout, kept
 *	  by the job worker and written to the job's row a few times a second.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_JOB_LIVE_H
#define PI_JOB_LIVE_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/palloc.h"
#include "utils/uuid.h"

/*
 * The row is written at most this often (issue 12: not per pi.progress()
 * call; issue 15: not per print either), latest values winning.
 */
#define JOB_LIVE_WRITE_MS		250
/* pi.jobs.stdout_tail holds at most this many bytes: the newest ones */
#define JOB_LIVE_TAIL_BYTES		16384

typedef struct JobLive
{
	StringInfoData progress;	/* latest 'P' frame not yet written; "" none */
	StringInfoData tail;		/* the newest stdout, whole characters */
	int64		stdout_bytes;	/* bytes the job printed so far */
	bool		output_dirty;	/* tail or stdout_bytes not yet written */
	TimestampTz written_at;
	MemoryContext parse_cxt;	/* one frame's parse, reset after it */
} JobLive;

extern void job_live_init(JobLive *live);
extern void job_live_progress(JobLive *live, const char *progress_json);
extern void job_live_output(JobLive *live, const char *output_json);
extern bool job_live_due(const JobLive *live);
extern void job_live_write(JobLive *live, const pg_uuid_t *job_id);

#endif							/* PI_JOB_LIVE_H */
