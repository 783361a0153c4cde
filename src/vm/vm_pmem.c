#include "vm/vm_pmem.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "arch/x86/layout.h"
#include "virtio/virtio_pmem.h"
#include "vm/vm.h"
#include "vm/vm_virtio.h"

uint64_t vm_pmem_base(uint64_t ram_end)
{
	uint64_t base =
		ram_end > LAYOUT_MMIO_HOLE_END ? ram_end : LAYOUT_MMIO_HOLE_END;

	return (base + VIRTIO_PMEM_ALIGN - 1) & ~(VIRTIO_PMEM_ALIGN - 1);
}

/* Where guest RAM ends (exclusive), in guest physical addresses. */
static uint64_t ram_end(const struct guest_memory *mem)
{
	const struct guest_memory_region *last =
		&mem->regions[mem->region_count - 1];

	return last->gpa + last->size;
}

/* The root device first, then the others in order (as vm_disks.c). */
static int pmem_index(const struct vm_config *config, int n)
{
	int root = -1;

	for (int i = 0; i < config->pmem_count; i++)
		if (config->pmems[i].root)
			root = i;
	if (root < 0)
		return n;
	if (n == 0)
		return root;
	return n <= root ? n - 1 : n;
}

/* A read-only range is a read-only slot: the guest's writes leave KVM as
 * MMIO exits no device claims, and are dropped. */
static int register_slot(struct vm *vm, int n, uint64_t gpa,
			 const struct virtio_pmem_mapping *mapping,
			 struct tern_error *err)
{
	struct kvm_userspace_memory_region slot = {
		.slot = (uint32_t)(VM_PMEM_FIRST_SLOT + n),
		.flags = mapping->readonly ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa,
		.memory_size = mapping->size,
		.userspace_addr = (uint64_t)(uintptr_t)mapping->hva,
	};

	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		return tern_error_set(err, errno,
				      "KVM refused the pmem range at 0x%llx "
				      "(%llu MiB): %s",
				      (unsigned long long)gpa,
				      (unsigned long long)(mapping->size >> 20),
				      strerror(errno));
	return 0;
}

int vm_create_pmem_devices(struct vm *vm, struct tern_error *err)
{
	uint64_t gpa = vm_pmem_base(ram_end(&vm->memory));

	for (int n = 0; n < vm->config.pmem_count; n++) {
		const struct vm_pmem_config *pmem =
			&vm->config.pmems[pmem_index(&vm->config, n)];
		struct virtio_pmem_mapping mapping;
		struct virtio_device *vdev;
		int ret = virtio_pmem_map_file(pmem->path, pmem->readonly,
					       &mapping, err);

		if (ret)
			return ret;
		ret = register_slot(vm, n, gpa, &mapping, err);
		vdev = ret ? NULL
			   : virtio_pmem_create_limited(&mapping, gpa,
							&pmem->rate_limiter);
		if (!ret && !vdev)
			ret = tern_error_set(err, ENOMEM,
					     "no memory or timer for pmem '%s'",
					     pmem->id);
		/* The slot may stay registered: the VM is torn down on any
		 * error here, and its slots with it. */
		if (ret) {
			virtio_pmem_unmap(&mapping);
			return ret;
		}
		ret = vm_add_virtio_device_id(vm, vdev, pmem->id, err);
		if (ret)
			return ret;
		gpa += mapping.size;
	}
	vm->device_memory_end = gpa;
	return 0;
}
