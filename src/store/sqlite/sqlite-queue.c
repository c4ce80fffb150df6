/* The outbound queue in the embedded store: messages waiting to be relayed,
 * each with its own content, its envelope and a row per recipient. Every
 * write goes through the group-commit writer and is durable when the call
 * returns, so the queue runner can record a remote's reply right after it
 * arrives and a restart re-sends only what was not acknowledged. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

/* Limits on what a queued envelope may hold. */
#define SQLITE_QUEUE_ADDR_MAX 512
#define SQLITE_QUEUE_REPLY_MAX 2000
#define SQLITE_QUEUE_RCPTS_MAX 100000

static char *sqlite_queue_strdup(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	return t ? xstrdup((const char *)t) : NULL;
}

/* --- queue_add --- */

struct sqlite_queue_add_ctx {
	const struct store_queue_msg *m;
	const char *data;
	size_t len;
	int64_t id;
};

static int sqlite_queue_add_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_queue_add_ctx *ctx = arg;
	const struct store_queue_msg *m = ctx->m;
	sqlite3_stmt *s = sqlite_stmt(w, "INSERT INTO queue (sender, envid, ret, smtputf8, body, account_id, created,"
					 " size, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, m->sender ? m->sender : "", -1, SQLITE_STATIC);
	if (m->envid != NULL)
		sqlite3_bind_text(s, 2, m->envid, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, m->ret);
	sqlite3_bind_int(s, 4, m->smtputf8);
	sqlite3_bind_int(s, 5, m->body);
	sqlite3_bind_int64(s, 6, m->account_id);
	sqlite3_bind_int64(s, 7, m->created ? m->created : time_now());
	sqlite3_bind_int64(s, 8, (int64_t)ctx->len);
	sqlite3_bind_blob64(s, 9, ctx->data, ctx->len, SQLITE_STATIC);
	if (sqlite_step_done(w, s) != STORE_OK)
		return STORE_ERROR;
	ctx->id = sqlite3_last_insert_rowid(w->db);
	for (size_t i = 0; i < m->n_rcpts; i++) {
		const struct store_queue_rcpt *r = &m->rcpts[i];
		s = sqlite_stmt(w, "INSERT INTO queue_rcpts (queue_id, addr, notify, orcpt, next_attempt)"
				   " VALUES (?, ?, ?, ?, ?)");
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, ctx->id);
		sqlite3_bind_text(s, 2, r->addr, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 3, (int)r->notify);
		if (r->orcpt != NULL)
			sqlite3_bind_text(s, 4, r->orcpt, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 5, r->next_attempt);
		if (sqlite_step_done(w, s) != STORE_OK)
			return STORE_ERROR;
	}
	return STORE_OK;
}

int sqlite_queue_add(struct store *base, const struct store_queue_msg *m, const char *data, size_t len, int64_t *id_r)
{
	if (m == NULL || m->n_rcpts == 0 || m->n_rcpts > SQLITE_QUEUE_RCPTS_MAX || (data == NULL && len > 0))
		return STORE_INVALID;
	if (m->sender != NULL && strlen(m->sender) > SQLITE_QUEUE_ADDR_MAX)
		return STORE_INVALID;
	for (size_t i = 0; i < m->n_rcpts; i++) {
		const char *a = m->rcpts[i].addr;
		if (a == NULL || *a == '\0' || strlen(a) > SQLITE_QUEUE_ADDR_MAX)
			return STORE_INVALID;
	}
	struct sqlite_queue_add_ctx ctx = {.m = m, .data = data ? data : "", .len = len};
	int rc = sqlite_submit(sqlite_store_of(base), sqlite_queue_add_job, &ctx);
	if (rc == STORE_OK && id_r != NULL)
		*id_r = ctx.id;
	return rc;
}

/* --- reads --- */

#define SQLITE_QUEUE_COLUMNS "id, sender, envid, ret, smtputf8, body, account_id, created, size"

static void sqlite_queue_row(sqlite3_stmt *s, struct store_queue_msg *m)
{
	memset(m, 0, sizeof *m);
	m->id = sqlite3_column_int64(s, 0);
	m->sender = sqlite_queue_strdup(s, 1);
	if (m->sender == NULL)
		m->sender = xstrdup("");
	m->envid = sqlite_queue_strdup(s, 2);
	m->ret = sqlite3_column_int(s, 3);
	m->smtputf8 = sqlite3_column_int(s, 4) != 0;
	m->body = sqlite3_column_int(s, 5);
	m->account_id = sqlite3_column_int64(s, 6);
	m->created = sqlite3_column_int64(s, 7);
	m->size = (uint64_t)sqlite3_column_int64(s, 8);
}

static int sqlite_queue_rcpts(struct sqlite_conn *c, struct store_queue_msg *m)
{
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT id, addr, notify, orcpt, state, attempts, next_attempt, last_reply, dsn"
					 " FROM queue_rcpts WHERE queue_id = ? ORDER BY id");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, m->id);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (m->n_rcpts == cap) {
			cap = cap ? cap * 2 : 4;
			m->rcpts = xrealloc(m->rcpts, cap * sizeof *m->rcpts);
		}
		struct store_queue_rcpt *r = &m->rcpts[m->n_rcpts++];
		r->id = sqlite3_column_int64(s, 0);
		r->addr = sqlite_queue_strdup(s, 1);
		if (r->addr == NULL)
			r->addr = xstrdup("");
		r->notify = (unsigned)sqlite3_column_int(s, 2);
		r->orcpt = sqlite_queue_strdup(s, 3);
		r->state = (enum store_queue_state)sqlite3_column_int(s, 4);
		r->attempts = (uint32_t)sqlite3_column_int64(s, 5);
		r->next_attempt = sqlite3_column_int64(s, 6);
		r->last_reply = sqlite_queue_strdup(s, 7);
		r->dsn = (unsigned)sqlite3_column_int(s, 8);
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : sqlite_fail(c, "queue recipients");
}

int sqlite_queue_list(struct store *base, struct store_queue_msg **r, size_t *n_r)
{
	*r = NULL;
	*n_r = 0;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	if (c == NULL || sqlite_read_begin(c) != STORE_OK)
		return STORE_ERROR;
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT " SQLITE_QUEUE_COLUMNS " FROM queue ORDER BY id");
	if (s == NULL) {
		sqlite_read_end(c);
		return STORE_ERROR;
	}
	struct store_queue_msg *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof *v);
		}
		sqlite_queue_row(s, &v[n++]);
	}
	sqlite3_reset(s);
	int ret = rc == SQLITE_DONE ? STORE_OK : sqlite_fail(c, "queue_list");
	for (size_t i = 0; i < n && ret == STORE_OK; i++)
		ret = sqlite_queue_rcpts(c, &v[i]);
	sqlite_read_end(c);
	if (ret != STORE_OK) {
		store_queue_msgs_free(v, n);
		return ret;
	}
	*r = v;
	*n_r = n;
	return STORE_OK;
}

int sqlite_queue_get(struct store *base, int64_t id, struct store_queue_msg *r)
{
	memset(r, 0, sizeof *r);
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	if (c == NULL || sqlite_read_begin(c) != STORE_OK)
		return STORE_ERROR;
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT " SQLITE_QUEUE_COLUMNS " FROM queue WHERE id = ?");
	int ret = STORE_ERROR;
	if (s != NULL) {
		sqlite3_bind_int64(s, 1, id);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			sqlite_queue_row(s, r);
		ret = rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOTFOUND : sqlite_fail(c, "queue_get");
		sqlite3_reset(s);
	}
	if (ret == STORE_OK)
		ret = sqlite_queue_rcpts(c, r);
	sqlite_read_end(c);
	if (ret != STORE_OK)
		store_queue_msg_clear(r);
	return ret;
}

int sqlite_queue_content(struct store *base, int64_t id, char **data_r, size_t *len_r)
{
	*data_r = NULL;
	*len_r = 0;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	if (c == NULL)
		return STORE_ERROR;
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT content FROM queue WHERE id = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s), ret;
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(s, 0);
		const void *p = sqlite3_column_blob(s, 0);
		char *d = xmalloc(n + 1);
		if (n > 0)
			memcpy(d, p, n);
		d[n] = '\0';
		*data_r = d;
		*len_r = n;
		ret = STORE_OK;
	} else {
		ret = rc == SQLITE_DONE ? STORE_NOTFOUND : sqlite_fail(c, "queue_content");
	}
	sqlite3_reset(s);
	return ret;
}

int sqlite_queue_due(struct store *base, int64_t now, size_t max, int64_t **ids_r, size_t *n_r)
{
	*ids_r = NULL;
	*n_r = 0;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	if (c == NULL)
		return STORE_ERROR;
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT DISTINCT queue_id FROM queue_rcpts"
					 " WHERE (state = 0 AND next_attempt <= ?1) OR (dsn & 1) <> 0"
					 " ORDER BY queue_id LIMIT ?2");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, (int64_t)(max > INT32_MAX ? INT32_MAX : max));
	int64_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(v);
		return sqlite_fail(c, "queue_due");
	}
	*ids_r = v;
	*n_r = n;
	return STORE_OK;
}

/* --- updates --- */

struct sqlite_queue_update_ctx {
	int64_t id;
	const struct store_queue_update *u;
	size_t n;
};

static int sqlite_queue_exists(struct sqlite_conn *w, int64_t id)
{
	sqlite3_stmt *s = sqlite_stmt(w, "SELECT 1 FROM queue WHERE id = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, id);
	int64_t one;
	return sqlite_step_int64(w, s, &one);
}

static int sqlite_queue_remove(struct sqlite_conn *w, int64_t id)
{
	static const char *const deletes[] = {
		"DELETE FROM queue_rcpts WHERE queue_id = ?",
		"DELETE FROM queue WHERE id = ?",
	};
	for (size_t i = 0; i < ARRAY_LEN(deletes); i++) {
		sqlite3_stmt *s = sqlite_stmt(w, deletes[i]);
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, id);
		if (sqlite_step_done(w, s) != STORE_OK)
			return STORE_ERROR;
	}
	return STORE_OK;
}

static int sqlite_queue_update_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_queue_update_ctx *ctx = arg;
	int rc = sqlite_queue_exists(w, ctx->id);
	if (rc != STORE_OK)
		return rc;
	for (size_t i = 0; i < ctx->n; i++) {
		const struct store_queue_update *u = &ctx->u[i];
		sqlite3_stmt *s = sqlite_stmt(w, "UPDATE queue_rcpts SET state = ?, next_attempt = ?,"
						 " last_reply = coalesce(?, last_reply), attempts = attempts + ?, dsn = ?"
						 " WHERE id = ? AND queue_id = ?");
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_int(s, 1, (int)u->state);
		sqlite3_bind_int64(s, 2, u->next_attempt);
		if (u->reply != NULL) {
			size_t len = strlen(u->reply);
			sqlite3_bind_text(s, 3, u->reply, (int)(len > SQLITE_QUEUE_REPLY_MAX ? SQLITE_QUEUE_REPLY_MAX : len),
					  SQLITE_STATIC);
		}
		sqlite3_bind_int(s, 4, u->attempted ? 1 : 0);
		sqlite3_bind_int(s, 5, (int)u->dsn);
		sqlite3_bind_int64(s, 6, u->rcpt_id);
		sqlite3_bind_int64(s, 7, ctx->id);
		if (sqlite_step_done(w, s) != STORE_OK)
			return STORE_ERROR;
	}
	/* Done with: nothing left to send and nothing owed to the sender. */
	sqlite3_stmt *s = sqlite_stmt(w, "SELECT count(*) FROM queue_rcpts WHERE queue_id = ? AND (state = 0 OR (dsn & 1) <> 0)");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, ctx->id);
	int64_t left = 0;
	if (sqlite_step_int64(w, s, &left) != STORE_OK)
		return STORE_ERROR;
	return left == 0 ? sqlite_queue_remove(w, ctx->id) : STORE_OK;
}

int sqlite_queue_update(struct store *base, int64_t id, const struct store_queue_update *u, size_t n)
{
	if (n > 0 && u == NULL)
		return STORE_INVALID;
	struct sqlite_queue_update_ctx ctx = {.id = id, .u = u, .n = n};
	return sqlite_submit(sqlite_store_of(base), sqlite_queue_update_job, &ctx);
}

static int sqlite_queue_flush_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	int64_t id = *(int64_t *)arg;
	if (id != 0) {
		int rc = sqlite_queue_exists(w, id);
		if (rc != STORE_OK)
			return rc;
	}
	sqlite3_stmt *s = sqlite_stmt(w, "UPDATE queue_rcpts SET next_attempt = 0 WHERE state = 0 AND (?1 = 0 OR queue_id = ?1)");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, id);
	return sqlite_step_done(w, s);
}

int sqlite_queue_flush(struct store *base, int64_t id)
{
	return sqlite_submit(sqlite_store_of(base), sqlite_queue_flush_job, &id);
}

static int sqlite_queue_delete_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	int64_t id = *(int64_t *)arg;
	int rc = sqlite_queue_exists(w, id);
	return rc != STORE_OK ? rc : sqlite_queue_remove(w, id);
}

int sqlite_queue_delete(struct store *base, int64_t id)
{
	return sqlite_submit(sqlite_store_of(base), sqlite_queue_delete_job, &id);
}
