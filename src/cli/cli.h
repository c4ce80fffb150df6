/* Shared pieces of the `roost` program: the parsed command line, the exit
 * statuses, and helpers every subcommand uses to load the configuration, open
 * the store and report errors as one "roost: ..." line. */
#ifndef ROOST_CLI_H
#define ROOST_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/config.h"
#include "store/store.h"

/* Exit statuses. The sysexits ones are what MTAs expect of an MDA. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_DATAERR 65  /* EX_DATAERR: the message itself is unacceptable */
#define CLI_EXIT_NOUSER 67   /* EX_NOUSER */
#define CLI_EXIT_TEMPFAIL 75 /* EX_TEMPFAIL: try again later */

#define CLI_DEFAULT_DATA "./var"
#define CLI_MAX_ARGS 4096 /* positionals, --config and --set each */

/* Options; a command lists the ones it takes beyond the common ones. */
enum cli_opt {
	OPT_DATA = 1 << 0,
	OPT_CONFIG = 1 << 1,
	OPT_SET = 1 << 2,
	OPT_HELP = 1 << 3,
	OPT_USER = 1 << 4,
	OPT_MAILBOX = 1 << 5,
	OPT_HASH = 1 << 6,
	OPT_APOP = 1 << 7,
	OPT_SELECTOR = 1 << 8,
	OPT_TYPE = 1 << 9,
};
#define OPT_COMMON (OPT_DATA | OPT_CONFIG | OPT_SET | OPT_HELP)

struct cli_args {
	const char *command; /* first positional, or NULL */
	const char **pos;    /* the positionals after the command */
	size_t n_pos;
	const char *data_dir;
	const char *user;    /* --user */
	const char *mailbox; /* --mailbox */
	const char *hash;    /* --hash */
	const char *selector; /* --selector */
	const char *type;    /* --type */
	bool apop;
	bool help;
	bool version;
	unsigned seen;       /* enum cli_opt bits given */
	const char **configs;
	size_t n_configs;
	const char **sets;
	size_t n_sets;
	const char **pos_storage; /* the command and the positionals, for free() */
};

/* Parse argv (without argv[0]). Returns 0, or -1 after printing one usage
 * error line. Pointers point into argv; free with cli_args_free. */
int cli_parse(int argc, char **argv, struct cli_args *a);
void cli_args_free(struct cli_args *a);
/* Refuse options the command does not take (allowed is a mask of enum
 * cli_opt beyond OPT_COMMON). Returns 0 or -1 after printing the error. */
int cli_check_opts(const struct cli_args *a, const char *what, unsigned allowed);

/* Build the configuration: defaults, each --config file, then each --set.
 * NULL after printing "roost: FILE:LINE: reason". */
struct config *cli_config(const struct cli_args *a);

/* Open the store under the data directory. When create is false a missing
 * directory is an error rather than a new empty store. NULL after printing. */
struct store *cli_store_open(const struct cli_args *a, const struct config *cfg, bool create);

/* Both of the above for a command that works on the store: 0 with *cfg_r
 * and *st_r set, or the exit status (usage or failure) after printing why.
 * Release them with cli_close. */
int cli_open(const struct cli_args *a, bool create, struct config **cfg_r, struct store **st_r);
void cli_close(struct config *cfg, struct store *st);

/* Print "roost: " and the message on stderr (one line). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Report a failed store call about `what` as one line; returns the exit status
 * (1, or 75 for STORE_ERROR when tempfail is set). */
int cli_store_error(int rc, const char *what, bool tempfail);

/* Read a password: one line from stdin, or twice without echo from a
 * terminal. Returns an allocated string (wipe and free it) or NULL after
 * printing why. */
char *cli_read_password(void);
void cli_password_free(char *pw);

/* Login names as the CLI accepts them: 1..AUTH_MAX_USERNAME bytes, no spaces
 * or control characters. Prints the reason and returns false otherwise. */
bool cli_valid_user_name(const char *name);

/* Usage texts; the command names are the ones main() dispatches. */
void cli_usage(FILE *f);
/* Returns false when there is no such command. */
bool cli_command_help(FILE *f, const char *command);
void cli_config_help(FILE *f);

/* The subcommands; each returns the process exit status. */
int cmd_serve(const struct cli_args *a);
int cmd_user(const struct cli_args *a);
int cmd_mailbox(const struct cli_args *a);
int cmd_deliver(const struct cli_args *a);
int cmd_dkim(const struct cli_args *a);
int cmd_alias(const struct cli_args *a);
int cmd_help(const struct cli_args *a);
int cmd_queue(const struct cli_args *a);

/* The whole program behind main(). */
int cli_main(int argc, char **argv);

#endif
