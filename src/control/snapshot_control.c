#include "control/snapshot_control.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snapshot/snapshot.h"
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

int instance_snapshot_load(struct instance *inst, const char *snapshot_path,
			   const char *mem_file_path, int resume,
			   struct tern_error *err)
{
	uint64_t memory_size, one = 1;
	struct timespec t0, t1;
	int cpu_count, ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);

	/* Read (and check) the file before touching the instance. */
	ret = snapshot_read_machine(snapshot_path, &cpu_count, &memory_size,
				    err);
	if (ret)
		return ret;
	pthread_mutex_lock(&inst->lock);
	if (inst->state != INSTANCE_NOT_STARTED) {
		ret = tern_error_set(err, EPERM,
				     "a snapshot loads only into a tern whose "
				     "VM has not started (state: %s)",
				     instance_state_name(inst->state));
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
	inst->load_resume = resume;
	inst->config.cpu_count = cpu_count;
	inst->config.memory_size = memory_size;

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
				    const char *mem_file_path, int resume,
				    struct tern_error *err)
{
	uint64_t memory_size;
	int cpu_count, ret;

	if (access(mem_file_path, R_OK))
		return tern_error_set(err, errno, "memory file '%.100s': %s",
				      mem_file_path, strerror(errno));
	ret = snapshot_read_machine(snapshot_path, &cpu_count, &memory_size,
				    err);
	if (ret)
		return ret;
	pthread_mutex_lock(&inst->lock);
	if (inst->state != INSTANCE_NOT_STARTED) {
		pthread_mutex_unlock(&inst->lock);
		return tern_error_set(err, EPERM, "the VM has started already");
	}
	free(inst->load_snapshot_path);
	free(inst->load_mem_file_path);
	inst->load_snapshot_path = strdup(snapshot_path);
	inst->load_mem_file_path = strdup(mem_file_path);
	inst->load_resume = resume;
	inst->config.cpu_count = cpu_count;
	inst->config.memory_size = memory_size;
	ret = inst->load_snapshot_path && inst->load_mem_file_path
		? 0
		: tern_error_set(err, ENOMEM, "out of memory");
	pthread_mutex_unlock(&inst->lock);
	return ret;
}
