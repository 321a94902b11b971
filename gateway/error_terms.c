/*-------------------------------------------------------------------------
 *
 * error_terms.c
 *	  An error's message, detail and hint in the caller's terms: the REST
 *	  route or the MCP tool that does what a PostgreSQL error names in SQL.
 *
 * The extension's errors speak to SQL callers: "wait for it with
 * pi.job_result('...', wait_s)", "pass a smaller timeout_s".  A REST or MCP
 * caller has no such function or field: it has GET /api/jobs/{id}/result
 * with ?wait=, or the get_job_result tool, and its field is "timeout".  So
 * the gateway rewrites each "pi.<function>(...)" it knows into the route or
 * tool that does the same (carrying over a quoted first argument, the id a
 * hint names), the SQL argument names into the fields of the API, and
 * "pi.<setting>" into "the server setting pi.<setting>" (a setting is for
 * whoever runs the server, not the caller).  Texts it does not recognise are
 * left as they were.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "gateway.h"

typedef struct FunctionTerm
{
	const char *sql;			/* "pi.job_result" */
	const char *rest;			/* "{1}": the first argument */
	const char *rest_bare;		/* without an argument */
	const char *mcp;
	const char *mcp_bare;
} FunctionTerm;

static const FunctionTerm function_terms[] = {
	{"pi.job_result", "GET /api/jobs/{1}/result?wait=<seconds>",
		"GET /api/jobs/{id}/result?wait=<seconds>",
	"get_job_result with job_id {1} and a wait", "get_job_result with a wait"},
	{"pi.job_status", "GET /api/jobs/{1}/status", "GET /api/jobs/{id}/status",
	"get_job_status with job_id {1}", "get_job_status"},
	{"pi.cancel_job", "POST /api/jobs/{1}/cancel", "POST /api/jobs/{id}/cancel",
	"cancel_job with job_id {1}", "cancel_job"},
	{"pi.submit_job", "POST /api/jobs/submit", "POST /api/jobs/submit",
	"submit_job", "submit_job"},
	{"pi.execute", "POST /api/execute with {\"code\": \"{1}\"}", "POST /api/execute",
	"execute_code with code \"{1}\"", "execute_code"},
	{"pi.create_session", "POST /api/sessions", "POST /api/sessions",
	"create_session", "create_session"},
	{"pi.write_file", "POST /api/files/upload", "POST /api/files/upload",
	"upload_file", "upload_file"},
	{"pi.read_file", "GET /api/files/download", "GET /api/files/download",
	"download_file", "download_file"},
	{"pi.delete_file", "DELETE /api/files", "DELETE /api/files",
	"delete_file", "delete_file"},
	{"pi.list_files", "GET /api/files", "GET /api/files",
	"list_files", "list_files"},
	{"pi.load_csv", "POST /api/data/load-csv", "POST /api/data/load-csv",
	"load_dataset", "load_dataset"},
	{"pi.load_dataset", "POST /api/data/load-csv", "POST /api/data/load-csv",
	"load_dataset", "load_dataset"},
	{"pi.query", "POST /api/data/query", "POST /api/data/query",
	"query_dataset", "query_dataset"},
	{"pi.list_datasets", "GET /api/data/datasets", "GET /api/data/datasets",
	"list_datasets", "list_datasets"},
};

/* SQL argument names and the API's fields for them. */
static const char *const word_terms[][2] = {
	{"timeout_s", "timeout"},
	{"wait_s", "wait"},
	{"max_rows", "limit"},
};

/*
 * Settings (GUCs) by prefix; pi.jobs, pi.sessions and the like are tables,
 * not settings, and stay as they are.
 */
static const char *const setting_prefixes[] = {
	"pi.max_", "pi.query_", "pi.job_", "pi.session_", "pi.workspace_root",
	"pi.sandbox", "pi.database", "pi.blas_threads", "pi.record_sync_runs",
};

#define lengthof(array) (sizeof(array) / sizeof((array)[0]))

static bool
is_setting(const char *p)
{
	for (size_t i = 0; i < lengthof(setting_prefixes); i++)
		if (strncmp(p, setting_prefixes[i], strlen(setting_prefixes[i])) == 0)
			return true;
	return false;
}

typedef struct Out
{
	char	   *buf;
	size_t		cap;
	size_t		len;
} Out;

static void
out_put(Out *o, const char *s, size_t n)
{
	if (o->len + n >= o->cap)
		n = o->cap - o->len - 1;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void
out_str(Out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

static bool
is_ident_char(char c)
{
	return isalnum((unsigned char) c) || c == '_';
}

/*
 * At s (just after "("): the end of the argument list, its closing ")"
 * included, and the first argument's quoted text in arg (empty when the
 * first argument is not a quoted literal).  NULL when the parentheses do
 * not close: the text is not a call, leave it.
 */
static const char *
parse_arguments(const char *s, char *arg, size_t argsize)
{
	int			depth = 1;
	bool		quoted = false;

	arg[0] = '\0';
	if (*s == '\'')
	{
		const char *end = strchr(s + 1, '\'');

		if (end != NULL && (size_t) (end - s - 1) < argsize)
		{
			memcpy(arg, s + 1, end - s - 1);
			arg[end - s - 1] = '\0';
		}
	}
	for (; *s; s++)
	{
		if (*s == '\'')
			quoted = !quoted;
		else if (!quoted && *s == '(')
			depth++;
		else if (!quoted && *s == ')' && --depth == 0)
			return s + 1;
	}
	return NULL;
}

static void
put_template(Out *o, const char *tmpl, const char *arg)
{
	for (const char *p = tmpl; *p; p++)
	{
		if (strncmp(p, "{1}", 3) == 0)
		{
			out_str(o, arg);
			p += 2;
		}
		else
			out_put(o, p, 1);
	}
}

/* One text rewritten into dst (dstsize bytes). */
static void
rewrite(char *dst, size_t dstsize, const char *src, GwTerms terms)
{
	char		buf[4096];
	Out			o = {buf, sizeof(buf), 0};
	const char *p = src;

	buf[0] = '\0';
	while (*p)
	{
		bool		done = false;

		/* only at the start of a word: "xpi.query" is not ours */
		if (p == src || !is_ident_char(p[-1]))
		{
			for (size_t i = 0; !done && i < lengthof(function_terms); i++)
			{
				const FunctionTerm *f = &function_terms[i];
				size_t		n = strlen(f->sql);
				char		arg[128];
				const char *end;

				if (strncmp(p, f->sql, n) != 0 || is_ident_char(p[n]))
					continue;
				end = p + n;
				arg[0] = '\0';
				if (*end == '(')
				{
					const char *close = parse_arguments(end + 1, arg, sizeof(arg));

					if (close != NULL)
						end = close;
				}
				if (arg[0] != '\0')
					put_template(&o, terms == GW_TERMS_REST ? f->rest : f->mcp, arg);
				else
					out_str(&o, terms == GW_TERMS_REST ? f->rest_bare : f->mcp_bare);
				p = end;
				done = true;
			}
			for (size_t i = 0; !done && i < lengthof(word_terms); i++)
			{
				size_t		n = strlen(word_terms[i][0]);

				if (strncmp(p, word_terms[i][0], n) == 0 && !is_ident_char(p[n]))
				{
					out_str(&o, word_terms[i][1]);
					p += n;
					done = true;
				}
			}
			/* a server setting is for whoever runs the server */
			if (!done && is_setting(p))
			{
				out_str(&o, "the server setting ");
				out_put(&o, p, 3);
				p += 3;
				done = true;
			}
		}
		if (!done)
			out_put(&o, p++, 1);
	}
	gw_utf8_copy(dst, dstsize, buf);
}

/* Rewrite err's message, detail and hint for a REST or an MCP caller. */
void
gw_error_in_terms(GwError *err, GwTerms terms)
{
	rewrite(err->message, sizeof(err->message), err->message, terms);
	rewrite(err->detail, sizeof(err->detail), err->detail, terms);
	rewrite(err->hint, sizeof(err->hint), err->hint, terms);
}
