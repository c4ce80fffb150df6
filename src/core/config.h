/* The configuration: a fixed table of known keys, each with a type, a default
 * and a one-line meaning (docs/configuration.md lists the same table). Files are
 * "key = value" lines with # comments; --set KEY=VALUE overrides. An unknown key
 * or a bad value is an error that names file:line and the reason. */
#ifndef ROOST_CORE_CONFIG_H
#define ROOST_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

struct config *config_new(void);
void config_free(struct config *cfg);

/* Load a file. On error returns -1 and sets *error_r to an allocated
 * "FILE:LINE: reason" message (caller frees). */
int config_load_file(struct config *cfg, const char *path, char **error_r);
/* The same for text in memory; name stands for the file name in errors. */
int config_load_string(struct config *cfg, const char *name, const char *text, size_t len, char **error_r);
/* Apply one "KEY=VALUE" override. Same error convention. */
int config_set_arg(struct config *cfg, const char *arg, char **error_r);
/* Set a key programmatically; returns -1 with *error_r (static) on bad key/value. */
int config_set(struct config *cfg, const char *key, const char *value, const char **error_r);

/* Getters abort on an unknown key or a type mismatch (a programming error). */
const char *config_str(const struct config *cfg, const char *key);
bool config_bool(const struct config *cfg, const char *key);
int64_t config_int(const struct config *cfg, const char *key);
/* True when the key was set by a file or --set rather than left at its default. */
bool config_is_set(const struct config *cfg, const char *key);

/* Validate a value for a key without storing it (used for per-account settings). */
int config_check(const char *key, const char *value, const char **error_r);
bool config_parse_bool(const char *s, bool *r);

/* Iterate over the key table (for `roost help config` and the docs test). */
struct config_key_info {
	const char *key;
	const char *type;
	const char *def;
	const char *doc;
};
const struct config_key_info *config_keys(unsigned *n_r);

#endif
