#include "ternd/tls_listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ternd/ternd_server.h"
#include "util/host_port.h"
#include "util/log.h"

/* Certificates, keys and CRLs are a few kilobytes; a CA bundle or a CRL
 * of a large CA somewhat more. */
#define MAX_PEM_FILE (1024 * 1024)
/* A client's chain: its certificate and intermediates. */
#define MAX_CHAIN 16
/* One address cannot take all of the listener's connections (a client
 * that connects and says nothing holds one for the connection timeout);
 * the Unix socket has connections of its own. */
#define TLS_LISTENER_PER_CLIENT_CONNECTIONS 16
/* TLS 1.2 and 1.3 only. */
#define PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct tls_listener {
	struct MHD_Daemon *daemon;
	/* The CA and the CRL: what a client's certificate is checked
	 * against (libmicrohttpd's own copy of the CA only names it in the
	 * certificate request). */
	gnutls_x509_trust_list_t trust;
	char *cert, *key, *ca; /* PEM, kept for libmicrohttpd's life */
	const char *allow_dn[TLS_LISTENER_MAX_ALLOW_DN];
	size_t allow_dn_count;
	char address[80];
};

/* One per TLS connection, its MHD socket context. */
struct tls_client {
	struct tls_listener *listener;
	int verified;
	int refused; /* logged already */
	char address[64];
	char dn[256];
};

static int parse_address(const char *text, struct sockaddr_storage *addr,
			 socklen_t *len, struct tern_error *err)
{
	char host[64];
	unsigned port;
	int bracketed;

	if (host_port_split(text, "--listen", host, sizeof(host), &port,
			    &bracketed, err))
		return -EINVAL;
	memset(addr, 0, sizeof(*addr));
	if (bracketed) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1)
			return 0;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)addr;

		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		if (inet_pton(AF_INET, host, &a4->sin_addr) == 1)
			return 0;
	}
	return tern_error_set(err, EINVAL,
			      "--listen '%.100s': '%s' is not an IP%s address "
			      "(ternd listens on an address, not a name: "
			      "0.0.0.0 or [::] for all)",
			      text, host, bracketed ? "v6" : "v4");
}

int tls_listener_check_usage(const struct tls_listener_options *o,
			     struct tern_error *err)
{
	struct sockaddr_storage addr;
	socklen_t len;

	if (!o->listen) {
		if (o->cert || o->key || o->ca || o->crl || o->allow_dn_count)
			return tern_error_set(
				err, EINVAL,
				"--tls-cert, --tls-key, --tls-ca, "
				"--tls-crl and --tls-allow-dn "
				"belong to --listen");
		return 0;
	}
	if (!o->cert || !o->key || !o->ca)
		return tern_error_set(err, EINVAL,
				      "--listen needs --tls-cert, --tls-key "
				      "and --tls-ca (ternd never serves "
				      "plain TCP; the CA is the one that "
				      "signs client certificates)");
	return parse_address(o->listen, &addr, &len, err);
}

static char *read_pem(const char *path, const char *what,
		      struct tern_error *err)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		tern_error_set(err, errno, "%s %s: %s", what, path,
			       strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > MAX_PEM_FILE) {
		tern_error_set(err, EINVAL,
			       "%s %s: not a regular file of at most %d "
			       "bytes",
			       what, path, MAX_PEM_FILE);
		close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
	close(fd);
	if (n < 0) {
		tern_error_set(err, errno ? errno : ENOMEM, "%s %s: %s", what,
			       path, buf ? strerror(errno) : "out of memory");
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (!strstr(buf, "-----BEGIN ")) {
		tern_error_set(err, EINVAL, "%s %s: not a PEM file", what,
			       path);
		free(buf);
		return NULL;
	}
	return buf;
}

static gnutls_datum_t datum(const char *text)
{
	return (gnutls_datum_t){.data = (unsigned char *)text,
				.size = (unsigned)strlen(text)};
}

/* libmicrohttpd's messages on a bad certificate or key are vague: check
 * them here first, with the options' names. */
static int check_key_pair(const struct tls_listener_options *o,
			  const char *cert, const char *key,
			  struct tern_error *err)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t c = datum(cert), k = datum(key);
	int ret;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return tern_error_set(err, ENOMEM, "out of memory");
	ret = gnutls_certificate_set_x509_key_mem(cred, &c, &k,
						  GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(cred);
	if (ret < 0)
		return tern_error_set(err, EINVAL,
				      "--tls-cert %s and --tls-key %s: %s",
				      o->cert, o->key, gnutls_strerror(ret));
	return 0;
}

static int load_trust(struct tls_listener *l,
		      const struct tls_listener_options *o,
		      struct tern_error *err)
{
	gnutls_datum_t ca = datum(l->ca), crl_datum;
	char *crl = NULL;
	int ret;

	if (o->crl) {
		crl = read_pem(o->crl, "--tls-crl", err);
		if (!crl)
			return -EINVAL;
		crl_datum = datum(crl);
	}
	if (gnutls_x509_trust_list_init(&l->trust, 0) < 0) {
		free(crl);
		return tern_error_set(err, ENOMEM, "out of memory");
	}
	ret = gnutls_x509_trust_list_add_trust_mem(l->trust, &ca, NULL,
						   GNUTLS_X509_FMT_PEM, 0, 0);
	if (ret <= 0) {
		free(crl);
		return tern_error_set(err, EINVAL, "--tls-ca %s: %s", o->ca,
				      ret < 0 ? gnutls_strerror(ret)
					      : "no certificate in it");
	}
	if (crl) {
		/* Only CRLs that a trusted CA signed are taken. */
		ret = gnutls_x509_trust_list_add_trust_mem(
			l->trust, NULL, &crl_datum, GNUTLS_X509_FMT_PEM,
			GNUTLS_TL_VERIFY_CRL | GNUTLS_TL_FAIL_ON_INVALID_CRL,
			0);
		free(crl);
		if (ret < 0)
			return tern_error_set(err, EINVAL,
					      "--tls-crl %s: %s (is it "
					      "signed by the CA of "
					      "--tls-ca?)",
					      o->crl, gnutls_strerror(ret));
	}
	return 0;
}

static void format_address(const struct sockaddr *sa, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const void *)sa;

		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		snprintf(out, size, "%s:%u", host, ntohs(a4->sin_port));
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const void *)sa;

		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		snprintf(out, size, "[%s]:%u", host, ntohs(a6->sin6_port));
	} else {
		snprintf(out, size, "?");
	}
}

static int bind_listener(const char *text, struct tern_error *err)
{
	struct sockaddr_storage addr;
	socklen_t len;
	int fd, one = 1, saved;

	if (parse_address(text, &addr, &len, err))
		return -EINVAL;
	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0)
		return tern_error_set(err, errno, "--listen %s: socket: %s",
				      text, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* [::] means IPv6 only: IPv4 clients come through an IPv4
	 * address, never as mapped ones. */
	if (addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, len) < 0 ||
	    listen(fd, TERND_MAX_CONNECTIONS) < 0) {
		saved = errno;
		close(fd);
		return tern_error_set(err, saved, "--listen %s: %s", text,
				      strerror(saved));
	}
	return fd;
}

static struct tls_client *client_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info ? info->socket_context : NULL;
}

static int refuse(struct tls_client *c, const char *why)
{
	char text[300];
	size_t len;

	/* GnuTLS's sentences end with a space. */
	snprintf(text, sizeof(text), "%s", why);
	len = strlen(text);
	while (len && text[len - 1] == ' ')
		text[--len] = '\0';
	log_warn("refused the TLS client %s%s%s: %s", c->address,
		 c->dn[0] ? " " : "", c->dn, text);
	c->refused = 1;
	return -1;
}

static int dn_allowed(const struct tls_listener *l, const char *dn)
{
	if (!l->allow_dn_count)
		return 1;
	for (size_t i = 0; i < l->allow_dn_count; i++)
		if (!fnmatch(l->allow_dn[i], dn, 0))
			return 1;
	return 0;
}

/* GnuTLS calls this in the handshake once the client's certificate has
 * arrived; non-zero ends the handshake. */
static int verify_client(gnutls_session_t session)
{
	struct MHD_Connection *conn = gnutls_session_get_ptr(session);
	struct tls_client *c = conn ? client_of(conn) : NULL;
	gnutls_x509_crt_t chain[MAX_CHAIN];
	const gnutls_datum_t *peers;
	gnutls_typed_vdata_st purpose = {
		.type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
	};
	gnutls_datum_t text = {0};
	unsigned count = 0, status = 0, imported = 0;
	int ret = -1;

	if (!c)
		return -1;
	peers = gnutls_certificate_get_peers(session, &count);
	if (gnutls_certificate_type_get(session) != GNUTLS_CRT_X509 || !peers ||
	    !count)
		return refuse(c, "no client certificate");
	if (count > MAX_CHAIN)
		return refuse(c, "a certificate chain over 16 certificates");
	for (; imported < count; imported++) {
		if (gnutls_x509_crt_init(&chain[imported]) < 0)
			break;
		if (gnutls_x509_crt_import(chain[imported], &peers[imported],
					   GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(chain[imported]);
			break;
		}
	}
	if (imported < count) {
		refuse(c, "a certificate that does not parse");
		goto out;
	}
	if (gnutls_x509_crt_get_dn3(chain[0], &text, 0) >= 0) {
		log_printable_copy(c->dn, sizeof(c->dn), (char *)text.data);
		gnutls_free(text.data);
		text.data = NULL;
	}
	if (gnutls_x509_trust_list_verify_crt2(c->listener->trust, chain, count,
					       &purpose, 1, 0, &status,
					       NULL) < 0) {
		refuse(c, "its certificate could not be verified");
		goto out;
	}
	if (status) {
		char why[300] = "not verified";

		if (gnutls_certificate_verification_status_print(
			    status, GNUTLS_CRT_X509, &text, 0) >= 0) {
			snprintf(why, sizeof(why), "%s", (char *)text.data);
			gnutls_free(text.data);
		}
		refuse(c, why);
		goto out;
	}
	if (!dn_allowed(c->listener, c->dn)) {
		refuse(c, "its DN matches no --tls-allow-dn");
		goto out;
	}
	c->verified = 1;
	ret = 0;
out:
	for (unsigned i = 0; i < imported; i++)
		gnutls_x509_crt_deinit(chain[i]);
	if (ret)
		gnutls_alert_send(session, GNUTLS_AL_FATAL,
				  GNUTLS_A_BAD_CERTIFICATE);
	return ret;
}

/* Before the first byte of a connection: its GnuTLS session requires a
 * client certificate and checks it in the handshake. */
static void notify_connection(void *cls, struct MHD_Connection *conn,
			      void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	struct tls_listener *l = cls;
	struct tls_client *c = *socket_context;
	const union MHD_ConnectionInfo *info;
	gnutls_session_t session;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (c && !c->verified && !c->refused)
			log_info("TLS connection from %s closed without a "
				 "client certificate (none sent, or not TLS)",
				 c->address);
		free(c);
		*socket_context = NULL;
		return;
	}
	info = MHD_get_connection_info(conn,
				       MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!info)
		return; /* no session: tls_listener_client() refuses it */
	session = info->tls_session;
	gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_verify_function(session, verify_client);
	c = calloc(1, sizeof(*c));
	if (!c)
		return; /* no context: verify_client() refuses the handshake */
	c->listener = l;
	info = MHD_get_connection_info(conn,
				       MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	format_address(info ? info->client_addr : NULL, c->address,
		       sizeof(c->address));
	*socket_context = c;
}

int tls_listener_client(const struct tls_listener *l,
			struct MHD_Connection *conn, char *dn, size_t dn_size,
			char *address, size_t address_size)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
	struct tls_client *c;
	unsigned status = 1;

	if (!l || !info || info->daemon != l->daemon)
		return 0; /* the Unix socket's */
	info = MHD_get_connection_info(conn,
				       MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!info)
		return -1;
	c = client_of(conn);
	/* A resumed session's handshake carried no certificate: check the
	 * one it was first made with, as a full handshake would have. */
	if (c && !c->verified && !c->refused &&
	    gnutls_session_is_resumed((gnutls_session_t)info->tls_session))
		verify_client((gnutls_session_t)info->tls_session);
	/* The handshake checked it; a second look costs nothing and keeps
	 * a request from ever being served on a session that skipped it. */
	if (!c || !c->verified ||
	    gnutls_certificate_verify_peers2(
		    (gnutls_session_t)info->tls_session, &status) < 0 ||
	    status)
		return -1;
	snprintf(dn, dn_size, "%s", c->dn);
	snprintf(address, address_size, "%s", c->address);
	return 1;
}

struct tls_listener *tls_listener_open(const struct tls_listener_options *o,
				       MHD_AccessHandlerCallback handler,
				       MHD_RequestCompletedCallback completed,
				       void *cls, struct tern_error *err)
{
	struct tls_listener *l = calloc(1, sizeof(*l));
	int fd = -1;

	if (!l) {
		tern_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		tern_error_set(err, ENOTSUP,
			       "this libmicrohttpd was built without TLS");
		goto fail;
	}
	l->cert = read_pem(o->cert, "--tls-cert", err);
	l->key = l->cert ? read_pem(o->key, "--tls-key", err) : NULL;
	l->ca = l->key ? read_pem(o->ca, "--tls-ca", err) : NULL;
	if (!l->ca || check_key_pair(o, l->cert, l->key, err) ||
	    load_trust(l, o, err))
		goto fail;
	memcpy(l->allow_dn, o->allow_dn, sizeof(l->allow_dn));
	l->allow_dn_count = o->allow_dn_count;
	fd = bind_listener(o->listen, err);
	if (fd < 0)
		goto fail;
	snprintf(l->address, sizeof(l->address), "%s", o->listen);
	l->daemon = MHD_start_daemon(
		MHD_USE_TLS | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL,
		NULL, handler, cls, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_HTTPS_MEM_CERT, l->cert, MHD_OPTION_HTTPS_MEM_KEY,
		l->key, MHD_OPTION_HTTPS_MEM_TRUST, l->ca,
		MHD_OPTION_HTTPS_PRIORITIES, PRIORITIES,
		MHD_OPTION_NOTIFY_CONNECTION, notify_connection, l,
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)TERND_CONNECTION_TIMEOUT_S,
		MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)TERND_MAX_CONNECTIONS,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)TLS_LISTENER_PER_CLIENT_CONNECTIONS,
		MHD_OPTION_NOTIFY_COMPLETED, completed, cls, MHD_OPTION_END);
	if (!l->daemon) {
		tern_error_set(err, EIO,
			       "cannot start the HTTPS server on %s (the "
			       "certificate, key or CA was refused by "
			       "libmicrohttpd)",
			       o->listen);
		goto fail;
	}
	log_info("listening on %s (TLS, client certificates signed by %s%s)",
		 o->listen, o->ca,
		 o->allow_dn_count ? ", DNs as --tls-allow-dn" : "");
	return l;
fail:
	if (fd >= 0)
		close(fd);
	tls_listener_close(l);
	return NULL;
}

struct MHD_Daemon *tls_listener_daemon(const struct tls_listener *l)
{
	return l->daemon;
}

void tls_listener_close(struct tls_listener *l)
{
	if (!l)
		return;
	if (l->daemon)
		MHD_stop_daemon(l->daemon);
	if (l->trust)
		gnutls_x509_trust_list_deinit(l->trust, 1);
	free(l->cert);
	if (l->key) {
		/* The private key leaves no copy in freed memory. */
		explicit_bzero(l->key, strlen(l->key));
		free(l->key);
	}
	free(l->ca);
	free(l);
}
