/*-------------------------------------------------------------------------
 *
 * forkers.c
 *	  The loop's side of the forkers (include/forker_protocol.h): sending
 *	  spawn requests to the least busy forker and receiving replies with
 *	  their descriptors.
 *
 * What a reply means (a kernel is ready, failed, exited) is decided by
 * the loop, which hands it to kernel.c and cell.c; this file only moves
 * messages.  Sends never block: each forker has at most
 * FORKER_MAX_OUTSTANDING spawns in flight, far below what its socket
 * buffer holds, and a request that finds every forker that busy is
 * refused (the caller answers "busy" or retries later).
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "executor.h"
#include "forker_protocol.h"

/*
 * Spawns in flight per forker.  A clone takes a few milliseconds; more
 * than this many queued on one forker means the machine is saturated,
 * and a deeper queue would only add latency.
 */
#define FORKER_MAX_OUTSTANDING	16

typedef struct Forker
{
	int			fd;
	int			outstanding;	/* spawns sent, not yet answered */
} Forker;

static Forker *forkers;
static int	nforkers;

bool
forkers_init(const int *fds, int n)
{
	forkers = calloc(n, sizeof(Forker));
	if (forkers == NULL)
		return false;
	for (int i = 0; i < n; i++)
		forkers[i].fd = fds[i];
	nforkers = n;
	return true;
}

int
forkers_count(void)
{
	return nforkers;
}

int
forkers_fd(int i)
{
	return forkers[i].fd;
}

/* Whether some forker can take a spawn request now. */
bool
forkers_can_spawn(void)
{
	for (int i = 0; i < nforkers; i++)
		if (forkers[i].fd >= 0 && forkers[i].outstanding < FORKER_MAX_OUTSTANDING)
			return true;
	return false;
}

/*
 * Send a spawn request with the workspace descriptor to the forker with
 * the fewest spawns in flight.  Returns its index, or -1 (errno EAGAIN
 * when every forker is saturated).
 */
int
forkers_spawn(const ForkerRequest *req, int workspace_fd)
{
	struct msghdr msg;
	struct iovec iov;
	char		control[CMSG_SPACE(sizeof(int))];
	struct cmsghdr *cm;
	int			best = -1;

	for (int i = 0; i < nforkers; i++)
		if (forkers[i].fd >= 0 && forkers[i].outstanding < FORKER_MAX_OUTSTANDING &&
			(best < 0 || forkers[i].outstanding < forkers[best].outstanding))
			best = i;
	if (best < 0)
	{
		errno = EAGAIN;
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	memset(control, 0, sizeof(control));
	iov.iov_base = (void *) req;
	iov.iov_len = sizeof(*req);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control;
	msg.msg_controllen = sizeof(control);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &workspace_fd, sizeof(int));
	for (;;)
	{
		if (sendmsg(forkers[best].fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) ==
			(ssize_t) sizeof(*req))
		{
			forkers[best].outstanding++;
			return best;
		}
		if (errno != EINTR)
			return -1;
	}
}

/*
 * Receive one reply from forker i without blocking.  Returns 1 with the
 * reply (and its descriptors, *nfds of them, all O_CLOEXEC), 0 when none
 * is waiting, -1 when the forker is gone.
 */
int
forkers_receive(int i, ForkerReply *reply, int *fds, int *nfds)
{
	struct msghdr msg;
	struct iovec iov;
	char		control[CMSG_SPACE(sizeof(int) * FORKER_NFDS)];
	struct cmsghdr *cm;
	ssize_t		n;

	*nfds = 0;
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = reply;
	iov.iov_len = sizeof(*reply);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control;
	msg.msg_controllen = sizeof(control);
	do
		n = recvmsg(forkers[i].fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0)
		return -1;
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm))
	{
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		{
			int			got = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (int j = 0; j < got; j++)
			{
				int			fd;

				memcpy(&fd, CMSG_DATA(cm) + j * sizeof(int), sizeof(int));
				if (*nfds < FORKER_NFDS)
					fds[(*nfds)++] = fd;
				else
					close(fd);
			}
		}
	}
	if (n != (ssize_t) sizeof(*reply))
	{
		/* a truncated record: drop it and its descriptors */
		for (int j = 0; j < *nfds; j++)
			close(fds[j]);
		*nfds = 0;
		reply->type = 0;
	}
	if (reply->type == FORKER_SPAWNED || reply->type == FORKER_FAILED)
		if (forkers[i].outstanding > 0)
			forkers[i].outstanding--;
	return 1;
}

/*
 * Wait up to timeout_ms for every forker's FORKER_READY.  False when one
 * did not come (the zygote could not start Python); *sandbox_ok false
 * with the reason in why when a forker cannot sandbox its kernels.
 */
bool
forkers_wait_ready(double timeout_ms, bool *sandbox_ok, char *why, size_t whylen)
{
	double		deadline = executor_now_ms() + timeout_ms;
	int			ready = 0;
	bool	   *seen = calloc(nforkers, sizeof(bool));

	*sandbox_ok = true;
	if (seen == NULL)
		return false;
	while (ready < nforkers)
	{
		double		left = deadline - executor_now_ms();

		if (left <= 0)
			break;
		for (int i = 0; i < nforkers; i++)
		{
			struct pollfd pfd = {.fd = forkers[i].fd,.events = POLLIN};
			ForkerReply reply;
			int			fds[FORKER_NFDS];
			int			nfds;
			int			rc;

			if (seen[i])
				continue;
			if (poll(&pfd, 1, (int) (left / nforkers) + 1) <= 0)
				continue;
			rc = forkers_receive(i, &reply, fds, &nfds);
			for (int j = 0; j < nfds; j++)
				close(fds[j]);
			if (rc < 0)
			{
				free(seen);
				return false;
			}
			if (rc == 1 && reply.type == FORKER_READY)
			{
				seen[i] = true;
				ready++;
				if (reply.status != 1)
				{
					*sandbox_ok = false;
					reply.message[sizeof(reply.message) - 1] = '\0';
					snprintf(why, whylen, "%s", reply.message);
				}
			}
		}
	}
	free(seen);
	return ready == nforkers;
}
