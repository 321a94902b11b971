/*-------------------------------------------------------------------------
 *
 * jail_int.h
 *	  Interfaces between jail.c and the one-file-per-mechanism parts of
 *	  the sandbox (userns.c, mountns.c, pidns.c, netns.c, cgroup.c,
 *	  privileges.c, seccomp_policy.c).  The executor uses jail.h only.
 *
 * Every function returns 0 on success and -1 on failure, having written a
 * message "<step>: <reason>" into err through jail_error() (util.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_JAIL_INT_H
#define PI_JAIL_INT_H

#include "jail.h"
#include "log.h"
#include "util.h"

/* userns.c */
extern int	userns_write_maps(uid_t outer_uid, gid_t outer_gid,
							  char *err, size_t errlen);

/* mountns.c */
extern int	mountns_build_root(const JailSpec *spec, char *err, size_t errlen);

/* pidns.c: jail_clone() is the public part */
extern int	pidns_probe(const JailConfig *cfg, char *err, size_t errlen);

/* netns.c */
extern int	netns_bring_up_loopback(char *err, size_t errlen);

/* privileges.c */
extern int	privileges_drop(char *err, size_t errlen);

/* seccomp_policy.c */
extern int	seccomp_policy_compile(JailConfig *cfg, char *err, size_t errlen);
extern int	seccomp_policy_load(const JailConfig *cfg, char *err, size_t errlen);

/* cgroup.c: jail_cgroup_* are the public part */
extern int	cgroup_probe(JailConfig *cfg, char *err, size_t errlen);

#endif							/* PI_JAIL_INT_H */
