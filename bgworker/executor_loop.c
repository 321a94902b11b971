/*-------------------------------------------------------------------------
 *
 * executor_loop.c
 *	  The zygote's event loop: connections, the slot pools of sync and async
 *	  runs, forking a child per run, capturing its output, and the final
 *	  'R' frame.
 *
 * One connection is one run (executor_protocol.h) and moves through
 *	 READING	waiting for the 'Q' frame
 *	 QUEUED		request parsed, no free slot of its kind yet
 *	 RUNNING	child forked; its stdout, stderr and result channel are read
 *	 FLUSHING	'R' frame composed, being written; then the socket closes
 *
 * The loop is single-threaded and never calls into Python: the zygote
 * serves every run, so it must not block on one of them.  Sockets and pipes
 * are non-blocking, output is buffered per connection, and SIGCHLD arrives
 * through a self-pipe.  A child that floods output, dies by a signal or
 * never reports a result costs its own run only.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "executor.h"
#include "executor_protocol.h"

/*
 * Limits of the loop itself.  Connections beyond MAX_CONNECTIONS wait in
 * the listen backlog; a client gets REQUEST_TIMEOUT_MS to send its request
 * and FLUSH_TIMEOUT_MS to read the answer, so a stuck client holds nothing
 * for long.  Progress frames are dropped (the result never is) while more
 * than PROGRESS_BACKLOG bytes wait for a slow client.
 */
#define MAX_CONNECTIONS			1024
#define REQUEST_TIMEOUT_MS		30000.0
#define FLUSH_TIMEOUT_MS		60000.0
#define PROGRESS_BACKLOG		(1024 * 1024)
#define RESULT_LINE_MAX			(PI_FRAME_MAX_PAYLOAD - 16 * 1024 * 1024)
#define READ_CHUNK				65536
#define NO_DEADLINE				1e300

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

/* stdout or stderr of a run: kept up to limit, the rest only counted */
typedef struct Capture
{
	int			fd;
	Buf			kept;
	size_t		limit;
	unsigned long long dropped;
} Capture;

typedef enum ConnState
{
	CONN_READING,
	CONN_QUEUED,
	CONN_RUNNING,
	CONN_FLUSHING
} ConnState;

typedef struct Conn
{
	int			fd;
	ConnState	state;
	bool		dead;			/* free at the end of this loop iteration */
	unsigned long long seq;		/* arrival order, for the queue */
	double		deadline;		/* meaning depends on state */
	Buf			in;
	Buf			out;
	size_t		out_sent;

	RunRequest	req;
	char	   *temp_workspace; /* NULL for a session workspace */

	pid_t		pid;
	double		started;
	double		elapsed_ms;
	int			wait_status;
	Capture		out_cap;
	Capture		err_cap;
	int			result_fd;
	Buf			line;			/* partial result-channel line */
	bool		line_overflow;
	json_t	   *final;			/* the runner's final line */
	bool		cancelled;
	bool		timed_out;
	bool		client_gone;
} Conn;

static const ExecutorConfig *config;
static Conn **conns;
static int	nconns;
static int	running[2];			/* by kind: [0] sync, [1] async */
static unsigned long long next_seq;
static unsigned long long run_counter;
static pid_t zygote_pid;
static pid_t parent_pid;
static int	signal_pipe[2] = {-1, -1};
static volatile sig_atomic_t shutdown_requested;

/* ---------------------------------------------------------------- buffers */

static void
buf_reserve(Buf *b, size_t extra)
{
	size_t		need = b->len + extra;

	if (need <= b->cap)
		return;
	b->cap = b->cap ? b->cap : 4096;
	while (b->cap < need)
		b->cap *= 2;
	b->data = realloc(b->data, b->cap);
	if (b->data == NULL)
	{
		executor_log("out of memory");
		abort();
	}
}

static void
buf_append(Buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

static void
buf_consume(Buf *b, size_t n)
{
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

static void
buf_free(Buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/*
 * Make captured bytes a JSON string that jsonb accepts: every byte that is
 * not part of a valid UTF-8 sequence, and every NUL, becomes U+FFFD.
 * Overlong forms, surrogates and code points above U+10FFFF are invalid.
 */
static json_t *
json_text_from_bytes(const char *s, size_t len, const char *suffix)
{
	static const char fffd[] = "\xEF\xBF\xBD";
	Buf			o = {0};
	size_t		i = 0;
	json_t	   *j;

	buf_reserve(&o, len * 3 + strlen(suffix) + 1);
	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];
		size_t		n = 0,
					k;
		uint32_t	cp = 0;

		if (c >= 0x01 && c < 0x80)
		{
			o.data[o.len++] = (char) c;
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 1, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 2, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 3, cp = c & 0x07;
		for (k = 1; n > 0 && k <= n; k++)
		{
			if (i + k >= len || ((unsigned char) s[i + k] & 0xC0) != 0x80)
			{
				n = 0;
				break;
			}
			cp = (cp << 6) | ((unsigned char) s[i + k] & 0x3F);
		}
		if (n == 0 || (n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
			(n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
		{
			memcpy(o.data + o.len, fffd, 3);
			o.len += 3;
			i++;
			continue;
		}
		memcpy(o.data + o.len, s + i, n + 1);
		o.len += n + 1;
		i += n + 1;
	}
	memcpy(o.data + o.len, suffix, strlen(suffix));
	o.len += strlen(suffix);
	j = json_stringn_nocheck(o.data, o.len);
	buf_free(&o);
	return j;
}

/* -------------------------------------------------------------- answering */

static void conn_flush(Conn *c);
static void conn_hangup(Conn *c);

/* Queue one frame for the client and try to send it right away. */
static void
conn_send_frame(Conn *c, char tag, json_t *payload)
{
	char	   *text = json_dumps(payload, JSON_COMPACT | JSON_ENSURE_ASCII);
	size_t		len;
	uint32_t	netlen;

	if (text == NULL)
	{
		executor_log("could not serialise a %c frame", tag);
		return;
	}
	len = strlen(text);
	if (len > PI_FRAME_MAX_PAYLOAD)
	{
		executor_log("dropping a %c frame of %zu bytes (limit %u)",
					 tag, len, PI_FRAME_MAX_PAYLOAD);
		free(text);
		return;
	}
	netlen = htonl((uint32_t) len);
	buf_append(&c->out, &tag, 1);
	buf_append(&c->out, &netlen, 4);
	buf_append(&c->out, text, len);
	free(text);
	conn_flush(c);
}

static void
conn_flush(Conn *c)
{
	while (!c->dead && c->out_sent < c->out.len)
	{
		ssize_t		n = send(c->fd, c->out.data + c->out_sent,
							 c->out.len - c->out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0)
			c->out_sent += n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		else
			c->dead = true;		/* client went away; nobody to answer */
	}
	if (c->out_sent == c->out.len)
	{
		c->out.len = c->out_sent = 0;
		if (c->state == CONN_FLUSHING)
			c->dead = true;		/* the 'R' frame is out: done */
	}
}

/* Send the 'R' frame (consumes result) and let the connection finish. */
static void
conn_finish(Conn *c, json_t *result)
{
	c->state = CONN_FLUSHING;
	c->deadline = executor_now_ms() + FLUSH_TIMEOUT_MS;
	conn_send_frame(c, PI_FRAME_RESULT, result);
	json_decref(result);
}

static json_t *
make_error(const char *type, const char *message)
{
	return json_pack("{s:s, s:s}", "type", type, "message", message);
}

/* An 'R' frame for a run that never started: busy, cancelled, bad request. */
static void
conn_answer(Conn *c, const char *status, json_t *error)
{
	conn_finish(c, json_pack("{s:s, s:s, s:s, s:b, s:b, s:n, s:o, s:[], s:[], s:f}",
							 "status", status, "stdout", "", "stderr", "",
							 "stdout_truncated", 0, "stderr_truncated", 0,
							 "result", "error", error ? error : json_null(),
							 "figures", "files", "elapsed_ms", 0.0));
}

static json_t *
capture_text(const Capture *cap)
{
	char		marker[200] = "";

	if (cap->dropped > 0)
		snprintf(marker, sizeof(marker),
				 "\n[output truncated: %llu more bytes not shown; the limit is %zu bytes per stream]",
				 cap->dropped, cap->limit);
	return json_text_from_bytes(cap->kept.data ? cap->kept.data : "",
								cap->kept.len, marker);
}

/* The error of a run whose child ended without a usable final line. */
static json_t *
death_error(const Conn *c)
{
	char		msg[400];
	int			st = c->wait_status;

	if (WIFSIGNALED(st))
	{
		int			sig = WTERMSIG(st);
		const char *abbrev = sigabbrev_np(sig);
		int			off;

		off = snprintf(msg, sizeof(msg),
					   "the Python process was killed by signal %d (SIG%s)",
					   sig, abbrev ? abbrev : "?");
		if (sig == SIGKILL)
			snprintf(msg + off, sizeof(msg) - off,
					 "; it may have run out of memory (limit %d MB)",
					 c->req.memory_mb);
		else if (sig == SIGXCPU)
			snprintf(msg + off, sizeof(msg) - off,
					 "; it used up its CPU time limit of %d s",
					 (c->req.timeout_ms + 999) / 1000 + 1);
		return make_error("KilledBySignal", msg);
	}
	snprintf(msg, sizeof(msg),
			 "the Python process exited with code %d without reporting a result%s",
			 WEXITSTATUS(st),
			 c->line_overflow ? " (its result was larger than the executor accepts)" : "");
	return make_error("ExitedWithoutResult", msg);
}

/* Compose the 'R' frame of a run that was started. */
static void
conn_answer_run(Conn *c)
{
	const char *status;
	json_t	   *error = NULL;
	json_t	   *r;
	json_t	   *final = c->final;

	if (c->cancelled)
		status = "cancelled",
			error = make_error("Cancelled", "the run was cancelled by the client");
	else if (c->timed_out)
	{
		char		msg[200];

		snprintf(msg, sizeof(msg),
				 "execution exceeded the %g s time limit and was stopped; output up to that point is kept",
				 c->req.timeout_ms / 1000.0);
		status = "timeout", error = make_error("TimeoutError", msg);
	}
	else if (final == NULL)
		status = "failed", error = death_error(c);
	else
	{
		error = json_incref(json_object_get(final, "error"));
		status = (error && !json_is_null(error)) ? "failed" : "completed";
	}

	r = json_pack("{s:s, s:o, s:o, s:b, s:b, s:f}",
				  "status", status,
				  "stdout", capture_text(&c->out_cap),
				  "stderr", capture_text(&c->err_cap),
				  "stdout_truncated", c->out_cap.dropped > 0,
				  "stderr_truncated", c->err_cap.dropped > 0,
				  "elapsed_ms", c->elapsed_ms);
	json_object_set_new(r, "error", error ? error : json_null());
	if (final != NULL && !c->cancelled && !c->timed_out)
	{
		json_object_set(r, "result", json_object_get(final, "result"));
		json_object_set(r, "figures", json_object_get(final, "figures"));
		json_object_set(r, "files", json_object_get(final, "files"));
	}
	if (!json_object_get(r, "result"))
		json_object_set_new(r, "result", json_null());
	if (!json_is_array(json_object_get(r, "figures")))
		json_object_set_new(r, "figures", json_array());
	if (!json_is_array(json_object_get(r, "files")))
		json_object_set_new(r, "files", json_array());
	conn_finish(c, r);
}

/* --------------------------------------------------------------- requests */

/* An optional integer member within [lo, hi]; false if present but bad. */
static bool
get_int(json_t *obj, const char *key, long long def, long long lo,
		long long hi, long long *out)
{
	json_t	   *v = json_object_get(obj, key);

	*out = def;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return false;
	*out = json_integer_value(v);
	return true;
}

/* An optional string member: NULL for absent or null; false if not text. */
static bool
get_text(json_t *obj, const char *key, char **out)
{
	json_t	   *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v))
		return false;
	*out = strdup(json_string_value(v));
	return true;
}

/* Fill c->req from a 'Q' payload; returns NULL or what is wrong with it. */
static const char *
parse_request(Conn *c, const char *payload, size_t len)
{
	json_t	   *root = json_loadb(payload, len, 0, NULL);
	json_t	   *code;
	const char *kind;
	const char *err = NULL;
	long long	timeout,
				mem,
				fsize,
				output;
	struct stat st;

	if (root == NULL || !json_is_object(root))
		err = "the request is not a JSON object";
	else if ((kind = json_string_value(json_object_get(root, "kind"))) == NULL ||
			 (strcmp(kind, "sync") != 0 && strcmp(kind, "async") != 0))
		err = "\"kind\" must be \"sync\" or \"async\"";
	else if (!json_is_string(code = json_object_get(root, "code")))
		err = "\"code\" must be a string";
	else if (!get_int(root, "timeout_ms", EXECUTOR_DEFAULT_TIMEOUT_MS, 1, 86400000LL, &timeout))
		err = "\"timeout_ms\" must be an integer between 1 and 86400000";
	else if (!get_int(root, "memory_mb", EXECUTOR_DEFAULT_MEMORY_MB, 16, 1048576, &mem))
		err = "\"memory_mb\" must be an integer between 16 and 1048576";
	else if (!get_int(root, "max_file_size_mb", EXECUTOR_DEFAULT_FILE_SIZE_MB, 1, 1048576, &fsize))
		err = "\"max_file_size_mb\" must be an integer between 1 and 1048576";
	else if (!get_int(root, "max_output_bytes", EXECUTOR_DEFAULT_OUTPUT_BYTES, 0, 64 * 1024 * 1024, &output))
		err = "\"max_output_bytes\" must be an integer between 0 and 67108864";
	else if (!get_text(root, "workspace", &c->req.workspace) ||
			 !get_text(root, "session_id", &c->req.session_id) ||
			 !get_text(root, "job_id", &c->req.job_id))
		err = "\"workspace\", \"session_id\" and \"job_id\" must be strings or null";
	else if (c->req.workspace != NULL &&
			 (c->req.workspace[0] != '/' || stat(c->req.workspace, &st) != 0 ||
			  !S_ISDIR(st.st_mode)))
		err = "\"workspace\" must be the absolute path of an existing directory";
	if (err == NULL)
	{
		c->req.is_async = strcmp(kind, "async") == 0;
		c->req.code_len = json_string_length(code);
		c->req.code = malloc(c->req.code_len + 1);
		memcpy(c->req.code, json_string_value(code), c->req.code_len + 1);
		c->req.timeout_ms = (int) timeout;
		c->req.memory_mb = (int) mem;
		c->req.max_file_size_mb = (int) fsize;
		c->req.max_output_bytes = (size_t) output;
		c->req.workspace_is_session = c->req.workspace != NULL;
	}
	json_decref(root);
	return err;
}

/* Kill the run's whole process group: the child and anything it spawned. */
static void
conn_kill_run(Conn *c)
{
	if (c->pid > 0)
		kill(-c->pid, SIGKILL);
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
		c->state = CONN_QUEUED;
		c->seq = next_seq++;
		c->deadline = executor_now_ms() + c->req.timeout_ms;
	}
	else if (tag == PI_FRAME_CANCEL && c->state == CONN_QUEUED)
		conn_answer(c, "cancelled",
					make_error("Cancelled", "the run was cancelled before it started"));
	else if (tag == PI_FRAME_CANCEL && c->state == CONN_RUNNING)
	{
		c->cancelled = true;
		conn_kill_run(c);
	}
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

/* The client closed its end: a run is killed and nobody is answered. */
static void
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

static void
conn_read(Conn *c)
{
	char		chunk[READ_CHUNK];
	int			rounds;

	for (rounds = 0; rounds < 64 && !c->dead && !c->client_gone; rounds++)
	{
		ssize_t		n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);

		if (n > 0)
		{
			buf_append(&c->in, chunk, n);
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

/* ------------------------------------------------------------ run output */

/* Read what is available on stdout or stderr; false at end of file. */
static bool
capture_read(Capture *cap)
{
	char		chunk[READ_CHUNK];
	int			rounds;

	for (rounds = 0; rounds < 16; rounds++)
	{
		ssize_t		n = read(cap->fd, chunk, sizeof(chunk));
		size_t		keep;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0)
			return false;
		/* past the cap keep draining, or the child would block on a full pipe */
		keep = cap->kept.len < cap->limit ? cap->limit - cap->kept.len : 0;
		if (keep > (size_t) n)
			keep = n;
		buf_append(&cap->kept, chunk, keep);
		cap->dropped += n - keep;
	}
	return true;
}

/* One complete line of the result channel: progress or the final line. */
static void
result_line(Conn *c, const char *line, size_t len)
{
	json_t	   *obj = json_loadb(line, len, 0, NULL);
	const char *type = json_string_value(json_object_get(obj, "type"));

	if (type != NULL && strcmp(type, "final") == 0)
	{
		json_decref(c->final);
		c->final = obj;
		return;
	}
	if (type != NULL && strcmp(type, "progress") == 0 &&
		json_is_number(json_object_get(obj, "progress")) &&
		!c->client_gone && c->out.len - c->out_sent < PROGRESS_BACKLOG)
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

/* Read the result channel and split it into lines; false at end of file. */
static bool
result_read(Conn *c)
{
	char		chunk[READ_CHUNK];
	int			rounds;

	for (rounds = 0; rounds < 16; rounds++)
	{
		ssize_t		n = read(c->result_fd, chunk, sizeof(chunk));
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
			buf_append(&c->line, start, nl - start);
			if (!c->line_overflow)
				result_line(c, c->line.data, c->line.len);
			c->line.len = 0;
			c->line_overflow = false;
			start = nl + 1;
		}
		if (c->line.len + (chunk + n - start) > RESULT_LINE_MAX)
		{
			c->line_overflow = true;	/* drop this line, keep reading */
			c->line.len = 0;
		}
		else
			buf_append(&c->line, start, chunk + n - start);
	}
	return true;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ------------------------------------------------------------ workspaces */

static int
unlock_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) ftw;
	if (flag == FTW_D || flag == FTW_DNR)
		chmod(path, (st->st_mode & 07777) | S_IRWXU);
	return 0;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	if (remove(path) != 0 && errno != ENOENT)
		executor_log("could not remove \"%s\": %m", path);
	return 0;
}

/*
 * Remove a temporary workspace.  Directories are made writable first, since
 * the code may have chmod-ed them; links are removed, never followed.
 */
static void
remove_tree(const char *path)
{
	nftw(path, unlock_entry, 16, FTW_PHYS);
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------- runs */

static int
conn_kind(const Conn *c)
{
	return c->req.is_async ? 1 : 0;
}

static const char *
start_error(Conn *c, const char *what)
{
	static char msg[300];

	snprintf(msg, sizeof(msg), "could not start the Python process: %s: %s",
			 what, strerror(errno));
	(void) c;
	return msg;
}

/* Fork the child of a queued run; NULL on success, else why not. */
static const char *
start_run(Conn *c)
{
	int			out[2] = {-1, -1},
				err[2] = {-1, -1},
				res[2] = {-1, -1};
	sigset_t	all,
				old;

	if (c->req.workspace == NULL)
	{
		char		path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/.runs/%d-%llu",
				 config->workspace_root, (int) zygote_pid, ++run_counter);
		if (mkdir(path, 0700) != 0)
			return start_error(c, "mkdir of the temporary workspace");
		c->temp_workspace = strdup(path);
		c->req.workspace = strdup(path);
	}
	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
		pipe2(res, O_CLOEXEC) != 0)
	{
		close_fd(&out[0]), close_fd(&out[1]), close_fd(&err[0]);
		close_fd(&err[1]), close_fd(&res[0]), close_fd(&res[1]);
		return start_error(c, "pipe");
	}

	/* no handler of ours may run in the child before it resets them */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	c->started = executor_now_ms();
	c->pid = fork();
	if (c->pid == 0)
		executor_child_main(&c->req, out[1], err[1], res[1], zygote_pid);
	sigprocmask(SIG_SETMASK, &old, NULL);

	close_fd(&out[1]), close_fd(&err[1]), close_fd(&res[1]);
	if (c->pid < 0)
	{
		close_fd(&out[0]), close_fd(&err[0]), close_fd(&res[0]);
		return start_error(c, "fork");
	}
	/* also here, so a kill right after fork finds the group */
	setpgid(c->pid, c->pid);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	fcntl(res[0], F_SETFL, O_NONBLOCK);
	c->out_cap.fd = out[0];
	c->out_cap.limit = c->req.max_output_bytes;
	c->err_cap.fd = err[0];
	c->err_cap.limit = c->req.max_output_bytes;
	c->result_fd = res[0];
	c->state = CONN_RUNNING;
	c->deadline = c->started + c->req.timeout_ms;
	running[conn_kind(c)]++;
	return NULL;
}

/*
 * The child is reaped.  Whatever it wrote before exiting is in the pipes
 * (a blocked writer does not exit), so one non-blocking drain gets it all;
 * anything it left running in its process group is killed first, so no
 * straggler can keep a pipe open.
 */
static void
run_exited(Conn *c, int status)
{
	c->wait_status = status;
	c->elapsed_ms = executor_now_ms() - c->started;
	kill(-c->pid, SIGKILL);
	c->pid = 0;
	if (c->out_cap.fd >= 0)
		capture_read(&c->out_cap);
	if (c->err_cap.fd >= 0)
		capture_read(&c->err_cap);
	if (c->result_fd >= 0)
		result_read(c);
	close_fd(&c->out_cap.fd);
	close_fd(&c->err_cap.fd);
	close_fd(&c->result_fd);
	running[conn_kind(c)]--;
	if (c->temp_workspace != NULL)
		remove_tree(c->temp_workspace);

	if (c->client_gone)
		c->dead = true;
	else
		conn_answer_run(c);
}

static void
reap_children(void)
{
	pid_t		pid;
	int			status;
	int			i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
	{
		for (i = 0; i < nconns; i++)
		{
			if (conns[i]->state == CONN_RUNNING && conns[i]->pid == pid)
			{
				run_exited(conns[i], status);
				break;
			}
		}
	}
}

/* The oldest queued run of a kind, or NULL. */
static Conn *
oldest_queued(int kind)
{
	Conn	   *best = NULL;
	int			i;

	for (i = 0; i < nconns; i++)
	{
		Conn	   *c = conns[i];

		if (!c->dead && c->state == CONN_QUEUED && conn_kind(c) == kind &&
			(best == NULL || c->seq < best->seq))
			best = c;
	}
	return best;
}

static void
start_queued_runs(void)
{
	int			kind;

	for (kind = 0; kind < 2; kind++)
	{
		int			slots = kind ? config->max_async : config->max_sync;
		Conn	   *c;

		while (running[kind] < slots && (c = oldest_queued(kind)) != NULL)
		{
			const char *err = start_run(c);

			if (err != NULL)
			{
				executor_log("%s", err);
				if (c->temp_workspace != NULL)
					remove_tree(c->temp_workspace);
				conn_answer(c, "failed", make_error("ExecutorError", err));
			}
		}
	}
}

/* A queued run waited its whole timeout for a slot. */
static void
answer_busy(Conn *c)
{
	char		msg[300];

	if (c->req.is_async)
		snprintf(msg, sizeof(msg),
				 "all %d Python executor slots for async runs are busy; retry shortly or raise pi.max_concurrent_jobs",
				 config->max_async);
	else
		snprintf(msg, sizeof(msg),
				 "all %d Python executor slots for sync runs are busy; retry shortly or raise pi.max_sync_executions",
				 config->max_sync);
	conn_answer(c, "busy", make_error("ExecutorBusy", msg));
}

static void
check_deadlines(double now)
{
	int			i;

	for (i = 0; i < nconns; i++)
	{
		Conn	   *c = conns[i];

		if (c->dead || now < c->deadline)
			continue;
		switch (c->state)
		{
			case CONN_READING:
			case CONN_FLUSHING:
				c->dead = true;
				break;
			case CONN_QUEUED:
				answer_busy(c);
				break;
			case CONN_RUNNING:
				c->timed_out = !c->cancelled && !c->client_gone;
				conn_kill_run(c);
				/* the answer follows when SIGCHLD reports the kill */
				c->deadline = NO_DEADLINE;
				break;
		}
	}
}

/* ------------------------------------------------------------ connections */

static void
accept_connections(int listen_fd)
{
	while (nconns < MAX_CONNECTIONS)
	{
		int			fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		Conn	   *c;

		if (fd < 0)
		{
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				executor_log("accept failed: %m");
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
		c->out_cap.fd = c->err_cap.fd = c->result_fd = -1;
		conns = realloc(conns, sizeof(Conn *) * (nconns + 1));
		conns[nconns++] = c;
	}
}

static void
conn_free(Conn *c)
{
	close_fd(&c->fd);
	close_fd(&c->out_cap.fd);
	close_fd(&c->err_cap.fd);
	close_fd(&c->result_fd);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->line);
	buf_free(&c->out_cap.kept);
	buf_free(&c->err_cap.kept);
	json_decref(c->final);
	free(c->req.code);
	free(c->req.workspace);
	free(c->req.session_id);
	free(c->req.job_id);
	free(c->temp_workspace);
	free(c);
}

/* Free finished connections; a running child is never freed from under. */
static void
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

/* ---------------------------------------------------------------- signals */

static void
signal_wakeup(int sig)
{
	int			save_errno = errno;

	if (sig == SIGTERM || sig == SIGINT)
		shutdown_requested = 1;
	if (write(signal_pipe[1], "x", 1) < 0)
	{
		/* pipe full: a wake-up is already pending */
	}
	errno = save_errno;
}

static bool
setup_signals(void)
{
	struct sigaction sa;

	if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = signal_wakeup;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	return true;
}

static void
drain_signal_pipe(void)
{
	char		junk[256];

	while (read(signal_pipe[0], junk, sizeof(junk)) > 0)
		;
}

/* ------------------------------------------------------------- the loop */

/* Which descriptor of which connection a pollfd entry stands for. */
typedef enum PollWhat
{
	POLL_CLIENT,
	POLL_STDOUT,
	POLL_STDERR,
	POLL_RESULT
} PollWhat;

typedef struct PollRef
{
	Conn	   *conn;
	PollWhat	what;
} PollRef;

static void
add_poll(struct pollfd *pfds, PollRef *refs, int *n, int fd, short events,
		 Conn *c, PollWhat what)
{
	pfds[*n].fd = fd;
	pfds[*n].events = events;
	pfds[*n].revents = 0;
	refs[*n].conn = c;
	refs[*n].what = what;
	(*n)++;
}

/* Build the poll set; returns its size. */
static int
build_poll_set(struct pollfd *pfds, PollRef *refs, int listen_fd)
{
	int			n = 0;
	int			i;

	add_poll(pfds, refs, &n, signal_pipe[0], POLLIN, NULL, POLL_CLIENT);
	if (nconns < MAX_CONNECTIONS)
		add_poll(pfds, refs, &n, listen_fd, POLLIN, NULL, POLL_CLIENT);
	for (i = 0; i < nconns; i++)
	{
		Conn	   *c = conns[i];
		short		ev = 0;

		if (c->dead)
			continue;
		if (c->state != CONN_FLUSHING && !c->client_gone)
			ev |= POLLIN;
		if (c->out_sent < c->out.len)
			ev |= POLLOUT;
		if (ev != 0 && !c->client_gone)
			add_poll(pfds, refs, &n, c->fd, ev, c, POLL_CLIENT);
		if (c->out_cap.fd >= 0)
			add_poll(pfds, refs, &n, c->out_cap.fd, POLLIN, c, POLL_STDOUT);
		if (c->err_cap.fd >= 0)
			add_poll(pfds, refs, &n, c->err_cap.fd, POLLIN, c, POLL_STDERR);
		if (c->result_fd >= 0)
			add_poll(pfds, refs, &n, c->result_fd, POLLIN, c, POLL_RESULT);
	}
	return n;
}

static void
dispatch(const struct pollfd *pfd, const PollRef *ref)
{
	Conn	   *c = ref->conn;

	if (c->dead)
		return;
	switch (ref->what)
	{
		case POLL_CLIENT:
			if (pfd->revents & POLLOUT)
				conn_flush(c);
			if (!c->dead && (pfd->revents & (POLLIN | POLLHUP | POLLERR)))
			{
				if (c->state == CONN_FLUSHING)
					c->dead = (pfd->revents & (POLLHUP | POLLERR)) != 0;
				else
					conn_read(c);
			}
			break;
		case POLL_STDOUT:
			if (c->out_cap.fd == pfd->fd && !capture_read(&c->out_cap))
				close_fd(&c->out_cap.fd);
			break;
		case POLL_STDERR:
			if (c->err_cap.fd == pfd->fd && !capture_read(&c->err_cap))
				close_fd(&c->err_cap.fd);
			break;
		case POLL_RESULT:
			if (c->result_fd == pfd->fd && !result_read(c))
				close_fd(&c->result_fd);
			break;
	}
}

/* Milliseconds until the nearest deadline, at most one second. */
static int
poll_timeout(double now)
{
	double		next = now + 1000.0;
	int			i;

	for (i = 0; i < nconns; i++)
		if (!conns[i]->dead && conns[i]->deadline < next)
			next = conns[i]->deadline;
	return next <= now ? 0 : (int) (next - now) + 1;
}

/* Stop every run and wait for it, so no child outlives the zygote. */
static void
shutdown_runs(void)
{
	int			i;

	for (i = 0; i < nconns; i++)
	{
		Conn	   *c = conns[i];

		if (c->state == CONN_RUNNING && c->pid > 0)
		{
			conn_kill_run(c);
			waitpid(c->pid, NULL, 0);
			if (c->temp_workspace != NULL)
				remove_tree(c->temp_workspace);
		}
		conn_free(c);
	}
	nconns = 0;
}

/*
 * Serve until SIGTERM or until the launcher is gone.  Returns the exit
 * status for main().
 */
int
executor_loop_run(const ExecutorConfig *cfg, int listen_fd)
{
	struct pollfd *pfds = NULL;
	PollRef    *refs = NULL;
	int			rc = 0;

	config = cfg;
	zygote_pid = getpid();
	parent_pid = getppid();
	if (!setup_signals())
	{
		executor_log("could not set up signal handling: %m");
		return 1;
	}

	while (!shutdown_requested)
	{
		int			n,
					i;
		size_t		size = sizeof(struct pollfd) * (2 + 4 * (size_t) nconns);

		if (getppid() != parent_pid)
		{
			executor_log("parent process is gone; exiting");
			rc = 1;
			break;
		}
		pfds = realloc(pfds, size);
		refs = realloc(refs, sizeof(PollRef) * (2 + 4 * (size_t) nconns));
		n = build_poll_set(pfds, refs, listen_fd);
		if (poll(pfds, n, poll_timeout(executor_now_ms())) < 0 && errno != EINTR)
		{
			executor_log("poll failed: %m");
			rc = 1;
			break;
		}
		for (i = 0; i < n; i++)
		{
			if (pfds[i].revents == 0)
				continue;
			if (pfds[i].fd == signal_pipe[0])
			{
				drain_signal_pipe();
				reap_children();
			}
			else if (pfds[i].fd == listen_fd && refs[i].conn == NULL)
				accept_connections(listen_fd);
			else
				dispatch(&pfds[i], &refs[i]);
		}
		check_deadlines(executor_now_ms());
		sweep_connections();
		start_queued_runs();
	}
	if (shutdown_requested)
		executor_log("shutting down");
	shutdown_runs();
	free(pfds);
	free(refs);
	return rc;
}
