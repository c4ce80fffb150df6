/* Local recipients (src/smtp/smtp-local.c): which domains are ours, the order
 * in which an address is looked up, who may send as whom, and delivery once
 * for many targets. Against a real embedded store in a temporary directory. */
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#include "core/config.h"
#include "core/util.h"
#include "net/server.h"
#include "smtp/smtp-local.h"
#include "store/store.h"

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) { return remove(path); }

struct fixture {
	char dir[64];
	struct server srv;
	int64_t alice, bob, carol;
};

static int64_t add_account(struct store *st, const char *name)
{
	int64_t id = 0;
	CHECK_EQ_INT(store_account_create(st, name, "$6$salt$hash", &id), STORE_OK);
	return id;
}

static void setup(struct fixture *f, const char *const *sets)
{
	memset(f, 0, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/roost-test-local-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		exit(1);
	f->srv.cfg = config_new();
	const char *err;
	for (; sets && *sets; sets += 2)
		CHECK_EQ_INT(config_set(f->srv.cfg, sets[0], sets[1], &err), 0);
	snprintf(f->srv.hostname, sizeof f->srv.hostname, "mx.example.com");
	if (store_open_sqlite(f->dir, true, &f->srv.store, &err) != STORE_OK)
		exit(1);
	f->alice = add_account(f->srv.store, "alice@example.com");
	f->bob = add_account(f->srv.store, "bob");
	f->carol = add_account(f->srv.store, "carol@example.org");
}

static void teardown(struct fixture *f)
{
	store_close(f->srv.store);
	config_free(f->srv.cfg);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Resolve addr and return the single target's account id (0: not LOCAL_OK or
 * not exactly one target), and its mailbox name through *mailbox_r. */
static int64_t resolve1(struct fixture *f, const char *addr, bool any, enum local_result want)
{
	struct local_target *t = NULL;
	size_t n = 0;
	enum local_result r = local_resolve(&f->srv, addr, any, &t, &n);
	CHECK_EQ_INT(r, want);
	int64_t id = r == LOCAL_OK && n == 1 ? t[0].account_id : 0;
	local_targets_free(t, n);
	return id;
}

TEST(domains)
{
	static const char *const sets[] = {"smtp.domains", " example.net ,Example.INFO", NULL};
	struct fixture f;
	setup(&f, sets);
	CHECK(local_domain(&f.srv, "example.com"));   /* an account's domain */
	CHECK(local_domain(&f.srv, "EXAMPLE.ORG"));
	CHECK(local_domain(&f.srv, "example.net"));   /* smtp.domains */
	CHECK(local_domain(&f.srv, "example.info"));
	CHECK(local_domain(&f.srv, "mx.example.com")); /* the host name */
	CHECK(local_domain(&f.srv, "localhost"));
	CHECK(!local_domain(&f.srv, "example.co"));
	CHECK(!local_domain(&f.srv, "ample.com"));
	CHECK(!local_domain(&f.srv, "gmail.com"));
	teardown(&f);
}

TEST(lookup_order)
{
	struct fixture f;
	setup(&f, NULL);
	CHECK_EQ_INT(resolve1(&f, "Alice@Example.com", false, LOCAL_OK), f.alice);
	CHECK_EQ_INT(resolve1(&f, "alice+news@example.com", false, LOCAL_OK), f.alice);
	/* Bare names receive at every local domain, not at foreign ones. */
	CHECK_EQ_INT(resolve1(&f, "bob@example.com", false, LOCAL_OK), f.bob);
	CHECK_EQ_INT(resolve1(&f, "bob+x@localhost", false, LOCAL_OK), f.bob);
	CHECK_EQ_INT(resolve1(&f, "bob@gmail.com", false, LOCAL_REMOTE), 0);
	CHECK_EQ_INT(resolve1(&f, "bob@gmail.com", true, LOCAL_OK), f.bob); /* LMTP */
	CHECK_EQ_INT(resolve1(&f, "nobody@example.com", false, LOCAL_UNKNOWN), 0);
	CHECK_EQ_INT(resolve1(&f, "alice@example.org", false, LOCAL_UNKNOWN), 0);
	CHECK_EQ_INT(resolve1(&f, "", false, LOCAL_UNKNOWN), 0);
	/* An alias before the extension is stripped; an account before an alias. */
	CHECK_EQ_INT(store_alias_add(f.srv.store, "alice+team@example.com", "bob"), STORE_OK);
	CHECK_EQ_INT(resolve1(&f, "alice+team@example.com", false, LOCAL_OK), f.bob);
	CHECK_EQ_INT(store_alias_add(f.srv.store, "alice@example.com", "bob"), STORE_OK);
	CHECK_EQ_INT(resolve1(&f, "alice@example.com", false, LOCAL_OK), f.alice);
	/* Catch-all last; an alias to a deleted account is unknown. */
	CHECK_EQ_INT(store_alias_add(f.srv.store, "@example.org", "carol@example.org"), STORE_OK);
	CHECK_EQ_INT(resolve1(&f, "anyone@example.org", false, LOCAL_OK), f.carol);
	CHECK_EQ_INT(store_alias_add(f.srv.store, "gone@example.com", "dave"), STORE_OK);
	CHECK_EQ_INT(resolve1(&f, "gone@example.com", false, LOCAL_UNKNOWN), 0);
	/* An alias to several accounts gives one target each. */
	CHECK_EQ_INT(store_alias_add(f.srv.store, "all@example.com", "alice@example.com"), STORE_OK);
	CHECK_EQ_INT(store_alias_add(f.srv.store, "all@example.com", "bob"), STORE_OK);
	struct local_target *t = NULL;
	size_t n = 0;
	CHECK_EQ_INT(local_resolve(&f.srv, "all@example.com", false, &t, &n), LOCAL_OK);
	CHECK_EQ_INT(n, 2);
	/* Delivered once, however many targets share a mailbox. */
	t = xrealloc(t, 3 * sizeof *t);
	t[2] = t[1];
	t[2].account = NULL;
	CHECK_EQ_INT(local_deliver(&f.srv, "Subject: x\r\n\r\nhi\r\n", 18, t, 3), STORE_OK);
	t[2].account = NULL;
	local_targets_free(t, 2);
	struct store_mailbox mb;
	CHECK_EQ_INT(store_mailbox_find(f.srv.store, f.bob, "INBOX", &mb), STORE_OK);
	CHECK_EQ_INT(mb.messages, 1);
	store_mailbox_clear(&mb);
	teardown(&f);
}

TEST(plus_folder_and_delimiter)
{
	static const char *const sets[] = {"smtp.plus_folder", "yes", "smtp.recipient_delimiter", "-", NULL};
	struct fixture f;
	setup(&f, sets);
	int64_t lists;
	CHECK_EQ_INT(store_mailbox_create(f.srv.store, f.bob, "lists", NULL, &lists), STORE_OK);
	struct local_target *t = NULL;
	size_t n = 0;
	CHECK_EQ_INT(local_resolve(&f.srv, "bob-lists@localhost", false, &t, &n), LOCAL_OK);
	CHECK(n == 1 && t[0].mailbox_id == lists);
	local_targets_free(t, n);
	t = NULL;
	n = 0;
	CHECK_EQ_INT(local_resolve(&f.srv, "bob-none@localhost", false, &t, &n), LOCAL_OK);
	CHECK(n == 1 && t[0].mailbox_id != lists);
	local_targets_free(t, n);
	CHECK_EQ_INT(resolve1(&f, "bob+lists@localhost", false, LOCAL_UNKNOWN), 0); /* '+' is no delimiter here */
	teardown(&f);
}

TEST(send_as)
{
	struct fixture f;
	setup(&f, NULL);
	CHECK(local_may_send_as(&f.srv, f.alice, "alice@example.com"));
	CHECK(local_may_send_as(&f.srv, f.alice, "ALICE+x@example.com"));
	CHECK(!local_may_send_as(&f.srv, f.alice, "bob@example.com"));
	CHECK(local_may_send_as(&f.srv, f.bob, "bob@example.com"));
	CHECK(local_may_send_as(&f.srv, f.bob, "bob@localhost"));
	CHECK(!local_may_send_as(&f.srv, f.bob, "bob@gmail.com"));
	CHECK(!local_may_send_as(&f.srv, f.alice, ""));
	CHECK_EQ_INT(store_alias_add(f.srv.store, "sales@example.com", "alice@example.com"), STORE_OK);
	CHECK(local_may_send_as(&f.srv, f.alice, "sales@example.com"));
	CHECK(!local_may_send_as(&f.srv, f.bob, "sales@example.com"));
	/* A catch-all receives everything but sends as nobody. */
	CHECK_EQ_INT(store_alias_add(f.srv.store, "@example.org", "bob"), STORE_OK);
	CHECK(!local_may_send_as(&f.srv, f.bob, "ceo@example.org"));
	teardown(&f);
}
