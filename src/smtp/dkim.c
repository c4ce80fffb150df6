/* DKIM signatures (RFC 6376) for outbound mail, rsa-sha256 and ed25519-sha256
 * (RFC 8463), relaxed/relaxed. A message is read in place, never copied whole:
 * the body is canonicalized straight into the hash, the header fields to sign
 * into one small buffer. Keys are PEM files under DATA/dkim named by domain and
 * selector; the same names tell the queue which domains it signs for. */
#include "smtp/dkim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/util.h"

struct dkim_key {
	EVP_PKEY *pkey;
	enum dkim_alg alg;
	char *domain;   /* lower case */
	char *selector;
};

/* The header fields signed when present, in the order h= lists them. From is
 * first and listed once more than it occurs (RFC 6376 5.4.2), so that a
 * second From added on the way does not verify. */
static const char *const sign_names[] = {
	"from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc",
	"in-reply-to", "references", "mime-version", "content-type", "content-transfer-encoding",
};

static const char *ssl_error(const char *what)
{
	static __thread char msg[256];
	unsigned long e = ERR_get_error();
	char detail[160] = "unknown error";
	if (e != 0)
		ERR_error_string_n(e, detail, sizeof detail);
	ERR_clear_error();
	snprintf(msg, sizeof msg, "%s: %s", what, detail);
	return msg;
}

static const char *errno_error(const char *what, const char *path)
{
	static __thread char msg[512];
	snprintf(msg, sizeof msg, "%s %s: %s", what, path, strerror(errno));
	return msg;
}

static bool is_wsp(char c) { return c == ' ' || c == '\t'; }

static char *lower_dup(const char *s)
{
	char *r = xstrdup(s);
	for (char *p = r; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return r;
}

/* ---- names ---- */

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool dkim_valid_selector(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > DKIM_MAX_SELECTOR || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!label_char(s[i]))
			return false;
	return true;
}

bool dkim_valid_domain(const char *d)
{
	size_t n = strlen(d), label = 0;
	if (n == 0 || n > DKIM_MAX_DOMAIN)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || d[i] == '.') {
			/* No empty labels, none above 63, none starting or ending in '-'. */
			if (label == 0 || label > 63 || d[i - label] == '-' || d[i - 1] == '-')
				return false;
			label = 0;
		} else if (!label_char(d[i])) {
			return false;
		} else {
			label++;
		}
	}
	return true;
}

char *dkim_key_path(const char *data_dir, const char *domain, const char *selector)
{
	char *d = lower_dup(domain);
	char *p = xasprintf("%s/%s/%s.%s.key", data_dir, DKIM_DIR, d, selector);
	free(d);
	return p;
}

bool dkim_key_file_name(const char *name, char **domain_r, char **selector_r)
{
	size_t n = strlen(name);
	if (n < 4 || strcmp(name + n - 4, ".key") != 0)
		return false;
	const char *dot = NULL;
	for (size_t i = n - 4; i > 0; i--)
		if (name[i - 1] == '.') {
			dot = name + i - 1;
			break;
		}
	if (dot == NULL)
		return false;
	char *domain = xstrndup(name, (size_t)(dot - name));
	char *selector = xstrndup(dot + 1, (size_t)(name + n - 4 - (dot + 1)));
	if (!dkim_valid_domain(domain) || !dkim_valid_selector(selector)) {
		free(domain);
		free(selector);
		return false;
	}
	*domain_r = domain;
	*selector_r = selector;
	return true;
}

/* ---- keys ---- */

static int key_new(EVP_PKEY *pkey, const char *domain, const char *selector, struct dkim_key **r,
		   const char **error_r)
{
	enum dkim_alg alg;
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(pkey) < DKIM_MIN_RSA_BITS) {
			*error_r = "RSA key shorter than 1024 bits (verifiers reject it)";
			return -1;
		}
		alg = DKIM_RSA_SHA256;
		break;
	case EVP_PKEY_ED25519:
		alg = DKIM_ED25519_SHA256;
		break;
	default:
		*error_r = "not an RSA or Ed25519 key";
		return -1;
	}
	if (!dkim_valid_domain(domain)) {
		*error_r = "invalid domain name";
		return -1;
	}
	if (!dkim_valid_selector(selector)) {
		*error_r = "invalid selector (one label of letters, digits and '-')";
		return -1;
	}
	struct dkim_key *k = xcalloc(1, sizeof *k);
	k->pkey = pkey;
	k->alg = alg;
	k->domain = lower_dup(domain);
	k->selector = xstrdup(selector);
	*r = k;
	return 0;
}

int dkim_key_load(const char *path, const char *domain, const char *selector, struct dkim_key **r,
		  const char **error_r)
{
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		*error_r = errno_error("cannot open", path);
		return -1;
	}
	EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pkey == NULL) {
		*error_r = ssl_error("not a PEM private key");
		return -1;
	}
	if (key_new(pkey, domain, selector, r, error_r) < 0) {
		EVP_PKEY_free(pkey);
		return -1;
	}
	return 0;
}

int dkim_key_generate(enum dkim_alg alg, const char *domain, const char *selector, struct dkim_key **r,
		      const char **error_r)
{
	EVP_PKEY *pkey = alg == DKIM_RSA_SHA256 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)DKIM_RSA_BITS)
						: EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pkey == NULL) {
		*error_r = ssl_error("key generation failed");
		return -1;
	}
	if (key_new(pkey, domain, selector, r, error_r) < 0) {
		EVP_PKEY_free(pkey);
		return -1;
	}
	return 0;
}

int dkim_key_write(const struct dkim_key *k, const char *path, const char **error_r)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		*error_r = errno == EEXIST ? "a key file of that name already exists" : errno_error("cannot create", path);
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		*error_r = errno_error("cannot write", path);
		close(fd);
		unlink(path);
		return -1;
	}
	bool ok = PEM_write_PrivateKey(f, k->pkey, NULL, NULL, 0, NULL, NULL) == 1;
	if (!ok)
		*error_r = ssl_error("cannot write the key");
	if (ok && (fflush(f) != 0 || fsync(fd) != 0)) {
		*error_r = errno_error("cannot write", path);
		ok = false;
	}
	if (fclose(f) != 0 && ok) {
		*error_r = errno_error("cannot write", path);
		ok = false;
	}
	if (!ok) {
		unlink(path);
		return -1;
	}
	return 0;
}

void dkim_key_free(struct dkim_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k->domain);
	free(k->selector);
	free(k);
}

enum dkim_alg dkim_key_alg(const struct dkim_key *k) { return k->alg; }
const char *dkim_key_domain(const struct dkim_key *k) { return k->domain; }
const char *dkim_key_selector(const struct dkim_key *k) { return k->selector; }

const char *dkim_alg_name(enum dkim_alg alg)
{
	return alg == DKIM_RSA_SHA256 ? "rsa-sha256" : "ed25519-sha256";
}

static void append_base64(struct buf *out, const unsigned char *data, size_t len)
{
	char *p = buf_reserve(out, base64_encoded_len(len) + 1);
	base64_encode(data, len, p);
	buf_commit(out, strlen(p));
}

void dkim_key_txt(const struct dkim_key *k, struct buf *out)
{
	unsigned char *der = NULL;
	size_t len = 0;
	if (k->alg == DKIM_RSA_SHA256) {
		/* RFC 6376 3.6.1: p= is the SubjectPublicKeyInfo in DER. */
		int n = i2d_PUBKEY(k->pkey, &der);
		if (n <= 0)
			die("cannot encode a DKIM public key");
		len = (size_t)n;
		buf_appends(out, "v=DKIM1; k=rsa; p=");
	} else {
		/* RFC 8463 4.2: the raw 32-byte public key. */
		der = xmalloc(32);
		len = 32;
		if (EVP_PKEY_get_raw_public_key(k->pkey, der, &len) != 1 || len != 32)
			die("cannot encode a DKIM public key");
		buf_appends(out, "v=DKIM1; k=ed25519; p=");
	}
	append_base64(out, der, len);
	OPENSSL_free(der);
}

/* ---- canonicalization ---- */

typedef void emit_fn(void *ctx, const char *p, size_t n);

static void emit_buf(void *ctx, const char *p, size_t n) { buf_append(ctx, p, n); }

static void emit_md(void *ctx, const char *p, size_t n)
{
	if (EVP_DigestUpdate(ctx, p, n) != 1)
		die("SHA-256 failed");
}

/* Where the next CRLF at or after from starts, or len. A bare LF or CR is
 * an ordinary byte. */
static size_t find_crlf(const char *s, size_t from, size_t len)
{
	while (from < len) {
		const char *lf = memchr(s + from, '\n', len - from);
		if (lf == NULL)
			return len;
		if (lf > s + from && lf[-1] == '\r')
			return (size_t)(lf - s) - 1;
		from = (size_t)(lf - s) + 1;
	}
	return len;
}

/* Relaxed body (RFC 6376 3.4.4): whitespace runs become one SP, whitespace at
 * the end of a line goes, empty lines at the end go, and a last line without
 * CRLF gets one. Empty lines are held back until a line with content shows
 * they were not at the end. */
static void canon_body(const char *body, size_t len, emit_fn *emit, void *ctx)
{
	size_t pending_empty = 0, i = 0;
	while (i < len) {
		size_t line_end = find_crlf(body, i, len);
		size_t end = line_end < len ? line_end + 2 : len;
		size_t last = line_end;
		while (last > i && is_wsp(body[last - 1]))
			last--;
		if (last == i) {
			pending_empty++;
		} else {
			for (; pending_empty > 0; pending_empty--)
				emit(ctx, "\r\n", 2);
			size_t p = i;
			while (p < last) {
				if (is_wsp(body[p])) {
					emit(ctx, " ", 1);
					while (is_wsp(body[p]))
						p++;
					continue;
				}
				size_t q = p;
				while (q < last && !is_wsp(body[q]))
					q++;
				emit(ctx, body + p, q - p);
				p = q;
			}
			emit(ctx, "\r\n", 2);
		}
		i = end;
	}
}

void dkim_canon_body(const char *body, size_t len, struct buf *out) { canon_body(body, len, emit_buf, out); }

static void body_hash(const char *body, size_t len, unsigned char md[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int mdlen = 0;
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		die("SHA-256 failed");
	canon_body(body, len, emit_md, ctx);
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		die("SHA-256 failed");
	EVP_MD_CTX_free(ctx);
}

void dkim_body_hash(const char *body, size_t len, struct buf *out)
{
	unsigned char md[32];
	body_hash(body, len, md);
	append_base64(out, md, sizeof md);
}

/* Relaxed header (RFC 6376 3.4.2): name in lower case, CRLFs of folds removed,
 * whitespace runs made one SP, whitespace around the colon and at the end of
 * the value removed. */
void dkim_canon_header(const char *field, size_t len, struct buf *out)
{
	const char *colon = memchr(field, ':', len);
	size_t name_len = colon ? (size_t)(colon - field) : len;
	while (name_len > 0 && is_wsp(field[name_len - 1]))
		name_len--;
	char *p = buf_reserve(out, name_len + 1);
	for (size_t i = 0; i < name_len; i++) {
		char c = field[i];
		p[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	p[name_len] = ':';
	buf_commit(out, name_len + 1);
	if (colon == NULL) {
		buf_append(out, "\r\n", 2);
		return;
	}
	bool space = false, started = false;
	for (size_t i = (size_t)(colon - field) + 1; i < len; i++) {
		char c = field[i];
		if (c == '\r' && i + 1 < len && field[i + 1] == '\n') {
			i++;
			continue;
		}
		if (is_wsp(c)) {
			space = started;
			continue;
		}
		if (space)
			buf_append(out, " ", 1);
		buf_append(out, &c, 1);
		space = false;
		started = true;
	}
	buf_append(out, "\r\n", 2);
}

/* ---- the header ---- */

struct field {
	const char *p;
	size_t len;      /* without the final CRLF */
	size_t name_len; /* before the colon, trailing whitespace removed */
};

/* Split the header into fields (a line starting with SP or HTAB continues the
 * one before; a line without a colon is not a field) and find the body. */
static struct field *parse_header(const char *msg, size_t len, size_t *n_r, size_t *body_r)
{
	struct field *f = NULL;
	size_t n = 0, cap = 0, i = 0;
	while (i < len) {
		if (len - i >= 2 && msg[i] == '\r' && msg[i + 1] == '\n') {
			i += 2;
			break;
		}
		size_t start = i, end;
		for (;;) {
			end = find_crlf(msg, i, len);
			i = end < len ? end + 2 : len;
			if (i >= len || !is_wsp(msg[i]))
				break;
		}
		const char *colon = memchr(msg + start, ':', end - start);
		if (colon == NULL)
			continue;
		size_t name_len = (size_t)(colon - (msg + start));
		while (name_len > 0 && is_wsp(msg[start + name_len - 1]))
			name_len--;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			f = xrealloc(f, cap * sizeof *f);
		}
		f[n++] = (struct field){msg + start, end - start, name_len};
	}
	*n_r = n;
	*body_r = i;
	return f;
}

static bool field_is(const struct field *f, const char *name)
{
	return f->name_len == strlen(name) && mem_ieq(f->p, f->name_len, name);
}

/* Append s to a header under construction, folding before it when the line
 * would pass 76 columns. *col is the current line's length. */
static void fold_append(struct buf *h, size_t *col, const char *s, size_t n)
{
	if (*col + n > 76 && *col > 1) {
		buf_append(h, "\r\n\t", 3);
		*col = 1;
		if (n > 0 && s[0] == ' ') {
			s++;
			n--;
		}
	}
	buf_append(h, s, n);
	*col += n;
}

/* A long value (base64) cut into pieces that fill the lines. */
static void fold_long(struct buf *h, size_t *col, const char *s, size_t n)
{
	while (n > 0) {
		size_t room = *col < 76 ? 76 - *col : 0;
		if (room < 8) {
			buf_append(h, "\r\n\t", 3);
			*col = 1;
			room = 75;
		}
		size_t take = n < room ? n : room;
		buf_append(h, s, take);
		*col += take;
		s += take;
		n -= take;
	}
}

static int sign_data(const struct dkim_key *k, const char *data, size_t len, struct buf *sig_b64,
		     const char **error_r)
{
	unsigned char digest[32];
	const unsigned char *in = (const unsigned char *)data;
	size_t in_len = len;
	const EVP_MD *md = EVP_sha256();
	if (k->alg == DKIM_ED25519_SHA256) {
		/* RFC 8463 3: Ed25519 (pure) over the SHA-256 of the header data. */
		unsigned int dl = 0;
		if (EVP_Digest(data, len, digest, &dl, EVP_sha256(), NULL) != 1 || dl != 32) {
			*error_r = ssl_error("SHA-256 failed");
			return -1;
		}
		in = digest;
		in_len = sizeof digest;
		md = NULL;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	int rc = -1;
	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, md, NULL, k->pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &sig_len, in, in_len) != 1) {
		*error_r = ssl_error("signing failed");
		goto out;
	}
	sig = xmalloc(sig_len);
	if (EVP_DigestSign(ctx, sig, &sig_len, in, in_len) != 1) {
		*error_r = ssl_error("signing failed");
		goto out;
	}
	append_base64(sig_b64, sig, sig_len);
	rc = 0;
out:
	free(sig);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int dkim_sign(const struct dkim_key *k, const char *msg, size_t len, int64_t now, struct buf *out,
	      const char **error_r)
{
	size_t n_fields = 0, body_at = 0;
	struct field *f = parse_header(msg, len, &n_fields, &body_at);
	struct buf h = {0}, data = {0}, tmp = {0};
	int rc = -1;

	/* The h= list and the canonical fields it names, in the same order:
	 * each name as often as it occurs, the bottom instance first. */
	struct buf hlist = {0};
	size_t n_from = 0;
	for (size_t s = 0; s < ARRAY_LEN(sign_names); s++) {
		size_t taken = 0;
		for (size_t i = n_fields; i > 0 && taken < DKIM_MAX_SIGNED_PER_NAME; i--) {
			if (!field_is(&f[i - 1], sign_names[s]))
				continue;
			if (hlist.len > 0)
				buf_append(&hlist, ":", 1);
			buf_appends(&hlist, sign_names[s]);
			dkim_canon_header(f[i - 1].p, f[i - 1].len, &data);
			taken++;
		}
		if (s == 0)
			n_from = taken;
	}
	if (n_from == 0) {
		*error_r = "the message has no From header field";
		goto out;
	}
	/* The extra From signs its absence (the null string: nothing hashed). */
	buf_append(&hlist, ":from", 5);

	dkim_body_hash(msg + body_at, len - body_at, &tmp);
	size_t col = 0;
	buf_appends(&h, "DKIM-Signature: v=1; a=");
	buf_appends(&h, dkim_alg_name(k->alg));
	buf_appends(&h, "; c=relaxed/relaxed;");
	col = h.len;
	char *tag = xasprintf(" d=%s;", k->domain);
	fold_append(&h, &col, tag, strlen(tag));
	free(tag);
	tag = xasprintf(" s=%s;", k->selector);
	fold_append(&h, &col, tag, strlen(tag));
	free(tag);
	tag = xasprintf(" t=%lld;", (long long)now);
	fold_append(&h, &col, tag, strlen(tag));
	free(tag);
	fold_append(&h, &col, " h=", 3);
	for (size_t i = 0; i < hlist.len;) {
		const char *colon = memchr(hlist.data + i, ':', hlist.len - i);
		size_t end = colon ? (size_t)(colon - hlist.data) + 1 : hlist.len;
		fold_append(&h, &col, hlist.data + i, end - i);
		i = end;
	}
	buf_append(&h, ";", 1);
	col++;
	tag = xasprintf(" bh=%.*s;", (int)tmp.len, tmp.data);
	fold_append(&h, &col, tag, strlen(tag));
	free(tag);
	fold_append(&h, &col, " b=", 3);

	/* The signature field itself, with b= empty and without its CRLF, is
	 * hashed last (RFC 6376 3.7). */
	dkim_canon_header(h.data, h.len, &data);
	data.len -= 2;

	buf_clear(&tmp);
	if (sign_data(k, data.data, data.len, &tmp, error_r) < 0)
		goto out;
	fold_long(&h, &col, tmp.data, tmp.len);
	buf_append(&h, "\r\n", 2);
	buf_append(out, h.data, h.len);
	rc = 0;
out:
	free(f);
	buf_free(&h);
	buf_free(&data);
	buf_free(&tmp);
	buf_free(&hlist);
	return rc;
}

/* ---- finding keys ---- */

int dkim_key_for_domain(const char *data_dir, const char *domain, struct dkim_key **r, const char **error_r)
{
	static __thread char msg[512];
	if (!dkim_valid_domain(domain))
		return 1;
	char *dir = xasprintf("%s/%s", data_dir, DKIM_DIR);
	DIR *d = opendir(dir);
	if (d == NULL) {
		int rc = 1;
		if (errno != ENOENT && errno != ENOTDIR) {
			*error_r = errno_error("cannot read", dir);
			rc = -1;
		}
		free(dir);
		return rc;
	}
	char *best = NULL, *best_sel = NULL;
	struct timespec best_time = {0};
	struct dirent *e;
	size_t seen = 0;
	while ((e = readdir(d)) != NULL && seen++ < DKIM_MAX_KEY_FILES) {
		char *dom = NULL, *sel = NULL;
		if (!dkim_key_file_name(e->d_name, &dom, &sel))
			continue;
		bool match = str_ieq(dom, domain);
		free(dom);
		struct stat sb;
		if (!match || fstatat(dirfd(d), e->d_name, &sb, 0) < 0 || !S_ISREG(sb.st_mode)) {
			free(sel);
			continue;
		}
		bool older = best == NULL || sb.st_mtim.tv_sec < best_time.tv_sec ||
			     (sb.st_mtim.tv_sec == best_time.tv_sec && sb.st_mtim.tv_nsec < best_time.tv_nsec) ||
			     (sb.st_mtim.tv_sec == best_time.tv_sec && sb.st_mtim.tv_nsec == best_time.tv_nsec &&
			      strcmp(e->d_name, best) < 0);
		if (older) {
			free(best);
			free(best_sel);
			best = xstrdup(e->d_name);
			best_sel = sel;
			best_time = sb.st_mtim;
		} else {
			free(sel);
		}
	}
	closedir(d);
	int rc = 1;
	if (best != NULL) {
		char *path = xasprintf("%s/%s", dir, best);
		const char *err = NULL;
		rc = 0;
		if (dkim_key_load(path, domain, best_sel, r, &err) < 0) {
			snprintf(msg, sizeof msg, "%s: %s", path, err);
			*error_r = msg;
			rc = -1;
		}
		free(path);
	}
	free(best);
	free(best_sel);
	free(dir);
	return rc;
}

/* ---- the From domain ---- */

/* Skip a comment at s[i] == '(' (nested, with quoted pairs); returns the
 * index after it. */
static size_t skip_comment(const char *s, size_t i, size_t len)
{
	int depth = 0;
	for (; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len)
			i++;
		else if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth == 0)
			return i + 1;
	}
	return len;
}

static size_t skip_quoted(const char *s, size_t i, size_t len)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len)
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return len;
}

char *dkim_from_address(const char *msg, size_t len)
{
	size_t n = 0, body_at = 0;
	struct field *f = parse_header(msg, len, &n, &body_at);
	const struct field *from = NULL;
	for (size_t i = 0; i < n && from == NULL; i++)
		if (field_is(&f[i], "from"))
			from = &f[i];
	if (from == NULL) {
		free(f);
		return NULL;
	}
	const char *v = memchr(from->p, ':', from->len) + 1;
	size_t vlen = from->len - (size_t)(v - from->p);
	free(f); /* v points into msg */
	/* The first mailbox: an angle address if one comes before the first
	 * ',' or ';', else the addr-spec itself; comments and quoted display
	 * names are skipped, a group's name (up to ':') too. */
	size_t i = 0, start = 0, lt = vlen;
	while (i < vlen) {
		char c = v[i];
		if (c == '(') {
			i = skip_comment(v, i, vlen);
			continue;
		}
		if (c == '"') {
			i = skip_quoted(v, i, vlen);
			continue;
		}
		if (c == '<') {
			lt = i;
			break;
		}
		if (c == ',' || c == ';')
			break;
		if (c == ':')
			start = i + 1;
		i++;
	}
	struct buf a = {0};
	size_t end = i;
	if (lt < vlen) {
		start = lt + 1;
		for (end = start; end < vlen && v[end] != '>';)
			end = v[end] == '"' ? skip_quoted(v, end, vlen) : end + 1;
		if (end < vlen && v[start] == '@') { /* a source route: "@a,@b:" */
			const char *colon = memchr(v + start, ':', end - start);
			start = colon ? (size_t)(colon - v) + 1 : end;
		}
	}
	/* Copy without comments and folding white space. */
	for (size_t j = start; j < end;) {
		if (v[j] == '(') {
			j = skip_comment(v, j, end);
		} else if (v[j] == '"') {
			size_t q = skip_quoted(v, j, end);
			buf_append(&a, v + j, q - j);
			j = q;
		} else {
			if (!is_wsp(v[j]) && v[j] != '\r' && v[j] != '\n')
				buf_append(&a, v + j, 1);
			j++;
		}
	}
	buf_append(&a, "", 1);
	const char *at = strrchr(a.data, '@');
	char *r = NULL;
	if (at != NULL && at > a.data && at[1] != '\0' && strpbrk(a.data, "\r\n") == NULL && strlen(a.data) <= 320)
		r = xstrdup(a.data);
	buf_free(&a);
	return r;
}

char *dkim_from_domain(const char *msg, size_t len)
{
	char *addr = dkim_from_address(msg, len);
	if (addr == NULL)
		return NULL;
	const char *d = strrchr(addr, '@') + 1;
	char *domain = dkim_valid_domain(d) ? lower_dup(d) : NULL;
	free(addr);
	return domain;
}

int dkim_sign_outbound(const char *data_dir, const char *msg, size_t len, int64_t now, struct buf *out,
		       const char **error_r)
{
	char *domain = dkim_from_domain(msg, len);
	if (domain == NULL)
		return 1;
	struct dkim_key *k = NULL;
	int rc = dkim_key_for_domain(data_dir, domain, &k, error_r);
	free(domain);
	if (rc != 0)
		return rc;
	rc = dkim_sign(k, msg, len, now, out, error_r);
	dkim_key_free(k);
	return rc;
}
