/* The worker pool: threads that run protocol commands (proto->run) as plain
 * sequential code against the store. A connection is handed over whole; while
 * a worker has it, its event loop leaves it alone, and the worker hands it back
 * through the loop's completion queue. */
#include <pthread.h>
#include <stdbool.h>

#include "core/log.h"
#include "core/util.h"
#include "net/net-internal.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct conn *head, *tail;
static bool stopping;
static pthread_t *threads;
static unsigned nthreads;
static void (*idle_fn)(void *);
static void *idle_ctx;

static void *worker_main(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		if (head == NULL && !stopping && idle_fn != NULL) {
			/* About to sleep: let go of what this thread keeps between jobs. */
			pthread_mutex_unlock(&lock);
			idle_fn(idle_ctx);
			pthread_mutex_lock(&lock);
		}
		while (head == NULL && !stopping)
			pthread_cond_wait(&cond, &lock);
		if (head == NULL) {
			pthread_mutex_unlock(&lock);
			return NULL;
		}
		struct conn *c = head;
		head = c->job_next;
		if (head == NULL)
			tail = NULL;
		c->job_next = NULL;
		pthread_mutex_unlock(&lock);

		/* Run the command, then the ones already waiting behind it, for a
		 * bounded number of rounds so that one busy client cannot keep a
		 * worker from the others. */
		for (unsigned rounds = 0;; rounds++) {
			const char *data = c->job_kind == CMD_LINE ? buf_head(&c->in) : NULL;
			size_t len = c->job_kind == CMD_LINE ? c->job_len : 0;
			c->job_result = c->proto->run(c->session, c, c->job_kind, data, len);
			if (rounds < WORKER_MAX_ROUNDS && conn_next_inline(c))
				continue;
			enum finish f = rounds < WORKER_MAX_ROUNDS ? conn_finish_on_worker(c) : FINISH_LOOP;
			if (f == FINISH_AGAIN)
				continue;
			if (f == FINISH_LOOP)
				loop_job_done(c);
			break;
		}
	}
}

int workers_start(unsigned n, void (*idle)(void *ctx), void *ctx)
{
	idle_fn = idle;
	idle_ctx = ctx;
	threads = xcalloc(n, sizeof *threads);
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&threads[i], NULL, worker_main, NULL) != 0)
			return -1;
		nthreads++;
	}
	return 0;
}

void workers_submit(struct conn *c)
{
	pthread_mutex_lock(&lock);
	c->job_next = NULL;
	if (tail)
		tail->job_next = c;
	else
		head = c;
	tail = c;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

/* Finish the queued jobs, then stop the threads. */
void workers_stop(void)
{
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	threads = NULL;
	nthreads = 0;
}
