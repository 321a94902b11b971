/*-------------------------------------------------------------------------
 *
 * http.h
 *	  The request object and the route table type of pi-gateway's HTTP
 *	  layer, and the helpers handlers answer with.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_HTTP_H
#define PI_HTTP_H

#include <time.h>
#include <microhttpd.h>

#include "gateway.h"

/*
 * Defaults of the connection limits (environment variables in main.c).
 * Every connection is a thread (thread per connection), and each limit is
 * checked when the connection is accepted, before any byte is read, so
 * before auth: these are what keeps unauthenticated clients from starving
 * authenticated ones.
 *
 * HTTP_MAX_CONNECTIONS_DEFAULT (PI_GATEWAY_MAX_CONNECTIONS): all clients
 * together.  1024 threads with mostly untouched 8 MB stacks; each also
 * needs a descriptor, so http_start raises RLIMIT_NOFILE to fit.
 *
 * HTTP_CONNECTIONS_PER_ADDRESS_DEFAULT (PI_GATEWAY_CONNECTIONS_PER_ADDRESS):
 * one client address may hold at most this many, so one address cannot
 * take the whole server (a 16th of it by default).  The test suites open up
 * to 51 at once from 127.0.0.1 (robustness.sh: 50 slowloris probes and a
 * check; wrk -c32), and an MCP client rarely holds more than a few.  A
 * proxy in front of the gateway makes all its clients one address: raise
 * the limit there.
 *
 * HTTP_HEADER_TIMEOUT_S_DEFAULT (PI_GATEWAY_HEADER_TIMEOUT): the whole
 * header block must arrive within this many seconds of the connection
 * opening (or of the previous response on a kept-alive connection).  The
 * idle timeout alone does not stop a client that trickles a byte every few
 * seconds; any real client sends its headers in one packet.  An idle
 * kept-alive connection is closed after this too, which HTTP clients
 * expect.
 */
#define HTTP_MAX_CONNECTIONS_DEFAULT 1024
#define HTTP_CONNECTIONS_PER_ADDRESS_DEFAULT 64
#define HTTP_HEADER_TIMEOUT_S_DEFAULT 10

typedef struct Request Request;
typedef enum MHD_Result (*RouteHandler) (Request *req);
typedef void (*UploadFn) (Request *req, const char *data, size_t len);

typedef enum BodyKind
{
	BODY_NONE,					/* a body is read and ignored */
	BODY_JSON,					/* buffered whole, then parsed */
	BODY_STREAM					/* handed to the route's upload function */
} BodyKind;

/*
 * Route.max_body for a streamed upload: MAX_FILE_SIZE_MB, known only at
 * start-up.  Every body is capped by MAX_FILE_SIZE_MB as well.
 */
#define BODY_LIMIT_FILE 0

typedef struct Route
{
	const char *method;
	const char *pattern;		/* "{id}" matches one path segment */
	RouteHandler handler;
	bool		needs_auth;
	BodyKind	body;
	size_t		max_body;		/* bytes; 413 above (or BODY_LIMIT_FILE) */
	UploadFn	upload;			/* BODY_STREAM only */
	const char *operation;		/* ops.c name, for the OpenAPI document */
	const char *summary;
} Route;

struct Request
{
	struct MHD_Connection *conn;
	const Route *route;
	const char *method;
	const char *url;
	char		path_arg[128];	/* what "{id}" matched */
	char	   *body;
	size_t		body_len;
	size_t		body_cap;
	uint64_t	body_total;		/* bytes received, also for streams */
	GwError		err;			/* failure while receiving the body */
	bool		responded;
	int			status;			/* for metrics */
	struct timespec started;
	void	   *state;			/* a handler's own, freed with free_state */
	void		(*free_state) (void *state);
};

typedef struct RouteTable
{
	const Route *routes;
	int			n_routes;
} RouteTable;

extern const RouteTable route_table;	/* routes.c */

extern const char *http_arg(Request *req, const char *name);
extern const char *http_header(Request *req, const char *name);
extern json_t *http_parse_body(Request *req, size_t flags, GwError *err);
extern json_t *http_json_body(Request *req);
extern struct MHD_Response *http_json_response(json_t *body);
extern void http_add_error_headers(struct MHD_Response *resp, const GwError *err);
extern enum MHD_Result http_reply(Request *req, int status,
								  struct MHD_Response *resp);
extern enum MHD_Result http_reply_json(Request *req, int status, json_t *body);
extern enum MHD_Result http_reply_error(Request *req, const GwError *err);
extern bool http_client_gone(void *req);
extern enum MHD_Result http_error(Request *req, int status, const char *code,
								  const char *fmt,...) __attribute__((format(printf, 4, 5)));
extern struct MHD_Daemon *http_start(const RouteTable *table);

/* files.c / mcp_http.c handlers, which routes.c lists */
extern enum MHD_Result files_upload_finish(Request *req);
extern void files_upload_data(Request *req, const char *data, size_t len);
extern enum MHD_Result files_download(Request *req);
extern enum MHD_Result mcp_http_post(Request *req);
extern enum MHD_Result mcp_http_get(Request *req);
extern enum MHD_Result mcp_http_delete(Request *req);
extern enum MHD_Result mcp_sse_open(Request *req);
extern enum MHD_Result mcp_sse_message(Request *req);

/* cors.c */
extern bool cors_origin_allowed(const char *origin);
extern void cors_add_headers(struct MHD_Response *resp, const char *origin);
extern struct MHD_Response *cors_preflight(const char *origin, const char *allow);

/* openapi.c */
extern json_t *openapi_build(const RouteTable *table);

#endif							/* PI_HTTP_H */
