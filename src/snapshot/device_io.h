/* The virtio devices' I/O threads around a save of the VM (a snapshot's
 * create, a live migration's stop-and-copy), and the kick that takes their
 * host sockets up again afterwards. */
#ifndef TERN_SNAPSHOT_DEVICE_IO_H
#define TERN_SNAPSHOT_DEVICE_IO_H

#include "vm/vm.h"

/* With the vCPUs paused, the device threads still serve kicks the guest
 * made just before, host sockets (tap, vsock) and timers (a balloon's
 * statistics), and would write guest memory after the device state was
 * taken or the memory copied. Stopped, nothing but the device saves (which
 * run in the caller's thread) touches guest memory until the restart. */
void device_io_stop(struct vm *vm);

/* Starts the threads again; what became ready meanwhile is served. A
 * device whose thread cannot start is logged with `who` ("snapshot",
 * "migration") and left stopped. */
void device_io_restart(struct vm *vm, const char *who);

/* A device's save stops reading its host sockets (virtio-net's tap,
 * virtio-vsock's connections) until the guest's next kick, and a guest
 * that only receives may never send one: kick every queue. A spurious
 * notification is harmless (the device finds nothing new). */
void device_io_kick_all(struct vm *vm);

#endif
