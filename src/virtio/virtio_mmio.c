#include "virtio/virtio_mmio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "util/log.h"

/* InterruptStatus bits (spec 4.2.2): used buffer, configuration change. */
#define INTERRUPT_VRING 0x1
#define INTERRUPT_CONFIG 0x2

static struct virtio_mmio *to_vm(struct device *dev)
{
	return container_of(dev, struct virtio_mmio, dev);
}

static void raise_edge(struct virtio_mmio *vm, uint8_t bits)
{
	uint64_t one = 1;

	vm->vdev->isr |= bits;
	if (write(vm->irqfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: irqfd write: %s", vm->vdev->ops->name,
			 strerror(errno));
}

static void signal_queue(struct virtio_device *vdev, uint16_t q)
{
	raise_edge(vdev->transport_data, INTERRUPT_VRING);
}

static void signal_config(struct virtio_device *vdev)
{
	raise_edge(vdev->transport_data, INTERRUPT_CONFIG);
}

static const struct virtio_transport_ops virtio_mmio_transport = {
	.signal_queue = signal_queue,
	.signal_config = signal_config,
};

static struct virtio_queue *selected_queue(struct virtio_mmio *vm)
{
	struct virtio_device *vdev = vm->vdev;

	return vm->state.queue_sel < vdev->queue_count
		? &vdev->queues[vm->state.queue_sel]
		: NULL;
}

static uint32_t register_read(struct virtio_mmio *vm, uint64_t offset)
{
	struct virtio_device *vdev = vm->vdev;
	struct virtio_queue *queue = selected_queue(vm);

	switch (offset) {
	case VIRTIO_MMIO_REG_MAGIC:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_REG_VERSION:
		return VIRTIO_MMIO_VERSION;
	case VIRTIO_MMIO_REG_DEVICE_ID:
		return vdev->ops->device_id;
	case VIRTIO_MMIO_REG_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR_ID;
	case VIRTIO_MMIO_REG_DEVICE_FEATURES:
		return virtio_device_read_device_features(
			vdev, vm->state.device_features_sel);
	case VIRTIO_MMIO_REG_QUEUE_NUM_MAX:
		return queue ? queue->max_size : 0;
	case VIRTIO_MMIO_REG_QUEUE_READY:
		return queue ? queue->enabled : 0;
	case VIRTIO_MMIO_REG_INTERRUPT_STATUS:
		return vdev->isr;
	case VIRTIO_MMIO_REG_STATUS:
		return vdev->status;
	case VIRTIO_MMIO_REG_SHM_LEN_LOW:
	case VIRTIO_MMIO_REG_SHM_LEN_HIGH:
		return 0xffffffffu; /* no shared memory regions */
	case VIRTIO_MMIO_REG_CONFIG_GENERATION:
		return vdev->config_generation;
	}
	return 0;
}

static void set_half(uint64_t *gpa, bool high, uint32_t value)
{
	if (high)
		*gpa = (*gpa & 0xffffffffULL) | ((uint64_t)value << 32);
	else
		*gpa = (*gpa & ~0xffffffffULL) | value;
}

static void reset_transport(struct virtio_mmio *vm)
{
	memset(&vm->state, 0, sizeof(vm->state));
}

static void queue_register_write(struct virtio_mmio *vm, uint64_t offset,
				 uint32_t value)
{
	struct virtio_queue *queue = selected_queue(vm);

	/* The driver may not change a live queue (spec 4.2.3.2). */
	if (!queue || queue->enabled) {
		if (queue && offset == VIRTIO_MMIO_REG_QUEUE_READY && !value)
			log_debug("%s: disabling a live queue is not "
				  "supported",
				  vm->vdev->ops->name);
		return;
	}
	switch (offset) {
	case VIRTIO_MMIO_REG_QUEUE_NUM:
		queue->size = (uint16_t)(value > 0xffff ? 0 : value);
		break;
	case VIRTIO_MMIO_REG_QUEUE_READY:
		if (value == 1)
			virtio_device_enable_queue(
				vm->vdev, (uint16_t)vm->state.queue_sel);
		break;
	case VIRTIO_MMIO_REG_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_REG_QUEUE_DESC_HIGH:
		set_half(&queue->desc_gpa,
			 offset == VIRTIO_MMIO_REG_QUEUE_DESC_HIGH, value);
		break;
	case VIRTIO_MMIO_REG_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_REG_QUEUE_DRIVER_HIGH:
		set_half(&queue->avail_gpa,
			 offset == VIRTIO_MMIO_REG_QUEUE_DRIVER_HIGH, value);
		break;
	case VIRTIO_MMIO_REG_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_REG_QUEUE_DEVICE_HIGH:
		set_half(&queue->used_gpa,
			 offset == VIRTIO_MMIO_REG_QUEUE_DEVICE_HIGH, value);
		break;
	}
}

static void register_write(struct virtio_mmio *vm, uint64_t offset,
			   uint32_t value)
{
	struct virtio_device *vdev = vm->vdev;

	switch (offset) {
	case VIRTIO_MMIO_REG_DEVICE_FEATURES_SEL:
		vm->state.device_features_sel = value;
		return;
	case VIRTIO_MMIO_REG_DRIVER_FEATURES_SEL:
		vm->state.driver_features_sel = value;
		return;
	case VIRTIO_MMIO_REG_DRIVER_FEATURES:
		virtio_device_write_driver_features(
			vdev, vm->state.driver_features_sel, value);
		return;
	case VIRTIO_MMIO_REG_QUEUE_SEL:
		vm->state.queue_sel = value;
		return;
	case VIRTIO_MMIO_REG_INTERRUPT_ACK:
		vdev->isr &= (uint8_t)~value;
		return;
	case VIRTIO_MMIO_REG_STATUS:
		virtio_device_write_status(vdev, (uint8_t)value);
		if (vdev->status == 0)
			reset_transport(vm);
		return;
	}
	queue_register_write(vm, offset, value);
}

static void mmio_read(struct device *dev, uint64_t offset, void *data,
		      uint32_t size)
{
	struct virtio_mmio *vm = to_vm(dev);
	uint32_t value;

	memset(data, 0, size);
	pthread_mutex_lock(&vm->vdev->lock);
	if (offset >= VIRTIO_MMIO_CONFIG_OFFSET) {
		virtio_device_config_read(
			vm->vdev,
			(uint32_t)(offset - VIRTIO_MMIO_CONFIG_OFFSET), data,
			size);
	} else if (size == 4 && !(offset & 3)) {
		/* Spec 4.2.2.2: registers are 32-bit; other widths are
		 * undefined and read 0 here. */
		value = register_read(vm, offset);
		memcpy(data, &value, 4);
	}
	pthread_mutex_unlock(&vm->vdev->lock);
}

static void mmio_write(struct device *dev, uint64_t offset, const void *data,
		       uint32_t size)
{
	struct virtio_mmio *vm = to_vm(dev);
	uint32_t value;

	if (offset == VIRTIO_MMIO_REG_QUEUE_NOTIFY && size == 4) {
		/* Reached only without an ioeventfd for this queue. */
		memcpy(&value, data, 4);
		if (value < vm->vdev->queue_count)
			virtio_device_kick_from_exit(vm->vdev, (uint16_t)value);
		return;
	}
	pthread_mutex_lock(&vm->vdev->lock);
	if (offset >= VIRTIO_MMIO_CONFIG_OFFSET) {
		virtio_device_config_write(
			vm->vdev,
			(uint32_t)(offset - VIRTIO_MMIO_CONFIG_OFFSET), data,
			size);
	} else if (size == 4 && !(offset & 3)) {
		memcpy(&value, data, 4);
		register_write(vm, offset, value);
	}
	pthread_mutex_unlock(&vm->vdev->lock);
}

static int set_ioeventfd(struct virtio_mmio *vm, uint16_t q, bool assign)
{
	struct kvm_ioeventfd req = {
		.datamatch = q,
		.addr = vm->base + VIRTIO_MMIO_REG_QUEUE_NOTIFY,
		.len = 4,
		.fd = vm->vdev->queues[q].kick_fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH |
			(assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &req) < 0 ? -errno : 0;
}

static void mmio_destroy(struct device *dev)
{
	struct virtio_mmio *vm = to_vm(dev);

	virtio_device_stop(vm->vdev);
	if (vm->ioeventfds_assigned)
		for (uint16_t q = 0; q < vm->vdev->queue_count; q++)
			set_ioeventfd(vm, q, false);
	if (vm->irqfd >= 0) {
		if (vm->vm_fd >= 0) {
			struct kvm_irqfd req = {
				.fd = (uint32_t)vm->irqfd,
				.gsi = vm->gsi,
				.flags = KVM_IRQFD_FLAG_DEASSIGN,
			};

			ioctl(vm->vm_fd, KVM_IRQFD, &req);
		}
		close(vm->irqfd);
	}
	virtio_device_destroy(vm->vdev);
	free(vm);
}

/* The core's state follows the transport's, 8-byte aligned (it holds
 * 64-bit fields and is read in place). */
#define CORE_STATE_OFFSET ((sizeof(struct virtio_mmio_state) + 7) & ~(size_t)7)

/* Snapshot: the transport's select registers, then the device core's state
 * (virtio_device_save_state). The irqfd and ioeventfds are this process's,
 * set up at create. */
static int mmio_save(struct device *dev, void *buf, size_t *len)
{
	struct virtio_mmio *vm = to_vm(dev);
	size_t core_len;
	int ret;

	if (*len < CORE_STATE_OFFSET)
		return -ENOSPC;
	memset(buf, 0, CORE_STATE_OFFSET);
	pthread_mutex_lock(&vm->vdev->lock);
	memcpy(buf, &vm->state, sizeof(vm->state));
	pthread_mutex_unlock(&vm->vdev->lock);
	core_len = *len - CORE_STATE_OFFSET;
	ret = virtio_device_save_state(
		vm->vdev, (uint8_t *)buf + CORE_STATE_OFFSET, &core_len);
	if (!ret)
		*len = CORE_STATE_OFFSET + core_len;
	return ret;
}

static int mmio_check(struct device *dev, const void *buf, size_t len)
{
	if (len < CORE_STATE_OFFSET)
		return -EINVAL;
	return virtio_device_check_state(
		to_vm(dev)->vdev, (const uint8_t *)buf + CORE_STATE_OFFSET,
		len - CORE_STATE_OFFSET);
}

static int mmio_restore(struct device *dev, const void *buf, size_t len)
{
	struct virtio_mmio *vm = to_vm(dev);
	struct virtio_mmio_state state;
	int ret;

	if (len < CORE_STATE_OFFSET)
		return -EINVAL;
	memcpy(&state, buf, sizeof(state));
	ret = virtio_device_restore_state(
		vm->vdev, (const uint8_t *)buf + CORE_STATE_OFFSET,
		len - CORE_STATE_OFFSET);
	if (ret)
		return ret;
	pthread_mutex_lock(&vm->vdev->lock);
	vm->state = state;
	pthread_mutex_unlock(&vm->vdev->lock);
	return 0;
}

static const struct device_ops virtio_mmio_ops = {
	.save = mmio_save,
	.restore = mmio_restore,
	.check = mmio_check,
	.name = "virtio-mmio",
	.io_read = mmio_read,
	.io_write = mmio_write,
	.destroy = mmio_destroy,
};

uint32_t virtio_mmio_slot_gsi(int slot)
{
	static const uint8_t gsis[VIRTIO_MMIO_MAX_DEVICES] = {
		16, 17, 18, 19, 20, 21, 22, 23, 3, 6, 7, 10, 11, 13, 14, 15,
	};

	return gsis[slot];
}

uint32_t virtio_mmio_slot_gsi_pic(int slot)
{
	static const uint8_t gsis[VIRTIO_MMIO_MAX_DEVICES] = {
		3, 6, 7, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
	};

	return gsis[slot];
}

struct device *virtio_mmio_create(struct virtio_device *vdev, uint64_t base,
				  uint32_t gsi, int vm_fd, int *error)
{
	struct virtio_mmio *vm = calloc(1, sizeof(*vm));

	if (!vm) {
		*error = -ENOMEM;
		return NULL;
	}
	vm->dev.ops = &virtio_mmio_ops;
	vm->vdev = vdev;
	vm->base = base;
	vm->gsi = gsi;
	vm->vm_fd = vm_fd;
	vm->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->irqfd < 0) {
		*error = -errno;
		free(vm);
		return NULL;
	}
	if (vm_fd >= 0) {
		struct kvm_irqfd req = {.fd = (uint32_t)vm->irqfd, .gsi = gsi};

		if (ioctl(vm_fd, KVM_IRQFD, &req) < 0) {
			*error = -errno;
			close(vm->irqfd);
			free(vm);
			return NULL;
		}
		vm->ioeventfds_assigned = true;
		for (uint16_t q = 0; q < vdev->queue_count; q++) {
			int ret = set_ioeventfd(vm, q, true);

			if (ret)
				log_warn("%s: KVM_IOEVENTFD for queue %u: %s; "
					 "its notifications take the slow "
					 "path",
					 vdev->ops->name, q, strerror(-ret));
		}
	}
	vdev->transport = &virtio_mmio_transport;
	vdev->transport_data = vm;
	return &vm->dev;
}
