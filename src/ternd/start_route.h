/* POST /v1/vms/NAME/start: answered once the VM's tern reports it
 * running, without holding ternd's loop meanwhile (the request is
 * deferred, ternd_routes.h), or at once with ?wait=false. */
#ifndef TERN_TERND_START_ROUTE_H
#define TERN_TERND_START_ROUTE_H

#include "ternd/ternd_routes.h"

/* 0 when action is not start, else 1 with the answer in reply or the
 * request deferred. */
int start_route(struct vm_manager *m, const struct ternd_request *request,
		const char *vm, const char *action, struct ternd_reply *reply);

#endif
