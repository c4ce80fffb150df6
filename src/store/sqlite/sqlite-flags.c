/* Flag changes and change tracking in the embedded store. A STORE runs as one
 * job: the entries are read a batch of UIDs at a time (a range, or a list of
 * short runs: sqlite_uid_iter), the new flags are worked out here (so the
 * result needs no second read), and each batch that has changes is written
 * with one UPDATE, which keeps "STORE 1:* +FLAGS (\Seen)" on a large mailbox
 * to a few statements. Changed entries share one new modseq; entries whose
 * flags stay the same keep theirs, and so does the mailbox when nothing
 * changed. changes() answers CONDSTORE/QRESYNC: entries and tombstones with a
 * modseq above a given one. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

/* Up to this many changed entries, changes() reads them through the modseq
 * index; more, and one pass over the mailbox in UID order is cheaper. */
#define SQLITE_CHANGES_BY_INDEX_MAX 5000

struct sqlite_flags_ctx {
	int64_t account_id;
	int64_t mailbox_id;
	uint32_t *uids; /* sorted, no duplicates */
	size_t n;
	const struct store_flag_change *chg;
	struct store_flag_result r;
	size_t cap_entries, cap_failed;
};

/* new = (old & keep) | set, for both the system flags and the keyword bits:
 * SET keeps nothing, ADD keeps everything, REMOVE keeps all but the named. */
struct sqlite_flag_op {
	uint64_t keep_flags, set_flags;
	uint64_t keep_kw, set_kw;
};

static void sqlite_flags_push(struct sqlite_flags_ctx *ctx, const struct store_entry *e)
{
	if (ctx->r.n_entries == ctx->cap_entries) {
		ctx->cap_entries = ctx->cap_entries ? ctx->cap_entries * 2 : (ctx->n < 1024 ? ctx->n + 1 : 1024);
		ctx->r.entries = xrealloc(ctx->r.entries, ctx->cap_entries * sizeof *ctx->r.entries);
	}
	ctx->r.entries[ctx->r.n_entries++] = *e;
}

static void sqlite_flags_fail(struct sqlite_flags_ctx *ctx, uint32_t uid)
{
	if (ctx->r.n_failed == ctx->cap_failed) {
		ctx->cap_failed = ctx->cap_failed ? ctx->cap_failed * 2 : 16;
		ctx->r.failed = xrealloc(ctx->r.failed, ctx->cap_failed * sizeof *ctx->r.failed);
	}
	ctx->r.failed[ctx->r.n_failed++] = uid;
}

/* Read a batch's entries, decide, then write the changed ones with one
 * UPDATE that makes the same decision in SQL. */
static int sqlite_flags_batch(struct sqlite_conn *w, struct sqlite_flags_ctx *ctx, const struct sqlite_uid_batch *b,
			      const struct sqlite_flag_op *op, uint64_t modseq, int64_t *d_unseen, int64_t *d_deleted,
			      size_t *changed_r)
{
	uint64_t since = ctx->chg->unchangedsince;
	sqlite3_stmt *s;
	if (b->json == NULL) {
		s = sqlite_stmt(w, "SELECT " SQLITE_ENTRY_COLUMNS " FROM entries WHERE account_id = ?1"
				   " AND mailbox_id = ?2 AND uid BETWEEN ?3 AND ?4 ORDER BY uid");
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 3, b->lo);
		sqlite3_bind_int64(s, 4, b->hi);
	} else {
		s = sqlite_stmt(w, "SELECT " SQLITE_ENTRY_COLUMNS " FROM entries WHERE account_id = ?1"
				   " AND mailbox_id = ?2 AND uid IN (SELECT value FROM json_each(?3)) ORDER BY uid");
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_text(s, 3, b->json, -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(s, 1, ctx->account_id);
	sqlite3_bind_int64(s, 2, ctx->mailbox_id);
	size_t changed = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_entry e;
		sqlite_entry_row(s, &e);
		if (since != 0 && e.modseq > since) {
			sqlite_flags_fail(ctx, e.uid);
		} else {
			uint32_t nf = (uint32_t)((e.flags & op->keep_flags) | op->set_flags);
			uint64_t nk = (e.keywords & op->keep_kw) | op->set_kw;
			if (nf != e.flags || nk != e.keywords) {
				*d_unseen += (int64_t)!(nf & STORE_FLAG_SEEN) - (int64_t)!(e.flags & STORE_FLAG_SEEN);
				*d_deleted += (int64_t)!!(nf & STORE_FLAG_DELETED) - (int64_t)!!(e.flags & STORE_FLAG_DELETED);
				e.flags = nf;
				e.keywords = nk;
				e.modseq = modseq;
				changed++;
			}
		}
		sqlite_flags_push(ctx, &e);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sqlite_fail(w, "flags: read");
	*changed_r = changed;
	if (changed == 0)
		return STORE_OK;
	if (b->json == NULL) {
		s = sqlite_stmt(w, "UPDATE entries SET flags = (flags & ?5) | ?6, kwbits = (kwbits & ?7) | ?8,"
				   " modseq = ?9 WHERE account_id = ?1 AND mailbox_id = ?2 AND uid BETWEEN ?3 AND ?4"
				   " AND +modseq <= ?10 AND (((flags & ?5) | ?6) <> flags OR ((kwbits & ?7) | ?8) <> kwbits)");
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 3, b->lo);
		sqlite3_bind_int64(s, 4, b->hi);
	} else {
		s = sqlite_stmt(w, "UPDATE entries SET flags = (flags & ?5) | ?6, kwbits = (kwbits & ?7) | ?8,"
				   " modseq = ?9 WHERE account_id = ?1 AND mailbox_id = ?2"
				   " AND uid IN (SELECT value FROM json_each(?3))"
				   " AND +modseq <= ?10 AND (((flags & ?5) | ?6) <> flags OR ((kwbits & ?7) | ?8) <> kwbits)");
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_text(s, 3, b->json, -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(s, 1, ctx->account_id);
	sqlite3_bind_int64(s, 2, ctx->mailbox_id);
	sqlite3_bind_int64(s, 5, (int64_t)op->keep_flags);
	sqlite3_bind_int64(s, 6, (int64_t)op->set_flags);
	sqlite3_bind_int64(s, 7, (int64_t)op->keep_kw);
	sqlite3_bind_int64(s, 8, (int64_t)op->set_kw);
	sqlite3_bind_int64(s, 9, (int64_t)modseq);
	sqlite3_bind_int64(s, 10, since != 0 && since < (uint64_t)INT64_MAX ? (int64_t)since : INT64_MAX);
	if (sqlite_step_done(w, s) != STORE_OK)
		return STORE_ERROR;
	if ((size_t)sqlite3_changes(w->db) != changed)
		return store_set_error("flags: %d rows changed, %zu expected", sqlite3_changes(w->db), changed);
	return STORE_OK;
}

static int sqlite_flags_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_flags_ctx *ctx = arg;
	const struct store_flag_change *chg = ctx->chg;
	int64_t highest;
	sqlite3_stmt *s = sqlite_stmt(w, "SELECT highestmodseq FROM mailboxes WHERE account_id = ? AND id = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, ctx->account_id);
	sqlite3_bind_int64(s, 2, ctx->mailbox_id);
	int rc = sqlite_step_int64(w, s, &highest);
	if (rc != STORE_OK)
		return rc;

	/* Keywords by name: SET and ADD add names the mailbox has not seen yet;
	 * REMOVE ignores them (no entry can have them). */
	struct sqlite_keywords kw;
	rc = sqlite_keywords_load(w, ctx->account_id, ctx->mailbox_id, &kw);
	if (rc != STORE_OK)
		return rc;
	uint64_t kwbits = 0;
	for (size_t i = 0; rc == STORE_OK && i < chg->n_keywords; i++) {
		uint64_t bit = 0;
		rc = sqlite_keyword_bit(w, ctx->account_id, ctx->mailbox_id, &kw, chg->keywords[i],
					chg->mode != STORE_FLAGS_REMOVE, &bit);
		if (rc == STORE_NOTFOUND)
			rc = STORE_OK;
		kwbits |= bit;
	}
	if (rc == STORE_OK)
		sqlite_keywords_export(&kw, &ctx->r.keywords, &ctx->r.n_keywords);
	sqlite_keywords_clear(&kw);
	if (rc != STORE_OK)
		return rc;

	uint64_t flags = chg->flags & SQLITE_FLAGS_MASK;
	struct sqlite_flag_op op;
	switch (chg->mode) {
	case STORE_FLAGS_SET:
		op = (struct sqlite_flag_op){0, flags, 0, kwbits};
		break;
	case STORE_FLAGS_ADD:
		op = (struct sqlite_flag_op){UINT64_MAX, flags, UINT64_MAX, kwbits};
		break;
	default:
		op = (struct sqlite_flag_op){~flags, 0, ~kwbits, 0};
		break;
	}
	uint64_t modseq = (uint64_t)highest + 1;
	int64_t d_unseen = 0, d_deleted = 0;
	size_t changed = 0;
	struct sqlite_uid_iter it;
	struct sqlite_uid_batch b;
	sqlite_uid_iter_init(&it, ctx->uids, ctx->n);
	while (rc == STORE_OK && sqlite_uid_iter_next(&it, &b)) {
		size_t c = 0;
		rc = sqlite_flags_batch(w, ctx, &b, &op, modseq, &d_unseen, &d_deleted, &c);
		changed += c;
	}
	sqlite_uid_iter_free(&it);
	if (rc != STORE_OK || changed == 0)
		return rc;
	s = sqlite_stmt(w, "UPDATE mailboxes SET highestmodseq = ?3, unseen = unseen + ?4, deleted = deleted + ?5"
			   " WHERE account_id = ?1 AND id = ?2");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, ctx->account_id);
	sqlite3_bind_int64(s, 2, ctx->mailbox_id);
	sqlite3_bind_int64(s, 3, (int64_t)modseq);
	sqlite3_bind_int64(s, 4, d_unseen);
	sqlite3_bind_int64(s, 5, d_deleted);
	if (sqlite_step_done(w, s) != STORE_OK)
		return STORE_ERROR;
	ctx->r.modseq = modseq;
	sqlite_changes_add(ch, ctx->account_id, ctx->mailbox_id, modseq);
	return STORE_OK;
}

int sqlite_flags_update(struct store *base, int64_t account_id, int64_t mailbox_id, const uint32_t *uids, size_t n,
			const struct store_flag_change *chg, struct store_flag_result *r)
{
	memset(r, 0, sizeof *r);
	if ((uids == NULL && n > 0) || chg == NULL ||
	    (chg->mode != STORE_FLAGS_SET && chg->mode != STORE_FLAGS_ADD && chg->mode != STORE_FLAGS_REMOVE))
		return STORE_INVALID;
	if (!store_keywords_valid(chg->keywords, chg->n_keywords))
		return STORE_INVALID;
	struct sqlite_flags_ctx ctx = {.account_id = account_id, .mailbox_id = mailbox_id, .chg = chg};
	ctx.uids = sqlite_uids_sorted(uids, n, &ctx.n);
	int rc = sqlite_submit_lazy(sqlite_store_of(base), sqlite_flags_job, &ctx);
	free(ctx.uids);
	if (rc == STORE_OK)
		*r = ctx.r;
	else
		store_flag_result_clear(&ctx.r);
	return rc;
}

/* --- changes --- */

int sqlite_changes(struct store *base, int64_t account_id, int64_t mailbox_id, uint64_t since,
		   struct store_entry **r, size_t *n_r, uint32_t **vanished_r, size_t *n_vanished_r)
{
	*r = NULL;
	*n_r = 0;
	*vanished_r = NULL;
	*n_vanished_r = 0;
	int64_t after = since < (uint64_t)INT64_MAX ? (int64_t)since : INT64_MAX;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	if (c == NULL || sqlite_read_begin(c) != STORE_OK)
		return STORE_ERROR;
	int64_t one;
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT 1 FROM mailboxes WHERE account_id = ? AND id = ?");
	int ret = s ? STORE_OK : STORE_ERROR;
	if (ret == STORE_OK) {
		sqlite3_bind_int64(s, 1, account_id);
		sqlite3_bind_int64(s, 2, mailbox_id);
		ret = sqlite_step_int64(c, s, &one);
	}
	/* Left alone, SQLite walks the whole mailbox in UID order to spare a
	 * sort. A resync usually asks for a few recent changes: count them on
	 * the modseq index first (it covers the query) and fetch through it
	 * when they are few. */
	int64_t recent = 0;
	if (ret == STORE_OK) {
		s = sqlite_stmt(c, "SELECT count(*) FROM entries INDEXED BY entries_modseq"
				   " WHERE account_id = ? AND mailbox_id = ? AND modseq > ?");
		ret = s ? STORE_OK : STORE_ERROR;
	}
	if (ret == STORE_OK) {
		sqlite3_bind_int64(s, 1, account_id);
		sqlite3_bind_int64(s, 2, mailbox_id);
		sqlite3_bind_int64(s, 3, after);
		ret = sqlite_step_int64(c, s, &recent);
	}
	struct store_entry *v = NULL;
	size_t n = 0, cap = 0;
	if (ret == STORE_OK) {
		s = recent <= SQLITE_CHANGES_BY_INDEX_MAX
			    ? sqlite_stmt(c, "SELECT " SQLITE_ENTRY_COLUMNS " FROM entries INDEXED BY entries_modseq"
					     " WHERE account_id = ? AND mailbox_id = ? AND modseq > ? ORDER BY uid")
			    : sqlite_stmt(c, "SELECT " SQLITE_ENTRY_COLUMNS " FROM entries"
					     " WHERE account_id = ? AND mailbox_id = ? AND modseq > ? ORDER BY uid");
		ret = s ? STORE_OK : STORE_ERROR;
	}
	if (ret == STORE_OK) {
		sqlite3_bind_int64(s, 1, account_id);
		sqlite3_bind_int64(s, 2, mailbox_id);
		sqlite3_bind_int64(s, 3, after);
		ret = sqlite_entry_rows(c, s, "changes", &v, &n, &cap);
	}
	uint32_t *gone = NULL;
	size_t n_gone = 0, cap_gone = 0;
	if (ret == STORE_OK) {
		s = sqlite_stmt(c, "SELECT uid FROM tombstones INDEXED BY tombstones_modseq"
				   " WHERE account_id = ? AND mailbox_id = ? AND modseq > ? ORDER BY uid");
		ret = s ? STORE_OK : STORE_ERROR;
	}
	if (ret == STORE_OK) {
		sqlite3_bind_int64(s, 1, account_id);
		sqlite3_bind_int64(s, 2, mailbox_id);
		sqlite3_bind_int64(s, 3, after);
		int rc;
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (n_gone == cap_gone) {
				cap_gone = cap_gone ? cap_gone * 2 : 64;
				gone = xrealloc(gone, cap_gone * sizeof *gone);
			}
			gone[n_gone++] = (uint32_t)sqlite3_column_int64(s, 0);
		}
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			ret = sqlite_fail(c, "vanished");
	}
	sqlite_read_end(c);
	if (ret != STORE_OK) {
		free(v);
		free(gone);
		return ret;
	}
	*r = v;
	*n_r = n;
	*vanished_r = gone;
	*n_vanished_r = n_gone;
	return STORE_OK;
}
