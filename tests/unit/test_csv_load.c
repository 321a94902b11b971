/*-------------------------------------------------------------------------
 *
 * test_csv_load.c
 *	  Unit tests of what pi.load_csv decides about a file before COPY sees
 *	  it: the start of the file (extension/csv_header.c), the analysis and
 *	  the rewritten stream fed to COPY (extension/csv_load.c), and the
 *	  two-core analysis of a large file (extension/csv_parallel.c).
 *
 * Each case writes its bytes to an unlinked temporary file, as the load
 * reads a workspace file through a descriptor.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "csv_analysis.h"
#include "csv_header.h"
#include "csv_load.h"
#include "unit.h"

/* Options as pi.load_csv has them when the caller gives none. */
static CsvLoadOptions
default_options(void)
{
	CsvLoadOptions o = {0};

	o.delimiter = -1;
	o.quote = '"';
	o.escape = '"';
	o.header = -1;
	return o;
}

static int
file_with(const char *data, size_t len)
{
	FILE	   *f = tmpfile();
	int			fd;

	if (f == NULL || fwrite(data, 1, len, f) != len || fflush(f) != 0)
	{
		perror("unit tests: temporary file");
		abort();
	}
	fd = dup(fileno(f));
	fclose(f);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

typedef struct ProgressSeen
{
	int			calls;
	int64		last_done;
	int64		last_total;
} ProgressSeen;

static void
note_progress(int64 done, int64 total, void *arg)
{
	ProgressSeen *seen = (ProgressSeen *) arg;

	seen->calls++;
	seen->last_done = done;
	seen->last_total = total;
}

/* Analyse data as pi_load_csv_run does; the descriptor stays open for a feed. */
static int
analyse_len(const char *data, size_t len, const CsvLoadOptions *o, CsvAnalysis *a)
{
	int			fd = file_with(data, len);

	memset(a, 0, sizeof(*a));
	a->file_bytes = len;
	csv_analyse(fd, o, a, NULL, NULL);
	return fd;
}

static void
analyse(const char *data, const CsvLoadOptions *o, CsvAnalysis *a)
{
	close(analyse_len(data, strlen(data), o, a));
}

/* Everything COPY would read. */
static char *
feed_all(int fd, const CsvAnalysis *a)
{
	StringInfoData out;
	char		buf[7];			/* small, so records straddle reads */
	int			n;

	initStringInfo(&out);
	csv_feed_begin(fd, a, a->bom_bytes, a->file_bytes, NULL, NULL);
	while ((n = csv_feed_read(buf, 1, sizeof(buf))) > 0)
		appendBinaryStringInfo(&out, buf, n);
	csv_feed_end();
	close(fd);
	return out.data;
}

static const char *
column_type(const CsvAnalysis *a, int i)
{
	return i < a->ncolumns ? csv_type_sql(a->columns[i].types) : "(no such column)";
}

/* ---- the start of the file ---------------------------------------------- */

static void
start_bom_and_utf16(void)
{
	CHECK_INT(csv_bom_bytes("\xEF\xBB\xBF" "a,b", 6), 3);
	CHECK_INT(csv_bom_bytes("a,b", 3), 0);
	CHECK_INT(csv_bom_bytes("\xEF\xBB", 2), 0);
	CHECK(csv_looks_utf16("\xFF\xFE" "a\0", 4));
	CHECK(csv_looks_utf16("\xFE\xFF\0a", 4));
	CHECK(!csv_looks_utf16("\xEF\xBB\xBF" "a", 4));
	CHECK(!csv_looks_utf16("ab", 2));
}

static char
sniff(const char *text)
{
	return csv_sniff_delimiter(text, strlen(text), '"');
}

static void
start_delimiter_detection(void)
{
	CHECK_INT(sniff("a,b,c\n1,2,3\n"), ',');
	CHECK_INT(sniff("a;b;c\n1;2;3\n"), ';');
	CHECK_INT(sniff("a\tb\tc\n1\t2\t3\n"), '\t');
	CHECK_INT(sniff("a|b|c\n1|2|3\n"), '|');
	/* decimal commas: the comma count varies by line, the semicolon's not */
	CHECK_INT(sniff("price;qty\n1,5;2\n2,25;3\n"), ';');
	/* delimiters inside quotes do not count */
	CHECK_INT(sniff("name;note\nann;\"a, b, c\"\nbob;\"d, e\"\n"), ';');
	/* blank lines, CRLF ones too, do not break the count */
	CHECK_INT(sniff("a;b\n\n1;2\r\n\r\n3;4\n"), ';');
	/* one column: nothing stands out, a comma */
	CHECK_INT(sniff("value\n1\n2\n"), ',');
	/* the most fields wins over a consistent but smaller count */
	CHECK_INT(sniff("a|b;c;d\n1|2;3;4\n"), ';');
}

/* A record made of the given fields, unquoted. */
static CsvRecord *
record_of(int nfields, char **fields)
{
	CsvRecord  *r = palloc0(sizeof(CsvRecord));

	r->nfields = nfields;
	r->fields = fields;
	r->lengths = palloc(sizeof(int) * (nfields + 1));
	r->quoted = palloc0(sizeof(bool) * (nfields + 1));
	for (int i = 0; i < nfields; i++)
		r->lengths[i] = strlen(fields[i]);
	return r;
}

static void
start_header_detection(void)
{
	char	   *names[] = {"id", "name", "amount"};
	char	   *values[] = {"1", "ann", "3.5"};
	char	   *dates[] = {"when", "2024-01-05"};
	char	   *flags[] = {"name", "true"};
	char	   *blanks[] = {"name", ""};

	CHECK(csv_looks_like_header(&(CsvRecord) {0}));
	CHECK(csv_looks_like_header(record_of(3, names)));
	CHECK(!csv_looks_like_header(record_of(3, values)));
	CHECK(!csv_looks_like_header(record_of(2, dates)));
	CHECK(!csv_looks_like_header(record_of(2, flags)));
	CHECK(csv_looks_like_header(record_of(2, blanks)));
}

/* Column names that csv_setup_columns gives a header. */
static void
start_safe_column_names(void)
{
	char	   *header[] = {"Order ID", "2024 Sales", "a", "a", "", "__x__", "caf\xC3\xA9"};
	CsvRecord  *r = record_of(lengthof(header), header);
	CsvLoadOptions o = default_options();
	CsvAnalysis a = {0};
	const char *expected[] = {"order_id", "c_2024_sales", "a", "a_2", "column_5", "x", "caf"};

	a.header = true;
	csv_setup_columns(&a, &o, r);
	CHECK_INT(a.ncolumns, lengthof(header));
	for (int i = 0; i < lengthof(expected) && i < a.ncolumns; i++)
	{
		CHECK_STR(a.columns[i].name, expected[i]);
		CHECK_INT(a.columns[i].types, CSV_ALL_TYPES);
		CHECK_INT(a.columns[i].override, -1);
	}
	CHECK_STR(a.columns[0].original, "Order ID");
}

/* options.types as pi.load_csv builds it: name, type, name, type... */
static List *
type_pairs(int npairs, const char **items)
{
	List	   *l = palloc0(offsetof(List, initial_elements) + sizeof(ListCell) * npairs * 2);

	l->type = T_List;
	l->length = l->max_length = npairs * 2;
	l->elements = l->initial_elements;
	for (int i = 0; i < npairs * 2; i++)
		l->elements[i].ptr_value = (void *) items[i];
	return l;
}

static void
start_column_errors(void)
{
	char	   *header[] = {"a", "b"};
	CsvRecord  *r = record_of(2, header);
	CsvLoadOptions o = default_options();
	CsvAnalysis a = {0};
	const char *unknown[] = {"c", "integer"};
	char	  **wide = palloc(sizeof(char *) * (CSV_MAX_COLUMNS + 1));
	char	   *bad_header[] = {"ok", "caf\xE9"};

	o.type_names = type_pairs(1, unknown);
	CHECK_ERROR(csv_setup_columns(&a, &o, r), "options.types names column \"c\"");

	for (int i = 0; i <= CSV_MAX_COLUMNS; i++)
		wide[i] = "x";
	memset(&a, 0, sizeof(a));
	o = default_options();
	CHECK_ERROR(csv_setup_columns(&a, &o, record_of(CSV_MAX_COLUMNS + 1, wide)),
				"PostgreSQL tables hold at most 1600");

	memset(&a, 0, sizeof(a));
	a.header = true;
	CHECK_ERROR(csv_setup_columns(&a, &o, record_of(2, bad_header)),
				"the header of column 2 is not valid UTF-8");
}

/* ---- the analysis -------------------------------------------------------- */

static void
analysis_header_and_dialect(void)
{
	CsvLoadOptions o = default_options();
	CsvAnalysis a;

	analyse("name;age\nann;30\nbob;41\n", &o, &a);
	CHECK_INT(a.dialect.delimiter, ';');
	CHECK(a.header);
	CHECK_INT(a.ncolumns, 2);
	CHECK_STR(a.columns[0].name, "name");
	CHECK_STR(column_type(&a, 0), "text");
	CHECK_STR(column_type(&a, 1), "integer");
	CHECK_INT(a.rows, 2);
	CHECK(!a.needs_rewrite);

	analyse("1|2\n3|4\n", &o, &a);
	CHECK_INT(a.dialect.delimiter, '|');
	CHECK(!a.header);
	CHECK_STR(a.columns[1].name, "column_2");
	CHECK_INT(a.rows, 2);

	/* header forced off: the names become a row, and the columns text */
	o.header = 0;
	analyse("name,age\nann,30\n", &o, &a);
	CHECK(!a.header);
	CHECK_INT(a.rows, 2);
	CHECK_STR(column_type(&a, 1), "text");
}

static void
analysis_every_type(void)
{
	CsvLoadOptions o = default_options();
	CsvAnalysis a;
	const char *expected[] = {"integer", "bigint", "numeric", "double precision", "boolean",
	"date", "timestamp", "timestamptz", "text", "text", "numeric"};

	analyse("i,b,n,f,ok,d,ts,tstz,zip,t,mixed\n"
			"1,3000000000,1.5,1e3,true,2024-01-05,2024-01-05 10:00,2024-01-05T10:00:00Z,02134,a,1\n"
			"-2,4,2,2.5E-1,False,2024-02-29,2024-01-05 11:00:30,2024-01-05 10:00+01:00,10001,b,2.5\n",
			&o, &a);
	CHECK_INT(a.ncolumns, lengthof(expected));
	for (int i = 0; i < lengthof(expected); i++)
		CHECK_STR(column_type(&a, i), expected[i]);
}

static void
analysis_null_markers(void)
{
	CsvLoadOptions o = default_options();
	CsvAnalysis a;
	const char *data;
	int			fd;

	/* NA in a typed column: NULL, which the raw file cannot say to COPY */
	data = "n,t,e\n1,NA,\n,x,\nNULL,N/A,\n3,y,\n";
	fd = analyse_len(data, strlen(data), &o, &a);
	CHECK_STR(column_type(&a, 0), "integer");
	CHECK(a.columns[0].marker_nulls);
	CHECK_STR(column_type(&a, 1), "text");
	CHECK_STR(column_type(&a, 2), "text");	/* never a value */
	CHECK(a.needs_rewrite);
	CHECK_CONTAINS(a.rewrite_reason, "NULL markers");
	/* the markers go as empty fields (NULL); text keeps them as written */
	CHECK_STR(feed_all(fd, &a), "1,NA,\n,x,\n,N/A,\n3,y,\n");

	/* in a text column they are text, and the file goes to COPY as it is */
	analyse("t\nNA\nx\n", &o, &a);
	CHECK_STR(column_type(&a, 0), "text");
	CHECK(!a.needs_rewrite);

	/* NaN keeps a column a number */
	analyse("f\n1.5\nNaN\n", &o, &a);
	CHECK_STR(column_type(&a, 0), "numeric");
}

static void
analysis_ragged_rows(void)
{
	CsvLoadOptions o = default_options();
	CsvAnalysis a;
	const char *data = "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n";
	int			fd;

	CHECK_ERROR(analyse(data, &o, &a), "line 3: 2 fields where the header has 3");
	CHECK_CONTAINS(unit_last_hint(), "on_error");

	o.skip_bad_rows = true;
	fd = analyse_len(data, strlen(data), &o, &a);
	CHECK_INT(a.rows, 2);
	CHECK_INT(a.rejected, 2);
	CHECK_STR(a.rejects_json.data,
			  "{\"line\": 3, \"reason\": \"2 fields where the header has 3\"}, "
			  "{\"line\": 4, \"reason\": \"4 fields where the header has 3\"}");
	CHECK(a.needs_rewrite);
	CHECK_STR(feed_all(fd, &a), "1,2,3\n10,11,12\n");
}

static void
analysis_bom_and_line_ends(void)
{
	CsvLoadOptions o = default_options();
	CsvAnalysis a;
	const char *bom = "\xEF\xBB\xBF" "id,name\r\n1,ann\r\n";
	int			fd;

	fd = analyse_len(bom, strlen(bom), &o, &a);
	CHECK_INT(a.bom_bytes, 3);
	CHECK_STR(a.columns[0].name, "id");
	CHECK_STR(a.columns[0].original, "id");
	CHECK(!a.needs_rewrite);	/* CRLF throughout is fine for COPY */
	/* COPY reads from after the BOM, and the header itself */
	CHECK_STR(feed_all(fd, &a), "id,name\r\n1,ann\r\n");

	analyse("id,name\r\n1,ann\n2,bob\r\n", &o, &a);
	CHECK(a.needs_rewrite);
	CHECK_STR(a.rewrite_reason, "line ends are mixed");
}

static void
analysis_quoted_fields_rewritten(void)
{
	CsvLoadOptions o = default_options();
	CsvAnalysis a;
	const char *data = "k;v\n1;\"say \"\"hi\"\", a,b\"\n\n2;\"two\nlines\"\n";
	int			fd;

	/* the blank line is left out, which COPY cannot do: a rewrite */
	fd = analyse_len(data, strlen(data), &o, &a);
	CHECK_INT(a.dialect.delimiter, ';');
	CHECK_INT(a.blank_lines, 1);
	CHECK_INT(a.rows, 2);
	CHECK(a.needs_rewrite);
	/* rewritten for COPY's defaults: comma, doubled quotes */
	CHECK_STR(feed_all(fd, &a), "1,\"say \"\"hi\"\", a,b\"\n2,\"two\nlines\"\n");
}

static void
analysis_invalid_utf8(void)
{
	CsvLoadOptions o = default_options();
	CsvAnalysis a;

	CHECK_ERROR(analyse("name\ncaf\xE9\n", &o, &a), "line 2, column \"name\": invalid UTF-8 (byte 0xe9");
	CHECK_CONTAINS(unit_last_hint(), "encoding");

	/* with the encoding named, the bytes are left to COPY's conversion */
	o.encoding = "LATIN1";
	analyse("name\ncaf\xE9\n", &o, &a);
	CHECK_INT(a.rows, 1);
	CHECK_STR(column_type(&a, 0), "text");
}

static void
analysis_file_errors(void)
{
	CsvLoadOptions o = default_options();
	CsvAnalysis a;

	CHECK_ERROR(analyse("", &o, &a), "the file is empty");
	CHECK_ERROR(analyse("a,b\n", &o, &a), "the file has a header but no rows");
	CHECK_ERROR(close(analyse_len("\xFF\xFE" "a\0,\0b\0", 8, &o, &a)), "the file is UTF-16");
	CHECK_ERROR(analyse("a,b\n1,\"open\n", &o, &a),
				"line 2: a quoted field is not closed before the end of the file");
}

static void
analysis_type_overrides(void)
{
	CsvLoadOptions o = default_options();
	CsvAnalysis a;
	const char *zip_text[] = {"zip", "text"};
	const char *n_int[] = {"N", "integer"};

	/* a column named by its header text or its safe name */
	o.type_names = type_pairs(1, zip_text);
	analyse("zip,n\n10001,1\n", &o, &a);
	CHECK_STR(column_type(&a, 0), "text");
	CHECK_STR(column_type(&a, 1), "integer");

	o.type_names = type_pairs(1, n_int);
	CHECK_ERROR(analyse("zip,N\n10001,1\n10002,x\n", &o, &a),
				"value \"x\" in column \"n\" is not a valid integer");
}

/* A file over csv_parallel.c's threshold is analysed in two halves. */
static void
analysis_two_cores_agree_with_one(void)
{
	StringInfoData data;
	CsvLoadOptions o = default_options();
	CsvAnalysis two,
				one;
	ProgressSeen seen = {0};
	int			fd;

	initStringInfo(&data);
	appendStringInfoString(&data, "id,price,day,label,note\n");
	for (int i = 0; data.len < 40 * 1024 * 1024; i++)
		appendStringInfo(&data, "%d,%d.%02d,2024-%02d-%02d,item %d,\"a, \"\"quoted\"\" note\"\n",
						 i, i % 1000, i % 100, i % 12 + 1, i % 28 + 1, i);
	appendStringInfoString(&data, "3000000000,1e5,2024-12-31,,\n");

	fd = file_with(data.data, data.len);
	memset(&two, 0, sizeof(two));
	two.file_bytes = data.len;
	csv_analyse(fd, &o, &two, note_progress, &seen);
	close(fd);
	CHECK(two.two_cores);
	CHECK(seen.calls >= 2);		/* while it scans, and at the end */
	CHECK_INT(seen.last_done, data.len);
	CHECK_INT(seen.last_total, data.len);

	/* skipping bad rows needs their line numbers: one pass */
	o.skip_bad_rows = true;
	memset(&seen, 0, sizeof(seen));
	fd = file_with(data.data, data.len);
	memset(&one, 0, sizeof(one));
	one.file_bytes = data.len;
	csv_analyse(fd, &o, &one, note_progress, &seen);
	close(fd);
	CHECK(!one.two_cores);
	CHECK(seen.calls >= 2);		/* every 16 MB */

	CHECK_INT(two.rows, one.rows);
	CHECK_INT(two.ncolumns, 5);
	CHECK_INT(one.ncolumns, 5);
	for (int i = 0; i < 5; i++)
		CHECK_STR(column_type(&two, i), column_type(&one, i));
	CHECK_STR(column_type(&two, 0), "bigint");
	CHECK_STR(column_type(&two, 1), "double precision");
	CHECK_STR(column_type(&two, 2), "date");
	CHECK_STR(column_type(&two, 3), "text");
	CHECK_INT(two.needs_rewrite, one.needs_rewrite);
}

void
unit_csv_load_cases(void)
{
	unit_run("start: BOM and UTF-16", start_bom_and_utf16);
	unit_run("start: delimiter detection", start_delimiter_detection);
	unit_run("start: header detection", start_header_detection);
	unit_run("start: safe column names", start_safe_column_names);
	unit_run("start: column errors", start_column_errors);
	unit_run("analysis: header and dialect", analysis_header_and_dialect);
	unit_run("analysis: every type", analysis_every_type);
	unit_run("analysis: NULL markers", analysis_null_markers);
	unit_run("analysis: ragged rows", analysis_ragged_rows);
	unit_run("analysis: BOM and line ends", analysis_bom_and_line_ends);
	unit_run("analysis: quoted fields rewritten", analysis_quoted_fields_rewritten);
	unit_run("analysis: invalid UTF-8", analysis_invalid_utf8);
	unit_run("analysis: file errors", analysis_file_errors);
	unit_run("analysis: type overrides", analysis_type_overrides);
	unit_run("analysis: two cores agree with one", analysis_two_cores_agree_with_one);
}
