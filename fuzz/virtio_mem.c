/* Fuzz target: virtio-mem's requests (PLUG, UNPLUG, UNPLUG_ALL, STATE)
 * from a hostile driver, with the host changing requested_size and saving,
 * checking and restoring the device's state in between. The hotpluggable
 * region is 256 MiB at 4 GiB (two slots of 128 MiB, blocks of 2 MiB) in a
 * guest memory of its own; the rings live in the harness's fake memory.
 * Slots are recorded by a stand-in that aborts on a change to a state the
 * slot is in already, and "releasing" memory checks the range lies inside
 * the region on block boundaries. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_virtio.h"
#include "virtio/virtio_mem.h"

#define HP_GPA (4ULL << 30)
#define HP_SIZE (256ULL << 20)
#define BLOCK (2ULL << 20)
#define SLOT (128ULL << 20)

static struct guest_memory hotplug;
static bool slot_present[2];

static int set_slot(void *opaque, uint32_t slot, bool present)
{
	(void)opaque;
	if (slot >= 2 || slot_present[slot] == present)
		abort();
	slot_present[slot] = present;
	return 0;
}

static int release(void *opaque, void *hva, uint64_t len)
{
	uint8_t *p = hva;

	(void)opaque;
	if (p < hotplug.hotplug_hva ||
	    (uint64_t)(p - hotplug.hotplug_hva) % BLOCK || !len ||
	    len % BLOCK || len > HP_SIZE - (uint64_t)(p - hotplug.hotplug_hva))
		abort();
	return 0;
}

static void host_op(struct fuzz_driver *d, struct fuzz_input *in)
{
	static uint8_t state[4096];
	uint8_t op = fuzz_u8(in);
	size_t len = sizeof(state);

	switch (op % 3) {
	case 0:
		virtio_mem_set_requested(d->vdev,
					 (uint64_t)fuzz_u8(in) * BLOCK);
		break;
	case 1:
		/* What a snapshot and a load of it do. */
		pthread_mutex_lock(&d->vdev->lock);
		if (d->vdev->ops->save(d->vdev, state, &len) ||
		    d->vdev->ops->check(d->vdev, state, len) ||
		    d->vdev->ops->restore(d->vdev, state, len))
			abort();
		pthread_mutex_unlock(&d->vdev->lock);
		break;
	default:
		/* A hostile state: one byte changed. */
		pthread_mutex_lock(&d->vdev->lock);
		if (!d->vdev->ops->save(d->vdev, state, &len)) {
			state[fuzz_u8(in) % len] ^= fuzz_u8(in);
			if (!d->vdev->ops->check(d->vdev, state, len))
				d->vdev->ops->restore(d->vdev, state, len);
		}
		pthread_mutex_unlock(&d->vdev->lock);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_of(data, size);
	struct virtio_mem_options options = {
		.block_size = BLOCK,
		.slot_size = SLOT,
		.set_slot = set_slot,
	};
	struct virtio_device *vdev;
	struct fuzz_driver d;

	memset(slot_present, 0, sizeof(slot_present));
	if (guest_memory_init_hotplug(&hotplug, 2ULL << 20,
				      GUEST_MEMORY_ANONYMOUS, HP_SIZE) ||
	    guest_memory_hotplug_attach(&hotplug, HP_GPA, BLOCK))
		abort();
	vdev = virtio_mem_create(&hotplug, &options);
	if (!vdev)
		abort();
	fuzz_driver_init(&d, vdev->queue_count);
	virtio_mem_set_release(vdev, release, NULL);
	d.device_op = host_op;
	fuzz_device_attach(&d, vdev, &in);
	fuzz_device_run(&d, &in);
	guest_memory_destroy(&hotplug);
	return 0;
}
