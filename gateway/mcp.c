/*-------------------------------------------------------------------------
 *
 * mcp.c
 *	  The Model Context Protocol, independent of transport: sessions,
 *	  initialize and version negotiation, ping, tools/list and tools/call
 *	  over the operations of ops.c, and how a result becomes content an
 *	  assistant reads (text, structuredContent, PNG images).
 *
 * mcp_http.c (Streamable HTTP and the legacy HTTP+SSE transport) and the
 * --stdio loop below feed JSON-RPC messages to mcp_handle and send back
 * what it returns; notifications sent while a tool runs (progress, log
 * messages) go through the transport's ProgressFn.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "mcp_internal.h"

/* Newest first: what we answer when the client asks for one we lack. */
static const char *const protocol_versions[] = {
	"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", NULL
};

/*
 * Sessions live in memory; a gateway restart ends them (clients then
 * re-initialize, as the spec expects after a 404).  Idle ones are dropped
 * after a day so a client that never sends DELETE does not leak.
 */
#define MAX_MCP_SESSIONS 4096
#define MCP_SESSION_IDLE_S (24 * 3600)

struct McpSession
{
	char		id[33];
	char		version[16];
	char		pi_session[40]; /* auto-created pi session, "" until used */
	time_t		last_used;
	int			refcount;
	bool		ended;
	void	   *stream;			/* legacy SSE stream, mcp_http.c */
	void		(*stream_release) (void *stream);
};

static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static McpSession *sessions[MAX_MCP_SESSIONS];

bool
mcp_version_supported(const char *v)
{
	for (int i = 0; protocol_versions[i]; i++)
		if (strcmp(v, protocol_versions[i]) == 0)
			return true;
	return false;
}

static void
session_unref_locked(McpSession *s)
{
	if (--s->refcount == 0)
	{
		/* a legacy SSE session holds a reference on its stream */
		if (s->stream && s->stream_release)
			s->stream_release(s->stream);
		free(s);
	}
}

/* A new session with a reference for the caller; NULL when out of memory. */
McpSession *
mcp_session_new(const char *version)
{
	McpSession *s = calloc(1, sizeof(McpSession));
	time_t		now = time(NULL);
	int			slot = -1;

	if (s == NULL)
		return NULL;
	gw_random_hex(s->id, 16);
	snprintf(s->version, sizeof(s->version), "%s", version);
	s->last_used = now;
	s->refcount = 2;			/* the table's and the caller's */
	pthread_mutex_lock(&sessions_lock);
	for (int i = 0; i < MAX_MCP_SESSIONS; i++)
	{
		McpSession *o = sessions[i];

		if (o != NULL && now - o->last_used > MCP_SESSION_IDLE_S)
		{
			sessions[i] = NULL;
			session_unref_locked(o);
			o = NULL;
		}
		if (o == NULL && slot < 0)
			slot = i;
	}
	if (slot >= 0)
		sessions[slot] = s;
	else
		s->refcount = 1;		/* table full: works for this call only */
	pthread_mutex_unlock(&sessions_lock);
	return s;
}

/* Look a session up and take a reference; NULL when unknown or ended. */
McpSession *
mcp_session_get(const char *id)
{
	McpSession *found = NULL;

	pthread_mutex_lock(&sessions_lock);
	for (int i = 0; i < MAX_MCP_SESSIONS && id; i++)
		if (sessions[i] && strcmp(sessions[i]->id, id) == 0)
		{
			found = sessions[i];
			found->refcount++;
			found->last_used = time(NULL);
			break;
		}
	pthread_mutex_unlock(&sessions_lock);
	return found;
}

void
mcp_session_put(McpSession *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&sessions_lock);
	session_unref_locked(s);
	pthread_mutex_unlock(&sessions_lock);
}

bool
mcp_session_end(const char *id)
{
	bool		found = false;

	pthread_mutex_lock(&sessions_lock);
	for (int i = 0; i < MAX_MCP_SESSIONS; i++)
		if (sessions[i] && strcmp(sessions[i]->id, id) == 0)
		{
			sessions[i]->ended = true;
			session_unref_locked(sessions[i]);
			sessions[i] = NULL;
			found = true;
			break;
		}
	pthread_mutex_unlock(&sessions_lock);
	return found;
}

const char *
mcp_session_id(McpSession *s)
{
	return s->id;
}

void
mcp_session_set_stream(McpSession *s, void *stream,
					   void (*release) (void *stream))
{
	s->stream = stream;
	s->stream_release = release;
}

void *
mcp_session_stream(McpSession *s)
{
	return s->stream;
}

/* ---- JSON-RPC helpers -------------------------------------------------- */

/*
 * A JSON-RPC error.  message may hold any bytes (a parse error quotes the
 * input, a name may have been cut mid-character): they are made valid
 * UTF-8 so the answer cannot fail to build.  NULL only when out of memory.
 */
json_t *
mcp_rpc_error(json_t *id, int code, const char *message)
{
	return json_pack("{s:s,s:O,s:{s:i,s:o}}", "jsonrpc", "2.0",
					 "id", id ? id : json_null(), "error", "code", code,
					 "message", gw_json_string(message));
}

/* Takes result; one that could not be built answers an internal error. */
static json_t *
rpc_result(json_t *id, json_t *result)
{
	if (result == NULL)
		return mcp_rpc_error(id, -32603, "internal error: out of memory");
	return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

/* ---- initialize, tools/list ------------------------------------------- */

static json_t *
handle_initialize(McpSession *s, json_t *params)
{
	const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
	const char *v = (asked && mcp_version_supported(asked)) ? asked : protocol_versions[0];

	if (s != NULL)
		snprintf(s->version, sizeof(s->version), "%s", v);
	return json_pack("{s:s,s:{s:{s:b},s:{}},s:{s:s,s:s,s:s},s:s}",
					 "protocolVersion", v,
					 "capabilities", "tools", "listChanged", 0, "logging",
					 "serverInfo", "name", "pi-gateway", "title",
					 "Power Interpreter", "version", GATEWAY_VERSION,
					 "instructions",
					 "Power Interpreter runs Python (pandas, numpy, matplotlib, "
					 "scipy, sklearn) in a sandbox. Each conversation has its own "
					 "session: variables and files persist across execute_code "
					 "calls. Upload data with upload_file; load big CSVs with "
					 "load_dataset and query them with query_dataset; charts come "
					 "back as images.");
}

static json_t *
tool_json(const Operation *op)
{
	return json_pack("{s:s,s:s,s:s,s:o,s:o}", "name", op->name, "title", op->title,
					 "description", op->description,
					 "inputSchema", json_loads(op->input_schema, 0, NULL),
					 "outputSchema", json_loads(op->output_schema, 0, NULL));
}

static json_t *
handle_tools_list(void)
{
	json_t	   *tools = json_array();
	const Operation *op;

	for (int i = 0; (op = op_at(i)) != NULL; i++)
		json_array_append_new(tools, tool_json(op));
	if (gw_config.test_tools)
		mcp_test_tools_list(tools);
	return json_pack("{s:o}", "tools", tools);
}

/* ---- tools/call --------------------------------------------------------- */

/* The pi session of this MCP session, created on first use. */
static bool
ensure_pi_session(McpSession *s, GwError *err)
{
	json_t	   *args,
			   *out;
	const char *id;

	if (s->pi_session[0] != '\0')
		return true;
	args = json_pack("{s:s}", "label", "mcp");
	out = op_call(op_find("create_session"), args, err);
	json_decref(args);
	if (out == NULL)
		return false;
	id = json_string_value(json_object_get(out, "session_id"));
	if (id == NULL)
		gw_error_set(err, 500, "internal_error", "create_session returned no session_id");
	else
		snprintf(s->pi_session, sizeof(s->pi_session), "%s", id);
	json_decref(out);
	return id != NULL;
}

/*
 * A tool call that failed: isError content naming the error.  The message
 * is valid UTF-8 (gw_error_set) and the buffer holds it whole, so this is
 * NULL only when out of memory.
 */
static json_t *
tool_error_from(const GwError *err)
{
	char		text[sizeof(err->code) + sizeof(err->message) + 64];

	snprintf(text, sizeof(text), "Error (%s): %s%s", err->code, err->message,
			 err->retry_after ? " Retry in a moment." : "");
	return json_pack("{s:[{s:s,s:o}],s:b}", "content", "type", "text",
					 "text", gw_json_string(text), "isError", 1);
}

/* An operation's result as tool content: text and structuredContent. */
static json_t *
generic_content(json_t *out)
{
	char	   *text = json_dumps(out, JSON_INDENT(2));
	json_t	   *result = NULL;

	if (text != NULL)
		result = json_pack("{s:[{s:s,s:s}],s:O}", "content", "type", "text",
						   "text", text, "structuredContent", out);
	free(text);
	return result;
}

/*
 * tools/call of an operation.  Any failure, even of arguments, is an
 * isError result: the tool exists.
 */
static json_t *
call_operation(McpSession *s, const Operation *op, json_t *params,
			   ProgressFn progress, void *ctx)
{
	json_t	   *args = json_object_get(params, "arguments");
	json_t	   *token = json_object_get(json_object_get(params, "_meta"), "progressToken");
	GwError		err = {0};
	json_t	   *out;
	json_t	   *result;

	args = json_is_object(args) ? json_deep_copy(args) : json_object();
	if (args == NULL)
	{
		gw_error_set(&err, 503, "out_of_memory", "the gateway is out of memory");
		return tool_error_from(&err);
	}
	if (op->session_scoped && s != NULL &&
		json_object_get(args, "session_id") == NULL)
	{
		if (!ensure_pi_session(s, &err))
		{
			json_decref(args);
			return tool_error_from(&err);
		}
		json_object_set_new(args, "session_id", json_string(s->pi_session));
	}
	if (op->kind == OP_UPLOAD)
		out = mcp_upload(args, &err);
	else if (op->kind == OP_DOWNLOAD)
		out = mcp_download(args, &err);
	else if (op->kind == OP_EXECUTE && token != NULL && progress != NULL)
		out = op_call_with_progress(op, args, token, progress, ctx, &err);
	else
		out = op_call(op, args, &err);
	json_decref(args);
	if (out == NULL)
		return tool_error_from(&err);
	if (op->kind == OP_EXECUTE)
		result = mcp_execute_content(out);
	else if (op->kind == OP_DOWNLOAD)
		result = mcp_download_content(out);
	else
		result = generic_content(out);
	json_decref(out);
	return result;
}

/*
 * tools/call: an operation, or with --test-tools a conformance test tool.
 * Only a name that is neither is "unknown tool".
 */
static json_t *
handle_tools_call(McpSession *s, json_t *id, json_t *params,
				  ProgressFn progress, void *ctx)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	const Operation *op = name ? op_find(name) : NULL;
	json_t	   *result = NULL;
	char		m[300];

	if (op != NULL)
		return rpc_result(id, call_operation(s, op, params, progress, ctx));
	if (gw_config.test_tools && name)
		result = mcp_test_tool_call(name, params, progress, ctx);
	if (result != NULL)
		return rpc_result(id, result);
	/* a long name is cut, maybe mid-character: mcp_rpc_error mends it */
	snprintf(m, sizeof(m), "unknown tool \"%s\"", name ? name : "");
	return mcp_rpc_error(id, -32602, m);
}

/* ---- dispatch ------------------------------------------------------------ */

/*
 * Handle one JSON-RPC message.  Returns the response, or NULL for a
 * notification or a client's response (nothing to answer).
 */
json_t *
mcp_handle(McpSession *s, json_t *msg, ProgressFn progress, void *ctx)
{
	json_t	   *id = json_object_get(msg, "id");
	const char *method = json_string_value(json_object_get(msg, "method"));
	json_t	   *params = json_object_get(msg, "params");
	json_t	   *result;

	if (!json_is_object(msg) ||
		!json_is_string(json_object_get(msg, "jsonrpc")) ||
		strcmp(json_string_value(json_object_get(msg, "jsonrpc")), "2.0") != 0)
		return mcp_rpc_error(id, -32600, "not a JSON-RPC 2.0 message");
	if (method == NULL)
		return id ? NULL : mcp_rpc_error(NULL, -32600, "missing method");
	if (id == NULL)
		return NULL;			/* notification: nothing to answer */
	if (strcmp(method, "initialize") == 0)
		result = handle_initialize(s, params);
	else if (strcmp(method, "ping") == 0 || strcmp(method, "logging/setLevel") == 0)
		result = json_object();
	else if (strcmp(method, "tools/list") == 0)
		result = handle_tools_list();
	else if (strcmp(method, "tools/call") == 0)
		return handle_tools_call(s, id, params, progress, ctx);
	else if (strcmp(method, "resources/list") == 0)
		result = json_pack("{s:[]}", "resources");
	else if (strcmp(method, "prompts/list") == 0)
		result = json_pack("{s:[]}", "prompts");
	else
	{
		char		m[200];

		snprintf(m, sizeof(m), "method \"%.100s\" not found", method);
		return mcp_rpc_error(id, -32601, m);
	}
	return rpc_result(id, result);
}

/* ---- stdio transport ----------------------------------------------------- */

static pthread_mutex_t stdout_lock = PTHREAD_MUTEX_INITIALIZER;

/* One message as a line on stdout; NULL (out of memory) writes nothing. */
static void
stdio_write(void *ctx, json_t *msg)
{
	char	   *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;

	(void) ctx;
	if (text == NULL)
		return;
	pthread_mutex_lock(&stdout_lock);
	fputs(text, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	pthread_mutex_unlock(&stdout_lock);
	free(text);
}

/* The ProgressFn of --stdio: write the notification and drop it. */
static void
stdio_notify(void *ctx, json_t *notification)
{
	stdio_write(ctx, notification);
	json_decref(notification);
}

/*
 * --stdio: one newline-delimited JSON-RPC message per line on stdin, one
 * session for the life of the process.  Log lines go to stderr only.
 */
void
mcp_stdio_loop(void)
{
	McpSession *s = mcp_session_new("2025-06-18");
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		n;

	if (s == NULL)
	{
		fprintf(stderr, "pi-gateway: out of memory\n");
		return;
	}
	while ((n = getline(&line, &cap, stdin)) > 0)
	{
		json_error_t jerr;
		json_t	   *msg = json_loadb(line, n, 0, &jerr);
		json_t	   *resp;

		if (msg == NULL)
		{
			if (strspn(line, " \t\r\n") == (size_t) n)
				continue;
			resp = mcp_rpc_error(NULL, -32700, jerr.text);
		}
		else
			resp = mcp_handle(s, msg, stdio_notify, NULL);
		if (resp != NULL)
			stdio_write(NULL, resp);
		json_decref(resp);
		json_decref(msg);
	}
	free(line);
	mcp_session_put(s);
}
