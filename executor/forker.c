/*-------------------------------------------------------------------------
 *
 * forker.c
 *	  A forker: a process forked from the preloaded zygote that clones
 *	  sandboxed kernels when the event loop asks, hands their pipes to the
 *	  loop, and reaps them (include/forker_protocol.h).
 *
 * A forker holds no client's bytes, ever: it reads fixed-size requests
 * (limits, flags, a token) and a descriptor of the folder to bind at
 * /workspace, and it writes fixed-size replies.  So a kernel, which
 * inherits a copy of the forker's memory, finds there only the preloaded
 * Python and the sandbox's configuration, never another run's code,
 * output or query answers (rule 7 of docs/architecture.md).
 *
 * There is one forker per core (--forkers): cloning a kernel of an ~85 MB
 * process costs milliseconds of CPU, and two forkers clone in parallel
 * while the loop goes on serving connections.  A forker is single-threaded
 * (jail_clone requires it) and blocks only on its own socket and its
 * children; it dies with the zygote (PDEATHSIG), and its kernels die with
 * it (jail_enter sets theirs).
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor.h"
#include "fdpass.h"
#include "forker_protocol.h"

static int	forker_signal_pipe[2] = {-1, -1};

static void
forker_on_signal(int sig)
{
	int			save_errno = errno;

	(void) sig;
	if (write(forker_signal_pipe[1], "x", 1) < 0)
	{
		/* pipe full: a wake-up is already pending */
	}
	errno = save_errno;
}

/* Send one reply, with descriptors when nfds > 0; false if the loop is gone. */
static bool
forker_send(int sock, const ForkerReply *reply, const int *fds, int nfds)
{
	return fdpass_send(sock, reply, sizeof(*reply), fds, nfds, 0);
}

static void
forker_fail(int sock, uint32_t token, const char *errtype, const char *message)
{
	ForkerReply reply;

	memset(&reply, 0, sizeof(reply));
	reply.type = FORKER_FAILED;
	reply.token = token;
	snprintf(reply.errtype, sizeof(reply.errtype), "%s", errtype);
	snprintf(reply.message, sizeof(reply.message), "%s", message);
	(void) forker_send(sock, &reply, NULL, 0);
}

static void
close_pair(int p[2])
{
	close_fd(&p[0]);
	close_fd(&p[1]);
}

/*
 * Clone one kernel for req, with workspace_fd bound at /workspace, and
 * hand its pipes to the loop.  Every failure is a FORKER_FAILED reply
 * naming the step; nothing is left behind.
 */
static void
forker_spawn(int sock, const ForkerRequest *req, int workspace_fd)
{
	int			ctl[2] = {-1, -1},
				out[2] = {-1, -1},
				errp[2] = {-1, -1},
				res[2] = {-1, -1},
				sync[2] = {-1, -1};
	bool		jailed = executor_sandbox_mode == SANDBOX_ON;
	sigset_t	all,
				old;
	KernelSpec	spec;
	ForkerReply reply;
	char		msg[600];
	pid_t		pid;

	if (pipe2(ctl, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
		pipe2(errp, O_CLOEXEC) != 0 || pipe2(res, O_CLOEXEC) != 0 ||
		(jailed && jail_sync_pipe(sync) != 0))
	{
		snprintf(msg, sizeof(msg), "could not start the Python process: pipe: %s",
				 strerror(errno));
		close_pair(ctl), close_pair(out), close_pair(errp);
		close_pair(res), close_pair(sync);
		forker_fail(sock, req->token, "ExecutorError", msg);
		return;
	}

	memset(&spec, 0, sizeof(spec));
	spec.workspace_fd = workspace_fd;
	spec.is_session = req->is_session != 0;
	spec.workspace_is_session = req->workspace_is_session != 0;
	spec.memory_mb = req->memory_mb;
	spec.max_file_size_mb = req->max_file_size_mb;
	spec.copy_ahead = req->copy_ahead != 0;

	/*
	 * No handler of ours may run in the child before it resets them.
	 *
	 * No PyOS_BeforeFork/PyOS_AfterFork_Parent around the clone: they take
	 * the import lock and run the Python at-fork hooks (logging's lock)
	 * in this process, whose Python never runs and holds no lock, and
	 * every page they touch is copied here after each clone (measured:
	 * ~0.3 ms of copy-on-write in the forker per kernel).  Nor does the
	 * child run PyOS_AfterFork_Child: this process ran it once, after its
	 * own fork from the zygote (executor_child_main says why that is
	 * enough).
	 */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = jailed ? jail_clone(&executor_jail) : fork();
	if (pid == 0)
	{
		if (jailed)
			close(sync[1]);
		executor_child_main(&spec, ctl[0], out[1], errp[1], res[1],
							jailed ? sync[0] : -1);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);

	close_fd(&ctl[0]), close_fd(&out[1]), close_fd(&errp[1]);
	close_fd(&res[1]), close_fd(&sync[0]);
	if (pid < 0)
	{
		snprintf(msg, sizeof(msg), "could not start the Python process: %s: %s",
				 jailed ? "clone with the sandbox's namespaces" : "fork",
				 strerror(errno));
		close_pair(ctl), close_pair(out), close_pair(errp);
		close_pair(res), close_pair(sync);
		forker_fail(sock, req->token, jailed ? "SandboxError" : "ExecutorError", msg);
		return;
	}
	/* also here, so a kill right after the clone finds the group */
	setpgid(pid, pid);

	memset(&reply, 0, sizeof(reply));
	if (jailed)
	{
		JailLimits	limits;
		char		why[512];

		limits.memory_bytes = (uint64_t) req->memory_mb << 20;
		limits.pids_max = EXECUTOR_PIDS_MAX;
		/* only a session's run is frozen (between its cells) */
		limits.freezable = req->is_session != 0;
		if (jail_cgroup_attach(&executor_jail, pid, &limits, &reply.cg,
							   why, sizeof(why)) < 0 ||
			jail_sync_release(sync[1]) < 0)
		{
			/* the child is still waiting on the sync pipe: no code ran */
			snprintf(msg, sizeof(msg), "could not put the run into its cgroup: %s", why);
			close_fd(&sync[1]);
			kill(pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			jail_cgroup_release(&reply.cg);
			close_pair(ctl), close_pair(out), close_pair(errp), close_pair(res);
			forker_fail(sock, req->token, "SandboxError", msg);
			return;
		}
		/* jail_sync_release closed sync[1] */
	}

	reply.type = FORKER_SPAWNED;
	reply.token = req->token;
	reply.pid = pid;
	{
		int			fds[FORKER_NFDS];

		fds[FORKER_FD_CONTROL] = ctl[1];
		fds[FORKER_FD_STDOUT] = out[0];
		fds[FORKER_FD_STDERR] = errp[0];
		fds[FORKER_FD_RESULT] = res[0];
		if (!forker_send(sock, &reply, fds, FORKER_NFDS))
			kill(pid, SIGKILL);	/* the loop is gone: so is the kernel */
	}
	close_fd(&ctl[1]), close_fd(&out[0]), close_fd(&errp[0]), close_fd(&res[0]);
}

/* Read one request and its descriptor; false when the loop is gone. */
static bool
forker_receive(int sock, ForkerRequest *req, int *workspace_fd)
{
	int			nfds;
	ssize_t		n = fdpass_recv(sock, req, sizeof(*req), workspace_fd, 1, &nfds, 0);

	if (nfds == 0)
		*workspace_fd = -1;
	if (n == 0 || n == -1)
		return false;
	if (n < 0 || req->type != FORKER_SPAWN)
	{
		/* not from our loop: nothing sensible to do with it */
		close_fd(workspace_fd);
		req->type = 0;
	}
	return true;
}

/* Report every kernel that exited since the last call. */
static void
forker_reap(int sock)
{
	pid_t		pid;
	int			status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
	{
		ForkerReply reply;

		memset(&reply, 0, sizeof(reply));
		reply.type = FORKER_EXITED;
		reply.pid = pid;
		reply.status = status;
		(void) forker_send(sock, &reply, NULL, 0);
	}
}

void
forker_main(int sock, bool sandbox_ok, const char *sandbox_error)
{
	struct sigaction sa;
	ForkerReply ready;

	prctl(PR_SET_NAME, "pi-forker");
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (pipe2(forker_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		_exit(1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forker_on_signal;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);

	/*
	 * This process's start freed memory (the zygote's fork hooks): sort it
	 * now, once, before the heap goes back into 2 MB pages.  A forker
	 * mallocs nothing per spawn, and must not: a write into a huge page
	 * it shares with its kernels splits it, for every later clone.
	 */
	executor_heap_settle();
	executor_collapse_memory();

	memset(&ready, 0, sizeof(ready));
	ready.type = FORKER_READY;
	ready.status = sandbox_ok ? 1 : 0;
	snprintf(ready.message, sizeof(ready.message), "%s", sandbox_error ? sandbox_error : "");
	if (!forker_send(sock, &ready, NULL, 0))
		_exit(1);

	for (;;)
	{
		struct pollfd pfd[2];

		pfd[0].fd = sock;
		pfd[0].events = POLLIN;
		pfd[1].fd = forker_signal_pipe[0];
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			_exit(1);
		if (pfd[1].revents & POLLIN)
		{
			char		junk[64];

			while (read(forker_signal_pipe[0], junk, sizeof(junk)) > 0)
				;
			forker_reap(sock);
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
		{
			ForkerRequest req;
			int			workspace_fd;

			if (!forker_receive(sock, &req, &workspace_fd))
				_exit(0);		/* the loop closed its end: we are done */
			if (req.type == FORKER_SPAWN)
			{
				if (workspace_fd < 0)
					forker_fail(sock, req.token, "ExecutorError",
								"the spawn request came without a workspace");
				else
					forker_spawn(sock, &req, workspace_fd);
				close_fd(&workspace_fd);
			}
		}
	}
}
