/* virtio-balloon against rings built by hand in guest memory, playing the
 * driver: which host ranges inflating and free page reporting would give
 * back (the release function is replaced by a recorder), statistics kept
 * and their buffer handed back, the target and config space, free page
 * hinting's command ids and ranges, the queue numbers for every feature
 * combination, save/restore, and hostile buffers that must release nothing
 * and break nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "arch/x86/layout.h"
#include "memory/guest_memory.h"
#include "virtio/virtio_balloon.h"
#include "unit/virtio_test_driver.h"

#define QSIZE 16
#define RING_GPA(q) (0x100000ULL + 0x10000ULL * (q))
#define DATA_GPA 0x400000ULL
/* RAM on both sides of the MMIO hole. */
#define RAM_SIZE (LAYOUT_MMIO_HOLE_START + MiB(64))
#define PAGE 4096ULL

struct release {
	uint64_t gpa, len;
};

struct fixture {
	struct guest_memory mem;
	struct virtio_device *vdev;
	struct test_driver driver;
	struct release released[64];
	int release_count;
};

static int record_release(void *opaque, uint64_t gpa, void *hva, uint64_t len)
{
	struct fixture *f = opaque;

	/* What would be madvised is exactly guest RAM at gpa. */
	assert_ptr_equal(hva, guest_memory_ptr(&f->mem, gpa, len));
	assert_int_equal(gpa % PAGE, 0);
	assert_int_equal(len % PAGE, 0);
	if (f->release_count < 64)
		f->released[f->release_count] = (struct release){gpa, len};
	f->release_count++;
	return 0;
}

static struct fixture *create(struct virtio_balloon_options options)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(guest_memory_init(&f->mem, RAM_SIZE), 0);
	f->vdev = virtio_balloon_create(&options);
	assert_non_null(f->vdev);
	virtio_balloon_set_release(f->vdev, record_release, f);
	/* The I/O thread gives activate its epoll set (stats timer). */
	assert_int_equal(virtio_device_start(f->vdev, &f->mem), 0);
	driver_init(&f->driver, &f->mem, f->vdev);
	for (uint16_t q = 0; q < f->vdev->queue_count; q++)
		driver_lay_out_queue(&f->driver, q, RING_GPA(q), QSIZE);
	return f;
}

static int setup(void **state)
{
	*state = create((struct virtio_balloon_options){
		.target_bytes = MiB(32),
		.stats_interval_s = 3600, /* tests hand it back by hand */
		.free_page_reporting = true,
	});
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_device_destroy(f->vdev);
	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

/* Queues are enabled after DRIVER_OK so that the core's start-up kick
 * finds none and every queue_notify in a test is the test's own. */
static void bring_up(struct fixture *f, uint64_t features)
{
	driver_bring_up_queues_last(&f->driver,
				    features | 1ULL << VIRTIO_F_VERSION_1);
}

/* One-descriptor buffer of PFNs at DATA_GPA + slot * 64 KiB. */
static void send_pfns(struct fixture *f, unsigned q, unsigned slot,
		      const uint32_t *pfns, uint32_t bytes)
{
	uint64_t gpa = DATA_GPA + slot * 0x10000ULL;

	if (bytes)
		memcpy(guest_memory_ptr(&f->mem, gpa, bytes), pfns, bytes);
	driver_set_desc(&f->driver, q, slot, gpa, bytes, 0, 0);
	driver_offer_and_notify(&f->driver, q, (uint16_t)slot);
}

static struct virtio_balloon_info info(struct fixture *f)
{
	struct virtio_balloon_info i;

	virtio_balloon_get_info(f->vdev, &i);
	return i;
}

static bool needs_reset(struct fixture *f)
{
	return f->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET;
}

static void inflate_releases_sorted_runs_once_each(void **state)
{
	struct fixture *f = *state;
	/* Unsorted, with a duplicate: runs 0x100-0x102 and 0x104-0x105. */
	uint32_t pfns[] = {0x105, 0x100, 0x101, 0x102, 0x104, 0x101};
	uint64_t gpa = DATA_GPA;

	bring_up(f, 0);
	/* The array split across two descriptors in the middle of a PFN. */
	memcpy(guest_memory_ptr(&f->mem, gpa, sizeof(pfns)), pfns,
	       sizeof(pfns));
	driver_set_desc(&f->driver, 0, 0, gpa, 6, VRING_DESC_F_NEXT, 1);
	driver_set_desc(&f->driver, 0, 1, gpa + 6, sizeof(pfns) - 6, 0, 0);
	driver_offer_and_notify(&f->driver, 0, 0);

	assert_int_equal(driver_used_idx(&f->driver, 0), 1);
	assert_int_equal(f->release_count, 2);
	assert_int_equal(f->released[0].gpa, 0x100 * PAGE);
	assert_int_equal(f->released[0].len, 3 * PAGE);
	assert_int_equal(f->released[1].gpa, 0x104 * PAGE);
	assert_int_equal(f->released[1].len, 2 * PAGE);
	assert_int_equal(info(f).inflated_pages, 5);
	assert_int_equal(info(f).released_bytes, 5 * PAGE);
	assert_int_equal(info(f).release_calls, 2);
	assert_int_equal(info(f).requests, 1);
	assert_int_equal(info(f).errors, 0);
}

static void pages_beside_the_mmio_hole_are_released_per_region(void **state)
{
	struct fixture *f = *state;
	uint32_t pfns[] = {
		(uint32_t)(LAYOUT_MMIO_HOLE_START / PAGE) - 1,
		(uint32_t)(LAYOUT_MMIO_HOLE_END / PAGE),
	};

	bring_up(f, 0);
	send_pfns(f, 0, 0, pfns, sizeof(pfns));
	assert_int_equal(f->release_count, 2);
	assert_int_equal(f->released[0].gpa, LAYOUT_MMIO_HOLE_START - PAGE);
	assert_int_equal(f->released[1].gpa, LAYOUT_MMIO_HOLE_END);
	assert_int_equal(info(f).inflated_pages, 2);
}

static void deflate_releases_nothing_and_counts(void **state)
{
	struct fixture *f = *state;
	uint32_t pfns[] = {0x200, 0x201, 0x300};

	bring_up(f, 0);
	send_pfns(f, 1, 0, pfns, sizeof(pfns));
	assert_int_equal(driver_used_idx(&f->driver, 1), 1);
	assert_int_equal(f->release_count, 0);
	assert_int_equal(info(f).deflated_pages, 3);
	assert_int_equal(info(f).inflated_pages, 0);
}

static void hostile_inflate_buffers_release_nothing(void **state)
{
	struct fixture *f = *state;
	uint32_t beyond_ram = (uint32_t)((RAM_SIZE + MiB(512)) / PAGE);
	uint32_t in_hole = (uint32_t)(LAYOUT_PCI_MMIO_GPA / PAGE);
	uint32_t odd[3] = {0x100, 0x101, 0x102};
	uint32_t outside[] = {0x100, beyond_ram};
	uint32_t hole[] = {in_hole, 0x101};
	uint32_t top[] = {0xffffffffU};
	static uint32_t huge[VIRTIO_BALLOON_MAX_PFNS_PER_BUFFER + 1];
	uint32_t good[] = {0x180};
	unsigned slot = 0;

	bring_up(f, 0);
	for (size_t i = 0; i < sizeof(huge) / 4; i++)
		huge[i] = 0x100 + (uint32_t)i;
	send_pfns(f, 0, slot++, odd, 10); /* not a multiple of 4 */
	send_pfns(f, 0, slot++, outside, sizeof(outside));
	send_pfns(f, 0, slot++, hole, sizeof(hole));
	send_pfns(f, 0, slot++, top, sizeof(top));
	/* Longer than the device takes: refused, not truncated. */
	driver_set_desc(&f->driver, 0, slot, DATA_GPA + 0x100000, sizeof(huge),
			0, 0);
	memcpy(guest_memory_ptr(&f->mem, DATA_GPA + 0x100000, sizeof(huge)),
	       huge, sizeof(huge));
	driver_offer_and_notify(&f->driver, 0, (uint16_t)slot++);

	assert_int_equal(f->release_count, 0);
	assert_int_equal(info(f).errors, 5);
	assert_int_equal(info(f).inflated_pages, 0);
	/* Each bad buffer was still returned, and the device goes on. */
	assert_int_equal(driver_used_idx(&f->driver, 0), 5);
	assert_false(needs_reset(f));
	send_pfns(f, 0, slot++, good, sizeof(good));
	assert_int_equal(f->release_count, 1);
	assert_int_equal(f->released[0].gpa, 0x180 * PAGE);
	/* An empty buffer is no error and releases nothing. */
	send_pfns(f, 0, slot++, NULL, 0);
	assert_int_equal(f->release_count, 1);
	assert_int_equal(info(f).errors, 5);
}

/* Stats buffer of (tag, value) pairs at `gpa`, packed as in spec 5.5.6.3. */
static uint32_t write_stats(struct fixture *f, uint64_t gpa,
			    const uint16_t *tags, const uint64_t *values,
			    int count)
{
	uint8_t *p = guest_memory_ptr(&f->mem, gpa, 10ULL * count);

	for (int i = 0; i < count; i++) {
		memcpy(p + 10 * i, &tags[i], 2);
		memcpy(p + 10 * i + 2, &values[i], 8);
	}
	return 10U * (uint32_t)count;
}

static void stats_are_kept_and_the_buffer_handed_back(void **state)
{
	struct fixture *f = *state;
	uint16_t tags[] = {VIRTIO_BALLOON_S_MEMFREE, VIRTIO_BALLOON_S_MEMTOT,
			   99};
	uint64_t values[] = {123 * MiB(1), 456 * MiB(1), 7};
	unsigned q = 2; /* inflate, deflate, stats */
	struct virtio_balloon_info i;
	uint32_t len;

	bring_up(f, 1ULL << VIRTIO_BALLOON_F_STATS_VQ);
	len = write_stats(f, DATA_GPA, tags, values, 3);
	driver_set_desc(&f->driver, q, 0, DATA_GPA, len, 0, 0);
	driver_offer_and_notify(&f->driver, q, 0);
	/* Held: the device keeps the buffer until it wants new values. */
	assert_int_equal(driver_used_idx(&f->driver, q), 0);
	i = info(f);
	assert_true(i.stats_negotiated);
	assert_int_equal(i.stats_valid,
			 (1U << VIRTIO_BALLOON_S_MEMFREE) |
				 (1U << VIRTIO_BALLOON_S_MEMTOT));
	assert_int_equal(i.stats[VIRTIO_BALLOON_S_MEMFREE], 123 * MiB(1));
	assert_int_equal(i.stats[VIRTIO_BALLOON_S_MEMTOT], 456 * MiB(1));
	assert_int_equal(i.stats_updates, 1);
	assert_true(i.stats_updated_ns > 0);

	virtio_balloon_request_stats(f->vdev);
	assert_int_equal(driver_used_idx(&f->driver, q), 1);
	virtio_balloon_request_stats(f->vdev); /* nothing held: no-op */
	assert_int_equal(driver_used_idx(&f->driver, q), 1);

	/* The driver refills it; a malformed length keeps the old values
	 * but the buffer is still held and handed back. */
	values[0] = 100 * MiB(1);
	write_stats(f, DATA_GPA, tags, values, 3);
	driver_set_desc(&f->driver, q, 0, DATA_GPA, 15, 0, 0);
	driver_offer_and_notify(&f->driver, q, 0);
	assert_int_equal(info(f).stats[VIRTIO_BALLOON_S_MEMFREE], 123 * MiB(1));
	assert_int_equal(info(f).errors, 1);
	virtio_balloon_request_stats(f->vdev);
	assert_int_equal(driver_used_idx(&f->driver, q), 2);

	driver_set_desc(&f->driver, q, 0, DATA_GPA, len, 0, 0);
	driver_offer_and_notify(&f->driver, q, 0);
	assert_int_equal(info(f).stats[VIRTIO_BALLOON_S_MEMFREE], 100 * MiB(1));
	assert_string_equal(virtio_balloon_stat_name(VIRTIO_BALLOON_S_MEMFREE),
			    "free-memory");
	assert_null(virtio_balloon_stat_name(VIRTIO_BALLOON_STAT_TAGS));
}

static void stats_timer_hands_the_buffer_back(void **state)
{
	struct fixture *f = create((struct virtio_balloon_options){
		.stats_interval_s = 1,
	});
	uint16_t tag = VIRTIO_BALLOON_S_MEMFREE;
	uint64_t value = 1;

	*state = f;
	bring_up(f, 1ULL << VIRTIO_BALLOON_F_STATS_VQ);
	driver_set_desc(&f->driver, 2, 0, DATA_GPA,
			write_stats(f, DATA_GPA, &tag, &value, 1), 0, 0);
	driver_offer_and_notify(&f->driver, 2, 0);
	assert_int_equal(driver_used_idx(&f->driver, 2), 0);
	assert_true(driver_wait_used_idx(&f->driver, 2, 1));
}

static void stats_interval_changes_at_run_time(void **state)
{
	struct fixture *f = *state;
	struct virtio_balloon_options plain = {0};
	struct virtio_device *without = virtio_balloon_create(&plain);
	uint16_t tag = VIRTIO_BALLOON_S_MEMFREE;
	uint64_t value = 1;

	assert_non_null(without);
	assert_int_equal(virtio_balloon_set_stats_interval(without, 1),
			 -ENOTSUP);
	virtio_device_destroy(without);
	assert_int_equal(virtio_balloon_set_stats_interval(f->vdev, 86401),
			 -EINVAL);

	/* Held for an hour, then the interval drops to 1 s: handed back. */
	bring_up(f, 1ULL << VIRTIO_BALLOON_F_STATS_VQ);
	driver_set_desc(&f->driver, 2, 0, DATA_GPA,
			write_stats(f, DATA_GPA, &tag, &value, 1), 0, 0);
	driver_offer_and_notify(&f->driver, 2, 0);
	assert_int_equal(virtio_balloon_set_stats_interval(f->vdev, 1), 0);
	assert_int_equal(info(f).stats_interval_s, 1);
	assert_true(driver_wait_used_idx(&f->driver, 2, 1));
}

static void reporting_releases_whole_pages_inside_ranges(void **state)
{
	struct fixture *f = *state;
	unsigned q = 2; /* no statistics negotiated: reporting is queue 2 */

	bring_up(f, 1ULL << VIRTIO_BALLOON_F_REPORTING);
	assert_true(info(f).reporting_negotiated);
	assert_false(info(f).stats_negotiated);
	driver_set_desc(&f->driver, q, 0, MiB(2), MiB(2),
			VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	/* Unaligned: only the one whole page inside is released. */
	driver_set_desc(&f->driver, q, 1, MiB(3) + 0x800, 0x2000,
			VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	/* No whole page inside: nothing. */
	driver_set_desc(&f->driver, q, 2, MiB(4) + 0x100, 0x100,
			VRING_DESC_F_WRITE, 0);
	driver_offer_and_notify(&f->driver, q, 0);

	assert_int_equal(driver_used_idx(&f->driver, q), 1);
	assert_int_equal(f->release_count, 2);
	assert_int_equal(f->released[0].gpa, MiB(2));
	assert_int_equal(f->released[0].len, MiB(2));
	assert_int_equal(f->released[1].gpa, MiB(3) + PAGE);
	assert_int_equal(f->released[1].len, PAGE);
	assert_int_equal(info(f).reported_bytes, MiB(2) + PAGE);
	assert_int_equal(info(f).inflated_pages, 0);

	/* Queue 3 exists (statistics were offered) but has no role without
	 * them: its buffers are returned untouched and counted as errors. */
	driver_set_desc(&f->driver, 3, 0, MiB(8), MiB(2), VRING_DESC_F_WRITE,
			0);
	driver_offer_and_notify(&f->driver, 3, 0);
	assert_int_equal(driver_used_idx(&f->driver, 3), 1);
	assert_int_equal(f->release_count, 2);
	assert_int_equal(info(f).errors, 1);
	assert_false(needs_reset(f));
}

/* hugetlbfs RAM (machine-config.huge_pages 2M) gives back only whole 2 MiB
 * pages: the kernel refuses MADV_DONTNEED on part of one, so 4 KiB inflated
 * pages stay, and a reported range shrinks to the huge pages inside it. */
static void hugetlb_ram_releases_only_whole_huge_pages(void **state)
{
	struct fixture *f = *state;
	uint32_t pfns[] = {0x100, 0x101, 0x102};
	unsigned q = 2;

	f->mem.backing = GUEST_MEMORY_HUGETLB_2M;
	bring_up(f, 1ULL << VIRTIO_BALLOON_F_REPORTING);
	send_pfns(f, 0, 0, pfns, sizeof(pfns));
	assert_int_equal(f->release_count, 0);
	assert_int_equal(info(f).inflated_pages, 3);
	assert_int_equal(info(f).released_bytes, 0);

	driver_set_desc(&f->driver, q, 0, MiB(2) + PAGE, MiB(4),
			VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	driver_set_desc(&f->driver, q, 1, MiB(8), MiB(2), VRING_DESC_F_WRITE,
			0);
	driver_offer_and_notify(&f->driver, q, 0);
	assert_int_equal(f->release_count, 2);
	assert_int_equal(f->released[0].gpa, MiB(4));
	assert_int_equal(f->released[0].len, MiB(2));
	assert_int_equal(f->released[1].gpa, MiB(8));
	assert_int_equal(f->released[1].len, MiB(2));
	assert_int_equal(info(f).reported_bytes, MiB(4));
	assert_int_equal(info(f).errors, 0);
}

static void reporting_follows_stats_when_both_are_negotiated(void **state)
{
	struct fixture *f = *state;

	bring_up(f,
		 (1ULL << VIRTIO_BALLOON_F_STATS_VQ) |
			 (1ULL << VIRTIO_BALLOON_F_REPORTING));
	driver_set_desc(&f->driver, 3, 0, MiB(2), MiB(2), VRING_DESC_F_WRITE,
			0);
	driver_offer_and_notify(&f->driver, 3, 0);
	assert_int_equal(f->release_count, 1);
	assert_int_equal(info(f).reported_bytes, MiB(2));
}

static void reported_range_outside_ram_releases_nothing(void **state)
{
	struct fixture *f = *state;

	bring_up(f, 1ULL << VIRTIO_BALLOON_F_REPORTING);
	/* Runs from the last low page into the MMIO hole. */
	driver_set_desc(&f->driver, 2, 0, LAYOUT_MMIO_HOLE_START - PAGE,
			2 * PAGE, VRING_DESC_F_WRITE, 0);
	driver_offer_and_notify(&f->driver, 2, 0);
	assert_int_equal(f->release_count, 0);
	assert_true(needs_reset(f));
	/* Broken until reset: nothing more is served. */
	driver_notify(&f->driver, 2);
	assert_int_equal(f->release_count, 0);
}

static void reported_range_wrapping_around_releases_nothing(void **state)
{
	struct fixture *f = *state;

	bring_up(f, 1ULL << VIRTIO_BALLOON_F_REPORTING);
	driver_set_desc(&f->driver, 2, 0, 0xfffffffffffff000ULL, 0x2000,
			VRING_DESC_F_WRITE, 0);
	driver_offer_and_notify(&f->driver, 2, 0);
	assert_int_equal(f->release_count, 0);
	assert_true(needs_reset(f));
}

static uint32_t config_u32(struct fixture *f, uint32_t offset)
{
	uint32_t v;

	pthread_mutex_lock(&f->vdev->lock);
	virtio_device_config_read(f->vdev, offset, &v, 4);
	pthread_mutex_unlock(&f->vdev->lock);
	return v;
}

static void target_and_actual_in_config_space(void **state)
{
	struct fixture *f = *state;
	uint32_t actual = 0x3e8, num_pages = 1;
	uint32_t generation;
	uint8_t byte = 0x12;

	bring_up(f, 0);
	assert_int_equal(config_u32(f, 0), MiB(32) / PAGE);
	assert_int_equal(config_u32(f, 4), 0);
	pthread_mutex_lock(&f->vdev->lock);
	virtio_device_config_write(f->vdev, 4, &actual, 4);
	virtio_device_config_write(f->vdev, 0, &num_pages, 4); /* read-only */
	virtio_device_config_write(f->vdev, 5, &byte, 1); /* byte 1 of actual */
	pthread_mutex_unlock(&f->vdev->lock);
	assert_int_equal(config_u32(f, 0), MiB(32) / PAGE);
	assert_int_equal(config_u32(f, 4), 0x12e8);
	assert_int_equal(info(f).actual_bytes, (0x12e8) * PAGE);

	generation = f->vdev->config_generation;
	assert_int_equal(virtio_balloon_set_target(f->vdev, RAM_SIZE + PAGE),
			 -EINVAL);
	assert_int_equal(virtio_balloon_set_target(f->vdev, RAM_SIZE), -EINVAL);
	assert_int_equal(virtio_balloon_set_target(f->vdev, KiB(6)), -EINVAL);
	assert_int_equal(f->vdev->config_generation, generation);
	assert_int_equal(virtio_balloon_set_target(f->vdev, MiB(128)), 0);
	assert_int_equal(config_u32(f, 0), MiB(128) / PAGE);
	assert_int_equal(info(f).target_bytes, MiB(128));
	/* The driver is told: a config change (generation, interrupt). */
	assert_int_equal(f->vdev->config_generation, generation + 1);
	assert_int_equal(virtio_balloon_set_target(f->vdev, 0), 0);
	assert_int_equal(config_u32(f, 0), 0);
}

static void features_offered_follow_the_options(void **state)
{
	struct fixture *f = *state;
	struct virtio_balloon_options none = {0};
	struct virtio_balloon_options oom = {.deflate_on_oom = true};
	struct virtio_device *plain = virtio_balloon_create(&none);
	struct virtio_device *with_oom = virtio_balloon_create(&oom);
	uint64_t balloon_bits = 0x3f;

	assert_non_null(plain);
	assert_non_null(with_oom);
	assert_int_equal(f->vdev->device_features & balloon_bits,
			 (1ULL << VIRTIO_BALLOON_F_STATS_VQ) |
				 (1ULL << VIRTIO_BALLOON_F_REPORTING));
	assert_int_equal(f->vdev->queue_count, 4);
	assert_int_equal(plain->device_features & balloon_bits, 0);
	assert_int_equal(plain->queue_count, 2);
	assert_int_equal(with_oom->device_features & balloon_bits,
			 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	assert_int_equal(plain->ops->device_id, 5);
	virtio_device_destroy(plain);
	virtio_device_destroy(with_oom);
	/* A target that is not whole pages is refused at creation. */
	none.target_bytes = 100;
	assert_null(virtio_balloon_create(&none));
}

static void reset_drops_the_held_stats_buffer(void **state)
{
	struct fixture *f = *state;
	uint16_t tag = VIRTIO_BALLOON_S_MEMFREE;
	uint64_t value = 5;
	uint32_t actual = 77;

	bring_up(f, 1ULL << VIRTIO_BALLOON_F_STATS_VQ);
	driver_set_desc(&f->driver, 2, 0, DATA_GPA,
			write_stats(f, DATA_GPA, &tag, &value, 1), 0, 0);
	driver_offer_and_notify(&f->driver, 2, 0);
	pthread_mutex_lock(&f->vdev->lock);
	virtio_device_config_write(f->vdev, 4, &actual, 4);
	virtio_device_write_status(f->vdev, 0);
	pthread_mutex_unlock(&f->vdev->lock);
	/* No buffer held any more: asking for stats touches no ring. */
	virtio_balloon_request_stats(f->vdev);
	assert_int_equal(driver_used_idx(&f->driver, 2), 0);
	assert_int_equal(info(f).actual_bytes, 0);
	/* The host's target survives the driver's reset. */
	assert_int_equal(info(f).target_bytes, MiB(32));
	/* The last statistics stay readable. */
	assert_int_equal(info(f).stats[VIRTIO_BALLOON_S_MEMFREE], 5);
}

/* ---- free page hinting (spec 5.5.6.4) ---- */

#define HINT_BIT (1ULL << VIRTIO_BALLOON_F_FREE_PAGE_HINT)
#define STATS_BIT (1ULL << VIRTIO_BALLOON_F_STATS_VQ)
#define REPORT_BIT (1ULL << VIRTIO_BALLOON_F_REPORTING)
#define CMD_GPA (DATA_GPA + 0x200000)

static int setup_hinting(void **state)
{
	*state = create((struct virtio_balloon_options){
		.stats_interval_s = 3600,
		.free_page_hinting = true,
		.free_page_reporting = true,
	});
	return 0;
}

/* The driver's command id: a 4-byte device-readable buffer. */
static void send_cmd(struct fixture *f, unsigned q, unsigned slot, uint32_t cmd)
{
	uint64_t gpa = CMD_GPA + 8ULL * slot;

	memcpy(guest_memory_ptr(&f->mem, gpa, 4), &cmd, 4);
	driver_set_desc(&f->driver, q, slot, gpa, 4, 0, 0);
	driver_offer_and_notify(&f->driver, q, (uint16_t)slot);
}

/* One free block: a device-writable buffer. */
static void send_block(struct fixture *f, unsigned q, unsigned slot,
		       uint64_t gpa, uint32_t len)
{
	driver_set_desc(&f->driver, q, slot, gpa, len, VRING_DESC_F_WRITE, 0);
	driver_offer_and_notify(&f->driver, q, (uint16_t)slot);
}

static struct virtio_balloon_hint_status hint_status(struct fixture *f)
{
	struct virtio_balloon_hint_status st;

	assert_int_equal(virtio_balloon_hint_status(f->vdev, &st), 0);
	return st;
}

static void hinting_run_releases_blocks_and_acknowledges_stop(void **state)
{
	struct fixture *f = *state;
	unsigned q = 2; /* inflate, deflate, free page (no stats, reporting) */
	uint32_t generation;

	bring_up(f, HINT_BIT);
	assert_true(info(f).hinting_negotiated);
	assert_int_equal(f->vdev->config_size, 12);
	assert_int_equal(config_u32(f, 8), 0); /* STOP: nothing asked */
	assert_false(hint_status(f).guest_cmd_valid);

	/* A block before any run: the guest owns it, nothing released. */
	send_block(f, q, 0, MiB(8), MiB(4));
	assert_int_equal(driver_used_idx(&f->driver, q), 1);
	assert_int_equal(f->release_count, 0);

	generation = f->vdev->config_generation;
	assert_int_equal(virtio_balloon_hint_start(f->vdev, true), 0);
	assert_int_equal(config_u32(f, 8), 2);
	assert_int_equal(f->vdev->config_generation, generation + 1);
	assert_int_equal(hint_status(f).host_cmd, 2);
	/* Blocks before the guest's id for this run are not taken. */
	send_block(f, q, 1, MiB(8), MiB(4));
	assert_int_equal(f->release_count, 0);

	send_cmd(f, q, 2, 2);
	assert_int_equal(hint_status(f).guest_cmd, 2);
	assert_true(hint_status(f).guest_cmd_valid);
	send_block(f, q, 3, MiB(8), MiB(4));
	/* Unaligned: only the whole page inside. */
	send_block(f, q, 4, MiB(16) + 0x800, 0x2000);
	assert_int_equal(f->release_count, 2);
	assert_int_equal(f->released[0].gpa, MiB(8));
	assert_int_equal(f->released[0].len, MiB(4));
	assert_int_equal(f->released[1].gpa, MiB(16) + PAGE);
	assert_int_equal(f->released[1].len, PAGE);
	assert_int_equal(info(f).hinted_bytes, MiB(4) + PAGE);
	assert_int_equal(info(f).hint_ranges, 2);
	assert_int_equal(info(f).reported_bytes, 0);

	/* STOP with acknowledge_on_stop: DONE at once, the driver told. */
	generation = f->vdev->config_generation;
	send_cmd(f, q, 5, 0);
	assert_int_equal(hint_status(f).guest_cmd, 0);
	assert_int_equal(hint_status(f).host_cmd, 1);
	assert_int_equal(config_u32(f, 8), 1);
	assert_int_equal(f->vdev->config_generation, generation + 1);
	/* After DONE the guest uses its blocks again: none released. */
	send_block(f, q, 6, MiB(24), MiB(4));
	assert_int_equal(f->release_count, 2);
	assert_int_equal(driver_used_idx(&f->driver, q), 7);
	assert_int_equal(info(f).errors, 0);
	assert_false(needs_reset(f));
}

static void hinting_without_acknowledge_waits_for_stop(void **state)
{
	struct fixture *f = *state;
	unsigned q = 2;

	bring_up(f, HINT_BIT);
	assert_int_equal(virtio_balloon_hint_start(f->vdev, false), 0);
	send_cmd(f, q, 0, 2);
	send_cmd(f, q, 1, 0);
	/* The guest is done, the host keeps the run until it says stop. */
	assert_int_equal(hint_status(f).host_cmd, 2);
	assert_int_equal(hint_status(f).guest_cmd, 0);
	assert_int_equal(virtio_balloon_hint_stop(f->vdev), 0);
	assert_int_equal(hint_status(f).host_cmd, 1);
	assert_int_equal(config_u32(f, 8), 1);

	/* A new run gets a new id; a STOP closing an older run (the guest
	 * was still busy with it) does not end the new one, and that run's
	 * late blocks are not released. */
	assert_int_equal(virtio_balloon_hint_start(f->vdev, true), 0);
	assert_int_equal(hint_status(f).host_cmd, 3);
	assert_int_equal(virtio_balloon_hint_start(f->vdev, true), 0);
	assert_int_equal(hint_status(f).host_cmd, 4);
	send_cmd(f, q, 2, 3);
	send_block(f, q, 3, MiB(8), MiB(4));
	send_cmd(f, q, 4, 0);
	assert_int_equal(hint_status(f).host_cmd, 4);
	assert_int_equal(f->release_count, 0);
	send_cmd(f, q, 5, 4);
	send_block(f, q, 6, MiB(8), MiB(4));
	assert_int_equal(f->release_count, 1);
}

static void hostile_hint_buffers_release_nothing(void **state)
{
	struct fixture *f = *state;
	unsigned q = 2;
	uint32_t cmd = 2;
	uint64_t eight = 2;

	bring_up(f, HINT_BIT);
	assert_int_equal(virtio_balloon_hint_start(f->vdev, true), 0);
	/* Command ids of 3 and 8 bytes: not ids, counted, ignored. */
	memcpy(guest_memory_ptr(&f->mem, CMD_GPA, 4), &cmd, 4);
	driver_set_desc(&f->driver, q, 0, CMD_GPA, 3, 0, 0);
	driver_offer(&f->driver, q, 0);
	memcpy(guest_memory_ptr(&f->mem, CMD_GPA + 8, 8), &eight, 8);
	driver_set_desc(&f->driver, q, 1, CMD_GPA + 8, 8, 0, 0);
	driver_offer_and_notify(&f->driver, q, 1);
	assert_int_equal(info(f).errors, 2);
	assert_false(hint_status(f).guest_cmd_valid);
	send_block(f, q, 2, MiB(8), MiB(4));
	assert_int_equal(f->release_count, 0);

	/* The guest may not write the command id (config is the host's). */
	pthread_mutex_lock(&f->vdev->lock);
	virtio_device_config_write(f->vdev, 8, &cmd, 4);
	pthread_mutex_unlock(&f->vdev->lock);
	cmd = 0x1234;
	pthread_mutex_lock(&f->vdev->lock);
	virtio_device_config_write(f->vdev, 8, &cmd, 4);
	pthread_mutex_unlock(&f->vdev->lock);
	assert_int_equal(config_u32(f, 8), 2);
	/* No poison_val without PAGE_POISON: past the end reads zero. */
	assert_int_equal(config_u32(f, 12), 0);

	/* An id split over two descriptors is still one id; with a block
	 * in the same chain. A block with no whole page releases nothing. */
	cmd = 2;
	memcpy(guest_memory_ptr(&f->mem, CMD_GPA, 4), &cmd, 4);
	driver_set_desc(&f->driver, q, 3, CMD_GPA, 2, VRING_DESC_F_NEXT, 4);
	driver_set_desc(&f->driver, q, 4, CMD_GPA + 2, 2, VRING_DESC_F_NEXT, 5);
	driver_set_desc(&f->driver, q, 5, MiB(8) + 1, PAGE,
			VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 6);
	driver_set_desc(&f->driver, q, 6, MiB(12), MiB(1), VRING_DESC_F_WRITE,
			0);
	driver_offer_and_notify(&f->driver, q, 3);
	assert_int_equal(hint_status(f).guest_cmd, 2);
	assert_int_equal(f->release_count, 1);
	assert_int_equal(f->released[0].gpa, MiB(12));
	assert_int_equal(info(f).hint_ranges, 2);
	assert_false(needs_reset(f));

	/* A block running out of guest RAM (into the MMIO hole) or wrapping
	 * around: the ring walker refuses it, the device breaks, nothing
	 * more is released. */
	send_block(f, q, 7, LAYOUT_MMIO_HOLE_START - PAGE, 2 * PAGE);
	assert_true(needs_reset(f));
	send_block(f, q, 8, MiB(8), MiB(4));
	assert_int_equal(f->release_count, 1);
}

static void hinted_block_wrapping_around_releases_nothing(void **state)
{
	struct fixture *f = *state;

	bring_up(f, HINT_BIT);
	assert_int_equal(virtio_balloon_hint_start(f->vdev, true), 0);
	send_cmd(f, 2, 0, 2);
	send_block(f, 2, 1, 0xfffffffffffff000ULL, 0x2000);
	assert_int_equal(f->release_count, 0);
	assert_true(needs_reset(f));
}

static void hinting_refused_without_the_feature_or_driver(void **state)
{
	struct fixture *f = *state; /* setup: no hinting offered */
	struct virtio_balloon_options opts = {.free_page_hinting = true};
	struct virtio_device *hinting = virtio_balloon_create(&opts);
	struct virtio_balloon_hint_status st;

	assert_int_equal(virtio_balloon_hint_start(f->vdev, true), -ENOTSUP);
	assert_int_equal(virtio_balloon_hint_stop(f->vdev), -ENOTSUP);
	assert_int_equal(virtio_balloon_hint_status(f->vdev, &st), -ENOTSUP);
	assert_int_equal(f->vdev->config_size, 8);
	/* Offered, but the driver has not set DRIVER_OK. */
	assert_non_null(hinting);
	assert_int_equal(virtio_balloon_hint_start(hinting, true), -EAGAIN);
	assert_int_equal(virtio_balloon_hint_stop(hinting), -EAGAIN);
	assert_int_equal(virtio_balloon_hint_status(hinting, &st), 0);
	assert_int_equal(st.host_cmd, 0);
	virtio_device_destroy(hinting);
}

/* The queue each role gets for every combination of negotiated optional
 * queues (spec 5.5.2): inflate 0, deflate 1, then stats, free page,
 * reporting, each only when negotiated. */
static void queue_numbers_follow_negotiated_features(void **state)
{
	static const struct {
		uint64_t features;
		int stats, hint, report;
	} cases[] = {
		{0, -1, -1, -1},
		{STATS_BIT, 2, -1, -1},
		{HINT_BIT, -1, 2, -1},
		{REPORT_BIT, -1, -1, 2},
		{STATS_BIT | HINT_BIT, 2, 3, -1},
		{STATS_BIT | REPORT_BIT, 2, -1, 3},
		{HINT_BIT | REPORT_BIT, -1, 2, 3},
		{STATS_BIT | HINT_BIT | REPORT_BIT, 2, 3, 4},
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct fixture *f;
		unsigned released = 0;

		setup_hinting((void **)&f);
		bring_up(f, cases[c].features);
		assert_int_equal(f->vdev->queue_count, 5);
		assert_int_equal(info(f).stats_negotiated, cases[c].stats >= 0);
		assert_int_equal(info(f).hinting_negotiated,
				 cases[c].hint >= 0);
		assert_int_equal(info(f).reporting_negotiated,
				 cases[c].report >= 0);
		/* A block on every optional queue: only the hint queue's
		 * (during a run) and the reporting queue's are released,
		 * each once, counted where it belongs. */
		if (cases[c].hint >= 0) {
			assert_int_equal(
				virtio_balloon_hint_start(f->vdev, false), 0);
			send_cmd(f, (unsigned)cases[c].hint, 0, 2);
		}
		for (unsigned q = 2; q < 5; q++) {
			if ((int)q == cases[c].stats)
				continue; /* a stats buffer would be held */
			send_block(f, q, 1, MiB(8) + MiB(4) * q, MiB(4));
			if ((int)q == cases[c].hint ||
			    (int)q == cases[c].report)
				released++;
			assert_int_equal(f->release_count, released);
		}
		assert_int_equal(info(f).hinted_bytes,
				 cases[c].hint >= 0 ? MiB(4) : 0);
		assert_int_equal(info(f).reported_bytes,
				 cases[c].report >= 0 ? MiB(4) : 0);
		assert_false(needs_reset(f));
		teardown((void **)&f);
	}
}

static void hinting_state_survives_save_and_restore(void **state)
{
	struct fixture *f = *state;
	struct fixture *g;
	uint8_t buf[1024];
	size_t len = sizeof(buf);
	struct virtio_balloon_hint_status st;

	bring_up(f, STATS_BIT | HINT_BIT | REPORT_BIT);
	assert_int_equal(virtio_balloon_hint_start(f->vdev, false), 0);
	send_cmd(f, 3, 0, 2);
	pthread_mutex_lock(&f->vdev->lock);
	assert_int_equal(f->vdev->ops->save(f->vdev, buf, &len), 0);
	pthread_mutex_unlock(&f->vdev->lock);

	setup_hinting((void **)&g);
	assert_int_equal(g->vdev->ops->check(g->vdev, buf, len), 0);
	assert_int_equal(g->vdev->ops->restore(g->vdev, buf, len), 0);
	st = hint_status(g);
	/* The guest's last id survives; the run does not (as Firecracker:
	 * DONE, the guest may take its blocks back). */
	assert_int_equal(st.guest_cmd, 2);
	assert_true(st.guest_cmd_valid);
	assert_int_equal(st.host_cmd, 1);
	assert_int_equal(config_u32(g, 8), 1);
	assert_true(info(g).hinting_negotiated);
	/* Ids go on from the saved ones. */
	pthread_mutex_lock(&g->vdev->lock);
	g->vdev->status |= VIRTIO_CONFIG_S_DRIVER_OK;
	pthread_mutex_unlock(&g->vdev->lock);
	assert_int_equal(virtio_balloon_hint_start(g->vdev, true), 0);
	assert_int_equal(hint_status(g).host_cmd, 3);

	/* The state before hinting existed (its first 160 bytes, no
	 * hinting part) is refused where hinting is offered, and taken
	 * where it is not. */
	assert_int_equal(g->vdev->ops->check(g->vdev, buf, 160), -EINVAL);
	teardown((void **)&g);
	g = create((struct virtio_balloon_options){
		.stats_interval_s = 3600,
		.free_page_reporting = true,
	});
	bring_up(g, STATS_BIT | REPORT_BIT);
	len = sizeof(buf);
	pthread_mutex_lock(&g->vdev->lock);
	assert_int_equal(g->vdev->ops->save(g->vdev, buf, &len), 0);
	pthread_mutex_unlock(&g->vdev->lock);
	assert_int_equal(len, 184);
	assert_int_equal(g->vdev->ops->check(g->vdev, buf, 160), 0);
	assert_int_equal(g->vdev->ops->restore(g->vdev, buf, 160), 0);
	assert_int_equal(g->vdev->ops->check(g->vdev, buf, len), 0);
	/* A hint queue in a state for a device without hinting: refused. */
	buf[160] = 2;
	assert_int_equal(g->vdev->ops->check(g->vdev, buf, len), -EINVAL);
	teardown((void **)&g);

	/* A hint queue numbered as deflate or past the last, a flag that is
	 * not a bool, a length of neither format: refused. */
	len = sizeof(buf);
	pthread_mutex_lock(&f->vdev->lock);
	assert_int_equal(f->vdev->ops->save(f->vdev, buf, &len), 0);
	pthread_mutex_unlock(&f->vdev->lock);
	setup_hinting((void **)&g);
	assert_int_equal(g->vdev->ops->check(g->vdev, buf, len), 0);
	buf[160] = 1; /* hint_queue: int32 right after the old state */
	assert_int_equal(g->vdev->ops->check(g->vdev, buf, len), -EINVAL);
	buf[160] = 5;
	assert_int_equal(g->vdev->ops->check(g->vdev, buf, len), -EINVAL);
	buf[160] = 3;
	buf[len - 3] = 2; /* ack_on_stop not a bool */
	assert_int_equal(g->vdev->ops->check(g->vdev, buf, len), -EINVAL);
	assert_int_equal(g->vdev->ops->check(g->vdev, buf, len - 1), -EINVAL);
	teardown((void **)&g);
}

static void reset_ends_the_hinting_run(void **state)
{
	struct fixture *f = *state;

	bring_up(f, HINT_BIT);
	assert_int_equal(virtio_balloon_hint_start(f->vdev, true), 0);
	send_cmd(f, 2, 0, 2);
	pthread_mutex_lock(&f->vdev->lock);
	virtio_device_write_status(f->vdev, 0);
	pthread_mutex_unlock(&f->vdev->lock);
	assert_int_equal(hint_status(f).host_cmd, 0);
	assert_false(info(f).hinting_negotiated);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(inflate_releases_sorted_runs_once_each),
		T(pages_beside_the_mmio_hole_are_released_per_region),
		T(deflate_releases_nothing_and_counts),
		T(hostile_inflate_buffers_release_nothing),
		T(stats_are_kept_and_the_buffer_handed_back),
		cmocka_unit_test_teardown(stats_timer_hands_the_buffer_back,
					  teardown),
		T(stats_interval_changes_at_run_time),
		T(reporting_releases_whole_pages_inside_ranges),
		T(reporting_follows_stats_when_both_are_negotiated),
		T(hugetlb_ram_releases_only_whole_huge_pages),
		T(reported_range_outside_ram_releases_nothing),
		T(reported_range_wrapping_around_releases_nothing),
		T(target_and_actual_in_config_space),
		T(features_offered_follow_the_options),
		T(reset_drops_the_held_stats_buffer),
#define H(fn) cmocka_unit_test_setup_teardown(fn, setup_hinting, teardown)
		H(hinting_run_releases_blocks_and_acknowledges_stop),
		H(hinting_without_acknowledge_waits_for_stop),
		H(hostile_hint_buffers_release_nothing),
		H(hinted_block_wrapping_around_releases_nothing),
		T(hinting_refused_without_the_feature_or_driver),
		cmocka_unit_test(queue_numbers_follow_negotiated_features),
		H(hinting_state_survives_save_and_restore),
		H(reset_ends_the_hinting_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
