/*-------------------------------------------------------------------------
 *
 * mcp.c
 *	  The Model Context Protocol, independent of transport: sessions,
 *	  initialize and version negotiation, ping, tools/list and tools/call
 *	  over the operations of ops.c, and how a result becomes content an
 *	  assistant reads (text, structuredContent, PNG images, links to the
 *	  files a run wrote); resources/list and resources/read of the
 *	  conversation's own session (mcp_resources.c).
 *
 * mcp_http.c (Streamable HTTP and the legacy HTTP+SSE transport) and
 * mcp_stdio.c (--stdio) feed JSON-RPC messages to mcp_handle and send back
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
 * re-initialize, as the spec expects after a 404).  The table holds
 * gw_config.mcp_max_sessions; when it is full, a new session takes the
 * place of the least recently used idle one (no call running, no legacy
 * SSE stream open), so whoever floods initialize only pushes out sessions
 * nobody is using.  A session is also dropped after a day idle, so a client
 * that never sends DELETE does not keep its place forever.
 */
#define MCP_SESSION_IDLE_S (24 * 3600)

/*
 * Ids of sessions pushed out, so their client gets a 404 that says why
 * rather than "unknown".  The last 1024 (33 KB) cover any client that
 * comes back while the flood that evicted it is still recent.
 */
#define MCP_EVICTED_REMEMBERED 1024

/*
 * A tools/call in flight, so that notifications/cancelled naming its
 * request id can stop it (op_cancel).  It lives on its caller's stack, in
 * the session's list while the call runs.
 */
typedef struct InFlight
{
	struct InFlight *next;
	json_t	   *request_id;
	OpCall	   *call;
} InFlight;

struct McpSession
{
	char		id[33];
	char		version[16];
	char		pi_session[40]; /* auto-created pi session, "" until used */
	char		tenant[GW_ROLE_MAX];	/* the role of the key that opened it */
	time_t		last_used;		/* for the day-idle expiry */
	uint64_t	last_use_seq;	/* for LRU: a counter, finer than seconds */
	int			refcount;
	bool		ended;
	InFlight   *in_flight;		/* tools/call running, under sessions_lock */
	void	   *stream;			/* legacy SSE stream, mcp_http.c */
	void		(*stream_release) (void *stream);
};

typedef struct EvictedSession
{
	char		id[33];
	const char *why;
} EvictedSession;

static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static McpSession **sessions;	/* gw_config.mcp_max_sessions slots */
static int	n_slots;
static uint64_t use_seq;
static EvictedSession evicted[MCP_EVICTED_REMEMBERED];
static int	evicted_next;

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

/* Take slot i's session out of the table, remembering why for its client. */
static void
evict_locked(int i, const char *why)
{
	EvictedSession *e = &evicted[evicted_next];

	memcpy(e->id, sessions[i]->id, sizeof(e->id));
	e->why = why;
	evicted_next = (evicted_next + 1) % MCP_EVICTED_REMEMBERED;
	sessions[i]->ended = true;
	session_unref_locked(sessions[i]);
	sessions[i] = NULL;
}

/* Idle: only the table holds it (no call running) and no stream is open. */
static bool
session_idle_locked(const McpSession *s)
{
	return s->refcount == 1 && s->stream == NULL;
}

/*
 * A free slot for a new session: an empty one, or the place of the least
 * recently used idle session.  -1 when every session is busy.  Sessions
 * idle for a day are dropped on the way.
 */
static int
free_slot_locked(time_t now)
{
	int			slot = -1,
				lru = -1;

	for (int i = 0; i < n_slots; i++)
	{
		McpSession *o = sessions[i];

		if (o != NULL && session_idle_locked(o) &&
			now - o->last_used > MCP_SESSION_IDLE_S)
		{
			evict_locked(i, "it was idle for a day");
			o = NULL;
		}
		if (o == NULL)
		{
			if (slot < 0)
				slot = i;
		}
		else if (session_idle_locked(o) &&
				 (lru < 0 || o->last_use_seq < sessions[lru]->last_use_seq))
			lru = i;
	}
	if (slot < 0 && lru >= 0)
	{
		evict_locked(lru, "the session table was full and it was the least "
					 "recently used (PI_GATEWAY_MCP_SESSIONS)");
		slot = lru;
	}
	return slot;
}

/*
 * A new session in the table, with a reference for the caller.  NULL with
 * err set when out of memory or when every place holds a busy session:
 * never a session that a later call would not find.
 */
McpSession *
mcp_session_new(const char *version, GwError *err)
{
	McpSession *s = calloc(1, sizeof(McpSession));
	time_t		now = time(NULL);
	int			slot = -1;

	if (s == NULL)
	{
		gw_error_set(err, 503, "out_of_memory", "the gateway is out of memory");
		err->retry_after = 1;
		return NULL;
	}
	gw_random_hex(s->id, 16);
	snprintf(s->version, sizeof(s->version), "%s", version);
	snprintf(s->tenant, sizeof(s->tenant), "%s", db_current_tenant());
	s->last_used = now;
	s->refcount = 2;			/* the table's and the caller's */
	pthread_mutex_lock(&sessions_lock);
	if (sessions == NULL)
	{
		n_slots = gw_config.mcp_max_sessions;	/* main.c: > 0, default set */
		sessions = calloc(n_slots, sizeof(McpSession *));
	}
	if (sessions != NULL)
		slot = free_slot_locked(now);
	if (slot >= 0)
	{
		s->last_use_seq = ++use_seq;
		sessions[slot] = s;
	}
	pthread_mutex_unlock(&sessions_lock);
	if (slot >= 0)
		return s;
	free(s);
	if (sessions == NULL)
		gw_error_set(err, 503, "out_of_memory", "the gateway is out of memory");
	else
		gw_error_set(err, 503, "too_many_sessions",
					 "all %d MCP sessions are in use by running calls or open "
					 "streams; retry in a moment (PI_GATEWAY_MCP_SESSIONS)",
					 n_slots);
	err->retry_after = 1;
	return NULL;
}

/*
 * Look a session up and take a reference.  NULL with a 404 in err when it
 * is unknown or ended (the message says so when it was evicted), or when
 * it belongs to another tenant: a session answers only the key's tenant
 * that opened it, and another one learns nothing, not even that it exists.
 */
McpSession *
mcp_session_get(const char *id, GwError *err)
{
	McpSession *found = NULL;
	const char *why = NULL;
	const char *tenant = db_current_tenant();

	pthread_mutex_lock(&sessions_lock);
	for (int i = 0; i < n_slots && id; i++)
		if (sessions[i] && strcmp(sessions[i]->id, id) == 0 &&
			strcmp(sessions[i]->tenant, tenant) == 0)
		{
			found = sessions[i];
			found->refcount++;
			found->last_used = time(NULL);
			found->last_use_seq = ++use_seq;
			break;
		}
	for (int i = 0; found == NULL && id && i < MCP_EVICTED_REMEMBERED; i++)
		if (evicted[i].why && strcmp(evicted[i].id, id) == 0)
			why = evicted[i].why;
	pthread_mutex_unlock(&sessions_lock);
	if (found == NULL && why != NULL)
		gw_error_set(err, 404, "session_evicted",
					 "MCP session ended because %s; initialize a new one", why);
	else if (found == NULL)
		gw_error_set(err, 404, "not_found",
					 "unknown or ended MCP session: initialize a new one");
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
	for (int i = 0; i < n_slots; i++)
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

/* ---- in-flight calls and notifications/cancelled ------------------------ */

static void
in_flight_add(McpSession *s, InFlight *f)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&sessions_lock);
	f->next = s->in_flight;
	s->in_flight = f;
	pthread_mutex_unlock(&sessions_lock);
}

static void
in_flight_remove(McpSession *s, InFlight *f)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&sessions_lock);
	for (InFlight **p = &s->in_flight; *p; p = &(*p)->next)
		if (*p == f)
		{
			*p = f->next;
			break;
		}
	pthread_mutex_unlock(&sessions_lock);
}

/*
 * notifications/cancelled: stop the call with that request id, if it still
 * runs.  The call then cancels its backend query (and its job), so its
 * executor slot is free as soon as the run stops.  A request id the
 * session does not know is ignored, as the spec says.
 */
static void
cancel_request(McpSession *s, json_t *params)
{
	json_t	   *rid = json_object_get(params, "requestId");

	if (s == NULL || rid == NULL)
		return;
	pthread_mutex_lock(&sessions_lock);
	for (InFlight *f = s->in_flight; f; f = f->next)
		if (json_equal(f->request_id, rid))
			op_cancel(f->call);
	pthread_mutex_unlock(&sessions_lock);
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
	return json_pack("{s:s,s:{s:{s:b},s:{},s:{s:b,s:b}},s:{s:s,s:s,s:s},s:s}",
					 "protocolVersion", v,
					 "capabilities", "tools", "listChanged", 0, "logging",
					 "resources", "subscribe", 0, "listChanged", 0,
					 "serverInfo", "name", "pi-gateway", "title",
					 "Power Interpreter", "version", GATEWAY_VERSION,
					 "instructions",
					 "Power Interpreter runs Python (pandas, numpy, matplotlib, "
					 "scipy, sklearn) in a sandbox. Each conversation has its own "
					 "session: variables and files persist across execute_code "
					 "calls. Upload data with upload_file; load big CSVs with "
					 "load_dataset and query them with query_dataset; charts come "
					 "back as images, and files a run writes as resource links "
					 "(resources/read gives their bytes).");
}

/*
 * The MCP annotations of each operation: hints a client uses to decide
 * what to confirm with its user.  Nothing reaches outside the sandbox
 * (openWorld is false everywhere: no network, only this server's own
 * workspace and datasets).  Code can overwrite or delete files and
 * variables, so running it is destructive; an upload replaces a file of
 * the same path and a load a dataset of the same name.  Idempotent: the
 * same call again changes nothing more (a second delete or cancel finds
 * it done, a second load replaces the dataset with the same rows), which
 * running code, creating a session and appending an upload do not.
 */
static const struct
{
	const char *name;
	bool		read_only;
	bool		destructive;
	bool		idempotent;
}			tool_hints[] = {
	{"execute_code", false, true, false},
	{"submit_job", false, true, false},
	{"get_job_status", true, false, true},
	{"get_job_result", true, false, true},
	{"cancel_job", false, true, true},
	{"create_session", false, false, false},
	{"list_files", true, false, true},
	{"upload_file", false, true, false},
	{"download_file", true, false, true},
	{"delete_file", false, true, true},
	{"load_dataset", false, true, true},
	{"query_dataset", true, false, true},
	{"list_datasets", true, false, true},
};

/*
 * An operation without an entry gets the most cautious hints: it may
 * change and destroy things and should be confirmed.
 */
static json_t *
tool_annotations(const Operation *op)
{
	bool		read_only = false,
				destructive = true,
				idempotent = false;

	for (size_t i = 0; i < sizeof(tool_hints) / sizeof(tool_hints[0]); i++)
		if (strcmp(tool_hints[i].name, op->name) == 0)
		{
			read_only = tool_hints[i].read_only;
			destructive = tool_hints[i].destructive;
			idempotent = tool_hints[i].idempotent;
		}
	return json_pack("{s:s,s:b,s:b,s:b,s:b}", "title", op->title,
					 "readOnlyHint", read_only, "destructiveHint", destructive,
					 "idempotentHint", idempotent, "openWorldHint", 0);
}

static json_t *
tool_json(const Operation *op)
{
	return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}", "name", op->name, "title", op->title,
					 "description", op->description,
					 "inputSchema", json_loads(op->input_schema, 0, NULL),
					 "outputSchema", json_loads(op->output_schema, 0, NULL),
					 "annotations", tool_annotations(op));
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
 * Whether a run's files can be handed over as resource links: the client
 * speaks a version that has resource_link content (2025-06-18 on; an older
 * client's schema would refuse the whole result), and the run was in the
 * conversation's own session, the only one resources/read serves.  A
 * job's result names its session; execute_code's is in its arguments.
 */
static bool
links_followable(McpSession *s, json_t *args, json_t *out)
{
	const char *sid = json_string_value(json_object_get(args, "session_id"));

	if (sid == NULL)
		sid = json_string_value(json_object_get(json_object_get(out, "session"), "id"));
	return s != NULL && s->pi_session[0] != '\0' && sid != NULL &&
		strcmp(sid, s->pi_session) == 0 && strcmp(s->version, "2025-06-18") >= 0;
}

/*
 * tools/call of an operation.  Any failure, even of arguments, is an
 * isError result: the tool exists.
 */
static json_t *
call_operation(McpSession *s, json_t *id, const Operation *op, json_t *params,
			   const McpWatch *watch)
{
	json_t	   *args = json_object_get(params, "arguments");
	json_t	   *token = json_object_get(json_object_get(params, "_meta"), "progressToken");
	GwError		err = {0};
	json_t	   *out;
	json_t	   *result;
	OpCall		call = {.client_gone = watch->client_gone,
		.client_arg = watch->client_arg,
		.wait_budget_s = gw_config.execute_wait_s};	/* main.c: > 0 */
	InFlight	flight = {.request_id = id, .call = &call};

	if (args != NULL && !json_is_null(args) && !json_is_object(args))
	{
		gw_error_set(&err, 400, "invalid_request",
					 "params.arguments must be an object of %s's arguments "
					 "(see its inputSchema in tools/list)", op->name);
		return mcp_render_error(&err);
	}
	args = json_is_object(args) ? json_deep_copy(args) : json_object();
	if (args == NULL)
	{
		gw_error_set(&err, 503, "out_of_memory", "the gateway is out of memory");
		return mcp_render_error(&err);
	}
	/* before a session is made for it: a wrong argument costs nothing */
	if (!op_check_args(op, args, &err))
	{
		json_decref(args);
		return mcp_render_error(&err);
	}
	if (op->session_scoped && s != NULL &&
		json_object_get(args, "session_id") == NULL)
	{
		if (!ensure_pi_session(s, &err))
		{
			json_decref(args);
			return mcp_render_error(&err);
		}
		json_object_set_new(args, "session_id", json_string(s->pi_session));
	}
	if (op->kind == OP_UPLOAD)
		out = mcp_upload(args, &err);
	else if (op->kind == OP_DOWNLOAD)
		out = mcp_download(args, &err);
	else
	{
		if (token != NULL && watch->progress != NULL)
		{
			call.progress_token = token;
			call.progress = watch->progress;
			call.progress_ctx = watch->progress_ctx;
		}
		in_flight_add(s, &flight);
		out = op_run(op, args, &call, &err);
		in_flight_remove(s, &flight);
	}
	if (out == NULL)
	{
		json_decref(args);
		return mcp_render_error(&err);
	}
	if (op->kind == OP_EXECUTE)
	{
		result = mcp_execute_content(out);
		if (result != NULL && links_followable(s, args, out))
			mcp_resource_links(result, out, s->pi_session);
	}
	else if (op->kind == OP_DOWNLOAD)
		result = mcp_download_content(out);
	else
		result = mcp_render_result(op->name, out);
	json_decref(args);
	json_decref(out);
	return result;
}

/* The operations' names, "execute_code, submit_job, ...", for errors. */
static void
tool_names(char *buf, size_t size)
{
	const Operation *op;

	buf[0] = '\0';
	for (int i = 0; (op = op_at(i)) != NULL; i++)
		if (!op->test_only || gw_config.test_tools)
			snprintf(buf + strlen(buf), size - strlen(buf), "%s%s",
					 i > 0 ? ", " : "", op->name);
}

/*
 * tools/call: an operation, or with --test-tools a conformance test tool.
 * Only a name that is neither is "unknown tool".
 */
static json_t *
handle_tools_call(McpSession *s, json_t *id, json_t *params,
				  const McpWatch *watch)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	const Operation *op = name ? op_find(name) : NULL;
	json_t	   *result = NULL;
	char		m[800];
	char		names[400];
	char		got[96];

	tool_names(names, sizeof(names));
	if (name == NULL)
	{
		/* not "unknown tool \"\"": the name is missing or not a string */
		gw_describe_json(json_object_get(params, "name"), got, sizeof(got));
		snprintf(m, sizeof(m), "params.name must be a string naming the tool "
				 "to call, one of: %s (tools/list describes them); got %s",
				 names, got);
		return mcp_rpc_error(id, -32602, m);
	}
	if (op != NULL)
		return rpc_result(id, call_operation(s, id, op, params, watch));
	if (gw_config.test_tools && name)
		result = mcp_test_tool_call(name, params, watch->progress,
									watch->progress_ctx);
	if (result != NULL)
		return rpc_result(id, result);
	/* a long name is cut, maybe mid-character: mcp_rpc_error mends it */
	snprintf(m, sizeof(m), "unknown tool \"%.200s\": the tools are %s "
			 "(tools/list describes them)", name, names);
	return mcp_rpc_error(id, -32602, m);
}

/*
 * resources/list and resources/read: the files of this conversation's pi
 * session (mcp_resources.c), never another's.
 */
static json_t *
handle_resources(McpSession *s, json_t *id, const char *method, json_t *params)
{
	const char *sid = s != NULL ? s->pi_session : "";
	GwError		err = {0};
	json_t	   *result;
	int			code = -32603;

	if (strcmp(method, "resources/list") == 0)
	{
		result = mcp_resources_list(sid, params, &err);
		if (result == NULL && err.http_status == 400)
			code = -32602;		/* a bad cursor */
	}
	else
		result = mcp_resources_read(sid, params, &code, &err);
	if (result == NULL)
		return mcp_rpc_error(id, code, err.message[0] ? err.message :
							 "internal error: out of memory");
	return rpc_result(id, result);
}

/* ---- dispatch ------------------------------------------------------------ */

/*
 * Handle one JSON-RPC message.  Returns the response, or NULL for a
 * notification or a client's response (nothing to answer).
 */
json_t *
mcp_handle(McpSession *s, json_t *msg, ProgressFn progress, void *ctx)
{
	McpWatch	watch = {progress, ctx, NULL, NULL};

	return mcp_handle_watched(s, msg, &watch);
}

/* The same, for a transport that can tell when its client went away. */
json_t *
mcp_handle_watched(McpSession *s, json_t *msg, const McpWatch *watch)
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
	{
		if (strcmp(method, "notifications/cancelled") == 0)
			cancel_request(s, params);
		return NULL;			/* notification: nothing to answer */
	}
	if (strcmp(method, "initialize") == 0)
		result = handle_initialize(s, params);
	else if (strcmp(method, "ping") == 0 || strcmp(method, "logging/setLevel") == 0)
		result = json_object();
	else if (strcmp(method, "tools/list") == 0)
		result = handle_tools_list();
	else if (strcmp(method, "tools/call") == 0)
		return handle_tools_call(s, id, params, watch);
	else if (strcmp(method, "resources/list") == 0 ||
			 strcmp(method, "resources/read") == 0)
		return handle_resources(s, id, method, params);
	else if (strcmp(method, "resources/templates/list") == 0)
		result = json_pack("{s:[]}", "resourceTemplates");
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
