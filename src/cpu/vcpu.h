/* One vCPU: its KVM file descriptor, its shared kvm_run page, and the thread
 * that runs it. Exits are handled on that thread; anything that ends the VM
 * is handed to the VM through vm_request_stop(). */
#ifndef TERN_CPU_VCPU_H
#define TERN_CPU_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cpu/hyperv.h"
#include "util/error.h"

struct vm;

#define VCPU_EXIT_REASON_SLOTS 48

/* A short name for a KVM exit reason ("io", "mmio", "hlt", ...), "other"
 * for the shared last slot. */
const char *vcpu_exit_reason_name(unsigned slot);

struct vcpu {
	struct vm *vm;
	int index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	int thread_started;
	_Atomic uint64_t exit_count;
	/* Exits by KVM_EXIT_* reason (metrics); reasons at or above
	 * VCPU_EXIT_REASON_SLOTS - 1 share the last slot. */
	_Atomic uint64_t exits_by_reason[VCPU_EXIT_REASON_SLOTS];
	/* --hyperv: the guest's SynIC pages, for devices that post to it. */
	struct hyperv_synic_state synic;
	/* Set by vcpu_request_report(); the vCPU's own thread reports. */
	_Atomic int report_requested;
};

int vcpu_create(struct vcpu *vcpu, struct vm *vm, int index,
		struct tern_error *err);
/* CPUID (with the VM's template and topology), MSRs, FPU, LAPIC. */
int vcpu_configure(struct vcpu *vcpu, struct tern_error *err);
int vcpu_start(struct vcpu *vcpu, struct tern_error *err);
/* Makes a running KVM_RUN return so the thread sees the stop request. */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

/* Writes the general, segment and control registers to stderr: what a person
 * needs to see when a guest dies. */
void vcpu_dump_registers(const struct vcpu *vcpu);

/* For a guest that stopped answering: logs the vCPU's run state, registers,
 * pending events, LAPIC in-service and requested vectors and the top of the
 * guest's stack. Called on the vCPU's thread (KVM serialises vCPU ioctls
 * behind KVM_RUN); vcpu_request_report() asks for it from any thread. */
void vcpu_report_state(const struct vcpu *vcpu);
void vcpu_request_report(struct vcpu *vcpu);

/* How long to wait for a kicked vCPU before kicking it again. */
#define VCPU_REKICK_NS 20000000L /* 20 ms */

/* The signal used to kick vCPU threads out of KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGUSR1

#endif
