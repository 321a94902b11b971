/*-------------------------------------------------------------------------
 *
 * cors.c
 *	  Cross-origin requests from browsers: which origins may call the
 *	  gateway, the headers their answers carry, and the answer to a CORS
 *	  preflight (OPTIONS).
 *
 * A browser page may call the API only when the answer names its origin
 * in Access-Control-Allow-Origin, and before a call with an API key header
 * or a JSON body it asks with OPTIONS, without the key.  The origins
 * allowed are those MCP already accepts (mcp_http.c): the ones listed in
 * ALLOWED_ORIGINS, and loopback pages (a local tool such as the MCP
 * Inspector).  Every call still needs the key, which a browser never adds
 * by itself, so allowing an origin lets a page that holds a key use it;
 * it does not lend the page anyone's credentials.
 *
 * This file takes header values as arguments, so it depends on nothing of
 * http.c, which calls it.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"

/* What a preflight may ask to send, and what a page may read back. */
#define CORS_ALLOW_HEADERS \
	"Content-Type, Authorization, X-API-Key, Mcp-Session-Id, " \
	"MCP-Protocol-Version, Last-Event-ID, Range"
#define CORS_EXPOSE_HEADERS \
	"Mcp-Session-Id, Content-Range, Content-Disposition, Accept-Ranges, " \
	"Retry-After, WWW-Authenticate, Allow"

/* How long a browser may reuse a preflight's answer, in seconds. */
#define CORS_MAX_AGE "600"

/* "http://localhost:5173", "https://127.0.0.1", "http://[::1]:8080" */
static bool
loopback_origin(const char *origin)
{
	static const char *const hosts[] = {"localhost", "127.0.0.1", "[::1]"};
	const char *h = strstr(origin, "://");

	if (h == NULL)
		return false;
	h += 3;
	for (int i = 0; i < 3; i++)
	{
		size_t		n = strlen(hosts[i]);

		if (strncasecmp(h, hosts[i], n) == 0 && (h[n] == '\0' || h[n] == ':'))
			return true;
	}
	return false;
}

/* Is origin (an Origin header's value) one whose pages may call us? */
bool
cors_origin_allowed(const char *origin)
{
	const char *p = gw_config.allowed_origins;
	size_t		ol;

	if (origin == NULL || strcmp(origin, "null") == 0)
		return false;
	if (loopback_origin(origin))
		return true;
	ol = strlen(origin);
	while (p != NULL && *p != '\0')
	{
		size_t		n = strcspn(p, ",");

		if (n == ol && strncmp(p, origin, n) == 0)
			return true;
		p += n + (p[n] == ',' ? 1 : 0);
	}
	return false;
}

/*
 * The headers that let an allowed origin's page read resp.  Nothing for
 * another origin: the browser then keeps the answer from the page.
 */
void
cors_add_headers(struct MHD_Response *resp, const char *origin)
{
	if (resp == NULL || !cors_origin_allowed(origin))
		return;
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
	MHD_add_response_header(resp, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
	MHD_add_response_header(resp, "Vary", "Origin");
}

/*
 * The answer to OPTIONS on a path whose routes allow the methods in allow,
 * from origin (NULL: a plain OPTIONS, not a browser's preflight), which
 * the caller checked is allowed: 204 with what the page may send.  NULL
 * when out of memory.
 */
struct MHD_Response *
cors_preflight(const char *origin, const char *allow)
{
	struct MHD_Response *resp;
	char		methods[160];

	resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return NULL;
	snprintf(methods, sizeof(methods), "%s, OPTIONS", allow);
	MHD_add_response_header(resp, "Allow", methods);
	if (origin != NULL)
	{
		MHD_add_response_header(resp, "Access-Control-Allow-Methods", methods);
		MHD_add_response_header(resp, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
		MHD_add_response_header(resp, "Access-Control-Max-Age", CORS_MAX_AGE);
	}
	return resp;
}
