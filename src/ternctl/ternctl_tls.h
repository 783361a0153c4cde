/* ternctl's requests to a remote ternd: HTTPS with a client certificate
 * (ternd --listen), with OpenSSL, which tern already links for migration
 * over TLS. The server's certificate must chain to the CA and carry the
 * host name or address that -c names (subjectAltName). */
#ifndef TERN_TERNCTL_TERNCTL_TLS_H
#define TERN_TERNCTL_TERNCTL_TLS_H

#include "cli/api_client.h"
#include "util/error.h"

/* "tls://" and "https://" name a remote ternd in -c. */
int ternctl_tls_is_uri(const char *connect);

/* The files; NULL: $TERNCTL_TLS_CERT, $TERNCTL_TLS_KEY, $TERNCTL_TLS_CA,
 * else client-cert.pem, client-key.pem and ca-cert.pem in ~/.pki/ternctl/
 * when it has a client-cert.pem, else in /etc/pki/ternctl/. */
struct ternctl_tls_files {
	const char *cert, *key, *ca;
};

/* As api_client_request(), to the ternd that uri (tls://HOST:PORT, the
 * path ignored) names. */
int ternctl_tls_request(const char *uri, const struct ternctl_tls_files *files,
			const char *method, const char *path, const char *body,
			int timeout_s, struct api_reply *reply,
			struct tern_error *err);

#endif
