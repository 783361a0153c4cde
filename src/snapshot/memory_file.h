/* Guest RAM in and out of a memory file. The file is the host-contiguous
 * RAM image (region after region, as guest_memory maps it), sparse: all-zero
 * pages are never written, so they stay holes. A Diff writes only the pages
 * KVM's dirty log reports since the last snapshot, onto that snapshot's
 * memory file. Restore maps the file privately: pages load on first touch. */
#ifndef TERN_SNAPSHOT_MEMORY_FILE_H
#define TERN_SNAPSHOT_MEMORY_FILE_H

#include "vm/vm.h"

#define MEMORY_FILE_PAGE_SIZE 4096

/* Writes all of RAM to path (temp file + rename). Returns the bytes of data
 * written (not counting holes) in *written when non-NULL. */
int memory_file_write_full(struct vm *vm, const char *path, uint64_t *written,
			   struct tern_error *err);

/* Writes the pages dirtied since the last snapshot into path, an existing
 * memory file of the right size (the last snapshot's). */
int memory_file_write_diff(struct vm *vm, const char *path, uint64_t *written,
			   struct tern_error *err);

/* Turns on KVM's dirty log for every memory slot and clears it: the next
 * Diff holds what changed from now on. */
int memory_file_track_dirty(struct vm *vm, struct tern_error *err);

/* Maps path as the VM's RAM (MAP_PRIVATE: the guest's writes never reach
 * the file). The file must be exactly the VM's memory size. */
int memory_file_map(struct vm *vm, const char *path, struct tern_error *err);

#endif
