/*-------------------------------------------------------------------------
 *
 * csv_load.c
 *	  pi.load_csv's two passes over a file: the analysis (dialect, header,
 *	  column names, every value's type, bad rows) and the feed of bytes to
 *	  PostgreSQL's COPY.
 *
 * When COPY can take the file as it is (consistent line ends, NULL only as
 * empty fields in typed columns, no rows to skip), the feed hands COPY the
 * raw bytes and COPY's own parser does the rest: the load costs the
 * analysis plus a plain COPY.  Otherwise the feed re-writes every record as
 * plain CSV that COPY takes (markers such as NA turned into NULL, skipped
 * rows left out).
 *
 * The start of the file (BOM, delimiter, header, columns) is read with
 * csv_header.c; a large file is analysed on two cores (csv_parallel.c)
 * when that can be done, and by the one pass here otherwise.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/json.h"

#include "csv_analysis.h"
#include "csv_header.h"
#include "csv_load.h"
#include "csv_parallel.h"
#include "csv_scan.h"

#define PROGRESS_EVERY	(16 * 1024 * 1024)

/* ---- bad rows ---------------------------------------------------------- */

/* Note a bad row: fail at once, or remember it to leave it out. */
static void
bad_row(CsvAnalysis *a, const CsvLoadOptions *o, int64 record_no, int64 line,
		const char *reason)
{
	if (!o->skip_bad_rows)
		csv_load_error(psprintf("line %lld: %s", (long long) line, reason), NULL,
				   "Fix the file, or pass options {\"on_error\": \"skip\"} to load the other rows.");
	if (a->rejected < CSV_MAX_REJECTS_SHOWN)
	{
		appendStringInfo(&a->rejects_json, "%s{\"line\": %lld, \"reason\": ",
						 a->rejected ? ", " : "", (long long) line);
		escape_json(&a->rejects_json, reason);
		appendStringInfoChar(&a->rejects_json, '}');
	}
	a->rejected++;
	if (a->nskip == a->maxskip)
	{
		a->maxskip = a->maxskip ? a->maxskip * 2 : 1024;
		a->skip_records = a->skip_records ?
			repalloc_huge(a->skip_records, sizeof(int64) * a->maxskip) :
			palloc(sizeof(int64) * a->maxskip);
	}
	a->skip_records[a->nskip++] = record_no;
	a->needs_rewrite = true;
	a->rewrite_reason = "rows are skipped";
}

/* ---- the analysis pass ------------------------------------------------- */

static void
analyse_record(CsvAnalysis *a, const CsvLoadOptions *o, const CsvRecord *r, int64 record_no)
{
	if (r->nfields == 1 && r->lengths[0] == 0 && !r->quoted[0] && a->ncolumns > 1)
	{
		a->blank_lines++;
		a->needs_rewrite = true;
		a->rewrite_reason = "the file has blank lines";
		return;
	}
	if (r->nfields != a->ncolumns)
	{
		bad_row(a, o, record_no, r->first_line,
				psprintf("%d fields where the %s has %d", r->nfields,
						 a->header ? "header" : "first row", a->ncolumns));
		return;
	}
	if (r->nfields == 1 && r->lengths[0] == 2 && !r->quoted[0] &&
		memcmp(r->fields[0], "\\.", 2) == 0)
	{
		a->needs_rewrite = true;
		a->rewrite_reason = "a line holds only \\.";
	}

	for (int i = 0; i < r->nfields; i++)
	{
		CsvColumn  *col = &a->columns[i];
		const char *v = r->fields[i];
		int			len = r->lengths[i];
		int			bad_at;

		if (o->encoding == NULL && !csv_valid_utf8(v, len, &bad_at))
			csv_load_error(psprintf("line %lld, column \"%s\": invalid UTF-8 (byte 0x%02x near byte offset %lld of the file)",
								(long long) r->first_line, col->name, (unsigned char) v[bad_at],
								(long long) (r->end_offset - 1)),
					   NULL,
					   "Save the file as UTF-8, or name its encoding, e.g. options {\"encoding\": \"latin1\"}.");
		if (len == 0)
		{
			if (r->quoted[i])
				col->quoted_empty = true;
			continue;
		}
		if (csv_is_null_marker(v, len) || (len == 3 && memcmp(v, "NaN", 3) == 0))
		{
			col->marker_nulls = true;
			if (len == 3)
				col->types &= CSV_NUMBERS;
			continue;
		}
		if (col->override >= 0)
		{
			if (col->override != 0 && (csv_value_types(v, len) & col->override) == 0)
			{
				bad_row(a, o, record_no, r->first_line,
						psprintf("value \"%.40s\" in column \"%s\" is not a valid %s",
								 pnstrdup(v, len), col->name, csv_type_sql(col->override)));
				return;
			}
			continue;
		}
		/* a column that is already text learns nothing from more values */
		if (col->types != 0)
			col->types &= csv_value_types(v, len);
		col->seen_value = true;
	}
	a->rows++;
}

/* Close the analysis: final types, and whether COPY can read the file as is. */
static void
finish_columns(CsvAnalysis *a)
{
	for (int i = 0; i < a->ncolumns; i++)
	{
		CsvColumn  *col = &a->columns[i];
		int			types = col->override >= 0 ? col->override :
			(col->seen_value ? col->types : 0);

		col->types = types;
		if (types != 0 && (col->marker_nulls || col->quoted_empty))
		{
			a->needs_rewrite = true;
			a->rewrite_reason = "typed columns hold NULL markers such as NA";
		}
	}
}

void
csv_analyse(int fd, const CsvLoadOptions *o, CsvAnalysis *a,
			CsvProgressFn progress, void *progress_arg)
{
	CsvScanner scanner;
	CsvRecord	record = {0};
	char	   *chunk = palloc(CSV_READ_CHUNK);
	int64		offset = 0;
	int64		record_no = 0;
	int64		next_progress = PROGRESS_EVERY;
	bool		at_eof = false;
	bool		first = true;

	initStringInfo(&a->rejects_json);
	a->dialect.quote = o->quote;
	a->dialect.escape = o->escape;

	if (csv_analyse_two_cores(fd, o, a, progress, progress_arg))
	{
		if (progress)
			progress(a->file_bytes, a->file_bytes, progress_arg);
		if (a->rows == 0)
			csv_load_error("the file has a header but no rows", NULL, "Upload a CSV file with at least one data row.");
		finish_columns(a);
		pfree(chunk);
		return;
	}

	for (;;)
	{
		CsvStatus	st;

		if (!at_eof)
		{
			ssize_t		n = read(fd, chunk, CSV_READ_CHUNK);

			if (n < 0)
				ereport(ERROR, (errcode_for_file_access(), errmsg("could not read the CSV file: %m")));
			if (offset == 0)
			{
				if (csv_looks_utf16(chunk, n))
					csv_load_error("the file is UTF-16", NULL, "Save it as UTF-8 and load it again.");
				a->bom_bytes = csv_bom_bytes(chunk, n);
				a->dialect.delimiter = o->delimiter >= 0 ? (char) o->delimiter :
					csv_sniff_delimiter(chunk + a->bom_bytes, Min(n, CSV_SNIFF_BYTES) - a->bom_bytes, o->quote);
				csv_scanner_init(&scanner, &a->dialect);
				csv_scanner_feed(&scanner, chunk + a->bom_bytes, n - a->bom_bytes);
				scanner.consumed = a->bom_bytes;
			}
			else if (n > 0)
				csv_scanner_feed(&scanner, chunk, n);
			at_eof = (n == 0);
			offset += n;
			if (progress && offset >= next_progress)
			{
				progress(offset, a->file_bytes, progress_arg);
				next_progress = offset + PROGRESS_EVERY;
			}
			CHECK_FOR_INTERRUPTS();
		}

		while ((st = csv_next_record(&scanner, &record, at_eof)) == CSV_RECORD)
		{
			if (first)
			{
				if (offset == 0 || (record.nfields == 1 && record.lengths[0] == 0 && at_eof))
					break;
				a->header = o->header >= 0 ? o->header : csv_looks_like_header(&record);
				csv_setup_columns(a, o, &record);
				first = false;
				if (a->header)
					continue;
			}
			analyse_record(a, o, &record, ++record_no);
		}
		if (st == CSV_UNCLOSED_QUOTE)
		{
			if (!o->skip_bad_rows)
				csv_load_error(psprintf("line %lld: a quoted field is not closed before the end of the file",
									(long long) scanner.line),
						   NULL, "Check the quotes on that line, or pass options {\"on_error\": \"skip\"}.");
			bad_row(a, o, record_no + 1, scanner.line, "a quoted field is not closed before the end of the file");
			break;
		}
		if (st == CSV_EOF || (at_eof && st != CSV_RECORD))
			break;
	}

	if (first)
		csv_load_error("the file is empty", NULL, "Upload a CSV file with a header and at least one row.");
	if (a->rows == 0 && a->rejected == 0)
		csv_load_error("the file has a header but no rows", NULL, "Upload a CSV file with at least one data row.");
	if (scanner.saw_cr_only || (scanner.saw_crlf && scanner.saw_lf))
	{
		a->needs_rewrite = true;
		a->rewrite_reason = "line ends are mixed";
	}
	finish_columns(a);
	pfree(chunk);
}

/* ---- the feed to COPY -------------------------------------------------- */

/*
 * The state of the feed lives here, not with the caller: COPY calls
 * csv_feed_read() through copy_data_source_cb, which in PostgreSQL 15 takes
 * no argument to carry it.  One load at a time runs in a process.
 */
static struct
{
	int			fd;
	const CsvAnalysis *a;
	CsvProgressFn progress;
	void	   *progress_arg;
	CsvScanner	scanner;
	CsvRecord	record;
	StringInfoData out;
	int64		record_no;
	int64		skip_index;
	int64		offset;
	int64		end;			/* the direct feed stops here */
	int64		next_progress;
	bool		at_eof;
	bool		header_done;
	bool		done;
} feed;

/*
 * Start feeding bytes [start, end) of the file.  A rewritten feed always
 * reads the whole file (start is the BOM's end, end the file's); a direct
 * feed may take a part of it that begins and ends at a record boundary
 * (the split of a load on two backends).
 */
void
csv_feed_begin(int fd, const CsvAnalysis *a, int64 start, int64 end,
			   CsvProgressFn progress, void *progress_arg)
{
	Assert(!a->needs_rewrite || (start == a->bom_bytes && end == a->file_bytes));
	memset(&feed, 0, sizeof(feed));
	feed.fd = fd;
	feed.a = a;
	feed.progress = progress;
	feed.progress_arg = progress_arg;
	feed.next_progress = start + PROGRESS_EVERY;
	if (lseek(fd, start, SEEK_SET) < 0)
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not rewind the CSV file: %m")));
	feed.offset = start;
	feed.end = end;
	if (a->needs_rewrite)
	{
		csv_scanner_init(&feed.scanner, &a->dialect);
		initStringInfo(&feed.out);
	}
}

static bool
read_more(void)
{
	char		chunk[65536];
	ssize_t		n = read(feed.fd, chunk, sizeof(chunk));

	if (n < 0)
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not read the CSV file: %m")));
	if (n == 0)
		return false;
	csv_scanner_feed(&feed.scanner, chunk, n);
	feed.offset += n;
	return true;
}

static bool
is_null(const CsvColumn *col, const char *v, int len)
{
	if (len == 0)
		return true;
	if (col->types == 0)
		return false;			/* text keeps NA and the like as written */
	return csv_is_null_marker(v, len) || (len == 3 && memcmp(v, "NaN", 3) == 0);
}

/* Write one record as CSV that COPY (delimiter ',', quote '"') reads. */
static void
emit_record(const CsvRecord *r)
{
	for (int i = 0; i < r->nfields; i++)
	{
		const char *v = r->fields[i];
		int			len = r->lengths[i];

		if (i)
			appendStringInfoChar(&feed.out, ',');
		if (is_null(&feed.a->columns[i], v, len))
			continue;
		if (memchr(v, ',', len) || memchr(v, '"', len) || memchr(v, '\n', len) ||
			memchr(v, '\r', len) || (len == 2 && v[0] == '\\' && v[1] == '.'))
		{
			appendStringInfoChar(&feed.out, '"');
			for (int k = 0; k < len; k++)
			{
				if (v[k] == '"')
					appendStringInfoChar(&feed.out, '"');
				appendStringInfoChar(&feed.out, v[k]);
			}
			appendStringInfoChar(&feed.out, '"');
		}
		else
			appendBinaryStringInfo(&feed.out, v, len);
	}
	appendStringInfoChar(&feed.out, '\n');
}

/* Produce rewritten records until out holds at least want bytes. */
static void
rewrite_until(int want)
{
	const CsvAnalysis *a = feed.a;

	while (feed.out.len - feed.out.cursor < want && !feed.done)
	{
		CsvStatus	st = csv_next_record(&feed.scanner, &feed.record, feed.at_eof);

		if (st == CSV_NEED_MORE)
		{
			if (!read_more())
				feed.at_eof = true;
			continue;
		}
		if (st != CSV_RECORD)
		{
			feed.done = true;
			break;
		}
		if (a->header && !feed.header_done)
		{
			feed.header_done = true;
			continue;
		}
		feed.record_no++;		/* numbered as in the analysis */
		if (feed.record.nfields == 1 && feed.record.lengths[0] == 0 &&
			!feed.record.quoted[0] && a->ncolumns > 1)
			continue;			/* blank line */
		if (feed.skip_index < a->nskip && a->skip_records[feed.skip_index] == feed.record_no)
		{
			feed.skip_index++;
			continue;
		}
		emit_record(&feed.record);
	}
}

/* COPY's data source callback. */
int
csv_feed_read(void *outbuf, int minread, int maxread)
{
	int			n;

	CHECK_FOR_INTERRUPTS();
	if (feed.progress && feed.offset >= feed.next_progress)
	{
		feed.progress(feed.offset, feed.a->file_bytes, feed.progress_arg);
		feed.next_progress = feed.offset + PROGRESS_EVERY;
	}
	if (!feed.a->needs_rewrite)
	{
		ssize_t		got;

		if (feed.offset >= feed.end)
			return 0;
		got = read(feed.fd, outbuf, Min((int64) maxread, feed.end - feed.offset));

		if (got < 0)
			ereport(ERROR, (errcode_for_file_access(), errmsg("could not read the CSV file: %m")));
		feed.offset += got;
		return (int) got;
	}

	if (feed.out.cursor > 0 && feed.out.cursor == feed.out.len)
		resetStringInfo(&feed.out);
	rewrite_until(maxread);
	n = Min(maxread, feed.out.len - feed.out.cursor);
	memcpy(outbuf, feed.out.data + feed.out.cursor, n);
	feed.out.cursor += n;
	return n;
}

void
csv_feed_end(void)
{
	memset(&feed, 0, sizeof(feed));
}

/*
 * Convert the header texts of a file in another encoding; needs a
 * transaction (the conversion function is looked up in the catalog).
 */
void
csv_convert_header(CsvAnalysis *a, const CsvLoadOptions *o)
{
	if (o->encoding == NULL || !a->header)
		return;
	for (int i = 0; i < a->ncolumns; i++)
		a->columns[i].original = (char *)
			pg_do_encoding_conversion((unsigned char *) a->columns[i].original,
									  strlen(a->columns[i].original),
									  pg_char_to_encoding(o->encoding),
									  GetDatabaseEncoding());
}
