/*-------------------------------------------------------------------------
 *
 * util.h
 *	  The lowest layer of pi-executor (util.c): growable byte buffers,
 *	  closing a descriptor once, the monotonic clock, a task's stopped state.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_EXECUTOR_UTIL_H
#define PI_EXECUTOR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

extern bool buf_reserve(Buf *b, size_t extra);
extern bool buf_append(Buf *b, const void *data, size_t len);
extern void buf_consume(Buf *b, size_t n);
extern void buf_free(Buf *b);
extern void close_fd(int *fd);
extern double executor_now_ms(void);
extern bool executor_task_stopped(pid_t pid, pid_t tid);

#endif							/* PI_EXECUTOR_UTIL_H */
