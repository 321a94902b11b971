/*-------------------------------------------------------------------------
 *
 * datasets.c
 *	  pi.load_csv: queue the load of a workspace CSV file into a typed
 *	  table of the caller's dataset schema (tenants.c: pi_data, or
 *	  pi_data_<role oid>), and the load itself, run by a job worker.
 *
 * The load happens in one transaction of the worker: the new table is
 * created in it (so COPY FREEZE applies), filled by PostgreSQL's own COPY
 * from the stream csv_load.c feeds, analysed, granted to pi_reader, swapped
 * with the table of an earlier load of the same name, and registered in
 * pi.datasets.  Readers see the old table until that transaction commits,
 * and a failed load leaves nothing behind.
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
#include "datasets.h"
#include "execute.h"
#include "guc.h"
#include "jsonb_util.h"
#include "sessions.h"
#include "shmem.h"
#include "tenants.h"
#include "workspace_path.h"

#define DATASET_NAME_MAX 50

PG_FUNCTION_INFO_V1(pi_load_csv);

static void
checked_dataset_name(const char *name)
{
	size_t		len = strlen(name);
	bool		ok = len > 0 && len <= DATASET_NAME_MAX &&
		((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') || name[0] == '_');

	for (size_t i = 0; ok && i < len; i++)
		ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
			(name[i] >= '0' && name[i] <= '9') || name[i] == '_';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid dataset name \"%s\"", name),
				 errhint("Use 1 to %d letters, digits and underscores, starting with a letter, e.g. 'sales_2024'.",
						 DATASET_NAME_MAX)));
}

static char
option_char(JsonbValue *v, const char *key)
{
	if (v->type == jbvString && v->val.string.len == 1)
		return v->val.string.val[0];
	if (v->type == jbvString && v->val.string.len == 3 &&
		memcmp(v->val.string.val, "tab", 3) == 0)
		return '\t';
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("options.%s must be a single character", key),
			 errhint("For example {\"%s\": \";\"}; \"tab\" means a tab.", key)));
	return 0;
}

static char *
option_text(JsonbValue *v, const char *key)
{
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.%s must be a string", key)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static void
parse_types_option(JsonbValue *v, CsvLoadOptions *o)
{
	JsonbIterator *it;
	JsonbValue	key,
				val;
	JsonbIteratorToken tok;

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.types must be an object of column names and types"),
				 errhint("For example {\"types\": {\"zip\": \"text\", \"amount\": \"numeric\"}}.")));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		char	   *type;

		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &val, true);
		type = option_text(&val, "types");
		if (csv_type_from_sql(type) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.types: unknown type \"%s\" for column \"%.*s\"",
							type, key.val.string.len, key.val.string.val),
					 errhint("Use boolean, integer, bigint, numeric, double precision, date, timestamp, timestamptz or text.")));
		o->type_names = lappend(o->type_names, pnstrdup(key.val.string.val, key.val.string.len));
		o->type_names = lappend(o->type_names, type);
	}
}

/* Read the options object, refusing anything unknown or malformed. */
static void
parse_load_options(Jsonb *options, CsvLoadOptions *o)
{
	JsonbIterator *it;
	JsonbValue	key,
				val;
	JsonbIteratorToken tok;

	memset(o, 0, sizeof(*o));
	o->delimiter = -1;
	o->header = -1;
	o->quote = '"';
	o->escape = 0;
	if (options == NULL)
		goto done;
	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object"),
				 errhint("For example '{\"delimiter\": \";\", \"header\": true}'.")));

	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		char	   *k;

		if (tok != WJB_KEY)
			continue;
		k = pnstrdup(key.val.string.val, key.val.string.len);
		(void) JsonbIteratorNext(&it, &val, true);
		if (strcmp(k, "delimiter") == 0)
			o->delimiter = (unsigned char) option_char(&val, k);
		else if (strcmp(k, "quote") == 0)
			o->quote = option_char(&val, k);
		else if (strcmp(k, "escape") == 0)
			o->escape = option_char(&val, k);
		else if (strcmp(k, "header") == 0)
		{
			if (val.type != jbvBool)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("options.header must be true or false")));
			o->header = val.val.boolean ? 1 : 0;
		}
		else if (strcmp(k, "encoding") == 0)
		{
			char	   *enc = option_text(&val, k);
			int			id = pg_char_to_encoding(enc);

			if (id < 0 || !PG_VALID_ENCODING(id))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("options.encoding: unknown encoding \"%s\"", enc),
						 errhint("Use a PostgreSQL encoding name such as UTF8, LATIN1 or WIN1252.")));
			o->encoding = (id == PG_UTF8) ? NULL : pstrdup(pg_encoding_to_char(id));
		}
		else if (strcmp(k, "on_error") == 0)
		{
			char	   *mode = option_text(&val, k);

			if (strcmp(mode, "skip") != 0 && strcmp(mode, "fail") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("options.on_error must be \"fail\" or \"skip\", not \"%s\"", mode)));
			o->skip_bad_rows = strcmp(mode, "skip") == 0;
		}
		else if (strcmp(k, "types") == 0)
			parse_types_option(&val, o);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown option \"%s\" for pi.load_csv", k),
					 errhint("Known options: delimiter, quote, escape, header, encoding, types, on_error.")));
	}
done:
	if (o->escape == 0)
		o->escape = o->quote;
}

/*
 * Open the CSV file beneath the workspace: a regular file with one name.
 * Called at pi.load_csv and again by the worker, which checks the type on
 * the descriptor it reads: a FIFO swapped in meanwhile is refused, never
 * waited on (rule 10).
 */
static int
open_csv(const char *workspace, const char *path, struct stat *st)
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

/*
 * pi.load_csv(file_path text, dataset_name text, session_id uuid DEFAULT
 * NULL, options jsonb DEFAULT '{}') returns uuid: the id of the load job.
 */
Datum
pi_load_csv(PG_FUNCTION_ARGS)
{
	char	   *path;
	char	   *name;
	Jsonb	   *options = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	CsvLoadOptions parsed;
	char	   *workspace;
	struct stat st;
	Datum		id;
	bool		isnull;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("file_path and dataset_name must not be null"),
				 errhint("Call pi.load_csv('data.csv', 'my_dataset', session_id).")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pi.load_csv needs the session whose workspace holds the file"),
				 errhint("Upload the file with pi.write_file(session_id, ...) and pass the same session_id.")));
	path = text_to_cstring(PG_GETARG_TEXT_PP(0));
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	workspace_check_path(path);
	checked_dataset_name(name);
	parse_load_options(options, &parsed);
	workspace = pi_session_workspace(PG_GETARG_UUID_P(2), true);
	close(open_csv(workspace, path, &st));

	SPI_connect();
	if (SPI_execute_with_args("INSERT INTO pi.jobs (kind, code, timeout_s, session_id, payload, submitted_by)"
							  " VALUES ('load_csv', pg_catalog.format('load_csv %L into %s', $1, $2),"
							  "  $4, $3, pg_catalog.jsonb_build_object('file_path', $1,"
							  "  'dataset_name', pg_catalog.lower($2), 'options', coalesce($5, '{}'::jsonb),"
							  "  'file_bytes', $6::bigint, 'owner', $7,"
							  "  'schema', pi.dataset_schema($7::name)), $7::name)"
							  " RETURNING id",
							  7, (Oid[]) {TEXTOID, TEXTOID, UUIDOID, INT4OID, JSONBOID, INT8OID, TEXTOID},
							  (Datum[]) {CStringGetTextDatum(path), CStringGetTextDatum(name),
								  PG_GETARG_DATUM(2), Int32GetDatum(pi_job_timeout),
								  options ? JsonbPGetDatum(options) : (Datum) 0, Int64GetDatum(st.st_size),
							  CStringGetTextDatum(pi_caller_name())},
							  (char[]) {' ', ' ', ' ', ' ', options ? ' ' : 'n', ' ', ' '},
							  false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not queue the load");
	id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	id = SPI_datumTransfer(id, false, UUID_LEN);
	SPI_finish();

	pi_wake_workers();
	PG_RETURN_DATUM(id);
}

/* ---- the load, in a job worker ------------------------------------------ */

static List *
copy_options(const CsvAnalysis *a, const CsvLoadOptions *o)
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
									 (Node *) makeString((raw && a->header) ? "true" : "false"), -1));
	opts = lappend(opts, makeDefElem("null", (Node *) makeString(""), -1));
	opts = lappend(opts, makeDefElem("freeze", (Node *) makeString("true"), -1));
	if (o->encoding)
		opts = lappend(opts, makeDefElem("encoding", (Node *) makeString(o->encoding), -1));
	return opts;
}

static void
spi_exec(const char *sql, int expected)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "pi.load_csv: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

static char *
create_table_sql(const char *schema, const char *table, const CsvAnalysis *a)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE %s (", quote_qualified_identifier(schema, table));
	for (int i = 0; i < a->ncolumns; i++)
		appendStringInfo(&sql, "%s%s %s", i ? ", " : "",
						 quote_identifier(a->columns[i].name), csv_type_sql(a->columns[i].types));
	appendStringInfoChar(&sql, ')');
	return sql.data;
}

static uint64
copy_into(int fd, const char *schema, const char *table, const CsvAnalysis *a,
		  const CsvLoadOptions *o, CsvProgressFn progress, void *progress_arg)
{
	Oid			relid = RangeVarGetRelid(makeRangeVar((char *) schema, (char *) table, -1),
										 NoLock, false);
	Relation	rel = table_open(relid, RowExclusiveLock);
	ParseState *pstate = make_parsestate(NULL);
	CopyFromState cstate;
	uint64		rows;
	ParseNamespaceItem *nsitem;

	/* COPY's executor state finds the target through the range table */
	nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);
	nsitem->p_rte->requiredPerms = ACL_INSERT;

	csv_feed_begin(fd, a, progress, progress_arg);
	cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, csv_feed_read, NIL,
						   copy_options(a, o));
	rows = CopyFrom(cstate);
	EndCopyFrom(cstate);
	csv_feed_end();
	table_close(rel, NoLock);
	return rows;
}

static char *
columns_json(const CsvAnalysis *a)
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
		escape_json(&buf, csv_type_sql(col->types));
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

/*
 * Create, fill, analyse and swap in the table, and register the dataset,
 * all in the current transaction.  Returns the table's size in bytes.
 */
static int64
load_in_transaction(int fd, const char *owner, const char *schema, const char *name,
					const char *job_id, const char *source,
					const CsvAnalysis *a, const CsvLoadOptions *o,
					CsvProgressFn progress, void *progress_arg, uint64 *rows)
{
	char	   *old_table = NULL;
	char	   *table;
	int64		bytes;
	bool		isnull;
	const char *qname = quote_identifier(name);
	const char *qschema = quote_identifier(schema);

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

	/* a table of that name that the registry does not know is a leftover */
	table = old_table ? psprintf("%s_load_%.8s", name, job_id) : pstrdup(name);
	spi_exec(psprintf("DROP TABLE IF EXISTS %s", quote_qualified_identifier(schema, table)),
			 SPI_OK_UTILITY);
	spi_exec(create_table_sql(schema, table, a), SPI_OK_UTILITY);

	*rows = copy_into(fd, schema, table, a, o, progress, progress_arg);

	spi_exec(psprintf("GRANT SELECT ON %s TO pi_reader", quote_qualified_identifier(schema, table)),
			 SPI_OK_UTILITY);
	spi_exec(psprintf("ANALYZE %s", quote_qualified_identifier(schema, table)), SPI_OK_UTILITY);
	if (old_table)
	{
		spi_exec(psprintf("DROP TABLE %s", quote_qualified_identifier(schema, old_table)),
				 SPI_OK_UTILITY);
		spi_exec(psprintf("ALTER TABLE %s RENAME TO %s",
						  quote_qualified_identifier(schema, table), qname),
				 SPI_OK_UTILITY);
	}

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
								  CStringGetTextDatum(columns_json(a)), CStringGetTextDatum(source),
								  CStringGetTextDatum(job_id), CStringGetTextDatum("{}"),
							  CStringGetTextDatum(owner), CStringGetTextDatum(schema)},
							  NULL, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "pi.load_csv: could not register dataset \"%s\"", name);
	bytes = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
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
load_result_json(const char *schema, const char *name, uint64 rows, int64 file_bytes, int64 table_bytes,
				 const CsvAnalysis *a, const CsvLoadOptions *o,
				 TimestampTz started, TimestampTz analysed)
{
	StringInfoData result;

	initStringInfo(&result);
	appendStringInfoString(&result, "{\"status\": \"completed\", \"dataset\": ");
	escape_json(&result, name);
	appendStringInfo(&result, ", \"table\": ");
	escape_json(&result, quote_qualified_identifier(schema, name));
	appendStringInfo(&result,
					 ", \"rows\": " UINT64_FORMAT ", \"file_bytes\": %lld, \"table_bytes\": %lld"
					 ", \"columns\": %s, \"header\": %s, \"delimiter\": ",
					 rows, (long long) file_bytes, (long long) table_bytes, columns_json(a),
					 a->header ? "true" : "false");
	escape_json(&result, psprintf("%c", a->dialect.delimiter));
	appendStringInfo(&result, ", \"encoding\": ");
	escape_json(&result, o->encoding ? o->encoding : "UTF8");
	appendStringInfo(&result,
					 ", \"rejected_rows\": %lld, \"rejected\": [%s], \"blank_lines\": %lld"
					 ", \"copy_path\": \"%s\", \"analysis_cores\": %d, \"analysis_ms\": %.1f, \"elapsed_ms\": %.1f"
					 ", \"stdout\": \"\", \"stderr\": \"\", \"result\": null, \"error\": null"
					 ", \"figures\": [], \"files\": []}",
					 (long long) a->rejected, a->rejects_json.data, (long long) a->blank_lines,
					 a->needs_rewrite ? "rewrite" : "direct", a->two_cores ? 2 : 1,
					 (double) (analysed - started) / 1000.0,
					 (double) (GetCurrentTimestamp() - started) / 1000.0);
	return result.data;
}

/*
 * Run the load job described by payload_json; called by a job worker with
 * no transaction open.  Returns the job's result as JSON text, allocated in
 * the caller's memory context; errors are thrown (the worker records them
 * as the job's failure) and leave nothing committed.  progress is told how
 * far each pass over the file has come, with progress_arg.
 */
char *
pi_load_csv_run(const char *job_id, const char *workspace, const char *payload_json,
				CsvProgressFn progress, void *progress_arg)
{
	MemoryContext caller = CurrentMemoryContext;
	Jsonb	   *payload;
	JsonbValue *optv;
	Jsonb	   *options = NULL;
	CsvLoadOptions o;
	CsvAnalysis a;
	struct stat st;
	char	   *path;
	char	   *name;
	char	   *owner;
	char	   *schema;
	uint64		rows = 0;
	int64		bytes;
	TimestampTz started = GetCurrentTimestamp();
	TimestampTz analysed;
	char	   *result = NULL;
	int			fd;

	if (workspace == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the session of this load no longer exists"),
				 errhint("Create a session, upload the file again and load it.")));
	payload = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(payload_json)));
	path = payload_text(payload, "file_path");
	name = payload_text(payload, "dataset_name");
	owner = payload_text(payload, "owner");
	schema = payload_text(payload, "schema");
	optv = getKeyJsonValueFromContainer(&payload->root, "options", 7, NULL);
	if (optv && optv->type == jbvBinary)
		options = JsonbValueToJsonb(optv);
	parse_load_options(options, &o);

	memset(&a, 0, sizeof(a));
	/* closed again on every way out */
	fd = open_csv(workspace, path, &st);
	PG_TRY();
	{
		a.file_bytes = st.st_size;
		csv_analyse(fd, &o, &a, progress, progress_arg);
		analysed = GetCurrentTimestamp();

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());

		/*
		 * The analysis (header names converted here included) and the result
		 * outlive the transaction: they are made in the caller's context,
		 * not in TopTransactionContext, which the commit frees.
		 */
		MemoryContextSwitchTo(caller);
		csv_convert_header(&a, &o);
		bytes = load_in_transaction(fd, owner, schema, name, job_id, path, &a, &o, progress, progress_arg,
									&rows);
		/* built before the commit, so that a failure here commits nothing */
		result = load_result_json(schema, name, rows, st.st_size, bytes, &a, &o, started, analysed);
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(caller);
	}
	PG_FINALLY();
	{
		close(fd);
	}
	PG_END_TRY();

	return result;
}
