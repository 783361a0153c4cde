#include "ternd/vm_view.h"

#include "ternd/vm_balloon.h"
#include "ternd/vm_definition.h"

json_t *vm_view_summary(const struct vm_manager *m, const struct vm_record *r)
{
	struct vm_summary summary = {0};
	struct tern_error err;
	json_t *doc = json_loads(r->config, 0, NULL);
	json_t *out;

	/* Stored definitions passed the same check; one that no longer
	 * does (an older ternd's) still lists, with nulls. */
	int ok = !vm_definition_check(doc, vm_manager_pool(m)->dir, &summary,
				      NULL, NULL, &err);

	json_decref(doc);
	out = json_pack("{s:s, s:s}", "name", r->name, "state",
			vm_state_name(r->runtime.state));
	if (!out)
		return NULL;
	json_object_set_new(out, "vcpus",
			    ok ? json_integer(summary.vcpus) : json_null());
	json_object_set_new(out, "memory_mib",
			    ok ? json_integer((json_int_t)summary.memory_mib)
			       : json_null());
	return out;
}

static json_t *path_or_null(const struct vm_manager *m, const char *name,
			    enum vm_file file)
{
	char path[4200];

	if (vm_manager_path(m, name, file, path, sizeof(path)))
		return json_null();
	return json_string(path);
}

json_t *vm_view_detail(const struct vm_manager *m, const struct vm_record *r)
{
	const struct vm_runtime *rt = &r->runtime;
	json_t *out = vm_view_summary(m, r);
	int active = vm_state_active(rt->state);

	if (!out)
		return NULL;
	json_object_set_new(out, "pid",
			    active ? json_integer(rt->pid) : json_null());
	json_object_set_new(out, "api_socket",
			    active ? json_string(rt->api_socket) : json_null());
	json_object_set_new(out, "reason", json_string(rt->reason));
	json_object_set_new(out, "state_changed_at",
			    json_integer(rt->changed_at));
	json_object_set_new(out, "defined_at", json_integer(r->defined_at));
	json_object_set_new(out, "log_file",
			    path_or_null(m, r->name, VM_FILE_LOG));
	json_object_set_new(out, "console_log",
			    path_or_null(m, r->name, VM_FILE_CONSOLE));
	json_object_set_new(out, "autostart", json_boolean(r->autostart));
	json_object_set_new(out, "config_version",
			    json_integer(r->config_version));
	json_object_set_new(out, "config", json_loads(r->config, 0, NULL));
	/* Asked of the running tern: the target setmem set, and what the
	 * guest gave (null without a balloon). */
	json_object_set_new(out, "balloon",
			    active ? vm_balloon_view(rt->api_socket) : NULL);
	if (!json_object_get(out, "balloon"))
		json_object_set_new(out, "balloon", json_null());
	return out;
}
