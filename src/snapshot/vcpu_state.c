#include "snapshot/vcpu_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cpu/cpuid.h"
#include "snapshot/snapshot_sections.h"
#include "vm/vm.h"

/* MSRs a guest's state lives in beyond sregs (EFER, APIC base via sregs
 * too). Only those this host's KVM lists are saved; the TSC deadline is
 * restored after the LAPIC, which would otherwise disarm it. */
#define MSR_IA32_TSC 0x10
#define MSR_IA32_APICBASE 0x1b
#define MSR_IA32_TSC_ADJUST 0x3b
#define MSR_IA32_SPEC_CTRL 0x48
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_CR_PAT 0x277
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MSR_IA32_XSS 0xda0
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103
#define MSR_KVM_SYSTEM_TIME 0x12
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define MSR_KVM_ASYNC_PF_EN 0x4b564d02
#define MSR_KVM_STEAL_TIME 0x4b564d03
#define MSR_KVM_PV_EOI_EN 0x4b564d04
#define MSR_KVM_POLL_CONTROL 0x4b564d05
#define MSR_KVM_ASYNC_PF_INT 0x4b564d06

static const uint32_t wanted_msrs[] = {
	MSR_IA32_TSC, MSR_IA32_APICBASE, MSR_IA32_TSC_ADJUST,
	MSR_IA32_SPEC_CTRL, MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP,
	MSR_IA32_SYSENTER_EIP, MSR_IA32_MISC_ENABLE, MSR_IA32_CR_PAT,
	MSR_MTRR_DEF_TYPE, MSR_IA32_XSS, MSR_STAR, MSR_LSTAR, MSR_CSTAR,
	MSR_SYSCALL_MASK, MSR_KERNEL_GS_BASE, MSR_TSC_AUX, MSR_KVM_SYSTEM_TIME,
	MSR_KVM_SYSTEM_TIME_NEW,
	/* The interrupt vector before enabling async PF (api.rst order). */
	MSR_KVM_ASYNC_PF_INT, MSR_KVM_ASYNC_PF_EN, MSR_KVM_STEAL_TIME,
	MSR_KVM_PV_EOI_EN, MSR_KVM_POLL_CONTROL,
	MSR_IA32_TSC_DEADLINE, /* last: see vcpu_state_restore() */
};
#define WANTED_MSR_COUNT (sizeof(wanted_msrs) / sizeof(wanted_msrs[0]))
/* Beside those, the MSRs the VM's CPU templates set (T2S's
 * IA32_ARCH_CAPABILITIES, a custom template's msr_modifiers): a restored
 * or migrated guest keeps the values it was given. */
#define TEMPLATE_MSR_MAX (CPU_CUSTOM_MAX_MSRS + 8)
/* And with kvm_hyperv, the Hyper-V MSRs (cpu/hyperv.h). A snapshot
 * holds at most this many; older snapshots hold fewer and still load. */
#define SAVED_MSR_MAX                                                          \
	(WANTED_MSR_COUNT + TEMPLATE_MSR_MAX + HYPERV_SAVED_MSR_MAX)

struct msr_block {
	struct kvm_msrs header;
	struct kvm_msr_entry entries[SAVED_MSR_MAX];
};

static int ioctl_error(struct tern_error *err, const struct vcpu *vcpu,
		       const char *what)
{
	return tern_error_set(err, errno, "vCPU %d: %s failed: %s", vcpu->index,
			      what, strerror(errno));
}

static int add_section(struct state_file *sf, const struct vcpu *vcpu,
		       enum snap_vcpu_kind kind, const char *what,
		       const void *data, size_t len, struct tern_error *err)
{
	char name[STATE_FILE_NAME_SIZE];

	snprintf(name, sizeof(name), "vcpu%d.%s", vcpu->index, what);
	return state_file_add(sf, snap_vcpu_id(vcpu->index, kind), name, data,
			      len, err);
}

static const struct state_section *require(const struct state_file *sf,
					   const struct vcpu *vcpu,
					   enum snap_vcpu_kind kind,
					   const char *what, size_t len,
					   struct tern_error *err)
{
	char name[STATE_FILE_NAME_SIZE];

	snprintf(name, sizeof(name), "vcpu%d.%s", vcpu->index, what);
	return state_file_require(sf, snap_vcpu_id(vcpu->index, kind), name,
				  len, err);
}

static int listed(const struct kvm_msr_list *list, uint32_t index)
{
	for (uint32_t i = 0; i < list->nmsrs; i++)
		if (list->indices[i] == index)
			return 1;
	return 0;
}

static struct kvm_msr_list *msr_index_list(int kvm_fd)
{
	struct kvm_msr_list probe = {.nmsrs = 0};
	struct kvm_msr_list *list;

	/* E2BIG with nmsrs set to the count (api.rst). */
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return NULL;
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	if (!list)
		return NULL;
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		free(list);
		return NULL;
	}
	return list;
}

/* Adds index to the block unless it is there already. */
static void append_msr(struct msr_block *block, uint32_t index)
{
	uint32_t n = block->header.nmsrs;

	for (uint32_t j = 0; j < n; j++)
		if (block->entries[j].index == index)
			return;
	if (!index || n >= SAVED_MSR_MAX)
		return;
	block->entries[n].index = index;
	/* Before the TSC deadline, which stays last. */
	if (n && block->entries[n - 1].index == MSR_IA32_TSC_DEADLINE) {
		block->entries[n] = block->entries[n - 1];
		block->entries[n - 1].index = index;
	}
	block->header.nmsrs++;
}

static void add_msr_modifiers(struct msr_block *block,
			      const struct cpu_modifiers *mods)
{
	for (int i = 0; mods && i < mods->msr_count; i++)
		append_msr(block, mods->msrs[i].addr);
}

static void add_template_msrs(const struct vcpu *vcpu, struct msr_block *block)
{
	const struct vm_config *config = &vcpu->vm->config;

	if (config->cpu_template)
		add_msr_modifiers(block, config->cpu_template->modifiers);
	if (config->cpu_custom)
		add_msr_modifiers(block, &config->cpu_custom->mods);
}

/* Not filtered by KVM_GET_MSR_INDEX_LIST, which names only some of them
 * (SCONTROL for the whole SynIC, STIMER0_CONFIG for the timers); the
 * read below drops any this KVM cannot give. */
static void add_hyperv_msrs(struct msr_block *block)
{
	for (unsigned i = 0; i < hyperv_saved_msr_count; i++)
		append_msr(block, hyperv_saved_msrs[i]);
}

static int save_msrs(struct vcpu *vcpu, struct state_file *sf,
		     struct tern_error *err)
{
	struct kvm_msr_list *list = msr_index_list(vcpu->vm->kvm.fd);
	struct msr_block block;
	int got;

	if (!list)
		return tern_error_set(err, errno,
				      "KVM_GET_MSR_INDEX_LIST failed: %s",
				      strerror(errno));
	memset(&block, 0, sizeof(block));
	for (size_t i = 0; i < WANTED_MSR_COUNT; i++)
		if (listed(list, wanted_msrs[i]))
			block.entries[block.header.nmsrs++].index =
				wanted_msrs[i];
	free(list);
	add_template_msrs(vcpu, &block);
	if (vcpu->vm->config.kvm_hyperv)
		add_hyperv_msrs(&block);

	/* KVM_GET_MSRS stops at the first MSR it cannot read (a listed one
	 * the vCPU's CPUID does not expose): drop that one and retry. */
	for (;;) {
		got = ioctl(vcpu->fd, KVM_GET_MSRS, &block);
		if (got < 0)
			return ioctl_error(err, vcpu, "KVM_GET_MSRS");
		if ((uint32_t)got >= block.header.nmsrs)
			break;
		memmove(&block.entries[got], &block.entries[got + 1],
			(block.header.nmsrs - (uint32_t)got - 1) *
				sizeof(block.entries[0]));
		block.header.nmsrs--;
	}
	return add_section(sf, vcpu, SNAP_VCPU_MSRS, "msrs", &block,
			   sizeof(block.header) +
				   block.header.nmsrs *
					   sizeof(block.entries[0]),
			   err);
}

static int xsave_size(const struct vcpu *vcpu)
{
	int size = ioctl(vcpu->vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	if (size < (int)sizeof(struct kvm_xsave))
		size = (int)sizeof(struct kvm_xsave);
	return size;
}

static int has_xsave(const struct vcpu *vcpu)
{
	return ioctl(vcpu->vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0;
}

static int save_fpu_state(struct vcpu *vcpu, struct state_file *sf,
			  struct tern_error *err)
{
	int ret;

	if (has_xsave(vcpu)) {
		int size = xsave_size(vcpu);
		void *buf = calloc(1, (size_t)size);
		unsigned long request = size > (int)sizeof(struct kvm_xsave)
			? KVM_GET_XSAVE2
			: KVM_GET_XSAVE;

		if (!buf)
			return tern_error_set(err, ENOMEM, "out of memory");
		if (ioctl(vcpu->fd, request, buf) < 0)
			ret = ioctl_error(err, vcpu, "KVM_GET_XSAVE");
		else
			ret = add_section(sf, vcpu, SNAP_VCPU_XSAVE, "xsave",
					  buf, (size_t)size, err);
		free(buf);
		return ret;
	}
	{
		struct kvm_fpu fpu;

		if (ioctl(vcpu->fd, KVM_GET_FPU, &fpu) < 0)
			return ioctl_error(err, vcpu, "KVM_GET_FPU");
		return add_section(sf, vcpu, SNAP_VCPU_FPU, "fpu", &fpu,
				   sizeof(fpu), err);
	}
}

static int save_cpuid(struct vcpu *vcpu, struct state_file *sf,
		      struct tern_error *err)
{
	struct cpuid_table *table = calloc(1, sizeof(*table));
	int ret;

	if (!table)
		return tern_error_set(err, ENOMEM, "out of memory");
	table->header.nent = CPUID_MAX_ENTRIES;
	if (ioctl(vcpu->fd, KVM_GET_CPUID2, table) < 0)
		ret = ioctl_error(err, vcpu, "KVM_GET_CPUID2");
	else
		ret = add_section(sf, vcpu, SNAP_VCPU_CPUID, "cpuid", table,
				  sizeof(table->header) +
					  table->header.nent *
						  sizeof(table->entries[0]),
				  err);
	free(table);
	return ret;
}

/* Plain fixed-size state: one ioctl, one section. */
struct fixed_state {
	enum snap_vcpu_kind kind;
	const char *name;
	unsigned long get, set;
	size_t size;
	const char *get_name, *set_name;
};

#define FIXED(kind, name, get, set, type)                                      \
	{                                                                      \
		kind, name, get, set, sizeof(type), #get, #set                 \
	}

static const struct fixed_state fixed_states[] = {
	FIXED(SNAP_VCPU_REGS, "regs", KVM_GET_REGS, KVM_SET_REGS,
	      struct kvm_regs),
	FIXED(SNAP_VCPU_SREGS, "sregs", KVM_GET_SREGS, KVM_SET_SREGS,
	      struct kvm_sregs),
	FIXED(SNAP_VCPU_LAPIC, "lapic", KVM_GET_LAPIC, KVM_SET_LAPIC,
	      struct kvm_lapic_state),
	FIXED(SNAP_VCPU_EVENTS, "events", KVM_GET_VCPU_EVENTS,
	      KVM_SET_VCPU_EVENTS, struct kvm_vcpu_events),
	FIXED(SNAP_VCPU_MP_STATE, "mp_state", KVM_GET_MP_STATE,
	      KVM_SET_MP_STATE, struct kvm_mp_state),
	FIXED(SNAP_VCPU_DEBUGREGS, "debugregs", KVM_GET_DEBUGREGS,
	      KVM_SET_DEBUGREGS, struct kvm_debugregs),
	FIXED(SNAP_VCPU_XCRS, "xcrs", KVM_GET_XCRS, KVM_SET_XCRS,
	      struct kvm_xcrs),
};

static const struct fixed_state *fixed_state(enum snap_vcpu_kind kind)
{
	for (size_t i = 0; i < sizeof(fixed_states) / sizeof(fixed_states[0]);
	     i++)
		if (fixed_states[i].kind == kind)
			return &fixed_states[i];
	return NULL;
}

static int save_fixed(struct vcpu *vcpu, struct state_file *sf,
		      const struct fixed_state *fs, struct tern_error *err)
{
	uint8_t buf[sizeof(struct kvm_lapic_state) + sizeof(struct kvm_sregs)];

	memset(buf, 0, sizeof(buf));
	if (ioctl(vcpu->fd, fs->get, buf) < 0)
		return ioctl_error(err, vcpu, fs->get_name);
	return add_section(sf, vcpu, fs->kind, fs->name, buf, fs->size, err);
}

int vcpu_state_save(struct vcpu *vcpu, struct state_file *sf,
		    struct tern_error *err)
{
	int ret = save_cpuid(vcpu, sf, err);

	for (size_t i = 0;
	     !ret && i < sizeof(fixed_states) / sizeof(fixed_states[0]); i++) {
		if (fixed_states[i].kind == SNAP_VCPU_XCRS && !has_xsave(vcpu))
			continue;
		ret = save_fixed(vcpu, sf, &fixed_states[i], err);
	}
	if (!ret)
		ret = save_fpu_state(vcpu, sf, err);
	if (!ret)
		ret = save_msrs(vcpu, sf, err);
	return ret;
}

/* Feature words a guest may depend on. A snapshot names bits of these that
 * the new host must offer too. */
struct feature_word {
	uint32_t function, index;
	enum cpuid_register reg;
	const char *leaf_name;
	/* Bits that mirror guest state rather than the CPU, so a running
	 * guest's CPUID has them where a fresh vCPU's does not: KVM sets
	 * OSXSAVE (1.ecx bit 27) from CR4.OSXSAVE and OSPKE (7.0.ecx bit 4)
	 * from CR4.PKE once the guest enables them, and the restored CR4
	 * brings them back. */
	uint32_t guest_state_bits;
};

#define CPUID_1_ECX_OSXSAVE (1u << 27)
#define CPUID_7_ECX_OSPKE (1u << 4)

static const struct feature_word feature_words[] = {
	{0x1, 0, CPUID_ECX, "1.ecx", CPUID_1_ECX_OSXSAVE},
	{0x1, 0, CPUID_EDX, "1.edx", 0},
	{0x7, 0, CPUID_EBX, "7.0.ebx", 0},
	{0x7, 0, CPUID_ECX, "7.0.ecx", CPUID_7_ECX_OSPKE},
	{0x7, 0, CPUID_EDX, "7.0.edx", 0},
	{0x7, 1, CPUID_EAX, "7.1.eax", 0},
	{0xd, 1, CPUID_EAX, "0xd.1.eax", 0},
	{0x80000001, 0, CPUID_ECX, "0x80000001.ecx", 0},
	{0x80000001, 0, CPUID_EDX, "0x80000001.edx", 0},
};

struct feature_name {
	uint32_t function;
	enum cpuid_register reg;
	unsigned bit;
	const char *name;
};

/* The features most likely to differ between two hosts. */
static const struct feature_name feature_names[] = {
	{0x1, CPUID_ECX, 0, "sse3"},
	{0x1, CPUID_ECX, 9, "ssse3"},
	{0x1, CPUID_ECX, 12, "fma"},
	{0x1, CPUID_ECX, 19, "sse4.1"},
	{0x1, CPUID_ECX, 20, "sse4.2"},
	{0x1, CPUID_ECX, 22, "movbe"},
	{0x1, CPUID_ECX, 23, "popcnt"},
	{0x1, CPUID_ECX, 25, "aes"},
	{0x1, CPUID_ECX, 26, "xsave"},
	{0x1, CPUID_ECX, 28, "avx"},
	{0x1, CPUID_ECX, 29, "f16c"},
	{0x1, CPUID_ECX, 30, "rdrand"},
	{0x7, CPUID_EBX, 3, "bmi1"},
	{0x7, CPUID_EBX, 5, "avx2"},
	{0x7, CPUID_EBX, 8, "bmi2"},
	{0x7, CPUID_EBX, 16, "avx512f"},
	{0x7, CPUID_EBX, 18, "rdseed"},
	{0x7, CPUID_EBX, 19, "adx"},
	{0x7, CPUID_EBX, 29, "sha"},
	{0x7, CPUID_ECX, 1, "avx512vbmi"},
	{0x7, CPUID_ECX, 8, "gfni"},
	{0x7, CPUID_ECX, 9, "vaes"},
	{0x7, CPUID_EDX, 14, "serialize"},
	{0x80000001, CPUID_EDX, 27, "rdtscp"},
	{0x80000001, CPUID_ECX, 5, "lzcnt"},
};

static uint32_t entry_reg(const struct kvm_cpuid_entry2 *e,
			  enum cpuid_register reg)
{
	switch (reg) {
	case CPUID_EAX:
		return e->eax;
	case CPUID_EBX:
		return e->ebx;
	case CPUID_ECX:
		return e->ecx;
	default:
		return e->edx;
	}
}

static const struct kvm_cpuid_entry2 *
find_entry(const struct kvm_cpuid2 *t, uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < t->nent; i++)
		if (t->entries[i].function == function &&
		    (t->entries[i].index == index ||
		     !(t->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)))
			return &t->entries[i];
	return NULL;
}

static uint32_t offered_bits(const struct kvm_cpuid2 *a,
			     const struct kvm_cpuid2 *b,
			     const struct feature_word *w)
{
	const struct kvm_cpuid_entry2 *ea =
		find_entry(a, w->function, w->index);
	const struct kvm_cpuid_entry2 *eb =
		find_entry(b, w->function, w->index);

	return (ea ? entry_reg(ea, w->reg) : 0) |
		(eb ? entry_reg(eb, w->reg) : 0);
}

static const struct kvm_cpuid2 *saved_cpuid(const struct vcpu *vcpu,
					    const struct state_file *sf,
					    struct tern_error *err)
{
	const struct state_section *s =
		require(sf, vcpu, SNAP_VCPU_CPUID, "cpuid", 0, err);
	const struct kvm_cpuid2 *t;

	if (!s)
		return NULL;
	t = (const void *)s->data;
	if (s->length < sizeof(*t) || t->nent > CPUID_MAX_ENTRIES ||
	    s->length != sizeof(*t) + t->nent * sizeof(t->entries[0])) {
		tern_error_set(err, EINVAL,
			       "snapshot section vcpu%d.cpuid is malformed",
			       vcpu->index);
		return NULL;
	}
	return t;
}

int vcpu_state_check_cpuid(struct vcpu *vcpu, const struct state_file *sf,
			   struct tern_error *err)
{
	const struct kvm_cpuid2 *saved = saved_cpuid(vcpu, sf, err);
	struct cpuid_table *current;
	int ret = 0;

	if (!saved)
		return -EINVAL;
	current = calloc(1, sizeof(*current));
	if (!current)
		return tern_error_set(err, ENOMEM, "out of memory");
	/* What this host gives a vCPU now (tern's template and topology on
	 * top of KVM's supported set), plus what KVM could support. */
	current->header.nent = CPUID_MAX_ENTRIES;
	if (ioctl(vcpu->fd, KVM_GET_CPUID2, current) < 0)
		current->header.nent = 0;
	for (size_t i = 0;
	     !ret && i < sizeof(feature_words) / sizeof(feature_words[0]);
	     i++) {
		const struct feature_word *w = &feature_words[i];
		const struct kvm_cpuid_entry2 *e =
			find_entry(saved, w->function, w->index);
		uint32_t missing;

		if (!e)
			continue;
		missing = entry_reg(e, w->reg) & ~w->guest_state_bits &
			~offered_bits(&current->header,
				      &vcpu->vm->kvm.supported_cpuid.header, w);
		if (!missing)
			continue;
		{
			unsigned bit = (unsigned)__builtin_ctz(missing);
			const char *name = NULL;

			for (size_t n = 0; n <
			     sizeof(feature_names) / sizeof(feature_names[0]);
			     n++)
				if (feature_names[n].function == w->function &&
				    feature_names[n].reg == w->reg &&
				    feature_names[n].bit == bit)
					name = feature_names[n].name;
			ret = tern_error_set(
				err, ENOTSUP,
				"this host cannot restore the snapshot: its "
				"CPU lacks feature %s%s(CPUID %s bit %u) that "
				"the guest was given",
				name ? name : "", name ? " " : "", w->leaf_name,
				bit);
		}
	}
	free(current);
	return ret;
}

static int set_fixed(struct vcpu *vcpu, const struct state_file *sf,
		     enum snap_vcpu_kind kind, struct tern_error *err)
{
	const struct fixed_state *fs = fixed_state(kind);
	const struct state_section *s =
		require(sf, vcpu, kind, fs->name, fs->size, err);

	if (!s)
		return -EINVAL;
	if (ioctl(vcpu->fd, fs->set, s->data) < 0)
		return ioctl_error(err, vcpu, fs->set_name);
	return 0;
}

static int restore_fpu_state(struct vcpu *vcpu, const struct state_file *sf,
			     struct tern_error *err)
{
	const struct state_section *s =
		state_file_find(sf, snap_vcpu_id(vcpu->index, SNAP_VCPU_XSAVE));
	int ret = 0;

	if (!s) {
		s = require(sf, vcpu, SNAP_VCPU_FPU, "fpu",
			    sizeof(struct kvm_fpu), err);
		if (!s)
			return -EINVAL;
		if (ioctl(vcpu->fd, KVM_SET_FPU, s->data) < 0)
			return ioctl_error(err, vcpu, "KVM_SET_FPU");
		return 0;
	}
	if (!has_xsave(vcpu))
		return tern_error_set(err, ENOTSUP,
				      "this host's KVM has no XSAVE support; "
				      "the snapshot's vCPUs used it");
	{
		size_t size = (size_t)xsave_size(vcpu);
		uint8_t *buf;

		if (s->length < sizeof(struct kvm_xsave) || s->length > size)
			return tern_error_set(
				err, ENOTSUP,
				"vCPU %d's XSAVE state is %llu bytes; this "
				"host takes %zu",
				vcpu->index, (unsigned long long)s->length,
				size);
		buf = calloc(1, size);
		if (!buf)
			return tern_error_set(err, ENOMEM, "out of memory");
		memcpy(buf, s->data, s->length);
		if (ioctl(vcpu->fd, KVM_SET_XSAVE, buf) < 0)
			ret = ioctl_error(err, vcpu, "KVM_SET_XSAVE");
		free(buf);
	}
	if (!ret && has_xsave(vcpu))
		ret = set_fixed(vcpu, sf, SNAP_VCPU_XCRS, err);
	return ret;
}

/* Sets the saved MSRs except (deadline == 0) or only (deadline == 1) the
 * TSC deadline. */
static int restore_msrs(struct vcpu *vcpu, const struct state_file *sf,
			int deadline, struct tern_error *err)
{
	const struct state_section *s =
		require(sf, vcpu, SNAP_VCPU_MSRS, "msrs", 0, err);
	const struct kvm_msrs *saved;
	struct msr_block block;
	int set;

	if (!s)
		return -EINVAL;
	saved = (const void *)s->data;
	if (s->length < sizeof(*saved) || saved->nmsrs > SAVED_MSR_MAX ||
	    s->length !=
		    sizeof(*saved) +
			    saved->nmsrs * sizeof(struct kvm_msr_entry))
		return tern_error_set(err, EINVAL,
				      "snapshot section vcpu%d.msrs is "
				      "malformed",
				      vcpu->index);
	memset(&block, 0, sizeof(block));
	for (uint32_t i = 0; i < saved->nmsrs; i++)
		if ((saved->entries[i].index == MSR_IA32_TSC_DEADLINE) ==
		    deadline)
			block.entries[block.header.nmsrs++] = saved->entries[i];
	if (block.header.nmsrs == 0)
		return 0;
	set = ioctl(vcpu->fd, KVM_SET_MSRS, &block);
	if (set < 0)
		return ioctl_error(err, vcpu, "KVM_SET_MSRS");
	if ((uint32_t)set < block.header.nmsrs)
		return tern_error_set(err, ENOTSUP,
				      "vCPU %d: this host's KVM refused MSR "
				      "0x%x from the snapshot",
				      vcpu->index, block.entries[set].index);
	return 0;
}

/* Everything but CPUID, in the order KVM needs. */
static int restore_registers(struct vcpu *vcpu, const struct state_file *sf,
			     struct tern_error *err)
{
	int ret = set_fixed(vcpu, sf, SNAP_VCPU_REGS, err);

	if (!ret)
		ret = restore_fpu_state(vcpu, sf, err);
	if (!ret)
		ret = set_fixed(vcpu, sf, SNAP_VCPU_SREGS, err);
	if (!ret)
		ret = restore_msrs(vcpu, sf, 0, err);
	if (!ret)
		ret = set_fixed(vcpu, sf, SNAP_VCPU_MP_STATE, err);
	if (!ret)
		ret = set_fixed(vcpu, sf, SNAP_VCPU_LAPIC, err);
	if (!ret)
		ret = restore_msrs(vcpu, sf, 1, err);
	if (!ret)
		ret = set_fixed(vcpu, sf, SNAP_VCPU_EVENTS, err);
	if (!ret)
		ret = set_fixed(vcpu, sf, SNAP_VCPU_DEBUGREGS, err);
	return ret;
}

int vcpu_state_restore(struct vcpu *vcpu, const struct state_file *sf,
		       struct tern_error *err)
{
	const struct kvm_cpuid2 *cpuid = saved_cpuid(vcpu, sf, err);

	if (!cpuid)
		return -EINVAL;
	/* CPUID first: it decides which MSRs and XSAVE components the vCPU
	 * accepts. */
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0)
		return ioctl_error(err, vcpu, "KVM_SET_CPUID2");
	return restore_registers(vcpu, sf, err);
}

/* After a triple fault, AMD's KVM (seen with Linux 6.1) has re-initialised
 * the VMCB, nested page table root included, but keeps its MMU loaded, so
 * the next KVM_RUN enters the guest with no page table: it never executes
 * an instruction (the test host's restart_after_a_triple_fault). KVM
 * reloads the MMU when KVM_SET_SREGS changes CR3, so CR3 is moved here and
 * put back by the restore that follows. Harmless after any other reset. */
static int force_mmu_reload(struct vcpu *vcpu, struct tern_error *err)
{
	struct kvm_sregs sregs;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return ioctl_error(err, vcpu, "KVM_GET_SREGS");
	sregs.cr3 ^= 0x1000;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return ioctl_error(err, vcpu, "KVM_SET_SREGS");
	return 0;
}

int vcpu_state_reset(struct vcpu *vcpu, const struct state_file *sf,
		     struct tern_error *err)
{
	int ret = force_mmu_reload(vcpu, err);

	/* The CPUID is the VM's configuration, set at creation and the same
	 * since; KVM refuses to set it again once the vCPU ran if its runtime
	 * bits differ (OSXSAVE, the APIC's enable: Linux 6.1 compares them as
	 * the guest left them), so it is left alone. */
	return ret ? ret : restore_registers(vcpu, sf, err);
}
