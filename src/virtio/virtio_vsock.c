#include "virtio/virtio_vsock.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_vsock.h>

#include "devices/device.h"
#include "util/log.h"
#include "util/timer_fd.h"
#include "virtio/vsock/vsock_conn.h"
#include "virtio/vsock/vsock_packet.h"
#include "virtio/vsock/vsock_unix.h"

/* RSTs owed for packets that have no connection (or whose connection is
 * gone). A guest flooding faster than it gives rx buffers loses some: it
 * gets no answer, as from a lossy peer, and tern's memory stays bounded. */
#define RST_QUEUE_SIZE (2 * VSOCK_MAX_CONNECTIONS)
#define LISTENER_EVENT UINT64_MAX
#define TIMER_EVENT (UINT64_MAX - 1)
#define SHUTDOWN_BOTH (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)

struct vsock_rst {
	uint64_t src_cid; /* the CID the guest addressed */
	uint32_t src_port; /* the port the guest addressed */
	uint32_t dst_port; /* the guest's port */
};

struct virtio_vsock {
	struct virtio_device vdev;
	uint64_t guest_cid;
	char *socket_path;
	int listen_fd;
	int epoll_fd; /* host sockets; watched through the device core */
	int timer_fd; /* CONNECT timeouts */
	uint32_t connect_timeout_ms;
	uint64_t timer_deadline_ms; /* when timer_fd fires; 0: disarmed */

	/* Plain state for save/restore (the host fds aside). */
	struct vsock_conn_table table;
	struct vsock_rst rst_queue[RST_QUEUE_SIZE];
	uint32_t rst_head, rst_count;
	uint32_t next_conn; /* round robin over connections for rx */
	bool rx_chain_held; /* rx_chain popped, not yet used */
	/* Restored from a snapshot: the guest's connections are gone with the
	 * old tern, so it gets VIRTIO_VSOCK_EVENT_TRANSPORT_RESET (spec
	 * 5.10.6.6) on the event queue as soon as a buffer is there. */
	bool reset_event_pending;
	/* A snapshot stopped watching the host sockets (nothing may write
	 * guest memory between the saved state and the memory file); the
	 * next kick takes them up again. */
	bool host_paused_for_save;

	struct virtq_chain rx_chain;
	struct virtq_chain tx_chain;
	struct iovec iov[VIRTQ_CHAIN_MAX_SEGMENTS];
	struct virtio_vsock_stats stats;
};

static struct virtio_vsock *to_vsock(struct virtio_device *vdev)
{
	return container_of(vdev, struct virtio_vsock, vdev);
}

static bool device_live(const struct virtio_device *vdev)
{
	return (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		!(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void count_active(struct virtio_vsock *vs)
{
	atomic_store_explicit(&vs->stats.connections_active, vs->table.count,
			      memory_order_relaxed);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Arms the timer for deadline unless it fires earlier already. */
static void arm_timer(struct virtio_vsock *vs, uint64_t deadline_ms)
{
	if (vs->timer_deadline_ms && vs->timer_deadline_ms <= deadline_ms)
		return;
	if (timer_fd_arm_at(vs->timer_fd, deadline_ms * TIMER_FD_NS_PER_MS) ==
	    0)
		vs->timer_deadline_ms = deadline_ms;
}

static void queue_rst(struct virtio_vsock *vs, uint64_t src_cid,
		      uint32_t src_port, uint32_t dst_port)
{
	if (vs->rst_count == RST_QUEUE_SIZE) {
		virtio_stat_add(&vs->vdev.stats.errors, 1);
		return;
	}
	vs->rst_queue[(vs->rst_head + vs->rst_count) % RST_QUEUE_SIZE] =
		(struct vsock_rst){src_cid, src_port, dst_port};
	vs->rst_count++;
}

/* Whether the guest has heard of the connection (it sent or got REQUEST). */
static bool guest_knows(const struct vsock_conn *c)
{
	return c->state == VSOCK_CONN_ESTABLISHED ||
		(c->state == VSOCK_CONN_CONNECTING &&
		 !(c->owed & VSOCK_OWE_REQUEST));
}

/* Ends a connection: closes the host socket and, with rst, tells the guest
 * (spec 5.10.6 "Stream Sockets": RST ends a connection at once). */
static void conn_close(struct virtio_vsock *vs, struct vsock_conn *c, bool rst)
{
	if (rst && guest_knows(c))
		queue_rst(vs, VSOCK_HOST_CID, c->local_port, c->peer_port);
	if (c->fd >= 0)
		close(c->fd);
	vsock_conn_release(&vs->table, c);
	count_active(vs);
}

static void protocol_error(struct virtio_vsock *vs, struct vsock_conn *c,
			   const char *what)
{
	log_debug("virtio-vsock: %s on %u:%u, resetting it", what,
		  c->local_port, c->peer_port);
	virtio_stat_add(&vs->vdev.stats.errors, 1);
	conn_close(vs, c, true);
}

static int watch_conn(struct virtio_vsock *vs, struct vsock_conn *c)
{
	/* Edge-triggered: host_readable and the write path remember what
	 * is pending, so a connection that waits for credit or rx buffers
	 * does not keep waking the I/O thread. */
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.u64 = ((uint64_t)c->generation << 32) |
			(uint64_t)(c - vs->table.conns),
	};

	return epoll_ctl(vs->epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) < 0 ? -errno
								      : 0;
}

/* After guest data was flushed or a shutdown changed: half-close the host
 * socket once the guest will send nothing more, and end the connection
 * with RST when neither side will send (spec 5.10.6 "Stream Sockets": the
 * peer of a full SHUTDOWN answers RST once done with the data). */
static void conn_progress(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (c->state != VSOCK_CONN_ESTABLISHED || c->buf_used)
		return;
	if ((c->peer_shutdown & SHUTDOWN_BOTH) == SHUTDOWN_BOTH) {
		conn_close(vs, c, true);
		return;
	}
	if (!(c->peer_shutdown & VIRTIO_VSOCK_SHUTDOWN_SEND))
		return;
	if (c->host_eof && !(c->owed & VSOCK_OWE_SHUTDOWN)) {
		conn_close(vs, c, true);
		return;
	}
	if (!c->host_write_shut) {
		shutdown(c->fd, SHUT_WR);
		c->host_write_shut = true;
	}
}

/* Writes buffered guest data to the host socket until it would block. */
static void host_flush(struct virtio_vsock *vs, struct vsock_conn *c)
{
	struct iovec iov[2];
	int count;

	while ((count = vsock_conn_pending_iov(c, iov)) > 0) {
		struct msghdr msg = {.msg_iov = iov,
				     .msg_iovlen = (size_t)count};
		ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			/* The host client went away (EPIPE, ECONNRESET). */
			log_debug("virtio-vsock: host socket of %u:%u: %s",
				  c->local_port, c->peer_port, strerror(errno));
			conn_close(vs, c, true);
			return;
		}
		vsock_conn_consume(c, (uint32_t)n);
	}
	if (vsock_conn_wants_credit_update(c))
		c->owed |= VSOCK_OWE_CREDIT_UPDATE;
	conn_progress(vs, c);
}

/* --- Packets from the guest (tx queue). --- */

static void guest_request(struct virtio_vsock *vs, const struct vsock_hdr *hdr)
{
	struct vsock_conn *c = NULL;
	int fd = -ECONNREFUSED;

	if (vs->table.count < VSOCK_MAX_CONNECTIONS)
		fd = vsock_unix_connect_port(vs->socket_path, hdr->dst_port);
	if (fd >= 0) {
		c = vsock_conn_open(&vs->table);
		if (!c)
			close(fd);
	}
	if (!c) {
		log_debug("virtio-vsock: guest port %u to host port %u "
			  "refused: %s",
			  hdr->src_port, hdr->dst_port,
			  fd < 0 ? strerror(-fd) : "too many connections");
		virtio_stat_add(&vs->stats.connections_refused, 1);
		queue_rst(vs, VSOCK_HOST_CID, hdr->dst_port, hdr->src_port);
		return;
	}
	c->fd = fd;
	c->state = VSOCK_CONN_ESTABLISHED;
	c->local_port = hdr->dst_port;
	c->peer_port = hdr->src_port;
	c->owed = VSOCK_OWE_RESPONSE;
	vsock_conn_peer_credit_update(c, hdr->buf_alloc, hdr->fwd_cnt);
	count_active(vs);
	if (watch_conn(vs, c)) {
		protocol_error(vs, c, "cannot watch the host socket");
		return;
	}
	virtio_stat_add(&vs->stats.connections_opened, 1);
}

static void guest_response(struct virtio_vsock *vs, struct vsock_conn *c)
{
	char line[VSOCK_CONN_REPLY_MAX];

	if (c->state != VSOCK_CONN_CONNECTING ||
	    (c->owed & VSOCK_OWE_REQUEST)) {
		protocol_error(vs, c, "unexpected RESPONSE");
		return;
	}
	c->state = VSOCK_CONN_ESTABLISHED;
	virtio_stat_add(&vs->stats.connections_opened, 1);
	snprintf(line, sizeof(line), "OK %u\n", c->local_port);
	vsock_conn_queue_reply(c, line);
	host_flush(vs, c);
}

static void guest_rw(struct virtio_vsock *vs, struct vsock_conn *c,
		     const struct virtq_chain *chain, uint32_t len)
{
	struct iovec iov[2];
	size_t offset = VSOCK_HDR_SIZE;
	int count;

	if (c->state != VSOCK_CONN_ESTABLISHED ||
	    (c->peer_shutdown & VIRTIO_VSOCK_SHUTDOWN_SEND)) {
		protocol_error(vs, c, "data outside an open stream");
		return;
	}
	/* Spec 5.10.6 "Buffer Space Management": the driver must not send
	 * beyond the credit tern advertised; the buffer is exactly that
	 * big. */
	if (!vsock_conn_can_receive(c, len)) {
		protocol_error(vs, c, "data beyond the credit given");
		return;
	}
	count = vsock_conn_receive_iov(c, len, iov);
	for (int i = 0; i < count; i++)
		offset += virtq_chain_read(chain, offset, iov[i].iov_base,
					   iov[i].iov_len);
	vsock_conn_commit_guest_data(c, len);
	virtio_stat_add(&vs->vdev.stats.bytes_read, len);
	host_flush(vs, c);
}

static void bad_packet(struct virtio_vsock *vs, const struct vsock_hdr *hdr,
		       enum vsock_packet_check check)
{
	struct vsock_conn *c;

	log_debug("virtio-vsock: dropped a guest packet: %s",
		  vsock_packet_check_text(check));
	virtio_stat_add(&vs->stats.bad_packets, 1);
	virtio_stat_add(&vs->vdev.stats.errors, 1);
	/* No header, or not the guest's own: nobody to answer. Never answer
	 * RST with RST (two peers could bounce them forever). */
	if (check == VSOCK_PACKET_SHORT || check == VSOCK_PACKET_SRC_CID ||
	    hdr->op == VIRTIO_VSOCK_OP_RST)
		return;
	c = check == VSOCK_PACKET_DST_CID
		? NULL
		: vsock_conn_find(&vs->table, hdr->dst_port, hdr->src_port);
	if (c)
		conn_close(vs, c, true);
	else
		queue_rst(vs, hdr->dst_cid, hdr->dst_port, hdr->src_port);
}

static void handle_guest_packet(struct virtio_vsock *vs,
				const struct virtq_chain *chain)
{
	struct vsock_hdr hdr;
	enum vsock_packet_check check;
	struct vsock_conn *c;

	check = vsock_packet_parse(chain, vs->guest_cid, &hdr);
	if (check != VSOCK_PACKET_OK) {
		bad_packet(vs, &hdr, check);
		return;
	}
	c = vsock_conn_find(&vs->table, hdr.dst_port, hdr.src_port);
	if (hdr.op == VIRTIO_VSOCK_OP_REQUEST) {
		if (c)
			protocol_error(vs, c, "REQUEST for an open connection");
		else
			guest_request(vs, &hdr);
		return;
	}
	if (!c) {
		/* Spec 5.10.6 "Stream Sockets": packets for no connection
		 * get RST. */
		if (hdr.op != VIRTIO_VSOCK_OP_RST)
			queue_rst(vs, VSOCK_HOST_CID, hdr.dst_port,
				  hdr.src_port);
		return;
	}
	vsock_conn_peer_credit_update(c, hdr.buf_alloc, hdr.fwd_cnt);
	switch (hdr.op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		guest_response(vs, c);
		break;
	case VIRTIO_VSOCK_OP_RST:
		conn_close(vs, c, false);
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		c->peer_shutdown |= hdr.flags & SHUTDOWN_BOTH;
		conn_progress(vs, c);
		break;
	case VIRTIO_VSOCK_OP_RW:
		guest_rw(vs, c, chain, hdr.len);
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break; /* the credit fields were taken above */
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->owed |= VSOCK_OWE_CREDIT_UPDATE;
		break;
	}
}

/* --- Packets to the guest (rx queue). --- */

static bool conn_can_send_data(const struct vsock_conn *c)
{
	return c->state == VSOCK_CONN_ESTABLISHED && c->host_readable &&
		!(c->owed & VSOCK_OWE_RESPONSE) && !c->host_eof &&
		!(c->peer_shutdown & VIRTIO_VSOCK_SHUTDOWN_RCV) &&
		vsock_conn_peer_credit(c) > 0;
}

static bool conn_has_work(const struct vsock_conn *c)
{
	if (c->state < VSOCK_CONN_CONNECTING)
		return false;
	return c->owed || conn_can_send_data(c);
}

static struct vsock_conn *next_conn_with_work(struct virtio_vsock *vs)
{
	for (int n = 0; n < VSOCK_MAX_CONNECTIONS; n++) {
		uint32_t i =
			(vs->next_conn + (uint32_t)n) % VSOCK_MAX_CONNECTIONS;

		if (conn_has_work(&vs->table.conns[i])) {
			vs->next_conn = (i + 1) % VSOCK_MAX_CONNECTIONS;
			return &vs->table.conns[i];
		}
	}
	return NULL;
}

static uint32_t put_header(struct virtio_vsock *vs, struct vsock_hdr *hdr)
{
	uint8_t raw[VSOCK_HDR_SIZE];

	hdr->dst_cid = vs->guest_cid;
	hdr->type = VIRTIO_VSOCK_TYPE_STREAM;
	vsock_hdr_encode(hdr, raw);
	virtq_chain_write(&vs->rx_chain, 0, raw, sizeof(raw));
	return VSOCK_HDR_SIZE + hdr->len;
}

static uint32_t fill_rst(struct virtio_vsock *vs)
{
	struct vsock_rst *rst = &vs->rst_queue[vs->rst_head];
	struct vsock_hdr hdr = {
		.src_cid = rst->src_cid,
		.src_port = rst->src_port,
		.dst_port = rst->dst_port,
		.op = VIRTIO_VSOCK_OP_RST,
	};

	vs->rst_head = (vs->rst_head + 1) % RST_QUEUE_SIZE;
	vs->rst_count--;
	virtio_stat_add(&vs->stats.resets_sent, 1);
	return put_header(vs, &hdr);
}

/* Reads host bytes straight into the rx chain after the header. */
static ssize_t read_host_data(struct virtio_vsock *vs, struct vsock_conn *c,
			      uint32_t max)
{
	const struct virtq_chain *chain = &vs->rx_chain;
	int end = chain->readable_count + chain->writable_count;
	size_t skip = VSOCK_HDR_SIZE;
	int count = 0;
	ssize_t n;

	for (int i = chain->readable_count; i < end && max; i++) {
		size_t len = chain->iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		len -= skip;
		if (len > max)
			len = max;
		vs->iov[count++] = (struct iovec){
			(uint8_t *)chain->iov[i].iov_base + skip, len};
		max -= (uint32_t)len;
		skip = 0;
	}
	do {
		n = readv(c->fd, vs->iov, count);
	} while (n < 0 && errno == EINTR);
	return n;
}

/* Fills the held rx chain with the next packet of connection c. Returns
 * the bytes written, or 0 when c turned out to have nothing (its state
 * changed, so the caller's loop moves on). */
static uint32_t fill_from_conn(struct virtio_vsock *vs, struct vsock_conn *c)
{
	struct vsock_hdr hdr = {
		.src_cid = VSOCK_HOST_CID,
		.src_port = c->local_port,
		.dst_port = c->peer_port,
		.buf_alloc = VSOCK_CONN_BUF_SIZE,
		.fwd_cnt = c->fwd_cnt,
	};
	uint32_t max;
	ssize_t n;

	if (c->owed & VSOCK_OWE_REQUEST) {
		c->owed &= ~VSOCK_OWE_REQUEST;
		hdr.op = VIRTIO_VSOCK_OP_REQUEST;
		c->connect_deadline_ms = now_ms() + vs->connect_timeout_ms;
		arm_timer(vs, c->connect_deadline_ms);
	} else if (c->owed & VSOCK_OWE_RESPONSE) {
		c->owed &= ~VSOCK_OWE_RESPONSE;
		hdr.op = VIRTIO_VSOCK_OP_RESPONSE;
	} else if (c->owed & VSOCK_OWE_SHUTDOWN) {
		c->owed &= ~VSOCK_OWE_SHUTDOWN;
		hdr.op = VIRTIO_VSOCK_OP_SHUTDOWN;
		hdr.flags = c->local_shutdown;
	} else if (c->owed & VSOCK_OWE_CREDIT_UPDATE) {
		hdr.op = VIRTIO_VSOCK_OP_CREDIT_UPDATE;
		virtio_stat_add(&vs->stats.credit_updates_sent, 1);
	} else {
		max = vs->rx_chain.writable_len - VSOCK_HDR_SIZE;
		if (max > vsock_conn_peer_credit(c))
			max = vsock_conn_peer_credit(c);
		if (max > VSOCK_MAX_PAYLOAD)
			max = VSOCK_MAX_PAYLOAD;
		n = read_host_data(vs, c, max);
		if (n < 0 && errno == EAGAIN) {
			c->host_readable = false;
			return 0;
		}
		if (n < 0) {
			log_debug("virtio-vsock: host socket of %u:%u: %s",
				  c->local_port, c->peer_port, strerror(errno));
			conn_close(vs, c, true);
			return 0;
		}
		if (n == 0) {
			/* The host client will send nothing more: tell the
			 * guest (its reads then end), keep forwarding its
			 * data until it shuts down too. */
			c->host_readable = false;
			c->host_eof = true;
			c->local_shutdown |= VIRTIO_VSOCK_SHUTDOWN_SEND;
			c->owed |= VSOCK_OWE_SHUTDOWN;
			return 0;
		}
		hdr.op = VIRTIO_VSOCK_OP_RW;
		hdr.len = (uint32_t)n;
		c->tx_cnt += (uint32_t)n;
		virtio_stat_add(&vs->vdev.stats.bytes_written, (uint64_t)n);
	}
	vsock_conn_credit_sent(c);
	n = put_header(vs, &hdr);
	if (hdr.op == VIRTIO_VSOCK_OP_SHUTDOWN)
		conn_progress(vs, c);
	return (uint32_t)n;
}

/* Sends the guest what tern owes it, while it gives rx buffers: RSTs
 * first, then each connection in turn (control packets, then data within
 * the guest's credit). */
static void flush_rx(struct virtio_vsock *vs)
{
	struct virtio_device *vdev = &vs->vdev;
	struct virtq *vq = &vdev->queues[VIRTIO_VSOCK_QUEUE_RX].vq;
	bool used = false;
	int ret;

	if (!device_live(vdev) || !vdev->queues[VIRTIO_VSOCK_QUEUE_RX].enabled)
		return;
	for (;;) {
		struct vsock_conn *c = NULL;
		uint32_t len;

		if (!vs->rst_count && !(c = next_conn_with_work(vs)))
			break;
		if (!vs->rx_chain_held) {
			ret = virtq_pop(vq, &vs->rx_chain);
			if (ret == 0)
				break; /* the guest kicks rx when it refills */
			if (ret != 1) {
				virtio_device_needs_reset(vdev, ret);
				return;
			}
			vs->rx_chain_held = true;
		}
		/* Linux gives header + 4 KiB; a buffer that cannot carry
		 * a byte of payload is the guest's error, not a packet. */
		if (vs->rx_chain.writable_len <= VSOCK_HDR_SIZE) {
			virtio_stat_add(&vdev->stats.errors, 1);
			len = 0;
		} else {
			len = vs->rst_count ? fill_rst(vs)
					    : fill_from_conn(vs, c);
			if (!len)
				continue;
		}
		ret = virtq_push(vq, vs->rx_chain.head, len);
		vs->rx_chain_held = false;
		if (ret < 0) {
			virtio_device_needs_reset(vdev, ret);
			return;
		}
		virtio_stat_add(&vdev->stats.requests, 1);
		used = true;
	}
	if (used)
		virtio_device_signal_used(vdev, VIRTIO_VSOCK_QUEUE_RX);
}

static enum virtio_serve_result serve_tx(struct virtio_device *vdev,
					 struct virtq_chain *chain,
					 uint32_t *written)
{
	handle_guest_packet(to_vsock(vdev), chain);
	virtio_stat_add(&vdev->stats.requests, 1);
	*written = 0;
	return VIRTIO_SERVE_PUSH;
}

static void process_tx(struct virtio_vsock *vs)
{
	virtio_device_serve_queue(&vs->vdev, VIRTIO_VSOCK_QUEUE_TX, serve_tx);
}

/* --- Host sockets. --- */

static void accept_host_clients(struct virtio_vsock *vs)
{
	for (;;) {
		int fd = accept4(vs->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct vsock_conn *c;

		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0) {
			if (errno != EAGAIN)
				log_debug("virtio-vsock: accept: %s",
					  strerror(errno));
			return;
		}
		c = vsock_conn_open(&vs->table);
		if (!c) {
			virtio_stat_add(&vs->stats.connections_refused, 1);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = VSOCK_CONN_HANDSHAKE;
		c->host_initiated = true;
		/* A client that never sends its CONNECT line would hold a
		 * slot of the table forever: it gets the same time as the
		 * guest gets to answer. */
		c->connect_deadline_ms = now_ms() + vs->connect_timeout_ms;
		arm_timer(vs, c->connect_deadline_ms);
		count_active(vs);
		if (watch_conn(vs, c))
			conn_close(vs, c, false);
	}
}

static void read_connect_line(struct virtio_vsock *vs, struct vsock_conn *c)
{
	uint32_t port;
	int ret = vsock_unix_read_connect_line(c->fd, &port);

	if (ret == 0)
		return;
	if (ret < 0) {
		log_debug("virtio-vsock: host client without a CONNECT line: "
			  "%s",
			  strerror(-ret));
		virtio_stat_add(&vs->stats.connections_refused, 1);
		conn_close(vs, c, false);
		return;
	}
	c->peer_port = port;
	c->local_port = vsock_conn_pick_local_port(&vs->table, port);
	c->state = VSOCK_CONN_CONNECTING;
	c->owed = VSOCK_OWE_REQUEST;
	/* Bytes after the line may be waiting already; the edge that
	 * brought them is spent. */
	c->host_readable = true;
}

/* Host clients whose CONNECT line did not come, or whose CONNECT the guest
 * left unanswered, past the deadline are closed (the guest, if it was asked,
 * told with RST); the timer is re-armed for the next deadline. */
static void expire_connects(struct virtio_vsock *vs)
{
	uint64_t now = now_ms(), next = 0, ticks;
	ssize_t ignored = read(vs->timer_fd, &ticks, sizeof(ticks));

	(void)ignored;
	vs->timer_deadline_ms = 0;
	for (int i = 0; i < VSOCK_MAX_CONNECTIONS; i++) {
		struct vsock_conn *c = &vs->table.conns[i];

		bool handshake = c->state == VSOCK_CONN_HANDSHAKE;

		if (!handshake &&
		    (c->state != VSOCK_CONN_CONNECTING ||
		     (c->owed & VSOCK_OWE_REQUEST)))
			continue;
		if (c->connect_deadline_ms <= now) {
			if (handshake)
				log_debug("virtio-vsock: host client sent no "
					  "CONNECT line in time");
			else
				log_debug("virtio-vsock: guest port %u did "
					  "not answer CONNECT in time",
					  c->peer_port);
			virtio_stat_add(&vs->stats.connections_refused, 1);
			conn_close(vs, c, !handshake);
		} else if (!next || c->connect_deadline_ms < next) {
			next = c->connect_deadline_ms;
		}
	}
	if (next)
		arm_timer(vs, next);
}

static void handle_conn_event(struct virtio_vsock *vs, struct vsock_conn *c,
			      uint32_t events)
{
	if (c->state == VSOCK_CONN_HANDSHAKE) {
		read_connect_line(vs, c);
		return;
	}
	if (events & EPOLLERR) {
		log_debug("virtio-vsock: host socket of %u:%u failed",
			  c->local_port, c->peer_port);
		conn_close(vs, c, true);
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
		c->host_readable = true;
	if (events & (EPOLLOUT | EPOLLHUP))
		host_flush(vs, c);
}

static void host_events(struct virtio_device *vdev, int fd, uint32_t events)
{
	virtio_vsock_handle_host_events(vdev);
}

void virtio_vsock_handle_host_events(struct virtio_device *vdev)
{
	struct virtio_vsock *vs = to_vsock(vdev);
	struct epoll_event events[32];
	int n;

	if (!device_live(vdev)) {
		/* The host sockets wait until the driver is back. */
		virtio_device_watch_fd(vdev, vs->epoll_fd, 0, host_events);
		return;
	}
	n = epoll_wait(vs->epoll_fd, events, 32, 0);
	for (int i = 0; i < n; i++) {
		uint64_t data = events[i].data.u64;
		uint32_t index = (uint32_t)data;
		struct vsock_conn *c;

		if (data == LISTENER_EVENT) {
			accept_host_clients(vs);
			continue;
		}
		if (data == TIMER_EVENT) {
			expire_connects(vs);
			continue;
		}
		if (index >= VSOCK_MAX_CONNECTIONS)
			continue;
		c = &vs->table.conns[index];
		/* A slot closed (and maybe reused) earlier in this batch. */
		if (c->state == VSOCK_CONN_FREE ||
		    c->generation != (uint32_t)(data >> 32))
			continue;
		handle_conn_event(vs, c, events[i].events);
	}
	flush_rx(vs);
}

void virtio_vsock_set_connect_timeout(struct virtio_device *vdev,
				      uint32_t timeout_ms)
{
	to_vsock(vdev)->connect_timeout_ms = timeout_ms;
}

int virtio_vsock_host_event_fd(struct virtio_device *vdev)
{
	return to_vsock(vdev)->epoll_fd;
}

const struct virtio_vsock_stats *virtio_vsock_stats(struct virtio_device *vdev)
{
	return &to_vsock(vdev)->stats;
}

/* --- Device ops. --- */

static void vsock_config_read(struct virtio_device *vdev, uint32_t offset,
			      void *data, uint32_t size)
{
	/* struct virtio_vsock_config: le64 guest_cid (spec 5.10.4 "Device
	 * configuration layout"). */
	uint64_t cid = htole64(to_vsock(vdev)->guest_cid);

	memcpy(data, (const uint8_t *)&cid + offset, size);
}

static int vsock_activate(struct virtio_device *vdev)
{
	struct virtio_vsock *vs = to_vsock(vdev);

	return virtio_device_watch_fd(vdev, vs->epoll_fd, EPOLLIN, host_events);
}

/* Sends the pending transport reset event; kept pending while the driver
 * has no event buffer in the ring. */
static void send_reset_event(struct virtio_vsock *vs)
{
	struct virtio_device *vdev = &vs->vdev;
	struct virtq *vq = &vdev->queues[VIRTIO_VSOCK_QUEUE_EVENT].vq;
	struct virtio_vsock_event event = {
		.id = htole32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET)};
	struct virtq_chain *chain = &vs->tx_chain;
	uint32_t len;
	int ret;

	if (!vs->reset_event_pending || !device_live(vdev) ||
	    !vdev->queues[VIRTIO_VSOCK_QUEUE_EVENT].enabled)
		return;
	ret = virtq_pop(vq, chain);
	if (ret != 1) {
		if (ret != 0)
			virtio_device_needs_reset(vdev, ret);
		return;
	}
	vs->reset_event_pending = false;
	len = (uint32_t)virtq_chain_write(chain, 0, &event, sizeof(event));
	ret = virtq_push(vq, chain->head, len);
	if (ret < 0) {
		virtio_device_needs_reset(vdev, ret);
		return;
	}
	virtio_device_signal_used(vdev, VIRTIO_VSOCK_QUEUE_EVENT);
}

static void vsock_queue_notify(struct virtio_device *vdev, uint16_t q)
{
	struct virtio_vsock *vs = to_vsock(vdev);

	send_reset_event(vs);
	if (vs->host_paused_for_save) {
		vs->host_paused_for_save = false;
		virtio_device_watch_fd(vdev, vs->epoll_fd, EPOLLIN,
				       host_events);
	}

	if (q == VIRTIO_VSOCK_QUEUE_TX)
		process_tx(vs);
	/* tx may have owed the guest packets; rx got buffers. The event
	 * queue's buffers are kept for a transport reset after a restore. */
	if (q != VIRTIO_VSOCK_QUEUE_EVENT)
		flush_rx(vs);
}

static void close_all(struct virtio_vsock *vs)
{
	for (int i = 0; i < VSOCK_MAX_CONNECTIONS; i++)
		if (vs->table.conns[i].state != VSOCK_CONN_FREE)
			conn_close(vs, &vs->table.conns[i], false);
	vs->rst_head = vs->rst_count = 0;
	vs->rx_chain_held = false;
}

static void disarm_timer(struct virtio_vsock *vs)
{
	if (vs->timer_fd >= 0)
		timer_fd_disarm(vs->timer_fd);
	vs->timer_deadline_ms = 0;
}

static void vsock_reset(struct virtio_device *vdev)
{
	struct virtio_vsock *vs = to_vsock(vdev);

	/* The guest's sockets are gone with its driver (spec 5.10.6 "Device
	 * Events" treats a transport reset as the end of every connection). */
	close_all(vs);
	disarm_timer(vs);
	if (vdev->epoll_fd >= 0)
		virtio_device_watch_fd(vdev, vs->epoll_fd, 0, host_events);
}

static void vsock_destroy(struct virtio_device *vdev)
{
	struct virtio_vsock *vs = to_vsock(vdev);

	close_all(vs);
	if (vs->listen_fd >= 0) {
		close(vs->listen_fd);
		unlink(vs->socket_path);
	}
	if (vs->epoll_fd >= 0)
		close(vs->epoll_fd);
	if (vs->timer_fd >= 0)
		close(vs->timer_fd);
	free(vs->socket_path);
	free(vs);
}

/* Snapshot state. Host connections cannot live on in another process, so
 * the table is not restored: the CID (checked against the new tern's) and
 * how many connections the guest had, which it is told to drop. */
struct vsock_snapshot {
	uint64_t guest_cid;
	uint32_t connections;
	uint32_t pad;
};

static int vsock_save(struct virtio_device *vdev, void *buf, size_t *len)
{
	struct virtio_vsock *vs = to_vsock(vdev);
	struct vsock_snapshot *s = buf;

	if (*len < sizeof(*s))
		return -ENOSPC;
	/* Quiesce: a receive buffer taken but not filled goes back to the
	 * avail ring (it was the last one popped), and host sockets are not
	 * read until the guest runs again. */
	if (vs->rx_chain_held) {
		vdev->queues[VIRTIO_VSOCK_QUEUE_RX].vq.last_avail_idx--;
		vs->rx_chain_held = false;
	}
	if (vdev->epoll_fd >= 0 && device_live(vdev)) {
		virtio_device_watch_fd(vdev, vs->epoll_fd, 0, host_events);
		vs->host_paused_for_save = true;
	}
	memset(s, 0, sizeof(*s));
	s->guest_cid = vs->guest_cid;
	for (int i = 0; i < VSOCK_MAX_CONNECTIONS; i++)
		s->connections += vs->table.conns[i].state != VSOCK_CONN_FREE;
	*len = sizeof(*s);
	return 0;
}

static int vsock_check(struct virtio_device *vdev, const void *buf, size_t len)
{
	struct virtio_vsock *vs = to_vsock(vdev);
	struct vsock_snapshot s;

	if (len != sizeof(s))
		return -EINVAL;
	memcpy(&s, buf, sizeof(s));
	if (s.guest_cid != vs->guest_cid) {
		log_error(
			"virtio-vsock (%s): the snapshot's guest CID is %llu, "
			"this one's %llu: start tern with the snapshot's "
			"CID",
			vs->socket_path, (unsigned long long)s.guest_cid,
			(unsigned long long)vs->guest_cid);
		return -EINVAL;
	}
	return 0;
}

static int vsock_restore(struct virtio_device *vdev, const void *buf,
			 size_t len)
{
	struct virtio_vsock *vs = to_vsock(vdev);
	int ret = vsock_check(vdev, buf, len);

	if (ret)
		return ret;
	close_all(vs);
	disarm_timer(vs);
	vs->host_paused_for_save = false;
	/* Even with no connection saved: a listening guest socket or one
	 * mid-handshake has state only the reset clears. */
	vs->reset_event_pending = true;
	return 0;
}

static const struct virtio_device_ops virtio_vsock_ops = {
	.save = vsock_save,
	.restore = vsock_restore,
	.check = vsock_check,
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK_DEVICE,
	.config_read = vsock_config_read,
	.activate = vsock_activate,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
	.destroy = vsock_destroy,
};

int virtio_vsock_create(uint64_t guest_cid, const char *socket_path,
			struct virtio_device **out, struct tern_error *err)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET,
				 .data.u64 = LISTENER_EVENT};
	struct epoll_event timer_ev = {.events = EPOLLIN,
				       .data.u64 = TIMER_EVENT};
	struct virtio_vsock *vs;
	int ret;

	if (guest_cid < VIRTIO_VSOCK_MIN_CID ||
	    guest_cid > VIRTIO_VSOCK_MAX_CID)
		return tern_error_set(err, EINVAL,
				      "vsock: CID %llu is reserved",
				      (unsigned long long)guest_cid);
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		return tern_error_set(err, ENOMEM, "vsock: out of memory");
	vs->listen_fd = vs->epoll_fd = vs->timer_fd = -1;
	vs->guest_cid = guest_cid;
	vs->connect_timeout_ms = VIRTIO_VSOCK_CONNECT_TIMEOUT_MS;
	vsock_conn_table_init(&vs->table);
	vs->socket_path = strdup(socket_path);
	vs->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	vs->timer_fd = timer_fd_create();
	if (!vs->socket_path || vs->epoll_fd < 0 || vs->timer_fd < 0) {
		ret = tern_error_set(err, ENOMEM, "vsock: out of memory");
		goto fail;
	}
	vs->listen_fd = vsock_unix_listen(socket_path, err);
	if (vs->listen_fd < 0) {
		ret = vs->listen_fd;
		goto fail;
	}
	if (epoll_ctl(vs->epoll_fd, EPOLL_CTL_ADD, vs->listen_fd, &ev) < 0 ||
	    epoll_ctl(vs->epoll_fd, EPOLL_CTL_ADD, vs->timer_fd, &timer_ev) <
		    0) {
		ret = tern_error_set(err, errno, "vsock: epoll: %s",
				     strerror(errno));
		goto fail;
	}
	/* No device features: stream sockets only (spec 5.10.3 "Feature bits":
	 * without VIRTIO_VSOCK_F_SEQPACKET the device does streams). Config
	 * space: the guest's CID. */
	ret = virtio_device_init(&vs->vdev, &virtio_vsock_ops, 3, 0,
				 sizeof(uint64_t));
	if (ret) {
		tern_error_set(err, -ret, "vsock: device setup failed");
		goto fail;
	}
	*out = &vs->vdev;
	return 0;
fail:
	vsock_destroy(&vs->vdev);
	return ret;
}
