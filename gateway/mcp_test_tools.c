/*-------------------------------------------------------------------------
 *
 * mcp_test_tools.c
 *	  The tools the MCP conformance suite (@modelcontextprotocol/conformance)
 *	  calls in its tools-call-* scenarios.  They exist only with
 *	  --test-tools, so a production gateway lists its real tools alone.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>
#include <unistd.h>

#include "mcp_internal.h"

/* A 1x1 PNG and a header-only WAV: the smallest valid media to send. */
#define TINY_PNG "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
#define TINY_WAV "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA="

static const char *const test_tools[][2] = {
	{"test_simple_text", "Returns a simple text response."},
	{"test_image_content", "Returns a 1x1 PNG image."},
	{"test_audio_content", "Returns a tiny WAV file."},
	{"test_embedded_resource", "Returns an embedded text resource."},
	{"test_multiple_content_types", "Returns text, an image and a resource."},
	{"test_error_handling", "Always fails with isError."},
	{"test_tool_with_progress", "Sends three progress notifications."},
	{"test_tool_with_logging", "Sends three log notifications."},
};

/* They only answer with canned content: they read nothing and change nothing. */
void
mcp_test_tools_list(json_t *tools)
{
	for (size_t i = 0; i < sizeof(test_tools) / sizeof(test_tools[0]); i++)
		json_array_append_new(tools,
							  json_pack("{s:s,s:s,s:{s:s,s:{}},s:{s:b,s:b,s:b,s:b}}",
										"name", test_tools[i][0],
										"description", test_tools[i][1],
										"inputSchema", "type", "object", "properties",
										"annotations", "readOnlyHint", 1,
										"destructiveHint", 0, "idempotentHint", 1,
										"openWorldHint", 0));
}

static void
notify_progress(ProgressFn progress, void *ctx, json_t *token, int value)
{
	if (progress && token)
		progress(ctx, json_pack("{s:s,s:s,s:{s:O,s:i,s:i}}", "jsonrpc", "2.0",
								"method", "notifications/progress", "params",
								"progressToken", token, "progress", value,
								"total", 100));
}

static void
notify_log(ProgressFn progress, void *ctx, const char *text)
{
	if (progress)
		progress(ctx, json_pack("{s:s,s:s,s:{s:s,s:s,s:s}}", "jsonrpc", "2.0",
								"method", "notifications/message", "params",
								"level", "info", "logger", "pi-gateway",
								"data", text));
}

static json_t *
text_result(const char *text)
{
	return json_pack("{s:[{s:s,s:s}]}", "content", "type", "text", "text", text);
}

json_t *
mcp_test_tool_call(const char *name, json_t *params, ProgressFn progress, void *ctx)
{
	json_t	   *token = json_object_get(json_object_get(params, "_meta"), "progressToken");

	if (strcmp(name, "test_simple_text") == 0)
		return text_result("This is a simple text response for testing.");
	if (strcmp(name, "test_image_content") == 0)
		return json_pack("{s:[{s:s,s:s,s:s}]}", "content", "type", "image",
						 "data", TINY_PNG, "mimeType", "image/png");
	if (strcmp(name, "test_audio_content") == 0)
		return json_pack("{s:[{s:s,s:s,s:s}]}", "content", "type", "audio",
						 "data", TINY_WAV, "mimeType", "audio/wav");
	if (strcmp(name, "test_embedded_resource") == 0)
		return json_pack("{s:[{s:s,s:{s:s,s:s,s:s}}]}", "content", "type", "resource",
						 "resource", "uri", "test://embedded-resource",
						 "mimeType", "text/plain",
						 "text", "This is an embedded resource content.");
	if (strcmp(name, "test_multiple_content_types") == 0)
		return json_pack("{s:[{s:s,s:s},{s:s,s:s,s:s},{s:s,s:{s:s,s:s,s:s}}]}",
						 "content", "type", "text", "text", "Multiple content types test:",
						 "type", "image", "data", TINY_PNG, "mimeType", "image/png",
						 "type", "resource", "resource",
						 "uri", "test://mixed-content-resource",
						 "mimeType", "application/json",
						 "text", "{\"test\":\"data\",\"value\":123}");
	if (strcmp(name, "test_error_handling") == 0)
		return json_pack("{s:b,s:[{s:s,s:s}]}", "isError", 1, "content", "type", "text",
						 "text", "This tool intentionally returns an error for testing");
	if (strcmp(name, "test_tool_with_progress") == 0)
	{
		for (int v = 0; v <= 100; v += 50)
		{
			notify_progress(progress, ctx, token, v);
			if (v < 100)
				usleep(50 * 1000);
		}
		return text_result("Progress test completed");
	}
	if (strcmp(name, "test_tool_with_logging") == 0)
	{
		notify_log(progress, ctx, "Tool execution started");
		usleep(50 * 1000);
		notify_log(progress, ctx, "Tool processing data");
		usleep(50 * 1000);
		notify_log(progress, ctx, "Tool execution completed");
		return text_result("Logging test completed");
	}
	return NULL;
}
