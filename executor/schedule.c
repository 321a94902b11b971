/*-------------------------------------------------------------------------
 *
 * schedule.c
 *	  Which queued run starts when: the slots of sync runs (pi.execute)
 *	  and async runs (job workers), arrival order, session kernels (one
 *	  cell at a time per session, LRU eviction at each tenant's limit and
 *	  at --max-sessions), and the deadlines of every connection.
 *
 * A run that waits its whole timeout for a slot is answered "busy" with
 * the reason; a run whose deadline passes while it runs is stopped
 * (cell.c).
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
#include <unistd.h>

#include <jansson.h>

#include "executor.h"

static const ExecutorConfig *config;

void
schedule_init(const ExecutorConfig *cfg)
{
	config = cfg;
}

static void
start_failed(Conn *c, const char *errtype, const char *err)
{
	pi_log("%s", err);
	conn_answer(c, "failed", make_error(errtype, err));
}

/*
 * The live session kernels c's tenant may hold: the tenant's limit
 * max_sessions that the client sent ("owner_max_sessions"), else
 * --max-sessions-per-owner; never more than --max-sessions.
 */
static int
owner_limit(const Conn *c)
{
	int			limit = c->req.owner_max_sessions >= 0 ?
		c->req.owner_max_sessions : config->max_sessions_per_owner;

	return limit < config->max_sessions ? limit : config->max_sessions;
}

/*
 * How an administrator raises c's tenant's limit, for messages: the SQL
 * call, with the role name as a literal (quotes doubled).
 */
static void
raise_hint(const Conn *c, char *buf, size_t size)
{
	const char *owner = c->req.owner ? c->req.owner : "";
	size_t		n = 0;

	n += snprintf(buf, size, "an administrator raises it with SELECT pi.set_tenant_limit('");
	for (; *owner && n + 2 < size; owner++)
	{
		if (*owner == '\'')
			buf[n++] = '\'';
		buf[n++] = *owner;
	}
	buf[n] = '\0';
	snprintf(buf + n, size - n, "', 'max_sessions', n)");
}

/*
 * Before a new session kernel for c's tenant: a tenant at its own limit
 * (owner_limit) gives up its least recently used idle kernels until the
 * new one fits (more than one when an administrator lowered the limit);
 * when every kernel is taken, the tenant holding the most idle kernels
 * gives one up.  So one caller's sessions never wipe another's Python
 * state.  False when nothing can give way now (c waits).
 */
static bool
make_room_for_session(Conn *c)
{
	const char *owner = c->req.owner ? c->req.owner : "";
	int			limit = owner_limit(c);
	Kernel	   *victim;
	char		msg[800];
	char		hint[300];

	if (limit < config->max_sessions)
	{
		raise_hint(c, hint, sizeof(hint));
		snprintf(msg, sizeof(msg),
				 "the session's Python state was reset: its kernel was stopped to make "
				 "room for another session of the same tenant (at most %d live kernels "
				 "for this tenant: its limit max_sessions, by default pi.max_sessions_per_tenant; "
				 "the least recently used goes first); variables and imports are gone, "
				 "files remain; to keep more sessions alive, %s",
				 limit, hint);
		while (kernel_count_owner_sessions(owner) >= limit)
		{
			if ((victim = kernel_lru_idle_session(owner)) == NULL)
				return false;
			kernel_stop(victim, msg);
		}
	}
	if (kernel_count_sessions() >= config->max_sessions)
	{
		const char *busiest = kernel_busiest_owner();

		if (busiest == NULL || (victim = kernel_lru_idle_session(busiest)) == NULL)
			return false;
		snprintf(msg, sizeof(msg),
				 "the session's Python state was reset: its kernel was stopped to make "
				 "room for another session (at most %d live kernels, pi.max_sessions; "
				 "the tenant holding the most gives up its least recently used one); "
				 "variables and imports are gone, files remain", config->max_sessions);
		kernel_stop(victim, msg);
	}
	return true;
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
							 false, NULL, NULL, c->req.memory_mb, c->req.max_file_size_mb,
							 &errtype, &err);
		if (k == NULL && strcmp(errtype, "ExecutorBusy") == 0)
			return false;		/* every forker saturated: wait for one */
		if (k == NULL)
			start_failed(c, errtype, err);
		else
			cell_start(c, k);
		return true;
	}

	k = kernel_find_session(c->req.session_id);
	if (k != NULL && k->conn != NULL)
		return false;
	if (k != NULL)
	{
		c->kernel_use = "reused";
		cell_start(c, k);
		return true;
	}
	if (owner_limit(c) == 0)
	{
		char		hint[300];
		char		msg[600];

		raise_hint(c, hint, sizeof(hint));
		snprintf(msg, sizeof(msg),
				 "this tenant may keep no live session kernels (its limit max_sessions is 0), "
				 "so code cannot run in a session; run it without a session, or %s",
				 hint);
		conn_answer(c, "failed", make_error("SessionLimitExceeded", msg));
		return true;
	}
	if (!make_room_for_session(c))
		return false;
	k = kernel_spawn(c->req.workspace, true, c->req.session_id, c->req.owner,
					 c->req.memory_mb,
					 c->req.max_file_size_mb, &errtype, &err);
	if (k == NULL && strcmp(errtype, "ExecutorBusy") == 0)
		return false;			/* every forker saturated: wait for one */
	if (k == NULL)
	{
		start_failed(c, errtype, err);
		return true;
	}
	c->kernel_use = "started";
	c->notice = kernel_take_notice(c->req.session_id);
	c->state_reset = c->notice != NULL;
	cell_start(c, k);
	return true;
}

/* Start queued runs in arrival order while their kind has free slots. */
void
start_queued_runs(void)
{
	int			kind;

	for (kind = 0; kind < 2; kind++)
	{
		int			slots = kind ? config->max_async : config->max_sync;
		unsigned long long after = 0;
		bool		first = true;

		while (cells_running(kind) < slots)
		{
			Conn	   *best = NULL;
			int			i;

			for (i = 0; i < nconns; i++)
			{
				Conn	   *c = conns[i];

				if (!c->dead && c->state == CONN_QUEUED && (c->req.is_async ? 1 : 0) == kind &&
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


/* A queued run waited its whole timeout for a slot or its session. */
static void
answer_busy(Conn *c)
{
	char		msg[700];
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
	if (c->is_session &&
		kernel_count_owner_sessions(c->req.owner ? c->req.owner : "") >= owner_limit(c) &&
		kernel_lru_idle_session(c->req.owner ? c->req.owner : "") == NULL)
	{
		char		hint[300];

		raise_hint(c, hint, sizeof(hint));
		snprintf(msg, sizeof(msg),
				 "all %d session kernels this tenant may keep are busy (its limit max_sessions, "
				 "by default pi.max_sessions_per_tenant); retry shortly, or %s",
				 owner_limit(c), hint);
		conn_answer(c, "busy", make_error("ExecutorBusy", msg));
		return;
	}
	if (c->is_session && kernel_count_sessions() >= config->max_sessions &&
		kernel_lru_idle_session(NULL) == NULL)
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

void
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

/* Quota walks of the running cells that are due. */
void
check_quotas(double now)
{
	int			i;

	for (i = 0; i < nconns; i++)
		if (conns[i]->state == CONN_RUNNING)
			cell_check_quota(conns[i], now, false);
}
