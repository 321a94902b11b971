/*-------------------------------------------------------------------------
 *
 * kernel_io.c
 *	  What the executor does to a live kernel apart from creating and
 *	  stopping it (kernel.c): cells and query answers down its control
 *	  pipe, its memory limit per cell, freezing it between cells, and the
 *	  removal of its cgroups once it is gone.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "executor.h"

/*
 * Cgroups of reaped kernels, removed later: right after the exit the
 * memory cgroup may still be busy uncharging pages, and jail_cgroup_release
 * would sleep in the loop until rmdir succeeds.  One non-blocking rmdir per
 * loop turn instead; after ~5 s the blocking release is the fallback.
 */
typedef struct PendingCg
{
	JailCgroup	cg;
	double		since;
} PendingCg;
static PendingCg *pending_cgs;
static int	npending_cgs;

/* Remember a run cgroup to remove once it is empty (kernel_release_cgroups). */
void
kernel_release_cg_later(const JailCgroup *cg)
{
	PendingCg  *grown;

	if (cg->memory_path[0] == '\0' && cg->pids_path[0] == '\0')
		return;
	grown = realloc(pending_cgs, sizeof(PendingCg) * (npending_cgs + 1));
	if (grown == NULL)
	{
		JailCgroup	copy = *cg;

		jail_cgroup_release(&copy); /* out of memory: release now */
		return;
	}
	pending_cgs = grown;
	pending_cgs[npending_cgs].cg = *cg;
	pending_cgs[npending_cgs].since = executor_now_ms();
	npending_cgs++;
}


/*
 * Remove the run cgroups nobody will release (jail_cgroup_sweep_stale says
 * which are safe to): at start-up, those a killed executor left; and from
 * the loop now and then, those of kernels that were still dying at
 * start-up (a killed loop's kernels follow it through the parent-death
 * chain, a moment later) or whose forker was killed before it reported
 * their exit.
 */
void
kernel_sweep_stale_cgroups(void)
{
	int			removed;

	if (executor_sandbox_mode != SANDBOX_ON)
		return;
	removed = jail_cgroup_sweep_stale(&executor_jail);
	if (removed > 0)
		pi_log("removed %d stale run cgroup(s)", removed);
}

void
kernel_release_cgroups(bool wait)
{
	double		now = executor_now_ms();
	int			i = 0;

	while (i < npending_cgs)
	{
		PendingCg  *p = &pending_cgs[i];
		bool		done = jail_cgroup_try_release(&p->cg);

		if (!done && (wait || now - p->since > 5000.0))
		{
			jail_cgroup_release(&p->cg);
			done = true;
		}
		if (done)
			pending_cgs[i] = pending_cgs[--npending_cgs];
		else
			i++;
	}
}

/* --------------------------------------------------------- control pipe */

void
kernel_flush_ctl(Kernel *k)
{
	size_t		sent = 0;

	while (k->ctl_fd >= 0 && sent < k->ctl_out.len)
	{
		ssize_t		n = write(k->ctl_fd, k->ctl_out.data + sent, k->ctl_out.len - sent);

		if (n > 0)
			sent += n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		else
		{
			/* the kernel is gone; its reap answers the run */
			sent = k->ctl_out.len;
			break;
		}
	}
	if (sent > 0)
		buf_consume(&k->ctl_out, sent);
}

bool
kernel_send_line(Kernel *k, const char *json)
{
	size_t		len = strlen(json);

	if (!buf_reserve(&k->ctl_out, len + 1))
		return false;
	buf_append(&k->ctl_out, json, len);
	buf_append(&k->ctl_out, "\n", 1);
	kernel_flush_ctl(k);
	return true;
}

/*
 * sig to the kernel's process group, to the kernel itself and to every
 * process of its cgroup (those that left the group too).
 */
static void
signal_run(Kernel *k, int sig)
{
	kill(-k->pid, sig);
	kill(k->pid, sig);
	(void) jail_cgroup_signal(&k->cg, sig);
}

static void
stop_with_signals(Kernel *k)
{
	signal_run(k, SIGSTOP);
}

/*
 * v1 (see kernel_freeze): wait until the cgroup says every task is frozen
 * (at most EXECUTOR_FREEZE_V1_WAIT_MS, a tenth of a millisecond normally),
 * stop every member with SIGSTOP, thaw.  If the freeze is not complete in
 * time, the members are stopped all the same and the final walk re-stops
 * any task it finds running, as without a freezer.
 */
static void
freeze_then_stop(Kernel *k)
{
	char		err[256];
	double		until = executor_now_ms() + EXECUTOR_FREEZE_V1_WAIT_MS;

	while (jail_cgroup_frozen(&k->cg) == 0 && executor_now_ms() < until)
	{
		struct timespec ts = {0, 50 * 1000};

		nanosleep(&ts, NULL);
	}
	stop_with_signals(k);
	if (jail_cgroup_freeze(&k->cg, false, err, sizeof(err)) < 0)
	{
		/* it stays frozen: the next cell's thaw or its kill tries again */
		pi_log("could not thaw the run of session %s after stopping it: %s",
			   k->session_id ? k->session_id : "-", err);
		k->cg_frozen = true;
	}
}

/*
 * Nothing of a session runs between its cells: threads and processes the
 * code started go on only while a cell of the session runs.  With a cgroup
 * freezer (jail/cgroup.c) the whole run cgroup is frozen: a child forked
 * while the freeze is under way is frozen as it is made, so a chain of
 * processes that fork and exit cannot slip through, as they could from
 * SIGSTOP of a listing.
 *	- v2: the run stays frozen until its next cell.  The freeze takes effect
 *	  as each task next reaches the kernel's freezer, so the final quota
 *	  walk waits for kernel_frozen_yet (cell.c).  A frozen task still dies
 *	  of SIGKILL.
 *	- v1: a frozen task that gets SIGKILL (kill -9 from outside, its
 *	  forker's death) only dies once thawed, so the run is frozen only for
 *	  a moment: once nothing of it can fork, every member gets SIGSTOP (the
 *	  list is complete then), and the thaw lets each take its SIGSTOP
 *	  before it returns to its code.  From then on it is a stopped run.
 * Without a freezer (or if writing it fails): SIGSTOP to the kernel's
 * process group and to every process of its cgroup; for stopped runs the
 * final walk re-stops what it finds running (held.c), and SIGCONT
 * continues them.  A frozen or stopped kernel can still be killed
 * (kernel_stop), and the idle timeout still applies.
 */
void
kernel_freeze(Kernel *k)
{
	char		err[256];

	if (k->pid <= 0 || k->stopping || k->frozen)
		return;
	k->frozen = true;
	k->cg_frozen = false;

	if (k->cg.freezer_path[0] != '\0')
	{
		if (jail_cgroup_freeze(&k->cg, true, err, sizeof(err)) == 0)
		{
			if (!jail_cgroup_freeze_holds_kill(&k->cg))
			{
				k->cg_frozen = true;
				return;
			}
			freeze_then_stop(k);
			return;
		}
		pi_log("could not freeze the run of session %s with its cgroup, stopping it "
			   "with signals instead: %s", k->session_id ? k->session_id : "-", err);
	}
	stop_with_signals(k);
}

/*
 * A stateless run whose final line is in: kill every process of it now
 * (the group, PID 1 of its namespace, the cgroup's members for a run
 * without one).  It is not marked stopping: the final walk of its
 * workspace still runs and the answer goes out; kernel_retire then
 * finds it already killed, and the reap frees it.
 */
void
kernel_end_run(Kernel *k)
{
	if (k->pid <= 0 || k->stopping)
		return;
	signal_run(k, SIGKILL);
}

/*
 * Whether every task of a frozen kernel has stopped running: 1 yes, 0 not
 * yet, -1 the cgroup cannot say.  With signals the walk checks each task
 * itself, so this is 1 at once.
 */
int
kernel_frozen_yet(const Kernel *k)
{
	if (!k->frozen || !k->cg_frozen)
		return 1;
	return jail_cgroup_frozen(&k->cg);
}

/*
 * Whether every thread of a kernel stopped with SIGSTOP has stopped: the
 * kernel's own process only, the final walk checks the rest (held.c).  A
 * v1 run gets its SIGSTOP while frozen and takes it only once thawed and
 * scheduled again; a walk that comes first finds it running and waits a
 * whole EXECUTOR_QUOTA_STEP_GAP_MS to look again (10 ms on most cells).
 * True when there is nothing to wait for (not stopped with signals, gone,
 * or unreadable: the walk decides then).
 */
bool
kernel_stopped_yet(const Kernel *k)
{
	char		path[64];
	DIR		   *dir;
	struct dirent *e;
	bool		stopped = true;

	if (!k->frozen || k->cg_frozen || k->pid <= 0)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/task", (int) k->pid);
	if ((dir = opendir(path)) == NULL)
		return true;
	while (stopped && (e = readdir(dir)) != NULL)
		if (e->d_name[0] != '.')
			stopped = executor_task_stopped(k->pid, (pid_t) atoi(e->d_name));
	closedir(dir);
	return stopped;
}

/*
 * Let a frozen kernel run again, before its next cell.  False when its
 * cgroup could not be thawed: the caller ends the kernel (kernel_stop
 * kills it and tries the thaw once more).
 */
bool
kernel_thaw(Kernel *k)
{
	char		err[256];

	if (!k->frozen)
		return true;
	if (k->cg_frozen)
	{
		if (jail_cgroup_freeze(&k->cg, false, err, sizeof(err)) < 0)
		{
			pi_log("could not thaw the run of session %s: %s",
				   k->session_id ? k->session_id : "-", err);
			return false;
		}
		k->frozen = false;
		k->cg_frozen = false;
		return true;
	}
	k->frozen = false;
	if (k->pid > 0)
	{
		(void) jail_cgroup_signal(&k->cg, SIGCONT);
		kill(-k->pid, SIGCONT);
		kill(k->pid, SIGCONT);
	}
	return true;
}

/*
 * A kernel frozen with its cgroup was just sent SIGKILL.  Every member of
 * the frozen cgroup gets it too (none can fork meanwhile, so the list is
 * complete), then the cgroup is thawed: a v1 freezer holds even a killed
 * task until then, and with SIGKILL pending no task returns to its code.
 */
void
kernel_thaw_killed(Kernel *k)
{
	char		err[256];

	if (!k->frozen || !k->cg_frozen)
		return;
	(void) jail_cgroup_signal(&k->cg, SIGKILL);
	k->frozen = false;
	k->cg_frozen = false;
	if (jail_cgroup_freeze(&k->cg, false, err, sizeof(err)) < 0)
		pi_log("could not thaw a killed run: %s", err);
}

/* Write a memory limit into the kernel's cgroup (a run's own limit). */
void
kernel_set_memory(Kernel *k, int memory_mb)
{
	char		err[256];

	if (memory_mb == k->cg_memory_mb || k->cg.memory_path[0] == '\0')
		return;
	if (jail_cgroup_set_memory(&executor_jail, &k->cg,
							   (uint64_t) memory_mb << 20,
							   (uint64_t) k->cg_memory_mb << 20,
							   err, sizeof(err)) < 0)
		pi_log("%s", err);
	k->cg_memory_mb = memory_mb;
}

/* Hand a cell to the kernel: one JSON line on its control pipe. */
bool
kernel_send_cell(Kernel *k, const Conn *c)
{
	json_t	   *cell;
	char	   *text;

	cell = json_pack("{s:s, s:s%, s:i, s:i, s:i, s:s?, s:s?}",
					 "type", "cell",
					 "code", c->req.code, c->req.code_len,
					 "memory_mb", c->req.memory_mb,
					 "max_file_size_mb", c->req.max_file_size_mb,
					 "timeout_s", (c->req.timeout_ms + 999) / 1000,
					 "session_id", c->req.session_id,
					 "job_id", c->req.job_id);
	if (cell == NULL)
		return false;
	text = json_dumps(cell, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(cell);
	if (text == NULL)
		return false;
	if (!kernel_send_line(k, text))
	{
		free(text);
		return false;
	}
	free(text);
	return true;
}
