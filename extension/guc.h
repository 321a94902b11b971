/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  The pi.* settings (guc.c).  Times in seconds, sizes in MB unless the
 *	  name says otherwise.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_GUC_H
#define PI_GUC_H

/* The ceiling of pi.max_concurrent_jobs: job workers, and shared memory slots. */
#define PI_MAX_JOB_WORKERS 64

extern char *pi_database;
extern int	pi_max_concurrent_jobs;
extern int	pi_max_sync_executions;
extern int	pi_max_execution_time;
extern int	pi_job_timeout;
extern int	pi_max_job_timeout;
extern int	pi_max_memory_mb;
extern int	pi_max_file_size_mb;
extern int	pi_max_workspace_mb;
extern int	pi_max_workspace_files;
extern int	pi_max_output_bytes;
extern int	pi_max_code_bytes;
extern char *pi_workspace_root;
extern bool pi_record_sync_runs;
extern bool pi_progress_notices;
extern bool pi_sandbox;
extern int	pi_session_idle_timeout;
extern int	pi_max_sessions;
extern int	pi_max_sessions_per_tenant;
extern int	pi_tenant_max_sync_runs;
extern int	pi_tenant_max_jobs;
extern int	pi_tenant_workspace_mb;
extern int	pi_tenant_workspace_recount_s;
extern int	pi_tenant_datasets_mb;
extern int	pi_blas_threads;
extern int	pi_query_timeout;
extern int	pi_query_max_rows;
extern int	pi_query_max_bytes;
extern int	pi_query_max_memory_mb;
extern int	pi_query_work_mem;		/* kB */
extern int	pi_query_temp_file_limit;	/* kB */
extern int	pi_session_ttl;
extern int	pi_job_retention;
extern int	pi_job_lease_time;

extern void pi_define_settings(void);
extern const char *pi_workspace_root_path(void);

#endif							/* PI_GUC_H */
