/* A hostile virtio driver for the fuzz targets: a small fake guest memory
 * (two separately allocated regions, so ASan sees any access outside them
 * and a buffer across the seam must be refused), split rings the input
 * fills with descriptor chains, direct and indirect, and raw writes
 * anywhere in guest memory between notifications (a driver racing the
 * device). The device runs on the real core (src/virtio/virtio_device.c)
 * without its I/O thread: the harness calls queue_notify and the watched
 * fd handlers itself, so a run is single-threaded and repeatable. */
#ifndef TERN_FUZZ_VIRTIO_H
#define TERN_FUZZ_VIRTIO_H

#include <stdint.h>

#include "fuzz_input.h"
#include "memory/guest_memory.h"
#include "virtio/virtio_device.h"
#include "virtio/virtqueue.h"

/* Guest memory: [0, 128 KiB) and [128 KiB, 256 KiB), not contiguous on
 * the host. Queue q's rings (FUZZ_QSIZE entries) start at
 * FUZZ_RING_GPA(q); buffers are carved from FUZZ_DATA_GPA on. */
#define FUZZ_REGION_SIZE 0x20000u
#define FUZZ_MEM_SIZE (2 * FUZZ_REGION_SIZE)
#define FUZZ_QSIZE 16
#define FUZZ_RING_GPA(q) (0x1000u + 0x400u * (q))
#define FUZZ_DESC_GPA(q) FUZZ_RING_GPA(q)
#define FUZZ_AVAIL_GPA(q) (FUZZ_RING_GPA(q) + 0x100u)
#define FUZZ_USED_GPA(q) (FUZZ_RING_GPA(q) + 0x200u)
#define FUZZ_DATA_GPA 0x8000u

/* The fake guest memory, zeroed; the same one for the whole process. */
struct guest_memory *fuzz_guest_memory(void);

/* The driver's side of the queues. */
struct fuzz_driver {
	struct guest_memory *mem;
	struct virtio_device *vdev; /* NULL for the bare virtqueue target */
	uint16_t queue_count;
	uint16_t avail_idx[VIRTIO_MAX_QUEUES];
	uint16_t next_desc[VIRTIO_MAX_QUEUES];
	uint64_t data_next;
	/* Device-specific operation (op byte's choice), may be NULL. */
	void (*device_op)(struct fuzz_driver *d, struct fuzz_input *in);
};

void fuzz_driver_init(struct fuzz_driver *d, uint16_t queue_count);

/* Builds one descriptor chain from the input in queue q's table (or an
 * indirect table in the data area) and makes it available. */
void fuzz_driver_add_chain(struct fuzz_driver *d, uint16_t q,
			   struct fuzz_input *in);

/* Writes input bytes at an input-chosen guest address (rings included). */
void fuzz_driver_poke(struct fuzz_driver *d, struct fuzz_input *in);

/* Plugs vdev without an I/O thread (a transport fuzzer drives the rest
 * through the transport's registers); a vdev without a transport gets one
 * that ignores interrupts. */
void fuzz_device_plug(struct fuzz_driver *d, struct virtio_device *vdev);

/* fuzz_device_plug(), then negotiates the offered features
 * masked by the input's choice, enables every queue at FUZZ_RING_GPA and
 * sets DRIVER_OK. */
void fuzz_device_attach(struct fuzz_driver *d, struct virtio_device *vdev,
			struct fuzz_input *in);

/* What the I/O thread would do on a kick of q / on ready watched fds. */
void fuzz_device_notify(struct fuzz_driver *d, uint16_t q);
void fuzz_device_service(struct fuzz_driver *d);

/* Runs operations from the input until it ends: chains, notifications,
 * raw writes, config space reads and writes, the device's own op, a
 * driver reset and renegotiation. Then resets and destroys the device. */
void fuzz_device_run(struct fuzz_driver *d, struct fuzz_input *in);

#endif
