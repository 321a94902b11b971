/*-------------------------------------------------------------------------
 *
 * datasets.h
 *	  The load job of pi.load_csv (datasets.c), run by a job worker, and the
 *	  opening of its file, shared with the queueing (dataset_queue.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_DATASETS_H
#define PI_DATASETS_H

#include "csv_load.h"

struct stat;

extern int	dataset_open_file(const char *workspace, const char *path, struct stat *st);
extern char *pi_load_csv_run(const char *job_id, const char *workspace,
							 const char *payload_json, CsvProgressFn progress,
							 void *progress_arg);

#endif							/* PI_DATASETS_H */
