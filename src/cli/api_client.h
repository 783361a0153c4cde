/* A minimal HTTP/1.1 client for tern's own API socket: one request per
 * connection (Connection: close), bounded reply, timeouts. Enough for the
 * command-line clients (tern snapshot); not a general HTTP client. */
#ifndef TERN_CLI_API_CLIENT_H
#define TERN_CLI_API_CLIENT_H

#include <stddef.h>

#include "util/error.h"

/* Replies larger than this are refused (tern's own are a few hundred
 * bytes, GET /vm/config the largest of them; ternd's GET /v1/metrics, a
 * few KiB per VM, is the largest of all). The buffer is malloc'd at this
 * size, which costs only the pages a reply touches. */
#define API_CLIENT_MAX_REPLY (16 * 1024 * 1024)

struct api_reply {
	int status; /* HTTP status code */
	char *body; /* NUL-terminated; free() it */
};

/* A stream connection to the Unix socket sock_path, each read and write
 * bounded by timeout_s seconds (connect() too): the descriptor, or a
 * negative errno with err set. */
int api_client_connect(const char *sock_path, int timeout_s,
		       struct tern_error *err);

/* Sends METHOD PATH with an optional JSON body to the Unix socket
 * sock_path and waits at most timeout_s seconds for each read or write.
 * Returns 0 with *reply filled (any HTTP status), or a negative errno with
 * err set when the socket or the reply is unusable. */
int api_client_request(const char *sock_path, const char *method,
		       const char *path, const char *body, int timeout_s,
		       struct api_reply *reply, struct tern_error *err);

/* The pieces of api_client_request() that other transports share
 * (ternctl's TLS): the request's head (its length, or -EINVAL); whether
 * buf (NUL-terminated, len bytes) holds a whole reply; and the reply
 * parsed from buf (malloc'd, taken: reply->body on success, freed on
 * failure; peer names the server in messages). */
int api_client_format_head(char *head, size_t size, const char *method,
			   const char *path, size_t body_len,
			   struct tern_error *err);
int api_client_reply_complete(const char *buf, size_t len);
int api_client_parse_reply(char *buf, size_t len, const char *peer,
			   struct api_reply *reply, struct tern_error *err);

/* The API's error text: the body's "fault_message", else the body itself
 * (shortened), else the status. Writes into buf. */
const char *api_client_fault(const struct api_reply *reply, char *buf,
			     size_t size);

#endif
