/* ternd's API over TCP for other hosts (libvirt's qemu+tls://): HTTPS
 * through libmicrohttpd and GnuTLS, only with a client certificate that
 * the CA of --tls-ca signed. The client's certificate is checked during
 * the handshake (gnutls_session_set_verify_function on each session, with
 * a certificate required): a client without one, with one another CA
 * signed, expired, revoked (--tls-crl) or whose DN no --tls-allow-dn
 * pattern matches never completes the handshake, so it gets no HTTP
 * answer at all. Each request checks again (tls_listener_client()).
 * There is never a plain TCP listener. */
#ifndef TERN_TERND_TLS_LISTENER_H
#define TERN_TERND_TLS_LISTENER_H

#include <microhttpd.h>
#include <stddef.h>

#include "util/error.h"

#define TLS_LISTENER_MAX_ALLOW_DN 32

struct tls_listener_options {
	const char *listen; /* ADDR:PORT, [V6ADDR]:PORT; NULL: no listener */
	const char *cert, *key, *ca, *crl; /* PEM files; crl optional */
	/* fnmatch(3) patterns on the client certificate's DN (RFC 4514,
	 * "CN=admin,O=Example"); none: any certificate the CA signed. */
	const char *allow_dn[TLS_LISTENER_MAX_ALLOW_DN];
	size_t allow_dn_count;
};

/* The combination of options (--listen needs the three files, the files
 * need --listen) and --listen's address: 0, or -EINVAL with err set (a
 * usage error). */
int tls_listener_check_usage(const struct tls_listener_options *o,
			     struct tern_error *err);

struct tls_listener;

/* Reads the files, binds the address and starts an external-epoll MHD
 * daemon calling handler and completed with cls. NULL with err set on
 * failure (an unreadable file, a key that is not the certificate's, an
 * address in use). */
struct tls_listener *tls_listener_open(const struct tls_listener_options *o,
				       MHD_AccessHandlerCallback handler,
				       MHD_RequestCompletedCallback completed,
				       void *cls, struct tern_error *err);
struct MHD_Daemon *tls_listener_daemon(const struct tls_listener *l);
/* Stops the daemon. NULL is allowed. */
void tls_listener_close(struct tls_listener *l);

/* For any connection of ternd's daemons: 0 for one that is not l's (the
 * Unix socket's; l may be NULL), 1 for a TLS client of l whose
 * certificate was verified (its DN and address written into dn and
 * address), -1 for one of l's without a verified certificate, which must
 * get no answer. */
int tls_listener_client(const struct tls_listener *l,
			struct MHD_Connection *conn, char *dn, size_t dn_size,
			char *address, size_t address_size);

#endif
