/* What block_queue.c shares with its engines (block_engine_*.c): the queue
 * object and the engine's ops. Not for devices: they use block_queue.h. */
#ifndef TERN_BACKENDS_BLOCK_ENGINE_H
#define TERN_BACKENDS_BLOCK_ENGINE_H

#include <stdbool.h>

#include "backends/block_queue.h"

struct block_engine_ops {
	const char *name;
	/* Returns 0 or a negative errno (the engine is then not usable). */
	int (*init)(struct block_queue *queue);
	/* Takes a checked request; may start it now or at kick. */
	void (*submit)(struct block_queue *queue, struct block_request *req);
	void (*kick)(struct block_queue *queue);
	/* Hands every finished request to block_queue_finish(). */
	void (*reap)(struct block_queue *queue);
	void (*fini)(struct block_queue *queue);
};

struct block_queue {
	const struct block_engine_ops *ops;
	struct block_file *file;
	unsigned depth;
	unsigned in_flight;
	int event_fd;
	void *engine; /* the engine's own state */
	/* Set once fallocate(ZERO_RANGE) said EOPNOTSUPP: from then on
	 * write-zeroes writes zeros from zero_buffer. */
	_Atomic bool no_zero_range;
	const void *zero_buffer;
	size_t zero_buffer_size;
};

extern const struct block_engine_ops block_engine_io_uring;
extern const struct block_engine_ops block_engine_threads;

/* Called by engines from reap(): runs req->done(result). */
void block_queue_finish(struct block_queue *queue, struct block_request *req,
			int result);

/* The iovecs of req left after req->progress bytes, in req->rest_iov
 * (allocated here, freed by block_queue_finish). Returns how many, or
 * -ENOMEM. */
int block_request_rest(struct block_request *req);

/* Runs the whole request with blocking system calls, looping over short
 * transfers (the threads engine's worker body). Returns 0 or a negative
 * errno. */
int block_sync_execute(struct block_queue *queue, struct block_request *req);

/* fallocate() modes for DISCARD and WRITE_ZEROES. */
#define BLOCK_DISCARD_MODE (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
#define BLOCK_ZERO_RANGE_MODE (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)

#endif
