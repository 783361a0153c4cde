/* Live migration through the API and the command line: PUT /migration
 * sends the running VM to a destination tern (GET /migration shows its
 * progress); `tern run --incoming tcp:ADDR:PORT` waits for one and runs
 * it. The protocol and the copying are in src/migration. */
#ifndef TERN_CONTROL_MIGRATION_CONTROL_H
#define TERN_CONTROL_MIGRATION_CONTROL_H

#include <jansson.h>

#include "control/instance.h"

/* Source. Refuses (before pausing anything) a VM that is not running or
 * cannot migrate, no transport (transport, or else the instance's
 * migration_transport, must name TLS material or plain TCP), and a
 * destination it cannot connect to or that refuses the TLS handshake;
 * otherwise the migration goes on in its own thread. */
int instance_migrate(struct instance *inst, const char *destination,
		     const struct migration_transport_config *transport,
		     struct tern_error *err);
json_t *instance_export_migration(struct instance *inst);
/* With inst->lock held: true while a migration thread sends the VM. It
 * reads the VM's own configuration (vm->config) without that lock, so
 * whoever would change that configuration waits until it is over. */
bool instance_migration_active(const struct instance *inst);
/* Main thread, after the VM stopped and before it is destroyed: waits for
 * the migration thread. Then frees what instance_destroy() leaves. */
void instance_migration_join(struct instance *inst);
void instance_migration_free(struct instance *inst);
/* After the VM stopped because it migrated, with the API still serving: a
 * client that followed GET /migration (tern migrate) gets to read the
 * completed state, its downtime and totals, before this tern exits; waits
 * at most MIGRATION_LINGER_MS, not at all when nobody was following. */
#define MIGRATION_LINGER_MS 3000
void instance_migration_linger(struct instance *inst);

/* Destination: binds inst->incoming_address before tern's API socket
 * exists, so a manager that sees the API answer (ternd) may let the
 * source connect at once. */
int instance_migration_listen(struct instance *inst, struct tern_error *err);
/* Destination, main thread: listens on inst->incoming_address (bound
 * already when instance_migration_listen ran), accepts one
 * source that passes the TLS handshake (inst->migration_transport) and
 * reads the VM's shape into inst->config. Returns 0, 1 when a
 * stop signal came first (outcome set), or an error. */
int instance_migration_accept(struct instance *inst, int signal_fd,
			      int *stopped_by_signal, int *stop_signal,
			      struct tern_error *err);
/* Into the VM just created: RAM and state. A refusal is sent to the
 * source. */
int instance_migration_receive(struct instance *inst, struct vm *vm,
			       struct tern_error *err);
/* Tells the source that the VM runs here, and closes the connection. */
int instance_migration_acknowledge(struct instance *inst,
				   struct tern_error *err);

#endif
