#include "snapshot/config_state.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_check.h"
#include "config/json_fields.h"
#include "snapshot/snapshot_sections.h"
#include "vm/vm_virtio.h"

#define MIB (1ULL << 20)

int config_state_save(const struct vm_config *config, struct state_file *sf,
		      struct tern_error *err)
{
	json_t *doc = vm_config_json_export(config);
	char *text =
		doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int ret;

	json_decref(doc);
	if (!text)
		return tern_error_set(err, ENOMEM,
				      "out of memory for the snapshot's "
				      "configuration");
	if (strlen(text) > CONFIG_STATE_MAX_SIZE)
		ret = tern_error_set(err, EFBIG,
				     "the VM's configuration is too large for "
				     "a snapshot");
	else
		ret = state_file_add(sf, SNAP_VM_CONFIG, "vm.config", text,
				     strlen(text), err);
	free(text);
	return ret;
}

void config_state_free(struct snapshot_config *snap)
{
	vm_config_release(&snap->config);
	vm_config_storage_free(&snap->storage);
	memset(snap, 0, sizeof(*snap));
}

/* Every error from here on is about the file, not about a request: say
 * where the bad value came from. */
static int invalid(struct tern_error *err, int ret)
{
	char reason[sizeof(err->message)];

	snprintf(reason, sizeof(reason), "%s", err->message);
	return tern_error_set(err, ret < 0 ? -ret : EINVAL,
			      "the snapshot's configuration (section "
			      "vm.config) is invalid: %s",
			      reason);
}

static int keep(struct snapshot_config *snap, enum vm_config_string which,
		const json_t *value, const char **out, struct tern_error *err)
{
	char *copy = strdup(json_string_value(value));

	if (!copy)
		return tern_error_set(err, ENOMEM, "out of memory");
	free(snap->storage.strings[which]);
	snap->storage.strings[which] = copy;
	*out = copy;
	return 0;
}

static const struct json_field boot_fields[] = {
	{"kernel_image_path", JSON_FIELD_STRING, 0, 0, 0},
	{"initrd_path", JSON_FIELD_STRING, 0, 0, 0},
	{"boot_args", JSON_FIELD_STRING, 0, 0, 0},
};

/* Only recorded (GET /vm/config after a load shows it; the command line
 * decides an automatic transport): the kernel need not exist here. */
static int parse_boot_source(struct snapshot_config *snap, const json_t *body,
			     struct tern_error *err)
{
	int ret = JSON_FIELDS_CHECK(body, "boot-source", boot_fields, 0, err);
	json_t *value;

	value = ret ? NULL : json_fields_get(body, "kernel_image_path");
	if (value)
		ret = keep(snap, VM_CONFIG_STR_KERNEL, value,
			   &snap->config.kernel_path, err);
	value = ret ? NULL : json_fields_get(body, "initrd_path");
	if (value)
		ret = keep(snap, VM_CONFIG_STR_INITRD, value,
			   &snap->config.initrd_path, err);
	value = ret ? NULL : json_fields_get(body, "boot_args");
	if (value)
		ret = keep(snap, VM_CONFIG_STR_CMDLINE, value,
			   &snap->config.cmdline, err);
	return ret;
}

static const struct json_field drive_fields[] = {
	{"drive_id", JSON_FIELD_STRING, 1, 0, 0},
	{"path_on_host", JSON_FIELD_STRING, 1, 0, 0},
	{"is_root_device", JSON_FIELD_BOOL, 1, 0, 0},
	{"is_read_only", JSON_FIELD_BOOL, 1, 0, 0},
	{"cache_type", JSON_FIELD_STRING, 0, 0, 0},
	{"io_engine", JSON_FIELD_STRING, 0, 0, 0},
	{"partuuid", JSON_FIELD_STRING, 0, 0, 0},
};

/* Not through the config's own drive parser: that one opens the image,
 * which need not exist on this host. */
static int parse_drive(struct vm_config *config, const json_t *body,
		       struct tern_error *err)
{
	struct vm_disk_config *disk;
	const char *id, *path;
	char *copy;
	json_t *value;
	int ret = JSON_FIELDS_CHECK(body, "drives", drive_fields, 0, err);

	if (ret)
		return ret;
	if (config->disk_count >= VM_MAX_DISKS)
		return tern_error_set(err, EINVAL, "more than %d drives",
				      VM_MAX_DISKS);
	id = json_string_value(json_fields_get(body, "drive_id"));
	path = json_string_value(json_fields_get(body, "path_on_host"));
	ret = config_check_disk_id("drives.drive_id", id, err);
	if (ret)
		return ret;
	if (strlen(path) >= PATH_MAX)
		return tern_error_set(err, EINVAL,
				      "drives.path_on_host is longer than %d "
				      "bytes",
				      PATH_MAX - 1);
	for (int i = 0; i < config->disk_count; i++)
		if (!strcmp(config->disks[i].id, id))
			return tern_error_set(err, EINVAL,
					      "drive '%s' is listed twice", id);
	copy = vm_config_path_dup(path);
	if (!copy)
		return tern_error_set(err, ENOMEM, "out of memory");
	/* The slot owns its path even if the drive is refused below
	 * (vm_config_release frees every slot's). */
	disk = &config->disks[config->disk_count];
	free(disk->path);
	memset(disk, 0, sizeof(*disk));
	disk->path = copy;
	snprintf(disk->id, sizeof(disk->id), "%s", id);
	disk->root = json_is_true(json_fields_get(body, "is_root_device"));
	disk->readonly = json_is_true(json_fields_get(body, "is_read_only"));
	disk->cache = BLOCK_CACHE_WRITEBACK;
	disk->engine = BLOCK_ENGINE_AUTO;
	value = json_fields_get(body, "partuuid");
	if (value)
		ret = config_check_partuuid("drives.partuuid",
					    json_string_value(value), err);
	if (!ret && value)
		snprintf(disk->partuuid, sizeof(disk->partuuid), "%s",
			 json_string_value(value));
	if (ret)
		return ret;
	value = json_fields_get(body, "cache_type");
	if (value)
		ret = config_parse_disk_cache("drives.cache_type",
					      json_string_value(value),
					      &disk->cache, err);
	value = ret ? NULL : json_fields_get(body, "io_engine");
	if (value)
		ret = config_parse_disk_engine("drives.io_engine",
					       json_string_value(value),
					       &disk->engine, err);
	if (!ret)
		config->disk_count++;
	return ret;
}

static int parse_list(struct snapshot_config *snap, const json_t *list,
		      const char *what, struct tern_error *err)
{
	size_t i;
	json_t *item;
	int ret = 0;

	if (json_is_null(list))
		return 0;
	if (!json_is_array(list))
		return tern_error_set(err, EINVAL, "%s: expected a JSON array",
				      what);
	json_array_foreach(list, i, item)
	{
		if (!strcmp(what, "drives")) {
			ret = parse_drive(&snap->config, item, err);
		} else {
			int before = snap->config.net_count;

			/* Checks the id, tap name and MAC as PUT does. */
			ret = vm_config_json_apply_net(
				&snap->config, &snap->storage, item, err);
			if (!ret && snap->config.net_count == before)
				ret = tern_error_set(
					err, EINVAL,
					"network interface '%s' is listed "
					"twice",
					json_string_value(json_object_get(
						item, "iface_id")));
		}
		if (ret)
			return ret;
	}
	return 0;
}

static const struct json_field tern_fields[] = {
	{"serial", JSON_FIELD_STRING, 0, 0, 0},
	{"kvm_device", JSON_FIELD_STRING, 0, 0, 0},
	{"virtio_transport", JSON_FIELD_STRING, 1, 0, 0},
	/* The restoring tern's own choice (--on-reboot): not used. */
	{"on_reboot", JSON_FIELD_STRING, 0, 0, 0},
	/* The restored VM's boot source (its slot's size comes from the
	 * file there; the image itself from the firmware section). */
	{"firmware", JSON_FIELD_STRING, 0, 0, 0},
	/* The restored VM's ACPI (its devices: PM1 or not). */
	{"acpi", JSON_FIELD_STRING, 0, 0, 0},
};

/* The snapshot's pmem devices: their files hold their contents (shared
 * mappings), so a restored VM needs the same devices in the same order;
 * the paths may differ. */
static int parse_pmems(struct snapshot_config *snap, const json_t *list,
		       struct tern_error *err)
{
	size_t i;
	json_t *item;

	if (json_is_null(list))
		return 0;
	if (!json_is_array(list))
		return tern_error_set(err, EINVAL,
				      "pmem: expected a JSON array");
	json_array_foreach(list, i, item)
	{
		int ret = vm_config_json_apply_pmem_record(
			&snap->config, &snap->storage, item, err);

		if (ret)
			return ret;
	}
	return 0;
}

static int parse_section(struct snapshot_config *snap, const char *key,
			 const json_t *value, struct tern_error *err)
{
	struct vm_config *config = &snap->config;

	/* The host's own settings: not compared, not used. */
	if (!strcmp(key, "logger") || !strcmp(key, "metrics"))
		return json_is_object(value) || json_is_null(value)
			? 0
			: tern_error_set(err, EINVAL,
					 "%s: expected a JSON object", key);
	/* null: a firmware VM's. The loaded VM is checked as any other
	 * before it starts: a kernel or a firmware (config_check.c). */
	if (!strcmp(key, "boot-source"))
		return json_is_null(value)
			? 0
			: parse_boot_source(snap, value, err);
	if (!strcmp(key, "drives") || !strcmp(key, "network-interfaces"))
		return parse_list(snap, value, key, err);
	if (!strcmp(key, "vsock"))
		return json_is_null(value)
			? 0
			: vm_config_json_apply_vsock(config, &snap->storage,
						     value, err);
	if (!strcmp(key, "balloon"))
		return json_is_null(value)
			? 0
			: vm_config_json_apply_balloon(config, &snap->storage,
						       value, err);
	if (!strcmp(key, "entropy"))
		return json_is_null(value)
			? 0
			: vm_config_json_apply_entropy(config, &snap->storage,
						       value, err);
	if (!strcmp(key, "pmem"))
		return parse_pmems(snap, value, err);
	if (!strcmp(key, "memory-hotplug"))
		return json_is_null(value)
			? 0
			: vm_config_json_apply_memory_hotplug(
				  config, &snap->storage, value, err);
	/* After the interfaces it names (parse_document). */
	if (!strcmp(key, "mmds-config"))
		return 0;
	/* machine-config came first (parse_document): the custom template
	 * and the template it applies on top of replace its cpu_template. */
	if (!strcmp(key, "cpu-config"))
		return json_is_null(value)
			? 0
			: vm_config_json_apply_cpu_config(
				  config, &snap->storage, value, err);
	if (!strcmp(key, "tern")) {
		int ret = JSON_FIELDS_CHECK(value, "tern", tern_fields, 0, err);
		const json_t *firmware =
			ret ? NULL : json_fields_get(value, "firmware");

		if (firmware)
			ret = keep(snap, VM_CONFIG_STR_FIRMWARE, firmware,
				   &config->firmware_path, err);
		if (!ret && json_fields_get(value, "acpi"))
			ret = config_parse_acpi_mode(
				"tern.acpi",
				json_string_value(
					json_fields_get(value, "acpi")),
				&config->acpi_mode, err);
		return ret ? ret
			   : config_parse_transport(
				     "tern.virtio_transport",
				     json_string_value(json_object_get(
					     value, "virtio_transport")),
				     &config->virtio_transport, err);
	}
	return tern_error_set(err, EINVAL, "unknown section '%.64s'", key);
}

static int parse_document(struct snapshot_config *snap, const json_t *doc,
			  struct tern_error *err)
{
	const json_t *machine = json_object_get(doc, "machine-config");
	const char *key;
	json_t *value;
	int ret;

	if (!json_is_object(doc))
		return tern_error_set(err, EINVAL, "not a JSON object");
	if (!machine)
		return tern_error_set(err, EINVAL, "machine-config is missing");
	/* First: the balloon is checked against the memory size. */
	ret = vm_config_json_apply_machine(&snap->config, &snap->storage,
					   machine, 0, err);
	json_object_foreach((json_t *)doc, key, value)
	{
		if (ret)
			break;
		if (strcmp(key, "machine-config"))
			ret = parse_section(snap, key, value, err);
	}
	/* Firecracker keeps the MMDS's configuration (not its data) in a
	 * snapshot, and a restored VM serves it the same way. */
	value = json_object_get(doc, "mmds-config");
	if (!ret && value && !json_is_null(value))
		ret = vm_config_json_apply_mmds(&snap->config, &snap->storage,
						value, err);
	return ret;
}

int config_state_parse(const struct state_file *sf, struct snapshot_config *out,
		       struct tern_error *err)
{
	const struct state_section *s;
	json_error_t json_err;
	json_t *doc;
	int ret;

	memset(out, 0, sizeof(*out));
	vm_config_set_defaults(&out->config);
	s = state_file_find(sf, SNAP_VM_CONFIG);
	if (!s)
		return tern_error_set(err, ENOENT,
				      "the snapshot has no configuration "
				      "(section vm.config)");
	if (s->length == 0 || s->length > CONFIG_STATE_MAX_SIZE)
		return tern_error_set(err, EINVAL,
				      "the snapshot's configuration (section "
				      "vm.config) has %llu bytes (1 to %d)",
				      (unsigned long long)s->length,
				      CONFIG_STATE_MAX_SIZE);
	/* json_loadb stops at a NUL: one inside the text is an error. */
	if (memchr(s->data, '\0', s->length))
		return tern_error_set(err, EINVAL,
				      "the snapshot's configuration (section "
				      "vm.config) is not JSON text");
	doc = json_loadb((const char *)s->data, s->length,
			 JSON_REJECT_DUPLICATES, &json_err);
	if (!doc)
		return tern_error_set(err, EINVAL,
				      "the snapshot's configuration (section "
				      "vm.config) is not valid JSON: %s "
				      "(column %d)",
				      json_err.text, json_err.column);
	ret = parse_document(out, doc, err);
	json_decref(doc);
	if (ret)
		return invalid(err, ret);
	out->transport = vm_config_virtio_transport(&out->config);
	return 0;
}

static void list_ids(char *out, size_t size, int count,
		     const char *(*id)(const struct vm_config *, int),
		     const struct vm_config *config)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < count && used < size; i++) {
		int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "",
				 id(config, i));

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static const char *disk_id(const struct vm_config *config, int i)
{
	return config->disks[i].id;
}

static const char *net_id(const struct vm_config *config, int i)
{
	return config->nets[i].id;
}

#define HINT ": start tern with the snapshot's devices, in the same order"

static int compare_list(const struct snapshot_config *snap,
			const struct vm_config *current, const char *what,
			struct tern_error *err)
{
	const struct vm_config *old = &snap->config;
	int drives = !strcmp(what, "drives");
	int old_count = drives ? old->disk_count : old->net_count;
	int new_count = drives ? current->disk_count : current->net_count;
	const char *(*id)(const struct vm_config *, int) =
		drives ? disk_id : net_id;
	char old_ids[160], new_ids[160];

	list_ids(old_ids, sizeof(old_ids), old_count, id, old);
	list_ids(new_ids, sizeof(new_ids), new_count, id, current);
	if (old_count != new_count || strcmp(old_ids, new_ids))
		return tern_error_set(err, EINVAL,
				      "the snapshot's VM has %d %s (%s), this "
				      "VM %d (%s)" HINT,
				      old_count,
				      drives ? "drives" : "network interfaces",
				      old_ids, new_count, new_ids);
	for (int i = 0; drives && i < old_count; i++)
		if (!old->disks[i].readonly != !current->disks[i].readonly)
			return tern_error_set(
				err, EINVAL,
				"drive '%s' is %s in the snapshot and %s here",
				old->disks[i].id,
				old->disks[i].readonly ? "read-only"
						       : "writable",
				current->disks[i].readonly ? "read-only"
							   : "writable");
	for (int i = 0; !drives && i < old_count; i++) {
		const uint8_t *a = old->nets[i].mac, *b = current->nets[i].mac;

		if (memcmp(a, b, 6))
			return tern_error_set(
				err, EINVAL,
				"network interface '%s' has MAC "
				"%02x:%02x:%02x:%02x:%02x:%02x in the "
				"snapshot and %02x:%02x:%02x:%02x:%02x:%02x "
				"here: give it the snapshot's MAC",
				old->nets[i].id, a[0], a[1], a[2], a[3], a[4],
				a[5], b[0], b[1], b[2], b[3], b[4], b[5]);
	}
	return 0;
}

/* The hotpluggable region's place and geometry are the guest's: its
 * memory map and the device's state depend on them. */
static int compare_memory_hotplug(const struct vm_memory_hotplug_config *old,
				  const struct vm_memory_hotplug_config *cur,
				  struct tern_error *err)
{
	if (old->total_bytes == cur->total_bytes &&
	    old->slot_bytes == cur->slot_bytes &&
	    old->block_bytes == cur->block_bytes)
		return 0;
	if (!old->total_bytes || !cur->total_bytes)
		return tern_error_set(
			err, EINVAL,
			"the snapshot's VM has %s, this VM "
			"%s" HINT,
			old->total_bytes ? "hotpluggable memory"
					 : "no hotpluggable memory",
			cur->total_bytes ? "has some" : "has none");
	return tern_error_set(
		err, EINVAL,
		"the snapshot's hotpluggable memory is %llu MiB in slots of "
		"%llu MiB and blocks of %llu MiB, this VM's %llu, %llu and "
		"%llu MiB" HINT,
		(unsigned long long)(old->total_bytes >> 20),
		(unsigned long long)(old->slot_bytes >> 20),
		(unsigned long long)(old->block_bytes >> 20),
		(unsigned long long)(cur->total_bytes >> 20),
		(unsigned long long)(cur->slot_bytes >> 20),
		(unsigned long long)(cur->block_bytes >> 20));
}

static int compare_balloon(const struct vm_balloon_config *old,
			   const struct vm_balloon_config *cur,
			   struct tern_error *err)
{
	if (!old->enabled != !cur->enabled)
		return tern_error_set(err, EINVAL,
				      "the snapshot's VM has %s, this VM "
				      "%s" HINT,
				      old->enabled ? "a balloon" : "no balloon",
				      cur->enabled ? "has one" : "has none");
	if (!old->enabled)
		return 0;
	/* Both decide the features the guest negotiated. */
	if (!old->deflate_on_oom != !cur->deflate_on_oom ||
	    !old->free_page_reporting != !cur->free_page_reporting ||
	    !old->free_page_hinting != !cur->free_page_hinting)
		return tern_error_set(
			err, EINVAL,
			"the snapshot's balloon has deflate_on_oom %s, "
			"free_page_reporting %s and free_page_hinting %s, "
			"this VM's %s, %s and %s",
			old->deflate_on_oom ? "on" : "off",
			old->free_page_reporting ? "on" : "off",
			old->free_page_hinting ? "on" : "off",
			cur->deflate_on_oom ? "on" : "off",
			cur->free_page_reporting ? "on" : "off",
			cur->free_page_hinting ? "on" : "off");
	return 0;
}

int config_state_compare(const struct snapshot_config *snap,
			 const struct vm_config *current,
			 enum virtio_transport transport,
			 struct tern_error *err)
{
	const struct vm_config *old = &snap->config;
	int ret;

	/* Worded as vm_state_check words them. */
	if (old->cpu_count != current->cpu_count)
		return tern_error_set(err, EINVAL,
				      "the snapshot has %d vCPUs, this VM %d",
				      old->cpu_count, current->cpu_count);
	if (old->memory_size / MIB != current->memory_size / MIB)
		return tern_error_set(
			err, EINVAL,
			"the snapshot has %llu MiB of memory, this VM %llu MiB",
			(unsigned long long)(old->memory_size / MIB),
			(unsigned long long)(current->memory_size / MIB));
	if (snap->transport != transport &&
	    (old->disk_count || old->net_count || old->vsock_cid ||
	     old->pmem_count || old->balloon.enabled || old->virtio_rng ||
	     old->memory_hotplug.total_bytes))
		return tern_error_set(
			err, EINVAL,
			"the snapshot's virtio devices are on %s, this VM's on "
			"%s: start tern with --transport %s",
			config_transport_name(snap->transport),
			config_transport_name(transport),
			config_transport_name(snap->transport));
	ret = compare_list(snap, current, "drives", err);
	if (!ret)
		ret = compare_list(snap, current, "network-interfaces", err);
	if (ret)
		return ret;
	if (old->vsock_cid != current->vsock_cid) {
		if (!old->vsock_cid || !current->vsock_cid)
			return tern_error_set(
				err, EINVAL,
				"the snapshot's VM has %s, this VM "
				"%s" HINT,
				old->vsock_cid ? "a vsock device"
					       : "no vsock device",
				current->vsock_cid ? "has one" : "has none");
		return tern_error_set(
			err, EINVAL,
			"the snapshot's vsock has guest CID %llu, "
			"this VM's %llu: start tern with the "
			"snapshot's CID",
			(unsigned long long)old->vsock_cid,
			(unsigned long long)current->vsock_cid);
	}
	ret = compare_balloon(&old->balloon, &current->balloon, err);
	if (ret)
		return ret;
	if (old->pmem_count != current->pmem_count)
		return tern_error_set(err, EINVAL,
				      "the snapshot's VM has %d pmem devices, "
				      "this VM %d" HINT,
				      old->pmem_count, current->pmem_count);
	for (int i = 0; i < old->pmem_count; i++)
		if (strcmp(old->pmems[i].id, current->pmems[i].id) ||
		    old->pmems[i].readonly != current->pmems[i].readonly)
			return tern_error_set(
				err, EINVAL,
				"the snapshot's pmem device %d is '%s'%s, "
				"this VM's '%s'%s" HINT,
				i, old->pmems[i].id,
				old->pmems[i].readonly ? " (read-only)" : "",
				current->pmems[i].id,
				current->pmems[i].readonly ? " (read-only)"
							   : "");
	ret = compare_memory_hotplug(&old->memory_hotplug,
				     &current->memory_hotplug, err);
	if (ret)
		return ret;
	if (!old->virtio_rng != !current->virtio_rng)
		return tern_error_set(err, EINVAL,
				      "the snapshot's VM has %s (virtio-rng), "
				      "this VM %s" HINT,
				      old->virtio_rng ? "an entropy device"
						      : "no entropy device",
				      current->virtio_rng ? "has one"
							  : "has none");
	return 0;
}

int config_state_check(const struct vm *vm, const struct state_file *sf,
		       struct tern_error *err)
{
	struct snapshot_config snap;
	int ret = config_state_parse(sf, &snap, err);

	if (!ret)
		ret = config_state_compare(&snap, &vm->config,
					   vm_virtio_transport(vm), err);
	config_state_free(&snap);
	return ret;
}
