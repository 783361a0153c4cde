#include "arch/x86/vcpu_setup.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/layout.h"

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_IA32_TSC 0x10

#define MISC_ENABLE_FAST_STRING 0x1
/* MTRRs enabled, default type write-back: without it the guest would treat
 * all of RAM as uncachable (SDM Vol. 3A 11.11.2.1). */
#define MTRR_DEF_TYPE_ENABLED_WB ((1u << 11) | 6)

#define X86_CR0_PE 0x1
#define X86_CR0_ET 0x10
#define X86_CR0_NE 0x20
#define X86_CR0_PG 0x80000000u
#define X86_CR4_PAE 0x20
#define X86_EFER_LME 0x100
#define X86_EFER_LMA 0x400

#define PTE_PRESENT 0x1
#define PTE_WRITABLE 0x2
#define PTE_LARGE 0x80

/* LAPIC local vector table registers (SDM Vol. 3A 10.5.1). */
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_DELIVERY_EXTINT 0x7
#define APIC_DELIVERY_NMI 0x4

static int set_msrs(int vcpu_fd, struct tern_error *err)
{
	static const struct {
		uint32_t index;
		uint64_t value;
	} boot_msrs[] = {
		{MSR_IA32_SYSENTER_CS, 0},
		{MSR_IA32_SYSENTER_ESP, 0},
		{MSR_IA32_SYSENTER_EIP, 0},
		{MSR_STAR, 0},
		{MSR_CSTAR, 0},
		{MSR_KERNEL_GS_BASE, 0},
		{MSR_SYSCALL_MASK, 0},
		{MSR_LSTAR, 0},
		{MSR_IA32_TSC, 0},
		{MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING},
		{MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_ENABLED_WB},
	};
	const size_t count = sizeof(boot_msrs) / sizeof(boot_msrs[0]);
	struct {
		struct kvm_msrs header;
		struct kvm_msr_entry
			entries[sizeof(boot_msrs) / sizeof(boot_msrs[0])];
	} msrs;
	int written;

	memset(&msrs, 0, sizeof(msrs));
	msrs.header.nmsrs = count;
	for (size_t i = 0; i < count; i++) {
		msrs.entries[i].index = boot_msrs[i].index;
		msrs.entries[i].data = boot_msrs[i].value;
	}
	written = ioctl(vcpu_fd, KVM_SET_MSRS, &msrs);
	if (written < 0)
		return tern_error_set(err, errno, "KVM_SET_MSRS failed: %s",
				      strerror(errno));
	/* KVM_SET_MSRS stops at the first MSR it refuses and returns how many
	 * it set. */
	if ((size_t)written != count)
		return tern_error_set(err, EINVAL,
				      "KVM refused MSR 0x%x at vCPU setup",
				      msrs.entries[written].index);
	return 0;
}

static int set_fpu(int vcpu_fd, struct tern_error *err)
{
	struct kvm_fpu fpu;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f; /* FNINIT value: all exceptions masked */
	fpu.mxcsr = 0x1f80; /* power-on MXCSR */
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return tern_error_set(err, errno, "KVM_SET_FPU failed: %s",
				      strerror(errno));
	return 0;
}

static void set_lvt_delivery(struct kvm_lapic_state *lapic, int reg,
			     uint32_t mode)
{
	uint32_t value;

	memcpy(&value, &lapic->regs[reg], sizeof(value));
	value = (value & ~0x700u) | (mode << 8);
	memcpy(&lapic->regs[reg], &value, sizeof(value));
}

/* LINT0 carries the 8259's interrupts (virtual wire mode) and LINT1 NMIs,
 * as PC firmware programs them and as the MADT tells the guest. */
static int set_lapic_lint(int vcpu_fd, struct tern_error *err)
{
	struct kvm_lapic_state lapic;

	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
		return tern_error_set(err, errno, "KVM_GET_LAPIC failed: %s",
				      strerror(errno));
	set_lvt_delivery(&lapic, APIC_LVT_LINT0, APIC_DELIVERY_EXTINT);
	set_lvt_delivery(&lapic, APIC_LVT_LINT1, APIC_DELIVERY_NMI);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic) < 0)
		return tern_error_set(err, errno, "KVM_SET_LAPIC failed: %s",
				      strerror(errno));
	return 0;
}

int x86_vcpu_init_platform_state(int vcpu_fd, struct tern_error *err)
{
	int ret = set_msrs(vcpu_fd, err);

	if (!ret)
		ret = set_fpu(vcpu_fd, err);
	if (!ret)
		ret = set_lapic_lint(vcpu_fd, err);
	return ret;
}

/* GDT layout. Linux's 64-bit boot protocol wants __BOOT_CS = 0x10 and
 * __BOOT_DS = 0x18 (boot.rst, "64-bit Boot Protocol"); PVH accepts any flat
 * selectors, so both modes share one table with a 32-bit code segment
 * beside the 64-bit one. */
enum {
	GDT_NULL = 0,
	GDT_CODE32 = 1,
	GDT_CODE64 = 2,
	GDT_DATA = 3,
	GDT_TSS = 4,
	GDT_ENTRIES = 5,
};

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) |
		((uint64_t)(flags & 0xf0ffu) << 40) |
		((uint64_t)(limit & 0x000f0000u) << 32) |
		((uint64_t)(base & 0x00ffffffu) << 16) | (limit & 0xffffu);
}

static struct kvm_segment segment_from_gdt(uint64_t entry, int index)
{
	struct kvm_segment seg = {
		.base = (uint32_t)(((entry >> 16) & 0xffffff) |
				   (((entry >> 56) & 0xff) << 24)),
		.limit = (uint32_t)((entry & 0xffff) |
				    (((entry >> 48) & 0xf) << 16)),
		.selector = (uint16_t)(index * 8),
		.type = (entry >> 40) & 0xf,
		.present = (entry >> 47) & 1,
		.dpl = (entry >> 45) & 3,
		.db = (entry >> 54) & 1,
		.s = (entry >> 44) & 1,
		.l = (entry >> 53) & 1,
		.g = (entry >> 55) & 1,
		.avl = (entry >> 52) & 1,
	};

	/* KVM takes the limit in bytes: expand a page-granular limit. */
	if (seg.g)
		seg.limit = (seg.limit << 12) | 0xfff;
	return seg;
}

static int write_gdt(struct guest_memory *mem, uint64_t *gdt,
		     struct tern_error *err)
{
	gdt[GDT_NULL] = 0;
	gdt[GDT_CODE32] = gdt_entry(0xc09b, 0, 0xfffff);
	gdt[GDT_CODE64] = gdt_entry(0xa09b, 0, 0xfffff);
	gdt[GDT_DATA] = gdt_entry(0xc093, 0, 0xfffff);
	/* A busy 32-bit TSS: VM entry needs a usable TR even if the guest
	 * never switches tasks. */
	gdt[GDT_TSS] = gdt_entry(0x008b, 0, 0x67);
	if (guest_memory_write(mem, LAYOUT_GDT_GPA, gdt,
			       GDT_ENTRIES * sizeof(uint64_t)))
		return tern_error_set(err, EFAULT,
				      "guest memory too small for the GDT");
	return 0;
}

/* Identity map of the first 4 GiB with 2 MiB pages: enough for the kernel's
 * 64-bit entry, which builds its own tables at once. */
static int write_identity_page_tables(struct guest_memory *mem,
				      struct tern_error *err)
{
	uint64_t *pml4 = guest_memory_ptr(mem, LAYOUT_PML4_GPA, 4096);
	uint64_t *pdpt = guest_memory_ptr(mem, LAYOUT_PDPT_GPA, 4096);
	uint64_t *pd = guest_memory_ptr(mem, LAYOUT_PD_GPA, 4 * 4096);

	if (!pml4 || !pdpt || !pd)
		return tern_error_set(err, EFAULT,
				      "guest memory too small for page tables");
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = LAYOUT_PDPT_GPA | PTE_PRESENT | PTE_WRITABLE;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] =
			(LAYOUT_PD_GPA + i * 4096) | PTE_PRESENT | PTE_WRITABLE;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_PRESENT | PTE_WRITABLE | PTE_LARGE;
	return 0;
}

static int set_protected_sregs(int vcpu_fd, struct guest_memory *mem,
			       int long_mode, struct tern_error *err)
{
	uint64_t gdt[GDT_ENTRIES];
	struct kvm_sregs sregs;
	struct kvm_segment data;
	int ret;

	ret = write_gdt(mem, gdt, err);
	if (ret)
		return ret;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return tern_error_set(err, errno, "KVM_GET_SREGS failed: %s",
				      strerror(errno));

	sregs.gdt.base = LAYOUT_GDT_GPA;
	sregs.gdt.limit = GDT_ENTRIES * sizeof(uint64_t) - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;

	data = segment_from_gdt(gdt[GDT_DATA], GDT_DATA);
	sregs.cs = long_mode ? segment_from_gdt(gdt[GDT_CODE64], GDT_CODE64)
			     : segment_from_gdt(gdt[GDT_CODE32], GDT_CODE32);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = segment_from_gdt(gdt[GDT_TSS], GDT_TSS);

	sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (long_mode) {
		ret = write_identity_page_tables(mem, err);
		if (ret)
			return ret;
		sregs.cr3 = LAYOUT_PML4_GPA;
		sregs.cr4 |= X86_CR4_PAE;
		sregs.cr0 |= X86_CR0_PG;
		sregs.efer |= X86_EFER_LME | X86_EFER_LMA;
	}
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return tern_error_set(err, errno, "KVM_SET_SREGS failed: %s",
				      strerror(errno));
	return 0;
}

int x86_vcpu_set_boot_entry(int vcpu_fd, struct guest_memory *mem,
			    const struct boot_entry *entry,
			    struct tern_error *err)
{
	int long_mode = entry->cpu_mode == BOOT_CPU_MODE_LONG64;
	struct kvm_regs regs;
	int ret;

	ret = set_protected_sregs(vcpu_fd, mem, long_mode, err);
	if (ret)
		return ret;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2; /* bit 1 is reserved-one; interrupts off */
	regs.rip = entry->entry_gpa;
	regs.rsi = entry->rsi;
	regs.rbx = entry->rbx;
	regs.rax = entry->rax;
	regs.rsp = LAYOUT_BOOT_STACK_GPA;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return tern_error_set(err, errno, "KVM_SET_REGS failed: %s",
				      strerror(errno));
	return 0;
}

int x86_vcpu_set_real_mode_entry(int vcpu_fd, uint16_t ip,
				 struct tern_error *err)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return tern_error_set(err, errno, "KVM_GET_SREGS failed: %s",
				      strerror(errno));
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds = sregs.es = sregs.ss = sregs.cs;
	sregs.ds.type = sregs.es.type = sregs.ss.type = 3;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return tern_error_set(err, errno, "KVM_SET_SREGS failed: %s",
				      strerror(errno));
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = ip;
	regs.rsp = 0x7000;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return tern_error_set(err, errno, "KVM_SET_REGS failed: %s",
				      strerror(errno));
	return 0;
}
