/*-------------------------------------------------------------------------
 *
 * query.c
 *	  pi.query: read-only SQL over the datasets of schema pi_data.
 *
 * SELECT-only by construction, not by pattern matching (DESIGN.md rule 4).
 * The text is prepared through SPI and the analysed tree that SPI will run
 * is inspected: exactly one statement, a plain SELECT (no SELECT INTO, no
 * utility command, no data-modifying CTE, no FOR UPDATE/SHARE), every table
 * in schema pi_data, and no volatile function outside a short allow-list
 * (which refuses nextval, set_config, pg_terminate_backend, lo_export,
 * dblink and the like).  It then runs with the transaction marked
 * read-only, as the NOLOGIN role pi_reader that can only SELECT pi_data,
 * in a security-restricted operation, with search_path pinned to pi_data
 * and its own timeout (pi.query_timeout).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/plancache.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"

#include "pi.h"

#define QUERY_SCHEMA	"pi_data"
#define QUERY_ROLE		"pi_reader"

PG_FUNCTION_INFO_V1(pi_query);

static TimeoutId query_timeout_id = MAX_TIMEOUTS;
static volatile sig_atomic_t query_timed_out = false;

/* Volatile functions that read nothing and change nothing. */
static const char *const allowed_volatile[] = {
	"random", "clock_timestamp", "timeofday", "pg_sleep", "gen_random_uuid",
	"pg_sleep_for", "pg_sleep_until", NULL
};

static void
refuse(const char *what, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("pi.query only runs a single read-only SELECT: %s", what),
			 errhint("%s", hint)));
}

static bool
check_function(Oid funcid, void *context)
{
	char	   *name;

	if (func_volatile(funcid) != PROVOLATILE_VOLATILE)
		return false;
	name = get_func_name(funcid);
	if (get_func_namespace(funcid) == PG_CATALOG_NAMESPACE)
	{
		for (int i = 0; allowed_volatile[i]; i++)
			if (name && strcmp(name, allowed_volatile[i]) == 0)
				return false;
	}
	refuse(psprintf("function %s() can change or reach things outside the datasets",
					name ? name : "?"),
		   "Use plain expressions, aggregates and immutable or stable functions.");
	return true;
}

static bool
check_tree_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	(void) check_functions_in_node(node, check_function, context);
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		ListCell   *lc;

		if (query->commandType != CMD_SELECT || query->utilityStmt != NULL)
			refuse("the statement is not a SELECT",
				   "Write a SELECT (or WITH ... SELECT) over tables of schema pi_data.");
		if (query->rowMarks != NIL)
			refuse("FOR UPDATE and FOR SHARE lock rows",
				   "Remove the locking clause.");
		if (query->hasModifyingCTE)
			refuse("a WITH clause modifies data", "Use only SELECT in WITH clauses.");
		foreach(lc, query->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION &&
				get_rel_namespace(rte->relid) != get_namespace_oid(QUERY_SCHEMA, false))
				refuse(psprintf("table \"%s\" is not a dataset",
								get_rel_name(rte->relid)),
					   "Only tables of schema pi_data can be read; pi.list_datasets() lists them.");
		}
		return query_tree_walker(query, check_tree_walker, context, 0);
	}
	return expression_tree_walker(node, check_tree_walker, context);
}

/* Check the statement SPI prepared, before anything of it runs. */
static void
check_prepared(SPIPlanPtr plan)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	CachedPlanSource *source;

	if (list_length(sources) != 1)
		refuse(psprintf("the text holds %d statements", list_length(sources)),
			   "Send one SELECT per call, without a trailing second statement.");
	source = linitial(sources);
	if (source->raw_parse_tree == NULL || !IsA(source->raw_parse_tree->stmt, SelectStmt))
		refuse("the statement is not a SELECT",
			   "Write a SELECT (or WITH ... SELECT) over tables of schema pi_data.");
	if (((SelectStmt *) source->raw_parse_tree->stmt)->intoClause != NULL)
		refuse("SELECT INTO creates a table", "Remove the INTO clause.");
	if (list_length(source->query_list) != 1)
		refuse("the statement expands to several", "Send one plain SELECT.");
	(void) check_tree_walker((Node *) linitial(source->query_list), NULL);
}

static void
handle_query_timeout(void)
{
	query_timed_out = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/* Append one value as JSON: numbers and booleans as such, json as is. */
static void
append_value(StringInfo buf, Datum value, bool isnull, Oid type)
{
	Oid			outfunc;
	bool		isvarlena;
	char	   *text;

	if (isnull)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	getTypeOutputInfo(type, &outfunc, &isvarlena);
	text = OidOutputFunctionCall(outfunc, value);
	switch (type)
	{
		case BOOLOID:
			appendStringInfoString(buf, text[0] == 't' ? "true" : "false");
			break;
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
			appendStringInfoString(buf, text);
			break;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			/* NaN and Infinity have no JSON number form */
			if (strpbrk(text, "NnIi") != NULL && strpbrk(text, "eE") == NULL)
				escape_json(buf, text);
			else
				appendStringInfoString(buf, text);
			break;
		case JSONOID:
		case JSONBOID:
			appendStringInfoString(buf, text);
			break;
		default:
			escape_json(buf, text);
	}
	pfree(text);
}

static char *
result_json(int max_rows)
{
	StringInfoData buf;
	TupleDesc	desc = SPI_tuptable->tupdesc;
	uint64		rows = Min(SPI_processed, (uint64) max_rows);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"columns\": [");
	for (int c = 0; c < desc->natts; c++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, c);

		appendStringInfoString(&buf, c ? ", {\"name\": " : "{\"name\": ");
		escape_json(&buf, NameStr(att->attname));
		appendStringInfoString(&buf, ", \"type\": ");
		escape_json(&buf, format_type_be(att->atttypid));
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, "], \"rows\": [");
	for (uint64 r = 0; r < rows; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];

		appendStringInfoString(&buf, r ? ", [" : "[");
		for (int c = 0; c < desc->natts; c++)
		{
			bool		isnull;
			Datum		value = SPI_getbinval(tuple, desc, c + 1, &isnull);

			if (c)
				appendStringInfoString(&buf, ", ");
			append_value(&buf, value, isnull, TupleDescAttr(desc, c)->atttypid);
		}
		appendStringInfoChar(&buf, ']');
	}
	appendStringInfo(&buf, "], \"row_count\": " UINT64_FORMAT ", \"truncated\": %s}",
					 rows, SPI_processed > (uint64) max_rows ? "true" : "false");
	return buf.data;
}

/* Prepare, check and run the statement; returns the result as JSON text. */
static char *
run_checked(const char *sql, int max_rows)
{
	SPIPlanPtr	plan;
	int			rc;
	char	   *json;
	MemoryContext outer = CurrentMemoryContext;

	SPI_connect();
	plan = SPI_prepare(sql, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "pi.query could not prepare the statement: %s",
			 SPI_result_code_string(SPI_result));
	check_prepared(plan);
	rc = SPI_execute_plan(plan, NULL, NULL, true, (long) max_rows + 1);
	if (rc != SPI_OK_SELECT)
		refuse("the statement is not a SELECT", "Write a SELECT over tables of schema pi_data.");
	json = result_json(max_rows);
	json = MemoryContextStrdup(outer, json);
	SPI_finish();
	return json;
}

static void
check_max_rows(int max_rows)
{
	if (max_rows < 1 || max_rows > pi_query_max_rows)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be between 1 and %d, not %d", pi_query_max_rows, max_rows),
				 errhint("Aggregate in SQL, or page with LIMIT and OFFSET; pi.query_max_rows sets the ceiling.")));
}

/*
 * Run one checked, read-only statement as pi_reader and return its result
 * as JSON text.  Shared by pi.query and by pi.query() calls from Python.
 */
static char *
run_query(const char *sql, int max_rows)
{
	Oid			reader = get_role_oid(QUERY_ROLE, false);
	Oid			save_userid;
	int			save_sec;
	bool		save_read_only = XactReadOnly;
	int			nestlevel;
	char	   *volatile json = NULL;

	if (query_timeout_id == MAX_TIMEOUTS)
		query_timeout_id = RegisterTimeout(USER_TIMEOUT, handle_query_timeout);

	GetUserIdAndSecContext(&save_userid, &save_sec);
	nestlevel = NewGUCNestLevel();
	query_timed_out = false;
	PG_TRY();
	{
		(void) set_config_option("search_path", QUERY_SCHEMA, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		/* dates and times in JSON read the same for every client */
		(void) set_config_option("DateStyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		SetUserIdAndSecContext(reader, save_sec | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		XactReadOnly = true;
		enable_timeout_after(query_timeout_id, pi_query_timeout * 1000);
		json = run_checked(sql, max_rows);
		disable_timeout(query_timeout_id, false);
	}
	PG_CATCH();
	{
		disable_timeout(query_timeout_id, false);
		XactReadOnly = save_read_only;
		SetUserIdAndSecContext(save_userid, save_sec);
		if (query_timed_out)
		{
			query_timed_out = false;
			FlushErrorState();
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("pi.query was stopped after pi.query_timeout (%d s)", pi_query_timeout),
					 errhint("Make the query cheaper (filter, aggregate, LIMIT), or raise pi.query_timeout.")));
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	XactReadOnly = save_read_only;
	SetUserIdAndSecContext(save_userid, save_sec);
	AtEOXact_GUC(true, nestlevel);
	return json;
}

/*
 * pi.query(sql text, max_rows int DEFAULT 1000) returns jsonb
 */
Datum
pi_query(PG_FUNCTION_ARGS)
{
	int			max_rows = PG_ARGISNULL(1) ? 1000 : PG_GETARG_INT32(1);
	char	   *json;

	if (PG_ARGISNULL(0) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sql must not be null or empty"),
				 errhint("Pass one SELECT over tables of schema pi_data.")));
	check_max_rows(max_rows);
	json = run_query(text_to_cstring(PG_GETARG_TEXT_PP(0)), max_rows);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/* The dataset registry in pi.query's result shape, for pi.datasets(). */
static char *
list_datasets_json(void)
{
	char	   *json;
	MemoryContext outer = CurrentMemoryContext;

	SPI_connect();
	if (SPI_execute("SELECT name, rows, bytes, columns, source_file, loaded_at"
					" FROM pi.datasets ORDER BY name", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the datasets");
	json = MemoryContextStrdup(outer, result_json(pi_query_max_rows));
	SPI_finish();
	return json;
}

/*
 * Answer a pi.query() call that Python code made during a run (an 'S'
 * frame of the executor protocol; {"datasets": true} asks for the registry
 * instead, for pi.datasets()).  In a backend (sync pi.execute) the query
 * runs in a subtransaction of the caller's transaction; in a job worker, in
 * a transaction of its own.  Errors become {"ok": false, ...} answers, so
 * Python gets them as exceptions; a query cancel of the caller's statement
 * is not swallowed.
 */
char *
pi_answer_query(const char *request_json)
{
	MemoryContext outer = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		own_xact = !IsTransactionState();
	char	   *volatile answer = NULL;
	Jsonb	   *request;
	char	   *sql;
	JsonbValue *rows;
	int			max_rows = 1000;

	if (own_xact)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
	}
	else
		BeginInternalSubTransaction(NULL);

	PG_TRY();
	{
		request = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(request_json)));
		if (getKeyJsonValueFromContainer(&request->root, "datasets", 8, NULL) != NULL)
		{
			answer = MemoryContextStrdup(outer, psprintf("{\"ok\": true, \"result\": %s}",
														 list_datasets_json()));
			goto done;
		}
		sql = pi_jsonb_string(request, "sql");
		rows = getKeyJsonValueFromContainer(&request->root, "max_rows", 8, NULL);
		if (rows && rows->type == jbvNumeric)
			max_rows = DatumGetInt32(DirectFunctionCall1(numeric_int4,
														 NumericGetDatum(rows->val.numeric)));
		if (sql == NULL || sql[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("sql must not be empty"),
					 errhint("Pass one SELECT over tables of schema pi_data.")));
		check_max_rows(max_rows);
		{
			char	   *json = run_query(sql, max_rows);

			answer = MemoryContextStrdup(outer, psprintf("{\"ok\": true, \"result\": %s}", json));
		}
done:
		if (own_xact)
		{
			PopActiveSnapshot();
			CommitTransactionCommand();
		}
		else
			ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(outer);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		StringInfoData buf;

		MemoryContextSwitchTo(outer);
		edata = CopyErrorData();
		FlushErrorState();
		if (own_xact)
			AbortCurrentTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(outer);
		CurrentResourceOwner = owner;

		/* the caller's own cancel or statement_timeout ends the caller */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED &&
			strncmp(edata->message, "pi.query was stopped", 20) != 0)
			ReThrowError(edata);

		initStringInfo(&buf);
		appendStringInfoString(&buf, "{\"ok\": false, \"error\": ");
		escape_json(&buf, edata->message ? edata->message : "pi.query failed");
		appendStringInfoString(&buf, ", \"hint\": ");
		if (edata->hint)
			escape_json(&buf, edata->hint);
		else
			appendStringInfoString(&buf, "null");
		appendStringInfoChar(&buf, '}');
		answer = buf.data;
	}
	PG_END_TRY();
	return answer;
}
