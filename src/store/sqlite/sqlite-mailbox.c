/* Mailboxes of the embedded store: creation with a fresh UIDVALIDITY, lookup
 * and listing with their message counts, and deletion, which removes the
 * mailbox's entries and tombstones and frees content nothing else refers to.
 * Names are checked and INBOX is spelled canonically before any SQL runs. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

#define SQLITE_MAILBOX_COLUMNS \
	"id, account_id, name, uidvalidity, uidnext, highestmodseq, special_use, subscribed, messages, bytes"

static void sqlite_mailbox_row(sqlite3_stmt *s, struct store_mailbox *m)
{
	const unsigned char *t;
	memset(m, 0, sizeof *m);
	m->id = sqlite3_column_int64(s, 0);
	m->account_id = sqlite3_column_int64(s, 1);
	t = sqlite3_column_text(s, 2);
	m->name = xstrdup(t ? (const char *)t : "");
	m->uidvalidity = (uint32_t)sqlite3_column_int64(s, 3);
	m->uidnext = (uint32_t)sqlite3_column_int64(s, 4);
	m->highestmodseq = (uint64_t)sqlite3_column_int64(s, 5);
	t = sqlite3_column_text(s, 6);
	m->special_use = t ? xstrdup((const char *)t) : NULL;
	m->subscribed = sqlite3_column_int(s, 7) != 0;
	m->messages = (uint32_t)sqlite3_column_int64(s, 8);
	m->bytes = (uint64_t)sqlite3_column_int64(s, 9);
}

/* --- mailbox_create --- */

struct sqlite_mailbox_create_ctx {
	int64_t account_id;
	const char *name;
	const char *special_use;
	int64_t id;
};

static int sqlite_mailbox_create_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_mailbox_create_ctx *ctx = arg;
	int64_t one;
	sqlite3_stmt *s = sqlite_stmt(w, "SELECT 1 FROM accounts WHERE id = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, ctx->account_id);
	int rc = sqlite_step_int64(w, s, &one);
	if (rc != STORE_OK)
		return rc;
	s = sqlite_stmt(w, "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, ctx->account_id);
	sqlite3_bind_text(s, 2, ctx->name, -1, SQLITE_STATIC);
	rc = sqlite_step_int64(w, s, &one);
	if (rc != STORE_NOTFOUND)
		return rc == STORE_OK ? STORE_EXISTS : rc;
	return sqlite_mailbox_insert(w, ctx->account_id, ctx->name, ctx->special_use, &ctx->id);
}

int sqlite_mailbox_create(struct store *base, int64_t account_id, const char *name, const char *special_use, int64_t *id_r)
{
	if (special_use != NULL) {
		size_t len = strlen(special_use);
		if (len < 2 || len > SQLITE_SPECIAL_USE_MAX || special_use[0] != '\\' ||
		    !store_text_valid(special_use, len))
			return STORE_INVALID;
	}
	char *norm;
	int rc = store_mailbox_name_normalise(name, &norm);
	if (rc != STORE_OK)
		return rc;
	struct sqlite_mailbox_create_ctx ctx = {.account_id = account_id, .name = norm, .special_use = special_use};
	rc = sqlite_submit(sqlite_store_of(base), sqlite_mailbox_create_job, &ctx);
	free(norm);
	if (rc == STORE_OK && id_r != NULL)
		*id_r = ctx.id;
	return rc;
}

/* --- mailbox_delete --- */

struct sqlite_mailbox_delete_ctx {
	int64_t account_id;
	const char *name;
};

static int sqlite_mailbox_delete_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_mailbox_delete_ctx *ctx = arg;
	sqlite3_stmt *s = sqlite_stmt(w, "SELECT id, highestmodseq FROM mailboxes WHERE account_id = ? AND name = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, ctx->account_id);
	sqlite3_bind_text(s, 2, ctx->name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? STORE_NOTFOUND : sqlite_fail(w, "mailbox_delete");
	}
	int64_t id = sqlite3_column_int64(s, 0);
	uint64_t modseq = (uint64_t)sqlite3_column_int64(s, 1) + 1;
	sqlite3_reset(s);
	static const char *const deletes[] = {
		"DELETE FROM messages WHERE id IN"
		" (SELECT message_id FROM entries WHERE account_id = ?1 AND mailbox_id = ?2)"
		" AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.message_id = messages.id"
		" AND NOT (e.account_id = ?1 AND e.mailbox_id = ?2))",
		"DELETE FROM entries WHERE account_id = ?1 AND mailbox_id = ?2",
		"DELETE FROM tombstones WHERE account_id = ?1 AND mailbox_id = ?2",
		"DELETE FROM mailboxes WHERE account_id = ?1 AND id = ?2",
	};
	for (size_t i = 0; i < ARRAY_LEN(deletes); i++) {
		s = sqlite_stmt(w, deletes[i]);
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, ctx->account_id);
		sqlite3_bind_int64(s, 2, id);
		if (sqlite_step_done(w, s) != STORE_OK)
			return STORE_ERROR;
	}
	sqlite_changes_add(ch, ctx->account_id, id, modseq);
	return STORE_OK;
}

int sqlite_mailbox_delete(struct store *base, int64_t account_id, const char *name)
{
	char *norm;
	int rc = store_mailbox_name_normalise(name, &norm);
	if (rc != STORE_OK)
		return rc;
	if (strcmp(norm, "INBOX") == 0) {
		free(norm);
		return STORE_INVALID;
	}
	struct sqlite_mailbox_delete_ctx ctx = {.account_id = account_id, .name = norm};
	rc = sqlite_submit(sqlite_store_of(base), sqlite_mailbox_delete_job, &ctx);
	free(norm);
	return rc;
}

/* --- reads --- */

int sqlite_mailbox_find(struct store *base, int64_t account_id, const char *name, struct store_mailbox *r)
{
	memset(r, 0, sizeof *r);
	char *norm;
	int rc = store_mailbox_name_normalise(name, &norm);
	if (rc != STORE_OK)
		return rc;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	sqlite3_stmt *s = c ? sqlite_stmt(c, "SELECT " SQLITE_MAILBOX_COLUMNS " FROM mailboxes"
					     " WHERE account_id = ? AND name = ?")
			    : NULL;
	if (s == NULL) {
		free(norm);
		return STORE_ERROR;
	}
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_text(s, 2, norm, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	int ret;
	if (rc == SQLITE_ROW) {
		sqlite_mailbox_row(s, r);
		ret = STORE_OK;
	} else {
		ret = rc == SQLITE_DONE ? STORE_NOTFOUND : sqlite_fail(c, "mailbox_find");
	}
	sqlite3_reset(s);
	free(norm);
	return ret;
}

int sqlite_mailbox_list(struct store *base, int64_t account_id, struct store_mailbox **r, size_t *n_r)
{
	*r = NULL;
	*n_r = 0;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	sqlite3_stmt *s = c ? sqlite_stmt(c, "SELECT " SQLITE_MAILBOX_COLUMNS " FROM mailboxes"
					     " WHERE account_id = ? ORDER BY name")
			    : NULL;
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	struct store_mailbox *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof *v);
		}
		sqlite_mailbox_row(s, &v[n++]);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_mailboxes_free(v, n);
		return sqlite_fail(c, "mailbox_list");
	}
	*r = v;
	*n_r = n;
	return STORE_OK;
}

int sqlite_mailbox_get(struct store *base, int64_t account_id, int64_t mailbox_id, struct store_mailbox *r)
{
	memset(r, 0, sizeof *r);
	return store_set_error("mailbox_get: not yet");
}

int sqlite_mailbox_rename(struct store *base, int64_t account_id, const char *from, const char *to)
{
	return store_set_error("mailbox_rename: not yet");
}

int sqlite_subscribe(struct store *base, int64_t account_id, const char *name, bool on)
{
	return store_set_error("subscribe: not yet");
}

int sqlite_subscriptions(struct store *base, int64_t account_id, char ***names_r, size_t *n_r)
{
	*names_r = NULL;
	*n_r = 0;
	return store_set_error("subscriptions: not yet");
}
