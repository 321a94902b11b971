/*-------------------------------------------------------------------------
 *
 * workspace_tally.c
 *	  What each tenant's session workspaces hold, kept in shared memory, so
 *	  that the tenant limit workspace_mb costs a write or a run one lookup
 *	  instead of a walk of every file of every session of the tenant.
 *
 * Each session has a recorded size, and each tenant the sum of its
 * sessions'.  Everything that changes a workspace records its new size:
 * pi.write_file (the size it measured plus what it wrote), pi.delete_file
 * (less what it removed), the end of a run in the session (measured then:
 * a kernel runs only during its cells, frozen between them, executor/
 * kernel_io.c) and pi.close_session (the session leaves the tally).  A
 * load job, whose conversion writes a CSV into the workspace and removes it,
 * counts as a run.
 *
 * A recorded size is trusted only while nothing may be changing it
 * unseen.  A session with a run going, or whose write or run failed
 * half-way ("stale"), is "unsettled": whoever needs its size walks it
 * afresh, as before.  So a write next to a running session sees what the
 * run has written so far, exactly as the full walk did.
 *
 * Races: every check, write, recount and run-end measurement of a tenant
 * happens under the tenant's tally lock (a session-level lock of the lock
 * manager, released on every way out), so two writes of one tenant are
 * checked one after the other, the second counting the first's bytes.
 * The LWLock guards only the hash tables, never a walk.
 *
 * When the bookkeeping cannot be trusted it is redone by a full walk of
 * the tenant's sessions (a recount): when the tenant has no tally yet
 * (first use, or after a restart, which starts shared memory afresh), and
 * at the first check after pi.tenant_workspace_recount_s (0: at every
 * check, the cost of the old way), which catches what the tally cannot
 * see (files changed by hand, a backend gone without its run's end).  When
 * the tables are full the tenant is counted by a full walk at every check.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "kept_plans.h"
#include "workspace_path.h"
#include "workspace_tally.h"

/* the last field of the tally lock's tag (tenant_limits.c has the others) */
#define LOCK_TALLY				0x5057

/* what shared memory holds at most; beyond, tenants are walked at each check */
#define TALLY_MAX_TENANTS		1024
#define TALLY_MAX_SESSIONS		32768

/* runs one process may have going at once (nested pi.execute calls) */
#define TALLY_LOCAL_RUNS		8

typedef struct TallyKey
{
	Oid			dbid;
	Oid			roleid;
} TallyKey;

typedef struct TallyTenant
{
	TallyKey	key;
	bool		complete;		/* every session of the tenant is recorded */
	TimestampTz counted_at;		/* its last recount */
	int64		total;			/* the sum of its sessions' bytes */
	int			unsettled;		/* its sessions with a run going or stale */
} TallyTenant;

typedef struct TallySession
{
	pg_uuid_t	id;
	TallyKey	tenant;
	int64		bytes;
	int			runs;			/* runs going in it (a default session's may
								 * overlap) */
	bool		stale;			/* a write or run failed: walk it to know */
	bool		seen;			/* found by the recount under way */
} TallySession;

/* a session's bytes from a walk, when shared memory cannot keep them */
typedef struct TallyCount
{
	pg_uuid_t	id;
	int64		bytes;
} TallyCount;

static LWLock *tally_lock = NULL;
static HTAB *tally_tenants = NULL;
static HTAB *tally_sessions = NULL;

static pg_uuid_t local_runs[TALLY_LOCAL_RUNS];
static int	n_local_runs = 0;
static bool exit_callback_registered = false;

void
pi_tally_shmem_request(void)
{
	RequestAddinShmemSpace(add_size(hash_estimate_size(TALLY_MAX_TENANTS, sizeof(TallyTenant)),
									hash_estimate_size(TALLY_MAX_SESSIONS, sizeof(TallySession))));
	RequestNamedLWLockTranche("pi_workspace_tally", 1);
}

/* Called from the shared memory startup hook, under AddinShmemInitLock. */
void
pi_tally_shmem_init(void)
{
	HASHCTL		info;

	tally_lock = &(GetNamedLWLockTranche("pi_workspace_tally"))->lock;
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(TallyKey);
	info.entrysize = sizeof(TallyTenant);
	tally_tenants = ShmemInitHash("pi workspace tally tenants", TALLY_MAX_TENANTS,
								  TALLY_MAX_TENANTS, &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	info.keysize = sizeof(pg_uuid_t);
	info.entrysize = sizeof(TallySession);
	tally_sessions = ShmemInitHash("pi workspace tally sessions", TALLY_MAX_SESSIONS,
								   TALLY_MAX_SESSIONS, &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
}

static bool
unsettled(const TallySession *s)
{
	return s->runs > 0 || s->stale;
}

static TallyKey
tally_key(Oid roleid)
{
	TallyKey	key;

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.roleid = roleid;
	return key;
}

/* Change a session's figures and its tenant's sums with them (LWLock held). */
static void
session_change(TallySession *s, int64 bytes, int runs_delta, bool stale)
{
	TallyTenant *tn = hash_search(tally_tenants, &s->tenant, HASH_FIND, NULL);
	bool		was = unsettled(s);

	if (tn != NULL)
		tn->total += bytes - s->bytes;
	s->bytes = bytes;
	s->runs = Max(s->runs + runs_delta, 0);
	s->stale = stale;
	if (tn != NULL)
		tn->unsettled += (int) unsettled(s) - (int) was;
}

/* Take a session out of its tenant's sums, and out of the table. */
static void
session_remove(TallySession *s)
{
	session_change(s, 0, -s->runs, false);
	hash_search(tally_sessions, &s->id, HASH_REMOVE, NULL);
}

/*
 * The entry of session id of tenant key, made (empty) when missing; NULL
 * when the table is full.  LWLock held exclusively.
 */
static TallySession *
session_entry(const TallyKey *key, const pg_uuid_t *id)
{
	bool		found;
	TallySession *s = hash_search(tally_sessions, id, HASH_ENTER_NULL, &found);

	if (s == NULL)
		return NULL;
	if (found && memcmp(&s->tenant, key, sizeof(TallyKey)) != 0)
	{
		/* the session changed hands: out of its former tenant's sums */
		session_change(s, 0, -s->runs, false);
		found = false;
	}
	if (!found)
	{
		s->tenant = *key;
		s->bytes = 0;
		s->runs = 0;
		s->stale = false;
		s->seen = false;
	}
	return s;
}

/* The session of t as the tally has it, or NULL (LWLock held). */
static TallySession *
find_session(const PiTally *t)
{
	TallyKey	key = tally_key(t->roleid);
	TallySession *s = hash_search(tally_sessions, &t->session, HASH_FIND, NULL);

	return s != NULL && memcmp(&s->tenant, &key, sizeof(key)) == 0 ? s : NULL;
}

/*
 * The session whose workspace this is, and its owner, into t; false when
 * no session has it.  Not read-only: a session made earlier in the same
 * statement (pi.write_file(pi.create_session(), ...)) must be found, or
 * its writes would escape the limit.
 */
bool
pi_tally_lookup(const char *workspace, PiTally *t)
{
	static SPIPlanPtr plan = NULL;
	static Oid	argtypes[] = {TEXTOID};
	MemoryContext outer = CurrentMemoryContext;
	bool		found = false;

	memset(t, 0, sizeof(*t));
	if (workspace == NULL)
		return false;
	SPI_connect();
	if (SPI_execute_plan(pi_kept_plan(&plan,
									  "SELECT id, owner::text FROM pi.sessions WHERE workspace = $1 LIMIT 1",
									  1, argtypes),
						 (Datum[]) {CStringGetTextDatum(workspace)},
						 NULL, false, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;
		MemoryContext spi = MemoryContextSwitchTo(outer);

		t->session = *DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
		t->owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		t->workspace = pstrdup(workspace);
		MemoryContextSwitchTo(spi);
		found = true;
	}
	SPI_finish();
	return found;
}

/*
 * Walk every session of t's tenant: into t->counted, and, when store, into
 * the tally if shared memory can hold them all (then t->counted is
 * emptied).
 */
static void
recount(PiTally *t, bool store)
{
	static SPIPlanPtr plan = NULL;
	static Oid	argtypes[] = {NAMEOID};
	MemoryContext outer = CurrentMemoryContext;
	List	   *paths = NIL;
	ListCell   *lc;
	int			i = 0;
	TallyKey	key = tally_key(t->roleid);
	TallyTenant *tn;
	HASH_SEQ_STATUS seq;
	TallySession *s;
	bool		complete = true;

	list_free_deep(t->counted);
	t->counted = NIL;
	t->walked = true;
	SPI_connect();
	if (SPI_execute_plan(pi_kept_plan(&plan, "SELECT id, workspace FROM pi.sessions WHERE owner = $1",
									  1, argtypes),
						 (Datum[]) {DirectFunctionCall1(namein, CStringGetDatum(t->owner))},
						 NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the sessions of tenant \"%s\"", t->owner);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		MemoryContext spi = MemoryContextSwitchTo(outer);
		TallyCount *c = palloc(sizeof(TallyCount));

		c->id = *DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		t->counted = lappend(t->counted, c);
		paths = lappend(paths, SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2));
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	foreach(lc, paths)
		((TallyCount *) list_nth(t->counted, i++))->bytes = workspace_path_bytes(lfirst(lc));
	list_free_deep(paths);
	if (!store || tally_lock == NULL)
		return;

	LWLockAcquire(tally_lock, LW_EXCLUSIVE);
	tn = hash_search(tally_tenants, &key, HASH_ENTER_NULL, NULL);
	if (tn == NULL)
	{
		LWLockRelease(tally_lock);
		return;
	}
	hash_seq_init(&seq, tally_sessions);
	while ((s = hash_seq_search(&seq)) != NULL)
		if (memcmp(&s->tenant, &key, sizeof(key)) == 0)
			s->seen = false;
	foreach(lc, t->counted)
	{
		TallyCount *c = lfirst(lc);

		s = session_entry(&key, &c->id);
		if (s == NULL)
		{
			complete = false;
			continue;
		}
		s->bytes = c->bytes;
		s->stale = false;
		s->seen = true;
	}
	/* the sums afresh, and sessions gone since (unless a run still holds them) */
	tn->total = 0;
	tn->unsettled = 0;
	hash_seq_init(&seq, tally_sessions);
	while ((s = hash_seq_search(&seq)) != NULL)
	{
		if (memcmp(&s->tenant, &key, sizeof(key)) != 0)
			continue;
		if (!s->seen && s->runs == 0)
		{
			hash_search(tally_sessions, &s->id, HASH_REMOVE, NULL);
			continue;
		}
		tn->total += s->bytes;
		tn->unsettled += unsettled(s) ? 1 : 0;
	}
	tn->complete = complete;
	tn->counted_at = GetCurrentTimestamp();
	LWLockRelease(tally_lock);
	if (complete)
	{
		list_free_deep(t->counted);
		t->counted = NIL;
		t->walked = false;
	}
}

/* Whether t's tenant has a tally recent enough to trust. */
static bool
counted_recently(const PiTally *t)
{
	TallyKey	key = tally_key(t->roleid);
	TallyTenant *tn;
	bool		recent;

	if (tally_lock == NULL || pi_tenant_workspace_recount_s == 0)
		return false;
	LWLockAcquire(tally_lock, LW_SHARED);
	tn = hash_search(tally_tenants, &key, HASH_FIND, NULL);
	recent = tn != NULL && tn->complete &&
		!TimestampDifferenceExceeds(tn->counted_at, GetCurrentTimestamp(),
									pi_tenant_workspace_recount_s * 1000);
	LWLockRelease(tally_lock);
	return recent;
}

static void
lock_tenant(PiTally *t)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, t->roleid, 0, LOCK_TALLY);
	(void) LockAcquire(&tag, ExclusiveLock, true, false);
	t->locked = true;
}

/*
 * Take the tally lock of t's tenant (role roleid), recounting it when its
 * tally cannot be trusted.  Held until pi_tally_unlock or pi_tally_abandon,
 * which the caller must reach on every way out (PG_TRY).
 */
void
pi_tally_lock(PiTally *t, Oid roleid)
{
	t->roleid = roleid;
	lock_tenant(t);
	PG_TRY();
	{
		if (!counted_recently(t))
			recount(t, true);
	}
	PG_CATCH();
	{
		pi_tally_unlock(t);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

void
pi_tally_unlock(PiTally *t)
{
	LOCKTAG		tag;

	if (!t->locked)
		return;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, t->roleid, 0, LOCK_TALLY);
	LockRelease(&tag, ExclusiveLock, true);
	t->locked = false;
}

/*
 * A write failed while holding the lock: its session's size is not known
 * any more (a part may have been written), so it is walked when next
 * needed.  Only flags and a lock release: safe in an error's cleanup.
 */
void
pi_tally_abandon(PiTally *t)
{
	if (t->locked && tally_lock != NULL)
	{
		TallySession *s;

		LWLockAcquire(tally_lock, LW_EXCLUSIVE);
		if ((s = find_session(t)) != NULL)
			session_change(s, s->bytes, 0, true);
		LWLockRelease(tally_lock);
	}
	pi_tally_unlock(t);
}

/* The bytes t->counted has for session id; -1 when it has none. */
static int64
counted_bytes(const PiTally *t, const pg_uuid_t *id)
{
	ListCell   *lc;

	foreach(lc, t->counted)
		if (memcmp(&((TallyCount *) lfirst(lc))->id, id, sizeof(pg_uuid_t)) == 0)
			return ((TallyCount *) lfirst(lc))->bytes;
	return -1;
}

/*
 * Walk the unsettled sessions ids[0..n) of t's tenant; the result replaces
 * their recorded bytes in the sum.  Those with no run going are recorded,
 * settled again: no run can start in them while the caller holds the lock.
 */
static int64
walk_unsettled(PiTally *t, pg_uuid_t *ids, int n)
{
	Datum	   *elems = palloc(n * sizeof(Datum));
	int64		sum = 0;
	TallyKey	key = tally_key(t->roleid);

	for (int i = 0; i < n; i++)
		elems[i] = UUIDPGetDatum(&ids[i]);
	SPI_connect();
	if (SPI_execute_with_args("SELECT id, workspace FROM pi.sessions WHERE id = ANY($1)",
							  1, (Oid[]) {UUIDARRAYOID},
							  (Datum[]) {PointerGetDatum(construct_array(elems, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR))},
							  NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the sessions of tenant \"%s\"", t->owner);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		pg_uuid_t	id = *DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		int64		bytes = workspace_path_bytes(SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2));
		TallySession *s;

		sum += bytes;
		LWLockAcquire(tally_lock, LW_EXCLUSIVE);
		s = hash_search(tally_sessions, &id, HASH_FIND, NULL);
		if (s != NULL && s->runs == 0 && memcmp(&s->tenant, &key, sizeof(key)) == 0)
			session_change(s, bytes, 0, false);
		LWLockRelease(tally_lock);
	}
	SPI_finish();
	return sum;
}

/*
 * What the other sessions of t's tenant hold (all of them for a t with no
 * session, as pi_tally_tenant_bytes makes): their recorded sum, with the
 * unsettled ones walked.  The lock must be held.
 */
int64
pi_tally_others(PiTally *t)
{
	TallyKey	key = tally_key(t->roleid);
	TallyTenant *tn;
	TallySession *s;
	int64		others;
	int			n = 0;
	pg_uuid_t  *ids = NULL;

	Assert(t->locked);
	if (t->walked)
	{
		ListCell   *lc;

		others = 0;
		foreach(lc, t->counted)
			if (memcmp(&((TallyCount *) lfirst(lc))->id, &t->session, sizeof(pg_uuid_t)) != 0)
				others += ((TallyCount *) lfirst(lc))->bytes;
		return others;
	}
	LWLockAcquire(tally_lock, LW_SHARED);
	tn = hash_search(tally_tenants, &key, HASH_FIND, NULL);
	Assert(tn != NULL);			/* made by the recount, never removed */
	s = find_session(t);
	others = tn->total - (s != NULL ? s->bytes : 0);
	if (tn->unsettled - (s != NULL && unsettled(s) ? 1 : 0) > 0)
	{
		HASH_SEQ_STATUS seq;
		TallySession *r;
		int			room = tn->unsettled;

		ids = palloc(room * sizeof(pg_uuid_t));
		hash_seq_init(&seq, tally_sessions);
		while ((r = hash_seq_search(&seq)) != NULL)
		{
			if (r == s || !unsettled(r) || memcmp(&r->tenant, &key, sizeof(key)) != 0)
				continue;
			if (n < room)
			{
				others -= r->bytes;
				ids[n++] = r->id;
			}
		}
	}
	LWLockRelease(tally_lock);
	if (n > 0)
		others += walk_unsettled(t, ids, n);
	return others;
}

/*
 * What t's own session holds: its recorded bytes when settled, else a walk
 * (recorded when no run is going in it).  The lock must be held.
 */
int64
pi_tally_here(PiTally *t)
{
	TallySession *s;
	int64		bytes = -1;
	bool		record = true;

	Assert(t->locked);
	if (t->walked)
		bytes = counted_bytes(t, &t->session);
	else
	{
		LWLockAcquire(tally_lock, LW_SHARED);
		s = find_session(t);
		if (s != NULL && !unsettled(s))
			bytes = s->bytes;
		record = s == NULL || s->runs == 0;
		LWLockRelease(tally_lock);
	}
	if (bytes >= 0)
		return bytes;
	bytes = workspace_path_bytes(t->workspace);
	if (record)
		pi_tally_record(t, bytes);
	return bytes;
}

/* t's session now holds bytes (the lock held, or the session just made). */
void
pi_tally_record(PiTally *t, int64 bytes)
{
	TallyKey	key = tally_key(t->roleid);
	TallyTenant *tn;
	TallySession *s;

	if (t->owner == NULL || tally_lock == NULL || t->walked)
		return;
	LWLockAcquire(tally_lock, LW_EXCLUSIVE);
	tn = hash_search(tally_tenants, &key, HASH_FIND, NULL);
	if (tn != NULL)
	{
		s = session_entry(&key, &t->session);
		if (s == NULL)
			tn->complete = false;	/* recounted at the next check */
		else
			session_change(s, bytes, 0, false);
	}
	LWLockRelease(tally_lock);
}

/* t's session lost delta bytes (a file deleted); the lock held. */
void
pi_tally_adjust(PiTally *t, int64 delta)
{
	TallySession *s;

	if (t->owner == NULL || tally_lock == NULL)
		return;
	LWLockAcquire(tally_lock, LW_EXCLUSIVE);
	if ((s = find_session(t)) != NULL)
		session_change(s, Max(s->bytes + delta, 0), 0, s->stale);
	LWLockRelease(tally_lock);
}

/* A process that exits with runs going leaves their sessions to be walked. */
static void
tally_at_exit(int code, Datum arg)
{
	if (tally_lock == NULL || n_local_runs == 0)
		return;
	if (LWLockHeldByMe(tally_lock))
		LWLockRelease(tally_lock);
	LWLockAcquire(tally_lock, LW_EXCLUSIVE);
	for (int i = 0; i < n_local_runs; i++)
	{
		TallySession *s = hash_search(tally_sessions, &local_runs[i], HASH_FIND, NULL);

		if (s != NULL)
			session_change(s, s->bytes, -1, true);
	}
	n_local_runs = 0;
	LWLockRelease(tally_lock);
}

/*
 * A run starts in t's session: until it ends, the session is walked
 * whenever its size is needed.  The caller must reach pi_tally_run_ended.
 */
void
pi_tally_run_started(PiTally *t)
{
	TallyKey	key = tally_key(t->roleid);
	TallySession *s;

	if (t->owner == NULL || tally_lock == NULL)
		return;
	if (!exit_callback_registered)
	{
		before_shmem_exit(tally_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}
	LWLockAcquire(tally_lock, LW_EXCLUSIVE);
	s = session_entry(&key, &t->session);
	if (s != NULL && n_local_runs < TALLY_LOCAL_RUNS)
	{
		session_change(s, s->bytes, 1, s->stale);
		local_runs[n_local_runs++] = t->session;
		t->run_going = true;
	}
	else if (s == NULL)
	{
		TallyTenant *tn = hash_search(tally_tenants, &key, HASH_FIND, NULL);

		if (tn != NULL)
			tn->complete = false;	/* untracked run: walk it all */
	}
	LWLockRelease(tally_lock);
}

/* One run fewer in t's session, which now holds bytes (-1: as recorded). */
static void
run_ended_as(PiTally *t, int64 bytes, bool stale)
{
	TallySession *s;

	LWLockAcquire(tally_lock, LW_EXCLUSIVE);
	if ((s = find_session(t)) != NULL)
		session_change(s, bytes >= 0 ? bytes : s->bytes, -1, stale);
	LWLockRelease(tally_lock);
}

/*
 * The run of t's session has ended.  measure: its workspace is measured
 * now, under the tenant's lock, and recorded; otherwise (an error's
 * cleanup, where no walk should run) it is only marked stale.
 */
void
pi_tally_run_ended(PiTally *t, bool measure)
{
	if (!t->run_going)
		return;
	t->run_going = false;
	for (int i = 0; i < n_local_runs; i++)
		if (memcmp(&local_runs[i], &t->session, sizeof(pg_uuid_t)) == 0)
		{
			local_runs[i] = local_runs[--n_local_runs];
			break;
		}
	if (measure)
	{
		/* a cancel while waiting for the lock still ends the run, stale */
		PG_TRY();
		{
			lock_tenant(t);
			run_ended_as(t, workspace_path_bytes(t->workspace), false);
		}
		PG_CATCH();
		{
			run_ended_as(t, -1, true);
			pi_tally_unlock(t);
			PG_RE_THROW();
		}
		PG_END_TRY();
		pi_tally_unlock(t);
	}
	else
		run_ended_as(t, -1, true);
}

/* The session is closed: its workspace is gone, and out of the tally. */
void
pi_tally_forget(const pg_uuid_t *session)
{
	TallySession *s;

	if (tally_lock == NULL)
		return;
	LWLockAcquire(tally_lock, LW_EXCLUSIVE);
	if ((s = hash_search(tally_sessions, session, HASH_FIND, NULL)) != NULL)
		session_remove(s);
	LWLockRelease(tally_lock);
}

/*
 * What all of role's session workspaces hold: from its tally when tracked
 * (a role the limit applies to), else by a walk of them all.
 */
int64
pi_tally_tenant_bytes(const char *role, Oid roleid, bool tracked)
{
	PiTally		t;
	int64		bytes = 0;

	memset(&t, 0, sizeof(t));	/* no session: the all-zero id is none's */
	t.owner = pstrdup(role);
	t.roleid = roleid;
	if (!tracked)
	{
		ListCell   *lc;

		recount(&t, false);
		foreach(lc, t.counted)
			bytes += ((TallyCount *) lfirst(lc))->bytes;
		return bytes;
	}
	pi_tally_lock(&t, roleid);
	PG_TRY();
	{
		bytes = pi_tally_others(&t);
	}
	PG_FINALLY();
	{
		pi_tally_unlock(&t);
	}
	PG_END_TRY();
	return bytes;
}
