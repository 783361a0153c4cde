#include "snapshot/snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "snapshot/config_state.h"
#include "snapshot/device_io.h"
#include "snapshot/memory_file.h"
#include "snapshot/snapshot_sections.h"
#include "snapshot/state_file.h"
#include "snapshot/state_sequence.h"
#include "snapshot/uffd_backend.h"
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
	/* From the device save to the memory file, no device thread may
	 * write guest memory (a pending kick, a tap or vsock event, the
	 * balloon's statistics timer): the two would disagree. */
	device_io_stop(vm);
	state_file_init(&sf);
	/* The state before the memory: a device that cannot be saved stops
	 * the snapshot before any file is touched. */
	ret = state_sequence_save(vm, &sf, err);
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
	device_io_restart(vm, "snapshot");
	if (!ret)
		ret = state_file_write(&sf, req->snapshot_path, err);
	state_file_free(&sf);
	if (!ret && stats) {
		stats->memory_bytes_written = written;
		stats->duration_ns = now_ns() - start;
	}
	return ret;
}

/* Places the snapshot's memory under guest RAM: a File mapped, or a page
 * fault handler given the userfaultfd (Uffd). */
typedef int (*memory_source_fn)(struct vm *vm, const char *path,
				struct tern_error *err);

static int load(struct vm *vm, const char *snapshot_path,
		memory_source_fn attach_memory, const char *memory_path,
		struct snapshot_stats *stats, struct tern_error *err)
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
		ret = state_sequence_check(vm, &sf, err);
	/* From here on the VM changes. Memory comes before the state: the
	 * devices' restore reads their rings in guest memory, which with a
	 * page fault handler must be the handler's already. */
	if (!ret)
		ret = attach_memory(vm, memory_path, err);
	if (!ret)
		ret = state_sequence_restore(vm, &sf, err);
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

int snapshot_load(struct vm *vm, const char *snapshot_path,
		  const char *mem_file_path, struct snapshot_stats *stats,
		  struct tern_error *err)
{
	return load(vm, snapshot_path, memory_file_map, mem_file_path, stats,
		    err);
}

int snapshot_load_uffd(struct vm *vm, const char *snapshot_path,
		       const char *handler_socket_path,
		       struct snapshot_stats *stats, struct tern_error *err)
{
	return load(vm, snapshot_path, uffd_backend_attach, handler_socket_path,
		    stats, err);
}

int snapshot_read_config(const char *snapshot_path, struct snapshot_config *out,
			 struct tern_error *err)
{
	struct state_file sf;
	const struct state_section *s;
	struct snap_vm_meta meta;
	int ret = state_file_read(&sf, snapshot_path, err);

	memset(out, 0, sizeof(*out));
	if (!ret)
		ret = config_state_parse(&sf, out, err);
	if (!ret) {
		s = state_file_require(&sf, SNAP_VM_META, "vm.meta",
				       sizeof(meta), err);
		if (!s)
			ret = -EINVAL;
	}
	if (!ret) {
		memcpy(&meta, s->data, sizeof(meta));
		/* The configuration shows whole MiB; vm.meta has the bytes. */
		if (meta.vcpu_count != (uint32_t)out->config.cpu_count ||
		    meta.memory_size >> 20 != out->config.memory_size >> 20)
			ret = tern_error_set(
				err, EINVAL,
				"the snapshot is inconsistent: its machine has "
				"%u vCPUs and %llu bytes of memory, its "
				"configuration %d vCPUs and %llu MiB",
				meta.vcpu_count,
				(unsigned long long)meta.memory_size,
				out->config.cpu_count,
				(unsigned long long)(out->config.memory_size >>
						     20));
		else
			out->config.memory_size = meta.memory_size;
	}
	state_file_free(&sf);
	if (ret)
		config_state_free(out);
	return ret;
}
