/*-------------------------------------------------------------------------
 *
 * load_copy.c
 *	  The COPY part of a load: a byte range of the CSV file fed to
 *	  PostgreSQL's own COPY, in this process, or in a helper background
 *	  worker that loads the second half of a large file at the same time.
 *
 * PostgreSQL's COPY parses and converts on one core.  When the analysis
 * found a record boundary in the middle of the file (csv_parallel.c) and
 * COPY can read the file as it is, the job's worker loads the first half
 * and a helper, a dynamic background worker, the second, both into one
 * table of the private schema pi_staging that was created and committed
 * beforehand (the helper cannot see a table that another transaction has
 * not committed).  The helper commits its half; the job's worker then
 * analyses the table and moves it into the tenant's schema in the
 * transaction that also loaded its own half, so that readers see the whole
 * table or nothing.
 *
 * What may be left behind: the helper's committed half in pi_staging when
 * the job's transaction does not commit.  The job's worker drops the
 * staging table on every way out it lives through; a crash of either
 * backend restarts the server, and the rescue sweep that every worker runs
 * at start and then every few seconds drops any staging table whose job is
 * not running (load_sweep_staging).
 *
 * The helper is given what it needs in a DSM segment: the database, the
 * job worker's pid and the descriptor of the file it reads (the helper
 * opens /proc/<pid>/fd/<fd>, so both read the same inode the job checked),
 * the range, the dialect and the table.  It reports bytes done for the
 * job's progress, and its end (rows, or its error) there too.  It stops
 * when the job's worker terminates it (cancel, an error) or is gone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/wait_event.h"

#include "csv_load.h"
#include "load_copy.h"
#include "workers.h"

/* the job's worker looks at its helper this often while it waits */
#define HELPER_POLL_MS		100

/* Any constant of ours: one sweep of pi_staging at a time. */
#define SWEEP_LOCK_KEY		1885953907	/* "pi_s" */

typedef enum HelperState
{
	HELPER_RUNNING = 0,
	HELPER_LOADED,				/* its half is committed */
	HELPER_FAILED
} HelperState;

/* The DSM segment shared by the job's worker and its helper. */
typedef struct HelperShared
{
	/* set by the job's worker */
	Oid			database;
	pid_t		leader_pid;
	int			leader_fd;
	dev_t		file_dev;
	ino_t		file_ino;
	int64		start;
	int64		end;
	CsvDialect	dialect;
	char		encoding[NAMEDATALEN];	/* empty: UTF-8 */
	char		table[NAMEDATALEN];
	/* set by the helper */
	pg_atomic_uint64 bytes_done;
	pg_atomic_uint32 state;
	uint64		rows;
	int			sqlerrcode;
	char		message[1024];
	char		detail[512];
	char		hint[512];
	char		context[512];
} HelperShared;

struct LoadHelper
{
	dsm_segment *seg;
	HelperShared *shared;
	BackgroundWorkerHandle *handle;
	int64		split_line;
};

/* The staging table of a job: its id, without dashes. */
char *
load_staging_table(const char *job_id)
{
	StringInfoData name;

	initStringInfo(&name);
	appendStringInfoString(&name, "load_");
	for (const char *p = job_id; *p; p++)
		if (*p != '-')
			appendStringInfoChar(&name, *p);
	return name.data;
}

static List *
copy_options(const CsvAnalysis *a, const char *encoding, bool header)
{
	List	   *opts = NIL;
	bool		raw = !a->needs_rewrite;

	opts = lappend(opts, makeDefElem("format", (Node *) makeString("csv"), -1));
	opts = lappend(opts, makeDefElem("delimiter",
									 (Node *) makeString(psprintf("%c", raw ? a->dialect.delimiter : ',')), -1));
	opts = lappend(opts, makeDefElem("quote",
									 (Node *) makeString(psprintf("%c", raw ? a->dialect.quote : '"')), -1));
	opts = lappend(opts, makeDefElem("escape",
									 (Node *) makeString(psprintf("%c", raw ? a->dialect.escape : '"')), -1));
	opts = lappend(opts, makeDefElem("header",
									 (Node *) makeString((raw && header) ? "true" : "false"), -1));
	opts = lappend(opts, makeDefElem("null", (Node *) makeString(""), -1));
	if (encoding)
		opts = lappend(opts, makeDefElem("encoding", (Node *) makeString((char *) encoding), -1));
	return opts;
}

/*
 * COPY bytes [start, end) of the file into schema.table, in the current
 * transaction; FREEZE when the table was created in it.  Returns the rows.
 */
uint64
load_copy_range(int fd, const char *schema, const char *table, const CsvAnalysis *a,
				const char *encoding, int64 start, int64 end, bool header,
				CsvProgressFn progress, void *progress_arg)
{
	Oid			relid = RangeVarGetRelid(makeRangeVar((char *) schema, (char *) table, -1),
										 NoLock, false);
	Relation	rel = table_open(relid, RowExclusiveLock);
	ParseState *pstate = make_parsestate(NULL);
	CopyFromState cstate;
	uint64		rows;
	ParseNamespaceItem *nsitem;
	List	   *options = copy_options(a, encoding, header);

	/* COPY's executor state finds the target through the range table */
	nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);
	nsitem->p_rte->requiredPerms = ACL_INSERT;
	if (rel->rd_createSubid != InvalidSubTransactionId ||
		rel->rd_firstRelfilenodeSubid != InvalidSubTransactionId)
		options = lappend(options, makeDefElem("freeze", (Node *) makeString("true"), -1));

	csv_feed_begin(fd, a, start, end, progress, progress_arg);
	cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, csv_feed_read, NIL, options);
	rows = CopyFrom(cstate);
	EndCopyFrom(cstate);
	csv_feed_end();
	table_close(rel, NoLock);
	return rows;
}

/* ---- the job's worker's side -------------------------------------------- */

/*
 * Start a helper that loads bytes [a->split_offset, end of file) of the file
 * open as fd into pi_staging.table, which is committed.  Returns NULL when
 * no background worker slot is free: the caller then loads it all.
 */
LoadHelper *
load_helper_start(int fd, const CsvAnalysis *a, const char *encoding, const char *table,
				  const char *job_id)
{
	LoadHelper *h = palloc0(sizeof(LoadHelper));
	BackgroundWorker worker = {0};
	struct stat st;

	if (fstat(fd, &st) != 0)
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not stat the CSV file: %m")));
	h->split_line = a->split_line;
	h->seg = dsm_create(sizeof(HelperShared), 0);
	h->shared = dsm_segment_address(h->seg);
	memset(h->shared, 0, sizeof(HelperShared));
	h->shared->database = MyDatabaseId;
	h->shared->leader_pid = MyProcPid;
	h->shared->leader_fd = fd;
	h->shared->file_dev = st.st_dev;
	h->shared->file_ino = st.st_ino;
	h->shared->start = a->split_offset;
	h->shared->end = a->file_bytes;
	h->shared->dialect = a->dialect;
	strlcpy(h->shared->encoding, encoding ? encoding : "", NAMEDATALEN);
	strlcpy(h->shared->table, table, NAMEDATALEN);
	pg_atomic_init_u64(&h->shared->bytes_done, 0);
	pg_atomic_init_u32(&h->shared->state, HELPER_RUNNING);

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "power_interpreter", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "pi_load_helper_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "pi load helper of job %s", job_id);
	strlcpy(worker.bgw_type, "pi load helper", BGW_MAXLEN);
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(h->seg));
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &h->handle))
	{
		ereport(LOG,
				(errmsg("pi.load_csv: no background worker slot for a second loading process; job %s loads on one",
						job_id),
				 errhint("Raise max_worker_processes to let large loads use two cores.")));
		dsm_detach(h->seg);
		pfree(h);
		return NULL;
	}
	return h;
}

/* Bytes of its half the helper has fed to COPY so far. */
int64
load_helper_bytes(LoadHelper *h)
{
	return (int64) pg_atomic_read_u64(&h->shared->bytes_done);
}

/*
 * The helper's error, raised here: its line numbers counted from the
 * start of the file, as if one COPY had read it all.
 */
static void
raise_helper_error(LoadHelper *h)
{
	HelperShared *sh = h->shared;
	char	   *context = sh->context[0] ? pstrdup(sh->context) : NULL;
	char	   *at = context ? strstr(context, ", line ") : NULL;
	long long	line;
	int			used;

	if (at && sscanf(at, ", line %lld%n", &line, &used) == 1)
		context = psprintf("%.*s, line %lld%s", (int) (at - context), context,
						   line + h->split_line, at + used);
	ereport(ERROR,
			(errcode(sh->sqlerrcode ? sh->sqlerrcode : ERRCODE_INTERNAL_ERROR),
			 errmsg("%s", sh->message),
			 sh->detail[0] ? errdetail("%s", sh->detail) : 0,
			 sh->hint[0] ? errhint("%s", sh->hint) : 0,
			 context ? errcontext("%s (the second half of the file, loaded by a helper process)", context) : 0));
}

/*
 * Wait until the helper has committed its half; returns its rows.  progress
 * is told the helper's bytes while this waits, and may throw to cancel.
 */
uint64
load_helper_wait(LoadHelper *h, CsvProgressFn progress, void *progress_arg)
{
	HelperShared *sh = h->shared;

	for (;;)
	{
		uint32		state = pg_atomic_read_u32(&sh->state);
		pid_t		pid;
		BgwHandleStatus status;

		pg_read_barrier();
		if (state == HELPER_LOADED)
			return sh->rows;
		if (state == HELPER_FAILED)
			raise_helper_error(h);
		status = GetBackgroundWorkerPid(h->handle, &pid);
		if (status == BGWH_STOPPED || status == BGWH_POSTMASTER_DIED)
		{
			/* it may have finished just before it stopped */
			state = pg_atomic_read_u32(&sh->state);
			pg_read_barrier();
			if (state == HELPER_LOADED)
				return sh->rows;
			if (state == HELPER_FAILED)
				raise_helper_error(h);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the second loading process stopped before it loaded its half of the file"),
					 errhint("See the server log for why; load the file again.")));
		}
		if (progress)
			progress(load_helper_bytes(h), sh->end - sh->start, progress_arg);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 HELPER_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Stop the helper if it still runs, wait until it is gone, and release the
 * segment: on every way out of the load.  Its transaction, if it had not
 * committed, is then rolled back.
 */
void
load_helper_stop(LoadHelper *h)
{
	if (h == NULL || h->seg == NULL)
		return;
	if (h->handle)
	{
		pid_t		pid;

		if (GetBackgroundWorkerPid(h->handle, &pid) != BGWH_STOPPED)
		{
			TerminateBackgroundWorker(h->handle);
			(void) WaitForBackgroundWorkerShutdown(h->handle);
		}
	}
	dsm_detach(h->seg);
	h->seg = NULL;
	h->handle = NULL;
}

/* ---- the helper ----------------------------------------------------------- */

static void
helper_progress(int64 done, int64 total, void *arg)
{
	HelperShared *sh = (HelperShared *) arg;

	pg_atomic_write_u64(&sh->bytes_done, (uint64) Max(done - sh->start, 0));
	/* the job's worker stops us on every way out; this covers its death */
	if (kill(sh->leader_pid, 0) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("the job worker of this load is gone")));
}

static int
helper_open_file(HelperShared *sh)
{
	char		path[64];
	struct stat st;
	int			fd;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int) sh->leader_pid, sh->leader_fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the job worker's CSV file through \"%s\": %m", path)));
	if (fstat(fd, &st) != 0 || st.st_dev != sh->file_dev || st.st_ino != sh->file_ino)
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the job worker's CSV file changed under the load")));
	}
	return fd;
}

/*
 * A helper: COPY bytes [start, end) into pi_staging.table in a transaction
 * of its own, commit, and say so.
 */
void
pi_load_helper_main(Datum main_arg)
{
	dsm_segment *seg;
	HelperShared *sh;
	CsvAnalysis a;
	int			fd;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "pi load helper");
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		proc_exit(1);			/* the job's worker gave up already */
	dsm_pin_mapping(seg);
	sh = dsm_segment_address(seg);
	BackgroundWorkerInitializeConnectionByOid(sh->database, InvalidOid, 0);
	pgstat_report_appname("pi load helper");

	memset(&a, 0, sizeof(a));
	a.dialect = sh->dialect;
	a.file_bytes = sh->end;

	PG_TRY();
	{
		uint64		rows;

		fd = helper_open_file(sh);
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, psprintf("pi load helper: loading into %s.%s",
													   LOAD_STAGING_SCHEMA, sh->table));
		rows = load_copy_range(fd, LOAD_STAGING_SCHEMA, sh->table, &a,
							   sh->encoding[0] ? sh->encoding : NULL, sh->start, sh->end,
							   false, helper_progress, sh);
		PopActiveSnapshot();
		CommitTransactionCommand();
		close(fd);
		sh->rows = rows;
		pg_atomic_write_u64(&sh->bytes_done, (uint64) (sh->end - sh->start));
		pg_write_barrier();
		pg_atomic_write_u32(&sh->state, HELPER_LOADED);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		sh->sqlerrcode = edata->sqlerrcode;
		strlcpy(sh->message, edata->message ? edata->message : "unknown error", sizeof(sh->message));
		strlcpy(sh->detail, edata->detail ? edata->detail : "", sizeof(sh->detail));
		strlcpy(sh->hint, edata->hint ? edata->hint : "", sizeof(sh->hint));
		strlcpy(sh->context, edata->context ? edata->context : "", sizeof(sh->context));
		pg_write_barrier();
		pg_atomic_write_u32(&sh->state, HELPER_FAILED);
		RESUME_INTERRUPTS();
		PG_RE_THROW();
	}
	PG_END_TRY();
	proc_exit(0);
}

/* ---- the sweep ------------------------------------------------------------ */

/*
 * Drop the staging tables whose job is not running in this server
 * generation (its worker failed to drop it, or a crash ended it); in the
 * caller's transaction, with SPI connected.  A table is dropped by its
 * oid: a re-run of the same job may have replaced it by a table of the
 * same name meanwhile, which is not ours to drop.  Each drop is tried in a
 * subtransaction of its own: a table that cannot be dropped now (locked)
 * is left for the next sweep and holds up nothing else.
 */
void
load_sweep_staging(int64 boot_id)
{
	MemoryContext ctx = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	List	   *tables = NIL;
	ListCell   *lc;
	bool		isnull;

	if (SPI_execute("SELECT pg_catalog.pg_try_advisory_xact_lock(" CppAsString2(SWEEP_LOCK_KEY) ")",
					false, 1) != SPI_OK_SELECT || SPI_processed != 1 ||
		!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		return;					/* another worker sweeps now */
	if (SPI_execute_with_args("SELECT c.oid FROM pg_catalog.pg_class c"
							  " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
							  " WHERE n.nspname = '" LOAD_STAGING_SCHEMA "' AND c.relkind = 'r'"
							  " AND NOT EXISTS (SELECT 1 FROM pi.jobs j WHERE j.status = 'running'"
							  "   AND j.worker_boot = $1"
							  "   AND 'load_' || pg_catalog.replace(j.id::text, '-', '') = c.relname)"
							  " ORDER BY c.oid",
							  1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(boot_id)},
							  NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "pi worker: listing staging tables failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(ctx);

		tables = lappend_oid(tables, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																	SPI_tuptable->tupdesc, 1, &isnull)));
		MemoryContextSwitchTo(old);
	}
	if (tables == NIL)
		return;
	(void) SPI_execute("SET LOCAL lock_timeout = '1s'", false, 0);
	foreach(lc, tables)
	{
		Oid			relid = lfirst_oid(lc);

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(ctx);
		PG_TRY();
		{
			ObjectAddress object = {RelationRelationId, relid, 0};
			bool		dropped = false;

			LockRelationOid(relid, AccessExclusiveLock);
			if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			{
				performDeletion(&object, DROP_RESTRICT, 0);
				dropped = true;
			}
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(ctx);
			CurrentResourceOwner = owner;
			if (dropped)
				ereport(LOG,
						(errmsg("pi worker: dropped staging table %u of %s, a load that did not finish",
								relid, LOAD_STAGING_SCHEMA)));
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(ctx);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(ctx);
			CurrentResourceOwner = owner;
			ereport(LOG,
					(errmsg("pi worker: could not drop staging table %u of %s yet: %s",
							relid, LOAD_STAGING_SCHEMA, edata->message)));
			FreeErrorData(edata);
		}
		PG_END_TRY();
	}
}
