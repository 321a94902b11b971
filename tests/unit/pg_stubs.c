/*-------------------------------------------------------------------------
 *
 * pg_stubs.c
 *	  The few backend symbols that the pure parsing code of
 *	  power_interpreter needs, for the unit tests, which run as a plain
 *	  program and not inside PostgreSQL.
 *
 * Memory comes from malloc and is never freed: a test program lives for a
 * second.  ereport(ERROR) records the message and jumps to the innermost
 * PG_TRY, exactly as in a backend, so a test can expect an error with
 * PG_TRY/PG_CATCH and read it back with unit_last_error().  An error with
 * no PG_TRY around it is a bug in the test: it is printed and the program
 * aborts.  Anything the tested code should never reach here (encoding
 * conversion, interrupts) aborts too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/json.h"

#include "unit.h"

sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;
volatile sig_atomic_t InterruptPending = false;

/* The error being built (between errstart and errfinish), and the last one. */
static int	error_level;
static char error_message[1024];
static char error_detail[1024];
static char error_hint[1024];
static int	error_sqlstate;

static void
stub_abort(const char *what)
{
	fprintf(stderr, "unit tests: the tested code reached %s, which the stubs do not provide\n",
			what);
	abort();
}

/* ---- memory ------------------------------------------------------------ */

static void *
checked(void *p)
{
	if (p == NULL)
		stub_abort("out of memory");
	return p;
}

void *
palloc(Size size)
{
	return checked(malloc(size ? size : 1));
}

void *
palloc0(Size size)
{
	return checked(calloc(1, size ? size : 1));
}

void *
repalloc(void *pointer, Size size)
{
	return checked(realloc(pointer, size ? size : 1));
}

void *
repalloc_huge(void *pointer, Size size)
{
	return repalloc(pointer, size);
}

void
pfree(void *pointer)
{
	free(pointer);
}

char *
pstrdup(const char *in)
{
	return pnstrdup(in, strlen(in));
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

char *
psprintf(const char *fmt,...)
{
	va_list		args;
	char	   *out;

	va_start(args, fmt);
	if (vasprintf(&out, fmt, args) < 0)
		stub_abort("out of memory");
	va_end(args);
	return out;
}

/* ---- StringInfo --------------------------------------------------------- */

void
initStringInfo(StringInfo str)
{
	str->maxlen = 1024;
	str->data = palloc(str->maxlen);
	resetStringInfo(str);
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			want = str->len + needed + 1;

	if (want <= str->maxlen)
		return;
	while (str->maxlen < want)
		str->maxlen *= 2;
	str->data = repalloc(str->data, str->maxlen);
}

void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, strlen(s));
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	appendBinaryStringInfo(str, &ch, 1);
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	va_list		args;
	char	   *formatted;

	va_start(args, fmt);
	if (vasprintf(&formatted, fmt, args) < 0)
		stub_abort("out of memory");
	va_end(args);
	appendStringInfoString(str, formatted);
	free(formatted);
}

/* ---- ports ------------------------------------------------------------- */

int
pg_strcasecmp(const char *s1, const char *s2)
{
	return strcasecmp(s1, s2);
}

int
pg_strncasecmp(const char *s1, const char *s2, size_t n)
{
	return strncasecmp(s1, s2, n);
}

/* ---- errors ------------------------------------------------------------ */

bool
errstart(int elevel, const char *domain)
{
	error_level = elevel;
	error_message[0] = error_detail[0] = error_hint[0] = '\0';
	error_sqlstate = 0;
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (error_level < ERROR)
		return;
	if (PG_exception_stack == NULL)
	{
		fprintf(stderr, "unit tests: uncaught error at %s:%d: %s\n", filename, lineno,
				error_message);
		abort();
	}
	siglongjmp(*PG_exception_stack, 1);
}

void
pg_re_throw(void)
{
	if (PG_exception_stack == NULL)
		stub_abort("pg_re_throw outside PG_TRY");
	siglongjmp(*PG_exception_stack, 1);
}

int
errcode(int sqlerrcode)
{
	error_sqlstate = sqlerrcode;
	return 0;
}

int
errcode_for_file_access(void)
{
	error_sqlstate = ERRCODE_IO_ERROR;
	return 0;
}

static void
format_into(char *buf, size_t size, const char *fmt, va_list args)
{
	vsnprintf(buf, size, fmt, args);
}

int
errmsg(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	format_into(error_message, sizeof(error_message), fmt, args);
	va_end(args);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	format_into(error_message, sizeof(error_message), fmt, args);
	va_end(args);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	format_into(error_detail, sizeof(error_detail), fmt, args);
	va_end(args);
	return 0;
}

int
errhint(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	format_into(error_hint, sizeof(error_hint), fmt, args);
	va_end(args);
	return 0;
}

const char *
unit_last_error(void)
{
	return error_message;
}

const char *
unit_last_hint(void)
{
	return error_hint;
}

int
unit_last_sqlstate(void)
{
	return error_sqlstate;
}

/* ---- what the tested code must not reach -------------------------------- */

void
ProcessInterrupts(void)
{
	stub_abort("ProcessInterrupts");
}

int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

int
pg_char_to_encoding(const char *name)
{
	stub_abort("pg_char_to_encoding");
	return -1;
}

unsigned char *
pg_do_encoding_conversion(unsigned char *src, int len, int src_encoding, int dest_encoding)
{
	stub_abort("pg_do_encoding_conversion");
	return NULL;
}

/*
 * JSON string quoting, as the rejected rows of an analysis need: quotes,
 * backslashes and control characters escaped, everything else as is.
 */
void
escape_json(StringInfo buf, const char *str)
{
	appendStringInfoChar(buf, '"');
	for (const char *p = str; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c == '"' || c == '\\')
		{
			appendStringInfoChar(buf, '\\');
			appendStringInfoChar(buf, c);
		}
		else if (c == '\n')
			appendStringInfoString(buf, "\\n");
		else if (c < 0x20)
			appendStringInfo(buf, "\\u%04x", c);
		else
			appendStringInfoChar(buf, c);
	}
	appendStringInfoChar(buf, '"');
}
