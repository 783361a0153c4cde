/* Split virtqueue (virtio 1.x, spec 2.7 "Split Virtqueues"), device side.
 *
 * A struct virtq walks the three rings the driver placed in guest memory:
 * virtq_pop() takes the next available descriptor chain and turns it into
 * host iovecs (device-readable first, then device-writable), virtq_push()
 * returns it through the used ring. Everything the guest wrote is hostile:
 * every address goes through guest_memory_ptr(), every index and length is
 * checked, and a malformed ring gives a distinct VIRTQ_ERR_* instead of a
 * crash or a hang. After an error the queue is broken: every later call
 * returns the same error until virtq_init() again (the device reports it
 * with virtio_device_needs_reset()).
 *
 * Threading: one thread at a time uses a virtq (the device's I/O thread,
 * holding the device lock). The barriers inside pair with the guest driver
 * running concurrently on other CPUs. */
#ifndef TERN_VIRTIO_VIRTQUEUE_H
#define TERN_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "memory/guest_memory.h"

/* Largest queue size tern offers; the driver may choose a smaller power of
 * two. A chain holds at most VIRTQ_CHAIN_MAX_SEGMENTS descriptors, direct or
 * from an indirect table: virtio-blk advertises seg_max below it. */
#define VIRTQ_MAX_SIZE 256
#define VIRTQ_CHAIN_MAX_SEGMENTS 256

/* Why a ring is malformed. virtq_* functions return them negated. The
 * codes a failing call records in struct virtq's error come first, from
 * VIRTQ_ERR_SIZE to VIRTQ_ERR_USED_HEAD (virtq_error_valid() relies on the
 * order); VIRTQ_ERR_NOT_READY is only ever returned. */
enum virtq_error {
	VIRTQ_ERR_NONE = 0,
	VIRTQ_ERR_SIZE = 1000, /* queue size 0, above max or not a power of 2 */
	VIRTQ_ERR_RING_ADDRESS, /* a ring outside guest RAM or misaligned */
	VIRTQ_ERR_AVAIL_IDX, /* avail idx more than size ahead, or back */
	VIRTQ_ERR_HEAD_INDEX, /* an avail entry names a descriptor >= size */
	VIRTQ_ERR_NEXT_INDEX, /* a descriptor's next is out of range */
	VIRTQ_ERR_BUFFER_ADDRESS, /* a buffer outside RAM or across regions */
	VIRTQ_ERR_CHAIN_TOO_LONG, /* a loop, or more descriptors than allowed */
	VIRTQ_ERR_INDIRECT_NOT_NEGOTIATED, /* INDIRECT without the feature */
	VIRTQ_ERR_INDIRECT_NESTED, /* INDIRECT inside an indirect table */
	VIRTQ_ERR_INDIRECT_WITH_NEXT, /* INDIRECT and NEXT on one descriptor */
	VIRTQ_ERR_INDIRECT_LENGTH, /* 0, not a multiple of 16, or too long */
	VIRTQ_ERR_LENGTH_OVERFLOW, /* readable or writable total above 4 GiB */
	VIRTQ_ERR_WRITABLE_BEFORE_READABLE, /* spec 2.7.4.2 order broken */
	VIRTQ_ERR_USED_HEAD, /* virtq_push of a head that is not one */
	VIRTQ_ERR_NOT_READY, /* virtq_init not called or failed */
};

/* The ring configuration the driver programmed plus the device's position
 * in it: plain data, so save/restore can copy it. The host pointers are
 * derived from the gpas by virtq_init() and rebuilt on restore. */
struct virtq {
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect; /* VIRTIO_F_INDIRECT_DESC negotiated */

	uint16_t last_avail_idx; /* next avail entry the device takes */
	uint16_t used_idx; /* next used entry the device fills */
	uint16_t signalled_used; /* used_idx at the last interrupt */
	bool signalled_used_valid; /* false: next interrupt is not suppressed */
	int error; /* enum virtq_error once broken, else 0 */
	bool notify_disabled; /* between disable_notify and enable_notify */
	/* enable_notify saw avail idx past last_avail_idx: the next pop must
	 * find a chain, as idx never moves back. */
	bool avail_promised;

	const struct guest_memory *mem;
	struct virtq_desc_raw *desc; /* host views of the rings */
	struct virtq_avail_raw *avail;
	struct virtq_used_raw *used;
};

/* One descriptor chain: iov[0 .. readable_count) are device-readable (the
 * driver's request), the next writable_count entries device-writable (where
 * the device puts its answer). Zero-length descriptors are dropped. */
struct virtq_chain {
	uint16_t head; /* give back to virtq_push() */
	uint16_t readable_count;
	uint16_t writable_count;
	uint32_t readable_len; /* bytes in the readable part */
	uint32_t writable_len;
	struct iovec iov[VIRTQ_CHAIN_MAX_SEGMENTS];
};

/* Checks the configuration (size a power of two up to VIRTQ_MAX_SIZE,
 * rings inside RAM and aligned per spec 2.7) and resets the position.
 * Returns 0 or -VIRTQ_ERR_SIZE / -VIRTQ_ERR_RING_ADDRESS. */
int virtq_init(struct virtq *vq, const struct guest_memory *mem, uint16_t size,
	       uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
	       bool event_idx, bool indirect);

/* Takes the next available chain. Returns exactly one of: 1 with *chain
 * filled, 0 when the ring is empty, or a negative VIRTQ_ERR_* (the queue is
 * then broken); never another value, whatever vq->error holds. Callers
 * take a chain only on 1 and treat anything but 1 and 0 as an error, so a
 * value outside the contract can never read as "a chain was filled".
 * With EVENT_IDX and notifications not disabled, an empty ring also
 * publishes avail_event, so a device that simply pops until 0 keeps
 * getting notified (as if it called virtq_enable_notify()). */
int virtq_pop(struct virtq *vq, struct virtq_chain *chain);

/* Gives the last `count` popped chains back to the available ring, unused:
 * the next virtq_pop() takes them again (re-reading and re-checking their
 * descriptors). Only chains never pushed: a device that pops ahead (e.g.
 * virtio-net reading a frame of unknown size straight into receive
 * buffers) returns what it did not fill. Their buffers may have been
 * written; that is allowed, they were the device's until used (spec
 * 2.7.13). Returns 0, -EINVAL when fewer than `count` chains are
 * outstanding (popped and not yet pushed), or the queue's error. */
int virtq_unpop(struct virtq *vq, uint16_t count);

/* Returns chain `head` to the driver with `written` bytes written into its
 * writable part and publishes it (release barrier before used->idx).
 * Returns 0 or a negative VIRTQ_ERR_*. */
int virtq_push(struct virtq *vq, uint16_t head, uint32_t written);

/* Returns `count` chains at once, in order, and publishes them with one
 * used->idx store: the driver never sees part of the group. virtio-net
 * needs it for a frame spread over mergeable receive buffers (spec
 * 5.1.6.4: the driver reads num_buffers, then takes that many used
 * entries at once). Returns 0 or a negative VIRTQ_ERR_*; on a bad head
 * nothing is published. */
int virtq_push_batch(struct virtq *vq, const uint16_t *heads,
		     const uint32_t *written, uint16_t count);

/* After pushes: whether the driver wants an interrupt now (used_event with
 * EVENT_IDX, else VRING_AVAIL_F_NO_INTERRUPT). Full barrier inside. The
 * device core calls this in virtio_device_signal_used(). */
bool virtq_needs_interrupt(struct virtq *vq);

/* Asks the driver not to notify (VRING_USED_F_NO_NOTIFY, or avail_event
 * left behind) while the device drains the ring anyway. */
void virtq_disable_notify(struct virtq *vq);

/* Asks for notifications again and returns true when buffers arrived in
 * the meantime (then keep draining: the driver may not notify for them). */
bool virtq_enable_notify(struct virtq *vq);

/* Available chains not yet popped (0 when broken). */
uint16_t virtq_pending(const struct virtq *vq);

/* Copies up to len bytes from the chain's readable part starting at byte
 * `offset` into dst / from src into the writable part at `offset`. Return
 * the bytes copied. */
size_t virtq_chain_read(const struct virtq_chain *chain, size_t offset,
			void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *chain, size_t offset,
			 const void *src, size_t len);

/* Whether `error` is a value struct virtq's error field can hold: 0, or a
 * code a failing virtq_* call records (VIRTQ_ERR_SIZE to
 * VIRTQ_ERR_USED_HEAD). A restore takes a queue's error from an untrusted
 * state file and checks it with this. */
bool virtq_error_valid(int error);

/* A sentence for a VIRTQ_ERR_* (negated or not). */
const char *virtq_error_text(int error);

#endif
