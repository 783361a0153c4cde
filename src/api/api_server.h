/* The HTTP/1.1 API on a Unix socket (libmicrohttpd, one internal thread
 * polling every connection, so a slow or half-open client holds only its own
 * connection, and is dropped after API_CONNECTION_TIMEOUT_S). Bodies are
 * gathered up to API_MAX_BODY bytes, then handed to api_route(). Every
 * request is logged and counted (the "api" metrics source). */
#ifndef TERN_API_API_SERVER_H
#define TERN_API_API_SERVER_H

#include "control/instance.h"
#include "util/error.h"

#define API_MAX_BODY (64 * 1024)
#define API_CONNECTION_TIMEOUT_S 10
#define API_MAX_CONNECTIONS 64

struct api_server;

/* Binds path (refusing one a live process listens on, replacing a stale
 * one), then serves in its own thread; a body over max_body bytes (0:
 * API_MAX_BODY) is answered 413. NULL with err set on failure. */
struct api_server *api_server_start(const char *path, struct instance *inst,
				    size_t max_body, struct tern_error *err);
/* Stops serving and removes the socket file. NULL is allowed. */
void api_server_stop(struct api_server *server);

#endif
