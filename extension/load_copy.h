/*-------------------------------------------------------------------------
 *
 * load_copy.h
 *	  COPY of a byte range of a CSV file into a table, in this process or in
 *	  a helper background worker that loads the second half of a large file
 *	  while the job's worker loads the first; the staging schema such loads
 *	  fill, and its sweep.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOAD_COPY_H
#define LOAD_COPY_H

#include "csv_analysis.h"

/* Private schema of tables being loaded by two backends (no grants). */
#define LOAD_STAGING_SCHEMA "pi_staging"

typedef struct LoadHelper LoadHelper;

extern char *load_staging_table(const char *job_id);
extern uint64 load_copy_range(int fd, const char *schema, const char *table,
							  const CsvAnalysis *a, const char *encoding,
							  int64 start, int64 end, bool header,
							  CsvProgressFn progress, void *progress_arg);
extern LoadHelper *load_helper_start(int fd, const CsvAnalysis *a, const char *encoding,
									 const char *table, const char *job_id);
extern int64 load_helper_bytes(LoadHelper *h);
extern uint64 load_helper_wait(LoadHelper *h, CsvProgressFn progress, void *progress_arg);
extern void load_helper_stop(LoadHelper *h);
extern void load_sweep_staging(int64 boot_id);

#endif							/* LOAD_COPY_H */
