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
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* Grow b to hold extra more bytes; an allocation failure ends the zygote. */
void
buf_reserve(Buf *b, size_t extra)
{
	size_t		need = b->len + extra;

	if (need <= b->cap)
		return;
	b->cap = b->cap ? b->cap : 4096;
	while (b->cap < need)
		b->cap *= 2;
	b->data = realloc(b->data, b->cap);
	if (b->data == NULL)
	{
		pi_log("out of memory; exiting");
		_exit(1);				/* the launcher restarts us */
	}
}

void
buf_append(Buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
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
