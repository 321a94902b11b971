/*-------------------------------------------------------------------------
 *
 * utf8.c
 *	  Making bytes safe to put into JSON.
 *
 * jansson refuses a string that is not valid UTF-8: json_string() and
 * json_pack() then return NULL.  Bytes from a request (a decoded URL, a
 * query parameter, a header) and texts from PostgreSQL (an error message cut
 * to fit a buffer) may be anything, so every such text passes through here
 * before it becomes JSON.  An invalid byte becomes U+FFFD, the replacement
 * character, and a text that must be cut is cut between characters.
 *
 * Depends on nothing else in the gateway.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

/* U+FFFD REPLACEMENT CHARACTER, encoded */
#define REPLACEMENT "\xEF\xBF\xBD"
#define REPLACEMENT_LEN 3

/*
 * Length of the valid UTF-8 character at s (1 to 4 bytes, avail of them
 * readable), or 0 when none starts there: a stray continuation byte, a
 * truncated sequence, an overlong form, a surrogate or a code point above
 * U+10FFFF (RFC 3629).
 */
static int
utf8_char_len(const unsigned char *s, size_t avail)
{
	unsigned int cp;
	unsigned int min;
	int			n;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0)
		n = 2, min = 0x80, cp = s[0] & 0x1F;
	else if ((s[0] & 0xF0) == 0xE0)
		n = 3, min = 0x800, cp = s[0] & 0x0F;
	else if ((s[0] & 0xF8) == 0xF0)
		n = 4, min = 0x10000, cp = s[0] & 0x07;
	else
		return 0;
	if (avail < (size_t) n)
		return 0;
	for (int i = 1; i < n; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

bool
gw_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	while (i < len)
	{
		int			n = utf8_char_len(p + i, len - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/*
 * Copy src into dst (dstsize bytes, the NUL included) as valid UTF-8,
 * replacing invalid bytes and stopping before a character that would not
 * fit whole.  Returns the length written.  dstsize must be at least 1.
 */
size_t
gw_utf8_copy(char *dst, size_t dstsize, const char *src)
{
	const unsigned char *p = (const unsigned char *) src;
	size_t		len = strlen(src);
	size_t		i = 0,
				out = 0;

	while (i < len)
	{
		int			n = utf8_char_len(p + i, len - i);
		const char *piece = n ? src + i : REPLACEMENT;
		size_t		plen = n ? (size_t) n : REPLACEMENT_LEN;

		if (out + plen + 1 > dstsize)
			break;
		memcpy(dst + out, piece, plen);
		out += plen;
		i += n ? (size_t) n : 1;
	}
	dst[out] = '\0';
	return out;
}

/*
 * A JSON string of the text at s, invalid bytes replaced.  NULL only when
 * out of memory (or s is NULL), like json_string.
 */
json_t *
gw_json_string(const char *s)
{
	size_t		len;
	size_t		cap;
	char	   *copy;
	json_t	   *j;

	if (s == NULL)
		return NULL;
	len = strlen(s);
	if (gw_utf8_valid(s, len))
		return json_stringn(s, len);
	/* each invalid byte may grow to three */
	cap = 3 * len + 1;
	if ((copy = malloc(cap)) == NULL)
		return NULL;
	gw_utf8_copy(copy, cap, s);
	j = json_string(copy);
	free(copy);
	return j;
}
