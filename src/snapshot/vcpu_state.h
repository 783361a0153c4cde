/* One vCPU's architectural state in and out of a state file: CPUID,
 * registers, XSAVE (or FPU), XCRs, the MSRs that matter, LAPIC, pending
 * events, MP state and debug registers. The vCPU must be outside KVM_RUN
 * (the VM paused, or not yet started). */
#ifndef TERN_SNAPSHOT_VCPU_STATE_H
#define TERN_SNAPSHOT_VCPU_STATE_H

#include "cpu/vcpu.h"
#include "snapshot/state_file.h"

int vcpu_state_save(struct vcpu *vcpu, struct state_file *sf,
		    struct tern_error *err);

/* Checks that this host can give the vCPU the saved CPUID (every feature
 * bit the snapshot's guest saw), naming a missing feature. */
int vcpu_state_check_cpuid(struct vcpu *vcpu, const struct state_file *sf,
			   struct tern_error *err);

/* In the order KVM needs (api.rst; LAPIC after sregs' APIC base, the TSC
 * deadline after the LAPIC, events last). */
int vcpu_state_restore(struct vcpu *vcpu, const struct state_file *sf,
		       struct tern_error *err);

/* A guest reset (state_sequence_reset): like restore, without CPUID. */
int vcpu_state_reset(struct vcpu *vcpu, const struct state_file *sf,
		     struct tern_error *err);

#endif
