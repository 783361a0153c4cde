/* The virtio-blk device end to end without KVM: the real device core and
 * I/O thread, the block backend on a temp image, and this test playing the
 * driver on rings built by hand in guest memory (a fake transport counts
 * interrupts). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "arch/x86/layout.h"
#include "memory/guest_memory.h"
#include "virtio/virtio_blk.h"
#include "unit/virtio_test_driver.h"

#define QSIZE 64
#define RING_GPA 0x10000ULL
#define HDR_GPA 0x20000ULL /* 16-byte headers, one per descriptor slot */
#define STATUS_GPA 0x30000ULL /* one status byte per slot */
#define DATA_GPA 0x100000ULL /* 64 KiB of data per slot */
#define IMAGE_SIZE (4u << 20)

struct fixture {
	char path[64];
	struct guest_memory mem;
	struct virtio_device *vdev;
	struct test_driver driver;
	enum block_engine engine;
	const struct rate_limiter_config *limit; /* NULL: none */
};

static _Atomic int interrupts;

static void fake_signal_queue(struct virtio_device *vdev, uint16_t q)
{
	atomic_fetch_add(&interrupts, 1);
}

static void fake_signal_config(struct virtio_device *vdev)
{
}

static const struct virtio_transport_ops fake_transport = {
	.signal_queue = fake_signal_queue,
	.signal_config = fake_signal_config,
};

static void *gpa(struct fixture *f, uint64_t addr, uint64_t len)
{
	void *p = guest_memory_ptr(&f->mem, addr, len);

	assert_non_null(p);
	return p;
}

static void start_device_with(struct fixture *f, bool readonly, bool event_idx)
{
	struct tern_error err = {{0}};
	struct virtio_blk_options opts = {
		.path = f->path,
		.readonly = readonly,
		.id = "unit-disk",
		.engine = f->engine,
		.rate_limiter = f->limit,
	};
	uint64_t features;

	assert_int_equal(virtio_blk_create(&opts, &f->vdev, &err), 0);
	f->vdev->transport = &fake_transport;
	assert_int_equal(virtio_device_start(f->vdev, &f->mem), 0);
	driver_init(&f->driver, &f->mem, f->vdev);
	driver_lay_out_queue(&f->driver, 0, RING_GPA, QSIZE);
	features = f->vdev->device_features;
	if (!event_idx)
		features &= ~(1ULL << VIRTIO_RING_F_EVENT_IDX);
	driver_bring_up(&f->driver, features);
}

static void start_device(struct fixture *f, bool readonly)
{
	start_device_with(f, readonly, false);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fd;

	snprintf(f->path, sizeof(f->path), "/tmp/tern-vblk-XXXXXX");
	fd = mkstemp(f->path);
	assert_int_equal(ftruncate(fd, IMAGE_SIZE), 0);
	close(fd);
	assert_int_equal(guest_memory_init(&f->mem, MiB(64)), 0);
	*state = f;
	return 0;
}

static int setup_threads(void **state)
{
	setup(state);
	((struct fixture *)*state)->engine = BLOCK_ENGINE_THREADS;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->vdev)
		virtio_device_destroy(f->vdev);
	guest_memory_destroy(&f->mem);
	unlink(f->path);
	free(f);
	return 0;
}

static uint32_t used_len_of(struct fixture *f, uint16_t head)
{
	uint16_t idx = driver_used_idx(&f->driver, 0);
	uint32_t id, len;

	/* newest first: a head comes back many times */
	for (int i = 1; i <= QSIZE; i++) {
		driver_used_elem(&f->driver, 0, (uint16_t)(idx - i), &id, &len);
		if (id == head)
			return len;
	}
	fail_msg("head %u not in the used ring", head);
	return 0;
}

/* Builds a request in descriptor slot `slot` (3 descriptors: header,
 * data, status); returns its head. */
static uint16_t request(struct fixture *f, unsigned slot, uint32_t type,
			uint64_t sector, uint32_t data_len, bool data_writable)
{
	struct test_driver *d = &f->driver;
	uint16_t head = (uint16_t)(slot * 3);
	struct virtio_blk_outhdr *hdr = gpa(f, HDR_GPA + 16ULL * slot, 16);
	uint8_t *status = gpa(f, STATUS_GPA + slot, 1);
	uint16_t data_flags =
		VRING_DESC_F_NEXT | (data_writable ? VRING_DESC_F_WRITE : 0);

	hdr->type = type;
	hdr->ioprio = 0;
	hdr->sector = sector;
	*status = 0xff;
	if (data_len) {
		driver_set_desc(d, 0, head, HDR_GPA + 16ULL * slot, 16,
				VRING_DESC_F_NEXT, head + 1);
		driver_set_desc(d, 0, head + 1, DATA_GPA + 0x10000ULL * slot,
				data_len, data_flags, head + 2);
	} else {
		driver_set_desc(d, 0, head, HDR_GPA + 16ULL * slot, 16,
				VRING_DESC_F_NEXT, head + 2);
	}
	driver_set_desc(d, 0, head + 2, STATUS_GPA + slot, 1,
			VRING_DESC_F_WRITE, 0);
	driver_offer(d, 0, head);
	return head;
}

static uint8_t *slot_data(struct fixture *f, unsigned slot)
{
	return gpa(f, DATA_GPA + 0x10000ULL * slot, 0x10000);
}

static uint8_t slot_status(struct fixture *f, unsigned slot)
{
	return *(uint8_t *)gpa(f, STATUS_GPA + slot, 1);
}

static void config_space_describes_the_disk(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_config config;

	start_device(f, false);
	pthread_mutex_lock(&f->vdev->lock);
	virtio_device_config_read(f->vdev, 0, &config, sizeof(config));
	pthread_mutex_unlock(&f->vdev->lock);
	assert_int_equal(config.capacity, IMAGE_SIZE / 512);
	assert_int_equal(config.blk_size, 512);
	assert_true(config.seg_max >= 2 && config.seg_max <= 254);
	assert_int_equal(config.max_discard_seg, 16);
	assert_true(f->vdev->device_features & 1ULL << VIRTIO_BLK_F_FLUSH);
	assert_true(f->vdev->device_features & 1ULL << VIRTIO_BLK_F_DISCARD);
	assert_true(f->vdev->device_features &
		    1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	assert_false(f->vdev->device_features & 1ULL << VIRTIO_BLK_F_RO);
}

static void many_writes_in_flight_then_read_back(void **state)
{
	struct fixture *f = *state;
	const unsigned n = 20;

	start_device(f, false);
	for (unsigned i = 0; i < n; i++) {
		memset(slot_data(f, i), 'a' + (int)i, 8192);
		request(f, i, VIRTIO_BLK_T_OUT, 16ULL * i, 8192, false);
	}
	driver_kick(&f->driver, 0);
	assert_true(driver_wait_used(&f->driver, 0, (uint16_t)n));
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(slot_status(f, i), VIRTIO_BLK_S_OK);
		assert_int_equal(used_len_of(f, (uint16_t)(i * 3)), 1);
	}
	/* flush, then read every block back into other buffers */
	request(f, 0, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	driver_kick(&f->driver, 0);
	assert_true(driver_wait_used(&f->driver, 0, 1));
	assert_int_equal(slot_status(f, 0), VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < n; i++) {
		memset(slot_data(f, i), 0, 8192);
		request(f, i, VIRTIO_BLK_T_IN, 16ULL * i, 8192, true);
	}
	driver_kick(&f->driver, 0);
	assert_true(driver_wait_used(&f->driver, 0, (uint16_t)n));
	for (unsigned i = 0; i < n; i++) {
		uint8_t *data = slot_data(f, i);

		assert_int_equal(slot_status(f, i), VIRTIO_BLK_S_OK);
		assert_int_equal(data[0], 'a' + i);
		assert_int_equal(data[8191], 'a' + i);
		assert_int_equal(used_len_of(f, (uint16_t)(i * 3)), 8193);
	}
	assert_true(atomic_load(&interrupts) > 0);
	assert_int_equal(atomic_load(&f->vdev->stats.bytes_read), n * 8192);
	assert_int_equal(atomic_load(&f->vdev->stats.bytes_written), n * 8192);
}

static uint64_t now_ms(void)
{
	return token_bucket_now_ns() / 1000000;
}

/* 64 KiB per 100 ms: 8 writes of 32 KiB are 2 at once, then the other
 * 192 KiB at the refill rate, 300 ms; none is lost, none fails. */
static void rate_limited_requests_wait_in_the_ring(void **state)
{
	static const struct rate_limiter_config limit = {
		.bandwidth = {64 << 10, 0, 100}};
	struct fixture *f = *state;
	uint64_t start, took;

	f->limit = &limit;
	start_device(f, false);
	start = now_ms();
	for (unsigned i = 0; i < 8; i++)
		request(f, i, VIRTIO_BLK_T_OUT, 128ULL * i, 32 << 10, false);
	driver_kick(&f->driver, 0);
	assert_true(driver_wait_used(&f->driver, 0, 2));
	assert_true(driver_wait_used(&f->driver, 0, 6));
	took = now_ms() - start;
	assert_true(took >= 280);
	assert_true(took < 3000);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(slot_status(f, i), VIRTIO_BLK_S_OK);
	assert_true(atomic_load(&f->vdev->stats.rate_limiter_throttled) > 0);
}

/* Larger than the bucket: served at once, the next waits for the debt. */
static void an_oversized_request_is_served_then_paid_for(void **state)
{
	static const struct rate_limiter_config limit = {
		.bandwidth = {16 << 10, 0, 100}};
	struct fixture *f = *state;
	uint64_t start;

	f->limit = &limit;
	start_device(f, false);
	start = now_ms();
	request(f, 0, VIRTIO_BLK_T_IN, 0, 64 << 10, true);
	driver_kick(&f->driver, 0);
	assert_true(driver_wait_used(&f->driver, 0, 1));
	assert_true(now_ms() - start < 250);
	request(f, 1, VIRTIO_BLK_T_IN, 0, 512, true);
	driver_kick(&f->driver, 0);
	assert_true(driver_wait_used(&f->driver, 0, 1));
	/* 48 KiB owed at 16 KiB per 100 ms */
	assert_true(now_ms() - start >= 280);
}

/* A live update turns the limit off: what waits goes at once. */
static void an_update_frees_a_throttled_queue(void **state)
{
	static const struct rate_limiter_config limit = {.ops = {1, 0, 100000}};
	struct rate_limiter_update off = {.set_ops = true};
	struct fixture *f = *state;

	f->limit = &limit;
	start_device(f, false);
	request(f, 0, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	request(f, 1, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	driver_kick(&f->driver, 0);
	assert_true(driver_wait_used(&f->driver, 0, 1));
	usleep(50000);
	/* the second waits 100 s */
	assert_int_equal(driver_used_idx(&f->driver, 0), 1);
	pthread_mutex_lock(&f->vdev->lock);
	assert_int_equal(f->vdev->ops->update_rate_limiter(f->vdev, 0, &off),
			 0);
	assert_int_equal(f->vdev->ops->update_rate_limiter(f->vdev, 1, &off),
			 -ENOENT);
	pthread_mutex_unlock(&f->vdev->lock);
	assert_true(driver_wait_used(&f->driver, 0, 1));
}

/* The device's state carries its limiter (Firecracker's persisted
 * buckets): restored into a device without one, the limit comes along; a
 * state from before limiters (the disk part only) is still accepted. */
static void the_saved_state_carries_the_limiter(void **state)
{
	static const struct rate_limiter_config limit = {.ops = {7, 3, 250}};
	struct virtio_blk_options opts = {.path = NULL, .id = "unit-disk"};
	struct fixture *f = *state;
	struct rate_limiter_state again;
	uint8_t buf[1024], buf2[1024];
	size_t len = sizeof(buf), len2 = sizeof(buf2), disk_only;
	struct tern_error err;

	f->limit = &limit;
	start_device(f, false);
	pthread_mutex_lock(&f->vdev->lock);
	assert_int_equal(f->vdev->ops->save(f->vdev, buf, &len), 0);
	pthread_mutex_unlock(&f->vdev->lock);
	virtio_device_destroy(f->vdev); /* releases the image's lock */
	opts.path = f->path;
	assert_int_equal(virtio_blk_create(&opts, &f->vdev, &err), 0);
	disk_only = len - sizeof(struct rate_limiter_state);
	assert_int_equal(f->vdev->ops->check(f->vdev, buf, disk_only), 0);
	assert_int_equal(f->vdev->ops->restore(f->vdev, buf, len), 0);
	assert_int_equal(f->vdev->ops->save(f->vdev, buf2, &len2), 0);
	assert_int_equal(len2, len);
	memcpy(&again, buf2 + disk_only, sizeof(again));
	assert_int_equal(again.ops.size, 7);
	assert_int_equal(again.ops.one_time_burst, 3);
	assert_int_equal(again.ops.refill_time_ms, 250);
	/* corrupt bucket state is refused */
	again.ops.budget = 8;
	memcpy(buf + disk_only, &again, sizeof(again));
	assert_int_equal(f->vdev->ops->check(f->vdev, buf, len), -EINVAL);
	assert_int_equal(f->vdev->ops->check(f->vdev, buf, len - 1), -EINVAL);
}

static void get_id_and_unknown_and_out_of_range(void **state)
{
	struct fixture *f = *state;

	start_device(f, false);
	request(f, 0, VIRTIO_BLK_T_GET_ID, 0, 20, true);
	request(f, 1, 99, 0, 512, true);
	request(f, 2, VIRTIO_BLK_T_IN, IMAGE_SIZE / 512, 512, true);
	request(f, 3, VIRTIO_BLK_T_OUT, UINT64_MAX / 256, 512, false);
	/* a header alone: no status byte to answer in */
	driver_set_desc(&f->driver, 0, 12, HDR_GPA, 16, 0, 0);
	driver_offer(&f->driver, 0, 12);
	driver_kick(&f->driver, 0);
	assert_true(driver_wait_used(&f->driver, 0, 5));
	assert_int_equal(used_len_of(f, 12), 0);
	assert_int_equal(atomic_load(&f->vdev->stats.errors), 4);
	assert_int_equal(slot_status(f, 0), VIRTIO_BLK_S_OK);
	assert_memory_equal(slot_data(f, 0), "unit-disk\0", 10);
	assert_int_equal(used_len_of(f, 0), 21);
	assert_int_equal(slot_status(f, 1), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(slot_status(f, 2), VIRTIO_BLK_S_IOERR);
	assert_int_equal(slot_status(f, 3), VIRTIO_BLK_S_IOERR);
	assert_false(f->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void write_zeroes_and_discard_reach_the_image(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[4096], *seg;
	int fd;

	start_device(f, false);
	memset(slot_data(f, 0), 0x5a, 65536);
	request(f, 0, VIRTIO_BLK_T_OUT, 0, 65536, false);
	driver_kick(&f->driver, 0);
	assert_true(driver_wait_used(&f->driver, 0, 1));
	/* segments: zero sectors 8..15, discard 64..127 */
	seg = slot_data(f, 1);
	memset(seg, 0, 16);
	*(uint64_t *)seg = 8;
	*(uint32_t *)(seg + 8) = 8;
	request(f, 1, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false);
	seg = slot_data(f, 2);
	memset(seg, 0, 16);
	*(uint64_t *)seg = 64;
	*(uint32_t *)(seg + 8) = 64;
	request(f, 2, VIRTIO_BLK_T_DISCARD, 0, 16, false);
	driver_kick(&f->driver, 0);
	assert_true(driver_wait_used(&f->driver, 0, 2));
	assert_int_equal(slot_status(f, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(slot_status(f, 2), VIRTIO_BLK_S_OK);
	fd = open(f->path, O_RDONLY);
	assert_int_equal(pread(fd, buf, 4096, 4096), 4096);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(pread(fd, buf, 4096, 0), 4096);
	assert_int_equal(buf[4095], 0x5a);
	assert_int_equal(pread(fd, buf, 4096, 32768), 4096);
	assert_int_equal(buf[0], 0); /* ext4 punched the hole */
	close(fd);
}

/* Grows the file by `len` bytes (< 512) of value: a partial sector. */
static void append_partial_sector(const char *path, size_t len, uint8_t value)
{
	uint8_t buf[511];
	int fd = open(path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0 && len <= sizeof(buf));
	memset(buf, value, len);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* The file is `whole` bytes then `len` bytes of value, and its last whole
 * sector holds `last`. */
static void assert_image_ends(const char *path, uint64_t whole, size_t len,
			      uint8_t value, uint8_t last)
{
	uint8_t buf[512];
	struct stat st;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, whole + len);
	assert_int_equal(pread(fd, buf, len, (off_t)whole), (ssize_t)len);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(buf[i], value);
	assert_int_equal(pread(fd, buf, 512, (off_t)whole - 512), 512);
	for (int i = 0; i < 512; i++)
		assert_int_equal(buf[i], last);
	close(fd);
}

static uint64_t config_capacity(struct fixture *f)
{
	struct virtio_blk_config config;

	pthread_mutex_lock(&f->vdev->lock);
	virtio_device_config_read(f->vdev, 0, &config, sizeof(config));
	pthread_mutex_unlock(&f->vdev->lock);
	return config.capacity;
}

/* Requests at and across the end of a disk of `sectors` sectors fail,
 * each kind of them, and the last sector takes a write of `last`. */
static void probe_the_end(struct fixture *f, uint64_t sectors, uint8_t last)
{
	uint8_t *seg;

	memset(slot_data(f, 0), last, 512);
	request(f, 0, VIRTIO_BLK_T_OUT, sectors - 1, 512, false);
	request(f, 1, VIRTIO_BLK_T_OUT, sectors, 512, false);
	request(f, 2, VIRTIO_BLK_T_OUT, sectors - 1, 1024, false);
	request(f, 3, VIRTIO_BLK_T_IN, sectors, 512, true);
	seg = slot_data(f, 4);
	memset(seg, 0, 16);
	*(uint64_t *)seg = sectors - 1;
	*(uint32_t *)(seg + 8) = 2;
	request(f, 4, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false);
	seg = slot_data(f, 5);
	memset(seg, 0, 16);
	*(uint64_t *)seg = sectors;
	*(uint32_t *)(seg + 8) = 1;
	request(f, 5, VIRTIO_BLK_T_DISCARD, 0, 16, false);
	driver_kick(&f->driver, 0);
	assert_true(driver_wait_used(&f->driver, 0, 6));
	assert_int_equal(slot_status(f, 0), VIRTIO_BLK_S_OK);
	for (unsigned i = 1; i < 6; i++)
		assert_int_equal(slot_status(f, i), VIRTIO_BLK_S_IOERR);
}

/* As Firecracker: an image of 4 MiB + 100 bytes is a disk of 8192
 * sectors. The guest writes all of it; the 100 bytes past the last whole
 * sector stay as they were. A backing file of odd size swapped in after
 * boot (PATCH /drives) is cut the same way. */
static void odd_sized_image_ends_at_its_last_whole_sector(void **state)
{
	struct fixture *f = *state;
	struct tern_error err = {{0}};
	char other[64];
	int fd;

	append_partial_sector(f->path, 100, 0xe7);
	start_device(f, false);
	assert_int_equal(config_capacity(f), IMAGE_SIZE / 512);
	for (unsigned round = 0; round < IMAGE_SIZE / (16 * 65536); round++) {
		for (unsigned i = 0; i < 16; i++) {
			memset(slot_data(f, i), 0x3c, 65536);
			request(f, i, VIRTIO_BLK_T_OUT,
				(round * 16 + i) * 128ULL, 65536, false);
		}
		driver_kick(&f->driver, 0);
		assert_true(driver_wait_used(&f->driver, 0, 16));
		for (unsigned i = 0; i < 16; i++)
			assert_int_equal(slot_status(f, i), VIRTIO_BLK_S_OK);
	}
	probe_the_end(f, IMAGE_SIZE / 512, 0x4d);
	assert_image_ends(f->path, IMAGE_SIZE, 100, 0xe7, 0x4d);

	snprintf(other, sizeof(other), "/tmp/tern-vblk-XXXXXX");
	fd = mkstemp(other);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	append_partial_sector(other, 511, 0xd2);
	assert_int_equal(virtio_blk_replace_file(f->vdev, other, false, &err),
			 0);
	assert_int_equal(config_capacity(f), (1 << 20) / 512);
	probe_the_end(f, (1 << 20) / 512, 0x5e);
	assert_image_ends(other, 1 << 20, 511, 0xd2, 0x5e);
	unlink(other);
}

static void readonly_disk_fails_writes_and_keeps_going(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[512];
	int fd;

	start_device(f, true);
	assert_true(f->vdev->device_features & 1ULL << VIRTIO_BLK_F_RO);
	assert_false(f->vdev->device_features & 1ULL << VIRTIO_BLK_F_DISCARD);
	memset(slot_data(f, 0), 0x77, 512);
	request(f, 0, VIRTIO_BLK_T_OUT, 0, 512, false);
	request(f, 1, VIRTIO_BLK_T_IN, 0, 512, true);
	driver_kick(&f->driver, 0);
	assert_true(driver_wait_used(&f->driver, 0, 2));
	assert_int_equal(slot_status(f, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(slot_status(f, 1), VIRTIO_BLK_S_OK);
	fd = open(f->path, O_RDONLY);
	assert_int_equal(pread(fd, buf, 512, 0), 512);
	assert_int_equal(buf[0], 0);
	close(fd);
}

/* A driver with EVENT_IDX kicks only when avail idx passes the device's
 * avail_event (spec 2.7.10): the device must keep moving it. */
static void event_idx_driver_keeps_getting_answers(void **state)
{
	struct fixture *f = *state;
	struct test_driver_queue *dq = &f->driver.queues[0];
	int kicks = 0;

	start_device_with(f, false, true);
	for (unsigned round = 0; round < 40; round++) {
		uint16_t old = dq->avail_idx;
		uint16_t event;

		request(f, round % 8, VIRTIO_BLK_T_FLUSH, 0, 0, false);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		event = driver_avail_event(&f->driver, 0);
		if ((uint16_t)(dq->avail_idx - event - 1) <
		    (uint16_t)(dq->avail_idx - old)) {
			driver_kick(&f->driver, 0);
			kicks++;
		}
		if (!driver_wait_used(&f->driver, 0, 1))
			fail_msg("round %u: no answer (avail_event %u, kicks "
				 "%d)",
				 round, event, kicks);
		assert_int_equal(slot_status(f, round % 8), VIRTIO_BLK_S_OK);
	}
	assert_int_equal(kicks, 40);
}

static void broken_ring_sets_needs_reset(void **state)
{
	struct fixture *f = *state;

	start_device(f, false);
	driver_offer(&f->driver, 0, QSIZE + 5); /* a head outside the table */
	driver_kick(&f->driver, 0);
	for (int i = 0; i < 2000; i++) {
		pthread_mutex_lock(&f->vdev->lock);
		uint8_t status = f->vdev->status;
		pthread_mutex_unlock(&f->vdev->lock);

		if (status & VIRTIO_CONFIG_S_NEEDS_RESET)
			return;
		usleep(1000);
	}
	fail_msg("NEEDS_RESET never set");
}

static void reset_with_requests_in_flight(void **state)
{
	struct fixture *f = *state;

	start_device(f, false);
	for (unsigned i = 0; i < 16; i++)
		request(f, i, VIRTIO_BLK_T_OUT, 128ULL * i, 65536, false);
	driver_kick(&f->driver, 0);
	usleep(1000);
	pthread_mutex_lock(&f->vdev->lock);
	virtio_device_write_status(f->vdev, 0);
	assert_int_equal(f->vdev->status, 0);
	pthread_mutex_unlock(&f->vdev->lock);
	/* and it comes back (on rings laid out afresh) */
	virtio_device_destroy(f->vdev);
	f->vdev = NULL;
	start_device(f, false);
	request(f, 0, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	driver_kick(&f->driver, 0);
	assert_true(driver_wait_used(&f->driver, 0, 1));
	assert_int_equal(slot_status(f, 0), VIRTIO_BLK_S_OK);
}

/* Fills the image's 64 KiB block b with the byte block_byte(b). */
static uint8_t block_byte(unsigned b)
{
	return (uint8_t)(b * 7 + 1);
}

static void fill_image_blocks(struct fixture *f, unsigned count)
{
	uint8_t buf[65536];
	int fd = open(f->path, O_WRONLY);

	assert_true(fd >= 0);
	for (unsigned b = 0; b < count; b++) {
		memset(buf, block_byte(b), sizeof(buf));
		assert_int_equal(pwrite(fd, buf, sizeof(buf), 65536LL * b),
				 (ssize_t)sizeof(buf));
	}
	close(fd);
}

/* Rounds of 20 reads in flight at once, completing in any order (the
 * threads engine's workers race each other and the I/O thread): every
 * head comes back exactly once per round, with its own data and status. */
static void reads_in_flight_each_answered_once(void **state)
{
	struct fixture *f = *state;
	const unsigned n = 20, blocks = IMAGE_SIZE / 65536;
	struct test_driver_queue *dq = &f->driver.queues[0];

	fill_image_blocks(f, blocks);
	start_device(f, false);
	for (unsigned round = 0; round < 30; round++) {
		unsigned seen[20] = {0};
		uint16_t first = dq->used_seen;

		for (unsigned i = 0; i < n; i++) {
			unsigned b = (round * n + i) % blocks;

			memset(slot_data(f, i), 0, 65536);
			request(f, i, VIRTIO_BLK_T_IN, 128ULL * b, 65536, true);
		}
		driver_kick(&f->driver, 0);
		assert_true(driver_wait_used(&f->driver, 0, (uint16_t)n));
		/* Nothing more than this round's answers. */
		usleep(2000);
		assert_int_equal(driver_used_idx(&f->driver, 0), dq->used_seen);
		for (unsigned k = 0; k < n; k++) {
			uint32_t head, len;

			driver_used_elem(&f->driver, 0, (uint16_t)(first + k),
					 &head, &len);
			assert_true(head % 3 == 0 && head / 3 < n);
			seen[head / 3]++;
			assert_int_equal(len, 65537);
		}
		for (unsigned i = 0; i < n; i++) {
			uint8_t want = block_byte((round * n + i) % blocks);
			uint8_t *data = slot_data(f, i);

			assert_int_equal(seen[i], 1);
			assert_int_equal(slot_status(f, i), VIRTIO_BLK_S_OK);
			assert_int_equal(data[0], want);
			assert_int_equal(data[65535], want);
		}
	}
	assert_int_equal(atomic_load(&f->vdev->stats.errors), 0);
}

/* A reset returns only once no request can touch guest memory any more:
 * nothing in flight writes a data buffer, a status byte or the used ring
 * after it, whatever the engine. */
static void reset_leaves_no_write_behind(void **state)
{
	struct fixture *f = *state;
	const unsigned n = 20;
	uint16_t used_after;

	fill_image_blocks(f, n);
	start_device(f, false);
	for (unsigned i = 0; i < n; i++)
		request(f, i, VIRTIO_BLK_T_IN, 128ULL * i, 65536, true);
	driver_kick(&f->driver, 0);
	usleep(500);
	pthread_mutex_lock(&f->vdev->lock);
	virtio_device_write_status(f->vdev, 0);
	pthread_mutex_unlock(&f->vdev->lock);
	used_after = driver_used_idx(&f->driver, 0);
	for (unsigned i = 0; i < n; i++) {
		memset(slot_data(f, i), 0xee, 65536);
		*(uint8_t *)gpa(f, STATUS_GPA + i, 1) = 0xee;
	}
	usleep(20000);
	assert_int_equal(driver_used_idx(&f->driver, 0), used_after);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *data = slot_data(f, i);

		assert_int_equal(data[0], 0xee);
		assert_int_equal(data[65535], 0xee);
		assert_int_equal(slot_status(f, i), 0xee);
	}
}

#define THREADS(test)                                                          \
	{                                                                      \
		"threads/" #test, test, setup_threads, teardown, NULL          \
	}
#define BOTH(test) {#test, test, setup, teardown, NULL}, THREADS(test)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			rate_limited_requests_wait_in_the_ring, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			an_oversized_request_is_served_then_paid_for, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			an_update_frees_a_throttled_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(
			the_saved_state_carries_the_limiter, setup, teardown),
		cmocka_unit_test_setup_teardown(config_space_describes_the_disk,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			many_writes_in_flight_then_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(
			get_id_and_unknown_and_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(
			write_zeroes_and_discard_reach_the_image, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			odd_sized_image_ends_at_its_last_whole_sector, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			readonly_disk_fails_writes_and_keeps_going, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			event_idx_driver_keeps_getting_answers, setup,
			teardown),
		cmocka_unit_test_setup_teardown(broken_ring_sets_needs_reset,
						setup, teardown),
		cmocka_unit_test_setup_teardown(reset_with_requests_in_flight,
						setup, teardown),
		/* The default engine above; the threads engine's workers
		 * complete out of order, concurrently with the I/O thread. */
		THREADS(many_writes_in_flight_then_read_back),
		BOTH(reads_in_flight_each_answered_once),
		BOTH(reset_leaves_no_write_behind),
		THREADS(reset_with_requests_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
