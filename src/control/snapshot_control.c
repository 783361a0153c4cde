#include "control/snapshot_control.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snapshot/snapshot.h"
#include "vm/vm_virtio.h"
#include "util/log.h"

int instance_snapshot_create(struct instance *inst, const char *snapshot_path,
			     const char *mem_file_path, const char *type,
			     struct tern_error *err)
{
	struct snapshot_create_request req = {snapshot_path, mem_file_path,
					      SNAPSHOT_FULL};
	struct snapshot_stats stats = {0};
	int ret;

	if (type && !strcmp(type, "Diff"))
		req.type = SNAPSHOT_DIFF;
	else if (type && strcmp(type, "Full"))
		return tern_error_set(err, EINVAL,
				      "snapshot_type '%.32s': use Full or Diff",
				      type);
	pthread_mutex_lock(&inst->lock);
	if (inst->state != INSTANCE_PAUSED)
		ret = tern_error_set(err, EPERM,
				     "a snapshot needs a paused VM (state: %s)",
				     instance_state_name(inst->state));
	else
		ret = snapshot_create(inst->vm, &req, &stats, err);
	pthread_mutex_unlock(&inst->lock);
	if (!ret)
		log_info(
			"%s snapshot %s written in %llu ms (%llu MiB of "
			"memory data)",
			req.type == SNAPSHOT_DIFF ? "Diff" : "Full",
			snapshot_path,
			(unsigned long long)(stats.duration_ns / 1000000),
			(unsigned long long)(stats.memory_bytes_written >> 20));
	return ret;
}

/* The devices' state brings the snapshot's rate limiters (as Firecracker
 * restores them), so the configuration shows those. The compare above
 * made sure the devices are the same, in the same order. */
static void take_rate_limiters(struct vm_config *merged,
			       const struct vm_config *snap)
{
	for (int i = 0; i < merged->disk_count && i < snap->disk_count; i++)
		merged->disks[i].rate_limiter = snap->disks[i].rate_limiter;
	for (int i = 0; i < merged->net_count && i < snap->net_count; i++) {
		merged->nets[i].rx_rate_limiter = snap->nets[i].rx_rate_limiter;
		merged->nets[i].tx_rate_limiter = snap->nets[i].tx_rate_limiter;
	}
	for (int i = 0; i < merged->pmem_count && i < snap->pmem_count; i++)
		merged->pmems[i].rate_limiter = snap->pmems[i].rate_limiter;
	merged->rng_rate_limiter = snap->rng_rate_limiter;
}

static int has_devices(const struct vm_config *config)
{
	return config->disk_count || config->net_count || config->virtio_rng ||
		config->vsock_cid || config->balloon.enabled ||
		config->pmem_count;
}

/* A tern given no device takes the snapshot's, as Firecracker's load
 * does (its devices come from the snapshot only): the paths, taps and
 * sockets recorded, which the overrides may change next. The snapshot's
 * disk and pmem paths move over to merged. */
static void take_snapshot_devices(struct vm_config *merged,
				  struct vm_config *snap)
{
	merged->disk_count = snap->disk_count;
	for (int i = 0; i < snap->disk_count; i++) {
		merged->disks[i] = snap->disks[i];
		snap->disks[i].path = NULL;
	}
	merged->net_count = snap->net_count;
	memcpy(merged->nets, snap->nets, sizeof(merged->nets));
	merged->virtio_rng = snap->virtio_rng;
	merged->rng_rate_limiter = snap->rng_rate_limiter;
	merged->vsock_cid = snap->vsock_cid;
	memcpy(merged->vsock_socket_path, snap->vsock_socket_path,
	       sizeof(merged->vsock_socket_path));
	merged->balloon = snap->balloon;
	merged->pmem_count = snap->pmem_count;
	for (int i = 0; i < snap->pmem_count; i++) {
		merged->pmems[i] = snap->pmems[i];
		snap->pmems[i].path = NULL;
	}
	merged->virtio_transport = snap->virtio_transport;
}

static int apply_overrides(struct vm_config *merged,
			   const struct snapshot_load_options *options,
			   struct tern_error *err)
{
	for (int i = 0; i < options->net_override_count; i++) {
		const struct snapshot_load_net_override *o =
			&options->net_overrides[i];
		struct vm_net_config *net = NULL;

		for (int n = 0; n < merged->net_count && !net; n++)
			if (!strcmp(merged->nets[n].id, o->iface_id))
				net = &merged->nets[n];
		if (!net)
			return tern_error_set(
				err, EINVAL,
				"snapshot/load.network_overrides: "
				"the snapshot has no network "
				"interface '%.64s'",
				o->iface_id);
		if (!o->host_dev_name[0] ||
		    strlen(o->host_dev_name) >= sizeof(net->tap_name))
			return tern_error_set(
				err, EINVAL,
				"snapshot/load.network_overrides: "
				"host_dev_name '%.64s' is not a "
				"tap name (1 to %zu bytes)",
				o->host_dev_name, sizeof(net->tap_name) - 1);
		snprintf(net->tap_name, sizeof(net->tap_name), "%s",
			 o->host_dev_name);
	}
	if (options->vsock_uds_path) {
		if (!merged->vsock_cid)
			return tern_error_set(err, EINVAL,
					      "snapshot/load.vsock_override: "
					      "the snapshot has no vsock "
					      "device");
		if (!options->vsock_uds_path[0] ||
		    strlen(options->vsock_uds_path) >=
			    sizeof(merged->vsock_socket_path))
			return tern_error_set(
				err, EINVAL,
				"snapshot/load.vsock_override."
				"uds_path: 1 to %zu bytes",
				sizeof(merged->vsock_socket_path) - 1);
		snprintf(merged->vsock_socket_path,
			 sizeof(merged->vsock_socket_path), "%s",
			 options->vsock_uds_path);
	}
	if (options->track_dirty_pages >= 0)
		merged->track_dirty_pages = options->track_dirty_pages;
	return 0;
}

/* The loaded VM is the snapshot's: its vCPUs, memory (size and huge
 * pages), SMT, CPU template (static and custom) and boot source replace
 * the configuration's (GET
 * /vm/config shows them), and its devices must be the configured ones (host
 * paths may differ). Lock held; takes the snapshot's strings over. */
static int take_snapshot_config(struct instance *inst,
				struct snapshot_config *snap,
				const struct snapshot_load_options *options,
				struct tern_error *err)
{
	/* The instance's configuration with the snapshot's machine: it
	 * shares the instance's disk and pmem paths (vm_config.h), which it
	 * leaves as they are, and replaces the instance's at the end. */
	struct vm_config merged = inst->config;
	static const enum vm_config_string moved[] = {
		VM_CONFIG_STR_KERNEL, VM_CONFIG_STR_INITRD,
		VM_CONFIG_STR_CMDLINE, VM_CONFIG_STR_FIRMWARE};
	int took_devices, ret;

	merged.cpu_count = snap->config.cpu_count;
	merged.memory_size = snap->config.memory_size;
	/* Firecracker's snapshot-load default ("Snapshot"): the RAM backing
	 * the snapshotted VM had. hugetlbfs RAM reads the memory file in
	 * (guest_memory_map_file), so 2M works with a File backend too. */
	merged.huge_pages = snap->config.huge_pages;
	/* Hotpluggable memory is the snapshot's too, as in Firecracker
	 * (its place and geometry are part of the guest's memory map). */
	merged.memory_hotplug = snap->config.memory_hotplug;
	merged.cpu_template = snap->config.cpu_template;
	merged.cpu_custom = snap->config.cpu_custom;
	merged.smt = snap->config.smt;
	merged.kvm_hyperv = snap->config.kvm_hyperv;
	merged.kernel_path = snap->config.kernel_path;
	merged.initrd_path = snap->config.initrd_path;
	merged.cmdline = snap->config.cmdline;
	merged.firmware_path = snap->config.firmware_path;
	merged.mmds = snap->config.mmds;
	merged.track_dirty_pages = snap->config.track_dirty_pages;
	took_devices = !has_devices(&inst->config);
	if (took_devices)
		take_snapshot_devices(&merged, &snap->config);
	ret = apply_overrides(&merged, options, err);
	if (!ret)
		ret = config_state_compare(snap, &merged,
					   vm_config_virtio_transport(&merged),
					   err);
	if (ret) {
		/* Only the paths taken from the snapshot are merged's own. */
		if (took_devices)
			vm_config_release(&merged);
		return ret;
	}
	take_rate_limiters(&merged, &snap->config);
	for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
		free(inst->storage.strings[moved[i]]);
		inst->storage.strings[moved[i]] =
			snap->storage.strings[moved[i]];
		snap->storage.strings[moved[i]] = NULL;
	}
	if (snap->storage.cpu_custom) {
		free(inst->storage.cpu_custom);
		inst->storage.cpu_custom = snap->storage.cpu_custom;
		snap->storage.cpu_custom = NULL;
	}
	inst->config = merged;
	return 0;
}

int instance_snapshot_load(struct instance *inst, const char *snapshot_path,
			   const char *mem_file_path,
			   const struct snapshot_load_options *options,
			   struct tern_error *err)
{
	struct snapshot_config snap;
	struct timespec t0, t1;
	uint64_t one = 1;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);

	/* Read (and check) the file before touching the instance. */
	ret = snapshot_read_config(snapshot_path, &snap, err);
	if (ret)
		return ret;
	pthread_mutex_lock(&inst->lock);
	if (inst->state != INSTANCE_NOT_STARTED)
		ret = tern_error_set(err, EPERM,
				     "a snapshot loads only into a tern whose "
				     "VM has not started (state: %s)",
				     instance_state_name(inst->state));
	else
		ret = take_snapshot_config(inst, &snap, options, err);
	config_state_free(&snap);
	if (ret) {
		pthread_mutex_unlock(&inst->lock);
		return ret;
	}
	free(inst->load_snapshot_path);
	free(inst->load_mem_file_path);
	inst->load_snapshot_path = strdup(snapshot_path);
	inst->load_mem_file_path = strdup(mem_file_path);
	if (!inst->load_snapshot_path || !inst->load_mem_file_path) {
		pthread_mutex_unlock(&inst->lock);
		return tern_error_set(err, ENOMEM, "out of memory");
	}
	inst->load_resume = options->resume;
	inst->load_mem_uffd = options->mem_uffd;
	inst->load_clock_realtime = options->clock_realtime;

	/* The same hand-over to the main thread as InstanceStart. */
	inst->state = INSTANCE_STARTING;
	inst->start_requested = 1;
	inst->start_finished = 0;
	if (write(inst->wake_fd, &one, sizeof(one)) < 0)
		log_warn("eventfd write: %s", strerror(errno));
	while (!inst->start_finished)
		pthread_cond_wait(&inst->cond, &inst->lock);
	ret = inst->start_ret;
	if (ret) {
		*err = inst->start_err;
		/* A failed load leaves nothing behind: the next attempt (or
		 * InstanceStart) starts from the configuration again. */
		free(inst->load_snapshot_path);
		free(inst->load_mem_file_path);
		inst->load_snapshot_path = NULL;
		inst->load_mem_file_path = NULL;
		inst->load_mem_uffd = 0;
		inst->load_clock_realtime = 0;
	}
	pthread_mutex_unlock(&inst->lock);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!ret)
		log_info("snapshot %s loaded in %.1f ms (VM created, state "
			 "restored, memory mapped)",
			 snapshot_path,
			 (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
				 (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	return ret;
}

int instance_snapshot_load_at_start(struct instance *inst,
				    const char *snapshot_path,
				    const char *mem_path, int mem_uffd,
				    int resume, struct tern_error *err)
{
	static const struct snapshot_load_options defaults = {
		.track_dirty_pages = -1};
	struct snapshot_config snap;
	int ret;

	/* The handler's socket is connected to at the load itself, whose
	 * error names it; a memory file is checked now, before the VM. */
	if (!mem_uffd && access(mem_path, R_OK))
		return tern_error_set(err, errno, "memory file '%.100s': %s",
				      mem_path, strerror(errno));
	ret = snapshot_read_config(snapshot_path, &snap, err);
	if (ret)
		return ret;
	pthread_mutex_lock(&inst->lock);
	if (inst->state != INSTANCE_NOT_STARTED)
		ret = tern_error_set(err, EPERM, "the VM has started already");
	else
		ret = take_snapshot_config(inst, &snap, &defaults, err);
	config_state_free(&snap);
	if (ret) {
		pthread_mutex_unlock(&inst->lock);
		return ret;
	}
	free(inst->load_snapshot_path);
	free(inst->load_mem_file_path);
	inst->load_snapshot_path = strdup(snapshot_path);
	inst->load_mem_file_path = strdup(mem_path);
	inst->load_resume = resume;
	inst->load_mem_uffd = mem_uffd;
	ret = inst->load_snapshot_path && inst->load_mem_file_path
		? 0
		: tern_error_set(err, ENOMEM, "out of memory");
	pthread_mutex_unlock(&inst->lock);
	return ret;
}
