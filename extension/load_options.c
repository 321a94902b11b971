/*-------------------------------------------------------------------------
 *
 * load_options.c
 *	  The arguments of pi.load_csv and pi.load_dataset that need checking
 *	  before a load is queued (and again when the worker runs it): the
 *	  dataset name and the options object.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/jsonb.h"

#include "csv_scan.h"
#include "load_options.h"

#define DATASET_NAME_MAX 50

void
load_check_dataset_name(const char *name)
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
void
load_parse_options(Jsonb *options, CsvLoadOptions *o)
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
 * CSV dialect options mean nothing for a workbook or JSON Lines: refuse
 * them rather than ignore them.
 */
void
load_check_options_for_format(const CsvLoadOptions *o, const char *format)
{
	const char *bad = NULL;

	if (strcmp(format, "csv") == 0)
		return;
	if (o->delimiter != -1)
		bad = "delimiter";
	else if (o->quote != '"' || o->escape != '"')
		bad = o->quote != '"' ? "quote" : "escape";
	else if (o->encoding)
		bad = "encoding";
	else if (o->header != -1 && strcmp(format, "jsonl") == 0)
		bad = "header";
	if (bad)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.%s does not apply to %s files", bad, format),
				 errhint("Options for %s files: types, on_error%s.", format,
						 strcmp(format, "xlsx") == 0 ? ", header" : "")));
}

