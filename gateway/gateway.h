/*-------------------------------------------------------------------------
 *
 * gateway.h
 *	  Shared types of pi-gateway: configuration, the error a call ends with,
 *	  and the interfaces between the HTTP layer, the operation table, the
 *	  database pool and the MCP layer.
 *
 * pi-gateway turns every REST or MCP call into exactly one SQL call into the
 * pi schema.  The pieces:
 * The pieces, each calling only files listed below it (no circles: see
 * tests/layout/symbol_cycles.sh):
 *	  main.c		configuration, start-up, signals, --stdio
 *	  routes.c		the REST route table and its handlers
 *	  openapi.c		the OpenAPI document, generated from a route table
 *	  mcp_http.c	MCP transports over HTTP: Streamable HTTP and legacy SSE
 *	  files.c		streamed upload and download
 *	  http.c		libmicrohttpd glue: request bodies, auth, dispatch
 *	  cors.c		browser origins: CORS headers and preflights
 *	  auth.c		API key -> tenant role (cached pi.resolve_api_key)
 *	  metrics.c		Prometheus counters
 *	  mcp.c			MCP JSON-RPC: initialize, tools/list, tools/call
 *	  mcp_resources.c	workspace files as MCP resources and links
 *	  mcp_content.c, mcp_test_tools.c	MCP tool results, test tools
 *	  op_run.c		running an operation: cancel, progress, waits, jobs
 *	  ops.c			operations (name, SQL, schemas) shared by REST and MCP
 *	  op_args.c		arguments checked against an operation's schema
 *	  db.c			libpq connection pool, SQLSTATE -> HTTP status
 *	  common.c		configuration, GwError, random ids
 *	  error_terms.c	an error's text in REST or MCP terms, not SQL's
 *	  utf8.c		making any bytes valid UTF-8 for JSON
 *
 * Error convention: a function that can fail takes a GwError *err and
 * returns NULL or false with err filled by gw_error_set; only the HTTP or
 * MCP layer turns it into a response.  A lower file reports to a higher one
 * through such return values or a callback with an arg pointer, never by
 * calling up.  Text that ends up in JSON is made valid UTF-8 first (every
 * GwError message is), and a NULL from jansson (out of memory, bad text)
 * fails one request, never the process.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_GATEWAY_H
#define PI_GATEWAY_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>

#define GATEWAY_VERSION "0.1.0"

/* Uploads and downloads move through PostgreSQL in chunks of this size. */
#define FILE_CHUNK_BYTES (1024 * 1024)

typedef struct GatewayConfig
{
	const char *host;
	int			port;
	const char *api_key;		/* NULL only with --test-no-auth */
	const char *default_tenant; /* PI_DEFAULT_TENANT: api_key's role, or NULL */
	const char *database_url;
	int64_t		max_file_bytes;
	int			db_pool_size;
	bool		test_tools;		/* conformance-suite test tools */
	const char *allowed_origins;	/* comma separated, besides loopback */
	int			max_connections;	/* http.c; defaults in http.h */
	int			connections_per_address;
	int			header_timeout_s;
	int			mcp_max_sessions;	/* mcp.c; MCP_SESSIONS_DEFAULT */
	int			execute_wait_s; /* MCP execute_code's wait budget, below */
} GatewayConfig;

/*
 * How long MCP's execute_code waits for a run before answering that it goes
 * on as a background job (PI_GATEWAY_EXECUTE_WAIT).  MCP clients give up on
 * a request after a timeout of their own, 60 s in the official SDKs, while
 * a run may take pi.max_execution_time (300 s): 45 s stays under the
 * common timeouts with room for the answer to travel.
 */
#define EXECUTE_WAIT_DEFAULT_S 45

extern GatewayConfig gw_config;

/*
 * How a call failed.  http_status 0 means no error.  The code is a short
 * machine-readable word; the message is for people.
 */
typedef struct GwError
{
	int			http_status;
	char		code[40];
	char		message[512];	/* valid UTF-8, see gw_error_set */
	char		sqlstate[6];	/* PostgreSQL's, "" when none */
	char		detail[1024];	/* PostgreSQL's DETAIL, valid UTF-8, "" when none */
	char		hint[512];		/* PostgreSQL's HINT, likewise */
	int			retry_after;	/* seconds, 0 = none */
} GwError;

/* common.c */
extern void gw_error_set(GwError *err, int status, const char *code,
						 const char *fmt,...) __attribute__((format(printf, 4, 5)));
extern void gw_error_setv(GwError *err, int status, const char *code,
						  const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
extern json_t *gw_error_json(const GwError *err);
extern bool gw_const_time_equal(const char *a, const char *b);
extern void gw_random_hex(char *out, size_t nbytes);
extern const char *gw_mime_type(const char *path);

/* error_terms.c */
typedef enum GwTerms
{
	GW_TERMS_REST,
	GW_TERMS_MCP
} GwTerms;
extern void gw_error_in_terms(GwError *err, GwTerms terms);

/* utf8.c */
extern bool gw_utf8_valid(const char *s, size_t len);
extern size_t gw_utf8_copy(char *dst, size_t dstsize, const char *src);
extern json_t *gw_json_string(const char *s);

/* Longest role name PostgreSQL allows (NAMEDATALEN - 1), plus the NUL. */
#define GW_ROLE_MAX 64

/* auth.c */
extern bool auth_resolve(const char *key, char *role, GwError *err);

/*
 * db.c.  A request's calls run as its tenant: the thread that serves it
 * names the tenant once (db_use_tenant), and every connection it acquires
 * is switched to that role first.  A thread, not an argument, carries it
 * because the HTTP layer serves one request per thread and every operation
 * below it acquires its own connection; a thread started for a request
 * (an MCP tool run) takes its caller's tenant along.
 */
extern bool db_init(void);
extern void db_use_tenant(const char *role);
extern const char *db_current_tenant(void);
extern PGconn *db_acquire_as(const char *role, GwError *err);
extern PGconn *db_acquire(GwError *err);
extern void db_release(PGconn *conn);
extern void db_listen_notices(PGconn *conn, PQnoticeReceiver receiver, void *arg);
extern PGresult *db_exec(PGconn *conn, const char *sql, int nparams,
						 const char *const *values, const int *lengths,
						 const int *formats, int result_format, GwError *err);
extern json_t *db_parse_json(const char *text, GwError *err);
extern json_t *db_exec_json(PGconn *conn, const char *sql, int nparams,
							const char *const *values, GwError *err);
extern void db_error_from_result(PGconn *conn, PGresult *res, GwError *err);
extern bool db_ping(GwError *err);

/* ops.c, op_run.c */
typedef enum OpKind
{
	OP_GENERIC,					/* result shown as JSON */
	OP_EXECUTE,					/* result shaped like pi.execute() */
	OP_UPLOAD,					/* MCP upload_file: content -> bytea */
	OP_DOWNLOAD					/* MCP download_file: bytea -> content */
} OpKind;

typedef struct Operation
{
	const char *name;			/* MCP tool name */
	const char *title;
	const char *description;
	const char *sql;			/* one parameterized call returning jsonb */
	const char *function;		/* for to_regprocedure: which SQL it needs */
	const char *params[6];		/* argument names, in $n order */
	bool		session_scoped; /* MCP fills session_id from its session */
	OpKind		kind;
	const char *input_schema;	/* JSON Schema, as text */
	const char *output_schema;
	bool		test_only;		/* only with --test-tools */
} Operation;

/*
 * How an operation that runs long tells its caller it is alive: the
 * caller's function, called with the caller's ctx and a notification it
 * takes ownership of (possibly NULL when out of memory).
 */
typedef void (*ProgressFn) (void *ctx, json_t *notification);

/*
 * One call of an operation while it runs: how its caller may stop it, and
 * what it wants besides the answer.  The caller fills it, passes it to
 * op_run and keeps it alive until op_run returns; another thread may call
 * op_cancel on it meanwhile (MCP notifications/cancelled).
 *
 * A call that is stopped (cancelled, or its client went away) has its
 * backend query cancelled, which stops a sync run and frees its executor
 * slot; a run that became a job is cancelled with pi.cancel_job.  op_run
 * looks at both every STOP_CHECK_MS (ops.c).
 */
typedef struct OpCall
{
	atomic_bool cancelled;		/* set by op_cancel */
	bool		(*client_gone) (void *arg); /* NULL: never asked */
	void	   *client_arg;
	json_t	   *progress_token; /* NULL: no progress notifications */
	ProgressFn	progress;
	void	   *progress_ctx;
	/*
	 * execute_code: seconds to wait for the run before it goes on as a job;
	 * 0 waits for the run's whole timeout, as pi.execute does.
	 */
	double		wait_budget_s;
} OpCall;

extern const Operation *op_find(const char *name);
/* op_args.c: arguments checked against the operation's input schema */
extern bool op_check_args(const Operation *op, json_t *args, GwError *err);
extern json_t *op_arg_from_text(const Operation *op, const char *name,
								const char *text);
extern bool op_check_text_arg(const Operation *op, const char *name,
							  const char *text, GwError *err);
extern void gw_describe_json(json_t *v, char *buf, size_t size);
extern const Operation *op_at(int i);
extern json_t *op_call(const Operation *op, json_t *args, GwError *err);
extern json_t *op_run(const Operation *op, json_t *args, OpCall *call,
					  GwError *err);
extern void op_cancel(OpCall *call);
extern json_t *op_write_file_chunk(PGconn *conn, const char *session_id,
								   const char *path, const char *data,
								   size_t len, bool append, GwError *err);
extern char *op_read_file_chunk(PGconn *conn, const char *session_id,
								const char *path, int64_t offset,
								int64_t length, size_t *len, GwError *err);
extern json_t *op_file_info(PGconn *conn, const char *session_id,
							const char *path, GwError *err);

/* mcp.c */
typedef struct McpSession McpSession;

/*
 * Sessions the MCP table holds (PI_GATEWAY_MCP_SESSIONS).  Each costs about
 * 150 bytes, so 4096 is 600 KB; a full table evicts its least recently used
 * idle session, so the size only bounds how long a session survives others
 * being opened, not how many clients may connect.
 */
#define MCP_SESSIONS_DEFAULT 4096

/*
 * What a transport offers a call besides its answer: where notifications
 * go while it runs, and how to learn that the client went away (then the
 * call stops, as for notifications/cancelled).  Either may be NULL.
 */
typedef struct McpWatch
{
	ProgressFn	progress;
	void	   *progress_ctx;
	bool		(*client_gone) (void *arg);
	void	   *client_arg;
} McpWatch;

extern json_t *mcp_handle(McpSession *session, json_t *msg,
						  ProgressFn progress, void *progress_ctx);
extern json_t *mcp_handle_watched(McpSession *session, json_t *msg,
								  const McpWatch *watch);
extern McpSession *mcp_session_new(const char *protocol_version, GwError *err);
extern McpSession *mcp_session_get(const char *id, GwError *err);
extern void mcp_session_put(McpSession *s);
extern bool mcp_session_end(const char *id);
extern const char *mcp_session_id(McpSession *s);
extern bool mcp_version_supported(const char *v);
extern void mcp_stdio_loop(void);

/* metrics.c */
extern void metrics_observe(const char *route, int status, double seconds);
extern void metrics_inflight(int delta);
extern char *metrics_render(void);

#endif							/* PI_GATEWAY_H */
