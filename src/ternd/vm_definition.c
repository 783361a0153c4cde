#include "ternd/vm_definition.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/config_check.h"
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

int vm_definition_check(const json_t *doc, const char *pool_dir,
			struct vm_summary *summary, struct vm_volume_refs *refs,
			struct tern_error *err)
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
	vm_config_set_defaults(&config);
	ret = vm_config_json_apply_document(&config, &storage, resolved, err);
	json_decref(resolved);
	if (ret) {
		vm_config_storage_free(&storage);
		return -EINVAL;
	}
	if (!config.kernel_path) {
		vm_config_storage_free(&storage);
		return tern_error_set(err, EINVAL,
				      "the definition names no kernel "
				      "(\"boot-source\": "
				      "{\"kernel_image_path\": ...})");
	}
	if (summary) {
		summary->vcpus = config.cpu_count;
		summary->memory_mib = config.memory_size >> 20;
	}
	vm_config_storage_free(&storage);
	return 0;
}
