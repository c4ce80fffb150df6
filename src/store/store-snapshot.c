/* Shared snapshots of large mailboxes' entries. Opening a 100,000-message
 * mailbox or fetching all its flags would otherwise read every row each time;
 * a snapshot is read once, then brought up to date from store_changes()
 * (only what changed since its modseq) whenever someone asks for it and the
 * mailbox's HIGHESTMODSEQ has moved. Snapshots are immutable and
 * reference-counted: an update builds a new one, readers keep the one they
 * hold. Works over any backend: it only uses the store API. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"

#define SNAPSHOT_SLOTS 16        /* mailboxes kept at most (least recently used goes) */
#define SNAPSHOT_MIN_ENTRIES 1000 /* smaller mailboxes are cheap to read: not kept */

static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	struct store *st;
	struct store_snapshot *snap;
	uint64_t used; /* LRU clock */
} slots[SNAPSHOT_SLOTS];
static uint64_t snap_clock;

void store_snapshot_put(struct store_snapshot *s)
{
	if (s != NULL && atomic_fetch_sub(&s->refs, 1) == 1) {
		free(s->e);
		free(s);
	}
}

static struct store_snapshot *snapshot_new(int64_t account_id, int64_t mailbox_id, uint64_t modseq,
					   struct store_entry *e, size_t n)
{
	struct store_snapshot *s = xcalloc(1, sizeof *s);
	s->account_id = account_id;
	s->mailbox_id = mailbox_id;
	s->modseq = modseq;
	s->e = e;
	s->n = n;
	atomic_init(&s->refs, 1);
	return s;
}

/* old + what changed: vanished UIDs out, changed entries replaced, new ones
 * appended (changes come in UID order, new UIDs above every old one). */
static struct store_snapshot *snapshot_apply(const struct store_snapshot *old, uint64_t modseq,
					     const struct store_entry *ch, size_t n_ch, const uint32_t *gone,
					     size_t n_gone)
{
	struct store_entry *e = xmalloc((old->n + n_ch + 1) * sizeof *e);
	size_t n = 0, c = 0, g = 0;
	for (size_t i = 0; i < old->n; i++) {
		uint32_t uid = old->e[i].uid;
		while (g < n_gone && gone[g] < uid)
			g++;
		if (g < n_gone && gone[g] == uid)
			continue;
		while (c < n_ch && ch[c].uid < uid)
			e[n++] = ch[c++]; /* a change below this UID that the snapshot lacked */
		if (c < n_ch && ch[c].uid == uid)
			e[n++] = ch[c++];
		else
			e[n++] = old->e[i];
	}
	for (; c < n_ch; c++)
		e[n++] = ch[c];
	return snapshot_new(old->account_id, old->mailbox_id, modseq, e, n);
}

/* The slot holding (st, mailbox_id), or -1. Under snap_lock. */
static int slot_of(struct store *st, int64_t mailbox_id)
{
	for (int i = 0; i < SNAPSHOT_SLOTS; i++)
		if (slots[i].snap != NULL && slots[i].st == st && slots[i].snap->mailbox_id == mailbox_id)
			return i;
	return -1;
}

/* Keep s (a new reference is taken) in place of whatever the mailbox had. */
static void keep(struct store *st, struct store_snapshot *s)
{
	pthread_mutex_lock(&snap_lock);
	int i = slot_of(st, s->mailbox_id);
	if (i >= 0 && slots[i].snap->modseq > s->modseq) {
		pthread_mutex_unlock(&snap_lock); /* someone kept a newer one */
		return;
	}
	if (i < 0) {
		i = 0;
		for (int k = 1; k < SNAPSHOT_SLOTS; k++)
			if (slots[k].snap == NULL || (slots[i].snap != NULL && slots[k].used < slots[i].used))
				i = k;
	}
	struct store_snapshot *old = slots[i].snap;
	atomic_fetch_add(&s->refs, 1);
	slots[i].st = st;
	slots[i].snap = s;
	slots[i].used = ++snap_clock;
	pthread_mutex_unlock(&snap_lock);
	store_snapshot_put(old);
}

int store_snapshot_get(struct store *st, int64_t account_id, int64_t mailbox_id, uint64_t modseq,
		       struct store_snapshot **r)
{
	*r = NULL;
	if (modseq == 0) {
		struct store_mailbox mb = {0};
		int rc = store_mailbox_get(st, account_id, mailbox_id, &mb);
		modseq = mb.highestmodseq;
		store_mailbox_clear(&mb);
		if (rc != STORE_OK)
			return rc;
	}
	pthread_mutex_lock(&snap_lock);
	struct store_snapshot *have = NULL;
	int i = slot_of(st, mailbox_id);
	if (i >= 0 && slots[i].snap->account_id == account_id) {
		have = slots[i].snap;
		atomic_fetch_add(&have->refs, 1);
		slots[i].used = ++snap_clock;
	}
	pthread_mutex_unlock(&snap_lock);
	if (have != NULL && have->modseq >= modseq) {
		*r = have;
		return STORE_OK;
	}
	struct store_snapshot *fresh;
	bool kept = have != NULL;
	if (have != NULL) {
		struct store_entry *ch = NULL;
		size_t n_ch = 0;
		uint32_t *gone = NULL;
		size_t n_gone = 0;
		int rc = store_changes(st, account_id, mailbox_id, have->modseq, &ch, &n_ch, &gone, &n_gone);
		if (rc != STORE_OK) {
			store_snapshot_put(have);
			return rc;
		}
		fresh = snapshot_apply(have, modseq, ch, n_ch, gone, n_gone);
		store_snapshot_put(have);
		free(ch);
		free(gone);
	} else {
		struct store_entry *e = NULL;
		size_t n = 0;
		int rc = store_entries(st, account_id, mailbox_id, 0, &e, &n);
		if (rc != STORE_OK)
			return rc;
		fresh = snapshot_new(account_id, mailbox_id, modseq, e, n);
	}
	/* A kept mailbox stays kept when it shrinks: its slot must not go stale. */
	if (fresh->n >= SNAPSHOT_MIN_ENTRIES || kept)
		keep(st, fresh);
	*r = fresh;
	return STORE_OK;
}

void store_snapshots_drop(struct store *st)
{
	pthread_mutex_lock(&snap_lock);
	for (int i = 0; i < SNAPSHOT_SLOTS; i++) {
		if (slots[i].st == st && slots[i].snap != NULL) {
			store_snapshot_put(slots[i].snap);
			slots[i].snap = NULL;
			slots[i].st = NULL;
		}
	}
	pthread_mutex_unlock(&snap_lock);
}
