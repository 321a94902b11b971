/*-------------------------------------------------------------------------
 *
 * mcp_stdio.c
 *	  pi-gateway --stdio: MCP over standard input and output, for local
 *	  clients that start the gateway as a command (Claude Desktop's local
 *	  servers, the Inspector's stdio mode).
 *
 * One newline-delimited JSON-RPC message per line each way, one MCP session
 * for the life of the process; log lines go to stderr only.  A request runs
 * on a thread of its own, so the loop keeps reading while a cell runs: a
 * ping, a cheap call or the notifications/cancelled that stops the long
 * call are answered at once, as over HTTP, rather than queued behind it.
 * Answers may therefore come out of order, which JSON-RPC allows (they
 * carry their request's id).  At end of input the calls still running
 * finish and are answered before the process ends, as a script that pipes
 * its requests in and closes expects; a client that wants them stopped
 * sends notifications/cancelled first (or SIGTERM, as the spec's shutdown
 * does after a while).
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "mcp_internal.h"

/*
 * Requests running at once.  A client of one conversation rarely has more
 * than a couple in flight; past this, the loop waits for one to end before
 * reading on, so a flood cannot start threads without bound.
 */
#define STDIO_MAX_RUNNING 16

static pthread_mutex_t stdout_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t running_changed = PTHREAD_COND_INITIALIZER;
static int	running;

typedef struct StdioRequest
{
	McpSession *session;
	json_t	   *msg;
	char		tenant[GW_ROLE_MAX];
} StdioRequest;

/* One message as a line on stdout; NULL (out of memory) writes nothing. */
static void
stdio_write(json_t *msg)
{
	char	   *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;

	if (text == NULL)
		return;
	pthread_mutex_lock(&stdout_lock);
	fputs(text, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	pthread_mutex_unlock(&stdout_lock);
	free(text);
}

/* McpWatch.progress: write the notification and drop it. */
static void
stdio_notify(void *ctx, json_t *notification)
{
	(void) ctx;
	stdio_write(notification);
	json_decref(notification);
}

static void
handle_and_answer(McpSession *s, json_t *msg)
{
	McpWatch	watch = {stdio_notify, NULL, NULL, NULL};
	json_t	   *resp = mcp_handle_watched(s, msg, &watch);

	if (resp != NULL)
		stdio_write(resp);
	json_decref(resp);
}

static void *
request_thread(void *arg)
{
	StdioRequest *r = arg;

	db_use_tenant(r->tenant);
	handle_and_answer(r->session, r->msg);
	json_decref(r->msg);
	free(r);
	pthread_mutex_lock(&running_lock);
	running--;
	pthread_cond_broadcast(&running_changed);
	pthread_mutex_unlock(&running_lock);
	return NULL;
}

/*
 * Run a request on its own thread; notifications (no id: cancellation,
 * initialized) and anything when a thread cannot start are handled here,
 * in order.
 */
static void
dispatch(McpSession *s, json_t *msg)
{
	StdioRequest *r;
	pthread_t	th;

	if (!json_is_object(msg) || json_object_get(msg, "id") == NULL ||
		(r = calloc(1, sizeof(StdioRequest))) == NULL)
	{
		handle_and_answer(s, msg);
		return;
	}
	r->session = s;
	r->msg = json_incref(msg);
	snprintf(r->tenant, sizeof(r->tenant), "%s", db_current_tenant());
	pthread_mutex_lock(&running_lock);
	while (running >= STDIO_MAX_RUNNING)
		pthread_cond_wait(&running_changed, &running_lock);
	running++;
	pthread_mutex_unlock(&running_lock);
	if (pthread_create(&th, NULL, request_thread, r) != 0)
	{
		pthread_mutex_lock(&running_lock);
		running--;
		pthread_mutex_unlock(&running_lock);
		json_decref(r->msg);
		free(r);
		handle_and_answer(s, msg);
		return;
	}
	pthread_detach(th);
}

void
mcp_stdio_loop(void)
{
	GwError		err = {0};
	McpSession *s = mcp_session_new("2025-06-18", &err);
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		n;

	if (s == NULL)
	{
		fprintf(stderr, "pi-gateway: %s\n", err.message);
		return;
	}
	while ((n = getline(&line, &cap, stdin)) > 0)
	{
		json_error_t jerr;
		json_t	   *msg = json_loadb(line, n, 0, &jerr);

		if (msg == NULL)
		{
			json_t	   *resp;

			if (strspn(line, " \t\r\n") == (size_t) n)
				continue;
			resp = mcp_rpc_error(NULL, -32700, jerr.text);
			stdio_write(resp);
			json_decref(resp);
			continue;
		}
		dispatch(s, msg);
		json_decref(msg);
	}
	free(line);
	/* answer what still runs, then end */
	pthread_mutex_lock(&running_lock);
	while (running > 0)
		pthread_cond_wait(&running_changed, &running_lock);
	pthread_mutex_unlock(&running_lock);
	mcp_session_put(s);
}
