/* Small helpers every layer uses: allocation that never returns NULL, string and
 * number parsing with explicit bounds, clocks and base64. */
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void die(const char *fmt, ...)
{
	va_list ap;
	fputs("roost: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		die("out of memory allocating %zu bytes", n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		die("out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		die("out of memory reallocating %zu bytes", n);
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("bad format string");
	char *p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return p;
}

int64_t time_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_now(void)
{
	return (int64_t)time(NULL);
}

int64_t days_from_civil(int64_t y, int m, int d)
{
	/* H. Hinnant's algorithm: eras of 400 years, March-based years. */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int days_in_month(int64_t y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

bool str_ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (lower((unsigned char)*a) != lower((unsigned char)*b))
			return false;
	return *a == *b;
}

bool mem_ieq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

bool str_has_iprefix(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++)
		if (*s == '\0' || lower((unsigned char)*s) != lower((unsigned char)*prefix))
			return false;
	return true;
}

bool parse_uint(const char *s, size_t len, uint64_t max, uint64_t *r)
{
	uint64_t v = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*r = v;
	return true;
}

bool mem_eq_ct(const void *a, const void *b, size_t len)
{
	const unsigned char *x = a, *y = b;
	unsigned char d = 0;
	for (size_t i = 0; i < len; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

void base64_encode(const void *in, size_t len, char *out)
{
	const unsigned char *p = in;
	size_t i, o = 0;
	for (i = 0; i + 2 < len; i += 3) {
		out[o++] = b64[p[i] >> 2];
		out[o++] = b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		out[o++] = b64[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		out[o++] = b64[p[i + 2] & 63];
	}
	if (i < len) {
		out[o++] = b64[p[i] >> 2];
		if (i + 1 < len) {
			out[o++] = b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			out[o++] = b64[(p[i + 1] & 15) << 2];
		} else {
			out[o++] = b64[(p[i] & 3) << 4];
			out[o++] = '=';
		}
		out[o++] = '=';
	}
	out[o] = '\0';
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

long base64_decode(const char *in, size_t len, unsigned char *out, size_t out_cap)
{
	size_t o = 0;
	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=') {
				/* Padding only in the last quantum, and only at its end. */
				if (i + 4 != len || k < 2)
					return -1;
				pad++;
				v[k] = 0;
			} else {
				if (pad)
					return -1;
				v[k] = b64val((unsigned char)in[i + k]);
				if (v[k] < 0)
					return -1;
			}
		}
		unsigned n = ((unsigned)v[0] << 18) | ((unsigned)v[1] << 12) | ((unsigned)v[2] << 6) | (unsigned)v[3];
		size_t outn = 3 - (size_t)pad;
		if (o + outn > out_cap)
			return -1;
		out[o++] = (unsigned char)(n >> 16);
		if (outn > 1) out[o++] = (unsigned char)(n >> 8);
		if (outn > 2) out[o++] = (unsigned char)n;
	}
	return (long)o;
}

int32_t utf8_next(const unsigned char *s, size_t len, size_t *n_r)
{
	unsigned c = s[0];
	*n_r = 1;
	if (c < 0x80)
		return (int32_t)c;
	unsigned need;
	uint32_t cp, min;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	if (len - 1 < need)
		return -1;
	for (unsigned k = 1; k <= need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*n_r = need + 1;
	return (int32_t)cp;
}

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		size_t n;
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if (utf8_next(p + i, len - i, &n) < 0)
			return false;
		i += n;
	}
	return true;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
