/* The selected mailbox as one session sees it, and sequence sets.
 *
 * A view maps sequence numbers to UIDs and remembers up to which modseq the
 * client has been told about changes. imap_view_sync() asks the store what
 * changed since then and reports it: FLAGS when new keywords appeared,
 * EXPUNGE (or VANISHED under QRESYNC) only when the running command allows it,
 * EXISTS for new messages and FETCH FLAGS for changed ones. Applying a change
 * twice is harmless (a UID is appended only when it is above every UID in the
 * view, an expunge only removes a UID that is there), so the store calls need
 * no common snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap/imap-session.h"

static void set_keywords(struct imap_view *v, char **kw, size_t n)
{
	store_strings_free(v->keywords, v->n_keywords);
	v->keywords = kw;
	v->n_keywords = n;
}

void imap_write_flag_lists(struct imap_session *s)
{
	struct imap_view *v = s->view;
	struct buf *out = conn_outbuf(s->c);
	buf_appends(out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	for (size_t i = 0; i < v->n_keywords; i++)
		buf_printf(out, " %s", v->keywords[i]);
	buf_appends(out, ")\r\n* OK [PERMANENTFLAGS (");
	if (!v->readonly) {
		buf_appends(out, "\\Answered \\Flagged \\Deleted \\Seen \\Draft");
		for (size_t i = 0; i < v->n_keywords; i++)
			buf_printf(out, " %s", v->keywords[i]);
		if (v->n_keywords < STORE_MAX_KEYWORDS)
			buf_appends(out, " \\*");
	}
	buf_appends(out, ")] Flags permitted\r\n");
}

void imap_view_take_keywords(struct imap_session *s, char ***kw, size_t *n)
{
	struct imap_view *v = s->view;
	if (*kw == NULL || *n <= v->n_keywords)
		return; /* keywords are only ever added: nothing new */
	set_keywords(v, *kw, *n);
	*kw = NULL;
	*n = 0;
	imap_write_flag_lists(s);
}

void imap_view_pin(struct imap_session *s)
{
	if (s->pin.active)
		store_pin_set(&s->pin, 0, 0);
	else
		store_pin_add(s->store, &s->pin, s->account_id, 0);
}

static void view_free(struct imap_session *s);

int imap_view_open(struct imap_session *s, const struct store_mailbox *mb, bool readonly, uint32_t *first_unseen_r)
{
	view_free(s);
	imap_view_pin(s);
	struct store_snapshot *snap = NULL;
	int rc = store_snapshot_get(s->store, s->account_id, mb->id, mb->highestmodseq, &snap);
	if (rc != STORE_OK) {
		store_pin_remove(&s->pin);
		return rc;
	}
	struct imap_view *v = xcalloc(1, sizeof *v);
	v->mailbox_id = mb->id;
	v->name = xstrdup(mb->name);
	v->readonly = readonly;
	v->uidvalidity = mb->uidvalidity;
	v->modseq = mb->highestmodseq;
	*first_unseen_r = 0;
	for (size_t i = 0; i < snap->n; i++) {
		imap_uids_append(&v->uids, snap->e[i].uid);
		if (*first_unseen_r == 0 && !(snap->e[i].flags & STORE_FLAG_SEEN))
			*first_unseen_r = (uint32_t)i + 1;
	}
	store_snapshot_put(snap);
	char **kw = NULL;
	if (mb->n_keywords) {
		kw = xcalloc(mb->n_keywords, sizeof *kw);
		for (size_t i = 0; i < mb->n_keywords; i++)
			kw[i] = xstrdup(mb->keywords[i]);
	}
	set_keywords(v, kw, mb->n_keywords);
	s->view = v;
	store_pin_set(&s->pin, v->mailbox_id, v->modseq);
	return STORE_OK;
}

void imap_view_close(struct imap_session *s)
{
	store_pin_remove(&s->pin);
	view_free(s);
}

static void view_free(struct imap_session *s)
{
	struct imap_view *v = s->view;
	if (v == NULL)
		return;
	free(v->name);
	imap_uids_free(&v->uids);
	free(v->pending);
	set_keywords(v, NULL, 0);
	free(v);
	s->view = NULL;
	free(s->saved);
	s->saved = NULL;
	s->n_saved = 0;
	s->saved_valid = false;
}

uint32_t imap_view_seq(const struct imap_view *v, uint32_t uid)
{
	size_t i = imap_uids_lower_bound(&v->uids, uid);
	return i < v->uids.n && imap_uids_at(&v->uids, i) == uid ? (uint32_t)i + 1 : 0;
}

int imap_view_keyword(const struct imap_view *v, const char *name)
{
	for (size_t i = 0; i < v->n_keywords; i++)
		if (str_ieq(v->keywords[i], name))
			return (int)i;
	return -1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Remove the given UIDs (ascending) from the view and report them. */
static void report_expunges(struct imap_session *s, const uint32_t *gone, size_t n_gone)
{
	struct imap_view *v = s->view;
	struct buf *out = conn_outbuf(s->c);
	/* Sequence numbers before any removal; reported from the highest down,
	 * each EXPUNGE leaves the numbers below it unchanged. */
	uint32_t *seqs = xmalloc((n_gone ? n_gone : 1) * sizeof *seqs);
	size_t k = 0;
	for (size_t i = 0; i < n_gone; i++) {
		uint32_t seq = imap_view_seq(v, gone[i]);
		if (seq != 0)
			seqs[k++] = seq;
	}
	if (k == 0) {
		free(seqs);
		return;
	}
	if (s->qresync) {
		uint32_t *uids = xmalloc(k * sizeof *uids);
		for (size_t i = 0; i < k; i++)
			uids[i] = imap_uids_at(&v->uids, seqs[i] - 1);
		buf_appends(out, "* VANISHED ");
		imap_write_set(out, uids, k);
		buf_appends(out, "\r\n");
		free(uids);
	} else {
		for (size_t i = k; i-- > 0;)
			buf_printf(out, "* %u EXPUNGE\r\n", seqs[i]);
	}
	imap_uids_remove(&v->uids, seqs, k);
	free(seqs);
}

int imap_view_sync(struct imap_session *s, bool allow_expunge, uint64_t skip_modseq)
{
	struct imap_view *v = s->view;
	/* One lookup when nothing changed (most commands); the mailbox itself,
	 * for its keywords, only when something did. */
	uint64_t highest;
	int rc = store_mailbox_modseq(s->store, s->account_id, v->mailbox_id, &highest);
	if (rc == STORE_OK && highest != v->modseq) {
		struct store_mailbox mb = {0};
		rc = store_mailbox_get(s->store, s->account_id, v->mailbox_id, &mb);
		if (rc == STORE_OK) {
			imap_view_take_keywords(s, &mb.keywords, &mb.n_keywords);
			highest = mb.highestmodseq;
			store_mailbox_clear(&mb);
		}
	}
	if (rc == STORE_NOTFOUND)
		return -1;
	if (rc != STORE_OK) {
		log_warn("sid=%s event=store_error op=sync error=\"%s\"", s->sid, store_last_error());
		return 0; /* report next time */
	}
	if (highest == v->modseq && (v->n_pending == 0 || !allow_expunge))
		return 0;

	struct store_entry *e = NULL;
	size_t n = 0;
	uint32_t *gone = NULL;
	size_t n_gone = 0;
	if (highest != v->modseq) {
		rc = store_changes(s->store, s->account_id, v->mailbox_id, v->modseq, &e, &n, &gone, &n_gone);
		if (rc == STORE_NOTFOUND)
			return -1;
		if (rc != STORE_OK) {
			log_warn("sid=%s event=store_error op=changes error=\"%s\"", s->sid, store_last_error());
			return 0;
		}
	}
	/* Expunges: now, or kept for a command that may report them. */
	if (n_gone > 0 || v->n_pending > 0) {
		size_t total = v->n_pending + n_gone;
		uint32_t *all = xmalloc(total * sizeof *all);
		if (v->n_pending)
			memcpy(all, v->pending, v->n_pending * sizeof *all);
		size_t k = v->n_pending;
		for (size_t i = 0; i < n_gone; i++)
			if (imap_view_seq(v, gone[i]) != 0)
				all[k++] = gone[i];
		qsort(all, k, sizeof *all, cmp_u32);
		size_t u = 0;
		for (size_t i = 0; i < k; i++)
			if (u == 0 || all[u - 1] != all[i])
				all[u++] = all[i];
		free(v->pending);
		v->pending = NULL;
		v->n_pending = 0;
		if (allow_expunge) {
			report_expunges(s, all, u);
			free(all);
		} else {
			v->pending = all;
			v->n_pending = u;
		}
	}
	/* New messages, then flag changes of the ones the client knows. */
	uint32_t last = imap_uids_last(&v->uids);
	size_t before = v->uids.n;
	for (size_t i = 0; i < n; i++) {
		if (e[i].uid > last) {
			imap_uids_append(&v->uids, e[i].uid);
			last = e[i].uid;
		}
	}
	struct buf *out = conn_outbuf(s->c);
	if (v->uids.n != before)
		buf_printf(out, "* %zu EXISTS\r\n", v->uids.n);
	for (size_t i = 0; i < n; i++) {
		if (e[i].modseq == skip_modseq)
			continue;
		uint32_t seq = imap_view_seq(v, e[i].uid);
		if (seq == 0 || seq > before)
			continue;
		buf_printf(out, "* %u FETCH (UID %u ", seq, e[i].uid);
		imap_write_flags(s, e[i].flags, e[i].keywords);
		if (s->condstore)
			buf_printf(out, " MODSEQ (%llu)", (unsigned long long)e[i].modseq);
		buf_appends(out, ")\r\n");
	}
	if (highest > v->modseq)
		v->modseq = highest;
	/* Expunges kept pending are still owed to the client: until they are
	 * reported the pin stays where it was. */
	if (v->n_pending == 0 && s->pin.modseq != v->modseq)
		store_pin_set(&s->pin, v->mailbox_id, v->modseq);
	free(e);
	free(gone);
	return 0;
}

/* ---------------- sequence sets ---------------- */

int imap_seqset_resolve(struct imap_session *s, const char *set, bool uid, uint32_t **seqs_r, size_t *n_r,
			const char **error_r)
{
	struct imap_view *v = s->view;
	*seqs_r = NULL;
	*n_r = 0;
	if (strcmp(set, "$") == 0) {
		/* SEARCHRES: the saved UIDs that are still here. */
		uint32_t *r = xmalloc((s->n_saved ? s->n_saved : 1) * sizeof *r);
		size_t k = 0;
		for (size_t i = 0; s->saved_valid && i < s->n_saved; i++) {
			uint32_t seq = imap_view_seq(v, s->saved[i]);
			if (seq)
				r[k++] = seq;
		}
		qsort(r, k, sizeof *r, cmp_u32);
		*seqs_r = r;
		*n_r = k;
		return 0;
	}
	uint32_t star = uid ? imap_uids_last(&v->uids) : (uint32_t)v->uids.n;
	bool has_star = strchr(set, '*') != NULL;
	struct imap_range *rg;
	size_t nr;
	if (imap_seqset_parse(set, star == 0 ? 1 : star, &rg, &nr) < 0) {
		*error_r = "Invalid sequence set";
		return -1;
	}
	if (v->uids.n == 0 && has_star) {
		free(rg);
		return 0; /* "*" of an empty mailbox selects nothing */
	}
	size_t cap = 0;
	for (size_t i = 0; i < nr; i++) {
		if (!uid && rg[i].hi > v->uids.n) {
			free(rg);
			*error_r = "Invalid sequence number: no such message";
			return -1;
		}
		cap += uid ? 0 : rg[i].hi - rg[i].lo + 1;
	}
	if (uid)
		cap = v->uids.n;
	uint32_t *r = xmalloc((cap ? cap : 1) * sizeof *r);
	size_t k = 0;
	for (size_t i = 0; i < nr; i++) {
		if (uid) {
			for (size_t j = imap_uids_lower_bound(&v->uids, rg[i].lo);
			     j < v->uids.n && imap_uids_at(&v->uids, j) <= rg[i].hi; j++)
				r[k++] = (uint32_t)j + 1;
		} else {
			for (uint64_t q = rg[i].lo; q <= rg[i].hi; q++)
				r[k++] = (uint32_t)q;
		}
	}
	free(rg);
	*seqs_r = r;
	*n_r = k;
	return 0;
}
