/*-------------------------------------------------------------------------
 *
 * test_csv_scan.c
 *	  Unit tests of extension/csv_scan.c: the streaming CSV scanner, the
 *	  per-value type tests, and the UTF-8 check.
 *
 * Records are compared in a rendering that shows every field between
 * brackets, a quoted one with a "q:" prefix, one record per line, so an
 * expectation reads like the data.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "csv_scan.h"
#include "unit.h"

typedef struct Scan
{
	CsvStatus	status;			/* what ended the scan */
	StringInfoData rendered;
	int			nrecords;
	int64		first_lines[16];
	int64		end_offsets[16];
	bool		saw_lf;
	bool		saw_crlf;
	bool		saw_cr_only;
} Scan;

static const CsvDialect comma = {',', '"', '"'};

/*
 * Scan input fed in chunks of chunk bytes (0: all at once), as the analysis
 * feeds a file, until EOF or an unclosed quote.
 */
static Scan
scan(const char *input, int len, const CsvDialect *dialect, int chunk)
{
	Scan		result = {0};
	CsvScanner	scanner;
	CsvRecord	record = {0};
	int			fed = 0;
	bool		at_eof = false;

	initStringInfo(&result.rendered);
	csv_scanner_init(&scanner, dialect);
	for (;;)
	{
		CsvStatus	st = csv_next_record(&scanner, &record, at_eof);

		if (st == CSV_NEED_MORE)
		{
			int			n = chunk > 0 ? Min(chunk, len - fed) : len - fed;

			if (n == 0)
				at_eof = true;
			else
				csv_scanner_feed(&scanner, input + fed, n);
			fed += n;
			continue;
		}
		if (st != CSV_RECORD)
		{
			result.status = st;
			break;
		}
		if (result.nrecords < lengthof(result.first_lines))
		{
			result.first_lines[result.nrecords] = record.first_line;
			result.end_offsets[result.nrecords] = record.end_offset;
		}
		result.nrecords++;
		for (int i = 0; i < record.nfields; i++)
		{
			appendStringInfoString(&result.rendered, record.quoted[i] ? "[q:" : "[");
			appendBinaryStringInfo(&result.rendered, record.fields[i], record.lengths[i]);
			appendStringInfoChar(&result.rendered, ']');
		}
		appendStringInfoChar(&result.rendered, '\n');
	}
	result.saw_lf = scanner.saw_lf;
	result.saw_crlf = scanner.saw_crlf;
	result.saw_cr_only = scanner.saw_cr_only;
	return result;
}

static Scan
scan_text(const char *input)
{
	return scan(input, strlen(input), &comma, 0);
}

/* ---- the scanner -------------------------------------------------------- */

static void
scan_plain_records(void)
{
	Scan		s = scan_text("a,b,c\n1,2,3\n");

	CHECK_STR(s.rendered.data, "[a][b][c]\n[1][2][3]\n");
	CHECK_INT(s.status, CSV_EOF);
	CHECK_INT(s.nrecords, 2);
	CHECK_INT(s.end_offsets[0], 6);
	CHECK_INT(s.end_offsets[1], 12);
	CHECK(s.saw_lf && !s.saw_crlf && !s.saw_cr_only);
}

static void
scan_other_delimiters(void)
{
	const CsvDialect semicolon = {';', '"', '"'};
	const CsvDialect tab = {'\t', '"', '"'};
	const CsvDialect pipe = {'|', '"', '"'};

	CHECK_STR(scan("a;b,c\n", 6, &semicolon, 0).rendered.data, "[a][b,c]\n");
	CHECK_STR(scan("a\tb c\n", 6, &tab, 0).rendered.data, "[a][b c]\n");
	CHECK_STR(scan("a|\"b|c\"\n", 8, &pipe, 0).rendered.data, "[a][q:b|c]\n");
}

static void
scan_quoted_quotes_and_newlines(void)
{
	Scan		s = scan_text("id,text\n1,\"He said \"\"hi\"\"\"\n2,\"two\nlines\"\n3,x\n");

	CHECK_STR(s.rendered.data,
			  "[id][text]\n[1][q:He said \"hi\"]\n[2][q:two\nlines]\n[3][x]\n");
	/* a record's line is where it starts; the newline inside counts */
	CHECK_INT(s.first_lines[2], 3);
	CHECK_INT(s.first_lines[3], 5);
}

static void
scan_empty_and_quoted_empty_fields(void)
{
	CHECK_STR(scan_text(",\"\",x,\n").rendered.data, "[][q:][x][]\n");
}

static void
scan_backslash_escape(void)
{
	const CsvDialect backslash = {',', '"', '\\'};
	const char *input = "\"a\\\"b\",\"c\\\\d\",\"e\\f\"\n";

	CHECK_STR(scan(input, strlen(input), &backslash, 0).rendered.data,
			  "[q:a\"b][q:c\\d][q:e\\f]\n");
}

static void
scan_text_after_closing_quote_is_kept(void)
{
	/* COPY rejects such a field later; the scanner keeps what it saw */
	CHECK_STR(scan_text("\"ab\"cd,e\n").rendered.data, "[q:abcd][e]\n");
}

static void
scan_crlf(void)
{
	Scan		s = scan_text("a,b\r\n1,2\r\n");

	CHECK_STR(s.rendered.data, "[a][b]\n[1][2]\n");
	CHECK(s.saw_crlf);
	CHECK(!s.saw_lf);
	CHECK(!s.saw_cr_only);
	CHECK_INT(s.end_offsets[0], 5);
}

static void
scan_cr_only_and_mixed(void)
{
	Scan		cr = scan_text("a,b\r1,2\r");
	Scan		mixed = scan_text("a,b\r\n1,2\n");

	CHECK_STR(cr.rendered.data, "[a][b]\n[1][2]\n");
	CHECK(cr.saw_cr_only);
	CHECK(mixed.saw_crlf && mixed.saw_lf);
}

static void
scan_last_record_without_line_end(void)
{
	Scan		s = scan_text("a,b\n1,\"2\"");

	CHECK_STR(s.rendered.data, "[a][b]\n[1][q:2]\n");
	CHECK_INT(s.status, CSV_EOF);
}

static void
scan_ragged_rows_keep_their_field_counts(void)
{
	CHECK_STR(scan_text("a,b,c\n1,2\n1,2,3,4\n").rendered.data,
			  "[a][b][c]\n[1][2]\n[1][2][3][4]\n");
}

static void
scan_unclosed_quote(void)
{
	Scan		s = scan_text("a,b\n1,\"oops\n2,3\n");

	CHECK_INT(s.status, CSV_UNCLOSED_QUOTE);
	CHECK_STR(s.rendered.data, "[a][b]\n");
}

/* Any split of the input into chunks gives the same records. */
static void
scan_any_chunking_gives_the_same_records(void)
{
	const char *input = "h1,\"h 2\"\r\n\"x\"\"y\",\"multi\r\nline\"\r\n,\"\"\r\nlast,row";
	int			len = strlen(input);
	Scan		whole = scan(input, len, &comma, 0);

	CHECK_STR(whole.rendered.data,
			  "[h1][q:h 2]\n[q:x\"y][q:multi\r\nline]\n[][q:]\n[last][row]\n");
	for (int chunk = 1; chunk < len; chunk++)
	{
		Scan		part = scan(input, len, &comma, chunk);

		if (strcmp(part.rendered.data, whole.rendered.data) != 0)
			unit_fail(__FILE__, __LINE__, "chunks of %d bytes give \"%s\"", chunk,
					  part.rendered.data);
		if (part.end_offsets[3] != whole.end_offsets[3] || part.first_lines[3] != 5)
			unit_fail(__FILE__, __LINE__, "chunks of %d bytes: last record at line %lld, offset %lld",
					  chunk, (long long) part.first_lines[3], (long long) part.end_offsets[3]);
	}
}

/* ---- type tests ---------------------------------------------------------- */

/* The SQL type a column holding only this value would get. */
static const char *
type_of(const char *value)
{
	return csv_type_sql(csv_value_types(value, strlen(value)));
}

static void
types_integers(void)
{
	CHECK_STR(type_of("42"), "integer");
	CHECK_STR(type_of("-7"), "integer");
	CHECK_STR(type_of("+7"), "integer");
	CHECK_STR(type_of("0"), "integer");
	CHECK_STR(type_of("2147483647"), "integer");
	CHECK_STR(type_of("-2147483648"), "integer");
	CHECK_INT(csv_value_types("42", 2), CSV_INT4 | CSV_INT8 | CSV_NUMERIC | CSV_FLOAT8);
}

static void
types_bigints_and_beyond(void)
{
	CHECK_STR(type_of("2147483648"), "bigint");
	CHECK_STR(type_of("-2147483649"), "bigint");
	CHECK_STR(type_of("999999999999999999"), "bigint");
	/* 19 digits may overflow bigint, so they are taken as numeric */
	CHECK_STR(type_of("1234567890123456789"), "numeric");
}

static void
types_numeric_and_float(void)
{
	CHECK_STR(type_of("3.14"), "numeric");
	CHECK_STR(type_of("-0.5"), "numeric");
	CHECK_STR(type_of(".5"), "numeric");
	CHECK_STR(type_of("1."), "numeric");
	CHECK_STR(type_of("1e10"), "double precision");
	CHECK_STR(type_of("-1.5E-3"), "double precision");
	CHECK_STR(type_of("NaN"), "numeric");
	CHECK_INT(csv_value_types("NaN", 3), CSV_NUMERIC | CSV_FLOAT8);
	/* a column of integers and fractions is numeric; with exponents, float */
	CHECK_STR(csv_type_sql(csv_value_types("1", 1) & csv_value_types("2.5", 3)), "numeric");
	CHECK_STR(csv_type_sql(csv_value_types("1", 1) & csv_value_types("1e3", 3)), "double precision");
}

static void
types_leading_zeros_are_text(void)
{
	CHECK_STR(type_of("007"), "text");
	CHECK_STR(type_of("02134"), "text");
	CHECK_STR(type_of("-007"), "text");
	CHECK_STR(type_of("00.5"), "text");
	CHECK_STR(type_of("0.5"), "numeric");
}

static void
types_booleans(void)
{
	CHECK_STR(type_of("true"), "boolean");
	CHECK_STR(type_of("FALSE"), "boolean");
	CHECK_STR(type_of("True"), "boolean");
	CHECK_STR(type_of("yes"), "text");
	CHECK_STR(type_of("t"), "text");
	/* 1 and 0 stay numbers */
	CHECK_STR(type_of("1"), "integer");
}

static void
types_dates(void)
{
	CHECK_STR(type_of("2024-01-05"), "date");
	CHECK_STR(type_of("2024/01/05"), "date");
	CHECK_STR(type_of("2024-02-29"), "date");
	CHECK_STR(type_of("2024-13-01"), "text");
	CHECK_STR(type_of("2024-04-31"), "text");
	CHECK_STR(type_of("2024-00-10"), "text");
	CHECK_STR(type_of("2024-1-5"), "text");
	CHECK_STR(type_of("2024-01/05"), "text");
	/* PostgreSQL refuses February 29 of a common year */
	CHECK_STR(type_of("2023-02-29"), "text");
	CHECK_STR(type_of("1900-02-29"), "text");
	CHECK_STR(type_of("2000-02-29"), "date");
	CHECK_STR(type_of("0000-01-01"), "text");
	CHECK_STR(type_of("0001-01-01"), "date");
}

static void
types_timestamps(void)
{
	CHECK_STR(type_of("2024-01-05 10:30:00"), "timestamp");
	CHECK_STR(type_of("2024-01-05T10:30"), "timestamp");
	CHECK_STR(type_of("2024-01-05 10:30:00.123456"), "timestamp");
	CHECK_STR(type_of("2024-01-05 25:00"), "text");
	CHECK_STR(type_of("2024-01-05 10:61"), "text");
	CHECK_STR(type_of("2024-01-05 10:30:00."), "text");
	CHECK_STR(type_of("2024-01-05 10:30 PM"), "text");
	/* a date column with one timestamp becomes timestamp */
	CHECK_STR(csv_type_sql(csv_value_types("2024-01-05", 10) &
						   csv_value_types("2024-01-05 10:30", 16)), "timestamp");
}

static void
types_timestamptz(void)
{
	CHECK_STR(type_of("2024-01-05T10:30:00Z"), "timestamptz");
	CHECK_STR(type_of("2024-01-05 10:30:00+02:00"), "timestamptz");
	CHECK_STR(type_of("2024-01-05 10:30:00-0500"), "timestamptz");
	CHECK_STR(type_of("2024-01-05 10:30:00 +02"), "timestamptz");
	CHECK_STR(type_of("2024-01-05 10:30:00+2"), "text");
	CHECK_STR(type_of("2024-01-05 10:30:00 Z"), "text");
}

static void
types_text(void)
{
	CHECK_STR(type_of("abc"), "text");
	CHECK_STR(type_of("1,5"), "text");
	CHECK_STR(type_of("1 000"), "text");
	CHECK_STR(type_of("+"), "text");
	CHECK_STR(type_of("-"), "text");
	CHECK_STR(type_of("."), "text");
	CHECK_STR(type_of("1e"), "text");
	CHECK_STR(type_of("e5"), "text");
	CHECK_STR(type_of("0x1F"), "text");
	CHECK_STR(type_of("12abc"), "text");
	CHECK_INT(csv_value_types("abc", 3), 0);
	/* an empty value rules nothing out */
	CHECK_INT(csv_value_types("", 0), CSV_ALL_TYPES);
}

static void
types_null_markers(void)
{
	CHECK(csv_is_null_marker("", 0));
	CHECK(csv_is_null_marker("NA", 2));
	CHECK(csv_is_null_marker("N/A", 3));
	CHECK(csv_is_null_marker("NULL", 4));
	CHECK(csv_is_null_marker("null", 4));
	CHECK(!csv_is_null_marker("na", 2));
	CHECK(!csv_is_null_marker("None", 4));
	CHECK(!csv_is_null_marker("NaN", 3));
	CHECK(!csv_is_null_marker("NULLS", 5));
}

static void
types_sql_names(void)
{
	CHECK_INT(csv_type_from_sql("integer"), CSV_INT4);
	CHECK_INT(csv_type_from_sql("INT"), CSV_INT4);
	CHECK_INT(csv_type_from_sql("bigint"), CSV_INT8);
	CHECK_INT(csv_type_from_sql("Double Precision"), CSV_FLOAT8);
	CHECK_INT(csv_type_from_sql("timestamptz"), CSV_TIMESTAMPTZ);
	CHECK_INT(csv_type_from_sql("text"), 0);
	CHECK_INT(csv_type_from_sql("varchar"), -1);
	CHECK_STR(csv_type_sql(0), "text");
	CHECK_STR(csv_type_sql(CSV_ALL_TYPES), "boolean");
	CHECK_STR(csv_type_sql(CSV_DATE | CSV_TIMESTAMP | CSV_TIMESTAMPTZ), "date");
	CHECK_STR(csv_type_sql(CSV_TIMESTAMPTZ), "timestamptz");
	/* every name maps back to itself */
	{
		const char *names[] = {"boolean", "integer", "bigint", "numeric", "double precision",
		"date", "timestamp", "timestamptz", "text"};

		for (int i = 0; i < lengthof(names); i++)
			CHECK_STR(csv_type_sql(csv_type_from_sql(names[i])), names[i]);
	}
}

/* ---- UTF-8 --------------------------------------------------------------- */

static bool
utf8(const char *s, int *bad_at)
{
	*bad_at = -1;
	return csv_valid_utf8(s, strlen(s), bad_at);
}

static void
utf8_valid(void)
{
	int			bad_at;

	CHECK(utf8("plain ascii, longer than eight bytes", &bad_at));
	CHECK(utf8("caf\xC3\xA9", &bad_at));
	CHECK(utf8("\xE2\x82\xAC 5", &bad_at));	/* euro sign */
	CHECK(utf8("\xF0\x9F\x98\x80", &bad_at));	/* emoji, 4 bytes */
	CHECK(utf8("\xED\x9F\xBF", &bad_at));	/* U+D7FF, just below surrogates */
	CHECK(utf8("\xF4\x8F\xBF\xBF", &bad_at));	/* U+10FFFF */
	CHECK_INT(bad_at, -1);
}

static void
utf8_invalid(void)
{
	int			bad_at;

	CHECK(!utf8("abc\x80", &bad_at));	/* lone continuation byte */
	CHECK_INT(bad_at, 3);
	CHECK(!utf8("\xC0\xAF", &bad_at));	/* overlong '/' */
	CHECK_INT(bad_at, 0);
	CHECK(!utf8("ab\xE0\x80\x80", &bad_at));	/* overlong, 3 bytes */
	CHECK_INT(bad_at, 2);
	CHECK(!utf8("\xED\xA0\x80", &bad_at));	/* surrogate */
	CHECK(!utf8("\xF4\x90\x80\x80", &bad_at));	/* beyond U+10FFFF */
	CHECK(!utf8("\xF5\x80\x80\x80", &bad_at));
	CHECK(!utf8("x\xC3", &bad_at));	/* cut short */
	CHECK_INT(bad_at, 1);
	CHECK(!utf8("caf\xE9 latin1", &bad_at));
	CHECK_INT(bad_at, 3);
	/* past the eight-byte fast path */
	CHECK(!utf8("0123456789abcdefghij\xFF", &bad_at));
	CHECK_INT(bad_at, 20);
}

void
unit_csv_scan_cases(void)
{
	unit_run("scan: plain records", scan_plain_records);
	unit_run("scan: semicolon, tab and pipe delimiters", scan_other_delimiters);
	unit_run("scan: quoted fields with quotes and newlines", scan_quoted_quotes_and_newlines);
	unit_run("scan: empty and quoted empty fields", scan_empty_and_quoted_empty_fields);
	unit_run("scan: backslash escape", scan_backslash_escape);
	unit_run("scan: text after a closing quote is kept", scan_text_after_closing_quote_is_kept);
	unit_run("scan: CRLF line ends", scan_crlf);
	unit_run("scan: CR-only and mixed line ends", scan_cr_only_and_mixed);
	unit_run("scan: last record without a line end", scan_last_record_without_line_end);
	unit_run("scan: ragged rows keep their field counts", scan_ragged_rows_keep_their_field_counts);
	unit_run("scan: unclosed quote", scan_unclosed_quote);
	unit_run("scan: any chunking gives the same records", scan_any_chunking_gives_the_same_records);
	unit_run("types: integer", types_integers);
	unit_run("types: bigint, and numeric beyond", types_bigints_and_beyond);
	unit_run("types: numeric and double precision", types_numeric_and_float);
	unit_run("types: leading zeros are text", types_leading_zeros_are_text);
	unit_run("types: boolean", types_booleans);
	unit_run("types: date", types_dates);
	unit_run("types: timestamp", types_timestamps);
	unit_run("types: timestamptz", types_timestamptz);
	unit_run("types: text", types_text);
	unit_run("types: NULL markers", types_null_markers);
	unit_run("types: SQL names", types_sql_names);
	unit_run("utf8: valid", utf8_valid);
	unit_run("utf8: invalid", utf8_invalid);
}
