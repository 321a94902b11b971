/*-------------------------------------------------------------------------
 *
 * requests.c
 *	  Connections and the frames that come in on them: accepting clients,
 *	  reading 'Q' (run), 'C' (cancel) and 'A' (pi.query answer) frames,
 *	  hang-ups, and freeing finished connections.
 *
 * A connection is one run (executor_protocol.h) and moves through
 *	 READING	waiting for the 'Q' frame
 *	 QUEUED		request parsed, no free slot of its kind (or its session's
 *				kernel is busy); schedule.c starts it
 *	 RUNNING	its cell runs in a kernel (cell.c)
 *	 FLUSHING	'R' frame composed, being written; then the socket closes
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "executor.h"
#include "executor_protocol.h"

/*
 * Connections beyond MAX_CONNECTIONS wait in the listen backlog.  A client
 * gets REQUEST_TIMEOUT_MS to send its request, so a client that
 * connects and says nothing holds nothing for long.
 */
#define MAX_CONNECTIONS			1024
#define REQUEST_TIMEOUT_MS		30000.0

Conn	  **conns;
int			nconns;
static int	conns_cap;
static unsigned long long next_seq;

/* op "reset_session": stop the session's kernel, if it has one. */
static void
answer_reset(Conn *c)
{
	Kernel	   *k = kernel_find_session(c->req.session_id);

	if (k != NULL)
		kernel_stop(k, "the session's Python state was reset by pi.reset_session(); "
					"variables and imports are gone, files remain");
	conn_answer_json(c, json_pack("{s:s, s:b}", "status", "completed",
								  "kernel_stopped", k != NULL));
}

/* op "owner_sessions": how many live session kernels the owner holds. */
static void
answer_owner_sessions(Conn *c)
{
	conn_answer_json(c, json_pack("{s:s, s:i}", "status", "completed", "live_sessions",
								  kernel_count_owner_sessions(c->req.owner ? c->req.owner : "")));
}

/* An 'A' frame: the client's answer to the cell's pi.query(). */
static void
forward_answer(Conn *c, const char *payload, size_t len)
{
	json_t	   *a = json_loadb(payload, len, 0, NULL);
	char	   *text = NULL;

	if (c->queries_in_flight > 0)
		c->queries_in_flight--;
	if (c->kernel == NULL)
	{
		json_decref(a);
		return;
	}
	if (a != NULL && json_is_object(a))
		text = json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII);
	/* an answer the kernel cannot get would leave its cell waiting: stop it */
	if (!kernel_send_line(c->kernel, text ? text :
						  "{\"ok\":false,\"error\":\"the client sent an answer that is not a JSON object\",\"hint\":null}"))
		conn_kill_run(c);
	free(text);
	json_decref(a);
}

static void
handle_frame(Conn *c, char tag, const char *payload, size_t len)
{
	const char *err;

	if (tag == PI_FRAME_REQUEST && c->state == CONN_READING)
	{
		if ((err = parse_request(c, payload, len)) != NULL)
		{
			conn_answer(c, "failed", make_error("BadRequest", err));
			return;
		}
		if (c->req.is_reset)
		{
			answer_reset(c);
			return;
		}
		if (c->req.is_count)
		{
			answer_owner_sessions(c);
			return;
		}
		c->state = CONN_QUEUED;
		c->seq = next_seq++;
		c->deadline = executor_now_ms() + c->req.timeout_ms;
	}
	else if (tag == PI_FRAME_CANCEL && c->state == CONN_QUEUED)
		conn_answer(c, "cancelled",
					make_error("Cancelled", "the run was cancelled before it started"));
	else if (tag == PI_FRAME_CANCEL && c->state == CONN_RUNNING)
	{
		if (!c->cancelled && !c->timed_out && !c->quota_final)
		{
			c->cancelled = true;
			conn_kill_run(c);
		}
	}
	else if (tag == PI_FRAME_ANSWER && c->state == CONN_RUNNING)
		forward_answer(c, payload, len);
	else if (c->state == CONN_READING)
		conn_answer(c, "failed",
					make_error("BadRequest", "the first frame must be a 'Q' request"));
	/* anything else (a late or repeated frame) is ignored */
}

/* Parse every complete frame in c->in. */
static void
conn_take_frames(Conn *c)
{
	while (!c->dead && !c->client_gone && c->state != CONN_FLUSHING &&
		   c->in.len >= PI_FRAME_HEADER_SIZE)
	{
		uint32_t	netlen;
		size_t		len;

		memcpy(&netlen, c->in.data + 1, 4);
		len = ntohl(netlen);
		if (len > PI_FRAME_MAX_PAYLOAD)
		{
			/* garbage: answer it if nothing runs yet, else drop the client */
			if (c->state == CONN_READING)
				conn_answer(c, "failed", make_error("BadRequest", "frame too large"));
			else
				conn_hangup(c);
			return;
		}
		if (c->in.len < PI_FRAME_HEADER_SIZE + len)
			return;
		handle_frame(c, c->in.data[0], c->in.data + PI_FRAME_HEADER_SIZE, len);
		buf_consume(&c->in, PI_FRAME_HEADER_SIZE + len);
	}
}

/* Whether the loop should poll the listening socket now. */
bool
requests_can_accept(void)
{
	return nconns < MAX_CONNECTIONS;
}

/*
 * A connection whose answer is being written: whatever the client still
 * sends (answers to queries of a cell that has ended) is read and
 * dropped, so a client blocked writing to us can never keep itself from
 * reading the answer.  End of file ends the connection.
 */
void
conn_discard_input(Conn *c)
{
	char		chunk[EXECUTOR_READ_CHUNK];

	for (int rounds = 0; rounds < 64; rounds++)
	{
		ssize_t		n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		c->dead = true;
		return;
	}
}

/* The client closed its end: a run is killed and nobody is answered. */
void
conn_hangup(Conn *c)
{
	if (c->state == CONN_RUNNING)
	{
		c->client_gone = true;
		conn_kill_run(c);
	}
	else
		c->dead = true;
}

void
conn_read(Conn *c)
{
	char		chunk[EXECUTOR_READ_CHUNK];
	int			rounds;

	for (rounds = 0; rounds < 64 && !c->dead && !c->client_gone; rounds++)
	{
		ssize_t		n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);

		if (n > 0)
		{
			if (!buf_append(&c->in, chunk, n))
			{
				pi_log("out of memory reading a request; dropping the client");
				conn_hangup(c);
				return;
			}
			conn_take_frames(c);
		}
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		else
		{
			conn_hangup(c);
			return;
		}
	}
}

void
accept_connections(int listen_fd)
{
	while (nconns < MAX_CONNECTIONS)
	{
		int			fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		Conn	   *c;

		if (fd < 0)
		{
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				pi_log("accept failed: %m");
			return;
		}
		c = calloc(1, sizeof(Conn));
		if (c == NULL)
		{
			close(fd);
			return;
		}
		c->fd = fd;
		c->state = CONN_READING;
		c->deadline = executor_now_ms() + REQUEST_TIMEOUT_MS;
		if (nconns == conns_cap)
		{
			Conn	  **grown = realloc(conns, sizeof(Conn *) * (conns_cap + 64));

			if (grown == NULL)
			{
				/* out of memory: this client is refused, the others go on */
				pi_log("out of memory accepting a connection; refusing it");
				close(fd);
				free(c);
				return;
			}
			conns = grown;
			conns_cap += 64;
		}
		conns[nconns++] = c;
	}
}

void
conn_free(Conn *c)
{
	close_fd(&c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->out_cap.kept);
	buf_free(&c->out_cap.pending);
	buf_free(&c->err_cap.kept);
	json_decref(c->final);
	quota_walk_free(&c->qwalk);
	free(c->req.code);
	free(c->req.workspace);
	free(c->req.session_id);
	free(c->req.job_id);
	free(c->req.owner);
	free(c->req.quota_note);
	free(c->notice);
	free(c);
}

/* Free finished connections; a running child is never freed from under. */
void
sweep_connections(void)
{
	int			i = 0;

	while (i < nconns)
	{
		Conn	   *c = conns[i];

		if (c->dead && c->state != CONN_RUNNING)
		{
			conn_free(c);
			conns[i] = conns[--nconns];
		}
		else
			i++;
	}
}
