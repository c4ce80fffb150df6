/* SEARCH benchmark for the embedded store: fills one mailbox with N messages
 * of mail-like text (a Zipf-distributed vocabulary; 1% carry a rare word in
 * the subject, another 1% one in the body), then times the searches IMAP
 * runs, exactly as imap-search.c runs them (parse, compile, one store scan,
 * every row checked), first with nothing indexed (everything is scanned),
 * then after the background indexer's work has been done, and reports the
 * indexing rate and the size of the index.
 *
 *   search-bench [--dir D] [--messages N] [--threads T] [--reps R]
 *
 * D is kept when given (a second run skips the filling), else a temporary
 * directory is used and removed. */
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "imap/imap-parse.h"
#include "imap/imap-search.h"
#include "store/sqlite/sqlite-store.h"
#include "store/store.h"

#define SB_VOCAB 20000
#define SB_BODY_BYTES 3000

static char *sb_words[SB_VOCAB];
static double sb_cdf[SB_VOCAB];

static uint64_t sb_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void sb_vocab(void)
{
	uint64_t s = 42;
	double sum = 0;
	for (int i = 0; i < SB_VOCAB; i++) {
		int len = 2 + (int)(sb_rand(&s) % 9);
		char *w = xmalloc((size_t)len + 1);
		for (int k = 0; k < len; k++)
			w[k] = (char)('a' + sb_rand(&s) % 26);
		w[len] = '\0';
		sb_words[i] = w;
		sum += 1.0 / (i + 1);
		sb_cdf[i] = sum;
	}
	for (int i = 0; i < SB_VOCAB; i++)
		sb_cdf[i] /= sum;
}

static const char *sb_word(uint64_t *s)
{
	double u = (double)(sb_rand(s) % 1000000007) / 1000000007.0;
	int lo = 0, hi = SB_VOCAB - 1;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (sb_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return sb_words[lo];
}

static char *sb_message(long n, size_t *len_r)
{
	uint64_t s = 0x9e3779b97f4a7c15ull ^ (uint64_t)(n + 1) * 0x2545f4914f6cdd1dull;
	struct buf b = {0};
	buf_printf(&b, "From: %s <%s@example.org>\r\nTo: bench@example.com\r\nSubject:", sb_word(&s), sb_word(&s));
	for (int i = 0; i < 6; i++)
		buf_printf(&b, " %s", sb_word(&s));
	if (n % 100 == 7)
		buf_appends(&b, " zanzibar");
	buf_printf(&b, "\r\nMessage-ID: <%ld@bench.example.org>\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\n"
		       "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		   n);
	size_t start = buf_used(&b), col = 0;
	while (buf_used(&b) - start < SB_BODY_BYTES) {
		const char *w = (n % 100 == 42 && buf_used(&b) - start > SB_BODY_BYTES / 2) ? "quixotic" : sb_word(&s);
		if (strcmp(w, "quixotic") == 0)
			n = -1; /* once */
		buf_printf(&b, "%s", w);
		col += strlen(w) + 1;
		buf_appends(&b, col > 70 ? "\r\n" : " ");
		if (col > 70)
			col = 0;
	}
	buf_appends(&b, "\r\n");
	*len_r = buf_used(&b);
	char *out = xstrndup(buf_head(&b), buf_used(&b));
	buf_free(&b);
	return out;
}

struct sb_fill {
	struct store *st;
	int64_t account, inbox;
	atomic_long *next;
	long total;
};

static void *sb_fill_main(void *arg)
{
	struct sb_fill *f = arg;
	for (;;) {
		long n = atomic_fetch_add(f->next, 1);
		if (n >= f->total)
			break;
		size_t len;
		char *msg = sb_message(n, &len);
		struct store_target t = {.account_id = f->account, .mailbox_id = f->inbox};
		if (store_deliver(f->st, msg, len, &t, 1) != STORE_OK)
			die("deliver: %s", store_last_error());
		free(msg);
	}
	store_release_thread(f->st);
	return NULL;
}

/* ---- running a search as imap-search.c does ---- */

struct sb_run {
	const struct search_query *q;
	const struct imap_uids *uids;
	size_t rows, hits;
};

static int sb_row(void *ctx, const struct store_scan_row *row)
{
	struct sb_run *r = ctx;
	r->rows++;
	/* The session's view lookup. */
	size_t i = imap_uids_lower_bound(r->uids, row->entry.uid);
	if (i == r->uids->n || imap_uids_at(r->uids, i) != row->entry.uid)
		return 0;
	struct search_msg m = {.e = &row->entry,
			       .sent_date = row->sent_date,
			       .headers = row->headers,
			       .headers_len = row->headers_len,
			       .body = row->body,
			       .body_len = row->body_len};
	if (imap_search_match(r->q->root, &m))
		r->hits++;
	return 0;
}

/* CPU time of this thread in ms: the machine may be busy with other work,
 * and wall time alone would measure that too. */
static double sb_cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static double sb_search(struct store *st, int64_t account, int64_t inbox, const struct imap_uids *uids,
			const char *text, size_t *hits_r, size_t *rows_r, double *cpu_r)
{
	struct imap_parser *p = imap_parser_new();
	char *line = xasprintf("a UID SEARCH %s\r\n", text);
	size_t used;
	if (imap_parse_feed(p, line, strlen(line), &used) != IMAP_PARSE_DONE)
		die("cannot parse %s", text);
	const struct imap_command *cmd = imap_parse_command(p);
	int64_t t0 = time_mono_ms();
	double c0 = sb_cpu_ms();
	struct search_query q;
	const char *err;
	if (imap_search_parse(cmd->args + 1, cmd->n_args - 1, &q, &err) != SEARCH_PARSE_OK)
		die("search %s: %s", text, err);
	struct search_env env = {.uids = uids};
	uint32_t lo, hi;
	if (imap_search_compile(&q, &env, &lo, &hi, &err) < 0)
		die("search %s: %s", text, err);
	struct sb_run r = {.q = &q, .uids = uids};
	struct store_scan scan = {.uid_lo = lo, .uid_hi = hi, .want = q.want, .filter = q.filter};
	if (store_search_scan(st, account, inbox, &scan, sb_row, &r) != STORE_OK)
		die("scan: %s", store_last_error());
	double ms = (double)(time_mono_ms() - t0);
	*cpu_r = sb_cpu_ms() - c0;
	imap_search_free(&q);
	imap_parser_free(p);
	free(line);
	*hits_r = r.hits;
	*rows_r = r.rows;
	return ms;
}

static const char *const sb_queries[] = {
	"SUBJECT zanzibar", "BODY quixotic", "TEXT quixotic", "FROM zanzibar", "SUBJECT zanzibar UNSEEN",
	"OR SUBJECT zanzibar BODY quixotic", "BODY \"quixotic\" NOT SUBJECT zanzibar", "SUBJECT zz", "FLAGGED",
	"1:* SEEN",
};

static void sb_searches(struct store *st, int64_t account, int64_t inbox, const struct imap_uids *uids, int reps,
			const char *label)
{
	printf("%s:\n", label);
	for (size_t i = 0; i < ARRAY_LEN(sb_queries); i++) {
		double best = 1e18, best_cpu = 1e18;
		size_t hits = 0, rows = 0;
		for (int k = 0; k < reps; k++) {
			double cpu;
			double ms = sb_search(st, account, inbox, uids, sb_queries[i], &hits, &rows, &cpu);
			if (ms < best)
				best = ms;
			if (cpu < best_cpu)
				best_cpu = cpu;
		}
		printf("  UID SEARCH %-40s %7.1f ms (cpu %7.1f ms) %6zu matches %7zu rows checked\n", sb_queries[i], best,
		       best_cpu, hits, rows);
	}
}

static int sb_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int64_t sb_sql_int(const char *dir, const char *sql)
{
	char *path = xasprintf("%s/roost.db", dir);
	sqlite3 *db;
	int64_t v = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		sqlite3_stmt *s;
		if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
			if (sqlite3_step(s) == SQLITE_ROW)
				v = sqlite3_column_int64(s, 0);
			sqlite3_finalize(s);
		}
	}
	sqlite3_close(db);
	free(path);
	return v;
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	long total = 100000;
	int threads = 8, reps = 3;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
			total = atol(argv[++i]);
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
			reps = atoi(argv[++i]);
		else
			die("usage: search-bench [--dir D] [--messages N] [--threads T] [--reps R]");
	}
	log_set_level(LOG_WARN);
	char *tmp = NULL;
	if (dir == NULL) {
		tmp = xstrdup("/tmp/roost-search-bench-XXXXXX");
		if (mkdtemp(tmp) == NULL)
			die("mkdtemp failed");
		dir = tmp;
	}
	sb_vocab();
	struct store *st;
	const char *err;
	if (store_open_sqlite(dir, true, &st, &err) != STORE_OK)
		die("open %s: %s", dir, err);
	/* The bench indexes by hand, to time it. */
	sqlite_indexer_stop(sqlite_store_of(st));
	int64_t account;
	int rc = store_account_create(st, "bench", "x", &account);
	struct store_account a;
	if ((rc != STORE_OK && rc != STORE_EXISTS) || store_account_find(st, "bench", &a) != STORE_OK)
		die("account: %s", store_last_error());
	account = a.id;
	store_account_clear(&a);
	struct store_mailbox m;
	if (store_mailbox_find(st, account, "INBOX", &m) != STORE_OK)
		die("INBOX: %s", store_last_error());
	int64_t inbox = m.id;
	long have = m.messages;
	store_mailbox_clear(&m);
	if (have < total) {
		int64_t t0 = time_mono_ms();
		atomic_long next = have;
		pthread_t *th = xcalloc((size_t)threads, sizeof *th);
		struct sb_fill f = {.st = st, .account = account, .inbox = inbox, .next = &next, .total = total};
		for (int i = 0; i < threads; i++)
			pthread_create(&th[i], NULL, sb_fill_main, &f);
		for (int i = 0; i < threads; i++)
			pthread_join(th[i], NULL);
		free(th);
		double s = (double)(time_mono_ms() - t0) / 1000.0;
		printf("delivered %ld messages in %.1f s (%.0f/s, %d threads)\n", total - have, s, (double)(total - have) / s,
		       threads);
	}
	struct store_entry *e;
	size_t n;
	if (store_entries(st, account, inbox, 0, &e, &n) != STORE_OK)
		die("entries: %s", store_last_error());
	struct imap_uids uids = {0};
	for (size_t i = 0; i < n; i++)
		imap_uids_append(&uids, e[i].uid);
	free(e);
	printf("mailbox: %zu messages; search text %.1f MB; %lld waiting for the indexer\n", n,
	       (double)sb_sql_int(dir, "SELECT sum(length(headers) + length(body)) FROM message_text") / 1e6,
	       (long long)sb_sql_int(dir, "SELECT count(*) FROM search_queue WHERE big = 0"));

	sb_searches(st, account, inbox, &uids, reps, "searches before indexing (what is not indexed is scanned)");

	int64_t t0 = time_mono_ms();
	double c0 = sb_cpu_ms();
	size_t done = 0, pending = 0;
	if (store_search_index(st, SIZE_MAX, &done, &pending) != STORE_OK)
		die("index: %s", store_last_error());
	double s = (double)(time_mono_ms() - t0) / 1000.0;
	if (done > 0)
		printf("indexed %zu messages in %.1f s: %.0f messages/s (this thread's cpu %.1f s; the work runs on the writer)\n",
		       done, s, (double)done / s, (sb_cpu_ms() - c0) / 1e3);
	int64_t page = sb_sql_int(dir, "PRAGMA page_size");
	printf("database %.1f MB, of which the search index %.1f MB\n",
	       (double)(sb_sql_int(dir, "PRAGMA page_count") * page) / 1e6,
	       (double)(sb_sql_int(dir, "SELECT count(*) FROM dbstat WHERE name LIKE 'search_%'") * page) / 1e6);

	sb_searches(st, account, inbox, &uids, reps, "searches with the index");
	imap_uids_free(&uids);
	store_close(st);
	if (tmp != NULL) {
		nftw(tmp, sb_rm, 16, FTW_DEPTH | FTW_PHYS);
		free(tmp);
	}
	return 0;
}
