/* Unit tests for the LIST wildcard matcher (src/imap/imap-list.c): '*' and
 * '%' semantics, INBOX's case-insensitivity, the pattern length limit, and
 * hostile patterns that would make a backtracking matcher take exponential
 * time. */
#include <time.h>

#include "imap/imap-session.h"
#include "test.h"

static bool match(const char *pattern, const char *name)
{
	struct imap_pattern *p = NULL;
	const char *err = NULL;
	if (imap_pattern_compile(pattern, &p, &err) < 0)
		return false;
	bool r = imap_pattern_match(p, name, strlen(name));
	imap_pattern_free(p);
	return r;
}

TEST(literal_patterns)
{
	CHECK(match("Drafts", "Drafts"));
	CHECK(!match("Drafts", "drafts"));
	CHECK(!match("Drafts", "Draft"));
	CHECK(!match("Draft", "Drafts"));
	CHECK(match("a/b", "a/b"));
	CHECK(!match("a/b", "a/b/c"));
}

TEST(star_matches_everything)
{
	CHECK(match("*", "a"));
	CHECK(match("*", "a/b/c"));
	CHECK(match("a*", "a/b/c"));
	CHECK(match("a/*", "a/b/c"));
	CHECK(!match("a/*", "a"));
	CHECK(match("*c", "a/b/c"));
	CHECK(match("*b*", "a/b/c"));
	CHECK(!match("*x*", "a/b/c"));
	CHECK(match("a**c", "abc"));
	CHECK(match("a*b*c", "abc"));
	CHECK(match("a*b*c", "aXbYbZc"));
	CHECK(!match("a*b*c", "aXbYbZ"));
}

TEST(percent_stops_at_the_delimiter)
{
	CHECK(match("%", "a"));
	CHECK(!match("%", "a/b"));
	CHECK(match("%/%", "a/b"));
	CHECK(!match("%/%", "a/b/c"));
	CHECK(match("a/%", "a/b"));
	CHECK(!match("a/%", "a/b/c"));
	CHECK(match("%b", "ab"));
	CHECK(!match("%b", "a/b"));
	CHECK(match("%/*", "a/b/c"));
	CHECK(match("%*", "a/b")); /* merged into '*' */
	CHECK(match("*%", "a/b"));
	CHECK(match("%%", "ab"));
	CHECK(!match("%%", "a/b"));
	CHECK(match("a%", "a"));
	CHECK(match("%", ""));
}

TEST(inbox_is_case_insensitive)
{
	CHECK(match("inbox", "INBOX"));
	CHECK(match("Inbox/%", "INBOX/x"));
	CHECK(!match("Inbox/%", "INBOX/X/y"));
	CHECK(match("inb*", "INBOX"));
	CHECK(match("*x", "INBOX"));
	CHECK(!match("inbox", "INBOXes"));
	/* Only the INBOX level, and only for INBOX. */
	CHECK(!match("inboxes", "INBOXes"));
	CHECK(!match("inbox/X", "INBOX/x"));
}

TEST(pattern_length_is_limited)
{
	char *big = malloc(IMAP_LIST_PATTERN_MAX + 2);
	memset(big, 'a', IMAP_LIST_PATTERN_MAX + 1);
	big[IMAP_LIST_PATTERN_MAX + 1] = '\0';
	struct imap_pattern *p = NULL;
	const char *err = NULL;
	CHECK(imap_pattern_compile(big, &p, &err) < 0);
	CHECK(p == NULL);
	big[IMAP_LIST_PATTERN_MAX] = '\0';
	CHECK(imap_pattern_compile(big, &p, &err) == 0);
	CHECK(imap_pattern_match(p, big, IMAP_LIST_PATTERN_MAX));
	imap_pattern_free(p);
	free(big);
}

/* "*a*a*a...*b" against "aaaa...": exponential for a backtracking matcher. */
TEST(hostile_patterns_are_fast)
{
	char pat[IMAP_LIST_PATTERN_MAX + 1];
	size_t k = 0;
	for (; k + 3 < IMAP_LIST_PATTERN_MAX; k++)
		pat[k] = k % 4 == 0 ? '*' : k % 4 == 2 ? '%' : 'a';
	pat[k++] = 'b';
	pat[k] = '\0';
	char name[1001];
	memset(name, 'a', 1000);
	name[1000] = '\0';
	struct imap_pattern *p = NULL;
	const char *err = NULL;
	CHECK(imap_pattern_compile(pat, &p, &err) == 0);
	clock_t t0 = clock();
	for (int i = 0; i < 1000; i++)
		CHECK(!imap_pattern_match(p, name, 1000));
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	CHECK(secs < 5.0); /* about 17 words x 1000 bytes x 1000 names */
	imap_pattern_free(p);
}
