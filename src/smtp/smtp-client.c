/* The outbound SMTP client (see smtp-client.h). It speaks plain sequential
 * SMTP over a blocking socket whose every read and write has a timeout, so a
 * dead or slow server costs the queue runner at most those timeouts. The
 * reply parser and the EHLO keyword parser are pure functions of their input;
 * every network-facing size has a named limit. */
#include "smtp/smtp-client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"

/* --- replies --- */

static bool reply_digit(char c) { return c >= '0' && c <= '9'; }

/* "x.y.z" at the start of s[0..len): class 2, 4 or 5, then 1..3 and 1..3
 * digits; its length, or 0. */
static size_t reply_enh(const char *s, size_t len)
{
	size_t i = 0;
	if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		size_t start = i;
		while (i < len && reply_digit(s[i]) && i - start < 3)
			i++;
		if (i == start)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && s[i] != ' ')
		return 0;
	return i;
}

void smtp_reply_set(struct smtp_reply *r, int code, const char *enh, const char *fmt, ...)
{
	memset(r, 0, sizeof *r);
	r->code = code;
	snprintf(r->enh, sizeof r->enh, "%s", enh);
	char msg[SMTP_REPLY_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char head[32];
	snprintf(head, sizeof head, "%d %s", code, r->enh);
	size_t hl = strlen(head), ml = strlen(msg);
	if (hl + 1 + ml >= sizeof r->text)
		ml = sizeof r->text - hl - 2;
	memcpy(r->text, head, hl);
	r->text[hl] = ' ';
	memcpy(r->text + hl + 1, msg, ml);
	r->text[hl + 1 + ml] = '\0';
}

/* Append text to r->text, cut to fit, control characters made spaces. */
static void reply_text_add(struct smtp_reply *r, const char *s, size_t len)
{
	size_t have = strlen(r->text);
	if (have > 0 && have + 1 < sizeof r->text)
		r->text[have++] = ' ';
	for (size_t i = 0; i < len && have + 1 < sizeof r->text; i++) {
		unsigned char c = (unsigned char)s[i];
		r->text[have++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	r->text[have] = '\0';
}

ssize_t smtp_reply_parse(const char *in, size_t len, struct smtp_reply *r)
{
	size_t off = 0;
	int code = -1;
	for (unsigned lines = 0;; lines++) {
		if (lines >= SMTP_REPLY_MAX_LINES)
			return -1;
		const char *nl = memchr(in + off, '\n', len - off);
		if (nl == NULL)
			return len - off > SMTP_MAX_AUTH_LINE || len > SMTP_REPLY_MAX ? -1 : 0;
		size_t end = (size_t)(nl - in) + 1;
		if (end > SMTP_REPLY_MAX)
			return -1;
		const char *line = in + off;
		size_t ll = end - off - 1;
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (ll < 3 || !reply_digit(line[0]) || !reply_digit(line[1]) || !reply_digit(line[2]))
			return -1;
		if (ll > 3 && line[3] != ' ' && line[3] != '-')
			return -1;
		int c = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (c < 200 || c > 599)
			return -1;
		if (code >= 0 && c != code)
			return -1;
		if (code < 0) {
			memset(r, 0, sizeof *r);
			code = c;
			r->code = c;
			const char *t = ll > 4 ? line + 4 : "";
			size_t tl = ll > 4 ? ll - 4 : 0;
			size_t el = reply_enh(t, tl);
			if (el > 0 && el < sizeof r->enh && t[0] == line[0]) {
				memcpy(r->enh, t, el);
				r->enh[el] = '\0';
			}
			reply_text_add(r, line, ll);
		} else {
			/* Later lines: their text without the code (and the
			 * enhanced code when it repeats the first line's). */
			const char *t = ll > 4 ? line + 4 : "";
			size_t tl = ll > 4 ? ll - 4 : 0;
			size_t el = reply_enh(t, tl);
			if (el > 0 && r->enh[0] && el == strlen(r->enh) && memcmp(t, r->enh, el) == 0) {
				t += el;
				tl -= el;
				while (tl > 0 && *t == ' ') {
					t++;
					tl--;
				}
			}
			if (tl > 0)
				reply_text_add(r, t, tl);
		}
		off = end;
		if (ll == 3 || line[3] == ' ')
			return (ssize_t)off;
	}
}

void smtp_ehlo_parse(const char *in, size_t len, struct smtp_ehlo *e)
{
	memset(e, 0, sizeof *e);
	size_t off = 0;
	bool first = true;
	while (off < len) {
		const char *nl = memchr(in + off, '\n', len - off);
		size_t end = nl ? (size_t)(nl - in) + 1 : len;
		const char *line = in + off;
		size_t ll = end - off;
		while (ll > 0 && (line[ll - 1] == '\n' || line[ll - 1] == '\r'))
			ll--;
		off = end;
		if (first) { /* the greeting line names the server */
			first = false;
			continue;
		}
		if (ll < 4)
			continue;
		const char *kw = line + 4;
		size_t kl = ll - 4;
		size_t wl = 0;
		while (wl < kl && kw[wl] != ' ' && kw[wl] != '=')
			wl++;
		const char *arg = wl < kl ? kw + wl + 1 : kw + kl;
		size_t al = wl < kl ? kl - wl - 1 : 0;
		if (mem_ieq(kw, wl, "STARTTLS"))
			e->ext |= SMTP_EXT_STARTTLS;
		else if (mem_ieq(kw, wl, "8BITMIME"))
			e->ext |= SMTP_EXT_8BITMIME;
		else if (mem_ieq(kw, wl, "SMTPUTF8"))
			e->ext |= SMTP_EXT_SMTPUTF8;
		else if (mem_ieq(kw, wl, "DSN"))
			e->ext |= SMTP_EXT_DSN;
		else if (mem_ieq(kw, wl, "PIPELINING"))
			e->ext |= SMTP_EXT_PIPELINING;
		else if (mem_ieq(kw, wl, "ENHANCEDSTATUSCODES"))
			e->ext |= SMTP_EXT_ENHANCEDSTATUSCODES;
		else if (mem_ieq(kw, wl, "SIZE")) {
			e->ext |= SMTP_EXT_SIZE;
			size_t dl = 0;
			while (dl < al && reply_digit(arg[dl]))
				dl++;
			uint64_t v;
			if (dl > 0 && parse_uint(arg, dl, UINT64_MAX, &v))
				e->size = v;
		} else if (mem_ieq(kw, wl, "AUTH")) {
			size_t i = 0;
			while (i < al) {
				while (i < al && arg[i] == ' ')
					i++;
				size_t s = i;
				while (i < al && arg[i] != ' ')
					i++;
				if (mem_ieq(arg + s, i - s, "PLAIN"))
					e->ext |= SMTP_EXT_AUTH_PLAIN;
				else if (mem_ieq(arg + s, i - s, "LOGIN"))
					e->ext |= SMTP_EXT_AUTH_LOGIN;
			}
		}
	}
}

bool smtp_xtext_encode(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 33 && *p <= 126 && *p != '+' && *p != '=') {
			if (o + 1 >= cap)
				return false;
			out[o++] = (char)*p;
		} else {
			if (o + 3 >= cap)
				return false;
			out[o++] = '+';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (o >= cap)
		return false;
	out[o] = '\0';
	return true;
}

/* --- the connection --- */

struct smtp_client {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	char *host;
	const struct smtp_client_config *cfg;
	struct smtp_ehlo ehlo;
	char in[SMTP_REPLY_MAX];
	size_t in_len;
	char *last_raw;    /* the raw bytes of the last reply (for EHLO) */
	size_t last_raw_len;
	bool dead;
	int timeout;       /* seconds for the next read */
};

static void client_set_timeout(struct smtp_client *c, int secs)
{
	c->timeout = secs;
	struct timeval tv = {.tv_sec = secs};
	(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static bool client_write(struct smtp_client *c, const char *p, size_t n)
{
	while (n > 0 && !c->dead) {
		ssize_t w;
		if (c->ssl != NULL) {
			int r = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
			w = r > 0 ? r : -1;
		} else {
			w = send(c->fd, p, n, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
		}
		if (w <= 0) {
			c->dead = true;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return !c->dead;
}

/* Read one reply; a broken or silent connection becomes a local 4xx. */
static void client_reply(struct smtp_client *c, struct smtp_reply *r)
{
	for (;;) {
		if (c->in_len > 0) {
			ssize_t n = smtp_reply_parse(c->in, c->in_len, r);
			if (n > 0) {
				free(c->last_raw);
				c->last_raw = xstrndup(c->in, (size_t)n);
				c->last_raw_len = (size_t)n;
				memmove(c->in, c->in + n, c->in_len - (size_t)n);
				c->in_len -= (size_t)n;
				if (r->code == 421)
					c->dead = true;
				return;
			}
			if (n < 0 || c->in_len == sizeof c->in) {
				c->dead = true;
				smtp_reply_set(r, 451, "4.5.0", "malformed reply from %s", c->host);
				return;
			}
		}
		if (c->dead) {
			smtp_reply_set(r, 451, "4.4.2", "connection to %s lost", c->host);
			return;
		}
		ssize_t n;
		if (c->ssl != NULL) {
			int rr = SSL_read(c->ssl, c->in + c->in_len, (int)(sizeof c->in - c->in_len));
			n = rr > 0 ? rr : -1;
		} else {
			n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
			if (n < 0 && errno == EINTR)
				continue;
		}
		if (n <= 0) {
			bool timeout = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
			c->dead = true;
			smtp_reply_set(r, 451, "4.4.2", "%s %s", timeout ? "timeout waiting for" : "connection lost to", c->host);
			return;
		}
		c->in_len += (size_t)n;
	}
}

static void client_cmd(struct smtp_client *c, struct smtp_reply *r, int timeout, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void client_cmd(struct smtp_client *c, struct smtp_reply *r, int timeout, const char *fmt, ...)
{
	char line[SMTP_MAX_AUTH_LINE];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line - 2) {
		smtp_reply_set(r, 554, "5.5.0", "command too long");
		return;
	}
	memcpy(line + n, "\r\n", 2);
	client_set_timeout(c, timeout);
	if (!client_write(c, line, (size_t)n + 2)) {
		smtp_reply_set(r, 451, "4.4.2", "connection lost to %s", c->host);
		return;
	}
	client_reply(c, r);
}

/* Open client sockets, so that a stopping server can cut them short
 * (smtp_client_abort) instead of waiting out a slow remote's timeouts. */
#define CLIENT_MAX_OPEN 64
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static int open_fds[CLIENT_MAX_OPEN];
static size_t n_open;
static bool aborting;

static void fd_track(int fd)
{
	pthread_mutex_lock(&open_lock);
	if (aborting)
		(void)shutdown(fd, SHUT_RDWR);
	if (n_open < CLIENT_MAX_OPEN)
		open_fds[n_open++] = fd;
	pthread_mutex_unlock(&open_lock);
}

static void fd_close(int fd)
{
	pthread_mutex_lock(&open_lock);
	for (size_t i = 0; i < n_open; i++)
		if (open_fds[i] == fd) {
			open_fds[i] = open_fds[--n_open];
			break;
		}
	close(fd);
	pthread_mutex_unlock(&open_lock);
}

void smtp_client_abort(bool on)
{
	pthread_mutex_lock(&open_lock);
	aborting = on;
	for (size_t i = 0; on && i < n_open; i++)
		(void)shutdown(open_fds[i], SHUT_RDWR);
	pthread_mutex_unlock(&open_lock);
}

static int client_connect_fd(const char *host, uint16_t port, struct smtp_reply *why)
{
	char ports[8];
	snprintf(ports, sizeof ports, "%u", port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC}, *res = NULL;
	int gai = getaddrinfo(host, ports, &hints, &res);
	if (gai != 0) {
		bool perm = gai == EAI_NONAME;
		smtp_reply_set(why, perm ? 550 : 451, perm ? "5.1.2" : "4.4.3", "cannot resolve %s: %s", host,
			       gai_strerror(gai));
		return -1;
	}
	int fd = -1, err = 0;
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		fd_track(fd);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			err = errno;
			fd_close(fd);
			fd = -1;
			continue;
		}
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int pr = poll(&p, 1, SMTP_CLIENT_CONNECT_TIMEOUT * 1000);
		socklen_t sl = sizeof err;
		if (pr <= 0) {
			err = ETIMEDOUT;
		} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0) {
			err = errno;
		}
		if (err != 0) {
			fd_close(fd);
			fd = -1;
			continue;
		}
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	}
	freeaddrinfo(res);
	if (fd < 0)
		smtp_reply_set(why, 451, "4.4.1", "cannot connect to %s port %u: %s", host, port, strerror(err));
	return fd;
}

static bool client_host_is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr);
	return false;
}

static bool client_tls_start(struct smtp_client *c, bool verify, struct smtp_reply *why)
{
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL) {
		smtp_reply_set(why, 451, "4.7.5", "TLS context: %s", ERR_reason_error_string(ERR_get_error()));
		return false;
	}
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	if (verify) {
		SSL_CTX_set_default_verify_paths(c->ctx);
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	}
	c->ssl = SSL_new(c->ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, c->host);
	if (verify)
		SSL_set1_host(c->ssl, c->host);
	client_set_timeout(c, SMTP_CLIENT_CMD_TIMEOUT);
	if (SSL_connect(c->ssl) != 1) {
		unsigned long e = ERR_get_error();
		smtp_reply_set(why, 451, "4.7.5", "TLS handshake with %s failed: %s", c->host,
			       e ? ERR_reason_error_string(e) : "connection closed");
		SSL_free(c->ssl);
		c->ssl = NULL;
		c->dead = true;
		return false;
	}
	return true;
}

static enum smtp_client_status reply_status(const struct smtp_reply *r)
{
	return r->code < 400 ? SMTP_CLIENT_OK : r->code < 500 ? SMTP_CLIENT_TEMP : SMTP_CLIENT_PERM;
}

static enum smtp_client_status client_ehlo(struct smtp_client *c, struct smtp_reply *why)
{
	client_cmd(c, why, SMTP_CLIENT_CMD_TIMEOUT, "EHLO %s", c->cfg->helo);
	if (why->code >= 500 && !c->dead) {
		client_cmd(c, why, SMTP_CLIENT_CMD_TIMEOUT, "HELO %s", c->cfg->helo);
		memset(&c->ehlo, 0, sizeof c->ehlo);
		return reply_status(why);
	}
	if (why->code / 100 == 2)
		smtp_ehlo_parse(c->last_raw, c->last_raw_len, &c->ehlo);
	return reply_status(why);
}

static enum smtp_client_status client_auth(struct smtp_client *c, struct smtp_reply *why)
{
	const char *u = c->cfg->user, *p = c->cfg->password ? c->cfg->password : "";
	if (c->ssl == NULL && !client_host_is_loopback(c->fd)) {
		smtp_reply_set(why, 451, "4.7.0", "not sending the password to %s without TLS", c->host);
		return SMTP_CLIENT_TEMP;
	}
	size_t ul = strlen(u), pl = strlen(p);
	if (ul + pl > 2000) {
		smtp_reply_set(why, 554, "5.7.0", "relay credentials too long");
		return SMTP_CLIENT_PERM;
	}
	char *b64 = xmalloc(base64_encoded_len(ul + pl + 2) + 1);
	if (c->ehlo.ext & SMTP_EXT_AUTH_PLAIN) {
		char *raw = xmalloc(ul + pl + 2);
		raw[0] = '\0';
		memcpy(raw + 1, u, ul);
		raw[1 + ul] = '\0';
		memcpy(raw + 2 + ul, p, pl);
		base64_encode(raw, ul + pl + 2, b64);
		explicit_bzero(raw, ul + pl + 2);
		free(raw);
		client_cmd(c, why, SMTP_CLIENT_CMD_TIMEOUT, "AUTH PLAIN %s", b64);
	} else if (c->ehlo.ext & SMTP_EXT_AUTH_LOGIN) {
		client_cmd(c, why, SMTP_CLIENT_CMD_TIMEOUT, "AUTH LOGIN");
		if (why->code == 334) {
			base64_encode(u, ul, b64);
			client_cmd(c, why, SMTP_CLIENT_CMD_TIMEOUT, "%s", b64);
		}
		if (why->code == 334) {
			base64_encode(p, pl, b64);
			client_cmd(c, why, SMTP_CLIENT_CMD_TIMEOUT, "%s", b64);
		}
	} else {
		smtp_reply_set(why, 451, "4.7.0", "%s offers no AUTH PLAIN or LOGIN", c->host);
	}
	explicit_bzero(b64, strlen(b64));
	free(b64);
	if (why->code == 334) /* the exchange went on longer than LOGIN does */
		smtp_reply_set(why, 451, "4.7.0", "unexpected AUTH challenge from %s", c->host);
	/* A refused login is the administrator's to fix: keep the mail queued. */
	return why->code / 100 == 2 ? SMTP_CLIENT_OK : SMTP_CLIENT_TEMP;
}

enum smtp_client_status smtp_client_open(const char *host, uint16_t port, const struct smtp_client_config *cfg,
					 struct smtp_client **c_r, struct smtp_reply *why_r)
{
	*c_r = NULL;
	memset(why_r, 0, sizeof *why_r);
	int fd = client_connect_fd(host, port, why_r);
	if (fd < 0)
		return why_r->code >= 500 ? SMTP_CLIENT_PERM : SMTP_CLIENT_TEMP;
	struct smtp_client *c = xcalloc(1, sizeof *c);
	c->fd = fd;
	c->host = xstrdup(host);
	c->cfg = cfg;
	enum smtp_client_status st = SMTP_CLIENT_TEMP;
	if (cfg->tls == SMTP_TLS_IMPLICIT && !client_tls_start(c, cfg->verify, why_r))
		goto fail;
	client_set_timeout(c, SMTP_CLIENT_GREETING_TIMEOUT);
	client_reply(c, why_r);
	if (why_r->code != 220) {
		/* A server that refuses us at the greeting may be busy (4xx) or may
		 * not want mail at all (5xx, RFC 5321 3.1: try the next MX anyway). */
		if (why_r->code / 100 == 2)
			smtp_reply_set(why_r, 451, "4.5.0", "unexpected greeting from %s", host);
		st = SMTP_CLIENT_TEMP;
		goto fail;
	}
	if ((st = client_ehlo(c, why_r)) != SMTP_CLIENT_OK)
		goto fail;
	bool want_tls = cfg->tls == SMTP_TLS_STARTTLS || cfg->tls == SMTP_TLS_OPPORTUNISTIC;
	if (c->ssl == NULL && want_tls && (c->ehlo.ext & SMTP_EXT_STARTTLS)) {
		client_cmd(c, why_r, SMTP_CLIENT_CMD_TIMEOUT, "STARTTLS");
		if (why_r->code == 220) {
			if (c->in_len > 0) { /* bytes before the handshake: an injection attempt */
				smtp_reply_set(why_r, 451, "4.7.5", "%s sent data after STARTTLS", host);
				st = SMTP_CLIENT_TEMP;
				goto fail;
			}
			if (!client_tls_start(c, cfg->verify && cfg->tls == SMTP_TLS_STARTTLS, why_r)) {
				st = SMTP_CLIENT_TEMP;
				goto fail;
			}
			if ((st = client_ehlo(c, why_r)) != SMTP_CLIENT_OK)
				goto fail;
		} else if (cfg->tls == SMTP_TLS_STARTTLS) {
			st = SMTP_CLIENT_TEMP;
			goto fail;
		}
	}
	if (c->ssl == NULL && cfg->tls == SMTP_TLS_STARTTLS) {
		smtp_reply_set(why_r, 451, "4.7.5", "%s offers no STARTTLS and relay.tls requires it", host);
		st = SMTP_CLIENT_TEMP;
		goto fail;
	}
	if (cfg->user != NULL && cfg->user[0] != '\0' && (st = client_auth(c, why_r)) != SMTP_CLIENT_OK)
		goto fail;
	log_debug("event=smtp_client_open host=%s port=%u tls=%d ext=%#x", host, port, c->ssl != NULL, c->ehlo.ext);
	*c_r = c;
	return SMTP_CLIENT_OK;
fail:
	smtp_client_close(c);
	return st;
}

const struct smtp_ehlo *smtp_client_ehlo(const struct smtp_client *c) { return &c->ehlo; }
bool smtp_client_tls_active(const struct smtp_client *c) { return c->ssl != NULL; }

void smtp_client_close(struct smtp_client *c)
{
	if (c == NULL)
		return;
	if (!c->dead) {
		struct smtp_reply r;
		client_cmd(c, &r, 10, "QUIT");
	}
	if (c->ssl != NULL) {
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->ctx != NULL)
		SSL_CTX_free(c->ctx);
	fd_close(c->fd);
	free(c->last_raw);
	free(c->host);
	free(c);
}

/* The NOTIFY list of bits. */
static void notify_text(unsigned n, char *out, size_t cap)
{
	out[0] = '\0';
	if (n & SMTP_NOTIFY_NEVER) {
		snprintf(out, cap, "NEVER");
		return;
	}
	static const struct { unsigned bit; const char *name; } names[] = {
		{SMTP_NOTIFY_SUCCESS, "SUCCESS"}, {SMTP_NOTIFY_FAILURE, "FAILURE"}, {SMTP_NOTIFY_DELAY, "DELAY"}};
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (n & names[i].bit) {
			size_t l = strlen(out);
			snprintf(out + l, cap - l, "%s%s", l ? "," : "", names[i].name);
		}
}

static void all_rcpts(struct smtp_client_msg *m, const struct smtp_reply *r)
{
	for (size_t i = 0; i < m->n; i++)
		m->rcpts[i].reply = *r;
}

/* DATA with dot-stuffing (RFC 5321 4.5.2) and the final dot. */
static bool client_data(struct smtp_client *c, const char *d, size_t len)
{
	struct buf b = {0};
	bool bol = true;
	client_set_timeout(c, SMTP_CLIENT_DATA_TIMEOUT);
	for (size_t i = 0; i < len; i++) {
		if (bol && d[i] == '.')
			buf_append(&b, ".", 1);
		buf_append(&b, d + i, 1);
		bol = d[i] == '\n';
		if (buf_used(&b) >= 64 * 1024) {
			if (!client_write(c, buf_head(&b), buf_used(&b)))
				break;
			buf_clear(&b);
		}
	}
	if (len > 0 && !bol)
		buf_append(&b, "\r\n", 2);
	buf_append(&b, ".\r\n", 3);
	bool ok = client_write(c, buf_head(&b), buf_used(&b));
	buf_free(&b);
	return ok;
}

bool smtp_client_send(struct smtp_client *c, struct smtp_client_msg *m)
{
	struct smtp_reply r;
	const struct smtp_ehlo *e = &c->ehlo;
	if (m->smtputf8 && !(e->ext & SMTP_EXT_SMTPUTF8)) {
		smtp_reply_set(&r, 553, "5.6.7", "%s does not support SMTPUTF8, which this message needs", c->host);
		all_rcpts(m, &r);
		return true;
	}
	if ((e->ext & SMTP_EXT_SIZE) && e->size > 0 && m->len > e->size) {
		smtp_reply_set(&r, 552, "5.3.4", "message of %zu bytes is larger than %s accepts (%llu)", m->len, c->host,
			       (unsigned long long)e->size);
		all_rcpts(m, &r);
		return true;
	}
	bool dsn = (e->ext & SMTP_EXT_DSN) != 0;
	struct buf cmd = {0};
	buf_printf(&cmd, "MAIL FROM:<%s>", m->sender ? m->sender : "");
	if (e->ext & SMTP_EXT_SIZE)
		buf_printf(&cmd, " SIZE=%zu", m->len);
	if ((e->ext & SMTP_EXT_8BITMIME) && (m->body == SMTP_BODY_8BITMIME || m->body == SMTP_BODY_BINARYMIME))
		buf_appends(&cmd, " BODY=8BITMIME");
	if (m->smtputf8)
		buf_appends(&cmd, " SMTPUTF8");
	if (dsn && m->ret != SMTP_RET_NONE)
		buf_appends(&cmd, m->ret == SMTP_RET_FULL ? " RET=FULL" : " RET=HDRS");
	char x[SMTP_MAX_ORCPT * 3 + 1];
	if (dsn && m->envid != NULL && m->envid[0] && smtp_xtext_encode(m->envid, x, sizeof x))
		buf_printf(&cmd, " ENVID=%s", x);
	buf_append(&cmd, "", 1);
	client_cmd(c, &r, SMTP_CLIENT_CMD_TIMEOUT, "%s", buf_head(&cmd));
	buf_free(&cmd);
	if (r.code / 100 != 2) {
		all_rcpts(m, &r);
		return !c->dead;
	}
	size_t accepted = 0;
	for (size_t i = 0; i < m->n; i++) {
		struct smtp_client_rcpt *rc = &m->rcpts[i];
		buf_printf(&cmd, "RCPT TO:<%s>", rc->addr);
		if (dsn && rc->notify != 0) {
			char nt[64];
			notify_text(rc->notify, nt, sizeof nt);
			buf_printf(&cmd, " NOTIFY=%s", nt);
		}
		const char *semi = rc->orcpt ? strchr(rc->orcpt, ';') : NULL;
		if (dsn && semi != NULL && semi - rc->orcpt < 32 && smtp_xtext_encode(semi + 1, x, sizeof x))
			buf_printf(&cmd, " ORCPT=%.*s;%s", (int)(semi - rc->orcpt), rc->orcpt, x);
		buf_append(&cmd, "", 1);
		client_cmd(c, &rc->reply, SMTP_CLIENT_CMD_TIMEOUT, "%s", buf_head(&cmd));
		buf_free(&cmd);
		if (rc->reply.code / 100 == 2)
			accepted++;
		if (c->dead) {
			for (size_t j = i + 1; j < m->n; j++)
				m->rcpts[j].reply = rc->reply;
			return false;
		}
	}
	if (accepted == 0) {
		client_cmd(c, &r, SMTP_CLIENT_CMD_TIMEOUT, "RSET");
		return !c->dead;
	}
	client_cmd(c, &r, SMTP_CLIENT_DATA_TIMEOUT, "DATA");
	if (r.code == 354) {
		if (client_data(c, m->data, m->len)) {
			client_set_timeout(c, SMTP_CLIENT_DOT_TIMEOUT);
			client_reply(c, &r);
		} else {
			smtp_reply_set(&r, 451, "4.4.2", "connection lost to %s while sending the message", c->host);
		}
	} else if (r.code / 100 == 2) {
		smtp_reply_set(&r, 451, "4.5.0", "%s answered DATA with %d", c->host, r.code);
	}
	for (size_t i = 0; i < m->n; i++)
		if (m->rcpts[i].reply.code / 100 == 2)
			m->rcpts[i].reply = r;
	return !c->dead;
}
