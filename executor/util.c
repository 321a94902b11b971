/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Small helpers every part of pi-executor needs: growable byte buffers,
 *	  closing a descriptor once, and the monotonic clock.
 *
 * The lowest layer of the program: it depends on nothing but libc and
 * the logger (jail/log.c).
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/*
 * Grow b to hold extra more bytes.  False when out of memory, b unchanged:
 * the caller fails the one run or connection concerned, never the process
 * (a lost executor would take every live session's state with it).
 */
bool
buf_reserve(Buf *b, size_t extra)
{
	size_t		need = b->len + extra;
	size_t		cap;
	char	   *grown;

	if (need < b->len)
		return false;			/* overflow */
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap < need)
	{
		if (cap > SIZE_MAX / 2)
			return false;
		cap *= 2;
	}
	grown = realloc(b->data, cap);
	if (grown == NULL)
	{
		pi_log("out of memory growing a buffer to %zu bytes", cap);
		return false;
	}
	b->data = grown;
	b->cap = cap;
	return true;
}

/* Append len bytes; false (b unchanged) when out of memory. */
bool
buf_append(Buf *b, const void *data, size_t len)
{
	if (!buf_reserve(b, len))
		return false;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return true;
}

void
buf_consume(Buf *b, size_t n)
{
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void
buf_free(Buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

double
executor_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}
