/*-------------------------------------------------------------------------
 *
 * job_end.c
 *	  A job's end as its worker writes it to pi.jobs: the result and final
 *	  status, or a lost run queued again; and the look at the row under its
 *	  lock that decides between cancelled and the job's own outcome.
 *
 * pi.cancel_job flags a running job's row (an UPDATE, so it holds the row
 * until it commits) and answers true.  A worker that reads the flag with
 * the row locked (job_end_lock_running) and writes the end in that same
 * transaction is in step with it: either the flag came first and the job
 * ends cancelled, or the job's end came first and pi.cancel_job, which
 * waited for the row, finds it finished and answers false.  Loads do so in
 * the transaction that loads their table, Python jobs when their run is
 * over: a run that ended just before its cancel was seen ends cancelled
 * too, with what it printed and returned kept (job_end_record_cancelled).
 * Every caller has SPI connected inside a transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "job_end.h"
#include "rescue.h"

/*
 * Lock the row of a job that runs in this server generation (boot_id), and
 * read whether a cancel was asked for.  Waits for a pi.cancel_job that
 * flags the row right now.  False when the row is not running here any
 * more (the job ended or was re-queued): it is not this worker's to end.
 */
bool
job_end_lock_running(const pg_uuid_t *job_id, int64 boot_id, bool *cancel_requested)
{
	bool		isnull;

	*cancel_requested = false;
	if (SPI_execute_with_args("SELECT cancel_requested FROM pi.jobs"
							  " WHERE id = $1 AND status = 'running' AND worker_boot = $2"
							  " FOR UPDATE",
							  2, (Oid[]) {UUIDOID, INT8OID},
							  (Datum[]) {UUIDPGetDatum(job_id), Int64GetDatum(boot_id)},
							  NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pi worker: locking the row of a job failed");
	if (SPI_processed == 0)
		return false;
	*cancel_requested = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
	return true;
}

/*
 * The job's result and status (the result's own, one of the final ones;
 * anything else is a failure), if the job still runs in this generation.
 */
void
job_end_record(const pg_uuid_t *job_id, const char *id_text, int64 boot_id,
			   const char *result_json)
{
	if (SPI_execute_with_args("UPDATE pi.jobs SET"
							  " status = CASE WHEN $2::jsonb ->> 'status' IN"
							  "   ('completed', 'failed', 'timeout', 'cancelled')"
							  "   THEN $2::jsonb ->> 'status' ELSE 'failed' END,"
							  " result = pi.note_session_kernel(session_id, $2::jsonb)"
							  "   || pi.attempt_note(attempts, retry_reason),"
							  " finished_at = clock_timestamp(), lease_until = NULL,"
							  " progress = CASE WHEN $2::jsonb ->> 'status' = 'completed' THEN 1"
							  "   ELSE progress END"
							  " WHERE id = $1 AND status = 'running' AND worker_boot = $3",
							  3, (Oid[]) {UUIDOID, TEXTOID, INT8OID},
							  (Datum[]) {UUIDPGetDatum(job_id), CStringGetTextDatum(result_json),
							  Int64GetDatum(boot_id)},
							  NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "pi worker: recording the end of job %s failed", id_text);
}

/*
 * The job ends cancelled, as pi.cancel_job answered, though its run ended
 * otherwise before the cancel was seen (result_json, the run's result), or
 * was lost with the executor (result_json NULL: not queued again).  What
 * the run printed and returned is kept; the error says it was cancelled,
 * and its detail how the run itself had ended.
 */
void
job_end_record_cancelled(const pg_uuid_t *job_id, const char *id_text, int64 boot_id,
						 const char *result_json)
{
	if (SPI_execute_with_args("UPDATE pi.jobs SET status = 'cancelled',"
							  " result = pi.note_session_kernel(session_id, CASE"
							  "   WHEN $2 IS NULL THEN pi.ended_result('cancelled', 'Cancelled',"
							  "     'the job was cancelled; the Python executor stopped while it ran')"
							  "   WHEN $2::jsonb ->> 'status' = 'cancelled' THEN $2::jsonb"
							  "   ELSE $2::jsonb || jsonb_build_object('status', 'cancelled',"
							  "     'error', jsonb_build_object('type', 'Cancelled',"
							  "       'message', 'the job was cancelled',"
							  "       'detail', 'Its code had already ended (' || coalesce($2::jsonb ->> 'status', 'no status')"
							  "         || coalesce(': ' || ($2::jsonb -> 'error' ->> 'message'), '')"
							  "         || ') when the cancel was seen; what it printed and returned is kept.'))"
							  "   END) || pi.attempt_note(attempts, retry_reason),"
							  " finished_at = clock_timestamp(), lease_until = NULL"
							  " WHERE id = $1 AND status = 'running' AND worker_boot = $3",
							  3, (Oid[]) {UUIDOID, TEXTOID, INT8OID},
							  (Datum[]) {UUIDPGetDatum(job_id),
							  result_json ? CStringGetTextDatum(result_json) : (Datum) 0,
							  Int64GetDatum(boot_id)},
							  (char[]) {' ', result_json ? ' ' : 'n', ' '},
							  false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "pi worker: recording the cancel of job %s failed", id_text);
}

/*
 * The executor died under the job (killed, or crashed): the job is not at
 * fault as far as we know, so it gets one more try.
 */
void
job_end_requeue_lost(const pg_uuid_t *job_id, const char *id_text, int64 boot_id)
{
	if (SPI_execute_with_args("UPDATE pi.jobs SET"
							  " status = CASE WHEN attempts < " PI_JOB_MAX_ATTEMPTS " THEN 'pending' ELSE 'failed' END,"
							  " started_at = CASE WHEN attempts < " PI_JOB_MAX_ATTEMPTS " THEN NULL ELSE started_at END,"
							  " finished_at = CASE WHEN attempts < " PI_JOB_MAX_ATTEMPTS " THEN NULL ELSE clock_timestamp() END,"
							  " lease_until = NULL, worker_pid = NULL,"
							  " retry_reason = 'the Python executor stopped, or dropped the connection,"
							  " while it ran',"
							  " result = CASE WHEN attempts < " PI_JOB_MAX_ATTEMPTS " THEN NULL ELSE"
							  "  pi.ended_result('failed', 'ExecutorLost', 'the Python executor stopped while"
							  " running this job, ' || attempts || ' time(s); it is not retried again') END"
							  " WHERE id = $1 AND status = 'running' AND worker_boot = $2",
							  2, (Oid[]) {UUIDOID, INT8OID},
							  (Datum[]) {UUIDPGetDatum(job_id), Int64GetDatum(boot_id)},
							  NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "pi worker: queueing job %s again failed", id_text);
}

static void
append_json_or_null(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, ", \"%s\": ", key);
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

/*
 * The result of a load that did not complete.  A cancelled load says so,
 * whatever error it stopped with: the timer's query cancel ("canceling
 * statement due to user request"), or another error that came with the
 * cancel or just before it, kept in the detail.
 */
char *
job_end_load_failure_json(const ErrorData *edata, bool cancelled)
{
	StringInfoData buf;
	const char *message = edata->message ? edata->message : "unknown error";
	const char *detail = edata->detail;
	const char *hint = edata->hint;
	const char *context = edata->context;

	if (cancelled)
	{
		detail = edata->sqlerrcode == ERRCODE_QUERY_CANCELED ? NULL :
			psprintf("The load had also stopped on an error: %s", message);
		message = "the load was cancelled";
		hint = context = NULL;
	}
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"status\": \"%s\", \"stdout\": \"\", \"stderr\": \"\", \"result\": null,"
					 " \"figures\": [], \"files\": [], \"elapsed_ms\": 0, \"error\": {\"type\": \"%s\"",
					 cancelled ? "cancelled" : "failed", cancelled ? "Cancelled" : "LoadError");
	append_json_or_null(&buf, "message", message);
	append_json_or_null(&buf, "detail", detail);
	append_json_or_null(&buf, "hint", hint);
	append_json_or_null(&buf, "context", context);
	appendStringInfoString(&buf, "}}");
	return buf.data;
}
