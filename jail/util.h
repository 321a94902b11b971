/*-------------------------------------------------------------------------
 *
 * util.h
 *	  The sandbox library's error convention and small file helpers
 *	  (util.c), used by every mechanism file.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_JAIL_UTIL_H
#define PI_JAIL_UTIL_H

#include <stddef.h>

/* Write "<fmt>: strerror(errnum) (errno N)" into err; returns -1. */
extern int	jail_error(char *err, size_t errlen, int errnum,
					   const char *fmt,...)
			__attribute__((format(printf, 4, 5)));

/* Write data into an existing kernel control file; 0 or -1 + err. */
extern int	jail_write_file(const char *path, const char *data,
							char *err, size_t errlen);

/*
 * Read a small file into buf (NUL terminated, cut at buflen - 1); -1 with
 * errno on failure.  No stdio: a just-cloned process must not malloc.
 */
extern int	jail_read_file(const char *path, char *buf, size_t buflen);

#endif							/* PI_JAIL_UTIL_H */
