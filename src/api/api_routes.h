/* The endpoints: Firecracker's paths, bodies and status codes (docs/api.md
 * lists them and tern's differences). api_route() is called on the API
 * thread with the whole request; it never blocks for long: only
 * InstanceStart and a pause wait, for the VM to start or the vCPUs to stop. */
#ifndef TERN_API_API_ROUTES_H
#define TERN_API_API_ROUTES_H

#include <stddef.h>

#include "control/instance.h"

struct api_reply {
	unsigned status;
	char *body; /* malloc'd, NULL for none */
	const char *content_type;
	/* Non-NULL: the request is deprecated (a Deprecation header, and
	 * this reason in the log). */
	const char *deprecation;
};

void api_route(struct instance *inst, const char *method, const char *path,
	       const char *body, size_t body_len, struct api_reply *reply);

/* Fills reply with {"fault_message": message}. */
void api_reply_fault(struct api_reply *reply, unsigned status,
		     const char *message);

#endif
