/* SEARCH scans in the embedded store: one statement streams a mailbox's
 * entries in UID order, with the Date: header's time and the stored search
 * text when the caller wants them, inside one read snapshot, so that a search
 * never parses a message and never runs one query per message.
 *
 * With a text filter, the FTS5 trigram indexes (schema step 5, filled by
 * sqlite-indexer.c) narrow the scan to candidates: messages that hold every
 * trigram of a needle, plus every message the indexer has not indexed yet
 * (search_queue). The promise is the one store.h makes: no entry whose text
 * satisfies the filter is left out; extra rows are the caller's to reject. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

/* The candidate query is built from the filter; past these bounds a part of
 * the filter is simply not used (the result stays a superset). */
#define SQLITE_SEARCH_MAX_DEPTH 6   /* nesting of AND/OR turned into SQL */
#define SQLITE_SEARCH_MAX_MATCH 16  /* MATCH expressions in one statement */
#define SQLITE_SEARCH_MAX_TERMS 12  /* trigrams asked for per needle */

/* Parameters 1..7 are the same in both statements: account, mailbox, UID
 * range and what to hand over; MATCH expressions follow from 8. */
#define SQLITE_SEARCH_COLUMNS \
	"e.uid, e.message_id, e.size, e.internal_date, e.flags, e.modseq, e.ends_crlf, e.kwbits," \
	" CASE WHEN ?5 THEN (SELECT sent_date FROM message_info WHERE message_id = e.message_id) END," \
	" CASE WHEN ?6 THEN (SELECT headers FROM message_text WHERE message_id = e.message_id) END," \
	" CASE WHEN ?7 THEN (SELECT body FROM message_text WHERE message_id = e.message_id) END"
#define SQLITE_SEARCH_WHERE "e.account_id = ?1 AND e.mailbox_id = ?2 AND e.uid BETWEEN ?3 AND ?4 ORDER BY e.uid"
#define SQLITE_SEARCH_FIRST_MATCH 8

static const char sqlite_scan_all_sql[] = "SELECT " SQLITE_SEARCH_COLUMNS " FROM entries e WHERE " SQLITE_SEARCH_WHERE;

/* ---- the candidate set ---- */

enum { T_HEADERS, T_BODY, T_MIXED };
static const char *const sqlite_fts_table[] = {"search_headers", "search_body"};

/* What a part of the filter became: a MATCH expression over one table, or
 * SQL that yields the candidate message ids as column id. */
struct sqlite_cand {
	int table;       /* T_HEADERS, T_BODY, or T_MIXED for sql */
	struct buf expr; /* FTS5 query (single table) */
	struct buf sql;  /* T_MIXED */
};

struct sqlite_cand_build {
	char *match[SQLITE_SEARCH_MAX_MATCH];
	size_t n_match;
};

static void sqlite_cand_free(struct sqlite_cand *c)
{
	buf_free(&c->expr);
	buf_free(&c->sql);
}

/* Length of the UTF-8 sequence at p (1..4), or 0 when it is not one. */
static size_t sqlite_utf8_len(const unsigned char *p, size_t left)
{
	size_t n = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (n == 0 || n > left)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* The needle as an FTS5 query: some of its trigrams (overlapping enough to
 * cover it) joined with AND; detail=none indexes know no positions, so this is
 * what "contains the needle" can be narrowed to. False when the needle is too
 * short for a trigram or not UTF-8: then the index cannot help. */
static bool sqlite_needle_expr(const char *needle, size_t len, struct buf *out)
{
	if (!utf8_valid(needle, len))
		return false;
	size_t cap = len + 1, n = 0;
	size_t *start = xmalloc(cap * sizeof *start);
	for (size_t i = 0; i < len;) {
		size_t l = sqlite_utf8_len((const unsigned char *)needle + i, len - i);
		if (l == 0) {
			free(start);
			return false;
		}
		start[n++] = i;
		i += l;
	}
	start[n] = len;
	if (n < 3) {
		free(start);
		return false;
	}
	/* Trigrams at every third character and the last one. */
	size_t last = n - 3, step = 3, terms = last / step + 1 + (last % step != 0);
	if (terms > SQLITE_SEARCH_MAX_TERMS)
		step = (last + SQLITE_SEARCH_MAX_TERMS - 2) / (SQLITE_SEARCH_MAX_TERMS - 1);
	bool first = true;
	for (size_t i = 0;; i += step) {
		if (i > last)
			i = last;
		if (!first)
			buf_appends(out, " AND ");
		first = false;
		buf_append(out, "\"", 1);
		for (size_t k = start[i]; k < start[i + 3]; k++) {
			if (needle[k] == '"')
				buf_append(out, "\"", 1);
			buf_append(out, &needle[k], 1);
		}
		buf_append(out, "\"", 1);
		if (i == last)
			break;
	}
	free(start);
	return true;
}

/* Turn a single-table candidate into SQL (it is about to be combined with
 * one over the other table). */
static bool sqlite_cand_to_sql(struct sqlite_cand *c, struct sqlite_cand_build *b)
{
	if (c->table == T_MIXED)
		return true;
	if (b->n_match == SQLITE_SEARCH_MAX_MATCH)
		return false;
	size_t k = b->n_match;
	b->match[b->n_match++] = xstrndup(buf_head(&c->expr), buf_used(&c->expr));
	const char *t = sqlite_fts_table[c->table];
	buf_printf(&c->sql, "SELECT rowid AS id FROM %s WHERE %s MATCH ?%zu", t, t, k + SQLITE_SEARCH_FIRST_MATCH);
	buf_clear(&c->expr);
	c->table = T_MIXED;
	return true;
}

static bool sqlite_cand_build(const struct store_text_filter *f, int depth, struct sqlite_cand_build *b,
			      struct sqlite_cand *r);

/* AND and OR of two candidate sets. AND can do with either side alone (a
 * superset is fine); OR needs both. */
static bool sqlite_cand_combine(const struct store_text_filter *f, int depth, struct sqlite_cand_build *b,
				struct sqlite_cand *r)
{
	bool and = f->op == STORE_TEXT_AND;
	struct sqlite_cand x = {0}, y = {0};
	bool hx = sqlite_cand_build(f->left, depth + 1, b, &x);
	bool hy = sqlite_cand_build(f->right, depth + 1, b, &y);
	if (!hx || !hy) {
		if (and && (hx || hy)) {
			*r = hx ? x : y;
			return true;
		}
		sqlite_cand_free(&x);
		sqlite_cand_free(&y);
		return false;
	}
	const char *op = and ? " AND " : " OR ";
	if (x.table == y.table && x.table != T_MIXED) {
		/* One MATCH over one table. */
		r->table = x.table;
		buf_appends(&r->expr, "(");
		buf_append(&r->expr, buf_head(&x.expr), buf_used(&x.expr));
		buf_appends(&r->expr, ")");
		buf_appends(&r->expr, op);
		buf_appends(&r->expr, "(");
		buf_append(&r->expr, buf_head(&y.expr), buf_used(&y.expr));
		buf_appends(&r->expr, ")");
		sqlite_cand_free(&x);
		sqlite_cand_free(&y);
		return true;
	}
	if (!sqlite_cand_to_sql(&x, b) || !sqlite_cand_to_sql(&y, b)) {
		/* Out of MATCH slots: AND keeps its left side, OR gives up. */
		sqlite_cand_free(&y);
		if (and) {
			*r = x;
			return true;
		}
		sqlite_cand_free(&x);
		return false;
	}
	r->table = T_MIXED;
	buf_appends(&r->sql, "SELECT id FROM (");
	buf_append(&r->sql, buf_head(&x.sql), buf_used(&x.sql));
	buf_appends(&r->sql, and ? ") INTERSECT SELECT id FROM (" : ") UNION SELECT id FROM (");
	buf_append(&r->sql, buf_head(&y.sql), buf_used(&y.sql));
	buf_appends(&r->sql, ")");
	sqlite_cand_free(&x);
	sqlite_cand_free(&y);
	return true;
}

/* The candidates for f, or false when f cannot narrow anything down. */
static bool sqlite_cand_build(const struct store_text_filter *f, int depth, struct sqlite_cand_build *b,
			      struct sqlite_cand *r)
{
	memset(r, 0, sizeof *r);
	if (f == NULL || depth > SQLITE_SEARCH_MAX_DEPTH)
		return false;
	if (f->op == STORE_TEXT_AND || f->op == STORE_TEXT_OR)
		return sqlite_cand_combine(f, depth, b, r);
	unsigned where = f->where & (STORE_SCAN_HEADERS | STORE_SCAN_BODY);
	if (where == 0 || !sqlite_needle_expr(f->needle, f->len, &r->expr)) {
		sqlite_cand_free(r);
		return false;
	}
	if (where != (STORE_SCAN_HEADERS | STORE_SCAN_BODY)) {
		r->table = where == STORE_SCAN_HEADERS ? T_HEADERS : T_BODY;
		return true;
	}
	/* In the headers or in the body: the same expression on both tables. */
	struct sqlite_cand x = {.table = T_HEADERS}, y = {.table = T_BODY};
	buf_append(&x.expr, buf_head(&r->expr), buf_used(&r->expr));
	buf_append(&y.expr, buf_head(&r->expr), buf_used(&r->expr));
	sqlite_cand_free(r);
	bool ok = sqlite_cand_to_sql(&x, b) && sqlite_cand_to_sql(&y, b);
	if (ok) {
		r->table = T_MIXED;
		buf_appends(&r->sql, "SELECT id FROM (");
		buf_append(&r->sql, buf_head(&x.sql), buf_used(&x.sql));
		buf_appends(&r->sql, ") UNION SELECT id FROM (");
		buf_append(&r->sql, buf_head(&y.sql), buf_used(&y.sql));
		buf_appends(&r->sql, ")");
	}
	sqlite_cand_free(&x);
	sqlite_cand_free(&y);
	return ok;
}

/* The whole candidate statement for a filter into *sql_r (allocated), with
 * its MATCH expressions in b; false when the filter cannot narrow the scan. */
static bool sqlite_cand_statement(const struct store_text_filter *f, struct sqlite_cand_build *b, char **sql_r)
{
	struct sqlite_cand c;
	if (!sqlite_cand_build(f, 0, b, &c))
		return false;
	if (!sqlite_cand_to_sql(&c, b)) {
		sqlite_cand_free(&c);
		return false;
	}
	/* The candidates drive the join (CROSS JOIN keeps that order): each is
	 * looked up in entries by message id, so the cost follows the number of
	 * candidates, not the size of the mailbox. UNION ALL: indexed and queued
	 * messages are apart but for the moment a text is indexed again (it is
	 * queued while its purge is pending), and a set to remove duplicates
	 * from cost more than the scan of the queue itself; the scan skips a
	 * UID it has just had instead. */
	struct buf q = {0};
	buf_appends(&q, "WITH cand(id) AS (");
	buf_append(&q, buf_head(&c.sql), buf_used(&c.sql));
	buf_appends(&q, " UNION ALL SELECT message_id FROM search_queue)"
			" SELECT " SQLITE_SEARCH_COLUMNS " FROM cand CROSS JOIN entries e ON e.message_id = cand.id"
			" WHERE " SQLITE_SEARCH_WHERE);
	*sql_r = xstrndup(buf_head(&q), buf_used(&q));
	buf_free(&q);
	sqlite_cand_free(&c);
	return true;
}

/* ---- the scan ---- */

int sqlite_search_scan(struct store *base, int64_t account_id, int64_t mailbox_id, const struct store_scan *scan,
		       store_scan_fn *fn, void *ctx)
{
	struct sqlite_store *st = sqlite_store_of(base);
	if (scan == NULL || fn == NULL)
		return STORE_INVALID;
	if (scan->uid_lo > scan->uid_hi)
		return STORE_OK;
	struct sqlite_conn *c = sqlite_reader(st);
	if (c == NULL)
		return STORE_ERROR;

	struct sqlite_cand_build b = {0};
	char *sql = NULL;
	sqlite3_stmt *s = NULL;
	bool own = false;
	int ret = STORE_OK;
	if (scan->filter != NULL && sqlite_cand_statement(scan->filter, &b, &sql)) {
		if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) {
			ret = sqlite_fail(c, "search candidates");
			s = NULL;
		}
		own = true;
	} else {
		s = sqlite_stmt(c, sqlite_scan_all_sql);
		if (s == NULL)
			ret = STORE_ERROR;
	}
	if (ret == STORE_OK && sqlite_read_begin(c) != STORE_OK)
		ret = STORE_ERROR;
	if (ret == STORE_OK) {
		sqlite3_bind_int64(s, 1, account_id);
		sqlite3_bind_int64(s, 2, mailbox_id);
		sqlite3_bind_int64(s, 3, scan->uid_lo);
		sqlite3_bind_int64(s, 4, scan->uid_hi);
		sqlite3_bind_int(s, 5, (scan->want & STORE_SCAN_SENT_DATE) != 0);
		sqlite3_bind_int(s, 6, (scan->want & STORE_SCAN_HEADERS) != 0);
		sqlite3_bind_int(s, 7, (scan->want & STORE_SCAN_BODY) != 0);
		for (size_t i = 0; i < b.n_match; i++)
			sqlite3_bind_text(s, (int)i + SQLITE_SEARCH_FIRST_MATCH, b.match[i], -1, SQLITE_STATIC);
		int rc;
		uint32_t last_uid = 0;
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			struct store_scan_row row = {.parsed = true};
			sqlite_entry_row(s, &row.entry);
			if (row.entry.uid == last_uid)
				continue; /* a candidate twice over (ORDER BY uid) */
			last_uid = row.entry.uid;
			if (scan->want & STORE_SCAN_SENT_DATE) {
				if (sqlite3_column_type(s, 8) == SQLITE_NULL)
					row.parsed = false;
				row.sent_date = sqlite3_column_int64(s, 8);
			}
			if (scan->want & STORE_SCAN_HEADERS) {
				row.headers = (const char *)sqlite3_column_text(s, 9);
				row.headers_len = (size_t)sqlite3_column_bytes(s, 9);
				if (row.headers == NULL)
					row.parsed = false;
			}
			if (scan->want & STORE_SCAN_BODY) {
				row.body = (const char *)sqlite3_column_text(s, 10);
				row.body_len = (size_t)sqlite3_column_bytes(s, 10);
				if (row.body == NULL)
					row.parsed = false;
			}
			if (!row.parsed) {
				row.sent_date = 0;
				row.headers = row.body = NULL;
				row.headers_len = row.body_len = 0;
			}
			int stop = fn(ctx, &row);
			if (stop != 0) {
				ret = stop;
				rc = SQLITE_DONE;
				break;
			}
		}
		if (rc != SQLITE_DONE)
			ret = sqlite_fail(c, "search scan");
		sqlite3_reset(s);
		sqlite_read_end(c);
	}
	if (own)
		sqlite3_finalize(s);
	for (size_t i = 0; i < b.n_match; i++)
		free(b.match[i]);
	free(sql);
	return ret;
}
