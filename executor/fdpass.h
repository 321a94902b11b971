/*-------------------------------------------------------------------------
 *
 * fdpass.h
 *	  A record and its descriptors over a SOCK_SEQPACKET socket (fdpass.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_FDPASS_H
#define PI_FDPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The most descriptors one record carries (a kernel's four pipe ends). */
#define FDPASS_MAX_FDS 4

/* Send record and nfds descriptors; false with errno when not sent whole. */
extern bool fdpass_send(int sock, const void *record, size_t len,
						const int *fds, int nfds, int flags);

/*
 * Receive one record of exactly len bytes and up to maxfds descriptors
 * (O_CLOEXEC).  Returns len; 0 at end of file; -1 with errno (EAGAIN
 * when none waits under MSG_DONTWAIT); -2 for a record of another size,
 * whose descriptors are closed.
 */
extern ssize_t fdpass_recv(int sock, void *record, size_t len, int *fds,
						   int maxfds, int *nfds, int flags);

#endif							/* PI_FDPASS_H */
