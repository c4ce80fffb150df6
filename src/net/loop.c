/* The event loops: each thread owns a set of connections and their sockets
 * (epoll, non-blocking, TLS on the loop). It reads, frames complete commands
 * with the protocol, hands them to the worker pool, and flushes the output a
 * worker produced. A connection is either on its loop or on a worker, never
 * both, so neither side locks it. An idle connection costs its struct and its
 * session: both buffers are freed when empty. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "core/log.h"
#include "core/util.h"
#include "net/net-internal.h"

struct net *net_global;
static atomic_uint sid_counter;

/* ---------- the conn.h API used by protocols ---------- */

void conn_write(struct conn *c, const void *data, size_t len) { buf_append(&c->out, data, len); }
void conn_writes(struct conn *c, const char *s) { buf_appends(&c->out, s); }
struct buf *conn_outbuf(struct conn *c) { return &c->out; }
bool conn_out_full(const struct conn *c) { return buf_used(&c->out) >= CONN_OUT_HIGH; }
bool conn_is_tls(const struct conn *c) { return c->ssl != NULL; }
bool conn_is_loopback(const struct conn *c) { return c->loopback; }
const char *conn_peer_ip(const struct conn *c) { return c->peer_ip; }
const char *conn_sid(const struct conn *c) { return c->sid; }
struct server *conn_server(const struct conn *c) { return net_global->srv; }

void conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char small[512];
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		buf_append(&c->out, small, (size_t)n);
		return;
	}
	char *p = buf_reserve(&c->out, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_commit(&c->out, (size_t)n);
}

void conn_delay(struct conn *c, int ms)
{
	if (ms > 0)
		c->delay_until_ms = time_mono_ms() + ms;
}

bool conn_can_starttls(const struct conn *c)
{
	return c->ssl == NULL && net_global->tls != NULL;
}

bool conn_plaintext_ok(const struct conn *c)
{
	return c->ssl != NULL || c->loopback || net_global->srv->allow_plaintext;
}

void conn_wake(struct conn *c)
{
	atomic_store(&c->wake, true);
	if (atomic_exchange(&c->wake_queued, true))
		return; /* already on its loop's queue */
	struct loop *l = c->loop;
	pthread_mutex_lock(&l->done_lock);
	c->wake_next = l->wake_head;
	l->wake_head = c;
	pthread_mutex_unlock(&l->done_lock);
	uint64_t one = 1;
	(void)!write(l->wakefd, &one, sizeof one);
}

/* ---------- connection life cycle ---------- */

static void conn_advance(struct conn *c);

static void conn_set_events(struct conn *c, uint32_t ev)
{
	if (ev == c->events)
		return;
	/* One-shot: every report disarms the socket until it is set again, so a
	 * connection that a worker holds does not keep waking its loop. */
	struct epoll_event e = {.events = ev | EPOLLONESHOT, .data.ptr = c};
	if (epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->fd, &e) < 0)
		c->dead = true;
	c->events = ev;
}

static size_t in_cap(const struct conn *c)
{
	return c->proto->max_command + 1 + CONN_IN_MAX_AHEAD;
}

static bool delayed(const struct conn *c)
{
	return c->delay_until_ms != 0 && time_mono_ms() < c->delay_until_ms;
}

static void conn_update_events(struct conn *c)
{
	uint32_t ev = 0;
	bool out_pending = buf_used(&c->out) > 0 && !delayed(c);
	switch (c->state) {
	case CS_HANDSHAKE:
		ev = c->tls_want_write ? EPOLLOUT : EPOLLIN;
		break;
	case CS_BUSY:
		ev = 0;
		break;
	case CS_IDLE:
		if (!c->eof && !delayed(c) && buf_used(&c->in) < in_cap(c))
			ev |= EPOLLIN;
		if (out_pending || c->tls_want_write)
			ev |= EPOLLOUT;
		break;
	case CS_DRAIN:
	case CS_STARTTLS:
	case CS_CLOSING:
		if (out_pending || c->tls_want_write)
			ev |= EPOLLOUT;
		break;
	}
	if (delayed(c))
		c->loop->has_delayed = true;
	conn_set_events(c, ev);
}

static void conn_destroy(struct conn *c)
{
	struct loop *l = c->loop;
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	l->nconns--;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl) {
		SSL_free(c->ssl);
		ERR_clear_error();
	}
	close(c->fd);
	if (c->session)
		c->proto->close(c->session);
	if (c->counted_ip)
		limits_ip_release(c->peer_ip);
	atomic_fetch_sub(&net_global->nconns, 1);
	log_info("event=disconnect sid=%s proto=%s in=%llu out=%llu secs=%.1f", c->sid, c->proto->name,
		 (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out,
		 (double)(time_mono_ms() - c->started_ms) / 1000.0);
	buf_free(&c->in);
	buf_free(&c->out);
	/* The session is closed, so no new wake can come; drop a queued one. */
	if (atomic_load(&c->wake_queued)) {
		pthread_mutex_lock(&l->done_lock);
		for (struct conn **pp = &l->wake_head; *pp; pp = &(*pp)->wake_next) {
			if (*pp == c) {
				*pp = c->wake_next;
				break;
			}
		}
		pthread_mutex_unlock(&l->done_lock);
	}
	free(c);
}

static void dispatch(struct conn *c, enum cmd_kind kind, size_t len)
{
	c->state = CS_BUSY;
	c->job_kind = kind;
	c->job_len = len;
	conn_set_events(c, 0);
	atomic_store(&c->owner, OWNER_WORKER);
	workers_submit(c);
}

/* Called on a worker thread when run() returned. */
void loop_job_done(struct conn *c)
{
	struct loop *l = c->loop;
	pthread_mutex_lock(&l->done_lock);
	c->job_next = NULL;
	if (l->done_tail)
		l->done_tail->job_next = c;
	else
		l->done_head = c;
	l->done_tail = c;
	pthread_mutex_unlock(&l->done_lock);
	uint64_t one = 1;
	(void)!write(l->wakefd, &one, sizeof one);
}

static const char *tls_err_reason(void)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	ERR_clear_error();
	return r ? r : "unknown";
}

static void conn_handshake(struct conn *c)
{
	ERR_clear_error();
	int r = SSL_accept(c->ssl);
	c->tls_want_write = false;
	if (r == 1) {
		log_info("event=tls sid=%s version=%s cipher=%s", c->sid, SSL_get_version(c->ssl),
			 SSL_get_cipher_name(c->ssl));
		c->state = CS_IDLE;
		c->last_active_ms = time_mono_ms();
		if (c->proto->implicit_tls && c->bytes_out == 0)
			dispatch(c, CMD_GREET, 0);
		else
			conn_advance(c);
		return;
	}
	int err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ) {
		conn_update_events(c);
	} else if (err == SSL_ERROR_WANT_WRITE) {
		c->tls_want_write = true;
		conn_update_events(c);
	} else {
		log_info("event=tls_failed sid=%s reason=\"%s\"", c->sid, tls_err_reason());
		c->dead = true;
		conn_advance(c);
	}
}

static void conn_start_tls(struct conn *c)
{
	c->ssl = SSL_new(net_global->tls);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		c->dead = true;
		return;
	}
	c->state = CS_HANDSHAKE;
	c->last_active_ms = time_mono_ms();
	conn_handshake(c);
}

/* Read what the socket has, up to the input cap. Returns false on EOF/error. */
static void conn_read(struct conn *c)
{
	while (!c->eof && !c->dead && buf_used(&c->in) < in_cap(c)) {
		size_t room = in_cap(c) - buf_used(&c->in);
		if (room > CONN_READ_CHUNK)
			room = CONN_READ_CHUNK;
		char *p = buf_reserve(&c->in, room);
		size_t got = 0;
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_read_ex(c->ssl, p, room, &got);
			if (r != 1) {
				int err = SSL_get_error(c->ssl, r);
				if (err == SSL_ERROR_WANT_READ)
					break;
				if (err == SSL_ERROR_WANT_WRITE) {
					c->tls_want_write = true;
					break;
				}
				if (err == SSL_ERROR_ZERO_RETURN)
					c->eof = true;
				else
					c->dead = true;
				ERR_clear_error();
				break;
			}
		} else {
			ssize_t n = read(c->fd, p, room);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				c->dead = true;
				break;
			}
			if (n == 0) {
				c->eof = true;
				break;
			}
			got = (size_t)n;
			if (got < room) {
				/* Short read: the socket is drained; skip the EAGAIN call. */
				buf_commit(&c->in, got);
				c->bytes_in += got;
				c->last_active_ms = time_mono_ms();
				break;
			}
		}
		buf_commit(&c->in, got);
		c->bytes_in += got;
		c->last_active_ms = time_mono_ms();
	}
	if (buf_used(&c->in) == 0)
		buf_free(&c->in);
}

static void conn_flush(struct conn *c)
{
	c->tls_want_write = false;
	while (buf_used(&c->out) > 0 && !c->dead) {
		size_t done = 0;
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_write_ex(c->ssl, buf_head(&c->out), buf_used(&c->out), &done);
			if (r != 1) {
				int err = SSL_get_error(c->ssl, r);
				if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ)
					break;
				c->dead = true;
				ERR_clear_error();
				break;
			}
		} else {
			ssize_t n = send(c->fd, buf_head(&c->out), buf_used(&c->out), MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				c->dead = true;
				break;
			}
			done = (size_t)n;
		}
		buf_consume(&c->out, done);
		c->bytes_out += done;
		c->last_active_ms = time_mono_ms();
	}
}

/* Token bucket: true when a command may run now; otherwise sets a delay. */
static bool rate_ok(struct conn *c)
{
	int64_t now = time_mono_ms();
	double rate = net_global->rate;
	c->tokens += (double)(now - c->tokens_ms) * rate / 1000.0;
	if (c->tokens > rate)
		c->tokens = rate;
	c->tokens_ms = now;
	if (c->tokens >= 1.0) {
		c->tokens -= 1.0;
		return true;
	}
	c->delay_until_ms = now + (int64_t)((1.0 - c->tokens) * 1000.0 / rate) + 1;
	return false;
}

/* Ask the protocol for the next command in the input (whoever holds the
 * connection calls this). Input the session took is dropped here. Returns
 * true with *len_r set when a command is complete; false with *toolong_r when
 * the input is already longer than a command may be, else false. */
static bool conn_frame(struct conn *c, size_t *len_r, bool *toolong_r)
{
	size_t max = c->proto->max_command;
	for (;;) {
		size_t used = buf_used(&c->in);
		size_t taken = 0;
		ssize_t n = c->proto->frame(c->session, used ? buf_head(&c->in) : "", used > max + 1 ? max + 1 : used,
					    &taken);
		if (taken > 0) {
			buf_consume(&c->in, taken);
			if (buf_used(&c->in) == 0)
				buf_free(&c->in);
		}
		*toolong_r = n == FRAME_TOOLONG || (n == 0 && buf_used(&c->in) > max);
		if (n > 0 || n == FRAME_TAKEN) {
			*len_r = n > 0 ? (size_t)n : 0;
			return true;
		}
		/* frame() sees at most max+1 bytes at a time. When it took them all
		 * (an IMAP literal longer than that) and more input is already
		 * here, offer the rest now: no socket event will come for it. */
		if (n == 0 && taken > 0 && buf_used(&c->in) > 0)
			continue;
		return false;
	}
}

/* Worker thread, after run() returned RUN_DONE for a command: when the next
 * pipelined command is already complete in the input and nothing asks for the
 * loop (output to flush past the high-water mark, a delay, a shutdown), set it
 * up as the next job and return true so that the same worker runs it without
 * a round trip through the loop. The loop does not touch a busy connection, so
 * the input buffer is the worker's here. */
bool conn_next_inline(struct conn *c)
{
	if (c->job_result != RUN_DONE || c->job_kind != CMD_LINE || c->discarding ||
	    c->delay_until_ms != 0 || buf_used(&c->out) >= CONN_OUT_LOW || atomic_load(&net_global->stopping))
		return false;
	buf_consume(&c->in, c->job_len);
	c->job_len = 0;
	size_t n;
	bool toolong;
	if (!conn_frame(c, &n, &toolong) || !rate_ok(c))
		return false;
	c->job_len = n;
	return true;
}

/* Worker thread, when run() is done and no pipelined command is ready: for
 * the common case (the reply fits the socket, nothing else pending) write the
 * reply and hand the connection back to its loop by re-arming the socket,
 * instead of waking the loop to do it.
 *   FINISH_HANDED  the loop has it now: do not touch c any more
 *   FINISH_AGAIN   the client's next command arrived while handing back (the
 *                  loop saw it and left it to us): it is set up as the next job
 *   FINISH_LOOP    hand it to the loop with loop_job_done() */
enum finish conn_finish_on_worker(struct conn *c)
{
	if (c->job_result != RUN_DONE || (c->job_kind != CMD_LINE && c->job_kind != CMD_GREET) || c->discarding ||
	    c->eof || c->dead || c->delay_until_ms != 0 || atomic_load(&net_global->stopping) || atomic_load(&c->wake))
		return FINISH_LOOP;
	if (c->job_kind == CMD_LINE) {
		buf_consume(&c->in, c->job_len);
		c->job_len = 0;
	}
	if (buf_used(&c->in) >= in_cap(c) || (c->ssl && SSL_pending(c->ssl) > 0))
		return FINISH_LOOP;
	size_t n;
	bool toolong;
	if (conn_frame(c, &n, &toolong) || toolong)
		return FINISH_LOOP; /* a command (or an overlong line) the loop must pace */
	conn_flush(c);
	if (c->dead || buf_used(&c->out) > 0 || c->tls_want_write)
		return FINISH_LOOP;
	c->last_active_ms = time_mono_ms();
	conn_set_events(c, EPOLLIN);
	if (c->dead)
		return FINISH_LOOP;
	c->state = CS_IDLE;
	int expected = OWNER_WORKER;
	if (atomic_compare_exchange_strong(&c->owner, &expected, OWNER_LOOP))
		return FINISH_HANDED;
	/* The loop took an event meanwhile (that report disarmed the socket) and
	 * left it to us: usually the client's next command. Read it here. */
	atomic_store(&c->owner, OWNER_WORKER);
	c->state = CS_BUSY;
	c->events = 0;
	conn_read(c);
	if (c->dead || c->eof || buf_used(&c->in) == 0)
		return FINISH_LOOP;
	if (!conn_frame(c, &n, &toolong) || !rate_ok(c))
		return FINISH_LOOP;
	c->job_kind = CMD_LINE;
	c->job_len = n;
	return FINISH_AGAIN;
}

/* Move the connection forward as far as it can go without waiting. */
static void conn_advance(struct conn *c)
{
	for (;;) {
		if (c->dead) {
			conn_destroy(c);
			return;
		}
		if (c->state == CS_BUSY || c->state == CS_HANDSHAKE)
			return;
		if (delayed(c)) {
			conn_update_events(c);
			return;
		}
		c->delay_until_ms = 0;
		if (buf_used(&c->out) > 0)
			conn_flush(c);
		if (c->dead)
			continue;
		switch (c->state) {
		case CS_CLOSING:
			if (buf_used(&c->out) == 0) {
				c->dead = true;
				continue;
			}
			conn_update_events(c);
			return;
		case CS_STARTTLS:
			if (buf_used(&c->out) == 0) {
				/* Anything pipelined after STARTTLS was sent in the clear: drop it. */
				buf_free(&c->in);
				conn_start_tls(c);
				return;
			}
			conn_update_events(c);
			return;
		case CS_DRAIN:
			if (buf_used(&c->out) < CONN_OUT_LOW) {
				dispatch(c, CMD_RESUME, 0);
				return;
			}
			conn_update_events(c);
			return;
		case CS_IDLE:
			break;
		default:
			return;
		}
		if (atomic_load(&net_global->stopping) && !c->shutdown_sent) {
			c->shutdown_sent = true;
			dispatch(c, CMD_SHUTDOWN, 0);
			return;
		}
		if (buf_used(&c->out) >= CONN_OUT_HIGH) {
			conn_update_events(c);
			return;
		}
		if (c->discarding && buf_used(&c->in) > 0) {
			char *lf = memchr(buf_head(&c->in), '\n', buf_used(&c->in));
			if (lf) {
				buf_consume(&c->in, (size_t)(lf - buf_head(&c->in)) + 1);
				c->discarding = false;
			} else {
				buf_free(&c->in);
			}
		}
		if (!c->discarding) {
			size_t n;
			bool toolong;
			if (conn_frame(c, &n, &toolong)) {
				if (!rate_ok(c)) {
					conn_update_events(c);
					return;
				}
				dispatch(c, CMD_LINE, n);
				return;
			}
			if (toolong) {
				c->discarding = true;
				dispatch(c, CMD_TOOLONG, 0);
				return;
			}
			/* frame() may have written (a literal's "+ Ready"). */
			if (buf_used(&c->out) > 0) {
				conn_flush(c);
				if (c->dead)
					continue;
			}
		}
		if (atomic_exchange(&c->wake, false)) {
			dispatch(c, CMD_WAKE, 0);
			return;
		}
		/* Need more input. TLS may hold decrypted bytes the socket will not signal. */
		if (c->ssl && SSL_pending(c->ssl) > 0 && buf_used(&c->in) < in_cap(c)) {
			size_t before = buf_used(&c->in);
			conn_read(c);
			if (buf_used(&c->in) != before)
				continue;
		}
		if (c->eof && buf_used(&c->out) == 0) {
			c->dead = true;
			continue;
		}
		conn_update_events(c);
		return;
	}
}

static void conn_event(struct conn *c, uint32_t ev)
{
	int owner = atomic_load(&c->owner);
	if (owner != OWNER_LOOP) {
		/* A worker has it. Leave a mark so that it hands the connection back
		 * through the loop, which then looks at the socket again. */
		if (owner == OWNER_WORKER_MISSED ||
		    atomic_compare_exchange_strong(&c->owner, &owner, OWNER_WORKER_MISSED))
			return;
		/* The worker handed it back just now: it is ours. */
	}
	c->events = 0; /* the report disarmed the socket */
	if (c->state == CS_HANDSHAKE) {
		if (ev & (EPOLLERR | EPOLLHUP)) {
			c->dead = true;
			conn_advance(c);
			return;
		}
		conn_handshake(c);
		return;
	}
	if (ev & EPOLLERR) {
		c->dead = true;
	} else {
		if (ev & (EPOLLIN | EPOLLHUP))
			conn_read(c);
		if (c->tls_want_write && (ev & EPOLLOUT))
			conn_read(c);
	}
	conn_advance(c);
}

/* A conn_wake() for c reached its loop. A connection a worker holds gets
 * the same mark as a missed socket event, so that it comes back through the
 * loop, which delivers the wake once no command is running or waiting. */
static void conn_woken(struct conn *c)
{
	int owner = atomic_load(&c->owner);
	if (owner != OWNER_LOOP) {
		if (owner == OWNER_WORKER_MISSED ||
		    atomic_compare_exchange_strong(&c->owner, &owner, OWNER_WORKER_MISSED))
			return;
	}
	if (c->state == CS_IDLE)
		conn_advance(c);
}

static void job_completed(struct conn *c)
{
	atomic_store(&c->owner, OWNER_LOOP);
	if (c->job_kind == CMD_LINE)
		buf_consume(&c->in, c->job_len);
	c->last_active_ms = time_mono_ms();
	enum run_result r = c->job_result;
	if (c->job_kind == CMD_SHUTDOWN || c->job_kind == CMD_TIMEOUT)
		r = RUN_CLOSE;
	switch (r) {
	case RUN_DONE: c->state = CS_IDLE; break;
	case RUN_MORE: c->state = CS_DRAIN; break;
	case RUN_CLOSE: c->state = CS_CLOSING; break;
	case RUN_STARTTLS:
		c->state = net_global->tls && !c->ssl ? CS_STARTTLS : CS_CLOSING;
		break;
	}
	conn_advance(c);
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

static void accept_from(struct loop *l, struct listener *lst)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(lst->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or another loop got it, or transient errors */
		struct conn *c = xcalloc(1, sizeof *c);
		c->fd = fd;
		c->loop = l;
		c->listener = lst;
		c->proto = lst->proto;
		c->started_ms = c->last_active_ms = c->tokens_ms = time_mono_ms();
		c->tokens = net_global->rate;
		c->loopback = is_loopback(&ss) || ss.ss_family == AF_UNIX; /* as private as the machine */
		snprintf(c->sid, sizeof c->sid, "%08x", atomic_fetch_add(&sid_counter, 1) * 2654435761u);
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->peer_ip, sizeof c->peer_ip);
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->peer_ip, sizeof c->peer_ip);
		else
			snprintf(c->peer_ip, sizeof c->peer_ip, "local");
		unsigned total = atomic_fetch_add(&net_global->nconns, 1) + 1;
		const char *refuse = NULL;
		if (total > net_global->max_conns)
			refuse = "total";
		else if (ss.ss_family != AF_UNIX && !(c->counted_ip = limits_ip_acquire(c->peer_ip, net_global->max_per_ip)))
			refuse = "per_ip";
		c->next = l->conns;
		if (l->conns)
			l->conns->prev = c;
		l->conns = c;
		l->nconns++;
		struct epoll_event e = {.events = EPOLLONESHOT, .data.ptr = c};
		epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e);
		log_info("event=connect sid=%s proto=%s peer=%s listener=%s", c->sid, c->proto->name, c->peer_ip, lst->addr);
		if (refuse) {
			log_warn("event=refused sid=%s peer=%s limit=%s", c->sid, c->peer_ip, refuse);
			if (c->proto->busy_reply && !c->proto->implicit_tls)
				(void)!send(fd, c->proto->busy_reply, strlen(c->proto->busy_reply), MSG_NOSIGNAL | MSG_DONTWAIT);
			c->state = CS_CLOSING;
			conn_destroy(c);
			continue;
		}
		c->session = c->proto->open(c);
		if (c->proto->implicit_tls) {
			if (net_global->tls == NULL) {
				c->dead = true;
				conn_advance(c);
				continue;
			}
			conn_start_tls(c);
		} else {
			dispatch(c, CMD_GREET, 0);
		}
	}
}

static int idle_timeout_ms(const struct conn *c)
{
	return (c->state == CS_HANDSHAKE ? CONN_TLS_HANDSHAKE_TIMEOUT_S : c->listener->idle_timeout_s) * 1000;
}

/* Deadlines: idle timeouts, delayed commands, and the shutdown sequence. */
static void loop_sweep(struct loop *l)
{
	int64_t now = time_mono_ms();
	bool stopping = atomic_load(&net_global->stopping);
	bool past_grace = stopping && now >= net_global->stop_deadline_ms;
	l->has_delayed = false;
	struct conn *next;
	for (struct conn *c = l->conns; c; c = next) {
		next = c->next;
		if (atomic_load(&c->owner) != OWNER_LOOP)
			continue;
		if (past_grace) {
			c->dead = true;
		} else if (now - c->last_active_ms > idle_timeout_ms(c)) {
			if (c->state == CS_IDLE && !c->shutdown_sent) {
				log_info("event=timeout sid=%s", c->sid);
				c->shutdown_sent = true;
				dispatch(c, CMD_TIMEOUT, 0);
				continue;
			}
			c->dead = true;
		} else if (stopping && c->state == CS_HANDSHAKE) {
			c->dead = true;
		}
		if (c->dead || stopping || c->delay_until_ms != 0)
			conn_advance(c);
	}
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	struct epoll_event evs[64];
	int64_t last_sweep = time_mono_ms();
	for (;;) {
		int timeout = l->has_delayed ? 20 : 1000;
		int n = epoll_wait(l->epfd, evs, 64, timeout);
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == NULL) {
				uint64_t v;
				(void)!read(l->wakefd, &v, sizeof v);
				continue;
			}
			struct listener *lst = p;
			if (lst >= net_global->listeners && lst < net_global->listeners + net_global->nlisteners) {
				if (!atomic_load(&net_global->stopping))
					accept_from(l, lst);
				continue;
			}
			conn_event(p, evs[i].events);
		}
		/* Completed jobs, then woken connections. */
		pthread_mutex_lock(&l->done_lock);
		struct conn *done = l->done_head;
		l->done_head = l->done_tail = NULL;
		pthread_mutex_unlock(&l->done_lock);
		while (done) {
			struct conn *next = done->job_next;
			done->job_next = NULL;
			job_completed(done);
			done = next;
		}
		for (;;) {
			pthread_mutex_lock(&l->done_lock);
			struct conn *w = l->wake_head;
			if (w) {
				l->wake_head = w->wake_next;
				w->wake_next = NULL;
				atomic_store(&w->wake_queued, false);
			}
			pthread_mutex_unlock(&l->done_lock);
			if (w == NULL)
				break;
			conn_woken(w);
		}
		int64_t now = time_mono_ms();
		bool stopping = atomic_load(&net_global->stopping);
		if (l->has_delayed || stopping || now - last_sweep >= 1000) {
			loop_sweep(l);
			last_sweep = now;
		}
		if (stopping && l->nconns == 0)
			return NULL;
	}
}

int loops_start(struct net *net, unsigned n)
{
	net->loops = xcalloc(n, sizeof *net->loops);
	net->nloops = n;
	for (unsigned i = 0; i < n; i++) {
		struct loop *l = &net->loops[i];
		l->index = i;
		pthread_mutex_init(&l->done_lock, NULL);
		l->epfd = epoll_create1(EPOLL_CLOEXEC);
		l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (l->epfd < 0 || l->wakefd < 0)
			return -1;
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
		epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &e);
		for (unsigned k = 0; k < net->nlisteners; k++) {
			struct epoll_event le = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &net->listeners[k]};
			if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, net->listeners[k].fd, &le) < 0)
				return -1;
		}
	}
	for (unsigned i = 0; i < n; i++)
		if (pthread_create(&net->loops[i].thread, NULL, loop_main, &net->loops[i]) != 0)
			return -1;
	return 0;
}

void loops_wake_all(struct net *net)
{
	for (unsigned i = 0; i < net->nloops; i++) {
		uint64_t one = 1;
		(void)!write(net->loops[i].wakefd, &one, sizeof one);
	}
}

void loops_join(struct net *net)
{
	for (unsigned i = 0; i < net->nloops; i++) {
		pthread_join(net->loops[i].thread, NULL);
		close(net->loops[i].epfd);
		close(net->loops[i].wakefd);
	}
}
