/* POP3 load generator for bench/run.sh; it talks to any POP3 server on
 * 127.0.0.1 (Roost and Dovecot alike) and uses nothing from src/. It is plain
 * blocking C with large buffers, so that the client costs far less than the
 * server it measures.
 *
 *   pop3-load gen DIR MAILDIR N
 *       Write N deterministic 3-4 KB messages (LF line endings) as DIR/NNNNN
 *       and hard-link each into MAILDIR/cur under a Dovecot-style name with
 *       S=size,W=CRLF-size, as Dovecot's own delivery would name it.
 *   pop3-load session PORT USER PASS OP REPS [WINDOW [MAX]]
 *       REPS times: connect, USER/PASS, OP, QUIT. OP is stat, uidl, list,
 *       retr (STAT then RETR 1..n, or 1..MAX, with up to WINDOW commands in
 *       flight; 1 = strictly sequential) or login (nothing). Prints one line per
 *       repetition: "rep=I login_ms=... op_ms=... total_ms=... msgs=... bytes=...".
 *   pop3-load fill DATA USER DIR N THREADS
 *       Deliver DIR/00001..N into USER's INBOX in the Roost store under DATA,
 *       exactly as `roost deliver` does (account, INBOX, store_deliver), but
 *       from THREADS threads of one process so that deliveries share group
 *       commits instead of paying one process start and one fsync each.
 *   pop3-load idle PORT N CMD [USERFMT PASS]
 *       Open N connections and read each greeting (with USERFMT, a printf
 *       format taking the connection index, also log each in with USER/PASS),
 *       run CMD with the shell while they stay open, then close them all.
 *
 * Every wait is bounded: a server that stops answering for PL_TIMEOUT_S seconds
 * makes the command fail with a message. Exit status 0 only when every reply
 * was what POP3 prescribes. The client side uses nothing from src/; only
 * fill goes through the store API (store/store.h). */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

#define LOAD_PROG "pop3-load"
#include "load-common.h"

#define PL_TIMEOUT_S 60
#define PL_BUF (1024 * 1024)
#define PL_MAX_LINE 8192 /* longest response line accepted */
#define PL_MAX_WINDOW 1024

struct pl_conn {
	int fd;
	char *buf;
	size_t start, end;
};

static void pl_conn_open(struct pl_conn *c, int port, size_t bufsize, int small)
{
	c->fd = load_connect(port, PL_TIMEOUT_S, small);
	c->buf = malloc(bufsize);
	if (c->buf == NULL)
		load_die("out of memory");
	c->start = c->end = 0;
}

static void pl_conn_close(struct pl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

static void pl_send(struct pl_conn *c, const char *data, size_t len)
{
	load_send_all(c->fd, data, len);
}

/* The next response line without its CRLF (NUL-terminated in place, valid
 * until the next call). Fails on timeout, EOF or an over-long line. */
static char *pl_line(struct pl_conn *c, size_t bufsize, size_t *len_r)
{
	for (;;) {
		char *lf = memchr(c->buf + c->start, '\n', c->end - c->start);
		if (lf != NULL) {
			char *line = c->buf + c->start;
			size_t len = (size_t)(lf - line);
			c->start += len + 1;
			if (len > 0 && line[len - 1] == '\r')
				len--;
			line[len] = '\0';
			*len_r = len;
			return line;
		}
		if (c->end - c->start > PL_MAX_LINE)
			load_die("response line longer than %d bytes", PL_MAX_LINE);
		if (c->start > 0 && (c->end == bufsize || c->start > bufsize / 2)) {
			memmove(c->buf, c->buf + c->start, c->end - c->start);
			c->end -= c->start;
			c->start = 0;
		}
		ssize_t n = read(c->fd, c->buf + c->end, bufsize - c->end - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			load_die("no answer within %d s", PL_TIMEOUT_S);
		if (n <= 0)
			load_die("connection closed by the server%s%s", n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		c->end += (size_t)n;
	}
}

/* Read a status line and insist on +OK. */
static char *pl_expect_ok(struct pl_conn *c, size_t bufsize, const char *what)
{
	size_t len;
	char *line = pl_line(c, bufsize, &len);
	if (strncmp(line, "+OK", 3) != 0)
		load_die("%s: server said \"%.200s\"", what, line);
	return line;
}

/* Read the lines of a multi-line response up to its "." line. Returns the
 * number of lines; adds the bytes (with CRLF, after dot-unstuffing) to *bytes. */
static uint64_t pl_multiline(struct pl_conn *c, size_t bufsize, uint64_t *bytes)
{
	uint64_t lines = 0;
	for (;;) {
		size_t len;
		char *line = pl_line(c, bufsize, &len);
		if (line[0] == '.') {
			if (len == 1)
				return lines;
			len--; /* dot-stuffed */
		}
		lines++;
		*bytes += len + 2;
	}
}

static void pl_command(struct pl_conn *c, size_t bufsize, const char *cmd, const char *what)
{
	char line[1100];
	int n = snprintf(line, sizeof line, "%s\r\n", cmd);
	if (n < 0 || (size_t)n >= sizeof line)
		load_die("command too long");
	pl_send(c, line, (size_t)n);
	pl_expect_ok(c, bufsize, what);
}

static void pl_login(struct pl_conn *c, size_t bufsize, const char *user, const char *pass)
{
	char cmd[1100];
	pl_expect_ok(c, bufsize, "greeting");
	snprintf(cmd, sizeof cmd, "USER %s", user);
	pl_command(c, bufsize, cmd, "USER");
	snprintf(cmd, sizeof cmd, "PASS %s", pass);
	pl_command(c, bufsize, cmd, "PASS");
}

/* --- session ---------------------------------------------------------------- */

static unsigned long pl_stat(struct pl_conn *c, uint64_t *size_r)
{
	pl_send(c, "STAT\r\n", 6);
	char *line = pl_expect_ok(c, PL_BUF, "STAT");
	unsigned long n = 0;
	unsigned long long size = 0;
	if (sscanf(line, "+OK %lu %llu", &n, &size) != 2)
		load_die("STAT: unexpected \"%.200s\"", line);
	if (size_r)
		*size_r = size;
	return n;
}

static void pl_retr_all(struct pl_conn *c, unsigned long n, int window, uint64_t *msgs, uint64_t *bytes)
{
	char out[PL_MAX_WINDOW * 24];
	unsigned long next = 1, done = 0;
	while (done < n) {
		size_t o = 0;
		while (next <= n && next - done - 1 < (unsigned long)window)
			o += (size_t)sprintf(out + o, "RETR %lu\r\n", next++);
		if (o > 0)
			pl_send(c, out, o);
		/* Read one whole response, then top the window up again. */
		pl_expect_ok(c, PL_BUF, "RETR");
		pl_multiline(c, PL_BUF, bytes);
		done++;
		(*msgs)++;
	}
}

static int pl_session(int argc, char **argv)
{
	if (argc < 5)
		load_die("usage: session PORT USER PASS OP REPS [WINDOW [MAX]]");
	int port = atoi(argv[0]);
	const char *user = argv[1], *pass = argv[2], *op = argv[3];
	int reps = atoi(argv[4]);
	int window = argc > 5 ? atoi(argv[5]) : 1;
	long max = argc > 6 ? atol(argv[6]) : 0;
	if (window < 1 || window > PL_MAX_WINDOW || reps < 1 || reps > 1000)
		load_die("bad WINDOW or REPS");
	for (int r = 0; r < reps; r++) {
		struct pl_conn c;
		double t0 = load_now_ms();
		pl_conn_open(&c, port, PL_BUF, 0);
		pl_login(&c, PL_BUF, user, pass);
		double t1 = load_now_ms();
		uint64_t msgs = 0, bytes = 0;
		if (strcmp(op, "stat") == 0) {
			msgs = pl_stat(&c, &bytes);
		} else if (strcmp(op, "uidl") == 0 || strcmp(op, "list") == 0) {
			pl_send(&c, strcmp(op, "uidl") == 0 ? "UIDL\r\n" : "LIST\r\n", 6);
			pl_expect_ok(&c, PL_BUF, op);
			msgs = pl_multiline(&c, PL_BUF, &bytes);
		} else if (strcmp(op, "retr") == 0) {
			unsigned long n = pl_stat(&c, NULL);
			if (max > 0 && (unsigned long)max < n)
				n = (unsigned long)max;
			pl_retr_all(&c, n, window, &msgs, &bytes);
		} else if (strcmp(op, "login") != 0) {
			load_die("unknown OP %s", op);
		}
		double t2 = load_now_ms();
		pl_command(&c, PL_BUF, "QUIT", "QUIT");
		double t3 = load_now_ms();
		pl_conn_close(&c);
		printf("rep=%d login_ms=%.3f op_ms=%.3f total_ms=%.3f msgs=%llu bytes=%llu\n", r + 1, t1 - t0, t2 - t1,
		       t3 - t0, (unsigned long long)msgs, (unsigned long long)bytes);
		fflush(stdout);
	}
	return 0;
}

/* --- idle ------------------------------------------------------------------- */

#define PL_IDLE_BUF 512

static int pl_idle(int argc, char **argv)
{
	if (argc != 3 && argc != 5)
		load_die("usage: idle PORT N CMD [USERFMT PASS]");
	int port = atoi(argv[0]);
	long n = atol(argv[1]);
	const char *cmd = argv[2];
	const char *userfmt = argc == 5 ? argv[3] : NULL, *pass = argc == 5 ? argv[4] : NULL;
	if (n < 1 || n > 100000)
		load_die("bad N");
	load_need_fds(n);
	struct pl_conn *cs = calloc((size_t)n, sizeof *cs);
	if (cs == NULL)
		load_die("out of memory");
	double t0 = load_now_ms();
	for (long i = 0; i < n; i++) {
		pl_conn_open(&cs[i], port, PL_IDLE_BUF, 1);
		if (userfmt != NULL) {
			char user[512];
			snprintf(user, sizeof user, userfmt, i);
			pl_login(&cs[i], PL_IDLE_BUF, user, pass);
		} else {
			pl_expect_ok(&cs[i], PL_IDLE_BUF, "greeting");
		}
		/* The buffers are not needed while the connection sits idle. */
		free(cs[i].buf);
		cs[i].buf = NULL;
	}
	fprintf(stderr, "pop3-load: %ld connections open%s in %.0f ms\n", n, userfmt ? " and logged in" : "",
	        load_now_ms() - t0);
	int rc = system(cmd);
	for (long i = 0; i < n; i++)
		pl_conn_close(&cs[i]);
	free(cs);
	if (rc != 0)
		load_die("command failed: %s", cmd);
	return 0;
}

/* --- gen -------------------------------------------------------------------- */

static uint64_t pl_rng = 0x9e3779b97f4a7c15ull;

static uint32_t pl_rand(void)
{
	/* xorshift64*: deterministic, so every run gets the same messages. */
	pl_rng ^= pl_rng >> 12;
	pl_rng ^= pl_rng << 25;
	pl_rng ^= pl_rng >> 27;
	return (uint32_t)((pl_rng * 2685821657736338717ull) >> 32);
}

static const char *const pl_words[] = {
	"mail",    "server",  "message", "folder", "the",     "and",      "of",       "to",      "in",
	"meeting", "report",  "budget",  "please", "review",  "attached", "thanks",   "regards", "project",
	"a",       "is",      "for",     "with",   "on",      "that",     "schedule", "monday",  "friday",
	"update",  "release", "notes",   "client", "network", "storage",  "delivery", "queue",   "inbox",
};

static int pl_gen(int argc, char **argv)
{
	if (argc != 3)
		load_die("usage: gen DIR MAILDIR N");
	const char *dir = argv[0], *maildir = argv[1];
	long n = atol(argv[2]);
	if (n < 1 || n > 1000000)
		load_die("bad N");
	char path[4096], mpath[4096];
	snprintf(path, sizeof path, "%s/cur", maildir);
	mkdir(maildir, 0755);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/new", maildir);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/tmp", maildir);
	mkdir(path, 0755);
	mkdir(dir, 0755);
	static char msg[8192];
	const time_t base = 1700000000; /* 2023-11-14 */
	for (long i = 0; i < n; i++) {
		size_t target = 3000 + pl_rand() % 1000;
		time_t when = base + (time_t)i * 60;
		struct tm tm;
		gmtime_r(&when, &tm);
		char date[64];
		strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
		int len = snprintf(msg, sizeof msg,
		                   "Return-Path: <sender%ld@example.org>\n"
		                   "Received: from mx.example.org (mx.example.org [192.0.2.%ld])\n"
		                   "\tby mail.example.com with ESMTPS id b%06ld\n"
		                   "\tfor <bench@example.com>; %s\n"
		                   "From: Sender %ld <sender%ld@example.org>\n"
		                   "To: Bench User <bench@example.com>\n"
		                   "Subject: Benchmark message %ld: %s %s %s\n"
		                   "Date: %s\n"
		                   "Message-ID: <bench.%ld.%u@example.org>\n"
		                   "MIME-Version: 1.0\n"
		                   "Content-Type: text/plain; charset=us-ascii\n"
		                   "Content-Transfer-Encoding: 7bit\n"
		                   "\n",
		                   i % 97, i % 250 + 1, i, date, i % 97, i % 97, i, pl_words[pl_rand() % 36],
		                   pl_words[pl_rand() % 36], pl_words[pl_rand() % 36], date, i, pl_rand());
		size_t l = (size_t)len;
		size_t lines = 0;
		while (l < target) {
			size_t start = l;
			/* Now and then a line that POP3 must dot-stuff. */
			if (lines % 40 == 7 && i % 10 == 0)
				msg[l++] = '.';
			while (l - start < 64) {
				const char *w = pl_words[pl_rand() % 36];
				size_t wl = strlen(w);
				memcpy(msg + l, w, wl);
				l += wl;
				msg[l++] = ' ';
			}
			msg[l - 1] = '\n';
			lines++;
		}
		size_t nl = 0;
		for (size_t k = 0; k < l; k++)
			nl += msg[k] == '\n';
		snprintf(path, sizeof path, "%s/%05ld", dir, i + 1);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, msg, l) != (ssize_t)l || close(fd) != 0)
			load_die("write %s: %s", path, strerror(errno));
		/* Dovecot's maildir naming: S= file size, W= size with CRLF. The
		 * names sort in delivery order, and Dovecot numbers the messages
		 * in that order, as Roost does (checked: message 1 is 00001). */
		snprintf(mpath, sizeof mpath, "%s/cur/%ld.M%ldP1.bench,S=%zu,W=%zu:2,", maildir, (long)when, i + 1, l,
		         l + nl);
		if (link(path, mpath) < 0)
			load_die("link %s: %s", mpath, strerror(errno));
	}
	return 0;
}

/* --- fill ------------------------------------------------------------------ */

struct pl_fill {
	struct store *st;
	const char *dir;
	long n;
	int64_t account_id, mailbox_id;
	pthread_mutex_t lock;
	long next;
	int failed;
};

static void *pl_fill_thread(void *arg)
{
	struct pl_fill *f = arg;
	static __thread char msg[65536];
	for (;;) {
		pthread_mutex_lock(&f->lock);
		long i = f->failed ? f->n + 1 : ++f->next;
		pthread_mutex_unlock(&f->lock);
		if (i > f->n)
			return NULL;
		char path[4096];
		snprintf(path, sizeof path, "%s/%05ld", f->dir, i);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t len = fd < 0 ? -1 : read(fd, msg, sizeof msg);
		if (fd >= 0)
			close(fd);
		struct store_target t = {.account_id = f->account_id, .mailbox_id = f->mailbox_id};
		if (len == (ssize_t)sizeof msg) {
			len = -1;
			errno = EFBIG;
		}
		int rc = len < 0 ? STORE_ERROR : store_deliver(f->st, msg, (size_t)len, &t, 1);
		if (rc != STORE_OK) {
			fprintf(stderr, "pop3-load: fill: %s: %s\n", path, len < 0 ? strerror(errno) : store_last_error());
			pthread_mutex_lock(&f->lock);
			f->failed = 1;
			pthread_mutex_unlock(&f->lock);
			return NULL;
		}
	}
}

static int pl_fill_main(int argc, char **argv)
{
	if (argc != 5)
		load_die("usage: fill DATA USER DIR N THREADS");
	struct pl_fill f = {.dir = argv[2], .n = atol(argv[3]), .lock = PTHREAD_MUTEX_INITIALIZER};
	int threads = atoi(argv[4]);
	if (f.n < 1 || threads < 1 || threads > 256)
		load_die("bad N or THREADS");
	const char *err = NULL;
	if (store_open_sqlite(argv[0], true, &f.st, &err) != STORE_OK)
		load_die("fill: opening the store in %s: %s", argv[0], err ? err : "?");
	struct store_account acct = {0};
	struct store_mailbox box = {0};
	if (store_account_find(f.st, argv[1], &acct) != STORE_OK)
		load_die("fill: no account %s", argv[1]);
	if (store_mailbox_find(f.st, acct.id, "INBOX", &box) != STORE_OK)
		load_die("fill: %s has no INBOX", argv[1]);
	f.account_id = acct.id;
	f.mailbox_id = box.id;
	pthread_t tids[256];
	for (int t = 0; t < threads; t++)
		if (pthread_create(&tids[t], NULL, pl_fill_thread, &f) != 0)
			load_die("pthread_create failed");
	for (int t = 0; t < threads; t++)
		pthread_join(tids[t], NULL);
	store_mailbox_clear(&box);
	store_account_clear(&acct);
	store_close(f.st);
	return f.failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		load_die("usage: pop3-load gen|session|fill|idle ...");
	if (strcmp(argv[1], "gen") == 0)
		return pl_gen(argc - 2, argv + 2);
	if (strcmp(argv[1], "session") == 0)
		return pl_session(argc - 2, argv + 2);
	if (strcmp(argv[1], "fill") == 0)
		return pl_fill_main(argc - 2, argv + 2);
	if (strcmp(argv[1], "idle") == 0)
		return pl_idle(argc - 2, argv + 2);
	load_die("unknown command %s", argv[1]);
}
