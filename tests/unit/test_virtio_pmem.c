/* virtio-pmem against rings built by hand in guest memory, playing the
 * driver: the host file mapped with a zero tail up to 2 MiB, config space
 * (start, size), flush requests answered, and hostile chains (short,
 * unknown type, no room for the answer) answered with an error and
 * counted, never crashing; the saved range checked on restore; flushes
 * over the rate limiter wait in the ring for its timer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_pmem.h>
#include <linux/virtio_ring.h>

#include "arch/x86/layout.h"
#include "memory/guest_memory.h"
#include "virtio/virtio_pmem.h"
#include "unit/virtio_test_driver.h"

#define QSIZE 16
#define RING_GPA 0x100000ULL
#define DATA_GPA 0x400000ULL
#define PMEM_GPA (4ULL << 30)

struct fixture {
	struct guest_memory mem;
	struct virtio_device *vdev;
	struct test_driver driver;
	char path[64];
	const struct rate_limiter_config *limit; /* NULL: none */
};

static struct fixture *create_limited(bool readonly,
				      const struct rate_limiter_config *limit)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct virtio_pmem_mapping mapping;
	struct tern_error err;
	int fd;

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/test_pmem.XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MiB(3) + 100), 0);
	assert_int_equal(pwrite(fd, "host", 4, 0), 4);
	close(fd);
	assert_int_equal(guest_memory_init(&f->mem, MiB(64)), 0);
	assert_int_equal(
		virtio_pmem_map_file(f->path, readonly, &mapping, &err), 0);
	assert_int_equal(mapping.size, MiB(4));
	assert_int_equal(mapping.file_size, MiB(3) + 100);
	assert_memory_equal(mapping.hva, "host", 4);
	/* Past the file's end: zeros, not SIGBUS. */
	assert_int_equal(mapping.hva[MiB(4) - 1], 0);
	f->limit = limit;
	f->vdev = limit ? virtio_pmem_create_limited(&mapping, PMEM_GPA, limit)
			: virtio_pmem_create(&mapping, PMEM_GPA);
	assert_non_null(f->vdev);
	assert_int_equal(mapping.fd, -1); /* taken over */
	assert_int_equal(virtio_device_start(f->vdev, &f->mem), 0);
	driver_init(&f->driver, &f->mem, f->vdev);
	driver_lay_out_queue(&f->driver, 0, RING_GPA, QSIZE);
	return f;
}

static struct fixture *create(bool readonly)
{
	return create_limited(readonly, NULL);
}

static int setup(void **state)
{
	*state = create(false);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_device_destroy(f->vdev);
	guest_memory_destroy(&f->mem);
	unlink(f->path);
	free(f);
	return 0;
}

static void bring_up(struct fixture *f)
{
	driver_bring_up_queues_last(&f->driver, 1ULL << VIRTIO_F_VERSION_1);
}

static uint32_t *response(struct fixture *f)
{
	return guest_memory_ptr(&f->mem, DATA_GPA + 0x100, 4);
}

/* A well-formed flush: the request, then a writable response. */
static void send_request(struct fixture *f, uint32_t type)
{
	*(uint32_t *)guest_memory_ptr(&f->mem, DATA_GPA, 4) = type;
	*response(f) = 0xdead;
	driver_set_desc(&f->driver, 0, 0, DATA_GPA, 4, VRING_DESC_F_NEXT, 1);
	driver_set_desc(&f->driver, 0, 1, DATA_GPA + 0x100, 4,
			VRING_DESC_F_WRITE, 0);
	driver_offer_and_notify(&f->driver, 0, 0);
}

static void config_space_says_where_the_range_is(void **state)
{
	struct fixture *f = *state;
	struct virtio_pmem_config config;

	f->vdev->ops->config_read(f->vdev, 0, &config, sizeof(config));
	assert_int_equal(config.start, PMEM_GPA);
	assert_int_equal(config.size, MiB(4));
	assert_int_equal(f->vdev->ops->device_id, 27);
}

static void flush_is_answered_with_success(void **state)
{
	struct fixture *f = *state;

	bring_up(f);
	send_request(f, VIRTIO_PMEM_REQ_TYPE_FLUSH);
	assert_int_equal(driver_used_idx(&f->driver, 0), 1);
	assert_int_equal(driver_last_used_len(&f->driver, 0), 4);
	assert_int_equal(*response(f), 0);
	assert_int_equal(f->vdev->stats.requests, 1);
	assert_int_equal(f->vdev->stats.errors, 0);
}

static void hostile_requests_are_answered_with_errors(void **state)
{
	struct fixture *f = *state;

	bring_up(f);
	/* An unknown type. */
	send_request(f, 7);
	assert_int_equal(driver_used_idx(&f->driver, 0), 1);
	assert_int_equal(*response(f), 1);
	/* A request shorter than its type field. */
	driver_set_desc(&f->driver, 0, 0, DATA_GPA, 2, VRING_DESC_F_NEXT, 1);
	driver_set_desc(&f->driver, 0, 1, DATA_GPA + 0x100, 4,
			VRING_DESC_F_WRITE, 0);
	*response(f) = 0xdead;
	driver_offer_and_notify(&f->driver, 0, 0);
	assert_int_equal(driver_used_idx(&f->driver, 0), 2);
	assert_int_equal(*response(f), 1);
	/* No room for the answer: handed back with nothing written. */
	driver_set_desc(&f->driver, 0, 0, DATA_GPA, 4, 0, 0);
	driver_offer_and_notify(&f->driver, 0, 0);
	assert_int_equal(driver_used_idx(&f->driver, 0), 3);
	assert_int_equal(driver_last_used_len(&f->driver, 0), 0);
	assert_int_equal(f->vdev->stats.errors, 3);
	/* A descriptor outside guest RAM breaks the ring: NEEDS_RESET, no
	 * crash, nothing written. */
	driver_set_desc(&f->driver, 0, 0, GiB(1), 4, VRING_DESC_F_NEXT, 1);
	driver_offer_and_notify(&f->driver, 0, 0);
	assert_int_equal(driver_used_idx(&f->driver, 0), 3);
	assert_true(f->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(f->vdev->stats.requests, 3);
}

/* The saved range must be this device's range: a file that changed size
 * between snapshot and load is refused. */
static void saved_range_is_checked_on_restore(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256];
	size_t len = sizeof(buf);
	uint64_t *words = (uint64_t *)buf;

	assert_int_equal(f->vdev->ops->save(f->vdev, buf, &len), 0);
	assert_int_equal(len, 16 + sizeof(struct rate_limiter_state));
	assert_int_equal(f->vdev->ops->check(f->vdev, buf, len), 0);
	assert_int_equal(f->vdev->ops->restore(f->vdev, buf, len), 0);
	/* A state from before pmem limiters: the range alone. */
	assert_int_equal(f->vdev->ops->check(f->vdev, buf, 16), 0);
	assert_int_equal(f->vdev->ops->restore(f->vdev, buf, 16), 0);
	words[1] += MiB(2);
	assert_int_not_equal(f->vdev->ops->check(f->vdev, buf, len), 0);
	assert_int_not_equal(f->vdev->ops->check(f->vdev, buf, 16), 0);
	assert_int_not_equal(f->vdev->ops->check(f->vdev, buf, 8), 0);
	len = 8;
	assert_int_not_equal(f->vdev->ops->save(f->vdev, buf, &len), 0);
}

/* The saved limiter comes back in a device made without one, and a
 * corrupt one is refused. */
static void the_saved_state_carries_the_limiter(void **state)
{
	static const struct rate_limiter_config limit = {.ops = {7, 3, 250}};
	struct fixture *f = create_limited(false, &limit);
	struct fixture *plain = *state;
	struct rate_limiter_state again;
	uint8_t buf[256], buf2[256];
	size_t len = sizeof(buf), len2 = sizeof(buf2);

	assert_int_equal(f->vdev->ops->save(f->vdev, buf, &len), 0);
	assert_int_equal(plain->vdev->ops->restore(plain->vdev, buf, len), 0);
	assert_int_equal(plain->vdev->ops->save(plain->vdev, buf2, &len2), 0);
	assert_int_equal(len2, len);
	memcpy(&again, buf2 + 16, sizeof(again));
	assert_int_equal(again.ops.size, 7);
	assert_int_equal(again.ops.one_time_burst, 3);
	assert_int_equal(again.ops.refill_time_ms, 250);
	again.ops.budget = 8; /* more than the bucket holds */
	memcpy(buf + 16, &again, sizeof(again));
	assert_int_equal(plain->vdev->ops->check(plain->vdev, buf, len),
			 -EINVAL);
	assert_int_equal(plain->vdev->ops->check(plain->vdev, buf, len - 1),
			 -EINVAL);
	teardown((void **)&f);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Flush n on descriptors 2n, 2n+1 with its own answer slot. */
static void offer_flush(struct fixture *f, unsigned n)
{
	uint64_t req = DATA_GPA + 0x1000 * (n + 1);

	*(uint32_t *)guest_memory_ptr(&f->mem, req, 4) =
		VIRTIO_PMEM_REQ_TYPE_FLUSH;
	*(uint32_t *)guest_memory_ptr(&f->mem, req + 0x100, 4) = 0xdead;
	driver_set_desc(&f->driver, 0, 2 * n, req, 4, VRING_DESC_F_NEXT,
			(uint16_t)(2 * n + 1));
	driver_set_desc(&f->driver, 0, 2 * n + 1, req + 0x100, 4,
			VRING_DESC_F_WRITE, 0);
	driver_offer_and_notify(&f->driver, 0, (uint16_t)(2 * n));
}

/* One op per 300 ms: the first flush is answered at once, the second
 * waits in the ring until the limiter's timer fires, then is answered. */
static void a_flush_over_the_limit_waits_for_the_timer(void **state)
{
	static const struct rate_limiter_config limit = {.ops = {1, 0, 300}};
	struct fixture *f = create_limited(false, &limit);
	uint64_t start;

	*state = f;
	bring_up(f);
	start = now_ms();
	offer_flush(f, 0);
	assert_int_equal(driver_used_idx(&f->driver, 0), 1);
	offer_flush(f, 1);
	usleep(50000);
	assert_int_equal(driver_used_idx(&f->driver, 0), 1);
	assert_int_equal(
		*(uint32_t *)guest_memory_ptr(&f->mem, DATA_GPA + 0x2100, 4),
		0xdead);
	assert_true(f->vdev->stats.rate_limiter_throttled > 0);
	assert_true(driver_wait_used_idx(&f->driver, 0, 2));
	assert_true(now_ms() - start >= 250);
	assert_int_equal(
		*(uint32_t *)guest_memory_ptr(&f->mem, DATA_GPA + 0x2100, 4),
		0);
	assert_int_equal(f->vdev->stats.requests, 2);
}

/* The byte bucket is charged the file's size per flush: a bucket of
 * one file's bytes lets one flush through, then holds the next; an
 * update turning the bucket off frees it. */
static void a_flush_costs_the_file_size_and_an_update_frees_it(void **state)
{
	static const struct rate_limiter_config limit = {
		.bandwidth = {MiB(3) + 100, 0, 100000}};
	struct rate_limiter_update off = {.set_bandwidth = true};
	struct fixture *f = create_limited(false, &limit);

	*state = f;
	bring_up(f);
	offer_flush(f, 0);
	assert_int_equal(driver_used_idx(&f->driver, 0), 1);
	offer_flush(f, 1);
	usleep(50000);
	/* the next waits 100 s */
	assert_int_equal(driver_used_idx(&f->driver, 0), 1);
	pthread_mutex_lock(&f->vdev->lock);
	assert_int_equal(f->vdev->ops->update_rate_limiter(f->vdev, 0, &off),
			 0);
	assert_int_equal(f->vdev->ops->update_rate_limiter(f->vdev, 1, &off),
			 -ENOENT);
	pthread_mutex_unlock(&f->vdev->lock);
	assert_true(driver_wait_used_idx(&f->driver, 0, 2));
}

static void files_that_cannot_be_shown_are_refused(void **state)
{
	struct virtio_pmem_mapping mapping;
	struct tern_error err;
	char path[] = "/tmp/test_pmem_empty.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	assert_int_not_equal(virtio_pmem_map_file(path, false, &mapping, &err),
			     0);
	assert_non_null(strstr(err.message, "regular file"));
	unlink(path);
	assert_int_not_equal(
		virtio_pmem_map_file("/tmp", false, &mapping, &err), 0);
	assert_int_not_equal(
		virtio_pmem_map_file("/nonexistent/x", true, &mapping, &err),
		0);
}

/* Read-only: a private read-only mapping; a flush has nothing to do. */
static void read_only_file_is_mapped_read_only(void **state)
{
	struct fixture *f = create(true);

	bring_up(f);
	send_request(f, VIRTIO_PMEM_REQ_TYPE_FLUSH);
	assert_int_equal(*response(f), 0);
	*state = f;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(config_space_says_where_the_range_is),
		T(flush_is_answered_with_success),
		T(hostile_requests_are_answered_with_errors),
		T(saved_range_is_checked_on_restore),
		T(the_saved_state_carries_the_limiter),
		cmocka_unit_test_teardown(
			a_flush_over_the_limit_waits_for_the_timer, teardown),
		cmocka_unit_test_teardown(
			a_flush_costs_the_file_size_and_an_update_frees_it,
			teardown),
		cmocka_unit_test(files_that_cannot_be_shown_are_refused),
		cmocka_unit_test_teardown(read_only_file_is_mapped_read_only,
					  teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
