/*-------------------------------------------------------------------------
 *
 * jail.h
 *	  The kernel sandbox around one run of untrusted Python: user, mount,
 *	  PID, network, IPC and UTS namespaces, a minimal read-only root with
 *	  the session workspace at /workspace, a per-run memory/pids cgroup,
 *	  every capability dropped, no_new_privs and a seccomp-bpf filter.
 *
 * The sandbox is a small library so that the executor only needs a few
 * calls; each kernel mechanism lives in its own file (userns.c, mountns.c,
 * pidns.c, netns.c, cgroup.c, privileges.c, rlimits.c,
 * seccomp_policy.c, nsjail style) and jail.c composes them in one fixed
 * order.  docs/sandbox.md
 * explains the order and the seccomp policy.
 *
 * Call sequence (zygote = the long-lived process that forks every run):
 *
 *	 zygote, once, before Py_Initialize:
 *		 jail_prepare(&cfg, err, errlen)			probe + compile seccomp
 *	 zygote, per run:
 *		 jail_sync_pipe(sync)
 *		 pid = jail_clone(&cfg)						instead of fork()
 *	 child (pid == 0):
 *		 close(sync[1]); spec.sync_fd = sync[0];
 *		 jail_enter(&cfg, &spec, err, errlen)		namespaces ... seccomp;
 *													waits for the parent's
 *													byte before the last step
 *		 jail_rlimits_apply(&rl, err, errlen)		the run's rlimits
 *		 ... run the code, _exit() ...
 *	 parent (pid > 0):
 *		 close(sync[0]);
 *		 jail_cgroup_attach(&cfg, pid, &limits, &cg, err, errlen)
 *		 jail_sync_release(sync[1])					child may now continue
 *		 ... waitpid(pid) ...
 *		 jail_cgroup_oom(&cg)						MemoryLimitExceeded?
 *		 jail_cgroup_release(&cg)
 *
 * Every function that can fail returns -1 (or a negative pid) and writes a
 * one-line message naming the step and the errno into err; nothing is
 * silently skipped.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_JAIL_H
#define PI_JAIL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The one unprivileged identity inside every sandbox.  1000 is the first
 * regular-user id on Debian, so tools that treat ids below 1000 as
 * "system" treat the sandbox as an ordinary user.
 */
#define JAIL_INSIDE_UID 1000
#define JAIL_INSIDE_GID 1000

/* Name of the delegated parent cgroup that scripts/cgroup-setup.sh creates. */
#define JAIL_CGROUP_DEFAULT_NAME "power_interpreter"

typedef enum JailCgroupMode
{
	JAIL_CGROUP_NONE = 0,		/* no usable cgroup: RLIMIT_AS/NPROC only */
	JAIL_CGROUP_V1,				/* v1 memory (+ pids) hierarchies */
	JAIL_CGROUP_V2				/* unified hierarchy with memory.max */
} JailCgroupMode;

/*
 * What the zygote knows about the sandbox.  The caller may set the
 * "input" members (zero means the default) before jail_prepare; the rest
 * is filled by jail_prepare and only read afterwards.
 */
typedef struct JailConfig
{
	/* input */
	const char *cgroup_name;	/* parent cgroup name, default above */
	bool		require_cgroup; /* fail jail_prepare without memory cgroup */

	/* filled by jail_prepare */
	uid_t		outer_uid;		/* the server's user, mapped to 1000 inside */
	gid_t		outer_gid;
	JailCgroupMode cgroup_mode;
	char		cg_memory_parent[PATH_MAX]; /* "" when not available */
	char		cg_pids_parent[PATH_MAX];	/* "" when not available */
	bool		cg_has_memsw;	/* v1 memory.memsw.limit_in_bytes exists */
	bool		cg_v2_freeze;	/* v2 run cgroups have cgroup.freeze */
	char		cg_freezer_parent[PATH_MAX];	/* v1 freezer; "" when not available */
	void	   *bpf;			/* struct sock_filter[], malloc'ed once */
	unsigned short bpf_len;		/* number of BPF instructions */
} JailConfig;

/* What one run's child asks for; passed to jail_enter. */
typedef struct JailSpec
{
	const char *workspace;		/* absolute host path, bound rw at /workspace */
	int			tmp_size_mb;	/* size of the private /tmp tmpfs (>0) */
	int			shm_size_mb;	/* size of /dev/shm (0 = 16 MiB) */
	const char *hostname;		/* NULL = "sandbox" */
	const char *const *env;		/* NULL = keep; else replaces environ (at
								 * most 256; the strings must outlive it) */
	int			sync_fd;		/* read end of jail_sync_pipe, or -1 */
} JailSpec;

/* Per-run limits enforced by the cgroup. */
typedef struct JailLimits
{
	uint64_t	memory_bytes;	/* whole process tree, tmpfs included; 0 = none */
	int			pids_max;		/* processes + threads; 0 = none */
	bool		freezable;		/* the run may be frozen (v1: its own freezer
								 * cgroup, one more mkdir and rmdir) */
} JailLimits;

/* The per-run cgroup the parent created; paths "" when not used. */
typedef struct JailCgroup
{
	JailCgroupMode mode;
	char		memory_path[PATH_MAX];
	char		pids_path[PATH_MAX];
	char		freezer_path[PATH_MAX]; /* "" when the run cannot be frozen */
} JailCgroup;

/*
 * Per-process resource limits of a run (rlimits.c), set in the child
 * after jail_enter and before any user code.  0 leaves a limit unset.
 */
typedef struct JailRlimits
{
	int			memory_mb;		/* RLIMIT_AS, soft = hard */
	int			max_file_size_mb;	/* RLIMIT_FSIZE, per file written */
	int			cpu_seconds;	/* RLIMIT_CPU soft; hard is one second more */
	int			nproc;			/* RLIMIT_NPROC: only inside a user namespace */
} JailRlimits;

/* The fixed environment of a run, for JailSpec.env. */
extern const char *const jail_default_env[];

/* zygote, once */
extern int	jail_prepare(JailConfig *cfg, char *err, size_t errlen);

/* zygote, per run */
extern pid_t jail_clone(const JailConfig *cfg);
extern int	jail_sync_pipe(int fds[2]);
extern int	jail_sync_release(int fd);
extern int	jail_cgroup_attach(const JailConfig *cfg, pid_t child,
							   const JailLimits *limits, JailCgroup *out,
							   char *err, size_t errlen);
extern bool jail_cgroup_oom(const JailCgroup *cg);
extern int	jail_cgroup_signal(const JailCgroup *cg, int sig);
extern int	jail_cgroup_freeze(const JailCgroup *cg, bool freeze,
							   char *err, size_t errlen);
extern int	jail_cgroup_frozen(const JailCgroup *cg);
extern bool jail_cgroup_freeze_holds_kill(const JailCgroup *cg);
extern void jail_cgroup_release(JailCgroup *cg);
extern bool jail_cgroup_try_release(JailCgroup *cg);
extern int	jail_cgroup_set_memory(const JailConfig *cfg, const JailCgroup *cg,
								   uint64_t bytes, uint64_t old_bytes,
								   char *err, size_t errlen);
extern int	jail_cgroup_sweep_stale(const JailConfig *cfg);

/* child, per run */
extern int	jail_enter(const JailConfig *cfg, const JailSpec *spec,
					   char *err, size_t errlen);
extern int	jail_rlimits_apply(const JailRlimits *rl, char *err, size_t errlen);

#endif							/* PI_JAIL_H */
