/*-------------------------------------------------------------------------
 *
 * held_job.c
 *	  What a pi job worker does for any job it holds, Python or load: its
 *	  slot in shared memory, where the job is published before its claim
 *	  commits and where pi.cancel_job finds it; the transactions the worker
 *	  runs (worker_spi's habit: each opened and closed in one place); the
 *	  upkeep while the job runs (its lease, its latest progress and output);
 *	  and the recording of its end.
 *
 * worker.c (the loop, Python jobs) and load_job.c (load jobs) build on
 * this file; it calls neither.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "held_job.h"
#include "job_end.h"
#include "shmem.h"

/*
 * Lease: pi.job_lease_time (60 s) without renewal; renewed twelve times per
 * lease (every 5 s by default), so that a few slow renewals never lose it.
 */
#define LEASE_RENEW_MS			Max(pi_job_lease_time * 1000 / 12, 200)

int			MyWorkerSlot = -1;
int64		MyWorkerBootId = 0;

/*
 * Run body inside its own transaction with SPI connected and a snapshot,
 * reporting what it does in pg_stat_activity.
 */
void
worker_run_in_transaction(const char *activity, TransactionBody body, void *arg)
{
	MemoryContext caller = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);

	body(arg);

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	/* the commit leaves TopMemoryContext current, where nothing may pile up */
	MemoryContextSwitchTo(caller);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * In a PG_CATCH block: take the error out of the error state (copied into
 * ctx) and end any transaction it left open, so the worker can go on.
 */
ErrorData *
worker_recover_from_error(MemoryContext ctx)
{
	ErrorData  *edata;

	HOLD_INTERRUPTS();
	MemoryContextSwitchTo(ctx);
	edata = CopyErrorData();
	FlushErrorState();
	AbortOutOfAnyTransaction();
	MemoryContextSwitchTo(ctx);
	RESUME_INTERRUPTS();
	return edata;
}

/* ---- the slot ----------------------------------------------------------- */

static void
release_slot(int code, Datum arg)
{
	if (MyWorkerSlot < 0)
		return;
	SpinLockAcquire(&pi_shared->mutex);
	if (pi_shared->slots[MyWorkerSlot].pid == MyProcPid)
		memset(&pi_shared->slots[MyWorkerSlot], 0, sizeof(PiWorkerSlot));
	SpinLockRelease(&pi_shared->mutex);
}

/*
 * Take slot for this process, or exit when a live process of an earlier
 * launcher still holds it.
 */
void
worker_take_slot(int slot)
{
	PiWorkerSlot *s = &pi_shared->slots[slot];
	pid_t		holder;

	SpinLockAcquire(&pi_shared->mutex);
	holder = s->pid;
	if (holder == 0 || kill(holder, 0) != 0)
	{
		memset(s, 0, sizeof(*s));
		s->pid = MyProcPid;
		s->latch = MyLatch;
		holder = 0;
	}
	MyWorkerBootId = pi_shared->boot_id;
	SpinLockRelease(&pi_shared->mutex);

	if (holder != 0)
	{
		ereport(LOG, (errmsg("pi worker %d: slot already held by process %d; exiting",
							 slot + 1, (int) holder)));
		proc_exit(0);
	}
	MyWorkerSlot = slot;
	on_shmem_exit(release_slot, (Datum) 0);
}

/*
 * Publish the job this worker holds (NULL: none), with no cancel asked for
 * and no progress yet.
 */
void
held_job_publish(const pg_uuid_t *job_id)
{
	PiWorkerSlot *slot = &pi_shared->slots[MyWorkerSlot];

	SpinLockAcquire(&pi_shared->mutex);
	slot->has_job = (job_id != NULL);
	if (job_id)
		slot->job_id = *job_id;
	slot->cancel_requested = false;
	slot->progress = 0;
	SpinLockRelease(&pi_shared->mutex);
}

/*
 * Whether a cancel was asked for: in the slot (pi.cancel_job sets it before
 * its transaction commits), or in the row as the last lease renewal read it.
 */
bool
held_job_cancel_requested(const ClaimedJob *job)
{
	bool		requested;

	SpinLockAcquire(&pi_shared->mutex);
	requested = pi_shared->slots[MyWorkerSlot].cancel_requested;
	SpinLockRelease(&pi_shared->mutex);
	return requested || job->cancel_seen;
}

/* The slot's cancel flag without the lock (a bool): for a signal handler. */
bool
held_job_slot_cancel_flag(void)
{
	return MyWorkerSlot >= 0 && pi_shared->slots[MyWorkerSlot].cancel_requested;
}

/* A load's progress while its transaction is open: pi.job_status reads it. */
void
held_job_set_progress(double progress)
{
	SpinLockAcquire(&pi_shared->mutex);
	pi_shared->slots[MyWorkerSlot].progress = progress;
	SpinLockRelease(&pi_shared->mutex);
}

/* ---- while the job runs ------------------------------------------------ */

static void
heartbeat_body(void *arg)
{
	ClaimedJob *job = (ClaimedJob *) arg;
	bool		isnull;

	/*
	 * SKIP LOCKED: a pi.cancel_job transaction left open on the row must not
	 * stall the worker; the lease is renewed at the next tick instead.
	 */
	if (SPI_execute_with_args("UPDATE pi.jobs j SET lease_until = clock_timestamp() + make_interval(secs => $2)"
							  " FROM (SELECT id FROM pi.jobs WHERE id = $1 AND status = 'running'"
							  "   FOR UPDATE SKIP LOCKED) me WHERE j.id = me.id"
							  " RETURNING j.cancel_requested",
							  2, (Oid[]) {UUIDOID, INT4OID},
							  (Datum[]) {UUIDPGetDatum(&job->id), Int32GetDatum(pi_job_lease_time)},
							  NULL, false, 1) == SPI_OK_UPDATE_RETURNING &&
		SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		job->cancel_seen = true;
	job->lease_renewed_at = GetCurrentTimestamp();
}

static bool
lease_due(const ClaimedJob *job)
{
	return TimestampDifferenceExceeds(job->lease_renewed_at, GetCurrentTimestamp(),
									  LEASE_RENEW_MS);
}

static void
upkeep_body(void *arg)
{
	ClaimedJob *job = (ClaimedJob *) arg;

	job_live_write(&job->live, &job->id);
	if (lease_due(job))
		heartbeat_body(job);
}

/*
 * Every JOB_LIVE_WRITE_MS (tick_ms) and after each frame: what is due of
 * the kept progress and output and of the lease, in one transaction.  A
 * pi.progress() or print loop costs a few commits a second, a value shows
 * within JOB_LIVE_WRITE_MS with no frame after it, and the end's recording
 * writes the last one with the result.
 */
void
held_job_on_tick(void *arg)
{
	ClaimedJob *job = (ClaimedJob *) arg;

	if (job_live_due(&job->live) || lease_due(job))
		worker_run_in_transaction("pi worker: renewing job lease, recording progress",
								  upkeep_body, job);
}

/* A 'P' frame: keep it as the latest value. */
void
held_job_on_progress(const char *progress_json, void *arg)
{
	ClaimedJob *job = (ClaimedJob *) arg;

	job_live_progress(&job->live, progress_json);
	held_job_on_tick(job);
}

/* An 'O' frame: the job's stdout so far grows. */
void
held_job_on_output(const char *output_json, void *arg)
{
	ClaimedJob *job = (ClaimedJob *) arg;

	job_live_output(&job->live, output_json);
	held_job_on_tick(job);
}

/* ---- the end ------------------------------------------------------------ */

typedef struct FinishedJob
{
	ClaimedJob *job;
	const char *result_json;	/* NULL: the executor was lost */
	bool		cancel_decides;	/* a cancel asked for ends it cancelled */
} FinishedJob;

static void
finish_body(void *arg)
{
	FinishedJob *f = (FinishedJob *) arg;
	bool		cancel_requested;

	/*
	 * With the row locked, like a load's end (job_end.c): a pi.cancel_job
	 * that flagged it first answered true, so the job ends cancelled even
	 * if its code ended meanwhile; one that comes later waits for this
	 * commit and answers false.  A run the executor lost is not queued
	 * again once a cancel was asked for.
	 */
	if (!job_end_lock_running(&f->job->id, MyWorkerBootId, &cancel_requested))
		return;					/* ended or re-queued meanwhile: not ours */
	/* the last progress and output sent stay, even if they came just before the end */
	job_live_write(&f->job->live, &f->job->id);
	if (f->cancel_decides && (cancel_requested || held_job_cancel_requested(f->job)))
		job_end_record_cancelled(&f->job->id, f->job->id_text, MyWorkerBootId, f->result_json);
	else if (f->result_json != NULL)
		job_end_record(&f->job->id, f->job->id_text, MyWorkerBootId, f->result_json);
	else
		job_end_requeue_lost(&f->job->id, f->job->id_text, MyWorkerBootId);
}

/*
 * Record the job's end: its result, or (result_json NULL) a run the
 * executor lost, queued again; cancelled instead when cancel_decides and
 * a cancel was asked for.
 */
void
held_job_finish(ClaimedJob *job, const char *result_json, bool cancel_decides)
{
	FinishedJob finished = {job, result_json, cancel_decides};

	worker_run_in_transaction("pi worker: recording job result", finish_body, &finished);
}
