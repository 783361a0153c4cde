/* virtq_push_batch(): a group of used chains published with one used->idx
 * store, as virtio-net's mergeable receive buffers need. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <linux/virtio_ring.h>

#include "arch/x86/layout.h"
#include "memory/guest_memory.h"
#include "virtio/virtqueue.h"

#define QSIZE 8
#define DESC_GPA 0x10000ULL
#define AVAIL_GPA 0x11000ULL
#define USED_GPA 0x12000ULL

static uint16_t *avail(struct guest_memory *mem, unsigned word)
{
	return guest_memory_ptr(mem, AVAIL_GPA + 2ULL * word, 2);
}

static uint32_t *used_word(struct guest_memory *mem, unsigned word)
{
	return guest_memory_ptr(mem, USED_GPA + 4ULL * word, 4);
}

static uint16_t used_idx(struct guest_memory *mem)
{
	return *(uint16_t *)guest_memory_ptr(mem, USED_GPA + 2, 2);
}

static void group_is_published_at_once_and_wraps(void **state)
{
	struct guest_memory mem;
	struct virtq vq;
	struct virtq_chain *chain = test_malloc(sizeof(*chain));
	uint16_t heads[QSIZE];
	uint32_t lens[QSIZE];

	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	assert_int_equal(virtq_init(&vq, &mem, QSIZE, DESC_GPA, AVAIL_GPA,
				    USED_GPA, false, false),
			 0);
	/* Eight one-descriptor writable chains, made available twice over
	 * so the used ring wraps. */
	for (unsigned d = 0; d < QSIZE; d++) {
		uint64_t *desc =
			guest_memory_ptr(&mem, DESC_GPA + 16ULL * d, 16);

		desc[0] = 0x20000 + 0x1000ULL * d;
		desc[1] = 0x1000 | ((uint64_t)VRING_DESC_F_WRITE << 32);
	}
	for (unsigned round = 0; round < 2; round++) {
		uint16_t base = (uint16_t)(round * 5);

		for (unsigned i = 0; i < 5; i++) {
			*avail(&mem, 2 + (base + i) % QSIZE) =
				(uint16_t)((base + i) % QSIZE);
			*avail(&mem, 1) = (uint16_t)(base + i + 1);
			assert_int_equal(virtq_pop(&vq, chain), 1);
			heads[i] = chain->head;
			lens[i] = 100 + i;
		}
		assert_int_equal(used_idx(&mem), base);
		assert_int_equal(virtq_push_batch(&vq, heads, lens, 5), 0);
		assert_int_equal(used_idx(&mem), base + 5);
		for (unsigned i = 0; i < 5; i++) {
			unsigned slot = (base + i) % QSIZE;

			assert_int_equal(*used_word(&mem, 1 + 2 * slot),
					 heads[i]);
			assert_int_equal(*used_word(&mem, 2 + 2 * slot),
					 100 + i);
		}
	}

	/* A bad head anywhere in the group publishes nothing and breaks the
	 * queue, as virtq_push() does. */
	heads[0] = 1;
	heads[1] = QSIZE;
	assert_int_equal(virtq_push_batch(&vq, heads, lens, 2),
			 -VIRTQ_ERR_USED_HEAD);
	assert_int_equal(used_idx(&mem), 10);
	assert_int_equal(virtq_push(&vq, 1, 0), -VIRTQ_ERR_USED_HEAD);
	test_free(chain);
	guest_memory_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(group_is_published_at_once_and_wraps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
