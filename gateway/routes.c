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

/* Gather an operation's arguments from body, path and query string. */
static json_t *
route_arguments(Request *req, const Operation *op)
{
	json_t	   *args;

	if (req->route->body == BODY_JSON)
	{
		args = http_json_body(req);
		if (args == NULL)
			return NULL;		/* 400 already queued */
	}
	else
		args = json_object();
	if (req->path_arg[0] != '\0')
		json_object_set_new(args, "job_id", json_string(req->path_arg));
	for (int i = 0; i < 6 && op->params[i] != NULL; i++)
	{
		const char *v = http_arg(req, op->params[i]);

		if (v != NULL && json_object_get(args, op->params[i]) == NULL)
			json_object_set_new(args, op->params[i], json_string(v));
	}
	return args;
}

static enum MHD_Result
route_operation(Request *req)
{
	const Operation *op = op_find(req->route->operation);
	GwError		err = {0};
	json_t	   *args;
	json_t	   *out;

	args = route_arguments(req, op);
	if (args == NULL)
		return MHD_YES;
	out = op_call(op, args, &err);
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

	resp = MHD_create_response_from_buffer(strlen(text), text,
										   MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type",
							"text/plain; version=0.0.4; charset=utf-8");
	return http_reply(req, 200, resp);
}

/*
 * The route table.  Order matters only where patterns overlap: a literal
 * segment before "{id}".
 */
const Route routes[] = {
	{"GET", "/health", route_health, false, BODY_NONE, NULL, NULL,
	"Liveness: the gateway answers and PostgreSQL with the extension is reachable"},
	{"GET", "/openapi.json", openapi_document, true, BODY_NONE, NULL, NULL,
	"This OpenAPI 3.1 document"},
	{"GET", "/metrics", route_metrics, true, BODY_NONE, NULL, NULL,
	"Prometheus metrics"},
	{"POST", "/api/execute", route_operation, true, BODY_JSON, NULL,
	"execute_code", "Run Python code and wait for the result"},
	{"POST", "/api/jobs/submit", route_operation, true, BODY_JSON, NULL,
	"submit_job", "Queue Python code as a background job"},
	{"GET", "/api/jobs/{id}/status", route_operation, true, BODY_NONE, NULL,
	"get_job_status", "A job's status and progress"},
	{"GET", "/api/jobs/{id}/result", route_operation, true, BODY_NONE, NULL,
	"get_job_result", "A finished job's output"},
	{"POST", "/api/jobs/{id}/cancel", route_operation, true, BODY_NONE, NULL,
	"cancel_job", "Cancel a job"},
	{"POST", "/api/sessions", route_operation, true, BODY_JSON, NULL,
	"create_session", "Create a session (workspace and Python state)"},
	{"GET", "/api/files", route_operation, true, BODY_NONE, NULL,
	"list_files", "List a session's files (?session_id=)"},
	{"DELETE", "/api/files", route_operation, true, BODY_NONE, NULL,
	"delete_file", "Delete a file (?session_id=&path=)"},
	{"POST", "/api/files/upload", files_upload_finish, true, BODY_STREAM,
		files_upload_data, "upload_file",
	"Upload a file: multipart/form-data (fields session_id, path, file) or a "
	"raw body with ?session_id=&path=; streamed to the workspace"},
	{"GET", "/api/files/download", files_download, true, BODY_NONE, NULL,
	"download_file", "Download a file (?session_id=&path=), streamed"},
	{"POST", "/api/data/load-csv", route_operation, true, BODY_JSON, NULL,
	"load_dataset", "Load a workspace CSV into a dataset (a background job)"},
	{"POST", "/api/data/query", route_operation, true, BODY_JSON, NULL,
	"query_dataset", "Run a read-only SELECT over the datasets"},
	{"GET", "/api/data/datasets", route_operation, true, BODY_NONE, NULL,
	"list_datasets", "List the datasets"},
	{"POST", "/mcp", mcp_http_post, true, BODY_JSON, NULL, NULL,
	"MCP Streamable HTTP: JSON-RPC messages"},
	{"GET", "/mcp", mcp_http_get, true, BODY_NONE, NULL, NULL,
	"MCP Streamable HTTP: server-to-client SSE stream"},
	{"DELETE", "/mcp", mcp_http_delete, true, BODY_NONE, NULL, NULL,
	"MCP Streamable HTTP: end the session"},
	{"GET", "/sse", mcp_sse_open, true, BODY_NONE, NULL, NULL,
	"MCP legacy HTTP+SSE transport: event stream"},
	{"POST", "/messages", mcp_sse_message, true, BODY_JSON, NULL, NULL,
	"MCP legacy HTTP+SSE transport: client messages (?sessionId=)"},
};

const int	n_routes = sizeof(routes) / sizeof(routes[0]);
