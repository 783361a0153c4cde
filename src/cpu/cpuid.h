/* Per-vCPU CPUID: what KVM supports, masked by a CPU template, with a
 * topology that matches the vCPU count, the KVM paravirtual leaves and a TSC
 * frequency the guest can read instead of calibrating. */
#ifndef TERN_CPU_CPUID_H
#define TERN_CPU_CPUID_H

#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>

#define CPUID_MAX_ENTRIES 256

/* One masking rule: in leaf `function` (sub-leaf `index`, or every sub-leaf
 * when any_index), clear `clear_bits` in register `reg`. */
enum cpuid_register { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

struct cpuid_mask_rule {
	uint32_t function;
	uint32_t index;
	int any_index;
	enum cpuid_register reg;
	uint32_t clear_bits;
};

struct cpu_template {
	const char *name;
	const char *description;
	const struct cpuid_mask_rule *rules;
	int rule_count;
	/* Leaves at or above this are removed (0: keep all). Lets a template
	 * hide whole feature leaves such as 0xd (XSAVE state). */
	uint32_t max_basic_leaf;
};

/* NULL when no template has that name. */
const struct cpu_template *cpu_template_find(const char *name);
/* Writes "  name  description" lines, one per template, for --help. */
void cpu_template_print_all(FILE *out);

/* A kvm_cpuid2 with room for CPUID_MAX_ENTRIES entries. */
struct cpuid_table {
	struct kvm_cpuid2 header;
	struct kvm_cpuid_entry2 entries[CPUID_MAX_ENTRIES];
};

/* APIC ID of vCPU cpu_index in a guest of cpu_count vCPUs: one socket, one
 * thread per core, IDs dense from 0. */
uint32_t cpuid_apic_id(int cpu_index, int cpu_count);

/* Builds vCPU cpu_index's CPUID from the host-supported table: applies the
 * template, sets the topology leaves (0x1 APIC ID and logical count, 0x4 cores
 * per package, 0xB and 0x1F x2APIC levels, AMD 0x80000008/0x8000001E), sets the
 * hypervisor bit, and fills the KVM leaves (0x40000000 signature, 0x40000010
 * TSC kHz when tsc_khz != 0). Returns 0 or -E2BIG. */
int cpuid_build_for_vcpu(const struct cpuid_table *supported,
			 const struct cpu_template *tmpl, int cpu_index,
			 int cpu_count, uint32_t tsc_khz,
			 struct cpuid_table *out);

#endif
