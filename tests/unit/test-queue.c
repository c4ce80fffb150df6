/* Unit tests for the outbound queue: the store's queue calls on the embedded
 * SQLite backend (add, list, due, per-recipient updates, flush, delete,
 * reopening) and the delivery status notifications the queue builds. Each
 * store test works in a fresh temporary directory and removes it. */
#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#include "core/buf.h"
#include "core/util.h"
#include "smtp/queue-dsn.h"
#include "smtp/smtp-parse.h"
#include "store/store.h"

static int test_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static char *test_tmpdir(void)
{
	char *dir = xstrdup("/tmp/roost-test-queue-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	return dir;
}

static void test_rmrf(char *dir)
{
	nftw(dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

static struct store *test_open(const char *dir)
{
	struct store *st = NULL;
	const char *err = NULL;
	if (store_open_sqlite(dir, true, &st, &err) != STORE_OK) {
		fprintf(stderr, "store_open_sqlite(%s): %s\n", dir, err ? err : "?");
		exit(1);
	}
	return st;
}

static const char test_msg[] = "From: a@here.test\r\nTo: b@there.test\r\nSubject: hi\r\n\r\nbody\r\n";

static int64_t test_add(struct store *st, const char *sender, int64_t due)
{
	struct store_queue_rcpt r[2] = {
		{.addr = "b@there.test", .notify = SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY, .orcpt = "rfc822;b@there.test",
		 .next_attempt = due},
		{.addr = "c@else.test", .next_attempt = due},
	};
	struct store_queue_msg m = {.sender = (char *)sender, .envid = "ENV1", .ret = SMTP_RET_HDRS,
				    .body = SMTP_BODY_8BITMIME, .account_id = 7, .rcpts = r, .n_rcpts = 2};
	int64_t id = 0;
	CHECK_EQ_INT(store_queue_add(st, &m, test_msg, sizeof test_msg - 1, &id), STORE_OK);
	CHECK(id > 0);
	return id;
}

TEST(queue_add_get_content)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir);
	int64_t id = test_add(st, "a@here.test", 0);
	struct store_queue_msg m;
	CHECK_EQ_INT(store_queue_get(st, id, &m), STORE_OK);
	CHECK_EQ_STR(m.sender, "a@here.test");
	CHECK_EQ_STR(m.envid, "ENV1");
	CHECK_EQ_INT(m.ret, SMTP_RET_HDRS);
	CHECK_EQ_INT(m.body, SMTP_BODY_8BITMIME);
	CHECK_EQ_INT(m.account_id, 7);
	CHECK_EQ_INT(m.size, sizeof test_msg - 1);
	CHECK(m.created > 0);
	CHECK_EQ_INT(m.n_rcpts, 2);
	if (m.n_rcpts == 2) {
		CHECK_EQ_STR(m.rcpts[0].addr, "b@there.test");
		CHECK_EQ_STR(m.rcpts[0].orcpt, "rfc822;b@there.test");
		CHECK_EQ_INT(m.rcpts[0].notify, SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY);
		CHECK_EQ_INT(m.rcpts[0].state, STORE_QUEUE_PENDING);
		CHECK_EQ_INT(m.rcpts[0].attempts, 0);
		CHECK(m.rcpts[1].orcpt == NULL);
		CHECK(m.rcpts[1].last_reply == NULL);
	}
	store_queue_msg_clear(&m);
	char *data;
	size_t len;
	CHECK_EQ_INT(store_queue_content(st, id, &data, &len), STORE_OK);
	CHECK_EQ_INT(len, sizeof test_msg - 1);
	CHECK(memcmp(data, test_msg, len) == 0);
	free(data);
	CHECK_EQ_INT(store_queue_get(st, id + 100, &m), STORE_NOTFOUND);
	CHECK_EQ_INT(store_queue_content(st, id + 100, &data, &len), STORE_NOTFOUND);
	store_close(st);
	test_rmrf(dir);
}

TEST(queue_add_refuses_bad_envelopes)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir);
	struct store_queue_msg m = {.sender = ""};
	CHECK_EQ_INT(store_queue_add(st, &m, "x", 1, NULL), STORE_INVALID);
	struct store_queue_rcpt r = {.addr = ""};
	m.rcpts = &r;
	m.n_rcpts = 1;
	CHECK_EQ_INT(store_queue_add(st, &m, "x", 1, NULL), STORE_INVALID);
	char *longaddr = xmalloc(1000);
	memset(longaddr, 'a', 999);
	longaddr[999] = '\0';
	r.addr = longaddr;
	CHECK_EQ_INT(store_queue_add(st, &m, "x", 1, NULL), STORE_INVALID);
	free(longaddr);
	r.addr = "ok@x.test";
	CHECK_EQ_INT(store_queue_add(st, &m, "x", 1, NULL), STORE_OK);
	store_close(st);
	test_rmrf(dir);
}

TEST(queue_due_update_and_finish)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir);
	int64_t a = test_add(st, "a@here.test", 0);
	int64_t b = test_add(st, "", 5000000000LL); /* far in the future */
	int64_t *ids;
	size_t n;
	CHECK_EQ_INT(store_queue_due(st, time_now(), 10, &ids, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_INT(ids[0], a);
	free(ids);

	struct store_queue_msg m;
	CHECK_EQ_INT(store_queue_get(st, a, &m), STORE_OK);
	/* The first recipient is retried later, the second was taken. */
	struct store_queue_update u[2] = {
		{.rcpt_id = m.rcpts[0].id, .state = STORE_QUEUE_PENDING, .next_attempt = 4000000000LL,
		 .reply = "451 4.3.0 try later", .attempted = true},
		{.rcpt_id = m.rcpts[1].id, .state = STORE_QUEUE_SENT, .reply = "250 ok", .attempted = true},
	};
	CHECK_EQ_INT(store_queue_update(st, a, u, 2), STORE_OK);
	CHECK_EQ_INT(store_queue_due(st, time_now(), 10, &ids, &n), STORE_OK);
	CHECK_EQ_INT(n, 0);
	free(ids);
	struct store_queue_msg m2;
	CHECK_EQ_INT(store_queue_get(st, a, &m2), STORE_OK);
	CHECK_EQ_INT(m2.rcpts[0].attempts, 1);
	CHECK_EQ_STR(m2.rcpts[0].last_reply, "451 4.3.0 try later");
	CHECK_EQ_INT(m2.rcpts[0].next_attempt, 4000000000LL);
	CHECK_EQ_INT(m2.rcpts[1].state, STORE_QUEUE_SENT);
	store_queue_msg_clear(&m2);

	/* A flush makes it due again; a failure with a notification owed
	 * keeps the message (and makes it due) until the notice is out. */
	CHECK_EQ_INT(store_queue_flush(st, a), STORE_OK);
	CHECK_EQ_INT(store_queue_due(st, time_now(), 10, &ids, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	free(ids);
	struct store_queue_update f = {.rcpt_id = m.rcpts[0].id, .state = STORE_QUEUE_FAILED,
				       .reply = "550 5.1.1 no such user", .attempted = true,
				       .dsn = STORE_QUEUE_DSN_OWED};
	CHECK_EQ_INT(store_queue_update(st, a, &f, 1), STORE_OK);
	CHECK_EQ_INT(store_queue_due(st, 5000000001LL, 10, &ids, &n), STORE_OK);
	CHECK_EQ_INT(n, 2);
	free(ids);
	f.dsn = 0;
	f.attempted = false;
	f.reply = NULL;
	CHECK_EQ_INT(store_queue_update(st, a, &f, 1), STORE_OK);
	CHECK_EQ_INT(store_queue_get(st, a, &m2), STORE_NOTFOUND);
	CHECK_EQ_INT(store_queue_update(st, a, &f, 1), STORE_NOTFOUND);
	store_queue_msg_clear(&m);

	/* Flush of everything, delete of one. */
	CHECK_EQ_INT(store_queue_flush(st, 0), STORE_OK);
	CHECK_EQ_INT(store_queue_due(st, time_now(), 10, &ids, &n), STORE_OK);
	CHECK_EQ_INT(n, 1);
	free(ids);
	CHECK_EQ_INT(store_queue_delete(st, b), STORE_OK);
	CHECK_EQ_INT(store_queue_delete(st, b), STORE_NOTFOUND);
	CHECK_EQ_INT(store_queue_flush(st, b), STORE_NOTFOUND);
	struct store_queue_msg *all;
	CHECK_EQ_INT(store_queue_list(st, &all, &n), STORE_OK);
	CHECK_EQ_INT(n, 0);
	store_queue_msgs_free(all, n);
	store_close(st);
	test_rmrf(dir);
}

TEST(queue_survives_reopen)
{
	char *dir = test_tmpdir();
	struct store *st = test_open(dir);
	int64_t a = test_add(st, "a@here.test", 0);
	int64_t b = test_add(st, "x@here.test", 0);
	struct store_queue_msg m;
	CHECK_EQ_INT(store_queue_get(st, a, &m), STORE_OK);
	struct store_queue_update u = {.rcpt_id = m.rcpts[1].id, .state = STORE_QUEUE_SENT, .reply = "250 ok",
				       .attempted = true};
	CHECK_EQ_INT(store_queue_update(st, a, &u, 1), STORE_OK);
	store_queue_msg_clear(&m);
	store_close(st);

	st = test_open(dir);
	struct store_queue_msg *all;
	size_t n;
	CHECK_EQ_INT(store_queue_list(st, &all, &n), STORE_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_INT(all[0].id, a);
		CHECK_EQ_INT(all[1].id, b);
		CHECK_EQ_INT(all[0].rcpts[0].state, STORE_QUEUE_PENDING);
		CHECK_EQ_INT(all[0].rcpts[1].state, STORE_QUEUE_SENT);
		CHECK_EQ_STR(all[0].rcpts[1].last_reply, "250 ok");
		CHECK_EQ_INT(all[1].n_rcpts, 2);
	}
	store_queue_msgs_free(all, n);
	store_close(st);
	test_rmrf(dir);
}

/* --- notifications --- */

static const char test_orig[] = "From: a@here.test\r\nSubject: hello\r\n\r\nsecret body\r\n.dotted\r\n";

static char *test_dsn(int ret, const char *action, const char *diag)
{
	struct queue_dsn_rcpt r = {.addr = "b@there.test", .orcpt = "rfc822;B@There.test", .action = action,
				   .status = "5.1.1", .diagnostic = diag};
	struct queue_dsn d = {.reporting_mta = "mx.here.test", .to = "a@here.test", .envid = "QQ123", .ret = ret,
			      .arrival = 1700000000, .now = 1700000100, .orig = test_orig,
			      .orig_len = sizeof test_orig - 1, .rcpts = &r, .n = 1};
	struct buf b = {0};
	queue_dsn_build(&d, &b);
	buf_append(&b, "", 1);
	char *s = xstrdup(buf_head(&b));
	buf_free(&b);
	return s;
}

TEST(dsn_failure_report)
{
	char *s = test_dsn(SMTP_RET_NONE, "failed", "550 5.1.1 <b@there.test>: no such user");
	CHECK(strstr(s, "Content-Type: multipart/report; report-type=delivery-status;") != NULL);
	CHECK(strstr(s, "From: Mail Delivery System <MAILER-DAEMON@mx.here.test>\r\n") != NULL);
	CHECK(strstr(s, "To: <a@here.test>\r\n") != NULL);
	CHECK(strstr(s, "Subject: Undelivered Mail Returned to Sender\r\n") != NULL);
	CHECK(strstr(s, "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.here.test\r\n") != NULL);
	CHECK(strstr(s, "Original-Envelope-Id: QQ123\r\n") != NULL);
	CHECK(strstr(s, "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n") != NULL);
	CHECK(strstr(s, "Original-Recipient: rfc822; B@There.test\r\n") != NULL);
	CHECK(strstr(s, "Final-Recipient: rfc822; b@there.test\r\nAction: failed\r\nStatus: 5.1.1\r\n") != NULL);
	CHECK(strstr(s, "Diagnostic-Code: smtp; 550 5.1.1 <b@there.test>: no such user\r\n") != NULL);
	/* Without RET a failure returns the whole message. */
	CHECK(strstr(s, "Content-Type: message/rfc822\r\n\r\nFrom: a@here.test\r\n") != NULL);
	CHECK(strstr(s, "secret body") != NULL);
	CHECK(strstr(s, "Auto-Submitted: auto-replied\r\n") != NULL);
	/* Every line ends in CRLF. */
	for (char *p = s; *p; p++)
		if (*p == '\n')
			CHECK(p > s && p[-1] == '\r');
	free(s);
}

TEST(dsn_ret_hdrs_returns_the_header_only)
{
	char *s = test_dsn(SMTP_RET_HDRS, "failed", "550 5.7.1 refused");
	CHECK(strstr(s, "Content-Type: text/rfc822-headers\r\n\r\nFrom: a@here.test\r\nSubject: hello\r\n") != NULL);
	CHECK(strstr(s, "secret body") == NULL);
	free(s);
	s = test_dsn(SMTP_RET_FULL, "relayed", NULL);
	CHECK(strstr(s, "Subject: Successful Mail Delivery Report") != NULL);
	CHECK(strstr(s, "Action: relayed\r\n") != NULL);
	CHECK(strstr(s, "Diagnostic-Code") == NULL);
	CHECK(strstr(s, "secret body") != NULL);
	free(s);
	/* A delay notice returns the header unless RET=FULL. */
	s = test_dsn(SMTP_RET_NONE, "delayed", "451 4.3.0 busy");
	CHECK(strstr(s, "Subject: Delayed Mail") != NULL);
	CHECK(strstr(s, "secret body") == NULL);
	free(s);
}

TEST(dsn_values_cannot_break_the_report)
{
	struct queue_dsn_rcpt r = {.addr = "b@x\r\nBcc: evil", .action = "failed", .status = "5.0.0",
				   .diagnostic = "550 bad\r\nX-Injected: 1"};
	struct queue_dsn d = {.reporting_mta = "h", .to = "a@x\nSubject: no", .ret = SMTP_RET_HDRS, .now = 1,
			      .orig = "", .orig_len = 0, .rcpts = &r, .n = 1};
	struct buf b = {0};
	queue_dsn_build(&d, &b);
	buf_append(&b, "", 1);
	CHECK(strstr(buf_head(&b), "\r\nBcc: evil") == NULL);
	CHECK(strstr(buf_head(&b), "\r\nX-Injected") == NULL);
	CHECK(strstr(buf_head(&b), "\nSubject: no") == NULL);
	buf_free(&b);
}

TEST(dsn_status_from_replies)
{
	char st[16];
	queue_dsn_status(550, "5.1.1", st);
	CHECK_EQ_STR(st, "5.1.1");
	queue_dsn_status(451, "", st);
	CHECK_EQ_STR(st, "4.0.0");
	queue_dsn_status(554, NULL, st);
	CHECK_EQ_STR(st, "5.0.0");
}
