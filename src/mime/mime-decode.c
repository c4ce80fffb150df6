/* Content-Transfer-Encodings (quoted-printable, base64), charsets to UTF-8
 * through glibc iconv, and RFC 2047 encoded words. Every function here is
 * linear in its input, never fails on content (bad bytes become U+FFFD, bad
 * escapes stay as they were) and keeps no state between calls, so any thread
 * may use it. */
#include "mime/mime-private.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---- UTF-8 ---- */

/* Append s, each ill-formed sequence replaced by U+FFFD. Returns the number
 * of replacements. */
static size_t utf8_sanitize(const char *s, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, bad = 0;
	while (i < len) {
		size_t run = i;
		while (run < len && p[run] < 0x80)
			run++;
		buf_append(out, s + i, run - i);
		i = run;
		if (i >= len)
			break;
		size_t n;
		int32_t cp = utf8_next(p + i, len - i, &n);
		if (cp < 0) {
			buf_put_utf8(out, 0xfffd);
			bad++;
		} else {
			buf_append(out, s + i, n);
		}
		i += n;
	}
	return bad;
}

/* windows-1252 0x80..0x9f; 0 where the code page leaves a hole. */
static const uint16_t cp1252_high[32] = {
	0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
	0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
};

static void cp1252_to_utf8(const char *s, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80) {
			size_t run = i;
			while (run < len && (unsigned char)s[run] < 0x80)
				run++;
			buf_append(out, s + i, run - i);
			i = run - 1;
		} else if (c < 0xa0) {
			buf_put_utf8(out, cp1252_high[c - 0x80] ? cp1252_high[c - 0x80] : c);
		} else {
			buf_put_utf8(out, c);
		}
	}
}

void mime_text_to_utf8(const char *s, size_t len, struct buf *out)
{
	if (utf8_valid(s, len))
		buf_append(out, s, len);
	else
		cp1252_to_utf8(s, len, out);
}

/* ---- charsets ---- */

/* Names that mean "whatever it is, probably UTF-8 or Latin-1". */
static const char *const guess_names[] = {
	"us-ascii", "ascii", "ansi_x3.4-1968", "ansi_x3.4-1986", "iso646-us", "us", "iso-ir-6", "cp367", "ibm367",
	"unknown-8bit", "x-unknown", "unknown", "default", "x-user-defined", "8bit", "7bit", "none", "charset",
};

static const struct {
	const char *name, *iconv_name;
} aliases[] = {
	{"utf-8", NULL},
	{"utf8", NULL},
	{"iso-8859-1", "cp1252"},
	{"iso8859-1", "cp1252"},
	{"iso_8859-1", "cp1252"},
	{"latin1", "cp1252"},
	{"l1", "cp1252"},
	{"windows-1252", "cp1252"},
	{"cp1252", "cp1252"},
	{"x-cp1252", "cp1252"},
	{"gb2312", "GB18030"},
	{"gbk", "GB18030"},
	{"x-gbk", "GB18030"},
	{"ks_c_5601-1987", "CP949"},
	{"ks_c_5601", "CP949"},
	{"euc-kr", "CP949"},
	{"iso-8859-8-i", "ISO-8859-8"},
	{"iso-8859-6-i", "ISO-8859-6"},
	{"x-mac-roman", "MACINTOSH"},
	{"macintosh", "MACINTOSH"},
	{"x-sjis", "SHIFT_JIS"},
	{"shift-jis", "SHIFT_JIS"},
	{"tis-620", "TIS-620"},
	{"unicode-1-1-utf-7", "UTF-7"},
};

static void iconv_flush(iconv_t cd, struct buf *out)
{
	char *o = buf_reserve(out, 64), *op = o;
	size_t outleft = 64;
	iconv(cd, NULL, NULL, &op, &outleft);
	buf_commit(out, (size_t)(op - o));
}

static void iconv_to_utf8(iconv_t cd, const char *s, size_t len, struct buf *out)
{
	char *in = (char *)s;
	size_t inleft = len;
	while (inleft > 0) {
		size_t room = inleft * 4 + 64;
		if (room > 65536)
			room = 65536;
		char *o = buf_reserve(out, room), *op = o;
		size_t outleft = room;
		size_t r = iconv(cd, &in, &inleft, &op, &outleft);
		buf_commit(out, (size_t)(op - o));
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG)
			continue;
		buf_put_utf8(out, 0xfffd);
		if (errno != EILSEQ)
			break; /* EINVAL: a sequence cut short by the end */
		in++;
		inleft--;
	}
	iconv_flush(cd, out);
}

void mime_charset_to_utf8(const char *charset, size_t cslen, const char *s, size_t len, struct buf *out)
{
	char name[MIME_MAX_CHARSET + 1];
	size_t n = 0;
	bool ok = charset != NULL && cslen > 0 && cslen <= MIME_MAX_CHARSET;
	for (size_t i = 0; ok && i < cslen; i++) {
		char c = charset[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':' ||
			    c == '+' || c == '(' || c == ')'))
			ok = false;
		name[n++] = c;
	}
	name[n] = '\0';
	if (!ok) {
		mime_text_to_utf8(s, len, out);
		return;
	}
	for (size_t i = 0; i < ARRAY_LEN(guess_names); i++)
		if (strcmp(name, guess_names[i]) == 0) {
			mime_text_to_utf8(s, len, out);
			return;
		}
	const char *iname = name;
	for (size_t i = 0; i < ARRAY_LEN(aliases); i++)
		if (strcmp(name, aliases[i].name) == 0) {
			iname = aliases[i].iconv_name;
			break;
		}
	if (iname == NULL) {
		utf8_sanitize(s, len, out);
		return;
	}
	if (strcmp(iname, "cp1252") == 0) {
		cp1252_to_utf8(s, len, out);
		return;
	}
	iconv_t cd = iconv_open("UTF-8", iname);
	if (cd == (iconv_t)-1) {
		mime_text_to_utf8(s, len, out);
		return;
	}
	/* iconv's output is UTF-8 already; pass it through the sanitizer all the
	 * same so that what we store is well-formed whatever the module does. */
	struct buf tmp = {0};
	iconv_to_utf8(cd, s, len, &tmp);
	iconv_close(cd);
	utf8_sanitize(tmp.data ? buf_head(&tmp) : "", buf_used(&tmp), out);
	buf_free(&tmp);
}

/* ---- transfer encodings ---- */

void mime_qp_decode(const char *s, size_t len, struct buf *out)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c == '=') {
			int h, l;
			if (i + 2 < len && (h = hexval((unsigned char)s[i + 1])) >= 0 &&
				(l = hexval((unsigned char)s[i + 2])) >= 0) {
				char b = (char)(h << 4 | l);
				buf_append(out, &b, 1);
				i += 3;
				continue;
			}
			size_t j = i + 1;
			while (j < len && (s[j] == ' ' || s[j] == '\t'))
				j++;
			if (j == len) {
				i = len;
				continue;
			}
			if (s[j] == '\n') {
				i = j + 1;
				continue;
			}
			if (s[j] == '\r' && j + 1 < len && s[j + 1] == '\n') {
				i = j + 2;
				continue;
			}
			buf_append(out, "=", 1);
			i++;
		} else if (c == ' ' || c == '\t') {
			/* Blanks at the end of a line were added in transport. */
			size_t j = i;
			while (j < len && (s[j] == ' ' || s[j] == '\t'))
				j++;
			if (!(j == len || s[j] == '\n' || (s[j] == '\r' && j + 1 < len && s[j + 1] == '\n')))
				buf_append(out, s + i, j - i);
			i = j;
		} else {
			size_t j = i + 1;
			while (j < len && s[j] != '=' && s[j] != ' ' && s[j] != '\t')
				j++;
			buf_append(out, s + i, j - i);
			i = j;
		}
	}
}

static const signed char b64[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10,
	['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19,
	['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
	['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37,
	['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46,
	['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55,
	['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

int mime_base64_decode(const char *s, size_t len, struct buf *out)
{
	uint32_t acc = 0;
	int n = 0;
	bool bad = false;
	size_t i = 0;
	while (i < len) {
		/* Decode whole quanta of a run of alphabet bytes at a time. */
		char *o = buf_reserve(out, (len - i) / 4 * 3 + 3);
		size_t w = 0;
		for (; i < len; i++) {
			unsigned char c = (unsigned char)s[i];
			int v = b64[c];
			if (v) {
				acc = acc << 6 | (uint32_t)(v - 1);
				if (++n == 4) {
					o[w++] = (char)(acc >> 16);
					o[w++] = (char)(acc >> 8);
					o[w++] = (char)acc;
					n = 0;
					acc = 0;
				}
			} else if (c == '=') {
				if (n == 2) {
					o[w++] = (char)(acc >> 4);
				} else if (n == 3) {
					o[w++] = (char)(acc >> 10);
					o[w++] = (char)(acc >> 2);
				} else if (n == 1) {
					bad = true;
				}
				n = 0;
				acc = 0;
			} else if (!(c == '\r' || c == '\n' || c == ' ' || c == '\t')) {
				bad = true;
			}
		}
		buf_commit(out, w);
	}
	if (n == 2) {
		char b = (char)(acc >> 4);
		buf_append(out, &b, 1);
	} else if (n == 3) {
		char b[2] = {(char)(acc >> 10), (char)(acc >> 2)};
		buf_append(out, b, 2);
	} else if (n == 1) {
		bad = true;
	}
	return bad ? -1 : 0;
}

int mime_decode_cte(int encoding, const char *data, size_t len, struct buf *out)
{
	switch (encoding) {
	case MIME_ENC_7BIT:
	case MIME_ENC_8BIT:
	case MIME_ENC_BINARY:
		buf_append(out, data, len);
		return 0;
	case MIME_ENC_QP:
		mime_qp_decode(data, len, out);
		return 0;
	case MIME_ENC_BASE64:
		return mime_base64_decode(data, len, out);
	default:
		return -1;
	}
}

/* ---- RFC 2047 ---- */

struct eword {
	const char *charset;
	size_t cslen;
	char enc;          /* 'b' or 'q' */
	const char *text;
	size_t tlen;
	size_t total;      /* bytes from "=?" to "?=" inclusive */
};

static bool is_lwsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Is there an encoded word at s[i..len)? The search for its closing "?=" stops
 * at a blank; *scan_lo / *scan_hi remember the last span known to hold no
 * "?=" and no blank, so that many false starts in one long word cost no more
 * than one pass. */
static bool parse_eword(const char *s, size_t len, size_t i, struct eword *w, size_t *scan_lo, size_t *scan_hi)
{
	if (i + 1 >= len || s[i] != '=' || s[i + 1] != '?')
		return false;
	size_t j = i + 2, cs = j;
	while (j < len && j - cs <= MIME_MAX_CHARSET && s[j] != '?' && !is_lwsp(s[j]))
		j++;
	if (j >= len || s[j] != '?' || j == cs)
		return false;
	w->charset = s + cs;
	w->cslen = j - cs;
	const char *star = memchr(w->charset, '*', w->cslen);
	if (star != NULL)
		w->cslen = (size_t)(star - w->charset);
	j++;
	if (j + 1 >= len || s[j + 1] != '?')
		return false;
	char e = s[j];
	if (e == 'B' || e == 'b')
		w->enc = 'b';
	else if (e == 'Q' || e == 'q')
		w->enc = 'q';
	else
		return false;
	size_t ts = j + 2, k;
	if (ts >= *scan_lo && ts <= *scan_hi) {
		k = *scan_hi;
	} else {
		k = ts;
		while (k < len && !is_lwsp(s[k]) && !(s[k] == '?' && k + 1 < len && s[k + 1] == '=')) {
			if (k == *scan_lo && *scan_hi > k) {
				k = *scan_hi;
				break;
			}
			k++;
		}
		*scan_lo = ts;
		*scan_hi = k;
	}
	if (k + 1 >= len || s[k] != '?' || s[k + 1] != '=' || k + 2 - i > MIME_MAX_WORD)
		return false;
	w->text = s + ts;
	w->tlen = k - ts;
	w->total = k + 2 - i;
	return true;
}

static void eword_decode(const struct eword *w, struct buf *out)
{
	if (w->enc == 'b') {
		(void)mime_base64_decode(w->text, w->tlen, out);
		return;
	}
	for (size_t i = 0; i < w->tlen; i++) {
		char c = w->text[i];
		int h, l;
		if (c == '_') {
			buf_append(out, " ", 1);
		} else if (c == '=' && i + 2 < w->tlen && (h = hexval((unsigned char)w->text[i + 1])) >= 0 &&
			(l = hexval((unsigned char)w->text[i + 2])) >= 0) {
			char b = (char)(h << 4 | l);
			buf_append(out, &b, 1);
			i += 2;
		} else {
			buf_append(out, &c, 1);
		}
	}
}

void mime_header_decode(const char *s, size_t len, struct buf *out)
{
	struct buf pend = {0}; /* decoded bytes of adjacent words in one charset */
	const char *pcs = NULL;
	size_t pcslen = 0;
	size_t scan_lo = 1, scan_hi = 0;
	size_t i = 0, raw = 0;
	while (i < len) {
		struct eword w;
		const char *q = memchr(s + i, '=', len - i);
		if (q == NULL)
			break;
		i = (size_t)(q - s);
		if (!parse_eword(s, len, i, &w, &scan_lo, &scan_hi)) {
			i++;
			continue;
		}
		/* Text before the word; blanks between two words are dropped. */
		bool only_blanks = pcs != NULL;
		for (size_t k = raw; k < i && only_blanks; k++)
			only_blanks = is_lwsp(s[k]);
		if (!only_blanks || pcs == NULL || pcslen != w.cslen || strncasecmp(pcs, w.charset, w.cslen) != 0) {
			if (pcs != NULL) {
				mime_charset_to_utf8(pcs, pcslen, pend.data ? buf_head(&pend) : "", buf_used(&pend), out);
				buf_clear(&pend);
				pcs = NULL;
			}
			if (!only_blanks)
				mime_text_to_utf8(s + raw, i - raw, out);
		}
		eword_decode(&w, &pend);
		pcs = w.charset;
		pcslen = w.cslen;
		i += w.total;
		raw = i;
	}
	if (pcs != NULL)
		mime_charset_to_utf8(pcs, pcslen, pend.data ? buf_head(&pend) : "", buf_used(&pend), out);
	mime_text_to_utf8(s + raw, len - raw, out);
	buf_free(&pend);
}
