/* `roost dkim keygen|list|record|sign`: the DKIM keys the outbound queue signs
 * with. keygen writes DATA/dkim/DOMAIN.SELECTOR.key (mode 0600, never over an
 * existing file) and prints the TXT record to publish; sign prints a message
 * with its signature (by the key of DOMAIN, or of the From domain as the queue
 * does) so that an administrator can test the record with any verifier before
 * mail depends on it. */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/priv.h"
#include "core/util.h"
#include "smtp/dkim.h"

#define DKIM_SIGN_MAX_MESSAGE (64u * 1024 * 1024)
#define TXT_STRING_MAX 255 /* one character-string of a TXT record (RFC 1035 3.3) */

/* SELECTOR._domainkey.DOMAIN. IN TXT "..." "...", one line, the value cut into
 * strings of at most 255 bytes (an RSA key does not fit in one). */
static void print_record(const struct dkim_key *k)
{
	struct buf txt = {0};
	dkim_key_txt(k, &txt);
	printf("%s._domainkey.%s. IN TXT", dkim_key_selector(k), dkim_key_domain(k));
	for (size_t i = 0; i < txt.len; i += TXT_STRING_MAX) {
		size_t n = txt.len - i < TXT_STRING_MAX ? txt.len - i : TXT_STRING_MAX;
		printf(" \"%.*s\"", (int)n, txt.data + i);
	}
	putchar('\n');
	buf_free(&txt);
}

static const char *type_name(const struct dkim_key *k)
{
	return dkim_key_alg(k) == DKIM_RSA_SHA256 ? "rsa" : "ed25519";
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		cli_error("cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat sb;
	if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		cli_error("%s: not a directory", path);
		return -1;
	}
	return 0;
}

static int dkim_keygen(const struct cli_args *a, const char *domain, const char *selector)
{
	enum dkim_alg alg = DKIM_RSA_SHA256;
	if (a->type != NULL) {
		if (strcmp(a->type, "ed25519") == 0) {
			alg = DKIM_ED25519_SHA256;
		} else if (strcmp(a->type, "rsa") != 0) {
			cli_error("dkim keygen: --type must be rsa or ed25519");
			return CLI_EXIT_USAGE;
		}
	}
	/* Root on a data directory of the server's user writes as that user,
	 * so the server can read the key. */
	const char *err = NULL;
	if (priv_match_data_owner(a->data_dir, &err) < 0) {
		cli_error("%s", err);
		return CLI_EXIT_FAIL;
	}
	char *dir = xasprintf("%s/%s", a->data_dir, DKIM_DIR);
	char *path = dkim_key_path(a->data_dir, domain, selector);
	struct dkim_key *k = NULL;
	int status = CLI_EXIT_FAIL;
	if (make_dir(a->data_dir) < 0 || make_dir(dir) < 0)
		goto out;
	if (access(path, F_OK) == 0) {
		cli_error("dkim keygen: %s already exists (remove it first, or pick another --selector)", path);
		goto out;
	}
	if (dkim_key_generate(alg, domain, selector, &k, &err) < 0 || dkim_key_write(k, path, &err) < 0) {
		cli_error("dkim keygen: %s: %s", path, err);
		goto out;
	}
	printf("; %s key written to %s\n", type_name(k), path);
	printf("; publish this record in the DNS zone of %s:\n", dkim_key_domain(k));
	print_record(k);
	status = CLI_EXIT_OK;
out:
	dkim_key_free(k);
	free(path);
	free(dir);
	return status;
}

/* The key named by --selector, or the one the queue would sign with. Returns
 * 0 or an exit status after printing why. */
static int find_key(const struct cli_args *a, const char *domain, const char *what, struct dkim_key **k)
{
	const char *err = NULL;
	if (a->selector != NULL) {
		char *path = dkim_key_path(a->data_dir, domain, a->selector);
		int rc = dkim_key_load(path, domain, a->selector, k, &err);
		free(path);
		if (rc < 0) {
			cli_error("dkim %s: %s", what, err);
			return CLI_EXIT_FAIL;
		}
		return 0;
	}
	int rc = dkim_key_for_domain(a->data_dir, domain, k, &err);
	if (rc == 1) {
		cli_error("dkim %s: no key for %s (roost dkim keygen %s makes one)", what, domain, domain);
		return CLI_EXIT_FAIL;
	}
	if (rc < 0) {
		cli_error("dkim %s: %s", what, err);
		return CLI_EXIT_FAIL;
	}
	return 0;
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

static int dkim_list(const struct cli_args *a)
{
	char *dir = xasprintf("%s/%s", a->data_dir, DKIM_DIR);
	DIR *d = opendir(dir);
	if (d == NULL) {
		int status = CLI_EXIT_OK; /* no directory: no keys */
		if (errno != ENOENT) {
			cli_error("cannot read %s: %s", dir, strerror(errno));
			status = CLI_EXIT_FAIL;
		}
		free(dir);
		return status;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < DKIM_MAX_KEY_FILES) {
		char *dom, *sel;
		if (!dkim_key_file_name(e->d_name, &dom, &sel))
			continue;
		free(dom);
		free(sel);
		names = xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_str);
	int status = CLI_EXIT_OK;
	for (size_t i = 0; i < n; i++) {
		char *dom, *sel, *path = xasprintf("%s/%s", dir, names[i]);
		dkim_key_file_name(names[i], &dom, &sel);
		struct dkim_key *k = NULL, *active = NULL;
		const char *err = NULL;
		if (dkim_key_load(path, dom, sel, &k, &err) < 0) {
			cli_error("%s: %s", path, err);
			status = CLI_EXIT_FAIL;
		} else {
			bool signing = dkim_key_for_domain(a->data_dir, dom, &active, &err) == 0 &&
				       strcmp(dkim_key_selector(active), sel) == 0;
			printf("%s\t%s\t%s\t%s\n", dkim_key_domain(k), sel, type_name(k), signing ? "signing" : "unused");
		}
		dkim_key_free(k);
		dkim_key_free(active);
		free(dom);
		free(sel);
		free(path);
		free(names[i]);
	}
	free(names);
	free(dir);
	return status;
}

/* All of stdin with bare LFs made CRLF and a CRLF at the end: the form the
 * message has on the wire, which is the form that is signed. */
static int read_message(struct buf *msg)
{
	char chunk[65536];
	char prev = '\0';
	for (;;) {
		ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			cli_error("dkim sign: reading the message: %s", strerror(errno));
			return CLI_EXIT_FAIL;
		}
		if (n == 0)
			break;
		/* Copy runs up to each bare LF, then CR LF for it. */
		size_t from = 0;
		for (size_t i = 0; i < (size_t)n; i++) {
			if (chunk[i] != '\n')
				continue;
			bool bare = i > 0 ? chunk[i - 1] != '\r' : prev != '\r';
			if (bare) {
				buf_append(msg, chunk + from, i - from);
				buf_append(msg, "\r", 1);
				from = i;
			}
		}
		buf_append(msg, chunk + from, (size_t)n - from);
		prev = chunk[n - 1];
		if (msg->len > DKIM_SIGN_MAX_MESSAGE) {
			cli_error("dkim sign: message larger than %u MB", DKIM_SIGN_MAX_MESSAGE / (1024 * 1024));
			return CLI_EXIT_DATAERR;
		}
	}
	if (msg->len > 0 && prev != '\n')
		buf_append(msg, "\r\n", 2);
	return 0;
}

static int dkim_sign_stdin(const struct cli_args *a, const char *domain)
{
	struct buf msg = {0}, out = {0};
	struct dkim_key *k = NULL;
	char *from_domain = NULL;
	int status = read_message(&msg);
	if (status != 0)
		goto out;
	if (domain == NULL) {
		from_domain = dkim_from_domain(msg.data, msg.len);
		if (from_domain == NULL) {
			cli_error("dkim sign: no domain in the message's From (or give DOMAIN)");
			status = CLI_EXIT_DATAERR;
			goto out;
		}
		domain = from_domain;
	}
	status = find_key(a, domain, "sign", &k);
	if (status != 0)
		goto out;
	const char *err = NULL;
	if (dkim_sign(k, msg.data, msg.len, time_now(), &out, &err) < 0) {
		cli_error("dkim sign: %s", err);
		status = CLI_EXIT_DATAERR;
	} else if (write_all(STDOUT_FILENO, out.data, out.len) < 0 ||
		   write_all(STDOUT_FILENO, msg.data, msg.len) < 0) {
		cli_error("dkim sign: writing the message: %s", strerror(errno));
		status = CLI_EXIT_FAIL;
	}
out:
	free(from_domain);
	buf_free(&msg);
	buf_free(&out);
	dkim_key_free(k);
	return status;
}

int cmd_dkim(const struct cli_args *a)
{
	if (a->n_pos == 0) {
		cli_error("dkim: expected keygen, list, record or sign (try roost dkim --help)");
		return CLI_EXIT_USAGE;
	}
	const char *action = a->pos[0];
	bool list = strcmp(action, "list") == 0;
	unsigned allowed = 0;
	if (strcmp(action, "keygen") == 0)
		allowed = OPT_SELECTOR | OPT_TYPE;
	else if (strcmp(action, "record") == 0 || strcmp(action, "sign") == 0)
		allowed = OPT_SELECTOR;
	else if (!list) {
		cli_error("dkim: unknown action '%s' (expected keygen, list, record or sign)", action);
		return CLI_EXIT_USAGE;
	}
	char what[32];
	snprintf(what, sizeof what, "dkim %s", action);
	if (cli_check_opts(a, what, allowed) < 0)
		return CLI_EXIT_USAGE;
	size_t want = list ? 1 : 2;
	bool sign = strcmp(action, "sign") == 0;
	if (a->n_pos < want && !(sign && a->n_pos == 1)) {
		cli_error("dkim %s: missing domain (try roost dkim --help)", action);
		return CLI_EXIT_USAGE;
	}
	if (a->n_pos > want) {
		cli_error("dkim %s: unexpected argument '%s'", action, a->pos[want]);
		return CLI_EXIT_USAGE;
	}
	const char *domain = a->n_pos > 1 ? a->pos[1] : NULL;
	if (domain != NULL && !dkim_valid_domain(domain)) {
		cli_error("dkim %s: invalid domain name '%s'", action, domain);
		return CLI_EXIT_USAGE;
	}
	if (a->selector != NULL && !dkim_valid_selector(a->selector)) {
		cli_error("dkim %s: invalid selector '%s' (one label of letters, digits and '-')", action, a->selector);
		return CLI_EXIT_USAGE;
	}
	/* The configuration is not used yet, but a bad --config or --set is
	 * still an error, as for every command. */
	struct config *cfg = cli_config(a);
	if (cfg == NULL)
		return CLI_EXIT_USAGE;
	config_free(cfg);

	if (list)
		return dkim_list(a);
	if (strcmp(action, "keygen") == 0)
		return dkim_keygen(a, domain, a->selector ? a->selector : DKIM_DEFAULT_SELECTOR);
	if (sign)
		return dkim_sign_stdin(a, domain);
	struct dkim_key *k = NULL;
	int status = find_key(a, domain, "record", &k);
	if (status == 0)
		print_record(k);
	dkim_key_free(k);
	return status;
}
