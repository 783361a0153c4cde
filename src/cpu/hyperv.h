/* Hyper-V enlightenments (machine-config.kvm_hyperv, tern run --hyperv):
 * what KVM emulates of Microsoft's hypervisor interface, offered to the
 * guest the way QEMU's hv_passthrough offers it.
 *
 * Off by default. Linux guests run as well without it (they use KVM's own
 * paravirtual interface), and with it KVM's Hyper-V code, its MSRs and its
 * hypercalls become guest-reachable surface. It is for Windows guests and
 * for kvm-unit-tests' hyperv_* tests.
 *
 * When on:
 * - CPUID 0x40000000.. are the leaves KVM_GET_SUPPORTED_HV_CPUID reports,
 *   and KVM's own leaves move up to 0x40000100 (cpuid_place_hyperv_leaves)
 *   where Linux, which scans 0x40000000-0x4000ff00 in steps of 0x100 for
 *   KVM's signature, still finds its paravirtual features;
 * - every vCPU gets a SynIC (KVM_CAP_HYPERV_SYNIC2: the variant whose
 *   message and event pages are not zeroed behind the guest's back when it
 *   sets them) and a VP index equal to tern's vCPU index (the number the
 *   guest and SINT routes use for it);
 * - KVM_CAP_HYPERV_ENFORCE_CPUID where KVM has it: the guest reaches only
 *   the MSRs and hypercalls the CPUID above announces;
 * - KVM_EXIT_HYPERV exits are taken (hyperv_handle_exit): SynIC page
 *   addresses are recorded for devices that post messages, and hypercalls
 *   KVM passes to userspace go to the VM's handler (--hyperv-testdev's)
 *   or fail with HV_STATUS_INVALID_HYPERCALL_CODE.
 * References: the kernel's Documentation/virt/kvm/api.rst (KVM_CAP_HYPERV_*,
 * KVM_GET_SUPPORTED_HV_CPUID, KVM_EXIT_HYPERV) and Microsoft's Hypervisor
 * Top-Level Functional Specification (TLFS). */
#ifndef TERN_CPU_HYPERV_H
#define TERN_CPU_HYPERV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu/cpuid.h"
#include "util/error.h"

struct vcpu;

/* Hyper-V's leaves, and where KVM's go while they are there. */
#define HYPERV_CPUID_FIRST 0x40000000u
#define HYPERV_CPUID_KVM_BASE 0x40000100u

/* TLFS hypercall status codes tern answers with. */
#define HV_STATUS_SUCCESS 0x0
#define HV_STATUS_INVALID_HYPERCALL_CODE 0x2
#define HV_STATUS_INVALID_HYPERCALL_INPUT 0x3
#define HV_STATUS_INVALID_ALIGNMENT 0x4
#define HV_STATUS_INVALID_CONNECTION_ID 0x12
#define HV_STATUS_INSUFFICIENT_BUFFERS 0x13

#define HVCALL_POST_MESSAGE 0x5c
#define HVCALL_SIGNAL_EVENT 0x5d

#define HV_SYNIC_SINT_COUNT 16

/* What the guest last wrote to its SynIC's control, event flags page and
 * message page MSRs, learnt from KVM_EXIT_HYPERV_SYNIC on its own vCPU
 * thread and read by devices on other threads. Bit 0 of each is its enable
 * bit; the page's address is the value without its low 12 bits. */
struct hyperv_synic_state {
	_Atomic uint64_t control;
	_Atomic uint64_t evt_page;
	_Atomic uint64_t msg_page;
};

/* A hypercall KVM passed to userspace. input: the hypercall's control
 * word (its code in bits 15:0, bit 16 fast); in_param, out_param: the
 * input and output GPAs, or register values for a fast call. Returns the
 * TLFS result (status in bits 15:0). */
struct hyperv_hcall_handler {
	uint64_t (*call)(void *opaque, struct vcpu *vcpu, uint64_t input,
			 uint64_t in_param, uint64_t out_param);
	void *opaque;
};

/* Refuses, naming the capability, a host KVM that lacks what the Hyper-V
 * enlightenments need. check: KVM_CHECK_EXTENSION on kvm_fd (tests pass
 * their own). */
int hyperv_check_host(int kvm_fd, int (*check)(int fd, int cap),
		      struct tern_error *err);

/* KVM_GET_SUPPORTED_HV_CPUID: the system ioctl where KVM has it, else the
 * vCPU's. */
int hyperv_supported_cpuid(int kvm_fd, int vcpu_fd, struct cpuid_table *out,
			   struct tern_error *err);

/* Writes the Hyper-V leaves (those of hv inside 0x40000000-0x400000ff)
 * into a built CPUID table, after moving KVM's leaves of that range up by
 * 0x100 (their maximum-leaf value in EAX with them). Returns 0 or -E2BIG. */
int cpuid_place_hyperv_leaves(struct cpuid_table *out,
			      const struct cpuid_table *hv);

/* After KVM_SET_CPUID2: SynIC, enforcement and VP index for the vCPU. */
int hyperv_enable_vcpu(struct vcpu *vcpu, struct tern_error *err);

/* KVM_EXIT_HYPERV on vcpu's thread. */
void hyperv_handle_exit(struct vcpu *vcpu);

/* The Hyper-V MSRs KVM keeps per vCPU that a snapshot carries, in the
 * order they must be restored (QEMU's order: guest OS id before the
 * hypercall page, SynIC control before its pages and SINTs, a timer's
 * configuration before its count). */
#define HYPERV_SAVED_MSR_MAX 64
extern const uint32_t hyperv_saved_msrs[];
extern const unsigned hyperv_saved_msr_count;

#endif
