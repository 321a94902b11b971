/*-------------------------------------------------------------------------
 *
 * userns.c
 *	  User namespace: map the one inside identity (JAIL_INSIDE_UID/GID) to
 *	  the server's user outside.
 *
 * The child is created by jail_clone() with CLONE_NEWUSER, so it holds
 * every capability inside its new namespace but no id is mapped yet.  A
 * process may write its own uid_map/gid_map when the map is the single
 * line "inside outer 1" with outer = its own effective id in the parent
 * namespace; that is exactly what we want, so the child does it itself
 * and the parent needs no extra round trip.
 *
 * setgroups must be denied before gid_map can be written without
 * CAP_SETGID in the parent namespace (user_namespaces(7)).  The side
 * effect: the supplementary groups of the server's user stay attached
 * and cannot be dropped.  Nothing of the host that a group could open is
 * mounted in the sandbox (mountns.c), so this is harmless.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>

#include "jail_int.h"

int
userns_write_maps(uid_t outer_uid, gid_t outer_gid, char *err, size_t errlen)
{
	char		line[64];

	/* Must come before gid_map, see the header comment. */
	if (jail_write_file("/proc/self/setgroups", "deny", err, errlen) < 0)
		return -1;

	snprintf(line, sizeof(line), "%u %u 1\n",
			 (unsigned) JAIL_INSIDE_UID, (unsigned) outer_uid);
	if (jail_write_file("/proc/self/uid_map", line, err, errlen) < 0)
		return -1;

	snprintf(line, sizeof(line), "%u %u 1\n",
			 (unsigned) JAIL_INSIDE_GID, (unsigned) outer_gid);
	if (jail_write_file("/proc/self/gid_map", line, err, errlen) < 0)
		return -1;

	return 0;
}
