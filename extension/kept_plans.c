/*-------------------------------------------------------------------------
 *
 * kept_plans.c
 *	  SPI plans prepared once per backend and kept for its life, for the
 *	  queries every pi.execute call runs (recording the run, the tenant's
 *	  limits, the session's row).
 *
 * SPI_execute_with_args parses, analyzes and plans its query on every
 * call: for the recording of a sync run that was about three quarters of
 * the backend's CPU per pi.execute('print(1)').  A kept plan is parsed
 * once; the plan cache still re-plans it when a table it uses changes or
 * when it runs under another search_path or role, so it answers exactly as
 * the text would.  The caller must be connected to SPI.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "kept_plans.h"

/*
 * The plan of sql, prepared on first use into *cache (a static of the
 * caller, one per query text) and kept there.
 */
SPIPlanPtr
pi_kept_plan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;

	if (*cache != NULL)
		return *cache;
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep the plan of \"%s\"", sql);
	*cache = plan;
	return plan;
}
