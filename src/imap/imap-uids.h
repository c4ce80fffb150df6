/* The UIDs of a selected mailbox's sequence numbers 1..n, ascending, kept as
 * runs of consecutive UIDs. Mail arrives with consecutive UIDs and leaves in
 * few places, so a mailbox of 100,000 messages is a handful of runs instead
 * of 400 KB per session (each IDLE connection has its own view). Lookups
 * either way are binary searches over the runs. */
#ifndef ROOST_IMAP_UIDS_H
#define ROOST_IMAP_UIDS_H

#include <stddef.h>
#include <stdint.h>

struct imap_uid_run {
	uint32_t uid;   /* the run is uid .. uid+len-1 */
	uint32_t len;
	uint32_t first; /* index (sequence number - 1) of uid */
};

struct imap_uids {
	struct imap_uid_run *runs;
	size_t n_runs, cap;
	size_t n; /* UIDs in all */
};

/* The UID at index i (sequence number i+1); i < n. */
uint32_t imap_uids_at(const struct imap_uids *u, size_t i);
/* The first index whose UID is >= uid (n when none is). */
size_t imap_uids_lower_bound(const struct imap_uids *u, uint32_t uid);
/* The last UID, 0 when empty. */
uint32_t imap_uids_last(const struct imap_uids *u);
/* Add uid at the end; it must be greater than the last. */
void imap_uids_append(struct imap_uids *u, uint32_t uid);
/* Remove the given sequence numbers (1-based, ascending, each <= n). */
void imap_uids_remove(struct imap_uids *u, const uint32_t *seqs, size_t k);
void imap_uids_free(struct imap_uids *u);

#endif
