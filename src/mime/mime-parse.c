/* The structure pass of the MIME parser: header blocks, Content-Type and the
 * multipart / message/rfc822 tree with byte offsets and line counts, and
 * mime_parse(), which runs the renderers over the tree. Any input gives a
 * tree: what cannot be understood degrades to a text/plain leaf. Each byte is
 * scanned a bounded number of times per nesting level (at most MIME_MAX_DEPTH),
 * so time and memory stay linear in the size of the message. */
#include "mime/mime-private.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* ---- arena ---- */

struct mime_arena_block {
	struct mime_arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

#define ARENA_BLOCK 16384

void *mime_arena_alloc(struct mime_arena *a, size_t n)
{
	size_t align = sizeof(max_align_t);
	n = (n + align - 1) / align * align;
	struct mime_arena_block *b = a->head;
	if (b == NULL || b->cap - b->used < n) {
		size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		b = xmalloc(sizeof *b + cap);
		b->used = 0;
		b->cap = cap;
		/* A big allocation gets a block of its own behind the current one,
		 * so the current block's free room is not lost. */
		if (n > ARENA_BLOCK && a->head != NULL) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	void *p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

char *mime_arena_strndup(struct mime_arena *a, const char *s, size_t n)
{
	char *p = mime_arena_alloc(a, n + 1);
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void mime_arena_free(struct mime_arena *a)
{
	while (a->head != NULL) {
		struct mime_arena_block *b = a->head;
		a->head = b->next;
		free(b);
	}
}

/* ---- header blocks ---- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* End of the line that starts at pos: *next_r is the start of the next line,
 * and the return value is the end of the line's content (before CRLF / LF). */
static size_t line_end(const char *d, size_t pos, size_t end, size_t *next_r)
{
	const char *lf = memchr(d + pos, '\n', end - pos);
	size_t e = lf ? (size_t)(lf - d) : end;
	*next_r = lf ? e + 1 : end;
	if (e > pos && d[e - 1] == '\r')
		e--;
	return e;
}

void mime_hdr_init(struct mime_hdr_iter *it, const char *d, size_t off, size_t end, bool mbox)
{
	it->d = d;
	it->pos = it->start = off;
	it->end = end;
	it->mbox = mbox;
	it->done = false;
}

bool mime_hdr_next(struct mime_hdr_iter *it, struct mime_field *f)
{
	const char *d = it->d;
	while (!it->done) {
		if (it->pos >= it->end) {
			it->done = true;
			break;
		}
		size_t start = it->pos, next;
		size_t ce = line_end(d, start, it->end, &next);
		if (ce == start) {
			/* The empty line ends the header and belongs to it. */
			it->pos = next;
			it->done = true;
			break;
		}
		size_t i = start;
		/* RFC 5322 names are printable ASCII; 8-bit bytes are let in, as
		 * they are in values, rather than ending the header there. */
		while (i < ce && (unsigned char)d[i] > 32 && d[i] != 127 && d[i] != ':')
			i++;
		size_t name_end = i;
		while (i < ce && is_blank(d[i]))
			i++;
		if (name_end == start || i == ce || d[i] != ':') {
			if (it->mbox && start == it->start && ce - start >= 5 && memcmp(d + start, "From ", 5) == 0) {
				it->pos = next;
				continue;
			}
			/* Not a field (nor a continuation, which never starts a
			 * field): the body starts here without an empty line. */
			it->done = true;
			break;
		}
		size_t vend = ce;
		while (next < it->end && is_blank(d[next]))
			vend = line_end(d, next, it->end, &next);
		f->name = (struct mime_slice){d + start, name_end - start};
		f->value = (struct mime_slice){d + i + 1, vend - (i + 1)};
		it->pos = next;
		return true;
	}
	return false;
}

void mime_unfold(struct mime_slice v, size_t max, struct buf *out)
{
	const char *s = v.p;
	size_t len = v.len, i = 0;
	while (i < len && (is_blank(s[i]) || s[i] == '\r' || s[i] == '\n'))
		i++;
	while (len > i && (is_blank(s[len - 1]) || s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	size_t n = 0;
	while (i < len && n < max) {
		/* Runs without line ends are copied whole. */
		size_t j = i;
		while (j < len && s[j] != '\n' && !(s[j] == '\r' && j + 1 < len && s[j + 1] == '\n'))
			j++;
		size_t take = j - i;
		if (take > max - n)
			take = max - n;
		buf_append(out, s + i, take);
		n += take;
		if (j < len)
			j += s[j] == '\r' ? 2 : 1;
		i = j;
	}
}

/* ---- the tree ---- */

static const struct {
	const char *name;
	enum mime_fld f;
} field_names[] = {
	{"content-type", FLD_CTYPE},
	{"content-transfer-encoding", FLD_CTE},
	{"content-id", FLD_CID},
	{"content-description", FLD_CDESC},
	{"content-disposition", FLD_CDISP},
	{"content-language", FLD_CLANG},
	{"content-location", FLD_CLOC},
	{"content-md5", FLD_CMD5},
	{"date", FLD_DATE},
	{"subject", FLD_SUBJECT},
	{"from", FLD_FROM},
	{"sender", FLD_SENDER},
	{"reply-to", FLD_REPLY_TO},
	{"to", FLD_TO},
	{"cc", FLD_CC},
	{"bcc", FLD_BCC},
	{"in-reply-to", FLD_IN_REPLY_TO},
	{"message-id", FLD_MESSAGE_ID},
};

static int field_id(struct mime_slice name)
{
	for (size_t i = 0; i < ARRAY_LEN(field_names); i++)
		if (mem_ieq(name.p, name.len, field_names[i].name))
			return (int)field_names[i].f;
	return -1;
}

static uint32_t count_lines(const char *d, size_t off, size_t len)
{
	uint64_t n = 0;
	const char *p = d + off, *e = d + off + len;
	while (p < e) {
		const char *lf = memchr(p, '\n', (size_t)(e - p));
		if (lf == NULL)
			break;
		n++;
		p = lf + 1;
	}
	if (len && d[off + len - 1] != '\n')
		n++;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static int new_node(struct mime_tree *t, int parent, int depth)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->nodes = xrealloc(t->nodes, t->cap * sizeof *t->nodes);
	}
	int idx = (int)t->n++;
	struct mime_node *n = &t->nodes[idx];
	memset(n, 0, sizeof *n);
	n->parent = parent;
	n->first = n->last = n->next = -1;
	n->depth = depth;
	if (parent >= 0) {
		struct mime_node *p = &t->nodes[parent];
		if (p->last >= 0)
			t->nodes[p->last].next = idx;
		else
			p->first = idx;
		p->last = idx;
		p->n_children++;
	}
	return idx;
}

static int cte_id(const char *cte)
{
	if (cte == NULL || strcmp(cte, "7bit") == 0)
		return MIME_ENC_7BIT;
	if (strcmp(cte, "8bit") == 0)
		return MIME_ENC_8BIT;
	if (strcmp(cte, "binary") == 0)
		return MIME_ENC_BINARY;
	if (strcmp(cte, "quoted-printable") == 0)
		return MIME_ENC_QP;
	if (strcmp(cte, "base64") == 0)
		return MIME_ENC_BASE64;
	return MIME_ENC_OTHER;
}

const char *mime_node_field(struct mime_tree *t, const struct mime_node *n, enum mime_fld f, size_t *len_r)
{
	if (!n->present[f])
		return NULL;
	struct buf b = {0};
	mime_unfold(n->f[f], MIME_MAX_FIELD, &b);
	char *s = mime_arena_strndup(&t->arena, b.data ? buf_head(&b) : "", buf_used(&b));
	*len_r = buf_used(&b);
	buf_free(&b);
	return s;
}

/* The token of Content-Transfer-Encoding, lower-cased; comments and anything
 * after the first word are dropped. */
static char *parse_cte(struct mime_tree *t, const struct mime_node *n)
{
	size_t len;
	const char *v = mime_node_field(t, n, FLD_CTE, &len);
	if (v == NULL)
		return NULL;
	size_t i = 0;
	while (i < len && (is_blank(v[i]) || v[i] == '"'))
		i++;
	size_t s = i;
	while (i < len && (unsigned char)v[i] > 32 && v[i] != '(' && v[i] != ';' && v[i] != '"')
		i++;
	if (i == s)
		return NULL;
	char *r = mime_arena_strndup(&t->arena, v + s, i - s);
	for (char *p = r; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return r;
}

static void set_text_plain(struct mime_node *n)
{
	n->type = "text";
	n->subtype = "plain";
	n->params = (struct mime_params){0};
	n->kind = MIME_LEAF;
}

struct delim {
	size_t line, next; /* start of the delimiter line, start of the line after it */
};

/* The delimiter lines of boundary b in [off, end), up to the close delimiter.
 * *close_r is where the close delimiter line starts (end when missing). */
static struct delim *find_delims(const char *d, size_t off, size_t end, const char *b, size_t blen, size_t *n_r,
	size_t *close_r)
{
	struct delim *v = NULL;
	size_t n = 0, cap = 0;
	size_t pos = off;
	*close_r = end;
	while (pos < end) {
		size_t next;
		size_t ce = line_end(d, pos, end, &next);
		if (ce - pos >= blen + 2 && d[pos] == '-' && d[pos + 1] == '-' && memcmp(d + pos + 2, b, blen) == 0) {
			size_t i = pos + 2 + blen;
			if (ce - i >= 2 && d[i] == '-' && d[i + 1] == '-') {
				*close_r = pos;
				break;
			}
			while (i < ce && (is_blank(d[i]) || d[i] == '\r'))
				i++;
			if (i == ce) {
				if (n == cap) {
					cap = cap ? cap * 2 : 8;
					v = xrealloc(v, cap * sizeof *v);
				}
				v[n++] = (struct delim){pos, next};
			}
		}
		pos = next;
	}
	*n_r = n;
	return v;
}

/* Where a part that ends before the delimiter line at pos ends: the line end
 * before the delimiter belongs to the delimiter. */
static size_t before_delim(const char *d, size_t lo, size_t pos)
{
	if (pos > lo && d[pos - 1] == '\n')
		pos--;
	if (pos > lo && d[pos - 1] == '\r')
		pos--;
	return pos;
}

/* Grow node idx (and the message inside it) to end at new_end. */
static void extend_node(struct mime_tree *t, int idx, size_t new_end)
{
	while (idx >= 0) {
		struct mime_node *n = &t->nodes[idx];
		if (new_end <= n->body_off + n->body_len)
			return;
		n->body_len = new_end - n->body_off;
		n->lines = count_lines(t->data, n->body_off, n->body_len);
		idx = n->kind == MIME_MSG ? n->first : -1;
	}
}

static void parse_entity(struct mime_tree *t, int idx, size_t off, size_t end, bool in_digest);

static bool parse_multipart(struct mime_tree *t, int idx, size_t end)
{
	struct mime_node *n = &t->nodes[idx];
	size_t blen;
	const char *b = mime_param_get(&t->arena, &n->params, "boundary", &blen);
	if (b == NULL || blen == 0 || n->depth >= MIME_MAX_DEPTH || t->n >= MIME_MAX_PARTS)
		return false;
	size_t nd, close;
	struct delim *v = find_delims(t->data, n->body_off, end, b, blen, &nd, &close);
	if (nd == 0) {
		free(v);
		return false;
	}
	bool digest = strcmp(n->subtype, "digest") == 0;
	int depth = n->depth;
	n->kind = MIME_MULTI;
	int last = -1;
	for (size_t k = 0; k < nd; k++) {
		size_t start = v[k].next;
		size_t stop = k + 1 < nd ? before_delim(t->data, start, v[k + 1].line) : before_delim(t->data, start, close);
		if (close == end && k + 1 == nd)
			stop = end;
		if (t->n >= MIME_MAX_PARTS) {
			/* Out of parts: the rest folds into the last part. */
			size_t final = close == end ? end : before_delim(t->data, v[k].line, close);
			extend_node(t, last, final);
			break;
		}
		last = new_node(t, idx, depth + 1);
		parse_entity(t, last, start, stop, digest);
	}
	free(v);
	return true;
}

static void parse_entity(struct mime_tree *t, int idx, size_t off, size_t end, bool in_digest)
{
	const char *d = t->data;
	struct mime_node *n = &t->nodes[idx];
	struct mime_hdr_iter it;
	struct mime_field f;
	mime_hdr_init(&it, d, off, end, idx == 0);
	while (mime_hdr_next(&it, &f)) {
		int id = field_id(f.name);
		if (id >= 0 && !n->present[id]) {
			n->present[id] = true;
			n->f[id] = f.value;
		}
	}
	n->hdr_off = off;
	n->hdr_len = it.pos - off;
	n->body_off = it.pos;
	n->body_len = end - it.pos;
	n->lines = count_lines(d, n->body_off, n->body_len);
	n->cte = parse_cte(t, n);
	n->enc = cte_id(n->cte);

	size_t len;
	const char *ct = mime_node_field(t, n, FLD_CTYPE, &len);
	if (ct != NULL) {
		mime_ctype_parse(&t->arena, ct, len, true, &n->type, &n->subtype, &n->params);
		if (n->type == NULL)
			set_text_plain(n);
	} else if (in_digest) {
		n->type = "message";
		n->subtype = "rfc822";
	} else {
		set_text_plain(n);
	}

	if (strcmp(n->type, "multipart") == 0) {
		if (!parse_multipart(t, idx, end))
			set_text_plain(&t->nodes[idx]);
	} else if (strcmp(n->type, "message") == 0 &&
		(strcmp(n->subtype, "rfc822") == 0 || strcmp(n->subtype, "global") == 0)) {
		if (n->depth >= MIME_MAX_DEPTH || t->n >= MIME_MAX_PARTS) {
			set_text_plain(n);
			return;
		}
		n->kind = MIME_MSG;
		size_t body_off = n->body_off;
		int depth = n->depth;
		int c = new_node(t, idx, depth + 1);
		t->nodes[c].message = true;
		parse_entity(t, c, body_off, end, false);
	}
}

void mime_tree_build(struct mime_tree *t, const char *data, size_t len)
{
	memset(t, 0, sizeof *t);
	t->data = data;
	t->len = len;
	int root = new_node(t, -1, 0);
	t->nodes[root].message = true;
	parse_entity(t, root, 0, len, false);
}

void mime_tree_free(struct mime_tree *t)
{
	free(t->nodes);
	mime_arena_free(&t->arena);
	memset(t, 0, sizeof *t);
}

/* ---- the entry point ---- */

static char *take(struct buf *b)
{
	char *s = xstrndup(b->data ? buf_head(b) : "", buf_used(b));
	buf_free(b);
	return s;
}

int mime_parse(const char *data, size_t len, struct mime_info *info)
{
	memset(info, 0, sizeof *info);
	if (data == NULL)
		data = "";
	struct mime_tree t;
	mime_tree_build(&t, data, len);
	struct buf b = {0};
	mime_render_envelope(&t, &t.nodes[0], &b);
	info->envelope = take(&b);
	mime_render_body(&t, &t.nodes[0], false, &b);
	info->body = take(&b);
	mime_render_body(&t, &t.nodes[0], true, &b);
	info->bodystructure = take(&b);
	mime_render_sections(&t, &b);
	info->sections = take(&b);
	struct buf h = {0};
	mime_render_search(&t, &h, &b);
	info->search_headers = take(&h);
	info->search_body = take(&b);
	size_t dlen;
	const char *date = mime_node_field(&t, &t.nodes[0], FLD_DATE, &dlen);
	int64_t when;
	if (date != NULL && mime_parse_date(date, dlen, &when) == 0)
		info->sent_date = when;
	mime_tree_free(&t);
	return 0;
}

void mime_info_clear(struct mime_info *info)
{
	free(info->envelope);
	free(info->body);
	free(info->bodystructure);
	free(info->sections);
	free(info->search_headers);
	free(info->search_body);
	memset(info, 0, sizeof *info);
}
