/*-------------------------------------------------------------------------
 *
 * tree_remove.h
 *	  Removal of a directory tree that untrusted code filled
 *	  (tree_remove.c), shared by pi-executor and the extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_TREE_REMOVE_H
#define PI_TREE_REMOVE_H

/*
 * Remove name beneath dirfd (AT_FDCWD for a path) and all it holds,
 * without following links and whatever its depth.  Returns 0 when removed,
 * 1 when it did not exist, -1 with errno (the first failure) otherwise.
 */
extern int	pi_tree_remove(int dirfd, const char *name);

#endif							/* PI_TREE_REMOVE_H */
