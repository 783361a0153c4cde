#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpuid.h"

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define BIT(n) (1u << (n))

/* Leaf 0x1 ECX/EDX and leaf 0x7 EBX bits the tests look at. */
#define F1_SSE3 BIT(0)
#define F1_CX16 BIT(13)
#define F1_SSE42 BIT(20)
#define F1_X2APIC BIT(21)
#define F1_POPCNT BIT(23)
#define F1_XSAVE BIT(26)
#define F1_OSXSAVE BIT(27)
#define F1_AVX BIT(28)
#define F1_HYPERVISOR BIT(31)
#define F1_EDX_HTT BIT(28)
#define F7_AVX2 BIT(5)
#define F7_AVX512F BIT(16)
#define F7_FSGSBASE BIT(0)

static const int cpu_counts[] = {1, 2, 4, 64};
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Tables are big (256 entries); keep them out of the test stack. */
static struct cpuid_table supported;
static struct cpuid_table out;

static void add(uint32_t function, uint32_t index, uint32_t flags, uint32_t eax,
		uint32_t ebx, uint32_t ecx, uint32_t edx)
{
	struct kvm_cpuid_entry2 *e;

	assert_true(supported.header.nent < CPUID_MAX_ENTRIES);
	e = &supported.entries[supported.header.nent++];
	memset(e, 0, sizeof(*e));
	e->function = function;
	e->index = index;
	e->flags = flags;
	e->eax = eax;
	e->ebx = ebx;
	e->ecx = ecx;
	e->edx = edx;
}

/* Host values deliberately describe a different topology (16 logical IDs,
 * 2 threads per core) so the tests see them replaced. */
static void add_common_leaves(void)
{
	/* Leaf 1 EBX: APIC ID 0x55, 16 logical IDs, CLFLUSH 8, brand 1. */
	add(0x1, 0, 0, 0x000906ea, 0x55100801,
	    F1_SSE3 | F1_CX16 | F1_SSE42 | F1_X2APIC | F1_POPCNT | F1_XSAVE |
		    F1_OSXSAVE | F1_AVX,
	    0x178bfbff);
	add(0x7, 0, SIG, 1, F7_FSGSBASE | F7_AVX2 | F7_AVX512F, 0, 0);
	add(0x7, 1, SIG, BIT(4), 0, 0, 0);
	add(0xb, 0, SIG, 1, 2, 0x100, 0x55);
	add(0xb, 1, SIG, 4, 16, 0x201, 0x55);
	add(0xb, 2, SIG, 0, 0, 0x2, 0x55);
	add(0xd, 0, SIG, 0x2e7, 0x988, 0xa88, 0);
	add(0xd, 1, SIG, 0xf, 0x988, 0x1900, 0);
	add(0xd, 2, SIG, 0x100, 0x240, 0, 0);
	add(0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d);
	add(0x40000001, 0, 0, 0x01007afb, 0, 0, 0);
	add(0x80000000, 0, 0, 0x80000021, 0, 0, 0);
	add(0x80000001, 0, 0, 0, 0, 0x00000121, 0x2c100800);
}

/* Leaf 4 sub-leaves: L1d, L1i, L2, L3, then the type-0 terminator. EAX
 * carries host topology in [31:14]: 8 core IDs, 2 threads per L1/L2. */
static void add_intel_caches(void)
{
	const uint32_t host_topology = (7u << 26) | (1u << 14);

	add(0x4, 0, SIG, host_topology | (1 << 5) | 1, 0x01c0003f, 0x3f, 0);
	add(0x4, 1, SIG, host_topology | (1 << 5) | 2, 0x01c0003f, 0x3f, 0);
	add(0x4, 2, SIG, host_topology | (2 << 5) | 3, 0x01c0003f, 0x3ff, 0);
	add(0x4, 3, SIG, (7u << 26) | (15u << 14) | (3 << 5) | 3, 0x02c0003f,
	    0x3fff, 6);
	add(0x4, 4, SIG, 0, 0, 0, 0);
}

static void build_intel_like(void)
{
	memset(&supported, 0, sizeof(supported));
	add(0x0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69);
	add_common_leaves();
	add_intel_caches();
	add(0x1f, 0, SIG, 1, 2, 0x100, 0x55);
	add(0x1f, 1, SIG, 4, 16, 0x201, 0x55);
	add(0x1f, 2, SIG, 5, 32, 0x502, 0x55); /* a die level */
	add(0x1f, 3, SIG, 0, 0, 0x3, 0x55);
	add(0x80000008, 0, 0, 0x3027, 0, 0, 0);
}

static void build_amd_like(void)
{
	memset(&supported, 0, sizeof(supported));
	add(0x0, 0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65);
	add_common_leaves();
	/* NC 15, ApicIdCoreIdSize 4, PerfTscSize 1 (kept). */
	add(0x80000008, 0, 0, 0x3030, 0, 0x1400f, 0);
	add(0x8000001d, 0, SIG, (1 << 14) | (1 << 5) | 1, 0, 0, 0);
	add(0x8000001d, 1, SIG, (15u << 14) | (3 << 5) | 3, 0, 0, 0);
	add(0x8000001e, 0, 0, 0x55, 0x0105, 0x0100, 0);
}

static const struct kvm_cpuid_entry2 *find(uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < out.header.nent; i++)
		if (out.entries[i].function == function &&
		    out.entries[i].index == index)
			return &out.entries[i];
	return NULL;
}

static const struct kvm_cpuid_entry2 *must_find(uint32_t function,
						uint32_t index)
{
	const struct kvm_cpuid_entry2 *e = find(function, index);

	if (!e)
		fail_msg("leaf %#x.%u missing", function, index);
	return e;
}

static void build(const char *template_name, int cpu, int count,
		  uint32_t tsc_khz)
{
	const struct cpu_template *tmpl = cpu_template_find(template_name);

	assert_non_null(tmpl);
	assert_int_equal(cpuid_build_for_vcpu(&supported, tmpl, cpu, count,
					      tsc_khz, &out),
			 0);
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static void apic_ids_are_dense(void **state)
{
	for (int i = 0; i < 64; i++)
		assert_int_equal(cpuid_apic_id(i, 64), i);
}

static void leaf1_reports_apic_id_and_count(void **state)
{
	build_intel_like();
	for (unsigned c = 0; c < COUNT_OF(cpu_counts); c++) {
		int n = cpu_counts[c];

		for (int cpu = 0; cpu < n; cpu++) {
			const struct kvm_cpuid_entry2 *e;

			build("host", cpu, n, 0);
			e = must_find(0x1, 0);
			assert_int_equal(e->ebx >> 24, cpu);
			assert_int_equal((e->ebx >> 16) & 0xff,
					 pow2_at_least(n));
			assert_int_equal(e->ebx & 0xffff, 0x0801);
			assert_int_equal(!!(e->edx & F1_EDX_HTT), n > 1);
			assert_int_equal(e->edx & ~F1_EDX_HTT,
					 0x178bfbff & ~F1_EDX_HTT);
		}
	}
}

static void check_extended_topology(uint32_t leaf, int cpu, int n)
{
	const struct kvm_cpuid_entry2 *smt = must_find(leaf, 0);
	const struct kvm_cpuid_entry2 *core = must_find(leaf, 1);
	const struct kvm_cpuid_entry2 *end = must_find(leaf, 2);

	assert_int_equal(smt->eax & 0x1f, 0);
	assert_int_equal(smt->ebx & 0xffff, 1);
	assert_int_equal(smt->ecx, (1 << 8) | 0);
	assert_int_equal(core->ebx & 0xffff, n);
	assert_true((1u << (core->eax & 0x1f)) >= (uint32_t)n);
	assert_int_equal(core->ecx, (2 << 8) | 1);
	assert_int_equal((end->ecx >> 8) & 0xff, 0);
	assert_int_equal(end->ecx & 0xff, 2);
	assert_int_equal(end->ebx & 0xffff, 0);
	assert_int_equal(smt->edx, cpu);
	assert_int_equal(core->edx, cpu);
	assert_int_equal(end->edx, cpu);
	assert_true(smt->flags & SIG);
	/* The host's die level is gone. */
	assert_null(find(leaf, 3));
}

static void leaf_0xb_and_0x1f_describe_cores(void **state)
{
	build_intel_like();
	for (unsigned c = 0; c < COUNT_OF(cpu_counts); c++) {
		int n = cpu_counts[c];

		for (int cpu = 0; cpu < n; cpu++) {
			build("host", cpu, n, 0);
			check_extended_topology(0xb, cpu, n);
			check_extended_topology(0x1f, cpu, n);
		}
	}
}

static void leaf4_reports_cores_and_sharing(void **state)
{
	build_intel_like();
	for (unsigned c = 0; c < COUNT_OF(cpu_counts); c++) {
		uint32_t n = (uint32_t)cpu_counts[c];

		build("host", 0, (int)n, 0);
		for (uint32_t sub = 0; sub < 4; sub++) {
			const struct kvm_cpuid_entry2 *e = must_find(0x4, sub);
			uint32_t sharing = sub == 3 ? n - 1 : 0;

			assert_int_equal(e->eax >> 26, pow2_at_least(n) - 1);
			assert_int_equal((e->eax >> 14) & 0xfff, sharing);
		}
		/* Cache type and level are the host's. */
		assert_int_equal(must_find(0x4, 0)->eax & 0xff, (1 << 5) | 1);
		assert_int_equal(must_find(0x4, 3)->eax & 0xff, (3 << 5) | 3);
		assert_int_equal(must_find(0x4, 4)->eax, 0);
	}
}

static void hypervisor_bit_is_set(void **state)
{
	build_intel_like();
	build("host", 0, 1, 0);
	assert_true(must_find(0x1, 0)->ecx & F1_HYPERVISOR);
	build("minimal", 0, 1, 0);
	assert_true(must_find(0x1, 0)->ecx & F1_HYPERVISOR);
}

static void kvm_signature_and_features(void **state)
{
	const struct kvm_cpuid_entry2 *e;

	build_intel_like();
	for (unsigned i = 0; i < supported.header.nent; i++)
		if (supported.entries[i].function == 0x40000000)
			supported.entries[i].ebx = 0xdeadbeef;
	build("host", 0, 2, 0);
	e = must_find(0x40000000, 0);
	assert_memory_equal(&e->ebx, "KVMK", 4);
	assert_memory_equal(&e->ecx, "VMKV", 4);
	assert_memory_equal(&e->edx, "M\0\0\0", 4);
	assert_int_equal(e->eax, 0x40000001);
	assert_int_equal(must_find(0x40000001, 0)->eax, 0x01007afb);
	assert_null(find(0x40000010, 0));
}

static void tsc_leaf_is_added_in_order(void **state)
{
	const struct kvm_cpuid_entry2 *e;
	uint32_t nent_without;

	build_intel_like();
	build("host", 0, 1, 0);
	nent_without = out.header.nent;
	build("host", 0, 1, 2500000);
	assert_int_equal(out.header.nent, nent_without + 1);
	e = must_find(0x40000010, 0);
	assert_int_equal(e->eax, 2500000);
	assert_int_equal(e->ebx, 1000000);
	assert_int_equal(must_find(0x40000000, 0)->eax, 0x40000010);
	assert_int_equal(e[-1].function, 0x40000001);
	assert_int_equal(e[1].function, 0x80000000);
}

static void amd_topology_leaves(void **state)
{
	build_amd_like();
	for (unsigned c = 0; c < COUNT_OF(cpu_counts); c++) {
		uint32_t n = (uint32_t)cpu_counts[c];

		for (uint32_t cpu = 0; cpu < n; cpu++) {
			const struct kvm_cpuid_entry2 *sizes, *ext, *l3;

			build("host", (int)cpu, (int)n, 0);
			sizes = must_find(0x80000008, 0);
			assert_int_equal(sizes->ecx & 0xff, n - 1);
			assert_true((1u << ((sizes->ecx >> 12) & 0xf)) >= n);
			assert_int_equal(sizes->ecx & ~0xf0ffu, 0x10000);
			ext = must_find(0x8000001e, 0);
			assert_int_equal(ext->eax, cpu);
			assert_int_equal(ext->ebx & 0xff, cpu);
			assert_int_equal((ext->ebx >> 8) & 0xff, 0);
			assert_int_equal(ext->ecx & 0x7ff, 0);
			l3 = must_find(0x8000001d, 1);
			assert_int_equal((l3->eax >> 14) & 0xfff, n - 1);
			assert_int_equal((must_find(0x8000001d, 0)->eax >> 14) &
						 0xfff,
					 0);
		}
	}
}

static void minimal_hides_avx_xsave_cx16(void **state)
{
	const struct kvm_cpuid_entry2 *leaf1, *leaf7;

	build_intel_like();
	build("minimal", 0, 1, 0);
	leaf1 = must_find(0x1, 0);
	assert_int_equal(
		leaf1->ecx & (F1_AVX | F1_XSAVE | F1_OSXSAVE | F1_CX16), 0);
	assert_int_equal(leaf1->ecx &
				 (F1_SSE3 | F1_SSE42 | F1_POPCNT | F1_X2APIC),
			 F1_SSE3 | F1_SSE42 | F1_POPCNT | F1_X2APIC);
	leaf7 = must_find(0x7, 0);
	assert_int_equal(leaf7->ebx & (F7_AVX2 | F7_AVX512F), 0);
	assert_true(leaf7->ebx & F7_FSGSBASE);
	/* Leaf 0xD and everything above it are gone; leaf 0 agrees. */
	for (uint32_t sub = 0; sub < 3; sub++)
		assert_null(find(0xd, sub));
	assert_null(find(0x1f, 0));
	assert_int_equal(must_find(0x0, 0)->eax, 0xc);
	/* Leaf 0xB is below the cut and still describes the cores. */
	check_extended_topology(0xb, 0, 1);
}

static void x86_64_v2_keeps_cx16(void **state)
{
	const struct kvm_cpuid_entry2 *leaf1;

	build_intel_like();
	build("x86-64-v2", 0, 1, 0);
	leaf1 = must_find(0x1, 0);
	assert_true(leaf1->ecx & F1_CX16);
	assert_true(leaf1->ecx & F1_POPCNT);
	assert_int_equal(leaf1->ecx & (F1_AVX | F1_XSAVE), 0);
	assert_int_equal(must_find(0x7, 0)->ebx & F7_AVX2, 0);
	assert_null(find(0xd, 0));
}

static void host_keeps_everything(void **state)
{
	const struct kvm_cpuid_entry2 *leaf1;

	build_intel_like();
	build("host", 0, 4, 0);
	leaf1 = must_find(0x1, 0);
	assert_int_equal(leaf1->ecx &
				 (F1_AVX | F1_XSAVE | F1_OSXSAVE | F1_CX16),
			 F1_AVX | F1_XSAVE | F1_OSXSAVE | F1_CX16);
	assert_int_equal(must_find(0x7, 0)->ebx & (F7_AVX2 | F7_AVX512F),
			 F7_AVX2 | F7_AVX512F);
	assert_int_equal(must_find(0xd, 1)->eax, 0xf);
	assert_int_equal(must_find(0x0, 0)->eax, 0x1f);
	/* Every supported leaf is there: 0xB/0x1F are rebuilt as 3 each. */
	assert_int_equal(out.header.nent, supported.header.nent - 1);
}

static void rules_match_by_sub_leaf(void **state)
{
	static const struct cpuid_mask_rule rules[] = {
		{.function = 0xd,
		 .index = 1,
		 .reg = CPUID_EAX,
		 .clear_bits = 1},
		{.function = 0x4,
		 .any_index = 1,
		 .reg = CPUID_EBX,
		 .clear_bits = 0x3f},
		{.function = 0x1,
		 .index = 5,
		 .reg = CPUID_EDX,
		 .clear_bits = 1}, /* leaf 1 ignores the index */
	};
	const struct cpu_template tmpl = {.name = "test",
					  .description = "test",
					  .rules = rules,
					  .rule_count = 3};

	build_intel_like();
	assert_int_equal(cpuid_build_for_vcpu(&supported, &tmpl, 0, 1, 0, &out),
			 0);
	assert_int_equal(must_find(0xd, 1)->eax, 0xe);
	assert_int_equal(must_find(0xd, 0)->eax, 0x2e7);
	for (uint32_t sub = 0; sub < 4; sub++)
		assert_int_equal(must_find(0x4, sub)->ebx & 0x3f, 0);
	assert_int_equal(must_find(0x1, 0)->edx & 1, 0);
}

static void template_lookup(void **state)
{
	assert_null(cpu_template_find("no-such-cpu"));
	assert_null(cpu_template_find(""));
	assert_null(cpu_template_find(NULL));
	assert_string_equal(cpu_template_find("host")->name, "host");
	assert_string_equal(cpu_template_find("minimal")->name, "minimal");
	assert_non_null(cpu_template_find("x86-64-v2"));
}

static void print_all_lists_aligned_names(void **state)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	assert_non_null(f);
	cpu_template_print_all(f);
	fclose(f);
	assert_non_null(strstr(text, "  host       everything"));
	assert_non_null(strstr(text, "  minimal    conservative"));
	assert_non_null(strstr(text, "  x86-64-v2  SSE4.2"));
	free(text);
}

/* The AMD-like table maps one supported entry to one output entry. */
static void fill_amd_like_table(void)
{
	build_amd_like();
	while (supported.header.nent < CPUID_MAX_ENTRIES)
		add(0x80000002, 0, 0, 0, 0, 0, 0);
}

static int build_full(uint32_t tsc_khz)
{
	return cpuid_build_for_vcpu(&supported, cpu_template_find("host"), 0, 1,
				    tsc_khz, &out);
}

static void full_table_fits_exactly(void **state)
{
	fill_amd_like_table();
	assert_int_equal(build_full(0), 0);
	assert_int_equal(out.header.nent, CPUID_MAX_ENTRIES);
}

static void adding_the_tsc_leaf_overflows(void **state)
{
	fill_amd_like_table();
	assert_int_equal(build_full(1000000), -E2BIG);
}

static void rebuilding_topology_leaves_overflows(void **state)
{
	fill_amd_like_table();
	/* Only 0xB.0 left: it still becomes 3 sub-leaves. */
	for (unsigned i = 0; i < supported.header.nent; i++)
		if (supported.entries[i].function == 0xb &&
		    supported.entries[i].index > 0)
			supported.entries[i].function = 0x80000002;
	assert_int_equal(build_full(0), -E2BIG);
}

static void bad_arguments_are_refused(void **state)
{
	build_intel_like();
	assert_int_equal(cpuid_build_for_vcpu(&supported, NULL, 2, 2, 0, &out),
			 -EINVAL);
	assert_int_equal(cpuid_build_for_vcpu(&supported, NULL, 0, 0, 0, &out),
			 -EINVAL);
	/* No template behaves like "host". */
	assert_int_equal(cpuid_build_for_vcpu(&supported, NULL, 0, 1, 0, &out),
			 0);
	assert_true(must_find(0x1, 0)->ecx & F1_AVX);
}

static void build_params(const char *template_name,
			 const struct cpu_modifiers *custom, int cpu, int count,
			 int threads)
{
	struct cpuid_params params = {
		.tmpl = cpu_template_find(template_name),
		.custom = custom,
		.cpu_index = cpu,
		.cpu_count = count,
		.threads_per_core = threads,
	};
	struct tern_error err;
	int ret = cpuid_build(&supported, &params, &out, &err);

	if (ret)
		fail_msg("cpuid_build: %s", err.message);
}

/* SMT: two threads per core, APIC ID bit 0 the thread. */
static void smt_intel_topology(void **state)
{
	build_intel_like();
	for (int cpu = 0; cpu < 4; cpu++) {
		const struct kvm_cpuid_entry2 *smt, *core, *l1, *l3;

		build_params("host", NULL, cpu, 4, 2);
		assert_int_equal(must_find(0x1, 0)->ebx >> 24, cpu);
		assert_int_equal((must_find(0x1, 0)->ebx >> 16) & 0xff, 4);
		smt = must_find(0xb, 0);
		assert_int_equal(smt->eax & 0x1f, 1);
		assert_int_equal(smt->ebx & 0xffff, 2);
		assert_int_equal(smt->ecx, (1 << 8) | 0);
		core = must_find(0xb, 1);
		assert_int_equal(core->eax & 0x1f, 2);
		assert_int_equal(core->ebx & 0xffff, 4);
		assert_int_equal(core->edx, cpu);
		/* Two cores in the package; L1 shared by a core's threads,
		 * L3 by all four. */
		l1 = must_find(0x4, 0);
		assert_int_equal(l1->eax >> 26, 1);
		assert_int_equal((l1->eax >> 14) & 0xfff, 1);
		l3 = must_find(0x4, 3);
		assert_int_equal((l3->eax >> 14) & 0xfff, 3);
		assert_int_equal(must_find(0x1f, 0)->ebx & 0xffff, 2);
	}
}

static void smt_amd_topology(void **state)
{
	build_amd_like();
	for (uint32_t cpu = 0; cpu < 6; cpu++) {
		const struct kvm_cpuid_entry2 *ext;

		build_params("host", NULL, (int)cpu, 6, 2);
		ext = must_find(0x8000001e, 0);
		assert_int_equal(ext->eax, cpu);
		assert_int_equal(ext->ebx & 0xff, cpu / 2);
		assert_int_equal((ext->ebx >> 8) & 0xff, 1);
		assert_int_equal(must_find(0x80000008, 0)->ecx & 0xff, 5);
		assert_int_equal((must_find(0x8000001d, 0)->eax >> 14) & 0xfff,
				 1);
		assert_int_equal((must_find(0x8000001d, 1)->eax >> 14) & 0xfff,
				 5);
		/* TopologyExtensions: Linux reads 0x8000001E only then. */
		assert_true(must_find(0x80000001, 0)->ecx & BIT(22));
	}
	/* Without SMT the host's bit stays as it was (clear here). */
	build_params("host", NULL, 0, 2, 1);
	assert_false(must_find(0x80000001, 0)->ecx & BIT(22));
	/* Intel has no 0x8000001E: nothing announced. */
	build_intel_like();
	build_params("host", NULL, 0, 2, 2);
	assert_false(must_find(0x80000001, 0)->ecx & BIT(22));
}

static void odd_count_with_smt_is_refused(void **state)
{
	struct cpuid_params params = {
		.cpu_index = 0, .cpu_count = 3, .threads_per_core = 2};
	struct tern_error err;

	build_intel_like();
	assert_int_equal(cpuid_build(&supported, &params, &out, &err), -EINVAL);
	params.threads_per_core = 3;
	params.cpu_count = 6;
	assert_int_equal(cpuid_build(&supported, &params, &out, &err), -EINVAL);
}

/* A custom modifier applies after the template: it may give back a bit the
 * template cleared, and set and clear bits in one register. */
static void custom_modifiers_apply_after_the_template(void **state)
{
	static const struct cpuid_modifier mods[] = {
		{.leaf = 0x1,
		 .subleaf = 0,
		 .reg = CPUID_ECX,
		 .mask = F1_CX16 | F1_SSE3,
		 .value = F1_CX16},
		{.leaf = 0x7,
		 .subleaf = 0,
		 .flags = SIG,
		 .reg = CPUID_EBX,
		 .mask = 0xff000000u,
		 .value = 0x5a000000u},
	};
	const struct cpu_modifiers custom = {.cpuid = mods, .cpuid_count = 2};

	build_intel_like();
	build_params("minimal", &custom, 0, 1, 1);
	assert_true(must_find(0x1, 0)->ecx & F1_CX16);
	assert_false(must_find(0x1, 0)->ecx & F1_SSE3);
	assert_false(must_find(0x1, 0)->ecx & F1_AVX); /* the template's */
	assert_int_equal(must_find(0x7, 0)->ebx, 0x5a000000u | F7_FSGSBASE);
	/* The topology is written after the modifiers. */
	assert_true(must_find(0x1, 0)->ecx & F1_HYPERVISOR);
}

static void modifier_of_a_missing_leaf_is_refused(void **state)
{
	static const struct cpuid_modifier mods[] = {
		{.leaf = 0x14, .subleaf = 0, .reg = CPUID_EAX, .mask = 1},
	};
	const struct cpu_modifiers custom = {.cpuid = mods, .cpuid_count = 1};
	struct cpuid_params params = {
		.custom = &custom, .cpu_count = 1, .threads_per_core = 1};
	struct tern_error err;

	build_intel_like();
	assert_int_equal(cpuid_build(&supported, &params, &out, &err),
			 -ENOTSUP);
	assert_non_null(strstr(err.message, "leaf 0x14"));
}

static void t2a_on_amd_sets_its_model_and_bits(void **state)
{
	const struct kvm_cpuid_entry2 *e;
	struct tern_error err;

	build_amd_like();
	assert_int_equal(cpu_template_check_host(cpu_template_find("T2A"),
						 &supported, "tmpl", &err),
			 0);
	build_params("T2A", NULL, 0, 2, 1);
	e = must_find(0x1, 0);
	assert_int_equal(e->eax & 0x0fff3fff, 0x000306f2);
	assert_true(e->edx & (BIT(7) | BIT(12)));
	assert_false(must_find(0x7, 0)->ebx & F7_AVX512F);
	assert_true(must_find(0x7, 0)->ebx & BIT(9)); /* ERMS set */
	e = must_find(0x80000008, 0);
	assert_int_equal(e->ebx & 0x001c0205, 0x001c0004);
}

static void vendor_mismatch_is_refused_by_name(void **state)
{
	struct tern_error err;

	build_amd_like();
	assert_int_equal(cpu_template_check_host(cpu_template_find("T2"),
						 &supported, "tmpl", &err),
			 -ENOTSUP);
	assert_non_null(strstr(err.message, "T2 is a template for Intel"));
	assert_non_null(strstr(err.message, "AuthenticAMD"));
	build_intel_like();
	assert_int_equal(cpu_template_check_host(cpu_template_find("T2A"),
						 &supported, "tmpl", &err),
			 -ENOTSUP);
	assert_non_null(strstr(err.message, "for AMD"));
	/* T2 changes leaf 0x80000008, which this table has. */
	assert_int_equal(cpu_template_check_host(cpu_template_find("T2"),
						 &supported, "tmpl", &err),
			 0);
	/* tern's own templates suit any vendor. */
	assert_int_equal(cpu_template_check_host(cpu_template_find("minimal"),
						 &supported, "tmpl", &err),
			 0);
}

static void missing_template_leaf_is_refused(void **state)
{
	struct tern_error err;

	build_intel_like();
	for (unsigned i = 0; i < supported.header.nent; i++)
		if (supported.entries[i].function == 0x80000008)
			supported.entries[i].function = 0x80000007;
	assert_int_equal(cpu_template_check_host(cpu_template_find("T2CL"),
						 &supported, "tmpl", &err),
			 -ENOTSUP);
	assert_non_null(strstr(err.message, "0x80000008"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(apic_ids_are_dense),
		cmocka_unit_test(leaf1_reports_apic_id_and_count),
		cmocka_unit_test(leaf_0xb_and_0x1f_describe_cores),
		cmocka_unit_test(leaf4_reports_cores_and_sharing),
		cmocka_unit_test(hypervisor_bit_is_set),
		cmocka_unit_test(kvm_signature_and_features),
		cmocka_unit_test(tsc_leaf_is_added_in_order),
		cmocka_unit_test(amd_topology_leaves),
		cmocka_unit_test(minimal_hides_avx_xsave_cx16),
		cmocka_unit_test(x86_64_v2_keeps_cx16),
		cmocka_unit_test(host_keeps_everything),
		cmocka_unit_test(rules_match_by_sub_leaf),
		cmocka_unit_test(template_lookup),
		cmocka_unit_test(print_all_lists_aligned_names),
		cmocka_unit_test(full_table_fits_exactly),
		cmocka_unit_test(adding_the_tsc_leaf_overflows),
		cmocka_unit_test(rebuilding_topology_leaves_overflows),
		cmocka_unit_test(bad_arguments_are_refused),
		cmocka_unit_test(smt_intel_topology),
		cmocka_unit_test(smt_amd_topology),
		cmocka_unit_test(odd_count_with_smt_is_refused),
		cmocka_unit_test(custom_modifiers_apply_after_the_template),
		cmocka_unit_test(modifier_of_a_missing_leaf_is_refused),
		cmocka_unit_test(t2a_on_amd_sets_its_model_and_bits),
		cmocka_unit_test(vendor_mismatch_is_refused_by_name),
		cmocka_unit_test(missing_template_leaf_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
