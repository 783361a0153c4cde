/* CPU templates: which features a guest may see. tern's own are tables of
 * bits to clear from what KVM supports; Firecracker's static templates are
 * bit modifiers (cpu/cpu_modifiers.h) that also set bits and the CPU model.
 * Bit positions follow the Intel SDM vol. 2A CPUID feature tables and the
 * AMD APM vol. 3 appendix E. */
#include "cpu/cpuid.h"

#include <errno.h>
#include <string.h>

#define BIT(n) (1u << (n))
#define ARRAY_SIZE(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define CLEAR(leaf, sub, register, bits)                                       \
	{                                                                      \
		.function = (leaf), .index = (sub), .any_index = 0,            \
		.reg = (register), .clear_bits = (bits)                        \
	}

/* Leaf 0x1 ECX. */
#define F1_MONITOR BIT(3)
#define F1_FMA BIT(12)
#define F1_CX16 BIT(13)
#define F1_MOVBE BIT(22)
#define F1_XSAVE BIT(26)
#define F1_OSXSAVE BIT(27)
#define F1_AVX BIT(28)
#define F1_F16C BIT(29)

/* Leaf 0x7 sub-leaf 0 EBX. */
#define F7B_BMI1 BIT(3)
#define F7B_HLE BIT(4)
#define F7B_AVX2 BIT(5)
#define F7B_BMI2 BIT(8)
#define F7B_RTM BIT(11)
#define F7B_MPX BIT(14)
#define F7B_AVX512F BIT(16)
#define F7B_AVX512DQ BIT(17)
#define F7B_RDSEED BIT(18)
#define F7B_ADX BIT(19)
#define F7B_AVX512IFMA BIT(21)
#define F7B_AVX512PF BIT(26)
#define F7B_AVX512ER BIT(27)
#define F7B_AVX512CD BIT(28)
#define F7B_SHA BIT(29)
#define F7B_AVX512BW BIT(30)
#define F7B_AVX512VL BIT(31)

/* Leaf 0x7 sub-leaf 0 ECX. */
#define F7C_AVX512VBMI BIT(1)
#define F7C_PKU BIT(3)
#define F7C_OSPKE BIT(4)
#define F7C_AVX512VBMI2 BIT(6)
#define F7C_VAES BIT(9)
#define F7C_VPCLMULQDQ BIT(10)
#define F7C_AVX512VNNI BIT(11)
#define F7C_AVX512BITALG BIT(12)
#define F7C_AVX512VPOPCNTDQ BIT(14)

/* Leaf 0x7 sub-leaf 0 EDX. */
#define F7D_AVX512_4VNNIW BIT(2)
#define F7D_AVX512_4FMAPS BIT(3)
#define F7D_AVX512_VP2INTERSECT BIT(8)
#define F7D_AMX_BF16 BIT(22)
#define F7D_AVX512_FP16 BIT(23)
#define F7D_AMX_TILE BIT(24)
#define F7D_AMX_INT8 BIT(25)

/* Leaf 0x7 sub-leaf 1 EAX and EDX. */
#define F71A_SHA512 BIT(0)
#define F71A_SM3 BIT(1)
#define F71A_SM4 BIT(2)
#define F71A_AVX_VNNI BIT(4)
#define F71A_AVX512_BF16 BIT(5)
#define F71A_AMX_FP16 BIT(21)
#define F71A_AVX_IFMA BIT(23)
#define F71D_AVX_VNNI_INT8 BIT(4)
#define F71D_AVX_NE_CONVERT BIT(5)
#define F71D_AMX_COMPLEX BIT(8)
#define F71D_AVX_VNNI_INT16 BIT(10)
#define F71D_AVX10 BIT(19)

/* Leaf 0x80000001 ECX (AMD). */
#define F81C_LZCNT BIT(5) /* "ABM" */
#define F81C_XOP BIT(11)
#define F81C_FMA4 BIT(16)
#define F81C_TBM BIT(21)

/* Leaf 0xD: XSAVE state components. Hiding the XSAVE bit is not enough on its
 * own, since KVM derives the XCR0 it lets the guest set from leaf 0xD.0; a
 * template without XSAVE drops leaf 0xD and every basic leaf above it. What
 * lives there (0x10 RDT, 0x12 SGX, 0x14 PT, 0x19 Key Locker, 0x1D/0x1E AMX,
 * 0x1F v2 topology; 0xB stays) is either XSAVE-managed state or
 * host-specific, so none of it belongs in a migration baseline. */
#define LEAF_XSAVE_STATE 0xdu

/* Everything from the x86-64-v3 and v4 psABI levels, plus extensions that
 * only exist in VEX/EVEX/XOP encoding or need XSAVE-managed state (the OS
 * cannot enable AVX, AVX-512 or AMX state without XSAVE):
 *   v3: AVX, AVX2, BMI1, BMI2, F16C, FMA, LZCNT, MOVBE, XSAVE/OSXSAVE
 *   v4: AVX512F, BW, CD, DQ, VL, and the rest of the AVX-512 family
 *   also: AMD FMA4/XOP/TBM, VAES, VPCLMULQDQ, AVX-VNNI/IFMA/NE-CONVERT,
 *         SHA512/SM3/SM4 (VEX-encoded), AMX, AVX10. */
#define ABOVE_V2_LEAF1_ECX                                                     \
	(F1_FMA | F1_MOVBE | F1_XSAVE | F1_OSXSAVE | F1_AVX | F1_F16C)
#define ABOVE_V2_LEAF7_EBX                                                     \
	(F7B_BMI1 | F7B_AVX2 | F7B_BMI2 | F7B_AVX512F | F7B_AVX512DQ |         \
	 F7B_AVX512IFMA | F7B_AVX512PF | F7B_AVX512ER | F7B_AVX512CD |         \
	 F7B_AVX512BW | F7B_AVX512VL)
#define ABOVE_V2_LEAF7_ECX                                                     \
	(F7C_AVX512VBMI | F7C_AVX512VBMI2 | F7C_VAES | F7C_VPCLMULQDQ |        \
	 F7C_AVX512VNNI | F7C_AVX512BITALG | F7C_AVX512VPOPCNTDQ)
#define ABOVE_V2_LEAF7_EDX                                                     \
	(F7D_AVX512_4VNNIW | F7D_AVX512_4FMAPS | F7D_AVX512_VP2INTERSECT |     \
	 F7D_AMX_BF16 | F7D_AVX512_FP16 | F7D_AMX_TILE | F7D_AMX_INT8)
#define ABOVE_V2_LEAF7_1_EAX                                                   \
	(F71A_SHA512 | F71A_SM3 | F71A_SM4 | F71A_AVX_VNNI |                   \
	 F71A_AVX512_BF16 | F71A_AMX_FP16 | F71A_AVX_IFMA)
#define ABOVE_V2_LEAF7_1_EDX                                                   \
	(F71D_AVX_VNNI_INT8 | F71D_AVX_NE_CONVERT | F71D_AMX_COMPLEX |         \
	 F71D_AVX_VNNI_INT16 | F71D_AVX10)
#define ABOVE_V2_LEAF81_ECX (F81C_LZCNT | F81C_XOP | F81C_FMA4 | F81C_TBM)

static const struct cpuid_mask_rule x86_64_v2_rules[] = {
	CLEAR(0x1, 0, CPUID_ECX, ABOVE_V2_LEAF1_ECX),
	CLEAR(0x7, 0, CPUID_EBX, ABOVE_V2_LEAF7_EBX),
	CLEAR(0x7, 0, CPUID_ECX, ABOVE_V2_LEAF7_ECX),
	CLEAR(0x7, 0, CPUID_EDX, ABOVE_V2_LEAF7_EDX),
	CLEAR(0x7, 1, CPUID_EAX, ABOVE_V2_LEAF7_1_EAX),
	CLEAR(0x7, 1, CPUID_EDX, ABOVE_V2_LEAF7_1_EDX),
	CLEAR(0x80000001, 0, CPUID_ECX, ABOVE_V2_LEAF81_ECX),
};

/* minimal: x86-64-v2 less what a mix of older or cross-vendor hosts may lack,
 * or what cannot move between hosts:
 *   CX16 (cmpxchg16b)  hidden: the one v2 feature early x86-64 parts lack.
 *   ADX, SHA, RDSEED   hidden: Broadwell/Zen and later only.
 *   MPX                hidden: Intel-only and removed from newer parts.
 *   PKU (and OSPKE)    hidden: Skylake-SP/Zen 3 and later only.
 *   HLE, RTM (TSX)     hidden: disabled by microcode on many hosts.
 *   MONITOR/MWAIT      hidden: a halted vCPU should exit, not MWAIT.
 *   RDTSCP             kept: on every host with usable VMX or SVM.
 *   TSC-deadline timer kept: KVM's local APIC emulates it everywhere.
 *   x2APIC             kept: emulated by KVM's local APIC, and needed for
 *                      APIC IDs above 254.
 *   SSE3 to SSE4.2, POPCNT, AES, PCLMULQDQ: kept (every host KVM runs on
 *                      in practice has them). */
static const struct cpuid_mask_rule minimal_rules[] = {
	CLEAR(0x1, 0, CPUID_ECX, ABOVE_V2_LEAF1_ECX | F1_CX16 | F1_MONITOR),
	CLEAR(0x7, 0, CPUID_EBX,
	      ABOVE_V2_LEAF7_EBX | F7B_HLE | F7B_RTM | F7B_MPX | F7B_RDSEED |
		      F7B_ADX | F7B_SHA),
	CLEAR(0x7, 0, CPUID_ECX, ABOVE_V2_LEAF7_ECX | F7C_PKU | F7C_OSPKE),
	CLEAR(0x7, 0, CPUID_EDX, ABOVE_V2_LEAF7_EDX),
	CLEAR(0x7, 1, CPUID_EAX, ABOVE_V2_LEAF7_1_EAX),
	CLEAR(0x7, 1, CPUID_EDX, ABOVE_V2_LEAF7_1_EDX),
	CLEAR(0x80000001, 0, CPUID_ECX, ABOVE_V2_LEAF81_ECX),
};

/* Firecracker's static templates (its docs/cpu_templates/cpu-templates.md):
 * CPUID as AWS presents C3 (Ivy Bridge) and T2 (Haswell) instances, whatever
 * the host. Each is a list of bit modifiers on KVM's supported CPUID (and,
 * for T2S and T2CL, IA32_ARCH_CAPABILITIES), applied before the topology is
 * written. Firecracker further limits each to a few exact CPU models; tern
 * checks the vendor and that every leaf a template changes exists
 * (cpu_template_check_host), since the bits they set (MCE, MTRR, ERMS, AMD's
 * IBRS and FP-pointer hints) need nothing from the hardware. */

#define SIG_INDEX 1u /* KVM_CPUID_FLAG_SIGNIFCANT_INDEX */

#define MOD(l, s, f, r, m, v)                                                  \
	{                                                                      \
		.leaf = (l), .subleaf = (s), .flags = (f), .reg = (r),         \
		.mask = (m), .value = (v)                                      \
	}

/* Leaf 1 EAX: family, model and stepping, reserved bits left alone. */
#define FMS_MASK 0x0fff3fffu
#define FMS_IVY_BRIDGE_EP 0x000306e4u /* family 6, model 0x3e, stepping 4 */
#define FMS_HASWELL_EP 0x000306f2u /* family 6, model 0x3f, stepping 2 */

/* Leaf 1 EDX: always MCE (7) and MTRR (12); never PSN (18), DS (21), ACPI
 * thermal (22), self-snoop (27), TM (29), PBE (31) (and bit 30 for T2). */
#define F1D_SET (BIT(7) | BIT(12))
#define F1D_CLEAR_C3 (BIT(18) | BIT(21) | BIT(22) | BIT(27) | BIT(29) | BIT(31))
#define F1D_CLEAR_T2 (F1D_CLEAR_C3 | BIT(30))

/* Leaf 1 ECX, host monitoring and management features: DTES64 (2), MONITOR
 * (3), DS-CPL (4), VMX (5), TM2 (8), CNXT-ID (10), SDBG (11), xTPR (14),
 * PDCM (15); T2 also SMX (6), EIST (7), DCA (18); C3 also FMA (12) and MOVBE
 * (22), which Ivy Bridge lacks. */
#define F1C_CLEAR_COMMON                                                       \
	(BIT(2) | BIT(3) | BIT(4) | BIT(5) | BIT(8) | BIT(10) | BIT(11) |      \
	 BIT(14) | BIT(15))
#define F1C_CLEAR_C3 (F1C_CLEAR_COMMON | BIT(12) | BIT(22))
#define F1C_CLEAR_T2 (F1C_CLEAR_COMMON | BIT(6) | BIT(7) | BIT(18))

/* Leaf 7.0 EBX: SGX, HLE, RTM, RDT, MPX, the AVX-512 family, RDSEED, ADX,
 * CLFLUSHOPT, CLWB, PT, SHA; C3 also BMI1, AVX2, BMI2, INVPCID (Haswell
 * additions); T2 sets ERMS (9). */
#define F7B_CLEAR_COMMON                                                       \
	(BIT(2) | BIT(4) | BIT(11) | BIT(12) | BIT(14) | BIT(15) | BIT(16) |   \
	 BIT(17) | BIT(18) | BIT(19) | BIT(21) | BIT(23) | BIT(24) | BIT(25) | \
	 BIT(26) | BIT(27) | BIT(28) | BIT(29) | BIT(30) | BIT(31))
#define F7B_CLEAR_C3 (F7B_CLEAR_COMMON | BIT(3) | BIT(5) | BIT(8) | BIT(10))
#define F7B_CLEAR_T2 (F7B_CLEAR_COMMON | BIT(22))
#define F7B_ERMS BIT(9)

/* Leaf 7.0 ECX: AVX512_VBMI (1), UMIP (2), PKU (3), OSPKE (4), AVX512_VNNI
 * (11), AVX512_VPOPCNTDQ (14), LA57 (16), RDPID (22), SGX_LC (30); T2 also
 * AVX512_VBMI2 (6), GFNI (8), VAES (9), VPCLMULQDQ (10), AVX512_BITALG
 * (12). */
#define F7C_CLEAR_C3                                                           \
	(BIT(1) | BIT(2) | BIT(3) | BIT(4) | BIT(11) | BIT(14) | BIT(16) |     \
	 BIT(22) | BIT(30))
#define F7C_CLEAR_T2                                                           \
	(F7C_CLEAR_C3 | BIT(6) | BIT(8) | BIT(9) | BIT(10) | BIT(12))

/* Leaf 7.0 EDX: AVX512_4VNNIW (2), AVX512_4FMAPS (3); T2 also FSRM (4),
 * AVX512_VP2INTERSECT (8). */
#define F7D_CLEAR_C3 (BIT(2) | BIT(3))
#define F7D_CLEAR_T2 (F7D_CLEAR_C3 | BIT(4) | BIT(8))

/* Leaf 0xD: no MPX, AVX-512 or PKRU state (0.EAX bits 3-7, 9), no XSAVEC,
 * XGETBV with ECX=1 or XSAVES (1.EAX bits 1-3). */
#define FD0A_CLEAR (BIT(3) | BIT(4) | BIT(5) | BIT(6) | BIT(7) | BIT(9))
#define FD1A_CLEAR (BIT(1) | BIT(2) | BIT(3))

/* Leaf 0x80000001: PREFETCHW (ECX 8) and 1 GiB pages (EDX 26) for all; C3
 * also LZCNT (ECX 5); T2 also MWAITX (ECX 29). */
#define F81C_CLEAR_C3 (BIT(5) | BIT(8))
#define F81C_CLEAR_T2 (BIT(8) | BIT(29))
#define F81D_PDPE1GB BIT(26)
/* T2CL and T2A: also SSE4A (ECX 6) and misaligned SSE (ECX 7). T2CL: the
 * AMD-only EDX bits 22-25 (MmxExt, MMX, FXSR, FFXSR); T2A: MmxExt (22),
 * FFXSR (25), and SVM (ECX 2). */
#define F81C_CLEAR_T2CL (F81C_CLEAR_T2 | BIT(6) | BIT(7))
#define F81C_CLEAR_T2A (F81C_CLEAR_T2CL | BIT(2))
#define F81D_CLEAR_T2CL (F81D_PDPE1GB | BIT(22) | BIT(23) | BIT(24) | BIT(25))
#define F81D_CLEAR_T2A (F81D_PDPE1GB | BIT(22) | BIT(25))

/* Leaf 0x80000008 EBX: no WBNOINVD (9); T2A: no CLZERO (0), and the hints
 * Milan gives: FP error pointers restored (2), IBRS preferred (18), IBRS
 * same mode (19), EFER.LMSLE unsupported (20). */
#define F88B_WBNOINVD BIT(9)
#define F88B_SET_T2A (BIT(2) | BIT(18) | BIT(19) | BIT(20))
#define F88B_MASK_T2A (F88B_WBNOINVD | BIT(0) | F88B_SET_T2A)

#define MSR_IA32_ARCH_CAPABILITIES 0x10au

/* The C3 and T2 family's shared leaves. */
#define FC_MODS(fms, f1c, f1d, f7b, f7b_set, f7c, f7d)                         \
	MOD(0x1, 0, 0, CPUID_EAX, FMS_MASK, (fms)),                            \
		MOD(0x1, 0, 0, CPUID_ECX, (f1c), 0),                           \
		MOD(0x1, 0, 0, CPUID_EDX, (f1d) | F1D_SET, F1D_SET),           \
		MOD(0x7, 0, SIG_INDEX, CPUID_EBX, (f7b) | (f7b_set),           \
		    (f7b_set)),                                                \
		MOD(0x7, 0, SIG_INDEX, CPUID_ECX, (f7c), 0),                   \
		MOD(0x7, 0, SIG_INDEX, CPUID_EDX, (f7d), 0),                   \
		MOD(0xd, 0, SIG_INDEX, CPUID_EAX, FD0A_CLEAR, 0),              \
		MOD(0xd, 1, SIG_INDEX, CPUID_EAX, FD1A_CLEAR, 0)

#define T2_MODS                                                                \
	FC_MODS(FMS_HASWELL_EP, F1C_CLEAR_T2, F1D_CLEAR_T2, F7B_CLEAR_T2,      \
		F7B_ERMS, F7C_CLEAR_T2, F7D_CLEAR_T2)

static const struct cpuid_modifier c3_cpuid[] = {
	FC_MODS(FMS_IVY_BRIDGE_EP, F1C_CLEAR_C3, F1D_CLEAR_C3, F7B_CLEAR_C3, 0,
		F7C_CLEAR_C3, F7D_CLEAR_C3),
	MOD(0x80000001, 0, 0, CPUID_ECX, F81C_CLEAR_C3, 0),
	MOD(0x80000001, 0, 0, CPUID_EDX, F81D_PDPE1GB, 0),
};

static const struct cpuid_modifier t2_cpuid[] = {
	T2_MODS,
	MOD(0x80000001, 0, 0, CPUID_ECX, F81C_CLEAR_T2, 0),
	MOD(0x80000001, 0, 0, CPUID_EDX, F81D_PDPE1GB, 0),
	MOD(0x80000008, 0, 0, CPUID_EBX, F88B_WBNOINVD, 0),
};

static const struct cpuid_modifier t2cl_cpuid[] = {
	T2_MODS,
	MOD(0x80000001, 0, 0, CPUID_ECX, F81C_CLEAR_T2CL, 0),
	MOD(0x80000001, 0, 0, CPUID_EDX, F81D_CLEAR_T2CL, 0),
	MOD(0x80000008, 0, 0, CPUID_EBX, F88B_WBNOINVD, 0),
};

static const struct cpuid_modifier t2a_cpuid[] = {
	T2_MODS,
	MOD(0x80000001, 0, 0, CPUID_ECX, F81C_CLEAR_T2A, 0),
	MOD(0x80000001, 0, 0, CPUID_EDX, F81D_CLEAR_T2A, 0),
	MOD(0x80000008, 0, 0, CPUID_EBX, F88B_MASK_T2A, F88B_SET_T2A),
};

/* T2S: IA32_ARCH_CAPABILITIES as on Skylake and Cascade Lake with current
 * microcode, whichever the host is, so a snapshot moves between them:
 * exactly RSBA (2), SKIP_L1DFL_VMENTRY (3), IF_PSCHANGE_MC_NO (6),
 * MISC_PACKAGE_CTRLS (10), ENERGY_FILTERING_CTL (11), FB_CLEAR (17), RRSBA
 * (19), GDS_NO (26), RFDS_NO (27). */
static const struct msr_modifier t2s_msrs[] = {
	{MSR_IA32_ARCH_CAPABILITIES, ~0ull, 0x0c0a0c4cull},
};

/* T2CL: the host's IA32_ARCH_CAPABILITIES less what Cascade Lake does not
 * enumerate (bits 9-12, 16, 18, 20-23, 25, 29 and up). */
static const struct msr_modifier t2cl_msrs[] = {
	{MSR_IA32_ARCH_CAPABILITIES, 0xffffffffe2f51e00ull, 0},
};

#define MODS_OF(cpuid_list, msr_list, msr_total)                               \
	{                                                                      \
		.cpuid = (cpuid_list), .cpuid_count = ARRAY_SIZE(cpuid_list),  \
		.msrs = (msr_list), .msr_count = (msr_total)                   \
	}

static const struct cpu_modifiers c3_mods = MODS_OF(c3_cpuid, NULL, 0);
static const struct cpu_modifiers t2_mods = MODS_OF(t2_cpuid, NULL, 0);
static const struct cpu_modifiers t2s_mods =
	MODS_OF(t2_cpuid, t2s_msrs, ARRAY_SIZE(t2s_msrs));
static const struct cpu_modifiers t2cl_mods =
	MODS_OF(t2cl_cpuid, t2cl_msrs, ARRAY_SIZE(t2cl_msrs));
static const struct cpu_modifiers t2a_mods = MODS_OF(t2a_cpuid, NULL, 0);

#define INTEL "GenuineIntel"
#define AMD "AuthenticAMD"

static const struct cpu_template templates[] = {
	{
		.name = "host",
		.description = "everything KVM supports on this host",
		.rules = NULL,
		.rule_count = 0,
		.max_basic_leaf = 0,
	},
	{
		.name = "x86-64-v2",
		.description = "SSE4.2/POPCNT level: no AVX, XSAVE or BMI",
		.rules = x86_64_v2_rules,
		.rule_count = ARRAY_SIZE(x86_64_v2_rules),
		.max_basic_leaf = LEAF_XSAVE_STATE,
	},
	{
		.name = "minimal",
		.description = "conservative baseline for migration: "
			       "x86-64-v2 without CX16, TSX, ADX, SHA",
		.rules = minimal_rules,
		.rule_count = ARRAY_SIZE(minimal_rules),
		.max_basic_leaf = LEAF_XSAVE_STATE,
	},
	{
		.name = "C3",
		.description = "Firecracker's: AWS C3 (Ivy Bridge) on Intel",
		.modifiers = &c3_mods,
		.vendor = INTEL,
		.vendor_name = "Intel",
	},
	{
		.name = "T2",
		.description = "Firecracker's: AWS T2 (Haswell) on Intel",
		.modifiers = &t2_mods,
		.vendor = INTEL,
		.vendor_name = "Intel",
	},
	{
		.name = "T2S",
		.description = "Firecracker's: T2 with a fixed "
			       "ARCH_CAPABILITIES (Skylake/Cascade Lake)",
		.modifiers = &t2s_mods,
		.vendor = INTEL,
		.vendor_name = "Intel",
	},
	{
		.name = "T2CL",
		.description = "Firecracker's: T2 for Cascade Lake and newer "
			       "Intel, the same instructions as T2A",
		.modifiers = &t2cl_mods,
		.vendor = INTEL,
		.vendor_name = "Intel",
	},
	{
		.name = "T2A",
		.description = "Firecracker's: T2 on AMD (Milan), the same "
			       "instructions as T2CL",
		.modifiers = &t2a_mods,
		.vendor = AMD,
		.vendor_name = "AMD",
	},
};

const struct cpu_template *cpu_template_find(const char *name)
{
	if (!name)
		return NULL;
	for (int i = 0; i < ARRAY_SIZE(templates); i++)
		if (strcmp(templates[i].name, name) == 0)
			return &templates[i];
	return NULL;
}

static void host_vendor(const struct cpuid_table *supported, char out[13])
{
	memset(out, 0, 13);
	for (uint32_t i = 0; i < supported->header.nent; i++) {
		const struct kvm_cpuid_entry2 *e = &supported->entries[i];

		if (e->function != 0)
			continue;
		memcpy(out, &e->ebx, 4);
		memcpy(out + 4, &e->edx, 4);
		memcpy(out + 8, &e->ecx, 4);
		return;
	}
}

static int has_leaf(const struct cpuid_table *supported, uint32_t leaf,
		    uint32_t subleaf)
{
	for (uint32_t i = 0; i < supported->header.nent; i++) {
		const struct kvm_cpuid_entry2 *e = &supported->entries[i];

		if (e->function == leaf &&
		    (e->index == subleaf ||
		     !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)))
			return 1;
	}
	return 0;
}

int cpu_template_check_host(const struct cpu_template *tmpl,
			    const struct cpuid_table *supported,
			    const char *field, struct tern_error *err)
{
	char vendor[13];

	if (!tmpl)
		return 0;
	host_vendor(supported, vendor);
	if (tmpl->vendor && strcmp(vendor, tmpl->vendor))
		return tern_error_set(err, ENOTSUP,
				      "%s %s is a template for %s CPUs; this "
				      "host's CPU is %s",
				      field, tmpl->name, tmpl->vendor_name,
				      vendor[0] ? vendor
						: "of no known vendor");
	for (int i = 0; tmpl->modifiers && i < tmpl->modifiers->cpuid_count;
	     i++) {
		const struct cpuid_modifier *m = &tmpl->modifiers->cpuid[i];

		if (!has_leaf(supported, m->leaf, m->subleaf))
			return tern_error_set(
				err, ENOTSUP,
				"%s %s changes CPUID leaf %#x sub-leaf %u, "
				"which this host's KVM does not report",
				field, tmpl->name, m->leaf, m->subleaf);
	}
	return 0;
}

void cpu_template_print_all(FILE *out)
{
	int width = 0;

	for (int i = 0; i < ARRAY_SIZE(templates); i++) {
		int len = (int)strlen(templates[i].name);

		if (len > width)
			width = len;
	}
	for (int i = 0; i < ARRAY_SIZE(templates); i++)
		fprintf(out, "  %-*s  %s\n", width, templates[i].name,
			templates[i].description);
}
