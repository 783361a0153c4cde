/* TLS 1.3 under a migration stream, with OpenSSL: the settings checked by
 * migration_transport.h become an SSL_CTX once (files read, key checked
 * against certificate), then each connection gets its handshake and a
 * migration_stream whose reads and writes are TLS records.
 *
 * After the handshake the server (the destination) writes one byte,
 * MIGRATION_TLS_ACCEPTED, and the client reads it before it returns: in
 * TLS 1.3 the client's handshake completes before the server has checked
 * the client's certificate, and without this byte a refused source would
 * only learn of it at its first read, after the migration had started.
 *
 * OpenSSL writes to the socket with write(2): the process must ignore
 * SIGPIPE (tern does, instance.c), so a closed peer is an error. */
#ifndef TERN_MIGRATION_MIGRATION_TLS_H
#define TERN_MIGRATION_MIGRATION_TLS_H

#include "migration/migration_stream.h"
#include "migration/migration_transport.h"

#define MIGRATION_TLS_ACCEPTED 'T'
/* The PSK's identity on the wire (the key itself never travels). */
#define MIGRATION_TLS_PSK_IDENTITY "tern-migration-psk"

struct migration_tls;

/* server: the destination's side. c holds certificates or a PSK. */
int migration_tls_new(const struct migration_transport_config *c, int server,
		      struct migration_tls **out, struct tern_error *err);
void migration_tls_free(struct migration_tls *tls);

/* Runs the handshake on the connected socket fd, which it takes over
 * (closed on failure), within MIGRATION_HANDSHAKE_TIMEOUT_S. peer_host:
 * the client's name or address of the server, which the server's
 * certificate must carry (certificates only; NULL on the server).
 * -EACCES when the peer could not be authenticated or refused us. */
int migration_tls_start(struct migration_tls *tls, int fd,
			const char *peer_host, struct migration_stream **out,
			struct tern_error *err);

#endif
