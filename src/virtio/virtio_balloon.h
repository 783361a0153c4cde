/* virtio-balloon (virtio 1.x spec 5.5, the traditional memory balloon).
 *
 * The host sets a target (config num_pages, in 4 KiB pages): how much memory
 * it wants the guest to give back. The guest's driver hands pages over on
 * the inflate queue and takes them back on the deflate queue, and writes
 * how many it holds into config `actual`. tern returns every inflated page
 * to the host kernel (madvise MADV_DONTNEED on the private anonymous guest
 * RAM: the page reads back as zeros if the guest ever touches it again), so
 * tern's RSS drops; deflating needs nothing on the host.
 *
 * Optional parts, each a feature bit and its own queue:
 *  - statistics (VIRTIO_BALLOON_F_STATS_VQ, spec 5.5.6.3): the driver
 *    keeps one buffer of (tag, value) pairs in the queue; tern keeps the
 *    last set and hands the buffer back every stats_interval_s seconds to
 *    ask for fresh values;
 *  - free page hinting (VIRTIO_BALLOON_F_FREE_PAGE_HINT, spec 5.5.6.4):
 *    on the host's request (a command id in config) the guest hands over
 *    blocks of its free pages and holds them until the host says DONE;
 *    tern releases them like inflated pages (virtio_balloon_hint.h);
 *  - free page reporting (VIRTIO_BALLOON_F_REPORTING, spec 5.5.6.7): the
 *    guest reports ranges of free pages, tern releases them like inflated
 *    pages and returns the buffer;
 *  - deflate on OOM (VIRTIO_BALLOON_F_DEFLATE_ON_OOM): the guest may take
 *    pages back from the balloon when it runs out of memory.
 *
 * Queue numbers (spec 5.5.2): 0 inflate, 1 deflate, then the statistics
 * queue if STATS_VQ was negotiated, the free page queue if FREE_PAGE_HINT
 * was, then the reporting queue if REPORTING was: a queue whose feature is
 * not negotiated takes no number, as the Linux driver counts them. */
#ifndef TERN_VIRTIO_VIRTIO_BALLOON_H
#define TERN_VIRTIO_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio_device.h"

#define VIRTIO_ID_BALLOON_DEVICE 5
/* The balloon's unit, whatever the guest's or host's page size. */
#define VIRTIO_BALLOON_PAGE_SIZE 4096ULL
/* Statistics tags tern keeps (spec 5.5.6.3 defines 0-9, newer Linux sends
 * up to 15); higher tags are ignored. */
#define VIRTIO_BALLOON_STAT_TAGS 16
/* Most PFNs one inflate/deflate buffer may carry (Linux sends at most 256):
 * a longer buffer is refused as a whole. */
#define VIRTIO_BALLOON_MAX_PFNS_PER_BUFFER 4096
/* Most (tag, value) pairs one statistics buffer may carry. */
#define VIRTIO_BALLOON_MAX_STATS_PER_BUFFER 64
/* Longest statistics interval (a day). */
#define VIRTIO_BALLOON_MAX_STATS_INTERVAL_S 86400

struct virtio_balloon_options {
	uint64_t target_bytes; /* initial target, a multiple of 4 KiB */
	bool deflate_on_oom;
	uint32_t stats_interval_s; /* 0: no statistics queue */
	bool free_page_reporting;
	bool free_page_hinting;
};

/* Gives [gpa, gpa+len) back to the host; hva is its host address (both
 * 4 KiB aligned, inside one guest RAM region). Returns 0 or a negative
 * errno. The default is madvise(MADV_DONTNEED); tests record calls. */
typedef int (*virtio_balloon_release_fn)(void *opaque, uint64_t gpa, void *hva,
					 uint64_t len);

/* Device counters, atomic: read at any time (metrics API). The core's
 * vdev->stats count requests (buffers) and errors. */
struct virtio_balloon_counters {
	_Atomic uint64_t inflated_pages; /* PFNs accepted on inflate */
	_Atomic uint64_t deflated_pages; /* PFNs accepted on deflate */
	_Atomic uint64_t released_bytes; /* given back to the host */
	_Atomic uint64_t reported_bytes; /* of which by free page reporting */
	_Atomic uint64_t release_calls; /* madvise calls (after batching) */
	_Atomic uint64_t stats_updates; /* statistics buffers received */
	_Atomic uint64_t hinted_bytes; /* released by free page hinting */
	_Atomic uint64_t hint_ranges; /* hinted ranges taken (descriptors) */
	_Atomic uint64_t hint_fails; /* hinted ranges not released */
	_Atomic uint64_t report_ranges; /* reported ranges (descriptors) */
	_Atomic uint64_t report_fails; /* reported ranges not released */
};

/* A snapshot for the API (GET /balloon, /balloon/statistics). */
struct virtio_balloon_info {
	uint64_t target_bytes; /* num_pages */
	uint64_t actual_bytes; /* what the guest says it holds */
	uint32_t stats_interval_s;
	bool stats_negotiated;
	bool reporting_negotiated;
	bool deflate_on_oom_negotiated;
	bool hinting_negotiated;
	uint32_t stats_valid; /* bit t: stats[t] came from the guest */
	uint64_t stats[VIRTIO_BALLOON_STAT_TAGS];
	uint64_t stats_updated_ns; /* CLOCK_MONOTONIC, 0: none yet */
	uint64_t inflated_pages, deflated_pages, released_bytes, reported_bytes,
		release_calls, stats_updates;
	uint64_t hinted_bytes, hint_ranges, hint_fails, report_ranges,
		report_fails;
	uint64_t requests, errors;
};

/* GET /balloon/hinting/status: the host's last command id and the
 * guest's (guest_cmd_valid false: the guest sent none yet). */
struct virtio_balloon_hint_status {
	uint32_t host_cmd;
	uint32_t guest_cmd;
	bool guest_cmd_valid;
};

/* NULL: out of memory or no timerfd. Plug it with vm_add_virtio_device(). */
struct virtio_device *
virtio_balloon_create(const struct virtio_balloon_options *options);

/* Replaces how pages are given back (tests). Call before the guest runs. */
void virtio_balloon_set_release(struct virtio_device *vdev,
				virtio_balloon_release_fn release,
				void *opaque);

/* Sets the target to `bytes` (a multiple of 4 KiB, less than the guest's
 * RAM, as --balloon size=) and raises the config-change interrupt so the driver
 * inflates or deflates towards it. Thread-safe. Returns 0 or -EINVAL. */
int virtio_balloon_set_target(struct virtio_device *vdev, uint64_t bytes);

/* Changes how often statistics are asked for (0: stop asking; the last
 * values stay). Only for a device created with statistics (their queue
 * exists from creation on): -ENOTSUP otherwise; -EINVAL above 86400 s.
 * Thread-safe. */
int virtio_balloon_set_stats_interval(struct virtio_device *vdev,
				      uint32_t seconds);

/* Fills *info with the current target, actual size, counters and the last
 * statistics. Thread-safe. */
void virtio_balloon_get_info(struct virtio_device *vdev,
			     struct virtio_balloon_info *info);

/* Hands the held statistics buffer back to the driver now, asking for
 * fresh values (what the interval timer does). Thread-safe; nothing
 * happens when no buffer is held. */
void virtio_balloon_request_stats(struct virtio_device *vdev);

/* Free page hinting (a device created with free_page_hinting; -ENOTSUP
 * otherwise). Thread-safe.
 * start: a new command id into config and the config-change interrupt; the
 *   guest answers with its free blocks, which tern releases. With
 *   ack_on_stop, tern writes DONE itself when the guest sends STOP.
 *   -EAGAIN when the driver has not set the device up (DRIVER_OK).
 * stop: DONE into config and the interrupt: the guest takes its blocks
 *   back (always signalled, also when DONE was already there: a restored
 *   VM's guest learns it this way). -EAGAIN as start.
 * status: the last ids of both sides. */
int virtio_balloon_hint_start(struct virtio_device *vdev, bool ack_on_stop);
int virtio_balloon_hint_stop(struct virtio_device *vdev);
int virtio_balloon_hint_status(struct virtio_device *vdev,
			       struct virtio_balloon_hint_status *status);

/* "free-memory" for VIRTIO_BALLOON_S_MEMFREE, ...; NULL for unknown tags. */
const char *virtio_balloon_stat_name(unsigned tag);

#endif
