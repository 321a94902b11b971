/*-------------------------------------------------------------------------
 *
 * mcp_content.c
 *	  How results become MCP tool content: an execute result as text an
 *	  assistant reads at a glance (a reset notice first, output cut to its
 *	  head and tail, a DataFrame as a Markdown table, the error and its
 *	  hint) plus structuredContent, then its outputs in order (images as
 *	  image content, the rest as text); file upload and download with text
 *	  or base64 content.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "mcp_internal.h"

/* download_file over MCP: larger files are read in parts with offset. */
#define MCP_DOWNLOAD_MAX_BYTES (8 * 1024 * 1024)

static const char b64chars[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* NULL when out of memory; mcp_resources.c uses it too */
char *
base64_encode(const unsigned char *data, size_t len)
{
	char	   *out = malloc(4 * ((len + 2) / 3) + 1);
	char	   *p = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i += 3)
	{
		unsigned	v = data[i] << 16;

		if (i + 1 < len)
			v |= data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		*p++ = b64chars[(v >> 18) & 63];
		*p++ = b64chars[(v >> 12) & 63];
		*p++ = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
		*p++ = i + 2 < len ? b64chars[v & 63] : '=';
	}
	*p = '\0';
	return out;
}

/*
 * Decode base64, skipping whitespace; NULL on a character outside it (or
 * when out of memory).
 */
static unsigned char *
base64_decode(const char *text, size_t *len)
{
	size_t		n = strlen(text);
	unsigned char *out = malloc(n / 4 * 3 + 3);
	unsigned	v = 0;
	int			bits = 0;

	*len = 0;
	if (out == NULL)
		return NULL;
	for (const char *c = text; *c && *c != '='; c++)
	{
		const char *pos = strchr(b64chars, *c);

		if (*c == '\n' || *c == '\r' || *c == ' ')
			continue;
		if (pos == NULL || *c == '\0')
		{
			free(out);
			return NULL;
		}
		v = (v << 6) | (unsigned) (pos - b64chars);
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[(*len)++] = (v >> bits) & 0xff;
		}
	}
	return out;
}

/* Where the whole of a cut text is, for the line that says it was cut. */
#define WHOLE_STDOUT "structuredContent.stdout has all of it (print less, or " \
	"write long output to a workspace file and read it with download_file)"
#define WHOLE_STDERR "structuredContent.stderr has all of it"
#define WHOLE_REPR "structuredContent.result.repr has all of it"

/*
 * The last value: a DataFrame or Series as a Markdown table (from the
 * executor's result.table: columns, index, data, shape), else its repr.
 */
static void
append_result(McpText *t, json_t *result)
{
	json_t	   *table = json_object_get(result, "table");
	json_t	   *shape = json_object_get(table, "shape");
	const char *type = json_string_value(json_object_get(result, "type"));
	const char *r = json_string_value(json_object_get(result, "repr"));

	mcp_text_newline(t);
	if (json_is_array(json_object_get(table, "data")) && json_array_size(shape) == 2)
	{
		json_int_t	nrows = json_integer_value(json_array_get(shape, 0));
		char		where[200];

		snprintf(where, sizeof(where),
				 "structuredContent.result.table has the first %zu; print "
				 "a slice (df.iloc[50:100]) to read more here",
				 json_array_size(json_object_get(table, "data")));
		mcp_text_addf(t, "Result (%s, %" JSON_INTEGER_FORMAT " rows × %"
					  JSON_INTEGER_FORMAT " columns):\n", type ? type : "table",
					  nrows, json_integer_value(json_array_get(shape, 1)));
		mcp_text_table(t, json_object_get(table, "columns"),
					   json_object_get(table, "data"), json_object_get(table, "index"),
					   nrows > 0 ? (size_t) nrows : 0, where);
		return;
	}
	if (r == NULL)
		r = json_string_value(json_object_get(result, "text"));
	if (r != NULL)
	{
		mcp_text_add(t, "Result:\n");
		mcp_text_capped(t, r, strlen(r), WHOLE_REPR);
	}
}

/* The run's stdout, stderr, value and error, then what else it said. */
static void
run_text(McpText *t, json_t *out)
{
	const char *status = json_string_value(json_object_get(out, "status"));
	json_t	   *error = json_object_get(out, "error");
	json_t	   *stdout_ = json_object_get(out, "stdout");
	json_t	   *stderr_ = json_object_get(out, "stderr");
	const char *notice = json_string_value(json_object_get(json_object_get(out, "session"),
														   "notice"));
	const char *job_notice = json_string_value(json_object_get(out, "notice"));

	/* first, so a NameError below reads as what it is */
	if (notice != NULL)
		mcp_text_addf(t, "Notice: %s\n", notice);
	if (job_notice != NULL)
		mcp_text_addf(t, "Notice: %s\n", job_notice);
	if (status && strcmp(status, "completed") != 0)
		mcp_text_addf(t, "Status: %s\n", status);
	/* an unfinished job (or a run that became one) says what to do next */
	if (status && (strcmp(status, "running") == 0 || strcmp(status, "pending") == 0))
	{
		json_t	   *progress = json_object_get(out, "progress");

		if (json_is_number(progress))
			mcp_text_addf(t, "Progress: %.0f%%%s%s\n", json_number_value(progress) * 100,
						  json_is_string(json_object_get(out, "progress_message")) ? " " : "",
						  json_is_string(json_object_get(out, "progress_message")) ?
						  json_string_value(json_object_get(out, "progress_message")) : "");
		if (json_is_string(json_object_get(out, "message")))
			mcp_text_addf(t, "%s\n", json_string_value(json_object_get(out, "message")));
	}
	if (json_string_length(stdout_) > 0)
	{
		/* a job still running shows its output so far (job_live.c) */
		if (status && (strcmp(status, "running") == 0 || strcmp(status, "pending") == 0))
			mcp_text_add(t, "Output so far:\n");
		mcp_text_capped(t, json_string_value(stdout_), json_string_length(stdout_),
						WHOLE_STDOUT);
	}
	if (json_string_length(stderr_) > 0)
	{
		mcp_text_add(t, "stderr:\n");
		mcp_text_capped(t, json_string_value(stderr_), json_string_length(stderr_),
						WHOLE_STDERR);
	}
	if (json_is_object(json_object_get(out, "result")))
		append_result(t, json_object_get(out, "result"));
	if (json_is_object(error))
	{
		const char *tb = json_string_value(json_object_get(error, "traceback"));
		const char *type = json_string_value(json_object_get(error, "type"));
		const char *msg = json_string_value(json_object_get(error, "message"));
		const char *hint = json_string_value(json_object_get(error, "hint"));

		mcp_text_newline(t);
		if (tb != NULL)
			mcp_text_capped(t, tb, strlen(tb), "structuredContent.error.traceback has all of it");
		else
			mcp_text_addf(t, "%s: %s\n", type ? type : "Error", msg ? msg : "");
		if (hint != NULL)
			mcp_text_addf(t, "Hint: %s\n", hint);
	}
	if (json_is_true(json_object_get(out, "figures_dropped")))
		mcp_text_add(t, "The run's figures were dropped: together they were over the "
					 "size limit. Save large figures to workspace files instead.\n");
	if (t->len == 0 && status && strcmp(status, "completed") == 0)
		mcp_text_add(t, "(no output)");
}

/*
 * The text an assistant reads of one display_data output: Markdown, else
 * plain text, else HTML; NULL when it has none (an image only).
 */
static const char *
output_text(json_t *data)
{
	static const char *const mimes[] = {"text/markdown", "text/plain", "text/html"};

	for (size_t i = 0; i < sizeof(mimes) / sizeof(mimes[0]); i++)
	{
		const char *t = json_string_value(json_object_get(data, mimes[i]));

		if (t != NULL)
			return t;
	}
	return NULL;
}

/*
 * The run's outputs in order: an image/png becomes image content (its data
 * then leaves structuredContent, like a figure's), a display_data output
 * text content.  An execute_result's text is already in the first text
 * ("Result:"), so only its image is added.
 */
static void
append_outputs(json_t *content, json_t *outputs)
{
	json_t	   *output;
	size_t		i;

	json_array_foreach(outputs, i, output)
	{
		json_t	   *data = json_object_get(output, "data");
		json_t	   *png = json_object_get(data, "image/png");
		const char *type = json_string_value(json_object_get(output, "type"));
		const char *text;

		if (json_is_string(png))
		{
			json_array_append_new(content, json_pack("{s:s,s:O,s:s}", "type", "image",
													 "data", png, "mimeType", "image/png"));
			json_object_del(data, "image/png");
		}
		else if (type != NULL && strcmp(type, "display_data") == 0 &&
				 (text = output_text(data)) != NULL)
			json_array_append_new(content, json_pack("{s:s,s:s}", "type", "text",
													 "text", text));
	}
}

/*
 * execute_code / get_job_result.  Images travel once, as image content;
 * structuredContent keeps their metadata only.  A result with outputs (the
 * executor's ordered display list, which holds every figure too) is shown
 * by them; an older one by its figures.
 */
json_t *
mcp_execute_content(json_t *out)
{
	const char *status = json_string_value(json_object_get(out, "status"));
	json_t	   *figures = json_object_get(out, "figures");
	json_t	   *outputs = json_object_get(out, "outputs");
	json_t	   *content = json_array();
	json_t	   *fig;
	McpText		text = {0};
	size_t		i;
	bool		failed = status && (strcmp(status, "failed") == 0 ||
									strcmp(status, "timeout") == 0);

	/* get_job_result of a load_dataset job */
	if (json_is_string(json_object_get(out, "dataset")) &&
		json_is_array(json_object_get(out, "columns")) && !failed)
		mcp_render_load(&text, out);
	else
		run_text(&text, out);
	json_array_append_new(content, mcp_text_content(&text));
	if (json_is_array(outputs))
		append_outputs(content, outputs);
	json_array_foreach(figures, i, fig)
	{
		json_t	   *png = json_object_get(fig, "png_base64");

		if (json_is_string(png) && !json_is_array(outputs))
			json_array_append_new(content, json_pack("{s:s,s:O,s:s}", "type", "image",
													 "data", png, "mimeType", "image/png"));
		json_object_del(fig, "png_base64");
	}
	return json_pack("{s:o,s:O,s:b}", "content", content,
					 "structuredContent", out, "isError", failed);
}

/* upload_file: text or base64 content into the workspace, one SQL call. */
json_t *
mcp_upload(json_t *args, GwError *err)
{
	const char *content = json_string_value(json_object_get(args, "content"));
	const char *encoding = json_string_value(json_object_get(args, "encoding"));
	const char *path = json_string_value(json_object_get(args, "path"));
	const char *sid = json_string_value(json_object_get(args, "session_id"));
	unsigned char *data;
	size_t		len;
	PGconn	   *conn;
	json_t	   *out;

	if (content == NULL || path == NULL || sid == NULL)
	{
		gw_error_set(err, 400, "invalid_request",
					 "upload_file needs path and content (strings)");
		return NULL;
	}
	if (encoding != NULL && strcmp(encoding, "base64") == 0)
	{
		if ((data = base64_decode(content, &len)) == NULL)
		{
			gw_error_set(err, 400, "invalid_request", "content is not valid base64");
			return NULL;
		}
	}
	else if ((data = malloc((len = json_string_length(json_object_get(args, "content"))) + 1)) != NULL)
		memcpy(data, content, len);
	else
	{
		gw_error_set(err, 503, "out_of_memory", "the gateway is out of memory");
		return NULL;
	}
	if ((conn = db_acquire(err)) == NULL)
	{
		free(data);
		return NULL;
	}
	out = op_write_file_chunk(conn, sid, path, (char *) data, len,
							json_is_true(json_object_get(args, "append")), err);
	db_release(conn);
	free(data);
	return out;
}

/* download_file: up to MCP_DOWNLOAD_MAX_BYTES; {path, size, bytes} */
json_t *
mcp_download(json_t *args, GwError *err)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	const char *sid = json_string_value(json_object_get(args, "session_id"));
	json_int_t	offset = json_integer_value(json_object_get(args, "offset"));
	json_int_t	length = json_integer_value(json_object_get(args, "length"));
	PGconn	   *conn;
	char	   *data;
	size_t		len;
	json_t	   *out;
	bool		is_text;

	if (path == NULL || sid == NULL)
	{
		gw_error_set(err, 400, "invalid_request", "download_file needs path");
		return NULL;
	}
	if (length <= 0 || length > MCP_DOWNLOAD_MAX_BYTES)
		length = MCP_DOWNLOAD_MAX_BYTES;
	if ((conn = db_acquire(err)) == NULL)
		return NULL;
	data = op_read_file_chunk(conn, sid, path, offset, length, &len, err);
	db_release(conn);
	if (data == NULL)
		return NULL;
	/* text if it is valid UTF-8 without NULs: jansson checks UTF-8 */
	{
		json_t	   *probe = memchr(data, '\0', len) ? NULL : json_stringn(data, len);

		is_text = probe != NULL;
		json_decref(probe);
	}
	if (is_text)
		out = json_pack("{s:s,s:I,s:I,s:s,s:s%}", "path", path, "offset",
						(json_int_t) offset, "size", (json_int_t) len,
						"encoding", "text", "content", data, len);
	else
	{
		char	   *b64 = base64_encode((unsigned char *) data, len);

		out = b64 == NULL ? NULL :
			json_pack("{s:s,s:I,s:I,s:s,s:s}", "path", path, "offset",
					  (json_int_t) offset, "size", (json_int_t) len,
					  "encoding", "base64", "content", b64);
		free(b64);
	}
	free(data);
	if (out == NULL)
	{
		gw_error_set(err, 503, "out_of_memory",
					 "the gateway is out of memory; read the file in smaller parts");
		return NULL;
	}
	json_object_set_new(out, "truncated", json_boolean(len == (size_t) length));
	return out;
}

json_t *
mcp_download_content(json_t *out)
{
	const char *enc = json_string_value(json_object_get(out, "encoding"));
	const char *path = json_string_value(json_object_get(out, "path"));
	size_t		pl = path ? strlen(path) : 0;
	json_t	   *content = json_array();

	if (enc != NULL && strcmp(enc, "text") == 0)
		json_array_append_new(content, json_pack("{s:s,s:O}", "type", "text", "text",
												 json_object_get(out, "content")));
	else if (pl > 4 && strcmp(path + pl - 4, ".png") == 0)
		json_array_append_new(content, json_pack("{s:s,s:O,s:s}", "type", "image",
												 "data", json_object_get(out, "content"),
												 "mimeType", "image/png"));
	else
		json_array_append_new(content, json_pack("{s:s,s:s}", "type", "text", "text",
												 "(binary file: base64 in structuredContent.content)"));
	return json_pack("{s:o,s:O}", "content", content, "structuredContent", out);
}
