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
#include <stdio.h>
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

/*
 * Whether task tid of pid is stopped ('T', 't'), a zombie or dead, or gone
 * (its stat cannot be opened): nothing of it can run.  A stat that cannot
 * be parsed counts as running.  "tid (comm) S ...": comm may hold
 * anything, the state follows the last ')'.
 */
bool
executor_task_stopped(pid_t pid, pid_t tid)
{
	char		path[64];
	char		buf[512];
	FILE	   *f;
	char	   *paren;
	size_t		n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int) pid, (int) tid);
	if ((f = fopen(path, "re")) == NULL)
		return true;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren != NULL && paren[1] == ' ' && strchr("TtZX", paren[2]) != NULL;
}
