/*-------------------------------------------------------------------------
 *
 * loop.c
 *	  The executor's event loop: one poll over the listening socket, the
 *	  clients and every kernel's pipes, dispatch of what is ready, signals
 *	  (SIGCHLD through a self-pipe, SIGTERM), and the pool refill when
 *	  nothing else is ready.
 *
 * What each ready descriptor means is decided elsewhere: requests.c for
 * clients, output.c and cell.c for a kernel's pipes, schedule.c for which
 * queued run starts and for deadlines, kernel.c for the kernels
 * themselves.  The loop is single-threaded and never calls into Python:
 * the process serves every run, so it must not block on one of them.
 * Sockets and pipes are non-blocking and output is buffered per
 * connection; a kernel that floods output, dies by a signal or never
 * reports a result costs its own run only.
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
#include "forker_protocol.h"

static pid_t zygote_pid;
static pid_t parent_pid;
static int	signal_pipe[2] = {-1, -1};
static volatile sig_atomic_t shutdown_requested;
static bool zygote_gone;

/*
 * The loop's only child is the zygote; kernels are the forkers' children,
 * reported by FORKER_EXITED.  A dead zygote (and so dead forkers) ends
 * the loop: the launcher starts a whole new executor.
 */
static void
reap_children(void)
{
	pid_t		pid;
	int			status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (pid == zygote_pid)
		{
			pi_log("the zygote exited (status %d); exiting so the launcher restarts the executor",
				   status);
			zygote_gone = true;
		}
}

/* Everything forker i has to say: kernels ready, failed, exited. */
static void
read_forker(int i)
{
	for (int rounds = 0; rounds < 64; rounds++)
	{
		ForkerReply reply;
		int			fds[FORKER_NFDS];
		int			nfds;
		int			rc = forkers_receive(i, &reply, fds, &nfds);
		Kernel	   *k;

		if (rc == 0)
			return;
		if (rc < 0)
		{
			pi_log("forker %d is gone; exiting so the launcher restarts the executor", i);
			zygote_gone = true;
			return;
		}
		reply.errtype[sizeof(reply.errtype) - 1] = '\0';
		reply.message[sizeof(reply.message) - 1] = '\0';
		switch (reply.type)
		{
			case FORKER_SPAWNED:
				kernel_spawned(&reply, fds, nfds);
				nfds = 0;
				break;
			case FORKER_FAILED:
				if ((k = kernel_by_token(reply.token)) != NULL)
					cell_spawn_failed(k, reply.errtype, reply.message);
				break;
			case FORKER_EXITED:
				if ((k = kernel_by_pid(reply.pid)) != NULL)
					cell_kernel_exited(k, reply.status);
				break;
			default:
				break;
		}
		for (int j = 0; j < nfds; j++)
			close(fds[j]);
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
	POLL_CONTROL,
	POLL_FORKER
} PollWhat;

typedef struct PollRef
{
	Conn	   *conn;
	Kernel	   *kernel;
	PollWhat	what;
	int			forker;			/* POLL_FORKER: its index */
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
	refs[*n].forker = -1;
	(*n)++;
}

/* Build the poll set; returns its size. */
static int
build_poll_set(struct pollfd *pfds, PollRef *refs, int listen_fd)
{
	int			n = 0;
	int			i;

	add_poll(pfds, refs, &n, signal_pipe[0], POLLIN, NULL, NULL, POLL_CLIENT);
	if (requests_can_accept())
		add_poll(pfds, refs, &n, listen_fd, POLLIN, NULL, NULL, POLL_CLIENT);
	for (i = 0; i < forkers_count(); i++)
	{
		add_poll(pfds, refs, &n, forkers_fd(i), POLLIN, NULL, NULL, POLL_FORKER);
		refs[n - 1].forker = i;
	}
	for (i = 0; i < nconns; i++)
	{
		Conn	   *c = conns[i];
		short		ev = 0;

		if (c->dead || c->client_gone)
			continue;
		ev |= POLLIN;			/* also while flushing: see dispatch */
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
		/* answers piling up unread: stop reading its requests (backpressure) */
		if (k->res_fd >= 0 && k->ctl_out.len < EXECUTOR_CONTROL_BACKLOG)
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

	if (ref->what == POLL_FORKER)
	{
		read_forker(ref->forker);
		return;
	}
	if (c != NULL)
	{
		if (c->dead)
			return;
		if (pfd->revents & POLLOUT)
			conn_flush(c);
		if (!c->dead && (pfd->revents & (POLLIN | POLLHUP | POLLERR)))
		{
			if (c->state == CONN_FLUSHING)
				conn_discard_input(c);
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
			if (k->conn != NULL)
				capture_send_live(k->conn, false);
			break;
		case POLL_STDERR:
			if (k->err_fd == pfd->fd &&
				!capture_read(k->conn ? &k->conn->err_cap : NULL, k->err_fd))
				close_fd(&k->err_fd);
			break;
		case POLL_RESULT:
			if (k->res_fd == pfd->fd && !cell_read_results(k))
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

/*
 * Sweep stale run cgroups (kernel_sweep_stale_cgroups) 5 s after start,
 * when a killed predecessor's kernels have died, then every 30 s: a
 * readdir of the parents, one kill(pid, 0) per run cgroup.
 */
#define STALE_SWEEP_FIRST_MS	5000.0
#define STALE_SWEEP_EVERY_MS	30000.0

static void
sweep_stale_cgroups_now_and_then(double now)
{
	static double next_sweep = -1;

	if (next_sweep < 0)
		next_sweep = now + STALE_SWEEP_FIRST_MS;
	if (now < next_sweep)
		return;
	next_sweep = now + STALE_SWEEP_EVERY_MS;
	kernel_sweep_stale_cgroups();
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
executor_loop_run(const ExecutorConfig *cfg, int listen_fd, pid_t zygote)
{
	struct pollfd *pfds = NULL;
	PollRef    *refs = NULL;
	size_t		poll_cap = 0;
	int			rc = 0;

	zygote_pid = zygote;
	held_set_zygote(zygote);
	parent_pid = getppid();
	kernels_init(cfg);
	schedule_init(cfg);
	if (!setup_signals())
	{
		pi_log("could not set up signal handling: %m");
		return 1;
	}

	while (!shutdown_requested && !zygote_gone)
	{
		int			n,
					i,
					ready;
		size_t		slots = 2 + (size_t) forkers_count() + (size_t) nconns +
			4 * (size_t) nkernels;

		if (getppid() != parent_pid)
		{
			pi_log("parent process is gone; exiting");
			rc = 1;
			break;
		}
		if (slots > poll_cap)
		{
			struct pollfd *p = realloc(pfds, sizeof(struct pollfd) * slots);
			PollRef    *r = p ? realloc(refs, sizeof(PollRef) * slots) : NULL;

			if (p != NULL)
				pfds = p;
			if (r != NULL)
				refs = r;
			if (p == NULL || r == NULL)
			{
				/* out of memory: wait a moment and try again, lose nothing */
				pi_log("out of memory for the poll set; retrying");
				usleep(10000);
				continue;
			}
			poll_cap = slots;
		}
		n = build_poll_set(pfds, refs, listen_fd);
		ready = poll(pfds, n, poll_timeout(executor_now_ms()));
		if (ready < 0 && errno != EINTR)
		{
			pi_log("poll failed: %m");
			rc = 1;
			break;
		}
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
		kernel_pool_refill();
		kernel_release_cgroups(false);
		sweep_stale_cgroups_now_and_then(executor_now_ms());
	}
	if (zygote_gone)
		rc = 1;
	if (shutdown_requested)
		pi_log("shutting down");
	shutdown_runs();
	kill(zygote_pid, SIGKILL);
	while (waitpid(zygote_pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(pfds);
	free(refs);
	return rc;
}
