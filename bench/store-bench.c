/* Benchmark and crash-test tool for the embedded SQLite store.
 *   store-bench bench  [--dir D] [--seconds S]   delivery rate with 1, 8 and 64
 *       concurrent writers, group commit on and off, against the raw fsync rate;
 *   store-bench load   --dir D --threads N --acked FILE   deliver forever, appending
 *       each acknowledged token to FILE (killed by the crash test);
 *   store-bench verify --dir D --acked FILE   every acknowledged token is stored
 *       exactly once and the database passes PRAGMA integrity_check;
 *   store-bench flags  [--dir D] [--messages N]   how long IMAP's big writes take
 *       on one mailbox of N messages: STORE 1:* +FLAGS (\Seen) and friends,
 *       changes since a modseq, COPY and MOVE of everything.
 * It uses only the public store API, except for the integrity check. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#define BENCH_MESSAGE_SIZE 3500
#define BENCH_ACCOUNT "crash"
#define BENCH_TOKEN_HEADER "X-Token: "
/* verify reads this much of each message to find the token header. */
#define BENCH_HEAD_MAX 4096

static void bench_usage(void)
{
	fputs("usage: store-bench bench [--dir D] [--seconds S]\n"
	      "       store-bench flags [--dir D] [--messages N]\n"
	      "       store-bench load --dir D [--threads N] --acked FILE\n"
	      "       store-bench verify --dir D --acked FILE\n",
	      stderr);
	exit(2);
}

/* A ~3.5 KB message that looks like mail, with the token in a header. */
static char *bench_message(const char *token, size_t *len_r)
{
	struct buf b = {0};
	buf_printf(&b,
		   "Return-Path: <sender@example.org>\r\n"
		   "From: Sender <sender@example.org>\r\n"
		   "To: Crash Test <crash@example.com>\r\n"
		   "Subject: store benchmark message %s\r\n"
		   "Message-ID: <%s@bench.example.org>\r\n"
		   "Date: Mon, 2 Jan 2006 15:04:05 +0000\r\n"
		   "MIME-Version: 1.0\r\n"
		   "Content-Type: text/plain; charset=utf-8\r\n"
		   "%s%s\r\n\r\n",
		   token, token, BENCH_TOKEN_HEADER, token);
	static const char line[] = "The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\r\n";
	while (buf_used(&b) + sizeof line - 1 <= BENCH_MESSAGE_SIZE)
		buf_append(&b, line, sizeof line - 1);
	*len_r = buf_used(&b);
	char *out = xstrndup(buf_head(&b), buf_used(&b));
	buf_free(&b);
	return out;
}

static struct store *bench_open(const char *dir, bool group_commit)
{
	struct store *st;
	const char *err = NULL;
	if (store_open_sqlite(dir, group_commit, &st, &err) != STORE_OK)
		die("cannot open the store in %s: %s", dir, err ? err : "?");
	return st;
}

static void bench_account(struct store *st, int64_t *account_r, int64_t *inbox_r)
{
	int rc = store_account_create(st, BENCH_ACCOUNT, "$6$bench$notahash", account_r);
	if (rc != STORE_OK && rc != STORE_EXISTS)
		die("cannot create account %s: %s", BENCH_ACCOUNT, store_last_error());
	struct store_account a;
	if (store_account_find(st, BENCH_ACCOUNT, &a) != STORE_OK)
		die("cannot find account %s: %s", BENCH_ACCOUNT, store_last_error());
	*account_r = a.id;
	store_account_clear(&a);
	struct store_mailbox m;
	if (store_mailbox_find(st, *account_r, "INBOX", &m) != STORE_OK)
		die("cannot find INBOX: %s", store_last_error());
	*inbox_r = m.id;
	store_mailbox_clear(&m);
}

/* --- bench --- */

struct bench_worker {
	struct store *st;
	int64_t account, inbox;
	int index;
	int64_t deadline_ms;
	atomic_long *count;
	atomic_long *errors;
};

static void *bench_worker_main(void *arg)
{
	struct bench_worker *w = arg;
	for (long n = 0; time_mono_ms() < w->deadline_ms; n++) {
		char *token = xasprintf("b%d-%ld", w->index, n);
		size_t len;
		char *msg = bench_message(token, &len);
		struct store_target t = {.account_id = w->account, .mailbox_id = w->inbox};
		if (store_deliver(w->st, msg, len, &t, 1) == STORE_OK)
			atomic_fetch_add(w->count, 1);
		else
			atomic_fetch_add(w->errors, 1);
		free(msg);
		free(token);
	}
	return NULL;
}

/* Deliveries per second with n concurrent writers, in a fresh store. */
static double bench_case(const char *parent, int writers, bool group_commit, double seconds)
{
	char *dir = xasprintf("%s/w%d-%s", parent, writers, group_commit ? "group" : "single");
	struct store *st = bench_open(dir, group_commit);
	int64_t account, inbox;
	bench_account(st, &account, &inbox);
	atomic_long count = 0, errors = 0;
	struct bench_worker *w = xcalloc((size_t)writers, sizeof *w);
	pthread_t *th = xcalloc((size_t)writers, sizeof *th);
	int64_t start = time_mono_ms();
	int64_t deadline = start + (int64_t)(seconds * 1000);
	for (int i = 0; i < writers; i++) {
		w[i] = (struct bench_worker){st, account, inbox, i, deadline, &count, &errors};
		if (pthread_create(&th[i], NULL, bench_worker_main, &w[i]) != 0)
			die("pthread_create failed");
	}
	for (int i = 0; i < writers; i++)
		pthread_join(th[i], NULL);
	double elapsed = (double)(time_mono_ms() - start) / 1000.0;
	store_close(st);
	if (errors > 0)
		fprintf(stderr, "store-bench: %ld deliveries failed\n", (long)errors);
	free(w);
	free(th);
	free(dir);
	return (double)count / elapsed;
}

/* The disk's own rate of small synchronous writes: what one fsync per
 * message would allow at best. */
static double bench_raw_fsync(const char *parent, double seconds)
{
	char *path = xasprintf("%s/fsync-probe", parent);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	char block[4096];
	memset(block, 'x', sizeof block);
	long n = 0;
	int64_t start = time_mono_ms(), end = start + (int64_t)(seconds * 1000);
	while (time_mono_ms() < end) {
		if (pwrite(fd, block, sizeof block, (off_t)(n % 256) * (off_t)sizeof block) < 0 || fdatasync(fd) < 0)
			die("write/fdatasync %s: %s", path, strerror(errno));
		n++;
	}
	double elapsed = (double)(time_mono_ms() - start) / 1000.0;
	close(fd);
	unlink(path);
	free(path);
	return (double)n / elapsed;
}

static int bench_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int cmd_bench(const char *dir, double seconds)
{
	char *parent;
	if (dir != NULL) {
		parent = xasprintf("%s/store-bench-XXXXXX", dir);
		(void)mkdir(dir, 0700);
	} else {
		parent = xstrdup("/tmp/store-bench-XXXXXX");
	}
	if (mkdtemp(parent) == NULL)
		die("mkdtemp %s: %s", parent, strerror(errno));

	double raw = bench_raw_fsync(parent, 1.0);
	printf("store-bench: %.1f s per case, ~%d-byte messages into one INBOX, dir %s\n", seconds,
	       BENCH_MESSAGE_SIZE, parent);
	printf("raw fsync rate (4 KB pwrite + fdatasync): %.0f/s\n\n", raw);
	printf("%8s  %14s  %18s  %7s\n", "writers", "group commit/s", "one commit each/s", "ratio");
	static const int writers[] = {1, 8, 64};
	double group64 = 0, single64 = 0;
	for (size_t i = 0; i < ARRAY_LEN(writers); i++) {
		double g = bench_case(parent, writers[i], true, seconds);
		double s = bench_case(parent, writers[i], false, seconds);
		printf("%8d  %14.0f  %18.0f  %6.1fx\n", writers[i], g, s, s > 0 ? g / s : 0.0);
		fflush(stdout);
		if (writers[i] == 64) {
			group64 = g;
			single64 = s;
		}
	}
	bool ratio_ok = single64 > 0 && group64 >= 5 * single64;
	bool raw_ok = group64 > raw;
	printf("\n64 writers: group commit %s 5x one-commit-per-message (%.1fx); %s the raw fsync rate (%.0f vs %.0f/s)\n",
	       ratio_ok ? ">=" : "BELOW", single64 > 0 ? group64 / single64 : 0.0, raw_ok ? "above" : "BELOW",
	       group64, raw);
	nftw(parent, bench_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(parent);
	return 0;
}

/* --- flags --- */

/* Milliseconds since start, printed with what was timed. */
static int64_t bench_lap(const char *what, int64_t start, size_t n)
{
	int64_t now = time_mono_ms();
	printf("%-44s %7lld ms  (%zu entries)\n", what, (long long)(now - start), n);
	fflush(stdout);
	return now;
}

static void bench_flags_do(struct store *st, int64_t account, int64_t mailbox, const uint32_t *uids, size_t n,
			   enum store_flag_mode mode, uint32_t flags, const char *keyword, const char *what)
{
	const char *kw[] = {keyword};
	struct store_flag_change ch = {.mode = mode, .flags = flags, .keywords = kw, .n_keywords = keyword ? 1 : 0};
	struct store_flag_result r;
	int64_t t0 = time_mono_ms();
	if (store_flags_update(st, account, mailbox, uids, n, &ch, &r) != STORE_OK)
		die("flags_update: %s", store_last_error());
	bench_lap(what, t0, r.n_entries);
	store_flag_result_clear(&r);
}

static int cmd_flags(const char *dir, size_t messages)
{
	char *parent = xasprintf("%s/store-bench-flags-XXXXXX", dir ? dir : "/tmp");
	if (dir != NULL)
		(void)mkdir(dir, 0700);
	if (mkdtemp(parent) == NULL)
		die("mkdtemp %s: %s", parent, strerror(errno));
	struct store *st = bench_open(parent, true);
	int64_t account, inbox;
	bench_account(st, &account, &inbox);
	struct store_mailbox m;
	if (store_mailbox_find(st, account, "Archive", &m) != STORE_OK)
		die("cannot find Archive: %s", store_last_error());
	int64_t archive = m.id;
	store_mailbox_clear(&m);

	/* Fill INBOX a thousand entries per delivery (content shared). */
	enum { BATCH = 1000 };
	struct store_target *t = xcalloc(BATCH, sizeof *t);
	size_t len;
	char *msg = bench_message("flags", &len);
	int64_t t0 = time_mono_ms();
	for (size_t done = 0; done < messages;) {
		size_t k = messages - done < BATCH ? messages - done : BATCH;
		for (size_t i = 0; i < k; i++)
			t[i] = (struct store_target){.account_id = account, .mailbox_id = inbox};
		if (store_deliver(st, msg, len, t, k) != STORE_OK)
			die("deliver: %s", store_last_error());
		done += k;
	}
	free(msg);
	free(t);
	printf("store-bench flags: one mailbox of %zu messages, dir %s\n", messages, parent);
	bench_lap("fill (1000 entries per delivery)", t0, messages);

	uint32_t *all = xcalloc(messages, sizeof *all), *odd = xcalloc(messages, sizeof *odd);
	size_t n_odd = 0;
	for (size_t i = 0; i < messages; i++) {
		all[i] = (uint32_t)(i + 1);
		if (i % 2 == 0)
			odd[n_odd++] = (uint32_t)(i + 1);
	}
	if (store_mailbox_find(st, account, "INBOX", &m) != STORE_OK)
		die("cannot find INBOX: %s", store_last_error());
	uint64_t since = m.highestmodseq;
	store_mailbox_clear(&m);

	bench_flags_do(st, account, inbox, all, messages, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL,
		       "STORE 1:* +FLAGS (\\Seen)");
	bench_flags_do(st, account, inbox, all, messages, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL,
		       "STORE 1:* +FLAGS (\\Seen) again (no change)");
	bench_flags_do(st, account, inbox, all, messages, STORE_FLAGS_ADD, 0, "$Label1", "STORE 1:* +FLAGS ($Label1)");
	bench_flags_do(st, account, inbox, odd, n_odd, STORE_FLAGS_ADD, STORE_FLAG_FLAGGED, NULL,
		       "STORE 1:*:2 +FLAGS (\\Flagged) (every other)");
	bench_flags_do(st, account, inbox, all, 1, STORE_FLAGS_REMOVE, STORE_FLAG_SEEN, NULL,
		       "STORE 1 -FLAGS (\\Seen) (one message)");
	bench_flags_do(st, account, inbox, all, messages, STORE_FLAGS_SET, STORE_FLAG_SEEN, NULL,
		       "STORE 1:* FLAGS (\\Seen)");

	struct store_entry *e;
	uint32_t *gone;
	size_t n, n_gone;
	t0 = time_mono_ms();
	if (store_changes(st, account, inbox, since, &e, &n, &gone, &n_gone) != STORE_OK)
		die("changes: %s", store_last_error());
	bench_lap("changes since before the STOREs", t0, n);
	free(e);
	free(gone);
	t0 = time_mono_ms();
	if (store_changes(st, account, inbox, since + 6, &e, &n, &gone, &n_gone) != STORE_OK)
		die("changes: %s", store_last_error());
	bench_lap("changes since the last STORE", t0, n);
	free(e);
	free(gone);

	struct store_uidmap map;
	t0 = time_mono_ms();
	if (store_copy(st, account, inbox, archive, all, messages, &map) != STORE_OK)
		die("copy: %s", store_last_error());
	bench_lap("COPY 1:* to Archive", t0, map.n);
	store_uidmap_clear(&map);
	t0 = time_mono_ms();
	if (store_move(st, account, archive, inbox, all, messages, &map) != STORE_OK) /* Archive was empty */
		die("move: %s", store_last_error());
	bench_lap("MOVE 1:* back to INBOX", t0, map.n);
	store_uidmap_clear(&map);
	uint32_t *back = xcalloc(messages, sizeof *back);
	for (size_t i = 0; i < messages; i++)
		back[i] = (uint32_t)(messages + i + 1);
	t0 = time_mono_ms();
	if (store_expunge(st, account, inbox, back, messages) != STORE_OK)
		die("expunge: %s", store_last_error());
	bench_lap("EXPUNGE of those", t0, messages);

	free(back);
	free(all);
	free(odd);
	store_close(st);
	nftw(parent, bench_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(parent);
	return 0;
}

/* --- load --- */

struct load_worker {
	struct store *st;
	int64_t account, inbox;
	int index;
	int ack_fd;
};

static void *load_worker_main(void *arg)
{
	struct load_worker *w = arg;
	long pid = (long)getpid();
	for (long n = 0;; n++) {
		char *token = xasprintf("p%ld-t%d-%ld", pid, w->index, n);
		size_t len;
		char *msg = bench_message(token, &len);
		struct store_target t = {.account_id = w->account, .mailbox_id = w->inbox};
		int rc = store_deliver(w->st, msg, len, &t, 1);
		if (rc == STORE_OK) {
			/* The acknowledgement: only after the store said the message
			 * is durable. One write(2) per line, O_APPEND. */
			char *line = xasprintf("%s\n", token);
			if (write_all(w->ack_fd, line, strlen(line)) < 0)
				die("write acked file: %s", strerror(errno));
			free(line);
		} else {
			log_error("bench_deliver_failed token=%s error=\"%s\"", token, store_last_error());
			usleep(10000);
		}
		free(msg);
		free(token);
	}
	return NULL;
}

static int cmd_load(const char *dir, int threads, const char *acked)
{
	struct store *st = bench_open(dir, true);
	int64_t account, inbox;
	bench_account(st, &account, &inbox);
	int fd = open(acked, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		die("open %s: %s", acked, strerror(errno));
	struct load_worker *w = xcalloc((size_t)threads, sizeof *w);
	pthread_t *th = xcalloc((size_t)threads, sizeof *th);
	for (int i = 0; i < threads; i++) {
		w[i] = (struct load_worker){st, account, inbox, i, fd};
		if (pthread_create(&th[i], NULL, load_worker_main, &w[i]) != 0)
			die("pthread_create failed");
	}
	fprintf(stderr, "store-bench: loading %s with %d threads\n", dir, threads);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL); /* never: we run until killed */
	return 0;
}

/* --- verify --- */

static int bench_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The whole of a file, NUL-terminated. */
static char *bench_read_file(const char *path, size_t *len_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	struct buf b = {0};
	for (;;) {
		char *p = buf_reserve(&b, 65536);
		ssize_t n = read(fd, p, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read %s: %s", path, strerror(errno));
		if (n == 0)
			break;
		buf_commit(&b, (size_t)n);
	}
	close(fd);
	*len_r = buf_used(&b);
	char *out = xstrndup(buf_used(&b) ? buf_head(&b) : "", buf_used(&b));
	buf_free(&b);
	return out;
}

/* The token in a message's header, or NULL. */
static char *bench_token_of(const char *head, size_t len)
{
	const size_t hl = strlen(BENCH_TOKEN_HEADER);
	for (size_t i = 0; i + hl <= len; i++) {
		if ((i == 0 || head[i - 1] == '\n') && memcmp(head + i, BENCH_TOKEN_HEADER, hl) == 0) {
			size_t s = i + hl, e = s;
			while (e < len && head[e] != '\r' && head[e] != '\n')
				e++;
			return xstrndup(head + s, e - s);
		}
		if (head[i] == '\n' && i + 2 < len && head[i + 1] == '\r' && head[i + 2] == '\n')
			break; /* end of the header */
	}
	return NULL;
}

static int bench_integrity(const char *dir)
{
	char *path = xasprintf("%s/roost.db", dir);
	sqlite3 *db;
	int problems = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die("open %s: %s", path, sqlite3_errmsg(db));
	sqlite3_busy_timeout(db, 10000);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK)
		die("integrity_check: %s", sqlite3_errmsg(db));
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(s, 0);
		if (r == NULL || strcmp(r, "ok") != 0) {
			printf("integrity_check: %s\n", r ? r : "(null)");
			problems++;
		}
	}
	if (rc != SQLITE_DONE) {
		printf("integrity_check failed: %s\n", sqlite3_errmsg(db));
		problems++;
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	free(path);
	return problems;
}

static int cmd_verify(const char *dir, const char *acked)
{
	struct stat sb;
	if (stat(dir, &sb) < 0)
		die("%s: %s", dir, strerror(errno));
	struct store *st = bench_open(dir, true);
	int problems = 0;
	struct store_account a;
	if (store_account_find(st, BENCH_ACCOUNT, &a) != STORE_OK)
		die("no account %s in %s", BENCH_ACCOUNT, dir);
	int64_t account = a.id;
	store_account_clear(&a);
	struct store_mailbox m;
	if (store_mailbox_find(st, account, "INBOX", &m) != STORE_OK)
		die("no INBOX: %s", store_last_error());
	struct store_entry *e;
	size_t n;
	if (store_entries(st, account, m.id, 0, &e, &n) != STORE_OK)
		die("cannot list INBOX: %s", store_last_error());
	if (m.messages != n) {
		printf("INBOX counts %u messages but has %zu entries\n", m.messages, n);
		problems++;
	}
	if (n > 0 && m.uidnext <= e[n - 1].uid) {
		printf("INBOX UIDNEXT %u is not above the last UID %u\n", m.uidnext, e[n - 1].uid);
		problems++;
	}

	/* Every stored message's token. */
	char **present = xcalloc(n ? n : 1, sizeof *present);
	size_t n_present = 0;
	char *head = xmalloc(BENCH_HEAD_MAX);
	for (size_t i = 0; i < n; i++) {
		size_t got = 0;
		if (store_message_read(st, account, e[i].message_id, 0, head, BENCH_HEAD_MAX, &got) != STORE_OK) {
			printf("cannot read UID %u: %s\n", e[i].uid, store_last_error());
			problems++;
			continue;
		}
		if (got != (e[i].size < BENCH_HEAD_MAX ? e[i].size : BENCH_HEAD_MAX)) {
			printf("UID %u: read %zu bytes of %llu\n", e[i].uid, got, (unsigned long long)e[i].size);
			problems++;
		}
		char *tok = bench_token_of(head, got);
		if (tok == NULL) {
			printf("UID %u has no token\n", e[i].uid);
			problems++;
			continue;
		}
		present[n_present++] = tok;
	}
	free(head);
	qsort(present, n_present, sizeof *present, bench_strcmp);
	size_t dups = 0;
	for (size_t i = 1; i < n_present; i++)
		if (strcmp(present[i], present[i - 1]) == 0) {
			if (dups++ < 10)
				printf("token %s stored more than once\n", present[i]);
		}
	problems += dups > 0;

	/* Every acknowledged token must be there. A last line without its
	 * newline was cut by the kill before it was whole: not an ack. */
	size_t len;
	char *text = bench_read_file(acked, &len);
	size_t n_acked = 0, missing = 0;
	for (char *line = text; *line != '\0';) {
		char *nl = strchr(line, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		if (*line != '\0') {
			n_acked++;
			if (bsearch(&line, present, n_present, sizeof *present, bench_strcmp) == NULL && missing++ < 10)
				printf("acknowledged token %s is missing\n", line);
		}
		line = nl + 1;
	}
	problems += missing > 0;
	free(text);
	for (size_t i = 0; i < n_present; i++)
		free(present[i]);
	free(present);
	free(e);
	store_mailbox_clear(&m);
	store_close(st);

	int bad = bench_integrity(dir);
	problems += bad;
	printf("verify: %zu acknowledged, %zu stored, %zu missing, %zu duplicated, integrity %s: %s\n", n_acked,
	       n_present, missing, dups, bad ? "FAILED" : "ok", problems ? "FAIL" : "PASS");
	return problems ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		bench_usage();
	const char *cmd = argv[1], *dir = NULL, *acked = NULL;
	double seconds = 3.0;
	int threads = 64;
	size_t messages = 100000;
	for (int i = 2; i < argc; i++) {
		if (i + 1 >= argc)
			bench_usage();
		const char *opt = argv[i], *val = argv[++i];
		uint64_t v;
		if (strcmp(opt, "--dir") == 0)
			dir = val;
		else if (strcmp(opt, "--acked") == 0)
			acked = val;
		else if (strcmp(opt, "--threads") == 0 && parse_uint(val, strlen(val), 4096, &v) && v > 0)
			threads = (int)v;
		else if (strcmp(opt, "--seconds") == 0 && (seconds = atof(val)) > 0)
			;
		else if (strcmp(opt, "--messages") == 0 && parse_uint(val, strlen(val), 10000000, &v) && v > 0)
			messages = (size_t)v;
		else
			bench_usage();
	}
	log_set_level(LOG_WARN);
	if (strcmp(cmd, "bench") == 0)
		return cmd_bench(dir, seconds);
	if (strcmp(cmd, "flags") == 0)
		return cmd_flags(dir, messages);
	if (strcmp(cmd, "load") == 0 && dir && acked)
		return cmd_load(dir, threads, acked);
	if (strcmp(cmd, "verify") == 0 && dir && acked)
		return cmd_verify(dir, acked);
	bench_usage();
}
