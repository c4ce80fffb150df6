/* Pins: what sessions of this process still show their clients. A session
 * that numbers a mailbox's messages for a client (an IMAP view, a POP3
 * maildrop) holds a pin on it at the modseq up to which it has told the
 * client every expunge. A backend keeps the content and entry of a message
 * expunged at modseq M readable while any pin on its mailbox is below M
 * (RFC 2180 4.1, RFC 9051 7.5.1: until the client has been told, the message
 * is still there for it), and frees it once the horizon, the lowest pin,
 * has passed M. Works over any backend: it only keeps memory. */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>

#include "store/store.h"

#define PIN_BUCKETS 256 /* by account id; a bucket's list holds every pin of its accounts */

static pthread_mutex_t pin_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store_pin *pin_buckets[PIN_BUCKETS];

static struct store_pin **pin_bucket(int64_t account_id)
{
	return &pin_buckets[(uint64_t)account_id % PIN_BUCKETS];
}

void store_pin_add(struct store *st, struct store_pin *p, int64_t account_id, int64_t mailbox_id)
{
	assert(!p->active);
	p->st = st;
	p->account_id = account_id;
	p->mailbox_id = mailbox_id;
	p->modseq = 0; /* everything stays until the caller says what its client knows */
	p->exempt = NULL;
	p->n_exempt = 0;
	p->prev = NULL;
	pthread_mutex_lock(&pin_lock);
	struct store_pin **b = pin_bucket(account_id);
	p->next = *b;
	if (*b != NULL)
		(*b)->prev = p;
	*b = p;
	p->active = true;
	pthread_mutex_unlock(&pin_lock);
	/* A write running now may have decided without this pin, and the caller
	 * may read the mailbox before that write commits. */
	st->ops->pins_settle(st);
}

void store_pin_set(struct store_pin *p, int64_t mailbox_id, uint64_t modseq)
{
	assert(p->active);
	pthread_mutex_lock(&pin_lock);
	bool lower = modseq < p->modseq || (mailbox_id == 0 && p->mailbox_id != 0);
	p->mailbox_id = mailbox_id;
	p->modseq = modseq;
	pthread_mutex_unlock(&pin_lock);
	if (lower)
		p->st->ops->pins_settle(p->st);
}

void store_pin_remove(struct store_pin *p)
{
	if (!p->active)
		return;
	pthread_mutex_lock(&pin_lock);
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		*pin_bucket(p->account_id) = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	p->active = false;
	p->exempt = NULL;
	p->n_exempt = 0;
	p->prev = p->next = NULL;
	pthread_mutex_unlock(&pin_lock);
}

void store_pin_exempt(struct store_pin *p, const uint32_t *uids, size_t n)
{
	assert(p->active || n == 0);
	pthread_mutex_lock(&pin_lock);
	p->exempt = n > 0 ? uids : NULL;
	p->n_exempt = n;
	pthread_mutex_unlock(&pin_lock);
}

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Whether p's holder is expunging every one of uids itself. */
static bool pin_exempts(const struct store_pin *p, int64_t mailbox_id, const uint32_t *uids, size_t n)
{
	if (n == 0 || p->n_exempt == 0 || p->mailbox_id != mailbox_id)
		return false;
	for (size_t i = 0; i < n; i++)
		if (bsearch(&uids[i], p->exempt, p->n_exempt, sizeof *p->exempt, cmp_uid) == NULL)
			return false;
	return true;
}

uint64_t store_pins_horizon(struct store *st, int64_t account_id, int64_t mailbox_id, const uint32_t *uids, size_t n)
{
	uint64_t h = UINT64_MAX;
	pthread_mutex_lock(&pin_lock);
	for (const struct store_pin *p = *pin_bucket(account_id); p != NULL; p = p->next)
		if (p->st == st && p->account_id == account_id && (p->mailbox_id == mailbox_id || p->mailbox_id == 0) &&
		    p->modseq < h && !pin_exempts(p, mailbox_id, uids, n))
			h = p->modseq;
	pthread_mutex_unlock(&pin_lock);
	return h;
}
