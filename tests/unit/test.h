/* The unit-test harness: CHECK() records a failure with file:line and goes on;
 * TEST(name) declares a test function and registers it; test_main() runs them
 * all and prints "N passed, M failed" last. One test file per module. */
#ifndef ROOST_TEST_H
#define ROOST_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void test_fn(void);
struct test_case { const char *name; test_fn *fn; };

extern int test_failures_in_case;
void test_register(const char *name, test_fn *fn);
void test_fail(const char *file, int line, const char *expr);

#define TEST(name) \
	static void name(void); \
	__attribute__((constructor)) static void register_##name(void) { test_register(#name, name); } \
	static void name(void)

#define CHECK(expr) do { if (!(expr)) test_fail(__FILE__, __LINE__, #expr); } while (0)
#define CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
	if (_a != _b) { char _m[256]; snprintf(_m, sizeof _m, "%s == %s (%lld != %lld)", #a, #b, _a, _b); test_fail(__FILE__, __LINE__, _m); } } while (0)
#define CHECK_EQ_STR(a, b) do { const char *_a = (a), *_b = (b); \
	if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0) { char _m[512]; snprintf(_m, sizeof _m, "%s == %s (\"%s\" != \"%s\")", #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); test_fail(__FILE__, __LINE__, _m); } } while (0)

#ifndef TEST_NO_MAIN
static struct test_case test_cases[512];
static int test_count;
int test_failures_in_case;
void test_register(const char *name, test_fn *fn)
{
	if (test_count < 512)
		test_cases[test_count++] = (struct test_case){name, fn};
}
void test_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "  FAIL %s:%d: %s\n", file, line, expr);
	test_failures_in_case++;
}
int main(void)
{
	int passed = 0, failed = 0;
	for (int i = 0; i < test_count; i++) {
		test_failures_in_case = 0;
		test_cases[i].fn();
		if (test_failures_in_case) {
			fprintf(stderr, "not ok %s\n", test_cases[i].name);
			failed++;
		} else {
			printf("ok %s\n", test_cases[i].name);
			passed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
#endif
#endif
