/*-------------------------------------------------------------------------
 *
 * csv_analysis.h
 *	  What pi.load_csv learns about a CSV file before loading it: the
 *	  options it was given, the columns, and the verdict of the analysis.
 *	  Types only; csv_header.c, csv_load.c and csv_parallel.c fill them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CSV_ANALYSIS_H
#define CSV_ANALYSIS_H

#include "csv_scan.h"
#include "nodes/pg_list.h"

/* PostgreSQL's own limit of columns per table. */
#define CSV_MAX_COLUMNS 1600
/* Rejected rows described in the result when on_error = skip. */
#define CSV_MAX_REJECTS_SHOWN 10

/* The analysis reads the file in chunks of this size. */
#define CSV_READ_CHUNK		(1024 * 1024)
/* The delimiter is guessed from at most this much of the file's start. */
#define CSV_SNIFF_BYTES		(64 * 1024)

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
	int64		split_offset;	/* two cores: where the second half starts */
	int64		split_line;		/* COPY's line number of the record before it */
	const char *rewrite_reason;
} CsvAnalysis;

/*
 * Told how far a pass over the file has come, every few megabytes; arg is
 * the caller's.  It may throw an error to stop the load (a cancel).
 */
typedef void (*CsvProgressFn) (int64 bytes_done, int64 bytes_total, void *arg);

#endif							/* CSV_ANALYSIS_H */
