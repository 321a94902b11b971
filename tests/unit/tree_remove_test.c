/*-------------------------------------------------------------------------
 *
 * tree_remove_test.c
 *	  Unit test of common/tree_remove.c: what sandboxed code can leave in a
 *	  workspace (folders thousands of levels deep, paths past PATH_MAX,
 *	  chmod 000 and read-only folders, links out of the tree, a FIFO, a
 *	  socket) is removed, and nothing outside the tree is touched.
 *
 * Prints one "ok - name" or "not ok - name" line per check and, last,
 * "N passed, M failed"; exits 1 on any failure.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tree_remove.h"

static int	passed,
			failed;

static void
check(const char *name, int ok)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", name);
	if (ok)
		passed++;
	else
		failed++;
}

static int
exists_at(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* A chain of depth folders named "d" below dirfd, built fd-relative. */
static int
make_deep(int dirfd, int depth)
{
	int			fd = dup(dirfd);

	for (int i = 0; i < depth; i++)
	{
		int			next;

		if (mkdirat(fd, "d", 0700) != 0 ||
			(next = openat(fd, "d", O_PATH | O_DIRECTORY)) < 0)
		{
			close(fd);
			return -1;
		}
		if (i % 100 == 0)
		{
			int			f = openat(next, "file", O_WRONLY | O_CREAT, 0600);

			if (f >= 0)
				close(f);
		}
		close(fd);
		fd = next;
	}
	close(fd);
	return 0;
}

int
main(void)
{
	char		base[] = "/tmp/pi-tree-remove-XXXXXX";
	int			basefd,
				wsfd = -1,
				f;
	struct sockaddr_un sa;
	int			sock;

	if (mkdtemp(base) == NULL || (basefd = open(base, O_PATH | O_DIRECTORY)) < 0)
	{
		perror("mkdtemp");
		return 1;
	}

	/* outside the tree: must survive */
	f = openat(basefd, "outside.txt", O_WRONLY | O_CREAT, 0600);
	check("set up a file outside", f >= 0 && write(f, "keep", 4) == 4);
	close(f);
	mkdirat(basefd, "outside-dir", 0700);

	/* the workspace */
	check("set up the workspace", mkdirat(basefd, "ws", 0700) == 0 &&
		  (wsfd = openat(basefd, "ws", O_PATH | O_DIRECTORY)) >= 0);
	check("set up 3000 nested folders (path > PATH_MAX)", make_deep(wsfd, 3000) == 0);
	mkdirat(wsfd, "locked", 0700);
	mkdirat(wsfd, "locked/inner", 0700);
	f = openat(wsfd, "locked/inner/x", O_WRONLY | O_CREAT, 0600);
	close(f);
	check("set up chmod 000 and 0500 folders",
		  fchmodat(wsfd, "locked/inner", 0500, 0) == 0 &&
		  fchmodat(wsfd, "locked", 0, 0) == 0);
	check("set up links out of the tree",
		  symlinkat("../outside.txt", wsfd, "link-file") == 0 &&
		  symlinkat("../outside-dir", wsfd, "link-dir") == 0 &&
		  symlinkat("/", wsfd, "link-root") == 0);
	check("set up a FIFO", mkfifoat(wsfd, "report.csv", 0600) == 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/ws/sock", base);
	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	check("set up a socket", sock >= 0 &&
		  bind(sock, (struct sockaddr *) &sa, sizeof(sa)) == 0);
	close(sock);

	check("removes the whole tree", pi_tree_remove(basefd, "ws") == 0);
	check("the tree is gone", !exists_at(basefd, "ws"));
	check("a file outside is untouched", exists_at(basefd, "outside.txt"));
	check("a folder outside is untouched", exists_at(basefd, "outside-dir"));
	check("an absent tree answers 1", pi_tree_remove(basefd, "ws") == 1);

	/* a plain file is removed too */
	f = openat(basefd, "plain", O_WRONLY | O_CREAT, 0600);
	close(f);
	check("a plain file is removed", pi_tree_remove(basefd, "plain") == 0 &&
		  !exists_at(basefd, "plain"));

	unlinkat(basefd, "outside.txt", 0);
	unlinkat(basefd, "outside-dir", AT_REMOVEDIR);
	close(basefd);
	rmdir(base);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
