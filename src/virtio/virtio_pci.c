#include "virtio/virtio_pci.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/virtio_pci.h>

#include "devices/device.h"
#include "util/log.h"

#define MSIX_CONTROL_ENABLE 0x8000
#define MSIX_CONTROL_FUNCTION_MASK 0x4000
#define MSIX_ENTRY_MASKED 1u
/* ISR bits (spec 4.1.4.5): a queue interrupt, a config change. */
#define ISR_QUEUE 0x1
#define ISR_CONFIG 0x2
#define COMMON(field) offsetof(struct virtio_pci_common_cfg, field)

static struct virtio_pci *to_vp(struct pci_device *pdev)
{
	return container_of(pdev, struct virtio_pci, pdev);
}

/* PCI class by virtio device type, as the spec's device sections suggest
 * and as guests' lspci expects. */
static uint32_t class_for(uint16_t device_id)
{
	switch (device_id) {
	case 1: /* net: ethernet controller */
		return 0x020000;
	case 2: /* blk: other mass storage */
		return 0x018000;
	case 3: /* console: other communication */
		return 0x078000;
	default: /* unclassified */
		return 0x00ff00;
	}
}

/* --- MSI-X delivery --- */

static bool vector_deliverable(const struct virtio_pci *vp, uint16_t v)
{
	return vp->state.msix_enabled && !vp->state.msix_function_masked &&
		!(vp->state.msix[v].control & MSIX_ENTRY_MASKED);
}

/* Makes the GSI route of vector v match its table entry: only done while
 * the vector is deliverable, since the driver rewrites masked entries
 * freely and each route change is a full KVM_SET_GSI_ROUTING. */
static void sync_route(struct virtio_pci *vp, uint16_t v)
{
	const struct msix_entry *e = &vp->state.msix[v];
	struct msix_entry *r = &vp->routed[v];
	int ret;

	if (vp->route_valid[v] && r->address_lo == e->address_lo &&
	    r->address_hi == e->address_hi && r->data == e->data)
		return;
	ret = irq_routing_set_msi(
		vp->routing, (uint32_t)vp->gsi[v],
		((uint64_t)e->address_hi << 32) | e->address_lo, e->data);
	if (ret) {
		log_warn("%s: MSI-X vector %u: KVM_SET_GSI_ROUTING: %s",
			 vp->vdev->ops->name, v, strerror(-ret));
		return;
	}
	*r = *e;
	vp->route_valid[v] = true;
}

static void fire_vector(struct virtio_pci *vp, uint16_t v)
{
	uint64_t one = 1;

	sync_route(vp, v);
	if (write(vp->irqfd[v], &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: irqfd write: %s", vp->vdev->ops->name,
			 strerror(errno));
}

static void msix_notify(struct virtio_pci *vp, uint16_t v)
{
	if (v >= vp->vector_count)
		return;
	if (!vector_deliverable(vp, v)) {
		/* PCI 3.0 6.8.2.9: a masked vector's message is held in the
		 * PBA and sent on unmask. */
		vp->state.msix_pending |= 1u << v;
		return;
	}
	fire_vector(vp, v);
}

/* After anything that may unmask vectors: send what is pending. */
static void deliver_pending(struct virtio_pci *vp)
{
	for (uint16_t v = 0; v < vp->vector_count; v++) {
		if (!vector_deliverable(vp, v))
			continue;
		sync_route(vp, v);
		if (vp->state.msix_pending & (1u << v)) {
			vp->state.msix_pending &= ~(1u << v);
			fire_vector(vp, v);
		}
	}
}

static void signal_queue(struct virtio_device *vdev, uint16_t q)
{
	struct virtio_pci *vp = vdev->transport_data;

	if (!vp->state.msix_enabled) {
		vdev->isr |= ISR_QUEUE;
		return;
	}
	msix_notify(vp, vdev->queues[q].msix_vector);
}

static void signal_config(struct virtio_device *vdev)
{
	struct virtio_pci *vp = vdev->transport_data;

	if (!vp->state.msix_enabled) {
		vdev->isr |= ISR_QUEUE | ISR_CONFIG;
		return;
	}
	msix_notify(vp, vp->state.config_vector);
}

static const struct virtio_transport_ops virtio_pci_transport = {
	.signal_queue = signal_queue,
	.signal_config = signal_config,
};

/* --- common configuration (spec 4.1.4.3) --- */

static void put(uint8_t *image, size_t offset, size_t size, uint64_t value)
{
	for (size_t i = 0; i < size; i++)
		image[offset + i] = (uint8_t)(value >> (8 * i));
}

static void common_read(struct virtio_pci *vp, uint64_t offset, void *data,
			uint32_t size)
{
	struct virtio_device *vdev = vp->vdev;
	uint16_t q = vp->state.queue_select;
	const struct virtio_queue *queue =
		q < vdev->queue_count ? &vdev->queues[q] : NULL;
	uint8_t image[VIRTIO_PCI_COMMON_SIZE] = {0};

	put(image, COMMON(device_feature_select), 4,
	    vp->state.device_feature_select);
	put(image, COMMON(device_feature), 4,
	    virtio_device_read_device_features(
		    vdev, vp->state.device_feature_select));
	put(image, COMMON(guest_feature_select), 4,
	    vp->state.driver_feature_select);
	put(image, COMMON(guest_feature), 4,
	    vp->state.driver_feature_select < 2 ? vdev->driver_features >>
			    (32 * vp->state.driver_feature_select)
						: 0);
	put(image, COMMON(msix_config), 2, vp->state.config_vector);
	put(image, COMMON(num_queues), 2, vdev->queue_count);
	put(image, COMMON(device_status), 1, vdev->status);
	put(image, COMMON(config_generation), 1, vdev->config_generation);
	put(image, COMMON(queue_select), 2, q);
	if (queue) {
		put(image, COMMON(queue_size), 2, queue->size);
		put(image, COMMON(queue_msix_vector), 2, queue->msix_vector);
		put(image, COMMON(queue_enable), 2, queue->enabled);
		put(image, COMMON(queue_notify_off), 2, q);
		put(image, COMMON(queue_desc_lo), 8, queue->desc_gpa);
		put(image, COMMON(queue_avail_lo), 8, queue->avail_gpa);
		put(image, COMMON(queue_used_lo), 8, queue->used_gpa);
	} else {
		put(image, COMMON(queue_msix_vector), 2, VIRTIO_NO_VECTOR);
	}
	memset(data, 0, size);
	if (offset < sizeof(image))
		memcpy(data, image + offset,
		       size < sizeof(image) - offset ? size
						     : sizeof(image) - offset);
}

static uint16_t checked_vector(const struct virtio_pci *vp, uint32_t value)
{
	/* A vector the table does not have reads back as NO_VECTOR, which
	 * is how the driver learns the assignment failed (spec 4.1.5.1.2). */
	return value < vp->vector_count ? (uint16_t)value : VIRTIO_NO_VECTOR;
}

static void write_queue_address(struct virtio_queue *queue, uint64_t offset,
				uint32_t size, uint64_t value)
{
	uint64_t field = (offset - COMMON(queue_desc_lo)) / 8;
	uint64_t half = (offset - COMMON(queue_desc_lo)) % 8;
	uint64_t *gpa = field == 0 ? &queue->desc_gpa
		: field == 1	   ? &queue->avail_gpa
				   : &queue->used_gpa;

	if (size == 8 && half == 0)
		*gpa = value;
	else if (size == 4 && half == 0)
		*gpa = (*gpa & ~0xffffffffULL) | (uint32_t)value;
	else if (size == 4 && half == 4)
		*gpa = (*gpa & 0xffffffffULL) | (value << 32);
}

static void reset_transport(struct virtio_pci *vp)
{
	vp->state.device_feature_select = 0;
	vp->state.driver_feature_select = 0;
	vp->state.config_vector = VIRTIO_NO_VECTOR;
	vp->state.queue_select = 0;
}

static void common_write(struct virtio_pci *vp, uint64_t offset,
			 const void *data, uint32_t size)
{
	struct virtio_device *vdev = vp->vdev;
	uint16_t q = vp->state.queue_select;
	struct virtio_queue *queue =
		q < vdev->queue_count ? &vdev->queues[q] : NULL;
	uint64_t value = 0;

	memcpy(&value, data, size);
	switch (offset) {
	case COMMON(device_feature_select):
		vp->state.device_feature_select = (uint32_t)value;
		return;
	case COMMON(guest_feature_select):
		vp->state.driver_feature_select = (uint32_t)value;
		return;
	case COMMON(guest_feature):
		virtio_device_write_driver_features(
			vdev, vp->state.driver_feature_select, (uint32_t)value);
		return;
	case COMMON(msix_config):
		vp->state.config_vector = checked_vector(vp, (uint32_t)value);
		return;
	case COMMON(device_status):
		virtio_device_write_status(vdev, (uint8_t)value);
		if (vdev->status == 0)
			reset_transport(vp);
		return;
	case COMMON(queue_select):
		vp->state.queue_select = (uint16_t)value;
		return;
	}
	/* Per-queue fields; the driver may not change a queue once it is
	 * enabled (spec 4.1.4.3.2), so such writes are dropped. */
	if (!queue)
		return;
	switch (offset) {
	case COMMON(queue_msix_vector):
		queue->msix_vector = checked_vector(vp, (uint32_t)value);
		return;
	case COMMON(queue_size):
		if (!queue->enabled)
			queue->size = (uint16_t)value;
		return;
	case COMMON(queue_enable):
		if (value == 1 && !queue->enabled)
			virtio_device_enable_queue(vdev, q);
		return;
	}
	if (offset >= COMMON(queue_desc_lo) &&
	    offset < VIRTIO_PCI_COMMON_SIZE && !queue->enabled)
		write_queue_address(queue, offset, size, value);
}

/* --- MSI-X table and PBA (PCI 3.0, 6.8.2) --- */

static void msix_table_read(struct virtio_pci *vp, uint64_t offset, void *data,
			    uint32_t size)
{
	uint64_t v = offset / 16;

	memset(data, 0, size);
	if (v >= vp->vector_count || (offset % 16) + size > 16)
		return;
	memcpy(data, (uint8_t *)&vp->state.msix[v] + offset % 16, size);
}

static void msix_table_write(struct virtio_pci *vp, uint64_t offset,
			     const void *data, uint32_t size)
{
	uint64_t v = offset / 16;
	struct msix_entry *e;

	if (v >= vp->vector_count || (offset % 16) + size > 16)
		return;
	e = &vp->state.msix[v];
	memcpy((uint8_t *)e + offset % 16, data, size);
	/* Only the mask bit of vector control is writable. */
	e->control &= MSIX_ENTRY_MASKED;
	deliver_pending(vp);
}

/* --- BAR 0 --- */

static void bar_read(struct pci_device *pdev, int bar, uint64_t offset,
		     void *data, uint32_t size)
{
	struct virtio_pci *vp = to_vp(pdev);
	struct virtio_device *vdev = vp->vdev;

	memset(data, 0, size);
	pthread_mutex_lock(&vdev->lock);
	if (offset < VIRTIO_PCI_ISR_OFFSET) {
		common_read(vp, offset, data, size);
	} else if (offset == VIRTIO_PCI_ISR_OFFSET) {
		/* Reading ISR acknowledges it (spec 4.1.4.5). */
		*(uint8_t *)data = vdev->isr;
		vdev->isr = 0;
	} else if (offset >= VIRTIO_PCI_DEVICE_CFG_OFFSET &&
		   offset < VIRTIO_PCI_NOTIFY_OFFSET) {
		virtio_device_config_read(
			vdev, (uint32_t)(offset - VIRTIO_PCI_DEVICE_CFG_OFFSET),
			data, size);
	} else if (offset >= VIRTIO_PCI_MSIX_TABLE_OFFSET &&
		   offset < VIRTIO_PCI_MSIX_PBA_OFFSET) {
		msix_table_read(vp, offset - VIRTIO_PCI_MSIX_TABLE_OFFSET, data,
				size);
	} else if (offset >= VIRTIO_PCI_MSIX_PBA_OFFSET &&
		   offset < VIRTIO_PCI_MSIX_PBA_OFFSET + 8) {
		uint64_t pba = vp->state.msix_pending;

		offset -= VIRTIO_PCI_MSIX_PBA_OFFSET;
		memcpy(data, (uint8_t *)&pba + offset,
		       size < 8 - offset ? size : 8 - offset);
	}
	pthread_mutex_unlock(&vdev->lock);
}

static void bar_write(struct pci_device *pdev, int bar, uint64_t offset,
		      const void *data, uint32_t size)
{
	struct virtio_pci *vp = to_vp(pdev);
	struct virtio_device *vdev = vp->vdev;

	if (offset >= VIRTIO_PCI_NOTIFY_OFFSET &&
	    offset < VIRTIO_PCI_MSIX_TABLE_OFFSET) {
		/* Reached only without an ioeventfd on this address: kick
		 * the I/O thread the same way KVM would have. */
		uint64_t q = (offset - VIRTIO_PCI_NOTIFY_OFFSET) /
			VIRTIO_PCI_NOTIFY_MULTIPLIER;

		if (q < vdev->queue_count)
			virtio_device_kick_from_exit(vdev, (uint16_t)q);
		return;
	}
	pthread_mutex_lock(&vdev->lock);
	if (offset < VIRTIO_PCI_ISR_OFFSET)
		common_write(vp, offset, data, size);
	else if (offset >= VIRTIO_PCI_DEVICE_CFG_OFFSET &&
		 offset < VIRTIO_PCI_NOTIFY_OFFSET)
		virtio_device_config_write(
			vdev, (uint32_t)(offset - VIRTIO_PCI_DEVICE_CFG_OFFSET),
			data, size);
	else if (offset >= VIRTIO_PCI_MSIX_TABLE_OFFSET &&
		 offset < VIRTIO_PCI_MSIX_PBA_OFFSET)
		msix_table_write(vp, offset - VIRTIO_PCI_MSIX_TABLE_OFFSET,
				 data, size);
	pthread_mutex_unlock(&vdev->lock);
}

/* --- config space hooks --- */

/* The window of VIRTIO_PCI_CAP_PCI_CFG: a BAR access of the length the
 * driver put in the capability, at its offset, through pci_cfg_data. */
static bool pci_cfg_access(struct virtio_pci *vp, uint32_t offset,
			   uint32_t size, uint64_t *bar_offset,
			   uint32_t *length)
{
	uint32_t cap = vp->pci_cfg_capability;
	uint32_t data = cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);

	if (!cap || offset >= data + 4 || offset + size <= data)
		return false;
	*bar_offset = pci_config_get(
		&vp->pdev, cap + offsetof(struct virtio_pci_cap, offset), 4);
	*length = pci_config_get(
		&vp->pdev, cap + offsetof(struct virtio_pci_cap, length), 4);
	/* Spec 4.1.4.9.1: BAR 0 only here, lengths 1, 2 or 4, aligned. */
	return pci_config_get(&vp->pdev,
			      cap + offsetof(struct virtio_pci_cap, bar),
			      1) == 0 &&
		(*length == 1 || *length == 2 || *length == 4) &&
		!(*bar_offset & (*length - 1)) &&
		*bar_offset < VIRTIO_PCI_BAR_SIZE;
}

static void config_read(struct pci_device *pdev, uint32_t offset, uint32_t size)
{
	struct virtio_pci *vp = to_vp(pdev);
	uint32_t data = vp->pci_cfg_capability +
		offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
	uint64_t bar_offset;
	uint32_t length, value = 0;

	if (!pci_cfg_access(vp, offset, size, &bar_offset, &length))
		return;
	bar_read(pdev, 0, bar_offset, &value, length);
	pci_config_set(pdev, data, 4, value);
}

static void pci_cfg_write(struct virtio_pci *vp, uint32_t offset, uint32_t size)
{
	uint32_t data = vp->pci_cfg_capability +
		offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
	uint64_t bar_offset;
	uint32_t length, value;

	if (!pci_cfg_access(vp, offset, size, &bar_offset, &length))
		return;
	value = pci_config_get(&vp->pdev, data, 4);
	bar_write(&vp->pdev, 0, bar_offset, &value, length);
}

static void config_written(struct pci_device *pdev, uint32_t offset,
			   uint32_t size)
{
	struct virtio_pci *vp = to_vp(pdev);
	uint32_t control_offset = vp->msix_capability + 2u;
	uint16_t control;

	pci_cfg_write(vp, offset, size);
	if (offset > control_offset + 1 || offset + size <= control_offset)
		return;
	control = (uint16_t)pci_config_get(pdev, control_offset, 2);
	pthread_mutex_lock(&vp->vdev->lock);
	vp->state.msix_enabled = control & MSIX_CONTROL_ENABLE;
	vp->state.msix_function_masked = control & MSIX_CONTROL_FUNCTION_MASK;
	deliver_pending(vp);
	pthread_mutex_unlock(&vp->vdev->lock);
}

static int ioeventfd(struct virtio_pci *vp, uint64_t gpa, uint32_t len, int fd,
		     bool assign)
{
	struct kvm_ioeventfd req = {
		.addr = gpa,
		.len = len,
		.fd = fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	return ioctl(vp->vm_fd, KVM_IOEVENTFD, &req) < 0 ? -errno : 0;
}

static void set_ioeventfds(struct virtio_pci *vp, uint64_t bar_gpa, bool assign)
{
	struct virtio_device *vdev = vp->vdev;

	if (vp->vm_fd < 0)
		return;
	if (!assign) {
		if (!vp->ioeventfds_assigned)
			return;
		for (uint16_t q = 0; q < vdev->queue_count; q++)
			ioeventfd(vp,
				  vp->ioeventfd_gpa +
					  q * VIRTIO_PCI_NOTIFY_MULTIPLIER,
				  vp->ioeventfd_len, vdev->queues[q].kick_fd,
				  false);
		vp->ioeventfds_assigned = false;
		return;
	}
	vp->ioeventfd_gpa = bar_gpa + VIRTIO_PCI_NOTIFY_OFFSET;
	/* Length 0 matches a notify write of any width
	 * (KVM_CAP_IOEVENTFD_ANY_LENGTH); older KVMs want the width the
	 * driver uses, 16 bits (spec 4.1.5.2). */
	vp->ioeventfd_len = 0;
	for (uint16_t q = 0; q < vdev->queue_count; q++) {
		uint64_t gpa =
			vp->ioeventfd_gpa + q * VIRTIO_PCI_NOTIFY_MULTIPLIER;
		int ret = ioeventfd(vp, gpa, vp->ioeventfd_len,
				    vdev->queues[q].kick_fd, true);

		if (ret == -EINVAL && q == 0 && vp->ioeventfd_len == 0) {
			vp->ioeventfd_len = 2;
			ret = ioeventfd(vp, gpa, vp->ioeventfd_len,
					vdev->queues[q].kick_fd, true);
		}
		if (ret)
			log_warn("%s: KVM_IOEVENTFD for queue %u: %s; its "
				 "notifications take the slow path",
				 vdev->ops->name, q, strerror(-ret));
	}
	vp->ioeventfds_assigned = true;
}

static void bar_mapped(struct pci_device *pdev, int bar, uint64_t gpa,
		       bool mapped)
{
	set_ioeventfds(to_vp(pdev), gpa, mapped);
}

static void virtio_pci_destroy(struct pci_device *pdev)
{
	struct virtio_pci *vp = to_vp(pdev);

	virtio_device_stop(vp->vdev);
	set_ioeventfds(vp, 0, false);
	for (uint16_t v = 0; v < vp->vector_count; v++) {
		if (vp->irqfd[v] < 0)
			continue;
		if (vp->vm_fd >= 0) {
			struct kvm_irqfd req = {
				.fd = (uint32_t)vp->irqfd[v],
				.gsi = (uint32_t)vp->gsi[v],
				.flags = KVM_IRQFD_FLAG_DEASSIGN,
			};

			ioctl(vp->vm_fd, KVM_IRQFD, &req);
		}
		close(vp->irqfd[v]);
	}
	virtio_device_destroy(vp->vdev);
	free(vp);
}

/* The core's state follows the transport's, 8-byte aligned (it holds
 * 64-bit fields and is read in place). */
#define CORE_STATE_OFFSET ((sizeof(struct virtio_pci_state) + 7) & ~(size_t)7)

/* Snapshot: the transport state (MSI-X table, PBA, select registers), then
 * the device core's. Config space is the bus's to save. */
static int virtio_pci_save(struct pci_device *pdev, void *buf, size_t *len)
{
	struct virtio_pci *vp = to_vp(pdev);
	size_t core_len;
	int ret;

	if (*len < CORE_STATE_OFFSET)
		return -ENOSPC;
	memset(buf, 0, CORE_STATE_OFFSET);
	pthread_mutex_lock(&vp->vdev->lock);
	memcpy(buf, &vp->state, sizeof(vp->state));
	pthread_mutex_unlock(&vp->vdev->lock);
	core_len = *len - CORE_STATE_OFFSET;
	ret = virtio_device_save_state(
		vp->vdev, (uint8_t *)buf + CORE_STATE_OFFSET, &core_len);
	if (!ret)
		*len = CORE_STATE_OFFSET + core_len;
	return ret;
}

static int virtio_pci_check(struct pci_device *pdev, const void *buf,
			    size_t len)
{
	struct virtio_pci *vp = to_vp(pdev);
	struct virtio_pci_state state;

	if (len < CORE_STATE_OFFSET)
		return -EINVAL;
	memcpy(&state, buf, sizeof(state));
	if (state.config_vector != VIRTIO_NO_VECTOR &&
	    state.config_vector >= vp->vector_count)
		return -EINVAL;
	return virtio_device_check_state(
		vp->vdev, (const uint8_t *)buf + CORE_STATE_OFFSET,
		len - CORE_STATE_OFFSET);
}

static int virtio_pci_restore(struct pci_device *pdev, const void *buf,
			      size_t len)
{
	struct virtio_pci *vp = to_vp(pdev);
	struct virtio_pci_state state;
	int ret;

	if (len < CORE_STATE_OFFSET)
		return -EINVAL;
	/* The booleans are taken byte-wise below; copying them as bytes
	 * here is fine, reading them as bool is not. */
	memcpy(&state, buf, sizeof(state));
	if (state.config_vector != VIRTIO_NO_VECTOR &&
	    state.config_vector >= vp->vector_count)
		return -EINVAL;
	ret = virtio_device_restore_state(
		vp->vdev, (const uint8_t *)buf + CORE_STATE_OFFSET,
		len - CORE_STATE_OFFSET);
	if (ret)
		return ret;
	pthread_mutex_lock(&vp->vdev->lock);
	vp->state = state;
	/* Booleans from a file: read as bytes, any non-zero is true. */
	vp->state.msix_enabled =
		((const uint8_t *)buf)[offsetof(struct virtio_pci_state,
						msix_enabled)] != 0;
	vp->state.msix_function_masked =
		((const uint8_t *)buf)[offsetof(struct virtio_pci_state,
						msix_function_masked)] != 0;
	/* Routes are this VM's: program every deliverable vector's from the
	 * restored table, and send what was pending. */
	for (uint16_t v = 0; v < vp->vector_count; v++)
		vp->route_valid[v] = false;
	deliver_pending(vp);
	pthread_mutex_unlock(&vp->vdev->lock);
	return 0;
}

static const struct pci_device_ops virtio_pci_ops = {
	.save = virtio_pci_save,
	.restore = virtio_pci_restore,
	.check = virtio_pci_check,
	.name = "virtio-pci",
	.bar_read = bar_read,
	.bar_write = bar_write,
	.config_read = config_read,
	.config_written = config_written,
	.bar_mapped = bar_mapped,
	.destroy = virtio_pci_destroy,
};

static void add_virtio_cap(struct virtio_pci *vp, uint8_t type, uint32_t offset,
			   uint32_t length, bool notify)
{
	struct virtio_pci_notify_cap cap = {
		.cap =
			{
				.cap_len = notify
					? sizeof(struct virtio_pci_notify_cap)
					: sizeof(struct virtio_pci_cap),
				.cfg_type = type,
				.bar = 0,
				.offset = offset,
				.length = length,
			},
		.notify_off_multiplier = VIRTIO_PCI_NOTIFY_MULTIPLIER,
	};

	/* Skip the two header bytes the PCI code writes itself. */
	pci_device_add_capability(&vp->pdev, PCI_CAP_ID_VENDOR,
				  (uint8_t *)&cap + 2, cap.cap.cap_len - 2u);
}

static void add_msix_cap(struct virtio_pci *vp)
{
	uint8_t body[10];

	put(body, 0, 2, vp->vector_count - 1u); /* table size - 1 */
	put(body, 2, 4, VIRTIO_PCI_MSIX_TABLE_OFFSET | 0); /* BIR 0 */
	put(body, 6, 4, VIRTIO_PCI_MSIX_PBA_OFFSET | 0);
	vp->msix_capability = pci_device_add_capability(
		&vp->pdev, PCI_CAP_ID_MSIX, body, sizeof(body));
	pci_wmask_set(&vp->pdev, vp->msix_capability + 2u, 2,
		      MSIX_CONTROL_ENABLE | MSIX_CONTROL_FUNCTION_MASK);
}

static void add_pci_cfg_cap(struct virtio_pci *vp)
{
	struct virtio_pci_cfg_cap cap = {
		.cap =
			{
				.cap_len = sizeof(struct virtio_pci_cfg_cap),
				.cfg_type = VIRTIO_PCI_CAP_PCI_CFG,
			},
	};
	uint8_t at;

	at = pci_device_add_capability(&vp->pdev, PCI_CAP_ID_VENDOR,
				       (uint8_t *)&cap + 2, sizeof(cap) - 2);
	vp->pci_cfg_capability = at;
	pci_wmask_set(&vp->pdev, at + offsetof(struct virtio_pci_cap, bar), 1,
		      0xff);
	pci_wmask_set(&vp->pdev, at + offsetof(struct virtio_pci_cap, offset),
		      4, 0xffffffffu);
	pci_wmask_set(&vp->pdev, at + offsetof(struct virtio_pci_cap, length),
		      4, 0xffffffffu);
	pci_wmask_set(&vp->pdev,
		      at + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data), 4,
		      0xffffffffu);
}

static int setup_vectors(struct virtio_pci *vp)
{
	for (uint16_t v = 0; v < vp->vector_count; v++) {
		vp->state.msix[v].control = MSIX_ENTRY_MASKED;
		vp->irqfd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vp->irqfd[v] < 0)
			return -errno;
		vp->gsi[v] = irq_routing_alloc_gsi(vp->routing);
		if (vp->gsi[v] < 0)
			return vp->gsi[v];
		if (vp->vm_fd >= 0) {
			struct kvm_irqfd req = {
				.fd = (uint32_t)vp->irqfd[v],
				.gsi = (uint32_t)vp->gsi[v],
			};

			if (ioctl(vp->vm_fd, KVM_IRQFD, &req) < 0)
				return -errno;
		}
	}
	return 0;
}

struct pci_device *virtio_pci_create(struct virtio_device *vdev, int vm_fd,
				     struct irq_routing *routing, int *error)
{
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	int ret;

	if (!vp) {
		*error = -ENOMEM;
		return NULL;
	}
	pci_device_init(&vp->pdev, &virtio_pci_ops, VIRTIO_PCI_VENDOR_ID,
			VIRTIO_PCI_DEVICE_ID_BASE + vdev->ops->device_id,
			class_for(vdev->ops->device_id), 1,
			VIRTIO_PCI_VENDOR_ID, VIRTIO_PCI_DEVICE_ID_BASE);
	pci_device_add_bar(&vp->pdev, 0, VIRTIO_PCI_BAR_SIZE);
	vp->vdev = vdev;
	vp->vm_fd = vm_fd;
	vp->routing = routing;
	vp->vector_count = vdev->queue_count + 1;
	for (int v = 0; v < VIRTIO_PCI_MAX_VECTORS; v++)
		vp->irqfd[v] = -1;
	reset_transport(vp);

	add_virtio_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFFSET,
		       VIRTIO_PCI_COMMON_SIZE, false);
	add_virtio_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFFSET, 1,
		       false);
	if (vdev->config_size)
		add_virtio_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG,
			       VIRTIO_PCI_DEVICE_CFG_OFFSET, vdev->config_size,
			       false);
	add_virtio_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFFSET,
		       vdev->queue_count * VIRTIO_PCI_NOTIFY_MULTIPLIER, true);
	add_msix_cap(vp);
	add_pci_cfg_cap(vp);

	ret = setup_vectors(vp);
	if (ret) {
		for (uint16_t v = 0; v < vp->vector_count; v++)
			if (vp->irqfd[v] >= 0)
				close(vp->irqfd[v]);
		free(vp);
		*error = ret;
		return NULL;
	}
	vdev->transport = &virtio_pci_transport;
	vdev->transport_data = vp;
	return &vp->pdev;
}
