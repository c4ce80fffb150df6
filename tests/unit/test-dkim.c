/* Unit tests for DKIM signing (smtp/dkim.c): relaxed canonicalization against
 * RFC 6376 3.4.6, body hashes, which header fields are signed and in what
 * order, and signatures checked here with OpenSSL directly, from the public
 * key in the DNS record, for rsa-sha256 and ed25519-sha256. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/buf.h"
#include "core/util.h"
#include "smtp/dkim.h"
#include "test.h"

static char *str_of(struct buf *b)
{
	char *s = xstrndup(b->data ? b->data : "", b->len);
	buf_free(b);
	return s;
}

static char *canon_header(const char *field)
{
	struct buf b = {0};
	dkim_canon_header(field, strlen(field), &b);
	return str_of(&b);
}

static char *canon_body(const char *body)
{
	struct buf b = {0};
	dkim_canon_body(body, strlen(body), &b);
	return str_of(&b);
}

static char *body_hash(const char *body)
{
	struct buf b = {0};
	dkim_body_hash(body, strlen(body), &b);
	return str_of(&b);
}

#define CHECK_CANON(fn, in, want) do { char *_s = fn(in); CHECK_EQ_STR(_s, want); free(_s); } while (0)

/* ---- canonicalization ---- */

TEST(rfc6376_example_headers)
{
	/* RFC 6376 3.4.6. */
	CHECK_CANON(canon_header, "A: X", "a:X\r\n");
	CHECK_CANON(canon_header, "B : Y\t\r\n\tZ  ", "b:Y Z\r\n");
}

TEST(rfc6376_example_body)
{
	CHECK_CANON(canon_body, " C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n");
	char *bh = body_hash(" C \r\nD \t E\r\n\r\n\r\n");
	CHECK_EQ_STR(bh, "unak6JHq0wL+Q1HP7dW1tjBx9FLA6DffoZ0qrLwbbpo=");
	free(bh);
}

TEST(header_relaxed_details)
{
	CHECK_CANON(canon_header, "SUBJECT:   hello    world   ", "subject:hello world\r\n");
	CHECK_CANON(canon_header, "Subject:", "subject:\r\n");
	CHECK_CANON(canon_header, "Subject: \r\n ", "subject:\r\n");
	CHECK_CANON(canon_header, "To: a@b,\r\n\tc@d,\r\n  e@f", "to:a@b, c@d, e@f\r\n");
	/* Bytes other than SP and HTAB are kept, 8-bit ones included. */
	CHECK_CANON(canon_header, "X-A: caf\xc3\xa9 \x01z", "x-a:caf\xc3\xa9 \x01z\r\n");
}

TEST(body_relaxed_details)
{
	/* An empty body, or one of empty lines only, is the empty string
	 * (RFC 6376 3.4.4, errata 1384). */
	CHECK_CANON(canon_body, "", "");
	CHECK_CANON(canon_body, "\r\n", "");
	CHECK_CANON(canon_body, "\r\n\r\n  \r\n\t\r\n", "");
	char *bh = body_hash("");
	CHECK_EQ_STR(bh, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	free(bh);
	bh = body_hash("\r\n \r\n");
	CHECK_EQ_STR(bh, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	free(bh);
	/* A last line without CRLF gets one. */
	CHECK_CANON(canon_body, "abc", "abc\r\n");
	CHECK_CANON(canon_body, "abc  \t", "abc\r\n");
	/* Empty lines inside the body stay; only the ones at the end go. */
	CHECK_CANON(canon_body, "a\r\n\r\n \r\nb\r\n\r\n", "a\r\n\r\n\r\nb\r\n");
	CHECK_CANON(canon_body, "\t lead\r\n", " lead\r\n");
	/* A bare LF or CR is an ordinary byte, not a line end. */
	CHECK_CANON(canon_body, "a\nb \r\n", "a\nb\r\n");
	CHECK_CANON(canon_body, "a\r\rb\r\n", "a\r\rb\r\n");
}

TEST(body_relaxed_long)
{
	/* Many empty lines held back and then released, and a big body. */
	struct buf in = {0}, want = {0};
	for (int i = 0; i < 5000; i++) {
		buf_appends(&in, i % 3 == 0 ? "x  y \r\n" : "\r\n");
		buf_appends(&want, i % 3 == 0 ? "x y\r\n" : "\r\n");
	}
	buf_appends(&in, "\r\n\r\n");
	/* Line 4998 (x y) is the last with content. */
	struct buf got = {0};
	dkim_canon_body(in.data, in.len, &got);
	want.len -= 2; /* the final empty line (i = 4999) goes */
	CHECK_EQ_INT(got.len, want.len);
	CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
	buf_free(&in);
	buf_free(&want);
	buf_free(&got);
}

/* ---- names ---- */

TEST(domain_and_selector_names)
{
	CHECK(dkim_valid_domain("example.com"));
	CHECK(dkim_valid_domain("Mail-1.Example.COM"));
	CHECK(!dkim_valid_domain(""));
	CHECK(!dkim_valid_domain("../etc"));
	CHECK(!dkim_valid_domain("a/b.com"));
	CHECK(!dkim_valid_domain(".example.com"));
	CHECK(!dkim_valid_domain("example..com"));
	CHECK(!dkim_valid_domain("example.com."));
	CHECK(!dkim_valid_domain("-a.com"));
	CHECK(dkim_valid_selector("roost"));
	CHECK(dkim_valid_selector("s2026-11"));
	CHECK(!dkim_valid_selector("a.b"));
	CHECK(!dkim_valid_selector(""));
	CHECK(!dkim_valid_selector("a_b"));
	char long_sel[70];
	memset(long_sel, 'a', 64);
	long_sel[64] = '\0';
	CHECK(!dkim_valid_selector(long_sel));
	long_sel[63] = '\0';
	CHECK(dkim_valid_selector(long_sel));

	char *d = NULL, *s = NULL;
	CHECK(dkim_key_file_name("mail.example.com.roost.key", &d, &s));
	CHECK_EQ_STR(d, "mail.example.com");
	CHECK_EQ_STR(s, "roost");
	free(d);
	free(s);
	CHECK(!dkim_key_file_name("roost.key", &d, &s));
	CHECK(!dkim_key_file_name("example.com.roost.pem", &d, &s));
	CHECK(!dkim_key_file_name(".roost.key", &d, &s));
	CHECK(!dkim_key_file_name("example.com..key", &d, &s));
	char *p = dkim_key_path("/var/x", "Example.COM", "sel");
	CHECK_EQ_STR(p, "/var/x/dkim/example.com.sel.key");
	free(p);
}

/* ---- signatures, checked independently ---- */

/* The value of tag name in a DKIM-Signature field, whitespace removed. */
static char *tag_value(const char *field, const char *name)
{
	const char *v = strchr(field, ':') + 1;
	size_t nl = strlen(name);
	while (*v) {
		while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n' || *v == ';')
			v++;
		const char *eq = strchr(v, '=');
		if (eq == NULL)
			break;
		const char *end = strchr(eq, ';');
		if (end == NULL)
			end = v + strlen(v);
		if ((size_t)(eq - v) == nl && memcmp(v, name, nl) == 0) {
			char *r = xmalloc((size_t)(end - eq));
			size_t n = 0;
			for (const char *q = eq + 1; q < end; q++)
				if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
					r[n++] = *q;
			r[n] = '\0';
			return r;
		}
		v = end;
	}
	return NULL;
}

static EVP_PKEY *public_key(const struct dkim_key *k)
{
	struct buf txt = {0};
	dkim_key_txt(k, &txt);
	char *rec = str_of(&txt);
	const char *p = strstr(rec, "; p=");
	EVP_PKEY *pk = NULL;
	if (p != NULL) {
		p += 4;
		unsigned char der[1024];
		long n = base64_decode(p, strlen(p), der, sizeof der);
		if (n > 0 && dkim_key_alg(k) == DKIM_RSA_SHA256) {
			const unsigned char *q = der;
			pk = d2i_PUBKEY(NULL, &q, n);
		} else if (n == 32) {
			pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, 32);
		}
	}
	free(rec);
	return pk;
}

/* Verify sig (a whole DKIM-Signature field) over signed, the canonical header
 * fields the test expects in h= order. */
static bool verify(const struct dkim_key *k, const char *sig, const char *signed_fields)
{
	/* The signature field with the b= value removed, canonicalized, no CRLF. */
	const char *b = NULL;
	for (const char *q = strstr(sig, "bh="); q && (q = strstr(q + 1, "b=")) != NULL;)
		if (q[-1] == ' ' || q[-1] == '\t' || q[-1] == ';') {
			b = q;
			break;
		}
	if (b == NULL)
		return false;
	char *stripped = xstrndup(sig, (size_t)(b + 2 - sig));
	struct buf data = {0};
	buf_appends(&data, signed_fields);
	dkim_canon_header(stripped, strlen(stripped), &data);
	data.len -= 2;
	free(stripped);

	char *b64 = tag_value(sig, "b");
	unsigned char raw[1024];
	long n = b64 ? base64_decode(b64, strlen(b64), raw, sizeof raw) : -1;
	free(b64);
	EVP_PKEY *pk = public_key(k);
	bool ok = false;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (n > 0 && pk != NULL) {
		if (dkim_key_alg(k) == DKIM_RSA_SHA256) {
			ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk) == 1 &&
			     EVP_DigestVerify(ctx, raw, (size_t)n, (unsigned char *)data.data, data.len) == 1;
		} else {
			unsigned char h[32];
			unsigned int hl = 0;
			ok = EVP_Digest(data.data, data.len, h, &hl, EVP_sha256(), NULL) == 1 &&
			     EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
			     EVP_DigestVerify(ctx, raw, (size_t)n, h, sizeof h) == 1;
		}
	}
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	buf_free(&data);
	return ok;
}

static struct dkim_key *new_key(enum dkim_alg alg)
{
	struct dkim_key *k = NULL;
	const char *err = NULL;
	if (dkim_key_generate(alg, "Example.COM", "sel", &k, &err) < 0) {
		fprintf(stderr, "keygen: %s\n", err);
		abort();
	}
	return k;
}

static char *sign(const struct dkim_key *k, const char *msg, int64_t now)
{
	struct buf out = {0};
	const char *err = NULL;
	if (dkim_sign(k, msg, strlen(msg), now, &out, &err) < 0) {
		buf_free(&out);
		return NULL;
	}
	return str_of(&out);
}

static const char msg1[] =
	"Received: from x by y; Sun, 22 Nov 2026 10:00:00 +0000\r\n"
	"From: Alice <alice@example.com>\r\n"
	"To: bob@example.org,\r\n"
	"   carol@example.org\r\n"
	"Subject:  Hello\t there \r\n"
	"X-Mailer: not signed\r\n"
	"\r\n"
	"Hi  Bob,\r\n"
	"\r\n"
	"see you.  \r\n"
	"\r\n"
	"\r\n";

static const char msg1_signed[] =
	"from:Alice <alice@example.com>\r\n"
	"subject:Hello there\r\n"
	"to:bob@example.org, carol@example.org\r\n";

static void round_trip(enum dkim_alg alg)
{
	struct dkim_key *k = new_key(alg);
	char *sig = sign(k, msg1, 1795334400);
	CHECK(sig != NULL);
	if (sig == NULL) {
		dkim_key_free(k);
		return;
	}
	CHECK(strncmp(sig, "DKIM-Signature: v=1; a=", 23) == 0);
	CHECK(strlen(sig) >= 2 && strcmp(sig + strlen(sig) - 2, "\r\n") == 0);
	/* Folded: no line longer than 78, every continuation starts with a tab,
	 * no bare CR or LF. */
	for (const char *line = sig; *line;) {
		const char *e = strstr(line, "\r\n");
		CHECK(e != NULL);
		if (e == NULL)
			break;
		CHECK(e - line <= 78);
		CHECK(memchr(line, '\n', (size_t)(e - line)) == NULL);
		if (line != sig)
			CHECK(*line == '\t');
		line = e + 2;
	}
	char *v = tag_value(sig, "a");
	CHECK_EQ_STR(v, alg == DKIM_RSA_SHA256 ? "rsa-sha256" : "ed25519-sha256");
	free(v);
	v = tag_value(sig, "c");
	CHECK_EQ_STR(v, "relaxed/relaxed");
	free(v);
	v = tag_value(sig, "d");
	CHECK_EQ_STR(v, "example.com");
	free(v);
	v = tag_value(sig, "s");
	CHECK_EQ_STR(v, "sel");
	free(v);
	v = tag_value(sig, "t");
	CHECK_EQ_STR(v, "1795334400");
	free(v);
	v = tag_value(sig, "h");
	CHECK_EQ_STR(v, "from:subject:to:from");
	free(v);
	v = tag_value(sig, "l");
	CHECK(v == NULL);
	free(v);
	v = tag_value(sig, "bh");
	char *want_bh = body_hash("Hi  Bob,\r\n\r\nsee you.  \r\n\r\n\r\n");
	CHECK_EQ_STR(v, want_bh);
	free(want_bh);
	free(v);
	char *bh = body_hash("Hi Bob,\r\n\r\nsee you.\r\n");
	v = tag_value(sig, "bh");
	CHECK_EQ_STR(v, bh);
	free(v);
	free(bh);

	CHECK(verify(k, sig, msg1_signed));
	/* Anything else in the signed data does not verify. */
	CHECK(!verify(k, sig, "from:Alice <alice@example.com>\r\nsubject:Hello there\r\nto:bob@example.org\r\n"));
	CHECK(!verify(k, sig, "from:Mallory <alice@example.com>\r\nsubject:Hello there\r\nto:bob@example.org, carol@example.org\r\n"));
	free(sig);
	dkim_key_free(k);
}

TEST(rsa_round_trip) { round_trip(DKIM_RSA_SHA256); }
TEST(ed25519_round_trip) { round_trip(DKIM_ED25519_SHA256); }

TEST(ed25519_signature_is_64_bytes)
{
	struct dkim_key *k = new_key(DKIM_ED25519_SHA256);
	char *sig = sign(k, msg1, 1);
	char *b = sig ? tag_value(sig, "b") : NULL;
	unsigned char raw[128];
	CHECK(b != NULL && base64_decode(b, strlen(b), raw, sizeof raw) == 64);
	free(b);
	free(sig);
	struct buf txt = {0};
	dkim_key_txt(k, &txt);
	char *rec = str_of(&txt);
	CHECK(strncmp(rec, "v=DKIM1; k=ed25519; p=", 22) == 0);
	CHECK_EQ_INT(strlen(rec), 22 + 44);
	free(rec);
	dkim_key_free(k);
}

TEST(headers_bottom_up_and_oversigned_from)
{
	/* Two To fields: both signed, the bottom one first (RFC 6376 5.4.2);
	 * From once more than present; names matched case-insensitively. */
	static const char msg[] =
		"to: first@example.org\r\n"
		"FROM: a@example.com\r\n"
		"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
		"TO: second@example.org\r\n"
		"Message-ID: <1@example.com>\r\n"
		"\r\n"
		"body\r\n";
	struct dkim_key *k = new_key(DKIM_ED25519_SHA256);
	char *sig = sign(k, msg, 1);
	char *h = sig ? tag_value(sig, "h") : NULL;
	CHECK_EQ_STR(h, "from:date:message-id:to:to:from");
	free(h);
	CHECK(sig && verify(k, sig,
			    "from:a@example.com\r\n"
			    "date:Sun, 22 Nov 2026 10:00:00 +0000\r\n"
			    "message-id:<1@example.com>\r\n"
			    "to:second@example.org\r\n"
			    "to:first@example.org\r\n"));
	CHECK(sig && !verify(k, sig,
			     "from:a@example.com\r\n"
			     "date:Sun, 22 Nov 2026 10:00:00 +0000\r\n"
			     "message-id:<1@example.com>\r\n"
			     "to:first@example.org\r\n"
			     "to:second@example.org\r\n"));
	free(sig);
	dkim_key_free(k);
}

TEST(instances_per_name_capped)
{
	struct buf msg = {0};
	buf_appends(&msg, "From: a@example.com\r\n");
	for (int i = 0; i < DKIM_MAX_SIGNED_PER_NAME + 4; i++)
		buf_printf(&msg, "Cc: c%d@example.org\r\n", i);
	buf_appends(&msg, "\r\nx\r\n");
	char *m = str_of(&msg);
	struct dkim_key *k = new_key(DKIM_ED25519_SHA256);
	char *sig = sign(k, m, 1);
	char *h = sig ? tag_value(sig, "h") : NULL;
	int ccs = 0;
	for (const char *p = h; p && (p = strstr(p, "cc")) != NULL; p += 2)
		ccs++;
	CHECK_EQ_INT(ccs, DKIM_MAX_SIGNED_PER_NAME);
	/* The bottom ones are the ones signed. */
	struct buf want = {0};
	buf_appends(&want, "from:a@example.com\r\n");
	for (int i = DKIM_MAX_SIGNED_PER_NAME + 3; i >= 4; i--)
		buf_printf(&want, "cc:c%d@example.org\r\n", i);
	char *w = str_of(&want);
	CHECK(sig && verify(k, sig, w));
	free(w);
	free(h);
	free(sig);
	free(m);
	dkim_key_free(k);
}

TEST(refuses_without_from)
{
	struct dkim_key *k = new_key(DKIM_ED25519_SHA256);
	struct buf out = {0};
	const char *err = NULL;
	static const char *bad[] = {
		"To: b@example.org\r\nSubject: x\r\n\r\nbody\r\n",
		"",
		"\r\nFrom: a@example.com\r\n", /* in the body, not the header */
		"X-From: a@example.com\r\n\r\n",
		"From a@example.com Sun Nov 22 10:00:00 2026\r\n\r\n", /* mbox line, no colon */
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		err = NULL;
		CHECK_EQ_INT(dkim_sign(k, bad[i], strlen(bad[i]), 1, &out, &err), -1);
		CHECK(err != NULL && strstr(err, "From") != NULL);
		CHECK_EQ_INT(out.len, 0);
	}
	dkim_key_free(k);
}

TEST(header_only_and_folded_from)
{
	/* No empty line: all header, the body is empty; a folded From. */
	static const char msg[] = "From: Alice\r\n <alice@example.com>\r\nSubject: x";
	struct dkim_key *k = new_key(DKIM_RSA_SHA256);
	char *sig = sign(k, msg, 1);
	char *bh = sig ? tag_value(sig, "bh") : NULL;
	CHECK_EQ_STR(bh, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	CHECK(sig && verify(k, sig, "from:Alice <alice@example.com>\r\nsubject:x\r\n"));
	free(bh);
	free(sig);
	dkim_key_free(k);
}

/* ---- key files ---- */

static char *tmpdir(void)
{
	char *dir = xstrdup("/tmp/roost-test-dkim-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return dir;
}

static void rm_tree(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
}

TEST(key_files)
{
	char *dir = tmpdir();
	const char *err = NULL;
	struct dkim_key *k = NULL, *found = NULL;
	CHECK_EQ_INT(dkim_key_for_domain(dir, "example.com", &found, &err), 1); /* no dkim/ */
	char *kd = xasprintf("%s/dkim", dir);
	CHECK_EQ_INT(mkdir(kd, 0700), 0);

	k = new_key(DKIM_RSA_SHA256);
	char *path = dkim_key_path(dir, "example.com", "old");
	CHECK_EQ_INT(dkim_key_write(k, path, &err), 0);
	struct stat sb;
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	/* Never over an existing file. */
	CHECK_EQ_INT(dkim_key_write(k, path, &err), -1);
	CHECK(stat(path, &sb) == 0 && sb.st_size > 0);
	dkim_key_free(k);

	/* A newer key for the same domain does not take over. */
	struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};
	CHECK_EQ_INT(utimensat(AT_FDCWD, path, times, 0), 0);
	k = new_key(DKIM_ED25519_SHA256);
	char *path2 = dkim_key_path(dir, "example.com", "new");
	CHECK_EQ_INT(dkim_key_write(k, path2, &err), 0);
	dkim_key_free(k);

	CHECK_EQ_INT(dkim_key_for_domain(dir, "EXAMPLE.com", &found, &err), 0);
	if (found) {
		CHECK_EQ_STR(dkim_key_selector(found), "old");
		CHECK_EQ_STR(dkim_key_domain(found), "example.com");
		CHECK(dkim_key_alg(found) == DKIM_RSA_SHA256);
		dkim_key_free(found);
		found = NULL;
	}
	CHECK_EQ_INT(dkim_key_for_domain(dir, "example.org", &found, &err), 1);
	CHECK_EQ_INT(dkim_key_for_domain(dir, "sub.example.com", &found, &err), 1);
	CHECK_EQ_INT(dkim_key_for_domain(dir, "../x", &found, &err), 1);
	unlink(path);
	CHECK_EQ_INT(dkim_key_for_domain(dir, "example.com", &found, &err), 0);
	if (found) {
		CHECK_EQ_STR(dkim_key_selector(found), "new");
		CHECK(dkim_key_alg(found) == DKIM_ED25519_SHA256);
		dkim_key_free(found);
		found = NULL;
	}

	/* A broken key file is an error, not "no key". */
	char *bad = dkim_key_path(dir, "broken.example", "roost");
	FILE *f = fopen(bad, "w");
	fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	err = NULL;
	CHECK_EQ_INT(dkim_key_for_domain(dir, "broken.example", &found, &err), -1);
	CHECK(err != NULL);
	CHECK_EQ_INT(dkim_key_load("/nonexistent/x.key", "a.b", "s", &found, &err), -1);
	CHECK(found == NULL);

	free(bad);
	free(path);
	free(path2);
	free(kd);
	rm_tree(dir);
	free(dir);
}

TEST(small_rsa_key_refused)
{
	char *dir = tmpdir();
	char *path = xasprintf("%s/k.pem", dir);
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)512);
	FILE *f = fopen(path, "w");
	CHECK(pk != NULL && f != NULL);
	if (pk && f)
		PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
	if (f)
		fclose(f);
	EVP_PKEY_free(pk);
	struct dkim_key *k = NULL;
	const char *err = NULL;
	CHECK_EQ_INT(dkim_key_load(path, "example.com", "s", &k, &err), -1);
	CHECK(err != NULL && strstr(err, "1024") != NULL);
	CHECK_EQ_INT(dkim_key_load(path, "example.com", "bad.selector", &k, &err), -1);
	free(path);
	rm_tree(dir);
	free(dir);
}

TEST(rsa_record_and_reload)
{
	/* The record carries the SubjectPublicKeyInfo; a key written and read
	 * back signs what its record verifies. */
	char *dir = tmpdir();
	char *path = xasprintf("%s/k.key", dir);
	struct dkim_key *k = new_key(DKIM_RSA_SHA256), *back = NULL;
	const char *err = NULL;
	CHECK_EQ_INT(dkim_key_write(k, path, &err), 0);
	CHECK_EQ_INT(dkim_key_load(path, "example.com", "sel", &back, &err), 0);
	struct buf t1 = {0}, t2 = {0};
	dkim_key_txt(k, &t1);
	if (back)
		dkim_key_txt(back, &t2);
	char *s1 = str_of(&t1), *s2 = str_of(&t2);
	CHECK_EQ_STR(s1, s2);
	CHECK(strncmp(s1, "v=DKIM1; k=rsa; p=MIIBIjAN", 26) == 0);
	free(s1);
	free(s2);
	if (back) {
		char *sig = sign(back, msg1, 5);
		CHECK(sig && verify(k, sig, msg1_signed));
		free(sig);
	}
	dkim_key_free(back);
	dkim_key_free(k);
	free(path);
	rm_tree(dir);
	free(dir);
}

/* ---- the From domain and the queue's entry point ---- */

static char *from_domain(const char *msg) { return dkim_from_domain(msg, strlen(msg)); }

TEST(from_domain_forms)
{
	static const struct { const char *msg, *want; } t[] = {
		{"From: alice@Example.COM\r\n\r\n", "example.com"},
		{"From: Alice <alice@example.com>\r\n\r\n", "example.com"},
		{"From: \"Smith, Alice <x@evil.test>\" <alice@example.com>\r\n\r\n", "example.com"},
		{"From: alice@example.com (Alice <x@evil.test>)\r\n\r\n", "example.com"},
		{"From: a@one.example, b@two.example\r\n\r\n", "one.example"},
		{"From: Team: a@team.example, b@x.example;\r\n\r\n", "team.example"},
		{"From: Alice\r\n <alice@folded.example>\r\n\r\n", "folded.example"},
		{"from : alice@ws.example\r\n\r\n", "ws.example"},
		{"To: x@to.example\r\nFrom: <alice@second.example>\r\n\r\n", "second.example"},
		{"From: <@route.example:alice@real.example>\r\n\r\n", "real.example"},
		{"From: alice@[192.0.2.1]\r\n\r\n", NULL},
		{"From: undisclosed-recipients:;\r\n\r\n", NULL},
		{"From: alice\r\n\r\n", NULL},
		{"From: alice@../etc\r\n\r\n", NULL},
		{"To: x@to.example\r\n\r\nFrom: a@body.example\r\n", NULL},
		{"", NULL},
	};
	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		char *d = from_domain(t[i].msg);
		if (t[i].want == NULL) {
			if (d != NULL)
				fprintf(stderr, "  case %zu: got %s\n", i, d);
			CHECK(d == NULL);
		} else {
			CHECK_EQ_STR(d, t[i].want);
		}
		free(d);
	}
}

TEST(from_address_forms)
{
	static const struct { const char *msg, *want; } t[] = {
		{"From: alice@Example.COM\r\n\r\n", "alice@Example.COM"},
		{"From: \"Smith, Alice <x@evil.test>\" <alice@example.com>\r\n\r\n", "alice@example.com"},
		{"From: alice@example.com (Alice <x@evil.test>)\r\n\r\n", "alice@example.com"},
		{"From: Team: a@team.example, b@x.example;\r\n\r\n", "a@team.example"},
		{"From: <@route.example:alice@real.example>\r\n\r\n", "alice@real.example"},
		{"From: \"john doe\"@example.com\r\n\r\n", "\"john doe\"@example.com"},
		{"From: Bob\r\n <bob\r\n @example.com>\r\n\r\n", "bob@example.com"},
		{"From: Alice@Home <a@b.example>\r\n\r\n", "a@b.example"},
		{"From: alice@[192.0.2.1]\r\n\r\n", "alice@[192.0.2.1]"},
		{"From: alice\r\n\r\n", NULL},
		{"From: @example.com\r\n\r\n", NULL},
		{"From: undisclosed-recipients:;\r\n\r\n", NULL},
		{"To: a@b.example\r\n\r\n", NULL},
	};
	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		char *a = dkim_from_address(t[i].msg, strlen(t[i].msg));
		if (t[i].want == NULL) {
			if (a != NULL)
				fprintf(stderr, "  case %zu: got %s\n", i, a);
			CHECK(a == NULL);
		} else {
			CHECK_EQ_STR(a, t[i].want);
		}
		free(a);
	}
}

TEST(sign_outbound)
{
	char *dir = tmpdir();
	char *kd = xasprintf("%s/dkim", dir);
	CHECK_EQ_INT(mkdir(kd, 0700), 0);
	struct dkim_key *k = new_key(DKIM_ED25519_SHA256);
	char *path = dkim_key_path(dir, "example.com", "sel");
	const char *err = NULL;
	CHECK_EQ_INT(dkim_key_write(k, path, &err), 0);

	struct buf out = {0};
	CHECK_EQ_INT(dkim_sign_outbound(dir, msg1, strlen(msg1), 7, &out, &err), 0);
	char *sig = str_of(&out);
	CHECK(verify(k, sig, msg1_signed));
	free(sig);
	static const char other[] = "From: x@example.org\r\n\r\nbody\r\n";
	CHECK_EQ_INT(dkim_sign_outbound(dir, other, strlen(other), 7, &out, &err), 1);
	static const char none[] = "To: x@example.com\r\n\r\nbody\r\n";
	CHECK_EQ_INT(dkim_sign_outbound(dir, none, strlen(none), 7, &out, &err), 1);
	CHECK_EQ_INT(out.len, 0);
	/* A key that cannot be read is an error, not silence. */
	FILE *f = fopen(path, "w");
	fputs("garbage\n", f);
	fclose(f);
	err = NULL;
	CHECK_EQ_INT(dkim_sign_outbound(dir, msg1, strlen(msg1), 7, &out, &err), -1);
	CHECK(err != NULL);
	CHECK_EQ_INT(out.len, 0);

	dkim_key_free(k);
	free(path);
	free(kd);
	rm_tree(dir);
	free(dir);
}
