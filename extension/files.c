/*-------------------------------------------------------------------------
 *
 * files.c
 *	  The workspace files functions: pi.write_file, pi.finish_upload,
 *	  pi.read_file, pi.file_info, pi.list_files and pi.delete_file.
 *
 * Paths are resolved beneath the session workspace by workspace_path.c.
 * Writes that replace a file go to a temporary name first and are renamed
 * into place, so a failed write (quota, size, disk full) loses nothing; an
 * append that fails is cut back to the file's old size.  An upload in
 * many pieces (the gateway's streamed uploads) is written to a part file
 * and moved into place whole by pi.finish_upload.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "guc.h"
#include "jsonb_util.h"
#include "sessions.h"
#include "tenant_limits.h"
#include "workspace_path.h"

/* A listing or a quota check looks at this many entries at most. */
#define WALK_MAX_ENTRIES	WORKSPACE_BYTES_MAX_ENTRIES

PG_FUNCTION_INFO_V1(pi_write_file);
PG_FUNCTION_INFO_V1(pi_finish_upload);
PG_FUNCTION_INFO_V1(pi_read_file);
PG_FUNCTION_INFO_V1(pi_file_info);
PG_FUNCTION_INFO_V1(pi_list_files);
PG_FUNCTION_INFO_V1(pi_delete_file);

/*
 * Open the workspace of the session argument as a directory descriptor;
 * its path goes to *path when asked for.
 */
static int
open_session_root(FunctionCallInfo fcinfo, char **path)
{
	char	   *workspace;
	int			fd;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("session_id must not be null"),
				 errhint("Create a session with pi.create_session() and pass its id.")));
	workspace = pi_session_workspace(PG_GETARG_UUID_P(0), false);
	fd = workspace_keep_fd(open(workspace, O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the session workspace \"%s\": %m", workspace)));
	if (path != NULL)
		*path = workspace;
	return fd;
}

static char *
checked_path(FunctionCallInfo fcinfo, int argno)
{
	char	   *path;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("path must not be null"),
				 errhint("Pass a path relative to the session workspace, e.g. 'data/input.csv'.")));
	path = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	workspace_check_path(path);
	return path;
}

/* What a workspace holds: bytes of its files, and its names */
typedef struct WorkspaceUsage
{
	int64		bytes;
	int64		entries;
} WorkspaceUsage;

static void
sum_file_size(int dirfd, const char *name, const char *relpath,
			  const struct stat *st, void *arg)
{
	WorkspaceUsage *u = (WorkspaceUsage *) arg;

	u->entries++;
	if (S_ISREG(st->st_mode))
		u->bytes += st->st_size;
}

static WorkspaceUsage
workspace_usage(int rootfd)
{
	WorkspaceUsage u = {0, 0};

	/* one past the file-count limit is enough to know it is reached */
	workspace_walk(rootfd, Max(WALK_MAX_ENTRIES, (int64) pi_max_workspace_files + 1),
				   sum_file_size, &u);
	return u;
}

/*
 * Refuse a write that would exceed the file size limit, the session's
 * quota, its tenant's workspace limit, or (for a new file) the file-count
 * limit.  Returns what the workspace holds before the write.
 */
static int64
check_write_limits(int rootfd, PiTally *tally, const char *path,
				   int64 new_size, int64 growth, bool creates)
{
	int64		max_file = (int64) pi_max_file_size_mb * 1024 * 1024;
	int64		quota = (int64) pi_max_workspace_mb * 1024 * 1024;
	WorkspaceUsage usage;
	int64		used;

	if (new_size > max_file)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("file \"%s\" would be larger than pi.max_file_size_mb (%d MB)",
						path, pi_max_file_size_mb),
				 errhint("Split the data into smaller files, or raise pi.max_file_size_mb.")));
	usage = workspace_usage(rootfd);
	used = usage.bytes;
	if (creates && usage.entries + 1 > pi_max_workspace_files)
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("the session workspace would hold more than pi.max_workspace_files (%d) files and folders",
						pi_max_workspace_files),
				 errdetail("The workspace holds %lld files and folders.",
						   (long long) usage.entries),
				 errhint("Delete files with pi.delete_file(), or raise pi.max_workspace_files.")));
	if (growth > 0 && used + growth > quota)
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("the session workspace would exceed its quota of %d MB",
						pi_max_workspace_mb),
				 errdetail("The workspace holds %lld bytes; this write adds %lld.",
						   (long long) used, (long long) growth),
				 errhint("Delete files with pi.delete_file(), or raise pi.max_workspace_mb.")));
	pi_tenant_check_workspace_write(tally, used, growth);
	return used;
}

static void
write_all(int fd, const char *data, size_t len, const char *path)
{
	while (len > 0)
	{
		ssize_t		n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write \"%s\" in the workspace: %m", path)));
		data += n;
		len -= n;
	}
}

static const char *mime_type(const char *path);

/* {path, size, modified}, and mime when it is not NULL */
static Jsonb *
file_info_jsonb(const char *path, const struct stat *st, const char *mime)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"path\": ");
	escape_json(&buf, path);
	appendStringInfo(&buf, ", \"size\": %lld, \"modified\": ", (long long) st->st_size);
	escape_json(&buf, timestamptz_to_str(time_t_to_timestamptz(st->st_mtim.tv_sec)));
	if (mime != NULL)
	{
		appendStringInfoString(&buf, ", \"mime\": ");
		escape_json(&buf, mime);
	}
	appendStringInfoChar(&buf, '}');
	return pi_jsonb_parse(buf.data);
}

/*
 * Write content to path (relative to the workspace open as rootfd), within
 * every limit; st gets the file's final state.  The tenant's tally lock is
 * held (tally), and the workspace's new size is recorded in its tally.
 */
static void
write_checked(int rootfd, PiTally *tally, const char *path, bytea *content, bool append,
			  struct stat *st)
{
	size_t		len = VARSIZE_ANY_EXHDR(content);
	const char *name;
	int			parentfd;
	int			fd;
	int64		old_size = 0;
	int64		growth;
	int64		used;
	char	   *tmpname = NULL;

	parentfd = workspace_keep_fd(workspace_open_parent(rootfd, path, true, &name));
	/* an append goes through the descriptor that was checked */
	fd = workspace_keep_fd(workspace_open_file(parentfd, name, path,
											   append ? O_WRONLY | O_APPEND : O_RDONLY, 0,
											   append ? "append to" : "write", true, st));
	if (fd >= 0)
		old_size = st->st_size;

	growth = append ? (int64) len : (int64) len - old_size;
	used = check_write_limits(rootfd, tally, path, append ? old_size + (int64) len : (int64) len,
							  growth, fd < 0);

	if (append)
	{
		if (fd < 0)
			fd = workspace_keep_fd(workspace_open_file(parentfd, name, path,
													   O_WRONLY | O_APPEND | O_CREAT, 0600,
													   "append to", false, st));
		/* a short write (disk full) leaves the file as it was */
		PG_TRY();
		{
			write_all(fd, VARDATA_ANY(content), len, path);
		}
		PG_CATCH();
		{
			/* if even that fails, the error on its way says the write failed */
			if (ftruncate(fd, old_size) != 0)
				elog(LOG, "could not cut \"%s\" back to its size before the write: %m", path);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	else
	{
		if (fd >= 0)
			workspace_close_fd(fd);

		/*
		 * A new version under a temporary name, renamed over the old one.
		 * The name is predictable, so a run may have put anything there (a
		 * FIFO would block an open for writing): it is removed, and the new
		 * file is made with O_EXCL, which never opens what exists.
		 */
		tmpname = psprintf(".%s.pi-upload-%d", name, MyProcPid);
		if (strlen(tmpname) > WORKSPACE_NAME_MAX)
			tmpname = psprintf(".pi-upload-%d", MyProcPid);
		(void) unlinkat(parentfd, tmpname, 0);
		fd = workspace_keep_fd(workspace_open_file(parentfd, tmpname, path,
												   O_WRONLY | O_CREAT | O_EXCL, 0600,
												   "write", false, st));
		PG_TRY();
		{
			write_all(fd, VARDATA_ANY(content), len, path);
		}
		PG_CATCH();
		{
			(void) unlinkat(parentfd, tmpname, 0);
			PG_RE_THROW();
		}
		PG_END_TRY();
		if (renameat(parentfd, tmpname, parentfd, name) != 0)
		{
			int			save = errno;

			(void) unlinkat(parentfd, tmpname, 0);
			workspace_report_error(path, "write", save);
		}
	}
	if (fstat(fd, st) != 0)
		workspace_report_error(path, "inspect", errno);
	workspace_close_fd(fd);
	workspace_close_fd(parentfd);
	pi_tally_record(tally, used + growth);
}

/*
 * pi.write_file(session_id uuid, path text, content bytea,
 *				 append boolean DEFAULT false) returns jsonb
 *
 * The tenant's writes are measured, checked and made one after the other
 * (its tally lock), so two at once cannot both pass its workspace limit.
 */
Datum
pi_write_file(PG_FUNCTION_ARGS)
{
	char	   *workspace;
	int			rootfd = open_session_root(fcinfo, &workspace);
	char	   *path = checked_path(fcinfo, 1);
	bool		append = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
	bytea	   *content;
	PiTally		tally;
	struct stat st;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("content must not be null"),
				 errhint("Pass the file's bytes; an empty file is ''::bytea.")));
	content = PG_GETARG_BYTEA_PP(2);

	pi_tenant_lock_workspace(workspace, &tally);
	PG_TRY();
	{
		write_checked(rootfd, &tally, path, content, append, &st);
	}
	PG_CATCH();
	{
		pi_tally_abandon(&tally);
		PG_RE_THROW();
	}
	PG_END_TRY();
	pi_tally_unlock(&tally);
	workspace_close_fd(rootfd);
	PG_RETURN_JSONB_P(file_info_jsonb(path, &st, NULL));
}

/*
 * pi.finish_upload(session_id uuid, part text, path text,
 *					append boolean DEFAULT false) returns jsonb
 *
 * The end of an upload sent in pieces: part (a workspace file the pieces
 * were appended to) becomes path whole.  Without append, or when path does
 * not exist, part is renamed over path, which is atomic.  With append,
 * part's bytes are added after path's; if that fails part-way, path is cut
 * back to its old size.  Either way part is gone after success and
 * untouched after failure, and path is either complete or as it was.
 *
 * The quota was checked as the pieces arrived (part holds what path will
 * gain), so only the file size limit is checked here, for path's new size.
 */
static void
finish_upload_locked(int rootfd, PiTally *tally, const char *part, const char *path,
					 bool append, struct stat *st_out)
{
	const char *part_name;
	const char *name;
	int			partdir;
	int			parentfd;
	int			srcfd;
	int			fd = -1;
	struct stat part_st;
	struct stat st;

	if (strcmp(part, path) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the part file and the file it becomes are both \"%s\"", path),
				 errhint("Write the pieces to a part file of another name first.")));
	partdir = workspace_keep_fd(workspace_open_parent(rootfd, part, false, &part_name));
	srcfd = workspace_keep_fd(workspace_open_file(partdir, part_name, part, O_RDONLY, 0,
												  "read", false, &part_st));
	parentfd = workspace_keep_fd(workspace_open_parent(rootfd, path, true, &name));
	if (append)
		fd = workspace_keep_fd(workspace_open_file(parentfd, name, path,
												   O_WRONLY | O_APPEND, 0,
												   "append to", true, &st));
	if (fd < 0)
	{
		/* the whole file at once: path is the new one, or as it was */
		if (renameat(partdir, part_name, parentfd, name) != 0)
			workspace_report_error(path, "write", errno);
		if (fstat(srcfd, &st) != 0)
			workspace_report_error(path, "inspect", errno);
	}
	else
	{
		off_t		old_size = st.st_size;
		char	   *buf = palloc(1024 * 1024);

		check_write_limits(rootfd, tally, path,
						   (int64) old_size + (int64) part_st.st_size, 0, false);
		PG_TRY();
		{
			for (;;)
			{
				ssize_t		n = read(srcfd, buf, 1024 * 1024);

				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0)
					ereport(ERROR,
							(errcode_for_file_access(),
							 errmsg("could not read \"%s\" in the workspace: %m", part)));
				if (n == 0)
					break;
				CHECK_FOR_INTERRUPTS();
				write_all(fd, buf, n, path);
			}
		}
		PG_CATCH();
		{
			/* if even that fails, the error on its way says the write failed */
			if (ftruncate(fd, old_size) != 0)
				old_size = -1;
			PG_RE_THROW();
		}
		PG_END_TRY();
		pfree(buf);
		(void) unlinkat(partdir, part_name, 0);
		if (fstat(fd, &st) != 0)
			workspace_report_error(path, "inspect", errno);
		workspace_close_fd(fd);
	}
	workspace_close_fd(srcfd);
	workspace_close_fd(parentfd);
	workspace_close_fd(partdir);
	*st_out = st;
}

/*
 * Under the tenant's tally lock, like every write.  What the session holds
 * afterwards is not measured here (a rename may have replaced a file):
 * its tally entry is left to be walked when next needed.
 */
Datum
pi_finish_upload(PG_FUNCTION_ARGS)
{
	char	   *workspace;
	int			rootfd = open_session_root(fcinfo, &workspace);
	char	   *part = checked_path(fcinfo, 1);
	char	   *path = checked_path(fcinfo, 2);
	bool		append = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
	PiTally		tally;
	struct stat st;

	pi_tenant_lock_workspace(workspace, &tally);
	PG_TRY();
	{
		finish_upload_locked(rootfd, &tally, part, path, append, &st);
	}
	PG_CATCH();
	{
		pi_tally_abandon(&tally);
		PG_RE_THROW();
	}
	PG_END_TRY();
	pi_tally_abandon(&tally);
	workspace_close_fd(rootfd);
	PG_RETURN_JSONB_P(file_info_jsonb(path, &st, NULL));
}

/*
 * pi.read_file(session_id uuid, path text, "offset" bigint DEFAULT 0,
 *				length bigint DEFAULT NULL) returns bytea
 */
Datum
pi_read_file(PG_FUNCTION_ARGS)
{
	int			rootfd = open_session_root(fcinfo, NULL);
	char	   *path = checked_path(fcinfo, 1);
	int64		offset = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
	int64		length;
	int			fd;
	struct stat st;
	bytea	   *result;
	int64		done = 0;

	if (offset < 0 || (!PG_ARGISNULL(3) && PG_GETARG_INT64(3) < 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be 0 or more bytes, not %lld",
						offset < 0 ? "offset" : "length",
						(long long) (offset < 0 ? offset : PG_GETARG_INT64(3))),
				 errhint("Pass the byte offset to start at and how many bytes to read.")));

	fd = workspace_keep_fd(workspace_open_file(rootfd, path, path, O_RDONLY, 0, "read",
											   false, &st));

	length = Max(st.st_size - offset, 0);
	if (!PG_ARGISNULL(3))
		length = Min(length, PG_GETARG_INT64(3));
	if (length > (int64) (MaxAllocSize - VARHDRSZ))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("\"%s\" is too large to read in one call (%lld bytes)", path,
						(long long) length),
				 errhint("Read it in pieces with the offset and length arguments.")));

	result = (bytea *) palloc(VARHDRSZ + length);
	while (done < length)
	{
		ssize_t		n = pread(fd, VARDATA(result) + done, length - done, offset + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			workspace_report_error(path, "read", errno);
		if (n == 0)
			break;				/* the file shrank meanwhile */
		done += n;
	}
	SET_VARSIZE(result, VARHDRSZ + done);
	workspace_close_fd(fd);
	workspace_close_fd(rootfd);
	PG_RETURN_BYTEA_P(result);
}

/*
 * pi.file_info(session_id uuid, path text) returns jsonb: {path, size,
 * modified, mime} of one file, so a reader can ask for a range of it (or
 * refuse it whole) before reading a byte.  Opened as pi.read_file opens
 * it: only a regular file inside the workspace.
 */
Datum
pi_file_info(PG_FUNCTION_ARGS)
{
	int			rootfd = open_session_root(fcinfo, NULL);
	char	   *path = checked_path(fcinfo, 1);
	int			fd;
	struct stat st;

	fd = workspace_keep_fd(workspace_open_file(rootfd, path, path, O_RDONLY, 0, "read",
											   false, &st));
	workspace_close_fd(fd);
	workspace_close_fd(rootfd);
	PG_RETURN_JSONB_P(file_info_jsonb(path, &st, mime_type(path)));
}

static const char *
mime_type(const char *path)
{
	static const struct
	{
		const char *suffix;
		const char *mime;
	}			types[] =
	{
		{".csv", "text/csv"}, {".tsv", "text/tab-separated-values"},
		{".txt", "text/plain"}, {".md", "text/markdown"}, {".py", "text/x-python"},
		{".json", "application/json"}, {".html", "text/html"}, {".xml", "application/xml"},
		{".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
		{".gif", "image/gif"}, {".svg", "image/svg+xml"}, {".pdf", "application/pdf"},
		{".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{".xls", "application/vnd.ms-excel"}, {".parquet", "application/vnd.apache.parquet"},
		{".zip", "application/zip"}, {".gz", "application/gzip"},
	};
	size_t		plen = strlen(path);

	for (int i = 0; i < lengthof(types); i++)
	{
		size_t		slen = strlen(types[i].suffix);

		if (plen > slen && pg_strcasecmp(path + plen - slen, types[i].suffix) == 0)
			return types[i].mime;
	}
	return "application/octet-stream";
}

typedef struct ListState
{
	ReturnSetInfo *rsinfo;
} ListState;

static void
add_row(int dirfd, const char *name, const char *relpath,
		const struct stat *st, void *arg)
{
	ListState  *state = (ListState *) arg;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	/*
	 * Only regular files are listed: what else a run leaves (folders, links,
	 * FIFOs, sockets) cannot be read or downloaded.  The walk never opens
	 * them, it only looks at their type (fstatat), so none can block it.
	 */
	if (!S_ISREG(st->st_mode))
		return;
	values[0] = CStringGetTextDatum(relpath);
	values[1] = Int64GetDatum(st->st_size);
	values[2] = TimestampTzGetDatum(time_t_to_timestamptz(st->st_mtim.tv_sec));
	values[3] = CStringGetTextDatum(mime_type(relpath));
	tuplestore_putvalues(state->rsinfo->setResult, state->rsinfo->setDesc, values, nulls);
}

/*
 * pi.list_files(session_id uuid) returns table (path text, size bigint,
 * modified timestamptz, mime text)
 */
Datum
pi_list_files(PG_FUNCTION_ARGS)
{
	int			rootfd = open_session_root(fcinfo, NULL);
	ListState	state;

	InitMaterializedSRF(fcinfo, 0);
	state.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	workspace_walk(rootfd, WALK_MAX_ENTRIES, add_row, &state);
	workspace_close_fd(rootfd);
	return (Datum) 0;
}

/*
 * pi.delete_file(session_id uuid, path text) returns boolean: true when the
 * file (or empty folder) was removed, false when there was none.
 */
Datum
pi_delete_file(PG_FUNCTION_ARGS)
{
	char	   *workspace;
	int			rootfd = open_session_root(fcinfo, &workspace);
	PiTally		tally;
	char	   *path = checked_path(fcinfo, 1);
	const char *name;
	int			parentfd;
	struct stat st;

	parentfd = workspace_keep_fd(workspace_open_parent(rootfd, path, false, &name));
	/* the entry is unlinked, never opened: a FIFO or a socket goes too */
	if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
	{
		if (errno == ENOENT)
		{
			workspace_close_fd(parentfd);
			workspace_close_fd(rootfd);
			PG_RETURN_BOOL(false);
		}
		workspace_report_error(path, "delete", errno);
	}
	/* what it frees is taken off the tenant's tally, under its lock */
	pi_tenant_lock_workspace(workspace, &tally);
	if (unlinkat(parentfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0)
	{
		int			save = errno;

		pi_tally_unlock(&tally);
		if (save == ENOTEMPTY || save == EEXIST)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("folder \"%s\" is not empty", path),
					 errhint("Delete the files in it first.")));
		workspace_report_error(path, "delete", save);
	}
	if (S_ISREG(st.st_mode))
		pi_tally_adjust(&tally, -(int64) st.st_size);
	pi_tally_unlock(&tally);
	workspace_close_fd(parentfd);
	workspace_close_fd(rootfd);
	PG_RETURN_BOOL(true);
}
