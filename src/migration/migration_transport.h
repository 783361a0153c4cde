/* How a live migration's connection is made and secured. Both ends are
 * authenticated and the stream is encrypted with TLS 1.3 (OpenSSL,
 * migration_tls.c), by one of:
 *   certificates  a CA file, this tern's certificate and its key: each end
 *                 checks that the other's certificate comes from the CA,
 *                 and the source also that it names the destination's
 *                 host as written in tcp:HOST:PORT;
 *   a pre-shared key  a file with at least 32 random bytes as hex, the
 *                 same on both ends (TLS 1.3 external PSK with an
 *                 ephemeral (EC)DHE exchange, so past streams stay secret
 *                 even if the key leaks later).
 * Plain TCP (nothing encrypted, nobody authenticated) only when asked for
 * by name: insecure_plain_tcp. A configuration with none of these is
 * refused, so a forgotten option never downgrades silently.
 *
 * The spellings: `tern run --migration-tls ca=FILE,cert=FILE,key=FILE` or
 * `--migration-tls psk=FILE`, `--insecure-plain-tcp`; the same on
 * `tern migrate`; in PUT /migration, "tls": {"ca_file", "cert_file",
 * "key_file"} or {"psk_file"}, "insecure_plain_tcp": true. */
#ifndef TERN_MIGRATION_MIGRATION_TRANSPORT_H
#define TERN_MIGRATION_MIGRATION_TRANSPORT_H

#include "migration/migration_stream.h"
#include "util/error.h"

/* How long one end waits for the other to complete the TLS handshake. */
#define MIGRATION_HANDSHAKE_TIMEOUT_S 10
/* At least this much key material in a PSK file (256 bits). */
#define MIGRATION_PSK_MIN_BYTES 32
#define MIGRATION_PSK_MAX_BYTES 256

/* Owns its strings (NULL: not given). */
struct migration_transport_config {
	char *ca_file;
	char *cert_file;
	char *key_file;
	char *psk_file;
	int insecure_plain_tcp;
};

void migration_transport_config_free(struct migration_transport_config *c);
int migration_transport_config_copy(
	struct migration_transport_config *dst,
	const struct migration_transport_config *src, struct tern_error *err);
/* Whether any transport was chosen (TLS material or plain TCP). */
int migration_transport_given(const struct migration_transport_config *c);

/* `option` is "ca=FILE,cert=FILE,key=FILE" or "psk=FILE" (keys in any
 * order); replaces what c held for TLS. option_name names it in errors. */
int migration_transport_parse_tls(const char *option_name, const char *text,
				  struct migration_transport_config *c,
				  struct tern_error *err);

/* The combination is complete and unambiguous: certificates (all three
 * files) or a PSK, or plain TCP, exactly one. tls_name and plain_name
 * name the settings the way the caller's spelling does. Checks nothing
 * on disk (migration_tls_new() does, when the transport is set up). */
int migration_transport_check(const struct migration_transport_config *c,
			      const char *tls_name, const char *plain_name,
			      struct tern_error *err);

/* Source: connects to "tcp:HOST:PORT" and, unless plain, runs the TLS
 * handshake: on return the destination is authenticated (and accepted
 * this tern). */
int migration_transport_connect(const char *address,
				const struct migration_transport_config *c,
				struct migration_stream **out,
				struct tern_error *err);

/* Destination. */
struct migration_listener;
/* Loads the TLS material first (a bad file is an error before anything
 * listens), then listens on "tcp:ADDR:PORT". */
int migration_listener_open(const char *address,
			    const struct migration_transport_config *c,
			    struct migration_listener **out,
			    struct tern_error *err);
int migration_listener_fd(const struct migration_listener *l);
/* Accepts one connection and authenticates it. -EACCES: the peer failed
 * the TLS handshake (no or a wrong certificate or key): nothing was read
 * from it, and the caller may wait for another. */
int migration_listener_accept(struct migration_listener *l,
			      struct migration_stream **out,
			      struct tern_error *err);
/* NULL is fine. */
void migration_listener_close(struct migration_listener *l);

#endif
