/* POST /v1/vms/NAME/console: the VM's serial console over the API's own
 * connection, upgraded (HTTP/1.1 101 Switching Protocols, Upgrade:
 * tern-console) to a raw byte stream both ways once ternd accepts; an
 * ordinary JSON error otherwise. Query: scrollback=BYTES (how much of the
 * console log comes first; 0 to CONSOLE_SCROLLBACK_MAX, default
 * CONSOLE_SCROLLBACK_DEFAULT), force=true (take the console from the
 * client that has it). */
#ifndef TERN_TERND_CONSOLE_ROUTE_H
#define TERN_TERND_CONSOLE_ROUTE_H

#include <microhttpd.h>

#include "ternd/ternd_routes.h"
#include "ternd/vm_manager.h"

/* -1: url is not a console's (route it as usual). 1: reply holds the
 * answer (an error). 0: the 101 answer was queued (*result says how),
 * and *upgrade holds what ternd frees when the request ends. */
int console_route(struct vm_manager *m, struct MHD_Connection *conn,
		  const char *method, const char *url,
		  struct ternd_reply *reply, enum MHD_Result *result,
		  void **upgrade);

#endif
