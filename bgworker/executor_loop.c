/*-------------------------------------------------------------------------
 *
 * executor_loop.c
 *	  The zygote's event loop: connections, the slot pools of sync and async
 *	  runs, forking and reaping a child per run, deadlines and cancels.
 *
 * One connection is one run (executor_protocol.h) and moves through
 *	 READING	waiting for the 'Q' frame
 *	 QUEUED		request parsed, no free slot of its kind (or its session's
 *				kernel is busy)
 *	 RUNNING	the cell runs in a kernel (executor_kernel.c): a ready
 *				stateless kernel of the pool, or the session's live one;
 *				the kernel's stdout, stderr and result channel are read
 *	 FLUSHING	'R' frame composed, being written; then the socket closes
 *
 * The 'R' frame goes out as soon as the kernel's final line has arrived
 * and its output is drained; a stateless kernel is killed and reaped
 * afterwards, off the critical path, and the pool is refilled when the
 * loop has nothing else to do.
 *
 * What goes over the wire (request parsing, frames, captured output) is
 * in executor_frames.c.  The loop is single-threaded and never calls into
 * Python: the zygote serves every run, so it must not block on one of
 * them.  Sockets and pipes are non-blocking, output is buffered per
 * connection, and SIGCHLD arrives through a self-pipe.  A child that floods output, dies by a signal or
 * never reports a result costs its own run only.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
 * the listen backlog; a client gets REQUEST_TIMEOUT_MS to send its request,
 * so a client that connects and says nothing holds nothing for long.
 */
#define MAX_CONNECTIONS			1024
#define REQUEST_TIMEOUT_MS		30000.0
#define NO_DEADLINE				1e300
/* A pool refill waits this long for a fresh cell to answer first. */
#define REFILL_DEFER_MS			200.0
#define REFILL_POLL_MS			20

static const ExecutorConfig *config;
static Conn **conns;
static int	nconns;
static int	running[2];			/* by kind: [0] sync, [1] async */
static unsigned long long next_seq;
static pid_t zygote_pid;
static pid_t parent_pid;
static int	signal_pipe[2] = {-1, -1};
static volatile sig_atomic_t shutdown_requested;

static int
conn_kind(const Conn *c)
{
	return c->req.is_async ? 1 : 0;
}

static void
set_notice(Conn *c, const char *text)
{
	free(c->notice);
	c->notice = text ? strdup(text) : NULL;
}

/*
 * Stop the cell of a running connection (timeout, cancel, hang-up).  A
 * stateless kernel is killed.  A session kernel first gets SIGINT (a
 * KeyboardInterrupt in the cell): if its final line follows within
 * EXECUTOR_INTERRUPT_GRACE_MS the kernel and its variables are kept,
 * otherwise the next call (from check_deadlines) kills it.
 */
void
conn_kill_run(Conn *c)
{
	Kernel	   *k = c->kernel;

	if (k == NULL || k->stopping || c->quota_final)
		return;
	if (k->is_session && !c->interrupted)
	{
		c->interrupted = true;
		kill(k->pid, SIGINT);
		c->deadline = executor_now_ms() + EXECUTOR_INTERRUPT_GRACE_MS;
		return;
	}
	kernel_stop(k, k->is_session ?
				"the session's Python state was reset: a cell did not stop within "
				"2 s of an interrupt, so its kernel was killed; variables and "
				"imports are gone, files remain" : NULL);
	c->deadline = NO_DEADLINE;
}

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

/* An 'A' frame: the client's answer to the cell's pi.query(). */
static void
forward_answer(Conn *c, const char *payload, size_t len)
{
	json_t	   *a = json_loadb(payload, len, 0, NULL);
	char	   *text = NULL;

	if (c->kernel == NULL)
	{
		json_decref(a);
		return;
	}
	if (a != NULL && json_is_object(a))
		text = json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII);
	kernel_send_line(c->kernel, text ? text :
					 "{\"ok\":false,\"error\":\"the client sent an answer that is not a JSON object\",\"hint\":null}");
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

static void
conn_read(Conn *c)
{
	char		chunk[EXECUTOR_READ_CHUNK];
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

/* ------------------------------------------------------------------- runs */

/* The cell of c is over (final line, or the kernel died): answer. */
static void
conn_run_over(Conn *c)
{
	running[conn_kind(c)]--;
	c->kernel = NULL;
	c->quota_final = false;
	quota_walk_free(&c->qwalk);
	if (c->client_gone || c->dead)
	{
		c->dead = true;
		c->state = CONN_FLUSHING;
	}
	else
		conn_answer_run(c);
}

/* The cell of k is over and its quota checked: answer, then the kernel. */
static void
cell_done(Kernel *k)
{
	Conn	   *c = k->conn;

	if (k->is_session && c->interrupted)
		set_notice(c, c->quota_exceeded ?
				   "the cell was interrupted (workspace quota); the session's variables are kept" :
				   c->cancelled ?
				   "the cell was interrupted (cancelled); the session's variables are kept" :
				   "the cell was interrupted; the session's variables are kept");
	k->conn = NULL;
	k->cells++;
	k->last_used = executor_now_ms();
	conn_run_over(c);
	if (!k->is_session)
		kernel_retire(k);
}

/* Whether the completed walk of c puts its workspace over the quota. */
static bool
quota_over(Conn *c)
{
	unsigned long long quota = (unsigned long long) c->req.workspace_quota_mb << 20;

	if (!c->qwalk.too_many && c->qwalk.bytes <= quota)
		return false;
	c->quota_used = c->qwalk.bytes;
	c->quota_too_many = c->qwalk.too_many;
	return true;
}

/*
 * One step of c's quota walk, if due.  Over the quota while the cell runs:
 * stop it like a timeout (a stateless kernel is killed; a session kernel
 * gets SIGINT, then SIGKILL after the grace).  After the final line: the
 * answer says so, the kernel (and a session's variables) stay.
 */
static void
quota_check(Conn *c, double now, bool force)
{
	Kernel	   *k = c->kernel;

	if (k == NULL || k->stopping || (!force && now < c->quota_next))
		return;
	/* a cell being stopped anyway; but a final walk always completes */
	if (!c->quota_final && (c->quota_exceeded || c->cancelled ||
							c->timed_out || c->client_gone))
		return;
	if (!c->qwalk.active)
	{
		quota_walk_start(&c->qwalk, k->workspace);
		c->quota_walk_started = now;
	}
	if (!quota_walk_step(&c->qwalk, EXECUTOR_QUOTA_STEP_ENTRIES))
	{
		c->quota_next = now + EXECUTOR_QUOTA_STEP_GAP_MS;
		return;
	}
	if (quota_over(c))
	{
		executor_log("run in %s: workspace holds %llu bytes%s, over its quota of %d MB; stopping it",
					 k->workspace, c->quota_used,
					 c->quota_too_many ? " (too many entries)" : "",
					 c->req.workspace_quota_mb);
		c->quota_exceeded = true;
		if (c->quota_final)
			cell_done(k);
		else
			conn_kill_run(c);
		return;
	}
	if (c->quota_final)
	{
		cell_done(k);
		return;
	}
	c->quota_next = c->quota_walk_started + EXECUTOR_QUOTA_INTERVAL_MS;
	if (c->quota_next < now + EXECUTOR_QUOTA_STEP_GAP_MS)
		c->quota_next = now + EXECUTOR_QUOTA_STEP_GAP_MS;
}

/* Quota walks of the running cells that are due. */
static void
check_quotas(double now)
{
	int			i;

	for (i = 0; i < nconns; i++)
		if (conns[i]->state == CONN_RUNNING)
			quota_check(conns[i], now, false);
}

/*
 * The kernel's final line of the cell has arrived (executor_frames.c).
 * Everything the cell printed before it is already in the pipes: drain
 * them, measure the workspace once more (a fresh walk: it may take a few
 * loop turns for a big workspace, the answer waits for it), answer, and
 * then deal with the kernel.
 */
void
cell_finished(Kernel *k)
{
	Conn	   *c = k->conn;

	if (k->out_fd >= 0 && !capture_read(&c->out_cap, k->out_fd))
		close_fd(&k->out_fd);
	if (k->err_fd >= 0 && !capture_read(&c->err_cap, k->err_fd))
		close_fd(&k->err_fd);
	c->elapsed_ms = executor_now_ms() - c->started;
	if (!k->is_session && c->final != NULL &&
		!json_is_null(json_object_get(c->final, "error")))
		c->oom = jail_cgroup_oom(&k->cg);
	if (c->quota_exceeded || c->cancelled || c->timed_out || c->client_gone)
	{
		cell_done(k);
		return;
	}
	c->quota_final = true;
	c->deadline = NO_DEADLINE;
	quota_walk_start(&c->qwalk, k->workspace);
	c->quota_walk_started = executor_now_ms();
	quota_check(c, c->quota_walk_started, true);
}

/* What ended a kernel, for notices. */
static void
describe_death(const Kernel *k, int status, bool oom, char *out, size_t outlen)
{
	if (oom)
		snprintf(out, outlen, "it ran out of memory (limit %d MB) and was killed",
				 k->cg_memory_mb);
	else if (WIFSIGNALED(status))
		snprintf(out, outlen, "it was killed by signal %d (SIG%s)",
				 WTERMSIG(status), sigabbrev_np(WTERMSIG(status)) ?
				 sigabbrev_np(WTERMSIG(status)) : "?");
	else
		snprintf(out, outlen, "it exited with code %d", WEXITSTATUS(status));
}

/* A kernel was reaped. */
static void
kernel_exited(Kernel *k, int status)
{
	Conn	   *c;
	bool		oom = jail_cgroup_oom(&k->cg);
	char		why[200];
	char		msg[600];

	k->pid = 0;
	/* what it wrote before dying: output, and maybe its final line */
	c = k->conn;
	if (k->out_fd >= 0)
		capture_read(c ? &c->out_cap : NULL, k->out_fd);
	if (k->err_fd >= 0)
		capture_read(c ? &c->err_cap : NULL, k->err_fd);
	if (k->res_fd >= 0)
		result_read(k);
	close_fd(&k->out_fd);
	close_fd(&k->err_fd);
	close_fd(&k->res_fd);
	close_fd(&k->ctl_fd);
	describe_death(k, status, oom, why, sizeof(why));

	c = k->conn;
	if (c != NULL && c->quota_final)
	{
		/* its final line is in; finish the walk now and answer normally */
		while (!quota_walk_step(&c->qwalk, EXECUTOR_QUOTA_STEP_ENTRIES))
			;
		c->quota_exceeded = quota_over(c);
		cell_done(k);
	}

	c = k->conn;				/* NULL if the final line was in the pipe */
	if (c != NULL)
	{
		c->wait_status = status;
		c->died = true;
		c->oom = oom;
		c->elapsed_ms = executor_now_ms() - c->started;
		if (k->is_session)
		{
			c->state_reset = true;
			if (k->stop_notice != NULL)
				set_notice(c, k->stop_notice);
			else
			{
				snprintf(msg, sizeof(msg),
						 "the session's Python kernel died during this run (%s); "
						 "its variables were lost, files remain; the next run starts a new kernel",
						 why);
				set_notice(c, msg);
				snprintf(msg, sizeof(msg),
						 "the session's Python state was reset: its previous kernel died "
						 "during a run (%s); variables and imports are gone, files remain",
						 why);
				kernel_put_notice(k->session_id, msg);
			}
		}
		k->conn = NULL;
		conn_run_over(c);
	}
	else if (k->is_session && !k->stopping)
	{
		snprintf(msg, sizeof(msg),
				 "the session's Python state was reset: its kernel died while idle "
				 "(%s); variables and imports are gone, files remain", why);
		kernel_put_notice(k->session_id, msg);
	}
	k->stopping = true;
	k->reaped = true;
}

static void
reap_children(void)
{
	pid_t		pid;
	int			status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
	{
		Kernel	   *k = kernel_by_pid(pid);

		if (k != NULL)
			kernel_exited(k, status);
	}
}

/* Free reaped kernels (never while a poll entry may still point at one). */
static void
sweep_kernels(void)
{
	int			i = 0;

	while (i < nkernels)
	{
		if (kernels[i]->reaped)
			kernel_free(kernels[i]);	/* moves the last one here */
		else
			i++;
	}
}

/* Hand c's cell to kernel k. */
static void
start_cell(Conn *c, Kernel *k)
{
	kernel_set_memory(k, c->req.memory_mb);
	k->conn = c;
	c->kernel = k;
	c->started = executor_now_ms();
	c->state = CONN_RUNNING;
	c->deadline = c->started + c->req.timeout_ms;
	c->quota_next = c->started + EXECUTOR_QUOTA_INTERVAL_MS;
	c->quota_final = false;
	quota_walk_free(&c->qwalk);
	c->out_cap.limit = c->req.max_output_bytes;
	c->err_cap.limit = c->req.max_output_bytes;
	running[conn_kind(c)]++;
	if (!kernel_send_cell(k, c))
	{
		c->cancelled = true;
		conn_kill_run(c);
	}
}

static void
start_failed(Conn *c, const char *errtype, const char *err)
{
	executor_log("%s", err);
	conn_answer(c, "failed", make_error(errtype, err));
}

/*
 * Start c if it can start now; false if it has to wait (its session's
 * kernel is busy, or every session kernel is busy and none may be added).
 */
static bool
try_start(Conn *c)
{
	const char *errtype;
	const char *err;
	Kernel	   *k;

	if (!c->is_session)
	{
		k = c->req.workspace_is_session ? NULL : kernel_take_pooled(&c->req);
		if (k == NULL)
			k = kernel_spawn(c->req.workspace_is_session ? c->req.workspace : NULL,
							 false, NULL, c->req.memory_mb, c->req.max_file_size_mb,
							 &errtype, &err);
		if (k == NULL)
			start_failed(c, errtype, err);
		else
			start_cell(c, k);
		return true;
	}

	k = kernel_find_session(c->req.session_id);
	if (k != NULL && k->conn != NULL)
		return false;
	if (k != NULL)
	{
		c->kernel_use = "reused";
		start_cell(c, k);
		return true;
	}
	if (kernel_count_sessions() >= config->max_sessions)
	{
		Kernel	   *victim = kernel_lru_idle_session();
		char		msg[400];

		if (victim == NULL)
			return false;
		snprintf(msg, sizeof(msg),
				 "the session's Python state was reset: its kernel was stopped to make "
				 "room for another session (at most %d live kernels, pi.max_sessions; "
				 "the least recently used goes first); variables and imports are gone, "
				 "files remain", config->max_sessions);
		kernel_stop(victim, msg);
	}
	k = kernel_spawn(c->req.workspace, true, c->req.session_id, c->req.memory_mb,
					 c->req.max_file_size_mb, &errtype, &err);
	if (k == NULL)
	{
		start_failed(c, errtype, err);
		return true;
	}
	c->kernel_use = "started";
	c->notice = kernel_take_notice(c->req.session_id);
	c->state_reset = c->notice != NULL;
	start_cell(c, k);
	return true;
}

/* Start queued runs in arrival order while their kind has free slots. */
static void
start_queued_runs(void)
{
	int			kind;

	for (kind = 0; kind < 2; kind++)
	{
		int			slots = kind ? config->max_async : config->max_sync;
		unsigned long long after = 0;
		bool		first = true;

		while (running[kind] < slots)
		{
			Conn	   *best = NULL;
			int			i;

			for (i = 0; i < nconns; i++)
			{
				Conn	   *c = conns[i];

				if (!c->dead && c->state == CONN_QUEUED && conn_kind(c) == kind &&
					(first || c->seq > after) &&
					(best == NULL || c->seq < best->seq))
					best = c;
			}
			if (best == NULL)
				break;
			first = false;
			after = best->seq;
			if (executor_sandbox_mode == SANDBOX_UNAVAILABLE)
			{
				/* never run code unconfined unless pi.sandbox = off */
				conn_answer(best, "failed",
							make_error("SandboxUnavailable", executor_sandbox_error));
				continue;
			}
			(void) try_start(best);
		}
	}
}

/* Whether a queued run is waiting (then the pool is not refilled now). */
static bool
any_startable_queued(void)
{
	int			i;

	for (i = 0; i < nconns; i++)
	{
		Conn	   *c = conns[i];

		if (!c->dead && c->state == CONN_QUEUED && !c->is_session &&
			running[conn_kind(c)] < (conn_kind(c) ? config->max_async : config->max_sync))
			return true;
	}
	return false;
}

/* A queued run waited its whole timeout for a slot or its session. */
static void
answer_busy(Conn *c)
{
	char		msg[400];
	Kernel	   *k = c->is_session ? kernel_find_session(c->req.session_id) : NULL;

	if (k != NULL && k->conn != NULL)
	{
		snprintf(msg, sizeof(msg),
				 "session %s is busy: another run of it is still executing, and runs "
				 "of one session take turns; this run waited its whole timeout (%g s). "
				 "Retry when the other run has finished",
				 c->req.session_id, c->req.timeout_ms / 1000.0);
		conn_answer(c, "busy", make_error("SessionBusy", msg));
		return;
	}
	if (c->is_session && kernel_count_sessions() >= config->max_sessions &&
		kernel_lru_idle_session() == NULL)
	{
		snprintf(msg, sizeof(msg),
				 "all %d session kernels are busy (pi.max_sessions); retry shortly",
				 config->max_sessions);
		conn_answer(c, "busy", make_error("ExecutorBusy", msg));
		return;
	}
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
				if (!c->cancelled && !c->client_gone && !c->quota_exceeded)
					c->timed_out = true;
				c->deadline = NO_DEADLINE;
				/* the answer follows the final line or the reap */
				conn_kill_run(c);
				break;
		}
	}
	kernel_reap_idle(now);
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
		conns = realloc(conns, sizeof(Conn *) * (nconns + 1));
		conns[nconns++] = c;
	}
}

static void
conn_free(Conn *c)
{
	close_fd(&c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->out_cap.kept);
	buf_free(&c->err_cap.kept);
	json_decref(c->final);
	quota_walk_free(&c->qwalk);
	free(c->req.code);
	free(c->req.workspace);
	free(c->req.session_id);
	free(c->req.job_id);
	free(c->notice);
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

/* Which descriptor a pollfd entry stands for. */
typedef enum PollWhat
{
	POLL_CLIENT,
	POLL_STDOUT,
	POLL_STDERR,
	POLL_RESULT,
	POLL_CONTROL
} PollWhat;

typedef struct PollRef
{
	Conn	   *conn;
	Kernel	   *kernel;
	PollWhat	what;
} PollRef;

static void
add_poll(struct pollfd *pfds, PollRef *refs, int *n, int fd, short events,
		 Conn *c, Kernel *k, PollWhat what)
{
	pfds[*n].fd = fd;
	pfds[*n].events = events;
	pfds[*n].revents = 0;
	refs[*n].conn = c;
	refs[*n].kernel = k;
	refs[*n].what = what;
	(*n)++;
}

/* Build the poll set; returns its size. */
static int
build_poll_set(struct pollfd *pfds, PollRef *refs, int listen_fd)
{
	int			n = 0;
	int			i;

	add_poll(pfds, refs, &n, signal_pipe[0], POLLIN, NULL, NULL, POLL_CLIENT);
	if (nconns < MAX_CONNECTIONS)
		add_poll(pfds, refs, &n, listen_fd, POLLIN, NULL, NULL, POLL_CLIENT);
	for (i = 0; i < nconns; i++)
	{
		Conn	   *c = conns[i];
		short		ev = 0;

		if (c->dead || c->client_gone)
			continue;
		if (c->state != CONN_FLUSHING)
			ev |= POLLIN;
		if (c->out_sent < c->out.len)
			ev |= POLLOUT;
		if (ev != 0)
			add_poll(pfds, refs, &n, c->fd, ev, c, NULL, POLL_CLIENT);
	}
	for (i = 0; i < nkernels; i++)
	{
		Kernel	   *k = kernels[i];

		if (k->reaped)
			continue;
		if (k->out_fd >= 0)
			add_poll(pfds, refs, &n, k->out_fd, POLLIN, NULL, k, POLL_STDOUT);
		if (k->err_fd >= 0)
			add_poll(pfds, refs, &n, k->err_fd, POLLIN, NULL, k, POLL_STDERR);
		if (k->res_fd >= 0)
			add_poll(pfds, refs, &n, k->res_fd, POLLIN, NULL, k, POLL_RESULT);
		if (k->ctl_fd >= 0 && k->ctl_out.len > 0)
			add_poll(pfds, refs, &n, k->ctl_fd, POLLOUT, NULL, k, POLL_CONTROL);
	}
	return n;
}

static void
dispatch(const struct pollfd *pfd, const PollRef *ref)
{
	Conn	   *c = ref->conn;
	Kernel	   *k = ref->kernel;

	if (c != NULL)
	{
		if (c->dead)
			return;
		if (pfd->revents & POLLOUT)
			conn_flush(c);
		if (!c->dead && (pfd->revents & (POLLIN | POLLHUP | POLLERR)))
		{
			if (c->state == CONN_FLUSHING)
				c->dead = (pfd->revents & (POLLHUP | POLLERR)) != 0;
			else
				conn_read(c);
		}
		return;
	}
	if (k == NULL || k->reaped)
		return;
	switch (ref->what)
	{
		case POLL_STDOUT:
			if (k->out_fd == pfd->fd &&
				!capture_read(k->conn ? &k->conn->out_cap : NULL, k->out_fd))
				close_fd(&k->out_fd);
			break;
		case POLL_STDERR:
			if (k->err_fd == pfd->fd &&
				!capture_read(k->conn ? &k->conn->err_cap : NULL, k->err_fd))
				close_fd(&k->err_fd);
			break;
		case POLL_RESULT:
			if (k->res_fd == pfd->fd && !result_read(k))
				close_fd(&k->res_fd);
			break;
		case POLL_CONTROL:
			if (k->ctl_fd == pfd->fd)
				kernel_flush_ctl(k);
			break;
		default:
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
	{
		if (!conns[i]->dead && conns[i]->deadline < next)
			next = conns[i]->deadline;
		if (conns[i]->state == CONN_RUNNING && conns[i]->kernel != NULL &&
			!conns[i]->quota_exceeded && conns[i]->quota_next < next)
			next = conns[i]->quota_next;
	}
	return next <= now ? 0 : (int) (next - now) + 1;
}

/* Stop every kernel and wait for it, so no child outlives the zygote. */
static void
shutdown_runs(void)
{
	int			i;

	kernel_shutdown_all();
	for (i = 0; i < nconns; i++)
		conn_free(conns[i]);
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
	kernels_init(cfg, zygote_pid);
	if (!setup_signals())
	{
		executor_log("could not set up signal handling: %m");
		return 1;
	}

	while (!shutdown_requested)
	{
		int			n,
					i,
					ready;
		size_t		slots = 2 + (size_t) nconns + 4 * (size_t) nkernels;
		bool		refill;
		bool		defer;
		int			timeout;

		if (getppid() != parent_pid)
		{
			executor_log("parent process is gone; exiting");
			rc = 1;
			break;
		}
		pfds = realloc(pfds, sizeof(struct pollfd) * slots);
		refs = realloc(refs, sizeof(PollRef) * slots);
		n = build_poll_set(pfds, refs, listen_fd);

		/*
		 * The pool is refilled only when nothing else is ready: a fork
		 * blocks the loop for milliseconds.  A cell that started in the last
		 * REFILL_DEFER_MS is let finish first (most cells are short); the
		 * poll wakes up again when that time has passed.
		 */
		refill = kernel_pool_wanted() && !any_startable_queued();
		defer = refill && kernel_recent_cell_running(REFILL_DEFER_MS);
		if (defer)
			refill = false;
		timeout = refill ? 0 : poll_timeout(executor_now_ms());
		if (defer && (timeout < 0 || timeout > REFILL_POLL_MS))
			timeout = REFILL_POLL_MS;
		ready = poll(pfds, n, timeout);
		if (ready < 0 && errno != EINTR)
		{
			executor_log("poll failed: %m");
			rc = 1;
			break;
		}
		if (ready == 0 && refill)
			kernel_pool_refill_one();
		for (i = 0; i < n && ready > 0; i++)
		{
			if (pfds[i].revents == 0)
				continue;
			if (pfds[i].fd == signal_pipe[0] && refs[i].conn == NULL && refs[i].kernel == NULL)
			{
				drain_signal_pipe();
				reap_children();
			}
			else if (pfds[i].fd == listen_fd && refs[i].conn == NULL && refs[i].kernel == NULL)
				accept_connections(listen_fd);
			else
				dispatch(&pfds[i], &refs[i]);
		}
		check_deadlines(executor_now_ms());
		check_quotas(executor_now_ms());
		sweep_connections();
		sweep_kernels();
		start_queued_runs();
		kernel_kill_retired();
		kernel_release_cgroups(false);
	}
	if (shutdown_requested)
		executor_log("shutting down");
	shutdown_runs();
	free(pfds);
	free(refs);
	return rc;
}
