/* ternctl's requests to ternd: one HTTP request over ternd's Unix socket
 * (cli/api_client.h), or over TLS for a tls://HOST:PORT (ternctl_tls.h),
 * its JSON answer parsed, and every failure turned
 * into one sentence for the user: ternd not reachable, its fault message,
 * or a reply that is not ternd's. */
#ifndef TERN_TERNCTL_TERNCTL_CLIENT_H
#define TERN_TERNCTL_TERNCTL_CLIENT_H

#include <jansson.h>

#include "ternctl/ternctl_tls.h"
#include "util/error.h"

/* A start waits for the VM to run, a destroy up to twice ternd's grace
 * period: longer than any ternd operation. */
#define TERNCTL_TIMEOUT_S 60

/* The client certificate, key and CA for tls:// (NULL members: the
 * defaults of ternctl_tls.h). */
void ternctl_client_set_tls_files(const struct ternctl_tls_files *files);

/* Rewords api_client's failure ret to reach ternd at socket_path (ternd
 * not running, or its socket not ours) and returns it. */
int ternctl_unreachable(const char *socket_path, int ret,
			struct tern_error *err);

/* socket_path: a Unix socket's path, or tls://HOST:PORT.
 * 0 with *answer (new reference, NULL for an empty body) on a 2xx reply;
 * a negative errno with err set otherwise. */
int ternctl_request(const char *socket_path, const char *method,
		    const char *path, const char *body, json_t **answer,
		    struct tern_error *err);

/* As ternctl_request, for an answer that is text (GET /v1/metrics):
 * *text malloc'd, NUL-terminated. */
int ternctl_request_text(const char *socket_path, const char *path, char **text,
			 struct tern_error *err);

#endif
