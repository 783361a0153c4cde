/* The guest's side of tern's virtio devices for the unit tests: a split
 * virtqueue driver over rings laid out in a guest_memory, as a guest's
 * virtio driver would keep them. It brings a device to DRIVER_OK through
 * the device core's own entry points (the ones a transport calls), fills
 * descriptors, publishes avail entries, notifies (directly or through the
 * device's I/O thread), reads used entries and waits for them.
 *
 * Each queue q sits at its own ring address: the descriptor table there,
 * the avail ring 4 KiB after it, the used ring 8 KiB after it (room for up
 * to 256 entries). Failures are cmocka failures: a ring address outside
 * guest memory fails the test. */
#ifndef TERN_TESTS_UNIT_VIRTIO_TEST_DRIVER_H
#define TERN_TESTS_UNIT_VIRTIO_TEST_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "memory/guest_memory.h"
#include "virtio/virtio_device.h"

/* How long driver_wait_used() and driver_wait_used_idx() wait at the most:
 * long enough for a loaded machine under ASan, reached only by a failing
 * test. */
#define DRIVER_WAIT_MS 10000

struct test_driver_queue {
	uint16_t size; /* 0: not laid out */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t avail_idx; /* entries the driver published */
	uint16_t used_seen; /* used entries the test took */
};

struct test_driver {
	struct guest_memory *mem;
	struct virtio_device *vdev;
	struct test_driver_queue queues[VIRTIO_MAX_QUEUES];
};

/* A driver for vdev over mem, with no queue laid out yet. */
void driver_init(struct test_driver *d, struct guest_memory *mem,
		 struct virtio_device *vdev);

/* Lays out queue q with `size` entries at ring_gpa, zeroes its rings and
 * starts its indices over (as after a reset). */
void driver_lay_out_queue(struct test_driver *d, uint16_t q, uint64_t ring_gpa,
			  uint16_t size);

/* Driver initialization up to FEATURES_OK (spec 3.1.1), device lock held:
 * ACKNOWLEDGE | DRIVER, both feature words, FEATURES_OK. Returns the
 * status the device shows then: without FEATURES_OK if it refused. */
uint8_t driver_negotiate(struct test_driver *d, uint64_t features);

/* The whole initialization in the spec's order: negotiate (FEATURES_OK
 * asserted), every laid-out queue given to the device and enabled, then
 * DRIVER_OK; the device must not need a reset. */
void driver_bring_up(struct test_driver *d, uint64_t features);

/* The same with the queues enabled after DRIVER_OK: the core's start-up
 * kick (on DRIVER_OK) finds no queue, so every notification the device
 * serves is the test's own. */
void driver_bring_up_queues_last(struct test_driver *d, uint64_t features);

/* Descriptor i of queue q. */
void driver_set_desc(struct test_driver *d, uint16_t q, unsigned i,
		     uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next);

/* Publishes the chain at `head` in q's avail ring (a release store of the
 * index, as a driver's memory barrier). */
void driver_offer(struct test_driver *d, uint16_t q, uint16_t head);

/* Calls the device's queue_notify for q in this thread, device lock held:
 * served when it returns. */
void driver_notify(struct test_driver *d, uint16_t q);

/* Notifies through the device's I/O thread, as KVM's ioeventfd does. */
void driver_kick(struct test_driver *d, uint16_t q);

void driver_offer_and_notify(struct test_driver *d, uint16_t q, uint16_t head);

/* q's used index (an acquire load, as a driver reads it). */
uint16_t driver_used_idx(struct test_driver *d, uint16_t q);

/* The used ring's flags word (VRING_USED_F_NO_NOTIFY). */
uint16_t driver_used_flags(struct test_driver *d, uint16_t q);

/* Used entry i (a free-running index, taken modulo the size). */
void driver_used_elem(struct test_driver *d, uint16_t q, unsigned i,
		      uint32_t *id, uint32_t *len);

/* The length written in the newest used entry. */
uint32_t driver_last_used_len(struct test_driver *d, uint16_t q);

/* Takes the next used entry the test has not taken; false if none. */
bool driver_take_used(struct test_driver *d, uint16_t q, uint32_t *id,
		      uint32_t *len);

/* Waits until `count` more entries than the test took are used and takes
 * those; false after DRIVER_WAIT_MS. For devices served by a thread. */
bool driver_wait_used(struct test_driver *d, uint16_t q, uint16_t count);

/* Waits until q's used index is `idx`; false after DRIVER_WAIT_MS. */
bool driver_wait_used_idx(struct test_driver *d, uint16_t q, uint16_t idx);

/* VIRTIO_RING_F_EVENT_IDX (spec 2.7.10): the driver's used_event, after
 * the avail ring's entries, and the device's avail_event, after the used
 * ring's. */
void driver_set_used_event(struct test_driver *d, uint16_t q, uint16_t idx);
uint16_t driver_avail_event(struct test_driver *d, uint16_t q);

#endif
