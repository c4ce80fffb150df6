/* Messages in the embedded store: delivery (content stored once, one entry per
 * target, all or nothing), listing a mailbox's entries, reading a byte range
 * of content through SQLite's incremental blob I/O so that a large message is
 * never loaded whole, and expunge and move, which leave tombstones with a new
 * modseq and free content once no entry refers to it. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

#define SQLITE_UID_MAX 0xffffffffu
#define SQLITE_FLAGS_MASK \
	(STORE_FLAG_SEEN | STORE_FLAG_ANSWERED | STORE_FLAG_FLAGGED | STORE_FLAG_DELETED | STORE_FLAG_DRAFT)

/* The current HIGHESTMODSEQ of a mailbox, or STORE_NOTFOUND. */
static int sqlite_mailbox_modseq(struct sqlite_conn *c, int64_t account_id, int64_t mailbox_id, int64_t *modseq_r)
{
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT highestmodseq FROM mailboxes WHERE account_id = ? AND id = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_int64(s, 2, mailbox_id);
	return sqlite_step_int64(c, s, modseq_r);
}

/* Delete a message's content when no entry refers to it any more. */
static int sqlite_message_release(struct sqlite_conn *w, int64_t message_id)
{
	sqlite3_stmt *s = sqlite_stmt(w, "DELETE FROM messages WHERE id = ?1"
					 " AND NOT EXISTS (SELECT 1 FROM entries WHERE message_id = ?1)");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, message_id);
	return sqlite_step_done(w, s);
}

/* Take n UIDs from a mailbox and bump its modseq and counters; *first_uid_r
 * is the first UID of the range, *modseq_r the new HIGHESTMODSEQ. */
static int sqlite_mailbox_allocate(struct sqlite_conn *w, int64_t account_id, int64_t mailbox_id, size_t n,
				   uint64_t bytes, uint32_t *first_uid_r, uint64_t *modseq_r)
{
	sqlite3_stmt *s = sqlite_stmt(w, "UPDATE mailboxes SET uidnext = uidnext + ?3,"
					 " highestmodseq = highestmodseq + 1, messages = messages + ?3,"
					 " bytes = bytes + ?4 WHERE account_id = ?1 AND id = ?2"
					 " RETURNING uidnext - ?3, highestmodseq");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_int64(s, 2, mailbox_id);
	sqlite3_bind_int64(s, 3, (int64_t)n);
	sqlite3_bind_int64(s, 4, (int64_t)bytes);
	int rc = sqlite3_step(s), ret = STORE_OK;
	if (rc == SQLITE_ROW) {
		int64_t first = sqlite3_column_int64(s, 0);
		*modseq_r = (uint64_t)sqlite3_column_int64(s, 1);
		if (first < 1 || first + (int64_t)n - 1 > (int64_t)SQLITE_UID_MAX)
			ret = store_set_error("mailbox %lld has run out of UIDs", (long long)mailbox_id);
		else
			*first_uid_r = (uint32_t)first;
	} else {
		ret = rc == SQLITE_DONE ? STORE_NOTFOUND : sqlite_fail(w, "allocate UIDs");
	}
	sqlite3_reset(s);
	return ret;
}

/* Take entries out of a mailbox (after they were deleted from entries):
 * bump its modseq, lower its counters and leave tombstones. */
static int sqlite_mailbox_remove(struct sqlite_conn *w, int64_t account_id, int64_t mailbox_id, const uint32_t *uids,
				 size_t n, uint64_t bytes, uint64_t *modseq_r)
{
	sqlite3_stmt *s = sqlite_stmt(w, "UPDATE mailboxes SET highestmodseq = highestmodseq + 1,"
					 " messages = messages - ?3, bytes = bytes - ?4"
					 " WHERE account_id = ?1 AND id = ?2 RETURNING highestmodseq");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_int64(s, 2, mailbox_id);
	sqlite3_bind_int64(s, 3, (int64_t)n);
	sqlite3_bind_int64(s, 4, (int64_t)bytes);
	int64_t modseq;
	int rc = sqlite_step_int64(w, s, &modseq);
	if (rc != STORE_OK)
		return rc;
	*modseq_r = (uint64_t)modseq;
	for (size_t i = 0; i < n; i++) {
		s = sqlite_stmt(w, "INSERT OR REPLACE INTO tombstones (account_id, mailbox_id, uid, modseq)"
				   " VALUES (?, ?, ?, ?)");
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, account_id);
		sqlite3_bind_int64(s, 2, mailbox_id);
		sqlite3_bind_int64(s, 3, uids[i]);
		sqlite3_bind_int64(s, 4, modseq);
		if (sqlite_step_done(w, s) != STORE_OK)
			return STORE_ERROR;
	}
	return STORE_OK;
}

/* --- deliver --- */

struct sqlite_deliver_ctx {
	const char *data;
	size_t len;
	struct store_target *targets;
	size_t n_targets;
	int64_t now;
};

static int sqlite_deliver_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_deliver_ctx *ctx = arg;
	sqlite3_stmt *s = sqlite_stmt(w, "INSERT INTO messages (size, created, content) VALUES (?, ?, ?)");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, (int64_t)ctx->len);
	sqlite3_bind_int64(s, 2, ctx->now);
	if (sqlite3_bind_blob64(s, 3, ctx->len ? ctx->data : "", ctx->len, SQLITE_STATIC) != SQLITE_OK) {
		sqlite3_reset(s);
		return store_set_error("message of %zu bytes is too large to store", ctx->len);
	}
	if (sqlite_step_done(w, s) != STORE_OK)
		return STORE_ERROR;
	int64_t message_id = sqlite3_last_insert_rowid(w->db);
	for (size_t i = 0; i < ctx->n_targets; i++) {
		struct store_target *t = &ctx->targets[i];
		uint32_t uid;
		uint64_t modseq;
		int rc = sqlite_mailbox_allocate(w, t->account_id, t->mailbox_id, 1, ctx->len, &uid, &modseq);
		if (rc != STORE_OK)
			return rc;
		s = sqlite_stmt(w, "INSERT INTO entries (account_id, mailbox_id, uid, message_id, size, flags,"
				   " modseq, internal_date, ends_crlf) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, t->account_id);
		sqlite3_bind_int64(s, 2, t->mailbox_id);
		sqlite3_bind_int64(s, 3, uid);
		sqlite3_bind_int64(s, 4, message_id);
		sqlite3_bind_int64(s, 5, (int64_t)ctx->len);
		sqlite3_bind_int64(s, 6, t->flags & SQLITE_FLAGS_MASK);
		sqlite3_bind_int64(s, 7, (int64_t)modseq);
		sqlite3_bind_int64(s, 8, t->internal_date ? t->internal_date : ctx->now);
		sqlite3_bind_int(s, 9, ctx->len == 0 || (ctx->len >= 2 && ctx->data[ctx->len - 2] == '\r' &&
							 ctx->data[ctx->len - 1] == '\n'));
		if (sqlite_step_done(w, s) != STORE_OK)
			return STORE_ERROR;
		t->uid_r = uid;
		sqlite_changes_add(ch, t->account_id, t->mailbox_id, modseq);
	}
	return STORE_OK;
}

int sqlite_deliver(struct store *base, const char *data, size_t len, const struct mime_info *info,
		   struct store_target *targets, size_t n_targets)
{
	if ((data == NULL && len > 0) || targets == NULL || n_targets == 0)
		return STORE_INVALID;
	/* store_deliver has normalised the content to CRLF already. */
	struct sqlite_deliver_ctx ctx = {
		.data = data, .len = len, .targets = targets, .n_targets = n_targets, .now = time_now()};
	int rc = sqlite_submit(sqlite_store_of(base), sqlite_deliver_job, &ctx);
	return rc;
}

/* --- entries --- */

int sqlite_entries(struct store *base, int64_t account_id, int64_t mailbox_id, int64_t since, struct store_entry **r,
		   size_t *n_r)
{
	*r = NULL;
	*n_r = 0;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	if (c == NULL || sqlite_read_begin(c) != STORE_OK)
		return STORE_ERROR;
	int64_t modseq;
	int ret = sqlite_mailbox_modseq(c, account_id, mailbox_id, &modseq);
	sqlite3_stmt *s = NULL;
	if (ret == STORE_OK) {
		s = sqlite_stmt(c, "SELECT uid, message_id, size, internal_date, flags, modseq, ends_crlf FROM entries"
				   " WHERE account_id = ? AND mailbox_id = ? AND internal_date >= ? ORDER BY uid");
		if (s == NULL)
			ret = STORE_ERROR;
	}
	struct store_entry *v = NULL;
	size_t n = 0, cap = 0;
	if (ret == STORE_OK) {
		sqlite3_bind_int64(s, 1, account_id);
		sqlite3_bind_int64(s, 2, mailbox_id);
		sqlite3_bind_int64(s, 3, since ? since : INT64_MIN);
		int rc;
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				v = xrealloc(v, cap * sizeof *v);
			}
			v[n++] = (struct store_entry){
				.uid = (uint32_t)sqlite3_column_int64(s, 0),
				.message_id = sqlite3_column_int64(s, 1),
				.size = (uint64_t)sqlite3_column_int64(s, 2),
				.internal_date = sqlite3_column_int64(s, 3),
				.flags = (uint32_t)sqlite3_column_int64(s, 4),
				.modseq = (uint64_t)sqlite3_column_int64(s, 5),
				.ends_crlf = sqlite3_column_int(s, 6) != 0,
			};
		}
		if (rc != SQLITE_DONE)
			ret = sqlite_fail(c, "entries");
		sqlite3_reset(s);
	}
	sqlite_read_end(c);
	if (ret != STORE_OK) {
		free(v);
		return ret;
	}
	*r = v;
	*n_r = n;
	return STORE_OK;
}

/* --- message_read --- */

/* Open the content of message_id for reading on c, after checking that the
 * account has an entry for it: content is shared between accounts. */
static int sqlite_blob_open(struct sqlite_conn *c, int64_t account_id, int64_t message_id)
{
	/* The check and the blob share the streaming snapshot (one read
	 * transaction, one round of WAL locks), which lasts until sqlite_blob_drop(). */
	if (!c->snapshot) {
		if (sqlite_read_begin(c) != STORE_OK)
			return STORE_ERROR;
		c->snapshot = true;
		c->snapshot_ms = time_mono_ms();
	}
	int64_t one;
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT 1 FROM entries WHERE message_id = ? AND account_id = ? LIMIT 1");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, message_id);
	sqlite3_bind_int64(s, 2, account_id);
	int ret = sqlite_step_int64(c, s, &one);
	if (ret != STORE_OK)
		return ret;
	/* Message ids are never reused (AUTOINCREMENT), so if the content went
	 * away since the check, the open fails rather than finding another. */
	int rc = sqlite3_blob_open(c->db, "main", "messages", "content", message_id, 0, &c->blob);
	if (rc != SQLITE_OK) {
		ret = (rc & 0xff) == SQLITE_ERROR ? STORE_NOTFOUND : sqlite_fail(c, "blob_open");
		sqlite_blob_close(c);
		return ret;
	}
	c->blob_account = account_id;
	c->blob_message = message_id;
	return STORE_OK;
}

int sqlite_message_read(struct store *base, int64_t account_id, int64_t message_id, uint64_t offset, void *buf,
			size_t len, size_t *n_r)
{
	*n_r = 0;
	struct sqlite_conn *c = sqlite_reader_keep_blob(sqlite_store_of(base));
	if (c == NULL)
		return STORE_ERROR;
	if (c->snapshot && time_mono_ms() - c->snapshot_ms > SQLITE_BLOB_KEEP_MS)
		sqlite_blob_drop(c);
	else if (c->blob != NULL && (c->blob_message != message_id || c->blob_account != account_id))
		sqlite_blob_close(c);
	if (c->blob == NULL) {
		int rc = sqlite_blob_open(c, account_id, message_id);
		if (rc != STORE_OK) {
			if (rc != STORE_NOTFOUND)
				sqlite_blob_drop(c);
			return rc;
		}
	}
	int ret = STORE_OK;
	uint64_t size = (uint64_t)sqlite3_blob_bytes(c->blob);
	uint64_t want = offset >= size ? 0 : size - offset < len ? size - offset : len;
	size_t done = 0;
	while (done < want) {
		/* sqlite3_blob_read takes int sizes (content is below 2 GB). */
		size_t part = want - done > (1u << 30) ? (1u << 30) : want - done;
		if (sqlite3_blob_read(c->blob, (char *)buf + done, (int)part, (int)(offset + done)) != SQLITE_OK) {
			ret = sqlite_fail(c, "blob_read");
			break;
		}
		done += part;
	}
	*n_r = done;
	/* Done with this message: close it, keep the snapshot for the next one. */
	if (ret != STORE_OK)
		sqlite_blob_drop(c);
	else if (offset + done >= size)
		sqlite_blob_close(c);
	return ret;
}

/* --- expunge and move --- */

/* An entry taken out of a mailbox. */
struct sqlite_removed {
	uint32_t uid;
	int64_t message_id;
	uint64_t size;
	uint32_t flags;
	char *keywords;
	int64_t internal_date;
	bool ends_crlf;
};

struct sqlite_remove_ctx {
	int64_t account_id;
	int64_t from_mailbox_id;
	int64_t to_mailbox_id;
	uint32_t *uids; /* sorted, no duplicates */
	size_t n;
};

static void sqlite_removed_free(struct sqlite_removed *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].keywords);
	free(v);
}

/* Delete the ctx's UIDs from the source mailbox; the present ones are put in
 * *v_r (in UID order), tombstoned with a new modseq, and counted off. */
static int sqlite_remove_entries(struct sqlite_conn *w, struct sqlite_remove_ctx *ctx, struct sqlite_changes *ch,
				 struct sqlite_removed **v_r, size_t *n_r)
{
	*v_r = NULL;
	*n_r = 0;
	int64_t modseq_now;
	int rc = sqlite_mailbox_modseq(w, ctx->account_id, ctx->from_mailbox_id, &modseq_now);
	if (rc != STORE_OK)
		return rc;
	struct sqlite_removed *v = xcalloc(ctx->n ? ctx->n : 1, sizeof *v);
	uint32_t *uids = xcalloc(ctx->n ? ctx->n : 1, sizeof *uids);
	size_t n = 0;
	uint64_t bytes = 0;
	for (size_t i = 0; i < ctx->n; i++) {
		sqlite3_stmt *s = sqlite_stmt(w, "DELETE FROM entries WHERE account_id = ? AND mailbox_id = ? AND uid = ?"
						 " RETURNING message_id, size, flags, keywords, internal_date, ends_crlf");
		if (s == NULL) {
			rc = STORE_ERROR;
			break;
		}
		sqlite3_bind_int64(s, 1, ctx->account_id);
		sqlite3_bind_int64(s, 2, ctx->from_mailbox_id);
		sqlite3_bind_int64(s, 3, ctx->uids[i]);
		int step = sqlite3_step(s);
		if (step == SQLITE_ROW) {
			const unsigned char *kw = sqlite3_column_text(s, 3);
			v[n] = (struct sqlite_removed){
				.uid = ctx->uids[i],
				.message_id = sqlite3_column_int64(s, 0),
				.size = (uint64_t)sqlite3_column_int64(s, 1),
				.flags = (uint32_t)sqlite3_column_int64(s, 2),
				.keywords = xstrdup(kw ? (const char *)kw : ""),
				.internal_date = sqlite3_column_int64(s, 4),
				.ends_crlf = sqlite3_column_int(s, 5) != 0,
			};
			uids[n] = ctx->uids[i];
			bytes += v[n].size;
			n++;
		} else if (step != SQLITE_DONE) {
			rc = sqlite_fail(w, "delete entry");
		}
		sqlite3_reset(s);
		if (rc != STORE_OK)
			break;
	}
	if (rc == STORE_OK && n > 0) {
		uint64_t modseq;
		rc = sqlite_mailbox_remove(w, ctx->account_id, ctx->from_mailbox_id, uids, n, bytes, &modseq);
		if (rc == STORE_OK)
			sqlite_changes_add(ch, ctx->account_id, ctx->from_mailbox_id, modseq);
	}
	free(uids);
	if (rc != STORE_OK) {
		sqlite_removed_free(v, n);
		return rc;
	}
	*v_r = v;
	*n_r = n;
	return STORE_OK;
}

static int sqlite_expunge_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_remove_ctx *ctx = arg;
	struct sqlite_removed *v;
	size_t n;
	int rc = sqlite_remove_entries(w, ctx, ch, &v, &n);
	if (rc != STORE_OK)
		return rc;
	for (size_t i = 0; rc == STORE_OK && i < n; i++)
		rc = sqlite_message_release(w, v[i].message_id);
	sqlite_removed_free(v, n);
	return rc;
}

static int sqlite_move_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_remove_ctx *ctx = arg;
	int64_t modseq_now;
	int rc = sqlite_mailbox_modseq(w, ctx->account_id, ctx->to_mailbox_id, &modseq_now);
	if (rc != STORE_OK)
		return rc;
	struct sqlite_removed *v;
	size_t n;
	rc = sqlite_remove_entries(w, ctx, ch, &v, &n);
	if (rc != STORE_OK)
		return rc;
	if (n == 0) {
		sqlite_removed_free(v, n);
		return STORE_OK;
	}
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += v[i].size;
	uint32_t first;
	uint64_t modseq;
	rc = sqlite_mailbox_allocate(w, ctx->account_id, ctx->to_mailbox_id, n, bytes, &first, &modseq);
	for (size_t i = 0; rc == STORE_OK && i < n; i++) {
		sqlite3_stmt *s = sqlite_stmt(w, "INSERT INTO entries (account_id, mailbox_id, uid, message_id, size,"
						 " flags, keywords, modseq, internal_date, ends_crlf)"
						 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
		if (s == NULL) {
			rc = STORE_ERROR;
			break;
		}
		sqlite3_bind_int64(s, 1, ctx->account_id);
		sqlite3_bind_int64(s, 2, ctx->to_mailbox_id);
		sqlite3_bind_int64(s, 3, (int64_t)first + (int64_t)i);
		sqlite3_bind_int64(s, 4, v[i].message_id);
		sqlite3_bind_int64(s, 5, (int64_t)v[i].size);
		sqlite3_bind_int64(s, 6, v[i].flags);
		sqlite3_bind_text(s, 7, v[i].keywords, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 8, (int64_t)modseq);
		sqlite3_bind_int64(s, 9, v[i].internal_date);
		sqlite3_bind_int(s, 10, v[i].ends_crlf);
		rc = sqlite_step_done(w, s);
	}
	if (rc == STORE_OK)
		sqlite_changes_add(ch, ctx->account_id, ctx->to_mailbox_id, modseq);
	sqlite_removed_free(v, n);
	return rc;
}

static int sqlite_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Sorted, de-duplicated copy of a UID list; UID 0 is never valid. */
static uint32_t *sqlite_uids_sorted(const uint32_t *uids, size_t n, size_t *n_r)
{
	uint32_t *v = xmalloc((n ? n : 1) * sizeof *v);
	if (n > 0)
		memcpy(v, uids, n * sizeof *v);
	qsort(v, n, sizeof *v, sqlite_uid_cmp);
	size_t out = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] != 0 && (out == 0 || v[out - 1] != v[i]))
			v[out++] = v[i];
	*n_r = out;
	return v;
}

static int sqlite_remove(struct store *base, sqlite_job_fn *fn, int64_t account_id, int64_t from, int64_t to,
			 const uint32_t *uids, size_t n)
{
	if (uids == NULL && n > 0)
		return STORE_INVALID;
	struct sqlite_remove_ctx ctx = {.account_id = account_id, .from_mailbox_id = from, .to_mailbox_id = to};
	ctx.uids = sqlite_uids_sorted(uids, n, &ctx.n);
	int rc = sqlite_submit(sqlite_store_of(base), fn, &ctx);
	free(ctx.uids);
	return rc;
}

int sqlite_expunge(struct store *base, int64_t account_id, int64_t mailbox_id, const uint32_t *uids, size_t n)
{
	return sqlite_remove(base, sqlite_expunge_job, account_id, mailbox_id, 0, uids, n);
}

int sqlite_move(struct store *base, int64_t account_id, int64_t from_mailbox_id, int64_t to_mailbox_id,
		const uint32_t *uids, size_t n, struct store_uidmap *map_r)
{
	if (map_r != NULL)
		memset(map_r, 0, sizeof *map_r);
	return sqlite_remove(base, sqlite_move_job, account_id, from_mailbox_id, to_mailbox_id, uids, n);
}

int sqlite_copy(struct store *base, int64_t account_id, int64_t from_mailbox_id, int64_t to_mailbox_id,
		const uint32_t *uids, size_t n, struct store_uidmap *map_r)
{
	return store_set_error("copy: not yet");
}

int sqlite_flags_update(struct store *base, int64_t account_id, int64_t mailbox_id, const uint32_t *uids, size_t n,
			const struct store_flag_change *chg, struct store_flag_result *r)
{
	memset(r, 0, sizeof *r);
	return store_set_error("flags_update: not yet");
}

int sqlite_changes(struct store *base, int64_t account_id, int64_t mailbox_id, uint64_t since,
		   struct store_entry **r, size_t *n_r, uint32_t **vanished_r, size_t *n_vanished_r)
{
	*r = NULL;
	*n_r = 0;
	*vanished_r = NULL;
	*n_vanished_r = 0;
	return store_set_error("changes: not yet");
}

int sqlite_message_info(struct store *base, int64_t account_id, int64_t message_id, bool with_text,
			struct mime_info *r)
{
	memset(r, 0, sizeof *r);
	return store_set_error("message_info: not yet");
}

int sqlite_message_info_set(struct store *base, int64_t message_id, const struct mime_info *info)
{
	return store_set_error("message_info_set: not yet");
}
