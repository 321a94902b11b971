/*-------------------------------------------------------------------------
 *
 * job_end.h
 *	  Writing a job's end to its row (bgworker/job_end.c), and the look at
 *	  the row, under its lock, that decides whether a job ends cancelled.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_JOB_END_H
#define PI_JOB_END_H

#include "utils/elog.h"
#include "utils/uuid.h"

extern bool job_end_lock_running(const pg_uuid_t *job_id, int64 boot_id,
								 bool *cancel_requested);
extern void job_end_record(const pg_uuid_t *job_id, const char *id_text, int64 boot_id,
						   const char *result_json);
extern void job_end_record_cancelled(const pg_uuid_t *job_id, const char *id_text,
									 int64 boot_id, const char *result_json);
extern void job_end_requeue_lost(const pg_uuid_t *job_id, const char *id_text,
								 int64 boot_id);
extern char *job_end_load_failure_json(const ErrorData *edata, bool cancelled);

#endif							/* PI_JOB_END_H */
