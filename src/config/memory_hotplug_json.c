#include "config/memory_hotplug_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/json_fields.h"
#include "virtio/virtio_mem.h"

#define MIB (1ULL << 20)
/* Firecracker's fields are u32 MiB. */
#define MAX_MIB 4294967295LL

static const struct json_field hotplug_fields[] = {
	{"total_size_mib", JSON_FIELD_INT, 1, 0, MAX_MIB},
	{"slot_size_mib", JSON_FIELD_INT, 0, 0, MAX_MIB},
	{"block_size_mib", JSON_FIELD_INT, 0, 0, MAX_MIB},
};

static int check(const char *where, uint64_t total_mib, uint64_t slot_mib,
		 uint64_t block_mib, struct vm_memory_hotplug_config *out,
		 struct tern_error *err)
{
	const char *why;

	if (virtio_mem_check_sizes(total_mib * MIB, slot_mib * MIB,
				   block_mib * MIB, &why))
		return tern_error_set(err, EINVAL,
				      "%s: %s (total %llu MiB, slot %llu MiB, "
				      "block %llu MiB)",
				      where, why, (unsigned long long)total_mib,
				      (unsigned long long)slot_mib,
				      (unsigned long long)block_mib);
	*out = (struct vm_memory_hotplug_config){
		.total_bytes = total_mib * MIB,
		.slot_bytes = slot_mib * MIB,
		.block_bytes = block_mib * MIB,
	};
	return 0;
}

int memory_hotplug_json_parse(const json_t *body, const char *where,
			      struct vm_memory_hotplug_config *out,
			      struct tern_error *err)
{
	int ret = json_fields_check(
		body, where, hotplug_fields,
		sizeof(hotplug_fields) / sizeof(hotplug_fields[0]), 0, err);
	json_t *slot, *block;

	if (ret)
		return ret;
	slot = json_fields_get(body, "slot_size_mib");
	block = json_fields_get(body, "block_size_mib");
	return check(where,
		     (uint64_t)json_integer_value(
			     json_fields_get(body, "total_size_mib")),
		     slot ? (uint64_t)json_integer_value(slot)
			  : MEMORY_HOTPLUG_DEFAULT_SLOT_MIB,
		     block ? (uint64_t)json_integer_value(block)
			   : MEMORY_HOTPLUG_DEFAULT_BLOCK_MIB,
		     out, err);
}

json_t *memory_hotplug_json_export(const struct vm_memory_hotplug_config *c)
{
	if (!c->total_bytes)
		return json_null();
	return json_pack("{s:I, s:I, s:I}", "total_size_mib",
			 (json_int_t)(c->total_bytes / MIB), "slot_size_mib",
			 (json_int_t)(c->slot_bytes / MIB), "block_size_mib",
			 (json_int_t)(c->block_bytes / MIB));
}

/* A whole number of MiB, 1 to MAX_MIB. */
static int parse_mib(const char *text, size_t len, uint64_t *out)
{
	uint64_t n = 0;

	if (!len || len > 10)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(text[i] - '0');
	}
	if (!n || n > (uint64_t)MAX_MIB)
		return -1;
	*out = n;
	return 0;
}

int memory_hotplug_parse_option(const char *text,
				struct vm_memory_hotplug_config *out,
				struct tern_error *err)
{
	uint64_t total = 0, slot = MEMORY_HOTPLUG_DEFAULT_SLOT_MIB,
		 block = MEMORY_HOTPLUG_DEFAULT_BLOCK_MIB;
	const char *p = text;

	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		uint64_t *field = NULL;
		size_t key_len = eq ? (size_t)(eq - p) : 0;

		if (eq && key_len == 5 && !strncmp(p, "total", 5))
			field = &total;
		else if (eq && key_len == 4 && !strncmp(p, "slot", 4))
			field = &slot;
		else if (eq && key_len == 5 && !strncmp(p, "block", 5))
			field = &block;
		if (!field || parse_mib(eq + 1, len - key_len - 1, field))
			return tern_error_set(
				err, EINVAL,
				"--memory-hotplug '%.80s': expected "
				"total=MiB[,slot=MiB][,block=MiB] (whole MiB)",
				text);
		p += len + (end ? 1 : 0);
		if (end && !*p)
			break;
	}
	if (!total)
		return tern_error_set(err, EINVAL,
				      "--memory-hotplug '%.80s': total= is "
				      "required",
				      text);
	return check("--memory-hotplug", total, slot, block, out, err);
}
