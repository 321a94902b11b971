/*-------------------------------------------------------------------------
 *
 * gateway.h
 *	  Shared types of pi-gateway: configuration, the error a call ends with,
 *	  and the interfaces between the HTTP layer, the operation table, the
 *	  database pool and the MCP layer.
 *
 * pi-gateway turns every REST or MCP call into exactly one SQL call into the
 * pi schema.  The pieces:
 *	  main.c		configuration, start-up, signals, --stdio
 *	  http.c		libmicrohttpd glue: request bodies, auth, dispatch
 *	  routes.c		the REST route table and its handlers
 *	  files.c		streamed upload and download
 *	  ops.c			operations (name, SQL, schemas) shared by REST and MCP
 *	  db.c			libpq connection pool, SQLSTATE -> HTTP status
 *	  mcp.c			MCP JSON-RPC: initialize, tools/list, tools/call
 *	  mcp_http.c	MCP transports over HTTP: Streamable HTTP and legacy SSE
 *	  metrics.c		Prometheus counters
 *	  openapi.c		the OpenAPI document, generated from the route table
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_GATEWAY_H
#define PI_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>

#define GATEWAY_VERSION "0.1.0"

/*
 * Largest JSON request body.  JSON bodies are parsed in memory, so they get a
 * bound of their own well below MAX_FILE_SIZE_MB: code, SQL and an MCP
 * upload_file of a few megabytes of base64 fit; bulk data goes through the
 * streamed /api/files/upload instead.
 */
#define MAX_JSON_BODY_BYTES (64 * 1024 * 1024)

/* Uploads and downloads move through PostgreSQL in chunks of this size. */
#define FILE_CHUNK_BYTES (1024 * 1024)

typedef struct GatewayConfig
{
	const char *host;
	int			port;
	const char *api_key;		/* NULL only with --test-no-auth */
	const char *database_url;
	int64_t		max_file_bytes;
	int			db_pool_size;
	bool		test_tools;		/* conformance-suite test tools */
	const char *allowed_origins;	/* comma separated, besides loopback */
} GatewayConfig;

extern GatewayConfig gw_config;

/*
 * How a call failed.  http_status 0 means no error.  The code is a short
 * machine-readable word; the message is for people.
 */
typedef struct GwError
{
	int			http_status;
	char		code[40];
	char		message[512];
	int			retry_after;	/* seconds, 0 = none */
} GwError;

extern void gw_error_set(GwError *err, int status, const char *code,
						 const char *fmt,...) __attribute__((format(printf, 4, 5)));
extern json_t *gw_error_json(const GwError *err);

/* db.c */
extern bool db_init(void);
extern PGconn *db_acquire(GwError *err);
extern void db_release(PGconn *conn);
extern PGresult *db_exec(PGconn *conn, const char *sql, int nparams,
						 const char *const *values, const int *lengths,
						 const int *formats, int result_format, GwError *err);
extern json_t *db_exec_json(PGconn *conn, const char *sql, int nparams,
							const char *const *values, GwError *err);
extern void db_error_from_result(PGconn *conn, PGresult *res, GwError *err);
extern bool db_ping(GwError *err);

/* ops.c */
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

extern const Operation *op_find(const char *name);
extern const Operation *op_at(int i);
extern json_t *op_call(const Operation *op, json_t *args, GwError *err);
extern json_t *op_call_on(PGconn *conn, const Operation *op, json_t *args,
						  GwError *err);

/* mcp.c */
typedef struct McpSession McpSession;
typedef void (*ProgressFn) (void *ctx, json_t *notification);

extern json_t *mcp_handle(McpSession *session, json_t *msg,
						  ProgressFn progress, void *progress_ctx);
extern McpSession *mcp_session_new(const char *protocol_version);
extern McpSession *mcp_session_get(const char *id);
extern void mcp_session_put(McpSession *s);
extern bool mcp_session_end(const char *id);
extern const char *mcp_session_id(McpSession *s);
extern const char *mcp_session_version(McpSession *s);
extern bool mcp_version_supported(const char *v);
extern void mcp_stdio_loop(void);

/* metrics.c */
extern void metrics_observe(const char *route, int status, double seconds);
extern void metrics_inflight(int delta);
extern char *metrics_render(void);

/* util */
extern bool gw_const_time_equal(const char *a, const char *b);
extern void gw_random_hex(char *out, size_t nbytes);

#endif							/* PI_GATEWAY_H */
