/* The source side of a live migration: pre-copy of guest RAM while the
 * guest runs (KVM's dirty log, pass after pass until few pages are left),
 * then pause, the last pages and the snapshot state sections, and the wait
 * for the destination's acknowledgement that its copy runs. */
#ifndef TERN_MIGRATION_MIGRATION_SEND_H
#define TERN_MIGRATION_MIGRATION_SEND_H

#include <stdatomic.h>
#include <stdint.h>

#include "migration/migration_stream.h"
#include "vm/vm.h"

/* Stop pre-copy when a pass leaves fewer dirty pages than this... */
#define MIGRATION_DIRTY_PAGES_THRESHOLD 256
/* ...or after this many passes (a guest dirtying faster than the link). */
#define MIGRATION_MAX_ITERATIONS 30
/* How long the source waits for the destination's answer after END. */
#define MIGRATION_ACK_TIMEOUT_S 30
/* After a failure, how long the source tries to take its disks' locks back
 * (a refusing destination drops them as it exits). */
#define MIGRATION_RECLAIM_TIMEOUT_S 10

enum migration_phase {
	MIGRATION_NONE,
	MIGRATION_PRECOPY,
	MIGRATION_STOP_AND_COPY,
	MIGRATION_COMPLETED,
	MIGRATION_FAILED,
};

/* Written by the sending thread, read by GET /migration at any time. */
struct migration_progress {
	_Atomic int phase;
	_Atomic uint64_t iteration;
	_Atomic uint64_t bytes_sent;
	_Atomic uint64_t dirty_pages_last; /* found by the last pass */
	_Atomic uint64_t dirty_rate; /* pages per second, last pass */
	_Atomic uint64_t expected_downtime_ms;
	_Atomic uint64_t downtime_ns; /* pause to ack, once completed */
	_Atomic uint64_t total_ns;
};

/* How the sender stops and restarts the guest: through the instance (so
 * its state follows) or directly through the VM (tests). */
struct migration_source_hooks {
	int (*pause)(void *opaque, struct tern_error *err);
	void (*resume)(void *opaque);
	void *opaque;
};

/* Refuses, without touching anything (no device's save runs), a VM that
 * cannot migrate: a device without save/restore in its ops table. */
int migration_check_source(struct vm *vm, struct tern_error *err);

/* stream: connected (and authenticated, unless plain TCP was asked
 * for); the caller closes it. Returns 0 once the destination acknowledged: the
 * VM is left paused for the caller to stop. On failure the guest runs as
 * before (resumed if it was paused here, its disks' locks taken back) and
 * dirty logging is off; except when a disk's lock cannot be taken back
 * (-EBUSY): another process, maybe the destination running the guest,
 * holds it, and the VM stays paused. */
int migration_send_vm(struct vm *vm, struct migration_stream *stream,
		      const struct migration_source_hooks *hooks,
		      struct migration_progress *progress,
		      struct tern_error *err);

const char *migration_phase_name(enum migration_phase phase);

#endif
