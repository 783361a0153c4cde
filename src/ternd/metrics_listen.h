/* ternd's optional plain-HTTP metrics port (--metrics-listen), as node
 * exporters have: Prometheus scrapes over TCP, and ternd's API socket is
 * root's alone. The address is [ADDR:]PORT or [IPV6]:PORT; without ADDR it
 * is 127.0.0.1, since the port is neither authenticated nor encrypted and
 * VM names are the host's business: exposing it further is a choice one
 * makes by naming the address (0.0.0.0:9700) or through a proxy. */
#ifndef TERN_TERND_METRICS_LISTEN_H
#define TERN_TERND_METRICS_LISTEN_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#include "util/error.h"

#define METRICS_LISTEN_DEFAULT_ADDR "127.0.0.1"

/* Parses spec into addr (IPv4 or IPv6, numeric only) and writes its
 * canonical form ("127.0.0.1:9700", "[::1]:9700") to shown. 0, or
 * -EINVAL with err saying what is wrong. */
int metrics_listen_parse(const char *spec, struct sockaddr_storage *addr,
			 socklen_t *len, char *shown, size_t shown_size,
			 struct tern_error *err);
/* A listening TCP socket (SO_REUSEADDR, close-on-exec) on spec; the
 * descriptor, or a negative errno with err set. */
int metrics_listen_open(const char *spec, char *shown, size_t shown_size,
			struct tern_error *err);

#endif
