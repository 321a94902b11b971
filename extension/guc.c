/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The pi.* settings.  Every limit has a name, a default and a unit
 *	  (a rule of docs/architecture.md); the defaults are the seed's environment variables
 *	  (MAX_EXECUTION_TIME, MAX_MEMORY_MB, ...), which scripts/run.sh maps
 *	  onto these settings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "guc.h"
#include "pi_defaults.h"

char	   *pi_database = NULL;
int			pi_max_concurrent_jobs = 4;
int			pi_max_sync_executions = 8;
int			pi_max_execution_time = PI_DEFAULT_EXECUTION_TIME_S;
int			pi_job_timeout = 600;
int			pi_max_job_timeout = 86400;
int			pi_max_memory_mb = PI_DEFAULT_MEMORY_MB;
int			pi_max_file_size_mb = PI_DEFAULT_FILE_SIZE_MB;
int			pi_max_workspace_mb = PI_DEFAULT_WORKSPACE_MB;
int			pi_max_workspace_files = PI_DEFAULT_WORKSPACE_FILES;
int			pi_max_output_bytes = PI_DEFAULT_OUTPUT_BYTES;
int			pi_max_code_bytes = 10 * 1024 * 1024;
char	   *pi_workspace_root = NULL;
bool		pi_record_sync_runs = true;
bool		pi_progress_notices = false;
bool		pi_sandbox = true;
int			pi_session_idle_timeout = PI_DEFAULT_SESSION_IDLE_S;
int			pi_max_sessions = PI_DEFAULT_MAX_SESSIONS;
int			pi_max_sessions_per_tenant = PI_DEFAULT_MAX_SESSIONS_PER_TENANT;
int			pi_tenant_max_sync_runs = 4;
int			pi_tenant_max_jobs = 100;
int			pi_tenant_workspace_mb = 10240;
int			pi_tenant_workspace_recount_s = 300;
int			pi_tenant_datasets_mb = 10240;
int			pi_blas_threads = PI_DEFAULT_BLAS_THREADS;
int			pi_query_timeout = 30;
int			pi_query_max_rows = 100000;
int			pi_query_max_bytes = 64 * 1024 * 1024;
int			pi_query_max_memory_mb = 1024;
int			pi_query_work_mem = 64 * 1024;
int			pi_query_temp_file_limit = 1024 * 1024;
int			pi_session_ttl = 7 * 86400;
int			pi_job_retention = 30 * 86400;
int			pi_job_lease_time = 60;

void
pi_define_settings(void)
{
	DefineCustomStringVariable("pi.database",
							   "Database whose pi.jobs queue the job workers serve.",
							   "The extension must be created in this database.",
							   &pi_database, "pi",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.max_concurrent_jobs",
							"Number of job workers, i.e. async jobs that run at once.",
							NULL, &pi_max_concurrent_jobs, 4, 1, PI_MAX_JOB_WORKERS,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);

	/*
	 * Sync runs have their own slots so that a queue of long async jobs never
	 * starves pi.execute; 8 matches the 8-client benchmark target.
	 */
	DefineCustomIntVariable("pi.max_sync_executions",
							"Number of pi.execute calls whose Python runs at once.",
							"Further calls wait for a free slot up to their timeout.",
							&pi_max_sync_executions, 8, 1, 256,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.max_execution_time",
							"Largest timeout_s that pi.execute accepts.",
							NULL, &pi_max_execution_time, PI_DEFAULT_EXECUTION_TIME_S, 1, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.job_timeout",
							"Timeout of an async job submitted without one.",
							NULL, &pi_job_timeout, 600, 1, 7 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.max_job_timeout",
							"Largest timeout_s that pi.submit_job accepts.",
							NULL, &pi_max_job_timeout, 86400, 1, 7 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.max_memory_mb",
							"Memory limit of one Python run, in megabytes.",
							NULL, &pi_max_memory_mb, PI_DEFAULT_MEMORY_MB, 64, 1024 * 1024,
							PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.max_file_size_mb",
							"Largest file a Python run or an upload may write, in megabytes.",
							NULL, &pi_max_file_size_mb, PI_DEFAULT_FILE_SIZE_MB, 1, 1024 * 1024,
							PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.max_workspace_mb",
							"Disk quota of one session workspace, in megabytes.",
							NULL, &pi_max_workspace_mb, PI_DEFAULT_WORKSPACE_MB, 1, 1024 * 1024,
							PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.max_workspace_files",
							"Files and folders one workspace may hold (runs count them while they write).",
							"Bounds the inodes one session can use up; files a run holds open "
							"after deleting them count too.",
							&pi_max_workspace_files, PI_DEFAULT_WORKSPACE_FILES, 1,
							PI_MAX_WORKSPACE_FILES, PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.max_output_bytes",
							"Cap of captured stdout and of stderr, each, per run.",
							NULL, &pi_max_output_bytes, PI_DEFAULT_OUTPUT_BYTES, 1024, 64 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.max_code_bytes",
							"Largest Python source text accepted by one call.",
							NULL, &pi_max_code_bytes, 10 * 1024 * 1024, 1024, 64 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);

	DefineCustomStringVariable("pi.workspace_root",
							   "Directory that holds the session workspaces.",
							   "Empty means pi_workspaces in the data directory.",
							   &pi_workspace_root, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("pi.sandbox",
							 "Run Python in the kernel sandbox (namespaces, seccomp, cgroups).",
							 "off runs code unconfined: unsafe, logged at every executor start.",
							 &pi_sandbox, true,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.session_idle_timeout",
							"Idle time after which a session's live Python kernel is stopped.",
							"Its variables are lost (the next run says so); files remain.",
							&pi_session_idle_timeout, PI_DEFAULT_SESSION_IDLE_S, 1, 86400 * 365,
							PGC_POSTMASTER, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.max_sessions",
							"Number of live session kernels (Python state kept between runs).",
							"When full, the least recently used idle kernel is stopped first.",
							&pi_max_sessions, PI_DEFAULT_MAX_SESSIONS, 1, 256,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.max_sessions_per_tenant",
							"Live session kernels one tenant (role) may hold, by default.",
							"A tenant over it loses its own least recently used idle kernel; "
							"when all kernels are taken, the tenant holding the most loses one. "
							"So one caller cannot wipe the others' Python state. "
							"pi.tenant_limits (max_sessions) overrides it per role.",
							&pi_max_sessions_per_tenant, PI_DEFAULT_MAX_SESSIONS_PER_TENANT, 1, 256,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);

	/*
	 * Per-tenant defaults (tenant_limits.c), which a row of
	 * pi.tenant_limits overrides for one role.  PGC_SIGHUP: only
	 * postgresql.conf sets them, so no tenant can SET its own.  Half the
	 * sync slots leave the other half to other tenants; 100 jobs and 10 GB
	 * of files and of datasets fit one machine shared by a few tenants.
	 */
	DefineCustomIntVariable("pi.tenant_max_sync_runs",
							"pi.execute calls one tenant (role) may run at once.",
							"Further calls fail at once; pi.tenant_limits overrides it per role.",
							&pi_tenant_max_sync_runs, 4, 1, 256,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.tenant_max_jobs",
							"Jobs and loads one tenant (role) may have queued or running.",
							"pi.tenant_limits overrides it per role.",
							&pi_tenant_max_jobs, 100, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.tenant_workspace_mb",
							"Workspace storage of all of one tenant's sessions together, in megabytes.",
							"pi.tenant_limits overrides it per role.",
							&pi_tenant_workspace_mb, 10240, 1, 1024 * 1024 * 1024,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	/*
	 * The workspace_mb check uses a tally kept in shared memory
	 * (workspace_tally.c); this often it is redone by walking every file of
	 * the tenant's sessions, to catch what the tally cannot see.
	 */
	DefineCustomIntVariable("pi.tenant_workspace_recount_s",
							"Seconds after which a tenant's workspace storage is counted again by walking its files.",
							"0 walks them at every check.",
							&pi_tenant_workspace_recount_s, 300, 0, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.tenant_datasets_mb",
							"Storage of one tenant's dataset tables, in megabytes.",
							"pi.tenant_limits overrides it per role.",
							&pi_tenant_datasets_mb, 10240, 1, 1024 * 1024 * 1024,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.blas_threads",
							"BLAS/OpenMP threads of one Python run (OPENBLAS_NUM_THREADS and the like).",
							"Pinned so that one run cannot take every core.",
							&pi_blas_threads, PI_DEFAULT_BLAS_THREADS, 1, 64,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("pi.progress_notices",
							 "pi.execute relays the code's pi.progress() reports as NOTICEs while it runs.",
							 "At most four a second, the latest value winning; the message is "
							 "\"pi.progress: \" and the report's JSON.  pi-gateway turns them into "
							 "MCP progress notifications.",
							 &pi_progress_notices, false,
							 PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("pi.record_sync_runs",
							 "Record every pi.execute call in pi.jobs (kind sync).",
							 NULL, &pi_record_sync_runs, true,
							 PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.query_timeout",
							"Time limit of one pi.query call.",
							NULL, &pi_query_timeout, 30, 1, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.query_max_rows",
							"Largest max_rows that pi.query accepts.",
							NULL, &pi_query_max_rows, 100000, 1, 10000000,
							PGC_SUSET, 0, NULL, NULL, NULL);

	/*
	 * Bounds of one pi.query statement in the backend that runs it
	 * (query_limits.c): 64 MB of result, and 1 GB of memory and of
	 * temporary files, leave room for real analyses of the datasets while
	 * a runaway statement cannot take a server's memory or disk.
	 */
	DefineCustomIntVariable("pi.query_max_bytes",
							"Largest result of one pi.query call; larger results are truncated.",
							NULL, &pi_query_max_bytes, 64 * 1024 * 1024, 1024, 512 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.query_max_memory",
							"Memory that one pi.query statement may add to its backend.",
							"Beyond it the statement fails with an error; the backend lives on.",
							&pi_query_max_memory_mb, 1024, 32, 1024 * 1024,
							PGC_SUSET, GUC_UNIT_MB, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.query_work_mem",
							"work_mem of pi.query statements (at most the session's).",
							NULL, &pi_query_work_mem, 64 * 1024, 64, 2 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.query_temp_file_limit",
							"Temporary file space that one pi.query statement may use.",
							NULL, &pi_query_temp_file_limit, 1024 * 1024, 64, PG_INT32_MAX,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.session_ttl",
							"Sessions unused for this long are removed with their workspace.",
							NULL, &pi_session_ttl, 7 * 86400, 60, 365 * 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("pi.job_retention",
							"Finished jobs and recorded runs older than this are deleted from pi.jobs.",
							NULL, &pi_job_retention, 30 * 86400, 3600, 3650 * 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	/*
	 * For tests: a live worker keeps its jobs whatever the lease says (see
	 * bgworker/worker.c), so only a worker that died is affected, and tests
	 * shorten this to see that without waiting a minute.
	 */
	DefineCustomIntVariable("pi.job_lease_time",
							"Time after which a running job whose worker stopped renewing its lease is rescued.",
							"A setting for tests; not in postgresql.conf.sample.",
							&pi_job_lease_time, 60, 2, 3600,
							PGC_SIGHUP, GUC_UNIT_S | GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);

	MarkGUCPrefixReserved("pi");
}

/*
 * The absolute workspace root: the setting, or pi_workspaces in the data
 * directory.  DataDir is absolute once the postmaster has started.
 */
const char *
pi_workspace_root_path(void)
{
	static char *path = NULL;

	if (path == NULL)
	{
		if (pi_workspace_root != NULL && pi_workspace_root[0] != '\0')
			path = MemoryContextStrdup(TopMemoryContext, pi_workspace_root);
		else
			path = MemoryContextStrdup(TopMemoryContext,
									   psprintf("%s/pi_workspaces", DataDir));
	}
	return path;
}
