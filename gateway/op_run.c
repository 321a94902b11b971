/*-------------------------------------------------------------------------
 *
 * op_run.c
 *	  Running an operation of ops.c for a REST or MCP caller: a call that
 *	  can be stopped, that sends progress while it runs, and the waits of
 *	  issue 14 (execute_code runs that outlast a client's timeout go on as
 *	  jobs; get_job_result waits for a job's end).
 *
 * A call stops when its OpCall is cancelled (MCP notifications/cancelled)
 * or its client goes away: the backend query is cancelled, which makes
 * pi.execute stop its run and free its executor slot, and a run that
 * became a job is cancelled with pi.cancel_job.
 *
 *-------------------------------------------------------------------------
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "ops_internal.h"

/*
 * A running call looks at its OpCall this often: whether it was cancelled
 * or its client went away.  100 ms makes a cancel free the executor slot
 * "at once" for a person, and costs a poll() wake-up ten times a second.
 */
#define STOP_CHECK_MS 100
/* An MCP client that sent a progressToken hears from us this often. */
#define PROGRESS_INTERVAL_MS 1000
/* the most of a running job's stdout pi.job_result shows (JOB_LIVE_TAIL_BYTES) */
#define GW_LIVE_TAIL_KB 16

/* Seconds since start, from the monotonic clock. */
static double
seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) + (now.tv_nsec - start->tv_nsec) / 1e9;
}

void
op_cancel(OpCall *call)
{
	atomic_store(&call->cancelled, true);
}

static bool
call_stopped(OpCall *call)
{
	if (atomic_load(&call->cancelled))
		return true;
	if (call->client_gone != NULL && call->client_gone(call->client_arg))
	{
		atomic_store(&call->cancelled, true);
		return true;
	}
	return false;
}

/* Append at most max bytes of s (len bytes) to buf, cut between characters. */
static void
append_cut(char *buf, size_t size, const char *s, size_t len, size_t max)
{
	size_t		used = strlen(buf);

	if (len > max)
	{
		len = max;
		while (len > 0 && ((unsigned char) s[len] & 0xC0) == 0x80)
			len--;
	}
	if (used + len + 1 > size)
		return;
	memcpy(buf + used, s, len);
	buf[used + len] = '\0';
}

/*
 * The last line a job printed, without its newline; NULL if none.  *len
 * gets its length.
 */
static const char *
last_line(const char *out, size_t *len)
{
	size_t		end = out ? strlen(out) : 0;
	size_t		start;

	while (end > 0 && (out[end - 1] == '\n' || out[end - 1] == '\r'))
		end--;
	if (end == 0)
		return NULL;
	for (start = end; start > 0 && out[start - 1] != '\n'; start--)
		;
	*len = end - start;
	return out + start;
}

/*
 * A notifications/progress.  st is what the call knows of the run's own
 * reports: an unfinished job's status from pi.job_result, the latest
 * pi.progress NOTICE of a plain pi.execute (progress_notice), or NULL.  When
 * the code reported a fraction with pi.progress(), that is the progress,
 * out of a total of 1, and it repeats while the code reports nothing new;
 * otherwise progress is the seconds since the call began, to the ms, which
 * grows with every notification.  The message says how long it has run,
 * the code's progress message and the last line it printed.
 */
static void
send_progress(OpCall *call, double seconds, const char *what, json_t *st)
{
	char		msg[600];
	json_t	   *frac = json_object_get(st, "progress");
	const char *pmsg = json_string_value(json_object_get(st, "progress_message"));
	const char *line;
	size_t		len;
	json_t	   *note;

	if (call->progress_token == NULL || call->progress == NULL)
		return;
	snprintf(msg, sizeof(msg), "%s for %d s", what, (int) seconds);
	if (json_is_number(frac))
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), ", %.0f%%",
				 json_number_value(frac) * 100);
	if (pmsg != NULL && pmsg[0] != '\0')
	{
		append_cut(msg, sizeof(msg), ": ", 2, 2);
		append_cut(msg, sizeof(msg), pmsg, strlen(pmsg), 200);
	}
	if ((line = last_line(json_string_value(json_object_get(st, "stdout")), &len)) != NULL)
	{
		append_cut(msg, sizeof(msg), "; last output: ", 15, 15);
		append_cut(msg, sizeof(msg), line, len, 200);
	}
	if (json_is_number(frac))
	{
		double		f = json_number_value(frac);

		note = json_pack("{s:s,s:s,s:{s:O,s:f,s:i,s:o}}", "jsonrpc", "2.0",
						 "method", "notifications/progress", "params",
						 "progressToken", call->progress_token,
						 "progress", f < 0 ? 0 : f > 1 ? 1 : f, "total", 1,
						 "message", gw_json_string(msg));
	}
	else
		note = json_pack("{s:s,s:s,s:{s:O,s:f,s:o}}", "jsonrpc", "2.0",
						 "method", "notifications/progress", "params",
						 "progressToken", call->progress_token,
						 "progress", (double) (long) (seconds * 1000) / 1000,
						 "message", gw_json_string(msg));
	call->progress(call->progress_ctx, note);
}

/*
 * A NOTICE of the running statement: pi.execute relays the code's
 * pi.progress() reports as "pi.progress: {json}" (pi.progress_notices,
 * set by db.c); the latest is kept in *arg as {progress, progress_message},
 * the shape of a job's status, for send_progress.
 */
static void
progress_notice(void *arg, const PGresult *res)
{
	json_t	  **latest = (json_t **) arg;
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	json_t	   *report;

	if (msg == NULL || strncmp(msg, "pi.progress: ", 13) != 0 ||
		(report = json_loads(msg + 13, 0, NULL)) == NULL)
		return;
	json_decref(*latest);
	*latest = json_pack("{s:O?,s:O?}", "progress", json_object_get(report, "progress"),
						"progress_message", json_object_get(report, "message"));
	json_decref(report);
}

/*
 * Run one statement returning one jsonb value, watching call meanwhile:
 * progress every PROGRESS_INTERVAL_MS (counted from *started, with the
 * words `what`, and what the code last reported with pi.progress()), and a
 * stop (cancel, client gone) turns into a query cancel, so pi.execute
 * stops its run and frees its executor slot.  Returns the value, or NULL
 * with err set (code "cancelled" when stopped).
 */
static json_t *
exec_watched(PGconn *conn, const char *sql, int n, const char *const *values,
			 OpCall *call, const struct timespec *started, const char *what,
			 GwError *err)
{
	PGresult   *res = NULL,
			   *r;
	json_t	   *out = NULL;
	bool		cancel_sent = false;
	double		next_progress = seconds_since(started) + PROGRESS_INTERVAL_MS / 1000.0;
	json_t	   *reported = NULL;

	if (!PQsendQueryParams(conn, sql, n, NULL, values, NULL, NULL, 0))
	{
		db_error_from_result(conn, NULL, err);
		return NULL;
	}
	if (call->progress_token != NULL)
		db_listen_notices(conn, progress_notice, &reported);
	while (PQisBusy(conn))
	{
		struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
		int			ready = poll(&pfd, 1, STOP_CHECK_MS);
		double		now = seconds_since(started);

		if (ready > 0 && !PQconsumeInput(conn))
			break;
		if (!cancel_sent && call_stopped(call))
		{
			PGcancel   *cancel = PQgetCancel(conn);
			char		errbuf[256];

			if (cancel != NULL)
			{
				(void) PQcancel(cancel, errbuf, sizeof(errbuf));
				PQfreeCancel(cancel);
			}
			cancel_sent = true;
		}
		if (now >= next_progress)
		{
			send_progress(call, now, what, reported);
			next_progress = now + PROGRESS_INTERVAL_MS / 1000.0;
		}
	}
	while ((r = PQgetResult(conn)) != NULL)
	{
		PQclear(res);
		res = r;
	}
	db_listen_notices(conn, NULL, NULL);
	json_decref(reported);
	if (cancel_sent && PQstatus(conn) == CONNECTION_OK)
		gw_error_set(err, 499, "cancelled", "the call was cancelled by its client");
	else if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK)
		out = PQntuples(res) < 1 || PQgetisnull(res, 0, 0) ? json_null() :
			db_parse_json(PQgetvalue(res, 0, 0), err);
	else
		db_error_from_result(conn, res, err);
	if (out == NULL && err->http_status == 0)
		gw_error_set(err, 500, "internal_error", "unreadable result");
	PQclear(res);
	return out;
}

static bool
job_finished(json_t *result)
{
	const char *status = json_string_value(json_object_get(result, "status"));

	return status != NULL && strcmp(status, "pending") != 0 &&
		strcmp(status, "running") != 0;
}

/*
 * Wait up to wait_s seconds for job_id to end, with pi.job_result's own
 * wait (it looks at the job every few ms, so the end is seen at once).
 * With a progress token the wait is cut in slices of PROGRESS_INTERVAL_MS
 * and each slice ends with a notification saying how the job does.
 * Returns pi.job_result's last answer: the result, or the unfinished job's
 * status.
 */
static json_t *
wait_for_job(PGconn *conn, const char *job_id, double wait_s, OpCall *call,
			 const struct timespec *started, GwError *err)
{
	double		deadline = seconds_since(started) + wait_s;

	for (;;)
	{
		double		left = deadline - seconds_since(started);
		double		slice = left;
		char		wait[32];
		const char *values[2] = {job_id, wait};
		json_t	   *out;

		if (slice < 0)
			slice = 0;
		if (call->progress_token != NULL && slice > PROGRESS_INTERVAL_MS / 1000.0)
			slice = PROGRESS_INTERVAL_MS / 1000.0;
		snprintf(wait, sizeof(wait), "%.3f", slice);
		out = exec_watched(conn, "SELECT pi.job_result($1::uuid, $2::float8)",
						   2, values, call, started, "waiting", err);
		if (out == NULL || job_finished(out) || left <= slice)
			return out;
		if (call->progress_token != NULL)
		{
			char		what[40];

			snprintf(what, sizeof(what), "job %s",
					 json_string_value(json_object_get(out, "status")) ?
					 json_string_value(json_object_get(out, "status")) : "unfinished");
			send_progress(call, seconds_since(started), what, out);
		}
		json_decref(out);
	}
}

/*
 * execute_code's answer when the run outlasts the wait budget: it goes on
 * as the job it already is, and the answer says how to reach it.  out is
 * pi.job_result's unfinished answer; it is reshaped in place.
 */
static json_t *
still_running_answer(json_t *out, const char *job_id, double waited_s,
					 double budget)
{
	char		msg[1024];
	int			wait = (int) (budget + 0.999);

	snprintf(msg, sizeof(msg),
			 "The code is still running after %.0f s. It was not stopped or "
			 "restarted: it goes on as background job %s, in the same session. "
			 "Get its result with get_job_result {\"job_id\": \"%s\", \"wait\": %d}, "
			 "which waits up to %d s for the end (REST: GET /api/jobs/%s/result?wait=%d), "
			 "or stop it with cancel_job. stdout below is what it printed so far "
			 "(the newest %d KB at most); get_job_status shows more of it as it "
			 "grows, with what the code reports through pi.progress().",
			 waited_s, job_id, job_id, wait, wait, job_id, wait, GW_LIVE_TAIL_KB);
	json_object_set_new(out, "job_id", json_string(job_id));
	json_object_set_new(out, "still_running", json_true());
	json_object_set_new(out, "waited_s", json_integer((json_int_t) waited_s));
	/* pi.job_result's "stdout" is the output so far: kept */
	if (!json_is_string(json_object_get(out, "stdout")))
		json_object_set_new(out, "stdout", json_string(""));
	json_object_set_new(out, "stderr", json_string(""));
	json_object_set_new(out, "message", json_string(msg));
	return out;
}

/*
 * A number of seconds: 1 with *out set, 0 when absent.  op_check_args has
 * made sure that a present one is a finite number within its range.
 */
static int
arg_seconds(json_t *v, double *out)
{
	if (!json_is_number(v))
		return 0;
	*out = json_number_value(v);
	return 1;
}

/* The run's timeout: the argument, or pi.execute's default of 60 s. */
static double
execute_timeout(json_t *args)
{
	double		t = 60;

	(void) arg_seconds(json_object_get(args, "timeout"), &t);
	return t;
}

/*
 * execute_code whose run may outlast the wait budget: it runs as a job of
 * the session from the start (pi.submit_job), so that when the budget
 * runs out it simply goes on, and we wait for it with pi.job_result.  A
 * stop cancels the job.
 */
static json_t *
execute_as_job(PGconn *conn, json_t *args, double budget, OpCall *call,
			   GwError *err)
{
	const char *values[3] = {0};
	char		timeout[24];
	char		job_id[40];
	struct timespec started;
	json_t	   *job;
	json_t	   *out;

	clock_gettime(CLOCK_MONOTONIC, &started);
	snprintf(timeout, sizeof(timeout), "%d", (int) execute_timeout(args));
	values[0] = json_string_value(json_object_get(args, "code"));
	values[1] = timeout;
	values[2] = json_string_value(json_object_get(args, "session_id"));
	/* fail_if_busy: a job running in the session fails this at once */
	job = exec_watched(conn, "SELECT jsonb_build_object('job_id',"
					   " pi.submit_job($1, $2::int,"
					   " coalesce($3::uuid, pi.default_session()), true))",
					   3, values, call, &started, "submitting", err);
	if (job == NULL)
		return NULL;
	snprintf(job_id, sizeof(job_id), "%s",
			 json_string_value(json_object_get(job, "job_id")) ?
			 json_string_value(json_object_get(job, "job_id")) : "");
	json_decref(job);
	out = wait_for_job(conn, job_id, budget, call, &started, err);
	if (out == NULL && strcmp(err->code, "cancelled") == 0)
	{
		const char *id[1] = {job_id};
		GwError		e2 = {0};

		json_decref(db_exec_json(conn, "SELECT to_jsonb(pi.cancel_job($1::uuid))",
								 1, id, &e2));
		return NULL;
	}
	if (out != NULL && !job_finished(out))
		out = still_running_answer(out, job_id, seconds_since(&started), budget);
	return out;
}

/*
 * The wait budget of an execute_code call (0: none): its "wait" argument,
 * else the caller's default.  A run whose timeout fits in it runs as a
 * plain pi.execute, the fastest way; only one that may outlast it takes
 * the job path (execute_as_job).
 */
static double
wait_budget(const Operation *op, json_t *args, OpCall *call)
{
	double		budget = call->wait_budget_s;

	if (strcmp(op->name, "execute_code") != 0)
		return 0;
	(void) arg_seconds(json_object_get(args, "wait"), &budget);
	return budget > 0 && execute_timeout(args) > budget ? budget : 0;
}

/*
 * Run an operation for a caller that may stop it and may want progress:
 * REST routes and MCP tools.  execute_code may become a job (see
 * OpCall.wait_budget_s); get_job_result with a "wait" waits for the end.
 */
json_t *
op_run(const Operation *op, json_t *args, OpCall *call, GwError *err)
{
	const char *values[6] = {0};
	struct timespec started;
	PGconn	   *conn;
	json_t	   *out;
	double		budget;
	double		w;
	int			n;

	if (!op_check_args(op, args, err) || (conn = db_acquire(err)) == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &started);
	if ((budget = wait_budget(op, args, call)) > 0)
		out = execute_as_job(conn, args, budget, call, err);
	else if (strcmp(op->name, "get_job_result") == 0 &&
			 arg_seconds(json_object_get(args, "wait"), &w) > 0)
	{
		out = wait_for_job(conn, json_string_value(json_object_get(args, "job_id")),
						   w > 0 ? w : 0, call, &started, err);
	}
	else
	{
		n = op_params(op, args, values);
		out = op_finish(conn, op, values, n,
						exec_watched(conn, op->sql, n, values, call, &started,
									 "running", err), err);
	}
	db_release(conn);
	return out;
}
