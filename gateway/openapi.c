/*-------------------------------------------------------------------------
 *
 * openapi.c
 *	  The OpenAPI 3.1 document of GET /openapi.json, generated from a route
 *	  table and the operations' JSON schemas, so it cannot drift from what
 *	  the server does.  routes.c serves it; the table comes as an argument,
 *	  so this file does not depend on the one that lists it.
 *
 * Routes backed by an operation of ops.c take their parameters, request and
 * 200 body from that operation's schemas.  The few routes that are not
 * (health, metrics, this document, file transfer bodies, the MCP transports)
 * are described by the table below, keyed by method and path.  Every route
 * lists the error statuses it can answer; tests/gateway/openapi.mjs checks
 * live answers of every route against this document.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

/*
 * What the route table cannot say about a route: its operationId when it
 * has no operation, and bodies that are not the operation's JSON.  Schemas
 * are JSON texts; NULL means "from the operation" (or none).
 */
typedef struct RouteDoc
{
	const char *method;
	const char *pattern;
	const char *operation_id;	/* when the route has no operation */
	int			ok_status;		/* 0: 200 */
	const char *ok_type;		/* content type of the success body */
	const char *ok_schema;
	const char *request_doc;	/* a whole requestBody object, or NULL */
	const char *extra_statuses; /* more statuses, "206 416" */
} RouteDoc;

#define JSONRPC_SCHEMA \
	"{\"description\":\"A JSON-RPC 2.0 message or batch (MCP)\"," \
	"\"oneOf\":[{\"type\":\"object\"},{\"type\":\"array\",\"items\":{\"type\":\"object\"}}]}"

#define OAUTH_ERROR_SCHEMA \
	"{\"type\":\"object\",\"description\":\"An OAuth error (RFC 6749): " \
	"this gateway takes an API key, not OAuth; the description says how to " \
	"send it\",\"properties\":{\"error\":{\"type\":\"string\"}," \
	"\"error_description\":{\"type\":\"string\"}}," \
	"\"required\":[\"error\",\"error_description\"]}"

static const RouteDoc route_docs[] = {
	{"POST", "/register", "oauth_register", 400, "application/json",
	OAUTH_ERROR_SCHEMA, NULL, NULL},
	{"GET", "/authorize", "oauth_authorize", 400, "application/json",
	OAUTH_ERROR_SCHEMA, NULL, NULL},
	{"POST", "/token", "oauth_token", 400, "application/json",
	OAUTH_ERROR_SCHEMA, NULL, NULL},
	{"GET", "/health", "health", 0, "application/json",
		"{\"type\":\"object\",\"properties\":{\"status\":{\"type\":\"string\","
		"\"enum\":[\"ok\"]},\"database\":{\"type\":\"string\"},"
		"\"version\":{\"type\":\"string\"}},\"required\":[\"status\"]}",
	NULL, NULL},
	{"GET", "/openapi.json", "openapi_document", 0, "application/json",
		"{\"type\":\"object\",\"description\":\"This document\","
		"\"properties\":{\"openapi\":{\"type\":\"string\"},"
		"\"paths\":{\"type\":\"object\"}},"
		"\"required\":[\"openapi\",\"paths\"]}",
	NULL, NULL},
	{"GET", "/metrics", "metrics", 0, "text/plain",
		"{\"type\":\"string\",\"description\":\"Prometheus text exposition "
		"format 0.0.4\"}",
	NULL, NULL},
	{"POST", "/api/files/upload", NULL, 0, NULL, NULL,
		"{\"required\":true,\"description\":\"The file, as a multipart form "
		"(fields before the file part) or as the raw body with session_id and "
		"path in the query string.\",\"content\":{\"multipart/form-data\":"
		"{\"schema\":{\"type\":\"object\",\"properties\":{"
		"\"session_id\":{\"type\":\"string\",\"format\":\"uuid\"},"
		"\"path\":{\"type\":\"string\",\"description\":\"Where in the "
		"workspace, relative\"},"
		"\"append\":{\"type\":\"boolean\",\"description\":\"Add to the end "
		"of the file instead of replacing it\"},"
		"\"file\":{\"type\":\"string\",\"contentMediaType\":"
		"\"application/octet-stream\"}},\"required\":[\"file\"]}},"
		"\"application/octet-stream\":{\"schema\":{\"type\":\"string\","
		"\"contentMediaType\":\"application/octet-stream\"}}}}",
	NULL},
	{"GET", "/api/files/download", NULL, 0, "*/*",
		"{\"type\":\"string\",\"description\":\"The file's bytes, with the "
		"Content-Type its name suggests\"}",
	NULL, "206 416"},
	{"POST", "/mcp", "mcp_post", 0, "application/json", JSONRPC_SCHEMA,
		"{\"required\":true,\"content\":{\"application/json\":{\"schema\":"
		JSONRPC_SCHEMA "}}}",
	"202 404"},
	{"GET", "/mcp", "mcp_stream", 405, "application/json",
		"{\"$ref\":\"#/components/schemas/Error\"}", NULL, NULL},
	{"DELETE", "/mcp", "mcp_end_session", 0, NULL, NULL, NULL, "404"},
	{"GET", "/sse", "mcp_sse_stream", 0, "text/event-stream",
		"{\"type\":\"string\",\"description\":\"Server-sent events; the "
	"first, \\\"endpoint\\\", names where to POST messages\"}", NULL, NULL},
	{"POST", "/messages", "mcp_sse_message", 202, "text/plain",
		"{\"type\":\"string\",\"description\":\"\\\"Accepted\\\": the "
		"answer comes on the event stream\"}",
		"{\"required\":true,\"content\":{\"application/json\":{\"schema\":"
		JSONRPC_SCHEMA "}}}",
	"404"},
};

static const RouteDoc *
route_doc(const Route *r)
{
	for (size_t i = 0; i < sizeof(route_docs) / sizeof(route_docs[0]); i++)
		if (strcmp(route_docs[i].method, r->method) == 0 &&
			strcmp(route_docs[i].pattern, r->pattern) == 0)
			return &route_docs[i];
	return NULL;
}

static json_t *
error_response(const char *description, const char *schema_name)
{
	char		ref[64];

	snprintf(ref, sizeof(ref), "#/components/schemas/%s", schema_name);
	return json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", description,
					 "content", "application/json", "schema", "$ref", ref);
}

/*
 * The MCP transports answer protocol errors as JSON-RPC messages, and
 * errors found before the message is read (key, size) as the REST error.
 */
static const char *
error_schema_of(const Route *r)
{
	return strcmp(r->pattern, "/mcp") == 0 || strcmp(r->pattern, "/messages") == 0
		? "McpError" : "Error";
}

static const char *
status_description(int status)
{
	switch (status)
	{
		case 202:
			return "Accepted; the answer, if any, comes on the event stream";
		case 206:
			return "Part of the file, as the Range header or offset and length asked";
		case 400:
			return "Invalid request, JSON or argument";
		case 401:
			return "Missing or wrong API key";
		case 403:
			return "Permission denied for this key's tenant";
		case 404:
			return "No such job, session, file, dataset or MCP session for this key";
		case 405:
			return "Method not allowed on this path";
		case 409:
			return "The session is busy with another run or job";
		case 413:
			return "Body over this route's limit or MAX_FILE_SIZE_MB";
		case 416:
			return "The range asked for is beyond the end of the file";
		case 422:
			return "PostgreSQL cannot do this much in one call (SQLSTATE class 54: too many columns, a statement too complex); make the request smaller as the hint says";
		case 429:
			return "A per-tenant limit is reached (Retry-After)";
		case 500:
			return "Internal error";
		case 503:
			return "PostgreSQL unreachable or executor full (Retry-After)";
		case 504:
			return "The call ran past its time limit";
	}
	return "Error";
}

static void
add_status(json_t *responses, int status, const char *schema_name)
{
	char		key[8];

	snprintf(key, sizeof(key), "%d", status);
	if (json_object_get(responses, key) == NULL)
		json_object_set_new(responses, key,
							error_response(status_description(status), schema_name));
}

/* Query-string parameters: an operation's arguments on a bodiless route. */
static json_t *
query_parameters(const Route *r, const Operation *op)
{
	json_t	   *params = json_array();
	json_t	   *schema = json_loads(op->input_schema, 0, NULL);
	json_t	   *props = json_object_get(schema, "properties");
	json_t	   *required = json_object_get(schema, "required");

	if (strstr(r->pattern, "{id}"))
		json_array_append_new(params,
							  json_pack("{s:s,s:s,s:b,s:{s:s,s:s}}", "name", "id",
										"in", "path", "required", 1,
										"schema", "type", "string", "format", "uuid"));
	if (r->body != BODY_JSON)
	{
		for (int i = 0; i < 6 && op->params[i]; i++)
		{
			json_t	   *ps = json_object_get(props, op->params[i]);
			json_t	   *p;
			bool		req = false;
			size_t		k;
			json_t	   *v;

			if (strcmp(op->params[i], "job_id") == 0 ||
				strcmp(op->params[i], "content") == 0 || ps == NULL)
				continue;
			json_array_foreach(required, k, v)
				if (json_is_string(v) && strcmp(json_string_value(v), op->params[i]) == 0)
				req = true;
			p = json_pack("{s:s,s:s,s:O}", "name", op->params[i],
						  "in", "query", "schema", ps);
			if (json_is_string(json_object_get(ps, "description")))
				json_object_set(p, "description", json_object_get(ps, "description"));
			if (req)
				json_object_set_new(p, "required", json_true());
			json_array_append_new(params, p);
		}
	}
	json_decref(schema);
	return params;
}

/* An operationId made from a method and a path: "get_health" style. */
static json_t *
path_operation_id(const char *method, const char *pattern)
{
	char		id[96];
	size_t		n = 0;

	for (const char *s = method; *s && n < sizeof(id) - 1; s++)
		id[n++] = tolower((unsigned char) *s);
	for (const char *s = pattern; *s && n < sizeof(id) - 1; s++)
		id[n++] = isalnum((unsigned char) *s) ? *s : '_';
	id[n] = '\0';
	return json_string(id);
}

/* The operationId of a route without an operation: its doc's, or made up. */
static json_t *
derived_operation_id(const Route *r, const RouteDoc *doc)
{
	if (doc != NULL && doc->operation_id != NULL)
		return json_string(doc->operation_id);
	return path_operation_id(r->method, r->pattern);
}

static json_t *
success_response(const Route *r, const Operation *op, const RouteDoc *doc)
{
	if (doc != NULL && doc->ok_type != NULL)
	{
		json_t	   *content = json_pack("{s:{s:o}}", doc->ok_type, "schema",
										json_loads(doc->ok_schema, 0, NULL));

		/* a JSON-RPC answer may come as an event stream instead (progress) */
		if (strcmp(r->pattern, "/mcp") == 0 && strcmp(r->method, "POST") == 0)
			json_object_set_new(content, "text/event-stream",
								json_pack("{s:{s:s,s:s}}", "schema", "type", "string",
										  "description", "Server-sent events, each "
										  "a JSON-RPC message; the last is the answer"));
		return json_pack("{s:s,s:o}", "description", r->summary,
						 "content", content);
	}
	if (op != NULL)
		return json_pack("{s:s,s:{s:{s:o}}}", "description", r->summary,
						 "content", "application/json", "schema",
						 json_loads(op->output_schema, 0, NULL));
	return json_pack("{s:s}", "description", r->summary);
}

static json_t *
route_operation_object(const Route *r)
{
	const Operation *op = r->operation ? op_find(r->operation) : NULL;
	const RouteDoc *doc = route_doc(r);
	json_t	   *o = json_pack("{s:s}", "summary", r->summary);
	json_t	   *responses = json_object();
	const char *errs = error_schema_of(r);
	char		ok[8];

	if (op != NULL)
	{
		json_object_set_new(o, "description", json_string(op->description));
		json_object_set_new(o, "operationId", json_string(op->name));
		json_object_set_new(o, "parameters", query_parameters(r, op));
		if (r->body == BODY_JSON)
			json_object_set_new(o, "requestBody",
								json_pack("{s:b,s:{s:{s:o}}}", "required", 1,
										  "content", "application/json", "schema",
										  json_loads(op->input_schema, 0, NULL)));
	}
	else
		json_object_set_new(o, "operationId", derived_operation_id(r, doc));
	if (r->operation != NULL && strcmp(r->operation, "download_file") == 0)
		json_array_append_new(json_object_get(o, "parameters"),
							  json_pack("{s:s,s:s,s:s,s:{s:s,s:s}}", "name", "Range",
										"in", "header", "description",
										"One byte range (bytes=a-b, bytes=a-, bytes=-n): 206 "
										"with that part, 416 past the end. Several ranges or "
										"a malformed one are ignored (200, the whole file). "
										"Not together with offset/length (400).",
										"schema", "type", "string", "pattern", "^bytes="));
	if (doc != NULL && doc->request_doc != NULL)
		json_object_set_new(o, "requestBody", json_loads(doc->request_doc, 0, NULL));

	snprintf(ok, sizeof(ok), "%d", doc && doc->ok_status ? doc->ok_status : 200);
	json_object_set_new(responses, ok, success_response(r, op, doc));
	if (doc != NULL && doc->extra_statuses != NULL)
	{
		const char *s = doc->extra_statuses;

		while (*s)
		{
			int			status = (int) strtol(s, (char **) &s, 10);

			if (status == 202)
				json_object_set_new(responses, "202",
									json_pack("{s:s}", "description",
											  status_description(202)));
			else if (status == 206)
				json_object_set_new(responses, "206",
									json_pack("{s:s,s:{s:{s:{s:s,s:s}}}}",
											  "description", status_description(206),
											  "content", "*/*",
											  "schema", "type", "string",
											  "description",
											  "The bytes asked for"));
			else if (status > 0)
				add_status(responses, status, errs);
			while (*s == ' ')
				s++;
		}
	}
	add_status(responses, 400, errs);
	if (r->needs_auth)
		add_status(responses, 401, errs);
	if (op != NULL)
	{
		/* any SQL call: permission, not found, busy, limits, time */
		add_status(responses, 403, errs);
		add_status(responses, 404, errs);
		add_status(responses, 409, errs);
		add_status(responses, 422, errs);
		add_status(responses, 429, errs);
		add_status(responses, 504, errs);
	}
	if (r->body != BODY_NONE)
		add_status(responses, 413, errs);
	add_status(responses, 500, errs);
	add_status(responses, 503, errs);
	json_object_set_new(o, "responses", responses);
	if (!r->needs_auth)
		json_object_set_new(o, "security", json_array());
	return o;
}

/* OPTIONS, the CORS preflight every path answers (cors.c). */
static json_t *
preflight_object(const char *pattern)
{
	json_t	   *o;

	o = json_pack("{s:s,s:o,s:[],s:{s:{s:s},s:o}}",
				  "summary", "CORS preflight: 204 with Access-Control-Allow-* for "
				  "loopback origins and those in ALLOWED_ORIGINS",
				  "operationId", path_operation_id("OPTIONS", pattern),
				  "security", "responses",
				  "204", "description", "Allowed",
				  "403", error_response("An origin not allowed", "Error"));
	if (o != NULL && strstr(pattern, "{id}"))
		json_object_set_new(o, "parameters",
							json_pack("[{s:s,s:s,s:b,s:{s:s}}]", "name", "id",
									  "in", "path", "required", 1,
									  "schema", "type", "string"));
	return o;
}

#define ERROR_SCHEMA \
	"{\"type\":\"object\",\"properties\":{\"error\":{\"type\":\"object\"," \
	"\"properties\":{" \
	"\"code\":{\"type\":\"string\",\"description\":\"A stable, " \
	"machine-readable name (not_found, session_busy, executor_busy, ...)\"}," \
	"\"message\":{\"type\":\"string\",\"description\":\"What was wrong\"}," \
	"\"detail\":{\"type\":\"string\"}," \
	"\"hint\":{\"type\":\"string\",\"description\":\"What to do\"}," \
	"\"sqlstate\":{\"type\":\"string\",\"description\":\"PostgreSQL's " \
	"SQLSTATE, when the error came from the database\"}}," \
	"\"required\":[\"code\",\"message\"]}},\"required\":[\"error\"]}"

#define MCP_ERROR_SCHEMA \
	"{\"anyOf\":[{\"$ref\":\"#/components/schemas/Error\"}," \
	"{\"type\":\"object\",\"description\":\"A JSON-RPC 2.0 error\"," \
	"\"properties\":{\"jsonrpc\":{\"const\":\"2.0\"},\"id\":{}," \
	"\"error\":{\"type\":\"object\",\"properties\":{" \
	"\"code\":{\"type\":\"integer\"},\"message\":{\"type\":\"string\"}," \
	"\"data\":{}},\"required\":[\"code\",\"message\"]}}," \
	"\"required\":[\"jsonrpc\",\"error\"]}]}"

/* The document, or NULL when out of memory. */
json_t *
openapi_build(const RouteTable *table)
{
	json_t	   *paths = json_object();

	for (int i = 0; i < table->n_routes; i++)
	{
		const Route *r = &table->routes[i];
		json_t	   *item = json_object_get(paths, r->pattern);
		char		method[8];
		int			k;

		if (item == NULL)
		{
			item = json_object();
			json_object_set_new(paths, r->pattern, item);
		}
		for (k = 0; r->method[k] && k < 7; k++)
			method[k] = tolower((unsigned char) r->method[k]);
		method[k] = '\0';
		json_object_set_new(item, method, route_operation_object(r));
		if (json_object_get(item, "options") == NULL)
			json_object_set_new(item, "options", preflight_object(r->pattern));
	}
	return json_pack("{s:s,s:{s:s,s:s,s:s},s:[{s:s,s:s}],s:o,"
					 "s:{s:{s:o,s:o},s:{s:{s:s,s:s,s:s},s:{s:s,s:s}}},s:[{s:[]},{s:[]}]}",
					 "openapi", "3.1.0",
					 "info", "title", "Power Interpreter", "version", GATEWAY_VERSION,
					 "description", "Sandboxed Python, files and datasets for AI "
					 "assistants. Every call is one SQL call into PostgreSQL, made "
					 "as the tenant of the API key.",
					 "servers", "url", "/", "description",
					 "This gateway: paths are relative to where this document "
					 "was fetched",
					 "paths", paths,
					 "components", "schemas", "Error",
					 json_loads(ERROR_SCHEMA, 0, NULL), "McpError",
					 json_loads(MCP_ERROR_SCHEMA, 0, NULL),
					 "securitySchemes", "apiKey", "type", "apiKey", "in", "header",
					 "name", "X-API-Key", "bearer", "type", "http", "scheme", "bearer",
					 "security", "apiKey", "bearer");
}
