/* The destination side of a live migration: the handshake and the shape of
 * the VM first (so the caller creates a VM of that shape), then guest RAM,
 * the snapshot state sections and END into that VM, restored with the
 * snapshot code before its vCPUs first run. */
#ifndef TERN_MIGRATION_MIGRATION_RECEIVE_H
#define TERN_MIGRATION_MIGRATION_RECEIVE_H

#include "migration/migration_wire.h"
#include "vm/vm.h"

/* Handshake and MACHINE message, whose vCPU count and memory size must
 * pass the checks of --cpus and --memory. */
int migration_receive_machine(struct migration_stream *stream,
			      struct migration_machine *machine,
			      struct tern_error *err);

/* Into a VM fresh from vm_create() with the machine's shape: RAM, state,
 * END; checks the state (machine, devices, CPU features) and restores it.
 * A failure leaves the VM unusable: the caller destroys it. */
int migration_receive_vm(struct vm *vm, struct migration_stream *stream,
			 const struct migration_machine *machine,
			 struct tern_error *err);

/* Best effort: tells the source why its VM is refused. */
void migration_send_refusal(struct migration_stream *stream,
			    const char *reason);
int migration_send_ack(struct migration_stream *stream, struct tern_error *err);

#endif
