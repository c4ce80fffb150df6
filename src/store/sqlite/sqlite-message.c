/* Messages in the embedded store: delivery (content stored once with what the
 * parser found, one entry per target, all or nothing), listing a mailbox's
 * entries, reading a byte range of content through SQLite's incremental blob
 * I/O so that a large message is never loaded whole, expunge and move, which
 * leave tombstones with a new modseq and free content once no entry refers to
 * it, and copy. Every write keeps the mailbox's counters (messages, bytes,
 * unseen, deleted) and HIGHESTMODSEQ in the same transaction, and gives the
 * entries it adds or removes a modseq above the mailbox's previous one. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

static uint32_t sqlite_unseen_of(uint32_t flags)
{
	return (flags & STORE_FLAG_SEEN) ? 0 : 1;
}

static uint32_t sqlite_deleted_of(uint32_t flags)
{
	return (flags & STORE_FLAG_DELETED) ? 1 : 0;
}

int sqlite_mailbox_modseq(struct sqlite_conn *c, int64_t account_id, int64_t mailbox_id, int64_t *modseq_r)
{
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT highestmodseq FROM mailboxes WHERE account_id = ? AND id = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_int64(s, 2, mailbox_id);
	return sqlite_step_int64(c, s, modseq_r);
}

/* Take n UIDs from a mailbox and bump its modseq and counters; *first_uid_r
 * is the first UID of the range, *modseq_r the new HIGHESTMODSEQ. */
static int sqlite_mailbox_allocate(struct sqlite_conn *w, int64_t account_id, int64_t mailbox_id, size_t n,
				   uint64_t bytes, uint32_t unseen, uint32_t deleted, uint32_t *first_uid_r,
				   uint64_t *modseq_r)
{
	sqlite3_stmt *s = sqlite_stmt(w, "UPDATE mailboxes SET uidnext = uidnext + ?3,"
					 " highestmodseq = highestmodseq + 1, messages = messages + ?3,"
					 " bytes = bytes + ?4, unseen = unseen + ?5, deleted = deleted + ?6"
					 " WHERE account_id = ?1 AND id = ?2"
					 " RETURNING uidnext - ?3, highestmodseq");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_int64(s, 2, mailbox_id);
	sqlite3_bind_int64(s, 3, (int64_t)n);
	sqlite3_bind_int64(s, 4, (int64_t)bytes);
	sqlite3_bind_int64(s, 5, unseen);
	sqlite3_bind_int64(s, 6, deleted);
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
 * bump its modseq, lower its counters, leave tombstones, and keep the
 * entries with their content for the sessions that still show them. */
static int sqlite_mailbox_remove(struct sqlite_conn *w, int64_t account_id, int64_t mailbox_id,
				 const struct store_entry *v, size_t n, struct sqlite_changes *ch, uint64_t *modseq_r)
{
	uint64_t bytes = 0;
	uint32_t unseen = 0, deleted = 0;
	for (size_t i = 0; i < n; i++) {
		bytes += v[i].size;
		unseen += sqlite_unseen_of(v[i].flags);
		deleted += sqlite_deleted_of(v[i].flags);
	}
	sqlite3_stmt *s = sqlite_stmt(w, "UPDATE mailboxes SET highestmodseq = highestmodseq + 1,"
					 " messages = messages - ?3, bytes = bytes - ?4,"
					 " unseen = unseen - ?5, deleted = deleted - ?6"
					 " WHERE account_id = ?1 AND id = ?2 RETURNING highestmodseq");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_int64(s, 2, mailbox_id);
	sqlite3_bind_int64(s, 3, (int64_t)n);
	sqlite3_bind_int64(s, 4, (int64_t)bytes);
	sqlite3_bind_int64(s, 5, unseen);
	sqlite3_bind_int64(s, 6, deleted);
	int64_t modseq;
	int rc = sqlite_step_int64(w, s, &modseq);
	if (rc != STORE_OK)
		return rc;
	*modseq_r = (uint64_t)modseq;
	/* Tombstones, a list of UIDs per statement. */
	int64_t *ids = xmalloc(SQLITE_UID_LIST_MAX * sizeof *ids);
	struct buf json = {0};
	for (size_t i = 0; rc == STORE_OK && i < n;) {
		size_t k = 0;
		for (; k < SQLITE_UID_LIST_MAX && i < n; k++, i++)
			ids[k] = v[i].uid;
		sqlite_json_ids(&json, ids, k);
		s = sqlite_stmt(w, "INSERT OR REPLACE INTO tombstones (account_id, mailbox_id, uid, modseq)"
				   " SELECT ?1, ?2, value, ?3 FROM json_each(?4)");
		if (s == NULL) {
			rc = STORE_ERROR;
			break;
		}
		sqlite3_bind_int64(s, 1, account_id);
		sqlite3_bind_int64(s, 2, mailbox_id);
		sqlite3_bind_int64(s, 3, modseq);
		sqlite3_bind_text(s, 4, buf_head(&json), -1, SQLITE_STATIC);
		rc = sqlite_step_done(w, s);
	}
	buf_free(&json);
	free(ids);
	if (rc == STORE_OK)
		rc = sqlite_kept_add(w, account_id, mailbox_id, modseq, v, n, ch);
	return rc;
}

/* --- parsed info --- */

static int sqlite_info_insert(struct sqlite_conn *w, int64_t message_id, const struct mime_info *info)
{
	sqlite3_stmt *s = sqlite_stmt(w, "INSERT OR REPLACE INTO message_info"
					 " (message_id, sent_date, body, bodystructure, sections)"
					 " VALUES (?, ?, ?, ?, ?)");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, message_id);
	sqlite3_bind_int64(s, 2, info->sent_date);
	sqlite3_bind_text(s, 3, info->body ? info->body : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, info->bodystructure ? info->bodystructure : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, info->sections ? info->sections : "", -1, SQLITE_STATIC);
	if (sqlite_step_done(w, s) != STORE_OK)
		return STORE_ERROR;
	s = sqlite_stmt(w, "INSERT OR REPLACE INTO message_envelope (message_id, envelope) VALUES (?, ?)");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, message_id);
	sqlite3_bind_text(s, 2, info->envelope ? info->envelope : "", -1, SQLITE_STATIC);
	if (sqlite_step_done(w, s) != STORE_OK)
		return STORE_ERROR;
	s = sqlite_stmt(w, "INSERT OR REPLACE INTO message_text (message_id, headers, body) VALUES (?, ?, ?)");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, message_id);
	sqlite3_bind_text(s, 2, info->search_headers ? info->search_headers : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, info->search_body ? info->search_body : "", -1, SQLITE_STATIC);
	return sqlite_step_done(w, s);
}

struct sqlite_info_set_ctx {
	int64_t message_id;
	const struct mime_info *info;
};

static int sqlite_info_set_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_info_set_ctx *ctx = arg;
	int64_t one;
	sqlite3_stmt *s = sqlite_stmt(w, "SELECT 1 FROM messages WHERE id = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, ctx->message_id);
	int rc = sqlite_step_int64(w, s, &one);
	if (rc != STORE_OK)
		return rc; /* expunged meanwhile: nothing to keep */
	return sqlite_info_insert(w, ctx->message_id, ctx->info);
}

int sqlite_message_info_set(struct store *base, int64_t message_id, const struct mime_info *info)
{
	if (info == NULL)
		return STORE_INVALID;
	struct sqlite_info_set_ctx ctx = {.message_id = message_id, .info = info};
	return sqlite_submit_lazy(sqlite_store_of(base), sqlite_info_set_job, &ctx);
}

static char *sqlite_column_dup(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	return xstrdup(t ? (const char *)t : "");
}

int sqlite_message_info(struct store *base, int64_t account_id, int64_t message_id, bool with_text,
			struct mime_info *r)
{
	memset(r, 0, sizeof *r);
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	if (c == NULL || sqlite_read_begin(c) != STORE_OK)
		return STORE_ERROR;
	/* Content is shared between accounts: only an account with an entry
	 * for the message may see it. */
	int64_t one;
	sqlite3_stmt *s = sqlite_stmt(c, SQLITE_ACCOUNT_HAS_MESSAGE);
	int ret = s ? STORE_OK : STORE_ERROR;
	if (ret == STORE_OK) {
		sqlite3_bind_int64(s, 1, message_id);
		sqlite3_bind_int64(s, 2, account_id);
		ret = sqlite_step_int64(c, s, &one);
	}
	bool have = false;
	if (ret == STORE_OK) {
		s = sqlite_stmt(c, "SELECT i.sent_date, v.envelope, i.body, i.bodystructure, i.sections FROM message_info i"
				   " JOIN message_envelope v ON v.message_id = i.message_id WHERE i.message_id = ?");
		ret = s ? STORE_OK : STORE_ERROR;
	}
	if (ret == STORE_OK) {
		sqlite3_bind_int64(s, 1, message_id);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			r->sent_date = sqlite3_column_int64(s, 0);
			r->envelope = sqlite_column_dup(s, 1);
			r->body = sqlite_column_dup(s, 2);
			r->bodystructure = sqlite_column_dup(s, 3);
			r->sections = sqlite_column_dup(s, 4);
			have = true;
		} else if (rc != SQLITE_DONE) {
			ret = sqlite_fail(c, "message_info");
		}
		sqlite3_reset(s);
	}
	if (ret == STORE_OK && have && with_text) {
		s = sqlite_stmt(c, "SELECT headers, body FROM message_text WHERE message_id = ?");
		ret = s ? STORE_OK : STORE_ERROR;
		if (ret == STORE_OK) {
			sqlite3_bind_int64(s, 1, message_id);
			int rc = sqlite3_step(s);
			if (rc == SQLITE_ROW) {
				r->search_headers = sqlite_column_dup(s, 0);
				r->search_body = sqlite_column_dup(s, 1);
			} else if (rc == SQLITE_DONE) {
				have = false; /* parse again, text included */
			} else {
				ret = sqlite_fail(c, "message_text");
			}
			sqlite3_reset(s);
		}
	}
	sqlite_read_end(c);
	/* No info kept (a message stored before the parser existed): envelope
	 * NULL tells store_message_info to parse it. */
	if (ret != STORE_OK || !have)
		mime_info_clear(r);
	return ret;
}

int sqlite_message_infos(struct store *base, int64_t account_id, int64_t mailbox_id, uint32_t uid_lo, uint32_t uid_hi,
			 size_t max, unsigned fields, struct store_info_row **r, size_t *n_r)
{
	*r = NULL;
	*n_r = 0;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	if (c == NULL || sqlite_read_begin(c) != STORE_OK)
		return STORE_ERROR;
	/* The entries are the account's own, so their content may be seen. For
	 * ENVELOPE alone the wider message_info is not read at all. */
	sqlite3_stmt *s = fields == 0
		? sqlite_stmt(c, "SELECT e.uid, e.message_id, v.message_id, 0, v.envelope, NULL, NULL, NULL FROM entries e"
				 " LEFT JOIN message_envelope v ON v.message_id = e.message_id"
				 " WHERE e.account_id = ? AND e.mailbox_id = ? AND e.uid BETWEEN ? AND ?"
				 " ORDER BY e.uid LIMIT ?")
		: sqlite_stmt(c, "SELECT e.uid, e.message_id, v.message_id, i.sent_date, v.envelope, i.body,"
				 " i.bodystructure, i.sections FROM entries e"
				 " LEFT JOIN message_envelope v ON v.message_id = e.message_id"
				 " LEFT JOIN message_info i ON i.message_id = e.message_id"
				 " WHERE e.account_id = ? AND e.mailbox_id = ? AND e.uid BETWEEN ? AND ?"
				 " ORDER BY e.uid LIMIT ?");
	int ret = s ? STORE_OK : STORE_ERROR;
	struct store_info_row *v = NULL;
	size_t n = 0;
	if (ret == STORE_OK) {
		v = xcalloc(max ? max : 1, sizeof *v);
		sqlite3_bind_int64(s, 1, account_id);
		sqlite3_bind_int64(s, 2, mailbox_id);
		sqlite3_bind_int64(s, 3, uid_lo);
		sqlite3_bind_int64(s, 4, uid_hi);
		sqlite3_bind_int64(s, 5, (int64_t)max);
		int rc = SQLITE_DONE;
		while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			struct store_info_row *row = &v[n++];
			row->uid = (uint32_t)sqlite3_column_int64(s, 0);
			row->message_id = sqlite3_column_int64(s, 1);
			if (sqlite3_column_type(s, 2) == SQLITE_NULL || sqlite3_column_type(s, 4) == SQLITE_NULL)
				continue; /* not parsed yet: info.envelope stays NULL */
			row->info.sent_date = sqlite3_column_int64(s, 3);
			row->info.envelope = sqlite_column_dup(s, 4);
			if (fields & STORE_INFO_BODY)
				row->info.body = sqlite_column_dup(s, 5);
			if (fields & STORE_INFO_BODYSTRUCTURE)
				row->info.bodystructure = sqlite_column_dup(s, 6);
			if (fields & STORE_INFO_SECTIONS)
				row->info.sections = sqlite_column_dup(s, 7);
		}
		if (n < max && rc != SQLITE_DONE)
			ret = sqlite_fail(c, "message_infos");
		sqlite3_reset(s);
	}
	sqlite_read_end(c);
	if (ret != STORE_OK) {
		store_info_rows_free(v, n);
		return ret;
	}
	*r = v;
	*n_r = n;
	return STORE_OK;
}

/* --- deliver --- */

struct sqlite_deliver_ctx {
	const char *data;
	size_t len;
	const struct mime_info *info;
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
	if (ctx->info != NULL && sqlite_info_insert(w, message_id, ctx->info) != STORE_OK)
		return STORE_ERROR;
	bool ends_crlf = ctx->len == 0 ||
			 (ctx->len >= 2 && ctx->data[ctx->len - 2] == '\r' && ctx->data[ctx->len - 1] == '\n');
	for (size_t i = 0; i < ctx->n_targets; i++) {
		struct store_target *t = &ctx->targets[i];
		uint32_t flags = t->flags & SQLITE_FLAGS_MASK;
		uint32_t uid;
		uint64_t modseq;
		int rc = sqlite_mailbox_allocate(w, t->account_id, t->mailbox_id, 1, ctx->len, sqlite_unseen_of(flags),
						 sqlite_deleted_of(flags), &uid, &modseq);
		if (rc != STORE_OK)
			return rc;
		uint64_t kwbits = 0;
		if (t->n_keywords > 0) {
			struct sqlite_keywords kw;
			rc = sqlite_keywords_load(w, t->account_id, t->mailbox_id, &kw);
			if (rc == STORE_OK)
				rc = sqlite_keyword_bits(w, t->account_id, t->mailbox_id, &kw, t->keywords,
							 t->n_keywords, &kwbits);
			sqlite_keywords_clear(&kw);
			if (rc != STORE_OK)
				return rc;
		}
		s = sqlite_stmt(w, "INSERT INTO entries (account_id, mailbox_id, uid, message_id, size, flags,"
				   " modseq, internal_date, ends_crlf, kwbits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, t->account_id);
		sqlite3_bind_int64(s, 2, t->mailbox_id);
		sqlite3_bind_int64(s, 3, uid);
		sqlite3_bind_int64(s, 4, message_id);
		sqlite3_bind_int64(s, 5, (int64_t)ctx->len);
		sqlite3_bind_int64(s, 6, flags);
		sqlite3_bind_int64(s, 7, (int64_t)modseq);
		sqlite3_bind_int64(s, 8, t->internal_date ? t->internal_date : ctx->now);
		sqlite3_bind_int(s, 9, ends_crlf);
		sqlite3_bind_int64(s, 10, (int64_t)kwbits);
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
	for (size_t i = 0; i < n_targets; i++)
		if (!store_keywords_valid(targets[i].keywords, targets[i].n_keywords))
			return STORE_INVALID;
	/* store_deliver has normalised the content to CRLF already. */
	struct sqlite_deliver_ctx ctx = {.data = data,
					 .len = len,
					 .info = info,
					 .targets = targets,
					 .n_targets = n_targets,
					 .now = time_now()};
	return sqlite_submit(sqlite_store_of(base), sqlite_deliver_job, &ctx);
}

/* --- entries --- */

/* The entries a query selects, in UID order; ?3 and ?4 are bound to a and b
 * (binding a parameter the query does not have is a no-op). */
static int entries_query(struct store *base, int64_t account_id, int64_t mailbox_id, const char *sql, int64_t a,
			 int64_t b, struct store_entry **r, size_t *n_r)
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
		s = sqlite_stmt(c, sql);
		if (s == NULL)
			ret = STORE_ERROR;
	}
	struct store_entry *v = NULL;
	size_t n = 0, cap = 0;
	if (ret == STORE_OK) {
		sqlite3_bind_int64(s, 1, account_id);
		sqlite3_bind_int64(s, 2, mailbox_id);
		sqlite3_bind_int64(s, 3, a);
		sqlite3_bind_int64(s, 4, b);
		ret = sqlite_entry_rows(c, s, "entries", &v, &n, &cap);
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

int sqlite_entries(struct store *base, int64_t account_id, int64_t mailbox_id, int64_t since, struct store_entry **r,
		   size_t *n_r)
{
	return entries_query(base, account_id, mailbox_id,
			     "SELECT " SQLITE_ENTRY_COLUMNS " FROM entries"
			     " WHERE account_id = ?1 AND mailbox_id = ?2 AND internal_date >= ?3 ORDER BY uid",
			     since ? since : INT64_MIN, 0, r, n_r);
}

int sqlite_entries_range(struct store *base, int64_t account_id, int64_t mailbox_id, uint32_t uid_lo, uint32_t uid_hi,
			 struct store_entry **r, size_t *n_r)
{
	return entries_query(base, account_id, mailbox_id,
			     "SELECT " SQLITE_ENTRY_COLUMNS " FROM entries"
			     " WHERE account_id = ?1 AND mailbox_id = ?2 AND uid BETWEEN ?3 AND ?4 ORDER BY uid",
			     uid_lo, uid_hi, r, n_r);
}

int sqlite_kept_entries(struct store *base, int64_t account_id, int64_t mailbox_id, uint32_t uid_lo, uint32_t uid_hi,
			struct store_entry **r, size_t *n_r)
{
	return entries_query(base, account_id, mailbox_id,
			     "SELECT " SQLITE_ENTRY_COLUMNS " FROM expunged"
			     " WHERE account_id = ?1 AND mailbox_id = ?2 AND uid BETWEEN ?3 AND ?4 ORDER BY uid",
			     uid_lo, uid_hi, r, n_r);
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
	sqlite3_stmt *s = sqlite_stmt(c, SQLITE_ACCOUNT_HAS_MESSAGE);
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

/* --- expunge, move and copy --- */

/* The ctx of expunge, move and copy. */
struct sqlite_remove_ctx {
	int64_t account_id;
	int64_t from_mailbox_id;
	int64_t to_mailbox_id;
	uint32_t *uids; /* sorted, no duplicates */
	size_t n;
	struct store_uidmap map; /* filled by move and copy */
};

static int sqlite_entry_uid_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct store_entry *)a)->uid, y = ((const struct store_entry *)b)->uid;
	return (x > y) - (x < y);
}

/* Delete the given UIDs (sorted) from a mailbox; the present ones are put in
 * *v_r (in UID order), tombstoned with a new modseq, and counted off. */
static int sqlite_remove_entries(struct sqlite_conn *w, int64_t account_id, int64_t mailbox_id, const uint32_t *uids,
				 size_t n_uids, struct sqlite_changes *ch, struct store_entry **v_r, size_t *n_r)
{
	*v_r = NULL;
	*n_r = 0;
	int64_t modseq_now;
	int rc = sqlite_mailbox_modseq(w, account_id, mailbox_id, &modseq_now);
	if (rc != STORE_OK)
		return rc;
	struct store_entry *v = xcalloc(n_uids ? n_uids : 1, sizeof *v);
	size_t n = 0;
	struct sqlite_uid_iter it;
	struct sqlite_uid_batch b;
	sqlite_uid_iter_init(&it, uids, n_uids);
	while (rc == STORE_OK && sqlite_uid_iter_next(&it, &b)) {
		sqlite3_stmt *s;
		if (b.json == NULL) {
			s = sqlite_stmt(w, "DELETE FROM entries WHERE account_id = ?1 AND mailbox_id = ?2"
					   " AND uid BETWEEN ?3 AND ?4 RETURNING " SQLITE_ENTRY_COLUMNS);
			if (s != NULL) {
				sqlite3_bind_int64(s, 3, b.lo);
				sqlite3_bind_int64(s, 4, b.hi);
			}
		} else {
			s = sqlite_stmt(w, "DELETE FROM entries WHERE account_id = ?1 AND mailbox_id = ?2"
					   " AND uid IN (SELECT value FROM json_each(?3)) RETURNING " SQLITE_ENTRY_COLUMNS);
			if (s != NULL)
				sqlite3_bind_text(s, 3, b.json, -1, SQLITE_STATIC);
		}
		if (s == NULL) {
			rc = STORE_ERROR;
			break;
		}
		sqlite3_bind_int64(s, 1, account_id);
		sqlite3_bind_int64(s, 2, mailbox_id);
		int step;
		while ((step = sqlite3_step(s)) == SQLITE_ROW && n < n_uids)
			sqlite_entry_row(s, &v[n++]);
		if (step != SQLITE_DONE)
			rc = step == SQLITE_ROW ? store_set_error("expunge: more rows than UIDs")
						: sqlite_fail(w, "delete entries");
		sqlite3_reset(s);
	}
	sqlite_uid_iter_free(&it);
	/* RETURNING promises no order. */
	qsort(v, n, sizeof *v, sqlite_entry_uid_cmp);
	if (rc == STORE_OK && n > 0) {
		uint64_t modseq;
		rc = sqlite_mailbox_remove(w, account_id, mailbox_id, v, n, ch, &modseq);
		if (rc == STORE_OK)
			sqlite_changes_add(ch, account_id, mailbox_id, modseq);
	}
	if (rc != STORE_OK) {
		free(v);
		return rc;
	}
	*v_r = v;
	*n_r = n;
	return STORE_OK;
}

/* Add entries (taken or copied from mailbox `from`, in source UID order) to
 * mailbox `to` with new UIDs, flags kept and keywords carried over by name
 * (added to the target's list as needed); map (may be NULL) gets where each
 * went. */
static int sqlite_entries_add(struct sqlite_conn *w, int64_t account_id, int64_t from, int64_t to,
			      struct store_entry *v, size_t n, struct store_uidmap *map, struct sqlite_changes *ch)
{
	uint64_t used = 0, bytes = 0;
	uint32_t unseen = 0, deleted = 0;
	for (size_t i = 0; i < n; i++) {
		used |= v[i].keywords;
		bytes += v[i].size;
		unseen += sqlite_unseen_of(v[i].flags);
		deleted += sqlite_deleted_of(v[i].flags);
	}
	int rc = STORE_OK;
	if (used != 0 && from != to) {
		uint64_t bitmap[STORE_MAX_KEYWORDS] = {0};
		struct sqlite_keywords src, dst;
		rc = sqlite_keywords_load(w, account_id, from, &src);
		if (rc != STORE_OK)
			return rc;
		rc = sqlite_keywords_load(w, account_id, to, &dst);
		for (size_t b = 0; rc == STORE_OK && b < STORE_MAX_KEYWORDS; b++)
			if ((used & (UINT64_C(1) << b)) && b < src.n)
				rc = sqlite_keyword_bit(w, account_id, to, &dst, src.names[b], true, &bitmap[b]);
		sqlite_keywords_clear(&src);
		sqlite_keywords_clear(&dst);
		if (rc != STORE_OK)
			return rc;
		for (size_t i = 0; i < n; i++) {
			uint64_t out = 0;
			for (size_t b = 0; b < STORE_MAX_KEYWORDS; b++)
				if (v[i].keywords & (UINT64_C(1) << b))
					out |= bitmap[b];
			v[i].keywords = out;
		}
	}
	uint32_t first;
	uint64_t modseq;
	rc = sqlite_mailbox_allocate(w, account_id, to, n, bytes, unseen, deleted, &first, &modseq);
	for (size_t i = 0; rc == STORE_OK && i < n; i++) {
		sqlite3_stmt *s = sqlite_stmt(w, "INSERT INTO entries (account_id, mailbox_id, uid, message_id, size,"
						 " flags, kwbits, modseq, internal_date, ends_crlf)"
						 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, account_id);
		sqlite3_bind_int64(s, 2, to);
		sqlite3_bind_int64(s, 3, (int64_t)first + (int64_t)i);
		sqlite3_bind_int64(s, 4, v[i].message_id);
		sqlite3_bind_int64(s, 5, (int64_t)v[i].size);
		sqlite3_bind_int64(s, 6, v[i].flags);
		sqlite3_bind_int64(s, 7, (int64_t)v[i].keywords);
		sqlite3_bind_int64(s, 8, (int64_t)modseq);
		sqlite3_bind_int64(s, 9, v[i].internal_date);
		sqlite3_bind_int(s, 10, v[i].ends_crlf);
		rc = sqlite_step_done(w, s);
	}
	if (rc != STORE_OK)
		return rc;
	if (map != NULL) {
		map->src = xrealloc(map->src, n * sizeof *map->src);
		map->dst = xrealloc(map->dst, n * sizeof *map->dst);
		for (size_t i = 0; i < n; i++) {
			map->src[i] = v[i].uid;
			map->dst[i] = first + (uint32_t)i;
		}
		map->n = n;
	}
	sqlite_changes_add(ch, account_id, to, modseq);
	return STORE_OK;
}

/* UIDVALIDITY of a mailbox of the account, or STORE_NOTFOUND. */
static int sqlite_mailbox_uidvalidity(struct sqlite_conn *w, int64_t account_id, int64_t mailbox_id, uint32_t *r)
{
	sqlite3_stmt *s = sqlite_stmt(w, "SELECT uidvalidity FROM mailboxes WHERE account_id = ? AND id = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_int64(s, 2, mailbox_id);
	int64_t v;
	int rc = sqlite_step_int64(w, s, &v);
	if (rc == STORE_OK)
		*r = (uint32_t)v;
	return rc;
}

int sqlite_move_entries(struct sqlite_conn *w, int64_t account_id, int64_t from, int64_t to, const uint32_t *uids,
			size_t n_uids, struct store_uidmap *map, struct sqlite_changes *ch)
{
	uint32_t uidvalidity;
	int rc = sqlite_mailbox_uidvalidity(w, account_id, to, &uidvalidity);
	if (rc != STORE_OK)
		return rc;
	if (map != NULL)
		map->uidvalidity = uidvalidity;
	struct store_entry *v;
	size_t n;
	rc = sqlite_remove_entries(w, account_id, from, uids, n_uids, ch, &v, &n);
	if (rc != STORE_OK)
		return rc;
	if (n > 0)
		rc = sqlite_entries_add(w, account_id, from, to, v, n, map, ch);
	free(v);
	return rc;
}

static int sqlite_expunge_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_remove_ctx *ctx = arg;
	struct store_entry *v;
	size_t n;
	int rc = sqlite_remove_entries(w, ctx->account_id, ctx->from_mailbox_id, ctx->uids, ctx->n, ch, &v, &n);
	if (rc == STORE_OK && n > 0) {
		/* Content no entry refers to goes now, unless kept for a
		 * session that still shows it (then it goes with that). */
		int64_t *ids = xmalloc(n * sizeof *ids);
		for (size_t i = 0; i < n; i++)
			ids[i] = v[i].message_id;
		rc = sqlite_messages_gc(w, ids, n);
		free(ids);
	}
	free(v);
	return rc;
}

static int sqlite_move_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_remove_ctx *ctx = arg;
	return sqlite_move_entries(w, ctx->account_id, ctx->from_mailbox_id, ctx->to_mailbox_id, ctx->uids, ctx->n,
				   &ctx->map, ch);
}

/* The present entries among sorted UIDs, read range by range. */
int sqlite_entries_by_uids(struct sqlite_conn *c, int64_t account_id, int64_t mailbox_id, const uint32_t *uids,
			   size_t n_uids, struct store_entry **v_r, size_t *n_r)
{
	*v_r = NULL;
	*n_r = 0;
	struct store_entry *v = NULL;
	size_t n = 0, cap = 0;
	struct sqlite_uid_iter it;
	struct sqlite_uid_batch b;
	int ret = STORE_OK;
	sqlite_uid_iter_init(&it, uids, n_uids);
	while (ret == STORE_OK && sqlite_uid_iter_next(&it, &b)) {
		sqlite3_stmt *s;
		if (b.json == NULL) {
			s = sqlite_stmt(c, "SELECT " SQLITE_ENTRY_COLUMNS " FROM entries WHERE account_id = ?1"
					   " AND mailbox_id = ?2 AND uid BETWEEN ?3 AND ?4 ORDER BY uid");
			if (s != NULL) {
				sqlite3_bind_int64(s, 3, b.lo);
				sqlite3_bind_int64(s, 4, b.hi);
			}
		} else {
			s = sqlite_stmt(c, "SELECT " SQLITE_ENTRY_COLUMNS " FROM entries WHERE account_id = ?1"
					   " AND mailbox_id = ?2 AND uid IN (SELECT value FROM json_each(?3)) ORDER BY uid");
			if (s != NULL)
				sqlite3_bind_text(s, 3, b.json, -1, SQLITE_STATIC);
		}
		if (s == NULL) {
			ret = STORE_ERROR;
			break;
		}
		sqlite3_bind_int64(s, 1, account_id);
		sqlite3_bind_int64(s, 2, mailbox_id);
		ret = sqlite_entry_rows(c, s, "entries by UID", &v, &n, &cap);
	}
	sqlite_uid_iter_free(&it);
	if (ret != STORE_OK) {
		free(v);
		return ret;
	}
	*v_r = v;
	*n_r = n;
	return STORE_OK;
}

static int sqlite_copy_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_remove_ctx *ctx = arg;
	int rc = sqlite_mailbox_uidvalidity(w, ctx->account_id, ctx->to_mailbox_id, &ctx->map.uidvalidity);
	if (rc != STORE_OK)
		return rc;
	uint32_t from_uidvalidity;
	rc = sqlite_mailbox_uidvalidity(w, ctx->account_id, ctx->from_mailbox_id, &from_uidvalidity);
	if (rc != STORE_OK)
		return rc;
	struct store_entry *v;
	size_t n;
	rc = sqlite_entries_by_uids(w, ctx->account_id, ctx->from_mailbox_id, ctx->uids, ctx->n, &v, &n);
	if (rc == STORE_OK && n > 0)
		rc = sqlite_entries_add(w, ctx->account_id, ctx->from_mailbox_id, ctx->to_mailbox_id, v, n, &ctx->map,
					ch);
	free(v);
	return rc;
}

static int sqlite_remove(struct store *base, sqlite_job_fn *fn, int64_t account_id, int64_t from, int64_t to,
			 const uint32_t *uids, size_t n, struct store_uidmap *map_r)
{
	if (map_r != NULL)
		memset(map_r, 0, sizeof *map_r);
	if (uids == NULL && n > 0)
		return STORE_INVALID;
	struct sqlite_remove_ctx ctx = {.account_id = account_id, .from_mailbox_id = from, .to_mailbox_id = to};
	ctx.uids = sqlite_uids_sorted(uids, n, &ctx.n);
	int rc = sqlite_submit(sqlite_store_of(base), fn, &ctx);
	free(ctx.uids);
	if (rc == STORE_OK && map_r != NULL)
		*map_r = ctx.map;
	else
		store_uidmap_clear(&ctx.map);
	return rc;
}

int sqlite_expunge(struct store *base, int64_t account_id, int64_t mailbox_id, const uint32_t *uids, size_t n)
{
	return sqlite_remove(base, sqlite_expunge_job, account_id, mailbox_id, 0, uids, n, NULL);
}

int sqlite_move(struct store *base, int64_t account_id, int64_t from_mailbox_id, int64_t to_mailbox_id,
		const uint32_t *uids, size_t n, struct store_uidmap *map_r)
{
	return sqlite_remove(base, sqlite_move_job, account_id, from_mailbox_id, to_mailbox_id, uids, n, map_r);
}

int sqlite_copy(struct store *base, int64_t account_id, int64_t from_mailbox_id, int64_t to_mailbox_id,
		const uint32_t *uids, size_t n, struct store_uidmap *map_r)
{
	return sqlite_remove(base, sqlite_copy_job, account_id, from_mailbox_id, to_mailbox_id, uids, n, map_r);
}
