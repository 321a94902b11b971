/*-------------------------------------------------------------------------
 *
 * mcp_render.c
 *	  The text of each MCP tool's result but execute_code's and
 *	  download_file's (mcp_content.c): query rows and lists as Markdown
 *	  tables, a finished load's rows, column types and rejected rows, a
 *	  job's state with what to call next, and a failed call's message,
 *	  detail and hint.
 *
 * The text says what structuredContent says, in fewer characters, since
 * most clients give the model the text alone.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "mcp_internal.h"

static const char *
str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* "1 row" / "2 rows" */
static void
count_of(McpText *t, json_int_t n, const char *one, const char *many)
{
	mcp_text_addf(t, "%" JSON_INTEGER_FORMAT " %s", n, n == 1 ? one : many);
}

/* "name type, name type, ..." of [{name, type}] */
static void
column_list(McpText *t, json_t *columns)
{
	json_t	   *col;
	size_t		i;

	json_array_foreach(columns, i, col)
		mcp_text_addf(t, "%s%s %s", i ? ", " : "", str(col, "name") ? str(col, "name") : "?",
					  str(col, "type") ? str(col, "type") : "");
}

/* query_dataset: {columns: [{name, type}], rows: [[...]], row_count, truncated} */
static void
render_query(McpText *t, json_t *out)
{
	json_t	   *columns = json_object_get(out, "columns");
	json_t	   *rows = json_object_get(out, "rows");
	json_t	   *names = json_array();
	json_t	   *col;
	size_t		i;

	count_of(t, (json_int_t) json_array_size(rows), "row", "rows");
	mcp_text_add(t, "; columns: ");
	column_list(t, columns);
	mcp_text_add(t, "\n");
	json_array_foreach(columns, i, col)
		json_array_append(names, json_object_get(col, "name"));
	if (json_array_size(rows) > 0)
		mcp_text_table(t, names, rows, NULL, 0,
					   "structuredContent.rows has them all; to read others "
					   "here, page with LIMIT and OFFSET or aggregate in SQL");
	json_decref(names);
	if (json_is_true(json_object_get(out, "truncated")))
		mcp_text_add(t, "The query has more rows than `limit` let through: only "
					 "these came back. Aggregate or filter in SQL, or raise limit.\n");
}

/* list_datasets: a line per dataset with the column list to write SQL by */
static void
render_datasets(McpText *t, json_t *out)
{
	json_t	   *datasets = json_object_get(out, "datasets");
	json_t	   *d;
	size_t		i;

	count_of(t, (json_int_t) json_array_size(datasets), "dataset", "datasets");
	mcp_text_add(t, json_array_size(datasets) ?
				 " (query them with query_dataset by table name):\n" :
				 ": load one with load_dataset.\n");
	json_array_foreach(datasets, i, d)
	{
		mcp_text_addf(t, "- %s (table %s, ", str(d, "name") ? str(d, "name") : "?",
					  str(d, "table_name") ? str(d, "table_name") : "?");
		mcp_text_value(t, json_object_get(d, "rows"));
		mcp_text_add(t, " rows");
		if (str(d, "source_file"))
			mcp_text_addf(t, ", from %s", str(d, "source_file"));
		if (str(d, "loaded_at"))
			mcp_text_addf(t, ", loaded %s", str(d, "loaded_at"));
		mcp_text_add(t, "): ");
		column_list(t, json_object_get(d, "columns"));
		mcp_text_add(t, "\n");
	}
}

/* list_files: {files: [{path, size, modified, mime}]} */
static void
render_files(McpText *t, json_t *out)
{
	json_t	   *files = json_object_get(out, "files");
	json_t	   *columns = json_pack("[s,s,s,s]", "path", "size", "modified", "mime");

	count_of(t, (json_int_t) json_array_size(files), "file", "files");
	mcp_text_add(t, json_array_size(files) ? " in the workspace:\n" :
				 " in the workspace yet.\n");
	if (json_array_size(files) > 0 && columns != NULL)
		mcp_text_table(t, columns, files, NULL, 0,
					   "structuredContent.files lists them all");
	json_decref(columns);
}

/* How to wait for a job, said the same way everywhere. */
static void
how_to_wait(McpText *t, const char *job_id)
{
	mcp_text_addf(t, "Wait for its end with get_job_result {\"job_id\": \"%s\", "
				  "\"wait\": 30} (seconds, under your client's timeout), or "
				  "look with get_job_status.\n", job_id ? job_id : "");
}

/* get_job_status */
static void
render_job_status(McpText *t, json_t *out)
{
	const char *status = str(out, "status");
	json_t	   *progress = json_object_get(out, "progress");
	json_t	   *queue = json_object_get(out, "queue_position");
	bool		finished = status && strcmp(status, "pending") != 0 &&
		strcmp(status, "running") != 0;

	mcp_text_addf(t, "Job %s", str(out, "job_id") ? str(out, "job_id") : "?");
	if (str(out, "kind"))
		mcp_text_addf(t, " (%s)", str(out, "kind"));
	mcp_text_addf(t, ": %s", status ? status : "unknown");
	if (json_is_number(progress) && !finished)
		mcp_text_addf(t, ", %.0f%% done", json_number_value(progress) * 100);
	if (str(out, "progress_message") && !finished)
		mcp_text_addf(t, " (%s)", str(out, "progress_message"));
	if (json_is_number(queue))
		mcp_text_addf(t, ", number %.0f in the queue", json_number_value(queue));
	if (json_is_number(json_object_get(out, "elapsed_ms")))
	{
		mcp_text_add(t, ", ");
		mcp_text_number(t, json_number_value(json_object_get(out, "elapsed_ms")) / 1000.0);
		mcp_text_add(t, " s elapsed");
	}
	if (json_is_true(json_object_get(out, "cancel_requested")) && !finished)
		mcp_text_add(t, ", cancel requested");
	mcp_text_add(t, ".\n");
	if (str(out, "notice"))
		mcp_text_addf(t, "Notice: %s\n", str(out, "notice"));
	if (finished)
		mcp_text_add(t, "Read what it produced with get_job_result.\n");
	else
		how_to_wait(t, str(out, "job_id"));
}

/* submit_job and load_dataset: a job was queued */
static void
render_job_started(McpText *t, const char *tool, json_t *out)
{
	if (strcmp(tool, "load_dataset") == 0)
		mcp_text_addf(t, "Load queued as job %s (%s). When it ends, get_job_result "
					  "tells the rows loaded, the column types and any rejected rows.\n",
					  str(out, "job_id") ? str(out, "job_id") : "?",
					  str(out, "status") ? str(out, "status") : "pending");
	else
		mcp_text_addf(t, "Job %s queued (%s).\n",
					  str(out, "job_id") ? str(out, "job_id") : "?",
					  str(out, "status") ? str(out, "status") : "pending");
	how_to_wait(t, str(out, "job_id"));
}

/*
 * A finished load_dataset job (get_job_result): where the rows went, each
 * column's type, and the rows left out with the first reasons.
 */
void
mcp_render_load(McpText *t, json_t *out)
{
	json_t	   *columns = json_object_get(out, "columns");
	json_t	   *rejected = json_object_get(out, "rejected");
	json_t	   *col;
	json_t	   *rej;
	json_t	   *rows = json_array();
	json_t	   *heads = json_pack("[s,s,s]", "column", "type", "name in the file");
	json_int_t	n_rejected = json_integer_value(json_object_get(out, "rejected_rows"));
	size_t		i;

	mcp_text_add(t, "Loaded ");
	mcp_text_value(t, json_object_get(out, "rows"));
	mcp_text_addf(t, " rows into dataset %s (table %s)",
				  str(out, "dataset") ? str(out, "dataset") : "?",
				  str(out, "table") ? str(out, "table") : "?");
	if (str(out, "format"))
		mcp_text_addf(t, " from a %s file", str(out, "format"));
	if (str(out, "sheet"))
		mcp_text_addf(t, ", sheet %s", str(out, "sheet"));
	if (str(out, "format") && strcmp(str(out, "format"), "csv") == 0)
		mcp_text_addf(t, " (delimiter \"%s\", encoding %s, %s)",
					  str(out, "delimiter") ? str(out, "delimiter") : "?",
					  str(out, "encoding") ? str(out, "encoding") : "?",
					  json_is_true(json_object_get(out, "header")) ?
					  "header row" : "no header row");
	if (json_is_number(json_object_get(out, "elapsed_ms")))
	{
		mcp_text_add(t, " in ");
		mcp_text_number(t, json_number_value(json_object_get(out, "elapsed_ms")) / 1000.0);
		mcp_text_add(t, " s");
	}
	mcp_text_addf(t, ". %zu columns:\n", json_array_size(columns));
	json_array_foreach(columns, i, col)
		json_array_append_new(rows, json_pack("[O,O,O]", json_object_get(col, "name"),
											  json_object_get(col, "type"),
											  json_object_get(col, "original") ?
											  json_object_get(col, "original") : json_null()));
	if (heads != NULL)
		mcp_text_table(t, heads, rows, NULL, 0, "structuredContent.columns has them all");
	json_decref(heads);
	json_decref(rows);
	if (n_rejected == 0)
		mcp_text_add(t, "Rejected rows: 0.\n");
	else
	{
		mcp_text_addf(t, "Rejected rows: %" JSON_INTEGER_FORMAT
					  " (left out, on_error skip); the first %zu:\n",
					  n_rejected, json_array_size(rejected));
		json_array_foreach(rejected, i, rej)
		{
			mcp_text_add(t, "- line ");
			mcp_text_value(t, json_object_get(rej, "line"));
			mcp_text_addf(t, ": %s\n", str(rej, "reason") ? str(rej, "reason") : "");
		}
	}
	if (json_integer_value(json_object_get(out, "blank_lines")) > 0)
		mcp_text_addf(t, "Blank lines skipped: %" JSON_INTEGER_FORMAT ".\n",
					  json_integer_value(json_object_get(out, "blank_lines")));
	if (str(out, "notice"))
		mcp_text_addf(t, "Notice: %s\n", str(out, "notice"));
	mcp_text_addf(t, "Query it with query_dataset, e.g. SELECT * FROM %s LIMIT 10.\n",
				  str(out, "dataset") ? str(out, "dataset") : "?");
}

/* Any other object: a "key: value" line each, nested values as compact JSON. */
static void
render_fields(McpText *t, json_t *out)
{
	const char *key;
	json_t	   *v;

	if (!json_is_object(out))
	{
		mcp_text_value(t, out);
		mcp_text_newline(t);
		return;
	}
	json_object_foreach(out, key, v)
	{
		mcp_text_addf(t, "%s: ", key);
		mcp_text_value(t, v);
		mcp_text_add(t, "\n");
	}
}

/* The result of every tool but execute_code, get_job_result, download_file. */
json_t *
mcp_render_result(const char *tool, json_t *out)
{
	McpText		t = {0};
	json_t	   *content;

	if (strcmp(tool, "query_dataset") == 0 && json_is_array(json_object_get(out, "rows")))
		render_query(&t, out);
	else if (strcmp(tool, "list_datasets") == 0)
		render_datasets(&t, out);
	else if (strcmp(tool, "list_files") == 0)
		render_files(&t, out);
	else if (strcmp(tool, "get_job_status") == 0)
		render_job_status(&t, out);
	else if ((strcmp(tool, "submit_job") == 0 || strcmp(tool, "load_dataset") == 0) &&
			 str(out, "job_id") != NULL)
		render_job_started(&t, tool, out);
	else if (strcmp(tool, "cancel_job") == 0 &&
			 json_is_true(json_object_get(out, "cancelled")))
		mcp_text_addf(&t, "Job %s cancelled.\n", str(out, "job_id"));
	else if (strcmp(tool, "cancel_job") == 0)
		mcp_text_addf(&t, "Job %s was not cancelled: it had already finished "
					  "(get_job_result has what it produced).\n", str(out, "job_id"));
	else
		render_fields(&t, out);
	content = json_array();
	json_array_append_new(content, mcp_text_content(&t));
	return json_pack("{s:o,s:O}", "content", content, "structuredContent", out);
}

/*
 * A tool call that failed: isError content with the message, PostgreSQL's
 * DETAIL (often the real cause, such as the job holding a busy session)
 * and its HINT (what to do) each on a line.  db_error_from_result puts the
 * hint into the message too, for REST; here it is taken out again so it is
 * read once, on its own line.  Texts that name SQL functions and
 * arguments are put in the tools' terms first (error_terms.c).
 */
json_t *
mcp_render_error(const GwError *sql_err)
{
	McpText		t = {0};
	GwError		mcp_err = *sql_err;
	const GwError *err = &mcp_err;
	const char *msg;
	const char *in_msg;

	/* pi.job_result('...', wait_s) -> get_job_result, and so on */
	gw_error_in_terms(&mcp_err, GW_TERMS_MCP);
	msg = err->message;
	in_msg = err->hint[0] ? strstr(msg, err->hint) : NULL;

	mcp_text_addf(&t, "Error (%s): ", err->code);
	if (in_msg != NULL && in_msg - msg >= 2 && strncmp(in_msg - 2, ". ", 2) == 0)
	{
		mcp_text_addn(&t, msg, in_msg - 2 - msg);
		mcp_text_add(&t, in_msg + strlen(err->hint));
	}
	else
		mcp_text_add(&t, msg);
	if (err->retry_after)
		mcp_text_add(&t, " Retry in a moment.");
	if (err->detail[0])
		mcp_text_addf(&t, "\nDetail: %s", err->detail);
	if (err->hint[0])
		mcp_text_addf(&t, "\nHint: %s", err->hint);
	return json_pack("{s:[o],s:b}", "content", mcp_text_content(&t), "isError", 1);
}
