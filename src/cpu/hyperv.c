#include "cpu/hyperv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cpu/vcpu.h"
#include "util/log.h"
#include "vm/vm.h"

#define HV_X64_MSR_VP_INDEX 0x40000002u

/* What the enlightenments cannot do without, with the feature each one
 * gives, for the refusal. */
static const struct {
	int cap;
	const char *name;
	const char *what;
} required_caps[] = {
	{KVM_CAP_HYPERV, "KVM_CAP_HYPERV", "Hyper-V MSRs and hypercalls"},
	{KVM_CAP_HYPERV_TIME, "KVM_CAP_HYPERV_TIME",
	 "the reference counter and TSC page"},
	{KVM_CAP_HYPERV_SYNIC2, "KVM_CAP_HYPERV_SYNIC2",
	 "the synthetic interrupt controller and timers"},
	{KVM_CAP_HYPERV_VP_INDEX, "KVM_CAP_HYPERV_VP_INDEX",
	 "virtual processor numbers"},
};

int hyperv_check_host(int kvm_fd, int (*check)(int fd, int cap),
		      struct tern_error *err)
{
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]);
	     i++)
		if (check(kvm_fd, required_caps[i].cap) <= 0)
			return tern_error_set(
				err, ENOTSUP,
				"kvm_hyperv: this host's KVM lacks %s (%s)",
				required_caps[i].name, required_caps[i].what);
	if (check(kvm_fd, KVM_CAP_SYS_HYPERV_CPUID) <= 0 &&
	    check(kvm_fd, KVM_CAP_HYPERV_CPUID) <= 0)
		return tern_error_set(err, ENOTSUP,
				      "kvm_hyperv: this host's KVM lacks "
				      "KVM_CAP_HYPERV_CPUID (the Hyper-V "
				      "CPUID leaves it supports)");
	return 0;
}

int hyperv_supported_cpuid(int kvm_fd, int vcpu_fd, struct cpuid_table *out,
			   struct tern_error *err)
{
	int fd =
		ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYS_HYPERV_CPUID) > 0
		? kvm_fd
		: vcpu_fd;

	memset(out, 0, sizeof(*out));
	out->header.nent = CPUID_MAX_ENTRIES;
	if (ioctl(fd, KVM_GET_SUPPORTED_HV_CPUID, out) < 0)
		return tern_error_set(err, errno,
				      "KVM_GET_SUPPORTED_HV_CPUID failed: %s",
				      strerror(errno));
	if (out->header.nent > CPUID_MAX_ENTRIES)
		return tern_error_set(err, E2BIG,
				      "KVM_GET_SUPPORTED_HV_CPUID: %u entries",
				      out->header.nent);
	return 0;
}

static bool in_hyperv_range(uint32_t function)
{
	return function >= HYPERV_CPUID_FIRST &&
		function < HYPERV_CPUID_KVM_BASE;
}

int cpuid_place_hyperv_leaves(struct cpuid_table *out,
			      const struct cpuid_table *hv)
{
	uint32_t kept = 0, moved_from, moved_count;
	struct kvm_cpuid_entry2 moved[CPUID_MAX_ENTRIES];
	uint32_t n = 0;

	/* Take KVM's leaves out, in order, shifted by 0x100; the maximum
	 * hypervisor leaf in the signature's EAX moves with them. */
	for (uint32_t i = 0; i < out->header.nent; i++) {
		struct kvm_cpuid_entry2 e = out->entries[i];

		if (in_hyperv_range(e.function)) {
			if (e.function == HYPERV_CPUID_FIRST &&
			    in_hyperv_range(e.eax))
				e.eax += HYPERV_CPUID_KVM_BASE -
					HYPERV_CPUID_FIRST;
			e.function +=
				HYPERV_CPUID_KVM_BASE - HYPERV_CPUID_FIRST;
			moved[n++] = e;
		} else {
			out->entries[kept++] = e;
		}
	}
	out->header.nent = kept;
	moved_count = n;
	/* Rebuild: leaves below the hypervisor range, Hyper-V's, KVM's
	 * moved ones, then the rest (extended leaves), so the table stays
	 * ordered by function as KVM reports it. */
	for (moved_from = 0; moved_from < out->header.nent &&
	     out->entries[moved_from].function < HYPERV_CPUID_FIRST;
	     moved_from++)
		;
	n = 0;
	for (uint32_t i = 0; i < hv->header.nent && i < CPUID_MAX_ENTRIES; i++)
		if (in_hyperv_range(hv->entries[i].function))
			n++;
	if ((uint64_t)out->header.nent + n + moved_count > CPUID_MAX_ENTRIES)
		return -E2BIG;
	memmove(&out->entries[moved_from + n + moved_count],
		&out->entries[moved_from],
		(out->header.nent - moved_from) * sizeof(out->entries[0]));
	n = moved_from;
	for (uint32_t i = 0; i < hv->header.nent && i < CPUID_MAX_ENTRIES; i++)
		if (in_hyperv_range(hv->entries[i].function))
			out->entries[n++] = hv->entries[i];
	memcpy(&out->entries[n], moved, moved_count * sizeof(moved[0]));
	out->header.nent += (n - moved_from) + moved_count;
	return 0;
}

static int enable_vcpu_cap(struct vcpu *vcpu, uint32_t cap, uint64_t arg,
			   const char *name, struct tern_error *err)
{
	struct kvm_enable_cap enable = {.cap = cap, .args = {arg}};

	if (ioctl(vcpu->fd, KVM_ENABLE_CAP, &enable) < 0)
		return tern_error_set(err, errno,
				      "vCPU %d: KVM_ENABLE_CAP %s failed: %s",
				      vcpu->index, name, strerror(errno));
	return 0;
}

int hyperv_enable_vcpu(struct vcpu *vcpu, struct tern_error *err)
{
	struct {
		struct kvm_msrs header;
		struct kvm_msr_entry entry;
	} vp_index = {
		.header.nmsrs = 1,
		.entry = {.index = HV_X64_MSR_VP_INDEX,
			  .data = (uint64_t)vcpu->index},
	};
	int ret = enable_vcpu_cap(vcpu, KVM_CAP_HYPERV_SYNIC2, 0,
				  "KVM_CAP_HYPERV_SYNIC2", err);

	/* Enforcement is a narrowing only: without it (kernels before
	 * 5.14) the guest may also use Hyper-V features the CPUID does not
	 * announce, which is what KVM did before it existed. */
	if (!ret &&
	    ioctl(vcpu->vm->kvm.fd, KVM_CHECK_EXTENSION,
		  KVM_CAP_HYPERV_ENFORCE_CPUID) > 0)
		ret = enable_vcpu_cap(vcpu, KVM_CAP_HYPERV_ENFORCE_CPUID, 1,
				      "KVM_CAP_HYPERV_ENFORCE_CPUID", err);
	/* KVM numbers a vCPU by creation order, which is tern's index
	 * already; set it anyway, so SINT routes (which name VP indexes)
	 * and tern's numbering cannot drift apart. */
	if (!ret && ioctl(vcpu->fd, KVM_SET_MSRS, &vp_index) != 1)
		ret = tern_error_set(err, EIO,
				     "vCPU %d: KVM refused its Hyper-V VP "
				     "index",
				     vcpu->index);
	return ret;
}

static void record_synic(struct vcpu *vcpu, const struct kvm_hyperv_exit *hv)
{
	atomic_store(&vcpu->synic.control, hv->u.synic.control);
	atomic_store(&vcpu->synic.evt_page, hv->u.synic.evt_page);
	atomic_store(&vcpu->synic.msg_page, hv->u.synic.msg_page);
}

void hyperv_handle_exit(struct vcpu *vcpu)
{
	struct kvm_hyperv_exit *hv = &vcpu->run->hyperv;
	const struct hyperv_hcall_handler *handler = &vcpu->vm->hyperv_hcall;

	switch (hv->type) {
	case KVM_EXIT_HYPERV_SYNIC:
		record_synic(vcpu, hv);
		break;
	case KVM_EXIT_HYPERV_HCALL:
		hv->u.hcall.result = handler->call
			? handler->call(
				  handler->opaque, vcpu, hv->u.hcall.input,
				  hv->u.hcall.params[0], hv->u.hcall.params[1])
			: HV_STATUS_INVALID_HYPERCALL_CODE;
		break;
	default:
		/* KVM_EXIT_HYPERV_SYNDBG: the debugger interface, not
		 * offered (its CPUID bits come only with hv-syndbg). */
		log_ratelimited(&vcpu->vm->hyperv_log, LOG_WARN,
				"vCPU %d: Hyper-V exit of type %u ignored",
				vcpu->index, hv->type);
		break;
	}
}

/* Hyper-V MSR numbers (TLFS; the kernel's hyperv-tlfs.h). */
#define HV_MSR_GUEST_OS_ID 0x40000000u
#define HV_MSR_HYPERCALL 0x40000001u
#define HV_MSR_VP_RUNTIME 0x40000010u
#define HV_MSR_REFERENCE_TSC 0x40000021u
#define HV_MSR_VP_ASSIST_PAGE 0x40000073u
#define HV_MSR_SCONTROL 0x40000080u
#define HV_MSR_SVERSION 0x40000081u
#define HV_MSR_SIEFP 0x40000082u
#define HV_MSR_SIMP 0x40000083u
#define HV_MSR_SINT(n) (0x40000090u + (n))
#define HV_MSR_STIMER_CONFIG(n) (0x400000b0u + 2 * (n))
#define HV_MSR_STIMER_COUNT(n) (0x400000b1u + 2 * (n))
#define HV_MSR_CRASH_P(n) (0x40000100u + (n))
#define HV_MSR_CRASH_CTL 0x40000105u
#define HV_MSR_REENLIGHTENMENT_CONTROL 0x40000106u
#define HV_MSR_TSC_EMULATION_CONTROL 0x40000107u
#define HV_MSR_TSC_EMULATION_STATUS 0x40000108u
#define HV_MSR_TSC_INVARIANT_CONTROL 0x40000118u

/* The order is the restore order (hyperv.h). */
const uint32_t hyperv_saved_msrs[] = {
	HV_MSR_GUEST_OS_ID,
	HV_MSR_HYPERCALL,
	HV_X64_MSR_VP_INDEX,
	HV_MSR_VP_RUNTIME,
	HV_MSR_REFERENCE_TSC,
	HV_MSR_VP_ASSIST_PAGE,
	HV_MSR_SCONTROL,
	HV_MSR_SVERSION,
	HV_MSR_SIEFP,
	HV_MSR_SIMP,
	HV_MSR_SINT(0),
	HV_MSR_SINT(1),
	HV_MSR_SINT(2),
	HV_MSR_SINT(3),
	HV_MSR_SINT(4),
	HV_MSR_SINT(5),
	HV_MSR_SINT(6),
	HV_MSR_SINT(7),
	HV_MSR_SINT(8),
	HV_MSR_SINT(9),
	HV_MSR_SINT(10),
	HV_MSR_SINT(11),
	HV_MSR_SINT(12),
	HV_MSR_SINT(13),
	HV_MSR_SINT(14),
	HV_MSR_SINT(15),
	HV_MSR_STIMER_CONFIG(0),
	HV_MSR_STIMER_COUNT(0),
	HV_MSR_STIMER_CONFIG(1),
	HV_MSR_STIMER_COUNT(1),
	HV_MSR_STIMER_CONFIG(2),
	HV_MSR_STIMER_COUNT(2),
	HV_MSR_STIMER_CONFIG(3),
	HV_MSR_STIMER_COUNT(3),
	HV_MSR_CRASH_P(0),
	HV_MSR_CRASH_P(1),
	HV_MSR_CRASH_P(2),
	HV_MSR_CRASH_P(3),
	HV_MSR_CRASH_P(4),
	HV_MSR_CRASH_CTL,
	HV_MSR_REENLIGHTENMENT_CONTROL,
	HV_MSR_TSC_EMULATION_CONTROL,
	HV_MSR_TSC_EMULATION_STATUS,
	HV_MSR_TSC_INVARIANT_CONTROL,
};
const unsigned hyperv_saved_msr_count =
	sizeof(hyperv_saved_msrs) / sizeof(hyperv_saved_msrs[0]);
_Static_assert(sizeof(hyperv_saved_msrs) / sizeof(hyperv_saved_msrs[0]) <=
		       HYPERV_SAVED_MSR_MAX,
	       "HYPERV_SAVED_MSR_MAX too small");
