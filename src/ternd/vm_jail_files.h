/* Files ternd hands to, and takes from, a running jailed tern (vm_jail.h)
 * through its jail's root. The root is the VM's uid's, so a hostile tern
 * may have put anything there: every step goes through descriptors
 * (openat, renameat, unlinkat) and follows no link.
 *
 * A snapshot: the jailed tern writes its files into a fresh directory of
 * its uid (VM_JAIL_SNAPSHOT_DIR in the jail); ternd moves each into the
 * catalog's pending directory (the same file system: DIR/jail and
 * DIR/vms are both in the state directory), takes only a regular file of
 * the uid with one link, and makes it root's (0600) before the catalog
 * commits. A migration's source: the key, copied into the jail. */
#ifndef TERN_TERND_VM_JAIL_FILES_H
#define TERN_TERND_VM_JAIL_FILES_H

#include <sys/types.h>

#include "util/error.h"

struct vm_jail_stage {
	int root_fd, dir_fd;
	uid_t uid;
};

/* A fresh, empty VM_JAIL_SNAPSHOT_DIR in the jail of the VM whose
 * directory is vm_dir (whatever was there removed); -ENOENT when the VM
 * runs unjailed. The jailed tern writes to /VM_JAIL_SNAPSHOT_DIR/FILE. */
int vm_jail_stage_open(const char *vm_dir, struct vm_jail_stage *s,
		       struct tern_error *err);
/* Moves the file the jailed tern wrote as name into to_dir_fd (as name),
 * root's, 0600; to_dir names that directory in errors. */
int vm_jail_stage_take(struct vm_jail_stage *s, const char *name, int to_dir_fd,
		       const char *to_dir, struct tern_error *err);
/* Removes the directory and what is left in it. */
void vm_jail_stage_close(struct vm_jail_stage *s);

/* The migration key (text) as VM_JAIL_PSK in the running jail, the uid's,
 * 0400; -ENOENT when the VM runs unjailed. */
int vm_jail_put_psk(const char *vm_dir, const char *psk,
		    struct tern_error *err);
void vm_jail_remove_psk(const char *vm_dir);

#endif
