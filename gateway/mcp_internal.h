/*-------------------------------------------------------------------------
 *
 * mcp_internal.h
 *	  Interfaces between the MCP files: the protocol core (mcp.c), result
 *	  content (mcp_content.c), the conformance test tools
 *	  (mcp_test_tools.c) and the HTTP transports (mcp_http.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_MCP_INTERNAL_H
#define PI_MCP_INTERNAL_H

#include "gateway.h"

/* mcp.c */
extern json_t *mcp_rpc_error(json_t *id, int code, const char *message);
extern void **mcp_session_stream(McpSession *s);
/* Called when a session that holds a legacy SSE stream is freed. */
extern void (*mcp_stream_release) (void *stream);

/* mcp_content.c */
extern json_t *mcp_execute_content(json_t *out);
extern json_t *mcp_upload(json_t *args, GwError *err);
extern json_t *mcp_download(json_t *args, GwError *err);
extern json_t *mcp_download_content(json_t *out);
extern char *base64_encode(const unsigned char *data, size_t len);
extern unsigned char *base64_decode(const char *text, size_t *len);

/* ops.c */
extern json_t *op_call_with_progress(const Operation *op, json_t *args,
									 json_t *token, ProgressFn progress,
									 void *ctx, GwError *err);

/* mcp_test_tools.c: only with --test-tools */
extern void mcp_test_tools_list(json_t *tools);
extern json_t *mcp_test_tool_call(const char *name, json_t *params,
								  ProgressFn progress, void *ctx);

#endif							/* PI_MCP_INTERNAL_H */
