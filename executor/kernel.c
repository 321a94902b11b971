/*-------------------------------------------------------------------------
 *
 * kernel.c
 *	  Kernels: sandboxed children of the zygote that wait for cells on a
 *	  control pipe instead of running code at once.
 *
 * Kernels are cloned by the forkers (forker.c), never by this process,
 * which holds every client's bytes (rule 7 of docs/architecture.md).  A
 * spawn is a request to a forker and an answer later: a kernel is
 * "spawning" until then, and a cell handed to it meanwhile waits in its
 * control buffer.  Fork and sandbox set-up cost milliseconds (the zygote
 * is ~85 MB), so they are also taken off the critical path:
 *	 - a pool of --prefork ready stateless kernels, each with a private temp
 *	   workspace at /workspace; a run takes one, runs exactly one cell in it
 *	   and the kernel is killed after the 'R' frame is out; the pool is
 *	   refilled at once, in parallel on the forkers;
 *	 - one live kernel per session (a notebook kernel): created on the
 *	   session's first run, reused afterwards, stopped after
 *	   --session-idle-timeout or when --max-sessions are live (LRU first).
 *
 * Live kernels are bounded: pool + session kernels + slots, counting the
 * ones still exiting, so a burst of runs cannot pile up kernels (or the
 * loop's descriptors, four per kernel).
 *
 * A kernel's descriptors (child.c): 0 /dev/null, 1 stdout pipe,
 * 2 stderr pipe, 3 result channel, 4 control pipe (cells and pi.query
 * answers, one JSON object per line).  This file never calls into Python.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <sys/syscall.h>

#include <jansson.h>

#include "executor.h"
#include "forker_protocol.h"
#include "tree_remove.h"

Kernel	  **kernels;
int			nkernels;
static int	kernels_cap;

static const ExecutorConfig *config;
static unsigned long long kernel_counter;
static unsigned int next_token;
static int	pool_memory_mb = EXECUTOR_DEFAULT_MEMORY_MB;
static int	pool_file_size_mb = EXECUTOR_DEFAULT_FILE_SIZE_MB;

void
kernels_init(const ExecutorConfig *cfg)
{
	config = cfg;
}

/*
 * Whether a workspace path a client sent may be bound read-write into a
 * kernel: an existing folder strictly beneath the workspace root, reached
 * without a single link, and not one of the executor's own folders (their
 * names start with a dot).  The check resolves the path with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) from the root, so "..",
 * links and magic links cannot lead out.  NULL when it may (*fd is then
 * an O_PATH descriptor of the folder), else why not.
 */
static const char *
workspace_refused(const char *workspace, int *fd_out)
{
	size_t		rootlen = strlen(config->workspace_root);
	const char *rel;
	struct open_how how;
	int			rootfd,
				fd;

	if (strncmp(workspace, config->workspace_root, rootlen) != 0 ||
		workspace[rootlen] != '/')
		return "the workspace is not beneath the executor's workspace root";
	rel = workspace + rootlen + 1;
	if (rel[0] == '\0' || rel[0] == '.')
		return "the workspace is the root itself or one of the executor's own folders";
	rootfd = open(config->workspace_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return "the workspace root cannot be opened";
	memset(&how, 0, sizeof(how));
	how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	fd = (int) syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	close(rootfd);
	if (fd < 0)
		return "the workspace does not exist, is not a folder, or is reached through a link";
	*fd_out = fd;
	return NULL;
}

static bool pool_copies_ahead(void);

/* ------------------------------------------------------------ workspaces */

/*
 * Remove a temporary workspace, whatever the code left in it (links,
 * chmod-ed or very deep folders: common/tree_remove.c).
 */
static void
remove_tree(const char *path)
{
	if (pi_tree_remove(AT_FDCWD, path) < 0)
		pi_log("could not remove the temporary workspace \"%s\": %m", path);
}

/* ---------------------------------------------------------------- spawning */

static const char *
spawn_error(const char *what)
{
	static char msg[300];

	snprintf(msg, sizeof(msg), "could not start the Python process: %s: %s",
			 what, strerror(errno));
	return msg;
}

/* Session or stateless kernels alive, counting those spawning or exiting. */
static int
count_kernels(bool is_session)
{
	int			n = 0;

	for (int i = 0; i < nkernels; i++)
		if (kernels[i]->is_session == is_session)
			n++;
	return n;
}

/*
 * Ask a forker for a kernel.  It is in the table at once, "spawning": a
 * cell may be handed to it now and waits in its control buffer until the
 * forker's answer brings the pipes (kernel_spawned).  NULL, with *errtype
 * and *err, when no request could be sent.
 */
Kernel *
kernel_spawn(const char *workspace, bool is_session, const char *session_id,
			 const char *owner, int memory_mb, int max_file_size_mb, const char **errtype,
			 const char **err)
{
	Kernel	   *k;
	ForkerRequest req;
	int			wsfd = -1;

	*errtype = "ExecutorError";
	*err = NULL;
	/*
	 * Live kernels stay within pool + slots (stateless) and --max-sessions
	 * (session kernels), counting those still exiting: a run that finds
	 * the bound reached waits for a reap, like one that finds no slot.
	 */
	if (is_session ? count_kernels(true) >= config->max_sessions :
		count_kernels(false) >= config->prefork + config->max_sync + config->max_async)
	{
		*errtype = "ExecutorBusy";
		*err = "every kernel the configuration allows is alive; retry shortly";
		return NULL;
	}
	if (!forkers_can_spawn())
	{
		*errtype = "ExecutorBusy";
		*err = "every forker is busy cloning kernels; retry shortly";
		return NULL;
	}
	if ((k = calloc(1, sizeof(Kernel))) == NULL)
	{
		*err = "out of memory";
		return NULL;
	}
	k->ctl_fd = k->out_fd = k->err_fd = k->res_fd = -1;
	k->is_session = is_session;
	/* room in the table first: a spawned kernel must never go untracked */
	if (nkernels == kernels_cap)
	{
		Kernel	  **grown = realloc(kernels, sizeof(Kernel *) * (kernels_cap + 16));

		if (grown == NULL)
		{
			free(k);
			*err = "out of memory";
			return NULL;
		}
		kernels = grown;
		kernels_cap += 16;
	}
	k->session_id = session_id ? strdup(session_id) : NULL;
	k->owner = owner ? strdup(owner) : NULL;
	if ((session_id != NULL && k->session_id == NULL) || (owner != NULL && k->owner == NULL))
	{
		*err = "out of memory";
		goto fail;
	}
	k->memory_mb = k->cg_memory_mb = memory_mb;
	k->max_file_size_mb = max_file_size_mb;
	if (workspace == NULL)
	{
		char		path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/.runs/%d-%llu",
				 config->workspace_root, (int) getpid(), ++kernel_counter);
		if (mkdir(path, 0700) != 0)
		{
			*err = spawn_error("mkdir of the temporary workspace");
			goto fail;
		}
		k->temp_workspace = strdup(path);
		k->workspace = strdup(path);
		if (k->temp_workspace == NULL)
		{
			remove_tree(path);
			*err = "out of memory";
			goto fail;
		}
		wsfd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (wsfd < 0)
		{
			*err = spawn_error("open of the temporary workspace");
			goto fail;
		}
	}
	else
	{
		const char *why = workspace_refused(workspace, &wsfd);

		if (why != NULL)
		{
			static char msg[PATH_MAX + 200];

			snprintf(msg, sizeof(msg), "refused workspace \"%s\": %s", workspace, why);
			*errtype = "WorkspaceError";
			*err = msg;
			goto fail;
		}
		k->workspace = strdup(workspace);
	}
	if (k->workspace == NULL)
	{
		*err = "out of memory";
		goto fail;
	}

	memset(&req, 0, sizeof(req));
	req.type = FORKER_SPAWN;
	req.token = k->token = ++next_token;
	req.memory_mb = memory_mb;
	req.max_file_size_mb = max_file_size_mb;
	req.is_session = is_session;
	req.workspace_is_session = k->temp_workspace == NULL;
	/* one pool kernel at a time copies ahead (executor.h) */
	k->copies_ahead = k->temp_workspace != NULL && !is_session &&
		memory_mb >= EXECUTOR_PREFAULT_MIN_MEMORY_MB && !pool_copies_ahead();
	req.copy_ahead = k->copies_ahead;
	if (forkers_spawn(&req, wsfd) < 0)
	{
		*errtype = errno == EAGAIN ? "ExecutorBusy" : "ExecutorError";
		*err = spawn_error("send to a forker");
		goto fail;
	}
	close_fd(&wsfd);
	k->spawning = true;
	k->last_used = executor_now_ms();
	kernels[nkernels++] = k;
	return k;

fail:
	close_fd(&wsfd);
	if (k->temp_workspace != NULL)
		remove_tree(k->temp_workspace);
	free(k->temp_workspace);
	free(k->workspace);
	free(k->session_id);
	free(k->owner);
	free(k);
	return NULL;
}

Kernel *
kernel_by_token(unsigned int token)
{
	for (int i = 0; i < nkernels; i++)
		if (kernels[i]->spawning && kernels[i]->token == token)
			return kernels[i];
	return NULL;
}

/*
 * A forker's FORKER_SPAWNED: the kernel runs, its pipes are here.  A
 * kernel stopped while it was spawning is killed now; one nobody knows
 * (it was freed meanwhile) too.
 */
void
kernel_spawned(const ForkerReply *reply, const int *fds, int nfds)
{
	Kernel	   *k = kernel_by_token(reply->token);

	if (k == NULL || nfds != FORKER_NFDS)
	{
		if (reply->pid > 0)
		{
			kill(-reply->pid, SIGKILL);
			kill(reply->pid, SIGKILL);
		}
		kernel_release_cg_later(&reply->cg);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (k != NULL)
			k->spawning = false;	/* its FORKER_EXITED reaps it */
		return;
	}
	k->spawning = false;
	k->pid = reply->pid;
	k->cg = reply->cg;
	k->ctl_fd = fds[FORKER_FD_CONTROL];
	k->out_fd = fds[FORKER_FD_STDOUT];
	k->err_fd = fds[FORKER_FD_STDERR];
	k->res_fd = fds[FORKER_FD_RESULT];
	fcntl(k->ctl_fd, F_SETFL, O_NONBLOCK);
	fcntl(k->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(k->err_fd, F_SETFL, O_NONBLOCK);
	fcntl(k->res_fd, F_SETFL, O_NONBLOCK);
	if (k->stopping)
	{
		k->stopping = false;
		kernel_stop(k, NULL);
		return;
	}
	/* a memory limit asked for while it was spawning */
	if (k->conn != NULL && k->conn->req.memory_mb != k->memory_mb)
	{
		int			want = k->conn->req.memory_mb;

		k->cg_memory_mb = k->memory_mb;
		kernel_set_memory(k, want);
	}
	kernel_flush_ctl(k);
}

/* ------------------------------------------------------------------ lookup */

Kernel *
kernel_by_pid(pid_t pid)
{
	int			i;

	for (i = 0; i < nkernels; i++)
		if (kernels[i]->pid == pid)
			return kernels[i];
	return NULL;
}

Kernel *
kernel_find_session(const char *session_id)
{
	int			i;

	for (i = 0; i < nkernels; i++)
	{
		Kernel	   *k = kernels[i];

		if (k->is_session && !k->stopping &&
			strcmp(k->session_id, session_id) == 0)
			return k;
	}
	return NULL;
}

int
kernel_count_sessions(void)
{
	int			i,
				n = 0;

	for (i = 0; i < nkernels; i++)
		if (kernels[i]->is_session && !kernels[i]->stopping)
			n++;
	return n;
}

static bool
same_owner(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The least recently used idle session kernel of owner (NULL: of anyone). */
Kernel *
kernel_lru_idle_session(const char *owner)
{
	Kernel	   *best = NULL;
	int			i;

	for (i = 0; i < nkernels; i++)
	{
		Kernel	   *k = kernels[i];

		if (k->is_session && !k->stopping && k->conn == NULL &&
			(owner == NULL || same_owner(k->owner, owner)) &&
			(best == NULL || k->last_used < best->last_used))
			best = k;
	}
	return best;
}

/* Live session kernels of owner. */
int
kernel_count_owner_sessions(const char *owner)
{
	int			n = 0;

	for (int i = 0; i < nkernels; i++)
		if (kernels[i]->is_session && !kernels[i]->stopping &&
			same_owner(kernels[i]->owner, owner))
			n++;
	return n;
}

/*
 * The owner holding the most live session kernels that has an idle one:
 * when every kernel is taken, it gives one up, so a tenant with few
 * kernels is never the one evicted for a tenant with many.
 */
const char *
kernel_busiest_owner(void)
{
	const char *busiest = NULL;
	int			most = 0;

	for (int i = 0; i < nkernels; i++)
	{
		Kernel	   *k = kernels[i];
		int			n;

		if (!k->is_session || k->stopping || k->conn != NULL)
			continue;
		n = kernel_count_owner_sessions(k->owner);
		if (n > most)
		{
			most = n;
			busiest = k->owner ? k->owner : "";
		}
	}
	return busiest;
}

static bool
is_pooled(const Kernel *k)
{
	return !k->is_session && k->temp_workspace != NULL && k->conn == NULL &&
		!k->stopping && !k->retired && k->cells == 0;
}

/* Which pool kernel a run is given: ready first, then copied ahead. */
static int
pool_rank(const Kernel *k)
{
	return (k->spawning ? 0 : 2) + (k->copies_ahead ? 1 : 0);
}

/* Whether a pool kernel already copies ahead (or was told to). */
static bool
pool_copies_ahead(void)
{
	int			i;

	for (i = 0; i < nkernels; i++)
		if (is_pooled(kernels[i]) && kernels[i]->copies_ahead)
			return true;
	return false;
}

static int
pool_size(void)
{
	int			i,
				n = 0;

	for (i = 0; i < nkernels; i++)
		if (is_pooled(kernels[i]))
			n++;
	return n;
}

/*
 * A ready stateless kernel whose limits fit the request, or NULL.  A pool
 * kernel's RLIMIT_AS hard limit was set at its creation and can only go
 * down, so a request for more memory than that needs a fresh kernel; one
 * for less than EXECUTOR_PREFAULT_MIN_MEMORY_MB needs one that did not
 * copy ahead.  Others get the one that did, if it is ready.
 */
Kernel *
kernel_take_pooled(const RunRequest *req)
{
	Kernel	   *found = NULL;
	int			i;

	pool_memory_mb = req->memory_mb;
	pool_file_size_mb = req->max_file_size_mb;
	for (i = 0; i < nkernels; i++)
	{
		Kernel	   *k = kernels[i];

		if (!is_pooled(k))
			continue;
		if (k->memory_mb < req->memory_mb ||
			k->max_file_size_mb < req->max_file_size_mb ||
			(k->copies_ahead && req->memory_mb < EXECUTOR_PREFAULT_MIN_MEMORY_MB))
		{
			kernel_retire(k);
			continue;
		}
		/* a ready one first, and of those the one that copied ahead */
		if (found == NULL || pool_rank(k) > pool_rank(found))
			found = k;
	}
	return found;
}

/* ------------------------------------------------------------------- pool */

/*
 * Ask for pool kernels until --prefork are ready or spawning.  Under load
 * too: the forkers clone on other cores.  Stateless kernels (pool,
 * running, exiting) stay under prefork + both slot pools, so finished
 * kernels are reaped before new ones pile up.
 */
void
kernel_pool_refill(void)
{
	int			limit = config->prefork + config->max_sync + config->max_async;

	if (executor_sandbox_mode == SANDBOX_UNAVAILABLE)
		return;
	while (pool_size() < config->prefork && count_kernels(false) < limit &&
		   forkers_can_spawn())
	{
		const char *errtype;
		const char *err;

		if (kernel_spawn(NULL, false, NULL, NULL, pool_memory_mb, pool_file_size_mb,
						 &errtype, &err) == NULL)
		{
			pi_log("could not pre-fork a kernel: %s", err);
			return;
		}
	}
}

/* -------------------------------------------------------------- stopping */

void
kernel_stop(Kernel *k, const char *notice)
{
	if (k->stopping)
		return;
	k->stopping = true;
	if (notice != NULL && k->is_session)
	{
		free(k->stop_notice);
		k->stop_notice = strdup(notice);
		kernel_put_notice(k->session_id, notice);
	}
	if (k->pid > 0)
	{
		/*
		 * The group, and the kernel itself: with the sandbox it is PID 1 of
		 * its PID namespace, and its death makes the kernel kill everything
		 * else in the namespace.  A kernel frozen between cells: every
		 * member gets the kill before the thaw.
		 */
		kill(-k->pid, SIGKILL);
		kill(k->pid, SIGKILL);
		kernel_thaw_killed(k);
	}
}

/* A stateless kernel that has answered: killed at once (its forker reaps it). */
void
kernel_retire(Kernel *k)
{
	k->retired = true;
	if (!k->stopping && k->conn == NULL)
		kernel_stop(k, NULL);
}

void
kernel_kill_retired(void)
{
	for (int i = 0; i < nkernels; i++)
	{
		Kernel	   *k = kernels[i];

		if (k->retired && !k->stopping && k->conn == NULL)
			kernel_stop(k, NULL);
	}
}

/* Stop session kernels idle for longer than --session-idle-timeout. */
void
kernel_reap_idle(double now)
{
	int			i;

	for (i = 0; i < nkernels; i++)
	{
		Kernel	   *k = kernels[i];

		if (k->is_session && !k->stopping && k->conn == NULL &&
			now - k->last_used > config->session_idle_timeout_s * 1000.0)
		{
			char		msg[300];

			snprintf(msg, sizeof(msg),
					 "the session's Python state was reset: its kernel was stopped "
					 "after %d s without a run (pi.session_idle_timeout); "
					 "variables and imports are gone, files remain",
					 config->session_idle_timeout_s);
			kernel_stop(k, msg);
		}
	}
}

/* Free a reaped kernel: its fds, cgroup and temporary workspace. */
void
kernel_free(Kernel *k)
{
	int			i;

	for (i = 0; i < nkernels; i++)
		if (kernels[i] == k)
		{
			kernels[i] = kernels[--nkernels];
			break;
		}
	close_fd(&k->ctl_fd);
	close_fd(&k->out_fd);
	close_fd(&k->err_fd);
	close_fd(&k->res_fd);
	kernel_release_cg_later(&k->cg);
	if (k->temp_workspace != NULL)
		remove_tree(k->temp_workspace);
	buf_free(&k->ctl_out);
	buf_free(&k->line);
	free(k->temp_workspace);
	free(k->workspace);
	free(k->session_id);
	free(k->owner);
	free(k->stop_notice);
	free(k);
}

/*
 * Stop every kernel at shutdown.  They are the forkers' children: after
 * the kill this waits (at most two seconds) until they are gone, so their
 * cgroups can be removed.
 */
void
kernel_shutdown_all(void)
{
	double		deadline = executor_now_ms() + 2000.0;

	for (int i = 0; i < nkernels; i++)
		if (kernels[i]->pid > 0)
		{
			kill(-kernels[i]->pid, SIGKILL);
			kill(kernels[i]->pid, SIGKILL);
			kernel_thaw_killed(kernels[i]);
		}
	for (int i = 0; i < nkernels; i++)
		while (kernels[i]->pid > 0 && kill(kernels[i]->pid, 0) == 0 &&
			   executor_now_ms() < deadline)
			usleep(10000);
	while (nkernels > 0)
		kernel_free(kernels[0]);
	kernel_release_cgroups(true);
}

