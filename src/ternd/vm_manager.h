/* ternd's VMs: the definitions and runtime records in the state database
 * (ternd_db.h) and the tern processes behind the running ones
 * (vm_process.h), kept in step. Every operation either completes and is
 * recorded, or fails with err set and the recorded state unchanged, except
 * that a start whose tern dies is recorded as shut off with the reason.
 *
 * Errors are negative errnos that say what kind of failure it was, for the
 * API's status codes: -ENOENT no such VM, -EINVAL bad input, -EBUSY the VM
 * is in the wrong state, -EREMOTEIO the VM's tern refused or failed,
 * anything else ternd's own trouble.
 *
 * Single-threaded: ternd's one loop calls everything here. A start's
 * wait for its tern is followed by that loop too (vm_manager_start_async),
 * so many starts proceed at once and none holds other requests. */
#ifndef TERN_TERND_VM_MANAGER_H
#define TERN_TERND_VM_MANAGER_H

#include <poll.h>
#include <stddef.h>

#include "ternd/ternd_db.h"
#include "ternd/vm_definition.h"
#include "ternd/volume_pool.h"
#include "util/error.h"

/* How long a started tern has to answer on its API socket: generous,
 * since many terns setting up at once on a busy host (bench/density: 16
 * on 2 CPUs) or a large prefaulted guest take seconds each, and a hung
 * tern is rare; under ternctl's own 60 s (TERNCTL_TIMEOUT_S), so ternctl
 * always gets ternd's answer. */
#define VM_START_TIMEOUT_MS 45000
/* destroy: SIGTERM, this long, then SIGKILL. */
#define VM_DESTROY_GRACE_MS 5000

struct vm_manager;

struct vm_manager_options {
	const char *state_dir; /* holds ternd.db and vms/NAME/ */
	const char *tern_path; /* the tern binary VMs run */
	const char
		*pool_dir; /* the storage pool; NULL: STATE_DIR/pools/default */
	/* Each VM in a jail (vm_jail.h); NULL: VMs run as ternd's user. */
	const struct vm_jail_config *jail;
};

/* Opens the state and the pool (finishing what a killed ternd left
 * pending in it, volume_pool.h), then re-attaches to the VMs recorded as
 * running or paused: each that is still its tern process and answers is
 * followed again; each that is gone is recorded as shut off (and
 * logged); one that was starting (reason "starting": ternd was killed
 * before its tern answered) has its start seen through by the loop. */
int vm_manager_open(const struct vm_manager_options *options,
		    struct vm_manager **manager, struct tern_error *err);
/* Leaves every VM running. */
void vm_manager_close(struct vm_manager *m);

/* Starts every VM marked autostart that is shut off (one that was
 * re-attached is left alone); failures are logged, not fatal. */
void vm_manager_autostart(struct vm_manager *m);

/* For the volume operations (volumes.h), which share the state. */
struct ternd_db *vm_manager_db(struct vm_manager *m);
const struct volume_pool *vm_manager_pool(const struct vm_manager *m);
/* For the network operations (networks.h). */
struct networks *vm_manager_networks(struct vm_manager *m);
/* The VMs' serial consoles (vm_consoles.h). */
struct vm_consoles *vm_manager_consoles(struct vm_manager *m);
/* Connects ternd to a running VM's console socket unless it is already:
 * 0, or -EBUSY with err saying why not (a tern started by an older ternd
 * has no console socket). */
int vm_manager_attach_console(struct vm_manager *m, const char *name,
			      struct tern_error *err);

/* The descriptors that become readable when a VM's process exits, then
 * those of the VMs' consoles (vm_consoles.h). */
size_t vm_manager_poll_count(const struct vm_manager *m);
void vm_manager_poll_fill(struct vm_manager *m, struct pollfd *fds);
/* Serves the consoles, then records every VM whose process has
 * exited, then the migrations' children (vm_migration.h). */
void vm_manager_reap(struct vm_manager *m, const struct pollfd *fds);
/* The longest the loop may wait before calling vm_manager_reap again
 * (an incoming VM is looked at), or -1. */
int vm_manager_timeout_ms(const struct vm_manager *m);
/* The migrations in progress (vm_migration.h) and the tern binary. */
struct vm_migrations *vm_manager_migrations(struct vm_manager *m);
const char *vm_manager_tern_path(const struct vm_manager *m);

/* The document is the JSON text of tern's configuration; *created is 1
 * for a new VM, 0 when an existing definition was replaced (a running VM
 * keeps its configuration until it is next started). */
int vm_manager_define(struct vm_manager *m, const char *name,
		      const char *document, size_t len, int *created,
		      struct tern_error *err);
int vm_manager_undefine(struct vm_manager *m, const char *name,
			struct tern_error *err);
/* Returns once the VM's tern answers with its vCPUs running. */
int vm_manager_start(struct vm_manager *m, const char *name,
		     struct tern_error *err);

/* A start's end: ret 0 (running; the event logged) or the failure, err
 * saying why (-EREMOTEIO tern failed or did not answer, -EBUSY the VM
 * was destroyed meanwhile, -ESHUTDOWN ternd stops). */
typedef void (*vm_start_done)(void *opaque, struct vm_manager *m,
			      const char *name, int ret,
			      const struct tern_error *err);
/* Launches the VM's tern (recorded running, reason "starting") and
 * returns: 0 when the start goes on in the loop (vm_manager_reap probes
 * the tern and calls done, unless NULL, at its end), 1 when it already
 * ended well (done not called), or a refusal or failure as
 * vm_manager_start's, done not called. While it goes on, shutdown,
 * pause and resume are refused (-EBUSY), a second start finds the VM
 * running, and destroy ends it (done gets -EBUSY). */
int vm_manager_start_async(struct vm_manager *m, const char *name,
			   vm_start_done done, void *opaque,
			   struct tern_error *err);
/* Whether a start of the VM waits for its tern. */
int vm_manager_starting(struct vm_manager *m, const char *name);
/* The longest the loop may sleep before the next probe of a start, or
 * -1 (inside vm_manager_timeout_ms). */
int vm_manager_starts_timeout_ms(const struct vm_manager *m);
/* ternd stops: each start waiting is told -ESHUTDOWN (its tern goes on;
 * the next ternd adopts it, see vm_manager_open). */
void vm_manager_starts_abandon(struct vm_manager *m);
/* How a shutdown asks the guest, as virsh shutdown --mode: the ACPI power
 * button (tern's SendPowerButton; the default) or Ctrl-Alt-Del on its
 * keyboard (SendCtrlAltDel, which a systemd guest takes as a reboot). */
enum vm_shutdown_mode {
	VM_SHUTDOWN_ACPI,
	VM_SHUTDOWN_CTRL_ALT_DEL,
};

/* "acpi", "ctrl-alt-del"; 0, or -EINVAL with err set for another name. */
int vm_shutdown_mode_parse(const char *text, enum vm_shutdown_mode *mode,
			   struct tern_error *err);

/* Asks the guest to shut down (mode); the guest decides, and the VM is
 * recorded as shut off when its tern exits. */
int vm_manager_shutdown(struct vm_manager *m, const char *name,
			enum vm_shutdown_mode mode, struct tern_error *err);
/* SIGTERM, then SIGKILL after VM_DESTROY_GRACE_MS. */
int vm_manager_destroy(struct vm_manager *m, const char *name,
		       struct tern_error *err);
/* destroy's way, for a VM ternd stops to start it again (a revert, a
 * reboot --mode reset): why is the recorded reason, its event "stopped". */
int vm_manager_stop(struct vm_manager *m, const char *name, const char *why,
		    struct tern_error *err);

/* A start that restores a snapshot instead of booting (snapshots.h). */
struct vm_restore {
	const char *snapshot_path, *mem_path; /* absolute */
	const char *config; /* the definition tern gets (the snapshot's) */
	int paused; /* leave it paused, as it was taken */
	const char *why; /* the recorded reason */
	const char *event; /* its event's kind */
	/* A migration's destination (vm_migration.h): `tern run
	 * --incoming INCOMING --migration-tls psk=PSK_FILE`, recorded
	 * `incoming` once tern answers; snapshot_path NULL. */
	const char *incoming, *psk_file;
};
/* Starts a shut-off VM with `tern restore` (or `tern run --incoming`);
 * returns once tern answers with the VM running or paused (or, incoming,
 * at all). why/event NULL: a plain start. */
int vm_manager_start_restore(struct vm_manager *m, const char *name,
			     const struct vm_restore *restore,
			     struct tern_error *err);

/* Whether ternd runs its VMs jailed (a migration's destination then
 * listens from a jail: no port below 1024). */
int vm_manager_jailed(const struct vm_manager *m);

int vm_manager_pause(struct vm_manager *m, const char *name,
		     struct tern_error *err);
int vm_manager_resume(struct vm_manager *m, const char *name,
		      struct tern_error *err);
int vm_manager_set_autostart(struct vm_manager *m, const char *name,
			     int autostart, struct tern_error *err);

/* -EBUSY: the VM is migrating or incoming (vm_state_migration), and no
 * action but destroy may come between. */
int vm_manager_migration_busy(const struct vm_record *r,
			      struct tern_error *err);

int vm_manager_get(struct vm_manager *m, const char *name,
		   struct vm_record *record, struct tern_error *err);
int vm_manager_list(struct vm_manager *m, struct vm_record **records,
		    size_t *count, struct tern_error *err);

/* The files of a VM under the state directory. */
enum vm_file {
	VM_FILE_DIR,
	VM_FILE_CONFIG,
	VM_FILE_API_SOCKET,
	VM_FILE_LOG,
	VM_FILE_CONSOLE,
	VM_FILE_CONSOLE_SOCKET, /* tern's --serial unix: socket */
	VM_FILE_SNAPSHOTS, /* the directory of its snapshots (snapshots.h) */
	VM_FILE_MIGRATION_LOG /* the last migration's outcome (vm_migration.c)
			       */
};
int vm_manager_path(const struct vm_manager *m, const char *name,
		    enum vm_file file, char *buf, size_t size);

#endif
