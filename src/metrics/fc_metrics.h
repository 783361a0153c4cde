/* Firecracker's metrics line: what `firecracker --metrics-path` writes on
 * each flush, one JSON object with Firecracker's groups and keys
 * (api_server, block and block_<drive>, net and net_<iface>, vcpu, mmds,
 * put_api_requests, ...). Firecracker's clients and its own tests read
 * these keys, and its tests refuse a line with a key missing or one too
 * many, so every group here has every key Firecracker writes on x86_64,
 * and nothing else.
 *
 * The sources (metrics.h) fill a document of cumulative values; this
 * module turns it into what Firecracker writes: its counters
 * (SharedIncMetric) become the change since the previous flush, its
 * stored values (SharedStoreMetric: start-up times, latencies, signals,
 * a latency's min_us/max_us) stay as they are, and "block"/"net" are the
 * sums of the per-device groups' changes. Pure: tests/unit/test_fc_metrics.c
 * checks the keys against Firecracker's list. */
#ifndef TERN_METRICS_FC_METRICS_H
#define TERN_METRICS_FC_METRICS_H

#include <jansson.h>
#include <stdint.h>

/* Every fixed group with every key at 0, "utc_timestamp_ms" first. NULL
 * when out of memory. */
json_t *fc_metrics_skeleton(void);

/* Adds value to doc[group][key] (a top-level counter of a fixed group);
 * an unknown group or key is ignored (so a source cannot add keys
 * Firecracker does not have). */
void fc_metrics_add(json_t *doc, const char *group, const char *key,
		    uint64_t value);

/* The same for one device: kind "block" (group "block_<id>") or "net"
 * ("net_<id>"); the group is made, all zeros, on first use. */
void fc_metrics_device_add(json_t *doc, const char *kind, const char *id,
			   const char *key, uint64_t value);
/* Makes the device's group (all zeros) without adding to it. */
void fc_metrics_device(json_t *doc, const char *kind, const char *id);

/* Turns doc's cumulative counters into changes since the last call with
 * the same previous (an object the caller keeps, {} at first; updated
 * here), sums the per-device groups into "block" and "net", and stamps
 * utc_timestamp_ms (ms since the epoch). A counter that went down (the
 * device was made anew, as on a reboot) counts from 0 again. */
void fc_metrics_finish(json_t *doc, json_t *previous, int64_t utc_ms);

#endif
