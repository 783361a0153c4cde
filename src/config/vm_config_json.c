#include "config/vm_config_json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_check.h"
#include "config/config_section_names.h"
#include "config/cpu_config_json.h"
#include "config/json_fields.h"
#include "config/memory_hotplug_json.h"
#include "config/rate_limiter_json.h"
#include "util/log.h"

#define MIB (1ULL << 20)

/* Where a section's value comes from (the `from` of the apply functions
 * that treat them differently). A config file or a document: every id
 * new, files checked when the VM boots. */
#define FROM_DOCUMENT 0
/* A PUT: a known id replaced, files opened now. */
#define FROM_API 1
/* A snapshot's record: no file need be on this host, and the host's own
 * settings are left alone. */
#define FROM_RECORD 2

/* A section's flags (CONFIG_SECTION_*) as a from. */
static int section_from(int flags)
{
	return flags & CONFIG_SECTION_FROM_RECORD ? FROM_RECORD : FROM_DOCUMENT;
}

void vm_config_storage_free(struct vm_config_storage *storage)
{
	for (int i = 0; i < VM_CONFIG_STR_COUNT; i++) {
		free(storage->strings[i]);
		storage->strings[i] = NULL;
	}
	free(storage->cpu_custom);
	storage->cpu_custom = NULL;
}

/* Copies a JSON string into the scratch storage slot; the config points at
 * the copy. */
static int keep_string(struct vm_config_storage *storage,
		       enum vm_config_string slot, const json_t *value,
		       const char **target, struct tern_error *err)
{
	char *copy = strdup(json_string_value(value));

	if (!copy)
		return tern_error_set(err, ENOMEM, "out of memory");
	free(storage->strings[slot]);
	storage->strings[slot] = copy;
	*target = copy;
	return 0;
}

int vm_config_json_apply_atomically(struct vm_config *config,
				    struct vm_config_storage *storage,
				    vm_config_apply_fn fn, const json_t *body,
				    int flag, struct tern_error *err)
{
	struct vm_config scratch;
	struct vm_config_storage fresh = {0};
	int ret;

	if (vm_config_copy(&scratch, config))
		return tern_error_set(err, ENOMEM, "out of memory");
	ret = fn(&scratch, &fresh, body, flag, err);
	if (ret) {
		vm_config_release(&scratch);
		vm_config_storage_free(&fresh);
		return ret;
	}
	for (int i = 0; i < VM_CONFIG_STR_COUNT; i++) {
		if (!fresh.strings[i])
			continue;
		free(storage->strings[i]);
		storage->strings[i] = fresh.strings[i];
	}
	if (fresh.cpu_custom) {
		free(storage->cpu_custom);
		storage->cpu_custom = fresh.cpu_custom;
	}
	vm_config_release(config);
	vm_config_move(config, &scratch);
	return 0;
}

static const struct json_field machine_fields[] = {
	{"vcpu_count", JSON_FIELD_INT, 1, 0, 0},
	{"mem_size_mib", JSON_FIELD_INT, 1, 0, 0},
	{"smt", JSON_FIELD_BOOL, 0, 0, 0},
	{"kvm_hyperv", JSON_FIELD_BOOL, 0, 0, 0},
	{"track_dirty_pages", JSON_FIELD_BOOL, 0, 0, 0},
	{"cpu_template", JSON_FIELD_STRING, 0, 0, 0},
	{"huge_pages", JSON_FIELD_STRING, 0, 0, 0},
};

/* Firecracker's static templates (C3, T2, T2S, T2CL, T2A) and tern's own
 * share one table; "None" means no masking (tern's "host"). Whether the
 * host's CPU can take the template is checked when the VM starts, as
 * Firecracker checks it (cpu_template_check_host). As in Firecracker, a
 * template set here replaces a custom template set before. */
static int apply_cpu_template(struct vm_config *config, const char *name,
			      struct tern_error *err)
{
	config->cpu_custom = NULL;
	if (!strcmp(name, "None")) {
		config->cpu_template = cpu_template_find("host");
		return 0;
	}
	if (!strcmp(name, "V1N1"))
		return tern_error_set(err, EINVAL,
				      "machine-config.cpu_template 'V1N1' is "
				      "Firecracker's template for ARM Neoverse "
				      "V1 (aarch64); tern runs x86_64 guests");
	return config_find_cpu_template("machine-config.cpu_template", name,
					&config->cpu_template, err);
}

static int apply_machine(struct vm_config *config,
			 struct vm_config_storage *storage, const json_t *body,
			 int partial, struct tern_error *err)
{
	json_t *value;
	int ret = JSON_FIELDS_CHECK(body, "machine-config", machine_fields,
				    partial, err);

	if (ret)
		return ret;
	/* A PUT without cpu_template keeps the template (static or custom),
	 * as Firecracker's does: a client may send /cpu-config first. */
	if (!partial) {
		config->smt = 0;
		config->kvm_hyperv = 0;
		config->track_dirty_pages = 0;
		config->huge_pages = VM_HUGE_PAGES_NONE;
	}
	value = json_fields_get(body, "vcpu_count");
	if (value) {
		long long n = json_integer_value(value);

		ret = config_check_cpu_count("machine-config.vcpu_count", n,
					     err);
		if (ret)
			return ret;
		config->cpu_count = (int)n;
	}
	value = json_fields_get(body, "mem_size_mib");
	if (value) {
		long long mib = json_integer_value(value);
		char shown[32];

		snprintf(shown, sizeof(shown), "%lld", mib);
		if (mib < 1 || (unsigned long long)mib > UINT64_MAX / MIB)
			return tern_error_set(err, EINVAL,
					      "machine-config.mem_size_mib %s "
					      "is not a usable size",
					      shown);
		ret = config_check_memory("machine-config.mem_size_mib",
					  (uint64_t)mib * MIB, shown, err);
		if (ret)
			return ret;
		config->memory_size = (uint64_t)mib * MIB;
	}
	value = json_fields_get(body, "smt");
	if (value)
		config->smt = json_is_true(value);
	/* Firecracker's rule on x86: with SMT, vCPUs come in pairs of
	 * threads, so their number is 1 or even. Checked on the result, so a
	 * PATCH of either field alone is held to it too. */
	if (config->smt && config->cpu_count > 1 && config->cpu_count % 2)
		return tern_error_set(err, EINVAL,
				      "machine-config.vcpu_count %d: with smt "
				      "true the vCPU count must be 1 or even",
				      config->cpu_count);
	value = json_fields_get(body, "track_dirty_pages");
	if (value)
		config->track_dirty_pages = json_is_true(value);
	/* Cloud Hypervisor's name (cpus.kvm_hyperv); tern's own field, which
	 * Firecracker does not have. */
	value = json_fields_get(body, "kvm_hyperv");
	if (value)
		config->kvm_hyperv = json_is_true(value);
	value = json_fields_get(body, "huge_pages");
	if (value) {
		ret = config_parse_huge_pages("machine-config.huge_pages",
					      json_string_value(value),
					      &config->huge_pages, err);
		if (ret)
			return ret;
	}
	/* On the result, as smt: a PATCH of either field alone is held to
	 * it too. */
	ret = config_check_huge_pages_fit(config, "machine-config.mem_size_mib",
					  err);
	if (ret)
		return ret;
	value = json_fields_get(body, "cpu_template");
	if (value)
		return apply_cpu_template(config, json_string_value(value),
					  err);
	(void)storage;
	return 0;
}

static const struct json_field boot_source_fields[] = {
	/* A record shows a VM before its kernel was set. */
	{"kernel_image_path", JSON_FIELD_STRING,
	 JSON_FIELD_REQUIRED_UNLESS_RECORD, 0, 0},
	{"initrd_path", JSON_FIELD_STRING, 0, 0, 0},
	{"boot_args", JSON_FIELD_STRING, 0, 0, 0},
};

static int check_boot_file(int open_files, const char *field,
			   const json_t *path, struct tern_error *err)
{
	return (open_files ? config_check_input_file : config_check_path)(
		field, json_string_value(path), err);
}

/* FROM_API: PUT /boot-source. A config file's paths are checked when the
 * VM boots instead, so a --kernel given beside the file can replace a
 * kernel the file names but this host lacks; a record's only recorded
 * (GET /vm/config after a load shows them; the command line decides an
 * automatic transport). */
static int apply_boot_source(struct vm_config *config,
			     struct vm_config_storage *storage,
			     const json_t *body, int from,
			     struct tern_error *err)
{
	int open_files = from == FROM_API;
	json_t *kernel, *initrd, *args;
	int ret = JSON_FIELDS_CHECK(
		body, "boot-source", boot_source_fields,
		from == FROM_RECORD ? JSON_FIELDS_RECORD : 0, err);

	if (ret)
		return ret;
	kernel = json_fields_get(body, "kernel_image_path");
	initrd = json_fields_get(body, "initrd_path");
	args = json_fields_get(body, "boot_args");
	/* As Firecracker: the API opens the files when the request comes,
	 * so a wrong path is this request's 400, not InstanceStart's. */
	if (from != FROM_RECORD)
		ret = check_boot_file(open_files,
				      "boot-source.kernel_image_path", kernel,
				      err);
	if (!ret && from != FROM_RECORD && initrd)
		ret = check_boot_file(open_files, "boot-source.initrd_path",
				      initrd, err);
	if (ret)
		return ret;
	/* PUT replaces the whole boot source: what is left out goes back to
	 * its default. */
	config->initrd_path = NULL;
	config->cmdline = VM_CONFIG_DEFAULT_CMDLINE;
	if (kernel)
		ret = keep_string(storage, VM_CONFIG_STR_KERNEL, kernel,
				  &config->kernel_path, err);
	if (!ret && initrd)
		ret = keep_string(storage, VM_CONFIG_STR_INITRD, initrd,
				  &config->initrd_path, err);
	if (!ret && args)
		ret = keep_string(storage, VM_CONFIG_STR_CMDLINE, args,
				  &config->cmdline, err);
	return ret;
}

static const struct json_field logger_fields[] = {
	{"log_path", JSON_FIELD_STRING, 0, 0, 0},
	{"level", JSON_FIELD_STRING, 0, 0, 0},
	{"show_level", JSON_FIELD_BOOL, 0, 0, 0},
	{"show_log_origin", JSON_FIELD_BOOL, 0, 0, 0},
	{"module", JSON_FIELD_STRING, 0, 0, 0},
};

int vm_config_section_logger(struct vm_config *config,
			     struct vm_config_storage *storage,
			     const json_t *body, int unused,
			     struct tern_error *err)
{
	json_t *value;
	int ret = JSON_FIELDS_CHECK(body, "logger", logger_fields, 0, err);

	if (ret)
		return ret;
	value = json_fields_get(body, "module");
	config->log_module = NULL;
	if (value) {
		ret = config_check_log_module("logger.module",
					      json_string_value(value), err);
		if (!ret)
			ret = keep_string(storage, VM_CONFIG_STR_LOG_MODULE,
					  value, &config->log_module, err);
		if (ret)
			return ret;
	}
	value = json_fields_get(body, "level");
	if (value) {
		ret = config_parse_log_level("logger.level",
					     json_string_value(value),
					     &config->log_level, err);
		if (ret)
			return ret;
	}
	value = json_fields_get(body, "show_level");
	config->log_show_level = value && json_is_true(value);
	value = json_fields_get(body, "show_log_origin");
	config->log_show_origin = value && json_is_true(value);
	value = json_fields_get(body, "log_path");
	config->log_path = NULL;
	if (value) {
		ret = config_check_path("logger.log_path",
					json_string_value(value), err);
		if (!ret)
			ret = keep_string(storage, VM_CONFIG_STR_LOG_PATH,
					  value, &config->log_path, err);
	}
	return ret;
}

static const struct json_field metrics_fields[] = {
	{"metrics_path", JSON_FIELD_STRING, 1, 0, 0},
	{"emit_id", JSON_FIELD_BOOL, 0, 0, 0},
	{"properties", JSON_FIELD_OBJECT, 0, 0, 0},
};

/* metrics.properties: operator-chosen string values copied into every
 * metrics line; kept as compact JSON text. */
static int keep_metrics_properties(struct vm_config *config,
				   struct vm_config_storage *storage,
				   const json_t *properties,
				   struct tern_error *err)
{
	const char *key;
	json_t *value;
	char *text;

	json_object_foreach((json_t *)properties, key, value)
	{
		if (!json_is_string(value))
			return tern_error_set(err, EINVAL,
					      "metrics.properties.%.64s: "
					      "expected a string",
					      key);
		if (!strcmp(key, "utc_timestamp_ms") || !strcmp(key, "id"))
			return tern_error_set(
				err, EINVAL,
				"metrics.properties.%s: this key is one of "
				"the metrics line's own",
				key);
	}
	text = json_dumps(properties, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return tern_error_set(err, ENOMEM, "out of memory");
	free(storage->strings[VM_CONFIG_STR_METRICS_PROPERTIES]);
	storage->strings[VM_CONFIG_STR_METRICS_PROPERTIES] = text;
	config->metrics_properties = text;
	return 0;
}

int vm_config_section_metrics(struct vm_config *config,
			      struct vm_config_storage *storage,
			      const json_t *body, int unused,
			      struct tern_error *err)
{
	json_t *path, *properties;
	int ret = JSON_FIELDS_CHECK(body, "metrics", metrics_fields, 0, err);

	if (ret)
		return ret;
	properties = json_fields_get(body, "properties");
	config->metrics_properties = NULL;
	if (properties) {
		ret = keep_metrics_properties(config, storage, properties, err);
		if (ret)
			return ret;
	}
	config->metrics_emit_id =
		json_is_true(json_fields_get(body, "emit_id"));
	path = json_fields_get(body, "metrics_path");
	ret = config_check_path("metrics.metrics_path", json_string_value(path),
				err);
	if (!ret)
		ret = keep_string(storage, VM_CONFIG_STR_METRICS_PATH, path,
				  &config->metrics_path, err);
	return ret;
}

static const struct json_field serial_fields[] = {
	{"serial_out_path", JSON_FIELD_STRING, 0, 0, 0},
	{"rate_limiter", JSON_FIELD_OBJECT, 0, 0, 0},
};

static int apply_serial(struct vm_config *config,
			struct vm_config_storage *storage, const json_t *body,
			int unused, struct tern_error *err)
{
	json_t *path;
	int ret = JSON_FIELDS_CHECK(body, "serial", serial_fields, 0, err);

	if (ret)
		return ret;
	ret = rate_limiter_json_parse_bucket(
		"serial.rate_limiter", json_fields_get(body, "rate_limiter"),
		&config->serial_rate_limiter, err);
	if (ret)
		return ret;
	path = json_fields_get(body, "serial_out_path");
	if (!path) {
		/* Firecracker's default: the console on tern's stdio. */
		config->serial_mode = SERIAL_MODE_STDIO;
		config->serial_path = NULL;
		return 0;
	}
	ret = config_check_path("serial.serial_out_path",
				json_string_value(path), err);
	if (!ret)
		ret = keep_string(storage, VM_CONFIG_STR_SERIAL, path,
				  &config->serial_path, err);
	if (!ret)
		config->serial_mode = SERIAL_MODE_FILE;
	return ret;
}

static const struct json_field cpu_config_fields[] = {
	{"kvm_capabilities", JSON_FIELD_ARRAY, 0, 0, 0},
	{"cpuid_modifiers", JSON_FIELD_ARRAY, 0, 0, 0},
	{"msr_modifiers", JSON_FIELD_ARRAY, 0, 0, 0},
	{"reg_modifiers", JSON_FIELD_ARRAY, 0, 0, 0},
	{"vcpu_features", JSON_FIELD_ARRAY, 0, 0, 0},
	{"template", JSON_FIELD_STRING, 0, 0, 0},
};

/* Firecracker's custom template on x86_64: kvm_capabilities,
 * cpuid_modifiers, msr_modifiers (config/cpu_config_json.c). Its ARM lists
 * mean nothing here: Firecracker on x86_64 refuses them as unknown fields;
 * tern takes them empty (an export may carry them so) and refuses them
 * with content. "template" is tern's: the template the modifiers apply on
 * top of. */
static int apply_cpu_config(struct vm_config *config,
			    struct vm_config_storage *storage,
			    const json_t *body, int unused,
			    struct tern_error *err)
{
	static const char *const arm_only[] = {"reg_modifiers",
					       "vcpu_features"};
	struct cpu_custom_template *custom = NULL;
	json_t *value;
	int ret = JSON_FIELDS_CHECK(body, "cpu-config", cpu_config_fields, 0,
				    err);

	if (ret)
		return ret;
	for (size_t i = 0; i < sizeof(arm_only) / sizeof(arm_only[0]); i++) {
		value = json_fields_get(body, arm_only[i]);
		if (value && json_array_size(value))
			return tern_error_set(
				err, EINVAL,
				"cpu-config.%s: ARM (aarch64) settings; tern "
				"runs x86_64 guests, where Firecracker refuses "
				"them too",
				arm_only[i]);
	}
	config->cpu_template = cpu_template_find("host");
	value = json_fields_get(body, "template");
	if (value)
		ret = config_find_cpu_template("cpu-config.template",
					       json_string_value(value),
					       &config->cpu_template, err);
	if (!ret)
		ret = cpu_config_json_parse(body, "cpu-config", &custom, err);
	if (ret)
		return ret;
	free(storage->cpu_custom);
	storage->cpu_custom = custom;
	config->cpu_custom = custom;
	return 0;
}

int vm_config_json_apply_cpu_config(struct vm_config *config,
				    struct vm_config_storage *storage,
				    const json_t *body, struct tern_error *err)
{
	return vm_config_json_apply_atomically(config, storage,
					       apply_cpu_config, body, 0, err);
}

static const struct json_field tern_fields[] = {
	{"serial", JSON_FIELD_STRING, 0, 0, 0},
	{"kvm_device", JSON_FIELD_STRING, 0, 0, 0},
	/* A record's decides where its virtio devices are. */
	{"virtio_transport", JSON_FIELD_STRING, JSON_FIELD_REQUIRED_IN_RECORD,
	 0, 0},
	{"on_reboot", JSON_FIELD_STRING, 0, 0, 0},
	{"firmware", JSON_FIELD_STRING, 0, 0, 0},
	{"acpi", JSON_FIELD_STRING, 0, 0, 0},
};

/* From a record only what the restored VM needs: its transport, its ACPI
 * (its devices: PM1 or not) and its firmware (the boot source; the slot's
 * size comes from the file there, the image from the snapshot's firmware
 * section). serial, kvm_device and on_reboot are the restoring tern's own
 * choice. */
int vm_config_section_tern(struct vm_config *config,
			   struct vm_config_storage *storage,
			   const json_t *body, int flags,
			   struct tern_error *err)
{
	int from = section_from(flags);
	int record = from == FROM_RECORD;
	json_t *value;
	int ret = JSON_FIELDS_CHECK(body, "tern", tern_fields,
				    record ? JSON_FIELDS_RECORD : 0, err);

	if (ret)
		return ret;
	value = record ? NULL : json_fields_get(body, "serial");
	if (value) {
		const char *serial = NULL;

		ret = keep_string(storage, VM_CONFIG_STR_SERIAL, value, &serial,
				  err);
		if (!ret)
			ret = config_parse_serial("tern.serial", serial, config,
						  err);
		if (ret)
			return ret;
	}
	value = json_fields_get(body, "virtio_transport");
	if (value) {
		ret = config_parse_transport("tern.virtio_transport",
					     json_string_value(value),
					     &config->virtio_transport, err);
		if (ret)
			return ret;
	}
	value = record ? NULL : json_fields_get(body, "on_reboot");
	if (value) {
		ret = config_parse_on_reboot("tern.on_reboot",
					     json_string_value(value),
					     &config->on_reboot, err);
		if (ret)
			return ret;
	}
	value = json_fields_get(body, "acpi");
	if (value) {
		ret = config_parse_acpi_mode("tern.acpi",
					     json_string_value(value),
					     &config->acpi_mode, err);
		if (ret)
			return ret;
	}
	value = json_fields_get(body, "firmware");
	if (value) {
		ret = record ? 0
			     : config_check_path("tern.firmware",
						 json_string_value(value), err);
		if (!ret)
			ret = keep_string(storage, VM_CONFIG_STR_FIRMWARE,
					  value, &config->firmware_path, err);
		if (ret)
			return ret;
	}
	value = record ? NULL : json_fields_get(body, "kvm_device");
	if (value) {
		ret = config_check_path("tern.kvm_device",
					json_string_value(value), err);
		if (!ret)
			ret = keep_string(storage, VM_CONFIG_STR_KVM_DEVICE,
					  value, &config->kvm_path, err);
	}
	return ret;
}

static const struct json_field net_fields[] = {
	{"iface_id", JSON_FIELD_STRING, 1, 0, 0},
	{"host_dev_name", JSON_FIELD_STRING, 1, 0, 0},
	{"guest_mac", JSON_FIELD_STRING, 0, 0, 0},
	{"mtu", JSON_FIELD_INT, 0, 68, 65535},
	{"rx_rate_limiter", JSON_FIELD_OBJECT, 0, 0, 0},
	{"tx_rate_limiter", JSON_FIELD_OBJECT, 0, 0, 0},
};

/* One Firecracker network interface is one tern --net: host_dev_name is
 * tap=, guest_mac mac= (absent: derived from the tap name), iface_id names
 * it (metrics, PUT of the same id replaces it). */
static int apply_net(struct vm_config *config,
		     struct vm_config_storage *storage, const json_t *body,
		     int replace, struct tern_error *err)
{
	struct vm_net_config net;
	const char *id, *tap;
	json_t *mac;
	int ret = JSON_FIELDS_CHECK(body, "network-interfaces", net_fields, 0,
				    err);

	if (ret)
		return ret;
	memset(&net, 0, sizeof(net));
	ret = rate_limiter_json_parse("network-interfaces.rx_rate_limiter",
				      json_fields_get(body, "rx_rate_limiter"),
				      &net.rx_rate_limiter, err);
	if (!ret)
		ret = rate_limiter_json_parse(
			"network-interfaces.tx_rate_limiter",
			json_fields_get(body, "tx_rate_limiter"),
			&net.tx_rate_limiter, err);
	if (ret)
		return ret;
	if (json_fields_get(body, "mtu"))
		net.mtu = (uint16_t)json_integer_value(
			json_fields_get(body, "mtu"));
	id = json_string_value(json_fields_get(body, "iface_id"));
	tap = json_string_value(json_fields_get(body, "host_dev_name"));
	if (!id[0] || strlen(id) > VM_NET_ID_MAX)
		return tern_error_set(err, EINVAL,
				      "network-interfaces.iface_id must be 1 "
				      "to %d characters",
				      VM_NET_ID_MAX);
	ret = config_check_tap_name("network-interfaces.host_dev_name", tap,
				    err);
	if (ret)
		return ret;
	snprintf(net.id, sizeof(net.id), "%s", id);
	snprintf(net.tap_name, sizeof(net.tap_name), "%s", tap);
	mac = json_fields_get(body, "guest_mac");
	if (mac) {
		ret = config_parse_mac("network-interfaces.guest_mac",
				       json_string_value(mac), net.mac, err);
		if (ret)
			return ret;
		net.mac_given = 1;
	}
	(void)storage;
	return config_add_net("network-interfaces", config, &net, replace, err);
}

int vm_config_json_apply_net(struct vm_config *config,
			     struct vm_config_storage *storage,
			     const json_t *body, struct tern_error *err)
{
	return vm_config_json_apply_atomically(config, storage, apply_net, body,
					       1, err);
}

/* A record's interfaces are checked as PUT checks them (id, tap name,
 * MAC), and one listed twice is named as such. */
int vm_config_section_nets(struct vm_config *config,
			   struct vm_config_storage *storage,
			   const json_t *list, int flags,
			   struct tern_error *err)
{
	int from = section_from(flags);
	int record = from == FROM_RECORD;
	size_t i;
	json_t *net;
	int ret;

	if (!json_is_array(list))
		return tern_error_set(err, EINVAL,
				      "network-interfaces: expected a JSON "
				      "array");
	config->net_count = 0; /* the document's list is the whole list */
	json_array_foreach(list, i, net)
	{
		int before = config->net_count;

		ret = apply_net(config, storage, net, record, err);
		if (!ret && record && config->net_count == before)
			ret = tern_error_set(
				err, EINVAL,
				"network interface '%s' is listed twice",
				json_string_value(
					json_object_get(net, "iface_id")));
		if (ret)
			return ret;
	}
	return 0;
}

/* A limiter that limits something, under key; none is left out. */
static void set_limiter(json_t *object, const char *key,
			const struct rate_limiter_config *config)
{
	json_t *limiter = rate_limiter_json_export(config);

	if (object && limiter)
		json_object_set_new(object, key, limiter);
}

/* guest_mac is always shown: a derived one is what the guest sees too. */
static json_t *export_nets(const struct vm_config *config)
{
	json_t *list = json_array();

	for (int i = 0; list && i < config->net_count; i++) {
		const struct vm_net_config *net = &config->nets[i];
		char mac[18];

		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
			 net->mac[0], net->mac[1], net->mac[2], net->mac[3],
			 net->mac[4], net->mac[5]);
		json_t *entry = json_pack("{s:s, s:s, s:s}", "iface_id",
					  net->id, "host_dev_name",
					  net->tap_name, "guest_mac", mac);

		if (entry && net->mtu)
			json_object_set_new(entry, "mtu",
					    json_integer(net->mtu));
		set_limiter(entry, "rx_rate_limiter", &net->rx_rate_limiter);
		set_limiter(entry, "tx_rate_limiter", &net->tx_rate_limiter);
		json_array_append_new(list, entry);
	}
	return list;
}

static const struct json_field vsock_fields[] = {
	{"guest_cid", JSON_FIELD_INT, 1, 0, 0},
	{"uds_path", JSON_FIELD_STRING, 1, 0, 0},
	{"vsock_id", JSON_FIELD_STRING, 0, 0, 0},
};

/* Firecracker's vsock is tern's --vsock: guest_cid is cid=, uds_path
 * socket= (host programs connect there and write "CONNECT <port>\n";
 * guest connections to port P reach uds_path_P). vsock_id, deprecated in
 * Firecracker, is accepted and not kept. */
int vm_config_section_vsock(struct vm_config *config,
			    struct vm_config_storage *storage,
			    const json_t *body, int unused,
			    struct tern_error *err)
{
	json_int_t cid;
	const char *path;
	int ret = JSON_FIELDS_CHECK(body, "vsock", vsock_fields, 0, err);

	if (ret)
		return ret;
	cid = json_integer_value(json_fields_get(body, "guest_cid"));
	path = json_string_value(json_fields_get(body, "uds_path"));
	ret = config_check_vsock_cid(
		"vsock.guest_cid ", cid < 0 ? 0 : (unsigned long long)cid, err);
	if (!ret)
		ret = config_check_vsock_path("vsock.uds_path", path, err);
	if (ret)
		return ret;
	config->vsock_cid = (uint64_t)cid;
	snprintf(config->vsock_socket_path, sizeof(config->vsock_socket_path),
		 "%s", path);
	(void)storage;
	return 0;
}

int vm_config_json_apply_vsock(struct vm_config *config,
			       struct vm_config_storage *storage,
			       const json_t *body, struct tern_error *err)
{
	return vm_config_json_apply_atomically(
		config, storage, vm_config_section_vsock, body, 0, err);
}

static const struct json_field drive_fields[] = {
	{"drive_id", JSON_FIELD_STRING, 1, 0, 0},
	{"is_root_device", JSON_FIELD_BOOL, 1, 0, 0},
	{"path_on_host", JSON_FIELD_STRING, 1, 0, 0},
	/* A record's: compared with the restoring VM's. */
	{"is_read_only", JSON_FIELD_BOOL, JSON_FIELD_REQUIRED_IN_RECORD, 0, 0},
	{"cache_type", JSON_FIELD_STRING, 0, 0, 0},
	{"io_engine", JSON_FIELD_STRING, 0, 0, 0},
	{"partuuid", JSON_FIELD_STRING, 0, 0, 0},
	{"rate_limiter", JSON_FIELD_OBJECT, 0, 0, 0},
	{"socket", JSON_FIELD_STRING, 0, 0, 0},
};

/* A record's drive, whose image need not exist on this host: kept
 * without looking at the file (config_add_disk stats it). */
static int add_recorded_disk(struct vm_config *config,
			     const struct vm_disk_config *disk,
			     struct tern_error *err)
{
	struct vm_disk_config *slot;
	char *copy;

	if (config->disk_count >= VM_MAX_DISKS)
		return tern_error_set(err, EINVAL, "more than %d drives",
				      VM_MAX_DISKS);
	for (int i = 0; i < config->disk_count; i++)
		if (!strcmp(config->disks[i].id, disk->id))
			return tern_error_set(err, EINVAL,
					      "drive '%s' is listed twice",
					      disk->id);
	copy = vm_config_path_dup(disk->path);
	if (!copy)
		return tern_error_set(err, ENOMEM, "out of memory");
	slot = &config->disks[config->disk_count++];
	free(slot->path);
	*slot = *disk;
	slot->path = copy;
	return 0;
}

/* One Firecracker drive is one tern --disk: drive_id is the disk's id (the
 * serial the guest reads), is_read_only readonly, cache_type cache=,
 * io_engine engine=. FROM_API: PUT /drives/{id} of a known id replaces that
 * disk; in a document or a record every id must be new. */
static int apply_drive(struct vm_config *config,
		       struct vm_config_storage *storage, const json_t *body,
		       int from, struct tern_error *err)
{
	struct vm_disk_config disk = {
		.cache = config->drive_cache_unsafe_by_default
			? BLOCK_CACHE_UNSAFE
			: BLOCK_CACHE_WRITEBACK,
		.engine = BLOCK_ENGINE_AUTO};
	int record = from == FROM_RECORD;
	const char *id, *path;
	json_t *value;
	int ret = JSON_FIELDS_CHECK(body, "drives", drive_fields,
				    record ? JSON_FIELDS_RECORD : 0, err);

	if (ret)
		return ret;
	ret = rate_limiter_json_parse("drives.rate_limiter",
				      json_fields_get(body, "rate_limiter"),
				      &disk.rate_limiter, err);
	if (ret)
		return ret;
	value = json_fields_get(body, "partuuid");
	if (value) {
		ret = config_check_partuuid("drives.partuuid",
					    json_string_value(value), err);
		if (ret)
			return ret;
		snprintf(disk.partuuid, sizeof(disk.partuuid), "%s",
			 json_string_value(value));
	}
	if (json_fields_get(body, "socket"))
		return tern_error_set(err, EINVAL,
				      "drives.socket: vhost-user drives are "
				      "not supported");
	id = json_string_value(json_fields_get(body, "drive_id"));
	path = json_string_value(json_fields_get(body, "path_on_host"));
	ret = config_check_disk_id("drives.drive_id", id, err);
	if (!ret && !record)
		ret = config_check_path("drives.path_on_host", path, err);
	if (ret)
		return ret;
	if (strlen(path) >= PATH_MAX)
		return tern_error_set(err, EINVAL,
				      "drives.path_on_host is longer than %d "
				      "bytes",
				      PATH_MAX - 1);
	snprintf(disk.id, sizeof(disk.id), "%s", id);
	disk.path = (char *)path; /* config_add_disk keeps its own copy */
	disk.root = json_is_true(json_fields_get(body, "is_root_device"));
	disk.readonly = json_is_true(json_fields_get(body, "is_read_only"));
	value = json_fields_get(body, "cache_type");
	if (value) {
		ret = config_parse_disk_cache("drives.cache_type",
					      json_string_value(value),
					      &disk.cache, err);
		if (ret)
			return ret;
	}
	value = json_fields_get(body, "io_engine");
	if (value) {
		ret = config_parse_disk_engine("drives.io_engine",
					       json_string_value(value),
					       &disk.engine, err);
		if (ret)
			return ret;
	}
	(void)storage;
	if (record)
		return add_recorded_disk(config, &disk, err);
	return config_add_disk("drives", config, &disk, from == FROM_API, err);
}

int vm_config_json_apply_drive(struct vm_config *config,
			       struct vm_config_storage *storage,
			       const json_t *body, struct tern_error *err)
{
	return vm_config_json_apply_atomically(config, storage, apply_drive,
					       body, FROM_API, err);
}

int vm_config_section_drives(struct vm_config *config,
			     struct vm_config_storage *storage,
			     const json_t *list, int flags,
			     struct tern_error *err)
{
	int from = section_from(flags);
	size_t i;
	json_t *drive;
	int ret;

	if (!json_is_array(list))
		return tern_error_set(err, EINVAL,
				      "drives: expected a JSON array");
	config->disk_count = 0; /* the document's list is the whole list */
	json_array_foreach(list, i, drive)
	{
		ret = apply_drive(config, storage, drive, from, err);
		if (ret)
			return ret;
	}
	return 0;
}

static json_t *export_drives(const struct vm_config *config)
{
	json_t *list = json_array();

	for (int i = 0; list && i < config->disk_count; i++) {
		const struct vm_disk_config *disk = &config->disks[i];
		json_t *drive = json_pack(
			"{s:s, s:s, s:b, s:b, s:s}", "drive_id", disk->id,
			"path_on_host", disk->path, "is_root_device",
			disk->root, "is_read_only", disk->readonly,
			"cache_type", config_disk_cache_name(disk->cache));

		if (drive && disk->partuuid[0])
			json_object_set_new(drive, "partuuid",
					    json_string(disk->partuuid));

		set_limiter(drive, "rate_limiter", &disk->rate_limiter);
		if (drive && disk->engine != BLOCK_ENGINE_AUTO)
			json_object_set_new(
				drive, "io_engine",
				json_string(
					disk->engine == BLOCK_ENGINE_IO_URING
						? "Async"
						: "Sync"));
		json_array_append_new(list, drive);
	}
	return list;
}

static const struct json_field pmem_fields[] = {
	{"id", JSON_FIELD_STRING, 1, 0, 0},
	{"path_on_host", JSON_FIELD_STRING, 1, 0, 0},
	{"root_device", JSON_FIELD_BOOL, 0, 0, 0},
	{"read_only", JSON_FIELD_BOOL, 0, 0, 0},
	{"rate_limiter", JSON_FIELD_OBJECT, 0, 0, 0},
};

/* One Firecracker pmem device. PUT /pmem/{id} of a known id replaces that
 * device, and its file is opened when the request comes (as Firecracker
 * does, and as PUT /drives); in a document every id must be new. Only one
 * may be the root device, as with drives. */
static int apply_pmem(struct vm_config *config,
		      struct vm_config_storage *storage, const json_t *body,
		      int from, struct tern_error *err)
{
	int replace = from != FROM_DOCUMENT;
	struct vm_pmem_config pmem = {0};
	const char *id, *path;
	int ret = JSON_FIELDS_CHECK(body, "pmem", pmem_fields, 0, err);

	if (ret)
		return ret;
	id = json_string_value(json_fields_get(body, "id"));
	path = json_string_value(json_fields_get(body, "path_on_host"));
	ret = config_check_disk_id("pmem.id", id, err);
	if (!ret)
		ret = from == FROM_API
			? config_check_input_file("pmem.path_on_host", path,
						  err)
			: config_check_path("pmem.path_on_host", path, err);
	if (!ret)
		ret = rate_limiter_json_parse(
			"pmem.rate_limiter",
			json_fields_get(body, "rate_limiter"),
			&pmem.rate_limiter, err);
	if (ret)
		return ret;
	if (strlen(path) >= PATH_MAX)
		return tern_error_set(err, EINVAL,
				      "pmem.path_on_host is longer than %d "
				      "bytes",
				      PATH_MAX - 1);
	snprintf(pmem.id, sizeof(pmem.id), "%s", id);
	pmem.path = (char *)path; /* config_add_pmem keeps its own copy */
	pmem.root = json_is_true(json_fields_get(body, "root_device"));
	pmem.readonly = json_is_true(json_fields_get(body, "read_only"));
	(void)storage;
	return config_add_pmem("pmem", config, &pmem, replace, err);
}

int vm_config_json_apply_pmem(struct vm_config *config,
			      struct vm_config_storage *storage,
			      const json_t *body, struct tern_error *err)
{
	return vm_config_json_apply_atomically(config, storage, apply_pmem,
					       body, FROM_API, err);
}

int vm_config_section_pmem(struct vm_config *config,
			   struct vm_config_storage *storage,
			   const json_t *list, int flags,
			   struct tern_error *err)
{
	int from = section_from(flags);
	size_t i;
	json_t *item;
	int ret;

	if (!json_is_array(list))
		return tern_error_set(err, EINVAL,
				      "pmem: expected a JSON array");
	config->pmem_count = 0; /* the document's list is the whole list */
	json_array_foreach(list, i, item)
	{
		ret = apply_pmem(config, storage, item, from, err);
		if (ret)
			return ret;
	}
	return 0;
}

static json_t *export_pmems(const struct vm_config *config)
{
	json_t *list = json_array();

	for (int i = 0; list && i < config->pmem_count; i++) {
		const struct vm_pmem_config *pmem = &config->pmems[i];
		json_t *entry =
			json_pack("{s:s, s:s, s:b, s:b}", "id", pmem->id,
				  "path_on_host", pmem->path, "root_device",
				  pmem->root, "read_only", pmem->readonly);

		set_limiter(entry, "rate_limiter", &pmem->rate_limiter);
		json_array_append_new(list, entry);
	}
	return list;
}

static const struct json_field balloon_fields[] = {
	{"amount_mib", JSON_FIELD_INT, 1, 0, 0x7fffffffLL},
	{"deflate_on_oom", JSON_FIELD_BOOL, 1, 0, 0},
	{"stats_polling_interval_s", JSON_FIELD_INT, 0, 0, 0x7fffffffLL},
	{"free_page_hinting", JSON_FIELD_BOOL, 0, 0, 0},
	{"free_page_reporting", JSON_FIELD_BOOL, 0, 0, 0},
};

/* Firecracker's balloon is tern's virtio-balloon (--balloon): amount_mib is
 * --balloon size=, stats_polling_interval_s stats=, free_page_reporting
 * free-page-reporting and free_page_hinting free-page-hinting. PUT replaces the
 * whole device configuration. */
int vm_config_section_balloon(struct vm_config *config,
			      struct vm_config_storage *storage,
			      const json_t *body, int unused,
			      struct tern_error *err)
{
	struct vm_balloon_config balloon = {.enabled = 1};
	json_t *value;
	long long n;
	char shown[32];
	int ret = JSON_FIELDS_CHECK(body, "balloon", balloon_fields, 0, err);

	if (ret)
		return ret;
	n = json_integer_value(json_fields_get(body, "amount_mib"));
	balloon.target_bytes = (uint64_t)n * MIB;
	value = json_fields_get(body, "stats_polling_interval_s");
	if (value) {
		n = json_integer_value(value);
		snprintf(shown, sizeof(shown), "%lld", n);
		ret = config_check_balloon_stats(
			"balloon.stats_polling_interval_s", n, shown, err);
		if (ret)
			return ret;
		balloon.stats_interval_s = (uint32_t)n;
	}
	balloon.deflate_on_oom =
		json_is_true(json_fields_get(body, "deflate_on_oom"));
	balloon.free_page_reporting =
		json_is_true(json_fields_get(body, "free_page_reporting"));
	balloon.free_page_hinting =
		json_is_true(json_fields_get(body, "free_page_hinting"));
	config->balloon = balloon;
	(void)storage;
	return config_check_balloon_fits(config, "balloon.amount_mib",
					 "machine-config.mem_size_mib", err);
}

int vm_config_json_apply_balloon(struct vm_config *config,
				 struct vm_config_storage *storage,
				 const json_t *body, struct tern_error *err)
{
	return vm_config_json_apply_atomically(
		config, storage, vm_config_section_balloon, body, 0, err);
}

int vm_config_section_memory_hotplug(struct vm_config *config,
				     struct vm_config_storage *storage,
				     const json_t *body, int unused,
				     struct tern_error *err)
{
	(void)storage;
	return memory_hotplug_json_parse(body, "memory-hotplug",
					 &config->memory_hotplug, err);
}

int vm_config_json_apply_memory_hotplug(struct vm_config *config,
					struct vm_config_storage *storage,
					const json_t *body,
					struct tern_error *err)
{
	return vm_config_json_apply_atomically(config, storage,
					       vm_config_section_memory_hotplug,
					       body, 0, err);
}

static const struct json_field entropy_fields[] = {
	{"rate_limiter", JSON_FIELD_OBJECT, 0, 0, 0},
};

/* Firecracker's entropy device is tern's virtio-rng (--rng): an object
 * adds it, null leaves it out. */
int vm_config_section_entropy(struct vm_config *config,
			      struct vm_config_storage *storage,
			      const json_t *body, int unused,
			      struct tern_error *err)
{
	int ret = JSON_FIELDS_CHECK(body, "entropy", entropy_fields, 0, err);

	if (ret)
		return ret;
	ret = rate_limiter_json_parse("entropy.rate_limiter",
				      json_fields_get(body, "rate_limiter"),
				      &config->rng_rate_limiter, err);
	if (ret)
		return ret;
	config->virtio_rng = 1;
	(void)storage;
	return 0;
}

int vm_config_json_apply_entropy(struct vm_config *config,
				 struct vm_config_storage *storage,
				 const json_t *body, struct tern_error *err)
{
	return vm_config_json_apply_atomically(
		config, storage, vm_config_section_entropy, body, 0, err);
}

static const struct json_field mmds_fields[] = {
	{"network_interfaces", JSON_FIELD_ARRAY, 1, 0, 0},
	{"ipv4_address", JSON_FIELD_STRING, 0, 0, 0},
	{"version", JSON_FIELD_STRING, 0, 0, 0},
	{"imds_compat", JSON_FIELD_BOOL, 0, 0, 0},
};

static bool net_id_exists(const struct vm_config *config, const char *id)
{
	for (int i = 0; i < config->net_count; i++)
		if (!strcmp(config->nets[i].id, id))
			return true;
	return false;
}

/* Firecracker's rule: 169.254.0.0/16 without its first and last /24,
 * which RFC 3927 2.1 reserves. */
static int parse_mmds_address(const char *text, uint32_t *ipv4,
			      struct tern_error *err)
{
	struct in_addr addr;
	const uint8_t *b = (const uint8_t *)&addr.s_addr;

	if (inet_pton(AF_INET, text, &addr) != 1 || b[0] != 169 ||
	    b[1] != 254 || b[2] == 0 || b[2] == 255)
		return tern_error_set(err, EINVAL,
				      "mmds-config.ipv4_address '%.64s': The "
				      "MMDS IPv4 address is not link local "
				      "(use 169.254.1.0 to 169.254.254.255)",
				      text);
	*ipv4 = addr.s_addr;
	return 0;
}

static int parse_mmds_interfaces(struct vm_mmds_config *mmds,
				 const struct vm_config *config,
				 const json_t *list, struct tern_error *err)
{
	size_t i;
	json_t *id;

	if (json_array_size(list) == 0)
		return tern_error_set(err, EINVAL,
				      "mmds-config.network_interfaces: The "
				      "list of network interface IDs that "
				      "allow forwarding MMDS requests is "
				      "empty.");
	json_array_foreach(list, i, id)
	{
		const char *name = json_string_value(id);

		if (!name || !net_id_exists(config, name))
			return tern_error_set(
				err, EINVAL,
				"mmds-config.network_interfaces: The list of "
				"network interface IDs provided contains at "
				"least one ID that does not correspond to any "
				"existing network interface ('%.64s').",
				name ? name : "(not a string)");
		if (mmds->iface_count == VM_MAX_NETS)
			return tern_error_set(err, EINVAL,
					      "mmds-config.network_interfaces: "
					      "at most %d",
					      VM_MAX_NETS);
		snprintf(mmds->ifaces[mmds->iface_count++],
			 sizeof(mmds->ifaces[0]), "%s", name);
	}
	return 0;
}

int vm_config_section_mmds(struct vm_config *config,
			   struct vm_config_storage *storage,
			   const json_t *body, int unused,
			   struct tern_error *err)
{
	struct vm_mmds_config mmds = {.enabled = 1, .version = 1};
	const char *version, *address;
	int ret = JSON_FIELDS_CHECK(body, "mmds-config", mmds_fields, 0, err);

	if (ret)
		return ret;
	version = json_string_value(json_fields_get(body, "version"));
	if (version && !strcmp(version, "V2"))
		mmds.version = 2;
	else if (version && strcmp(version, "V1"))
		return tern_error_set(err, EINVAL,
				      "mmds-config.version '%.32s': use V1 "
				      "or V2",
				      version);
	mmds.imds_compat = json_is_true(json_fields_get(body, "imds_compat"));
	address = json_string_value(json_fields_get(body, "ipv4_address"));
	ret = parse_mmds_address(address ? address : "169.254.169.254",
				 &mmds.ipv4, err);
	if (!ret)
		ret = parse_mmds_interfaces(
			&mmds, config,
			json_fields_get(body, "network_interfaces"), err);
	if (ret)
		return ret;
	config->mmds = mmds;
	(void)storage;
	return 0;
}

int vm_config_json_apply_mmds(struct vm_config *config,
			      struct vm_config_storage *storage,
			      const json_t *body, struct tern_error *err)
{
	return vm_config_json_apply_atomically(
		config, storage, vm_config_section_mmds, body, 0, err);
}

json_t *vm_config_json_export_mmds(const struct vm_config *config)
{
	const struct vm_mmds_config *mmds = &config->mmds;
	char address[INET_ADDRSTRLEN];
	json_t *list;

	if (!mmds->enabled)
		return json_null();
	list = json_array();
	for (int i = 0; list && i < mmds->iface_count; i++)
		json_array_append_new(list, json_string(mmds->ifaces[i]));
	inet_ntop(AF_INET, &mmds->ipv4, address, sizeof(address));
	return json_pack("{s:s, s:o, s:s, s:b}", "version",
			 mmds->version == 2 ? "V2" : "V1", "network_interfaces",
			 list ? list : json_array(), "ipv4_address", address,
			 "imds_compat", mmds->imds_compat);
}

int vm_config_json_read_file(const char *path, const char *what, int quiet,
			     json_t **doc, struct tern_error *err)
{
	json_error_t json_err;
	struct stat st;
	int fd;

	*doc = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tern_error_set(err, errno, "%s %s: %s", what, path,
				      strerror(errno));
	if (quiet && (fstat(fd, &st) || !S_ISREG(st.st_mode))) {
		close(fd);
		return tern_error_set(
			err, EINVAL, "%s %s is not a regular file", what, path);
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size > VM_CONFIG_FILE_MAX) {
		close(fd);
		return tern_error_set(err, EFBIG,
				      "%s %s is larger than %d bytes", what,
				      path, VM_CONFIG_FILE_MAX);
	}
	*doc = json_loadfd(fd, JSON_REJECT_DUPLICATES, &json_err);
	close(fd);
	if (!*doc && quiet)
		return tern_error_set(err, EINVAL,
				      "%s %s is not valid JSON (line %d column "
				      "%d)",
				      what, path, json_err.line,
				      json_err.column);
	if (!*doc)
		return tern_error_set(
			err, EINVAL, "%s %s, line %d column %d: %s", what, path,
			json_err.line, json_err.column, json_err.text);
	return 0;
}

/* Firecracker's config file takes cpu-config inline or as the path of a
 * JSON file holding it; a record's is inline (it opens no file). */
int vm_config_section_cpu_config(struct vm_config *config,
				 struct vm_config_storage *storage,
				 const json_t *value, int flags,
				 struct tern_error *err)
{
	json_t *doc;
	int ret;

	if (!json_is_string(value) || (flags & CONFIG_SECTION_FROM_RECORD))
		return apply_cpu_config(config, storage, value, 0, err);
	ret = config_check_path("cpu-config", json_string_value(value), err);
	if (ret)
		return ret;
	ret = vm_config_json_read_file(json_string_value(value),
				       "cpu-config file", 1, &doc, err);
	if (ret)
		return ret;
	ret = apply_cpu_config(config, storage, doc, 0, err);
	json_decref(doc);
	return ret;
}

/* null or absent (CONFIG_SECTION_LATE): a firmware boots from its disk,
 * with no boot source (the export shows it as null). */
int vm_config_section_boot_source(struct vm_config *config,
				  struct vm_config_storage *storage,
				  const json_t *value, int flags,
				  struct tern_error *err)
{
	if ((flags & CONFIG_SECTION_LATE) && config->firmware_path)
		return 0;
	if ((flags & CONFIG_SECTION_LATE) && !value)
		return tern_error_set(err, EINVAL,
				      "boot-source: required section is "
				      "missing");
	return apply_boot_source(config, storage, value, section_from(flags),
				 err);
}

int vm_config_section_machine(struct vm_config *config,
			      struct vm_config_storage *storage,
			      const json_t *value, int flags,
			      struct tern_error *err)
{
	(void)flags;
	return apply_machine(config, storage, value, 0, err);
}

int vm_config_section_balloon_fits(const struct vm_config *config,
				   struct tern_error *err)
{
	return config_check_balloon_fits(config, "balloon.amount_mib",
					 "machine-config.mem_size_mib", err);
}

int vm_config_json_apply_machine(struct vm_config *config,
				 struct vm_config_storage *storage,
				 const json_t *body, int partial,
				 struct tern_error *err)
{
	return vm_config_json_apply_atomically(config, storage, apply_machine,
					       body, partial, err);
}

int vm_config_json_apply_boot_source(struct vm_config *config,
				     struct vm_config_storage *storage,
				     const json_t *body, struct tern_error *err)
{
	return vm_config_json_apply_atomically(config, storage,
					       apply_boot_source, body, 1, err);
}

int vm_config_json_apply_logger(struct vm_config *config,
				struct vm_config_storage *storage,
				const json_t *body, struct tern_error *err)
{
	return vm_config_json_apply_atomically(
		config, storage, vm_config_section_logger, body, 0, err);
}

int vm_config_json_apply_metrics(struct vm_config *config,
				 struct vm_config_storage *storage,
				 const json_t *body, struct tern_error *err)
{
	return vm_config_json_apply_atomically(
		config, storage, vm_config_section_metrics, body, 0, err);
}

int vm_config_json_apply_serial(struct vm_config *config,
				struct vm_config_storage *storage,
				const json_t *body, struct tern_error *err)
{
	return vm_config_json_apply_atomically(config, storage, apply_serial,
					       body, 0, err);
}

json_t *vm_config_json_export_machine(const struct vm_config *config)
{
	const char *tmpl =
		config->cpu_template ? config->cpu_template->name : "host";
	json_t *machine = json_pack(
		"{s:i, s:I, s:b, s:b, s:s, s:s}", "vcpu_count",
		config->cpu_count, "mem_size_mib",
		(json_int_t)(config->memory_size / MIB), "smt", config->smt,
		"track_dirty_pages", config->track_dirty_pages, "huge_pages",
		config_huge_pages_name(config->huge_pages), "cpu_template",
		strcmp(tmpl, "host") ? tmpl : "None");

	/* Only when on: the document stays Firecracker's otherwise, and a
	 * snapshot without the field is a VM without the enlightenments. */
	if (machine && config->kvm_hyperv)
		json_object_set_new(machine, "kvm_hyperv", json_true());
	return machine;
}

static json_t *export_boot_source(const struct vm_config *config)
{
	json_t *boot = json_object();

	if (!boot)
		return NULL;
	if (config->kernel_path)
		json_object_set_new(boot, "kernel_image_path",
				    json_string(config->kernel_path));
	if (config->initrd_path)
		json_object_set_new(boot, "initrd_path",
				    json_string(config->initrd_path));
	json_object_set_new(
		boot, "boot_args",
		json_string(config->cmdline ? config->cmdline : ""));
	return boot;
}

static json_t *export_serial(const struct vm_config *config)
{
	switch (config->serial_mode) {
	case SERIAL_MODE_STDIO:
		return json_string("stdio");
	case SERIAL_MODE_NONE:
		return json_string("none");
	case SERIAL_MODE_FILE:
		return json_sprintf("file:%s", config->serial_path);
	case SERIAL_MODE_UNIX:
		return json_sprintf("unix:%s", config->serial_path);
	}
	return json_string("stdio");
}

json_t *vm_config_json_export_balloon(const struct vm_config *config)
{
	const struct vm_balloon_config *balloon = &config->balloon;

	if (!balloon->enabled)
		return json_null();
	/* --balloon size= may be a 4 KiB multiple below a MiB: amount_mib
	 * shows whole MiB, as Firecracker counts. */
	return json_pack("{s:I, s:b, s:I, s:b, s:b}", "amount_mib",
			 (json_int_t)(balloon->target_bytes / MIB),
			 "deflate_on_oom", balloon->deflate_on_oom,
			 "stats_polling_interval_s",
			 (json_int_t)balloon->stats_interval_s,
			 "free_page_hinting", balloon->free_page_hinting,
			 "free_page_reporting", balloon->free_page_reporting);
}

static json_t *export_logger(const struct vm_config *config)
{
	json_t *logger =
		json_pack("{s:s, s:b, s:b}", "level",
			  log_level_firecracker_name(config->log_level),
			  "show_level", config->log_show_level,
			  "show_log_origin", config->log_show_origin);

	if (logger && config->log_path)
		json_object_set_new(logger, "log_path",
				    json_string(config->log_path));
	if (logger && config->log_module)
		json_object_set_new(logger, "module",
				    json_string(config->log_module));
	return logger;
}

static json_t *export_metrics(const struct vm_config *config)
{
	json_t *metrics;

	if (!config->metrics_path)
		return json_null();
	metrics = json_pack("{s:s}", "metrics_path", config->metrics_path);
	if (metrics && config->metrics_emit_id)
		json_object_set_new(metrics, "emit_id", json_true());
	if (metrics && config->metrics_properties)
		json_object_set_new(
			metrics, "properties",
			json_loads(config->metrics_properties, 0, NULL));
	return metrics;
}

/* tern's own settings, with the value each has when nobody set it. */
static json_t *export_tern(const struct vm_config *config, int only_changed)
{
	const char *kvm = config->kvm_path ? config->kvm_path : "/dev/kvm";
	json_t *tern = json_object();

	if (!tern)
		return NULL;
	if (!only_changed || config->serial_mode != SERIAL_MODE_STDIO)
		json_object_set_new(tern, "serial", export_serial(config));
	if (!only_changed || strcmp(kvm, "/dev/kvm"))
		json_object_set_new(tern, "kvm_device", json_string(kvm));
	if (!only_changed || config->virtio_transport != VIRTIO_TRANSPORT_AUTO)
		json_object_set_new(tern, "virtio_transport",
				    json_string(config_transport_name(
					    config->virtio_transport)));
	if (!only_changed || config->on_reboot != VM_REBOOT_EXIT)
		json_object_set_new(
			tern, "on_reboot",
			json_string(config_on_reboot_name(config->on_reboot)));
	/* Shown only when chosen: absent means the boot's own (full with a
	 * firmware, reduced for a kernel). */
	if (config->acpi_mode != VM_ACPI_DEFAULT)
		json_object_set_new(
			tern, "acpi",
			json_string(config->acpi_mode == VM_ACPI_FULL
					    ? "full"
					    : "reduced"));
	/* No default to show: absent means no firmware. */
	if (config->firmware_path)
		json_object_set_new(tern, "firmware",
				    json_string(config->firmware_path));
	return tern;
}

static json_t *export_entropy(const struct vm_config *config)
{
	json_t *entropy;

	if (!config->virtio_rng)
		return json_null();
	entropy = json_object();
	set_limiter(entropy, "rate_limiter", &config->rng_rate_limiter);
	return entropy;
}

/* tern's "template" goes along when the modifiers apply on top of one of
 * tern's templates (not in Firecracker's shape, which has no such key). */
static json_t *export_cpu_config(const struct vm_config *config,
				 enum vm_config_export_shape shape)
{
	json_t *cpu = cpu_config_json_export(config->cpu_custom);
	const char *tmpl =
		config->cpu_template ? config->cpu_template->name : "host";

	if (cpu && shape != VM_CONFIG_EXPORT_FIRECRACKER &&
	    strcmp(tmpl, "host"))
		json_object_set_new(cpu, "template", json_string(tmpl));
	return cpu;
}

static json_t *export_document(const struct vm_config *config,
			       enum vm_config_export_shape shape)
{
	json_t *doc = json_object();
	json_t *tern;

	if (!doc)
		return NULL;
	/* Firecracker's BootSource requires kernel_image_path: before one is
	 * set the API shows no boot source (null), as an absent section. */
	json_object_set_new(doc, CONFIG_SECTION_BOOT_SOURCE,
			    config->kernel_path ||
					    (shape == VM_CONFIG_EXPORT_FULL &&
					     !config->firmware_path)
				    ? export_boot_source(config)
				    : json_null());
	json_object_set_new(doc, CONFIG_SECTION_MACHINE,
			    vm_config_json_export_machine(config));
	json_object_set_new(doc, CONFIG_SECTION_LOGGER, export_logger(config));
	json_object_set_new(doc, CONFIG_SECTION_METRICS,
			    export_metrics(config));
	json_object_set_new(doc, CONFIG_SECTION_DRIVES, export_drives(config));
	json_object_set_new(doc, CONFIG_SECTION_PMEM, export_pmems(config));
	json_object_set_new(doc, CONFIG_SECTION_NETS, export_nets(config));
	json_object_set_new(doc, CONFIG_SECTION_VSOCK,
			    config->vsock_cid
				    ? json_pack("{s:I, s:s}", "guest_cid",
						(json_int_t)config->vsock_cid,
						"uds_path",
						config->vsock_socket_path)
				    : json_null());
	json_object_set_new(doc, CONFIG_SECTION_BALLOON,
			    vm_config_json_export_balloon(config));
	json_object_set_new(
		doc, CONFIG_SECTION_MEMORY_HOTPLUG,
		memory_hotplug_json_export(&config->memory_hotplug));
	json_object_set_new(doc, CONFIG_SECTION_ENTROPY,
			    export_entropy(config));
	json_object_set_new(doc, CONFIG_SECTION_MMDS,
			    vm_config_json_export_mmds(config));
	/* The custom template: what PUT /cpu-config set, in the same shape,
	 * so the snapshot's record and GET /vm/config carry it. */
	if (config->cpu_custom)
		json_object_set_new(doc, CONFIG_SECTION_CPU_CONFIG,
				    export_cpu_config(config, shape));
	if (shape == VM_CONFIG_EXPORT_FIRECRACKER)
		return doc;
	tern = export_tern(config, shape == VM_CONFIG_EXPORT_API);
	if (tern && json_object_size(tern))
		json_object_set_new(doc, CONFIG_SECTION_TERN, tern);
	else
		json_decref(tern);
	return doc;
}

json_t *vm_config_json_export(const struct vm_config *config)
{
	return export_document(config, VM_CONFIG_EXPORT_FULL);
}

json_t *vm_config_json_export_shaped(const struct vm_config *config,
				     enum vm_config_export_shape shape)
{
	return export_document(config, shape);
}
