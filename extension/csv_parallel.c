/*-------------------------------------------------------------------------
 *
 * csv_parallel.c
 *	  pi.load_csv's analysis of a large file on two cores.
 *
 * A large file is analysed in two halves at once: this process takes the
 * first, a thread the second.  The thread touches nothing of PostgreSQL (no
 * palloc, no ereport, all signals blocked): it reads the mapped file and
 * fills plain arrays.  Anything unusual (a ragged row, bad UTF-8, a value
 * that breaks an overridden type, an unclosed quote) or a split point that
 * turns out to lie inside a quoted field makes the caller fall back to the
 * one-pass analysis, which reports such things precisely.
 *
 * This process scans its half in slices, checking for cancel and reporting
 * progress between them.  Whatever way the analysis ends, an error
 * included, the thread is stopped and joined and the file unmapped (the
 * PG_FINALLY of csv_analyse_two_cores): the thread reads the mapping.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/mman.h>

#include "miscadmin.h"

#include "csv_analysis.h"
#include "csv_header.h"
#include "csv_parallel.h"
#include "csv_scan.h"

#define PARALLEL_MIN_BYTES	(32 * 1024 * 1024)
/* This process's half is scanned in slices of this size (~20 ms each). */
#define SLICE_BYTES			(8 * 1024 * 1024)

typedef struct PartScan
{
	const char *s;				/* the mapped file */
	size_t		begin;			/* first byte of the part */
	size_t		limit;			/* records start before this offset */
	size_t		file_end;
	CsvDialect	dialect;
	int			ncolumns;
	const int  *overrides;		/* per column: mask, or -1 */
	bool		check_utf8;
	atomic_bool *stop;			/* set by this process: give up at once */
	/* results */
	size_t		end;			/* offset after the last record */
	int64		rows;
	int64		blank_lines;
	unsigned char *types;
	bool	   *seen;
	bool	   *markers;
	bool	   *quoted_empty;
	bool		anomaly;
	bool		dot_line;
	bool		cr_only;
	bool		crlf;
	bool		lf;
} PartScan;

static void
part_field(PartScan *p, int col, const char *v, size_t len, bool quoted)
{
	int			bad_at;

	if (p->check_utf8 && !csv_valid_utf8(v, (int) len, &bad_at))
	{
		p->anomaly = true;
		return;
	}
	if (len == 0)
	{
		if (quoted)
			p->quoted_empty[col] = true;
		return;
	}
	if (csv_is_null_marker(v, (int) len) || (len == 3 && memcmp(v, "NaN", 3) == 0))
	{
		p->markers[col] = true;
		if (len == 3)
			p->types[col] &= CSV_NUMBERS;
		return;
	}
	if (p->overrides[col] >= 0)
	{
		if (p->overrides[col] != 0 && (csv_value_types(v, (int) len) & p->overrides[col]) == 0)
			p->anomaly = true;
		return;
	}
	if (p->types[col] != 0)
		p->types[col] &= csv_value_types(v, (int) len);
	p->seen[col] = true;
}

/* Scan the records of one part; quoted fields are typed as written. */
static void *
scan_part(void *arg)
{
	PartScan   *p = (PartScan *) arg;
	const char *s = p->s;
	const char	delim = p->dialect.delimiter,
				quote = p->dialect.quote,
				escape = p->dialect.escape;
	size_t		i = p->begin;
	size_t		end = p->file_end;

	while (i < p->limit && i < end && !p->anomaly &&
		   !atomic_load_explicit(p->stop, memory_order_relaxed))
	{
		int			nfields = 0;
		const char *first = s + i;
		size_t		first_len = 0;
		bool		first_quoted = false;

		for (;;)
		{
			size_t		start = i;
			bool		quoted = false;

			if (i < end && s[i] == quote)
			{
				quoted = true;
				start = ++i;
				for (;;)
				{
					while (i < end && s[i] != quote && s[i] != escape)
						i++;
					if (i >= end)
					{
						p->anomaly = true;	/* unclosed quote */
						return NULL;
					}
					if (i + 1 < end && (s[i + 1] == quote || (escape != quote && s[i + 1] == escape)) &&
						(s[i] == escape || escape == quote))
					{
						i += 2;
						continue;
					}
					if (s[i] == quote)
						break;
					i++;		/* a lone escape character */
				}
				if (nfields < p->ncolumns)
					part_field(p, nfields, s + start, i - start, true);
				i++;			/* the closing quote */
				if (i < end && s[i] != delim && s[i] != '\n' && s[i] != '\r')
				{
					p->anomaly = true;	/* text after a closing quote */
					return NULL;
				}
			}
			else
			{
				while (i < end && s[i] != delim && s[i] != '\n' && s[i] != '\r')
					i++;
				if (nfields < p->ncolumns)
					part_field(p, nfields, s + start, i - start, false);
			}
			if (nfields == 0)
			{
				first = s + start;
				first_len = i - start - (quoted ? 1 : 0);
				first_quoted = quoted;
			}
			nfields++;
			if (i < end && s[i] == delim)
			{
				i++;
				continue;
			}
			break;
		}
		/* the line end */
		if (i < end && s[i] == '\r')
		{
			if (i + 1 < end && s[i + 1] == '\n')
			{
				p->crlf = true;
				i++;
			}
			else
				p->cr_only = true;
			i++;
		}
		else if (i < end)
		{
			p->lf = true;
			i++;
		}

		if (nfields == 1 && first_len == 0 && !first_quoted && p->ncolumns > 1)
			p->blank_lines++;
		else if (nfields != p->ncolumns)
			p->anomaly = true;
		else
		{
			if (nfields == 1 && first_len == 2 && !first_quoted && memcmp(first, "\\.", 2) == 0)
				p->dot_line = true;
			p->rows++;
		}
	}
	p->end = i;
	return NULL;
}

static void
part_init(PartScan *p, const char *map, size_t begin, size_t limit, size_t size,
		  const CsvAnalysis *a, const int *overrides, bool check_utf8, atomic_bool *stop)
{
	memset(p, 0, sizeof(*p));
	p->stop = stop;
	p->s = map;
	p->begin = begin;
	p->limit = limit;
	p->file_end = size;
	p->dialect = a->dialect;
	p->ncolumns = a->ncolumns;
	p->overrides = overrides;
	p->check_utf8 = check_utf8;
	p->types = palloc(a->ncolumns);
	memset(p->types, CSV_ALL_TYPES, a->ncolumns);
	p->seen = palloc0(sizeof(bool) * a->ncolumns);
	p->markers = palloc0(sizeof(bool) * a->ncolumns);
	p->quoted_empty = palloc0(sizeof(bool) * a->ncolumns);
}

static void
part_merge(CsvAnalysis *a, const PartScan *p)
{
	for (int c = 0; c < a->ncolumns; c++)
	{
		CsvColumn  *col = &a->columns[c];

		col->types &= p->types[c];
		col->seen_value |= p->seen[c];
		col->marker_nulls |= p->markers[c];
		col->quoted_empty |= p->quoted_empty[c];
	}
	a->rows += p->rows;
	a->blank_lines += p->blank_lines;
	if (p->blank_lines > 0)
	{
		a->needs_rewrite = true;
		a->rewrite_reason = "the file has blank lines";
	}
	if (p->dot_line)
	{
		a->needs_rewrite = true;
		a->rewrite_reason = "a line holds only \\.";
	}
}

/* What must be undone however the analysis ends. */
typedef struct TwoCoreState
{
	char	   *map;
	size_t		size;
	pthread_t	thread;
	bool		thread_running;
	atomic_bool stop;
	PartScan	head;
	PartScan	tail;
} TwoCoreState;

/*
 * Scan this process's half in slices: between slices, a cancel or a
 * terminate request is honoured and progress reported (progress may throw
 * to cancel the load).  Both halves go at about the same pace, so twice
 * this half's bytes is the estimate for the whole.
 */
static void
scan_head_in_slices(PartScan *head, size_t start, size_t mid, size_t size,
					CsvProgressFn progress, void *progress_arg)
{
	for (;;)
	{
		head->limit = Min(head->begin + SLICE_BYTES, mid);
		(void) scan_part(head);
		if (head->anomaly || head->end >= mid)
			return;
		head->begin = head->end;
		CHECK_FOR_INTERRUPTS();
		if (progress)
			progress((int64) Min(2 * (head->end - start), size), (int64) size, progress_arg);
	}
}

/*
 * The two-core analysis of the mapped file in st.  Returns false when the
 * one-pass analysis must do it instead.
 */
static bool
analyse_mapped(TwoCoreState *st, const CsvLoadOptions *o, CsvAnalysis *a,
			   CsvProgressFn progress, void *progress_arg)
{
	const char *map = st->map;
	size_t		size = st->size;
	CsvScanner	scanner;
	CsvRecord	record = {0};
	size_t		start;
	size_t		mid;
	int		   *overrides;
	sigset_t	all,
				old;
	const char *nl;

	/* the dialect, the header and the columns, from the first megabyte */
	if (csv_looks_utf16(map, size))
		return false;
	a->bom_bytes = csv_bom_bytes(map, size);
	a->dialect.delimiter = o->delimiter >= 0 ? (char) o->delimiter :
		csv_sniff_delimiter(map + a->bom_bytes, (int) Min(size, CSV_SNIFF_BYTES) - a->bom_bytes, o->quote);
	csv_scanner_init(&scanner, &a->dialect);
	csv_scanner_feed(&scanner, map + a->bom_bytes, (int) Min(size, CSV_READ_CHUNK) - a->bom_bytes);
	if (csv_next_record(&scanner, &record, false) != CSV_RECORD)
		return false;
	a->header = o->header >= 0 ? o->header : csv_looks_like_header(&record);
	csv_setup_columns(a, o, &record);
	start = a->header ? a->bom_bytes + scanner.pending.cursor : a->bom_bytes;

	nl = memchr(map + start + (size - start) / 2, '\n', size - start - (size - start) / 2);
	if (nl == NULL)
		return false;
	mid = (size_t) (nl - map) + 1;

	overrides = palloc(sizeof(int) * a->ncolumns);
	for (int c = 0; c < a->ncolumns; c++)
		overrides[c] = a->columns[c].override;
	part_init(&st->head, map, start, mid, size, a, overrides, o->encoding == NULL, &st->stop);
	part_init(&st->tail, map, mid, size, size, a, overrides, o->encoding == NULL, &st->stop);

	/* the thread must never run one of PostgreSQL's signal handlers */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	st->thread_running = pthread_create(&st->thread, NULL, scan_part, &st->tail) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!st->thread_running)
		return false;
	scan_head_in_slices(&st->head, start, mid, size, progress, progress_arg);
	pthread_join(st->thread, NULL);
	st->thread_running = false;

	if (st->head.anomaly || st->tail.anomaly || st->head.end != mid ||
		st->head.cr_only || st->tail.cr_only ||
		((st->head.crlf || st->tail.crlf) && (st->head.lf || st->tail.lf)))
		return false;
	part_merge(a, &st->head);
	part_merge(a, &st->tail);
	a->two_cores = true;
	/* a record boundary, where a second backend can take over the load */
	a->split_offset = (int64) mid;
	a->split_line = st->head.rows + st->head.blank_lines + (a->header ? 1 : 0);
	return true;
}

/*
 * Analyse a large file on two cores.  Returns false, having changed nothing
 * the caller keeps, when the one-pass analysis must do it instead.
 */
bool
csv_analyse_two_cores(int fd, const CsvLoadOptions *o, CsvAnalysis *a,
					  CsvProgressFn progress, void *progress_arg)
{
	TwoCoreState *st;
	bool		ok;

	if (a->file_bytes < PARALLEL_MIN_BYTES || o->skip_bad_rows)
		return false;
	st = palloc0(sizeof(TwoCoreState));
	st->size = (size_t) a->file_bytes;
	st->map = mmap(NULL, st->size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (st->map == MAP_FAILED)
		return false;
	(void) madvise(st->map, st->size, MADV_SEQUENTIAL);
	atomic_init(&st->stop, false);

	PG_TRY();
	{
		ok = analyse_mapped(st, o, a, progress, progress_arg);
	}
	PG_FINALLY();
	{
		if (st->thread_running)
		{
			atomic_store(&st->stop, true);
			pthread_join(st->thread, NULL);
		}
		munmap(st->map, st->size);
	}
	PG_END_TRY();
	pfree(st);

	if (!ok)
	{
		/* undo what the attempt set up; the one-pass analysis starts afresh */
		a->columns = NULL;
		a->ncolumns = 0;
		a->rows = 0;
		a->blank_lines = 0;
		a->bom_bytes = 0;
		a->needs_rewrite = false;
		a->split_offset = 0;
		a->split_line = 0;
	}
	return ok;
}
