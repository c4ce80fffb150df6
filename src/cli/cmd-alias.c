/* `roost alias add|del|list`: addresses that deliver to accounts.
 *   roost alias add ADDRESS ACCOUNT...   ADDRESS is local@domain, or @domain
 *                                        for the domain's catch-all
 *   roost alias del ADDRESS [ACCOUNT]    one target, or the whole alias
 *   roost alias list                     "ADDRESS ACCOUNT" lines */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int alias_add(struct store *st, const char *address, const char *const *targets, size_t n)
{
	/* Every target must be an account now; a typo would drop mail later. */
	for (size_t i = 0; i < n; i++) {
		struct store_account acct;
		int rc = store_account_find(st, targets[i], &acct);
		if (rc == STORE_NOTFOUND) {
			cli_error("alias add: no such user: %s", targets[i]);
			return CLI_EXIT_FAIL;
		}
		if (rc != STORE_OK)
			return cli_store_error(rc, targets[i], false);
		store_account_clear(&acct);
	}
	for (size_t i = 0; i < n; i++) {
		int rc = store_alias_add(st, address, targets[i]);
		if (rc == STORE_EXISTS) {
			printf("alias %s already delivers to %s\n", address, targets[i]);
		} else if (rc == STORE_INVALID) {
			cli_error("alias add: invalid address '%s' (expected local@domain or @domain)", address);
			return CLI_EXIT_FAIL;
		} else if (rc != STORE_OK) {
			return cli_store_error(rc, address, false);
		} else {
			printf("added alias %s -> %s\n", address, targets[i]);
		}
	}
	return CLI_EXIT_OK;
}

static int alias_list(struct store *st)
{
	char **addresses, **targets;
	size_t n;
	int rc = store_alias_list(st, &addresses, &targets, &n);
	if (rc != STORE_OK)
		return cli_store_error(rc, "aliases", false);
	for (size_t i = 0; i < n; i++)
		printf("%s %s\n", addresses[i], targets[i]);
	store_strings_free(addresses, n);
	store_strings_free(targets, n);
	return CLI_EXIT_OK;
}

int cmd_alias(const struct cli_args *a)
{
	if (a->n_pos == 0) {
		cli_error("alias: expected add, del or list (try roost alias --help)");
		return CLI_EXIT_USAGE;
	}
	const char *action = a->pos[0];
	size_t min, max;
	if (strcmp(action, "list") == 0) {
		min = max = 0;
	} else if (strcmp(action, "add") == 0) {
		min = 2;
		max = CLI_MAX_ARGS;
	} else if (strcmp(action, "del") == 0) {
		min = 1;
		max = 2;
	} else {
		cli_error("alias: unknown action '%s' (expected add, del or list)", action);
		return CLI_EXIT_USAGE;
	}
	char what[32];
	snprintf(what, sizeof what, "alias %s", action);
	if (cli_check_opts(a, what, 0) < 0)
		return CLI_EXIT_USAGE;
	if (a->n_pos - 1 < min) {
		cli_error("alias %s: missing %s", action, a->n_pos == 1 && min > 0 ? "address" : "account");
		return CLI_EXIT_USAGE;
	}
	if (a->n_pos - 1 > max) {
		cli_error("alias %s: unexpected argument '%s'", action, a->pos[1 + max]);
		return CLI_EXIT_USAGE;
	}
	struct config *cfg;
	struct store *st;
	int open_status = cli_open(a, false, &cfg, &st);
	if (open_status != 0)
		return open_status;
	int status;
	if (min == 0) {
		status = alias_list(st);
	} else if (strcmp(action, "add") == 0) {
		status = alias_add(st, a->pos[1], a->pos + 2, a->n_pos - 2);
	} else {
		const char *target = a->n_pos == 3 ? a->pos[2] : NULL;
		int rc = store_alias_delete(st, a->pos[1], target);
		if (rc == STORE_NOTFOUND) {
			cli_error("alias del: no alias %s%s%s", a->pos[1], target ? " -> " : "", target ? target : "");
			status = CLI_EXIT_FAIL;
		} else if (rc != STORE_OK) {
			status = cli_store_error(rc, a->pos[1], false);
		} else {
			printf("deleted alias %s%s%s\n", a->pos[1], target ? " -> " : "", target ? target : "");
			status = CLI_EXIT_OK;
		}
	}
	cli_close(cfg, st);
	return status;
}
