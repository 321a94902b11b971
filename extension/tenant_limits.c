/*-------------------------------------------------------------------------
 *
 * tenant_limits.c
 *	  Per-tenant limits: sync runs at once, jobs queued or running,
 *	  workspace storage across a tenant's sessions, the storage of its
 *	  datasets, and its live session kernels (docs/tenants.md).
 *
 * Each limit has a server-wide default, a pi.tenant_* setting of
 * postgresql.conf (PGC_SIGHUP: no session can SET it), which a row of
 * pi.tenant_limits overrides for one role.  Only administrators write that
 * table (pi.set_tenant_limit), so a tenant cannot raise its own limits.
 * Superusers are the service's operators, not tenants, and could change
 * any limit anyway: none applies to them.
 *
 * The concurrency limits hold under races.  A sync run holds one of its
 * tenant's N slots, each a session-level lock of the lock manager taken
 * without waiting; the run releases it however it ends, and PostgreSQL
 * releases it when the backend exits, so no slot leaks.  A job submit
 * counts the tenant's jobs under a transaction-level lock on the tenant,
 * with the latest snapshot, so two submits at once are counted one after
 * the other, each seeing the other's job.  A load's final size check takes
 * the same kind of lock for the tenant's datasets.  The workspace limit is
 * checked against the tenant's tally (workspace_tally.c), under its tally
 * lock, held by a write until its bytes are recorded.
 *
 * The live session kernels are the executor's to count and evict: each run
 * in a session carries its tenant's limit (pi_tenant_session_limit), read
 * afresh, so a change applies to the tenant's next run, and the executor
 * makes room within it (executor/schedule.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "guc.h"
#include "kept_plans.h"
#include "tenant_limits.h"
#include "workspace_tally.h"

/*
 * The last field of our lock tags.  The SQL advisory lock functions use 1
 * and 2 there, so no pg_advisory_lock() call can take (or squat on) these;
 * pi.show_tenant_limits() finds the sync slots in pg_locks by it.
 */
#define LOCK_SYNC_SLOT	0x5053
#define LOCK_JOBS		0x504A
#define LOCK_DATASETS	0x5044

typedef struct LimitInfo
{
	const char *name;			/* the column of pi.tenant_limits */
	int		   *setting;		/* the server-wide default */
} LimitInfo;

static const LimitInfo limit_info[] = {
	[PI_LIMIT_SYNC_RUNS] = {"max_sync_runs", &pi_tenant_max_sync_runs},
	[PI_LIMIT_JOBS] = {"max_jobs", &pi_tenant_max_jobs},
	[PI_LIMIT_WORKSPACE_MB] = {"workspace_mb", &pi_tenant_workspace_mb},
	[PI_LIMIT_DATASETS_MB] = {"datasets_mb", &pi_tenant_datasets_mb},
	[PI_LIMIT_SESSIONS] = {"max_sessions", &pi_max_sessions_per_tenant},
};

/* The limit called name (a column of pi.tenant_limits), or -1. */
int
pi_tenant_limit_by_name(const char *name)
{
	for (int i = 0; i < lengthof(limit_info); i++)
		if (strcmp(limit_info[i].name, name) == 0)
			return i;
	return -1;
}

/* The tenant's role, or InvalidOid when no limit applies to it. */
Oid
pi_tenant_limited_role(const char *role)
{
	Oid			roleid = role ? get_role_oid(role, true) : InvalidOid;

	return OidIsValid(roleid) && !superuser_arg(roleid) ? roleid : InvalidOid;
}

long long
pi_in_mb(int64 bytes)
{
	return (long long) ((bytes + MB - 1) / MB);
}

/* The hint's last words: how an administrator raises the limit. */
static char *
raise_hint(const char *role, PiTenantLimit which)
{
	return psprintf("an administrator can raise it: SELECT pi.set_tenant_limit(%s, '%s', n)",
					quote_literal_cstr(role), limit_info[which].name);
}

/*
 * A tenant's row of pi.tenant_limits as the current command sees it.  A
 * pi.execute call asks for two limits (workspace_mb, then max_sync_runs)
 * with nothing written between them: the second is answered from here, not
 * by another query.  The row is read again for another tenant, in another
 * statement or transaction, or once the command counter has moved (a
 * write, such as pi.set_tenant_limit's, in between); the defaults, which
 * a reload may change, are applied at each lookup.
 */
typedef struct LimitsRow
{
	bool		valid;
	NameData	role;
	LocalTransactionId lxid;
	CommandId	cid;
	TimestampTz statement_start;
	bool		isnull[lengthof(limit_info)];
	int			value[lengthof(limit_info)];
} LimitsRow;

static LimitsRow limits_row;

static bool
limits_row_current(const char *role)
{
	return limits_row.valid &&
		limits_row.lxid == MyProc->lxid &&
		limits_row.cid == GetCurrentCommandId(false) &&
		limits_row.statement_start == GetCurrentStatementStartTimestamp() &&
		strcmp(NameStr(limits_row.role), role) == 0;
}

/* The limit in force for role: its row of pi.tenant_limits, or the default. */
int
pi_tenant_limit(const char *role, PiTenantLimit which)
{
	static SPIPlanPtr plan = NULL;
	static Oid	argtypes[] = {NAMEOID};

	if (!limits_row_current(role))
	{
		limits_row.valid = false;
		SPI_connect();
		if (SPI_execute_plan(pi_kept_plan(&plan,
										  "SELECT max_sync_runs, max_jobs, workspace_mb, datasets_mb, max_sessions"
										  " FROM pi.tenant_limits WHERE role = $1",
										  1, argtypes),
							 (Datum[]) {DirectFunctionCall1(namein, CStringGetDatum(role))},
							 NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the limits of tenant \"%s\"", role);
		for (int i = 0; i < lengthof(limit_info); i++)
		{
			bool		isnull = true;
			Datum		d = (Datum) 0;

			if (SPI_processed == 1)
				d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								  i + 1, &isnull);
			limits_row.isnull[i] = isnull;
			limits_row.value[i] = isnull ? 0 : DatumGetInt32(d);
		}
		SPI_finish();
		namestrcpy(&limits_row.role, role);
		limits_row.lxid = MyProc->lxid;
		limits_row.cid = GetCurrentCommandId(false);
		limits_row.statement_start = GetCurrentStatementStartTimestamp();
		limits_row.valid = true;
	}
	return limits_row.isnull[which] ? *limit_info[which].setting : limits_row.value[which];
}

/*
 * Take one of role's sync run slots, or fail at once when the tenant runs
 * as many sync runs as its limit allows.  The caller must release it with
 * pi_tenant_release_sync_slot on every way out (PG_FINALLY): the lock is
 * held at session level so that the caller's transaction, which may run
 * several calls, keeps no slot longer than one run.
 */
PiSyncSlot
pi_tenant_take_sync_slot(const char *role)
{
	PiSyncSlot	held = {pi_tenant_limited_role(role), -1};
	int			limit;

	if (!OidIsValid(held.roleid))
		return held;
	limit = pi_tenant_limit(role, PI_LIMIT_SYNC_RUNS);
	for (int i = 0; i < limit; i++)
	{
		LOCKTAG		tag;
		LockAcquireResult r;

		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, held.roleid, i, LOCK_SYNC_SLOT);
		r = LockAcquire(&tag, ExclusiveLock, true, true);
		if (r == LOCKACQUIRE_OK)
		{
			held.slot = i;
			return held;
		}
		/* a slot this backend holds already is in use all the same */
		if (r != LOCKACQUIRE_NOT_AVAIL)
			LockRelease(&tag, ExclusiveLock, true);
	}
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("tenant \"%s\" already has %d sync runs going, as many as its limit max_sync_runs allows",
					role, limit),
			 errdetail("A tenant runs at most max_sync_runs pi.execute calls at once (%d for \"%s\"); "
					   "this call was refused, not queued.", limit, role),
			 errhint("Retry when one of them has ended, or submit the work with pi.submit_job(); %s.",
					 raise_hint(role, PI_LIMIT_SYNC_RUNS))));
	return held;				/* not reached */
}

void
pi_tenant_release_sync_slot(PiSyncSlot held)
{
	LOCKTAG		tag;

	if (held.slot < 0)
		return;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, held.roleid, held.slot, LOCK_SYNC_SLOT);
	LockRelease(&tag, ExclusiveLock, true);
}

/*
 * Run a one-value bigint query with a text or name parameter under the
 * latest snapshot: a repeatable read transaction's own snapshot would miss
 * what the tenant's other calls committed while this one waited for its
 * lock.
 */
static int64
latest_count(const char *sql, Oid argtype, const char *arg)
{
	SPIPlanPtr	plan;
	Datum		value;
	bool		isnull;
	int64		n = 0;

	value = argtype == NAMEOID ? DirectFunctionCall1(namein, CStringGetDatum(arg)) :
		CStringGetTextDatum(arg);
	SPI_connect();
	plan = SPI_prepare(sql, 1, &argtype);
	if (plan == NULL ||
		SPI_execute_snapshot(plan, &value, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 true, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count a tenant's use: %s", sql);
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		n = DatumGetInt64(value);
	SPI_finish();
	return n;
}

/* role's jobs and loads queued or running (max_jobs counts them). */
int64
pi_tenant_jobs_held(const char *role)
{
	return latest_count("SELECT count(*) FROM pi.jobs WHERE submitted_by = $1"
						" AND kind <> 'sync' AND status IN ('pending', 'running')",
						NAMEOID, role);
}

/* The sync run slots of role held now, by any backend (max_sync_runs). */
int64
pi_tenant_sync_runs_held(Oid roleid)
{
	char		id[16];

	snprintf(id, sizeof(id), "%u", roleid);
	return latest_count(psprintf("SELECT count(*) FROM pg_catalog.pg_locks"
								 " WHERE locktype = 'advisory' AND granted AND objsubid = %d"
								 " AND classid = $1::pg_catalog.oid AND database = %u",
								 LOCK_SYNC_SLOT, MyDatabaseId),
						TEXTOID, id);
}

/* Take a transaction-level lock on role's use of one kind of thing. */
static void
lock_tenant(Oid roleid, uint16 kind)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, roleid, 0, kind);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * Refuse a new job (or load) when role already has its limit of jobs
 * queued or running.  The lock is held until the transaction ends, so the
 * next submit of the tenant counts after this one's job is committed (or
 * rolled back).
 */
void
pi_tenant_check_jobs(const char *role)
{
	Oid			roleid = pi_tenant_limited_role(role);
	int			limit;
	int64		held;

	if (!OidIsValid(roleid))
		return;
	limit = pi_tenant_limit(role, PI_LIMIT_JOBS);
	lock_tenant(roleid, LOCK_JOBS);
	held = pi_tenant_jobs_held(role);
	if (held >= limit)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("tenant \"%s\" has %lld jobs queued or running, its limit max_jobs is %d",
						role, (long long) held, limit),
				 errdetail("Jobs and dataset loads count until they end."),
				 errhint("Wait for some to end (pi.job_result(job_id, wait_s)), cancel those no longer needed (pi.cancel_job), or run short code with pi.execute(); %s.",
						 raise_hint(role, PI_LIMIT_JOBS))));
}

/* The bytes of the tables (with their indexes and TOAST) in schema. */
int64
pi_tenant_schema_bytes(const char *schema)
{
	return latest_count("SELECT coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)), 0)::bigint"
						" FROM pg_catalog.pg_class c"
						" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
						" WHERE n.nspname = $1 AND c.relkind IN ('r', 'm', 'p')",
						TEXTOID, schema);
}

/*
 * The datasets limit: before a load (loaded false), refuse when role's
 * datasets already take its limit; after it (loaded true, in the load's
 * transaction), fail the load, which undoes it, when they now exceed it.
 * The after check holds a lock until the load commits, so two loads of one
 * tenant cannot both fit alone and overflow together.
 */
void
pi_tenant_check_datasets(const char *role, const char *schema, bool loaded)
{
	Oid			roleid = pi_tenant_limited_role(role);
	int			limit;
	int64		bytes;

	if (!OidIsValid(roleid) || schema == NULL)
		return;
	limit = pi_tenant_limit(role, PI_LIMIT_DATASETS_MB);
	if (loaded)
		lock_tenant(roleid, LOCK_DATASETS);
	bytes = pi_tenant_schema_bytes(schema);
	if (!loaded && bytes >= limit * MB)
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("tenant \"%s\"'s datasets take %lld MB, its limit datasets_mb is %d MB",
						role, pi_in_mb(bytes), limit),
				 errhint("Drop datasets no longer needed with pi.drop_dataset(name) (pi.list_datasets() shows their sizes); %s.",
						 raise_hint(role, PI_LIMIT_DATASETS_MB))));
	if (loaded && bytes > limit * MB)
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("this load would bring tenant \"%s\"'s datasets to %lld MB, over its limit datasets_mb (%d MB)",
						role, pi_in_mb(bytes), limit),
				 errdetail("The load was undone; the tenant's datasets are as they were."),
				 errhint("Drop datasets no longer needed with pi.drop_dataset(name), load fewer rows or columns, or %s.",
						 raise_hint(role, PI_LIMIT_DATASETS_MB))));
}

/* A session's tenant and what its workspaces hold. */
typedef struct TenantSpace
{
	char	   *owner;
	int			limit_mb;
	int64		others;			/* bytes of the owner's other sessions */
	int64		here;			/* bytes of this session's workspace */
} TenantSpace;

/*
 * Find the session whose workspace this is and, when a limit applies to
 * its tenant, take the tenant's tally lock (t); false, with nothing held,
 * when none applies (no such session, or a superuser's).  The limit is
 * read under the lock, so a change committed before it was taken holds.
 */
static bool
tenant_space(const char *workspace, PiTally *t, TenantSpace *ts)
{
	Oid			roleid;

	memset(ts, 0, sizeof(*ts));
	if (!pi_tally_lookup(workspace, t) || !OidIsValid(roleid = pi_tenant_limited_role(t->owner)))
	{
		memset(t, 0, sizeof(*t));	/* so that the tally calls do nothing */
		return false;
	}
	ts->owner = t->owner;
	pi_tally_lock(t, roleid);
	return true;
}

/*
 * Before a write into workspace: take its tenant's tally lock into t, to
 * be held until the write is recorded (pi_tally_record, pi_tally_unlock)
 * or has failed (pi_tally_abandon), so that the tenant's writes are
 * measured and checked one after the other.  Nothing is held when no
 * limit applies.
 */
void
pi_tenant_lock_workspace(const char *workspace, PiTally *t)
{
	TenantSpace ts;

	(void) tenant_space(workspace, t, &ts);
}

/*
 * Refuse a write of growth bytes into t's workspace, which holds used
 * bytes, when it would take the session's tenant over its workspace
 * limit.  t is locked by pi_tenant_lock_workspace; it is released here
 * when the write is refused.
 */
void
pi_tenant_check_workspace_write(PiTally *t, int64 used, int64 growth)
{
	int64		others;
	int			limit_mb;

	if (growth <= 0 || t->owner == NULL)
		return;
	others = pi_tally_others(t);
	limit_mb = pi_tenant_limit(t->owner, PI_LIMIT_WORKSPACE_MB);
	if (others + used + growth <= limit_mb * MB)
		return;
	pi_tally_unlock(t);
	ereport(ERROR,
			(errcode(ERRCODE_DISK_FULL),
			 errmsg("the write would bring tenant \"%s\"'s workspaces to %lld MB, over its limit workspace_mb (%d MB)",
					t->owner, pi_in_mb(others + used + growth), limit_mb),
			 errdetail("Its other sessions hold %lld bytes, this one %lld; the write adds %lld.",
					   (long long) others, (long long) used, (long long) growth),
			 errhint("Delete files with pi.delete_file(), close sessions no longer needed (pi.close_session()), or %s.",
					 raise_hint(t->owner, PI_LIMIT_WORKSPACE_MB))));
}

/*
 * Something other than a write (a load's conversion) starts changing
 * workspace: until pi_tally_run_ended, the tenant's checks walk it.
 */
void
pi_tenant_mark_run(const char *workspace, PiTally *t)
{
	Oid			roleid;

	if (!pi_tally_lookup(workspace, t) || !OidIsValid(roleid = pi_tenant_limited_role(t->owner)))
	{
		memset(t, 0, sizeof(*t));
		return;
	}
	t->roleid = roleid;
	pi_tally_run_started(t);
}

/*
 * Set req's workspace quota to what the session's tenant may still use:
 * its limit less what its other sessions hold, when that is below
 * pi.max_workspace_mb.  Returns false when the tenant's workspaces already
 * hold its limit (the quota is then 1 MB, the least the executor takes).
 * Runs of two sessions of one tenant at once may each use the room left
 * at their start: the limit holds for each run, not for their sum.
 * ts is left holding the figures the quota was set from, t the session
 * for pi_tally_run_started (zeroed when no limit applies).
 */
static bool
workspace_quota(const char *workspace, PiRunRequest *req, PiTally *t, TenantSpace *ts)
{
	int64		room;

	if (!tenant_space(workspace, t, ts))
		return true;
	PG_TRY();
	{
		ts->limit_mb = pi_tenant_limit(t->owner, PI_LIMIT_WORKSPACE_MB);
		ts->others = pi_tally_others(t);
		ts->here = pi_tally_here(t);
	}
	PG_FINALLY();
	{
		pi_tally_unlock(t);
	}
	PG_END_TRY();
	room = ts->limit_mb * MB - ts->others;
	if (room / MB < pi_max_workspace_mb)
	{
		req->workspace_quota_mb = (int) Max(room / MB, 1);
		req->quota_note = psprintf("what tenant \"%s\"'s limit workspace_mb (%d MB across its sessions) leaves beside "
								   "its other sessions' %lld MB; delete files with pi.delete_file() or from Python, "
								   "close sessions no longer needed, or ask an administrator to raise the limit",
								   ts->owner, ts->limit_mb, pi_in_mb(ts->others));
	}
	return ts->others + ts->here < ts->limit_mb * MB;
}

bool
pi_tenant_workspace_quota(const char *workspace, PiRunRequest *req, PiTally *t)
{
	TenantSpace ts;

	return workspace_quota(workspace, req, t, &ts);
}

/*
 * pi_tenant_workspace_quota, failing when the tenant has no room left; the
 * error reports the figures the quota was set from.
 */
void
pi_tenant_require_workspace_room(const char *workspace, PiRunRequest *req, PiTally *t)
{
	TenantSpace ts;

	if (workspace_quota(workspace, req, t, &ts))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DISK_FULL),
			 errmsg("tenant \"%s\"'s workspaces hold %lld MB, its limit workspace_mb is %d MB",
					ts.owner, pi_in_mb(ts.others + ts.here), ts.limit_mb),
			 errdetail("Code runs in its sessions only while they hold less."),
			 errhint("Delete files with pi.delete_file(), close sessions no longer needed (pi.close_session()), or %s.",
					 raise_hint(ts.owner, PI_LIMIT_WORKSPACE_MB))));
}

/*
 * Set the live session kernels role may keep in req, for a run in one of
 * its sessions: its limit max_sessions, or for a superuser, to whom no
 * tenant limit applies, the server's pi.max_sessions.  The executor caps
 * it at pi.max_sessions either way.
 */
void
pi_tenant_session_limit(const char *role, PiRunRequest *req)
{
	req->has_owner_max_sessions = true;
	req->owner_max_sessions = OidIsValid(pi_tenant_limited_role(role)) ?
		pi_tenant_limit(role, PI_LIMIT_SESSIONS) : pi_max_sessions;
}
