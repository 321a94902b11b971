/*-------------------------------------------------------------------------
 *
 * mcp_internal.h
 *	  Interfaces between the MCP files: the protocol core (mcp.c), result
 *	  content (mcp_content.c, mcp_render.c, mcp_text.c), workspace files as
 *	  resources (mcp_resources.c), the conformance test tools
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

/*
 * mcp_text.c: text a model reads.  Numbers get MCP_TEXT_DIGITS significant
 * digits; tables show MCP_TEXT_MAX_ROWS rows and MCP_TEXT_MAX_COLUMNS
 * columns; output over MCP_TEXT_CAP bytes shows its first and last
 * MCP_TEXT_PART bytes.
 */
#define MCP_TEXT_DIGITS 15
#define MCP_TEXT_MAX_ROWS 50
#define MCP_TEXT_MAX_COLUMNS 30
#define MCP_TEXT_CAP 4096
#define MCP_TEXT_PART 1024

typedef struct McpText
{
	char	   *data;			/* NUL-terminated, NULL until the first add */
	size_t		len;
	size_t		cap;
	bool		failed;			/* out of memory: the text is incomplete */
} McpText;

extern void mcp_text_add(McpText *t, const char *s);
extern void mcp_text_addn(McpText *t, const char *s, size_t n);
extern void mcp_text_addf(McpText *t, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern void mcp_text_newline(McpText *t);
extern void mcp_text_number(McpText *t, double v);
extern void mcp_text_value(McpText *t, json_t *v);
extern void mcp_text_table(McpText *t, json_t *columns, json_t *rows,
						   json_t *index, size_t total_rows,
						   const char *rest_where);
extern void mcp_text_capped(McpText *t, const char *s, size_t len,
							const char *whole_where);
extern json_t *mcp_text_content(McpText *t);

/* mcp_render.c: the text of each tool's result, and of a failed call */
extern json_t *mcp_render_result(const char *tool, json_t *out);
extern json_t *mcp_render_error(const GwError *err);
extern void mcp_render_load(McpText *t, json_t *out);

/* mcp_test_tools.c: only with --test-tools */
extern void mcp_test_tools_list(json_t *tools);
extern json_t *mcp_test_tool_call(const char *name, json_t *params,
								  ProgressFn progress, void *ctx);

#endif							/* PI_MCP_INTERNAL_H */
