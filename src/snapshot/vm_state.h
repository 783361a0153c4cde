/* The VM-wide state in a state file: what the snapshot's machine looked
 * like (vCPU count, memory size), kvmclock, the in-kernel PICs and IOAPIC,
 * and the PIT. */
#ifndef TERN_SNAPSHOT_VM_STATE_H
#define TERN_SNAPSHOT_VM_STATE_H

#include "snapshot/state_file.h"
#include "vm/vm.h"

struct snap_vm_meta {
	uint32_t vcpu_count;
	uint32_t region_count;
	uint64_t memory_size;
	uint64_t region_gpa[GUEST_MEMORY_MAX_REGIONS];
	uint64_t region_size[GUEST_MEMORY_MAX_REGIONS];
};

int vm_state_save(struct vm *vm, struct state_file *sf, struct tern_error *err);

/* Refuses a snapshot whose machine differs from vm's (vCPU count, memory
 * size and layout), naming both values. */
int vm_state_check(const struct vm *vm, const struct state_file *sf,
		   struct tern_error *err);

/* PIT, irqchip, then the clock: the clock last so the guest's time starts
 * from the saved value when its vCPUs first run. */
int vm_state_restore(struct vm *vm, const struct state_file *sf,
		     struct tern_error *err);

/* A guest reset (state_sequence_reset): only the PIT and the interrupt
 * controllers; the clock runs on, as a PC's does through a reset. */
int vm_state_reset(struct vm *vm, const struct state_file *sf,
		   struct tern_error *err);

#endif
