/*-------------------------------------------------------------------------
 *
 * jail.c
 *	  Composition of the sandbox: jail_prepare() (zygote, once) and
 *	  jail_enter() (child, every run) call the per-mechanism files in one
 *	  fixed order, documented here and in docs/sandbox.md.
 *
 * Order inside the child, and why it is this order:
 *	 1. parent-death signal: a child whose zygote died must not run on;
 *	 2. user namespace maps (userns.c): everything after needs the
 *		capabilities the new user namespace gives, and files created by
 *		the mount step must belong to a mapped id;
 *	 3. mount namespace, new root, pivot_root (mountns.c): needs
 *		CAP_SYS_ADMIN in the namespace; also mounts the new /proc, which
 *		only works in the new PID namespace created by jail_clone();
 *	 4. UTS hostname: needs CAP_SYS_ADMIN;
 *	 5. loopback up (netns.c): needs CAP_NET_ADMIN;
 *	 6. environment: fixed set, no host variables;
 *	 7. drop privileges (privileges.c): setresuid/gid, every capability,
 *		no_new_privs (required by step 9), dumpable (privileges.c: the
 *		executor reads the run's open files for the workspace quota);
 *	 8. wait for the parent's byte on the sync pipe: the parent has put the
 *		child into its cgroup, so no user code runs unlimited; also
 *		catches a zygote that died (EOF);
 *	 9. seccomp filter (seccomp_policy.c), last: earlier steps use
 *		mount, pivot_root and sethostname, which the filter refuses.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "jail_int.h"

const char *const jail_default_env[] = {
	"PATH=/usr/local/bin:/usr/bin:/bin",
	"HOME=/workspace",
	"USER=sandbox",
	"LOGNAME=sandbox",
	"TMPDIR=/tmp",
	"MPLCONFIGDIR=/tmp/.mpl",
	"MPLBACKEND=Agg",
	"LANG=C.UTF-8",
	"LC_ALL=C.UTF-8",
	"TZ=UTC",
	"PYTHONDONTWRITEBYTECODE=1",
	"PYTHONUNBUFFERED=1",
	NULL
};

int
jail_sync_pipe(int fds[2])
{
	return pipe2(fds, O_CLOEXEC);
}

/* Parent: the child is in its cgroup, let it run. */
int
jail_sync_release(int fd)
{
	char		go = 'G';
	ssize_t		n;

	do
		n = write(fd, &go, 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	return n == 1 ? 0 : -1;
}

static int
wait_for_parent(int fd, char *err, size_t errlen)
{
	char		c = 0;
	ssize_t		n;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return jail_error(err, errlen, errno, "sync pipe: read");
	if (n == 0 || c != 'G')
		return jail_error(err, errlen, 0,
						  "sync pipe: the executor did not confirm the cgroup attach");
	return 0;
}

/*
 * The process's environment becomes exactly env.  environ is pointed at a
 * copy of the array in static memory rather than rebuilt with clearenv
 * and putenv: those free and malloc, and a process just cloned from a
 * large one wrote to free chunks all over the inherited heap (a kernel:
 * ~70 copy-on-write faults, measured).  The copy is writable because
 * unsetenv moves entries in place; the strings must outlive the process,
 * as putenv's would have to (glibc copies the array before it grows it).
 */
#define JAIL_MAX_ENV	256

static char *jail_environ[JAIL_MAX_ENV + 1];

static int
apply_environment(const char *const *env, char *err, size_t errlen)
{
	int			n;

	if (env == NULL)
		return 0;
	for (n = 0; env[n] != NULL; n++)
	{
		if (n == JAIL_MAX_ENV)
			return jail_error(err, errlen, 0,
							  "environment: more than %d variables", JAIL_MAX_ENV);
		jail_environ[n] = (char *) env[n];
	}
	jail_environ[n] = NULL;
	environ = jail_environ;
	return 0;
}

int
jail_enter(const JailConfig *cfg, const JailSpec *spec, char *err, size_t errlen)
{
	const char *hostname = spec->hostname ? spec->hostname : "sandbox";

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return jail_error(err, errlen, errno, "set parent-death signal");
	if (userns_write_maps(cfg->outer_uid, cfg->outer_gid, err, errlen) < 0)
		return -1;
	if (mountns_build_root(spec, err, errlen) < 0)
		return -1;
	if (sethostname(hostname, strlen(hostname)) < 0)
		return jail_error(err, errlen, errno, "UTS namespace: sethostname \"%s\"", hostname);
	if (netns_bring_up_loopback(err, errlen) < 0)
		return -1;
	if (apply_environment(spec->env, err, errlen) < 0)
		return -1;
	if (privileges_drop(err, errlen) < 0)
		return -1;
	if (spec->sync_fd >= 0 && wait_for_parent(spec->sync_fd, err, errlen) < 0)
		return -1;
	return seccomp_policy_load(cfg, err, errlen);
}

/*
 * Run jail_enter once in a throw-away child with an empty workspace, so
 * that a kernel or host that refuses some step (AppArmor on user
 * namespaces, a locked mount flag, a missing /usr) is reported at start-up
 * with the precise step, not on the first user's run.
 */
static int
trial_run(const JailConfig *cfg, char *err, size_t errlen)
{
	char		workspace[] = "/tmp/pi-jail-trial-XXXXXX";
	int			report[2];
	JailSpec	spec;
	pid_t		pid;
	int			status;
	ssize_t		n;

	if (mkdtemp(workspace) == NULL)
		return jail_error(err, errlen, errno, "trial run: mkdtemp");
	if (pipe2(report, O_CLOEXEC) < 0)
	{
		rmdir(workspace);
		return jail_error(err, errlen, errno, "trial run: pipe");
	}
	memset(&spec, 0, sizeof(spec));
	spec.workspace = workspace;
	spec.tmp_size_mb = 1;
	spec.sync_fd = -1;

	pid = jail_clone(cfg);
	if (pid < 0)
	{
		int			save = errno;

		close(report[0]);
		close(report[1]);
		rmdir(workspace);
		return jail_error(err, errlen, save, "trial run: clone");
	}
	if (pid == 0)
	{
		char		cerr[512];

		close(report[0]);
		if (jail_enter(cfg, &spec, cerr, sizeof(cerr)) < 0)
		{
			if (write(report[1], cerr, strlen(cerr)) < 0)
				_exit(2);
			_exit(1);
		}
		_exit(0);
	}
	close(report[1]);
	n = read(report[0], err, errlen - 1);
	close(report[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	rmdir(workspace);
	if (n > 0)
	{
		err[n] = '\0';
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return jail_error(err, errlen, 0,
						  "trial run: child ended abnormally (wait status 0x%x)", status);
	return 0;
}

int
jail_prepare(JailConfig *cfg, char *err, size_t errlen)
{
	char		cerr[512];

	cfg->outer_uid = geteuid();
	cfg->outer_gid = getegid();
	cfg->bpf = NULL;
	cfg->bpf_len = 0;

	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0)
		return jail_error(err, errlen, errno,
						  "seccomp is not available in this kernel (PR_GET_SECCOMP)");
	if (seccomp_policy_compile(cfg, err, errlen) < 0)
		return -1;
	if (pidns_probe(cfg, err, errlen) < 0)
		return -1;
	if (trial_run(cfg, cerr, sizeof(cerr)) < 0)
		return jail_error(err, errlen, 0, "trial sandbox failed: %s", cerr);
	if (cgroup_probe(cfg, err, errlen) < 0)
		return -1;

	if (cfg->outer_uid == 0)
		jail_log("WARNING: running as root: the sandbox's uid %d is host uid 0 "
				 "(contained by the namespaces, but run the server as its own user)",
				 JAIL_INSIDE_UID);
	jail_log("in force: user, mount (pivot_root, read-only root), PID, network "
			 "(loopback only), IPC and UTS namespaces; no capabilities; "
			 "no_new_privs; seccomp filter of %u instructions",
			 (unsigned) cfg->bpf_len);
	switch (cfg->cgroup_mode)
	{
		case JAIL_CGROUP_V2:
			jail_log("memory limit: cgroup v2 memory.max under %s%s",
					 cfg->cg_memory_parent,
					 cfg->cg_pids_parent[0] ? "; process limit: cgroup v2 pids.max" : "");
			break;
		case JAIL_CGROUP_V1:
			if (cfg->cg_memory_parent[0])
				jail_log("memory limit: cgroup v1 memory.limit_in_bytes%s under %s",
						 cfg->cg_has_memsw ? " + memory.memsw.limit_in_bytes" : "",
						 cfg->cg_memory_parent);
			else
				jail_log("memory limit: RLIMIT_AS only (per process, tmpfs not counted)");
			if (cfg->cg_pids_parent[0])
				jail_log("process limit: cgroup v1 pids.max under %s",
						 cfg->cg_pids_parent);
			else
				jail_log("process limit: RLIMIT_NPROC only");
			break;
		case JAIL_CGROUP_NONE:
			jail_log("memory limit: RLIMIT_AS only (per process, tmpfs not counted); "
					 "process limit: RLIMIT_NPROC only");
			break;
	}
	if (cfg->cg_v2_freeze)
		jail_log("between cells: a session's run is frozen with cgroup v2 cgroup.freeze");
	else if (cfg->cg_freezer_parent[0])
		jail_log("between cells: a session's run is frozen with the cgroup v1 freezer under %s",
				 cfg->cg_freezer_parent);
	else
		jail_log("between cells: a session's run is stopped with SIGSTOP "
				 "(no cgroup freezer; run scripts/cgroup-setup.sh as root)");
	if (cfg->require_cgroup && cfg->cg_memory_parent[0] == '\0')
		return jail_error(err, errlen, 0,
						  "no delegated memory cgroup (run scripts/cgroup-setup.sh as root)");
	return 0;
}
