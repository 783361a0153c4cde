/* The words of a ternd-to-ternd migration that ternctl and ternd share:
 * where the destination listens, the tcp: address the source connects to,
 * and the one-time pre-shared key (docs/ternd.md, "Migration"). Pure
 * functions, unit-tested (tests/unit/test_migration_address.c). */
#ifndef TERN_TERND_MIGRATION_ADDRESS_H
#define TERN_TERND_MIGRATION_ADDRESS_H

#include <stddef.h>

#include "util/error.h"

/* 32 random bytes as 64 hex digits, and the NUL. */
#define MIGRATION_PSK_BYTES 32
#define MIGRATION_PSK_HEX (2 * MIGRATION_PSK_BYTES + 1)

/* The host of a destination written as -c takes it, tls://HOST:PORT or
 * https://HOST:PORT (an IPv6 literal in brackets, given back without
 * them): the default address the destination listens on for the
 * migration stream. -EINVAL for a Unix socket path (err says to give
 * --listen-address) or a URI without HOST:PORT. */
int migration_dest_host(const char *dest, char *host, size_t size,
			struct tern_error *err);

/* 0 when host is an IPv4 or IPv6 literal (a name would resolve
 * differently on each side), else -EINVAL naming what. */
int migration_host_check(const char *host, const char *what,
			 struct tern_error *err);

/* "tcp:HOST:PORT", an IPv6 host in brackets. -EINVAL if it does not fit
 * or port is not 1 to 65535. */
int migration_tcp_address(const char *host, unsigned port, char *buf,
			  size_t size, struct tern_error *err);

/* 0 when psk is exactly MIGRATION_PSK_HEX - 1 hex digits. */
int migration_psk_check(const char *psk, struct tern_error *err);

/* bytes as lowercase hex, NUL-terminated (out holds MIGRATION_PSK_HEX). */
void migration_psk_format(const unsigned char bytes[MIGRATION_PSK_BYTES],
			  char out[MIGRATION_PSK_HEX]);

#endif
