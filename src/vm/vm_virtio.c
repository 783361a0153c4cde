#include "vm/vm_virtio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "devices/pci/pci_bus.h"
#include "virtio/virtio_mmio.h"
#include "virtio/virtio_pci.h"
#include "util/log.h"
#include "vm/vm.h"
#include "vm/kernel_cmdline.h"
#include "vm/vm_legacy_pic.h"

static int add_pci(struct vm *vm, struct virtio_device *vdev,
		   struct tern_error *err)
{
	/* The ops table is static: its name outlives a destroyed vdev. */
	const char *name = vdev->ops->name;
	struct pci_device *pdev;
	int ret = 0;

	pdev = virtio_pci_create(vdev, vm->fd, &vm->irq_routing, &ret);
	if (!pdev) {
		virtio_device_destroy(vdev);
		return tern_error_set(err, -ret,
				      "%s: cannot set up its PCI function: %s",
				      name, strerror(-ret));
	}
	ret = pci_bus_add_device(vm->pci_bus, pdev);
	if (ret < 0) {
		pdev->ops->destroy(pdev);
		return tern_error_set(err, -ret,
				      "%s: no room on the PCI bus: %s", name,
				      strerror(-ret));
	}
	return 0;
}

static int add_mmio(struct vm *vm, struct virtio_device *vdev,
		    struct tern_error *err)
{
	int slot = vm->virtio_mmio_count;
	uint64_t base =
		LAYOUT_VIRTIO_MMIO_GPA + slot * LAYOUT_VIRTIO_MMIO_SLOT_SIZE;
	const char *name = vdev->ops->name; /* static: outlives vdev */
	struct device *dev;
	uint32_t gsi;
	int ret = 0;

	if (slot >= VIRTIO_MMIO_MAX_DEVICES) {
		virtio_device_destroy(vdev);
		return tern_error_set(err, ENOSPC,
				      "%s: tern has room for %d virtio-mmio "
				      "devices (one IOAPIC pin each)",
				      name, VIRTIO_MMIO_MAX_DEVICES);
	}
	if (vm_config_guest_uses_pic(&vm->config)) {
		gsi = virtio_mmio_slot_gsi_pic(slot);
		if (gsi >= VM_LEGACY_PIC_PINS)
			log_warn("%s: virtio-mmio device %d is on GSI %u, "
				 "which the guest's PIC (noapic or acpi=off "
				 "on its command line) does not have: it "
				 "gets no interrupts",
				 name, slot + 1, gsi);
	} else {
		gsi = virtio_mmio_slot_gsi(slot);
	}
	dev = virtio_mmio_create(vdev, base, gsi, vm->fd, &ret);
	if (!dev) {
		virtio_device_destroy(vdev);
		return tern_error_set(err, -ret,
				      "%s: cannot set up virtio-mmio: "
				      "%s",
				      name, strerror(-ret));
	}
	ret = io_bus_register(&vm->mmio_bus, base, LAYOUT_VIRTIO_MMIO_SLOT_SIZE,
			      dev);
	if (ret) {
		dev->ops->destroy(dev);
		return tern_error_set(err, -ret,
				      "%s: cannot place it at 0x%llx", name,
				      (unsigned long long)base);
	}
	vm->virtio_mmio[slot] = (struct acpi_mmio_device){
		.base = base,
		.size = (uint32_t)LAYOUT_VIRTIO_MMIO_SLOT_SIZE,
		.gsi = gsi,
	};
	vm->virtio_mmio_count++;
	return 0;
}

enum virtio_transport vm_config_virtio_transport(const struct vm_config *config)
{
	if (config->virtio_transport != VIRTIO_TRANSPORT_AUTO)
		return config->virtio_transport;
	return kernel_cmdline_has_word(config->cmdline, "pci=off")
		? VIRTIO_TRANSPORT_MMIO
		: VIRTIO_TRANSPORT_PCI;
}

enum virtio_transport vm_virtio_transport(const struct vm *vm)
{
	return vm_config_virtio_transport(&vm->config);
}

/* Remembers a plugged device for metrics, as "<type><n>" unless named. */
static void list_device(struct vm *vm, struct virtio_device *vdev,
			const char *id)
{
	struct vm_virtio_entry *entry;
	const char *type = vdev->ops->name;
	int same = 0;

	if (vm->virtio_device_count >= VM_MAX_VIRTIO_DEVICES)
		return;
	entry = &vm->virtio_devices[vm->virtio_device_count];
	if (!strncmp(type, "virtio-", 7))
		type += 7;
	for (int i = 0; i < vm->virtio_device_count; i++)
		same += vm->virtio_devices[i].vdev->ops->device_id ==
			vdev->ops->device_id;
	if (id)
		snprintf(entry->id, sizeof(entry->id), "%s", id);
	else
		snprintf(entry->id, sizeof(entry->id), "%s%d", type, same);
	entry->vdev = vdev;
	vm->virtio_device_count++;
}

int vm_add_virtio_device_id(struct vm *vm, struct virtio_device *vdev,
			    const char *id, struct tern_error *err)
{
	const char *name;
	int ret;

	if (!vdev)
		return tern_error_set(err, ENOMEM,
				      "out of memory for a virtio device");
	name = vdev->ops->name; /* static: outlives vdev */
	ret = virtio_device_start(vdev, &vm->memory);
	if (ret) {
		virtio_device_destroy(vdev);
		return tern_error_set(err, -ret, "cannot start %s: %s", name,
				      strerror(-ret));
	}
	if (vm_virtio_transport(vm) == VIRTIO_TRANSPORT_MMIO)
		ret = add_mmio(vm, vdev, err);
	else
		ret = add_pci(vm, vdev, err);
	if (!ret)
		list_device(vm, vdev, id);
	return ret;
}

int vm_add_virtio_device(struct vm *vm, struct virtio_device *vdev,
			 struct tern_error *err)
{
	return vm_add_virtio_device_id(vm, vdev, NULL, err);
}

/* Firecracker's is_root_device: the root disk is /dev/vda (vm_disks.c
 * plugs it first), or its partition partuuid names; a root pmem device is
 * /dev/pmem0 (vm_pmem.c plugs it first); a command line that names its
 * own root= keeps it. */
static void root_device_args(const struct vm *vm, const char *base, char *out,
			     size_t size)
{
	out[0] = '\0';
	for (int i = 0; i < vm->config.pmem_count; i++) {
		if (!vm->config.pmems[i].root)
			continue;
		if (kernel_cmdline_has_key(base, "root"))
			return;
		snprintf(out, size, " root=/dev/pmem0 %s",
			 vm->config.pmems[i].readonly ? "ro" : "rw");
		return;
	}
	for (int i = 0; i < vm->config.disk_count; i++) {
		const struct vm_disk_config *disk = &vm->config.disks[i];

		if (!disk->root)
			continue;
		if (kernel_cmdline_has_key(base, "root"))
			return;
		if (disk->partuuid[0])
			snprintf(out, size, " root=PARTUUID=%s %s",
				 disk->partuuid, disk->readonly ? "ro" : "rw");
		else
			snprintf(out, size, " root=/dev/vda %s",
				 disk->readonly ? "ro" : "rw");
		return;
	}
}

char *vm_virtio_cmdline(const struct vm *vm, const char *base)
{
	char root[32 + VM_DISK_PARTUUID_MAX];
	char *cmdline;
	size_t cap, len;

	root_device_args(vm, base, root, sizeof(root));
	cap = strlen(base) + strlen(root) + 1 +
		48 * (size_t)vm->virtio_mmio_count;
	if (!vm->virtio_mmio_count && !root[0])
		return NULL;
	cmdline = malloc(cap);
	if (!cmdline)
		return NULL;
	len = (size_t)snprintf(cmdline, cap, "%s%s", base, root);
	for (int i = 0; i < vm->virtio_mmio_count; i++)
		len += (size_t)snprintf(
			cmdline + len, cap - len,
			" virtio_mmio.device=4K@0x%llx:%u",
			(unsigned long long)vm->virtio_mmio[i].base,
			vm->virtio_mmio[i].gsi);
	return cmdline;
}
