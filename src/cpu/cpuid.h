/* Per-vCPU CPUID: what KVM supports, masked by a CPU template, with a
 * topology that matches the vCPU count, the KVM paravirtual leaves and a TSC
 * frequency the guest can read instead of calibrating. */
#ifndef TERN_CPU_CPUID_H
#define TERN_CPU_CPUID_H

#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>

#include "cpu/cpu_modifiers.h"
#include "util/error.h"

#define CPUID_MAX_ENTRIES 256

/* One masking rule: in leaf `function` (sub-leaf `index`, or every sub-leaf
 * when any_index), clear `clear_bits` in register `reg`. */

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
	/* Firecracker's static templates: bit modifiers applied after the
	 * rules (NULL: none), for hosts of this CPU vendor only
	 * ("GenuineIntel", "AuthenticAMD"; NULL: any). */
	const struct cpu_modifiers *modifiers;
	const char *vendor;
	const char *vendor_name; /* "Intel", "AMD": for messages */
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

/* Refuses (naming the template and why) a template this host's CPU cannot
 * take: one made for another CPU vendor, or one that changes a CPUID leaf
 * KVM does not report. supported: KVM_GET_SUPPORTED_CPUID. */
int cpu_template_check_host(const struct cpu_template *tmpl,
			    const struct cpuid_table *supported,
			    const char *field, struct tern_error *err);

/* APIC ID of vCPU cpu_index in a guest of cpu_count vCPUs: one socket, IDs
 * dense from 0. With two threads per core the lowest bit numbers the thread
 * and the rest the core, so dense IDs are still right. */
uint32_t cpuid_apic_id(int cpu_index, int cpu_count);

/* Everything that shapes one vCPU's CPUID. */
struct cpuid_params {
	const struct cpu_template *tmpl; /* NULL: as "host" */
	/* A custom template's modifiers, applied after tmpl's; NULL: none. */
	const struct cpu_modifiers *custom;
	int cpu_index;
	int cpu_count;
	/* 1, or 2 with SMT (machine-config.smt; cpu_count is then even). */
	int threads_per_core;
	uint32_t tsc_khz; /* 0: no TSC frequency leaf */
	/* KVM_GET_SUPPORTED_HV_CPUID with machine-config.kvm_hyperv: its
	 * leaves at 0x40000000, KVM's moved to 0x40000100 (cpu/hyperv.h).
	 * NULL: no Hyper-V leaves. */
	const struct cpuid_table *hyperv;
};

/* Builds vCPU cpu_index's CPUID from the host-supported table: applies the
 * template's rules and modifiers, then the custom modifiers, then sets the
 * topology leaves (0x1 APIC ID and logical count, 0x4 cores per package and
 * cache sharing, 0xB and 0x1F x2APIC levels, AMD 0x80000008, 0x8000001D and
 * 0x8000001E), the hypervisor bit and the KVM leaves (0x40000000 signature,
 * 0x40000010 TSC kHz when tsc_khz != 0). A modifier that names a leaf the
 * table lacks is refused, as Firecracker refuses it. Returns 0 or a
 * negative errno with err set. */
int cpuid_build(const struct cpuid_table *supported,
		const struct cpuid_params *params, struct cpuid_table *out,
		struct tern_error *err);

/* cpuid_build() with one thread per core and no custom modifiers. Returns 0,
 * -EINVAL or -E2BIG. */
int cpuid_build_for_vcpu(const struct cpuid_table *supported,
			 const struct cpu_template *tmpl, int cpu_index,
			 int cpu_count, uint32_t tsc_khz,
			 struct cpuid_table *out);

#endif
