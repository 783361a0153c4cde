/* /v1/networks: ternd's networks (networks.h). */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "ternd/networks.h"
#include "ternd/ternd_routes.h"

static void reply_network(struct vm_manager *m, const char *name,
			  unsigned status, struct ternd_reply *reply)
{
	struct tern_error err;
	json_t *doc;
	int ret = networks_get_json(vm_manager_networks(m), name, &doc, &err);

	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		ternd_reply_json(reply, status, doc);
}

static void define_network(struct vm_manager *m, const char *name,
			   const struct ternd_request *request,
			   struct ternd_reply *reply)
{
	static const char *const fields[] = {"kind", "bridge", "subnet",
					     "nat",  "dhcp",   NULL};
	json_t *doc = ternd_route_body(request, fields, reply);
	struct tern_error err;
	int ret;

	if (!doc)
		return;
	ret = networks_define(vm_manager_networks(m), name, doc, &err);
	json_decref(doc);
	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		reply_network(m, name, 201, reply);
}

static void network_action(struct vm_manager *m, const char *name,
			   const char *action,
			   const struct ternd_request *request,
			   struct ternd_reply *reply)
{
	struct networks *n = vm_manager_networks(m);
	struct tern_error err;
	int ret;

	if (strcmp(action, "start") && strcmp(action, "destroy")) {
		ternd_reply_fault(reply, 404,
				  "unknown network action: the actions are "
				  "start and destroy");
		return;
	}
	if (strcmp(request->method, "POST")) {
		ternd_reply_method_not_allowed(reply, "POST");
		return;
	}
	ret = !strcmp(action, "start") ? networks_start(n, name, &err)
				       : networks_destroy(n, name, &err);
	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		reply_network(m, name, 200, reply);
}

void network_route(struct vm_manager *m, const struct ternd_request *request,
		   const char *rest, struct ternd_reply *reply)
{
	struct networks *n = vm_manager_networks(m);
	const char *method = request->method, *action;
	char name[TERND_NAME_MAX + 1];
	struct tern_error err;
	json_t *doc;
	int ret;

	if (!rest) {
		if (strcmp(method, "GET")) {
			ternd_reply_method_not_allowed(reply, "GET");
		} else if ((ret = networks_list_json(n, &doc, &err))) {
			ternd_reply_error(reply, ret, &err);
		} else {
			ternd_reply_json(reply, 200, doc);
		}
		return;
	}
	if (ternd_route_name("network", rest, name, &action, reply))
		return;
	if (action) {
		network_action(m, name, action, request, reply);
	} else if (!strcmp(method, "GET")) {
		reply_network(m, name, 200, reply);
	} else if (!strcmp(method, "PUT")) {
		define_network(m, name, request, reply);
	} else if (!strcmp(method, "DELETE")) {
		ret = networks_undefine(n, name, &err);
		if (ret)
			ternd_reply_error(reply, ret, &err);
		else
			reply->status = 204;
	} else {
		ternd_reply_method_not_allowed(reply, "GET, PUT, DELETE");
	}
}
