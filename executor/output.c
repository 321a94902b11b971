/*-------------------------------------------------------------------------
 *
 * output.c
 *	  What a kernel sends while a cell runs: its stdout and stderr (kept up
 *	  to the run's cap, the rest counted; a job's stdout also streamed in
 *	  'O' frames while it runs) and its result channel, one JSON line per
 *	  event: progress (relayed as a 'P' frame), pi.query() calls (relayed
 *	  as an 'S' frame) and the cell's final line.
 *
 * Every read is non-blocking and bounded per call, so one chatty kernel
 * cannot hold the loop.  A line longer than EXECUTOR_RESULT_LINE_MAX is
 * dropped and flagged.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "executor.h"
#include "executor_protocol.h"

/*
 * Keep a chunk of live output for the next 'O' frame: only the latest
 * EXECUTOR_LIVE_PENDING_MAX bytes, cut so that the kept part starts on a
 * character; what is dropped is flagged as a gap.
 */
static void
live_keep(Capture *cap, const char *chunk, size_t n)
{
	size_t		drop;

	if (n >= EXECUTOR_LIVE_PENDING_MAX)
	{
		cap->pending.len = 0;
		drop = n - EXECUTOR_LIVE_PENDING_MAX;
		chunk += drop;
		n -= drop;
		cap->gap = true;
	}
	else if (cap->pending.len + n > EXECUTOR_LIVE_PENDING_MAX)
	{
		buf_consume(&cap->pending, cap->pending.len + n - EXECUTOR_LIVE_PENDING_MAX);
		cap->gap = true;
	}
	if (!buf_append(&cap->pending, chunk, n))
	{
		cap->pending.len = 0;	/* out of memory: the frame says gap */
		cap->gap = true;
		return;
	}
	/* a cut in the middle of a character: start at the next one */
	while (cap->gap && cap->pending.len > 0 &&
		   ((unsigned char) cap->pending.data[0] & 0xC0) == 0x80)
		buf_consume(&cap->pending, 1);
}

/*
 * Send a run's pending live stdout as an 'O' frame (executor_protocol.h),
 * unless its client is behind: then it waits, trimmed to the latest
 * bytes, for the next read or the end of the cell (last: sent whatever
 * the backlog, so the client's tail ends where the output ended).  A
 * character cut by the pipe stays for the next frame, so every frame is
 * whole UTF-8 text.
 */
void
capture_send_live(Conn *c, bool last)
{
	Capture    *cap = &c->out_cap;
	size_t		n = cap->pending.len;
	size_t		back;
	json_t	   *frame;
	json_t	   *text;

	if (!cap->live || (n == 0 && !cap->gap) || c->client_gone || c->dead ||
		(!last && c->out.len - c->out_sent >= EXECUTOR_PROGRESS_BACKLOG))
		return;
	/* hold back the start of a character whose last bytes are not read yet */
	for (back = 1; back <= 3 && back <= n; back++)
	{
		unsigned char b = (unsigned char) cap->pending.data[n - back];

		if ((b & 0xC0) == 0x80)
			continue;			/* a continuation byte: look further back */
		if ((b & 0xE0) == 0xC0 ? back < 2 : (b & 0xF0) == 0xE0 ? back < 3 :
			(b & 0xF8) == 0xF0 ? back < 4 : false)
			n -= back;
		break;
	}
	text = json_text_from_bytes(cap->pending.data ? cap->pending.data : "", n, "");
	frame = text ? json_pack("{s:o, s:I, s:b}", "stdout", text,
							 "stdout_bytes", (json_int_t) (cap->kept.len + cap->dropped),
							 "gap", cap->gap) : NULL;
	if (frame != NULL && conn_send_frame(c, PI_FRAME_OUTPUT, frame))
	{
		if (n > 0)
			buf_consume(&cap->pending, n);
		cap->gap = false;
	}
	json_decref(frame);
}

/* Read what is available on stdout or stderr; false at end of file. */
bool
capture_read(Capture *cap, int fd)
{
	char		chunk[EXECUTOR_READ_CHUNK];
	int			rounds;

	for (rounds = 0; rounds < 64; rounds++)
	{
		ssize_t		n = read(fd, chunk, sizeof(chunk));
		size_t		keep;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0)
			return false;
		if (cap == NULL)
			continue;			/* output of an idle kernel: dropped */
		if (cap->live)
			live_keep(cap, chunk, n);
		/* past the cap keep draining, or the child would block on a full pipe */
		keep = cap->kept.len < cap->limit ? cap->limit - cap->kept.len : 0;
		if (keep > (size_t) n)
			keep = n;
		if (!buf_append(&cap->kept, chunk, keep))
			keep = 0;			/* out of memory: counted as not shown */
		cap->dropped += n - keep;
	}
	return true;
}

/* A pi.query()/pi.datasets() call of the running cell: an 'S' frame. */
static void
forward_query(Kernel *k, json_t *obj)
{
	Conn	   *c = k->conn;
	json_t	   *q;

	if (k->stopping)
		return;					/* a dying kernel waits for no answer */
	if (c == NULL || c->client_gone || c->dead)
	{
		kernel_send_line(k, "{\"ok\":false,\"error\":\"the run's client is gone\",\"hint\":null}");
		return;
	}
	if (c->queries_in_flight >= EXECUTOR_MAX_QUERIES_IN_FLIGHT)
	{
		(void) kernel_send_line(k, "{\"ok\":false,\"error\":\"too many pi.query() calls "
								"at once: wait for each answer\",\"hint\":null}");
		return;
	}
	if (json_is_true(json_object_get(obj, "datasets")))
		q = json_pack("{s:b}", "datasets", 1);
	else
		q = json_pack("{s:O?, s:O?}", "sql", json_object_get(obj, "sql"),
					  "max_rows", json_object_get(obj, "max_rows"));
	if (q != NULL && conn_send_frame(c, PI_FRAME_QUERY, q))
		c->queries_in_flight++;
	else
		kernel_send_line(k, "{\"ok\":false,\"error\":\"the query is too large to send "
						 "(over the executor's frame limit) or the executor is short of memory\","
						 "\"hint\":\"Send a shorter SQL text.\"}");
	json_decref(q);
}

/* The final line of a cell whose result channel sent something unreadable. */
static json_t *
unreadable_final(const char *why)
{
	char		msg[400];

	snprintf(msg, sizeof(msg),
			 "the Python kernel sent a result line that could not be read (%s); "
			 "the cell was ended.  Do not write to file descriptor 3: it is the "
			 "result channel of the runner", why);
	return json_pack("{s:s, s:n, s:{s:s, s:s}, s:[], s:[]}",
					 "type", "final", "result",
					 "error", "type", "ResultUnreadable", "message", msg,
					 "figures", "files");
}

/*
 * Keep a final line within the run's caps, whoever wrote it: a result
 * value larger than pi.max_output_bytes becomes its type and a note, and
 * figures beyond EXECUTOR_FIGURES_MAX are dropped; both are flagged.
 * runner.py already stays within them; a line written by the code itself
 * on fd 3 may not.
 */
static void
cap_final(json_t *final, size_t line_len, size_t max_output)
{
	json_t	   *result = json_object_get(final, "result");
	char	   *text;
	size_t		len;

	if (line_len <= max_output)
		return;
	text = result ? json_dumps(result, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	len = text ? strlen(text) : 0;
	free(text);
	if (len > max_output)
	{
		char		note[300];
		const char *type = json_string_value(json_object_get(result, "type"));

		snprintf(note, sizeof(note),
				 "<result of %zu bytes not kept: over pi.max_output_bytes (%zu); "
				 "write large values to a file in the workspace>", len, max_output);
		json_object_set_new(final, "result",
							json_pack("{s:s, s:s, s:b}", "type", type ? type : "unknown",
									  "repr", note, "truncated", 1));
	}
	if (line_len > max_output + EXECUTOR_FIGURES_MAX)
	{
		text = json_dumps(json_object_get(final, "figures"), JSON_COMPACT);
		len = text ? strlen(text) : 0;
		free(text);
		if (len > EXECUTOR_FIGURES_MAX)
		{
			json_object_set_new(final, "figures", json_array());
			json_object_set_new(final, "figures_dropped", json_true());
		}
	}
}

/* One complete line of the result channel: progress, query or final. */
static void
result_line(Kernel *k, const char *line, size_t len,
			ResultFinalFn on_final, void *arg)
{
	json_error_t jerr;
	json_t	   *obj = json_loadb(line, len, 0, &jerr);
	const char *type = json_string_value(json_object_get(obj, "type"));
	Conn	   *c = k->conn;

	if (obj == NULL || type == NULL)
	{
		/*
		 * A line nobody can read (written by the code itself on fd 3, or a
		 * value jansson cannot hold): the cell ends now with an error
		 * rather than waiting out its timeout for a final line that may
		 * have been this one.
		 */
		if (c != NULL)
		{
			json_decref(c->final);
			c->final = unreadable_final(obj == NULL ? jerr.text :
										"the line has no \"type\" member");
			on_final(k, arg);
		}
		json_decref(obj);
		return;
	}
	if (strcmp(type, "final") == 0)
	{
		if (c != NULL)
		{
			cap_final(obj, len, c->req.max_output_bytes);
			json_decref(c->final);
			c->final = obj;
			on_final(k, arg);
			return;
		}
	}
	else if (type != NULL && strcmp(type, "query") == 0)
		forward_query(k, obj);
	else if (type != NULL && strcmp(type, "progress") == 0 && c != NULL &&
			 json_is_number(json_object_get(obj, "progress")) &&
			 !c->client_gone && c->out.len - c->out_sent < EXECUTOR_PROGRESS_BACKLOG)
	{
		json_t	   *p = json_pack("{s:O, s:O?}",
								  "progress", json_object_get(obj, "progress"),
								  "message", json_object_get(obj, "message"));

		if (p != NULL)
			conn_send_frame(c, PI_FRAME_PROGRESS, p);
		json_decref(p);
	}
	json_decref(obj);
}

/*
 * Read the result channel and split it into lines; false at end of file.
 * The cell's final line is handed to on_final (with arg): what a final
 * line means is the cell's business (cell.c), not this file's.
 */
bool
result_read(Kernel *k, ResultFinalFn on_final, void *arg)
{
	char		chunk[EXECUTOR_READ_CHUNK];
	int			rounds;

	for (rounds = 0; rounds < 16 && k->res_fd >= 0; rounds++)
	{
		ssize_t		n = read(k->res_fd, chunk, sizeof(chunk));
		char	   *start = chunk;
		char	   *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0)
			return false;
		while ((nl = memchr(start, '\n', chunk + n - start)) != NULL)
		{
			if (!k->line_overflow && !buf_append(&k->line, start, nl - start))
				k->line_overflow = true;	/* out of memory: as if too long */
			if (!k->line_overflow)
				result_line(k, k->line.data, k->line.len, on_final, arg);
			else if (k->conn != NULL)
			{
				/* the dropped line may have been the final one: end the cell */
				k->conn->line_overflow = true;
				json_decref(k->conn->final);
				k->conn->final = unreadable_final("it was longer than the executor "
												  "accepts, " EXECUTOR_RESULT_LINE_MAX_TEXT);
				on_final(k, arg);
			}
			k->line.len = 0;
			k->line_overflow = false;
			start = nl + 1;
		}
		if (k->line.len + (chunk + n - start) > EXECUTOR_RESULT_LINE_MAX)
		{
			k->line_overflow = true;	/* drop this line, keep reading */
			k->line.len = 0;
		}
		else if (!buf_append(&k->line, start, chunk + n - start))
		{
			k->line_overflow = true;	/* out of memory: as if too long */
			k->line.len = 0;
		}
	}
	return true;
}
