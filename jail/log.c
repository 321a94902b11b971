/*-------------------------------------------------------------------------
 *
 * log.c
 *	  The one logger of the pi-executor program (and of the sandbox
 *	  library it links): a line on stderr, which the launcher hands to the
 *	  PostgreSQL server log.
 *
 * It lives at the bottom of the jail library because both the library
 * and the executor above it log, and a lower layer must not call up into
 * the program that uses it.  Depends on nothing but libc.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

void
pi_log(const char *fmt,...)
{
	va_list		ap;
	char		line[2048];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one write per line, so lines of concurrent processes do not mix */
	dprintf(STDERR_FILENO, PI_LOG_PREFIX "%s\n", line);
}
