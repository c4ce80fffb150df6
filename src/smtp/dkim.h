/* DKIM signing of outbound mail (RFC 6376) with rsa-sha256 and ed25519-sha256
 * (RFC 8463). Signing is a pure function of a key, the message bytes and the
 * time: no sockets, no DNS. Keys live in DATA/dkim/DOMAIN.SELECTOR.key (PEM,
 * mode 0600); the outbound queue asks dkim_key_for_domain() for the key of the
 * From domain and signs when there is one. */
#ifndef ROOST_SMTP_DKIM_H
#define ROOST_SMTP_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define DKIM_DIR "dkim"                /* below the data directory */
#define DKIM_DEFAULT_SELECTOR "roost"
#define DKIM_MAX_DOMAIN 253
#define DKIM_MAX_SELECTOR 63           /* one DNS label */
#define DKIM_MIN_RSA_BITS 1024         /* RFC 8301 3.2: verifiers reject less */
#define DKIM_RSA_BITS 2048             /* what keygen makes */
#define DKIM_MAX_SIGNED_PER_NAME 16    /* instances of one header field name signed */
#define DKIM_MAX_KEY_FILES 10000       /* files looked at in DATA/dkim */

enum dkim_alg {
	DKIM_RSA_SHA256,
	DKIM_ED25519_SHA256,
};

struct dkim_key;

/* Load a PEM private key (RSA of at least DKIM_MIN_RSA_BITS, or Ed25519) that
 * signs for domain with selector. Returns 0, or -1 with *error_r set. */
int dkim_key_load(const char *path, const char *domain, const char *selector, struct dkim_key **r,
		  const char **error_r);
/* A new key: RSA of DKIM_RSA_BITS bits or Ed25519. Returns 0 or -1. */
int dkim_key_generate(enum dkim_alg alg, const char *domain, const char *selector, struct dkim_key **r,
		      const char **error_r);
/* Write the private key as PEM to a new file of mode 0600; an existing file is
 * never replaced. Returns 0 or -1 (EEXIST tells in errno). */
int dkim_key_write(const struct dkim_key *k, const char *path, const char **error_r);
void dkim_key_free(struct dkim_key *k);

enum dkim_alg dkim_key_alg(const struct dkim_key *k);
const char *dkim_key_domain(const struct dkim_key *k);
const char *dkim_key_selector(const struct dkim_key *k);
/* "rsa-sha256" or "ed25519-sha256". */
const char *dkim_alg_name(enum dkim_alg alg);
/* The value of the DNS TXT record at SELECTOR._domainkey.DOMAIN, one string:
 * "v=DKIM1; k=rsa; p=BASE64" (k=ed25519 with the raw 32-byte public key). */
void dkim_key_txt(const struct dkim_key *k, struct buf *out);

/* Append one DKIM-Signature header field (folded, CRLF-terminated) for msg, a
 * message in CRLF form (header, empty line, body). Canonicalization is
 * relaxed/relaxed; the header fields signed are the ones in the fixed list
 * that are present (every instance, bottom-up, at most
 * DKIM_MAX_SIGNED_PER_NAME), plus From once more so that a From added later
 * breaks the signature. A message without From is refused. Returns 0 or -1. */
int dkim_sign(const struct dkim_key *k, const char *msg, size_t len, int64_t now, struct buf *out,
	      const char **error_r);

/* Relaxed canonicalization (RFC 6376 3.4.2, 3.4.4), exposed for tests. A
 * header field is given with its folds and without its final CRLF; the result
 * ends in CRLF. The body result is empty for an empty body. */
void dkim_canon_header(const char *field, size_t len, struct buf *out);
void dkim_canon_body(const char *body, size_t len, struct buf *out);
/* The bh= value of a body: base64 of SHA-256 of its relaxed form. */
void dkim_body_hash(const char *body, size_t len, struct buf *out);

/* Names of key files. A domain is letters, digits, '-' and '.' (a hostname);
 * a selector is one label of letters, digits and '-'. */
bool dkim_valid_domain(const char *domain);
bool dkim_valid_selector(const char *selector);
/* DATA/dkim/DOMAIN.SELECTOR.key with the domain in lower case (allocated). */
char *dkim_key_path(const char *data_dir, const char *domain, const char *selector);
/* Split a file name DOMAIN.SELECTOR.key; false when it is not one. */
bool dkim_key_file_name(const char *name, char **domain_r, char **selector_r);

/* The key that signs mail from domain (case-insensitive): 0 and *r when there
 * is one, 1 when there is none, -1 when there is one that cannot be loaded.
 * With several selectors for a domain the oldest file wins (ties: the first
 * name), so a new key takes over only when the old file is removed. */
int dkim_key_for_domain(const char *data_dir, const char *domain, struct dkim_key **r, const char **error_r);

/* The first mailbox of the message's From field as local@domain (local
 * part as written, comments and folding removed), allocated; NULL when there
 * is no From or no address in it. The submission check of who may send as
 * whom reads it too. */
char *dkim_from_address(const char *msg, size_t len);

/* The domain of the (first) address in the message's From field, in lower
 * case and allocated; NULL when there is no From or no usable domain in it
 * (a domain literal, a group without members, a malformed address). */
char *dkim_from_domain(const char *msg, size_t len);

/* What the outbound queue calls: when the From domain has a key in data_dir,
 * append the DKIM-Signature to out and return 0; return 1 when the message
 * goes out unsigned (no From domain, no key) and -1 on an error (a key that
 * cannot be loaded or a failed signature: *error_r says which). */
int dkim_sign_outbound(const char *data_dir, const char *msg, size_t len, int64_t now, struct buf *out,
		       const char **error_r);

#endif
