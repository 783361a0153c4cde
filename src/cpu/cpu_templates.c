/* CPU templates: which features a guest may see, as tables of bits to clear
 * from what KVM supports. Bit positions follow the Intel SDM vol. 2A CPUID
 * feature tables and the AMD APM vol. 3 appendix E. */
#include "cpu/cpuid.h"

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
