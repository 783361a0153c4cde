#include "migration/migration_send.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "migration/migration_wire.h"
#include "snapshot/device_io.h"
#include "snapshot/device_state.h"
#include "snapshot/dirty_pages.h"
#include "snapshot/state_file.h"
#include "snapshot/state_sequence.h"
#include "util/log.h"
#include "virtio/virtio_device.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *migration_phase_name(enum migration_phase phase)
{
	switch (phase) {
	case MIGRATION_NONE:
		return "none";
	case MIGRATION_PRECOPY:
		return "pre-copy";
	case MIGRATION_STOP_AND_COPY:
		return "stop-and-copy";
	case MIGRATION_COMPLETED:
		return "completed";
	case MIGRATION_FAILED:
		return "failed";
	}
	return "?";
}

int migration_check_source(struct vm *vm, struct tern_error *err)
{
	/* From the ops tables only: a trial save would quiesce the devices
	 * of a running VM (virtio-blk drains, virtio-net stops reading its
	 * tap), and a refusal must leave the VM as it was. */
	return device_state_can_save(vm, err);
}

/* Pages to send, one bit per page of the RAM mapping (as dirty_pages). */
struct dirty_set {
	uint64_t *bitmap;
	uint64_t *scratch;
	size_t words;
};

static void dirty_set_free(struct dirty_set *set)
{
	free(set->bitmap);
	free(set->scratch);
	memset(set, 0, sizeof(*set));
}

static int dirty_set_alloc(struct vm *vm, struct dirty_set *set)
{
	set->words = dirty_pages_words(vm);
	set->bitmap = calloc(set->words ? set->words : 1, sizeof(uint64_t));
	set->scratch = calloc(set->words ? set->words : 1, sizeof(uint64_t));
	if (!set->bitmap || !set->scratch) {
		dirty_set_free(set);
		return -ENOMEM;
	}
	return 0;
}

/* ORs the pages written since the last call, by vCPUs (KVM's log) or by
 * tern's threads, into set (reading clears the logs). Returns the number
 * of pages in set, or a negative errno with err set. */
static int64_t dirty_set_collect(struct vm *vm, struct dirty_set *set,
				 struct tern_error *err)
{
	int64_t count = 0;
	int ret = dirty_pages_collect(vm, set->scratch, set->words, err);

	if (ret)
		return ret;
	for (size_t w = 0; w < set->words; w++) {
		set->bitmap[w] |= set->scratch[w];
		count += __builtin_popcountll(set->bitmap[w]);
	}
	return count;
}

static int send_run(struct migration_stream *stream, const uint8_t *mapping,
		    size_t offset, size_t pages,
		    struct migration_progress *progress)
{
	uint8_t head[MIGRATION_MESSAGE_HEADER_SIZE + 8];
	size_t len = pages * MIGRATION_PAGE_SIZE;
	int ret;

	migration_wire_message_header(head, MIGRATION_MSG_RAM,
				      (uint32_t)(8 + len));
	for (int i = 0; i < 8; i++)
		head[MIGRATION_MESSAGE_HEADER_SIZE + i] =
			(uint8_t)((uint64_t)offset >> (8 * i));
	ret = migration_stream_write_message(stream, head, sizeof(head),
					     mapping + offset, len);
	if (!ret)
		atomic_fetch_add(&progress->bytes_sent, sizeof(head) + len);
	return ret;
}

static int page_is_zero(const uint8_t *page)
{
	const uint64_t *w = (const uint64_t *)page;

	for (size_t i = 0; i < MIGRATION_PAGE_SIZE / 8; i++)
		if (w[i])
			return 0;
	return 1;
}

/* First pass: every non-zero page (the destination's RAM starts zeroed). */
static int send_all_ram(struct vm *vm, struct migration_stream *stream,
			struct migration_progress *progress)
{
	const uint8_t *mapping = vm->memory.mapping;
	size_t run_start = 0, run = 0;
	int ret = 0;

	for (size_t off = 0; !ret && off < vm->memory.mapping_size;
	     off += MIGRATION_PAGE_SIZE) {
		if (page_is_zero(mapping + off)) {
			if (run)
				ret = send_run(stream, mapping, run_start, run,
					       progress);
			run = 0;
			continue;
		}
		if (!run)
			run_start = off;
		if (++run == MIGRATION_MAX_RUN_PAGES) {
			ret = send_run(stream, mapping, run_start, run,
				       progress);
			run = 0;
		}
	}
	if (!ret && run)
		ret = send_run(stream, mapping, run_start, run, progress);
	return ret;
}

/* Sends every page in set (zero or not: the destination may hold older
 * data there) and clears set. */
static int send_dirty_set(struct vm *vm, struct migration_stream *stream,
			  struct dirty_set *set,
			  struct migration_progress *progress)
{
	size_t run_start = 0, run = 0;
	int ret;

	for (size_t w = 0; w < set->words; w++) {
		uint64_t bits = set->bitmap[w];

		set->bitmap[w] = 0;
		while (bits) {
			unsigned b = (unsigned)__builtin_ctzll(bits);
			size_t off = (w * 64 + b) * MIGRATION_PAGE_SIZE;

			bits &= bits - 1;
			if (off + MIGRATION_PAGE_SIZE > vm->memory.mapping_size)
				break;
			if (run &&
			    (off != run_start + run * MIGRATION_PAGE_SIZE ||
			     run == MIGRATION_MAX_RUN_PAGES)) {
				ret = send_run(stream, vm->memory.mapping,
					       run_start, run, progress);
				run = 0;
				if (ret)
					return ret;
			}
			if (!run)
				run_start = off;
			run++;
		}
	}
	if (run)
		return send_run(stream, vm->memory.mapping, run_start, run,
				progress);
	return 0;
}

/* The VM's state as a snapshot state file, with the vCPUs paused. The
 * devices' save quiesces them: virtio-blk completes what is in flight,
 * virtio-net and virtio-vsock stop reading their host sockets until the
 * guest's next kick. So their last writes to guest memory happen here,
 * before the final dirty collection, and none after it. */
static int build_state(struct vm *vm, uint8_t **buf, size_t *len,
		       struct tern_error *err)
{
	struct state_file sf;
	int ret;

	*buf = NULL;
	*len = 0;
	state_file_init(&sf);
	/* The same sections as a snapshot, configuration included: the
	 * destination refuses another device set by name before it restores
	 * anything. */
	ret = state_sequence_save(vm, &sf, err);
	if (!ret)
		ret = state_file_serialize(&sf, buf, len, err);
	state_file_free(&sf);
	if (!ret && *len > MIGRATION_MAX_STATE_SIZE)
		ret = tern_error_set(err, EFBIG,
				     "the VM state (%zu bytes) is larger than "
				     "a migration allows",
				     *len);
	if (ret) {
		free(*buf);
		*buf = NULL;
	}
	return ret;
}

static int send_state(struct migration_stream *stream, const uint8_t *buf,
		      size_t len, struct migration_progress *progress,
		      struct tern_error *err)
{
	int ret = migration_send_message(stream, MIGRATION_MSG_STATE, buf,
					 (uint32_t)len);

	if (ret)
		return tern_error_set(err, -ret, "sending the VM state: %s",
				      strerror(-ret));
	atomic_fetch_add(&progress->bytes_sent,
			 MIGRATION_MESSAGE_HEADER_SIZE + len);
	return 0;
}

/* Hands the devices' host resources over (disks: fdatasync, then their
 * lock released); on a failure takes back what was released. Returns 0 or
 * a negative errno with err set. */
static int release_backends(struct vm *vm, struct tern_error *err)
{
	for (int i = 0; i < vm->virtio_device_count; i++) {
		int ret = virtio_device_migration_release(
			vm->virtio_devices[i].vdev);

		if (ret) {
			for (int j = 0; j < i; j++)
				virtio_device_migration_reclaim(
					vm->virtio_devices[j].vdev);
			return tern_error_set(
				err, -ret,
				"device %s cannot hand over its backend: %s",
				vm->virtio_devices[i].id, strerror(-ret));
		}
	}
	return 0;
}

/* After a failure: takes the disks' locks back before the guest runs here
 * again. The destination drops them as it exits after refusing, which may
 * take a moment: retried for MIGRATION_RECLAIM_TIMEOUT_S. Returns the
 * first device that stayed held by someone else, or -1. */
static int reclaim_backends(struct vm *vm)
{
	uint64_t deadline =
		now_ns() + MIGRATION_RECLAIM_TIMEOUT_S * 1000000000ull;

	for (int i = 0; i < vm->virtio_device_count; i++) {
		struct virtio_device *vdev = vm->virtio_devices[i].vdev;
		const struct timespec pause = {.tv_nsec = 100 * 1000000};

		while (virtio_device_migration_reclaim(vdev)) {
			if (now_ns() >= deadline)
				return i;
			nanosleep(&pause, NULL);
		}
	}
	return -1;
}

static int handshake(struct migration_stream *stream, struct vm *vm,
		     struct tern_error *err)
{
	uint8_t out[MIGRATION_HANDSHAKE_SIZE], in[MIGRATION_HANDSHAKE_SIZE];
	uint8_t machine[MIGRATION_MACHINE_SIZE];
	struct migration_machine m = {
		.vcpu_count = (uint32_t)vm->vcpu_count,
		.memory_size = vm->memory.ram_size,
		.mapping_size = vm->memory.mapping_size,
	};
	int ret;

	migration_wire_handshake(out);
	ret = migration_stream_write_all(stream, out, sizeof(out));
	if (!ret)
		ret = migration_stream_read_all(stream, in, sizeof(in));
	if (ret)
		return tern_error_set(err, -ret,
				      "migration handshake with the "
				      "destination: %s",
				      ret == -EPIPE ? "connection closed"
						    : strerror(-ret));
	ret = migration_wire_check_handshake(in, err);
	if (ret)
		return ret;
	migration_wire_encode_machine(machine, &m);
	ret = migration_send_message(stream, MIGRATION_MSG_MACHINE, machine,
				     sizeof(machine));
	if (ret)
		return tern_error_set(err, -ret, "migration: %s",
				      strerror(-ret));
	return 0;
}

/* Waits for the destination's answer of type `expected` (ACK, SYNC); an
 * ERROR is its refusal. */
static int wait_for_answer(struct migration_stream *stream, uint32_t expected,
			   struct tern_error *err)
{
	uint8_t *payload = NULL;
	uint32_t type, length;
	int ret;

	migration_stream_set_timeouts(stream, MIGRATION_ACK_TIMEOUT_S,
				      MIGRATION_STALL_TIMEOUT_S);
	ret = migration_recv_message(stream, &type, &payload, &length, err);
	if (ret)
		return ret;
	if (type == MIGRATION_MSG_ERROR) {
		ret = tern_error_set(err, ECONNREFUSED,
				     "the destination refused the VM: %.*s",
				     (int)length, (const char *)payload);
	} else if (type != expected) {
		ret = tern_error_set(err, EPROTO,
				     "the destination answered with message "
				     "type %u instead of %u",
				     type, expected);
	}
	free(payload);
	return ret;
}

static void stop_dirty_log(struct vm *vm)
{
	for (int i = 0; i < vm->memory.region_count; i++) {
		const struct guest_memory_region *r = &vm->memory.regions[i];
		struct kvm_userspace_memory_region region = {
			.slot = (uint32_t)i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->hva,
		};

		if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
			log_warn("migration: cannot turn off the dirty log: "
				 "%s",
				 strerror(errno));
	}
	/* The log was read (and cleared) by the migration: a Diff snapshot
	 * needs a new Full first. */
	vm->memory_dirty_log = 0;
}

int migration_send_vm(struct vm *vm, struct migration_stream *stream,
		      const struct migration_source_hooks *hooks,
		      struct migration_progress *progress,
		      struct tern_error *err)
{
	uint64_t start = now_ns(), paused_at = 0, t_paused = 0, t_sent = 0;
	struct dirty_set set;
	int paused = 0, threads_stopped = 0, released = 0, ret;
	uint8_t *state = NULL;
	size_t state_len = 0;
	int64_t dirty = 0;

	atomic_store(&progress->phase, MIGRATION_PRECOPY);
	ret = migration_check_source(vm, err);
	if (ret)
		goto fail_early;
	ret = handshake(stream, vm, err);
	if (ret)
		goto fail_early;
	if (dirty_set_alloc(vm, &set)) {
		ret = tern_error_set(err, ENOMEM, "out of memory");
		goto fail_early;
	}
	ret = dirty_pages_start(vm, err);
	if (ret)
		goto fail;
	ret = send_all_ram(vm, stream, progress);
	for (uint64_t pass = 1; !ret; pass++) {
		uint64_t t0 = now_ns(), sent0, elapsed;

		atomic_store(&progress->iteration, pass);
		dirty = dirty_set_collect(vm, &set, err);
		if (dirty < 0) {
			ret = (int)dirty;
			goto fail;
		}
		atomic_store(&progress->dirty_pages_last, (uint64_t)dirty);
		if (dirty < MIGRATION_DIRTY_PAGES_THRESHOLD ||
		    pass >= MIGRATION_MAX_ITERATIONS)
			break;
		sent0 = atomic_load(&progress->bytes_sent);
		ret = send_dirty_set(vm, stream, &set, progress);
		elapsed = now_ns() - t0 + 1;
		atomic_store(&progress->dirty_rate,
			     (uint64_t)dirty * 1000000000ull / elapsed);
		/* What the last pages would take at this pass's speed. */
		atomic_store(
			&progress->expected_downtime_ms,
			(uint64_t)dirty * MIGRATION_PAGE_SIZE * 1000ull /
				((atomic_load(&progress->bytes_sent) - sent0) *
					 1000000000ull / elapsed +
				 1));
	}
	if (ret) {
		ret = tern_error_set(err, -ret, "migration pre-copy: %s",
				     ret == -EPIPE ? "connection closed"
						   : strerror(-ret));
		goto fail;
	}

	/* The guest runs on while the destination catches up with what the
	 * socket buffers still hold; what it dirties meanwhile is collected
	 * after the pause. */
	ret = migration_send_message(stream, MIGRATION_MSG_SYNC, NULL, 0);
	if (ret)
		ret = tern_error_set(err, -ret, "migration: %s",
				     ret == -EPIPE ? "connection closed"
						   : strerror(-ret));
	else
		ret = wait_for_answer(stream, MIGRATION_MSG_SYNC, err);
	if (ret)
		goto fail;

	atomic_store(&progress->phase, MIGRATION_STOP_AND_COPY);
	paused_at = now_ns();
	ret = hooks->pause(hooks->opaque, err);
	if (ret)
		goto fail;
	paused = 1;
	t_paused = now_ns();
	device_io_stop(vm);
	threads_stopped = 1;
	ret = build_state(vm, &state, &state_len, err);
	if (ret)
		goto fail;
	/* Every device is quiet now: the disks' data goes to stable storage
	 * and their locks to the destination, which takes them as it
	 * restores the state. */
	ret = release_backends(vm, err);
	if (ret)
		goto fail;
	released = 1;
	dirty = dirty_set_collect(vm, &set, err);
	if (dirty < 0) {
		ret = (int)dirty;
		goto fail;
	}
	log_info("migration: %lld pages left after %llu passes; guest paused",
		 (long long)dirty,
		 (unsigned long long)atomic_load(&progress->iteration));
	ret = send_dirty_set(vm, stream, &set, progress);
	if (ret) {
		ret = tern_error_set(err, -ret, "migration: %s",
				     ret == -EPIPE ? "connection closed"
						   : strerror(-ret));
		goto fail;
	}
	ret = send_state(stream, state, state_len, progress, err);
	if (!ret && migration_send_message(stream, MIGRATION_MSG_END, NULL, 0))
		ret = tern_error_set(err, EPIPE,
				     "migration: connection closed before "
				     "the end");
	t_sent = now_ns();
	if (!ret)
		ret = wait_for_answer(stream, MIGRATION_MSG_ACK, err);
	if (ret)
		goto fail;
	log_info("migration downtime: %.1f ms to pause the vCPUs, %.1f ms to "
		 "send the last pages and the state, %.1f ms to the "
		 "destination's acknowledgement",
		 (double)(t_paused - paused_at) / 1e6,
		 (double)(t_sent - t_paused) / 1e6,
		 (double)(now_ns() - t_sent) / 1e6);
	atomic_store(&progress->downtime_ns, now_ns() - paused_at);
	atomic_store(&progress->total_ns, now_ns() - start);
	atomic_store(&progress->phase, MIGRATION_COMPLETED);
	dirty_set_free(&set);
	free(state);
	return 0;

fail:
	stop_dirty_log(vm);
	dirty_set_free(&set);
	free(state);
	if (released) {
		int held = reclaim_backends(vm);

		if (held >= 0) {
			/* Whoever holds the disk now may run this guest (the
			 * destination restored it and its ACK was lost):
			 * running it here too would corrupt the disk. */
			char first[sizeof(err->message)];

			snprintf(first, sizeof(first), "%s", err->message);
			tern_error_set(err, EBUSY,
				       "%s; then device %s could not take its "
				       "disk's lock back (another process "
				       "holds it: the destination may run the "
				       "VM), so the VM stays paused here",
				       first, vm->virtio_devices[held].id);
			paused = 0;
			ret = -EBUSY;
		}
	}
	if (threads_stopped)
		device_io_restart(vm, "migration");
	if (paused) {
		hooks->resume(hooks->opaque);
		device_io_kick_all(vm);
	}
fail_early:
	atomic_store(&progress->total_ns, now_ns() - start);
	atomic_store(&progress->phase, MIGRATION_FAILED);
	return ret;
}
