#include "vm/vm_memory_hotplug.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "arch/x86/layout.h"
#include "util/log.h"
#include "virtio/virtio_mem.h"
#include "vm/vm.h"
#include "vm/vm_virtio.h"

/* Which of the region's slots KVM has, under a lock of their own: the
 * device's I/O thread adds and removes them while a snapshot or a
 * migration reads their dirty logs. */
struct vm_hotplug_slots {
	pthread_mutex_t lock;
	int vm_fd;
	uint8_t *hva;
	uint64_t gpa, slot_size;
	size_t first_page; /* the region's first page in the mapping */
	bool dirty_log;
	uint32_t count;
	bool present[];
};

uint64_t vm_memory_hotplug_base(uint64_t device_end, uint64_t block_size)
{
	uint64_t align = block_size > GiB(1) ? block_size : GiB(1);
	uint64_t base = device_end > LAYOUT_MMIO_HOLE_END
		? device_end
		: LAYOUT_MMIO_HOLE_END;

	return (base + align - 1) / align * align;
}

static int register_slot(struct vm_hotplug_slots *slots, uint32_t slot,
			 bool present)
{
	struct kvm_userspace_memory_region r = {
		.slot = VM_HOTPLUG_FIRST_SLOT + slot,
		.flags = present && slots->dirty_log ? KVM_MEM_LOG_DIRTY_PAGES
						     : 0,
		.guest_phys_addr = slots->gpa + slot * slots->slot_size,
		/* Size 0 deletes the slot. */
		.memory_size = present ? slots->slot_size : 0,
		.userspace_addr =
			(uint64_t)(uintptr_t)(slots->hva +
					      slot * slots->slot_size),
	};

	return ioctl(slots->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno
								       : 0;
}

/* The device's virtio_mem_slot_fn. */
static int set_slot(void *opaque, uint32_t slot, bool present)
{
	struct vm_hotplug_slots *slots = opaque;
	int ret;

	if (slot >= slots->count)
		return -EINVAL;
	pthread_mutex_lock(&slots->lock);
	ret = register_slot(slots, slot, present);
	if (!ret)
		slots->present[slot] = present;
	pthread_mutex_unlock(&slots->lock);
	return ret;
}

static int check_memslots(struct vm *vm, uint32_t count, struct tern_error *err)
{
	int max = ioctl(vm->kvm.fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);

	if (max > 0 && (uint64_t)VM_HOTPLUG_FIRST_SLOT + count > (uint64_t)max)
		return tern_error_set(err, EINVAL,
				      "memory-hotplug: %u slots need more KVM "
				      "memory slots than this host's %d: use "
				      "a larger slot_size_mib",
				      count, max);
	return 0;
}

int vm_create_memory_hotplug(struct vm *vm, struct tern_error *err)
{
	const struct vm_memory_hotplug_config *cfg = &vm->config.memory_hotplug;
	struct vm_hotplug_slots *slots;
	struct virtio_mem_options options;
	struct virtio_device *vdev;
	uint64_t gpa;
	uint32_t count;
	const char *why;
	int ret;

	if (!cfg->total_bytes)
		return 0;
	if (virtio_mem_check_sizes(cfg->total_bytes, cfg->slot_bytes,
				   cfg->block_bytes, &why))
		return tern_error_set(err, EINVAL, "memory-hotplug: %s", why);
	count = (uint32_t)(cfg->total_bytes / cfg->slot_bytes);
	ret = check_memslots(vm, count, err);
	if (ret)
		return ret;
	gpa = vm_memory_hotplug_base(vm->device_memory_end, cfg->block_bytes);
	ret = guest_memory_hotplug_attach(&vm->memory, gpa, cfg->block_bytes);
	if (ret)
		return tern_error_set(
			err, -ret,
			"memory-hotplug: cannot place %llu MiB "
			"at 0x%llx: %s",
			(unsigned long long)(cfg->total_bytes >> 20),
			(unsigned long long)gpa, strerror(-ret));
	slots = calloc(1, sizeof(*slots) + count * sizeof(bool));
	if (!slots)
		return tern_error_set(err, ENOMEM, "out of memory");
	pthread_mutex_init(&slots->lock, NULL);
	slots->vm_fd = vm->fd;
	slots->hva = vm->memory.hotplug_hva;
	slots->gpa = gpa;
	slots->slot_size = cfg->slot_bytes;
	slots->first_page =
		(size_t)(vm->memory.hotplug_hva - vm->memory.mapping) /
		GUEST_MEMORY_PAGE_SIZE;
	slots->count = count;
	vm->hotplug_slots = slots;
	options = (struct virtio_mem_options){
		.block_size = cfg->block_bytes,
		.slot_size = cfg->slot_bytes,
		.set_slot = set_slot,
		.slot_opaque = slots,
	};
	vdev = virtio_mem_create(&vm->memory, &options);
	if (!vdev)
		return tern_error_set(
			err, ENOMEM, "out of memory for the virtio-mem device");
	ret = vm_add_virtio_device_id(vm, vdev, "memory_hotplug", err);
	if (!ret) {
		vm->memory_hotplug = vdev;
		log_debug("memory-hotplug: %llu MiB at 0x%llx, blocks of %llu "
			  "MiB, slots of %llu MiB",
			  (unsigned long long)(cfg->total_bytes >> 20),
			  (unsigned long long)gpa,
			  (unsigned long long)(cfg->block_bytes >> 20),
			  (unsigned long long)(cfg->slot_bytes >> 20));
	}
	return ret;
}

void vm_memory_hotplug_destroy(struct vm *vm)
{
	if (!vm->hotplug_slots)
		return;
	pthread_mutex_destroy(&vm->hotplug_slots->lock);
	free(vm->hotplug_slots);
	vm->hotplug_slots = NULL;
	vm->memory_hotplug = NULL; /* destroyed with its transport */
}

int vm_memory_hotplug_dirty_log(struct vm *vm)
{
	struct vm_hotplug_slots *slots = vm->hotplug_slots;
	int ret = 0;

	if (!slots)
		return 0;
	pthread_mutex_lock(&slots->lock);
	slots->dirty_log = true;
	for (uint32_t s = 0; !ret && s < slots->count; s++)
		if (slots->present[s])
			ret = register_slot(slots, s, true);
	pthread_mutex_unlock(&slots->lock);
	return ret;
}

int vm_memory_hotplug_collect(struct vm *vm, uint64_t *bitmap, size_t words)
{
	struct vm_hotplug_slots *slots = vm->hotplug_slots;
	size_t pages, log_words;
	uint64_t *log;
	int ret = 0;

	if (!slots)
		return 0;
	pages = slots->slot_size / GUEST_MEMORY_PAGE_SIZE;
	log_words = (pages + 63) / 64;
	log = calloc(log_words, sizeof(uint64_t));
	if (!log)
		return -ENOMEM;
	pthread_mutex_lock(&slots->lock);
	for (uint32_t s = 0; !ret && s < slots->count; s++) {
		struct kvm_dirty_log req = {
			.slot = VM_HOTPLUG_FIRST_SLOT + s,
			.dirty_bitmap = log,
		};
		size_t first = slots->first_page + s * pages;

		if (!slots->present[s] || !slots->dirty_log)
			continue;
		if (ioctl(slots->vm_fd, KVM_GET_DIRTY_LOG, &req) < 0) {
			ret = -errno;
			break;
		}
		for (size_t p = 0; p < pages; p++)
			if ((log[p / 64] >> (p % 64)) & 1 &&
			    (first + p) / 64 < words)
				bitmap[(first + p) / 64] |= 1ULL
					<< ((first + p) % 64);
	}
	pthread_mutex_unlock(&slots->lock);
	free(log);
	return ret;
}
