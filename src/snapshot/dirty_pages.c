#include "snapshot/dirty_pages.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm/vm_memory_hotplug.h"

size_t dirty_pages_words(const struct vm *vm)
{
	return (vm->memory.mapping_size / GUEST_MEMORY_PAGE_SIZE + 63) / 64;
}

static int set_slot_flags(struct vm *vm, int slot, uint32_t flags)
{
	const struct guest_memory_region *region = &vm->memory.regions[slot];
	struct kvm_userspace_memory_region r = {
		.slot = (uint32_t)slot,
		.flags = flags,
		.guest_phys_addr = region->gpa,
		.memory_size = region->size,
		.userspace_addr = (uint64_t)(uintptr_t)region->hva,
	};

	return ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

/* ORs slot's KVM log into bitmap at the slot's page offset in the mapping
 * (reading the log clears it). */
static int merge_kvm_log(struct vm *vm, int slot, uint64_t *bitmap,
			 size_t words)
{
	const struct guest_memory_region *region = &vm->memory.regions[slot];
	size_t first = (size_t)(region->hva - vm->memory.mapping) /
		GUEST_MEMORY_PAGE_SIZE;
	size_t pages = region->size / GUEST_MEMORY_PAGE_SIZE;
	size_t log_words = (pages + 63) / 64;
	uint64_t *log = calloc(log_words ? log_words : 1, sizeof(uint64_t));
	struct kvm_dirty_log req = {.slot = (uint32_t)slot};
	int ret = 0;

	if (!log)
		return -ENOMEM;
	req.dirty_bitmap = log;
	if (ioctl(vm->fd, KVM_GET_DIRTY_LOG, &req) < 0)
		ret = -errno;
	for (size_t p = 0; !ret && p < pages; p++) {
		size_t page = first + p;

		if ((log[p / 64] >> (p % 64)) & 1 && page / 64 < words)
			bitmap[page / 64] |= 1ULL << (page % 64);
	}
	free(log);
	return ret;
}

int dirty_pages_start(struct vm *vm, struct tern_error *err)
{
	size_t words = dirty_pages_words(vm);
	uint64_t *scratch;
	int ret = 0;

	for (int i = 0;
	     !ret && !vm->memory_dirty_log && i < vm->memory.region_count; i++)
		ret = set_slot_flags(vm, i, KVM_MEM_LOG_DIRTY_PAGES);
	if (!ret)
		ret = vm_memory_hotplug_dirty_log(vm);
	if (ret)
		return tern_error_set(err, -ret,
				      "cannot turn on KVM's dirty log: %s",
				      strerror(-ret));
	if (guest_memory_dirty_start(&vm->memory))
		return tern_error_set(err, ENOMEM, "out of memory");
	vm->memory_dirty_log = 1;
	scratch = calloc(words ? words : 1, sizeof(uint64_t));
	if (!scratch)
		return tern_error_set(err, ENOMEM, "out of memory");
	/* Reading the logs clears them: start from nothing dirty. */
	ret = dirty_pages_collect(vm, scratch, words, err);
	free(scratch);
	return ret;
}

int dirty_pages_collect(struct vm *vm, uint64_t *bitmap, size_t words,
			struct tern_error *err)
{
	int ret;

	if (!vm->memory_dirty_log)
		return tern_error_set(err, EINVAL,
				      "dirty page tracking is not on");
	memset(bitmap, 0, words * sizeof(uint64_t));
	for (int i = 0; i < vm->memory.region_count; i++) {
		ret = merge_kvm_log(vm, i, bitmap, words);

		if (ret)
			return tern_error_set(err, -ret,
					      "KVM_GET_DIRTY_LOG failed: %s",
					      strerror(-ret));
	}
	/* Hotpluggable memory's slots come and go with the guest's plugs:
	 * theirs are read from the slots present now. */
	ret = vm_memory_hotplug_collect(vm, bitmap, words);
	if (ret)
		return tern_error_set(err, -ret, "KVM_GET_DIRTY_LOG failed: %s",
				      strerror(-ret));
	guest_memory_dirty_take(&vm->memory, bitmap, words);
	return 0;
}
