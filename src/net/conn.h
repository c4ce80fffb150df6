/* A client connection as a protocol sees it, and the contract between the
 * event loops and the protocol sessions.
 *
 * The loops own the sockets: they read, decrypt (TLS), find complete commands
 * with the protocol's frame() and flush output. A complete command is handed to
 * a worker thread that calls the protocol's run(); while run() is in progress
 * the loop does not touch the connection, so run() may use conn_write() and the
 * session without locks. run() returns:
 *   RUN_DONE      the command is finished; the loop flushes and frames the next
 *   RUN_MORE      output passed the high-water mark; call run(CMD_RESUME) once
 *                 the client has drained it (long RETR/FETCH streams this way)
 *   RUN_CLOSE     flush the output, then close the connection
 *   RUN_STARTTLS  flush the output, discard buffered input, start TLS, then
 *                 continue framing commands
 * A slow reader therefore never pins a worker and never makes the server buffer
 * more than about CONN_OUT_HIGH bytes for it. */
#ifndef ROOST_NET_CONN_H
#define ROOST_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

#define CONN_OUT_HIGH (128 * 1024) /* run() should yield with RUN_MORE above this */
#define CONN_READ_CHUNK 16384

struct conn;
struct server;

enum run_result { RUN_DONE, RUN_MORE, RUN_CLOSE, RUN_STARTTLS };

enum cmd_kind {
	CMD_GREET,    /* connection accepted (TLS, if implicit, is established) */
	CMD_LINE,     /* a complete command: data/len as returned by frame() */
	CMD_TOOLONG,  /* frame() reported a command over the protocol's limit; the
	                 loop discards the input up to the next LF */
	CMD_RESUME,   /* continue after RUN_MORE */
	CMD_TIMEOUT,  /* the client was idle for longer than the protocol allows */
	CMD_SHUTDOWN, /* the server is stopping: say goodbye; the loop closes after */
	CMD_WAKE,     /* conn_wake() was called and no command was waiting */
};

#define FRAME_TOOLONG ((ssize_t)-1)
/* A complete command whose bytes the session has already taken (see frame). */
#define FRAME_TAKEN ((ssize_t)-2)

struct proto {
	const char *name; /* "pop3", "pop3s" ... for logs */
	bool implicit_tls;
	const char *idle_timeout_key; /* config key: seconds of silence before CMD_TIMEOUT */
	size_t max_command; /* frame() is only called with at most this many bytes plus one */
	/* Sent (best effort, cleartext protocols only) to a connection refused by a
	 * connection limit before it is closed; NULL to just close. */
	const char *busy_reply;
	/* Loop thread. Allocate the per-connection session. */
	void *(*open)(struct conn *c);
	/* Any thread, after the connection is gone; run() is not in progress. */
	void (*close)(void *session);
	/* Called by whoever holds the connection (its loop, or the worker that just
	 * ran a command), also with len 0. Length of the first complete command in
	 * in[0..len) (including its terminator), 0 when more input is needed,
	 * FRAME_TOOLONG when len bytes are already more than a command may be.
	 * A session that keeps the input itself (IMAP's parser, which copies
	 * literal data as it arrives so that a large APPEND is held once) sets
	 * *taken_r to the bytes it took, which the loop drops at once, and returns
	 * FRAME_TAKEN for a complete command, then run() gets CMD_LINE with len 0.
	 * Until that command has run, every further call must return FRAME_TAKEN
	 * again without taking input. frame() may conn_write() (IMAP's "+ Ready"
	 * for a synchronizing literal); the output is flushed before more input is
	 * awaited. Must be cheap and must not block. */
	ssize_t (*frame)(void *session, const char *in, size_t len, size_t *taken_r);
	/* Worker thread. Handle one event; see the comment above. */
	enum run_result (*run)(void *session, struct conn *c, enum cmd_kind kind, const char *data, size_t len);
};

/* --- Used by run() on a worker thread --- */
void conn_write(struct conn *c, const void *data, size_t len);
void conn_writes(struct conn *c, const char *s);
void conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Direct access for bulk producers (e.g. dot-stuffing a message). */
struct buf *conn_outbuf(struct conn *c);
bool conn_out_full(const struct conn *c);
/* Delay the processing of this connection's next command by ms (failed-login
 * throttling) without holding a worker. */
void conn_delay(struct conn *c, int ms);

/* Any thread: have run(CMD_WAKE) called soon (once the connection has no
 * command running or waiting), e.g. from a store watcher for a session in
 * IDLE. Wakes before the previous one was handled coalesce into one. The
 * caller must know c is alive: call it only under a lock that the protocol's
 * close() also takes before the connection is freed. */
void conn_wake(struct conn *c);

bool conn_is_tls(const struct conn *c);
/* TLS can be started on this connection (a certificate is loaded and it is not TLS yet). */
bool conn_can_starttls(const struct conn *c);
/* The peer is on a loopback address (as private as the machine). */
bool conn_is_loopback(const struct conn *c);
/* A secure channel for plaintext passwords: TLS, loopback, or allowed by config. */
bool conn_plaintext_ok(const struct conn *c);
const char *conn_peer_ip(const struct conn *c);
/* Short unique session id for logs ("sid=..."). */
const char *conn_sid(const struct conn *c);
struct server *conn_server(const struct conn *c);

#endif
