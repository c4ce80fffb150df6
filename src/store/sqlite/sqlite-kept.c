/* Expunged entries kept for the sessions that have not been told yet. An
 * expunge (or move) copies each removed entry into `expunged` with the
 * expunge's modseq; its content stays while a row refers to it, so a
 * session still showing the message reads it as before (store_pin). The
 * writer remembers which mailboxes have kept rows and the lowest modseq in
 * each; before a batch, or after a short wait when no batch comes, it
 * compares them with the pins and deletes the rows every pin has passed,
 * with the content nothing else refers to, inside a batch's transaction, so
 * freeing costs no commit of its own when mail is flowing. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

int sqlite_kept_add(struct sqlite_conn *w, int64_t account_id, int64_t mailbox_id, uint64_t modseq,
		    const struct store_entry *v, size_t n, struct sqlite_changes *ch)
{
	if (w->store == NULL || n == 0)
		return STORE_OK;
	uint32_t *uids = xmalloc(n * sizeof *uids);
	for (size_t i = 0; i < n; i++)
		uids[i] = v[i].uid;
	uint64_t horizon = store_pins_horizon(w->store, account_id, mailbox_id, uids, n);
	free(uids);
	if (horizon >= modseq)
		return STORE_OK; /* no other session shows the mailbox from before this expunge */
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *s = sqlite_stmt(w, "INSERT OR REPLACE INTO expunged (account_id, mailbox_id, uid, modseq,"
						 " message_id, size, flags, kwbits, internal_date, ends_crlf)"
						 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, account_id);
		sqlite3_bind_int64(s, 2, mailbox_id);
		sqlite3_bind_int64(s, 3, v[i].uid);
		sqlite3_bind_int64(s, 4, (int64_t)modseq);
		sqlite3_bind_int64(s, 5, v[i].message_id);
		sqlite3_bind_int64(s, 6, (int64_t)v[i].size);
		sqlite3_bind_int64(s, 7, v[i].flags);
		sqlite3_bind_int64(s, 8, (int64_t)v[i].keywords);
		sqlite3_bind_int64(s, 9, v[i].internal_date);
		sqlite3_bind_int(s, 10, v[i].ends_crlf);
		if (sqlite_step_done(w, s) != STORE_OK)
			return STORE_ERROR;
	}
	sqlite_changes_kept(ch, account_id, mailbox_id, modseq);
	return STORE_OK;
}

static void kept_note(struct sqlite_store *st, int64_t account_id, int64_t mailbox_id, uint64_t lowest)
{
	for (size_t i = 0; i < st->n_kept; i++) {
		struct sqlite_kept_mailbox *k = &st->kept[i];
		if (k->account_id == account_id && k->mailbox_id == mailbox_id) {
			if (lowest < k->lowest)
				k->lowest = lowest;
			return;
		}
	}
	if (st->n_kept == st->cap_kept) {
		st->cap_kept = st->cap_kept ? st->cap_kept * 2 : 16;
		st->kept = xrealloc(st->kept, st->cap_kept * sizeof *st->kept);
	}
	st->kept[st->n_kept++] = (struct sqlite_kept_mailbox){account_id, mailbox_id, lowest};
}

void sqlite_kept_track(struct sqlite_store *st, const struct sqlite_changes *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		if (ch->v[i].kept != 0)
			kept_note(st, ch->v[i].account_id, ch->v[i].mailbox_id, ch->v[i].kept);
}

bool sqlite_kept_due(struct sqlite_store *st)
{
	for (size_t i = 0; i < st->n_kept; i++) {
		const struct sqlite_kept_mailbox *k = &st->kept[i];
		if (store_pins_horizon(&st->base, k->account_id, k->mailbox_id, NULL, 0) >= k->lowest)
			return true;
	}
	return false;
}

int sqlite_messages_gc(struct sqlite_conn *w, const int64_t *ids, size_t n)
{
	struct buf json = {0};
	int rc = STORE_OK;
	for (size_t i = 0; rc == STORE_OK && i < n; i += SQLITE_UID_LIST_MAX) {
		size_t k = n - i < SQLITE_UID_LIST_MAX ? n - i : SQLITE_UID_LIST_MAX;
		sqlite_json_ids(&json, ids + i, k);
		sqlite3_stmt *s = sqlite_stmt(w, "DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?1))"
						 " AND NOT EXISTS (SELECT 1 FROM entries WHERE message_id = messages.id)"
						 " AND NOT EXISTS (SELECT 1 FROM expunged WHERE message_id = messages.id)");
		if (s == NULL) {
			rc = STORE_ERROR;
			break;
		}
		sqlite3_bind_text(s, 1, buf_head(&json), -1, SQLITE_STATIC);
		rc = sqlite_step_done(w, s);
	}
	buf_free(&json);
	return rc;
}

/* Delete one mailbox's kept rows up to horizon and the content they held;
 * *lowest_r becomes the lowest modseq still kept (0: none left). */
static int kept_release_one(struct sqlite_conn *w, const struct sqlite_kept_mailbox *k, uint64_t horizon,
			    uint64_t *lowest_r)
{
	sqlite3_stmt *s = sqlite_stmt(w, "DELETE FROM expunged WHERE account_id = ?1 AND mailbox_id = ?2"
					 " AND modseq <= ?3 RETURNING message_id");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, k->account_id);
	sqlite3_bind_int64(s, 2, k->mailbox_id);
	sqlite3_bind_int64(s, 3, horizon > INT64_MAX ? INT64_MAX : (int64_t)horizon);
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int step;
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			ids = xrealloc(ids, cap * sizeof *ids);
		}
		ids[n++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	int rc = step == SQLITE_DONE ? STORE_OK : sqlite_fail(w, "release kept entries");
	if (rc == STORE_OK)
		rc = sqlite_messages_gc(w, ids, n);
	free(ids);
	if (rc != STORE_OK)
		return rc;
	s = sqlite_stmt(w, "SELECT min(modseq) FROM expunged WHERE account_id = ?1 AND mailbox_id = ?2");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, k->account_id);
	sqlite3_bind_int64(s, 2, k->mailbox_id);
	int64_t lowest = 0;
	rc = sqlite_step_int64(w, s, &lowest); /* NULL reads as 0: none left */
	*lowest_r = (uint64_t)lowest;
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int sqlite_kept_release(struct sqlite_store *st, struct sqlite_conn *w)
{
	/* The list changes only once every release succeeded: on failure the
	 * transaction is rolled back and every row is still there. */
	uint64_t *lowest = xmalloc((st->n_kept ? st->n_kept : 1) * sizeof *lowest);
	int rc = STORE_OK;
	for (size_t i = 0; rc == STORE_OK && i < st->n_kept; i++) {
		const struct sqlite_kept_mailbox *k = &st->kept[i];
		uint64_t horizon = store_pins_horizon(&st->base, k->account_id, k->mailbox_id, NULL, 0);
		lowest[i] = k->lowest;
		if (horizon >= k->lowest)
			rc = kept_release_one(w, k, horizon, &lowest[i]);
	}
	if (rc == STORE_OK) {
		size_t keep = 0;
		for (size_t i = 0; i < st->n_kept; i++) {
			if (lowest[i] == 0)
				continue;
			st->kept[keep] = st->kept[i];
			st->kept[keep++].lowest = lowest[i];
		}
		st->n_kept = keep;
	}
	free(lowest);
	return rc;
}

static int kept_adopt_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	sqlite3_stmt *s = sqlite_stmt(w, "SELECT account_id, mailbox_id, min(modseq) FROM expunged"
					 " GROUP BY account_id, mailbox_id");
	if (s == NULL)
		return STORE_ERROR;
	int step;
	while ((step = sqlite3_step(s)) == SQLITE_ROW)
		kept_note(st, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
			  (uint64_t)sqlite3_column_int64(s, 2));
	sqlite3_reset(s);
	return step == SQLITE_DONE ? STORE_OK : sqlite_fail(w, "list kept entries");
}

int sqlite_kept_adopt(struct sqlite_store *st)
{
	return sqlite_submit(st, kept_adopt_job, NULL);
}
