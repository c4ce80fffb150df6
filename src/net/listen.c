/* Listening sockets from the *.listen keys. Each ADDR:PORT (or the absolute
 * path of a unix socket) becomes one non-blocking socket that every event loop
 * watches (EPOLLEXCLUSIVE wakes one of them per connection). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "net/net-internal.h"
#include "imap/imap.h"
#include "pop3/pop3.h"
#include "smtp/smtp.h"

struct served {
	const char *key;
	const struct proto *proto;
};

static const struct served served[] = {
	{"imap.listen", &imap_proto},
	{"imaps.listen", &imaps_proto},
	{"pop3.listen", &pop3_proto},
	{"pop3s.listen", &pop3s_proto},
	{"smtp.listen", &smtp_proto},
	{"submission.listen", &submission_proto},
	{"submissions.listen", &submissions_proto},
	{"lmtp.listen", &lmtp_proto},
};

/* A unix socket at an absolute path; a stale socket file is replaced, any
 * other file is left alone. Mode 0666: who may connect is up to the
 * directory it is in. */
static int open_unix(const char *path, struct listener *l, const char **error_r)
{
	static __thread char msg[256];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(msg, sizeof msg, "%s: path too long for a unix socket", path);
		*error_r = msg;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	struct stat sb;
	if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode))
		unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0666) < 0 || listen(fd, 1024) < 0) {
		snprintf(msg, sizeof msg, "cannot listen on %s: %s", path, strerror(errno));
		*error_r = msg;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	l->fd = fd;
	snprintf(l->addr, sizeof l->addr, "%s", path);
	return 0;
}

static int open_one(const char *item, struct listener *l, const char **error_r)
{
	static __thread char msg[256];
	if (item[0] == '/')
		return open_unix(item, l, error_r);
	char *host, *port;
	char *copy = xstrdup(item);
	char *colon = strrchr(copy, ':');
	*colon = '\0';
	host = copy;
	port = colon + 1;
	if (host[0] == '[') {
		host++;
		host[strlen(host) - 1] = '\0';
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, port, &hints, &res);
	if (gai != 0) {
		snprintf(msg, sizeof msg, "%s: %s", item, gai_strerror(gai));
		*error_r = msg;
		free(copy);
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (res->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	}
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		snprintf(msg, sizeof msg, "cannot listen on %s: %s", item, strerror(errno));
		*error_r = msg;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		free(copy);
		return -1;
	}
	freeaddrinfo(res);
	free(copy);
	l->fd = fd;
	snprintf(l->addr, sizeof l->addr, "%s", item);
	return 0;
}

int listeners_open(struct net *net, const struct config *cfg, const char **error_r)
{
	for (unsigned s = 0; s < ARRAY_LEN(served); s++) {
		char *list = xstrdup(config_str(cfg, served[s].key));
		for (char *save = NULL, *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
			while (*item == ' ')
				item++;
			size_t n = strlen(item);
			while (n > 0 && item[n - 1] == ' ')
				item[--n] = '\0';
			if (n == 0)
				continue;
			net->listeners = xrealloc(net->listeners, (net->nlisteners + 1) * sizeof *net->listeners);
			struct listener *l = &net->listeners[net->nlisteners];
			memset(l, 0, sizeof *l);
			l->proto = served[s].proto;
			l->idle_timeout_s = (int)config_int(cfg, served[s].proto->idle_timeout_key);
			if (open_one(item, l, error_r) < 0) {
				free(list);
				return -1;
			}
			net->nlisteners++;
			log_info("event=listen proto=%s addr=%s", l->proto->name, l->addr);
		}
		free(list);
	}
	return 0;
}
