/*-------------------------------------------------------------------------
 *
 * held.c
 *	  What a kernel holds on the workspace's disk after the names are gone:
 *	  files unlinked but still open in any process or thread of the run,
 *	  and files unlinked and only mapped.  An incremental scan of the
 *	  run's /proc entries from the event loop; quota.c adds its result to
 *	  the walk of the names.
 *
 * Why: a file that is unlinked while a descriptor or a mapping still
 * refers to it keeps its blocks, but no walk of names finds it.  Without
 * this scan 200 MB stayed held under a 5 MB quota.
 *
 * Which processes: every member of the run's cgroup (cgroup.procs lists
 * those that left the process group too), or, without a cgroup, the tree
 * below the kernel read from /proc/<pid>/task/<tid>/children (the kernel is
 * PID 1 of its PID namespace, so orphans are re-parented to it).  Every
 * thread's descriptor table is read: a thread cloned without CLONE_FILES
 * has its own; kcmp(KCMP_FILES) skips threads that share the leader's.
 *
 * Which files: regular files with no name left (st_nlink 0) on the
 * workspace's device, counted once per inode by their allocated blocks
 * (real disk use: a sparse file counts what it holds, an fallocate()d one
 * all it reserved; nobody can copy an unnamed file out, so its apparent
 * size does not matter).  Files in the run's /tmp and /dev/shm are tmpfs,
 * another device, and count against the memory cgroup instead.
 *
 * Mappings: /proc/<pid>/maps names a mapped file's device and inode, but
 * its size can only be read through /proc/<pid>/map_files, which needs
 * CAP_CHECKPOINT_RESTORE.  A deleted workspace file that is mapped and
 * held by no descriptor therefore cannot be measured: the scan reports it
 * (unmeasurable) and the run is refused rather than let through.  Deleted
 * files the zygote itself maps (a library replaced by an upgrade while the
 * executor runs) are inherited by every kernel and are not the run's.
 *
 * Access: reading another process's fd and maps needs ptrace read access.
 * Kernels are forked, not exec'd, so their mm belongs to the initial user
 * namespace, and a non-dumpable kernel would need CAP_SYS_PTRACE there;
 * the jail keeps kernels dumpable for this (jail/privileges.c says why
 * that is safe).  A task that is exiting, or a zombie, has no memory left
 * and /proc shows its entries as root's: it is skipped (it holds nothing
 * a moment later).  Any other refusal fails closed: the scan reports that
 * it could not look, and the run is stopped.
 *
 * Cost: a step looks at EXECUTOR_QUOTA_STEP_ENTRIES descriptors or maps
 * lines at most, like the walk of names.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "executor.h"

#ifndef KCMP_FILES
#define KCMP_FILES 2
#endif

static pid_t zygote_pid;

/* The zygote, whose own deleted mappings every kernel inherits. */
void
held_set_zygote(pid_t pid)
{
	zygote_pid = pid;
}

/* ------------------------------------------------------------ inode sets */

static size_t
ino_hash(dev_t dev, ino_t ino)
{
	unsigned long long h = (unsigned long long) ino * 0x9E3779B97F4A7C15ULL;

	h ^= (unsigned long long) dev + (h >> 29);
	return (size_t) h;
}

/*
 * Add (dev, ino) to s.  1 if it was new, 0 if already there, -1 out of
 * memory (the caller fails closed).
 */
int
ino_set_add(InoSet *s, dev_t dev, ino_t ino)
{
	size_t		i;

	if ((s->n + 1) * 2 > s->cap)
	{
		size_t		cap = s->cap ? s->cap * 2 : 64;
		InoKey	   *slots = calloc(cap, sizeof(InoKey));

		if (slots == NULL)
			return -1;
		for (i = 0; i < s->cap; i++)
		{
			if (s->slots[i].used)
			{
				size_t		j = ino_hash(s->slots[i].dev, s->slots[i].ino) & (cap - 1);

				while (slots[j].used)
					j = (j + 1) & (cap - 1);
				slots[j] = s->slots[i];
			}
		}
		free(s->slots);
		s->slots = slots;
		s->cap = cap;
	}
	for (i = ino_hash(dev, ino) & (s->cap - 1); s->slots[i].used; i = (i + 1) & (s->cap - 1))
	{
		if (s->slots[i].dev == dev && s->slots[i].ino == ino)
			return 0;
	}
	s->slots[i].used = true;
	s->slots[i].dev = dev;
	s->slots[i].ino = ino;
	s->n++;
	return 1;
}

bool
ino_set_has(const InoSet *s, dev_t dev, ino_t ino)
{
	size_t		i;

	if (s->cap == 0)
		return false;
	for (i = ino_hash(dev, ino) & (s->cap - 1); s->slots[i].used; i = (i + 1) & (s->cap - 1))
	{
		if (s->slots[i].dev == dev && s->slots[i].ino == ino)
			return true;
	}
	return false;
}

void
ino_set_free(InoSet *s)
{
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------- the scan */

static void
scan_fail(HeldScan *h, int err, const char *fmt, pid_t pid)
{
	if (h->failed)
		return;
	h->failed = true;
	snprintf(h->why, sizeof(h->why), fmt, (int) pid);
	if (err != 0)
	{
		size_t		len = strlen(h->why);

		snprintf(h->why + len, sizeof(h->why) - len, " (%s)", strerror(err));
	}
}

static bool
list_push(pid_t **list, int *n, int *cap, pid_t pid)
{
	int			i;

	for (i = 0; i < *n; i++)
		if ((*list)[i] == pid)
			return true;
	if (*n == *cap)
	{
		int			ncap = *cap ? *cap * 2 : 16;
		pid_t	   *grown = realloc(*list, sizeof(pid_t) * ncap);

		if (grown == NULL)
			return false;
		*list = grown;
		*cap = ncap;
	}
	(*list)[(*n)++] = pid;
	return true;
}

/* Every pid read from path (cgroup.procs or a children file) into h. */
static bool
read_pids(HeldScan *h, const char *path, int *cap)
{
	FILE	   *f = fopen(path, "re");
	int			pid;

	if (f == NULL)
		return false;
	while (fscanf(f, "%d", &pid) == 1)
	{
		if (pid > 0 && !list_push(&h->pids, &h->npids, cap, pid))
		{
			scan_fail(h, ENOMEM, "out of memory listing the processes of run %d", h->kernel);
			break;
		}
	}
	fclose(f);
	return true;
}

/* The tids of pid into h->tids; false if the process is gone. */
static bool
read_tasks(HeldScan *h, pid_t pid)
{
	char		path[64];
	DIR		   *d;
	struct dirent *e;
	int			cap = h->tids_cap;

	h->ntids = 0;
	h->itid = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
	if ((d = opendir(path)) == NULL)
		return false;
	while ((e = readdir(d)) != NULL)
	{
		int			tid = atoi(e->d_name);

		if (tid > 0 && !list_push(&h->tids, &h->ntids, &cap, tid))
		{
			scan_fail(h, ENOMEM, "out of memory listing the threads of process %d", pid);
			break;
		}
	}
	h->tids_cap = cap;
	closedir(d);
	return true;
}

/*
 * Start a scan of the processes of the run whose kernel is pid, in cgroup
 * directory cgdir ("" without one), for files on device dev.
 */
void
held_start(HeldScan *h, pid_t pid, const char *cgdir, dev_t dev, bool stop_all)
{
	char		path[PATH_MAX + 32];
	int			cap = 0;
	int			i;

	held_free(h);
	h->active = true;
	h->stop_all = stop_all;
	h->kernel = pid;
	h->dev = dev;
	if (pid <= 0)
	{
		h->active = false;
		return;
	}
	if (!list_push(&h->pids, &h->npids, &cap, pid))
	{
		scan_fail(h, ENOMEM, "out of memory listing the processes of run %d", pid);
		h->active = false;
		return;
	}
	snprintf(path, sizeof(path), "%s/cgroup.procs", cgdir);
	if (cgdir[0] != '\0' && read_pids(h, path, &cap))
		return;

	/* no cgroup: the tree below the kernel, breadth first */
	for (i = 0; i < h->npids && !h->failed; i++)
	{
		int			t;

		if (!read_tasks(h, h->pids[i]))
			continue;
		for (t = 0; t < h->ntids; t++)
		{
			snprintf(path, sizeof(path), "/proc/%d/task/%d/children",
					 (int) h->pids[i], (int) h->tids[t]);
			if (!read_pids(h, path, &cap))
			{
				int			err = errno;

				/* a thread that just ended has no file; a kernel built
				 * without CONFIG_PROC_CHILDREN has none for anybody */
				snprintf(path, sizeof(path), "/proc/%d/task/%d",
						 (int) h->pids[i], (int) h->tids[t]);
				if ((err != ENOENT && err != ESRCH) || access(path, F_OK) == 0)
					scan_fail(h, err, "cannot list the child processes of process %d "
							  "of the run (it has no cgroup, and /proc has no children file)",
							  h->pids[i]);
			}
		}
	}
	h->ntids = 0;
	if (h->failed)
		h->active = false;
}

/*
 * Whether a task /proc refused to show has no memory any more: it is
 * exiting (or a zombie), and /proc then shows its entries as root's.  It
 * drops its descriptors at once, so there is nothing to count.
 * /proc/<pid>/task/<tid>/statm is readable by anybody and says "0 ..."
 * for a task without memory.
 */
static bool
task_exiting(pid_t pid, pid_t tid)
{
	char		path[64];
	FILE	   *f;
	unsigned long size = 1;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/statm", (int) pid, (int) tid);
	if ((f = fopen(path, "re")) == NULL)
		return true;			/* gone */
	if (fscanf(f, "%lu", &size) != 1)
		size = 1;
	fclose(f);
	return size == 0;
}

/*
 * The scan that ends a cell also makes sure that the run has stopped,
 * when kernel_freeze had to use SIGSTOP: a process that was forking when
 * the signal came has a child nobody signalled yet.  Any task of pid that
 * is not stopped (or a zombie, or dead) gets SIGSTOP, and the scan says
 * the run is not settled: the caller scans again until it is.  A run
 * that stays frozen with its cgroup (v2) is not checked here (stop_all is
 * false): its tasks show as sleeping ('S' or 'D'), never 'T', and the
 * cgroup itself said that all of them are frozen before the scan began
 * (cell.c).  A v1 run was frozen only to stop every task (kernel_io.c):
 * its tasks are 'T' like any stopped run's.
 */
static void
stop_tasks(HeldScan *h, pid_t pid)
{
	for (int t = 0; t < h->ntids; t++)
	{
		if (executor_task_stopped(pid, h->tids[t]))
			continue;
		kill(pid, SIGSTOP);
		h->unsettled = true;
		return;
	}
}

/*
 * Whether tid's descriptor table is its thread group leader's (then it was
 * read already).  Without kcmp, every table is read.
 */
static bool
same_files(pid_t leader, pid_t tid)
{
	if (tid == leader)
		return false;
	return syscall(SYS_kcmp, leader, tid, KCMP_FILES, 0, 0) == 0;
}

/* Look at one open descriptor (dirfd's entry name) of a run's thread. */
static void
look_at_fd(HeldScan *h, int dirfd, const char *name, pid_t pid, pid_t tid)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, 0) != 0)
	{
		int			err = errno;

		if (err != ENOENT && err != ESRCH && !task_exiting(pid, tid))
			scan_fail(h, err, "cannot look at the open files of thread %d of the run", tid);
		return;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 0 || st.st_dev != h->dev)
		return;
	switch (ino_set_add(&h->held, st.st_dev, st.st_ino))
	{
		case 1:
			h->bytes += (unsigned long long) st.st_blocks * 512ULL;
			h->files++;
			break;
		case 0:
			break;
		default:
			scan_fail(h, ENOMEM, "out of memory counting the open files of thread %d", tid);
	}
}

/*
 * One line of /proc/<pid>/maps: a deleted file on the workspace's device
 * (or, on a stacked file system whose maps show the lower device, under
 * /workspace) is remembered, to be matched against descriptors at the end.
 */
static void
look_at_mapping(HeldScan *h, const char *line, pid_t pid)
{
	unsigned int maj,
				min;
	unsigned long long ino;
	int			pathpos = 0;
	const char *path;
	size_t		len;
	dev_t		dev;

	/*
	 * Almost every line is a library the zygote loaded: the suffix alone
	 * rules it out, before any parsing (a kernel maps ~600 of them, and
	 * this runs at the end of every cell).
	 */
	len = strcspn(line, "\n");
	if (len < 10 || memcmp(line + len - 10, " (deleted)", 10) != 0)
		return;
	if (sscanf(line, "%*s %*s %*s %x:%x %llu %n", &maj, &min, &ino, &pathpos) < 3 ||
		ino == 0 || pathpos == 0)
		return;
	path = line + pathpos;
	dev = makedev(maj, min);
	if (dev != h->dev && strncmp(path, "/workspace/", 11) != 0)
		return;
	if (ino_set_add(&h->mapped, dev, (ino_t) ino) < 0)
		scan_fail(h, ENOMEM, "out of memory counting the mappings of process %d", pid);
	else if (h->mapped_by == 0)
		h->mapped_by = pid;
}

/* Deleted files of h->mapped the zygote maps too: not the run's. */
static void
forget_zygote_mappings(HeldScan *h)
{
	char		path[64];
	char		line[PATH_MAX + 256];
	FILE	   *f;
	InoSet		zyg = {0};

	if (zygote_pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int) zygote_pid);
	if ((f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		unsigned int maj,
					min;
		unsigned long long ino;

		if (strstr(line, " (deleted)") != NULL &&
			sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &ino) == 3 && ino != 0)
			(void) ino_set_add(&zyg, makedev(maj, min), (ino_t) ino);
	}
	fclose(f);
	for (size_t i = 0; i < h->mapped.cap; i++)
	{
		InoKey	   *k = &h->mapped.slots[i];

		if (k->used && ino_set_has(&zyg, k->dev, k->ino))
			k->zygote = true;
	}
	ino_set_free(&zyg);
}

/* The scan is over: mapped deleted files that no descriptor holds. */
static void
held_finish(HeldScan *h)
{
	bool		candidates = false;

	h->active = false;
	for (size_t i = 0; i < h->mapped.cap; i++)
	{
		InoKey	   *k = &h->mapped.slots[i];

		if (k->used && !ino_set_has(&h->held, k->dev, k->ino))
			candidates = true;
	}
	if (!candidates)
		return;
	forget_zygote_mappings(h);
	for (size_t i = 0; i < h->mapped.cap; i++)
	{
		InoKey	   *k = &h->mapped.slots[i];

		if (k->used && !k->zygote && !ino_set_has(&h->held, k->dev, k->ino))
			h->unmeasurable++;
	}
}

/*
 * Look at up to budget descriptors or maps lines.  True when the scan is
 * complete: then bytes and files hold what the run keeps without a name,
 * unmeasurable how many deleted files it keeps only mapped, and failed
 * (with why) that the run's processes could not be read.
 */
bool
held_step(HeldScan *h, long budget)
{
	char		path[96];
	char		line[PATH_MAX + 256];

	while (h->active && !h->failed && budget > 0)
	{
		pid_t		pid;

		if (h->ipid >= h->npids)
		{
			held_finish(h);
			return true;
		}
		pid = h->pids[h->ipid];
		if (h->maps != NULL)
		{
			if (fgets(line, sizeof(line), h->maps) != NULL)
			{
				look_at_mapping(h, line, pid);
				budget--;
				continue;
			}
			fclose(h->maps);
			h->maps = NULL;
			h->ipid++;
			h->ntids = 0;
			h->tasks_read = false;
			continue;
		}
		if (!h->tasks_read)
		{
			h->tasks_read = true;
			if (!read_tasks(h, pid))
			{
				h->ipid++;		/* gone meanwhile */
				h->tasks_read = false;
			}
			else if (h->stop_all)
				stop_tasks(h, pid);
			continue;
		}
		if (h->fds != NULL)
		{
			struct dirent *e = readdir(h->fds);

			if (e == NULL)
			{
				closedir(h->fds);
				h->fds = NULL;
				h->itid++;
				continue;
			}
			if (e->d_name[0] != '.')
			{
				look_at_fd(h, dirfd(h->fds), e->d_name, pid, h->tids[h->itid]);
				budget--;
			}
			continue;
		}
		if (h->itid < h->ntids)
		{
			pid_t		tid = h->tids[h->itid];

			if (same_files(pid, tid))
			{
				h->itid++;
				continue;
			}
			snprintf(path, sizeof(path), "/proc/%d/task/%d/fd", (int) pid, (int) tid);
			h->fds = opendir(path);
			if (h->fds == NULL)
			{
				int			err = errno;

				if (err != ENOENT && err != ESRCH && !task_exiting(pid, tid))
					scan_fail(h, err, "cannot read the open files of thread %d of the run", tid);
				h->itid++;
			}
			budget--;
			continue;
		}
		/* every thread's table is read: now the process's mappings */
		snprintf(path, sizeof(path), "/proc/%d/maps", (int) pid);
		h->maps = fopen(path, "re");
		/* the text is made by the kernel per read: fewer, larger reads */
		if (h->maps != NULL)
			setvbuf(h->maps, NULL, _IOFBF, 1 << 16);
		if (h->maps == NULL)
		{
			int			err = errno;

			if (err != ENOENT && err != ESRCH && !task_exiting(pid, pid))
				scan_fail(h, err, "cannot read the memory mappings of process %d of the run", pid);
			h->ipid++;
			h->tasks_read = false;
		}
		budget--;
	}
	if (h->failed)
		h->active = false;
	return !h->active;
}

void
held_free(HeldScan *h)
{
	if (h->fds != NULL)
		closedir(h->fds);
	if (h->maps != NULL)
		fclose(h->maps);
	free(h->pids);
	free(h->tids);
	ino_set_free(&h->held);
	ino_set_free(&h->mapped);
	memset(h, 0, sizeof(*h));
}
