#include "snapshot/device_state.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/cmos_rtc.h"
#include "devices/pci/pci_bus.h"
#include "snapshot/snapshot_sections.h"

/* Room for the largest device state (the PCI bus: config space per slot). */
#define DEVICE_STATE_MAX (1u << 20)

/* Each device section starts with this, so a restore can tell that the
 * snapshot's device N is this VM's device N. */
struct device_header {
	char kind[32]; /* ops->name */
	uint64_t base; /* its first range's address */
	uint32_t bus; /* 0 port I/O, 1 MMIO */
	uint32_t pad;
};

struct device_slot {
	struct device *dev;
	uint64_t base;
	uint32_t bus;
};

/* The VM's devices in bus order, each once (a device may own several
 * ranges). Returns the count. */
static int list_devices(struct vm *vm, struct device_slot *out, int max)
{
	const struct io_bus *buses[2] = {&vm->pio_bus, &vm->mmio_bus};
	int count = 0;

	for (uint32_t b = 0; b < 2; b++)
		for (int i = 0; i < buses[b]->count; i++) {
			struct device *dev = buses[b]->ranges[i].dev;
			int seen = 0;

			for (int j = 0; j < count; j++)
				seen |= out[j].dev == dev;
			if (seen || count == max)
				continue;
			out[count++] = (struct device_slot){
				dev, buses[b]->ranges[i].base, b};
		}
	return count;
}

static void section_name(const struct device_slot *slot, char *name)
{
	snprintf(name, STATE_FILE_NAME_SIZE, "%.14s@%llx", slot->dev->ops->name,
		 (unsigned long long)slot->base);
}

/* A virtio device that does not save itself yet is refused by name before
 * anything else (its transport would only say -ENOTSUP). */
static int check_virtio(const struct vm *vm, struct tern_error *err)
{
	for (int i = 0; i < vm->virtio_device_count; i++) {
		const struct virtio_device *vdev = vm->virtio_devices[i].vdev;

		if (!vdev->ops->save || !vdev->ops->restore)
			return tern_error_set(
				err, ENOTSUP,
				"device %s (%s) cannot be snapshotted yet",
				vm->virtio_devices[i].id, vdev->ops->name);
	}
	return 0;
}

/* The virtio devices plugged, in order: a restore into a VM started with
 * other devices is refused by name before anything changes. */
struct virtio_entry_record {
	char id[VM_DEVICE_ID_MAX];
	char kind[31];
};

static int save_virtio_list(struct vm *vm, struct state_file *sf,
			    struct tern_error *err)
{
	struct virtio_entry_record list[VM_MAX_VIRTIO_DEVICES];

	memset(list, 0, sizeof(list));
	for (int i = 0; i < vm->virtio_device_count; i++) {
		snprintf(list[i].id, sizeof(list[i].id), "%s",
			 vm->virtio_devices[i].id);
		snprintf(list[i].kind, sizeof(list[i].kind), "%s",
			 vm->virtio_devices[i].vdev->ops->name);
	}
	return state_file_add(sf, SNAP_VIRTIO_BASE, "vm.virtio_devices", list,
			      (size_t)vm->virtio_device_count * sizeof(list[0]),
			      err);
}

static int check_virtio_list(const struct vm *vm, const struct state_file *sf,
			     struct tern_error *err)
{
	const struct state_section *s = state_file_require(
		sf, SNAP_VIRTIO_BASE, "vm.virtio_devices", 0, err);
	struct virtio_entry_record rec;
	size_t count;

	if (!s)
		return -ENOENT;
	if (s->length % sizeof(rec))
		return tern_error_set(err, EINVAL,
				      "snapshot section vm.virtio_devices is "
				      "malformed");
	count = s->length / sizeof(rec);
	for (size_t i = 0; i < count || i < (size_t)vm->virtio_device_count;
	     i++) {
		const char *id = i < (size_t)vm->virtio_device_count
			? vm->virtio_devices[i].id
			: NULL;

		if (i < count) {
			memcpy(&rec, s->data + i * sizeof(rec), sizeof(rec));
			rec.id[sizeof(rec.id) - 1] = '\0';
			rec.kind[sizeof(rec.kind) - 1] = '\0';
		}
		if (i >= count)
			return tern_error_set(
				err, EINVAL,
				"the snapshot has no virtio device %s (%s): "
				"start tern with the snapshot's devices",
				id, vm->virtio_devices[i].vdev->ops->name);
		if (!id)
			return tern_error_set(
				err, EINVAL,
				"the snapshot has virtio device %s (%s) that "
				"this VM lacks: start tern with the "
				"snapshot's devices",
				rec.id, rec.kind);
		if (strcmp(rec.id, id) ||
		    strcmp(rec.kind, vm->virtio_devices[i].vdev->ops->name))
			return tern_error_set(
				err, EINVAL,
				"the snapshot's virtio device %zu is %s (%s); "
				"this VM's is %s (%s)",
				i, rec.id, rec.kind, id,
				vm->virtio_devices[i].vdev->ops->name);
	}
	return 0;
}

int device_state_can_save(struct vm *vm, struct tern_error *err)
{
	struct device_slot slots[2 * IO_BUS_MAX_RANGES];
	int count = list_devices(vm, slots, 2 * IO_BUS_MAX_RANGES);
	int ret = check_virtio(vm, err);

	for (int i = 0; !ret && i < count; i++)
		if (!slots[i].dev->ops->save || !slots[i].dev->ops->restore)
			ret = tern_error_set(err, ENOTSUP,
					     "device %s at 0x%llx cannot be "
					     "snapshotted yet",
					     slots[i].dev->ops->name,
					     (unsigned long long)slots[i].base);
	/* The PCI bus saves its slots' devices through their own ops. */
	for (int i = 0; !ret && vm->pci_bus && i < PCI_SLOT_COUNT; i++) {
		const struct pci_device *pdev = vm->pci_bus->slots[i];

		if (pdev && (!pdev->ops->save || !pdev->ops->restore))
			ret = tern_error_set(err, ENOTSUP,
					     "PCI device %s in slot %d cannot "
					     "be snapshotted yet",
					     pdev->ops->name, i);
	}
	return ret;
}

int device_state_save(struct vm *vm, struct state_file *sf,
		      struct tern_error *err)
{
	struct device_slot slots[2 * IO_BUS_MAX_RANGES];
	int count = list_devices(vm, slots, 2 * IO_BUS_MAX_RANGES);
	uint8_t *buf;
	int ret = check_virtio(vm, err);

	if (!ret)
		ret = save_virtio_list(vm, sf, err);
	if (ret)
		return ret;
	buf = malloc(sizeof(struct device_header) + DEVICE_STATE_MAX);
	if (!buf)
		return tern_error_set(err, ENOMEM, "out of memory");
	for (int i = 0; !ret && i < count; i++) {
		struct device_header *h = (void *)buf;
		size_t len = DEVICE_STATE_MAX;
		char name[STATE_FILE_NAME_SIZE];

		section_name(&slots[i], name);
		if (!slots[i].dev->ops->save) {
			ret = tern_error_set(err, ENOTSUP,
					     "device %s at 0x%llx cannot be "
					     "snapshotted yet",
					     slots[i].dev->ops->name,
					     (unsigned long long)slots[i].base);
			break;
		}
		memset(h, 0, sizeof(*h));
		snprintf(h->kind, sizeof(h->kind), "%s",
			 slots[i].dev->ops->name);
		h->base = slots[i].base;
		h->bus = slots[i].bus;
		ret = slots[i].dev->ops->save(slots[i].dev, buf + sizeof(*h),
					      &len);
		if (ret) {
			ret = tern_error_set(err, -ret,
					     "device %s at 0x%llx cannot be "
					     "snapshotted: %s",
					     slots[i].dev->ops->name,
					     (unsigned long long)slots[i].base,
					     strerror(-ret));
			break;
		}
		ret = state_file_add(sf, SNAP_DEVICE_BASE + (uint32_t)i, name,
				     buf, sizeof(*h) + len, err);
	}
	free(buf);
	return ret;
}

/* A virtio device that said why it refused its state (another disk size,
 * MAC or CID): that sentence, with the device's name, is the error. */
static bool virtio_refusal(const struct vm *vm, struct tern_error *err)
{
	for (int i = 0; i < vm->virtio_device_count; i++) {
		const struct virtio_device *vdev = vm->virtio_devices[i].vdev;

		if (vdev->restore_error[0]) {
			tern_error_set(err, EINVAL, "device %s (%s): %s",
				       vm->virtio_devices[i].id,
				       vdev->ops->name, vdev->restore_error);
			return true;
		}
	}
	return false;
}

static int refused(struct vm *vm, const struct device_slot *slot, int ret,
		   struct tern_error *err)
{
	if (virtio_refusal(vm, err))
		return -EINVAL;
	return tern_error_set(err, -ret,
			      "snapshot state of device %s at 0x%llx is "
			      "invalid: %s",
			      slot->dev->ops->name,
			      (unsigned long long)slot->base, strerror(-ret));
}

/* The device's own check of its bytes, where it has one (its restore
 * refuses them again in any case). */
static int check_bytes(struct vm *vm, const struct device_slot *slot,
		       const struct state_section *s, struct tern_error *err)
{
	int ret;

	if (!slot->dev->ops->check)
		return 0;
	ret = slot->dev->ops->check(slot->dev,
				    s->data + sizeof(struct device_header),
				    s->length - sizeof(struct device_header));
	return ret ? refused(vm, slot, ret, err) : 0;
}

int device_state_check(struct vm *vm, const struct state_file *sf,
		       struct tern_error *err)
{
	struct device_slot slots[2 * IO_BUS_MAX_RANGES];
	int count = list_devices(vm, slots, 2 * IO_BUS_MAX_RANGES);
	int ret = check_virtio(vm, err);

	if (!ret)
		ret = check_virtio_list(vm, sf, err);
	if (ret)
		return ret;
	for (int i = 0; i < count; i++) {
		char name[STATE_FILE_NAME_SIZE];
		const struct state_section *s;
		struct device_header h;

		section_name(&slots[i], name);
		s = state_file_require(sf, SNAP_DEVICE_BASE + (uint32_t)i, name,
				       0, err);
		if (!s)
			return -ENOENT;
		if (s->length < sizeof(h))
			return tern_error_set(err, EINVAL,
					      "snapshot section %s is "
					      "malformed",
					      name);
		memcpy(&h, s->data, sizeof(h));
		h.kind[sizeof(h.kind) - 1] = '\0';
		if (strcmp(h.kind, slots[i].dev->ops->name) != 0 ||
		    h.base != slots[i].base || h.bus != slots[i].bus)
			return tern_error_set(
				err, EINVAL,
				"the snapshot's device %d is %.31s at 0x%llx; "
				"this VM's is %s at 0x%llx",
				i, h.kind, (unsigned long long)h.base,
				slots[i].dev->ops->name,
				(unsigned long long)slots[i].base);
		if (!slots[i].dev->ops->restore)
			return tern_error_set(err, ENOTSUP,
					      "device %s cannot be restored "
					      "yet",
					      slots[i].dev->ops->name);
		ret = check_bytes(vm, &slots[i], s, err);
		if (ret)
			return ret;
	}
	if (state_file_find(sf, SNAP_DEVICE_BASE + (uint32_t)count))
		return tern_error_set(err, EINVAL,
				      "the snapshot has more devices than "
				      "this VM (%d)",
				      count);
	return 0;
}

static int restore_devices(struct vm *vm, const struct state_file *sf,
			   const struct device *keep, struct tern_error *err)
{
	struct device_slot slots[2 * IO_BUS_MAX_RANGES];
	int count = list_devices(vm, slots, 2 * IO_BUS_MAX_RANGES);
	int ret = device_state_check(vm, sf, err);

	for (int i = 0; !ret && i < count; i++) {
		const struct state_section *s =
			state_file_find(sf, SNAP_DEVICE_BASE + (uint32_t)i);

		if (slots[i].dev == keep)
			continue;

		ret = slots[i].dev->ops->restore(
			slots[i].dev, s->data + sizeof(struct device_header),
			s->length - sizeof(struct device_header));
		if (ret)
			ret = refused(vm, &slots[i], ret, err);
	}
	return ret;
}

int device_state_restore(struct vm *vm, const struct state_file *sf,
			 struct tern_error *err)
{
	return restore_devices(vm, sf, NULL, err);
}

int device_state_reset(struct vm *vm, const struct state_file *sf,
		       struct tern_error *err)
{
	int ret = restore_devices(vm, sf, vm->rtc, err);

	if (!ret && vm->rtc)
		cmos_rtc_reset(vm->rtc);
	return ret;
}

void device_state_restored(struct vm *vm)
{
	struct device_slot slots[2 * IO_BUS_MAX_RANGES];
	int count = list_devices(vm, slots, 2 * IO_BUS_MAX_RANGES);

	for (int i = 0; i < count; i++)
		if (slots[i].dev->ops->restored)
			slots[i].dev->ops->restored(slots[i].dev);
	for (int i = 0; i < vm->virtio_device_count; i++)
		virtio_device_resignal(vm->virtio_devices[i].vdev);
}
