/* /v1/vms/NAME/snapshots (snapshots.h), and DELETE /v1/vms/NAME with its
 * snapshots=true. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ternd/snapshots.h"
#include "ternd/ternd_routes.h"
#include "ternd/vm_view.h"

static void reply_snapshot(struct vm_manager *m, const char *vm,
			   const char *snap, unsigned status,
			   struct ternd_reply *reply)
{
	struct snapshot_record s;
	struct tern_error err;
	int ret = snapshots_get(m, vm, snap, &s, &err);

	if (ret) {
		ternd_reply_error(reply, ret, &err);
		return;
	}
	ternd_reply_json(reply, status, snapshots_view(m, &s, 1));
	snapshot_record_free(&s);
}

static void list_snapshots(struct vm_manager *m, const char *vm,
			   struct ternd_reply *reply)
{
	struct snapshot_record *list;
	struct tern_error err;
	size_t count;
	json_t *out;
	int ret = snapshots_list(m, vm, &list, &count, &err);

	if (ret) {
		ternd_reply_error(reply, ret, &err);
		return;
	}
	out = json_array();
	for (size_t i = 0; out && i < count; i++)
		if (json_array_append_new(out,
					  snapshots_view(m, &list[i], 0))) {
			json_decref(out);
			out = NULL;
		}
	snapshot_records_free(list, count);
	ternd_reply_json(
		reply, 200,
		out ? json_pack("{s:s, s:o}", "vm", vm, "snapshots", out)
		    : NULL);
}

/* POST /v1/vms/VM/snapshots, body empty or {"name": SNAP}. */
static void create_snapshot(struct vm_manager *m,
			    const struct ternd_request *request, const char *vm,
			    struct ternd_reply *reply)
{
	static const char *const fields[] = {"name", NULL};
	char name[TERND_NAME_MAX + 1];
	const char *snap = NULL;
	struct tern_error err;
	json_t *doc = NULL;
	int ret;

	if (request->body && request->body_len) {
		doc = ternd_route_body(request, fields, reply);
		if (!doc)
			return;
		if (json_object_get(doc, "name") &&
		    !json_is_string(json_object_get(doc, "name"))) {
			json_decref(doc);
			ternd_reply_fault(reply, 400,
					  "expected {\"name\": \"SNAPSHOT\"} "
					  "or an empty body");
			return;
		}
		snap = json_string_value(json_object_get(doc, "name"));
	}
	ret = snapshots_create(m, vm, snap, name, &err);
	json_decref(doc);
	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		reply_snapshot(m, vm, name, 201, reply);
}

/* rest: "" (the collection), "/SNAP" or "/SNAP/revert". */
void snapshot_route(struct vm_manager *m, const struct ternd_request *request,
		    const char *vm, const char *rest, struct ternd_reply *reply)
{
	const char *method = request->method, *action;
	char snap[TERND_NAME_MAX + 1];
	struct tern_error err;
	int ret;

	if (!rest[0] || !strcmp(rest, "/")) {
		if (!strcmp(method, "GET"))
			list_snapshots(m, vm, reply);
		else if (!strcmp(method, "POST"))
			create_snapshot(m, request, vm, reply);
		else
			ternd_reply_method_not_allowed(reply, "GET, POST");
		return;
	}
	if (ternd_route_name("snapshot", rest + 1, snap, &action, reply))
		return;
	if (action && strcmp(action, "revert")) {
		ternd_reply_fault(reply, 404,
				  "unknown snapshot action: the one action "
				  "is revert");
	} else if (action) {
		if (strcmp(method, "POST")) {
			ternd_reply_method_not_allowed(reply, "POST");
			return;
		}
		ret = snapshots_revert(m, vm, snap, &err);
		if (ret)
			ternd_reply_error(reply, ret, &err);
		else
			ternd_reply_vm(m, vm, 200, reply);
	} else if (!strcmp(method, "GET")) {
		reply_snapshot(m, vm, snap, 200, reply);
	} else if (!strcmp(method, "DELETE")) {
		ret = snapshots_delete(m, vm, snap, &err);
		if (ret)
			ternd_reply_error(reply, ret, &err);
		else
			reply->status = 204;
	} else {
		ternd_reply_method_not_allowed(reply, "GET, DELETE");
	}
}

void undefine_with_snapshots(struct vm_manager *m,
			     const struct ternd_request *request,
			     const char *vm, struct ternd_reply *reply)
{
	struct tern_error err;
	int with_snapshots =
		request->snapshots && strcmp(request->snapshots, "false");
	struct vm_record r;
	int ret = 0;

	if (with_snapshots && strcmp(request->snapshots, "true"))
		ret = tern_error_set(&err, EINVAL,
				     "snapshots=%.16s: use snapshots=true to "
				     "delete the VM's snapshots with it",
				     request->snapshots);
	/* Only a VM that can go loses its snapshots. */
	if (!ret && with_snapshots &&
	    !(ret = vm_manager_get(m, vm, &r, &err))) {
		if (vm_state_active(r.runtime.state))
			ret = tern_error_set(&err, EBUSY,
					     "VM '%s' is %s: 'ternctl destroy "
					     "%s' or 'ternctl shutdown %s' "
					     "first",
					     vm, vm_state_name(r.runtime.state),
					     vm, vm);
		vm_record_free(&r);
		if (!ret)
			ret = snapshots_delete_all(m, vm, &err);
	}
	if (!ret)
		ret = vm_manager_undefine(m, vm, &err);
	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		reply->status = 204;
}
