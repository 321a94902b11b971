/*-------------------------------------------------------------------------
 *
 * files.c
 *	  Streamed file upload and download between HTTP and a session
 *	  workspace, one FILE_CHUNK_BYTES piece per SQL call.
 *
 * An upload may be as large as MAX_FILE_SIZE_MB (500 MB by default), so the
 * body is never held whole: every full chunk goes to pi.write_file with
 * append = true after the first.  A download reads pi.read_file chunk by
 * chunk as libmicrohttpd asks for more.  Each piece is one call of
 * op_write_file_chunk or op_read_file_chunk (ops.c), which MCP uses too.
 *
 *-------------------------------------------------------------------------
 */
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
	json_t	   *last;			/* pi.write_file's answer */
	GwError		err;
} Upload;

static void
upload_free(void *p)
{
	Upload	   *u = p;

	if (u->pp)
		MHD_destroy_post_processor(u->pp);
	db_release(u->conn);
	json_decref(u->last);
	free(u->buf);
	free(u);
}

static void
upload_flush(Upload *u)
{
	json_t	   *r;

	if (u->err.http_status != 0)
		return;
	if (u->session_id[0] == '\0' || u->path[0] == '\0')
	{
		gw_error_set(&u->err, 400, "invalid_request",
					 "session_id and path are needed before the file data: put "
					 "them in the query string or in form fields before the file");
		return;
	}
	if (u->conn == NULL && (u->conn = db_acquire(&u->err)) == NULL)
		return;
	r = op_write_file_chunk(u->conn, u->session_id, u->path, u->buf, u->buf_len,
						  u->chunks > 0, &u->err);
	if (r == NULL)
		return;
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
			upload_flush(u);
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

enum MHD_Result
files_upload_finish(Request *req)
{
	Upload	   *u = req->state ? req->state : upload_start(req);
	json_t	   *out;

	if (u == NULL)
		return http_reply_error(req, &req->err);
	/* the last partial chunk; an empty upload still creates the file */
	if (u->buf_len > 0 || u->chunks == 0)
		upload_flush(u);
	if (u->err.http_status != 0)
		return http_reply_error(req, &u->err);
	out = u->last ? json_incref(u->last) : json_object();
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
	int64_t		next_offset;
	bool		eof;
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
	free(d->chunk);
	d->chunk = op_read_file_chunk(d->conn, d->session_id, d->path,
								d->next_offset, FILE_CHUNK_BYTES,
								&d->chunk_len, err);
	if (d->chunk == NULL)
		return false;
	d->chunk_pos = 0;
	d->next_offset += d->chunk_len;
	d->eof = d->chunk_len < FILE_CHUNK_BYTES;
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
		if (d->eof)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (!download_next(d, &err))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (d->chunk_len == 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	n = d->chunk_len - d->chunk_pos;
	if (n > max)
		n = max;
	memcpy(buf, d->chunk + d->chunk_pos, n);
	d->chunk_pos += n;
	return n;
}

/* Content-Type from the extension: what browsers and assistants expect. */
static const char *
guess_mime(const char *path)
{
	static const char *const table[][2] = {
		{".csv", "text/csv"}, {".txt", "text/plain; charset=utf-8"},
		{".json", "application/json"}, {".png", "image/png"},
		{".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
		{".svg", "image/svg+xml"}, {".html", "text/html"},
		{".pdf", "application/pdf"}, {".md", "text/markdown"},
		{".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{".parquet", "application/vnd.apache.parquet"}, {".py", "text/x-python"},
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(table) / sizeof(table[0]); i++)
		if (strcasecmp(dot, table[i][0]) == 0)
			return table[i][1];
	return "application/octet-stream";
}

enum MHD_Result
files_download(Request *req)
{
	const char *sid = http_arg(req, "session_id");
	const char *path = http_arg(req, "path");
	const char *base;
	char		disposition[1100];
	Download   *d;
	GwError		err = {0};
	struct MHD_Response *resp;

	if (sid == NULL || path == NULL)
		return http_error(req, 400, "invalid_request",
						  "session_id and path are required query parameters");
	if ((d = calloc(1, sizeof(Download))) == NULL)
		return http_error(req, 503, "out_of_memory", "the gateway is out of memory");
	snprintf(d->session_id, sizeof(d->session_id), "%s", sid);
	snprintf(d->path, sizeof(d->path), "%s", path);
	/* the first chunk before the headers, so a missing file is a clean 404 */
	if ((d->conn = db_acquire(&err)) == NULL || !download_next(d, &err))
	{
		download_free(d);
		return http_reply_error(req, &err);
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, FILE_CHUNK_BYTES,
											 download_reader, d, download_free);
	if (resp == NULL)
	{
		download_free(d);
		return http_reply(req, 503, NULL);	/* out of memory: close */
	}
	MHD_add_response_header(resp, "Content-Type", guess_mime(path));
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	snprintf(disposition, sizeof(disposition), "attachment; filename=\"%.1000s\"",
			 strpbrk(base, "\"\\\r\n") ? "download" : base);
	MHD_add_response_header(resp, "Content-Disposition", disposition);
	return http_reply(req, 200, resp);
}
