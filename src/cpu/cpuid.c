/* Per-vCPU CPUID built from KVM_GET_SUPPORTED_CPUID.
 *
 * The pipeline is: copy the supported leaves (minus those the template hides,
 * with the x2APIC topology leaves replaced by a fixed set of sub-leaves), clear
 * the template's feature bits, then write the fields that describe this guest
 * rather than the host: topology, the hypervisor bit and the KVM leaves.
 *
 * Topology: one socket of cpu_count logical processors, one thread per core
 * or, with SMT (machine-config.smt), two: cpu_count / 2 cores. A vCPU's APIC
 * ID is its index either way: with two threads the lowest bit is the thread,
 * the bits above the core, and the count is even, so the IDs stay dense.
 * This is Firecracker's topology, so guests see the same CPUs under both.
 *
 * References: Intel SDM vol. 2A, CPUID instruction (leaves 0x1, 0x4, 0xB,
 * 0x1F); AMD APM vol. 3, appendix E (0x80000008, 0x8000001E); the kernel's
 * Documentation/virt/kvm/x86/cpuid.rst (0x40000000 onwards). */
#include "cpu/cpuid.h"

#include "cpu/hyperv.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define LEAF_VENDOR 0x0u
#define LEAF_FEATURES 0x1u
#define LEAF_CACHE_PARAMS 0x4u
#define LEAF_EXT_TOPOLOGY 0xbu
#define LEAF_EXT_TOPOLOGY_V2 0x1fu
#define LEAF_KVM_SIGNATURE 0x40000000u
#define LEAF_KVM_TSC_FREQ 0x40000010u
#define LEAF_AMD_ADDR_SIZES 0x80000008u
#define LEAF_AMD_EXT_APIC_ID 0x8000001eu
#define LEAF_EXT_FEATURES 0x80000001u

/* Leaf 0x80000001 ECX bit 22: TopologyExtensions, leaves 0x8000001D and
 * 0x8000001E are valid. */
#define ECX_TOPOEXT (1u << 22)
#define LEAF_AMD_CACHE_TOPOLOGY 0x8000001du

/* Leaves below this are "basic" leaves, bounded by leaf 0 EAX. */
#define FIRST_HYPERVISOR_LEAF 0x40000000u

/* Leaf 0x1. */
#define EBX_INITIAL_APIC_ID_SHIFT 24
#define EBX_LOGICAL_COUNT_SHIFT 16
#define EBX_TOPOLOGY_FIELDS 0xffff0000u
#define ECX_HYPERVISOR (1u << 31)
#define EDX_HTT (1u << 28)

/* Leaf 0x4 and AMD leaf 0x8000001D. */
#define CACHE_TYPE_MASK 0x1fu
#define CACHE_LEVEL(eax) (((eax) >> 5) & 0x7u)
#define CACHE_SHARING_SHIFT 14
#define CACHE_SHARING_MASK (0xfffu << CACHE_SHARING_SHIFT)
#define CACHE_CORES_SHIFT 26
#define CACHE_CORES_MASK (0x3fu << CACHE_CORES_SHIFT)

/* Leaves 0xB and 0x1F: ECX[15:8] level type. */
#define TOPOLOGY_LEVEL_INVALID 0u
#define TOPOLOGY_LEVEL_SMT 1u
#define TOPOLOGY_LEVEL_CORE 2u
#define TOPOLOGY_SUBLEAF_COUNT 3 /* SMT, core, then the invalid terminator */

/* AMD 0x80000008 ECX: [7:0] NC, [15:12] ApicIdCoreIdSize. */
#define AMD_NC_MASK 0xffu
#define AMD_APIC_ID_SIZE_SHIFT 12
#define AMD_CORE_FIELDS 0xf0ffu

/* "KVMKVMKVM\0\0\0" as little-endian EBX, ECX, EDX. */
#define KVM_SIGNATURE_EBX 0x4b4d564bu
#define KVM_SIGNATURE_ECX 0x564b4d56u
#define KVM_SIGNATURE_EDX 0x0000004du

/* KVM's local APIC timer counts nanoseconds: a 1 GHz bus. */
#define KVM_APIC_BUS_KHZ 1000000u

uint32_t cpuid_apic_id(int cpu_index, int cpu_count)
{
	(void)cpu_count; /* dense IDs: no gaps to leave for absent threads */
	return (uint32_t)cpu_index;
}

/* Bits needed to number `count` items: ceil(log2(count)), 0 for 1. */
static unsigned int id_width(uint32_t count)
{
	unsigned int width = 0;

	while (width < 32 && (1ull << width) < count)
		width++;
	return width;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static void set_field(uint32_t *reg, uint32_t mask, unsigned int shift,
		      uint32_t value)
{
	*reg = (*reg & ~mask) | ((value << shift) & mask);
}

static bool is_basic_leaf(uint32_t function)
{
	return function < FIRST_HYPERVISOR_LEAF;
}

static bool is_extended_topology_leaf(uint32_t function)
{
	return function == LEAF_EXT_TOPOLOGY ||
		function == LEAF_EXT_TOPOLOGY_V2;
}

static bool template_hides_leaf(const struct cpu_template *tmpl,
				uint32_t function)
{
	return tmpl && tmpl->max_basic_leaf && is_basic_leaf(function) &&
		function >= tmpl->max_basic_leaf;
}

static int append_entry(struct cpuid_table *out,
			const struct kvm_cpuid_entry2 *entry)
{
	if (out->header.nent >= CPUID_MAX_ENTRIES)
		return -E2BIG;
	out->entries[out->header.nent++] = *entry;
	return 0;
}

/* Inserts before the first entry of a higher function, so the table stays
 * ordered the way KVM reports it. */
static int insert_entry_in_order(struct cpuid_table *out,
				 const struct kvm_cpuid_entry2 *entry)
{
	uint32_t pos = 0;

	if (out->header.nent >= CPUID_MAX_ENTRIES)
		return -E2BIG;
	while (pos < out->header.nent &&
	       out->entries[pos].function <= entry->function)
		pos++;
	memmove(&out->entries[pos + 1], &out->entries[pos],
		(out->header.nent - pos) * sizeof(out->entries[0]));
	out->entries[pos] = *entry;
	out->header.nent++;
	return 0;
}

static struct kvm_cpuid_entry2 *find_entry(struct cpuid_table *table,
					   uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < table->header.nent; i++) {
		struct kvm_cpuid_entry2 *e = &table->entries[i];

		if (e->function == function &&
		    (e->index == index ||
		     !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)))
			return e;
	}
	return NULL;
}

/* The host's 0xB/0x1F sub-leaves describe the host's levels (dies, modules,
 * SMT siblings); the guest gets exactly SMT, core and an invalid terminator,
 * filled in later by set_extended_topology(). */
static int append_topology_subleaves(struct cpuid_table *out, uint32_t function)
{
	for (uint32_t index = 0; index < TOPOLOGY_SUBLEAF_COUNT; index++) {
		struct kvm_cpuid_entry2 entry = {
			.function = function,
			.index = index,
			.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		};
		int ret = append_entry(out, &entry);

		if (ret)
			return ret;
	}
	return 0;
}

static int copy_supported_leaves(const struct cpuid_table *supported,
				 const struct cpu_template *tmpl,
				 struct cpuid_table *out)
{
	bool topology_done[2] = {false, false}; /* 0xB, 0x1F */

	for (uint32_t i = 0; i < supported->header.nent; i++) {
		const struct kvm_cpuid_entry2 *e = &supported->entries[i];
		int ret;

		if (template_hides_leaf(tmpl, e->function))
			continue;
		if (is_extended_topology_leaf(e->function)) {
			bool *done = &topology_done[e->function ==
						    LEAF_EXT_TOPOLOGY_V2];

			ret = *done
				? 0
				: append_topology_subleaves(out, e->function);
			*done = true;
		} else {
			ret = append_entry(out, e);
		}
		if (ret)
			return ret;
	}
	return 0;
}

/* A rule naming a sub-leaf still applies to a leaf whose index KVM ignores:
 * every sub-leaf of such a leaf reads that one entry. */
static bool rule_matches(const struct cpuid_mask_rule *rule,
			 const struct kvm_cpuid_entry2 *entry)
{
	return rule->function == entry->function &&
		(rule->any_index || rule->index == entry->index ||
		 !(entry->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX));
}

static uint32_t *entry_register(struct kvm_cpuid_entry2 *entry,
				enum cpuid_register reg)
{
	switch (reg) {
	case CPUID_EAX:
		return &entry->eax;
	case CPUID_EBX:
		return &entry->ebx;
	case CPUID_ECX:
		return &entry->ecx;
	case CPUID_EDX:
		return &entry->edx;
	}
	return NULL;
}

static void apply_template_masks(const struct cpu_template *tmpl,
				 struct cpuid_table *out)
{
	if (!tmpl)
		return;
	for (int r = 0; r < tmpl->rule_count; r++) {
		const struct cpuid_mask_rule *rule = &tmpl->rules[r];

		for (uint32_t i = 0; i < out->header.nent; i++) {
			struct kvm_cpuid_entry2 *e = &out->entries[i];
			uint32_t *reg = entry_register(e, rule->reg);

			if (reg && rule_matches(rule, e))
				*reg &= ~rule->clear_bits;
		}
	}
}

/* What a vCPU's topology leaves need to know. */
struct topology {
	uint32_t apic_id;
	uint32_t cpu_count;
	uint32_t threads; /* per core: 1 or 2 */
};

/* Leaf 0: the highest basic leaf must not point past the ones we removed. */
static void set_max_basic_leaf(struct kvm_cpuid_entry2 *e,
			       const struct cpu_template *tmpl)
{
	if (tmpl && tmpl->max_basic_leaf && e->eax >= tmpl->max_basic_leaf)
		e->eax = tmpl->max_basic_leaf - 1;
}

/* Leaf 0x1 EBX[31:24] initial APIC ID, EBX[23:16] maximum addressable
 * logical processor IDs in the package, valid only with EDX.HTT. Software
 * rounds that count up to a power of two, so we report it already rounded;
 * beyond 8 bits the guest must use leaf 0xB anyway. CLFLUSH size and brand
 * index in EBX[15:0] stay the host's. ECX bit 31 is reserved for hypervisors
 * to announce themselves. */
static void set_feature_leaf(struct kvm_cpuid_entry2 *e,
			     const struct topology *topo)
{
	uint32_t logical_ids = 1u << id_width(topo->cpu_count);

	e->ebx &= ~EBX_TOPOLOGY_FIELDS;
	e->ebx |= (topo->apic_id & 0xffu) << EBX_INITIAL_APIC_ID_SHIFT;
	e->ebx |= min_u32(logical_ids, 0xffu) << EBX_LOGICAL_COUNT_SHIFT;
	if (topo->cpu_count > 1)
		e->edx |= EDX_HTT;
	else
		e->edx &= ~EDX_HTT;
	e->ecx |= ECX_HYPERVISOR;
}

/* EAX[25:14]: logical processors sharing this cache, minus one. L1 and L2
 * belong to one core (its threads share them); L3 and beyond are shared by
 * the whole package. */
static void set_cache_sharing(struct kvm_cpuid_entry2 *e,
			      const struct topology *topo)
{
	uint32_t sharing =
		CACHE_LEVEL(e->eax) >= 3 ? topo->cpu_count : topo->threads;

	set_field(&e->eax, CACHE_SHARING_MASK, CACHE_SHARING_SHIFT,
		  min_u32(sharing - 1, 0xfffu));
}

/* Leaf 0x4, per cache sub-leaf: EAX[31:26] maximum addressable core IDs in
 * the package minus one (a power of two, as software rounds it). A sub-leaf
 * of cache type 0 ends the list and is left as it is. */
static void set_cache_leaf(struct kvm_cpuid_entry2 *e,
			   const struct topology *topo)
{
	uint32_t core_ids = 1u << id_width(topo->cpu_count / topo->threads);

	if ((e->eax & CACHE_TYPE_MASK) == 0)
		return;
	set_cache_sharing(e, topo);
	set_field(&e->eax, CACHE_CORES_MASK, CACHE_CORES_SHIFT,
		  min_u32(core_ids - 1, 0x3fu));
}

/* Leaves 0xB and 0x1F: EAX[4:0] is how far to shift the x2APIC ID right to
 * reach the next level's ID, EBX[15:0] the logical processors at this level,
 * ECX[15:8] the level type with ECX[7:0] echoing the sub-leaf, and EDX the
 * x2APIC ID in every sub-leaf. */
static void set_extended_topology(struct kvm_cpuid_entry2 *e,
				  const struct topology *topo)
{
	uint32_t type = TOPOLOGY_LEVEL_INVALID;

	e->eax = 0;
	e->ebx = 0;
	if (e->index == 0) {
		/* One thread per core: no APIC ID bits for the thread. */
		type = TOPOLOGY_LEVEL_SMT;
		e->eax = id_width(topo->threads);
		e->ebx = topo->threads;
	} else if (e->index == 1) {
		type = TOPOLOGY_LEVEL_CORE;
		e->eax = id_width(topo->cpu_count);
		e->ebx = min_u32(topo->cpu_count, 0xffffu);
	}
	e->ecx = (type << 8) | (e->index & 0xffu);
	e->edx = topo->apic_id;
}

/* AMD 0x80000008 ECX[7:0] NC: cores in the package minus one; ECX[15:12]
 * ApicIdCoreIdSize: APIC ID bits that number the cores. */
static void set_amd_core_count(struct kvm_cpuid_entry2 *e,
			       const struct topology *topo)
{
	e->ecx &= ~AMD_CORE_FIELDS;
	e->ecx |= min_u32(topo->cpu_count - 1, AMD_NC_MASK);
	e->ecx |= id_width(topo->cpu_count) << AMD_APIC_ID_SIZE_SHIFT;
}

/* AMD 0x8000001E: EAX extended APIC ID; EBX[7:0] core ID (the APIC ID
 * without its thread bit) with EBX[15:8] threads per core minus one; ECX
 * node ID 0 in a one-node package. Linux takes its SMT siblings from
 * EBX[15:8] on AMD (TopologyExtensions). */
static void set_amd_extended_apic_id(struct kvm_cpuid_entry2 *e,
				     const struct topology *topo)
{
	e->eax = topo->apic_id;
	e->ebx = ((topo->apic_id >> id_width(topo->threads)) & 0xffu) |
		((topo->threads - 1) << 8);
	e->ecx = 0;
	e->edx = 0;
}

/* Linux on AMD counts SMT siblings only from 0x8000001E, and reads that
 * leaf only with TopologyExtensions; without it, CmpLegacy makes every
 * logical processor a core. So with two threads per core, a table that has
 * 0x8000001E (AMD's, filled in by set_amd_extended_apic_id) announces it,
 * as Firecracker does on every AMD host. The bit only says that the leaves
 * are there: no hardware behind it. */
static void announce_amd_topology(struct cpuid_table *out,
				  const struct topology *topo)
{
	struct kvm_cpuid_entry2 *ext = find_entry(out, LEAF_EXT_FEATURES, 0);

	if (topo->threads > 1 && ext &&
	    find_entry(out, LEAF_AMD_EXT_APIC_ID, 0))
		ext->ecx |= ECX_TOPOEXT;
}

static void set_topology_fields(struct cpuid_table *out,
				const struct cpu_template *tmpl,
				const struct topology *topo)
{
	announce_amd_topology(out, topo);
	for (uint32_t i = 0; i < out->header.nent; i++) {
		struct kvm_cpuid_entry2 *e = &out->entries[i];

		switch (e->function) {
		case LEAF_VENDOR:
			set_max_basic_leaf(e, tmpl);
			break;
		case LEAF_FEATURES:
			set_feature_leaf(e, topo);
			break;
		case LEAF_CACHE_PARAMS:
			set_cache_leaf(e, topo);
			break;
		case LEAF_EXT_TOPOLOGY:
		case LEAF_EXT_TOPOLOGY_V2:
			set_extended_topology(e, topo);
			break;
		case LEAF_AMD_ADDR_SIZES:
			set_amd_core_count(e, topo);
			break;
		case LEAF_AMD_CACHE_TOPOLOGY:
			if (e->eax & CACHE_TYPE_MASK)
				set_cache_sharing(e, topo);
			break;
		case LEAF_AMD_EXT_APIC_ID:
			set_amd_extended_apic_id(e, topo);
			break;
		}
	}
}

/* 0x40000010 (the VMware-style timing leaf KVM guests also read): EAX TSC
 * kHz, EBX APIC bus kHz. Added when KVM does not list it, and announced by
 * raising the maximum hypervisor leaf in 0x40000000 EAX. */
static int set_tsc_frequency_leaf(struct cpuid_table *out, uint32_t tsc_khz)
{
	struct kvm_cpuid_entry2 *signature =
		find_entry(out, LEAF_KVM_SIGNATURE, 0);
	struct kvm_cpuid_entry2 *timing = find_entry(out, LEAF_KVM_TSC_FREQ, 0);

	if (!timing) {
		struct kvm_cpuid_entry2 fresh = {.function = LEAF_KVM_TSC_FREQ};
		int ret = insert_entry_in_order(out, &fresh);

		if (ret)
			return ret;
		signature = find_entry(out, LEAF_KVM_SIGNATURE, 0);
		timing = find_entry(out, LEAF_KVM_TSC_FREQ, 0);
	}
	timing->eax = tsc_khz;
	timing->ebx = KVM_APIC_BUS_KHZ;
	timing->ecx = 0;
	timing->edx = 0;
	if (signature && signature->eax < LEAF_KVM_TSC_FREQ)
		signature->eax = LEAF_KVM_TSC_FREQ;
	return 0;
}

/* 0x40000000 EBX:ECX:EDX is the signature the guest probes for before it
 * trusts the feature bits in 0x40000001, which KVM already reports. */
static int set_kvm_leaves(struct cpuid_table *out, uint32_t tsc_khz)
{
	struct kvm_cpuid_entry2 *signature =
		find_entry(out, LEAF_KVM_SIGNATURE, 0);

	if (signature) {
		signature->ebx = KVM_SIGNATURE_EBX;
		signature->ecx = KVM_SIGNATURE_ECX;
		signature->edx = KVM_SIGNATURE_EDX;
	}
	return tsc_khz ? set_tsc_frequency_leaf(out, tsc_khz) : 0;
}

/* A modifier names one entry: leaf and sub-leaf, where a leaf whose index
 * KVM ignores has its one entry at every sub-leaf. */
static int apply_cpuid_modifiers(const struct cpu_modifiers *mods,
				 struct cpuid_table *out,
				 struct tern_error *err)
{
	for (int m = 0; mods && m < mods->cpuid_count; m++) {
		const struct cpuid_modifier *mod = &mods->cpuid[m];
		struct kvm_cpuid_entry2 *e =
			find_entry(out, mod->leaf, mod->subleaf);
		uint32_t *reg;

		if (!e)
			return tern_error_set(
				err, ENOTSUP,
				"the CPU template changes CPUID leaf %#x "
				"sub-leaf %#x, which this host's KVM does not "
				"support",
				mod->leaf, mod->subleaf);
		reg = entry_register(e, mod->reg);
		if (!reg)
			continue;
		e->flags = mod->flags;
		*reg = (uint32_t)cpu_bitmap_apply(*reg, mod->mask, mod->value);
	}
	return 0;
}

int cpuid_build(const struct cpuid_table *supported,
		const struct cpuid_params *params, struct cpuid_table *out,
		struct tern_error *err)
{
	const struct cpu_template *tmpl = params->tmpl;
	struct topology topo;
	int ret;

	if (params->cpu_count < 1 || params->cpu_index < 0 ||
	    params->cpu_index >= params->cpu_count ||
	    supported->header.nent > CPUID_MAX_ENTRIES ||
	    (params->threads_per_core != 1 && params->threads_per_core != 2) ||
	    params->cpu_count % params->threads_per_core)
		return tern_error_set(err, EINVAL,
				      "vCPU %d of %d with %d threads per core "
				      "is not a topology",
				      params->cpu_index, params->cpu_count,
				      params->threads_per_core);
	topo.apic_id = cpuid_apic_id(params->cpu_index, params->cpu_count);
	topo.cpu_count = (uint32_t)params->cpu_count;
	topo.threads = (uint32_t)params->threads_per_core;

	memset(out, 0, sizeof(*out));
	ret = copy_supported_leaves(supported, tmpl, out);
	if (ret)
		return tern_error_set(err, -ret,
				      "the guest's CPUID has more than %d "
				      "entries",
				      CPUID_MAX_ENTRIES);
	apply_template_masks(tmpl, out);
	ret = apply_cpuid_modifiers(tmpl ? tmpl->modifiers : NULL, out, err);
	if (!ret)
		ret = apply_cpuid_modifiers(params->custom, out, err);
	if (ret)
		return ret;
	set_topology_fields(out, tmpl, &topo);
	ret = set_kvm_leaves(out, params->tsc_khz);
	if (!ret && params->hyperv)
		ret = cpuid_place_hyperv_leaves(out, params->hyperv);
	if (ret)
		return tern_error_set(err, -ret,
				      "the guest's CPUID has more than %d "
				      "entries",
				      CPUID_MAX_ENTRIES);
	return 0;
}

int cpuid_build_for_vcpu(const struct cpuid_table *supported,
			 const struct cpu_template *tmpl, int cpu_index,
			 int cpu_count, uint32_t tsc_khz,
			 struct cpuid_table *out)
{
	struct cpuid_params params = {
		.tmpl = tmpl,
		.cpu_index = cpu_index,
		.cpu_count = cpu_count,
		.threads_per_core = 1,
		.tsc_khz = tsc_khz,
	};
	struct tern_error err;

	return cpuid_build(supported, &params, out, &err);
}
