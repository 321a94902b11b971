/*-------------------------------------------------------------------------
 *
 * csv_header.h
 *	  What the start of a CSV file tells pi.load_csv: byte order mark,
 *	  delimiter, whether the first record is a header, and the columns.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CSV_HEADER_H
#define CSV_HEADER_H

#include "csv_analysis.h"

extern void csv_load_error(const char *message, const char *detail,
						   const char *hint) pg_attribute_noreturn();
extern bool csv_looks_utf16(const char *buf, int64 len);
extern int	csv_bom_bytes(const char *buf, int64 len);
extern char csv_sniff_delimiter(const char *buf, int len, char quote);
extern bool csv_looks_like_header(const CsvRecord *record);
extern void csv_setup_columns(CsvAnalysis *analysis, const CsvLoadOptions *options,
							  const CsvRecord *first);

#endif							/* CSV_HEADER_H */
