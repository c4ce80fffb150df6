/* Unit tests for src/auth: password hashing and verification against known
 * hashes of every supported scheme, SASL PLAIN parsing, APOP (RFC 1939's own
 * example) and login through a tiny in-memory store, and throttling delays
 * with a fake clock. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth-private.h"
#include "auth/auth.h"
#include "core/util.h"
#include "test.h"

/* Known hashes of "correct horse" made outside Roost (python3 crypt, openssl
 * passwd, libcrypt's crypt_gensalt), and the Openwall bcrypt vector "U*U". */
static const char *const known_hashes[] = {
	"$y$j9T$a.aPVGVmrRb13vZE2VTFV/$60sKO6q/W6PSeixs.omZlPxopJZh8BEbleVvTT4DgwC",
	"$gy$j9T$y27k972KkjFwwGuxkZHcA.$T/OJsUZY39PQLFhWrJviMbIm6UT1sO03MfQDgbAJYFC",
	"$7$CU..../....nbN3WhkhYPrKrDhE4/XJP0$HRdS5iAFfvA0zDhgr7ze.TxXXGqdus2IxyOlGROr4m4",
	"$6$rounds=5000$Ro0stSaltVal$PQZh0NdGfHZ636zYfy5PKRNdKhRtsAnaQdMZ1YM8.DT0I7B118eQXrUCd4KLKO0QRzlCHwx23Eu/4m2Bwo5Z.1",
	"$5$Ro0stSaltVal$swS.ndjZYfApUzImMa1VW4b4jT7yH5scTvMr/krb8a/",
	"$2b$05$B6i.f4CB7lkJ03zpCGHlNu/Muw492Yrjk0iBOy5yBtcUW9lCOiUo2",
};

TEST(hash_round_trip)
{
	const char *err = NULL;
	char *h = auth_hash_password("s3cret pass", &err);
	CHECK(h != NULL);
	if (h == NULL)
		return;
	CHECK(strncmp(h, "$y$", 3) == 0);
	CHECK(auth_hash_supported(h));
	CHECK(auth_verify_password("s3cret pass", h));
	CHECK(!auth_verify_password("s3cret pas", h));
	CHECK(!auth_verify_password("s3cret pass ", h));
	CHECK(!auth_verify_password("", h));
	/* Salts are random: the same password hashes differently. */
	char *h2 = auth_hash_password("s3cret pass", &err);
	CHECK(h2 != NULL && strcmp(h, h2) != 0);
	free(h);
	free(h2);
}

TEST(hash_empty_password_is_hashable)
{
	const char *err = NULL;
	char *h = auth_hash_password("", &err);
	CHECK(h != NULL);
	CHECK(auth_verify_password("", h));
	CHECK(!auth_verify_password("x", h));
	free(h);
}

/* libcrypt takes passphrases of up to 511 bytes; longer ones are refused
 * with a reason rather than hashed in part. */
TEST(hash_too_long_refused)
{
	char *pw = xmalloc(AUTH_MAX_PASSWORD + 2);
	memset(pw, 'a', AUTH_MAX_PASSWORD + 1);
	pw[AUTH_MAX_PASSWORD + 1] = '\0';
	const char *err = NULL;
	CHECK(auth_hash_password(pw, &err) == NULL);
	CHECK(err != NULL);
	pw[512] = '\0';
	err = NULL;
	CHECK(auth_hash_password(pw, &err) == NULL);
	CHECK(err != NULL);
	pw[511] = '\0';
	char *h = auth_hash_password(pw, &err);
	CHECK(h != NULL);
	CHECK(h != NULL && auth_verify_password(pw, h));
	pw[511] = 'a';
	CHECK(h != NULL && !auth_verify_password(pw, h));
	free(h);
	free(pw);
}

TEST(verify_known_hashes)
{
	for (size_t i = 0; i < ARRAY_LEN(known_hashes); i++) {
		CHECK(auth_hash_supported(known_hashes[i]));
		CHECK(auth_verify_password("correct horse", known_hashes[i]));
		CHECK(!auth_verify_password("correct horsE", known_hashes[i]));
		CHECK(!auth_verify_password("correct", known_hashes[i]));
	}
	CHECK(auth_verify_password("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
	/* openssl passwd -6 -salt Ro0stSaltVal, with non-ASCII UTF-8. */
	const char *utf8 = "$6$Ro0stSaltVal$RCmJc3CXdiXz3Cci7aOiRd8g.QOvi.Ks8sfXVfZWIbwiz57.qVKRr5U/Xa6S6uG6SuVyCZZh31mYxOxzNvlv1.";
	CHECK(auth_verify_password("p\xc3\xa4ssw\xc3\xb6rd", utf8));
	CHECK(!auth_verify_password("passw\xc3\xb6rd", utf8));
}

TEST(verify_rejects_bad_hashes)
{
	CHECK(!auth_verify_password("x", ""));
	CHECK(!auth_verify_password("x", "*"));
	CHECK(!auth_verify_password("x", "!"));
	CHECK(!auth_verify_password("x", "!$6$Ro0stSaltVal$abc"));
	/* Weak legacy schemes are not accepted even though libcrypt knows them. */
	CHECK(!auth_verify_password("pw", "$1$abcdefgh$IQtUouv7y7Q9dRWkQEPCc."));
	CHECK(!auth_hash_supported("$1$abcdefgh$IQtUouv7y7Q9dRWkQEPCc."));
	CHECK(!auth_hash_supported("ab01FAX.bQRSU"));
	/* A hash whose tail was altered must not verify. */
	char *h = xstrdup(known_hashes[3]);
	h[strlen(h) - 1] = h[strlen(h) - 1] == 'a' ? 'b' : 'a';
	CHECK(!auth_verify_password("correct horse", h));
	free(h);
	CHECK(!auth_verify_password(NULL, known_hashes[0]));
	CHECK(!auth_verify_password("x", NULL));
}

TEST(hash_supported_needs_a_complete_hash)
{
	CHECK(!auth_hash_supported(NULL));
	CHECK(!auth_hash_supported(""));
	CHECK(!auth_hash_supported("$6$Ro0stSaltVal$"));
	CHECK(!auth_hash_supported("$y$j9T$a.aPVGVmrRb13vZE2VTFV/"));
	CHECK(!auth_hash_supported("$2b$05$B6i.f4CB7lkJ03zpCGHlNu"));
	CHECK(!auth_hash_supported("$6$Ro0stSaltVal$RCmJc3CXdiXz3Cci7aOiRd8g"));
	CHECK(!auth_hash_supported("$y$"));
	CHECK(!auth_hash_supported("plaintext"));
	CHECK(!auth_hash_supported("$99$whatever$"));
}

/* SASL PLAIN */

static int plain(const char *msg, size_t len, const char **user, const char **pass, char **storage)
{
	return auth_sasl_plain_parse((const unsigned char *)msg, len, storage, user, pass);
}

TEST(sasl_plain_ok)
{
	const char *u, *p;
	char *s;
	CHECK_EQ_INT(plain("\0alice\0secret", 13, &u, &p, &s), 0);
	CHECK_EQ_STR(u, "alice");
	CHECK_EQ_STR(p, "secret");
	free(s);
	CHECK_EQ_INT(plain("alice\0alice\0secret", 18, &u, &p, &s), 0);
	CHECK_EQ_STR(u, "alice");
	CHECK_EQ_STR(p, "secret");
	free(s);
	/* Names are case-insensitive, so the authzid may differ in case. */
	CHECK_EQ_INT(plain("Alice@Example.COM\0alice@example.com\0pw", 38, &u, &p, &s), 0);
	CHECK_EQ_STR(u, "alice@example.com");
	free(s);
	/* Spaces are part of the password. */
	CHECK_EQ_INT(plain("\0bob\0 two words ", 16, &u, &p, &s), 0);
	CHECK_EQ_STR(p, " two words ");
	free(s);
}

TEST(sasl_plain_malformed)
{
	const char *u, *p;
	char *s = (char *)1;
	CHECK_EQ_INT(plain("", 0, &u, &p, &s), -1);
	CHECK(s == NULL);
	CHECK_EQ_INT(plain("alicesecret", 11, &u, &p, &s), -1);
	CHECK_EQ_INT(plain("\0alicesecret", 12, &u, &p, &s), -1);       /* one NUL */
	CHECK_EQ_INT(plain("alice\0secret", 12, &u, &p, &s), -1);        /* one NUL */
	CHECK_EQ_INT(plain("\0alice\0", 7, &u, &p, &s), -1);             /* empty password */
	CHECK_EQ_INT(plain("\0\0secret", 8, &u, &p, &s), -1);            /* empty authcid */
	CHECK_EQ_INT(plain("\0\0", 2, &u, &p, &s), -1);
	CHECK_EQ_INT(plain("\0alice\0sec\0ret", 14, &u, &p, &s), -1);    /* NUL in password */
	CHECK_EQ_INT(plain("mallory\0alice\0secret", 20, &u, &p, &s), -1); /* proxy login */
	CHECK(s == NULL);
	CHECK(u == NULL && p == NULL);
}

TEST(sasl_plain_limits)
{
	const char *u, *p;
	char *s;
	size_t n = 1 + AUTH_MAX_USERNAME + 1 + AUTH_MAX_PASSWORD;
	char *m = xmalloc(n + 1);
	memset(m, 'a', n);
	m[0] = '\0';
	m[1 + AUTH_MAX_USERNAME] = '\0';
	CHECK_EQ_INT(plain(m, n, &u, &p, &s), 0);
	CHECK_EQ_INT(strlen(u), AUTH_MAX_USERNAME);
	CHECK_EQ_INT(strlen(p), AUTH_MAX_PASSWORD);
	free(s);
	/* One byte more of password is refused. */
	m[n] = 'a';
	CHECK_EQ_INT(plain(m, n + 1, &u, &p, &s), -1);
	/* One byte more of name is refused. */
	memset(m, 'a', n + 1);
	m[0] = '\0';
	m[2 + AUTH_MAX_USERNAME] = '\0';
	CHECK_EQ_INT(plain(m, n, &u, &p, &s), -1);
	free(m);
}

/* A store with just account_find, over a fixed table. */

struct fake_account {
	const char *name, *pwhash, *apop;
};
static const struct fake_account fake_accounts[] = {
	{"alice", "$6$Ro0stSaltVal$RCmJc3CXdiXz3Cci7aOiRd8g.QOvi.Ks8sfXVfZWIbwiz57.qVKRr5U/Xa6S6uG6SuVyCZZh31mYxOxzNvlv1.", NULL},
	{"mrose", "$5$Ro0stSaltVal$swS.ndjZYfApUzImMa1VW4b4jT7yH5scTvMr/krb8a/", "tanstaaf"},
	{"locked", "!$5$Ro0stSaltVal$swS.ndjZYfApUzImMa1VW4b4jT7yH5scTvMr/krb8a/", ""},
	{"yuser", "$y$j9T$a.aPVGVmrRb13vZE2VTFV/$60sKO6q/W6PSeixs.omZlPxopJZh8BEbleVvTT4DgwC", NULL},
};
static int fake_fail_with_error;
static const char *fake_new_hash; /* when set: the password of every account changed to this hash */

static int fake_account_find(struct store *st, const char *name, struct store_account *r)
{
	if (fake_fail_with_error)
		return STORE_ERROR;
	for (size_t i = 0; i < ARRAY_LEN(fake_accounts); i++) {
		if (!str_ieq(name, fake_accounts[i].name))
			continue;
		memset(r, 0, sizeof *r);
		r->id = (int64_t)i + 1;
		r->name = xstrdup(fake_accounts[i].name);
		r->pwhash = xstrdup(fake_new_hash ? fake_new_hash : fake_accounts[i].pwhash);
		r->apop_secret = fake_accounts[i].apop ? xstrdup(fake_accounts[i].apop) : NULL;
		return STORE_OK;
	}
	return STORE_NOTFOUND;
}

static const struct store_ops fake_ops = {.account_find = fake_account_find};
static struct store fake_store = {.ops = &fake_ops};

TEST(login)
{
	struct store_account a;
	CHECK_EQ_INT(auth_login(&fake_store, "alice", "p\xc3\xa4ssw\xc3\xb6rd", &a), AUTH_OK);
	CHECK_EQ_INT(a.id, 1);
	CHECK_EQ_STR(a.name, "alice");
	store_account_clear(&a);
	CHECK_EQ_INT(auth_login(&fake_store, "ALICE", "p\xc3\xa4ssw\xc3\xb6rd", &a), AUTH_OK);
	store_account_clear(&a);
	CHECK_EQ_INT(auth_login(&fake_store, "alice", "wrong", &a), AUTH_FAILED);
	CHECK(a.name == NULL && a.pwhash == NULL);
	CHECK_EQ_INT(auth_login(&fake_store, "nobody", "p\xc3\xa4ssw\xc3\xb6rd", &a), AUTH_FAILED);
	CHECK_EQ_INT(auth_login(&fake_store, "", "x", &a), AUTH_FAILED);
	CHECK_EQ_INT(auth_login(&fake_store, "locked", "correct horse", &a), AUTH_FAILED);
	fake_fail_with_error = 1;
	CHECK_EQ_INT(auth_login(&fake_store, "alice", "p\xc3\xa4ssw\xc3\xb6rd", &a), AUTH_TEMPFAIL);
	fake_fail_with_error = 0;
}

/* An unknown name must cost about as much as a wrong password for a real
 * yescrypt account, or response times would tell which names exist. The
 * bound is loose: without the dummy check a miss takes microseconds. */
TEST(login_unknown_user_costs_a_hash)
{
	struct store_account a;
	int64_t best_known = INT64_MAX, best_unknown = INT64_MAX;
	for (int i = 0; i < 3; i++) {
		int64_t t0 = time_mono_ms();
		CHECK_EQ_INT(auth_login(&fake_store, "yuser", "wrong", &a), AUTH_FAILED);
		int64_t t1 = time_mono_ms();
		CHECK_EQ_INT(auth_login(&fake_store, "nosuchuser", "wrong", &a), AUTH_FAILED);
		int64_t t2 = time_mono_ms();
		if (t1 - t0 < best_known) best_known = t1 - t0;
		if (t2 - t1 < best_unknown) best_unknown = t2 - t1;
	}
	CHECK(best_known >= 5);
	CHECK(best_unknown * 3 >= best_known);
	CHECK_EQ_INT(auth_login(&fake_store, "yuser", "correct horse", &a), AUTH_OK);
	store_account_clear(&a);
}

TEST(login_cache)
{
	const char *yhash = fake_accounts[3].pwhash;
	struct store_account a;
	auth_cache_configure(60);
	CHECK(!auth_cache_hit("yuser", "correct horse", yhash));
	CHECK_EQ_INT(auth_login(&fake_store, "yuser", "wrong", &a), AUTH_FAILED);
	CHECK(!auth_cache_hit("yuser", "wrong", yhash)); /* failures are never remembered */
	CHECK_EQ_INT(auth_login(&fake_store, "YUSER", "correct horse", &a), AUTH_OK);
	store_account_clear(&a);
	/* Remembered under the stored name, for exactly this password and hash. */
	CHECK(auth_cache_hit("yuser", "correct horse", yhash));
	CHECK(!auth_cache_hit("yuser", "correct hors", yhash));
	CHECK(!auth_cache_hit("yuse", "rcorrect horse", yhash));
	CHECK(!auth_cache_hit("yuser", "correct horse", fake_accounts[0].pwhash));
	CHECK_EQ_INT(auth_login(&fake_store, "yuser", "correct horse", &a), AUTH_OK);
	store_account_clear(&a);
	/* A password change (a new stored hash) is seen at the next login. */
	const char *err = NULL;
	char *fresh = auth_hash_password("battery staple", &err);
	CHECK(fresh != NULL);
	fake_new_hash = fresh;
	CHECK_EQ_INT(auth_login(&fake_store, "yuser", "correct horse", &a), AUTH_FAILED);
	CHECK_EQ_INT(auth_login(&fake_store, "yuser", "battery staple", &a), AUTH_OK);
	store_account_clear(&a);
	fake_new_hash = NULL;
	free(fresh);
	/* Off: nothing is remembered, nothing is found. */
	auth_cache_configure(0);
	auth_cache_add("yuser", "correct horse", yhash);
	CHECK(!auth_cache_hit("yuser", "correct horse", yhash));
	CHECK_EQ_INT(auth_login(&fake_store, "yuser", "correct horse", &a), AUTH_OK);
	store_account_clear(&a);
	/* Configuring empties it. */
	auth_cache_configure(60);
	CHECK(!auth_cache_hit("yuser", "correct horse", yhash));
	auth_cache_configure(120);
}

TEST(apop_rfc1939_example)
{
	struct store_account a;
	const char *ts = "<1896.697170952@dbc.mtview.ca.us>";
	CHECK_EQ_INT(auth_apop(&fake_store, "mrose", ts, "c4c9334bac560ecc979e58001b3e22fb", &a), AUTH_OK);
	CHECK_EQ_STR(a.name, "mrose");
	store_account_clear(&a);
	/* Upper-case hex from a sloppy client is accepted too. */
	CHECK_EQ_INT(auth_apop(&fake_store, "mrose", ts, "C4C9334BAC560ECC979E58001B3E22FB", &a), AUTH_OK);
	store_account_clear(&a);
	CHECK_EQ_INT(auth_apop(&fake_store, "mrose", ts, "c4c9334bac560ecc979e58001b3e22fc", &a), AUTH_FAILED);
	CHECK_EQ_INT(auth_apop(&fake_store, "mrose", ts, "c4c9334bac560ecc979e58001b3e22f", &a), AUTH_FAILED);
	CHECK_EQ_INT(auth_apop(&fake_store, "mrose", ts, "c4c9334bac560ecc979e58001b3e22fbb", &a), AUTH_FAILED);
	CHECK_EQ_INT(auth_apop(&fake_store, "mrose", "<1896.697170953@dbc.mtview.ca.us>", "c4c9334bac560ecc979e58001b3e22fb", &a), AUTH_FAILED);
	/* No secret (alice) or an empty one (locked): APOP is off. */
	CHECK_EQ_INT(auth_apop(&fake_store, "alice", ts, "c4c9334bac560ecc979e58001b3e22fb", &a), AUTH_FAILED);
	CHECK_EQ_INT(auth_apop(&fake_store, "locked", ts, "d41d8cd98f00b204e9800998ecf8427e", &a), AUTH_FAILED);
	CHECK_EQ_INT(auth_apop(&fake_store, "nobody", ts, "c4c9334bac560ecc979e58001b3e22fb", &a), AUTH_FAILED);
	CHECK(a.name == NULL);
	fake_fail_with_error = 1;
	CHECK_EQ_INT(auth_apop(&fake_store, "mrose", ts, "c4c9334bac560ecc979e58001b3e22fb", &a), AUTH_TEMPFAIL);
	fake_fail_with_error = 0;
}

/* Throttling, on a clock the test moves by hand. */

static int64_t fake_now;
static int64_t fake_clock(void)
{
	return fake_now;
}

static struct auth_throttle *throttle_with_clock(int max)
{
	struct auth_throttle *t = auth_throttle_new(max);
	fake_now = 1000000;
	auth_throttle_set_clock(t, fake_clock);
	return t;
}

TEST(throttle_doubles_to_cap)
{
	struct auth_throttle *t = throttle_with_clock(3);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(auth_throttle_delay_ms(t, "192.0.2.1", "alice"), 0);
		auth_throttle_record(t, "192.0.2.1", "alice", false);
	}
	static const int expect[] = {1000, 2000, 4000, 8000, 15000, 15000, 15000};
	for (size_t i = 0; i < ARRAY_LEN(expect); i++) {
		CHECK_EQ_INT(auth_throttle_delay_ms(t, "192.0.2.1", "alice"), expect[i]);
		auth_throttle_record(t, "192.0.2.1", "alice", false);
		fake_now += 20000;
	}
	auth_throttle_free(t);
}

TEST(throttle_per_address_and_per_user)
{
	struct auth_throttle *t = throttle_with_clock(2);
	auth_throttle_record(t, "192.0.2.1", "alice", false);
	auth_throttle_record(t, "192.0.2.1", "bob", false);
	/* The address has two failures, each name only one. */
	CHECK_EQ_INT(auth_throttle_delay_ms(t, "192.0.2.1", "carol"), 1000);
	CHECK_EQ_INT(auth_throttle_delay_ms(t, "192.0.2.2", "alice"), 0);
	/* Guessing one account from many addresses is throttled too, and names
	 * are compared without case. */
	auth_throttle_record(t, "198.51.100.7", "ALICE", false);
	CHECK_EQ_INT(auth_throttle_delay_ms(t, "203.0.113.9", "alice"), 1000);
	/* Success clears the account's count but not the address's. */
	auth_throttle_record(t, "203.0.113.9", "alice", true);
	CHECK_EQ_INT(auth_throttle_delay_ms(t, "203.0.113.9", "alice"), 0);
	CHECK_EQ_INT(auth_throttle_delay_ms(t, "192.0.2.1", "dave"), 1000);
	/* Missing address or name just skips that half. */
	CHECK_EQ_INT(auth_throttle_delay_ms(t, NULL, "alice"), 0);
	auth_throttle_record(t, NULL, NULL, false);
	auth_throttle_record(t, "", "", false);
	auth_throttle_free(t);
}

TEST(throttle_window)
{
	struct auth_throttle *t = throttle_with_clock(2);
	auth_throttle_record(t, "192.0.2.1", NULL, false);
	fake_now += AUTH_THROTTLE_WINDOW_MS - 1;
	auth_throttle_record(t, "192.0.2.1", NULL, false);
	CHECK_EQ_INT(auth_throttle_delay_ms(t, "192.0.2.1", NULL), 1000);
	/* The window counts from the first failure while under the limit. */
	fake_now += 1;
	CHECK_EQ_INT(auth_throttle_delay_ms(t, "192.0.2.1", NULL), 0);
	CHECK_EQ_INT(auth_throttle_entries(t), 0);

	/* Over the limit, every further failure restarts the window. */
	for (int i = 0; i < 6; i++)
		auth_throttle_record(t, "192.0.2.1", NULL, false);
	for (int i = 0; i < 5; i++) {
		fake_now += AUTH_THROTTLE_WINDOW_MS - 1000;
		CHECK_EQ_INT(auth_throttle_delay_ms(t, "192.0.2.1", NULL), 15000);
		auth_throttle_record(t, "192.0.2.1", NULL, false);
	}
	fake_now += AUTH_THROTTLE_WINDOW_MS;
	CHECK_EQ_INT(auth_throttle_delay_ms(t, "192.0.2.1", NULL), 0);
	auth_throttle_free(t);
}

TEST(throttle_bounded_memory)
{
	struct auth_throttle *t = throttle_with_clock(1);
	auth_throttle_record(t, "192.0.2.1", NULL, false);
	char name[32];
	for (int i = 0; i < AUTH_THROTTLE_MAX_ENTRIES + 100; i++) {
		fake_now++;
		snprintf(name, sizeof name, "user%d", i);
		auth_throttle_record(t, NULL, name, false);
		CHECK(auth_throttle_entries(t) <= AUTH_THROTTLE_MAX_ENTRIES);
	}
	CHECK_EQ_INT(auth_throttle_entries(t), AUTH_THROTTLE_MAX_ENTRIES);
	/* The oldest entries went first; the newest are still there. */
	CHECK_EQ_INT(auth_throttle_delay_ms(t, "192.0.2.1", "user0"), 0);
	snprintf(name, sizeof name, "user%d", AUTH_THROTTLE_MAX_ENTRIES + 99);
	CHECK_EQ_INT(auth_throttle_delay_ms(t, NULL, name), 1000);
	/* Very long names are cut to a bounded key. */
	char *longname = xmalloc(100000);
	memset(longname, 'x', 99999);
	longname[99999] = '\0';
	auth_throttle_record(t, longname, longname, false);
	CHECK_EQ_INT(auth_throttle_delay_ms(t, NULL, longname), 1000);
	free(longname);
	auth_throttle_free(t);
}

struct hammer_arg {
	struct auth_throttle *t;
	int id;
};

static void *hammer(void *p)
{
	struct hammer_arg *h = p;
	char ip[32], user[32];
	for (int i = 0; i < 2000; i++) {
		snprintf(ip, sizeof ip, "10.0.%d.%d", h->id, i % 50);
		snprintf(user, sizeof user, "u%d", i % 300);
		auth_throttle_record(h->t, ip, user, i % 7 == 0);
		(void)auth_throttle_delay_ms(h->t, ip, user);
	}
	return NULL;
}

TEST(throttle_threads)
{
	struct auth_throttle *t = auth_throttle_new(5);
	pthread_t th[8];
	struct hammer_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i] = (struct hammer_arg){t, i};
		pthread_create(&th[i], NULL, hammer, &args[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	CHECK(auth_throttle_entries(t) <= 8 * 50 + 300);
	CHECK_EQ_INT(auth_throttle_delay_ms(t, "10.0.0.1", NULL), 15000);
	auth_throttle_free(t);
}
