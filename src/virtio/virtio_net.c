#include "virtio/virtio_net.h"

#include <endian.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "backends/tap.h"
#include "devices/device.h"
#include "mmds/mmds_net.h"
#include "util/log.h"
#include "util/timer_fd.h"
#include "virtio/virtio_net_announce.h"

/* Queue 0 receives, queue 1 transmits (spec 5.1.2, one queue pair). */
#define NET_RX_QUEUE 0
#define NET_TX_QUEUE 1
#define NET_QUEUE_COUNT 2

/* With VIRTIO_F_VERSION_1 the header always has num_buffers: 12 bytes
 * (spec 5.1.6), whether or not MRG_RXBUF was negotiated. */
#define NET_HDR_SIZE ((uint32_t)sizeof(struct virtio_net_hdr_v1))
#define NET_NUM_BUFFERS_OFFSET                                                 \
	((uint32_t)offsetof(struct virtio_net_hdr_v1, num_buffers))
/* The largest frame either way: a 64 KiB TSO segment plus its Ethernet and
 * VLAN headers. Anything larger from the guest is refused. */
#define NET_FRAME_MAX (65536 + ETH_HLEN + 4)
/* Frames taken from the tap per wake-up, so transmit gets its turn; epoll
 * is level-triggered and calls again while the tap has more. */
#define NET_RX_BATCH 64

/* iovecs of one receive readv(): the receive buffers popped ahead, then
 * the bounce buffer (UIO_MAXIOV in all). */
#define NET_RX_IOV_MAX 1024
/* Starting guess of the next frame's size (header and a full standard
 * frame), before any frame was seen. */
#define NET_RX_EXPECT_INITIAL (NET_HDR_SIZE + ETH_FRAME_LEN)

/* The largest frame to the MMDS tern takes: its window is a few KiB, so
 * a well-behaved guest never sends more in one segment; a larger frame
 * to the MMDS address is dropped. */
#define NET_MMDS_FRAME_MAX 8192
/* Bytes of a frame that say whether it is the MMDS's (an ARP packet). */
#define NET_MMDS_PEEK 42

/* Announcements of the guest's MAC after a restore. */
#define NET_ANNOUNCE_COUNT 3

/* Config space (spec 5.1.4): mac[6], status, max_virtqueue_pairs, mtu
 * (read only with VIRTIO_NET_F_MTU). */
#define NET_CONFIG_SIZE 12

#define NET_FEATURES                                                           \
	((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |     \
	 (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) |      \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO6) |                                   \
	 (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) | \
	 (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_NET_F_STATUS))

struct virtio_net {
	struct virtio_device vdev;
	struct vm_net_config config;
	struct tap tap;
	bool tap_watched;
	bool tap_failed; /* a read error other than EAGAIN: stop reading */
	/* A snapshot stopped reading the tap (the device must not write
	 * guest memory between its saved state and the memory file); the
	 * next kick of either queue takes it up again. */
	bool tap_paused_for_save;

	/* One frame read from the tap that waits for the guest's receive
	 * buffers. It is held here, not dropped, while the ring is empty:
	 * the tap keeps queueing meanwhile (its own queue drops when full,
	 * as a NIC would). rx_first is the chain holding the header (its
	 * num_buffers is written last); rx_heads/rx_lens the chains filled so
	 * far, not yet given back. Transient: a reset or save drops it. */
	uint8_t *rx_frame;
	size_t rx_len;
	size_t rx_done;
	size_t rx_total; /* the whole frame with its header, for the stats */
	bool rx_pending;
	uint16_t rx_count;
	uint16_t rx_heads[VIRTQ_MAX_SIZE];
	uint32_t rx_lens[VIRTQ_MAX_SIZE];
	struct virtq_chain rx_first;
	struct virtq_chain rx_chain;
	/* Receive straight into the guest's buffers: the writable parts of
	 * the chains popped ahead, then rx_frame for what does not fit.
	 * rx_expect is a running average of recent frame sizes (header
	 * included): how much room to pop ahead. */
	struct iovec rx_iov[NET_RX_IOV_MAX];
	uint32_t rx_expect;
	struct virtq_chain tx_chain;

	/* Firecracker's rx_rate_limiter and tx_rate_limiter: one op and the
	 * frame's bytes (without the virtio-net header) per frame. A frame
	 * is read before its size is known, so receiving charges it after
	 * the fact and stops reading the tap while the debt is repaid;
	 * transmitting asks first and leaves the frame in the ring. */
	struct rate_limiter rx_limiter;
	struct rate_limiter tx_limiter;
	bool limiters_watched;

	/* MMDS on this interface (src/mmds): frames to its address are
	 * taken off the transmit path into mmds_frame and answered through
	 * the receive path, ahead of the tap's frames; a timer resends and
	 * expires its TCP connections. NULL: not this interface. */
	struct mmds_net *mmds;
	uint8_t *mmds_frame;
	int mmds_timer_fd;
	bool mmds_timer_watched;
	bool mmds_timer_armed;

	struct virtio_net_stats stats;
};

static struct virtio_net *to_net(struct virtio_device *vdev)
{
	return container_of(vdev, struct virtio_net, vdev);
}

const struct virtio_net_stats *virtio_net_stats(struct virtio_device *vdev)
{
	return &to_net(vdev)->stats;
}

static void net_rx_ready(struct virtio_device *vdev, int fd, uint32_t events);
static int net_watch_limiters(struct virtio_net *net);

static void net_watch_tap(struct virtio_net *net, bool on)
{
	/* Nothing to read into before the driver enabled the receive queue
	 * (or after the tap failed). */
	on = on && !net->tap_failed && net->vdev.queues[NET_RX_QUEUE].enabled;
	if (on == net->tap_watched)
		return;
	if (virtio_device_watch_fd(&net->vdev, net->tap.fd, on ? EPOLLIN : 0,
				   net_rx_ready) == 0)
		net->tap_watched = on;
}

static void net_config_read(struct virtio_device *vdev, uint32_t offset,
			    void *data, uint32_t size)
{
	struct virtio_net *net = to_net(vdev);
	uint8_t config[NET_CONFIG_SIZE];
	uint16_t status = htole16(VIRTIO_NET_S_LINK_UP);
	uint16_t pairs = htole16(1);
	uint16_t mtu = htole16(net->config.mtu);

	memcpy(config, net->config.mac, 6);
	memcpy(config + 6, &status, 2);
	memcpy(config + 8, &pairs, 2);
	memcpy(config + 10, &mtu, 2);
	memcpy(data, config + offset, size);
}

/* Virtio 1.x drivers change the MAC only through the control queue, which
 * tern does not offer: config writes are ignored (spec 5.1.4.2). */
static void net_config_write(struct virtio_device *vdev, uint32_t offset,
			     const void *data, uint32_t size)
{
}

/* Spec 5.1.3.1: the offloads depend on the checksum features. */
static int net_features_ok(struct virtio_device *vdev, uint64_t features)
{
	uint64_t guest_gso = (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
		(1ULL << VIRTIO_NET_F_GUEST_TSO6);
	uint64_t host_gso = (1ULL << VIRTIO_NET_F_HOST_TSO4) |
		(1ULL << VIRTIO_NET_F_HOST_TSO6);

	if ((features & guest_gso) &&
	    !(features & (1ULL << VIRTIO_NET_F_GUEST_CSUM)))
		return -EINVAL;
	if ((features & host_gso) && !(features & (1ULL << VIRTIO_NET_F_CSUM)))
		return -EINVAL;
	return 0;
}

static int net_activate(struct virtio_device *vdev)
{
	struct virtio_net *net = to_net(vdev);
	struct tern_error err = {{0}};
	unsigned offloads = 0;
	int ret;

	/* The tap may hand over what the guest said it can take. */
	if (virtio_device_has_feature(vdev, VIRTIO_NET_F_GUEST_CSUM))
		offloads |= TUN_F_CSUM;
	if (virtio_device_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO4))
		offloads |= TUN_F_TSO4;
	if (virtio_device_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO6))
		offloads |= TUN_F_TSO6;
	ret = tap_set_offloads(&net->tap, offloads, &err);
	if (ret) {
		log_warn("virtio-net %s: %s", net->config.tap_name,
			 err.message);
		return ret;
	}
	ret = net_watch_limiters(net);
	if (ret)
		return ret;
	net->tap_failed = false;
	net_watch_tap(net, true);
	return 0;
}

static void net_drop_pending(struct virtio_net *net)
{
	net->rx_pending = false;
	net->rx_len = net->rx_done = 0;
	net->rx_count = 0;
}

static void net_reset(struct virtio_device *vdev)
{
	struct virtio_net *net = to_net(vdev);

	net_watch_tap(net, false);
	net_drop_pending(net);
	rate_limiter_unblock(&net->rx_limiter);
	rate_limiter_unblock(&net->tx_limiter);
	if (net->mmds)
		mmds_net_reset(net->mmds);
}

/* Gives back every chain taken for the pending frame with nothing in it
 * and drops the frame: the driver counts them as receive errors. */
static int net_rx_give_back_empty(struct virtio_net *net, struct virtq *vq)
{
	int ret;

	memset(net->rx_lens, 0, sizeof(net->rx_lens));
	ret = virtq_push_batch(vq, net->rx_heads, net->rx_lens, net->rx_count);
	if (ret)
		return ret;
	virtio_stat_add(&net->stats.rx_dropped, 1);
	virtio_stat_add(&net->vdev.stats.errors, 1);
	net_drop_pending(net);
	return 0;
}

/* Places the pending frame into receive buffers. Returns 1 when it went
 * to the guest (or was dropped as undeliverable), 0 when the ring ran out
 * of buffers first (the chains taken so far stay held), or a negative
 * VIRTQ_ERR_* for a malformed ring. */
static int net_rx_deliver(struct virtio_net *net)
{
	struct virtio_device *vdev = &net->vdev;
	struct virtq *vq = &vdev->queues[NET_RX_QUEUE].vq;
	bool mergeable =
		virtio_device_has_feature(vdev, VIRTIO_NET_F_MRG_RXBUF);
	uint16_t num_buffers;
	int ret;

	while (net->rx_done < net->rx_len) {
		struct virtq_chain *chain =
			net->rx_count ? &net->rx_chain : &net->rx_first;
		size_t want = net->rx_len - net->rx_done;
		size_t n;

		/* Every buffer of the ring holds a part and still the frame
		 * does not fit: it never will. */
		if (net->rx_count >= vq->size)
			return net_rx_give_back_empty(net, vq) ?: 1;
		ret = virtq_pop(vq, chain);
		if (ret == 0)
			return 0;
		/* Only 1 means a chain (see virtq_pop). */
		if (ret != 1)
			return ret < 0 ? ret : -VIRTQ_ERR_NOT_READY;
		if (chain->writable_len < (net->rx_count ? 1 : NET_HDR_SIZE) ||
		    (!mergeable && chain->writable_len < want)) {
			/* A buffer too small for the header, or for the
			 * whole frame when it must fit in one. */
			net->rx_heads[net->rx_count++] = chain->head;
			return net_rx_give_back_empty(net, vq) ?: 1;
		}
		n = virtq_chain_write(chain, 0, net->rx_frame + net->rx_done,
				      want < chain->writable_len
					      ? want
					      : chain->writable_len);
		net->rx_heads[net->rx_count] = chain->head;
		net->rx_lens[net->rx_count] = (uint32_t)n;
		net->rx_count++;
		net->rx_done += n;
	}

	num_buffers = htole16(net->rx_count);
	virtq_chain_write(&net->rx_first, NET_NUM_BUFFERS_OFFSET, &num_buffers,
			  sizeof(num_buffers));
	ret = virtq_push_batch(vq, net->rx_heads, net->rx_lens, net->rx_count);
	if (ret)
		return ret;
	virtio_stat_add(&vdev->stats.requests, 1);
	virtio_stat_add(&vdev->stats.bytes_written,
			net->rx_total - NET_HDR_SIZE);
	virtio_stat_add(&net->stats.rx_frames, 1);
	net_drop_pending(net);
	return 1;
}

/* Reads the next frame from the tap into rx_frame. Returns 1, 0 when the
 * tap has none, or a negative errno. */
static int net_rx_read(struct virtio_net *net)
{
	struct iovec iov = {net->rx_frame, NET_HDR_SIZE + NET_FRAME_MAX};
	ssize_t n = tap_readv(&net->tap, &iov, 1);
	struct virtio_net_hdr_v1 *hdr = (void *)net->rx_frame;

	if (n == -EAGAIN)
		return 0;
	if (n < 0)
		return (int)n;
	if ((size_t)n < NET_HDR_SIZE + ETH_HLEN)
		return -EIO;
	/* Spec 5.1.6.4.1: without GUEST_CSUM the flags must be zero (the
	 * tap already completed the checksum, offloads being off). */
	if (!virtio_device_has_feature(&net->vdev, VIRTIO_NET_F_GUEST_CSUM))
		hdr->flags = 0;
	net->rx_len = net->rx_total = (size_t)n;
	net->rx_done = 0;
	net->rx_count = 0;
	net->rx_pending = true;
	return 1;
}

/* What taking the next frame from the tap came to. */
enum net_rx_taken {
	NET_RX_NONE = 0, /* the tap had no frame */
	NET_RX_DELIVERED, /* the frame went to the guest */
	NET_RX_PENDING, /* it, or its tail, waits in rx_frame (rx_pending) */
	NET_RX_USE_BOUNCE, /* no receive buffer to read into: nothing read */
};

/* Pops receive chains ahead until they hold rx_expect bytes (at least
 * one chain) and lines up their writable parts in rx_iov; the first must
 * hold the virtio-net header. A chain that does not fit (too many
 * segments, no room at all, too small to lead) goes back unused and ends
 * the walk. Returns the number of chains (their heads and sizes in
 * rx_heads / rx_lens) with *iovcnt, *room set, or a negative VIRTQ_ERR_*. */
static int net_rx_pop_ahead(struct virtio_net *net, struct virtq *vq,
			    int *iovcnt, size_t *room)
{
	uint16_t count = 0;
	int ret;

	*iovcnt = 0;
	*room = 0;
	while ((count == 0 || *room < net->rx_expect) && count < vq->size) {
		struct virtq_chain *chain =
			count ? &net->rx_chain : &net->rx_first;

		ret = virtq_pop(vq, chain);
		if (ret == 0)
			break;
		/* Only 1 means a chain (see virtq_pop). */
		if (ret != 1)
			return ret < 0 ? ret : -VIRTQ_ERR_NOT_READY;
		if (chain->writable_len < (count ? 1 : NET_HDR_SIZE) ||
		    chain->writable_count > NET_RX_IOV_MAX - 1 - *iovcnt) {
			ret = virtq_unpop(vq, 1);
			if (ret < 0)
				return ret;
			break;
		}
		memcpy(&net->rx_iov[*iovcnt],
		       &chain->iov[chain->readable_count],
		       chain->writable_count * sizeof(struct iovec));
		*iovcnt += chain->writable_count;
		*room += chain->writable_len;
		net->rx_heads[count] = chain->head;
		net->rx_lens[count] = chain->writable_len;
		count++;
	}
	return count;
}

/* Reads the next frame from the tap straight into the guest's mergeable
 * receive buffers, saving the copy through rx_frame: one readv() over the
 * chains popped ahead with rx_frame as the overflow tail. The chains the
 * frame did not reach go back unused (virtq_unpop); a frame longer than
 * the room popped continues through the pending-frame path. Returns an
 * enum net_rx_taken, -EIO for a runt frame, a negative errno when the
 * tap failed, or a negative VIRTQ_ERR_* for a malformed ring. */
static int net_rx_read_direct(struct virtio_net *net)
{
	struct virtio_device *vdev = &net->vdev;
	struct virtq *vq = &vdev->queues[NET_RX_QUEUE].vq;
	uint16_t used = 0, num_buffers;
	size_t room, left;
	int iovcnt, count, ret;
	ssize_t n;

	count = net_rx_pop_ahead(net, vq, &iovcnt, &room);
	if (count <= 0)
		return count ?: NET_RX_USE_BOUNCE;
	net->rx_iov[iovcnt++] =
		(struct iovec){net->rx_frame, NET_HDR_SIZE + NET_FRAME_MAX};
	n = tap_readv(&net->tap, net->rx_iov, iovcnt);
	if (n < 0 || (size_t)n < NET_HDR_SIZE + ETH_HLEN) {
		ret = virtq_unpop(vq, (uint16_t)count);
		if (ret < 0)
			return ret;
		if (n == -EAGAIN)
			return NET_RX_NONE;
		return n < 0 ? (int)n : -EIO;
	}
	/* A running average, quick to follow a change of traffic. */
	net->rx_expect = (uint32_t)((net->rx_expect * 3ULL + (size_t)n) / 4);
	/* Spec 5.1.6.4.1: without GUEST_CSUM the flags must be zero (the
	 * tap already completed the checksum, offloads being off). */
	if (!virtio_device_has_feature(vdev, VIRTIO_NET_F_GUEST_CSUM)) {
		uint8_t flags = 0;

		virtq_chain_write(&net->rx_first,
				  offsetof(struct virtio_net_hdr_v1, flags),
				  &flags, sizeof(flags));
	}
	if ((size_t)n > room) {
		/* Every chain popped is full; the rest is in rx_frame. */
		net->rx_len = (size_t)n - room;
		net->rx_done = 0;
		net->rx_total = (size_t)n;
		net->rx_count = (uint16_t)count;
		net->rx_pending = true;
		return NET_RX_PENDING;
	}
	for (left = (size_t)n; left; used++) {
		if (net->rx_lens[used] > left)
			net->rx_lens[used] = (uint32_t)left;
		left -= net->rx_lens[used];
	}
	ret = virtq_unpop(vq, (uint16_t)(count - used));
	if (ret < 0)
		return ret;
	num_buffers = htole16(used);
	virtq_chain_write(&net->rx_first, NET_NUM_BUFFERS_OFFSET, &num_buffers,
			  sizeof(num_buffers));
	ret = virtq_push_batch(vq, net->rx_heads, net->rx_lens, used);
	if (ret)
		return ret;
	net->rx_total = (size_t)n; /* for the rate limiter */
	virtio_stat_add(&vdev->stats.requests, 1);
	virtio_stat_add(&vdev->stats.bytes_written, (size_t)n - NET_HDR_SIZE);
	virtio_stat_add(&net->stats.rx_frames, 1);
	return NET_RX_DELIVERED;
}

/* Takes the next frame from the tap: straight into the receive buffers
 * with mergeable buffers, else (or with no buffer to read into) through
 * rx_frame. Returns NET_RX_NONE, _DELIVERED or _PENDING, -EIO for a runt
 * frame, a negative errno when the tap failed or a negative VIRTQ_ERR_*. */
static int net_rx_take(struct virtio_net *net)
{
	int ret = NET_RX_USE_BOUNCE;

	if (virtio_device_has_feature(&net->vdev, VIRTIO_NET_F_MRG_RXBUF))
		ret = net_rx_read_direct(net);
	if (ret != NET_RX_USE_BOUNCE)
		return ret;
	ret = net_rx_read(net);
	return ret == 1 ? NET_RX_PENDING : ret;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The MMDS's next answer as the pending frame, ahead of the tap's: 1 when
 * there was one. */
static int net_rx_take_mmds(struct virtio_net *net)
{
	size_t n;

	if (!net->mmds || !mmds_net_has_output(net->mmds))
		return 0;
	n = mmds_net_next_frame(net->mmds, net->rx_frame + NET_HDR_SIZE,
				NET_FRAME_MAX, now_ms());
	if (!n)
		return 0;
	/* No offloads: tern wrote whole checksums. */
	memset(net->rx_frame, 0, NET_HDR_SIZE);
	net->rx_len = net->rx_total = NET_HDR_SIZE + n;
	net->rx_done = 0;
	net->rx_count = 0;
	net->rx_pending = true;
	virtio_stat_add(&net->stats.mmds_tx_frames, 1);
	return 1;
}

static void net_rx_process(struct virtio_net *net)
{
	struct virtio_device *vdev = &net->vdev;
	struct virtq *vq = &vdev->queues[NET_RX_QUEUE].vq;
	int delivered = 0, ret;

	for (int i = 0; i < NET_RX_BATCH; i++) {
		if (!net->rx_pending && net_rx_take_mmds(net)) {
			/* Delivered below like a frame from the tap. */
		} else if (!net->rx_pending) {
			if (net->rx_limiter.blocked) {
				/* The limiter's timer takes the tap up
				 * again. */
				virtio_stat_add(
					&vdev->stats.rate_limiter_throttled, 1);
				virtio_stat_add(&net->stats.rx_throttled, 1);
				net_watch_tap(net, false);
				break;
			}
			ret = net_rx_take(net);
			if (ret == NET_RX_DELIVERED || ret == NET_RX_PENDING)
				rate_limiter_charge(&net->rx_limiter,
						    net->rx_total -
							    NET_HDR_SIZE);
			if (ret == NET_RX_NONE)
				break;
			if (ret == NET_RX_DELIVERED) {
				delivered++;
				continue;
			}
			if (ret <= -VIRTQ_ERR_SIZE) {
				net_watch_tap(net, false);
				virtio_device_needs_reset(vdev, ret);
				return;
			}
			if (ret == -EIO) {
				virtio_stat_add(&vdev->stats.errors, 1);
				continue;
			}
			if (ret < 0) {
				log_warn("virtio-net %s: reading the tap "
					 "failed: %s; receiving stops",
					 net->config.tap_name, strerror(-ret));
				net_watch_tap(net, false);
				net->tap_failed = true;
				break;
			}
		}
		ret = net_rx_deliver(net);
		if (ret < 0) {
			net_watch_tap(net, false);
			virtio_device_needs_reset(vdev, ret);
			return;
		}
		if (ret == 0) {
			/* Out of buffers: stop reading the tap and wait for
			 * the driver's kick, unless buffers came meanwhile. */
			if (virtq_enable_notify(vq)) {
				virtq_disable_notify(vq);
				continue;
			}
			net_watch_tap(net, false);
			break;
		}
		delivered++;
	}
	if (delivered)
		virtio_device_signal_used(vdev, NET_RX_QUEUE);
}

static void net_rx_ready(struct virtio_device *vdev, int fd, uint32_t events)
{
	struct virtio_net *net = to_net(vdev);

	/* A wake-up already taken by the I/O thread when a reset or a pause
	 * came in between: the rings are not ours to touch now. */
	if (!net->tap_watched || !(vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) ||
	    (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		return;
	net_rx_process(net);
}

/* Arms the MMDS's timer while it has connections, disarms it after. */
static void net_mmds_timer(struct virtio_net *net, bool on)
{
	const uint64_t tick_ns = MMDS_TCP_TICK_MS * TIMER_FD_NS_PER_MS;

	if (on == net->mmds_timer_armed)
		return;
	if ((on ? timer_fd_arm(net->mmds_timer_fd, tick_ns, tick_ns)
		: timer_fd_disarm(net->mmds_timer_fd)) == 0)
		net->mmds_timer_armed = on;
}

/* Whether the frame in c is the MMDS's; if so it is taken (answered or
 * dropped), never sent to the tap. */
static bool net_tx_to_mmds(struct virtio_net *net, const struct virtq_chain *c)
{
	size_t len = c->readable_len - NET_HDR_SIZE;
	uint8_t peek[NET_MMDS_PEEK];
	size_t got;

	got = virtq_chain_read(c, NET_HDR_SIZE, peek,
			       len < sizeof(peek) ? len : sizeof(peek));
	if (!mmds_net_is_for_mmds(net->mmds, peek, got))
		return false;
	virtio_stat_add(&net->stats.mmds_rx_frames, 1);
	if (len > NET_MMDS_FRAME_MAX) {
		virtio_stat_add(&net->stats.tx_dropped, 1);
		return true;
	}
	got = virtq_chain_read(c, NET_HDR_SIZE, net->mmds_frame, len);
	mmds_net_receive(net->mmds, net->mmds_frame, got, now_ms());
	if (mmds_tcp_conn_count(&net->mmds->tcp))
		net_mmds_timer(net, true);
	return true;
}

static void net_tx_send(struct virtio_net *net, const struct virtq_chain *c)
{
	ssize_t n;

	/* Hostile or broken chains: too short for header and Ethernet
	 * header, or longer than any frame. They are completed, not sent. */
	if (c->readable_len < NET_HDR_SIZE + ETH_HLEN ||
	    c->readable_len > NET_HDR_SIZE + NET_FRAME_MAX) {
		virtio_stat_add(&net->stats.tx_dropped, 1);
		virtio_stat_add(&net->vdev.stats.errors, 1);
		return;
	}
	if (net->mmds && net_tx_to_mmds(net, c))
		return;
	n = tap_writev(&net->tap, c->iov, c->readable_count);
	if (n < 0) {
		/* The kernel refuses inconsistent offload headers (EINVAL);
		 * the frame is lost as on a wire. */
		virtio_stat_add(&net->stats.tx_dropped, 1);
		virtio_stat_add(&net->vdev.stats.errors, 1);
		return;
	}
	virtio_stat_add(&net->stats.tx_frames, 1);
	virtio_stat_add(&net->vdev.stats.bytes_read,
			c->readable_len - NET_HDR_SIZE);
}

static bool net_tx_admitted(struct virtio_net *net, const struct virtq_chain *c)
{
	uint64_t bytes = c->readable_len > NET_HDR_SIZE
		? c->readable_len - NET_HDR_SIZE
		: 0;

	if (rate_limiter_consume(&net->tx_limiter, bytes))
		return true;
	virtio_stat_add(&net->vdev.stats.rate_limiter_throttled, 1);
	virtio_stat_add(&net->stats.tx_throttled, 1);
	return false;
}

static void net_tx_process(struct virtio_net *net)
{
	struct virtio_device *vdev = &net->vdev;
	struct virtq *vq = &vdev->queues[NET_TX_QUEUE].vq;
	int ret;

	do {
		virtq_disable_notify(vq);
		while ((ret = virtq_pop(vq, &net->tx_chain)) == 1) {
			if (!net_tx_admitted(net, &net->tx_chain)) {
				/* Back to the ring; the limiter's timer sends
				 * it, kicks stay off until then. */
				ret = virtq_unpop(vq, 1);
				if (ret)
					virtio_device_needs_reset(vdev, ret);
				return;
			}
			net_tx_send(net, &net->tx_chain);
			virtio_stat_add(&vdev->stats.requests, 1);
			ret = virtq_push(vq, net->tx_chain.head, 0);
			if (ret)
				break;
			/* Signal each completion as it is made, not once
			 * after the batch: the guest frees a sent skb only
			 * when it sees it used, and TCP small queues hold its
			 * socket back until then, while one writev of a TSO
			 * frame can run the host's whole TCP receive path.
			 * With EVENT_IDX this costs an interrupt only where
			 * the driver's used_event asks for one. */
			virtio_device_signal_used(vdev, NET_TX_QUEUE);
		}
		if (ret != 0) {
			virtio_device_needs_reset(vdev, ret);
			return;
		}
	} while (virtq_enable_notify(vq));
}

static bool net_live(const struct virtio_device *vdev, uint16_t q);

/* Moves the MMDS's answers into the receive queue (until it has none or
 * the guest's buffers run out; a kick for new buffers goes on). */
static void net_mmds_flush(struct virtio_net *net)
{
	for (int rounds = 0; rounds < 64; rounds++) {
		if (!net_live(&net->vdev, NET_RX_QUEUE))
			return;
		net_rx_process(net);
		if (!mmds_net_has_output(net->mmds) || net->rx_pending)
			return;
	}
}

static void net_mmds_timer_ready(struct virtio_device *vdev, int fd,
				 uint32_t events)
{
	struct virtio_net *net = to_net(vdev);
	uint64_t expirations;

	if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	if (!mmds_net_tick(net->mmds, now_ms()))
		net_mmds_timer(net, false);
	if (mmds_net_has_output(net->mmds) && !net->tap_paused_for_save)
		net_mmds_flush(net);
}

static void net_queue_notify(struct virtio_device *vdev, uint16_t q)
{
	struct virtio_net *net = to_net(vdev);

	if (q == NET_TX_QUEUE) {
		net_tx_process(net);
		/* The MMDS's answers to what the guest just sent. */
		if (net->mmds && mmds_net_has_output(net->mmds) &&
		    !net->tap_paused_for_save)
			net_mmds_flush(net);
		if (!net->tap_paused_for_save)
			return;
	}
	net->tap_paused_for_save = false;
	/* New receive buffers: take the tap up again. Kicks are not needed
	 * while the tap is being read, only when buffers run out. */
	virtq_disable_notify(&vdev->queues[NET_RX_QUEUE].vq);
	net_watch_tap(net, true);
	net_rx_process(net);
}

static bool net_live(const struct virtio_device *vdev, uint16_t q)
{
	return vdev->queues[q].enabled &&
		(vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		!(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void net_rx_limiter_ready(struct virtio_device *vdev, int fd,
				 uint32_t events)
{
	struct virtio_net *net = to_net(vdev);

	rate_limiter_timer_fired(&net->rx_limiter);
	if (!net_live(vdev, NET_RX_QUEUE) || net->tap_paused_for_save)
		return;
	net_watch_tap(net, true);
	net_rx_process(net);
}

static void net_tx_limiter_ready(struct virtio_device *vdev, int fd,
				 uint32_t events)
{
	struct virtio_net *net = to_net(vdev);

	rate_limiter_timer_fired(&net->tx_limiter);
	if (net_live(vdev, NET_TX_QUEUE))
		net_tx_process(net);
}

static int net_watch_limiters(struct virtio_net *net)
{
	int ret;

	if (net->limiters_watched)
		return 0;
	ret = virtio_device_watch_fd(&net->vdev,
				     rate_limiter_timer_fd(&net->rx_limiter),
				     EPOLLIN, net_rx_limiter_ready);
	if (!ret)
		ret = virtio_device_watch_fd(
			&net->vdev, rate_limiter_timer_fd(&net->tx_limiter),
			EPOLLIN, net_tx_limiter_ready);
	if (!ret)
		net->limiters_watched = true;
	if (!ret && net->mmds && !net->mmds_timer_watched) {
		ret = virtio_device_watch_fd(&net->vdev, net->mmds_timer_fd,
					     EPOLLIN, net_mmds_timer_ready);
		if (!ret)
			net->mmds_timer_watched = true;
	}
	return ret;
}

static int net_update_rate_limiter(struct virtio_device *vdev, unsigned which,
				   const struct rate_limiter_update *update)
{
	struct virtio_net *net = to_net(vdev);

	if (which > 1)
		return -ENOENT;
	rate_limiter_update(which ? &net->tx_limiter : &net->rx_limiter,
			    update);
	return 0;
}

static void net_destroy(struct virtio_device *vdev)
{
	struct virtio_net *net = to_net(vdev);

	rate_limiter_destroy(&net->rx_limiter);
	rate_limiter_destroy(&net->tx_limiter);
	tap_close(&net->tap);
	free(net->rx_frame);
	mmds_net_destroy(net->mmds);
	free(net->mmds_frame);
	if (net->mmds_timer_fd >= 0)
		close(net->mmds_timer_fd);
	free(net);
}

/* Snapshot state: the MAC the guest was given (a restore into a tern
 * with another MAC is refused); the tap is the new tern's own. */
struct net_snapshot {
	uint8_t mac[6];
	uint8_t pad[2];
	char tap_name[16];
};

/* Since rate limiters: both limiters' buckets follow (a state without
 * them, from an older tern, keeps this tern's configured limiters). */
struct net_snapshot_limited {
	struct net_snapshot net;
	struct rate_limiter_state rx;
	struct rate_limiter_state tx;
};

static int net_save(struct virtio_device *vdev, void *buf, size_t *len)
{
	struct virtio_net *net = to_net(vdev);
	struct virtq *vq = &vdev->queues[NET_RX_QUEUE].vq;
	struct net_snapshot_limited *saved = buf;
	struct net_snapshot *s = &saved->net;

	if (*len < sizeof(*saved))
		return -ENOSPC;
	/* Quiesce: no tap reads until the guest runs again, and a frame
	 * waiting for receive buffers is dropped (the chains it took go back
	 * empty, as for an undeliverable frame); TCP sends it again. */
	net_watch_tap(net, false);
	net->tap_paused_for_save = true;
	if (net->rx_pending && net->rx_count) {
		if (net_rx_give_back_empty(net, vq))
			net_drop_pending(net);
		else
			virtio_device_signal_used(vdev, NET_RX_QUEUE);
	} else if (net->rx_pending) {
		virtio_stat_add(&net->stats.rx_dropped, 1);
		net_drop_pending(net);
	}
	memset(s, 0, sizeof(*s));
	memcpy(s->mac, net->config.mac, sizeof(s->mac));
	memcpy(s->tap_name, net->config.tap_name, sizeof(s->tap_name));
	rate_limiter_save(&net->rx_limiter, &saved->rx);
	rate_limiter_save(&net->tx_limiter, &saved->tx);
	*len = sizeof(*saved);
	return 0;
}

/* The guest now sits behind this tap (a migration's destination, a
 * snapshot load): tell the bridges at once, a few times as frames may be
 * lost. Best effort: a full tap queue only delays the learning until the
 * guest's own next frame. */
static void net_announce(struct virtio_net *net)
{
	uint8_t frame[NET_HDR_SIZE + NET_ANNOUNCE_FRAME_SIZE];
	struct iovec iov = {frame, sizeof(frame)};

	memset(frame, 0, NET_HDR_SIZE); /* no offloads */
	net_announce_frame(frame + NET_HDR_SIZE, net->config.mac);
	for (int i = 0; i < NET_ANNOUNCE_COUNT; i++)
		if (tap_writev(&net->tap, &iov, 1) < 0)
			break;
}

static int net_check(struct virtio_device *vdev, const void *buf, size_t len)
{
	struct virtio_net *net = to_net(vdev);
	struct net_snapshot_limited limited;
	struct net_snapshot s;

	if (len != sizeof(s) && len != sizeof(limited))
		return -EINVAL;
	memcpy(&s, buf, sizeof(s));
	if (len == sizeof(limited)) {
		memcpy(&limited, buf, sizeof(limited));
		if (rate_limiter_state_check(&limited.rx) ||
		    rate_limiter_state_check(&limited.tx))
			return virtio_device_restore_refused(
				vdev,
				"tap %s: the snapshot's rate limiter state "
				"is not valid",
				net->config.tap_name);
	}
	s.tap_name[sizeof(s.tap_name) - 1] = '\0';
	if (memcmp(s.mac, net->config.mac, sizeof(s.mac)))
		return virtio_device_restore_refused(
			vdev,
			"the snapshot's MAC %02x:%02x:%02x:%02x:%02x:%02x "
			"differs from this one's (tap %s): start tern with "
			"the snapshot's MAC",
			s.mac[0], s.mac[1], s.mac[2], s.mac[3], s.mac[4],
			s.mac[5], net->config.tap_name);
	return 0;
}

static int net_restore(struct virtio_device *vdev, const void *buf, size_t len)
{
	struct virtio_net *net = to_net(vdev);
	int ret = net_check(vdev, buf, len);

	if (ret)
		return ret;
	net_drop_pending(net);
	net->tap_paused_for_save = false;
	/* MMDS connections are not in a snapshot (nor its data store, as in
	 * Firecracker); the guest's stack sees its old ones reset. */
	if (net->mmds)
		mmds_net_reset(net->mmds);
	/* As Firecracker: the snapshot's limiters, tokens and all. */
	if (len == sizeof(struct net_snapshot_limited)) {
		struct net_snapshot_limited limited;

		memcpy(&limited, buf, sizeof(limited));
		rate_limiter_restore(&net->rx_limiter, &limited.rx);
		rate_limiter_restore(&net->tx_limiter, &limited.tx);
	}
	net_announce(net);
	return 0;
}

static const struct virtio_device_ops net_ops = {
	.save = net_save,
	.restore = net_restore,
	.check = net_check,
	.update_rate_limiter = net_update_rate_limiter,
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET_DEVICE,
	.config_read = net_config_read,
	.config_write = net_config_write,
	.features_ok = net_features_ok,
	.activate = net_activate,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
	.destroy = net_destroy,
};

/* The MMDS's side of an interface: its stack, the frame buffer and the
 * timer, made here on the main thread (the I/O thread's system call list
 * has no timerfd_create, getrandom). */
static int net_setup_mmds(struct virtio_net *net, struct mmds_store *store,
			  uint32_t ipv4, struct tern_error *err)
{
	uint64_t seed = 0;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) < 0)
		seed = (uint64_t)now_ms() * 0x9e3779b97f4a7c15ULL;
	net->mmds_timer_fd = timer_fd_create();
	if (net->mmds_timer_fd < 0)
		return tern_error_set(err, -net->mmds_timer_fd,
				      "MMDS timer: %s",
				      strerror(-net->mmds_timer_fd));
	net->mmds_frame = malloc(NET_MMDS_FRAME_MAX);
	net->mmds = mmds_net_create(store, ipv4, seed);
	if (!net->mmds_frame || !net->mmds)
		return tern_error_set(err, ENOMEM,
				      "out of memory for the MMDS");
	return 0;
}

int virtio_net_create(const struct vm_net_config *config,
		      struct virtio_device **vdev, struct tern_error *err)
{
	return virtio_net_create_mmds(config, NULL, 0, vdev, err);
}

int virtio_net_create_mmds(const struct vm_net_config *config,
			   struct mmds_store *store, uint32_t mmds_ipv4,
			   struct virtio_device **vdev, struct tern_error *err)
{
	struct virtio_net *net = calloc(1, sizeof(*net));
	int ret;

	if (net)
		net->rx_frame = malloc(NET_HDR_SIZE + NET_FRAME_MAX);
	if (!net || !net->rx_frame) {
		free(net);
		return tern_error_set(err, ENOMEM,
				      "out of memory for virtio-net");
	}
	net->config = *config;
	net->rx_expect = NET_RX_EXPECT_INITIAL;
	net->rx_limiter.timer_fd = net->tx_limiter.timer_fd = -1;
	net->tap.fd = -1;
	net->mmds_timer_fd = -1;
	ret = store ? net_setup_mmds(net, store, mmds_ipv4, err) : 0;
	if (!ret)
		ret = rate_limiter_init(&net->rx_limiter,
					&config->rx_rate_limiter, err);
	if (!ret)
		ret = rate_limiter_init(&net->tx_limiter,
					&config->tx_rate_limiter, err);
	if (!ret)
		ret = tap_open(&net->tap, config->tap_name, (int)NET_HDR_SIZE,
			       err);
	if (!ret) {
		/* Firecracker's mtu: offered only when configured; without
		 * it the guest keeps its default (1500). */
		uint64_t features = NET_FEATURES;

		if (config->mtu)
			features |= 1ULL << VIRTIO_NET_F_MTU;
		ret = virtio_device_init(&net->vdev, &net_ops, NET_QUEUE_COUNT,
					 features, NET_CONFIG_SIZE);
		if (ret)
			tern_error_set(err, -ret, "virtio-net %s: %s",
				       config->tap_name, strerror(-ret));
	}
	if (ret) {
		tap_close(&net->tap);
		rate_limiter_destroy(&net->rx_limiter);
		rate_limiter_destroy(&net->tx_limiter);
		free(net->rx_frame);
		mmds_net_destroy(net->mmds);
		free(net->mmds_frame);
		if (net->mmds_timer_fd >= 0)
			close(net->mmds_timer_fd);
		free(net);
		return ret;
	}
	*vdev = &net->vdev;
	return 0;
}
