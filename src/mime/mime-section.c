/* The section table: every IMAP part number of a message with the byte ranges
 * BODY[section] needs, written at delivery and read by mime_section_find()
 * for each FETCH, so a FETCH never parses MIME again.
 *
 * Format (version 1): the line "v1", then one line per part in part-number
 * order,
 *     <part> <kind> <hoff> <hlen> <blen> <lines> <enc>[ <mhlen> <mlines> <menc> <mkind>]
 * <part> is the IMAP part number ("2.1"), or 0 for the whole message. <kind> is
 * t (a leaf), m (multipart) or r (message/rfc822 or message/global). The part's
 * MIME header is [hoff, hoff+hlen) and its body follows it directly, blen
 * bytes of <lines> text lines. <enc> is the transfer encoding: 7, 8, b
 * (binary), q (quoted-printable), B (base64) or x (anything else). A message
 * part adds its embedded message: a header of mhlen bytes at the start of the
 * body, then the text, of mlines lines, with encoding menc and kind mkind.
 * Line 0 carries the message's own header and text. A part that is not a
 * multipart has, as RFC 9051 says, a part 1: a non-multipart message's part 1
 * is its body, whose MIME header is the message header; the parts of a message
 * part are those of its embedded message. */
#include "mime/mime-private.h"

#include <string.h>

#include "core/util.h"

static char enc_char(int enc)
{
	switch (enc) {
	case MIME_ENC_7BIT:
		return '7';
	case MIME_ENC_8BIT:
		return '8';
	case MIME_ENC_BINARY:
		return 'b';
	case MIME_ENC_QP:
		return 'q';
	case MIME_ENC_BASE64:
		return 'B';
	default:
		return 'x';
	}
}

static int enc_from_char(char c)
{
	switch (c) {
	case '7':
		return MIME_ENC_7BIT;
	case '8':
		return MIME_ENC_8BIT;
	case 'b':
		return MIME_ENC_BINARY;
	case 'q':
		return MIME_ENC_QP;
	case 'B':
		return MIME_ENC_BASE64;
	default:
		return MIME_ENC_OTHER;
	}
}

static char kind_char(enum mime_kind k)
{
	return k == MIME_MULTI ? 'm' : k == MIME_MSG ? 'r' : 't';
}

static void line(struct mime_tree *t, const struct mime_node *n, const char *path, struct buf *out)
{
	buf_printf(out, "%s %c %zu %zu %zu %u %c", path, kind_char(n->kind), n->hdr_off, n->hdr_len, n->body_len,
		n->lines, enc_char(n->enc));
	if (n->kind == MIME_MSG) {
		const struct mime_node *m = &t->nodes[n->first];
		buf_printf(out, " %zu %u %c %c", m->hdr_len, m->lines, enc_char(m->enc), kind_char(m->kind));
	}
	buf_append(out, "\n", 1);
}

/* Set path to its first mark bytes followed by ".i" ("i" at the top), and
 * keep it NUL-terminated. */
static void path_set(struct buf *path, size_t mark, int i)
{
	path->len = mark;
	if (i > 0)
		buf_printf(path, mark ? ".%d" : "%d", i);
	buf_append(path, "", 1);
	path->len--;
}

static void message_parts(struct mime_tree *t, const struct mime_node *m, struct buf *path, struct buf *out);

/* Part n, numbered path. */
static void part(struct mime_tree *t, const struct mime_node *n, struct buf *path, struct buf *out)
{
	line(t, n, buf_head(path), out);
	size_t mark = path->len;
	if (n->kind == MIME_MULTI) {
		int i = 1;
		for (int c = n->first; c >= 0; c = t->nodes[c].next, i++) {
			path_set(path, mark, i);
			part(t, &t->nodes[c], path, out);
		}
	} else if (n->kind == MIME_MSG) {
		message_parts(t, &t->nodes[n->first], path, out);
	}
	path_set(path, mark, 0);
}

/* The parts of message m, numbered under path ("" for the top level). */
static void message_parts(struct mime_tree *t, const struct mime_node *m, struct buf *path, struct buf *out)
{
	size_t mark = path->len;
	if (m->kind == MIME_MULTI) {
		int i = 1;
		for (int c = m->first; c >= 0; c = t->nodes[c].next, i++) {
			path_set(path, mark, i);
			part(t, &t->nodes[c], path, out);
		}
	} else {
		path_set(path, mark, 1);
		part(t, m, path, out);
	}
	path_set(path, mark, 0);
}

void mime_render_sections(struct mime_tree *t, struct buf *out)
{
	buf_appends(out, "v1\n");
	line(t, &t->nodes[0], "0", out);
	struct buf path = {0};
	path_set(&path, 0, 0);
	message_parts(t, &t->nodes[0], &path, out);
	buf_free(&path);
}

/* ---- lookup ---- */

static bool valid_part(const char *p)
{
	if (*p == '\0')
		return true;
	for (;;) {
		if (*p < '1' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p == '\0')
			return true;
		if (*p != '.')
			return false;
		p++;
	}
}

static bool num(const char **s, uint64_t *r)
{
	const char *p = *s;
	uint64_t v = 0;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	if (*p == ' ')
		p++;
	*s = p;
	*r = v;
	return true;
}

static bool chr(const char **s, char *r)
{
	const char *p = *s;
	if (*p == '\0' || *p == '\n' || *p == ' ')
		return false;
	*r = *p++;
	if (*p == ' ')
		p++;
	*s = p;
	return true;
}

int mime_section_find(const char *table, const char *part, bool want_message, struct mime_section *r)
{
	memset(r, 0, sizeof *r);
	if (table == NULL || part == NULL || !valid_part(part) || strncmp(table, "v1\n", 3) != 0)
		return -1;
	const char *key = *part ? part : "0";
	size_t klen = strlen(key);
	const char *p = table + 3;
	while (*p) {
		const char *eol = strchr(p, '\n');
		if (eol == NULL)
			eol = p + strlen(p);
		if ((size_t)(eol - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == ' ') {
			const char *s = p + klen + 1;
			char kind = 0, enc = 0, menc = '7', mkind = 't';
			uint64_t hoff = 0, hlen = 0, blen = 0, lines = 0, mhlen = 0, mlines = 0;
			if (!chr(&s, &kind) || !num(&s, &hoff) || !num(&s, &hlen) || !num(&s, &blen) || !num(&s, &lines) ||
				!chr(&s, &enc))
				return -1;
			if (kind == 'r' && (!num(&s, &mhlen) || !num(&s, &mlines) || !chr(&s, &menc) || !chr(&s, &mkind) ||
						   mhlen > blen))
				return -1;
			bool top = *part == '\0';
			if (want_message && !top) {
				if (kind != 'r')
					return -1;
				uint64_t off = hoff + hlen;
				r->header_off = r->all_off = off;
				r->header_len = mhlen;
				r->body_off = off + mhlen;
				r->body_len = blen - mhlen;
				r->all_len = blen;
				r->body_lines = (uint32_t)mlines;
				r->encoding = enc_from_char(menc);
				r->is_message = true;
				r->is_multipart = mkind == 'm';
				return 0;
			}
			r->header_off = r->all_off = hoff;
			r->header_len = hlen;
			r->body_off = hoff + hlen;
			r->body_len = blen;
			r->all_len = hlen + blen;
			r->body_lines = (uint32_t)lines;
			r->encoding = enc_from_char(enc);
			r->is_message = top || kind == 'r';
			r->is_multipart = kind == 'm';
			return 0;
		}
		p = *eol ? eol + 1 : eol;
	}
	return -1;
}
