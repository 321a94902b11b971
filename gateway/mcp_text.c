/*-------------------------------------------------------------------------
 *
 * mcp_text.c
 *	  The pieces every MCP tool result's text is built from: a growing
 *	  buffer, numbers as a person writes them, Markdown tables with a row
 *	  and column cap, and long output cut to its head and tail.
 *
 * Most MCP clients hand the model only a result's text content and drop
 * structuredContent, so the text must carry every fact, yet stay short:
 * a model pays for every character it reads.
 *
 * Numbers: jansson prints a double with 17 significant digits, so the
 * 288434.11 PostgreSQL or pandas held reads 288434.10999999999.  The text
 * prints at most MCP_TEXT_DIGITS (15) significant digits, which is the
 * shortest form that reads back as the same double whenever one of 15
 * digits or fewer exists (every decimal of up to 15 digits, so every
 * value that came from text or from money), and otherwise the value
 * rounded to 15 digits, which drops the noise of binary arithmetic
 * (0.1 + 0.2 reads 0.3).  A whole float keeps ".0" as Python writes it,
 * so it is not mistaken for an integer.  structuredContent keeps every
 * digit.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "mcp_internal.h"

/* A Markdown cell longer than this is cut (a text column of essays). */
#define MCP_TEXT_CELL_MAX 200

/* Grow t to hold add more bytes and a NUL; false (and failed) if not. */
static bool
text_reserve(McpText *t, size_t add)
{
	size_t		cap = t->cap ? t->cap : 256;
	char	   *grown;

	if (t->failed)
		return false;
	if (t->len + add + 1 <= t->cap)
		return true;
	while (cap < t->len + add + 1)
		cap *= 2;
	if ((grown = realloc(t->data, cap)) == NULL)
	{
		t->failed = true;
		return false;
	}
	t->data = grown;
	t->cap = cap;
	return true;
}

void
mcp_text_addn(McpText *t, const char *s, size_t n)
{
	if (!text_reserve(t, n))
		return;
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
}

void
mcp_text_add(McpText *t, const char *s)
{
	mcp_text_addn(t, s, strlen(s));
}

void
mcp_text_addf(McpText *t, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !text_reserve(t, (size_t) n))
		return;
	va_start(ap, fmt);
	vsnprintf(t->data + t->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	t->len += n;
}

/* End the text so far with a line break, unless it is empty or has one. */
void
mcp_text_newline(McpText *t)
{
	if (t->len > 0 && t->data[t->len - 1] != '\n')
		mcp_text_add(t, "\n");
}

/* The text as a {"type": "text"} content item; frees t's buffer. */
json_t *
mcp_text_content(McpText *t)
{
	json_t	   *item = NULL;

	if (!t->failed)
		item = json_pack("{s:s,s:s%}", "type", "text", "text",
						 t->data ? t->data : "", t->len);
	if (item == NULL)			/* out of memory, or bytes cut mid-character */
		item = json_pack("{s:s,s:o}", "type", "text", "text",
						 gw_json_string(t->failed ? "(the gateway ran short of memory "
												"writing this text; see structuredContent)" :
												t->data));
	free(t->data);
	memset(t, 0, sizeof(*t));
	return item;
}

/* ---- numbers and values ------------------------------------------------- */

/* A double as a person writes it; see the header comment. */
void
mcp_text_number(McpText *t, double v)
{
	char		buf[40];

	if (isnan(v) || isinf(v))
	{
		mcp_text_add(t, isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf");
		return;
	}
	snprintf(buf, sizeof(buf), "%.*g", MCP_TEXT_DIGITS, v);
	if (strpbrk(buf, ".e") == NULL)
		strcat(buf, ".0");
	mcp_text_add(t, buf);
}

/*
 * Compact JSON of an array or object, numbers as mcp_text_number writes
 * them: jansson's JSON_REAL_PRECISION is the same "%.*g" and ".0".
 */
static void
text_json(McpText *t, json_t *v)
{
	char	   *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
							   JSON_REAL_PRECISION(MCP_TEXT_DIGITS));

	if (s == NULL)
	{
		t->failed = true;
		return;
	}
	mcp_text_add(t, s);
	free(s);
}

/* One value: strings as they are, numbers by mcp_text_number, null as "null". */
void
mcp_text_value(McpText *t, json_t *v)
{
	if (json_is_string(v))
		mcp_text_addn(t, json_string_value(v), json_string_length(v));
	else if (json_is_integer(v))
		mcp_text_addf(t, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		mcp_text_number(t, json_real_value(v));
	else if (json_is_true(v) || json_is_false(v))
		mcp_text_add(t, json_is_true(v) ? "true" : "false");
	else if (v == NULL || json_is_null(v))
		mcp_text_add(t, "null");
	else
		text_json(t, v);
}

/*
 * One Markdown cell: the value on one line, "|" escaped, cut at
 * MCP_TEXT_CELL_MAX bytes on a character boundary; null is empty.
 */
static void
text_cell(McpText *t, json_t *v)
{
	McpText		one = {0};
	size_t		n;

	if (v == NULL || json_is_null(v))
		return;
	mcp_text_value(&one, v);
	if (one.failed)
	{
		t->failed = true;
		return;
	}
	n = one.len;
	if (n > MCP_TEXT_CELL_MAX)
	{
		n = MCP_TEXT_CELL_MAX;
		while (n > 0 && ((unsigned char) one.data[n] & 0xC0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++)
	{
		char		c = one.data[i];

		if (c == '|')
			mcp_text_add(t, "\\|");
		else if (c == '\n' || c == '\r' || c == '\t')
			mcp_text_add(t, " ");
		else
			mcp_text_addn(t, &c, 1);
	}
	if (n < one.len)
		mcp_text_add(t, "…");
	free(one.data);
}

/* ---- tables -------------------------------------------------------------- */

/*
 * A Markdown table: header from columns (strings or other values), rows an
 * array of arrays (or of objects, read by the column names), an optional
 * index column first.  At most MCP_TEXT_MAX_ROWS rows and
 * MCP_TEXT_MAX_COLUMNS columns are shown; total_rows (the rows there are
 * in all, 0 for as many as given) tells how many more to announce and
 * rest_where where the rest can be read.
 */
void
mcp_text_table(McpText *t, json_t *columns, json_t *rows, json_t *index,
			   size_t total_rows, const char *rest_where)
{
	size_t		ncols = json_array_size(columns);
	size_t		shown_cols = ncols < MCP_TEXT_MAX_COLUMNS ? ncols : MCP_TEXT_MAX_COLUMNS;
	size_t		nrows = json_array_size(rows);
	size_t		shown_rows = nrows < MCP_TEXT_MAX_ROWS ? nrows : MCP_TEXT_MAX_ROWS;
	bool		has_index = json_array_size(index) > 0;

	if (total_rows < nrows)
		total_rows = nrows;
	mcp_text_newline(t);
	mcp_text_add(t, has_index ? "| |" : "|");
	for (size_t c = 0; c < shown_cols; c++)
	{
		mcp_text_add(t, " ");
		text_cell(t, json_array_get(columns, c));
		mcp_text_add(t, " |");
	}
	mcp_text_add(t, has_index ? "\n|---|" : "\n|");
	for (size_t c = 0; c < shown_cols; c++)
		mcp_text_add(t, "---|");
	mcp_text_add(t, "\n");
	for (size_t r = 0; r < shown_rows; r++)
	{
		json_t	   *row = json_array_get(rows, r);

		mcp_text_add(t, "|");
		if (has_index)
		{
			mcp_text_add(t, " ");
			text_cell(t, json_array_get(index, r));
			mcp_text_add(t, " |");
		}
		for (size_t c = 0; c < shown_cols; c++)
		{
			json_t	   *col = json_array_get(columns, c);
			json_t	   *v = json_is_object(row) && json_is_string(col) ?
				json_object_get(row, json_string_value(col)) :
				json_array_get(row, c);

			mcp_text_add(t, " ");
			text_cell(t, v);
			mcp_text_add(t, " |");
		}
		mcp_text_add(t, "\n");
	}
	if (shown_cols < ncols)
		mcp_text_addf(t, "… %zu more columns not shown\n", ncols - shown_cols);
	if (shown_rows < total_rows)
		mcp_text_addf(t, "… %zu more rows (%zu in all)%s%s\n",
					  total_rows - shown_rows, total_rows,
					  rest_where ? "; " : "", rest_where ? rest_where : "");
}

/* ---- long output ----------------------------------------------------------- */

/* Where to cut s (of len bytes) near at: a line end, else a character start. */
static size_t
cut_point(const char *s, size_t len, size_t at, bool head)
{
	size_t		p = at;

	/* a line break within a quarter of the part keeps lines whole */
	for (size_t i = 0; i < MCP_TEXT_PART / 4; i++)
	{
		size_t		q = head ? at - i : at + i;

		if (q == 0 || q >= len)
			break;
		if (s[q - 1] == '\n')
			return q;
	}
	while (p > 0 && p < len && ((unsigned char) s[p] & 0xC0) == 0x80)
	{
		if (head)
			p--;
		else
			p++;
	}
	return p;
}

/*
 * Output of a run: whole when at most MCP_TEXT_CAP bytes, else its first
 * and last MCP_TEXT_PART bytes around a line that says how much was cut
 * and where the whole is (whole_where).
 */
void
mcp_text_capped(McpText *t, const char *s, size_t len, const char *whole_where)
{
	size_t		head,
				tail;

	if (len <= MCP_TEXT_CAP)
	{
		mcp_text_addn(t, s, len);
		mcp_text_newline(t);
		return;
	}
	head = cut_point(s, len, MCP_TEXT_PART, true);
	tail = cut_point(s, len, len - MCP_TEXT_PART, false);
	mcp_text_addn(t, s, head);
	mcp_text_newline(t);
	mcp_text_addf(t, "[… %zu bytes of %zu cut here; %s]\n", tail - head, len,
				  whole_where);
	mcp_text_addn(t, s + tail, len - tail);
	mcp_text_newline(t);
}
