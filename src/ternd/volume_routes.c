/* /v1/volumes: the storage pool's volumes (volumes.h). */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "ternd/ternd_routes.h"
#include "ternd/volumes.h"

static void reply_volume(struct vm_manager *m, const char *name,
			 unsigned status, const char *clone_method,
			 struct ternd_reply *reply)
{
	struct tern_error err;
	json_t *doc;
	int ret = volumes_get_json(m, name, &doc, &err);

	if (ret) {
		ternd_reply_error(reply, ret, &err);
		return;
	}
	if (clone_method)
		json_object_set_new(doc, "clone_method",
				    json_string(clone_method));
	ternd_reply_json(reply, status, doc);
}

/* A size in bytes from a JSON integer; -1 with a 400 in reply if it is
 * not one. */
static int body_size(const json_t *doc, const char *key, uint64_t *size,
		     struct ternd_reply *reply)
{
	json_t *value = json_object_get(doc, key);
	char message[128];

	if (!json_is_integer(value) || json_integer_value(value) < 0) {
		snprintf(message, sizeof(message),
			 "expected \"%s\": a size in bytes (a non-negative "
			 "integer)",
			 key);
		ternd_reply_fault(reply, 400, message);
		return -1;
	}
	*size = (uint64_t)json_integer_value(value);
	return 0;
}

static void create_volume(struct vm_manager *m, const char *name,
			  const struct ternd_request *request,
			  struct ternd_reply *reply)
{
	static const char *const fields[] = {"capacity", NULL};
	json_t *doc = ternd_route_body(request, fields, reply);
	struct tern_error err;
	uint64_t size;
	int ret;

	if (!doc)
		return;
	ret = body_size(doc, "capacity", &size, reply);
	json_decref(doc);
	if (ret)
		return;
	ret = volumes_create(m, name, size, &err);
	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		reply_volume(m, name, 201, NULL, reply);
}

static void clone_volume(struct vm_manager *m, const char *src,
			 const struct ternd_request *request,
			 struct ternd_reply *reply)
{
	static const char *const fields[] = {"name", NULL};
	json_t *doc = ternd_route_body(request, fields, reply);
	const char *name = json_string_value(json_object_get(doc, "name"));
	enum volume_clone_method how;
	char copy[TERND_NAME_MAX + 1];
	struct tern_error err;
	int ret;

	if (!doc)
		return;
	if (!name || ternd_name_check("volume", name, &err)) {
		json_decref(doc);
		ternd_reply_fault(reply, 400,
				  name ? err.message
				       : "expected {\"name\": the new "
					 "volume's name}");
		return;
	}
	snprintf(copy, sizeof(copy), "%s", name);
	json_decref(doc);
	ret = volumes_clone(m, src, copy, &how, &err);
	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		reply_volume(m, copy, 201, volume_clone_method_name(how),
			     reply);
}

static void resize_volume(struct vm_manager *m, const char *name,
			  const struct ternd_request *request,
			  struct ternd_reply *reply)
{
	static const char *const fields[] = {"capacity", "shrink", NULL};
	json_t *doc = ternd_route_body(request, fields, reply);
	json_t *shrink = json_object_get(doc, "shrink");
	struct tern_error err;
	uint64_t size;
	int ret;

	if (!doc)
		return;
	ret = body_size(doc, "capacity", &size, reply);
	if (!ret && shrink && !json_is_boolean(shrink)) {
		ternd_reply_fault(reply, 400, "\"shrink\" is true or false");
		ret = -1;
	}
	if (!ret) {
		ret = volumes_resize(m, name, size, json_is_true(shrink), &err);
		if (ret)
			ternd_reply_error(reply, ret, &err);
		else
			reply_volume(m, name, 200, NULL, reply);
	}
	json_decref(doc);
}

static void delete_volume(struct vm_manager *m, const char *name,
			  struct ternd_reply *reply)
{
	struct tern_error err;
	int ret = volumes_delete(m, name, &err);

	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		reply->status = 204;
}

static void list_volumes(struct vm_manager *m, struct ternd_reply *reply)
{
	struct tern_error err;
	json_t *doc;
	int ret = volumes_list_json(m, &doc, &err);

	if (ret)
		ternd_reply_error(reply, ret, &err);
	else
		ternd_reply_json(reply, 200, doc);
}

static void volume_action(struct vm_manager *m, const char *name,
			  const char *action,
			  const struct ternd_request *request,
			  struct ternd_reply *reply)
{
	if (strcmp(action, "clone") && strcmp(action, "resize")) {
		ternd_reply_fault(reply, 404,
				  "unknown volume action: the actions are "
				  "clone and resize");
		return;
	}
	if (strcmp(request->method, "POST"))
		ternd_reply_method_not_allowed(reply, "POST");
	else if (!strcmp(action, "clone"))
		clone_volume(m, name, request, reply);
	else
		resize_volume(m, name, request, reply);
}

void volume_route(struct vm_manager *m, const struct ternd_request *request,
		  const char *rest, struct ternd_reply *reply)
{
	const char *method = request->method, *action;
	char name[TERND_NAME_MAX + 1];

	if (!rest) {
		if (strcmp(method, "GET"))
			ternd_reply_method_not_allowed(reply, "GET");
		else
			list_volumes(m, reply);
		return;
	}
	if (ternd_route_name("volume", rest, name, &action, reply))
		return;
	if (action)
		volume_action(m, name, action, request, reply);
	else if (!strcmp(method, "GET"))
		reply_volume(m, name, 200, NULL, reply);
	else if (!strcmp(method, "PUT"))
		create_volume(m, name, request, reply);
	else if (!strcmp(method, "DELETE"))
		delete_volume(m, name, reply);
	else
		ternd_reply_method_not_allowed(reply, "GET, PUT, DELETE");
}
