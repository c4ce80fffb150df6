/* Unit tests for src/net pieces that stand alone: per-address connection
 * counting (limits.connections_per_ip). The event loops, TLS and the worker
 * hand-off are exercised end to end by the integration tests. */
#include "test.h"

#include "net/net-internal.h"

TEST(per_ip_limit_counts_and_releases)
{
	CHECK(limits_ip_acquire("192.0.2.1", 2));
	CHECK(limits_ip_acquire("192.0.2.1", 2));
	CHECK(!limits_ip_acquire("192.0.2.1", 2)); /* third one over the limit */
	CHECK(limits_ip_acquire("192.0.2.2", 2));  /* other addresses are counted apart */
	limits_ip_release("192.0.2.1");
	CHECK(limits_ip_acquire("192.0.2.1", 2)); /* a slot came free */
	CHECK(!limits_ip_acquire("192.0.2.1", 2));
	limits_ip_release("192.0.2.1");
	limits_ip_release("192.0.2.1");
	limits_ip_release("192.0.2.2");
	/* All released: the entries are gone and counting starts from zero. */
	CHECK(limits_ip_acquire("192.0.2.1", 1));
	CHECK(!limits_ip_acquire("192.0.2.1", 1));
	limits_ip_release("192.0.2.1");
}

TEST(per_ip_limit_handles_many_addresses)
{
	char ip[64];
	for (int i = 0; i < 5000; i++) {
		snprintf(ip, sizeof ip, "2001:db8::%x", i);
		CHECK(limits_ip_acquire(ip, 1));
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(ip, sizeof ip, "2001:db8::%x", i);
		CHECK(!limits_ip_acquire(ip, 1));
		limits_ip_release(ip);
	}
	CHECK(limits_ip_acquire("2001:db8::0", 1));
	limits_ip_release("2001:db8::0");
}
