#include "fuzz_virtio.h"

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "util/log.h"

#define CHAIN_MAX 8
#define INDIRECT_MAX 8

struct guest_memory *fuzz_guest_memory(void)
{
	static struct guest_memory mem;
	static uint8_t *regions[2];

	if (!regions[0]) {
		log_set_level(LOG_OFF);
		for (int i = 0; i < 2; i++) {
			regions[i] = aligned_alloc(4096, FUZZ_REGION_SIZE);
			if (!regions[i])
				abort();
			mem.regions[i] = (struct guest_memory_region){
				.gpa = (uint64_t)i * FUZZ_REGION_SIZE,
				.size = FUZZ_REGION_SIZE,
				.hva = regions[i],
			};
		}
		mem.region_count = 2;
		mem.ram_size = FUZZ_MEM_SIZE;
	}
	for (int i = 0; i < 2; i++)
		memset(regions[i], 0, FUZZ_REGION_SIZE);
	return &mem;
}

void fuzz_driver_init(struct fuzz_driver *d, uint16_t queue_count)
{
	memset(d, 0, sizeof(*d));
	d->mem = fuzz_guest_memory();
	d->queue_count = queue_count ? queue_count : 1;
	d->data_next = FUZZ_DATA_GPA;
}

static void *gpa_ptr(struct fuzz_driver *d, uint64_t gpa, uint64_t len)
{
	return guest_memory_ptr(d->mem, gpa, len);
}

/* A buffer in the data area; wraps around, and may straddle the seam
 * between the regions now and then (which the device must refuse). */
static uint64_t alloc_data(struct fuzz_driver *d, uint32_t len)
{
	uint64_t gpa;

	if (d->data_next + len > FUZZ_MEM_SIZE)
		d->data_next = FUZZ_DATA_GPA;
	gpa = d->data_next;
	d->data_next += (len + 15) & ~15u;
	return gpa;
}

/* One descriptor's worth of input: its flags, length, where its buffer
 * is, and for a readable one the bytes in it. Returns the descriptor. */
static struct vring_desc build_desc(struct fuzz_driver *d,
				    struct fuzz_input *in, bool nested);

static struct vring_desc build_indirect(struct fuzz_driver *d,
					struct fuzz_input *in)
{
	unsigned count = 1 + fuzz_u8(in) % INDIRECT_MAX;
	struct vring_desc table[INDIRECT_MAX];
	uint64_t gpa;

	for (unsigned i = 0; i < count; i++) {
		table[i] = build_desc(d, in, true);
		if (i + 1 < count) {
			table[i].flags |= VRING_DESC_F_NEXT;
			table[i].next = (uint16_t)(i + 1);
		}
	}
	gpa = alloc_data(d, count * 16);
	if (gpa_ptr(d, gpa, count * 16))
		memcpy(gpa_ptr(d, gpa, count * 16), table, count * 16);
	return (struct vring_desc){
		.addr = gpa, .len = count * 16, .flags = VRING_DESC_F_INDIRECT};
}

static struct vring_desc build_desc(struct fuzz_driver *d,
				    struct fuzz_input *in, bool nested)
{
	uint8_t ctl = fuzz_u8(in);
	struct vring_desc desc = {0};
	void *buf;

	if ((ctl & 0x0f) == 0x0f && !nested)
		return build_indirect(d, in);
	desc.len = fuzz_u16(in) & 0x1fff;
	desc.flags = (ctl & 1) ? VRING_DESC_F_WRITE : 0;
	if (ctl & 0x80) {
		/* Everything raw: any address, length, flags and next. */
		desc.addr = fuzz_u64(in);
		desc.len = fuzz_u32(in);
		desc.flags = fuzz_u16(in);
		desc.next = fuzz_u16(in);
		return desc;
	}
	desc.addr = alloc_data(d, desc.len);
	buf = desc.len ? gpa_ptr(d, desc.addr, desc.len) : NULL;
	if (buf && !(desc.flags & VRING_DESC_F_WRITE)) {
		/* ctl bits 4-6 choose how much of it the input fills: the
		 * rest stays as it was (zeros or an older buffer). */
		uint32_t fill = (ctl & 0x70) ? desc.len
					     : (desc.len < 64 ? desc.len : 64);

		fuzz_bytes(in, buf, fill);
	}
	return desc;
}

void fuzz_driver_add_chain(struct fuzz_driver *d, uint16_t q,
			   struct fuzz_input *in)
{
	unsigned count = 1 + fuzz_u8(in) % CHAIN_MAX;
	uint16_t head = d->next_desc[q] % FUZZ_QSIZE;
	uint16_t *avail;

	for (unsigned i = 0; i < count; i++) {
		uint16_t slot = (uint16_t)((head + i) % FUZZ_QSIZE);
		struct vring_desc desc = build_desc(d, in, false);
		struct vring_desc *entry =
			gpa_ptr(d, FUZZ_DESC_GPA(q) + 16u * slot, 16);

		if (i + 1 < count && !(desc.flags & VRING_DESC_F_INDIRECT)) {
			desc.flags |= VRING_DESC_F_NEXT;
			desc.next = (uint16_t)((slot + 1) % FUZZ_QSIZE);
		}
		*entry = desc;
	}
	d->next_desc[q] = (uint16_t)((head + count) % FUZZ_QSIZE);

	avail = gpa_ptr(d, FUZZ_AVAIL_GPA(q), 4 + 2 * FUZZ_QSIZE);
	avail[2 + d->avail_idx[q] % FUZZ_QSIZE] = head;
	d->avail_idx[q]++;
	__atomic_store_n(&avail[1], d->avail_idx[q], __ATOMIC_RELEASE);
}

void fuzz_driver_poke(struct fuzz_driver *d, struct fuzz_input *in)
{
	uint32_t gpa = fuzz_u32(in) % FUZZ_MEM_SIZE;
	uint8_t len = fuzz_u8(in) % 32 + 1;
	uint8_t bytes[32];
	void *dst;

	/* Mostly the rings, where a racing driver does the most harm. */
	if (gpa & 1)
		gpa = FUZZ_RING_GPA(0) + gpa % (0x400u * d->queue_count);
	fuzz_bytes(in, bytes, len);
	dst = gpa_ptr(d, gpa, len);
	if (dst)
		memcpy(dst, bytes, len);
}

static void fake_signal_queue(struct virtio_device *vdev, uint16_t q)
{
}

static void fake_signal_config(struct virtio_device *vdev)
{
}

static const struct virtio_transport_ops fake_transport = {
	.signal_queue = fake_signal_queue,
	.signal_config = fake_signal_config,
};

static void negotiate(struct fuzz_driver *d, struct fuzz_input *in)
{
	struct virtio_device *vdev = d->vdev;
	uint8_t base = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	/* The input clears some offered bits; VERSION_1 always stays. */
	uint64_t features = vdev->device_features & ~fuzz_u64(in);

	features |= vdev->device_features & (1ULL << VIRTIO_F_VERSION_1);
	pthread_mutex_lock(&vdev->lock);
	virtio_device_write_status(vdev, 0);
	virtio_device_write_status(vdev, base);
	virtio_device_write_driver_features(vdev, 0, (uint32_t)features);
	virtio_device_write_driver_features(vdev, 1,
					    (uint32_t)(features >> 32));
	virtio_device_write_status(vdev, base | VIRTIO_CONFIG_S_FEATURES_OK);
	for (uint16_t q = 0; q < vdev->queue_count; q++) {
		struct virtio_queue *queue = &vdev->queues[q];

		queue->size = FUZZ_QSIZE;
		queue->desc_gpa = FUZZ_DESC_GPA(q);
		queue->avail_gpa = FUZZ_AVAIL_GPA(q);
		queue->used_gpa = FUZZ_USED_GPA(q);
		virtio_device_enable_queue(vdev, q);
	}
	virtio_device_write_status(vdev,
				   base | VIRTIO_CONFIG_S_FEATURES_OK |
					   VIRTIO_CONFIG_S_DRIVER_OK);
	pthread_mutex_unlock(&vdev->lock);
	for (uint16_t q = 0; q < VIRTIO_MAX_QUEUES; q++)
		d->avail_idx[q] = d->next_desc[q] = 0;
	for (uint16_t q = 0; q < vdev->queue_count; q++) {
		uint8_t *rings = gpa_ptr(d, FUZZ_RING_GPA(q), 0x400);

		memset(rings, 0, 0x400);
	}
}

void fuzz_device_plug(struct fuzz_driver *d, struct virtio_device *vdev)
{
	d->vdev = vdev;
	d->queue_count = vdev->queue_count;
	if (!vdev->transport)
		vdev->transport = &fake_transport;
	vdev->mem = d->mem;
	for (uint16_t q = 0; q < vdev->queue_count; q++)
		vdev->queues[q].size = vdev->queues[q].max_size;
	/* What virtio_device_start() does, without the thread: watched fds
	 * go into this epoll set and fuzz_device_service() serves them. */
	vdev->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (vdev->epoll_fd < 0)
		abort();
}

void fuzz_device_attach(struct fuzz_driver *d, struct virtio_device *vdev,
			struct fuzz_input *in)
{
	fuzz_device_plug(d, vdev);
	negotiate(d, in);
}

void fuzz_device_notify(struct fuzz_driver *d, uint16_t q)
{
	struct virtio_device *vdev = d->vdev;

	pthread_mutex_lock(&vdev->lock);
	if ((vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    !(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET) &&
	    vdev->queues[q].enabled)
		vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}

/* How virtio_device.c tags a watched fd's epoll events (data.u64). */
#define EVENT_WATCHED_BASE 0x10000

void fuzz_device_service(struct fuzz_driver *d)
{
	struct virtio_device *vdev = d->vdev;

	/* The device's own epoll set, so each fd reports exactly the events
	 * the device asked for (none while paused). Watched fds of a fuzzed
	 * device are host-side (block completions, vsock sockets): a few
	 * short waits let the host side answer. */
	for (int round = 0; round < 4; round++) {
		struct epoll_event events[8];
		int n = epoll_wait(vdev->epoll_fd, events, 8, round ? 1 : 0);

		if (n <= 0)
			break;
		pthread_mutex_lock(&vdev->lock);
		for (int i = 0; i < n; i++) {
			uint64_t index =
				events[i].data.u64 - EVENT_WATCHED_BASE;

			if (events[i].data.u64 < EVENT_WATCHED_BASE ||
			    index >= (uint64_t)vdev->watched_count ||
			    !vdev->watched[index].handler)
				continue;
			vdev->watched[index].handler(vdev,
						     vdev->watched[index].fd,
						     events[i].events);
		}
		pthread_mutex_unlock(&vdev->lock);
	}
}

static void config_access(struct fuzz_driver *d, struct fuzz_input *in)
{
	struct virtio_device *vdev = d->vdev;
	uint8_t ctl = fuzz_u8(in);
	uint32_t size = 1u << (ctl & 3);
	uint32_t offset = fuzz_u8(in);
	uint8_t data[8];

	fuzz_bytes(in, data, sizeof(data));
	pthread_mutex_lock(&vdev->lock);
	if (ctl & 4)
		virtio_device_config_write(vdev, offset, data, size);
	else
		virtio_device_config_read(vdev, offset, data, size);
	pthread_mutex_unlock(&vdev->lock);
}

void fuzz_device_run(struct fuzz_driver *d, struct fuzz_input *in)
{
	while (!fuzz_done(in)) {
		uint8_t op = fuzz_u8(in);
		uint16_t q = (uint16_t)((op >> 4) % d->queue_count);

		switch (op & 15) {
		case 0:
		case 1:
		case 2:
		case 3:
			fuzz_driver_add_chain(d, q, in);
			break;
		case 4:
		case 5:
		case 6:
			fuzz_device_notify(d, q);
			fuzz_device_service(d);
			break;
		case 7:
			fuzz_driver_poke(d, in);
			break;
		case 8:
			config_access(d, in);
			break;
		case 9:
			fuzz_device_service(d);
			break;
		case 10:
			negotiate(d, in);
			break;
		case 11:
		case 12:
			if (d->device_op)
				d->device_op(d, in);
			break;
		default:
			/* chain then kick, the common case */
			fuzz_driver_add_chain(d, q, in);
			fuzz_device_notify(d, q);
			fuzz_device_service(d);
			break;
		}
	}
	fuzz_device_service(d);
	virtio_device_destroy(d->vdev);
}
