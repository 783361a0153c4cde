/* Firecracker's MemoryHotplugConfig (PUT /hotplug/memory, the config
 * file's "memory-hotplug" section) <-> struct vm_memory_hotplug_config, and
 * tern's --memory-hotplug total=MiB[,slot=MiB][,block=MiB]. The sizes
 * follow Firecracker's rules (virtio/virtio_mem.h). */
#ifndef TERN_CONFIG_MEMORY_HOTPLUG_JSON_H
#define TERN_CONFIG_MEMORY_HOTPLUG_JSON_H

#include <jansson.h>

#include "util/error.h"
#include "vm/vm_config.h"

#define MEMORY_HOTPLUG_DEFAULT_SLOT_MIB 128
#define MEMORY_HOTPLUG_DEFAULT_BLOCK_MIB 2

/* total_size_mib (required), slot_size_mib (default 128), block_size_mib
 * (default 2); where names the object in errors. *out is set only on
 * success. */
int memory_hotplug_json_parse(const json_t *body, const char *where,
			      struct vm_memory_hotplug_config *out,
			      struct tern_error *err);

/* The section: null when there is no hotpluggable memory. */
json_t *memory_hotplug_json_export(const struct vm_memory_hotplug_config *c);

/* --memory-hotplug's text. */
int memory_hotplug_parse_option(const char *text,
				struct vm_memory_hotplug_config *out,
				struct tern_error *err);

#endif
