/* What the benchmark programs share: ending with one line on stderr, a
 * monotonic clock in milliseconds, a loopback TCP connection with timeouts,
 * writing a whole buffer, enough file descriptors, and IMAP's quoted strings. Each program is one .c file that defines
 * LOAD_PROG (its name, for messages) and includes this. */
#ifndef ROOST_BENCH_LOAD_COMMON_H
#define ROOST_BENCH_LOAD_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void load_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void load_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(LOAD_PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static inline double load_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* A connection to 127.0.0.1:port; reads and writes time out after
 * timeout_s. small: keep the client's own receive buffer small (thousands
 * of idle connections). */
static inline int load_connect(int port, int timeout_s, bool small)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		load_die("socket: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct timeval tv = {timeout_s, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (small) {
		int sz = 4096;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		load_die("connect 127.0.0.1:%d: %s", port, strerror(errno));
	return fd;
}

static inline void load_send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			load_die("write: %s", n < 0 ? strerror(errno) : "short write");
		data += n;
		len -= (size_t)n;
	}
}

/* Raise the descriptor limit to the hard one if n connections (and a few
 * more) need it. */
static inline void load_need_fds(long n)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)n + 64)
			load_die("need %ld file descriptors, ulimit -n allows %llu", n + 64, (unsigned long long)rl.rlim_cur);
	}
}

/* s as an IMAP quoted string into out (the names and passwords the
 * programs send need no literal). */
static inline void load_imap_quote(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	out[o++] = '"';
	for (; *s && o + 3 < cap; s++) {
		if (*s == '"' || *s == '\\')
			out[o++] = '\\';
		out[o++] = *s;
	}
	out[o++] = '"';
	out[o] = '\0';
}

#endif
