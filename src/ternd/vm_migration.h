/* Live migration of a VM from one ternd to another, as virsh's default
 * (client-managed) migration: ternctl drives both daemons, and no ternd is
 * a client of another (docs/ternd.md, "Migration").
 *
 * Destination: vm_migration_prepare() defines the VM when this ternd has
 * none of that name, writes the one-time pre-shared key in the VM's
 * directory (0600) and starts its tern with `--incoming tcp:ADDR:PORT
 * --migration-tls psk=FILE`: the VM is `incoming` until that tern runs the
 * guest (then `running`, found by asking it every
 * VM_MIGRATION_CHECK_MS) or dies. vm_migration_abandon() ends an incoming
 * VM that will not come, and undefines it if the prepare defined it.
 *
 * Source: vm_migration_start() writes the key and runs `tern migrate
 * --api-sock ... --migration-tls psk=FILE tcp:ADDR:PORT` as a child that
 * ternd follows like a VM (its pidfd in the loop: nothing waits on
 * ternd's one thread); the VM is `migrating` meanwhile. When the child
 * exits 0 the source's tern has handed the guest over and exits: the VM
 * is `shut off` ("migrated to ..."), and undefined with undefine_source.
 * Otherwise the guest runs on here and the event log says why.
 *
 * Single-threaded, as vm_manager.h. */
#ifndef TERN_TERND_VM_MIGRATION_H
#define TERN_TERND_VM_MIGRATION_H

#include <poll.h>
#include <stddef.h>

#include "ternd/vm_manager.h"
#include "util/error.h"

/* How often an incoming VM's tern is asked whether the guest runs. */
#define VM_MIGRATION_CHECK_MS 250

/* POST /v1/vms/NAME/incoming's request, checked by
 * vm_migration_incoming_parse. */
struct vm_migration_incoming {
	char *definition; /* JSON text; malloc'd */
	char psk[65]; /* 64 hex digits */
	char listen_address[64]; /* an IPv4 or IPv6 literal */
	unsigned port; /* 0: a free one, chosen here */
};

/* POST /v1/vms/NAME/migrate's request. */
struct vm_migration_outgoing {
	char destination[128]; /* tcp:HOST:PORT */
	char psk[65];
	int undefine_source;
	/* {"check": true}: only whether the VM may migrate (ternctl asks
	 * before it prepares the destination). */
	int check_only;
};

struct vm_migrations;

struct vm_migrations *vm_migrations_new(void);
/* Leaves every child running (they end with their migration). */
void vm_migrations_free(struct vm_migrations *migs);

/* The loop's part (vm_manager_poll_fill/reap): the children's pidfds. */
size_t vm_migrations_poll_count(const struct vm_migrations *migs);
void vm_migrations_poll_fill(const struct vm_migrations *migs,
			     struct pollfd *fds);
/* Records every child that ended, and looks at every incoming VM at most
 * each VM_MIGRATION_CHECK_MS. */
void vm_migrations_reap(struct vm_manager *m, const struct pollfd *fds,
			size_t count);
/* The loop's longest wait: -1 without incoming VMs. */
int vm_migrations_timeout_ms(const struct vm_migrations *migs);

/* The VM's tern ended (vm_manager's record of its exit; asked: ternd
 * stopped it, a destroy): when a migration had the VM, its reason and
 * event replace the plain ones. */
void vm_migrations_tern_exited(struct vm_migrations *migs, const char *name,
			       int clean, int asked, const char *how,
			       char *reason, size_t size, const char **event);
/* A VM re-attached while `incoming` (a restarted ternd) is looked at
 * again. */
int vm_migrations_follow_incoming(struct vm_migrations *migs, const char *name,
				  int defined_here);

/* The body of POST /v1/vms/NAME/incoming and /migrate: 0, or -EINVAL
 * with err naming the field. */
int vm_migration_incoming_parse(const char *body, size_t len,
				struct vm_migration_incoming *req,
				struct tern_error *err);
void vm_migration_incoming_free(struct vm_migration_incoming *req);
int vm_migration_outgoing_parse(const char *body, size_t len,
				struct vm_migration_outgoing *req,
				struct tern_error *err);

/* Destination: *address is what the source must connect to
 * (tcp:ADDR:PORT). -EBUSY (409) when a VM of that name is here and is not
 * a migration target left by a failed attempt; -EINVAL (400) for a
 * definition this host cannot run (a volume or network it has not) or
 * an address that is not this host's; nothing changed then. */
int vm_migration_prepare(struct vm_manager *m, const char *name,
			 const struct vm_migration_incoming *req, char *address,
			 size_t size, struct tern_error *err);
/* Destination: destroys the incoming VM's tern and undefines the VM if
 * prepare defined it. -EBUSY when the VM runs here already (the
 * migration completed). */
int vm_migration_abandon(struct vm_manager *m, const char *name,
			 struct tern_error *err);
/* Source: returns once the child runs and the VM is `migrating`. */
int vm_migration_start(struct vm_manager *m, const char *name,
		       const struct vm_migration_outgoing *req,
		       struct tern_error *err);

#endif
