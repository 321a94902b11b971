/*-------------------------------------------------------------------------
 *
 * fdpass.c
 *	  One record and its descriptors over a SOCK_SEQPACKET socket
 *	  (SCM_RIGHTS): how the loop and the forkers talk
 *	  (include/forker_protocol.h).  Both sides use these two calls, so
 *	  the control-message layout is written once.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass.h"

bool
fdpass_send(int sock, const void *record, size_t len, const int *fds, int nfds,
			int flags)
{
	struct msghdr msg;
	struct iovec iov;
	char		control[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];

	if (nfds < 0 || nfds > FDPASS_MAX_FDS)
	{
		errno = EINVAL;
		return false;
	}
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *) record;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0)
	{
		struct cmsghdr *cm;

		memset(control, 0, sizeof(control));
		msg.msg_control = control;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	for (;;)
	{
		ssize_t		n = sendmsg(sock, &msg, flags | MSG_NOSIGNAL);

		if (n == (ssize_t) len)
			return true;
		if (n >= 0)
		{
			errno = EMSGSIZE;	/* a record is sent whole or not at all */
			return false;
		}
		if (errno != EINTR)
			return false;
	}
}

ssize_t
fdpass_recv(int sock, void *record, size_t len, int *fds, int maxfds,
			int *nfds, int flags)
{
	struct msghdr msg;
	struct iovec iov;
	char		control[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
	struct cmsghdr *cm;
	ssize_t		n;

	*nfds = 0;
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = record;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control;
	msg.msg_controllen = sizeof(control);
	do
		n = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return n;
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm))
	{
		int			got;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		got = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (int j = 0; j < got; j++)
		{
			int			fd;

			memcpy(&fd, CMSG_DATA(cm) + j * sizeof(int), sizeof(int));
			if (*nfds < maxfds)
				fds[(*nfds)++] = fd;
			else
				close(fd);		/* more than asked for: not ours to keep */
		}
	}
	if (n != (ssize_t) len || (msg.msg_flags & MSG_TRUNC))
	{
		/* not one whole record: drop it and what came with it */
		for (int j = 0; j < *nfds; j++)
			close(fds[j]);
		*nfds = 0;
		errno = EBADMSG;
		return n == 0 ? 0 : -2;
	}
	return n;
}
