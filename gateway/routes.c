/*-------------------------------------------------------------------------
 *
 * routes.c
 *	  The REST route table of pi-gateway, and the handlers that map a REST
 *	  request onto an operation of ops.c.
 *
 * Most routes are one generic handler: the operation's arguments come from
 * the JSON body, the "{id}" path segment (job_id) and the query string, and
 * its jsonb result is the response body.  The request and response shapes
 * are those of the seed's REST API.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

/*
 * The most bytes a route's body may have (413 above), with the reason.  A
 * JSON body is held whole and then parsed, so these stay well below
 * MAX_FILE_SIZE_MB, which bounds every body and a streamed upload alone.
 */
/* pi.max_code_bytes is 10 MiB by default; JSON escaping adds a little. */
#define CODE_BODY_BYTES (16 * 1024 * 1024)
/* one SQL SELECT over the datasets */
#define QUERY_BODY_BYTES (1024 * 1024)
/* a label, a path, a dataset name, CSV options */
#define SMALL_BODY_BYTES (64 * 1024)
/* nothing reads it; a client has no reason to send more than that */
#define IGNORED_BODY_BYTES (64 * 1024)
/*
 * JSON-RPC messages; upload_file carries a file (or a part of it, with
 * append) base64-encoded, so this is the largest part a client can send at
 * once: 48 MiB of file.
 */
#define MCP_BODY_BYTES (64 * 1024 * 1024)

/*
 * Set args[name] to a text from the request (path or query string), as the
 * type op's schema gives it (?wait=5 is the number 5); false with a 400
 * queued when it is not UTF-8, since replacing its bytes would name
 * another file or session.
 */
static bool
set_text_argument(Request *req, const Operation *op, json_t *args,
				  const char *name, const char *v)
{
	if (!gw_utf8_valid(v, strlen(v)))
	{
		http_error(req, 400, "invalid_request",
				   "the %s parameter is not valid UTF-8", name);
		return false;
	}
	json_object_set_new(args, name, op_arg_from_text(op, name, v));
	return true;
}

/* Gather an operation's arguments from body, path and query string. */
static json_t *
route_arguments(Request *req, const Operation *op)
{
	json_t	   *args;

	if (req->route->body == BODY_JSON)
		args = http_json_body(req);		/* NULL: 400 already queued */
	else if ((args = json_object()) == NULL)
		http_error(req, 503, "out_of_memory", "the gateway is out of memory");
	if (args == NULL)
		return NULL;
	if (req->path_arg[0] != '\0' &&
		!set_text_argument(req, op, args, "job_id", req->path_arg))
		goto fail;
	for (int i = 0; i < 6 && op->params[i] != NULL; i++)
	{
		const char *v = http_arg(req, op->params[i]);

		if (v != NULL && json_object_get(args, op->params[i]) == NULL &&
			!set_text_argument(req, op, args, op->params[i], v))
			goto fail;
	}
	return args;

fail:
	json_decref(args);
	return NULL;
}

static enum MHD_Result
route_operation(Request *req)
{
	const Operation *op = op_find(req->route->operation);
	GwError		err = {0};
	json_t	   *args;
	json_t	   *out;
	/* a REST client that hangs up stops its run; it waits as long as it asks */
	OpCall		call = {.client_gone = http_client_gone, .client_arg = req};

	args = route_arguments(req, op);
	if (args == NULL)
		return MHD_YES;
	out = op_run(op, args, &call, &err);
	json_decref(args);
	if (out == NULL)
		return http_reply_error(req, &err);
	/* deleting a file that is not there is a 404, not a quiet false */
	if (strcmp(op->name, "delete_file") == 0 &&
		json_is_false(json_object_get(out, "deleted")))
	{
		json_decref(out);
		return http_error(req, 404, "not_found",
						  "no file \"%s\" in this session's workspace",
						  http_arg(req, "path") ? http_arg(req, "path") : "");
	}
	return http_reply_json(req, 200, out);
}

static enum MHD_Result
route_health(Request *req)
{
	GwError		err = {0};

	if (!db_ping(&err))
	{
		json_t	   *body = gw_error_json(&err);

		json_object_set_new(body, "status", json_string("unavailable"));
		return http_reply_json(req, 503, body);
	}
	return http_reply_json(req, 200,
						   json_pack("{s:s,s:s,s:s}", "status", "ok",
									 "database", "ok",
									 "version", GATEWAY_VERSION));
}

static enum MHD_Result
route_metrics(Request *req)
{
	char	   *text = metrics_render();
	struct MHD_Response *resp;

	if (text == NULL)
		return http_error(req, 503, "out_of_memory", "cannot render the metrics");
	resp = MHD_create_response_from_buffer(strlen(text), text,
										   MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		free(text);
	else
		MHD_add_response_header(resp, "Content-Type",
								"text/plain; version=0.0.4; charset=utf-8");
	return http_reply(req, 200, resp);
}

static enum MHD_Result
route_openapi(Request *req)
{
	json_t	   *doc = openapi_build(&route_table);

	if (doc == NULL)
		return http_error(req, 500, "internal_error", "cannot build the OpenAPI document");
	return http_reply_json(req, 200, doc);
}

/*
 * The OAuth endpoints an MCP client tries after a 401.  The MCP
 * specification's authorization section makes a 401 the start of OAuth
 * discovery: a client with OAuth support (mcp-remote, the SDKs with an
 * auth provider) looks for protected-resource metadata, then for an
 * authorization server's metadata at this server, and without either
 * falls back to registering at /register, whatever WWW-Authenticate says.
 * pi-gateway has no authorization server (the metadata documents are
 * 404), so its /register, /authorize and /token answer an OAuth error
 * whose description is what the user must do, which those clients show.
 * The body is in OAuth's shape (RFC 6749 5.2, RFC 7591 3.2.2), the one
 * exception to this API's error shape, so that clients can read it.
 */
static enum MHD_Result
route_no_oauth(Request *req)
{
	return http_reply_json(req, 400,
						   json_pack("{s:s,s:s}", "error",
									 strcmp(req->route->pattern, "/register") == 0 ?
									 "invalid_client_metadata" : "invalid_request",
									 "error_description",
									 "pi-gateway does not use OAuth: it takes an API key. "
									 "Send it with every request as the header "
									 "\"X-API-Key: <key>\" or \"Authorization: Bearer <key>\" "
									 "(mcp-remote: --header \"Authorization: Bearer <key>\"; "
									 "make run prints where the key is)."));
}

/*
 * The route table.  Order matters only where patterns overlap: a literal
 * segment before "{id}".
 */
static const Route routes[] = {
	{"GET", "/health", route_health, false, BODY_NONE, IGNORED_BODY_BYTES,
		NULL, NULL,
	"Liveness: the gateway answers and PostgreSQL with the extension is reachable"},
	{"GET", "/openapi.json", route_openapi, false, BODY_NONE, IGNORED_BODY_BYTES,
		NULL, NULL,
	"This OpenAPI 3.1 document"},
	{"GET", "/metrics", route_metrics, true, BODY_NONE, IGNORED_BODY_BYTES,
		NULL, NULL,
	"Prometheus metrics"},
	{"POST", "/api/execute", route_operation, true, BODY_JSON, CODE_BODY_BYTES,
		NULL, "execute_code",
	"Run Python code and wait for the result"},
	{"POST", "/api/jobs/submit", route_operation, true, BODY_JSON, CODE_BODY_BYTES,
		NULL, "submit_job",
	"Queue Python code as a background job"},
	{"GET", "/api/jobs/{id}/status", route_operation, true, BODY_NONE,
		IGNORED_BODY_BYTES, NULL, "get_job_status",
	"A job's status and progress"},
	{"GET", "/api/jobs/{id}/result", route_operation, true, BODY_NONE,
		IGNORED_BODY_BYTES, NULL, "get_job_result",
	"A finished job's output"},
	{"POST", "/api/jobs/{id}/cancel", route_operation, true, BODY_NONE,
		IGNORED_BODY_BYTES, NULL, "cancel_job",
	"Cancel a job"},
	{"POST", "/api/sessions", route_operation, true, BODY_JSON, SMALL_BODY_BYTES,
		NULL, "create_session",
	"Create a session (workspace and Python state)"},
	{"GET", "/api/files", route_operation, true, BODY_NONE, IGNORED_BODY_BYTES,
		NULL, "list_files",
	"List a session's files (?session_id=)"},
	{"DELETE", "/api/files", route_operation, true, BODY_NONE, IGNORED_BODY_BYTES,
		NULL, "delete_file",
	"Delete a file (?session_id=&path=)"},
	{"POST", "/api/files/upload", files_upload_finish, true, BODY_STREAM,
		BODY_LIMIT_FILE, files_upload_data, "upload_file",
		"Upload a file: multipart/form-data (fields session_id, path, file) or a "
	"raw body with ?session_id=&path=; streamed to the workspace"},
	{"GET", "/api/files/download", files_download, true, BODY_NONE,
		IGNORED_BODY_BYTES, NULL, "download_file",
	"Download a file (?session_id=&path=), streamed"},
	{"POST", "/api/data/load-csv", route_operation, true, BODY_JSON,
		SMALL_BODY_BYTES, NULL, "load_dataset",
	"Load a workspace CSV into a dataset (a background job)"},
	{"POST", "/api/data/query", route_operation, true, BODY_JSON,
		QUERY_BODY_BYTES, NULL, "query_dataset",
	"Run a read-only SELECT over the datasets"},
	{"GET", "/api/data/datasets", route_operation, true, BODY_NONE,
		IGNORED_BODY_BYTES, NULL, "list_datasets",
	"List the datasets"},
	{"POST", "/register", route_no_oauth, false, BODY_NONE, IGNORED_BODY_BYTES,
		NULL, NULL,
	"OAuth dynamic client registration: not offered (an error saying to send the API key)"},
	{"GET", "/authorize", route_no_oauth, false, BODY_NONE, IGNORED_BODY_BYTES,
		NULL, NULL,
	"OAuth authorization: not offered (an error saying to send the API key)"},
	{"POST", "/token", route_no_oauth, false, BODY_NONE, IGNORED_BODY_BYTES,
		NULL, NULL,
	"OAuth token: not offered (an error saying to send the API key)"},
	{"POST", "/mcp", mcp_http_post, true, BODY_JSON, MCP_BODY_BYTES, NULL, NULL,
	"MCP Streamable HTTP: JSON-RPC messages"},
	{"GET", "/mcp", mcp_http_get, true, BODY_NONE, IGNORED_BODY_BYTES, NULL, NULL,
	"MCP Streamable HTTP: server-to-client SSE stream"},
	{"DELETE", "/mcp", mcp_http_delete, true, BODY_NONE, IGNORED_BODY_BYTES,
		NULL, NULL,
	"MCP Streamable HTTP: end the session"},
	{"GET", "/sse", mcp_sse_open, true, BODY_NONE, IGNORED_BODY_BYTES, NULL, NULL,
	"MCP legacy HTTP+SSE transport: event stream"},
	{"POST", "/messages", mcp_sse_message, true, BODY_JSON, MCP_BODY_BYTES,
		NULL, NULL,
	"MCP legacy HTTP+SSE transport: client messages (?sessionId=)"},
};

const RouteTable route_table = {routes, sizeof(routes) / sizeof(routes[0])};
