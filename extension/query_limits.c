/*-------------------------------------------------------------------------
 *
 * query_limits.c
 *	  What one pi.query statement may consume in its backend.
 *
 * pi.query runs in a backend (or a job worker) that serves others too, so
 * nothing a statement does may fill the disk or grow the process until the
 * OOM killer ends it and the postmaster restarts every connection:
 *
 *	- temporary files: temp_file_limit = pi.query_temp_file_limit;
 *	- sorts and hashes: work_mem = pi.query_work_mem, hash_mem_multiplier 1,
 *	  so they spill (into the bounded temporary files) early;
 *	- everything else: the backend's data segment (RLIMIT_DATA: heap and
 *	  private mappings, not shared memory) may grow by at most
 *	  pi.query_max_memory while the statement is parsed, planned and run.
 *
 * Why an allocator limit and not a memory-context poll: a DestReceiver sees
 * array_agg's one row only after the aggregate has taken all its memory,
 * and one expression (length(repeat('x', 1e9)) + ... in a single row, or
 * the planner folding it as a constant) allocates many gigabytes without
 * producing a row at all.  Only the allocator sees every allocation.  When
 * the limit is reached, malloc fails and palloc raises an ordinary "out of
 * memory" ERROR, which aborts the statement and frees its memory; the limit
 * is lifted as soon as the statement ends, whichever way.  Parallel workers
 * are other processes that this limit cannot reach, so pi.query plans
 * without them (max_parallel_workers_per_gather = 0).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <sys/resource.h>

#include "miscadmin.h"
#include "utils/guc.h"

#include "guc.h"
#include "query_limits.h"

/*
 * Set one setting for the statement: GUC_ACTION_SAVE in pi.query's nest
 * level, undone when it ends.  PGC_SUSET because pi.query imposes the
 * limit for its caller, whoever that is.
 */
static void
set_for_statement(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
pi_query_limits_apply(void)
{
	char		buf[32];

	/* keep a caller's stricter value; -1 (none) is never stricter */
	if (temp_file_limit < 0 || temp_file_limit > pi_query_temp_file_limit)
	{
		snprintf(buf, sizeof(buf), "%dkB", pi_query_temp_file_limit);
		set_for_statement("temp_file_limit", buf);
	}
	if (work_mem > pi_query_work_mem)
	{
		snprintf(buf, sizeof(buf), "%dkB", pi_query_work_mem);
		set_for_statement("work_mem", buf);
	}
	if (hash_mem_multiplier > 1.0)
		set_for_statement("hash_mem_multiplier", "1");
	set_for_statement("max_parallel_workers_per_gather", "0");
}

/* The size of the data segment (VmData), in bytes; 0 when unknown. */
static uint64
data_segment_bytes(void)
{
	FILE	   *f = fopen("/proc/self/status", "r");
	char		line[256];
	unsigned long long kb = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmData: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64) kb * 1024;
}

void
pi_query_memory_bound_begin(QueryMemoryBound *bound)
{
	uint64		base = data_segment_bytes();
	uint64		limit;
	struct rlimit lowered;

	bound->active = false;
	if (getrlimit(RLIMIT_DATA, &bound->saved) != 0 || base == 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("pi.query could not bound its memory: %m"),
				 errdetail("It reads /proc/self/status and sets RLIMIT_DATA for the statement."),
				 errhint("pi.query needs Linux with /proc mounted.")));
	limit = base + (uint64) pi_query_max_memory_mb * 1024 * 1024;
	if (bound->saved.rlim_cur != RLIM_INFINITY && bound->saved.rlim_cur <= limit)
		return;					/* already bounded at least as tightly */
	lowered.rlim_max = bound->saved.rlim_max;
	lowered.rlim_cur = limit;
	if (bound->saved.rlim_max != RLIM_INFINITY && bound->saved.rlim_max < limit)
		lowered.rlim_cur = bound->saved.rlim_max;
	if (setrlimit(RLIMIT_DATA, &lowered) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("pi.query could not bound its memory: %m"),
				 errdetail("setrlimit(RLIMIT_DATA) failed.")));
	bound->active = true;
}

/* Lifting a soft limit back up to the hard one needs no privilege. */
void
pi_query_memory_bound_end(QueryMemoryBound *bound)
{
	if (bound->active)
		(void) setrlimit(RLIMIT_DATA, &bound->saved);
	bound->active = false;
}

void
pi_query_limits_rethrow(ErrorData *edata)
{
	if (edata->sqlerrcode == ERRCODE_OUT_OF_MEMORY)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("pi.query needed more memory than pi.query_max_memory (%d MB)",
						pi_query_max_memory_mb),
				 edata->detail ? errdetail("%s", edata->detail) : 0,
				 errhint("Aggregate to fewer or smaller values (array_agg, string_agg and json_agg keep every value in memory), filter first, or raise pi.query_max_memory.")));
	if (edata->sqlerrcode == ERRCODE_CONFIGURATION_LIMIT_EXCEEDED &&
		edata->message && strncmp(edata->message, "temporary file size exceeds", 27) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("pi.query needed more temporary file space than pi.query_temp_file_limit (%d kB)",
						pi_query_temp_file_limit),
				 errdetail("A sort, hash or materialised result spilled to disk beyond the limit."),
				 errhint("Filter or aggregate before sorting or joining (a cross join grows fast), or raise pi.query_temp_file_limit.")));
	ReThrowError(edata);
}
