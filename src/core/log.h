/* Logging: one line per event on stderr, "ts=... level=... event key=value...".
 * Callers put the session id in as `sid=` so that one grep follows a session.
 * Safe to call from any thread; each line is written with a single write(2). */
#ifndef ROOST_CORE_LOG_H
#define ROOST_CORE_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
int log_parse_level(const char *s, enum log_level *r);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An allocated copy of client-supplied text that cannot break a key=value
 * log line: spaces, controls, quotes and backslashes become '?'. */
char *log_safe_dup(const char *s, size_t len);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
