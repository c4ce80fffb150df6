/* A length-carrying byte buffer. Bytes are appended at the end and consumed from
 * the front; the storage is released when the buffer becomes empty so that idle
 * connections cost only the struct. */
#ifndef ROOST_CORE_BUF_H
#define ROOST_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;
	size_t start; /* first unconsumed byte */
	size_t len;   /* end of valid bytes; valid bytes are data[start..len) */
	size_t cap;
};

static inline size_t buf_used(const struct buf *b) { return b->len - b->start; }
static inline char *buf_head(const struct buf *b) { return b->data + b->start; }

/* Make room for at least n more bytes; returns a pointer to where they go. */
char *buf_reserve(struct buf *b, size_t n);
/* Declare n bytes written after buf_reserve. */
void buf_commit(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_appends(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop n bytes from the front. When the buffer empties its memory is freed. */
void buf_consume(struct buf *b, size_t n);
void buf_clear(struct buf *b);
void buf_free(struct buf *b);
/* Append n in decimal (what printf's %llu writes, without its cost). */
void buf_append_uint(struct buf *b, uint64_t n);
/* Append code point cp as UTF-8 (U+FFFD for a surrogate or above U+10FFFF). */
void buf_put_utf8(struct buf *b, uint32_t cp);

#endif
