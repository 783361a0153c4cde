/* The preferred engine: one io_uring per queue, its completions signalled on
 * the queue's eventfd. A batch of requests costs one io_uring_enter(). */
#include "backends/block_engine.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/log.h"

struct uring_engine {
	struct io_uring ring;
	unsigned queued; /* SQEs prepared but not yet submitted */
	struct block_request *failed; /* could not be prepared; next reap */
};

/* io_uring runs its operations without a system call each, so seccomp
 * never sees them: the ring is limited to the operations a disk needs, or a
 * compromised I/O thread could open files or connect sockets through it
 * (IORING_REGISTER_RESTRICTIONS, Linux 5.10; docs/security.md, seccomp).
 * No register operation is allowed afterwards either. */
static int restrict_ring(struct io_uring *ring)
{
	static const uint8_t ops[] = {
		IORING_OP_READV, IORING_OP_WRITEV,    IORING_OP_FSYNC,
		IORING_OP_WRITE, IORING_OP_FALLOCATE,
	};
	struct io_uring_restriction res[sizeof(ops)];
	int ret;

	memset(res, 0, sizeof(res));
	for (size_t i = 0; i < sizeof(ops); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = ops[i];
	}
	/* Debian's liburing 2.3 declares but does not export the wrappers
	 * (io_uring_register_restrictions, io_uring_enable_rings). */
	ret = (int)syscall(__NR_io_uring_register, ring->ring_fd,
			   IORING_REGISTER_RESTRICTIONS, res, sizeof(ops));
	if (!ret)
		ret = (int)syscall(__NR_io_uring_register, ring->ring_fd,
				   IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	return ret < 0 ? -errno : 0;
}

static int uring_init(struct block_queue *queue)
{
	struct uring_engine *engine = calloc(1, sizeof(*engine));
	bool restricted = true;
	int ret;

	if (!engine)
		return -ENOMEM;
	/* Created disabled, so that restrictions can be set before use. */
	ret = io_uring_queue_init(queue->depth, &engine->ring,
				  IORING_SETUP_R_DISABLED);
	if (ret == -EINVAL) {
		log_warn("io_uring: this kernel cannot restrict a ring's "
			 "operations (Linux 5.10+): the disk's ring is not "
			 "limited to disk I/O");
		restricted = false;
		ret = io_uring_queue_init(queue->depth, &engine->ring, 0);
	}
	if (ret) {
		free(engine);
		return ret;
	}
	ret = io_uring_register_eventfd(&engine->ring, queue->event_fd);
	if (!ret && restricted)
		ret = restrict_ring(&engine->ring);
	if (ret) {
		io_uring_queue_exit(&engine->ring);
		free(engine);
		return ret;
	}
	queue->engine = engine;
	return 0;
}

static void uring_fini(struct block_queue *queue)
{
	struct uring_engine *engine = queue->engine;

	io_uring_queue_exit(&engine->ring);
	free(engine);
	queue->engine = NULL;
}

static void uring_kick(struct block_queue *queue)
{
	struct uring_engine *engine = queue->engine;
	int ret;

	if (!engine->queued)
		return;
	/* Accepted SQEs are the kernel's now; on an error nothing more was
	 * taken and the next kick retries the rest. */
	ret = io_uring_submit(&engine->ring);
	if (ret > 0)
		engine->queued -= (unsigned)ret > engine->queued
			? engine->queued
			: (unsigned)ret;
}

static struct io_uring_sqe *get_sqe(struct block_queue *queue)
{
	struct uring_engine *engine = queue->engine;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&engine->ring);

	if (!sqe) {
		/* The ring holds depth entries and at most depth requests
		 * are in flight, so submitting makes room. */
		uring_kick(queue);
		sqe = io_uring_get_sqe(&engine->ring);
	}
	if (sqe)
		engine->queued++;
	return sqe;
}

/* Prepares the next step of req: all of it, or what is left of it after a
 * short transfer. Returns 0 or a negative errno. */
static int prepare(struct block_queue *queue, struct block_request *req)
{
	uint64_t at = req->offset + req->progress;
	struct io_uring_sqe *sqe;
	const struct iovec *iov = req->iov;
	int count = req->iov_count;

	if (req->progress &&
	    (req->op == BLOCK_OP_READ || req->op == BLOCK_OP_WRITE)) {
		count = block_request_rest(req);
		if (count < 0)
			return count;
		iov = req->rest_iov;
	}
	sqe = get_sqe(queue);
	if (!sqe)
		return -EAGAIN;
	switch (req->op) {
	case BLOCK_OP_READ:
		io_uring_prep_readv(sqe, req->fd, iov, (unsigned)count, at);
		break;
	case BLOCK_OP_WRITE:
		io_uring_prep_writev(sqe, req->fd, iov, (unsigned)count, at);
		break;
	case BLOCK_OP_FLUSH:
		io_uring_prep_fsync(sqe, req->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLOCK_OP_DISCARD:
		io_uring_prep_fallocate(sqe, req->fd, BLOCK_DISCARD_MODE,
					(off_t)req->offset, (off_t)req->length);
		break;
	case BLOCK_OP_WRITE_ZEROES:
		if (queue->no_zero_range)
			req->zero_by_writing = true;
		if (req->zero_by_writing) {
			uint64_t left = req->length - req->progress;
			unsigned chunk = left < queue->zero_buffer_size
				? (unsigned)left
				: (unsigned)queue->zero_buffer_size;

			io_uring_prep_write(sqe, req->fd, queue->zero_buffer,
					    chunk, at);
		} else {
			io_uring_prep_fallocate(
				sqe, req->fd, BLOCK_ZERO_RANGE_MODE,
				(off_t)req->offset, (off_t)req->length);
		}
		break;
	}
	io_uring_sqe_set_data(sqe, req);
	return 0;
}

static void uring_submit(struct block_queue *queue, struct block_request *req)
{
	struct uring_engine *engine = queue->engine;
	int ret = prepare(queue, req);
	uint64_t one = 1;
	ssize_t ignored;

	if (ret) {
		/* done() runs from reap only, like for any completion. */
		req->result = ret;
		req->next = engine->failed;
		engine->failed = req;
		ignored = write(queue->event_fd, &one, sizeof(one));
		(void)ignored;
	}
}

/* What a CQE means for its request: 1 when it needs another step, else 0
 * with *result set. */
static int step_done(struct block_queue *queue, struct block_request *req,
		     int res, int *result)
{
	if (res == -EINTR || res == -EAGAIN)
		return 1;
	switch (req->op) {
	case BLOCK_OP_DISCARD:
		*result = res == -EOPNOTSUPP ? 0 : res; /* a hint only */
		return 0;
	case BLOCK_OP_FLUSH:
		*result = res;
		return 0;
	case BLOCK_OP_WRITE_ZEROES:
		if (!req->zero_by_writing) {
			if (res == -EOPNOTSUPP) {
				queue->no_zero_range = true;
				return 1;
			}
			*result = res;
			return 0;
		}
		break;
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE:
		break;
	}
	if (res <= 0) {
		*result = res ? res : -EIO; /* 0: the image shrank */
		return 0;
	}
	req->progress += (uint64_t)res;
	if (req->progress < req->length)
		return 1;
	*result = 0;
	return 0;
}

static void uring_reap(struct block_queue *queue)
{
	struct uring_engine *engine = queue->engine;
	struct io_uring_cqe *cqe;

	while (engine->failed) {
		struct block_request *req = engine->failed;

		engine->failed = req->next;
		req->next = NULL;
		block_queue_finish(queue, req, req->result);
	}
	while (io_uring_peek_cqe(&engine->ring, &cqe) == 0) {
		struct block_request *req = io_uring_cqe_get_data(cqe);
		int res = cqe->res, result = 0;

		io_uring_cqe_seen(&engine->ring, cqe);
		if (!step_done(queue, req, res, &result))
			block_queue_finish(queue, req, result);
		else if ((result = prepare(queue, req)))
			block_queue_finish(queue, req, result);
	}
	uring_kick(queue);
}

const struct block_engine_ops block_engine_io_uring = {
	.name = "io_uring",
	.init = uring_init,
	.submit = uring_submit,
	.kick = uring_kick,
	.reap = uring_reap,
	.fini = uring_fini,
};
