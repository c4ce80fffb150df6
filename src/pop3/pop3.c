/* The POP3 session (RFC 1939, 2449, 2595, 3206, 5034, 6856): greeting, the
 * AUTHORIZATION commands and their SASL exchanges, the maildrop snapshot and
 * lock, TRANSACTION, and the UPDATE state at QUIT. Deletions are applied only by
 * QUIT, in one store call, so a dropped connection, a timeout or a shutdown
 * deletes nothing; long responses (RETR, TOP, LIST, UIDL) are produced in chunks
 * and yield with RUN_MORE, so neither a message nor a listing is held whole. */
#include "pop3/pop3.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "net/server.h"
#include "pop3/pop3-cmd.h"
#include "pop3/pop3-stuff.h"
#include "store/store.h"

#define POP3_READ_CHUNK (64 * 1024)   /* message bytes read from the store per step */
#define POP3_MAX_BAD_COMMANDS 20      /* consecutive invalid commands before we hang up */

#define PLAINTEXT_REFUSED "[AUTH] Plaintext authentication is not allowed without TLS (use STLS)"

enum pop3_state { ST_AUTH, ST_TRANS, ST_DONE };
#define IN_AUTH (1u << ST_AUTH)
#define IN_TRANS (1u << ST_TRANS)

enum sasl_step { SASL_NONE, SASL_PLAIN, SASL_LOGIN_USER, SASL_LOGIN_PASS };

enum msg_flag {
	MSG_DELETED = 1 << 0,
	MSG_GONE = 1 << 1,       /* the content was removed by another session */
};

/* One message of the maildrop; its number is its index + 1. */
struct pop3_msg {
	uint32_t uid;
	uint8_t flags;
	int64_t message_id;
	uint64_t size;      /* octets of the stored content */
	uint64_t wire_size; /* octets RETR sends before dot-stuffing */
};

enum stream_kind { STREAM_NONE, STREAM_MSG, STREAM_LIST, STREAM_UIDL };

/* Where a long response stopped when the output buffer filled up. */
struct pop3_stream {
	enum stream_kind kind;
	size_t idx;      /* STREAM_MSG: the message; LIST/UIDL: the next one to list */
	uint64_t offset; /* STREAM_MSG: the next content byte to read */
	struct pop3_stuffer stuffer;
	char *chunk;     /* STREAM_MSG: POP3_READ_CHUNK bytes, freed when the stream ends */
};

struct pop3_session {
	enum pop3_state state;
	bool utf8;              /* UTF8 was issued (RFC 6856) */
	unsigned bad_commands;  /* consecutive unknown or malformed commands */
	char *sid;              /* copy of conn_sid() for the close callback's log line */
	char *timestamp;        /* the greeting's <msg-id>, the APOP challenge */
	char *user;             /* USER given, PASS expected next */
	enum sasl_step sasl;    /* an AUTH exchange waiting for the client's response */
	char *sasl_user;        /* AUTH LOGIN: the user name, while the password is awaited */
	const char *verb;       /* the command being handled, for logs */

	/* TRANSACTION */
	int64_t account_id;
	char *account_name;
	bool locked;
	struct store_pin pin;   /* the listing stays readable while the session lasts */
	int64_t mailbox_id;
	uint32_t uidvalidity;
	struct pop3_msg *msgs;
	size_t n_msgs;
	size_t n_deleted;
	bool delete_move;       /* pop3.delete_mode = move */
	char *delete_folder;
	unsigned n_retr;

	struct pop3_stream stream;
};

/* ---- The maildrop lock: one POP3 session per account in this process ---- */

static pthread_mutex_t lock_mutex = PTHREAD_MUTEX_INITIALIZER;
static int64_t *locked_ids;
static size_t n_locked, cap_locked;

static bool maildrop_lock(int64_t account_id)
{
	bool ok = true;
	pthread_mutex_lock(&lock_mutex);
	for (size_t i = 0; i < n_locked; i++) {
		if (locked_ids[i] == account_id) {
			ok = false;
			break;
		}
	}
	if (ok) {
		if (n_locked == cap_locked) {
			cap_locked = cap_locked ? cap_locked * 2 : 16;
			locked_ids = xrealloc(locked_ids, cap_locked * sizeof *locked_ids);
		}
		locked_ids[n_locked++] = account_id;
	}
	pthread_mutex_unlock(&lock_mutex);
	return ok;
}

static void maildrop_unlock(int64_t account_id)
{
	pthread_mutex_lock(&lock_mutex);
	for (size_t i = 0; i < n_locked; i++) {
		if (locked_ids[i] == account_id) {
			locked_ids[i] = locked_ids[--n_locked];
			break;
		}
	}
	pthread_mutex_unlock(&lock_mutex);
}

/* ---- Small helpers ---- */

static const char *plural(size_t n)
{
	return n == 1 ? "" : "s";
}

static const char *session_sid(const struct pop3_session *s)
{
	return s->sid ? s->sid : "-";
}

static enum run_result reply_err(struct pop3_session *s, struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum run_result reply_err(struct pop3_session *s, struct conn *c, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		die("out of memory");
	va_end(ap);
	conn_printf(c, "-ERR %s\r\n", msg);
	log_debug("sid=%s event=cmd_fail proto=pop3 cmd=%s reply=\"%s\"", session_sid(s),
		  s->verb ? s->verb : "-", msg);
	free(msg);
	return RUN_DONE;
}

/* An unknown or malformed command. Too many in a row and the client is let go. */
static enum run_result bad_command(struct pop3_session *s, struct conn *c, const char *what)
{
	if (++s->bad_commands >= POP3_MAX_BAD_COMMANDS) {
		conn_writes(c, "-ERR Too many invalid commands, closing the connection\r\n");
		log_info("sid=%s event=bad_commands proto=pop3 count=%u", session_sid(s), s->bad_commands);
		return RUN_CLOSE;
	}
	return reply_err(s, c, "%s", what);
}


static void sasl_reset(struct pop3_session *s)
{
	s->sasl = SASL_NONE;
	free(s->sasl_user);
	s->sasl_user = NULL;
}

/* A user name we are willing to look up: not empty, not too long, no control
 * characters, and well-formed UTF-8 once the client asked for UTF-8. */
static const char *check_user(const struct pop3_session *s, const char *p, size_t len)
{
	if (len == 0)
		return "Missing user name";
	if (len > AUTH_MAX_USERNAME)
		return "User name too long";
	if (!pop3_no_controls(p, len) || memchr(p, '\0', len) != NULL)
		return "Invalid user name";
	if (s->utf8 && !utf8_valid(p, len))
		return "User name is not valid UTF-8";
	return NULL;
}

static const char *check_password(const struct pop3_session *s, const char *p, size_t len)
{
	if (len > AUTH_MAX_PASSWORD)
		return "Password too long";
	if (memchr(p, '\0', len) != NULL)
		return "Invalid password";
	if (s->utf8 && !utf8_valid(p, len))
		return "Password is not valid UTF-8";
	return NULL;
}

/* ---- Per-account policy ---- */

/* The per-account setting for key, else the configuration's value: an allocated
 * string, or NULL when the store failed. Invalid per-account values are ignored. */
static char *policy_get(struct server *srv, int64_t account_id, const char *key)
{
	char *v = NULL;
	int rc = store_setting_get(srv->store, account_id, key, &v);
	if (rc == STORE_OK && v != NULL) {
		const char *why;
		if (config_check(key, v, &why) == 0)
			return v;
		log_warn("event=bad_setting proto=pop3 account=%" PRId64 " key=%s error=\"%s\"", account_id, key, why);
		free(v);
	} else if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		return NULL;
	}
	return xstrdup(config_str(srv->cfg, key));
}

/* ---- Logging in and the maildrop ---- */

enum open_result { OPEN_OK, OPEN_IN_USE, OPEN_STORE_ERROR };

static enum open_result maildrop_open(struct pop3_session *s, struct server *srv, const struct store_account *acct)
{
	if (!maildrop_lock(acct->id))
		return OPEN_IN_USE;
	s->locked = true;
	s->account_id = acct->id;

	struct store *st = srv->store;
	store_pin_add(st, &s->pin, acct->id, 0);
	char *only_new_s = policy_get(srv, acct->id, "pop3.only_new");
	char *mode = policy_get(srv, acct->id, "pop3.delete_mode");
	char *folder = policy_get(srv, acct->id, "pop3.delete_folder");
	struct store_entry *entries = NULL;
	size_t n = 0;
	struct store_mailbox mb = {0};
	bool only_new = false;
	if (only_new_s == NULL || mode == NULL || folder == NULL)
		goto fail;
	config_parse_bool(only_new_s, &only_new);
	s->delete_move = str_ieq(mode, "move");
	s->delete_folder = folder;
	folder = NULL;

	if (store_mailbox_find(st, acct->id, "INBOX", &mb) != STORE_OK)
		goto fail;
	s->mailbox_id = mb.id;
	s->uidvalidity = mb.uidvalidity;
	store_pin_set(&s->pin, mb.id, mb.highestmodseq);
	uint32_t uidnext = mb.uidnext;
	store_mailbox_clear(&mb);

	/* "Only new": UIDs from INBOX's UIDNEXT at the first POP3 login on. An
	 * account whose first login predates that record falls back to its time. */
	uint32_t first_uid = 0;
	int64_t since = 0;
	if (only_new) {
		first_uid = acct->pop3_first_uid;
		since = acct->pop3_first_login;
		if (since == 0) {
			first_uid = uidnext;
			if (store_account_set_pop3_first_login(st, acct->id, time_now(), first_uid) != STORE_OK)
				goto fail;
		} else if (first_uid != 0) {
			since = 0;
		}
	}
	if (store_entries(st, acct->id, s->mailbox_id, since, &entries, &n) != STORE_OK)
		goto fail;
	size_t skip = 0;
	while (skip < n && entries[skip].uid < first_uid)
		skip++;
	n -= skip;
	if (skip > 0)
		memmove(entries, entries + skip, n * sizeof *entries);
	s->msgs = xcalloc(n ? n : 1, sizeof *s->msgs);
	s->n_msgs = n;
	for (size_t i = 0; i < n; i++) {
		s->msgs[i].uid = entries[i].uid;
		s->msgs[i].message_id = entries[i].message_id;
		s->msgs[i].size = entries[i].size;
		s->msgs[i].wire_size = pop3_wire_size(entries[i].size, entries[i].ends_crlf);
	}
	free(entries);
	free(only_new_s);
	free(mode);
	s->account_name = xstrdup(acct->name);
	return OPEN_OK;

fail:
	log_warn("sid=%s event=maildrop_open proto=pop3 account=%" PRId64 " result=fail error=\"%s\"",
		 session_sid(s), acct->id, store_last_error());
	free(only_new_s);
	free(mode);
	free(folder);
	free(s->delete_folder);
	s->delete_folder = NULL;
	store_pin_remove(&s->pin);
	maildrop_unlock(acct->id);
	s->locked = false;
	return OPEN_STORE_ERROR;
}

/* Check credentials (password, or the APOP digest when mech is "APOP"), lock
 * and snapshot the maildrop, answer, log one line. */
static enum run_result login(struct pop3_session *s, struct conn *c, const char *mech, const char *user,
			     const char *secret)
{
	struct server *srv = conn_server(c);
	const char *ip = conn_peer_ip(c);
	bool apop = strcmp(mech, "APOP") == 0;

	if (srv->throttle != NULL) {
		int ms = auth_throttle_delay_ms(srv->throttle, ip, user);
		if (ms > 0)
			conn_delay(c, ms);
	}
	struct store_account acct = {0};
	enum auth_result r = apop ? auth_apop(srv->store, user, s->timestamp, secret, &acct)
				  : auth_login(srv->store, user, secret, &acct);
	if (r != AUTH_TEMPFAIL && srv->throttle != NULL)
		auth_throttle_record(srv->throttle, ip, user, r == AUTH_OK);

	char *safe_user = log_safe_dup(user, strlen(user));
	if (r == AUTH_TEMPFAIL) {
		log_warn("sid=%s event=login proto=pop3 user=%s mech=%s result=fail reason=tempfail error=\"%s\"",
			 session_sid(s), safe_user, mech, store_last_error());
		reply_err(s, c, "[SYS/TEMP] Authentication is temporarily unavailable, try again later");
	} else if (r == AUTH_FAILED) {
		log_info("sid=%s event=login proto=pop3 user=%s mech=%s result=fail", session_sid(s), safe_user, mech);
		reply_err(s, c, "[AUTH] Authentication failed");
	} else {
		switch (maildrop_open(s, srv, &acct)) {
		case OPEN_OK:
			s->state = ST_TRANS;
			log_info("sid=%s event=login proto=pop3 user=%s mech=%s result=ok messages=%zu", session_sid(s),
				 safe_user, mech, s->n_msgs);
			conn_printf(c, "+OK Logged in, maildrop has %zu message%s\r\n", s->n_msgs, plural(s->n_msgs));
			break;
		case OPEN_IN_USE:
			log_info("sid=%s event=login proto=pop3 user=%s mech=%s result=fail reason=in-use", session_sid(s),
				 safe_user, mech);
			reply_err(s, c, "[IN-USE] Maildrop already locked");
			break;
		case OPEN_STORE_ERROR:
			log_info("sid=%s event=login proto=pop3 user=%s mech=%s result=fail reason=store", session_sid(s),
				 safe_user, mech);
			reply_err(s, c, "[SYS/TEMP] Cannot open the maildrop, try again later");
			break;
		}
		store_account_clear(&acct);
	}
	free(safe_user);
	return RUN_DONE;
}

/* Leave the session: log once, give the maildrop lock back. Nothing is deleted
 * here; deletions happen only in cmd_quit. Safe to call more than once. */
static void session_end(struct pop3_session *s, const char *reason, size_t deleted)
{
	if (s->state == ST_TRANS) {
		log_info("sid=%s event=logout proto=pop3 user=%s reason=%s retrieved=%u deleted=%zu", session_sid(s),
			 s->account_name, reason, s->n_retr, deleted);
	}
	store_pin_remove(&s->pin);
	if (s->locked) {
		maildrop_unlock(s->account_id);
		s->locked = false;
	}
	s->state = ST_DONE;
}

/* ---- Message sizes and numbers ---- */

/* Messages not marked deleted, and the octets RETR sends for them. */
static void live_totals(const struct pop3_session *s, size_t *count_r, uint64_t *octets_r)
{
	size_t count = 0;
	uint64_t octets = 0;
	for (size_t i = 0; i < s->n_msgs; i++) {
		if (s->msgs[i].flags & MSG_DELETED)
			continue;
		count++;
		octets += s->msgs[i].wire_size;
	}
	*count_r = count;
	*octets_r = octets;
}

/* Resolve a message-number argument to an index into msgs; on failure the -ERR
 * has been written. */
static bool msg_arg(struct pop3_session *s, struct conn *c, struct pop3_token t, size_t *idx_r)
{
	uint32_t n;
	if (!pop3_parse_msgnum(t, &n)) {
		reply_err(s, c, "Invalid message number");
		return false;
	}
	if (n > s->n_msgs) {
		reply_err(s, c, "No such message");
		return false;
	}
	if (s->msgs[n - 1].flags & MSG_DELETED) {
		reply_err(s, c, "Message %" PRIu32 " already deleted", n);
		return false;
	}
	*idx_r = n - 1;
	return true;
}

static enum run_result store_failed(struct pop3_session *s, struct conn *c)
{
	return reply_err(s, c, "[SYS/TEMP] Storage is temporarily unavailable, try again later");
}

/* ---- Streaming long responses ---- */

static void stream_end(struct pop3_session *s)
{
	free(s->stream.chunk);
	memset(&s->stream, 0, sizeof s->stream);
}

static enum run_result stream_msg_step(struct pop3_session *s, struct conn *c)
{
	struct pop3_stream *st = &s->stream;
	struct pop3_msg *m = &s->msgs[st->idx];
	struct server *srv = conn_server(c);
	struct buf *out = conn_outbuf(c);
	while (!conn_out_full(c)) {
		if (st->offset >= m->size || pop3_stuff_done(&st->stuffer)) {
			pop3_stuff_finish(&st->stuffer, out);
			stream_end(s);
			return RUN_DONE;
		}
		uint64_t left = m->size - st->offset;
		size_t want = left < POP3_READ_CHUNK ? (size_t)left : POP3_READ_CHUNK;
		size_t got = 0;
		int rc = store_message_read(srv->store, s->account_id, m->message_id, st->offset, st->chunk, want, &got);
		if (rc != STORE_OK || got == 0) {
			/* The +OK is out: a multi-line response cannot turn into an error,
			 * so the only honest thing left is to hang up. */
			log_error("sid=%s event=store_error proto=pop3 op=message_read uid=%" PRIu32 " offset=%" PRIu64
				  " error=\"%s\"", session_sid(s), m->uid, st->offset,
				  rc != STORE_OK ? store_last_error() : "content shorter than its size");
			stream_end(s);
			return RUN_CLOSE;
		}
		pop3_stuff_feed(&st->stuffer, st->chunk, got, out);
		st->offset += got;
	}
	return RUN_MORE;
}

static enum run_result stream_list_step(struct pop3_session *s, struct conn *c)
{
	struct pop3_stream *st = &s->stream;
	struct buf *out = conn_outbuf(c);
	while (st->idx < s->n_msgs && !conn_out_full(c)) {
		const struct pop3_msg *m = &s->msgs[st->idx++];
		if (m->flags & MSG_DELETED)
			continue;
		if (st->kind == STREAM_LIST)
			buf_printf(out, "%zu %" PRIu64 "\r\n", st->idx, m->wire_size);
		else
			buf_printf(out, "%zu %08" PRIx32 "%08" PRIx32 "\r\n", st->idx, s->uidvalidity, m->uid);
	}
	if (st->idx < s->n_msgs)
		return RUN_MORE;
	buf_append(out, ".\r\n", 3);
	stream_end(s);
	return RUN_DONE;
}

static enum run_result stream_step(struct pop3_session *s, struct conn *c)
{
	switch (s->stream.kind) {
	case STREAM_MSG:
		return stream_msg_step(s, c);
	case STREAM_LIST:
	case STREAM_UIDL:
		return stream_list_step(s, c);
	case STREAM_NONE:
		break;
	}
	return RUN_DONE;
}

/* RETR (top=false) and TOP: answer, then stream the content. The first chunk
 * is read before the +OK, so that a message another session expunged since
 * login gets an -ERR rather than a connection cut off mid-response. */
static enum run_result send_message(struct pop3_session *s, struct conn *c, size_t idx, bool top, uint64_t lines)
{
	struct server *srv = conn_server(c);
	struct pop3_msg *m = &s->msgs[idx];
	char *chunk = xmalloc(m->size < POP3_READ_CHUNK ? (size_t)m->size + 1 : POP3_READ_CHUNK);
	size_t got = 0;
	if (!(m->flags & MSG_GONE) && m->size > 0) {
		size_t want = m->size < POP3_READ_CHUNK ? (size_t)m->size : POP3_READ_CHUNK;
		int rc = store_message_read(srv->store, s->account_id, m->message_id, 0, chunk, want, &got);
		if (rc == STORE_NOTFOUND) {
			m->flags |= MSG_GONE;
		} else if (rc != STORE_OK || got == 0) {
			log_warn("sid=%s event=store_error proto=pop3 op=message_read uid=%" PRIu32 " error=\"%s\"",
				 session_sid(s), m->uid, rc != STORE_OK ? store_last_error() : "empty read");
			free(chunk);
			return store_failed(s, c);
		}
	}
	if (m->flags & MSG_GONE) {
		free(chunk);
		return reply_err(s, c, "Message %zu is no longer available", idx + 1);
	}
	if (top)
		conn_writes(c, "+OK Top of message follows\r\n");
	else
		conn_printf(c, "+OK %" PRIu64 " octets\r\n", m->wire_size);
	s->stream.kind = STREAM_MSG;
	s->stream.idx = idx;
	s->stream.chunk = chunk;
	pop3_stuff_init(&s->stream.stuffer, top, lines);
	pop3_stuff_feed(&s->stream.stuffer, chunk, got, conn_outbuf(c));
	s->stream.offset = got;
	return stream_step(s, c);
}

/* ---- AUTHORIZATION commands ---- */

static enum run_result cmd_capa(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	bool auth = s->state == ST_AUTH;
	bool plain = conn_plaintext_ok(c);
	conn_writes(c, "+OK Capability list follows\r\n"
		       "TOP\r\n"
		       "UIDL\r\n"
		       "RESP-CODES\r\n"
		       "AUTH-RESP-CODE\r\n"
		       "PIPELINING\r\n"
		       "EXPIRE NEVER\r\n"
		       "LOGIN-DELAY 0\r\n");
	if (auth && plain)
		conn_writes(c, "USER\r\nSASL PLAIN LOGIN\r\n");
	if (auth && conn_can_starttls(c))
		conn_writes(c, "STLS\r\n");
	conn_writes(c, auth && plain ? "UTF8 USER\r\n" : "UTF8\r\n");
	conn_writes(c, "IMPLEMENTATION Roost\r\n.\r\n");
	return RUN_DONE;
}

static enum run_result cmd_user(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	if (!conn_plaintext_ok(c))
		return reply_err(s, c, PLAINTEXT_REFUSED);
	const char *why = check_user(s, cmd->rest.p, cmd->rest.len);
	if (why != NULL)
		return reply_err(s, c, "%s", why);
	free(s->user);
	s->user = xstrndup(cmd->rest.p, cmd->rest.len);
	conn_writes(c, "+OK Send your password\r\n");
	return RUN_DONE;
}

static enum run_result cmd_pass(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	char *user = s->user;
	s->user = NULL; /* one PASS per USER (RFC 1939: "immediately after") */
	if (user == NULL)
		return reply_err(s, c, "Send USER first");
	if (!conn_plaintext_ok(c)) {
		free(user);
		return reply_err(s, c, PLAINTEXT_REFUSED);
	}
	const char *why = check_password(s, cmd->rest.p, cmd->rest.len);
	if (why != NULL) {
		free(user);
		return reply_err(s, c, "%s", why);
	}
	char *pass = xstrndup(cmd->rest.p, cmd->rest.len);
	enum run_result r = login(s, c, "USER", user, pass);
	auth_secret_free(pass, cmd->rest.len);
	free(user);
	return r;
}

static enum run_result cmd_apop(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	/* APOP name digest: the digest is the last word, the name may hold spaces. */
	const char *p = cmd->rest.p;
	size_t len = cmd->rest.len;
	while (len > 0 && p[len - 1] == ' ')
		len--;
	size_t sp = len;
	while (sp > 0 && p[sp - 1] != ' ')
		sp--;
	if (sp == 0)
		return bad_command(s, c, "Usage: APOP name digest");
	const char *digest = p + sp;
	size_t digest_len = len - sp;
	size_t name_len = sp - 1;
	while (name_len > 0 && p[name_len - 1] == ' ')
		name_len--;
	const char *why = check_user(s, p, name_len);
	if (why != NULL)
		return reply_err(s, c, "%s", why);
	if (digest_len != 32)
		return reply_err(s, c, "Invalid APOP digest");
	char *user = xstrndup(p, name_len);
	char *hex = xstrndup(digest, digest_len);
	for (char *h = hex; *h; h++)
		if (*h >= 'A' && *h <= 'F')
			*h = (char)(*h - 'A' + 'a');
	enum run_result r = login(s, c, "APOP", user, hex);
	free(user);
	free(hex);
	return r;
}

/* One SASL response (already stripped of CRLF), for the step we are at. */
static enum run_result sasl_response(struct pop3_session *s, struct conn *c, enum sasl_step step, const char *b64,
				     size_t len)
{
	s->sasl = SASL_NONE;
	if (len == 1 && b64[0] == '=')
		len = 0; /* RFC 5034: "=" is an empty response */
	size_t cap = len / 4 * 3 + 1;
	unsigned char *dec = xmalloc(cap);
	long n = base64_decode(b64, len, dec, cap);
	enum run_result r = RUN_DONE;
	if (n < 0) {
		sasl_reset(s);
		r = reply_err(s, c, "Invalid base64 data");
		goto out;
	}
	const char *why;
	switch (step) {
	case SASL_PLAIN: {
		char *storage = NULL;
		const char *authcid, *passwd;
		if (auth_sasl_plain_parse(dec, (size_t)n, &storage, &authcid, &passwd) < 0) {
			r = reply_err(s, c, "Malformed PLAIN response");
			break;
		}
		if ((why = check_user(s, authcid, strlen(authcid))) != NULL ||
		    (why = check_password(s, passwd, strlen(passwd))) != NULL)
			r = reply_err(s, c, "%s", why);
		else
			r = login(s, c, "PLAIN", authcid, passwd);
		auth_secret_free(storage, (size_t)n);
		break;
	}
	case SASL_LOGIN_USER:
		if ((why = check_user(s, (const char *)dec, (size_t)n)) != NULL) {
			r = reply_err(s, c, "%s", why);
			break;
		}
		s->sasl_user = xstrndup((const char *)dec, (size_t)n);
		s->sasl = SASL_LOGIN_PASS;
		conn_writes(c, "+ UGFzc3dvcmQ6\r\n"); /* "Password:" */
		break;
	case SASL_LOGIN_PASS: {
		char *user = s->sasl_user;
		s->sasl_user = NULL;
		if ((why = check_password(s, (const char *)dec, (size_t)n)) != NULL) {
			r = reply_err(s, c, "%s", why);
		} else {
			char *pass = xstrndup((const char *)dec, (size_t)n);
			r = login(s, c, "LOGIN", user, pass);
			auth_secret_free(pass, (size_t)n);
		}
		free(user);
		break;
	}
	case SASL_NONE:
		break;
	}
out:
	explicit_bzero(dec, cap);
	free(dec);
	return r;
}

static enum run_result cmd_auth(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	bool plain_ok = conn_plaintext_ok(c);
	if (cmd->n_args == 0) {
		/* Not in RFC 5034, but older clients ask this way for the list. */
		conn_writes(c, plain_ok ? "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n" : "+OK\r\n.\r\n");
		return RUN_DONE;
	}
	enum sasl_step step;
	if (mem_ieq(cmd->args[0].p, cmd->args[0].len, "PLAIN"))
		step = SASL_PLAIN;
	else if (mem_ieq(cmd->args[0].p, cmd->args[0].len, "LOGIN"))
		step = SASL_LOGIN_USER;
	else
		return reply_err(s, c, "Unsupported authentication mechanism");
	if (!plain_ok)
		return reply_err(s, c, PLAINTEXT_REFUSED);
	if (cmd->n_args == 2)
		return sasl_response(s, c, step, cmd->args[1].p, cmd->args[1].len);
	s->sasl = step;
	conn_writes(c, step == SASL_PLAIN ? "+ \r\n" : "+ VXNlcm5hbWU6\r\n"); /* "Username:" */
	return RUN_DONE;
}

/* A line received while an AUTH exchange waits for the client. */
static enum run_result sasl_continue(struct pop3_session *s, struct conn *c, const char *line, size_t len)
{
	s->verb = "AUTH";
	if (len == 1 && line[0] == '*') {
		sasl_reset(s);
		return reply_err(s, c, "Authentication cancelled");
	}
	return sasl_response(s, c, s->sasl, line, len);
}

static enum run_result cmd_stls(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	if (conn_is_tls(c))
		return reply_err(s, c, "Already using TLS");
	if (!conn_can_starttls(c))
		return reply_err(s, c, "TLS is not available");
	conn_writes(c, "+OK Begin TLS negotiation\r\n");
	/* RFC 2595 section 4: forget what the client said before TLS. */
	free(s->user);
	s->user = NULL;
	sasl_reset(s);
	s->utf8 = false;
	return RUN_STARTTLS;
}

static enum run_result cmd_utf8(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	s->utf8 = true;
	conn_writes(c, "+OK UTF8 enabled\r\n");
	return RUN_DONE;
}

/* ---- TRANSACTION commands ---- */

static enum run_result cmd_stat(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	size_t count;
	uint64_t octets;
	live_totals(s, &count, &octets);
	conn_printf(c, "+OK %zu %" PRIu64 "\r\n", count, octets);
	return RUN_DONE;
}

static enum run_result cmd_list(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	if (cmd->n_args == 1) {
		size_t idx;
		if (!msg_arg(s, c, cmd->args[0], &idx))
			return RUN_DONE;
		conn_printf(c, "+OK %zu %" PRIu64 "\r\n", idx + 1, s->msgs[idx].wire_size);
		return RUN_DONE;
	}
	size_t count;
	uint64_t octets;
	live_totals(s, &count, &octets);
	conn_printf(c, "+OK %zu message%s (%" PRIu64 " octets)\r\n", count, plural(count), octets);
	s->stream.kind = STREAM_LIST;
	s->stream.idx = 0;
	return stream_step(s, c);
}

static enum run_result cmd_uidl(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	if (cmd->n_args == 1) {
		size_t idx;
		if (!msg_arg(s, c, cmd->args[0], &idx))
			return RUN_DONE;
		conn_printf(c, "+OK %zu %08" PRIx32 "%08" PRIx32 "\r\n", idx + 1, s->uidvalidity, s->msgs[idx].uid);
		return RUN_DONE;
	}
	conn_writes(c, "+OK Unique-ID listing follows\r\n");
	s->stream.kind = STREAM_UIDL;
	s->stream.idx = 0;
	return stream_step(s, c);
}

static enum run_result cmd_retr(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	size_t idx;
	if (!msg_arg(s, c, cmd->args[0], &idx))
		return RUN_DONE;
	s->n_retr++;
	return send_message(s, c, idx, false, 0);
}

static enum run_result cmd_top(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	size_t idx;
	uint64_t lines;
	if (!msg_arg(s, c, cmd->args[0], &idx))
		return RUN_DONE;
	if (!pop3_parse_count(cmd->args[1], &lines))
		return reply_err(s, c, "Invalid number of lines");
	return send_message(s, c, idx, true, lines);
}

static enum run_result cmd_dele(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	size_t idx;
	if (!msg_arg(s, c, cmd->args[0], &idx))
		return RUN_DONE;
	s->msgs[idx].flags |= MSG_DELETED;
	s->n_deleted++;
	conn_printf(c, "+OK Message %zu deleted\r\n", idx + 1);
	return RUN_DONE;
}

static enum run_result cmd_noop(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	conn_writes(c, "+OK\r\n");
	return RUN_DONE;
}

static enum run_result cmd_rset(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	for (size_t i = 0; i < s->n_msgs; i++)
		s->msgs[i].flags &= (uint8_t)~MSG_DELETED;
	s->n_deleted = 0;
	conn_printf(c, "+OK Maildrop has %zu message%s\r\n", s->n_msgs, plural(s->n_msgs));
	return RUN_DONE;
}

/* UPDATE: remove the messages marked with DELE, all or none, in one store call.
 * Returns 0, -1 when the store failed (worth retrying), -2 when the policy
 * cannot work (a bad pop3.delete_folder). */
static int apply_deletions(struct pop3_session *s, struct server *srv, const uint32_t *uids, size_t n,
			   const char **error_r)
{
	struct store *st = srv->store;
	/* The session ends with this: nothing it listed is kept for it. */
	store_pin_set(&s->pin, s->mailbox_id, UINT64_MAX);
	if (!s->delete_move) {
		if (store_expunge(st, s->account_id, s->mailbox_id, uids, n) != STORE_OK) {
			*error_r = store_last_error();
			return -1;
		}
		return 0;
	}
	struct store_mailbox mb = {0};
	int64_t target;
	int rc = store_mailbox_find(st, s->account_id, s->delete_folder, &mb);
	if (rc == STORE_NOTFOUND) {
		rc = store_mailbox_create(st, s->account_id, s->delete_folder, NULL, &target);
		if (rc == STORE_EXISTS) /* created meanwhile by another session */
			rc = store_mailbox_find(st, s->account_id, s->delete_folder, &mb);
		else if (rc == STORE_OK)
			mb.id = target;
	}
	if (rc != STORE_OK) {
		store_mailbox_clear(&mb);
		if (rc == STORE_INVALID) {
			*error_r = "invalid pop3.delete_folder name";
			return -2;
		}
		*error_r = store_last_error();
		return -1;
	}
	target = mb.id;
	store_mailbox_clear(&mb);
	if (target == s->mailbox_id) {
		*error_r = "pop3.delete_folder is INBOX";
		return -2;
	}
	if (store_move(st, s->account_id, s->mailbox_id, target, uids, n, NULL) != STORE_OK) {
		*error_r = store_last_error();
		return -1;
	}
	return 0;
}

static enum run_result cmd_quit(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd)
{
	if (s->state == ST_AUTH) {
		conn_writes(c, "+OK Roost POP3 server signing off\r\n");
		session_end(s, "quit", 0);
		return RUN_CLOSE;
	}
	uint32_t *uids = xcalloc(s->n_deleted ? s->n_deleted : 1, sizeof *uids);
	size_t n = 0;
	for (size_t i = 0; i < s->n_msgs; i++)
		if (s->msgs[i].flags & MSG_DELETED)
			uids[n++] = s->msgs[i].uid;
	const char *error = NULL;
	int rc = n > 0 ? apply_deletions(s, conn_server(c), uids, n, &error) : 0;
	if (rc < 0) {
		log_warn("sid=%s event=update proto=pop3 user=%s result=fail marked=%zu error=\"%s\"", session_sid(s),
			 s->account_name, n, error ? error : "unknown");
		reply_err(s, c, rc == -2 ? "[SYS/PERM] The server cannot delete messages (pop3.delete_folder); none were deleted"
					 : "[SYS/TEMP] Could not delete the messages; none were deleted");
		session_end(s, "quit", 0);
	} else {
		conn_printf(c, "+OK Roost POP3 server signing off (%zu message%s deleted)\r\n", n, plural(n));
		session_end(s, "quit", n);
	}
	free(uids);
	return RUN_CLOSE;
}

/* ---- Dispatch ---- */

struct pop3_command {
	const char *name;
	unsigned states;
	unsigned min_args, max_args; /* space-separated; USER/PASS/APOP read cmd->rest */
	enum run_result (*fn)(struct pop3_session *s, struct conn *c, const struct pop3_cmd *cmd);
};

#define ANY_ARGS 0, UINT32_MAX

static const struct pop3_command commands[] = {
	{"CAPA", IN_AUTH | IN_TRANS, 0, 0, cmd_capa},
	{"QUIT", IN_AUTH | IN_TRANS, 0, 0, cmd_quit},
	{"USER", IN_AUTH, ANY_ARGS, cmd_user},
	{"PASS", IN_AUTH, ANY_ARGS, cmd_pass},
	{"APOP", IN_AUTH, ANY_ARGS, cmd_apop},
	{"AUTH", IN_AUTH, 0, 2, cmd_auth},
	{"STLS", IN_AUTH, 0, 0, cmd_stls},
	{"UTF8", IN_AUTH, 0, 0, cmd_utf8},
	{"STAT", IN_TRANS, 0, 0, cmd_stat},
	{"LIST", IN_TRANS, 0, 1, cmd_list},
	{"UIDL", IN_TRANS, 0, 1, cmd_uidl},
	{"RETR", IN_TRANS, 1, 1, cmd_retr},
	{"TOP", IN_TRANS, 2, 2, cmd_top},
	{"DELE", IN_TRANS, 1, 1, cmd_dele},
	{"NOOP", IN_TRANS, 0, 0, cmd_noop},
	{"RSET", IN_TRANS, 0, 0, cmd_rset},
};

static enum run_result handle_line(struct pop3_session *s, struct conn *c, const char *data, size_t len)
{
	s->verb = NULL;
	if (s->stream.kind != STREAM_NONE) {
		/* The loop never frames a command while a response is unfinished. */
		log_error("sid=%s event=internal_error proto=pop3 error=\"command during a stream\"", session_sid(s));
		return RUN_CLOSE;
	}
	len = pop3_line_strip(data, len);
	if (s->sasl != SASL_NONE)
		return sasl_continue(s, c, data, len);

	struct pop3_cmd cmd;
	switch (pop3_cmd_parse(data, len, &cmd)) {
	case POP3_PARSE_NUL:
		return bad_command(s, c, "Invalid NUL byte in command");
	case POP3_PARSE_EMPTY:
		return bad_command(s, c, "Empty command");
	case POP3_PARSE_OK:
		break;
	}
	const struct pop3_command *def = NULL;
	for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
		if (pop3_verb_is(&cmd, commands[i].name)) {
			def = &commands[i];
			break;
		}
	}
	if (def == NULL)
		return bad_command(s, c, "Unknown command");
	s->verb = def->name;
	if (strcmp(def->name, "PASS") != 0) {
		free(s->user);
		s->user = NULL;
	}
	if (!(def->states & (1u << s->state))) {
		char *msg = xasprintf("%s is not valid in the %s state", def->name,
				      s->state == ST_AUTH ? "AUTHORIZATION" : "TRANSACTION");
		enum run_result r = bad_command(s, c, msg);
		free(msg);
		return r;
	}
	if (cmd.n_args > def->max_args) {
		char *msg = xasprintf("Too many arguments for %s", def->name);
		enum run_result r = bad_command(s, c, msg);
		free(msg);
		return r;
	}
	if (cmd.n_args < def->min_args) {
		char *msg = xasprintf("Missing argument for %s", def->name);
		enum run_result r = bad_command(s, c, msg);
		free(msg);
		return r;
	}
	s->bad_commands = 0;
	return def->fn(s, c, &cmd);
}

/* ---- The protocol callbacks ---- */

static void *pop3_open(struct conn *c)
{
	return xcalloc(1, sizeof(struct pop3_session));
}

static void pop3_close(void *session)
{
	struct pop3_session *s = session;
	session_end(s, "disconnected", 0);
	stream_end(s);
	free(s->sid);
	free(s->timestamp);
	free(s->user);
	free(s->sasl_user);
	free(s->account_name);
	free(s->delete_folder);
	free(s->msgs);
	free(s);
}

static ssize_t pop3_frame_cb(void *session, const char *in, size_t len, size_t *taken_r)
{
	return pop3_frame(in, len);
}

static enum run_result greet(struct pop3_session *s, struct conn *c)
{
	static atomic_uint counter;
	struct server *srv = conn_server(c);
	const char *host = srv != NULL && srv->hostname[0] != '\0' ? srv->hostname : "localhost";
	free(s->sid);
	s->sid = xstrdup(conn_sid(c));
	free(s->timestamp);
	s->timestamp = xasprintf("<%ld.%u.%lld@%s>", (long)getpid(), atomic_fetch_add(&counter, 1),
				 (long long)time_now(), host);
	conn_printf(c, "+OK Roost POP3 server ready %s\r\n", s->timestamp);
	return RUN_DONE;
}

static enum run_result pop3_run(void *session, struct conn *c, enum cmd_kind kind, const char *data, size_t len)
{
	struct pop3_session *s = session;
	switch (kind) {
	case CMD_GREET:
		return greet(s, c);
	case CMD_LINE:
		return handle_line(s, c, data, len);
	case CMD_RESUME:
		return stream_step(s, c);
	case CMD_WAKE:
		return RUN_DONE; /* POP3 watches nothing */
	case CMD_TOOLONG:
		s->verb = NULL;
		if (s->sasl != SASL_NONE)
			sasl_reset(s); /* the AUTH exchange ends with this error */
		return bad_command(s, c, "Line too long");
	case CMD_TIMEOUT:
	case CMD_SHUTDOWN:
		/* In the middle of a multi-line response there is nothing to say. */
		if (s->stream.kind == STREAM_NONE)
			conn_writes(c, kind == CMD_TIMEOUT ? "-ERR [SYS/TEMP] Autologout; idle for too long\r\n"
							   : "-ERR [SYS/TEMP] Server shutting down\r\n");
		stream_end(s);
		session_end(s, kind == CMD_TIMEOUT ? "timeout" : "shutdown", 0);
		return RUN_CLOSE;
	}
	return RUN_DONE;
}

const struct proto pop3_proto = {
	.name = "pop3",
	.implicit_tls = false,
	.busy_reply = "-ERR [SYS/TEMP] Too many connections, try again later\r\n",
	.idle_timeout_key = "pop3.idle_timeout", /* RFC 1939: at least 10 minutes */
	.max_command = POP3_MAX_LINE,
	.open = pop3_open,
	.close = pop3_close,
	.frame = pop3_frame_cb,
	.run = pop3_run,
};

const struct proto pop3s_proto = {
	.name = "pop3s",
	.implicit_tls = true,
	.idle_timeout_key = "pop3.idle_timeout", /* RFC 1939: at least 10 minutes */
	.max_command = POP3_MAX_LINE,
	.open = pop3_open,
	.close = pop3_close,
	.frame = pop3_frame_cb,
	.run = pop3_run,
};
