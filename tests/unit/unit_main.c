/*-------------------------------------------------------------------------
 *
 * unit_main.c
 *	  Runs every suite of the C unit tests and prints the totals.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>

#include "unit.h"

static int	passed = 0;
static int	failed = 0;
static int	case_failures = 0;
static const char *case_name = NULL;

void
unit_fail(const char *file, int line, const char *fmt,...)
{
	va_list		args;

	if (case_failures++ == 0)
		printf("FAIL %s\n", case_name);
	printf("     %s:%d: ", file, line);
	va_start(args, fmt);
	vprintf(fmt, args);
	va_end(args);
	printf("\n");
}

/* Run one case; an error it did not expect fails it, and the run goes on. */
void
unit_run(const char *name, UnitCase fn)
{
	case_name = name;
	case_failures = 0;
	PG_TRY();
	{
		fn();
	}
	PG_CATCH();
	{
		unit_fail(__FILE__, __LINE__, "unexpected error: %s", unit_last_error());
	}
	PG_END_TRY();
	if (case_failures == 0)
	{
		printf("ok   %s\n", name);
		passed++;
	}
	else
		failed++;
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	unit_csv_scan_cases();
	unit_csv_load_cases();
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
