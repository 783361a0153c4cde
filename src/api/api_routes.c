#include "api/api_routes.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_check.h"
#include "config/json_fields.h"
#include "config/rate_limiter_json.h"
#include "control/balloon_control.h"
#include "control/balloon_hinting_control.h"
#include "control/migration_control.h"
#include "control/drive_control.h"
#include "control/memory_hotplug_control.h"
#include "control/rate_limiter_control.h"
#include "control/snapshot_control.h"
#include "util/log.h"
#include "util/version.h"

#define ID_MAX 64

struct api_call {
	struct instance *inst;
	const char *method;
	const char *path;
	const char *id; /* the {id} part of the path, or NULL */
	json_t *body; /* parsed PUT/PATCH body */
	struct api_reply *reply;
};

void api_reply_fault(struct api_reply *reply, unsigned status,
		     const char *message)
{
	json_t *doc = json_pack("{s:s}", "fault_message", message);

	reply->status = status;
	reply->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	reply->content_type = "application/json";
	json_decref(doc);
}

static void reply_json(struct api_reply *reply, json_t *doc)
{
	if (!doc) {
		api_reply_fault(reply, 500, "out of memory");
		return;
	}
	reply->status = 200;
	reply->body = json_dumps(doc, JSON_COMPACT);
	reply->content_type = "application/json";
	json_decref(doc);
	if (!reply->body)
		api_reply_fault(reply, 500, "out of memory");
}

/* 204 on success; a refused request is the client's fault (400) unless the
 * host ran out of something. */
static void reply_result(struct api_reply *reply, int ret,
			 const struct tern_error *err)
{
	if (!ret) {
		reply->status = 204;
		return;
	}
	api_reply_fault(reply, ret == -ENOMEM || ret == -EIO ? 500 : 400,
			err->message);
}

static void configure(struct api_call *call, enum instance_setting what);

/* The body's id, when it has one, must name the same object as the path. */
static int id_matches(struct api_call *call, const char *key)
{
	json_t *id = json_object_get(call->body, key);
	char message[160];

	if (!json_is_string(id) || !strcmp(json_string_value(id), call->id))
		return 1;
	snprintf(message, sizeof(message),
		 "%s '%.64s' in the body differs from '%s' in the path", key,
		 json_string_value(id), call->id);
	api_reply_fault(call->reply, 400, message);
	return 0;
}

static const struct json_field drive_patch_fields[] = {
	{"drive_id", JSON_FIELD_STRING, 1, 0, 0},
	{"path_on_host", JSON_FIELD_STRING, 0, 0, 0},
	{"rate_limiter", JSON_FIELD_OBJECT, 0, 0, 0},
};

static const struct json_field pmem_patch_fields[] = {
	{"id", JSON_FIELD_STRING, 1, 0, 0},
	{"rate_limiter", JSON_FIELD_OBJECT, 0, 0, 0},
};

static const struct json_field net_patch_fields[] = {
	{"iface_id", JSON_FIELD_STRING, 1, 0, 0},
	{"rx_rate_limiter", JSON_FIELD_OBJECT, 0, 0, 0},
	{"tx_rate_limiter", JSON_FIELD_OBJECT, 0, 0, 0},
};

static const struct json_field balloon_update_fields[] = {
	{"amount_mib", JSON_FIELD_INT, 1, 0, 0x7fffffffLL},
};

static const struct json_field balloon_stats_fields[] = {
	{"stats_polling_interval_s", JSON_FIELD_INT, 1, 0, 0x7fffffffLL},
};

/* PATCH /drives/{id}: the rate limiter, the backing file (path_on_host),
 * or both, at run time. */
static void patch_drive(struct api_call *call)
{
	struct rate_limiter_update updates[2] = {{0}};
	const json_t *path;
	struct tern_error err;
	int ret;

	ret = JSON_FIELDS_CHECK(call->body, "drives", drive_patch_fields, 0,
				&err);
	if (!ret)
		ret = rate_limiter_json_parse_update(
			"drives.rate_limiter",
			json_fields_get(call->body, "rate_limiter"),
			&updates[0], &err);
	path = json_fields_get(call->body, "path_on_host");
	if (!ret && path)
		ret = instance_replace_drive_file(
			call->inst, call->id, json_string_value(path), &err);
	if (!ret && (updates[0].set_bandwidth || updates[0].set_ops || !path))
		ret = instance_update_rate_limiters(call->inst,
						    RATE_LIMITED_DRIVE,
						    call->id, updates, &err);
	/* Only now, so a stopped VM or an unknown drive is reported first,
	 * as Firecracker: there an empty PATCH updates a vhost-user drive,
	 * and a virtio-blk one refuses it. */
	if (!ret && !path && !json_fields_get(call->body, "rate_limiter"))
		ret = tern_error_set(&err, EINVAL,
				     "drives: give path_on_host or "
				     "rate_limiter (an empty PATCH is for "
				     "vhost-user drives, which tern has not)");
	reply_result(call->reply, ret, &err);
}

static void route_drive(struct api_call *call)
{
	if (!id_matches(call, "drive_id"))
		return;
	if (!strcmp(call->method, "PUT"))
		configure(call, INSTANCE_SET_DRIVE);
	else
		patch_drive(call);
}

/* PATCH /pmem/{id}: the rate limiter, after start. Without one the
 * device stays as it is (Firecracker answers 204 too). */
static void patch_pmem(struct api_call *call)
{
	struct rate_limiter_update updates[2] = {{0}};
	struct tern_error err;
	int ret = JSON_FIELDS_CHECK(call->body, "pmem", pmem_patch_fields, 0,
				    &err);

	if (!ret)
		ret = rate_limiter_json_parse_update(
			"pmem.rate_limiter",
			json_fields_get(call->body, "rate_limiter"),
			&updates[0], &err);
	if (!ret)
		ret = instance_update_rate_limiters(
			call->inst, RATE_LIMITED_PMEM, call->id, updates, &err);
	reply_result(call->reply, ret, &err);
}

/* PUT /pmem/{id} before start, PATCH after. */
static void route_pmem(struct api_call *call)
{
	if (!id_matches(call, "id"))
		return;
	if (!strcmp(call->method, "PUT"))
		configure(call, INSTANCE_SET_PMEM);
	else
		patch_pmem(call);
}

/* PATCH /network-interfaces/{id}: rx_rate_limiter, tx_rate_limiter. */
static void patch_network(struct api_call *call)
{
	struct rate_limiter_update updates[2] = {{0}};
	struct tern_error err;
	int ret = JSON_FIELDS_CHECK(call->body, "network-interfaces",
				    net_patch_fields, 0, &err);

	if (!ret)
		ret = rate_limiter_json_parse_update(
			"network-interfaces.rx_rate_limiter",
			json_fields_get(call->body, "rx_rate_limiter"),
			&updates[0], &err);
	if (!ret)
		ret = rate_limiter_json_parse_update(
			"network-interfaces.tx_rate_limiter",
			json_fields_get(call->body, "tx_rate_limiter"),
			&updates[1], &err);
	if (!ret)
		ret = instance_update_rate_limiters(
			call->inst, RATE_LIMITED_NET, call->id, updates, &err);
	reply_result(call->reply, ret, &err);
}

static void route_network(struct api_call *call)
{
	if (!id_matches(call, "iface_id"))
		return;
	if (!strcmp(call->method, "PUT"))
		configure(call, INSTANCE_SET_NET);
	else
		patch_network(call);
}

static void route_vsock(struct api_call *call)
{
	configure(call, INSTANCE_SET_VSOCK);
	/* Firecracker still takes vsock_id but marks it deprecated. */
	if (json_object_get(call->body, "vsock_id"))
		call->reply->deprecation =
			"PUT /vsock: vsock_id field is deprecated.";
}

/* The body of a PATCH checked against its table, then its one integer. */
static int patch_integer(struct api_call *call, const struct json_field *fields,
			 size_t count, long long *value)
{
	struct tern_error err;

	if (json_fields_check(call->body, "balloon", fields, count, 0, &err)) {
		api_reply_fault(call->reply, 400, err.message);
		return -1;
	}
	*value =
		json_integer_value(json_object_get(call->body, fields[0].name));
	return 0;
}

static void reply_json_or_fault(struct api_call *call, json_t *doc,
				const struct tern_error *err)
{
	if (doc)
		reply_json(call->reply, doc);
	else
		api_reply_fault(call->reply,
				strcmp(err->message, "out of memory") ? 400
								      : 500,
				err->message);
}

static void route_balloon(struct api_call *call)
{
	struct tern_error err;
	long long amount;
	int ret;

	if (!strcmp(call->method, "GET")) {
		reply_json_or_fault(
			call, instance_balloon_config(call->inst, &err), &err);
	} else if (!strcmp(call->method, "PUT")) {
		configure(call, INSTANCE_SET_BALLOON);
	} else if (!patch_integer(call, balloon_update_fields, 1, &amount)) {
		ret = instance_balloon_set_target(call->inst, amount, &err);
		reply_result(call->reply, ret, &err);
	}
}

static void route_balloon_stats(struct api_call *call)
{
	struct tern_error err;
	long long seconds;
	int ret;

	if (!strcmp(call->method, "GET")) {
		reply_json_or_fault(
			call, instance_balloon_statistics(call->inst, &err),
			&err);
	} else if (!patch_integer(call, balloon_stats_fields, 1, &seconds)) {
		ret = instance_balloon_set_stats_interval(call->inst, seconds,
							  &err);
		reply_result(call->reply, ret, &err);
	}
}

static const struct json_field balloon_hint_start_fields[] = {
	{"acknowledge_on_stop", JSON_FIELD_BOOL, 0, 0, 0},
};

/* PATCH /balloon/hinting/start: the body is optional (Firecracker's
 * acknowledge_on_stop defaults to true). */
static void route_balloon_hint_start(struct api_call *call)
{
	struct tern_error err;
	json_t *ack;
	int ret;

	if (call->body &&
	    JSON_FIELDS_CHECK(call->body, "balloon/hinting/start",
			      balloon_hint_start_fields, 0, &err)) {
		api_reply_fault(call->reply, 400, err.message);
		return;
	}
	ack = call->body ? json_fields_get(call->body, "acknowledge_on_stop")
			 : NULL;
	ret = instance_balloon_hint_start(call->inst, !ack || json_is_true(ack),
					  &err);
	reply_result(call->reply, ret, &err);
}

static void route_balloon_hint_status(struct api_call *call)
{
	struct tern_error err;

	reply_json_or_fault(
		call, instance_balloon_hint_status(call->inst, &err), &err);
}

/* PATCH /balloon/hinting/stop: a body, if any, is not read (as in
 * Firecracker). */
static void route_balloon_hint_stop(struct api_call *call)
{
	struct tern_error err;
	int ret = instance_balloon_hint_stop(call->inst, &err);

	reply_result(call->reply, ret, &err);
}

static const struct json_field hotplug_update_fields[] = {
	{"requested_size_mib", JSON_FIELD_INT, 1, 0, 4294967295LL},
};

/* Firecracker's /hotplug/memory: PUT before start, PATCH and GET after. */
static void route_memory_hotplug(struct api_call *call)
{
	struct tern_error err;
	int ret;

	if (!strcmp(call->method, "GET")) {
		reply_json_or_fault(
			call, instance_memory_hotplug_status(call->inst, &err),
			&err);
	} else if (!strcmp(call->method, "PUT")) {
		configure(call, INSTANCE_SET_MEMORY_HOTPLUG);
	} else if (JSON_FIELDS_CHECK(call->body, "hotplug/memory",
				     hotplug_update_fields, 0, &err)) {
		api_reply_fault(call->reply, 400, err.message);
	} else {
		ret = instance_memory_hotplug_request(
			call->inst,
			json_integer_value(json_object_get(
				call->body, "requested_size_mib")),
			&err);
		reply_result(call->reply, ret, &err);
	}
}

static void route_entropy(struct api_call *call)
{
	configure(call, INSTANCE_SET_ENTROPY);
}

/* GET, PUT and PATCH /mmds, before and after start. The body is the
 * metadata itself: any JSON. Over the size limit is Firecracker's 413. */
static void route_mmds(struct api_call *call)
{
	struct tern_error err;
	int ret;

	if (!strcmp(call->method, "GET")) {
		reply_json_or_fault(call, instance_mmds_get(call->inst, &err),
				    &err);
		return;
	}
	if (!strcmp(call->method, "PUT"))
		ret = instance_mmds_put(call->inst, call->body, &err);
	else
		ret = instance_mmds_patch(call->inst, call->body, &err);
	if (ret == -EFBIG)
		api_reply_fault(call->reply, 413, err.message);
	else
		reply_result(call->reply, ret, &err);
}

static void route_mmds_config(struct api_call *call)
{
	const json_t *version = json_object_get(call->body, "version");

	configure(call, INSTANCE_SET_MMDS);
	/* Firecracker deprecates V1 (also when version is left out). */
	if (call->reply->status == 204 &&
	    (!json_is_string(version) ||
	     !strcmp(json_string_value(version), "V1")))
		call->reply->deprecation =
			"PUT /mmds/config: V1 is deprecated. Use V2 instead.";
}

static void route_describe(struct api_call *call)
{
	reply_json(
		call->reply,
		json_pack("{s:s, s:s, s:s, s:s}", "id", call->inst->id, "state",
			  instance_state_name(instance_get_state(call->inst)),
			  "vmm_version", TERN_VERSION, "app_name", "tern"));
}

static void route_version(struct api_call *call)
{
	/* Firecracker's FirecrackerVersion has this one field: the API
	 * version tern follows. tern's own version is GET /'s
	 * vmm_version, beside app_name "tern". */
	reply_json(call->reply,
		   json_pack("{s:s}", "firecracker_version",
			     TERN_FIRECRACKER_API_VERSION));
}

static void configure(struct api_call *call, enum instance_setting what)
{
	struct tern_error err;
	int ret = instance_configure(call->inst, what, call->body, &err);

	reply_result(call->reply, ret, &err);
}

static void route_machine(struct api_call *call)
{
	if (!strcmp(call->method, "GET"))
		reply_json(call->reply, instance_export_machine(call->inst));
	else
		configure(call,
			  strcmp(call->method, "PUT") ? INSTANCE_PATCH_MACHINE
						      : INSTANCE_SET_MACHINE);
	/* Firecracker deprecates the static templates' field (even "None")
	 * in favour of PUT /cpu-config, whatever the outcome. */
	if (strcmp(call->method, "GET") &&
	    json_object_get(call->body, "cpu_template"))
		call->reply->deprecation = strcmp(call->method, "PUT")
			? "PATCH /machine-config: cpu_template field "
			  "is deprecated."
			: "PUT /machine-config: cpu_template field is "
			  "deprecated.";
}

static void route_boot_source(struct api_call *call)
{
	configure(call, INSTANCE_SET_BOOT_SOURCE);
}

static void route_logger(struct api_call *call)
{
	configure(call, INSTANCE_SET_LOGGER);
}

static void route_serial(struct api_call *call)
{
	configure(call, INSTANCE_SET_SERIAL);
}

static void route_cpu_config(struct api_call *call)
{
	configure(call, INSTANCE_SET_CPU_CONFIG);
}

static void route_metrics(struct api_call *call)
{
	if (!strcmp(call->method, "PUT")) {
		configure(call, INSTANCE_SET_METRICS);
		return;
	}
	call->reply->body = metrics_render_prometheus(&call->inst->metrics);
	if (!call->reply->body) {
		api_reply_fault(call->reply, 500, "out of memory");
		return;
	}
	call->reply->status = 200;
	call->reply->content_type = "text/plain; version=0.0.4";
}

static void route_vm_config(struct api_call *call)
{
	reply_json(call->reply, instance_export_config(call->inst));
}

static const struct json_field action_fields[] = {
	{"action_type", JSON_FIELD_STRING, 1, 0, 0},
};

static void route_actions(struct api_call *call)
{
	struct tern_error err;
	const char *action;
	int ret = JSON_FIELDS_CHECK(call->body, "actions", action_fields, 0,
				    &err);

	if (ret) {
		reply_result(call->reply, ret, &err);
		return;
	}
	action = json_string_value(json_object_get(call->body, "action_type"));
	if (!strcmp(action, "InstanceStart"))
		ret = instance_start(call->inst, &err);
	else if (!strcmp(action, "SendCtrlAltDel"))
		ret = instance_send_ctrl_alt_del(call->inst, &err);
	else if (!strcmp(action, "SendPowerButton"))
		ret = instance_send_power_button(call->inst, &err);
	else if (!strcmp(action, "FlushMetrics"))
		ret = instance_flush_metrics(call->inst, &err);
	else
		ret = tern_error_set(&err, EINVAL,
				     "actions.action_type '%.64s': use "
				     "InstanceStart, SendCtrlAltDel, "
				     "SendPowerButton or FlushMetrics",
				     action);
	reply_result(call->reply, ret, &err);
}

static const struct json_field vm_fields[] = {
	{"state", JSON_FIELD_STRING, 1, 0, 0},
};

static void route_vm(struct api_call *call)
{
	struct tern_error err;
	const char *state;
	int ret = JSON_FIELDS_CHECK(call->body, "vm", vm_fields, 0, &err);

	if (!ret) {
		state = json_string_value(json_object_get(call->body, "state"));
		if (!strcmp(state, "Paused"))
			ret = instance_pause(call->inst, &err);
		else if (!strcmp(state, "Resumed"))
			ret = instance_resume(call->inst, &err);
		else
			ret = tern_error_set(&err, EINVAL,
					     "vm.state '%.64s': use Paused or "
					     "Resumed",
					     state);
	}
	reply_result(call->reply, ret, &err);
}

static const struct json_field snapshot_create_fields[] = {
	{"snapshot_path", JSON_FIELD_STRING, 1, 0, 0},
	{"mem_file_path", JSON_FIELD_STRING, 1, 0, 0},
	{"snapshot_type", JSON_FIELD_STRING, 0, 0, 0},
	{"version", JSON_FIELD_STRING, 0, 0, 0},
};

static const char *body_string(struct api_call *call, const char *key)
{
	return json_string_value(json_object_get(call->body, key));
}

static void route_snapshot_create(struct api_call *call)
{
	struct tern_error err;
	int ret = JSON_FIELDS_CHECK(call->body, "snapshot/create",
				    snapshot_create_fields, 0, &err);

	if (!ret)
		ret = instance_snapshot_create(
			call->inst, body_string(call, "snapshot_path"),
			body_string(call, "mem_file_path"),
			body_string(call, "snapshot_type"), &err);
	reply_result(call->reply, ret, &err);
}

/* Firecracker's shape: mem_backend {backend_path, backend_type File or
 * Uffd}, or the older mem_file_path. */
static const struct json_field snapshot_load_fields[] = {
	{"snapshot_path", JSON_FIELD_STRING, 1, 0, 0},
	{"mem_backend", JSON_FIELD_OBJECT, 0, 0, 0},
	{"mem_file_path", JSON_FIELD_STRING, 0, 0, 0},
	{"resume_vm", JSON_FIELD_BOOL, 0, 0, 0},
	{"enable_diff_snapshots", JSON_FIELD_BOOL, 0, 0, 0},
	{"track_dirty_pages", JSON_FIELD_BOOL, 0, 0, 0},
	{"clock_realtime", JSON_FIELD_BOOL, 0, 0, 0},
	{"network_overrides", JSON_FIELD_ARRAY, 0, 0, 0},
	{"vsock_override", JSON_FIELD_OBJECT, 0, 0, 0},
};

static const struct json_field network_override_fields[] = {
	{"iface_id", JSON_FIELD_STRING, 1, 0, 0},
	{"host_dev_name", JSON_FIELD_STRING, 1, 0, 0},
};

static const struct json_field vsock_override_fields[] = {
	{"uds_path", JSON_FIELD_STRING, 1, 0, 0},
};

/* network_overrides, vsock_override and the flags into options; the
 * strings stay the body's. */
static int snapshot_load_options(const json_t *body,
				 struct snapshot_load_net_override *nets,
				 struct snapshot_load_options *options,
				 struct tern_error *err)
{
	const json_t *list = json_object_get(body, "network_overrides");
	const json_t *vsock = json_object_get(body, "vsock_override");
	const json_t *dirty = json_object_get(body, "track_dirty_pages");
	const json_t *diff = json_object_get(body, "enable_diff_snapshots");
	const json_t *item;
	size_t i;
	int ret = 0;

	options->resume = json_is_true(json_object_get(body, "resume_vm"));
	options->clock_realtime =
		json_is_true(json_object_get(body, "clock_realtime"));
	options->track_dirty_pages = dirty && !json_is_null(dirty)
		? json_is_true(dirty)
		: diff && !json_is_null(diff) ? json_is_true(diff)
					      : -1;
	if (json_array_size(list) > VM_MAX_NETS)
		return tern_error_set(err, EINVAL,
				      "snapshot/load.network_overrides: more "
				      "than %d interfaces",
				      VM_MAX_NETS);
	json_array_foreach(list, i, item)
	{
		ret = JSON_FIELDS_CHECK(item,
					"snapshot/load.network_overrides[]",
					network_override_fields, 0, err);
		if (ret)
			return ret;
		nets[i].iface_id =
			json_string_value(json_object_get(item, "iface_id"));
		nets[i].host_dev_name = json_string_value(
			json_object_get(item, "host_dev_name"));
	}
	options->net_overrides = nets;
	options->net_override_count = (int)json_array_size(list);
	if (vsock && !json_is_null(vsock)) {
		ret = JSON_FIELDS_CHECK(vsock, "snapshot/load.vsock_override",
					vsock_override_fields, 0, err);
		if (!ret)
			options->vsock_uds_path = json_string_value(
				json_object_get(vsock, "uds_path"));
	}
	return ret;
}

static const struct json_field mem_backend_fields[] = {
	{"backend_path", JSON_FIELD_STRING, 1, 0, 0},
	{"backend_type", JSON_FIELD_STRING, 1, 0, 0},
};

static void route_snapshot_load(struct api_call *call)
{
	struct snapshot_load_net_override nets[VM_MAX_NETS];
	struct snapshot_load_options options = {0};
	struct tern_error err;
	const json_t *backend;
	const char *mem_path;
	int uffd = 0;
	int ret = JSON_FIELDS_CHECK(call->body, "snapshot/load",
				    snapshot_load_fields, 0, &err);

	if (ret) {
		reply_result(call->reply, ret, &err);
		return;
	}
	backend = json_object_get(call->body, "mem_backend");
	mem_path = body_string(call, "mem_file_path");
	/* As Firecracker: mem_file_path is deprecated for mem_backend,
	 * and the header says so whatever the outcome. */
	if (mem_path)
		call->reply->deprecation = "PUT /snapshot/load: mem_file_path "
					   "field is deprecated.";
	if (backend && mem_path)
		ret = tern_error_set(&err, EINVAL,
				     "snapshot/load: give mem_backend or "
				     "mem_file_path, not both");
	else if (!backend && !mem_path)
		ret = tern_error_set(&err, EINVAL,
				     "snapshot/load: mem_backend is missing");
	else if (backend)
		ret = JSON_FIELDS_CHECK(backend, "snapshot/load.mem_backend",
					mem_backend_fields, 0, &err);
	if (!ret && backend) {
		const char *type = json_string_value(
			json_object_get(backend, "backend_type"));

		mem_path = json_string_value(
			json_object_get(backend, "backend_path"));
		uffd = !strcmp(type, "Uffd");
		if (strcmp(type, "File") && !uffd)
			ret = tern_error_set(&err, EINVAL,
					     "snapshot/load.mem_backend."
					     "backend_type '%.32s': use File "
					     "or Uffd",
					     type);
	}
	if (!ret)
		ret = snapshot_load_options(call->body, nets, &options, &err);
	options.mem_uffd = uffd;
	if (!ret)
		ret = instance_snapshot_load(call->inst,
					     body_string(call, "snapshot_path"),
					     mem_path, &options, &err);
	reply_result(call->reply, ret, &err);
}

static const struct json_field migration_fields[] = {
	{"destination", JSON_FIELD_STRING, 1, 0, 0},
	{"tls", JSON_FIELD_OBJECT, 0, 0, 0},
	{"insecure_plain_tcp", JSON_FIELD_BOOL, 0, 0, 0},
};

static const struct json_field migration_tls_fields[] = {
	{"ca_file", JSON_FIELD_STRING, 0, 0, 0},
	{"cert_file", JSON_FIELD_STRING, 0, 0, 0},
	{"key_file", JSON_FIELD_STRING, 0, 0, 0},
	{"psk_file", JSON_FIELD_STRING, 0, 0, 0},
};

static int tls_path(const json_t *tls, const char *key, char **out,
		    struct tern_error *err)
{
	const char *path = json_string_value(json_fields_get(tls, key));
	char field[32];

	if (!path)
		return 0;
	snprintf(field, sizeof(field), "migration.tls.%s", key);
	if (config_check_path(field, path, err))
		return -EINVAL;
	*out = strdup(path);
	return *out ? 0 : tern_error_set(err, ENOMEM, "out of memory");
}

/* PUT /migration's transport; none given: the one tern run was given. */
static int
migration_transport_from_body(const json_t *body,
			      struct migration_transport_config *transport,
			      struct tern_error *err)
{
	json_t *tls = json_fields_get(body, "tls");
	int ret = 0;

	memset(transport, 0, sizeof(*transport));
	transport->insecure_plain_tcp =
		json_is_true(json_fields_get(body, "insecure_plain_tcp"));
	if (tls)
		ret = JSON_FIELDS_CHECK(tls, "migration.tls",
					migration_tls_fields, 0, err);
	if (!ret && tls)
		ret = tls_path(tls, "ca_file", &transport->ca_file, err);
	if (!ret && tls)
		ret = tls_path(tls, "cert_file", &transport->cert_file, err);
	if (!ret && tls)
		ret = tls_path(tls, "key_file", &transport->key_file, err);
	if (!ret && tls)
		ret = tls_path(tls, "psk_file", &transport->psk_file, err);
	if (!ret && migration_transport_given(transport))
		ret = migration_transport_check(
			transport, "migration.tls",
			"migration.insecure_plain_tcp: true", err);
	return ret;
}

static void route_migration(struct api_call *call)
{
	struct migration_transport_config transport = {0};
	struct tern_error err = {{0}};
	int ret;

	if (!strcmp(call->method, "GET")) {
		json_t *doc = instance_export_migration(call->inst);

		if (!doc)
			tern_error_set(&err, ENOMEM, "out of memory");
		reply_json_or_fault(call, doc, &err);
		return;
	}
	ret = JSON_FIELDS_CHECK(call->body, "migration", migration_fields, 0,
				&err);
	if (!ret)
		ret = migration_transport_from_body(call->body, &transport,
						    &err);
	if (!ret)
		ret = instance_migrate(call->inst,
				       body_string(call, "destination"),
				       &transport, &err);
	migration_transport_config_free(&transport);
	reply_result(call->reply, ret, &err);
}

/* Methods allowed on a path, as a bit set. */
#define M_GET 1
#define M_PUT 2
#define M_PATCH 4
/* Not a method: PUT/PATCH may come without a body (call->body NULL). */
#define BODY_OPTIONAL 8

struct route {
	const char *path; /* a trailing '/' takes an {id} */
	unsigned methods;
	void (*handle)(struct api_call *call);
};

static const struct route routes[] = {
	{"/", M_GET, route_describe},
	{"/version", M_GET, route_version},
	{"/machine-config", M_GET | M_PUT | M_PATCH, route_machine},
	{"/boot-source", M_PUT, route_boot_source},
	{"/logger", M_PUT, route_logger},
	{"/metrics", M_GET | M_PUT, route_metrics},
	{"/serial", M_PUT, route_serial},
	{"/cpu-config", M_PUT, route_cpu_config},
	{"/actions", M_PUT, route_actions},
	{"/vm", M_PATCH, route_vm},
	{"/vm/config", M_GET, route_vm_config},
	{"/drives/", M_PUT | M_PATCH, route_drive},
	{"/pmem/", M_PUT | M_PATCH, route_pmem},
	{"/network-interfaces/", M_PUT | M_PATCH, route_network},
	{"/vsock", M_PUT, route_vsock},
	{"/balloon", M_GET | M_PUT | M_PATCH, route_balloon},
	{"/balloon/statistics", M_GET | M_PATCH, route_balloon_stats},
	{"/balloon/hinting/start", M_PATCH | BODY_OPTIONAL,
	 route_balloon_hint_start},
	{"/balloon/hinting/status", M_GET, route_balloon_hint_status},
	{"/balloon/hinting/stop", M_PATCH | BODY_OPTIONAL,
	 route_balloon_hint_stop},
	{"/entropy", M_PUT, route_entropy},
	{"/hotplug/memory", M_GET | M_PUT | M_PATCH, route_memory_hotplug},
	{"/mmds", M_GET | M_PUT | M_PATCH, route_mmds},
	{"/mmds/config", M_PUT, route_mmds_config},
	{"/snapshot/create", M_PUT, route_snapshot_create},
	{"/snapshot/load", M_PUT, route_snapshot_load},
	{"/migration", M_GET | M_PUT, route_migration},
};

static unsigned method_bit(const char *method)
{
	if (!strcmp(method, "GET"))
		return M_GET;
	if (!strcmp(method, "PUT"))
		return M_PUT;
	if (!strcmp(method, "PATCH"))
		return M_PATCH;
	return 0;
}

/* Firecracker's ids: 1 to 64 letters, digits and underscores. */
static int valid_id(const char *id)
{
	size_t len = strlen(id);

	if (len == 0 || len > ID_MAX)
		return 0;
	for (const char *p = id; *p; p++)
		if (!(*p == '_' || (*p >= '0' && *p <= '9') ||
		      (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return 0;
	return 1;
}

static const struct route *find_route(const char *path, const char **id)
{
	*id = NULL;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *pattern = routes[i].path;
		size_t len = strlen(pattern);

		if (len > 1 && pattern[len - 1] == '/') {
			if (!strncmp(path, pattern, len)) {
				*id = path + len;
				return &routes[i];
			}
		} else if (!strcmp(path, pattern)) {
			return &routes[i];
		}
	}
	return NULL;
}

/* No body, or only white space (curl -d "" sends none). */
static int is_blank(const char *body, size_t len)
{
	for (size_t i = 0; body && i < len; i++)
		if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' &&
		    body[i] != '\n')
			return 0;
	return 1;
}

static int parse_body(struct api_call *call, const char *body, size_t len)
{
	json_error_t json_err;
	char message[256];

	if (!body || len == 0) {
		api_reply_fault(call->reply, 400,
				"this request needs a JSON body");
		return -1;
	}
	call->body = json_loadb(body, len, JSON_REJECT_DUPLICATES, &json_err);
	if (!call->body) {
		snprintf(message, sizeof(message),
			 "malformed JSON body (line %d, column %d): %s",
			 json_err.line, json_err.column, json_err.text);
		api_reply_fault(call->reply, 400, message);
		return -1;
	}
	return 0;
}

void api_route(struct instance *inst, const char *method, const char *path,
	       const char *body, size_t body_len, struct api_reply *reply)
{
	struct api_call call = {inst, method, path, NULL, NULL, reply};
	const struct route *route = find_route(path, &call.id);
	unsigned bit = method_bit(method);
	char message[256];

	memset(reply, 0, sizeof(*reply));
	if (!route || !(route->methods & bit)) {
		snprintf(message, sizeof(message),
			 "invalid request method and/or path: %.16s %.200s",
			 method, path);
		api_reply_fault(reply, 400, message);
		return;
	}
	if (call.id && !valid_id(call.id)) {
		snprintf(message, sizeof(message),
			 "invalid id '%.80s' in the path: use 1 to %d letters, "
			 "digits or underscores",
			 call.id, ID_MAX);
		api_reply_fault(reply, 400, message);
		return;
	}
	if (bit != M_GET &&
	    !((route->methods & BODY_OPTIONAL) && is_blank(body, body_len)) &&
	    parse_body(&call, body, body_len))
		return;
	route->handle(&call);
	json_decref(call.body);
}
