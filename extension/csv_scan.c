/*-------------------------------------------------------------------------
 *
 * csv_scan.c
 *	  A streaming CSV scanner (RFC 4180 with a configurable delimiter,
 *	  quote and escape; LF, CRLF and CR line ends; newlines inside quoted
 *	  fields) and the per-value type tests of pi.load_csv's inference.
 *
 * The scanner is fed chunks of bytes and hands out whole records; a record
 * that straddles two chunks is parsed again once the rest has arrived.
 * Inference looks at every value of the file, not a sample: each value
 * narrows its column to the set of types that can hold it (csv_value_types),
 * and the column takes the most specific type left.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "csv_scan.h"

void
csv_scanner_init(CsvScanner *scanner, const CsvDialect *dialect)
{
	memset(scanner, 0, sizeof(*scanner));
	scanner->dialect = *dialect;
	initStringInfo(&scanner->pending);
	initStringInfo(&scanner->fieldbuf);
	scanner->line = 1;
}

void
csv_scanner_feed(CsvScanner *scanner, const char *data, int len)
{
	StringInfo	p = &scanner->pending;

	/* drop what has been consumed before appending */
	if (p->cursor > 0)
	{
		memmove(p->data, p->data + p->cursor, p->len - p->cursor);
		p->len -= p->cursor;
		scanner->consumed += p->cursor;
		p->cursor = 0;
		p->data[p->len] = '\0';
	}
	appendBinaryStringInfo(p, data, len);
}

static void
record_add_field(CsvRecord *record, int start, int len, bool quoted)
{
	if (record->nfields == record->maxfields)
	{
		record->maxfields = record->maxfields ? record->maxfields * 2 : 64;
		record->fields = record->fields ?
			repalloc(record->fields, sizeof(char *) * record->maxfields) :
			palloc(sizeof(char *) * record->maxfields);
		record->lengths = record->lengths ?
			repalloc(record->lengths, sizeof(int) * record->maxfields) :
			palloc(sizeof(int) * record->maxfields);
		record->quoted = record->quoted ?
			repalloc(record->quoted, sizeof(bool) * record->maxfields) :
			palloc(sizeof(bool) * record->maxfields);
	}
	/* offsets for now: fieldbuf may move while the record grows */
	record->fields[record->nfields] = (char *) (intptr_t) start;
	record->lengths[record->nfields] = len;
	record->quoted[record->nfields] = quoted;
	record->nfields++;
}

/*
 * Parse the next record.  With at_eof, input that ends without a line end
 * still makes a last record.  Unquoted fields point into the input itself;
 * only quoted fields, which need their quotes undone, are copied.
 */
CsvStatus
csv_next_record(CsvScanner *scanner, CsvRecord *record, bool at_eof)
{
	StringInfo	p = &scanner->pending;
	StringInfo	f = &scanner->fieldbuf;
	const char	delim = scanner->dialect.delimiter;
	const char	quote = scanner->dialect.quote;
	const char	escape = scanner->dialect.escape;
	const char *s = p->data;
	int			end = p->len;
	int			i = p->cursor;
	int64		lines = 0;

	if (i >= end)
		return at_eof ? CSV_EOF : CSV_NEED_MORE;

	record->nfields = 0;
	resetStringInfo(f);

	for (;;)
	{
		int			start = i;
		bool		quoted = false;
		int			fstart = f->len;
		char		c;

		if (i < end && s[i] == quote)
		{
			quoted = true;
			i++;
			for (;;)
			{
				int			run = i;

				while (run < end && s[run] != quote && s[run] != escape)
				{
					if (s[run] == '\n')
						lines++;
					run++;
				}
				appendBinaryStringInfo(f, s + i, run - i);
				i = run;
				if (i >= end)
					return at_eof ? CSV_UNCLOSED_QUOTE : CSV_NEED_MORE;
				if (i + 1 >= end && !at_eof)
					return CSV_NEED_MORE;	/* can't tell "" from " yet */
				if (escape != quote && s[i] == escape && i + 1 < end &&
					(s[i + 1] == quote || s[i + 1] == escape))
				{
					appendStringInfoChar(f, s[i + 1]);
					i += 2;
					continue;
				}
				if (s[i] == quote && escape == quote && i + 1 < end && s[i + 1] == quote)
				{
					appendStringInfoChar(f, quote);
					i += 2;
					continue;
				}
				if (s[i] == quote)
				{
					i++;		/* the closing quote */
					break;
				}
				appendStringInfoChar(f, s[i]);	/* a lone escape character */
				i++;
			}
			/* text after the closing quote is kept, as COPY would reject it */
			while (i < end && s[i] != delim && s[i] != '\n' && s[i] != '\r')
				appendStringInfoChar(f, s[i++]);
		}
		else
		{
			while (i < end && s[i] != delim && s[i] != '\n' && s[i] != '\r')
				i++;
		}

		if (i >= end && !at_eof)
			return CSV_NEED_MORE;

		/* offsets for now (negative: in the input); buffers may still move */
		if (quoted)
			record_add_field(record, fstart, f->len - fstart, true);
		else
			record_add_field(record, -(start + 1), i - start, false);

		if (i >= end)
			break;				/* the last record, without a line end */
		c = s[i];
		if (c == delim)
		{
			i++;
			continue;
		}
		if (c == '\r')
		{
			if (i + 1 >= end && !at_eof)
				return CSV_NEED_MORE;
			if (i + 1 < end && s[i + 1] == '\n')
			{
				scanner->saw_crlf = true;
				i++;
			}
			else
				scanner->saw_cr_only = true;
		}
		else
			scanner->saw_lf = true;
		i++;
		lines++;
		break;
	}

	for (int k = 0; k < record->nfields; k++)
	{
		intptr_t	off = (intptr_t) record->fields[k];

		record->fields[k] = off < 0 ? p->data + (-off - 1) : f->data + off;
	}
	record->first_line = scanner->line;
	scanner->line += lines;
	p->cursor = i;
	record->end_offset = scanner->consumed + i;
	return CSV_RECORD;
}

/* ---- type tests --------------------------------------------------------- */

bool
csv_is_null_marker(const char *v, int len)
{
	return len == 0 ||
		(len == 2 && memcmp(v, "NA", 2) == 0) ||
		(len == 3 && memcmp(v, "N/A", 3) == 0) ||
		(len == 4 && (memcmp(v, "NULL", 4) == 0 || memcmp(v, "null", 4) == 0));
}

static bool
digits(const char *v, int len)
{
	if (len == 0)
		return false;
	for (int i = 0; i < len; i++)
		if (!isdigit((unsigned char) v[i]))
			return false;
	return true;
}

static int
parse_uint(const char *v, int len)
{
	int			n = 0;

	for (int i = 0; i < len; i++)
		n = n * 10 + (v[i] - '0');
	return n;
}

/*
 * YYYY-MM-DD (or YYYY/MM/DD) with a real month and day; February 29 only in
 * a leap year, since COPY would refuse it otherwise and fail the load.
 */
static bool
is_date(const char *v, int len)
{
	int			year,
				month,
				day;
	bool		leap;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (len != 10 || !digits(v, 4) || !digits(v + 5, 2) || !digits(v + 8, 2) ||
		!((v[4] == '-' && v[7] == '-') || (v[4] == '/' && v[7] == '/')))
		return false;
	year = parse_uint(v, 4);
	month = parse_uint(v + 5, 2);
	day = parse_uint(v + 8, 2);
	/* PostgreSQL has no year 0: 1 BC comes before 1 AD */
	if (year < 1 || month < 1 || month > 12 || day < 1 || day > mdays[month - 1])
		return false;
	leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month != 2 || day != 29 || leap;
}

/*
 * The time part after a date: HH:MM[:SS[.frac]] then an optional zone (Z,
 * +HH, +HH:MM, +HHMM).  Returns -1 if not a time, else 1 with a zone, 0
 * without.
 */
static int
time_part(const char *v, int len)
{
	int			i = 5;

	if (len < 5 || !digits(v, 2) || v[2] != ':' || !digits(v + 3, 2) ||
		parse_uint(v, 2) > 23 || parse_uint(v + 3, 2) > 59)
		return -1;
	if (i < len && v[i] == ':')
	{
		if (i + 3 > len || !digits(v + i + 1, 2) || parse_uint(v + i + 1, 2) > 60)
			return -1;
		i += 3;
		if (i < len && v[i] == '.')
		{
			int			start = ++i;

			while (i < len && isdigit((unsigned char) v[i]))
				i++;
			if (i == start)
				return -1;
		}
	}
	if (i == len)
		return 0;
	if (v[i] == 'Z' && i + 1 == len)
		return 1;
	if (v[i] == ' ' && i + 1 < len && (v[i + 1] == '+' || v[i + 1] == '-'))
		i++;
	if (v[i] == '+' || v[i] == '-')
	{
		int			rest = len - i - 1;

		if ((rest == 2 && digits(v + i + 1, 2)) ||
			(rest == 4 && digits(v + i + 1, 4)) ||
			(rest == 5 && digits(v + i + 1, 2) && v[i + 3] == ':' && digits(v + i + 4, 2)))
			return 1;
	}
	return -1;
}

static int
number_types(const char *v, int len)
{
	int			i = 0;
	int			int_digits = 0;
	int			frac_digits = 0;
	bool		has_point = false;
	bool		has_exp = false;

	if (v[0] == '+' || v[0] == '-')
		i++;
	while (i < len && isdigit((unsigned char) v[i]))
		i++, int_digits++;
	if (i < len && v[i] == '.')
	{
		has_point = true;
		i++;
		while (i < len && isdigit((unsigned char) v[i]))
			i++, frac_digits++;
	}
	if (int_digits + frac_digits == 0)
		return 0;
	if (i < len && (v[i] == 'e' || v[i] == 'E'))
	{
		int			start;

		has_exp = true;
		i++;
		if (i < len && (v[i] == '+' || v[i] == '-'))
			i++;
		start = i;
		while (i < len && isdigit((unsigned char) v[i]))
			i++;
		if (i == start)
			return 0;
	}
	if (i != len)
		return 0;

	/* leading zeros (007, zip codes) are identifiers, not numbers */
	{
		int			first = (v[0] == '+' || v[0] == '-') ? 1 : 0;

		if (int_digits > 1 && v[first] == '0')
			return 0;
	}
	if (has_exp)
		return CSV_FLOAT8;
	if (has_point)
		return CSV_NUMERIC | CSV_FLOAT8;
	if (int_digits <= 9)
		return CSV_INT4 | CSV_INT8 | CSV_NUMERIC | CSV_FLOAT8;
	if (int_digits <= 18)
	{
		/* exact bounds of int4 are checked by value */
		int64		n = 0;

		for (int k = (v[0] == '+' || v[0] == '-') ? 1 : 0; k < len; k++)
			n = n * 10 + (v[k] - '0');
		if (v[0] == '-')
			n = -n;
		if (n >= PG_INT32_MIN && n <= PG_INT32_MAX)
			return CSV_INT4 | CSV_INT8 | CSV_NUMERIC | CSV_FLOAT8;
		return CSV_INT8 | CSV_NUMERIC | CSV_FLOAT8;
	}
	return CSV_NUMERIC | CSV_FLOAT8;
}

/* The set of types that can hold a non-null value. */
int
csv_value_types(const char *v, int len)
{
	char		c;

	if (len == 0)
		return CSV_ALL_TYPES;
	c = v[0];
	if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.')
	{
		int			types = number_types(v, len);

		if (types)
			return types;
		if (is_date(v, len))
			return CSV_DATE | CSV_TIMESTAMP | CSV_TIMESTAMPTZ;
		if (len > 11 && is_date(v, 10) && (v[10] == ' ' || v[10] == 'T'))
		{
			int			zone = time_part(v + 11, len - 11);

			if (zone == 0)
				return CSV_TIMESTAMP;
			if (zone == 1)
				return CSV_TIMESTAMPTZ;
		}
		return 0;
	}
	if ((len == 4 && pg_strncasecmp(v, "true", 4) == 0) ||
		(len == 5 && pg_strncasecmp(v, "false", 5) == 0))
		return CSV_BOOL;
	if (len == 3 && memcmp(v, "NaN", 3) == 0)
		return CSV_FLOAT8 | CSV_NUMERIC;
	return 0;
}

const char *
csv_type_sql(int types)
{
	if (types & CSV_BOOL)
		return "boolean";
	if (types & CSV_INT4)
		return "integer";
	if (types & CSV_INT8)
		return "bigint";
	if (types & CSV_NUMERIC)
		return "numeric";
	if (types & CSV_FLOAT8)
		return "double precision";
	if (types & CSV_DATE)
		return "date";
	if (types & CSV_TIMESTAMP)
		return "timestamp";
	if (types & CSV_TIMESTAMPTZ)
		return "timestamptz";
	return "text";
}

/* The inference mask of a type named in options.types; -1 if unknown. */
int
csv_type_from_sql(const char *t)
{
	static const struct
	{
		const char *name;
		int			mask;
	}			names[] =
	{
		{"boolean", CSV_BOOL}, {"bool", CSV_BOOL},
		{"integer", CSV_INT4}, {"int", CSV_INT4}, {"int4", CSV_INT4},
		{"bigint", CSV_INT8}, {"int8", CSV_INT8},
		{"numeric", CSV_NUMERIC}, {"decimal", CSV_NUMERIC},
		{"double precision", CSV_FLOAT8}, {"float8", CSV_FLOAT8}, {"float", CSV_FLOAT8},
		{"date", CSV_DATE}, {"timestamp", CSV_TIMESTAMP},
		{"timestamptz", CSV_TIMESTAMPTZ}, {"text", 0},
	};

	for (int i = 0; i < lengthof(names); i++)
		if (pg_strcasecmp(t, names[i].name) == 0)
			return names[i].mask;
	return -1;
}

/* Is s valid UTF-8?  On failure *bad_at is the offset of the bad byte. */
bool
csv_valid_utf8(const char *s, int len, int *bad_at)
{
	const unsigned char *u = (const unsigned char *) s;
	int			i = 0;

	while (i < len)
	{
		unsigned char c;
		int			n;

		/* plain ASCII eight bytes at a time: the common case */
		while (i + 8 <= len)
		{
			uint64		w;

			memcpy(&w, u + i, 8);
			if (w & UINT64CONST(0x8080808080808080))
				break;
			i += 8;
		}
		if (i >= len)
			break;
		c = u[i];

		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 1;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 2;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 3;
		else
			goto bad;
		for (int k = 1; k <= n; k++)
			if (i + k >= len || (u[i + k] & 0xC0) != 0x80)
				goto bad;
		/* overlongs and surrogates */
		if ((c == 0xE0 && u[i + 1] < 0xA0) || (c == 0xED && u[i + 1] > 0x9F) ||
			(c == 0xF0 && u[i + 1] < 0x90) || (c == 0xF4 && u[i + 1] > 0x8F))
			goto bad;
		i += n + 1;
	}
	return true;
bad:
	*bad_at = i;
	return false;
}
