/* The configuration table and its parser. Every key Roost understands is listed
 * in `keys` below with its type and default; nothing else is accepted. Listener
 * defaults depend on whether the process starts as root (standard ports) or not
 * (the same ports plus 1000, or 10000 for the ones under 100). */
#include "core/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

enum key_type { T_STR, T_BOOL, T_INT, T_LISTEN, T_ENUM };

struct key_def {
	const char *key;
	enum key_type type;
	const char *def;      /* default when not root */
	const char *root_def; /* default when root, or NULL for the same */
	int64_t min, max;     /* T_INT bounds */
	const char *choices;  /* T_ENUM: "a|b|c" */
	const char *doc;
};

static const struct key_def keys[] = {
	{"server.hostname", T_STR, "", NULL, 0, 0, NULL,
	 "Name the server gives itself in greetings and trace headers; empty means the system host name."},
	{"server.user", T_STR, "roost", NULL, 0, 0, NULL,
	 "When started as root: the user to switch to after binding ports (created if missing, falls back to nobody)."},
	{"server.sandbox", T_BOOL, "yes", NULL, 0, 0, NULL,
	 "Confine the server with Landlock to its data directory (read-write) and the system's libraries and configuration (read-only), where the kernel supports it."},
	{"server.loops", T_INT, "0", NULL, 0, 64, NULL,
	 "Event-loop threads that own the sockets; 0 means one per CPU."},
	{"server.workers", T_INT, "0", NULL, 0, 256, NULL,
	 "Worker threads that run commands against the store (a delivery holds one until its group commit is on disk); 0 means max(16, 4 x CPUs)."},
	{"log.level", T_ENUM, "info", NULL, 0, 0, "debug|info|warn|error",
	 "Least severe level that is logged."},
	{"tls.cert", T_STR, "", NULL, 0, 0, NULL,
	 "PEM certificate chain; empty means DATA/tls/cert.pem, generated (self-signed) on first start."},
	{"tls.key", T_STR, "", NULL, 0, 0, NULL,
	 "PEM private key for tls.cert; empty means DATA/tls/key.pem."},
	{"auth.allow_plaintext", T_BOOL, "no", NULL, 0, 0, NULL,
	 "Accept plaintext passwords on unencrypted non-loopback connections."},
	{"auth.cache_ttl", T_INT, "120", NULL, 0, 86400, NULL,
	 "Seconds a successful password check is remembered, so that repeated logins skip the slow password hash; a changed password is never matched by it; 0 turns the cache off."},
	{"auth.max_failures", T_INT, "10", NULL, 1, 1000000, NULL,
	 "Failed logins from one address (or for one account) within 15 minutes before further attempts are delayed."},
	{"limits.connections", T_INT, "10000", NULL, 1, 1000000, NULL,
	 "Open client connections at most, all protocols together."},
	{"limits.connections_per_ip", T_INT, "100", NULL, 1, 1000000, NULL,
	 "Open client connections at most from one IP address."},
	{"limits.commands_per_second", T_INT, "20000", NULL, 1, 1000000, NULL,
	 "Sustained commands per second per connection (a flood guard: a mail client downloading a large mailbox stays well below); faster clients are slowed down, not cut off."},
	{"imap.listen", T_LISTEN, "0.0.0.0:1143", "0.0.0.0:143", 0, 0, NULL,
	 "IMAP listeners (STARTTLS offered), comma-separated ADDR:PORT; empty turns IMAP off."},
	{"imaps.listen", T_LISTEN, "0.0.0.0:1993", "0.0.0.0:993", 0, 0, NULL,
	 "IMAP over implicit TLS listeners."},
	{"pop3.listen", T_LISTEN, "0.0.0.0:1110", "0.0.0.0:110", 0, 0, NULL,
	 "POP3 listeners (STLS offered), comma-separated ADDR:PORT; empty turns POP3 off."},
	{"pop3s.listen", T_LISTEN, "0.0.0.0:1995", "0.0.0.0:995", 0, 0, NULL,
	 "POP3 over implicit TLS listeners."},
	{"smtp.listen", T_LISTEN, "0.0.0.0:10025", "0.0.0.0:25", 0, 0, NULL,
	 "SMTP listeners (incoming mail for local domains, STARTTLS offered, no relaying); empty turns SMTP off."},
	{"submission.listen", T_LISTEN, "0.0.0.0:1587", "0.0.0.0:587", 0, 0, NULL,
	 "Submission listeners (RFC 6409: authenticated users send mail; STARTTLS before AUTH)."},
	{"submissions.listen", T_LISTEN, "0.0.0.0:1465", "0.0.0.0:465", 0, 0, NULL,
	 "Submission over implicit TLS listeners (RFC 8314)."},
	{"lmtp.listen", T_LISTEN, "127.0.0.1:10024", "127.0.0.1:24", 0, 0, NULL,
	 "LMTP listeners for the MTA in front (RFC 2033): ADDR:PORT or the absolute path of a unix socket. LMTP delivers to any local user without a password: never expose it beyond the machine."},
	{"smtp.domains", T_STR, "", NULL, 0, 0, NULL,
	 "Comma-separated mail domains this server receives for, besides server.hostname, localhost and the domains of its accounts and aliases."},
	{"smtp.idle_timeout", T_INT, "300", NULL, 30, 3600, NULL,
	 "Seconds an SMTP, submission or LMTP client may stay silent (RFC 5321 asks for at least 300 while waiting for a command)."},
	{"smtp.data_timeout", T_INT, "600", NULL, 10, 86400, NULL,
	 "Seconds one message (DATA, or a BDAT sequence) may take to arrive, however steadily it trickles in; then 421 and the connection is closed."},
	{"smtp.max_message_size", T_INT, "67108864", NULL, 1024, 536870912, NULL,
	 "Largest message in octets (announced as SIZE); larger ones are refused with 552 5.3.4."},
	{"smtp.max_recipients", T_INT, "100", NULL, 1, 10000, NULL,
	 "Recipients one message may have (RFC 5321 asks for at least 100); more get 452 4.5.3."},
	{"smtp.max_errors", T_INT, "10", NULL, 1, 1000, NULL,
	 "Refused commands in one SMTP session before the server says 421 and hangs up."},
	{"smtp.max_junk_commands", T_INT, "100", NULL, 1, 100000, NULL,
	 "NOOP, RSET, VRFY, HELP and HELO/EHLO commands between two accepted messages before the server says 421 and hangs up."},
	{"smtp.vrfy", T_BOOL, "no", NULL, 0, 0, NULL,
	 "Answer VRFY with whether a local user exists; no answers 252 to everyone (addresses are not disclosed)."},
	{"smtp.recipient_delimiter", T_STR, "+", NULL, 0, 0, NULL,
	 "Character that starts an address extension: user+tag@domain is delivered to user; empty turns it off."},
	{"smtp.plus_folder", T_BOOL, "no", NULL, 0, 0, NULL,
	 "Deliver user+tag@domain into the user's mailbox named tag when it exists (INBOX otherwise)."},
	{"smtp.bare_lf", T_ENUM, "accept", NULL, 0, 0, "accept|reject",
	 "A bare LF or CR in a message: accept (stored as CRLF; only CRLF.CRLF ends a message) or refuse the message with 550 5.6.2."},
	{"submission.check_from", T_BOOL, "yes", NULL, 0, 0, NULL,
	 "Refuse a submitted message whose From: header address is not the user's own (its login name or an alias of it), as the envelope sender is checked."},
	{"submission.sent_copy", T_BOOL, "no", NULL, 0, 0, NULL,
	 "Save a copy of every message a user submits into their Sent folder (leave off for mail programs that save their own copy over IMAP)."},
	{"imap.idle_timeout", T_INT, "1800", NULL, 1800, 86400, NULL,
	 "Seconds an IMAP client may stay silent (IDLE included) before it is logged out (RFC 9051 asks for at least 1800)."},
	{"pop3.idle_timeout", T_INT, "600", NULL, 600, 86400, NULL,
	 "Seconds a POP3 client may stay silent before it is logged out (RFC 1939 asks for at least 600)."},
	{"pop3.delete_mode", T_ENUM, "expunge", NULL, 0, 0, "expunge|move",
	 "What a POP3 deletion does at QUIT: expunge the message, or move it to pop3.delete_folder."},
	{"pop3.delete_folder", T_STR, "Trash", NULL, 0, 0, NULL,
	 "Folder that POP3-deleted messages move to when pop3.delete_mode = move (created when missing)."},
	{"pop3.only_new", T_BOOL, "no", NULL, 0, 0, NULL,
	 "Offer over POP3 only mail that arrived after the account's first POP3 login."},
	{"quota.bytes", T_INT, "0", NULL, 0, INT64_MAX, NULL,
	 "Octets of mail an account may keep (all mailboxes together); 0 means no limit. Per account: roost user set NAME quota.bytes=N. Mail that would go over it is refused at delivery (452 4.2.2 / 552 5.2.2)."},
	{"store.group_commit", T_BOOL, "yes", NULL, 0, 0, NULL,
	 "Batch concurrent store writes into one commit and one fsync; no means one fsync per write."},
	{"relay.host", T_STR, "", NULL, 0, 0, NULL,
	 "Send all outbound mail through this relay host (smarthost), HOST:PORT (port 25 when left out); empty means delivery straight to each domain's MX."},
	{"relay.tls", T_ENUM, "starttls", NULL, 0, 0, "none|starttls|tls",
	 "TLS to the relay host: none, starttls (required; mail waits when the relay does not offer it) or tls (implicit, usually port 465)."},
	{"relay.tls_verify", T_BOOL, "yes", NULL, 0, 0, NULL,
	 "Check the relay host's certificate against the system's CAs and its name."},
	{"relay.user", T_STR, "", NULL, 0, 0, NULL,
	 "Login name for AUTH at the relay host (PLAIN or LOGIN, only over TLS or loopback); empty means no AUTH."},
	{"relay.password", T_STR, "", NULL, 0, 0, NULL,
	 "Password for relay.user."},
	{"queue.routes", T_STR, "", NULL, 0, 0, NULL,
	 "Static routes that take precedence over relay.host and DNS: comma-separated DOMAIN=HOST:PORT (\"*\" matches any domain; the first match wins)."},
	{"queue.lifetime", T_INT, "432000", NULL, 1, 31536000, NULL,
	 "Seconds a message may stay queued (retried after temporary failures) before it is returned to its sender."},
	{"queue.retry_min", T_INT, "300", NULL, 1, 86400, NULL,
	 "Seconds before the first retry after a temporary failure; each further retry waits twice as long, up to queue.retry_max."},
	{"queue.retry_max", T_INT, "14400", NULL, 1, 604800, NULL,
	 "Longest wait in seconds between two attempts."},
	{"queue.delay_notify", T_INT, "14400", NULL, 0, 31536000, NULL,
	 "Seconds after which a sender who asked for NOTIFY=DELAY is told the message is still queued; 0 never tells."},
};

struct config {
	char *values[ARRAY_LEN(keys)];
	bool set[ARRAY_LEN(keys)];
};

static int find_key(const char *key)
{
	for (unsigned i = 0; i < ARRAY_LEN(keys); i++)
		if (strcmp(keys[i].key, key) == 0)
			return (int)i;
	return -1;
}

const struct config_key_info *config_keys(unsigned *n_r)
{
	static struct config_key_info info[ARRAY_LEN(keys)];
	static const char *type_names[] = {"string", "bool", "integer", "listen", "enum"};
	for (unsigned i = 0; i < ARRAY_LEN(keys); i++) {
		info[i].key = keys[i].key;
		info[i].type = keys[i].type == T_ENUM ? keys[i].choices : type_names[keys[i].type];
		info[i].def = keys[i].def;
		info[i].doc = keys[i].doc;
	}
	*n_r = ARRAY_LEN(keys);
	return info;
}

bool config_parse_bool(const char *s, bool *r)
{
	static const char *yes[] = {"yes", "true", "on", "1"}, *no[] = {"no", "false", "off", "0"};
	for (unsigned i = 0; i < 4; i++) {
		if (str_ieq(s, yes[i])) { *r = true; return true; }
		if (str_ieq(s, no[i])) { *r = false; return true; }
	}
	return false;
}

/* ADDR:PORT where ADDR is IPv4, [IPv6] or a host name, PORT 1..65535; or an
 * absolute path (a unix socket, for lmtp.listen). */
static bool valid_listen_item(const char *s, size_t len)
{
	if (len > 1 && s[0] == '/')
		return len < 108 && memchr(s, ' ', len) == NULL; /* sun_path */
	const char *colon = NULL;
	for (size_t i = 0; i < len; i++)
		if (s[i] == ':')
			colon = s + i;
	if (colon == NULL || colon == s)
		return false;
	uint64_t port;
	if (!parse_uint(colon + 1, (size_t)(s + len - colon - 1), 65535, &port) || port == 0)
		return false;
	if (s[0] == '[')
		return colon[-1] == ']';
	for (const char *p = s; p < colon; p++)
		if (*p == ':' || *p == ' ')
			return false;
	return true;
}

static int check_value(const struct key_def *k, const char *value, const char **error_r)
{
	switch (k->type) {
	case T_STR:
		return 0;
	case T_BOOL: {
		bool b;
		if (!config_parse_bool(value, &b)) {
			*error_r = "expected yes or no";
			return -1;
		}
		return 0;
	}
	case T_INT: {
		uint64_t v;
		if (!parse_uint(value, strlen(value), (uint64_t)k->max, &v) || (int64_t)v < k->min) {
			static __thread char msg[96];
			snprintf(msg, sizeof msg, "expected a whole number from %lld to %lld",
				 (long long)k->min, (long long)k->max);
			*error_r = msg;
			return -1;
		}
		return 0;
	}
	case T_ENUM: {
		const char *c = k->choices;
		size_t vl = strlen(value);
		while (*c) {
			const char *bar = strchr(c, '|');
			size_t cl = bar ? (size_t)(bar - c) : strlen(c);
			if (cl == vl && strncmp(c, value, cl) == 0)
				return 0;
			c += cl + (bar ? 1 : 0);
		}
		static __thread char msg[128];
		snprintf(msg, sizeof msg, "expected one of %s", k->choices);
		*error_r = msg;
		return -1;
	}
	case T_LISTEN: {
		const char *p = value;
		while (*p) {
			const char *comma = strchr(p, ',');
			size_t len = comma ? (size_t)(comma - p) : strlen(p);
			while (len > 0 && *p == ' ') { p++; len--; }
			while (len > 0 && p[len - 1] == ' ') len--;
			if (!valid_listen_item(p, len)) {
				*error_r = "expected a comma-separated list of ADDR:PORT";
				return -1;
			}
			if (!comma)
				break;
			p = comma + 1;
		}
		return 0;
	}
	}
	return 0;
}

int config_check(const char *key, const char *value, const char **error_r)
{
	int i = find_key(key);
	if (i < 0) {
		*error_r = "unknown key";
		return -1;
	}
	return check_value(&keys[i], value, error_r);
}

struct config *config_new(void)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);
	bool root = geteuid() == 0;
	for (unsigned i = 0; i < ARRAY_LEN(keys); i++)
		cfg->values[i] = xstrdup(root && keys[i].root_def ? keys[i].root_def : keys[i].def);
	return cfg;
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (unsigned i = 0; i < ARRAY_LEN(keys); i++)
		free(cfg->values[i]);
	free(cfg);
}

int config_set(struct config *cfg, const char *key, const char *value, const char **error_r)
{
	int i = find_key(key);
	if (i < 0) {
		*error_r = "unknown key";
		return -1;
	}
	if (check_value(&keys[i], value, error_r) < 0)
		return -1;
	free(cfg->values[i]);
	cfg->values[i] = xstrdup(value);
	cfg->set[i] = true;
	return 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

#define CONFIG_MAX_LINE 4096

static int load_stream(struct config *cfg, FILE *f, const char *path, char **error_r)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	int ret = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > CONFIG_MAX_LINE) {
			*error_r = xasprintf("%s:%u: line too long", path, lineno);
			ret = -1;
			break;
		}
		if ((size_t)n != strlen(line)) {
			*error_r = xasprintf("%s:%u: NUL byte in line", path, lineno);
			ret = -1;
			break;
		}
		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			*error_r = xasprintf("%s:%u: expected KEY = VALUE", path, lineno);
			ret = -1;
			break;
		}
		*eq = '\0';
		char *key = trim(s), *value = trim(eq + 1);
		size_t vl = strlen(value);
		if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
			value[vl - 1] = '\0';
			value++;
		}
		const char *err;
		if (config_set(cfg, key, value, &err) < 0) {
			*error_r = xasprintf("%s:%u: %s: %s", path, lineno, key, err);
			ret = -1;
			break;
		}
	}
	free(line);
	return ret;
}

int config_load_file(struct config *cfg, const char *path, char **error_r)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	int ret = load_stream(cfg, f, path, error_r);
	fclose(f);
	return ret;
}

int config_load_string(struct config *cfg, const char *name, const char *text, size_t len, char **error_r)
{
	if (len == 0)
		return 0;
	FILE *f = fmemopen((void *)text, len, "r");
	if (f == NULL) {
		*error_r = xasprintf("%s: %s", name, strerror(errno));
		return -1;
	}
	int ret = load_stream(cfg, f, name, error_r);
	fclose(f);
	return ret;
}

int config_set_arg(struct config *cfg, const char *arg, char **error_r)
{
	const char *eq = strchr(arg, '=');
	if (eq == NULL) {
		*error_r = xasprintf("--set %s: expected KEY=VALUE", arg);
		return -1;
	}
	char *key = xstrndup(arg, (size_t)(eq - arg));
	const char *err;
	int ret = config_set(cfg, key, eq + 1, &err);
	if (ret < 0)
		*error_r = xasprintf("--set %s: %s", key, err);
	free(key);
	return ret;
}

static int key_checked(const char *key, enum key_type t1, enum key_type t2)
{
	int i = find_key(key);
	if (i < 0 || (keys[i].type != t1 && keys[i].type != t2))
		die("internal error: config key %s used with the wrong type", key);
	return i;
}

const char *config_str(const struct config *cfg, const char *key)
{
	int i = find_key(key);
	if (i < 0)
		die("internal error: unknown config key %s", key);
	return cfg->values[i];
}

bool config_bool(const struct config *cfg, const char *key)
{
	bool b = false;
	config_parse_bool(cfg->values[key_checked(key, T_BOOL, T_BOOL)], &b);
	return b;
}

int64_t config_int(const struct config *cfg, const char *key)
{
	return strtoll(cfg->values[key_checked(key, T_INT, T_INT)], NULL, 10);
}

bool config_is_set(const struct config *cfg, const char *key)
{
	int i = find_key(key);
	return i >= 0 && cfg->set[i];
}
