/* "HOST:PORT" as people write it for TCP: a name or an IPv4 literal, or an
 * IPv6 literal in brackets ("[::1]:16514", as in URLs, since the address's
 * own colons would hide the port's). Shared by ternd's --listen and
 * ternctl's tls://HOST:PORT. */
#ifndef TERN_UTIL_HOST_PORT_H
#define TERN_UTIL_HOST_PORT_H

#include <stddef.h>

#include "util/error.h"

/* Splits text into host (without brackets, NUL-terminated, at most
 * host_size - 1 bytes) and port (1 to 65535). what names the text in
 * messages ("--listen"). *bracketed tells whether the host was written in
 * brackets (an IPv6 literal). 0, or -EINVAL with err set. */
int host_port_split(const char *text, const char *what, char *host,
		    size_t host_size, unsigned *port, int *bracketed,
		    struct tern_error *err);

#endif
