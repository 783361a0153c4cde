#include "util/host_port.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int bad(struct tern_error *err, const char *what, const char *text,
	       const char *why)
{
	return tern_error_set(err, EINVAL,
			      "%s '%.100s': %s (expected HOST:PORT, or "
			      "[IPV6]:PORT)",
			      what, text, why);
}

int host_port_split(const char *text, const char *what, char *host,
		    size_t host_size, unsigned *port, int *bracketed,
		    struct tern_error *err)
{
	const char *host_start = text, *host_end, *port_text;
	unsigned long value;
	char *end;

	*bracketed = text[0] == '[';
	if (*bracketed) {
		host_start = text + 1;
		host_end = strchr(host_start, ']');
		if (!host_end)
			return bad(err, what, text, "no ']' after the address");
		if (host_end[1] != ':')
			return bad(err, what, text, "no ':PORT' after the ']'");
		port_text = host_end + 2;
	} else {
		host_end = strrchr(text, ':');
		if (!host_end)
			return bad(err, what, text, "no port");
		if (memchr(text, ':', (size_t)(host_end - text)))
			return bad(err, what, text,
				   "an IPv6 address goes in brackets");
		port_text = host_end + 1;
	}
	if (host_end == host_start)
		return bad(err, what, text, "no host");
	if ((size_t)(host_end - host_start) >= host_size)
		return bad(err, what, text, "the host is too long");
	if (!port_text[0] || port_text[0] < '0' || port_text[0] > '9')
		return bad(err, what, text, "no port");
	errno = 0;
	value = strtoul(port_text, &end, 10);
	if (errno || *end || value < 1 || value > 65535)
		return bad(err, what, text, "the port is not 1 to 65535");
	memcpy(host, host_start, (size_t)(host_end - host_start));
	host[host_end - host_start] = '\0';
	*port = (unsigned)value;
	return 0;
}
