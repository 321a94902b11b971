/*-------------------------------------------------------------------------
 *
 * csv_parallel.h
 *	  pi.load_csv's analysis of a large file on two cores.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CSV_PARALLEL_H
#define CSV_PARALLEL_H

#include "csv_analysis.h"

extern bool csv_analyse_two_cores(int fd, const CsvLoadOptions *options,
								  CsvAnalysis *analysis,
								  CsvProgressFn progress, void *progress_arg);

#endif							/* CSV_PARALLEL_H */
