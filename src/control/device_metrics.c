#include "control/device_metrics.h"

#include <stdatomic.h>

#include "virtio/virtio_balloon.h"
#include "virtio/virtio_net.h"
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

static void write_balloon(struct virtio_device *balloon,
			  struct metrics_out *out)
{
	struct virtio_balloon_info info;

	virtio_balloon_get_info(balloon, &info);
	single_sample(out, "tern_balloon_target_bytes", METRICS_GAUGE,
		      "What the balloon asks the guest to give back.",
		      info.target_bytes);
	single_sample(out, "tern_balloon_actual_bytes", METRICS_GAUGE,
		      "What the guest says its balloon holds.",
		      info.actual_bytes);
	single_sample(out, "tern_balloon_inflated_pages_total", METRICS_COUNTER,
		      "4 KiB pages the guest inflated.", info.inflated_pages);
	single_sample(out, "tern_balloon_deflated_pages_total", METRICS_COUNTER,
		      "4 KiB pages the guest deflated.", info.deflated_pages);
	single_sample(out, "tern_balloon_released_bytes_total", METRICS_COUNTER,
		      "Guest memory given back to the host (madvise).",
		      info.released_bytes);
	single_sample(out, "tern_balloon_reported_bytes_total", METRICS_COUNTER,
		      "Of which the guest reported free (free page "
		      "reporting).",
		      info.reported_bytes);
	single_sample(out, "tern_balloon_stats_updates_total", METRICS_COUNTER,
		      "Statistics buffers the guest sent.", info.stats_updates);
}

static void write_vsock(struct virtio_device *vsock, struct metrics_out *out)
{
	const struct virtio_vsock_stats *stats = virtio_vsock_stats(vsock);

	single_sample(out, "tern_vsock_connections_opened_total",
		      METRICS_COUNTER,
		      "Vsock connections that reached ESTABLISHED.",
		      load(&stats->connections_opened));
	single_sample(out, "tern_vsock_connections_refused_total",
		      METRICS_COUNTER,
		      "Vsock connection requests refused (either side).",
		      load(&stats->connections_refused));
	single_sample(out, "tern_vsock_connections_active", METRICS_GAUGE,
		      "Vsock connections open now.",
		      load(&stats->connections_active));
	single_sample(out, "tern_vsock_resets_sent_total", METRICS_COUNTER,
		      "RST packets sent to the guest.",
		      load(&stats->resets_sent));
	single_sample(out, "tern_vsock_credit_updates_sent_total",
		      METRICS_COUNTER, "Credit updates sent to the guest.",
		      load(&stats->credit_updates_sent));
	single_sample(out, "tern_vsock_bad_packets_total", METRICS_COUNTER,
		      "Packets from the guest that failed to parse.",
		      load(&stats->bad_packets));
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
		write_nets(inst->vm, out);
		single_sample(out, "tern_power_button_presses_total",
			      METRICS_COUNTER,
			      "ACPI power button presses sent to the guest.",
			      vm_power_button_presses(inst->vm));
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

int device_metrics_register(struct instance *inst, struct tern_error *err)
{
	return metrics_register(&inst->metrics, "devices", write_device_metrics,
				inst, err);
}
