/*-------------------------------------------------------------------------
 *
 * mcp_http.c
 *	  MCP over HTTP: the Streamable HTTP transport at /mcp (2025-03-26,
 *	  2025-06-18, 2025-11-25) and the older HTTP+SSE transport (GET /sse,
 *	  POST /messages?sessionId=) that some hosted assistants still use.
 *
 * A POST to /mcp is answered with one JSON body, except a tools/call whose
 * client wants notifications while it runs (a progressToken, or a test
 * tool that logs): that answer is an SSE stream, fed by a thread that runs
 * the tool while libmicrohttpd's connection thread blocks in sse_reader.
 * The legacy transport keeps one such stream per session and POSTs are
 * answered 202 with the response sent down the stream.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "mcp_internal.h"

/* Idle SSE streams get a comment this often so proxies keep them open. */
#define SSE_KEEPALIVE_S 15

typedef struct SseEvent
{
	struct SseEvent *next;
	char	   *text;
	size_t		len;
	size_t		sent;
} SseEvent;

typedef struct SseStream
{
	pthread_mutex_t lock;
	pthread_cond_t cond;
	SseEvent   *head;
	SseEvent   *tail;
	bool		finished;		/* writer done: end the stream when drained */
	bool		closed;			/* the client's connection is gone */
	int			refcount;
	char		session_id[33]; /* legacy: end the session with the stream */
} SseStream;

/* A stream with one reference; NULL when out of memory. */
static SseStream *
sse_new(void)
{
	SseStream  *st = calloc(1, sizeof(SseStream));

	if (st == NULL)
		return NULL;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	st->refcount = 1;
	return st;
}

static void
sse_unref(SseStream *st)
{
	bool		last;

	pthread_mutex_lock(&st->lock);
	last = --st->refcount == 0;
	pthread_mutex_unlock(&st->lock);
	if (!last)
		return;
	while (st->head)
	{
		SseEvent   *e = st->head;

		st->head = e->next;
		free(e->text);
		free(e);
	}
	free(st);
}

/* Queue text (malloc'd, taken over); out of memory drops it. */
static void
sse_push_raw(SseStream *st, char *text)
{
	SseEvent   *e = calloc(1, sizeof(SseEvent));

	if (e == NULL)
	{
		free(text);
		return;
	}
	e->text = text;
	e->len = strlen(text);
	pthread_mutex_lock(&st->lock);
	if (st->tail)
		st->tail->next = e;
	else
		st->head = e;
	st->tail = e;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
}

/*
 * One JSON-RPC message as an SSE "message" event; a ProgressFn, so it
 * takes msg.  A message that could not be built (NULL) is dropped.
 */
static void
sse_push(void *ctx, json_t *msg)
{
	char	   *json = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	char	   *text = json ? malloc(strlen(json) + 32) : NULL;

	json_decref(msg);
	if (text != NULL)
	{
		sprintf(text, "event: message\ndata: %s\n\n", json);
		sse_push_raw(ctx, text);
	}
	free(json);
}

static void
sse_finish(SseStream *st)
{
	pthread_mutex_lock(&st->lock);
	st->finished = true;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
}

/* libmicrohttpd asks for more of the stream; we may block (thread mode). */
static ssize_t
sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	SseStream  *st = cls;
	ssize_t		n;

	(void) pos;
	pthread_mutex_lock(&st->lock);
	while (st->head == NULL && !st->finished)
	{
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += SSE_KEEPALIVE_S;
		if (pthread_cond_timedwait(&st->cond, &st->lock, &t) != 0 &&
			st->head == NULL)
		{
			pthread_mutex_unlock(&st->lock);
			n = snprintf(buf, max, ": keepalive\n\n");
			return n;
		}
	}
	if (st->head == NULL)
	{
		pthread_mutex_unlock(&st->lock);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	n = st->head->len - st->head->sent;
	if ((size_t) n > max)
		n = max;
	memcpy(buf, st->head->text + st->head->sent, n);
	st->head->sent += n;
	if (st->head->sent == st->head->len)
	{
		SseEvent   *e = st->head;

		st->head = e->next;
		if (st->head == NULL)
			st->tail = NULL;
		free(e->text);
		free(e);
	}
	pthread_mutex_unlock(&st->lock);
	return n;
}

static void
sse_reader_done(void *cls)
{
	SseStream  *st = cls;

	pthread_mutex_lock(&st->lock);
	st->closed = true;
	pthread_mutex_unlock(&st->lock);
	if (st->session_id[0])
		mcp_session_end(st->session_id);
	sse_unref(st);
}

/*
 * McpWatch.client_gone of a call answered down a stream: the connection
 * ended (libmicrohttpd called sse_reader_done).  The caller holds a
 * reference on the stream.
 */
static bool
sse_client_gone(void *arg)
{
	SseStream  *st = arg;
	bool		closed;

	pthread_mutex_lock(&st->lock);
	closed = st->closed;
	pthread_mutex_unlock(&st->lock);
	return closed;
}

/* The session's release callback for its legacy stream. */
static void
stream_release(void *stream)
{
	sse_unref(stream);
}

/* A response that streams st, taking one reference (NULL: out of memory). */
static struct MHD_Response *
sse_response(SseStream *st)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
											 sse_reader, st, sse_reader_done);
	if (resp == NULL)
	{
		sse_reader_done(st);	/* what libmicrohttpd would have called */
		return NULL;
	}
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	return resp;
}

/* ---- DNS rebinding ------------------------------------------------------- */

static bool
loopback_hostport(const char *h, size_t len)
{
	static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};

	for (int i = 0; i < 3; i++)
	{
		size_t		n = strlen(names[i]);

		if (len >= n && strncasecmp(h, names[i], n) == 0 &&
			(len == n || h[n] == ':'))
			return true;
	}
	return false;
}

/*
 * A web page the user visits may point its own host name at 127.0.0.1 and
 * talk to us from the browser.  Reject a foreign Origin, and, while we
 * listen on loopback, a foreign Host.
 */
static bool
origin_allowed(Request *req)
{
	const char *origin = http_header(req, "Origin");
	const char *host = http_header(req, "Host");

	if (origin != NULL && strcmp(origin, "null") != 0)
	{
		const char *h = strstr(origin, "://");
		const char *list = gw_config.allowed_origins;
		size_t		ol = strlen(origin);
		bool		listed = false;

		for (const char *p = list; p && *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] ? 1 : 0))
			if (strncmp(p, origin, ol) == 0 && (p[ol] == ',' || p[ol] == '\0'))
				listed = true;
		h = h ? h + 3 : origin;
		if (!listed && !loopback_hostport(h, strcspn(h, "/")))
			return false;
	}
	if (host != NULL && strncmp(gw_config.host, "127.", 4) == 0 &&
		!loopback_hostport(host, strlen(host)))
		return false;
	return true;
}

/* ---- Streamable HTTP ------------------------------------------------------ */

static enum MHD_Result
reply_rpc_error(Request *req, int status, int code, const char *message)
{
	return http_reply_json(req, status, mcp_rpc_error(NULL, code, message));
}

/* err as a JSON-RPC error to request id, with Retry-After when it has one. */
static enum MHD_Result
reply_rpc_gw_error(Request *req, json_t *id, int code, const GwError *err)
{
	struct MHD_Response *resp =
		http_json_response(mcp_rpc_error(id, code, err->message));

	http_add_error_headers(resp, err);
	return http_reply(req, err->http_status, resp);
}

typedef struct ToolRun
{
	SseStream  *stream;
	McpSession *session;
	json_t	   *msg;
	char		tenant[GW_ROLE_MAX];	/* the request's, for the new thread */
} ToolRun;

static void *
tool_run_thread(void *arg)
{
	ToolRun    *run = arg;
	McpWatch	watch = {sse_push, run->stream, sse_client_gone, run->stream};
	json_t	   *resp;

	db_use_tenant(run->tenant);
	resp = mcp_handle_watched(run->session, run->msg, &watch);

	if (resp != NULL)
		sse_push(run->stream, resp);
	sse_finish(run->stream);
	sse_unref(run->stream);
	mcp_session_put(run->session);
	json_decref(run->msg);
	free(run);
	return NULL;
}

/* Does this message want an SSE answer (notifications while it runs)? */
static bool
wants_stream(Request *req, json_t *msg)
{
	const char *accept = http_header(req, "Accept");
	const char *method = json_string_value(json_object_get(msg, "method"));
	json_t	   *params = json_object_get(msg, "params");
	const char *tool = json_string_value(json_object_get(params, "name"));

	if (accept == NULL || strstr(accept, "text/event-stream") == NULL ||
		method == NULL || strcmp(method, "tools/call") != 0)
		return false;
	if (json_object_get(json_object_get(params, "_meta"), "progressToken"))
		return true;
	return gw_config.test_tools && tool && strcmp(tool, "test_tool_with_logging") == 0;
}

static enum MHD_Result
answer_streamed(Request *req, McpSession *s, json_t *msg)
{
	ToolRun    *run = calloc(1, sizeof(ToolRun));
	pthread_t	th;

	if (run == NULL || (run->stream = sse_new()) == NULL)
	{
		free(run);
		mcp_session_put(s);
		return http_error(req, 503, "out_of_memory", "the gateway is out of memory");
	}
	run->stream->refcount = 2;	/* the thread's and the response's */
	run->session = s;
	run->msg = json_incref(msg);
	snprintf(run->tenant, sizeof(run->tenant), "%s", db_current_tenant());
	if (pthread_create(&th, NULL, tool_run_thread, run) != 0)
	{
		free(run->stream);
		free(run);
		json_decref(msg);
		mcp_session_put(s);
		return http_error(req, 503, "overloaded", "cannot start a thread");
	}
	pthread_detach(th);
	return http_reply(req, 200, sse_response(run->stream));
}

/* Answer a request (object) or batch (array, 2025-03-26) with JSON. */
static enum MHD_Result
answer_json(Request *req, McpSession *s, json_t *msg, bool is_init)
{
	json_t	   *out;
	struct MHD_Response *resp;
	McpWatch	watch = {NULL, NULL, http_client_gone, req};

	if (json_is_array(msg) && json_array_size(msg) == 0)
		/* JSON-RPC 2.0: an empty batch is one Invalid Request */
		out = mcp_rpc_error(NULL, -32600, "empty batch: send at least one message");
	else if (json_is_array(msg))
	{
		size_t		i;
		json_t	   *m;

		out = json_array();
		json_array_foreach(msg, i, m)
		{
			json_t	   *r = mcp_handle_watched(s, m, &watch);

			if (r)
				json_array_append_new(out, r);
		}
		if (json_array_size(out) == 0)
		{
			json_decref(out);
			out = NULL;
		}
	}
	else
		out = mcp_handle_watched(s, msg, &watch);
	if (out == NULL)
	{
		resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		return http_reply(req, 202, resp);
	}
	resp = http_json_response(out);
	if (resp != NULL && is_init)
		MHD_add_response_header(resp, "Mcp-Session-Id", mcp_session_id(s));
	return http_reply(req, 200, resp);
}

static bool
is_initialize(json_t *msg)
{
	const char *m = json_string_value(json_object_get(msg, "method"));

	return m != NULL && strcmp(m, "initialize") == 0;
}

enum MHD_Result
mcp_http_post(Request *req)
{
	const char *sid = http_header(req, "Mcp-Session-Id");
	const char *pv = http_header(req, "MCP-Protocol-Version");
	GwError		err = {0};
	json_t	   *msg;
	McpSession *s;
	enum MHD_Result r;
	char		m[300];

	if (!origin_allowed(req))
		return http_error(req, 403, "forbidden_origin",
						  "Origin or Host is not a local address (DNS rebinding protection); "
						  "set ALLOWED_ORIGINS to allow a browser origin");
	if ((msg = http_parse_body(req, 0, &err)) == NULL)
		return reply_rpc_error(req, err.http_status,
							   err.http_status == 400 ? -32700 : -32600,
							   err.message);
	if (is_initialize(msg))
	{
		if ((s = mcp_session_new("2025-03-26", &err)) == NULL)
		{
			r = reply_rpc_gw_error(req, json_object_get(msg, "id"), -32603, &err);
			json_decref(msg);
			return r;
		}
		r = answer_json(req, s, msg, true);
		mcp_session_put(s);
		json_decref(msg);
		return r;
	}
	if (pv != NULL && !mcp_version_supported(pv))
	{
		json_decref(msg);
		snprintf(m, sizeof(m), "unsupported MCP-Protocol-Version \"%.40s\"", pv);
		return reply_rpc_error(req, 400, -32600, m);
	}
	if (sid == NULL)
	{
		json_decref(msg);
		return reply_rpc_error(req, 400, -32600,
							   "missing Mcp-Session-Id header: send initialize first");
	}
	if ((s = mcp_session_get(sid, &err)) == NULL)
	{
		r = reply_rpc_gw_error(req, json_object_get(msg, "id"), -32001, &err);
		json_decref(msg);
		return r;
	}
	if (json_is_object(msg) && wants_stream(req, msg))
		r = answer_streamed(req, s, msg);	/* takes the session reference */
	else
	{
		r = answer_json(req, s, msg, false);
		mcp_session_put(s);
	}
	json_decref(msg);
	return r;
}

enum MHD_Result
mcp_http_delete(Request *req)
{
	const char *sid = http_header(req, "Mcp-Session-Id");
	GwError		err = {0};
	McpSession *s;

	if (!origin_allowed(req))
		return http_error(req, 403, "forbidden_origin", "Origin or Host is not local");
	if (sid == NULL)
		return http_error(req, 400, "invalid_request", "missing Mcp-Session-Id header");
	/* only the key's tenant that opened it may end it, as for POST */
	if ((s = mcp_session_get(sid, &err)) == NULL)
		return http_reply_error(req, &err);
	mcp_session_put(s);
	if (!mcp_session_end(sid))
		return http_error(req, 404, "not_found", "unknown MCP session");
	return http_reply(req, 200,
					  MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT));
}

/*
 * We never send server-initiated requests or notifications outside a
 * call, so there is no standalone stream to offer: 405, as the spec allows.
 */
enum MHD_Result
mcp_http_get(Request *req)
{
	struct MHD_Response *resp;
	const char *body = "{\"error\":{\"code\":\"method_not_allowed\",\"message\":"
		"\"this server offers no standalone SSE stream; POST JSON-RPC messages to /mcp\"}}";

	resp = MHD_create_response_from_buffer(strlen(body), (void *) body,
										   MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Allow", "POST, DELETE");
	return http_reply(req, 405, resp);
}

/* ---- legacy HTTP+SSE (2024-11-05) ----------------------------------------- */

enum MHD_Result
mcp_sse_open(Request *req)
{
	McpSession *s;
	SseStream  *st;
	char	   *endpoint;
	GwError		err = {0};

	if (!origin_allowed(req))
		return http_error(req, 403, "forbidden_origin", "Origin or Host is not local");
	endpoint = malloc(128);
	if (endpoint == NULL)
		return http_error(req, 503, "out_of_memory", "the gateway is out of memory");
	if ((s = mcp_session_new("2024-11-05", &err)) == NULL)
	{
		free(endpoint);
		return http_reply_error(req, &err);
	}
	if ((st = sse_new()) == NULL)
	{
		free(endpoint);
		mcp_session_end(mcp_session_id(s));
		mcp_session_put(s);
		return http_error(req, 503, "out_of_memory", "the gateway is out of memory");
	}
	st->refcount = 2;			/* the session's and the response's */
	snprintf(st->session_id, sizeof(st->session_id), "%s", mcp_session_id(s));
	mcp_session_set_stream(s, st, stream_release);
	snprintf(endpoint, 128, "event: endpoint\ndata: /messages?sessionId=%s\n\n",
			 mcp_session_id(s));
	sse_push_raw(st, endpoint);
	mcp_session_put(s);
	return http_reply(req, 200, sse_response(st));
}

enum MHD_Result
mcp_sse_message(Request *req)
{
	const char *sid = http_arg(req, "sessionId");
	GwError		err = {0};
	McpSession *s = sid ? mcp_session_get(sid, &err) : NULL;
	SseStream  *st;
	json_t	   *msg;
	json_t	   *resp;
	struct MHD_Response *accepted;
	McpWatch	watch = {sse_push, NULL, sse_client_gone, NULL};

	if (!origin_allowed(req))
	{
		mcp_session_put(s);
		return http_error(req, 403, "forbidden_origin", "Origin or Host is not local");
	}
	if (s == NULL && strcmp(err.code, "session_evicted") == 0)
		return http_reply_error(req, &err);
	if (s == NULL || mcp_session_stream(s) == NULL)
	{
		mcp_session_put(s);
		return http_error(req, 404, "not_found", "unknown sessionId: open GET /sse first");
	}
	st = mcp_session_stream(s);
	if ((msg = http_parse_body(req, 0, &err)) == NULL)
	{
		mcp_session_put(s);
		return http_reply_error(req, &err);
	}
	watch.progress_ctx = st;
	watch.client_arg = st;
	resp = mcp_handle_watched(s, msg, &watch);
	if (resp != NULL)
		sse_push(st, resp);
	json_decref(msg);
	mcp_session_put(s);
	accepted = MHD_create_response_from_buffer(8, "Accepted", MHD_RESPMEM_PERSISTENT);
	if (accepted != NULL)
		MHD_add_response_header(accepted, "Content-Type", "text/plain; charset=utf-8");
	return http_reply(req, 202, accepted);
}
