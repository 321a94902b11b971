/*-------------------------------------------------------------------------
 *
 * mountns.c
 *	  Mount namespace: build a minimal root for the run and pivot_root
 *	  into it, so that nothing of the host is reachable but what the data
 *	  stack needs (read-only) and the session workspace (read-write).
 *
 * Why a new root and not just read-only mounts: without it, sandboxed code
 * can connect to PostgreSQL's Unix socket and get superuser through peer
 * authentication (docs/architecture.md, "Measured facts"); a fresh root shows nothing that was not
 * put there on purpose.  The root holds:
 *
 *	 /usr, and the /bin /sbin /lib* links	read-only bind of the host's
 *	 /etc								tmpfs with only: alternatives/ (numpy
 *										finds libblas there), matplotlibrc,
 *										fonts/, ld.so.cache, localtime, and a
 *										generated passwd, group, hosts
 *	 /dev								null zero full random urandom (binds),
 *										fd/stdin/stdout/stderr links, a
 *										size-capped tmpfs /dev/shm
 *	 /proc								a fresh, read-only proc of the run's
 *										PID namespace
 *	 /tmp								a private size-capped tmpfs
 *	 /workspace							the session workspace, read-write
 *
 * Nothing of /home, /root, /var, /run, the data directory, other
 * workspaces or /sys is mounted.  The root itself is remounted read-only;
 * every mount is nosuid, and nodev except the device binds.
 *
 * How (the bubblewrap technique): the host's mounts are made rprivate so
 * nothing propagates back; a staging tmpfs goes over /tmp and we
 * pivot_root into it, which leaves the host's root reachable at /oldroot
 * (and the host's own /tmp visible again there, so a workspace under /tmp
 * still works).  The new root is assembled at /newroot from /oldroot/...,
 * then /oldroot is detached and a second pivot_root makes /newroot the
 * root.  The workspace path is resolved with realpath() before the first
 * pivot, because absolute symlinks in it would otherwise resolve against
 * the staging root.
 *
 * Bind mounts inherit "locked" flags from their source (nosuid, nodev,
 * noexec, atime flags of a mount that came from a more privileged
 * namespace); a remount that drops one fails with EPERM.  remount_bind()
 * reads them back with statvfs() and keeps them.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

#include "jail_int.h"

#define STAGE		"/tmp"
#define OLDROOT		"/oldroot"
#define NEWROOT		"/newroot"

/* Default /dev/shm size: enough for multiprocessing semaphores and queues. */
#define DEFAULT_SHM_MB 16

/* Host entries below /etc the data stack needs; absent ones are skipped. */
static const char *const etc_entries[] = {
	"alternatives",				/* libblas/liblapack symlinks for numpy */
	"matplotlibrc",				/* Debian's default backend/style */
	"fonts",					/* fontconfig configuration */
	"ld.so.cache",				/* dynamic loader search cache */
	"ld.so.conf",
	"ld.so.conf.d",
	"localtime",				/* time zone for datetime/pandas */
	"timezone",
	"mime.types",				/* mimetypes module */
	NULL
};

/* Top-level links (or directories) of a merged-/usr system. */
static const char *const usr_links[] = {
	"bin", "sbin", "lib", "lib32", "lib64", "libx32", NULL
};

/* Device nodes bound from the host's /dev. */
static const char *const devices[] = {
	"null", "zero", "full", "random", "urandom", NULL
};

static int
make_dir(const char *path, mode_t mode, char *err, size_t errlen)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return jail_error(err, errlen, errno, "mount namespace: mkdir %s", path);
	return 0;
}

/* An empty regular file to bind a file onto. */
static int
make_file(const char *path, char *err, size_t errlen)
{
	int			fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		return jail_error(err, errlen, errno, "mount namespace: create %s", path);
	close(fd);
	return 0;
}

static int
write_new_file(const char *path, const char *content, char *err, size_t errlen)
{
	int			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t		len = strlen(content);

	if (fd < 0)
		return jail_error(err, errlen, errno, "mount namespace: create %s", path);
	if (write(fd, content, len) != (ssize_t) len)
	{
		int			save = errno;

		close(fd);
		return jail_error(err, errlen, save, "mount namespace: write %s", path);
	}
	close(fd);
	return 0;
}

static int
mount_tmpfs(const char *path, const char *opts, unsigned long flags,
			char *err, size_t errlen)
{
	if (mount("tmpfs", path, "tmpfs", flags, opts) < 0)
		return jail_error(err, errlen, errno,
						  "mount namespace: mount tmpfs (%s) on %s", opts, path);
	return 0;
}

/*
 * Remount the bind at path with the given per-mount flags plus whatever
 * flags the kernel has locked on it.
 */
static int
remount_bind(const char *path, unsigned long flags, char *err, size_t errlen)
{
	struct statvfs sv;
	unsigned long locked;

	if (statvfs(path, &sv) < 0)
		return jail_error(err, errlen, errno, "mount namespace: statvfs %s", path);
	/* glibc's ST_* values equal the MS_* ones for these flags */
	locked = sv.f_flag & (ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC |
						  ST_NOATIME | ST_NODIRATIME | ST_RELATIME);
	if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | flags | locked, NULL) < 0)
		return jail_error(err, errlen, errno,
						  "mount namespace: remount %s (flags 0x%lx)",
						  path, flags | locked);
	return 0;
}

/*
 * Bind src onto dst (created to match src's type) and remount with flags.
 * Not recursive: mounts below src stay hidden, which is what we want for
 * every source here.
 */
static int
bind_path(const char *src, const char *dst, unsigned long flags,
		  char *err, size_t errlen)
{
	struct stat st;

	if (stat(src, &st) < 0)
		return jail_error(err, errlen, errno, "mount namespace: stat %s", src);
	if (S_ISDIR(st.st_mode))
	{
		if (make_dir(dst, 0755, err, errlen) < 0)
			return -1;
	}
	else if (make_file(dst, err, errlen) < 0)
		return -1;
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return jail_error(err, errlen, errno,
						  "mount namespace: bind %s on %s", src, dst);
	return remount_bind(dst, flags, err, errlen);
}

/* Recreate a symlink of the host at dst with the same target. */
static int
copy_symlink(const char *src, const char *dst, char *err, size_t errlen)
{
	char		target[PATH_MAX];
	ssize_t		n = readlink(src, target, sizeof(target) - 1);

	if (n < 0)
		return jail_error(err, errlen, errno, "mount namespace: readlink %s", src);
	target[n] = '\0';
	if (symlink(target, dst) < 0)
		return jail_error(err, errlen, errno,
						  "mount namespace: symlink %s -> %s", dst, target);
	return 0;
}

/*
 * Mirror one host path read-only: a symlink is copied, anything else is
 * bound.  A missing optional entry is not an error (hosts differ).
 */
static int
mirror_readonly(const char *host, const char *dst, bool optional,
				char *err, size_t errlen)
{
	struct stat st;

	if (lstat(host, &st) < 0)
	{
		if (errno == ENOENT && optional)
			return 0;
		return jail_error(err, errlen, errno, "mount namespace: lstat %s", host);
	}
	if (S_ISLNK(st.st_mode))
		return copy_symlink(host, dst, err, errlen);
	return bind_path(host, dst, MS_RDONLY | MS_NOSUID | MS_NODEV, err, errlen);
}

static int
build_usr_and_etc(char *err, size_t errlen)
{
	char		src[PATH_MAX],
				dst[PATH_MAX];
	int			i;

	if (mirror_readonly(OLDROOT "/usr", NEWROOT "/usr", false, err, errlen) < 0)
		return -1;
	for (i = 0; usr_links[i]; i++)
	{
		snprintf(src, sizeof(src), OLDROOT "/%s", usr_links[i]);
		snprintf(dst, sizeof(dst), NEWROOT "/%s", usr_links[i]);
		if (mirror_readonly(src, dst, true, err, errlen) < 0)
			return -1;
	}

	if (make_dir(NEWROOT "/etc", 0755, err, errlen) < 0)
		return -1;
	for (i = 0; etc_entries[i]; i++)
	{
		snprintf(src, sizeof(src), OLDROOT "/etc/%s", etc_entries[i]);
		snprintf(dst, sizeof(dst), NEWROOT "/etc/%s", etc_entries[i]);
		if (mirror_readonly(src, dst, true, err, errlen) < 0)
			return -1;
	}

	/*
	 * Generated identity files: getpwuid(1000) must work (getpass.getuser,
	 * os.path.expanduser, matplotlib's config lookup), and the real ones
	 * would list the host's accounts.
	 */
	if (write_new_file(NEWROOT "/etc/passwd",
					   "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
					   "sandbox:x:1000:1000:sandbox:/workspace:/usr/sbin/nologin\n"
					   "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
					   err, errlen) < 0 ||
		write_new_file(NEWROOT "/etc/group",
					   "root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n",
					   err, errlen) < 0 ||
		write_new_file(NEWROOT "/etc/hosts",
					   "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\tsandbox\n",
					   err, errlen) < 0)
		return -1;
	return 0;
}

static int
build_dev(const JailSpec *spec, char *err, size_t errlen)
{
	char		src[PATH_MAX],
				dst[PATH_MAX],
				opts[64];
	int			i;
	static const char *const links[][2] = {
		{"/proc/self/fd", NEWROOT "/dev/fd"},
		{"/proc/self/fd/0", NEWROOT "/dev/stdin"},
		{"/proc/self/fd/1", NEWROOT "/dev/stdout"},
		{"/proc/self/fd/2", NEWROOT "/dev/stderr"},
	};

	if (make_dir(NEWROOT "/dev", 0755, err, errlen) < 0)
		return -1;
	for (i = 0; devices[i]; i++)
	{
		snprintf(src, sizeof(src), OLDROOT "/dev/%s", devices[i]);
		snprintf(dst, sizeof(dst), NEWROOT "/dev/%s", devices[i]);
		if (bind_path(src, dst, MS_NOSUID | MS_NOEXEC, err, errlen) < 0)
			return -1;
	}
	for (i = 0; i < (int) (sizeof(links) / sizeof(links[0])); i++)
	{
		if (symlink(links[i][0], links[i][1]) < 0)
			return jail_error(err, errlen, errno,
							  "mount namespace: symlink %s", links[i][1]);
	}

	/* POSIX shared memory and multiprocessing semaphores live here */
	if (make_dir(NEWROOT "/dev/shm", 01777, err, errlen) < 0)
		return -1;
	snprintf(opts, sizeof(opts), "size=%dm,mode=1777",
			 spec->shm_size_mb > 0 ? spec->shm_size_mb : DEFAULT_SHM_MB);
	return mount_tmpfs(NEWROOT "/dev/shm", opts,
					   MS_NOSUID | MS_NODEV | MS_NOEXEC, err, errlen);
}

/* Steps between the first and the second pivot_root. */
static int
assemble_new_root(const JailSpec *spec, const char *workspace,
				  char *err, size_t errlen)
{
	char		src[PATH_MAX + sizeof(OLDROOT)];
	char		opts[64];

	/* small: it only holds mount points and three generated files */
	if (make_dir(NEWROOT, 0755, err, errlen) < 0 ||
		mount_tmpfs(NEWROOT, "size=1m,nr_inodes=4096,mode=0755",
					MS_NOSUID | MS_NODEV, err, errlen) < 0)
		return -1;
	if (build_usr_and_etc(err, errlen) < 0 ||
		build_dev(spec, err, errlen) < 0)
		return -1;

	/*
	 * A proc of the run's own PID namespace (the kernel only allows it
	 * because the host's proc is still visible at /oldroot/proc: mount
	 * it before detaching).  Read-only: nothing in /proc needs writing by
	 * the data stack, and it closes /proc/sys and friends even when the
	 * server (wrongly) runs as root, where the inside uid is host uid 0.
	 */
	if (make_dir(NEWROOT "/proc", 0555, err, errlen) < 0)
		return -1;
	if (mount("proc", NEWROOT "/proc", "proc",
			  MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) < 0)
		return jail_error(err, errlen, errno,
						  "mount namespace: mount proc on %s", NEWROOT "/proc");

	/* exec allowed on /tmp: libffi (ctypes callbacks) maps code from it */
	snprintf(opts, sizeof(opts), "size=%dm,mode=1777", spec->tmp_size_mb);
	if (make_dir(NEWROOT "/tmp", 01777, err, errlen) < 0 ||
		mount_tmpfs(NEWROOT "/tmp", opts, MS_NOSUID | MS_NODEV, err, errlen) < 0)
		return -1;

	snprintf(src, sizeof(src), OLDROOT "%s", workspace);
	if (make_dir(NEWROOT "/workspace", 0755, err, errlen) < 0 ||
		bind_path(src, NEWROOT "/workspace", MS_NOSUID | MS_NODEV, err, errlen) < 0)
		return -1;
	return 0;
}

int
mountns_build_root(const JailSpec *spec, char *err, size_t errlen)
{
	char		workspace[PATH_MAX];
	struct stat st;

	if (spec->workspace == NULL || spec->workspace[0] != '/')
		return jail_error(err, errlen, EINVAL,
						  "mount namespace: workspace must be an absolute path");
	if (realpath(spec->workspace, workspace) == NULL)
		return jail_error(err, errlen, errno,
						  "mount namespace: resolve workspace %s", spec->workspace);
	if (stat(workspace, &st) < 0 || !S_ISDIR(st.st_mode))
		return jail_error(err, errlen, errno ? errno : ENOTDIR,
						  "mount namespace: workspace %s is not a directory",
						  workspace);
	if (spec->tmp_size_mb <= 0)
		return jail_error(err, errlen, EINVAL,
						  "mount namespace: tmp_size_mb must be positive");

	/* nothing we mount from here on may propagate to the host */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return jail_error(err, errlen, errno, "mount namespace: make / rprivate");

	if (mount_tmpfs(STAGE, "size=64k,nr_inodes=16,mode=0755",
					MS_NOSUID | MS_NODEV | MS_NOEXEC, err, errlen) < 0 ||
		make_dir(STAGE OLDROOT, 0755, err, errlen) < 0)
		return -1;
	if (syscall(SYS_pivot_root, STAGE, STAGE OLDROOT) < 0)
		return jail_error(err, errlen, errno,
						  "mount namespace: pivot_root into the staging tmpfs");
	if (chdir("/") < 0)
		return jail_error(err, errlen, errno, "mount namespace: chdir / (staging)");

	if (assemble_new_root(spec, workspace, err, errlen) < 0)
		return -1;

	/* drop the host's tree from this namespace */
	if (umount2(OLDROOT, MNT_DETACH) < 0)
		return jail_error(err, errlen, errno, "mount namespace: detach old root");

	/*
	 * pivot_root(".", "."): the staging root ends up stacked on top of the
	 * new root and is then detached (bubblewrap does the same).
	 */
	if (chdir(NEWROOT) < 0)
		return jail_error(err, errlen, errno, "mount namespace: chdir %s", NEWROOT);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return jail_error(err, errlen, errno, "mount namespace: pivot_root into the new root");
	if (umount2(".", MNT_DETACH) < 0)
		return jail_error(err, errlen, errno, "mount namespace: detach staging root");
	if (chdir("/") < 0)
		return jail_error(err, errlen, errno, "mount namespace: chdir /");

	if (mount(NULL, "/", NULL,
			  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return jail_error(err, errlen, errno, "mount namespace: remount / read-only");

	if (chdir("/workspace") < 0)
		return jail_error(err, errlen, errno, "mount namespace: chdir /workspace");
	return 0;
}
