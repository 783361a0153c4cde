/* The firmware image of a --firmware VM in a state file. The image is not
 * guest RAM (it is a read-only slot ending at 4 GiB), so the memory file
 * does not hold it; without it a restored guest would run on whatever file
 * now sits at the firmware's path. The state carries the image itself, as
 * QEMU's migration carries its ROMs: the restored VM keeps the firmware it
 * booted with, through later resets too, even if the host's file changed. */
#ifndef TERN_SNAPSHOT_FIRMWARE_STATE_H
#define TERN_SNAPSHOT_FIRMWARE_STATE_H

#include "snapshot/state_file.h"
#include "vm/vm.h"

/* Nothing for a VM booted from a kernel. */
int firmware_state_save(struct vm *vm, struct state_file *sf,
			struct tern_error *err);

/* The section is there exactly when vm has a firmware, and the image is
 * the size of vm's (its slot was mapped at that size). */
int firmware_state_check(struct vm *vm, const struct state_file *sf,
			 struct tern_error *err);

int firmware_state_restore(struct vm *vm, const struct state_file *sf,
			   struct tern_error *err);

#endif
