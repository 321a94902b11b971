/*-------------------------------------------------------------------------
 *
 * workspace_tally.h
 *	  What each tenant's session workspaces hold, kept in shared memory
 *	  (workspace_tally.c), for the tenant limit workspace_mb.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_WORKSPACE_TALLY_H
#define PI_WORKSPACE_TALLY_H

#include "utils/uuid.h"

/*
 * One session's place in its tenant's tally, for one check, write or run.
 * Zeroed, it stands for "no limit applies": every function below then does
 * nothing.
 */
typedef struct PiTally
{
	char	   *owner;			/* the session's tenant; NULL: not tracked */
	Oid			roleid;
	pg_uuid_t	session;
	char	   *workspace;
	bool		locked;			/* this backend holds the tenant's tally lock */
	bool		run_going;		/* pi_tally_run_started was called */
	bool		walked;			/* shared memory cannot hold the tenant: */
	List	   *counted;		/* every session's bytes (TallyCount), walked */
} PiTally;

extern void pi_tally_shmem_request(void);
extern void pi_tally_shmem_init(void);

extern bool pi_tally_lookup(const char *workspace, PiTally *t);
extern void pi_tally_lock(PiTally *t, Oid roleid);
extern void pi_tally_unlock(PiTally *t);
extern void pi_tally_abandon(PiTally *t);
extern int64 pi_tally_others(PiTally *t);
extern int64 pi_tally_here(PiTally *t);
extern void pi_tally_record(PiTally *t, int64 bytes);
extern void pi_tally_adjust(PiTally *t, int64 delta);
extern void pi_tally_run_started(PiTally *t);
extern void pi_tally_run_ended(PiTally *t, bool measure);
extern void pi_tally_forget(const pg_uuid_t *session);
extern int64 pi_tally_tenant_bytes(const char *role, Oid roleid, bool tracked);

#endif							/* PI_WORKSPACE_TALLY_H */
