/*-------------------------------------------------------------------------
 *
 * ops.c
 *	  The operations of pi-gateway: for each, the one SQL call it makes, its
 *	  arguments, and the description and JSON schemas an assistant reads.
 *
 * This table is the single source of truth shared by the REST routes
 * (routes.c maps a request onto an operation's arguments), the MCP tools
 * (mcp.c lists and calls them by name) and the OpenAPI document.  Every SQL
 * text returns one jsonb object and takes its arguments as $n parameters in
 * the order of `params`; nothing is ever spliced into SQL text.
 *
 *-------------------------------------------------------------------------
 */
#include <poll.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

#define S_SESSION \
	"\"session_id\":{\"type\":\"string\",\"format\":\"uuid\",\"description\":" \
	"\"Session whose workspace and Python state to use. Over MCP it defaults " \
	"to the conversation's own session, so variables and files persist " \
	"across calls.\"}"
#define S_TIMEOUT(dflt) \
	"\"timeout\":{\"type\":\"integer\",\"minimum\":1,\"description\":" \
	"\"Wall-clock limit in seconds (default " dflt "; the server caps it " \
	"at pi.max_execution_time).\"}"
#define S_JOB_ID \
	"\"job_id\":{\"type\":\"string\",\"format\":\"uuid\"," \
	"\"description\":\"Id returned by submit_job or load_dataset.\"}"
#define S_EXEC_OUT \
	"{\"type\":\"object\",\"properties\":{" \
	"\"status\":{\"type\":\"string\"},\"stdout\":{\"type\":\"string\"}," \
	"\"stderr\":{\"type\":\"string\"},\"result\":{}," \
	"\"error\":{},\"figures\":{\"type\":\"array\"}," \
	"\"files\":{\"type\":\"array\"},\"elapsed_ms\":{}," \
	"\"job_id\":{\"type\":\"string\"},\"still_running\":{\"type\":\"boolean\"}," \
	"\"message\":{\"type\":\"string\"}},\"required\":[\"status\"]}"

static const Operation operations[] = {
	{
		"execute_code", "Run Python code",
		"Run Python 3 code in a sandbox and wait for it (it may run `timeout` "
		"seconds, default 60). A run still going after the wait budget (`wait`, "
		"default 45 s over MCP, under common client timeouts) is not stopped: "
		"it goes on as a background job, and the answer says so with its "
		"job_id; then call get_job_result with job_id and wait. pandas, numpy, matplotlib, seaborn, scipy, "
		"sklearn and statsmodels are available; there is no network. Within a "
		"session, variables, imports and files persist between calls, so build "
		"on earlier results instead of recomputing. The working directory is the "
		"session workspace: files written there can be listed and downloaded, "
		"and uploaded files are read from there. Returns stdout, stderr, the "
		"value of the last expression (DataFrames as tables), every matplotlib "
		"figure as a PNG image, and the traceback on error. To start work "
		"and come back later without waiting, use submit_job.",
		"SELECT pi.execute($1, coalesce($2::int, 60), $3::uuid)",
		"pi.execute(text,integer,uuid)",
		{"code", "timeout", "session_id"}, true, OP_EXECUTE,
		"{\"type\":\"object\",\"properties\":{"
		"\"code\":{\"type\":\"string\",\"description\":\"Python source to run.\"},"
		S_TIMEOUT("60") "," S_SESSION ","
		"\"wait\":{\"type\":\"number\",\"minimum\":0,\"description\":"
		"\"Seconds to wait for the run before it goes on as a background job "
		"(over MCP default PI_GATEWAY_EXECUTE_WAIT, 45; over REST no limit "
		"unless given).\"}},\"required\":[\"code\"]}",
		S_EXEC_OUT, false
	},
	{
		"submit_job", "Start a background Python job",
		"Queue Python code to run in the background and return its job_id at "
		"once. Use it for long work (up to pi.job_timeout, default 600 s); "
		"follow it with get_job_status, and get_job_result with `wait` to "
		"wait for the end. A job runs in the session's own Python state, like "
		"execute_code: it sees the variables, imports and files of earlier "
		"runs, and what it defines stays for later ones. Runs of one session "
		"take turns, so while the job runs, execute_code in the same session "
		"fails at once saying the session is busy (use another session, or "
		"cancel_job).",
		"SELECT jsonb_build_object('job_id', pi.submit_job($1, $2::int, $3::uuid),"
		" 'status', 'pending')",
		"pi.submit_job(text,integer,uuid)",
		{"code", "timeout", "session_id"}, true, OP_GENERIC,
		"{\"type\":\"object\",\"properties\":{"
		"\"code\":{\"type\":\"string\",\"description\":\"Python source to run.\"},"
		S_TIMEOUT("pi.job_timeout") "," S_SESSION "},\"required\":[\"code\"]}",
		"{\"type\":\"object\",\"properties\":{\"job_id\":{\"type\":\"string\"},"
		"\"status\":{\"type\":\"string\"}},\"required\":[\"job_id\",\"status\"]}",
		false
	},
	{
		"get_job_status", "Check a background job",
		"Return a job's status (pending, running, completed, failed, timeout, "
		"cancelled), elapsed time, progress and queue position. Cheap: poll it "
		"every few seconds while a job runs.",
		"SELECT pi.job_status($1::uuid)", "pi.job_status(uuid)",
		{"job_id"}, false, OP_GENERIC,
		"{\"type\":\"object\",\"properties\":{" S_JOB_ID "},"
		"\"required\":[\"job_id\"]}",
		"{\"type\":\"object\",\"properties\":{\"job_id\":{\"type\":\"string\"},"
		"\"status\":{\"type\":\"string\"},\"elapsed_ms\":{},\"progress\":{},"
		"\"queue_position\":{}},\"required\":[\"status\"]}",
		false
	},
	{
		"get_job_result", "Get a background job's output",
		"Return a finished job's stdout, stderr, last value, figures and error, "
		"shaped like execute_code's result. With `wait`, first wait up to that "
		"many seconds for the job to end (with progress notifications when you "
		"send a progressToken); keep it under your client's request timeout. "
		"While the job is unfinished it returns its status and progress only.",
		"SELECT pi.job_result($1::uuid, coalesce($2::float8, 0))",
		"pi.job_result(uuid,double precision)",
		{"job_id", "wait"}, false, OP_EXECUTE,
		"{\"type\":\"object\",\"properties\":{" S_JOB_ID ","
		"\"wait\":{\"type\":\"number\",\"minimum\":0,\"description\":"
		"\"Seconds to wait for the job to end before answering (default 0).\"}},"
		"\"required\":[\"job_id\"]}",
		S_EXEC_OUT, false
	},
	{
		"cancel_job", "Cancel a background job",
		"Cancel a pending or running job. Returns cancelled=false when the job "
		"had already finished.",
		"SELECT jsonb_build_object('job_id', $1::uuid,"
		" 'cancelled', pi.cancel_job($1::uuid))",
		"pi.cancel_job(uuid)",
		{"job_id"}, false, OP_GENERIC,
		"{\"type\":\"object\",\"properties\":{" S_JOB_ID "},"
		"\"required\":[\"job_id\"]}",
		"{\"type\":\"object\",\"properties\":{\"job_id\":{\"type\":\"string\"},"
		"\"cancelled\":{\"type\":\"boolean\"}},\"required\":[\"cancelled\"]}",
		false
	},
	{
		"create_session", "Create a session",
		"Create a new session: its own workspace directory and Python state. "
		"Over MCP you rarely need this, since each conversation gets a session "
		"on first use; create one to start from a clean slate.",
		"SELECT jsonb_build_object('session_id', pi.create_session($1))",
		"pi.create_session(text)",
		{"label"}, false, OP_GENERIC,
		"{\"type\":\"object\",\"properties\":{\"label\":{\"type\":\"string\","
		"\"description\":\"Optional name to recognise the session by.\"}}}",
		"{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"}},"
		"\"required\":[\"session_id\"]}",
		false
	},
	{
		"list_files", "List workspace files",
		"List the files in the session workspace (path, size, modified, mime): "
		"uploads, and everything the code wrote.",
		"SELECT jsonb_build_object('session_id', $1::uuid, 'files',"
		" coalesce((SELECT jsonb_agg(to_jsonb(f) ORDER BY f.path)"
		" FROM pi.list_files($1::uuid) f), '[]'::jsonb))",
		"pi.list_files(uuid)",
		{"session_id"}, true, OP_GENERIC,
		"{\"type\":\"object\",\"properties\":{" S_SESSION "}}",
		"{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"},"
		"\"files\":{\"type\":\"array\"}},\"required\":[\"files\"]}",
		false
	},
	{
		"upload_file", "Write a file into the workspace",
		"Write a file into the session workspace, where code opens it by its "
		"relative path (e.g. pd.read_csv('data.csv')). Give text as-is, or "
		"binary data base64-encoded with encoding='base64'. Set append=true to "
		"send a large file in parts: one call carries at most 64 MiB of JSON "
		"(48 MiB of file as base64). Limit: MAX_FILE_SIZE_MB per file.",
		"SELECT pi.write_file($1::uuid, $2, $3::bytea, coalesce($4::boolean, false))",
		"pi.write_file(uuid,text,bytea,boolean)",
		{"session_id", "path", "content", "append"}, true, OP_UPLOAD,
		"{\"type\":\"object\",\"properties\":{" S_SESSION ","
		"\"path\":{\"type\":\"string\",\"description\":\"Relative path in the workspace.\"},"
		"\"content\":{\"type\":\"string\",\"description\":\"File content.\"},"
		"\"encoding\":{\"type\":\"string\",\"enum\":[\"text\",\"base64\"],\"default\":\"text\"},"
		"\"append\":{\"type\":\"boolean\",\"default\":false}},"
		"\"required\":[\"path\",\"content\"]}",
		"{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
		"\"size\":{\"type\":\"integer\"},\"modified\":{}},\"required\":[\"path\"]}",
		false
	},
	{
		"download_file", "Read a file from the workspace",
		"Read a file from the session workspace: text files come back as text, "
		"others base64-encoded. At most 8 MiB per call; use offset and length "
		"to read a large file in parts.",
		"SELECT pi.read_file($1::uuid, $2, coalesce($3::bigint, 0), $4::bigint)",
		"pi.read_file(uuid,text,bigint,bigint)",
		{"session_id", "path", "offset", "length"}, true, OP_DOWNLOAD,
		"{\"type\":\"object\",\"properties\":{" S_SESSION ","
		"\"path\":{\"type\":\"string\",\"description\":\"Relative path in the workspace.\"},"
		"\"offset\":{\"type\":\"integer\",\"minimum\":0},"
		"\"length\":{\"type\":\"integer\",\"minimum\":0}},\"required\":[\"path\"]}",
		"{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
		"\"size\":{\"type\":\"integer\"},\"encoding\":{\"type\":\"string\"},"
		"\"content\":{\"type\":\"string\"}},\"required\":[\"path\",\"content\"]}",
		false
	},
	{
		"delete_file", "Delete a workspace file",
		"Delete a file from the session workspace.",
		"SELECT jsonb_build_object('path', $2::text, 'deleted', pi.delete_file($1::uuid, $2))",
		"pi.delete_file(uuid,text)",
		{"session_id", "path"}, true, OP_GENERIC,
		"{\"type\":\"object\",\"properties\":{" S_SESSION ","
		"\"path\":{\"type\":\"string\"}},\"required\":[\"path\"]}",
		"{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
		"\"deleted\":{\"type\":\"boolean\"}},\"required\":[\"deleted\"]}",
		false
	},
	{
		"load_dataset", "Load a CSV into a queryable dataset",
		"Load a CSV file from the session workspace (upload it first) into a "
		"PostgreSQL table named dataset_name, fast enough for millions of rows. "
		"Runs as a background job: poll get_job_status, then use query_dataset "
		"with SQL instead of loading the whole file into pandas.",
		"SELECT jsonb_build_object('job_id', pi.load_csv($1, $2, $3::uuid,"
		" coalesce($4::jsonb, '{}'::jsonb)), 'status', 'pending')",
		"pi.load_csv(text,text,uuid,jsonb)",
		{"file_path", "dataset_name", "session_id", "options"}, true, OP_GENERIC,
		"{\"type\":\"object\",\"properties\":{"
		"\"file_path\":{\"type\":\"string\",\"description\":\"CSV path in the workspace.\"},"
		"\"dataset_name\":{\"type\":\"string\",\"description\":\"Table name to create.\"},"
		S_SESSION ",\"options\":{\"type\":\"object\",\"description\":"
		"\"delimiter, header, encoding, ...\"}},"
		"\"required\":[\"file_path\",\"dataset_name\"]}",
		"{\"type\":\"object\",\"properties\":{\"job_id\":{\"type\":\"string\"},"
		"\"status\":{\"type\":\"string\"}},\"required\":[\"job_id\"]}",
		false
	},
	{
		"query_dataset", "Query datasets with SQL",
		"Run one read-only SQL SELECT over the loaded datasets (see "
		"list_datasets for table and column names) and return columns and rows, "
		"at most `limit` rows (default 1000). Aggregate in SQL rather than "
		"fetching raw rows.",
		"SELECT pi.query($1, coalesce($2::int, 1000))",
		"pi.query(text,integer)",
		{"sql", "limit"}, false, OP_GENERIC,
		"{\"type\":\"object\",\"properties\":{"
		"\"sql\":{\"type\":\"string\",\"description\":\"One SELECT statement.\"},"
		"\"limit\":{\"type\":\"integer\",\"minimum\":1}},\"required\":[\"sql\"]}",
		"{\"type\":\"object\",\"properties\":{\"columns\":{\"type\":\"array\"},"
		"\"rows\":{\"type\":\"array\"},\"row_count\":{},\"truncated\":{}}}",
		false
	},
	{
		"list_datasets", "List loaded datasets",
		"List the datasets loaded with load_dataset: names, row counts and "
		"columns, to write query_dataset SQL against.",
		"SELECT jsonb_build_object('datasets', coalesce(jsonb_agg(to_jsonb(d)),"
		" '[]'::jsonb)) FROM pi.list_datasets() d",
		"pi.list_datasets()",
		{NULL}, false, OP_GENERIC,
		"{\"type\":\"object\",\"properties\":{}}",
		"{\"type\":\"object\",\"properties\":{\"datasets\":{\"type\":\"array\"}},"
		"\"required\":[\"datasets\"]}",
		false
	},
};

#define N_OPERATIONS (int) (sizeof(operations) / sizeof(operations[0]))

const Operation *
op_at(int i)
{
	return (i >= 0 && i < N_OPERATIONS) ? &operations[i] : NULL;
}

const Operation *
op_find(const char *name)
{
	for (int i = 0; i < N_OPERATIONS; i++)
		if (strcmp(operations[i].name, name) == 0)
			return &operations[i];
	return NULL;
}

/* JSON argument -> text parameter (NULL for absent or null). */
static char *
arg_to_text(json_t *v)
{
	char		buf[64];

	if (v == NULL || json_is_null(v))
		return NULL;
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v))
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "true" : "false");
	else
		return json_dumps(v, JSON_COMPACT);
	return strdup(buf);
}

/* Check the schema's "required" list so a missing argument says its name. */
static bool
check_required(const Operation *op, json_t *args, GwError *err)
{
	json_t	   *schema = json_loads(op->input_schema, 0, NULL);
	json_t	   *req = json_object_get(schema, "required");
	size_t		i;
	json_t	   *name;
	bool		ok = true;

	json_array_foreach(req, i, name)
	{
		json_t	   *v = json_object_get(args, json_string_value(name));

		if (v == NULL || json_is_null(v))
		{
			gw_error_set(err, 400, "invalid_request",
						 "missing required argument \"%s\"", json_string_value(name));
			ok = false;
			break;
		}
	}
	json_decref(schema);
	return ok;
}

/*
 * 42883 (undefined_function) from an operation means either that its pi
 * function is not installed yet, or that user SQL (query_dataset) named an
 * unknown function.  to_regprocedure tells them apart.
 */
static void
check_available(PGconn *conn, const Operation *op, GwError *err)
{
	const char *vals[1] = {op->function};
	json_t	   *missing;
	GwError		e2 = {0};

	missing = db_exec_json(conn, "SELECT to_jsonb(to_regprocedure($1) IS NULL)",
						   1, vals, &e2);
	if (missing != NULL && json_is_true(missing))
		gw_error_set(err, 501, "not_available",
					 "%s is not available yet: this database does not have the "
					 "SQL function %s (update the power_interpreter extension)",
					 op->name, op->function);
	json_decref(missing);
}

/* list_datasets may return jsonb or a table; show both as one array */
static json_t *
unwrap_datasets(json_t *out)
{
	json_t	   *arr = json_object_get(out, "datasets");
	json_t	   *only = json_array_size(arr) == 1 ? json_array_get(arr, 0) : NULL;
	json_t	   *inner = NULL;

	if (json_is_array(only))
		inner = only;
	else if (json_is_object(only) && json_object_size(only) == 1 &&
			 json_is_array(json_object_get(only, "datasets")))
		inner = json_object_get(only, "datasets");
	if (inner != NULL)
		json_object_set(out, "datasets", inner);
	return out;
}

static json_t *
op_call_on(PGconn *conn, const Operation *op, json_t *args, GwError *err)
{
	const char *values[6] = {0};
	int			n = 0;
	json_t	   *out;

	if (!check_required(op, args, err))
		return NULL;
	for (n = 0; n < 6 && op->params[n] != NULL; n++)
		values[n] = arg_to_text(json_object_get(args, op->params[n]));
	out = db_exec_json(conn, op->sql, n, values, err);
	for (int i = 0; i < n; i++)
		free((char *) values[i]);
	if (out == NULL && strcmp(err->sqlstate, "42883") == 0 &&
		PQstatus(conn) == CONNECTION_OK)
		check_available(conn, op, err);
	if (out != NULL && strcmp(op->name, "list_datasets") == 0)
		out = unwrap_datasets(out);
	return out;
}

/* Borrow a connection, make the operation's one SQL call, give it back. */
json_t *
op_call(const Operation *op, json_t *args, GwError *err)
{
	PGconn	   *conn = db_acquire(err);
	json_t	   *out;

	if (conn == NULL)
		return NULL;
	out = op_call_on(conn, op, args, err);
	db_release(conn);
	return out;
}

/*
 * upload_file and download_file a piece at a time, for the streamed REST
 * routes (files.c) and MCP (mcp_content.c).  Write len bytes, appending
 * after the first piece; returns pi.write_file's answer.
 */
json_t *
op_write_file_chunk(PGconn *conn, const char *session_id, const char *path,
					const char *data, size_t len, bool append, GwError *err)
{
	const char *values[4] = {session_id, path, data, append ? "true" : "false"};
	int			lengths[4] = {0, 0, (int) len, 0};
	int			formats[4] = {0, 0, 1, 0};
	PGresult   *res;
	json_t	   *out;

	res = db_exec(conn, op_find("upload_file")->sql, 4, values, lengths,
				  formats, 0, err);
	if (res == NULL)
		return NULL;
	out = db_parse_json(PQgetvalue(res, 0, 0), err);
	PQclear(res);
	return out;
}

/* Read up to length bytes at offset; returns malloc'd bytes, *len set. */
char *
op_read_file_chunk(PGconn *conn, const char *session_id, const char *path,
				   int64_t offset, int64_t length, size_t *len, GwError *err)
{
	char		off[24],
				lim[24];
	const char *values[4] = {session_id, path, off, lim};
	PGresult   *res;
	char	   *out;

	snprintf(off, sizeof(off), "%lld", (long long) offset);
	snprintf(lim, sizeof(lim), "%lld", (long long) length);
	res = db_exec(conn, op_find("download_file")->sql, 4, values, NULL, NULL,
				  1, err);
	if (res == NULL)
		return NULL;
	*len = PQgetisnull(res, 0, 0) ? 0 : (size_t) PQgetlength(res, 0, 0);
	if ((out = malloc(*len + 1)) == NULL)
	{
		gw_error_set(err, 503, "out_of_memory",
					 "the gateway is out of memory; read the file in smaller parts");
		PQclear(res);
		return NULL;
	}
	memcpy(out, PQgetvalue(res, 0, 0), *len);
	out[*len] = '\0';
	PQclear(res);
	return out;
}


/* ---- calls that can be stopped, wait, and tell they are alive ----------- */

/*
 * A running call looks at its OpCall this often: whether it was cancelled
 * or its client went away.  100 ms makes a cancel free the executor slot
 * "at once" for a person, and costs a poll() wake-up ten times a second.
 */
#define STOP_CHECK_MS 100
/* An MCP client that sent a progressToken hears from us this often. */
#define PROGRESS_INTERVAL_MS 1000

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

/*
 * A notifications/progress.  progress is the seconds since the call began,
 * to the ms, so it grows with every notification as the spec requires.
 */
static void
send_progress(OpCall *call, double seconds, const char *what)
{
	char		msg[300];

	if (call->progress_token == NULL || call->progress == NULL)
		return;
	snprintf(msg, sizeof(msg), "%s for %d s", what, (int) seconds);
	call->progress(call->progress_ctx,
				   json_pack("{s:s,s:s,s:{s:O,s:f,s:o}}", "jsonrpc", "2.0",
							 "method", "notifications/progress", "params",
							 "progressToken", call->progress_token,
							 "progress", (double) (long) (seconds * 1000) / 1000,
							 "message", gw_json_string(msg)));
}

/*
 * Run one statement returning one jsonb value, watching call meanwhile:
 * progress every PROGRESS_INTERVAL_MS (counted from *started, with the
 * words `what`), and a stop (cancel, client gone) turns into a query
 * cancel, so pi.execute stops its run and frees its executor slot.
 * Returns the value, or NULL with err set (code "cancelled" when stopped).
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

	if (!PQsendQueryParams(conn, sql, n, NULL, values, NULL, NULL, 0))
	{
		db_error_from_result(conn, NULL, err);
		return NULL;
	}
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
			send_progress(call, now, what);
			next_progress = now + PROGRESS_INTERVAL_MS / 1000.0;
		}
	}
	while ((r = PQgetResult(conn)) != NULL)
	{
		PQclear(res);
		res = r;
	}
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
			const char *msg = json_string_value(json_object_get(out, "progress_message"));
			json_t	   *frac = json_object_get(out, "progress");
			char		what[200];

			if (json_is_number(frac))
				snprintf(what, sizeof(what), "job %s, %.0f%%%s%.100s", json_string_value(json_object_get(out, "status")),
						 json_number_value(frac) * 100, msg ? ": " : "", msg ? msg : "");
			else
				snprintf(what, sizeof(what), "job %s", json_string_value(json_object_get(out, "status")));
			send_progress(call, seconds_since(started), what);
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
			 "or stop it with cancel_job. Output printed so far cannot be shown "
			 "before the end (a job's stdout is kept when it ends); "
			 "get_job_status shows what the code reports with pi.progress().",
			 waited_s, job_id, job_id, wait, wait, job_id, wait);
	json_object_set_new(out, "job_id", json_string(job_id));
	json_object_set_new(out, "still_running", json_true());
	json_object_set_new(out, "waited_s", json_integer((json_int_t) waited_s));
	json_object_set_new(out, "stdout", json_string(""));
	json_object_set_new(out, "stderr", json_string(""));
	json_object_set_new(out, "message", json_string(msg));
	return out;
}

/* The run's timeout: the argument, or pi.execute's default of 60 s. */
static double
execute_timeout(json_t *args)
{
	json_t	   *t = json_object_get(args, "timeout");

	if (json_is_number(t))
		return json_number_value(t);
	if (json_is_string(t))
		return atof(json_string_value(t));
	return 60;
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
					   " pi.submit_job($1, $2::int, $3::uuid, true))",
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
	json_t	   *w = json_object_get(args, "wait");
	double		budget = call->wait_budget_s;

	if (op->kind != OP_EXECUTE || strcmp(op->name, "execute_code") != 0)
		return 0;
	if (json_is_number(w))
		budget = json_number_value(w);
	else if (json_is_string(w))
		budget = atof(json_string_value(w));
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
	json_t	   *wait = json_object_get(args, "wait");
	double		budget;
	int			n;

	if (!check_required(op, args, err) || (conn = db_acquire(err)) == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &started);
	if ((budget = wait_budget(op, args, call)) > 0)
		out = execute_as_job(conn, args, budget, call, err);
	else if (strcmp(op->name, "get_job_result") == 0 && wait != NULL &&
			 (json_is_number(wait) || json_is_string(wait)))
	{
		double		w = json_is_number(wait) ? json_number_value(wait) :
			atof(json_string_value(wait));

		out = wait_for_job(conn, json_string_value(json_object_get(args, "job_id")),
						   w > 0 ? w : 0, call, &started, err);
	}
	else
	{
		for (n = 0; n < 6 && op->params[n] != NULL; n++)
			values[n] = arg_to_text(json_object_get(args, op->params[n]));
		out = exec_watched(conn, op->sql, n, values, call, &started,
						   "running", err);
		for (int i = 0; i < n; i++)
			free((char *) values[i]);
		if (out == NULL && strcmp(err->sqlstate, "42883") == 0 &&
			PQstatus(conn) == CONNECTION_OK)
			check_available(conn, op, err);
		if (out != NULL && strcmp(op->name, "list_datasets") == 0)
			out = unwrap_datasets(out);
	}
	db_release(conn);
	return out;
}
