/*-------------------------------------------------------------------------
 *
 * common.c
 *	  What every part of pi-gateway uses: the configuration, the error a
 *	  call ends with (GwError, see gateway.h), random ids, a
 *	  constant-time comparison and a file's MIME type by its name.
 *
 * Depends only on utf8.c, so any file may call it without a circle.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE				/* vasprintf */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "gateway.h"

/* Filled once by main.c at start-up, read-only afterwards. */
GatewayConfig gw_config;

/*
 * Every message goes through gw_utf8_copy, so it is valid UTF-8 and cut
 * between characters whatever bytes the format arguments held: a GwError
 * can always become JSON.
 */
void
gw_error_setv(GwError *err, int status, const char *code, const char *fmt,
			  va_list ap)
{
	char	   *text = NULL;

	err->http_status = status;
	err->retry_after = 0;
	err->sqlstate[0] = '\0';
	err->detail[0] = '\0';
	err->hint[0] = '\0';
	gw_utf8_copy(err->code, sizeof(err->code), code);
	if (vasprintf(&text, fmt, ap) < 0)
	{
		snprintf(err->message, sizeof(err->message),
				 "out of memory while describing the error");
		return;
	}
	gw_utf8_copy(err->message, sizeof(err->message), text);
	free(text);
}

void
gw_error_set(GwError *err, int status, const char *code, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	gw_error_setv(err, status, code, fmt, ap);
	va_end(ap);
}

/*
 * {"error": {"code", "message"[, "sqlstate", "detail", "hint"]}}.  NULL only when out of
 * memory; callers answer with a fixed body then.
 */
json_t *
gw_error_json(const GwError *err)
{
	json_t	   *j = json_pack("{s:{s:s%,s:s%}}", "error",
							  "code", err->code, strlen(err->code),
							  "message", err->message, strlen(err->message));

	/* a message set by hand rather than by gw_error_set may be invalid */
	if (j == NULL)
		j = json_pack("{s:{s:s,s:s}}", "error", "code", "internal_error",
					  "message", "the error text was not valid UTF-8");
	if (j != NULL && err->sqlstate[0] != '\0')
		json_object_set_new(json_object_get(j, "error"), "sqlstate",
							json_string(err->sqlstate));
	if (j != NULL && err->detail[0] != '\0')
		json_object_set_new(json_object_get(j, "error"), "detail",
							gw_json_string(err->detail));
	if (j != NULL && err->hint[0] != '\0')
		json_object_set_new(json_object_get(j, "error"), "hint",
							gw_json_string(err->hint));
	return j;
}

/* Compare without an early exit, so timing does not reveal the key. */
bool
gw_const_time_equal(const char *a, const char *b)
{
	size_t		la = strlen(a),
				lb = strlen(b);
	unsigned char diff = (la != lb);

	for (size_t i = 0; i < lb; i++)
		diff |= (unsigned char) a[i % (la ? la : 1)] ^ (unsigned char) b[i];
	return diff == 0;
}

/*
 * 2 * nbytes hex digits of kernel randomness into out.  getrandom needs no
 * file descriptor, so it works when a busy server has run out of them.
 */
void
gw_random_hex(char *out, size_t nbytes)
{
	unsigned char raw[64];

	if (nbytes > sizeof(raw) ||
		getrandom(raw, nbytes, 0) != (ssize_t) nbytes)
	{
		/* only before the kernel's pool is initialised, at early boot */
		fprintf(stderr, "pi-gateway: getrandom failed\n");
		abort();
	}
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", raw[i]);
}

/*
 * A file's MIME type by its extension: the Content-Type of a download and
 * the mimeType of an MCP resource, what browsers and assistants expect.
 */
const char *
gw_mime_type(const char *path)
{
	static const char *const table[][2] = {
		{".csv", "text/csv"}, {".tsv", "text/tab-separated-values"},
		{".txt", "text/plain; charset=utf-8"}, {".md", "text/markdown"},
		{".py", "text/x-python"}, {".html", "text/html"},
		{".json", "application/json"}, {".jsonl", "application/jsonl"},
		{".xml", "application/xml"}, {".png", "image/png"},
		{".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".gif", "image/gif"},
		{".webp", "image/webp"}, {".svg", "image/svg+xml"},
		{".pdf", "application/pdf"},
		{".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{".xls", "application/vnd.ms-excel"},
		{".parquet", "application/vnd.apache.parquet"},
		{".zip", "application/zip"}, {".gz", "application/gzip"},
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(table) / sizeof(table[0]); i++)
		if (strcasecmp(dot, table[i][0]) == 0)
			return table[i][1];
	return "application/octet-stream";
}
