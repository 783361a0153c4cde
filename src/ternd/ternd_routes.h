/* ternd's REST API (docs/ternd-openapi.yaml): JSON over its Unix socket,
 * under /v1. Errors are {"fault_message": "..."}, as tern's own API
 * answers them, with 400 (bad request or definition), 404 (no such VM or
 * path), 405, 409 (the VM is in the wrong state) or 502 (the VM's tern
 * refused or failed). */
#ifndef TERN_TERND_TERND_ROUTES_H
#define TERN_TERND_TERND_ROUTES_H

#include <stddef.h>

#include "config/vm_config_json.h"
#include "ternd/vm_manager.h"

/* A definition is at most this large (tern's own config file limit). */
#define TERND_MAX_BODY VM_CONFIG_FILE_MAX

struct ternd_reply {
	unsigned status;
	char *body; /* malloc'd JSON, NULL for none */
};

void ternd_route(struct vm_manager *m, const char *method, const char *url,
		 const char *body, size_t body_len, struct ternd_reply *reply);

/* Fills reply with {"fault_message": message}. */
void ternd_reply_fault(struct ternd_reply *reply, unsigned status,
		       const char *message);

#endif
