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
#include "fdpass.h"
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
	bool		gone;			/* a send found it dead (see forkers_spawn) */
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

static bool
forker_can_take(const Forker *f)
{
	return f->fd >= 0 && !f->gone && f->outstanding < FORKER_MAX_OUTSTANDING;
}

/* Whether some forker can take a spawn request now. */
bool
forkers_can_spawn(void)
{
	for (int i = 0; i < nforkers; i++)
		if (forker_can_take(&forkers[i]))
			return true;
	return false;
}

/*
 * Send a spawn request with the workspace descriptor to the forker with
 * the fewest spawns in flight.  Returns its index, or -1 (errno EAGAIN
 * when no forker can take it now).
 *
 * A forker that died (killed, say) is found here first when the loop
 * sends to it before reading its hang-up: the send fails with EPIPE.  The
 * executor is about to restart then (the zygote exits when a forker
 * does, and the loop with it), so the request goes to another forker, or
 * waits with EAGAIN like one that finds every forker busy: its run is
 * then answered as every other run of a stopping executor ("run the code
 * again"), never with an error of its own.
 */
int
forkers_spawn(const ForkerRequest *req, int workspace_fd)
{
	for (;;)
	{
		int			best = -1;

		for (int i = 0; i < nforkers; i++)
			if (forker_can_take(&forkers[i]) &&
				(best < 0 || forkers[i].outstanding < forkers[best].outstanding))
				best = i;
		if (best < 0)
		{
			errno = EAGAIN;
			return -1;
		}
		if (fdpass_send(forkers[best].fd, req, sizeof(*req), &workspace_fd, 1,
						MSG_DONTWAIT))
		{
			forkers[best].outstanding++;
			return best;
		}
		if (errno != EPIPE && errno != ECONNRESET && errno != ENOTCONN)
			return -1;
		pi_log("forker %d is gone (a spawn request found it so); "
			   "the executor restarts", best);
		forkers[best].gone = true;
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
	ssize_t		n = fdpass_recv(forkers[i].fd, reply, sizeof(*reply), fds,
								FORKER_NFDS, nfds, MSG_DONTWAIT);

	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n == 0 || n == -1)
		return -1;
	if (n < 0)
		reply->type = 0;		/* a record of another size: ignored */
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
