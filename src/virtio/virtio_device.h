/* The virtio device core: what every tern virtio device (rng, blk, net, ...)
 * is built on, independent of the transport (PCI or MMIO) that shows it to
 * the guest. Virtio 1.x only (VIRTIO_F_VERSION_1, no legacy interface).
 *
 * HOW TO WRITE A DEVICE (see src/virtio/virtio_rng.c, the smallest one):
 *
 *  - Embed a struct virtio_device in your device struct and implement a
 *    struct virtio_device_ops. In your create function call
 *    virtio_device_init(&dev->vdev, &ops, queue_count, features,
 *    config_size); return &dev->vdev. The VM plugs it with
 *    vm_add_virtio_device() (src/vm/vm_virtio.h), which picks the
 *    transport; from then on the transport owns it and calls ops->destroy
 *    at the end. `features` are the device-specific bits you offer; the core
 *    adds VIRTIO_F_VERSION_1, VIRTIO_F_INDIRECT_DESC and VIRTIO_F_EVENT_IDX
 *    (all handled by the virtqueue code). Read the negotiated set in
 *    vdev->driver_features (virtio_device_has_feature()).
 *
 *  - Queue notifications: each queue has an eventfd that KVM signals when
 *    the guest writes the queue's notify address (KVM_IOEVENTFD; an MMIO
 *    exit on that address signals it too). The device's own I/O thread,
 *    started by the core, waits on these eventfds with epoll and calls
 *    ops->queue_notify(vdev, q) once the driver set DRIVER_OK and enabled
 *    queue q. vCPU threads never run queue processing.
 *
 *  - Completing requests: in queue_notify, loop virtq_pop() on
 *    &vdev->queues[q].vq; for each chain read the request from its
 *    readable iovecs, write the answer into the writable ones, then
 *    virtq_push(vq, chain.head, bytes_written); after a batch call
 *    virtio_device_signal_used(vdev, q), which raises the queue's interrupt
 *    (PCI: its MSI-X vector through an irqfd; MMIO: InterruptStatus and an
 *    edge on the slot's GSI) unless the driver suppressed it (EVENT_IDX /
 *    NO_INTERRUPT). A negative return from virtq_pop() or
 *    virtq_push() means the ring is malformed: call
 *    virtio_device_needs_reset(vdev, error) and return; the core then stops
 *    dispatching until the driver resets the device. A bad request (e.g. an
 *    unknown blk command) is not a ring error: answer it with an error
 *    status and push it as usual.
 *
 *  - Other file descriptors (a tap fd, an io_uring ring fd): register them
 *    with virtio_device_watch_fd() from an op (activate is the natural
 *    place; the I/O thread exists from plugging on); the handler runs on
 *    the same I/O thread, also before DRIVER_OK or after a reset, so it
 *    checks the device's own state; pause a level-triggered fd with
 *    events 0 while there is nothing to do (e.g. no rx buffers).
 *    Completing a request from the handler is the same as above.
 *
 *  - A struct virtq_chain holds VIRTQ_CHAIN_MAX_SEGMENTS iovecs (4 KiB):
 *    keep one per in-flight request in the device, not many on a stack.
 *
 *  - Config space: ops->config_read/config_write get an offset already
 *    checked against config_size. When the device changes its config on
 *    its own (link up, capacity), call virtio_device_signal_config().
 *
 *  THREADING: every op except create/destroy runs with vdev->lock held:
 *  queue_notify and fd handlers on the device's I/O thread; config_read,
 *  config_write, features_ok, activate and reset on a vCPU thread (guest
 *  register accesses; reset also on the main thread at teardown). So device
 * state needs no lock of its own, and ops must not block for long (guest
 * register accesses wait meanwhile). Call virtio_device_signal_used /
 * signal_config / needs_reset / watch_fd only from inside an op (lock held).
 * reset must leave the device with no request in flight: after it returns, the
 * device must not touch guest memory or the rings until activate. destroy runs
 * after the I/O thread stopped and frees the device struct.
 *
 *  METRICS: vdev->stats holds atomic counters; the core counts
 *  notifications and interrupts, the device counts requests, bytes and
 *  errors (virtio_stat_add()). */
#ifndef TERN_VIRTIO_VIRTIO_DEVICE_H
#define TERN_VIRTIO_VIRTIO_DEVICE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "memory/guest_memory.h"
#include "util/log.h"
#include "util/rate_limiter.h"
#include "virtio/virtqueue.h"

#define VIRTIO_MAX_QUEUES 16
#define VIRTIO_MAX_WATCHED_FDS 8
/* Device-specific config space a device may have (bytes). */
#define VIRTIO_MAX_CONFIG_SIZE 256
/* No MSI-X vector assigned (spec 4.1.4.3). */
#define VIRTIO_NO_VECTOR 0xffff

struct virtio_device;

struct virtio_device_ops {
	const char *name; /* short, for logs: "virtio-rng" */
	uint16_t device_id; /* virtio device ID: 1 net, 2 blk, 4 rng, ... */

	/* Device-specific config space; offset + size <= config_size. */
	void (*config_read)(struct virtio_device *vdev, uint32_t offset,
			    void *data, uint32_t size);
	void (*config_write)(struct virtio_device *vdev, uint32_t offset,
			     const void *data, uint32_t size);

	/* NULL-able. The driver wrote FEATURES_OK with `features` (already a
	 * subset of what was offered, with VERSION_1): return 0 to accept or
	 * a negative errno to refuse (FEATURES_OK then reads back clear). */
	int (*features_ok)(struct virtio_device *vdev, uint64_t features);

	/* NULL-able. The driver set DRIVER_OK: queues are configured; start
	 * (e.g. open the backend's event source). Negative: NEEDS_RESET. */
	int (*activate)(struct virtio_device *vdev);

	/* Queue q was notified (I/O thread). */
	void (*queue_notify)(struct virtio_device *vdev, uint16_t q);

	/* The driver reset the device (status 0), or the VM stops: drop all
	 * driver state, finish or cancel in-flight requests. The core resets
	 * the queues and features itself. */
	void (*reset)(struct virtio_device *vdev);

	/* Frees the device; the I/O thread has stopped. */
	void (*destroy)(struct virtio_device *vdev);

	/* Save/restore (snapshots, live migration), NULL until implemented:
	 * the device would serialize its own plain state struct; the core
	 * serializes struct virtio_device's plain fields and the virtqs. */
	int (*save)(struct virtio_device *vdev, void *buf, size_t *len);
	int (*restore)(struct virtio_device *vdev, const void *buf, size_t len);
	/* NULL-able: restore's refusals of buf, changing nothing (a load
	 * checks every device before it restores any); called with the
	 * device's lock held, as restore. Host resources restore takes (a
	 * disk's lock) can still fail there. */
	int (*check)(struct virtio_device *vdev, const void *buf, size_t len);

	/* Live migration, NULL-able (nothing to hand over). After save, with
	 * the vCPUs paused: make what the guest wrote durable and release
	 * what only one process may hold (a disk's lock), so that the
	 * destination can take it before it runs the guest. reclaim: the
	 * migration failed after release; take it back before the guest
	 * runs here again (-EBUSY: someone else holds it now). Both return
	 * 0 or a negative errno, with the lock held by the caller. */
	int (*migration_release)(struct virtio_device *vdev);
	int (*migration_reclaim)(struct virtio_device *vdev);

	/* NULL-able: a rate limiter changed at run time (PATCH of a drive or
	 * an interface). which: 0 the device's limiter (virtio-net: rx), 1
	 * virtio-net's tx. Called with the lock held, on the API thread:
	 * the limiter's timer wakes the I/O thread to look again. -ENOENT:
	 * no such limiter. */
	int (*update_rate_limiter)(struct virtio_device *vdev, unsigned which,
				   const struct rate_limiter_update *update);
};

/* Per-device counters, read at any time by any thread (metrics API). */
struct virtio_device_stats {
	_Atomic uint64_t requests; /* chains completed (device) */
	_Atomic uint64_t bytes_read; /* bytes the device read from the guest */
	_Atomic uint64_t bytes_written; /* bytes written into the guest */
	_Atomic uint64_t errors; /* failed requests and ring errors */
	_Atomic uint64_t notifications; /* queue kicks received (core) */
	_Atomic uint64_t interrupts; /* interrupts raised (core) */
	/* Kicks that cost a vCPU exit to tern (no ioeventfd). (transport) */
	_Atomic uint64_t notifications_by_exit;
	/* A request held back by a rate limiter, or a kick that found the
	 * limiter blocked (Firecracker's rate_limiter_throttled_events).
	 * (device) */
	_Atomic uint64_t rate_limiter_throttled;
};

static inline void virtio_stat_add(_Atomic uint64_t *counter, uint64_t n)
{
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

/* One queue as the driver configured it through the transport, and the
 * ring walker built from it when the driver enables it. */
struct virtio_queue {
	uint16_t max_size; /* offered */
	uint16_t size; /* chosen by the driver */
	uint16_t msix_vector; /* VIRTIO_NO_VECTOR: none */
	bool enabled;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct virtq vq;
	int kick_fd; /* eventfd: KVM_IOEVENTFD target */
};

/* How the core reaches the transport that shows the device to the guest. */
struct virtio_transport_ops {
	/* Raise queue q's interrupt / the config-change interrupt. Called
	 * with vdev->lock held. */
	void (*signal_queue)(struct virtio_device *vdev, uint16_t q);
	void (*signal_config)(struct virtio_device *vdev);
};

typedef void (*virtio_fd_handler)(struct virtio_device *vdev, int fd,
				  uint32_t events);

struct virtio_watched_fd {
	int fd;
	virtio_fd_handler handler;
};

struct virtio_device {
	const struct virtio_device_ops *ops;
	const struct guest_memory *mem; /* set when plugged */
	pthread_mutex_t lock;

	/* Transport-independent state the driver sees; plain for save. */
	uint64_t device_features; /* offered, core bits included */
	uint64_t driver_features; /* accepted by the driver */
	uint8_t status; /* VIRTIO_CONFIG_S_* */
	uint8_t isr; /* bit 0 queue interrupt, bit 1 config change */
	uint32_t config_generation;
	uint32_t config_size;
	uint16_t queue_count;
	struct virtio_queue queues[VIRTIO_MAX_QUEUES];

	struct virtio_device_stats stats;

	/* Why the device's own restore refused the last snapshot state (a
	 * sentence naming what differs), empty when it did not. */
	char restore_error[192];

	/* "needs reset" lines: a guest that breaks a ring after every reset
	 * gets a few a minute, not one per cycle. Survives resets. */
	struct log_ratelimit needs_reset_log;

	/* Set by the transport when plugged. */
	const struct virtio_transport_ops *transport;
	void *transport_data;

	/* The I/O thread (core-private). */
	pthread_t thread;
	bool thread_started;
	int epoll_fd;
	int stop_fd;
	struct virtio_watched_fd watched[VIRTIO_MAX_WATCHED_FDS];
	int watched_count;
};

/* For device create functions. queue_count <= VIRTIO_MAX_QUEUES, each
 * offered with VIRTQ_MAX_SIZE entries (lower vdev->queues[i].max_size
 * after the call to offer less). Returns 0 or a negative errno. */
int virtio_device_init(struct virtio_device *vdev,
		       const struct virtio_device_ops *ops,
		       uint16_t queue_count, uint64_t features,
		       uint32_t config_size);

static inline bool virtio_device_has_feature(const struct virtio_device *vdev,
					     unsigned bit)
{
	return (vdev->driver_features >> bit) & 1;
}

/* Raises queue q's interrupt unless the driver suppressed it. */
void virtio_device_signal_used(struct virtio_device *vdev, uint16_t q);

/* Bumps config_generation and raises the config-change interrupt. */
void virtio_device_signal_config(struct virtio_device *vdev);

/* The device cannot go on (error: a negative VIRTQ_ERR_* or errno): sets
 * DEVICE_NEEDS_RESET, counts an error, logs once, tells the driver. */
void virtio_device_needs_reset(struct virtio_device *vdev, int error);

/* What a device did with one chain in virtio_device_serve_queue(). */
enum virtio_serve_result {
	VIRTIO_SERVE_PUSH, /* answered: *written bytes go to the used ring */
	VIRTIO_SERVE_LATER, /* not now (a rate limiter): back to the ring */
};

typedef enum virtio_serve_result (*virtio_serve_fn)(struct virtio_device *vdev,
						    struct virtq_chain *chain,
						    uint32_t *written);

/* The queue-drain loop of a device that answers each chain on its own
 * (rng, pmem): pops with notifications off, serves, pushes, re-enables
 * notifications and drains again if the driver added chains meanwhile,
 * then signals the used ring once. A malformed ring sets NEEDS_RESET; a
 * chain served LATER stops the loop with notifications left off (the
 * device calls again when it can serve, e.g. from its limiter's timer). */
void virtio_device_serve_queue(struct virtio_device *vdev, uint16_t q,
			       virtio_serve_fn serve);

/* Watches fd (epoll events, e.g. EPOLLIN) on the I/O thread; handler runs
 * with the lock held. events 0 pauses watching; a second call for the same
 * fd changes its events. Returns 0 or a negative errno. */
int virtio_device_watch_fd(struct virtio_device *vdev, int fd, uint32_t events,
			   virtio_fd_handler handler);

/* --- For transports (virtio_pci.c, virtio_mmio.c) and the VM. --- */

/* Creates the kick eventfds and starts the I/O thread. */
int virtio_device_start(struct virtio_device *vdev,
			const struct guest_memory *mem);

/* Stops and joins the I/O thread (idempotent). Events that arrive or are
 * pending meanwhile stay queued (level-triggered). */
void virtio_device_stop(struct virtio_device *vdev);
/* Starts the I/O thread again after virtio_device_stop() (a live
 * migration that failed after stopping the device threads for its
 * stop-and-copy); what became ready meanwhile is served. 0 or -errno. */
int virtio_device_restart(struct virtio_device *vdev);

/* Stops the thread, resets, closes the fds and calls ops->destroy. */
void virtio_device_destroy(struct virtio_device *vdev);

/* Driver wrote the status register (lock held): handles FEATURES_OK
 * checks, DRIVER_OK activation and reset (0). */
void virtio_device_write_status(struct virtio_device *vdev, uint8_t status);

/* Driver wrote feature word `select` (0: bits 0-31, 1: 32-63). Ignored
 * once FEATURES_OK is set. Lock held. */
void virtio_device_write_driver_features(struct virtio_device *vdev,
					 uint32_t select, uint32_t value);
uint32_t virtio_device_read_device_features(const struct virtio_device *vdev,
					    uint32_t select);

/* Driver enabled queue q (lock held): builds its virtq from the addresses;
 * a bad configuration sets NEEDS_RESET. */
void virtio_device_enable_queue(struct virtio_device *vdev, uint16_t q);

/* Config space access checked against config_size (lock held); reads
 * outside it return zeros, writes outside are dropped. */
void virtio_device_config_read(struct virtio_device *vdev, uint32_t offset,
			       void *data, uint32_t size);
void virtio_device_config_write(struct virtio_device *vdev, uint32_t offset,
				const void *data, uint32_t size);

/* Snapshots (transports call these from their own save/restore): the core's
 * plain fields and every queue's configuration and ring position, then the
 * device's own state through ops->save / ops->restore. A device without
 * ops->save cannot be snapshotted (-ENOTSUP). restore takes untrusted bytes:
 * first it makes every check virtio_device_check_state() makes (the same
 * code), then rebuilds each enabled queue's host pointers with
 * virtq_init(); on a refusal of those checks the device is left as it was,
 * and only a refusal of the device's own restore leaves it reset. Both
 * take vdev->lock. */
int virtio_device_save_state(struct virtio_device *vdev, void *buf,
			     size_t *len);
/* What virtio_device_restore_state() would refuse (the core's fields, each
 * queue's saved error and in-flight window, the rings' addresses, the
 * device's ops->check; refusals named in restore_error), changing nothing
 * but restore_error. */
int virtio_device_check_state(struct virtio_device *vdev, const void *buf,
			      size_t len);
int virtio_device_restore_state(struct virtio_device *vdev, const void *buf,
				size_t len);

/* After a whole VM's state was restored (snapshot load, migration): raises
 * every enabled queue's interrupt and the config interrupt once, without
 * suppression. The restore kicks every queue, and what the device then
 * completed was signalled before the vCPUs' LAPICs and the IOAPIC got
 * their state back, which dropped those interrupts; with EVENT_IDX the
 * device would not signal again and the queue would stall. A driver takes
 * a spurious interrupt as "look at the used ring / the config". */
void virtio_device_resignal(struct virtio_device *vdev);

/* Live migration (src/migration): ops->migration_release / _reclaim
 * under vdev->lock; 0 for a device without them. */
int virtio_device_migration_release(struct virtio_device *vdev);
int virtio_device_migration_reclaim(struct virtio_device *vdev);

/* For a device's ops->restore (and the core's own checks): records (and
 * logs) why the state does not fit this device, e.g. another disk size;
 * returns -EINVAL. */
int virtio_device_restore_refused(struct virtio_device *vdev, const char *fmt,
				  ...) __attribute__((format(printf, 2, 3)));

/* Wakes the I/O thread for queue q as KVM_IOEVENTFD does. */
void virtio_device_kick(struct virtio_device *vdev, uint16_t q);

/* A queue notification that reached tern as an MMIO exit instead of
 * through KVM_IOEVENTFD: counted (logged at debug level the first time),
 * then forwarded to the I/O thread the same way. */
void virtio_device_kick_from_exit(struct virtio_device *vdev, uint16_t q);

#endif
