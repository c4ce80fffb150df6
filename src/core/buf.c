/* A length-carrying byte buffer that gives its memory back when empty. Growth is
 * geometric; consumed bytes at the front are reclaimed by moving the tail down
 * only when that frees at least half the allocation. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

char *buf_reserve(struct buf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return b->data + b->len;
	size_t used = buf_used(b);
	if (b->start > 0 && b->cap - used >= n && b->start >= b->cap / 2) {
		memmove(b->data, b->data + b->start, used);
		b->start = 0;
		b->len = used;
		return b->data + b->len;
	}
	size_t want = b->len + n;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
	b->len += n;
}

void buf_append(struct buf *b, const void *data, size_t n)
{
	if (n == 0)
		return;
	memcpy(buf_reserve(b, n), data, n);
	b->len += n;
}

void buf_appends(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		buf_append(b, small, (size_t)n);
		return;
	}
	char *p = buf_reserve(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_consume(struct buf *b, size_t n)
{
	b->start += n;
	if (b->start >= b->len)
		buf_free(b);
}

void buf_clear(struct buf *b)
{
	b->start = b->len = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->start = b->len = b->cap = 0;
}

void buf_put_utf8(struct buf *out, uint32_t cp)
{
	char b[4];
	size_t n;
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(out, b, n);
}

void buf_append_uint(struct buf *b, uint64_t n)
{
	char tmp[20];
	size_t k = sizeof tmp;
	do {
		tmp[--k] = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	buf_append(b, tmp + k, sizeof tmp - k);
}
