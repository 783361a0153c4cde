#include "migration/migration_tls.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migration/migration_wire.h"

struct migration_tls {
	SSL_CTX *ctx;
	int server;
	int psk_mode;
	unsigned char psk[MIGRATION_PSK_MAX_BYTES];
	size_t psk_len;
};

/* The most plaintext one TLS record carries (RFC 8446, 5.1). */
#define TLS_RECORD_BYTES 16384
/* How much the receiving side asks of the socket at once (read-ahead):
 * a few records per read(2), not two reads (header, body) per record. */
#define TLS_READ_BUFFER_BYTES (4 * (TLS_RECORD_BYTES + 256))

struct tls_stream {
	struct migration_stream base;
	SSL *ssl;
	/* A message's header and the start of its payload, sealed as one
	 * record (tls_write_message). */
	uint8_t record[TLS_RECORD_BYTES];
};

/* TLS_AES_128_GCM_SHA256: the PSK's session is bound to one hash, and
 * every suite offered in PSK mode uses SHA-256. */
static const unsigned char PSK_CIPHER_ID[2] = {0x13, 0x01};
#define PSK_CIPHERSUITES "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"

/* The most specific reason OpenSSL queued, or fallback. */
static const char *openssl_reason(char *buf, size_t size, const char *fallback)
{
	unsigned long e = ERR_peek_last_error();

	if (!e)
		return fallback;
	ERR_error_string_n(e, buf, size);
	return buf;
}

/* A secret file that others may read is a key already given away. */
static int check_secret_file(const char *what, const char *path,
			     struct tern_error *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return tern_error_set(err, errno, "%s %s: %s", what, path,
				      strerror(errno));
	if (st.st_mode & S_IRWXO)
		return tern_error_set(err, EPERM,
				      "%s %s is readable by other users "
				      "(chmod o-rwx it)",
				      what, path);
	return 0;
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The file holds the key as hex digits (whitespace ignored). */
static int load_psk(struct migration_tls *tls, const char *path,
		    struct tern_error *err)
{
	char text[2 * MIGRATION_PSK_MAX_BYTES + 64];
	ssize_t n;
	int fd, ret = check_secret_file("PSK file", path, err), high = -1;

	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tern_error_set(err, errno, "PSK file %s: %s", path,
				      strerror(errno));
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n < 0)
		return tern_error_set(err, EIO, "PSK file %s: %s", path,
				      strerror(errno));
	tls->psk_len = 0;
	for (ssize_t i = 0; i < n; i++) {
		int v = hex_value((unsigned char)text[i]);

		if (isspace((unsigned char)text[i]))
			continue;
		if (v < 0 || (high < 0 && tls->psk_len == sizeof(tls->psk)) ||
		    n == (ssize_t)sizeof(text)) {
			ret = -EINVAL;
			break;
		}
		if (high < 0) {
			high = v;
		} else {
			tls->psk[tls->psk_len++] =
				(unsigned char)(high << 4 | v);
			high = -1;
		}
	}
	if (ret || high >= 0 || tls->psk_len < MIGRATION_PSK_MIN_BYTES) {
		OPENSSL_cleanse(tls->psk, sizeof(tls->psk));
		OPENSSL_cleanse(text, sizeof(text));
		return tern_error_set(err, EINVAL,
				      "PSK file %s must hold %d to %d random "
				      "bytes as hex digits (make one with "
				      "'openssl rand -hex 32')",
				      path, MIGRATION_PSK_MIN_BYTES,
				      MIGRATION_PSK_MAX_BYTES);
	}
	OPENSSL_cleanse(text, sizeof(text));
	return 0;
}

static struct migration_tls *tls_of(SSL *ssl)
{
	return SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
}

static SSL_SESSION *psk_session(SSL *ssl, const struct migration_tls *tls)
{
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, PSK_CIPHER_ID);
	SSL_SESSION *sess = cipher ? SSL_SESSION_new() : NULL;

	if (sess &&
	    (!SSL_SESSION_set1_master_key(sess, tls->psk, tls->psk_len) ||
	     !SSL_SESSION_set_cipher(sess, cipher) ||
	     !SSL_SESSION_set_protocol_version(sess, TLS1_3_VERSION))) {
		SSL_SESSION_free(sess);
		sess = NULL;
	}
	return sess;
}

/* Client: offer the PSK (md is set on a second call after a
 * HelloRetryRequest: the suite then chosen must match the PSK's hash). */
static int psk_use_session(SSL *ssl, const EVP_MD *md, const unsigned char **id,
			   size_t *idlen, SSL_SESSION **sess)
{
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, PSK_CIPHER_ID);

	*sess = NULL;
	*id = NULL;
	*idlen = 0;
	if (!cipher || (md && md != SSL_CIPHER_get_handshake_digest(cipher)))
		return 1; /* no PSK: the handshake fails */
	*sess = psk_session(ssl, tls_of(ssl));
	if (!*sess)
		return 0;
	*id = (const unsigned char *)MIGRATION_TLS_PSK_IDENTITY;
	*idlen = strlen(MIGRATION_TLS_PSK_IDENTITY);
	return 1;
}

/* Server: the PSK for the identity the client named; another identity gets
 * none, and with no certificate to fall back on the handshake fails. */
static int psk_find_session(SSL *ssl, const unsigned char *identity,
			    size_t identity_len, SSL_SESSION **sess)
{
	*sess = NULL;
	if (identity_len != strlen(MIGRATION_TLS_PSK_IDENTITY) ||
	    memcmp(identity, MIGRATION_TLS_PSK_IDENTITY, identity_len))
		return 1;
	*sess = psk_session(ssl, tls_of(ssl));
	return *sess ? 1 : 0;
}

static int load_certificates(struct migration_tls *tls,
			     const struct migration_transport_config *c,
			     struct tern_error *err)
{
	char why[256];
	int ret = check_secret_file("TLS key file", c->key_file, err);

	if (ret)
		return ret;
	if (SSL_CTX_load_verify_locations(tls->ctx, c->ca_file, NULL) != 1)
		return tern_error_set(
			err, EINVAL, "TLS CA file %s: %s", c->ca_file,
			openssl_reason(why, sizeof(why), "cannot load it"));
	if (SSL_CTX_use_certificate_chain_file(tls->ctx, c->cert_file) != 1)
		return tern_error_set(
			err, EINVAL, "TLS certificate file %s: %s",
			c->cert_file,
			openssl_reason(why, sizeof(why), "cannot load it"));
	if (SSL_CTX_use_PrivateKey_file(tls->ctx, c->key_file,
					SSL_FILETYPE_PEM) != 1 &&
	    ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
		return tern_error_set(err, EINVAL,
				      "TLS key file %s does not belong to the "
				      "certificate %s",
				      c->key_file, c->cert_file);
	if (!SSL_CTX_get0_privatekey(tls->ctx))
		return tern_error_set(
			err, EINVAL, "TLS key file %s: %s", c->key_file,
			openssl_reason(why, sizeof(why), "cannot load it"));
	if (SSL_CTX_check_private_key(tls->ctx) != 1)
		return tern_error_set(err, EINVAL,
				      "TLS key file %s does not belong to the "
				      "certificate %s",
				      c->key_file, c->cert_file);
	/* Only this CA: the system's public CAs vouch for web sites, not
	 * for the hosts allowed to send or take a VM. */
	SSL_CTX_set_verify(
		tls->ctx,
		SSL_VERIFY_PEER |
			(tls->server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
		NULL);
	return 0;
}

int migration_tls_new(const struct migration_transport_config *c, int server,
		      struct migration_tls **out, struct tern_error *err)
{
	struct migration_tls *tls = calloc(1, sizeof(*tls));
	int ret = 0;

	if (!tls)
		return tern_error_set(err, ENOMEM, "out of memory");
	/* tern's transport is what tern asks for, whatever the host's
	 * openssl.cnf says (and a jail has none). */
	OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	ERR_clear_error();
	tls->server = server;
	tls->psk_mode = c->psk_file != NULL;
	tls->ctx =
		SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!tls->ctx ||
	    !SSL_CTX_set_min_proto_version(tls->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(tls->ctx, TLS1_3_VERSION)) {
		ret = tern_error_set(err, ENOMEM, "cannot set up TLS");
		goto out;
	}
	SSL_CTX_set_app_data(tls->ctx, tls);
	/* One connection per migration: nothing to resume. */
	SSL_CTX_set_session_cache_mode(tls->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_read_ahead(tls->ctx, 1);
	SSL_CTX_set_default_read_buffer_len(tls->ctx, TLS_READ_BUFFER_BYTES);
	SSL_CTX_set_num_tickets(tls->ctx, 0);
	if (tls->psk_mode) {
		ret = load_psk(tls, c->psk_file, err);
		if (!ret &&
		    !SSL_CTX_set_ciphersuites(tls->ctx, PSK_CIPHERSUITES))
			ret = tern_error_set(err, EINVAL,
					     "cannot set the TLS suites");
		if (server)
			SSL_CTX_set_psk_find_session_callback(tls->ctx,
							      psk_find_session);
		else
			SSL_CTX_set_psk_use_session_callback(tls->ctx,
							     psk_use_session);
		/* A server answering without the PSK must present a
		 * certificate, which an empty trust store refuses. */
		if (!server)
			SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER, NULL);
	} else {
		ret = load_certificates(tls, c, err);
	}
out:
	ERR_clear_error();
	if (ret) {
		migration_tls_free(tls);
		return ret;
	}
	*out = tls;
	return 0;
}

void migration_tls_free(struct migration_tls *tls)
{
	if (!tls)
		return;
	SSL_CTX_free(tls->ctx);
	OPENSSL_cleanse(tls->psk, sizeof(tls->psk));
	free(tls);
}

/* A failed SSL_read/SSL_write as a negative errno. */
static ssize_t io_error(struct tls_stream *t, int ret)
{
	int saved = errno;

	switch (SSL_get_error(t->ssl, ret)) {
	case SSL_ERROR_ZERO_RETURN:
		return 0; /* close_notify: the end of the stream */
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return -ETIMEDOUT; /* the socket's timeout expired */
	case SSL_ERROR_SYSCALL:
		if (saved == EAGAIN || saved == EWOULDBLOCK)
			return -ETIMEDOUT;
		return saved ? -saved : 0;
	default:
		/* The peer closed without close_notify (a cut connection), or
		 * a record failed its check (corrupted or tampered with). */
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING)
			return 0;
		return -EPROTO;
	}
}

static ssize_t tls_read(struct migration_stream *s, void *buf, size_t len)
{
	struct tls_stream *t = (struct tls_stream *)s;
	size_t n = 0;
	ssize_t ret;

	ERR_clear_error();
	if (SSL_read_ex(t->ssl, buf, len, &n))
		return (ssize_t)n;
	ret = io_error(t, 0);
	ERR_clear_error();
	return ret;
}

static ssize_t tls_write(struct migration_stream *s, const void *buf,
			 size_t len)
{
	struct tls_stream *t = (struct tls_stream *)s;
	size_t n = 0;
	ssize_t ret;

	ERR_clear_error();
	if (SSL_write_ex(t->ssl, buf, len, &n))
		return (ssize_t)n;
	ret = io_error(t, 0);
	ERR_clear_error();
	return ret ? ret : -EPIPE;
}

/* The header shares its record with the payload's first bytes (one copy
 * of at most a record), the rest of the payload goes as it is: a 24-byte
 * RAM header would otherwise be a record of its own, an AEAD pass, a
 * record header and tag and a syscall on each side, for every run of
 * dirty pages. */
static int tls_write_message(struct migration_stream *s, const void *head,
			     size_t head_len, const void *body, size_t body_len)
{
	struct tls_stream *t = (struct tls_stream *)s;
	size_t first;
	int ret;

	if (head_len >= TLS_RECORD_BYTES) {
		ret = migration_stream_write_all(s, head, head_len);
		return ret ? ret
			   : migration_stream_write_all(s, body, body_len);
	}
	first = TLS_RECORD_BYTES - head_len;
	if (first > body_len)
		first = body_len;
	memcpy(t->record, head, head_len);
	if (first)
		memcpy(t->record + head_len, body, first);
	ret = migration_stream_write_all(s, t->record, head_len + first);
	if (!ret && body_len > first)
		ret = migration_stream_write_all(
			s, (const uint8_t *)body + first, body_len - first);
	return ret;
}

static void tls_close(struct migration_stream *s)
{
	struct tls_stream *t = (struct tls_stream *)s;

	/* close_notify, without waiting for the peer's. */
	ERR_clear_error();
	SSL_shutdown(t->ssl);
	SSL_free(t->ssl);
	ERR_clear_error();
	close(s->fd);
	free(t);
}

static const struct migration_stream_ops tls_ops = {
	.read = tls_read,
	.write = tls_write,
	.write_message = tls_write_message,
	.close = tls_close,
};

/* The certificate must name the host as the source wrote it. */
static int expect_peer_name(SSL *ssl, const char *host)
{
	unsigned char addr[16];
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);

	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(param, host);
	SSL_set_tlsext_host_name(ssl, host);
	return SSL_set1_host(ssl, host);
}

static int handshake_error(SSL *ssl, int server, const char *phase,
			   struct tern_error *err)
{
	long verify = SSL_get_verify_result(ssl);
	char why[256];

	if (verify != X509_V_OK)
		return tern_error_set(err, EACCES,
				      "TLS: the %s's certificate is refused: "
				      "%s",
				      server ? "source" : "destination",
				      X509_verify_cert_error_string(verify));
	return tern_error_set(
		err, EACCES, "TLS %s with the %s failed: %s", phase,
		server ? "source" : "destination",
		openssl_reason(why, sizeof(why), "connection closed"));
}

static int finish_handshake(struct migration_tls *tls, SSL *ssl,
			    struct tern_error *err)
{
	unsigned char accepted = MIGRATION_TLS_ACCEPTED;
	size_t n = 0;

	if (tls->server ? SSL_accept(ssl) != 1 : SSL_connect(ssl) != 1)
		return handshake_error(ssl, tls->server, "handshake", err);
	if (tls->psk_mode && !SSL_session_reused(ssl))
		return tern_error_set(err, EACCES,
				      "TLS: the %s did not use the pre-shared "
				      "key",
				      tls->server ? "source" : "destination");
	if (tls->server) {
		if (!SSL_write_ex(ssl, &accepted, 1, &n))
			return handshake_error(ssl, 1, "handshake", err);
		return 0;
	}
	if (!SSL_read_ex(ssl, &accepted, 1, &n) ||
	    accepted != MIGRATION_TLS_ACCEPTED)
		return handshake_error(ssl, 0, "authentication", err);
	return 0;
}

int migration_tls_start(struct migration_tls *tls, int fd,
			const char *peer_host, struct migration_stream **out,
			struct tern_error *err)
{
	struct tls_stream *t = calloc(1, sizeof(*t));
	int ret = 0;

	if (!t) {
		close(fd);
		return tern_error_set(err, ENOMEM, "out of memory");
	}
	t->base.ops = &tls_ops;
	t->base.fd = fd;
	t->base.description = tls->psk_mode ? "TLS 1.3, pre-shared key"
					    : "TLS 1.3, certificates";
	migration_stream_set_timeouts(&t->base, MIGRATION_HANDSHAKE_TIMEOUT_S,
				      MIGRATION_HANDSHAKE_TIMEOUT_S);
	ERR_clear_error();
	t->ssl = SSL_new(tls->ctx);
	if (!t->ssl || !SSL_set_fd(t->ssl, fd) ||
	    (!tls->server && !tls->psk_mode && peer_host &&
	     !expect_peer_name(t->ssl, peer_host)))
		ret = tern_error_set(err, ENOMEM, "cannot set up TLS");
	if (!ret)
		ret = finish_handshake(tls, t->ssl, err);
	ERR_clear_error();
	if (ret) {
		SSL_free(t->ssl);
		close(fd);
		free(t);
		return ret;
	}
	migration_stream_set_timeouts(&t->base, MIGRATION_STALL_TIMEOUT_S,
				      MIGRATION_STALL_TIMEOUT_S);
	*out = &t->base;
	return 0;
}
