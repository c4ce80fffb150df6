/* Loads the IMAP benchmark's data into a Roost store through the store API,
 * from many threads of one process, so that 100,000 deliveries or 10,000
 * accounts share group commits instead of paying one `roost deliver` or
 * `roost user add` process (and one fsync) each. What it stores is exactly
 * what those commands store: store_deliver (which parses the message, as
 * delivery always does) and store_account_create with the given hash.
 *
 *   imap-fill deliver DATA USER DIR N THREADS
 *       Deliver DIR/000001..N (as imap-load gen names them) into USER's INBOX.
 *   imap-fill accounts DATA USERFMT N HASH THREADS
 *       Create accounts USERFMT % 0..N-1 (each with INBOX and the special-use
 *       folders, as `roost user add --hash HASH` does); existing ones are kept.
 *
 * Prints the count, the time and the rate on stderr; exit status 0 only when
 * every message or account was stored. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

#define LOAD_PROG "imap-fill"
#include "load-common.h"

#define IF_MAX_MSG (1024 * 1024) /* imap-load gen writes far smaller ones */
#define IF_MAX_THREADS 256


static double if_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct if_job {
	struct store *st;
	const char *dir, *fmt, *hash;
	long n;
	int64_t account_id, mailbox_id;
	pthread_mutex_t lock;
	long next;
	bool failed;
};

/* The next index to work on (1-based), or 0 when done or after a failure. */
static long if_next(struct if_job *j)
{
	pthread_mutex_lock(&j->lock);
	long i = j->failed || j->next >= j->n ? 0 : ++j->next;
	pthread_mutex_unlock(&j->lock);
	return i;
}

static void if_fail(struct if_job *j, const char *what, const char *why)
{
	fprintf(stderr, "imap-fill: %s: %s\n", what, why);
	pthread_mutex_lock(&j->lock);
	j->failed = true;
	pthread_mutex_unlock(&j->lock);
}

static void *if_deliver_thread(void *arg)
{
	struct if_job *j = arg;
	char *msg = malloc(IF_MAX_MSG);
	if (msg == NULL)
		load_die("out of memory");
	long i;
	while ((i = if_next(j)) != 0) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%06ld", j->dir, i);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t len = fd < 0 ? -1 : read(fd, msg, IF_MAX_MSG);
		if (fd >= 0)
			close(fd);
		if (len < 0 || len == IF_MAX_MSG) {
			if_fail(j, path, len < 0 ? strerror(errno) : "too large");
			break;
		}
		struct store_target t = {.account_id = j->account_id, .mailbox_id = j->mailbox_id};
		if (store_deliver(j->st, msg, (size_t)len, &t, 1) != STORE_OK) {
			if_fail(j, path, store_last_error());
			break;
		}
	}
	free(msg);
	store_release_thread(j->st);
	return NULL;
}

static void *if_account_thread(void *arg)
{
	struct if_job *j = arg;
	long i;
	while ((i = if_next(j)) != 0) {
		char name[256];
		snprintf(name, sizeof name, j->fmt, i - 1);
		int64_t id;
		int rc = store_account_create(j->st, name, j->hash, &id);
		if (rc != STORE_OK && rc != STORE_EXISTS) {
			if_fail(j, name, store_last_error());
			break;
		}
	}
	store_release_thread(j->st);
	return NULL;
}

static void if_run(struct if_job *j, int threads, void *(*fn)(void *))
{
	pthread_t tids[IF_MAX_THREADS];
	for (int t = 0; t < threads; t++)
		if (pthread_create(&tids[t], NULL, fn, j) != 0)
			load_die("pthread_create failed");
	for (int t = 0; t < threads; t++)
		pthread_join(tids[t], NULL);
}

static struct store *if_open(const char *dir)
{
	struct store *st = NULL;
	const char *err = NULL;
	if (store_open_sqlite(dir, true, &st, &err) != STORE_OK)
		load_die("opening the store in %s: %s", dir, err ? err : "?");
	return st;
}

static int if_deliver(int argc, char **argv)
{
	if (argc != 5)
		load_die("usage: deliver DATA USER DIR N THREADS");
	struct if_job j = {.dir = argv[2], .n = atol(argv[3]), .lock = PTHREAD_MUTEX_INITIALIZER};
	int threads = atoi(argv[4]);
	if (j.n < 1 || j.n > 999999 || threads < 1 || threads > IF_MAX_THREADS)
		load_die("bad N or THREADS");
	j.st = if_open(argv[0]);
	struct store_account acct = {0};
	struct store_mailbox box = {0};
	if (store_account_find(j.st, argv[1], &acct) != STORE_OK)
		load_die("no account %s", argv[1]);
	if (store_mailbox_find(j.st, acct.id, "INBOX", &box) != STORE_OK)
		load_die("%s has no INBOX", argv[1]);
	j.account_id = acct.id;
	j.mailbox_id = box.id;
	double t0 = if_now();
	if_run(&j, threads, if_deliver_thread);
	double dt = if_now() - t0;
	store_mailbox_clear(&box);
	store_account_clear(&acct);
	store_close(j.st);
	if (j.failed)
		return 1;
	fprintf(stderr, "imap-fill: %ld messages delivered in %.1f s (%.0f msg/s, %d threads)\n", j.n, dt, j.n / dt,
		threads);
	return 0;
}

static int if_accounts(int argc, char **argv)
{
	if (argc != 5)
		load_die("usage: accounts DATA USERFMT N HASH THREADS");
	struct if_job j = {.fmt = argv[1], .n = atol(argv[2]), .hash = argv[3], .lock = PTHREAD_MUTEX_INITIALIZER};
	int threads = atoi(argv[4]);
	if (j.n < 1 || j.n > 1000000 || threads < 1 || threads > IF_MAX_THREADS)
		load_die("bad N or THREADS");
	j.st = if_open(argv[0]);
	double t0 = if_now();
	if_run(&j, threads, if_account_thread);
	double dt = if_now() - t0;
	store_close(j.st);
	if (j.failed)
		return 1;
	fprintf(stderr, "imap-fill: %ld accounts in %.1f s (%.0f/s, %d threads)\n", j.n, dt, j.n / dt, threads);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		load_die("usage: imap-fill deliver|accounts ...");
	if (strcmp(argv[1], "deliver") == 0)
		return if_deliver(argc - 2, argv + 2);
	if (strcmp(argv[1], "accounts") == 0)
		return if_accounts(argc - 2, argv + 2);
	load_die("unknown command %s", argv[1]);
}
