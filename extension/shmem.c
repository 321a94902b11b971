/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared memory of power_interpreter: one slot per job worker, the
 *	  executor's pid, and the boot id that tells jobs of this server
 *	  generation from jobs a crash left behind.  Also the wake-at-commit of
 *	  pi.submit_job and the cancel request of pi.cancel_job.  The tenants'
 *	  workspace tally (workspace_tally.c) is set up from the same hooks.
 *
 * Only the job workers are woken here.  The launcher claims no jobs, so a
 * submit has nothing for it; it wakes on its own when the executor exits
 * (SIGCHLD), when a worker it registered starts or stops (bgw_notify_pid),
 * and once a second.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include "access/xact.h"
#include "miscadmin.h"
#include "port.h"
#include <time.h>

#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "guc.h"
#include "shmem.h"
#include "workspace_tally.h"

PiShared   *pi_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static bool wake_at_commit = false;
static bool xact_callback_registered = false;

static Size
pi_shmem_size(void)
{
	return add_size(offsetof(PiShared, slots),
					mul_size(sizeof(PiWorkerSlot), pi_max_concurrent_jobs));
}

static void
pi_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(pi_shmem_size());
	pi_tally_shmem_request();
}

static void
pi_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pi_shared = ShmemInitStruct("power_interpreter", pi_shmem_size(), &found);
	if (!found)
	{
		memset(pi_shared, 0, pi_shmem_size());
		SpinLockInit(&pi_shared->mutex);
		pi_shared->nslots = pi_max_concurrent_jobs;

		/*
		 * Shared memory is created anew after every crash restart, so a new
		 * random boot id marks every job claimed before it as orphaned.
		 */
		if (!pg_strong_random(&pi_shared->boot_id, sizeof(pi_shared->boot_id)))
			pi_shared->boot_id = (int64) time(NULL) ^ ((int64) MyProcPid << 32);
		pi_shared->boot_id &= INT64CONST(0x7fffffffffffffff);
	}
	pi_tally_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

void
pi_shmem_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pi_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pi_shmem_startup;
}

/*
 * Wake every idle job worker.  With a handful of workers waking them all is
 * cheaper than picking one: the losers of the SKIP LOCKED claim find nothing
 * and go back to sleep.  The latches are set after the spinlock is released,
 * as SetLatch may take a system call.
 */
static void
pi_wake_now(void)
{
	Latch	   *latches[PI_MAX_JOB_WORKERS];
	int			n = 0;

	if (pi_shared == NULL)
		return;
	SpinLockAcquire(&pi_shared->mutex);
	for (int i = 0; i < pi_shared->nslots && n < PI_MAX_JOB_WORKERS; i++)
	{
		PiWorkerSlot *slot = &pi_shared->slots[i];

		if (slot->pid != 0 && !slot->has_job && slot->latch != NULL)
			latches[n++] = slot->latch;
	}
	SpinLockRelease(&pi_shared->mutex);

	for (int i = 0; i < n; i++)
		SetLatch(latches[i]);
}

static void
pi_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit)
				pi_wake_now();
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * Ask for the workers to be woken when the current transaction commits: a
 * worker woken earlier would not see the new row yet, and a rolled-back
 * submit must never run (docs/architecture.md, async jobs).
 */
void
pi_wake_workers(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(pi_xact_callback, NULL);
		xact_callback_registered = true;
	}
	wake_at_commit = true;
}

/*
 * Flag the worker that runs job_id to cancel it, and wake it.  Returns false
 * when no worker runs that job right now.
 */
bool
pi_request_cancel(const pg_uuid_t *job_id)
{
	Latch	   *latch = NULL;
	bool		found = false;

	if (pi_shared == NULL)
		return false;
	SpinLockAcquire(&pi_shared->mutex);
	for (int i = 0; i < pi_shared->nslots; i++)
	{
		PiWorkerSlot *slot = &pi_shared->slots[i];

		if (slot->pid != 0 && slot->has_job &&
			memcmp(&slot->job_id, job_id, sizeof(pg_uuid_t)) == 0)
		{
			slot->cancel_requested = true;
			latch = slot->latch;
			found = true;
			break;
		}
	}
	SpinLockRelease(&pi_shared->mutex);
	if (latch)
		SetLatch(latch);
	return found;
}

/* The progress a worker holds in shared memory for job_id; -1 if none. */
double
pi_job_progress(const pg_uuid_t *job_id)
{
	double		progress = -1;

	if (pi_shared == NULL)
		return -1;
	SpinLockAcquire(&pi_shared->mutex);
	for (int i = 0; i < pi_shared->nslots; i++)
	{
		PiWorkerSlot *slot = &pi_shared->slots[i];

		if (slot->pid != 0 && slot->has_job &&
			memcmp(&slot->job_id, job_id, sizeof(pg_uuid_t)) == 0 && slot->progress > 0)
			progress = slot->progress;
	}
	SpinLockRelease(&pi_shared->mutex);
	return progress;
}

/*
 * The jobs that live job workers hold right now, into ids (room for
 * PI_MAX_JOB_WORKERS); returns how many.  A worker publishes its job here
 * before its claim commits and withdraws it only after the job's end is
 * committed, and its slot is released when it exits, so a job listed here
 * is being run: the rescue leaves it alone whatever its lease says.
 */
int
pi_held_jobs(pg_uuid_t *ids)
{
	int			n = 0;

	if (pi_shared == NULL)
		return 0;
	SpinLockAcquire(&pi_shared->mutex);
	for (int i = 0; i < pi_shared->nslots && n < PI_MAX_JOB_WORKERS; i++)
	{
		PiWorkerSlot *slot = &pi_shared->slots[i];

		if (slot->pid != 0 && slot->has_job)
			ids[n++] = slot->job_id;
	}
	SpinLockRelease(&pi_shared->mutex);
	return n;
}
