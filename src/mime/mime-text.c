/* The SEARCH text of a message: its header fields as "name: value" lines with
 * RFC 2047 words decoded, and the text of its text/ parts (transfer encoding
 * undone, charset converted, HTML tags and comments dropped, basic entities
 * decoded), including the headers and text of attached messages; all UTF-8,
 * case-folded with mime_casefold() and free of NUL bytes. Parts that are not
 * text/ are left out. The body text stops at MIME_MAX_TEXT bytes, the header
 * text likewise, and neither costs more than linear time. */
#include "mime/mime-private.h"

#include <string.h>

#include "core/util.h"

struct text_ctx {
	struct mime_tree *t;
	struct buf *out;
	struct buf a, b, c; /* scratch */
};

static const char *head(const struct buf *b)
{
	return b->data ? b->data + b->start : "";
}

/* Fold s into out, at most MIME_MAX_TEXT bytes in all, cut at a character
 * boundary. Returns false once out is full. */
static bool add_folded(const char *s, size_t len, struct buf *out)
{
	size_t before = buf_used(out);
	if (before >= MIME_MAX_TEXT)
		return false;
	if (len > (MIME_MAX_TEXT - before) * 2) {
		len = (MIME_MAX_TEXT - before) * 2;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	mime_casefold(s, len, out);
	if (buf_used(out) == before)
		return true;
	/* Lines end in LF alone; a NUL or stray CR becomes a blank. */
	char *d = out->data + out->start;
	size_t w = before;
	for (size_t i = before; i < buf_used(out); i++) {
		char c = d[i];
		if (c == '\r' && i + 1 < buf_used(out) && d[i + 1] == '\n')
			continue;
		d[w++] = c == '\0' || c == '\r' ? ' ' : c;
	}
	out->len = out->start + w;
	if (buf_used(out) > MIME_MAX_TEXT) {
		size_t cut = MIME_MAX_TEXT;
		while (cut > before && ((unsigned char)d[cut] & 0xc0) == 0x80)
			cut--;
		out->len = out->start + cut;
		return false;
	}
	return true;
}

/* One "name: value\n" line per field of n's header. */
static void header_lines(struct text_ctx *x, const struct mime_node *n, struct buf *out)
{
	struct mime_hdr_iter it;
	struct mime_field f;
	mime_hdr_init(&it, x->t->data, n->hdr_off, n->hdr_off + n->hdr_len, n->parent < 0);
	while (mime_hdr_next(&it, &f)) {
		buf_clear(&x->a);
		buf_clear(&x->b);
		mime_unfold(f.value, MIME_MAX_FIELD, &x->a);
		mime_text_to_utf8(f.name.p, f.name.len, &x->b);
		buf_append(&x->b, ": ", 2);
		mime_header_decode(head(&x->a), buf_used(&x->a), &x->b);
		char *d = x->b.data + x->b.start;
		for (size_t i = 0; i < buf_used(&x->b); i++)
			if (d[i] == '\r' || d[i] == '\n')
				d[i] = ' ';
		buf_append(&x->b, "\n", 1);
		if (!add_folded(head(&x->b), buf_used(&x->b), out))
			return;
	}
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool ieq_prefix(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);
	if (len < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != p[i])
			return false;
	}
	return true;
}

/* The charset an HTML document declares in a <meta> near its start. */
static bool html_charset(const char *s, size_t len, const char **cs_r, size_t *cslen_r)
{
	if (len > 2048)
		len = 2048;
	for (size_t i = 0; i + 8 < len; i++) {
		if ((s[i] != 'c' && s[i] != 'C') || !ieq_prefix(s + i, len - i, "charset="))
			continue;
		size_t j = i + 8;
		while (j < len && (s[j] == '"' || s[j] == '\'' || s[j] == ' '))
			j++;
		size_t k = j;
		while (k < len && k - j < MIME_MAX_CHARSET && (is_alnum(s[k]) || strchr("-_.:", s[k]) != NULL))
			k++;
		if (k > j) {
			*cs_r = s + j;
			*cslen_r = k - j;
			return true;
		}
	}
	return false;
}

static const struct {
	const char *name;
	uint32_t cp;
} entities[] = {
	{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", ' '},
};

/* An entity at s[0..len) (s[0] == '&'): append it and return its length, or
 * return 0 when it is not one. */
static size_t entity(const char *s, size_t len, struct buf *out)
{
	size_t i = 1;
	if (i < len && s[i] == '#') {
		i++;
		bool hex = i < len && (s[i] == 'x' || s[i] == 'X');
		if (hex)
			i++;
		size_t ds = i;
		uint32_t v = 0;
		while (i < len && i - ds < 8) {
			char c = s[i];
			int d = c >= '0' && c <= '9' ? c - '0'
				: hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
				: hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (d < 0)
				break;
			v = v * (hex ? 16 : 10) + (uint32_t)d;
			i++;
		}
		if (i == ds)
			return 0;
		if (i < len && s[i] == ';')
			i++;
		buf_put_utf8(out, v == 0 || v > 0x10ffff ? 0xfffd : v);
		return i;
	}
	size_t ns = i;
	while (i < len && i - ns < 8 && is_alnum(s[i]))
		i++;
	for (size_t k = 0; k < ARRAY_LEN(entities); k++) {
		size_t n = strlen(entities[k].name);
		if (i - ns == n && memcmp(s + ns, entities[k].name, n) == 0) {
			if (i < len && s[i] == ';')
				i++;
			buf_put_utf8(out, entities[k].cp);
			return i;
		}
	}
	return 0;
}

static const char *const block_tags[] = {
	"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "pre", "hr",
	"title", "dt", "dd", "section", "article", "header", "footer",
};

/* Text of an HTML document: tags, comments, scripts and styles dropped, block
 * tags turned into line breaks, cells into blanks. */
static void html_strip(const char *s, size_t len, struct buf *out)
{
	size_t i = 0;
	while (i < len) {
		size_t run = i;
		while (run < len && s[run] != '<' && s[run] != '&')
			run++;
		buf_append(out, s + i, run - i);
		i = run;
		if (i >= len)
			break;
		if (s[i] == '&') {
			size_t n = entity(s + i, len - i, out);
			if (n == 0) {
				buf_append(out, "&", 1);
				n = 1;
			}
			i += n;
			continue;
		}
		if (i + 4 <= len && memcmp(s + i, "<!--", 4) == 0) {
			const char *e = memmem(s + i + 4, len - i - 4, "-->", 3);
			i = e ? (size_t)(e - s) + 3 : len;
			continue;
		}
		size_t j = i + 1;
		bool close = j < len && s[j] == '/';
		if (close)
			j++;
		if (j >= len || !((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || s[j] == '!' || s[j] == '?')) {
			buf_append(out, "<", 1);
			i++;
			continue;
		}
		size_t ns = j;
		while (j < len && is_alnum(s[j]))
			j++;
		char name[12] = {0};
		for (size_t k = 0; k < j - ns && k < sizeof name - 1; k++)
			name[k] = (char)(s[ns + k] >= 'A' && s[ns + k] <= 'Z' ? s[ns + k] - 'A' + 'a' : s[ns + k]);
		if (j - ns >= sizeof name)
			name[0] = '\0';
		/* To the '>', over attribute values in quotes. */
		char q = 0;
		size_t last = j;
		for (; j < len; j++) {
			if (q) {
				if (s[j] == q)
					q = 0;
			} else if (s[j] == '>') {
				break;
			} else if ((s[j] == '"' || s[j] == '\'') && s[last] == '=') {
				q = s[j];
			}
			if (s[j] != ' ' && s[j] != '\t' && s[j] != '\r' && s[j] != '\n')
				last = j;
		}
		i = j < len ? j + 1 : len;
		for (size_t k = 0; k < ARRAY_LEN(block_tags); k++)
			if (strcmp(name, block_tags[k]) == 0)
				buf_append(out, "\n", 1);
		if (strcmp(name, "td") == 0 || strcmp(name, "th") == 0)
			buf_append(out, " ", 1);
		if (!close && (strcmp(name, "script") == 0 || strcmp(name, "style") == 0)) {
			size_t nl = strlen(name);
			while (i < len) {
				const char *lt = memchr(s + i, '<', len - i);
				if (lt == NULL) {
					i = len;
					break;
				}
				i = (size_t)(lt - s);
				if (i + 2 + nl <= len && s[i + 1] == '/' && ieq_prefix(s + i + 2, nl, name))
					break;
				i++;
			}
		}
	}
}

static void text_part(struct text_ctx *x, const struct mime_node *n)
{
	const char *raw = x->t->data + n->body_off;
	size_t len = n->body_len;
	size_t room = buf_used(x->out) < MIME_MAX_TEXT ? MIME_MAX_TEXT - buf_used(x->out) : 0;
	/* No decoding can turn more than this much input into the text left. */
	if (len / 4 > room + 64)
		len = (room + 64) * 4;
	buf_clear(&x->a);
	buf_clear(&x->b);
	buf_clear(&x->c);
	const char *p = raw;
	if (n->enc == MIME_ENC_QP || n->enc == MIME_ENC_BASE64) {
		(void)mime_decode_cte(n->enc, raw, len, &x->a);
		p = head(&x->a);
		len = buf_used(&x->a);
	}
	bool html = strcmp(n->subtype, "html") == 0;
	size_t cslen = 0;
	const char *cs = mime_param_get(&x->t->arena, &n->params, "charset", &cslen);
	if (cs == NULL && html && !html_charset(p, len, &cs, &cslen))
		cs = NULL;
	mime_charset_to_utf8(cs, cslen, p, len, &x->b);
	const struct buf *text = &x->b;
	if (html) {
		html_strip(head(&x->b), buf_used(&x->b), &x->c);
		text = &x->c;
	}
	if (add_folded(head(text), buf_used(text), x->out))
		add_folded("\n", 1, x->out);
}

static void walk(struct text_ctx *x, const struct mime_node *n)
{
	if (buf_used(x->out) >= MIME_MAX_TEXT)
		return;
	if (n->kind == MIME_MULTI) {
		for (int c = n->first; c >= 0; c = x->t->nodes[c].next)
			walk(x, &x->t->nodes[c]);
	} else if (n->kind == MIME_MSG) {
		const struct mime_node *m = &x->t->nodes[n->first];
		header_lines(x, m, x->out);
		walk(x, m);
	} else if (strcmp(n->type, "text") == 0) {
		text_part(x, n);
	}
}

void mime_render_search(struct mime_tree *t, struct buf *headers, struct buf *body)
{
	struct text_ctx x = {.t = t, .out = body};
	header_lines(&x, &t->nodes[0], headers);
	walk(&x, &t->nodes[0]);
	buf_free(&x.a);
	buf_free(&x.b);
	buf_free(&x.c);
}
