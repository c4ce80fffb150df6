/* Accounts and their settings in the embedded store. Login names are unique
 * without regard to ASCII case; creating an account also creates INBOX and the
 * special-use folders (subscribed) in the same transaction, and deleting one
 * removes all of its mail, freeing content no other account shares. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

/* The folders every new account starts with. */
static const struct {
	const char *name;
	const char *special_use;
} sqlite_default_mailboxes[] = {
	{"INBOX", NULL},           {"Drafts", "\\Drafts"}, {"Sent", "\\Sent"},
	{"Trash", "\\Trash"},      {"Junk", "\\Junk"},     {"Archive", "\\Archive"},
};

static bool sqlite_account_name_valid(const char *name)
{
	if (name == NULL)
		return false;
	size_t len = strlen(name);
	return len > 0 && len <= SQLITE_ACCOUNT_NAME_MAX && store_text_valid(name, len) &&
	       strchr(name, ' ') == NULL;
}

static char *sqlite_column_strdup(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	return t ? xstrdup((const char *)t) : NULL;
}

int sqlite_mailbox_insert(struct sqlite_conn *w, int64_t account_id, const char *name, const char *special_use, int64_t *id_r)
{
	int64_t id, uidvalidity;
	sqlite3_stmt *s = sqlite_stmt(w, "UPDATE store_meta SET value = value + 1 WHERE key = 'last_mailbox_id' RETURNING value");
	int rc = s ? sqlite_step_int64(w, s, &id) : STORE_ERROR;
	if (rc != STORE_OK)
		return rc == STORE_NOTFOUND ? store_set_error("store_meta has no last_mailbox_id") : STORE_ERROR;
	/* UIDVALIDITY: the time of creation, or one more than the last value
	 * handed out when that is later, so it never repeats (and is never 0). */
	s = sqlite_stmt(w, "UPDATE store_meta SET value = CASE WHEN value >= 4294967295 THEN 1"
			   " WHEN ?1 > value THEN ?1 ELSE value + 1 END"
			   " WHERE key = 'last_uidvalidity' RETURNING value");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, (int64_t)(uint32_t)time_now());
	rc = sqlite_step_int64(w, s, &uidvalidity);
	if (rc != STORE_OK)
		return rc == STORE_NOTFOUND ? store_set_error("store_meta has no last_uidvalidity") : STORE_ERROR;
	s = sqlite_stmt(w, "INSERT INTO mailboxes (account_id, id, name, uidvalidity, special_use)"
			   " VALUES (?, ?, ?, ?, ?)");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_int64(s, 2, id);
	sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, uidvalidity);
	if (special_use != NULL)
		sqlite3_bind_text(s, 5, special_use, -1, SQLITE_STATIC);
	if (sqlite_step_done(w, s) != STORE_OK)
		return STORE_ERROR;
	if (id_r != NULL)
		*id_r = id;
	return STORE_OK;
}

static int sqlite_account_id(struct sqlite_conn *c, const char *name, int64_t *id_r)
{
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT id FROM accounts WHERE name = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	return sqlite_step_int64(c, s, id_r);
}

/* --- account_create --- */

struct sqlite_account_create_ctx {
	const char *name;
	const char *pwhash;
	int64_t id;
};

static int sqlite_account_create_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_account_create_ctx *ctx = arg;
	int64_t id;
	int rc = sqlite_account_id(w, ctx->name, &id);
	if (rc != STORE_NOTFOUND)
		return rc == STORE_OK ? STORE_EXISTS : rc;
	sqlite3_stmt *s = sqlite_stmt(w, "INSERT INTO accounts (name, pwhash, created) VALUES (?, ?, ?)");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, ctx->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, ctx->pwhash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, time_now());
	if (sqlite_step_done(w, s) != STORE_OK)
		return STORE_ERROR;
	ctx->id = sqlite3_last_insert_rowid(w->db);
	for (size_t i = 0; i < ARRAY_LEN(sqlite_default_mailboxes); i++) {
		if (sqlite_mailbox_insert(w, ctx->id, sqlite_default_mailboxes[i].name,
					  sqlite_default_mailboxes[i].special_use, NULL) != STORE_OK)
			return STORE_ERROR;
		s = sqlite_stmt(w, "INSERT OR IGNORE INTO subscriptions (account_id, name) VALUES (?, ?)");
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, ctx->id);
		sqlite3_bind_text(s, 2, sqlite_default_mailboxes[i].name, -1, SQLITE_STATIC);
		if (sqlite_step_done(w, s) != STORE_OK)
			return STORE_ERROR;
	}
	return STORE_OK;
}

int sqlite_account_create(struct store *base, const char *name, const char *pwhash, int64_t *id_r)
{
	if (!sqlite_account_name_valid(name) || pwhash == NULL)
		return STORE_INVALID;
	struct sqlite_account_create_ctx ctx = {.name = name, .pwhash = pwhash};
	int rc = sqlite_submit(sqlite_store_of(base), sqlite_account_create_job, &ctx);
	if (rc == STORE_OK && id_r != NULL)
		*id_r = ctx.id;
	return rc;
}

/* --- account_delete --- */

static int sqlite_account_delete_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	const char *name = arg;
	int64_t id;
	int rc = sqlite_account_id(w, name, &id);
	if (rc != STORE_OK)
		return rc;
	/* Sessions that have one of these mailboxes open learn it changed. */
	sqlite3_stmt *s = sqlite_stmt(w, "SELECT id, highestmodseq FROM mailboxes WHERE account_id = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		sqlite_changes_add(ch, id, sqlite3_column_int64(s, 0), (uint64_t)sqlite3_column_int64(s, 1) + 1);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sqlite_fail(w, "list mailboxes");
	static const char *const deletes[] = {
		"DELETE FROM messages WHERE id IN (SELECT message_id FROM entries WHERE account_id = ?1"
		" UNION SELECT message_id FROM expunged WHERE account_id = ?1)"
		" AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.message_id = messages.id AND e.account_id <> ?1)"
		" AND NOT EXISTS (SELECT 1 FROM expunged x WHERE x.message_id = messages.id AND x.account_id <> ?1)",
		"DELETE FROM entries WHERE account_id = ?1",
		"DELETE FROM expunged WHERE account_id = ?1",
		"DELETE FROM tombstones WHERE account_id = ?1",
		"DELETE FROM mailboxes WHERE account_id = ?1",
		"DELETE FROM mailbox_keywords WHERE account_id = ?1",
		"DELETE FROM subscriptions WHERE account_id = ?1",
		"DELETE FROM account_settings WHERE account_id = ?1",
		"DELETE FROM accounts WHERE id = ?1",
	};
	for (size_t i = 0; i < ARRAY_LEN(deletes); i++) {
		s = sqlite_stmt(w, deletes[i]);
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, id);
		if (sqlite_step_done(w, s) != STORE_OK)
			return STORE_ERROR;
	}
	return STORE_OK;
}

int sqlite_account_delete(struct store *base, const char *name)
{
	if (name == NULL || *name == '\0')
		return STORE_INVALID;
	return sqlite_submit(sqlite_store_of(base), sqlite_account_delete_job, (void *)name);
}

/* --- reads --- */

int sqlite_account_find(struct store *base, const char *name, struct store_account *r)
{
	memset(r, 0, sizeof *r);
	if (name == NULL || *name == '\0')
		return STORE_NOTFOUND;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	if (c == NULL)
		return STORE_ERROR;
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT id, name, pwhash, apop_secret, created, pop3_first_login,"
					 " pop3_first_uid FROM accounts WHERE name = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s), ret;
	if (rc == SQLITE_ROW) {
		r->id = sqlite3_column_int64(s, 0);
		r->name = sqlite_column_strdup(s, 1);
		r->pwhash = sqlite_column_strdup(s, 2);
		r->apop_secret = sqlite_column_strdup(s, 3);
		r->created = sqlite3_column_int64(s, 4);
		r->pop3_first_login = sqlite3_column_int64(s, 5);
		r->pop3_first_uid = (uint32_t)sqlite3_column_int64(s, 6);
		ret = STORE_OK;
	} else {
		ret = rc == SQLITE_DONE ? STORE_NOTFOUND : sqlite_fail(c, "account_find");
	}
	sqlite3_reset(s);
	return ret;
}

int sqlite_account_list(struct store *base, char ***names_r, size_t *n_r)
{
	*names_r = NULL;
	*n_r = 0;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	if (c == NULL)
		return STORE_ERROR;
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT name FROM accounts ORDER BY name");
	if (s == NULL)
		return STORE_ERROR;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof *names);
		}
		names[n++] = sqlite_column_strdup(s, 0);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_strings_free(names, n);
		return sqlite_fail(c, "account_list");
	}
	*names_r = names;
	*n_r = n;
	return STORE_OK;
}

int sqlite_setting_get(struct store *base, int64_t account_id, const char *key, char **value_r)
{
	*value_r = NULL;
	if (key == NULL || *key == '\0')
		return STORE_INVALID;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	if (c == NULL)
		return STORE_ERROR;
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT value FROM account_settings WHERE account_id = ? AND key = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s), ret;
	if (rc == SQLITE_ROW) {
		*value_r = sqlite_column_strdup(s, 0);
		ret = STORE_OK;
	} else {
		ret = rc == SQLITE_DONE ? STORE_NOTFOUND : sqlite_fail(c, "setting_get");
	}
	sqlite3_reset(s);
	return ret;
}

/* --- small updates --- */

struct sqlite_account_update_ctx {
	int64_t account_id;
	const char *pwhash;
	const char *apop_secret;
	int64_t when;
	uint32_t first_uid;
	const char *key;
	const char *value;
};

int sqlite_account_exists(struct sqlite_conn *w, int64_t account_id)
{
	sqlite3_stmt *s = sqlite_stmt(w, "SELECT 1 FROM accounts WHERE id = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	int64_t one;
	return sqlite_step_int64(w, s, &one);
}

static int sqlite_set_password_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_account_update_ctx *ctx = arg;
	sqlite3_stmt *s = sqlite_stmt(w, "UPDATE accounts SET pwhash = ?, apop_secret = ? WHERE id = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, ctx->pwhash, -1, SQLITE_STATIC);
	if (ctx->apop_secret != NULL)
		sqlite3_bind_text(s, 2, ctx->apop_secret, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, ctx->account_id);
	if (sqlite_step_done(w, s) != STORE_OK)
		return STORE_ERROR;
	return sqlite3_changes(w->db) ? STORE_OK : STORE_NOTFOUND;
}

int sqlite_account_set_password(struct store *base, int64_t account_id, const char *pwhash, const char *apop_secret)
{
	if (pwhash == NULL)
		return STORE_INVALID;
	struct sqlite_account_update_ctx ctx = {.account_id = account_id, .pwhash = pwhash, .apop_secret = apop_secret};
	return sqlite_submit(sqlite_store_of(base), sqlite_set_password_job, &ctx);
}

static int sqlite_set_pop3_first_login_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_account_update_ctx *ctx = arg;
	sqlite3_stmt *s = sqlite_stmt(w, "UPDATE accounts SET pop3_first_login = ?, pop3_first_uid = ? WHERE id = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, ctx->when);
	sqlite3_bind_int64(s, 2, ctx->first_uid);
	sqlite3_bind_int64(s, 3, ctx->account_id);
	if (sqlite_step_done(w, s) != STORE_OK)
		return STORE_ERROR;
	return sqlite3_changes(w->db) ? STORE_OK : STORE_NOTFOUND;
}

int sqlite_account_set_pop3_first_login(struct store *base, int64_t account_id, int64_t when, uint32_t first_uid)
{
	struct sqlite_account_update_ctx ctx = {.account_id = account_id, .when = when, .first_uid = first_uid};
	return sqlite_submit(sqlite_store_of(base), sqlite_set_pop3_first_login_job, &ctx);
}

static int sqlite_setting_set_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_account_update_ctx *ctx = arg;
	int rc = sqlite_account_exists(w, ctx->account_id);
	if (rc != STORE_OK)
		return rc;
	sqlite3_stmt *s;
	if (ctx->value == NULL) {
		s = sqlite_stmt(w, "DELETE FROM account_settings WHERE account_id = ? AND key = ?");
	} else {
		s = sqlite_stmt(w, "INSERT INTO account_settings (account_id, key, value) VALUES (?, ?, ?)"
				   " ON CONFLICT (account_id, key) DO UPDATE SET value = excluded.value");
	}
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, ctx->account_id);
	sqlite3_bind_text(s, 2, ctx->key, -1, SQLITE_STATIC);
	if (ctx->value != NULL)
		sqlite3_bind_text(s, 3, ctx->value, -1, SQLITE_STATIC);
	return sqlite_step_done(w, s);
}

int sqlite_setting_set(struct store *base, int64_t account_id, const char *key, const char *value)
{
	if (key == NULL || *key == '\0' || strlen(key) > SQLITE_SETTING_KEY_MAX || !store_text_valid(key, strlen(key)))
		return STORE_INVALID;
	if (value != NULL && strlen(value) > SQLITE_SETTING_VALUE_MAX)
		return STORE_INVALID;
	struct sqlite_account_update_ctx ctx = {.account_id = account_id, .key = key, .value = value};
	return sqlite_submit(sqlite_store_of(base), sqlite_setting_set_job, &ctx);
}
