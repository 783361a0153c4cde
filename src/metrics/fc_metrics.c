#include "metrics/fc_metrics.h"

#include <stdio.h>
#include <string.h>

/* A key ending in "_agg" is a latency aggregate: {min_us, max_us, sum_us}
 * (Firecracker's LatencyAggregateMetrics). */
static const char *const block_keys[] = {
	"activate_fails",
	"cfg_fails",
	"no_avail_buffer",
	"event_fails",
	"execute_fails",
	"invalid_reqs_count",
	"flush_count",
	"queue_event_count",
	"rate_limiter_event_count",
	"update_count",
	"update_fails",
	"read_bytes",
	"write_bytes",
	"read_count",
	"write_count",
	"read_agg",
	"write_agg",
	"rate_limiter_throttled_events",
	"io_engine_throttled_events",
	"remaining_reqs_count",
	NULL,
};

static const char *const net_keys[] = {
	"activate_fails",
	"cfg_fails",
	"no_rx_avail_buffer",
	"no_tx_avail_buffer",
	"event_fails",
	"rx_queue_event_count",
	"rx_event_rate_limiter_count",
	"rx_rate_limiter_throttled",
	"rx_tap_event_count",
	"rx_bytes_count",
	"rx_packets_count",
	"rx_fails",
	"rx_count",
	"tap_read_fails",
	"tap_write_fails",
	"tap_write_agg",
	"tx_bytes_count",
	"tx_malformed_frames",
	"tx_fails",
	"tx_count",
	"tx_packets_count",
	"tx_queue_event_count",
	"tx_rate_limiter_event_count",
	"tx_rate_limiter_throttled",
	"tx_spoofed_mac_count",
	"tx_remaining_reqs_count",
	NULL,
};

struct fc_group {
	const char *name;
	const char *const *keys;
};

#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Firecracker's FirecrackerMetrics on x86_64, in its order ("rtc" is
 * aarch64 only; per-device block_/net_ groups come before their sum). */
static const struct fc_group fc_groups[] = {
	{"api_server",
	 KEYS("process_startup_time_us", "process_startup_time_cpu_us")},
	{"balloon",
	 KEYS("activate_fails", "inflate_count", "stats_updates_count",
	      "stats_update_fails", "deflate_count", "event_fails",
	      "free_page_report_count", "free_page_report_freed",
	      "free_page_report_fails", "free_page_hint_count",
	      "free_page_hint_freed", "free_page_hint_fails")},
	{"block", block_keys},
	{"deprecated_api", KEYS("deprecated_http_api_calls")},
	{"get_api_requests",
	 KEYS("instance_info_count", "machine_cfg_count", "mmds_count",
	      "vmm_version_count", "hotplug_memory_count")},
	{"i8042",
	 KEYS("error_count", "missed_read_count", "missed_write_count",
	      "read_count", "reset_count", "write_count")},
	{"uart",
	 KEYS("error_count", "flush_count", "missed_read_count",
	      "missed_write_count", "read_count", "write_count",
	      "rate_limiter_dropped_bytes")},
	{"latencies_us",
	 KEYS("full_create_snapshot", "diff_create_snapshot", "load_snapshot",
	      "pause_vm", "resume_vm", "vmm_full_create_snapshot",
	      "vmm_diff_create_snapshot", "vmm_load_snapshot", "vmm_pause_vm",
	      "vmm_resume_vm")},
	{"logger",
	 KEYS("missed_metrics_count", "metrics_fails", "missed_log_count",
	      "rate_limited_log_count")},
	{"mmds",
	 KEYS("rx_accepted", "rx_accepted_err", "rx_accepted_unusual",
	      "rx_bad_eth", "rx_invalid_token", "rx_no_token", "rx_count",
	      "tx_bytes", "tx_count", "tx_errors", "tx_frames",
	      "connections_created", "connections_destroyed")},
	{"net", net_keys},
	{"patch_api_requests",
	 KEYS("drive_count", "drive_fails", "network_count", "network_fails",
	      "machine_cfg_count", "machine_cfg_fails", "mmds_count",
	      "mmds_fails", "hotplug_memory_count", "hotplug_memory_fails",
	      "pmem_count", "pmem_fails")},
	{"put_api_requests",
	 KEYS("actions_count", "actions_fails", "boot_source_count",
	      "boot_source_fails", "drive_count", "drive_fails", "logger_count",
	      "logger_fails", "machine_cfg_count", "machine_cfg_fails",
	      "cpu_cfg_count", "cpu_cfg_fails", "metrics_count",
	      "metrics_fails", "network_count", "network_fails", "mmds_count",
	      "mmds_fails", "vsock_count", "vsock_fails", "pmem_count",
	      "pmem_fails", "serial_count", "serial_fails",
	      "hotplug_memory_count", "hotplug_memory_fails")},
	{"seccomp", KEYS("num_faults")},
	{"vcpu",
	 KEYS("exit_io_in", "exit_io_out", "exit_mmio_read", "exit_mmio_write",
	      "failures", "kvmclock_ctrl_fails", "exit_io_in_agg",
	      "exit_io_out_agg", "exit_mmio_read_agg", "exit_mmio_write_agg")},
	{"vmm", KEYS("panic_count")},
	{"signals",
	 KEYS("sigbus", "sigsegv", "sigxfsz", "sigxcpu", "sigpipe", "sighup",
	      "sigill")},
	{"vsock",
	 KEYS("activate_fails", "cfg_fails", "rx_queue_event_fails",
	      "tx_queue_event_fails", "ev_queue_event_fails",
	      "muxer_event_fails", "conn_event_fails", "rx_queue_event_count",
	      "tx_queue_event_count", "rx_bytes_count", "tx_bytes_count",
	      "rx_packets_count", "tx_packets_count", "conns_added",
	      "conns_killed", "conns_removed", "killq_resync", "tx_flush_fails",
	      "tx_write_fails", "rx_read_fails")},
	{"entropy",
	 KEYS("activate_fails", "entropy_event_fails", "entropy_event_count",
	      "entropy_bytes", "host_rng_fails",
	      "entropy_rate_limiter_throttled", "rate_limiter_event_count")},
	{"pmem",
	 KEYS("activate_fails", "cfg_fails", "event_fails", "queue_event_count",
	      "rate_limiter_throttled_events", "rate_limiter_event_count")},
	{"interrupts", KEYS("triggers", "config_updates")},
	{"memory_hotplug",
	 KEYS("activate_fails", "queue_event_fails", "queue_event_count",
	      "plug_count", "plug_bytes", "plug_fails", "plug_agg",
	      "unplug_count", "unplug_bytes", "unplug_fails",
	      "unplug_discard_fails", "unplug_agg", "state_count",
	      "state_fails", "state_agg", "unplug_all_count",
	      "unplug_all_fails", "unplug_all_agg")},
};

#define FC_GROUP_COUNT (sizeof(fc_groups) / sizeof(fc_groups[0]))

/* Firecracker's SharedStoreMetric values: written as they are, never as
 * a change. Every other plain key is a SharedIncMetric. */
static int is_store_group(const char *group)
{
	return !strcmp(group, "api_server") || !strcmp(group, "latencies_us") ||
		!strcmp(group, "seccomp") || !strcmp(group, "vmm");
}

static int is_store(const char *group, const char *key)
{
	if (is_store_group(group))
		return 1;
	/* Signals: all stored but sigpipe, which counts. */
	if (!strcmp(group, "signals"))
		return strcmp(key, "sigpipe") != 0;
	/* Inside a latency aggregate: min_us and max_us are stored. */
	return !strcmp(key, "min_us") || !strcmp(key, "max_us");
}

static int is_agg(const char *key)
{
	size_t len = strlen(key);

	return len > 4 && !strcmp(key + len - 4, "_agg");
}

static json_t *zero_group(const char *const *keys)
{
	json_t *group = json_object();

	for (int i = 0; group && keys[i]; i++) {
		if (is_agg(keys[i])) {
			json_t *agg = json_object();

			json_object_set_new(agg, "min_us", json_integer(0));
			json_object_set_new(agg, "max_us", json_integer(0));
			json_object_set_new(agg, "sum_us", json_integer(0));
			json_object_set_new(group, keys[i], agg);
		} else {
			json_object_set_new(group, keys[i], json_integer(0));
		}
	}
	return group;
}

json_t *fc_metrics_skeleton(void)
{
	json_t *doc = json_object();

	if (!doc)
		return NULL;
	json_object_set_new(doc, "utc_timestamp_ms", json_integer(0));
	for (size_t g = 0; g < FC_GROUP_COUNT; g++) {
		json_t *group = zero_group(fc_groups[g].keys);

		if (!group) {
			json_decref(doc);
			return NULL;
		}
		json_object_set_new(doc, fc_groups[g].name, group);
	}
	return doc;
}

static void add_to(json_t *group, const char *key, uint64_t value)
{
	json_t *slot = json_object_get(group, key);

	if (!json_is_integer(slot))
		return;
	json_integer_set(slot, json_integer_value(slot) + (json_int_t)value);
}

void fc_metrics_add(json_t *doc, const char *group, const char *key,
		    uint64_t value)
{
	add_to(json_object_get(doc, group), key, value);
}

static const char *const *device_keys(const char *kind)
{
	if (!strcmp(kind, "block"))
		return block_keys;
	if (!strcmp(kind, "net"))
		return net_keys;
	return NULL;
}

static json_t *device_group(json_t *doc, const char *kind, const char *id)
{
	const char *const *keys = device_keys(kind);
	char name[96];
	json_t *group;

	if (!keys)
		return NULL;
	snprintf(name, sizeof(name), "%s_%s", kind, id);
	group = json_object_get(doc, name);
	if (!group) {
		group = zero_group(keys);
		if (!group)
			return NULL;
		json_object_set_new(doc, name, group);
	}
	return group;
}

void fc_metrics_device(json_t *doc, const char *kind, const char *id)
{
	device_group(doc, kind, id);
}

void fc_metrics_device_add(json_t *doc, const char *kind, const char *id,
			   const char *key, uint64_t value)
{
	add_to(device_group(doc, kind, id), key, value);
}

/* value -> its change since previous[key] (then previous[key] = value). */
static void to_delta(const char *key, json_t *slot, json_t *previous)
{
	json_int_t now = json_integer_value(slot);
	json_t *before = json_object_get(previous, key);
	json_int_t last =
		json_is_integer(before) ? json_integer_value(before) : 0;

	json_integer_set(slot, now >= last ? now - last : now);
	json_object_set_new(previous, key, json_integer(now));
}

static json_t *previous_child(json_t *previous, const char *key)
{
	json_t *child = json_object_get(previous, key);

	if (!json_is_object(child)) {
		child = json_object();
		/* Out of memory: NULL, and every counter is then its total. */
		if (json_object_set_new(previous, key, child))
			return NULL;
	}
	return child;
}

static void group_to_delta(const char *name, json_t *group, json_t *previous)
{
	const char *key;
	json_t *value;

	json_object_foreach(group, key, value)
	{
		if (json_is_object(value)) {
			json_t *prev = previous_child(previous, key);

			/* Inside an aggregate only sum_us counts. */
			to_delta("sum_us", json_object_get(value, "sum_us"),
				 prev);
		} else if (json_is_integer(value) && !is_store(name, key)) {
			to_delta(key, value, previous);
		}
	}
}

/* Firecracker's "block"/"net": a fresh group to which each device's
 * change is added; an aggregate's min_us and max_us stay 0 there (its
 * aggregate() sums only sum_us). */
static void sum_devices(json_t *doc, const char *kind)
{
	json_t *total = zero_group(device_keys(kind));
	size_t prefix = strlen(kind);
	const char *name;
	json_t *group;

	if (!total)
		return;
	json_object_foreach(doc, name, group)
	{
		const char *key;
		json_t *value;

		if (strncmp(name, kind, prefix) || name[prefix] != '_')
			continue;
		json_object_foreach(group, key, value)
		{
			if (json_is_object(value))
				add_to(json_object_get(total, key), "sum_us",
				       (uint64_t)json_integer_value(
					       json_object_get(value,
							       "sum_us")));
			else
				add_to(total, key,
				       (uint64_t)json_integer_value(value));
		}
	}
	json_object_set_new(doc, kind, total);
}

void fc_metrics_finish(json_t *doc, json_t *previous, int64_t utc_ms)
{
	const char *name;
	json_t *group;

	json_object_foreach(doc, name, group)
	{
		if (json_is_object(group) && strcmp(name, "properties"))
			group_to_delta(name, group,
				       previous_child(previous, name));
	}
	sum_devices(doc, "block");
	sum_devices(doc, "net");
	json_object_set_new(doc, "utc_timestamp_ms", json_integer(utc_ms));
}
