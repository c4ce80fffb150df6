/* The storage API: the only way protocol front-ends and the CLI reach accounts,
 * mailboxes and messages. A backend fills in struct store_ops; callers use the
 * store_* functions below and never see SQL. Every call may be made from any
 * thread; reads use a per-thread connection, writes go through the backend's
 * single writer, which batches concurrent writes into one commit and one fsync
 * (group commit). A write call returns only after its data is durable, but
 * for flag changes (store_flags_update), which are committed and seen by
 * every session at once but may wait for the next durable write to reach the
 * disk: a power loss may undo the last of them, nothing else.
 *
 * Conventions: functions return STORE_OK (0) or a negative enum store_status;
 * after STORE_ERROR, store_last_error() gives a human-readable reason for logs
 * (never shown to clients). Out-parameters end in _r.
 *
 * Message content is stored exactly once and shared by every mailbox entry that
 * refers to it. Stored content always has CRLF line endings: delivery turns bare
 * LF into CRLF (a lone CR is kept as is). */
#ifndef ROOST_STORE_H
#define ROOST_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mime/mime.h"

enum store_status {
	STORE_OK = 0,
	STORE_ERROR = -1,    /* I/O or internal failure; see *error_r */
	STORE_NOTFOUND = -2, /* no such account / mailbox / message */
	STORE_EXISTS = -3,   /* name already taken */
	STORE_INVALID = -4,  /* bad argument (empty or malformed name, ...) */
	STORE_LIMIT = -5,    /* a store limit would be crossed (keywords per mailbox) */
};

/* Keywords (user flags such as $Forwarded) a mailbox can hold; each entry
 * keeps them as a bit set over the mailbox's keyword list. */
#define STORE_MAX_KEYWORDS 64
#define STORE_KEYWORD_MAX 100 /* bytes of one keyword name */

/* System flags as bits (keywords are kept separately as text). */
enum store_flag {
	STORE_FLAG_SEEN = 1 << 0,
	STORE_FLAG_ANSWERED = 1 << 1,
	STORE_FLAG_FLAGGED = 1 << 2,
	STORE_FLAG_DELETED = 1 << 3,
	STORE_FLAG_DRAFT = 1 << 4,
};

struct store;

struct store_account {
	int64_t id;
	char *name;        /* login name, as stored (lookups are case-insensitive) */
	char *pwhash;      /* crypt(3) hash: $y$, $6$, $2b$ ... */
	char *apop_secret; /* plaintext-equivalent secret for APOP, or NULL when disabled */
	int64_t created;   /* unix time */
	int64_t pop3_first_login; /* unix time of the first POP3 login, 0 when never */
	uint32_t pop3_first_uid;  /* INBOX's UIDNEXT at that login: POP3 "only new" offers UIDs from here */
};

struct store_mailbox {
	int64_t id;
	int64_t account_id;
	char *name;        /* UTF-8, '/' separates levels; "INBOX" is always spelled so */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	char *special_use; /* "\\Trash" etc., or NULL */
	bool subscribed;
	uint32_t messages; /* entries currently in the mailbox */
	uint64_t bytes;    /* sum of their sizes */
	uint32_t unseen;   /* entries without \\Seen */
	uint32_t deleted;  /* entries with \\Deleted */
	/* The mailbox's keyword list (bit i of store_entry.keywords is keywords[i]);
	 * filled by mailbox_find and mailbox_get, empty from mailbox_list. */
	char **keywords;
	size_t n_keywords;
};

/* One entry of a mailbox as a POP3 maildrop or IMAP session sees it. */
struct store_entry {
	uint32_t uid;
	int64_t message_id; /* the shared content */
	uint64_t size;      /* octets of the stored (CRLF) content */
	bool ends_crlf;     /* the content is empty or ends with CRLF */
	int64_t internal_date; /* unix time the message arrived / was appended */
	uint32_t flags;     /* enum store_flag bits */
	uint64_t keywords;  /* bit i: the mailbox's keyword i */
	uint64_t modseq;
};

/* Where one copy of a delivered message goes. */
struct store_target {
	int64_t account_id;
	int64_t mailbox_id;
	uint32_t flags;        /* initial flags */
	const char *const *keywords; /* initial keywords by name (added to the mailbox's list) */
	size_t n_keywords;
	int64_t internal_date; /* 0 means now */
	uint32_t uid_r;        /* filled in: the UID assigned */
};

/* What FETCH reads for many messages at once (store_message_infos). */
#define STORE_INFO_BODY 1u          /* info.body */
#define STORE_INFO_BODYSTRUCTURE 2u /* info.bodystructure */
#define STORE_INFO_SECTIONS 4u      /* info.sections */
struct store_info_row {
	uint32_t uid;
	int64_t message_id;
	/* envelope always, sent_date and the others when any STORE_INFO_* is
	 * asked; envelope NULL when the message has not been parsed yet (use
	 * store_message_info). */
	struct mime_info info;
};

/* Where copied or moved messages went (UIDPLUS COPYUID): src[i] became dst[i],
 * in ascending source-UID order; source UIDs that were not present are left
 * out. Allocated arrays; free with store_uidmap_clear. */
struct store_uidmap {
	uint32_t uidvalidity; /* of the destination */
	uint32_t *src, *dst;
	size_t n;
};

enum store_flag_mode { STORE_FLAGS_SET, STORE_FLAGS_ADD, STORE_FLAGS_REMOVE };

/* A STORE command: set, add or remove system flags and keywords, optionally
 * only where the entry's modseq is <= unchangedsince (CONDSTORE, RFC 7162). */
struct store_flag_change {
	enum store_flag_mode mode;
	uint32_t flags;
	const char *const *keywords; /* names, compared case-insensitively */
	size_t n_keywords;
	uint64_t unchangedsince; /* 0: no condition */
};

struct store_flag_result {
	/* Every present entry among the UIDs after the update (changed or not),
	 * in UID order; the ones that changed carry modseq == this modseq. */
	struct store_entry *entries;
	size_t n_entries;
	uint64_t modseq;   /* the modseq given to changed entries (0 when none changed) */
	/* UIDs left unchanged because their modseq was > unchangedsince. */
	uint32_t *failed;
	size_t n_failed;
	/* The mailbox's keyword list after the update (new names appended). */
	char **keywords;
	size_t n_keywords;
};

/* Called after a commit changed a mailbox; runs on the thread that observed the
 * commit (writer thread, or the notification thread for changes made by another
 * process such as `roost deliver`). Must be quick and must not call the store. */
typedef void store_watch_fn(void *ctx, int64_t account_id, int64_t mailbox_id, uint64_t modseq);

/* SEARCH (see store_search_scan): what a scan hands over besides the entry. */
#define STORE_SCAN_SENT_DATE 1u /* the Date: header as unix time (mime_info.sent_date) */
#define STORE_SCAN_HEADERS 2u   /* mime_info.search_headers */
#define STORE_SCAN_BODY 4u      /* mime_info.search_body */

/* A condition on a message's search text that a backend's index may use to
 * leave entries out of a scan: NEEDLE holds when the needle (case-folded with
 * mime_casefold, like the stored text) occurs in the header text, the body
 * text or either (`where`); AND and OR combine two conditions. */
enum store_text_op { STORE_TEXT_NEEDLE, STORE_TEXT_AND, STORE_TEXT_OR };
struct store_text_filter {
	enum store_text_op op;
	unsigned where; /* NEEDLE: STORE_SCAN_HEADERS and/or STORE_SCAN_BODY */
	const char *needle;
	size_t len;
	const struct store_text_filter *left, *right; /* AND, OR */
};

struct store_scan {
	uint32_t uid_lo, uid_hi; /* only entries with lo <= UID <= hi */
	unsigned want;           /* STORE_SCAN_* */
	const struct store_text_filter *filter; /* NULL: every entry */
};

/* One entry of a scan. The pointers are valid during the callback only. */
struct store_scan_row {
	struct store_entry entry;
	/* false: the message has no stored parse yet (stored before the parser
	 * existed); what was wanted is missing here: ask store_message_info. */
	bool parsed;
	int64_t sent_date;
	const char *headers; /* not NUL-terminated; NULL unless wanted */
	size_t headers_len;
	const char *body;
	size_t body_len;
};

/* Called for each row in UID order; returns 0 to go on, anything else stops
 * the scan (store_search_scan returns it). It must not call the store. */
typedef int store_scan_fn(void *ctx, const struct store_scan_row *row);

/* The outbound queue (src/smtp/queue.c): a message waiting to be relayed,
 * its envelope and one row per recipient. */
enum store_queue_state {
	STORE_QUEUE_PENDING = 0, /* to be (re)tried at next_attempt */
	STORE_QUEUE_SENT = 1,    /* the next hop took it */
	STORE_QUEUE_FAILED = 2,  /* given up: permanent failure or expired */
};
/* store_queue_rcpt.dsn bits. */
#define STORE_QUEUE_DSN_OWED 1u    /* a notification is still owed to the sender */
#define STORE_QUEUE_DSN_DELAYED 2u /* a "delayed" notification was sent */

struct store_queue_rcpt {
	int64_t id;            /* unique in the store; store_queue_update names it */
	char *addr;
	unsigned notify;       /* SMTP_NOTIFY_* bits as given (0: not given) */
	char *orcpt;           /* "rfc822;addr" as given, or NULL */
	enum store_queue_state state;
	uint32_t attempts;
	int64_t next_attempt;  /* unix time */
	char *last_reply;      /* the last reply or reason, or NULL */
	unsigned dsn;          /* STORE_QUEUE_DSN_* */
};

struct store_queue_msg {
	int64_t id;
	char *sender;          /* "" for the null sender */
	char *envid;           /* or NULL */
	int ret;               /* enum smtp_ret */
	bool smtputf8;
	int body;              /* enum smtp_body */
	int64_t account_id;    /* the submitting account, 0 when none */
	int64_t created;       /* unix time */
	uint64_t size;         /* octets of the content */
	struct store_queue_rcpt *rcpts;
	size_t n_rcpts;
};

/* What became of one recipient (store_queue_update). */
struct store_queue_update {
	int64_t rcpt_id;
	enum store_queue_state state;
	int64_t next_attempt;  /* when state is PENDING */
	const char *reply;     /* NULL keeps the last one */
	bool attempted;        /* count one more attempt */
	unsigned dsn;          /* the new STORE_QUEUE_DSN_* bits */
};

struct store_ops {
	void (*close)(struct store *st);
	void (*watch)(struct store *st, store_watch_fn *fn, void *ctx);
	void (*pins_settle)(struct store *st);

	int (*account_create)(struct store *st, const char *name, const char *pwhash, int64_t *id_r);
	int (*account_delete)(struct store *st, const char *name);
	int (*account_find)(struct store *st, const char *name, struct store_account *r);
	int (*account_list)(struct store *st, char ***names_r, size_t *n_r);
	int (*account_set_password)(struct store *st, int64_t account_id, const char *pwhash, const char *apop_secret);
	int (*account_set_pop3_first_login)(struct store *st, int64_t account_id, int64_t when, uint32_t first_uid);
	int (*setting_get)(struct store *st, int64_t account_id, const char *key, char **value_r);
	int (*setting_set)(struct store *st, int64_t account_id, const char *key, const char *value);

	int (*mailbox_create)(struct store *st, int64_t account_id, const char *name, const char *special_use, int64_t *id_r);
	int (*mailbox_delete)(struct store *st, int64_t account_id, const char *name);
	int (*mailbox_find)(struct store *st, int64_t account_id, const char *name, struct store_mailbox *r);
	int (*mailbox_list)(struct store *st, int64_t account_id, struct store_mailbox **r, size_t *n_r);

	int (*mailbox_get)(struct store *st, int64_t account_id, int64_t mailbox_id, struct store_mailbox *r);
	int (*mailbox_modseq)(struct store *st, int64_t account_id, int64_t mailbox_id, uint64_t *modseq_r);
	int (*mailbox_rename)(struct store *st, int64_t account_id, const char *from, const char *to);
	int (*subscribe)(struct store *st, int64_t account_id, const char *name, bool on);
	int (*subscriptions)(struct store *st, int64_t account_id, char ***names_r, size_t *n_r);

	/* data is CRLF-normalised already; info may be NULL (parsed on first use). */
	int (*deliver)(struct store *st, const char *data, size_t len, const struct mime_info *info, struct store_target *targets, size_t n_targets);
	int (*entries)(struct store *st, int64_t account_id, int64_t mailbox_id, int64_t since, struct store_entry **r, size_t *n_r);
	int (*entries_range)(struct store *st, int64_t account_id, int64_t mailbox_id, uint32_t uid_lo, uint32_t uid_hi, struct store_entry **r, size_t *n_r);
	int (*message_read)(struct store *st, int64_t account_id, int64_t message_id, uint64_t offset, void *buf, size_t len, size_t *n_r);
	int (*kept_entries)(struct store *st, int64_t account_id, int64_t mailbox_id, uint32_t uid_lo, uint32_t uid_hi, struct store_entry **r, size_t *n_r);
	int (*expunge)(struct store *st, int64_t account_id, int64_t mailbox_id, const uint32_t *uids, size_t n);
	int (*move)(struct store *st, int64_t account_id, int64_t from_mailbox_id, int64_t to_mailbox_id, const uint32_t *uids, size_t n, struct store_uidmap *map_r);
	int (*copy)(struct store *st, int64_t account_id, int64_t from_mailbox_id, int64_t to_mailbox_id, const uint32_t *uids, size_t n, struct store_uidmap *map_r);
	int (*flags_update)(struct store *st, int64_t account_id, int64_t mailbox_id, const uint32_t *uids, size_t n, const struct store_flag_change *ch, struct store_flag_result *r);
	int (*changes)(struct store *st, int64_t account_id, int64_t mailbox_id, uint64_t since, struct store_entry **r, size_t *n_r, uint32_t **vanished_r, size_t *n_vanished_r);
	/* STORE_OK with r->envelope NULL when the message has no info kept yet
	 * (store_message_info then parses it and calls message_info_set). */
	int (*message_info)(struct store *st, int64_t account_id, int64_t message_id, bool with_text, struct mime_info *r);
	int (*message_info_set)(struct store *st, int64_t message_id, const struct mime_info *info);
	int (*message_infos)(struct store *st, int64_t account_id, int64_t mailbox_id, uint32_t uid_lo, uint32_t uid_hi, size_t max, unsigned fields, struct store_info_row **r, size_t *n_r);
	void (*release_thread)(struct store *st);
	int (*search_scan)(struct store *st, int64_t account_id, int64_t mailbox_id, const struct store_scan *scan, store_scan_fn *fn, void *ctx);
	int (*search_index)(struct store *st, size_t max, size_t *indexed_r, size_t *pending_r);

	int (*alias_add)(struct store *st, const char *address, const char *target);
	int (*alias_delete)(struct store *st, const char *address, const char *target);
	int (*alias_list)(struct store *st, char ***addresses_r, char ***targets_r, size_t *n_r);
	int (*alias_targets)(struct store *st, const char *address, char ***targets_r, size_t *n_r);
	int (*domain_known)(struct store *st, const char *domain);

	int (*queue_add)(struct store *st, const struct store_queue_msg *m, const char *data, size_t len, int64_t *id_r);
	int (*queue_list)(struct store *st, struct store_queue_msg **r, size_t *n_r);
	int (*queue_get)(struct store *st, int64_t id, struct store_queue_msg *r);
	int (*queue_content)(struct store *st, int64_t id, char **data_r, size_t *len_r);
	int (*queue_due)(struct store *st, int64_t now, size_t max, int64_t **ids_r, size_t *n_r);
	int (*queue_update)(struct store *st, int64_t id, const struct store_queue_update *u, size_t n);
	int (*queue_flush)(struct store *st, int64_t id);
	int (*queue_delete)(struct store *st, int64_t id);
};

struct store {
	const struct store_ops *ops;
};

/* Open (creating and migrating as needed) the embedded SQLite store in dir.
 * group_commit=false makes every write its own transaction and fsync (for the
 * benchmark's comparison). */
int store_open_sqlite(const char *dir, bool group_commit, struct store **st_r, const char **error_r);

/* Listen for commits made by other processes on the same store (e.g. `roost
 * deliver`) and pass them to the watchers. Only the server calls this. */
int store_listen_external(struct store *st, const char **error_r);

void store_snapshots_drop(struct store *st);
static inline void store_close(struct store *st)
{
	store_snapshots_drop(st);
	st->ops->close(st);
}

/* Register a watcher; all watchers must be registered before concurrent use. */
static inline void store_watch(struct store *st, store_watch_fn *fn, void *ctx) { st->ops->watch(st, fn, ctx); }

/* Accounts. account_create also creates INBOX and the special-use folders
 * Drafts, Sent, Trash, Junk and Archive. Names are matched case-insensitively. */
static inline int store_account_create(struct store *st, const char *name, const char *pwhash, int64_t *id_r)
{ return st->ops->account_create(st, name, pwhash, id_r); }
static inline int store_account_delete(struct store *st, const char *name)
{ return st->ops->account_delete(st, name); }
/* Fills r with allocated strings; release them with store_account_clear. */
static inline int store_account_find(struct store *st, const char *name, struct store_account *r)
{ return st->ops->account_find(st, name, r); }
/* An allocated array of allocated names, sorted; free with store_strings_free. */
static inline int store_account_list(struct store *st, char ***names_r, size_t *n_r)
{ return st->ops->account_list(st, names_r, n_r); }
/* apop_secret NULL disables APOP for the account. */
static inline int store_account_set_password(struct store *st, int64_t account_id, const char *pwhash, const char *apop_secret)
{ return st->ops->account_set_password(st, account_id, pwhash, apop_secret); }
/* Record the first POP3 login: its time and INBOX's UIDNEXT at that moment. */
static inline int store_account_set_pop3_first_login(struct store *st, int64_t account_id, int64_t when, uint32_t first_uid)
{ return st->ops->account_set_pop3_first_login(st, account_id, when, first_uid); }
/* Per-account settings that override config keys (e.g. "pop3.delete_mode").
 * setting_get returns STORE_NOTFOUND when the account has no value; value NULL
 * in setting_set removes the setting. */
static inline int store_setting_get(struct store *st, int64_t account_id, const char *key, char **value_r)
{ return st->ops->setting_get(st, account_id, key, value_r); }
static inline int store_setting_set(struct store *st, int64_t account_id, const char *key, const char *value)
{ return st->ops->setting_set(st, account_id, key, value); }

/* Mailboxes. Names: non-empty UTF-8, no empty levels, no control characters;
 * "INBOX" in any case means INBOX. INBOX cannot be deleted. Deleting a mailbox
 * expunges its entries (its subscription stays). A created mailbox starts
 * subscribed, as every mailbox did before subscriptions were kept apart; a
 * parent level need not exist as a mailbox of its own. */
static inline int store_mailbox_create(struct store *st, int64_t account_id, const char *name, const char *special_use, int64_t *id_r)
{ return st->ops->mailbox_create(st, account_id, name, special_use, id_r); }
static inline int store_mailbox_delete(struct store *st, int64_t account_id, const char *name)
{ return st->ops->mailbox_delete(st, account_id, name); }
static inline int store_mailbox_find(struct store *st, int64_t account_id, const char *name, struct store_mailbox *r)
{ return st->ops->mailbox_find(st, account_id, name, r); }
/* An allocated array sorted by name; free with store_mailboxes_free. */
static inline int store_mailbox_list(struct store *st, int64_t account_id, struct store_mailbox **r, size_t *n_r)
{ return st->ops->mailbox_list(st, account_id, r, n_r); }

/* A mailbox by id (a session keeps the id; another session may rename it). */
static inline int store_mailbox_get(struct store *st, int64_t account_id, int64_t mailbox_id, struct store_mailbox *r)
{ return st->ops->mailbox_get(st, account_id, mailbox_id, r); }
/* Only the mailbox's HIGHESTMODSEQ (STORE_NOTFOUND when it is gone): what a
 * session asks before every answer, so it is one lookup and nothing more. */
static inline int store_mailbox_modseq(struct store *st, int64_t account_id, int64_t mailbox_id, uint64_t *modseq_r)
{ return st->ops->mailbox_modseq(st, account_id, mailbox_id, modseq_r); }
/* Rename a mailbox and every mailbox below it ("a" -> "b" also moves "a/x" to
 * "b/x"), keeping ids, UIDVALIDITY, UIDs and flags; parents of the new name
 * are not created (names are strings; a missing level is a \Noselect parent
 * to LIST). Subscriptions are names and are left as they are (RFC 9051 never
 * drops a subscription on the server's own). Renaming INBOX moves its
 * messages into a new mailbox `to` (fresh UIDVALIDITY, UIDs from 1,
 * subscribed like a created one) and leaves INBOX, empty, and the mailboxes
 * below it in place (RFC 9051 6.3.6). STORE_EXISTS when `to` (or a child's
 * new name) exists, STORE_NOTFOUND when `from` does not, STORE_INVALID for a
 * bad name, a rename into itself or below itself, or a child name that would
 * grow too long. */
static inline int store_mailbox_rename(struct store *st, int64_t account_id, const char *from, const char *to)
{ return st->ops->mailbox_rename(st, account_id, from, to); }
/* Subscriptions are names, kept even for mailboxes that do not exist
 * (RFC 9051 SUBSCRIBE); store_mailbox.subscribed reflects them. Subscribing
 * twice is fine; unsubscribing a name that is not subscribed is
 * STORE_NOTFOUND. */
static inline int store_subscribe(struct store *st, int64_t account_id, const char *name, bool on)
{ return st->ops->subscribe(st, account_id, name, on); }
/* An allocated sorted array of allocated names; free with store_strings_free. */
static inline int store_subscriptions(struct store *st, int64_t account_id, char ***names_r, size_t *n_r)
{ return st->ops->subscriptions(st, account_id, names_r, n_r); }

/* Store one message (content kept once) into every target, assigning each a UID
 * (targets[i].uid_r). Durable before it returns STORE_OK. All targets or none.
 * The message is parsed once here (src/mime) and what FETCH and SEARCH need is
 * kept with it. STORE_INVALID for a malformed keyword, STORE_LIMIT when a
 * target mailbox has no room for a new keyword. */
int store_deliver(struct store *st, const char *data, size_t len, struct store_target *targets, size_t n_targets);
/* The entries of a mailbox in UID order, an allocated array (free()); when since
 * is non-zero only entries with internal_date >= since. */
static inline int store_entries(struct store *st, int64_t account_id, int64_t mailbox_id, int64_t since, struct store_entry **r, size_t *n_r)
{ return st->ops->entries(st, account_id, mailbox_id, since, r, n_r); }
/* The entries with uid_lo <= UID <= uid_hi, in UID order (free()). */
static inline int store_entries_range(struct store *st, int64_t account_id, int64_t mailbox_id, uint32_t uid_lo, uint32_t uid_hi, struct store_entry **r, size_t *n_r)
{ return st->ops->entries_range(st, account_id, mailbox_id, uid_lo, uid_hi, r, n_r); }
/* Read up to len bytes of stored content from offset; *n_r < len only at the end.
 * Consecutive reads on one thread share a snapshot (one read transaction), so
 * content expunged meanwhile may still be read until the thread makes another
 * kind of call or store_release_thread(), or for at most 5 seconds. */
static inline int store_message_read(struct store *st, int64_t account_id, int64_t message_id, uint64_t offset, void *buf, size_t len, size_t *n_r)
{ return st->ops->message_read(st, account_id, message_id, offset, buf, len, n_r); }
/* Remove the given UIDs atomically (UIDs not present are ignored), leaving
 * tombstones with a new modseq; content no entry refers to any more is freed
 * once no pin needs it (store_pin). */
static inline int store_expunge(struct store *st, int64_t account_id, int64_t mailbox_id, const uint32_t *uids, size_t n)
{ return st->ops->expunge(st, account_id, mailbox_id, uids, n); }
/* Move the given UIDs to another mailbox of the same account atomically (new
 * UIDs there in ascending source-UID order, flags and keywords kept,
 * tombstones here); map_r (may be NULL) says where they went. STORE_LIMIT when
 * the target has no room for the keywords they carry. */
static inline int store_move(struct store *st, int64_t account_id, int64_t from_mailbox_id, int64_t to_mailbox_id, const uint32_t *uids, size_t n, struct store_uidmap *map_r)
{ return st->ops->move(st, account_id, from_mailbox_id, to_mailbox_id, uids, n, map_r); }
/* Copy the given UIDs (content shared, flags and keywords kept) into another
 * mailbox of the same account; map_r (may be NULL) says where they went. */
static inline int store_copy(struct store *st, int64_t account_id, int64_t from_mailbox_id, int64_t to_mailbox_id, const uint32_t *uids, size_t n, struct store_uidmap *map_r)
{ return st->ops->copy(st, account_id, from_mailbox_id, to_mailbox_id, uids, n, map_r); }
/* Change flags of the given UIDs (absent UIDs ignored) in one transaction
 * (committed, not necessarily on disk yet: see the top of this file); the
 * changed entries share one new modseq, entries left as they were keep theirs
 * (and the mailbox its HIGHESTMODSEQ when nothing changed). SET and ADD add
 * keyword names the mailbox has not had to its list, even when no entry ends
 * up changed. STORE_LIMIT when new keywords would pass STORE_MAX_KEYWORDS,
 * STORE_INVALID for a malformed keyword. Free the result with
 * store_flag_result_clear. */
static inline int store_flags_update(struct store *st, int64_t account_id, int64_t mailbox_id, const uint32_t *uids, size_t n, const struct store_flag_change *ch, struct store_flag_result *r)
{ return st->ops->flags_update(st, account_id, mailbox_id, uids, n, ch, r); }
/* What changed after modseq `since`: entries with a greater modseq (new or
 * with changed flags) in UID order, and the UIDs expunged (tombstones with a
 * greater modseq) in ascending order. Both allocated (free()). A UID both
 * added and expunged after `since` is only among the expunged. */
static inline int store_changes(struct store *st, int64_t account_id, int64_t mailbox_id, uint64_t since, struct store_entry **r, size_t *n_r, uint32_t **vanished_r, size_t *n_vanished_r)
{ return st->ops->changes(st, account_id, mailbox_id, since, r, n_r, vanished_r, n_vanished_r); }
/* What the parser found at delivery (ENVELOPE, BODYSTRUCTURE, sections, and
 * with_text the SEARCH text). Messages stored before the parser existed are
 * parsed on first use and the result kept. Free with mime_info_clear. */
int store_message_info(struct store *st, int64_t account_id, int64_t message_id, bool with_text, struct mime_info *r);
/* The kept info of up to max entries with uid_lo <= UID <= uid_hi, in UID
 * order, in one read: FETCH ENVELOPE/BODYSTRUCTURE of a whole mailbox costs a
 * row each, not a transaction each. Free with store_info_rows_free. */
static inline int store_message_infos(struct store *st, int64_t account_id, int64_t mailbox_id, uint32_t uid_lo, uint32_t uid_hi, size_t max, unsigned fields, struct store_info_row **r, size_t *n_r)
{ return st->ops->message_infos(st, account_id, mailbox_id, uid_lo, uid_hi, max, fields, r, n_r); }
void store_info_rows_free(struct store_info_row *r, size_t n);

/* A mailbox's entries as of (at least) modseq, shared and read-only
 * (store-snapshot.c). Large mailboxes' snapshots are kept and brought up to
 * date from store_changes(), so SELECT and FETCH FLAGS of 100,000 messages
 * read memory instead of every row. */
struct store_snapshot {
	int64_t account_id, mailbox_id;
	uint64_t modseq;
	struct store_entry *e; /* UID order */
	size_t n;
	atomic_int refs;
};
/* modseq: the mailbox's HIGHESTMODSEQ as the caller just read it (0: read
 * it here). Release with store_snapshot_put. */
int store_snapshot_get(struct store *st, int64_t account_id, int64_t mailbox_id, uint64_t modseq,
		       struct store_snapshot **r);
void store_snapshot_put(struct store_snapshot *s);

/* A pin (store-pin.c): a session that numbers a mailbox's messages for a
 * client holds one at the modseq up to which it has told the client every
 * expunge. While a pin on a mailbox is below an expunge's modseq, the
 * expunged entries stay readable for it: store_kept_entries() gives their
 * entries and store_message_read/store_message_info their content, as if
 * they were still there (RFC 2180 4.1). Backends free them once every pin
 * has passed (store_pins_horizon). Pins live in this process's memory; the
 * struct belongs to the caller (embed it), one thread at a time.
 * store_pin_add registers p for an account with modseq 0 (keep everything),
 * before the caller reads the mailbox, so that nothing it is about to see
 * can be freed in between; mailbox_id 0 pins every mailbox of the account
 * (while the caller does not know yet which one). store_pin_set says which
 * mailbox and up to where the client knows (UINT64_MAX once the caller
 * will read no more, e.g. a POP3 session applying its deletions);
 * store_pin_remove when done (harmless on a pin never added).
 * store_pin_exempt names the UIDs (ascending, the caller's array, until it
 * clears them with n = 0) of the holder's own expunge or move, which it
 * reports itself before its command ends: the pin does not hold those back,
 * and still holds back what others expunge meanwhile. */
struct store_pin {
	struct store *st;
	int64_t account_id, mailbox_id;
	uint64_t modseq;
	bool active;
	const uint32_t *exempt; /* store_pin_exempt, in mailbox_id */
	size_t n_exempt;
	struct store_pin *prev, *next;
};
void store_pin_add(struct store *st, struct store_pin *p, int64_t account_id, int64_t mailbox_id);
void store_pin_set(struct store_pin *p, int64_t mailbox_id, uint64_t modseq);
void store_pin_remove(struct store_pin *p);
void store_pin_exempt(struct store_pin *p, const uint32_t *uids, size_t n);
/* A backend decides what to keep while it runs an expunge, before that
 * commits: pins_settle returns once every write it had begun has ended, so
 * that a pin added (or lowered) before is seen by every write still to come.
 * store_pin_add and a lowering store_pin_set call it. */
/* For backends: the lowest pin on a mailbox, UINT64_MAX when none; with uids
 * (n > 0), those being expunged, leaving out the pins that exempt them all. */
uint64_t store_pins_horizon(struct store *st, int64_t account_id, int64_t mailbox_id, const uint32_t *uids, size_t n);
/* Entries expunged from a mailbox whose content is still kept for a pin,
 * with uid_lo <= UID <= uid_hi, in UID order (free()); flags as they were
 * when the entry was expunged. */
static inline int store_kept_entries(struct store *st, int64_t account_id, int64_t mailbox_id, uint32_t uid_lo, uint32_t uid_hi, struct store_entry **r, size_t *n_r)
{ return st->ops->kept_entries(st, account_id, mailbox_id, uid_lo, uid_hi, r, n_r); }

/* The calling thread is about to sleep: let go of what it keeps between
 * calls (the snapshot message_read streams from), so that nothing idle holds
 * back the database. */
static inline void store_release_thread(struct store *st) { st->ops->release_thread(st); }

/* SEARCH: stream the entries of a mailbox with what `scan` wants, in UID
 * order, in one read snapshot, without parsing anything. With a filter the
 * backend may leave out entries whose text cannot satisfy it (an index says
 * so) and may hand over others that do not: the caller checks every row
 * itself, so the answer stays exact, and entries the index has not seen yet
 * are always handed over. */
static inline int store_search_scan(struct store *st, int64_t account_id, int64_t mailbox_id, const struct store_scan *scan, store_scan_fn *fn, void *ctx)
{ return st->ops->search_scan(st, account_id, mailbox_id, scan, fn, ctx); }
/* Bring the search index up to date by at most `max` messages now (the
 * backend also does it in the background). *indexed_r: messages indexed or
 * dropped from the index; *pending_r: messages still waiting. Either may be
 * NULL. */
static inline int store_search_index(struct store *st, size_t max, size_t *indexed_r, size_t *pending_r)
{ return st->ops->search_index(st, max, indexed_r, pending_r); }

/* Aliases (SMTP/LMTP delivery): an address, "local@domain" or "@domain" for
 * the domain's catch-all, delivers to one or more accounts, named by login
 * name; both compare without regard to ASCII case. alias_add: STORE_EXISTS
 * when that pair is there already, STORE_INVALID for a malformed address or
 * target (the store does not check that the target account exists).
 * alias_delete with target NULL removes every target of the address;
 * STORE_NOTFOUND when nothing matched. */
static inline int store_alias_add(struct store *st, const char *address, const char *target)
{ return st->ops->alias_add(st, address, target); }
static inline int store_alias_delete(struct store *st, const char *address, const char *target)
{ return st->ops->alias_delete(st, address, target); }
/* Every pair, sorted by address then target: two allocated arrays of equal
 * length (free each with store_strings_free). */
static inline int store_alias_list(struct store *st, char ***addresses_r, char ***targets_r, size_t *n_r)
{ return st->ops->alias_list(st, addresses_r, targets_r, n_r); }
/* The targets of one address (sorted; store_strings_free); STORE_NOTFOUND
 * when the address is no alias. */
static inline int store_alias_targets(struct store *st, const char *address, char ***targets_r, size_t *n_r)
{ return st->ops->alias_targets(st, address, targets_r, n_r); }
/* STORE_OK when an account or an alias is named in domain ("x@domain"),
 * STORE_NOTFOUND when none is. */
static inline int store_domain_known(struct store *st, const char *domain)
{ return st->ops->domain_known(st, domain); }

/* The outbound queue. queue_add stores a message with its envelope and
 * recipients (m->rcpts: addr, notify, orcpt, next_attempt; the rest starts
 * at zero), durable before it returns; STORE_INVALID without recipients.
 * queue_list gives every queued message with its recipients, oldest first;
 * queue_get one (STORE_NOTFOUND when it is gone). Free with
 * store_queue_msg_clear / store_queue_msgs_free. queue_content hands back
 * the content (malloc'd). queue_due: ids (free()) of at most max messages,
 * oldest first, with a pending recipient due at `now` or a notification
 * owed. queue_update records what happened to some recipients of message
 * id in one durable write; a message with nothing pending and nothing owed
 * is removed in the same write. queue_flush makes every pending recipient
 * of message id (0: of every message) due now; queue_delete removes a
 * message; both STORE_NOTFOUND when there is no such message. */
static inline int store_queue_add(struct store *st, const struct store_queue_msg *m, const char *data, size_t len, int64_t *id_r)
{ return st->ops->queue_add(st, m, data, len, id_r); }
static inline int store_queue_list(struct store *st, struct store_queue_msg **r, size_t *n_r)
{ return st->ops->queue_list(st, r, n_r); }
static inline int store_queue_get(struct store *st, int64_t id, struct store_queue_msg *r)
{ return st->ops->queue_get(st, id, r); }
static inline int store_queue_content(struct store *st, int64_t id, char **data_r, size_t *len_r)
{ return st->ops->queue_content(st, id, data_r, len_r); }
static inline int store_queue_due(struct store *st, int64_t now, size_t max, int64_t **ids_r, size_t *n_r)
{ return st->ops->queue_due(st, now, max, ids_r, n_r); }
static inline int store_queue_update(struct store *st, int64_t id, const struct store_queue_update *u, size_t n)
{ return st->ops->queue_update(st, id, u, n); }
static inline int store_queue_flush(struct store *st, int64_t id)
{ return st->ops->queue_flush(st, id); }
static inline int store_queue_delete(struct store *st, int64_t id)
{ return st->ops->queue_delete(st, id); }
void store_queue_msg_clear(struct store_queue_msg *m);
void store_queue_msgs_free(struct store_queue_msg *m, size_t n);

void store_account_clear(struct store_account *a);
void store_uidmap_clear(struct store_uidmap *m);
void store_flag_result_clear(struct store_flag_result *r);
void store_mailbox_clear(struct store_mailbox *m);
void store_mailboxes_free(struct store_mailbox *m, size_t n);
void store_strings_free(char **s, size_t n);

/* The error text of the last STORE_ERROR on this thread (for callers that passed
 * no error_r). */
const char *store_last_error(void);

#endif
