#include "ternd/ternd_routes.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ternd/start_route.h"
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

void ternd_reply_json(struct ternd_reply *reply, unsigned status, json_t *doc)
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
	case EEXIST:
		return 409;
	case EREMOTEIO:
		return 502;
	default:
		return 500;
	}
}

void ternd_reply_error(struct ternd_reply *reply, int ret,
		       const struct tern_error *err)
{
	ternd_reply_fault(reply, status_for(ret), err->message);
}

void ternd_reply_vm(struct vm_manager *m, const char *name, unsigned status,
		    struct ternd_reply *reply)
{
	struct tern_error err;
	struct vm_record r;
	int ret = vm_manager_get(m, name, &r, &err);

	if (ret) {
		ternd_reply_error(reply, ret, &err);
		return;
	}
	ternd_reply_json(reply, status, vm_view_detail(m, &r));
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
		ternd_reply_error(reply, ret, &err);
		return;
	}
	list = json_array();
	for (size_t i = 0; list && i < count; i++) {
		if (json_array_append_new(list,
					  vm_view_summary(m, &records[i]))) {
			json_decref(list);
			list = NULL;
		}
	}
	vm_records_free(records, count);
	ternd_reply_json(reply, 200,
			 list ? json_pack("{s:o}", "vms", list) : NULL);
}

typedef int (*vm_action)(struct vm_manager *m, const char *name,
			 struct tern_error *err);

static const struct {
	const char *name;
	vm_action run;
	unsigned status;
} actions[] = {
	{"destroy", vm_manager_destroy, 200},
	{"pause", vm_manager_pause, 200},
	{"resume", vm_manager_resume, 200},
};

/* The body is empty or {"mode": "acpi" | "ctrl-alt-del"}. */
static int shutdown_mode_from_body(const char *body, size_t len,
				   enum vm_shutdown_mode *mode,
				   struct tern_error *err)
{
	json_t *doc, *value;
	const char *key;
	int ret = 0;

	*mode = VM_SHUTDOWN_ACPI;
	if (!body || len == 0)
		return 0;
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return tern_error_set(err, EINVAL,
				      "shutdown: the body is a JSON object "
				      "{\"mode\": \"acpi\" | "
				      "\"ctrl-alt-del\"}, or empty");
	}
	json_object_foreach(doc, key, value)
	{
		if (strcmp(key, "mode"))
			ret = tern_error_set(err, EINVAL,
					     "shutdown: unknown field '%.32s'",
					     key);
		else if (!json_is_string(value))
			ret = tern_error_set(err, EINVAL,
					     "shutdown: mode is a string");
		else
			ret = vm_shutdown_mode_parse(json_string_value(value),
						     mode, err);
		if (ret)
			break;
	}
	json_decref(doc);
	return ret;
}

/* The guest decides, later: accepted (202), not done. */
static void shutdown_vm(struct vm_manager *m, const char *name,
			const char *body, size_t len, struct ternd_reply *reply)
{
	enum vm_shutdown_mode mode;
	struct tern_error err;
	int ret = shutdown_mode_from_body(body, len, &mode, &err);

	if (!ret)
		ret = vm_manager_shutdown(m, name, mode, &err);
	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		ternd_reply_vm(m, name, 202, reply);
}

static void run_action(struct vm_manager *m, const char *name,
		       const char *action, const char *body, size_t len,
		       struct ternd_reply *reply)
{
	struct tern_error err;

	if (!strcmp(action, "shutdown")) {
		shutdown_vm(m, name, body, len, reply);
		return;
	}
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(action, actions[i].name))
			continue;
		int ret = actions[i].run(m, name, &err);

		if (ret)
			ternd_reply_error(reply, ret, &err);
		else
			ternd_reply_vm(m, name, actions[i].status, reply);
		return;
	}
	ternd_reply_fault(reply, 404,
			  "unknown action: the actions are start, shutdown, "
			  "destroy, pause, resume, reboot, setmem, "
			  "snapshots, migrate and incoming");
}

void ternd_reply_method_not_allowed(struct ternd_reply *reply,
				    const char *allowed)
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
		ternd_reply_error(reply, ret, &err);
	else
		ternd_reply_vm(m, name, created ? 201 : 200, reply);
}

int ternd_route_name(const char *kind, const char *rest, char *name,
		     const char **action, struct ternd_reply *reply)
{
	const char *slash = strchr(rest, '/');
	size_t name_len = slash ? (size_t)(slash - rest) : strlen(rest);
	struct tern_error err;

	if (name_len > TERND_NAME_MAX) {
		ternd_name_check(kind, rest, &err);
		ternd_reply_fault(reply, 400, err.message);
		return -1;
	}
	memcpy(name, rest, name_len);
	name[name_len] = '\0';
	if (ternd_name_check(kind, name, &err)) {
		ternd_reply_fault(reply, 400, err.message);
		return -1;
	}
	*action = slash ? slash + 1 : NULL;
	return 0;
}

json_t *ternd_route_body(const struct ternd_request *request,
			 const char *const *allowed, struct ternd_reply *reply)
{
	json_error_t json_err;
	const char *key;
	char message[200];
	json_t *doc, *value;

	doc = json_loadb(request->body ? request->body : "", request->body_len,
			 JSON_REJECT_DUPLICATES, &json_err);
	if (!json_is_object(doc)) {
		snprintf(message, sizeof(message),
			 "the request body is not a JSON object%s%s",
			 doc ? "" : ": ", doc ? "" : json_err.text);
		json_decref(doc);
		ternd_reply_fault(reply, 400, message);
		return NULL;
	}
	json_object_foreach(doc, key, value)
	{
		size_t i = 0;

		while (allowed[i] && strcmp(allowed[i], key))
			i++;
		if (!allowed[i]) {
			snprintf(message, sizeof(message),
				 "unknown field \"%.64s\" in the request body",
				 key);
			json_decref(doc);
			ternd_reply_fault(reply, 400, message);
			return NULL;
		}
	}
	return doc;
}

static void set_autostart(struct vm_manager *m, const char *name,
			  const struct ternd_request *request,
			  struct ternd_reply *reply)
{
	static const char *const fields[] = {"enabled", NULL};
	json_t *doc = ternd_route_body(request, fields, reply);
	json_t *enabled = json_object_get(doc, "enabled");
	struct tern_error err;
	int ret;

	if (!doc)
		return;
	if (!json_is_boolean(enabled)) {
		json_decref(doc);
		ternd_reply_fault(reply, 400,
				  "expected {\"enabled\": true or false}");
		return;
	}
	ret = vm_manager_set_autostart(m, name, json_is_true(enabled), &err);
	json_decref(doc);
	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		ternd_reply_vm(m, name, 200, reply);
}

/* /v1/vms/NAME and /v1/vms/NAME/ACTION. */
static void route_vm(struct vm_manager *m, const struct ternd_request *request,
		     const char *rest, struct ternd_reply *reply)
{
	const char *method = request->method, *action;
	char name[TERND_NAME_MAX + 1];

	if (ternd_route_name("VM", rest, name, &action, reply))
		return;
	if (action && vm_guest_route(m, request, name, action, reply))
		return;
	if (action && migration_route(m, request, name, action, reply))
		return;
	if (action && start_route(m, request, name, action, reply))
		return;
	if (action && !strcmp(action, "autostart")) {
		if (strcmp(method, "PUT"))
			ternd_reply_method_not_allowed(reply, "PUT");
		else
			set_autostart(m, name, request, reply);
	} else if (action) {
		if (strcmp(method, "POST"))
			ternd_reply_method_not_allowed(reply, "POST");
		else
			run_action(m, name, action, request->body,
				   request->body_len, reply);
	} else if (!strcmp(method, "GET")) {
		ternd_reply_vm(m, name, 200, reply);
	} else if (!strcmp(method, "PUT")) {
		define_vm(m, name, request->body, request->body_len, reply);
	} else if (!strcmp(method, "DELETE")) {
		undefine_with_snapshots(m, request, name, reply);
	} else {
		ternd_reply_method_not_allowed(reply, "GET, PUT, DELETE");
	}
}

/* A path that is exactly prefix, with or without a trailing slash. */
static int is_collection(const char *url, const char *prefix)
{
	size_t len = strlen(prefix);

	return !strncmp(url, prefix, len) &&
		(!url[len] || (url[len] == '/' && !url[len + 1]));
}

static int is_item(const char *url, const char *prefix, const char **rest)
{
	size_t len = strlen(prefix);

	if (strncmp(url, prefix, len) || url[len] != '/' || !url[len + 1])
		return 0;
	*rest = url + len + 1;
	return 1;
}

void ternd_route(struct vm_manager *m, const struct ternd_request *request,
		 struct ternd_reply *reply)
{
	const char *url = request->url, *method = request->method, *rest;

	if (!strcmp(url, "/v1/version")) {
		if (strcmp(method, "GET"))
			ternd_reply_method_not_allowed(reply, "GET");
		else
			ternd_reply_json(reply, 200,
					 json_pack("{s:s, s:s, s:i}", "name",
						   "ternd", "version",
						   TERN_VERSION, "api_version",
						   1));
	} else if (is_collection(url, PREFIX)) {
		if (strcmp(method, "GET"))
			ternd_reply_method_not_allowed(reply, "GET");
		else
			list_vms(m, reply);
	} else if (is_item(url, PREFIX, &rest)) {
		route_vm(m, request, rest, reply);
	} else if (is_collection(url, "/v1/volumes")) {
		volume_route(m, request, NULL, reply);
	} else if (is_item(url, "/v1/volumes", &rest)) {
		volume_route(m, request, rest, reply);
	} else if (is_collection(url, "/v1/networks")) {
		network_route(m, request, NULL, reply);
	} else if (is_item(url, "/v1/networks", &rest)) {
		network_route(m, request, rest, reply);
	} else if (is_collection(url, "/v1/events")) {
		event_route(m, request, reply);
	} else if (is_collection(url, "/v1/metrics")) {
		metrics_route(m, request, reply);
	} else {
		ternd_reply_fault(reply, 404,
				  "no such path: ternd's API is under /v1/vms, "
				  "/v1/volumes, /v1/networks, /v1/events and "
				  "/v1/metrics "
				  "(docs/ternd-openapi.yaml)");
	}
}
