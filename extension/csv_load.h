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

#include "csv_analysis.h"

extern void csv_analyse(int fd, const CsvLoadOptions *options, CsvAnalysis *analysis,
						CsvProgressFn progress, void *progress_arg);
extern void csv_convert_header(CsvAnalysis *analysis, const CsvLoadOptions *options);
extern void csv_feed_begin(int fd, const CsvAnalysis *analysis, int64 start, int64 end,
						   CsvProgressFn progress, void *progress_arg);
extern int	csv_feed_read(void *outbuf, int minread, int maxread);
extern void csv_feed_end(void);

#endif							/* CSV_LOAD_H */
