/*-------------------------------------------------------------------------
 *
 * mcp_internal.h
 *	  Interfaces between the MCP files: the protocol core (mcp.c), result
 *	  content (mcp_content.c), workspace files as resources
 *	  (mcp_resources.c), the conformance test tools
 *	  (mcp_test_tools.c) and the HTTP transports (mcp_http.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_MCP_INTERNAL_H
#define PI_MCP_INTERNAL_H

#include "gateway.h"

/* mcp.c */
extern json_t *mcp_rpc_error(json_t *id, int code, const char *message);

/*
 * The legacy SSE transport keeps its stream in the session; release is
 * called with it when the session is freed.
 */
extern void mcp_session_set_stream(McpSession *s, void *stream,
								   void (*release) (void *stream));
extern void *mcp_session_stream(McpSession *s);

/* mcp_content.c */
extern char *base64_encode(const unsigned char *data, size_t len);
extern json_t *mcp_execute_content(json_t *out);
extern json_t *mcp_upload(json_t *args, GwError *err);
extern json_t *mcp_download(json_t *args, GwError *err);
extern json_t *mcp_download_content(json_t *out);

/* mcp_resources.c: pi_session is the conversation's ("" while it has none) */
extern json_t *mcp_resources_list(const char *pi_session, json_t *params,
								  GwError *err);
extern json_t *mcp_resources_read(const char *pi_session, json_t *params,
								  int *code, GwError *err);
extern void mcp_resource_links(json_t *result, json_t *out,
							   const char *pi_session);

/* mcp_test_tools.c: only with --test-tools */
extern void mcp_test_tools_list(json_t *tools);
extern json_t *mcp_test_tool_call(const char *name, json_t *params,
								  ProgressFn progress, void *ctx);

#endif							/* PI_MCP_INTERNAL_H */
