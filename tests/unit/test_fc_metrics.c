/* Firecracker's metrics line (metrics/fc_metrics.h): every group and key
 * that Firecracker's own tests require (tests/host_tools/fcmetrics.py,
 * validate_fc_metrics, x86_64: its schema refuses a missing key and an
 * extra one alike), its counters as changes since the last flush, its
 * stored values as they are, and "block"/"net" as the sums of their
 * devices. The expected keys are written here from that list. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "metrics/fc_metrics.h"
#include "metrics/metrics.h"

#define AGG "{agg}" /* the key is {min_us, max_us, sum_us} */

static const char *const block_expected[] = {
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
	"rate_limiter_throttled_events",
	"io_engine_throttled_events",
	"remaining_reqs_count",
	AGG "read_agg",
	AGG "write_agg",
	NULL,
};

static const char *const net_expected[] = {
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
	AGG "tap_write_agg",
	NULL,
};

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct {
	const char *group;
	const char *const *keys;
} expected[] = {
	{"api_server",
	 L("process_startup_time_us", "process_startup_time_cpu_us")},
	{"balloon",
	 L("activate_fails", "inflate_count", "stats_updates_count",
	   "stats_update_fails", "deflate_count", "event_fails",
	   "free_page_report_count", "free_page_report_freed",
	   "free_page_report_fails", "free_page_hint_count",
	   "free_page_hint_freed", "free_page_hint_fails")},
	{"block", block_expected},
	{"deprecated_api", L("deprecated_http_api_calls")},
	{"get_api_requests",
	 L("instance_info_count", "machine_cfg_count", "mmds_count",
	   "vmm_version_count", "hotplug_memory_count")},
	{"i8042",
	 L("error_count", "missed_read_count", "missed_write_count",
	   "read_count", "reset_count", "write_count")},
	{"latencies_us",
	 L("full_create_snapshot", "diff_create_snapshot", "load_snapshot",
	   "pause_vm", "resume_vm", "vmm_full_create_snapshot",
	   "vmm_diff_create_snapshot", "vmm_load_snapshot", "vmm_pause_vm",
	   "vmm_resume_vm")},
	{"logger",
	 L("missed_metrics_count", "metrics_fails", "missed_log_count",
	   "rate_limited_log_count")},
	{"mmds",
	 L("rx_accepted", "rx_accepted_err", "rx_accepted_unusual",
	   "rx_bad_eth", "rx_invalid_token", "rx_no_token", "rx_count",
	   "tx_bytes", "tx_count", "tx_errors", "tx_frames",
	   "connections_created", "connections_destroyed")},
	{"net", net_expected},
	{"patch_api_requests",
	 L("drive_count", "drive_fails", "network_count", "network_fails",
	   "machine_cfg_count", "machine_cfg_fails", "mmds_count", "mmds_fails",
	   "hotplug_memory_count", "hotplug_memory_fails", "pmem_count",
	   "pmem_fails")},
	{"put_api_requests",
	 L("actions_count", "actions_fails", "boot_source_count",
	   "boot_source_fails", "drive_count", "drive_fails", "logger_count",
	   "logger_fails", "machine_cfg_count", "machine_cfg_fails",
	   "cpu_cfg_count", "cpu_cfg_fails", "metrics_count", "metrics_fails",
	   "network_count", "network_fails", "mmds_count", "mmds_fails",
	   "vsock_count", "vsock_fails", "pmem_count", "pmem_fails",
	   "serial_count", "serial_fails", "hotplug_memory_count",
	   "hotplug_memory_fails")},
	{"seccomp", L("num_faults")},
	{"vcpu",
	 L("exit_io_in", "exit_io_out", "exit_mmio_read", "exit_mmio_write",
	   "failures", "kvmclock_ctrl_fails", AGG "exit_io_in_agg",
	   AGG "exit_io_out_agg", AGG "exit_mmio_read_agg",
	   AGG "exit_mmio_write_agg")},
	{"vmm", L("panic_count")},
	{"uart",
	 L("error_count", "flush_count", "missed_read_count",
	   "missed_write_count", "read_count", "write_count",
	   "rate_limiter_dropped_bytes")},
	{"signals",
	 L("sigbus", "sigsegv", "sigxfsz", "sigxcpu", "sigpipe", "sighup",
	   "sigill")},
	{"vsock",
	 L("activate_fails", "cfg_fails", "rx_queue_event_fails",
	   "tx_queue_event_fails", "ev_queue_event_fails", "muxer_event_fails",
	   "conn_event_fails", "rx_queue_event_count", "tx_queue_event_count",
	   "rx_bytes_count", "tx_bytes_count", "rx_packets_count",
	   "tx_packets_count", "conns_added", "conns_killed", "conns_removed",
	   "killq_resync", "tx_flush_fails", "tx_write_fails",
	   "rx_read_fails")},
	{"entropy",
	 L("activate_fails", "entropy_event_fails", "entropy_event_count",
	   "entropy_bytes", "host_rng_fails", "entropy_rate_limiter_throttled",
	   "rate_limiter_event_count")},
	{"interrupts", L("triggers", "config_updates")},
	{"pmem",
	 L("activate_fails", "cfg_fails", "event_fails", "queue_event_count",
	   "rate_limiter_throttled_events", "rate_limiter_event_count")},
	{"memory_hotplug",
	 L("activate_fails", "queue_event_fails", "queue_event_count",
	   "plug_count", "plug_bytes", "plug_fails", AGG "plug_agg",
	   "unplug_count", "unplug_bytes", "unplug_fails",
	   "unplug_discard_fails", AGG "unplug_agg", "state_count",
	   "state_fails", AGG "state_agg", "unplug_all_count",
	   "unplug_all_fails", AGG "unplug_all_agg")},
};

#define EXPECTED_GROUPS (sizeof(expected) / sizeof(expected[0]))

/* The group has exactly these keys, each a number or an aggregate. */
static void check_group(const char *name, json_t *group,
			const char *const *keys)
{
	size_t n = 0;

	assert_true(json_is_object(group));
	for (; keys[n]; n++) {
		int agg = !strncmp(keys[n], AGG, strlen(AGG));
		const char *key = agg ? keys[n] + strlen(AGG) : keys[n];
		json_t *value = json_object_get(group, key);

		if (!value)
			fail_msg("%s.%s is missing", name, key);
		if (agg) {
			assert_int_equal(json_object_size(value), 3);
			assert_true(json_is_integer(
				json_object_get(value, "min_us")));
			assert_true(json_is_integer(
				json_object_get(value, "max_us")));
			assert_true(json_is_integer(
				json_object_get(value, "sum_us")));
		} else if (!json_is_integer(value)) {
			fail_msg("%s.%s is not a number", name, key);
		}
	}
	if (json_object_size(group) != n)
		fail_msg("%s has %zu keys, Firecracker %zu", name,
			 json_object_size(group), n);
}

/* What Firecracker's validate_fc_metrics checks (x86_64): the fixed
 * groups, block_* and net_* as block and net, utc_timestamp_ms, and no
 * other top-level key. */
static void check_line(json_t *doc)
{
	size_t groups = 1;
	const char *name;
	json_t *group;

	assert_true(json_is_integer(json_object_get(doc, "utc_timestamp_ms")));
	for (size_t g = 0; g < EXPECTED_GROUPS; g++)
		check_group(expected[g].group,
			    json_object_get(doc, expected[g].group),
			    expected[g].keys);
	groups += EXPECTED_GROUPS;
	json_object_foreach(doc, name, group)
	{
		if (!strncmp(name, "block_", 6)) {
			check_group(name, group, block_expected);
			groups++;
		} else if (!strncmp(name, "net_", 4)) {
			check_group(name, group, net_expected);
			groups++;
		}
	}
	if (json_object_size(doc) != groups)
		fail_msg("%zu top-level keys, expected %zu",
			 json_object_size(doc), groups);
}

static json_int_t get(json_t *doc, const char *group, const char *key)
{
	return json_integer_value(
		json_object_get(json_object_get(doc, group), key));
}

static void skeleton_has_every_key_firecracker_validates(void **state)
{
	json_t *doc = fc_metrics_skeleton();
	json_t *previous = json_object();

	assert_non_null(doc);
	fc_metrics_finish(doc, previous, 1795000000000LL);
	check_line(doc);
	assert_int_equal(
		json_integer_value(json_object_get(doc, "utc_timestamp_ms")),
		1795000000000LL);
	/* Firecracker's rtc group is aarch64's only. */
	assert_null(json_object_get(doc, "rtc"));
	json_decref(doc);
	json_decref(previous);
}

static void unknown_keys_are_not_added(void **state)
{
	json_t *doc = fc_metrics_skeleton();
	json_t *previous = json_object();

	fc_metrics_add(doc, "vcpu", "not_a_key", 5);
	fc_metrics_add(doc, "no_group", "x", 5);
	fc_metrics_device_add(doc, "pmem", "p0", "cfg_fails", 1);
	fc_metrics_finish(doc, previous, 0);
	check_line(doc);
	json_decref(doc);
	json_decref(previous);
}

/* Two flushes: counters are what happened in between, stored values
 * stay, a per-device group appears before its sum, and the sum holds the
 * devices' changes. */
static void counters_are_changes_since_the_last_flush(void **state)
{
	json_t *previous = json_object();
	json_t *doc = fc_metrics_skeleton();

	fc_metrics_add(doc, "put_api_requests", "drive_count", 3);
	fc_metrics_add(doc, "api_server", "process_startup_time_us", 1200);
	fc_metrics_add(doc, "signals", "sigpipe", 2);
	fc_metrics_add(doc, "signals", "sigbus", 1);
	fc_metrics_device_add(doc, "block", "rootfs", "read_bytes", 4096);
	fc_metrics_device_add(doc, "block", "data", "read_bytes", 512);
	fc_metrics_device(doc, "net", "eth0");
	fc_metrics_finish(doc, previous, 0);
	check_line(doc);
	assert_int_equal(get(doc, "put_api_requests", "drive_count"), 3);
	assert_int_equal(get(doc, "block_rootfs", "read_bytes"), 4096);
	assert_int_equal(get(doc, "block", "read_bytes"), 4608);
	assert_int_equal(get(doc, "net_eth0", "rx_bytes_count"), 0);
	json_decref(doc);

	doc = fc_metrics_skeleton();
	fc_metrics_add(doc, "put_api_requests", "drive_count", 5);
	fc_metrics_add(doc, "api_server", "process_startup_time_us", 1200);
	fc_metrics_add(doc, "signals", "sigpipe", 2);
	fc_metrics_add(doc, "signals", "sigbus", 1);
	fc_metrics_device_add(doc, "block", "rootfs", "read_bytes", 5096);
	fc_metrics_device_add(doc, "block", "data", "read_bytes", 512);
	fc_metrics_device(doc, "net", "eth0");
	fc_metrics_finish(doc, previous, 0);
	check_line(doc);
	assert_int_equal(get(doc, "put_api_requests", "drive_count"), 2);
	assert_int_equal(get(doc, "api_server", "process_startup_time_us"),
			 1200);
	assert_int_equal(get(doc, "signals", "sigpipe"), 0);
	assert_int_equal(get(doc, "signals", "sigbus"), 1);
	assert_int_equal(get(doc, "block_rootfs", "read_bytes"), 1000);
	assert_int_equal(get(doc, "block_data", "read_bytes"), 0);
	assert_int_equal(get(doc, "block", "read_bytes"), 1000);
	json_decref(doc);

	/* A device made anew (a reboot) counts from 0 again. */
	doc = fc_metrics_skeleton();
	fc_metrics_device_add(doc, "block", "rootfs", "read_bytes", 10);
	fc_metrics_finish(doc, previous, 0);
	assert_int_equal(get(doc, "block_rootfs", "read_bytes"), 10);
	json_decref(doc);
	json_decref(previous);
}

static void fc_source(void *opaque, json_t *doc)
{
	const uint64_t *count = opaque;

	fc_metrics_add(doc, "mmds", "rx_accepted", *count);
}

static void prometheus_source(void *opaque, struct metrics_out *out)
{
}

/* Through the registry: only sources given a Firecracker part add to the
 * line, and the registry keeps the deltas with the caller's state. */
static void registry_renders_firecracker_lines(void **state)
{
	struct metrics_registry reg;
	uint64_t count = 4;
	json_t *previous = json_object();
	json_t *doc;

	metrics_registry_init(&reg);
	assert_int_equal(
		metrics_register(&reg, "mmds", prometheus_source, &count, NULL),
		0);
	assert_int_equal(metrics_register(&reg, "other", prometheus_source,
					  &count, NULL),
			 0);
	metrics_set_firecracker(&reg, "mmds", fc_source);
	doc = metrics_render_firecracker(&reg, previous);
	check_line(doc);
	assert_int_equal(get(doc, "mmds", "rx_accepted"), 4);
	json_decref(doc);
	count = 7;
	doc = metrics_render_firecracker(&reg, previous);
	assert_int_equal(get(doc, "mmds", "rx_accepted"), 3);
	json_decref(doc);
	json_decref(previous);
	metrics_registry_destroy(&reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(skeleton_has_every_key_firecracker_validates),
		cmocka_unit_test(unknown_keys_are_not_added),
		cmocka_unit_test(counters_are_changes_since_the_last_flush),
		cmocka_unit_test(registry_renders_firecracker_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
