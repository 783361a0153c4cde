/* Tracking of tern's own writes to guest RAM: guest_memory's bitmap, and
 * the virtqueue marking what a pushed chain's device-writable buffers and
 * the used ring cover. The KVM side is in tests/kvm/test_snapshot.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include "memory/guest_memory.h"
#include "virtio/virtqueue.h"

#define PAGE GUEST_MEMORY_PAGE_SIZE
#define RAM (4u << 20)

static int page_set(const uint64_t *bitmap, size_t page)
{
	return (int)((bitmap[page / 64] >> (page % 64)) & 1);
}

static size_t pages_set(const uint64_t *bitmap, size_t words)
{
	size_t n = 0;

	for (size_t w = 0; w < words; w++)
		n += (size_t)__builtin_popcountll(bitmap[w]);
	return n;
}

static void bitmap_marks_and_clears(void **state)
{
	struct guest_memory mem;
	uint64_t bitmap[RAM / PAGE / 64];
	size_t words = sizeof(bitmap) / sizeof(bitmap[0]);

	assert_int_equal(guest_memory_init(&mem, RAM), 0);
	/* Off: nothing recorded, no bitmap needed. */
	guest_memory_mark_dirty(&mem, mem.mapping, PAGE);
	memset(bitmap, 0, sizeof(bitmap));
	guest_memory_dirty_take(&mem, bitmap, words);
	assert_int_equal(pages_set(bitmap, words), 0);

	assert_int_equal(guest_memory_dirty_start(&mem), 0);
	guest_memory_mark_dirty(&mem, mem.mapping + 5 * PAGE + 100, 1);
	/* Across a word boundary: pages 62..66. */
	guest_memory_mark_dirty(&mem, mem.mapping + 62 * PAGE + 1, 4 * PAGE);
	/* Outside RAM and past its end: ignored or clipped. */
	guest_memory_mark_dirty(&mem, mem.mapping - PAGE, PAGE);
	guest_memory_mark_dirty(&mem, mem.mapping + RAM - 1, 3 * PAGE);
	memset(bitmap, 0, sizeof(bitmap));
	guest_memory_dirty_take(&mem, bitmap, words);
	assert_true(page_set(bitmap, 5));
	for (size_t p = 62; p <= 66; p++)
		assert_true(page_set(bitmap, p));
	assert_true(page_set(bitmap, RAM / PAGE - 1));
	assert_int_equal(pages_set(bitmap, words), 7);
	/* Taking clears. */
	memset(bitmap, 0, sizeof(bitmap));
	guest_memory_dirty_take(&mem, bitmap, words);
	assert_int_equal(pages_set(bitmap, words), 0);
	guest_memory_destroy(&mem);
}

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

/* One chain: a readable header page, then two writable buffers (one
 * spanning two pages, one in an indirect table), pushed back: the writable
 * pages and the used ring's page are marked, the readable ones not. */
static void push_marks_writable_buffers_and_used_ring(void **state)
{
	struct guest_memory mem;
	struct virtq vq;
	struct virtq_chain *chain = calloc(1, sizeof(*chain));
	uint64_t bitmap[RAM / PAGE / 64];
	size_t words = sizeof(bitmap) / sizeof(bitmap[0]);
	struct desc *d, *table;
	uint16_t *avail;

	assert_int_equal(guest_memory_init(&mem, RAM), 0);
	d = guest_memory_ptr(&mem, 0x10000, 16 * 8);
	table = guest_memory_ptr(&mem, 0x18000, 16);
	avail = guest_memory_ptr(&mem, 0x11000, 6 + 2 * 8);
	d[0] = (struct desc){0x30000, 64, VRING_DESC_F_NEXT, 1};
	d[1] = (struct desc){0x20800, PAGE,
			     VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2};
	d[2] = (struct desc){0x18000, 16, VRING_DESC_F_INDIRECT, 0};
	table[0] = (struct desc){0x40000, 100, VRING_DESC_F_WRITE, 0};
	avail[2] = 0; /* ring[0]: head 0 */
	avail[1] = 1; /* idx */
	assert_int_equal(virtq_init(&vq, &mem, 8, 0x10000, 0x11000, 0x12000,
				    false, true),
			 0);
	assert_int_equal(guest_memory_dirty_start(&mem), 0);
	assert_int_equal(virtq_pop(&vq, chain), 1);
	assert_int_equal(chain->writable_count, 2);
	memset(bitmap, 0, sizeof(bitmap));
	guest_memory_dirty_take(&mem, bitmap, words);
	assert_int_equal(pages_set(bitmap, words), 0); /* nothing written */

	assert_int_equal(virtq_push(&vq, chain->head, 10), 0);
	guest_memory_dirty_take(&mem, bitmap, words);
	assert_true(page_set(bitmap, 0x20));
	assert_true(page_set(bitmap, 0x21));
	assert_true(page_set(bitmap, 0x40));
	assert_true(page_set(bitmap, 0x12)); /* used ring */
	assert_false(page_set(bitmap, 0x30)); /* readable */
	assert_false(page_set(bitmap, 0x10));
	assert_false(page_set(bitmap, 0x11));
	assert_int_equal(pages_set(bitmap, words), 4);
	free(chain);
	guest_memory_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bitmap_marks_and_clears),
		cmocka_unit_test(push_marks_writable_buffers_and_used_ring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
