/* ternd's HTTP server on its Unix socket, and over TLS with --listen
 * (tls_listener.h) (libmicrohttpd, no thread of its
 * own): ternd's main loop polls ternd_server_fd() with the VMs' pidfds and
 * calls ternd_server_run() when it is readable or the timeout passes, so
 * every request runs on that one thread, between exits being recorded,
 * and nothing in ternd needs a lock. */
#ifndef TERN_TERND_TERND_SERVER_H
#define TERN_TERND_TERND_SERVER_H

#include "ternd/tls_listener.h"
#include "ternd/vm_manager.h"
#include "util/error.h"

#define TERND_CONNECTION_TIMEOUT_S 30
#define TERND_MAX_CONNECTIONS 64

struct ternd_server;

/* Listens on path (0600; a stale socket replaced, a live one refused). */
struct ternd_server *ternd_server_start(const char *path, struct vm_manager *m,
					struct tern_error *err);
/* Also serves the API over TLS on o->listen (nothing without it): 0, or
 * -1 with err set. */
int ternd_server_listen_tls(struct ternd_server *server,
			    const struct tls_listener_options *o,
			    struct tern_error *err);
/* --metrics-listen: GET /metrics (and /v1/metrics) on a TCP address
 * (metrics_listen.h), nothing else. */
struct ternd_server *ternd_server_start_metrics(const char *listen_spec,
						struct vm_manager *m,
						struct tern_error *err);
/* The descriptor to poll for input (every listener's). */
int ternd_server_fd(const struct ternd_server *server);
/* Milliseconds until the server needs ternd_server_run() anyway; -1 for
 * never. */
int ternd_server_timeout_ms(const struct ternd_server *server);
void ternd_server_run(struct ternd_server *server);
/* Stops and removes the socket file. NULL is allowed. */
void ternd_server_stop(struct ternd_server *server);

#endif
