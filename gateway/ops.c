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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "ops_internal.h"

#define S_SESSION \
	"\"session_id\":{\"type\":\"string\",\"format\":\"uuid\",\"description\":" \
	"\"Session whose workspace and Python state to use. Over MCP it defaults " \
	"to the conversation's own session, so variables and files persist " \
	"across calls. Over REST it defaults to the caller's default workspace " \
	"(one per API key's tenant): files persist there, Python state does " \
	"not.\"}"
#define S_TIMEOUT(dflt) \
	"\"timeout\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":2147483647," \
	"\"description\":" \
	"\"Wall-clock limit in seconds (default " dflt "; the server caps it " \
	"at pi.max_execution_time).\"}"
/* the largest bigint: offsets and lengths in bytes */
#define I64_MAX "9223372036854775807"
#define S_JOB_ID \
	"\"job_id\":{\"type\":\"string\",\"format\":\"uuid\"," \
	"\"description\":\"Id returned by submit_job or load_dataset.\"}"
/* pi.load_dataset's options object: load_options.c reads and checks it */
#define S_LOAD_OPTIONS \
	"\"options\":{\"type\":\"object\",\"additionalProperties\":false," \
	"\"description\":\"How to read the file; every key is optional.\"," \
	"\"properties\":{" \
	"\"types\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}," \
	"\"description\":\"Column name (as in the file, or as loaded) to type, overriding " \
	"the type inferred from the data: boolean, integer, bigint, numeric, double " \
	"precision, date, timestamp, timestamptz or text. E.g. {\\\"zip\\\": \\\"text\\\"} " \
	"keeps leading zeros.\"}," \
	"\"on_error\":{\"type\":\"string\",\"enum\":[\"fail\",\"skip\"],\"description\":" \
	"\"A row that does not fit its columns' types: fail stops the load (the " \
	"default); skip leaves it out, and the result counts the rejected rows and " \
	"gives the first reasons.\"}," \
	"\"header\":{\"type\":\"boolean\",\"description\":\"CSV and xlsx: whether the " \
	"first row holds the column names (default: told from the data).\"}," \
	"\"delimiter\":{\"type\":\"string\",\"description\":\"CSV only: the field " \
	"separator, one character or \\\"tab\\\" (default: told from the data).\"}," \
	"\"quote\":{\"type\":\"string\",\"description\":\"CSV only: the quote " \
	"character (default \\\").\"}," \
	"\"escape\":{\"type\":\"string\",\"description\":\"CSV only: the character " \
	"that escapes a quote inside a quoted field (default: the quote itself).\"}," \
	"\"encoding\":{\"type\":\"string\",\"description\":\"CSV only: the file's " \
	"encoding as PostgreSQL names it, e.g. UTF8 (the default), LATIN1, WIN1252.\"}}}"
#define S_EXEC_OUT \
	"{\"type\":\"object\",\"properties\":{" \
	"\"status\":{\"type\":\"string\"},\"stdout\":{\"type\":\"string\"}," \
	"\"stderr\":{\"type\":\"string\"}," \
	"\"result\":{\"anyOf\":[{\"type\":\"object\"},{\"type\":\"null\"}],\"description\":" \
	"\"The last expression's value: type, repr, and json or table.\"}," \
	"\"error\":{\"anyOf\":[{\"type\":\"object\"},{\"type\":\"null\"}],\"description\":" \
	"\"type, message and traceback when the run failed.\"}," \
	"\"figures\":{\"type\":\"array\"}," \
	"\"files\":{\"type\":\"array\"},\"elapsed_ms\":{\"type\":\"number\"}," \
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
		"SELECT pi.execute($1, coalesce($2::int, 60), coalesce($3::uuid, pi.default_session()))",
		"pi.execute(text,integer,uuid)",
		{"code", "timeout", "session_id"}, true, OP_EXECUTE,
		"{\"type\":\"object\",\"properties\":{"
		"\"code\":{\"type\":\"string\",\"description\":\"Python source to run.\"},"
		S_TIMEOUT("60") "," S_SESSION ","
		"\"wait\":{\"type\":\"number\",\"minimum\":0,\"maximum\":86400,\"description\":"
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
		"SELECT jsonb_build_object('job_id', pi.submit_job($1, $2::int,"
		" coalesce($3::uuid, pi.default_session())),"
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
		"cancelled), elapsed time, queue position, the fraction and message the "
		"code reports with pi.progress(fraction, message), and what it has "
		"printed so far (stdout: the newest 16 KB; stdout_bytes: the total). "
		"Cheap: poll it every few seconds while a job runs.",
		"SELECT pi.job_status($1::uuid)", "pi.job_status(uuid)",
		{"job_id"}, false, OP_GENERIC,
		"{\"type\":\"object\",\"properties\":{" S_JOB_ID "},"
		"\"required\":[\"job_id\"]}",
		"{\"type\":\"object\",\"properties\":{\"job_id\":{\"type\":\"string\"},"
		"\"status\":{\"type\":\"string\"},\"elapsed_ms\":{\"type\":\"number\"},"
		"\"progress\":{\"anyOf\":[{\"type\":\"number\"},{\"type\":\"null\"}],\"description\":\"0 to 1\"},"
		"\"progress_message\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]},"
		"\"stdout\":{\"type\":\"string\",\"description\":\"The output so far (its newest part)\"},"
		"\"stdout_bytes\":{\"type\":\"integer\"},\"stdout_truncated\":{\"type\":\"boolean\"},"
		"\"queue_position\":{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"null\"}]}},\"required\":[\"status\"]}",
		false
	},
	{
		"get_job_result", "Get a background job's output",
		"Return a finished job's stdout, stderr, last value, figures and error, "
		"shaped like execute_code's result. With `wait`, first wait up to that "
		"many seconds for the job to end (with progress notifications when you "
		"send a progressToken); keep it under your client's request timeout. "
		"While the job is unfinished it returns its status, progress and what "
		"it printed so far (the newest 16 KB).",
		"SELECT pi.job_result($1::uuid, coalesce($2::float8, 0))",
		"pi.job_result(uuid,double precision)",
		{"job_id", "wait"}, false, OP_EXECUTE,
		"{\"type\":\"object\",\"properties\":{" S_JOB_ID ","
		"\"wait\":{\"type\":\"number\",\"minimum\":0,\"maximum\":86400,\"description\":"
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
		"SELECT jsonb_build_object('session_id', d.sid, 'files',"
		" coalesce((SELECT jsonb_agg(to_jsonb(f) ORDER BY f.path)"
		" FROM pi.list_files(d.sid) f), '[]'::jsonb))"
		" FROM (SELECT coalesce($1::uuid, pi.default_session()) AS sid) d",
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
		"SELECT pi.write_file(d.sid, $2, $3::bytea, coalesce($4::boolean, false))"
		" || jsonb_build_object('session_id', d.sid)"
		" FROM (SELECT coalesce($1::uuid, pi.default_session()) AS sid) d",
		"pi.write_file(uuid,text,bytea,boolean)",
		{"session_id", "path", "content", "append"}, true, OP_UPLOAD,
		"{\"type\":\"object\",\"properties\":{" S_SESSION ","
		"\"path\":{\"type\":\"string\",\"description\":\"Relative path in the workspace.\"},"
		"\"content\":{\"type\":\"string\",\"description\":\"File content.\"},"
		"\"encoding\":{\"type\":\"string\",\"enum\":[\"text\",\"base64\"],\"default\":\"text\"},"
		"\"append\":{\"type\":\"boolean\",\"default\":false}},"
		"\"required\":[\"path\",\"content\"]}",
		"{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
		"\"size\":{\"type\":\"integer\"},\"modified\":{\"type\":\"string\"}},"
		"\"required\":[\"path\"]}",
		false
	},
	{
		"download_file", "Read a file from the workspace",
		"Read a file from the session workspace: text files come back as text, "
		"others base64-encoded. At most 8 MiB per call; use offset and length "
		"to read a large file in parts.",
		"SELECT pi.read_file(coalesce($1::uuid, pi.default_session()), $2, coalesce($3::bigint, 0), $4::bigint)",
		"pi.read_file(uuid,text,bigint,bigint)",
		{"session_id", "path", "offset", "length"}, true, OP_DOWNLOAD,
		"{\"type\":\"object\",\"properties\":{" S_SESSION ","
		"\"path\":{\"type\":\"string\",\"description\":\"Relative path in the workspace.\"},"
		"\"offset\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":" I64_MAX "},"
		"\"length\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":" I64_MAX "}},"
		"\"required\":[\"path\"]}",
		"{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
		"\"size\":{\"type\":\"integer\"},\"encoding\":{\"type\":\"string\"},"
		"\"content\":{\"type\":\"string\"}},\"required\":[\"path\",\"content\"]}",
		false
	},
	{
		"delete_file", "Delete a workspace file",
		"Delete a file from the session workspace.",
		"SELECT jsonb_build_object('path', $2::text, 'deleted',"
		" pi.delete_file(coalesce($1::uuid, pi.default_session()), $2))",
		"pi.delete_file(uuid,text)",
		{"session_id", "path"}, true, OP_GENERIC,
		"{\"type\":\"object\",\"properties\":{" S_SESSION ","
		"\"path\":{\"type\":\"string\"}},\"required\":[\"path\"]}",
		"{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
		"\"deleted\":{\"type\":\"boolean\"}},\"required\":[\"deleted\"]}",
		false
	},
	{
		"load_dataset", "Load a CSV, Excel or JSON Lines file into a queryable dataset",
		"Load a file from the session workspace (upload it first) into a "
		"PostgreSQL table named dataset_name, fast enough for millions of rows: "
		"CSV, Excel .xlsx (the first sheet, or `sheet` by name; formulas give "
		"their saved values) or JSON Lines (one object a line, a column a key, "
		"nested values as jsonb). The format is told by the file's name and "
		"first bytes unless `format` says it. Column types are inferred from "
		"the whole file. Runs as a background job: poll get_job_status, then "
		"use query_dataset with SQL instead of loading the whole file into "
		"pandas.",
		"SELECT jsonb_build_object('job_id', pi.load_dataset($1, $2,"
		" coalesce($3::uuid, pi.default_session()),"
		" coalesce($4::jsonb, '{}'::jsonb), coalesce($5, 'auto'), $6), 'status', 'pending')",
		"pi.load_dataset(text,text,uuid,jsonb,text,text)",
		{"file_path", "dataset_name", "session_id", "options", "format", "sheet"}, true, OP_GENERIC,
		"{\"type\":\"object\",\"properties\":{"
		"\"file_path\":{\"type\":\"string\",\"description\":\"Path of the file in the workspace.\"},"
		"\"dataset_name\":{\"type\":\"string\",\"description\":\"Table name to create.\"},"
		S_SESSION "," S_LOAD_OPTIONS ","
		"\"format\":{\"type\":\"string\",\"enum\":[\"auto\",\"csv\",\"xlsx\",\"jsonl\"],"
		"\"description\":\"File format (default auto: by name and content).\"},"
		"\"sheet\":{\"type\":\"string\",\"description\":\"xlsx: the sheet to load "
		"(default the first).\"}},"
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
		"\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10000000,"
		"\"description\":\"Most rows to return (default 1000); the server's "
		"pi.query_max_rows (100000 unless set) may cap it lower.\"}},"
		"\"required\":[\"sql\"]}",
		"{\"type\":\"object\",\"properties\":{\"columns\":{\"type\":\"array\"},"
		"\"rows\":{\"type\":\"array\"},\"row_count\":{\"type\":\"integer\"},"
		"\"truncated\":{\"type\":\"boolean\"}}}",
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
op_arg_to_text(json_t *v)
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

/*
 * 42883 (undefined_function) from an operation means either that its pi
 * function is not installed yet, or that user SQL (query_dataset) named an
 * unknown function.  to_regprocedure tells them apart.
 */
static void
op_check_available(PGconn *conn, const Operation *op, GwError *err)
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
op_unwrap_datasets(json_t *out)
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

/* op's SQL parameters from args, in op->params order; how many.  See op_finish. */
int
op_params(const Operation *op, json_t *args, const char **values)
{
	int			n;

	for (n = 0; n < 6 && op->params[n] != NULL; n++)
		values[n] = op_arg_to_text(json_object_get(args, op->params[n]));
	return n;
}

/*
 * After op's one SQL call: free its parameters, explain a missing pi
 * function, and show list_datasets as one array.  Returns out.
 */
json_t *
op_finish(PGconn *conn, const Operation *op, const char **values, int n,
		  json_t *out, GwError *err)
{
	for (int i = 0; i < n; i++)
		free((char *) values[i]);
	if (out == NULL && strcmp(err->sqlstate, "42883") == 0 &&
		PQstatus(conn) == CONNECTION_OK)
		op_check_available(conn, op, err);
	if (out != NULL && strcmp(op->name, "list_datasets") == 0)
		out = op_unwrap_datasets(out);
	return out;
}

static json_t *
op_call_on(PGconn *conn, const Operation *op, json_t *args, GwError *err)
{
	const char *values[6] = {0};
	int			n;

	if (!op_check_args(op, args, err))
		return NULL;
	n = op_params(op, args, values);
	return op_finish(conn, op, values, n,
					 db_exec_json(conn, op->sql, n, values, err), err);
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
 * routes (files.c) and MCP (mcp_content.c).  A session_id NULL or "" is
 * the caller's default session.  Write len bytes, appending after the
 * first piece; returns pi.write_file's answer with the session_id.
 */
json_t *
op_write_file_chunk(PGconn *conn, const char *session_id, const char *path,
					const char *data, size_t len, bool append, GwError *err)
{
	const char *values[4] = {session_id && *session_id ? session_id : NULL,
	path, data, append ? "true" : "false"};
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
	const char *values[4] = {session_id && *session_id ? session_id : NULL,
	path, off, lim};
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

/*
 * A file's {path, size, modified, mime, session_id}: session_id NULL or ""
 * is the caller's default session, and the answer names the session it
 * resolved to, for the calls that follow.
 */
json_t *
op_file_info(PGconn *conn, const char *session_id, const char *path,
			 GwError *err)
{
	const char *values[2] = {session_id && *session_id ? session_id : NULL, path};

	return db_exec_json(conn,
						"SELECT pi.file_info(d.sid, $2) || jsonb_build_object('session_id', d.sid)"
						" FROM (SELECT coalesce($1::uuid, pi.default_session()) AS sid) d",
						2, values, err);
}
