/*-------------------------------------------------------------------------
 *
 * utf8_test.c
 *	  Unit test of gateway/utf8.c: which byte sequences are valid UTF-8,
 *	  how invalid bytes are replaced, and that a cut never splits a
 *	  character.  Built and run by run.sh and fuzz_nodb.sh:
 *
 *		cc -I gateway -I$(pg_config --includedir) tests/gateway/utf8_test.c \
 *			gateway/utf8.c -ljansson && ./a.out
 *
 * Prints "ok - ..." / "not ok - ..." per case and exits 1 on a failure.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"

static int	failed;

static void
expect(bool ok, const char *what)
{
	printf("%s - utf8: %s\n", ok ? "ok" : "not ok", what);
	if (!ok)
		failed++;
}

static bool
copy_is(const char *src, size_t dstsize, const char *want)
{
	char		dst[64];

	gw_utf8_copy(dst, dstsize, src);
	return strcmp(dst, want) == 0;
}

int
main(void)
{
	/* validity: RFC 3629 */
	expect(gw_utf8_valid("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 10), "1- to 4-byte characters are valid");
	expect(!gw_utf8_valid("\xFF", 1), "0xFF is invalid");
	expect(!gw_utf8_valid("\x80", 1), "a lone continuation byte is invalid");
	expect(!gw_utf8_valid("\xC3", 1), "a truncated sequence is invalid");
	expect(!gw_utf8_valid("\xC0\xAF", 2), "an overlong '/' is invalid");
	expect(!gw_utf8_valid("\xED\xA0\x80", 3), "a UTF-16 surrogate is invalid");
	expect(!gw_utf8_valid("\xF4\x90\x80\x80", 4), "a code point above U+10FFFF is invalid");

	/* replacement: one U+FFFD per invalid byte */
	expect(copy_is("a\xFF" "b", 64, "a\xEF\xBF\xBD" "b"), "an invalid byte becomes U+FFFD");
	expect(copy_is("\xE2\x82", 64, "\xEF\xBF\xBD\xEF\xBF\xBD"), "a truncated character becomes U+FFFD per byte");

	/* cutting: never inside a character, always NUL-terminated */
	expect(copy_is("\xC3\xA9\xC3\xA9", 4, "\xC3\xA9"), "a cut before a 2-byte character that does not fit");
	expect(copy_is("ab\xE2\x82\xAC", 5, "ab"), "a cut before a 3-byte character that does not fit");
	expect(copy_is("ab\xE2\x82\xAC", 6, "ab\xE2\x82\xAC"), "a character that fits exactly is kept");
	expect(copy_is("a\xFF", 4, "a"), "a replacement that does not fit is dropped");
	expect(copy_is("abc", 1, ""), "a one-byte buffer holds the empty string");

	/* JSON strings: jansson refuses invalid UTF-8; gw_json_string never does */
	{
		json_t	   *j = gw_json_string("GET /\xFF");

		expect(json_string(("GET /\xFF")) == NULL, "jansson refuses invalid UTF-8 (the crash's cause)");
		expect(j != NULL && strcmp(json_string_value(j), "GET /\xEF\xBF\xBD") == 0,
			   "gw_json_string mends invalid UTF-8");
		json_decref(j);
	}
	printf("%s\n", failed ? "utf8: FAILED" : "utf8: all passed");
	return failed ? 1 : 0;
}
