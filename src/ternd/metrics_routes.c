/* GET /v1/metrics: the host's one Prometheus endpoint. ternd's own
 * families (VMs by state, volumes, networks, requests, events, start
 * latency, one scrape_up per VM) and every running or paused VM's tern's
 * GET /metrics, fetched at once with one deadline (vm_scrape.h) and merged
 * with vm="NAME" on each sample (prom_merge.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ternd/prom_merge.h"
#include "ternd/ternd_routes.h"
#include "ternd/ternd_stats.h"
#include "ternd/vm_scrape.h"
#include "util/log.h"
#include "util/version.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static const char *const families[][3] = {
	{"ternd_info", "gauge", "ternd's version (the value is 1)"},
	{"ternd_start_time_seconds", "gauge",
	 "when this ternd started, Unix time"},
	{"ternd_vms", "gauge", "defined VMs by state"},
	{"ternd_volumes", "gauge", "volumes in the storage pool"},
	{"ternd_networks", "gauge", "defined networks, active or not"},
	{"ternd_api_requests_total", "counter",
	 "API requests answered since ternd started, by status class"},
	{"ternd_events_total", "counter",
	 "events logged (the event log's last id; kept across restarts)"},
	{"ternd_vm_start_seconds", "histogram",
	 "VM starts: from the request to the VM's tern reporting it "
	 "running"},
	{"ternd_vm_start_failures_total", "counter",
	 "VM starts that failed since ternd started"},
	{"ternd_vm_scrape_up", "gauge",
	 "1 when the VM's tern answered GET /metrics in time with valid "
	 "text"},
	{"ternd_vm_scrape_duration_seconds", "gauge",
	 "how long the VM's tern took to answer GET /metrics"},
};

static int declare(struct prom_merge *pm)
{
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (prom_merge_family(pm, families[i][0], families[i][1],
				      families[i][2]))
			return -1;
	return 0;
}

static int own_samples(struct prom_merge *pm, struct vm_manager *m,
		       const struct vm_record *vms, size_t vm_count)
{
	const struct ternd_stats *st = ternd_stats();
	struct ternd_db *db = vm_manager_db(m);
	struct volume_record *volumes;
	struct network_record *nets;
	size_t count, active = 0;
	struct tern_error err;
	double cumulative = 0;
	int ret = 0;
	static const enum vm_state states[] = {
		VM_STATE_RUNNING, VM_STATE_PAUSED, VM_STATE_SHUT_OFF,
		VM_STATE_MIGRATING, VM_STATE_INCOMING};

	ret |= prom_merge_sample(pm, "ternd_info", 1, "version", TERN_VERSION,
				 NULL);
	ret |= prom_merge_sample(pm, "ternd_start_time_seconds",
				 (double)st->started_at_ms / 1000, NULL);
	for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
		size_t n = 0;

		for (size_t i = 0; i < vm_count; i++)
			n += vms[i].runtime.state == states[s];
		ret |= prom_merge_sample(pm, "ternd_vms", (double)n, "state",
					 vm_state_name(states[s]), NULL);
	}
	if (!ternd_db_volume_list(db, &volumes, &count, &err)) {
		ret |= prom_merge_sample(pm, "ternd_volumes", (double)count,
					 NULL);
		volume_records_free(volumes, count);
	} else {
		log_warn("metrics: %s", err.message);
	}
	if (!ternd_db_network_list(db, &nets, &count, &err)) {
		for (size_t i = 0; i < count; i++)
			active += nets[i].active != 0;
		ret |= prom_merge_sample(pm, "ternd_networks", (double)active,
					 "state", "active", NULL);
		ret |= prom_merge_sample(pm, "ternd_networks",
					 (double)(count - active), "state",
					 "inactive", NULL);
		network_records_free(nets, count);
	} else {
		log_warn("metrics: %s", err.message);
	}
	for (unsigned c = 1; c <= 5; c++) {
		char code[8];

		snprintf(code, sizeof(code), "%uxx", c);
		ret |= prom_merge_sample(pm, "ternd_api_requests_total",
					 (double)st->requests[c], "code", code,
					 NULL);
	}
	ret |= prom_merge_sample(pm, "ternd_events_total",
				 (double)ternd_db_last_event_id(db), NULL);
	for (size_t i = 0; i < TERND_STATS_START_BUCKETS; i++) {
		char le[32];

		cumulative += (double)st->start_buckets[i];
		snprintf(le, sizeof(le), "%g", ternd_stats_start_bounds[i]);
		ret |= prom_merge_sample(pm, "ternd_vm_start_seconds_bucket",
					 cumulative, "le", le, NULL);
	}
	ret |= prom_merge_sample(pm, "ternd_vm_start_seconds_bucket",
				 (double)st->starts, "le", "+Inf", NULL);
	ret |= prom_merge_sample(pm, "ternd_vm_start_seconds_sum",
				 st->start_seconds_sum, NULL);
	ret |= prom_merge_sample(pm, "ternd_vm_start_seconds_count",
				 (double)st->starts, NULL);
	ret |= prom_merge_sample(pm, "ternd_vm_start_failures_total",
				 (double)st->start_failures, NULL);
	return ret;
}

/* Every active VM's metrics, and its scrape_up. */
static int vm_samples(struct prom_merge *pm, const struct vm_record *vms,
		      size_t vm_count)
{
	struct vm_scrape *scrapes =
		calloc(vm_count ? vm_count : 1, sizeof(*scrapes));
	const struct vm_record **active =
		calloc(vm_count ? vm_count : 1, sizeof(*active));
	size_t n = 0;
	int ret = 0;

	if (!scrapes || !active) {
		free(scrapes);
		free(active);
		return -1;
	}
	for (size_t i = 0; i < vm_count; i++) {
		if (!vm_state_active(vms[i].runtime.state) ||
		    !vms[i].runtime.api_socket[0])
			continue;
		active[n] = &vms[i];
		scrapes[n++].api_socket = vms[i].runtime.api_socket;
	}
	vm_scrape_all(scrapes, n, VM_SCRAPE_TIMEOUT_MS);
	for (size_t i = 0; i < n; i++) {
		struct vm_scrape *s = &scrapes[i];
		const char *name = active[i]->name;
		struct tern_error err;
		int up = s->ok;

		if (up &&
		    prom_merge_add_text(pm, name, s->body, s->body_len, &err)) {
			up = 0;
			snprintf(s->why, sizeof(s->why), "its metrics: %.140s",
				 err.message);
		}
		if (!up)
			log_warn("metrics: VM '%s': %s", name, s->why);
		ret |= prom_merge_sample(pm, "ternd_vm_scrape_up", up, "vm",
					 name, NULL);
		ret |= prom_merge_sample(pm, "ternd_vm_scrape_duration_seconds",
					 s->seconds, "vm", name, NULL);
		free(s->body);
	}
	free(scrapes);
	free(active);
	return ret;
}

void metrics_route(struct vm_manager *m, const struct ternd_request *request,
		   struct ternd_reply *reply)
{
	struct prom_merge *pm;
	struct vm_record *vms;
	struct tern_error err;
	size_t count;
	int ret;

	if (strcmp(request->method, "GET")) {
		ternd_reply_method_not_allowed(reply, "GET");
		return;
	}
	ret = vm_manager_list(m, &vms, &count, &err);
	if (ret) {
		ternd_reply_error(reply, ret, &err);
		return;
	}
	pm = prom_merge_new();
	ret = !pm || declare(pm) || own_samples(pm, m, vms, count) ||
		vm_samples(pm, vms, count);
	vm_records_free(vms, count);
	reply->body = ret ? NULL : prom_merge_render(pm);
	prom_merge_free(pm);
	if (!reply->body) {
		ternd_reply_fault(reply, 500, "out of memory");
		return;
	}
	reply->status = 200;
	reply->content_type = CONTENT_TYPE;
}
