/*-------------------------------------------------------------------------
 *
 * tenant_usage.c
 *	  What a tenant uses of each of its limits, and the limit in force, for
 *	  pi.show_tenant_limits() and pi.set_tenant_limit().
 *
 * The figures come from the very functions the limits are checked with
 * (tenant_limits.c, workspace_tally.c), so what a tenant is shown is what
 * it is refused by: there is no second way of counting in SQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "executor_client.h"
#include "tenant_limits.h"
#include "tenants.h"
#include "workspace_tally.h"

PG_FUNCTION_INFO_V1(pi_tenant_in_use);
PG_FUNCTION_INFO_V1(pi_tenant_limit_value);

/* The limit named by argument argno, or an error saying which exist. */
static PiTenantLimit
limit_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	int			which = pi_tenant_limit_by_name(name);

	if (which < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown tenant limit \"%s\"", name),
				 errhint("The limits are max_sync_runs, max_jobs, workspace_mb, datasets_mb and max_sessions.")));
	return (PiTenantLimit) which;
}

/*
 * The live session kernels the executor holds for role now; -1 when no
 * executor is running (a look at the limits does not wait for one to
 * start) or it did not answer.
 */
static int64
live_sessions(const char *role)
{
	Jsonb	   *result;
	JsonbValue *n;

	if (!pi_executor_listening() ||
		(result = pi_executor_op("owner_sessions", role, NULL)) == NULL)
		return -1;
	n = getKeyJsonValueFromContainer(&result->root, "live_sessions", 13, NULL);
	if (n == NULL || n->type != jbvNumeric)
		return -1;
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(n->val.numeric)));
}

/*
 * pi.tenant_in_use(role name, limit_name text) returns bigint: what role
 * uses of the limit, in its unit (runs, jobs, MB rounded up, kernels);
 * NULL for max_sessions when the executor did not answer.  The role must
 * exist (pi.show_tenant_limits checks it first).
 */
Datum
pi_tenant_in_use(PG_FUNCTION_ARGS)
{
	char	   *role = NameStr(*PG_GETARG_NAME(0));
	PiTenantLimit which = limit_arg(fcinfo, 1);
	Oid			roleid = get_role_oid(role, false);
	int64		n = 0;

	switch (which)
	{
		case PI_LIMIT_SYNC_RUNS:
			n = pi_tenant_sync_runs_held(roleid);
			break;
		case PI_LIMIT_JOBS:
			n = pi_tenant_jobs_held(role);
			break;
		case PI_LIMIT_WORKSPACE_MB:
			n = pi_in_mb(pi_tally_tenant_bytes(role, roleid,
											   OidIsValid(pi_tenant_limited_role(role))));
			break;
		case PI_LIMIT_DATASETS_MB:
			n = pi_in_mb(pi_tenant_schema_bytes(pi_dataset_schema(role)));
			break;
		case PI_LIMIT_SESSIONS:
			n = live_sessions(role);
			if (n < 0)
				PG_RETURN_NULL();
			break;
	}
	PG_RETURN_INT64(n);
}

/*
 * pi.tenant_limit_value(role name, limit_name text) returns integer: the
 * limit in force for role, its row of pi.tenant_limits or the default.
 */
Datum
pi_tenant_limit_value(PG_FUNCTION_ARGS)
{
	PiTenantLimit which = limit_arg(fcinfo, 1);

	PG_RETURN_INT32(pi_tenant_limit(NameStr(*PG_GETARG_NAME(0)), which));
}
