/* Bit-level CPU modifiers: the data of Firecracker's CPU templates, static
 * (C3, T2, ...) and custom (PUT /cpu-config). A modifier names a CPUID
 * register or an MSR and, through a bitmap of '0', '1' and 'x', which of its
 * bits to clear, which to set and which to leave as the host has them.
 *
 * Here a bitmap is a pair: mask (the bits the modifier decides) and value
 * (what those bits become); applying it is (reg & ~mask) | (value & mask). */
#ifndef TERN_CPU_CPU_MODIFIERS_H
#define TERN_CPU_CPU_MODIFIERS_H

#include <stdint.h>

enum cpuid_register { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

struct cpuid_modifier {
	uint32_t leaf;
	uint32_t subleaf;
	/* KVM's entry flags (KVM_CPUID_FLAG_*), written to the entry as
	 * Firecracker does. */
	uint32_t flags;
	enum cpuid_register reg;
	uint32_t mask;
	uint32_t value;
};

struct msr_modifier {
	uint32_t addr;
	uint64_t mask;
	uint64_t value;
};

/* "171": KVM_CHECK_EXTENSION(171) must be positive before the VM starts;
 * "!171": not required (tern's own required capabilities stay required:
 * it cannot run without them). */
struct kvm_cap_modifier {
	uint32_t cap;
	int removed;
};

struct cpu_modifiers {
	const struct cpuid_modifier *cpuid;
	int cpuid_count;
	const struct msr_modifier *msrs;
	int msr_count;
	const struct kvm_cap_modifier *caps;
	int cap_count;
};

/* The most of each a custom template may hold: a whole dump of a host's
 * CPUID (every leaf, four registers each) and MSRs fits. */
#define CPU_CUSTOM_MAX_CPUID 1024
#define CPU_CUSTOM_MAX_MSRS 256
#define CPU_CUSTOM_MAX_CAPS 64

/* A custom CPU template (PUT /cpu-config), owned by whoever parsed it. */
struct cpu_custom_template {
	struct cpu_modifiers mods; /* points into the arrays below */
	struct cpuid_modifier cpuid[CPU_CUSTOM_MAX_CPUID];
	struct msr_modifier msrs[CPU_CUSTOM_MAX_MSRS];
	struct kvm_cap_modifier caps[CPU_CUSTOM_MAX_CAPS];
};

/* Parses Firecracker's bitmap text: an optional "0b", then at most width
 * characters of '0', '1' and 'x' for the highest bit first, with '_' as a
 * separator anywhere; a shorter bitmap leaves the high bits as they are
 * ('x'). Returns 0, or -EINVAL for an empty, too long or foreign-character
 * bitmap. */
int cpu_bitmap_parse(const char *text, unsigned width, uint64_t *mask,
		     uint64_t *value);

/* Writes "0b" and width characters ('x' where mask is clear) and a NUL to
 * out, which holds at least width + 3 bytes. */
void cpu_bitmap_format(uint64_t mask, uint64_t value, unsigned width,
		       char *out);

static inline uint64_t cpu_bitmap_apply(uint64_t reg, uint64_t mask,
					uint64_t value)
{
	return (reg & ~mask) | (value & mask);
}

/* "eax" ... "edx"; NULL for anything else. */
const char *cpuid_register_name(enum cpuid_register reg);

#endif
