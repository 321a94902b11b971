/*-------------------------------------------------------------------------
 *
 * csv_header.c
 *	  What the start of a CSV file tells pi.load_csv: a byte order mark or
 *	  UTF-16, the delimiter, whether the first record is a header, and the
 *	  columns (safe names, the types options.types forces).
 *
 * Both analyses use these, the one-pass analysis (csv_load.c) and the
 * two-core one (csv_parallel.c), so they live below both.  Apart from
 * reporting bad input (csv_load_error), nothing here uses more of
 * PostgreSQL than palloc and StringInfo, which lets tests/unit run it
 * outside a server.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "csv_analysis.h"
#include "csv_header.h"
#include "csv_scan.h"

/*
 * Fail the load because of the file's content.  The message is already
 * formatted (and may quote the file), hence "%s".
 */
void
csv_load_error(const char *message, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
			 errmsg("%s", message),
			 detail ? errdetail("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));
}

/* Does the file start with a UTF-16 byte order mark (either order)? */
bool
csv_looks_utf16(const char *buf, int64 len)
{
	const unsigned char *u = (const unsigned char *) buf;

	return len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF));
}

/* Length of a UTF-8 byte order mark at the start, which COPY must not see. */
int
csv_bom_bytes(const char *buf, int64 len)
{
	return (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
}

/*
 * The delimiter whose count per line is the same and highest over the first
 * lines (outside quotes); a comma when nothing stands out.  Blank lines,
 * which the analysis leaves out, say nothing about the delimiter.
 */
char
csv_sniff_delimiter(const char *buf, int len, char quote)
{
	static const char candidates[] = {',', ';', '\t', '|'};
	char		best = ',';
	int			best_score = 0;

	for (int c = 0; c < lengthof(candidates); c++)
	{
		int			first = -1;
		int			count = 0;
		int			lines = 0;
		bool		consistent = true;
		bool		in_quotes = false;
		bool		blank = true;

		for (int i = 0; i < len && lines < 20; i++)
		{
			if (!in_quotes && buf[i] == '\n')
			{
				if (blank)
					continue;
				if (first < 0)
					first = count;
				else if (count != first)
					consistent = false;
				count = 0;
				lines++;
				blank = true;
				continue;
			}
			if (buf[i] != '\r')
				blank = false;
			if (buf[i] == quote)
				in_quotes = !in_quotes;
			else if (!in_quotes && buf[i] == candidates[c])
				count++;
		}
		if (first < 0)
			first = count;
		if (first > 0 && consistent && first > best_score)
		{
			best = candidates[c];
			best_score = first;
		}
	}
	return best;
}

/* A header row has no value that looks like a number, date or boolean. */
bool
csv_looks_like_header(const CsvRecord *r)
{
	for (int i = 0; i < r->nfields; i++)
		if (r->lengths[i] > 0 && csv_value_types(r->fields[i], r->lengths[i]) != 0)
			return false;
	return true;
}

/*
 * The system columns every table has (heap.c's SysAtt list in PostgreSQL
 * 15); a user column of the same name would make CREATE TABLE fail.  Kept
 * here as text so that this file needs no catalog access (tests/unit).
 */
static const char *const system_column_names[] = {
	"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"
};

static bool
is_system_column_name(const char *name)
{
	for (int i = 0; i < lengthof(system_column_names); i++)
		if (strcmp(name, system_column_names[i]) == 0)
			return true;
	return false;
}

/*
 * Lower case, [a-z0-9_], not starting with a digit, not a system column
 * name, at most 63 bytes, unique.
 */
static char *
safe_column_name(const char *original, int index, CsvColumn *columns, int ncolumns)
{
	StringInfoData buf;
	char	   *name;
	int			suffix = 1;

	initStringInfo(&buf);
	for (const char *p = original ? original : ""; *p && buf.len < 55; p++)
	{
		char		c = *p;

		if (c >= 'A' && c <= 'Z')
			c = c - 'A' + 'a';
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			appendStringInfoChar(&buf, c);
		else if (buf.len > 0 && buf.data[buf.len - 1] != '_')
			appendStringInfoChar(&buf, '_');
	}
	while (buf.len > 0 && buf.data[buf.len - 1] == '_')
		buf.data[--buf.len] = '\0';
	if (buf.len == 0)
		appendStringInfo(&buf, "column_%d", index + 1);
	else if ((buf.data[0] >= '0' && buf.data[0] <= '9') || is_system_column_name(buf.data))
	{
		name = psprintf("c_%s", buf.data);
		resetStringInfo(&buf);
		appendStringInfoString(&buf, name);
	}

	name = pstrdup(buf.data);
	for (int i = 0; i < ncolumns; i++)
	{
		if (columns[i].name && strcmp(columns[i].name, name) == 0)
		{
			name = psprintf("%s_%d", buf.data, ++suffix);
			i = -1;				/* check the new name against all again */
		}
	}
	return name;
}

void
csv_setup_columns(CsvAnalysis *a, const CsvLoadOptions *o, const CsvRecord *first)
{
	ListCell   *lc;

	a->ncolumns = first->nfields;
	if (a->ncolumns > CSV_MAX_COLUMNS)
		csv_load_error(psprintf("the file has %d columns; PostgreSQL tables hold at most %d",
							a->ncolumns, CSV_MAX_COLUMNS),
				   NULL, "Split the file into narrower files, or select the columns you need first.");
	a->columns = palloc0(sizeof(CsvColumn) * a->ncolumns);
	for (int i = 0; i < a->ncolumns; i++)
	{
		CsvColumn  *col = &a->columns[i];

		if (a->header)
		{
			int			bad_at;

			/* converted to UTF-8 by csv_convert_header() inside the load's transaction */
			col->original = pnstrdup(first->fields[i], first->lengths[i]);
			if (o->encoding == NULL &&
				!csv_valid_utf8(col->original, strlen(col->original), &bad_at))
				csv_load_error(psprintf("the header of column %d is not valid UTF-8", i + 1), NULL,
						   "Save the file as UTF-8, or name its encoding, e.g. options {\"encoding\": \"latin1\"}.");
		}
		col->name = safe_column_name(col->original, i, a->columns, i);
		col->types = CSV_ALL_TYPES;
		col->override = -1;
	}

	/* options.types names columns by original header or by safe name */
	for (lc = list_head(o->type_names); lc; lc = lnext(o->type_names, lc))
	{
		const char *colname = lfirst(lc);
		const char *type;
		bool		found = false;

		lc = lnext(o->type_names, lc);
		type = lfirst(lc);
		for (int i = 0; i < a->ncolumns; i++)
		{
			CsvColumn  *col = &a->columns[i];

			if (strcmp(col->name, colname) == 0 ||
				(col->original && strcmp(col->original, colname) == 0))
			{
				col->override = csv_type_from_sql(type);
				found = true;
			}
		}
		if (!found)
			csv_load_error(psprintf("options.types names column \"%s\", which the file does not have", colname),
					   NULL, "Name columns as in the header, or by their loaded names.");
	}
}
