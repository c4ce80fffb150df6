/* `roost user add|del|list|passwd|set|show`: account administration. Passwords
 * come from stdin or a no-echo prompt, never from argv; they are stored only
 * as yescrypt hashes, plus the plaintext-equivalent APOP secret when the
 * administrator asks for it with --apop. Per-account settings are limited to
 * the POP3 keys that make sense per user and are validated like config. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "core/util.h"

/* Config keys an account may override. */
static const char *const account_keys[] = {"pop3.delete_mode", "pop3.delete_folder", "pop3.only_new", "quota.bytes"};

static bool account_key_allowed(const char *key)
{
	for (size_t i = 0; i < ARRAY_LEN(account_keys); i++)
		if (strcmp(key, account_keys[i]) == 0)
			return true;
	return false;
}

static int want_args(const struct cli_args *a, const char *action, size_t min, size_t max)
{
	size_t n = a->n_pos - 1;
	if (n < min) {
		cli_error("user %s: missing user name (try roost user --help)", action);
		return -1;
	}
	if (n > max) {
		cli_error("user %s: unexpected argument '%s'", action, a->pos[1 + max]);
		return -1;
	}
	return 0;
}

/* Find an account, printing the error; returns 0 or an exit status. */
static int find_account(struct store *st, const char *name, struct store_account *acct)
{
	int rc = store_account_find(st, name, acct);
	if (rc == STORE_OK)
		return 0;
	if (rc == STORE_NOTFOUND || rc == STORE_INVALID) {
		cli_error("no such user: %s", name);
		return CLI_EXIT_FAIL;
	}
	return cli_store_error(rc, name, false);
}

static int user_add(const struct cli_args *a, struct store *st, const char *name)
{
	char *hash = NULL, *pw = NULL;
	int status = CLI_EXIT_OK;
	/* Say so before asking for a password that would be thrown away. */
	struct store_account existing = {0};
	int rc = store_account_find(st, name, &existing);
	if (rc == STORE_OK) {
		store_account_clear(&existing);
		cli_error("user %s already exists", name);
		return CLI_EXIT_FAIL;
	}
	if (rc == STORE_ERROR)
		return cli_store_error(rc, name, false);
	if (a->hash != NULL) {
		hash = xstrdup(a->hash);
	} else {
		pw = cli_read_password();
		if (pw == NULL)
			return CLI_EXIT_FAIL;
		const char *err = NULL;
		hash = auth_hash_password(pw, &err);
		if (hash == NULL) {
			cli_error("%s", err);
			cli_password_free(pw);
			return CLI_EXIT_FAIL;
		}
	}
	int64_t id = 0;
	rc = store_account_create(st, name, hash, &id);
	if (rc == STORE_EXISTS) {
		cli_error("user %s already exists", name);
		status = CLI_EXIT_FAIL;
	} else if (rc == STORE_INVALID) {
		cli_error("invalid user name: %s", name);
		status = CLI_EXIT_FAIL;
	} else if (rc != STORE_OK) {
		status = cli_store_error(rc, name, false);
	} else if (a->apop) {
		rc = store_account_set_password(st, id, hash, pw);
		if (rc != STORE_OK)
			status = cli_store_error(rc, name, false);
	}
	if (status == CLI_EXIT_OK)
		printf("added user %s\n", name);
	cli_password_free(pw);
	free(hash);
	return status;
}

static int user_passwd(const struct cli_args *a, struct store *st, const char *name)
{
	struct store_account acct = {0};
	int status = find_account(st, name, &acct);
	if (status != 0)
		return status;
	char *pw = cli_read_password();
	if (pw == NULL) {
		store_account_clear(&acct);
		return CLI_EXIT_FAIL;
	}
	const char *err = NULL;
	char *hash = auth_hash_password(pw, &err);
	if (hash == NULL) {
		cli_error("%s", err);
		status = CLI_EXIT_FAIL;
	} else {
		/* Without --apop a new password also turns APOP off: the old
		 * secret would still be the old password. */
		int rc = store_account_set_password(st, acct.id, hash, a->apop ? pw : NULL);
		if (rc != STORE_OK)
			status = cli_store_error(rc, name, false);
		else
			printf("changed the password of %s%s\n", acct.name, a->apop ? " (APOP on)" : "");
	}
	free(hash);
	cli_password_free(pw);
	store_account_clear(&acct);
	return status;
}

static int user_set(const struct cli_args *a, struct store *st, const char *name)
{
	/* Check every KEY=VALUE before changing anything. */
	for (size_t i = 2; i < a->n_pos; i++) {
		const char *arg = a->pos[i], *eq = strchr(arg, '=');
		if (eq == NULL) {
			cli_error("user set: expected KEY=VALUE, got '%s'", arg);
			return CLI_EXIT_USAGE;
		}
		char *key = xstrndup(arg, (size_t)(eq - arg));
		const char *err = NULL;
		int bad = 0;
		if (!account_key_allowed(key)) {
			cli_error("user set: %s cannot be set per account (only pop3.delete_mode, pop3.delete_folder, pop3.only_new, quota.bytes)", key);
			bad = 1;
		} else if (eq[1] != '\0' && config_check(key, eq + 1, &err) < 0) {
			cli_error("user set: %s: %s", key, err);
			bad = 1;
		}
		free(key);
		if (bad)
			return CLI_EXIT_USAGE;
	}
	struct store_account acct = {0};
	int status = find_account(st, name, &acct);
	if (status != 0)
		return status;
	for (size_t i = 2; i < a->n_pos && status == 0; i++) {
		const char *arg = a->pos[i], *eq = strchr(arg, '=');
		char *key = xstrndup(arg, (size_t)(eq - arg));
		int rc = store_setting_set(st, acct.id, key, eq[1] != '\0' ? eq + 1 : NULL);
		if (rc == STORE_NOTFOUND && eq[1] == '\0')
			rc = STORE_OK; /* removing what is not there */
		if (rc != STORE_OK)
			status = cli_store_error(rc, key, false);
		free(key);
	}
	store_account_clear(&acct);
	return status;
}

static const char *scheme_name(const char *hash)
{
	static const struct { const char *prefix, *name; } names[] = {
		{"$y$", "yescrypt"}, {"$gy$", "gost-yescrypt"}, {"$7$", "scrypt"},
		{"$2b$", "bcrypt"}, {"$2y$", "bcrypt"}, {"$2a$", "bcrypt"},
		{"$6$", "sha512-crypt"}, {"$5$", "sha256-crypt"},
	};
	if (hash == NULL || hash[0] == '\0')
		return "none";
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (strncmp(hash, names[i].prefix, strlen(names[i].prefix)) == 0)
			return names[i].name;
	return "unsupported (cannot log in)";
}

static void print_time(const char *label, int64_t t)
{
	if (t <= 0) {
		printf("%s: never\n", label);
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	char when[64];
	gmtime_r(&tt, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s: %s\n", label, when);
}

static int user_show(const struct cli_args *a, struct store *st, const struct config *cfg, const char *name)
{
	struct store_account acct = {0};
	int status = find_account(st, name, &acct);
	if (status != 0)
		return status;
	printf("name: %s\n", acct.name);
	printf("id: %lld\n", (long long)acct.id);
	print_time("created", acct.created);
	printf("password: %s\n", scheme_name(acct.pwhash));
	printf("apop: %s\n", acct.apop_secret && acct.apop_secret[0] ? "on" : "off");
	print_time("pop3 first login", acct.pop3_first_login);
	for (size_t i = 0; i < ARRAY_LEN(account_keys) && status == 0; i++) {
		char *value = NULL;
		int rc = store_setting_get(st, acct.id, account_keys[i], &value);
		if (rc == STORE_OK)
			printf("%s = %s\n", account_keys[i], value);
		else if (rc == STORE_NOTFOUND)
			printf("%s = %s (default)\n", account_keys[i], config_str(cfg, account_keys[i]));
		else
			status = cli_store_error(rc, account_keys[i], false);
		free(value);
	}
	store_account_clear(&acct);
	return status;
}

static int user_list(struct store *st)
{
	char **names = NULL;
	size_t n = 0;
	int rc = store_account_list(st, &names, &n);
	if (rc != STORE_OK)
		return cli_store_error(rc, "listing users", false);
	for (size_t i = 0; i < n; i++)
		printf("%s\n", names[i]);
	store_strings_free(names, n);
	return CLI_EXIT_OK;
}

int cmd_user(const struct cli_args *a)
{
	if (a->n_pos == 0) {
		cli_error("user: expected add, del, list, passwd, set or show (try roost user --help)");
		return CLI_EXIT_USAGE;
	}
	const char *action = a->pos[0];
	unsigned allowed = 0;
	size_t min = 1, max = 1;
	bool create = false;
	if (strcmp(action, "add") == 0) {
		allowed = OPT_HASH | OPT_APOP;
		create = true;
	} else if (strcmp(action, "passwd") == 0) {
		allowed = OPT_APOP;
	} else if (strcmp(action, "list") == 0) {
		min = max = 0;
	} else if (strcmp(action, "set") == 0) {
		min = 2;
		max = CLI_MAX_ARGS;
	} else if (strcmp(action, "del") != 0 && strcmp(action, "show") != 0) {
		cli_error("user: unknown action '%s' (expected add, del, list, passwd, set or show)", action);
		return CLI_EXIT_USAGE;
	}
	char what[32];
	snprintf(what, sizeof what, "user %s", action);
	if (cli_check_opts(a, what, allowed) < 0 || want_args(a, action, min, max) < 0)
		return CLI_EXIT_USAGE;
	if (strcmp(action, "set") == 0 && a->n_pos < 3) {
		cli_error("user set: expected KEY=VALUE after the user name");
		return CLI_EXIT_USAGE;
	}
	if (a->hash != NULL && a->apop) {
		cli_error("user add: --apop needs the password itself, not --hash");
		return CLI_EXIT_USAGE;
	}
	if (a->hash != NULL && !auth_hash_supported(a->hash)) {
		cli_error("user add: --hash: not a complete crypt hash of a supported kind ($y$, $gy$, $7$, $2b$, $2y$, $6$, $5$)");
		return CLI_EXIT_USAGE;
	}
	const char *name = min > 0 ? a->pos[1] : NULL;
	if (name != NULL && !cli_valid_user_name(name))
		return CLI_EXIT_USAGE;

	struct config *cfg;
	struct store *st;
	int open_status = cli_open(a, create, &cfg, &st);
	if (open_status != 0)
		return open_status;
	int status;
	if (strcmp(action, "add") == 0) {
		status = user_add(a, st, name);
	} else if (strcmp(action, "del") == 0) {
		int rc = store_account_delete(st, name);
		if (rc == STORE_OK) {
			printf("deleted user %s\n", name);
			status = CLI_EXIT_OK;
		} else if (rc == STORE_NOTFOUND || rc == STORE_INVALID) {
			cli_error("no such user: %s", name);
			status = CLI_EXIT_FAIL;
		} else {
			status = cli_store_error(rc, name, false);
		}
	} else if (strcmp(action, "list") == 0) {
		status = user_list(st);
	} else if (strcmp(action, "passwd") == 0) {
		status = user_passwd(a, st, name);
	} else if (strcmp(action, "set") == 0) {
		status = user_set(a, st, name);
	} else {
		status = user_show(a, st, cfg, name);
	}
	cli_close(cfg, st);
	return status;
}
