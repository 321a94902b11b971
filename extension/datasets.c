/*-------------------------------------------------------------------------
 *
 * datasets.c
 *	  The load job of pi.load_csv and pi.load_dataset (queued by
 *	  dataset_queue.c): a workspace file (CSV; or xlsx and JSON Lines,
 *	  converted to CSV first by dataset_convert.c) into a typed table of the
 *	  caller's dataset schema (tenants.c: pi_data, or pi_data_<role oid>),
 *	  run by a job worker.
 *
 * The load happens in one transaction of the worker: the new table is
 * created in it (so COPY FREEZE applies), filled by PostgreSQL's own COPY
 * from the stream csv_load.c feeds, analysed, granted to pi_reader, swapped
 * with the table of an earlier load of the same name, and registered in
 * pi.datasets.  Readers see the old table until that transaction commits,
 * and a failed load leaves nothing behind.
 *
 * A large file that COPY reads as it is goes faster on two backends
 * (load_copy.c): the table is then created and committed beforehand in
 * the private schema pi_staging, a helper loads the second half of the
 * file into it while this transaction loads the first, and the analysed
 * table moves into the dataset schema in this transaction.  The staging
 * table is dropped on every way out (or, after a crash, by the sweep).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "csv_analysis.h"
#include "csv_load.h"
#include "csv_scan.h"
#include "dataset_convert.h"
#include "datasets.h"
#include "execute.h"
#include "guc.h"
#include "jsonb_util.h"
#include "load_copy.h"
#include "load_options.h"
#include "sessions.h"
#include "shmem.h"
#include "tenant_limits.h"
#include "tenants.h"
#include "workspace_path.h"

/*
 * Open the CSV file beneath the workspace: a regular file with one name.
 * Called at pi.load_csv and again by the worker, which checks the type on
 * the descriptor it reads: a FIFO swapped in meanwhile is refused, never
 * waited on (rule 10).
 */
int
dataset_open_file(const char *workspace, const char *path, struct stat *st)
{
	int			rootfd = open(workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int			fd = -1;

	if (rootfd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the session workspace \"%s\": %m", workspace)));
	PG_TRY();
	{
		fd = workspace_open_file(rootfd, path, path, O_RDONLY, 0, "load", false, st);
	}
	PG_FINALLY();
	{
		close(rootfd);
	}
	PG_END_TRY();
	return fd;
}

/* ---- the load, in a job worker ------------------------------------------ */

/*
 * Where the CSV a load reads came from: the file itself, or an xlsx or
 * JSON Lines file converted to it (dataset_convert.c).
 */
typedef struct LoadSource
{
	const char *format;			/* "csv", "xlsx", "jsonl" */
	const char *sheet;			/* xlsx: the sheet loaded */
	int64		file_bytes;		/* of the file the caller named */
	bool	   *jsonb;			/* per column: nested JSON, or NULL */
} LoadSource;

static const char *
column_type_sql(const CsvAnalysis *a, const LoadSource *src, int i)
{
	if (src->jsonb && src->jsonb[i])
		return "jsonb";
	return csv_type_sql(a->columns[i].types);
}

static void
spi_exec(const char *sql, int expected)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "pi.load_csv: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

static char *
create_table_sql(const char *schema, const char *table, const CsvAnalysis *a,
				 const LoadSource *src)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE %s (", quote_qualified_identifier(schema, table));
	for (int i = 0; i < a->ncolumns; i++)
		appendStringInfo(&sql, "%s%s %s", i ? ", " : "",
						 quote_identifier(a->columns[i].name), column_type_sql(a, src, i));
	appendStringInfoChar(&sql, ')');
	return sql.data;
}

static char *
columns_json(const CsvAnalysis *a, const LoadSource *src)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < a->ncolumns; i++)
	{
		const CsvColumn *col = &a->columns[i];

		appendStringInfoString(&buf, i ? ", {\"name\": " : "{\"name\": ");
		escape_json(&buf, col->name);
		appendStringInfoString(&buf, ", \"type\": ");
		escape_json(&buf, column_type_sql(a, src, i));
		appendStringInfoString(&buf, ", \"original\": ");
		if (col->original)
			escape_json(&buf, col->original);
		else
			appendStringInfoString(&buf, "null");
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/* When each phase of a load ended, for the result's split of the time. */
typedef struct LoadTimes
{
	TimestampTz started;
	TimestampTz analysed;
	TimestampTz copied;			/* this process's COPY ended */
	TimestampTz loaded;
	TimestampTz statistics;
	TimestampTz swapped;
	int			cores;			/* backends that ran COPY */
} LoadTimes;

/*
 * Progress of the COPY phase, told to the job's callback as bytes of the
 * file: the job's worker's own and its helper's, scaled to leave the last
 * tenth for the statistics and the swap (which report their start).
 */
typedef struct CopyProgress
{
	CsvProgressFn progress;
	void	   *arg;
	LoadHelper *helper;
	int64		own_done;
	int64		total;
} CopyProgress;

static void
copy_progress_report(CopyProgress *cp)
{
	int64		done = cp->own_done + (cp->helper ? load_helper_bytes(cp->helper) : 0);

	cp->progress((int64) (Min(done, cp->total) * 0.9), cp->total, cp->arg);
}

/* The feed's callback: bytes of the file this process has read. */
static void
copy_progress_own(int64 done, int64 total, void *arg)
{
	CopyProgress *cp = (CopyProgress *) arg;

	cp->own_done = done;
	copy_progress_report(cp);
}

/* While this process waits for its helper. */
static void
copy_progress_helper(int64 done, int64 total, void *arg)
{
	copy_progress_report((CopyProgress *) arg);
}

/*
 * Fill, analyse and swap in the table, and register the dataset, all in
 * the current transaction.  Without staging, the table is created here
 * (COPY FREEZE then applies) and COPY reads the whole file; with it,
 * COPY fills the committed staging table with the first half of the file
 * while helper (if one could be started) loads the second, and the table
 * moves into the tenant's schema once analysed.  Returns the table's size
 * in bytes.
 */
static int64
load_in_transaction(int fd, const char *owner, const char *schema, const char *name,
					const char *job_id, const char *source,
					const CsvAnalysis *a, const CsvLoadOptions *o, const LoadSource *src,
					const char *staging, LoadHelper *helper,
					CsvProgressFn progress, void *progress_arg, uint64 *rows, LoadTimes *times)
{
	char	   *old_table = NULL;
	char	   *table;
	const char *qtable;
	int64		bytes;
	bool		isnull;
	const char *qname = quote_identifier(name);
	const char *qschema = quote_identifier(schema);
	CopyProgress cp = {progress, progress_arg, helper, 0, a->file_bytes};

	SPI_connect();

	/*
	 * A tenant's schema appears with its first dataset, owned by the
	 * service (tenants get no CREATE on it); pi_reader reads it, and
	 * pi.query keeps each tenant to its own.
	 */
	spi_exec(psprintf("CREATE SCHEMA IF NOT EXISTS %s", qschema), SPI_OK_UTILITY);
	spi_exec(psprintf("GRANT USAGE ON SCHEMA %s TO pi_reader", qschema), SPI_OK_UTILITY);
	if (SPI_execute_with_args("SELECT table_name FROM pi.datasets"
							  " WHERE schema_name = $1 AND name = $2 FOR UPDATE",
							  2, (Oid[]) {TEXTOID, TEXTOID},
							  (Datum[]) {CStringGetTextDatum(schema), CStringGetTextDatum(name)},
							  NULL, false, 1) == SPI_OK_SELECT && SPI_processed == 1)
		old_table = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

	if (staging == NULL)
	{
		/* a table of that name that the registry does not know is a leftover */
		table = old_table ? psprintf("%s_load_%.8s", name, job_id) : pstrdup(name);
		qtable = quote_qualified_identifier(schema, table);
		spi_exec(psprintf("DROP TABLE IF EXISTS %s", qtable), SPI_OK_UTILITY);
		spi_exec(create_table_sql(schema, table, a, src), SPI_OK_UTILITY);
		*rows = load_copy_range(fd, schema, table, a, o->encoding, a->bom_bytes, a->file_bytes,
								a->header, copy_progress_own, &cp);
	}
	else
	{
		int64		end = helper ? a->split_offset : a->file_bytes;

		qtable = quote_qualified_identifier(LOAD_STAGING_SCHEMA, staging);
		*rows = load_copy_range(fd, LOAD_STAGING_SCHEMA, staging, a, o->encoding, a->bom_bytes, end,
								a->header, copy_progress_own, &cp);
		cp.own_done = end;
		times->copied = GetCurrentTimestamp();
		if (helper)
			*rows += load_helper_wait(helper, copy_progress_helper, &cp);
	}
	times->loaded = GetCurrentTimestamp();
	if (times->copied == 0)
		times->copied = times->loaded;

	/* the planner has statistics when the job says completed */
	progress((int64) (a->file_bytes * 0.92), a->file_bytes, progress_arg);
	spi_exec(psprintf("GRANT SELECT ON %s TO pi_reader", qtable), SPI_OK_UTILITY);
	spi_exec(psprintf("ANALYZE %s", qtable), SPI_OK_UTILITY);
	times->statistics = GetCurrentTimestamp();

	progress((int64) (a->file_bytes * 0.98), a->file_bytes, progress_arg);
	if (old_table)
		spi_exec(psprintf("DROP TABLE %s", quote_qualified_identifier(schema, old_table)),
				 SPI_OK_UTILITY);
	else if (staging)
		spi_exec(psprintf("DROP TABLE IF EXISTS %s", quote_qualified_identifier(schema, name)),
				 SPI_OK_UTILITY);
	if (staging)
	{
		spi_exec(psprintf("ALTER TABLE %s SET SCHEMA %s", qtable, qschema), SPI_OK_UTILITY);
		spi_exec(psprintf("ALTER TABLE %s RENAME TO %s",
						  quote_qualified_identifier(schema, staging), qname), SPI_OK_UTILITY);
	}
	else if (old_table)
		spi_exec(psprintf("ALTER TABLE %s RENAME TO %s", qtable, qname), SPI_OK_UTILITY);

	if (SPI_execute_with_args("INSERT INTO pi.datasets AS d (owner, schema_name, name, table_name,"
							  "  rows, bytes, columns, source_file, job_id, options, loaded_at)"
							  " VALUES ($7::name, $8, $1, $1, $2, pg_catalog.pg_total_relation_size("
							  "  pg_catalog.format('%I.%I', $8, $1)::regclass), $3::jsonb, $4, $5::uuid,"
							  "  $6::jsonb, now())"
							  " ON CONFLICT (schema_name, name) DO UPDATE SET table_name = excluded.table_name,"
							  "  owner = excluded.owner,"
							  "  rows = excluded.rows, bytes = excluded.bytes, columns = excluded.columns,"
							  "  source_file = excluded.source_file, job_id = excluded.job_id,"
							  "  options = excluded.options, loaded_at = excluded.loaded_at"
							  " RETURNING bytes",
							  8, (Oid[]) {TEXTOID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
								  TEXTOID, TEXTOID},
							  (Datum[]) {CStringGetTextDatum(name), Int64GetDatum((int64) *rows),
								  CStringGetTextDatum(columns_json(a, src)), CStringGetTextDatum(source),
								  CStringGetTextDatum(job_id), CStringGetTextDatum("{}"),
							  CStringGetTextDatum(owner), CStringGetTextDatum(schema)},
							  NULL, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "pi.load_csv: could not register dataset \"%s\"", name);
	bytes = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	/* the new table counts now; over the limit, the error undoes the load */
	pi_tenant_check_datasets(owner, schema, true);
	SPI_finish();
	times->swapped = GetCurrentTimestamp();
	return bytes;
}

static char *
payload_text(Jsonb *payload, const char *key)
{
	char	   *value = pi_jsonb_string(payload, key);

	if (value == NULL)
		elog(ERROR, "pi.load_csv: job payload lacks \"%s\"", key);
	return value;
}

/* The job's result: the dataset, its columns and how the load went. */
static char *
load_result_json(const char *schema, const char *name, uint64 rows, int64 table_bytes,
				 const CsvAnalysis *a, const CsvLoadOptions *o, const LoadSource *src,
				 const LoadTimes *t)
{
	StringInfoData result;

	initStringInfo(&result);
	appendStringInfoString(&result, "{\"status\": \"completed\", \"dataset\": ");
	escape_json(&result, name);
	appendStringInfo(&result, ", \"table\": ");
	escape_json(&result, quote_qualified_identifier(schema, name));
	appendStringInfo(&result,
					 ", \"rows\": " UINT64_FORMAT ", \"file_bytes\": %lld, \"table_bytes\": %lld"
					 ", \"columns\": %s, \"header\": %s, \"format\": ",
					 rows, (long long) src->file_bytes, (long long) table_bytes, columns_json(a, src),
					 a->header ? "true" : "false");
	escape_json(&result, src->format);
	if (src->sheet)
	{
		appendStringInfoString(&result, ", \"sheet\": ");
		escape_json(&result, src->sheet);
	}
	appendStringInfoString(&result, ", \"delimiter\": ");
	escape_json(&result, psprintf("%c", a->dialect.delimiter));
	appendStringInfo(&result, ", \"encoding\": ");
	escape_json(&result, o->encoding ? o->encoding : "UTF8");
	appendStringInfo(&result,
					 ", \"rejected_rows\": %lld, \"rejected\": [%s], \"blank_lines\": %lld"
					 ", \"copy_path\": \"%s\", \"analysis_cores\": %d, \"analysis_ms\": %.1f"
					 ", \"load_cores\": %d, \"load_ms\": %.1f, \"helper_wait_ms\": %.1f"
					 ", \"statistics_ms\": %.1f, \"swap_ms\": %.1f"
					 ", \"elapsed_ms\": %.1f"
					 ", \"stdout\": \"\", \"stderr\": \"\", \"result\": null, \"error\": null"
					 ", \"figures\": [], \"files\": []}",
					 (long long) a->rejected, a->rejects_json.data, (long long) a->blank_lines,
					 a->needs_rewrite ? "rewrite" : "direct", a->two_cores ? 2 : 1,
					 (double) (t->analysed - t->started) / 1000.0,
					 t->cores, (double) (t->loaded - t->analysed) / 1000.0,
					 (double) (t->loaded - t->copied) / 1000.0,
					 (double) (t->statistics - t->loaded) / 1000.0,
					 (double) (t->swapped - t->statistics) / 1000.0,
					 (double) (GetCurrentTimestamp() - t->started) / 1000.0);
	return result.data;
}

/*
 * Analyse the CSV, with an error about "line N" of a converted file told
 * as the row or line of the file the caller named.
 */
static void
analyse_source(int fd, const CsvLoadOptions *o, CsvAnalysis *a, const DatasetConversion *conv,
			   CsvProgressFn progress, void *progress_arg)
{
	MemoryContext ctx = CurrentMemoryContext;
	long long	line;
	int			used;
	ListCell   *lc;

	if (conv == NULL)
	{
		csv_analyse(fd, o, a, progress, progress_arg);
		return;
	}
	PG_TRY();
	{
		csv_analyse(fd, o, a, progress, progress_arg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(ctx);
		edata = CopyErrorData();
		FlushErrorState();
		if (edata->message && sscanf(edata->message, "line %lld%n", &line, &used) == 1)
			edata->message = psprintf("%s %lld%s", conv->where, line + conv->row_offset,
									  edata->message + used);
		ReThrowError(edata);
	}
	PG_END_TRY();

	/* what the source's cell types say and the CSV text cannot */
	foreach(lc, conv->text_columns)
		if (lfirst_int(lc) < a->ncolumns && a->columns[lfirst_int(lc)].override < 0)
			a->columns[lfirst_int(lc)].types = 0;
}

/*
 * In a transaction of its own: drop the job's staging table if it is there
 * (a crashed attempt's, or this attempt's on the way out), and create it
 * afresh when a is given.
 */
static void
staging_transaction(const char *staging, const CsvAnalysis *a, const LoadSource *src)
{
	MemoryContext caller = CurrentMemoryContext;
	const char *qstaging;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	qstaging = quote_qualified_identifier(LOAD_STAGING_SCHEMA, staging);
	/* looked up first: DROP IF EXISTS logs a notice when it is not there */
	if (SPI_execute_with_args("SELECT 1 WHERE pg_catalog.to_regclass($1) IS NOT NULL",
							  1, (Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(qstaging)},
							  NULL, false, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		/*
		 * On the way out this runs with interrupts held (a cancel must not
		 * cut it short), where a lock wait could not be interrupted: a table
		 * someone else holds is left to the rescue sweep.
		 */
		if (a == NULL)
			spi_exec(psprintf("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT", qstaging),
					 SPI_OK_UTILITY);
		spi_exec(psprintf("DROP TABLE IF EXISTS %s", qstaging), SPI_OK_UTILITY);
	}
	if (a)
		spi_exec(create_table_sql(LOAD_STAGING_SCHEMA, staging, a, src), SPI_OK_UTILITY);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
}

/* On the way out of a failed load: a staging table that cannot go now is swept later. */
static void
drop_staging_quietly(const char *staging)
{
	MemoryContext caller = CurrentMemoryContext;

	PG_TRY();
	{
		/*
		 * Held only until it succeeds: an error resets the count itself, so
		 * a RESUME after one would leave interrupts held for good.
		 */
		HOLD_INTERRUPTS();
		staging_transaction(staging, NULL, NULL);
		RESUME_INTERRUPTS();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		MemoryContextSwitchTo(caller);
		ereport(LOG,
				(errmsg("pi.load_csv: could not drop staging table %s.%s; the rescue sweep will: %s",
						LOAD_STAGING_SCHEMA, staging, edata->message)));
	}
	PG_END_TRY();
}

/*
 * The load's main transaction: fill, analyse, swap in and register the
 * table, and build the result; committed here.
 */
static char *
load_and_commit(int fd, const char *job_id, const char *path, const char *owner,
				const char *schema, const char *name, const CsvLoadOptions *o,
				const LoadSource *src, CsvAnalysis *a, const char *staging, LoadHelper *helper,
				CsvProgressFn progress, LoadCommitFn at_commit, void *progress_arg,
				LoadTimes *times)
{
	MemoryContext caller = CurrentMemoryContext;
	uint64		rows = 0;
	int64		bytes;
	char	   *result;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());

	/*
	 * The analysis (header names converted here included) and the result
	 * outlive the transaction: they are made in the caller's context, not
	 * in TopTransactionContext, which the commit frees.
	 */
	MemoryContextSwitchTo(caller);
	csv_convert_header(a, o);
	bytes = load_in_transaction(fd, owner, schema, name, job_id, path, a, o, src, staging, helper,
								progress, progress_arg, &rows, times);
	/* built before the commit, so that a failure here commits nothing */
	result = load_result_json(schema, name, rows, bytes, a, o, src, times);

	/*
	 * The job's end goes into this commit too: a cancel that came before
	 * undoes the load here, and one that comes after finds the job ended.
	 */
	if (at_commit)
		at_commit(result, progress_arg);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
	/* committed, the job's end with it: a cancel from now on is moot */
	QueryCancelPending = false;
	return result;
}

/*
 * Load the analysed file.  A large file that COPY reads as it is, and that
 * the analysis split at a record boundary, is loaded by two backends into
 * a staging table (load_copy.c); which is dropped, and the helper stopped,
 * on every way out of this function.
 */
static char *
load_analysed(int fd, const char *job_id, const char *path, const char *owner,
			  const char *schema, const char *name, const CsvLoadOptions *o,
			  const LoadSource *src, CsvAnalysis *a,
			  CsvProgressFn progress, LoadCommitFn at_commit, void *progress_arg,
			  LoadTimes *times)
{
	MemoryContext caller = CurrentMemoryContext;
	LoadHelper *volatile helper = NULL;
	char	   *staging;
	char	   *result = NULL;

	times->cores = 1;
	if (!a->two_cores || a->needs_rewrite ||
		a->split_offset <= a->bom_bytes || a->split_offset >= a->file_bytes)
		return load_and_commit(fd, job_id, path, owner, schema, name, o, src, a, NULL, NULL,
							   progress, at_commit, progress_arg, times);

	staging = load_staging_table(job_id);
	PG_TRY();
	{
		staging_transaction(staging, a, src);
		helper = load_helper_start(fd, a, o->encoding, staging, job_id);
		times->cores = helper ? 2 : 1;
		result = load_and_commit(fd, job_id, path, owner, schema, name, o, src, a, staging, helper,
								 progress, at_commit, progress_arg, times);
		load_helper_stop(helper);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		MemoryContextSwitchTo(caller);
		/* a cancel (the worker's timer) must not cut the clean-up short */
		HOLD_INTERRUPTS();
		load_helper_stop(helper);
		RESUME_INTERRUPTS();
		drop_staging_quietly(staging);
		ReThrowError(edata);
	}
	PG_END_TRY();
	return result;
}

/*
 * Load the CSV file read_path of the workspace (the caller's file, or its
 * conversion); returns the job's result.
 */
static char *
load_workspace_csv(const char *job_id, const char *workspace, const char *read_path, const char *path,
		  const char *owner, const char *schema, const char *name, const CsvLoadOptions *o,
		  const DatasetConversion *conv, LoadSource *src,
		  CsvProgressFn progress, LoadCommitFn at_commit, void *progress_arg)
{
	LoadTimes	times = {0};
	CsvAnalysis a;
	struct stat st;
	char	   *result = NULL;
	int			fd;

	times.started = GetCurrentTimestamp();
	memset(&a, 0, sizeof(a));
	/* closed again on every way out */
	fd = dataset_open_file(workspace, read_path, &st);
	PG_TRY();
	{
		a.file_bytes = st.st_size;
		if (src->file_bytes < 0)
			src->file_bytes = st.st_size;
		analyse_source(fd, o, &a, conv, progress, progress_arg);
		if (conv && conv->json_columns)
		{
			ListCell   *lc;

			src->jsonb = palloc0(sizeof(bool) * a.ncolumns);
			foreach(lc, conv->json_columns)
				if (lfirst_int(lc) < a.ncolumns && a.columns[lfirst_int(lc)].override < 0)
				{
					src->jsonb[lfirst_int(lc)] = true;
					a.columns[lfirst_int(lc)].types = 0;
				}
		}
		times.analysed = GetCurrentTimestamp();
		result = load_analysed(fd, job_id, path, owner, schema, name, o, src, &a,
							   progress, at_commit, progress_arg, &times);
	}
	PG_FINALLY();
	{
		close(fd);
	}
	PG_END_TRY();
	return result;
}

/* Remove a file the load made at the top of the workspace, if it is there. */
static void
remove_workspace_file(const char *workspace, const char *name)
{
	int			rootfd = open(workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (rootfd < 0)
		return;					/* the session is gone, and its files with it */
	if (unlinkat(rootfd, name, 0) != 0 && errno != ENOENT)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("pi.load_dataset: could not remove \"%s\" in \"%s\": %m", name, workspace)));
	close(rootfd);
}

/*
 * Run the load job described by payload_json; called by a job worker with
 * no transaction open.  Returns the job's result as JSON text, allocated in
 * the caller's memory context; errors are thrown (the worker records them
 * as the job's failure) and leave nothing committed.  progress is told how
 * far each pass over the file has come, with progress_arg; at_commit gets
 * the result, and progress_arg, inside the load's transaction just before
 * its commit.
 *
 * An xlsx or JSON Lines file is first converted, in a sandboxed run, into
 * a CSV beside it named after the job (so that a re-run of the job
 * replaces what a crashed attempt left), which is removed on every way out.
 */
char *
pi_load_csv_run(const char *job_id, const char *workspace, const char *payload_json,
				CsvProgressFn progress, LoadCommitFn at_commit, void *progress_arg)
{
	Jsonb	   *payload;
	JsonbValue *optv;
	Jsonb	   *options = NULL;
	CsvLoadOptions o;
	DatasetConversion conv = {0};
	LoadSource	src = {"csv", NULL, -1, NULL};
	char	   *path;
	char	   *name;
	char	   *owner;
	char	   *schema;
	char	   *format;
	char	   *target;
	char	   *result = NULL;

	if (workspace == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the session of this load no longer exists"),
				 errhint("Create a session, upload the file again and load it.")));
	payload = pi_jsonb_parse(payload_json);
	path = payload_text(payload, "file_path");
	name = payload_text(payload, "dataset_name");
	owner = payload_text(payload, "owner");
	schema = payload_text(payload, "schema");
	optv = getKeyJsonValueFromContainer(&payload->root, "options", 7, NULL);
	if (optv && optv->type == jbvBinary)
		options = JsonbValueToJsonb(optv);
	load_parse_options(options, &o);
	format = pi_jsonb_string(payload, "format");

	if (format == NULL || strcmp(format, "csv") == 0)
		return load_workspace_csv(job_id, workspace, path, path, owner, schema, name, &o, NULL, &src,
						 progress, at_commit, progress_arg);

	src.format = format;
	target = psprintf(".pi_load_%s.csv", job_id);
	PG_TRY();
	{
		struct stat st;

		close(dataset_open_file(workspace, path, &st));
		src.file_bytes = st.st_size;
		remove_workspace_file(workspace, target);
		dataset_convert(job_id, workspace, owner, path, format, pi_jsonb_string(payload, "sheet"),
						target, st.st_size, progress, progress_arg, &conv);
		src.sheet = conv.sheet;
		/* the converter writes plain UTF-8 CSV with a header line */
		o.delimiter = ',';
		o.quote = o.escape = '"';
		o.encoding = NULL;
		if (strcmp(format, "jsonl") == 0)
			o.header = 1;
		result = load_workspace_csv(job_id, workspace, target, path, owner, schema, name, &o, &conv, &src,
						   progress, at_commit, progress_arg);
	}
	PG_FINALLY();
	{
		remove_workspace_file(workspace, target);
	}
	PG_END_TRY();
	return result;
}
