/*-------------------------------------------------------------------------
 *
 * csv_load.h
 *	  The analysis pass of pi.load_csv over a whole CSV file and the byte
 *	  stream it feeds to COPY.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CSV_LOAD_H
#define CSV_LOAD_H

#include "csv_scan.h"
#include "nodes/pg_list.h"

/* PostgreSQL's own limit of columns per table. */
#define CSV_MAX_COLUMNS 1600
/* Rejected rows described in the result when on_error = skip. */
#define CSV_MAX_REJECTS_SHOWN 10

typedef struct CsvColumn
{
	char	   *original;		/* header text, or NULL without a header */
	char	   *name;			/* safe identifier */
	int			types;			/* types still possible */
	int			override;		/* mask from options.types, or -1 */
	bool		seen_value;		/* a non-null value occurred */
	bool		marker_nulls;	/* NA, NULL, NaN... occurred */
	bool		quoted_empty;	/* "" occurred */
} CsvColumn;

typedef struct CsvLoadOptions
{
	int			delimiter;		/* -1: detect */
	char		quote;
	char		escape;
	int			header;			/* -1: detect, 0, 1 */
	char	   *encoding;		/* NULL: UTF-8 */
	bool		skip_bad_rows;
	List	   *type_names;		/* pairs: column name, type name */
} CsvLoadOptions;

typedef struct CsvAnalysis
{
	CsvDialect	dialect;
	bool		header;
	int			bom_bytes;
	int64		file_bytes;
	int			ncolumns;
	CsvColumn  *columns;
	int64		rows;			/* data rows that will load */
	int64		blank_lines;
	int64		rejected;
	StringInfoData rejects_json;	/* JSON array of the first rejects */
	int64	   *skip_records;	/* sorted record numbers to leave out */
	int64		nskip;
	int64		maxskip;
	bool		needs_rewrite;	/* COPY cannot take the file as it is */
	bool		two_cores;		/* analysed in two halves at once */
	const char *rewrite_reason;
} CsvAnalysis;

typedef void (*CsvProgressFn) (int64 bytes_done, int64 bytes_total);

/* Shared by csv_load.c and csv_parallel.c. */
#define READ_CHUNK		(1024 * 1024)
#define SNIFF_BYTES		(64 * 1024)
extern char csv_sniff_delimiter(const char *buf, int len, char quote);
extern bool csv_looks_like_header(const CsvRecord *r);
extern void csv_setup_columns(CsvAnalysis *a, const CsvLoadOptions *o, const CsvRecord *first);
extern bool csv_analyse_two_cores(int fd, const CsvLoadOptions *o, CsvAnalysis *a);

extern void csv_analyse(int fd, const CsvLoadOptions *options, CsvAnalysis *analysis,
						CsvProgressFn progress);
extern void csv_convert_header(CsvAnalysis *analysis, const CsvLoadOptions *options);
extern void csv_feed_begin(int fd, const CsvAnalysis *analysis, CsvProgressFn progress);
extern int	csv_feed_read(void *outbuf, int minread, int maxread);
extern void csv_feed_end(void);

#endif							/* CSV_LOAD_H */
