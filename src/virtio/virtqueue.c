#include "virtio/virtqueue.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <linux/virtio_ring.h>

/* Ring layouts of spec 2.7.5-2.7.8, little-endian on x86. */
struct virtq_desc_raw {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail_raw {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* size entries, then used_event */
};

struct virtq_used_elem_raw {
	uint32_t id;
	uint32_t len;
};

struct virtq_used_raw {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem_raw ring[]; /* size entries, then avail_event */
};

_Static_assert(sizeof(struct virtq_desc_raw) == 16, "descriptor size");

bool virtq_error_valid(int error)
{
	return error == 0 ||
		(error >= VIRTQ_ERR_SIZE && error <= VIRTQ_ERR_USED_HEAD);
}

/* What every call on a broken queue returns: its error, negated. Always
 * negative, even should vq->error hold a value no virtq_* call stores (a
 * restore checks the saved one with virtq_error_valid()): a zero or
 * positive return from virtq_pop() would read as "empty" or as "a chain
 * was filled" with *chain never written. Such a queue reports itself as
 * not set up. */
static int broken_result(const struct virtq *vq)
{
	if (vq->error > 0 && virtq_error_valid(vq->error))
		return -vq->error;
	return -VIRTQ_ERR_NOT_READY;
}

static int virtq_fail(struct virtq *vq, int error)
{
	if (!vq->error)
		vq->error = error;
	return broken_result(vq);
}

int virtq_init(struct virtq *vq, const struct guest_memory *mem, uint16_t size,
	       uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
	       bool event_idx, bool indirect)
{
	uint64_t desc_len = 16ULL * size;
	uint64_t avail_len = 6 + 2ULL * size; /* flags, idx, ring, used_event */
	uint64_t used_len = 6 + 8ULL * size; /* flags, idx, ring, avail_event */

	memset(vq, 0, sizeof(*vq));
	vq->size = size;
	vq->desc_gpa = desc_gpa;
	vq->avail_gpa = avail_gpa;
	vq->used_gpa = used_gpa;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->mem = mem;

	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return virtq_fail(vq, VIRTQ_ERR_SIZE);
	/* Alignment of spec 2.7 table "Virtqueue Part Alignment". */
	if ((desc_gpa & 15) || (avail_gpa & 1) || (used_gpa & 3))
		return virtq_fail(vq, VIRTQ_ERR_RING_ADDRESS);
	vq->desc = guest_memory_ptr(mem, desc_gpa, desc_len);
	vq->avail = guest_memory_ptr(mem, avail_gpa, avail_len);
	vq->used = guest_memory_ptr(mem, used_gpa, used_len);
	if (!vq->desc || !vq->avail || !vq->used)
		return virtq_fail(vq, VIRTQ_ERR_RING_ADDRESS);
	return 0;
}

/* The driver writes these fields concurrently: read and write them with
 * single atomic accesses so the compiler neither tears nor caches them. */
static uint16_t load16_acquire(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static uint16_t load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static void mark_used_ring(struct virtq *vq);

static uint16_t *avail_used_event(struct virtq *vq)
{
	return &vq->avail->ring[vq->size];
}

static uint16_t *used_avail_event(struct virtq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

uint16_t virtq_pending(const struct virtq *vq)
{
	if (vq->error || !vq->avail)
		return 0;
	return (uint16_t)(load16(&vq->avail->idx) - vq->last_avail_idx);
}

/* Appends one descriptor's buffer to the chain, enforcing spec 2.7.4.2:
 * device-writable descriptors come after all device-readable ones. */
static int add_buffer(struct virtq *vq, struct virtq_chain *chain,
		      const struct virtq_desc_raw *desc)
{
	uint16_t flags = desc->flags;
	uint32_t len = desc->len;
	uint64_t addr = desc->addr;
	int writable = flags & VRING_DESC_F_WRITE;
	void *host;
	int index;

	if (!writable && chain->writable_count)
		return virtq_fail(vq, VIRTQ_ERR_WRITABLE_BEFORE_READABLE);
	if (writable && chain->writable_len + (uint64_t)len > UINT32_MAX)
		return virtq_fail(vq, VIRTQ_ERR_LENGTH_OVERFLOW);
	if (!writable && chain->readable_len + (uint64_t)len > UINT32_MAX)
		return virtq_fail(vq, VIRTQ_ERR_LENGTH_OVERFLOW);
	if (len == 0)
		return 0;
	host = guest_memory_ptr(vq->mem, addr, len);
	if (!host)
		return virtq_fail(vq, VIRTQ_ERR_BUFFER_ADDRESS);
	index = chain->readable_count + chain->writable_count;
	if (index >= VIRTQ_CHAIN_MAX_SEGMENTS)
		return virtq_fail(vq, VIRTQ_ERR_CHAIN_TOO_LONG);
	chain->iov[index].iov_base = host;
	chain->iov[index].iov_len = len;
	if (writable) {
		chain->writable_count++;
		chain->writable_len += len;
	} else {
		chain->readable_count++;
		chain->readable_len += len;
	}
	return 0;
}

/* Walks an indirect table (spec 2.7.5.3): its entries chain through `next`
 * inside the table, may not be indirect themselves, and are at most
 * len/16; visiting more than that means a loop. */
static int walk_indirect(struct virtq *vq, struct virtq_chain *chain,
			 const struct virtq_desc_raw *desc)
{
	uint32_t len = desc->len;
	uint32_t count = len / 16;
	const struct virtq_desc_raw *table;
	uint32_t i = 0, visited = 0;

	if (!vq->indirect)
		return virtq_fail(vq, VIRTQ_ERR_INDIRECT_NOT_NEGOTIATED);
	if (desc->flags & VRING_DESC_F_NEXT)
		return virtq_fail(vq, VIRTQ_ERR_INDIRECT_WITH_NEXT);
	if (len == 0 || len % 16 || count > VIRTQ_CHAIN_MAX_SEGMENTS)
		return virtq_fail(vq, VIRTQ_ERR_INDIRECT_LENGTH);
	/* Copy-free but bounds-checked: the whole table lies in one RAM
	 * region. Alignment is not required by the spec; x86 does not mind. */
	table = guest_memory_ptr(vq->mem, desc->addr, len);
	if (!table)
		return virtq_fail(vq, VIRTQ_ERR_BUFFER_ADDRESS);
	for (;;) {
		struct virtq_desc_raw entry;
		int ret;

		if (++visited > count)
			return virtq_fail(vq, VIRTQ_ERR_CHAIN_TOO_LONG);
		/* One snapshot per entry: the guest may rewrite it while we
		 * look, and checks must hold for what we use. */
		memcpy(&entry, &table[i], sizeof(entry));
		if (entry.flags & VRING_DESC_F_INDIRECT)
			return virtq_fail(vq, VIRTQ_ERR_INDIRECT_NESTED);
		ret = add_buffer(vq, chain, &entry);
		if (ret)
			return ret;
		if (!(entry.flags & VRING_DESC_F_NEXT))
			return 0;
		if (entry.next >= count)
			return virtq_fail(vq, VIRTQ_ERR_NEXT_INDEX);
		i = entry.next;
	}
}

int virtq_pop(struct virtq *vq, struct virtq_chain *chain)
{
	uint16_t avail_idx, head, i;
	uint32_t visited = 0;
	bool promised = vq->avail_promised;

	if (vq->error)
		return broken_result(vq);
	if (!vq->avail)
		return -VIRTQ_ERR_NOT_READY;
	vq->avail_promised = false;
	/* Acquire: the ring entry and descriptors the driver wrote before
	 * bumping idx are visible once we see the new idx (spec 2.7.13). */
	avail_idx = load16_acquire(&vq->avail->idx);
	if ((uint16_t)(avail_idx - vq->last_avail_idx) > vq->size)
		return virtq_fail(vq, VIRTQ_ERR_AVAIL_IDX);
	if (avail_idx == vq->last_avail_idx && promised)
		/* enable_notify saw a new idx and now it is gone: the driver's
		 * idx went back, or the rings overlap so that the used ring's
		 * flags or avail_event, which tern writes, are the avail idx. A
		 * device's pop / enable_notify loop would turn for ever. */
		return virtq_fail(vq, VIRTQ_ERR_AVAIL_IDX);
	if (avail_idx == vq->last_avail_idx) {
		/* Spec 2.7.10: the driver notifies when its new idx passes
		 * avail_event; left behind, it would never notify again. Store
		 * it, then look again past a full barrier (the driver does the
		 * mirror image: idx store, barrier, avail_event load). */
		if (!vq->event_idx || vq->notify_disabled)
			return 0;
		__atomic_store_n(used_avail_event(vq), vq->last_avail_idx,
				 __ATOMIC_RELAXED);
		mark_used_ring(vq);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail_idx = load16_acquire(&vq->avail->idx);
		if ((uint16_t)(avail_idx - vq->last_avail_idx) > vq->size)
			return virtq_fail(vq, VIRTQ_ERR_AVAIL_IDX);
		if (avail_idx == vq->last_avail_idx)
			return 0;
	}

	head = load16(&vq->avail->ring[vq->last_avail_idx % vq->size]);
	if (head >= vq->size)
		return virtq_fail(vq, VIRTQ_ERR_HEAD_INDEX);

	chain->head = head;
	chain->readable_count = chain->writable_count = 0;
	chain->readable_len = chain->writable_len = 0;
	for (i = head;;) {
		struct virtq_desc_raw desc;
		int ret;

		/* A chain visits each descriptor at most once, so more than
		 * size steps means a loop (spec 2.7.5.2). */
		if (++visited > vq->size)
			return virtq_fail(vq, VIRTQ_ERR_CHAIN_TOO_LONG);
		memcpy(&desc, &vq->desc[i], sizeof(desc));
		if (desc.flags & VRING_DESC_F_INDIRECT) {
			ret = walk_indirect(vq, chain, &desc);
			if (ret)
				return ret;
			break;
		}
		ret = add_buffer(vq, chain, &desc);
		if (ret)
			return ret;
		if (!(desc.flags & VRING_DESC_F_NEXT))
			break;
		if (desc.next >= vq->size)
			return virtq_fail(vq, VIRTQ_ERR_NEXT_INDEX);
		i = desc.next;
	}
	vq->last_avail_idx++;
	return 1;
}

int virtq_unpop(struct virtq *vq, uint16_t count)
{
	if (vq->error)
		return broken_result(vq);
	if (!vq->avail)
		return -VIRTQ_ERR_NOT_READY;
	/* Every pop moves last_avail_idx and every push used_idx by one, so
	 * their distance is the number of chains the device holds. */
	if (count > (uint16_t)(vq->last_avail_idx - vq->used_idx))
		return -EINVAL;
	vq->last_avail_idx = (uint16_t)(vq->last_avail_idx - count);
	return 0;
}

/* Dirty tracking of tern's own writes (guest_memory_mark_dirty): when a
 * chain goes back, every device-writable buffer in it is counted as written,
 * whatever `written` says (a device may have written more than it reports,
 * and marking too much only costs a page in a Diff). The chain is walked
 * again from the descriptor table, with pop's limits; a malformed walk just
 * stops: pop already refused it or the guest broke its own ring. */
static void mark_buffer(struct virtq *vq, uint64_t addr, uint32_t len,
			uint16_t flags)
{
	void *host;

	if (!(flags & VRING_DESC_F_WRITE) || !len)
		return;
	host = guest_memory_ptr(vq->mem, addr, len);
	if (host)
		guest_memory_mark_dirty(vq->mem, host, len);
}

static void mark_indirect(struct virtq *vq, const struct virtq_desc_raw *desc)
{
	uint32_t count = desc->len / 16, i = 0;
	const struct virtq_desc_raw *table;

	if (!count || count > VIRTQ_CHAIN_MAX_SEGMENTS)
		return;
	table = guest_memory_ptr(vq->mem, desc->addr, desc->len);
	for (uint32_t visited = 0; table && visited < count; visited++) {
		struct virtq_desc_raw entry;

		memcpy(&entry, &table[i], sizeof(entry));
		mark_buffer(vq, entry.addr, entry.len, entry.flags);
		if (!(entry.flags & VRING_DESC_F_NEXT) || entry.next >= count)
			return;
		i = entry.next;
	}
}

static void mark_chain_written(struct virtq *vq, uint16_t head)
{
	uint16_t i = head;

	if (!atomic_load_explicit(&vq->mem->vmm_dirty_on, memory_order_relaxed))
		return;
	for (uint32_t visited = 0; visited < vq->size; visited++) {
		struct virtq_desc_raw desc;

		memcpy(&desc, &vq->desc[i], sizeof(desc));
		if (desc.flags & VRING_DESC_F_INDIRECT) {
			mark_indirect(vq, &desc);
			return;
		}
		mark_buffer(vq, desc.addr, desc.len, desc.flags);
		if (!(desc.flags & VRING_DESC_F_NEXT) || desc.next >= vq->size)
			return;
		i = desc.next;
	}
}

/* The used ring (flags, idx, entries, avail_event) as written by tern. */
static void mark_used_ring(struct virtq *vq)
{
	guest_memory_mark_dirty(vq->mem, vq->used, 6 + 8ULL * vq->size);
}

int virtq_push(struct virtq *vq, uint16_t head, uint32_t written)
{
	struct virtq_used_elem_raw *elem;

	if (vq->error)
		return broken_result(vq);
	if (!vq->used)
		return -VIRTQ_ERR_NOT_READY;
	if (head >= vq->size)
		return virtq_fail(vq, VIRTQ_ERR_USED_HEAD);
	/* The chain is walked again while it is still the device's: once
	 * used idx moves, the driver may reuse its descriptors for other
	 * buffers, and the walk would mark those instead. */
	mark_chain_written(vq, head);
	elem = &vq->used->ring[vq->used_idx % vq->size];
	__atomic_store_n(&elem->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&elem->len, written, __ATOMIC_RELAXED);
	vq->used_idx++;
	/* Release: the element and the data written into the buffers are
	 * visible before the driver sees the new idx (spec 2.7.14). */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	mark_used_ring(vq);
	return 0;
}

int virtq_push_batch(struct virtq *vq, const uint16_t *heads,
		     const uint32_t *written, uint16_t count)
{
	if (vq->error)
		return broken_result(vq);
	if (!vq->used)
		return -VIRTQ_ERR_NOT_READY;
	for (uint16_t i = 0; i < count; i++)
		if (heads[i] >= vq->size)
			return virtq_fail(vq, VIRTQ_ERR_USED_HEAD);
	/* Before publishing, as in virtq_push. */
	for (uint16_t i = 0; i < count; i++)
		mark_chain_written(vq, heads[i]);
	for (uint16_t i = 0; i < count; i++) {
		struct virtq_used_elem_raw *elem =
			&vq->used->ring[(uint16_t)(vq->used_idx + i) %
					vq->size];

		__atomic_store_n(&elem->id, heads[i], __ATOMIC_RELAXED);
		__atomic_store_n(&elem->len, written[i], __ATOMIC_RELAXED);
	}
	vq->used_idx = (uint16_t)(vq->used_idx + count);
	/* One release store for the whole group: the driver sees all of it
	 * or none (spec 2.7.14). */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	mark_used_ring(vq);
	return 0;
}

/* Spec 2.7.10 vring_need_event(): whether used_event lies in the window of
 * entries published since the last interrupt, (old, new]. */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool virtq_needs_interrupt(struct virtq *vq)
{
	uint16_t old, event;
	bool valid;

	if (!vq->used || vq->error)
		return false;
	/* Full barrier: our used->idx store must be visible before we read
	 * the driver's suppression state, or we could both miss each other's
	 * update and the driver would sleep forever (spec 2.7.10). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(load16(&vq->avail->flags) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	event = load16(avail_used_event(vq));
	return need_event(event, vq->used_idx, old);
}

void virtq_disable_notify(struct virtq *vq)
{
	if (!vq->used || vq->error)
		return;
	vq->notify_disabled = true;
	/* With EVENT_IDX the driver only notifies when avail idx passes
	 * avail_event; leaving it where it is suppresses further kicks. */
	if (!vq->event_idx)
		store16(&vq->used->flags, VRING_USED_F_NO_NOTIFY);
	mark_used_ring(vq);
}

bool virtq_enable_notify(struct virtq *vq)
{
	if (!vq->used || vq->error)
		return false;
	vq->notify_disabled = false;
	if (vq->event_idx)
		store16(used_avail_event(vq), vq->last_avail_idx);
	else
		store16(&vq->used->flags, 0);
	mark_used_ring(vq);
	/* Full barrier: the re-enable must be visible before we look at avail
	 * idx again, else a buffer added in between goes unnoticed. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->avail_promised = load16(&vq->avail->idx) != vq->last_avail_idx;
	return vq->avail_promised;
}

size_t virtq_chain_read(const struct virtq_chain *chain, size_t offset,
			void *dst, size_t len)
{
	size_t done = 0;

	for (int i = 0; i < chain->readable_count && done < len; i++) {
		const struct iovec *iov = &chain->iov[i];
		size_t n;

		if (offset >= iov->iov_len) {
			offset -= iov->iov_len;
			continue;
		}
		n = iov->iov_len - offset;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)dst + done, (uint8_t *)iov->iov_base + offset,
		       n);
		done += n;
		offset = 0;
	}
	return done;
}

size_t virtq_chain_write(const struct virtq_chain *chain, size_t offset,
			 const void *src, size_t len)
{
	size_t done = 0;
	int end = chain->readable_count + chain->writable_count;

	for (int i = chain->readable_count; i < end && done < len; i++) {
		const struct iovec *iov = &chain->iov[i];
		size_t n;

		if (offset >= iov->iov_len) {
			offset -= iov->iov_len;
			continue;
		}
		n = iov->iov_len - offset;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)iov->iov_base + offset,
		       (const uint8_t *)src + done, n);
		done += n;
		offset = 0;
	}
	return done;
}

const char *virtq_error_text(int error)
{
	switch (error < 0 ? -error : error) {
	case VIRTQ_ERR_NONE:
		return "no error";
	case VIRTQ_ERR_SIZE:
		return "queue size is 0, too large or not a power of two";
	case VIRTQ_ERR_RING_ADDRESS:
		return "a ring lies outside guest RAM or is misaligned";
	case VIRTQ_ERR_AVAIL_IDX:
		return "avail idx moved more than the queue size ahead, or "
		       "back";
	case VIRTQ_ERR_HEAD_INDEX:
		return "avail ring names a descriptor beyond the queue";
	case VIRTQ_ERR_NEXT_INDEX:
		return "a descriptor's next index is out of range";
	case VIRTQ_ERR_BUFFER_ADDRESS:
		return "a buffer lies outside guest RAM";
	case VIRTQ_ERR_CHAIN_TOO_LONG:
		return "descriptor chain loops or is too long";
	case VIRTQ_ERR_INDIRECT_NOT_NEGOTIATED:
		return "indirect descriptor without VIRTIO_F_INDIRECT_DESC";
	case VIRTQ_ERR_INDIRECT_NESTED:
		return "indirect descriptor inside an indirect table";
	case VIRTQ_ERR_INDIRECT_WITH_NEXT:
		return "indirect descriptor with the NEXT flag";
	case VIRTQ_ERR_INDIRECT_LENGTH:
		return "indirect table length is 0, not a multiple of 16 or "
		       "too long";
	case VIRTQ_ERR_LENGTH_OVERFLOW:
		return "chain length overflows 32 bits";
	case VIRTQ_ERR_WRITABLE_BEFORE_READABLE:
		return "device-readable descriptor after a writable one";
	case VIRTQ_ERR_USED_HEAD:
		return "used entry for a descriptor beyond the queue";
	case VIRTQ_ERR_NOT_READY:
		return "queue not set up";
	}
	return "unknown virtqueue error";
}
