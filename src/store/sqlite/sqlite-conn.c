/* SQLite connections for the embedded store: opening one with the pragmas the
 * store relies on (WAL, synchronous=FULL, a busy timeout), a per-connection
 * cache of prepared statements, one lazily opened reader per thread, and the
 * versioned schema. Every connection is used by one thread at a time, so all
 * are opened without SQLite's own mutexes. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

/* The schema, one step per version, applied in order inside one transaction;
 * PRAGMA user_version records how many have been applied. Never edit a step
 * that has shipped: append a new one. Every key starts with the account id,
 * except the shared message content, which belongs to no single account. */
static const char *const sqlite_migrations[] = {
	/* 1: the initial schema. */
	"CREATE TABLE store_meta ("
	"  key TEXT PRIMARY KEY,"
	"  value INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"INSERT INTO store_meta (key, value) VALUES ('last_uidvalidity', 0), ('last_mailbox_id', 0);"
	"CREATE TABLE accounts ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	"  pwhash TEXT NOT NULL,"
	"  apop_secret TEXT,"
	"  created INTEGER NOT NULL,"
	"  pop3_first_login INTEGER NOT NULL DEFAULT 0,"
	"  quota INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE account_settings ("
	"  account_id INTEGER NOT NULL,"
	"  key TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  PRIMARY KEY (account_id, key)"
	") WITHOUT ROWID;"
	"CREATE TABLE mailboxes ("
	"  account_id INTEGER NOT NULL,"
	"  id INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  uidvalidity INTEGER NOT NULL,"
	"  uidnext INTEGER NOT NULL DEFAULT 1,"
	"  highestmodseq INTEGER NOT NULL DEFAULT 1,"
	"  special_use TEXT,"
	"  subscribed INTEGER NOT NULL DEFAULT 1,"
	"  messages INTEGER NOT NULL DEFAULT 0,"
	"  bytes INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (account_id, id),"
	"  UNIQUE (account_id, name)"
	") WITHOUT ROWID;"
	/* Content is immutable; size comes before content so reading it never
	 * touches the overflow pages of a large message. */
	"CREATE TABLE messages ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  size INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  content BLOB NOT NULL"
	");"
	"CREATE TABLE entries ("
	"  account_id INTEGER NOT NULL,"
	"  mailbox_id INTEGER NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  message_id INTEGER NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  flags INTEGER NOT NULL DEFAULT 0,"
	"  keywords TEXT NOT NULL DEFAULT '',"
	"  modseq INTEGER NOT NULL,"
	"  internal_date INTEGER NOT NULL,"
	"  PRIMARY KEY (account_id, mailbox_id, uid)"
	") WITHOUT ROWID;"
	"CREATE INDEX entries_message ON entries (message_id);"
	"CREATE TABLE tombstones ("
	"  account_id INTEGER NOT NULL,"
	"  mailbox_id INTEGER NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  modseq INTEGER NOT NULL,"
	"  PRIMARY KEY (account_id, mailbox_id, uid)"
	") WITHOUT ROWID;",
	/* 2: whether the content ends with CRLF, so that POP3 knows the octets
	 * RETR sends (a final CRLF is added when missing) without reading it. */
	"ALTER TABLE entries ADD COLUMN ends_crlf INTEGER NOT NULL DEFAULT 1;"
	"UPDATE entries SET ends_crlf = (SELECT m.size = 0 OR substr(m.content, -2, 2) = x'0d0a'"
	"  FROM messages m WHERE m.id = entries.message_id);",
	/* 3: the first POP3 login as a UID of INBOX; a time in seconds cannot tell
	 * a message delivered earlier in the same second from one delivered after. */
	"ALTER TABLE accounts ADD COLUMN pop3_first_uid INTEGER NOT NULL DEFAULT 0;",
	/* 4: what IMAP needs. Keywords: a per-mailbox list of names (at most
	 * STORE_MAX_KEYWORDS, never renumbered) and a bit set per entry over it
	 * (the keywords TEXT column of step 1 was never used). Counters of
	 * entries without \Seen and with \Deleted, kept by every write, so that
	 * STATUS and SELECT need no scan. Subscriptions as a list of names of
	 * their own, since they outlive the mailboxes they name (RFC 9051); every
	 * mailbox was subscribed until now. What the parser found in a message
	 * (message_info) and its decoded SEARCH text (message_text) in tables of
	 * their own, so that reading them never walks the content's overflow
	 * pages; messages stored before this step have neither and are parsed
	 * on first use. Indexes on modseq make CONDSTORE/QRESYNC "what changed
	 * since" cheap on large mailboxes. */
	"CREATE TABLE mailbox_keywords ("
	"  account_id INTEGER NOT NULL,"
	"  mailbox_id INTEGER NOT NULL,"
	"  idx INTEGER NOT NULL,"
	"  name TEXT NOT NULL COLLATE NOCASE,"
	"  PRIMARY KEY (account_id, mailbox_id, idx),"
	"  UNIQUE (account_id, mailbox_id, name)"
	") WITHOUT ROWID;"
	"ALTER TABLE entries ADD COLUMN kwbits INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX entries_modseq ON entries (account_id, mailbox_id, modseq);"
	"CREATE INDEX tombstones_modseq ON tombstones (account_id, mailbox_id, modseq);"
	"ALTER TABLE mailboxes ADD COLUMN unseen INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE mailboxes ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;"
	"UPDATE mailboxes SET"
	"  unseen = (SELECT count(*) FROM entries e WHERE e.account_id = mailboxes.account_id"
	"    AND e.mailbox_id = mailboxes.id AND (e.flags & 1) = 0),"
	"  deleted = (SELECT count(*) FROM entries e WHERE e.account_id = mailboxes.account_id"
	"    AND e.mailbox_id = mailboxes.id AND (e.flags & 8) <> 0);"
	"CREATE TABLE subscriptions ("
	"  account_id INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  PRIMARY KEY (account_id, name)"
	") WITHOUT ROWID;"
	"INSERT INTO subscriptions (account_id, name) SELECT account_id, name FROM mailboxes WHERE subscribed <> 0;"
	"CREATE TABLE message_info ("
	"  message_id INTEGER PRIMARY KEY,"
	"  sent_date INTEGER NOT NULL,"
	"  envelope TEXT NOT NULL,"
	"  body TEXT NOT NULL,"
	"  bodystructure TEXT NOT NULL,"
	"  sections TEXT NOT NULL"
	");"
	"CREATE TABLE message_text ("
	"  message_id INTEGER PRIMARY KEY,"
	"  headers TEXT NOT NULL,"
	"  body TEXT NOT NULL"
	");"
	"CREATE TRIGGER messages_forget_info AFTER DELETE ON messages BEGIN"
	"  DELETE FROM message_info WHERE message_id = old.id;"
	"  DELETE FROM message_text WHERE message_id = old.id;"
	"END;",
	/* 5: the SEARCH index (sqlite-indexer.c, sqlite-search.c). Two FTS5
	 * trigram indexes of the case-folded search text, one for the headers
	 * and one for the body, rowid = message id; contentless and without
	 * positions (detail=none), about the size of the text itself: a search
	 * asks for all of a needle's trigrams and checks every candidate against
	 * the text anyway. Text waits in search_queue until a background job
	 * indexes it, never inside the delivery transaction; big = 1 marks text
	 * too long to index, which every search scans instead. Text of a message
	 * deleted after it was indexed moves to search_purge, from where a job
	 * takes its trigrams out of the index. Every message stored so far is
	 * queued (one without text is parsed first). */
	"CREATE VIRTUAL TABLE search_headers USING fts5(t, content='', detail=none, columnsize=0,"
	"  tokenize='trigram case_sensitive 1');"
	"CREATE VIRTUAL TABLE search_body USING fts5(t, content='', detail=none, columnsize=0,"
	"  tokenize='trigram case_sensitive 1');"
	"CREATE TABLE search_queue ("
	"  message_id INTEGER PRIMARY KEY,"
	"  big INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE search_purge ("
	"  message_id INTEGER PRIMARY KEY,"
	"  headers TEXT NOT NULL,"
	"  body TEXT NOT NULL"
	");"
	"CREATE TRIGGER search_text_added AFTER INSERT ON message_text BEGIN"
	"  INSERT OR IGNORE INTO search_queue (message_id) VALUES (new.message_id);"
	"END;"
	"CREATE TRIGGER search_text_removed AFTER DELETE ON message_text BEGIN"
	"  INSERT OR REPLACE INTO search_purge (message_id, headers, body)"
	"    SELECT old.message_id, old.headers, old.body"
	"    WHERE NOT EXISTS (SELECT 1 FROM search_queue WHERE message_id = old.message_id);"
	"  DELETE FROM search_queue WHERE message_id = old.message_id;"
	"END;"
	"INSERT OR IGNORE INTO search_queue (message_id) SELECT id FROM messages;",
	/* 6: ENVELOPE in a table of its own. FETCH 1:* (ENVELOPE) reads it for
	 * every message, and the other parsed columns are as large again: kept
	 * in one row they doubled what a first, uncached pass reads. */
	"CREATE TABLE message_envelope ("
	"  message_id INTEGER PRIMARY KEY,"
	"  envelope TEXT NOT NULL"
	");"
	"INSERT INTO message_envelope (message_id, envelope) SELECT message_id, envelope FROM message_info;"
	"ALTER TABLE message_info DROP COLUMN envelope;"
	"DROP TRIGGER messages_forget_info;"
	"CREATE TRIGGER messages_forget_info AFTER DELETE ON messages BEGIN"
	"  DELETE FROM message_info WHERE message_id = old.id;"
	"  DELETE FROM message_envelope WHERE message_id = old.id;"
	"  DELETE FROM message_text WHERE message_id = old.id;"
	"END;",
	/* 7: aliases for SMTP/LMTP delivery: an address ("sales@example.com",
	 * or "@example.com" for a domain's catch-all) and the accounts it
	 * delivers to, one row per target, by name (a target whose account was
	 * deleted is skipped when mail arrives). */
	"CREATE TABLE aliases ("
	"  address TEXT NOT NULL COLLATE NOCASE,"
	"  target TEXT NOT NULL COLLATE NOCASE,"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY (address, target)"
	") WITHOUT ROWID;"
	"CREATE INDEX aliases_target ON aliases (target);",
	/* 8: the outbound queue. A queued message keeps its own content (rows
	 * of messages are freed once no mailbox entry refers to them) and its
	 * envelope with the DSN parameters of RFC 3461; each recipient has a
	 * row with its state (0 pending, 1 sent, 2 failed), attempts, when it
	 * is next due, the last reply, and dsn bits (1: a notification is
	 * still owed to the sender, 2: a "delayed" notice went out). A message
	 * goes once no recipient is pending or owed a notification. */
	"CREATE TABLE queue ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  sender TEXT NOT NULL,"
	"  envid TEXT,"
	"  ret INTEGER NOT NULL DEFAULT 0,"
	"  smtputf8 INTEGER NOT NULL DEFAULT 0,"
	"  body INTEGER NOT NULL DEFAULT 0,"
	"  account_id INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  content BLOB NOT NULL"
	");"
	"CREATE TABLE queue_rcpts ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  queue_id INTEGER NOT NULL,"
	"  addr TEXT NOT NULL,"
	"  notify INTEGER NOT NULL DEFAULT 0,"
	"  orcpt TEXT,"
	"  state INTEGER NOT NULL DEFAULT 0,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_attempt INTEGER NOT NULL DEFAULT 0,"
	"  last_reply TEXT,"
	"  dsn INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX queue_rcpts_queue ON queue_rcpts (queue_id);"
	"CREATE INDEX queue_rcpts_due ON queue_rcpts (state, next_attempt);",
	/* 9: entries expunged while a session of the server still shows them
	 * to its client (store_pin): kept with their content until every such
	 * session has been told, then deleted (sqlite-kept.c). Content is freed
	 * once neither an entry nor a kept row refers to it. */
	"CREATE TABLE expunged ("
	"  account_id INTEGER NOT NULL,"
	"  mailbox_id INTEGER NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  modseq INTEGER NOT NULL,"
	"  message_id INTEGER NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  flags INTEGER NOT NULL,"
	"  kwbits INTEGER NOT NULL,"
	"  internal_date INTEGER NOT NULL,"
	"  ends_crlf INTEGER NOT NULL,"
	"  PRIMARY KEY (account_id, mailbox_id, uid)"
	") WITHOUT ROWID;"
	"CREATE INDEX expunged_message ON expunged (message_id);",
};

int sqlite_fail(struct sqlite_conn *c, const char *what)
{
	if (c == NULL || c->db == NULL)
		return store_set_error("sqlite: %s failed", what);
	return store_set_error("sqlite: %s: %s (code %d)", what, sqlite3_errmsg(c->db),
			       sqlite3_extended_errcode(c->db));
}

/* Run pragmas or DDL, retrying while another process holds a lock longer than
 * the busy timeout. */
static int sqlite_exec_retry(struct sqlite_conn *c, const char *sql)
{
	for (int attempt = 0;; attempt++) {
		int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return STORE_OK;
		if ((rc & 0xff) != SQLITE_BUSY || attempt + 1 >= SQLITE_BEGIN_ATTEMPTS)
			return sqlite_fail(c, sql);
		log_warn("event=store_busy sql=\"%s\" attempt=%d", sql, attempt + 1);
	}
}

/* Before the first connection: no global memory statistics, which SQLite
 * otherwise keeps under one process-wide mutex taken by every allocation of
 * every connection (the workers' readers and the writer contended for it). */
static void sqlite_configure_once(void)
{
	if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
		log_warn("event=store_config_ignored option=memstatus");
}

int sqlite_conn_open(const char *path, bool reader, struct sqlite_conn **c_r)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, sqlite_configure_once);
	*c_r = NULL;
	struct sqlite_conn *c = xcalloc(1, sizeof *c);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	if (!reader)
		flags |= SQLITE_OPEN_CREATE;
	int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		store_set_error("sqlite: open %s: %s", path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sqlite_conn_close(c);
		return STORE_ERROR;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, SQLITE_BUSY_TIMEOUT_MS);
	/* Temporary tables, indexes and statement journals in memory: on disk
	 * each savepoint or sort opened, wrote and removed a file. */
	const char *setup = reader ? "PRAGMA query_only = 1; PRAGMA temp_store = MEMORY;"
				   : "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
				     " PRAGMA cache_size = -16000; PRAGMA temp_store = MEMORY;";
	if (sqlite_exec_retry(c, setup) != STORE_OK) {
		sqlite_conn_close(c);
		return STORE_ERROR;
	}
	*c_r = c;
	return STORE_OK;
}

void sqlite_conn_close(struct sqlite_conn *c)
{
	if (c == NULL)
		return;
	sqlite_blob_drop(c);
	for (size_t i = 0; i < c->n_stmts; i++)
		sqlite3_finalize(c->stmts[i].stmt);
	free(c->stmts);
	if (c->db != NULL && sqlite3_close(c->db) != SQLITE_OK)
		log_error("event=store_close_failed error=\"%s\"", sqlite3_errmsg(c->db));
	free(c);
}

sqlite3_stmt *sqlite_stmt(struct sqlite_conn *c, const char *sql)
{
	sqlite3_stmt *s = NULL;
	for (size_t i = 0; i < c->n_stmts && s == NULL; i++)
		if (c->stmts[i].sql == sql)
			s = c->stmts[i].stmt;
	for (size_t i = 0; i < c->n_stmts && s == NULL; i++)
		if (strcmp(c->stmts[i].sql, sql) == 0)
			s = c->stmts[i].stmt;
	if (s != NULL) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		return s;
	}
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
		sqlite_fail(c, "prepare");
		return NULL;
	}
	if (c->n_stmts == c->cap_stmts) {
		c->cap_stmts = c->cap_stmts ? c->cap_stmts * 2 : 32;
		c->stmts = xrealloc(c->stmts, c->cap_stmts * sizeof *c->stmts);
	}
	c->stmts[c->n_stmts++] = (struct sqlite_cached_stmt){sql, s};
	return s;
}

int sqlite_exec(struct sqlite_conn *c, const char *sql)
{
	sqlite3_stmt *s = sqlite_stmt(c, sql);
	if (s == NULL)
		return STORE_ERROR;
	int rc = sqlite3_step(s);
	int ret = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? STORE_OK : sqlite_fail(c, sql);
	sqlite3_reset(s);
	return ret;
}

int sqlite_step_done(struct sqlite_conn *c, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	int ret = rc == SQLITE_DONE ? STORE_OK : sqlite_fail(c, sqlite3_sql(s));
	sqlite3_reset(s);
	return ret;
}

int sqlite_step_int64(struct sqlite_conn *c, sqlite3_stmt *s, int64_t *r)
{
	int rc = sqlite3_step(s);
	int ret;
	if (rc == SQLITE_ROW) {
		*r = sqlite3_column_int64(s, 0);
		ret = STORE_OK;
	} else if (rc == SQLITE_DONE) {
		ret = STORE_NOTFOUND;
	} else {
		ret = sqlite_fail(c, sqlite3_sql(s));
	}
	sqlite3_reset(s);
	return ret;
}

void sqlite_blob_close(struct sqlite_conn *c)
{
	if (c->blob != NULL) {
		sqlite3_blob_close(c->blob);
		c->blob = NULL;
	}
}

void sqlite_blob_drop(struct sqlite_conn *c)
{
	sqlite_blob_close(c);
	if (c->snapshot) {
		c->snapshot = false;
		sqlite_read_end(c);
	}
}

void sqlite_release_thread(struct store *base)
{
	struct sqlite_conn *c = pthread_getspecific(sqlite_store_of(base)->reader_key);
	if (c != NULL)
		sqlite_blob_drop(c);
}

struct sqlite_conn *sqlite_reader(struct sqlite_store *st)
{
	struct sqlite_conn *c = sqlite_reader_keep_blob(st);
	if (c != NULL)
		sqlite_blob_drop(c);
	return c;
}

struct sqlite_conn *sqlite_reader_keep_blob(struct sqlite_store *st)
{
	struct sqlite_conn *c = pthread_getspecific(st->reader_key);
	if (c != NULL)
		return c;
	if (sqlite_conn_open(st->db_path, true, &c) != STORE_OK)
		return NULL;
	pthread_mutex_lock(&st->readers_lock);
	c->next = st->readers;
	st->readers = c;
	pthread_mutex_unlock(&st->readers_lock);
	pthread_setspecific(st->reader_key, c);
	return c;
}

void sqlite_readers_close(struct sqlite_store *st)
{
	pthread_mutex_lock(&st->readers_lock);
	struct sqlite_conn *c = st->readers;
	st->readers = NULL;
	pthread_mutex_unlock(&st->readers_lock);
	while (c != NULL) {
		struct sqlite_conn *next = c->next;
		sqlite_conn_close(c);
		c = next;
	}
}

int sqlite_read_begin(struct sqlite_conn *r)
{
	return sqlite_exec(r, "BEGIN");
}

void sqlite_read_end(struct sqlite_conn *r)
{
	if (!sqlite3_get_autocommit(r->db) && sqlite_exec(r, "COMMIT") != STORE_OK)
		(void)sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
}

static int sqlite_user_version(struct sqlite_conn *w, int *version_r)
{
	sqlite3_stmt *s = sqlite_stmt(w, "PRAGMA user_version");
	if (s == NULL)
		return STORE_ERROR;
	int ret = STORE_OK;
	if (sqlite3_step(s) == SQLITE_ROW)
		*version_r = sqlite3_column_int(s, 0);
	else
		ret = sqlite_fail(w, "PRAGMA user_version");
	sqlite3_reset(s);
	return ret;
}

int sqlite_migrate(struct sqlite_conn *w)
{
	return sqlite_migrate_to(w, (int)ARRAY_LEN(sqlite_migrations));
}

int sqlite_migrate_to(struct sqlite_conn *w, int latest)
{
	assert(latest >= 1 && latest <= (int)ARRAY_LEN(sqlite_migrations));
	if (sqlite_exec_retry(w, "BEGIN IMMEDIATE") != STORE_OK)
		return STORE_ERROR;
	int version = 0;
	if (sqlite_user_version(w, &version) != STORE_OK)
		goto fail;
	if (version > (int)ARRAY_LEN(sqlite_migrations)) {
		store_set_error("store schema version %d is newer than this program's %d", version,
				(int)ARRAY_LEN(sqlite_migrations));
		goto fail;
	}
	if (version > latest)
		latest = version; /* never downgrade */
	for (int v = version; v < latest; v++) {
		char *err = NULL;
		if (sqlite3_exec(w->db, sqlite_migrations[v], NULL, NULL, &err) != SQLITE_OK) {
			store_set_error("store migration to version %d: %s", v + 1, err ? err : "failed");
			sqlite3_free(err);
			goto fail;
		}
	}
	if (version != latest) {
		char *sql = xasprintf("PRAGMA user_version = %d", latest);
		int rc = sqlite3_exec(w->db, sql, NULL, NULL, NULL);
		free(sql);
		if (rc != SQLITE_OK) {
			sqlite_fail(w, "set user_version");
			goto fail;
		}
	}
	if (sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite_fail(w, "commit migration");
		goto fail;
	}
	if (version != latest)
		log_info("event=store_migrated from=%d to=%d", version, latest);
	return STORE_OK;
fail:
	(void)sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	return STORE_ERROR;
}
