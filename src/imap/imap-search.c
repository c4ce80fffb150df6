/* SEARCH and UID SEARCH (RFC 9051 6.4.4, RFC 3501), with the ESEARCH return
 * options of RFC 4731, SEARCHRES of RFC 5182 ("$", RETURN (SAVE)) and the
 * MODSEQ criterion of RFC 7162.
 *
 * Nothing is parsed at search time: one store scan streams the mailbox's
 * entries in UID order, with the text that was decoded and case-folded at
 * delivery when the criteria read text, and each row is checked exactly
 * (imap-search-eval.c). The store may use its index to skip messages that
 * cannot match; what it hands over is checked all the same, so the answer is
 * exact and includes a message delivered a moment ago. Before scanning, the
 * command reports new messages (EXISTS) so that every number or UID it
 * returns is one the client knows; SEARCH by sequence number never reports
 * expunges (CMDF_NO_EXPUNGE), UID SEARCH may. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap/imap-search.h"

struct search_hit {
	uint32_t uid;
	uint64_t modseq;
};

struct search_run {
	const struct imap_view *view;
	const struct search_query *q;
	struct search_hit *hits;
	size_t n_hits, cap_hits;
	/* Rows the store had no parse for yet: checked after the scan. */
	struct store_entry *later;
	size_t n_later, cap_later;
	size_t rows;
};

static void add_hit(struct search_run *r, const struct store_entry *e)
{
	if (r->n_hits > 0 && r->hits[r->n_hits - 1].uid == e->uid)
		return;
	if (r->n_hits == r->cap_hits) {
		r->cap_hits = r->cap_hits ? r->cap_hits * 2 : 64;
		r->hits = xrealloc(r->hits, r->cap_hits * sizeof *r->hits);
	}
	r->hits[r->n_hits++] = (struct search_hit){e->uid, e->modseq};
}

static int search_row(void *ctx, const struct store_scan_row *row)
{
	struct search_run *r = ctx;
	r->rows++;
	if (imap_view_seq(r->view, row->entry.uid) == 0)
		return 0; /* not (or no longer) known to the client */
	if (!row->parsed) {
		if (r->n_later == r->cap_later) {
			r->cap_later = r->cap_later ? r->cap_later * 2 : 16;
			r->later = xrealloc(r->later, r->cap_later * sizeof *r->later);
		}
		r->later[r->n_later++] = row->entry;
		return 0;
	}
	struct search_msg m = {.e = &row->entry,
			       .sent_date = row->sent_date,
			       .headers = row->headers,
			       .headers_len = row->headers_len,
			       .body = row->body,
			       .body_len = row->body_len};
	if (imap_search_match(r->q->root, &m))
		add_hit(r, &row->entry);
	return 0;
}

static int cmp_hit(const void *a, const void *b)
{
	const struct search_hit *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Messages stored before the parser existed: store_message_info parses each
 * once (and keeps the result), then they are checked like the others. */
static int search_later(struct imap_session *s, struct search_run *r)
{
	if (r->n_later == 0)
		return STORE_OK;
	for (size_t i = 0; i < r->n_later; i++) {
		struct mime_info info;
		int rc = store_message_info(s->store, s->account_id, r->later[i].message_id, true, &info);
		if (rc == STORE_NOTFOUND)
			continue; /* expunged meanwhile */
		if (rc != STORE_OK)
			return rc;
		struct search_msg m = {.e = &r->later[i],
				       .sent_date = info.sent_date,
				       .headers = info.search_headers,
				       .headers_len = info.search_headers ? strlen(info.search_headers) : 0,
				       .body = info.search_body,
				       .body_len = info.search_body ? strlen(info.search_body) : 0};
		if (imap_search_match(r->q->root, &m)) {
			if (r->n_hits == r->cap_hits) {
				r->cap_hits = r->cap_hits ? r->cap_hits * 2 : 64;
				r->hits = xrealloc(r->hits, r->cap_hits * sizeof *r->hits);
			}
			r->hits[r->n_hits++] = (struct search_hit){r->later[i].uid, r->later[i].modseq};
		}
		mime_info_clear(&info);
	}
	qsort(r->hits, r->n_hits, sizeof *r->hits, cmp_hit);
	return STORE_OK;
}

/* RETURN (SAVE) of a failed SEARCH leaves "$" empty (RFC 5182 2.1). */
static void saved_set(struct imap_session *s, const uint32_t *uids, size_t n)
{
	free(s->saved);
	s->saved = n ? xmalloc(n * sizeof *uids) : NULL;
	if (n)
		memcpy(s->saved, uids, n * sizeof *uids);
	s->n_saved = n;
	s->saved_valid = true;
}

static uint64_t max_modseq(const struct search_hit *h, size_t n)
{
	uint64_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (h[i].modseq > m)
			m = h[i].modseq;
	return m;
}

static void respond(struct imap_session *s, const struct search_query *q, const struct search_hit *hits, size_t n)
{
	const struct imap_view *v = s->view;
	/* Numbers as the client asked for them; both ascending. */
	uint32_t *num = xmalloc((n ? n : 1) * sizeof *num);
	for (size_t i = 0; i < n; i++)
		num[i] = s->uid ? hits[i].uid : imap_view_seq(v, hits[i].uid);
	unsigned ret = q->esearch ? q->ret : SEARCH_RET_ALL;

	if (ret & SEARCH_RET_SAVE) {
		/* With MIN or MAX only those are saved (RFC 5182 2.4). */
		if (ret & (SEARCH_RET_MIN | SEARCH_RET_MAX)) {
			uint32_t mm[2];
			size_t k = 0;
			if (n > 0 && (ret & SEARCH_RET_MIN))
				mm[k++] = hits[0].uid;
			if (n > 0 && (ret & SEARCH_RET_MAX) && (k == 0 || mm[0] != hits[n - 1].uid))
				mm[k++] = hits[n - 1].uid;
			saved_set(s, mm, k);
		} else {
			uint32_t *u = xmalloc((n ? n : 1) * sizeof *u);
			for (size_t i = 0; i < n; i++)
				u[i] = hits[i].uid;
			saved_set(s, u, n);
			free(u);
		}
	}

	struct buf *out = conn_outbuf(s->c);
	if (!q->esearch && !s->rev2) {
		buf_appends(out, "* SEARCH");
		for (size_t i = 0; i < n; i++)
			buf_printf(out, " %u", num[i]);
		if (q->modseq && n > 0)
			buf_printf(out, " (MODSEQ %llu)", (unsigned long long)max_modseq(hits, n));
		buf_appends(out, "\r\n");
	} else if (ret != SEARCH_RET_SAVE) {
		/* RETURN (SAVE) alone answers nothing but the tagged OK. */
		buf_appends(out, "* ESEARCH (TAG ");
		imap_write_string(s->c, s->tag ? s->tag : "*", s->tag ? strlen(s->tag) : 1, false);
		buf_appends(out, ")");
		if (s->uid)
			buf_appends(out, " UID");
		if (n > 0 && (ret & SEARCH_RET_MIN))
			buf_printf(out, " MIN %u", num[0]);
		if (n > 0 && (ret & SEARCH_RET_MAX))
			buf_printf(out, " MAX %u", num[n - 1]);
		if (ret & SEARCH_RET_COUNT)
			buf_printf(out, " COUNT %zu", n);
		if (n > 0 && (ret & SEARCH_RET_ALL)) {
			buf_appends(out, " ALL ");
			imap_write_set(out, num, n);
		}
		if (q->modseq && n > 0) {
			/* Of every match for ALL and COUNT, else of those that
			 * MIN and MAX name (RFC 7162 3.1.5). */
			uint64_t m = 0;
			if (ret & (SEARCH_RET_ALL | SEARCH_RET_COUNT)) {
				m = max_modseq(hits, n);
			} else {
				if (ret & SEARCH_RET_MIN)
					m = hits[0].modseq;
				if ((ret & SEARCH_RET_MAX) && hits[n - 1].modseq > m)
					m = hits[n - 1].modseq;
			}
			buf_printf(out, " MODSEQ %llu", (unsigned long long)m);
		}
		buf_appends(out, "\r\n");
	}
	free(num);
}

enum run_result imap_cmd_search(struct imap_session *s, const struct imap_command *cmd)
{
	int64_t t0 = time_mono_ms();
	struct search_query q;
	const char *err = NULL;
	enum search_parse_status ps = imap_search_parse(cmd->args, cmd->n_args, &q, &err);
	bool save = (q.ret & SEARCH_RET_SAVE) != 0;
	if (ps != SEARCH_PARSE_OK) {
		imap_search_free(&q);
		if (save)
			saved_set(s, NULL, 0);
		if (ps == SEARCH_PARSE_BAD)
			return imap_bad(s, "%s", err);
		return imap_no(s, "%s", err);
	}
	if (q.modseq)
		s->condstore = true; /* MODSEQ is a CONDSTORE-enabling command */

	/* Announce what arrived meanwhile, so that it is searched too and every
	 * number returned is known to the client. */
	if (imap_view_sync(s, s->uid, 0) < 0) {
		imap_search_free(&q);
		return imap_no(s, "The mailbox is gone");
	}
	struct imap_view *v = s->view;
	struct search_env env = {.uids = &v->uids,
				 .saved = s->saved,
				 .n_saved = s->n_saved,
				 .saved_valid = s->saved_valid,
				 .keywords = v->keywords,
				 .n_keywords = v->n_keywords};
	uint32_t lo, hi;
	if (imap_search_compile(&q, &env, &lo, &hi, &err) < 0) {
		imap_search_free(&q);
		if (save)
			saved_set(s, NULL, 0);
		return imap_bad(s, "%s", err);
	}

	struct search_run r = {.view = v, .q = &q};
	int rc = STORE_OK;
	if (lo <= hi) {
		struct store_scan scan = {.uid_lo = lo, .uid_hi = hi, .want = q.want, .filter = q.filter};
		rc = store_search_scan(s->store, s->account_id, v->mailbox_id, &scan, search_row, &r);
		if (rc == STORE_OK)
			rc = search_later(s, &r);
	}
	if (rc != STORE_OK) {
		free(r.hits);
		free(r.later);
		imap_search_free(&q);
		if (save)
			saved_set(s, NULL, 0);
		return imap_store_fail(s, rc, "search");
	}
	respond(s, &q, r.hits, r.n_hits);
	log_debug("sid=%s event=search uid=%d rows=%zu unparsed=%zu matched=%zu indexed=%d ms=%lld", s->sid, s->uid,
		  r.rows, r.n_later, r.n_hits, q.filter != NULL, (long long)(time_mono_ms() - t0));
	free(r.hits);
	free(r.later);
	imap_search_free(&q);
	return imap_ok(s, "%sSEARCH completed", s->uid ? "UID " : "");
}
