#include "ternd/vm_definition.h"

#include <errno.h>
#include <string.h>

#include "config/config_check.h"
#include "config/vm_config_json.h"

static int name_char_ok(char c, int first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return !first && (c == '.' || c == '_' || c == '-');
}

int vm_name_check(const char *name, struct tern_error *err)
{
	size_t len = strnlen(name, VM_NAME_MAX + 1);

	if (len == 0 || len > VM_NAME_MAX)
		return tern_error_set(err, EINVAL,
				      "a VM name has 1 to %d characters",
				      VM_NAME_MAX);
	for (size_t i = 0; i < len; i++)
		if (!name_char_ok(name[i], i == 0))
			return tern_error_set(
				err, EINVAL,
				"VM name '%.64s': only letters, digits, '.', "
				"'_' and '-' are allowed, and it starts with a "
				"letter or a digit",
				name);
	return 0;
}

int vm_definition_check(const json_t *doc, struct vm_summary *summary,
			struct tern_error *err)
{
	struct vm_config config;
	struct vm_config_storage storage = {0};
	int ret;

	if (!json_is_object(doc))
		return tern_error_set(
			err, EINVAL,
			"a VM definition is a JSON object (tern's "
			"configuration document)");
	vm_config_set_defaults(&config);
	ret = vm_config_json_apply_document(&config, &storage, doc, err);
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
