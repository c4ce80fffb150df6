/* Modified UTF-7 (RFC 3501 section 5.1.3), the mailbox-name encoding of
 * IMAP4rev1 clients: printable ASCII stands for itself ("&" is "&-"), anything
 * else is UTF-16 in base64 with ',' for '/' between '&' and '-'. Decoding is
 * strict (no encoded printable ASCII, no padding bits, paired surrogates), so
 * one mailbox has exactly one spelling. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "imap/imap-session.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(char ch)
{
	const char *p = ch ? strchr(b64, ch) : NULL;
	return p ? (int)(p - b64) : -1;
}

static char *finish(struct buf *out)
{
	buf_append(out, "", 1);
	char *r = xstrdup(buf_head(out));
	buf_free(out);
	return r;
}

char *imap_utf7_to_utf8(const char *s)
{
	struct buf out = {0};
	for (const char *p = s; *p;) {
		unsigned char ch = (unsigned char)*p;
		if (ch < 0x20 || ch > 0x7e)
			goto bad;
		if (ch != '&') {
			buf_append(&out, p++, 1);
			continue;
		}
		p++;
		if (*p == '-') {
			buf_append(&out, "&", 1);
			p++;
			continue;
		}
		uint32_t bits = 0, nbits = 0, high = 0;
		size_t units = 0;
		for (; *p && *p != '-'; p++) {
			int v = b64_value(*p);
			if (v < 0)
				goto bad;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			uint32_t u = (bits >> nbits) & 0xffff;
			bits &= (1u << nbits) - 1;
			units++;
			if (high) {
				if (u < 0xdc00 || u > 0xdfff)
					goto bad;
				buf_put_utf8(&out, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
				high = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				high = u;
			} else if ((u >= 0xdc00 && u <= 0xdfff) || (u >= 0x20 && u <= 0x7e)) {
				goto bad; /* lone low surrogate, or ASCII that should be plain */
			} else {
				buf_put_utf8(&out, u);
			}
		}
		if (*p != '-' || units == 0 || high || nbits >= 6 || bits != 0)
			goto bad;
		p++;
		/* "&...-&...-" must have been one run. */
		if (*p == '&' && p[1] != '-')
			goto bad;
	}
	return finish(&out);
bad:
	buf_free(&out);
	return NULL;
}

char *imap_utf8_to_utf7(const char *s)
{
	size_t len = strlen(s);
	if (!utf8_valid(s, len))
		return NULL;
	struct buf out = {0};
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (*p >= 0x20 && *p <= 0x7e) {
			buf_appends(&out, *p == '&' ? "&-" : (char[]){(char)*p, 0});
			p++;
			continue;
		}
		buf_append(&out, "&", 1);
		uint32_t bits = 0, nbits = 0;
		while (*p && !(*p >= 0x20 && *p <= 0x7e)) {
			uint32_t cp;
			if (*p < 0x80) {
				cp = *p++;
			} else if (*p < 0xe0) {
				cp = ((uint32_t)(p[0] & 0x1f) << 6) | (p[1] & 0x3f);
				p += 2;
			} else if (*p < 0xf0) {
				cp = ((uint32_t)(p[0] & 0x0f) << 12) | ((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
				p += 3;
			} else {
				cp = ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3f) << 12) |
				     ((uint32_t)(p[2] & 0x3f) << 6) | (p[3] & 0x3f);
				p += 4;
			}
			uint32_t units[2];
			size_t nu = 0;
			if (cp >= 0x10000) {
				units[nu++] = 0xd800 + ((cp - 0x10000) >> 10);
				units[nu++] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
			} else {
				units[nu++] = cp;
			}
			for (size_t i = 0; i < nu; i++) {
				bits = (bits << 16) | units[i];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					buf_append(&out, &b64[(bits >> nbits) & 0x3f], 1);
				}
				bits &= (1u << nbits) - 1;
			}
		}
		if (nbits > 0)
			buf_append(&out, &b64[(bits << (6 - nbits)) & 0x3f], 1);
		buf_append(&out, "-", 1);
	}
	return finish(&out);
}
