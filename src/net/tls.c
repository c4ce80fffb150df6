/* The server's TLS context (OpenSSL). When no certificate is configured, a
 * self-signed one for the host name, localhost and 127.0.0.1 is generated on
 * first start under DATA/tls/ and reused afterwards. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "net/net-internal.h"

static const char *ssl_error(void)
{
	static __thread char msg[256];
	unsigned long e = ERR_get_error();
	if (e == 0)
		return "unknown TLS error";
	ERR_error_string_n(e, msg, sizeof msg);
	return msg;
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static int write_pem(const char *path, mode_t mode, int (*fn)(FILE *, void *), void *obj)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0) {
		free(tmp);
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	int ok = f && fn(f, obj);
	if (f == NULL || fflush(f) != 0 || fsync(fd) != 0)
		ok = 0;
	if (f)
		fclose(f);
	else
		close(fd);
	if (ok && rename(tmp, path) != 0)
		ok = 0;
	if (!ok)
		unlink(tmp);
	free(tmp);
	return ok ? 0 : -1;
}

static int pem_key(FILE *f, void *k) { return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL); }
static int pem_cert(FILE *f, void *x) { return PEM_write_X509(f, x); }

static int generate_cert(const char *cert_path, const char *key_path, const char *hostname, const char **error_r)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	X509 *x = X509_new();
	int ret = -1;
	if (pkey == NULL || x == NULL) {
		*error_r = ssl_error();
		goto out;
	}
	X509_set_version(x, 2);
	unsigned char serial[16];
	FILE *ur = fopen("/dev/urandom", "r");
	if (ur == NULL || fread(serial, 1, sizeof serial, ur) != sizeof serial) {
		if (ur)
			fclose(ur);
		*error_r = "cannot read /dev/urandom";
		goto out;
	}
	fclose(ur);
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
	X509_set_pubkey(x, pkey);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)hostname, -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Roost self-signed", -1, -1, 0);
	X509_set_issuer_name(x, name);
	char *san = strcmp(hostname, "localhost") == 0
			    ? xstrdup("DNS:localhost,IP:127.0.0.1,IP:::1")
			    : xasprintf("DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", hostname);
	int ext_ok = add_ext(x, NID_subject_alt_name, san) == 0 &&
		     add_ext(x, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
		     add_ext(x, NID_ext_key_usage, "serverAuth") == 0;
	free(san);
	if (!ext_ok || !X509_sign(x, pkey, EVP_sha256())) {
		*error_r = ssl_error();
		goto out;
	}
	if (write_pem(key_path, 0600, pem_key, pkey) < 0 || write_pem(cert_path, 0644, pem_cert, x) < 0) {
		*error_r = strerror(errno);
		goto out;
	}
	log_info("event=tls_cert_generated cert=%s cn=%s", cert_path, hostname);
	ret = 0;
out:
	X509_free(x);
	EVP_PKEY_free(pkey);
	return ret;
}

SSL_CTX *tls_context_new(const char *data_dir, const char *cert, const char *key, const char *hostname, const char **error_r)
{
	char *cert_path = NULL, *key_path = NULL;
	SSL_CTX *ctx = NULL;
	if (cert[0] == '\0') {
		char *dir = xasprintf("%s/tls", data_dir);
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			*error_r = "cannot create DATA/tls";
			free(dir);
			return NULL;
		}
		cert_path = xasprintf("%s/cert.pem", dir);
		key_path = xasprintf("%s/key.pem", dir);
		free(dir);
		if (access(cert_path, R_OK) != 0 || access(key_path, R_OK) != 0) {
			if (generate_cert(cert_path, key_path, hostname, error_r) < 0)
				goto out;
		}
	} else {
		cert_path = xstrdup(cert);
		key_path = xstrdup(key[0] ? key : cert);
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		*error_r = ssl_error();
		goto out;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"roost", 5);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		static __thread char msg[512];
		snprintf(msg, sizeof msg, "cannot load %s / %s: %s", cert_path, key_path, ssl_error());
		*error_r = msg;
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
out:
	free(cert_path);
	free(key_path);
	return ctx;
}
