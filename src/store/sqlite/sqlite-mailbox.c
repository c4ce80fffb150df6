/* Mailboxes of the embedded store: creation with a fresh UIDVALIDITY, lookup
 * by name or id with their counters and keyword lists, listing, renaming
 * (children follow; INBOX is special), deletion, which removes the mailbox's
 * entries and tombstones and frees content nothing else refers to, and the
 * subscription list, which is a list of names independent of the mailboxes.
 * Names are checked and INBOX is spelled canonically before any SQL runs. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

#define SQLITE_MAILBOX_COLUMNS                                                                              \
	"m.id, m.account_id, m.name, m.uidvalidity, m.uidnext, m.highestmodseq, m.special_use,"             \
	" EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = m.account_id AND s.name = m.name),"    \
	" m.messages, m.bytes, m.unseen, m.deleted"

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
	m->unseen = (uint32_t)sqlite3_column_int64(s, 10);
	m->deleted = (uint32_t)sqlite3_column_int64(s, 11);
}

/* Subscribe a name (no-op when it already is). */
static int sqlite_subscription_add(struct sqlite_conn *w, int64_t account_id, const char *name)
{
	sqlite3_stmt *s = sqlite_stmt(w, "INSERT OR IGNORE INTO subscriptions (account_id, name) VALUES (?, ?)");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	return sqlite_step_done(w, s);
}

/* --- mailbox_create --- */

struct sqlite_mailbox_create_ctx {
	int64_t account_id;
	const char *name;
	const char *special_use;
	int64_t id;
};

static int sqlite_mailbox_absent(struct sqlite_conn *w, int64_t account_id, const char *name)
{
	int64_t one;
	sqlite3_stmt *s = sqlite_stmt(w, "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	int rc = sqlite_step_int64(w, s, &one);
	if (rc != STORE_NOTFOUND)
		return rc == STORE_OK ? STORE_EXISTS : rc;
	return STORE_OK;
}

static int sqlite_mailbox_create_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_mailbox_create_ctx *ctx = arg;
	int rc = sqlite_account_exists(w, ctx->account_id);
	if (rc != STORE_OK)
		return rc;
	rc = sqlite_mailbox_absent(w, ctx->account_id, ctx->name);
	if (rc != STORE_OK)
		return rc;
	rc = sqlite_mailbox_insert(w, ctx->account_id, ctx->name, ctx->special_use, &ctx->id);
	if (rc != STORE_OK)
		return rc;
	return sqlite_subscription_add(w, ctx->account_id, ctx->name);
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
	/* Subscriptions stay: they are names, not mailboxes (RFC 9051 6.3.7). */
	static const char *const deletes[] = {
		"DELETE FROM messages WHERE id IN"
		" (SELECT message_id FROM entries WHERE account_id = ?1 AND mailbox_id = ?2"
		" UNION SELECT message_id FROM expunged WHERE account_id = ?1 AND mailbox_id = ?2)"
		" AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.message_id = messages.id"
		" AND NOT (e.account_id = ?1 AND e.mailbox_id = ?2))"
		" AND NOT EXISTS (SELECT 1 FROM expunged x WHERE x.message_id = messages.id"
		" AND NOT (x.account_id = ?1 AND x.mailbox_id = ?2))",
		"DELETE FROM entries WHERE account_id = ?1 AND mailbox_id = ?2",
		"DELETE FROM expunged WHERE account_id = ?1 AND mailbox_id = ?2",
		"DELETE FROM tombstones WHERE account_id = ?1 AND mailbox_id = ?2",
		"DELETE FROM mailbox_keywords WHERE account_id = ?1 AND mailbox_id = ?2",
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

/* --- mailbox_rename --- */

struct sqlite_rename_ctx {
	int64_t account_id;
	const char *from, *to;
};

/* RFC 9051 6.3.6: renaming INBOX moves its messages into a new mailbox and
 * leaves INBOX (and mailboxes below it) where they are. The new mailbox is a
 * new mailbox: a fresh UIDVALIDITY, UIDs from 1, and subscribed like any
 * created mailbox. */
static int sqlite_rename_inbox(struct sqlite_conn *w, struct sqlite_rename_ctx *ctx, struct sqlite_changes *ch)
{
	sqlite3_stmt *s = sqlite_stmt(w, "SELECT id FROM mailboxes WHERE account_id = ? AND name = 'INBOX'");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, ctx->account_id);
	int64_t inbox;
	int rc = sqlite_step_int64(w, s, &inbox);
	if (rc != STORE_OK)
		return rc;
	rc = sqlite_mailbox_absent(w, ctx->account_id, ctx->to);
	if (rc != STORE_OK)
		return rc;
	int64_t id;
	rc = sqlite_mailbox_insert(w, ctx->account_id, ctx->to, NULL, &id);
	if (rc != STORE_OK)
		return rc;
	rc = sqlite_subscription_add(w, ctx->account_id, ctx->to);
	if (rc != STORE_OK)
		return rc;
	s = sqlite_stmt(w, "SELECT uid FROM entries WHERE account_id = ? AND mailbox_id = ? ORDER BY uid");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, ctx->account_id);
	sqlite3_bind_int64(s, 2, inbox);
	uint32_t *uids = NULL;
	size_t n = 0, cap = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			uids = xrealloc(uids, cap * sizeof *uids);
		}
		uids[n++] = (uint32_t)sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(uids);
		return sqlite_fail(w, "list INBOX");
	}
	rc = n > 0 ? sqlite_move_entries(w, ctx->account_id, inbox, id, uids, n, NULL, ch) : STORE_OK;
	free(uids);
	return rc;
}

static int sqlite_rename_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_rename_ctx *ctx = arg;
	if (strcmp(ctx->from, "INBOX") == 0)
		return sqlite_rename_inbox(w, ctx, ch);

	/* The mailbox and everything below it. */
	size_t from_len = strlen(ctx->from);
	sqlite3_stmt *s = sqlite_stmt(w, "SELECT id, name FROM mailboxes WHERE account_id = ?1"
					 " AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, ctx->account_id);
	sqlite3_bind_text(s, 2, ctx->from, -1, SQLITE_STATIC);
	int64_t *ids = NULL;
	char **names = NULL;
	size_t n = 0, cap = 0;
	bool found = false;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 1);
		if (name == NULL || strncmp(name, ctx->from, from_len) != 0)
			continue; /* length() counts characters; be sure about bytes */
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			ids = xrealloc(ids, cap * sizeof *ids);
			names = xrealloc(names, cap * sizeof *names);
		}
		ids[n] = sqlite3_column_int64(s, 0);
		names[n] = xasprintf("%s%s", ctx->to, name + from_len);
		found |= name[from_len] == '\0';
		n++;
	}
	sqlite3_reset(s);
	int ret = STORE_OK;
	if (rc != SQLITE_DONE)
		ret = sqlite_fail(w, "rename: list");
	else if (!found)
		ret = STORE_NOTFOUND;
	/* Every new name must be free; the renamed mailboxes' own old names do
	 * not count ("a/b" -> "a" takes "a/b/b" to "a/b"). */
	for (size_t i = 0; ret == STORE_OK && i < n; i++) {
		if (strlen(names[i]) > STORE_MAILBOX_NAME_MAX) {
			ret = STORE_INVALID;
			break;
		}
		s = sqlite_stmt(w, "SELECT id FROM mailboxes WHERE account_id = ? AND name = ?");
		if (s == NULL) {
			ret = STORE_ERROR;
			break;
		}
		sqlite3_bind_int64(s, 1, ctx->account_id);
		sqlite3_bind_text(s, 2, names[i], -1, SQLITE_STATIC);
		int64_t other;
		rc = sqlite_step_int64(w, s, &other);
		if (rc == STORE_OK) {
			bool ours = false;
			for (size_t j = 0; j < n && !ours; j++)
				ours = ids[j] == other;
			if (!ours)
				ret = STORE_EXISTS;
		} else if (rc != STORE_NOTFOUND) {
			ret = rc;
		}
	}
	/* Two passes through names no client can give (they hold a control
	 * character), so that no step collides with a name about to move away. */
	for (int pass = 0; ret == STORE_OK && pass < 2; pass++)
		for (size_t i = 0; ret == STORE_OK && i < n; i++) {
			s = sqlite_stmt(w, "UPDATE mailboxes SET name = ? WHERE account_id = ? AND id = ?");
			if (s == NULL) {
				ret = STORE_ERROR;
				break;
			}
			char *tmp = pass == 0 ? xasprintf("\001rename\001%lld", (long long)ids[i]) : NULL;
			sqlite3_bind_text(s, 1, pass == 0 ? tmp : names[i], -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(s, 2, ctx->account_id);
			sqlite3_bind_int64(s, 3, ids[i]);
			ret = sqlite_step_done(w, s);
			free(tmp);
		}
	store_strings_free(names, n);
	free(ids);
	return ret;
}

int sqlite_mailbox_rename(struct store *base, int64_t account_id, const char *from, const char *to)
{
	char *f, *t;
	int rc = store_mailbox_name_normalise(from, &f);
	if (rc != STORE_OK)
		return rc;
	rc = store_mailbox_name_normalise(to, &t);
	if (rc != STORE_OK) {
		free(f);
		return rc;
	}
	size_t flen = strlen(f);
	/* Into itself or below itself; INBOX's children are not moved with it. */
	if (strcmp(f, t) == 0 || (strcmp(f, "INBOX") != 0 && strncmp(t, f, flen) == 0 && t[flen] == '/')) {
		free(f);
		free(t);
		return STORE_INVALID;
	}
	struct sqlite_rename_ctx ctx = {.account_id = account_id, .from = f, .to = t};
	rc = sqlite_submit(sqlite_store_of(base), sqlite_rename_job, &ctx);
	free(f);
	free(t);
	return rc;
}

/* --- subscriptions --- */

struct sqlite_subscribe_ctx {
	int64_t account_id;
	const char *name;
	bool on;
};

static int sqlite_subscribe_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_subscribe_ctx *ctx = arg;
	int rc = sqlite_account_exists(w, ctx->account_id);
	if (rc != STORE_OK)
		return rc;
	if (ctx->on)
		return sqlite_subscription_add(w, ctx->account_id, ctx->name);
	sqlite3_stmt *s = sqlite_stmt(w, "DELETE FROM subscriptions WHERE account_id = ? AND name = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, ctx->account_id);
	sqlite3_bind_text(s, 2, ctx->name, -1, SQLITE_STATIC);
	if (sqlite_step_done(w, s) != STORE_OK)
		return STORE_ERROR;
	return sqlite3_changes(w->db) > 0 ? STORE_OK : STORE_NOTFOUND;
}

int sqlite_subscribe(struct store *base, int64_t account_id, const char *name, bool on)
{
	char *norm;
	int rc = store_mailbox_name_normalise(name, &norm);
	if (rc != STORE_OK)
		return rc;
	struct sqlite_subscribe_ctx ctx = {.account_id = account_id, .name = norm, .on = on};
	rc = sqlite_submit(sqlite_store_of(base), sqlite_subscribe_job, &ctx);
	free(norm);
	return rc;
}

int sqlite_subscriptions(struct store *base, int64_t account_id, char ***names_r, size_t *n_r)
{
	*names_r = NULL;
	*n_r = 0;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	sqlite3_stmt *s = c ? sqlite_stmt(c, "SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name") : NULL;
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof *v);
		}
		const unsigned char *t = sqlite3_column_text(s, 0);
		v[n++] = xstrdup(t ? (const char *)t : "");
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_strings_free(v, n);
		return sqlite_fail(c, "subscriptions");
	}
	*names_r = v;
	*n_r = n;
	return STORE_OK;
}

/* --- reads --- */

/* One mailbox row (by the bound statement) and its keyword list, read in one
 * snapshot. */
static int sqlite_mailbox_read_one(struct sqlite_conn *c, sqlite3_stmt *s, struct store_mailbox *r)
{
	if (sqlite_read_begin(c) != STORE_OK) {
		sqlite3_reset(s);
		return STORE_ERROR;
	}
	int rc = sqlite3_step(s), ret;
	if (rc == SQLITE_ROW) {
		sqlite_mailbox_row(s, r);
		ret = STORE_OK;
	} else {
		ret = rc == SQLITE_DONE ? STORE_NOTFOUND : sqlite_fail(c, "mailbox");
	}
	sqlite3_reset(s);
	if (ret == STORE_OK) {
		struct sqlite_keywords kw;
		ret = sqlite_keywords_load(c, r->account_id, r->id, &kw);
		if (ret == STORE_OK) {
			sqlite_keywords_export(&kw, &r->keywords, &r->n_keywords);
			sqlite_keywords_clear(&kw);
		} else {
			store_mailbox_clear(r);
		}
	}
	sqlite_read_end(c);
	return ret;
}

int sqlite_mailbox_find(struct store *base, int64_t account_id, const char *name, struct store_mailbox *r)
{
	memset(r, 0, sizeof *r);
	char *norm;
	int rc = store_mailbox_name_normalise(name, &norm);
	if (rc != STORE_OK)
		return rc;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	sqlite3_stmt *s = c ? sqlite_stmt(c, "SELECT " SQLITE_MAILBOX_COLUMNS " FROM mailboxes m"
					     " WHERE m.account_id = ? AND m.name = ?")
			    : NULL;
	if (s == NULL) {
		free(norm);
		return STORE_ERROR;
	}
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_text(s, 2, norm, -1, SQLITE_STATIC);
	rc = sqlite_mailbox_read_one(c, s, r);
	free(norm);
	return rc;
}

int sqlite_mailbox_get(struct store *base, int64_t account_id, int64_t mailbox_id, struct store_mailbox *r)
{
	memset(r, 0, sizeof *r);
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	sqlite3_stmt *s = c ? sqlite_stmt(c, "SELECT " SQLITE_MAILBOX_COLUMNS " FROM mailboxes m"
					     " WHERE m.account_id = ? AND m.id = ?")
			    : NULL;
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_int64(s, 2, mailbox_id);
	return sqlite_mailbox_read_one(c, s, r);
}

int sqlite_mailbox_modseq_get(struct store *base, int64_t account_id, int64_t mailbox_id, uint64_t *modseq_r)
{
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	int64_t modseq = 0;
	int rc = c ? sqlite_mailbox_modseq(c, account_id, mailbox_id, &modseq) : STORE_ERROR;
	*modseq_r = (uint64_t)modseq;
	return rc;
}

int sqlite_mailbox_list(struct store *base, int64_t account_id, struct store_mailbox **r, size_t *n_r)
{
	*r = NULL;
	*n_r = 0;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	sqlite3_stmt *s = c ? sqlite_stmt(c, "SELECT " SQLITE_MAILBOX_COLUMNS " FROM mailboxes m"
					     " WHERE m.account_id = ? ORDER BY m.name")
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
