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
		if (s->stream && mcp_stream_release)
			mcp_stream_release(s->stream);
		free(s);
	}
}

void		(*mcp_stream_release) (void *stream) = NULL;

McpSession *
mcp_session_new(const char *version)
{
	McpSession *s = calloc(1, sizeof(McpSession));
	time_t		now = time(NULL);
	int			slot = -1;

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

const char *
mcp_session_version(McpSession *s)
{
	return s->version;
}

void	  **
mcp_session_stream(McpSession *s)
{
	return &s->stream;
}

/* ---- JSON-RPC helpers -------------------------------------------------- */

static json_t *
rpc_result(json_t *id, json_t *result)
{
	return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

json_t *
mcp_rpc_error(json_t *id, int code, const char *message)
{
	return json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0",
					 "id", id ? id : json_null(), "error", "code", code,
					 "message", message);
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

	if (s->pi_session[0] != '\0')
		return true;
	args = json_pack("{s:s}", "label", "mcp");
	out = op_call(op_find("create_session"), args, err);
	json_decref(args);
	if (out == NULL)
		return false;
	snprintf(s->pi_session, sizeof(s->pi_session), "%s",
			 json_string_value(json_object_get(out, "session_id")));
	json_decref(out);
	return true;
}

static json_t *
tool_error(const char *text)
{
	return json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text",
					 "text", text, "isError", 1);
}

static json_t *
tool_error_from(const GwError *err)
{
	char		text[700];

	snprintf(text, sizeof(text), "Error (%s): %s%s", err->code, err->message,
			 err->retry_after ? " Retry in a moment." : "");
	return tool_error(text);
}

json_t *
mcp_call_tool(McpSession *s, json_t *params, ProgressFn progress, void *ctx)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t	   *args = json_object_get(params, "arguments");
	json_t	   *token = json_object_get(json_object_get(params, "_meta"), "progressToken");
	const Operation *op = name ? op_find(name) : NULL;
	GwError		err = {0};
	json_t	   *out;
	json_t	   *result;

	if (op == NULL)
		return NULL;			/* caller answers unknown tool */
	args = json_is_object(args) ? json_deep_copy(args) : json_object();
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
	{
		char	   *text = json_dumps(out, JSON_INDENT(2));

		result = json_pack("{s:[{s:s,s:s}],s:O}", "content", "type", "text",
						   "text", text, "structuredContent", out);
		free(text);
	}
	json_decref(out);
	return result;
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
	{
		const char *name = json_string_value(json_object_get(params, "name"));

		result = mcp_call_tool(s, params, progress, ctx);
		if (result == NULL && gw_config.test_tools && name)
			result = mcp_test_tool_call(name, params, progress, ctx);
		if (result == NULL)
		{
			char		m[300];

			snprintf(m, sizeof(m), "unknown tool \"%s\"", name ? name : "");
			return mcp_rpc_error(id, -32602, m);
		}
	}
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

static void
stdio_write(void *ctx, json_t *msg)
{
	char	   *text = json_dumps(msg, JSON_COMPACT);

	(void) ctx;
	pthread_mutex_lock(&stdout_lock);
	fputs(text, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	pthread_mutex_unlock(&stdout_lock);
	free(text);
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
			resp = mcp_handle(s, msg, stdio_write, NULL);
		if (resp != NULL)
			stdio_write(NULL, resp);
		json_decref(resp);
		json_decref(msg);
	}
	free(line);
	mcp_session_put(s);
}
