/* The requests that act on a running guest: /v1/vms/NAME/setmem
 * (vm_balloon.h) and /reboot (vm_reboot.h); and the dispatch of those and
 * of /snapshots (snapshot_routes.c) from route_vm. */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "ternd/ternd_routes.h"
#include "ternd/vm_balloon.h"
#include "ternd/vm_reboot.h"

/* POST /v1/vms/VM/setmem {"memory": BYTES}. */
static void setmem(struct vm_manager *m, const struct ternd_request *request,
		   const char *vm, struct ternd_reply *reply)
{
	static const char *const fields[] = {"memory", NULL};
	json_t *doc = ternd_route_body(request, fields, reply);
	json_t *memory = json_object_get(doc, "memory");
	struct tern_error err;
	int ret;

	if (!doc)
		return;
	if (!json_is_integer(memory) || json_integer_value(memory) <= 0) {
		json_decref(doc);
		ternd_reply_fault(reply, 400,
				  "expected {\"memory\": BYTES}, a positive "
				  "whole number of bytes");
		return;
	}
	ret = vm_balloon_setmem(m, vm, (uint64_t)json_integer_value(memory),
				&err);
	json_decref(doc);
	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		ternd_reply_vm(m, vm, 200, reply);
}

/* POST /v1/vms/VM/reboot, body empty or {"mode": M}. */
static void reboot(struct vm_manager *m, const struct ternd_request *request,
		   const char *vm, struct ternd_reply *reply)
{
	static const char *const fields[] = {"mode", NULL};
	enum vm_reboot_mode mode = VM_REBOOT_CTRL_ALT_DEL;
	struct tern_error err;
	json_t *doc = NULL, *value;
	int ret = 0;

	if (request->body && request->body_len) {
		doc = ternd_route_body(request, fields, reply);
		if (!doc)
			return;
		value = json_object_get(doc, "mode");
		if (value && !json_is_string(value))
			ret = tern_error_set(&err, EINVAL,
					     "reboot: mode is a string");
		else if (value)
			ret = vm_reboot_mode_parse(json_string_value(value),
						   &mode, &err);
		json_decref(doc);
	}
	if (!ret)
		ret = vm_reboot(m, vm, mode, &err);
	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		ternd_reply_vm(m, vm, mode == VM_REBOOT_RESET ? 200 : 202,
			       reply);
}

int vm_guest_route(struct vm_manager *m, const struct ternd_request *request,
		   const char *vm, const char *action,
		   struct ternd_reply *reply)
{
	if (!strcmp(action, "snapshots") ||
	    !strncmp(action, "snapshots/", 10)) {
		snapshot_route(m, request, vm, action + strlen("snapshots"),
			       reply);
		return 1;
	}
	if (strcmp(action, "setmem") && strcmp(action, "reboot"))
		return 0;
	if (strcmp(request->method, "POST"))
		ternd_reply_method_not_allowed(reply, "POST");
	else if (!strcmp(action, "setmem"))
		setmem(m, request, vm, reply);
	else
		reboot(m, request, vm, reply);
	return 1;
}
