#include "ternd/vm_definition.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/config_check.h"
#include "ternd/network_definition.h"
#include "config/vm_config_json.h"

int vm_name_check(const char *name, struct tern_error *err)
{
	return ternd_name_check("VM", name, err);
}

/* One drive: "volume" checked, then swapped for "path_on_host". */
static int resolve_drive(json_t *drive, size_t index, const char *pool_dir,
			 struct vm_volume_refs *refs, struct tern_error *err)
{
	json_t *volume = json_object_get(drive, "volume");
	const char *name = json_string_value(volume);
	char path[4200];
	int ret;

	if (!volume)
		return 0;
	if (!name)
		return tern_error_set(err, EINVAL,
				      "drives[%zu].volume: expected a volume "
				      "name (a string)",
				      index);
	ret = ternd_name_check("volume", name, err);
	if (ret)
		return ret;
	if (json_object_get(drive, "path_on_host"))
		return tern_error_set(err, EINVAL,
				      "drives[%zu]: \"volume\" and "
				      "\"path_on_host\" name the same thing: "
				      "give one of them",
				      index);
	for (size_t i = 0; i < refs->count; i++)
		if (!strcmp(refs->names[i], name))
			return tern_error_set(err, EINVAL,
					      "volume '%s' is named by two "
					      "drives: each volume is one "
					      "disk",
					      name);
	if (refs->count == VM_MAX_DISKS)
		return tern_error_set(err, EINVAL, "more than %d drives",
				      VM_MAX_DISKS);
	snprintf(refs->names[refs->count++], sizeof(refs->names[0]), "%s",
		 name);
	snprintf(path, sizeof(path), "%s/%s", pool_dir ? pool_dir : "/pool",
		 name);
	if (json_object_set_new(drive, "path_on_host", json_string(path)) ||
	    json_object_del(drive, "volume"))
		return tern_error_set(err, ENOMEM, "out of memory");
	return 0;
}

json_t *vm_definition_resolve(const json_t *doc, const char *pool_dir,
			      struct vm_volume_refs *refs,
			      struct tern_error *err)
{
	struct vm_volume_refs local = {0};
	json_t *copy = json_deep_copy(doc), *drives, *drive;
	size_t i;

	if (!copy) {
		tern_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	drives = json_object_get(copy, "drives");
	/* Anything else wrong with "drives" is tern's to say. */
	json_array_foreach(drives, i, drive)
	{
		if (json_is_object(drive) &&
		    resolve_drive(drive, i, pool_dir, &local, err)) {
			json_decref(copy);
			return NULL;
		}
	}
	if (refs)
		*refs = local;
	return copy;
}

/* One interface: "network" checked, then its tap and MAC set. */
static int resolve_interface(json_t *iface, size_t index, const char *vm,
			     struct vm_network_refs *refs,
			     struct tern_error *err)
{
	json_t *network = json_object_get(iface, "network");
	const char *name = json_string_value(network);
	json_t *mac = json_object_get(iface, "guest_mac");
	size_t k = refs->count;
	uint8_t derived[6];
	int ret;

	if (!network)
		return 0;
	if (!name)
		return tern_error_set(err, EINVAL,
				      "network-interfaces[%zu].network: "
				      "expected a network name (a string)",
				      index);
	ret = ternd_name_check("network", name, err);
	if (ret)
		return ret;
	if (json_object_get(iface, "host_dev_name"))
		return tern_error_set(err, EINVAL,
				      "network-interfaces[%zu]: \"network\" "
				      "and \"host_dev_name\" both say where "
				      "the interface goes: give one of them "
				      "(ternd makes the tap for a network)",
				      index);
	if (k == VM_MAX_NETS)
		return tern_error_set(err, EINVAL, "more than %d interfaces",
				      VM_MAX_NETS);
	snprintf(refs->names[k], sizeof(refs->names[k]), "%s", name);
	network_tap_name(vm ? vm : "check", (unsigned)k, refs->taps[k]);
	if (json_is_string(mac)) {
		snprintf(refs->macs[k], sizeof(refs->macs[k]), "%s",
			 json_string_value(mac));
	} else if (!mac) {
		network_vm_mac(vm ? vm : "check", (unsigned)k, derived);
		network_mac_text(derived, refs->macs[k], sizeof(refs->macs[k]));
		if (json_object_set_new(iface, "guest_mac",
					json_string(refs->macs[k])))
			return tern_error_set(err, ENOMEM, "out of memory");
	}
	refs->count++;
	if (json_object_set_new(iface, "host_dev_name",
				json_string(refs->taps[k])) ||
	    json_object_del(iface, "network"))
		return tern_error_set(err, ENOMEM, "out of memory");
	return 0;
}

int vm_definition_resolve_networks(json_t *doc, const char *vm,
				   struct vm_network_refs *refs,
				   struct tern_error *err)
{
	struct vm_network_refs local = {0};
	json_t *ifaces = json_object_get(doc, "network-interfaces"), *iface;
	size_t i;
	int ret;

	/* Anything else wrong with the list is tern's to say. */
	json_array_foreach(ifaces, i, iface)
	{
		if (!json_is_object(iface))
			continue;
		ret = resolve_interface(iface, i, vm, &local, err);
		if (ret)
			return ret;
	}
	if (refs)
		*refs = local;
	return 0;
}

int vm_definition_check(const json_t *doc, const char *pool_dir,
			struct vm_summary *summary, struct vm_volume_refs *refs,
			struct vm_network_refs *nets, struct tern_error *err)
{
	struct vm_config config;
	struct vm_config_storage storage = {0};
	json_t *resolved;
	int ret;

	if (!json_is_object(doc))
		return tern_error_set(
			err, EINVAL,
			"a VM definition is a JSON object (tern's "
			"configuration document)");
	resolved = vm_definition_resolve(doc, pool_dir, refs, err);
	if (!resolved)
		return -EINVAL;
	if (vm_definition_resolve_networks(resolved, NULL, nets, err)) {
		json_decref(resolved);
		return -EINVAL;
	}
	vm_config_set_defaults(&config);
	ret = vm_config_json_apply_document(&config, &storage, resolved, err);
	json_decref(resolved);
	if (ret) {
		vm_config_release(&config);
		vm_config_storage_free(&storage);
		return -EINVAL;
	}
	/* A firmware VM boots from its disk: its document has boot-source
	 * null and tern.firmware instead (docs/firmware.md). */
	if (!config.kernel_path && !config.firmware_path) {
		vm_config_release(&config);
		vm_config_storage_free(&storage);
		return tern_error_set(err, EINVAL,
				      "the definition names no kernel "
				      "(\"boot-source\": "
				      "{\"kernel_image_path\": ...}) and no "
				      "firmware (\"tern\": {\"firmware\": "
				      "PATH})");
	}
	if (summary) {
		summary->vcpus = config.cpu_count;
		summary->memory_mib = config.memory_size >> 20;
	}
	vm_config_release(&config);
	vm_config_storage_free(&storage);
	return 0;
}
