/*-------------------------------------------------------------------------
 *
 * tenant_limits.h
 *	  Per-tenant limits: sync runs, jobs, workspace and dataset storage,
 *	  live session kernels (tenant_limits.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_TENANT_LIMITS_H
#define PI_TENANT_LIMITS_H

#include "executor_client.h"
#include "workspace_tally.h"

typedef enum PiTenantLimit
{
	PI_LIMIT_SYNC_RUNS,
	PI_LIMIT_JOBS,
	PI_LIMIT_WORKSPACE_MB,
	PI_LIMIT_DATASETS_MB,
	PI_LIMIT_SESSIONS
} PiTenantLimit;

/* A sync run slot held by this backend; slot -1: none (no limit applies). */
typedef struct PiSyncSlot
{
	Oid			roleid;
	int			slot;
} PiSyncSlot;

#define MB (INT64CONST(1024) * 1024)

extern int	pi_tenant_limit(const char *role, PiTenantLimit which);
extern int	pi_tenant_limit_by_name(const char *name);
extern Oid	pi_tenant_limited_role(const char *role);
extern long long pi_in_mb(int64 bytes);
extern int64 pi_tenant_jobs_held(const char *role);
extern int64 pi_tenant_sync_runs_held(Oid roleid);
extern int64 pi_tenant_schema_bytes(const char *schema);
extern PiSyncSlot pi_tenant_take_sync_slot(const char *role);
extern void pi_tenant_release_sync_slot(PiSyncSlot slot);
extern void pi_tenant_check_jobs(const char *role);
extern void pi_tenant_check_datasets(const char *role, const char *schema, bool loaded);
extern void pi_tenant_lock_workspace(const char *workspace, PiTally *t);
extern void pi_tenant_mark_run(const char *workspace, PiTally *t);
extern void pi_tenant_check_workspace_write(PiTally *t, int64 used, int64 growth);
extern bool pi_tenant_workspace_quota(const char *workspace, PiRunRequest *req, PiTally *t);
extern void pi_tenant_require_workspace_room(const char *workspace, PiRunRequest *req, PiTally *t);
extern void pi_tenant_session_limit(const char *role, PiRunRequest *req);

#endif							/* PI_TENANT_LIMITS_H */
