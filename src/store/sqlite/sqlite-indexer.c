/* The SEARCH indexer of the embedded store: a background thread that moves
 * the search text of newly stored messages into the FTS5 trigram indexes
 * (schema step 5) and takes the text of deleted messages out again.
 *
 * Delivery only queues a message id (a trigger on message_text); indexing
 * costs about two milliseconds per message, far more than storing one, so it
 * never happens inside a delivery's transaction. The thread instead submits
 * short jobs to the writer (at most SQLITE_INDEX_JOB_MS of work each, with a
 * pause between them), and a job makes way once it has had
 * SQLITE_INDEX_MIN_MS while other writes wait, so a delivery waits behind a
 * few milliseconds of indexing at most, and the index keeps up with a steady
 * stream of new mail. Its commits need no fsync of their own (lost work is
 * done again). Searches stay exact meanwhile: what
 * is still queued is scanned (sqlite-search.c). The thread stops promptly when
 * the store closes: a job gives up between two messages once asked to. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

#define SQLITE_INDEX_START_MS 1000 /* first look after the store opened (short CLI runs never index) */
#define SQLITE_INDEX_IDLE_MS 1000  /* between looks while nothing waits */
#define SQLITE_INDEX_ERROR_MS 10000 /* after a failed job */
#define SQLITE_INDEX_JOB_MS 50     /* writer time one job may take, give or take one message */
#define SQLITE_INDEX_PAUSE_MS 10   /* between jobs of a backlog */
#define SQLITE_INDEX_YIELD_MS 20   /* after a job that made way for other writes */
#define SQLITE_INDEX_MIN_MS 2      /* writer time a job takes even while other writes wait */
#define SQLITE_INDEX_JOB_MAX 256   /* messages one job looks at */
/* Longer text (or text that is not UTF-8, where FTS5's character boundaries
 * could differ from the needle's) is scanned by every search instead. */
#define SQLITE_INDEX_MAX_TEXT (256 * 1024)

struct sqlite_indexer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;           /* under lock */
	atomic_bool halting; /* read by running jobs */
};

/* One writer job: index queued text, drop purged text. */
struct sqlite_index_job {
	struct sqlite_store *st;
	size_t max;
	int64_t after;        /* queue position: ids above this */
	atomic_bool *halting; /* may be NULL */
	size_t done;          /* messages indexed, purged, or dropped */
	int64_t refused;      /* the message the index refused (the job failed) */
	int64_t started;      /* when the job began (time_mono_ms) */
	bool more;            /* the job stopped before it ran out of work */
	bool yielded;         /* ... because other writes were waiting */
	/* Queued messages without text: stored before the parser existed. */
	int64_t *unparsed, *unparsed_account;
	size_t n_unparsed;
};

/* Whether the job should end after the message it has done: its time is
 * up, the store is closing, or other writes wait for the writer (deliveries
 * come first; the index catches up when they are done). */
static bool sqlite_index_stop_now(struct sqlite_index_job *j, int64_t deadline)
{
	if (j->done == 0)
		return false; /* at least one message per job */
	int64_t now = time_mono_ms();
	if (now >= deadline || (j->halting != NULL && atomic_load(j->halting)))
		return true;
	if (now < j->started + SQLITE_INDEX_MIN_MS)
		return false;
	pthread_mutex_lock(&j->st->lock);
	bool waiting = j->st->queue_head != NULL;
	pthread_mutex_unlock(&j->st->lock);
	j->yielded |= waiting;
	return waiting;
}

/* Up to max ids from a single-column query with ?1 = after, ?2 = limit. */
static int sqlite_index_ids(struct sqlite_conn *w, const char *sql, int64_t after, size_t max, int64_t **ids_r,
			    size_t *n_r)
{
	*ids_r = NULL;
	*n_r = 0;
	sqlite3_stmt *s = sqlite_stmt(w, sql);
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int64(s, 2, (int64_t)max);
	int64_t *ids = xmalloc((max ? max : 1) * sizeof *ids);
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < max)
		ids[n++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		free(ids);
		return sqlite_fail(w, "search index ids");
	}
	*ids_r = ids;
	*n_r = n;
	return STORE_OK;
}

/* Add (or, with del, remove) one message's text to both indexes. */
static int sqlite_index_put(struct sqlite_conn *w, int64_t id, sqlite3_stmt *text, bool del)
{
	static const char *const add_sql[] = {"INSERT INTO search_headers (rowid, t) VALUES (?1, ?2)",
					      "INSERT INTO search_body (rowid, t) VALUES (?1, ?2)"};
	static const char *const del_sql[] = {
		"INSERT INTO search_headers (search_headers, rowid, t) VALUES ('delete', ?1, ?2)",
		"INSERT INTO search_body (search_body, rowid, t) VALUES ('delete', ?1, ?2)"};
	for (int col = 0; col < 2; col++) {
		sqlite3_stmt *s = sqlite_stmt(w, del ? del_sql[col] : add_sql[col]);
		if (s == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_value(s, 2, sqlite3_column_value(text, col));
		if (sqlite_step_done(w, s) != STORE_OK)
			return STORE_ERROR;
	}
	return STORE_OK;
}

static int sqlite_index_purge(struct sqlite_conn *w, struct sqlite_index_job *j, int64_t deadline)
{
	int64_t *ids;
	size_t n;
	int rc = sqlite_index_ids(w, "SELECT message_id FROM search_purge ORDER BY message_id LIMIT ?2", 0, j->max,
				  &ids, &n);
	if (rc != STORE_OK)
		return rc;
	if (n == j->max)
		j->more = true;
	for (size_t i = 0; i < n && rc == STORE_OK; i++) {
		if (sqlite_index_stop_now(j, deadline)) {
			j->more = true;
			break;
		}
		sqlite3_stmt *t = sqlite_stmt(w, "SELECT headers, body FROM search_purge WHERE message_id = ?");
		if (t == NULL) {
			rc = STORE_ERROR;
			break;
		}
		sqlite3_bind_int64(t, 1, ids[i]);
		int step = sqlite3_step(t);
		if (step == SQLITE_ROW)
			rc = sqlite_index_put(w, ids[i], t, true);
		else if (step != SQLITE_DONE)
			rc = sqlite_fail(w, "search purge");
		sqlite3_reset(t);
		if (rc != STORE_OK)
			break;
		sqlite3_stmt *d = sqlite_stmt(w, "DELETE FROM search_purge WHERE message_id = ?");
		if (d == NULL) {
			rc = STORE_ERROR;
			break;
		}
		sqlite3_bind_int64(d, 1, ids[i]);
		rc = sqlite_step_done(w, d);
		j->done++;
	}
	free(ids);
	return rc;
}

/* A queued message whose text is missing: parse it later (outside the
 * writer) if some account still has it, else forget it. */
static int sqlite_index_missing(struct sqlite_conn *w, struct sqlite_index_job *j, int64_t id)
{
	sqlite3_stmt *s = sqlite_stmt(w, "SELECT account_id FROM entries WHERE message_id = ? LIMIT 1");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, id);
	int64_t account = 0;
	int rc = sqlite_step_int64(w, s, &account);
	if (rc == STORE_OK) {
		j->unparsed = xrealloc(j->unparsed, (j->n_unparsed + 1) * sizeof *j->unparsed);
		j->unparsed_account = xrealloc(j->unparsed_account, (j->n_unparsed + 1) * sizeof *j->unparsed_account);
		j->unparsed[j->n_unparsed] = id;
		j->unparsed_account[j->n_unparsed++] = account;
		return STORE_OK;
	}
	if (rc != STORE_NOTFOUND)
		return rc;
	s = sqlite_stmt(w, "DELETE FROM search_queue WHERE message_id = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, id);
	j->done++;
	return sqlite_step_done(w, s);
}

static int sqlite_index_queue(struct sqlite_conn *w, struct sqlite_index_job *j, int64_t deadline)
{
	int64_t *ids;
	size_t n;
	int rc = sqlite_index_ids(w,
				  "SELECT message_id FROM search_queue WHERE message_id > ?1 AND big = 0"
				  " ORDER BY message_id LIMIT ?2",
				  j->after, j->max, &ids, &n);
	if (rc != STORE_OK)
		return rc;
	if (n == j->max)
		j->more = true;
	for (size_t i = 0; i < n && rc == STORE_OK; i++) {
		if (sqlite_index_stop_now(j, deadline)) {
			j->more = true;
			break;
		}
		j->after = ids[i];
		sqlite3_stmt *t = sqlite_stmt(w, "SELECT headers, body FROM message_text WHERE message_id = ?");
		if (t == NULL) {
			rc = STORE_ERROR;
			break;
		}
		sqlite3_bind_int64(t, 1, ids[i]);
		int step = sqlite3_step(t);
		if (step == SQLITE_DONE) {
			sqlite3_reset(t);
			rc = sqlite_index_missing(w, j, ids[i]);
			continue;
		}
		if (step != SQLITE_ROW) {
			rc = sqlite_fail(w, "search text");
			sqlite3_reset(t);
			break;
		}
		size_t hlen = (size_t)sqlite3_column_bytes(t, 0), blen = (size_t)sqlite3_column_bytes(t, 1);
		const char *h = (const char *)sqlite3_column_text(t, 0), *b = (const char *)sqlite3_column_text(t, 1);
		bool big = hlen + blen > SQLITE_INDEX_MAX_TEXT || (h && !utf8_valid(h, hlen)) ||
			   (b && !utf8_valid(b, blen));
		/* No savepoint per message: FTS5 writes its pending terms out as a
		 * new segment at every savepoint, which made each message a segment
		 * of its own (and most of the writer's time under load). A message
		 * the index refuses fails the whole job instead; the thread marks it
		 * to be scanned and runs the job again without it. */
		if (!big && sqlite_index_put(w, ids[i], t, false) != STORE_OK) {
			log_warn("event=search_index_refused message=%lld error=\"%s\"", (long long)ids[i],
				 store_last_error());
			j->refused = ids[i];
			rc = STORE_ERROR;
		}
		sqlite3_reset(t);
		if (rc != STORE_OK)
			break;
		sqlite3_stmt *d = sqlite_stmt(w, big ? "UPDATE search_queue SET big = 1 WHERE message_id = ?"
						     : "DELETE FROM search_queue WHERE message_id = ?");
		if (d == NULL) {
			rc = STORE_ERROR;
			break;
		}
		sqlite3_bind_int64(d, 1, ids[i]);
		rc = sqlite_step_done(w, d);
		j->done++;
	}
	free(ids);
	return rc;
}

static int sqlite_index_job_run(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	(void)ch; /* the index is no mailbox change: nobody is notified */
	struct sqlite_index_job *j = arg;
	j->started = time_mono_ms();
	int64_t deadline = j->started + SQLITE_INDEX_JOB_MS;
	j->st = st;
	j->done = 0;
	j->more = false;
	j->yielded = false;
	int rc = sqlite_index_purge(w, j, deadline);
	if (rc == STORE_OK && !j->more)
		rc = sqlite_index_queue(w, j, deadline);
	return rc;
}

static void sqlite_index_forget_unparsed(struct sqlite_index_job *j)
{
	free(j->unparsed);
	free(j->unparsed_account);
	j->unparsed = j->unparsed_account = NULL;
	j->n_unparsed = 0;
}

/* Parse what the job found without text (store_message_info keeps the
 * result, and the text's trigger queues it again for the next job). Returns
 * how many were parsed. */
static size_t sqlite_index_parse(struct sqlite_store *st, struct sqlite_index_job *j)
{
	size_t parsed = 0;
	for (size_t i = 0; i < j->n_unparsed; i++) {
		struct mime_info info;
		int rc = store_message_info(&st->base, j->unparsed_account[i], j->unparsed[i], true, &info);
		if (rc == STORE_OK) {
			mime_info_clear(&info);
			parsed++;
		} else if (rc != STORE_NOTFOUND) {
			log_warn("event=search_index_parse_failed message=%lld error=\"%s\"",
				 (long long)j->unparsed[i], store_last_error());
		}
	}
	sqlite_release_thread(&st->base);
	sqlite_index_forget_unparsed(j);
	return parsed;
}

static int sqlite_index_pending(struct sqlite_store *st, size_t *pending_r)
{
	struct sqlite_conn *c = sqlite_reader(st);
	if (c == NULL)
		return STORE_ERROR;
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT (SELECT count(*) FROM search_queue WHERE big = 0)"
					 " + (SELECT count(*) FROM search_purge)");
	if (s == NULL)
		return STORE_ERROR;
	int64_t n = 0;
	int rc = sqlite_step_int64(c, s, &n);
	*pending_r = rc == STORE_OK ? (size_t)n : 0;
	return rc;
}

/* Whether a job would find anything to do (asked on a reader, so that an
 * idle store costs the writer nothing). */
static bool sqlite_index_has_work(struct sqlite_store *st)
{
	struct sqlite_conn *c = sqlite_reader(st);
	if (c == NULL)
		return true; /* let the job report the error */
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT EXISTS (SELECT 1 FROM search_queue WHERE big = 0)"
					 " OR EXISTS (SELECT 1 FROM search_purge)");
	int64_t any = 1;
	if (s == NULL || sqlite_step_int64(c, s, &any) != STORE_OK)
		return true;
	return any != 0;
}

/* Mark a message the index refused: searches scan it instead. */
static int sqlite_index_refuse_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	(void)st;
	(void)ch;
	sqlite3_stmt *s = sqlite_stmt(w, "UPDATE search_queue SET big = 1 WHERE message_id = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, *(const int64_t *)arg);
	return sqlite_step_done(w, s);
}

/* Run jobs until max messages were handled or nothing is left; *yielded_r
 * (may be NULL) tells whether the last job made way for other writes. The
 * background thread (halting set) also stops at the first job that made way:
 * it comes back after a pause instead of taking the writer job after job
 * while sessions write. */
static int sqlite_index_run(struct sqlite_store *st, size_t max, atomic_bool *halting, size_t *indexed_r,
			    bool *yielded_r)
{
	size_t total = 0;
	struct sqlite_index_job j = {.st = st, .halting = halting};
	int rc = STORE_OK;
	while (total < max && !(halting && atomic_load(halting))) {
		j.max = max - total < SQLITE_INDEX_JOB_MAX ? max - total : SQLITE_INDEX_JOB_MAX;
		int64_t after = j.after;
		j.refused = 0;
		rc = sqlite_submit_lazy(st, sqlite_index_job_run, &j);
		if (rc != STORE_OK && j.refused != 0) {
			/* Nothing of the job is left: mark the one and go again. */
			sqlite_index_forget_unparsed(&j);
			j.after = after;
			rc = sqlite_submit_lazy(st, sqlite_index_refuse_job, &j.refused);
			if (rc == STORE_OK)
				continue;
		}
		if (rc != STORE_OK) {
			sqlite_index_forget_unparsed(&j);
			break;
		}
		total += j.done;
		size_t parsed = sqlite_index_parse(st, &j);
		if (halting != NULL && j.yielded)
			break;
		if (!j.more) {
			if (parsed == 0)
				break;
			j.after = 0; /* what was just parsed waits to be indexed */
		}
	}
	if (indexed_r)
		*indexed_r = total;
	if (yielded_r)
		*yielded_r = j.yielded;
	return rc;
}

int sqlite_search_index(struct store *base, size_t max, size_t *indexed_r, size_t *pending_r)
{
	struct sqlite_store *st = sqlite_store_of(base);
	if (indexed_r)
		*indexed_r = 0;
	if (pending_r)
		*pending_r = 0;
	int rc = sqlite_index_run(st, max, NULL, indexed_r, NULL);
	if (rc == STORE_OK && pending_r)
		rc = sqlite_index_pending(st, pending_r);
	return rc;
}

/* ---- the background thread ---- */

/* Sleep up to ms unless asked to stop; true when asked. */
static bool sqlite_indexer_wait(struct sqlite_indexer *ix, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&ix->lock);
	while (!ix->stop)
		if (pthread_cond_timedwait(&ix->cond, &ix->lock, &ts) == ETIMEDOUT)
			break;
	bool stop = ix->stop;
	pthread_mutex_unlock(&ix->lock);
	return stop;
}

static void *sqlite_indexer_main(void *arg)
{
	struct sqlite_store *st = arg;
	struct sqlite_indexer *ix = st->indexer;
	int64_t wait = SQLITE_INDEX_START_MS;
	size_t run = 0; /* messages handled since the queue was last empty */
	int64_t run_start = 0;
	while (!sqlite_indexer_wait(ix, wait)) {
		size_t done = 0;
		int64_t t0 = time_mono_ms();
		int rc = STORE_OK;
		bool yielded = false;
		if (sqlite_index_has_work(st))
			rc = sqlite_index_run(st, SQLITE_INDEX_JOB_MAX, &ix->halting, &done, &yielded);
		if (rc != STORE_OK) {
			if (!atomic_load(&ix->halting))
				log_warn("event=search_index_failed error=\"%s\"", store_last_error());
			wait = SQLITE_INDEX_ERROR_MS;
			continue;
		}
		if (done > 0) {
			if (run == 0)
				run_start = t0;
			run += done;
			wait = yielded ? SQLITE_INDEX_YIELD_MS : SQLITE_INDEX_PAUSE_MS;
			continue;
		}
		if (run > 0) {
			log_info("event=search_indexed messages=%zu ms=%lld", run, (long long)(time_mono_ms() - run_start));
			run = 0;
		}
		wait = SQLITE_INDEX_IDLE_MS;
	}
	sqlite_release_thread(&st->base);
	return NULL;
}

void sqlite_indexer_start(struct sqlite_store *st)
{
	struct sqlite_indexer *ix = xcalloc(1, sizeof *ix);
	pthread_mutex_init(&ix->lock, NULL);
	pthread_cond_init(&ix->cond, NULL);
	atomic_init(&ix->halting, false);
	st->indexer = ix;
	int err = pthread_create(&ix->thread, NULL, sqlite_indexer_main, st);
	if (err != 0) {
		/* Searches stay exact without it, only slower. */
		log_warn("event=search_indexer_unavailable error=\"%s\"", strerror(err));
		pthread_mutex_destroy(&ix->lock);
		pthread_cond_destroy(&ix->cond);
		free(ix);
		st->indexer = NULL;
	}
}

void sqlite_indexer_stop(struct sqlite_store *st)
{
	struct sqlite_indexer *ix = st->indexer;
	if (ix == NULL)
		return;
	atomic_store(&ix->halting, true);
	pthread_mutex_lock(&ix->lock);
	ix->stop = true;
	pthread_cond_signal(&ix->cond);
	pthread_mutex_unlock(&ix->lock);
	pthread_join(ix->thread, NULL);
	pthread_mutex_destroy(&ix->lock);
	pthread_cond_destroy(&ix->cond);
	free(ix);
	st->indexer = NULL;
}
