/*-------------------------------------------------------------------------
 *
 * cell.c
 *	  The life of one cell: started in a kernel, stopped (timeout, cancel,
 *	  hang-up, quota), finished by its final line or by the kernel's death,
 *	  measured against the workspace quota, and answered.
 *
 * A connection in CONN_RUNNING has exactly one kernel and the kernel has
 * exactly this connection; both links are cut in one place
 * (conn_run_over), which also gives the run's slot back.  After the
 * answer, a stateless kernel is retired (killed off the critical path)
 * and a session kernel waits for the session's next cell.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "executor.h"

static int	running[2];			/* by kind: [0] sync, [1] async */

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

/*
 * Cut c from its kernel and give its slot back.  False when nobody is
 * left to answer (the client is gone): the connection just finishes.
 */
static bool
conn_detach(Conn *c)
{
	running[conn_kind(c)]--;
	c->kernel = NULL;
	c->quota_final = false;
	quota_walk_free(&c->qwalk);
	if (c->client_gone || c->dead)
	{
		c->dead = true;
		c->state = CONN_FLUSHING;
		return false;
	}
	return true;
}

/* The cell of c is over (final line, or the kernel died): answer. */
static void
conn_run_over(Conn *c)
{
	if (conn_detach(c))
		conn_answer_run(c);
}

/*
 * A session kernel over the quota because of files it holds without a
 * name: ending it is the only way to free them.  Named files stay.
 */
#define QUOTA_RELEASE_NOTICE \
	"the session's Python state was reset: its kernel held deleted files " \
	"that counted against the workspace quota (pi.max_workspace_mb, " \
	"pi.max_workspace_files), and ending the kernel was the only way to " \
	"free them; variables and imports are gone, named files remain"

/* The cell of k is over and its quota checked: answer, then the kernel. */
static void
cell_done(Kernel *k)
{
	Conn	   *c = k->conn;
	bool		release = k->is_session && c->quota_exceeded && c->quota_release;

	if (release)
	{
		c->state_reset = true;
		set_notice(c, QUOTA_RELEASE_NOTICE);
	}
	else if (k->is_session && c->interrupted)
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
	else if (release)
		kernel_stop(k, QUOTA_RELEASE_NOTICE);
	else
		kernel_freeze(k);
}

/*
 * Whether the completed walk of c puts its workspace over the quota: its
 * names and what the run holds without a name count together, in bytes
 * and in files; a deleted file held only by a mapping, or processes whose
 * files could not be read, count as over (fail closed).
 */
static bool
quota_over(Conn *c)
{
	const QuotaWalk *w = &c->qwalk;
	unsigned long long quota = (unsigned long long) c->req.workspace_quota_mb << 20;
	unsigned long long total = w->bytes + w->held.bytes;
	long		files = w->entries + w->held.files;

	if (!w->too_many && total <= quota && files <= c->req.workspace_max_files &&
		w->held.unmeasurable == 0 && !w->held.failed)
		return false;
	c->quota_used = total;
	c->quota_held = w->held.bytes;
	c->quota_files = files;
	c->quota_too_many = w->too_many;
	c->quota_files_over = files > c->req.workspace_max_files;
	c->quota_unmeasurable = w->held.unmeasurable;
	snprintf(c->quota_why, sizeof(c->quota_why), "%s", w->held.failed ? w->held.why : "");

	/*
	 * Held files can only be freed by ending what holds them.  Not for an
	 * empty one (a TemporaryFile in a variable) when the excess is in bytes.
	 */
	c->quota_release = w->held.unmeasurable > 0 || w->held.failed ||
		(w->held.bytes > 0 && total > quota) ||
		(w->held.files > 0 && c->quota_files_over);
	return true;
}

/* Start a walk of k's workspace and of what its processes hold. */
static void
quota_walk_begin(Conn *c, Kernel *k)
{
	const char *cgdir = k->cg.pids_path[0] != '\0' ? k->cg.pids_path : k->cg.memory_path;

	/*
	 * The final walk of a stateless run counts only names: its processes
	 * were killed when its final line came (kernel_end_run), so what they
	 * held open dies with them; reading their descriptors and maps (~0.6 ms
	 * of a run under load) would measure nothing that lasts.
	 */
	quota_walk_start(&c->qwalk, k->workspace, c->req.workspace_max_files,
					 c->quota_final && !k->is_session ? 0 : k->pid, cgdir);
	/*
	 * Tasks stopped with SIGSTOP are checked one by one; a run frozen with
	 * its cgroup is known to be frozen as a whole (freeze_settled), and a
	 * frozen task does not show as stopped in /proc.
	 */
	c->qwalk.stop_all = c->quota_final && !k->cg_frozen;
}

/*
 * The final walk measures a run that no longer moves: with the cgroup
 * freezer, wait until the cgroup says every task is frozen, polling every
 * EXECUTOR_FREEZE_POLL_MS from the loop.  Not frozen within
 * EXECUTOR_FREEZE_WAIT_MS (a task stuck in the kernel): the walk runs
 * anyway and counts the run as not stoppable, which ends the kernel.
 */
static bool
freeze_settled(Conn *c, Kernel *k, double now)
{
	int			frozen = kernel_frozen_yet(k);

	if (frozen == 0 && now < c->freeze_deadline)
	{
		c->quota_next = now + EXECUTOR_FREEZE_POLL_MS;
		return false;
	}
	c->freeze_wait = false;
	c->freeze_failed = frozen != 1;
	return true;
}

/*
 * One step of c's quota walk, if due.  Over the quota while the cell runs:
 * stop it like a timeout (a stateless kernel is killed; a session kernel
 * gets SIGINT, then SIGKILL after the grace).  After the final line: the
 * answer says so, the kernel (and a session's variables) stay.
 */
void
cell_check_quota(Conn *c, double now, bool force)
{
	Kernel	   *k = c->kernel;

	if (k == NULL || k->stopping || (!force && now < c->quota_next))
		return;
	/* a cell being stopped anyway; but a final walk always completes */
	if (!c->quota_final && (c->quota_exceeded || c->cancelled ||
							c->timed_out || c->client_gone))
		return;
	if (c->quota_final && c->freeze_wait && !freeze_settled(c, k, now))
		return;
	if (!quota_walk_running(&c->qwalk))
	{
		quota_walk_begin(c, k);
		c->quota_walk_started = now;
	}
	if (!quota_walk_step(&c->qwalk, EXECUTOR_QUOTA_STEP_ENTRIES))
	{
		c->quota_next = now + EXECUTOR_QUOTA_STEP_GAP_MS;
		return;
	}
	if (c->quota_final && c->qwalk.held.unsettled && !c->qwalk.held.failed)
	{
		/*
		 * A process of the run was not stopped yet (it was forking when the
		 * cell ended): measure again once it is.  A SIGSTOP lets a process
		 * finish at most the fork it is in, so this settles in a few passes;
		 * if it does not, the run's end is the way out.
		 */
		if (++c->quota_passes < EXECUTOR_QUOTA_STOP_PASSES)
		{
			quota_walk_begin(c, k);
			c->quota_next = now + EXECUTOR_QUOTA_STEP_GAP_MS;
			return;
		}
		c->qwalk.held.failed = true;
		snprintf(c->qwalk.held.why, sizeof(c->qwalk.held.why),
				 "could not stop every process of the run after its cell");
	}
	if (c->quota_final && c->freeze_failed && !c->qwalk.held.failed)
	{
		c->qwalk.held.failed = true;
		snprintf(c->qwalk.held.why, sizeof(c->qwalk.held.why),
				 "could not freeze every process of the run after its cell");
	}
	if (quota_over(c))
	{
		pi_log("run in %s: workspace holds %llu bytes (%llu of them in deleted files "
			   "still held) and %ld files%s%s%s, over its quota of %d MB or %ld files; stopping it",
			   k->workspace, c->quota_used, c->quota_held, c->quota_files,
			   c->quota_too_many ? " (too many entries)" : "",
			   c->quota_unmeasurable ? " (deleted files held only by a mapping)" : "",
			   c->quota_why[0] ? " (its processes could not be read)" : "",
			   c->req.workspace_quota_mb, c->req.workspace_max_files);
		c->quota_exceeded = true;
		if (c->quota_final)
			cell_done(k);
		else if (c->quota_release)
		{
			/* an interrupt would not free them: only the kernel's end does */
			kernel_stop(k, k->is_session ? QUOTA_RELEASE_NOTICE : NULL);
			c->deadline = NO_DEADLINE;
		}
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


/*
 * The kernel's final line of the cell has arrived (output.c).
 * Everything the cell printed before it is already in the pipes: drain
 * them, stop every process of the run (so that nothing it left running
 * writes while the workspace is measured or after), measure the workspace
 * once more (a fresh walk: it may take a few loop turns for a big
 * workspace, the answer waits for it), answer, and then deal with the
 * kernel.
 */
static void
cell_finished(Kernel *k, void *arg)
{
	Conn	   *c = k->conn;

	(void) arg;

	if (k->out_fd >= 0 && !capture_read(&c->out_cap, k->out_fd))
		close_fd(&k->out_fd);
	if (k->err_fd >= 0 && !capture_read(&c->err_cap, k->err_fd))
		close_fd(&k->err_fd);
	/* the last of the live output goes before the answer */
	capture_send_live(c, true);
	c->elapsed_ms = executor_now_ms() - c->started;
	if (!k->is_session && c->final != NULL &&
		!json_is_null(json_object_get(c->final, "error")))
		c->oom = jail_cgroup_oom(&k->cg);
	if (c->quota_exceeded || c->cancelled || c->timed_out || c->client_gone)
	{
		cell_done(k);
		return;
	}
	/*
	 * What lasts after the answer decides what is done now: a session's
	 * processes are held still until its next cell; a stateless run
	 * leaves nothing but its answer, so every process of it ends now (its
	 * exit runs on another core while the answer is made).
	 */
	if (k->is_session)
		kernel_freeze(k);
	else
		kernel_end_run(k);
	/*
	 * Most runs freeze (or, v1, take their SIGSTOP once thawed) within a
	 * tenth of a millisecond: a few short sleeps here (half a millisecond
	 * at most) spare them the loop's millisecond granularity, and spare a
	 * v1 run the final walk's second pass 10 ms later; a slower freeze is
	 * polled from the loop (freeze_settled), a slower stop re-walked
	 * (held.c).
	 */
	for (int i = 0; i < 10 && (kernel_frozen_yet(k) == 0 || !kernel_stopped_yet(k)); i++)
	{
		struct timespec ts = {0, 50 * 1000};

		nanosleep(&ts, NULL);
	}
	c->quota_final = true;
	c->quota_passes = 0;
	c->deadline = NO_DEADLINE;
	/* the walk of the cell may be half done: the final one starts afresh */
	quota_walk_free(&c->qwalk);
	c->freeze_wait = true;
	c->freeze_failed = false;
	c->freeze_deadline = executor_now_ms() + EXECUTOR_FREEZE_WAIT_MS;
	cell_check_quota(c, executor_now_ms(), true);
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

/* A kernel was reaped: answer its cell, if one ran, and say what ended it. */
void
cell_kernel_exited(Kernel *k, int status)
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
	if (c != NULL)
		capture_send_live(c, true);
	if (k->res_fd >= 0)
		result_read(k, cell_finished, NULL);
	close_fd(&k->out_fd);
	close_fd(&k->err_fd);
	close_fd(&k->res_fd);
	close_fd(&k->ctl_fd);
	describe_death(k, status, oom, why, sizeof(why));

	c = k->conn;
	if (c != NULL && c->quota_final)
	{
		/* its final line is in; finish the walk now and answer normally */
		if (c->freeze_wait)
		{
			c->freeze_wait = false; /* nothing of it runs any more */
			quota_walk_begin(c, k);
		}
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
		/* known only now: a kernel still spawning at the start had no cgroup */
		c->oom_detectable = k->cg.memory_path[0] != '\0';
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

/* Hand c's cell to kernel k. */
void
cell_start(Conn *c, Kernel *k)
{
	/* a kernel that cannot run again would hang the cell: its death answers */
	if (!kernel_thaw(k))
		kernel_stop(k, "the session's Python state was reset: its kernel could not be "
					"resumed for this run (its cgroup could not be thawed); variables "
					"and imports are gone, files remain");
	kernel_set_memory(k, c->req.memory_mb);
	k->conn = c;
	c->kernel = k;
	c->started = executor_now_ms();
	c->state = CONN_RUNNING;
	c->deadline = c->started + c->req.timeout_ms;
	c->quota_next = c->started + EXECUTOR_QUOTA_INTERVAL_MS;
	c->quota_final = false;
	c->freeze_wait = false;
	c->freeze_failed = false;
	quota_walk_free(&c->qwalk);
	c->quota_release = false;
	c->quota_why[0] = '\0';
	c->out_cap.limit = c->req.max_output_bytes;
	c->err_cap.limit = c->req.max_output_bytes;
	c->out_cap.live = c->req.live_output;
	running[conn_kind(c)]++;
	if (!kernel_send_cell(k, c))
	{
		c->cancelled = true;
		conn_kill_run(c);
	}
}

/*
 * A forker could not clone k: its cell, if one waits, is answered with the
 * forker's error; the kernel never existed and goes at the end of the
 * loop turn.
 */
void
cell_spawn_failed(Kernel *k, const char *errtype, const char *message)
{
	Conn	   *c = k->conn;

	pi_log("%s", message);
	k->spawning = false;
	k->stopping = true;
	k->reaped = true;
	k->conn = NULL;
	if (c != NULL && conn_detach(c))
		conn_answer(c, "failed", make_error(errtype, message));
}

/* Read k's result channel; its final line finishes the cell. */
bool
cell_read_results(Kernel *k)
{
	return result_read(k, cell_finished, NULL);
}

/* Runs in their cells now, by kind (async = job workers). */
int
cells_running(bool async)
{
	return running[async ? 1 : 0];
}
