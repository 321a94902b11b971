/*-------------------------------------------------------------------------
 *
 * http.c
 *	  libmicrohttpd glue: reading a request (route match, auth, body limits)
 *	  apart from dispatching it to a route handler, and the helpers every
 *	  handler answers with.
 *
 * libmicrohttpd calls the access handler several times per request: once
 * with the headers, once per piece of body, and once more when the body is
 * complete.  Everything that can be decided from the headers (unknown route,
 * wrong method, missing API key, a Content-Length over the limit) is
 * answered on the first call, so an unauthorised or oversized upload is
 * never read.  The route's handler runs on the last call.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE				/* POLLRDHUP */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

/*
 * Limits against slow or hostile clients, besides the configurable ones of
 * http.h.  The idle timeout ends a connection that sends nothing at all
 * (the header deadline ends one that trickles); the per-connection memory
 * bound turns huge headers into 431 from libmicrohttpd before they reach
 * us.
 */
#define CONNECTION_IDLE_TIMEOUT_S 30
#define CONNECTION_MEMORY_BYTES (64 * 1024)

/*
 * How often the header watch looks for connections past their deadline: a
 * slow client is closed at most this late, and the scan of at most
 * max_connections entries twice a second costs nothing.
 */
#define HEADER_WATCH_INTERVAL_MS 500

/*
 * Descriptors besides the client connections: the listening socket, the
 * database pool (PI_GATEWAY_DB_POOL), logs, and the headroom libpq and
 * getaddrinfo need.
 */
#define SPARE_DESCRIPTORS 256

/*
 * A parsed JSON body costs far more than its text: jansson spends some 50
 * to 100 bytes on every value however short, so a 20 MB array of small
 * numbers grows the process by hundreds of megabytes.  The byte limits of
 * the routes (routes.c) bound the text; this bounds the values, counted
 * before parsing.  Real requests hold a few dozen; MCP batches a few
 * hundred.
 */
#define MAX_JSON_VALUES 100000

/* The answer when even an error cannot be built: out of memory. */
static const char oom_body[] =
"{\"error\":{\"code\":\"out_of_memory\",\"message\":\"the gateway is out of memory; retry the request\"}}";

const char *
http_arg(Request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *
http_header(Request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/*
 * A response carrying body as JSON; takes the reference.  A body jansson
 * cannot dump (NULL: it could not be built) becomes the out-of-memory
 * error.  NULL only when libmicrohttpd itself is out of memory.
 */
struct MHD_Response *
http_json_response(json_t *body)
{
	char	   *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct MHD_Response *resp;

	json_decref(body);
	if (text == NULL)
		resp = MHD_create_response_from_buffer(strlen(oom_body),
											   (void *) oom_body,
											   MHD_RESPMEM_PERSISTENT);
	else
	{
		resp = MHD_create_response_from_buffer(strlen(text), text,
											   MHD_RESPMEM_MUST_FREE);
		if (resp == NULL)
			free(text);
	}
	if (resp != NULL)
		MHD_add_response_header(resp, "Content-Type", "application/json");
	return resp;
}

/* Queue resp (NULL: out of memory, which closes the connection). */
enum MHD_Result
http_reply(Request *req, int status, struct MHD_Response *resp)
{
	enum MHD_Result r;

	req->responded = true;
	req->status = status;
	if (resp == NULL)
		return MHD_NO;
	cors_add_headers(resp, http_header(req, "Origin"));
	r = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

enum MHD_Result
http_reply_json(Request *req, int status, json_t *body)
{
	return http_reply(req, status, http_json_response(body));
}

/* Add the headers err's status calls for (Retry-After, WWW-Authenticate). */
void
http_add_error_headers(struct MHD_Response *resp, const GwError *err)
{
	if (resp == NULL)
		return;
	if (err->retry_after > 0)
	{
		char		ra[16];

		snprintf(ra, sizeof(ra), "%d", err->retry_after);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	if (err->http_status == 401)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
}

/* The response for err, with the headers its status calls for. */
static struct MHD_Response *
error_response(const GwError *err)
{
	struct MHD_Response *resp = http_json_response(gw_error_json(err));

	http_add_error_headers(resp, err);
	return resp;
}

enum MHD_Result
http_reply_error(Request *req, const GwError *err)
{
	GwError		rest = *err;

	gw_error_in_terms(&rest, GW_TERMS_REST);
	return http_reply(req, rest.http_status, error_response(&rest));
}

enum MHD_Result
http_error(Request *req, int status, const char *code, const char *fmt,...)
{
	GwError		err = {0};
	va_list		ap;

	va_start(ap, fmt);
	gw_error_setv(&err, status, code, fmt, ap);
	va_end(ap);
	return http_reply_error(req, &err);
}

/*
 * An upper bound of the values in a JSON text, without parsing it: each
 * value but the first follows a comma or opens a container.
 */
static size_t
json_value_bound(const char *text, size_t len)
{
	size_t		n = 1;
	bool		in_string = false;

	for (size_t i = 0; i < len; i++)
	{
		char		c = text[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == ',' || c == '[' || c == '{')
			n++;
	}
	return n;
}

/*
 * Parse the buffered body as any JSON value (jansson flags), within
 * MAX_JSON_VALUES.  NULL with err set (400 or 413) on failure.  An empty
 * body is an empty object.
 */
json_t *
http_parse_body(Request *req, size_t flags, GwError *err)
{
	json_error_t jerr;
	json_t	   *j;

	if (req->body_len == 0)
		return json_object();
	if (json_value_bound(req->body, req->body_len) > MAX_JSON_VALUES)
	{
		gw_error_set(err, 413, "payload_too_large",
					 "the JSON body holds more than %d values; send bulk data "
					 "as a file (POST /api/files/upload)", MAX_JSON_VALUES);
		return NULL;
	}
	j = json_loadb(req->body, req->body_len, flags, &jerr);
	if (j == NULL)
		gw_error_set(err, 400, "invalid_json",
					 "invalid JSON at line %d, column %d: %s",
					 jerr.line, jerr.column, jerr.text);
	return j;
}

/*
 * Parse the buffered body as a JSON object.  On failure answer 400 (or
 * 413) and return NULL.
 */
json_t *
http_json_body(Request *req)
{
	GwError		err = {0};
	json_t	   *j = http_parse_body(req, JSON_REJECT_DUPLICATES, &err);

	if (j == NULL)
	{
		http_reply_error(req, &err);
		return NULL;
	}
	if (!json_is_object(j))
	{
		json_decref(j);
		http_error(req, 400, "invalid_json", "the request body must be a JSON object");
		return NULL;
	}
	return j;
}

/* Does path match pattern?  "{id}" captures one segment into path_arg. */
static bool
route_matches(const char *pattern, const char *path, char *arg, size_t argsize)
{
	while (*pattern && *path)
	{
		if (strncmp(pattern, "{id}", 4) == 0)
		{
			size_t		n = strcspn(path, "/");

			if (n == 0 || n >= argsize)
				return false;
			memcpy(arg, path, n);
			arg[n] = '\0';
			pattern += 4;
			path += n;
			continue;
		}
		if (*pattern++ != *path++)
			return false;
	}
	return *pattern == '\0' && *path == '\0';
}

/*
 * Resolve the request's key to its tenant and make this thread's database
 * calls run as it; false with err set (401, or 503 when PostgreSQL cannot
 * tell).
 */
static bool
authorized(Request *req, GwError *err)
{
	const char *key = http_header(req, "X-API-Key");
	const char *authz = http_header(req, "Authorization");
	char		role[GW_ROLE_MAX];

	db_use_tenant(NULL);
	if (gw_config.api_key == NULL)
		return true;			/* --test-no-auth */
	if (key == NULL && authz != NULL && strncasecmp(authz, "Bearer ", 7) == 0)
		key = authz + 7;
	if (!auth_resolve(key, role, err))
		return false;
	db_use_tenant(role);
	return true;
}

/* The most bytes req's body may have: its route's, within MAX_FILE_SIZE_MB. */
static uint64_t
body_limit(const Request *req)
{
	uint64_t	file = (uint64_t) gw_config.max_file_bytes;
	uint64_t	route = req->route->max_body;

	return (route == BODY_LIMIT_FILE || route > file) ? file : route;
}

static void
body_too_large(Request *req, GwError *err)
{
	if (req->route->body == BODY_STREAM)
		gw_error_set(err, 413, "payload_too_large",
					 "the body is over the limit of %llu bytes (MAX_FILE_SIZE_MB)",
					 (unsigned long long) body_limit(req));
	else
		gw_error_set(err, 413, "payload_too_large",
					 "a body for %s %s may be at most %llu bytes; upload large "
					 "files with POST /api/files/upload", req->route->method,
					 req->route->pattern, (unsigned long long) body_limit(req));
}

/* 405 names the methods the path does allow, in an Allow header too. */
static enum MHD_Result
reply_method_not_allowed(Request *req, const char *allow)
{
	GwError		err = {0};
	struct MHD_Response *resp;

	gw_error_set(&err, 405, "method_not_allowed",
				 "%s is not allowed on %s (allowed: %s)",
				 req->method, req->url, allow);
	resp = error_response(&err);
	if (resp != NULL)
		MHD_add_response_header(resp, "Allow", allow);
	return http_reply(req, 405, resp);
}

/* OPTIONS: a CORS preflight (cors.c), or a plain question about methods. */
static enum MHD_Result
reply_preflight(Request *req, const char *allow)
{
	const char *origin = http_header(req, "Origin");

	if (origin != NULL && !cors_origin_allowed(origin))
		return http_error(req, 403, "forbidden_origin",
						  "the origin %.200s may not call this gateway from a "
						  "browser; add it to ALLOWED_ORIGINS (comma separated)",
						  origin);
	return http_reply(req, 204, cors_preflight(origin, allow));
}

/* First call: everything decided from the request line and headers. */
static enum MHD_Result
request_begin(Request *req, const RouteTable *table)
{
	char		allow[128] = "";
	const char *cl;

	for (int i = 0; i < table->n_routes; i++)
	{
		const Route *r = &table->routes[i];
		char		arg[sizeof(req->path_arg)];

		/* a route without "{id}" captures nothing: never stack garbage */
		arg[0] = '\0';
		if (!route_matches(r->pattern, req->url, arg, sizeof(arg)))
			continue;
		if (strcmp(r->method, req->method) == 0 ||
			(strcmp(req->method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
		{
			req->route = r;
			strcpy(req->path_arg, arg);
			break;
		}
		if (strlen(allow) + strlen(r->method) + 3 < sizeof(allow))
			strcat(strcat(allow, *allow ? ", " : ""), r->method);
	}
	/* a browser's preflight comes without the key: answered before auth */
	if (req->route == NULL && *allow && strcmp(req->method, "OPTIONS") == 0)
		return reply_preflight(req, allow);
	if (req->route == NULL && *allow)
		return reply_method_not_allowed(req, allow);
	if (req->route == NULL)
		return http_error(req, 404, "not_found", "no route for %s %s",
						  req->method, req->url);
	if (req->route->needs_auth)
	{
		GwError		err = {0};

		if (!authorized(req, &err))
			return http_reply_error(req, &err);
	}
	else
		db_use_tenant(NULL);
	cl = http_header(req, "Content-Length");
	if (cl != NULL && strtoull(cl, NULL, 10) > body_limit(req))
	{
		GwError		err = {0};

		body_too_large(req, &err);
		return http_reply_error(req, &err);
	}
	return MHD_YES;
}

/*
 * A piece of body.  Errors are remembered and answered at the end: the
 * rest of the body is read and dropped, never buffered.
 */
static void
request_body(Request *req, const char *data, size_t len)
{
	req->body_total += len;
	if (req->err.http_status != 0)
		return;
	if (req->body_total > body_limit(req))
	{
		body_too_large(req, &req->err);
		free(req->body);
		req->body = NULL;
		req->body_len = req->body_cap = 0;
		return;
	}
	if (req->route->body == BODY_STREAM)
	{
		req->route->upload(req, data, len);
		return;
	}
	if (req->route->body == BODY_NONE)
		return;
	if (req->body_len + len + 1 > req->body_cap)
	{
		size_t		cap = req->body_cap ? req->body_cap : 4096;
		char	   *grown;

		while (cap < req->body_len + len + 1)
			cap *= 2;
		if ((grown = realloc(req->body, cap)) == NULL)
		{
			gw_error_set(&req->err, 503, "out_of_memory",
						 "the gateway is out of memory; retry the request");
			req->err.retry_after = 1;
			return;
		}
		req->body = grown;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
}

/* ---- the header deadline ------------------------------------------------ */

/*
 * libmicrohttpd's timeout is an idle timeout: a client that sends one byte
 * of its headers every few seconds keeps its connection, and a thread, as
 * long as it likes.  So a connection is watched from the moment it is
 * accepted until its headers are complete (the first call of the access
 * handler), and again from the end of each response until the headers of
 * the next request; a thread closes those past the deadline.
 *
 * It closes them with shutdown(), which wakes the connection's own thread
 * with an end of file, so libmicrohttpd ends the connection as for any
 * client that went away.  The descriptor is valid while the connection is
 * in the list: libmicrohttpd reports a connection closed (and watch_notify
 * unlinks it under the lock) before it closes the descriptor.
 */
typedef struct WatchedConnection
{
	struct WatchedConnection *prev;
	struct WatchedConnection *next;
	int			fd;
	bool		in_request;		/* headers complete, response not yet sent */
	bool		shut;			/* past its deadline, shutdown() done */
	int64_t		waiting_since_ms;	/* monotonic, while !in_request */
} WatchedConnection;

typedef struct HeaderWatch
{
	pthread_mutex_t lock;
	WatchedConnection *head;
	int64_t		timeout_ms;
} HeaderWatch;

static HeaderWatch header_watch = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Whether the client closed its end while its request runs (arg is the
 * Request): a handler that waits on PostgreSQL asks this so it can stop
 * work nobody will read and free its executor slot.  The socket is only
 * polled for the peer's close (POLLRDHUP), never read: libmicrohttpd owns
 * it.  A client that half-closes after sending its request looks gone too;
 * HTTP clients do not do that.
 */
bool
http_client_gone(void *arg)
{
	Request    *req = arg;
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct pollfd pfd;

	if (info == NULL)
		return false;
	pfd.fd = info->connect_fd;
	pfd.events = POLLRDHUP;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) > 0 &&
		(pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* MHD_OPTION_NOTIFY_CONNECTION: start or stop watching a connection. */
static void
watch_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			 enum MHD_ConnectionNotificationCode code)
{
	HeaderWatch *w = cls;
	WatchedConnection *c = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED)
	{
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (info == NULL)
			return;
		if ((c = calloc(1, sizeof(WatchedConnection))) == NULL)
		{
			/* out of memory: refuse this one rather than leave it unwatched */
			shutdown(info->connect_fd, SHUT_RDWR);
			return;
		}
		c->fd = info->connect_fd;
		c->waiting_since_ms = now_ms();
		pthread_mutex_lock(&w->lock);
		c->next = w->head;
		if (w->head)
			w->head->prev = c;
		w->head = c;
		pthread_mutex_unlock(&w->lock);
		*socket_context = c;
		return;
	}
	if (c == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&w->lock);
	free(c);
	*socket_context = NULL;
}

/* Headers complete (in_request) or response sent (!in_request). */
static void
watch_mark(struct MHD_Connection *conn, bool in_request)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	WatchedConnection *c = info ? info->socket_context : NULL;

	if (c == NULL)
		return;
	pthread_mutex_lock(&header_watch.lock);
	c->in_request = in_request;
	c->waiting_since_ms = now_ms();
	pthread_mutex_unlock(&header_watch.lock);
}

/* The watch thread: close what waits for headers past the deadline. */
static void *
watch_loop(void *arg)
{
	HeaderWatch *w = arg;
	struct timespec nap = {0, HEADER_WATCH_INTERVAL_MS * 1000000L};

	for (;;)
	{
		int64_t		now;

		nanosleep(&nap, NULL);
		now = now_ms();
		pthread_mutex_lock(&w->lock);
		for (WatchedConnection *c = w->head; c != NULL; c = c->next)
			if (!c->in_request && !c->shut &&
				now - c->waiting_since_ms >= w->timeout_ms)
			{
				shutdown(c->fd, SHUT_RDWR);
				c->shut = true;
			}
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}


static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url,
			   const char *method, const char *version,
			   const char *upload_data, size_t *upload_data_size,
			   void **con_cls)
{
	Request    *req = *con_cls;

	(void) version;
	if (req == NULL)
	{
		/* out of memory: MHD_NO closes this connection only */
		if ((req = calloc(1, sizeof(Request))) == NULL)
			return MHD_NO;
		req->conn = conn;
		req->method = method;
		req->url = url;
		clock_gettime(CLOCK_MONOTONIC, &req->started);
		*con_cls = req;
		watch_mark(conn, true);
		metrics_inflight(1);
		return request_begin(req, cls);
	}
	if (*upload_data_size > 0)
	{
		if (!req->responded)
			request_body(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->responded)
		return MHD_YES;
	if (req->err.http_status != 0)
		return http_reply_error(req, &req->err);
	return req->route->handler(req);
}

static void
request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
				  enum MHD_RequestTerminationCode toe)
{
	Request    *req = *con_cls;
	struct timespec now;

	(void) cls;
	(void) toe;
	watch_mark(conn, false);
	if (req == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	metrics_observe(req->route ? req->route->pattern : "unmatched",
					req->status ? req->status : 499,
					(now.tv_sec - req->started.tv_sec) +
					(now.tv_nsec - req->started.tv_nsec) / 1e9);
	metrics_inflight(-1);
	if (req->free_state)
		req->free_state(req->state);
	free(req->body);
	free(req);
	*con_cls = NULL;
}

/*
 * libmicrohttpd logs every connection it refuses over a limit, so a flood
 * of connections would be a flood of log lines: at most this many a
 * second; the count of those dropped comes with the next line logged.
 */
#define LOG_LINES_PER_SECOND 10

static void
log_mhd_error(void *cls, const char *fmt, va_list ap)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static time_t window;
	static int	lines;
	static long dropped;
	time_t		now = time(NULL);

	(void) cls;
	pthread_mutex_lock(&lock);
	if (now != window)
	{
		if (dropped > 0)
			fprintf(stderr, "pi-gateway: http: %ld more messages dropped\n",
					dropped);
		window = now;
		lines = 0;
		dropped = 0;
	}
	if (lines++ < LOG_LINES_PER_SECOND)
	{
		fprintf(stderr, "pi-gateway: http: ");
		vfprintf(stderr, fmt, ap);
	}
	else
		dropped++;
	pthread_mutex_unlock(&lock);
}

/*
 * Each connection needs a descriptor: raise the soft RLIMIT_NOFILE (often
 * 1024) towards the hard one so max_connections fit, or say why not.
 */
static void
raise_descriptor_limit(void)
{
	struct rlimit rl;
	rlim_t		want = (rlim_t) gw_config.max_connections +
		gw_config.db_pool_size + SPARE_DESCRIPTORS;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want) ?
		want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		fprintf(stderr, "pi-gateway: only %llu descriptors (RLIMIT_NOFILE) for "
				"%d connections; raise the hard limit or lower "
				"PI_GATEWAY_MAX_CONNECTIONS\n",
				(unsigned long long) rl.rlim_cur, gw_config.max_connections);
}

/*
 * Serve table (which must outlive the server) on HOST:PORT, with the
 * connection limits of gw_config and the header watch.
 */
struct MHD_Daemon *
http_start(const RouteTable *table)
{
	struct sockaddr_in addr = {0};
	pthread_t	watcher;
	int			rc;

	addr.sin_family = AF_INET;
	addr.sin_port = htons(gw_config.port);
	if (inet_pton(AF_INET, gw_config.host, &addr.sin_addr) != 1)
	{
		fprintf(stderr, "pi-gateway: HOST \"%s\" is not an IPv4 address\n",
				gw_config.host);
		return NULL;
	}
	raise_descriptor_limit();
	header_watch.timeout_ms = (int64_t) gw_config.header_timeout_s * 1000;
	if ((rc = pthread_create(&watcher, NULL, watch_loop, &header_watch)) != 0)
	{
		fprintf(stderr, "pi-gateway: cannot start the header watch: %s\n",
				strerror(rc));
		return NULL;
	}
	pthread_detach(watcher);

	/*
	 * poll, not select: select cannot watch a descriptor above 1023, which
	 * a thousand connections reach.
	 */
	return MHD_start_daemon(MHD_USE_POLL_INTERNAL_THREAD |
							MHD_USE_THREAD_PER_CONNECTION |
							MHD_USE_ERROR_LOG,
							gw_config.port, NULL, NULL,
							access_handler, (void *) table,
							/* first, or libmicrohttpd warns that it is not */
							MHD_OPTION_EXTERNAL_LOGGER, log_mhd_error, NULL,
							MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
							MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
							MHD_OPTION_NOTIFY_CONNECTION, watch_notify,
							&header_watch,
							MHD_OPTION_CONNECTION_LIMIT,
							(unsigned) gw_config.max_connections,
							MHD_OPTION_PER_IP_CONNECTION_LIMIT,
							(unsigned) gw_config.connections_per_address,
							MHD_OPTION_CONNECTION_TIMEOUT,
							(unsigned) CONNECTION_IDLE_TIMEOUT_S,
							MHD_OPTION_CONNECTION_MEMORY_LIMIT,
							(size_t) CONNECTION_MEMORY_BYTES,
							MHD_OPTION_END);
}
