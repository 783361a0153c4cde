/* Asynchronous I/O on a block_file: requests are submitted with iovecs and
 * complete through a callback. Completions are delivered only from
 * block_queue_complete(), which the owner (a device's I/O thread) calls when
 * block_queue_event_fd() becomes readable; submit, kick and complete are
 * called from that one thread.
 *
 * Two engines behind one interface: io_uring (liburing), and a small pool of
 * worker threads doing plain syscalls, used when io_uring is not available
 * (old kernel, seccomp, sysctl kernel.io_uring_disabled) or when asked for. */
#ifndef TERN_BACKENDS_BLOCK_QUEUE_H
#define TERN_BACKENDS_BLOCK_QUEUE_H

#include <stdint.h>
#include <sys/uio.h>

#include "backends/block_file.h"
#include "util/error.h"

/* Linux's UIO_MAXIOV: the most iovecs one readv/writev takes. */
#define BLOCK_MAX_IOV 1024

enum block_engine {
	BLOCK_ENGINE_AUTO, /* io_uring, else threads */
	BLOCK_ENGINE_IO_URING,
	BLOCK_ENGINE_THREADS,
};

enum block_op {
	BLOCK_OP_READ,
	BLOCK_OP_WRITE,
	BLOCK_OP_FLUSH, /* fdatasync: everything completed before is durable */
	BLOCK_OP_DISCARD, /* the range may read back as zeros afterwards */
	BLOCK_OP_WRITE_ZEROES, /* the range reads back as zeros afterwards */
};

struct block_request;
typedef void (*block_done_fn)(struct block_request *req, int result);

/* Owned by the caller, and untouched by it until done() runs. */
struct block_request {
	enum block_op op;
	uint64_t offset; /* bytes */
	/* READ/WRITE: the buffers; length is their total. DISCARD and
	 * WRITE_ZEROES: length bytes from offset, no buffers. */
	const struct iovec *iov;
	int iov_count;
	uint64_t length;
	/* result: 0 when all of it was done, or a negative errno. */
	block_done_fn done;
	void *opaque;

	/* Private to the queue and its engine. */
	int fd;
	uint64_t progress; /* bytes done so far */
	struct iovec *rest_iov; /* what is left after a short transfer */
	bool zero_by_writing; /* WRITE_ZEROES without ZERO_RANGE */
	int result; /* threads engine: the outcome, until reaped */
	struct block_request *next;
};

struct block_queue;

/* depth: the most requests in flight at once. With BLOCK_ENGINE_AUTO,
 * io_uring is tried first and the threads engine used when it fails. */
int block_queue_create(struct block_queue **queue, struct block_file *file,
		       enum block_engine engine, unsigned depth,
		       struct tern_error *err);
/* Waits for every request in flight (their done() runs), then frees. */
void block_queue_destroy(struct block_queue *queue);

const char *block_queue_engine_name(const struct block_queue *queue);
int block_queue_event_fd(const struct block_queue *queue);
unsigned block_queue_in_flight(const struct block_queue *queue);
unsigned block_queue_depth(const struct block_queue *queue);

/* Checks and queues req; it starts at the latest on block_queue_kick().
 * Returns 0, or a negative errno without queuing it (done() is not called):
 * -EROFS for a change to a read-only file, -ERANGE for bytes past the end,
 * -EINVAL for a malformed request, -EBUSY when depth requests are in flight.
 */
int block_queue_submit(struct block_queue *queue, struct block_request *req);
/* Starts what was queued (one system call for a batch with io_uring). */
void block_queue_kick(struct block_queue *queue);
/* Runs done() for every finished request; call when the event fd is
 * readable (it also clears it). */
void block_queue_complete(struct block_queue *queue);
/* Blocks until nothing is in flight, running the done() callbacks. */
void block_queue_drain(struct block_queue *queue);

/* Total bytes of an iovec array, or UINT64_MAX when it overflows. */
uint64_t block_iov_length(const struct iovec *iov, int count);

#endif
