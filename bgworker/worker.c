/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  A pi job worker: claims async jobs from pi.jobs, runs them through the
 *	  executor, keeps their lease alive, writes their results, and rescues
 *	  jobs whose worker died.
 *
 * The loop follows worker_spi: every transaction is opened and closed in
 * worker_run_in_transaction(), and none is open while Python runs (a rule of
 * docs/architecture.md for async jobs).  A job's life in pi.jobs:
 *
 *	 pending --claim (FOR UPDATE SKIP LOCKED)--> running --finish--> completed,
 *	 failed, timeout or cancelled
 *
 * A running job carries lease_until and the boot id of the server
 * generation that claimed it.  Any worker re-queues (once) or fails a
 * running job whose boot id is not the current one (a crash or restart
 * ended it), or whose lease ran out and which no live worker holds in
 * shared memory (its worker died).  A live worker's job is never rescued,
 * whatever its kind, its length or the transaction it waits in: a load
 * holds its own transaction open for minutes and cannot renew its lease
 * from inside it, so the rescue sweep renews the leases of every held job.
 * A re-run is told it is one (attempt, notice), since at-least-once may
 * repeat side effects of the first attempt.
 *
 * Everything one turn of the loop allocates lives in JobLoopContext, reset
 * at the start of the next turn (pg_cron's CronLoopContext).  What is done
 * for any job a worker holds (its slot, transactions, lease and live output,
 * the recording of its end) is in held_job.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "utils/wait_event.h"

#include "datasets.h"
#include "executor_client.h"
#include "guc.h"
#include "held_job.h"
#include "sessions.h"
#include "shmem.h"
#include "tenant_limits.h"
#include "job_end.h"
#include "job_live.h"
#include "workers.h"
#include "rescue.h"

/* Polling is only a safety net: submit_job wakes workers at commit. */
#define IDLE_POLL_MS			5000
#define RESCUE_INTERVAL_MS		10000

static MemoryContext JobLoopContext = NULL;

/* ---- start-up ---------------------------------------------------------- */

static void
check_extension_body(void *arg)
{
	bool	   *ready = (bool *) arg;

	*ready = SPI_execute("SELECT 1 FROM pg_catalog.pg_extension "
						 "WHERE extname = 'power_interpreter'", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1;
}

/* Wait until CREATE EXTENSION has run in pi.database. */
static void
wait_for_extension(void)
{
	bool		logged = false;

	for (;;)
	{
		bool		ready = false;

		worker_run_in_transaction("pi worker: checking for the extension", check_extension_body, &ready);
		if (ready)
			return;
		if (!logged)
			ereport(LOG,
					(errmsg("pi worker %d: extension power_interpreter is not installed in database \"%s\"; waiting",
							MyWorkerSlot + 1, pi_database),
					 errhint("Run CREATE EXTENSION power_interpreter in database \"%s\".", pi_database)));
		logged = true;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 IDLE_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* ---- rescue ------------------------------------------------------------ */

/* bgworker/rescue.c does the work; arg collects expired sessions' ids. */
static void
rescue_body(void *arg)
{
	pi_rescue_jobs(MyWorkerSlot, MyWorkerBootId, JobLoopContext, (List **) arg);
}


/* ---- claim ------------------------------------------------------------- */

static void
claim_body(void *arg)
{
	ClaimedJob *job = (ClaimedJob *) arg;
	int			rc;
	bool		isnull;
	TupleDesc	desc;
	HeapTuple	tuple;
	MemoryContext outer;

	rc = SPI_execute_with_args(
							   "UPDATE pi.jobs j SET status = 'running', started_at = clock_timestamp(),"
							   " attempts = j.attempts + 1,"
							   " lease_until = clock_timestamp() + make_interval(secs => $3),"
							   " worker_boot = $1, worker_pid = $2, progress = NULL, progress_message = NULL,"
							   " stdout_tail = NULL, stdout_bytes = NULL"
							   " FROM (SELECT id FROM pi.jobs WHERE status = 'pending'"
							   "   ORDER BY submitted_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) next"
							   " WHERE j.id = next.id"
							   /* a default session's job gets its workspace, not its state */
							   " RETURNING j.id, j.code, j.timeout_s,"
							   "  (SELECT s.id::text FROM pi.sessions s"
							   "   WHERE s.id = j.session_id AND NOT s.is_default),"
							   "  (SELECT s.workspace FROM pi.sessions s WHERE s.id = j.session_id),"
							   "  j.kind, j.payload::text, j.submitted_by::text",
							   3, (Oid[]) {INT8OID, INT4OID, INT4OID},
							   (Datum[]) {Int64GetDatum(MyWorkerBootId), Int32GetDatum(MyProcPid),
							   Int32GetDatum(pi_job_lease_time)},
							   NULL, false, 1);
	if (rc != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "pi worker: claiming a job failed: SPI error %d", rc);
	if (SPI_processed == 0)
		return;

	desc = SPI_tuptable->tupdesc;
	tuple = SPI_tuptable->vals[0];
	outer = MemoryContextSwitchTo(JobLoopContext);
	job->id = *DatumGetUUIDP(SPI_getbinval(tuple, desc, 1, &isnull));
	job->id_text = SPI_getvalue(tuple, desc, 1);
	job->code = SPI_getvalue(tuple, desc, 2);
	job->timeout_s = DatumGetInt32(SPI_getbinval(tuple, desc, 3, &isnull));
	job->session_id = SPI_getvalue(tuple, desc, 4);
	job->workspace = SPI_getvalue(tuple, desc, 5);
	job->kind = SPI_getvalue(tuple, desc, 6);
	job->payload = SPI_getvalue(tuple, desc, 7);
	job->owner = SPI_getvalue(tuple, desc, 8);
	/* over its tenant's limit already, a job still runs, but may not write */
	memset(&job->quota, 0, sizeof(job->quota));
	memset(&job->tally, 0, sizeof(job->tally));
	if (job->workspace != NULL && strcmp(job->kind, "async") == 0)
		(void) pi_tenant_workspace_quota(job->workspace, &job->quota, &job->tally);

	/*
	 * A load's conversion writes a CSV into the workspace for a while: the
	 * tenant's checks measure the session until the load has ended.  Marked
	 * here, in a transaction, as the load runs mostly outside one.
	 */
	else if (job->workspace != NULL)
		pi_tenant_mark_run(job->workspace, &job->tally);
	/* and the live session kernels its tenant may keep */
	if (job->session_id != NULL && strcmp(job->kind, "async") == 0)
		pi_tenant_session_limit(job->owner, &job->quota);
	job_live_init(&job->live);
	job->lease_renewed_at = GetCurrentTimestamp();
	MemoryContextSwitchTo(outer);

	/*
	 * Publish the job in shared memory before the claim commits, so that a
	 * pi.cancel_job that sees the job running also finds this worker.
	 */
	held_job_publish(&job->id);
}

/* ---- Python jobs -------------------------------------------------------- */

static bool
should_cancel(void *arg)
{
	return held_job_cancel_requested((ClaimedJob *) arg);
}

/*
 * pi_run_code, with an error (the executor did not come up within its
 * wait, a broken frame, a failed lease renewal) turned into a lost run:
 * logged, the job re-queued once, and this worker carrying on instead of
 * exiting.
 */
static PiRunOutcome
run_code_caught(const PiRunRequest *req, const PiRunCallbacks *callbacks, char **result_json,
				bool *errored)
{
	MemoryContext ctx = CurrentMemoryContext;
	volatile PiRunOutcome outcome = PI_RUN_EXECUTOR_LOST;

	*errored = false;
	PG_TRY();
	{
		outcome = pi_run_code(req, callbacks, result_json);
	}
	PG_CATCH();
	{
		ErrorData  *edata = worker_recover_from_error(ctx);

		ereport(LOG,
				(errmsg("pi worker %d: running job %s failed: %s",
						MyWorkerSlot + 1, req->job_id, edata->message)));
		FreeErrorData(edata);
		outcome = PI_RUN_EXECUTOR_LOST;
		*errored = true;
	}
	PG_END_TRY();
	return outcome;
}

static void
run_job(ClaimedJob *job)
{
	PiRunRequest req = {0};
	PiRunCallbacks callbacks = {0};
	const char *finished = NULL;
	char	   *result_json = NULL;
	char	   *activity = psprintf("pi worker: running job %s", job->id_text);
	pid_t		executor;
	bool		errored;
	PiRunOutcome outcome;

	req.kind = "async";
	req.code = job->code;
	req.timeout_s = job->timeout_s;
	req.workspace = job->workspace;
	req.session_id = job->session_id;
	req.job_id = job->id_text;
	req.owner = job->owner;
	req.workspace_quota_mb = job->quota.workspace_quota_mb;
	req.quota_note = job->quota.quota_note;
	req.has_owner_max_sessions = job->quota.has_owner_max_sessions;
	req.owner_max_sessions = job->quota.owner_max_sessions;
	req.live_output = true;

	callbacks.on_progress = held_job_on_progress;
	callbacks.on_output = held_job_on_output;
	callbacks.on_tick = held_job_on_tick;
	callbacks.should_cancel = should_cancel;
	callbacks.tick_ms = JOB_LIVE_WRITE_MS;
	callbacks.arg = job;

	pgstat_report_activity(STATE_RUNNING, activity);
	SpinLockAcquire(&pi_shared->mutex);
	executor = pi_shared->executor_pid;
	SpinLockRelease(&pi_shared->mutex);
	/* run_code_caught catches every error: the run's end is always measured */
	pi_tally_run_started(&job->tally);
	outcome = run_code_caught(&req, &callbacks, &result_json, &errored);
	pi_tally_run_ended(&job->tally, true);
	if (outcome == PI_RUN_RESULT)
		finished = result_json;
	else if (!errored && executor != 0 && pi_executor_died(executor))
	{
		ereport(LOG,
				(errmsg("pi worker %d: the Python executor stopped while running job %s",
						MyWorkerSlot + 1, job->id_text)));
		/* no worker claims again until the launcher has replaced it */
		SpinLockAcquire(&pi_shared->mutex);
		if (pi_shared->executor_pid == executor)
			pi_shared->executor_lost_pid = executor;
		SpinLockRelease(&pi_shared->mutex);
	}
	else if (!errored)
		ereport(LOG,
				(errmsg("pi worker %d: the Python executor (pid %d) closed the connection of job %s without an answer",
						MyWorkerSlot + 1, (int) executor, job->id_text),
				 errdetail("The executor is still running; the job is queued again, unless it was cancelled.")));

	held_job_finish(job, finished, true);
	held_job_publish(NULL);
}

/* ---- load jobs --------------------------------------------------------- */

/*
 * Progress of a load, by bytes: the analysis pass is the first half, COPY
 * the second.  During the analysis no transaction is open and the row is
 * updated; during COPY the load's own transaction is open, so the figure
 * goes to shared memory, where pi.job_status finds it.
 */
static void
load_progress(int64 done, int64 total, void *arg)
{
	ClaimedJob *job = (ClaimedJob *) arg;
	double		fraction = total > 0 ? Min((double) done / total, 1.0) : 0;

	if (held_job_cancel_requested(job))
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("the load was cancelled")));
	if (!IsTransactionState())
	{
		/* the lease every time: the rescue sweep renews it, this reads a cancel */
		job->lease_renewed_at = 0;
		job_live_progress(&job->live,
						  psprintf("{\"progress\": %.4f, \"message\": \"analysing the file: %lld of %lld MB\"}",
								   fraction * 0.5, (long long) (done >> 20), (long long) (total >> 20)));
		held_job_on_tick(job);
	}
	else
		held_job_set_progress(0.5 + fraction * 0.5);
}

/*
 * While a load runs, a timer looks at the cancel flag of this worker's slot
 * every LOAD_CANCEL_POLL_MS and turns a request into a query cancel, which
 * interrupts whatever the load waits in or computes (COPY, ANALYZE, a lock
 * on the table it replaces), not only the points that report progress.
 */
#define LOAD_CANCEL_POLL_MS		200
static TimeoutId load_cancel_timer = MAX_TIMEOUTS;

/*
 * A signal handler: reads one flag of shared memory, no lock (a bool).
 * Only inside a transaction: the analysis and a conversion check for a
 * cancel themselves (load_progress), and the load's last transaction
 * decides with the job's row locked (load_at_commit).
 */
static void
load_cancel_check(void)
{
	if (held_job_slot_cancel_flag() && IsTransactionState())
	{
		QueryCancelPending = true;
		InterruptPending = true;
		SetLatch(MyLatch);
	}
}

/*
 * Stop the timer, and drop a query cancel it raised that nothing took:
 * from here on the job's row and slot tell whether the load was cancelled
 * (load_failed_body), and the cancel is not lost.  One can be pending when
 * the load has already stopped: the timer raises it in any transaction,
 * the clean-up's too (dropping the staging table holds interrupts), and the
 * error that ended the load may have come first (a progress report that
 * saw the flag).  Left pending, the next CHECK_FOR_INTERRUPTS (even the one
 * in ereport(LOG)) would throw it past every handler: the worker would exit
 * and leave its job running until the lease ran out.
 */
static void
load_cancel_timer_stop(void)
{
	disable_timeout(load_cancel_timer, false);
	QueryCancelPending = false;
}

/*
 * Called by pi_load_csv_run inside the load's transaction, just before it
 * commits: the job is recorded completed in the commit that makes its table
 * visible, unless a cancel came first, which undoes the load.  With the
 * row locked here, a pi.cancel_job either flagged it before (seen here) or
 * waits for this commit and finds the job completed (it answers false): a
 * load it said it cancels is never recorded completed (job_end.c).
 */
static void
load_at_commit(const char *result_json, void *arg)
{
	ClaimedJob *job = (ClaimedJob *) arg;
	bool		cancel_requested;

	SPI_connect();
	if (!job_end_lock_running(&job->id, MyWorkerBootId, &cancel_requested))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("load job %s is no longer running in this worker; its load was undone",
						job->id_text),
				 errhint("pi.job_status tells how the job ended; load the file again if it did not complete.")));
	if (cancel_requested || held_job_cancel_requested(job))
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("the load was cancelled")));
	job_live_write(&job->live, &job->id);
	job_end_record(&job->id, job->id_text, MyWorkerBootId, result_json);
	SPI_finish();
	/* undone with the rest if the commit fails: pi_load_csv_run throws then */
	job->end_recorded = true;
}

typedef struct FailedLoad
{
	ClaimedJob *job;
	ErrorData  *edata;
} FailedLoad;

/*
 * A load that did not complete: with the row locked, it ends cancelled if
 * a cancel was asked for (in the row, or in the slot before the row's flag
 * is committed), whatever error stopped it; else failed with its error.
 */
static void
load_failed_body(void *arg)
{
	FailedLoad *f = (FailedLoad *) arg;
	bool		cancel_requested;
	bool		cancelled;

	if (!job_end_lock_running(&f->job->id, MyWorkerBootId, &cancel_requested))
		return;					/* ended or re-queued meanwhile: not ours */
	cancelled = f->edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
		cancel_requested || held_job_cancel_requested(f->job);
	job_live_write(&f->job->live, &f->job->id);
	job_end_record(&f->job->id, f->job->id_text, MyWorkerBootId,
				   job_end_load_failure_json(f->edata, cancelled));
}

/*
 * Run a load_csv job in this process.  Any error ends the load's
 * transaction (so nothing half-loaded stays) and becomes the job's result;
 * a load that completes records its end in its own commit.
 */
static void
run_load_job(ClaimedJob *job)
{
	MemoryContext ctx = CurrentMemoryContext;
	FailedLoad	failed = {job, NULL};
	char	   *finished = NULL;

	pgstat_report_activity(STATE_RUNNING, psprintf("pi worker: loading %s", job->code));
	if (load_cancel_timer == MAX_TIMEOUTS)
		load_cancel_timer = RegisterTimeout(USER_TIMEOUT, load_cancel_check);
	enable_timeout_every(load_cancel_timer,
						 TimestampTzPlusMilliseconds(GetCurrentTimestamp(), LOAD_CANCEL_POLL_MS),
						 LOAD_CANCEL_POLL_MS);
	PG_TRY();
	{
		finished = pi_load_csv_run(job->id_text, job->workspace, job->payload,
											   load_progress, load_at_commit, job);
	}
	PG_CATCH();
	{
		/* first: the LOG below checks for interrupts */
		load_cancel_timer_stop();
		failed.edata = worker_recover_from_error(ctx);
		ereport(LOG,
				(errmsg("pi worker %d: load job %s failed: %s", MyWorkerSlot + 1, job->id_text,
						failed.edata->message)));
	}
	PG_END_TRY();
	/* a cancel that came as the load ended must not fail the recording */
	load_cancel_timer_stop();

	pi_tally_run_ended(&job->tally, true);
	if (failed.edata != NULL)
		worker_run_in_transaction("pi worker: recording load result", load_failed_body, &failed);
	else if (!job->end_recorded)	/* a way to completion that skipped the hook */
		held_job_finish(job, finished, false);	/* its table is committed */
	held_job_publish(NULL);
}

/* ---- main loop ---------------------------------------------------------- */

/*
 * Stop the live kernels of the sessions the rescue sweep expired, as
 * pi.close_session does, once their rows are gone for good.  A kernel that
 * cannot be stopped now (executor restarting) is left to its idle timeout.
 */
static void
stop_expired_kernels(List *session_ids)
{
	ListCell   *lc;

	foreach(lc, session_ids)
	{
		MemoryContext ctx = CurrentMemoryContext;
		const char *id = lfirst(lc);

		PG_TRY();
		{
			(void) pi_stop_session_kernel(id);
		}
		PG_CATCH();
		{
			ErrorData  *edata = worker_recover_from_error(ctx);

			ereport(LOG,
					(errmsg("pi worker %d: could not stop the kernel of expired session %s: %s",
							MyWorkerSlot + 1, id, edata->message)));
			FreeErrorData(edata);
		}
		PG_END_TRY();
	}
}

void
pi_worker_main(Datum main_arg)
{
	int			slot = DatumGetInt32(main_arg);
	TimestampTz last_rescue = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (slot < 0 || slot >= pi_shared->nslots)
		proc_exit(0);
	worker_take_slot(slot);

	BackgroundWorkerInitializeConnection(pi_database, NULL, 0);
	pgstat_report_appname(MyBgworkerEntry->bgw_name);
	wait_for_extension();

	JobLoopContext = AllocSetContextCreate(TopMemoryContext, "pi job loop",
										   ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		ClaimedJob	job = {0};

		/* what the last turn (its job, its result) allocated goes here */
		MemoryContextReset(JobLoopContext);
		MemoryContextSwitchTo(JobLoopContext);

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (TimestampDifferenceExceeds(last_rescue, GetCurrentTimestamp(), RESCUE_INTERVAL_MS))
		{
			List	   *expired = NIL;

			worker_run_in_transaction("pi worker: rescuing lost jobs", rescue_body, &expired);
			stop_expired_kernels(expired);
			last_rescue = GetCurrentTimestamp();
		}

		pi_wait_for_executor();
		worker_run_in_transaction("pi worker: claiming a job", claim_body, &job);
		if (job.id_text != NULL)
		{
			if (job.kind && strcmp(job.kind, "load_csv") == 0)
				run_load_job(&job);
			else
				run_job(&job);
			continue;			/* the queue may hold more: no sleep */
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 IDLE_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
