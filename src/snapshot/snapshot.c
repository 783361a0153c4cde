#include "snapshot/snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "snapshot/device_state.h"
#include "snapshot/memory_file.h"
#include "snapshot/snapshot_sections.h"
#include "snapshot/state_file.h"
#include "snapshot/vcpu_state.h"
#include "snapshot/vm_state.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* No vCPU inside KVM_RUN: paused, or never started. */
static int vcpus_stopped(struct vm *vm)
{
	int stopped;

	pthread_mutex_lock(&vm->pause_lock);
	stopped = vm->paused || vm->vcpus_running == 0;
	pthread_mutex_unlock(&vm->pause_lock);
	return stopped;
}

int snapshot_create(struct vm *vm, const struct snapshot_create_request *req,
		    struct snapshot_stats *stats, struct tern_error *err)
{
	uint64_t start = now_ns(), written = 0;
	struct state_file sf;
	int ret;

	if (!vcpus_stopped(vm))
		return tern_error_set(err, EBUSY,
				      "pause the VM before taking a snapshot");
	state_file_init(&sf);
	/* Device state first: a device that cannot be saved stops the
	 * snapshot before any file is touched. */
	ret = device_state_save(vm, &sf, err);
	if (!ret)
		ret = vm_state_save(vm, &sf, err);
	for (int i = 0; !ret && i < vm->vcpu_count; i++)
		ret = vcpu_state_save(&vm->vcpus[i], &sf, err);
	if (!ret && req->type == SNAPSHOT_DIFF)
		ret = memory_file_write_diff(vm, req->mem_file_path, &written,
					     err);
	if (!ret && req->type == SNAPSHOT_FULL) {
		ret = memory_file_write_full(vm, req->mem_file_path, &written,
					     err);
		/* The next Diff holds what changes after this Full. */
		if (!ret)
			ret = memory_file_track_dirty(vm, err);
	}
	if (!ret)
		ret = state_file_write(&sf, req->snapshot_path, err);
	state_file_free(&sf);
	if (!ret && stats) {
		stats->memory_bytes_written = written;
		stats->duration_ns = now_ns() - start;
	}
	return ret;
}

static int check_snapshot(struct vm *vm, const struct state_file *sf,
			  struct tern_error *err)
{
	int ret = vm_state_check(vm, sf, err);

	if (!ret)
		ret = device_state_check(vm, sf, err);
	for (int i = 0; !ret && i < vm->vcpu_count; i++)
		ret = vcpu_state_check_cpuid(&vm->vcpus[i], sf, err);
	return ret;
}

int snapshot_load(struct vm *vm, const char *snapshot_path,
		  const char *mem_file_path, struct snapshot_stats *stats,
		  struct tern_error *err)
{
	uint64_t start = now_ns();
	struct state_file sf;
	int ret;

	if (vm->vcpus_running || vm->vcpus[0].thread_started)
		return tern_error_set(err, EBUSY,
				      "a snapshot loads only into a VM that "
				      "has not started");
	ret = state_file_read(&sf, snapshot_path, err);
	if (!ret)
		ret = check_snapshot(vm, &sf, err);
	/* From here on the VM changes. */
	if (!ret)
		ret = memory_file_map(vm, mem_file_path, err);
	if (!ret)
		ret = device_state_restore(vm, &sf, err);
	if (!ret)
		ret = vm_state_restore(vm, &sf, err);
	for (int i = 0; !ret && i < vm->vcpu_count; i++)
		ret = vcpu_state_restore(&vm->vcpus[i], &sf, err);
	if (!ret)
		device_state_restored(vm);
	/* A Diff of this VM can go onto the file it was restored from. */
	if (!ret)
		ret = memory_file_track_dirty(vm, err);
	state_file_free(&sf);
	if (!ret && stats) {
		stats->memory_bytes_written = 0;
		stats->duration_ns = now_ns() - start;
	}
	return ret;
}

int snapshot_read_machine(const char *snapshot_path, int *cpu_count,
			  uint64_t *memory_size, struct tern_error *err)
{
	struct state_file sf;
	const struct state_section *s;
	struct snap_vm_meta meta;
	int ret = state_file_read(&sf, snapshot_path, err);

	if (!ret) {
		s = state_file_require(&sf, SNAP_VM_META, "vm.meta",
				       sizeof(meta), err);
		if (!s)
			ret = -EINVAL;
	}
	if (!ret) {
		memcpy(&meta, s->data, sizeof(meta));
		if (meta.vcpu_count < 1 || meta.vcpu_count > VM_MAX_CPUS ||
		    meta.memory_size == 0)
			ret = tern_error_set(
				err, EINVAL,
				"the snapshot's machine (%u vCPUs, "
				"%llu bytes of memory) is invalid",
				meta.vcpu_count,
				(unsigned long long)meta.memory_size);
	}
	if (!ret) {
		*cpu_count = (int)meta.vcpu_count;
		*memory_size = meta.memory_size;
	}
	state_file_free(&sf);
	return ret;
}
