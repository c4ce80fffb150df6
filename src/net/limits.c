/* Per-IP connection counting for limits.connections_per_ip. A small open
 * hash table keyed by the textual address; entries disappear when their count
 * drops to zero, so memory follows the number of distinct connected peers. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "net/net-internal.h"

struct ip_count {
	char ip[46];
	unsigned count;
	struct ip_count *next;
};

#define IP_BUCKETS 1024
static struct ip_count *buckets[IP_BUCKETS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned hash(const char *s)
{
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % IP_BUCKETS;
}

bool limits_ip_acquire(const char *ip, unsigned max)
{
	unsigned h = hash(ip);
	bool ok = true;
	pthread_mutex_lock(&lock);
	struct ip_count *e;
	for (e = buckets[h]; e; e = e->next)
		if (strcmp(e->ip, ip) == 0)
			break;
	if (e == NULL) {
		e = xcalloc(1, sizeof *e);
		snprintf(e->ip, sizeof e->ip, "%s", ip);
		e->next = buckets[h];
		buckets[h] = e;
	}
	if (e->count >= max)
		ok = false;
	else
		e->count++;
	pthread_mutex_unlock(&lock);
	return ok;
}

void limits_ip_release(const char *ip)
{
	unsigned h = hash(ip);
	pthread_mutex_lock(&lock);
	for (struct ip_count **pp = &buckets[h]; *pp; pp = &(*pp)->next) {
		struct ip_count *e = *pp;
		if (strcmp(e->ip, ip) != 0)
			continue;
		if (--e->count == 0) {
			*pp = e->next;
			free(e);
		}
		break;
	}
	pthread_mutex_unlock(&lock);
}
