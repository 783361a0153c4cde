#include "ternd/migration_address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/host_port.h"

int migration_dest_host(const char *dest, char *host, size_t size,
			struct tern_error *err)
{
	const char *rest = NULL;
	char hostport[300];
	unsigned port;
	int bracketed;
	size_t len;

	if (!strncmp(dest, "tls://", 6))
		rest = dest + 6;
	else if (!strncmp(dest, "https://", 8))
		rest = dest + 8;
	if (!rest)
		return tern_error_set(err, EINVAL,
				      "the destination %.200s is a Unix "
				      "socket: --listen-address ADDR must say "
				      "where the destination host listens for "
				      "the migration (its address that the "
				      "source host reaches)",
				      dest);
	len = strcspn(rest, "/");
	if (len >= sizeof(hostport))
		return tern_error_set(err, EINVAL,
				      "the destination %.100s... is too long",
				      dest);
	memcpy(hostport, rest, len);
	hostport[len] = '\0';
	return host_port_split(hostport, "the destination", host, size, &port,
			       &bracketed, err);
}

int migration_host_check(const char *host, const char *what,
			 struct tern_error *err)
{
	unsigned char addr[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1)
		return 0;
	return tern_error_set(err, EINVAL,
			      "%s '%.100s' is not an IPv4 or IPv6 address "
			      "(a name could mean another host to each "
			      "side)",
			      what, host);
}

int migration_tcp_address(const char *host, unsigned port, char *buf,
			  size_t size, struct tern_error *err)
{
	int v6 = strchr(host, ':') != NULL;
	int n;

	if (port < 1 || port > 65535)
		return tern_error_set(err, EINVAL, "port %u is not 1 to 65535",
				      port);
	n = snprintf(buf, size, v6 ? "tcp:[%s]:%u" : "tcp:%s:%u", host, port);
	if (n < 0 || (size_t)n >= size)
		return tern_error_set(err, EINVAL,
				      "the migration address for '%.100s' is "
				      "too long",
				      host);
	return 0;
}

int migration_psk_check(const char *psk, struct tern_error *err)
{
	size_t len = strlen(psk);

	if (len != MIGRATION_PSK_HEX - 1 ||
	    strspn(psk, "0123456789abcdefABCDEF") != len)
		return tern_error_set(err, EINVAL,
				      "psk: expected %d hex digits (%d random "
				      "bytes)",
				      MIGRATION_PSK_HEX - 1,
				      MIGRATION_PSK_BYTES);
	return 0;
}

void migration_psk_format(const unsigned char bytes[MIGRATION_PSK_BYTES],
			  char out[MIGRATION_PSK_HEX])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < MIGRATION_PSK_BYTES; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[MIGRATION_PSK_HEX - 1] = '\0';
}
