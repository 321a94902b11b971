/*-------------------------------------------------------------------------
 *
 * error_terms_test.c
 *	  Unit test of gateway/error_terms.c: the extension's real hints, as a
 *	  REST and as an MCP caller reads them.  Built and run by run.sh:
 *
 *		cc -I gateway -I$(pg_config --includedir) tests/gateway/error_terms_test.c \
 *			gateway/error_terms.c gateway/utf8.c -ljansson && ./a.out
 *
 * Prints "ok - ..." / "not ok - ..." per case and exits 1 on a failure.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"

static int	failed;

static void
expect_terms(const char *sql, GwTerms terms, const char *want)
{
	GwError		err = {0};
	bool		ok;

	snprintf(err.hint, sizeof(err.hint), "%s", sql);
	snprintf(err.message, sizeof(err.message), "%s", sql);
	gw_error_in_terms(&err, terms);
	ok = strcmp(err.hint, want) == 0 && strcmp(err.message, want) == 0;
	printf("%s - error terms (%s): %s\n", ok ? "ok" : "not ok",
		   terms == GW_TERMS_REST ? "REST" : "MCP", sql);
	if (!ok)
	{
		printf("#   got:  %s\n#   want: %s\n", err.hint, want);
		failed++;
	}
}

int
main(void)
{
	const char *busy = "Wait for it with pi.job_result('0a1b', wait_s), cancel it "
		"with pi.cancel_job('0a1b'), or run this code in another session.";

	expect_terms(busy, GW_TERMS_REST,
				 "Wait for it with GET /api/jobs/0a1b/result?wait=<seconds>, cancel "
				 "it with POST /api/jobs/0a1b/cancel, or run this code in another session.");
	expect_terms(busy, GW_TERMS_MCP,
				 "Wait for it with get_job_result with job_id 0a1b and a wait, cancel "
				 "it with cancel_job with job_id 0a1b, or run this code in another session.");
	expect_terms("timeout_s 900 exceeds pi.max_execution_time (300 seconds)",
				 GW_TERMS_REST,
				 "timeout 900 exceeds the server setting pi.max_execution_time (300 seconds)");
	expect_terms("Retry shortly, submit the work with pi.submit_job(), or raise "
				 "pi.max_sync_executions.", GW_TERMS_MCP,
				 "Retry shortly, submit the work with submit_job, or raise the server "
				 "setting pi.max_sync_executions.");
	expect_terms("Pass the Python source text to run, e.g. pi.execute('print(1)').",
				 GW_TERMS_REST,
				 "Pass the Python source text to run, e.g. POST /api/execute with "
				 "{\"code\": \"print(1)\"}.");
	expect_terms("Wait for the other run to finish, or cancel it (pi.cancel_job() for a job).",
				 GW_TERMS_REST,
				 "Wait for the other run to finish, or cancel it (POST /api/jobs/{id}/cancel "
				 "for a job).");
	expect_terms("pi.list_files(session_id) lists the files of the workspace.",
				 GW_TERMS_MCP, "list_files lists the files of the workspace.");
	/* tables, words that only contain a name, and unclosed calls stay */
	expect_terms("row of pi.jobs, my_timeout_s, xpi.query, pi.execute('x",
				 GW_TERMS_REST,
				 "row of pi.jobs, my_timeout_s, xpi.query, POST /api/execute('x");
	return failed ? 1 : 0;
}
