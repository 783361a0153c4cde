#include "virtio/virtio_device.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "sandbox/seccomp.h"
#include "util/log.h"
#include "util/thread.h"

/* Features every tern device offers: the virtqueue code implements them. */
#define VIRTIO_CORE_FEATURES                                                   \
	((1ULL << VIRTIO_F_VERSION_1) |                                        \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |                               \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX))

/* epoll data: which kind of fd woke the I/O thread. */
#define EVENT_STOP 0
#define EVENT_QUEUE_BASE 1
#define EVENT_WATCHED_BASE 0x10000

int virtio_device_init(struct virtio_device *vdev,
		       const struct virtio_device_ops *ops,
		       uint16_t queue_count, uint64_t features,
		       uint32_t config_size)
{
	if (queue_count == 0 || queue_count > VIRTIO_MAX_QUEUES ||
	    config_size > VIRTIO_MAX_CONFIG_SIZE)
		return -EINVAL;
	memset(vdev, 0, sizeof(*vdev));
	vdev->ops = ops;
	vdev->device_features = features | VIRTIO_CORE_FEATURES;
	vdev->config_size = config_size;
	vdev->queue_count = queue_count;
	vdev->epoll_fd = -1;
	vdev->stop_fd = -1;
	for (int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		vdev->queues[q].max_size = q < queue_count ? VIRTQ_MAX_SIZE : 0;
		vdev->queues[q].size = vdev->queues[q].max_size;
		vdev->queues[q].msix_vector = VIRTIO_NO_VECTOR;
		vdev->queues[q].kick_fd = -1;
	}
	pthread_mutex_init(&vdev->lock, NULL);
	return 0;
}

static bool device_live(const struct virtio_device *vdev)
{
	return (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		!(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

void virtio_device_serve_queue(struct virtio_device *vdev, uint16_t q,
			       virtio_serve_fn serve)
{
	struct virtq *vq = &vdev->queues[q].vq;
	struct virtq_chain chain;
	bool used = false;
	int ret;

	do {
		virtq_disable_notify(vq);
		while ((ret = virtq_pop(vq, &chain)) == 1) {
			uint32_t written = 0;

			if (serve(vdev, &chain, &written) ==
			    VIRTIO_SERVE_LATER) {
				ret = virtq_unpop(vq, 1);
				if (ret)
					virtio_device_needs_reset(vdev, ret);
				else if (used)
					virtio_device_signal_used(vdev, q);
				return;
			}
			ret = virtq_push(vq, chain.head, written);
			if (ret)
				break;
			used = true;
		}
		if (ret != 0) {
			virtio_device_needs_reset(vdev, ret);
			return;
		}
	} while (virtq_enable_notify(vq));
	if (used)
		virtio_device_signal_used(vdev, q);
}

void virtio_device_signal_used(struct virtio_device *vdev, uint16_t q)
{
	if (q >= vdev->queue_count || !vdev->transport)
		return;
	if (!virtq_needs_interrupt(&vdev->queues[q].vq))
		return;
	virtio_stat_add(&vdev->stats.interrupts, 1);
	vdev->transport->signal_queue(vdev, q);
}

static void raise_config_interrupt(struct virtio_device *vdev)
{
	vdev->config_generation++;
	if (!vdev->transport)
		return;
	virtio_stat_add(&vdev->stats.interrupts, 1);
	vdev->transport->signal_config(vdev);
}

void virtio_device_signal_config(struct virtio_device *vdev)
{
	raise_config_interrupt(vdev);
}

void virtio_device_needs_reset(struct virtio_device *vdev, int error)
{
	virtio_stat_add(&vdev->stats.errors, 1);
	if (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	/* The guest can break a ring again after every reset. */
	log_ratelimited(&vdev->needs_reset_log, LOG_WARN,
			"%s: device needs reset: %s", vdev->ops->name,
			error <= -1000 || error >= 1000
				? virtq_error_text(error)
				: strerror(-error));
	vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	/* Spec 2.1.2: a device that sets NEEDS_RESET after DRIVER_OK sends a
	 * configuration change notification. */
	if (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK)
		raise_config_interrupt(vdev);
}

int virtio_device_watch_fd(struct virtio_device *vdev, int fd, uint32_t events,
			   virtio_fd_handler handler)
{
	struct epoll_event ev = {.events = events};
	int i;

	for (i = 0; i < vdev->watched_count; i++)
		if (vdev->watched[i].fd == fd)
			break;
	if (i == vdev->watched_count) {
		if (i == VIRTIO_MAX_WATCHED_FDS)
			return -ENOSPC;
		ev.data.u64 = EVENT_WATCHED_BASE + (uint64_t)i;
		if (epoll_ctl(vdev->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
			return -errno;
		vdev->watched[i] = (struct virtio_watched_fd){fd, handler};
		vdev->watched_count++;
		return 0;
	}
	ev.data.u64 = EVENT_WATCHED_BASE + (uint64_t)i;
	vdev->watched[i].handler = handler;
	if (epoll_ctl(vdev->epoll_fd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

static void drain_eventfd(int fd)
{
	uint64_t count;
	ssize_t ignored = read(fd, &count, sizeof(count));

	(void)ignored;
}

static void handle_kick(struct virtio_device *vdev, uint16_t q)
{
	drain_eventfd(vdev->queues[q].kick_fd);
	virtio_stat_add(&vdev->stats.notifications, 1);
	pthread_mutex_lock(&vdev->lock);
	/* Spec 3.1.1: no buffers are used before DRIVER_OK; a broken device
	 * waits for its reset. */
	if (device_live(vdev) && vdev->queues[q].enabled)
		vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}

static void handle_watched(struct virtio_device *vdev, int index,
			   uint32_t events)
{
	pthread_mutex_lock(&vdev->lock);
	if (index < vdev->watched_count && vdev->watched[index].handler)
		vdev->watched[index].handler(vdev, vdev->watched[index].fd,
					     events);
	pthread_mutex_unlock(&vdev->lock);
}

static void *io_thread(void *arg)
{
	struct virtio_device *vdev = arg;
	char name[16];

	snprintf(name, sizeof(name), "%.15s", vdev->ops->name);
	pthread_setname_np(pthread_self(), name);
	/* Before the first kick: queues are the guest's. */
	seccomp_enter_thread(seccomp_kind_for_device(vdev->ops->name));
	for (;;) {
		struct epoll_event events[16];
		int n = epoll_wait(vdev->epoll_fd, events, 16, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("%s: epoll_wait: %s", vdev->ops->name,
				  strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			uint64_t what = events[i].data.u64;

			if (what == EVENT_STOP)
				return NULL;
			if (what >= EVENT_WATCHED_BASE)
				handle_watched(vdev,
					       (int)(what - EVENT_WATCHED_BASE),
					       events[i].events);
			else
				handle_kick(
					vdev,
					(uint16_t)(what - EVENT_QUEUE_BASE));
		}
	}
}

static int watch_internal(struct virtio_device *vdev, int fd, uint64_t what)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = what};

	return epoll_ctl(vdev->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno
								     : 0;
}

int virtio_device_start(struct virtio_device *vdev,
			const struct guest_memory *mem)
{
	int ret;

	vdev->mem = mem;
	/* The device may have lowered max_size after virtio_device_init. */
	for (uint16_t q = 0; q < vdev->queue_count; q++)
		vdev->queues[q].size = vdev->queues[q].max_size;
	vdev->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	vdev->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vdev->epoll_fd < 0 || vdev->stop_fd < 0)
		return -errno;
	ret = watch_internal(vdev, vdev->stop_fd, EVENT_STOP);
	for (uint16_t q = 0; !ret && q < vdev->queue_count; q++) {
		vdev->queues[q].kick_fd =
			eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vdev->queues[q].kick_fd < 0)
			return -errno;
		ret = watch_internal(vdev, vdev->queues[q].kick_fd,
				     EVENT_QUEUE_BASE + q);
	}
	if (ret)
		return ret;
	ret = thread_start(&vdev->thread, io_thread, vdev);
	if (ret)
		return -ret;
	vdev->thread_started = true;
	return 0;
}

void virtio_device_stop(struct virtio_device *vdev)
{
	uint64_t one = 1;

	if (!vdev->thread_started)
		return;
	if (write(vdev->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("%s: cannot stop the I/O thread: %s", vdev->ops->name,
			 strerror(errno));
	pthread_join(vdev->thread, NULL);
	vdev->thread_started = false;
}

int virtio_device_restart(struct virtio_device *vdev)
{
	uint64_t count;
	ssize_t ignored;
	int ret;

	if (vdev->thread_started || vdev->epoll_fd < 0)
		return 0;
	/* The stop request was taken by the thread that ended; what else
	 * became ready meanwhile (kicks, host sockets) is still pending in
	 * epoll and is served now. */
	ignored = read(vdev->stop_fd, &count, sizeof(count));
	(void)ignored;
	ret = thread_start(&vdev->thread, io_thread, vdev);
	if (ret)
		return -ret;
	vdev->thread_started = true;
	return 0;
}

static void reset_queues(struct virtio_device *vdev)
{
	for (int q = 0; q < vdev->queue_count; q++) {
		struct virtio_queue *queue = &vdev->queues[q];

		queue->size = queue->max_size;
		queue->msix_vector = VIRTIO_NO_VECTOR;
		queue->enabled = false;
		queue->desc_gpa = queue->avail_gpa = queue->used_gpa = 0;
		memset(&queue->vq, 0, sizeof(queue->vq));
	}
}

static void reset_device(struct virtio_device *vdev)
{
	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
	reset_queues(vdev);
	vdev->driver_features = 0;
	vdev->status = 0;
	vdev->isr = 0;
}

void virtio_device_destroy(struct virtio_device *vdev)
{
	virtio_device_stop(vdev);
	pthread_mutex_lock(&vdev->lock);
	if (vdev->status)
		reset_device(vdev);
	pthread_mutex_unlock(&vdev->lock);
	for (int q = 0; q < vdev->queue_count; q++)
		if (vdev->queues[q].kick_fd >= 0)
			close(vdev->queues[q].kick_fd);
	if (vdev->stop_fd >= 0)
		close(vdev->stop_fd);
	if (vdev->epoll_fd >= 0)
		close(vdev->epoll_fd);
	pthread_mutex_destroy(&vdev->lock);
	vdev->ops->destroy(vdev);
}

static bool features_acceptable(struct virtio_device *vdev)
{
	uint64_t features = vdev->driver_features;

	/* tern is modern-only: a driver that does not accept VERSION_1 is a
	 * legacy driver and gets FEATURES_OK refused (spec 6.1). */
	if (features & ~vdev->device_features)
		return false;
	if (!(features & (1ULL << VIRTIO_F_VERSION_1)))
		return false;
	return !vdev->ops->features_ok ||
		vdev->ops->features_ok(vdev, features) == 0;
}

void virtio_device_kick(struct virtio_device *vdev, uint16_t q)
{
	uint64_t one = 1;

	if (q >= vdev->queue_count || vdev->queues[q].kick_fd < 0)
		return;
	if (write(vdev->queues[q].kick_fd, &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		log_warn("%s: queue %u kick: %s", vdev->ops->name, q,
			 strerror(errno));
}

void virtio_device_kick_from_exit(struct virtio_device *vdev, uint16_t q)
{
	if (atomic_fetch_add_explicit(&vdev->stats.notifications_by_exit, 1,
				      memory_order_relaxed) == 0)
		log_debug("%s: queue notification by MMIO exit (no "
			  "ioeventfd)",
			  vdev->ops->name);
	virtio_device_kick(vdev, q);
}

void virtio_device_write_status(struct virtio_device *vdev, uint8_t status)
{
	uint8_t added = status & ~vdev->status;

	if (status == 0) {
		reset_device(vdev);
		return;
	}
	if (added & VIRTIO_CONFIG_S_FEATURES_OK && !features_acceptable(vdev))
		status &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
	/* NEEDS_RESET is the device's to set, never the driver's to clear. */
	status = (uint8_t)((status & ~VIRTIO_CONFIG_S_NEEDS_RESET) |
			   (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET));
	vdev->status = status;
	if (!(added & VIRTIO_CONFIG_S_DRIVER_OK))
		return;
	if (!(status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		virtio_device_needs_reset(vdev, -EPROTO);
		return;
	}
	if (vdev->ops->activate) {
		int ret = vdev->ops->activate(vdev);

		if (ret) {
			virtio_device_needs_reset(vdev, ret);
			return;
		}
	}
	/* Buffers the driver made available before DRIVER_OK were not
	 * processed; look at every queue once now. */
	for (uint16_t q = 0; q < vdev->queue_count; q++)
		if (vdev->queues[q].enabled)
			virtio_device_kick(vdev, q);
}

void virtio_device_write_driver_features(struct virtio_device *vdev,
					 uint32_t select, uint32_t value)
{
	/* Spec 3.1.1: features are fixed once FEATURES_OK is set. */
	if (vdev->status & VIRTIO_CONFIG_S_FEATURES_OK || select > 1)
		return;
	if (select == 0)
		vdev->driver_features =
			(vdev->driver_features & ~0xffffffffULL) | value;
	else
		vdev->driver_features =
			(vdev->driver_features & 0xffffffffULL) |
			((uint64_t)value << 32);
}

uint32_t virtio_device_read_device_features(const struct virtio_device *vdev,
					    uint32_t select)
{
	if (select == 0)
		return (uint32_t)vdev->device_features;
	if (select == 1)
		return (uint32_t)(vdev->device_features >> 32);
	return 0;
}

void virtio_device_enable_queue(struct virtio_device *vdev, uint16_t q)
{
	struct virtio_queue *queue;
	int ret;

	if (q >= vdev->queue_count)
		return;
	queue = &vdev->queues[q];
	if (queue->size > queue->max_size) {
		virtio_device_needs_reset(vdev, -VIRTQ_ERR_SIZE);
		return;
	}
	ret = virtq_init(
		&queue->vq, vdev->mem, queue->size, queue->desc_gpa,
		queue->avail_gpa, queue->used_gpa,
		virtio_device_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX),
		virtio_device_has_feature(vdev, VIRTIO_RING_F_INDIRECT_DESC));
	if (ret) {
		virtio_device_needs_reset(vdev, ret);
		return;
	}
	queue->enabled = true;
}

void virtio_device_config_read(struct virtio_device *vdev, uint32_t offset,
			       void *data, uint32_t size)
{
	memset(data, 0, size);
	if (offset >= vdev->config_size || size > vdev->config_size - offset ||
	    !vdev->ops->config_read)
		return;
	vdev->ops->config_read(vdev, offset, data, size);
}

void virtio_device_config_write(struct virtio_device *vdev, uint32_t offset,
				const void *data, uint32_t size)
{
	if (offset >= vdev->config_size || size > vdev->config_size - offset ||
	    !vdev->ops->config_write)
		return;
	vdev->ops->config_write(vdev, offset, data, size);
}

struct virtio_queue_snapshot {
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t size, msix_vector;
	uint16_t last_avail_idx, used_idx, signalled_used;
	uint8_t enabled, signalled_used_valid, notify_disabled;
	uint8_t pad[3];
	int32_t error;
};

struct virtio_core_snapshot {
	uint64_t device_features, driver_features;
	uint32_t config_generation, config_size;
	uint16_t queue_count;
	uint8_t status, isr;
	uint32_t device_len; /* bytes of device state after the queues */
	struct virtio_queue_snapshot queues[VIRTIO_MAX_QUEUES];
};

int virtio_device_save_state(struct virtio_device *vdev, void *buf, size_t *len)
{
	struct virtio_core_snapshot *core = buf;
	size_t device_len;
	int ret;

	if (!vdev->ops->save || !vdev->ops->restore)
		return -ENOTSUP;
	if (*len < sizeof(*core))
		return -ENOSPC;
	memset(core, 0, sizeof(*core));
	pthread_mutex_lock(&vdev->lock);
	core->device_features = vdev->device_features;
	core->driver_features = vdev->driver_features;
	core->config_generation = vdev->config_generation;
	core->config_size = vdev->config_size;
	core->queue_count = vdev->queue_count;
	core->status = vdev->status;
	core->isr = vdev->isr;
	for (int q = 0; q < vdev->queue_count; q++) {
		const struct virtio_queue *queue = &vdev->queues[q];
		struct virtio_queue_snapshot *s = &core->queues[q];

		s->desc_gpa = queue->desc_gpa;
		s->avail_gpa = queue->avail_gpa;
		s->used_gpa = queue->used_gpa;
		s->size = queue->size;
		s->msix_vector = queue->msix_vector;
		s->enabled = queue->enabled;
		s->last_avail_idx = queue->vq.last_avail_idx;
		s->used_idx = queue->vq.used_idx;
		s->signalled_used = queue->vq.signalled_used;
		s->signalled_used_valid = queue->vq.signalled_used_valid;
		s->notify_disabled = queue->vq.notify_disabled;
		s->error = queue->vq.error;
	}
	device_len = *len - sizeof(*core);
	ret = vdev->ops->save(vdev, (uint8_t *)buf + sizeof(*core),
			      &device_len);
	pthread_mutex_unlock(&vdev->lock);
	if (ret)
		return ret;
	core->device_len = (uint32_t)device_len;
	*len = sizeof(*core) + device_len;
	return 0;
}

/* What virtq_init() does not check in a saved queue: its position.
 *  - error goes to the virtqueue code as it is: only 0 or a code virtq
 *    itself records is taken (a negative one made virtq_pop() return 1
 *    with the chain never filled).
 *  - tern drains its devices before saving, so a device holds a few
 *    chains at most, never more than the queue has entries. A wider
 *    in-flight window (last_avail_idx - used_idx, 16-bit) is refused:
 *    with an avail ring the guest placed over the used ring, each push
 *    would announce one more available chain, and the restore's kick
 *    would spin the I/O thread for ever. */
static int check_queue_position(struct virtio_device *vdev, int q,
				const struct virtio_queue_snapshot *s)
{
	uint16_t window = (uint16_t)(s->last_avail_idx - s->used_idx);

	if (!virtq_error_valid(s->error))
		return virtio_device_restore_refused(
			vdev, "queue %d: error %d is not a virtqueue error", q,
			(int)s->error);
	if (s->enabled && window > s->size)
		return virtio_device_restore_refused(
			vdev,
			"queue %d: %u chains in flight, more than its %u "
			"entries (last_avail_idx %u, used_idx %u)",
			q, window, s->size, s->last_avail_idx, s->used_idx);
	return 0;
}

static int check_snapshot(struct virtio_device *vdev,
			  const struct virtio_core_snapshot *core, size_t len)
{
	if (len < sizeof(*core) || core->device_len != len - sizeof(*core) ||
	    core->device_features != vdev->device_features ||
	    (core->driver_features & ~vdev->device_features) ||
	    core->config_size != vdev->config_size ||
	    core->queue_count != vdev->queue_count)
		return -EINVAL;
	for (int q = 0; q < vdev->queue_count; q++) {
		const struct virtio_queue_snapshot *s = &core->queues[q];
		int ret;

		if (s->size > vdev->queues[q].max_size || s->enabled > 1 ||
		    s->signalled_used_valid > 1 || s->notify_disabled > 1)
			return -EINVAL;
		ret = check_queue_position(vdev, q, s);
		if (ret)
			return ret;
	}
	return 0;
}

/* Each enabled queue's rings inside guest memory, as virtq_init() will
 * find them at restore (into a scratch virtq: nothing changes). */
static int check_ring_addresses(struct virtio_device *vdev,
				const struct virtio_core_snapshot *core)
{
	for (int q = 0; q < vdev->queue_count; q++) {
		const struct virtio_queue_snapshot *s = &core->queues[q];
		struct virtq scratch;

		if (s->enabled &&
		    virtq_init(&scratch, vdev->mem, s->size, s->desc_gpa,
			       s->avail_gpa, s->used_gpa, false, false))
			return virtio_device_restore_refused(
				vdev,
				"queue %d: its rings are not inside guest "
				"memory (or misaligned)",
				q);
	}
	return 0;
}

/* Every check of a saved state against this device, under vdev->lock:
 * the core's fields and each queue's position, the rings' addresses, then
 * the device's own ops->check. Both check_state and restore_state run
 * exactly this, so a load's check pass and its restore cannot disagree on
 * what is acceptable. Returns 0 or a negative errno (-EINVAL for a refusal
 * without one). */
static int check_state_locked(struct virtio_device *vdev,
			      const struct virtio_core_snapshot *core,
			      size_t len)
{
	int ret;

	vdev->restore_error[0] = '\0';
	ret = check_snapshot(vdev, core, len);
	if (!ret)
		ret = check_ring_addresses(vdev, core);
	if (!ret && vdev->ops->check)
		ret = vdev->ops->check(vdev, core + 1, core->device_len);
	return ret < 0 && ret > -1000 ? ret : ret ? -EINVAL : 0;
}

int virtio_device_check_state(struct virtio_device *vdev, const void *buf,
			      size_t len)
{
	int ret;

	if (!vdev->ops->restore)
		return -ENOTSUP;
	pthread_mutex_lock(&vdev->lock);
	ret = check_state_locked(vdev, buf, len);
	pthread_mutex_unlock(&vdev->lock);
	return ret;
}

int virtio_device_restore_state(struct virtio_device *vdev, const void *buf,
				size_t len)
{
	const struct virtio_core_snapshot *core = buf;
	int ret;

	if (!vdev->ops->restore)
		return -ENOTSUP;
	pthread_mutex_lock(&vdev->lock);
	/* A refusal here leaves the device as it was. */
	ret = check_state_locked(vdev, core, len);
	if (ret) {
		pthread_mutex_unlock(&vdev->lock);
		return ret;
	}
	vdev->driver_features = core->driver_features;
	vdev->config_generation = core->config_generation;
	vdev->status = core->status;
	vdev->isr = core->isr;
	for (int q = 0; q < vdev->queue_count; q++) {
		const struct virtio_queue_snapshot *s = &core->queues[q];
		struct virtio_queue *queue = &vdev->queues[q];

		queue->desc_gpa = s->desc_gpa;
		queue->avail_gpa = s->avail_gpa;
		queue->used_gpa = s->used_gpa;
		queue->size = s->size;
		queue->msix_vector = s->msix_vector;
		queue->enabled = false;
		memset(&queue->vq, 0, sizeof(queue->vq));
		if (!s->enabled)
			continue;
		/* The host views of the rings belong to this process: derive
		 * them again from the addresses, checked as on enable. */
		ret = virtq_init(
			&queue->vq, vdev->mem, queue->size, queue->desc_gpa,
			queue->avail_gpa, queue->used_gpa,
			virtio_device_has_feature(vdev,
						  VIRTIO_RING_F_EVENT_IDX),
			virtio_device_has_feature(vdev,
						  VIRTIO_RING_F_INDIRECT_DESC));
		if (ret)
			break;
		queue->enabled = true;
		queue->vq.last_avail_idx = s->last_avail_idx;
		queue->vq.used_idx = s->used_idx;
		queue->vq.signalled_used = s->signalled_used;
		queue->vq.signalled_used_valid = s->signalled_used_valid;
		queue->vq.notify_disabled = s->notify_disabled;
		queue->vq.error = s->error;
	}
	if (!ret)
		ret = vdev->ops->restore(vdev, core + 1, core->device_len);
	if (ret) {
		reset_device(vdev);
		pthread_mutex_unlock(&vdev->lock);
		return ret < 0 && ret > -1000 ? ret : -EINVAL;
	}
	if (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK &&
	    !(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET)) {
		if (vdev->ops->activate)
			ret = vdev->ops->activate(vdev);
		if (ret)
			virtio_device_needs_reset(vdev, ret);
		/* Requests made available before the snapshot: look. */
		for (uint16_t q = 0; !ret && q < vdev->queue_count; q++)
			if (vdev->queues[q].enabled)
				virtio_device_kick(vdev, q);
	}
	pthread_mutex_unlock(&vdev->lock);
	return 0;
}

void virtio_device_resignal(struct virtio_device *vdev)
{
	pthread_mutex_lock(&vdev->lock);
	if (device_live(vdev) && vdev->transport) {
		for (uint16_t q = 0; q < vdev->queue_count; q++)
			if (vdev->queues[q].enabled)
				vdev->transport->signal_queue(vdev, q);
		vdev->transport->signal_config(vdev);
	}
	pthread_mutex_unlock(&vdev->lock);
}

int virtio_device_migration_release(struct virtio_device *vdev)
{
	int ret = 0;

	if (!vdev->ops->migration_release)
		return 0;
	pthread_mutex_lock(&vdev->lock);
	ret = vdev->ops->migration_release(vdev);
	pthread_mutex_unlock(&vdev->lock);
	return ret;
}

int virtio_device_migration_reclaim(struct virtio_device *vdev)
{
	int ret = 0;

	if (!vdev->ops->migration_reclaim)
		return 0;
	pthread_mutex_lock(&vdev->lock);
	ret = vdev->ops->migration_reclaim(vdev);
	pthread_mutex_unlock(&vdev->lock);
	return ret;
}

int virtio_device_restore_refused(struct virtio_device *vdev, const char *fmt,
				  ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vdev->restore_error, sizeof(vdev->restore_error), fmt, ap);
	va_end(ap);
	log_error("%s: %s", vdev->ops->name, vdev->restore_error);
	return -EINVAL;
}
