/*-------------------------------------------------------------------------
 *
 * rescue.c
 *	  The periodic sweep every job worker runs: renew the leases of jobs
 *	  live workers hold, rescue jobs whose worker or executor is gone
 *	  (re-queued once, then failed with a reason), drop the staging tables
 *	  of loads that did not finish, retire expired sessions and trim old
 *	  history.
 *
 * pg_cron's habit: what a crash left behind is repaired by an explicit
 * pass, here one that also runs at every start of a worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/uuid.h"

#include "guc.h"
#include "load_copy.h"
#include "rescue.h"
#include "sessions.h"
#include "shmem.h"

/*
 * Renew the leases of the jobs that live workers hold, and rescue the
 * running jobs of a past server generation or with an expired lease that
 * no live worker holds.  Also retires sessions past pi.session_ttl (their
 * ids are appended to *expired, allocated in ctx, for the caller to stop
 * their kernels after the commit) and, in worker 1 only, trims history
 * past pi.job_retention.  Runs inside the caller's transaction.
 */
void
pi_rescue_jobs(int my_slot, int64 my_boot_id, MemoryContext ctx, List **expired)
{
	pg_uuid_t	held[PI_MAX_JOB_WORKERS];
	Datum		held_datums[PI_MAX_JOB_WORKERS];
	int			nheld = pi_held_jobs(held);
	Datum		held_array;
	int			rc;

	for (int i = 0; i < nheld; i++)
		held_datums[i] = UUIDPGetDatum(&held[i]);
	held_array = PointerGetDatum(construct_array(held_datums, nheld, UUIDOID, UUID_LEN,
												 false, TYPALIGN_CHAR));

	rc = SPI_execute_with_args("UPDATE pi.jobs j SET lease_until = clock_timestamp() + make_interval(secs => $3)"
							   " FROM (SELECT id FROM pi.jobs WHERE id = ANY ($1) AND status = 'running'"
							   "   AND worker_boot = $2 FOR UPDATE SKIP LOCKED) held WHERE j.id = held.id",
							   3, (Oid[]) {UUIDARRAYOID, INT8OID, INT4OID},
							   (Datum[]) {held_array, Int64GetDatum(my_boot_id), Int32GetDatum(pi_job_lease_time)},
							   NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "pi worker: renewing the leases of held jobs failed: SPI error %d", rc);

	rc = SPI_execute_with_args(
							   "UPDATE pi.jobs j SET"
							   " status = CASE WHEN j.cancel_requested THEN 'cancelled'"
							   "   WHEN j.attempts < " PI_JOB_MAX_ATTEMPTS " THEN 'pending' ELSE 'failed' END,"
							   " finished_at = CASE WHEN j.cancel_requested OR j.attempts >= " PI_JOB_MAX_ATTEMPTS
							   "   THEN clock_timestamp() END,"
							   " started_at = CASE WHEN j.cancel_requested OR j.attempts >= " PI_JOB_MAX_ATTEMPTS
							   "   THEN j.started_at END,"
							   " lease_until = NULL, worker_pid = NULL,"
							   " retry_reason = CASE WHEN j.worker_boot IS DISTINCT FROM $1"
							   "   THEN 'the server restarted (a crash of one of its processes, a kill or a restart)"
							   " while its worker ran it'"
							   "   ELSE 'its worker stopped renewing the job''s lease (killed or hung)' END,"
							   " result = CASE WHEN j.cancel_requested OR j.attempts >= " PI_JOB_MAX_ATTEMPTS " THEN"
							   "   pi.ended_result(CASE WHEN j.cancel_requested THEN 'cancelled' ELSE 'failed' END,"
							   "    'WorkerLost', 'the worker or executor running this job stopped (crash, kill or server"
							   " restart) ' || j.attempts || ' time(s); it is not retried again; submit it again if it"
							   " is safe to rerun') END"
							   " FROM (SELECT id FROM pi.jobs WHERE status = 'running'"
							   "   AND (worker_boot IS DISTINCT FROM $1 OR (lease_until < now() AND id <> ALL ($2)))"
							   "   FOR UPDATE SKIP LOCKED) lost"
							   " WHERE j.id = lost.id",
							   2, (Oid[]) {INT8OID, UUIDARRAYOID},
							   (Datum[]) {Int64GetDatum(my_boot_id), held_array},
							   NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "pi worker: rescue of lost jobs failed: SPI error %d", rc);
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("pi worker %d: rescued %llu job(s) whose worker or executor stopped",
						my_slot + 1, (unsigned long long) SPI_processed)));

	/* the same sweep retires sessions past pi.session_ttl */
	rc = (int) pi_expire_sessions(ctx, expired);
	if (rc > 0)
		ereport(LOG, (errmsg("pi worker %d: removed %d expired session(s) and their workspaces",
							 my_slot + 1, rc)));

	/* and history past pi.job_retention, a bounded batch at a time */
	if (my_slot == 0 &&
		SPI_execute_with_args("DELETE FROM pi.jobs WHERE id IN (SELECT id FROM pi.jobs"
							  " WHERE status IN ('completed', 'failed', 'timeout', 'cancelled')"
							  " AND finished_at < now() - make_interval(secs => $1)"
							  " LIMIT 1000 FOR UPDATE SKIP LOCKED)",
							  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(pi_job_retention)},
							  NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "pi worker: deleting old jobs failed");
	if (my_slot == 0 && SPI_processed > 0)
		ereport(LOG, (errmsg("pi worker %d: deleted %llu job(s) older than pi.job_retention",
							 my_slot + 1, (unsigned long long) SPI_processed)));

	/* last: it sets a lock timeout for the rest of the transaction */
	load_sweep_staging(my_boot_id);
}
