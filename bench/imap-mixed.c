/* A concurrent, mixed-operation IMAP load generator for bench/run.sh: many
 * clients at once, several of them on the same user's INBOX (several devices
 * on one mailbox), each sending the mix of commands a real mail client sends
 * and holding every byte of the answers to a strict response parser. It talks
 * to any IMAP server on 127.0.0.1 (Roost and Dovecot alike), logs in with
 * plaintext LOGIN, and uses nothing from src/.
 *
 *   imap-mixed run PORT USERFMT NUSERS PASS [options]
 *       One thread per client, each logged in as USERFMT (a printf format
 *       taking an index, "mix%d") with its own number modulo NUSERS, so
 *       clients share mailboxes. Options:
 *         --clients N    clients (10)
 *         --seconds S    how long the load runs (15); then each client
 *                        finishes the command in flight and logs out
 *         --profile P    long: each client logs in once and runs commands to
 *                        the end; churn: LOGIN, SELECT, 1-5 commands (the
 *                        first is the flag sync), LOGOUT, again (long)
 *         --seed N       the clients' random choices (1)
 *         --min-msgs N, --max-msgs N
 *                        keep each mailbox between N (20) and N (400)
 *                        messages by weighting APPEND against EXPUNGE
 *         --stall-ms MS  a command whose tagged answer takes longer than MS
 *                        (1000) is a stall
 *       After SELECT INBOX a client asks for every UID and flag (UID FETCH
 *       1:* (UID FLAGS)), then picks its commands by weight, like a client:
 *       UID FETCH lo:hi (UID FLAGS); FETCH a:b (UID RFC822.SIZE FLAGS
 *       ENVELOPE) and the same with BODY.PEEK[HEADER.FIELDS (...)]; UID FETCH
 *       n (UID RFC822.SIZE BODY.PEEK[]), UID FETCH n (UID BODY.PEEK[TEXT]),
 *       FETCH n (UID BODY[1]) (not a peek: sets \Seen); UID STORE and STORE
 *       +FLAGS/-FLAGS of \Seen, \Flagged and $Label1-3; UID STORE n +FLAGS
 *       (\Deleted) then EXPUNGE or UID EXPUNGE n; APPEND of a 1-8 KB message;
 *       NOOP; SEARCH UNSEEN; UID SEARCH SUBJECT word; STATUS INBOX; SELECT
 *       again; and UID FETCH last+1:* (UID FLAGS) after EXISTS announced new
 *       messages. Each session keeps its mailbox's UIDs by sequence number as
 *       the server told them (EXISTS grows the list, EXPUNGE removes by
 *       number, VANISHED by UID, FETCH ... UID fills them in) and asks only
 *       for messages it knows.
 *
 *       Failures (the first IM_REPORTS of each kind are printed on stderr
 *       with the command, the response and the one before it):
 *         malformed   a response that is not IMAP (RFC 9051's grammar:
 *                     tagged, untagged or continuation; balanced parentheses;
 *                     quoted strings and their escapes; {n} and ~{n} literals
 *                     of exactly n bytes with the response going on after
 *                     them; FETCH items by known name, each with its value;
 *                     no "* " starting in the middle of a line; CRLF), or a
 *                     connection that ends inside a response
 *         protocol    parses, but breaks a rule: EXPUNGE during FETCH, STORE
 *                     or SEARCH by sequence number (RFC 9051 7.5.1, RFC
 *                     2180), a sequence number or UID that disagrees with what
 *                     the session was told, EXISTS that shrinks, RFC822.SIZE
 *                     unlike the BODY[] length, a header fetch without its
 *                     blank line, VANISHED without QRESYNC, an unknown tag, a
 *                     continuation nobody asked for, SELECT without EXISTS
 *         no, bad     tagged NO (other than EXPUNGEISSUED) and BAD; untagged
 *                     BAD too
 *         expungeissued_visible
 *                     NO [EXPUNGEISSUED] although no message asked for had
 *                     been reported expunged to this session (the session
 *                     still sees them). When one had been (EXPUNGE came
 *                     during the command) it is legal: counted as
 *                     expungeissued, not a failure
 *         stalls      a tagged answer later than --stall-ms, and a server
 *                     silent for IM_TIMEOUT_MS (the client gives up the
 *                     connection: a stall and a conn error)
 *         bye         BYE when LOGOUT was not sent
 *         conn        connect errors, connections closed or reset
 *       Output: per command kind the count, ops/s and latency p50/p99/max in
 *       ms; the total; "failures: ..."; and a last line "result ops=N
 *       ops_per_s=X malformed=N protocol=N no=N bad=N expungeissued=N
 *       expungeissued_visible=N stalls=N bye=N conn=N errors=N" (errors: the
 *       failures summed; expungeissued is not one). Only commands answered
 *       before the end count in the rate. Exit status 0 without failures, 2
 *       with, 1 when the run could not be made (usage).
 *   imap-mixed fill PORT USERFMT NUSERS PASS MSGS [--clients N] [--seed N]
 *       APPEND to each user's INBOX until it holds MSGS messages (the same
 *       1-8 KB messages), from N connections (8) at once. Exit status 1 on any
 *       failure.
 *   imap-mixed selftest
 *       Feed canned server output, good and broken, through the same reader,
 *       parser and session tracker (whole, and through a 16-byte buffer that
 *       must grow), and exit 1 if any case is misjudged.
 *
 * Every wait is bounded: a read, a write or a connect waits IM_TIMEOUT_MS at
 * most, and the run ends by itself after --seconds plus a drain of at most
 * IM_DRAIN_MS (a watchdog stops it if a thread is still busy then). The
 * client is cheap: one large read buffer per connection, whole responses
 * parsed where they were read, one write per command. */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>

#define LOAD_PROG "imap-mixed"
#include "load-common.h"

#define IM_TIMEOUT_MS 30000.0 /* a server silent this long loses the connection */
#define IM_LOGOUT_MS 10000.0
#define IM_DRAIN_MS (2 * IM_TIMEOUT_MS + IM_LOGOUT_MS + 5000.0)
#define IM_BUF_INIT (256 * 1024)
#define IM_MAX_RESPONSE (32u * 1024 * 1024)
#define IM_MAX_LITERAL (16u * 1024 * 1024)
#define IM_MAX_DEPTH 64 /* parenthesis nesting in one response */
#define IM_MAX_CLIENTS 10000
#define IM_MAX_USERS 1000000
#define IM_MAX_VIEW (1u << 20) /* messages one session tracks */
#define IM_MAX_EXP_DURING 256  /* EXPUNGEs remembered during one command */
#define IM_REPORTS 5           /* failures of each kind printed in full */
#define IM_MSG_CAP 16384       /* a generated message */
#define IM_OUT_CAP (IM_MSG_CAP + 1024)
#define IM_CMD_CAP 512
#define IM_STACK (512 * 1024)

/* --- what is counted ---------------------------------------------------------- */

enum im_fail {
	F_MALFORMED,
	F_PROTOCOL,
	F_NO,
	F_BAD,
	F_EXPUNGEISSUED, /* legal: not a failure */
	F_EXPUNGEISSUED_VISIBLE,
	F_STALL,
	F_BYE,
	F_CONN,
	F_COUNT
};
static const char *const im_fail_names[F_COUNT] = {
	"malformed", "protocol", "no", "bad", "expungeissued", "expungeissued_visible", "stalls", "bye", "conn",
};

enum im_op {
	OP_CONNECT, /* TCP connect and the greeting */
	OP_LOGIN,
	OP_SELECT,
	OP_SYNC,      /* UID FETCH 1:* (UID FLAGS) after SELECT */
	OP_FETCH_NEW, /* UID FETCH last+1:* (UID FLAGS) after EXISTS */
	OP_FETCH_FLAGS,
	OP_FETCH_ENVELOPE,
	OP_FETCH_HEADERS,
	OP_FETCH_BODY,
	OP_FETCH_TEXT,
	OP_FETCH_PART,
	OP_STORE,
	OP_STORE_SEQ,
	OP_STORE_DELETED, /* then OP_EXPUNGE or OP_UID_EXPUNGE */
	OP_EXPUNGE,
	OP_UID_EXPUNGE,
	OP_APPEND,
	OP_NOOP,
	OP_SEARCH_UNSEEN,
	OP_SEARCH_SUBJECT,
	OP_STATUS,
	OP_LOGOUT,
	OP_COUNT
};

struct im_op_def {
	const char *name;
	unsigned weight; /* per mille of the picks; APPEND and delete change with the mailbox's size */
	bool seq_rule;   /* FETCH, STORE or SEARCH by sequence number: no EXPUNGE may come during it */
	bool needs_msgs; /* picks a message the session knows */
};
static const struct im_op_def im_ops[OP_COUNT] = {
	[OP_CONNECT] = {"connect", 0, false, false},
	[OP_LOGIN] = {"login", 0, false, false},
	[OP_SELECT] = {"select", 15, false, false},
	[OP_SYNC] = {"sync", 0, false, false},
	[OP_FETCH_NEW] = {"fetch-new", 0, false, false},
	[OP_FETCH_FLAGS] = {"fetch-flags", 160, false, true},
	[OP_FETCH_ENVELOPE] = {"fetch-envelope", 70, true, true},
	[OP_FETCH_HEADERS] = {"fetch-headers", 60, true, true},
	[OP_FETCH_BODY] = {"fetch-body", 80, false, true},
	[OP_FETCH_TEXT] = {"fetch-text", 30, false, true},
	[OP_FETCH_PART] = {"fetch-part", 30, true, true},
	[OP_STORE] = {"store", 90, false, true},
	[OP_STORE_SEQ] = {"store-seq", 40, true, true},
	[OP_STORE_DELETED] = {"store-deleted", 0, false, true},
	[OP_EXPUNGE] = {"expunge", 0, false, false},
	[OP_UID_EXPUNGE] = {"uid-expunge", 0, false, false},
	[OP_APPEND] = {"append", 0, false, false},
	[OP_NOOP] = {"noop", 80, false, false},
	[OP_SEARCH_UNSEEN] = {"search-unseen", 30, true, false},
	[OP_SEARCH_SUBJECT] = {"search-subject", 30, false, false},
	[OP_STATUS] = {"status", 30, false, false},
	[OP_LOGOUT] = {"logout", 0, false, false},
};
#define IM_CHURN_WEIGHT 100 /* APPEND + delete together, split by the mailbox's size */

struct im_lat {
	float *v; /* milliseconds */
	size_t n, cap;
};

struct im_stats {
	struct im_lat lat[OP_COUNT];
	uint64_t fails[F_COUNT];
	uint64_t sessions;
};

/* --- the run's settings --------------------------------------------------------- */

struct im_cfg {
	int port;
	const char *userfmt, *pass;
	long nusers;
	int clients, seconds, min_msgs, max_msgs;
	long fill_msgs;
	double stall_ms;
	bool churn;
	uint64_t seed;
};
static struct im_cfg g_cfg = {
	.clients = 10, .seconds = 15, .min_msgs = 20, .max_msgs = 400, .stall_ms = 1000, .seed = 1,
};
static double g_end_ms; /* the load ends here (monotonic); 0: no end (fill, selftest) */
static bool g_quiet;    /* selftest: failures are judged, not printed */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static uint64_t g_reported[F_COUNT];
static int g_finished;
static long g_fill_next;

/* --- one connection's input -------------------------------------------------------- */

enum { IM_F_DATA = 1, IM_F_OK = 0, IM_F_TIMEOUT = -1, IM_F_ERROR = -2, IM_F_LONG = -3, IM_F_EOF = -4, IM_F_BIGLIT = -5 };

struct im_conn {
	int fd;
	char *buf;
	size_t cap, start, end;
	int err; /* errno of the last IM_F_ERROR */
};

/* What the server has told a session about its mailbox: the UID of each
 * message by sequence number (0 while only EXISTS announced it). */
struct im_view {
	uint32_t *uids;
	size_t n, cap, unknown;
};

struct im_client {
	int id;
	char user[256], quser[600], qpass[600];
	struct im_conn c;
	struct im_view v;
	uint64_t rng;
	bool connected, selected, literal_plus, resync;
	uint32_t uidvalidity;
	/* The command in flight. */
	enum im_op op;
	char tag[16];
	char cmd[IM_CMD_CAP];
	bool req_uid;            /* a UID command asking for UIDs req_lo..req_hi */
	uint32_t req_lo, req_hi; /* (sequence numbers for the others) */
	bool selecting, saw_exists, saw_bye, want_cont;
	uint32_t exp_during[IM_MAX_EXP_DURING];
	size_t n_exp_during;
	bool exp_unknown_during;
	char prev[200];       /* the start of the previous response, for reports */
	char last_fail[400];  /* the last failure, for selftest */
	char *out, *msg;
	uint64_t serial;
	struct im_stats st;
	bool finished;
};

static uint32_t im_rand(struct im_client *cl)
{
	/* xorshift64* */
	cl->rng ^= cl->rng >> 12;
	cl->rng ^= cl->rng << 25;
	cl->rng ^= cl->rng >> 27;
	return (uint32_t)((cl->rng * 2685821657736338717ull) >> 32);
}

static void *im_alloc(size_t n)
{
	void *p = calloc(1, n);
	if (p == NULL)
		load_die("out of memory");
	return p;
}

/* --- reports ------------------------------------------------------------------- */

/* Bytes as a readable line: CR, LF, tabs and other controls escaped. */
static void im_escape(char *out, size_t cap, const char *s, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 5 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '\r') {
			out[o++] = '\\', out[o++] = 'r';
		} else if (ch == '\n') {
			out[o++] = '\\', out[o++] = 'n';
		} else if (ch < 0x20 || ch == 0x7f) {
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
}

static void im_prev(struct im_client *cl, const char *raw, size_t len)
{
	im_escape(cl->prev, sizeof cl->prev, raw, len > 150 ? 150 : len);
}

/* Count a failure; print the first IM_REPORTS of each kind with the command
 * and the response (raw, len; "<!>" marks byte at, SIZE_MAX for none). */
static void im_report(struct im_client *cl, enum im_fail k, const char *raw, size_t len, size_t at, const char *fmt,
		      ...) __attribute__((format(printf, 6, 7)));
static void im_report(struct im_client *cl, enum im_fail k, const char *raw, size_t len, size_t at, const char *fmt,
		      ...)
{
	cl->st.fails[k]++;
	char why[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	snprintf(cl->last_fail, sizeof cl->last_fail, "%s: %s", im_fail_names[k], why);
	if (g_quiet || k == F_EXPUNGEISSUED)
		return;
	char before[700], after[400];
	before[0] = after[0] = '\0';
	size_t from = 0;
	if (raw != NULL && at <= len) {
		from = at > 240 ? at - 240 : 0;
		im_escape(before, sizeof before, raw + from, at - from);
		im_escape(after, sizeof after, raw + at, len - at > 100 ? 100 : len - at);
	} else if (raw != NULL) {
		im_escape(before, sizeof before, raw, len > 300 ? 300 : len);
	}
	pthread_mutex_lock(&g_lock);
	uint64_t nth = ++g_reported[k];
	if (nth <= IM_REPORTS) {
		fprintf(stderr, LOAD_PROG ": %s #%" PRIu64 ": client %d (%s), command \"%s\": %s\n", im_fail_names[k], nth,
			cl->id, cl->user, cl->cmd[0] ? cl->cmd : "(none yet)", why);
		if (raw != NULL)
			fprintf(stderr, "  response: %s%s%s%s%s\n", from > 0 ? "..." : "", before, at <= len ? "<!>" : "",
				after, (at <= len ? len - at > 100 : len > 300) ? "..." : "");
		if (cl->prev[0])
			fprintf(stderr, "  previous response: %s\n", cl->prev);
	}
	pthread_mutex_unlock(&g_lock);
}

/* --- the socket ---------------------------------------------------------------------- */

static int im_poll(int fd, short events, double deadline)
{
	for (;;) {
		double left = deadline - load_now_ms();
		if (left <= 0)
			return IM_F_TIMEOUT;
		struct pollfd pfd = {.fd = fd, .events = events};
		int pr = poll(&pfd, 1, (int)left + 1);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return IM_F_ERROR;
		if (pr > 0)
			return IM_F_OK;
	}
}

/* A connection to 127.0.0.1:port (a blocking socket once connected), or -1
 * with the reason in *why. */
static int im_connect(int port, double deadline, const char **why)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		if (errno != EINPROGRESS) {
			*why = strerror(errno);
			close(fd);
			return -1;
		}
		if (im_poll(fd, POLLOUT, deadline) != IM_F_OK) {
			*why = "connect timed out";
			close(fd);
			return -1;
		}
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err != 0) {
			*why = strerror(err);
			close(fd);
			return -1;
		}
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

static int im_send(struct im_conn *c, const char *p, size_t len, double deadline)
{
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = im_poll(c->fd, POLLOUT, deadline);
			if (rc != IM_F_OK)
				return rc;
			continue;
		}
		c->err = n < 0 ? errno : EPIPE;
		return IM_F_ERROR;
	}
	return IM_F_OK;
}

/* Read more input (compacting, or growing the buffer up to
 * IM_MAX_RESPONSE). Returns IM_F_DATA or a failure. */
static int im_fill(struct im_conn *c, double deadline)
{
	if (c->start > 0 && (c->end == c->cap || c->start >= c->cap / 2)) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	if (c->end == c->cap) {
		if (c->cap >= IM_MAX_RESPONSE + 64)
			return IM_F_LONG;
		size_t ncap = c->cap * 2 > IM_MAX_RESPONSE + 64 ? IM_MAX_RESPONSE + 64 : c->cap * 2;
		char *nb = realloc(c->buf, ncap);
		if (nb == NULL)
			load_die("out of memory");
		c->buf = nb;
		c->cap = ncap;
	}
	for (;;) {
		int rc = im_poll(c->fd, POLLIN, deadline);
		if (rc != IM_F_OK) {
			c->err = errno;
			return rc;
		}
		ssize_t n = read(c->fd, c->buf + c->end, c->cap - c->end);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			c->err = errno;
			return IM_F_ERROR;
		}
		if (n == 0)
			return IM_F_EOF;
		c->end += (size_t)n;
		return IM_F_DATA;
	}
}

/* One whole response: a line, and for each literal announced at a line's end
 * ({n} or ~{n}) its n bytes and the line that goes on after them. *raw_r
 * points into the buffer (CRLF included), valid until the next read. */
static int im_frame(struct im_conn *c, double deadline, const char **raw_r, size_t *len_r)
{
	size_t scan = 0; /* from c->start: where the search for the line's end goes on */
	for (;;) {
		size_t have = c->end - c->start;
		char *lf = scan < have ? memchr(c->buf + c->start + scan, '\n', have - scan) : NULL;
		if (lf == NULL) {
			if (have > IM_MAX_RESPONSE)
				return IM_F_LONG;
			scan = have;
			int rc = im_fill(c, deadline);
			if (rc != IM_F_DATA)
				return rc;
			continue;
		}
		const char *base = c->buf + c->start;
		size_t le = (size_t)(lf - base);
		size_t e = le > 0 && base[le - 1] == '\r' ? le - 1 : le;
		uint64_t lit = 0;
		bool is_lit = false;
		if (e > 0 && base[e - 1] == '}') {
			size_t k = e - 1, dend = e - 1;
			while (k > 0 && base[k - 1] >= '0' && base[k - 1] <= '9')
				k--;
			if (k < dend && k > 0 && base[k - 1] == '{' && dend - k <= 12) {
				is_lit = true;
				for (size_t d = k; d < dend; d++)
					lit = lit * 10 + (uint64_t)(base[d] - '0');
			}
		}
		if (!is_lit) {
			*raw_r = base;
			*len_r = le + 1;
			c->start += le + 1;
			return IM_F_OK;
		}
		if (lit > IM_MAX_LITERAL)
			return IM_F_BIGLIT;
		size_t need = le + 1 + (size_t)lit;
		if (need > IM_MAX_RESPONSE)
			return IM_F_LONG;
		while (c->end - c->start < need) {
			int rc = im_fill(c, deadline);
			if (rc != IM_F_DATA)
				return rc;
		}
		scan = need;
	}
}

/* --- the strict parser ------------------------------------------------------------ */

enum im_kind {
	K_CONT,
	K_TAGGED,
	K_OK,
	K_NO,
	K_BAD,
	K_BYE,
	K_PREAUTH,
	K_CAPABILITY,
	K_FLAGS,
	K_EXISTS,
	K_RECENT,
	K_EXPUNGE,
	K_FETCH,
	K_SEARCH,
	K_STATUS,
	K_VANISHED,
	K_OTHER
};

struct im_resp {
	enum im_kind kind;
	char status; /* tagged: 'O' OK, 'N' NO, 'B' BAD */
	char tag[32];
	char code[32]; /* the response code's name: EXPUNGEISSUED, UIDVALIDITY... */
	uint64_t code_num;
	bool caps, literal_plus; /* a capability list came, and it holds LITERAL+ */
	uint32_t num;            /* EXISTS, RECENT, EXPUNGE, FETCH */
	bool has_uid, has_size, has_full;
	uint32_t uid;
	uint64_t size, full_len;   /* RFC822.SIZE and the length of BODY[] */
	const char *proto_err;     /* it parses, but breaks a rule */
	size_t proto_at;
	uint32_t search_max;       /* the largest number in a SEARCH answer */
	size_t set_at, set_len;    /* VANISHED: the UID set */
};

struct im_p {
	const char *s;
	size_t i, n;
	const char *err;
	size_t err_at;
	int depth;
	struct im_resp *r;
};

static bool p_fail(struct im_p *p, const char *why)
{
	if (p->err == NULL) {
		p->err = why;
		p->err_at = p->i;
	}
	return false;
}

static void p_proto(struct im_p *p, size_t at, const char *why)
{
	if (p->r->proto_err == NULL) {
		p->r->proto_err = why;
		p->r->proto_at = at;
	}
}

static inline bool p_at(const struct im_p *p, char ch)
{
	return p->i < p->n && p->s[p->i] == ch;
}

static bool p_ch(struct im_p *p, char ch, const char *why)
{
	if (!p_at(p, ch))
		return p_fail(p, why);
	p->i++;
	return true;
}

static bool p_sp(struct im_p *p)
{
	return p_ch(p, ' ', "expected a space");
}

/* ATOM-CHAR: any CHAR but atom-specials ( ) { SP CTL % * " \ ] */
static inline bool im_atom_char(unsigned char ch)
{
	return ch > 0x20 && ch < 0x7f && strchr("(){%*\"\\]", ch) == NULL;
}

static size_t p_atom_len(const struct im_p *p, bool bracket)
{
	size_t k = p->i;
	while (k < p->n && (im_atom_char((unsigned char)p->s[k]) || (bracket && p->s[k] == ']')))
		k++;
	return k - p->i;
}

/* A keyword (case-insensitive) ending where the atom ends; moves on only
 * when it matches. */
static bool p_kw(struct im_p *p, const char *kw)
{
	size_t l = strlen(kw);
	if (p->n - p->i < l || strncasecmp(p->s + p->i, kw, l) != 0)
		return false;
	if (p->i + l < p->n && im_atom_char((unsigned char)p->s[p->i + l]))
		return false;
	p->i += l;
	return true;
}

static bool p_number(struct im_p *p, uint64_t *v_r)
{
	size_t st = p->i;
	uint64_t v = 0;
	while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
		if (v > (UINT64_MAX >> 1) / 10)
			return p_fail(p, "number too large");
		v = v * 10 + (uint64_t)(p->s[p->i] - '0');
		p->i++;
	}
	if (p->i == st)
		return p_fail(p, "expected a number");
	*v_r = v;
	return true;
}

/* nz-number: digit-nz *DIGIT, 32 bits. */
static bool p_nz(struct im_p *p, uint32_t *v_r)
{
	size_t st = p->i;
	uint64_t v;
	if (p_at(p, '0'))
		return p_fail(p, "expected a non-zero number without leading zeros");
	if (!p_number(p, &v))
		return false;
	if (v > UINT32_MAX) {
		p->i = st;
		return p_fail(p, "number beyond 32 bits");
	}
	*v_r = (uint32_t)v;
	return true;
}

static bool p_quoted(struct im_p *p, size_t *at_r, uint64_t *len_r)
{
	size_t st = ++p->i;
	while (p->i < p->n) {
		unsigned char ch = (unsigned char)p->s[p->i];
		if (ch == '"') {
			if (at_r != NULL)
				*at_r = st, *len_r = p->i - st;
			p->i++;
			return true;
		}
		if (ch == '\\') {
			if (p->i + 1 >= p->n || (p->s[p->i + 1] != '"' && p->s[p->i + 1] != '\\'))
				return p_fail(p, "backslash before something other than \" or \\ in a quoted string");
			p->i += 2;
			continue;
		}
		if (ch == '\r' || ch == '\n' || ch == 0)
			return p_fail(p, "quoted string not closed on its line");
		p->i++;
	}
	return p_fail(p, "quoted string not closed");
}

/* "{" number "}" CRLF and that many bytes; with binary, "~{" too. */
static bool p_literal(struct im_p *p, bool binary, size_t *at_r, uint64_t *len_r)
{
	bool eight = false;
	if (p_at(p, '~')) {
		if (!binary)
			return p_fail(p, "literal8 (~{n}) outside BINARY[]");
		eight = true;
		p->i++;
	}
	if (!p_ch(p, '{', "expected a literal"))
		return false;
	uint64_t n;
	if (!p_number(p, &n))
		return false;
	if (p_at(p, '+'))
		return p_fail(p, "a server's literal must not be non-synchronizing ({n+})");
	if (!p_ch(p, '}', "expected } after the literal's length"))
		return false;
	if (p->n - p->i < 2 || p->s[p->i] != '\r' || p->s[p->i + 1] != '\n')
		return p_fail(p, "a literal's {n} must end its line with CRLF");
	p->i += 2;
	if (n > p->n - p->i)
		return p_fail(p, "literal longer than the response");
	if (!eight && memchr(p->s + p->i, '\0', (size_t)n) != NULL)
		return p_fail(p, "NUL in a literal (only a literal8 may hold one)");
	if (at_r != NULL)
		*at_r = p->i, *len_r = n;
	p->i += (size_t)n;
	return true;
}

static bool p_string(struct im_p *p, size_t *at_r, uint64_t *len_r)
{
	if (p_at(p, '"'))
		return p_quoted(p, at_r, len_r);
	if (p_at(p, '{'))
		return p_literal(p, false, at_r, len_r);
	return p_fail(p, "expected a string");
}

/* NIL or a string; *at_r is SIZE_MAX for NIL. */
static bool p_nstring(struct im_p *p, size_t *at_r, uint64_t *len_r)
{
	if (p_kw(p, "NIL")) {
		if (at_r != NULL)
			*at_r = SIZE_MAX, *len_r = 0;
		return true;
	}
	return p_string(p, at_r, len_r);
}

static bool p_astring(struct im_p *p)
{
	size_t l = p_atom_len(p, true);
	if (l > 0) {
		p->i += l;
		return true;
	}
	return p_string(p, NULL, NULL);
}

/* "\" atom / atom; "\*" too in PERMANENTFLAGS. */
static bool p_flag(struct im_p *p, bool perm)
{
	if (p_at(p, '\\')) {
		p->i++;
		if (perm && p_at(p, '*')) {
			p->i++;
			return true;
		}
	}
	size_t l = p_atom_len(p, false);
	if (l == 0)
		return p_fail(p, "expected a flag");
	p->i += l;
	return true;
}

static bool p_flag_list(struct im_p *p, bool perm)
{
	if (!p_ch(p, '(', "expected a flag list"))
		return false;
	if (p_at(p, ')')) {
		p->i++;
		return true;
	}
	for (;;) {
		if (!p_flag(p, perm))
			return false;
		if (p_at(p, ')')) {
			p->i++;
			return true;
		}
		if (!p_ch(p, ' ', "expected a space or ) in a flag list"))
			return false;
	}
}

/* "(" name SP adl SP mailbox SP host ")" */
static bool p_address(struct im_p *p)
{
	if (!p_ch(p, '(', "expected an address"))
		return false;
	for (int k = 0; k < 4; k++)
		if ((k > 0 && !p_sp(p)) || !p_nstring(p, NULL, NULL))
			return false;
	return p_ch(p, ')', "an address has four fields");
}

/* "(" 1*address ")" / NIL */
static bool p_addresses(struct im_p *p)
{
	if (p_kw(p, "NIL"))
		return true;
	if (!p_ch(p, '(', "expected an address list or NIL"))
		return false;
	do {
		if (!p_address(p))
			return false;
	} while (p_at(p, '('));
	return p_ch(p, ')', "expected ) after the addresses");
}

/* date subject from sender reply-to to cc bcc in-reply-to message-id */
static bool p_envelope(struct im_p *p)
{
	if (!p_ch(p, '(', "expected ( to open ENVELOPE"))
		return false;
	if (!p_nstring(p, NULL, NULL) || !p_sp(p) || !p_nstring(p, NULL, NULL))
		return false;
	for (int k = 0; k < 6; k++)
		if (!p_sp(p) || !p_addresses(p))
			return false;
	if (!p_sp(p) || !p_nstring(p, NULL, NULL) || !p_sp(p) || !p_nstring(p, NULL, NULL))
		return false;
	return p_ch(p, ')', "an envelope has ten fields");
}

/* Any value: a parenthesized list (nested parts may follow each other
 * without a space, as in BODYSTRUCTURE), a string, NIL, a number, an atom. */
static bool p_value(struct im_p *p)
{
	if (p_at(p, '(')) {
		if (++p->depth > IM_MAX_DEPTH)
			return p_fail(p, "parentheses nested too deep");
		p->i++;
		if (!p_at(p, ')')) {
			for (;;) {
				bool list = p_at(p, '(');
				if (!p_value(p))
					return false;
				if (p_at(p, ')'))
					break;
				if (list && p_at(p, '('))
					continue;
				if (!p_ch(p, ' ', "expected a space or ) in a list"))
					return false;
			}
		}
		p->i++;
		p->depth--;
		return true;
	}
	if (p_at(p, '"'))
		return p_quoted(p, NULL, NULL);
	if (p_at(p, '{'))
		return p_literal(p, false, NULL, NULL);
	size_t l = p_atom_len(p, false);
	if (l == 0)
		return p_fail(p, "expected a value");
	p->i += l;
	return true;
}

/* section-part: nz-number *("." nz-number) */
static bool p_part(struct im_p *p)
{
	uint32_t v;
	if (!p_nz(p, &v))
		return false;
	while (p->i + 1 < p->n && p->s[p->i] == '.' && p->s[p->i + 1] >= '0' && p->s[p->i + 1] <= '9') {
		p->i++;
		if (!p_nz(p, &v))
			return false;
	}
	return true;
}

static bool p_upto(struct im_p *p, const char *word)
{
	size_t l = strlen(word);
	if (p->n - p->i < l || strncasecmp(p->s + p->i, word, l) != 0)
		return false;
	p->i += l;
	return true;
}

/* HEADER.FIELDS[.NOT] SP header-list / HEADER / TEXT (/ MIME after a part) */
static bool p_section_text(struct im_p *p, bool after_part, bool *header_r)
{
	if (p_upto(p, "HEADER.FIELDS.NOT") || p_upto(p, "HEADER.FIELDS")) {
		*header_r = true;
		if (!p_sp(p) || !p_ch(p, '(', "expected ( to open the header list"))
			return false;
		for (;;) {
			if (!p_astring(p))
				return false;
			if (p_at(p, ')')) {
				p->i++;
				return true;
			}
			if (!p_ch(p, ' ', "expected a space or ) in the header list"))
				return false;
		}
	}
	if (p_upto(p, "HEADER")) {
		*header_r = true;
		return true;
	}
	if (p_upto(p, "TEXT"))
		return true;
	if (after_part && p_upto(p, "MIME"))
		return true;
	return p_fail(p, "unknown section");
}

/* "[" section "]" ["<" number ">"]; *empty_r: BODY[] (no section, no origin) */
static bool p_section(struct im_p *p, bool binary, bool *empty_r, bool *header_r)
{
	*empty_r = *header_r = false;
	if (!p_ch(p, '[', "expected ["))
		return false;
	bool empty = p_at(p, ']');
	if (!empty) {
		if (p->s[p->i] >= '0' && p->s[p->i] <= '9') {
			if (!p_part(p))
				return false;
			if (!binary && p_at(p, '.')) {
				p->i++;
				if (!p_section_text(p, true, header_r))
					return false;
			}
		} else if (binary || !p_section_text(p, false, header_r)) {
			return p_fail(p, "unknown section");
		}
	}
	if (!p_ch(p, ']', "expected ] to close the section"))
		return false;
	if (p_at(p, '<')) {
		uint64_t origin;
		p->i++;
		if (!p_number(p, &origin) || !p_ch(p, '>', "expected > after the origin"))
			return false;
		empty = false;
	}
	*empty_r = empty;
	return true;
}

/* One FETCH item: a known name and its value. */
static bool p_fetch_item(struct im_p *p)
{
	struct im_resp *r = p->r;
	size_t st = p->i;
	while (p->i < p->n && (isalnum((unsigned char)p->s[p->i]) || p->s[p->i] == '.' || p->s[p->i] == '-'))
		p->i++;
	size_t nl = p->i - st;
	const char *name = p->s + st;
#define IS(w) (nl == strlen(w) && strncasecmp(name, w, nl) == 0)
	if (nl == 0)
		return p_fail(p, "expected a FETCH item");
	if (IS("BODY") && p_at(p, '[')) {
		bool empty, header;
		if (!p_section(p, false, &empty, &header) || !p_sp(p))
			return false;
		size_t at;
		uint64_t len;
		if (!p_nstring(p, &at, &len))
			return false;
		if (empty && at != SIZE_MAX)
			r->has_full = true, r->full_len = len;
		if (header && at != SIZE_MAX &&
		    !(len == 2 ? memcmp(p->s + at, "\r\n", 2) == 0
			       : len >= 4 && memcmp(p->s + at + len - 4, "\r\n\r\n", 4) == 0))
			p_proto(p, at, "a header fetch must end with the blank line (CRLF CRLF)");
		return true;
	}
	if ((IS("BINARY") || IS("BINARY.SIZE")) && p_at(p, '[')) {
		bool empty, header, size = IS("BINARY.SIZE");
		if (!p_section(p, true, &empty, &header) || !p_sp(p))
			return false;
		uint64_t v;
		if (size)
			return p_number(p, &v);
		if (p_kw(p, "NIL"))
			return true;
		if (p_at(p, '"'))
			return p_quoted(p, NULL, NULL);
		return p_literal(p, true, NULL, NULL);
	}
	if (!p_sp(p))
		return p_fail(p, "expected a space and the value after a FETCH item's name");
	if (IS("UID")) {
		r->has_uid = true;
		return p_nz(p, &r->uid);
	}
	if (IS("FLAGS"))
		return p_flag_list(p, false);
	if (IS("RFC822.SIZE")) {
		r->has_size = true;
		return p_number(p, &r->size);
	}
	if (IS("INTERNALDATE")) {
		if (!p_at(p, '"'))
			return p_fail(p, "INTERNALDATE must be a quoted date-time");
		return p_quoted(p, NULL, NULL);
	}
	if (IS("ENVELOPE"))
		return p_envelope(p);
	if (IS("BODY") || IS("BODYSTRUCTURE")) {
		if (!p_at(p, '('))
			return p_fail(p, "expected ( to open the body structure");
		return p_value(p);
	}
	if (IS("RFC822") || IS("RFC822.HEADER") || IS("RFC822.TEXT"))
		return p_nstring(p, NULL, NULL);
	if (IS("MODSEQ")) {
		uint64_t v;
		return p_ch(p, '(', "expected ( after MODSEQ") && p_number(p, &v) &&
		       p_ch(p, ')', "expected ) after the mod-sequence");
	}
#undef IS
	p->i = st;
	return p_fail(p, "unknown FETCH item");
}

static bool p_msg_att(struct im_p *p)
{
	if (!p_ch(p, '(', "expected ( after FETCH"))
		return false;
	for (;;) {
		if (!p_fetch_item(p))
			return false;
		if (p_at(p, ')')) {
			p->i++;
			break;
		}
		if (!p_ch(p, ' ', "expected a space or ) after a FETCH item"))
			return false;
	}
	struct im_resp *r = p->r;
	if (r->has_size && r->has_full && r->size != r->full_len)
		p_proto(p, p->i, "RFC822.SIZE differs from the length of BODY[]");
	return true;
}

/* Space-separated atoms to the end of the line or a "]"; notes LITERAL+. */
static bool p_caps(struct im_p *p)
{
	p->r->caps = true;
	for (;;) {
		size_t l = p_atom_len(p, false);
		if (l == 0)
			return p_fail(p, "expected a capability");
		if (l == 8 && strncasecmp(p->s + p->i, "LITERAL+", 8) == 0)
			p->r->literal_plus = true;
		p->i += l;
		if (!p_at(p, ' '))
			return true;
		p->i++;
	}
}

/* ["[" resp-text-code "]" SP] text */
static bool p_resp_text(struct im_p *p)
{
	struct im_resp *r = p->r;
	if (p_at(p, '[')) {
		p->i++;
		size_t l = p_atom_len(p, false);
		if (l == 0)
			return p_fail(p, "empty response code");
		snprintf(r->code, sizeof r->code, "%.*s", (int)(l < 31 ? l : 31), p->s + p->i);
		p->i += l;
		const char *c = r->code;
		if (strcasecmp(c, "PERMANENTFLAGS") == 0) {
			if (!p_sp(p) || !p_flag_list(p, true))
				return false;
		} else if (strcasecmp(c, "CAPABILITY") == 0) {
			if (!p_sp(p) || !p_caps(p))
				return false;
		} else if (strcasecmp(c, "UIDNEXT") == 0 || strcasecmp(c, "UIDVALIDITY") == 0 ||
			   strcasecmp(c, "UNSEEN") == 0 || strcasecmp(c, "HIGHESTMODSEQ") == 0) {
			if (!p_sp(p) || !p_number(p, &r->code_num))
				return false;
		} else if (strcasecmp(c, "BADCHARSET") == 0 && p_at(p, ' ')) {
			p->i++;
			if (!p_ch(p, '(', "expected ( after BADCHARSET"))
				return false;
			while (!p_at(p, ')'))
				if (!p_astring(p) || (!p_at(p, ')') && !p_sp(p)))
					return false;
			p->i++;
		} else if (p_at(p, ' ')) {
			p->i++;
			while (p->i < p->n && p->s[p->i] != ']' && p->s[p->i] != '\r' && p->s[p->i] != '\n' &&
			       p->s[p->i] != 0)
				p->i++;
		}
		if (!p_ch(p, ']', "expected ] to close the response code"))
			return false;
		if (p_at(p, '\r'))
			return true;
		if (!p_sp(p))
			return false;
	}
	size_t st = p->i;
	while (p->i < p->n && p->s[p->i] != '\r' && p->s[p->i] != '\n') {
		if (p->s[p->i] == 0)
			return p_fail(p, "NUL in a response's text");
		if (p->s[p->i] == '*' && p->i > st && p->i + 2 < p->n && p->s[p->i + 1] == ' ' &&
		    (isdigit((unsigned char)p->s[p->i + 2]) || isupper((unsigned char)p->s[p->i + 2])))
			return p_fail(p, "\"* \" in the middle of a line: another response starts inside this one");
		p->i++;
	}
	return true;
}

/* sequence-set of UIDs (VANISHED) */
static bool p_uid_set(struct im_p *p)
{
	size_t st = p->i;
	for (;;) {
		uint32_t v;
		if (!p_nz(p, &v))
			return false;
		if (p_at(p, ':')) {
			p->i++;
			if (!p_nz(p, &v))
				return false;
		}
		if (!p_at(p, ','))
			break;
		p->i++;
	}
	p->r->set_at = st;
	p->r->set_len = p->i - st;
	return true;
}

static bool p_untagged(struct im_p *p)
{
	struct im_resp *r = p->r;
	if (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
		uint64_t n;
		if (!p_number(p, &n) || !p_sp(p))
			return false;
		if (n > UINT32_MAX)
			return p_fail(p, "message number beyond 32 bits");
		r->num = (uint32_t)n;
		if (p_kw(p, "EXISTS")) {
			r->kind = K_EXISTS;
			return true;
		}
		if (p_kw(p, "RECENT")) {
			r->kind = K_RECENT;
			return true;
		}
		if (n == 0 && (p_upto(p, "EXPUNGE") || p_upto(p, "FETCH")))
			return p_fail(p, "message number 0");
		if (p_kw(p, "EXPUNGE")) {
			r->kind = K_EXPUNGE;
			return true;
		}
		if (p_kw(p, "FETCH")) {
			r->kind = K_FETCH;
			return p_sp(p) && p_msg_att(p);
		}
		return p_fail(p, "unknown numbered response (EXISTS, RECENT, EXPUNGE or FETCH expected)");
	}
	static const struct {
		const char *word;
		enum im_kind kind;
	} conds[] = {{"OK", K_OK}, {"NO", K_NO}, {"BAD", K_BAD}, {"BYE", K_BYE}, {"PREAUTH", K_PREAUTH}};
	for (size_t k = 0; k < sizeof conds / sizeof conds[0]; k++)
		if (p_kw(p, conds[k].word)) {
			r->kind = conds[k].kind;
			return p_sp(p) && p_resp_text(p);
		}
	if (p_kw(p, "CAPABILITY")) {
		r->kind = K_CAPABILITY;
		return p_sp(p) && p_caps(p);
	}
	if (p_kw(p, "FLAGS")) {
		r->kind = K_FLAGS;
		return p_sp(p) && p_flag_list(p, false);
	}
	if (p_kw(p, "SEARCH")) {
		r->kind = K_SEARCH;
		while (p_at(p, ' ')) {
			p->i++;
			if (p_at(p, '(')) {
				uint64_t ms;
				p->i++;
				return p_upto(p, "MODSEQ") && p_sp(p) && p_number(p, &ms) &&
				       p_ch(p, ')', "expected ) after MODSEQ");
			}
			uint32_t v;
			if (!p_nz(p, &v))
				return false;
			if (v > r->search_max)
				r->search_max = v;
		}
		return true;
	}
	if (p_kw(p, "STATUS")) {
		r->kind = K_STATUS;
		if (!p_sp(p) || !p_astring(p) || !p_sp(p) || !p_ch(p, '(', "expected ( after the mailbox name"))
			return false;
		while (!p_at(p, ')')) {
			static const char *const atts[] = {"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN",
							  "DELETED",  "SIZE",    "RECENT",      "HIGHESTMODSEQ"};
			bool known = false;
			for (size_t k = 0; k < sizeof atts / sizeof atts[0] && !known; k++)
				known = p_kw(p, atts[k]);
			if (!known)
				return p_fail(p, "unknown STATUS item");
			uint64_t v;
			if (!p_sp(p) || !p_number(p, &v))
				return false;
			if (!p_at(p, ')') && !p_sp(p))
				return false;
		}
		p->i++;
		return true;
	}
	if (p_kw(p, "VANISHED")) {
		r->kind = K_VANISHED;
		if (!p_sp(p))
			return false;
		if (p_upto(p, "(EARLIER)") && !p_sp(p))
			return false;
		return p_uid_set(p);
	}
	static const char *const others[] = {"LIST", "LSUB", "NAMESPACE", "ID", "ESEARCH", "ENABLED"};
	for (size_t k = 0; k < sizeof others / sizeof others[0]; k++)
		if (p_kw(p, others[k])) {
			r->kind = K_OTHER;
			while (p_at(p, ' ')) {
				p->i++;
				if (!p_value(p))
					return false;
			}
			return true;
		}
	return p_fail(p, "unknown untagged response");
}

/* One whole response as im_frame() returned it. */
static bool p_response(struct im_p *p, struct im_resp *r)
{
	memset(r, 0, sizeof *r);
	p->r = r;
	bool ok;
	if (p_at(p, '+')) {
		r->kind = K_CONT;
		p->i++;
		ok = p_sp(p);
		while (ok && p->i < p->n && p->s[p->i] != '\r' && p->s[p->i] != '\n')
			p->i++;
	} else if (p_at(p, '*')) {
		p->i++;
		ok = p_sp(p) && p_untagged(p);
	} else {
		r->kind = K_TAGGED;
		size_t l = 0;
		while (p->i + l < p->n && (im_atom_char((unsigned char)p->s[p->i + l]) || p->s[p->i + l] == ']') &&
		       p->s[p->i + l] != '+')
			l++;
		if (l == 0)
			return p_fail(p, "expected \"*\", \"+\" or a tag");
		snprintf(r->tag, sizeof r->tag, "%.*s", (int)(l < 31 ? l : 31), p->s + p->i);
		p->i += l;
		if (!p_sp(p))
			return false;
		if (p_kw(p, "OK"))
			r->status = 'O';
		else if (p_kw(p, "NO"))
			r->status = 'N';
		else if (p_kw(p, "BAD"))
			r->status = 'B';
		else
			return p_fail(p, "a tagged answer must be OK, NO or BAD");
		ok = p_sp(p) && p_resp_text(p);
	}
	if (!ok)
		return false;
	if (p->n - p->i != 2 || p->s[p->i] != '\r' || p->s[p->i + 1] != '\n')
		return p_fail(p, p->i < p->n && p->s[p->i] == '\n' ? "line ends in a bare LF, not CRLF"
								  : "more after the end of the response");
	return true;
}

/* --- the session's view, as the server told it ------------------------------------ */

/* Room for n UIDs. */
static void im_view_reserve(struct im_view *v, size_t n)
{
	if (n <= v->cap)
		return;
	size_t ncap = v->cap ? v->cap : 256;
	while (ncap < n)
		ncap *= 2;
	uint32_t *nu = realloc(v->uids, ncap * sizeof *nu);
	if (nu == NULL)
		load_die("out of memory");
	v->uids = nu;
	v->cap = ncap;
}

static void im_view_reset(struct im_view *v, size_t n)
{
	im_view_reserve(v, n);
	memset(v->uids, 0, n * sizeof *v->uids);
	v->n = v->unknown = n;
}

static void im_view_grow(struct im_view *v, size_t n)
{
	size_t old = v->n, unknown = v->unknown;
	im_view_reserve(v, n);
	memset(v->uids + old, 0, (n - old) * sizeof *v->uids);
	v->n = n;
	v->unknown = unknown + (n - old);
}

/* Remove the message at index i; returns its UID (0: not known). */
static uint32_t im_view_remove(struct im_view *v, size_t i)
{
	uint32_t uid = v->uids[i];
	memmove(v->uids + i, v->uids + i + 1, (v->n - i - 1) * sizeof *v->uids);
	v->n--;
	if (uid == 0)
		v->unknown--;
	return uid;
}

static uint32_t im_view_max_uid(const struct im_view *v)
{
	for (size_t i = v->n; i > 0; i--)
		if (v->uids[i - 1] != 0)
			return v->uids[i - 1];
	return 0;
}

static void im_note_expunged(struct im_client *cl, uint32_t uid)
{
	if (uid == 0)
		cl->exp_unknown_during = true;
	else if (cl->n_exp_during < IM_MAX_EXP_DURING)
		cl->exp_during[cl->n_exp_during++] = uid;
	else
		cl->exp_unknown_during = true;
}

static void im_on_exists(struct im_client *cl, uint32_t n, const char *raw, size_t len)
{
	if (n > IM_MAX_VIEW) {
		im_report(cl, F_PROTOCOL, raw, len, SIZE_MAX, "EXISTS %u: more messages than this tool tracks", n);
		cl->resync = true;
		return;
	}
	if (cl->selecting) {
		/* The new mailbox: everything before this was about the old one. */
		im_view_reset(&cl->v, n);
		cl->selecting = false;
		cl->saw_exists = true;
		return;
	}
	if (n < cl->v.n) {
		im_report(cl, F_PROTOCOL, raw, len, SIZE_MAX,
			  "EXISTS %u, but the session knows %zu messages: EXISTS may not shrink the mailbox (EXPUNGE does)", n,
			  cl->v.n);
		cl->resync = true;
		return;
	}
	im_view_grow(&cl->v, n);
}

static void im_on_expunge(struct im_client *cl, uint32_t n, const char *raw, size_t len)
{
	if (im_ops[cl->op].seq_rule)
		im_report(cl, F_PROTOCOL, raw, len, SIZE_MAX,
			  "EXPUNGE during %s, a command by sequence number (RFC 9051 7.5.1 forbids it during FETCH, STORE "
			  "and SEARCH)",
			  im_ops[cl->op].name);
	if (n > cl->v.n) {
		im_report(cl, F_PROTOCOL, raw, len, SIZE_MAX, "EXPUNGE %u, but the session knows only %zu messages", n,
			  cl->v.n);
		cl->resync = true;
		return;
	}
	im_note_expunged(cl, im_view_remove(&cl->v, n - 1));
}

static void im_on_fetch(struct im_client *cl, const struct im_resp *r, const char *raw, size_t len)
{
	struct im_view *v = &cl->v;
	if (r->num > v->n) {
		im_report(cl, F_PROTOCOL, raw, len, SIZE_MAX,
			  "FETCH for message %u, but the session knows only %zu (no EXISTS announced it)", r->num, v->n);
		cl->resync = true;
		return;
	}
	if (!r->has_uid)
		return;
	size_t i = r->num - 1;
	uint32_t cur = v->uids[i];
	if (cur != 0) {
		if (cur != r->uid) {
			im_report(cl, F_PROTOCOL, raw, len, SIZE_MAX,
				  "message %u is UID %u in this session's view, the server says UID %u", r->num, cur, r->uid);
			cl->resync = true;
		}
		return;
	}
	uint32_t below = 0, above = UINT32_MAX;
	for (size_t k = i; k > 0; k--)
		if (v->uids[k - 1] != 0) {
			below = v->uids[k - 1];
			break;
		}
	for (size_t k = i + 1; k < v->n; k++)
		if (v->uids[k] != 0) {
			above = v->uids[k];
			break;
		}
	if (r->uid <= below || r->uid >= above) {
		im_report(cl, F_PROTOCOL, raw, len, SIZE_MAX,
			  "message %u has UID %u, out of order between UIDs %u and %u of its neighbours", r->num, r->uid,
			  below, above);
		cl->resync = true;
		return;
	}
	v->uids[i] = r->uid;
	v->unknown--;
}

static void im_on_vanished(struct im_client *cl, const struct im_resp *r, const char *raw, size_t len)
{
	im_report(cl, F_PROTOCOL, raw, len, SIZE_MAX, "VANISHED although the session did not ENABLE QRESYNC");
	const char *s = raw + r->set_at, *e = s + r->set_len;
	while (s < e) {
		char *q;
		unsigned long lo = strtoul(s, &q, 10), hi = lo;
		if (q < e && *q == ':')
			hi = strtoul(q + 1, &q, 10);
		if (hi < lo) {
			unsigned long t = lo;
			lo = hi, hi = t;
		}
		for (size_t i = cl->v.n; i > 0; i--)
			if (cl->v.uids[i - 1] >= lo && cl->v.uids[i - 1] <= hi)
				im_note_expunged(cl, im_view_remove(&cl->v, i - 1));
		s = q < e && *q == ',' ? q + 1 : e;
	}
}

enum { IM_OK, IM_NO, IM_BAD, IM_LOST, IM_CONT, IM_BROKEN, IM_MORE };

/* NO [EXPUNGEISSUED]: legal when a message asked for was reported expunged
 * during the command, a failure when the session still sees them all. */
static void im_on_expungeissued(struct im_client *cl, const char *raw, size_t len)
{
	bool told = cl->exp_unknown_during;
	if (cl->req_uid) {
		for (size_t k = 0; k < cl->n_exp_during && !told; k++)
			told = cl->exp_during[k] >= cl->req_lo && cl->exp_during[k] <= cl->req_hi;
	} else {
		told = told || cl->n_exp_during > 0;
	}
	if (told) {
		im_report(cl, F_EXPUNGEISSUED, raw, len, SIZE_MAX, "EXPUNGEISSUED for a message reported expunged");
		return;
	}
	char what[64];
	if (cl->req_lo == cl->req_hi)
		snprintf(what, sizeof what, "%s %u", cl->req_uid ? "UID" : "message", cl->req_lo);
	else if (cl->req_hi == UINT32_MAX)
		snprintf(what, sizeof what, "%s %u:*", cl->req_uid ? "UIDs" : "messages", cl->req_lo);
	else
		snprintf(what, sizeof what, "%s %u:%u", cl->req_uid ? "UIDs" : "messages", cl->req_lo, cl->req_hi);
	im_report(cl, F_EXPUNGEISSUED_VISIBLE, raw, len, SIZE_MAX,
		  "NO [EXPUNGEISSUED] for %s, which this session still sees (no EXPUNGE was reported to it)", what);
}

/* What one parsed response means for the session and the command in flight:
 * IM_MORE, or how the command ended. */
static int im_apply(struct im_client *cl, const struct im_resp *r, const char *raw, size_t len)
{
	if (r->proto_err != NULL)
		im_report(cl, F_PROTOCOL, raw, len, r->proto_at, "%s", r->proto_err);
	if (r->caps)
		cl->literal_plus = r->literal_plus;
	switch (r->kind) {
	case K_CONT:
		if (cl->want_cont)
			return IM_CONT;
		im_report(cl, F_PROTOCOL, raw, len, SIZE_MAX, "a continuation request nobody asked for");
		return IM_MORE;
	case K_TAGGED:
		if (strcmp(r->tag, cl->tag) != 0) {
			im_report(cl, F_PROTOCOL, raw, len, SIZE_MAX, "tagged answer for %s; the command in flight is %s",
				  r->tag, cl->tag);
			return IM_MORE;
		}
		if (r->status == 'O')
			return IM_OK;
		if (r->status == 'B') {
			im_report(cl, F_BAD, raw, len, SIZE_MAX, "tagged BAD");
			return IM_BAD;
		}
		if (strcasecmp(r->code, "EXPUNGEISSUED") == 0)
			im_on_expungeissued(cl, raw, len);
		else
			im_report(cl, F_NO, raw, len, SIZE_MAX, "tagged NO");
		return IM_NO;
	case K_BYE:
		cl->saw_bye = true;
		if (cl->op != OP_LOGOUT)
			im_report(cl, F_BYE, raw, len, SIZE_MAX, "BYE without LOGOUT");
		return IM_MORE;
	case K_BAD:
		im_report(cl, F_BAD, raw, len, SIZE_MAX, "untagged BAD");
		return IM_MORE;
	case K_OK:
		if (strcasecmp(r->code, "UIDVALIDITY") == 0 && cl->op == OP_SELECT) {
			if (cl->uidvalidity != 0 && cl->uidvalidity != r->code_num)
				im_report(cl, F_PROTOCOL, raw, len, SIZE_MAX, "UIDVALIDITY changed from %u", cl->uidvalidity);
			cl->uidvalidity = (uint32_t)r->code_num;
		}
		return IM_MORE;
	case K_EXISTS:
		im_on_exists(cl, r->num, raw, len);
		return IM_MORE;
	case K_EXPUNGE:
		im_on_expunge(cl, r->num, raw, len);
		return IM_MORE;
	case K_FETCH:
		im_on_fetch(cl, r, raw, len);
		return IM_MORE;
	case K_SEARCH:
		if (cl->op == OP_SEARCH_UNSEEN && r->search_max > cl->v.n)
			im_report(cl, F_PROTOCOL, raw, len, SIZE_MAX,
				  "SEARCH answers message %u, but the session knows only %zu", r->search_max, cl->v.n);
		return IM_MORE;
	case K_VANISHED:
		im_on_vanished(cl, r, raw, len);
		return IM_MORE;
	default:
		return IM_MORE;
	}
}

static void im_close(struct im_client *cl)
{
	if (cl->c.fd >= 0)
		close(cl->c.fd);
	cl->c.fd = -1;
	cl->c.start = cl->c.end = 0;
	cl->connected = cl->selected = false;
}

/* The connection is gone (rc from im_frame or im_send): count why, close. */
static void im_lost(struct im_client *cl, int rc)
{
	struct im_conn *c = &cl->c;
	size_t partial = c->end - c->start;
	if ((rc == IM_F_EOF || rc == IM_F_TIMEOUT) && partial > 0)
		im_report(cl, F_MALFORMED, c->buf + c->start, partial, partial,
			  "the server %s inside a response, %zu bytes into it (a literal or a line cut short)",
			  rc == IM_F_EOF ? "closed the connection" : "stopped sending", partial);
	switch (rc) {
	case IM_F_TIMEOUT:
		im_report(cl, F_STALL, NULL, 0, SIZE_MAX, "no answer within %.0f s", IM_TIMEOUT_MS / 1000);
		im_report(cl, F_CONN, NULL, 0, SIZE_MAX, "gave the connection up after %.0f s without an answer",
			  IM_TIMEOUT_MS / 1000);
		break;
	case IM_F_EOF:
		if (!cl->saw_bye)
			im_report(cl, F_CONN, NULL, 0, SIZE_MAX, "the server closed the connection");
		break;
	case IM_F_LONG:
		im_report(cl, F_MALFORMED, NULL, 0, SIZE_MAX, "a response longer than %u bytes", IM_MAX_RESPONSE);
		break;
	case IM_F_BIGLIT:
		im_report(cl, F_MALFORMED, NULL, 0, SIZE_MAX, "a literal of more than %u bytes announced", IM_MAX_LITERAL);
		break;
	default:
		im_report(cl, F_CONN, NULL, 0, SIZE_MAX, "connection error: %s", strerror(c->err));
		break;
	}
	im_close(cl);
}

/* Read and judge responses up to the tagged answer of the command in flight
 * (or a continuation, when one is wanted). */
static int im_answer(struct im_client *cl, double deadline)
{
	for (;;) {
		const char *raw;
		size_t len;
		int rc = im_frame(&cl->c, deadline, &raw, &len);
		if (rc != IM_F_OK) {
			im_lost(cl, rc);
			return IM_LOST;
		}
		struct im_resp r;
		struct im_p p = {.s = raw, .n = len};
		if (!p_response(&p, &r)) {
			im_report(cl, F_MALFORMED, raw, len, p.err_at, "%s", p.err);
			size_t tl = strlen(cl->tag);
			bool ours = len > tl && memcmp(raw, cl->tag, tl) == 0 && raw[tl] == ' ';
			im_prev(cl, raw, len);
			if (ours) /* a broken tagged answer still ends the command */
				return IM_BROKEN;
			continue;
		}
		int done = im_apply(cl, &r, raw, len);
		im_prev(cl, raw, len);
		if (done != IM_MORE)
			return done;
	}
}

/* --- commands ---------------------------------------------------------------- */

static void im_record(struct im_client *cl, enum im_op op, double t0, double t1)
{
	if (g_end_ms > 0 && t1 > g_end_ms)
		return;
	struct im_lat *l = &cl->st.lat[op];
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		float *nv = realloc(l->v, l->cap * sizeof *nv);
		if (nv == NULL)
			load_die("out of memory");
		l->v = nv;
	}
	l->v[l->n++] = (float)(t1 - t0);
}

struct im_req {
	bool uid;
	uint32_t lo, hi;
};

/* Send "TAG CMD" (with a literal: APPEND) and read the answers; counts the
 * command under op. Returns IM_OK, IM_NO, IM_BAD, IM_BROKEN or IM_LOST. */
static int im_cmd(struct im_client *cl, enum im_op op, struct im_req req, const char *lit, size_t lit_len,
		  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int im_cmd(struct im_client *cl, enum im_op op, struct im_req req, const char *lit, size_t lit_len,
		  const char *fmt, ...)
{
	char text[IM_CMD_CAP - 40];
	va_list ap;
	va_start(ap, fmt);
	int tl = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (tl < 0 || (size_t)tl >= sizeof text)
		load_die("command too long");
	snprintf(cl->tag, sizeof cl->tag, "m%" PRIu64, ++cl->serial);
	bool plus = lit != NULL && cl->literal_plus;
	if (lit != NULL)
		snprintf(cl->cmd, sizeof cl->cmd, "%s %s {%zu%s}", cl->tag, text, lit_len, plus ? "+" : "");
	else
		snprintf(cl->cmd, sizeof cl->cmd, "%s %s", cl->tag, text);
	cl->op = op;
	cl->req_uid = req.uid;
	cl->req_lo = req.lo;
	cl->req_hi = req.hi;
	cl->n_exp_during = 0;
	cl->exp_unknown_during = false;
	cl->saw_bye = false;
	size_t ol = strlen(cl->cmd);
	memcpy(cl->out, cl->cmd, ol);
	cl->out[ol++] = '\r', cl->out[ol++] = '\n';
	if (plus) {
		if (ol + lit_len + 2 > IM_OUT_CAP)
			load_die("literal too long");
		memcpy(cl->out + ol, lit, lit_len);
		ol += lit_len;
		cl->out[ol++] = '\r', cl->out[ol++] = '\n';
	}
	double t0 = load_now_ms();
	double limit = op == OP_LOGOUT ? IM_LOGOUT_MS : IM_TIMEOUT_MS;
	int rc = im_send(&cl->c, cl->out, ol, t0 + limit);
	if (rc != IM_F_OK) {
		im_lost(cl, rc);
		return IM_LOST;
	}
	if (lit != NULL && !plus) {
		cl->want_cont = true;
		rc = im_answer(cl, t0 + limit);
		cl->want_cont = false;
		if (rc != IM_CONT)
			return rc;
		memcpy(cl->out, lit, lit_len);
		cl->out[lit_len] = '\r', cl->out[lit_len + 1] = '\n';
		int src = im_send(&cl->c, cl->out, lit_len + 2, t0 + limit);
		if (src != IM_F_OK) {
			im_lost(cl, src);
			return IM_LOST;
		}
	}
	rc = im_answer(cl, t0 + limit);
	double t1 = load_now_ms();
	if (rc != IM_LOST) {
		if (t1 - t0 > g_cfg.stall_ms)
			im_report(cl, F_STALL, NULL, 0, SIZE_MAX, "the tagged answer took %.0f ms (stall limit %.0f ms)",
				  t1 - t0, g_cfg.stall_ms);
		im_record(cl, op, t0, t1);
	}
	return rc;
}

static const struct im_req im_noreq = {false, 0, 0};

static struct im_req im_uids(uint32_t lo, uint32_t hi)
{
	return (struct im_req){true, lo, hi};
}

static struct im_req im_seqs(uint32_t lo, uint32_t hi)
{
	return (struct im_req){false, lo, hi};
}

/* USERFMT with its one number conversion (%d, %i, %u, %ld, %lu) filled in. */
static bool im_user_name(const char *fmt, long idx, char *out, size_t cap)
{
	size_t o = 0;
	int convs = 0;
	for (const char *f = fmt; *f; f++) {
		char piece[32];
		const char *add = piece;
		if (*f != '%') {
			piece[0] = *f, piece[1] = '\0';
		} else if (f[1] == '%') {
			add = "%";
			f++;
		} else {
			f++;
			if (*f == 'l')
				f++;
			if (*f != 'd' && *f != 'i' && *f != 'u')
				return false;
			snprintf(piece, sizeof piece, "%ld", idx);
			convs++;
		}
		size_t al = strlen(add);
		if (o + al + 1 > cap)
			return false;
		memcpy(out + o, add, al);
		o += al;
	}
	out[o] = '\0';
	return convs == 1;
}

/* --- messages ---------------------------------------------------------------------- */

static const char *const im_words[] = {
	"budget",   "release", "meeting",  "invoice", "contract", "server",   "migration", "report",
	"travel",   "design",  "review",   "schedule", "support", "ticket",   "delivery",  "network",
	"backup",   "cluster", "training", "feedback", "quarter", "proposal", "agenda",    "summary",
};
static const char *const im_fillers[] = {
	"the", "and", "of", "to", "in", "a", "is", "for", "with", "on", "that", "this", "we", "you", "will",
	"be", "please", "attached", "thanks", "next", "week", "team", "notes", "update", "changes", "numbers",
};
static const char *const im_first[] = {"Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo",
				       "Ines", "Jonas", "Karin", "Liam"};
static const char *const im_last[] = {"Adams", "Becker", "Costa", "Dubois", "Evans", "Fischer", "Garcia",
				      "Hansen", "Ivanov", "Jensen", "Keller", "Larsen"};
static const char *const im_domains[] = {"example.org", "example.net", "mail.example.com", "corp.example",
					 "lists.example.org", "partner.example"};
#define IM_PICK(cl, a) (a[im_rand(cl) % (sizeof(a) / sizeof(a[0]))])

static void im_ap(char *m, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void im_ap(char *m, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(m + *len, IM_MSG_CAP - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= IM_MSG_CAP - *len)
		load_die("generated message over %d bytes", IM_MSG_CAP);
	*len += (size_t)n;
}

/* Wrapped text of about `target` bytes, CRLF line endings. */
static void im_text(struct im_client *cl, char *m, size_t *len, size_t target, bool html)
{
	size_t start = *len, col = 0;
	if (html)
		im_ap(m, len, "<html><body><p>\r\n");
	while (*len - start < target) {
		const char *w = im_rand(cl) % 6 == 0 ? IM_PICK(cl, im_words) : IM_PICK(cl, im_fillers);
		size_t wl = strlen(w);
		if (col > 0 && col + 1 + wl > 72) {
			im_ap(m, len, im_rand(cl) % 8 == 0 ? (html ? ".</p>\r\n<p>" : ".\r\n\r\n") : "\r\n");
			col = 0;
		}
		im_ap(m, len, "%s%s", col ? " " : "", w);
		col += (col ? 1 : 0) + wl;
	}
	im_ap(m, len, html ? ".</p></body></html>\r\n" : ".\r\n");
}

/* A message of 1-8 KB of ordinary shape (a third multipart/alternative),
 * CRLF line endings, into cl->msg; returns its length. */
static size_t im_message(struct im_client *cl)
{
	char *m = cl->msg;
	size_t len = 0, target = 1024 + im_rand(cl) % (8192 - 1024 + 1);
	const char *first = IM_PICK(cl, im_first), *last = IM_PICK(cl, im_last), *dom = IM_PICK(cl, im_domains);
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	bool reply = im_rand(cl) % 4 == 0;
	uint32_t id = im_rand(cl);
	im_ap(m, &len, "Return-Path: <%s.%s@%s>\r\n", first, last, dom);
	im_ap(m, &len, "Received: from mx.%s (mx.%s [198.51.100.%u])\r\n\tby mail.example.com; %s\r\n", dom, dom,
	      1 + im_rand(cl) % 250, date);
	im_ap(m, &len, "From: \"%s %s\" <%s.%s@%s>\r\n", first, last, first, last, dom);
	im_ap(m, &len, "To: %s <%s@example.com>\r\n", cl->user, cl->user);
	if (im_rand(cl) % 3 == 0)
		im_ap(m, &len, "Cc: %s <%s@%s>\r\n", IM_PICK(cl, im_first), IM_PICK(cl, im_last), IM_PICK(cl, im_domains));
	im_ap(m, &len, "Subject: %s%s %s %s #%u\r\n", reply ? "Re: " : "", IM_PICK(cl, im_words),
	      IM_PICK(cl, im_fillers), IM_PICK(cl, im_words), id % 100000);
	im_ap(m, &len, "Date: %s\r\n", date);
	im_ap(m, &len, "Message-ID: <%08x.%d.%" PRIu64 "@mixed.example>\r\n", id, cl->id, cl->serial);
	if (reply)
		im_ap(m, &len, "In-Reply-To: <%08x.ref@%s>\r\nReferences: <%08x.root@%s>\r\n <%08x.ref@%s>\r\n", id ^ 1, dom,
		      id ^ 2, dom, id ^ 1, dom);
	im_ap(m, &len, "MIME-Version: 1.0\r\n");
	size_t room = target > len + 300 ? target - len - 300 : 300;
	if (im_rand(cl) % 3 == 0) {
		im_ap(m, &len, "Content-Type: multipart/alternative; boundary=\"b-%08x\"\r\n\r\n", id);
		im_ap(m, &len, "--b-%08x\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", id);
		im_text(cl, m, &len, room / 2, false);
		im_ap(m, &len, "--b-%08x\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n", id);
		im_text(cl, m, &len, room / 2, true);
		im_ap(m, &len, "--b-%08x--\r\n", id);
	} else {
		im_ap(m, &len, "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
		im_text(cl, m, &len, room, false);
	}
	return len;
}

/* --- sessions ---------------------------------------------------------------- */

static void im_client_init(struct im_client *cl, int id, size_t bufcap)
{
	memset(cl, 0, sizeof *cl);
	cl->id = id;
	cl->c.fd = -1;
	cl->c.cap = bufcap;
	cl->c.buf = im_alloc(bufcap);
	cl->out = im_alloc(IM_OUT_CAP);
	cl->msg = im_alloc(IM_MSG_CAP);
	/* splitmix64 of the seed and the client, so each client differs */
	uint64_t z = g_cfg.seed * 0x9E3779B97F4A7C15ull + (uint64_t)id + 1;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	cl->rng = (z ^ (z >> 31)) | 1;
}

static void im_client_free(struct im_client *cl)
{
	im_close(cl);
	free(cl->c.buf);
	free(cl->out);
	free(cl->msg);
	free(cl->v.uids);
	for (int k = 0; k < OP_COUNT; k++)
		free(cl->st.lat[k].v);
}

static void im_set_user(struct im_client *cl, long idx)
{
	char before[sizeof cl->user];
	memcpy(before, cl->user, sizeof before);
	if (!im_user_name(g_cfg.userfmt, idx, cl->user, sizeof cl->user))
		load_die("USERFMT must hold one %%d (or %%ld, %%u)");
	if (strcmp(before, cl->user) != 0)
		cl->uidvalidity = 0; /* another user's INBOX: its own UIDVALIDITY */
	load_imap_quote(cl->quser, sizeof cl->quser, cl->user);
	load_imap_quote(cl->qpass, sizeof cl->qpass, g_cfg.pass);
}

/* SELECT INBOX, then every UID and flag. */
static int im_select(struct im_client *cl)
{
	cl->selecting = true;
	cl->saw_exists = false;
	int rc = im_cmd(cl, OP_SELECT, im_noreq, NULL, 0, "SELECT INBOX");
	bool had = cl->saw_exists;
	cl->selecting = false;
	if (rc != IM_OK) {
		cl->selected = false; /* a failed SELECT leaves no mailbox selected */
		return rc;
	}
	if (!had) {
		im_report(cl, F_PROTOCOL, NULL, 0, SIZE_MAX, "SELECT answered OK without EXISTS");
		im_view_reset(&cl->v, 0);
	}
	cl->selected = true;
	cl->resync = false;
	return im_cmd(cl, OP_SYNC, im_uids(1, UINT32_MAX), NULL, 0, "UID FETCH 1:* (UID FLAGS)");
}

/* Connect, greeting, LOGIN, and (with select) SELECT INBOX and the sync. */
static bool im_open(struct im_client *cl, bool select)
{
	cl->cmd[0] = '\0';
	cl->prev[0] = '\0';
	cl->saw_bye = false;
	cl->literal_plus = false;
	double t0 = load_now_ms();
	const char *why = "";
	cl->c.fd = im_connect(g_cfg.port, t0 + IM_TIMEOUT_MS, &why);
	if (cl->c.fd < 0) {
		im_report(cl, F_CONN, NULL, 0, SIZE_MAX, "connect to 127.0.0.1:%d: %s", g_cfg.port, why);
		return false;
	}
	cl->c.start = cl->c.end = 0;
	cl->connected = true;
	cl->op = OP_CONNECT;
	snprintf(cl->cmd, sizeof cl->cmd, "(greeting)");
	const char *raw;
	size_t len;
	int frc = im_frame(&cl->c, t0 + IM_TIMEOUT_MS, &raw, &len);
	if (frc != IM_F_OK) {
		im_lost(cl, frc);
		return false;
	}
	struct im_resp r;
	struct im_p p = {.s = raw, .n = len};
	if (!p_response(&p, &r)) {
		im_report(cl, F_MALFORMED, raw, len, p.err_at, "%s", p.err);
		im_close(cl);
		return false;
	}
	if (r.caps)
		cl->literal_plus = r.literal_plus;
	if (r.kind == K_BYE) {
		im_report(cl, F_BYE, raw, len, SIZE_MAX, "greeting is BYE");
		im_close(cl);
		return false;
	}
	if (r.kind != K_OK && r.kind != K_PREAUTH) {
		im_report(cl, F_PROTOCOL, raw, len, SIZE_MAX, "the greeting must be OK or PREAUTH");
		im_close(cl);
		return false;
	}
	im_prev(cl, raw, len);
	im_record(cl, OP_CONNECT, t0, load_now_ms());
	cl->st.sessions++;
	int rc = im_cmd(cl, OP_LOGIN, im_noreq, NULL, 0, "LOGIN %s %s", cl->quser, cl->qpass);
	if (rc == IM_OK && select)
		rc = im_select(cl);
	if (rc != IM_OK) {
		im_close(cl);
		return false;
	}
	return true;
}

static void im_logout(struct im_client *cl)
{
	if (!cl->connected)
		return;
	im_cmd(cl, OP_LOGOUT, im_noreq, NULL, 0, "LOGOUT");
	im_close(cl);
}

/* A message this session knows, by index (biased to the newest half the
 * time); SIZE_MAX when it knows none. */
static size_t im_pick_index(struct im_client *cl)
{
	struct im_view *v = &cl->v;
	if (v->n == 0 || v->unknown == v->n)
		return SIZE_MAX;
	size_t i = im_rand(cl) % 2 && v->n > 30 ? v->n - 30 + im_rand(cl) % 30 : im_rand(cl) % v->n;
	for (size_t k = i; k < v->n; k++)
		if (v->uids[k] != 0)
			return k;
	for (size_t k = i; k > 0; k--)
		if (v->uids[k - 1] != 0)
			return k - 1;
	return SIZE_MAX;
}

/* Sequence numbers a:b of up to max messages, half the time the newest. */
static void im_pick_seqs(struct im_client *cl, uint32_t max, uint32_t *a, uint32_t *b)
{
	uint32_t n = (uint32_t)cl->v.n, len = 1 + im_rand(cl) % max;
	if (im_rand(cl) % 2)
		*a = n > len ? n - len + 1 : 1;
	else
		*a = 1 + im_rand(cl) % n;
	*b = *a + len - 1 > n ? n : *a + len - 1;
}

static enum im_op im_pick_op(struct im_client *cl)
{
	struct im_view *v = &cl->v;
	if (cl->resync || !cl->selected)
		return OP_SELECT;
	if (v->unknown > 0 && (v->unknown * 10 > v->n || im_rand(cl) % 2 == 0))
		return OP_FETCH_NEW;
	unsigned w[OP_COUNT], sum = 0;
	bool known = v->n > v->unknown;
	size_t n = v->n, lo = (size_t)g_cfg.min_msgs, hi = (size_t)g_cfg.max_msgs;
	for (int k = 0; k < OP_COUNT; k++)
		w[k] = im_ops[k].needs_msgs && !known ? 0 : im_ops[k].weight;
	if (n <= lo)
		w[OP_APPEND] = IM_CHURN_WEIGHT;
	else if (n >= hi)
		w[OP_STORE_DELETED] = IM_CHURN_WEIGHT;
	else {
		w[OP_STORE_DELETED] = (unsigned)(IM_CHURN_WEIGHT * (n - lo) / (hi - lo));
		w[OP_APPEND] = IM_CHURN_WEIGHT - w[OP_STORE_DELETED];
	}
	if (!known)
		w[OP_STORE_DELETED] = 0;
	for (int k = 0; k < OP_COUNT; k++)
		sum += w[k];
	unsigned x = im_rand(cl) % sum;
	for (int k = 0; k < OP_COUNT; k++) {
		if (x < w[k])
			return (enum im_op)k;
		x -= w[k];
	}
	return OP_NOOP;
}

static const char *im_flag_change(struct im_client *cl)
{
	static const char *const changes[] = {
		"+FLAGS (\\Seen)", "-FLAGS (\\Seen)", "+FLAGS (\\Flagged)", "-FLAGS (\\Flagged)", "+FLAGS ($Label1)",
		"-FLAGS ($Label1)", "+FLAGS ($Label2)", "-FLAGS ($Label2)", "+FLAGS (\\Seen $Label3)", "-FLAGS ($Label3)",
	};
	return IM_PICK(cl, changes);
}

#define IM_HEADER_FIELDS "BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID REFERENCES)]"

/* One pick of the mix: usually one command, two for a delete. */
static int im_run_op(struct im_client *cl, enum im_op op)
{
	struct im_view *v = &cl->v;
	size_t i = im_ops[op].needs_msgs ? im_pick_index(cl) : 0;
	if (i == SIZE_MAX)
		op = OP_NOOP;
	uint32_t uid = im_ops[op].needs_msgs ? v->uids[i] : 0, a, b;
	switch (op) {
	case OP_SELECT:
		return im_select(cl);
	case OP_FETCH_NEW: {
		uint32_t from = im_view_max_uid(v) + 1;
		return im_cmd(cl, op, im_uids(from, UINT32_MAX), NULL, 0, "UID FETCH %u:* (UID FLAGS)", from);
	}
	case OP_FETCH_FLAGS: {
		if (im_rand(cl) % 10 == 0)
			return im_cmd(cl, op, im_uids(1, UINT32_MAX), NULL, 0, "UID FETCH 1:* (UID FLAGS)");
		size_t j = i + im_rand(cl) % 50;
		if (j >= v->n)
			j = v->n - 1;
		while (v->uids[j] == 0)
			j--;
		return im_cmd(cl, op, im_uids(uid, v->uids[j]), NULL, 0, "UID FETCH %u:%u (UID FLAGS)", uid, v->uids[j]);
	}
	case OP_FETCH_ENVELOPE:
		im_pick_seqs(cl, 25, &a, &b);
		return im_cmd(cl, op, im_seqs(a, b), NULL, 0, "FETCH %u:%u (UID RFC822.SIZE FLAGS ENVELOPE)", a, b);
	case OP_FETCH_HEADERS:
		im_pick_seqs(cl, 25, &a, &b);
		return im_cmd(cl, op, im_seqs(a, b), NULL, 0, "FETCH %u:%u (UID RFC822.SIZE FLAGS " IM_HEADER_FIELDS ")",
			      a, b);
	case OP_FETCH_BODY:
		return im_cmd(cl, op, im_uids(uid, uid), NULL, 0, "UID FETCH %u (UID RFC822.SIZE BODY.PEEK[])", uid);
	case OP_FETCH_TEXT:
		return im_cmd(cl, op, im_uids(uid, uid), NULL, 0, "UID FETCH %u (UID BODY.PEEK[TEXT])", uid);
	case OP_FETCH_PART:
		return im_cmd(cl, op, im_seqs((uint32_t)i + 1, (uint32_t)i + 1), NULL, 0, "FETCH %zu (UID BODY[1])", i + 1);
	case OP_STORE:
		return im_cmd(cl, op, im_uids(uid, uid), NULL, 0, "UID STORE %u %s", uid, im_flag_change(cl));
	case OP_STORE_SEQ:
		im_pick_seqs(cl, 5, &a, &b);
		return im_cmd(cl, op, im_seqs(a, b), NULL, 0, "STORE %u:%u %s", a, b, im_flag_change(cl));
	case OP_STORE_DELETED: {
		int rc = im_cmd(cl, op, im_uids(uid, uid), NULL, 0, "UID STORE %u +FLAGS (\\Deleted)", uid);
		if (rc == IM_LOST || (g_end_ms > 0 && load_now_ms() >= g_end_ms))
			return rc;
		if (im_rand(cl) % 2)
			return im_cmd(cl, OP_UID_EXPUNGE, im_uids(uid, uid), NULL, 0, "UID EXPUNGE %u", uid);
		return im_cmd(cl, OP_EXPUNGE, im_noreq, NULL, 0, "EXPUNGE");
	}
	case OP_APPEND: {
		size_t ml = im_message(cl);
		return im_cmd(cl, op, im_noreq, cl->msg, ml, "APPEND INBOX (%s)", im_rand(cl) % 3 == 0 ? "\\Seen" : "");
	}
	case OP_SEARCH_UNSEEN:
		return im_cmd(cl, op, im_noreq, NULL, 0, "SEARCH UNSEEN");
	case OP_SEARCH_SUBJECT:
		return im_cmd(cl, op, im_noreq, NULL, 0, "UID SEARCH SUBJECT %s", IM_PICK(cl, im_words));
	case OP_STATUS:
		return im_cmd(cl, op, im_noreq, NULL, 0, "STATUS INBOX (MESSAGES UIDNEXT UNSEEN)");
	default:
		return im_cmd(cl, OP_NOOP, im_noreq, NULL, 0, "NOOP");
	}
}

static bool im_running(void)
{
	return load_now_ms() < g_end_ms;
}

/* After a failed session: a short pause, so that a refusing server is not
 * hammered (bounded by the end of the run). */
static void im_pause(struct im_client *cl)
{
	double left = g_end_ms - load_now_ms(), ms = 100 + im_rand(cl) % 200;
	if (left <= 0)
		return;
	if (ms > left)
		ms = left;
	struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (double)(long)(ms / 1000) * 1000) * 1e6)};
	nanosleep(&ts, NULL);
}

static void *im_client_thread(void *arg)
{
	struct im_client *cl = arg;
	im_set_user(cl, cl->id % g_cfg.nusers);
	while (im_running()) {
		if (!cl->connected && !im_open(cl, true)) {
			im_pause(cl);
			continue;
		}
		if (g_cfg.churn) {
			/* The sync was the first of 1-5 commands. */
			int more = (int)(im_rand(cl) % 5);
			for (int k = 0; k < more && cl->connected && im_running(); k++)
				im_run_op(cl, im_pick_op(cl));
			im_logout(cl);
		} else {
			im_run_op(cl, im_pick_op(cl));
		}
	}
	im_logout(cl);
	pthread_mutex_lock(&g_lock);
	cl->finished = true;
	g_finished++;
	pthread_cond_signal(&g_cond);
	pthread_mutex_unlock(&g_lock);
	return NULL;
}

/* --- options, threads, the report ---------------------------------------------- */

static long im_num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		load_die("bad %s \"%s\" (%ld..%ld)", what, s, lo, hi);
	return v;
}

static void im_options(int argc, char **argv)
{
	for (int k = 0; k < argc; k++) {
		const char *o = argv[k];
		if (k + 1 >= argc)
			load_die("%s needs a value", o);
		const char *val = argv[++k];
		if (strcmp(o, "--clients") == 0)
			g_cfg.clients = (int)im_num(val, 1, IM_MAX_CLIENTS, o);
		else if (strcmp(o, "--seconds") == 0)
			g_cfg.seconds = (int)im_num(val, 1, 86400, o);
		else if (strcmp(o, "--seed") == 0)
			g_cfg.seed = (uint64_t)im_num(val, 0, LONG_MAX, o);
		else if (strcmp(o, "--min-msgs") == 0)
			g_cfg.min_msgs = (int)im_num(val, 0, 1000000, o);
		else if (strcmp(o, "--max-msgs") == 0)
			g_cfg.max_msgs = (int)im_num(val, 1, 1000000, o);
		else if (strcmp(o, "--stall-ms") == 0)
			g_cfg.stall_ms = (double)im_num(val, 1, 3600000, o);
		else if (strcmp(o, "--profile") == 0 && (strcmp(val, "long") == 0 || strcmp(val, "churn") == 0))
			g_cfg.churn = strcmp(val, "churn") == 0;
		else
			load_die("unknown option %s %s", o, val);
	}
	if (g_cfg.max_msgs <= g_cfg.min_msgs)
		load_die("--max-msgs must be above --min-msgs (%d)", g_cfg.min_msgs);
}

static void im_positional(int argc, char **argv, int want, const char *usage)
{
	if (argc < want)
		load_die("usage: %s", usage);
	g_cfg.port = (int)im_num(argv[0], 1, 65535, "PORT");
	g_cfg.userfmt = argv[1];
	g_cfg.nusers = im_num(argv[2], 1, IM_MAX_USERS, "NUSERS");
	g_cfg.pass = argv[3];
	char probe[256];
	if (!im_user_name(g_cfg.userfmt, 0, probe, sizeof probe))
		load_die("USERFMT must hold one %%d (or %%ld, %%u)");
}

/* Start a thread per client; wait (bounded) until all have finished.
 * Returns how many did not finish in time. */
static int im_threads(struct im_client *cls, int n, void *(*fn)(void *), double until)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, IM_STACK);
	pthread_t *th = im_alloc((size_t)n * sizeof *th);
	for (int k = 0; k < n; k++) {
		int err = pthread_create(&th[k], &attr, fn, &cls[k]);
		if (err != 0)
			load_die("pthread_create: %s", strerror(err));
	}
	pthread_attr_destroy(&attr);
	pthread_mutex_lock(&g_lock);
	while (g_finished < n) {
		double left = until - load_now_ms();
		if (until > 0 && left <= 0)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		double wait_ms = until > 0 && left < 1000 ? left : 1000;
		ts.tv_sec += (time_t)(wait_ms / 1000);
		ts.tv_nsec += (long)((wait_ms - (double)(long)(wait_ms / 1000) * 1000) * 1e6);
		if (ts.tv_nsec >= 1000000000L)
			ts.tv_sec++, ts.tv_nsec -= 1000000000L;
		pthread_cond_timedwait(&g_cond, &g_lock, &ts);
	}
	int missing = n - g_finished;
	pthread_mutex_unlock(&g_lock);
	for (int k = 0; k < n; k++)
		if (cls[k].finished)
			pthread_join(th[k], NULL);
	free(th);
	return missing;
}

static int im_cmp_float(const void *x, const void *y)
{
	float a = *(const float *)x, b = *(const float *)y;
	return a < b ? -1 : a > b;
}

static int im_run(int argc, char **argv)
{
	im_positional(argc, argv, 4, "run PORT USERFMT NUSERS PASS [--clients N] [--seconds S] [--profile long|churn] "
				     "[--seed N] [--min-msgs N] [--max-msgs N] [--stall-ms MS]");
	im_options(argc - 4, argv + 4);
	signal(SIGPIPE, SIG_IGN);
	load_need_fds(g_cfg.clients);
	int n = g_cfg.clients;
	struct im_client *cls = im_alloc((size_t)n * sizeof *cls);
	for (int k = 0; k < n; k++)
		im_client_init(&cls[k], k, IM_BUF_INIT);
	double t0 = load_now_ms();
	g_end_ms = t0 + g_cfg.seconds * 1000.0;
	int missing = im_threads(cls, n, im_client_thread, g_end_ms + IM_DRAIN_MS);
	double secs = (double)g_cfg.seconds;

	struct im_stats total = {0};
	for (int k = 0; k < n; k++) {
		if (!cls[k].finished)
			continue;
		for (int f = 0; f < F_COUNT; f++)
			total.fails[f] += cls[k].st.fails[f];
		total.sessions += cls[k].st.sessions;
	}
	if (missing > 0) {
		fprintf(stderr, LOAD_PROG ": %d clients still busy %.0f s after the end; giving up on them\n", missing,
			IM_DRAIN_MS / 1000);
		total.fails[F_STALL] += (uint64_t)missing;
		total.fails[F_CONN] += (uint64_t)missing;
	}
	printf(LOAD_PROG ": %s profile, %d clients on %ld users (%s) of 127.0.0.1:%d, %d s, seed %" PRIu64
	       ", %d..%d messages per mailbox, stall limit %.0f ms\n",
	       g_cfg.churn ? "churn" : "long", n, g_cfg.nusers, g_cfg.userfmt, g_cfg.port, g_cfg.seconds, g_cfg.seed,
	       g_cfg.min_msgs, g_cfg.max_msgs, g_cfg.stall_ms);
	printf("%-16s %9s %10s %9s %9s %9s\n", "command", "count", "ops/s", "p50 ms", "p99 ms", "max ms");
	uint64_t ops = 0;
	for (int op = 0; op < OP_COUNT; op++) {
		size_t cnt = 0;
		for (int k = 0; k < n; k++)
			if (cls[k].finished)
				cnt += cls[k].st.lat[op].n;
		if (cnt == 0)
			continue;
		float *all = im_alloc(cnt * sizeof *all);
		size_t o = 0;
		for (int k = 0; k < n; k++)
			if (cls[k].finished) {
				memcpy(all + o, cls[k].st.lat[op].v, cls[k].st.lat[op].n * sizeof *all);
				o += cls[k].st.lat[op].n;
			}
		qsort(all, cnt, sizeof *all, im_cmp_float);
		size_t p99 = (size_t)((double)cnt * 0.99);
		printf("%-16s %9zu %10.1f %9.2f %9.2f %9.2f\n", im_ops[op].name, cnt, (double)cnt / secs,
		       (double)all[(cnt - 1) / 2], (double)all[p99 >= cnt ? cnt - 1 : p99], (double)all[cnt - 1]);
		free(all);
		ops += cnt;
	}
	uint64_t errors = 0;
	for (int f = 0; f < F_COUNT; f++)
		if (f != F_EXPUNGEISSUED)
			errors += total.fails[f];
	printf("total ops=%" PRIu64 " ops_per_s=%.1f sessions=%" PRIu64 "\n", ops, (double)ops / secs, total.sessions);
	printf("failures:");
	for (int f = 0; f < F_COUNT; f++)
		printf(" %s=%" PRIu64, im_fail_names[f], total.fails[f]);
	printf("\n");
	printf("result ops=%" PRIu64 " ops_per_s=%.1f", ops, (double)ops / secs);
	for (int f = 0; f < F_COUNT; f++)
		printf(" %s=%" PRIu64, im_fail_names[f], total.fails[f]);
	printf(" errors=%" PRIu64 "\n", errors);
	fflush(stdout);
	if (missing > 0)
		_exit(2); /* threads still hold their clients */
	for (int k = 0; k < n; k++)
		im_client_free(&cls[k]);
	free(cls);
	return errors > 0 ? 2 : 0;
}

/* --- fill ------------------------------------------------------------------------ */

static void *im_fill_thread(void *arg)
{
	struct im_client *cl = arg;
	for (;;) {
		pthread_mutex_lock(&g_lock);
		long idx = g_fill_next < g_cfg.nusers ? g_fill_next++ : -1;
		pthread_mutex_unlock(&g_lock);
		if (idx < 0)
			break;
		im_set_user(cl, idx);
		if (!im_open(cl, false))
			break;
		cl->selecting = true;
		cl->saw_exists = false;
		int rc = im_cmd(cl, OP_SELECT, im_noreq, NULL, 0, "SELECT INBOX");
		cl->selecting = false;
		for (size_t have = cl->v.n; rc == IM_OK && have < (size_t)g_cfg.fill_msgs; have++) {
			size_t ml = im_message(cl);
			rc = im_cmd(cl, OP_APPEND, im_noreq, cl->msg, ml, "APPEND INBOX ()");
		}
		if (rc != IM_OK)
			break;
		im_logout(cl);
	}
	im_close(cl);
	pthread_mutex_lock(&g_lock);
	cl->finished = true;
	g_finished++;
	pthread_cond_signal(&g_cond);
	pthread_mutex_unlock(&g_lock);
	return NULL;
}

static int im_fill_cmd(int argc, char **argv)
{
	im_positional(argc, argv, 5, "fill PORT USERFMT NUSERS PASS MSGS [--clients N] [--seed N]");
	g_cfg.fill_msgs = im_num(argv[4], 0, 1000000, "MSGS");
	g_cfg.clients = 8;
	im_options(argc - 5, argv + 5);
	g_cfg.stall_ms = 1e12; /* a fill measures nothing */
	signal(SIGPIPE, SIG_IGN);
	int n = g_cfg.clients < g_cfg.nusers ? g_cfg.clients : (int)g_cfg.nusers;
	struct im_client *cls = im_alloc((size_t)n * sizeof *cls);
	for (int k = 0; k < n; k++)
		im_client_init(&cls[k], k, IM_BUF_INIT);
	double t0 = load_now_ms();
	im_threads(cls, n, im_fill_thread, 0);
	uint64_t appended = 0, errors = 0;
	for (int k = 0; k < n; k++) {
		appended += cls[k].st.lat[OP_APPEND].n;
		for (int f = 0; f < F_COUNT; f++)
			errors += cls[k].st.fails[f];
		im_client_free(&cls[k]);
	}
	free(cls);
	double secs = (load_now_ms() - t0) / 1000;
	if (errors > 0 || g_fill_next < g_cfg.nusers)
		load_die("fill failed (%" PRIu64 " failures, see above); %" PRIu64 " messages appended", errors, appended);
	printf("filled %ld users to %ld messages each: %" PRIu64 " appended in %.1f s (%.0f/s)\n", g_cfg.nusers,
	       g_cfg.fill_msgs, appended, secs, secs > 0 ? (double)appended / secs : 0.0);
	return 0;
}

/* --- selftest ---------------------------------------------------------------------- */

/* A canned answer to the command in flight, and the failures it must count
 * (comma-separated kinds; "" for none). The session knows 40 messages: the
 * one at sequence number N has UID 10 * N. */
struct im_case {
	const char *name;
	enum im_op op;
	struct im_req req;
	const char *data;
	size_t len; /* 0: strlen(data) */
	const char *expect;
	long view_n; /* the messages the session knows afterwards; -1: not checked */
};

#define U(lo, hi) {true, lo, hi}
#define S(lo, hi) {false, lo, hi}
#define WITH_NUL(s) s, sizeof(s) - 1
static const struct im_case im_cases[] = {
	{"header fetch with a literal", OP_FETCH_HEADERS, S(3, 3),
	 "* 3 FETCH (UID 30 RFC822.SIZE 2345 FLAGS (\\Seen $Label1) BODY[HEADER.FIELDS (FROM TO CC SUBJECT DATE "
	 "MESSAGE-ID REFERENCES)] {39}\r\nSubject: hello\r\nFrom: a@example.com\r\n\r\n)\r\nT1 OK Fetch completed\r\n",
	 0, "", 40},
	{"a response inside a FETCH", OP_FETCH_HEADERS, S(33, 33),
	 "* 33 FETCH (BODY[HEADER.FIELDS (SUBJECT)]* 35 EXISTS\r\nT1 OK done\r\n", 0, "malformed", 40},
	{"literal cut short by the end of the connection", OP_FETCH_BODY, U(30, 30),
	 "* 3 FETCH (UID 30 BODY[] {200}\r\nSubject: hi\r\n\r\nbody\r\n)\r\nT1 OK done\r\n", 0, "malformed,conn", -1},
	{"literal shorter than its bytes", OP_FETCH_TEXT, U(30, 30),
	 "* 3 FETCH (UID 30 BODY[TEXT] {3}\r\nbody text\r\n)\r\nT1 OK done\r\n", 0, "malformed", 40},
	{"literal longer than its bytes", OP_FETCH_TEXT, U(30, 30),
	 "* 3 FETCH (UID 30 BODY[TEXT] {12}\r\nbody\r\n)\r\nT1 OK done\r\n", 0, "malformed,conn", -1},
	{"unbalanced parentheses", OP_FETCH_FLAGS, U(30, 30), "* 3 FETCH (UID 30 FLAGS (\\Seen)\r\nT1 OK done\r\n", 0,
	 "malformed", 40},
	{"envelope", OP_FETCH_ENVELOPE, S(2, 2),
	 "* 2 FETCH (UID 20 RFC822.SIZE 1234 FLAGS () ENVELOPE (\"Mon, 1 Jan 2024 10:00:00 +0000\" \"Re: the "
	 "\\\"plan\\\"\" ((\"Ann Example\" NIL \"ann\" \"example.com\")) ((\"Ann Example\" NIL \"ann\" \"example.com\")) "
	 "((\"Ann Example\" NIL \"ann\" \"example.com\")) ((NIL NIL \"bob\" \"example.org\")(NIL NIL \"carol\" "
	 "\"example.org\")) NIL NIL \"<a@b>\" \"<c@d>\"))\r\nT1 OK done\r\n",
	 0, "", 40},
	{"envelope with a literal subject", OP_FETCH_ENVELOPE, S(2, 2),
	 "* 2 FETCH (UID 20 ENVELOPE (NIL {5}\r\nhello NIL NIL NIL NIL NIL NIL NIL NIL))\r\nT1 OK done\r\n", 0, "", 40},
	{"envelope of nine fields", OP_FETCH_ENVELOPE, S(2, 2),
	 "* 2 FETCH (UID 20 ENVELOPE (\"d\" \"s\" NIL NIL NIL NIL NIL NIL NIL))\r\nT1 OK done\r\n", 0, "malformed", 40},
	{"unknown FETCH item", OP_FETCH_FLAGS, U(30, 30), "* 3 FETCH (UID 30 X-GARBAGE 5)\r\nT1 OK done\r\n", 0,
	 "malformed", 40},
	{"FETCH item without its value", OP_FETCH_FLAGS, U(30, 30), "* 3 FETCH (UID)\r\nT1 OK done\r\n", 0, "malformed",
	 40},
	{"empty FETCH", OP_FETCH_FLAGS, U(30, 30), "* 3 FETCH ()\r\nT1 OK done\r\n", 0, "malformed", 40},
	{"junk after a FETCH", OP_FETCH_FLAGS, U(30, 30), "* 3 FETCH (UID 30 FLAGS (\\Seen)) junk\r\nT1 OK done\r\n", 0,
	 "malformed", 40},
	{"bad escape in a quoted string", OP_FETCH_ENVELOPE, S(2, 2),
	 "* 2 FETCH (ENVELOPE (NIL \"bad \\q\" NIL NIL NIL NIL NIL NIL NIL NIL))\r\nT1 OK done\r\n", 0, "malformed", 40},
	{"quoted string not closed", OP_STATUS, S(0, 0), "* STATUS \"INBOX (MESSAGES 3)\r\nT1 OK done\r\n", 0,
	 "malformed", 40},
	{"EXPUNGE during FETCH by sequence number", OP_FETCH_ENVELOPE, S(1, 9), "* 5 EXPUNGE\r\nT1 OK done\r\n", 0,
	 "protocol", 39},
	{"EXPUNGE during STORE by sequence number", OP_STORE_SEQ, S(1, 2), "* 40 EXPUNGE\r\nT1 OK done\r\n", 0,
	 "protocol", 39},
	{"EXPUNGE during UID FETCH", OP_FETCH_BODY, U(50, 50),
	 "* 2 EXPUNGE\r\n* 4 FETCH (UID 50 RFC822.SIZE 4 BODY[] {4}\r\nabcd)\r\nT1 OK done\r\n", 0, "", 39},
	{"RFC822.SIZE unlike BODY[]", OP_FETCH_BODY, U(50, 50),
	 "* 5 FETCH (UID 50 RFC822.SIZE 10 BODY[] {4}\r\nabcd)\r\nT1 OK done\r\n", 0, "protocol", 40},
	{"EXPUNGEISSUED for a message still seen", OP_FETCH_BODY, U(50, 50),
	 "T1 NO [EXPUNGEISSUED] Some messages were expunged meanwhile\r\n", 0, "expungeissued_visible", 40},
	{"EXPUNGEISSUED by sequence number", OP_FETCH_PART, S(7, 7), "T1 NO [EXPUNGEISSUED] gone\r\n", 0,
	 "expungeissued_visible", 40},
	{"EXPUNGEISSUED after its EXPUNGE", OP_FETCH_BODY, U(50, 50), "* 5 EXPUNGE\r\nT1 NO [EXPUNGEISSUED] gone\r\n", 0,
	 "expungeissued", 39},
	{"UID unlike the session's", OP_FETCH_FLAGS, U(10, 40), "* 3 FETCH (UID 90 FLAGS ())\r\nT1 OK done\r\n", 0,
	 "protocol", 40},
	{"FETCH beyond EXISTS", OP_NOOP, S(0, 0), "* 41 FETCH (FLAGS ())\r\nT1 OK done\r\n", 0, "protocol", 40},
	{"EXISTS, then the new message", OP_FETCH_NEW, U(401, UINT32_MAX),
	 "* 42 EXISTS\r\n* 42 FETCH (UID 900 FLAGS ())\r\n* 41 FETCH (UID 899 FLAGS (\\Seen))\r\nT1 OK done\r\n", 0, "",
	 42},
	{"new UID out of order", OP_FETCH_NEW, U(401, UINT32_MAX),
	 "* 41 EXISTS\r\n* 41 FETCH (UID 300 FLAGS ())\r\nT1 OK done\r\n", 0, "protocol", 41},
	{"EXISTS that shrinks", OP_NOOP, S(0, 0), "* 30 EXISTS\r\nT1 OK done\r\n", 0, "protocol", 40},
	{"tagged BAD", OP_NOOP, S(0, 0), "T1 BAD Error in IMAP command\r\n", 0, "bad", 40},
	{"tagged NO", OP_APPEND, S(0, 0), "T1 NO [OVERQUOTA] Quota exceeded\r\n", 0, "no", 40},
	{"untagged BAD", OP_NOOP, S(0, 0), "* BAD Invalid tag\r\nT1 OK done\r\n", 0, "bad", 40},
	{"BYE nobody asked for", OP_NOOP, S(0, 0), "* BYE Server shutting down\r\n", 0, "bye", -1},
	{"BYE after LOGOUT", OP_LOGOUT, S(0, 0), "* BYE Logging out\r\nT1 OK Logout completed\r\n", 0, "", 40},
	{"bare LF", OP_FETCH_FLAGS, U(30, 30), "* 3 FETCH (UID 30 FLAGS ())\nT1 OK done\r\n", 0, "malformed", 40},
	{"a response inside a text", OP_NOOP, S(0, 0), "* OK still here* 3 EXISTS\r\nT1 OK done\r\n", 0, "malformed",
	 40},
	{"answer for another tag", OP_NOOP, S(0, 0), "T9 OK done\r\nT1 OK done\r\n", 0, "protocol", 40},
	{"a broken tagged answer ends the command", OP_NOOP, S(0, 0), "T1 OK [UIDNEXT x] done\r\n", 0, "malformed", 40},
	{"SELECT's answers", OP_NOOP, S(0, 0),
	 "* 40 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)\r\n* OK "
	 "[PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 \\*)] Flags permitted.\r\n* OK "
	 "[UIDVALIDITY 1700000000] UIDs valid\r\n* OK [UIDNEXT 401] Predicted next UID\r\n* OK [HIGHESTMODSEQ 77] "
	 "Highest\r\n* OK [UNSEEN 3] First unseen.\r\nT1 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n",
	 0, "", 40},
	{"STATUS, CAPABILITY and SEARCH", OP_SEARCH_UNSEEN, S(0, 0),
	 "* STATUS INBOX (MESSAGES 40 UIDNEXT 401 UNSEEN 3)\r\n* STATUS \"INBOX\" (MESSAGES 40)\r\n* CAPABILITY "
	 "IMAP4rev1 LITERAL+ IDLE\r\n* SEARCH 2 4 8\r\n* SEARCH\r\n* SEARCH 1 (MODSEQ 9)\r\nT1 OK [CLIENTBUG] done\r\n",
	 0, "", 40},
	{"SEARCH beyond the view", OP_SEARCH_UNSEEN, S(0, 0), "* SEARCH 3 77\r\nT1 OK done\r\n", 0, "protocol", 40},
	{"BODYSTRUCTURE", OP_FETCH_FLAGS, U(10, 10),
	 "* 1 FETCH (UID 10 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1 NIL NIL "
	 "NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"quoted-printable\" 40 2 NIL NIL NIL NIL) "
	 "\"alternative\" (\"boundary\" \"b1\") NIL NIL NIL))\r\nT1 OK done\r\n",
	 0, "", 40},
	{"BINARY literal8 with a NUL", OP_FETCH_FLAGS, U(10, 10),
	 WITH_NUL("* 1 FETCH (UID 10 BINARY[1] ~{3}\r\na\0b BINARY.SIZE[1] 3)\r\nT1 OK done\r\n"), "", 40},
	{"NUL in a literal", OP_FETCH_TEXT, U(10, 10),
	 WITH_NUL("* 1 FETCH (UID 10 BODY[TEXT] {3}\r\na\0b)\r\nT1 OK done\r\n"),
	 "malformed", 40},
	{"header fetch without its blank line", OP_FETCH_HEADERS, S(3, 3),
	 "* 3 FETCH (UID 30 BODY[HEADER.FIELDS (SUBJECT)] {13}\r\nSubject: hi\r\n)\r\nT1 OK done\r\n", 0, "protocol", 40},
	{"continuation nobody asked for", OP_NOOP, S(0, 0), "+ OK\r\nT1 OK done\r\n", 0, "protocol", 40},
	{"a server's non-synchronizing literal", OP_FETCH_TEXT, U(30, 30),
	 "* 3 FETCH (UID 30 BODY[TEXT] {4+}\r\nabcd)\r\nT1 OK done\r\n", 0, "malformed", 40},
	{"VANISHED without QRESYNC", OP_FETCH_FLAGS, U(10, 40), "* VANISHED 10:20\r\nT1 OK done\r\n", 0, "protocol", 38},
	{"MODSEQ, INTERNALDATE, partial and non-peek bodies", OP_FETCH_PART, S(3, 3),
	 "* 3 FETCH (UID 30 MODSEQ (12) INTERNALDATE \"01-Jan-2024 10:00:00 +0000\" BODY[1]<0> {10}\r\n0123456789 "
	 "FLAGS (\\Seen) BODY[1.2.MIME] \"x\" RFC822.HEADER NIL)\r\nT1 OK done\r\n",
	 0, "", 40},
	{"unknown section", OP_FETCH_PART, S(3, 3), "* 3 FETCH (BODY[FOO] NIL)\r\nT1 OK done\r\n", 0, "malformed", 40},
};
#undef U
#undef S
#undef WITH_NUL

/* Run one case through a socketpair with a read buffer of bufcap bytes;
 * NULL when judged right, else what was counted. */
static const char *im_case_run(const struct im_case *tc, size_t bufcap, char *got, size_t gotcap)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		load_die("socketpair: %s", strerror(errno));
	size_t len = tc->len ? tc->len : strlen(tc->data);
	if (write(sv[1], tc->data, len) != (ssize_t)len)
		load_die("selftest write: %s", strerror(errno));
	shutdown(sv[1], SHUT_WR);
	struct im_client cl;
	im_client_init(&cl, 0, bufcap);
	snprintf(cl.user, sizeof cl.user, "selftest");
	cl.c.fd = sv[0];
	cl.connected = cl.selected = true;
	im_view_reset(&cl.v, 40);
	for (size_t k = 0; k < 40; k++)
		cl.v.uids[k] = (uint32_t)(10 * (k + 1));
	cl.v.unknown = 0;
	cl.op = tc->op;
	cl.req_uid = tc->req.uid;
	cl.req_lo = tc->req.lo;
	cl.req_hi = tc->req.hi;
	snprintf(cl.tag, sizeof cl.tag, "T1");
	snprintf(cl.cmd, sizeof cl.cmd, "T1 (%s)", im_ops[tc->op].name);
	im_answer(&cl, load_now_ms() + 2000);
	size_t o = 0;
	got[0] = '\0';
	for (int f = 0; f < F_COUNT; f++)
		if (cl.st.fails[f] > 0)
			o += (size_t)snprintf(got + o, gotcap - o, "%s%s", o ? "," : "", im_fail_names[f]);
	const char *bad = NULL;
	if (strcmp(got, tc->expect) != 0)
		bad = "counted the wrong failures";
	else if (tc->view_n >= 0 && cl.v.n != (size_t)tc->view_n)
		bad = "left the session's view at the wrong size";
	if (bad != NULL && o + 40 < gotcap)
		snprintf(got + o, gotcap - o, " (view %zu; last: %s)", cl.v.n, cl.last_fail);
	close(sv[1]);
	im_client_free(&cl);
	return bad;
}

static int im_selftest(void)
{
	g_quiet = true;
	g_cfg.stall_ms = 1e12;
	signal(SIGPIPE, SIG_IGN);
	size_t ncases = sizeof im_cases / sizeof im_cases[0];
	int wrong = 0;
	static const size_t caps[] = {IM_BUF_INIT, 16};
	for (size_t b = 0; b < 2; b++)
		for (size_t k = 0; k < ncases; k++) {
			char got[600];
			const char *bad = im_case_run(&im_cases[k], caps[b], got, sizeof got);
			if (bad != NULL) {
				fprintf(stderr, LOAD_PROG " selftest: \"%s\" (%zu-byte buffer) %s: expected \"%s\", got \"%s\"\n",
					im_cases[k].name, caps[b], bad, im_cases[k].expect, got);
				wrong++;
			}
		}
	if (wrong > 0) {
		fprintf(stderr, LOAD_PROG " selftest: %d of %zu judgements wrong\n", wrong, 2 * ncases);
		return 1;
	}
	printf(LOAD_PROG " selftest: %zu cases judged right, with a %d-byte and a 16-byte read buffer\n", ncases,
	       IM_BUF_INIT);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		load_die("usage: imap-mixed run|fill|selftest ...");
	setvbuf(stderr, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "run") == 0)
		return im_run(argc - 2, argv + 2);
	if (strcmp(argv[1], "fill") == 0)
		return im_fill_cmd(argc - 2, argv + 2);
	if (strcmp(argv[1], "selftest") == 0)
		return im_selftest();
	load_die("unknown command %s", argv[1]);
}
