/*-------------------------------------------------------------------------
 *
 * query.c
 *	  pi.query: read-only SQL over the datasets of schema pi_data.
 *
 * SELECT-only by construction, not by pattern matching (docs/architecture.md).
 * The text is prepared through SPI and the analysed tree that SPI will run
 * is inspected: exactly one statement, a plain SELECT (no SELECT INTO, no
 * utility command, no data-modifying CTE, no FOR UPDATE/SHARE), every table
 * in schema pi_data, every function it calls (operators, casts and type
 * input/output included) allowed by query_policy.c, which decides by what
 * a function can reach rather than by its volatility, and no value of a
 * type whose output names catalog objects (regrole, regclass, ...).
 * Denied function and type names are refused before analysis, which would
 * already resolve them.  It then runs with the transaction marked
 * read-only, as the NOLOGIN role pi_reader that can only SELECT pi_data,
 * in a security-restricted operation, with search_path pinned to pi_data,
 * its own timeout (pi.query_timeout) and the bounds of query_limits.c
 * (memory, temporary files, work_mem, result size).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

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
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "access/tupdesc.h"
#include "tcop/dest.h"
#include "utils/numeric.h"
#include "utils/plancache.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"

#include "guc.h"
#include "jsonb_util.h"
#include "query.h"
#include "query_limits.h"
#include "query_policy.h"
#include "query_rows.h"
#include "tenants.h"

#define QUERY_ROLE		"pi_reader"

/*
 * The tables a statement may read: those of the schema of its owner's
 * datasets, and for an administrator those of every tenant's schema
 * (tenants.c).  pi_reader can SELECT every dataset; this check is what
 * keeps one tenant out of another's.
 */
typedef struct QueryReach
{
	Oid			own_schema;		/* InvalidOid: the owner has no datasets yet */
	bool		admin;
} QueryReach;

PG_FUNCTION_INFO_V1(pi_query);

static TimeoutId query_timeout_id = MAX_TIMEOUTS;
static volatile sig_atomic_t query_timed_out = false;

static void
refuse(const char *what, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("pi.query only runs a single read-only SELECT: %s", what),
			 errhint("%s", hint)));
}

#define FUNCTION_HINT "Use plain expressions, aggregates, window functions and the math, " \
	"string, date/time, JSON and array functions; pi.query reads only the datasets."

static void
refuse_function(const char *name, const char *reason)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("function %s is not allowed in pi.query", name),
			 errdetail("%s", reason),
			 errhint(FUNCTION_HINT)));
}

/* Every function the statement calls, operators and casts included. */
static bool
check_function(Oid funcid, void *context)
{
	const char *reason = NULL;

	if (pi_query_function_verdict(funcid, &reason) != QUERY_POLICY_ALLOWED)
		refuse_function(format_procedure(funcid), reason);
	return false;
}

static void
check_type(Oid typid)
{
	const char *reason = NULL;

	if (!pi_query_type_allowed(typid, &reason))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("type %s is not allowed in pi.query", format_type_be(typid)),
				 errdetail("%s", reason),
				 errhint("Cast to text or a number inside the datasets' own values; pi.query does not show catalog objects.")));
}

/* The node types that carry a value whose type could print a catalog. */
static bool
is_value_node(Node *node)
{
	switch (nodeTag(node))
	{
		case T_Var:
		case T_Const:
		case T_Param:
		case T_Aggref:
		case T_WindowFunc:
		case T_FuncExpr:
		case T_OpExpr:
		case T_NullIfExpr:
		case T_SubscriptingRef:
		case T_SubLink:
		case T_FieldSelect:
		case T_RelabelType:
		case T_CoerceViaIO:
		case T_ArrayCoerceExpr:
		case T_ConvertRowtypeExpr:
		case T_CollateExpr:
		case T_CaseExpr:
		case T_ArrayExpr:
		case T_RowExpr:
		case T_CoalesceExpr:
		case T_MinMaxExpr:
		case T_XmlExpr:
		case T_CoerceToDomain:
		case T_SQLValueFunction:
			return true;
		default:
			return false;
	}
}

/*
 * Refuse denied functions and types by name before the statement is
 * analysed: analysis already runs type input functions ('x'::regrole) and
 * resolves names, which would tell whether a guessed role or table exists.
 */
static bool
check_raw_walker(Node *node, void *context)
{
	const char *reason = NULL;

	if (node == NULL)
		return false;
	if (IsA(node, FuncCall))
	{
		char	   *name = strVal(llast(((FuncCall *) node)->funcname));

		if (pi_query_function_name_verdict(name, &reason) == QUERY_POLICY_DENIED)
			refuse_function(name, reason);
	}
	else if (IsA(node, TypeName) && ((TypeName *) node)->names != NIL)
	{
		char	   *name = strVal(llast(((TypeName *) node)->names));

		if (pi_query_type_name_denied(name))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("type %s is not allowed in pi.query", name),
					 errdetail("Its values name roles, tables or other catalog objects, which pi.query does not show."),
					 errhint("Use the datasets' own values.")));
	}
	return raw_expression_tree_walker(node, check_raw_walker, context);
}

static bool
reachable_relation(Oid relid, const QueryReach *reach)
{
	Oid			nsp = get_rel_namespace(relid);
	char	   *nspname;

	if (OidIsValid(reach->own_schema) && nsp == reach->own_schema)
		return true;
	if (!reach->admin)
		return false;
	nspname = get_namespace_name(nsp);
	return nspname != NULL && pi_is_dataset_schema(nspname);
}

static bool
check_tree_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	(void) check_functions_in_node(node, check_function, context);
	if (is_value_node(node))
		check_type(exprType(node));
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

			if (rte->rtekind == RTE_FUNCTION)
			{
				ListCell   *fc;

				/* a column definition list types what the function returns */
				foreach(fc, rte->functions)
				{
					ListCell   *t;

					foreach(t, lfirst_node(RangeTblFunction, fc)->funccoltypes)
						check_type(lfirst_oid(t));
				}
			}
			if (rte->rtekind == RTE_RELATION &&
				!reachable_relation(rte->relid, (QueryReach *) context))
				refuse(psprintf("table \"%s\" is not a dataset",
								get_rel_name(rte->relid)),
					   "Only your datasets can be read; pi.list_datasets() lists them.");
		}
		return query_tree_walker(query, check_tree_walker, context, 0);
	}
	return expression_tree_walker(node, check_tree_walker, context);
}

/* Report a syntax error's position in pi.query's text, as SPI does. */
static void
raw_parse_error_callback(void *arg)
{
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery((const char *) arg);
	}
}

static List *
parse_raw(const char *sql)
{
	ErrorContextCallback callback;
	List	   *stmts;

	callback.callback = raw_parse_error_callback;
	callback.arg = (void *) sql;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
	error_context_stack = callback.previous;
	return stmts;
}

/* Other statement kinds are refused once analysed (check_prepared). */
static void
check_raw(List *stmts)
{
	ListCell   *lc;

	foreach(lc, stmts)
	{
		Node	   *stmt = lfirst_node(RawStmt, lc)->stmt;

		if (IsA(stmt, SelectStmt))
			(void) check_raw_walker(stmt, NULL);
	}
}

/* Check the statement SPI prepared, before anything of it runs. */
static void
check_prepared(SPIPlanPtr plan, QueryReach *reach)
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
	(void) check_tree_walker((Node *) linitial(source->query_list), reach);
}

static void
handle_query_timeout(void)
{
	query_timed_out = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/* Prepare, check and run the statement; returns the result. */
static Jsonb *
run_checked(const char *sql, int max_rows, QueryReach *reach)
{
	SPIPlanPtr	plan;
	int			rc;
	Jsonb	   *result;
	MemoryContext outer = CurrentMemoryContext;

	RowsReceiver receiver;
	SPIExecuteOptions options;

	SPI_connect();
	check_raw(parse_raw(sql));
	plan = SPI_prepare_cursor(sql, 0, NULL, CURSOR_OPT_PARALLEL_OK);
	if (plan == NULL)
		elog(ERROR, "pi.query could not prepare the statement: %s",
			 SPI_result_code_string(SPI_result));
	check_prepared(plan, reach);

	pi_rows_init(&receiver, (uint64) max_rows);
	memset(&options, 0, sizeof(options));
	options.read_only = true;
	options.dest = (DestReceiver *) &receiver;
	rc = SPI_execute_plan_extended(plan, &options);
	/* SPI says "utility" for a SELECT whose rows went to another receiver */
	if ((rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY) || receiver.state == NULL)
		refuse("the statement is not a SELECT", "Write a SELECT over tables of schema pi_data.");
	result = pi_rows_finish(&receiver, outer);
	SPI_finish();
	return result;
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
 * Run one checked, read-only statement as pi_reader over owner's datasets
 * and return its result.  Shared by pi.query and by pi.query() calls from
 * Python (whose owner is the run's, which in a job worker is not the
 * worker's role).
 */
static Jsonb *
run_query(const char *sql, int max_rows, const char *owner)
{
	Oid			reader = get_role_oid(QUERY_ROLE, false);
	char	   *schema = pi_dataset_schema(owner);
	QueryReach	reach;
	Oid			save_userid;
	int			save_sec;
	bool		save_read_only = XactReadOnly;
	int			nestlevel;
	MemoryContext outer = CurrentMemoryContext;
	QueryMemoryBound bound;
	Jsonb	   *volatile json = NULL;

	if (query_timeout_id == MAX_TIMEOUTS)
		query_timeout_id = RegisterTimeout(USER_TIMEOUT, handle_query_timeout);

	if (schema == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" of this run no longer exists", owner)));
	reach.own_schema = get_namespace_oid(schema, true);
	reach.admin = pi_role_is_admin(owner);

	GetUserIdAndSecContext(&save_userid, &save_sec);
	nestlevel = NewGUCNestLevel();
	query_timed_out = false;
	/* from here until the statement ends, parse and plan included */
	pi_query_memory_bound_begin(&bound);
	PG_TRY();
	{
		(void) set_config_option("search_path", quote_identifier(schema), PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		/* dates and times in JSON read the same for every client */
		(void) set_config_option("DateStyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		pi_query_limits_apply();
		SetUserIdAndSecContext(reader, save_sec | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		XactReadOnly = true;
		enable_timeout_after(query_timeout_id, pi_query_timeout * 1000);
		json = run_checked(sql, max_rows, &reach);
		disable_timeout(query_timeout_id, false);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		pi_query_memory_bound_end(&bound);
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
		MemoryContextSwitchTo(outer);
		edata = CopyErrorData();
		FlushErrorState();
		pi_query_limits_rethrow(edata);
	}
	PG_END_TRY();
	pi_query_memory_bound_end(&bound);
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

	if (PG_ARGISNULL(0) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sql must not be null or empty"),
				 errhint("Pass one SELECT over tables of schema pi_data.")));
	check_max_rows(max_rows);
	PG_RETURN_JSONB_P(run_query(text_to_cstring(PG_GETARG_TEXT_PP(0)), max_rows,
								pi_caller_name()));
}

/*
 * The owner's datasets, the ones its pi.query reads by name, in pi.query's
 * result shape, for pi.datasets().
 */
static char *
list_datasets_json(const char *owner)
{
	char	   *schema = pi_dataset_schema(owner);
	char	   *json;
	Jsonb	   *result;
	MemoryContext outer = CurrentMemoryContext;

	RowsReceiver receiver;
	SPIExecuteOptions options;

	SPI_connect();
	pi_rows_init(&receiver, (uint64) pi_query_max_rows);
	memset(&options, 0, sizeof(options));
	options.read_only = true;
	options.dest = (DestReceiver *) &receiver;
	options.params = makeParamList(1);
	options.params->params[0].ptype = TEXTOID;
	options.params->params[0].isnull = schema == NULL;
	options.params->params[0].value = schema ? CStringGetTextDatum(schema) : (Datum) 0;
	options.params->params[0].pflags = PARAM_FLAG_CONST;
	if (SPI_execute_extended("SELECT name, rows, bytes, columns, source_file, loaded_at"
							 " FROM pi.datasets WHERE schema_name = $1 ORDER BY name", &options) < 0 ||
		receiver.state == NULL)
		elog(ERROR, "could not list the datasets");
	result = pi_rows_finish(&receiver, outer);
	json = JsonbToCString(NULL, &result->root, VARSIZE(result));
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
pi_answer_query(const char *request_json, const char *run_owner)
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

	if (run_owner == NULL)
		run_owner = pi_caller_name();
	PG_TRY();
	{
		request = pi_jsonb_parse(request_json);
		if (getKeyJsonValueFromContainer(&request->root, "datasets", 8, NULL) != NULL)
		{
			answer = MemoryContextStrdup(outer, psprintf("{\"ok\": true, \"result\": %s}",
														 list_datasets_json(run_owner)));
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
			Jsonb	   *result = run_query(sql, max_rows, run_owner);
			char	   *json = JsonbToCString(NULL, &result->root, VARSIZE(result));

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
