/* The outbound queue (see queue.h). A runner thread wakes when kicked or
 * every QUEUE_POLL_MS, takes the messages that are due, groups each one's
 * pending recipients by where they go (a static route, the relay host, or
 * the recipient domain's MX), delivers with the SMTP client and records each
 * group's outcome in the store right after the remote's last reply.
 *
 * What is promised: a message is durable before queue_submit returns; a
 * recipient is marked sent only after the next hop said 2xx to the message,
 * and that mark is durable before anything else happens. The one window
 * left is between the remote's 250 and our commit (a few milliseconds): a
 * crash there sends that message again after the restart (at-least-once,
 * as RFC 5321 6.1 accepts). Notifications to the sender are owed in the
 * store until they are out; a crash between sending one and clearing the
 * debt sends it twice. */
#include "smtp/queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "smtp/dkim.h"
#include "smtp/queue-dsn.h"
#include "smtp/smtp-client.h"
#include "smtp/smtp-local.h"
#include "smtp/smtp-mx.h"

/* How often the runner looks for due mail without being kicked (also how
 * soon `roost queue flush` from another process takes effect). */
#define QUEUE_POLL_MS 2000
/* Messages taken per look. */
#define QUEUE_BATCH 100

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running, kicked;
	atomic_bool stop;
	struct server *srv;
	/* Configuration, read once at start. */
	int64_t lifetime, retry_min, retry_max, delay_notify;
	const char *routes, *relay;
	struct smtp_client_config relay_cfg;
} q = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* --- submitting --- */

/* The message with every bare LF made CRLF (an allocated copy). */
static char *crlf_copy(const char *d, size_t len, size_t *len_r)
{
	struct buf b = {0};
	for (size_t i = 0; i < len; i++) {
		if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
			buf_append(&b, "\r", 1);
		buf_append(&b, d + i, 1);
	}
	buf_append(&b, "", 1);
	*len_r = buf_used(&b) - 1;
	char *r = xmalloc(buf_used(&b));
	memcpy(r, buf_head(&b), buf_used(&b));
	buf_free(&b);
	return r;
}

/* Sign msg with the DKIM key of its From: domain when DATA/dkim has one: a
 * new allocation, or NULL to send it as it is. A key that fails is logged
 * and the message goes out unsigned rather than not at all. */
static char *dkim_signed(struct server *srv, const char *msg, size_t len, size_t *len_r)
{
	struct buf b = {0};
	const char *err = NULL;
	int rc = dkim_sign_outbound(srv->data_dir, msg, len, time_now(), &b, &err);
	char *out = NULL;
	if (rc == 0) {
		buf_append(&b, msg, len);
		*len_r = buf_used(&b);
		out = xmalloc(*len_r + 1);
		memcpy(out, buf_head(&b), *len_r);
		out[*len_r] = '\0';
	} else if (rc < 0) {
		log_warn("event=dkim_sign_failed error=\"%s\"", err ? err : "");
	}
	buf_free(&b);
	return out;
}

int queue_submit(struct server *srv, const struct queue_envelope *env, const struct queue_rcpt *rcpts, size_t n,
		 const char *data, size_t len, const char **error_r)
{
	const char *dummy;
	if (error_r == NULL)
		error_r = &dummy;
	if (n == 0 || rcpts == NULL || (data == NULL && len > 0)) {
		*error_r = "nothing to queue";
		return -1;
	}
	size_t clen;
	char *msg = crlf_copy(data ? data : "", len, &clen);
	size_t slen;
	char *signed_msg = dkim_signed(srv, msg, clen, &slen);
	if (signed_msg != NULL) {
		free(msg);
		msg = signed_msg;
		clen = slen;
	}
	struct store_queue_rcpt *r = xcalloc(n, sizeof *r);
	for (size_t i = 0; i < n; i++)
		r[i] = (struct store_queue_rcpt){.addr = (char *)rcpts[i].addr, .notify = rcpts[i].notify,
						 .orcpt = (char *)rcpts[i].orcpt};
	struct store_queue_msg m = {
		.sender = (char *)(env->sender ? env->sender : ""),
		.envid = (char *)env->envid,
		.ret = env->ret,
		.smtputf8 = env->smtputf8,
		.body = env->body,
		.account_id = env->account_id,
		.rcpts = r,
		.n_rcpts = n,
	};
	int64_t id = 0;
	int rc = store_queue_add(srv->store, &m, msg, clen, &id);
	free(r);
	free(msg);
	if (rc != STORE_OK) {
		*error_r = rc == STORE_INVALID ? "invalid envelope" : store_last_error();
		return -1;
	}
	log_info("event=queued id=%lld from=<%s> rcpts=%zu size=%zu signed=%d", (long long)id,
		 env->sender ? env->sender : "", n, clen, signed_msg != NULL);
	queue_kick();
	return 0;
}

/* --- notifications --- */

static bool wants_failure(unsigned notify)
{
	return !(notify & SMTP_NOTIFY_NEVER) && (notify == 0 || (notify & SMTP_NOTIFY_FAILURE));
}

/* Send a notification to `to`: into a local mailbox, or queued with the null
 * sender. 0 when sent (or dropped because nobody local has that name), -1
 * when it should be tried again. */
static int dsn_send(struct server *srv, const char *to, const char *msg, size_t len, const char **error_r)
{
	struct local_target *t = NULL;
	size_t nt = 0;
	enum local_result lr = local_resolve(srv, to, false, &t, &nt);
	int ret = 0;
	switch (lr) {
	case LOCAL_OK:
		if (local_deliver(srv, msg, len, t, nt) != STORE_OK) {
			*error_r = store_last_error();
			ret = -1;
		}
		break;
	case LOCAL_UNKNOWN:
		log_warn("event=dsn_dropped to=<%s> reason=\"no such local user\"", to);
		break;
	case LOCAL_TEMPFAIL:
		*error_r = "local lookup failed";
		ret = -1;
		break;
	case LOCAL_REMOTE: {
		struct queue_envelope env = {.sender = "", .body = SMTP_BODY_8BITMIME};
		struct queue_rcpt r = {.addr = to};
		ret = queue_submit(srv, &env, &r, 1, msg, len, error_r);
		break;
	}
	}
	local_targets_free(t, nt);
	return ret;
}

/* Code and enhanced code of a kept reply text ("550 5.1.1 ..."). */
static void reply_status(const char *text, char *status)
{
	struct smtp_reply r;
	if (text != NULL) {
		char *line = xasprintf("%s\r\n", text);
		ssize_t n = smtp_reply_parse(line, strlen(line), &r);
		free(line);
		if (n > 0) {
			queue_dsn_status(r.code, r.enh, status);
			return;
		}
	}
	queue_dsn_status(400, NULL, status);
}

int queue_dsn_delivered(struct server *srv, const struct queue_envelope *env, const struct queue_rcpt *rcpts,
			size_t n, const char *data, size_t len, const char **error_r)
{
	const char *dummy;
	if (error_r == NULL)
		error_r = &dummy;
	if (env->sender == NULL || env->sender[0] == '\0')
		return 0;
	struct queue_dsn_rcpt *dr = xcalloc(n ? n : 1, sizeof *dr);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!(rcpts[i].notify & SMTP_NOTIFY_SUCCESS) || (rcpts[i].notify & SMTP_NOTIFY_NEVER))
			continue;
		dr[k++] = (struct queue_dsn_rcpt){.addr = rcpts[i].addr, .orcpt = rcpts[i].orcpt, .action = "delivered",
						  .status = "2.0.0"};
	}
	int ret = 0;
	if (k > 0) {
		int64_t now = time_now();
		struct queue_dsn d = {.reporting_mta = srv->hostname, .to = env->sender, .envid = env->envid,
				      .ret = env->ret, .arrival = now, .now = now, .orig = data ? data : "",
				      .orig_len = data ? len : 0, .rcpts = dr, .n = k};
		struct buf b = {0};
		queue_dsn_build(&d, &b);
		ret = dsn_send(srv, env->sender, buf_head(&b), buf_used(&b), error_r);
		buf_free(&b);
		if (ret == 0)
			log_info("event=dsn action=delivered to=<%s> rcpts=%zu", env->sender, k);
	}
	free(dr);
	return ret;
}

/* Build and send the notification for the recipients `idx` of m. */
static int notify_sender(struct server *srv, const struct store_queue_msg *m, const char *data, size_t len,
			 const size_t *idx, size_t k, const char *const *actions, int64_t now)
{
	struct queue_dsn_rcpt *dr = xcalloc(k, sizeof *dr);
	char (*status)[16] = xcalloc(k, sizeof *status);
	for (size_t i = 0; i < k; i++) {
		const struct store_queue_rcpt *r = &m->rcpts[idx[i]];
		reply_status(r->last_reply, status[i]);
		if (strcmp(actions[i], "relayed") == 0)
			snprintf(status[i], sizeof status[i], "2.0.0");
		dr[i] = (struct queue_dsn_rcpt){.addr = r->addr, .orcpt = r->orcpt, .action = actions[i],
						.status = status[i], .diagnostic = r->last_reply};
		if (strcmp(actions[i], "delayed") == 0)
			dr[i].will_retry_until = m->created + q.lifetime;
	}
	struct queue_dsn d = {.reporting_mta = srv->hostname, .to = m->sender, .envid = m->envid, .ret = m->ret,
			      .arrival = m->created, .now = now, .orig = data, .orig_len = len, .rcpts = dr, .n = k};
	struct buf b = {0};
	queue_dsn_build(&d, &b);
	const char *err = NULL;
	int rc = dsn_send(srv, m->sender, buf_head(&b), buf_used(&b), &err);
	buf_free(&b);
	if (rc == 0)
		log_info("event=dsn id=%lld action=%s to=<%s> rcpts=%zu", (long long)m->id, actions[0], m->sender, k);
	else
		log_warn("event=dsn_failed id=%lld to=<%s> error=\"%s\"", (long long)m->id, m->sender, err ? err : "");
	free(status);
	free(dr);
	return rc;
}

/* --- delivering --- */

struct dest {
	enum { DEST_ROUTE, DEST_RELAY, DEST_MX } kind;
	char *host;   /* ROUTE, RELAY */
	uint16_t port;
	char *domain; /* MX */
};

static const char *rcpt_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

static void dest_of(const char *addr, struct dest *d)
{
	memset(d, 0, sizeof *d);
	const char *dom = rcpt_domain(addr);
	if (mx_route_find(q.routes, dom, &d->host, &d->port)) {
		d->kind = DEST_ROUTE;
	} else if (q.relay[0] != '\0' && mx_hostport_parse(q.relay, strlen(q.relay), 25, &d->host, &d->port)) {
		d->kind = DEST_RELAY;
	} else {
		d->kind = DEST_MX;
		d->domain = xstrdup(dom);
		for (char *p = d->domain; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p + 32);
	}
}

static bool dest_eq(const struct dest *a, const struct dest *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == DEST_MX)
		return strcmp(a->domain, b->domain) == 0;
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

static void dest_clear(struct dest *d)
{
	free(d->host);
	free(d->domain);
}

/* One attempt at the recipients cm->rcpts for destination d; every
 * recipient's reply says how it went. *dsn_r: the host that took the
 * message offers DSN (and so passes the notifications on). */
static void deliver(const struct dest *d, struct smtp_client_msg *cm, bool *dsn_r)
{
	*dsn_r = false;
	struct mx_host hosts[MX_MAX_HOSTS];
	size_t nh = 0;
	uint16_t port = 25;
	struct smtp_client_config cfg = {.helo = q.srv->hostname, .tls = SMTP_TLS_OPPORTUNISTIC};
	struct smtp_reply why;
	if (d->kind != DEST_MX) {
		snprintf(hosts[0].name, sizeof hosts[0].name, "%s", d->host);
		nh = 1;
		port = d->port;
		if (d->kind == DEST_RELAY)
			cfg = q.relay_cfg;
	} else {
		switch (mx_lookup(d->domain, hosts, MX_MAX_HOSTS, &nh)) {
		case MX_OK:
			if (nh == 0) { /* RFC 5321 5.1: the domain's own address */
				snprintf(hosts[0].name, sizeof hosts[0].name, "%s", d->domain);
				nh = 1;
			}
			break;
		case MX_NULL:
			smtp_reply_set(&why, 556, "5.1.10", "%s accepts no mail (null MX)", d->domain);
			goto all;
		case MX_NODOMAIN:
			smtp_reply_set(&why, 550, "5.1.2", "domain %s does not exist", d->domain);
			goto all;
		case MX_TEMP:
			smtp_reply_set(&why, 451, "4.4.3", "DNS lookup of %s failed", d->domain);
			goto all;
		}
	}
	smtp_reply_set(&why, 451, "4.4.1", "no host to connect to");
	for (size_t i = 0; i < nh; i++) {
		struct smtp_client *c = NULL;
		struct smtp_reply w;
		enum smtp_client_status st = smtp_client_open(hosts[i].name, port, &cfg, &c, &w);
		if (st != SMTP_CLIENT_OK) {
			log_info("event=queue_connect_failed host=%s port=%u reply=\"%s\"", hosts[i].name, port, w.text);
			why = w;
			/* A 5xx the client calls temporary (the relay refused our
			 * login) is the administrator's to fix: the mail waits. */
			if (st == SMTP_CLIENT_TEMP && why.code >= 500)
				why.code = 451;
			/* An address that does not resolve is permanent only when it
			 * is the domain itself; another MX may still work. */
			if (why.code >= 500 && d->kind == DEST_MX && nh > 1)
				smtp_reply_set(&why, 451, "4.4.1", "no MX of %s reachable", d->domain);
			continue;
		}
		*dsn_r = (smtp_client_ehlo(c)->ext & SMTP_EXT_DSN) != 0;
		(void)smtp_client_send(c, cm);
		smtp_client_close(c);
		return;
	}
all:
	for (size_t i = 0; i < cm->n; i++)
		cm->rcpts[i].reply = why;
}

static int64_t backoff(uint32_t attempts)
{
	int64_t wait = q.retry_min;
	for (uint32_t i = 1; i < attempts && wait < q.retry_max; i++)
		wait *= 2;
	return wait < q.retry_max ? wait : q.retry_max;
}

/* Deliver the due recipients of message m, one destination at a time. */
static void process_due(const struct store_queue_msg *m, const char *data, size_t len, int64_t now)
{
	size_t n = m->n_rcpts;
	bool *done = xcalloc(n, sizeof *done);
	struct smtp_client_rcpt *cr = xcalloc(n, sizeof *cr);
	size_t *idx = xcalloc(n, sizeof *idx);
	struct store_queue_update *u = xcalloc(n, sizeof *u);
	for (size_t i = 0; i < n; i++) {
		const struct store_queue_rcpt *r = &m->rcpts[i];
		if (done[i] || r->state != STORE_QUEUE_PENDING || r->next_attempt > now)
			continue;
		if (atomic_load_explicit(&q.stop, memory_order_relaxed))
			break;
		struct dest d;
		dest_of(r->addr, &d);
		size_t k = 0;
		for (size_t j = i; j < n; j++) {
			const struct store_queue_rcpt *rj = &m->rcpts[j];
			if (done[j] || rj->state != STORE_QUEUE_PENDING || rj->next_attempt > now)
				continue;
			struct dest dj;
			dest_of(rj->addr, &dj);
			bool same = dest_eq(&d, &dj);
			dest_clear(&dj);
			if (!same)
				continue;
			done[j] = true;
			idx[k] = j;
			cr[k] = (struct smtp_client_rcpt){.addr = rj->addr, .notify = rj->notify, .orcpt = rj->orcpt};
			k++;
		}
		struct smtp_client_msg cm = {.sender = m->sender, .smtputf8 = m->smtputf8, .body = (enum smtp_body)m->body,
					     .ret = (enum smtp_ret)m->ret, .envid = m->envid, .data = data, .len = len,
					     .rcpts = cr, .n = k};
		bool remote_dsn = false;
		deliver(&d, &cm, &remote_dsn);
		bool has_sender = m->sender[0] != '\0';
		for (size_t x = 0; x < k; x++) {
			const struct store_queue_rcpt *r2 = &m->rcpts[idx[x]];
			const struct smtp_reply *rep = &cr[x].reply;
			struct store_queue_update *up = &u[x];
			*up = (struct store_queue_update){.rcpt_id = r2->id, .reply = rep->text, .attempted = true,
							  .dsn = r2->dsn};
			const char *result;
			if (rep->code / 100 == 2) {
				up->state = STORE_QUEUE_SENT;
				if (has_sender && (r2->notify & SMTP_NOTIFY_SUCCESS) && !(r2->notify & SMTP_NOTIFY_NEVER) &&
				    !remote_dsn)
					up->dsn |= STORE_QUEUE_DSN_OWED;
				result = "sent";
			} else if (rep->code >= 500 || now - m->created >= q.lifetime) {
				up->state = STORE_QUEUE_FAILED;
				if (has_sender && wants_failure(r2->notify))
					up->dsn |= STORE_QUEUE_DSN_OWED;
				result = rep->code >= 500 ? "failed" : "expired";
			} else {
				up->state = STORE_QUEUE_PENDING;
				up->next_attempt = now + backoff(r2->attempts + 1);
				result = "deferred";
			}
			log_info("event=queue_attempt id=%lld to=<%s> result=%s attempts=%u reply=\"%s\"", (long long)m->id,
				 r2->addr, result, r2->attempts + 1, rep->text);
		}
		int rc = store_queue_update(q.srv->store, m->id, u, k);
		if (rc != STORE_OK && rc != STORE_NOTFOUND)
			log_error("event=queue_update_failed id=%lld error=\"%s\"", (long long)m->id, store_last_error());
		dest_clear(&d);
	}
	free(u);
	free(idx);
	free(cr);
	free(done);
}

/* Send what is owed: "failed"/"relayed" notices, and "delayed" ones for
 * recipients that asked and have waited long enough. */
static void process_notices(int64_t id, const char *data, size_t len, int64_t now)
{
	struct store_queue_msg m;
	if (store_queue_get(q.srv->store, id, &m) != STORE_OK)
		return; /* finished, or deleted meanwhile */
	size_t n = m.n_rcpts, k = 0;
	size_t *idx = xcalloc(n, sizeof *idx);
	const char **actions = xcalloc(n, sizeof *actions);
	struct store_queue_update *u = xcalloc(n, sizeof *u);
	/* Owed: failures and relays. */
	for (size_t i = 0; i < n; i++) {
		struct store_queue_rcpt *r = &m.rcpts[i];
		if (!(r->dsn & STORE_QUEUE_DSN_OWED))
			continue;
		idx[k] = i;
		actions[k] = r->state == STORE_QUEUE_SENT ? "relayed" : "failed";
		k++;
	}
	if (k > 0 && (m.sender[0] == '\0' || notify_sender(q.srv, &m, data, len, idx, k, actions, now) == 0)) {
		for (size_t x = 0; x < k; x++) {
			const struct store_queue_rcpt *r = &m.rcpts[idx[x]];
			u[x] = (struct store_queue_update){.rcpt_id = r->id, .state = r->state,
							   .next_attempt = r->next_attempt,
							   .dsn = r->dsn & ~STORE_QUEUE_DSN_OWED};
		}
		(void)store_queue_update(q.srv->store, id, u, k);
	}
	/* Delayed: once per recipient that asked for NOTIFY=DELAY. */
	k = 0;
	for (size_t i = 0; i < n && q.delay_notify > 0 && m.sender[0] != '\0'; i++) {
		struct store_queue_rcpt *r = &m.rcpts[i];
		if (r->state == STORE_QUEUE_PENDING && (r->notify & SMTP_NOTIFY_DELAY) && !(r->notify & SMTP_NOTIFY_NEVER) &&
		    !(r->dsn & STORE_QUEUE_DSN_DELAYED) && r->attempts > 0 && now - m.created >= q.delay_notify) {
			idx[k] = i;
			actions[k] = "delayed";
			k++;
		}
	}
	if (k > 0 && notify_sender(q.srv, &m, data, len, idx, k, actions, now) == 0) {
		for (size_t x = 0; x < k; x++) {
			const struct store_queue_rcpt *r = &m.rcpts[idx[x]];
			u[x] = (struct store_queue_update){.rcpt_id = r->id, .state = r->state,
							   .next_attempt = r->next_attempt,
							   .dsn = r->dsn | STORE_QUEUE_DSN_DELAYED};
		}
		(void)store_queue_update(q.srv->store, id, u, k);
	}
	free(u);
	free(actions);
	free(idx);
	store_queue_msg_clear(&m);
}

static void process(int64_t id)
{
	struct store_queue_msg m;
	if (store_queue_get(q.srv->store, id, &m) != STORE_OK)
		return;
	char *data = NULL;
	size_t len = 0;
	if (store_queue_content(q.srv->store, id, &data, &len) != STORE_OK) {
		log_error("event=queue_read_failed id=%lld error=\"%s\"", (long long)id, store_last_error());
		store_queue_msg_clear(&m);
		return;
	}
	int64_t now = time_now();
	process_due(&m, data, len, now);
	store_queue_msg_clear(&m);
	process_notices(id, data, len, now);
	free(data);
}

static void *runner(void *arg)
{
	for (;;) {
		pthread_mutex_lock(&q.lock);
		bool stop = atomic_load(&q.stop);
		q.kicked = false;
		pthread_mutex_unlock(&q.lock);
		if (stop)
			break;
		int64_t *ids = NULL;
		size_t n = 0;
		if (store_queue_due(q.srv->store, time_now(), QUEUE_BATCH, &ids, &n) != STORE_OK)
			log_error("event=queue_scan_failed error=\"%s\"", store_last_error());
		for (size_t i = 0; i < n && !atomic_load_explicit(&q.stop, memory_order_relaxed); i++)
			process(ids[i]);
		free(ids);
		store_release_thread(q.srv->store);
		pthread_mutex_lock(&q.lock);
		if (!atomic_load(&q.stop) && !q.kicked) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += QUEUE_POLL_MS / 1000;
			ts.tv_nsec += (long)(QUEUE_POLL_MS % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			(void)pthread_cond_timedwait(&q.cond, &q.lock, &ts);
		}
		pthread_mutex_unlock(&q.lock);
	}
	return NULL;
}

void queue_start(struct server *srv)
{
	struct config *cfg = srv->cfg;
	q.srv = srv;
	q.lifetime = config_int(cfg, "queue.lifetime");
	q.retry_min = config_int(cfg, "queue.retry_min");
	q.retry_max = config_int(cfg, "queue.retry_max");
	if (q.retry_max < q.retry_min)
		q.retry_max = q.retry_min;
	q.delay_notify = config_int(cfg, "queue.delay_notify");
	q.routes = config_str(cfg, "queue.routes");
	q.relay = config_str(cfg, "relay.host");
	if (!mx_routes_valid(q.routes))
		log_error("event=queue_config key=queue.routes error=\"expected DOMAIN=HOST:PORT,...\" (ignored where malformed)");
	if (q.relay[0] != '\0' && !mx_hostport_parse(q.relay, strlen(q.relay), 25, NULL, NULL))
		log_error("event=queue_config key=relay.host error=\"expected HOST:PORT\" (direct delivery instead)");
	const char *tls = config_str(cfg, "relay.tls");
	q.relay_cfg = (struct smtp_client_config){
		.helo = srv->hostname,
		.tls = strcmp(tls, "none") == 0 ? SMTP_TLS_NONE : strcmp(tls, "tls") == 0 ? SMTP_TLS_IMPLICIT : SMTP_TLS_STARTTLS,
		.verify = config_bool(cfg, "relay.tls_verify"),
		.user = config_str(cfg, "relay.user"),
		.password = config_str(cfg, "relay.password"),
	};
	atomic_store(&q.stop, false);
	q.kicked = false;
	int err = pthread_create(&q.thread, NULL, runner, NULL);
	if (err != 0) {
		log_error("event=queue_start_failed error=\"%s\"", strerror(err));
		return;
	}
	q.running = true;
	log_info("event=queue_started relay=\"%s\" routes=\"%s\"", q.relay, q.routes);
}

void queue_stop(void)
{
	if (!q.running)
		return;
	pthread_mutex_lock(&q.lock);
	atomic_store(&q.stop, true);
	pthread_cond_signal(&q.cond);
	pthread_mutex_unlock(&q.lock);
	/* A transaction in progress ends now rather than after a slow remote's
	 * timeouts; what it did not finish is sent again after the restart. */
	smtp_client_abort(true);
	pthread_join(q.thread, NULL);
	smtp_client_abort(false);
	q.running = false;
}

void queue_kick(void)
{
	pthread_mutex_lock(&q.lock);
	q.kicked = true;
	pthread_cond_signal(&q.cond);
	pthread_mutex_unlock(&q.lock);
}
