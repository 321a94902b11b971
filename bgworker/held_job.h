/*-------------------------------------------------------------------------
 *
 * held_job.h
 *	  What a pi job worker keeps for the job it holds (bgworker/held_job.c):
 *	  what the claim read, the worker's slot in shared memory (where the job
 *	  is published, with its cancel flag and a load's progress), the
 *	  transactions the worker runs, the upkeep while the job runs (lease,
 *	  live progress and output) and the recording of its end.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_HELD_JOB_H
#define PI_HELD_JOB_H

#include "datatype/timestamp.h"
#include "utils/elog.h"
#include "utils/uuid.h"

#include "executor_client.h"
#include "job_live.h"
#include "workspace_tally.h"

typedef struct ClaimedJob
{
	pg_uuid_t	id;
	char	   *id_text;
	char	   *code;
	int			timeout_s;
	char	   *session_id;
	char	   *workspace;
	char	   *kind;			/* 'async' (Python) or 'load_csv' */
	char	   *payload;		/* JSON text of a load_csv job */
	char	   *owner;			/* submitted_by: the role the job runs for */
	PiRunRequest quota;			/* the workspace quota its tenant's limit
								 * leaves (tenant_limits.c) */
	PiTally		tally;			/* its session in its tenant's tally */
	bool		cancel_seen;	/* cancel_requested read back from the row */
	bool		end_recorded;	/* a load's end, written in its own commit */
	JobLive		live;			/* progress and output not yet written */
	TimestampTz lease_renewed_at;
} ClaimedJob;

typedef void (*TransactionBody) (void *arg);

/* This worker's slot in pi_shared, and the server generation it runs in. */
extern int	MyWorkerSlot;
extern int64 MyWorkerBootId;

extern void worker_take_slot(int slot);
extern void worker_run_in_transaction(const char *activity, TransactionBody body, void *arg);
extern ErrorData *worker_recover_from_error(MemoryContext ctx);

extern void held_job_publish(const pg_uuid_t *job_id);
extern bool held_job_cancel_requested(const ClaimedJob *job);
extern bool held_job_slot_cancel_flag(void);
extern void held_job_set_progress(double progress);
extern void held_job_on_tick(void *arg);
extern void held_job_on_progress(const char *progress_json, void *arg);
extern void held_job_on_output(const char *output_json, void *arg);
extern void held_job_finish(ClaimedJob *job, const char *result_json, bool cancel_decides);

#endif							/* PI_HELD_JOB_H */
