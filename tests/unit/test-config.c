/* Unit tests for src/core/config.c: defaults, "key = value" files with comments
 * and quotes, the "FILE:LINE: reason" errors for unknown keys and bad values of
 * every type, and --set overrides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/util.h"
#include "test.h"

/* Write text to a fresh temporary file; returns its allocated path. */
static char *temp_file(const char *text)
{
	char *path = xstrdup("/tmp/roost-test-config-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0) {
		free(path);
		return NULL;
	}
	if (write_all(fd, text, strlen(text)) < 0) {
		close(fd);
		free(path);
		return NULL;
	}
	close(fd);
	return path;
}

/* Load text as a config file into cfg; returns the error ("" on success)
 * with the temporary path replaced by "FILE". */
static char *load_text(struct config *cfg, const char *text)
{
	char *path = temp_file(text);
	if (path == NULL)
		return xstrdup("cannot create a temporary file");
	char *err = NULL;
	int rc = config_load_file(cfg, path, &err);
	char *r;
	if (rc == 0) {
		r = xstrdup(err == NULL ? "" : "error set on success");
	} else if (err == NULL) {
		r = xstrdup("no error message");
	} else if (strncmp(err, path, strlen(path)) == 0) {
		r = xasprintf("FILE%s", err + strlen(path));
	} else {
		r = xasprintf("(wrong prefix) %s", err);
	}
	free(err);
	unlink(path);
	free(path);
	return r;
}

static void check_load(const char *text, const char *want, int line)
{
	struct config *cfg = config_new();
	char *got = load_text(cfg, text);
	if (strcmp(got, want) != 0) {
		char msg[512];
		snprintf(msg, sizeof msg, "load of line %d: got \"%s\", want \"%s\"", line, got, want);
		test_fail(__FILE__, line, msg);
	}
	free(got);
	config_free(cfg);
}
#define CHECK_LOAD(text, want) check_load(text, want, __LINE__)

TEST(defaults)
{
	struct config *cfg = config_new();
	bool root = geteuid() == 0;
	CHECK_EQ_STR(config_str(cfg, "server.user"), "roost");
	CHECK_EQ_STR(config_str(cfg, "log.level"), "info");
	CHECK_EQ_STR(config_str(cfg, "pop3.listen"), root ? "0.0.0.0:110" : "0.0.0.0:1110");
	CHECK_EQ_STR(config_str(cfg, "pop3s.listen"), root ? "0.0.0.0:995" : "0.0.0.0:1995");
	CHECK_EQ_STR(config_str(cfg, "imap.listen"), root ? "0.0.0.0:143" : "0.0.0.0:1143");
	CHECK_EQ_STR(config_str(cfg, "imaps.listen"), root ? "0.0.0.0:993" : "0.0.0.0:1993");
	CHECK_EQ_STR(config_str(cfg, "smtp.listen"), root ? "0.0.0.0:25" : "0.0.0.0:10025");
	CHECK_EQ_STR(config_str(cfg, "lmtp.listen"), root ? "127.0.0.1:24" : "127.0.0.1:10024");
	CHECK_EQ_STR(config_str(cfg, "pop3.delete_mode"), "expunge");
	CHECK_EQ_STR(config_str(cfg, "pop3.delete_folder"), "Trash");
	CHECK(!config_bool(cfg, "auth.allow_plaintext"));
	CHECK(config_bool(cfg, "store.group_commit"));
	CHECK(!config_bool(cfg, "pop3.only_new"));
	CHECK_EQ_INT(config_int(cfg, "auth.max_failures"), 10);
	CHECK_EQ_INT(config_int(cfg, "pop3.idle_timeout"), 600);
	CHECK_EQ_INT(config_int(cfg, "limits.connections"), 10000);
	CHECK(!config_is_set(cfg, "auth.max_failures"));
	CHECK(!config_is_set(cfg, "no.such.key"));
	config_free(cfg);
}

TEST(key_table_is_complete)
{
	unsigned n = 0;
	const struct config_key_info *k = config_keys(&n);
	CHECK(n >= 20);
	for (unsigned i = 0; i < n; i++) {
		CHECK(k[i].key != NULL && k[i].type != NULL && k[i].def != NULL);
		CHECK(k[i].doc != NULL && k[i].doc[0] != '\0');
		/* Every default passes its own check. */
		const char *err = NULL;
		CHECK_EQ_INT(config_check(k[i].key, k[i].def, &err), 0);
	}
}

TEST(file_loading)
{
	struct config *cfg = config_new();
	char *err = load_text(cfg,
			      "# a comment\n"
			      "\n"
			      "   # an indented comment\n"
			      "server.hostname = mail.example.com\n"
			      "\tauth.max_failures=3   \n"
			      "pop3.delete_folder = \"Deleted Items\"\n"
			      "pop3.listen = 127.0.0.1:1110, [::1]:1110\n"
			      "imap.listen =\n"
			      "auth.allow_plaintext = YES\r\n"
			      "pop3.only_new = on\n"
			      "store.group_commit = false\n"
			      "pop3.delete_mode = move");
	CHECK_EQ_STR(err, "");
	free(err);
	CHECK_EQ_STR(config_str(cfg, "server.hostname"), "mail.example.com");
	CHECK_EQ_INT(config_int(cfg, "auth.max_failures"), 3);
	CHECK_EQ_STR(config_str(cfg, "pop3.delete_folder"), "Deleted Items");
	CHECK_EQ_STR(config_str(cfg, "pop3.listen"), "127.0.0.1:1110, [::1]:1110");
	CHECK_EQ_STR(config_str(cfg, "imap.listen"), "");
	CHECK(config_bool(cfg, "auth.allow_plaintext"));
	CHECK(config_bool(cfg, "pop3.only_new"));
	CHECK(!config_bool(cfg, "store.group_commit"));
	CHECK_EQ_STR(config_str(cfg, "pop3.delete_mode"), "move");
	CHECK(config_is_set(cfg, "auth.max_failures"));
	CHECK(config_is_set(cfg, "imap.listen"));
	CHECK(!config_is_set(cfg, "log.level"));
	config_free(cfg);
}

TEST(quotes)
{
	struct config *cfg = config_new();
	char *err = load_text(cfg, "server.hostname = \"\"\ntls.cert = \"/etc/ssl/a b.pem\"\ntls.key = \"unbalanced\n");
	CHECK_EQ_STR(err, "");
	free(err);
	CHECK_EQ_STR(config_str(cfg, "server.hostname"), "");
	CHECK_EQ_STR(config_str(cfg, "tls.cert"), "/etc/ssl/a b.pem");
	/* Only a matching pair of quotes is removed. */
	CHECK_EQ_STR(config_str(cfg, "tls.key"), "\"unbalanced");
	config_free(cfg);
}

TEST(file_errors_name_file_and_line)
{
	CHECK_LOAD("# ok\nno.such.key = 1\n", "FILE:2: no.such.key: unknown key");
	CHECK_LOAD("server.hostname = a\n\njust words\n", "FILE:3: expected KEY = VALUE");
	CHECK_LOAD("auth.allow_plaintext = maybe\n", "FILE:1: auth.allow_plaintext: expected yes or no");
	CHECK_LOAD("auth.max_failures = 0\n", "FILE:1: auth.max_failures: expected a whole number from 1 to 1000000");
	CHECK_LOAD("auth.max_failures = -5\n", "FILE:1: auth.max_failures: expected a whole number from 1 to 1000000");
	CHECK_LOAD("auth.max_failures = 10x\n", "FILE:1: auth.max_failures: expected a whole number from 1 to 1000000");
	CHECK_LOAD("auth.max_failures = 99999999999999999999999\n",
		   "FILE:1: auth.max_failures: expected a whole number from 1 to 1000000");
	CHECK_LOAD("pop3.idle_timeout = 599\n", "FILE:1: pop3.idle_timeout: expected a whole number from 600 to 86400");
	CHECK_LOAD("log.level = loud\n", "FILE:1: log.level: expected one of debug|info|warn|error");
	CHECK_LOAD("log.level = INFO\n", "FILE:1: log.level: expected one of debug|info|warn|error");
	CHECK_LOAD("pop3.delete_mode = expung\n", "FILE:1: pop3.delete_mode: expected one of expunge|move");
	CHECK_LOAD("pop3.listen = 1110\n", "FILE:1: pop3.listen: expected a comma-separated list of ADDR:PORT");
	CHECK_LOAD("pop3.listen = 0.0.0.0:0\n", "FILE:1: pop3.listen: expected a comma-separated list of ADDR:PORT");
	CHECK_LOAD("pop3.listen = 0.0.0.0:65536\n", "FILE:1: pop3.listen: expected a comma-separated list of ADDR:PORT");
	CHECK_LOAD("pop3.listen = :110\n", "FILE:1: pop3.listen: expected a comma-separated list of ADDR:PORT");
	CHECK_LOAD("pop3.listen = ::1:110\n", "FILE:1: pop3.listen: expected a comma-separated list of ADDR:PORT");
	CHECK_LOAD("pop3.listen = 127.0.0.1:110,\n", "");
	CHECK_LOAD("pop3.listen = a:1,,b:2\n", "FILE:1: pop3.listen: expected a comma-separated list of ADDR:PORT");
	CHECK_LOAD("pop3s.listen = [::1]:995, localhost:995\n", "");
	CHECK_LOAD("lmtp.listen = /run/roost/lmtp, 127.0.0.1:24\n", "");
	CHECK_LOAD("lmtp.listen = relative/lmtp\n", "FILE:1: lmtp.listen: expected a comma-separated list of ADDR:PORT");
}

TEST(file_error_stops_at_first_bad_line)
{
	struct config *cfg = config_new();
	char *err = load_text(cfg, "auth.max_failures = 4\nbad line\nauth.max_failures = 5\n");
	CHECK_EQ_STR(err, "FILE:2: expected KEY = VALUE");
	free(err);
	CHECK_EQ_INT(config_int(cfg, "auth.max_failures"), 4);
	config_free(cfg);
}

TEST(line_too_long)
{
	size_t n = 10000;
	char *text = xmalloc(n + 64);
	strcpy(text, "server.hostname = ");
	memset(text + strlen(text), 'a', n);
	text[18 + n] = '\n';
	text[19 + n] = '\0';
	CHECK_LOAD(text, "FILE:1: line too long");
	free(text);
}

TEST(missing_file)
{
	struct config *cfg = config_new();
	char *err = NULL;
	CHECK_EQ_INT(config_load_file(cfg, "/nonexistent/roost.conf", &err), -1);
	CHECK(err != NULL && strncmp(err, "/nonexistent/roost.conf: ", 25) == 0);
	free(err);
	config_free(cfg);
}

TEST(set_overrides)
{
	struct config *cfg = config_new();
	char *ferr = load_text(cfg, "auth.max_failures = 4\npop3.listen = 127.0.0.1:1\n");
	CHECK_EQ_STR(ferr, "");
	free(ferr);
	char *err = NULL;
	CHECK_EQ_INT(config_set_arg(cfg, "auth.max_failures=7", &err), 0);
	CHECK_EQ_INT(config_int(cfg, "auth.max_failures"), 7);
	CHECK_EQ_INT(config_set_arg(cfg, "pop3.listen=", &err), 0);
	CHECK_EQ_STR(config_str(cfg, "pop3.listen"), "");
	/* Only the first '=' separates; the value may contain more. */
	CHECK_EQ_INT(config_set_arg(cfg, "server.hostname=a=b", &err), 0);
	CHECK_EQ_STR(config_str(cfg, "server.hostname"), "a=b");

	CHECK_EQ_INT(config_set_arg(cfg, "auth.max_failures", &err), -1);
	CHECK_EQ_STR(err, "--set auth.max_failures: expected KEY=VALUE");
	free(err);
	CHECK_EQ_INT(config_set_arg(cfg, "nope=1", &err), -1);
	CHECK_EQ_STR(err, "--set nope: unknown key");
	free(err);
	CHECK_EQ_INT(config_set_arg(cfg, "auth.allow_plaintext=perhaps", &err), -1);
	CHECK_EQ_STR(err, "--set auth.allow_plaintext: expected yes or no");
	free(err);
	CHECK_EQ_INT(config_set_arg(cfg, "pop3.listen=localhost", &err), -1);
	CHECK_EQ_STR(err, "--set pop3.listen: expected a comma-separated list of ADDR:PORT");
	free(err);
	/* A refused value leaves the old one. */
	CHECK_EQ_INT(config_int(cfg, "auth.max_failures"), 7);
	config_free(cfg);
}

TEST(set_and_check)
{
	struct config *cfg = config_new();
	const char *err = NULL;
	CHECK_EQ_INT(config_set(cfg, "pop3.only_new", "1", &err), 0);
	CHECK(config_bool(cfg, "pop3.only_new"));
	CHECK_EQ_INT(config_set(cfg, "pop3.only_new", "Off", &err), 0);
	CHECK(!config_bool(cfg, "pop3.only_new"));
	CHECK_EQ_INT(config_set(cfg, "unknown", "x", &err), -1);
	CHECK_EQ_STR(err, "unknown key");
	CHECK_EQ_INT(config_check("pop3.delete_mode", "move", &err), 0);
	CHECK_EQ_INT(config_check("pop3.delete_mode", "", &err), -1);
	CHECK_EQ_INT(config_check("pop3.delete_mode", "mov", &err), -1);
	CHECK_EQ_INT(config_check("pop3.delete_mode", "moved", &err), -1);
	CHECK_EQ_INT(config_check("server.workers", "256", &err), 0);
	CHECK_EQ_INT(config_check("server.workers", "257", &err), -1);
	CHECK_EQ_INT(config_check("server.workers", "", &err), -1);
	CHECK_EQ_INT(config_check("server.workers", " 1", &err), -1);
	config_free(cfg);
}

TEST(parse_bool)
{
	bool b;
	static const char *yes[] = {"yes", "YES", "true", "On", "1"};
	static const char *no[] = {"no", "False", "off", "0"};
	for (size_t i = 0; i < ARRAY_LEN(yes); i++)
		CHECK(config_parse_bool(yes[i], &b) && b);
	for (size_t i = 0; i < ARRAY_LEN(no); i++)
		CHECK(config_parse_bool(no[i], &b) && !b);
	CHECK(!config_parse_bool("", &b));
	CHECK(!config_parse_bool("y", &b));
	CHECK(!config_parse_bool("2", &b));
	CHECK(!config_parse_bool("yes ", &b));
}
