/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  What pi-executor decided at start-up and every later part reads: the
 *	  sandbox mode (and the prepared jail), the fixed environment of every
 *	  run, and the BLAS/OpenMP thread count of runs.
 *
 * main.c fills these once, before the loop starts and before any kernel
 * is forked; afterwards they are only read.  This is the one place that
 * knows the BLAS/OpenMP thread variables: the zygote sets them to 1 for
 * itself (a threaded zygote cannot clone sandboxed kernels) and runs get
 * --blas-threads (pi.blas_threads) through executor_run_env.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"

SandboxMode executor_sandbox_mode = SANDBOX_UNAVAILABLE;
JailConfig	executor_jail;
char		executor_sandbox_error[512] = "the sandbox was not prepared";

/*
 * The BLAS/OpenMP thread variables.  Without them OpenBLAS sizes its pool
 * by the CPU count and, on a many-core host, reserves enough address space
 * to break RLIMIT_AS.
 */
const char *const executor_blas_thread_vars[] = {
	"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
	"NUMEXPR_NUM_THREADS", NULL
};

const char *const *executor_run_env = jail_default_env;
int			executor_blas_threads = 1;

/*
 * The fixed environment of every run: jail_default_env with the thread
 * variables set to n.  False when out of memory.
 */
bool
executor_settings_set_blas_threads(int n)
{
	int			count = 0,
				i,
				j,
				out = 0;
	char	  **env;

	while (jail_default_env[count] != NULL)
		count++;
	env = calloc(count + 8, sizeof(char *));
	if (env == NULL)
		return false;
	for (i = 0; i < count; i++)
	{
		bool		thread_var = false;

		for (j = 0; executor_blas_thread_vars[j] != NULL; j++)
		{
			size_t		len = strlen(executor_blas_thread_vars[j]);

			if (strncmp(jail_default_env[i], executor_blas_thread_vars[j], len) == 0 &&
				jail_default_env[i][len] == '=')
				thread_var = true;
		}
		if (!thread_var)
			env[out++] = (char *) jail_default_env[i];
	}
	for (j = 0; executor_blas_thread_vars[j] != NULL; j++)
	{
		char		item[64];

		snprintf(item, sizeof(item), "%s=%d", executor_blas_thread_vars[j], n);
		if ((env[out++] = strdup(item)) == NULL)
			return false;
	}
	env[out] = NULL;
	executor_run_env = (const char *const *) env;
	executor_blas_threads = n;
	return true;
}
