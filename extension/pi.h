/*-------------------------------------------------------------------------
 *
 * pi.h
 *	  Declarations shared by the SQL functions (extension/) and the
 *	  background workers (bgworker/) of power_interpreter.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_H
#define PI_H

#include "postgres.h"

#include "fmgr.h"

#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "csv_load.h"

/* Settings (guc.c).  Times in seconds, sizes in MB unless named otherwise. */
extern char *pi_database;
extern int	pi_max_concurrent_jobs;
extern int	pi_max_sync_executions;
extern int	pi_max_execution_time;
extern int	pi_job_timeout;
extern int	pi_max_job_timeout;
extern int	pi_max_memory_mb;
extern int	pi_max_file_size_mb;
extern int	pi_max_workspace_mb;
extern int	pi_max_output_bytes;
extern int	pi_max_code_bytes;
extern char *pi_workspace_root;
extern bool pi_record_sync_runs;
extern bool pi_sandbox;
extern int	pi_session_idle_timeout;
extern int	pi_max_sessions;
extern int	pi_blas_threads;
extern int	pi_query_timeout;
extern int	pi_query_max_rows;
extern int	pi_session_ttl;
extern int	pi_job_retention;

extern void pi_define_settings(void);
extern const char *pi_workspace_root_path(void);

/*
 * Shared memory (shmem.c): the launcher and one slot per job worker.  A slot
 * lets pi.submit_job wake idle workers at commit, and pi.cancel_job reach the
 * worker that runs a given job.
 */
typedef struct PiWorkerSlot
{
	pid_t		pid;			/* 0 when the slot is free */
	Latch	   *latch;
	bool		has_job;
	pg_uuid_t	job_id;
	bool		cancel_requested;
	double		progress;		/* of a load, while its transaction is open */
} PiWorkerSlot;

typedef struct PiShared
{
	slock_t		mutex;			/* protects everything below */
	int64		boot_id;		/* new at every shared memory (re)initialisation */
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	pid_t		executor_pid;
	pid_t		executor_lost_pid;	/* an executor a worker saw die under a job */
	int			nslots;
	PiWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} PiShared;

extern PiShared *pi_shared;

extern void pi_shmem_install_hooks(void);
extern void pi_wake_workers(void);
extern bool pi_request_cancel(const pg_uuid_t *job_id);
extern double pi_job_progress(const pg_uuid_t *job_id);

/* Executor client (executor_client.c). */
typedef struct PiRunRequest
{
	const char *op;				/* NULL ("run") or "reset_session" */
	const char *kind;			/* "sync" or "async" */
	const char *code;
	int			timeout_s;
	const char *workspace;		/* NULL: temporary workspace */
	const char *session_id;		/* NULL or uuid text */
	const char *job_id;			/* NULL or uuid text */
} PiRunRequest;

/*
 * Called while a run waits for its result: progress reports (the JSON text
 * {"progress": number, "message": text or null}), periodic ticks (for
 * leases), and the question whether the run should be cancelled.
 */
typedef struct PiRunCallbacks
{
	void		(*on_progress) (const char *progress_json, void *arg);
	void		(*on_tick) (void *arg);
	bool		(*should_cancel) (void *arg);
	int			tick_ms;
	void	   *arg;
} PiRunCallbacks;

typedef enum PiRunOutcome
{
	PI_RUN_RESULT,				/* the executor answered with a result */
	PI_RUN_EXECUTOR_LOST		/* the executor went away before answering */
} PiRunOutcome;

extern PiRunOutcome pi_run_code(const PiRunRequest *req,
								const PiRunCallbacks *callbacks,
								char **result_json);

/* pi.query() calls from Python during a run (query.c). */
extern char *pi_answer_query(const char *request_json);

/* Sessions (sessions.c). */
extern char *pi_session_workspace(pg_uuid_t *session_id, bool touch);
extern uint64 pi_expire_sessions(void);
extern bool pi_stop_kernel(const char *session_id);

/* Argument checks and result helpers (execute.c). */
extern char *pi_checked_code(FunctionCallInfo fcinfo, int argno);
extern int	pi_checked_timeout(int timeout_s, int ceiling, const char *ceiling_name,
							   const char *hint);
extern Jsonb *pi_result_to_jsonb(const char *result_json, const char *kind);

/* Datasets (datasets.c): the load job, run by a worker. */
extern char *pi_load_csv_run(const char *job_id, const char *workspace,
							 const char *payload_json, CsvProgressFn progress,
							 void *progress_arg);

/* Background workers (bgworker/). */
extern void pi_register_launcher(void);
extern PGDLLEXPORT void pi_launcher_main(Datum main_arg);
extern PGDLLEXPORT void pi_worker_main(Datum main_arg);

#endif							/* PI_H */
