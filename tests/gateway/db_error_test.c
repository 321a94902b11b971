/*-------------------------------------------------------------------------
 *
 * db_error_test.c
 *	  Unit check of db_error_from_result (gateway/db.c): however long
 *	  PostgreSQL's message and hint, and wherever a multi-byte character
 *	  falls, the GwError message stays inside message[512], ends with the
 *	  SQLSTATE, and the byte after it (sqlstate[0]) is untouched.  The libpq
 *	  calls it makes are replaced below (a definition in the program wins
 *	  over libpq's).  Built and run by limits_nodb.sh:
 *
 *		cc -I gateway -I$(pg_config --includedir) tests/gateway/db_error_test.c \
 *			gateway/db.c gateway/common.c gateway/utf8.c -lpq -ljansson
 *
 * Prints "ok - ..." / "not ok - ..." and exits 1 on a failure.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"

static char primary[2048];
static const char *hint;

ConnStatusType
PQstatus(const PGconn *conn)
{
	return CONNECTION_OK;
}

char *
PQresultErrorField(const PGresult *res, int field)
{
	if (field == PG_DIAG_SQLSTATE)
		return "22023";
	if (field == PG_DIAG_MESSAGE_PRIMARY)
		return primary;
	if (field == PG_DIAG_MESSAGE_HINT)
		return (char *) hint;
	return NULL;
}

int
main(void)
{
	/* 1- to 4-byte characters, so every cut position is tried */
	static const char *const chars[] = {"a", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"};
	int			failed = 0,
				cases = 0;

	for (int c = 0; c < 4; c++)
		for (size_t len = 400; len < 1100; len++)
			for (int h = 0; h < 2; h++)
			{
				struct
				{
					GwError		err;
					char		canary[8];
				}			box;
				size_t		n;

				memset(primary, 0, sizeof(primary));
				for (n = 0; n + strlen(chars[c]) <= len; n += strlen(chars[c]))
					memcpy(primary + n, chars[c], strlen(chars[c]));
				hint = h ? "Full sentence saying what to do." : NULL;
				memset(&box, 0x55, sizeof(box));
				db_error_from_result(NULL, (PGresult *) 1, &box.err);
				n = strnlen(box.err.message, sizeof(box.err.message));
				cases++;
				if (n >= sizeof(box.err.message) ||
					strcmp(box.err.sqlstate, "22023") != 0 ||
					box.canary[0] != 0x55 ||
					!gw_utf8_valid(box.err.message, n) ||
					n < strlen(" (SQLSTATE 22023)") ||
					strcmp(box.err.message + n - strlen(" (SQLSTATE 22023)"),
						   " (SQLSTATE 22023)") != 0)
				{
					if (failed++ < 5)
						printf("# char %d, length %zu, hint %d: message %zu bytes\n",
							   c, len, h, n);
				}
			}
	printf("%s - db_error_from_result: %d long messages stay in message[512], "
		   "valid UTF-8, ending with the SQLSTATE\n", failed ? "not ok" : "ok", cases);
	return failed ? 1 : 0;
}
