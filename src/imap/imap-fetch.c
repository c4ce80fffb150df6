/* FETCH and UID FETCH (RFC 9051 6.4.5) with BINARY (RFC 3516) and the
 * CHANGEDSINCE/VANISHED modifiers (RFC 7162). Structure comes from what the
 * MIME parser kept at delivery (ENVELOPE, BODYSTRUCTURE and the section
 * table), so nothing is parsed here; body sections are byte ranges of the
 * stored message, streamed in chunks: when the output passes the high-water
 * mark the command yields (RUN_MORE) with its position saved in struct
 * imap_fetch and goes on when the client has read it. A 50 MB BODY[] or a
 * FETCH 1:* of a large mailbox never sits in memory whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "imap/imap-session.h"
#include "mime/mime.h"

#define FETCH_CHUNK (64 * 1024)     /* content bytes read from the store per step */
#define FETCH_MAX_ITEMS 64          /* data items per command */
#define FETCH_MAX_FIELDS 256        /* header names in one HEADER.FIELDS */
#define FETCH_INFO_BATCH 256        /* messages whose kept info is read in one go */
#define FETCH_SNAPSHOT_MIN 1000     /* views this large read entries from the shared snapshot */

enum fi_kind {
	FI_FLAGS,
	FI_INTERNALDATE,
	FI_SIZE,
	FI_UID,
	FI_MODSEQ,
	FI_ENVELOPE,
	FI_BODY,
	FI_BODYSTRUCTURE,
	FI_SECTION,     /* BODY[...], RFC822, RFC822.HEADER, RFC822.TEXT */
	FI_BINARY,      /* BINARY[...] */
	FI_BINARY_SIZE, /* BINARY.SIZE[...] */
};

enum sec_text { ST_ALL, ST_HEADER, ST_FIELDS, ST_FIELDS_NOT, ST_TEXT, ST_MIME };

struct fetch_item {
	enum fi_kind kind;
	const char *label;  /* response name for sections: "BODY", "RFC822", "RFC822.HEADER", ... */
	bool peek;
	char *part;         /* "1.2", "" for the message */
	enum sec_text text;
	const struct imap_arg *fields; /* HEADER.FIELDS names */
	size_t n_fields;
	bool partial;
	uint64_t p_off, p_len;
	char *echo;         /* "[1.HEADER.FIELDS (From)]", "" for RFC822 forms */
};

struct imap_fetch {
	struct fetch_item items[FETCH_MAX_ITEMS];
	size_t n_items;
	bool need_info;
	unsigned info_fields; /* STORE_INFO_* the items need */
	bool set_seen;
	bool want_flags; /* FLAGS was asked for */
	uint64_t changedsince;
	uint32_t *seqs;
	size_t n, i;
	struct store_entry *ents; /* sorted by UID */
	size_t n_ents;
	bool ents_owned;               /* else they point into snap */
	struct store_snapshot *snap;
	/* The message being written. */
	bool in_msg;
	size_t item;
	const struct store_entry *e;
	struct mime_info info;
	bool have_info;
	/* Kept info read ahead for the next messages (UID order). */
	struct store_info_row *rows;
	size_t n_rows, row;
	bool add_flags; /* \Seen was set by this FETCH: report FLAGS */
	/* A literal being streamed from the store. */
	uint64_t off, left;
	bool pad;       /* the content cannot be read: the rest of the literal is spaces */
	char *chunk;
	/* What went wrong; each response is still finished validly, and the
	 * tagged answer says it. */
	bool missing;   /* a message was expunged and its content is gone */
	bool bad_cte;   /* a BINARY part could not be decoded */
	bool failed;    /* the store failed */
};

/* Why an item's data could not be produced (never a store_status). */
enum fetch_trouble { FT_STORE, FT_CTE };

void imap_fetch_free(struct imap_fetch *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n_items; i++) {
		free(f->items[i].part);
		free(f->items[i].echo);
	}
	mime_info_clear(&f->info);
	store_info_rows_free(f->rows, f->n_rows);
	free(f->seqs);
	if (f->ents_owned)
		free(f->ents);
	store_snapshot_put(f->snap);
	free(f->chunk);
	free(f);
}

/* ---------------- parsing the data items ---------------- */

static bool atom_safe(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || strchr("(){%*\"\\]", *s))
			return false;
	return true;
}

/* Section spec inside [...]: part numbers, then HEADER, HEADER.FIELDS[.NOT]
 * (list), TEXT or MIME. */
static int parse_section(struct fetch_item *it, const struct imap_arg *sec, bool binary, const char **error_r)
{
	const struct imap_arg *l = sec->list;
	size_t n = sec->list_count;
	const char *spec = "";
	if (n >= 1) {
		if (l[0].type != IMAP_ARG_ATOM && l[0].type != IMAP_ARG_NUMBER) {
			*error_r = "Invalid section";
			return -1;
		}
		spec = l[0].str;
	}
	/* Leading part numbers. */
	const char *p = spec;
	const char *part_end = spec;
	while (*p >= '1' && *p <= '9') {
		while (*p >= '0' && *p <= '9')
			p++;
		part_end = p;
		if (*p != '.')
			break;
		p++;
	}
	if (*p != '\0' && part_end != spec && p[-1] != '.') {
		*error_r = "Invalid section";
		return -1;
	}
	if (*p == '\0' && p > spec && p[-1] == '.') {
		*error_r = "Invalid section";
		return -1;
	}
	const char *text = part_end == spec ? spec : (*part_end == '.' ? part_end + 1 : part_end);
	it->part = xstrndup(spec, (size_t)(part_end - spec));
	bool has_part = part_end != spec;
	if (*text == '\0')
		it->text = ST_ALL;
	else if (str_ieq(text, "HEADER"))
		it->text = ST_HEADER;
	else if (str_ieq(text, "HEADER.FIELDS"))
		it->text = ST_FIELDS;
	else if (str_ieq(text, "HEADER.FIELDS.NOT"))
		it->text = ST_FIELDS_NOT;
	else if (str_ieq(text, "TEXT"))
		it->text = ST_TEXT;
	else if (str_ieq(text, "MIME") && has_part)
		it->text = ST_MIME;
	else {
		*error_r = "Invalid section";
		return -1;
	}
	if (binary && it->text != ST_ALL) {
		*error_r = "BINARY takes part numbers only";
		return -1;
	}
	bool fields = it->text == ST_FIELDS || it->text == ST_FIELDS_NOT;
	if (fields) {
		if (n != 2 || l[1].type != IMAP_ARG_LIST || l[1].list_count == 0 || l[1].list_count > FETCH_MAX_FIELDS) {
			*error_r = "HEADER.FIELDS needs a list of field names";
			return -1;
		}
		for (size_t i = 0; i < l[1].list_count; i++) {
			const char *f = imap_arg_string(&l[1].list[i]);
			if (f == NULL || *f == '\0' || strlen(f) != l[1].list[i].len) {
				*error_r = "Invalid header field name";
				return -1;
			}
			for (const char *q = f; *q; q++)
				if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f || *q == ':') {
					*error_r = "Invalid header field name";
					return -1;
				}
		}
		it->fields = l[1].list;
		it->n_fields = l[1].list_count;
	} else if (n > 1) {
		*error_r = "Invalid section";
		return -1;
	}
	/* The echo in the response: the section as asked, names upper-cased. */
	struct buf e = {0};
	buf_append(&e, "[", 1);
	buf_appends(&e, it->part);
	static const char *const names[] = {"", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"};
	if (it->text != ST_ALL) {
		if (*it->part)
			buf_append(&e, ".", 1);
		buf_appends(&e, names[it->text]);
	}
	if (fields) {
		buf_appends(&e, " (");
		for (size_t i = 0; i < it->n_fields; i++) {
			if (i)
				buf_append(&e, " ", 1);
			char *up = xstrdup(it->fields[i].str);
			for (char *q = up; *q; q++)
				if (*q >= 'a' && *q <= 'z')
					*q = (char)(*q - 32);
			if (atom_safe(up))
				buf_appends(&e, up);
			else
				buf_printf(&e, "\"%s\"", up); /* names have no '"' or '\\' beyond atom rules */
			free(up);
		}
		buf_append(&e, ")", 1);
	}
	buf_append(&e, "]", 1);
	buf_append(&e, "", 1);
	it->echo = xstrdup(buf_head(&e));
	buf_free(&e);
	return 0;
}

static int parse_partial(struct fetch_item *it, const struct imap_arg *a, const char **error_r)
{
	if (a->partial == NULL)
		return 0;
	const char *dot = memchr(a->partial, '.', a->partial_len);
	uint64_t off, len;
	if (dot == NULL || !parse_uint(a->partial, (size_t)(dot - a->partial), UINT32_MAX, &off) ||
	    !parse_uint(dot + 1, a->partial_len - (size_t)(dot + 1 - a->partial), UINT32_MAX, &len) || len == 0) {
		*error_r = "Invalid partial range";
		return -1;
	}
	it->partial = true;
	it->p_off = off;
	it->p_len = len;
	return 0;
}

static int add_item(struct imap_fetch *f, const struct imap_arg *a, const char **error_r)
{
	if (f->n_items >= FETCH_MAX_ITEMS - 3) {
		*error_r = "Too many FETCH items";
		return -1;
	}
	struct fetch_item *it = &f->items[f->n_items];
	memset(it, 0, sizeof *it);
	if (a->type == IMAP_ARG_SECTION) {
		const char *n = a->str;
		bool body = str_ieq(n, "BODY"), body_peek = str_ieq(n, "BODY.PEEK");
		bool bin = str_ieq(n, "BINARY"), bin_peek = str_ieq(n, "BINARY.PEEK");
		bool bin_size = str_ieq(n, "BINARY.SIZE");
		if (!body && !body_peek && !bin && !bin_peek && !bin_size) {
			*error_r = "Unknown FETCH item";
			return -1;
		}
		it->kind = bin_size ? FI_BINARY_SIZE : (bin || bin_peek) ? FI_BINARY : FI_SECTION;
		it->label = bin_size ? "BINARY.SIZE" : (bin || bin_peek) ? "BINARY" : "BODY";
		it->peek = body_peek || bin_peek || bin_size;
		f->n_items++; /* owned from here: freed with f */
		if (parse_section(it, a, it->kind != FI_SECTION, error_r) < 0)
			return -1;
		if (bin_size && a->partial) {
			*error_r = "BINARY.SIZE takes no partial range";
			return -1;
		}
		if (parse_partial(it, a, error_r) < 0)
			return -1;
		f->need_info = true;
		f->info_fields |= STORE_INFO_SECTIONS;
		if (!it->peek)
			f->set_seen = true;
		return 0;
	}
	if (a->type != IMAP_ARG_ATOM) {
		*error_r = "Invalid FETCH item";
		return -1;
	}
	const char *n = a->str;
	static const struct {
		const char *name;
		enum fi_kind kind;
	} simple[] = {
		{"FLAGS", FI_FLAGS},       {"INTERNALDATE", FI_INTERNALDATE}, {"RFC822.SIZE", FI_SIZE},
		{"UID", FI_UID},           {"MODSEQ", FI_MODSEQ},             {"ENVELOPE", FI_ENVELOPE},
		{"BODY", FI_BODY},         {"BODYSTRUCTURE", FI_BODYSTRUCTURE},
	};
	for (size_t i = 0; i < ARRAY_LEN(simple); i++) {
		if (str_ieq(n, simple[i].name)) {
			it->kind = simple[i].kind;
			f->n_items++;
			if (it->kind == FI_ENVELOPE || it->kind == FI_BODY || it->kind == FI_BODYSTRUCTURE)
				f->need_info = true;
			if (it->kind == FI_BODY)
				f->info_fields |= STORE_INFO_BODY;
			if (it->kind == FI_BODYSTRUCTURE)
				f->info_fields |= STORE_INFO_BODYSTRUCTURE;
			if (it->kind == FI_FLAGS)
				f->want_flags = true;
			return 0;
		}
	}
	/* RFC822 forms: sections under another name. */
	if (str_ieq(n, "RFC822") || str_ieq(n, "RFC822.HEADER") || str_ieq(n, "RFC822.TEXT")) {
		it->kind = FI_SECTION;
		it->part = xstrdup("");
		it->echo = xstrdup("");
		it->label = str_ieq(n, "RFC822") ? "RFC822" : str_ieq(n, "RFC822.HEADER") ? "RFC822.HEADER" : "RFC822.TEXT";
		it->text = str_ieq(n, "RFC822") ? ST_ALL : str_ieq(n, "RFC822.HEADER") ? ST_HEADER : ST_TEXT;
		it->peek = it->text == ST_HEADER;
		f->n_items++;
		f->need_info = true;
		f->info_fields |= STORE_INFO_SECTIONS;
		if (!it->peek)
			f->set_seen = true;
		return 0;
	}
	*error_r = "Unknown FETCH item";
	return -1;
}

static int add_macro(struct imap_fetch *f, const char *name, const char **error_r)
{
	static const char *const fast[] = {"FLAGS", "INTERNALDATE", "RFC822.SIZE"};
	size_t n = str_ieq(name, "FAST") ? 3 : str_ieq(name, "ALL") ? 4 : 5;
	for (size_t i = 0; i < n; i++) {
		struct imap_arg a = {.type = IMAP_ARG_ATOM};
		a.str = i < 3 ? fast[i] : i == 3 ? "ENVELOPE" : "BODY";
		if (add_item(f, &a, error_r) < 0)
			return -1;
	}
	return 0;
}

static bool has_kind(const struct imap_fetch *f, enum fi_kind k)
{
	for (size_t i = 0; i < f->n_items; i++)
		if (f->items[i].kind == k)
			return true;
	return false;
}

/* ---------------- writing one message ---------------- */

static void write_date(struct buf *out, int64_t t)
{
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	buf_printf(out, "\"%2d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
		   tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Byte range of the stored message an item refers to; false when the part
 * does not exist. */
static bool item_range(struct imap_fetch *f, const struct fetch_item *it, uint64_t *off_r, uint64_t *len_r,
		       struct mime_section *sec_r)
{
	struct mime_section sec;
	bool want_message = it->text == ST_HEADER || it->text == ST_FIELDS || it->text == ST_FIELDS_NOT ||
			    it->text == ST_TEXT;
	if (*it->part == '\0' && it->text == ST_ALL) {
		*off_r = 0;
		*len_r = f->e->size;
		memset(sec_r, 0, sizeof *sec_r);
		sec_r->encoding = MIME_ENC_8BIT;
		return true;
	}
	if (f->info.sections == NULL || mime_section_find(f->info.sections, it->part, want_message, &sec) < 0)
		return false;
	*sec_r = sec;
	if (it->text == ST_MIME || (want_message && it->text != ST_TEXT)) {
		*off_r = sec.header_off;
		*len_r = sec.header_len;
	} else {
		*off_r = sec.body_off;
		*len_r = sec.body_len;
	}
	if (*off_r > f->e->size || *len_r > f->e->size - *off_r)
		return false;
	return true;
}

static int read_range(struct imap_session *s, struct imap_fetch *f, uint64_t off, uint64_t len, struct buf *into)
{
	char *p = buf_reserve(into, len ? len : 1);
	size_t got = 0;
	int rc = store_message_read(s->store, s->account_id, f->e->message_id, off, p, len, &got);
	if (rc != STORE_OK)
		return rc;
	buf_commit(into, got);
	return STORE_OK;
}

/* Does a header line name one of the fields? */
static bool field_listed(const struct fetch_item *it, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	if (colon == NULL)
		return false;
	size_t n = (size_t)(colon - line);
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < it->n_fields; i++)
		if (it->fields[i].len == n && strncasecmp(it->fields[i].str, line, n) == 0)
			return true;
	return false;
}

/* HEADER.FIELDS(.NOT): the chosen fields (with their continuation lines)
 * and the blank line that ends a header. */
static void filter_header(const struct fetch_item *it, const char *h, size_t len, struct buf *out)
{
	bool keep = false;
	size_t i = 0;
	while (i < len) {
		const char *lf = memchr(h + i, '\n', len - i);
		size_t end = lf ? (size_t)(lf - h) + 1 : len;
		const char *line = h + i;
		size_t ll = end - i;
		bool blank = ll <= 2 && (line[0] == '\r' || line[0] == '\n');
		if (blank)
			break;
		if (line[0] != ' ' && line[0] != '\t') {
			bool listed = field_listed(it, line, ll);
			keep = it->text == ST_FIELDS ? listed : !listed;
		}
		if (keep)
			buf_append(out, line, ll);
		i = end;
	}
	buf_append(out, "\r\n", 2);
}

/* IMAP literals may not carry NUL (only BINARY's literal8 may): a message
 * that holds one is sent with 0x80 in its place, the length unchanged. */
static void nul_to_8bit(char *p, size_t n)
{
	for (char *z = memchr(p, '\0', n); z != NULL; z = memchr(z + 1, '\0', n - (size_t)(z + 1 - p)))
		*z = (char)0x80;
}

static void write_literal_head(struct buf *out, uint64_t n, bool binary8)
{
	buf_printf(out, "%s{%llu}\r\n", binary8 ? "~" : "", (unsigned long long)n);
}

/* Note why an item cannot be had (rc: the store's answer for FT_STORE). */
static void note_trouble(struct imap_session *s, struct imap_fetch *f, enum fetch_trouble why, int rc)
{
	if (why == FT_CTE) {
		f->bad_cte = true;
	} else if (rc == STORE_NOTFOUND) {
		f->missing = true;
	} else {
		if (!f->failed)
			log_warn("sid=%s event=store_error op=fetch error=\"%s\"", s->sid, store_last_error());
		f->failed = true;
	}
}

/* An item whose data cannot be produced: NIL (0 for BINARY.SIZE), so that
 * the response stays well-formed; the tagged answer says why. */
static void item_unavailable(struct imap_session *s, struct imap_fetch *f, const struct fetch_item *it,
			     enum fetch_trouble why, int rc)
{
	note_trouble(s, f, why, rc);
	buf_printf(conn_outbuf(s->c), "%s%s%s", it->label, it->echo, it->kind == FI_BINARY_SIZE ? " 0" : " NIL");
}

/* Write one data item; a literal streamed from the store sets f->left.
 * Whatever happens, what it writes is a whole item. */
static void write_item(struct imap_session *s, struct imap_fetch *f, const struct fetch_item *it)
{
	struct buf *out = conn_outbuf(s->c);
	const struct store_entry *e = f->e;
	switch (it->kind) {
	case FI_FLAGS:
		imap_write_flags(s, e->flags, e->keywords);
		if (s->condstore && !has_kind(f, FI_MODSEQ))
			buf_printf(out, " MODSEQ (%llu)", (unsigned long long)e->modseq);
		return;
	case FI_INTERNALDATE:
		buf_appends(out, "INTERNALDATE ");
		write_date(out, e->internal_date);
		return;
	case FI_SIZE:
		buf_appends(out, "RFC822.SIZE ");
		buf_append_uint(out, e->size);
		return;
	case FI_UID:
		buf_appends(out, "UID ");
		buf_append_uint(out, e->uid);
		return;
	case FI_MODSEQ:
		buf_appends(out, "MODSEQ (");
		buf_append_uint(out, e->modseq);
		buf_append(out, ")", 1);
		return;
	case FI_ENVELOPE:
		buf_appends(out, "ENVELOPE ");
		buf_appends(out, f->info.envelope ? f->info.envelope : "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
		return;
	case FI_BODY:
		buf_appends(out, "BODY ");
		buf_appends(out, f->info.body ? f->info.body : "NIL");
		return;
	case FI_BODYSTRUCTURE:
		buf_appends(out, "BODYSTRUCTURE ");
		buf_appends(out, f->info.bodystructure ? f->info.bodystructure : "NIL");
		return;
	case FI_SECTION:
	case FI_BINARY:
	case FI_BINARY_SIZE:
		break;
	}
	uint64_t off, len;
	struct mime_section sec;
	bool found = item_range(f, it, &off, &len, &sec);
	if (it->kind == FI_BINARY_SIZE || it->kind == FI_BINARY) {
		if (!found || sec.is_multipart) {
			buf_printf(out, "%s%s%s", it->label, it->echo, it->kind == FI_BINARY_SIZE ? " 0" : " NIL");
			return;
		}
		struct buf raw = {0}, dec = {0};
		int rc = read_range(s, f, off, len, &raw);
		bool ok = rc == STORE_OK &&
			  mime_decode_cte((int)sec.encoding, buf_used(&raw) ? buf_head(&raw) : "", buf_used(&raw), &dec) == 0;
		buf_free(&raw);
		if (!ok) {
			buf_free(&dec);
			item_unavailable(s, f, it, rc == STORE_OK ? FT_CTE : FT_STORE, rc);
			return;
		}
		const char *d = buf_used(&dec) ? buf_head(&dec) : "";
		uint64_t dl = buf_used(&dec);
		buf_printf(out, "%s%s", it->label, it->echo);
		if (it->kind == FI_BINARY_SIZE) {
			buf_printf(out, " %llu", (unsigned long long)dl);
		} else {
			uint64_t a = it->partial ? (it->p_off < dl ? it->p_off : dl) : 0;
			uint64_t b = it->partial ? (it->p_len < dl - a ? it->p_len : dl - a) : dl;
			if (it->partial)
				buf_printf(out, "<%llu>", (unsigned long long)it->p_off);
			buf_append(out, " ", 1);
			write_literal_head(out, b, memchr(d + a, '\0', b) != NULL);
			buf_append(out, d + a, b);
		}
		buf_free(&dec);
		return;
	}
	/* BODY[...] */
	if (!found) {
		buf_printf(out, "%s%s", it->label, it->echo);
		if (it->partial)
			buf_printf(out, "<%llu>", (unsigned long long)it->p_off);
		buf_appends(out, " NIL");
		return;
	}
	if (it->text == ST_FIELDS || it->text == ST_FIELDS_NOT) {
		struct buf raw = {0}, sel = {0};
		int rc = read_range(s, f, off, len, &raw);
		if (rc != STORE_OK) {
			buf_free(&raw);
			item_unavailable(s, f, it, FT_STORE, rc);
			return;
		}
		filter_header(it, buf_used(&raw) ? buf_head(&raw) : "", buf_used(&raw), &sel);
		buf_free(&raw);
		uint64_t sl = buf_used(&sel);
		uint64_t a = it->partial ? (it->p_off < sl ? it->p_off : sl) : 0;
		uint64_t b = it->partial ? (it->p_len < sl - a ? it->p_len : sl - a) : sl;
		buf_printf(out, "%s%s", it->label, it->echo);
		if (it->partial)
			buf_printf(out, "<%llu>", (unsigned long long)it->p_off);
		buf_append(out, " ", 1);
		write_literal_head(out, b, false);
		nul_to_8bit(buf_head(&sel) + a, b);
		buf_append(out, buf_head(&sel) + a, b);
		buf_free(&sel);
		return;
	}
	buf_printf(out, "%s%s", it->label, it->echo);
	if (it->partial) {
		buf_printf(out, "<%llu>", (unsigned long long)it->p_off);
		uint64_t a = it->p_off < len ? it->p_off : len;
		uint64_t b = it->p_len < len - a ? it->p_len : len - a;
		off += a;
		len = b;
	}
	buf_append(out, " ", 1);
	write_literal_head(out, len, false);
	f->off = off;
	f->left = len;
	f->pad = false;
}

/* Copy the next piece of the literal being streamed. Content that cannot
 * be read (or is shorter than its entry says) is padded with spaces, so the
 * literal keeps its announced length and the stream stays in sync. */
static void stream_step(struct imap_session *s, struct imap_fetch *f)
{
	if (f->chunk == NULL)
		f->chunk = xmalloc(FETCH_CHUNK);
	size_t want = f->left < FETCH_CHUNK ? (size_t)f->left : FETCH_CHUNK;
	size_t got = 0;
	if (!f->pad) {
		int rc = store_message_read(s->store, s->account_id, f->e->message_id, f->off, f->chunk, want, &got);
		if (rc != STORE_OK) {
			note_trouble(s, f, FT_STORE, rc);
			f->pad = true;
			got = 0;
		} else if (got == 0) {
			f->pad = true;
		}
	}
	if (f->pad) {
		memset(f->chunk, ' ', want);
		got = want;
	}
	nul_to_8bit(f->chunk, got);
	conn_write(s->c, f->chunk, got);
	f->off += got;
	f->left -= got;
}

static const struct store_entry *find_entry(const struct imap_fetch *f, uint32_t uid)
{
	size_t lo = 0, hi = f->n_ents;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->ents[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->n_ents && f->ents[lo].uid == uid ? &f->ents[lo] : NULL;
}

/* The kept info of f->e into f->info, from the rows read ahead (a new batch
 * when they do not reach this UID), else on its own. */
static int load_info(struct imap_session *s, struct imap_fetch *f)
{
	uint32_t uid = f->e->uid;
	while (f->row < f->n_rows && f->rows[f->row].uid < uid)
		f->row++;
	if (f->row == f->n_rows) {
		store_info_rows_free(f->rows, f->n_rows);
		f->rows = NULL;
		f->n_rows = f->row = 0;
		uint32_t hi = imap_uids_at(&s->view->uids, f->seqs[f->n - 1] - 1);
		int rc = store_message_infos(s->store, s->account_id, s->view->mailbox_id, uid, hi, FETCH_INFO_BATCH,
					     f->info_fields, &f->rows, &f->n_rows);
		if (rc != STORE_OK)
			return rc;
	}
	if (f->row < f->n_rows && f->rows[f->row].uid == uid && f->rows[f->row].info.envelope != NULL) {
		f->info = f->rows[f->row].info;
		memset(&f->rows[f->row].info, 0, sizeof f->info);
		f->row++;
		return STORE_OK;
	}
	return store_message_info(s->store, s->account_id, f->e->message_id, false, &f->info);
}

static enum run_result fetch_finish(struct imap_session *s)
{
	struct imap_fetch *f = s->fetch;
	bool failed = f->failed, bad_cte = f->bad_cte, missing = f->missing;
	imap_fetch_free(f);
	s->fetch = NULL;
	if (failed)
		return imap_no(s, "[UNAVAILABLE] Some data could not be read; try again");
	if (bad_cte)
		return imap_no(s, "[UNKNOWN-CTE] A part has an unknown or broken Content-Transfer-Encoding");
	if (missing)
		return imap_no(s, "[EXPUNGEISSUED] Some messages were expunged meanwhile");
	return imap_ok(s, "Fetch completed");
}

static enum run_result fetch_resume(struct imap_session *s)
{
	struct imap_fetch *f = s->fetch;
	struct imap_view *v = s->view;
	struct buf *out = conn_outbuf(s->c);
	while (f->i < f->n) {
		if (conn_out_full(s->c))
			return RUN_MORE;
		if (f->left > 0) {
			stream_step(s, f);
			continue;
		}
		uint32_t seq = f->seqs[f->i];
		if (!f->in_msg) {
			f->e = find_entry(f, imap_uids_at(&v->uids, seq - 1));
			if (f->e == NULL) {
				f->missing = true;
				f->i++;
				continue;
			}
			if (f->changedsince && f->e->modseq <= f->changedsince) {
				f->i++;
				continue;
			}
			if (f->need_info) {
				mime_info_clear(&f->info);
				int rc = load_info(s, f);
				if (rc != STORE_OK) {
					note_trouble(s, f, FT_STORE, rc);
					f->i++;
					continue;
				}
			}
			f->add_flags = !f->want_flags && s->own_modseq != 0 && f->e->modseq == s->own_modseq;
			buf_appends(out, "* ");
			buf_append_uint(out, seq);
			buf_appends(out, " FETCH (");
			f->in_msg = true;
			f->item = 0;
		}
		if (f->item == f->n_items) {
			if (f->add_flags) {
				buf_append(out, " ", 1);
				imap_write_flags(s, f->e->flags, f->e->keywords);
			}
			buf_appends(out, ")\r\n");
			f->in_msg = false;
			f->i++;
			continue;
		}
		if (f->item > 0)
			buf_append(out, " ", 1);
		write_item(s, f, &f->items[f->item++]);
	}
	return fetch_finish(s);
}

/* Entries can carry keywords another session defined after this view last
 * announced its list: announce the current list (FLAGS, PERMANENTFLAGS)
 * before the FETCH responses that name them, or their FLAGS would leave the
 * new keywords out. On a store failure the list stays as it was. */
static void announce_new_keywords(struct imap_session *s, const struct store_entry *e, size_t n)
{
	struct imap_view *v = s->view;
	uint64_t known = v->n_keywords >= 64 ? UINT64_MAX : ((uint64_t)1 << v->n_keywords) - 1;
	size_t i = 0;
	while (i < n && !(e[i].keywords & ~known))
		i++;
	if (i == n)
		return;
	struct store_mailbox mb = {0};
	if (store_mailbox_get(s->store, s->account_id, v->mailbox_id, &mb) != STORE_OK)
		return;
	imap_view_take_keywords(s, &mb.keywords, &mb.n_keywords);
	store_mailbox_clear(&mb);
}

/* The entries of the UID range the set spans (seqs ascend, and so do their
 * UIDs): from the shared snapshot for a large mailbox, else read. A FETCH
 * that sets \Seen updates its entries, so it gets a copy of its own. */
static int load_entries(struct imap_session *s, struct imap_fetch *f)
{
	uint32_t lo = imap_uids_at(&s->view->uids, f->seqs[0] - 1);
	uint32_t hi = imap_uids_at(&s->view->uids, f->seqs[f->n - 1] - 1);
	if (s->view->uids.n < FETCH_SNAPSHOT_MIN) {
		f->ents_owned = true;
		return store_entries_range(s->store, s->account_id, s->view->mailbox_id, lo, hi, &f->ents, &f->n_ents);
	}
	/* Current, not as of the view: FETCH answers with the flags as they are. */
	int rc = store_snapshot_get(s->store, s->account_id, s->view->mailbox_id, 0, &f->snap);
	if (rc != STORE_OK)
		return rc;
	const struct store_snapshot *snap = f->snap;
	size_t a = 0, b = snap->n;
	while (a < b) { /* first entry >= lo */
		size_t mid = a + (b - a) / 2;
		if (snap->e[mid].uid < lo)
			a = mid + 1;
		else
			b = mid;
	}
	size_t z = a;
	while (z < snap->n && snap->e[z].uid <= hi)
		z++;
	f->n_ents = z - a;
	if (f->set_seen && !s->view->readonly) {
		f->ents = xmalloc((f->n_ents ? f->n_ents : 1) * sizeof *f->ents);
		if (f->n_ents)
			memcpy(f->ents, snap->e + a, f->n_ents * sizeof *f->ents);
		f->ents_owned = true;
	} else {
		f->ents = snap->e + a;
	}
	return STORE_OK;
}

/* Messages this session still shows that another one expunged: their
 * entries come from what the store keeps for the session (store_pin), so
 * the client gets them as they were until it has been told (RFC 2180 4.1). */
static int add_kept(struct imap_session *s, struct imap_fetch *f)
{
	const struct imap_view *v = s->view;
	bool gone = false;
	for (size_t i = 0, j = 0; i < f->n && !gone; i++) {
		uint32_t uid = imap_uids_at(&v->uids, f->seqs[i] - 1);
		while (j < f->n_ents && f->ents[j].uid < uid)
			j++;
		gone = j == f->n_ents || f->ents[j].uid != uid;
	}
	if (!gone)
		return STORE_OK;
	uint32_t lo = imap_uids_at(&v->uids, f->seqs[0] - 1);
	uint32_t hi = imap_uids_at(&v->uids, f->seqs[f->n - 1] - 1);
	struct store_entry *k = NULL;
	size_t nk = 0;
	int rc = store_kept_entries(s->store, s->account_id, v->mailbox_id, lo, hi, &k, &nk);
	if (rc != STORE_OK || nk == 0) {
		free(k);
		return rc;
	}
	struct store_entry *m = xmalloc((f->n_ents + nk) * sizeof *m);
	size_t a = 0, b = 0, n = 0;
	while (a < f->n_ents || b < nk)
		m[n++] = b == nk || (a < f->n_ents && f->ents[a].uid < k[b].uid) ? f->ents[a++] : k[b++];
	free(k);
	if (f->ents_owned)
		free(f->ents);
	f->ents = m;
	f->n_ents = n;
	f->ents_owned = true;
	return STORE_OK;
}

/* \Seen for the messages a non-peek section fetch reads. */
static int mark_seen(struct imap_session *s, struct imap_fetch *f)
{
	uint32_t *uids = xmalloc((f->n ? f->n : 1) * sizeof *uids);
	size_t k = 0;
	for (size_t i = 0; i < f->n; i++) {
		const struct store_entry *e = find_entry(f, imap_uids_at(&s->view->uids, f->seqs[i] - 1));
		if (e && !(e->flags & STORE_FLAG_SEEN))
			uids[k++] = e->uid;
	}
	int rc = STORE_OK;
	if (k > 0) {
		struct store_flag_change ch = {.mode = STORE_FLAGS_ADD, .flags = STORE_FLAG_SEEN};
		struct store_flag_result r = {0};
		rc = store_flags_update(s->store, s->account_id, s->view->mailbox_id, uids, k, &ch, &r);
		if (rc == STORE_OK) {
			s->own_modseq = r.modseq;
			for (size_t i = 0; i < r.n_entries; i++) {
				struct store_entry *e = (struct store_entry *)find_entry(f, r.entries[i].uid);
				if (e) {
					e->flags = r.entries[i].flags;
					e->modseq = r.entries[i].modseq;
				}
			}
		}
		store_flag_result_clear(&r);
	}
	free(uids);
	return rc;
}

enum run_result imap_cmd_fetch(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args < 2 || cmd->n_args > 3 || imap_arg_string(&cmd->args[0]) == NULL)
		return imap_bad(s, "FETCH needs a sequence set and data items");
	struct imap_fetch *f = xcalloc(1, sizeof *f);
	const char *err = NULL;
	const struct imap_arg *items = &cmd->args[1];
	int rc = 0;
	if (items->type == IMAP_ARG_LIST) {
		if (items->list_count == 0)
			rc = -1, err = "Empty FETCH item list";
		for (size_t i = 0; rc == 0 && i < items->list_count; i++)
			rc = add_item(f, &items->list[i], &err);
	} else if (items->type == IMAP_ARG_ATOM &&
		   (str_ieq(items->str, "ALL") || str_ieq(items->str, "FAST") || str_ieq(items->str, "FULL"))) {
		rc = add_macro(f, items->str, &err);
	} else {
		rc = add_item(f, items, &err);
	}
	bool vanished = false;
	if (rc == 0 && cmd->n_args == 3) {
		const struct imap_arg *m = &cmd->args[2];
		if (m->type != IMAP_ARG_LIST || m->list_count == 0)
			rc = -1, err = "Invalid FETCH modifiers";
		for (size_t i = 0; rc == 0 && i < m->list_count; i++) {
			const struct imap_arg *a = &m->list[i];
			if (a->type == IMAP_ARG_ATOM && str_ieq(a->str, "CHANGEDSINCE") && i + 1 < m->list_count &&
			    m->list[i + 1].type == IMAP_ARG_NUMBER) {
				f->changedsince = m->list[++i].num;
				s->condstore = true;
			} else if (a->type == IMAP_ARG_ATOM && str_ieq(a->str, "VANISHED") && s->uid && s->qresync) {
				vanished = true;
			} else {
				rc = -1, err = "Invalid FETCH modifier";
			}
		}
		if (rc == 0 && vanished && f->changedsince == 0)
			rc = -1, err = "VANISHED needs CHANGEDSINCE";
	}
	if (rc < 0) {
		imap_fetch_free(f);
		return imap_bad(s, "%s", err);
	}
	/* Implicit items: UID for UID FETCH, MODSEQ with CHANGEDSINCE. */
	struct imap_arg extra = {.type = IMAP_ARG_ATOM};
	if (s->uid && !has_kind(f, FI_UID)) {
		extra.str = "UID";
		add_item(f, &extra, &err);
		/* UID first reads best; move it to the front. */
		struct fetch_item u = f->items[f->n_items - 1];
		memmove(&f->items[1], &f->items[0], (f->n_items - 1) * sizeof f->items[0]);
		f->items[0] = u;
	}
	if (f->changedsince && !has_kind(f, FI_MODSEQ)) {
		extra.str = "MODSEQ";
		add_item(f, &extra, &err);
	}
	if (has_kind(f, FI_MODSEQ))
		s->condstore = true;
	if (imap_seqset_resolve(s, cmd->args[0].str, s->uid, &f->seqs, &f->n, &err) < 0) {
		imap_fetch_free(f);
		return imap_bad(s, "%s", err);
	}
	if (vanished) {
		struct store_entry *ce = NULL;
		size_t nce = 0;
		uint32_t *gone = NULL;
		size_t n_gone = 0;
		rc = store_changes(s->store, s->account_id, s->view->mailbox_id, f->changedsince, &ce, &nce, &gone, &n_gone);
		if (rc == STORE_OK) {
			struct imap_range *rg = NULL;
			size_t nr = 0;
			uint32_t star = s->view->uids.n ? imap_uids_last(&s->view->uids) : 1;
			if (imap_seqset_parse(cmd->args[0].str, star, &rg, &nr) == 0) {
				size_t k = 0;
				for (size_t i = 0; i < n_gone; i++) {
					for (size_t j = 0; j < nr; j++) {
						if (gone[i] >= rg[j].lo && gone[i] <= rg[j].hi) {
							gone[k++] = gone[i];
							break;
						}
					}
				}
				if (k > 0) {
					struct buf *out = conn_outbuf(s->c);
					buf_appends(out, "* VANISHED (EARLIER) ");
					imap_write_set(out, gone, k);
					buf_appends(out, "\r\n");
				}
			}
			free(rg);
		}
		free(ce);
		free(gone);
		if (rc != STORE_OK) {
			imap_fetch_free(f);
			return imap_store_fail(s, rc, "fetch");
		}
	}
	if (f->n == 0) {
		imap_fetch_free(f);
		return imap_ok(s, "Fetch completed");
	}
	rc = load_entries(s, f);
	if (rc == STORE_OK)
		rc = add_kept(s, f);
	if (rc == STORE_OK)
		announce_new_keywords(s, f->ents, f->n_ents);
	if (rc == STORE_OK && f->set_seen && !s->view->readonly)
		rc = mark_seen(s, f);
	if (rc != STORE_OK) {
		imap_fetch_free(f);
		return imap_store_fail(s, rc, "fetch");
	}
	s->fetch = f;
	s->resume = fetch_resume;
	return fetch_resume(s);
}
