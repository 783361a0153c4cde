#include "ternctl/ternctl_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/host_port.h"

#define USER_PKI_DIR ".pki/ternctl"
#define SYSTEM_PKI_DIR "/etc/pki/ternctl"

int ternctl_tls_is_uri(const char *connect)
{
	return !strncmp(connect, "tls://", 6) ||
		!strncmp(connect, "https://", 8);
}

/* A file's path: the option, else the variable, else the default
 * directory's file. */
static void resolve(const char *given, const char *variable, const char *dir,
		    const char *name, char *out, size_t size)
{
	const char *env = getenv(variable);

	if (given)
		snprintf(out, size, "%s", given);
	else if (env && env[0])
		snprintf(out, size, "%s", env);
	else
		snprintf(out, size, "%s/%s", dir, name);
}

static void default_dir(char *out, size_t size)
{
	const char *home = getenv("HOME");
	char probe[PATH_MAX];

	if (home && home[0]) {
		snprintf(probe, sizeof(probe),
			 "%s/" USER_PKI_DIR "/client-cert.pem", home);
		if (!access(probe, F_OK)) {
			snprintf(out, size, "%s/" USER_PKI_DIR, home);
			return;
		}
	}
	snprintf(out, size, SYSTEM_PKI_DIR);
}

/* OpenSSL's first queued error, as text; the queue emptied. */
static const char *ssl_reason(char *buf, size_t size)
{
	unsigned long code = ERR_get_error();
	const char *reason = code ? ERR_reason_error_string(code) : NULL;

	if (!code)
		snprintf(buf, size, "no detail");
	else if (reason)
		snprintf(buf, size, "%s", reason);
	else
		ERR_error_string_n(code, buf, size);
	ERR_clear_error();
	return buf;
}

static SSL_CTX *make_context(const char *cert, const char *key, const char *ca,
			     struct tern_error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char why[256];

	if (!ctx) {
		tern_error_set(err, ENOMEM, "cannot set up TLS: %s",
			       ssl_reason(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (access(ca, R_OK)) {
		tern_error_set(err, errno,
			       "the CA certificate %s: %s (--tls-ca, "
			       "$TERNCTL_TLS_CA)",
			       ca, strerror(errno));
	} else if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		tern_error_set(err, EINVAL, "the CA certificate %s: %s", ca,
			       ssl_reason(why, sizeof(why)));
	} else if (access(cert, R_OK)) {
		tern_error_set(err, errno,
			       "the client certificate %s: %s (--tls-cert, "
			       "$TERNCTL_TLS_CERT)",
			       cert, strerror(errno));
	} else if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tern_error_set(err, EINVAL, "the client certificate %s: %s",
			       cert, ssl_reason(why, sizeof(why)));
	} else if (access(key, R_OK)) {
		tern_error_set(err, errno,
			       "the client key %s: %s (--tls-key, "
			       "$TERNCTL_TLS_KEY)",
			       key, strerror(errno));
	} else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) !=
			   1 ||
		   SSL_CTX_check_private_key(ctx) != 1) {
		tern_error_set(err, EINVAL, "the client key %s (for %s): %s",
			       key, cert, ssl_reason(why, sizeof(why)));
	} else {
		return ctx;
	}
	SSL_CTX_free(ctx);
	return NULL;
}

static int connect_tcp(const char *host, unsigned port, const char *uri,
		       int timeout_s, struct tern_error *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct timeval tv = {.tv_sec = timeout_s};
	struct addrinfo *list, *ai;
	char service[8];
	int fd = -1, ret, saved = 0;

	snprintf(service, sizeof(service), "%u", port);
	ret = getaddrinfo(host, service, &hints, &list);
	if (ret)
		return tern_error_set(err, EHOSTUNREACH,
				      "cannot reach ternd at %s: %s", uri,
				      gai_strerror(ret));
	for (ai = list; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		/* SO_SNDTIMEO also bounds connect(). */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(list);
	if (fd < 0)
		return tern_error_set(err, saved,
				      "cannot reach ternd at %s: %s (is it "
				      "running with --listen?)",
				      uri,
				      saved == EINPROGRESS || saved == EAGAIN
					      ? "timed out"
					      : strerror(saved));
	return fd;
}

/* Why the handshake failed, for the user. */
static int handshake_failed(SSL *ssl, int ret, const char *uri, const char *ca,
			    const char *cert, struct tern_error *err)
{
	long verify = SSL_get_verify_result(ssl);
	int code = SSL_get_error(ssl, ret);
	unsigned long e = ERR_peek_error();
	char why[256];

	if (verify != X509_V_OK) {
		ERR_clear_error();
		return tern_error_set(
			err, EACCES,
			"ternd at %s is not trusted: its certificate: %s "
			"(checked against %s and the host in -c)",
			uri, X509_verify_cert_error_string(verify), ca);
	}
	if (code == SSL_ERROR_SYSCALL && errno == EAGAIN)
		return tern_error_set(err, ETIMEDOUT,
				      "ternd at %s: the TLS handshake timed "
				      "out",
				      uri);
	/* ternd closes without a word a connection over its limits and, in
	 * TLS 1.2, one whose certificate it refused. */
	if ((code == SSL_ERROR_SYSCALL && !e) ||
	    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		return tern_error_set(
			err, ECONNRESET,
			"ternd at %s closed the connection in the TLS "
			"handshake (did it refuse our client certificate %s, "
			"or have too many connections from this address? "
			"its log says why)",
			uri, cert);
	}
	if (e &&
	    strstr(ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "",
		   "alert"))
		return tern_error_set(
			err, EACCES,
			"ternd at %s refused our client certificate %s (%s): "
			"it must be signed by the CA of ternd's --tls-ca, "
			"not expired nor revoked, and allowed by its "
			"--tls-allow-dn",
			uri, cert, ssl_reason(why, sizeof(why)));
	return tern_error_set(err, EPROTO,
			      "TLS handshake with %s failed: %s (is it "
			      "ternd's --listen port?)",
			      uri, ssl_reason(why, sizeof(why)));
}

/* A read or write that failed after the handshake: in TLS 1.3 a refused
 * client certificate shows here, as an alert or as the connection closed
 * without an answer. */
static int transfer_failed(SSL *ssl, int ret, const char *uri, const char *cert,
			   struct tern_error *err)
{
	int code = SSL_get_error(ssl, ret);
	unsigned long e = ERR_peek_error();
	char why[256];

	if (code == SSL_ERROR_SSL && e &&
	    strstr(ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "",
		   "alert"))
		return tern_error_set(
			err, EACCES,
			"ternd at %s refused our client certificate %s (%s): "
			"it must be signed by the CA of ternd's --tls-ca, "
			"not expired nor revoked, and allowed by its "
			"--tls-allow-dn",
			uri, cert, ssl_reason(why, sizeof(why)));
	if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE ||
	    (code == SSL_ERROR_SYSCALL && errno == EAGAIN))
		return tern_error_set(err, ETIMEDOUT, "ternd at %s: timed out",
				      uri);
	/* An end of file, or a reset, where the answer should be. */
	if (code == SSL_ERROR_ZERO_RETURN || (code == SSL_ERROR_SYSCALL && !e))
		return tern_error_set(
			err, ECONNRESET,
			"ternd at %s closed the connection without an "
			"answer (did it refuse our client certificate %s? "
			"its log says why)",
			uri, cert);
	return tern_error_set(err, EIO, "ternd at %s: %s", uri,
			      code == SSL_ERROR_SYSCALL
				      ? strerror(errno)
				      : ssl_reason(why, sizeof(why)));
}

static int write_all(SSL *ssl, const char *data, size_t len, const char *uri,
		     const char *cert, struct tern_error *err)
{
	while (len) {
		int n = SSL_write(ssl, data,
				  len > INT_MAX ? INT_MAX : (int)len);

		if (n <= 0)
			return transfer_failed(ssl, n, uri, cert, err);
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_reply(SSL *ssl, char *buf, size_t size, size_t *len,
		      const char *uri, const char *cert, struct tern_error *err)
{
	*len = 0;
	buf[0] = '\0';
	for (;;) {
		int n;

		if (*len + 1 >= size)
			return tern_error_set(err, EMSGSIZE,
					      "ternd's reply is over %zu bytes",
					      size - 1);
		n = SSL_read(ssl, buf + *len, (int)(size - 1 - *len));
		if (n <= 0) {
			/* Connection: close; a server that does not send
			 * close_notify ends the same way. */
			if (*len &&
			    (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN ||
			     SSL_get_error(ssl, n) == SSL_ERROR_SYSCALL)) {
				ERR_clear_error();
				break;
			}
			return transfer_failed(ssl, n, uri, cert, err);
		}
		*len += (size_t)n;
		buf[*len] = '\0';
		if (api_client_reply_complete(buf, *len))
			break;
	}
	return 0;
}

static int is_ip_literal(const char *host)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, host, addr) == 1 ||
		inet_pton(AF_INET6, host, addr) == 1;
}

int ternctl_tls_request(const char *uri, const struct ternctl_tls_files *files,
			const char *method, const char *path, const char *body,
			int timeout_s, struct api_reply *reply,
			struct tern_error *err)
{
	char dir[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
	char host[256], head[512], *buf = NULL, *slash;
	const char *authority = strstr(uri, "://") + 3;
	size_t body_len = body ? strlen(body) : 0, len;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	unsigned port;
	int bracketed, fd = -1, ret, n, connected;
	char hostport[300];

	memset(reply, 0, sizeof(*reply));
	/* OpenSSL writes with write(2): a ternd that refused us and closed
	 * must make a write fail, not end ternctl on SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(hostport, sizeof(hostport), "%s", authority);
	slash = strchr(hostport, '/');
	if (slash)
		*slash = '\0';
	if (host_port_split(hostport, "-c", host, sizeof(host), &port,
			    &bracketed, err))
		return -EINVAL;
	n = api_client_format_head(head, sizeof(head), method, path, body_len,
				   err);
	if (n < 0)
		return n;
	default_dir(dir, sizeof(dir));
	resolve(files->cert, "TERNCTL_TLS_CERT", dir, "client-cert.pem", cert,
		sizeof(cert));
	resolve(files->key, "TERNCTL_TLS_KEY", dir, "client-key.pem", key,
		sizeof(key));
	resolve(files->ca, "TERNCTL_TLS_CA", dir, "ca-cert.pem", ca,
		sizeof(ca));
	ctx = make_context(cert, key, ca, err);
	if (!ctx)
		return -EINVAL;
	fd = connect_tcp(host, port, uri, timeout_s, err);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1) {
		ret = tern_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	/* The name or address in -c is what the server's certificate must
	 * name; SNI only for names. */
	if (is_ip_literal(host)) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	} else {
		SSL_set1_host(ssl, host);
		SSL_set_tlsext_host_name(ssl, host);
	}
	connected = SSL_connect(ssl);
	if (connected != 1) {
		ret = handshake_failed(ssl, connected, uri, ca, cert, err);
		goto out;
	}
	ret = write_all(ssl, head, (size_t)n, uri, cert, err);
	if (!ret && body_len)
		ret = write_all(ssl, body, body_len, uri, cert, err);
	buf = malloc(API_CLIENT_MAX_REPLY + 1);
	if (!ret && !buf)
		ret = tern_error_set(err, ENOMEM, "out of memory");
	if (!ret)
		ret = read_reply(ssl, buf, API_CLIENT_MAX_REPLY + 1, &len, uri,
				 cert, err);
	if (!ret) {
		ret = api_client_parse_reply(buf, len, uri, reply, err);
		buf = NULL; /* taken */
	}
out:
	free(buf);
	if (ssl)
		SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	return ret;
}
