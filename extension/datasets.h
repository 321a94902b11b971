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

/*
 * Called inside a load's transaction just before it commits, with the
 * job's result: the job's worker records the job's end in the same commit
 * (or throws, which undoes the load).
 */
typedef void (*LoadCommitFn) (const char *result_json, void *arg);

extern int	dataset_open_file(const char *workspace, const char *path, struct stat *st);
extern char *pi_load_csv_run(const char *job_id, const char *workspace,
							 const char *payload_json, CsvProgressFn progress,
							 LoadCommitFn at_commit, void *progress_arg);

#endif							/* PI_DATASETS_H */
