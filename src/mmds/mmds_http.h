/* The guest's side of the MMDS: one HTTP/1.x request, already cut out of
 * the guest's TCP stream (mmds_tcp.c), answered as Firecracker's MMDS
 * answers it: GET reads the store (V2: only with a valid session token),
 * PUT /latest/api/token issues a token, every other method is 405.
 * Requests carry no body (a Content-Length is 400 "Invalid request.", as
 * Firecracker says). Every byte is the guest's: lines, headers and numbers
 * are bounds-checked and anything malformed gets a 4xx/5xx answer that
 * ends the connection. */
#ifndef TERN_MMDS_MMDS_HTTP_H
#define TERN_MMDS_MMDS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mmds/mmds_store.h"

struct mmds_http_reply {
	char *data; /* status line, headers and body; malloc'd */
	size_t len;
	unsigned status;
	bool close; /* the client asked to close, or the request was bad */
};

/* Where the request's header block ends in buf (the byte after its empty
 * line, "\r\n\r\n" or "\n\n"), or 0 when it has not ended yet. */
size_t mmds_http_request_end(const uint8_t *buf, size_t len);

/* Answers the request in req[0..len) (a whole header block). now_ms is
 * CLOCK_MONOTONIC in milliseconds, for tokens. Returns 0, or -ENOMEM (no
 * reply). */
int mmds_http_answer(struct mmds_store *store, const uint8_t *req, size_t len,
		     uint64_t now_ms, struct mmds_http_reply *reply);

#endif
