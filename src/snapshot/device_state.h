/* Every device's own state in and out of a state file, through the
 * save/restore pair of its ops table (src/devices/device.h). A device
 * without one makes the whole snapshot fail with its name: nothing is saved
 * or restored by halves. */
#ifndef TERN_SNAPSHOT_DEVICE_STATE_H
#define TERN_SNAPSHOT_DEVICE_STATE_H

#include "snapshot/state_file.h"
#include "vm/vm.h"

/* Whether every device has save and restore, from the ops tables alone:
 * unlike a trial save it changes nothing while the VM runs (virtio-blk's
 * save drains its requests, virtio-net's stops reading its tap). The
 * error names the first device that cannot. */
int device_state_can_save(struct vm *vm, struct tern_error *err);

int device_state_save(struct vm *vm, struct state_file *sf,
		      struct tern_error *err);

/* Checks that the snapshot holds exactly this VM's devices (same kind at
 * the same address) and that each can restore, without changing any. */
int device_state_check(struct vm *vm, const struct state_file *sf,
		       struct tern_error *err);

int device_state_restore(struct vm *vm, const struct state_file *sf,
			 struct tern_error *err);

/* A guest reset (state_sequence_reset): every device back to sf's state
 * but the CMOS (vm->rtc), which goes on with its contents and clock, as a
 * PC's battery-backed CMOS does through a reset. */
int device_state_reset(struct vm *vm, const struct state_file *sf,
		       struct tern_error *err);

/* After the vCPU and VM sections were restored too: interrupts the devices
 * raised since their own restore reached interrupt controllers whose state
 * was then overwritten: each platform device with a restored op raises its
 * line again if it is up (the RTC), and each virtio device raises its
 * queues' once more (virtio_device_resignal). */
void device_state_restored(struct vm *vm);

#endif
