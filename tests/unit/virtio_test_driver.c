/* The unit tests' virtio driver (virtio_test_driver.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "unit/virtio_test_driver.h"

#define AVAIL_OFFSET 0x1000ULL
#define USED_OFFSET 0x2000ULL
#define RINGS_SIZE 0x3000ULL
/* The descriptor table must end where the avail ring starts. */
#define MAX_SIZE (AVAIL_OFFSET / sizeof(struct vring_desc))

static struct test_driver_queue *queue(struct test_driver *d, uint16_t q)
{
	assert_true(q < VIRTIO_MAX_QUEUES);
	assert_int_not_equal(d->queues[q].size, 0);
	return &d->queues[q];
}

static void *ring_ptr(struct test_driver *d, uint64_t gpa, uint64_t len)
{
	void *p = guest_memory_ptr(d->mem, gpa, len);

	assert_non_null(p);
	return p;
}

/* The 16-bit word `word` of q's avail ring: flags, idx, ring[], used_event. */
static uint16_t *avail_word(struct test_driver *d, uint16_t q, unsigned word)
{
	return ring_ptr(d, queue(d, q)->avail_gpa + 2ULL * word, 2);
}

/* The 16-bit word `word` of q's used ring (flags, idx) and avail_event
 * after its entries. */
static uint16_t *used_word(struct test_driver *d, uint16_t q, unsigned word)
{
	return ring_ptr(d, queue(d, q)->used_gpa + 2ULL * word, 2);
}

void driver_init(struct test_driver *d, struct guest_memory *mem,
		 struct virtio_device *vdev)
{
	*d = (struct test_driver){.mem = mem, .vdev = vdev};
}

void driver_lay_out_queue(struct test_driver *d, uint16_t q, uint64_t ring_gpa,
			  uint16_t size)
{
	assert_true(q < VIRTIO_MAX_QUEUES);
	assert_true(size > 0 && size <= MAX_SIZE);
	memset(ring_ptr(d, ring_gpa, RINGS_SIZE), 0, RINGS_SIZE);
	d->queues[q] = (struct test_driver_queue){
		.size = size,
		.desc_gpa = ring_gpa,
		.avail_gpa = ring_gpa + AVAIL_OFFSET,
		.used_gpa = ring_gpa + USED_OFFSET,
	};
}

uint8_t driver_negotiate(struct test_driver *d, uint64_t features)
{
	struct virtio_device *vdev = d->vdev;
	uint8_t status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

	pthread_mutex_lock(&vdev->lock);
	virtio_device_write_status(vdev, status);
	virtio_device_write_driver_features(vdev, 0, (uint32_t)features);
	virtio_device_write_driver_features(vdev, 1,
					    (uint32_t)(features >> 32));
	virtio_device_write_status(vdev, status | VIRTIO_CONFIG_S_FEATURES_OK);
	status = vdev->status;
	pthread_mutex_unlock(&vdev->lock);
	return status;
}

/* Gives the device every laid-out queue and enables it (lock held). */
static void enable_queues(struct test_driver *d)
{
	struct virtio_device *vdev = d->vdev;

	for (uint16_t q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		const struct test_driver_queue *dq = &d->queues[q];

		if (!dq->size)
			continue;
		assert_true(q < vdev->queue_count);
		vdev->queues[q].size = dq->size;
		vdev->queues[q].desc_gpa = dq->desc_gpa;
		vdev->queues[q].avail_gpa = dq->avail_gpa;
		vdev->queues[q].used_gpa = dq->used_gpa;
		virtio_device_enable_queue(vdev, q);
		assert_true(vdev->queues[q].enabled);
	}
}

static void bring_up(struct test_driver *d, uint64_t features, bool queues_last)
{
	struct virtio_device *vdev = d->vdev;
	uint8_t status = driver_negotiate(d, features);

	assert_true(status & VIRTIO_CONFIG_S_FEATURES_OK);
	pthread_mutex_lock(&vdev->lock);
	if (!queues_last)
		enable_queues(d);
	virtio_device_write_status(vdev, status | VIRTIO_CONFIG_S_DRIVER_OK);
	if (queues_last)
		enable_queues(d);
	assert_false(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	pthread_mutex_unlock(&vdev->lock);
}

void driver_bring_up(struct test_driver *d, uint64_t features)
{
	bring_up(d, features, false);
}

void driver_bring_up_queues_last(struct test_driver *d, uint64_t features)
{
	bring_up(d, features, true);
}

void driver_set_desc(struct test_driver *d, uint16_t q, unsigned i,
		     uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc *desc = ring_ptr(
		d, queue(d, q)->desc_gpa + sizeof(*desc) * i, sizeof(*desc));

	*desc = (struct vring_desc){addr, len, flags, next};
}

void driver_offer(struct test_driver *d, uint16_t q, uint16_t head)
{
	struct test_driver_queue *dq = queue(d, q);

	*avail_word(d, q, 2 + dq->avail_idx % dq->size) = head;
	dq->avail_idx++;
	__atomic_store_n(avail_word(d, q, 1), dq->avail_idx, __ATOMIC_RELEASE);
}

void driver_notify(struct test_driver *d, uint16_t q)
{
	pthread_mutex_lock(&d->vdev->lock);
	d->vdev->ops->queue_notify(d->vdev, q);
	pthread_mutex_unlock(&d->vdev->lock);
}

void driver_kick(struct test_driver *d, uint16_t q)
{
	virtio_device_kick(d->vdev, q);
}

void driver_offer_and_notify(struct test_driver *d, uint16_t q, uint16_t head)
{
	driver_offer(d, q, head);
	driver_notify(d, q);
}

uint16_t driver_used_idx(struct test_driver *d, uint16_t q)
{
	return __atomic_load_n(used_word(d, q, 1), __ATOMIC_ACQUIRE);
}

uint16_t driver_used_flags(struct test_driver *d, uint16_t q)
{
	return __atomic_load_n(used_word(d, q, 0), __ATOMIC_ACQUIRE);
}

void driver_used_elem(struct test_driver *d, uint16_t q, unsigned i,
		      uint32_t *id, uint32_t *len)
{
	struct test_driver_queue *dq = queue(d, q);
	struct vring_used_elem *e = ring_ptr(
		d, dq->used_gpa + 4 + sizeof(*e) * (i % dq->size), sizeof(*e));

	*id = e->id;
	*len = e->len;
}

uint32_t driver_last_used_len(struct test_driver *d, uint16_t q)
{
	uint32_t id, len;

	driver_used_elem(d, q, (uint16_t)(driver_used_idx(d, q) - 1), &id,
			 &len);
	return len;
}

bool driver_take_used(struct test_driver *d, uint16_t q, uint32_t *id,
		      uint32_t *len)
{
	struct test_driver_queue *dq = queue(d, q);

	if (driver_used_idx(d, q) == dq->used_seen)
		return false;
	driver_used_elem(d, q, dq->used_seen++, id, len);
	return true;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool driver_wait_used(struct test_driver *d, uint16_t q, uint16_t count)
{
	struct test_driver_queue *dq = queue(d, q);
	uint64_t deadline = now_ms() + DRIVER_WAIT_MS;

	for (;;) {
		bool done = (uint16_t)(driver_used_idx(d, q) - dq->used_seen) >=
			count;

		if (done) {
			dq->used_seen += count;
			return true;
		}
		if (now_ms() >= deadline)
			return false;
		usleep(1000);
	}
}

bool driver_wait_used_idx(struct test_driver *d, uint16_t q, uint16_t idx)
{
	uint64_t deadline = now_ms() + DRIVER_WAIT_MS;

	while (driver_used_idx(d, q) != idx) {
		if (now_ms() >= deadline)
			return false;
		usleep(1000);
	}
	return true;
}

void driver_set_used_event(struct test_driver *d, uint16_t q, uint16_t idx)
{
	*avail_word(d, q, 2 + queue(d, q)->size) = idx;
}

uint16_t driver_avail_event(struct test_driver *d, uint16_t q)
{
	/* After flags, idx and the size 4-word entries. */
	return __atomic_load_n(used_word(d, q, 2 + 4 * queue(d, q)->size),
			       __ATOMIC_ACQUIRE);
}
