/* A VM without KVM for the snapshot and migration targets: what vm_create()
 * builds minus KVM (VM and vCPU fds -1, which the transports and the irq
 * routing take as "no KVM"; one vCPU for the state checks): 64 MiB of RAM, the
 * platform devices on port I/O, the PCI bus, and virtio-rng, -balloon and
 * -blk on PCI and -vsock on MMIO, each with its real save/restore. Built
 * once per process; restores go into it again and again. */
#ifndef TERN_FUZZ_VM_H
#define TERN_FUZZ_VM_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/state_file.h"
#include "vm/vm.h"

struct vm *fuzz_vm_get(void);

/* The state sections a snapshot of this VM holds, except the ones only KVM
 * can give (clock, irqchips, PIT, vCPU registers): vm.meta, an empty vCPU
 * CPUID, vm.config, the virtio list and every device. For seeds. Returns 0 or a
 * negative errno. */
int fuzz_vm_save(struct vm *vm, struct state_file *sf);

/* Writes the serialized buffer to path (seed generation); exits on error. */
void fuzz_write_file(const char *path, const void *buf, size_t len);

#endif
