/*-------------------------------------------------------------------------
 *
 * csv_scan.h
 *	  A streaming CSV scanner and the column type inference built on it,
 *	  used by pi.load_csv (datasets.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CSV_SCAN_H
#define CSV_SCAN_H

#include "lib/stringinfo.h"

/* Types a column may take, most specific first; a column is a set of them. */
typedef enum CsvType
{
	CSV_BOOL = 1 << 0,
	CSV_INT4 = 1 << 1,
	CSV_INT8 = 1 << 2,
	CSV_NUMERIC = 1 << 3,
	CSV_FLOAT8 = 1 << 4,
	CSV_DATE = 1 << 5,
	CSV_TIMESTAMP = 1 << 6,
	CSV_TIMESTAMPTZ = 1 << 7
} CsvType;

#define CSV_ALL_TYPES	0xFF
#define CSV_NUMBERS		(CSV_INT4 | CSV_INT8 | CSV_NUMERIC | CSV_FLOAT8)

typedef struct CsvDialect
{
	char		delimiter;
	char		quote;
	char		escape;			/* equal to quote: doubled quotes */
} CsvDialect;

/* One parsed record: fields point into the scanner's field buffer. */
typedef struct CsvRecord
{
	int			nfields;
	int			maxfields;
	char	  **fields;
	int		   *lengths;
	bool	   *quoted;
	int64		first_line;		/* physical line the record starts on, 1-based */
	int64		end_offset;		/* byte offset just past the record */
} CsvRecord;

typedef enum CsvStatus
{
	CSV_RECORD,					/* a record was parsed */
	CSV_EOF,					/* no more records */
	CSV_NEED_MORE,				/* feed more input */
	CSV_UNCLOSED_QUOTE			/* input ended inside a quoted field */
} CsvStatus;

typedef struct CsvScanner
{
	CsvDialect	dialect;
	StringInfoData pending;		/* unconsumed input */
	StringInfoData fieldbuf;	/* unescaped fields of the current record */
	int64		consumed;		/* bytes of input consumed before pending */
	int64		line;			/* current physical line, 1-based */
	bool		saw_cr_only;	/* a bare CR ended a line */
	bool		saw_crlf;
	bool		saw_lf;
} CsvScanner;

extern void csv_scanner_init(CsvScanner *scanner, const CsvDialect *dialect);
extern void csv_scanner_feed(CsvScanner *scanner, const char *data, int len);
extern CsvStatus csv_next_record(CsvScanner *scanner, CsvRecord *record, bool at_eof);

/* Type inference. */
extern int	csv_value_types(const char *value, int len);
extern bool csv_is_null_marker(const char *value, int len);
extern const char *csv_type_sql(int types);
extern int	csv_type_from_sql(const char *sqltype);
extern bool csv_valid_utf8(const char *s, int len, int *bad_at);

#endif							/* CSV_SCAN_H */
