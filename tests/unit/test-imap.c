/* Unit tests for the IMAP session helpers that need no connection: modified
 * UTF-7 mailbox names (RFC 3501 5.1.3) and sequence-set parsing. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "imap/imap-session.h"
#include "test.h"

static void utf7_pair(const char *utf8, const char *utf7)
{
	char *e = imap_utf8_to_utf7(utf8);
	CHECK_EQ_STR(e, utf7);
	char *d = imap_utf7_to_utf8(utf7);
	CHECK_EQ_STR(d, utf8);
	free(e);
	free(d);
}

TEST(utf7_round_trips)
{
	utf7_pair("INBOX", "INBOX");
	utf7_pair("Entwürfe", "Entw&APw-rfe");
	utf7_pair("a&b", "a&-b");
	utf7_pair("台北", "&U,BTFw-");
	utf7_pair("~peter/mail/日本語/台北", "~peter/mail/&ZeVnLIqe-/&U,BTFw-");
	utf7_pair("😀", "&2D3eAA-");
	utf7_pair("", "");
}

TEST(utf7_rejects_non_canonical)
{
	const char *bad[] = {
		"&AGE-",     /* encoded printable ASCII "a" */
		"&U,BTFw",   /* unterminated */
		"&-&U,B-",   /* bits left over */
		"&2D0-",     /* lone high surrogate */
		"&3gA-",     /* lone low surrogate */
		"&U,A-&U,A-", /* two runs back to back */
		"a\x80",     /* 8-bit */
		"&Jjo!-",    /* bad base64 */
		"&-\x01",    /* control */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *d = imap_utf7_to_utf8(bad[i]);
		if (d != NULL)
			fprintf(stderr, "  accepted %s\n", bad[i]);
		CHECK(d == NULL);
		free(d);
	}
	CHECK(imap_utf8_to_utf7("\xff") == NULL);
}

TEST(seqset_parse_merges_and_sorts)
{
	struct imap_range *r;
	size_t n;
	CHECK_EQ_INT(imap_seqset_parse("5,1:3,4,10:8,*", 20, &r, &n), 0);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(r[0].lo, 1);
	CHECK_EQ_INT(r[0].hi, 5);
	CHECK_EQ_INT(r[1].lo, 8);
	CHECK_EQ_INT(r[1].hi, 10);
	CHECK_EQ_INT(r[2].lo, 20);
	CHECK_EQ_INT(r[2].hi, 20);
	free(r);
	CHECK_EQ_INT(imap_seqset_parse("7:*", 3, &r, &n), 0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(r[0].lo, 3);
	CHECK_EQ_INT(r[0].hi, 7);
	free(r);
	CHECK_EQ_INT(imap_seqset_parse("4294967295", 1, &r, &n), 0);
	free(r);
	const char *bad[] = {"", "0", "1,", ",1", "1::2", "a", "1:0", "4294967296", "1 2", "-1", "1:*:2"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(imap_seqset_parse(bad[i], 5, &r, &n) == -1);
}

TEST(write_set_compacts)
{
	struct buf b = {0};
	uint32_t v[] = {1, 2, 3, 5, 7, 8, 10};
	imap_write_set(&b, v, 7);
	buf_append(&b, "", 1);
	CHECK_EQ_STR(buf_head(&b), "1:3,5,7:8,10");
	buf_free(&b);
}


/* The view's sequence map as runs (imap-uids.c), checked against a plain
 * array through appends and removals of every shape. */
static void uids_check(const struct imap_uids *u, const uint32_t *want, size_t n)
{
	CHECK_EQ_INT(u->n, n);
	for (size_t i = 0; i < n && i < u->n; i++)
		CHECK_EQ_INT(imap_uids_at(u, i), want[i]);
	CHECK_EQ_INT(imap_uids_last(u), n ? want[n - 1] : 0);
	/* lower_bound for every UID up to past the last */
	uint32_t top = n ? want[n - 1] + 2 : 3;
	for (uint32_t uid = 0; uid <= top; uid++) {
		size_t k = 0;
		while (k < n && want[k] < uid)
			k++;
		CHECK_EQ_INT(imap_uids_lower_bound(u, uid), k);
	}
}

TEST(uid_runs)
{
	struct imap_uids u = {0};
	uids_check(&u, NULL, 0);
	uint32_t want[300];
	size_t n = 0;
	/* Runs: 1..100, 150, 152..200, 1000 */
	for (uint32_t i = 1; i <= 100; i++)
		want[n++] = i;
	want[n++] = 150;
	for (uint32_t i = 152; i <= 200; i++)
		want[n++] = i;
	want[n++] = 1000;
	for (size_t i = 0; i < n; i++)
		imap_uids_append(&u, want[i]);
	CHECK_EQ_INT(u.n_runs, 4);
	uids_check(&u, want, n);

	/* Remove the first, a middle one, the lone 150, a run's last and the last. */
	uint32_t seqs[] = {1, 50, 101, 151, (uint32_t)n};
	imap_uids_remove(&u, seqs, ARRAY_LEN(seqs));
	size_t w = 0, j = 0;
	for (size_t i = 0; i < n; i++) {
		if (j < ARRAY_LEN(seqs) && seqs[j] == i + 1) {
			j++;
			continue;
		}
		want[w++] = want[i];
	}
	n = w;
	uids_check(&u, want, n);
	CHECK_EQ_INT(u.n_runs, 3); /* 2..49, 51..100, 152..199 */

	/* Everything goes; then new mail starts a run again. */
	uint32_t all[300];
	for (size_t i = 0; i < n; i++)
		all[i] = (uint32_t)i + 1;
	imap_uids_remove(&u, all, n);
	uids_check(&u, NULL, 0);
	imap_uids_append(&u, 5000);
	imap_uids_append(&u, 5001);
	uint32_t tail[] = {5000, 5001};
	uids_check(&u, tail, 2);
	CHECK_EQ_INT(u.n_runs, 1);
	imap_uids_free(&u);
}
