/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The pi launcher background worker: keeps pi.max_concurrent_jobs job
 *	  workers and the pi-executor process alive; and what a job worker asks
 *	  about that process (has it died, wait for its replacement).
 *
 * The launcher holds no database connection.  It starts the executor with
 * fork+exec, a clean environment and no inherited descriptors (a rule of
 * docs/architecture.md: no Python in a process attached to shared memory,
 * whose crash would reset every backend), restarts it when it dies, and
 * re-registers job workers that exit.  The executor stays in the
 * launcher's process group, so the postmaster's signals to the launcher at
 * shutdown reach it too, and it dies with the launcher through
 * PR_SET_PDEATHSIG.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "utils/snapmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "executor_protocol.h"
#include "guc.h"
#include "shmem.h"
#include "workers.h"

/* A child that dies sooner than this after its start is restarted slowly. */
#define QUICK_DEATH_MS			5000
#define RESTART_BACKOFF_MS		5000
#define LAUNCHER_POLL_MS		1000
/* Longest wait of a job worker for the launcher to replace a lost executor. */
#define EXECUTOR_WAIT_MS		60000
/* How long an executor that dropped a run may take to be seen gone. */
#define EXECUTOR_EXIT_WAIT_MS	2000

typedef struct ManagedWorker
{
	BackgroundWorkerHandle *handle;
	TimestampTz started_at;
	TimestampTz next_start;
} ManagedWorker;

static pid_t executor_pid = 0;
static TimestampTz executor_started_at = 0;
static TimestampTz executor_next_start = 0;
static ManagedWorker *workers = NULL;

static void
handle_sigchld(SIGNAL_ARGS)
{
	int			save_errno = errno;

	SetLatch(MyLatch);
	errno = save_errno;
}

void
pi_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	strlcpy(worker.bgw_library_name, "power_interpreter", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "pi_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "pi launcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "pi launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* The executor binary is installed beside the postgres binary. */
static char *
executor_path(void)
{
	char		dir[MAXPGPATH];

	strlcpy(dir, my_exec_path, sizeof(dir));
	get_parent_directory(dir);
	return psprintf("%s/pi-executor", dir);
}

/*
 * In the forked child: become a clean process and exec the executor.  Only
 * async-signal-safe calls happen here; on failure the child exits 127 and
 * the launcher logs it.
 */
static void
exec_executor(const char *path, char *const argv[])
{
	static char *const empty_env[] = {NULL};
	sigset_t	none;
	int			devnull;

	(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigemptyset(&none);
	(void) sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		(void) signal(sig, SIG_DFL);

	devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0)
	{
		(void) dup2(devnull, STDIN_FILENO);
		if (devnull != STDIN_FILENO)
			close(devnull);
	}
	/* stdout joins stderr, which is the server log */
	(void) dup2(STDERR_FILENO, STDOUT_FILENO);
	(void) close_range(3, ~0U, 0);

	execve(path, argv, empty_env);
	_exit(127);
}

static void
start_executor(void)
{
	char	   *path = executor_path();
	const char *root = pi_workspace_root_path();
	char	   *max_sync = psprintf("%d", pi_max_sync_executions);
	char	   *max_async = psprintf("%d", pi_max_concurrent_jobs);
	char	   *idle = psprintf("%d", pi_session_idle_timeout);
	char	   *max_sessions = psprintf("%d", pi_max_sessions);
	char	   *per_tenant = psprintf("%d", pi_max_sessions_per_tenant);
	char	   *blas_threads = psprintf("%d", pi_blas_threads);
	char	   *argv[] = {"pi-executor", "--socket", PI_EXECUTOR_SOCKET_NAME,
		"--workspace-root", (char *) root, "--max-sync", max_sync,
		"--max-async", max_async, "--sandbox", pi_sandbox ? "on" : "off",
		"--session-idle-timeout", idle, "--max-sessions", max_sessions,
		"--max-sessions-per-owner", per_tenant,
		"--blas-threads", blas_threads, NULL};
	pid_t		pid;

	if (access(path, X_OK) != 0)
	{
		ereport(LOG,
				(errmsg("pi launcher: the Python executor \"%s\" cannot be run: %m", path),
				 errhint("Install it with \"make install\" in the power_interpreter source tree.")));
		executor_next_start = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), RESTART_BACKOFF_MS * 6);
		return;
	}
	if (mkdir(root, S_IRWXU) != 0 && errno != EEXIST)
		ereport(LOG,
				(errmsg("pi launcher: could not create workspace root \"%s\": %m", root),
				 errhint("Set pi.workspace_root to a directory the server can write.")));

	fflush(NULL);
	pid = fork();
	if (pid < 0)
	{
		ereport(LOG, (errmsg("pi launcher: could not fork the Python executor: %m")));
		executor_next_start = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), RESTART_BACKOFF_MS);
		return;
	}
	if (pid == 0)
		exec_executor(path, argv);

	executor_pid = pid;
	executor_started_at = GetCurrentTimestamp();
	SpinLockAcquire(&pi_shared->mutex);
	pi_shared->executor_pid = pid;
	/* the executor a worker saw die is replaced: claims may go on */
	pi_shared->executor_lost_pid = 0;
	SpinLockRelease(&pi_shared->mutex);
	ereport(LOG, (errmsg("pi launcher: started the Python executor (pid %d)", (int) pid)));
}

/* Reap the executor if it exited, and start it again when due. */
static void
supervise_executor(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (executor_pid > 0)
	{
		int			status;
		pid_t		rc = waitpid(executor_pid, &status, WNOHANG);

		if (rc == 0)
			return;
		if (rc == executor_pid)
		{
			if (WIFSIGNALED(status))
				ereport(LOG, (errmsg("pi launcher: the Python executor (pid %d) was killed by signal %d; restarting it",
									 (int) executor_pid, WTERMSIG(status))));
			else
				ereport(LOG, (errmsg("pi launcher: the Python executor (pid %d) exited with status %d; restarting it",
									 (int) executor_pid, WEXITSTATUS(status))));
		}
		executor_pid = 0;
		SpinLockAcquire(&pi_shared->mutex);
		pi_shared->executor_pid = 0;
		SpinLockRelease(&pi_shared->mutex);

		/* a crash loop is slowed down instead of spinning */
		if (TimestampDifferenceExceeds(executor_started_at, now, QUICK_DEATH_MS))
			executor_next_start = now;
		else
			executor_next_start = TimestampTzPlusMilliseconds(now, RESTART_BACKOFF_MS);
	}
	if (now >= executor_next_start)
		start_executor();
}

static void
stop_executor(int code, Datum arg)
{
	if (executor_pid > 0)
	{
		kill(executor_pid, SIGKILL);
		(void) waitpid(executor_pid, NULL, 0);
		executor_pid = 0;
	}
}

static bool
start_worker(int slot)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "power_interpreter", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "pi_worker_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "pi worker %d", slot + 1);
	strlcpy(worker.bgw_type, "pi worker", BGW_MAXLEN);
	worker.bgw_main_arg = Int32GetDatum(slot);
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &workers[slot].handle))
	{
		ereport(LOG,
				(errmsg("pi launcher: could not start job worker %d", slot + 1),
				 errhint("Raise max_worker_processes: power_interpreter needs pi.max_concurrent_jobs + 1 of them, and one more for each large load that runs at the same time.")));
		workers[slot].handle = NULL;
		return false;
	}
	workers[slot].started_at = GetCurrentTimestamp();
	return true;
}

/*
 * Does pi.database exist?  The launcher is connected to no database but can
 * read the shared catalog pg_database; without this check, workers started
 * before "createdb" would die and be restarted in a loop.
 */
static bool
database_exists(void)
{
	static bool logged = false;
	bool		exists = false;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;

	/*
	 * A plain heap scan, as the autovacuum launcher does: without a database
	 * the relcache cannot open pg_database's indexes.
	 */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (!exists && (tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
		exists = strcmp(NameStr(((Form_pg_database) GETSTRUCT(tuple))->datname), pi_database) == 0;
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	if (!exists && !logged)
		ereport(LOG,
				(errmsg("pi launcher: database \"%s\" does not exist yet; job workers start when it does",
						pi_database),
				 errhint("Create it and run CREATE EXTENSION power_interpreter in it, or set pi.database.")));
	logged = !exists;
	return exists;
}

/*
 * Start the workers that are not running.  A slot that a worker of an
 * earlier launcher still holds is left to it.
 */
static void
supervise_workers(void)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		checked_database = false;

	for (int i = 0; i < pi_max_concurrent_jobs; i++)
	{
		ManagedWorker *w = &workers[i];
		pid_t		pid;
		pid_t		holder;

		if (w->handle != NULL)
		{
			if (GetBackgroundWorkerPid(w->handle, &pid) != BGWH_STOPPED)
				continue;
			pfree(w->handle);
			w->handle = NULL;
			w->next_start = TimestampDifferenceExceeds(w->started_at, now, QUICK_DEATH_MS) ?
				now : TimestampTzPlusMilliseconds(now, RESTART_BACKOFF_MS * 2);
		}
		if (now < w->next_start)
			continue;

		SpinLockAcquire(&pi_shared->mutex);
		holder = pi_shared->slots[i].pid;
		SpinLockRelease(&pi_shared->mutex);
		if (holder != 0 && kill(holder, 0) == 0)
			continue;
		if (!checked_database && !database_exists())
			return;
		checked_database = true;

		if (!start_worker(i))
			w->next_start = TimestampTzPlusMilliseconds(now, RESTART_BACKOFF_MS * 6);
	}
}

/* ---- for the job workers: is the executor there? ------------------------ */

/*
 * Has process pid exited (gone, or a zombie its parent has not reaped)?
 * The executor is the launcher's child, so /proc is how a worker can tell.
 */
static bool
process_exited(pid_t pid)
{
	char		path[64];
	char		stat[512];
	char	   *paren;
	FILE	   *f;
	size_t		n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	f = fopen(path, "r");
	if (f == NULL)
		return true;
	n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	/* "pid (comm) S ...": the state follows the last parenthesis */
	paren = strrchr(stat, ')');
	return paren == NULL || paren[1] == '\0' || paren[2] == 'Z' || paren[2] == 'X';
}

/*
 * A run ended without an answer: did its executor die?  Its socket closes
 * a moment before the process is a zombie, so wait a little.  False when it
 * lives on (it dropped this one connection): then nobody must wait for a
 * replacement that will never come.
 */
bool
pi_executor_died(pid_t executor)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		pid_t		current;

		SpinLockAcquire(&pi_shared->mutex);
		current = pi_shared->executor_pid;
		SpinLockRelease(&pi_shared->mutex);
		if (current != executor || process_exited(executor))
			return true;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), EXECUTOR_EXIT_WAIT_MS))
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * After an executor died under a job, wait until the launcher has started a
 * new one before claiming: the re-queued job would otherwise be claimed at
 * once, meet the dying executor's socket and use up its second attempt.
 * Bounded, so that a launcher that cannot start an executor does not stall
 * the queue silently (the run then fails with a clear error).  Only an
 * executor seen dead is waited for (pi_executor_died), and the launcher clears
 * executor_lost_pid when it starts the next one.
 */
void
pi_wait_for_executor(void)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		pid_t		current;
		pid_t		lost;

		SpinLockAcquire(&pi_shared->mutex);
		current = pi_shared->executor_pid;
		lost = pi_shared->executor_lost_pid;
		SpinLockRelease(&pi_shared->mutex);
		if ((current != 0 && current != lost) ||
			TimestampDifferenceExceeds(start, GetCurrentTimestamp(), EXECUTOR_WAIT_MS))
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

void
pi_launcher_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	pqsignal(SIGCHLD, handle_sigchld);
	BackgroundWorkerUnblockSignals();

	SpinLockAcquire(&pi_shared->mutex);
	pi_shared->launcher_pid = MyProcPid;
	SpinLockRelease(&pi_shared->mutex);

	workers = MemoryContextAllocZero(TopMemoryContext,
									 sizeof(ManagedWorker) * pi_max_concurrent_jobs);
	on_proc_exit(stop_executor, (Datum) 0);
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	ereport(LOG,
			(errmsg("pi launcher started: %d job workers for database \"%s\", %d sync slots",
					pi_max_concurrent_jobs, pi_database, pi_max_sync_executions)));

	for (;;)
	{
		supervise_executor();
		supervise_workers();

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LAUNCHER_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}
