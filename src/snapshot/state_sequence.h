/* The one order in which a VM's state goes into a state file and comes back
 * out. Snapshot create/load (snapshot/snapshot.c) and live migration's two
 * sides (migration/) walk this table and nothing else, so a kind of state
 * saved by one path is never dropped by the other, and every check lives in
 * one place.
 *
 * Loading is two passes: state_sequence_check() runs every entry's check
 * (configuration, devices and each device's own bytes, machine shape, CPU
 * features) and changes nothing; only then does the caller change the VM
 * (map the memory file) and run state_sequence_restore(). A refusal in the
 * first pass leaves the VM exactly as vm_create() made it. */
#ifndef TERN_SNAPSHOT_STATE_SEQUENCE_H
#define TERN_SNAPSHOT_STATE_SEQUENCE_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/state_file.h"
#include "vm/vm.h"

struct state_sequence_entry {
	const char *name;
	/* The section ids this entry writes and reads, inclusive: every
	 * section of a state file belongs to exactly one entry. */
	uint32_t first_id, last_id;
	int (*save)(struct vm *vm, struct state_file *sf,
		    struct tern_error *err);
	/* Refuses what restore would refuse, changing nothing. */
	int (*check)(struct vm *vm, const struct state_file *sf,
		     struct tern_error *err);
	/* NULL: the state was applied before the VM was created (its
	 * configuration), check is all there is to do. */
	int (*restore)(struct vm *vm, const struct state_file *sf,
		       struct tern_error *err);
	/* NULL-able: runs once every entry was restored. */
	void (*restored)(struct vm *vm);
	/* A guest reset with --on-reboot restart (vm/vm_reset.c): back to the
	 * power-on state in sf, as much of it as a PC's reset resets. NULL:
	 * this state is untouched by a reset. */
	int (*reset)(struct vm *vm, const struct state_file *sf,
		     struct tern_error *err);
};

/* The table, in save, check and restore order. */
const struct state_sequence_entry *state_sequence_entries(size_t *count);

/* The entry that owns section id, or NULL (a section nobody reads). */
const struct state_sequence_entry *state_sequence_owner(uint32_t id);

/* With the vCPUs stopped and the device threads quiet. */
int state_sequence_save(struct vm *vm, struct state_file *sf,
			struct tern_error *err);

/* Every check, in table order, then: no section that no entry owns. */
int state_sequence_check(struct vm *vm, const struct state_file *sf,
			 struct tern_error *err);

/* After state_sequence_check() passed and guest RAM holds the guest's
 * memory: every restore, then every restored hook. A failure here (a KVM
 * refusal) leaves the VM unusable: the caller destroys it. */
int state_sequence_restore(struct vm *vm, const struct state_file *sf,
			   struct tern_error *err);

/* A guest reset: every entry's reset, in table order, from a state file
 * that state_sequence_save() wrote before the VM first ran. The caller
 * empties guest RAM and loads the kernel. A failure leaves the VM
 * unusable. */
int state_sequence_reset(struct vm *vm, const struct state_file *sf,
			 struct tern_error *err);

/* An ACPI S3 wake (vm/vm_sleep.c) resets the vCPUs and nothing else: the
 * vcpus entry's save, for every vCPU, into a file of its own before the VM
 * first ran; and its reset, for one vCPU, on that vCPU's thread. */
int state_sequence_save_vcpus(struct vm *vm, struct state_file *sf,
			      struct tern_error *err);
int state_sequence_reset_vcpu(struct vcpu *vcpu, const struct state_file *sf,
			      struct tern_error *err);

#endif
