/*-------------------------------------------------------------------------
 *
 * quota.c
 *	  The workspace disk quota (pi.max_workspace_mb, pi.max_workspace_files)
 *	  inside runs: an incremental walk of a kernel's workspace from the
 *	  event loop.
 *
 * The sandboxed code writes to /workspace, a bind mount of a host
 * directory (the session workspace, or the run's temporary one).  While a
 * cell runs, the event loop (loop.c) measures that directory
 * every EXECUTOR_QUOTA_INTERVAL_MS and once more after the cell's final
 * line; over the quota, the cell is stopped and answered with
 * WorkspaceQuotaExceeded.
 *
 * The walk never follows a link: directories are opened one component at
 * a time below a descriptor of the workspace with O_NOFOLLOW, entries are
 * looked at with AT_SYMLINK_NOFOLLOW, so a symlink planted by the code
 * (to /, to the data directory, to another workspace) is counted as the
 * link itself and never entered.  The zygote resolves nothing by host path
 * below the workspace.
 *
 * Cost: one step looks at EXECUTOR_QUOTA_STEP_ENTRIES entries at most and
 * keeps one directory open; a walk that needs more steps continues on the
 * next loop turns (EXECUTOR_QUOTA_STEP_GAP_MS apart), so a workspace of a
 * million files never blocks the loop for long.  A walk stops counting at
 * the workspace's file-count limit (at most EXECUTOR_QUOTA_MAX_ENTRIES)
 * and reports that (the loop treats it as over the quota: otherwise files
 * past the cap would escape it).
 *
 * What counts: for every entry the larger of its apparent size and its
 * allocated blocks, so neither sparse files nor a mass of tiny files slip
 * through (pi.write_file's check from SQL counts apparent sizes; for
 * ordinary files the two agree).  A file with several names (hard links)
 * counts once.  Every name counts against the file-count limit
 * (pi.max_workspace_files), so empty files and folders cannot use up the
 * file system's inodes.
 *
 * After the names, held.c looks at what the run's processes hold without
 * a name (unlinked files still open or mapped); its result is part of the
 * walk's (w->held).
 *
 * A directory that the code made unreadable to its owner (chmod 000: the
 * sandbox's uid is the server's user outside) gets u+rx back before it is
 * read, through its own O_PATH descriptor, as the removal of temporary
 * workspaces does; otherwise chmod would hide files from the quota.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "executor.h"

static unsigned long long
entry_bytes(const struct stat *st)
{
	unsigned long long apparent = st->st_size > 0 ? (unsigned long long) st->st_size : 0;
	unsigned long long allocated = (unsigned long long) st->st_blocks * 512ULL;

	return apparent > allocated ? apparent : allocated;
}

/*
 * Remember directory rel for a later step.  Out of memory, the walk fails
 * closed: it stops and counts as over the quota (too_many), so a walk the
 * executor cannot afford never lets a workspace past its quota, and the
 * executor itself carries on.
 */
static void
walk_push(QuotaWalk *w, const char *rel)
{
	char	   *copy;

	if (w->npending == w->cap)
	{
		int			cap = w->cap ? w->cap * 2 : 16;
		char	  **grown = realloc(w->pending, sizeof(char *) * cap);

		if (grown == NULL)
		{
			pi_log("out of memory walking a workspace; counting it as over its quota");
			w->too_many = true;
			return;
		}
		w->pending = grown;
		w->cap = cap;
	}
	if ((copy = strdup(rel)) == NULL)
	{
		pi_log("out of memory walking a workspace; counting it as over its quota");
		w->too_many = true;
		return;
	}
	w->pending[w->npending++] = copy;
}

/*
 * Open directory rel (relative to the workspace, "" for the root itself)
 * for reading, one component at a time, never following a link.  NULL if
 * it is gone or not a directory any more (the code may have changed it).
 */
static DIR *
open_below(int root_fd, const char *rel)
{
	int			fd = dup(root_fd);
	char	   *copy = strdup(rel);
	char	   *save = NULL;
	char	   *comp;
	int			dfd;
	struct stat st;
	DIR		   *d;

	if (fd < 0 || copy == NULL)
	{
		if (fd >= 0)
			close(fd);
		free(copy);
		return NULL;
	}
	for (comp = strtok_r(copy, "/", &save); comp != NULL;
		 comp = strtok_r(NULL, "/", &save))
	{
		int			next = openat(fd, comp, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);

		close(fd);
		if (next < 0)
		{
			free(copy);
			return NULL;
		}
		fd = next;
	}
	free(copy);

	/* u+rx on a directory the code locked: through the descriptor itself */
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) &&
		(st.st_mode & (S_IRUSR | S_IXUSR)) != (S_IRUSR | S_IXUSR) &&
		st.st_uid == geteuid())
	{
		char		proc[64];

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		(void) chmod(proc, (st.st_mode & 07777) | S_IRUSR | S_IXUSR);
	}
	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(fd);
	if (dfd < 0)
		return NULL;
	d = fdopendir(dfd);
	if (d == NULL)
		close(dfd);
	return d;
}

void
quota_walk_free(QuotaWalk *w)
{
	int			i;

	if (w->dir != NULL)
		closedir(w->dir);
	if (w->root_fd > 0)
		close(w->root_fd);
	for (i = 0; i < w->npending; i++)
		free(w->pending[i]);
	free(w->pending);
	free(w->dir_rel);
	free(w->cgdir);
	ino_set_free(&w->links);
	held_free(&w->held);
	memset(w, 0, sizeof(*w));
}

/*
 * Begin a new walk of root (a host path) and of what the run of kernel
 * (0: none) in cgroup directory cgdir holds; the previous walk is
 * discarded.  The walk stops counting past max_entries names (the
 * workspace's file-count limit).
 */
void
quota_walk_start(QuotaWalk *w, const char *root, long max_entries,
				 pid_t kernel, const char *cgdir)
{
	struct stat st;

	quota_walk_free(w);
	w->max_entries = max_entries < EXECUTOR_QUOTA_MAX_ENTRIES ?
		max_entries : EXECUTOR_QUOTA_MAX_ENTRIES;
	w->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	w->active = true;
	w->kernel = kernel;
	w->cgdir = strdup(cgdir ? cgdir : "");
	if (w->cgdir == NULL)
	{
		pi_log("out of memory walking a workspace; counting it as over its quota");
		w->too_many = true;
		w->active = false;
		return;
	}
	if (w->root_fd < 0 || fstat(w->root_fd, &st) != 0)
	{
		/* the workspace is gone (e.g. pi.close_session): nothing to count */
		if (w->root_fd >= 0)
			close(w->root_fd);
		w->root_fd = 0;
		w->active = false;
		return;
	}
	w->dev = st.st_dev;
	walk_push(w, "");
}

/* The names are counted: go on with what the run holds without one. */
static bool
names_done(QuotaWalk *w, long budget)
{
	if (!w->names_done)
	{
		w->names_done = true;
		if (w->too_many || w->kernel <= 0)
			return true;
		held_start(&w->held, w->kernel, w->cgdir, w->dev, w->stop_all);
	}
	return !w->held.active || held_step(&w->held, budget);
}

/* Whether a walk was started and is not complete. */
bool
quota_walk_running(const QuotaWalk *w)
{
	return w->active || w->held.active;
}

/*
 * Look at up to budget entries.  True when the walk is complete (then
 * w->bytes and w->entries hold the result of the names, w->too_many says
 * whether it stopped at EXECUTOR_QUOTA_MAX_ENTRIES, and w->held what the
 * run holds without a name).
 */
bool
quota_walk_step(QuotaWalk *w, long budget)
{
	while (w->active && budget > 0)
	{
		struct dirent *e;

		if (w->dir == NULL)
		{
			if (w->npending == 0)
			{
				w->active = false;
				break;
			}
			free(w->dir_rel);
			w->dir_rel = w->pending[--w->npending];
			w->dir = open_below(w->root_fd, w->dir_rel);
			budget--;
			continue;
		}
		errno = 0;
		e = readdir(w->dir);
		if (e == NULL)
		{
			closedir(w->dir);
			w->dir = NULL;
			continue;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		budget--;
		if (++w->entries > w->max_entries)
		{
			w->too_many = true;
			w->active = false;
			break;
		}
		{
			struct stat st;

			if (fstatat(dirfd(w->dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
				continue;		/* removed meanwhile */
			if (S_ISREG(st.st_mode) && st.st_nlink > 1)
			{
				int			added = ino_set_add(&w->links, st.st_dev, st.st_ino);

				if (added < 0)
				{
					pi_log("out of memory walking a workspace; counting it as over its quota");
					w->too_many = true;
					w->active = false;
					break;
				}
				if (added == 0)
					continue;	/* another name of a file counted already */
			}
			w->bytes += entry_bytes(&st);
			if (S_ISDIR(st.st_mode))
			{
				size_t		len = strlen(w->dir_rel) + strlen(e->d_name) + 2;
				char	   *rel = malloc(len);

				if (rel == NULL)
				{
					w->too_many = true;	/* fail closed, see walk_push */
					continue;
				}
				snprintf(rel, len, "%s%s%s", w->dir_rel,
						 w->dir_rel[0] ? "/" : "", e->d_name);
				walk_push(w, rel);
				free(rel);
			}
		}
	}
	if (!w->active)
	{
		if (w->dir != NULL)
			closedir(w->dir);
		w->dir = NULL;
		return names_done(w, budget > 0 ? budget : 1);
	}
	return false;
}
