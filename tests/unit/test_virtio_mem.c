/* virtio-mem against rings built by hand in guest memory, playing the
 * driver: config space, FEATURES_OK only with UNPLUGGED_INACCESSIBLE, PLUG
 * within requested_size (NACK beyond it), UNPLUG and UNPLUG_ALL giving
 * memory back and removing emptied slots, STATE, every malformed or
 * out-of-range request answered with ERROR and never a crash, the plugged
 * bitmap's arithmetic, guest_memory_ptr() reaching plugged blocks only,
 * and the state saved, checked and restored. Also the configuration's
 * size rules (--memory-hotplug, the JSON section). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mem.h>
#include <linux/virtio_ring.h>

#include "arch/x86/layout.h"
#include "config/memory_hotplug_json.h"
#include "memory/guest_memory.h"
#include "virtio/virtio_mem.h"
#include "unit/virtio_test_driver.h"

#define QSIZE 16
#define RING_GPA 0x100000ULL
#define DATA_GPA 0x400000ULL
#define HP_GPA (4ULL << 30)
#define HP_SIZE MiB(256)
#define BLOCK MiB(2)
#define SLOT MiB(128)

struct fixture {
	struct guest_memory mem;
	struct virtio_device *vdev;
	struct test_driver driver;
	int slot_calls;
	bool slot_present[2];
	int release_calls;
	uint64_t released;
	uint8_t *last_release;
	bool fail_slots;
};

static int record_slot(void *opaque, uint32_t slot, bool present)
{
	struct fixture *f = opaque;

	assert_true(slot < 2);
	if (f->fail_slots)
		return -ENOSPC;
	f->slot_calls++;
	/* Only changes are asked for. */
	assert_int_not_equal(f->slot_present[slot], present);
	f->slot_present[slot] = present;
	return 0;
}

static int record_release(void *opaque, void *hva, uint64_t len)
{
	struct fixture *f = opaque;

	f->release_calls++;
	f->released += len;
	f->last_release = hva;
	return 0;
}

static struct fixture *create(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct virtio_mem_options options = {
		.block_size = BLOCK,
		.slot_size = SLOT,
		.set_slot = record_slot,
	};

	assert_non_null(f);
	options.slot_opaque = f;
	assert_int_equal(guest_memory_init_hotplug(&f->mem, MiB(64),
						   GUEST_MEMORY_ANONYMOUS,
						   HP_SIZE),
			 0);
	assert_int_equal(guest_memory_hotplug_attach(&f->mem, HP_GPA, BLOCK),
			 0);
	f->vdev = virtio_mem_create(&f->mem, &options);
	assert_non_null(f->vdev);
	virtio_mem_set_release(f->vdev, record_release, f);
	assert_int_equal(virtio_device_start(f->vdev, &f->mem), 0);
	driver_init(&f->driver, &f->mem, f->vdev);
	driver_lay_out_queue(&f->driver, 0, RING_GPA, QSIZE);
	return f;
}

static void destroy(struct fixture *f)
{
	virtio_device_destroy(f->vdev);
	guest_memory_destroy(&f->mem);
	free(f);
}

static int setup(void **state)
{
	*state = create();
	return 0;
}

static int teardown(void **state)
{
	destroy(*state);
	return 0;
}

#define FEATURES                                                               \
	((1ULL << VIRTIO_F_VERSION_1) |                                        \
	 (1ULL << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE))

/* Negotiation from a reset device; returns the status it shows then. */
static uint8_t negotiate(struct fixture *f, uint64_t features)
{
	pthread_mutex_lock(&f->vdev->lock);
	virtio_device_write_status(f->vdev, 0);
	pthread_mutex_unlock(&f->vdev->lock);
	return driver_negotiate(&f->driver, features);
}

static void bring_up(struct fixture *f)
{
	driver_bring_up_queues_last(&f->driver, FEATURES);
}

static struct virtio_mem_resp *response(struct fixture *f)
{
	return guest_memory_ptr(&f->mem, DATA_GPA + 0x100,
				sizeof(struct virtio_mem_resp));
}

/* One request; returns the response's type (state in *state). */
static uint16_t request(struct fixture *f, uint16_t type, uint64_t addr,
			uint16_t nb, uint16_t *state)
{
	struct virtio_mem_req *req =
		guest_memory_ptr(&f->mem, DATA_GPA, sizeof(*req));
	uint16_t before = driver_used_idx(&f->driver, 0);

	memset(req, 0, sizeof(*req));
	req->type = type;
	req->u.plug.addr = addr;
	req->u.plug.nb_blocks = nb;
	memset(response(f), 0xee, sizeof(struct virtio_mem_resp));
	driver_set_desc(&f->driver, 0, 0, DATA_GPA, sizeof(*req),
			VRING_DESC_F_NEXT, 1);
	driver_set_desc(&f->driver, 0, 1, DATA_GPA + 0x100,
			sizeof(struct virtio_mem_resp), VRING_DESC_F_WRITE, 0);
	driver_offer_and_notify(&f->driver, 0, 0);
	assert_int_equal(driver_used_idx(&f->driver, 0),
			 (uint16_t)(before + 1));
	assert_int_equal(driver_last_used_len(&f->driver, 0),
			 sizeof(struct virtio_mem_resp));
	if (state)
		*state = response(f)->u.state.state;
	return response(f)->type;
}

static struct virtio_mem_config config(struct fixture *f)
{
	struct virtio_mem_config c;

	pthread_mutex_lock(&f->vdev->lock);
	f->vdev->ops->config_read(f->vdev, 0, &c, sizeof(c));
	pthread_mutex_unlock(&f->vdev->lock);
	return c;
}

static void config_space_describes_the_region(void **state)
{
	struct fixture *f = *state;
	struct virtio_mem_config c = config(f);

	assert_int_equal(f->vdev->ops->device_id, 24);
	assert_int_equal(c.block_size, BLOCK);
	assert_int_equal(c.addr, HP_GPA);
	assert_int_equal(c.region_size, HP_SIZE);
	assert_int_equal(c.usable_region_size, HP_SIZE);
	assert_int_equal(c.plugged_size, 0);
	assert_int_equal(c.requested_size, 0);
	assert_int_equal(virtio_mem_set_requested(f->vdev, MiB(64)), 0);
	assert_int_equal(config(f).requested_size, MiB(64));
	/* Not a whole block, or more than the region. */
	assert_int_equal(virtio_mem_set_requested(f->vdev, MiB(3)), -EINVAL);
	assert_int_equal(virtio_mem_set_requested(f->vdev, HP_SIZE + BLOCK),
			 -EINVAL);
	assert_int_equal(config(f).requested_size, MiB(64));
	/* The region is in no RAM region; guest memory maps it after RAM. */
	assert_int_equal(f->mem.mapping_size, MiB(64) + HP_SIZE);
	assert_int_equal(f->mem.region_count, 1);
	assert_ptr_equal(f->mem.hotplug_hva, f->mem.mapping + MiB(64));
}

static void a_driver_without_unplugged_inaccessible_is_refused(void **state)
{
	struct fixture *f = *state;

	assert_false(negotiate(f, 1ULL << VIRTIO_F_VERSION_1) &
		     VIRTIO_CONFIG_S_FEATURES_OK);
	assert_true(negotiate(f, FEATURES) & VIRTIO_CONFIG_S_FEATURES_OK);
}

static void plug_stays_within_the_requested_size(void **state)
{
	struct fixture *f = *state;
	uint16_t st;

	bring_up(f);
	/* Nothing requested: a plug is refused for now (NACK). */
	assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 1, NULL),
			 VIRTIO_MEM_RESP_NACK);
	assert_int_equal(virtio_mem_set_requested(f->vdev, MiB(8)), 0);
	assert_null(guest_memory_ptr(&f->mem, HP_GPA, 8));
	assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 2, NULL),
			 VIRTIO_MEM_RESP_ACK);
	assert_int_equal(config(f).plugged_size, MiB(4));
	assert_true(f->slot_present[0]);
	assert_false(f->slot_present[1]);
	/* Plugged blocks are reachable by tern's devices; others are not,
	 * nor a range that runs from one into the other. */
	assert_ptr_equal(guest_memory_ptr(&f->mem, HP_GPA + MiB(3), 8),
			 f->mem.hotplug_hva + MiB(3));
	assert_null(guest_memory_ptr(&f->mem, HP_GPA + MiB(4), 8));
	assert_null(guest_memory_ptr(&f->mem, HP_GPA + MiB(4) - 4, 8));
	/* Already plugged: an error. */
	assert_int_equal(
		request(f, VIRTIO_MEM_REQ_PLUG, HP_GPA + BLOCK, 1, NULL),
		VIRTIO_MEM_RESP_ERROR);
	/* 4 + 6 MiB is more than the 8 requested: NACK, nothing changes. */
	assert_int_equal(
		request(f, VIRTIO_MEM_REQ_PLUG, HP_GPA + MiB(4), 3, NULL),
		VIRTIO_MEM_RESP_NACK);
	assert_int_equal(config(f).plugged_size, MiB(4));
	/* A block in the second slot adds that slot. */
	assert_int_equal(
		request(f, VIRTIO_MEM_REQ_PLUG, HP_GPA + SLOT, 1, NULL),
		VIRTIO_MEM_RESP_ACK);
	assert_true(f->slot_present[1]);
	assert_int_equal(request(f, VIRTIO_MEM_REQ_STATE, HP_GPA, 2, &st),
			 VIRTIO_MEM_RESP_ACK);
	assert_int_equal(st, VIRTIO_MEM_STATE_PLUGGED);
	assert_int_equal(request(f, VIRTIO_MEM_REQ_STATE, HP_GPA, 3, &st),
			 VIRTIO_MEM_RESP_ACK);
	assert_int_equal(st, VIRTIO_MEM_STATE_MIXED);
	assert_int_equal(
		request(f, VIRTIO_MEM_REQ_STATE, HP_GPA + MiB(4), 60, &st),
		VIRTIO_MEM_RESP_ACK);
	assert_int_equal(st, VIRTIO_MEM_STATE_UNPLUGGED);
	assert_int_equal(f->vdev->stats.requests, 8);
}

static void hostile_requests_are_errors(void **state)
{
	struct fixture *f = *state;
	const uint16_t types[] = {VIRTIO_MEM_REQ_PLUG, VIRTIO_MEM_REQ_UNPLUG,
				  VIRTIO_MEM_REQ_STATE};

	bring_up(f);
	assert_int_equal(virtio_mem_set_requested(f->vdev, HP_SIZE), 0);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		uint16_t t = types[i];

		/* Not on a block boundary, below the region, no blocks,
		 * past the end, a count that runs past the end, an address
		 * whose sum with the range would wrap. */
		assert_int_equal(request(f, t, HP_GPA + 4096, 1, NULL),
				 VIRTIO_MEM_RESP_ERROR);
		assert_int_equal(request(f, t, HP_GPA - BLOCK, 1, NULL),
				 VIRTIO_MEM_RESP_ERROR);
		assert_int_equal(request(f, t, HP_GPA, 0, NULL),
				 VIRTIO_MEM_RESP_ERROR);
		assert_int_equal(request(f, t, HP_GPA + HP_SIZE, 1, NULL),
				 VIRTIO_MEM_RESP_ERROR);
		assert_int_equal(
			request(f, t, HP_GPA + HP_SIZE - BLOCK, 2, NULL),
			VIRTIO_MEM_RESP_ERROR);
		assert_int_equal(
			request(f, t, UINT64_MAX - BLOCK + 1, 0xffff, NULL),
			VIRTIO_MEM_RESP_ERROR);
		assert_int_equal(request(f, t, 0, 1, NULL),
				 VIRTIO_MEM_RESP_ERROR);
	}
	assert_int_equal(request(f, 9, HP_GPA, 1, NULL), VIRTIO_MEM_RESP_ERROR);
	assert_int_equal(config(f).plugged_size, 0);
	assert_int_equal(f->slot_calls, 0);
	/* A request shorter than its fields. */
	driver_set_desc(&f->driver, 0, 0, DATA_GPA, 8, VRING_DESC_F_NEXT, 1);
	driver_set_desc(&f->driver, 0, 1, DATA_GPA + 0x100, 10,
			VRING_DESC_F_WRITE, 0);
	driver_offer_and_notify(&f->driver, 0, 0);
	assert_int_equal(response(f)->type, VIRTIO_MEM_RESP_ERROR);
	/* No room for the answer: handed back with nothing written. */
	driver_set_desc(&f->driver, 0, 0, DATA_GPA, 24, 0, 0);
	driver_offer_and_notify(&f->driver, 0, 0);
	assert_int_equal(driver_last_used_len(&f->driver, 0), 0);
	/* A descriptor outside guest memory breaks the ring: NEEDS_RESET. */
	driver_set_desc(&f->driver, 0, 0, GiB(2), 24, VRING_DESC_F_NEXT, 1);
	driver_offer_and_notify(&f->driver, 0, 0);
	assert_true(f->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void unplug_gives_memory_back_and_removes_empty_slots(void **state)
{
	struct fixture *f = *state;
	struct virtio_mem_info info;

	bring_up(f);
	assert_int_equal(virtio_mem_set_requested(f->vdev, MiB(16)), 0);
	assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 4, NULL),
			 VIRTIO_MEM_RESP_ACK);
	assert_int_equal(
		request(f, VIRTIO_MEM_REQ_PLUG, HP_GPA + SLOT, 4, NULL),
		VIRTIO_MEM_RESP_ACK);
	memset(f->mem.hotplug_hva, 1, MiB(8));
	/* Not all plugged: an error, nothing released. */
	assert_int_equal(
		request(f, VIRTIO_MEM_REQ_UNPLUG, HP_GPA + MiB(6), 2, NULL),
		VIRTIO_MEM_RESP_ERROR);
	assert_int_equal(f->release_calls, 0);
	/* Part of slot 0: released, the slot stays. */
	assert_int_equal(
		request(f, VIRTIO_MEM_REQ_UNPLUG, HP_GPA + BLOCK, 2, NULL),
		VIRTIO_MEM_RESP_ACK);
	assert_int_equal(f->released, MiB(4));
	assert_ptr_equal(f->last_release, f->mem.hotplug_hva + BLOCK);
	assert_true(f->slot_present[0]);
	assert_int_equal(config(f).plugged_size, MiB(12));
	/* Plugging goes on up to the requested size again. */
	assert_int_equal(
		request(f, VIRTIO_MEM_REQ_PLUG, HP_GPA + BLOCK, 2, NULL),
		VIRTIO_MEM_RESP_ACK);
	/* All of slot 1's plugged blocks: the slot goes. */
	assert_int_equal(
		request(f, VIRTIO_MEM_REQ_UNPLUG, HP_GPA + SLOT, 4, NULL),
		VIRTIO_MEM_RESP_ACK);
	assert_false(f->slot_present[1]);
	assert_null(guest_memory_ptr(&f->mem, HP_GPA + SLOT, 8));
	/* Everything. */
	assert_int_equal(request(f, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, NULL),
			 VIRTIO_MEM_RESP_ACK);
	assert_false(f->slot_present[0]);
	assert_int_equal(config(f).plugged_size, 0);
	assert_int_equal(
		guest_memory_hotplug_count(&f->mem, 0, HP_SIZE / BLOCK), 0);
	virtio_mem_get_info(f->vdev, &info);
	assert_int_equal(info.plug_count, 3);
	assert_int_equal(info.plug_bytes, MiB(20));
	assert_int_equal(info.unplug_count, 3);
	assert_int_equal(info.unplug_fails, 1);
	assert_int_equal(info.unplug_bytes, MiB(20));
	assert_int_equal(info.unplug_all_count, 1);
	assert_int_equal(info.slots_present, 0);
}

static void a_slot_kvm_refuses_leaves_the_blocks_unplugged(void **state)
{
	struct fixture *f = *state;

	bring_up(f);
	assert_int_equal(virtio_mem_set_requested(f->vdev, MiB(8)), 0);
	f->fail_slots = true;
	assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 1, NULL),
			 VIRTIO_MEM_RESP_BUSY);
	assert_int_equal(config(f).plugged_size, 0);
	assert_int_equal(guest_memory_hotplug_count(&f->mem, 0, 1), 0);
	f->fail_slots = false;
	assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 1, NULL),
			 VIRTIO_MEM_RESP_ACK);
}

static void bitmap_counts_across_words(void **state)
{
	struct fixture *f = *state;

	guest_memory_hotplug_mark(&f->mem, 60, 10, true);
	assert_int_equal(guest_memory_hotplug_count(&f->mem, 0, 128), 10);
	assert_int_equal(guest_memory_hotplug_count(&f->mem, 62, 4), 4);
	assert_int_equal(guest_memory_hotplug_count(&f->mem, 64, 64), 6);
	assert_int_equal(guest_memory_hotplug_count(&f->mem, 0, 60), 0);
	assert_int_equal(guest_memory_hotplug_count(&f->mem, 0, 64), 4);
	guest_memory_hotplug_mark(&f->mem, 63, 2, false);
	assert_int_equal(guest_memory_hotplug_count(&f->mem, 60, 10), 8);
	guest_memory_hotplug_mark(&f->mem, 0, 128, true);
	assert_int_equal(guest_memory_hotplug_count(&f->mem, 0, 128), 128);
	assert_int_equal(guest_memory_hotplug_count(&f->mem, 127, 1), 1);
}

static void attach_refuses_bad_geometry(void **state)
{
	struct guest_memory mem;

	(void)state;
	assert_int_equal(guest_memory_init_hotplug(
				 &mem, MiB(64), GUEST_MEMORY_ANONYMOUS, MiB(3)),
			 -EINVAL);
	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	assert_int_equal(guest_memory_hotplug_attach(&mem, HP_GPA, BLOCK),
			 -EINVAL); /* no hotplug memory */
	guest_memory_destroy(&mem);
	assert_int_equal(guest_memory_init_hotplug(
				 &mem, MiB(64), GUEST_MEMORY_ANONYMOUS, SLOT),
			 0);
	assert_int_equal(guest_memory_hotplug_attach(&mem, HP_GPA, MiB(3)),
			 -EINVAL);
	assert_int_equal(
		guest_memory_hotplug_attach(&mem, HP_GPA + 4096, BLOCK),
		-EINVAL);
	assert_int_equal(guest_memory_hotplug_attach(
				 &mem, UINT64_MAX - BLOCK + 1, BLOCK),
			 -EINVAL);
	assert_int_equal(guest_memory_hotplug_attach(&mem, HP_GPA, BLOCK), 0);
	assert_int_equal(guest_memory_hotplug_attach(&mem, HP_GPA, BLOCK),
			 -EINVAL);
	guest_memory_destroy(&mem);
}

static void state_is_saved_checked_and_restored(void **state)
{
	struct fixture *f = *state, *g = create();
	size_t words = HP_SIZE / BLOCK / 64;
	uint8_t buf[256];
	size_t len = sizeof(buf), saved_len;
	uint64_t *fields = (uint64_t *)buf, *bits = fields + 8;

	bring_up(f);
	assert_int_equal(virtio_mem_set_requested(f->vdev, MiB(16)), 0);
	assert_int_equal(
		request(f, VIRTIO_MEM_REQ_PLUG, HP_GPA + SLOT, 3, NULL),
		VIRTIO_MEM_RESP_ACK);
	assert_int_equal(f->vdev->ops->save(f->vdev, buf, &len), 0);
	assert_int_equal(len, 64 + words * 8);
	saved_len = len;
	/* Into a fresh device: the bitmap, the sizes and slot 1 come back. */
	assert_int_equal(g->vdev->ops->check(g->vdev, buf, len), 0);
	assert_int_equal(g->vdev->ops->restore(g->vdev, buf, len), 0);
	assert_int_equal(config(g).plugged_size, MiB(6));
	assert_int_equal(config(g).requested_size, MiB(16));
	assert_true(g->slot_present[1]);
	assert_false(g->slot_present[0]);
	assert_int_equal(guest_memory_hotplug_count(&g->mem, 64, 3), 3);
	assert_non_null(guest_memory_ptr(&g->mem, HP_GPA + SLOT, 8));
	/* Restoring the other way removes the slot again. */
	len = sizeof(buf);
	{
		uint8_t empty[256];
		size_t elen = sizeof(empty);

		assert_int_equal(f->vdev->ops->save(f->vdev, empty, &elen), 0);
		memset(empty + 64, 0, words * 8);
		((uint64_t *)empty)[5] = 0; /* plugged_size */
		assert_int_equal(g->vdev->ops->restore(g->vdev, empty, elen),
				 0);
		assert_false(g->slot_present[1]);
		assert_int_equal(config(g).plugged_size, 0);
	}
	/* Hostile states: sizes that do not add up, a bit past the end, a
	 * wrong length, another geometry. */
	bits[0] |= 1; /* a fourth block, plugged_size still 6 MiB */
	assert_int_not_equal(g->vdev->ops->check(g->vdev, buf, saved_len), 0);
	bits[0] &= ~1ULL;
	fields[6] = MiB(3); /* requested not a whole block */
	assert_int_not_equal(g->vdev->ops->check(g->vdev, buf, saved_len), 0);
	fields[6] = MiB(16);
	assert_int_not_equal(g->vdev->ops->check(g->vdev, buf, saved_len - 8),
			     0);
	assert_int_not_equal(g->vdev->ops->check(g->vdev, buf, 8), 0);
	fields[3] = MiB(4); /* block size */
	assert_int_not_equal(g->vdev->ops->check(g->vdev, buf, saved_len), 0);
	assert_non_null(strstr(g->vdev->restore_error, "blocks"));
	fields[3] = BLOCK;
	assert_int_equal(g->vdev->ops->check(g->vdev, buf, saved_len), 0);
	len = 16;
	assert_int_equal(f->vdev->ops->save(f->vdev, buf, &len), -ENOSPC);
	destroy(g);
}

static void sizes_follow_firecrackers_rules(void **state)
{
	struct vm_memory_hotplug_config c;
	struct tern_error err;
	json_t *doc;

	(void)state;
	assert_int_equal(memory_hotplug_parse_option("total=1024", &c, &err),
			 0);
	assert_int_equal(c.total_bytes, GiB(1));
	assert_int_equal(c.slot_bytes, MiB(128));
	assert_int_equal(c.block_bytes, MiB(2));
	assert_int_equal(memory_hotplug_parse_option(
				 "total=512,slot=256,block=4", &c, &err),
			 0);
	assert_int_equal(c.slot_bytes, MiB(256));
	assert_int_equal(c.block_bytes, MiB(4));
	const char *bad[] = {
		"",
		"slot=128",
		"total=100",
		"total=1024,slot=64",
		"total=1024,block=3",
		"total=1024,block=1",
		"total=384,slot=256",
		"total=1G",
		"total=1024,size=2",
		"total=1024,,",
		"total=-1",
		"total=2097152",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(
			memory_hotplug_parse_option(bad[i], &c, &err), 0);
	doc = json_pack("{s:i}", "total_size_mib", 256);
	assert_int_equal(
		memory_hotplug_json_parse(doc, "memory-hotplug", &c, &err), 0);
	json_decref(doc);
	assert_int_equal(c.total_bytes, MiB(256));
	doc = memory_hotplug_json_export(&c);
	assert_int_equal(
		json_integer_value(json_object_get(doc, "slot_size_mib")), 128);
	json_decref(doc);
	doc = json_pack("{s:i, s:i}", "total_size_mib", 256, "block_size_mib",
			256);
	assert_int_not_equal(
		memory_hotplug_json_parse(doc, "memory-hotplug", &c, &err), 0);
	assert_non_null(strstr(err.message, "slot size"));
	json_decref(doc);
	doc = json_pack("{s:i, s:i}", "total_size_mib", 256, "extra", 1);
	assert_int_not_equal(
		memory_hotplug_json_parse(doc, "memory-hotplug", &c, &err), 0);
	json_decref(doc);
	c.total_bytes = 0;
	doc = memory_hotplug_json_export(&c);
	assert_true(json_is_null(doc));
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			config_space_describes_the_region, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_driver_without_unplugged_inaccessible_is_refused,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			plug_stays_within_the_requested_size, setup, teardown),
		cmocka_unit_test_setup_teardown(hostile_requests_are_errors,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			unplug_gives_memory_back_and_removes_empty_slots, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_slot_kvm_refuses_leaves_the_blocks_unplugged, setup,
			teardown),
		cmocka_unit_test_setup_teardown(bitmap_counts_across_words,
						setup, teardown),
		cmocka_unit_test(attach_refuses_bad_geometry),
		cmocka_unit_test_setup_teardown(
			state_is_saved_checked_and_restored, setup, teardown),
		cmocka_unit_test(sizes_follow_firecrackers_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
