/* Unit tests for the storage API on the embedded SQLite backend: accounts,
 * settings, mailboxes, delivery, reading, expunge and move, notifications,
 * concurrency through the group-committing writer, and reopening. Each test
 * works in its own fresh temporary directory and removes it afterwards. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "test.h"

#include "core/buf.h"
#include "core/util.h"
#include "store/sqlite/sqlite-store.h"
#include "store/store.h"

/* --- helpers --- */

static int test_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void test_rmrf(const char *dir)
{
	nftw(dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *test_tmpdir(void)
{
	char *dir = xstrdup("/tmp/roost-test-store-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	return dir;
}

static struct store *test_open(const char *dir, bool group_commit)
{
	struct store *st = NULL;
	const char *err = NULL;
	int rc = store_open_sqlite(dir, group_commit, &st, &err);
	if (rc != STORE_OK) {
		fprintf(stderr, "store_open_sqlite(%s): %s\n", dir, err ? err : "?");
		exit(1);
	}
	return st;
}

static int64_t test_account(struct store *st, const char *name)
{
	int64_t id = 0;
	CHECK_EQ_INT(store_account_create(st, name, "$6$salt$hash", &id), STORE_OK);
	CHECK(id > 0);
	return id;
}

static int64_t test_mailbox_id(struct store *st, int64_t account, const char *name)
{
	struct store_mailbox m;
	int rc = store_mailbox_find(st, account, name, &m);
	CHECK_EQ_INT(rc, STORE_OK);
	int64_t id = m.id;
	store_mailbox_clear(&m);
	return id;
}

static uint32_t test_deliver1(struct store *st, int64_t account, int64_t mailbox, const char *text)
{
	struct store_target t = {.account_id = account, .mailbox_id = mailbox};
	CHECK_EQ_INT(store_deliver(st, text, strlen(text), &t, 1), STORE_OK);
	return t.uid_r;
}

/* Read a whole message through store_message_read in small slices. */
static char *test_read_all(struct store *st, int64_t account, int64_t message_id, size_t *len_r)
{
	struct buf b = {0};
	uint64_t off = 0;
	for (;;) {
		char *p = buf_reserve(&b, 7);
		size_t n = 0;
		int rc = store_message_read(st, account, message_id, off, p, 7, &n);
		if (rc != STORE_OK) {
			buf_free(&b);
			return NULL;
		}
		buf_commit(&b, n);
		off += n;
		if (n < 7)
			break;
	}
	*len_r = buf_used(&b);
	char *out = xstrndup(buf_head(&b), buf_used(&b));
	buf_free(&b);
	return out;
}

/* Run one integer query against the database file directly. */
static int64_t test_sql_int(const char *dir, const char *sql)
{
	char *path = xasprintf("%s/roost.db", dir);
	sqlite3 *db;
	int64_t v = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		sqlite3_stmt *s;
		if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
			if (sqlite3_step(s) == SQLITE_ROW)
				v = sqlite3_column_int64(s, 0);
			sqlite3_finalize(s);
		} else {
			fprintf(stderr, "sql error: %s\n", sqlite3_errmsg(db));
		}
	}
	sqlite3_close(db);
	free(path);
	return v;
}

/* --- backend-independent helpers --- */

TEST(crlf_normalise)
{
	size_t n;
	const char *in = "a\nb\r\nc\rd\n";
	const char *out = store_crlf_normalise(in, strlen(in), &n);
	CHECK_EQ_INT(n, 11);
	CHECK(memcmp(out, "a\r\nb\r\nc\rd\r\n", 11) == 0);
	free((char *)out);

	in = "\n\n";
	out = store_crlf_normalise(in, 2, &n);
	CHECK_EQ_INT(n, 4);
	CHECK(memcmp(out, "\r\n\r\n", 4) == 0);
	free((char *)out);

	in = "x\r\ny\r\n\r";
	out = store_crlf_normalise(in, strlen(in), &n);
	CHECK(out == in); /* nothing to change: no copy */
	CHECK_EQ_INT(n, strlen(in));
}

TEST(mailbox_names)
{
	char *norm;
	CHECK_EQ_INT(store_mailbox_name_normalise("inbox", &norm), STORE_OK);
	CHECK_EQ_STR(norm, "INBOX");
	free(norm);
	CHECK_EQ_INT(store_mailbox_name_normalise("InBoX/Sub", &norm), STORE_OK);
	CHECK_EQ_STR(norm, "INBOX/Sub");
	free(norm);
	CHECK_EQ_INT(store_mailbox_name_normalise("Inboxes", &norm), STORE_OK);
	CHECK_EQ_STR(norm, "Inboxes");
	free(norm);
	CHECK_EQ_INT(store_mailbox_name_normalise("Entw\xc3\xbc" "rfe/\xe2\x82\xac", &norm), STORE_OK);
	free(norm);
	const char *bad[] = {"", "/", "a/", "/a", "a//b", "a\tb", "a\x7f", "\xc3", "\xc0\xaf",
			     "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		CHECK_EQ_INT(store_mailbox_name_normalise(bad[i], &norm), STORE_INVALID);
		CHECK(norm == NULL);
	}
	char *longname = xmalloc(STORE_MAILBOX_NAME_MAX + 2);
	memset(longname, 'a', STORE_MAILBOX_NAME_MAX + 1);
	longname[STORE_MAILBOX_NAME_MAX + 1] = '\0';
	CHECK_EQ_INT(store_mailbox_name_normalise(longname, &norm), STORE_INVALID);
	longname[STORE_MAILBOX_NAME_MAX] = '\0';
	CHECK_EQ_INT(store_mailbox_name_normalise(longname, &norm), STORE_OK);
	free(norm);
	free(longname);
}

TEST(last_error_is_per_thread)
{
	store_set_error("first %d", 1);
	CHECK_EQ_STR(store_last_error(), "first 1");
}

/* --- accounts --- */

TEST(accounts)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);

	int64_t alice = test_account(st, "alice@example.com");
	int64_t bob = test_account(st, "Bob");
	CHECK(alice != bob);
	int64_t dup = 0;
	CHECK_EQ_INT(store_account_create(st, "ALICE@example.com", "x", &dup), STORE_EXISTS);
	CHECK_EQ_INT(store_account_create(st, "", "x", &dup), STORE_INVALID);
	CHECK_EQ_INT(store_account_create(st, "a b", "x", &dup), STORE_INVALID);
	CHECK_EQ_INT(store_account_create(st, "a\nb", "x", &dup), STORE_INVALID);
	CHECK_EQ_INT(store_account_create(st, "carol", NULL, &dup), STORE_INVALID);

	struct store_account a;
	CHECK_EQ_INT(store_account_find(st, "Alice@Example.COM", &a), STORE_OK);
	CHECK_EQ_INT(a.id, alice);
	CHECK_EQ_STR(a.name, "alice@example.com");
	CHECK_EQ_STR(a.pwhash, "$6$salt$hash");
	CHECK(a.apop_secret == NULL);
	CHECK(a.created > 0);
	CHECK_EQ_INT(a.pop3_first_login, 0);
	store_account_clear(&a);
	CHECK(a.name == NULL);
	CHECK_EQ_INT(store_account_find(st, "nobody", &a), STORE_NOTFOUND);

	char **names;
	size_t n;
	CHECK_EQ_INT(store_account_list(st, &names, &n), STORE_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_STR(names[0], "alice@example.com");
		CHECK_EQ_STR(names[1], "Bob");
	}
	store_strings_free(names, n);

	/* Every new account has INBOX and the special-use folders. */
	struct store_mailbox *mb;
	CHECK_EQ_INT(store_mailbox_list(st, bob, &mb, &n), STORE_OK);
	CHECK_EQ_INT(n, 6);
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		CHECK(mb[i].uidvalidity != 0);
		CHECK_EQ_INT(mb[i].uidnext, 1);
		CHECK_EQ_INT(mb[i].messages, 0);
		CHECK(mb[i].subscribed);
		if (strcmp(mb[i].name, "INBOX") == 0 && mb[i].special_use == NULL)
			found |= 1;
		if (strcmp(mb[i].name, "Trash") == 0 && mb[i].special_use && strcmp(mb[i].special_use, "\\Trash") == 0)
			found |= 2;
		if (strcmp(mb[i].name, "Archive") == 0 && mb[i].special_use &&
		    strcmp(mb[i].special_use, "\\Archive") == 0)
			found |= 4;
		for (size_t k = 0; k < i; k++) {
			CHECK(mb[k].uidvalidity != mb[i].uidvalidity);
			CHECK(mb[k].id != mb[i].id);
			CHECK(strcmp(mb[k].name, mb[i].name) < 0); /* sorted */
		}
	}
	CHECK_EQ_INT(found, 7);
	store_mailboxes_free(mb, n);

	/* Deleting an account removes its mail and frees unshared content. */
	int64_t inbox = test_mailbox_id(st, bob, "INBOX");
	test_deliver1(st, bob, inbox, "Subject: x\n\nhello\n");
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 1);
	CHECK_EQ_INT(store_account_delete(st, "BOB"), STORE_OK);
	CHECK_EQ_INT(store_account_delete(st, "bob"), STORE_NOTFOUND);
	CHECK_EQ_INT(store_account_find(st, "bob", &a), STORE_NOTFOUND);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 0);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM entries"), 0);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM mailboxes"), 6);
	/* A re-created account never reuses the old id. */
	int64_t bob2 = test_account(st, "bob");
	CHECK(bob2 != bob);

	store_close(st);
	test_rmrf(dir);
	free(dir);
}

TEST(aliases)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	test_account(st, "alice@example.com");
	test_account(st, "bob");

	CHECK_EQ_INT(store_alias_add(st, "Sales@Example.com", "alice@example.com"), STORE_OK);
	CHECK_EQ_INT(store_alias_add(st, "sales@example.com", "bob"), STORE_OK);
	CHECK_EQ_INT(store_alias_add(st, "SALES@example.com", "BOB"), STORE_EXISTS);
	CHECK_EQ_INT(store_alias_add(st, "@example.org", "bob"), STORE_OK);
	CHECK_EQ_INT(store_alias_add(st, "nodomain", "bob"), STORE_INVALID);
	CHECK_EQ_INT(store_alias_add(st, "a@", "bob"), STORE_INVALID);
	CHECK_EQ_INT(store_alias_add(st, "a@b@c", "bob"), STORE_INVALID);
	CHECK_EQ_INT(store_alias_add(st, "a b@c", "bob"), STORE_INVALID);
	CHECK_EQ_INT(store_alias_add(st, "x@c", ""), STORE_INVALID);

	char **t;
	size_t n;
	CHECK_EQ_INT(store_alias_targets(st, "sales@EXAMPLE.COM", &t, &n), STORE_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_STR(t[0], "alice@example.com");
		CHECK_EQ_STR(t[1], "bob");
	}
	store_strings_free(t, n);
	CHECK_EQ_INT(store_alias_targets(st, "nobody@example.com", &t, &n), STORE_NOTFOUND);
	CHECK_EQ_INT(n, 0);

	char **a;
	CHECK_EQ_INT(store_alias_list(st, &a, &t, &n), STORE_OK);
	CHECK_EQ_INT(n, 3);
	if (n == 3) {
		CHECK_EQ_STR(a[0], "@example.org");
		CHECK_EQ_STR(a[1], "Sales@Example.com");
		CHECK_EQ_STR(t[2], "bob");
	}
	store_strings_free(a, n);
	store_strings_free(t, n);

	/* Domains the store knows: of accounts and of aliases, any case. */
	CHECK_EQ_INT(store_domain_known(st, "EXAMPLE.com"), STORE_OK);
	CHECK_EQ_INT(store_domain_known(st, "example.org"), STORE_OK);
	CHECK_EQ_INT(store_domain_known(st, "example.net"), STORE_NOTFOUND);
	CHECK_EQ_INT(store_domain_known(st, "ample.com"), STORE_NOTFOUND);
	CHECK_EQ_INT(store_domain_known(st, "exampl_.com"), STORE_NOTFOUND); /* LIKE's _ is literal */
	CHECK_EQ_INT(store_domain_known(st, "%"), STORE_NOTFOUND);
	CHECK_EQ_INT(store_domain_known(st, ""), STORE_NOTFOUND);

	CHECK_EQ_INT(store_alias_delete(st, "sales@example.com", "Bob"), STORE_OK);
	CHECK_EQ_INT(store_alias_delete(st, "sales@example.com", "bob"), STORE_NOTFOUND);
	CHECK_EQ_INT(store_alias_delete(st, "@example.org", NULL), STORE_OK);
	CHECK_EQ_INT(store_domain_known(st, "example.org"), STORE_NOTFOUND);
	CHECK_EQ_INT(store_alias_targets(st, "sales@example.com", &t, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	store_strings_free(t, n);

	store_close(st);
	test_rmrf(dir);
	free(dir);
}

TEST(passwords_and_settings)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t id = test_account(st, "carol");

	CHECK_EQ_INT(store_account_set_password(st, id, "$y$new", "apop-secret"), STORE_OK);
	struct store_account a;
	CHECK_EQ_INT(store_account_find(st, "carol", &a), STORE_OK);
	CHECK_EQ_STR(a.pwhash, "$y$new");
	CHECK_EQ_STR(a.apop_secret, "apop-secret");
	store_account_clear(&a);
	CHECK_EQ_INT(store_account_set_password(st, id, "$y$newer", NULL), STORE_OK);
	CHECK_EQ_INT(store_account_find(st, "carol", &a), STORE_OK);
	CHECK_EQ_STR(a.pwhash, "$y$newer");
	CHECK(a.apop_secret == NULL);
	store_account_clear(&a);
	CHECK_EQ_INT(store_account_set_password(st, id + 1000, "$y$x", NULL), STORE_NOTFOUND);

	CHECK_EQ_INT(store_account_set_pop3_first_login(st, id, 1700000000, 42), STORE_OK);
	CHECK_EQ_INT(store_account_find(st, "carol", &a), STORE_OK);
	CHECK_EQ_INT(a.pop3_first_login, 1700000000);
	CHECK_EQ_INT(a.pop3_first_uid, 42);
	store_account_clear(&a);
	CHECK_EQ_INT(store_account_set_pop3_first_login(st, id + 1000, 1, 1), STORE_NOTFOUND);

	char *v = NULL;
	CHECK_EQ_INT(store_setting_get(st, id, "pop3.delete_mode", &v), STORE_NOTFOUND);
	CHECK(v == NULL);
	CHECK_EQ_INT(store_setting_set(st, id, "pop3.delete_mode", "keep"), STORE_OK);
	CHECK_EQ_INT(store_setting_get(st, id, "pop3.delete_mode", &v), STORE_OK);
	CHECK_EQ_STR(v, "keep");
	free(v);
	CHECK_EQ_INT(store_setting_set(st, id, "pop3.delete_mode", "delete"), STORE_OK);
	CHECK_EQ_INT(store_setting_get(st, id, "pop3.delete_mode", &v), STORE_OK);
	CHECK_EQ_STR(v, "delete");
	free(v);
	CHECK_EQ_INT(store_setting_set(st, id, "pop3.delete_mode", NULL), STORE_OK);
	CHECK_EQ_INT(store_setting_get(st, id, "pop3.delete_mode", &v), STORE_NOTFOUND);
	CHECK_EQ_INT(store_setting_set(st, id + 1000, "k", "v"), STORE_NOTFOUND);
	CHECK_EQ_INT(store_setting_set(st, id, "", "v"), STORE_INVALID);

	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* --- mailboxes --- */

TEST(mailboxes)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "dave");

	int64_t id = 0, id2 = 0;
	CHECK_EQ_INT(store_mailbox_create(st, acct, "Projects/Roost", NULL, &id), STORE_OK);
	CHECK(id > 0);
	CHECK_EQ_INT(store_mailbox_create(st, acct, "Projects/Roost", NULL, &id2), STORE_EXISTS);
	CHECK_EQ_INT(store_mailbox_create(st, acct, "inbox", NULL, &id2), STORE_EXISTS);
	CHECK_EQ_INT(store_mailbox_create(st, acct, "Flagged", "\\Flagged", &id2), STORE_OK);
	CHECK_EQ_INT(store_mailbox_create(st, acct, "Bad", "Flagged", &id2), STORE_INVALID);
	CHECK_EQ_INT(store_mailbox_create(st, acct + 1000, "X", NULL, &id2), STORE_NOTFOUND);
	const char *bad[] = {"", "a//b", "/a", "a/", "tab\there", "del\x7f", "\xff\xfe"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		CHECK_EQ_INT(store_mailbox_create(st, acct, bad[i], NULL, &id2), STORE_INVALID);

	struct store_mailbox m;
	CHECK_EQ_INT(store_mailbox_find(st, acct, "Projects/Roost", &m), STORE_OK);
	CHECK_EQ_INT(m.id, id);
	CHECK_EQ_INT(m.account_id, acct);
	CHECK_EQ_STR(m.name, "Projects/Roost");
	CHECK_EQ_INT(m.uidnext, 1);
	CHECK(m.uidvalidity != 0);
	uint32_t uv = m.uidvalidity;
	store_mailbox_clear(&m);
	CHECK_EQ_INT(store_mailbox_find(st, acct, "projects/roost", &m), STORE_NOTFOUND);
	CHECK_EQ_INT(store_mailbox_find(st, acct, "iNbOx", &m), STORE_OK);
	CHECK_EQ_STR(m.name, "INBOX");
	store_mailbox_clear(&m);
	CHECK_EQ_INT(store_mailbox_find(st, acct + 1000, "INBOX", &m), STORE_NOTFOUND);
	CHECK_EQ_INT(store_mailbox_find(st, acct, "Flagged", &m), STORE_OK);
	CHECK_EQ_STR(m.special_use, "\\Flagged");
	store_mailbox_clear(&m);

	struct store_mailbox *list;
	size_t n;
	CHECK_EQ_INT(store_mailbox_list(st, acct, &list, &n), STORE_OK);
	CHECK_EQ_INT(n, 8);
	store_mailboxes_free(list, n);

	/* INBOX stays; deleting a mailbox takes its entries and content along. */
	CHECK_EQ_INT(store_mailbox_delete(st, acct, "INBOX"), STORE_INVALID);
	CHECK_EQ_INT(store_mailbox_delete(st, acct, "inbox"), STORE_INVALID);
	CHECK_EQ_INT(store_mailbox_delete(st, acct, "Nope"), STORE_NOTFOUND);
	CHECK_EQ_INT(store_mailbox_delete(st, acct, "a//b"), STORE_INVALID);
	test_deliver1(st, acct, id, "one\n");
	uint32_t uid = test_deliver1(st, acct, id, "two\n");
	CHECK_EQ_INT(store_expunge(st, acct, id, &uid, 1), STORE_OK);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM tombstones"), 1);
	CHECK_EQ_INT(store_mailbox_delete(st, acct, "Projects/Roost"), STORE_OK);
	CHECK_EQ_INT(store_mailbox_find(st, acct, "Projects/Roost", &m), STORE_NOTFOUND);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 0);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM tombstones"), 0);

	/* Re-created under the same name: a new id and a new UIDVALIDITY. */
	CHECK_EQ_INT(store_mailbox_create(st, acct, "Projects/Roost", NULL, &id2), STORE_OK);
	CHECK(id2 != id);
	CHECK_EQ_INT(store_mailbox_find(st, acct, "Projects/Roost", &m), STORE_OK);
	CHECK(m.uidvalidity != uv);
	CHECK_EQ_INT(m.uidnext, 1);
	store_mailbox_clear(&m);

	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* --- delivery and reading --- */

/* ends_crlf tells whether the stored content ends with CRLF (or is empty), so
 * that POP3 knows its RETR size without reading the content; a move keeps it. */
TEST(entries_know_the_final_line_ending)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t a = test_account(st, "gil");
	int64_t inbox = test_mailbox_id(st, a, "INBOX");
	int64_t trash = test_mailbox_id(st, a, "Trash");
	const char *texts[] = {"A: b\r\n\r\nbody\r\n", "A: b\n\nbody\n", "A: b\r\n\r\nno newline", "A: b\r\n\r\nx\r"};
	const bool want[] = {true, true, false, false};
	for (size_t i = 0; i < 4; i++)
		test_deliver1(st, a, inbox, texts[i]);
	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, a, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 4);
	for (size_t i = 0; i < n && i < 4; i++)
		CHECK_EQ_INT(e[i].ends_crlf, want[i]);
	free(e);
	uint32_t uids[] = {2, 3};
	CHECK_EQ_INT(store_move(st, a, inbox, trash, uids, 2, NULL), STORE_OK);
	CHECK_EQ_INT(store_entries(st, a, trash, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK(e[0].ends_crlf);
		CHECK(!e[1].ends_crlf);
	}
	free(e);
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

TEST(deliver_and_read)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t eve = test_account(st, "eve");
	int64_t fred = test_account(st, "fred");
	int64_t eve_inbox = test_mailbox_id(st, eve, "INBOX");
	int64_t eve_sent = test_mailbox_id(st, eve, "Sent");
	int64_t fred_inbox = test_mailbox_id(st, fred, "INBOX");

	const char *msg = "Subject: hi\nX: y\r\n\nbody\rline\n";
	const char *want = "Subject: hi\r\nX: y\r\n\r\nbody\rline\r\n";
	struct store_target t[3] = {
		{.account_id = eve, .mailbox_id = eve_inbox, .flags = STORE_FLAG_SEEN, .internal_date = 1000},
		{.account_id = fred, .mailbox_id = fred_inbox},
		{.account_id = eve, .mailbox_id = eve_sent, .internal_date = 2000},
	};
	CHECK_EQ_INT(store_deliver(st, msg, strlen(msg), t, 3), STORE_OK);
	CHECK_EQ_INT(t[0].uid_r, 1);
	CHECK_EQ_INT(t[1].uid_r, 1);
	CHECK_EQ_INT(t[2].uid_r, 1);
	/* The content is stored once. */
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 1);

	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, eve, eve_inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	int64_t mid = e[0].message_id;
	CHECK_EQ_INT(e[0].uid, 1);
	CHECK_EQ_INT(e[0].size, strlen(want));
	CHECK_EQ_INT(e[0].flags, STORE_FLAG_SEEN);
	CHECK_EQ_INT(e[0].internal_date, 1000);
	CHECK(e[0].modseq > 0);
	CHECK(e[0].ends_crlf);
	free(e);
	CHECK_EQ_INT(store_entries(st, fred, fred_inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(e[0].message_id, mid);
	CHECK(e[0].internal_date >= time_now() - 5); /* 0 meant now */
	free(e);

	size_t len;
	char *got = test_read_all(st, eve, mid, &len);
	CHECK(got != NULL);
	CHECK_EQ_INT(len, strlen(want));
	CHECK(got && memcmp(got, want, len) == 0);
	free(got);

	/* Ranges: inside, straddling the end, at the end and past it. */
	char b[64];
	size_t got_n = 99;
	CHECK_EQ_INT(store_message_read(st, eve, mid, 9, b, 2, &got_n), STORE_OK);
	CHECK_EQ_INT(got_n, 2);
	CHECK(memcmp(b, "hi", 2) == 0);
	CHECK_EQ_INT(store_message_read(st, eve, mid, strlen(want) - 3, b, sizeof b, &got_n), STORE_OK);
	CHECK_EQ_INT(got_n, 3);
	CHECK(memcmp(b, "e\r\n", 3) == 0);
	CHECK_EQ_INT(store_message_read(st, eve, mid, strlen(want), b, sizeof b, &got_n), STORE_OK);
	CHECK_EQ_INT(got_n, 0);
	CHECK_EQ_INT(store_message_read(st, eve, mid, strlen(want) + 1000, b, sizeof b, &got_n), STORE_OK);
	CHECK_EQ_INT(got_n, 0);
	CHECK_EQ_INT(store_message_read(st, eve, mid, 0, b, 0, &got_n), STORE_OK);
	CHECK_EQ_INT(got_n, 0);
	/* Only accounts with an entry for the content may read it. */
	int64_t other = test_account(st, "mallory");
	CHECK_EQ_INT(store_message_read(st, other, mid, 0, b, sizeof b, &got_n), STORE_NOTFOUND);
	CHECK_EQ_INT(store_message_read(st, eve, mid + 1000, 0, b, sizeof b, &got_n), STORE_NOTFOUND);

	/* UIDs and modseqs increase; counters follow. */
	struct store_mailbox m;
	CHECK_EQ_INT(store_mailbox_find(st, eve, "INBOX", &m), STORE_OK);
	uint64_t modseq0 = m.highestmodseq;
	CHECK_EQ_INT(m.uidnext, 2);
	CHECK_EQ_INT(m.messages, 1);
	CHECK_EQ_INT(m.bytes, strlen(want));
	store_mailbox_clear(&m);
	uint32_t u2 = test_deliver1(st, eve, eve_inbox, "two\n");
	uint32_t u3 = test_deliver1(st, eve, eve_inbox, "three\n");
	CHECK_EQ_INT(u2, 2);
	CHECK_EQ_INT(u3, 3);
	CHECK_EQ_INT(store_mailbox_find(st, eve, "INBOX", &m), STORE_OK);
	CHECK(m.highestmodseq >= modseq0 + 2);
	CHECK_EQ_INT(m.uidnext, 4);
	CHECK_EQ_INT(m.messages, 3);
	CHECK_EQ_INT(m.bytes, strlen(want) + 5 + 7);
	store_mailbox_clear(&m);
	CHECK_EQ_INT(store_entries(st, eve, eve_inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 3);
	for (size_t i = 1; i < n; i++) {
		CHECK(e[i].uid > e[i - 1].uid);
		CHECK(e[i].modseq > e[i - 1].modseq);
	}
	free(e);

	/* All targets or none: a bad second target leaves the first untouched. */
	struct store_target bad[2] = {{.account_id = eve, .mailbox_id = eve_inbox},
				      {.account_id = eve, .mailbox_id = 999999}};
	CHECK_EQ_INT(store_deliver(st, "x\n", 2, bad, 2), STORE_NOTFOUND);
	CHECK_EQ_INT(store_mailbox_find(st, eve, "INBOX", &m), STORE_OK);
	CHECK_EQ_INT(m.uidnext, 4);
	CHECK_EQ_INT(m.messages, 3);
	store_mailbox_clear(&m);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 3);
	CHECK_EQ_INT(store_deliver(st, "x", 1, bad, 0), STORE_INVALID);
	/* Another account's mailbox id under this account is not found. */
	struct store_target cross = {.account_id = eve, .mailbox_id = fred_inbox};
	CHECK_EQ_INT(store_deliver(st, "x", 1, &cross, 1), STORE_NOTFOUND);
	CHECK_EQ_INT(store_entries(st, eve, fred_inbox, 0, &e, &n), STORE_NOTFOUND);

	/* An empty message is allowed and reads back as nothing. */
	struct store_target one = {.account_id = eve, .mailbox_id = eve_sent};
	CHECK_EQ_INT(store_deliver(st, "", 0, &one, 1), STORE_OK);

	store_close(st);
	test_rmrf(dir);
	free(dir);
}

TEST(entries_since)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "gina");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	for (int i = 0; i < 5; i++) {
		struct store_target t = {.account_id = acct, .mailbox_id = inbox, .internal_date = 100 * (i + 1)};
		CHECK_EQ_INT(store_deliver(st, "m\r\n", 3, &t, 1), STORE_OK);
	}
	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, acct, inbox, 300, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 3);
	if (n == 3) {
		CHECK_EQ_INT(e[0].uid, 3);
		CHECK_EQ_INT(e[0].internal_date, 300);
		CHECK_EQ_INT(e[2].uid, 5);
	}
	free(e);
	CHECK_EQ_INT(store_entries(st, acct, inbox, 501, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 0);
	free(e);
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 5);
	free(e);
	/* By UID range. */
	CHECK_EQ_INT(store_entries_range(st, acct, inbox, 2, 4, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 3);
	if (n == 3) {
		CHECK_EQ_INT(e[0].uid, 2);
		CHECK_EQ_INT(e[2].uid, 4);
	}
	free(e);
	CHECK_EQ_INT(store_entries_range(st, acct, inbox, 5, UINT32_MAX, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	free(e);
	CHECK_EQ_INT(store_entries_range(st, acct, inbox, 6, 9, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 0);
	free(e);
	CHECK_EQ_INT(store_entries_range(st, acct, 31337, 1, 9, &e, &n), STORE_NOTFOUND);
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* A snapshot always equals what store_entries reads, after flag changes,
 * expunges and deliveries, whether it was kept (large) or not (small). */
static void check_snapshot(struct store *st, int64_t acct, int64_t mb)
{
	struct store_snapshot *snap = NULL;
	CHECK_EQ_INT(store_snapshot_get(st, acct, mb, 0, &snap), STORE_OK);
	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, acct, mb, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(snap->n, n);
	bool same = snap->n == n;
	for (size_t i = 0; same && i < n; i++)
		same = e[i].uid == snap->e[i].uid && e[i].flags == snap->e[i].flags &&
		       e[i].keywords == snap->e[i].keywords && e[i].message_id == snap->e[i].message_id;
	CHECK(same);
	free(e);
	store_snapshot_put(snap);
}

TEST(snapshots_follow_changes)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "sam");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	int64_t junk = test_mailbox_id(st, acct, "Junk");
	enum { N = 1200 };
	struct store_target t[N];
	for (int i = 0; i < N; i++)
		t[i] = (struct store_target){.account_id = acct, .mailbox_id = inbox};
	/* One delivery per target keeps this quick: all share one message. */
	CHECK_EQ_INT(store_deliver(st, "m\r\n", 3, t, N), STORE_OK);
	test_deliver1(st, acct, junk, "small\r\n");
	check_snapshot(st, acct, inbox);
	check_snapshot(st, acct, junk);
	uint32_t uids[] = {1, 5, 600, 1200};
	const char *kw[] = {"$Work"};
	struct store_flag_change ch = {.mode = STORE_FLAGS_ADD, .flags = STORE_FLAG_SEEN, .keywords = kw, .n_keywords = 1};
	struct store_flag_result r = {0};
	CHECK_EQ_INT(store_flags_update(st, acct, inbox, uids, 4, &ch, &r), STORE_OK);
	store_flag_result_clear(&r);
	check_snapshot(st, acct, inbox);
	uint32_t gone[] = {5, 7, 1199};
	CHECK_EQ_INT(store_expunge(st, acct, inbox, gone, 3), STORE_OK);
	test_deliver1(st, acct, inbox, "late\r\n");
	uint32_t mv[] = {2};
	CHECK_EQ_INT(store_move(st, acct, inbox, junk, mv, 1, NULL), STORE_OK);
	check_snapshot(st, acct, inbox);
	check_snapshot(st, acct, junk);
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

TEST(large_message)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "hugo");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	size_t len = 20u << 20;
	char *data = xmalloc(len);
	for (size_t i = 0; i < len; i++)
		data[i] = (i % 100 == 98) ? '\r' : (i % 100 == 99) ? '\n' : (char)('a' + i % 26);
	struct store_target t = {.account_id = acct, .mailbox_id = inbox};
	CHECK_EQ_INT(store_deliver(st, data, len, &t, 1), STORE_OK);
	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(e[0].size, len);
	int64_t mid = e[0].message_id;
	free(e);
	/* Stream it in 64 KB slices, as a RETR or FETCH would. */
	size_t chunk = 64 << 10, off = 0, bad = 0;
	char *b = xmalloc(chunk);
	int64_t t0 = time_mono_ms();
	for (;;) {
		size_t got = 0;
		CHECK_EQ_INT(store_message_read(st, acct, mid, off, b, chunk, &got), STORE_OK);
		if (memcmp(b, data + off, got) != 0)
			bad++;
		off += got;
		if (got < chunk)
			break;
	}
	printf("# read 20 MB in 64 KB slices: %lld ms\n", (long long)(time_mono_ms() - t0));
	CHECK_EQ_INT(off, len);
	CHECK_EQ_INT(bad, 0);
	free(b);
	free(data);
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* A message being streamed stays readable until its end even if expunged
 * meanwhile (its open blob keeps the snapshot); any other read on the thread
 * lets go of that snapshot and sees the present. */
TEST(read_snapshot_is_released)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "rita");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	uint32_t uid = test_deliver1(st, acct, inbox, "0123456789abcdefghij\n");
	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	int64_t mid = n ? e[0].message_id : 0;
	free(e);
	char b[16];
	size_t got;
	CHECK_EQ_INT(store_message_read(st, acct, mid, 0, b, 10, &got), STORE_OK);
	CHECK_EQ_INT(got, 10);
	CHECK_EQ_INT(store_expunge(st, acct, inbox, &uid, 1), STORE_OK);
	CHECK_EQ_INT(store_message_read(st, acct, mid, 10, b, 5, &got), STORE_OK);
	CHECK_EQ_INT(got, 5);
	CHECK(memcmp(b, "abcde", 5) == 0);
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 0);
	free(e);
	CHECK_EQ_INT(store_message_read(st, acct, mid, 15, b, 5, &got), STORE_NOTFOUND);

	/* Reading to the end keeps the snapshot for the next message (a burst
	 * of RETRs costs one read transaction); releasing the thread ends it. */
	uid = test_deliver1(st, acct, inbox, "short\n");
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	mid = n ? e[0].message_id : 0;
	free(e);
	CHECK_EQ_INT(store_message_read(st, acct, mid, 0, b, sizeof b, &got), STORE_OK);
	CHECK_EQ_INT(got, 7);
	CHECK_EQ_INT(store_expunge(st, acct, inbox, &uid, 1), STORE_OK);
	CHECK_EQ_INT(store_message_read(st, acct, mid, 0, b, sizeof b, &got), STORE_OK);
	store_release_thread(st);
	CHECK_EQ_INT(store_message_read(st, acct, mid, 0, b, sizeof b, &got), STORE_NOTFOUND);
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

TEST(two_targets_in_one_mailbox)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "sam");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	struct store_target t[2] = {{.account_id = acct, .mailbox_id = inbox},
				    {.account_id = acct, .mailbox_id = inbox}};
	CHECK_EQ_INT(store_deliver(st, "dup\n", 4, t, 2), STORE_OK);
	CHECK_EQ_INT(t[0].uid_r, 1);
	CHECK_EQ_INT(t[1].uid_r, 2);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 1);
	/* Expunging one copy keeps the content for the other. */
	CHECK_EQ_INT(store_expunge(st, acct, inbox, &t[0].uid_r, 1), STORE_OK);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 1);
	CHECK_EQ_INT(store_expunge(st, acct, inbox, &t[1].uid_r, 1), STORE_OK);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 0);
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* --- expunge and move --- */

TEST(expunge)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "ida");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	int64_t archive = test_mailbox_id(st, acct, "Archive");

	/* Message A is in INBOX and Archive; B and C only in INBOX. */
	struct store_target t[2] = {{.account_id = acct, .mailbox_id = inbox},
				    {.account_id = acct, .mailbox_id = archive}};
	CHECK_EQ_INT(store_deliver(st, "A\n", 2, t, 2), STORE_OK);
	uint32_t ua = t[0].uid_r;
	uint32_t ub = test_deliver1(st, acct, inbox, "B\n");
	uint32_t uc = test_deliver1(st, acct, inbox, "C\n");
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 3);

	struct store_mailbox m;
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	uint64_t before = m.highestmodseq;
	store_mailbox_clear(&m);

	uint32_t gone[] = {ua, ub, 777, ub};
	CHECK_EQ_INT(store_expunge(st, acct, inbox, gone, ARRAY_LEN(gone)), STORE_OK);
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	CHECK_EQ_INT(m.highestmodseq, before + 1);
	CHECK_EQ_INT(m.messages, 1);
	CHECK_EQ_INT(m.bytes, 3);
	CHECK_EQ_INT(m.uidnext, 4);
	store_mailbox_clear(&m);
	char *q = xasprintf("SELECT count(*) FROM tombstones WHERE mailbox_id = %lld AND modseq = %llu",
			    (long long)inbox, (unsigned long long)before + 1);
	CHECK_EQ_INT(test_sql_int(dir, q), 2);
	free(q);
	/* A survives (Archive still has it), B is freed. */
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 2);
	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(e[0].uid, uc);
	free(e);
	CHECK_EQ_INT(store_entries(st, acct, archive, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	char b[8];
	size_t got;
	CHECK_EQ_INT(store_message_read(st, acct, e[0].message_id, 0, b, sizeof b, &got), STORE_OK);
	CHECK_EQ_INT(got, 3);
	uint32_t ua2 = e[0].uid;
	int64_t mida = e[0].message_id;
	free(e);
	CHECK_EQ_INT(store_expunge(st, acct, archive, &ua2, 1), STORE_OK);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 1);
	store_release_thread(st);
	CHECK_EQ_INT(store_message_read(st, acct, mida, 0, b, sizeof b, &got), STORE_NOTFOUND);

	/* Nothing present: no change, no new modseq. */
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	before = m.highestmodseq;
	store_mailbox_clear(&m);
	CHECK_EQ_INT(store_expunge(st, acct, inbox, gone, 2), STORE_OK);
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	CHECK_EQ_INT(m.highestmodseq, before);
	store_mailbox_clear(&m);
	CHECK_EQ_INT(store_expunge(st, acct, 424242, gone, 2), STORE_NOTFOUND);

	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* Wait (at most 5 s) until a count reaches want: the writer frees kept
 * entries in the background. */
static int64_t test_sql_wait(const char *dir, const char *sql, int64_t want)
{
	int64_t v = test_sql_int(dir, sql);
	for (int i = 0; i < 250 && v != want; i++) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
		v = test_sql_int(dir, sql);
	}
	return v;
}

TEST(pins_keep_expunged_until_told)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "pia");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	uint32_t ua = test_deliver1(st, acct, inbox, "first\n");
	uint32_t ub = test_deliver1(st, acct, inbox, "second\n");
	uint32_t flag[] = {ua};
	struct store_flag_change fc = {.mode = STORE_FLAGS_ADD, .flags = STORE_FLAG_FLAGGED};
	struct store_flag_result fr = {0};
	CHECK_EQ_INT(store_flags_update(st, acct, inbox, flag, 1, &fc, &fr), STORE_OK);
	store_flag_result_clear(&fr);
	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 2);
	int64_t mida = e[0].message_id;
	free(e);
	struct store_mailbox m;
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	uint64_t seen_modseq = m.highestmodseq;
	store_mailbox_clear(&m);

	/* Session 1 shows INBOX as of seen_modseq; session 2 is about to
	 * select something (every mailbox pinned at 0). */
	struct store_pin p1 = {0}, p2 = {0};
	store_pin_add(st, &p1, acct, 0);
	store_pin_set(&p1, inbox, seen_modseq);
	CHECK_EQ_INT(store_pins_horizon(st, acct, inbox, NULL, 0), seen_modseq);
	store_pin_add(st, &p2, acct, 0);
	CHECK_EQ_INT(store_pins_horizon(st, acct, inbox, NULL, 0), 0);
	store_pin_remove(&p2);
	store_pin_remove(&p2); /* twice is harmless */
	CHECK_EQ_INT(store_pins_horizon(st, acct + 1, inbox, NULL, 0), UINT64_MAX);

	CHECK_EQ_INT(store_expunge(st, acct, inbox, &ua, 1), STORE_OK);
	/* Gone from the mailbox, still there for the session. */
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(e[0].uid, ub);
	free(e);
	CHECK_EQ_INT(store_kept_entries(st, acct, inbox, 1, 100, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1) {
		CHECK_EQ_INT(e[0].uid, ua);
		CHECK_EQ_INT(e[0].message_id, mida);
		CHECK_EQ_INT(e[0].size, 7);
		CHECK(e[0].flags & STORE_FLAG_FLAGGED);
	}
	free(e);
	size_t len = 0;
	char *text = test_read_all(st, acct, mida, &len);
	CHECK(text != NULL && len == 7 && memcmp(text, "first\r\n", 7) == 0);
	free(text);
	struct mime_info info;
	CHECK_EQ_INT(store_message_info(st, acct, mida, false, &info), STORE_OK);
	CHECK(info.envelope != NULL);
	mime_info_clear(&info);
	/* Another account never reads it. */
	int64_t other = test_account(st, "quinn");
	char b[8];
	size_t got;
	CHECK_EQ_INT(store_message_read(st, other, mida, 0, b, sizeof b, &got), STORE_NOTFOUND);
	/* Still kept a while later: the pin has not moved. */
	struct timespec pause = {0, 400 * 1000 * 1000};
	nanosleep(&pause, NULL);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 2);

	/* The session has told its client: the writer frees it by itself. */
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	store_pin_set(&p1, inbox, m.highestmodseq);
	store_mailbox_clear(&m);
	CHECK_EQ_INT(test_sql_wait(dir, "SELECT count(*) FROM messages", 1), 1);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM expunged"), 0);
	CHECK_EQ_INT(store_kept_entries(st, acct, inbox, 1, 100, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 0);
	free(e);
	store_release_thread(st);
	CHECK_EQ_INT(store_message_read(st, acct, mida, 0, b, sizeof b, &got), STORE_NOTFOUND);

	/* The holder's own expunge, which it reports itself, is not kept for
	 * it; another one made meanwhile is. */
	uint32_t uc = test_deliver1(st, acct, inbox, "third\n");
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	store_pin_set(&p1, inbox, m.highestmodseq);
	store_mailbox_clear(&m);
	uint32_t own[] = {ub};
	store_pin_exempt(&p1, own, 1);
	CHECK_EQ_INT(store_pins_horizon(st, acct, inbox, own, 1), UINT64_MAX);
	CHECK_EQ_INT(store_expunge(st, acct, inbox, &uc, 1), STORE_OK); /* another session's */
	CHECK_EQ_INT(store_expunge(st, acct, inbox, own, 1), STORE_OK);
	store_pin_exempt(&p1, NULL, 0);
	CHECK_EQ_INT(store_kept_entries(st, acct, inbox, 1, 100, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_INT(e[0].uid, uc);
	free(e);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 1);
	/* No pin at all: an expunge frees at once. */
	store_pin_remove(&p1);
	CHECK_EQ_INT(test_sql_wait(dir, "SELECT count(*) FROM messages", 0), 0);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM expunged"), 0);
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

TEST(kept_entries_outlive_a_restart_only_until_the_server_starts)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "rae");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	int64_t archive = test_mailbox_id(st, acct, "Archive");
	uint32_t u = test_deliver1(st, acct, inbox, "kept\n");
	uint32_t v = test_deliver1(st, acct, archive, "other\n");
	struct store_pin p = {0};
	store_pin_add(st, &p, acct, 0);
	CHECK_EQ_INT(store_expunge(st, acct, inbox, &u, 1), STORE_OK);
	/* A move leaves a kept entry in the source; the content stays with
	 * the destination's entry whatever happens to it. */
	CHECK_EQ_INT(store_move(st, acct, archive, inbox, &v, 1, NULL), STORE_OK);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM expunged"), 2);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 2);
	/* The process ends with the pin still held (as if it died). */
	store_pin_remove(&p);
	store_close(st);

	/* A CLI process does not touch them ... */
	st = test_open(dir, true);
	struct timespec pause = {0, 400 * 1000 * 1000};
	nanosleep(&pause, NULL);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM expunged"), 2);
	/* ... the next server frees them. */
	const char *err = NULL;
	CHECK_EQ_INT(store_listen_external(st, &err), STORE_OK);
	CHECK_EQ_INT(test_sql_wait(dir, "SELECT count(*) FROM expunged", 0), 0);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 1);

	/* Deleting a mailbox takes its kept entries and their content along. */
	uint32_t w = test_deliver1(st, acct, archive, "doomed\n");
	store_pin_add(st, &p, acct, 0);
	CHECK_EQ_INT(store_expunge(st, acct, archive, &w, 1), STORE_OK);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM expunged"), 1);
	CHECK_EQ_INT(store_mailbox_delete(st, acct, "Archive"), STORE_OK);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM expunged"), 0);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 1);
	store_pin_remove(&p);
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

TEST(move)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "jon");
	int64_t other = test_account(st, "kim");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	int64_t trash = test_mailbox_id(st, acct, "Trash");
	int64_t other_inbox = test_mailbox_id(st, other, "INBOX");

	test_deliver1(st, acct, trash, "already here\n");
	struct store_target t = {.account_id = acct, .mailbox_id = inbox, .flags = STORE_FLAG_FLAGGED,
				 .internal_date = 4242};
	uint32_t u[3];
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(store_deliver(st, "msg\n", 4, &t, 1), STORE_OK);
		u[i] = t.uid_r;
	}
	struct store_entry *before;
	size_t nb;
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &before, &nb), STORE_OK);
	struct store_mailbox m;
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	uint64_t inbox_modseq = m.highestmodseq;
	store_mailbox_clear(&m);
	CHECK_EQ_INT(store_mailbox_find(st, acct, "Trash", &m), STORE_OK);
	uint64_t trash_modseq = m.highestmodseq;
	store_mailbox_clear(&m);

	uint32_t mv[] = {u[2], u[0]};
	CHECK_EQ_INT(store_move(st, acct, inbox, trash, mv, 2, NULL), STORE_OK);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 4); /* content kept */

	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(e[0].uid, u[1]);
	free(e);
	CHECK_EQ_INT(store_entries(st, acct, trash, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 3);
	if (n == 3) {
		/* New UIDs after the existing one, in source UID order, same content
		 * and flags, and the target's new modseq. */
		CHECK_EQ_INT(e[1].uid, 2);
		CHECK_EQ_INT(e[2].uid, 3);
		CHECK_EQ_INT(e[1].message_id, before[0].message_id);
		CHECK_EQ_INT(e[2].message_id, before[2].message_id);
		CHECK_EQ_INT(e[1].flags, STORE_FLAG_FLAGGED);
		CHECK_EQ_INT(e[1].internal_date, 4242);
		CHECK_EQ_INT(e[1].modseq, trash_modseq + 1);
	}
	free(e);
	free(before);
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	CHECK_EQ_INT(m.highestmodseq, inbox_modseq + 1);
	CHECK_EQ_INT(m.messages, 1);
	store_mailbox_clear(&m);
	CHECK_EQ_INT(store_mailbox_find(st, acct, "Trash", &m), STORE_OK);
	CHECK_EQ_INT(m.uidnext, 4);
	CHECK_EQ_INT(m.messages, 3);
	CHECK_EQ_INT(m.bytes, 14 + 5 + 5);
	store_mailbox_clear(&m);
	char *q = xasprintf("SELECT count(*) FROM tombstones WHERE account_id = %lld AND mailbox_id = %lld"
			    " AND modseq = %llu",
			    (long long)acct, (long long)inbox, (unsigned long long)inbox_modseq + 1);
	CHECK_EQ_INT(test_sql_int(dir, q), 2);
	free(q);

	/* Targets outside the account, or missing, change nothing. */
	CHECK_EQ_INT(store_move(st, acct, inbox, other_inbox, &u[1], 1, NULL), STORE_NOTFOUND);
	CHECK_EQ_INT(store_move(st, acct, 31337, trash, &u[1], 1, NULL), STORE_NOTFOUND);
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	free(e);

	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* --- notifications --- */

struct test_watch_log {
	pthread_mutex_t lock;
	size_t n;
	int64_t account[64], mailbox[64];
	uint64_t modseq[64];
};

static void test_watcher(void *ctx, int64_t account_id, int64_t mailbox_id, uint64_t modseq)
{
	struct test_watch_log *w = ctx;
	pthread_mutex_lock(&w->lock);
	if (w->n < 64) {
		w->account[w->n] = account_id;
		w->mailbox[w->n] = mailbox_id;
		w->modseq[w->n] = modseq;
	}
	w->n++;
	pthread_mutex_unlock(&w->lock);
}

static size_t test_watch_count(struct test_watch_log *w)
{
	pthread_mutex_lock(&w->lock);
	size_t n = w->n;
	pthread_mutex_unlock(&w->lock);
	return n;
}

TEST(watchers)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	struct test_watch_log w = {.lock = PTHREAD_MUTEX_INITIALIZER};
	store_watch(st, test_watcher, &w);
	int64_t acct = test_account(st, "lea");
	CHECK_EQ_INT(w.n, 0); /* creating an account changes no existing mailbox */
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	int64_t junk = test_mailbox_id(st, acct, "Junk");

	uint32_t uid = test_deliver1(st, acct, inbox, "hello\n");
	/* Watchers have heard of a commit by the time its writer returns. */
	CHECK_EQ_INT(test_watch_count(&w), 1);
	struct store_mailbox m;
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	CHECK_EQ_INT(w.account[0], acct);
	CHECK_EQ_INT(w.mailbox[0], inbox);
	CHECK_EQ_INT(w.modseq[0], m.highestmodseq);
	store_mailbox_clear(&m);

	CHECK_EQ_INT(store_move(st, acct, inbox, junk, &uid, 1, NULL), STORE_OK);
	CHECK_EQ_INT(test_watch_count(&w), 3);
	bool saw_inbox = false, saw_junk = false;
	for (size_t i = 1; i < 3; i++) {
		saw_inbox |= w.mailbox[i] == inbox && w.modseq[i] > w.modseq[0];
		saw_junk |= w.mailbox[i] == junk;
	}
	CHECK(saw_inbox && saw_junk);

	/* A failed write notifies nobody. */
	struct store_target bad = {.account_id = acct, .mailbox_id = 123456};
	CHECK_EQ_INT(store_deliver(st, "x", 1, &bad, 1), STORE_NOTFOUND);
	CHECK_EQ_INT(test_watch_count(&w), 3);

	/* Deleting a mailbox tells sessions that have it open. */
	CHECK_EQ_INT(store_mailbox_delete(st, acct, "Junk"), STORE_OK);
	CHECK_EQ_INT(test_watch_count(&w), 4);
	CHECK_EQ_INT(w.mailbox[3], junk);
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

static int test_dgram_socket(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("bind");
		close(fd);
		return -1;
	}
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static void test_dgram_send(const char *path, const char *msg)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	CHECK(sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa, sizeof sa) == (ssize_t)strlen(msg));
	close(fd);
}

static bool test_wait_count(struct test_watch_log *w, size_t n)
{
	for (int i = 0; i < 500; i++) {
		if (test_watch_count(w) >= n)
			return true;
		usleep(10000);
	}
	return false;
}

TEST(external_notifications)
{
	char *dir = test_tmpdir();
	char *sock = xasprintf("%s/notify.sock", dir);
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "max");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");

	/* A committing process sends "account mailbox modseq pid" to the socket. */
	int fd = test_dgram_socket(sock);
	CHECK(fd >= 0);
	test_deliver1(st, acct, inbox, "hi\n");
	char msg[SQLITE_NOTIFY_MAX + 1];
	ssize_t got = recv(fd, msg, SQLITE_NOTIFY_MAX, 0);
	CHECK(got > 0);
	if (got > 0) {
		msg[got] = '\0';
		long long a, mb, pid;
		unsigned long long ms;
		CHECK_EQ_INT(sscanf(msg, "%lld %lld %llu %lld", &a, &mb, &ms, &pid), 4);
		CHECK_EQ_INT(a, acct);
		CHECK_EQ_INT(mb, inbox);
		CHECK_EQ_INT(pid, getpid());
	}
	close(fd);
	unlink(sock);
	/* Nobody listening is fine. */
	test_deliver1(st, acct, inbox, "again\n");

	/* The listener replaces a stale socket file and hands other processes'
	 * changes to the watchers, skipping our own. */
	fd = test_dgram_socket(sock);
	close(fd);
	struct test_watch_log w = {.lock = PTHREAD_MUTEX_INITIALIZER};
	store_watch(st, test_watcher, &w);
	const char *err = NULL;
	CHECK_EQ_INT(store_listen_external(st, &err), STORE_OK);
	CHECK_EQ_INT(store_listen_external(st, &err), STORE_INVALID);
	char *own = xasprintf("7 8 9 %ld", (long)getpid());
	test_dgram_send(sock, own);
	free(own);
	test_dgram_send(sock, "garbage");
	test_dgram_send(sock, "11 12 13 1");
	test_dgram_send(sock, "21 22 23");
	CHECK(test_wait_count(&w, 2));
	usleep(50000);
	CHECK_EQ_INT(test_watch_count(&w), 2);
	if (test_watch_count(&w) >= 2) {
		CHECK_EQ_INT(w.account[0], 11);
		CHECK_EQ_INT(w.mailbox[0], 12);
		CHECK_EQ_INT(w.modseq[0], 13);
		CHECK_EQ_INT(w.account[1], 21);
	}
	/* Our own commits reach the watchers once, from the writer. */
	test_deliver1(st, acct, inbox, "third\n");
	usleep(50000);
	CHECK_EQ_INT(test_watch_count(&w), 3);

	store_close(st);
	CHECK(access(sock, F_OK) != 0); /* close removes the socket */
	free(sock);
	test_rmrf(dir);
	free(dir);
}

/* --- concurrency --- */

struct test_worker {
	struct store *st;
	int64_t account;
	int64_t mailbox;
	int n;
	int index;
	uint32_t *uids;
	int failures;
};

static void *test_deliver_thread(void *arg)
{
	struct test_worker *wk = arg;
	for (int i = 0; i < wk->n; i++) {
		char *text = xasprintf("X-Token: t%d-%d\n\nbody %d\n", wk->index, i, i);
		struct store_target t = {.account_id = wk->account, .mailbox_id = wk->mailbox};
		if (store_deliver(wk->st, text, strlen(text), &t, 1) != STORE_OK)
			wk->failures++;
		wk->uids[i] = t.uid_r;
		/* Reads go on at the same time through this thread's reader. */
		struct store_mailbox m;
		if (store_mailbox_find(wk->st, wk->account, "INBOX", &m) != STORE_OK)
			wk->failures++;
		else if (m.uidnext <= t.uid_r)
			wk->failures++;
		store_mailbox_clear(&m);
		free(text);
	}
	return NULL;
}

static void test_concurrent(bool group_commit)
{
	enum { THREADS = 16, EACH = 25 };
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, group_commit);
	int64_t acct = test_account(st, "nina");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	struct test_worker wk[THREADS];
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++) {
		wk[i] = (struct test_worker){st, acct, inbox, EACH, i, xcalloc(EACH, sizeof(uint32_t)), 0};
		pthread_create(&th[i], NULL, test_deliver_thread, &wk[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	char *seen = xcalloc(THREADS * EACH + 1, 1);
	int dups = 0, out_of_range = 0;
	for (int i = 0; i < THREADS; i++) {
		CHECK_EQ_INT(wk[i].failures, 0);
		for (int k = 0; k < EACH; k++) {
			uint32_t u = wk[i].uids[k];
			if (u < 1 || u > THREADS * EACH)
				out_of_range++;
			else if (seen[u]++)
				dups++;
			if (k > 0 && u <= wk[i].uids[k - 1])
				out_of_range++; /* one caller's UIDs increase */
		}
		free(wk[i].uids);
	}
	CHECK_EQ_INT(dups, 0);
	CHECK_EQ_INT(out_of_range, 0);
	free(seen);
	struct store_mailbox m;
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	CHECK_EQ_INT(m.messages, THREADS * EACH);
	CHECK_EQ_INT(m.uidnext, THREADS * EACH + 1);
	store_mailbox_clear(&m);
	store_close(st);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(DISTINCT uid) FROM entries"), THREADS * EACH);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), THREADS * EACH);
	test_rmrf(dir);
	free(dir);
}

TEST(concurrent_deliveries_group_commit)
{
	test_concurrent(true);
}

TEST(concurrent_deliveries_one_per_commit)
{
	test_concurrent(false);
}

/* A job that fails inside a batch is rolled back alone. */
static void *test_bad_deliver_thread(void *arg)
{
	struct test_worker *wk = arg;
	for (int i = 0; i < wk->n; i++) {
		struct store_target t = {.account_id = wk->account, .mailbox_id = wk->mailbox};
		int rc = store_deliver(wk->st, "z\n", 2, &t, 1);
		if (wk->index % 2 ? rc != STORE_NOTFOUND : rc != STORE_OK)
			wk->failures++;
	}
	return NULL;
}

TEST(failing_job_in_batch)
{
	enum { THREADS = 8, EACH = 20 };
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "olga");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	struct test_worker wk[THREADS];
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++) {
		wk[i] = (struct test_worker){st, acct, i % 2 ? 987654 : inbox, EACH, i, NULL, 0};
		pthread_create(&th[i], NULL, test_bad_deliver_thread, &wk[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(wk[i].failures, 0);
	}
	struct store_mailbox m;
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	CHECK_EQ_INT(m.messages, THREADS / 2 * EACH);
	store_mailbox_clear(&m);
	store_close(st);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), THREADS / 2 * EACH);
	test_rmrf(dir);
	free(dir);
}

/* Jobs run on the writer through the backend's own queue. */
static int test_job_fails(struct sqlite_store *st, struct sqlite_conn *w, void *ctx, struct sqlite_changes *ch)
{
	return store_set_error("boom %d", 42);
}

static atomic_int test_slow_started;

static int test_job_slow(struct sqlite_store *st, struct sqlite_conn *w, void *ctx, struct sqlite_changes *ch)
{
	atomic_store(&test_slow_started, 1);
	usleep(300000);
	return STORE_OK;
}

/* Ends the transaction behind the writer's back, as an I/O error would. */
static int test_job_sabotage(struct sqlite_store *st, struct sqlite_conn *w, void *ctx, struct sqlite_changes *ch)
{
	sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	return STORE_OK;
}

struct test_submit {
	struct store *st;
	sqlite_job_fn *fn;
	int64_t account, mailbox;
	int rc;
};

static void *test_submit_thread(void *arg)
{
	struct test_submit *t = arg;
	if (t->fn != NULL) {
		t->rc = sqlite_submit(sqlite_store_of(t->st), t->fn, NULL);
	} else {
		struct store_target tg = {.account_id = t->account, .mailbox_id = t->mailbox};
		t->rc = store_deliver(t->st, "doomed\n", 7, &tg, 1);
	}
	return NULL;
}

TEST(job_errors_reach_their_caller)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	CHECK_EQ_INT(sqlite_submit(sqlite_store_of(st), test_job_fails, NULL), STORE_ERROR);
	CHECK_EQ_STR(store_last_error(), "boom 42");
	int64_t acct = test_account(st, "tess");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");

	/* While a slow job holds the writer, three more queue up and become one
	 * batch; one of them loses the transaction, so none is acknowledged. */
	struct test_submit slow = {.st = st, .fn = test_job_slow};
	struct test_submit rest[3] = {{.st = st, .account = acct, .mailbox = inbox},
				      {.st = st, .fn = test_job_sabotage},
				      {.st = st, .account = acct, .mailbox = inbox}};
	pthread_t th[4];
	atomic_store(&test_slow_started, 0);
	pthread_create(&th[0], NULL, test_submit_thread, &slow);
	while (!atomic_load(&test_slow_started))
		usleep(1000);
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i + 1], NULL, test_submit_thread, &rest[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ_INT(slow.rc, STORE_OK);
	CHECK_EQ_INT(rest[0].rc, STORE_ERROR);
	CHECK_EQ_INT(rest[1].rc, STORE_ERROR);
	CHECK_EQ_INT(rest[2].rc, STORE_ERROR);
	struct store_mailbox m;
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	CHECK_EQ_INT(m.messages, 0);
	CHECK_EQ_INT(m.uidnext, 1);
	store_mailbox_clear(&m);
	/* And the writer carries on. */
	CHECK_EQ_INT(test_deliver1(st, acct, inbox, "fine\n"), 1);
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* Another process holding the write lock only delays a write. */
static void *test_lock_holder(void *arg)
{
	const char *dir = arg;
	char *path = xasprintf("%s/roost.db", dir);
	sqlite3 *db;
	if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
		usleep(300000);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	}
	sqlite3_close(db);
	free(path);
	return NULL;
}

TEST(busy_database_waits)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "pia");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	pthread_t th;
	pthread_create(&th, NULL, test_lock_holder, dir);
	usleep(100000);
	int64_t t0 = time_mono_ms();
	CHECK_EQ_INT(test_deliver1(st, acct, inbox, "waited\n"), 1);
	CHECK(time_mono_ms() - t0 >= 100);
	pthread_join(th, NULL);
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* --- persistence --- */

TEST(reopen_keeps_everything)
{
	char *dir = test_tmpdir();
	char *sub = xasprintf("%s/deeper/var", dir); /* created with its parents */
	struct store *st = test_open(sub, true);
	int64_t acct = test_account(st, "quinn");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	test_deliver1(st, acct, inbox, "first\n");
	test_deliver1(st, acct, inbox, "second\n");
	CHECK_EQ_INT(store_setting_set(st, acct, "k", "v"), STORE_OK);
	struct store_mailbox m;
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	uint32_t uv = m.uidvalidity;
	uint64_t ms = m.highestmodseq;
	store_mailbox_clear(&m);
	store_close(st);

	struct stat sb;
	CHECK(stat(sub, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	st = test_open(sub, false);
	struct store_account a;
	CHECK_EQ_INT(store_account_find(st, "QUINN", &a), STORE_OK);
	CHECK_EQ_INT(a.id, acct);
	store_account_clear(&a);
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	CHECK_EQ_INT(m.uidvalidity, uv);
	CHECK_EQ_INT(m.highestmodseq, ms);
	CHECK_EQ_INT(m.messages, 2);
	store_mailbox_clear(&m);
	CHECK_EQ_INT(test_deliver1(st, acct, inbox, "third\n"), 3);
	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 3);
	size_t len;
	char *text = n ? test_read_all(st, acct, e[1].message_id, &len) : NULL;
	CHECK(text && len == 8 && memcmp(text, "second\r\n", 8) == 0);
	free(text);
	free(e);
	char *v;
	CHECK_EQ_INT(store_setting_get(st, acct, "k", &v), STORE_OK);
	free(v);
	store_close(st);
	CHECK(test_sql_int(sub, "PRAGMA user_version") >= 4);
	CHECK_EQ_INT(test_sql_int(sub, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
	free(sub);
	test_rmrf(dir);
	free(dir);
}

TEST(open_errors)
{
	struct store *st = NULL;
	const char *err = NULL;
	CHECK_EQ_INT(store_open_sqlite("", true, &st, &err), STORE_INVALID);
	CHECK(err != NULL);
	CHECK_EQ_INT(store_open_sqlite("/dev/null/sub", true, &st, &err), STORE_ERROR);
	CHECK(st == NULL);
	CHECK(err && strstr(err, "/dev/null") != NULL);

	/* A database from a newer version of the program is refused. */
	char *dir = test_tmpdir();
	char *path = xasprintf("%s/roost.db", dir);
	sqlite3 *db;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL);
	sqlite3_close(db);
	CHECK_EQ_INT(store_open_sqlite(dir, true, &st, &err), STORE_ERROR);
	CHECK(err && strstr(err, "newer") != NULL);
	free(path);
	test_rmrf(dir);
	free(dir);
}

/* --- keywords, counters and flag changes --- */

static struct store_mailbox test_mailbox(struct store *st, int64_t account, const char *name)
{
	struct store_mailbox m;
	CHECK_EQ_INT(store_mailbox_find(st, account, name, &m), STORE_OK);
	return m;
}

/* unseen and deleted of a mailbox as find, get and list all report them. */
static void test_counts(struct store *st, int64_t account, const char *name, uint32_t messages, uint32_t unseen,
			uint32_t deleted)
{
	struct store_mailbox m = test_mailbox(st, account, name);
	CHECK_EQ_INT(m.messages, messages);
	CHECK_EQ_INT(m.unseen, unseen);
	CHECK_EQ_INT(m.deleted, deleted);
	struct store_mailbox g;
	CHECK_EQ_INT(store_mailbox_get(st, account, m.id, &g), STORE_OK);
	CHECK_EQ_INT(g.unseen, unseen);
	CHECK_EQ_INT(g.deleted, deleted);
	store_mailbox_clear(&g);
	struct store_mailbox *list;
	size_t n;
	CHECK_EQ_INT(store_mailbox_list(st, account, &list, &n), STORE_OK);
	bool seen = false;
	for (size_t i = 0; i < n; i++)
		if (list[i].id == m.id) {
			seen = true;
			CHECK_EQ_INT(list[i].unseen, unseen);
			CHECK_EQ_INT(list[i].deleted, deleted);
			CHECK_EQ_INT(list[i].n_keywords, 0);
		}
	CHECK(seen);
	store_mailboxes_free(list, n);
	store_mailbox_clear(&m);
}

static int test_flags(struct store *st, int64_t account, int64_t mailbox, enum store_flag_mode mode, uint32_t flags,
		      const char *const *kw, size_t n_kw, const uint32_t *uids, size_t n, struct store_flag_result *r)
{
	struct store_flag_change ch = {.mode = mode, .flags = flags, .keywords = kw, .n_keywords = n_kw};
	return store_flags_update(st, account, mailbox, uids, n, &ch, r);
}

TEST(keywords)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "kw");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");

	/* Delivery names keywords; the mailbox's list grows, a name in another
	 * case is the same keyword and keeps its first spelling. */
	const char *k1[] = {"$Forwarded", "Work"};
	struct store_target t = {.account_id = acct, .mailbox_id = inbox, .keywords = k1, .n_keywords = 2};
	CHECK_EQ_INT(store_deliver(st, "a\n", 2, &t, 1), STORE_OK);
	uint32_t u1 = t.uid_r;
	const char *k2[] = {"work", "work"};
	t.keywords = k2;
	CHECK_EQ_INT(store_deliver(st, "b\n", 2, &t, 1), STORE_OK);
	uint32_t u2 = t.uid_r;
	struct store_mailbox m = test_mailbox(st, acct, "INBOX");
	CHECK_EQ_INT(m.n_keywords, 2);
	if (m.n_keywords == 2) {
		CHECK_EQ_STR(m.keywords[0], "$Forwarded");
		CHECK_EQ_STR(m.keywords[1], "Work");
	}
	store_mailbox_clear(&m);
	CHECK(m.keywords == NULL);
	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_INT(e[0].keywords, 3);
		CHECK_EQ_INT(e[1].keywords, 2);
	}
	free(e);

	/* Malformed names are refused before anything is written. */
	const char *bad[] = {"\\Seen", "a b", "", "x(", "y)", "{z", "%", "*", "q\"", "back\\slash", "]",
			     "caf\xc3\xa9", "tab\t"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		const char *one[] = {bad[i]};
		t.keywords = one;
		t.n_keywords = 1;
		CHECK_EQ_INT(store_deliver(st, "c\n", 2, &t, 1), STORE_INVALID);
		struct store_flag_result r;
		CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_ADD, 0, one, 1, &u1, 1, &r), STORE_INVALID);
		store_flag_result_clear(&r);
	}
	char longest[STORE_KEYWORD_MAX + 2];
	memset(longest, 'k', sizeof longest);
	longest[STORE_KEYWORD_MAX] = '\0';
	const char *fits[] = {longest};
	struct store_flag_result r;
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_ADD, 0, fits, 1, &u1, 1, &r), STORE_OK);
	store_flag_result_clear(&r);
	longest[STORE_KEYWORD_MAX] = 'k';
	longest[STORE_KEYWORD_MAX + 1] = '\0';
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_ADD, 0, fits, 1, &u1, 1, &r), STORE_INVALID);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM entries WHERE message_id NOT IN (SELECT id FROM messages)"), 0);
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 2);
	free(e);

	/* STORE adds, sets and removes keywords by name. */
	const char *urgent[] = {"Urgent"};
	uint32_t both[] = {u1, u2};
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_ADD, 0, urgent, 1, both, 2, &r), STORE_OK);
	CHECK_EQ_INT(r.n_keywords, 4);
	if (r.n_keywords == 4)
		CHECK_EQ_STR(r.keywords[3], "Urgent");
	CHECK_EQ_INT(r.n_entries, 2);
	if (r.n_entries == 2) {
		CHECK_EQ_INT(r.entries[0].keywords, 3 | 4 | 8); /* 4: the 100-byte one */
		CHECK_EQ_INT(r.entries[1].keywords, 2 | 8);
	}
	store_flag_result_clear(&r);
	const char *forget[] = {"WORK", "NeverSeen"};
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_REMOVE, 0, forget, 2, both, 2, &r), STORE_OK);
	CHECK_EQ_INT(r.n_keywords, 4); /* removing never adds */
	if (r.n_entries == 2) {
		CHECK_EQ_INT(r.entries[0].keywords, 1 | 4 | 8);
		CHECK_EQ_INT(r.entries[1].keywords, 8);
	}
	store_flag_result_clear(&r);
	const char *only[] = {"$forwarded"};
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_SET, STORE_FLAG_SEEN, only, 1, both, 2, &r), STORE_OK);
	if (r.n_entries == 2) {
		CHECK_EQ_INT(r.entries[0].keywords, 1);
		CHECK_EQ_INT(r.entries[1].keywords, 1);
		CHECK_EQ_INT(r.entries[1].flags, STORE_FLAG_SEEN);
	}
	store_flag_result_clear(&r);

	/* 64 keywords per mailbox: the 65th is refused, and the refused STORE
	 * changes nothing at all. */
	char names[STORE_MAX_KEYWORDS][16];
	const char *ptrs[STORE_MAX_KEYWORDS];
	m = test_mailbox(st, acct, "INBOX");
	size_t have = m.n_keywords;
	store_mailbox_clear(&m);
	size_t room = STORE_MAX_KEYWORDS - have;
	for (size_t i = 0; i < room; i++) {
		snprintf(names[i], sizeof names[i], "k%u", (unsigned)i);
		ptrs[i] = names[i];
	}
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_ADD, 0, ptrs, room, &u1, 1, &r), STORE_OK);
	CHECK_EQ_INT(r.n_keywords, STORE_MAX_KEYWORDS);
	if (r.n_entries == 1)
		CHECK(r.entries[0].keywords & (UINT64_C(1) << 63));
	uint64_t modseq = r.modseq;
	store_flag_result_clear(&r);
	const char *extra[] = {"k0", "one-too-many"};
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_ADD, STORE_FLAG_FLAGGED, extra, 2, both, 2, &r),
		     STORE_LIMIT);
	CHECK(r.entries == NULL && r.keywords == NULL);
	const char *extra1[] = {"one-too-many"};
	t.keywords = extra1;
	t.n_keywords = 1;
	CHECK_EQ_INT(store_deliver(st, "d\n", 2, &t, 1), STORE_LIMIT);
	m = test_mailbox(st, acct, "INBOX");
	CHECK_EQ_INT(m.n_keywords, STORE_MAX_KEYWORDS);
	CHECK_EQ_INT(m.highestmodseq, modseq);
	CHECK_EQ_INT(m.messages, 2);
	store_mailbox_clear(&m);
	/* Known names still work on a full list. */
	const char *known[] = {"K59"}; /* 4 names before k0: k59 is keyword 63 */
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_ADD, 0, known, 1, &u2, 1, &r), STORE_OK);
	if (r.n_entries == 1)
		CHECK_EQ_INT(r.entries[0].keywords, 1 | (UINT64_C(1) << 63));
	store_flag_result_clear(&r);

	store_close(st);
	test_rmrf(dir);
	free(dir);
}

TEST(flags_update)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	struct test_watch_log w = {.lock = PTHREAD_MUTEX_INITIALIZER};
	store_watch(st, test_watcher, &w);
	int64_t acct = test_account(st, "fu");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	uint32_t u[5];
	for (int i = 0; i < 5; i++)
		u[i] = test_deliver1(st, acct, inbox, "m\n");
	struct store_target seen = {.account_id = acct, .mailbox_id = inbox, .flags = STORE_FLAG_SEEN};
	CHECK_EQ_INT(store_deliver(st, "s\n", 2, &seen, 1), STORE_OK);
	uint32_t u6 = seen.uid_r;
	struct store_mailbox m = test_mailbox(st, acct, "INBOX");
	uint64_t before = m.highestmodseq;
	store_mailbox_clear(&m);
	struct store_entry *e0;
	size_t n0;
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e0, &n0), STORE_OK);
	size_t heard = test_watch_count(&w);

	/* +FLAGS (\Seen) on 2, 4, 6 and an absent UID: 6 already has it. */
	uint32_t some[] = {u6, u[1], 999, u[3], u[1]};
	struct store_flag_result r;
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0, some, ARRAY_LEN(some), &r),
		     STORE_OK);
	CHECK_EQ_INT(r.modseq, before + 1);
	CHECK_EQ_INT(r.n_entries, 3);
	CHECK_EQ_INT(r.n_failed, 0);
	if (r.n_entries == 3) {
		CHECK_EQ_INT(r.entries[0].uid, u[1]);
		CHECK_EQ_INT(r.entries[0].modseq, before + 1);
		CHECK_EQ_INT(r.entries[0].flags, STORE_FLAG_SEEN);
		CHECK_EQ_INT(r.entries[1].uid, u[3]);
		CHECK_EQ_INT(r.entries[2].uid, u6);
		CHECK_EQ_INT(r.entries[2].modseq, e0[5].modseq); /* unchanged, keeps its modseq */
		CHECK_EQ_INT(r.entries[2].message_id, e0[5].message_id);
		CHECK_EQ_INT(r.entries[2].size, 3);
	}
	store_flag_result_clear(&r);
	CHECK_EQ_INT(test_watch_count(&w), heard + 1);
	CHECK_EQ_INT(w.modseq[heard], before + 1);
	m = test_mailbox(st, acct, "INBOX");
	CHECK_EQ_INT(m.highestmodseq, before + 1);
	store_mailbox_clear(&m);
	test_counts(st, acct, "INBOX", 6, 3, 0);

	/* Nothing to change: no new modseq, nobody woken, every entry reported. */
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0, some, ARRAY_LEN(some), &r),
		     STORE_OK);
	CHECK_EQ_INT(r.modseq, 0);
	CHECK_EQ_INT(r.n_entries, 3);
	store_flag_result_clear(&r);
	CHECK_EQ_INT(test_watch_count(&w), heard + 1);
	m = test_mailbox(st, acct, "INBOX");
	CHECK_EQ_INT(m.highestmodseq, before + 1);
	store_mailbox_clear(&m);

	/* UNCHANGEDSINCE: entries changed after it are left alone and listed. */
	struct store_flag_change ch = {.mode = STORE_FLAGS_ADD, .flags = STORE_FLAG_DELETED, .unchangedsince = before};
	uint32_t all[] = {u[0], u[1], u[2], u[3], u[4], u6};
	CHECK_EQ_INT(store_flags_update(st, acct, inbox, all, 6, &ch, &r), STORE_OK);
	CHECK_EQ_INT(r.modseq, before + 2);
	CHECK_EQ_INT(r.n_failed, 2);
	if (r.n_failed == 2) {
		CHECK_EQ_INT(r.failed[0], u[1]);
		CHECK_EQ_INT(r.failed[1], u[3]);
	}
	CHECK_EQ_INT(r.n_entries, 6);
	if (r.n_entries == 6) {
		CHECK_EQ_INT(r.entries[1].flags, STORE_FLAG_SEEN);
		CHECK_EQ_INT(r.entries[1].modseq, before + 1);
		CHECK_EQ_INT(r.entries[0].flags, STORE_FLAG_DELETED);
		CHECK_EQ_INT(r.entries[5].flags, STORE_FLAG_SEEN | STORE_FLAG_DELETED);
		CHECK_EQ_INT(r.entries[5].modseq, before + 2);
	}
	store_flag_result_clear(&r);
	test_counts(st, acct, "INBOX", 6, 3, 4);

	/* SET replaces, REMOVE takes away; the stored state matches the result. */
	uint32_t two[] = {u[0], u[1]};
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_SET, STORE_FLAG_FLAGGED | 0x100, NULL, 0, two, 2, &r),
		     STORE_OK);
	if (r.n_entries == 2) {
		CHECK_EQ_INT(r.entries[0].flags, STORE_FLAG_FLAGGED);
		CHECK_EQ_INT(r.entries[1].flags, STORE_FLAG_FLAGGED);
	}
	store_flag_result_clear(&r);
	test_counts(st, acct, "INBOX", 6, 4, 3);
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_REMOVE, STORE_FLAG_DELETED | STORE_FLAG_FLAGGED, NULL, 0,
				all, 6, &r),
		     STORE_OK);
	store_flag_result_clear(&r);
	test_counts(st, acct, "INBOX", 6, 4, 0);
	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 6);
	if (n == 6) {
		CHECK_EQ_INT(e[0].flags, 0);
		CHECK_EQ_INT(e[3].flags, STORE_FLAG_SEEN);
		CHECK_EQ_INT(e[5].flags, STORE_FLAG_SEEN);
	}
	free(e);
	free(e0);

	/* Errors. */
	CHECK_EQ_INT(test_flags(st, acct, 4242, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0, all, 6, &r), STORE_NOTFOUND);
	ch.mode = (enum store_flag_mode)7;
	CHECK_EQ_INT(store_flags_update(st, acct, inbox, all, 6, &ch, &r), STORE_INVALID);
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_ADD, 0, NULL, 0, NULL, 3, &r), STORE_INVALID);

	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* Long runs of UIDs are updated as ranges, short ones as a list; a STORE
 * mixing both reports every entry once, in UID order. */
TEST(flags_update_runs_and_lists)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "runs");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	struct store_target t[60];
	for (size_t i = 0; i < 60; i++)
		t[i] = (struct store_target){.account_id = acct, .mailbox_id = inbox};
	CHECK_EQ_INT(store_deliver(st, "many\n", 5, t, 60), STORE_OK);
	/* 1:20 (a range), 22 24 26 (a list), 30:49 (a range), 51 53 (a list);
	 * 12 and 31 changed earlier, after the UNCHANGEDSINCE below. */
	struct store_flag_result r;
	uint32_t early[] = {12, 31};
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_ADD, STORE_FLAG_ANSWERED, NULL, 0, early, 2, &r), STORE_OK);
	uint64_t before = r.modseq - 1;
	store_flag_result_clear(&r);
	uint32_t set[60];
	size_t n = 0;
	for (uint32_t u = 1; u <= 20; u++)
		set[n++] = u;
	set[n++] = 22, set[n++] = 24, set[n++] = 26;
	for (uint32_t u = 30; u <= 49; u++)
		set[n++] = u;
	set[n++] = 53, set[n++] = 51, set[n++] = 61; /* out of order, and one absent */
	struct store_flag_change ch = {.mode = STORE_FLAGS_ADD, .flags = STORE_FLAG_SEEN, .unchangedsince = before};
	CHECK_EQ_INT(store_flags_update(st, acct, inbox, set, n, &ch, &r), STORE_OK);
	CHECK_EQ_INT(r.n_entries, n - 1);
	for (size_t i = 1; i < r.n_entries; i++)
		CHECK(r.entries[i - 1].uid < r.entries[i].uid);
	CHECK_EQ_INT(r.n_failed, 2);
	if (r.n_failed == 2) {
		CHECK_EQ_INT(r.failed[0], 12);
		CHECK_EQ_INT(r.failed[1], 31);
	}
	size_t changed = 0;
	for (size_t i = 0; i < r.n_entries; i++)
		changed += r.entries[i].modseq == r.modseq;
	CHECK_EQ_INT(changed, n - 3);
	store_flag_result_clear(&r);
	test_counts(st, acct, "INBOX", 60, 60 - (uint32_t)(n - 3), 0);
	/* What was stored is what was reported. */
	struct store_entry *e;
	size_t ne;
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &ne), STORE_OK);
	size_t seen = 0;
	for (size_t i = 0; i < ne; i++)
		seen += (e[i].flags & STORE_FLAG_SEEN) != 0;
	CHECK_EQ_INT(seen, n - 3);
	if (ne == 60) {
		CHECK_EQ_INT(e[11].flags, STORE_FLAG_ANSWERED);
		CHECK_EQ_INT(e[20].flags, 0); /* 21 was not asked for */
		CHECK_EQ_INT(e[21].flags, STORE_FLAG_SEEN);
		CHECK_EQ_INT(e[52].flags, STORE_FLAG_SEEN);
	}
	free(e);

	/* Copy and expunge take the same mixed set. */
	int64_t archive = test_mailbox_id(st, acct, "Archive");
	struct store_uidmap map;
	CHECK_EQ_INT(store_copy(st, acct, inbox, archive, set, n, &map), STORE_OK);
	CHECK_EQ_INT(map.n, n - 1);
	for (size_t i = 1; i < map.n; i++)
		CHECK(map.src[i - 1] < map.src[i] && map.dst[i - 1] + 1 == map.dst[i]);
	store_uidmap_clear(&map);
	test_counts(st, acct, "Archive", (uint32_t)(n - 1), 2, 0);
	CHECK_EQ_INT(store_expunge(st, acct, inbox, set, n), STORE_OK);
	test_counts(st, acct, "INBOX", 60 - (uint32_t)(n - 1), 60 - (uint32_t)(n - 1), 0);
	uint32_t *gone;
	size_t n_gone;
	CHECK_EQ_INT(store_changes(st, acct, inbox, 0, &e, &ne, &gone, &n_gone), STORE_OK);
	CHECK_EQ_INT(n_gone, n - 1);
	for (size_t i = 1; i < n_gone; i++)
		CHECK(gone[i - 1] < gone[i]);
	CHECK_EQ_INT(ne, 60 - (n - 1));
	free(e);
	free(gone);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 1); /* Archive still has it */
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* The counters follow every kind of write. */
TEST(unseen_and_deleted_counters)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "cnt");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	int64_t trash = test_mailbox_id(st, acct, "Trash");
	int64_t archive = test_mailbox_id(st, acct, "Archive");

	struct store_target t[2] = {{.account_id = acct, .mailbox_id = inbox},
				    {.account_id = acct, .mailbox_id = archive, .flags = STORE_FLAG_SEEN}};
	CHECK_EQ_INT(store_deliver(st, "1\n", 2, t, 2), STORE_OK);
	uint32_t a = t[0].uid_r;
	t[0].flags = STORE_FLAG_SEEN | STORE_FLAG_DELETED;
	CHECK_EQ_INT(store_deliver(st, "2\n", 2, t, 1), STORE_OK);
	uint32_t b = t[0].uid_r;
	t[0].flags = STORE_FLAG_DELETED;
	CHECK_EQ_INT(store_deliver(st, "3\n", 2, t, 1), STORE_OK);
	uint32_t c = t[0].uid_r;
	test_counts(st, acct, "INBOX", 3, 2, 2);
	test_counts(st, acct, "Archive", 1, 0, 0);

	uint32_t ab[] = {a, b};
	struct store_flag_result r;
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_SET, STORE_FLAG_DELETED, NULL, 0, ab, 2, &r), STORE_OK);
	store_flag_result_clear(&r);
	test_counts(st, acct, "INBOX", 3, 3, 3);

	CHECK_EQ_INT(store_expunge(st, acct, inbox, &c, 1), STORE_OK);
	test_counts(st, acct, "INBOX", 2, 2, 2);

	struct store_uidmap map;
	CHECK_EQ_INT(store_copy(st, acct, inbox, trash, ab, 2, &map), STORE_OK);
	store_uidmap_clear(&map);
	test_counts(st, acct, "Trash", 2, 2, 2);
	test_counts(st, acct, "INBOX", 2, 2, 2);

	CHECK_EQ_INT(store_move(st, acct, inbox, archive, &a, 1, NULL), STORE_OK);
	test_counts(st, acct, "INBOX", 1, 1, 1);
	test_counts(st, acct, "Archive", 2, 1, 1);

	CHECK_EQ_INT(store_mailbox_delete(st, acct, "Trash"), STORE_OK);
	CHECK_EQ_INT(store_mailbox_create(st, acct, "Trash", "\\Trash", NULL), STORE_OK);
	test_counts(st, acct, "Trash", 0, 0, 0);

	/* The counters agree with a count of the rows. */
	int64_t wrong = test_sql_int(dir, "SELECT count(*) FROM mailboxes m WHERE unseen <> (SELECT count(*)"
					 " FROM entries e WHERE e.account_id = m.account_id AND e.mailbox_id = m.id"
					 " AND (e.flags & 1) = 0) OR deleted <> (SELECT count(*) FROM entries e"
					 " WHERE e.account_id = m.account_id AND e.mailbox_id = m.id AND (e.flags & 8) <> 0)");
	CHECK_EQ_INT(wrong, 0);
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

TEST(changes_since)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "chg");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	uint32_t u[4];
	for (int i = 0; i < 4; i++)
		u[i] = test_deliver1(st, acct, inbox, "x\n");
	struct store_mailbox m = test_mailbox(st, acct, "INBOX");
	uint64_t since = m.highestmodseq;
	store_mailbox_clear(&m);

	struct store_entry *e;
	uint32_t *gone;
	size_t n, n_gone;
	CHECK_EQ_INT(store_changes(st, acct, inbox, since, &e, &n, &gone, &n_gone), STORE_OK);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(n_gone, 0);
	free(e);
	free(gone);

	/* A flag change, two expunges and a new message. */
	struct store_flag_result r;
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_ADD, STORE_FLAG_ANSWERED, NULL, 0, &u[2], 1, &r), STORE_OK);
	store_flag_result_clear(&r);
	uint32_t x[] = {u[3], u[0]};
	CHECK_EQ_INT(store_expunge(st, acct, inbox, x, 2), STORE_OK);
	uint32_t u5 = test_deliver1(st, acct, inbox, "y\n");
	CHECK_EQ_INT(store_changes(st, acct, inbox, since, &e, &n, &gone, &n_gone), STORE_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_INT(e[0].uid, u[2]);
		CHECK_EQ_INT(e[0].flags, STORE_FLAG_ANSWERED);
		CHECK_EQ_INT(e[0].modseq, since + 1);
		CHECK_EQ_INT(e[1].uid, u5);
		CHECK_EQ_INT(e[1].modseq, since + 3);
	}
	CHECK_EQ_INT(n_gone, 2);
	if (n_gone == 2) {
		CHECK_EQ_INT(gone[0], u[0]);
		CHECK_EQ_INT(gone[1], u[3]);
	}
	free(e);
	free(gone);

	/* Since the expunge: only the new message. */
	CHECK_EQ_INT(store_changes(st, acct, inbox, since + 2, &e, &n, &gone, &n_gone), STORE_OK);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(n_gone, 0);
	free(e);
	free(gone);
	/* From 0: everything present and everything expunged. */
	CHECK_EQ_INT(store_changes(st, acct, inbox, 0, &e, &n, &gone, &n_gone), STORE_OK);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(n_gone, 2);
	free(e);
	free(gone);
	CHECK_EQ_INT(store_changes(st, acct, 99999, 0, &e, &n, &gone, &n_gone), STORE_NOTFOUND);
	CHECK(e == NULL && gone == NULL);
	int64_t other = test_account(st, "chg2");
	CHECK_EQ_INT(store_changes(st, other, inbox, 0, &e, &n, &gone, &n_gone), STORE_NOTFOUND);

	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* --- copy and move with UID maps --- */

TEST(copy_and_move_uidmaps)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	struct test_watch_log w = {.lock = PTHREAD_MUTEX_INITIALIZER};
	store_watch(st, test_watcher, &w);
	int64_t acct = test_account(st, "cp");
	int64_t other = test_account(st, "cp2");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	int64_t archive = test_mailbox_id(st, acct, "Archive");
	int64_t other_inbox = test_mailbox_id(st, other, "INBOX");

	/* Archive already knows "Beta" as its keyword 0 and has one message. */
	const char *beta[] = {"Beta"};
	struct store_target ta = {.account_id = acct, .mailbox_id = archive, .keywords = beta, .n_keywords = 1};
	CHECK_EQ_INT(store_deliver(st, "old\n", 4, &ta, 1), STORE_OK);
	const char *kw[] = {"Alpha", "beta"};
	uint32_t u[5];
	for (int i = 0; i < 5; i++) {
		struct store_target t = {.account_id = acct, .mailbox_id = inbox, .flags = (uint32_t)i & 3,
					 .keywords = kw + (i % 2), .n_keywords = 1, .internal_date = 1000 + i};
		CHECK_EQ_INT(store_deliver(st, "msg\n", 4, &t, 1), STORE_OK);
		u[i] = t.uid_r;
	}
	struct store_mailbox am = test_mailbox(st, acct, "Archive");
	size_t heard = test_watch_count(&w);

	/* Copy in any order, with an absent UID: ascending source order, new
	 * UIDs after Archive's last. */
	uint32_t pick[] = {u[4], u[1], 77, u[0]};
	struct store_uidmap map;
	CHECK_EQ_INT(store_copy(st, acct, inbox, archive, pick, ARRAY_LEN(pick), &map), STORE_OK);
	CHECK_EQ_INT(map.uidvalidity, am.uidvalidity);
	CHECK_EQ_INT(map.n, 3);
	if (map.n == 3) {
		CHECK_EQ_INT(map.src[0], u[0]);
		CHECK_EQ_INT(map.src[1], u[1]);
		CHECK_EQ_INT(map.src[2], u[4]);
		CHECK_EQ_INT(map.dst[0], am.uidnext);
		CHECK_EQ_INT(map.dst[1], am.uidnext + 1);
		CHECK_EQ_INT(map.dst[2], am.uidnext + 2);
	}
	store_uidmap_clear(&map);
	CHECK(map.src == NULL && map.n == 0);
	CHECK_EQ_INT(test_watch_count(&w), heard + 1); /* only the target changed */
	CHECK_EQ_INT(w.mailbox[heard], archive);
	CHECK_EQ_INT(w.modseq[heard], am.highestmodseq + 1);

	/* Flags kept, keywords carried by name into Archive's own list. */
	struct store_mailbox m = test_mailbox(st, acct, "Archive");
	CHECK_EQ_INT(m.n_keywords, 2);
	if (m.n_keywords == 2) {
		CHECK_EQ_STR(m.keywords[0], "Beta");
		CHECK_EQ_STR(m.keywords[1], "Alpha");
	}
	CHECK_EQ_INT(m.messages, 4);
	store_mailbox_clear(&m);
	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, acct, archive, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 4);
	if (n == 4) {
		CHECK_EQ_INT(e[1].flags, 0);
		CHECK_EQ_INT(e[1].keywords, 2); /* Alpha */
		CHECK_EQ_INT(e[1].internal_date, 1000);
		CHECK_EQ_INT(e[1].modseq, am.highestmodseq + 1);
		CHECK_EQ_INT(e[2].flags, 1);
		CHECK_EQ_INT(e[2].keywords, 1); /* beta is Beta */
		CHECK_EQ_INT(e[3].flags, 0);
		CHECK_EQ_INT(e[3].keywords, 2);
	}
	free(e);
	/* The source is untouched. */
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 5);
	free(e);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM messages"), 6);

	/* Move: the same map, and the source is left with tombstones. */
	uint32_t mv[] = {u[3], u[2]};
	CHECK_EQ_INT(store_move(st, acct, inbox, archive, mv, 2, &map), STORE_OK);
	CHECK_EQ_INT(map.n, 2);
	if (map.n == 2) {
		CHECK_EQ_INT(map.src[0], u[2]);
		CHECK_EQ_INT(map.src[1], u[3]);
		CHECK_EQ_INT(map.dst[0], am.uidnext + 3);
	}
	store_uidmap_clear(&map);
	CHECK_EQ_INT(store_entries(st, acct, archive, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 6);
	if (n == 6) {
		CHECK_EQ_INT(e[4].flags, 2);
		CHECK_EQ_INT(e[4].keywords, 2);
		CHECK_EQ_INT(e[5].keywords, 1);
	}
	free(e);

	/* Nothing present: an empty map with the target's UIDVALIDITY. */
	uint32_t none[] = {555};
	CHECK_EQ_INT(store_copy(st, acct, inbox, archive, none, 1, &map), STORE_OK);
	CHECK_EQ_INT(map.n, 0);
	CHECK_EQ_INT(map.uidvalidity, am.uidvalidity);
	store_uidmap_clear(&map);
	CHECK_EQ_INT(store_move(st, acct, inbox, archive, none, 1, &map), STORE_OK);
	CHECK_EQ_INT(map.n, 0);
	store_uidmap_clear(&map);

	/* Copy within one mailbox; and targets outside the account fail. */
	CHECK_EQ_INT(store_copy(st, acct, inbox, inbox, &u[0], 1, &map), STORE_OK);
	CHECK_EQ_INT(map.n, 1);
	if (map.n == 1)
		CHECK_EQ_INT(map.dst[0], u[4] + 1);
	store_uidmap_clear(&map);
	CHECK_EQ_INT(store_copy(st, acct, inbox, other_inbox, &u[0], 1, &map), STORE_NOTFOUND);
	CHECK(map.src == NULL);
	CHECK_EQ_INT(store_copy(st, acct, 4242, archive, &u[0], 1, &map), STORE_NOTFOUND);
	CHECK_EQ_INT(store_copy(st, acct, inbox, archive, NULL, 1, &map), STORE_INVALID);
	CHECK_EQ_INT(store_copy(st, acct, inbox, archive, &u[0], 1, NULL), STORE_OK);

	/* A target with a full keyword list refuses what it cannot name. */
	int64_t full;
	CHECK_EQ_INT(store_mailbox_create(st, acct, "Full", NULL, &full), STORE_OK);
	uint32_t fu = test_deliver1(st, acct, full, "f\n");
	char names[STORE_MAX_KEYWORDS][8];
	const char *ptrs[STORE_MAX_KEYWORDS];
	for (size_t i = 0; i < STORE_MAX_KEYWORDS; i++) {
		snprintf(names[i], sizeof names[i], "f%u", (unsigned)i);
		ptrs[i] = names[i];
	}
	struct store_flag_result r;
	CHECK_EQ_INT(test_flags(st, acct, full, STORE_FLAGS_ADD, 0, ptrs, STORE_MAX_KEYWORDS, &fu, 1, &r), STORE_OK);
	store_flag_result_clear(&r);
	CHECK_EQ_INT(store_copy(st, acct, inbox, full, &u[0], 1, &map), STORE_LIMIT);
	CHECK_EQ_INT(store_move(st, acct, inbox, full, &u[0], 1, &map), STORE_LIMIT);
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 4); /* the refused move left u[0] where it was */
	free(e);
	/* Messages without keywords go in. */
	struct store_flag_result r2;
	CHECK_EQ_INT(test_flags(st, acct, inbox, STORE_FLAGS_SET, 0, NULL, 0, &u[0], 1, &r2), STORE_OK);
	store_flag_result_clear(&r2);
	CHECK_EQ_INT(store_move(st, acct, inbox, full, &u[0], 1, &map), STORE_OK);
	CHECK_EQ_INT(map.n, 1);
	store_uidmap_clear(&map);

	store_mailbox_clear(&am);
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* --- rename and subscriptions --- */

static bool test_has_mailbox(struct store *st, int64_t account, const char *name)
{
	struct store_mailbox m;
	int rc = store_mailbox_find(st, account, name, &m);
	store_mailbox_clear(&m);
	return rc == STORE_OK;
}

TEST(mailbox_rename)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "ren");
	int64_t a, ax, axy, ab;
	CHECK_EQ_INT(store_mailbox_create(st, acct, "a", NULL, &a), STORE_OK);
	CHECK_EQ_INT(store_mailbox_create(st, acct, "a/x", NULL, &ax), STORE_OK);
	CHECK_EQ_INT(store_mailbox_create(st, acct, "a/x/y", NULL, &axy), STORE_OK);
	CHECK_EQ_INT(store_mailbox_create(st, acct, "ab", NULL, &ab), STORE_OK); /* not a child of "a" */
	uint32_t uid = test_deliver1(st, acct, ax, "kept\n");
	struct store_mailbox before = test_mailbox(st, acct, "a/x");

	/* "a" -> "b/c": children follow, parents of the new name are not made,
	 * ids, UIDVALIDITY and UIDs stay. */
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "a", "b/c"), STORE_OK);
	CHECK(!test_has_mailbox(st, acct, "a"));
	CHECK(!test_has_mailbox(st, acct, "a/x"));
	CHECK(!test_has_mailbox(st, acct, "b"));
	CHECK(test_has_mailbox(st, acct, "ab"));
	CHECK(test_has_mailbox(st, acct, "b/c/x/y"));
	struct store_mailbox m;
	CHECK_EQ_INT(store_mailbox_get(st, acct, ax, &m), STORE_OK);
	CHECK_EQ_STR(m.name, "b/c/x");
	CHECK_EQ_INT(m.uidvalidity, before.uidvalidity);
	CHECK_EQ_INT(m.uidnext, before.uidnext);
	CHECK_EQ_INT(m.messages, 1);
	store_mailbox_clear(&m);
	store_mailbox_clear(&before);
	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, acct, ax, 0, &e, &n), STORE_OK);
	CHECK(n == 1 && e[0].uid == uid);
	free(e);
	/* Subscriptions are names and stay where they were. */
	char **subs;
	size_t ns;
	CHECK_EQ_INT(store_subscriptions(st, acct, &subs, &ns), STORE_OK);
	bool old_name = false, new_name = false;
	for (size_t i = 0; i < ns; i++) {
		old_name |= strcmp(subs[i], "a/x") == 0;
		new_name |= strcmp(subs[i], "b/c/x") == 0;
	}
	CHECK(old_name && !new_name);
	store_strings_free(subs, ns);
	CHECK_EQ_INT(store_mailbox_get(st, acct, ax, &m), STORE_OK);
	CHECK(!m.subscribed);
	store_mailbox_clear(&m);

	/* Errors. */
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "nope", "z"), STORE_NOTFOUND);
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "b", "z"), STORE_NOTFOUND); /* only a level, not a mailbox */
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "b/c", "ab"), STORE_EXISTS);
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "b/c", "inbox"), STORE_EXISTS);
	CHECK_EQ_INT(store_mailbox_create(st, acct, "q/x", NULL, NULL), STORE_OK);
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "b/c", "q"), STORE_EXISTS); /* "b/c/x" would become "q/x" */
	CHECK(test_has_mailbox(st, acct, "b/c/x/y"));
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "b/c", "b/c"), STORE_INVALID);
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "b/c", "b/c/d"), STORE_INVALID);
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "b/c", "a//b"), STORE_INVALID);
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "", "z"), STORE_INVALID);
	CHECK_EQ_INT(store_mailbox_rename(st, acct + 100, "b/c", "z"), STORE_NOTFOUND);
	char *huge = xmalloc(STORE_MAILBOX_NAME_MAX + 1);
	memset(huge, 'h', STORE_MAILBOX_NAME_MAX - 2);
	huge[STORE_MAILBOX_NAME_MAX - 2] = '\0';
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "b/c", huge), STORE_INVALID); /* "b/c/x/y" would not fit */
	free(huge);

	/* Up one level, where a new name is an old one of the same rename. */
	CHECK_EQ_INT(store_mailbox_create(st, acct, "p/y", NULL, NULL), STORE_OK);
	CHECK_EQ_INT(store_mailbox_create(st, acct, "p/y/y", NULL, NULL), STORE_OK);
	CHECK_EQ_INT(store_mailbox_create(st, acct, "p/y/y/z", NULL, NULL), STORE_OK);
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "p/y", "p"), STORE_OK);
	CHECK(test_has_mailbox(st, acct, "p"));
	CHECK(test_has_mailbox(st, acct, "p/y"));
	CHECK(test_has_mailbox(st, acct, "p/y/z"));
	CHECK(!test_has_mailbox(st, acct, "p/y/y"));

	store_close(st);
	test_rmrf(dir);
	free(dir);
}

TEST(rename_inbox)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	struct test_watch_log w = {.lock = PTHREAD_MUTEX_INITIALIZER};
	store_watch(st, test_watcher, &w);
	int64_t acct = test_account(st, "rin");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	int64_t child;
	CHECK_EQ_INT(store_mailbox_create(st, acct, "INBOX/child", NULL, &child), STORE_OK);
	const char *kw[] = {"Later"};
	struct store_target t = {.account_id = acct, .mailbox_id = inbox, .flags = STORE_FLAG_FLAGGED,
				 .keywords = kw, .n_keywords = 1};
	CHECK_EQ_INT(store_deliver(st, "one\n", 4, &t, 1), STORE_OK);
	uint32_t u1 = t.uid_r;
	t.n_keywords = 0;
	t.flags = STORE_FLAG_SEEN;
	CHECK_EQ_INT(store_deliver(st, "two\n", 4, &t, 1), STORE_OK);
	test_deliver1(st, acct, child, "three\n");
	struct store_mailbox in = test_mailbox(st, acct, "INBOX");
	size_t heard = test_watch_count(&w);

	CHECK_EQ_INT(store_mailbox_rename(st, acct, "inbox", "Old Mail"), STORE_OK);
	/* INBOX stays, empty, with its UIDVALIDITY and UIDNEXT. */
	struct store_mailbox m = test_mailbox(st, acct, "INBOX");
	CHECK_EQ_INT(m.id, inbox);
	CHECK_EQ_INT(m.uidvalidity, in.uidvalidity);
	CHECK_EQ_INT(m.uidnext, in.uidnext);
	CHECK_EQ_INT(m.messages, 0);
	CHECK_EQ_INT(m.unseen, 0);
	CHECK_EQ_INT(m.bytes, 0);
	CHECK(m.highestmodseq > in.highestmodseq);
	store_mailbox_clear(&m);
	/* Its messages are in a new mailbox. */
	m = test_mailbox(st, acct, "Old Mail");
	CHECK(m.id != inbox);
	CHECK(m.uidvalidity != in.uidvalidity);
	CHECK_EQ_INT(m.messages, 2);
	CHECK_EQ_INT(m.unseen, 1);
	CHECK_EQ_INT(m.uidnext, 3);
	CHECK(m.subscribed);
	CHECK_EQ_INT(m.n_keywords, 1);
	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, acct, m.id, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_INT(e[0].uid, 1);
		CHECK_EQ_INT(e[0].flags, STORE_FLAG_FLAGGED);
		CHECK_EQ_INT(e[0].keywords, 1);
		CHECK_EQ_INT(e[1].flags, STORE_FLAG_SEEN);
	}
	free(e);
	/* Sessions on INBOX see the messages vanish; the child is untouched. */
	uint32_t *gone;
	size_t n_gone;
	CHECK_EQ_INT(store_changes(st, acct, inbox, in.highestmodseq, &e, &n, &gone, &n_gone), STORE_OK);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(n_gone, 2);
	if (n_gone == 2)
		CHECK_EQ_INT(gone[0], u1);
	free(e);
	free(gone);
	CHECK(test_watch_count(&w) >= heard + 2);
	struct store_mailbox cm;
	CHECK_EQ_INT(store_mailbox_get(st, acct, child, &cm), STORE_OK);
	CHECK_EQ_STR(cm.name, "INBOX/child");
	CHECK_EQ_INT(cm.messages, 1);
	store_mailbox_clear(&cm);
	CHECK(!test_has_mailbox(st, acct, "Old Mail/child"));

	/* An empty INBOX renames too; a taken name is refused. */
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "INBOX", "Old Mail"), STORE_EXISTS);
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "INBOX", "INBOX"), STORE_INVALID);
	CHECK_EQ_INT(store_mailbox_rename(st, acct, "INBOX", "INBOX/older"), STORE_OK);
	CHECK(test_has_mailbox(st, acct, "INBOX/older"));
	store_mailbox_clear(&m);
	store_mailbox_clear(&in);

	store_close(st);
	test_rmrf(dir);
	free(dir);
}

TEST(subscriptions)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "sub");
	char **s;
	size_t n;
	/* The folders of a new account are subscribed. */
	CHECK_EQ_INT(store_subscriptions(st, acct, &s, &n), STORE_OK);
	CHECK_EQ_INT(n, 6);
	if (n == 6) {
		CHECK_EQ_STR(s[0], "Archive");
		CHECK_EQ_STR(s[2], "INBOX");
	}
	store_strings_free(s, n);

	/* A name that is no mailbox can be subscribed, twice, and stays. */
	CHECK_EQ_INT(store_subscribe(st, acct, "Lists/Future", true), STORE_OK);
	CHECK_EQ_INT(store_subscribe(st, acct, "Lists/Future", true), STORE_OK);
	CHECK_EQ_INT(store_subscribe(st, acct, "inbox/x", true), STORE_OK);
	CHECK_EQ_INT(store_subscriptions(st, acct, &s, &n), STORE_OK);
	CHECK_EQ_INT(n, 8);
	bool future = false, inbox_x = false;
	for (size_t i = 0; i < n; i++) {
		future |= strcmp(s[i], "Lists/Future") == 0;
		inbox_x |= strcmp(s[i], "INBOX/x") == 0;
		if (i > 0)
			CHECK(strcmp(s[i - 1], s[i]) < 0);
	}
	CHECK(future && inbox_x);
	store_strings_free(s, n);
	/* Creating it shows it subscribed; deleting it keeps the subscription. */
	CHECK_EQ_INT(store_mailbox_create(st, acct, "Lists/Future", NULL, NULL), STORE_OK);
	struct store_mailbox m = test_mailbox(st, acct, "Lists/Future");
	CHECK(m.subscribed);
	store_mailbox_clear(&m);
	CHECK_EQ_INT(store_mailbox_delete(st, acct, "Lists/Future"), STORE_OK);
	CHECK_EQ_INT(store_subscriptions(st, acct, &s, &n), STORE_OK);
	CHECK_EQ_INT(n, 8);
	store_strings_free(s, n);

	/* Unsubscribe shows in find and list. */
	CHECK_EQ_INT(store_subscribe(st, acct, "Junk", false), STORE_OK);
	CHECK_EQ_INT(store_subscribe(st, acct, "Junk", false), STORE_NOTFOUND);
	m = test_mailbox(st, acct, "Junk");
	CHECK(!m.subscribed);
	store_mailbox_clear(&m);
	struct store_mailbox *list;
	size_t nl;
	CHECK_EQ_INT(store_mailbox_list(st, acct, &list, &nl), STORE_OK);
	for (size_t i = 0; i < nl; i++)
		CHECK(list[i].subscribed == (strcmp(list[i].name, "Junk") != 0));
	store_mailboxes_free(list, nl);

	CHECK_EQ_INT(store_subscribe(st, acct, "a//b", true), STORE_INVALID);
	CHECK_EQ_INT(store_subscribe(st, acct, "", true), STORE_INVALID);
	CHECK_EQ_INT(store_subscribe(st, acct + 100, "x", true), STORE_NOTFOUND);
	CHECK_EQ_INT(store_subscriptions(st, acct + 100, &s, &n), STORE_OK);
	CHECK_EQ_INT(n, 0);
	store_strings_free(s, n);
	/* Deleting the account takes its subscriptions along. */
	CHECK_EQ_INT(store_account_delete(st, "sub"), STORE_OK);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM subscriptions"), 0);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM mailbox_keywords"), 0);

	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* --- what the parser found --- */

static void test_info_equal(const struct mime_info *a, const struct mime_info *b, bool text)
{
	CHECK_EQ_STR(a->envelope, b->envelope);
	CHECK_EQ_STR(a->body, b->body);
	CHECK_EQ_STR(a->bodystructure, b->bodystructure);
	CHECK_EQ_STR(a->sections, b->sections);
	CHECK_EQ_INT(a->sent_date, b->sent_date);
	if (text) {
		CHECK_EQ_STR(a->search_headers, b->search_headers);
		CHECK_EQ_STR(a->search_body, b->search_body);
	} else {
		CHECK(a->search_headers == NULL && a->search_body == NULL);
	}
}

static int64_t test_sql_exec(const char *dir, const char *sql)
{
	char *path = xasprintf("%s/roost.db", dir);
	sqlite3 *db;
	int64_t changes = -1;
	if (sqlite3_open(path, &db) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		char *err = NULL;
		if (sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK)
			changes = sqlite3_total_changes(db);
		else
			fprintf(stderr, "sql error: %s\n", err ? err : "?");
		sqlite3_free(err);
	}
	sqlite3_close(db);
	free(path);
	return changes;
}

TEST(message_info)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir, true);
	int64_t acct = test_account(st, "info");
	int64_t other = test_account(st, "info2");
	int64_t inbox = test_mailbox_id(st, acct, "INBOX");
	const char *text = "From: A <a@example.org>\nSubject: Hello\nDate: Mon, 2 Jan 2006 15:04:05 +0000\n\nBody text\n";
	test_deliver1(st, acct, inbox, text);
	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, acct, inbox, 0, &e, &n), STORE_OK);
	int64_t mid = n ? e[0].message_id : 0;
	free(e);

	/* What the parser makes of the stored (CRLF) content. */
	size_t len;
	char *stored = test_read_all(st, acct, mid, &len);
	struct mime_info want;
	mime_parse(stored, len, &want);
	free(stored);

	struct mime_info got;
	CHECK_EQ_INT(store_message_info(st, acct, mid, true, &got), STORE_OK);
	test_info_equal(&got, &want, true);
	mime_info_clear(&got);
	CHECK_EQ_INT(store_message_info(st, acct, mid, false, &got), STORE_OK);
	test_info_equal(&got, &want, false);
	mime_info_clear(&got);
	CHECK_EQ_INT(store_message_info(st, other, mid, false, &got), STORE_NOTFOUND);
	CHECK(got.envelope == NULL);
	CHECK_EQ_INT(store_message_info(st, acct, mid + 100, false, &got), STORE_NOTFOUND);

	/* A message stored without info (as before the parser existed) is
	 * parsed on first use and the result kept. */
	CHECK(test_sql_exec(dir, "DELETE FROM message_info; DELETE FROM message_text") > 0);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM message_info"), 0);
	CHECK_EQ_INT(store_message_info(st, acct, mid, false, &got), STORE_OK);
	test_info_equal(&got, &want, false);
	mime_info_clear(&got);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM message_info"), 1);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM message_text"), 1);
	CHECK_EQ_INT(store_message_info(st, acct, mid, true, &got), STORE_OK);
	test_info_equal(&got, &want, true);
	mime_info_clear(&got);
	/* Info without its text is parsed again for the text. */
	CHECK(test_sql_exec(dir, "DELETE FROM message_text") > 0);
	CHECK_EQ_INT(store_message_info(st, acct, mid, true, &got), STORE_OK);
	test_info_equal(&got, &want, true);
	mime_info_clear(&got);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM message_text"), 1);

	/* message_info_set on content that is gone keeps nothing. */
	CHECK_EQ_INT(store_expunge(st, acct, inbox, (uint32_t[]){1}, 1), STORE_OK);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM message_info"), 0);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM message_text"), 0);
	CHECK_EQ_INT(st->ops->message_info_set(st, mid, &want), STORE_NOTFOUND);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM message_info"), 0);
	mime_info_clear(&want);

	store_close(st);
	test_rmrf(dir);
	free(dir);
}

/* --- migration --- */

/* A database made by the previous schema (version 3) with mail in it opens,
 * migrates, and keeps everything: counters computed, every mailbox still
 * subscribed, messages parsed when first asked. */
/* Step 6 moves ENVELOPE out of message_info: what was kept before is still
 * found, one message at a time and in batches, and deleting the message
 * removes it. */
TEST(migration_keeps_envelopes)
{
	char *dir = test_tmpdir();
	char *path = xasprintf("%s/roost.db", dir);
	struct sqlite_conn *c;
	CHECK_EQ_INT(sqlite_conn_open(path, false, &c), STORE_OK);
	CHECK_EQ_INT(sqlite_migrate_to(c, 5), STORE_OK);
	const char *rows =
		"INSERT INTO accounts (id, name, pwhash, created) VALUES (1, 'old', 'x', 1);"
		"INSERT INTO mailboxes (account_id, id, name, uidvalidity, uidnext, highestmodseq, messages, bytes)"
		"  VALUES (1, 1, 'INBOX', 100, 2, 2, 1, 12);"
		"UPDATE store_meta SET value = 1 WHERE key = 'last_mailbox_id';"
		"INSERT INTO messages (id, size, created, content) VALUES (1, 12, 1, CAST('Subject: k' || char(13, 10) AS BLOB));"
		"INSERT INTO entries (account_id, mailbox_id, uid, message_id, size, flags, modseq, internal_date)"
		"  VALUES (1, 1, 1, 1, 12, 0, 2, 1);"
		"INSERT INTO message_info (message_id, sent_date, envelope, body, bodystructure, sections)"
		"  VALUES (1, 7, '(\"kept\")', 'B', 'BS', 'S');";
	CHECK(sqlite3_exec(c->db, rows, NULL, NULL, NULL) == SQLITE_OK);
	sqlite_conn_close(c);
	free(path);
	struct store *st = test_open(dir, true);
	CHECK(test_sql_int(dir, "PRAGMA user_version") >= 6);
	struct mime_info info = {0};
	CHECK_EQ_INT(store_message_info(st, 1, 1, false, &info), STORE_OK);
	CHECK_EQ_STR(info.envelope, "(\"kept\")");
	CHECK_EQ_STR(info.bodystructure, "BS");
	CHECK_EQ_INT(info.sent_date, 7);
	mime_info_clear(&info);
	struct store_info_row *r = NULL;
	size_t n = 0;
	CHECK_EQ_INT(store_message_infos(st, 1, 1, 1, 10, 5, 0, &r, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1) {
		CHECK_EQ_STR(r[0].info.envelope, "(\"kept\")");
		CHECK(r[0].info.sections == NULL);
	}
	store_info_rows_free(r, n);
	CHECK_EQ_INT(store_message_infos(st, 1, 1, 1, 10, 5, STORE_INFO_SECTIONS, &r, &n), STORE_OK);
	if (n == 1)
		CHECK_EQ_STR(r[0].info.sections, "S");
	store_info_rows_free(r, n);
	uint32_t uid = 1;
	CHECK_EQ_INT(store_expunge(st, 1, 1, &uid, 1), STORE_OK);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM message_envelope"), 0);
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

TEST(migration_from_version_3)
{
	char *dir = test_tmpdir();
	char *path = xasprintf("%s/roost.db", dir);
	struct sqlite_conn *c;
	CHECK_EQ_INT(sqlite_conn_open(path, false, &c), STORE_OK);
	CHECK_EQ_INT(sqlite_migrate_to(c, 3), STORE_OK);
	const char *rows =
		"INSERT INTO accounts (id, name, pwhash, created) VALUES (1, 'old', 'x', 1);"
		"INSERT INTO mailboxes (account_id, id, name, uidvalidity, uidnext, highestmodseq, subscribed, messages, bytes)"
		"  VALUES (1, 1, 'INBOX', 100, 4, 5, 1, 3, 30), (1, 2, 'Hidden', 101, 1, 1, 0, 0, 0);"
		"UPDATE store_meta SET value = 2 WHERE key = 'last_mailbox_id';"
		"UPDATE store_meta SET value = 101 WHERE key = 'last_uidvalidity';"
		"INSERT INTO messages (id, size, created, content) VALUES"
		"  (1, 10, 1, CAST('Subject: 1' || char(13, 10) AS BLOB)),"
		"  (2, 10, 1, CAST('Subject: 2' || char(13, 10) AS BLOB)),"
		"  (3, 10, 1, CAST('Subject: 3' || char(13, 10) AS BLOB));"
		"INSERT INTO entries (account_id, mailbox_id, uid, message_id, size, flags, modseq, internal_date)"
		"  VALUES (1, 1, 1, 1, 12, 1, 2, 1), (1, 1, 2, 2, 12, 8, 3, 1), (1, 1, 3, 3, 12, 0, 4, 1);"
		"INSERT INTO tombstones (account_id, mailbox_id, uid, modseq) VALUES (1, 1, 9, 5);";
	char *err = NULL;
	CHECK(sqlite3_exec(c->db, rows, NULL, NULL, &err) == SQLITE_OK);
	if (err)
		fprintf(stderr, "sql: %s\n", err);
	sqlite3_free(err);
	sqlite_conn_close(c);
	CHECK_EQ_INT(test_sql_int(dir, "PRAGMA user_version"), 3);

	struct store *st = test_open(dir, true);
	CHECK(test_sql_int(dir, "PRAGMA user_version") >= 4);
	struct store_mailbox m = test_mailbox(st, 1, "INBOX");
	CHECK_EQ_INT(m.messages, 3);
	CHECK_EQ_INT(m.unseen, 2);
	CHECK_EQ_INT(m.deleted, 1);
	CHECK_EQ_INT(m.highestmodseq, 5);
	CHECK(m.subscribed);
	CHECK_EQ_INT(m.n_keywords, 0);
	store_mailbox_clear(&m);
	m = test_mailbox(st, 1, "Hidden");
	CHECK(!m.subscribed);
	store_mailbox_clear(&m);

	struct store_entry *e;
	size_t n;
	CHECK_EQ_INT(store_entries(st, 1, 1, 0, &e, &n), STORE_OK);
	CHECK_EQ_INT(n, 3);
	if (n == 3)
		CHECK_EQ_INT(e[1].keywords, 0);
	free(e);
	uint32_t *gone;
	size_t n_gone;
	CHECK_EQ_INT(store_changes(st, 1, 1, 3, &e, &n, &gone, &n_gone), STORE_OK);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(n_gone, 1);
	free(e);
	free(gone);

	/* No info was kept for the old messages: parsed on first use. */
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM message_info"), 0);
	struct mime_info want, got;
	mime_parse("Subject: 2\r\n", 12, &want);
	CHECK_EQ_INT(store_message_info(st, 1, 2, true, &got), STORE_OK);
	test_info_equal(&got, &want, true);
	mime_info_clear(&got);
	mime_info_clear(&want);
	CHECK_EQ_INT(test_sql_int(dir, "SELECT count(*) FROM message_info"), 1);

	/* The migrated mailbox goes on as before. */
	const char *kw[] = {"$Junk"};
	struct store_target t = {.account_id = 1, .mailbox_id = 1, .keywords = kw, .n_keywords = 1};
	CHECK_EQ_INT(store_deliver(st, "new\n", 4, &t, 1), STORE_OK);
	CHECK_EQ_INT(t.uid_r, 4);
	struct store_flag_result r;
	uint32_t all[] = {1, 2, 3, 4};
	CHECK_EQ_INT(test_flags(st, 1, 1, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0, all, 4, &r), STORE_OK);
	CHECK_EQ_INT(r.modseq, 7);
	store_flag_result_clear(&r);
	test_counts(st, 1, "INBOX", 4, 0, 1);
	int64_t id;
	CHECK_EQ_INT(store_mailbox_create(st, 1, "New", NULL, &id), STORE_OK);
	CHECK_EQ_INT(id, 3);
	store_close(st);

	/* Reopening a migrated store migrates nothing. */
	st = test_open(dir, true);
	test_counts(st, 1, "INBOX", 4, 0, 1);
	store_close(st);
	CHECK(test_sql_int(dir, "PRAGMA user_version") >= 4);
	free(path);
	test_rmrf(dir);
	free(dir);
}
