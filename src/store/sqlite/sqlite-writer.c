/* The single writer of the embedded store and the change notifications it
 * publishes. Callers queue a job and sleep; the writer takes every queued job,
 * runs each in its own SAVEPOINT inside one BEGIN IMMEDIATE transaction and
 * commits them with one fsync (group commit). No caller is woken with success
 * before COMMIT returned OK; a batch of only lazy jobs (sqlite_submit_lazy)
 * commits without waiting for the fsync, and the next batch that does wait
 * takes it to disk as well. After a commit the changed mailboxes go to the
 * watchers and, as a datagram, to DIR/notify.sock for a server in another
 * process; store_listen_external() receives those datagrams. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

/* A job's result before the writer ran it (never a store_status). */
#define SQLITE_JOB_PENDING 1
/* How often an idle writer checks whether kept entries can go. */
#define SQLITE_RELEASE_WAIT_MS 200

void sqlite_changes_add(struct sqlite_changes *ch, int64_t account_id, int64_t mailbox_id, uint64_t modseq)
{
	for (size_t i = 0; i < ch->n; i++)
		if (ch->v[i].account_id == account_id && ch->v[i].mailbox_id == mailbox_id) {
			if (modseq > ch->v[i].modseq)
				ch->v[i].modseq = modseq;
			return;
		}
	if (ch->n == ch->cap) {
		ch->cap = ch->cap ? ch->cap * 2 : 4;
		ch->v = xrealloc(ch->v, ch->cap * sizeof *ch->v);
	}
	ch->v[ch->n++] = (struct sqlite_change){account_id, mailbox_id, modseq, 0};
}

void sqlite_changes_kept(struct sqlite_changes *ch, int64_t account_id, int64_t mailbox_id, uint64_t modseq)
{
	sqlite_changes_add(ch, account_id, mailbox_id, modseq);
	for (size_t i = 0; i < ch->n; i++)
		if (ch->v[i].account_id == account_id && ch->v[i].mailbox_id == mailbox_id) {
			if (ch->v[i].kept == 0 || modseq < ch->v[i].kept)
				ch->v[i].kept = modseq;
			return;
		}
}

static void sqlite_watchers_call(struct sqlite_store *st, const struct sqlite_change *c)
{
	pthread_rwlock_rdlock(&st->watchers_lock);
	for (size_t i = 0; i < st->n_watchers; i++)
		st->watchers[i].fn(st->watchers[i].ctx, c->account_id, c->mailbox_id, c->modseq);
	pthread_rwlock_unlock(&st->watchers_lock);
}

/* Tell a server in another process about our commits. Best effort: a missing
 * socket or a full receive queue must never delay or fail a write. */
static void sqlite_notify_send(struct sqlite_store *st, const struct sqlite_changes *ch)
{
	if (st->notify_fd < 0 || st->listening || ch->n == 0)
		return;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, st->sock_path, strlen(st->sock_path) + 1);
	char msg[SQLITE_NOTIFY_MAX];
	for (size_t i = 0; i < ch->n; i++) {
		int n = snprintf(msg, sizeof msg, "%lld %lld %llu %ld", (long long)ch->v[i].account_id,
				 (long long)ch->v[i].mailbox_id, (unsigned long long)ch->v[i].modseq,
				 (long)getpid());
		if (sendto(st->notify_fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
			   sizeof sa) < 0 &&
		    (errno == ENOENT || errno == ECONNREFUSED))
			return; /* nobody is listening: fine */
	}
}

void sqlite_notify_open(struct sqlite_store *st)
{
	st->notify_fd = -1;
	if (strlen(st->sock_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		log_warn("event=store_notify_disabled reason=\"socket path too long\" path=\"%s\"", st->sock_path);
		return;
	}
	st->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (st->notify_fd < 0)
		log_warn("event=store_notify_disabled reason=\"%s\"", strerror(errno));
}

static void sqlite_job_finish(struct sqlite_job *j, int result)
{
	j->result = result;
	if (result == STORE_ERROR && j->error == NULL)
		j->error = xstrdup(store_last_error());
}

/* Whether the next commit waits for the fsync: set outside a transaction,
 * only when it changes. */
static int sqlite_durable(struct sqlite_store *st, bool durable)
{
	if (st->commit_durable == durable)
		return STORE_OK;
	int rc = sqlite_exec(st->writer, durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
	if (rc == STORE_OK)
		st->commit_durable = durable;
	return rc;
}

/* BEGIN IMMEDIATE takes the write lock up front, so a busy database shows
 * here (where retrying is safe) and not halfway through a job. */
static int sqlite_begin(struct sqlite_conn *w)
{
	for (int attempt = 0; attempt < SQLITE_BEGIN_ATTEMPTS; attempt++) {
		sqlite3_stmt *s = sqlite_stmt(w, "BEGIN IMMEDIATE");
		if (s == NULL)
			return STORE_ERROR;
		int rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc == SQLITE_DONE)
			return STORE_OK;
		if ((rc & 0xff) != SQLITE_BUSY)
			return sqlite_fail(w, "BEGIN IMMEDIATE");
		log_warn("event=store_busy op=begin attempt=%d", attempt + 1);
	}
	return store_set_error("sqlite: database stayed locked by another process");
}

static void sqlite_rollback(struct sqlite_conn *w)
{
	if (!sqlite3_get_autocommit(w->db))
		(void)sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
}

/* The whole batch failed (nothing of it is committed): every job gets the
 * error, including those that had succeeded inside it. */
static void sqlite_batch_fail(struct sqlite_conn *w, struct sqlite_job *batch)
{
	char *why = xstrdup(store_last_error());
	sqlite_rollback(w);
	for (struct sqlite_job *j = batch; j != NULL; j = j->next) {
		if (j->result != STORE_ERROR) {
			free(j->error);
			j->error = NULL;
			store_set_error("%s", why);
			sqlite_job_finish(j, STORE_ERROR);
		}
		j->changes.n = 0;
	}
	free(why);
}

/* Free what no pin needs any more, in its own savepoint of the transaction
 * open on w: a failure leaves the rows for the next time and the batch
 * unharmed. */
static void sqlite_release_in(struct sqlite_store *st, struct sqlite_conn *w)
{
	if (sqlite_exec(w, "SAVEPOINT release") != STORE_OK)
		return;
	if (sqlite_kept_release(st, w) != STORE_OK) {
		log_warn("event=store_error op=release_kept error=\"%s\"", store_last_error());
		for (size_t i = 0; i < w->n_stmts; i++)
			sqlite3_reset(w->stmts[i].stmt);
		(void)sqlite_exec(w, "ROLLBACK TO release");
	}
	(void)sqlite_exec(w, "RELEASE release");
}

/* No batch came while kept entries became free: a transaction of its own. */
static void sqlite_release_alone(struct sqlite_store *st)
{
	struct sqlite_conn *w = st->writer;
	if (sqlite_durable(st, false) != STORE_OK || sqlite_begin(w) != STORE_OK)
		return;
	sqlite_release_in(st, w);
	if (sqlite_exec(w, "COMMIT") != STORE_OK) {
		log_warn("event=store_error op=release_kept error=\"%s\"", store_last_error());
		sqlite_rollback(w);
	}
}

/* Run one batch as one transaction. Results and changes are left in the jobs;
 * the changes of the whole committed batch are merged into ch. */
static void sqlite_run_batch(struct sqlite_store *st, struct sqlite_job *batch, struct sqlite_changes *ch)
{
	struct sqlite_conn *w = st->writer;
	bool durable = false;
	for (const struct sqlite_job *j = batch; j != NULL && !durable; j = j->next)
		durable = !j->lazy;
	if (sqlite_durable(st, durable) != STORE_OK || sqlite_begin(w) != STORE_OK) {
		sqlite_batch_fail(w, batch);
		return;
	}
	if (st->n_kept > 0 && sqlite_kept_due(st))
		sqlite_release_in(st, w);
	for (struct sqlite_job *j = batch; j != NULL; j = j->next) {
		/* Some errors (I/O, disk full) make SQLite roll the whole
		 * transaction back by itself: then nothing of the batch is left. */
		if (sqlite3_get_autocommit(w->db)) {
			store_set_error("sqlite: the transaction was rolled back by an earlier error");
			sqlite_batch_fail(w, batch);
			return;
		}
		if (sqlite_exec(w, "SAVEPOINT job") != STORE_OK) {
			sqlite_batch_fail(w, batch);
			return;
		}
		int rc = j->fn(st, w, j->ctx, &j->changes);
		sqlite_job_finish(j, rc); /* takes the job's own error text */
		if (rc != STORE_OK) {
			j->changes.n = 0;
			/* A job may leave a statement mid-step; reset them all so the
			 * rollback to the savepoint is not refused. */
			for (size_t i = 0; i < w->n_stmts; i++)
				sqlite3_reset(w->stmts[i].stmt);
			if (sqlite_exec(w, "ROLLBACK TO job") != STORE_OK) {
				/* Cannot undo this job alone: give up the batch. */
				sqlite_batch_fail(w, batch);
				return;
			}
		}
		if (sqlite_exec(w, "RELEASE job") != STORE_OK) {
			sqlite_batch_fail(w, batch);
			return;
		}
	}
	if (sqlite_exec(w, "COMMIT") != STORE_OK) {
		sqlite_batch_fail(w, batch);
		return;
	}
	for (struct sqlite_job *j = batch; j != NULL; j = j->next)
		for (size_t i = 0; i < j->changes.n; i++) {
			const struct sqlite_change *c = &j->changes.v[i];
			if (c->kept != 0)
				sqlite_changes_kept(ch, c->account_id, c->mailbox_id, c->kept);
			sqlite_changes_add(ch, c->account_id, c->mailbox_id, c->modseq);
		}
}

/* Under st->lock. */
static void sqlite_round_done(struct sqlite_store *st)
{
	st->rounds_done = st->rounds_begun;
	pthread_cond_broadcast(&st->settle_cond);
}

void sqlite_pins_settle(struct store *base)
{
	struct sqlite_store *st = sqlite_store_of(base);
	if (st->writer_started && pthread_equal(pthread_self(), st->writer_thread))
		return;
	pthread_mutex_lock(&st->lock);
	uint64_t until = st->rounds_begun;
	while (st->rounds_done < until)
		pthread_cond_wait(&st->settle_cond, &st->lock);
	pthread_mutex_unlock(&st->lock);
}

static void *sqlite_writer_main(void *arg)
{
	struct sqlite_store *st = arg;
	struct sqlite_changes ch = {0};
	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (st->queue_head == NULL && !st->stopping) {
			if (st->n_kept == 0) {
				pthread_cond_wait(&st->work_cond, &st->lock);
				continue;
			}
			/* Kept entries wait for pins to pass them: look again soon
			 * even if no write comes to carry the release. */
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += SQLITE_RELEASE_WAIT_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			if (pthread_cond_timedwait(&st->work_cond, &st->lock, &until) == ETIMEDOUT &&
			    st->queue_head == NULL && sqlite_kept_due(st)) {
				st->rounds_begun++;
				pthread_mutex_unlock(&st->lock);
				sqlite_release_alone(st);
				pthread_mutex_lock(&st->lock);
				sqlite_round_done(st);
			}
		}
		if (st->queue_head == NULL)
			break;
		struct sqlite_job *batch = st->queue_head;
		st->rounds_begun++;
		if (st->group_commit) {
			st->queue_head = st->queue_tail = NULL;
		} else {
			st->queue_head = batch->next;
			if (st->queue_head == NULL)
				st->queue_tail = NULL;
			batch->next = NULL;
		}
		pthread_mutex_unlock(&st->lock);

		ch.n = 0;
		sqlite_run_batch(st, batch, &ch);
		sqlite_kept_track(st, &ch);
		/* Watchers hear of a commit before its writers return, so a session
		 * that just wrote finds its own change announced. */
		for (size_t i = 0; i < ch.n; i++)
			sqlite_watchers_call(st, &ch.v[i]);

		/* Wake each caller through its own semaphore, so the woken do not
		 * queue up on the store lock; j is gone once its caller runs. */
		for (struct sqlite_job *j = batch; j != NULL;) {
			struct sqlite_job *next = j->next;
			sem_post(&j->done);
			j = next;
		}
		sqlite_notify_send(st, &ch);
		pthread_mutex_lock(&st->lock);
		sqlite_round_done(st);
	}
	pthread_mutex_unlock(&st->lock);
	free(ch.v);
	return NULL;
}

int sqlite_writer_start(struct sqlite_store *st)
{
	int err = pthread_create(&st->writer_thread, NULL, sqlite_writer_main, st);
	if (err != 0)
		return store_set_error("cannot start the store writer thread: %s", strerror(err));
	st->writer_started = true;
	return STORE_OK;
}

void sqlite_writer_stop(struct sqlite_store *st)
{
	if (!st->writer_started)
		return;
	pthread_mutex_lock(&st->lock);
	st->stopping = true;
	pthread_cond_signal(&st->work_cond);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->writer_thread, NULL);
	st->writer_started = false;
}

static int sqlite_submit_job(struct sqlite_store *st, sqlite_job_fn *fn, void *ctx, bool lazy)
{
	if (st->writer_started && pthread_equal(pthread_self(), st->writer_thread))
		return store_set_error("store write called from the writer thread (a watcher may not call the store)");
	struct sqlite_job job = {.fn = fn, .ctx = ctx, .result = SQLITE_JOB_PENDING, .lazy = lazy};
	pthread_mutex_lock(&st->lock);
	if (st->stopping) {
		pthread_mutex_unlock(&st->lock);
		return store_set_error("store is closing");
	}
	sem_init(&job.done, 0, 0);
	if (st->queue_tail != NULL)
		st->queue_tail->next = &job;
	else
		st->queue_head = &job;
	st->queue_tail = &job;
	pthread_cond_signal(&st->work_cond);
	pthread_mutex_unlock(&st->lock);
	while (sem_wait(&job.done) < 0 && errno == EINTR)
		;
	sem_destroy(&job.done);
	free(job.changes.v);
	if (job.result == STORE_ERROR) {
		store_set_error("%s", job.error ? job.error : "write failed");
		free(job.error);
	}
	return job.result;
}

int sqlite_submit(struct sqlite_store *st, sqlite_job_fn *fn, void *ctx)
{
	return sqlite_submit_job(st, fn, ctx, false);
}

int sqlite_submit_lazy(struct sqlite_store *st, sqlite_job_fn *fn, void *ctx)
{
	return sqlite_submit_job(st, fn, ctx, true);
}

/* --- receiving other processes' notifications --- */

static void sqlite_listen_handle(struct sqlite_store *st, const char *msg, size_t len)
{
	long long account = 0, mailbox = 0, pid = 0;
	unsigned long long modseq = 0;
	char *text = xstrndup(msg, len);
	int n = sscanf(text, "%lld %lld %llu %lld", &account, &mailbox, &modseq, &pid);
	free(text);
	if (n < 3 || account <= 0 || mailbox <= 0) {
		log_warn("event=store_notify_bad_datagram len=%zu", len);
		return;
	}
	if (n == 4 && pid == (long long)getpid())
		return; /* our own writer already told the watchers */
	struct sqlite_change c = {account, mailbox, modseq, 0};
	sqlite_watchers_call(st, &c);
}

static void *sqlite_listen_main(void *arg)
{
	struct sqlite_store *st = arg;
	struct pollfd pfd[2] = {{.fd = st->listen_fd, .events = POLLIN}, {.fd = st->listen_stop[0], .events = POLLIN}};
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("event=store_notify_poll error=\"%s\"", strerror(errno));
			return NULL;
		}
		if (pfd[1].revents)
			return NULL;
		if (!(pfd[0].revents & POLLIN))
			continue;
		ssize_t n = recv(st->listen_fd, st->listen_buf, SQLITE_NOTIFY_MAX, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("event=store_notify_recv error=\"%s\"", strerror(errno));
			continue;
		}
		if (n > SQLITE_NOTIFY_MAX) {
			log_warn("event=store_notify_bad_datagram len=%zd", n);
			continue;
		}
		sqlite_listen_handle(st, st->listen_buf, (size_t)n);
	}
}

int store_listen_external(struct store *base, const char **error_r)
{
	const char *dummy;
	if (error_r == NULL)
		error_r = &dummy;
	if (base == NULL || base->ops != &sqlite_store_ops) {
		*error_r = "not an embedded SQLite store";
		return STORE_INVALID;
	}
	struct sqlite_store *st = sqlite_store_of(base);
	if (st->listening) {
		*error_r = "already listening";
		return STORE_INVALID;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(st->sock_path) >= sizeof sa.sun_path) {
		store_set_error("notification socket path too long: %s", st->sock_path);
		*error_r = store_last_error();
		return STORE_ERROR;
	}
	memcpy(sa.sun_path, st->sock_path, strlen(st->sock_path) + 1);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		store_set_error("notification socket: %s", strerror(errno));
		*error_r = store_last_error();
		return STORE_ERROR;
	}
	/* A socket file left by a process that died is stale; ours replaces it. */
	(void)unlink(st->sock_path);
	/* Who may send is decided by the data directory's mode (0700). */
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		store_set_error("bind %s: %s", st->sock_path, strerror(errno));
		close(fd);
		*error_r = store_last_error();
		return STORE_ERROR;
	}
	if (pipe2(st->listen_stop, O_CLOEXEC) < 0) {
		store_set_error("pipe: %s", strerror(errno));
		close(fd);
		(void)unlink(st->sock_path);
		*error_r = store_last_error();
		return STORE_ERROR;
	}
	st->listen_fd = fd;
	st->listen_buf = xmalloc(SQLITE_NOTIFY_MAX + 1);
	int err = pthread_create(&st->listen_thread, NULL, sqlite_listen_main, st);
	if (err != 0) {
		store_set_error("cannot start the notification thread: %s", strerror(err));
		sqlite_listen_stop(st);
		*error_r = store_last_error();
		return STORE_ERROR;
	}
	st->listening = true;
	/* The server frees what an earlier one kept for its sessions. */
	if (sqlite_kept_adopt(st) != STORE_OK)
		log_warn("event=store_error op=adopt_kept error=\"%s\"", store_last_error());
	log_info("event=store_notify_listening path=\"%s\"", st->sock_path);
	return STORE_OK;
}

void sqlite_listen_stop(struct sqlite_store *st)
{
	if (st->listen_fd < 0)
		return;
	if (st->listening) {
		(void)write_all(st->listen_stop[1], "x", 1);
		pthread_join(st->listen_thread, NULL);
		st->listening = false;
	}
	close(st->listen_stop[0]);
	close(st->listen_stop[1]);
	close(st->listen_fd);
	st->listen_fd = -1;
	(void)unlink(st->sock_path);
	free(st->listen_buf);
	st->listen_buf = NULL;
}
