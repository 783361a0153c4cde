#include "backends/block_engine.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/log.h"

/* Write-zeroes without ZERO_RANGE writes this many zero bytes at a time. */
#define BLOCK_ZERO_BUFFER_SIZE (1u << 20)

uint64_t block_iov_length(const struct iovec *iov, int count)
{
	uint64_t total = 0;

	for (int i = 0; i < count; i++) {
		if (iov[i].iov_len > UINT64_MAX - total)
			return UINT64_MAX;
		total += iov[i].iov_len;
	}
	return total;
}

static int engine_start(struct block_queue *queue,
			const struct block_engine_ops *ops)
{
	int ret;

	queue->ops = ops;
	ret = ops->init(queue);
	if (ret)
		queue->ops = NULL;
	return ret;
}

int block_queue_create(struct block_queue **out, struct block_file *file,
		       enum block_engine engine, unsigned depth,
		       struct tern_error *err)
{
	struct block_queue *queue;
	int ret;

	*out = NULL;
	if (depth == 0 || depth > 4096)
		return tern_error_set(err, EINVAL,
				      "block queue depth %u is not 1 to 4096",
				      depth);
	queue = calloc(1, sizeof(*queue));
	if (!queue)
		return tern_error_set(err, ENOMEM, "out of memory");
	queue->file = file;
	queue->depth = depth;
	queue->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	queue->zero_buffer = mmap(NULL, BLOCK_ZERO_BUFFER_SIZE, PROT_READ,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (queue->event_fd < 0 || queue->zero_buffer == MAP_FAILED) {
		ret = tern_error_set(err, errno, "block queue: %s",
				     strerror(errno));
		queue->zero_buffer = NULL;
		block_queue_destroy(queue);
		return ret;
	}
	queue->zero_buffer_size = BLOCK_ZERO_BUFFER_SIZE;

	ret = -EINVAL;
	if (engine != BLOCK_ENGINE_THREADS) {
		ret = engine_start(queue, &block_engine_io_uring);
		if (ret && engine == BLOCK_ENGINE_IO_URING) {
			ret = tern_error_set(
				err, -ret,
				"io_uring is not available on "
				"this host: %s (use engine=threads)",
				strerror(-ret));
			block_queue_destroy(queue);
			return ret;
		}
		if (ret)
			log_info("io_uring unavailable (%s): disk I/O uses "
				 "worker threads",
				 strerror(-ret));
	}
	if (ret)
		ret = engine_start(queue, &block_engine_threads);
	if (ret) {
		ret = tern_error_set(err, -ret,
				     "cannot start the disk I/O threads: %s",
				     strerror(-ret));
		block_queue_destroy(queue);
		return ret;
	}
	*out = queue;
	return 0;
}

void block_queue_destroy(struct block_queue *queue)
{
	if (!queue)
		return;
	if (queue->ops) {
		block_queue_drain(queue);
		queue->ops->fini(queue);
	}
	if (queue->event_fd >= 0)
		close(queue->event_fd);
	if (queue->zero_buffer)
		munmap((void *)queue->zero_buffer, BLOCK_ZERO_BUFFER_SIZE);
	free(queue);
}

const char *block_queue_engine_name(const struct block_queue *queue)
{
	return queue->ops->name;
}

int block_queue_event_fd(const struct block_queue *queue)
{
	return queue->event_fd;
}

unsigned block_queue_in_flight(const struct block_queue *queue)
{
	return queue->in_flight;
}

unsigned block_queue_depth(const struct block_queue *queue)
{
	return queue->depth;
}

static bool iov_aligned(const struct iovec *iov, int count, uint32_t align)
{
	for (int i = 0; i < count; i++)
		if ((uintptr_t)iov[i].iov_base % align ||
		    iov[i].iov_len % align)
			return false;
	return true;
}

/* With cache=none, O_DIRECT refuses buffers, offsets or lengths that are not
 * aligned; such a request (a guest may send one) goes through the buffered
 * descriptor instead of failing. */
static int request_fd(const struct block_file *file,
		      const struct block_request *req)
{
	uint32_t align = file->direct_alignment;

	if (file->cache != BLOCK_CACHE_NONE || req->op == BLOCK_OP_FLUSH)
		return file->fd;
	if (req->offset % align || req->length % align ||
	    ((req->op == BLOCK_OP_READ || req->op == BLOCK_OP_WRITE) &&
	     !iov_aligned(req->iov, req->iov_count, align)))
		return file->buffered_fd;
	return file->fd;
}

static int check_request(const struct block_queue *queue,
			 struct block_request *req)
{
	const struct block_file *file = queue->file;

	switch (req->op) {
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE:
		if (req->iov_count < 1 || req->iov_count > BLOCK_MAX_IOV ||
		    !req->iov)
			return -EINVAL;
		req->length = block_iov_length(req->iov, req->iov_count);
		if (req->length == 0 || req->length == UINT64_MAX)
			return -EINVAL;
		break;
	case BLOCK_OP_DISCARD:
	case BLOCK_OP_WRITE_ZEROES:
		if (req->length == 0)
			return -EINVAL;
		break;
	case BLOCK_OP_FLUSH:
		req->length = 0;
		break;
	default:
		return -EINVAL;
	}
	if (file->readonly && req->op != BLOCK_OP_READ &&
	    req->op != BLOCK_OP_FLUSH)
		return -EROFS;
	if (req->op != BLOCK_OP_FLUSH &&
	    (req->offset > file->size ||
	     req->length > file->size - req->offset))
		return -ERANGE;
	return 0;
}

int block_queue_submit(struct block_queue *queue, struct block_request *req)
{
	int ret;

	if (queue->in_flight >= queue->depth)
		return -EBUSY;
	ret = check_request(queue, req);
	if (ret)
		return ret;
	req->fd = request_fd(queue->file, req);
	req->progress = 0;
	req->rest_iov = NULL;
	req->zero_by_writing = false;
	req->next = NULL;
	queue->in_flight++;
	queue->ops->submit(queue, req);
	return 0;
}

void block_queue_kick(struct block_queue *queue)
{
	queue->ops->kick(queue);
}

void block_queue_complete(struct block_queue *queue)
{
	uint64_t count;

	/* Clear the event first: a completion posted after this read raises
	 * it again, so none is missed. */
	if (read(queue->event_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("block queue eventfd: %s", strerror(errno));
	queue->ops->reap(queue);
}

void block_queue_drain(struct block_queue *queue)
{
	block_queue_kick(queue);
	while (queue->in_flight) {
		struct pollfd pfd = {.fd = queue->event_fd, .events = POLLIN};

		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		block_queue_complete(queue);
	}
}

void block_queue_finish(struct block_queue *queue, struct block_request *req,
			int result)
{
	free(req->rest_iov);
	req->rest_iov = NULL;
	queue->in_flight--;
	req->done(req, result);
}

int block_request_rest(struct block_request *req)
{
	uint64_t skip = req->progress;
	int first = 0, count;

	if (!req->rest_iov) {
		req->rest_iov =
			malloc(sizeof(*req->rest_iov) * (size_t)req->iov_count);
		if (!req->rest_iov)
			return -ENOMEM;
	}
	while (first < req->iov_count && skip >= req->iov[first].iov_len)
		skip -= req->iov[first++].iov_len;
	count = req->iov_count - first;
	memcpy(req->rest_iov, req->iov + first,
	       sizeof(*req->rest_iov) * (size_t)count);
	if (count) {
		req->rest_iov[0].iov_base =
			(char *)req->rest_iov[0].iov_base + skip;
		req->rest_iov[0].iov_len -= skip;
	}
	return count;
}

static int sync_transfer(struct block_request *req)
{
	while (req->progress < req->length) {
		int count = block_request_rest(req);
		off_t at = (off_t)(req->offset + req->progress);
		ssize_t n;

		if (count < 0)
			return count;
		if (req->op == BLOCK_OP_READ)
			n = preadv(req->fd, req->rest_iov, count, at);
		else
			n = pwritev(req->fd, req->rest_iov, count, at);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) /* the image shrank under us */
			return -EIO;
		req->progress += (uint64_t)n;
	}
	return 0;
}

static int sync_write_zeroes(struct block_queue *queue,
			     struct block_request *req)
{
	if (!queue->no_zero_range) {
		if (fallocate(req->fd, BLOCK_ZERO_RANGE_MODE,
			      (off_t)req->offset, (off_t)req->length) == 0)
			return 0;
		if (errno != EOPNOTSUPP)
			return -errno;
		queue->no_zero_range = true;
	}
	while (req->progress < req->length) {
		uint64_t left = req->length - req->progress;
		size_t chunk = left < queue->zero_buffer_size
			? (size_t)left
			: queue->zero_buffer_size;
		ssize_t n = pwrite(req->fd, queue->zero_buffer, chunk,
				   (off_t)(req->offset + req->progress));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		req->progress += (uint64_t)n;
	}
	return 0;
}

int block_sync_execute(struct block_queue *queue, struct block_request *req)
{
	switch (req->op) {
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE:
		return sync_transfer(req);
	case BLOCK_OP_FLUSH:
		return fdatasync(req->fd) ? -errno : 0;
	case BLOCK_OP_DISCARD:
		/* Discard is a hint: a file system without hole punching
		 * keeps the data, which is allowed. */
		if (fallocate(req->fd, BLOCK_DISCARD_MODE, (off_t)req->offset,
			      (off_t)req->length) &&
		    errno != EOPNOTSUPP)
			return -errno;
		return 0;
	case BLOCK_OP_WRITE_ZEROES:
		return sync_write_zeroes(queue, req);
	}
	return -EINVAL;
}
