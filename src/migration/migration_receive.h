/* The destination side of a live migration: the handshake and the shape of
 * the VM first (so the caller creates a VM of that shape), then guest RAM,
 * the snapshot state sections and END into that VM, restored with the
 * snapshot code before its vCPUs first run. */
#ifndef TERN_MIGRATION_MIGRATION_RECEIVE_H
#define TERN_MIGRATION_MIGRATION_RECEIVE_H

#include "migration/migration_wire.h"
#include "vm/vm.h"

#define MIGRATION_STALL_TIMEOUT_S 60

/* Listens on "tcp:ADDR:PORT"; returns the listening socket or -errno. */
int migration_listen(const char *address, struct tern_error *err);
/* Connects to "tcp:HOST:PORT"; returns the socket or -errno. */
int migration_connect(const char *address, struct tern_error *err);

/* Handshake and MACHINE message. */
int migration_receive_machine(int fd, struct migration_machine *machine,
			      struct tern_error *err);

/* Into a VM fresh from vm_create() with the machine's shape: RAM, state,
 * END; checks the state (machine, devices, CPU features) and restores it.
 * A failure leaves the VM unusable: the caller destroys it. */
int migration_receive_vm(struct vm *vm, int fd,
			 const struct migration_machine *machine,
			 struct tern_error *err);

/* Best effort: tells the source why its VM is refused. */
void migration_send_refusal(int fd, const char *reason);
int migration_send_ack(int fd, struct tern_error *err);

#endif
