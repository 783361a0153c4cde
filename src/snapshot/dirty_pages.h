/* Which guest pages changed since the last look: KVM's dirty log (vCPU
 * writes) united with guest_memory's own bitmap (writes by tern's device
 * threads, which KVM never sees). Diff snapshots and live migration's
 * pre-copy read it. The bitmap covers guest_memory's host mapping: bit n is
 * page n of vm->memory.mapping (the memory file's page n), all regions
 * back to back. */
#ifndef TERN_SNAPSHOT_DIRTY_PAGES_H
#define TERN_SNAPSHOT_DIRTY_PAGES_H

#include <stddef.h>
#include <stdint.h>

#include "vm/vm.h"

/* 64-bit words a bitmap for this VM needs. */
size_t dirty_pages_words(const struct vm *vm);

/* Turns on KVM's dirty log for every slot and tern's own tracking, and
 * clears both: the next collect returns what changes from now on. Call with
 * the VM paused. */
int dirty_pages_start(struct vm *vm, struct tern_error *err);

/* Fills bitmap (words from dirty_pages_words, overwritten) with every page
 * written since start or the last collect, by vCPUs or by tern, and clears
 * both logs. Needs dirty_pages_start first. */
int dirty_pages_collect(struct vm *vm, uint64_t *bitmap, size_t words,
			struct tern_error *err);

#endif
