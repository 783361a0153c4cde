#include "virtio/vsock/vsock_conn.h"

#include <stdlib.h>
#include <string.h>

#define RING_SIZE (VSOCK_CONN_BUF_SIZE + VSOCK_CONN_REPLY_MAX)
#define FIRST_LOCAL_PORT (1u << 30)

void vsock_conn_table_init(struct vsock_conn_table *table)
{
	memset(table, 0, sizeof(*table));
	for (int i = 0; i < VSOCK_MAX_CONNECTIONS; i++)
		table->conns[i].fd = -1;
	table->next_local_port = FIRST_LOCAL_PORT;
}

struct vsock_conn *vsock_conn_find(struct vsock_conn_table *table,
				   uint32_t local_port, uint32_t peer_port)
{
	for (int i = 0; i < VSOCK_MAX_CONNECTIONS; i++) {
		struct vsock_conn *c = &table->conns[i];

		if (c->state > VSOCK_CONN_HANDSHAKE &&
		    c->local_port == local_port && c->peer_port == peer_port)
			return c;
	}
	return NULL;
}

struct vsock_conn *vsock_conn_open(struct vsock_conn_table *table)
{
	for (int i = 0; i < VSOCK_MAX_CONNECTIONS; i++) {
		struct vsock_conn *c = &table->conns[i];
		uint32_t generation = c->generation + 1;
		uint8_t *buf;

		if (c->state != VSOCK_CONN_FREE)
			continue;
		buf = malloc(RING_SIZE);
		if (!buf)
			return NULL;
		memset(c, 0, sizeof(*c));
		c->generation = generation;
		c->fd = -1;
		c->buf = buf;
		/* Placeholder until the caller sets the real state. */
		c->state = VSOCK_CONN_HANDSHAKE;
		table->count++;
		return c;
	}
	return NULL;
}

void vsock_conn_release(struct vsock_conn_table *table, struct vsock_conn *c)
{
	if (c->state == VSOCK_CONN_FREE)
		return;
	free(c->buf);
	c->buf = NULL;
	c->state = VSOCK_CONN_FREE;
	c->fd = -1;
	c->owed = 0;
	table->count--;
}

uint32_t vsock_conn_pick_local_port(struct vsock_conn_table *table,
				    uint32_t peer_port)
{
	for (;;) {
		uint32_t port = table->next_local_port++;

		if (table->next_local_port < FIRST_LOCAL_PORT)
			table->next_local_port = FIRST_LOCAL_PORT;
		/* At most VSOCK_MAX_CONNECTIONS ports are taken: this ends. */
		if (!vsock_conn_find(table, port, peer_port))
			return port;
	}
}

void vsock_conn_peer_credit_update(struct vsock_conn *c, uint32_t buf_alloc,
				   uint32_t fwd_cnt)
{
	c->peer_buf_alloc = buf_alloc;
	c->peer_fwd_cnt = fwd_cnt;
}

uint32_t vsock_conn_peer_credit(const struct vsock_conn *c)
{
	/* Wrapping u32 counters, as in the spec's formula. A guest fwd_cnt
	 * ahead of tx_cnt gives a huge in_flight: no credit, not a huge one. */
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	if (in_flight >= c->peer_buf_alloc)
		return 0;
	return c->peer_buf_alloc - in_flight;
}

bool vsock_conn_can_receive(const struct vsock_conn *c, uint32_t len)
{
	uint32_t buffered = c->rx_cnt - c->fwd_cnt;

	return len <= VSOCK_CONN_BUF_SIZE - buffered;
}

int vsock_conn_receive_iov(const struct vsock_conn *c, uint32_t len,
			   struct iovec iov[2])
{
	uint32_t tail = (c->buf_head + c->buf_used) % RING_SIZE;
	uint32_t first = RING_SIZE - tail < len ? RING_SIZE - tail : len;

	if (!len)
		return 0;
	iov[0] = (struct iovec){c->buf + tail, first};
	if (first == len)
		return 1;
	iov[1] = (struct iovec){c->buf, len - first};
	return 2;
}

void vsock_conn_commit_guest_data(struct vsock_conn *c, uint32_t len)
{
	c->buf_used += len;
	c->rx_cnt += len;
}

static void ring_append(struct vsock_conn *c, const void *data, uint32_t len)
{
	struct iovec iov[2];
	int count = vsock_conn_receive_iov(c, len, iov);
	uint32_t done = 0;

	for (int i = 0; i < count; i++) {
		memcpy(iov[i].iov_base, (const uint8_t *)data + done,
		       iov[i].iov_len);
		done += (uint32_t)iov[i].iov_len;
	}
	c->buf_used += len;
}

int vsock_conn_queue_reply(struct vsock_conn *c, const char *line)
{
	size_t len = strlen(line);

	/* The reply must come before any guest data. */
	if (len > VSOCK_CONN_REPLY_MAX || c->buf_used != c->reply_len)
		return -1;
	ring_append(c, line, (uint32_t)len);
	c->reply_len += (uint32_t)len;
	return 0;
}

int vsock_conn_pending_iov(const struct vsock_conn *c, struct iovec iov[2])
{
	uint32_t first;

	if (!c->buf_used)
		return 0;
	first = RING_SIZE - c->buf_head;
	if (first >= c->buf_used) {
		iov[0] = (struct iovec){c->buf + c->buf_head, c->buf_used};
		return 1;
	}
	iov[0] = (struct iovec){c->buf + c->buf_head, first};
	iov[1] = (struct iovec){c->buf, c->buf_used - first};
	return 2;
}

void vsock_conn_consume(struct vsock_conn *c, uint32_t n)
{
	uint32_t reply = n < c->reply_len ? n : c->reply_len;

	if (n > c->buf_used)
		n = c->buf_used;
	c->buf_head = (c->buf_head + n) % RING_SIZE;
	c->buf_used -= n;
	c->reply_len -= reply;
	c->fwd_cnt += n - reply;
}

void vsock_conn_credit_sent(struct vsock_conn *c)
{
	c->fwd_cnt_sent = c->fwd_cnt;
	c->owed &= ~VSOCK_OWE_CREDIT_UPDATE;
}

bool vsock_conn_wants_credit_update(const struct vsock_conn *c)
{
	uint32_t freed = c->fwd_cnt - c->fwd_cnt_sent;
	uint32_t known_used = c->rx_cnt - c->fwd_cnt_sent;
	/* Free space as the guest computes it from our last header. */
	uint32_t known_free = known_used < VSOCK_CONN_BUF_SIZE
		? VSOCK_CONN_BUF_SIZE - known_used
		: 0;

	/* Below the threshold the guest's sender is about to stall; batch
	 * the news so a slow host reader does not cost a packet per read. */
	return known_free < VSOCK_CREDIT_UPDATE_THRESHOLD &&
		freed >= VSOCK_CREDIT_UPDATE_THRESHOLD / 4;
}
