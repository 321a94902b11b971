/*-------------------------------------------------------------------------
 *
 * openapi.c
 *	  The OpenAPI 3.1 document of GET /openapi.json, generated from a route
 *	  table and the operations' JSON schemas, so it cannot drift from what
 *	  the server does.  routes.c serves it; the table comes as an argument,
 *	  so this file does not depend on the one that lists it.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "http.h"

static json_t *
error_response(const char *description)
{
	return json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", description,
					 "content", "application/json", "schema",
					 "$ref", "#/components/schemas/Error");
}

/* Query-string parameters: an operation's arguments on a bodiless route. */
static json_t *
query_parameters(const Route *r, const Operation *op)
{
	json_t	   *params = json_array();
	json_t	   *schema = json_loads(op->input_schema, 0, NULL);
	json_t	   *props = json_object_get(schema, "properties");

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

			if (strcmp(op->params[i], "job_id") == 0 ||
				strcmp(op->params[i], "content") == 0 || ps == NULL)
				continue;
			json_array_append_new(params,
								  json_pack("{s:s,s:s,s:O}", "name", op->params[i],
											"in", "query", "schema", ps));
		}
	}
	json_decref(schema);
	return params;
}

/*
 * What a streamed download answers besides 200: a part by Range (206), a
 * range past the end (416), a missing file (404); and the Range header it
 * takes, besides the offset and length query parameters.
 */
static void
download_extras(json_t *o, json_t *responses)
{
	json_array_append_new(json_object_get(o, "parameters"),
						  json_pack("{s:s,s:s,s:s,s:{s:s,s:s}}", "name", "Range", "in", "header",
									"description", "One byte range (bytes=a-b, bytes=a-, "
									"bytes=-n): 206 with that part. Several ranges or a "
									"malformed one are ignored (200, the whole file). Not "
									"together with offset/length (400).",
									"schema", "type", "string", "pattern", "^bytes="));
	json_object_set_new(responses, "200",
						json_pack("{s:s,s:{s:{s:{s:s,s:s}}}}", "description",
								  "The file, or the offset/length part of it; "
								  "Accept-Ranges: bytes",
								  "content", "application/octet-stream", "schema",
								  "type", "string", "format", "binary"));
	json_object_set_new(responses, "206",
						json_pack("{s:s,s:{s:{s:{s:s}}},s:{s:{s:{s:s,s:s}}}}",
								  "description", "The part the Range asked for",
								  "headers", "Content-Range", "schema", "type", "string",
								  "content", "application/octet-stream", "schema",
								  "type", "string", "format", "binary"));
	json_object_set_new(responses, "404", error_response("No such file or session"));
	json_object_set_new(responses, "416",
						error_response("The Range or offset starts beyond the end "
									   "(Content-Range: bytes */size)"));
}

/* A streamed upload's body: multipart fields, or the raw file. */
static json_t *
upload_body(void)
{
	return json_pack("{s:b,s:{s:{s:{s:s,s:{s:{s:s},s:{s:s},s:{s:s,s:[s,s]},s:{s:s,s:s}},s:[s]}},"
					 "s:{s:{s:s,s:s}}}}",
					 "required", 1, "content", "multipart/form-data", "schema",
					 "type", "object", "properties",
					 "session_id", "type", "string", "path", "type", "string",
					 "append", "type", "string", "enum", "true", "false",
					 "file", "type", "string", "format", "binary",
					 "required", "file",
					 "application/octet-stream", "schema", "type", "string", "format", "binary");
}

/* OPTIONS, the CORS preflight every path answers (cors.c). */
static json_t *
preflight_object(void)
{
	return json_pack("{s:s,s:[],s:{s:{s:s},s:o}}",
					 "summary", "CORS preflight: 204 with Access-Control-Allow-* for "
					 "loopback origins and those in ALLOWED_ORIGINS",
					 "security", "responses", "204", "description", "Allowed",
					 "403", error_response("An origin not allowed"));
}

static json_t *
route_operation_object(const Route *r)
{
	const Operation *op = r->operation ? op_find(r->operation) : NULL;
	json_t	   *o = json_pack("{s:s}", "summary", r->summary);
	json_t	   *responses = json_object();

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
		json_object_set_new(responses, "200",
							json_pack("{s:s,s:{s:{s:o}}}", "description", "OK",
									  "content", "application/json", "schema",
									  json_loads(op->output_schema, 0, NULL)));
	}
	else
		json_object_set_new(responses, "200", json_pack("{s:s}", "description", "OK"));
	if (r->body == BODY_STREAM)
		json_object_set_new(o, "requestBody", upload_body());
	if (r->operation != NULL && strcmp(r->operation, "download_file") == 0)
		download_extras(o, responses);
	json_object_set_new(responses, "400", error_response("Invalid request or JSON"));
	json_object_set_new(responses, "401", error_response("Missing or wrong API key"));
	if (r->body != BODY_NONE)
		json_object_set_new(responses, "413",
							error_response("Body over this route's limit or MAX_FILE_SIZE_MB"));
	json_object_set_new(responses, "503",
						error_response("PostgreSQL unreachable or executor full (Retry-After)"));
	json_object_set_new(o, "responses", responses);
	if (!r->needs_auth)
		json_object_set_new(o, "security", json_array());
	return o;
}

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
			json_object_set_new(item, "options", preflight_object());
	}
	return json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:{s:{s:{s:s,s:{s:{s:s,s:{s:{s:s},s:{s:s}},s:[s,s]}},s:[s]}},"
					"s:{s:{s:s,s:s,s:s},s:{s:s,s:s}}},s:[{s:[]},{s:[]}]}",
					"openapi", "3.1.0",
					"info", "title", "Power Interpreter", "version", GATEWAY_VERSION,
					"description", "Sandboxed Python, files and datasets for AI "
					"assistants. Every call is one SQL call into PostgreSQL.",
					"paths", paths,
					"components", "schemas", "Error", "type", "object",
					"properties", "error", "type", "object", "properties",
					"code", "type", "string", "message", "type", "string",
					"required", "code", "message", "required", "error",
					"securitySchemes", "apiKey", "type", "apiKey", "in", "header",
					"name", "X-API-Key", "bearer", "type", "http", "scheme", "bearer",
					"security", "apiKey", "bearer");
}
