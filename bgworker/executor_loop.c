/*-------------------------------------------------------------------------
 *
 * executor_loop.c
 *	  The zygote's event loop: connections, the slot pools of sync and async
 *	  runs, forking and reaping a child per run, deadlines and cancels.
 *
 * One connection is one run (executor_protocol.h) and moves through
 *	 READING	waiting for the 'Q' frame
 *	 QUEUED		request parsed, no free slot of its kind yet
 *	 RUNNING	child forked; its stdout, stderr and result channel are read
 *	 FLUSHING	'R' frame composed, being written; then the socket closes
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
 * the listen backlog; a client gets REQUEST_TIMEOUT_MS to send its request,
 * so a client that connects and says nothing holds nothing for long.
 */
#define MAX_CONNECTIONS			1024
#define REQUEST_TIMEOUT_MS		30000.0
#define NO_DEADLINE				1e300

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

static void
conn_kill_run(Conn *c)
{
	if (c->pid > 0)
	{
		/*
		 * The group, and the run's first process itself: with the sandbox
		 * it is PID 1 of the run's PID namespace, and its death makes the
		 * kernel kill everything else in the namespace, whatever process
		 * group or session the code moved to.
		 */
		kill(-c->pid, SIGKILL);
		kill(c->pid, SIGKILL);
	}
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

/* The message of a failed start-up step, naming the step and errno. */
static const char *
start_error(const char *what)
{
	static char msg[300];

	snprintf(msg, sizeof(msg), "could not start the Python process: %s: %s",
			 what, strerror(errno));
	return msg;
}

/*
 * Fork the child of a queued run; NULL on success, else why not (and
 * *errtype the error type to report).
 *
 * With the sandbox on, the child is created by jail_clone() (fork with
 * every namespace created in the same call) and waits on the sync pipe,
 * inside jail_enter(), until the parent has put it into its own memory
 * and pids cgroup: no user code runs outside its limits.
 */
static const char *
start_run(Conn *c, const char **errtype)
{
	int			out[2] = {-1, -1},
				err[2] = {-1, -1},
				res[2] = {-1, -1},
				sync[2] = {-1, -1};
	bool		jailed = executor_sandbox_mode == SANDBOX_ON;
	sigset_t	all,
				old;

	*errtype = "ExecutorError";
	if (c->req.workspace == NULL)
	{
		char		path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/.runs/%d-%llu",
				 config->workspace_root, (int) zygote_pid, ++run_counter);
		if (mkdir(path, 0700) != 0)
			return start_error("mkdir of the temporary workspace");
		c->temp_workspace = strdup(path);
		c->req.workspace = strdup(path);
	}
	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
		pipe2(res, O_CLOEXEC) != 0 || (jailed && jail_sync_pipe(sync) != 0))
	{
		close_fd(&out[0]), close_fd(&out[1]), close_fd(&err[0]);
		close_fd(&err[1]), close_fd(&res[0]), close_fd(&res[1]);
		close_fd(&sync[0]), close_fd(&sync[1]);
		return start_error("pipe");
	}

	/* no handler of ours may run in the child before it resets them */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	c->started = executor_now_ms();
	executor_before_fork();
	c->pid = jailed ? jail_clone(&executor_jail) : fork();
	if (c->pid == 0)
	{
		if (jailed)
			close(sync[1]);
		executor_child_main(&c->req, out[1], err[1], res[1], zygote_pid,
							jailed ? sync[0] : -1);
	}
	executor_after_fork_parent();
	sigprocmask(SIG_SETMASK, &old, NULL);

	close_fd(&out[1]), close_fd(&err[1]), close_fd(&res[1]), close_fd(&sync[0]);
	if (c->pid < 0)
	{
		close_fd(&out[0]), close_fd(&err[0]), close_fd(&res[0]);
		close_fd(&sync[1]);
		if (jailed)
		{
			*errtype = "SandboxError";
			return start_error("clone with the sandbox's namespaces");
		}
		return start_error("fork");
	}
	/* also here, so a kill right after fork finds the group */
	setpgid(c->pid, c->pid);

	if (jailed)
	{
		JailLimits	limits;
		char		why[512];

		limits.memory_bytes = (uint64_t) c->req.memory_mb << 20;
		limits.pids_max = EXECUTOR_PIDS_MAX;
		if (jail_cgroup_attach(&executor_jail, c->pid, &limits, &c->cg,
							   why, sizeof(why)) < 0 ||
			jail_sync_release(sync[1]) < 0)
		{
			static char msg[700];

			/* the child is still waiting on the sync pipe: no code ran */
			snprintf(msg, sizeof(msg),
					 "could not put the run into its cgroup: %s", why);
			close_fd(&sync[1]);
			kill(c->pid, SIGKILL);
			while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
				;
			jail_cgroup_release(&c->cg);
			c->pid = 0;
			close_fd(&out[0]), close_fd(&err[0]), close_fd(&res[0]);
			*errtype = "SandboxError";
			return msg;
		}
		/* jail_sync_release closed sync[1] */
	}

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
	/* the cgroup says whether the kernel's OOM killer ended the run */
	c->oom = jail_cgroup_oom(&c->cg);

	if (c->client_gone)
		c->dead = true;
	else
		conn_answer_run(c);

	/* clean-up after the answer is on its way */
	jail_cgroup_release(&c->cg);
	if (c->temp_workspace != NULL)
		remove_tree(c->temp_workspace);
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
			const char *errtype;
			const char *err;

			if (executor_sandbox_mode == SANDBOX_UNAVAILABLE)
			{
				/* never run code unconfined unless pi.sandbox = off */
				conn_answer(c, "failed",
							make_error("SandboxUnavailable", executor_sandbox_error));
				continue;
			}
			err = start_run(c, &errtype);
			if (err != NULL)
			{
				executor_log("%s", err);
				if (c->temp_workspace != NULL)
					remove_tree(c->temp_workspace);
				conn_answer(c, "failed", make_error(errtype, err));
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
			jail_cgroup_release(&c->cg);
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
