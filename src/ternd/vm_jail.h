/* Each VM's tern in a jail of its own (ternd --jail-uid-base): tern
 * jailer's steps (src/sandbox/jailer.h) run in ternd's waiting child
 * instead of exec'ing tern, so the VM's tern is the static tern
 * (--jail-tern) in a chroot DIR/jail/tern-static/uUID/root, in new mount
 * namespace, in its own cgroup (CGROUP2/ternd/uUID), as its own uid and
 * gid (UID, no capabilities, no_new_privs).
 *
 * The jailer builds the root itself and refuses one that exists, so the
 * files the VM needs go in through its populate hook, between building
 * and entering: the jailed config.json (paths rewritten to /kernel,
 * /initrd, /driveN, /pmemN), hard links to those files (a read-only one
 * that cannot be linked, or that the VM's uid could not read, is copied;
 * a writable one is given to the uid while the VM runs, and must be on
 * the jail's file system: the pool's volumes are), and the console log.
 *
 * The uid is the VM's for good (DIR/vms/NAME/jail-uid: the lowest free in
 * the range at its first jailed start), and the jail's directory is
 * recorded beside it (jail-dir), so a ternd without the option still
 * cleans up after a jailed VM. No schema change. */
#ifndef TERN_TERND_VM_JAIL_H
#define TERN_TERND_VM_JAIL_H

#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

#define VM_JAIL_MAX_FILES 40
#define VM_JAIL_API_SOCKET "/run/api.sock"
#define VM_JAIL_CGROUP_PARENT "ternd"

struct vm_jail_config {
	char tern_static[4096]; /* the statically linked tern */
	char base_dir[4096]; /* DIR/jail: the jailer's --chroot-base-dir */
	uint32_t uid_base, uid_count;
	/* The hierarchy that has the pids controller, where each VM gets
	 * MOUNT/ternd/uUID: 2 (cgroup2), 1 (a v1 pids mount), 0 none. */
	int cgroup_version;
	char cgroup_mount[4096];
};

struct vm_jail_file {
	char host[4096];
	char inside[32]; /* "/kernel", "/drive0"... */
	int writable;
	/* A snapshot's file (a revert): linked, never copied, and made
	 * root's and readable by the VM's group alone (0640), so the
	 * jailed tern reads it and cannot change it. */
	int shared;
};

/* One start's jail, filled by vm_jail_prepare() in ternd, used in the
 * child by vm_jail_enter(). */
struct vm_jail {
	const struct vm_jail_config *config;
	uint32_t uid;
	char id[16]; /* the jailer's --id: "u" UID */
	char id_dir[4200]; /* BASE/tern-static/ID */
	char api_socket[108]; /* ID_DIR/root/run/api.sock, as ternd sees it */
	char console[4200]; /* DIR/vms/NAME/console.log */
	char *document; /* the jailed config.json; malloc'd */
	struct vm_jail_file files[VM_JAIL_MAX_FILES];
	size_t file_count;
	/* What the jailed tern does instead of `run`: restore a snapshot
	 * (VM_JAIL_SNAPSHOT_STATE and _MEM in the jail), or wait for a
	 * migration on incoming (the key as VM_JAIL_PSK). */
	int restore, paused;
	char incoming[128];
};

#define VM_JAIL_SNAPSHOT_STATE "/snapshot-state"
#define VM_JAIL_SNAPSHOT_MEM "/snapshot-mem"
#define VM_JAIL_PSK "/migration.psk"
/* Where a running jailed tern writes a snapshot (vm_jail_files.h). */
#define VM_JAIL_SNAPSHOT_DIR "snapshot"

/* Checks the options (ternd must be root; the static tern there). */
int vm_jail_config_init(struct vm_jail_config *c, const char *state_dir,
			const char *tern_static, uint32_t uid_base,
			uint32_t uid_count, struct tern_error *err);

/* For a start of the VM whose directory is vm_dir: its uid (allocated at
 * the first jailed start), the jail's paths (a stale jail of this VM
 * removed), the jailed document from tern's document (text; a document
 * naming what a jail cannot hold yet, a vsock socket, a log or metrics
 * path, firmware, is refused with the reason). */
int vm_jail_prepare(const struct vm_jail_config *c, const char *state_dir,
		    const char *vm_dir, const char *text, const char *console,
		    struct vm_jail *j, struct tern_error *err);
void vm_jail_free(struct vm_jail *j);

/* After vm_jail_prepare(): the jailed tern restores the snapshot (its
 * files linked in: on the jail's file system, as the state directory
 * is), or waits for a migration on incoming (a tcp: address) with the
 * key file psk_file (copied in, the VM's uid's, 0400). */
int vm_jail_set_restore(struct vm_jail *j, const char *state_file,
			const char *mem_file, int paused,
			struct tern_error *err);
int vm_jail_set_incoming(struct vm_jail *j, const char *incoming,
			 const char *psk_file, struct tern_error *err);

/* In ternd's child, instead of exec'ing tern: runs the jailer, which
 * execs the jailed tern; returns only on failure (the reason written to
 * stderr, tern.log). opaque is the struct vm_jail. */
int vm_jail_enter(void *opaque);

/* After the VM's tern has ended (or was found gone): gives writable
 * files back to root, removes the jail's directory (links, never the
 * files they name) and its cgroup. Nothing when vm_dir has no jail. */
void vm_jail_cleanup(const char *vm_dir);

/* At undefine: vm_jail_cleanup(), and the VM's uid is free again. */
void vm_jail_forget(const char *vm_dir);

/* The running jail's root (BASE/tern-static/uUID/root), opened
 * O_DIRECTORY | O_NOFOLLOW, and its uid; -ENOENT when the VM has no
 * jail. The root is the VM's uid's: whatever ternd does in it goes
 * through this descriptor, never a path a jailed tern could redirect. */
int vm_jail_open_root(const char *vm_dir, uid_t *uid);

/* The uid a jailed VM runs as (its jail-uid file), or -1 when it is not
 * jailed. */
long vm_jail_uid(const char *vm_dir);

#endif
