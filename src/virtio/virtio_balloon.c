#include "virtio/virtio_balloon.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>

#include "devices/device.h"
#include "util/log.h"
#include "util/timer_fd.h"
#include "virtio/virtio_balloon_hint.h"

#define QUEUE_INFLATE 0
#define QUEUE_DEFLATE 1
#define NO_QUEUE (-1)

/* Config space (spec 5.5.4): num_pages, actual, and with FREE_PAGE_HINT
 * offered free_page_hint_cmd_id. tern does not offer PAGE_POISON, so
 * poison_val (offset 12) does not exist. */
#define CONFIG_NUM_PAGES 0
#define CONFIG_ACTUAL 4
#define CONFIG_HINT_CMD_ID 8
#define CONFIG_SIZE 8
#define CONFIG_SIZE_HINTING 12

/* One statistics entry: le16 tag, le64 value, packed (spec 5.5.6.3). */
#define STAT_ENTRY_SIZE 10

/* The device's own plain state: what save/restore would serialize next to
 * the core's struct virtio_device. */
struct balloon_state {
	uint32_t num_pages; /* target, set by the host */
	uint32_t actual; /* written by the driver */
	/* Queue numbers for the negotiated features (NO_QUEUE: absent). */
	int stats_queue;
	int hint_queue;
	int reporting_queue;
	/* The statistics buffer the device holds until it wants new values. */
	bool stats_held;
	uint16_t stats_head;
	uint32_t stats_valid;
	uint64_t stats[VIRTIO_BALLOON_STAT_TAGS];
	uint64_t stats_updated_ns;
	struct balloon_hint hint;
};

struct virtio_balloon {
	struct virtio_device vdev;
	struct virtio_balloon_options options;
	struct balloon_state state;
	struct virtio_balloon_counters counters;
	int timer_fd; /* one-shot: when to hand the stats buffer back */
	virtio_balloon_release_fn release;
	void *release_opaque;
	bool release_warned;
	/* Scratch for the chain being served and its PFNs (I/O thread). */
	struct virtq_chain chain;
	uint32_t pfns[VIRTIO_BALLOON_MAX_PFNS_PER_BUFFER];
};

static struct virtio_balloon *to_balloon(struct virtio_device *vdev)
{
	return container_of(vdev, struct virtio_balloon, vdev);
}

static int madvise_release(void *opaque, uint64_t gpa, void *hva, uint64_t len)
{
	(void)opaque;
	(void)gpa;
	/* Guest RAM is MAP_PRIVATE|MAP_ANONYMOUS: the pages go back to the
	 * host and fault in as zeros on the guest's next touch (KVM's MMU
	 * notifier drops its own mappings meanwhile). */
	return madvise(hva, len, MADV_DONTNEED) < 0 ? -errno : 0;
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool device_live(const struct virtio_device *vdev)
{
	return (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		!(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void count_error(struct virtio_balloon *b)
{
	virtio_stat_add(&b->vdev.stats.errors, 1);
}

/* hugetlbfs RAM goes back to the host only in whole 2 MiB pages (the
 * kernel refuses MADV_DONTNEED on part of one): the range shrinks to the
 * huge pages it covers, and the 4 KiB pages around them stay the guest's
 * host memory. gpa and hva agree modulo 2 MiB (guest_memory.h). Returns
 * false when no whole huge page is left. */
static bool trim_to_huge_pages(const struct guest_memory *mem, uint64_t *gpa,
			       uint8_t **hva, uint64_t *len)
{
	const uint64_t huge = GUEST_MEMORY_HUGE_PAGE_SIZE;
	uint64_t start, end;

	if (mem->backing != GUEST_MEMORY_HUGETLB_2M)
		return true;
	start = (*gpa + huge - 1) / huge * huge;
	end = (*gpa + *len) / huge * huge;
	if (start >= end)
		return false;
	*hva += start - *gpa;
	*len = end - start;
	*gpa = start;
	return true;
}

/* Who gave the pages: the counters differ. */
enum release_kind { RELEASE_INFLATED, RELEASE_REPORTED, RELEASE_HINTED };

/* Gives one range back; the range was checked inside guest RAM. Returns
 * false when the host refused it. */
static bool release_range(struct virtio_balloon *b, uint64_t gpa, void *hva,
			  uint64_t len, enum release_kind kind)
{
	uint8_t *start = hva;
	int ret;

	if (!trim_to_huge_pages(b->vdev.mem, &gpa, &start, &len))
		return true;
	hva = start;
	ret = b->release(b->release_opaque, gpa, hva, len);

	virtio_stat_add(&b->counters.release_calls, 1);
	if (ret) {
		count_error(b);
		if (!b->release_warned)
			log_warn("%s: cannot release guest pages at 0x%llx: "
				 "%s",
				 b->vdev.ops->name, (unsigned long long)gpa,
				 strerror(-ret));
		b->release_warned = true;
		return false;
	}
	/* The pages read as zeros now: a Diff snapshot must hold that. */
	guest_memory_mark_dirty(b->vdev.mem, hva, len);
	virtio_stat_add(&b->counters.released_bytes, len);
	if (kind == RELEASE_REPORTED)
		virtio_stat_add(&b->counters.reported_bytes, len);
	else if (kind == RELEASE_HINTED)
		virtio_stat_add(&b->counters.hinted_bytes, len);
	return true;
}

static int compare_pfn(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Reads the chain's PFN array into b->pfns. Returns the count, or -1 when
 * the buffer is malformed (length not a multiple of 4, too long) or names
 * a page outside guest RAM: such a buffer is refused as a whole. */
static int read_pfns(struct virtio_balloon *b)
{
	uint32_t len = b->chain.readable_len;
	uint32_t count = len / 4;

	if (len % 4 || count > VIRTIO_BALLOON_MAX_PFNS_PER_BUFFER)
		return -1;
	/* One copy: the guest may rewrite the array meanwhile; what was
	 * checked is what is used. */
	if (virtq_chain_read(&b->chain, 0, b->pfns, len) != len)
		return -1;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t gpa = (uint64_t)b->pfns[i] * VIRTIO_BALLOON_PAGE_SIZE;

		if (!guest_memory_ptr(b->vdev.mem, gpa,
				      VIRTIO_BALLOON_PAGE_SIZE))
			return -1;
	}
	return (int)count;
}

/* Releases sorted, checked PFNs, one call per run of adjacent pages.
 * Returns the number of distinct pages. */
static uint32_t release_pfns(struct virtio_balloon *b, uint32_t count)
{
	uint32_t pages = 0;

	qsort(b->pfns, count, sizeof(b->pfns[0]), compare_pfn);
	for (uint32_t i = 0; i < count;) {
		uint64_t first = b->pfns[i], last = first;
		uint64_t gpa, len;
		void *hva;

		/* Duplicates fold into the run; the run ends at a gap. */
		while (++i < count && b->pfns[i] <= last + 1)
			last = b->pfns[i];
		gpa = first * VIRTIO_BALLOON_PAGE_SIZE;
		len = (last - first + 1) * VIRTIO_BALLOON_PAGE_SIZE;
		pages += (uint32_t)(last - first + 1);
		/* Every page was checked; a run crossing from one RAM region
		 * into the next (adjacent in gpa) is still refused here. */
		hva = guest_memory_ptr(b->vdev.mem, gpa, len);
		if (!hva) {
			count_error(b);
			continue;
		}
		release_range(b, gpa, hva, len, RELEASE_INFLATED);
	}
	return pages;
}

static void serve_pfn_buffer(struct virtio_balloon *b, bool inflate)
{
	int count = read_pfns(b);

	if (count < 0) {
		count_error(b);
		return;
	}
	virtio_stat_add(&b->vdev.stats.bytes_read, (uint64_t)count * 4);
	if (inflate)
		virtio_stat_add(&b->counters.inflated_pages,
				release_pfns(b, (uint32_t)count));
	else /* the pages fault back in when the guest touches them */
		virtio_stat_add(&b->counters.deflated_pages, (uint64_t)count);
}

/* The guest address of a host pointer the ring walker produced (it lies
 * in guest RAM: virtq_pop checked it). */
static bool hva_to_gpa(const struct guest_memory *mem, const void *hva,
		       uint64_t *gpa)
{
	const uint8_t *p = hva;

	for (int i = 0; i < mem->region_count; i++) {
		const struct guest_memory_region *r = &mem->regions[i];

		if (p >= r->hva && (uint64_t)(p - r->hva) < r->size) {
			*gpa = r->gpa + (uint64_t)(p - r->hva);
			return true;
		}
	}
	return false;
}

/* One device-writable segment of the chain is a range of free guest
 * pages (reporting, hinting). Only whole 4 KiB pages inside it are
 * released: rounding outward would zero a neighbour's data. The ring
 * walker already checked the segment inside guest RAM. Returns false
 * when it could not be released. */
static bool release_free_range(struct virtio_balloon *b, int i,
			       enum release_kind kind)
{
	const struct iovec *iov = &b->chain.iov[i];
	uint8_t *hva = iov->iov_base;
	uint64_t gpa, first, last;

	if (!hva_to_gpa(b->vdev.mem, hva, &gpa)) {
		count_error(b);
		return false;
	}
	first = (gpa + VIRTIO_BALLOON_PAGE_SIZE - 1) &
		~(VIRTIO_BALLOON_PAGE_SIZE - 1);
	last = (gpa + iov->iov_len) & ~(VIRTIO_BALLOON_PAGE_SIZE - 1);
	if (last <= first)
		return true;
	return release_range(b, first, hva + (first - gpa), last - first, kind);
}

/* Free page reporting (spec 5.5.6.7): each device-writable descriptor is
 * one range of free guest pages. */
static void serve_report_buffer(struct virtio_balloon *b)
{
	const struct virtq_chain *chain = &b->chain;
	int end = chain->readable_count + chain->writable_count;

	if (chain->readable_count)
		count_error(b); /* reports are device-writable; ignored */
	for (int i = chain->readable_count; i < end; i++) {
		virtio_stat_add(&b->counters.report_ranges, 1);
		if (!release_free_range(b, i, RELEASE_REPORTED))
			virtio_stat_add(&b->counters.report_fails, 1);
	}
}

/* Free page hinting (spec 5.5.6.4): a device-readable part of exactly 4
 * bytes is a command id from the guest (the run it starts sending for,
 * or STOP); device-writable segments are blocks of free pages the guest
 * holds for the host. Blocks are released only while they belong to the
 * run the host asked for: after DONE or STOP the guest may be using them
 * again. Returns true when the config-change interrupt is due (the
 * guest's STOP was acknowledged with DONE). */
static bool serve_hint_buffer(struct virtio_balloon *b)
{
	const struct virtq_chain *chain = &b->chain;
	int end = chain->readable_count + chain->writable_count;
	bool signal = false;
	uint32_t cmd;

	if (chain->readable_len == sizeof(cmd)) {
		/* One copy of a buffer the guest may rewrite meanwhile. */
		if (virtq_chain_read(chain, 0, &cmd, sizeof(cmd)) ==
		    sizeof(cmd)) {
			signal = balloon_hint_guest_cmd(&b->state.hint,
							le32toh(cmd));
			virtio_stat_add(&b->vdev.stats.bytes_read, sizeof(cmd));
		}
	} else if (chain->readable_len) {
		count_error(b); /* not a command id: ignored */
	}
	for (int i = chain->readable_count; i < end; i++) {
		if (!balloon_hint_takes_ranges(&b->state.hint))
			break; /* stale blocks: the guest owns them again */
		virtio_stat_add(&b->counters.hint_ranges, 1);
		if (!release_free_range(b, i, RELEASE_HINTED))
			virtio_stat_add(&b->counters.hint_fails, 1);
	}
	return signal;
}

static void log_stats(struct virtio_balloon *b)
{
	char line[512];
	size_t len = 0;

	for (unsigned t = 0; t < VIRTIO_BALLOON_STAT_TAGS; t++) {
		const char *name = virtio_balloon_stat_name(t);

		if (!(b->state.stats_valid & (1U << t)) || !name ||
		    len >= sizeof(line))
			continue;
		len += (size_t)snprintf(line + len, sizeof(line) - len,
					" %s=%llu", name,
					(unsigned long long)b->state.stats[t]);
	}
	log_debug("%s: statistics:%s", b->vdev.ops->name, len ? line : " none");
}

static void parse_stats(struct virtio_balloon *b)
{
	uint32_t len = b->chain.readable_len;
	uint8_t entry[STAT_ENTRY_SIZE];

	if (len % STAT_ENTRY_SIZE ||
	    len / STAT_ENTRY_SIZE > VIRTIO_BALLOON_MAX_STATS_PER_BUFFER) {
		count_error(b);
		return;
	}
	for (uint32_t off = 0; off < len; off += STAT_ENTRY_SIZE) {
		uint16_t tag;
		uint64_t value;

		if (virtq_chain_read(&b->chain, off, entry, sizeof(entry)) !=
		    sizeof(entry))
			break;
		memcpy(&tag, entry, sizeof(tag)); /* little endian: x86 */
		memcpy(&value, entry + 2, sizeof(value));
		/* Spec 5.5.6.3: unknown tags are ignored; a tag seen twice
		 * keeps its last value. */
		if (tag >= VIRTIO_BALLOON_STAT_TAGS)
			continue;
		b->state.stats[tag] = value;
		b->state.stats_valid |= 1U << tag;
	}
	virtio_stat_add(&b->vdev.stats.bytes_read, len);
	b->state.stats_updated_ns = monotonic_ns();
	virtio_stat_add(&b->counters.stats_updates, 1);
	log_stats(b);
}

/* Hands the held buffer back (lock held): the driver refills it with fresh
 * statistics and offers it again (spec 5.5.6.3). */
static void return_stats_buffer(struct virtio_balloon *b)
{
	struct virtio_device *vdev = &b->vdev;
	int q = b->state.stats_queue;
	int ret;

	if (!b->state.stats_held || q == NO_QUEUE || !device_live(vdev))
		return;
	b->state.stats_held = false;
	ret = virtq_push(&vdev->queues[q].vq, b->state.stats_head, 0);
	if (ret) {
		virtio_device_needs_reset(vdev, ret);
		return;
	}
	virtio_device_signal_used(vdev, (uint16_t)q);
}

/* An interval of 0 (statistics turned off at run time) leaves the timer
 * off: the held buffer stays until a new interval is set. */
static void arm_stats_timer(struct virtio_balloon *b)
{
	uint64_t interval_ns =
		(uint64_t)b->options.stats_interval_s * 1000000000ULL;
	int ret;

	if (b->timer_fd < 0)
		return;
	ret = interval_ns ? timer_fd_arm(b->timer_fd, interval_ns, 0)
			  : timer_fd_disarm(b->timer_fd);
	if (ret)
		log_warn("%s: timerfd_settime: %s", b->vdev.ops->name,
			 strerror(-ret));
}

static void stats_timer_expired(struct virtio_device *vdev, int fd,
				uint32_t events)
{
	uint64_t expirations;

	(void)events;
	if (read(fd, &expirations, sizeof(expirations)) < 0)
		return; /* EAGAIN: disarmed meanwhile */
	return_stats_buffer(to_balloon(vdev));
}

static void take_stats_buffer(struct virtio_balloon *b)
{
	/* A driver that offers a second buffer gets the first one back. */
	return_stats_buffer(b);
	parse_stats(b);
	b->state.stats_held = true;
	b->state.stats_head = b->chain.head;
	arm_stats_timer(b);
}

static void balloon_queue_notify(struct virtio_device *vdev, uint16_t q)
{
	struct virtio_balloon *b = to_balloon(vdev);
	struct virtq *vq = &vdev->queues[q].vq;
	bool used = false, config_changed = false;
	int ret;

	do {
		virtq_disable_notify(vq);
		while ((ret = virtq_pop(vq, &b->chain)) == 1) {
			virtio_stat_add(&vdev->stats.requests, 1);
			if (q == b->state.stats_queue) {
				take_stats_buffer(b);
				continue;
			}
			if (q == QUEUE_INFLATE || q == QUEUE_DEFLATE)
				serve_pfn_buffer(b, q == QUEUE_INFLATE);
			else if (q == b->state.reporting_queue)
				serve_report_buffer(b);
			else if (q == b->state.hint_queue)
				config_changed |= serve_hint_buffer(b);
			else
				count_error(b); /* a queue with no role */
			ret = virtq_push(vq, b->chain.head, 0);
			if (ret)
				break;
			used = true;
		}
		if (ret != 0) {
			virtio_device_needs_reset(vdev, ret);
			return;
		}
	} while (virtq_enable_notify(vq));
	if (used)
		virtio_device_signal_used(vdev, q);
	if (config_changed)
		virtio_device_signal_config(vdev);
}

static void balloon_config_read(struct virtio_device *vdev, uint32_t offset,
				void *data, uint32_t size)
{
	struct virtio_balloon *b = to_balloon(vdev);
	/* The core checked offset + size against config_size (12 with
	 * hinting, 8 without). */
	uint32_t config[3] = {htole32(b->state.num_pages),
			      htole32(b->state.actual),
			      htole32(b->state.hint.host_cmd)};

	memcpy(data, (uint8_t *)config + offset, size);
}

static void balloon_config_write(struct virtio_device *vdev, uint32_t offset,
				 const void *data, uint32_t size)
{
	struct virtio_balloon *b = to_balloon(vdev);
	uint32_t config[3] = {htole32(b->state.num_pages),
			      htole32(b->state.actual),
			      htole32(b->state.hint.host_cmd)};
	uint32_t before = b->state.actual;

	/* Only `actual` is the driver's to write; num_pages and the hint
	 * command id stay the host's. */
	memcpy((uint8_t *)config + offset, data, size);
	b->state.actual = le32toh(config[1]);
	if (b->state.actual != before && b->state.actual == b->state.num_pages)
		log_debug(
			"%s: the guest reached the target: %llu MiB in the "
			"balloon",
			vdev->ops->name,
			(unsigned long long)(b->state.actual *
						     VIRTIO_BALLOON_PAGE_SIZE >>
					     20));
}

static int balloon_features_ok(struct virtio_device *vdev, uint64_t features)
{
	struct virtio_balloon *b = to_balloon(vdev);
	int next = QUEUE_DEFLATE + 1;

	b->state.stats_queue = NO_QUEUE;
	b->state.hint_queue = NO_QUEUE;
	b->state.reporting_queue = NO_QUEUE;
	if (features & (1ULL << VIRTIO_BALLOON_F_STATS_VQ))
		b->state.stats_queue = next++;
	if (features & (1ULL << VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		b->state.hint_queue = next++;
	if (features & (1ULL << VIRTIO_BALLOON_F_REPORTING))
		b->state.reporting_queue = next++;
	return 0;
}

static int balloon_activate(struct virtio_device *vdev)
{
	struct virtio_balloon *b = to_balloon(vdev);

	if (b->state.stats_queue == NO_QUEUE)
		return 0;
	return virtio_device_watch_fd(vdev, b->timer_fd, EPOLLIN,
				      stats_timer_expired);
}

static void balloon_reset(struct virtio_device *vdev)
{
	struct virtio_balloon *b = to_balloon(vdev);

	/* The held stats buffer belongs to the old rings: drop it. The
	 * target is the host's and stays; the pages in the balloon are the
	 * driver's to take back, so actual starts from 0 again. */
	b->state.stats_held = false;
	b->state.actual = 0;
	b->state.stats_queue = NO_QUEUE;
	b->state.hint_queue = NO_QUEUE;
	b->state.reporting_queue = NO_QUEUE;
	/* A new driver starts with no hinting run (it holds no blocks). */
	balloon_hint_reset(&b->state.hint);
	if (b->timer_fd >= 0)
		timer_fd_disarm(b->timer_fd);
}

static void balloon_destroy(struct virtio_device *vdev)
{
	struct virtio_balloon *b = to_balloon(vdev);

	if (b->timer_fd >= 0)
		close(b->timer_fd);
	free(b);
}

/* Snapshot state: balloon_state (target, actual, negotiated queues, the
 * held statistics buffer, the last statistics) and the interval. */
struct balloon_snapshot {
	uint32_t num_pages, actual;
	int32_t stats_queue, reporting_queue;
	uint32_t stats_interval_s;
	uint8_t stats_held;
	uint8_t pad;
	uint16_t stats_head;
	uint32_t stats_valid;
	uint32_t pad2;
	uint64_t stats[VIRTIO_BALLOON_STAT_TAGS];
};

/* Since free page hinting: its queue and command ids follow (a state
 * without them, from an older tern, had no hinting to restore). */
struct balloon_snapshot_hinting {
	struct balloon_snapshot balloon;
	int32_t hint_queue;
	uint32_t host_cmd, last_run_id, guest_cmd, guest_run;
	uint8_t guest_cmd_valid, ack_on_stop;
	uint8_t pad[2];
};

_Static_assert(sizeof(struct balloon_snapshot) % 8 == 0,
	       "balloon state padding");
_Static_assert(sizeof(struct balloon_snapshot_hinting) % 8 == 0,
	       "balloon hinting state padding");

static int balloon_save(struct virtio_device *vdev, void *buf, size_t *len)
{
	struct virtio_balloon *b = to_balloon(vdev);
	struct balloon_snapshot_hinting *saved = buf;
	struct balloon_snapshot *s = &saved->balloon;
	const struct balloon_hint *h = &b->state.hint;

	if (*len < sizeof(*saved))
		return -ENOSPC;
	memset(saved, 0, sizeof(*saved));
	s->num_pages = b->state.num_pages;
	s->actual = b->state.actual;
	s->stats_queue = b->state.stats_queue;
	s->reporting_queue = b->state.reporting_queue;
	s->stats_interval_s = b->options.stats_interval_s;
	s->stats_held = b->state.stats_held;
	s->stats_head = b->state.stats_head;
	s->stats_valid = b->state.stats_valid;
	memcpy(s->stats, b->state.stats, sizeof(s->stats));
	saved->hint_queue = b->state.hint_queue;
	saved->host_cmd = h->host_cmd;
	saved->last_run_id = h->last_run_id;
	saved->guest_cmd = h->guest_cmd;
	saved->guest_run = h->guest_run;
	saved->guest_cmd_valid = h->guest_cmd_valid;
	saved->ack_on_stop = h->ack_on_stop;
	*len = sizeof(*saved);
	return 0;
}

/* NO_QUEUE, or a queue after inflate and deflate that the device has. */
static bool queue_ok(const struct virtio_device *vdev, int32_t q)
{
	return q == NO_QUEUE || (q > QUEUE_DEFLATE && q < vdev->queue_count);
}

static bool hinting_offered(const struct virtio_device *vdev)
{
	return (vdev->device_features >> VIRTIO_BALLOON_F_FREE_PAGE_HINT) & 1;
}

static int balloon_check(struct virtio_device *vdev, const void *buf,
			 size_t len)
{
	struct virtio_balloon *b = to_balloon(vdev);
	struct balloon_snapshot_hinting h;
	struct balloon_snapshot s;

	if (len != sizeof(s) && len != sizeof(h))
		return -EINVAL;
	memcpy(&s, buf, sizeof(s));
	if (!queue_ok(vdev, s.stats_queue) ||
	    !queue_ok(vdev, s.reporting_queue) || s.stats_held > 1 ||
	    s.stats_interval_s > VIRTIO_BALLOON_MAX_STATS_INTERVAL_S ||
	    (s.stats_held &&
	     (s.stats_queue == NO_QUEUE ||
	      s.stats_head >= vdev->queues[s.stats_queue].size)))
		return -EINVAL;
	/* A stats queue needs the timer this tern made at create (the core
	 * already checked that the same features are offered). */
	if (s.stats_queue != NO_QUEUE && b->timer_fd < 0)
		return -EINVAL;
	if (len == sizeof(s))
		/* An older tern never offered hinting. */
		return hinting_offered(vdev) ? -EINVAL : 0;
	memcpy(&h, buf, sizeof(h));
	if (!queue_ok(vdev, h.hint_queue) || h.guest_cmd_valid > 1 ||
	    h.ack_on_stop > 1 ||
	    (h.hint_queue != NO_QUEUE && !hinting_offered(vdev)))
		return -EINVAL;
	return 0;
}

static int balloon_restore(struct virtio_device *vdev, const void *buf,
			   size_t len)
{
	struct virtio_balloon *b = to_balloon(vdev);
	struct balloon_hint *hint = &b->state.hint;
	struct balloon_snapshot_hinting h;
	struct balloon_snapshot s;
	int ret = balloon_check(vdev, buf, len);

	if (ret)
		return ret;
	memcpy(&s, buf, sizeof(s));
	b->state.num_pages = s.num_pages;
	b->state.actual = s.actual;
	b->state.stats_queue = s.stats_queue;
	b->state.reporting_queue = s.reporting_queue;
	b->options.stats_interval_s = s.stats_interval_s;
	b->state.stats_held = s.stats_held;
	b->state.stats_head = s.stats_head;
	b->state.stats_valid =
		s.stats_valid & ((1U << VIRTIO_BALLOON_STAT_TAGS) - 1);
	memcpy(b->state.stats, s.stats, sizeof(s.stats));
	b->state.stats_updated_ns = s.stats_valid ? monotonic_ns() : 0;
	balloon_hint_init(hint);
	b->state.hint_queue = NO_QUEUE;
	if (len == sizeof(h)) {
		memcpy(&h, buf, sizeof(h));
		b->state.hint_queue = h.hint_queue;
		hint->last_run_id = h.last_run_id;
		hint->guest_cmd = h.guest_cmd;
		hint->guest_cmd_valid = h.guest_cmd_valid;
		hint->guest_run = h.guest_run;
		hint->ack_on_stop = h.ack_on_stop;
		/* As Firecracker: a run does not go on after a restore.
		 * DONE lets the guest take its blocks back (it reads it on
		 * the next config change: PATCH /balloon/hinting/stop
		 * raises one), and blocks still on their way are not
		 * released. */
		hint->host_cmd = hinting_offered(vdev) ? BALLOON_HINT_CMD_DONE
						       : BALLOON_HINT_CMD_STOP;
	}
	/* The held buffer goes back after one interval, as if just taken. */
	if (b->state.stats_held && b->options.stats_interval_s)
		arm_stats_timer(b);
	return 0;
}

static const struct virtio_device_ops virtio_balloon_ops = {
	.save = balloon_save,
	.restore = balloon_restore,
	.check = balloon_check,
	.name = "virtio-balloon",
	.device_id = VIRTIO_ID_BALLOON_DEVICE,
	.config_read = balloon_config_read,
	.config_write = balloon_config_write,
	.features_ok = balloon_features_ok,
	.activate = balloon_activate,
	.queue_notify = balloon_queue_notify,
	.reset = balloon_reset,
	.destroy = balloon_destroy,
};

struct virtio_device *
virtio_balloon_create(const struct virtio_balloon_options *options)
{
	struct virtio_balloon *b;
	uint64_t features = 0;
	uint16_t queues = 2;

	if (options->target_bytes % VIRTIO_BALLOON_PAGE_SIZE ||
	    options->target_bytes / VIRTIO_BALLOON_PAGE_SIZE > UINT32_MAX)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->options = *options;
	b->release = madvise_release;
	b->state.num_pages =
		(uint32_t)(options->target_bytes / VIRTIO_BALLOON_PAGE_SIZE);
	b->state.stats_queue = NO_QUEUE;
	b->state.hint_queue = NO_QUEUE;
	b->state.reporting_queue = NO_QUEUE;
	balloon_hint_init(&b->state.hint);
	b->timer_fd = -1;
	if (options->deflate_on_oom)
		features |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	if (options->stats_interval_s > VIRTIO_BALLOON_MAX_STATS_INTERVAL_S)
		return NULL;
	if (options->stats_interval_s) {
		features |= 1ULL << VIRTIO_BALLOON_F_STATS_VQ;
		queues++;
		b->timer_fd = timer_fd_create();
		if (b->timer_fd < 0) {
			free(b);
			return NULL;
		}
	}
	if (options->free_page_hinting) {
		features |= 1ULL << VIRTIO_BALLOON_F_FREE_PAGE_HINT;
		queues++;
	}
	if (options->free_page_reporting) {
		features |= 1ULL << VIRTIO_BALLOON_F_REPORTING;
		queues++;
	}
	if (virtio_device_init(&b->vdev, &virtio_balloon_ops, queues, features,
			       options->free_page_hinting ? CONFIG_SIZE_HINTING
							  : CONFIG_SIZE)) {
		if (b->timer_fd >= 0)
			close(b->timer_fd);
		free(b);
		return NULL;
	}
	return &b->vdev;
}

void virtio_balloon_set_release(struct virtio_device *vdev,
				virtio_balloon_release_fn release, void *opaque)
{
	struct virtio_balloon *b = to_balloon(vdev);

	pthread_mutex_lock(&vdev->lock);
	b->release = release ? release : madvise_release;
	b->release_opaque = opaque;
	pthread_mutex_unlock(&vdev->lock);
}

int virtio_balloon_set_target(struct virtio_device *vdev, uint64_t bytes)
{
	struct virtio_balloon *b = to_balloon(vdev);

	if (bytes % VIRTIO_BALLOON_PAGE_SIZE ||
	    bytes / VIRTIO_BALLOON_PAGE_SIZE > UINT32_MAX ||
	    (vdev->mem && bytes >= vdev->mem->ram_size))
		return -EINVAL;
	pthread_mutex_lock(&vdev->lock);
	if (b->state.num_pages != bytes / VIRTIO_BALLOON_PAGE_SIZE) {
		b->state.num_pages =
			(uint32_t)(bytes / VIRTIO_BALLOON_PAGE_SIZE);
		/* Spec 5.5.6: the driver re-reads num_pages on a config
		 * change; before DRIVER_OK it reads it while probing. */
		if (device_live(vdev))
			virtio_device_signal_config(vdev);
		else
			vdev->config_generation++;
	}
	pthread_mutex_unlock(&vdev->lock);
	return 0;
}

int virtio_balloon_set_stats_interval(struct virtio_device *vdev,
				      uint32_t seconds)
{
	struct virtio_balloon *b = to_balloon(vdev);

	if (b->timer_fd < 0)
		return -ENOTSUP;
	if (seconds > VIRTIO_BALLOON_MAX_STATS_INTERVAL_S)
		return -EINVAL;
	pthread_mutex_lock(&vdev->lock);
	b->options.stats_interval_s = seconds;
	/* A held buffer waits for the new interval (0 disarms the timer). */
	if (b->state.stats_held)
		arm_stats_timer(b);
	pthread_mutex_unlock(&vdev->lock);
	return 0;
}

void virtio_balloon_get_info(struct virtio_device *vdev,
			     struct virtio_balloon_info *info)
{
	struct virtio_balloon *b = to_balloon(vdev);
	const struct virtio_balloon_counters *c = &b->counters;

	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&vdev->lock);
	info->target_bytes = b->state.num_pages * VIRTIO_BALLOON_PAGE_SIZE;
	info->actual_bytes = b->state.actual * VIRTIO_BALLOON_PAGE_SIZE;
	info->stats_interval_s = b->options.stats_interval_s;
	info->stats_negotiated = b->state.stats_queue != NO_QUEUE;
	info->reporting_negotiated = b->state.reporting_queue != NO_QUEUE;
	info->deflate_on_oom_negotiated = virtio_device_has_feature(
		vdev, VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	info->hinting_negotiated = b->state.hint_queue != NO_QUEUE;
	info->stats_valid = b->state.stats_valid;
	memcpy(info->stats, b->state.stats, sizeof(info->stats));
	info->stats_updated_ns = b->state.stats_updated_ns;
	pthread_mutex_unlock(&vdev->lock);
	info->inflated_pages = atomic_load(&c->inflated_pages);
	info->deflated_pages = atomic_load(&c->deflated_pages);
	info->released_bytes = atomic_load(&c->released_bytes);
	info->reported_bytes = atomic_load(&c->reported_bytes);
	info->release_calls = atomic_load(&c->release_calls);
	info->stats_updates = atomic_load(&c->stats_updates);
	info->hinted_bytes = atomic_load(&c->hinted_bytes);
	info->hint_ranges = atomic_load(&c->hint_ranges);
	info->hint_fails = atomic_load(&c->hint_fails);
	info->report_ranges = atomic_load(&c->report_ranges);
	info->report_fails = atomic_load(&c->report_fails);
	info->requests = atomic_load(&vdev->stats.requests);
	info->errors = atomic_load(&vdev->stats.errors);
}

void virtio_balloon_request_stats(struct virtio_device *vdev)
{
	pthread_mutex_lock(&vdev->lock);
	return_stats_buffer(to_balloon(vdev));
	pthread_mutex_unlock(&vdev->lock);
}

/* Writes a new host command id and tells the driver (lock held). */
static int set_hint_cmd(struct virtio_balloon *b, bool start, bool ack)
{
	struct virtio_device *vdev = &b->vdev;
	uint32_t id = BALLOON_HINT_CMD_DONE;

	if (!device_live(vdev))
		return -EAGAIN;
	if (start)
		id = balloon_hint_start(&b->state.hint, ack);
	else
		balloon_hint_stop(&b->state.hint);
	log_debug("%s: free page hinting: command id %u", vdev->ops->name, id);
	virtio_device_signal_config(vdev);
	return 0;
}

int virtio_balloon_hint_start(struct virtio_device *vdev, bool ack_on_stop)
{
	int ret;

	if (!hinting_offered(vdev))
		return -ENOTSUP;
	pthread_mutex_lock(&vdev->lock);
	ret = set_hint_cmd(to_balloon(vdev), true, ack_on_stop);
	pthread_mutex_unlock(&vdev->lock);
	return ret;
}

int virtio_balloon_hint_stop(struct virtio_device *vdev)
{
	int ret;

	if (!hinting_offered(vdev))
		return -ENOTSUP;
	pthread_mutex_lock(&vdev->lock);
	ret = set_hint_cmd(to_balloon(vdev), false, false);
	pthread_mutex_unlock(&vdev->lock);
	return ret;
}

int virtio_balloon_hint_status(struct virtio_device *vdev,
			       struct virtio_balloon_hint_status *status)
{
	const struct balloon_hint *h = &to_balloon(vdev)->state.hint;

	if (!hinting_offered(vdev))
		return -ENOTSUP;
	pthread_mutex_lock(&vdev->lock);
	status->host_cmd = h->host_cmd;
	status->guest_cmd = h->guest_cmd;
	status->guest_cmd_valid = h->guest_cmd_valid;
	pthread_mutex_unlock(&vdev->lock);
	return 0;
}

const char *virtio_balloon_stat_name(unsigned tag)
{
	/* Spec 5.5.6.3 names, and the tags Linux 6.12 added after them. */
	static const char *const names[VIRTIO_BALLOON_STAT_TAGS] = {
		"swap-in",	    "swap-out",	    "major-faults",
		"minor-faults",	    "free-memory",  "total-memory",
		"available-memory", "disk-caches",  "hugetlb-allocations",
		"hugetlb-failures", "oom-kills",    "alloc-stalls",
		"async-scans",	    "direct-scans", "async-reclaims",
		"direct-reclaims",
	};

	return tag < VIRTIO_BALLOON_STAT_TAGS ? names[tag] : NULL;
}
