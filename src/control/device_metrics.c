#include "control/device_metrics.h"

#include <linux/virtio_ids.h>
#include <stdatomic.h>

#include "metrics/fc_metrics.h"

#include "virtio/virtio_balloon.h"
#include "virtio/virtio_mem.h"
#include "virtio/virtio_net.h"
#include "virtio/virtio_pmem.h"
#include "virtio/virtio_rng.h"
#include "virtio/virtio_vsock.h"
#include "vm/vm_power_button.h"

struct core_counter {
	const char *name;
	const char *help;
	size_t offset; /* in struct virtio_device_stats */
};

static const struct core_counter core_counters[] = {
	{"tern_virtio_requests_total", "Requests (chains) a device completed.",
	 offsetof(struct virtio_device_stats, requests)},
	{"tern_virtio_read_bytes_total",
	 "Bytes a device read from guest buffers.",
	 offsetof(struct virtio_device_stats, bytes_read)},
	{"tern_virtio_written_bytes_total",
	 "Bytes a device wrote into guest buffers.",
	 offsetof(struct virtio_device_stats, bytes_written)},
	{"tern_virtio_errors_total", "Failed requests and ring errors.",
	 offsetof(struct virtio_device_stats, errors)},
	{"tern_virtio_notifications_total",
	 "Queue notifications (kicks) from the guest.",
	 offsetof(struct virtio_device_stats, notifications)},
	{"tern_virtio_notifications_by_exit_total",
	 "Kicks that cost a vCPU exit to tern (no ioeventfd).",
	 offsetof(struct virtio_device_stats, notifications_by_exit)},
	{"tern_virtio_interrupts_total", "Interrupts a device raised.",
	 offsetof(struct virtio_device_stats, interrupts)},
	{"tern_virtio_rate_limiter_throttled_total",
	 "Requests a rate limiter held back, and kicks that found it "
	 "blocked.",
	 offsetof(struct virtio_device_stats, rate_limiter_throttled)},
};

static uint64_t read_counter(const struct virtio_device *vdev, size_t offset)
{
	const _Atomic uint64_t *counter =
		(const _Atomic uint64_t *)((const char *)&vdev->stats + offset);

	return atomic_load_explicit(counter, memory_order_relaxed);
}

static uint64_t load(const _Atomic uint64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

static void write_core(const struct vm *vm, struct metrics_out *out)
{
	for (size_t c = 0; c < sizeof(core_counters) / sizeof(core_counters[0]);
	     c++) {
		metrics_family(out, core_counters[c].name, METRICS_COUNTER,
			       core_counters[c].help);
		for (int i = 0; i < vm->virtio_device_count; i++) {
			const struct vm_virtio_entry *e =
				&vm->virtio_devices[i];

			metrics_sample(
				out, core_counters[c].name,
				(double)read_counter(e->vdev,
						     core_counters[c].offset),
				"device", e->vdev->ops->name, "id", e->id,
				NULL);
		}
	}
}

static void single_sample(struct metrics_out *out, const char *name,
			  enum metrics_type type, const char *help,
			  uint64_t value)
{
	metrics_family(out, name, type, help);
	metrics_sample(out, name, (double)value, NULL);
}

/* One unlabelled sample per field of a device's statistics. */
struct single_metric {
	const char *name;
	enum metrics_type type;
	const char *help;
	size_t offset; /* of a uint64_t (atomic or not) in the stats */
};

#define SINGLE_METRICS(table) (table), sizeof(table) / sizeof((table)[0])

static void write_single_metrics(struct metrics_out *out,
				 const struct single_metric *table,
				 size_t count, const void *stats, bool atomic)
{
	for (size_t i = 0; i < count; i++) {
		const char *field = (const char *)stats + table[i].offset;
		uint64_t value = atomic ? load((const _Atomic uint64_t *)field)
					: *(const uint64_t *)field;

		single_sample(out, table[i].name, table[i].type, table[i].help,
			      value);
	}
}

#define BALLOON(field) offsetof(struct virtio_balloon_info, field)
static const struct single_metric balloon_metrics[] = {
	{"tern_balloon_target_bytes", METRICS_GAUGE,
	 "What the balloon asks the guest to give back.",
	 BALLOON(target_bytes)},
	{"tern_balloon_actual_bytes", METRICS_GAUGE,
	 "What the guest says its balloon holds.", BALLOON(actual_bytes)},
	{"tern_balloon_inflated_pages_total", METRICS_COUNTER,
	 "4 KiB pages the guest inflated.", BALLOON(inflated_pages)},
	{"tern_balloon_deflated_pages_total", METRICS_COUNTER,
	 "4 KiB pages the guest deflated.", BALLOON(deflated_pages)},
	{"tern_balloon_released_bytes_total", METRICS_COUNTER,
	 "Guest memory given back to the host (madvise).",
	 BALLOON(released_bytes)},
	{"tern_balloon_reported_bytes_total", METRICS_COUNTER,
	 "Of which the guest reported free (free page reporting).",
	 BALLOON(reported_bytes)},
	{"tern_balloon_hinted_bytes_total", METRICS_COUNTER,
	 "Of which the guest hinted free (free page hinting).",
	 BALLOON(hinted_bytes)},
	{"tern_balloon_stats_updates_total", METRICS_COUNTER,
	 "Statistics buffers the guest sent.", BALLOON(stats_updates)},
};

#define VSOCK(field) offsetof(struct virtio_vsock_stats, field)
static const struct single_metric vsock_metrics[] = {
	{"tern_vsock_connections_opened_total", METRICS_COUNTER,
	 "Vsock connections that reached ESTABLISHED.",
	 VSOCK(connections_opened)},
	{"tern_vsock_connections_refused_total", METRICS_COUNTER,
	 "Vsock connection requests refused (either side).",
	 VSOCK(connections_refused)},
	{"tern_vsock_connections_active", METRICS_GAUGE,
	 "Vsock connections open now.", VSOCK(connections_active)},
	{"tern_vsock_resets_sent_total", METRICS_COUNTER,
	 "RST packets sent to the guest.", VSOCK(resets_sent)},
	{"tern_vsock_credit_updates_sent_total", METRICS_COUNTER,
	 "Credit updates sent to the guest.", VSOCK(credit_updates_sent)},
	{"tern_vsock_bad_packets_total", METRICS_COUNTER,
	 "Packets from the guest that failed to parse.", VSOCK(bad_packets)},
};

#define MEM(field) offsetof(struct virtio_mem_info, field)
static const struct single_metric memory_hotplug_metrics[] = {
	{"tern_memory_hotplug_region_bytes", METRICS_GAUGE,
	 "Hotpluggable memory the guest may plug (virtio-mem).",
	 MEM(region_size)},
	{"tern_memory_hotplug_requested_bytes", METRICS_GAUGE,
	 "Hotpluggable memory the host asks the guest to plug.",
	 MEM(requested_size)},
	{"tern_memory_hotplug_plugged_bytes", METRICS_GAUGE,
	 "Hotpluggable memory the guest has plugged.", MEM(plugged_size)},
	{"tern_memory_hotplug_slots_present", METRICS_GAUGE,
	 "KVM memory slots of hotpluggable memory the guest can reach.",
	 MEM(slots_present)},
	{"tern_memory_hotplug_plugged_bytes_total", METRICS_COUNTER,
	 "Bytes the guest plugged.", MEM(plug_bytes)},
	{"tern_memory_hotplug_unplugged_bytes_total", METRICS_COUNTER,
	 "Bytes the guest unplugged (given back to the host).",
	 MEM(unplug_bytes)},
};

static void write_balloon(struct virtio_device *balloon,
			  struct metrics_out *out)
{
	struct virtio_balloon_info info;

	virtio_balloon_get_info(balloon, &info);
	write_single_metrics(out, SINGLE_METRICS(balloon_metrics), &info,
			     false);
}

static void write_vsock(struct virtio_device *vsock, struct metrics_out *out)
{
	write_single_metrics(out, SINGLE_METRICS(vsock_metrics),
			     virtio_vsock_stats(vsock), true);
}

static void write_memory_hotplug(struct virtio_device *vdev,
				 struct metrics_out *out)
{
	struct virtio_mem_info info;

	virtio_mem_get_info(vdev, &info);
	write_single_metrics(out, SINGLE_METRICS(memory_hotplug_metrics), &info,
			     false);
	single_sample(out, "tern_memory_hotplug_failed_requests_total",
		      METRICS_COUNTER,
		      "Plug, unplug and state requests refused as invalid.",
		      info.plug_fails + info.unplug_fails +
			      info.unplug_all_fails + info.state_fails);
}

struct net_counter {
	const char *name;
	const char *help;
	size_t offset; /* in struct virtio_net_stats */
};

static const struct net_counter net_counters[] = {
	{"tern_net_rx_frames_total", "Frames delivered to the guest.",
	 offsetof(struct virtio_net_stats, rx_frames)},
	{"tern_net_tx_frames_total", "Frames the guest sent to the tap.",
	 offsetof(struct virtio_net_stats, tx_frames)},
	{"tern_net_rx_dropped_total",
	 "Frames dropped: no room in the guest's receive buffers.",
	 offsetof(struct virtio_net_stats, rx_dropped)},
	{"tern_net_tx_dropped_total",
	 "Guest frames dropped: malformed, or refused by the tap.",
	 offsetof(struct virtio_net_stats, tx_dropped)},
	{"tern_net_rx_rate_limiter_throttled_total",
	 "Times the rx rate limiter left the tap unread.",
	 offsetof(struct virtio_net_stats, rx_throttled)},
	{"tern_net_tx_rate_limiter_throttled_total",
	 "Guest frames the tx rate limiter left in the ring.",
	 offsetof(struct virtio_net_stats, tx_throttled)},
};

static void write_nets(const struct vm *vm, struct metrics_out *out)
{
	for (size_t c = 0; c < sizeof(net_counters) / sizeof(net_counters[0]);
	     c++) {
		int declared = 0;

		for (int i = 0; i < vm->virtio_device_count; i++) {
			const struct vm_virtio_entry *e =
				&vm->virtio_devices[i];
			const char *stats;

			if (e->vdev->ops->device_id != VIRTIO_ID_NET_DEVICE)
				continue;
			if (!declared++)
				metrics_family(out, net_counters[c].name,
					       METRICS_COUNTER,
					       net_counters[c].help);
			stats = (const char *)virtio_net_stats(e->vdev);
			metrics_sample(
				out, net_counters[c].name,
				(double)load(
					(const _Atomic uint64_t
						 *)(stats +
						    net_counters[c].offset)),
				"id", e->id, NULL);
		}
	}
}

static void write_device_metrics(void *opaque, struct metrics_out *out)
{
	struct instance *inst = opaque;

	pthread_mutex_lock(&inst->lock);
	/* The devices live as long as inst->vm is set (instance_run clears
	 * it under this lock before destroying the VM). */
	if (inst->vm) {
		write_core(inst->vm, out);
		if (inst->vm->balloon)
			write_balloon(inst->vm->balloon, out);
		if (inst->vm->memory_hotplug)
			write_memory_hotplug(inst->vm->memory_hotplug, out);
		write_nets(inst->vm, out);
		single_sample(out, "tern_power_button_presses_total",
			      METRICS_COUNTER,
			      "ACPI power button presses sent to the guest.",
			      vm_power_button_presses(inst->vm));
		single_sample(out, "tern_acpi_sleeps_total", METRICS_COUNTER,
			      "Times the guest entered ACPI S3 (suspend to "
			      "RAM).",
			      vm_sleep_count(inst->vm));
		single_sample(out, "tern_acpi_wakes_total", METRICS_COUNTER,
			      "Times the guest woke from ACPI S3.",
			      vm_wake_count(inst->vm));
		for (int i = 0; i < inst->vm->virtio_device_count; i++) {
			struct virtio_device *vdev =
				inst->vm->virtio_devices[i].vdev;

			/* tern has one vsock device at most. */
			if (vdev->ops->device_id == VIRTIO_ID_VSOCK_DEVICE)
				write_vsock(vdev, out);
		}
	}
	pthread_mutex_unlock(&inst->lock);
}

/* Firecracker's device groups from tern's counters. Where tern counts
 * something else or nothing, the key stays 0 (docs/api.md, "Metrics in
 * Firecracker's keys", says which). */
static void fc_block(const struct vm_virtio_entry *e, json_t *doc)
{
	const struct virtio_device_stats *st = &e->vdev->stats;

	/* The device wrote into guest buffers what it read from the disk. */
	fc_metrics_device_add(doc, "block", e->id, "read_bytes",
			      load(&st->bytes_written));
	fc_metrics_device_add(doc, "block", e->id, "write_bytes",
			      load(&st->bytes_read));
	fc_metrics_device_add(doc, "block", e->id, "execute_fails",
			      load(&st->errors));
	fc_metrics_device_add(doc, "block", e->id, "queue_event_count",
			      load(&st->notifications));
	fc_metrics_device_add(doc, "block", e->id,
			      "rate_limiter_throttled_events",
			      load(&st->rate_limiter_throttled));
}

static void fc_net(struct virtio_device *vdev, const char *id, json_t *doc)
{
	const struct virtio_net_stats *ns = virtio_net_stats(vdev);

	fc_metrics_device_add(doc, "net", id, "rx_packets_count",
			      load(&ns->rx_frames));
	fc_metrics_device_add(doc, "net", id, "tx_packets_count",
			      load(&ns->tx_frames));
	fc_metrics_device_add(doc, "net", id, "rx_bytes_count",
			      load(&vdev->stats.bytes_written));
	fc_metrics_device_add(doc, "net", id, "tx_bytes_count",
			      load(&vdev->stats.bytes_read));
	fc_metrics_device_add(doc, "net", id, "no_rx_avail_buffer",
			      load(&ns->rx_dropped));
	fc_metrics_device_add(doc, "net", id, "tx_fails",
			      load(&ns->tx_dropped));
	fc_metrics_device_add(doc, "net", id, "rx_rate_limiter_throttled",
			      load(&ns->rx_throttled));
	fc_metrics_device_add(doc, "net", id, "tx_rate_limiter_throttled",
			      load(&ns->tx_throttled));
}

static void fc_vsock(struct virtio_device *vdev, json_t *doc)
{
	const struct virtio_vsock_stats *vs = virtio_vsock_stats(vdev);

	fc_metrics_add(doc, "vsock", "rx_bytes_count",
		       load(&vdev->stats.bytes_written));
	fc_metrics_add(doc, "vsock", "tx_bytes_count",
		       load(&vdev->stats.bytes_read));
	fc_metrics_add(doc, "vsock", "conns_added",
		       load(&vs->connections_opened));
	fc_metrics_add(doc, "vsock", "tx_queue_event_count",
		       load(&vdev->stats.notifications));
}

static void fc_balloon(struct virtio_device *vdev, json_t *doc)
{
	struct virtio_balloon_info info;

	virtio_balloon_get_info(vdev, &info);
	fc_metrics_add(doc, "balloon", "stats_updates_count",
		       info.stats_updates);
	fc_metrics_add(doc, "balloon", "free_page_report_count",
		       info.report_ranges);
	fc_metrics_add(doc, "balloon", "free_page_report_freed",
		       info.reported_bytes);
	fc_metrics_add(doc, "balloon", "free_page_report_fails",
		       info.report_fails);
	fc_metrics_add(doc, "balloon", "free_page_hint_count",
		       info.hint_ranges);
	fc_metrics_add(doc, "balloon", "free_page_hint_freed",
		       info.hinted_bytes);
	fc_metrics_add(doc, "balloon", "free_page_hint_fails", info.hint_fails);
}

/* virtio-mem: Firecracker's memory_hotplug group (its latency aggregates
 * stay 0: tern does not time requests) and tern's own gauges. */
static void fc_memory_hotplug(struct virtio_device *vdev, json_t *doc)
{
	struct virtio_mem_info info;
	const struct {
		const char *key;
		uint64_t value;
	} keys[] = {
		{"queue_event_count", 0}, {"plug_count", 0},
		{"plug_bytes", 0},	  {"plug_fails", 0},
		{"unplug_count", 0},	  {"unplug_bytes", 0},
		{"unplug_fails", 0},	  {"unplug_discard_fails", 0},
		{"unplug_all_count", 0},  {"unplug_all_fails", 0},
		{"state_count", 0},	  {"state_fails", 0},
	};
	uint64_t values[sizeof(keys) / sizeof(keys[0])];

	virtio_mem_get_info(vdev, &info);
	values[0] = info.notifications;
	values[1] = info.plug_count;
	values[2] = info.plug_bytes;
	values[3] = info.plug_fails;
	values[4] = info.unplug_count;
	values[5] = info.unplug_bytes;
	values[6] = info.unplug_fails;
	values[7] = info.unplug_discard_fails;
	values[8] = info.unplug_all_count;
	values[9] = info.unplug_all_fails;
	values[10] = info.state_count;
	values[11] = info.state_fails;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		fc_metrics_add(doc, "memory_hotplug", keys[i].key, values[i]);
}

static void fc_entropy(struct virtio_device *vdev, json_t *doc)
{
	fc_metrics_add(doc, "entropy", "entropy_event_count",
		       load(&vdev->stats.notifications));
	fc_metrics_add(doc, "entropy", "entropy_bytes",
		       load(&vdev->stats.bytes_written));
	fc_metrics_add(doc, "entropy", "entropy_rate_limiter_throttled",
		       load(&vdev->stats.rate_limiter_throttled));
}

/* Firecracker's "pmem" sum (its per-device pmem_ groups are not made). */
static void fc_pmem(struct virtio_device *vdev, json_t *doc)
{
	fc_metrics_add(doc, "pmem", "queue_event_count",
		       load(&vdev->stats.notifications));
	fc_metrics_add(doc, "pmem", "event_fails", load(&vdev->stats.errors));
	fc_metrics_add(doc, "pmem", "rate_limiter_throttled_events",
		       load(&vdev->stats.rate_limiter_throttled));
}

static void fc_device(const struct vm_virtio_entry *e, json_t *doc)
{
	switch (e->vdev->ops->device_id) {
	case VIRTIO_ID_BLOCK:
		fc_block(e, doc);
		break;
	case VIRTIO_ID_NET_DEVICE:
		fc_net(e->vdev, e->id, doc);
		break;
	case VIRTIO_ID_VSOCK_DEVICE:
		fc_vsock(e->vdev, doc);
		break;
	case VIRTIO_ID_BALLOON_DEVICE:
		fc_balloon(e->vdev, doc);
		break;
	case VIRTIO_ID_RNG_DEVICE:
		fc_entropy(e->vdev, doc);
		break;
	case VIRTIO_ID_MEM_DEVICE:
		fc_memory_hotplug(e->vdev, doc);
		break;
	case VIRTIO_ID_PMEM_DEVICE:
		fc_pmem(e->vdev, doc);
		break;
	}
	fc_metrics_add(doc, "interrupts", "triggers",
		       load(&e->vdev->stats.interrupts));
}

static void fc_device_metrics(void *opaque, json_t *doc)
{
	struct instance *inst = opaque;

	pthread_mutex_lock(&inst->lock);
	/* Firecracker makes a drive's or interface's group when it is
	 * configured, before the VM runs. */
	for (int i = 0; i < inst->config.disk_count; i++)
		if (inst->config.disks[i].id[0]) /* tern run's --disk: none */
			fc_metrics_device(doc, "block",
					  inst->config.disks[i].id);
	for (int i = 0; i < inst->config.net_count; i++)
		fc_metrics_device(doc, "net", inst->config.nets[i].id);
	if (inst->vm)
		for (int i = 0; i < inst->vm->virtio_device_count; i++)
			fc_device(&inst->vm->virtio_devices[i], doc);
	pthread_mutex_unlock(&inst->lock);
}

int device_metrics_register(struct instance *inst, struct tern_error *err)
{
	int ret = metrics_register(&inst->metrics, "devices",
				   write_device_metrics, inst, err);

	if (!ret)
		metrics_set_firecracker(&inst->metrics, "devices",
					fc_device_metrics);
	return ret;
}
