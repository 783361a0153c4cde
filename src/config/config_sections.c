#include "config/config_sections.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* cpu-config before mmds-config: the order the phase AFTER rows run in. */
const struct config_section config_sections[] = {
	{CONFIG_SECTION_BOOT_SOURCE, CONFIG_SECTION_ANY_ORDER, NULL,
	 CONFIG_SECTION_NULL_JUDGED_LATER, vm_config_section_boot_source,
	 CONFIG_SECTION_RECORD_APPLIED, NULL},
	{CONFIG_SECTION_MACHINE, CONFIG_SECTION_ANY_ORDER, NULL,
	 CONFIG_SECTION_EMPTY_APPLIED, vm_config_section_machine,
	 CONFIG_SECTION_RECORD_FIRST, NULL},
	{CONFIG_SECTION_LOGGER, CONFIG_SECTION_ANY_ORDER, NULL,
	 CONFIG_SECTION_EMPTY_APPLIED, vm_config_section_logger,
	 CONFIG_SECTION_RECORD_HOST_SETTING, NULL},
	{CONFIG_SECTION_METRICS, CONFIG_SECTION_ANY_ORDER, NULL,
	 CONFIG_SECTION_EMPTY_SKIPPED, vm_config_section_metrics,
	 CONFIG_SECTION_RECORD_HOST_SETTING, NULL},
	{CONFIG_SECTION_ENTROPY, CONFIG_SECTION_ANY_ORDER, NULL,
	 CONFIG_SECTION_NULL_SKIPPED, vm_config_section_entropy,
	 CONFIG_SECTION_RECORD_APPLIED, NULL},
	{CONFIG_SECTION_VSOCK, CONFIG_SECTION_ANY_ORDER, NULL,
	 CONFIG_SECTION_NULL_SKIPPED, vm_config_section_vsock,
	 CONFIG_SECTION_RECORD_APPLIED, NULL},
	{CONFIG_SECTION_NETS, CONFIG_SECTION_ANY_ORDER, NULL,
	 CONFIG_SECTION_NULL_SKIPPED, vm_config_section_nets,
	 CONFIG_SECTION_RECORD_APPLIED, NULL},
	{CONFIG_SECTION_DRIVES, CONFIG_SECTION_ANY_ORDER, NULL,
	 CONFIG_SECTION_NULL_SKIPPED, vm_config_section_drives,
	 CONFIG_SECTION_RECORD_APPLIED, NULL},
	{CONFIG_SECTION_PMEM, CONFIG_SECTION_ANY_ORDER, NULL,
	 CONFIG_SECTION_NULL_SKIPPED, vm_config_section_pmem,
	 CONFIG_SECTION_RECORD_APPLIED, NULL},
	/* Checked against the memory size once both are read, whatever
	 * the document's order. */
	{CONFIG_SECTION_BALLOON, CONFIG_SECTION_ANY_ORDER, NULL,
	 CONFIG_SECTION_NULL_SKIPPED, vm_config_section_balloon,
	 CONFIG_SECTION_RECORD_APPLIED, vm_config_section_balloon_fits},
	{CONFIG_SECTION_MEMORY_HOTPLUG, CONFIG_SECTION_ANY_ORDER, NULL,
	 CONFIG_SECTION_EMPTY_SKIPPED, vm_config_section_memory_hotplug,
	 CONFIG_SECTION_RECORD_APPLIED, NULL},
	/* A custom template replaces machine-config's cpu_template, as in
	 * Firecracker. */
	{CONFIG_SECTION_CPU_CONFIG, CONFIG_SECTION_AFTER,
	 CONFIG_SECTION_MACHINE, CONFIG_SECTION_NULL_SKIPPED,
	 vm_config_section_cpu_config, CONFIG_SECTION_RECORD_APPLIED, NULL},
	/* It names the interfaces. Firecracker keeps the MMDS's
	 * configuration (not its data) in a snapshot, and a restored VM
	 * serves it the same way. */
	{CONFIG_SECTION_MMDS, CONFIG_SECTION_AFTER, CONFIG_SECTION_NETS,
	 CONFIG_SECTION_NULL_SKIPPED, vm_config_section_mmds,
	 CONFIG_SECTION_RECORD_APPLIED, NULL},
	{CONFIG_SECTION_TERN, CONFIG_SECTION_ANY_ORDER, NULL,
	 CONFIG_SECTION_EMPTY_APPLIED, vm_config_section_tern,
	 CONFIG_SECTION_RECORD_APPLIED, NULL},
};

const size_t config_section_count =
	sizeof(config_sections) / sizeof(config_sections[0]);

const struct config_section *config_section_find(const char *name)
{
	for (size_t i = 0; i < config_section_count; i++)
		if (!strcmp(config_sections[i].name, name))
			return &config_sections[i];
	return NULL;
}

static int is_empty(const json_t *value)
{
	return json_is_null(value) ||
		(json_is_array(value) && json_array_size(value) == 0) ||
		(json_is_object(value) && json_object_size(value) == 0);
}

static int apply_value(const struct config_section *section,
		       struct vm_config *config,
		       struct vm_config_storage *storage, const json_t *value,
		       int flags, struct tern_error *err)
{
	int record = flags & CONFIG_SECTION_FROM_RECORD;

	/* The recording host's: not compared, not used. */
	if (record && section->record == CONFIG_SECTION_RECORD_HOST_SETTING)
		return json_is_object(value) || json_is_null(value)
			? 0
			: tern_error_set(err, EINVAL,
					 "%s: expected a JSON object",
					 section->name);
	switch (section->empty) {
	case CONFIG_SECTION_EMPTY_APPLIED:
		break;
	case CONFIG_SECTION_EMPTY_SKIPPED:
		if (record ? json_is_null(value) : is_empty(value))
			return 0;
		break;
	case CONFIG_SECTION_NULL_SKIPPED:
	case CONFIG_SECTION_NULL_JUDGED_LATER:
		if (json_is_null(value))
			return 0;
		break;
	}
	return section->apply(config, storage, value, flags, err);
}

static const struct config_section *read_first(int flags)
{
	if (!(flags & CONFIG_SECTION_FROM_RECORD))
		return NULL;
	for (size_t i = 0; i < config_section_count; i++)
		if (config_sections[i].record == CONFIG_SECTION_RECORD_FIRST)
			return &config_sections[i];
	return NULL;
}

/* A row of phase AFTER waits for the loop over the document, unless the
 * section it follows was read before that loop (a record's first). */
static int waits(const struct config_section *section,
		 const struct config_section *first)
{
	return section->phase == CONFIG_SECTION_AFTER &&
		!(first && !strcmp(section->after, first->name));
}

int config_sections_apply(struct vm_config *config,
			  struct vm_config_storage *storage, const json_t *doc,
			  int flags, struct tern_error *err)
{
	const struct config_section *first = read_first(flags);
	const struct config_section *section;
	const char *key;
	json_t *value;
	int ret = 0;

	if (first) {
		value = json_object_get(doc, first->name);
		if (!value)
			return tern_error_set(err, EINVAL, "%s is missing",
					      first->name);
		ret = apply_value(first, config, storage, value, flags, err);
		if (ret)
			return ret;
	}
	json_object_foreach((json_t *)doc, key, value)
	{
		section = config_section_find(key);
		if (!section)
			return tern_error_set(err, EINVAL,
					      "unknown section '%.64s'", key);
		if (section == first || waits(section, first))
			continue;
		ret = apply_value(section, config, storage, value, flags, err);
		if (ret)
			return ret;
	}
	for (size_t i = 0;
	     !(flags & CONFIG_SECTION_FROM_RECORD) && i < config_section_count;
	     i++) {
		section = &config_sections[i];
		value = json_object_get(doc, section->name);
		if (section->empty != CONFIG_SECTION_NULL_JUDGED_LATER ||
		    (value && !json_is_null(value)))
			continue;
		ret = section->apply(config, storage, value,
				     flags | CONFIG_SECTION_LATE, err);
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < config_section_count; i++) {
		section = &config_sections[i];
		value = json_object_get(doc, section->name);
		if (!value || !waits(section, first))
			continue;
		ret = apply_value(section, config, storage, value, flags, err);
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < config_section_count; i++) {
		section = &config_sections[i];
		ret = section->check ? section->check(config, err) : 0;
		if (ret)
			return ret;
	}
	return 0;
}

/* A whole document, in the order the table gives. */
static int apply_document(struct vm_config *config,
			  struct vm_config_storage *storage, const json_t *doc,
			  int unused, struct tern_error *err)
{
	if (!json_is_object(doc))
		return tern_error_set(err, EINVAL,
				      "the configuration must be a JSON "
				      "object");
	return config_sections_apply(config, storage, doc, 0, err);
}

int vm_config_json_apply_document(struct vm_config *config,
				  struct vm_config_storage *storage,
				  const json_t *doc, struct tern_error *err)
{
	return vm_config_json_apply_atomically(config, storage, apply_document,
					       doc, 0, err);
}

int vm_config_json_load_file(struct vm_config *config,
			     struct vm_config_storage *storage,
			     const char *path, struct tern_error *err)
{
	json_t *doc;
	int ret = vm_config_json_read_file(path, "config file", 0, &doc, err);

	if (ret)
		return ret;
	ret = vm_config_json_apply_document(config, storage, doc, err);
	json_decref(doc);
	if (ret) {
		char reason[sizeof(err->message)];

		snprintf(reason, sizeof(reason), "%s", err->message);
		tern_error_set(err, -ret, "config file %s: %s", path, reason);
	}
	return ret;
}
