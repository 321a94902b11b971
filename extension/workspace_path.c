/*-------------------------------------------------------------------------
 *
 * workspace_path.c
 *	  Race-free resolution of user-supplied paths inside a session
 *	  workspace.
 *
 * Every path a user hands to the files functions is relative to the
 * workspace and is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
 * | ...) against a descriptor of the workspace directory, so a symlink
 * planted by sandboxed code (Judge0 CVE-2024-28185 was exactly this) is
 * refused by the kernel at open time, with no window between a check and
 * the use.  Hard links are
 * refused by link count: sandboxed code cannot create one to a file outside
 * (link() does not cross the workspace bind mount), but a file with more
 * than one name is never what a workspace should hold.
 *
 * A run can also leave FIFOs and Unix sockets under any name ("report.csv"),
 * or swap one in for a file at any moment.  Opening a FIFO waits for the
 * other end, in the kernel, where neither statement_timeout nor a cancel or
 * terminate signal gets the process out (rule 10 of docs/architecture.md).
 * So every file is opened with O_NONBLOCK, its type is checked on the
 * descriptor (fstat, not the name: no window for a swap), and it is read or
 * written only through that descriptor.  Folders are opened with O_PATH,
 * which never waits either.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "access/xact.h"

#include "tree_remove.h"
#include "workspace_path.h"

/*
 * Symbolic links are refused altogether (RESOLVE_NO_SYMLINKS), which covers
 * every link that leads out of the workspace; RESOLVE_BENEATH stays as the
 * kernel's guarantee that nothing else (e.g. a rename race) escapes.
 */
#define WORKSPACE_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | \
						   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

/*
 * Descriptors opened by the files functions, closed on (sub)transaction
 * abort: an error raised while a file is open must not leak its descriptor
 * in a backend that lives for days behind a gateway.
 */
#define MAX_TRACKED_FDS 16

static int	tracked_fds[MAX_TRACKED_FDS];
static int	n_tracked_fds = 0;
static bool fd_callbacks_registered = false;

static void
close_tracked_fds(void)
{
	while (n_tracked_fds > 0)
		close(tracked_fds[--n_tracked_fds]);
}

static void
fds_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		close_tracked_fds();
}

static void
fds_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		close_tracked_fds();
}

/* Remember fd (if valid) so that an error closes it; returns fd. */
int
workspace_keep_fd(int fd)
{
	if (fd < 0)
		return fd;
	if (!fd_callbacks_registered)
	{
		RegisterXactCallback(fds_xact_callback, NULL);
		RegisterSubXactCallback(fds_subxact_callback, NULL);
		fd_callbacks_registered = true;
	}
	if (n_tracked_fds == MAX_TRACKED_FDS)
		elog(ERROR, "too many workspace files open at once");
	tracked_fds[n_tracked_fds++] = fd;
	return fd;
}

/* Close a descriptor that workspace_keep_fd tracks. */
void
workspace_close_fd(int fd)
{
	for (int i = 0; i < n_tracked_fds; i++)
	{
		if (tracked_fds[i] == fd)
		{
			tracked_fds[i] = tracked_fds[--n_tracked_fds];
			break;
		}
	}
	close(fd);
}

/* Refuse paths that are not plain relative paths inside the workspace. */
void
workspace_check_path(const char *path)
{
	const char *p = path;
	size_t		len = strlen(path);

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("path must not be empty"),
				 errhint("Pass a path relative to the session workspace, e.g. 'data/input.csv'.")));
	if (len > WORKSPACE_PATH_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("path is too long"),
				 errdetail("The path has %zu bytes; at most %d are allowed.", len, WORKSPACE_PATH_MAX),
				 errhint("Use a shorter path.")));
	if (path[0] == '/')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("absolute path \"%s\" is not allowed", path),
				 errhint("Paths are relative to the session workspace, e.g. 'data/input.csv'.")));

	while (*p)
	{
		const char *slash = strchr(p, '/');
		size_t		clen = slash ? (size_t) (slash - p) : strlen(p);

		if (clen == 2 && p[0] == '.' && p[1] == '.')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("path \"%s\" contains \"..\"", path),
					 errhint("Paths must stay inside the session workspace; name the file relative to it.")));
		if (clen > WORKSPACE_NAME_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("a file or folder name in path \"%.64s...\" is longer than %d bytes",
							path, WORKSPACE_NAME_MAX),
					 errhint("Use shorter names.")));
		if (!slash)
			break;
		p = slash + 1;
	}
	if (path[len - 1] == '/')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("path \"%s\" names a folder, not a file", path),
				 errhint("Name a file, e.g. 'data/input.csv'.")));
}

/* openat2() beneath dirfd; -1 with errno on failure. */
int
workspace_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = flags | O_CLOEXEC;
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = WORKSPACE_RESOLVE;
	return (int) syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* What a file of type mode is, in words, for messages. */
static const char *
file_kind(mode_t mode)
{
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a folder";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	if (S_ISLNK(mode))
		return "a symbolic link";
	return "of an unknown type";
}

/* "read" -> "read", "write" -> "written", ...: for "can only be %s" hints */
static const char *
past_participle(const char *action)
{
	static const char *const forms[][2] = {
		{"write", "written"}, {"append to", "appended to"}, {"load", "loaded"},
	};

	for (int i = 0; i < lengthof(forms); i++)
		if (strcmp(action, forms[i][0]) == 0)
			return forms[i][1];
	return action;
}

/* Refuse path, which is of type mode and not a regular file. */
static void
report_not_regular(const char *path, const char *action, mode_t mode)
{
	if (S_ISDIR(mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a folder, not a regular file", path),
				 errhint("Name a file; pi.list_files(session_id) lists them.")));
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("\"%s\" is %s, not a regular file", path, file_kind(mode)),
			 errdetail("Code run in the session can leave FIFOs and sockets in the workspace; the server never reads or writes one, since that could wait forever."),
			 errhint("Only regular files can be %s; remove it with pi.delete_file().",
					 past_participle(action))));
}

/*
 * Open name beneath dirfd (path is what the user named, for messages) as a
 * regular file with a single name, without ever waiting on what a run put
 * there, and fill *st from the descriptor.  O_NONBLOCK makes the open of a
 * FIFO return at once (or fail with ENXIO when it is opened for writing and
 * nobody reads), the open of a socket fail with ENXIO, and a file on which
 * a run holds a lease fail with EWOULDBLOCK instead of waiting for the
 * lease to break.  The returned descriptor is blocking again; it is not
 * tracked (see workspace_keep_fd).  With missing_ok, a missing file gives
 * -1 instead of an error.
 */
int
workspace_open_file(int dirfd, const char *name, const char *path, int flags,
					mode_t mode, const char *action, bool missing_ok, struct stat *st)
{
	int			fd = workspace_openat(dirfd, name,
									  flags | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY, mode);
	int			fl;
	int			save;

	if (fd < 0)
	{
		save = errno;
		if (save == ENOENT && missing_ok)
			return -1;
		if (save == ENXIO)
		{
			/* a socket, or a FIFO nobody reads: say which (O_PATH never waits) */
			int			probe = workspace_openat(dirfd, name, O_PATH | O_NOFOLLOW, 0);
			struct stat pst;

			if (probe >= 0)
			{
				bool		known = fstat(probe, &pst) == 0;

				close(probe);
				if (known && !S_ISREG(pst.st_mode))
					report_not_regular(path, action, pst.st_mode);
			}
		}
		workspace_report_error(path, action, save);
	}
	if (fstat(fd, st) != 0)
	{
		save = errno;
		close(fd);
		workspace_report_error(path, action, save);
	}
	if (!S_ISREG(st->st_mode))
	{
		close(fd);
		report_not_regular(path, action, st->st_mode);
	}
	if (st->st_nlink > 1)
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("\"%s\" has %lu hard links", path, (unsigned long) st->st_nlink),
				 errdetail("A file with several names may be shared with a place outside the workspace."),
				 errhint("Copy the file's content to a new file instead of linking it.")));
	}
	/* a regular file ignores O_NONBLOCK; cleared so the descriptor is plain */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
	{
		save = errno;
		close(fd);
		workspace_report_error(path, action, save);
	}
	return fd;
}

/* Report a failed resolution of path with a message that says why. */
void
workspace_report_error(const char *path, const char *action, int err)
{
	errno = err;
	if (err == EXDEV)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("could not %s \"%s\": the path leads out of the session workspace", action, path),
				 errdetail("A symbolic link or mount point on the way points outside the workspace."),
				 errhint("Remove the link, or use a path that stays inside the workspace.")));
	if (err == ELOOP)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("could not %s \"%s\": the path goes through a symbolic link", action, path),
				 errdetail("Symbolic links in a workspace are never followed, since they could lead out of it."),
				 errhint("Use the real path of the file, or remove the link.")));
	if (err == ENOENT)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("could not %s \"%s\": no such file in the workspace", action, path),
				 errhint("pi.list_files(session_id) lists the files of the workspace.")));
	if (err == ENOTDIR || err == EISDIR)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("could not %s \"%s\": %m", action, path),
				 errhint("Check which parts of the path are folders and which are files.")));
	if (err == EWOULDBLOCK)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("could not %s \"%s\": code running in the session holds a lease on it", action, path),
				 errdetail("The server does not wait for a lease to be given up, since a run decides when that happens."),
				 errhint("Try again when the code that holds the file open has finished.")));
	if (err == ENOSYS)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("could not %s \"%s\": the kernel lacks openat2()", action, path),
				 errhint("power_interpreter needs Linux 5.6 or later.")));
	ereport(ERROR,
			(errcode_for_file_access(),
			 errmsg("could not %s \"%s\": %m", action, path)));
}

/*
 * Open the folder that holds path's last component, one component at a
 * time (creating missing folders when create is set), and return its
 * descriptor; *name is set to the last component.
 */
int
workspace_open_parent(int rootfd, const char *path, bool create, const char **name)
{
	char	   *copy = pstrdup(path);
	char	   *last = strrchr(copy, '/');
	char	   *saveptr = NULL;
	int			cur;

	*name = last ? path + (last - copy) + 1 : path;
	cur = dup(rootfd);
	if (cur < 0)
		workspace_report_error(path, "open", errno);
	if (last == NULL)
	{
		pfree(copy);
		return cur;
	}
	*last = '\0';

	for (char *comp = strtok_r(copy, "/", &saveptr); comp; comp = strtok_r(NULL, "/", &saveptr))
	{
		int			next;

		if (strcmp(comp, ".") == 0)
			continue;
		if (create && mkdirat(cur, comp, S_IRWXU) != 0 && errno != EEXIST)
		{
			int			save = errno;

			close(cur);
			workspace_report_error(path, "create folders for", save);
		}
		next = workspace_openat(cur, comp, O_PATH | O_DIRECTORY, 0);
		if (next < 0)
		{
			int			save = errno;

			close(cur);
			workspace_report_error(path, "open", save);
		}
		close(cur);
		cur = next;
	}
	pfree(copy);
	return cur;
}

/*
 * Visit every entry beneath dirfd (relpath relative to it), each directory
 * after what it holds, without following a single link: a workspace holds
 * whatever sandboxed code left there.  Stops after max_entries entries or
 * WORKSPACE_WALK_DEPTH levels.
 */
static void
walk(int dirfd, const char *prefix, int depth, int64 *budget,
	 WorkspaceVisitor visit, void *arg)
{
	int			fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR		   *dir;
	struct dirent *de;

	if (fd < 0 || (dir = fdopendir(fd)) == NULL)
	{
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL && *budget > 0)
	{
		struct stat st;
		char	   *rel;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		(*budget)--;
		rel = prefix[0] ? psprintf("%s/%s", prefix, de->d_name) : pstrdup(de->d_name);
		if (S_ISDIR(st.st_mode) && depth < WORKSPACE_WALK_DEPTH)
		{
			int			sub = openat(dirfd, de->d_name,
									 O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
			{
				walk(sub, rel, depth + 1, budget, visit, arg);
				close(sub);
			}
		}
		visit(dirfd, de->d_name, rel, &st, arg);
		pfree(rel);
	}
	closedir(dir);
}

void
workspace_walk(int dirfd, int64 max_entries, WorkspaceVisitor visit, void *arg)
{
	walk(dirfd, "", 0, &max_entries, visit, arg);
}

static void
add_file_size(int dirfd, const char *name, const char *relpath,
			  const struct stat *st, void *arg)
{
	if (S_ISREG(st->st_mode))
		*(int64 *) arg += st->st_size;
}

/*
 * The bytes of the regular files beneath dirfd, counting at most
 * WORKSPACE_BYTES_MAX_ENTRIES entries: what a workspace quota measures.
 */
int64
workspace_bytes(int dirfd)
{
	int64		total = 0;

	workspace_walk(dirfd, WORKSPACE_BYTES_MAX_ENTRIES, add_file_size, &total);
	return total;
}

/* workspace_bytes of a directory by path; 0 when it cannot be opened. */
int64
workspace_path_bytes(const char *path)
{
	int			fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int64		total;

	if (fd < 0)
		return 0;
	total = workspace_bytes(fd);
	close(fd);
	return total;
}

/*
 * Remove a workspace directory and all it holds, at any depth and without
 * following links (common/tree_remove.c); false if it was absent.  What
 * cannot be removed is logged, not raised: the session row is gone either
 * way, and the executor's start-up sweep does not touch session folders.
 */
bool
workspace_remove_tree(const char *path)
{
	int			rc = pi_tree_remove(AT_FDCWD, path);

	if (rc < 0)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not remove workspace \"%s\": %m", path),
				 errhint("Remove the folder by hand; no session refers to it any more.")));
	return rc == 0;
}
