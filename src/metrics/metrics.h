/* The metrics registry: every part of tern that counts something (the vCPUs,
 * the API server, later each device) registers one source, a callback that
 * writes its metrics through the functions below. The same callback feeds
 * both outputs: the Prometheus text of `GET /metrics` and the JSON line
 * written to the metrics file (FlushMetrics, and every 60 s). Sources keep
 * their counters themselves, as atomics, and only read them here. */
#ifndef TERN_METRICS_METRICS_H
#define TERN_METRICS_METRICS_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

#define METRICS_MAX_SOURCES 32

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE };

struct metrics_out;
typedef void (*metrics_write_fn)(void *opaque, struct metrics_out *out);
/* Adds the source's cumulative values under Firecracker's keys
 * (fc_metrics.h: fc_metrics_add, fc_metrics_device_add). */
typedef void (*metrics_fc_fn)(void *opaque, json_t *doc);

struct metrics_source {
	char name[32]; /* the JSON group: "vcpu", "api", "virtio_blk0" */
	metrics_write_fn write;
	metrics_fc_fn fc_write; /* NULL: nothing in Firecracker's line */
	void *opaque;
};

struct metrics_registry {
	pthread_mutex_t lock;
	struct metrics_source sources[METRICS_MAX_SOURCES];
	int count;
};

void metrics_registry_init(struct metrics_registry *reg);
void metrics_registry_destroy(struct metrics_registry *reg);
int metrics_register(struct metrics_registry *reg, const char *name,
		     metrics_write_fn write, void *opaque,
		     struct tern_error *err);
/* Removes every source registered with this opaque (a device going
 * away). */
void metrics_unregister(struct metrics_registry *reg, void *opaque);

/* Gives the source registered under name its part of Firecracker's
 * line. */
void metrics_set_firecracker(struct metrics_registry *reg, const char *name,
			     metrics_fc_fn fc_write);

/* Inside a callback: declares a metric family (name: Prometheus rules,
 * [a-zA-Z_:][a-zA-Z0-9_:]*; counters end in _total), then its samples. The
 * label list is name, value, name, value, ..., NULL. */
void metrics_family(struct metrics_out *out, const char *name,
		    enum metrics_type type, const char *help);
void metrics_sample(struct metrics_out *out, const char *name, double value,
		    ...) __attribute__((sentinel));

/* Prometheus text format 0.0.4, malloc'd and NUL-terminated. */
char *metrics_render_prometheus(struct metrics_registry *reg);
/* One JSON object: {"utc_timestamp_ms": ..., "<source>": {...}, ...};
 * a labelled metric becomes an array of {label: value, ..., "value": N}. */
json_t *metrics_render_json(struct metrics_registry *reg);
/* Firecracker's line (fc_metrics.h): its counters as changes since the
 * previous call with the same previous ({} at first, kept by the caller
 * and only used under the registry's lock). */
json_t *metrics_render_firecracker(struct metrics_registry *reg,
				   json_t *previous);

#endif
