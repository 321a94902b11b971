/*-------------------------------------------------------------------------
 *
 * cgroup.c
 *	  Per-run control groups: a memory limit for the whole process tree of
 *	  a run (tmpfs /tmp and /dev/shm included, which RLIMIT_AS cannot
 *	  see) and a process/thread limit, plus telling afterwards whether the
 *	  run was killed for memory.
 *
 * The server's user cannot create cgroups at the top of a hierarchy; root
 * delegates a parent once (scripts/cgroup-setup.sh creates
 * .../power_interpreter and chowns it) and every run gets a child
 * "run-<pid>" of it.  Two kernel interfaces are supported because machines
 * differ (docs/architecture.md: the reference machine's cgroup v2 has only hugetlb,
 * its v1 memory and pids hierarchies work):
 *	- v2, used when the unified hierarchy offers the memory controller in
 *	  the delegated parent: memory.max, memory.swap.max = 0, pids.max,
 *	  OOM kills read from memory.events.  v2 only lets a process move
 *	  between cgroups below a common ancestor it may write, so the
 *	  zygote moves itself into <parent>/executor at jail_prepare time (a
 *	  leaf, because v2 forbids processes in a cgroup with controllers
 *	  enabled for its children);
 *	- v1, used otherwise: memory.limit_in_bytes (+ memory.memsw.limit_in_bytes
 *	  equal to it when swap accounting exists, so swap is no way around
 *	  the limit), pids.max in the pids hierarchy, OOM kills read from
 *	  memory.oom_control.
 * Without either, the run still has RLIMIT_AS and RLIMIT_NPROC (set by
 * the executor's limits.c) and jail_prepare says so in the log.
 *
 * Freezing (jail_cgroup_freeze): a session's run is frozen between its
 * cells.  v2 has cgroup.freeze in every non-root cgroup (Linux 5.2+), so
 * the run cgroup itself is frozen; v1 needs the freezer hierarchy, a third
 * run cgroup next to memory and pids.  Either freezes a child forked by a
 * frozen or freezing task as it is made, which per-process SIGSTOP cannot
 * (a chain of processes that fork and exit outruns any listing).  A v1
 * frozen task keeps a SIGKILL pending until it is thawed, so the executor
 * keeps a v1 run frozen only while it stops every member with SIGSTOP.  A
 * run without either is stopped with signals by the executor instead.
 *
 * The child is moved by the parent after jail_clone() while it waits on
 * the sync pipe, so no user code runs outside the cgroup.  v1 keeps pages
 * charged where they were first touched: the few pages the child touches
 * while setting up its namespaces stay charged to the zygote's cgroup,
 * everything the run allocates is charged to the run.
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "jail_int.h"

/*
 * Find the mount point of a cgroup hierarchy: v1 with the given
 * controller among its options, or v2 when controller is NULL.
 */
static bool
find_cgroup_mount(const char *controller, char *out, size_t outlen)
{
	FILE	   *f = fopen("/proc/self/mounts", "re");
	char		line[4096];
	bool		found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f))
	{
		char		dev[256],
					dir[1024],
					type[64],
					opts[1024];

		if (sscanf(line, "%255s %1023s %63s %1023s", dev, dir, type, opts) != 4)
			continue;
		if (controller == NULL)
			found = strcmp(type, "cgroup2") == 0;
		else if (strcmp(type, "cgroup") == 0)
		{
			char	   *tok,
					   *save = NULL;

			for (tok = strtok_r(opts, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
				if (strcmp(tok, controller) == 0)
					found = true;
		}
		if (found)
			snprintf(out, outlen, "%s", dir);
	}
	fclose(f);
	return found;
}

/* Is dir a cgroup directory this process may create children in and move into? */
static bool
delegated(const char *dir)
{
	char		procs[PATH_MAX + 32];

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	return access(dir, W_OK | X_OK) == 0 && access(procs, W_OK) == 0;
}

static bool
word_in_file(const char *path, const char *word)
{
	char		buf[1024];
	char	   *tok,
			   *save = NULL;

	if (jail_read_file(path, buf, sizeof(buf)) < 0)
		return false;
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (strcmp(tok, word) == 0)
			return true;
	return false;
}

/*
 * v2: enable memory (and pids) for the children of the delegated parent
 * and move the zygote into the "executor" leaf.
 */
static int
cgroup_v2_prepare(JailConfig *cfg, const char *parent, char *err, size_t errlen)
{
	char		path[PATH_MAX + 64];
	char		pid[32];

	snprintf(path, sizeof(path), "%s/executor", parent);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return jail_error(err, errlen, errno, "cgroup v2: mkdir %s", path);
	snprintf(path, sizeof(path), "%s/executor/cgroup.procs", parent);
	snprintf(pid, sizeof(pid), "%d", (int) getpid());
	if (jail_write_file(path, pid, err, errlen) < 0)
		return -1;

	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", parent);
	if (jail_write_file(path, "+memory", err, errlen) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/cgroup.controllers", parent);
	if (word_in_file(path, "pids"))
	{
		snprintf(path, sizeof(path), "%s/cgroup.subtree_control", parent);
		if (jail_write_file(path, "+pids", err, errlen) < 0)
			return -1;
		snprintf(cfg->cg_pids_parent, sizeof(cfg->cg_pids_parent), "%s", parent);
	}
	snprintf(cfg->cg_memory_parent, sizeof(cfg->cg_memory_parent), "%s", parent);
	snprintf(path, sizeof(path), "%s/executor/cgroup.freeze", parent);
	cfg->cg_v2_freeze = access(path, F_OK) == 0;
	cfg->cgroup_mode = JAIL_CGROUP_V2;
	return 0;
}

int
cgroup_probe(JailConfig *cfg, char *err, size_t errlen)
{
	const char *name = cfg->cgroup_name ? cfg->cgroup_name : JAIL_CGROUP_DEFAULT_NAME;
	char		mnt[1024];
	char		path[PATH_MAX + 64];
	char		parent[PATH_MAX];

	cfg->cgroup_mode = JAIL_CGROUP_NONE;
	cfg->cg_memory_parent[0] = '\0';
	cfg->cg_pids_parent[0] = '\0';
	cfg->cg_has_memsw = false;
	cfg->cg_v2_freeze = false;
	cfg->cg_freezer_parent[0] = '\0';

	/* v2 first: it is the future, and it counts memory more completely */
	if (find_cgroup_mount(NULL, mnt, sizeof(mnt)))
	{
		snprintf(parent, sizeof(parent), "%s/%s", mnt, name);
		snprintf(path, sizeof(path), "%s/cgroup.controllers", parent);
		if (delegated(parent) && word_in_file(path, "memory"))
			return cgroup_v2_prepare(cfg, parent, err, errlen);
	}

	if (find_cgroup_mount("memory", mnt, sizeof(mnt)))
	{
		snprintf(parent, sizeof(parent), "%s/%s", mnt, name);
		if (delegated(parent))
		{
			snprintf(cfg->cg_memory_parent, sizeof(cfg->cg_memory_parent), "%s", parent);
			snprintf(path, sizeof(path), "%s/memory.memsw.limit_in_bytes", parent);
			cfg->cg_has_memsw = access(path, F_OK) == 0;
			cfg->cgroup_mode = JAIL_CGROUP_V1;
		}
		else
			jail_log("cgroup v1 memory: %s is missing or not writable by uid %d "
					 "(run scripts/cgroup-setup.sh as root)",
					 parent, (int) geteuid());
	}
	if (find_cgroup_mount("pids", mnt, sizeof(mnt)))
	{
		snprintf(parent, sizeof(parent), "%s/%s", mnt, name);
		if (delegated(parent))
		{
			snprintf(cfg->cg_pids_parent, sizeof(cfg->cg_pids_parent), "%s", parent);
			if (cfg->cgroup_mode == JAIL_CGROUP_NONE)
				cfg->cgroup_mode = JAIL_CGROUP_V1;
		}
		else
			jail_log("cgroup v1 pids: %s is missing or not writable by uid %d "
					 "(run scripts/cgroup-setup.sh as root)",
					 parent, (int) geteuid());
	}
	/* only with a run cgroup of v1: its members are what is frozen */
	if (cfg->cgroup_mode == JAIL_CGROUP_V1 && find_cgroup_mount("freezer", mnt, sizeof(mnt)))
	{
		snprintf(parent, sizeof(parent), "%s/%s", mnt, name);
		if (delegated(parent))
			snprintf(cfg->cg_freezer_parent, sizeof(cfg->cg_freezer_parent), "%s", parent);
		else
			jail_log("cgroup v1 freezer: %s is missing or not writable by uid %d "
					 "(run scripts/cgroup-setup.sh as root); sessions are stopped "
					 "with signals between cells",
					 parent, (int) geteuid());
	}
	return 0;
}

static int
write_u64(const char *dir, const char *file, uint64_t value, char *err, size_t errlen)
{
	char		path[PATH_MAX + 64];
	char		buf[32];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	snprintf(buf, sizeof(buf), "%" PRIu64, value);
	return jail_write_file(path, buf, err, errlen);
}

/* mkdir parent/run-<pid>, replacing a leftover of a crashed zygote. */
static int
make_run_dir(const char *parent, pid_t child, char *out, size_t outlen,
			 char *err, size_t errlen)
{
	snprintf(out, outlen, "%s/run-%d", parent, (int) child);
	if (mkdir(out, 0755) == 0)
		return 0;
	if (errno == EEXIST && rmdir(out) == 0 && mkdir(out, 0755) == 0)
		return 0;
	return jail_error(err, errlen, errno, "cgroup: mkdir %s", out);
}

int
jail_cgroup_attach(const JailConfig *cfg, pid_t child, const JailLimits *limits,
				   JailCgroup *out, char *err, size_t errlen)
{
	char		pid[32];
	char		path[PATH_MAX + 64];

	memset(out, 0, sizeof(*out));
	out->mode = cfg->cgroup_mode;
	snprintf(pid, sizeof(pid), "%d", (int) child);

	if (cfg->cg_memory_parent[0] != '\0')
	{
		if (make_run_dir(cfg->cg_memory_parent, child, out->memory_path,
						 sizeof(out->memory_path), err, errlen) < 0)
			goto fail;
		if (limits->memory_bytes > 0)
		{
			if (cfg->cgroup_mode == JAIL_CGROUP_V2)
			{
				if (write_u64(out->memory_path, "memory.max", limits->memory_bytes, err, errlen) < 0)
					goto fail;
				snprintf(path, sizeof(path), "%s/memory.swap.max", out->memory_path);
				if (access(path, F_OK) == 0 &&
					jail_write_file(path, "0", err, errlen) < 0)
					goto fail;
			}
			else
			{
				/* memory first: memsw may never be below it */
				if (write_u64(out->memory_path, "memory.limit_in_bytes",
							  limits->memory_bytes, err, errlen) < 0)
					goto fail;
				if (cfg->cg_has_memsw &&
					write_u64(out->memory_path, "memory.memsw.limit_in_bytes",
							  limits->memory_bytes, err, errlen) < 0)
					goto fail;
			}
		}
	}
	if (cfg->cg_pids_parent[0] != '\0')
	{
		if (cfg->cgroup_mode == JAIL_CGROUP_V2)
			snprintf(out->pids_path, sizeof(out->pids_path), "%s", out->memory_path);
		else if (make_run_dir(cfg->cg_pids_parent, child, out->pids_path,
							  sizeof(out->pids_path), err, errlen) < 0)
			goto fail;
		if (limits->pids_max > 0 &&
			write_u64(out->pids_path, "pids.max", (uint64_t) limits->pids_max,
					  err, errlen) < 0)
			goto fail;
	}

	/* a run that is never frozen gets no freezer (in v1, one cgroup less) */
	if (limits->freezable && cfg->cgroup_mode == JAIL_CGROUP_V2 && cfg->cg_v2_freeze)
		snprintf(out->freezer_path, sizeof(out->freezer_path), "%s", out->memory_path);
	else if (limits->freezable && cfg->cg_freezer_parent[0] != '\0' &&
			 make_run_dir(cfg->cg_freezer_parent, child, out->freezer_path,
						  sizeof(out->freezer_path), err, errlen) < 0)
		goto fail;

	/* move the child last, once every limit is in place */
	if (out->memory_path[0] != '\0')
	{
		snprintf(path, sizeof(path), "%s/cgroup.procs", out->memory_path);
		if (jail_write_file(path, pid, err, errlen) < 0)
			goto fail;
	}
	if (out->pids_path[0] != '\0' && strcmp(out->pids_path, out->memory_path) != 0)
	{
		snprintf(path, sizeof(path), "%s/cgroup.procs", out->pids_path);
		if (jail_write_file(path, pid, err, errlen) < 0)
			goto fail;
	}
	if (out->freezer_path[0] != '\0' && strcmp(out->freezer_path, out->memory_path) != 0)
	{
		snprintf(path, sizeof(path), "%s/cgroup.procs", out->freezer_path);
		if (jail_write_file(path, pid, err, errlen) < 0)
			goto fail;
	}
	return 0;

fail:
	jail_cgroup_release(out);
	return -1;
}

bool
jail_cgroup_oom(const JailCgroup *cg)
{
	char		path[PATH_MAX + 64];
	char		buf[1024];
	const char *p;

	if (cg->memory_path[0] == '\0')
		return false;
	snprintf(path, sizeof(path), "%s/%s", cg->memory_path,
			 cg->mode == JAIL_CGROUP_V2 ? "memory.events" : "memory.oom_control");
	if (jail_read_file(path, buf, sizeof(buf)) < 0)
		return false;
	/*
	 * "oom_kill N" exists in both files (v1 since Linux 4.13).  failcnt is
	 * not used: it also counts page cache reclaim at the limit, which is
	 * normal for a run that writes large files.
	 */
	p = strstr(buf, "oom_kill ");
	return p != NULL && strtoull(p + strlen("oom_kill "), NULL, 10) > 0;
}

/* Send sig to every process still listed in dir/cgroup.procs; count them. */
static int
signal_members(const char *dir, int sig)
{
	char		path[PATH_MAX + 64];
	FILE	   *f;
	int			pid;
	int			n = 0;

	if (dir[0] == '\0')
		return 0;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	while (fscanf(f, "%d", &pid) == 1)
	{
		if (pid > 0 && kill(pid, sig) == 0)
			n++;
	}
	fclose(f);
	return n;
}

static int
kill_members(const char *dir)
{
	return signal_members(dir, SIGKILL);
}

/*
 * Send sig to every process of a run: its cgroup lists them all, also
 * those that left the run's process group.  Twice, so that a process
 * forked while the list was read gets it too.  Returns how many got it
 * the second time (0 also when the run has no cgroup).
 */
int
jail_cgroup_signal(const JailCgroup *cg, int sig)
{
	const char *dir = cg->pids_path[0] != '\0' ? cg->pids_path : cg->memory_path;

	(void) signal_members(dir, sig);
	return signal_members(dir, sig);
}

/*
 * Freeze (or thaw) every task of a run, including tasks forked while this
 * is under way: the kernel freezes a child of a freezing cgroup as it is
 * made.  Whether all are frozen yet is jail_cgroup_frozen.  -1 with err
 * when the run has no freezer or the write failed.  A frozen task still
 * takes SIGKILL in v2; in v1 it dies only once thawed
 * (jail_cgroup_freeze_holds_kill).
 */
int
jail_cgroup_freeze(const JailCgroup *cg, bool freeze, char *err, size_t errlen)
{
	char		path[PATH_MAX + 64];

	if (cg->freezer_path[0] == '\0')
		return jail_error(err, errlen, 0, "cgroup: the run has no freezer");
	if (cg->mode == JAIL_CGROUP_V2)
	{
		snprintf(path, sizeof(path), "%s/cgroup.freeze", cg->freezer_path);
		return jail_write_file(path, freeze ? "1" : "0", err, errlen);
	}
	snprintf(path, sizeof(path), "%s/freezer.state", cg->freezer_path);
	return jail_write_file(path, freeze ? "FROZEN" : "THAWED", err, errlen);
}

/*
 * Whether a frozen run keeps a SIGKILL pending instead of dying (v1): it
 * must not stay frozen, or a kill from outside (the forker's death sends
 * one) would leave it behind.
 */
bool
jail_cgroup_freeze_holds_kill(const JailCgroup *cg)
{
	return cg->freezer_path[0] != '\0' && cg->mode != JAIL_CGROUP_V2;
}

/*
 * 1 when every task of the run is frozen ("frozen 1" in v2's
 * cgroup.events, "FROZEN" in v1's freezer.state, which says "FREEZING"
 * while a task has not reached the freezer yet), 0 when not yet, -1 when
 * the run has no freezer or its state cannot be read.
 */
int
jail_cgroup_frozen(const JailCgroup *cg)
{
	char		path[PATH_MAX + 64];
	char		buf[256];

	if (cg->freezer_path[0] == '\0')
		return -1;
	if (cg->mode == JAIL_CGROUP_V2)
	{
		const char *p;

		snprintf(path, sizeof(path), "%s/cgroup.events", cg->freezer_path);
		if (jail_read_file(path, buf, sizeof(buf)) < 0 ||
			(p = strstr(buf, "frozen ")) == NULL)
			return -1;
		return p[strlen("frozen ")] == '1' ? 1 : 0;
	}
	snprintf(path, sizeof(path), "%s/freezer.state", cg->freezer_path);
	if (jail_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	return strncmp(buf, "FROZEN", 6) == 0 ? 1 : 0;
}

/*
 * Remove one run cgroup.  Normally it is already empty: when the run's
 * PID 1 has been reaped the kernel has killed the rest of its PID
 * namespace.  Otherwise kill the leftovers and retry for up to ~1 s, since
 * dying tasks leave the cgroup asynchronously.
 */
static void
remove_run_dir(char *dir)
{
	struct timespec ts = {0, 2 * 1000 * 1000};
	int			tries;

	if (dir[0] == '\0')
		return;
	for (tries = 0; tries < 500; tries++)
	{
		if (rmdir(dir) == 0 || errno == ENOENT)
		{
			dir[0] = '\0';
			return;
		}
		if (errno != EBUSY)
			break;
		kill_members(dir);
		nanosleep(&ts, NULL);
	}
	jail_log("cgroup: could not remove %s: %s", dir, strerror(errno));
}

/* A run's paths, each directory once (v2 uses one cgroup for all). */
static void
forget_shared_paths(JailCgroup *cg)
{
	if (strcmp(cg->freezer_path, cg->memory_path) == 0 ||
		strcmp(cg->freezer_path, cg->pids_path) == 0)
		cg->freezer_path[0] = '\0';
	if (strcmp(cg->pids_path, cg->memory_path) == 0)
		cg->pids_path[0] = '\0';
}

void
jail_cgroup_release(JailCgroup *cg)
{
	char		err[256];

	/* v1: a frozen leftover would not die of the SIGKILL below */
	if (cg->freezer_path[0] != '\0')
		(void) jail_cgroup_freeze(cg, false, err, sizeof(err));
	forget_shared_paths(cg);
	remove_run_dir(cg->memory_path);
	remove_run_dir(cg->pids_path);
	remove_run_dir(cg->freezer_path);
}

/*
 * Remove run cgroups that an executor killed with SIGKILL (the launcher's
 * stop) left behind.  Parents are shared by every cluster of the machine.
 * A run cgroup is named after its kernel's pid (run-<pid>), and a cgroup
 * is made only after its kernel was cloned: one whose pid no longer exists
 * belongs to nobody and goes at once.  One whose pid exists may belong to
 * another executor, or the pid was reused: it goes only when older than a
 * minute.  rmdir of a cgroup that still has processes fails, and nothing
 * else is removed.
 */
static int
sweep_stale_under(const char *parent)
{
	DIR		   *d;
	struct dirent *e;
	time_t		now = time(NULL);
	int			removed = 0;

	if (parent[0] == '\0' || (d = opendir(parent)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
	{
		char		path[PATH_MAX + 300];
		struct stat st;

		char	   *end;
		long		pid;
		bool		owner_gone;

		if (strncmp(e->d_name, "run-", 4) != 0)
			continue;
		pid = strtol(e->d_name + 4, &end, 10);
		owner_gone = *end == '\0' && pid > 0 && kill((pid_t) pid, 0) != 0 &&
			errno == ESRCH;
		snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
			(owner_gone || now - st.st_mtime > 60) && rmdir(path) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

int
jail_cgroup_sweep_stale(const JailConfig *cfg)
{
	int			removed = sweep_stale_under(cfg->cg_memory_parent);

	if (strcmp(cfg->cg_pids_parent, cfg->cg_memory_parent) != 0)
		removed += sweep_stale_under(cfg->cg_pids_parent);
	removed += sweep_stale_under(cfg->cg_freezer_parent);
	return removed;
}

static bool
try_rmdir(char *path)
{
	if (path[0] == '\0')
		return true;
	if (rmdir(path) == 0 || errno == ENOENT)
	{
		path[0] = '\0';
		return true;
	}
	return false;
}

/*
 * One non-blocking attempt to remove a run's cgroups: right after the exit
 * a memory cgroup may still be uncharging pages, and rmdir fails then.
 * True when both are gone; jail_cgroup_release is the blocking fallback.
 */
bool
jail_cgroup_try_release(JailCgroup *cg)
{
	forget_shared_paths(cg);
	return try_rmdir(cg->memory_path) & try_rmdir(cg->pids_path) &
		try_rmdir(cg->freezer_path);
}

/*
 * Change the memory limit of a run's cgroup from old_bytes to bytes.  In
 * v1, memsw may never be below the memory limit, so the order of the two
 * writes depends on the direction.
 */
int
jail_cgroup_set_memory(const JailConfig *cfg, const JailCgroup *cg,
					   uint64_t bytes, uint64_t old_bytes,
					   char *err, size_t errlen)
{
	bool		up = bytes > old_bytes;
	const char *first,
			   *second = NULL;

	if (cg->memory_path[0] == '\0')
		return 0;
	if (cg->mode == JAIL_CGROUP_V2)
		first = "memory.max";
	else
	{
		first = up && cfg->cg_has_memsw ? "memory.memsw.limit_in_bytes" : "memory.limit_in_bytes";
		if (cfg->cg_has_memsw)
			second = up ? "memory.limit_in_bytes" : "memory.memsw.limit_in_bytes";
	}
	if (write_u64(cg->memory_path, first, bytes, err, errlen) < 0)
		return -1;
	if (second != NULL && write_u64(cg->memory_path, second, bytes, err, errlen) < 0)
		return -1;
	return 0;
}
