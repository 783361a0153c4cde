/* What a person sees of a vCPU: the register dump when a guest dies, and the
 * report asked for with SIGUSR2 when a guest stops answering. */
#include "cpu/vcpu.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/log.h"
#include "vm/vm.h"

#define REPORT_STACK_WORDS 32
#define PAGE_SIZE_4K 4096u
#define X86_CR0_PG (1ull << 31)
/* CR3's page-table address (bits 12-51); the low bits are PCID or flags. */
#define CR3_ADDRESS_MASK 0x000ffffffffff000ull

static void dump_segment(const char *name, const struct kvm_segment *seg)
{
	fprintf(stderr,
		"  %-3s sel=0x%04x base=0x%016llx limit=0x%08x type=%u l=%u "
		"db=%u\r\n",
		name, seg->selector, (unsigned long long)seg->base, seg->limit,
		seg->type, seg->l, seg->db);
}

void vcpu_dump_registers(const struct vcpu *vcpu)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(stderr, "  (registers unavailable: %s)\r\n",
			strerror(errno));
		return;
	}
	fprintf(stderr,
		"  rip=0x%016llx rsp=0x%016llx rflags=0x%016llx\r\n"
		"  rax=0x%016llx rbx=0x%016llx rcx=0x%016llx rdx=0x%016llx\r\n"
		"  rsi=0x%016llx rdi=0x%016llx rbp=0x%016llx\r\n"
		"  r8 =0x%016llx r9 =0x%016llx r10=0x%016llx r11=0x%016llx\r\n"
		"  r12=0x%016llx r13=0x%016llx r14=0x%016llx r15=0x%016llx\r\n"
		"  cr0=0x%016llx cr2=0x%016llx cr3=0x%016llx cr4=0x%016llx "
		"efer=0x%llx\r\n",
		r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi,
		r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14,
		r.r15, s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	dump_segment("cs", &s.cs);
	dump_segment("ss", &s.ss);
	dump_segment("ds", &s.ds);
	dump_segment("tr", &s.tr);
	fprintf(stderr,
		"  gdt base=0x%llx limit=0x%x idt base=0x%llx limit=0x%x\r\n",
		(unsigned long long)s.gdt.base, s.gdt.limit,
		(unsigned long long)s.idt.base, s.idt.limit);
}

static const char *mp_state_name(uint32_t state)
{
	switch (state) {
	case KVM_MP_STATE_RUNNABLE:
		return "runnable";
	case KVM_MP_STATE_UNINITIALIZED:
		return "uninitialized";
	case KVM_MP_STATE_INIT_RECEIVED:
		return "init-received";
	case KVM_MP_STATE_HALTED:
		return "halted";
	case KVM_MP_STATE_SIPI_RECEIVED:
		return "sipi-received";
	default:
		return "other";
	}
}

/* The vectors set in one of the LAPIC's 256-bit registers (ISR, IRR: eight
 * 32-bit words 16 bytes apart), as "48,236" or "-". */
static void lapic_vectors(const struct kvm_lapic_state *lapic, unsigned offset,
			  char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (unsigned word = 0; word < 8; word++) {
		uint32_t bits;

		memcpy(&bits, lapic->regs + offset + word * 16, sizeof(bits));
		for (unsigned bit = 0; bit < 32 && bits; bit++) {
			int n;

			if (!(bits & (1u << bit)))
				continue;
			n = snprintf(out + used, size - used, "%s%u",
				     used ? "," : "", word * 32 + bit);
			if (n < 0 || (size_t)n >= size - used)
				return;
			used += (size_t)n;
		}
	}
	if (!used)
		snprintf(out, size, "-");
}

/* The guest's stack as it would read it: each page of the range translated
 * through the guest's own page tables (KVM_TRANSLATE). Words the guest has
 * not mapped are left out; the report is for reading, not for trusting. */
static void report_stack(const struct vcpu *vcpu, uint64_t rsp)
{
	uint64_t words[REPORT_STACK_WORDS];
	unsigned count = 0;

	while (count < REPORT_STACK_WORDS) {
		uint64_t gva = rsp + count * sizeof(uint64_t);
		struct kvm_translation tr = {.linear_address = gva};
		unsigned in_page = (PAGE_SIZE_4K - (unsigned)(gva & 0xfff)) /
			sizeof(uint64_t);
		unsigned take = REPORT_STACK_WORDS - count;

		if (in_page == 0 || gva & 7)
			break; /* a misaligned stack: nothing sensible to show
				*/
		if (take > in_page)
			take = in_page;
		if (ioctl(vcpu->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid ||
		    guest_memory_read(&vcpu->vm->memory, tr.physical_address,
				      &words[count], take * sizeof(uint64_t)))
			break;
		count += take;
	}
	for (unsigned i = 0; i < count; i += 4) {
		char line[96];
		size_t used = 0;

		for (unsigned j = i; j < count && j < i + 4; j++)
			used += (size_t)snprintf(
				line + used, sizeof(line) - used, " %016llx",
				(unsigned long long)words[j]);
		log_info("vCPU %d: stack+0x%03x:%s", vcpu->index,
			 (unsigned)(i * sizeof(uint64_t)), line);
	}
	if (count == 0)
		log_info("vCPU %d: stack at 0x%llx not readable", vcpu->index,
			 (unsigned long long)rsp);
	/* The stack shown stops where its mapping does (an interrupt stack
	 * near its top), so the report says where it ends for readers that
	 * wait for it. */
	log_info("vCPU %d: report ends (%u stack words)", vcpu->index, count);
}

/* One vCPU's lines stay together in the log when they all report at once. */
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static void report_locked(const struct vcpu *vcpu)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	struct kvm_mp_state mp = {0};
	struct kvm_vcpu_events ev = {0};
	struct kvm_lapic_state lapic = {0};
	char isr[128], irr[128];
	uint32_t tpr;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		log_info("vCPU %d: registers unavailable: %s", vcpu->index,
			 strerror(errno));
		return;
	}
	if (ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp) < 0)
		mp.mp_state = ~0u;
	log_info("vCPU %d: %s rip=0x%llx rsp=0x%llx rflags=0x%llx cr2=0x%llx "
		 "cr3=0x%llx exits=%llu",
		 vcpu->index, mp_state_name(mp.mp_state), r.rip, r.rsp,
		 r.rflags, s.cr2, s.cr3,
		 (unsigned long long)atomic_load_explicit(
			 &vcpu->exit_count, memory_order_relaxed));
	log_info("vCPU %d: rax=0x%llx rbx=0x%llx rcx=0x%llx rdx=0x%llx "
		 "rsi=0x%llx rdi=0x%llx rbp=0x%llx",
		 vcpu->index, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp);
	/* The page-table root the CPU walks must be guest RAM; a CR3 outside
	 * it (a flipped bit, say) makes every fetch fault while the guest's
	 * own software walk, from the pgd it believes in, finds the page
	 * present: a #PF retried for ever. */
	if ((s.cr0 & X86_CR0_PG) &&
	    !guest_memory_ptr(&vcpu->vm->memory, s.cr3 & CR3_ADDRESS_MASK,
			      PAGE_SIZE_4K))
		log_info("vCPU %d: cr3 0x%llx points outside guest RAM: the "
			 "page walk cannot start",
			 vcpu->index, s.cr3);
	if (ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &ev) == 0)
		log_info("vCPU %d: pending exception=%s%u interrupt=%s%u "
			 "nmi=%u/%u interrupt-shadow=%u",
			 vcpu->index,
			 ev.exception.injected ? "" : "none:", ev.exception.nr,
			 ev.interrupt.injected ? "" : "none:", ev.interrupt.nr,
			 ev.nmi.injected, ev.nmi.pending, ev.interrupt.shadow);
	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) == 0) {
		lapic_vectors(&lapic, 0x100, isr, sizeof(isr));
		lapic_vectors(&lapic, 0x200, irr, sizeof(irr));
		memcpy(&tpr, lapic.regs + 0x80, sizeof(tpr));
		log_info("vCPU %d: lapic tpr=0x%x in-service=%s requested=%s",
			 vcpu->index, tpr & 0xff, isr, irr);
	}
	report_stack(vcpu, r.rsp);
}

void vcpu_report_state(const struct vcpu *vcpu)
{
	pthread_mutex_lock(&report_lock);
	report_locked(vcpu);
	pthread_mutex_unlock(&report_lock);
}

void vcpu_request_report(struct vcpu *vcpu)
{
	atomic_store(&vcpu->report_requested, 1);
	vcpu_kick(vcpu);
}
