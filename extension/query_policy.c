/*-------------------------------------------------------------------------
 *
 * query_policy.c
 *	  The functions and types that pi.query lets a statement use.
 *
 * Volatility is not the test: table_to_xml, query_to_xml, current_setting
 * and txid_current are STABLE, yet they read any catalog PUBLIC can see,
 * run SQL text that no check ever sees, or assign a transaction id.  What
 * counts is what a function can reach, so every function that PUBLIC may
 * execute in PostgreSQL 15's catalog was reviewed, and the verdict is data:
 *
 *	1. a function outside pg_catalog, or created after initdb, is denied;
 *	2. a function with an argument or a result of a denied type is denied;
 *	3. the name tables below (one list per family, each with why) allow or
 *	   deny by name, all overloads alike;
 *	4. name patterns deny whole families (pg_*, has_*_privilege, lo_*,
 *	   txid_*, *_to_xml, *_is_visible, ...);
 *	5. support functions (internal arguments or results, triggers,
 *	   handlers) are denied: SQL cannot call them usefully;
 *	6. what implements a built-in operator, cast, index support or type
 *	   input/output is allowed: it computes on its arguments' values, and
 *	   rule 2 has already removed the types whose values are catalog
 *	   objects;
 *	7. anything else is unknown: refused, and listed by sql/query.sql's
 *	   catalog test until someone adds it to a table here.
 *
 * Types: values of the reg* types and aclitem name roles, tables and
 * settings (regroleout turns any OID into a role name, even inside
 * format() or to_json()), so they may not appear at all; nor types from
 * outside pg_catalog (their input/output functions and domain checks are
 * code no rule has reviewed).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_cast.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "query_policy.h"
#include "tenants.h"


PG_FUNCTION_INFO_V1(pi_query_function_policy);

/* ---- allowed families: they compute on their arguments only ---- */

static const char *const math_names[] = {
	"abs", "acos", "acosd", "acosh", "asin", "asind", "asinh", "atan", "atan2",
	"atan2d", "atand", "atanh", "cbrt", "ceil", "ceiling", "cos", "cosd", "cosh",
	"cot", "cotd", "degrees", "dexp", "div", "dlog1", "dlog10", "dround",
	"dtrunc", "exp", "factorial", "floor", "gcd", "lcm", "ln", "log", "log10",
	"min_scale", "mod", "numeric_div_trunc", "numeric_exp", "numeric_ln",
	"numeric_log", "numeric_sqrt", "pi", "pow", "power", "radians", "round",
	"scale", "sign", "sin", "sind", "sinh", "sqrt", "tan", "tand", "tanh",
	"trim_scale", "trunc", "width_bucket", "num_nonnulls", "num_nulls",
	NULL
};

/*
 * Volatile, but they read nothing and change nothing; the sleeps only spend
 * time that pi.query_timeout bounds.
 */
static const char *const harmless_volatile_names[] = {
	"random", "gen_random_uuid", "clock_timestamp", "timeofday",
	"pg_sleep", "pg_sleep_for", "pg_sleep_until", NULL
};

/* Transition and final functions of the aggregates: arithmetic on arrays. */
static const char *const aggregate_support_names[] = {
	"array_larger", "array_smaller", "booland_statefunc", "boolor_statefunc",
	"bpchar_larger", "bpchar_smaller", "cashlarger", "cashsmaller",
	"date_larger", "date_smaller", "enum_larger", "enum_smaller",
	"float4_accum", "float4larger", "float4smaller", "float8_accum",
	"float8_avg", "float8_combine", "float8_corr", "float8_covar_pop",
	"float8_covar_samp", "float8_regr_accum", "float8_regr_avgx",
	"float8_regr_avgy", "float8_regr_combine", "float8_regr_intercept",
	"float8_regr_r2", "float8_regr_slope", "float8_regr_sxx",
	"float8_regr_sxy", "float8_regr_syy", "float8_stddev_pop",
	"float8_stddev_samp", "float8_var_pop", "float8_var_samp",
	"float8larger", "float8smaller", "int2_avg_accum", "int2_avg_accum_inv",
	"int2_sum", "int2int4_sum", "int2larger", "int2smaller", "int4_avg_accum",
	"int4_avg_accum_inv", "int4_avg_combine", "int4_sum", "int4inc",
	"int4larger", "int4smaller", "int8_avg", "int8_sum", "int8dec",
	"int8dec_any", "int8inc", "int8inc_any", "int8inc_float8_float8",
	"int8larger", "int8smaller", "interval_accum", "interval_accum_inv",
	"interval_avg", "interval_combine", "interval_larger", "interval_smaller",
	"multirange_intersect_agg_transfn", "network_larger", "network_smaller",
	"numeric_inc", "numeric_larger", "numeric_smaller", "oidlarger",
	"oidsmaller", "range_intersect_agg_transfn", "text_larger", "text_smaller",
	"tidlarger", "tidsmaller", "time_larger", "time_smaller",
	"timestamp_larger", "timestamp_smaller", "timestamptz_larger",
	"timestamptz_smaller", "timetz_larger", "timetz_smaller", "xid8_larger",
	"xid8_smaller", NULL
};

/*
 * Aggregates and window functions.  Those that keep every value (array_agg,
 * string_agg, json_agg, xmlagg, ...) are allowed: pi.query_max_memory
 * bounds what one statement allocates (query.c), so a huge aggregate ends
 * in a clear error instead of a backend the OOM killer takes.
 */
static const char *const aggregate_names[] = {
	"array_agg", "avg", "bit_and", "bit_or", "bit_xor", "bool_and", "bool_or",
	"corr", "count", "covar_pop", "covar_samp", "every", "json_agg",
	"json_object_agg", "jsonb_agg", "jsonb_object_agg", "max", "min", "mode",
	"percentile_cont", "percentile_disc", "range_agg", "range_intersect_agg",
	"regr_avgx", "regr_avgy", "regr_count", "regr_intercept", "regr_r2",
	"regr_slope", "regr_sxx", "regr_sxy", "regr_syy", "stddev", "stddev_pop",
	"stddev_samp", "string_agg", "sum", "var_pop", "var_samp", "variance",
	"xmlagg", "cume_dist", "dense_rank", "first_value", "lag", "last_value",
	"lead", "nth_value", "ntile", "percent_rank", "rank", "row_number", NULL
};

/* Text, bytea and bit strings (format and concat print their arguments;
 * lower and upper also take ranges). */
static const char *const string_names[] = {
	"ascii", "bit_count", "bit_length", "btrim", "cash_words", "char_length",
	"character_length", "chr", "concat", "concat_ws", "convert",
	"convert_from", "convert_to", "decode", "encode", "format", "get_bit",
	"get_byte", "initcap", "is_normalized", "left", "length", "like",
	"like_escape", "lower", "lpad", "ltrim", "md5", "normalize", "notlike",
	"octet_length", "overlay", "parse_ident", "position", "quote_ident",
	"quote_literal", "quote_nullable", "regexp_count", "regexp_instr",
	"regexp_like", "regexp_match", "regexp_matches", "regexp_replace",
	"regexp_split_to_array", "regexp_split_to_table", "regexp_substr",
	"repeat", "replace", "reverse", "right", "rpad", "rtrim", "set_bit",
	"set_byte", "sha224", "sha256", "sha384", "sha512", "similar_escape",
	"similar_to_escape", "split_part", "string_to_array", "string_to_table",
	"strpos", "substr", "substring", "text", "textlen", "to_ascii", "to_hex",
	"translate", "unistr", "upper", NULL
};

/* Dates, times and intervals; now() and friends read the statement's clock. */
static const char *const datetime_names[] = {
	"age", "date_bin", "date_part", "date_trunc", "extract", "isfinite",
	"justify_days", "justify_hours", "justify_interval", "make_date",
	"make_interval", "make_time", "make_timestamp", "make_timestamptz", "now",
	"overlaps", "statement_timestamp", "timestamp", "timestamptz", "timezone",
	"to_char", "to_date", "to_number", "to_timestamp",
	"transaction_timestamp", NULL
};

/* JSON and jsonb: build, take apart, query with jsonpath. */
static const char *const json_names[] = {
	"array_to_json", "json_array_elements", "json_array_elements_text",
	"json_array_length", "json_build_array", "json_build_object", "json_each",
	"json_each_text", "json_object", "json_object_keys", "json_populate_record",
	"json_populate_recordset", "json_strip_nulls", "json_to_record",
	"json_to_recordset", "json_typeof", "jsonb_array_elements",
	"jsonb_array_elements_text", "jsonb_array_length", "jsonb_build_array",
	"jsonb_build_object", "jsonb_each", "jsonb_each_text", "jsonb_insert",
	"jsonb_object", "jsonb_object_keys", "jsonb_path_exists",
	"jsonb_path_exists_tz", "jsonb_path_match", "jsonb_path_match_tz",
	"jsonb_path_query", "jsonb_path_query_array", "jsonb_path_query_array_tz",
	"jsonb_path_query_first", "jsonb_path_query_first_tz",
	"jsonb_path_query_tz", "jsonb_populate_record", "jsonb_populate_recordset",
	"jsonb_pretty", "jsonb_set", "jsonb_set_lax", "jsonb_strip_nulls",
	"jsonb_to_record", "jsonb_to_recordset", "jsonb_typeof", "row_to_json",
	"to_json", "to_jsonb", NULL
};

/* Arrays and set-returning generators (rows stream; memory is bounded). */
static const char *const array_names[] = {
	"array_dims", "array_fill", "array_length", "array_lower", "array_ndims",
	"array_position", "array_positions", "array_remove", "array_replace",
	"array_to_string", "array_upper", "cardinality", "generate_series",
	"generate_subscripts", "trim_array", "unnest", NULL
};

/* Ranges and multiranges of the built-in element types. */
static const char *const range_names[] = {
	"datemultirange", "daterange", "daterange_canonical", "daterange_subdiff",
	"int4multirange", "int4range", "int4range_canonical", "int4range_subdiff",
	"int8multirange", "int8range", "int8range_canonical", "int8range_subdiff",
	"isempty", "lower_inc", "lower_inf", "multirange", "nummultirange",
	"numrange", "numrange_subdiff", "range_merge", "tsmultirange", "tsrange",
	"tsrange_subdiff", "tstzmultirange", "tstzrange", "tstzrange_subdiff",
	"upper_inc", "upper_inf", NULL
};

/* Geometry (popen and pclose open and close a path value, not a file). */
static const char *const geometry_names[] = {
	"area", "box", "center", "circle", "diagonal", "diameter", "height",
	"isclosed", "ishorizontal", "isopen", "isparallel", "isperp",
	"isvertical", "line", "lseg", "npoints", "pclose", "point", "polygon",
	"popen", "radius", "slope", "width", NULL
};

/* Network addresses (values only; inet_client_addr and the like are denied). */
static const char *const network_names[] = {
	"abbrev", "broadcast", "family", "host", "hostmask", "macaddr8_set7bit",
	"masklen", "netmask", "network", "set_masklen", NULL
};

/*
 * Full-text search on values with a named configuration (regconfig is the
 * one catalog-reference type allowed: it names only text search
 * configurations).
 */
static const char *const text_search_names[] = {
	"array_to_tsvector", "get_current_ts_config", "json_to_tsvector",
	"jsonb_to_tsvector", "numnode", "phraseto_tsquery", "plainto_tsquery",
	"querytree", "setweight", "strip", "to_tsquery", "to_tsvector",
	"ts_delete", "ts_filter", "ts_headline", "ts_rank", "ts_rank_cd",
	"tsquery_phrase", "tsvector_to_array", "websearch_to_tsquery", NULL
};

/* XML values (parsing refuses external entities); not the *_to_xml family. */
static const char *const xml_names[] = {
	"xml_is_well_formed", "xml_is_well_formed_content",
	"xml_is_well_formed_document", "xmlcomment", "xmlconcat2", "xmlexists",
	"xpath", "xpath_exists", NULL
};

/* Sizes of values, and their formatting. */
static const char *const size_names[] = {
	"pg_column_size", "pg_size_bytes", "pg_size_pretty", NULL
};

/* ---- denied families ---- */

/* They run SQL given as text, or read whole tables: no check sees that SQL. */
static const char *const runs_sql_names[] = {
	"cursor_to_xml", "cursor_to_xmlschema", "database_to_xml",
	"database_to_xml_and_xmlschema", "database_to_xmlschema", "query_to_xml",
	"query_to_xml_and_xmlschema", "query_to_xmlschema", "schema_to_xml",
	"schema_to_xml_and_xmlschema", "schema_to_xmlschema", "table_to_xml",
	"table_to_xml_and_xmlschema", "table_to_xmlschema", "ts_rewrite",
	"ts_stat", "currtid2", NULL
};

/* They read settings, catalogs, or the server's and the session's state. */
static const char *const reads_server_names[] = {
	"aclexplode", "acldefault", "col_description", "enum_first", "enum_in",
	"enum_last", "enum_out", "enum_range", "enum_send", "format_type",
	"getdatabaseencoding", "getpgusername", "inet_client_addr",
	"inet_client_port", "inet_server_addr", "inet_server_port", "makeaclitem",
	"mxid_age", "nameconcatoid", "obj_description", "oidvectortypes",
	"row_security_active", "satisfies_hash_partition", "session_user",
	"shobj_description", "ts_debug", "ts_lexize", "ts_parse",
	"ts_token_type", "version", "amvalidate", "plpgsql_validator",
	"postgresql_fdw_validator", "shell_in", "shell_out", "xmlvalidate", NULL
};

/* They change the session, sequences, large objects or shared state. */
static const char *const changes_state_names[] = {
	"currval", "lastval", "loread", "lowrite", "nextval", "set_config",
	"setseed", "setval", NULL
};

/* Domain input runs the domain's CHECK expressions: code no rule reviewed. */
static const char *const domain_names[] = {"domain_in", "domain_recv", NULL};

typedef struct PolicyFamily
{
	QueryPolicyVerdict verdict;
	const char *reason;
	const char *const *names;
} PolicyFamily;

static const PolicyFamily families[] = {
	{QUERY_POLICY_ALLOWED, "A math function.", math_names},
	{QUERY_POLICY_ALLOWED, "Volatile, but reads and changes nothing.", harmless_volatile_names},
	{QUERY_POLICY_ALLOWED, "An aggregate's support function.", aggregate_support_names},
	{QUERY_POLICY_ALLOWED, "An aggregate or window function.", aggregate_names},
	{QUERY_POLICY_ALLOWED, "A string function.", string_names},
	{QUERY_POLICY_ALLOWED, "A date and time function.", datetime_names},
	{QUERY_POLICY_ALLOWED, "A JSON function.", json_names},
	{QUERY_POLICY_ALLOWED, "An array function.", array_names},
	{QUERY_POLICY_ALLOWED, "A range function.", range_names},
	{QUERY_POLICY_ALLOWED, "A geometric function.", geometry_names},
	{QUERY_POLICY_ALLOWED, "A network address function.", network_names},
	{QUERY_POLICY_ALLOWED, "A text search function.", text_search_names},
	{QUERY_POLICY_ALLOWED, "An XML function.", xml_names},
	{QUERY_POLICY_ALLOWED, "A size function.", size_names},
	{QUERY_POLICY_DENIED, "It runs SQL given as text, or reads whole tables, past pi.query's checks.", runs_sql_names},
	{QUERY_POLICY_DENIED, "It reads settings, catalogs or the server's state.", reads_server_names},
	{QUERY_POLICY_DENIED, "It changes the session, a sequence, a large object or shared state.", changes_state_names},
	{QUERY_POLICY_DENIED, "It runs a domain's CHECK expressions.", domain_names},
};

/* Name patterns that deny a whole family (after the exact names above). */
typedef struct PolicyPattern
{
	const char *text;
	bool		suffix;			/* else a prefix */
	const char *reason;
} PolicyPattern;

static const PolicyPattern denied_patterns[] = {
	{"pg_", false, "A pg_* function reads or changes the server's state (statistics, settings, files, replication, locks)."},
	{"has_", false, "It reads the catalog of privileges."},
	{"_privilege", true, "It reads the catalog of privileges."},
	{"_is_visible", true, "It reads the catalogs."},
	{"_description", true, "It reads the catalog of comments."},
	{"_to_xml", true, "It runs SQL given as text, or reads whole tables."},
	{"_to_xmlschema", true, "It runs SQL given as text, or reads whole tables."},
	{"_to_xml_and_xmlschema", true, "It runs SQL given as text, or reads whole tables."},
	{"to_reg", false, "It reads the catalogs by name."},
	{"current_", false, "It reads the session's settings or state."},
	{"txid_", false, "It reads or assigns transaction ids."},
	{"lo_", false, "It reads or writes large objects."},
	{"binary_upgrade_", false, "It is for pg_upgrade only."},
	{"brin_", false, "It changes an index."},
	{"gin_", false, "It changes an index."},
	{"fmgr_", false, "It validates function definitions."},
};

/*
 * Types whose values name catalog objects or privileges: their output
 * functions read the catalogs for any OID (regconfig is allowed, for
 * to_tsvector('english', ...)).
 */
static const char *const denied_type_names[] = {
	"aclitem", "regclass", "regcollation", "regdictionary", "regnamespace",
	"regoper", "regoperator", "regproc", "regprocedure", "regrole", "regtype",
	"pg_node_tree", "pg_ndistinct", "pg_dependencies", "pg_mcv_list", NULL
};

/* ---- lookup structures, built once per backend ---- */

typedef struct PolicyName
{
	const char *name;
	int			family;
} PolicyName;

static PolicyName *policy_names = NULL;
static int	policy_name_count = 0;

static Oid *structural_oids = NULL;	/* sorted */
static int	structural_count = 0;

static int
compare_policy_names(const void *a, const void *b)
{
	return strcmp(((const PolicyName *) a)->name, ((const PolicyName *) b)->name);
}

static int
compare_oids(const void *a, const void *b)
{
	Oid			x = *(const Oid *) a;
	Oid			y = *(const Oid *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* One sorted table of every listed name; a name listed twice is a bug. */
static void
build_policy_names(void)
{
	int			n = 0;
	PolicyName *names;

	for (int f = 0; f < lengthof(families); f++)
		for (int i = 0; families[f].names[i]; i++)
			n++;
	names = MemoryContextAlloc(TopMemoryContext, sizeof(PolicyName) * n);
	n = 0;
	for (int f = 0; f < lengthof(families); f++)
		for (int i = 0; families[f].names[i]; i++)
		{
			names[n].name = families[f].names[i];
			names[n++].family = f;
		}
	qsort(names, n, sizeof(PolicyName), compare_policy_names);
	for (int i = 1; i < n; i++)
		if (strcmp(names[i - 1].name, names[i].name) == 0)
			elog(ERROR, "pi.query's function policy lists \"%s\" twice", names[i].name);
	policy_names = names;
	policy_name_count = n;
}

/* Append the OIDs of one column of a built-in catalog's rows. */
static void
collect_oids(Oid catalog, int natts, const AttrNumber *attnos, AttrNumber nsatt,
			 Oid **oids, int *n, int *cap)
{
	Relation	rel = table_open(catalog, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tup;

	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;

		if (nsatt != InvalidAttrNumber &&
			DatumGetObjectId(heap_getattr(tup, nsatt, RelationGetDescr(rel), &isnull)) != PG_CATALOG_NAMESPACE)
			continue;
		for (int a = 0; a < natts; a++)
		{
			Oid			oid = DatumGetObjectId(heap_getattr(tup, attnos[a], RelationGetDescr(rel), &isnull));

			if (isnull || !OidIsValid(oid) || oid >= FirstNormalObjectId)
				continue;
			if (*n == *cap)
			{
				*cap *= 2;
				*oids = repalloc(*oids, sizeof(Oid) * *cap);
			}
			(*oids)[(*n)++] = oid;
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * The functions behind built-in operators, casts, index support and type
 * input/output (rule 6).  Rows created after initdb are left out: a user's
 * CREATE OPERATOR over current_setting must not make it allowed.
 */
static void
build_structural_oids(void)
{
	static const AttrNumber opr[] = {Anum_pg_operator_oprcode};
	static const AttrNumber cast[] = {Anum_pg_cast_castfunc};
	static const AttrNumber amproc[] = {Anum_pg_amproc_amproc};
	static const AttrNumber typio[] = {Anum_pg_type_typinput, Anum_pg_type_typoutput,
	Anum_pg_type_typreceive, Anum_pg_type_typsend, Anum_pg_type_typmodin, Anum_pg_type_typmodout};
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	int			cap = 4096;
	int			n = 0;
	Oid		   *oids = palloc(sizeof(Oid) * cap);

	collect_oids(OperatorRelationId, lengthof(opr), opr, Anum_pg_operator_oprnamespace, &oids, &n, &cap);
	collect_oids(CastRelationId, lengthof(cast), cast, InvalidAttrNumber, &oids, &n, &cap);
	collect_oids(AccessMethodProcedureRelationId, lengthof(amproc), amproc, InvalidAttrNumber, &oids, &n, &cap);
	collect_oids(TypeRelationId, lengthof(typio), typio, Anum_pg_type_typnamespace, &oids, &n, &cap);
	MemoryContextSwitchTo(old);
	qsort(oids, n, sizeof(Oid), compare_oids);
	structural_oids = oids;
	structural_count = n;
}

static bool
name_in(const char *name, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(name, list[i]) == 0)
			return true;
	return false;
}

/* Rules 3 and 4: the verdict of the name tables and patterns. */
static QueryPolicyVerdict
verdict_by_name(const char *name, const char **reason)
{
	PolicyName	key;
	PolicyName *hit;
	size_t		len = strlen(name);

	if (policy_names == NULL)
		build_policy_names();
	key.name = name;
	hit = bsearch(&key, policy_names, policy_name_count, sizeof(PolicyName),
				  compare_policy_names);
	if (hit)
	{
		*reason = families[hit->family].reason;
		return families[hit->family].verdict;
	}
	for (int i = 0; i < lengthof(denied_patterns); i++)
	{
		const PolicyPattern *p = &denied_patterns[i];
		size_t		plen = strlen(p->text);

		if (len >= plen &&
			strncmp(p->suffix ? name + len - plen : name, p->text, plen) == 0)
		{
			*reason = p->reason;
			return QUERY_POLICY_DENIED;
		}
	}
	return QUERY_POLICY_UNKNOWN;
}

QueryPolicyVerdict
pi_query_function_name_verdict(const char *name, const char **reason)
{
	QueryPolicyVerdict v = verdict_by_name(name, reason);

	return v == QUERY_POLICY_DENIED ? v : QUERY_POLICY_UNKNOWN;
}

bool
pi_query_type_name_denied(const char *name)
{
	return name_in(name, denied_type_names);
}

static bool
type_allowed(Oid typid, const char **reason, int depth)
{
	HeapTuple	tup;
	Form_pg_type typ;
	bool		ok = true;

	if (depth > 8)
		return true;			/* composite nesting is checked at each level it is used */
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(tup))
		return true;			/* invalid or pseudo: nothing to print */
	typ = (Form_pg_type) GETSTRUCT(tup);
	if (typ->typtype == TYPTYPE_COMPOSITE && OidIsValid(typ->typrelid) &&
		pi_is_dataset_schema(get_namespace_name(typ->typnamespace)))
	{
		/* a dataset's row type: allowed when all its columns are */
		Relation	rel = relation_open(typ->typrelid, AccessShareLock);
		TupleDesc	desc = RelationGetDescr(rel);

		for (int i = 0; ok && i < desc->natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped)
				ok = type_allowed(TupleDescAttr(desc, i)->atttypid, reason, depth + 1);
		relation_close(rel, AccessShareLock);
	}
	else if (typ->typnamespace != PG_CATALOG_NAMESPACE || typid >= FirstNormalObjectId)
	{
		*reason = "Only built-in types and the datasets' row types can be used: other types run code no rule has reviewed.";
		ok = false;
	}
	else if (name_in(NameStr(typ->typname), denied_type_names))
	{
		*reason = "Its values name roles, tables or other catalog objects, which pi.query does not show.";
		ok = false;
	}
	else if (OidIsValid(typ->typelem) && IsTrueArrayType(typ))
		ok = type_allowed(typ->typelem, reason, depth + 1);
	ReleaseSysCache(tup);
	return ok;
}

bool
pi_query_type_allowed(Oid typid, const char **reason)
{
	return type_allowed(typid, reason, 0);
}

/* Rules 2 and 5: a pseudo-type that marks a support function. */
static bool
is_support_type(Oid typid)
{
	switch (typid)
	{
		case INTERNALOID:
		case TRIGGEROID:
		case EVENT_TRIGGEROID:
		case LANGUAGE_HANDLEROID:
		case FDW_HANDLEROID:
		case INDEX_AM_HANDLEROID:
		case TSM_HANDLEROID:
		case TABLE_AM_HANDLEROID:
			return true;
		default:
			return false;
	}
}

QueryPolicyVerdict
pi_query_function_verdict(Oid funcid, const char **reason)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	Form_pg_proc proc;
	QueryPolicyVerdict v;
	bool		support = false;
	bool		types_ok = true;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", funcid);
	proc = (Form_pg_proc) GETSTRUCT(tup);

	if (proc->pronamespace != PG_CATALOG_NAMESPACE || funcid >= FirstNormalObjectId)
	{
		ReleaseSysCache(tup);
		*reason = "Only built-in functions of pg_catalog can be used: other functions run code no rule has reviewed.";
		return QUERY_POLICY_DENIED;
	}
	support = is_support_type(proc->prorettype);
	if (!support)
		types_ok = pi_query_type_allowed(proc->prorettype, reason);
	for (int i = 0; i < proc->pronargs && !support; i++)
	{
		support = is_support_type(proc->proargtypes.values[i]);
		if (!support && types_ok)
			types_ok = pi_query_type_allowed(proc->proargtypes.values[i], reason);
	}
	if (!types_ok)
		v = QUERY_POLICY_DENIED;
	else if ((v = verdict_by_name(NameStr(proc->proname), reason)) != QUERY_POLICY_UNKNOWN)
		;
	else if (support)
	{
		*reason = "A support function (internal arguments, triggers, handlers) is not called from a query.";
		v = QUERY_POLICY_DENIED;
	}
	else
	{
		if (structural_oids == NULL)
			build_structural_oids();
		if (bsearch(&funcid, structural_oids, structural_count, sizeof(Oid), compare_oids))
		{
			*reason = "It implements a built-in operator, cast, index support or type input/output.";
			v = QUERY_POLICY_ALLOWED;
		}
		else
			*reason = "No rule of pi.query's function policy names it.";
	}
	ReleaseSysCache(tup);
	return v;
}

/*
 * pi_query_function_policy(regprocedure) returns text: 'allowed', 'denied'
 * or 'unknown', for the catalog test of sql/query.sql.
 */
Datum
pi_query_function_policy(PG_FUNCTION_ARGS)
{
	const char *reason = NULL;

	switch (pi_query_function_verdict(PG_GETARG_OID(0), &reason))
	{
		case QUERY_POLICY_ALLOWED:
			PG_RETURN_TEXT_P(cstring_to_text("allowed"));
		case QUERY_POLICY_DENIED:
			PG_RETURN_TEXT_P(cstring_to_text("denied"));
		default:
			PG_RETURN_TEXT_P(cstring_to_text("unknown"));
	}
}
