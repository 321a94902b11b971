/*-------------------------------------------------------------------------
 *
 * unit.h
 *	  A minimal harness for the C unit tests of tests/unit/: named cases,
 *	  checks that report file and line, and the stubs' view of the last
 *	  error (pg_stubs.c).
 *
 * A case passes when none of its checks fails and it throws no error it
 * did not expect.  main() prints "N passed, M failed" as its last line,
 * the convention of scripts/test.sh.
 *
 *-------------------------------------------------------------------------
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>

/*
 * port.h maps printf and its kin to PostgreSQL's own, which live in the
 * server and libpgport; the tests need neither and use the C library's.
 */
#undef printf
#undef vprintf
#undef fprintf
#undef vfprintf
#undef snprintf
#undef vsnprintf

typedef void (*UnitCase) (void);

extern void unit_run(const char *name, UnitCase fn);
extern void unit_fail(const char *file, int line, const char *fmt,...) pg_attribute_printf(3, 4);

extern const char *unit_last_error(void);
extern const char *unit_last_hint(void);
extern int	unit_last_sqlstate(void);

/* The suites, one per file of tests/unit/. */
extern void unit_csv_scan_cases(void);
extern void unit_csv_load_cases(void);

#define CHECK(cond) \
	do { \
		if (!(cond)) \
			unit_fail(__FILE__, __LINE__, "%s", #cond); \
	} while (0)

#define CHECK_INT(got, want) \
	do { \
		long long	_got = (long long) (got); \
		long long	_want = (long long) (want); \
		if (_got != _want) \
			unit_fail(__FILE__, __LINE__, "%s is %lld, expected %lld", #got, _got, _want); \
	} while (0)

#define CHECK_STR(got, want) \
	do { \
		const char *_got = (got); \
		const char *_want = (want); \
		if (_got == NULL || strcmp(_got, _want) != 0) \
			unit_fail(__FILE__, __LINE__, "%s is \"%s\", expected \"%s\"", #got, \
					  _got ? _got : "(null)", _want); \
	} while (0)

#define CHECK_CONTAINS(got, part) \
	do { \
		const char *_got = (got); \
		if (_got == NULL || strstr(_got, (part)) == NULL) \
			unit_fail(__FILE__, __LINE__, "%s is \"%s\", which lacks \"%s\"", #got, \
					  _got ? _got : "(null)", (part)); \
	} while (0)

/* stmt must throw an error whose message contains part. */
#define CHECK_ERROR(stmt, part) \
	do { \
		bool		_thrown = false; \
		PG_TRY(); \
		{ \
			stmt; \
		} \
		PG_CATCH(); \
		{ \
			_thrown = true; \
		} \
		PG_END_TRY(); \
		if (!_thrown) \
			unit_fail(__FILE__, __LINE__, "no error from %s", #stmt); \
		else \
			CHECK_CONTAINS(unit_last_error(), part); \
	} while (0)

#endif							/* UNIT_H */
