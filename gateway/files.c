/*-------------------------------------------------------------------------
 *
 * files.c
 *	  Streamed file upload and download between HTTP and a session
 *	  workspace, one FILE_CHUNK_BYTES piece per SQL call.
 *
 * An upload may be as large as MAX_FILE_SIZE_MB (500 MB by default), so the
 * body is never held whole.  One that fits in a chunk is one pi.write_file
 * call, which writes the file whole or not at all.  A larger one goes
 * chunk by chunk into a part file of the workspace (".pi-upload-<random>",
 * appended to after the first chunk), which pi.finish_upload then makes
 * the file: renamed over it, or with append=true added after its content
 * (so a client may send a large file in several requests).  An upload that
 * fails part-way (quota, size, a malformed body, the client gone) deletes
 * its part file, so the file is either written whole or not changed at
 * all, and nothing is left behind.  While a file is replaced, its old
 * version and the part both count against the workspace quota.  A download
 * looks the file up with pi.file_info (its size answers a Range or an
 * offset and length, and a missing file is a clean 404), then reads
 * pi.read_file chunk by chunk as libmicrohttpd asks for more.  Each piece
 * is one call of op_write_file_chunk or op_read_file_chunk (ops.c), which
 * MCP uses too.  Without session_id both work in the caller's default
 * session (pi.default_session), whose id the answer names.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

/* The post processor's own buffer: multipart boundaries and field names. */
#define POST_PROCESSOR_BUFFER 65536

/* ---- upload ---------------------------------------------------------- */

typedef struct Upload
{
	PGconn	   *conn;
	struct MHD_PostProcessor *pp;	/* multipart only */
	char		session_id[64];
	char		path[1024];
	char	   *buf;
	size_t		buf_len;
	int64_t		written;
	int			chunks;
	bool		append;			/* ?append=true: add to the file's content */
	char		part[40];		/* the part file, "" when none (yet) */
	json_t	   *last;			/* pi.write_file's or pi.finish_upload's answer */
	GwError		err;
} Upload;

/*
 * Delete the part file of an upload that failed or was abandoned, so it
 * leaves nothing behind.  Best effort: a connection that broke meanwhile
 * cannot, and the part is then an ordinary hidden file of the workspace.
 */
static void
upload_drop_part(Upload *u)
{
	const char *values[2] = {u->session_id, u->part};
	GwError		e2 = {0};

	if (u->part[0] == '\0' || u->conn == NULL || PQstatus(u->conn) != CONNECTION_OK)
		return;
	json_decref(db_exec_json(u->conn,
							 "SELECT to_jsonb(pi.delete_file(coalesce($1::uuid, pi.default_session()), $2))",
							 2, values, &e2));
	u->part[0] = '\0';
}

static void
upload_free(void *p)
{
	Upload	   *u = p;

	upload_drop_part(u);
	if (u->pp)
		MHD_destroy_post_processor(u->pp);
	db_release(u->conn);
	json_decref(u->last);
	free(u->buf);
	free(u);
}

/*
 * An error about the part file in terms of the file: pi.write_file names
 * the path it wrote ("file \".pi-upload-...\" would be larger than ..."),
 * which the client never named.
 */
static void
upload_error_names_path(Upload *u)
{
	char	   *fields[3] = {u->err.message, u->err.detail, u->err.hint};
	size_t		sizes[3] = {sizeof(u->err.message), sizeof(u->err.detail),
	sizeof(u->err.hint)};

	for (int i = 0; i < 3; i++)
	{
		char	   *at = u->part[0] ? strstr(fields[i], u->part) : NULL;
		char		text[2048];

		if (at == NULL)
			continue;
		snprintf(text, sizeof(text), "%.*s%s%s", (int) (at - fields[i]), fields[i],
				 u->path, at + strlen(u->part));
		/* cut between characters if it is longer now */
		gw_utf8_copy(fields[i], sizes[i], text);
	}
}

/*
 * Write the buffered bytes: the whole file at once when it is the only
 * chunk (last, none before), else the next chunk of the part file.
 */
static void
upload_flush(Upload *u, bool last)
{
	json_t	   *r;
	bool		whole = last && u->chunks == 0;

	if (u->err.http_status != 0)
		return;
	if (u->path[0] == '\0')
	{
		gw_error_set(&u->err, 400, "invalid_request",
					 "the file's path is needed before its data: put path (and "
					 "session_id, append) in the query string or in form fields "
					 "before the file, or give the file part a filename");
		return;
	}
	if (u->conn == NULL && (u->conn = db_acquire(&u->err)) == NULL)
		return;
	if (!whole && u->part[0] == '\0')
	{
		memcpy(u->part, ".pi-upload-", 11);
		gw_random_hex(u->part + 11, 12);
	}
	r = op_write_file_chunk(u->conn, u->session_id, whole ? u->path : u->part,
							u->buf, u->buf_len,
							whole ? u->append : u->chunks > 0, &u->err);
	if (r == NULL)
	{
		upload_error_names_path(u);
		return;
	}
	/* a default session is resolved once: the next chunks name it */
	if (u->session_id[0] == '\0' &&
		json_is_string(json_object_get(r, "session_id")))
		snprintf(u->session_id, sizeof(u->session_id), "%s",
				 json_string_value(json_object_get(r, "session_id")));
	json_decref(u->last);
	u->last = r;
	u->written += u->buf_len;
	u->chunks++;
	u->buf_len = 0;
}

static void
upload_bytes(Upload *u, const char *data, size_t len)
{
	while (len > 0 && u->err.http_status == 0)
	{
		size_t		n = FILE_CHUNK_BYTES - u->buf_len;

		if (n > len)
			n = len;
		memcpy(u->buf + u->buf_len, data, n);
		u->buf_len += n;
		data += n;
		len -= n;
		if (u->buf_len == FILE_CHUNK_BYTES)
			upload_flush(u, false);
	}
}

static enum MHD_Result
upload_field(void *cls, enum MHD_ValueKind kind, const char *key,
			 const char *filename, const char *content_type,
			 const char *transfer_encoding, const char *data,
			 uint64_t off, size_t size)
{
	Upload	   *u = cls;

	(void) kind;
	(void) content_type;
	(void) transfer_encoding;
	if (filename == NULL)
	{
		/* a plain field; values arrive in pieces, so append at off */
		char	   *dst = strcmp(key, "session_id") == 0 ? u->session_id :
			strcmp(key, "path") == 0 ? u->path : NULL;
		size_t		cap = dst == u->session_id ? sizeof(u->session_id) : sizeof(u->path);

		if (strcmp(key, "append") == 0 && off == 0)
		{
			char		value[8];

			snprintf(value, sizeof(value), "%.*s", (int) (size < 7 ? size : 7), data);
			u->append = strcmp(value, "true") == 0;
			if (u->err.http_status == 0)
				(void) op_check_text_arg(op_find("upload_file"), "append", value, &u->err);
		}

		if (dst != NULL && off + size < cap)
		{
			memcpy(dst + off, data, size);
			dst[off + size] = '\0';
		}
		return MHD_YES;
	}
	if (u->path[0] == '\0')
		snprintf(u->path, sizeof(u->path), "%s", filename);
	upload_bytes(u, data, size);
	return MHD_YES;
}

/* The upload's state, made on its first piece; NULL when out of memory. */
static Upload *
upload_start(Request *req)
{
	Upload	   *u = calloc(1, sizeof(Upload));
	const char *ct = http_header(req, "Content-Type");
	const char *sid = http_arg(req, "session_id");
	const char *path = http_arg(req, "path");
	const char *append = http_arg(req, "append");

	if (u == NULL || (u->buf = malloc(FILE_CHUNK_BYTES)) == NULL)
	{
		free(u);
		gw_error_set(&req->err, 503, "out_of_memory",
					 "the gateway is out of memory; retry the upload");
		req->err.retry_after = 1;
		return NULL;
	}
	snprintf(u->session_id, sizeof(u->session_id), "%s", sid ? sid : "");
	snprintf(u->path, sizeof(u->path), "%s", path ? path : "");
	u->append = append != NULL && strcmp(append, "true") == 0;
	if (append != NULL)
		(void) op_check_text_arg(op_find("upload_file"), "append", append, &u->err);
	if (ct != NULL && strncasecmp(ct, "multipart/form-data", 19) == 0)
		u->pp = MHD_create_post_processor(req->conn, POST_PROCESSOR_BUFFER,
										  upload_field, u);
	req->state = u;
	req->free_state = upload_free;
	return u;
}

void
files_upload_data(Request *req, const char *data, size_t len)
{
	Upload	   *u = req->state ? req->state : upload_start(req);

	if (u == NULL || u->err.http_status != 0)
		return;
	if (u->pp != NULL)
	{
		if (MHD_post_process(u->pp, data, len) != MHD_YES &&
			u->err.http_status == 0)
			gw_error_set(&u->err, 400, "invalid_request",
						 "the multipart/form-data body is malformed");
	}
	else
		upload_bytes(u, data, len);
}

/* The part file becomes the file, whole (pi.finish_upload). */
static void
upload_finish_part(Upload *u)
{
	const char *values[4] = {u->session_id, u->part, u->path,
	u->append ? "true" : "false"};
	json_t	   *r;

	r = db_exec_json(u->conn,
					 "SELECT pi.finish_upload(d.sid, $2, $3, $4::boolean)"
					 " || jsonb_build_object('session_id', d.sid)"
					 " FROM (SELECT coalesce($1::uuid, pi.default_session()) AS sid) d",
					 4, values, &u->err);
	if (r == NULL)
	{
		upload_error_names_path(u);
		return;
	}
	u->part[0] = '\0';			/* it is the file now */
	json_decref(u->last);
	u->last = r;
}

enum MHD_Result
files_upload_finish(Request *req)
{
	Upload	   *u = req->state ? req->state : upload_start(req);
	json_t	   *out;

	if (u == NULL)
		return http_reply_error(req, &req->err);
	/* the last partial chunk; an empty upload still creates the file */
	if (u->buf_len > 0 || u->chunks == 0)
		upload_flush(u, true);
	if (u->err.http_status == 0 && u->part[0] != '\0')
		upload_finish_part(u);
	if (u->err.http_status != 0)
	{
		upload_drop_part(u);
		return http_reply_error(req, &u->err);
	}
	out = u->last ? json_incref(u->last) : json_object();
	if (json_object_get(out, "session_id") == NULL)
		json_object_set_new(out, "session_id", gw_json_string(u->session_id));
	if (json_object_get(out, "path") == NULL)
		json_object_set_new(out, "path", gw_json_string(u->path));
	json_object_set_new(out, "bytes_received", json_integer(u->written));
	return http_reply_json(req, 200, out);
}

/* ---- download -------------------------------------------------------- */

typedef struct Download
{
	PGconn	   *conn;
	char		session_id[64];
	char		path[1024];
	char	   *chunk;
	size_t		chunk_len;
	size_t		chunk_pos;
	int64_t		next_offset;	/* of the next chunk to read */
	int64_t		end;			/* one past the last byte to send */
} Download;

static void
download_free(void *p)
{
	Download   *d = p;

	db_release(d->conn);
	free(d->chunk);
	free(d);
}

static bool
download_next(Download *d, GwError *err)
{
	int64_t		want = d->end - d->next_offset;

	if (want > FILE_CHUNK_BYTES)
		want = FILE_CHUNK_BYTES;
	free(d->chunk);
	d->chunk = op_read_file_chunk(d->conn, d->session_id, d->path,
								  d->next_offset, want, &d->chunk_len, err);
	if (d->chunk == NULL)
		return false;
	d->chunk_pos = 0;
	d->next_offset += d->chunk_len;
	return true;
}

static ssize_t
download_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	Download   *d = cls;
	GwError		err = {0};
	size_t		n;

	(void) pos;
	if (d->chunk_pos == d->chunk_len)
	{
		if (d->next_offset >= d->end)
			return MHD_CONTENT_READER_END_OF_STREAM;
		/*
		 * The length was promised in Content-Length: a file that shrank
		 * since pi.file_info ends the connection early, so the client sees
		 * a short body instead of a complete-looking wrong one.
		 */
		if (!download_next(d, &err) || d->chunk_len == 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = d->chunk_len - d->chunk_pos;
	if (n > max)
		n = max;
	memcpy(buf, d->chunk + d->chunk_pos, n);
	d->chunk_pos += n;
	return n;
}

/* A query parameter that must be a byte count: false when it is not. */
static bool
byte_count_arg(Request *req, const char *name, int64_t *v)
{
	const char *s = http_arg(req, name);
	char	   *end;

	if (s == NULL)
		return true;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return *s >= '0' && *s <= '9' && *end == '\0' && errno == 0;
}

/*
 * The bytes [*start, *end) a "Range: bytes=..." header asks of a file of
 * size bytes.  RANGE_IGNORED for what a server may ignore (RFC 9110
 * 14.2): another unit, a malformed value, several ranges (answered with
 * the whole file: one body is simpler for every client than
 * multipart/byteranges).  RANGE_UNSATISFIABLE when it starts at or after
 * the end, or asks for the last 0 bytes.
 */
typedef enum RangeAnswer
{
	RANGE_IGNORED,
	RANGE_OK,
	RANGE_UNSATISFIABLE
} RangeAnswer;

static RangeAnswer
parse_range(const char *h, int64_t size, int64_t *start, int64_t *end)
{
	char	   *p;
	long long	a,
				b;

	if (strncasecmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL)
		return RANGE_IGNORED;
	h += 6;
	while (*h == ' ')
		h++;
	if (*h == '-')
	{
		/* the last b bytes */
		if (h[1] < '0' || h[1] > '9')
			return RANGE_IGNORED;
		errno = 0;
		b = strtoll(h + 1, &p, 10);
		if (*p != '\0' || errno != 0)
			return RANGE_IGNORED;
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		*start = b >= size ? 0 : size - b;
		*end = size;
		return RANGE_OK;
	}
	if (*h < '0' || *h > '9')
		return RANGE_IGNORED;
	errno = 0;
	a = strtoll(h, &p, 10);
	if (*p != '-' || errno != 0)
		return RANGE_IGNORED;
	if (p[1] == '\0')
		b = INT64_MAX - 1;
	else
	{
		if (p[1] < '0' || p[1] > '9')
			return RANGE_IGNORED;
		b = strtoll(p + 1, &p, 10);
		if (*p != '\0' || errno != 0 || b < a)
			return RANGE_IGNORED;
	}
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	*start = a;
	*end = b >= size - 1 ? size : b + 1;
	return RANGE_OK;
}

/* 416 with the size, as RFC 9110 asks: "Content-Range: bytes *\/size". */
static enum MHD_Result
reply_unsatisfiable(Request *req, int64_t size, const char *why)
{
	GwError		err = {0};
	struct MHD_Response *resp;
	char		cr[48];

	gw_error_set(&err, 416, "range_not_satisfiable",
				 "%s: the file has %lld bytes; ask for a range that starts "
				 "before its end", why, (long long) size);
	resp = http_json_response(gw_error_json(&err));
	snprintf(cr, sizeof(cr), "bytes */%lld", (long long) size);
	if (resp != NULL)
		MHD_add_response_header(resp, "Content-Range", cr);
	return http_reply(req, 416, resp);
}

/*
 * Which bytes to send: a Range header (206), or offset and length (200
 * with just those bytes), or the whole file.  Returns the status, or 0
 * with an answer already queued.
 */
static int
download_span(Request *req, Download *d, int64_t size, int64_t *start)
{
	const char *range = http_header(req, "Range");
	int64_t		offset = 0,
				length = -1;

	if (!byte_count_arg(req, "offset", &offset) ||
		!byte_count_arg(req, "length", &length))
	{
		http_error(req, 400, "invalid_request",
				   "offset and length must be whole numbers of bytes, from 0 to "
				   "9223372036854775807");
		return 0;
	}
	if (range != NULL && (http_arg(req, "offset") || http_arg(req, "length")))
	{
		http_error(req, 400, "invalid_request",
				   "give either a Range header or offset/length, not both");
		return 0;
	}
	if (range != NULL)
	{
		RangeAnswer a = parse_range(range, size, start, &d->end);

		if (a == RANGE_UNSATISFIABLE)
		{
			reply_unsatisfiable(req, size, "the Range starts at or after the end of the file");
			return 0;
		}
		if (a == RANGE_OK)
			return 206;
	}
	if (offset > size)
	{
		reply_unsatisfiable(req, size, "offset is beyond the end of the file");
		return 0;
	}
	*start = offset;
	d->end = (length < 0 || length > size - offset) ? size : offset + length;
	return 200;
}

enum MHD_Result
files_download(Request *req)
{
	const char *sid = http_arg(req, "session_id");
	const char *path = http_arg(req, "path");
	const char *base;
	char		header[1100];
	Download   *d;
	GwError		err = {0};
	struct MHD_Response *resp;
	json_t	   *info;
	int64_t		size,
				start = 0;
	int			status;

	if (path == NULL)
		return http_error(req, 400, "invalid_request",
						  "path is a required query parameter (session_id is "
						  "optional: without it, your default workspace)");
	/* before the database: offset and length as their schema has them */
	if ((http_arg(req, "offset") != NULL &&
		 !op_check_text_arg(op_find("download_file"), "offset",
							http_arg(req, "offset"), &err)) ||
		(http_arg(req, "length") != NULL &&
		 !op_check_text_arg(op_find("download_file"), "length",
							http_arg(req, "length"), &err)))
		return http_reply_error(req, &err);
	if ((d = calloc(1, sizeof(Download))) == NULL)
		return http_error(req, 503, "out_of_memory", "the gateway is out of memory");
	snprintf(d->path, sizeof(d->path), "%s", path);
	/* the size first, so a missing file is a clean 404 and a Range fits */
	if ((d->conn = db_acquire(&err)) == NULL ||
		(info = op_file_info(d->conn, sid, path, &err)) == NULL)
	{
		download_free(d);
		return http_reply_error(req, &err);
	}
	size = json_integer_value(json_object_get(info, "size"));
	snprintf(d->session_id, sizeof(d->session_id), "%s",
			 json_string_value(json_object_get(info, "session_id")) ?
			 json_string_value(json_object_get(info, "session_id")) : "");
	json_decref(info);
	if ((status = download_span(req, d, size, &start)) == 0)
	{
		download_free(d);
		return MHD_YES;
	}
	d->next_offset = start;
	resp = MHD_create_response_from_callback(d->end - start, FILE_CHUNK_BYTES,
											 download_reader, d, download_free);
	if (resp == NULL)
	{
		download_free(d);
		return http_reply(req, 503, NULL);	/* out of memory: close */
	}
	MHD_add_response_header(resp, "Content-Type", gw_mime_type(path));
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	if (status == 206)
	{
		snprintf(header, sizeof(header), "bytes %lld-%lld/%lld", (long long) start,
				 (long long) d->end - 1, (long long) size);
		MHD_add_response_header(resp, "Content-Range", header);
	}
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	snprintf(header, sizeof(header), "attachment; filename=\"%.1000s\"",
			 strpbrk(base, "\"\\\r\n") ? "download" : base);
	MHD_add_response_header(resp, "Content-Disposition", header);
	return http_reply(req, status, resp);
}
