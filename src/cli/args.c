/* The command line and the helpers around it: option parsing shared by every
 * subcommand (options may come before or after the command words, as
 * "--opt VALUE" or "--opt=VALUE"), configuration from --config and --set, store
 * opening and one-line error reports. Usage mistakes always exit 2. */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/auth.h"
#include "core/log.h"
#include "core/util.h"

struct opt_def {
	const char *name;
	enum cli_opt bit;
	bool takes_value;
};

static const struct opt_def opts[] = {
	{"data", OPT_DATA, true},
	{"config", OPT_CONFIG, true},
	{"set", OPT_SET, true},
	{"help", OPT_HELP, false},
	{"user", OPT_USER, true},
	{"mailbox", OPT_MAILBOX, true},
	{"hash", OPT_HASH, true},
	{"apop", OPT_APOP, false},
	{"selector", OPT_SELECTOR, true},
	{"type", OPT_TYPE, true},
};

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fputs("roost: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int push(const char ***arr, size_t *n, const char *s, const char *what)
{
	if (*n >= CLI_MAX_ARGS) {
		cli_error("too many %s", what);
		return -1;
	}
	*arr = xrealloc(*arr, (*n + 1) * sizeof **arr);
	(*arr)[(*n)++] = s;
	return 0;
}

static const struct opt_def *find_opt(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_LEN(opts); i++)
		if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

int cli_parse(int argc, char **argv, struct cli_args *a)
{
	memset(a, 0, sizeof *a);
	a->data_dir = CLI_DEFAULT_DATA;
	const char **pos = NULL;
	size_t n_pos = 0;
	bool only_pos = false;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (only_pos || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (push(&pos, &n_pos, arg, "arguments") < 0)
				goto fail;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (strcmp(arg, "-h") == 0) {
			a->help = true;
			a->seen |= OPT_HELP;
			continue;
		}
		if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
			a->version = true;
			continue;
		}
		if (arg[1] != '-') {
			cli_error("unknown option %s (try roost help)", arg);
			goto fail;
		}
		const char *name = arg + 2, *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const struct opt_def *o = find_opt(name, nlen);
		if (o == NULL) {
			cli_error("unknown option --%.*s (try roost help)", (int)nlen, name);
			goto fail;
		}
		const char *value = NULL;
		if (o->takes_value) {
			if (eq != NULL) {
				value = eq + 1;
			} else if (i + 1 < argc) {
				value = argv[++i];
			} else {
				cli_error("--%s needs a value", o->name);
				goto fail;
			}
		} else if (eq != NULL) {
			cli_error("--%s takes no value", o->name);
			goto fail;
		}
		if ((a->seen & o->bit) && o->bit != OPT_SET && o->bit != OPT_CONFIG && o->bit != OPT_HELP) {
			cli_error("--%s given twice", o->name);
			goto fail;
		}
		a->seen |= o->bit;
		switch (o->bit) {
		case OPT_DATA:
			if (value[0] == '\0') {
				cli_error("--data needs a directory");
				goto fail;
			}
			a->data_dir = value;
			break;
		case OPT_CONFIG:
			if (push(&a->configs, &a->n_configs, value, "--config options") < 0)
				goto fail;
			break;
		case OPT_SET:
			if (push(&a->sets, &a->n_sets, value, "--set options") < 0)
				goto fail;
			break;
		case OPT_HELP: a->help = true; break;
		case OPT_USER: a->user = value; break;
		case OPT_MAILBOX: a->mailbox = value; break;
		case OPT_HASH: a->hash = value; break;
		case OPT_APOP: a->apop = true; break;
		case OPT_SELECTOR: a->selector = value; break;
		case OPT_TYPE: a->type = value; break;
		}
	}
	a->pos_storage = pos;
	if (n_pos > 0) {
		a->command = pos[0];
		a->pos = pos + 1;
		a->n_pos = n_pos - 1;
	}
	return 0;
fail:
	free(pos);
	free(a->configs);
	free(a->sets);
	memset(a, 0, sizeof *a);
	return -1;
}

void cli_args_free(struct cli_args *a)
{
	free(a->pos_storage);
	free(a->configs);
	free(a->sets);
	memset(a, 0, sizeof *a);
}

int cli_check_opts(const struct cli_args *a, const char *what, unsigned allowed)
{
	unsigned extra = a->seen & ~(allowed | OPT_COMMON);
	for (size_t i = 0; i < ARRAY_LEN(opts); i++)
		if (extra & opts[i].bit) {
			cli_error("%s does not take --%s (try roost %s --help)", what, opts[i].name, a->command);
			return -1;
		}
	return 0;
}

struct config *cli_config(const struct cli_args *a)
{
	struct config *cfg = config_new();
	char *err = NULL;
	for (size_t i = 0; i < a->n_configs; i++)
		if (config_load_file(cfg, a->configs[i], &err) < 0)
			goto fail;
	for (size_t i = 0; i < a->n_sets; i++)
		if (config_set_arg(cfg, a->sets[i], &err) < 0)
			goto fail;
	/* Administrative commands stay quiet unless asked otherwise; serve sets
	 * its own level from the same key. */
	enum log_level level = LOG_WARN;
	if (config_is_set(cfg, "log.level"))
		log_parse_level(config_str(cfg, "log.level"), &level);
	log_set_level(level);
	return cfg;
fail:
	cli_error("%s", err);
	free(err);
	config_free(cfg);
	return NULL;
}

struct store *cli_store_open(const struct cli_args *a, const struct config *cfg, bool create)
{
	struct stat sb;
	if (!create) {
		if (stat(a->data_dir, &sb) < 0) {
			if (errno == ENOENT)
				cli_error("%s: no such data directory (roost user add creates it; or pass --data DIR)", a->data_dir);
			else
				cli_error("%s: %s", a->data_dir, strerror(errno));
			return NULL;
		}
		if (!S_ISDIR(sb.st_mode)) {
			cli_error("%s: not a directory", a->data_dir);
			return NULL;
		}
	}
	struct store *st = NULL;
	const char *err = "unknown error";
	if (store_open_sqlite(a->data_dir, config_bool(cfg, "store.group_commit"), &st, &err) != STORE_OK) {
		cli_error("cannot open the store in %s: %s", a->data_dir, err ? err : "unknown error");
		return NULL;
	}
	return st;
}

int cli_store_error(int rc, const char *what, bool tempfail)
{
	switch (rc) {
	case STORE_NOTFOUND:
		cli_error("%s: not found", what);
		return CLI_EXIT_FAIL;
	case STORE_EXISTS:
		cli_error("%s: already exists", what);
		return CLI_EXIT_FAIL;
	case STORE_INVALID:
		cli_error("%s: invalid name or argument", what);
		return CLI_EXIT_FAIL;
	default: {
		const char *e = store_last_error();
		cli_error("%s: store failure: %s", what, e && e[0] ? e : "unknown error");
		return tempfail ? CLI_EXIT_TEMPFAIL : CLI_EXIT_FAIL;
	}
	}
}

bool cli_valid_user_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0) {
		cli_error("empty user name");
		return false;
	}
	if (n > AUTH_MAX_USERNAME) {
		cli_error("user name longer than %d bytes", AUTH_MAX_USERNAME);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= ' ' || c == 0x7f) {
			cli_error("user name must not contain spaces or control characters");
			return false;
		}
	}
	return true;
}

int cli_open(const struct cli_args *a, bool create, struct config **cfg_r, struct store **st_r)
{
	*st_r = NULL;
	if ((*cfg_r = cli_config(a)) == NULL)
		return CLI_EXIT_USAGE;
	if ((*st_r = cli_store_open(a, *cfg_r, create)) == NULL) {
		config_free(*cfg_r);
		*cfg_r = NULL;
		return CLI_EXIT_FAIL;
	}
	return 0;
}

void cli_close(struct config *cfg, struct store *st)
{
	if (st != NULL)
		store_close(st);
	config_free(cfg);
}
