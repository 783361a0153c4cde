/* A guest reset without a new process (--on-reboot restart): every vCPU,
 * the in-kernel interrupt controllers and PIT, and every device go back to
 * the state they had when the VM was created, kept in memory in the
 * snapshot format (src/snapshot/); guest RAM is emptied; the caller then
 * loads the kernel again. What lives on the host side stays: disk images
 * and their locks, taps, the vsock socket, the API socket, the console.
 * As on a PC, the CMOS keeps its contents and clock, and the guest's clock
 * (kvmclock) runs on. */
#ifndef TERN_VM_VM_RESET_H
#define TERN_VM_VM_RESET_H

#include "util/error.h"

struct vm;

/* Records the power-on state; vm_create() calls it when config.on_reboot
 * is restart, before any guest code ran. Every device must be able to save
 * its state (they all can today); the error names one that cannot. */
int vm_reset_prepare(struct vm *vm, struct tern_error *err);

/* Puts the VM back into its power-on state, ready for a kernel load and a
 * new vm_run(). Only between two vm_run()s (no vCPU thread alive). The
 * VM's stop reason is cleared. On failure the VM must not run again. */
int vm_reset(struct vm *vm, struct tern_error *err);

/* Frees the power-on state (vm_destroy). */
void vm_reset_forget(struct vm *vm);

#endif
