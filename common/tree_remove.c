/*-------------------------------------------------------------------------
 *
 * tree_remove.c
 *	  Removal of a directory tree that untrusted code filled: the one
 *	  routine the executor (temporary run workspaces, leftovers at start)
 *	  and the extension (pi.close_session, session expiry) share.
 *
 * What sandboxed code can leave behind, and how each is handled:
 *	 - links of every kind: removed, never followed (every open is
 *	   relative to a directory descriptor, with O_NOFOLLOW);
 *	 - folders it made unreadable or unwritable (chmod 000 or 0500): the
 *	   sandbox's uid is the server's user outside, so the owner may give
 *	   itself u+rwx back, through the folder's own descriptor;
 *	 - folders nested deeper than any fixed limit, or whose paths exceed
 *	   PATH_MAX: no path is ever built.  At most TREE_REMOVE_DEPTH
 *	   descriptors are held; a folder found deeper than that is renamed
 *	   up to the top of the tree and emptied on a later pass, so any depth
 *	   goes in passes that each make progress.
 *
 * Plain C and libc only: it is linked into pi-executor and into the
 * PostgreSQL library, so it neither allocates through palloc nor reports
 * through ereport.  It never blocks on what it meets: a FIFO or a socket
 * is unlinked, not opened.
 *
 *-------------------------------------------------------------------------
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tree_remove.h"

/*
 * Descriptors held at once while descending; deeper folders move up.  16
 * keeps the cost far below any descriptor limit.
 */
#define TREE_REMOVE_DEPTH	16

typedef struct TreeRemoval
{
	int			top_fd;			/* the tree's root folder */
	unsigned long progress;		/* entries removed or moved in this pass */
	unsigned long moved_names;	/* for unique names of moved folders */
	int			first_errno;	/* first failure, for the caller */
} TreeRemoval;

static void
note_error(TreeRemoval *tr, int err)
{
	if (tr->first_errno == 0)
		tr->first_errno = err;
}

/*
 * Open a folder below dirfd for reading without following a link, and
 * make sure its owner may read, enter and change it.  -1 with errno when
 * it is not a folder or cannot be opened.
 */
static int
open_dir_owned(int dirfd, const char *name)
{
	int			fd = openat(dirfd, name,
							O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;

	if (fd < 0 && errno == EACCES)
	{
		/* no read or search permission: fix it through an O_PATH handle */
		int			pathfd = openat(dirfd, name,
									O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		char		proc[64];

		if (pathfd < 0)
			return -1;
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
		if (fstat(pathfd, &st) != 0 ||
			chmod(proc, (st.st_mode & 07777) | S_IRWXU) != 0)
		{
			close(pathfd);
			errno = EACCES;
			return -1;
		}
		close(pathfd);
		fd = openat(dirfd, name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	}
	if (fd < 0)
		return -1;
	/* writable too, or its entries cannot be unlinked */
	if (fstat(fd, &st) == 0 && (st.st_mode & S_IRWXU) != S_IRWXU)
		(void) fchmod(fd, (st.st_mode & 07777) | S_IRWXU);
	return fd;
}

/* Move a folder found too deep to the top of the tree, under a new name. */
static void
move_up(TreeRemoval *tr, int dirfd, const char *name)
{
	char		newname[64];

	for (;;)
	{
		snprintf(newname, sizeof(newname), ".pi-rm-%lu", ++tr->moved_names);
		if (renameat2(dirfd, name, tr->top_fd, newname, RENAME_NOREPLACE) == 0)
		{
			tr->progress++;
			return;
		}
		if (errno != EEXIST)
		{
			note_error(tr, errno);
			return;
		}
	}
}

/* Remove what folder fd holds (not the folder itself). */
static void
empty_dir(TreeRemoval *tr, int fd, int depth)
{
	int			listfd = dup(fd);
	DIR		   *dir;
	struct dirent *de;

	if (listfd < 0 || (dir = fdopendir(listfd)) == NULL)
	{
		note_error(tr, errno);
		if (listfd >= 0)
			close(listfd);
		return;
	}
	/* the duplicate shares the offset of an earlier pass: start over */
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL)
	{
		int			sub;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* anything but a folder goes at once, whatever its type */
		if (unlinkat(fd, de->d_name, 0) == 0)
		{
			tr->progress++;
			continue;
		}
		if (errno == ENOENT)
			continue;
		if (errno != EISDIR)
		{
			note_error(tr, errno);
			continue;
		}
		if (depth >= TREE_REMOVE_DEPTH)
		{
			move_up(tr, fd, de->d_name);
			continue;
		}
		if ((sub = open_dir_owned(fd, de->d_name)) < 0)
		{
			note_error(tr, errno);
			continue;
		}
		empty_dir(tr, sub, depth + 1);
		close(sub);
		if (unlinkat(fd, de->d_name, AT_REMOVEDIR) == 0)
			tr->progress++;
		else if (errno != ENOENT && errno != ENOTEMPTY)
			note_error(tr, errno);
	}
	closedir(dir);
}

int
pi_tree_remove(int dirfd, const char *name)
{
	TreeRemoval tr;

	memset(&tr, 0, sizeof(tr));
	if (unlinkat(dirfd, name, 0) == 0)
		return 0;				/* it was not a folder */
	if (errno == ENOENT)
		return 1;
	if (errno != EISDIR)
		return -1;
	/* an empty folder goes without a descriptor (even when none is left) */
	if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0)
		return 0;
	if ((tr.top_fd = open_dir_owned(dirfd, name)) < 0)
		return -1;
	for (;;)
	{
		tr.progress = 0;
		empty_dir(&tr, tr.top_fd, 0);
		if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0)
		{
			close(tr.top_fd);
			return 0;
		}
		if (errno != ENOTEMPTY && errno != EEXIST)
			note_error(&tr, errno);
		/* another pass only when this one changed something */
		if (tr.progress == 0 || (errno != ENOTEMPTY && errno != EEXIST))
			break;
	}
	close(tr.top_fd);
	errno = tr.first_errno ? tr.first_errno : ENOTEMPTY;
	return -1;
}
