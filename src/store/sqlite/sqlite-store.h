/* Internals shared by the files of the embedded SQLite backend: the store
 * struct, connections with their prepared-statement caches, the writer's job
 * queue and the change list that drives notifications. Nothing outside
 * src/store/ includes this; callers use store.h. */
#ifndef ROOST_STORE_SQLITE_STORE_H
#define ROOST_STORE_SQLITE_STORE_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/store.h"

/* Limits on names coming from clients and administrators. */
#define SQLITE_ACCOUNT_NAME_MAX 320
#define SQLITE_SETTING_KEY_MAX 200
#define SQLITE_SETTING_VALUE_MAX 4000
#define SQLITE_SPECIAL_USE_MAX 64
/* How long a connection waits on another process's lock before SQLITE_BUSY. */
#define SQLITE_BUSY_TIMEOUT_MS 10000
/* How many times the writer retries BEGIN IMMEDIATE after a busy timeout. */
#define SQLITE_BEGIN_ATTEMPTS 6
/* The largest notification datagram we send or accept. */
#define SQLITE_NOTIFY_MAX 128

/* Helpers from src/store/store.c shared by every backend. */
#define STORE_MAILBOX_NAME_MAX 1000 /* bytes */
/* Set this thread's store_last_error() text; returns STORE_ERROR. */
int store_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Content with every bare LF turned into CRLF (CRLF and lone CR kept). Returns
 * data itself when it needs no change, else an allocated copy for the caller
 * to free(); *len_r is the normalised length. */
const char *store_crlf_normalise(const char *data, size_t len, size_t *len_r);
/* 0 when name is an acceptable mailbox name; *norm_r is an allocated copy with
 * "INBOX" (any case, also as the first level) spelled canonically. */
int store_mailbox_name_normalise(const char *name, char **norm_r);
/* True when s is well-formed UTF-8 with no control characters. */
bool store_text_valid(const char *s, size_t len);
/* True when every name is a valid keyword: an IMAP atom (printable ASCII
 * without ( ) { % * " \ ] or space) of 1..STORE_KEYWORD_MAX bytes, so never a
 * system flag such as \Seen. */
bool store_keywords_valid(const char *const *names, size_t n);

/* The system flags the store keeps (other bits are dropped). */
#define SQLITE_FLAGS_MASK \
	(STORE_FLAG_SEEN | STORE_FLAG_ANSWERED | STORE_FLAG_FLAGGED | STORE_FLAG_DELETED | STORE_FLAG_DRAFT)
#define SQLITE_UID_MAX 0xffffffffu

/* One prepared statement kept for the life of its connection. */
struct sqlite_cached_stmt {
	const char *sql; /* a string literal; compared by address, then text */
	sqlite3_stmt *stmt;
};

/* A connection used by exactly one thread at a time: the writer's, or one
 * reader per thread. */
struct sqlite_conn {
	sqlite3 *db;
	struct sqlite_cached_stmt *stmts;
	size_t n_stmts, cap_stmts;
	struct sqlite_conn *next; /* the store's list of readers */
	/* A reader keeps the blob of the message it is streaming open between
	 * store_message_read calls: reopening it for every slice would walk the
	 * overflow-page chain from the start each time (quadratic in the size).
	 * The blob lives in a read transaction (the snapshot), which is kept
	 * across messages too, so that streaming many messages in a row costs
	 * one transaction rather than one each. Both end before the connection
	 * runs anything else, when the thread is about to sleep
	 * (store_release_thread), and when the snapshot gets old. */
	sqlite3_blob *blob;
	int64_t blob_account;
	int64_t blob_message;
	bool snapshot;
	int64_t snapshot_ms;
	struct store *store; /* the writer's: the store it writes (for its pins) */
};

/* A mailbox a transaction changed and its new HIGHESTMODSEQ. */
struct sqlite_change {
	int64_t account_id;
	int64_t mailbox_id;
	uint64_t modseq;
	uint64_t kept; /* the lowest modseq of expunged entries kept for pins (0: none) */
};

struct sqlite_changes {
	struct sqlite_change *v;
	size_t n, cap;
};

struct sqlite_store;

/* A write job runs on the writer thread inside its own SAVEPOINT and returns a
 * store status; changes it records are published only if the batch commits. */
typedef int sqlite_job_fn(struct sqlite_store *st, struct sqlite_conn *w, void *ctx, struct sqlite_changes *ch);

struct sqlite_job {
	sqlite_job_fn *fn;
	void *ctx;
	int result;
	char *error; /* allocated text when result is STORE_ERROR */
	sem_t done; /* posted once the job's batch has committed or failed */
	bool lazy;  /* need not be on disk before the caller is answered */
	struct sqlite_changes changes;
	struct sqlite_job *next;
};

struct sqlite_watcher {
	store_watch_fn *fn;
	void *ctx;
};

struct sqlite_store {
	struct store base;
	char *dir;
	char *db_path;
	char *sock_path;
	bool group_commit;

	/* The writer thread and its queue. */
	struct sqlite_conn *writer;
	pthread_t writer_thread;
	bool writer_started;
	pthread_mutex_t lock;
	pthread_cond_t work_cond; /* the writer waits for jobs */
	/* Writer rounds (a batch, or a release alone) begun and ended, under
	 * lock; sqlite_pins_settle waits on settle_cond for the one running. */
	uint64_t rounds_begun, rounds_done;
	pthread_cond_t settle_cond;
	struct sqlite_job *queue_head, *queue_tail;
	bool stopping;

	/* Readers: one per thread, found through a thread-specific key. */
	pthread_key_t reader_key;
	pthread_mutex_t readers_lock;
	struct sqlite_conn *readers;

	/* Watchers and notification sockets. */
	pthread_rwlock_t watchers_lock;
	struct sqlite_watcher *watchers;
	size_t n_watchers;
	int notify_fd;      /* unbound datagram socket to send with, or -1 */
	atomic_bool listening; /* this process owns DIR/notify.sock (read by the writer) */
	int listen_fd;
	int listen_stop[2]; /* pipe that wakes the listener to exit */
	pthread_t listen_thread;
	char *listen_buf;

	/* The background search indexer (sqlite-indexer.c), or NULL. */
	struct sqlite_indexer *indexer;

	/* Mailboxes with expunged entries kept for pins (sqlite-kept.c), and
	 * the lowest modseq kept in each; only the writer thread touches them. */
	struct sqlite_kept_mailbox *kept;
	size_t n_kept, cap_kept;
	/* The writer's synchronous setting: FULL (true) or NORMAL (sqlite_submit_lazy). */
	bool commit_durable;
};

struct sqlite_kept_mailbox {
	int64_t account_id, mailbox_id;
	uint64_t lowest;
};

extern const struct store_ops sqlite_store_ops;

/* sqlite-conn.c */
int sqlite_conn_open(const char *path, bool reader, struct sqlite_conn **c_r);
void sqlite_conn_close(struct sqlite_conn *c);
/* The cached statement for sql, reset and with bindings cleared; NULL (error
 * set) when it cannot be prepared. */
sqlite3_stmt *sqlite_stmt(struct sqlite_conn *c, const char *sql);
/* Run a statement that returns no rows; STORE_OK or STORE_ERROR. */
int sqlite_exec(struct sqlite_conn *c, const char *sql);
/* Step a bound statement that returns no rows, then reset it: STORE_OK or
 * STORE_ERROR. */
int sqlite_step_done(struct sqlite_conn *c, sqlite3_stmt *s);
/* Step a bound statement and take column 0 of its first row as an integer,
 * then reset it: STORE_OK, STORE_NOTFOUND (no row) or STORE_ERROR. */
int sqlite_step_int64(struct sqlite_conn *c, sqlite3_stmt *s, int64_t *r);
/* Set the error text from the connection's last SQLite error. */
int sqlite_fail(struct sqlite_conn *c, const char *what);
/* How long a reader may keep a message's blob (and its snapshot) open. */
#define SQLITE_BLOB_KEEP_MS 5000 /* a streaming snapshot is renewed after this */
/* This thread's reader connection, opened on first use, with no blob left
 * open; NULL on error. */
struct sqlite_conn *sqlite_reader(struct sqlite_store *st);
/* The same, leaving a cached blob open (for store_message_read). */
struct sqlite_conn *sqlite_reader_keep_blob(struct sqlite_store *st);
void sqlite_blob_drop(struct sqlite_conn *c);
void sqlite_blob_close(struct sqlite_conn *c);
void sqlite_release_thread(struct store *base);
void sqlite_readers_close(struct sqlite_store *st);
int sqlite_migrate(struct sqlite_conn *w);
/* Apply the schema steps up to version `version` only (tests build old
 * databases with it). */
int sqlite_migrate_to(struct sqlite_conn *w, int version);
/* Read transactions make several statements see one snapshot. */
int sqlite_read_begin(struct sqlite_conn *r);
void sqlite_read_end(struct sqlite_conn *r);

/* sqlite-writer.c */
int sqlite_writer_start(struct sqlite_store *st);
void sqlite_writer_stop(struct sqlite_store *st);
/* Queue a job, wait until its batch committed (or failed) and return its
 * result; the error text is moved to this thread's store_last_error(). */
int sqlite_submit(struct sqlite_store *st, sqlite_job_fn *fn, void *ctx);
void sqlite_pins_settle(struct store *base);
/* The same for a write its caller need not have on disk before answering
 * (flag changes, work that can be done again): a batch of only such jobs
 * commits without waiting for the fsync (synchronous=NORMAL). It is on disk
 * with the next durable commit at the latest, the WAL being written in order;
 * a power loss before that may undo it, a crash of the process does not. */
int sqlite_submit_lazy(struct sqlite_store *st, sqlite_job_fn *fn, void *ctx);
void sqlite_changes_add(struct sqlite_changes *ch, int64_t account_id, int64_t mailbox_id, uint64_t modseq);
/* Note that the transaction kept expunged entries from modseq on. */
void sqlite_changes_kept(struct sqlite_changes *ch, int64_t account_id, int64_t mailbox_id, uint64_t modseq);

/* sqlite-kept.c: expunged entries kept while a pin needs them. */
/* Runs on the writer: keep the removed entries v (expunged at modseq). */
int sqlite_kept_add(struct sqlite_conn *w, int64_t account_id, int64_t mailbox_id, uint64_t modseq,
		    const struct store_entry *v, size_t n, struct sqlite_changes *ch);
/* The writer: remember the mailboxes a committed batch kept entries in. */
void sqlite_kept_track(struct sqlite_store *st, const struct sqlite_changes *ch);
/* The writer: true when some kept entries are no longer pinned. */
bool sqlite_kept_due(struct sqlite_store *st);
/* The writer, inside a transaction: delete the kept entries no pin needs and
 * the content nothing refers to any more. */
int sqlite_kept_release(struct sqlite_store *st, struct sqlite_conn *w);
/* Adopt the kept entries a previous server process left (it stopped or
 * died before every session had been told); called once by the server. */
int sqlite_kept_adopt(struct sqlite_store *st);
/* Runs on the writer: delete the messages among ids that no entry and no
 * kept entry refers to. */
int sqlite_messages_gc(struct sqlite_conn *w, const int64_t *ids, size_t n);
/* An account may read a message's content while it has an entry or a kept
 * entry for it: ?1 the message id, ?2 the account id. */
#define SQLITE_ACCOUNT_HAS_MESSAGE \
	"SELECT 1 WHERE EXISTS (SELECT 1 FROM entries WHERE message_id = ?1 AND account_id = ?2)" \
	" OR EXISTS (SELECT 1 FROM expunged WHERE message_id = ?1 AND account_id = ?2)"
void sqlite_notify_open(struct sqlite_store *st);
void sqlite_listen_stop(struct sqlite_store *st);

/* sqlite-alias.c */
int sqlite_alias_add(struct store *base, const char *address, const char *target);
int sqlite_alias_delete(struct store *base, const char *address, const char *target);
int sqlite_alias_list(struct store *base, char ***addresses_r, char ***targets_r, size_t *n_r);
int sqlite_alias_targets(struct store *base, const char *address, char ***targets_r, size_t *n_r);
int sqlite_domain_known(struct store *base, const char *domain);

/* sqlite-account.c */
int sqlite_account_create(struct store *base, const char *name, const char *pwhash, int64_t *id_r);
int sqlite_account_delete(struct store *base, const char *name);
int sqlite_account_find(struct store *base, const char *name, struct store_account *r);
int sqlite_account_list(struct store *base, char ***names_r, size_t *n_r);
int sqlite_account_set_password(struct store *base, int64_t account_id, const char *pwhash, const char *apop_secret);
int sqlite_account_set_pop3_first_login(struct store *base, int64_t account_id, int64_t when, uint32_t first_uid);
int sqlite_setting_get(struct store *base, int64_t account_id, const char *key, char **value_r);
int sqlite_setting_set(struct store *base, int64_t account_id, const char *key, const char *value);
/* Runs on the writer: create a mailbox row with fresh id and UIDVALIDITY. */
int sqlite_mailbox_insert(struct sqlite_conn *w, int64_t account_id, const char *name, const char *special_use, int64_t *id_r);

/* sqlite-keywords.c: a mailbox's keyword list as a job sees it (bit i of
 * an entry's kwbits is names[i]); indexes are never reused or renumbered. */
struct sqlite_keywords {
	char *names[STORE_MAX_KEYWORDS];
	size_t n;
};
int sqlite_keywords_load(struct sqlite_conn *c, int64_t account_id, int64_t mailbox_id, struct sqlite_keywords *kw);
void sqlite_keywords_clear(struct sqlite_keywords *kw);
/* The bit of `name` (matched without regard to ASCII case) in kw. When it is
 * absent: with add, append it to the list (in memory and in the database) or
 * return STORE_LIMIT when the list is full; without add, STORE_NOTFOUND. */
int sqlite_keyword_bit(struct sqlite_conn *w, int64_t account_id, int64_t mailbox_id, struct sqlite_keywords *kw,
		       const char *name, bool add, uint64_t *bit_r);
/* The bits of several names, adding missing ones (STORE_LIMIT when full). */
int sqlite_keyword_bits(struct sqlite_conn *w, int64_t account_id, int64_t mailbox_id, struct sqlite_keywords *kw,
			const char *const *names, size_t n, uint64_t *bits_r);
/* An allocated copy of the names, for results. */
void sqlite_keywords_export(const struct sqlite_keywords *kw, char ***names_r, size_t *n_r);

/* Sorted, de-duplicated copy of a UID list without UID 0 (free()). */
uint32_t *sqlite_uids_sorted(const uint32_t *uids, size_t n, size_t *n_r);
/* The end (exclusive) of the run of consecutive UIDs that starts at i. */
size_t sqlite_uid_run(const uint32_t *uids, size_t n, size_t i);
/* Sorted UIDs cut into batches, in ascending order, for statements that take
 * either a range (uid BETWEEN lo AND hi) or a list (uid IN (SELECT value FROM
 * json_each(json))): a run of at least SQLITE_UID_RUN_MIN consecutive UIDs is
 * a range, shorter runs are gathered into lists of at most
 * SQLITE_UID_LIST_MAX UIDs. So "1:*" is one statement, and a scattered set
 * one per few thousand UIDs rather than one per UID. */
#define SQLITE_UID_RUN_MIN 16
#define SQLITE_UID_LIST_MAX 10000
struct sqlite_uid_batch {
	uint32_t lo, hi;
	const char *json; /* NULL for a range; valid until the next call */
};
struct sqlite_uid_iter {
	const uint32_t *uids;
	size_t n, i;
	struct buf json;
};
void sqlite_uid_iter_init(struct sqlite_uid_iter *it, const uint32_t *uids, size_t n);
bool sqlite_uid_iter_next(struct sqlite_uid_iter *it, struct sqlite_uid_batch *b);
void sqlite_uid_iter_free(struct sqlite_uid_iter *it);
/* ids as a NUL-terminated JSON array in b (cleared first). */
void sqlite_json_ids(struct buf *b, const int64_t *ids, size_t n);
/* The columns sqlite_entry_row reads, in its order. */
#define SQLITE_ENTRY_COLUMNS "uid, message_id, size, internal_date, flags, modseq, ends_crlf, kwbits"
void sqlite_entry_row(sqlite3_stmt *s, struct store_entry *e);
/* STORE_OK when the account exists, STORE_NOTFOUND when not. */
int sqlite_account_exists(struct sqlite_conn *w, int64_t account_id);
/* Step s to the end, appending each row to the growing array *v (*n used,
 * *cap allocated); resets s. STORE_OK, or the failure (named what). */
int sqlite_entry_rows(struct sqlite_conn *c, sqlite3_stmt *s, const char *what, struct store_entry **v, size_t *n,
		      size_t *cap);

/* sqlite-mailbox.c */
int sqlite_mailbox_create(struct store *base, int64_t account_id, const char *name, const char *special_use, int64_t *id_r);
int sqlite_mailbox_delete(struct store *base, int64_t account_id, const char *name);
int sqlite_mailbox_find(struct store *base, int64_t account_id, const char *name, struct store_mailbox *r);
int sqlite_mailbox_list(struct store *base, int64_t account_id, struct store_mailbox **r, size_t *n_r);
int sqlite_mailbox_get(struct store *base, int64_t account_id, int64_t mailbox_id, struct store_mailbox *r);
int sqlite_mailbox_modseq_get(struct store *base, int64_t account_id, int64_t mailbox_id, uint64_t *modseq_r);
/* The current HIGHESTMODSEQ of a mailbox on connection c, or STORE_NOTFOUND. */
int sqlite_mailbox_modseq(struct sqlite_conn *c, int64_t account_id, int64_t mailbox_id, int64_t *modseq_r);
int sqlite_mailbox_rename(struct store *base, int64_t account_id, const char *from, const char *to);
int sqlite_subscribe(struct store *base, int64_t account_id, const char *name, bool on);
int sqlite_subscriptions(struct store *base, int64_t account_id, char ***names_r, size_t *n_r);

/* sqlite-message.c */
int sqlite_deliver(struct store *base, const char *data, size_t len, const struct mime_info *info,
		   struct store_target *targets, size_t n_targets);
int sqlite_entries(struct store *base, int64_t account_id, int64_t mailbox_id, int64_t since, struct store_entry **r, size_t *n_r);
int sqlite_message_infos(struct store *base, int64_t account_id, int64_t mailbox_id, uint32_t uid_lo, uint32_t uid_hi,
			 size_t max, unsigned fields, struct store_info_row **r, size_t *n_r);
int sqlite_entries_range(struct store *base, int64_t account_id, int64_t mailbox_id, uint32_t uid_lo, uint32_t uid_hi,
			 struct store_entry **r, size_t *n_r);
int sqlite_kept_entries(struct store *base, int64_t account_id, int64_t mailbox_id, uint32_t uid_lo, uint32_t uid_hi,
			struct store_entry **r, size_t *n_r);
int sqlite_message_read(struct store *base, int64_t account_id, int64_t message_id, uint64_t offset, void *buf, size_t len, size_t *n_r);
int sqlite_expunge(struct store *base, int64_t account_id, int64_t mailbox_id, const uint32_t *uids, size_t n);
/* Runs on the writer: move the given (sorted) UIDs, tombstoning them in
 * `from`; map may be NULL. */
int sqlite_move_entries(struct sqlite_conn *w, int64_t account_id, int64_t from, int64_t to, const uint32_t *uids,
			size_t n_uids, struct store_uidmap *map, struct sqlite_changes *ch);
/* The present entries among sorted UIDs (an allocated array). */
int sqlite_entries_by_uids(struct sqlite_conn *c, int64_t account_id, int64_t mailbox_id, const uint32_t *uids,
			   size_t n_uids, struct store_entry **v_r, size_t *n_r);
int sqlite_move(struct store *base, int64_t account_id, int64_t from_mailbox_id, int64_t to_mailbox_id,
		const uint32_t *uids, size_t n, struct store_uidmap *map_r);
int sqlite_copy(struct store *base, int64_t account_id, int64_t from_mailbox_id, int64_t to_mailbox_id,
		const uint32_t *uids, size_t n, struct store_uidmap *map_r);
int sqlite_message_info(struct store *base, int64_t account_id, int64_t message_id, bool with_text,
			struct mime_info *r);
int sqlite_message_info_set(struct store *base, int64_t message_id, const struct mime_info *info);

/* sqlite-flags.c */
int sqlite_flags_update(struct store *base, int64_t account_id, int64_t mailbox_id, const uint32_t *uids, size_t n,
			const struct store_flag_change *chg, struct store_flag_result *r);
int sqlite_changes(struct store *base, int64_t account_id, int64_t mailbox_id, uint64_t since,
		   struct store_entry **r, size_t *n_r, uint32_t **vanished_r, size_t *n_vanished_r);

/* sqlite-search.c: SEARCH scans, using the FTS5 trigram index for candidates. */
int sqlite_search_scan(struct store *base, int64_t account_id, int64_t mailbox_id, const struct store_scan *scan,
		       store_scan_fn *fn, void *ctx);

/* sqlite-indexer.c: the index is filled off the delivery path, in short
 * writer jobs run by a background thread (store_search_index runs one now). */
int sqlite_search_index(struct store *base, size_t max, size_t *indexed_r, size_t *pending_r);
void sqlite_indexer_start(struct sqlite_store *st);
/* Stop the background thread (returns once it has exited); idempotent. */
void sqlite_indexer_stop(struct sqlite_store *st);

/* sqlite-queue.c: the outbound queue. */
int sqlite_queue_add(struct store *base, const struct store_queue_msg *m, const char *data, size_t len, int64_t *id_r);
int sqlite_queue_list(struct store *base, struct store_queue_msg **r, size_t *n_r);
int sqlite_queue_get(struct store *base, int64_t id, struct store_queue_msg *r);
int sqlite_queue_content(struct store *base, int64_t id, char **data_r, size_t *len_r);
int sqlite_queue_due(struct store *base, int64_t now, size_t max, int64_t **ids_r, size_t *n_r);
int sqlite_queue_update(struct store *base, int64_t id, const struct store_queue_update *u, size_t n);
int sqlite_queue_flush(struct store *base, int64_t id);
int sqlite_queue_delete(struct store *base, int64_t id);

static inline struct sqlite_store *sqlite_store_of(struct store *base)
{
	return (struct sqlite_store *)base;
}

#endif
