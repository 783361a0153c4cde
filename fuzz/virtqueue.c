/* Fuzz target: the split virtqueue (src/virtio/virtqueue.c) on its own,
 * as a device would drive it, over rings and chains the input builds and
 * rewrites between calls. Checks the contract besides memory safety:
 * virtq_pop returns only 1, 0 or a VIRTQ_ERR_*, a popped chain's iovecs
 * lie inside guest memory and add up to its lengths. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_virtio.h"

static struct virtq_chain chains[4];
/* Which chains a successful pop filled: only those may be read. */
static bool filled[4];

static bool inside_guest(const struct guest_memory *mem,
			 const struct iovec *iov)
{
	for (int i = 0; i < mem->region_count; i++) {
		const uint8_t *base = mem->regions[i].hva;

		if ((const uint8_t *)iov->iov_base >= base &&
		    iov->iov_len <= mem->regions[i].size &&
		    (const uint8_t *)iov->iov_base - base <=
			    (ptrdiff_t)(mem->regions[i].size - iov->iov_len))
			return true;
	}
	return false;
}

static void check_chain(const struct guest_memory *mem,
			const struct virtq_chain *chain)
{
	uint64_t readable = 0, writable = 0;
	unsigned count = chain->readable_count + chain->writable_count;

	if (count > VIRTQ_CHAIN_MAX_SEGMENTS || chain->head >= FUZZ_QSIZE)
		abort();
	for (unsigned i = 0; i < count; i++) {
		if (!inside_guest(mem, &chain->iov[i]))
			abort();
		if (i < chain->readable_count)
			readable += chain->iov[i].iov_len;
		else
			writable += chain->iov[i].iov_len;
	}
	if (readable != chain->readable_len || writable != chain->writable_len)
		abort();
}

static void pop(struct fuzz_driver *d, struct virtq *vq, unsigned slot,
		uint16_t *outstanding)
{
	int ret = virtq_pop(vq, &chains[slot]);

	filled[slot] = ret == 1;
	if (ret == 1) {
		check_chain(d->mem, &chains[slot]);
		(*outstanding)++;
	} else if (ret != 0 &&
		   (ret > -VIRTQ_ERR_SIZE || ret < -VIRTQ_ERR_USED_HEAD)) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_of(data, size);
	struct fuzz_driver d;
	struct virtq vq;
	uint16_t outstanding = 0;
	uint8_t setup = fuzz_u8(&in);
	uint8_t scratch[512];

	fuzz_driver_init(&d, 1);
	memset(filled, 0, sizeof(filled));
	/* Mostly the usual queue; sometimes a size or ring address of the
	 * input's choosing. */
	if (setup & 0x80) {
		if (virtq_init(&vq, d.mem, fuzz_u16(&in), fuzz_u64(&in),
			       fuzz_u64(&in), fuzz_u64(&in), setup & 1,
			       setup & 2) < 0)
			return 0;
	} else if (virtq_init(&vq, d.mem, FUZZ_QSIZE, FUZZ_DESC_GPA(0),
			      FUZZ_AVAIL_GPA(0), FUZZ_USED_GPA(0), setup & 1,
			      setup & 2) < 0) {
		abort();
	}

	while (!fuzz_done(&in)) {
		uint8_t op = fuzz_u8(&in);
		unsigned slot = (op >> 4) & 3;

		switch (op & 15) {
		case 0:
		case 1:
		case 2:
			fuzz_driver_add_chain(&d, 0, &in);
			break;
		case 3:
			fuzz_driver_poke(&d, &in);
			break;
		case 4:
		case 5:
			pop(&d, &vq, slot, &outstanding);
			break;
		case 6:
			virtq_push(&vq, chains[slot].head, fuzz_u32(&in));
			if (outstanding)
				outstanding--;
			break;
		case 7: {
			uint16_t heads[4];
			uint32_t written[4];
			uint16_t count = fuzz_u8(&in) % 5;

			for (unsigned i = 0; i < count; i++) {
				heads[i] = chains[i].head;
				written[i] = fuzz_u32(&in);
			}
			virtq_push_batch(&vq, heads, written, count);
			outstanding =
				outstanding > count ? outstanding - count : 0;
			break;
		}
		case 8:
			if (virtq_unpop(&vq, fuzz_u8(&in) % 4) == 0 &&
			    outstanding)
				outstanding = 0;
			break;
		case 9:
			virtq_needs_interrupt(&vq);
			break;
		case 10:
			virtq_disable_notify(&vq);
			break;
		case 11:
			virtq_enable_notify(&vq);
			break;
		case 12:
			/* A raw avail idx the guest wrote: any value. */
			virtq_pending(&vq);
			break;
		case 13:
			if (!filled[slot])
				break;
			virtq_chain_read(&chains[slot], fuzz_u16(&in), scratch,
					 fuzz_u16(&in) % sizeof(scratch));
			break;
		case 14:
			if (!filled[slot])
				break;
			virtq_chain_write(&chains[slot], fuzz_u16(&in), scratch,
					  fuzz_u16(&in) % sizeof(scratch));
			break;
		default:
			fuzz_driver_add_chain(&d, 0, &in);
			pop(&d, &vq, slot, &outstanding);
			break;
		}
	}
	return 0;
}
