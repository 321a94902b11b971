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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

/*
 * Limits against slow or hostile clients.  Each connection has a thread, so
 * a connection cap bounds threads; the idle timeout ends slowloris-style
 * clients that trickle headers; the per-connection memory bound turns huge
 * headers into 431 from libmicrohttpd before they reach us.
 */
#define MAX_CONNECTIONS 512
#define CONNECTION_IDLE_TIMEOUT_S 30
#define CONNECTION_MEMORY_BYTES (64 * 1024)

void
gw_error_set(GwError *err, int status, const char *code, const char *fmt,...)
{
	va_list		ap;

	err->http_status = status;
	snprintf(err->code, sizeof(err->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

json_t *
gw_error_json(const GwError *err)
{
	return json_pack("{s:{s:s,s:s}}", "error", "code", err->code,
					 "message", err->message);
}

/* Compare without an early exit, so timing does not reveal the key. */
bool
gw_const_time_equal(const char *a, const char *b)
{
	size_t		la = strlen(a),
				lb = strlen(b);
	unsigned char diff = (la != lb);

	for (size_t i = 0; i < lb; i++)
		diff |= (unsigned char) a[i % (la ? la : 1)] ^ (unsigned char) b[i];
	return diff == 0;
}

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

enum MHD_Result
http_reply(Request *req, int status, struct MHD_Response *resp)
{
	enum MHD_Result r;

	req->responded = true;
	req->status = status;
	r = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

enum MHD_Result
http_reply_json(Request *req, int status, json_t *body)
{
	char	   *text = json_dumps(body, JSON_COMPACT);
	struct MHD_Response *resp;

	json_decref(body);
	if (text == NULL)
		text = strdup("{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}");
	resp = MHD_create_response_from_buffer(strlen(text), text,
										   MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	return http_reply(req, status, resp);
}

enum MHD_Result
http_reply_error(Request *req, const GwError *err)
{
	json_t	   *j = gw_error_json(err);
	char	   *text = json_dumps(j, JSON_COMPACT);
	struct MHD_Response *resp;

	json_decref(j);
	resp = MHD_create_response_from_buffer(strlen(text), text,
										   MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	if (err->retry_after > 0)
	{
		char		ra[16];

		snprintf(ra, sizeof(ra), "%d", err->retry_after);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	if (err->http_status == 401)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
	return http_reply(req, err->http_status, resp);
}

enum MHD_Result
http_error(Request *req, int status, const char *code, const char *fmt,...)
{
	GwError		err = {0};
	va_list		ap;

	err.http_status = status;
	snprintf(err.code, sizeof(err.code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	return http_reply_error(req, &err);
}

/*
 * Parse the buffered body as a JSON object.  On failure answer 400 naming
 * line and column, and return NULL.  An empty body is an empty object.
 */
json_t *
http_json_body(Request *req)
{
	json_error_t jerr;
	json_t	   *j;

	if (req->body_len == 0)
		return json_object();
	j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL)
	{
		http_error(req, 400, "invalid_json",
				   "invalid JSON at line %d, column %d: %s",
				   jerr.line, jerr.column, jerr.text);
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

static bool
authorized(Request *req)
{
	const char *key = http_header(req, "X-API-Key");
	const char *authz = http_header(req, "Authorization");

	if (gw_config.api_key == NULL)
		return true;			/* --test-no-auth */
	if (key == NULL && authz != NULL && strncasecmp(authz, "Bearer ", 7) == 0)
		key = authz + 7;
	return key != NULL && gw_const_time_equal(key, gw_config.api_key);
}

/* First call: everything decided from the request line and headers. */
static enum MHD_Result
request_begin(Request *req)
{
	char		allow[128] = "";
	const char *cl;

	for (int i = 0; i < n_routes; i++)
	{
		char		arg[sizeof(req->path_arg)];

		if (!route_matches(routes[i].pattern, req->url, arg, sizeof(arg)))
			continue;
		if (strcmp(routes[i].method, req->method) == 0 ||
			(strcmp(req->method, "HEAD") == 0 &&
			 strcmp(routes[i].method, "GET") == 0))
		{
			req->route = &routes[i];
			strcpy(req->path_arg, arg);
			break;
		}
		if (strlen(allow) + strlen(routes[i].method) + 3 < sizeof(allow))
			strcat(strcat(allow, *allow ? ", " : ""), routes[i].method);
	}
	if (req->route == NULL && *allow)
	{
		struct MHD_Response *resp;
		GwError		err = {0};
		char	   *text;
		json_t	   *j;

		gw_error_set(&err, 405, "method_not_allowed",
					 "%s is not allowed on %s (allowed: %s)",
					 req->method, req->url, allow);
		j = gw_error_json(&err);
		text = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		resp = MHD_create_response_from_buffer(strlen(text), text,
											   MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(resp, "Content-Type", "application/json");
		MHD_add_response_header(resp, "Allow", allow);
		return http_reply(req, 405, resp);
	}
	if (req->route == NULL)
		return http_error(req, 404, "not_found", "no route for %s %s",
						  req->method, req->url);
	if (req->route->needs_auth && !authorized(req))
		return http_error(req, 401, "unauthorized",
						  "missing or wrong API key: send X-API-Key or "
						  "Authorization: Bearer <key>");
	cl = http_header(req, "Content-Length");
	if (cl != NULL && strtoull(cl, NULL, 10) > (uint64_t) gw_config.max_file_bytes)
		return http_error(req, 413, "payload_too_large",
						  "the body is %s bytes; the limit is %lld bytes "
						  "(MAX_FILE_SIZE_MB)", cl,
						  (long long) gw_config.max_file_bytes);
	if (cl != NULL && req->route->body == BODY_JSON &&
		strtoull(cl, NULL, 10) > MAX_JSON_BODY_BYTES)
		return http_error(req, 413, "payload_too_large",
						  "a JSON body may be at most %d bytes; upload large "
						  "files with POST /api/files/upload",
						  MAX_JSON_BODY_BYTES);
	return MHD_YES;
}

/* A piece of body.  Errors are remembered and answered at the end. */
static void
request_body(Request *req, const char *data, size_t len)
{
	req->body_total += len;
	if (req->err.http_status != 0)
		return;
	if (req->body_total > (uint64_t) gw_config.max_file_bytes)
	{
		gw_error_set(&req->err, 413, "payload_too_large",
					 "the body is over the limit of %lld bytes (MAX_FILE_SIZE_MB)",
					 (long long) gw_config.max_file_bytes);
		return;
	}
	if (req->route->body == BODY_STREAM)
	{
		req->route->upload(req, data, len);
		return;
	}
	if (req->route->body == BODY_NONE)
		return;
	if (req->body_len + len > MAX_JSON_BODY_BYTES)
	{
		gw_error_set(&req->err, 413, "payload_too_large",
					 "a JSON body may be at most %d bytes", MAX_JSON_BODY_BYTES);
		return;
	}
	if (req->body_len + len + 1 > req->body_cap)
	{
		size_t		cap = req->body_cap ? req->body_cap : 4096;

		while (cap < req->body_len + len + 1)
			cap *= 2;
		req->body = realloc(req->body, cap);
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url,
			   const char *method, const char *version,
			   const char *upload_data, size_t *upload_data_size,
			   void **con_cls)
{
	Request    *req = *con_cls;

	(void) cls;
	(void) version;
	if (req == NULL)
	{
		req = calloc(1, sizeof(Request));
		req->conn = conn;
		req->method = method;
		req->url = url;
		clock_gettime(CLOCK_MONOTONIC, &req->started);
		*con_cls = req;
		metrics_inflight(1);
		return request_begin(req);
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
	(void) conn;
	(void) toe;
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

static void
log_mhd_error(void *cls, const char *fmt, va_list ap)
{
	(void) cls;
	fprintf(stderr, "pi-gateway: http: ");
	vfprintf(stderr, fmt, ap);
}

struct MHD_Daemon *
http_start(void)
{
	struct sockaddr_in addr = {0};

	addr.sin_family = AF_INET;
	addr.sin_port = htons(gw_config.port);
	if (inet_pton(AF_INET, gw_config.host, &addr.sin_addr) != 1)
	{
		fprintf(stderr, "pi-gateway: HOST \"%s\" is not an IPv4 address\n",
				gw_config.host);
		return NULL;
	}
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
							MHD_USE_THREAD_PER_CONNECTION |
							MHD_USE_ERROR_LOG,
							gw_config.port, NULL, NULL,
							access_handler, NULL,
							MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
							MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
							MHD_OPTION_CONNECTION_LIMIT, (unsigned) MAX_CONNECTIONS,
							MHD_OPTION_CONNECTION_TIMEOUT,
							(unsigned) CONNECTION_IDLE_TIMEOUT_S,
							MHD_OPTION_CONNECTION_MEMORY_LIMIT,
							(size_t) CONNECTION_MEMORY_BYTES,
							MHD_OPTION_EXTERNAL_LOGGER, log_mhd_error, NULL,
							MHD_OPTION_END);
}
