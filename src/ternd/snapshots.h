/* A VM's snapshots: its tern's state file and memory file (docs/
 * snapshots.md) under DIR/vms/VM/snapshots/NAME/ (state, mem), and a row
 * in the catalog (ternd_db.h, snapshot) with the definition the VM had
 * then. A snapshot is of a running or paused VM; a revert stops the VM's
 * tern and starts `tern restore` from the snapshot, running or paused as
 * the VM was when it was taken.
 *
 * Never half a snapshot, as with volumes (docs/ternd.md): the files are
 * written under a pending name, .NAME.new, which the catalog's commit
 * makes a snapshot (then renamed to NAME); a delete renames NAME to
 * .NAME.del, commits, then removes it. snapshots_recover() finishes what a
 * killed ternd left from the catalog alone.
 *
 * Errors as vm_manager.h's: -ENOENT no such VM or snapshot, -EINVAL a bad
 * name, -EBUSY the VM in the wrong state, -EEXIST the name taken,
 * -EREMOTEIO the VM's tern refused or failed. */
#ifndef TERN_TERND_SNAPSHOTS_H
#define TERN_TERND_SNAPSHOTS_H

#include <jansson.h>
#include <stddef.h>

#include "ternd/ternd_db.h"
#include "ternd/vm_manager.h"
#include "util/error.h"

/* How long the VM's tern has to write a snapshot (its memory file). */
#define SNAPSHOT_CREATE_TIMEOUT_S 600

/* Takes a snapshot of a running or paused VM: pauses a running one,
 * writes the files, resumes it. snap NULL: named after the time (as virsh
 * does), written into name_out (at least TERND_NAME_MAX + 1 bytes). */
int snapshots_create(struct vm_manager *m, const char *vm, const char *snap,
		     char *name_out, struct tern_error *err);
/* Stops the VM's tern (if it runs) and starts one restoring the
 * snapshot; the VM's definition becomes the snapshot's. */
int snapshots_revert(struct vm_manager *m, const char *vm, const char *snap,
		     struct tern_error *err);
int snapshots_delete(struct vm_manager *m, const char *vm, const char *snap,
		     struct tern_error *err);
/* Every snapshot of the VM, one after the other (undefine
 * --snapshots-too). */
int snapshots_delete_all(struct vm_manager *m, const char *vm,
			 struct tern_error *err);

/* The VM's snapshots, oldest first; -ENOENT for no such VM. */
int snapshots_list(struct vm_manager *m, const char *vm,
		   struct snapshot_record **records, size_t *count,
		   struct tern_error *err);
int snapshots_get(struct vm_manager *m, const char *vm, const char *snap,
		  struct snapshot_record *record, struct tern_error *err);
/* The API's view of one: name, VM, state, time, files, their size on
 * disk; with_config adds the definition. */
json_t *snapshots_view(const struct vm_manager *m,
		       const struct snapshot_record *r, int with_config);

/* At start, with the catalog open: finishes or removes every pending
 * snapshot directory, logging each. */
void snapshots_recover(struct vm_manager *m);

#endif
