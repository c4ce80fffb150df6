/* IMAP load generator for bench/run.sh: it writes the benchmark's messages
 * and talks to any IMAP server on 127.0.0.1 (Roost and Dovecot alike) as a
 * small blocking client with large buffers, so that the client costs far less
 * than the server it measures. It uses nothing from src/.
 *
 *   imap-load gen DIR MAILDIR N
 *       Write N deterministic messages of ordinary shape (3-4.2 KB, LF line
 *       endings; text/plain, multipart/alternative with an HTML part, and
 *       multipart/mixed with an attachment; trace, DKIM and list headers;
 *       some RFC 2047 subjects and names) as DIR/NNNNNN, hard-link each into
 *       MAILDIR/cur under a Dovecot-style name (S=size,W=CRLF-size), and print
 *       a manifest line. The word IL_SUBJECT_WORD is in the Subject of 1% of
 *       the messages and IL_BODY_WORD in the text of another 1%; neither
 *       appears anywhere else.
 *   imap-load session PORT USER PASS OP REPS [WORD]
 *       REPS times: connect, LOGIN, SELECT INBOX (except for OP select, where
 *       the SELECT is the operation), the operation, LOGOUT. OP is login,
 *       select, fetchflags (UID FETCH 1:* (FLAGS)), envelope (FETCH 1:*
 *       (ENVELOPE)), search-subject and search-body (UID SEARCH SUBJECT|BODY
 *       WORD) or store (STORE 1:* +FLAGS (\Seen), after an untimed
 *       STORE 1:* -FLAGS.SILENT (\Seen) so that every repetition changes every
 *       message). Prints one line per repetition: "rep=I login_ms=...
 *       op_ms=... total_ms=... exists=... count=... bytes=...", count being
 *       the FETCH responses or the UIDs SEARCH returned. With IL_DUMP=FILE in
 *       the environment, the untagged responses of the operation are written
 *       to FILE (literals inline). Exit status 3 when the server answered the
 *       operation with NO or BAD (the reason on stderr).
 *   imap-load idle PORT N USERFMT PASS PIDSCMD [BATCH]
 *       Run PIDSCMD (a shell command printing the server's process ids, one a
 *       line) and sum VmRSS (/proc/PID/status) and Pss
 *       (/proc/PID/smaps_rollup) over them; open N connections, each logged in
 *       as USERFMT (a printf format taking the connection index) with SELECT
 *       INBOX and IDLE, BATCH connections at a time (64); measure again while
 *       all N idle, and print "conns=N procs_before=... procs_after=...
 *       rss_before_kb=... rss_after_kb=... pss_before_kb=... pss_after_kb=...
 *       rss_per_conn_kb=... pss_per_conn_kb=... open_ms=...". Then close them.
 *       The second measurement is taken IL_SETTLE seconds (1) after the last
 *       connection entered IDLE.
 *
 * Every wait is bounded: a server that stops answering for IL_TIMEOUT_S
 * seconds makes the command fail with a message. Exit status 0 only when every
 * answer was what IMAP prescribes. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOAD_PROG "imap-load"
#include "load-common.h"

/* Dovecot parses 100,000 messages for the first FETCH ENVELOPE and reads every
 * body for SEARCH BODY: both take several seconds, so the bound is generous. */
#define IL_TIMEOUT_S 300
#define IL_BUF (4 * 1024 * 1024)
#define IL_MAX_LINE (2 * 1024 * 1024) /* a SEARCH answer for 100,000 UIDs is ~600 KB */
#define IL_MAX_LITERAL (64 * 1024 * 1024)
#define IL_IDLE_BUF 4096 /* one LOGIN/SELECT answer, while connections are opened */
#define IL_MAX_MSG 16384 /* generated message size at most */
#define IL_SUBJECT_WORD "Kilimanjaro"
#define IL_BODY_WORD "pomegranate"

struct il_conn {
	int fd;
	char *buf;
	size_t cap, start, end;
	unsigned tagno;
	char head[256]; /* the start of the last response read */
};

/* What the untagged responses of one command held. */
struct il_counts {
	uint64_t fetch;  /* "* N FETCH" responses */
	uint64_t search; /* UIDs or numbers in "* SEARCH" responses */
	uint64_t exists; /* the last "* N EXISTS" */
	uint64_t bytes;  /* every byte of the untagged responses (literals included) */
};

/* --- the connection ---------------------------------------------------------- */

static void il_open(struct il_conn *c, int port, size_t bufsize, bool small)
{
	memset(c, 0, sizeof *c);
	c->fd = load_connect(port, IL_TIMEOUT_S, small);
	c->cap = bufsize;
	c->buf = malloc(bufsize);
	if (c->buf == NULL)
		load_die("out of memory");
}

static void il_close(struct il_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

static void il_send(struct il_conn *c, const char *data, size_t len)
{
	load_send_all(c->fd, data, len);
}

/* Read more input into the buffer (compacting it first when needed). */
static void il_fill(struct il_conn *c)
{
	if (c->start > 0 && (c->end == c->cap || c->start > c->cap / 2)) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	if (c->end + 1 >= c->cap)
		load_die("response line longer than the %zu-byte buffer", c->cap);
	for (;;) {
		ssize_t n = read(c->fd, c->buf + c->end, c->cap - c->end - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			load_die("no answer within %d s", IL_TIMEOUT_S);
		if (n <= 0)
			load_die("connection closed by the server%s%s", n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		c->end += (size_t)n;
		return;
	}
}

/* The next line without its CRLF (NUL-terminated in place, valid until the
 * next read). */
static char *il_line(struct il_conn *c, size_t *len_r)
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
		if (c->end - c->start > IL_MAX_LINE)
			load_die("response line longer than %d bytes", IL_MAX_LINE);
		il_fill(c);
	}
}

/* The size of the literal a line announces at its end ("{N}" or "{N+}"), or -1. */
static long long il_literal_size(const char *line, size_t len)
{
	if (len < 3 || line[len - 1] != '}')
		return -1;
	size_t i = len - 1;
	if (i > 0 && line[i - 1] == '+')
		i--;
	size_t digits_end = i;
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
		i--;
	if (i == 0 || line[i - 1] != '{' || i == digits_end || digits_end - i > 10)
		return -1;
	long long n = atoll(line + i);
	if (n > IL_MAX_LITERAL)
		load_die("literal of %lld bytes announced", n);
	return n;
}

/* Consume a literal of n bytes, writing it to dump when given. */
static void il_skip(struct il_conn *c, uint64_t n, FILE *dump)
{
	while (n > 0) {
		if (c->end == c->start)
			il_fill(c);
		size_t have = c->end - c->start;
		size_t take = have < n ? have : (size_t)n;
		if (dump)
			fwrite(c->buf + c->start, 1, take, dump);
		c->start += take;
		n -= take;
	}
}

static void il_classify(const char *line, size_t len, struct il_counts *k)
{
	if (len < 2 || line[0] != '*' || line[1] != ' ')
		return;
	const char *p = line + 2;
	if (strncmp(p, "SEARCH", 6) == 0 && (p[6] == ' ' || p[6] == '\0')) {
		/* Numbers up to the end or a "(MODSEQ ...)" part. */
		for (p += 6; *p && *p != '('; p++)
			if (*p >= '0' && *p <= '9' && (p[-1] == ' '))
				k->search++;
		return;
	}
	char *end;
	unsigned long long n = strtoull(p, &end, 10);
	if (end == p || *end != ' ')
		return;
	if (strncmp(end, " FETCH ", 7) == 0)
		k->fetch++;
	else if (strcmp(end, " EXISTS") == 0)
		k->exists = n;
}

/* Read one whole response (a line and the literals it announces, with their
 * continuation lines). Keeps its start in c->head; counts it into k and writes
 * untagged ones to dump. Returns the kind: '*' untagged, '+' continuation,
 * 't' tagged (any tag). */
static int il_response(struct il_conn *c, struct il_counts *k, FILE *dump)
{
	size_t len;
	char *line = il_line(c, &len);
	int kind = line[0] == '*' ? '*' : line[0] == '+' ? '+' : 't';
	snprintf(c->head, sizeof c->head, "%s", line);
	if (k != NULL && kind == '*')
		il_classify(line, len, k);
	for (;;) {
		if (k != NULL)
			k->bytes += len + 2;
		if (dump && kind == '*')
			fwrite(line, 1, len, dump);
		long long lit = il_literal_size(line, len);
		if (lit < 0)
			break;
		if (dump && kind == '*')
			fputs("\r\n", dump);
		il_skip(c, (uint64_t)lit, kind == '*' ? dump : NULL);
		if (k != NULL)
			k->bytes += (uint64_t)lit;
		line = il_line(c, &len);
	}
	if (dump && kind == '*')
		fputs("\r\n", dump);
	return kind;
}

/* Send "TAG CMD" and read responses up to the tagged one. Returns 0 for OK and
 * 1 for NO or BAD (the tagged line in c->head). */
static int il_command(struct il_conn *c, const char *cmd, struct il_counts *k, FILE *dump)
{
	char tag[32], line[1200];
	snprintf(tag, sizeof tag, "a%u", ++c->tagno);
	int n = snprintf(line, sizeof line, "%s %s\r\n", tag, cmd);
	if (n < 0 || (size_t)n >= sizeof line)
		load_die("command too long");
	il_send(c, line, (size_t)n);
	size_t tl = strlen(tag);
	for (;;) {
		int kind = il_response(c, k, dump);
		if (kind == '+')
			load_die("%s: unexpected continuation \"%.200s\"", cmd, c->head);
		if (kind != 't')
			continue;
		if (strncmp(c->head, tag, tl) != 0 || c->head[tl] != ' ')
			load_die("%s: answer for another tag: \"%.200s\"", cmd, c->head);
		const char *st = c->head + tl + 1;
		if (strncmp(st, "OK", 2) == 0)
			return 0;
		if (strncmp(st, "NO", 2) == 0 || strncmp(st, "BAD", 3) == 0)
			return 1;
		load_die("%s: unexpected \"%.200s\"", cmd, c->head);
	}
}

static void il_must(struct il_conn *c, const char *cmd, struct il_counts *k)
{
	if (il_command(c, cmd, k, NULL) != 0)
		load_die("%.40s: server said \"%.200s\"", cmd, c->head);
}

static void il_greeting(struct il_conn *c)
{
	il_response(c, NULL, NULL);
	if (strncmp(c->head, "* OK", 4) != 0 && strncmp(c->head, "* PREAUTH", 9) != 0)
		load_die("greeting: \"%.200s\"", c->head);
}

static void il_login(struct il_conn *c, const char *user, const char *pass)
{
	char cmd[1100], qu[520], qp[520];
	load_imap_quote(qu, sizeof qu, user);
	load_imap_quote(qp, sizeof qp, pass);
	snprintf(cmd, sizeof cmd, "LOGIN %s %s", qu, qp);
	if (il_command(c, cmd, NULL, NULL) != 0)
		load_die("LOGIN as %s: server said \"%.200s\"", user, c->head);
}

/* --- session ------------------------------------------------------------------ */

static int il_session(int argc, char **argv)
{
	if (argc < 5)
		load_die("usage: session PORT USER PASS OP REPS [WORD]");
	int port = atoi(argv[0]);
	const char *user = argv[1], *pass = argv[2], *op = argv[3];
	int reps = atoi(argv[4]);
	const char *word = argc > 5 ? argv[5] : NULL;
	if (reps < 1 || reps > 1000)
		load_die("bad REPS");
	char cmd[600];
	const char *setup = NULL;
	if (strcmp(op, "login") == 0 || strcmp(op, "select") == 0) {
		snprintf(cmd, sizeof cmd, "SELECT INBOX");
	} else if (strcmp(op, "fetchflags") == 0) {
		snprintf(cmd, sizeof cmd, "UID FETCH 1:* (FLAGS)");
	} else if (strcmp(op, "envelope") == 0) {
		snprintf(cmd, sizeof cmd, "FETCH 1:* (ENVELOPE)");
	} else if (strcmp(op, "search-subject") == 0 || strcmp(op, "search-body") == 0) {
		if (word == NULL || strpbrk(word, " \"\\(){%*]") != NULL || strlen(word) > 100)
			load_die("%s needs a plain WORD", op);
		snprintf(cmd, sizeof cmd, "UID SEARCH %s %s", op[7] == 's' ? "SUBJECT" : "BODY", word);
	} else if (strcmp(op, "store") == 0) {
		setup = "STORE 1:* -FLAGS.SILENT (\\Seen)";
		snprintf(cmd, sizeof cmd, "STORE 1:* +FLAGS (\\Seen)");
	} else {
		load_die("unknown OP %s", op);
	}
	const char *dump_path = getenv("IL_DUMP");
	for (int r = 0; r < reps; r++) {
		struct il_conn c;
		double t0 = load_now_ms();
		il_open(&c, port, IL_BUF, false);
		il_greeting(&c);
		il_login(&c, user, pass);
		double t1 = load_now_ms();
		struct il_counts sel = {0}, k = {0};
		bool is_select = strcmp(op, "select") == 0, is_login = strcmp(op, "login") == 0;
		if (!is_select && !is_login)
			il_must(&c, "SELECT INBOX", &sel);
		if (setup != NULL)
			il_must(&c, setup, NULL);
		FILE *dump = NULL;
		if (dump_path != NULL && *dump_path && r == 0) {
			dump = fopen(dump_path, "w");
			if (dump == NULL)
				load_die("%s: %s", dump_path, strerror(errno));
		}
		double t2 = load_now_ms();
		int st = is_login ? 0 : il_command(&c, cmd, &k, dump);
		double t3 = load_now_ms();
		if (dump != NULL && fclose(dump) != 0)
			load_die("%s: %s", dump_path, strerror(errno));
		if (st != 0) {
			fprintf(stderr, "imap-load: unavailable: %s: server said \"%.200s\"\n", cmd, c.head);
			il_close(&c);
			return 3;
		}
		il_must(&c, "LOGOUT", NULL);
		double t4 = load_now_ms();
		il_close(&c);
		uint64_t count = strncmp(op, "search", 6) == 0 ? k.search : k.fetch;
		printf("rep=%d login_ms=%.3f op_ms=%.3f total_ms=%.3f exists=%llu count=%llu bytes=%llu\n", r + 1,
		       t1 - t0, t3 - t2, t4 - t0, (unsigned long long)(is_select ? k.exists : sel.exists),
		       (unsigned long long)count, (unsigned long long)k.bytes);
		fflush(stdout);
	}
	return 0;
}

/* --- idle --------------------------------------------------------------------- */

struct il_mem {
	long long rss_kb, pss_kb;
	int procs;
};

static long long il_proc_field(const char *path, const char *field)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	char line[256];
	size_t fl = strlen(field);
	long long v = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, field, fl) == 0) {
			v = atoll(line + fl);
			break;
		}
	}
	fclose(f);
	return v;
}

static struct il_mem il_measure(const char *pidscmd)
{
	struct il_mem m = {0};
	FILE *p = popen(pidscmd, "r");
	if (p == NULL)
		load_die("%s: %s", pidscmd, strerror(errno));
	char line[64];
	while (fgets(line, sizeof line, p) != NULL) {
		long pid = atol(line);
		if (pid <= 0)
			continue;
		char path[64];
		snprintf(path, sizeof path, "/proc/%ld/status", pid);
		m.rss_kb += il_proc_field(path, "VmRSS:");
		snprintf(path, sizeof path, "/proc/%ld/smaps_rollup", pid);
		m.pss_kb += il_proc_field(path, "Pss:");
		m.procs++;
	}
	if (pclose(p) != 0 || m.procs == 0)
		load_die("%s found no server process", pidscmd);
	return m;
}

/* Wait for the tagged answer of a command sent earlier; insists on OK. */
static void il_wait_tag(struct il_conn *c, const char *tag, const char *what)
{
	size_t tl = strlen(tag);
	for (;;) {
		int kind = il_response(c, NULL, NULL);
		if (kind == 't' && strncmp(c->head, tag, tl) == 0 && c->head[tl] == ' ') {
			if (strncmp(c->head + tl + 1, "OK", 2) != 0)
				load_die("%s: server said \"%.200s\"", what, c->head);
			return;
		}
		if (kind != '*')
			load_die("%s: unexpected \"%.200s\"", what, c->head);
	}
}

static int il_idle(int argc, char **argv)
{
	if (argc != 5 && argc != 6)
		load_die("usage: idle PORT N USERFMT PASS PIDSCMD [BATCH]");
	int port = atoi(argv[0]);
	long n = atol(argv[1]);
	const char *userfmt = argv[2], *pass = argv[3], *pidscmd = argv[4];
	long batch = argc > 5 ? atol(argv[5]) : 64;
	if (n < 1 || n > 200000 || batch < 1)
		load_die("bad N or BATCH");
	load_need_fds(n);
	struct il_conn *cs = calloc((size_t)n, sizeof *cs);
	if (cs == NULL)
		load_die("out of memory");
	struct il_mem before = il_measure(pidscmd);
	double t0 = load_now_ms();
	char cmd[1200], qu[520], qp[520], user[512];
	load_imap_quote(qp, sizeof qp, pass);
	for (long b = 0; b < n; b += batch) {
		long e = b + batch < n ? b + batch : n;
		/* Each step goes to the whole batch before its answers are read,
		 * so that the server works on a batch's logins in parallel. */
		for (long i = b; i < e; i++) {
			il_open(&cs[i], port, IL_IDLE_BUF, true);
			il_greeting(&cs[i]);
			snprintf(user, sizeof user, userfmt, i);
			load_imap_quote(qu, sizeof qu, user);
			int len = snprintf(cmd, sizeof cmd, "a1 LOGIN %s %s\r\n", qu, qp);
			il_send(&cs[i], cmd, (size_t)len);
		}
		for (long i = b; i < e; i++) {
			il_wait_tag(&cs[i], "a1", "LOGIN");
			il_send(&cs[i], "a2 SELECT INBOX\r\n", 17);
		}
		for (long i = b; i < e; i++) {
			il_wait_tag(&cs[i], "a2", "SELECT INBOX");
			il_send(&cs[i], "a3 IDLE\r\n", 9);
		}
		for (long i = b; i < e; i++) {
			int kind;
			while ((kind = il_response(&cs[i], NULL, NULL)) == '*')
				;
			if (kind != '+')
				load_die("IDLE: unexpected \"%.200s\"", cs[i].head);
			/* The buffer is not needed while the connection idles. */
			free(cs[i].buf);
			cs[i].buf = NULL;
		}
	}
	double open_ms = load_now_ms() - t0;
	fprintf(stderr, "imap-load: %ld connections logged in, INBOX selected, idling, in %.0f ms\n", n, open_ms);
	/* Let the server finish what the last connections started (and, with
	 * IL_SETTLE, do what it does to connections that stay idle). */
	const char *settle = getenv("IL_SETTLE");
	sleep(settle != NULL && atoi(settle) > 0 ? (unsigned)atoi(settle) : 1);
	struct il_mem after = il_measure(pidscmd);
	printf("conns=%ld procs_before=%d procs_after=%d rss_before_kb=%lld rss_after_kb=%lld pss_before_kb=%lld "
	       "pss_after_kb=%lld rss_per_conn_kb=%.2f pss_per_conn_kb=%.2f open_ms=%.0f\n",
	       n, before.procs, after.procs, before.rss_kb, after.rss_kb, before.pss_kb, after.pss_kb,
	       (double)(after.rss_kb - before.rss_kb) / (double)n, (double)(after.pss_kb - before.pss_kb) / (double)n,
	       open_ms);
	fflush(stdout);
	for (long i = 0; i < n; i++)
		il_close(&cs[i]);
	free(cs);
	return 0;
}

/* --- gen ---------------------------------------------------------------------- */

static uint64_t il_rng = 0x2545f4914f6cdd1dull;

static uint32_t il_rand(void)
{
	/* xorshift64*: deterministic, so every run gets the same messages. */
	il_rng ^= il_rng >> 12;
	il_rng ^= il_rng << 25;
	il_rng ^= il_rng >> 27;
	return (uint32_t)((il_rng * 2685821657736338717ull) >> 32);
}

#define IL_PICK(a) (a[il_rand() % (sizeof(a) / sizeof(a[0]))])

static const char *const il_first[] = {
	"Anna",  "Ben",    "Carla", "David",  "Elena",  "Farid",  "Grace", "Hugo",   "Ines",   "Jonas",
	"Karin", "Liam",   "Maria", "Nadia",  "Oscar",  "Paula",  "Quinn", "Rafael", "Sofia",  "Tomas",
	"Ulla",  "Victor", "Wendy", "Xavier", "Yasmin", "Zoltan", "Alice", "Bruno",  "Chloe",  "Daniel",
	"Emma",  "Felix",  "Greta", "Henrik", "Irene",  "Jakob",  "Laura", "Marco",  "Nora",   "Peter",
};
static const char *const il_last[] = {
	"Adams",  "Becker", "Costa",  "Dubois", "Evans",  "Fischer", "Garcia", "Hansen", "Ivanov", "Jensen",
	"Keller", "Larsen", "Moreau", "Novak",  "Olsen",  "Petrov",  "Quinto", "Rossi",  "Schmid", "Tanaka",
	"Ueda",   "Vargas", "Weber",  "Xu",     "Young",  "Zimmer",  "Brown",  "Clarke", "Dalton", "Ellis",
	"Fuchs",  "Gomez",  "Hughes", "Ito",    "Jones",  "Kowal",   "Lopez",  "Meyer",  "Nagy",   "Ortiz",
};
static const char *const il_domains[] = {
	"example.org",      "example.net",      "mail.example.com", "corp.example",   "lists.example.org",
	"shop.example.net", "bank.example",     "news.example.com", "uni.example.edu", "partner.example",
	"cloud.example.io", "travel.example",   "dev.example.org",  "hr.example.com", "support.example.net",
};
/* RFC 2047 display names (UTF-8 and Latin-1; Q and B encodings). */
static const char *const il_encoded_names[] = {
	"=?UTF-8?Q?Jos=C3=A9_Garc=C3=ADa?=",
	"=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?=",
	"=?UTF-8?B?Wm/DqyDDhW5nc3Ryw7Zt?=",
	"=?UTF-8?B?U8O4cmVuIEtpZXJrZWdhYXJk?=",
	"=?ISO-8859-1?Q?Fran=E7ois_Lef=E8vre?=",
	"=?UTF-8?B?xYF1a2FzeiBOb3dhaw==?=",
};
static const char *const il_encoded_subjects[] = {
	"=?UTF-8?Q?R=C3=A9union_de_projet_jeudi?=",
	"=?UTF-8?Q?=C3=9Cberpr=C3=BCfung_der_Rechnung?=",
	"=?ISO-8859-1?Q?Caf=E9_am_Freitag?=",
	"=?UTF-8?B?w5xiZXJzaWNodCBkZXIgV29jaGU=?=",
};
static const char *const il_subj_head[] = {
	"Quarterly", "Updated", "Draft",  "Final",     "Revised",  "Weekly", "Urgent:", "Question about the",
	"Notes on",  "Your",    "Our",    "Reminder:", "Follow-up:", "New",  "Monthly", "Proposed",
};
static const char *const il_subj_noun[] = {
	"budget review",     "release notes",   "meeting agenda",  "travel plans",     "invoice",
	"contract renewal",  "server migration", "team offsite",   "design proposal",  "status report",
	"order confirmation", "password reset", "training session", "support ticket",  "shipping update",
	"code review",       "board minutes",   "expense claim",   "newsletter",       "project timeline",
	"account statement", "vacation request", "hiring plan",    "security advisory", "customer feedback",
};
static const char *const il_months[] = {"January", "February", "March", "April", "May", "June", "July",
					 "August",  "September", "October", "November", "December"};
static const char *const il_lists[] = {"dev", "announce", "users", "ops", "team", "sales"};
static const char *const il_words[] = {
	"the",      "and",       "of",       "to",       "in",        "a",        "is",        "for",
	"with",     "on",        "that",     "this",     "we",        "you",      "will",      "be",
	"it",       "as",        "are",      "from",     "at",        "by",       "have",      "not",
	"please",   "review",    "attached", "thanks",   "regards",   "project",  "meeting",   "report",
	"budget",   "schedule",  "monday",   "friday",   "update",    "release",  "notes",     "client",
	"network",  "storage",   "delivery", "queue",    "server",    "message",  "folder",    "team",
	"customer", "invoice",   "contract", "deadline", "draft",     "proposal", "question",  "answer",
	"agenda",   "minutes",   "numbers",  "figures",  "quarter",   "revenue",  "costs",     "office",
	"travel",   "hotel",     "flight",   "weekend",  "morning",   "afternoon", "tomorrow", "yesterday",
	"shared",   "document",  "version",  "changes",  "comments",  "feedback", "approval",  "signed",
	"payment",  "account",   "support",  "ticket",   "issue",     "resolved", "pending",   "priority",
	"design",   "testing",   "deployment", "backup", "database",  "migration", "cluster",  "latency",
	"training", "workshop",  "session",  "slides",   "summary",   "details",  "overview",  "timeline",
	"would",    "could",     "should",   "might",    "also",      "still",    "already",   "again",
	"more",     "less",      "some",     "any",      "every",     "other",    "next",      "last",
	"first",    "new",       "good",     "great",    "small",     "large",    "quick",     "short",
};
/* Sentences of the utf-8 quoted-printable bodies, already encoded (no line
 * is long enough to need a soft line break). */
static const char *const il_qp_sentences[] = {
	"We=E2=80=99ll meet at the caf=C3=A9 next to the office.",
	"The r=C3=A9sum=C3=A9 is attached as discussed.",
	"Prices are in =E2=82=AC and include VAT.",
	"Gr=C3=BC=C3=9Fe aus M=C3=BCnchen =E2=80=94 see you soon.",
	"That=E2=80=99s the na=C3=AFve approach, but it works.",
};

struct il_msg {
	char *p;
	size_t len, cap;
};

static void il_ap(struct il_msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void il_ap(struct il_msg *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(m->p + m->len, m->cap - m->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= m->cap - m->len)
		load_die("generated message over %zu bytes", m->cap);
	m->len += (size_t)n;
}

static void il_base64_chars(struct il_msg *m, size_t n)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (m->len + n + 1 > m->cap)
		load_die("generated message over %zu bytes", m->cap);
	for (size_t i = 0; i < n; i++)
		m->p[m->len++] = b64[il_rand() % 64];
	m->p[m->len] = '\0';
}

/* Plain text of about `target` bytes: greeting, paragraphs of sentences
 * wrapped at 72 columns, a quoted part for replies, a signature. With
 * plant, one sentence carries IL_BODY_WORD; with qp, some sentences are
 * quoted-printable UTF-8. */
static void il_text(struct il_msg *m, size_t target, const char *first, const char *sender, bool reply, bool plant,
		    bool qp)
{
	size_t start = m->len;
	il_ap(m, "Hi %s,\n\n", first);
	size_t plant_at = plant ? target / 3 + il_rand() % (target / 3 + 1) : (size_t)-1;
	size_t col = 0;
	unsigned sentences = 0;
	while (m->len - start < target) {
		/* One sentence. */
		char s[600];
		size_t sl = 0;
		if (qp && il_rand() % 6 == 0) {
			sl = (size_t)snprintf(s, sizeof s, "%s", IL_PICK(il_qp_sentences));
		} else if (m->len - start >= plant_at) {
			sl = (size_t)snprintf(s, sizeof s, "The %s order for %s is %s.", IL_BODY_WORD, IL_PICK(il_words),
					      IL_PICK(il_words));
			plant_at = (size_t)-1;
		} else {
			unsigned nw = 6 + il_rand() % 10;
			for (unsigned w = 0; w < nw; w++) {
				const char *word = IL_PICK(il_words);
				sl += (size_t)snprintf(s + sl, sizeof s - sl, "%s%s", w ? " " : "", word);
			}
			if (s[0] >= 'a' && s[0] <= 'z')
				s[0] = (char)(s[0] - 'a' + 'A');
			s[sl++] = il_rand() % 8 == 0 ? '?' : '.';
			s[sl] = '\0';
		}
		/* Wrap it word by word at 72 columns. */
		for (char *w = strtok(s, " "); w != NULL; w = strtok(NULL, " ")) {
			size_t wl = strlen(w);
			if (col > 0 && col + 1 + wl > 72) {
				il_ap(m, "\n");
				col = 0;
			}
			il_ap(m, "%s%s", col ? " " : "", w);
			col += (col ? 1 : 0) + wl;
		}
		if (++sentences % (3 + il_rand() % 4) == 0) {
			il_ap(m, "\n\n");
			col = 0;
		}
	}
	if (plant_at != (size_t)-1) /* too short to reach it: say it at the end */
		il_ap(m, "%sThe %s order is ready.", col ? "\n" : "", IL_BODY_WORD);
	il_ap(m, "\n\n");
	if (reply) {
		il_ap(m, "On %s %u, %s wrote:\n", IL_PICK(il_months), 1 + il_rand() % 28, sender);
		unsigned lines = 3 + il_rand() % 6;
		for (unsigned l = 0; l < lines; l++) {
			il_ap(m, ">");
			unsigned nw = 6 + il_rand() % 6;
			for (unsigned w = 0; w < nw; w++)
				il_ap(m, " %s", IL_PICK(il_words));
			il_ap(m, "\n");
		}
		il_ap(m, "\n");
	}
	il_ap(m, "Best regards,\n%s\n", first);
}

/* Append a piece of quoted-printable text, with a soft line break ("=" at
 * the end of a line) before any line would pass 76 characters. */
static void il_qp_piece(struct il_msg *m, size_t *col, const char *piece, size_t len)
{
	if (*col + len > 75) {
		il_ap(m, "=\n");
		*col = 0;
	}
	if (m->len + len + 1 > m->cap)
		load_die("generated message over %zu bytes", m->cap);
	memcpy(m->p + m->len, piece, len);
	m->len += len;
	*col += len;
}

/* The same text as HTML, quoted-printable. */
static void il_html(struct il_msg *m, const char *text, size_t len)
{
	il_ap(m, "<html><head><meta http-equiv=3D\"Content-Type\"\n content=3D\"text/html; charset=3Dutf-8\"></head>\n"
		 "<body style=3D\"font-family: Arial, sans-serif\">\n<p>");
	size_t col = 3;
	for (size_t i = 0; i < len;) {
		const char *lf = memchr(text + i, '\n', len - i);
		size_t ll = lf ? (size_t)(lf - (text + i)) : len - i;
		if (ll == 0) {
			il_ap(m, "</p>\n<p>");
			col = 3;
		} else {
			for (size_t k = 0; k < ll; k++) {
				char ch = text[i + k];
				const char *piece = ch == '>' ? "&gt;" : ch == '<' ? "&lt;" : ch == '&' ? "&amp;" : NULL;
				if (piece != NULL)
					il_qp_piece(m, &col, piece, strlen(piece));
				else
					il_qp_piece(m, &col, &ch, 1);
			}
			il_qp_piece(m, &col, "<br>", 4);
			il_ap(m, "\n");
			col = 0;
		}
		i += ll + 1;
	}
	il_ap(m, "</p>\n</body></html>\n");
}

struct il_manifest {
	long plain, plain_qp, alternative, mixed, subject_hits, body_hits, encoded_subjects;
	unsigned long long bytes;
};

static void il_gen_one(struct il_msg *m, long i, struct il_manifest *man)
{
	const time_t base = 1700000000; /* 2023-11-14 */
	time_t when = base + (time_t)i * 53 + (time_t)(il_rand() % 40);
	static const int zones[] = {0, 100, 200, -500, -800, 530, 900};
	int zone = IL_PICK(zones);
	time_t local = when + (zone / 100) * 3600 + (zone % 100) * 60;
	struct tm tm;
	gmtime_r(&local, &tm);
	char date[64], rdate[64];
	size_t dl = strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S ", &tm);
	snprintf(date + dl, sizeof date - dl, "%c%04d", zone < 0 ? '-' : '+', zone < 0 ? -zone : zone);
	gmtime_r(&when, &tm);
	strftime(rdate, sizeof rdate, "%a, %d %b %Y %H:%M:%S +0000", &tm);

	const char *first = IL_PICK(il_first), *last = IL_PICK(il_last), *dom = IL_PICK(il_domains);
	char from_name[128], from_addr[128];
	snprintf(from_addr, sizeof from_addr, "%c%s.%s@%s", first[0] | 0x20, first + 1, last, dom);
	for (char *p = from_addr; *p && *p != '@'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	bool enc_name = il_rand() % 20 == 0;
	if (enc_name)
		snprintf(from_name, sizeof from_name, "%s", IL_PICK(il_encoded_names));
	else
		snprintf(from_name, sizeof from_name, "\"%s %s\"", first, last);

	unsigned kind_roll = il_rand() % 100;
	bool reply = kind_roll < 22, fwd = kind_roll >= 22 && kind_roll < 27;
	bool list = il_rand() % 5 == 0;
	const char *listname = IL_PICK(il_lists);
	bool plant_subject = i % 100 == 37, plant_body = i % 100 == 71;
	bool enc_subject = !plant_subject && il_rand() % 25 == 0;

	char subject[300];
	size_t sl = 0;
	if (list)
		sl += (size_t)snprintf(subject + sl, sizeof subject - sl, "[%s] ", listname);
	if (reply)
		sl += (size_t)snprintf(subject + sl, sizeof subject - sl, "Re: ");
	else if (fwd)
		sl += (size_t)snprintf(subject + sl, sizeof subject - sl, "Fwd: ");
	if (enc_subject) {
		snprintf(subject + sl, sizeof subject - sl, "%s", IL_PICK(il_encoded_subjects));
		man->encoded_subjects++;
	} else {
		const char *head = IL_PICK(il_subj_head), *noun = IL_PICK(il_subj_noun);
		sl += (size_t)snprintf(subject + sl, sizeof subject - sl, "%s %s%s", head,
				       plant_subject ? IL_SUBJECT_WORD " " : "", noun);
		unsigned tail = il_rand() % 4;
		if (tail == 0)
			snprintf(subject + sl, sizeof subject - sl, " - %s", IL_PICK(il_months));
		else if (tail == 1)
			snprintf(subject + sl, sizeof subject - sl, " #%u", 1000 + il_rand() % 90000);
	}
	man->subject_hits += plant_subject;
	man->body_hits += plant_body;

	unsigned r1 = il_rand(), r2 = il_rand();
	il_ap(m, "Return-Path: <%s>\n", from_addr);
	il_ap(m, "Delivered-To: bench@example.com\n");
	il_ap(m,
	      "Received: from mx%u.%s (mx%u.%s [198.51.100.%u])\n"
	      "\tby mail.example.com with ESMTPS id %08X%04X\n"
	      "\tfor <bench@example.com>; %s\n",
	      r1 % 4, dom, r1 % 4, dom, 1 + r2 % 250, r1, r2 & 0xffff, rdate);
	if (il_rand() % 3 != 0) {
		il_ap(m, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\n\td=%s; s=s%u;\n"
			 "\th=from:to:subject:date:message-id:mime-version;\n\tbh=",
		      dom, 2020 + il_rand() % 5);
		il_base64_chars(m, 43);
		il_ap(m, "=;\n\tb=");
		for (int l = 0; l < 4; l++) {
			il_base64_chars(m, l < 3 ? 70 : 22);
			il_ap(m, "%s", l < 3 ? "\n\t  " : "==\n");
		}
	}
	il_ap(m, "From: %s <%s>\n", from_name, from_addr);
	il_ap(m, "To: Bench User <bench@example.com>\n");
	if (il_rand() % 3 == 0)
		il_ap(m, "Cc: %s %s <%s@%s>, team@example.com\n", IL_PICK(il_first), IL_PICK(il_last), IL_PICK(il_lists),
		      IL_PICK(il_domains));
	il_ap(m, "Subject: %s\n", subject);
	il_ap(m, "Date: %s\n", date);
	il_ap(m, "Message-ID: <%08x.%ld.%04x@%s>\n", il_rand(), i, il_rand() & 0xffff, dom);
	if (reply) {
		unsigned ref = il_rand();
		il_ap(m, "In-Reply-To: <%08x.ref@example.com>\nReferences: <%08x.root@%s>\n <%08x.ref@example.com>\n", ref,
		      ref ^ 0x5a5a5a5au, dom, ref);
	}
	if (list)
		il_ap(m, "List-Id: %s list <%s.lists.example.org>\nList-Unsubscribe: <mailto:%s-leave@lists.example.org>\n"
			 "Precedence: list\n",
		      listname, listname, listname);
	il_ap(m, "MIME-Version: 1.0\n");

	size_t target = 3000 + il_rand() % 1200;
	size_t room = target > m->len + 400 ? target - m->len : 400;
	char sender[200];
	snprintf(sender, sizeof sender, "%s %s <%s>", first, last, from_addr);
	unsigned shape = il_rand() % 100;
	unsigned bnd = il_rand();
	if (shape < 55) {
		bool qp = shape >= 45;
		il_ap(m, "Content-Type: text/plain; charset=%s%s\nContent-Transfer-Encoding: %s\n\n",
		      qp ? "utf-8" : "us-ascii", qp ? "" : "; format=flowed", qp ? "quoted-printable" : "7bit");
		il_text(m, room > 120 ? room - 120 : room, first, sender, reply, plant_body, qp);
		if (qp)
			man->plain_qp++;
		else
			man->plain++;
	} else if (shape < 88) {
		il_ap(m, "Content-Type: multipart/alternative;\n\tboundary=\"----=_Part_%ld_%08x\"\n\n"
			 "This is a multi-part message in MIME format.\n\n",
		      i, bnd);
		il_ap(m, "------=_Part_%ld_%08x\nContent-Type: text/plain; charset=utf-8\n"
			 "Content-Transfer-Encoding: 7bit\n\n",
		      i, bnd);
		size_t t0 = m->len;
		size_t tt = room > 700 ? (room - 700) * 10 / 23 : 200;
		il_text(m, tt, first, sender, reply, plant_body, false);
		size_t t1 = m->len;
		char *copy = malloc(t1 - t0);
		if (copy == NULL)
			load_die("out of memory");
		memcpy(copy, m->p + t0, t1 - t0);
		il_ap(m, "\n------=_Part_%ld_%08x\nContent-Type: text/html; charset=utf-8\n"
			 "Content-Transfer-Encoding: quoted-printable\n\n",
		      i, bnd);
		il_html(m, copy, t1 - t0);
		free(copy);
		il_ap(m, "\n------=_Part_%ld_%08x--\n", i, bnd);
		man->alternative++;
	} else {
		il_ap(m, "Content-Type: multipart/mixed;\n\tboundary=\"=-mixed-%ld-%08x\"\n\n", i, bnd);
		il_ap(m, "--=-mixed-%ld-%08x\nContent-Type: text/plain; charset=us-ascii\n"
			 "Content-Transfer-Encoding: 7bit\n\n",
		      i, bnd);
		size_t att = 600 + il_rand() % 500; /* base64 characters */
		size_t tt = room > att + 700 ? room - att - 700 : 300;
		il_text(m, tt, first, sender, reply, plant_body, false);
		static const char *const types[][2] = {
			{"application/pdf", "pdf"}, {"image/png", "png"}, {"application/zip", "zip"}};
		unsigned t = il_rand() % 3;
		il_ap(m, "\n--=-mixed-%ld-%08x\nContent-Type: %s; name=\"report-%ld.%s\"\n"
			 "Content-Disposition: attachment; filename=\"report-%ld.%s\"\n"
			 "Content-Transfer-Encoding: base64\n\n",
		      i, bnd, types[t][0], i, types[t][1], i, types[t][1]);
		for (size_t done = 0; done < att; done += 76) {
			il_base64_chars(m, att - done < 76 ? (att - done) / 4 * 4 : 76);
			il_ap(m, "\n");
		}
		il_ap(m, "\n--=-mixed-%ld-%08x--\n", i, bnd);
		man->mixed++;
	}
}

static int il_gen(int argc, char **argv)
{
	if (argc != 3)
		load_die("usage: gen DIR MAILDIR N");
	const char *dir = argv[0], *maildir = argv[1];
	long n = atol(argv[2]);
	if (n < 1 || n > 999999)
		load_die("bad N (1..999999)");
	char path[4096], mpath[4096];
	mkdir(maildir, 0755);
	const char *subs[] = {"cur", "new", "tmp"};
	for (int k = 0; k < 3; k++) {
		snprintf(path, sizeof path, "%s/%s", maildir, subs[k]);
		mkdir(path, 0755);
	}
	mkdir(dir, 0755);
	static char msgbuf[IL_MAX_MSG];
	struct il_manifest man = {0};
	for (long i = 0; i < n; i++) {
		struct il_msg m = {.p = msgbuf, .cap = sizeof msgbuf};
		msgbuf[0] = '\0';
		il_gen_one(&m, i, &man);
		size_t nl = 0;
		for (size_t k = 0; k < m.len; k++)
			nl += m.p[k] == '\n';
		snprintf(path, sizeof path, "%s/%06ld", dir, i + 1);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, m.p, m.len) != (ssize_t)m.len || close(fd) != 0)
			load_die("write %s: %s", path, strerror(errno));
		/* Dovecot's maildir naming: S= file size, W= size with CRLF; the
		 * names sort in delivery order, so Dovecot numbers the messages
		 * in the same order as Roost. */
		snprintf(mpath, sizeof mpath, "%s/cur/%ld.M%ldP1.bench,S=%zu,W=%zu:2,", maildir, 1700000000L + i, i + 1,
			 m.len, m.len + nl);
		if (link(path, mpath) < 0)
			load_die("link %s: %s", mpath, strerror(errno));
		man.bytes += m.len;
	}
	printf("messages=%ld bytes=%llu subject_word=%s subject_hits=%ld body_word=%s body_hits=%ld plain=%ld "
	       "plain_qp=%ld alternative=%ld mixed=%ld encoded_subjects=%ld\n",
	       n, man.bytes, IL_SUBJECT_WORD, man.subject_hits, IL_BODY_WORD, man.body_hits, man.plain, man.plain_qp,
	       man.alternative, man.mixed, man.encoded_subjects);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		load_die("usage: imap-load gen|session|idle ...");
	if (strcmp(argv[1], "gen") == 0)
		return il_gen(argc - 2, argv + 2);
	if (strcmp(argv[1], "session") == 0)
		return il_session(argc - 2, argv + 2);
	if (strcmp(argv[1], "idle") == 0)
		return il_idle(argc - 2, argv + 2);
	load_die("unknown command %s", argv[1]);
}
