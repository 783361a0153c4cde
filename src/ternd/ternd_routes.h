/* ternd's REST API (docs/ternd-openapi.yaml): JSON over its Unix socket,
 * under /v1. Errors are {"fault_message": "..."}, as tern's own API
 * answers them, with 400 (bad request or definition), 404 (no such VM,
 * volume or path), 405, 409 (the VM is in the wrong state, the volume in
 * use, the name taken) or 502 (the VM's tern refused or failed). This
 * file dispatches and serves /v1/vms; volume_routes.c serves
 * /v1/volumes, network_routes.c /v1/networks and event_routes.c
 * /v1/events, with the helpers below. */
#ifndef TERN_TERND_TERND_ROUTES_H
#define TERN_TERND_TERND_ROUTES_H

#include <stddef.h>

#include "config/vm_config_json.h"
#include "ternd/ternd_name.h"
#include "ternd/vm_manager.h"

/* A definition is at most this large (tern's own config file limit). */
#define TERND_MAX_BODY VM_CONFIG_FILE_MAX

struct ternd_reply {
	unsigned status;
	char *body; /* malloc'd JSON, NULL for none */
	const char *content_type; /* NULL: application/json */
};

/* A request answered later (a start waiting for its tern): the route sets
 * deferred, answers nothing now, and calls answer() once it knows (from
 * ternd's loop, not from inside the route). The server keeps the
 * connection meanwhile. */
struct ternd_deferral {
	int deferred;
	void (*answer)(struct ternd_deferral *later, struct ternd_reply *reply);
};

struct ternd_request {
	const char *method;
	const char *url; /* percent-decoded, without the query */
	const char *body; /* NULL for none */
	size_t body_len;
	/* GET /v1/events's query arguments, NULL when absent. */
	const char *since, *limit, *wait;
	/* DELETE /v1/vms/NAME?snapshots=true: its snapshots go too. */
	const char *snapshots;
	/* NULL: the answer must come now. */
	struct ternd_deferral *later;
};

void ternd_route(struct vm_manager *m, const struct ternd_request *request,
		 struct ternd_reply *reply);

/* Fills reply with {"fault_message": message}. */
void ternd_reply_fault(struct ternd_reply *reply, unsigned status,
		       const char *message);
/* status with doc (taken; NULL: a 500 "out of memory"). */
void ternd_reply_json(struct ternd_reply *reply, unsigned status, json_t *doc);
/* A fault whose status follows the errno (vm_manager.h's kinds). */
void ternd_reply_error(struct ternd_reply *reply, int ret,
		       const struct tern_error *err);
void ternd_reply_method_not_allowed(struct ternd_reply *reply,
				    const char *allowed);

/* rest is "NAME" or "NAME/ACTION": copies NAME out (checked as a kind
 * name, ternd_name.h) and points *action at ACTION or NULL. 0, or -1
 * with a 400 in reply. */
int ternd_route_name(const char *kind, const char *rest, char *name,
		     const char **action, struct ternd_reply *reply);
/* The body as a JSON object whose keys are all among allowed (a
 * NULL-terminated list). NULL with a 400 in reply otherwise. */
json_t *ternd_route_body(const struct ternd_request *request,
			 const char *const *allowed, struct ternd_reply *reply);

void volume_route(struct vm_manager *m, const struct ternd_request *request,
		  const char *rest, struct ternd_reply *reply);
void network_route(struct vm_manager *m, const struct ternd_request *request,
		   const char *rest, struct ternd_reply *reply);
void event_route(struct vm_manager *m, const struct ternd_request *request,
		 struct ternd_reply *reply);
/* GET /v1/metrics (metrics_routes.c): Prometheus text, not JSON. */
void metrics_route(struct vm_manager *m, const struct ternd_request *request,
		   struct ternd_reply *reply);

/* The VM's view (GET /v1/vms/NAME) as the answer. */
void ternd_reply_vm(struct vm_manager *m, const char *name, unsigned status,
		    struct ternd_reply *reply);
/* vm_guest_routes.c: /v1/vms/NAME/snapshots... (snapshot_routes.c),
 * /setmem and /reboot; 0 when action is none of them. */
int vm_guest_route(struct vm_manager *m, const struct ternd_request *request,
		   const char *vm, const char *action,
		   struct ternd_reply *reply);
/* migration_routes.c: /v1/vms/NAME/incoming and /migrate; 0 when
 * action is neither. */
int migration_route(struct vm_manager *m, const struct ternd_request *request,
		    const char *vm, const char *action,
		    struct ternd_reply *reply);
void snapshot_route(struct vm_manager *m, const struct ternd_request *request,
		    const char *vm, const char *rest,
		    struct ternd_reply *reply);
/* DELETE /v1/vms/NAME[?snapshots=true]. */
void undefine_with_snapshots(struct vm_manager *m,
			     const struct ternd_request *request,
			     const char *vm, struct ternd_reply *reply);

/* GET /v1/events: at most this many events per answer, and a long poll
 * waits at most this many seconds (below the clients' own timeouts). */
#define TERND_EVENTS_PAGE 1000
#define TERND_EVENTS_WAIT_MAX 30
/* since, limit and wait from the query (0, TERND_EVENTS_PAGE, 0 when
 * absent); -1 with a 400 in reply when one is not a number in range. */
int ternd_events_args(const struct ternd_request *request, long long *since,
		      long long *limit, long long *wait,
		      struct ternd_reply *reply);

#endif
