/*-------------------------------------------------------------------------
 *
 * execute.c
 *	  pi.execute: run Python synchronously and return its result.
 *
 * The code goes straight to the executor over its socket, as
 * docs/architecture.md requires of sync runs: no queue row is inserted and
 * waited for, since a worker could not see an uncommitted row.  The wait is interruptible, so query cancel and
 * statement_timeout stop the run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "execute.h"
#include "executor_client.h"
#include "guc.h"
#include "jsonb_util.h"
#include "kept_plans.h"
#include "sessions.h"
#include "tenant_limits.h"
#include "tenants.h"

#define EXECUTE_DEFAULT_TIMEOUT_S 60

PG_FUNCTION_INFO_V1(pi_execute);

/*
 * pi.progress_notices: a sync run's pi.progress() reports go to the client
 * as NOTICEs (libpq delivers them while the statement runs), coalesced to
 * one per NOTICE_PROGRESS_MS, the latest winning, so a tight pi.progress()
 * loop costs the client a few messages a second.
 */
#define NOTICE_PROGRESS_MS 250

typedef struct NoticeProgress
{
	StringInfoData latest;		/* a report not yet sent; "" none */
	TimestampTz sent_at;
} NoticeProgress;

static void
notice_progress_send(NoticeProgress *np, bool force)
{
	if (np->latest.len == 0 ||
		(!force && !TimestampDifferenceExceeds(np->sent_at, GetCurrentTimestamp(),
											   NOTICE_PROGRESS_MS)))
		return;
	ereport(NOTICE,
			(errmsg("pi.progress: %s", np->latest.data)));
	resetStringInfo(&np->latest);
	np->sent_at = GetCurrentTimestamp();
}

static void
notice_on_progress(const char *progress_json, void *arg)
{
	NoticeProgress *np = (NoticeProgress *) arg;

	resetStringInfo(&np->latest);
	appendStringInfoString(&np->latest, progress_json);
	notice_progress_send(np, false);
}

static void
notice_on_tick(void *arg)
{
	notice_progress_send((NoticeProgress *) arg, false);
}

/*
 * Check the code argument shared by pi.execute and pi.submit_job, and return
 * it as a C string.
 */
char *
pi_checked_code(FunctionCallInfo fcinfo, int argno)
{
	text	   *code;
	int			len;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("code must not be null"),
				 errhint("Pass the Python source text to run, e.g. pi.execute('print(1)').")));
	code = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(code);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("code must not be empty"),
				 errhint("Pass the Python source text to run, e.g. pi.execute('print(1)').")));
	if (len > pi_max_code_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("code is too large"),
				 errdetail("The code has %d bytes; pi.max_code_bytes allows %d.",
						   len, pi_max_code_bytes),
				 errhint("Put large data in a workspace file and read it from the code.")));
	return text_to_cstring(code);
}

/* Check a timeout in seconds against its ceiling (a setting, by name). */
int
pi_checked_timeout(int timeout_s, int ceiling, const char *ceiling_name, const char *hint)
{
	if (timeout_s <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout_s must be between 1 and %d seconds (%s), not %d",
						ceiling, ceiling_name, timeout_s),
				 errhint("Pass the number of seconds the code may run.")));
	if (timeout_s > ceiling)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout_s %d exceeds %s (%d seconds)", timeout_s, ceiling_name, ceiling),
				 errhint("%s", hint)));
	return timeout_s;
}

/*
 * Turn a result frame into jsonb, refusing the answers that are errors of
 * the service rather than of the user's code.
 */
static Jsonb *
result_to_jsonb(const char *result_json, const char *kind)
{
	Jsonb	   *result;
	char	   *status;

	result = pi_jsonb_parse(result_json);
	status = pi_jsonb_string(result, "status");
	if (status != NULL && strcmp(status, "busy") == 0)
	{
		JsonbValue *error = getKeyJsonValueFromContainer(&result->root, "error", 5, NULL);
		char	   *detail = NULL;

		if (error && error->type == jbvBinary)
		{
			JsonbValue *msg = getKeyJsonValueFromContainer(error->val.binary.data,
														   "message", 7, NULL);

			if (msg && msg->type == jbvString)
				detail = pnstrdup(msg->val.string.val, msg->val.string.len);
		}
		JsonbValue *type = NULL;

		if (error && error->type == jbvBinary)
			type = getKeyJsonValueFromContainer(error->val.binary.data, "type", 4, NULL);
		if (type && type->type == jbvString &&
			strncmp(type->val.string.val, "SessionBusy", type->val.string.len) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("the session is busy with another run"),
					 detail ? errdetail_internal("%s", detail) : 0,
					 errhint("Wait for the other run to finish, or cancel it (pi.cancel_job() for a job).")));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("every Python executor slot for %s runs is busy", kind),
				 detail ? errdetail_internal("%s", detail) : 0,
				 errhint("Retry shortly, submit the work with pi.submit_job(), or raise pi.max_sync_executions.")));
	}
	return result;
}

/* The recording INSERT; $9 is the result as the history keeps it. */
#define RECORD_SYNC_RUN_SQL(stored) \
	"INSERT INTO pi.jobs (kind, session_id, code, timeout_s, status, " \
	"attempts, submitted_at, started_at, finished_at, submitted_by, result) " \
	"VALUES ('sync', $1, $2, $3, $4, 1, $5, $5, $6, $8::name, " stored ")"

/* the caller has the images; the history keeps their metadata */
#define STRIPPED_RESULT \
	"(SELECT CASE WHEN jsonb_typeof(r1 -> 'outputs') = 'array' THEN" \
	"   jsonb_set(r1, '{outputs}', coalesce((SELECT jsonb_agg(" \
	"     CASE WHEN jsonb_typeof(o -> 'data') = 'object'" \
	"     THEN jsonb_set(o, '{data}', (o -> 'data') - 'image/png' - 'image/jpeg')" \
	"     ELSE o END) FROM jsonb_array_elements(r1 -> 'outputs') o), '[]'::jsonb))" \
	"  ELSE r1 END" \
	"  FROM (SELECT CASE WHEN jsonb_typeof($7 -> 'figures') = 'array' THEN" \
	"   jsonb_set($7, '{figures}', coalesce((SELECT jsonb_agg(f - 'png_base64')" \
	"    FROM jsonb_array_elements($7 -> 'figures') f), '[]'::jsonb))" \
	"   ELSE $7 END AS r1) stripped)"

/*
 * Whether key of result is an array with elements: only then does the
 * stripping above change anything (it turns an empty array into an empty
 * array and leaves other values alone).
 */
static bool
has_elements(Jsonb *result, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&result->root, key, strlen(key), NULL);

	return v != NULL && v->type == jbvBinary &&
		JsonContainerIsArray(v->val.binary.data) &&
		JsonContainerSize(v->val.binary.data) > 0;
}

/*
 * Record a sync run in pi.jobs (kind 'sync') so that the history shows it,
 * without the figures' PNG data, which the caller already has.
 * This happens in the caller's transaction: a caller that rolls back also
 * rolls back the record, and a read-only transaction records nothing.
 *
 * Both INSERTs are planned once per backend.  The one that strips images
 * is used only when the result has figures or rich outputs: for the rest
 * (most runs, print(1) among them) it would store the result unchanged
 * and cost a few sub-selects and aggregates each time.
 */
static void
record_sync_run(const char *code, int timeout_s, pg_uuid_t *session_id,
				TimestampTz started, TimestampTz finished, Jsonb *result)
{
	static SPIPlanPtr plain_plan = NULL;
	static SPIPlanPtr stripping_plan = NULL;
	static Oid	argtypes[] = {UUIDOID, TEXTOID, INT4OID, TEXTOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID, JSONBOID, TEXTOID};
	char	   *status = pi_jsonb_string(result, "status");
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	SPIPlanPtr	plan;

	if (!pi_record_sync_runs || XactReadOnly || status == NULL)
		return;

	values[0] = session_id ? UUIDPGetDatum(session_id) : (Datum) 0;
	if (!session_id)
		nulls[0] = 'n';
	values[1] = CStringGetTextDatum(code);
	values[2] = Int32GetDatum(timeout_s);
	values[3] = CStringGetTextDatum(status);
	values[4] = TimestampTzGetDatum(started);
	values[5] = TimestampTzGetDatum(finished);
	values[6] = JsonbPGetDatum(result);
	values[7] = CStringGetTextDatum(pi_caller_name());

	SPI_connect();
	if (has_elements(result, "figures") || has_elements(result, "outputs"))
		plan = pi_kept_plan(&stripping_plan, RECORD_SYNC_RUN_SQL(STRIPPED_RESULT),
							8, argtypes);
	else
		plan = pi_kept_plan(&plain_plan, RECORD_SYNC_RUN_SQL("$7"), 8, argtypes);
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the run in pi.jobs");
	SPI_finish();
}

/* pi.note_session_kernel: track whether the session holds Python state. */
static Jsonb *
note_session_kernel(pg_uuid_t *session_id, Jsonb *result)
{
	static SPIPlanPtr plan = NULL;
	static Oid	argtypes[] = {UUIDOID, JSONBOID};
	Jsonb	   *noted = result;
	bool		isnull;
	Datum		value;
	MemoryContext outer = CurrentMemoryContext;

	SPI_connect();
	if (SPI_execute_plan(pi_kept_plan(&plan, "SELECT pi.note_session_kernel($1, $2)",
									  2, argtypes),
						 (Datum[]) {UUIDPGetDatum(session_id), JsonbPGetDatum(result)},
						 NULL, false, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
		{
			MemoryContext spi = MemoryContextSwitchTo(outer);

			noted = DatumGetJsonbPCopy(value);
			MemoryContextSwitchTo(spi);
		}
	}
	SPI_finish();
	return noted;
}

/*
 * How long a run waits for a job running in its session to end (or to be
 * cancelled) before failing: long enough for a client that cancels the job
 * and at once sends the next run (the MCP SDK does not wait for its
 * notifications/cancelled to arrive) or for a job about to end, short
 * enough to be "at once" next to a run's timeout.
 */
#define SESSION_BUSY_GRACE_MS 2000
#define SESSION_BUSY_LOOK_MS 50

/*
 * The oldest async job running in the session and not being cancelled:
 * its id, seconds running and timeout; false when there is none.
 */
static bool
session_running_job(pg_uuid_t *session_id, char **job, char **started, char **timeout)
{
	static SPIPlanPtr plan = NULL;
	static Oid	argtypes[] = {UUIDOID};
	MemoryContext outer = CurrentMemoryContext;
	bool		found = false;

	SPI_connect();
	if (SPI_execute_plan(pi_kept_plan(&plan,
									  "SELECT id::text, round(extract(epoch FROM clock_timestamp() - started_at))::text,"
									  " timeout_s::text FROM pi.jobs"
									  " WHERE session_id = $1 AND kind = 'async' AND status = 'running'"
									  " AND NOT cancel_requested"
									  " ORDER BY started_at LIMIT 1",
									  1, argtypes),
						 (Datum[]) {UUIDPGetDatum(session_id)},
						 NULL, false, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *s = SPI_getvalue(row, desc, 2);

		*job = MemoryContextStrdup(outer, SPI_getvalue(row, desc, 1));
		*started = MemoryContextStrdup(outer, s ? s : "?");
		*timeout = MemoryContextStrdup(outer, SPI_getvalue(row, desc, 3));
		found = true;
	}
	SPI_finish();
	return found;
}

/*
 * Fail (within SESSION_BUSY_GRACE_MS) when a job is running in the
 * session: runs of one session take turns, so this run would wait in the
 * executor for its whole timeout and then fail with SessionBusy, while the
 * job may run for many minutes.  A run that merely overlaps another sync
 * run still waits its turn, since that one is bounded by its caller's own
 * patience, and so does one behind a job being cancelled, which ends
 * within seconds.  pi.submit_job asks the same when told to (fail_if_busy),
 * for the gateway's execute_code runs that go on as jobs.
 */
void
pi_check_session_not_running_job(pg_uuid_t *session_id)
{
	char	   *job,
			   *started,
			   *timeout;
	TimestampTz give_up = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  SESSION_BUSY_GRACE_MS);

	while (session_running_job(session_id, &job, &started, &timeout))
	{
		if (GetCurrentTimestamp() >= give_up)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("the session is busy running job %s", job),
					 errdetail("Job %s has been running in this session for %s s (its timeout is %s s), and runs of one session take turns.",
							   job, started, timeout),
					 errhint("Wait for it with pi.job_result('%s', wait_s), cancel it with pi.cancel_job('%s'), or run this code in another session.",
							 job, job)));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 SESSION_BUSY_LOOK_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * pi.execute(code text, timeout_s int DEFAULT 60, session_id uuid DEFAULT NULL)
 * returns jsonb
 */
Datum
pi_execute(PG_FUNCTION_ARGS)
{
	char	   *code = pi_checked_code(fcinfo, 0);
	int			timeout_s;
	pg_uuid_t  *session_id = PG_ARGISNULL(2) ? NULL : PG_GETARG_UUID_P(2);
	PiRunRequest req = {0};
	PiRunCallbacks callbacks = {0};
	NoticeProgress np;
	char	   *result_json;
	TimestampTz started;
	Jsonb	   *result;
	PiSyncSlot	slot;
	PiRunOutcome outcome;
	PiTally		tally = {0};

	timeout_s = pi_checked_timeout(PG_ARGISNULL(1) ? EXECUTE_DEFAULT_TIMEOUT_S : PG_GETARG_INT32(1),
								   pi_max_execution_time, "pi.max_execution_time",
								   "Pass a smaller timeout_s, or submit long work with pi.submit_job().");

	req.kind = "sync";
	req.owner = pi_caller_name();
	req.code = code;
	req.timeout_s = timeout_s;
	if (session_id)
	{
		bool		is_default = false;

		req.workspace = pi_session_lookup(session_id, true, &is_default);
		/* a default session is a workspace only: a fresh interpreter, no turns */
		if (!is_default)
		{
			pi_check_session_not_running_job(session_id);
			req.session_id = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(session_id)));
		}
	}

	/*
	 * The tenant's storage and concurrency limits, last: a call refused by
	 * them holds nothing.  The slot is released however the run ends.
	 */
	if (session_id)
		pi_tenant_require_workspace_room(req.workspace, &req, &tally);
	if (req.session_id)
		pi_tenant_session_limit(req.owner, &req);
	if (pi_progress_notices)
	{
		initStringInfo(&np.latest);
		np.sent_at = 0;
		callbacks.on_progress = notice_on_progress;
		callbacks.on_tick = notice_on_tick;
		callbacks.tick_ms = NOTICE_PROGRESS_MS;
		callbacks.arg = &np;
	}
	slot = pi_tenant_take_sync_slot(req.owner);
	started = GetCurrentTimestamp();

	/*
	 * Until the run has ended and its workspace is measured, the tenant's
	 * other calls measure this session themselves (workspace_tally.c).
	 */
	pi_tally_run_started(&tally);
	PG_TRY();
	{
		outcome = pi_run_code(&req, pi_progress_notices ? &callbacks : NULL, &result_json);
	}
	PG_CATCH();
	{
		pi_tenant_release_sync_slot(slot);
		pi_tally_run_ended(&tally, false);
		PG_RE_THROW();
	}
	PG_END_TRY();
	pi_tenant_release_sync_slot(slot);
	pi_tally_run_ended(&tally, true);
	if (outcome == PI_RUN_EXECUTOR_LOST)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("the Python executor stopped while running this code"),
				 errdetail("The executor process exited before it answered; it is restarted automatically."),
				 errhint("Run the code again; if this repeats, see the server log.")));

	if (pi_progress_notices)
		notice_progress_send(&np, true);	/* the last report, if held back */
	result = result_to_jsonb(result_json, "sync");
	if (req.session_id && !XactReadOnly)
		result = note_session_kernel(session_id, result);
	record_sync_run(code, timeout_s, session_id, started, GetCurrentTimestamp(), result);
	PG_RETURN_JSONB_P(result);
}
