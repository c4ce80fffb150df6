/* A view's sequence map as runs of consecutive UIDs (see imap-uids.h). */
#include "imap/imap-uids.h"

#include <stdlib.h>

#include "core/util.h"

/* The run that holds index i. */
static size_t run_of_index(const struct imap_uids *u, size_t i)
{
	size_t lo = 0, hi = u->n_runs;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (u->runs[mid].first <= i)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

uint32_t imap_uids_at(const struct imap_uids *u, size_t i)
{
	const struct imap_uid_run *r = &u->runs[run_of_index(u, i)];
	return r->uid + (uint32_t)(i - r->first);
}

size_t imap_uids_lower_bound(const struct imap_uids *u, uint32_t uid)
{
	/* The first run that ends at or after uid. */
	size_t lo = 0, hi = u->n_runs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct imap_uid_run *r = &u->runs[mid];
		if ((uint64_t)r->uid + r->len - 1 < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == u->n_runs)
		return u->n;
	const struct imap_uid_run *r = &u->runs[lo];
	return uid <= r->uid ? r->first : r->first + (uid - r->uid);
}

uint32_t imap_uids_last(const struct imap_uids *u)
{
	if (u->n_runs == 0)
		return 0;
	const struct imap_uid_run *r = &u->runs[u->n_runs - 1];
	return r->uid + r->len - 1;
}

static void push_run(struct imap_uids *u, uint32_t uid, uint32_t len)
{
	if (u->n_runs > 0) {
		struct imap_uid_run *last = &u->runs[u->n_runs - 1];
		if ((uint64_t)last->uid + last->len == uid) {
			last->len += len;
			u->n += len;
			return;
		}
	}
	if (u->n_runs == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 4;
		u->runs = xrealloc(u->runs, u->cap * sizeof *u->runs);
	}
	u->runs[u->n_runs++] = (struct imap_uid_run){.uid = uid, .len = len, .first = (uint32_t)u->n};
	u->n += len;
}

void imap_uids_append(struct imap_uids *u, uint32_t uid)
{
	push_run(u, uid, 1);
}

void imap_uids_remove(struct imap_uids *u, const uint32_t *seqs, size_t k)
{
	if (k == 0)
		return;
	struct imap_uids out = {0};
	size_t j = 0;
	for (size_t r = 0; r < u->n_runs; r++) {
		const struct imap_uid_run *run = &u->runs[r];
		size_t cur = run->first, end = (size_t)run->first + run->len; /* indexes */
		while (j < k && (size_t)seqs[j] - 1 < end) {
			size_t gone = (size_t)seqs[j] - 1;
			if (gone >= cur) {
				if (gone > cur)
					push_run(&out, run->uid + (uint32_t)(cur - run->first), (uint32_t)(gone - cur));
				cur = gone + 1;
			}
			j++;
		}
		if (end > cur)
			push_run(&out, run->uid + (uint32_t)(cur - run->first), (uint32_t)(end - cur));
	}
	free(u->runs);
	*u = out;
}

void imap_uids_free(struct imap_uids *u)
{
	free(u->runs);
	*u = (struct imap_uids){0};
}
