#include "control/instance.h"

#include "mmds/mmds_store.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "config/config_check.h"
#include "control/device_metrics.h"
#include "control/migration_control.h"
#include "devices/boot_marker.h"
#include "devices/i8042.h"
#include "metrics/fc_metrics.h"
#include "mmds/mmds_store.h"
#include "snapshot/device_io.h"
#include "snapshot/snapshot.h"
#include "util/host_path.h"
#include "sandbox/seccomp.h"
#include "util/log.h"
#include "vm/vm_power_button.h"
#include "vm/vm_reset.h"
#include "util/thread.h"

/* Before any thread starts, so that every thread inherits the mask: a
 * process-directed signal goes to some thread that does not block it, and
 * one that ignores it would swallow it (SIGUSR2 is ignored until vm_run()
 * takes it from its signalfd, see main.c). */
static void block_stop_signals(sigset_t *set)
{
	sigset_t report;

	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	sigemptyset(&report);
	sigaddset(&report, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &report, NULL);
	signal(SIGPIPE, SIG_IGN);
}

const char *instance_state_name(enum instance_state state)
{
	switch (state) {
	case INSTANCE_NOT_STARTED:
	case INSTANCE_STARTING:
		return "Not started";
	case INSTANCE_RUNNING:
		return "Running";
	case INSTANCE_PAUSED:
		return "Paused";
	case INSTANCE_STOPPED:
		return "Stopped";
	}
	return "?";
}

static void set_state(struct instance *inst, enum instance_state state)
{
	if (strcmp(instance_state_name(inst->state),
		   instance_state_name(state)))
		log_info("vm state: %s -> %s", instance_state_name(inst->state),
			 instance_state_name(state));
	inst->state = state;
}

/* Metrics sources of the instance itself: the process and the VM. */
static uint64_t resident_bytes(int statm_fd)
{
	unsigned long long size = 0, resident = 0;
	char text[128];
	ssize_t n =
		statm_fd >= 0 ? pread(statm_fd, text, sizeof(text) - 1, 0) : -1;

	if (n <= 0)
		return 0;
	text[n] = '\0';
	if (sscanf(text, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static double cpu_seconds(void)
{
	struct timespec used;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &used);
	return (double)used.tv_sec + (double)used.tv_nsec / 1e9;
}

static void write_process_metrics(void *opaque, struct metrics_out *out)
{
	struct instance *inst = opaque;

	metrics_family(out, "tern_process_resident_memory_bytes", METRICS_GAUGE,
		       "Resident memory of the tern process (VMM and guest "
		       "pages it touched).");
	metrics_sample(out, "tern_process_resident_memory_bytes",
		       (double)resident_bytes(inst->statm_fd), NULL);
	metrics_family(out, "tern_process_cpu_seconds_total", METRICS_COUNTER,
		       "CPU time used by the tern process, all threads.");
	metrics_sample(out, "tern_process_cpu_seconds_total", cpu_seconds(),
		       NULL);
	metrics_family(out, "tern_uptime_seconds", METRICS_GAUGE,
		       "Seconds since tern started.");
	metrics_sample(out, "tern_uptime_seconds",
		       (double)log_elapsed_ns() / 1e9, NULL);
}

static void write_vm_metrics(void *opaque, struct metrics_out *out)
{
	struct instance *inst = opaque;
	struct vm *vm;

	pthread_mutex_lock(&inst->lock);
	vm = inst->vm;
	metrics_family(out, "tern_vm_running", METRICS_GAUGE,
		       "1 while the guest runs, 0 before start, when paused "
		       "or stopped.");
	metrics_sample(out, "tern_vm_running", inst->state == INSTANCE_RUNNING,
		       NULL);
	if (vm) {
		uint64_t boot_ns = boot_marker_elapsed_ns(vm->boot_marker);

		metrics_family(out, "tern_guest_boot_seconds", METRICS_GAUGE,
			       "Time from tern's start to the guest's boot "
			       "marker (0 until the guest writes it).");
		metrics_sample(out, "tern_guest_boot_seconds",
			       (double)boot_ns / 1e9, NULL);
		metrics_family(out, "tern_vcpu_exits_total", METRICS_COUNTER,
			       "KVM exits of each vCPU, by exit reason.");
		for (int i = 0; i < vm->vcpu_count; i++) {
			char cpu[16], other[24];

			snprintf(cpu, sizeof(cpu), "%d", i);
			for (unsigned r = 0; r < VCPU_EXIT_REASON_SLOTS; r++) {
				uint64_t n = atomic_load_explicit(
					&vm->vcpus[i].exits_by_reason[r],
					memory_order_relaxed);
				const char *name = vcpu_exit_reason_name(r);

				if (!n)
					continue;
				if (!name) {
					snprintf(other, sizeof(other),
						 "reason_%u", r);
					name = other;
				}
				metrics_sample(out, "tern_vcpu_exits_total",
					       (double)n, "vcpu", cpu, "reason",
					       name, NULL);
			}
		}
	}
	pthread_mutex_unlock(&inst->lock);
}

static uint64_t load_mmds(const atomic_ullong *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

/* Firecracker's mmds and logger groups. */
static void fc_instance_metrics(void *opaque, json_t *doc)
{
	struct instance *inst = opaque;
	const struct mmds_metrics *m = &inst->mmds->metrics;

	fc_metrics_add(doc, "mmds", "rx_accepted", load_mmds(&m->rx_accepted));
	fc_metrics_add(doc, "mmds", "rx_accepted_err",
		       load_mmds(&m->rx_accepted_err));
	fc_metrics_add(doc, "mmds", "rx_accepted_unusual",
		       load_mmds(&m->rx_accepted_unusual));
	fc_metrics_add(doc, "mmds", "rx_bad_eth", load_mmds(&m->rx_bad_eth));
	fc_metrics_add(doc, "mmds", "rx_count", load_mmds(&m->rx_count));
	fc_metrics_add(doc, "mmds", "tx_bytes", load_mmds(&m->tx_bytes));
	fc_metrics_add(doc, "mmds", "tx_frames", load_mmds(&m->tx_frames));
	fc_metrics_add(doc, "mmds", "connections_created",
		       load_mmds(&m->connections_created));
	fc_metrics_add(doc, "mmds", "connections_destroyed",
		       load_mmds(&m->connections_destroyed));
	fc_metrics_add(doc, "mmds", "rx_no_token",
		       load_mmds(&inst->mmds->rx_no_token));
	fc_metrics_add(doc, "mmds", "rx_invalid_token",
		       load_mmds(&inst->mmds->rx_invalid_token));
	fc_metrics_add(doc, "logger", "metrics_fails",
		       atomic_load(&inst->metrics_fails));
	fc_metrics_add(doc, "logger", "missed_metrics_count",
		       atomic_load(&inst->metrics_missed));
	fc_metrics_add(doc, "api_server", "process_startup_time_us",
		       atomic_load(&inst->startup_us));
	fc_metrics_add(doc, "api_server", "process_startup_time_cpu_us",
		       atomic_load(&inst->startup_cpu_us));
	/* One measurement of tern's pause (vCPUs stopped, devices quiet):
	 * Firecracker's API-side and VMM-side figures are the same here. */
	fc_metrics_add(doc, "latencies_us", "pause_vm",
		       atomic_load(&inst->pause_us));
	fc_metrics_add(doc, "latencies_us", "vmm_pause_vm",
		       atomic_load(&inst->pause_us));
	fc_metrics_add(doc, "latencies_us", "resume_vm",
		       atomic_load(&inst->resume_us));
	fc_metrics_add(doc, "latencies_us", "vmm_resume_vm",
		       atomic_load(&inst->resume_us));
}

static uint64_t clock_us(clockid_t clock)
{
	struct timespec now;

	clock_gettime(clock, &now);
	return (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000;
}

void instance_report_start_times(struct instance *inst,
				 const struct instance_start_times *times)
{
	uint64_t now;

	/* Only what was given, as Firecracker; a start in the future (a
	 * wrong value) reports 0 rather than wrapping. */
	if (times->has_start) {
		now = clock_us(CLOCK_MONOTONIC);
		atomic_store(&inst->startup_us,
			     now > times->start_us ? now - times->start_us : 0);
	}
	if (times->has_start_cpu) {
		now = clock_us(CLOCK_PROCESS_CPUTIME_ID);
		atomic_store(&inst->startup_cpu_us,
			     (now > times->start_cpu_us
				      ? now - times->start_cpu_us
				      : 0) +
				     times->parent_cpu_us);
	}
}

/* Firecracker's metrics.emit_id and metrics.properties: the instance id
 * and the operator's strings on each line, at the top level. */
static void add_metrics_identity(struct instance *inst, json_t *doc)
{
	json_t *properties = NULL;
	int emit_id;

	pthread_mutex_lock(&inst->lock);
	emit_id = inst->config.metrics_emit_id;
	if (inst->config.metrics_properties)
		properties =
			json_loads(inst->config.metrics_properties, 0, NULL);
	pthread_mutex_unlock(&inst->lock);
	if (emit_id)
		json_object_set_new(doc, "id", json_string(inst->id));
	if (properties)
		json_object_set_new(doc, "properties", properties);
}

static int write_metrics_line(struct instance *inst, struct tern_error *err)
{
	json_t *doc = inst->firecracker_api
		? metrics_render_firecracker(&inst->metrics, inst->fc_previous)
		: metrics_render_json(&inst->metrics);
	char *line = NULL;
	int ret = 0;

	if (doc) {
		add_metrics_identity(inst, doc);
		/* The NUL's slot carries the newline: one write(). */
		line = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9));
	}
	json_decref(doc);
	if (!line)
		return tern_error_set(err, ENOMEM, "out of memory for metrics");
	pthread_mutex_lock(&inst->metrics_lock);
	if (inst->metrics_fd < 0) {
		ret = tern_error_set(err, ENOENT,
				     "no metrics file: configure one with PUT "
				     "/metrics first");
	} else {
		size_t len = strlen(line);

		line[len] = '\n';
		/* One write of the whole line: O_APPEND keeps it whole. */
		if (write(inst->metrics_fd, line, len + 1) < 0) {
			/* A full pipe loses the line (Firecracker's
			 * missed_metrics_count); other errors are failures. */
			if (errno == EAGAIN) {
				atomic_fetch_add(&inst->metrics_missed, 1);
			} else {
				atomic_fetch_add(&inst->metrics_fails, 1);
				ret = tern_error_set(
					err, errno,
					"cannot write the metrics file: %s",
					strerror(errno));
			}
		}
		line[len] = '\0';
	}
	pthread_mutex_unlock(&inst->metrics_lock);
	free(line);
	return ret;
}

static void *metrics_flusher(void *arg)
{
	struct instance *inst = arg;

	pthread_setname_np(pthread_self(), "metrics");
	seccomp_enter_thread(SECCOMP_THREAD_METRICS);
	pthread_mutex_lock(&inst->metrics_lock);
	while (!inst->flusher_quit) {
		struct timespec deadline;
		int write_now;

		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += INSTANCE_METRICS_PERIOD_S;
		while (!inst->flusher_quit &&
		       pthread_cond_timedwait(&inst->flusher_cond,
					      &inst->metrics_lock,
					      &deadline) != ETIMEDOUT)
			;
		write_now = !inst->flusher_quit && inst->metrics_fd >= 0;
		pthread_mutex_unlock(&inst->metrics_lock);
		if (write_now) {
			struct tern_error err;

			if (write_metrics_line(inst, &err))
				log_warn("metrics: %s", err.message);
		}
		pthread_mutex_lock(&inst->metrics_lock);
	}
	pthread_mutex_unlock(&inst->metrics_lock);
	return NULL;
}

static int open_metrics_file(struct instance *inst, const char *path,
			     struct tern_error *err)
{
	int fd;

	/* O_NONBLOCK: a named pipe nobody reads must not block the API. */
	fd = host_path_open_output(path, O_NONBLOCK, 0600, "metrics file", err);
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&inst->metrics_lock);
	if (inst->metrics_fd >= 0)
		close(inst->metrics_fd);
	inst->metrics_fd = fd;
	pthread_mutex_unlock(&inst->metrics_lock);
	return 0;
}

static int apply_logging(const struct vm_config *config, struct tern_error *err)
{
	log_set_level((enum log_level)config->log_level);
	log_set_module(config->log_module);
	return log_open_file(config->log_path, config->log_show_level,
			     config->log_show_origin, err);
}

struct instance *instance_create(struct vm_config *config,
				 struct vm_config_storage *storage,
				 struct tern_error *err)
{
	struct instance *inst = calloc(1, sizeof(*inst));
	pthread_condattr_t monotonic;
	sigset_t stop_signals;

	if (!inst) {
		vm_config_release(config);
		vm_config_storage_free(storage);
		tern_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	block_stop_signals(&stop_signals);
	pthread_mutex_init(&inst->lock, NULL);
	pthread_cond_init(&inst->cond, NULL);
	pthread_mutex_init(&inst->metrics_lock, NULL);
	snprintf(inst->id, sizeof(inst->id), "%s", INSTANCE_ID_DEFAULT);
	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
	pthread_cond_init(&inst->flusher_cond, &monotonic);
	pthread_condattr_destroy(&monotonic);
	metrics_registry_init(&inst->metrics);
	vm_config_move(&inst->config, config);
	inst->storage = *storage;
	memset(storage, 0, sizeof(*storage));
	inst->metrics_fd = -1;
	inst->fc_previous = json_object();
	inst->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	inst->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (inst->wake_fd < 0) {
		tern_error_set(err, errno, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if (apply_logging(&inst->config, err))
		goto fail;
	inst->mmds = mmds_store_create(inst->config.mmds_size_limit
					       ? inst->config.mmds_size_limit
					       : MMDS_DEFAULT_SIZE_LIMIT,
				       err);
	if (!inst->mmds)
		goto fail;
	if (inst->config.metrics_path &&
	    open_metrics_file(inst, inst->config.metrics_path, err))
		goto fail;
	if (metrics_register(&inst->metrics, "process", write_process_metrics,
			     inst, err) ||
	    metrics_register(&inst->metrics, "vm", write_vm_metrics, inst,
			     err) ||
	    device_metrics_register(inst, err))
		goto fail;
	metrics_set_firecracker(&inst->metrics, "process", fc_instance_metrics);
	if (thread_start(&inst->flusher, metrics_flusher, inst)) {
		tern_error_set(err, EAGAIN, "cannot start the metrics thread");
		goto fail;
	}
	inst->flusher_started = 1;
	return inst;
fail:
	instance_destroy(inst);
	return NULL;
}

void instance_destroy(struct instance *inst)
{
	if (!inst)
		return;
	if (inst->flusher_started) {
		pthread_mutex_lock(&inst->metrics_lock);
		inst->flusher_quit = 1;
		pthread_cond_broadcast(&inst->flusher_cond);
		pthread_mutex_unlock(&inst->metrics_lock);
		pthread_join(inst->flusher, NULL);
	}
	if (inst->metrics_fd >= 0)
		close(inst->metrics_fd);
	if (inst->statm_fd >= 0)
		close(inst->statm_fd);
	if (inst->wake_fd >= 0)
		close(inst->wake_fd);
	instance_migration_free(inst);
	metrics_registry_destroy(&inst->metrics);
	json_decref(inst->fc_previous);
	pthread_cond_destroy(&inst->flusher_cond);
	pthread_mutex_destroy(&inst->metrics_lock);
	pthread_cond_destroy(&inst->cond);
	pthread_mutex_destroy(&inst->lock);
	log_close_file();
	free(inst->load_snapshot_path);
	free(inst->load_mem_file_path);
	vm_config_release(&inst->config);
	vm_config_storage_free(&inst->storage);
	mmds_store_destroy(inst->mmds);
	free(inst);
}

enum instance_state instance_get_state(struct instance *inst)
{
	enum instance_state state;

	pthread_mutex_lock(&inst->lock);
	state = inst->state;
	pthread_mutex_unlock(&inst->lock);
	return state;
}

static int require_not_started(struct instance *inst, const char *what,
			       struct tern_error *err)
{
	if (inst->state == INSTANCE_NOT_STARTED)
		return 0;
	return tern_error_set(
		err, EPERM,
		"%s is only possible before the VM starts (state: "
		"%s)",
		what, instance_state_name(inst->state));
}

int instance_configure(struct instance *inst, enum instance_setting what,
		       const json_t *body, struct tern_error *err)
{
	static const char *const names[] = {
		[INSTANCE_SET_MACHINE] = "changing machine-config",
		[INSTANCE_PATCH_MACHINE] = "changing machine-config",
		[INSTANCE_SET_BOOT_SOURCE] = "setting the boot source",
		[INSTANCE_SET_LOGGER] = "configuring the logger",
		[INSTANCE_SET_METRICS] = "configuring metrics",
		[INSTANCE_SET_SERIAL] = "configuring the serial console",
		[INSTANCE_SET_CPU_CONFIG] = "setting the CPU configuration",
		[INSTANCE_SET_ENTROPY] = "adding the entropy device",
		[INSTANCE_SET_BALLOON] = "configuring the balloon device",
		[INSTANCE_SET_DRIVE] = "configuring a drive",
		[INSTANCE_SET_VSOCK] = "configuring the vsock device",
		[INSTANCE_SET_NET] = "configuring a network interface",
		[INSTANCE_SET_MMDS] = "configuring the MMDS",
		[INSTANCE_SET_PMEM] = "configuring a pmem device",
		[INSTANCE_SET_MEMORY_HOTPLUG] =
			"configuring hotpluggable memory",
	};
	struct vm_config *config = &inst->config;
	struct vm_config_storage *storage = &inst->storage;
	struct vm_config applied;
	int ret, metrics_open;

	/* Firecracker sets its metrics up once (--metrics-path or one PUT
	 * /metrics) and refuses a second; tern run may move them. */
	if (what == INSTANCE_SET_METRICS && inst->firecracker_api) {
		pthread_mutex_lock(&inst->metrics_lock);
		metrics_open = inst->metrics_fd >= 0;
		pthread_mutex_unlock(&inst->metrics_lock);
		if (metrics_open)
			return tern_error_set(err, EINVAL,
					      "Reinitialization of metrics not "
					      "allowed: they already go to %s",
					      config->metrics_path
						      ? config->metrics_path
						      : "a file");
	}
	pthread_mutex_lock(&inst->lock);
	ret = require_not_started(inst, names[what], err);
	if (ret)
		goto out;
	switch (what) {
	case INSTANCE_SET_MACHINE:
	case INSTANCE_PATCH_MACHINE:
		ret = vm_config_json_apply_machine(
			config, storage, body, what == INSTANCE_PATCH_MACHINE,
			err);
		break;
	case INSTANCE_SET_BOOT_SOURCE:
		ret = vm_config_json_apply_boot_source(config, storage, body,
						       err);
		break;
	case INSTANCE_SET_LOGGER:
		ret = vm_config_json_apply_logger(config, storage, body, err);
		break;
	case INSTANCE_SET_METRICS:
		ret = vm_config_json_apply_metrics(config, storage, body, err);
		break;
	case INSTANCE_SET_SERIAL:
		ret = vm_config_json_apply_serial(config, storage, body, err);
		break;
	case INSTANCE_SET_CPU_CONFIG:
		ret = vm_config_json_apply_cpu_config(config, storage, body,
						      err);
		break;
	case INSTANCE_SET_ENTROPY:
		ret = vm_config_json_apply_entropy(config, storage, body, err);
		break;
	case INSTANCE_SET_BALLOON:
		ret = vm_config_json_apply_balloon(config, storage, body, err);
		break;
	case INSTANCE_SET_DRIVE:
		ret = vm_config_json_apply_drive(config, storage, body, err);
		break;
	case INSTANCE_SET_VSOCK:
		ret = vm_config_json_apply_vsock(config, storage, body, err);
		break;
	case INSTANCE_SET_NET:
		ret = vm_config_json_apply_net(config, storage, body, err);
		break;
	case INSTANCE_SET_MMDS:
		ret = vm_config_json_apply_mmds(config, storage, body, err);
		break;
	case INSTANCE_SET_PMEM:
		ret = vm_config_json_apply_pmem(config, storage, body, err);
		break;
	case INSTANCE_SET_MEMORY_HOTPLUG:
		ret = vm_config_json_apply_memory_hotplug(config, storage, body,
							  err);
		break;
	}
	/* Shares the configuration's strings (vm_config.h): read below,
	 * never released. */
	applied = *config;
out:
	pthread_mutex_unlock(&inst->lock);
	/* Files are opened outside the lock; the strings stay valid because
	 * only this (the API) thread replaces them. */
	if (!ret && what == INSTANCE_SET_LOGGER)
		ret = apply_logging(&applied, err);
	if (!ret && what == INSTANCE_SET_METRICS)
		ret = open_metrics_file(inst, applied.metrics_path, err);
	return ret;
}

int instance_start(struct instance *inst, struct tern_error *err)
{
	uint64_t one = 1;
	int ret;

	pthread_mutex_lock(&inst->lock);
	ret = require_not_started(inst, "InstanceStart", err);
	if (!ret)
		ret = config_check_bootable(
			&inst->config, "boot-source.kernel_image_path", err);
	/* machine-config may have shrunk RAM after PUT /balloon. */
	if (!ret)
		ret = config_check_balloon_fits(
			&inst->config, "balloon.amount_mib",
			"machine-config.mem_size_mib", err);
	/* --memory on the command line may not have been 2 MiB-aligned. */
	if (!ret)
		ret = config_check_huge_pages_fit(
			&inst->config, "machine-config.mem_size_mib", err);
	if (ret) {
		pthread_mutex_unlock(&inst->lock);
		return ret;
	}
	set_state(inst, INSTANCE_STARTING);
	inst->start_requested = 1;
	inst->start_finished = 0;
	if (write(inst->wake_fd, &one, sizeof(one)) < 0)
		log_warn("eventfd write: %s", strerror(errno));
	while (!inst->start_finished)
		pthread_cond_wait(&inst->cond, &inst->lock);
	ret = inst->start_ret;
	if (ret)
		*err = inst->start_err;
	pthread_mutex_unlock(&inst->lock);
	return ret;
}

int instance_pause(struct instance *inst, struct tern_error *err)
{
	int ret = 0;

	pthread_mutex_lock(&inst->lock);
	if (inst->state == INSTANCE_PAUSED) {
		ret = 0; /* already paused: nothing to do */
	} else if (inst->state != INSTANCE_RUNNING) {
		ret = tern_error_set(err, EPERM,
				     "cannot pause: the VM is not running "
				     "(state: %s)",
				     instance_state_name(inst->state));
	} else {
		uint64_t start = log_elapsed_ns();

		ret = vm_pause(inst->vm, err);
		if (!ret) {
			atomic_store(&inst->pause_us,
				     (log_elapsed_ns() - start) / 1000);
			set_state(inst, INSTANCE_PAUSED);
		}
	}
	pthread_mutex_unlock(&inst->lock);
	return ret;
}

int instance_resume(struct instance *inst, struct tern_error *err)
{
	int ret = 0;

	pthread_mutex_lock(&inst->lock);
	if (inst->state == INSTANCE_RUNNING) {
		ret = 0;
	} else if (inst->state != INSTANCE_PAUSED) {
		ret = tern_error_set(err, EPERM,
				     "cannot resume: the VM is not paused "
				     "(state: %s)",
				     instance_state_name(inst->state));
	} else {
		uint64_t start = log_elapsed_ns();

		ret = vm_resume(inst->vm, err);
		if (!ret)
			atomic_store(&inst->resume_us,
				     (log_elapsed_ns() - start) / 1000);
		/* After a snapshot create (or a load left paused), virtio-net
		 * and virtio-vsock read their host sockets again only on a
		 * kick: give one, so a guest that only receives gets data. */
		if (!ret)
			device_io_kick_all(inst->vm);
		if (!ret)
			set_state(inst, INSTANCE_RUNNING);
	}
	pthread_mutex_unlock(&inst->lock);
	return ret;
}

int instance_send_ctrl_alt_del(struct instance *inst, struct tern_error *err)
{
	int ret;

	pthread_mutex_lock(&inst->lock);
	if (inst->state != INSTANCE_RUNNING) {
		ret = tern_error_set(err, EPERM,
				     "SendCtrlAltDel needs a running VM "
				     "(state: %s)",
				     instance_state_name(inst->state));
	} else {
		ret = i8042_send_ctrl_alt_del(inst->vm->i8042);
		if (ret == -ENODEV)
			tern_error_set(
				err, ENODEV,
				"the guest has no keyboard driver on the "
				"i8042 (yet): Ctrl-Alt-Del would go "
				"nowhere");
		else if (ret)
			tern_error_set(err, -ret,
				       "the keyboard buffer is full: the guest "
				       "has not read the previous keys");
		else
			log_info("sent Ctrl-Alt-Del to the guest keyboard");
	}
	pthread_mutex_unlock(&inst->lock);
	return ret;
}

int instance_send_power_button(struct instance *inst, struct tern_error *err)
{
	int ret;

	pthread_mutex_lock(&inst->lock);
	if (inst->state != INSTANCE_RUNNING)
		ret = tern_error_set(err, EPERM,
				     "SendPowerButton needs a running VM "
				     "(state: %s)",
				     instance_state_name(inst->state));
	else
		ret = vm_press_power_button(inst->vm, err);
	pthread_mutex_unlock(&inst->lock);
	if (!ret)
		log_info("pressed the guest's ACPI power button");
	return ret;
}

int instance_flush_metrics(struct instance *inst, struct tern_error *err)
{
	return write_metrics_line(inst, err);
}

json_t *instance_export_config(struct instance *inst)
{
	json_t *doc;

	pthread_mutex_lock(&inst->lock);
	doc = vm_config_json_export_shaped(
		&inst->config,
		inst->firecracker_api ? VM_CONFIG_EXPORT_FIRECRACKER
				      : VM_CONFIG_EXPORT_API);
	pthread_mutex_unlock(&inst->lock);
	return doc;
}

json_t *instance_export_machine(struct instance *inst)
{
	json_t *doc;

	pthread_mutex_lock(&inst->lock);
	doc = vm_config_json_export_machine(&inst->config);
	pthread_mutex_unlock(&inst->lock);
	return doc;
}

static void finish_start(struct instance *inst, struct vm *vm, int ret,
			 const struct tern_error *err)
{
	pthread_mutex_lock(&inst->lock);
	inst->start_requested = 0;
	inst->start_finished = 1;
	inst->start_ret = ret;
	if (ret) {
		inst->start_err = *err;
		set_state(inst, INSTANCE_NOT_STARTED);
	} else {
		inst->vm = vm;
		set_state(inst,
			  vm->paused ? INSTANCE_PAUSED : INSTANCE_RUNNING);
	}
	pthread_cond_broadcast(&inst->cond);
	pthread_mutex_unlock(&inst->lock);
}

/* Creates the VM from the configuration as it stands; NULL with err set. */
static struct vm *create_vm(struct instance *inst, struct tern_error *err)
{
	/* On the heap, not this thread's stack: stack pages once touched
	 * stay resident for the VM's life while the heap's go back (vm_run
	 * trims it). */
	struct vm_config *config = malloc(sizeof(*config));
	struct vm *vm = malloc(sizeof(*vm));
	int ret = -ENOMEM;

	if (vm && config) {
		pthread_mutex_lock(&inst->lock);
		ret = vm_config_copy(config, &inst->config);
		pthread_mutex_unlock(&inst->lock);
	}
	if (ret) {
		free(vm);
		free(config);
		tern_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	/* The store outlives the VM; a snapshot's mmds-config has replaced
	 * the configured one by now (snapshot_control.c). */
	config->mmds_store = inst->mmds;
	mmds_store_set_mode(inst->mmds,
			    config->mmds.version == 2 ? MMDS_V2 : MMDS_V1,
			    config->mmds.imds_compat);
	ret = vm_create(vm, config, err);
	if (!ret && inst->load_snapshot_path) {
		vm->restore_clock_realtime = inst->load_clock_realtime;
		ret = inst->load_mem_uffd
			? snapshot_load_uffd(vm, inst->load_snapshot_path,
					     inst->load_mem_file_path, NULL,
					     err)
			: snapshot_load(vm, inst->load_snapshot_path,
					inst->load_mem_file_path, NULL, err);
		if (!ret && !inst->load_resume)
			vm_set_start_paused(vm);
	} else if (!ret && inst->incoming_stream) {
		ret = instance_migration_receive(inst, vm, err);
	} else if (!ret) {
		ret = vm_load_kernel(vm, err);
	}
	if (!ret)
		log_debug("VM ready: %d vCPUs, %llu MiB", config->cpu_count,
			  (unsigned long long)(config->memory_size >> 20));
	vm_config_release(config);
	free(config);
	if (ret) {
		vm_destroy(vm);
		free(vm);
		return NULL;
	}
	return vm;
}

/* Stopping before start: an InstanceStart that came with the signal must
 * not wait forever for an answer. */
static void abandon_start(struct instance *inst)
{
	pthread_mutex_lock(&inst->lock);
	if (inst->start_requested) {
		inst->start_requested = 0;
		inst->start_finished = 1;
		inst->start_ret = -ESHUTDOWN;
		tern_error_set(&inst->start_err, ESHUTDOWN, "tern is stopping");
		pthread_cond_broadcast(&inst->cond);
	}
	set_state(inst, INSTANCE_STOPPED);
	pthread_mutex_unlock(&inst->lock);
}

/* Waits for InstanceStart or a stop signal; 1 = start, 0 = signal. */
static int wait_for_start(struct instance *inst, int signal_fd,
			  struct instance_outcome *outcome)
{
	for (;;) {
		struct pollfd fds[2] = {
			{.fd = inst->wake_fd, .events = POLLIN},
			{.fd = signal_fd, .events = POLLIN},
		};
		struct signalfd_siginfo info;
		uint64_t count;

		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			return 0;
		if (fds[1].revents & POLLIN &&
		    read(signal_fd, &info, sizeof(info)) == sizeof(info)) {
			outcome->reason = VM_STOP_SIGNAL;
			outcome->stop_signal = (int)info.ssi_signo;
			return 0;
		}
		if (fds[0].revents & POLLIN &&
		    read(inst->wake_fd, &count, sizeof(count)) > 0)
			return 1;
	}
}

/* --on-reboot restart: the same VM object boots again (vm/vm_reset.h).
 * Under the lock, so the API never sees a VM half reset. */
static int restart_vm(struct instance *inst, struct vm *vm)
{
	struct tern_error err = {{0}};
	int ret;

	pthread_mutex_lock(&inst->lock);
	ret = vm_reset(vm, &err);
	if (!ret)
		ret = vm_load_kernel(vm, &err);
	pthread_mutex_unlock(&inst->lock);
	if (ret)
		log_error("cannot restart the VM after its reset: %s",
			  err.message);
	else
		log_info("VM restarted after a guest reset (--on-reboot "
			 "restart)");
	return ret;
}

int instance_run(struct instance *inst, int boot_now,
		 struct instance_outcome *outcome, struct tern_error *err)
{
	sigset_t stop_signals;
	int signal_fd;
	struct vm *vm = NULL;

	memset(outcome, 0, sizeof(*outcome));
	block_stop_signals(&stop_signals);
	signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);
	if (signal_fd < 0)
		return tern_error_set(err, errno, "signalfd: %s",
				      strerror(errno));
	if (inst->incoming_address) {
		int by_signal, ret;

		ret = instance_migration_accept(inst, signal_fd, &by_signal,
						&outcome->stop_signal, err);
		if (ret == 1) {
			outcome->reason = VM_STOP_SIGNAL;
			abandon_start(inst);
			close(signal_fd);
			return 0;
		}
		if (ret) {
			close(signal_fd);
			return ret;
		}
		boot_now = 1;
	}
	if (boot_now) {
		pthread_mutex_lock(&inst->lock);
		set_state(inst, INSTANCE_STARTING);
		pthread_mutex_unlock(&inst->lock);
		vm = create_vm(inst, err);
		/* The source stops once told; a destination that cannot tell
		 * it must not run a second copy. */
		if (vm && inst->incoming_stream &&
		    instance_migration_acknowledge(inst, err)) {
			vm_destroy(vm);
			free(vm);
			vm = NULL;
		}
		finish_start(inst, vm, vm ? 0 : -EINVAL, err);
		if (!vm) {
			close(signal_fd);
			return -EINVAL;
		}
	}
	while (!vm) {
		struct tern_error start_err = {{0}};

		if (!wait_for_start(inst, signal_fd, outcome)) {
			abandon_start(inst);
			close(signal_fd);
			log_info("stopped by signal %d before InstanceStart",
				 outcome->stop_signal);
			return 0;
		}
		vm = create_vm(inst, &start_err);
		if (!vm)
			log_warn("InstanceStart failed: %s", start_err.message);
		finish_start(inst, vm, vm ? 0 : -EINVAL, &start_err);
	}
	close(signal_fd);

	outcome->reason = vm_run(vm);
	while (vm_stop_is_reset(outcome->reason) &&
	       vm->config.on_reboot == VM_REBOOT_RESTART) {
		if (restart_vm(inst, vm)) {
			outcome->reason = VM_STOP_RESTART_FAILED;
			break;
		}
		outcome->reason = vm_run(vm);
	}
	outcome->stop_signal = vm->stop_signal;
	outcome->debug_exit_value = atomic_load(&vm->debug_exit_value);
	instance_migration_join(inst);
	instance_migration_linger(inst);

	pthread_mutex_lock(&inst->lock);
	/* A pause in progress sees the stop and gives up. */
	inst->vm = NULL;
	set_state(inst, INSTANCE_STOPPED);
	pthread_mutex_unlock(&inst->lock);
	vm_destroy(vm);
	free(vm);
	return 0;
}
