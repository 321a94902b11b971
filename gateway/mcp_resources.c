/*-------------------------------------------------------------------------
 *
 * mcp_resources.c
 *	  Workspace files as MCP resources: resources/list and resources/read
 *	  over the conversation's own session, and the resource_link content
 *	  that hands a client the files a run wrote.
 *
 * An MCP session works in one pi session (mcp.c makes it on the first tool
 * call that needs one), and its resources are that session's workspace
 * files, named pi://sessions/<session id>/files/<path>.  resources/read
 * serves only URIs of that session: a URI naming any other session, the
 * same tenant's or not, is "not found", as a file that does not exist, so
 * a client can neither read nor learn of what is not its conversation's.
 * Every read also goes through the pi functions as the request's tenant,
 * whose checks would refuse another tenant's session anyway.
 *
 * mcp.c passes the pi session id in; this file calls only below it
 * (mcp_content.c for base64, ops.c, db.c).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "mcp_internal.h"

/*
 * resources/read answers a file whole, base64 in one JSON message for a
 * binary one: larger files are read in parts with download_file (offset,
 * length) or GET /api/files/download with Range.
 */
#define RESOURCE_READ_MAX_BYTES (8 * 1024 * 1024)

/* resources/list pages: a cursor is the index of the next file. */
#define RESOURCES_PAGE 500

/*
 * A run's result links at most this many files (a run that writes
 * thousands is listed by list_files), and embeds at most a few small ones
 * whole: text a model can read without another call, images it can see.
 */
#define LINKS_MAX 20
#define EMBED_MAX 4
#define EMBED_TEXT_MAX_BYTES (16 * 1024)
#define EMBED_IMAGE_MAX_BYTES (512 * 1024)

#define URI_PREFIX "pi://sessions/"

/* Characters a path keeps as they are in a URI; others are %XX. */
static bool
uri_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || strchr("-._~/", c) != NULL;
}

/* pi://sessions/<sid>/files/<path, percent-encoded>; NULL out of memory. */
static char *
resource_uri(const char *sid, const char *path)
{
	size_t		n = strlen(URI_PREFIX) + strlen(sid) + 8 + 3 * strlen(path) + 1;
	char	   *uri = malloc(n);
	char	   *p;

	if (uri == NULL)
		return NULL;
	p = uri + sprintf(uri, URI_PREFIX "%s/files/", sid);
	for (const unsigned char *c = (const unsigned char *) path; *c; c++)
		p += uri_plain(*c) ? sprintf(p, "%c", *c) : sprintf(p, "%%%02X", *c);
	return uri;
}

static int
hex_value(char c)
{
	return c >= '0' && c <= '9' ? c - '0' :
		c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * The workspace path a URI names, when it names a file of session sid;
 * false otherwise (another session, another scheme, bad escapes, a NUL).
 */
static bool
uri_path(const char *uri, const char *sid, char *path, size_t cap)
{
	size_t		pl = strlen(URI_PREFIX),
				sl = strlen(sid),
				n = 0;
	const char *p;

	if (sid[0] == '\0' || strncmp(uri, URI_PREFIX, pl) != 0 ||
		strncmp(uri + pl, sid, sl) != 0 || strncmp(uri + pl + sl, "/files/", 7) != 0)
		return false;
	for (p = uri + pl + sl + 7; *p; p++)
	{
		int			c = (unsigned char) *p;

		if (c == '%')
		{
			int			hi = hex_value(p[1]),
						lo = hi < 0 ? -1 : hex_value(p[2]);

			if (lo < 0 || (c = hi * 16 + lo) == 0)
				return false;
			p += 2;
		}
		if (n + 1 >= cap)
			return false;
		path[n++] = (char) c;
	}
	path[n] = '\0';
	return n > 0;
}

static bool
text_mime(const char *mime)
{
	return strncmp(mime, "text/", 5) == 0 || strcmp(mime, "application/json") == 0 ||
		strcmp(mime, "application/jsonl") == 0 || strcmp(mime, "application/xml") == 0 ||
		strcmp(mime, "image/svg+xml") == 0;
}

/*
 * One entry of resources/read's contents: text when the type is text and
 * the bytes are UTF-8 without NUL, else base64 as blob.  NULL when out of
 * memory.
 */
static json_t *
resource_contents(const char *uri, const char *mime, const char *data, size_t len)
{
	json_t	   *text = NULL;
	char	   *b64;
	json_t	   *out;

	if (text_mime(mime) && memchr(data, '\0', len) == NULL)
		text = json_stringn(data, len); /* NULL when not UTF-8 */
	if (text != NULL)
		return json_pack("{s:s,s:s,s:o}", "uri", uri, "mimeType", mime, "text", text);
	if ((b64 = base64_encode((const unsigned char *) data, len)) == NULL)
		return NULL;
	out = json_pack("{s:s,s:s,s:s}", "uri", uri, "mimeType", mime, "blob", b64);
	free(b64);
	return out;
}

/*
 * resources/list: the files of session sid ("" when the conversation has
 * none yet: an empty list, and no session is made for it), a page at a
 * time.  NULL with err set on failure.
 */
json_t *
mcp_resources_list(const char *sid, json_t *params, GwError *err)
{
	json_t	   *cursor_v = json_object_get(params, "cursor");
	const char *cursor = json_string_value(cursor_v);
	char	   *end = NULL;
	long		first = cursor ? strtol(cursor, &end, 10) : 0;
	json_t	   *resources;
	json_t	   *args,
			   *out = NULL,
			   *files,
			   *f;
	json_t	   *result;
	size_t		i;
	char		got[96];

	/* a cursor is only ever one this server gave as nextCursor */
	if ((cursor_v != NULL && !json_is_null(cursor_v) && cursor == NULL) ||
		(cursor != NULL && (*cursor == '\0' || *end != '\0' || first < 0)))
	{
		gw_describe_json(cursor_v, got, sizeof(got));
		gw_error_set(err, 400, "invalid_request",
					 "params.cursor must be a string given as nextCursor by an "
					 "earlier resources/list; got %s (leave it out for the first page)",
					 got);
		return NULL;
	}
	resources = json_array();
	if (sid[0] != '\0')
	{
		args = json_pack("{s:s}", "session_id", sid);
		out = op_call(op_find("list_files"), args, err);
		json_decref(args);
		if (out == NULL)
		{
			json_decref(resources);
			return NULL;
		}
	}
	files = json_object_get(out, "files");
	json_array_foreach(files, i, f)
	{
		const char *path = json_string_value(json_object_get(f, "path"));
		char	   *uri;

		if ((long) i < first || path == NULL)
			continue;
		if (json_array_size(resources) == RESOURCES_PAGE)
			break;
		if ((uri = resource_uri(sid, path)) == NULL)
			continue;
		json_array_append_new(resources,
							  json_pack("{s:s,s:s,s:s,s:O}", "uri", uri, "name", path,
										"mimeType", gw_mime_type(path),
										"size", json_object_get(f, "size")));
		free(uri);
	}
	result = json_pack("{s:o}", "resources", resources);
	if (result != NULL && i < json_array_size(files))
	{
		char		next[24];

		snprintf(next, sizeof(next), "%zu", i);
		json_object_set_new(result, "nextCursor", json_string(next));
	}
	json_decref(out);
	return result;
}

/*
 * resources/read of a file of session sid.  NULL with *code the JSON-RPC
 * error code (-32002: no such resource; -32602: a bad or too large
 * request) and err's message.
 */
json_t *
mcp_resources_read(const char *sid, json_t *params, int *code, GwError *err)
{
	const char *uri = json_string_value(json_object_get(params, "uri"));
	char		path[1024];
	PGconn	   *conn;
	json_t	   *info;
	json_int_t	size;
	char	   *data = NULL;
	size_t		len;
	json_t	   *contents = NULL;
	char		got[96];

	*code = -32602;
	if (uri == NULL)
	{
		gw_describe_json(json_object_get(params, "uri"), got, sizeof(got));
		gw_error_set(err, 400, "invalid_request",
					 "params.uri must be a string, the uri of a file as "
					 "resources/list gives it; got %s", got);
		return NULL;
	}
	*code = -32002;
	if (!uri_path(uri, sid, path, sizeof(path)))
	{
		gw_error_set(err, 404, "not_found",
					 "no resource %.300s in this conversation's session: "
					 "resources/list lists its files", uri);
		return NULL;
	}
	if ((conn = db_acquire(err)) == NULL)
	{
		*code = -32603;
		return NULL;
	}
	if ((info = op_file_info(conn, sid, path, err)) == NULL)
	{
		db_release(conn);
		if (err->http_status != 404)
			*code = -32603;
		return NULL;
	}
	size = json_integer_value(json_object_get(info, "size"));
	json_decref(info);
	if (size > RESOURCE_READ_MAX_BYTES)
	{
		db_release(conn);
		*code = -32602;
		gw_error_set(err, 413, "payload_too_large",
					 "%s has %lld bytes, over the %d MiB resources/read serves: "
					 "read it in parts with the download_file tool (offset, length) "
					 "or GET /api/files/download with a Range header", path,
					 (long long) size, RESOURCE_READ_MAX_BYTES >> 20);
		return NULL;
	}
	data = op_read_file_chunk(conn, sid, path, 0, size, &len, err);
	db_release(conn);
	if (data != NULL)
		contents = resource_contents(uri, gw_mime_type(path), data, len);
	free(data);
	if (contents == NULL)
	{
		*code = -32603;
		if (err->http_status == 0)
			gw_error_set(err, 503, "out_of_memory", "the gateway is out of memory");
		return NULL;
	}
	return json_pack("{s:[o]}", "contents", contents);
}

/* A small file embedded whole after its link: an image, or a text resource. */
static void
embed_file(json_t *content, PGconn *conn, const char *sid, const char *path,
		   const char *uri, const char *mime, json_int_t size, int *embedded)
{
	bool		image = strncmp(mime, "image/", 6) == 0 && strcmp(mime, "image/svg+xml") != 0;
	GwError		err = {0};
	char	   *data;
	size_t		len;
	json_t	   *c;

	if (*embedded >= EMBED_MAX || conn == NULL ||
		size > (image ? EMBED_IMAGE_MAX_BYTES : EMBED_TEXT_MAX_BYTES) ||
		(!image && !text_mime(mime)))
		return;
	if ((data = op_read_file_chunk(conn, sid, path, 0, size, &len, &err)) == NULL)
		return;					/* gone meanwhile: the link alone says it was written */
	c = resource_contents(uri, mime, data, len);
	free(data);
	if (c != NULL && image && json_object_get(c, "blob") != NULL)
		json_array_append_new(content,
							  json_pack("{s:s,s:O,s:s}", "type", "image", "data",
										json_object_get(c, "blob"), "mimeType", mime));
	else if (c != NULL && !image && json_object_get(c, "text") != NULL)
		json_array_append_new(content, json_pack("{s:s,s:O}", "type", "resource",
												 "resource", c));
	else
	{
		json_decref(c);
		return;
	}
	json_decref(c);
	(*embedded)++;
}

/*
 * Add to a tool result's content a resource_link for each file the run
 * created or changed (out's "files"), in session sid, and small images
 * and text whole.  A link a client cannot follow is worse than none, so
 * mcp.c calls this only for runs in the conversation's own session.
 */
void
mcp_resource_links(json_t *result, json_t *out, const char *sid)
{
	json_t	   *content = json_object_get(result, "content");
	json_t	   *files = json_object_get(out, "files");
	json_t	   *f;
	size_t		i;
	int			linked = 0,
				embedded = 0;
	PGconn	   *conn = NULL;
	GwError		err = {0};

	if (!json_is_array(content) || json_array_size(files) == 0 || sid[0] == '\0')
		return;
	json_array_foreach(files, i, f)
	{
		const char *path = json_string_value(json_object_get(f, "path"));
		const char *change = json_string_value(json_object_get(f, "change"));
		json_int_t	size = json_integer_value(json_object_get(f, "size"));
		const char *mime;
		char	   *uri;

		if (path == NULL || (change != NULL && strcmp(change, "deleted") == 0))
			continue;
		if (linked++ == LINKS_MAX || (uri = resource_uri(sid, path)) == NULL)
			break;
		mime = gw_mime_type(path);
		json_array_append_new(content,
							  json_pack("{s:s,s:s,s:s,s:s,s:I}", "type", "resource_link",
										"uri", uri, "name", path, "mimeType", mime,
										"size", size));
		if (conn == NULL && embedded < EMBED_MAX)
			conn = db_acquire(&err);
		embed_file(content, conn, sid, path, uri, mime, size, &embedded);
		free(uri);
	}
	db_release(conn);
}
