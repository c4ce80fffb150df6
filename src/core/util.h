/* Small helpers every layer uses: allocation that either succeeds or ends the
 * process with a clear message, string helpers, and the monotonic/wall clocks.
 * Nothing here touches the network or the store. */
#ifndef ROOST_CORE_UTIL_H
#define ROOST_CORE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "roost: <message>" on stderr and exit(1). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Milliseconds since an arbitrary point (CLOCK_MONOTONIC) and seconds since the epoch. */
int64_t time_mono_ms(void);
int64_t time_now(void);
/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
int64_t days_from_civil(int64_t y, int m, int d);
/* Days in a month of a year (month 1..12). */
int days_in_month(int64_t y, int m);

/* ASCII case-insensitive comparisons that ignore the locale. */
bool str_ieq(const char *a, const char *b);
bool mem_ieq(const char *a, size_t alen, const char *b);
bool str_has_iprefix(const char *s, const char *prefix);

/* Parse a decimal unsigned number that must span the whole of [s, s+len) and not
 * exceed max. Returns false on anything else (sign, spaces, overflow, empty). */
bool parse_uint(const char *s, size_t len, uint64_t max, uint64_t *r);

/* Constant-time comparison of two byte strings of the same length. */
bool mem_eq_ct(const void *a, const void *b, size_t len);

/* Base64 (RFC 4648) with padding. decode returns -1 on invalid input. */
size_t base64_encoded_len(size_t len);
void base64_encode(const void *in, size_t len, char *out); /* NUL-terminates */
long base64_decode(const char *in, size_t len, unsigned char *out, size_t out_cap);

/* Well-formed UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
bool utf8_valid(const char *s, size_t len);
/* The code point of the UTF-8 sequence at s[0..len) (len >= 1) and its
 * length in *n_r; -1 (with *n_r = 1) when it is ill-formed, overlong, a
 * surrogate or above U+10FFFF. */
int32_t utf8_next(const unsigned char *s, size_t len, size_t *n_r);

/* Write all of buf to fd, retrying on EINTR/short writes. */
int write_all(int fd, const void *buf, size_t len);

#endif
