#include "vm/vm_virtio.h"

#include <errno.h>
#include <string.h>

#include "devices/pci/pci_bus.h"
#include "virtio/virtio_pci.h"
#include "vm/vm.h"

static int add_pci(struct vm *vm, struct virtio_device *vdev,
		   struct tern_error *err)
{
	struct pci_device *pdev;
	int ret = 0;

	pdev = virtio_pci_create(vdev, vm->fd, &vm->irq_routing, &ret);
	if (!pdev) {
		virtio_device_destroy(vdev);
		return tern_error_set(err, -ret,
				      "%s: cannot set up its PCI "
				      "function: %s",
				      vdev->ops->name, strerror(-ret));
	}
	ret = pci_bus_add_device(vm->pci_bus, pdev);
	if (ret < 0) {
		pdev->ops->destroy(pdev);
		return tern_error_set(err, -ret,
				      "%s: no room on the PCI bus: %s",
				      vdev->ops->name, strerror(-ret));
	}
	return 0;
}

int vm_add_virtio_device(struct vm *vm, struct virtio_device *vdev,
			 struct tern_error *err)
{
	int ret;

	if (!vdev)
		return tern_error_set(err, ENOMEM,
				      "out of memory for a virtio device");
	ret = virtio_device_start(vdev, &vm->memory);
	if (ret) {
		virtio_device_destroy(vdev);
		return tern_error_set(err, -ret, "cannot start %s: %s",
				      vdev->ops->name, strerror(-ret));
	}
	return add_pci(vm, vdev, err);
}
