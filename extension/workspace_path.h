/*-------------------------------------------------------------------------
 *
 * workspace_path.h
 *	  Resolving user-supplied paths beneath a session workspace.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WORKSPACE_PATH_H
#define WORKSPACE_PATH_H

#include <sys/types.h>

/* Limits of user-supplied paths: Linux's NAME_MAX, and a generous total. */
#define WORKSPACE_NAME_MAX	255
#define WORKSPACE_PATH_MAX	1024

/* How deep a walk of a workspace goes. */
#define WORKSPACE_WALK_DEPTH 32

/* A listing or a quota check looks at this many entries at most. */
#define WORKSPACE_BYTES_MAX_ENTRIES	100000

struct stat;
typedef void (*WorkspaceVisitor) (int dirfd, const char *name, const char *relpath,
								  const struct stat *st, void *arg);

extern int	workspace_keep_fd(int fd);
extern void workspace_close_fd(int fd);
extern void workspace_check_path(const char *path);
extern void workspace_walk(int dirfd, int64 max_entries, WorkspaceVisitor visit, void *arg);
extern int64 workspace_bytes(int dirfd);
extern int64 workspace_path_bytes(const char *path);
extern int	workspace_openat(int dirfd, const char *path, int flags, mode_t mode);
extern int	workspace_open_file(int dirfd, const char *name, const char *path, int flags,
								mode_t mode, const char *action, bool missing_ok,
								struct stat *st);
extern int	workspace_open_parent(int rootfd, const char *path, bool create, const char **name);
extern bool workspace_remove_tree(const char *path);
extern void workspace_report_error(const char *path, const char *action, int err) pg_attribute_noreturn();

#endif							/* WORKSPACE_PATH_H */
