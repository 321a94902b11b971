/*-------------------------------------------------------------------------
 *
 * jobs.c
 *	  The async job functions: pi.submit_job, pi.job_status, pi.job_result
 *	  and pi.cancel_job.
 *
 * A job is a row of pi.jobs.  pi.submit_job inserts it in the caller's
 * transaction and wakes the workers at commit (shmem.c); the workers
 * (bgworker/worker.c) claim, run and finish it.  These functions only read
 * the row, or flag it, and never wait for Python; pi.job_result may wait
 * for the row to show the job's end.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "execute.h"
#include "guc.h"
#include "jsonb_util.h"
#include "sessions.h"
#include "shmem.h"
#include "tenant_limits.h"
#include "tenants.h"

PG_FUNCTION_INFO_V1(pi_submit_job);
PG_FUNCTION_INFO_V1(pi_job_status);
PG_FUNCTION_INFO_V1(pi_job_result);
PG_FUNCTION_INFO_V1(pi_cancel_job);

/* Statuses after which a job never changes again. */
#define FINISHED_STATUSES "('completed', 'failed', 'timeout', 'cancelled')"

static pg_uuid_t *
checked_job_id(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job_id must not be null"),
				 errhint("Pass the id that pi.submit_job() returned.")));
	return PG_GETARG_UUID_P(0);
}

static void
report_unknown_job(pg_uuid_t *job_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("job %s does not exist",
					DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(job_id)))),
			 errhint("Pass the id that pi.submit_job() returned; a job of another role is not visible.")));
}

/*
 * Run a one-row query with the job id as $1 and return its first column, a
 * jsonb copied out of SPI; NULL when no row matched.  With flag, the
 * query's second column, a boolean, goes there (false when NULL or no row).
 */
static Jsonb *
job_query_jsonb(const char *sql, pg_uuid_t *job_id, bool *flag)
{
	Jsonb	   *result = NULL;
	bool		isnull;
	Datum		value;

	if (flag != NULL)
		*flag = false;
	SPI_connect();
	if (SPI_execute_with_args(sql, 1, (Oid[]) {UUIDOID},
							  (Datum[]) {UUIDPGetDatum(job_id)}, NULL,
							  false, 1) < 0)
		elog(ERROR, "could not read job");
	if (SPI_processed == 1)
	{
		value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			result = DatumGetJsonbP(SPI_datumTransfer(value, false, -1));
		if (flag != NULL)
		{
			value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
			*flag = !isnull && DatumGetBool(value);
		}
	}
	SPI_finish();
	return result;
}

/*
 * pi.submit_job(code text, timeout_s int DEFAULT NULL, session_id uuid
 * DEFAULT NULL) returns uuid
 *
 * pi.submit_job(code, timeout_s, session_id, fail_if_busy boolean): with
 * fail_if_busy, refuse at once, as pi.execute does, when a job already runs
 * in the session, instead of queueing behind it.  The gateway's execute_code
 * uses it for runs that may outlast a client's timeout.
 */
Datum
pi_submit_job(PG_FUNCTION_ARGS)
{
	char	   *code = pi_checked_code(fcinfo, 0);
	int			timeout_s;
	pg_uuid_t  *session_id = PG_ARGISNULL(2) ? NULL : PG_GETARG_UUID_P(2);
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	Datum		id;
	bool		isnull;

	if (pi_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("power_interpreter is not loaded at server start, so no worker would run this job"),
				 errhint("Add power_interpreter to shared_preload_libraries in postgresql.conf and restart the server.")));

	timeout_s = pi_checked_timeout(PG_ARGISNULL(1) ? pi_job_timeout : PG_GETARG_INT32(1),
								   pi_max_job_timeout, "pi.max_job_timeout",
								   "Pass a smaller timeout_s, or raise pi.max_job_timeout.");
	if (session_id)
	{
		bool		is_default = false;
		PiRunRequest room = {0};
		PiTally		tally;

		(void) pi_session_lookup(session_id, true, &is_default);
		/* the run itself is counted by the job worker that runs it */
		pi_tenant_require_workspace_room(pi_session_workspace(session_id, true), &room, &tally);
		/* a default session's runs do not take turns (pi.default_session) */
		if (!is_default && PG_NARGS() > 3 && !PG_ARGISNULL(3) && PG_GETARG_BOOL(3))
			pi_check_session_not_running_job(session_id);
	}
	pi_tenant_check_jobs(pi_caller_name());

	values[0] = CStringGetTextDatum(code);
	values[1] = Int32GetDatum(timeout_s);
	values[2] = session_id ? UUIDPGetDatum(session_id) : (Datum) 0;
	if (!session_id)
		nulls[2] = 'n';
	values[3] = CStringGetTextDatum(pi_caller_name());

	SPI_connect();
	if (SPI_execute_with_args("INSERT INTO pi.jobs (code, timeout_s, session_id, submitted_by) "
							  "VALUES ($1, $2, $3, $4::name) RETURNING id",
							  4, (Oid[]) {TEXTOID, INT4OID, UUIDOID, TEXTOID},
							  values, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not insert the job");
	id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	id = SPI_datumTransfer(id, false, UUID_LEN);
	SPI_finish();

	pi_wake_workers();
	PG_RETURN_DATUM(id);
}

/*
 * A job's output so far, as pi.job_status and an unfinished pi.job_result
 * show it: the newest bytes the worker wrote (bgworker/job_live.c), how
 * many bytes the job printed in all, and whether older ones are not shown.
 */
#define JOB_LIVE_OUTPUT_SQL \
	" 'stdout', coalesce(j.stdout_tail, '')," \
	" 'stdout_bytes', coalesce(j.stdout_bytes, 0)," \
	" 'stdout_truncated', coalesce(j.stdout_bytes > octet_length(j.stdout_tail), false)"

/*
 * pi.job_status(job_id uuid) returns jsonb
 */
Datum
pi_job_status(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *job_id = checked_job_id(fcinfo);
	Jsonb	   *status;

	status = job_query_jsonb(
							 "SELECT jsonb_build_object("
							 " 'job_id', j.id, 'status', j.status, 'kind', j.kind,"
							 " 'progress', j.progress, 'progress_message', j.progress_message,"
							 JOB_LIVE_OUTPUT_SQL ","
							 " 'elapsed_ms', CASE WHEN j.started_at IS NULL THEN 0 ELSE"
							 "   round(extract(epoch FROM coalesce(j.finished_at, clock_timestamp())"
							 "                 - j.started_at) * 1000) END,"
							 " 'queue_position', CASE WHEN j.status = 'pending' THEN"
							 "   (SELECT count(*) FROM pi.jobs p WHERE p.status = 'pending'"
							 "    AND (p.submitted_at, p.id) < (j.submitted_at, j.id)) + 1 END,"
							 " 'attempts', j.attempts, 'timeout_s', j.timeout_s,"
							 " 'notice', pi.attempt_note(j.attempts, j.retry_reason) -> 'notice',"
							 " 'session_id', j.session_id,"
							 " 'cancel_requested', j.cancel_requested,"
							 " 'submitted_at', j.submitted_at, 'started_at', j.started_at,"
							 " 'finished_at', j.finished_at)"
							 " || jsonb_build_object('attempt', j.attempts)"
							 " FROM pi.jobs j WHERE j.id = $1 AND pi.caller_sees(j.submitted_by)",
							 job_id, NULL);
	if (status == NULL)
		report_unknown_job(job_id);

	/* a load reports its COPY progress through shared memory */
	{
		double		shared_progress = pi_job_progress(job_id);

		if (shared_progress >= 0)
			status = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(status),
														JsonbPGetDatum(pi_jsonb_parse(psprintf("{\"progress\": %.4f, \"progress_message\": \"loading rows\"}",
																															   shared_progress)))));
	}
	PG_RETURN_JSONB_P(status);
}

/* pi.job_result's answer: the result once finished, else the status. */
#define JOB_RESULT_SQL \
	"SELECT CASE" \
	" WHEN j.status IN " FINISHED_STATUSES " AND j.result IS NOT NULL THEN" \
	"   j.result || jsonb_build_object('job_id', j.id, 'status', j.status)" \
	" WHEN j.status IN " FINISHED_STATUSES " THEN" \
	"   pi.ended_result(j.status, 'JobEnded', 'the job ended with status '" \
	"     || j.status || ' before it produced a result')" \
	"   || jsonb_build_object('job_id', j.id)" \
	" ELSE jsonb_build_object('job_id', j.id, 'status', j.status," \
	"   'progress', j.progress, 'progress_message', j.progress_message," \
	JOB_LIVE_OUTPUT_SQL "," \
	"   'message', 'the job has not finished yet; call pi.job_result() again later" \
	" or follow it with pi.job_status()')" \
	" END, j.status IN " FINISHED_STATUSES " FROM pi.jobs j" \
	" WHERE j.id = $1 AND pi.caller_sees(j.submitted_by)"

/*
 * How often a waiting pi.job_result looks at the row: every
 * JOB_WAIT_SHORT_MS during the first JOB_WAIT_SHORT_FOR_MS, then every
 * JOB_WAIT_LONG_MS.  A short job (the gateway runs execute_code as one when
 * it may outlast a client's timeout) is thus seen within a few ms of its
 * end, which keeps that path close to pi.execute's latency, and a long one
 * costs a cheap primary-key lookup ten times a second.  The workers do not
 * signal the end of a job to other backends, so looking is the only way.
 */
#define JOB_WAIT_SHORT_MS 3
#define JOB_WAIT_SHORT_FOR_MS 1000
#define JOB_WAIT_LONG_MS 100


/*
 * pi.job_result(job_id uuid) returns jsonb: the result in pi.execute's shape
 * with the job's status, or, while the job has not finished, its status and
 * a note saying so.
 *
 * pi.job_result(job_id uuid, wait_s double precision) first waits up to
 * wait_s seconds for the job to finish.  The wait is interruptible (query
 * cancel, statement_timeout), and each look uses a fresh snapshot, so it
 * sees the end of the job in a READ COMMITTED transaction (in REPEATABLE
 * READ the job never seems to end: the function then just waits).
 */
Datum
pi_job_result(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *job_id = checked_job_id(fcinfo);
	double		wait_s = (PG_NARGS() > 1 && !PG_ARGISNULL(1)) ? PG_GETARG_FLOAT8(1) : 0;
	TimestampTz deadline;
	TimestampTz start = GetCurrentTimestamp();
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext looks;
	Jsonb	   *result;
	bool		finished;

	if (wait_s < 0 || isnan(wait_s))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wait_s must be 0 or more seconds (waits past 86400 are cut to 86400), not %g",
						wait_s),
				 errhint("Pass how many seconds to wait for the job to finish, or 0 not to wait.")));
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   (int64) (Min(wait_s, 86400.0) * 1000));
	looks = AllocSetContextCreate(CurrentMemoryContext, "pi job_result wait",
								  ALLOCSET_SMALL_SIZES);
	for (;;)
	{
		long		left_ms,
					interval_ms;

		MemoryContextReset(looks);
		MemoryContextSwitchTo(looks);
		result = job_query_jsonb(JOB_RESULT_SQL, job_id, &finished);
		MemoryContextSwitchTo(outer);
		if (result == NULL)
			report_unknown_job(job_id);
		left_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (finished || left_ms <= 0)
			break;
		interval_ms = TimestampDifferenceExceeds(start, GetCurrentTimestamp(),
												 JOB_WAIT_SHORT_FOR_MS) ?
			JOB_WAIT_LONG_MS : JOB_WAIT_SHORT_MS;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(interval_ms, left_ms), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	result = DatumGetJsonbPCopy(JsonbPGetDatum(result));
	MemoryContextDelete(looks);
	PG_RETURN_JSONB_P(result);
}

/*
 * pi.cancel_job(job_id uuid) returns boolean: true when a pending job was
 * dequeued or a running job was asked to stop, false when the job had
 * already finished.  A job it answered true for ends cancelled: its worker
 * writes the end with the row locked, after a last look at the flag this
 * sets (bgworker/job_end.c), and this waits for that lock.
 */
Datum
pi_cancel_job(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *job_id = checked_job_id(fcinfo);
	Jsonb	   *outcome;
	char	   *what;

	/*
	 * A pending job is dequeued in place.  If a worker is claiming it right
	 * now, the UPDATE waits for the claim and then finds it running, but the
	 * statement's snapshot still shows it pending, so the flagging UPDATE
	 * misses it: a fresh statement (new snapshot) tries again.
	 */
	for (int attempt = 0;; attempt++)
	{
		Jsonb	   *now;

		outcome = job_query_jsonb(
								  "WITH dequeued AS ("
								  "  UPDATE pi.jobs SET status = 'cancelled', finished_at = clock_timestamp(),"
								  "   result = pi.ended_result('cancelled', 'Cancelled',"
								  "     'the job was cancelled before it started')"
								  "  WHERE id = $1 AND status = 'pending' AND pi.caller_sees(submitted_by)"
								  "  RETURNING id),"
								  " flagged AS ("
								  "  UPDATE pi.jobs SET cancel_requested = true"
								  "  WHERE id = $1 AND status = 'running' AND pi.caller_sees(submitted_by)"
								  "  AND NOT EXISTS (SELECT 1 FROM dequeued)"
								  "  RETURNING id)"
								  " SELECT to_jsonb(CASE"
								  "  WHEN EXISTS (SELECT 1 FROM dequeued) THEN 'dequeued'"
								  "  WHEN EXISTS (SELECT 1 FROM flagged) THEN 'flagged'"
								  "  WHEN EXISTS (SELECT 1 FROM pi.jobs WHERE id = $1"
								  "   AND pi.caller_sees(submitted_by)) THEN 'finished'"
								  "  ELSE 'unknown' END)",
								  job_id, NULL);
		what = outcome ? JsonbToCString(NULL, &outcome->root, VARSIZE(outcome)) : "\"unknown\"";
		if (strcmp(what, "\"finished\"") != 0 || attempt >= 2)
			break;
		now = job_query_jsonb("SELECT to_jsonb(status IN ('pending', 'running'))"
							  " FROM pi.jobs WHERE id = $1 AND pi.caller_sees(submitted_by)", job_id, NULL);
		if (now == NULL || strcmp(JsonbToCString(NULL, &now->root, VARSIZE(now)), "true") != 0)
			break;
	}
	if (strcmp(what, "\"unknown\"") == 0)
		report_unknown_job(job_id);
	if (strcmp(what, "\"dequeued\"") == 0)
		PG_RETURN_BOOL(true);
	if (strcmp(what, "\"flagged\"") == 0)
	{
		/* the worker also sees the flag in the row if it missed this */
		(void) pi_request_cancel(job_id);
		PG_RETURN_BOOL(true);
	}
	PG_RETURN_BOOL(false);
}
