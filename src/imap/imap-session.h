/* Internals shared by the files of the IMAP session (src/imap/imap-*.c): the
 * session, the selected mailbox as the client sees it (its "view"), the
 * command table, and helpers for responses, sequence sets and mailbox names.
 * One file per command family registers its handlers in imap.c's table.
 *
 * Threading: a session is only ever touched by the thread that holds its
 * connection (see net/conn.h), so nothing here locks, except the IDLE
 * registry in imap-idle.c, which the store's watcher thread reads. */
#ifndef ROOST_IMAP_SESSION_H
#define ROOST_IMAP_SESSION_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "imap/imap-parse.h"
#include "imap/imap-uids.h"
#include "net/conn.h"
#include "store/store.h"

#define IMAP_MAX_BAD_COMMANDS 20 /* consecutive BAD answers before we hang up */
#define IMAP_NOTAUTH_MAX_LITERAL 8192 /* literal bytes a client may send before logging in */
#define IMAP_APPENDLIMIT IMAP_MAX_LITERAL

enum imap_state { IS_NOTAUTH, IS_AUTH, IS_SELECTED, IS_LOGOUT };
#define IN_NOTAUTH (1u << IS_NOTAUTH)
#define IN_AUTH (1u << IS_AUTH)
#define IN_SELECTED (1u << IS_SELECTED)
#define IN_ANY (IN_NOTAUTH | IN_AUTH | IN_SELECTED)
#define IN_LOGGED (IN_AUTH | IN_SELECTED)

/* How frame() reads input. */
enum imap_frame_mode {
	FM_COMMAND, /* IMAP commands through the parser */
	FM_LINE,    /* one raw line: IDLE's DONE, an AUTHENTICATE response */
};

/* The selected mailbox as this session has reported it: sequence number i+1
 * is the UID at index i of uids. Everything up to `modseq` has been told to the client, except
 * expunges kept in `pending` because the command running could not report
 * them (RFC 9051 section 7.5.1). */
struct imap_view {
	int64_t mailbox_id;
	char *name;          /* UTF-8, as selected */
	bool readonly;       /* EXAMINE */
	uint32_t uidvalidity;
	uint64_t modseq;     /* changes up to here are known to the client */
	struct imap_uids uids; /* sequence number i+1 is imap_uids_at(&uids, i); uids.n messages */
	uint32_t *pending;   /* expunged in the store, still numbered here (ascending) */
	size_t n_pending;
	char **keywords;     /* the keyword list last announced with FLAGS */
	size_t n_keywords;
	uint32_t uidnext_seen; /* every UID below this is known (EXISTS reported) */
};

struct imap_session;
struct imap_fetch; /* a FETCH in progress (imap-fetch.c) */

/* A command handler. It writes untagged data and ends with imap_ok/no/bad
 * (which also report pending mailbox changes), or returns RUN_MORE after
 * saving its position in the session when the output is full; it is then
 * called again through s->resume. */
typedef enum run_result imap_cmd_fn(struct imap_session *s, const struct imap_command *cmd);

#define CMDF_UID 1u        /* exists as "UID <name>" too */
#define CMDF_NO_EXPUNGE 2u /* may not report expunges (FETCH, STORE, SEARCH by number) */
#define CMDF_ONLY_UID 4u   /* only as "UID <name>" (UID EXPUNGE) */

struct imap_cmd_def {
	const char *name;
	imap_cmd_fn *fn;
	unsigned states; /* IN_* where it is allowed */
	unsigned flags;
};

struct imap_session {
	struct conn *c;
	struct store *store;
	char *sid;
	enum imap_state state;
	struct imap_parser *parser;
	enum imap_frame_mode mode;
	bool pending;                     /* frame() has a complete event for run() */
	enum imap_parse_status pending_status;
	unsigned bad_commands;

	/* The command being run. */
	const char *tag;                  /* valid while the command runs */
	bool uid;                         /* "UID <cmd>" */
	const struct imap_cmd_def *def;
	enum run_result (*resume)(struct imap_session *s); /* after RUN_MORE */
	uint64_t own_modseq;              /* this command's own flag changes (already reported) */

	/* ENABLE / CAPABILITY state. */
	bool rev2;       /* ENABLE IMAP4rev2 */
	bool utf8;       /* ENABLE UTF8=ACCEPT (or rev2): mailbox names in UTF-8 */
	bool condstore;  /* a CONDSTORE-enabling command was seen */
	bool qresync;    /* ENABLE QRESYNC */

	/* Logged in. */
	int64_t account_id;
	char *user;

	/* A command that waits for raw lines (FM_LINE) keeps its tag here:
	 * AUTHENTICATE for the client's next response, IDLE for DONE. */
	char line_tag[IMAP_MAX_TAG + 1];
	int sasl;        /* 0 none, else the mechanism step (imap-auth.c) */
	char *sasl_user;
	bool idling;

	struct imap_view *view; /* IS_SELECTED */
	/* What the client has been told of the selected mailbox: expunged
	 * messages stay readable until it has (store_pin, imap-view.c). */
	struct store_pin pin;
	struct imap_fetch *fetch;

	/* SEARCHRES (RFC 5182): the UIDs saved by SEARCH ... RETURN (SAVE). */
	uint32_t *saved;
	size_t n_saved;
	bool saved_valid;

	/* IDLE registry (imap-idle.c), under its lock. */
	struct imap_session *idle_next;
	int64_t idle_mailbox;
};

/* ---- imap.c: responses ---- */
/* Tagged completion. The mailbox changes the command may report are written
 * first (untagged), then "TAG OK/NO/BAD text". text may start with a
 * [RESPONSE-CODE]. Return their result from a handler. */
enum run_result imap_ok(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
enum run_result imap_no(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
enum run_result imap_bad(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A store failure: logs it and answers NO [SERVERBUG]/[UNAVAILABLE]. */
enum run_result imap_store_fail(struct imap_session *s, int rc, const char *what);
/* Write s as an IMAP string: quoted when it can be, else a literal (8-bit text
 * only as a literal unless utf8 is allowed and it is valid UTF-8). */
void imap_write_string(struct conn *c, const char *str, size_t len, bool utf8_ok);
/* NIL for NULL. */
void imap_write_nstring(struct conn *c, const char *str, bool utf8_ok);
/* A mailbox name for this client: modified UTF-7 unless UTF-8 was enabled. */
void imap_write_mailbox(struct imap_session *s, const char *utf8_name);
/* The client's mailbox-name argument decoded to the stored UTF-8 form
 * (modified UTF-7 unless UTF-8 was enabled; INBOX in any case spelled INBOX).
 * Returns NULL and sets *error_r for an invalid name. Allocated. */
char *imap_mailbox_arg(struct imap_session *s, const struct imap_arg *a, const char **error_r);
/* A string argument (atom, quoted, literal); NULL for lists/sections/NIL. */
const char *imap_arg_string(const struct imap_arg *a);
/* FLAGS (...) of an entry with the view's keyword names. */
void imap_write_flags(struct imap_session *s, uint32_t flags, uint64_t keywords);
/* Parse a flag list (or single flag) into system flags and keywords.
 * allow_recent: accept \Recent (ignored). Returns -1 with *error_r. The
 * keyword pointers point into the arguments. */
int imap_parse_flags(const struct imap_arg *a, uint32_t *flags_r, const char ***keywords_r, size_t *n_keywords_r,
		     const char **error_r);
void imap_log_safe(const char *in, char *out, size_t cap);

/* ---- imap-view.c: the selected mailbox ---- */
/* Pin the account's mailboxes before SELECT/EXAMINE reads the one to open,
 * so that nothing the view is about to number can be freed meanwhile. */
void imap_view_pin(struct imap_session *s);
/* Open mailbox_id as the view (SELECT/EXAMINE); writes nothing.
 * *first_unseen_r: sequence number of the first message without \Seen, 0 if none. */
int imap_view_open(struct imap_session *s, const struct store_mailbox *mb, bool readonly, uint32_t *first_unseen_r);
void imap_view_close(struct imap_session *s);
/* Report what changed since the view's modseq as untagged responses:
 * EXISTS, FETCH FLAGS (with UID and MODSEQ as enabled), FLAGS when new
 * keywords appeared, EXPUNGE/VANISHED when allow_expunge (else they are kept
 * pending). skip_modseq: changes with exactly this modseq were made by this
 * session and already reported (0: none). Returns -1 when the mailbox is
 * gone (the caller says BYE). */
int imap_view_sync(struct imap_session *s, bool allow_expunge, uint64_t skip_modseq);
/* Adopt the mailbox's keyword list (*kw, *n) when it has grown, taking it
 * over (*kw becomes NULL), and announce it with FLAGS/PERMANENTFLAGS. */
void imap_view_take_keywords(struct imap_session *s, char ***kw, size_t *n);
/* "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)]" for the view. */
void imap_write_flag_lists(struct imap_session *s);
/* Sequence number (1-based) of a UID in the view, 0 when absent. */
uint32_t imap_view_seq(const struct imap_view *v, uint32_t uid);
/* Bit index of a keyword in the view's list, or -1. */
int imap_view_keyword(const struct imap_view *v, const char *name);

/* A sequence set (RFC 9051 sequence-set, or "$") resolved against the view:
 * the selected sequence numbers, ascending, without duplicates. With uid the
 * set is of UIDs (only present ones are selected; "*" is the largest UID).
 * Returns -1 with *error_r for a malformed set (BAD). An empty mailbox makes
 * "*" select nothing. Allocated array (free()). */
int imap_seqset_resolve(struct imap_session *s, const char *set, bool uid, uint32_t **seqs_r, size_t *n_r,
			const char **error_r);
/* Parse a sequence set into ascending merged ranges, "*" as star. Returns -1 on
 * bad syntax. */
struct imap_range { uint32_t lo, hi; };
int imap_seqset_parse(const char *set, uint32_t star, struct imap_range **r, size_t *n_r);
/* Write ranges of ascending numbers in compact sequence-set form ("1:3,7"). */
void imap_write_set(struct buf *out, const uint32_t *v, size_t n);

/* ---- the command families; each file defines its handlers ---- */
imap_cmd_fn imap_cmd_capability, imap_cmd_noop, imap_cmd_logout, imap_cmd_starttls, imap_cmd_login,
	imap_cmd_authenticate, imap_cmd_enable, imap_cmd_id;                                 /* imap-auth.c */
imap_cmd_fn imap_cmd_select, imap_cmd_close, imap_cmd_unselect, imap_cmd_expunge, imap_cmd_check; /* imap-select.c */
imap_cmd_fn imap_cmd_create, imap_cmd_delete, imap_cmd_rename, imap_cmd_subscribe, imap_cmd_unsubscribe,
	imap_cmd_namespace, imap_cmd_status;                                                /* imap-mailbox.c */
imap_cmd_fn imap_cmd_list, imap_cmd_lsub;                                                /* imap-list.c */
imap_cmd_fn imap_cmd_append;                                                             /* imap-append.c */
imap_cmd_fn imap_cmd_fetch;                                                              /* imap-fetch.c */
imap_cmd_fn imap_cmd_store, imap_cmd_copy, imap_cmd_move;                                /* imap-store.c */
imap_cmd_fn imap_cmd_search;                                                             /* imap-search.c */
imap_cmd_fn imap_cmd_idle;                                                               /* imap-idle.c */

/* imap-auth.c: an AUTHENTICATE response line or "*" (FM_LINE). */
enum run_result imap_auth_continue(struct imap_session *s, const char *line, size_t len);
/* The CAPABILITY list for the session's state (no leading "* "). */
void imap_capabilities(struct imap_session *s, struct buf *out);
/* Keep the running command's tag in line_tag and stop treating the parsed
 * command as pending: the command goes on with raw lines (FM_LINE). */
void imap_wait_lines(struct imap_session *s);

/* imap-idle.c */
enum run_result imap_idle_line(struct imap_session *s, const char *line, size_t len);
enum run_result imap_idle_wake(struct imap_session *s);
void imap_idle_leave(struct imap_session *s);

/* imap-fetch.c */
void imap_fetch_free(struct imap_fetch *f);

/* imap-mailbox.c: STATUS items, shared with LIST-STATUS (RFC 5819). */
#define IMAP_STATUS_MESSAGES 1u
#define IMAP_STATUS_UIDNEXT 2u
#define IMAP_STATUS_UIDVALIDITY 4u
#define IMAP_STATUS_UNSEEN 8u
#define IMAP_STATUS_DELETED 16u
#define IMAP_STATUS_SIZE 32u
#define IMAP_STATUS_HIGHESTMODSEQ 64u
#define IMAP_STATUS_RECENT 128u
/* Parse a STATUS item list "(MESSAGES UNSEEN ...)". Returns -1 with *error_r. */
int imap_status_items(struct imap_session *s, const struct imap_arg *list, unsigned *items_r, const char **error_r);
/* "* STATUS name (...)" from a mailbox's counters. */
void imap_write_status(struct imap_session *s, const struct store_mailbox *mb, unsigned items);

/* imap-list.c: LIST wildcard patterns ('*' matches anything, '%' anything but
 * the delimiter '/'). Matching is linear in the name's length for any
 * pattern (a bit-parallel automaton, never backtracking). */
#define IMAP_LIST_PATTERN_MAX 1024 /* bytes of one canonical pattern */
#define IMAP_LIST_MAX_PATTERNS 32  /* patterns in one LIST-EXTENDED command */
struct imap_pattern;
int imap_pattern_compile(const char *pattern, struct imap_pattern **r, const char **error_r);
bool imap_pattern_match(struct imap_pattern *p, const char *name, size_t len);
void imap_pattern_free(struct imap_pattern *p);

/* imap-utf7.c: RFC 3501 modified UTF-7 mailbox names. Both return an
 * allocated string, or NULL for invalid input. */
char *imap_utf7_to_utf8(const char *s);
char *imap_utf8_to_utf7(const char *s);

#endif
