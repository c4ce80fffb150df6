/* Internals shared by the files of src/net: the connection struct, the event
 * loops, the worker pool, listeners and TLS. Protocols never include this; they
 * see only conn.h. */
#ifndef ROOST_NET_INTERNAL_H
#define ROOST_NET_INTERNAL_H

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "net/conn.h"
#include "net/server.h"

#define CONN_OUT_LOW (32 * 1024)      /* resume a RUN_MORE producer below this */
#define CONN_IN_MAX_AHEAD (64 * 1024) /* pipelined input buffered beyond one command */
#define CONN_SHUTDOWN_GRACE_MS 10000  /* how long SIGTERM waits for sessions */
#define CONN_TLS_HANDSHAKE_TIMEOUT_S 30

/* Who may touch a connection: its loop, or the worker running its command.
 * The loop marks an event it had to leave alone with OWNER_WORKER_MISSED, so
 * that a worker handing the connection back itself falls back to the loop. */
enum conn_owner { OWNER_LOOP, OWNER_WORKER, OWNER_WORKER_MISSED };

enum conn_state {
	CS_HANDSHAKE,  /* TLS handshake in progress (implicit TLS or after STARTTLS) */
	CS_IDLE,       /* on the loop: framing commands, reading, flushing */
	CS_BUSY,       /* a worker runs the protocol; the loop does not touch it */
	CS_DRAIN,      /* RUN_MORE: waiting for the output to drain, then CMD_RESUME */
	CS_STARTTLS,   /* RUN_STARTTLS: flushing the reply, then handshake */
	CS_CLOSING,    /* flushing the last output, then close */
};

struct loop;
struct listener;

struct conn {
	int fd;
	atomic_int owner;  /* enum conn_owner */
	enum conn_state state;
	struct loop *loop;
	const struct listener *listener;
	const struct proto *proto;
	void *session;
	SSL *ssl;
	struct buf in, out;
	/* The job handed to a worker. */
	enum cmd_kind job_kind;
	size_t job_len; /* bytes of `in` the command spans (consumed after run) */
	enum run_result job_result;
	struct conn *job_next;
	/* conn_wake(): a wake to deliver, and the loop's queue of woken connections. */
	atomic_bool wake;
	atomic_bool wake_queued;
	struct conn *wake_next;
	/* Loop bookkeeping. */
	struct conn *prev, *next;
	bool dead;         /* peer gone or fatal error: destroy when not busy */
	bool eof;          /* the peer closed its side; finish buffered commands */
	bool discarding;   /* dropping input up to the next LF after CMD_TOOLONG */
	bool tls_want_write;
	bool shutdown_sent;
	bool loopback;
	bool counted_ip;
	uint32_t events;   /* epoll interest currently registered */
	int64_t last_active_ms;
	int64_t delay_until_ms;
	int64_t started_ms;
	double tokens;     /* command-rate token bucket */
	int64_t tokens_ms;
	uint64_t bytes_in, bytes_out;
	char peer_ip[46];
	char sid[12];
};

struct listener {
	int fd;
	const struct proto *proto;
	int idle_timeout_s;
	char addr[80];
};

struct loop {
	pthread_t thread;
	int epfd;
	int wakefd;                 /* eventfd: completions and shutdown */
	pthread_mutex_t done_lock;
	struct conn *done_head, *done_tail; /* jobs finished by workers */
	struct conn *wake_head;     /* woken by conn_wake(), under done_lock */
	struct conn *conns;         /* every connection of this loop */
	unsigned nconns;
	unsigned index;
	bool has_delayed;           /* some connection waits for a deadline */
};

struct net {
	struct server *srv;
	struct listener *listeners;
	unsigned nlisteners;
	struct loop *loops;
	unsigned nloops;
	atomic_bool stopping;
	int64_t stop_deadline_ms;
	SSL_CTX *tls;
	atomic_uint nconns;
	unsigned max_conns, max_per_ip;
	int rate;                   /* commands per second per connection */
};

extern struct net *net_global;

/* workers.c */
/* idle(ctx) runs on a worker each time it is about to wait for work. */
int workers_start(unsigned n, void (*idle)(void *ctx), void *ctx);
void workers_submit(struct conn *c);
void workers_stop(void);

/* tls.c */
SSL_CTX *tls_context_new(const char *data_dir, const char *cert, const char *key, const char *hostname, const char **error_r);

/* limits.c: per-IP connection counts. */
bool limits_ip_acquire(const char *ip, unsigned max);
void limits_ip_release(const char *ip);

/* loop.c */
int loops_start(struct net *net, unsigned n);
void loops_wake_all(struct net *net);
void loops_join(struct net *net);
void loop_job_done(struct conn *c);
bool conn_next_inline(struct conn *c);
enum finish { FINISH_HANDED, FINISH_AGAIN, FINISH_LOOP };
enum finish conn_finish_on_worker(struct conn *c);
#define WORKER_MAX_ROUNDS 64 /* commands one worker runs for a connection before it yields */

/* listen.c */
int listeners_open(struct net *net, const struct config *cfg, const char **error_r);

#endif
