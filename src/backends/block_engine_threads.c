/* The fallback engine: a few worker threads run each request as plain
 * blocking system calls. Works wherever io_uring does not (old kernels,
 * seccomp filters, kernel.io_uring_disabled). */
#include "backends/block_engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "sandbox/seccomp.h"
#include "util/thread.h"

#define BLOCK_THREADS_MAX 4

struct threads_engine {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct block_request *pending_head, *pending_tail;
	struct block_request *finished;
	bool stopping;
	int thread_count;
	pthread_t threads[BLOCK_THREADS_MAX];
};

static struct block_request *take_pending(struct threads_engine *engine)
{
	struct block_request *req = engine->pending_head;

	engine->pending_head = req->next;
	if (!engine->pending_head)
		engine->pending_tail = NULL;
	req->next = NULL;
	return req;
}

static void *worker_main(void *opaque)
{
	struct block_queue *queue = opaque;
	struct threads_engine *engine = queue->engine;

	pthread_setname_np(pthread_self(), "block-worker");
	/* Before the first request: its buffers and offsets are the
	 * guest's. */
	seccomp_enter_thread(SECCOMP_THREAD_BLOCK_WORKER);
	pthread_mutex_lock(&engine->lock);
	for (;;) {
		struct block_request *req;
		uint64_t one = 1;
		ssize_t ignored;
		int result;

		while (!engine->pending_head && !engine->stopping)
			pthread_cond_wait(&engine->work, &engine->lock);
		if (!engine->pending_head)
			break;
		req = take_pending(engine);
		pthread_mutex_unlock(&engine->lock);

		result = block_sync_execute(queue, req);

		pthread_mutex_lock(&engine->lock);
		req->result = result;
		req->next = engine->finished;
		/* One wake-up per batch, not per request: a list that was
		 * not empty was signalled when it became non-empty, and
		 * block_queue_complete() clears the event fd before it takes
		 * the list, so that signal is still pending or the list is
		 * about to be taken with this request on it. */
		if (!engine->finished) {
			ignored = write(queue->event_fd, &one, sizeof(one));
			(void)ignored;
		}
		engine->finished = req;
	}
	pthread_mutex_unlock(&engine->lock);
	return NULL;
}

static void threads_fini(struct block_queue *queue)
{
	struct threads_engine *engine = queue->engine;

	if (!engine)
		return;
	pthread_mutex_lock(&engine->lock);
	engine->stopping = true;
	pthread_cond_broadcast(&engine->work);
	pthread_mutex_unlock(&engine->lock);
	for (int i = 0; i < engine->thread_count; i++)
		pthread_join(engine->threads[i], NULL);
	pthread_cond_destroy(&engine->work);
	pthread_mutex_destroy(&engine->lock);
	free(engine);
	queue->engine = NULL;
}

static int threads_init(struct block_queue *queue)
{
	struct threads_engine *engine = calloc(1, sizeof(*engine));
	int wanted = queue->depth < BLOCK_THREADS_MAX ? (int)queue->depth
						      : BLOCK_THREADS_MAX;

	if (!engine)
		return -ENOMEM;
	pthread_mutex_init(&engine->lock, NULL);
	pthread_cond_init(&engine->work, NULL);
	queue->engine = engine;
	for (int i = 0; i < wanted; i++) {
		int ret = thread_start(&engine->threads[i], worker_main, queue);

		if (ret) {
			threads_fini(queue);
			return -ret;
		}
		engine->thread_count++;
	}
	return 0;
}

static void threads_submit(struct block_queue *queue, struct block_request *req)
{
	struct threads_engine *engine = queue->engine;

	pthread_mutex_lock(&engine->lock);
	if (engine->pending_tail)
		engine->pending_tail->next = req;
	else
		engine->pending_head = req;
	engine->pending_tail = req;
	pthread_cond_signal(&engine->work);
	pthread_mutex_unlock(&engine->lock);
}

static void threads_kick(struct block_queue *queue)
{
	(void)queue; /* workers start as soon as a request is queued */
}

static void threads_reap(struct block_queue *queue)
{
	struct threads_engine *engine = queue->engine;
	struct block_request *list;

	pthread_mutex_lock(&engine->lock);
	list = engine->finished;
	engine->finished = NULL;
	pthread_mutex_unlock(&engine->lock);
	while (list) {
		struct block_request *req = list;

		list = req->next;
		req->next = NULL;
		block_queue_finish(queue, req, req->result);
	}
}

const struct block_engine_ops block_engine_threads = {
	.name = "threads",
	.init = threads_init,
	.submit = threads_submit,
	.kick = threads_kick,
	.reap = threads_reap,
	.fini = threads_fini,
};
