/* The split virtqueue against rings built by hand in guest memory, playing
 * a driver: well-formed chains, suppression in both directions, and every
 * kind of hostile ring giving its own error without a crash or a hang. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include "arch/x86/layout.h"
#include "memory/guest_memory.h"
#include "virtio/virtqueue.h"

#define QSIZE 16
#define DESC_GPA 0x10000ULL
#define AVAIL_GPA 0x11000ULL
#define USED_GPA 0x12000ULL
#define DATA_GPA 0x20000ULL
#define TABLE_GPA 0x30000ULL

struct fixture {
	struct guest_memory mem;
	struct virtq vq;
	struct virtq_chain chain;
	uint16_t avail_idx;
};

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(guest_memory_init(&f->mem, MiB(64)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

static void init_queue(struct fixture *f, bool event_idx, bool indirect)
{
	assert_int_equal(virtq_init(&f->vq, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA,
				    USED_GPA, event_idx, indirect),
			 0);
}

static struct desc *desc_at(struct fixture *f, uint64_t gpa, unsigned i)
{
	return (struct desc *)guest_memory_ptr(&f->mem, gpa + 16ULL * i, 16);
}

static void set_desc(struct fixture *f, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	*desc_at(f, DESC_GPA, i) = (struct desc){addr, len, flags, next};
}

static uint16_t *avail_field(struct fixture *f, unsigned word)
{
	return guest_memory_ptr(&f->mem, AVAIL_GPA + 2ULL * word, 2);
}

/* avail: flags, idx, ring[QSIZE], used_event */
static void offer(struct fixture *f, uint16_t head)
{
	*avail_field(f, 2 + f->avail_idx % QSIZE) = head;
	f->avail_idx++;
	*avail_field(f, 1) = f->avail_idx;
}

static uint16_t used_idx(struct fixture *f)
{
	return *(uint16_t *)guest_memory_ptr(&f->mem, USED_GPA + 2, 2);
}

static void used_elem(struct fixture *f, unsigned i, uint32_t *id,
		      uint32_t *len)
{
	uint32_t *e = guest_memory_ptr(&f->mem, USED_GPA + 4 + 8ULL * i, 8);

	*id = e[0];
	*len = e[1];
}

static void expect_error(struct fixture *f, int error)
{
	assert_int_equal(virtq_pop(&f->vq, &f->chain), -error);
	/* Broken stays broken: the same error again, nothing popped. */
	assert_int_equal(virtq_pop(&f->vq, &f->chain), -error);
	assert_int_equal(virtq_pending(&f->vq), 0);
}

static void pops_readable_then_writable_and_pushes_used(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = guest_memory_ptr(&f->mem, DATA_GPA, 0x3000);
	uint8_t header[8], reply[4] = {1, 2, 3, 4};
	uint32_t id, len;

	memcpy(data, "requests", 8);
	init_queue(f, false, false);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 0); /* empty */
	set_desc(f, 3, DATA_GPA, 8, VRING_DESC_F_NEXT, 7);
	set_desc(f, 7, DATA_GPA + 0x1000, 100,
		 VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(f, 1, DATA_GPA + 0x2000, 28, VRING_DESC_F_WRITE, 0);
	offer(f, 3);
	assert_int_equal(virtq_pending(&f->vq), 1);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(f->chain.head, 3);
	assert_int_equal(f->chain.readable_count, 1);
	assert_int_equal(f->chain.writable_count, 2);
	assert_int_equal(f->chain.readable_len, 8);
	assert_int_equal(f->chain.writable_len, 128);
	assert_ptr_equal(f->chain.iov[1].iov_base, data + 0x1000);
	assert_int_equal(virtq_chain_read(&f->chain, 0, header, 8), 8);
	assert_memory_equal(header, "requests", 8);
	/* A write straddling the two writable buffers. */
	assert_int_equal(virtq_chain_write(&f->chain, 98, reply, 4), 4);
	assert_int_equal(data[0x1000 + 99], 2);
	assert_int_equal(data[0x2000], 3);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 0);

	assert_int_equal(virtq_push(&f->vq, 3, 102), 0);
	assert_int_equal(used_idx(f), 1);
	used_elem(f, 0, &id, &len);
	assert_int_equal(id, 3);
	assert_int_equal(len, 102);
	assert_int_equal(virtq_push(&f->vq, QSIZE, 0), -VIRTQ_ERR_USED_HEAD);
}

static void indices_wrap_around_16_bits(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, false);
	f->vq.last_avail_idx = f->vq.used_idx = 0xfffe;
	f->avail_idx = 0xfffe;
	set_desc(f, 0, DATA_GPA, 4, 0, 0);
	for (int i = 0; i < 4; i++) {
		offer(f, 0);
		assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
		assert_int_equal(virtq_push(&f->vq, 0, 0), 0);
	}
	assert_int_equal(used_idx(f), 2);
}

static void indirect_table_is_followed(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, true);
	*desc_at(f, TABLE_GPA, 0) =
		(struct desc){DATA_GPA, 16, VRING_DESC_F_NEXT, 2};
	*desc_at(f, TABLE_GPA, 2) =
		(struct desc){DATA_GPA + 0x100, 512, VRING_DESC_F_WRITE, 0};
	set_desc(f, 5, TABLE_GPA, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	offer(f, 5);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(f->chain.head, 5);
	assert_int_equal(f->chain.readable_len, 16);
	assert_int_equal(f->chain.writable_len, 512);
}

static void indirect_without_feature_is_refused(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, false);
	*desc_at(f, TABLE_GPA, 0) = (struct desc){DATA_GPA, 16, 0, 0};
	set_desc(f, 0, TABLE_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_error(f, VIRTQ_ERR_INDIRECT_NOT_NEGOTIATED);
}

static void nested_indirect_is_refused(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, true);
	*desc_at(f, TABLE_GPA, 0) =
		(struct desc){TABLE_GPA, 16, VRING_DESC_F_INDIRECT, 0};
	set_desc(f, 0, TABLE_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_error(f, VIRTQ_ERR_INDIRECT_NESTED);
}

static void indirect_length_not_multiple_of_16_is_refused(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, true);
	*desc_at(f, TABLE_GPA, 0) = (struct desc){DATA_GPA, 16, 0, 0};
	set_desc(f, 0, TABLE_GPA, 24, VRING_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_error(f, VIRTQ_ERR_INDIRECT_LENGTH);
}

static void indirect_zero_or_huge_length_is_refused(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, true);
	set_desc(f, 0, TABLE_GPA, 0, VRING_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_error(f, VIRTQ_ERR_INDIRECT_LENGTH);

	init_queue(f, false, true);
	f->avail_idx = 0;
	set_desc(f, 0, TABLE_GPA, 16 * (VIRTQ_CHAIN_MAX_SEGMENTS + 1),
		 VRING_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_error(f, VIRTQ_ERR_INDIRECT_LENGTH);
}

static void indirect_with_next_is_refused(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, true);
	*desc_at(f, TABLE_GPA, 0) = (struct desc){DATA_GPA, 16, 0, 0};
	set_desc(f, 0, TABLE_GPA, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT,
		 1);
	set_desc(f, 1, DATA_GPA, 16, 0, 0);
	offer(f, 0);
	expect_error(f, VIRTQ_ERR_INDIRECT_WITH_NEXT);
}

static void loop_inside_indirect_table_is_refused(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, true);
	*desc_at(f, TABLE_GPA, 0) =
		(struct desc){DATA_GPA, 16, VRING_DESC_F_NEXT, 1};
	*desc_at(f, TABLE_GPA, 1) =
		(struct desc){DATA_GPA, 16, VRING_DESC_F_NEXT, 0};
	set_desc(f, 0, TABLE_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_error(f, VIRTQ_ERR_CHAIN_TOO_LONG);
}

static void indirect_next_beyond_table_is_refused(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, true);
	*desc_at(f, TABLE_GPA, 0) =
		(struct desc){DATA_GPA, 16, VRING_DESC_F_NEXT, 2};
	set_desc(f, 0, TABLE_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_error(f, VIRTQ_ERR_NEXT_INDEX);
}

static void indirect_table_outside_ram_is_refused(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, true);
	set_desc(f, 0, MiB(64) - 16, 32, VRING_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_error(f, VIRTQ_ERR_BUFFER_ADDRESS);
}

static void descriptor_loop_is_refused(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, false);
	set_desc(f, 0, DATA_GPA, 4, VRING_DESC_F_NEXT, 1);
	set_desc(f, 1, DATA_GPA, 4, VRING_DESC_F_NEXT, 2);
	set_desc(f, 2, DATA_GPA, 4, VRING_DESC_F_NEXT, 0);
	offer(f, 0);
	expect_error(f, VIRTQ_ERR_CHAIN_TOO_LONG);
}

static void self_loop_of_zero_length_descriptors_is_refused(void **state)
{
	struct fixture *f = *state;

	/* Zero-length descriptors add no iovec, so only the step count can
	 * catch this loop. */
	init_queue(f, false, false);
	set_desc(f, 4, DATA_GPA, 0, VRING_DESC_F_NEXT, 4);
	offer(f, 4);
	expect_error(f, VIRTQ_ERR_CHAIN_TOO_LONG);
}

static void chain_of_exactly_queue_size_is_accepted(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, false);
	for (unsigned i = 0; i < QSIZE; i++)
		set_desc(f, i, DATA_GPA + i, 1,
			 i + 1 < QSIZE ? VRING_DESC_F_NEXT : 0, i + 1);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(f->chain.readable_count, QSIZE);
}

static void next_index_out_of_range_is_refused(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, false);
	set_desc(f, 0, DATA_GPA, 4, VRING_DESC_F_NEXT, QSIZE);
	offer(f, 0);
	expect_error(f, VIRTQ_ERR_NEXT_INDEX);
}

static void head_index_out_of_range_is_refused(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, false);
	offer(f, 0xffff);
	expect_error(f, VIRTQ_ERR_HEAD_INDEX);
}

static void buffer_outside_ram_is_refused(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, false);
	set_desc(f, 0, MiB(64) - 8, 16, 0, 0);
	offer(f, 0);
	expect_error(f, VIRTQ_ERR_BUFFER_ADDRESS);

	init_queue(f, false, false);
	f->avail_idx = 0;
	set_desc(f, 0, UINT64_MAX - 4, 16, VRING_DESC_F_WRITE, 0);
	offer(f, 0);
	expect_error(f, VIRTQ_ERR_BUFFER_ADDRESS);
}

static void buffer_crossing_into_the_mmio_hole_is_refused(void **state)
{
	struct guest_memory mem;
	struct virtq vq;
	struct virtq_chain *chain = malloc(sizeof(*chain));
	struct desc *d;
	uint16_t *avail;

	(void)state;
	assert_non_null(chain);
	/* 4 GiB of RAM: 3 below the hole, 1 above it (nothing is touched
	 * but the ring pages, so this costs no real memory). */
	assert_int_equal(guest_memory_init(&mem, GiB(4)), 0);
	assert_int_equal(virtq_init(&vq, &mem, QSIZE, DESC_GPA, AVAIL_GPA,
				    USED_GPA, false, false),
			 0);
	d = guest_memory_ptr(&mem, DESC_GPA, 16);
	*d = (struct desc){LAYOUT_MMIO_HOLE_START - 0x800, 0x1000, 0, 0};
	avail = guest_memory_ptr(&mem, AVAIL_GPA, 6);
	avail[2] = 0;
	avail[1] = 1;
	assert_int_equal(virtq_pop(&vq, chain), -VIRTQ_ERR_BUFFER_ADDRESS);

	/* Just below the hole is fine; just above it too. */
	assert_int_equal(virtq_init(&vq, &mem, QSIZE, DESC_GPA, AVAIL_GPA,
				    USED_GPA, false, false),
			 0);
	*d = (struct desc){LAYOUT_MMIO_HOLE_START - 0x1000, 0x1000, 0, 0};
	assert_int_equal(virtq_pop(&vq, chain), 1);
	guest_memory_destroy(&mem);
	free(chain);
}

static void writable_before_readable_is_refused(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, false);
	set_desc(f, 0, DATA_GPA, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(f, 1, DATA_GPA, 4, 0, 0);
	offer(f, 0);
	expect_error(f, VIRTQ_ERR_WRITABLE_BEFORE_READABLE);
}

static void total_length_overflowing_32_bits_is_refused(void **state)
{
	struct guest_memory mem;
	struct virtq vq;
	struct virtq_chain *chain = malloc(sizeof(*chain));
	struct desc *d;
	uint16_t *avail;

	(void)state;
	assert_non_null(chain);
	/* Two 3 GiB-ish writable buffers: each valid, the sum is not. */
	assert_int_equal(guest_memory_init(&mem, GiB(5)), 0);
	assert_int_equal(virtq_init(&vq, &mem, QSIZE, DESC_GPA, AVAIL_GPA,
				    USED_GPA, false, false),
			 0);
	d = guest_memory_ptr(&mem, DESC_GPA, 32);
	d[0] = (struct desc){MiB(1), 0xbff00000u,
			     VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1};
	d[1] = (struct desc){LAYOUT_MMIO_HOLE_END, 0x80000000u,
			     VRING_DESC_F_WRITE, 0};
	avail = guest_memory_ptr(&mem, AVAIL_GPA, 6);
	avail[2] = 0;
	avail[1] = 1;
	assert_int_equal(virtq_pop(&vq, chain), -VIRTQ_ERR_LENGTH_OVERFLOW);
	guest_memory_destroy(&mem);
	free(chain);
}

static void avail_idx_jumping_ahead_is_refused(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, false);
	*avail_field(f, 1) = QSIZE + 1;
	expect_error(f, VIRTQ_ERR_AVAIL_IDX);

	/* Exactly size ahead is a full ring, which is fine. */
	init_queue(f, false, false);
	set_desc(f, 0, DATA_GPA, 4, 0, 0);
	*avail_field(f, 1) = QSIZE;
	assert_int_equal(virtq_pending(&f->vq), QSIZE);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
}

/* The avail idx laid over the used ring's flags (the guest places its
 * rings): enable_notify's write of flags 0 shows a "new" idx, the next
 * disable_notify's write of NO_NOTIFY takes it back, and a device's
 * pop / enable_notify loop turned for ever (fuzz: virtio_mmio, balloon).
 * A pop that finds nothing after enable_notify promised a chain is a
 * broken ring. */
static void
avail_idx_that_goes_back_after_enable_notify_is_refused(void **state)
{
	struct fixture *f = *state;
	uint16_t *avail_idx;

	assert_int_equal(virtq_init(&f->vq, &f->mem, QSIZE, DESC_GPA,
				    USED_GPA - 2, USED_GPA, false, false),
			 0);
	avail_idx = guest_memory_ptr(&f->mem, USED_GPA, 2); /* = used flags */
	set_desc(f, 0, DATA_GPA, 4, 0, 0);
	*avail_idx = 1; /* ring[0], over used idx, is 0: head 0 */
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_push(&f->vq, f->chain.head, 0), 0);

	virtq_disable_notify(&f->vq); /* flags = 1: idx 1, nothing new */
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 0);
	assert_true(virtq_enable_notify(&f->vq)); /* flags = 0: idx 0 */
	virtq_disable_notify(&f->vq);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), -VIRTQ_ERR_AVAIL_IDX);
	assert_false(virtq_enable_notify(&f->vq));
}

static void bad_queue_configuration_is_refused(void **state)
{
	struct fixture *f = *state;
	struct virtq *vq = &f->vq;

	assert_int_equal(virtq_init(vq, &f->mem, 0, DESC_GPA, AVAIL_GPA,
				    USED_GPA, false, false),
			 -VIRTQ_ERR_SIZE);
	assert_int_equal(virtq_pop(vq, &f->chain), -VIRTQ_ERR_SIZE);
	assert_int_equal(virtq_init(vq, &f->mem, 24, DESC_GPA, AVAIL_GPA,
				    USED_GPA, false, false),
			 -VIRTQ_ERR_SIZE);
	assert_int_equal(virtq_init(vq, &f->mem, VIRTQ_MAX_SIZE * 2, DESC_GPA,
				    AVAIL_GPA, USED_GPA, false, false),
			 -VIRTQ_ERR_SIZE);
	assert_int_equal(virtq_init(vq, &f->mem, QSIZE, DESC_GPA + 8, AVAIL_GPA,
				    USED_GPA, false, false),
			 -VIRTQ_ERR_RING_ADDRESS);
	assert_int_equal(virtq_init(vq, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA,
				    USED_GPA + 2, false, false),
			 -VIRTQ_ERR_RING_ADDRESS);
	assert_int_equal(virtq_init(vq, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA,
				    MiB(64) - 16, false, false),
			 -VIRTQ_ERR_RING_ADDRESS);
	assert_int_equal(virtq_push(vq, 0, 0), -VIRTQ_ERR_RING_ADDRESS);
	assert_false(virtq_needs_interrupt(vq));
	assert_string_equal(virtq_error_text(-VIRTQ_ERR_SIZE),
			    "queue size is 0, too large or not a power of two");
}

static void no_interrupt_flag_suppresses_without_event_idx(void **state)
{
	struct fixture *f = *state;

	init_queue(f, false, false);
	set_desc(f, 0, DATA_GPA, 4, 0, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_push(&f->vq, 0, 0), 0);
	assert_true(virtq_needs_interrupt(&f->vq));
	*avail_field(f, 0) = VRING_AVAIL_F_NO_INTERRUPT;
	assert_false(virtq_needs_interrupt(&f->vq));

	/* Device side: NO_NOTIFY in used flags. */
	virtq_disable_notify(&f->vq);
	assert_int_equal(*(uint16_t *)guest_memory_ptr(&f->mem, USED_GPA, 2),
			 VRING_USED_F_NO_NOTIFY);
	assert_false(virtq_enable_notify(&f->vq));
	assert_int_equal(*(uint16_t *)guest_memory_ptr(&f->mem, USED_GPA, 2),
			 0);
	offer(f, 0);
	virtq_disable_notify(&f->vq);
	assert_true(virtq_enable_notify(&f->vq)); /* arrived meanwhile */
}

static void used_event_suppresses_interrupts(void **state)
{
	struct fixture *f = *state;
	uint16_t *used_event = avail_field(f, 2 + QSIZE);

	init_queue(f, true, false);
	set_desc(f, 0, DATA_GPA, 4, 0, 0);
	/* The driver wants an interrupt only once used idx passes 2. */
	*used_event = 2;
	for (int i = 0; i < 4; i++)
		offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_push(&f->vq, 0, 0), 0);
	/* The first interrupt is never suppressed: nothing signalled yet. */
	assert_true(virtq_needs_interrupt(&f->vq)); /* used 1 */
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_push(&f->vq, 0, 0), 0);
	assert_false(virtq_needs_interrupt(&f->vq)); /* used 2: 2 not passed */
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_push(&f->vq, 0, 0), 0);
	assert_true(virtq_needs_interrupt(&f->vq)); /* used 3 passed 2 */
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_push(&f->vq, 0, 0), 0);
	assert_false(virtq_needs_interrupt(&f->vq)); /* used 4, event 2 */
	/* flags are ignored with EVENT_IDX (spec 2.7.10). */
	*avail_field(f, 0) = VRING_AVAIL_F_NO_INTERRUPT;
	*used_event = 4;
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_push(&f->vq, 0, 0), 0);
	assert_true(virtq_needs_interrupt(&f->vq));
}

static void avail_event_tells_driver_where_to_notify(void **state)
{
	struct fixture *f = *state;
	uint16_t *avail_event =
		guest_memory_ptr(&f->mem, USED_GPA + 4 + 8 * QSIZE, 2);

	init_queue(f, true, false);
	set_desc(f, 0, DATA_GPA, 4, 0, 0);
	offer(f, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	virtq_disable_notify(&f->vq); /* flags untouched with EVENT_IDX */
	assert_int_equal(*(uint16_t *)guest_memory_ptr(&f->mem, USED_GPA, 2),
			 0);
	assert_true(virtq_enable_notify(&f->vq)); /* one still pending */
	assert_int_equal(*avail_event, 1);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_false(virtq_enable_notify(&f->vq));
	assert_int_equal(*avail_event, 2);
}

static void empty_pop_publishes_avail_event(void **state)
{
	struct fixture *f = *state;
	uint16_t *avail_event =
		guest_memory_ptr(&f->mem, USED_GPA + 4 + 8 * QSIZE, 2);

	/* A device that only pops until the ring is empty, never calling
	 * virtq_enable_notify(), still tells the driver where to notify. */
	init_queue(f, true, false);
	set_desc(f, 0, DATA_GPA, 4, 0, 0);
	offer(f, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(*avail_event, 2);
	/* While disabled, an empty pop leaves it alone. */
	virtq_disable_notify(&f->vq);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(*avail_event, 2);
	assert_false(virtq_enable_notify(&f->vq));
	assert_int_equal(*avail_event, 3);
}

static void guest_rewriting_ring_cannot_hang_pop(void **state)
{
	struct fixture *f = *state;

	/* Fill every descriptor with garbage: whatever it is, pop ends with
	 * a chain or an error, in bounded time. */
	init_queue(f, false, true);
	for (unsigned seed = 1; seed < 200; seed++) {
		uint32_t x = seed * 2654435761u;

		init_queue(f, false, true);
		f->avail_idx = 0;
		for (unsigned i = 0; i < QSIZE; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			set_desc(f, i, DATA_GPA + (x & 0xfff0), x & 0x3f,
				 (uint16_t)(x >> 8) & 7,
				 (x >> 16) % (QSIZE + 2));
			*desc_at(f, TABLE_GPA, i) = (struct desc){
				DATA_GPA, x & 0xff, (uint16_t)(x >> 4) & 7,
				(x >> 20) % 20};
			if ((x >> 24) % 3 == 0)
				set_desc(f, i, TABLE_GPA, (x >> 8) & 0x1ff,
					 VRING_DESC_F_INDIRECT, 0);
		}
		offer(f, (uint16_t)(x % QSIZE));
		assert_true(virtq_pop(&f->vq, &f->chain) != 0);
	}
}

/* A device that popped ahead gives back what it did not use: the same
 * chains come out again, in order, also across the 16-bit wrap; it cannot
 * give back more than it holds. */
static void unpop_gives_chains_back_in_order(void **state)
{
	struct fixture *f = *state;

	init_queue(f, true, false);
	f->vq.last_avail_idx = f->vq.used_idx = 0xfffe;
	f->avail_idx = 0xfffe;
	for (uint16_t i = 0; i < 4; i++) {
		set_desc(f, i, DATA_GPA + 0x100ULL * i, 64, VRING_DESC_F_WRITE,
			 0);
		offer(f, i);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_pending(&f->vq), 1);
	assert_int_equal(virtq_unpop(&f->vq, 4), -EINVAL);
	assert_int_equal(virtq_unpop(&f->vq, 2), 0);
	assert_int_equal(f->vq.last_avail_idx, 0xffff);
	assert_int_equal(virtq_pending(&f->vq), 3);
	for (uint16_t i = 1; i < 4; i++) {
		assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
		assert_int_equal(f->chain.head, i);
		assert_int_equal(f->chain.writable_len, 64);
	}
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 0);

	/* Pushed chains are the driver's again: not given back. */
	assert_int_equal(virtq_push(&f->vq, 0, 64), 0);
	assert_int_equal(virtq_push(&f->vq, 1, 64), 0);
	assert_int_equal(virtq_unpop(&f->vq, 3), -EINVAL);
	assert_int_equal(virtq_unpop(&f->vq, 2), 0);
	assert_int_equal(virtq_unpop(&f->vq, 1), -EINVAL);
	assert_int_equal(virtq_unpop(&f->vq, 0), 0);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(f->chain.head, 2);

	/* A broken queue stays broken. */
	offer(f, QSIZE);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), -VIRTQ_ERR_HEAD_INDEX);
	assert_int_equal(virtq_unpop(&f->vq, 1), -VIRTQ_ERR_HEAD_INDEX);
}

/* struct virtq's error only ever holds 0 or a code virtq stored, but a
 * restore once copied it from a state file: whatever it holds, a call on
 * the queue fails with a negative code. A negative error made virtq_pop()
 * return 1, "a chain was filled", with the chain never written (virtio-rng
 * then wrote random bytes through stack garbage, virtio-blk and the
 * balloon looped for ever); a positive one not from enum virtq_error is
 * no code a caller can report. */
static void stored_error_outside_the_codes_never_reads_as_a_chain(void **state)
{
	struct fixture *f = *state;
	const int corrupt[] = {-1, -VIRTQ_ERR_HEAD_INDEX, 5,
			       VIRTQ_ERR_NOT_READY, INT_MIN};

	for (unsigned i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		init_queue(f, false, false);
		set_desc(f, 0, DATA_GPA, 4, VRING_DESC_F_WRITE, 0);
		offer(f, 0);
		f->vq.error = corrupt[i];
		assert_int_equal(virtq_pop(&f->vq, &f->chain),
				 -VIRTQ_ERR_NOT_READY);
		assert_int_equal(virtq_push(&f->vq, 0, 0),
				 -VIRTQ_ERR_NOT_READY);
		assert_int_equal(virtq_unpop(&f->vq, 0), -VIRTQ_ERR_NOT_READY);
		assert_int_equal(virtq_pending(&f->vq), 0);
	}
	/* A code virtq stores comes back as it is. */
	init_queue(f, false, false);
	f->vq.error = VIRTQ_ERR_HEAD_INDEX;
	assert_int_equal(virtq_pop(&f->vq, &f->chain), -VIRTQ_ERR_HEAD_INDEX);
}

/* Pops and pushes as a device does until virtq_pop() stops saying 1,
 * failing the test after `limit` chains; returns the chains served, *last
 * is pop's last result. held: chains popped first and never pushed (a
 * held receive buffer, a request at the backend); batch: chains popped
 * before pushing them. */
static unsigned serve(struct fixture *f, unsigned held, unsigned batch,
		      unsigned limit, int *last)
{
	uint16_t heads[QSIZE];
	unsigned served = 0;

	for (unsigned i = 0; i < held; i++)
		assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	for (;;) {
		unsigned n = 0;

		while (n < batch && (*last = virtq_pop(&f->vq, &f->chain)) == 1)
			heads[n++] = f->chain.head;
		for (unsigned i = 0; i < n; i++)
			virtq_push(&f->vq, heads[i], 0);
		served += n;
		assert_true(served <= limit);
		if (n < batch)
			return served;
	}
}

/* The driver may place its avail ring over its used ring (one address for
 * both): then every push also moves avail idx. A live device cannot be
 * made to serve chains for ever by it: the device holds at most the queue
 * size in flight, so after a push avail idx lies at or behind
 * last_avail_idx, which pop takes as empty or refuses as running more than
 * the size ahead. (A restored in-flight window wider than the size is what
 * could spin; virtio_device_restore_state() refuses it.) */
static void avail_ring_over_used_ring_cannot_spin(void **state)
{
	struct fixture *f = *state;
	uint16_t *idx = guest_memory_ptr(&f->mem, USED_GPA + 2, 2);
	uint16_t *ring = guest_memory_ptr(&f->mem, USED_GPA + 4, 2 * QSIZE);
	int last;

	for (uint16_t i = 0; i < QSIZE; i++)
		set_desc(f, i, DATA_GPA + 64ULL * i, 64, VRING_DESC_F_WRITE, 0);
	for (unsigned held = 0; held <= QSIZE / 2; held += QSIZE / 4)
		for (unsigned batch = 1; batch <= QSIZE; batch *= 2) {
			assert_int_equal(virtq_init(&f->vq, &f->mem, QSIZE,
						    DESC_GPA, USED_GPA,
						    USED_GPA, false, false),
					 0);
			for (uint16_t i = 0; i < QSIZE; i++)
				ring[i] = i;
			*idx = QSIZE; /* a full ring offered */
			assert_true(serve(f, held, batch, 2 * QSIZE, &last) <=
				    QSIZE);
			assert_true(last <= 0);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(pops_readable_then_writable_and_pushes_used),
		T(avail_idx_that_goes_back_after_enable_notify_is_refused),
		T(indices_wrap_around_16_bits),
		T(indirect_table_is_followed),
		T(indirect_without_feature_is_refused),
		T(nested_indirect_is_refused),
		T(indirect_length_not_multiple_of_16_is_refused),
		T(indirect_zero_or_huge_length_is_refused),
		T(indirect_with_next_is_refused),
		T(loop_inside_indirect_table_is_refused),
		T(indirect_next_beyond_table_is_refused),
		T(indirect_table_outside_ram_is_refused),
		T(descriptor_loop_is_refused),
		T(self_loop_of_zero_length_descriptors_is_refused),
		T(chain_of_exactly_queue_size_is_accepted),
		T(next_index_out_of_range_is_refused),
		T(head_index_out_of_range_is_refused),
		T(buffer_outside_ram_is_refused),
		cmocka_unit_test(buffer_crossing_into_the_mmio_hole_is_refused),
		T(writable_before_readable_is_refused),
		cmocka_unit_test(total_length_overflowing_32_bits_is_refused),
		T(avail_idx_jumping_ahead_is_refused),
		T(bad_queue_configuration_is_refused),
		T(no_interrupt_flag_suppresses_without_event_idx),
		T(used_event_suppresses_interrupts),
		T(avail_event_tells_driver_where_to_notify),
		T(empty_pop_publishes_avail_event),
		T(guest_rewriting_ring_cannot_hang_pop),
		T(unpop_gives_chains_back_in_order),
		T(stored_error_outside_the_codes_never_reads_as_a_chain),
		T(avail_ring_over_used_ring_cannot_spin),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
