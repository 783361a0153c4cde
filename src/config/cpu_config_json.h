/* Firecracker's custom CPU template (its CpuConfig: PUT /cpu-config, the
 * config file's "cpu-config") <-> struct cpu_custom_template.
 *
 * The x86_64 fields: kvm_capabilities (["171", "!172"]), cpuid_modifiers
 * ({leaf, subleaf, flags, modifiers: [{register, bitmap}]}) and
 * msr_modifiers ({addr, bitmap}). Numbers are strings in hex ("0x1a"),
 * binary ("0b11") or decimal; bitmaps are "0b" and up to 32 (CPUID) or 64
 * (MSR) characters of 0, 1 and x. Everything is checked as hostile input:
 * the first problem is one message naming the field
 * ("cpu-config.cpuid_modifiers[2].modifiers[0].bitmap: ..."). */
#ifndef TERN_CONFIG_CPU_CONFIG_JSON_H
#define TERN_CONFIG_CPU_CONFIG_JSON_H

#include <jansson.h>

#include "cpu/cpu_modifiers.h"
#include "util/error.h"

/* Reads the three x86_64 lists of body (an object whose other fields the
 * caller has checked). *out is a new template (free()), or NULL when all
 * three lists are absent or empty. */
int cpu_config_json_parse(const json_t *body, const char *where,
			  struct cpu_custom_template **out,
			  struct tern_error *err);

/* The template in the same shape, with numbers in hex and full-width
 * bitmaps; NULL only when out of memory. */
json_t *cpu_config_json_export(const struct cpu_custom_template *tmpl);

#endif
