/* One tern instance as the control plane sees it: the configuration being
 * built (by the command line, a config file or API calls), the VM once it
 * is started, its state (Not started, Running, Paused), and the metrics
 * registry. The API thread calls the instance_* functions; the main thread
 * runs instance_run(), which creates the VM when asked and runs it until it
 * stops. One lock orders everything; no function here holds it while
 * rendering metrics or logging to a file. */
#ifndef TERN_CONTROL_INSTANCE_H
#define TERN_CONTROL_INSTANCE_H

#include <jansson.h>
#include <pthread.h>

#include "config/vm_config_json.h"
#include "metrics/metrics.h"
#include "migration/migration_transport.h"
#include "migration/migration_wire.h"
#include "util/error.h"
#include "vm/vm.h"

enum instance_state {
	INSTANCE_NOT_STARTED,
	INSTANCE_STARTING,
	INSTANCE_RUNNING,
	INSTANCE_PAUSED,
	INSTANCE_STOPPED,
};

enum instance_setting {
	INSTANCE_SET_MACHINE, /* PUT /machine-config */
	INSTANCE_PATCH_MACHINE, /* PATCH /machine-config */
	INSTANCE_SET_BOOT_SOURCE,
	INSTANCE_SET_LOGGER,
	INSTANCE_SET_METRICS,
	INSTANCE_SET_SERIAL,
	INSTANCE_SET_CPU_CONFIG,
	INSTANCE_SET_ENTROPY, /* PUT /entropy: virtio-rng */
	INSTANCE_SET_BALLOON, /* PUT /balloon: virtio-balloon */
	INSTANCE_SET_DRIVE, /* PUT /drives/{id}: virtio-blk */
	INSTANCE_SET_VSOCK, /* PUT /vsock: virtio-vsock */
	INSTANCE_SET_NET, /* PUT /network-interfaces/{id}: virtio-net */
	INSTANCE_SET_MMDS, /* PUT /mmds/config */
	INSTANCE_SET_PMEM, /* PUT /pmem/{id}: virtio-pmem */
	INSTANCE_SET_MEMORY_HOTPLUG, /* PUT /hotplug/memory: virtio-mem */
};

/* Seconds between two JSON metrics lines when a metrics file is set. */
#define INSTANCE_METRICS_PERIOD_S 60

/* Firecracker's instance ids: 1 to 64 letters, digits and hyphens. */
#define INSTANCE_ID_MAX 64
#define INSTANCE_ID_DEFAULT "anonymous-instance"

/* What Firecracker's jailer passes (--start-time-us: its CLOCK_MONOTONIC;
 * --start-time-cpu-us: its CPU time; --parent-cpu-time-us), for the
 * metrics' api_server group. */
struct instance_start_times {
	int has_start, has_start_cpu;
	unsigned long long start_us, start_cpu_us, parent_cpu_us;
};

struct instance {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum instance_state state;
	struct vm_config config;
	struct vm_config_storage storage;
	struct vm *vm; /* while Running or Paused */

	int wake_fd; /* eventfd: the API asks the main thread to start */
	int start_requested;
	int start_finished;
	int start_ret;
	struct tern_error start_err;

	/* PUT /snapshot/load: the VM is created from this snapshot instead
	 * of a kernel (src/control/snapshot_control.c). */
	char *load_snapshot_path;
	char *load_mem_file_path; /* with load_mem_uffd: the handler's socket */
	int load_mem_uffd; /* mem_backend Uffd (snapshot/uffd_backend.h) */
	int load_resume;
	int load_clock_realtime; /* snapshot_load_options.clock_realtime */

	/* Live migration (src/control/migration_control.c): the source's
	 * job, and the destination's address and connection; the transport
	 * (--migration-tls, --insecure-plain-tcp) is the destination's, and
	 * the source's when PUT /migration names none. */
	struct migration_job *migration;
	struct migration_transport_config migration_transport;
	const char *incoming_address; /* --incoming; NULL: none */
	struct migration_listener *incoming_listener; /* bound, not accepted */
	struct migration_stream *incoming_stream;
	struct migration_machine incoming_machine;

	struct metrics_registry metrics;
	pthread_mutex_t metrics_lock; /* metrics_fd, flusher_quit */
	pthread_cond_t flusher_cond;
	int metrics_fd;
	/* /proc/self/statm, opened at start: the metrics and API threads
	 * read it without opening files (their seccomp lists). */
	int statm_fd;
	int flusher_quit;
	/* Firecracker's line (firecracker_api): the counters' values at the
	 * last flush, and logger.metrics_fails / missed_metrics_count. */
	json_t *fc_previous;
	_Atomic uint64_t metrics_fails;
	_Atomic uint64_t metrics_missed;
	/* Firecracker's latencies_us.pause_vm / resume_vm: the last pause's
	 * and resume's duration. */
	_Atomic uint64_t pause_us;
	_Atomic uint64_t resume_us;
	/* Firecracker's api_server.process_startup_time_us and _cpu_us. */
	_Atomic uint64_t startup_us;
	_Atomic uint64_t startup_cpu_us;
	int flusher_started;
	pthread_t flusher;

	/* The microVM's name (tern firecracker --id): GET /, and each metrics
	 * line with metrics.emit_id. */
	char id[INSTANCE_ID_MAX + 1];
	/* Started as `firecracker`: GET /vm/config has Firecracker's sections
	 * only (no "tern" section), as a client validating against its
	 * specification expects, and the metrics file gets Firecracker's
	 * line (metrics/fc_metrics.h) instead of tern's. */
	int firecracker_api;
	/* The MMDS data store (src/mmds): PUT/PATCH/GET /mmds before and
	 * after start; the VM's MMDS interfaces serve it. Lives as long as
	 * the instance, through reboots. */
	struct mmds_store *mmds;
};

struct instance_outcome {
	enum vm_stop_reason reason;
	int stop_signal;
	uint32_t
		debug_exit_value; /* VM_STOP_DEBUG_EXIT: what the guest wrote */
};

/* Takes over the strings in *storage and the paths *config owns
 * (vm_config_move: always, even on failure). Applies the logger and
 * metrics settings of config. Blocks SIGINT, SIGTERM and SIGHUP
 * in the calling thread, so every thread created afterwards leaves them to
 * the main loop. */
struct instance *instance_create(struct vm_config *config,
				 struct vm_config_storage *storage,
				 struct tern_error *err);
void instance_destroy(struct instance *inst);

/* Main thread: starts the VM at once (boot_now) or when InstanceStart
 * comes, and runs it until it stops. Returns 0 with the outcome, or an
 * error when boot_now and the VM could not be set up. A stop signal while
 * waiting ends it as VM_STOP_SIGNAL. */
int instance_run(struct instance *inst, int boot_now,
		 struct instance_outcome *outcome, struct tern_error *err);

/* API side. Each returns 0 or a negative errno with err set: -EINVAL bad
 * input, -EPERM wrong state. */
int instance_configure(struct instance *inst, enum instance_setting what,
		       const json_t *body, struct tern_error *err);
int instance_start(struct instance *inst, struct tern_error *err);
int instance_pause(struct instance *inst, struct tern_error *err);
int instance_resume(struct instance *inst, struct tern_error *err);
int instance_send_ctrl_alt_del(struct instance *inst, struct tern_error *err);
/* Presses the guest's ACPI power button (vm/vm_power_button.h): a running
 * VM only; -ENODEV when the guest does not listen. */
int instance_send_power_button(struct instance *inst, struct tern_error *err);
/* Once the API serves (or the VM is about to boot without one): the time
 * since the jailer's start, as Firecracker's process_startup_time_us. */
void instance_report_start_times(struct instance *inst,
				 const struct instance_start_times *times);
int instance_flush_metrics(struct instance *inst, struct tern_error *err);
/* PUT, PATCH and GET /mmds (src/control/mmds_control.c): -EFBIG over the
 * size limit (413), -ENOENT PATCH before any PUT. */
int instance_mmds_put(struct instance *inst, const json_t *doc,
		      struct tern_error *err);
int instance_mmds_patch(struct instance *inst, const json_t *patch,
			struct tern_error *err);
json_t *instance_mmds_get(struct instance *inst, struct tern_error *err);

enum instance_state instance_get_state(struct instance *inst);
/* "Not started", "Running", "Paused" (Firecracker's words), "Stopped". */
const char *instance_state_name(enum instance_state state);
json_t *instance_export_config(struct instance *inst);
json_t *instance_export_machine(struct instance *inst);

#endif
