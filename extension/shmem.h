/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  Shared memory of power_interpreter (shmem.c): one slot per job
 *	  worker, the executor's pid and the boot id.
 *
 * A slot lets pi.submit_job wake idle workers at commit, and pi.cancel_job
 * reach the worker that runs a given job.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_SHMEM_H
#define PI_SHMEM_H

#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/uuid.h"

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
	pid_t		executor_pid;
	pid_t		executor_lost_pid;	/* an executor a worker saw die under a job;
									 * cleared when the launcher starts another */
	int			nslots;
	PiWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} PiShared;

extern PiShared *pi_shared;

extern void pi_shmem_install_hooks(void);
extern void pi_wake_workers(void);
extern bool pi_request_cancel(const pg_uuid_t *job_id);
extern double pi_job_progress(const pg_uuid_t *job_id);
extern int	pi_held_jobs(pg_uuid_t *ids);

#endif							/* PI_SHMEM_H */
