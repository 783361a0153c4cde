/* /v1/vms/NAME/incoming (POST: prepare, DELETE: abandon) on a migration's
 * destination, /v1/vms/NAME/migrate (POST) on its source (vm_migration.h). */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "ternd/ternd_routes.h"
#include "ternd/vm_migration.h"
#include "ternd/vm_view.h"

/* 201 with the VM and the address the source must connect to. */
static void prepare(struct vm_manager *m, const struct ternd_request *request,
		    const char *vm, struct ternd_reply *reply)
{
	struct vm_migration_incoming req;
	struct tern_error err;
	struct vm_record r;
	char address[160];
	json_t *view;
	int ret = vm_migration_incoming_parse(request->body, request->body_len,
					      &req, &err);

	if (!ret)
		ret = vm_migration_prepare(m, vm, &req, address,
					   sizeof(address), &err);
	vm_migration_incoming_free(&req);
	if (!ret)
		ret = vm_manager_get(m, vm, &r, &err);
	if (ret) {
		ternd_reply_error(reply, ret, &err);
		return;
	}
	view = vm_view_detail(m, &r);
	vm_record_free(&r);
	if (view)
		json_object_set_new(view, "migration_address",
				    json_string(address));
	ternd_reply_json(reply, 201, view);
}

static void abandon(struct vm_manager *m, const char *vm,
		    struct ternd_reply *reply)
{
	struct tern_error err;
	int ret = vm_migration_abandon(m, vm, &err);

	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		ternd_reply_json(reply, 200, json_pack("{s:s}", "name", vm));
}

/* 202: the migration runs on; GET /v1/vms/NAME follows it. A check
 * answers 200. */
static void migrate(struct vm_manager *m, const struct ternd_request *request,
		    const char *vm, struct ternd_reply *reply)
{
	struct vm_migration_outgoing req;
	struct tern_error err;
	int ret = vm_migration_outgoing_parse(request->body, request->body_len,
					      &req, &err);

	if (!ret)
		ret = vm_migration_start(m, vm, &req, &err);
	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		ternd_reply_vm(m, vm, req.check_only ? 200 : 202, reply);
}

int migration_route(struct vm_manager *m, const struct ternd_request *request,
		    const char *vm, const char *action,
		    struct ternd_reply *reply)
{
	const char *method = request->method;

	if (!strcmp(action, "incoming")) {
		if (!strcmp(method, "POST"))
			prepare(m, request, vm, reply);
		else if (!strcmp(method, "DELETE"))
			abandon(m, vm, reply);
		else
			ternd_reply_method_not_allowed(reply, "POST, DELETE");
		return 1;
	}
	if (!strcmp(action, "migrate")) {
		if (strcmp(method, "POST"))
			ternd_reply_method_not_allowed(reply, "POST");
		else
			migrate(m, request, vm, reply);
		return 1;
	}
	return 0;
}
