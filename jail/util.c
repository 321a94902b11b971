/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Helpers every mechanism file of the sandbox library needs: the
 *	  error convention (jail_error) and writing one value into a kernel
 *	  control file (jail_write_file: uid maps, cgroup limits).
 *
 * The error convention of the whole library: a function that can fail
 * returns -1 and writes "<step>: <reason> (errno N)" into the caller's
 * err buffer; nothing is silently skipped.  Depends on nothing above it.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

int
jail_error(char *err, size_t errlen, int errnum, const char *fmt,...)
{
	va_list		ap;
	size_t		n;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	n = strlen(err);
	if (errnum != 0 && n < errlen)
		snprintf(err + n, errlen - n, ": %s (errno %d)", strerror(errnum), errnum);
	return -1;
}

int
jail_write_file(const char *path, const char *data, char *err, size_t errlen)
{
	int			fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t		len = strlen(data);
	ssize_t		n;

	if (fd < 0)
		return jail_error(err, errlen, errno, "open %s for writing", path);
	/*
	 * Writing a memory limit makes the kernel reclaim down to it, which a
	 * signal (the zygote's SIGCHLD) can interrupt: try again.
	 */
	for (int tries = 0; tries < 100; tries++)
	{
		n = write(fd, data, len);
		if (!(n < 0 && errno == EINTR))
			break;
	}
	if (n != (ssize_t) len)
	{
		int			save = (n < 0) ? errno : EIO;

		close(fd);
		return jail_error(err, errlen, save, "write \"%.40s\" to %s", data, path);
	}
	if (close(fd) < 0)
		return jail_error(err, errlen, errno, "close %s", path);
	return 0;
}

int
jail_read_file(const char *path, char *buf, size_t buflen)
{
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t		n;

	if (fd < 0)
		return -1;
	do
		n = read(fd, buf, buflen - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}
