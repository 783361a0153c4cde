#include "ternd/ternd_routes.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ternd/vm_view.h"
#include "util/version.h"

#define PREFIX "/v1/vms"

void ternd_reply_fault(struct ternd_reply *reply, unsigned status,
		       const char *message)
{
	json_t *doc = json_pack("{s:s}", "fault_message", message);

	reply->status = status;
	reply->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
}

static void reply_json(struct ternd_reply *reply, unsigned status, json_t *doc)
{
	if (!doc) {
		ternd_reply_fault(reply, 500, "out of memory");
		return;
	}
	reply->status = status;
	reply->body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
}

static unsigned status_for(int ret)
{
	switch (-ret) {
	case ENOENT:
		return 404;
	case EINVAL:
		return 400;
	case EBUSY:
		return 409;
	case EREMOTEIO:
		return 502;
	default:
		return 500;
	}
}

static void reply_error(struct ternd_reply *reply, int ret,
			const struct tern_error *err)
{
	ternd_reply_fault(reply, status_for(ret), err->message);
}

static void reply_vm(struct vm_manager *m, const char *name, unsigned status,
		     struct ternd_reply *reply)
{
	struct tern_error err;
	struct vm_record r;
	int ret = vm_manager_get(m, name, &r, &err);

	if (ret) {
		reply_error(reply, ret, &err);
		return;
	}
	reply_json(reply, status, vm_view_detail(m, &r));
	vm_record_free(&r);
}

static void list_vms(struct vm_manager *m, struct ternd_reply *reply)
{
	struct vm_record *records;
	struct tern_error err;
	size_t count;
	json_t *list;
	int ret = vm_manager_list(m, &records, &count, &err);

	if (ret) {
		reply_error(reply, ret, &err);
		return;
	}
	list = json_array();
	for (size_t i = 0; list && i < count; i++) {
		if (json_array_append_new(list, vm_view_summary(&records[i]))) {
			json_decref(list);
			list = NULL;
		}
	}
	vm_records_free(records, count);
	reply_json(reply, 200, list ? json_pack("{s:o}", "vms", list) : NULL);
}

typedef int (*vm_action)(struct vm_manager *m, const char *name,
			 struct tern_error *err);

static const struct {
	const char *name;
	vm_action run;
	unsigned status;
} actions[] = {
	{"start", vm_manager_start, 200},
	/* The guest decides, later: accepted, not done. */
	{"shutdown", vm_manager_shutdown, 202},
	{"destroy", vm_manager_destroy, 200},
	{"pause", vm_manager_pause, 200},
	{"resume", vm_manager_resume, 200},
};

static void run_action(struct vm_manager *m, const char *name,
		       const char *action, struct ternd_reply *reply)
{
	struct tern_error err;

	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(action, actions[i].name))
			continue;
		int ret = actions[i].run(m, name, &err);

		if (ret)
			reply_error(reply, ret, &err);
		else
			reply_vm(m, name, actions[i].status, reply);
		return;
	}
	ternd_reply_fault(reply, 404,
			  "unknown action: the actions are start, shutdown, "
			  "destroy, pause and resume");
}

static void method_not_allowed(struct ternd_reply *reply, const char *allowed)
{
	char message[128];

	snprintf(message, sizeof(message),
		 "method not allowed here (allowed: %s)", allowed);
	ternd_reply_fault(reply, 405, message);
}

static void define_vm(struct vm_manager *m, const char *name, const char *body,
		      size_t len, struct ternd_reply *reply)
{
	struct tern_error err;
	int created = 0;
	int ret = vm_manager_define(m, name, body, len, &created, &err);

	if (ret)
		reply_error(reply, ret, &err);
	else
		reply_vm(m, name, created ? 201 : 200, reply);
}

static void undefine_vm(struct vm_manager *m, const char *name,
			struct ternd_reply *reply)
{
	struct tern_error err;
	int ret = vm_manager_undefine(m, name, &err);

	if (ret)
		reply_error(reply, ret, &err);
	else
		reply->status = 204;
}

/* /v1/vms/NAME and /v1/vms/NAME/ACTION. */
static void route_vm(struct vm_manager *m, const char *method, const char *rest,
		     const char *body, size_t len, struct ternd_reply *reply)
{
	char name[VM_NAME_MAX + 2];
	const char *slash = strchr(rest, '/');
	size_t name_len = slash ? (size_t)(slash - rest) : strlen(rest);
	struct tern_error err;

	if (name_len >= sizeof(name)) {
		vm_name_check(rest, &err);
		ternd_reply_fault(reply, 400, err.message);
		return;
	}
	memcpy(name, rest, name_len);
	name[name_len] = '\0';
	if (vm_name_check(name, &err)) {
		ternd_reply_fault(reply, 400, err.message);
		return;
	}
	if (slash) {
		if (strcmp(method, "POST"))
			method_not_allowed(reply, "POST");
		else
			run_action(m, name, slash + 1, reply);
	} else if (!strcmp(method, "GET")) {
		reply_vm(m, name, 200, reply);
	} else if (!strcmp(method, "PUT")) {
		define_vm(m, name, body, len, reply);
	} else if (!strcmp(method, "DELETE")) {
		undefine_vm(m, name, reply);
	} else {
		method_not_allowed(reply, "GET, PUT, DELETE");
	}
}

void ternd_route(struct vm_manager *m, const char *method, const char *url,
		 const char *body, size_t body_len, struct ternd_reply *reply)
{
	if (!strcmp(url, "/v1/version")) {
		if (strcmp(method, "GET"))
			method_not_allowed(reply, "GET");
		else
			reply_json(reply, 200,
				   json_pack("{s:s, s:s, s:i}", "name", "ternd",
					     "version", TERN_VERSION,
					     "api_version", 1));
	} else if (!strcmp(url, PREFIX) || !strcmp(url, PREFIX "/")) {
		if (strcmp(method, "GET"))
			method_not_allowed(reply, "GET");
		else
			list_vms(m, reply);
	} else if (!strncmp(url, PREFIX "/", strlen(PREFIX "/"))) {
		route_vm(m, method, url + strlen(PREFIX "/"), body, body_len,
			 reply);
	} else {
		ternd_reply_fault(reply, 404,
				  "no such path: ternd's API is under /v1/vms "
				  "(docs/ternd-openapi.yaml)");
	}
}
