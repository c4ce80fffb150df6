/* ENVELOPE, BODY and BODYSTRUCTURE (RFC 9051 section 7.5.2) rendered from the
 * part tree as the exact text of a FETCH response, and the RFC 5322 address
 * list parser ENVELOPE needs.
 *
 * Casing: body type, subtype, Content-Transfer-Encoding, disposition type and
 * every parameter name are lower-cased ("text" "plain" ("charset" "UTF-8")
 * NIL NIL "quoted-printable" ...); parameter values and all other header text
 * (ids, descriptions, languages, locations, MD5, ENVELOPE fields) are sent as
 * they appear in the message, unfolded and with surrounding blanks trimmed. A
 * text part without a charset gets ("charset" "us-ascii") first in its list,
 * a part without Content-Transfer-Encoding "7bit". An absent or empty field is
 * NIL. A missing address domain is "" (NIL would mark a group). RFC 2231
 * parameters are joined but not decoded: "title*" "us-ascii'en'This%20is...".
 * Strings are quoted when every byte may be (no NUL, CR, LF or 8-bit byte), else
 * sent as literals; a NUL, which no IMAP literal may carry, is sent as 0x80. */
#include "mime/mime-private.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

void mime_imap_string(const char *s, size_t len, struct buf *out)
{
	bool quote = true;
	for (size_t i = 0; i < len && quote; i++) {
		unsigned char c = (unsigned char)s[i];
		quote = c != 0 && c != '\r' && c != '\n' && c < 0x80;
	}
	if (quote) {
		char *o = buf_reserve(out, len * 2 + 2);
		size_t w = 0;
		o[w++] = '"';
		for (size_t i = 0; i < len; i++) {
			if (s[i] == '"' || s[i] == '\\')
				o[w++] = '\\';
			o[w++] = s[i];
		}
		o[w++] = '"';
		buf_commit(out, w);
		return;
	}
	buf_printf(out, "{%zu}\r\n", len);
	char *o = buf_reserve(out, len);
	for (size_t i = 0; i < len; i++)
		o[i] = s[i] ? s[i] : (char)0x80;
	buf_commit(out, len);
}

void mime_imap_nstring(const char *s, size_t len, struct buf *out)
{
	if (s == NULL || len == 0)
		buf_appends(out, "NIL");
	else
		mime_imap_string(s, len, out);
}

static void imap_cstring(const char *s, struct buf *out)
{
	mime_imap_string(s, strlen(s), out);
}

static void field_nstring(struct mime_tree *t, const struct mime_node *n, enum mime_fld f, struct buf *out)
{
	size_t len = 0;
	const char *v = mime_node_field(t, n, f, &len);
	mime_imap_nstring(v, len, out);
}

/* ---- addresses ---- */

enum tok_type { TK_ATOM, TK_QSTR, TK_DLIT, TK_COMMENT, TK_SPECIAL };

struct tok {
	enum tok_type type;
	const char *p; /* raw bytes (quotes, brackets and parentheses included) */
	size_t len;
	bool ws_before; /* blank or comment between this token and the previous one */
};

static bool is_special(unsigned char c)
{
	return strchr("()<>[]:;@\\,.\"", c) != NULL && c != 0;
}

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct tok *tokenize(const char *s, size_t len, size_t *n_r)
{
	size_t cap = 16, n = 0;
	struct tok *v = xmalloc(cap * sizeof *v);
	size_t i = 0;
	bool ws = false;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (is_ws(c)) {
			ws = true;
			i++;
			continue;
		}
		struct tok t = {.p = s + i, .ws_before = ws};
		size_t j = i + 1;
		if (c == '"') {
			while (j < len && s[j] != '"')
				j += s[j] == '\\' && j + 1 < len ? 2 : 1;
			if (j < len)
				j++;
			t.type = TK_QSTR;
		} else if (c == '(') {
			int depth = 1;
			while (j < len && depth > 0) {
				if (s[j] == '\\' && j + 1 < len)
					j++;
				else if (s[j] == '(')
					depth++;
				else if (s[j] == ')')
					depth--;
				j++;
			}
			t.type = TK_COMMENT;
		} else if (c == '[') {
			while (j < len && s[j] != ']')
				j += s[j] == '\\' && j + 1 < len ? 2 : 1;
			if (j < len)
				j++;
			t.type = TK_DLIT;
		} else if (is_special(c)) {
			t.type = TK_SPECIAL;
		} else {
			while (j < len && !is_ws((unsigned char)s[j]) && !is_special((unsigned char)s[j]))
				j++;
			t.type = TK_ATOM;
		}
		t.len = j - i;
		i = j;
		ws = t.type == TK_COMMENT;
		if (n == cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n++] = t;
	}
	*n_r = n;
	return v;
}

static bool tok_is(const struct tok *t, char c)
{
	return t->type == TK_SPECIAL && t->p[0] == c;
}

/* Append the content of a quoted string or comment, quoted-pairs undone. */
static void unquote(const char *p, size_t len, struct buf *out)
{
	for (size_t i = 1; i < len; i++) {
		if (p[i] == '\\' && i + 1 < len) {
			i++;
		} else if (i == len - 1 && (p[i] == '"' || p[i] == ')')) {
			break;
		}
		buf_append(out, p + i, 1);
	}
}

/* A display name from tokens [a, b): words joined by one blank where the
 * message had blanks, comments left out. */
static void phrase(const struct tok *v, size_t a, size_t b, struct buf *out)
{
	bool first = true;
	for (size_t i = a; i < b; i++) {
		if (v[i].type == TK_COMMENT)
			continue;
		if (!first && (v[i].ws_before || (i > a && v[i - 1].type == TK_COMMENT)))
			buf_append(out, " ", 1);
		first = false;
		if (v[i].type == TK_QSTR)
			unquote(v[i].p, v[i].len, out);
		else
			buf_append(out, v[i].p, v[i].len);
	}
}

/* A local part or a domain from tokens [a, b): raw words and dots. */
static void addr_text(const struct tok *v, size_t a, size_t b, struct buf *out)
{
	bool prev_word = false;
	for (size_t i = a; i < b; i++) {
		if (v[i].type == TK_COMMENT)
			continue;
		bool word = v[i].type != TK_SPECIAL;
		if (word && prev_word && v[i].ws_before)
			buf_append(out, " ", 1);
		buf_append(out, v[i].p, v[i].len);
		prev_word = word;
	}
}

static const char *head(const struct buf *b)
{
	return b->data ? b->data + b->start : "";
}

static void emit_addr(struct buf *out, const struct buf *name, const struct buf *adl, const struct buf *box,
	const struct buf *host)
{
	buf_append(out, "(", 1);
	mime_imap_nstring(head(name), buf_used(name), out);
	buf_append(out, " ", 1);
	mime_imap_nstring(head(adl), buf_used(adl), out);
	buf_append(out, " ", 1);
	mime_imap_string(head(box), buf_used(box), out);
	buf_append(out, " ", 1);
	mime_imap_string(head(host), buf_used(host), out);
	buf_append(out, ")", 1);
}

/* Index of the first token in [i, n) that is one of the specials in set. */
static size_t find_special(const struct tok *v, size_t i, size_t n, const char *set)
{
	while (i < n && !(v[i].type == TK_SPECIAL && strchr(set, v[i].p[0]) != NULL))
		i++;
	return i;
}

static void first_comment(const struct tok *v, size_t a, size_t b, struct buf *name)
{
	if (buf_used(name))
		return;
	for (size_t i = a; i < b; i++)
		if (v[i].type == TK_COMMENT) {
			unquote(v[i].p, v[i].len, name);
			/* Trim: "( Name )" gives "Name". */
			while (buf_used(name) && is_ws((unsigned char)buf_head(name)[buf_used(name) - 1]))
				name->len--;
			size_t k = 0;
			while (k < buf_used(name) && is_ws((unsigned char)buf_head(name)[k]))
				k++;
			name->start += k;
			if (buf_used(name) == 0)
				buf_clear(name);
			return;
		}
}

/* Render an address list; returns how many address structures it wrote. */
static size_t render_addresses(const char *s, size_t len, struct buf *out)
{
	size_t n;
	struct tok *v = tokenize(s, len, &n);
	struct buf name = {0}, adl = {0}, box = {0}, host = {0};
	size_t count = 0, i = 0;
	bool in_group = false;
	while (i < n) {
		if (tok_is(&v[i], ',') || v[i].type == TK_COMMENT || tok_is(&v[i], '>')) {
			i++;
			continue;
		}
		if (tok_is(&v[i], ';')) {
			if (in_group) {
				buf_appends(out, "(NIL NIL NIL NIL)");
				count++;
				in_group = false;
			}
			i++;
			continue;
		}
		buf_clear(&name);
		buf_clear(&adl);
		buf_clear(&box);
		buf_clear(&host);
		size_t start = i;
		size_t j = find_special(v, i, n, "<:@,;");
		if (j < n && tok_is(&v[j], ':') && !in_group) {
			phrase(v, i, j, &name);
			buf_appends(out, "(NIL NIL ");
			mime_imap_string(head(&name), buf_used(&name), out);
			buf_appends(out, " NIL)");
			count++;
			in_group = true;
			i = j + 1;
			continue;
		}
		size_t end;
		if (j < n && tok_is(&v[j], '<')) {
			phrase(v, i, j, &name);
			size_t k = j + 1;
			size_t close = find_special(v, k, n, ">");
			if (k < close && tok_is(&v[k], '@')) {
				size_t colon = find_special(v, k, close, ":");
				if (colon < close) {
					addr_text(v, k, colon, &adl);
					k = colon + 1;
				}
			}
			size_t at = find_special(v, k, close, "@");
			addr_text(v, k, at, &box);
			if (at < close)
				addr_text(v, at + 1, close, &host);
			end = find_special(v, close < n ? close + 1 : n, n, in_group ? ",;" : ",");
			first_comment(v, close, end, &name);
		} else {
			size_t stop = find_special(v, i, n, in_group ? ",;<" : ",<");
			size_t at = find_special(v, i, stop, "@");
			addr_text(v, i, at, &box);
			end = stop;
			if (at < stop) {
				/* The domain ends where a blank separates two words:
				 * "a@b.example c@d.example" lacks a comma. */
				size_t k = at + 1;
				bool prev_word = false;
				for (; k < stop; k++) {
					bool word = v[k].type == TK_ATOM || v[k].type == TK_QSTR || v[k].type == TK_DLIT;
					if (word && prev_word && v[k].ws_before)
						break;
					if (v[k].type != TK_COMMENT)
						prev_word = word;
				}
				addr_text(v, at + 1, k, &host);
				end = k;
			}
			first_comment(v, start, end, &name);
		}
		if (buf_used(&name) || buf_used(&box) || buf_used(&host)) {
			emit_addr(out, &name, &adl, &box, &host);
			count++;
		}
		i = end > i ? end : i + 1;
	}
	if (in_group) {
		buf_appends(out, "(NIL NIL NIL NIL)");
		count++;
	}
	buf_free(&name);
	buf_free(&adl);
	buf_free(&box);
	buf_free(&host);
	free(v);
	return count;
}

/* "(" addresses ")" or NIL; returns false (and writes nothing) when the
 * field is absent or holds no address. */
static bool address_field(struct mime_tree *t, const struct mime_node *n, enum mime_fld f, struct buf *out)
{
	size_t len;
	const char *v = mime_node_field(t, n, f, &len);
	if (v == NULL || len == 0)
		return false;
	size_t mark = out->len;
	buf_append(out, "(", 1);
	if (render_addresses(v, len, out) == 0) {
		out->len = mark;
		return false;
	}
	buf_append(out, ")", 1);
	return true;
}

void mime_render_envelope(struct mime_tree *t, const struct mime_node *n, struct buf *out)
{
	buf_append(out, "(", 1);
	field_nstring(t, n, FLD_DATE, out);
	buf_append(out, " ", 1);
	field_nstring(t, n, FLD_SUBJECT, out);
	buf_append(out, " ", 1);
	size_t from_at = out->len;
	if (!address_field(t, n, FLD_FROM, out))
		buf_appends(out, "NIL");
	size_t from_len = out->len - from_at;
	static const enum mime_fld rest[] = {FLD_SENDER, FLD_REPLY_TO, FLD_TO, FLD_CC, FLD_BCC};
	for (size_t i = 0; i < ARRAY_LEN(rest); i++) {
		buf_append(out, " ", 1);
		if (address_field(t, n, rest[i], out))
			continue;
		if (rest[i] == FLD_SENDER || rest[i] == FLD_REPLY_TO) {
			/* RFC 9051: absent or empty Sender / Reply-To mean From. */
			char *o = buf_reserve(out, from_len);
			memcpy(o, out->data + from_at, from_len);
			buf_commit(out, from_len);
		} else {
			buf_appends(out, "NIL");
		}
	}
	buf_append(out, " ", 1);
	field_nstring(t, n, FLD_IN_REPLY_TO, out);
	buf_append(out, " ", 1);
	field_nstring(t, n, FLD_MESSAGE_ID, out);
	buf_append(out, ")", 1);
}

/* ---- BODY / BODYSTRUCTURE ---- */

static void render_params(const struct mime_params *ps, bool add_charset, struct buf *out)
{
	if (ps->n == 0 && !add_charset) {
		buf_appends(out, "NIL");
		return;
	}
	buf_append(out, "(", 1);
	bool sp = false;
	if (add_charset) {
		buf_appends(out, "\"charset\" \"us-ascii\"");
		sp = true;
	}
	for (size_t i = 0; i < ps->n; i++) {
		if (sp)
			buf_append(out, " ", 1);
		sp = true;
		imap_cstring(ps->v[i].name, out);
		buf_append(out, " ", 1);
		mime_imap_string(ps->v[i].value, ps->v[i].value_len, out);
	}
	buf_append(out, ")", 1);
}

static void render_disposition(struct mime_tree *t, const struct mime_node *n, struct buf *out)
{
	size_t len;
	const char *v = mime_node_field(t, n, FLD_CDISP, &len);
	char *type = NULL;
	struct mime_params ps = {0};
	if (v != NULL)
		mime_ctype_parse(&t->arena, v, len, false, &type, NULL, &ps);
	if (type == NULL) {
		buf_appends(out, "NIL");
		return;
	}
	buf_append(out, "(", 1);
	imap_cstring(type, out);
	buf_append(out, " ", 1);
	render_params(&ps, false, out);
	buf_append(out, ")", 1);
}

static void render_language(struct mime_tree *t, const struct mime_node *n, struct buf *out)
{
	size_t len;
	const char *v = mime_node_field(t, n, FLD_CLANG, &len);
	size_t count = 0;
	if (v != NULL) {
		size_t ntok;
		struct tok *tv = tokenize(v, len, &ntok);
		for (size_t i = 0; i < ntok; i++) {
			if (tv[i].type != TK_ATOM && tv[i].type != TK_QSTR)
				continue;
			buf_append(out, count ? " " : "(", 1);
			mime_imap_string(tv[i].p, tv[i].len, out);
			count++;
		}
		free(tv);
	}
	buf_appends(out, count ? ")" : "NIL");
}

static void render_ext_common(struct mime_tree *t, const struct mime_node *n, struct buf *out)
{
	buf_append(out, " ", 1);
	render_disposition(t, n, out);
	buf_append(out, " ", 1);
	render_language(t, n, out);
	buf_append(out, " ", 1);
	field_nstring(t, n, FLD_CLOC, out);
}

static bool has_charset(const struct mime_params *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->v[i].name, "charset") == 0 || strcmp(ps->v[i].name, "charset*") == 0)
			return true;
	return false;
}

void mime_render_body(struct mime_tree *t, const struct mime_node *n, bool ext, struct buf *out)
{
	buf_append(out, "(", 1);
	if (n->kind == MIME_MULTI) {
		for (int c = n->first; c >= 0; c = t->nodes[c].next)
			mime_render_body(t, &t->nodes[c], ext, out);
		buf_append(out, " ", 1);
		imap_cstring(n->subtype, out);
		if (ext) {
			buf_append(out, " ", 1);
			render_params(&n->params, false, out);
			render_ext_common(t, n, out);
		}
		buf_append(out, ")", 1);
		return;
	}
	bool text = strcmp(n->type, "text") == 0;
	imap_cstring(n->type, out);
	buf_append(out, " ", 1);
	imap_cstring(n->subtype, out);
	buf_append(out, " ", 1);
	render_params(&n->params, text && !has_charset(&n->params), out);
	buf_append(out, " ", 1);
	field_nstring(t, n, FLD_CID, out);
	buf_append(out, " ", 1);
	field_nstring(t, n, FLD_CDESC, out);
	buf_append(out, " ", 1);
	imap_cstring(n->cte ? n->cte : "7bit", out);
	buf_printf(out, " %zu", n->body_len);
	if (n->kind == MIME_MSG) {
		const struct mime_node *m = &t->nodes[n->first];
		buf_append(out, " ", 1);
		mime_render_envelope(t, m, out);
		buf_append(out, " ", 1);
		mime_render_body(t, m, ext, out);
		buf_printf(out, " %u", n->lines);
	} else if (text) {
		buf_printf(out, " %u", n->lines);
	}
	if (ext) {
		buf_append(out, " ", 1);
		field_nstring(t, n, FLD_CMD5, out);
		render_ext_common(t, n, out);
	}
	buf_append(out, ")", 1);
}
