/* The host side of tern's virtio-vsock: Unix stream sockets, as in
 * Firecracker's design (docs/vsock.md there). tern listens on PATH; a host
 * client connects, writes "CONNECT <port>\n" and, once the guest accepted,
 * reads "OK <host port>\n" and then talks to the guest's port. A guest
 * connection to the host (CID 2) port P is connected to the Unix socket
 * "PATH_P". All sockets are non-blocking and close-on-exec. */
#ifndef TERN_VIRTIO_VSOCK_VSOCK_UNIX_H
#define TERN_VIRTIO_VSOCK_VSOCK_UNIX_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Longest "CONNECT <port>\n" line accepted, newline included. */
#define VSOCK_CONNECT_LINE_MAX 32
/* Longest PATH: "PATH_4294967295" must fit a sockaddr_un. */
#define VSOCK_UNIX_PATH_MAX (108 - 1 - 11)

/* Binds and listens on path. A stale socket file there (left by an
 * earlier tern) is replaced; a socket something listens on, or any other
 * file, is an error. Returns the fd or a negative errno with err set. */
int vsock_unix_listen(const char *path, struct tern_error *err);

/* Connects to "<path>_<port>" without blocking. Returns the fd or a
 * negative errno (-ECONNREFUSED, -ENOENT: nobody listens; -EAGAIN: its
 * backlog is full). */
int vsock_unix_connect_port(const char *path, uint32_t port);

/* Reads the CONNECT line from a host client without taking bytes after
 * it. Returns 1 with *port set, 0 when the line is not complete yet, or a
 * negative errno: -EPROTO for a malformed line, -ECONNRESET for a client
 * that closed first, or the socket's error. */
int vsock_unix_read_connect_line(int fd, uint32_t *port);

/* Parses "CONNECT <port>\n" (len bytes, newline included). 0 or -EPROTO. */
int vsock_unix_parse_connect_line(const char *line, size_t len, uint32_t *port);

#endif
