/* BINARYMIME (RFC 3030) made storable: the store keeps messages with CRLF
 * line ends, which would change the bytes of a part sent with
 * Content-Transfer-Encoding: binary. Such parts are re-encoded as base64 and
 * their header says so; everything else is copied as it is. A client reading
 * the part (IMAP BINARY[], or any MIME reader) gets the very bytes that were
 * sent. */
#include "mime/mime-private.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define MIME_B64_LINE 57 /* input bytes per base64 line of 76 characters */

static int by_body_off(const void *a, const void *b)
{
	const struct mime_node *x = *(const struct mime_node *const *)a, *y = *(const struct mime_node *const *)b;
	return x->body_off < y->body_off ? -1 : x->body_off > y->body_off;
}

static void base64_lines(const char *p, size_t len, struct buf *out)
{
	char line[80];
	for (size_t i = 0; i < len; i += MIME_B64_LINE) {
		size_t n = len - i < MIME_B64_LINE ? len - i : MIME_B64_LINE;
		base64_encode(p + i, n, line);
		if (i > 0)
			buf_append(out, "\r\n", 2);
		buf_appends(out, line);
	}
}

int mime_unbinary(const char *data, size_t len, struct buf *out)
{
	struct mime_tree t;
	mime_tree_build(&t, data, len);
	const struct mime_node **leaves = xcalloc(t.n ? t.n : 1, sizeof *leaves);
	size_t n = 0;
	for (size_t i = 0; i < t.n; i++) {
		const struct mime_node *node = &t.nodes[i];
		if (node->kind == MIME_LEAF && node->enc == MIME_ENC_BINARY && node->present[FLD_CTE])
			leaves[n++] = node;
	}
	qsort(leaves, n, sizeof *leaves, by_body_off);
	size_t pos = 0, done = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mime_node *node = leaves[i];
		size_t voff = (size_t)(node->f[FLD_CTE].p - data), vlen = node->f[FLD_CTE].len;
		while (vlen > 0 && (data[voff] == ' ' || data[voff] == '\t')) {
			voff++; /* the blank after the colon stays */
			vlen--;
		}
		if (voff < pos || voff + vlen > node->body_off || node->body_off + node->body_len > len)
			continue;
		buf_append(out, data + pos, voff - pos);
		buf_appends(out, "base64");
		buf_append(out, data + voff + vlen, node->body_off - voff - vlen);
		base64_lines(data + node->body_off, node->body_len, out);
		pos = node->body_off + node->body_len;
		if (pos == len)
			buf_append(out, "\r\n", 2);
		done++;
	}
	buf_append(out, data + pos, len - pos);
	free(leaves);
	mime_tree_free(&t);
	return (int)done;
}
