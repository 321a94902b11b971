/*-------------------------------------------------------------------------
 *
 * netns.c
 *	  Network namespace: the run gets a fresh namespace (created by
 *	  jail_clone() with CLONE_NEWNET) in which only the loopback device
 *	  exists, and we bring it up.
 *
 * Nothing else exists, so there is no route out of the sandbox: TCP to
 * 127.0.0.1:5432 reaches this namespace's own empty loopback, not the
 * server.  Loopback is brought up because some libraries (multiprocessing
 * managers, local test servers) talk to themselves over 127.0.0.1 and
 * fail confusingly when lo is down.
 *
 * An ioctl on a datagram socket is enough for that; netlink would need
 * far more code for one flag.  It must run before privileges_drop(),
 * since it needs CAP_NET_ADMIN in the namespace's owning user namespace.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "jail_int.h"

int
netns_bring_up_loopback(char *err, size_t errlen)
{
	struct ifreq ifr;
	int			fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return jail_error(err, errlen, errno,
						  "network namespace: socket for loopback ioctl");

	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
	{
		int			save = errno;

		close(fd);
		return jail_error(err, errlen, save,
						  "network namespace: read flags of \"lo\"");
	}
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
	{
		int			save = errno;

		close(fd);
		return jail_error(err, errlen, save,
						  "network namespace: bring \"lo\" up");
	}
	close(fd);
	return 0;
}
