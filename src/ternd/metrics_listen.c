#include "ternd/metrics_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USAGE "expected PORT, ADDR:PORT or [IPV6]:PORT"

static int parse_port(const char *text, unsigned *port)
{
	char *end;
	unsigned long n;

	if (!*text || *text < '0' || *text > '9')
		return -1;
	errno = 0;
	n = strtoul(text, &end, 10);
	if (errno || *end || n == 0 || n > 65535)
		return -1;
	*port = (unsigned)n;
	return 0;
}

int metrics_listen_parse(const char *spec, struct sockaddr_storage *addr,
			 socklen_t *len, char *shown, size_t shown_size,
			 struct tern_error *err)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_text, *colon;
	unsigned port;
	size_t hlen;

	memset(addr, 0, sizeof(*addr));
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (!close || close[1] != ':')
			return tern_error_set(
				err, EINVAL, "--metrics-listen '%.80s': " USAGE,
				spec);
		hlen = (size_t)(close - spec - 1);
		if (hlen >= sizeof(host))
			return tern_error_set(err, EINVAL,
					      "--metrics-listen '%.80s': not "
					      "an IPv6 address",
					      spec);
		memcpy(host, spec + 1, hlen);
		host[hlen] = '\0';
		port_text = close + 2;
	} else if ((colon = strrchr(spec, ':'))) {
		hlen = (size_t)(colon - spec);
		if (hlen >= sizeof(host) || memchr(spec, ':', hlen))
			return tern_error_set(
				err, EINVAL,
				"--metrics-listen '%.80s': " USAGE
				" (an IPv6 address goes in brackets)",
				spec);
		memcpy(host, spec, hlen);
		host[hlen] = '\0';
		port_text = colon + 1;
	} else {
		snprintf(host, sizeof(host), "%s", METRICS_LISTEN_DEFAULT_ADDR);
		port_text = spec;
	}
	if (parse_port(port_text, &port))
		return tern_error_set(err, EINVAL,
				      "--metrics-listen '%.80s': the port is "
				      "1 to 65535",
				      spec);
	if (spec[0] == '[') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return tern_error_set(err, EINVAL,
					      "--metrics-listen '%.80s': not "
					      "an IPv6 address",
					      spec);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		snprintf(shown, shown_size, "[%s]:%u", host, port);
	} else {
		struct sockaddr_in *in4 = (struct sockaddr_in *)addr;

		if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
			return tern_error_set(err, EINVAL,
					      "--metrics-listen '%.80s': not "
					      "an IPv4 address (names are "
					      "not resolved)",
					      spec);
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len = sizeof(*in4);
		snprintf(shown, shown_size, "%s:%u", host, port);
	}
	return 0;
}

int metrics_listen_open(const char *spec, char *shown, size_t shown_size,
			struct tern_error *err)
{
	struct sockaddr_storage addr;
	socklen_t len;
	int fd, one = 1, ret;

	ret = metrics_listen_parse(spec, &addr, &len, shown, shown_size, err);
	if (ret)
		return ret;
	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return tern_error_set(err, errno,
				      "--metrics-listen: socket: %s",
				      strerror(errno));
	if (addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, len) < 0 || listen(fd, 16) < 0) {
		ret = tern_error_set(err, errno, "--metrics-listen %s: %s",
				     shown, strerror(errno));
		close(fd);
		return ret;
	}
	return fd;
}
