/* One virtio-vsock stream connection between the guest and a host Unix
 * socket, and the table of them, keyed by (local port, peer port): local is
 * the host side's port, peer the guest's. Plain data (the fd and the buffer
 * pointer aside) so a later save/restore can serialize it.
 *
 * Credit (spec 5.10.6 "Buffer Space Management"): each side advertises
 * buf_alloc, its receive buffer for the connection, and fwd_cnt, the bytes it
 * has consumed from it; a sender keeps (bytes sent - peer's fwd_cnt) within the
 * peer's buf_alloc. tern's receive buffer is `buf`, bytes from the guest
 * waiting to be written to the host socket; the guest's credit with tern is
 * VSOCK_CONN_BUF_SIZE minus what sits there, so a slow host reader stops the
 * guest's sender for that connection only. */
#ifndef TERN_VIRTIO_VSOCK_VSOCK_CONN_H
#define TERN_VIRTIO_VSOCK_VSOCK_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* The receive buffer tern advertises per connection (buf_alloc). */
#define VSOCK_CONN_BUF_SIZE (256u * 1024)
/* Room for the "OK <port>\n" reply in front of the guest's data. */
#define VSOCK_CONN_REPLY_MAX 32u
/* Connections at once, both directions and host clients still sending
 * their CONNECT line; a guest REQUEST beyond it gets RST. */
#define VSOCK_MAX_CONNECTIONS 64
/* Send the guest a CREDIT_UPDATE once the free space it knows of is below
 * this and tern freed at least a quarter of it. */
#define VSOCK_CREDIT_UPDATE_THRESHOLD (64u * 1024)

enum vsock_conn_state {
	VSOCK_CONN_FREE = 0,
	VSOCK_CONN_HANDSHAKE, /* host client connected, CONNECT line awaited */
	VSOCK_CONN_CONNECTING, /* REQUEST to the guest, RESPONSE awaited */
	VSOCK_CONN_ESTABLISHED,
};

/* Control packets the device owes the guest for a connection. */
#define VSOCK_OWE_REQUEST 1u
#define VSOCK_OWE_RESPONSE 2u
#define VSOCK_OWE_SHUTDOWN 4u
#define VSOCK_OWE_CREDIT_UPDATE 8u

struct vsock_conn {
	enum vsock_conn_state state;
	uint32_t generation; /* tells stale epoll events from a reused slot */
	uint32_t local_port; /* host side */
	uint32_t peer_port; /* guest side */
	bool host_initiated;
	int fd; /* the host Unix socket */
	uint32_t owed; /* VSOCK_OWE_* */

	/* Guest to host: `buf` is a ring of VSOCK_CONN_BUF_SIZE +
	 * VSOCK_CONN_REPLY_MAX bytes; the first reply_len bytes queued are
	 * tern's own reply to the host client, not guest data. */
	uint8_t *buf;
	uint32_t buf_head; /* offset of the oldest byte */
	uint32_t buf_used;
	uint32_t reply_len;
	uint32_t rx_cnt; /* guest payload bytes received */
	uint32_t fwd_cnt; /* of those, written to the host socket */
	uint32_t fwd_cnt_sent; /* fwd_cnt in the last header sent */

	/* Host to guest. */
	uint32_t tx_cnt; /* payload bytes sent to the guest */
	uint32_t peer_buf_alloc;
	uint32_t peer_fwd_cnt;

	uint32_t peer_shutdown; /* VIRTIO_VSOCK_SHUTDOWN_* from the guest */
	uint32_t local_shutdown; /* sent (or owed) to the guest */
	bool host_readable; /* edge seen, EAGAIN not yet */
	bool host_eof; /* the host client will send nothing more */
	bool host_write_shut; /* shutdown(SHUT_WR) done on the host socket */
	uint64_t connect_deadline_ms; /* CONNECTING: CLOCK_MONOTONIC, ms */
};

struct vsock_conn_table {
	struct vsock_conn conns[VSOCK_MAX_CONNECTIONS];
	uint32_t count; /* slots not FREE */
	uint32_t next_local_port; /* for host-initiated connections */
};

void vsock_conn_table_init(struct vsock_conn_table *table);

/* The connection for a (local, peer) port pair, or NULL. HANDSHAKE
 * connections have no ports yet and are never found. */
struct vsock_conn *vsock_conn_find(struct vsock_conn_table *table,
				   uint32_t local_port, uint32_t peer_port);

/* A FREE slot, zeroed and counted, with fd -1 and its receive buffer
 * allocated; NULL when the table is full or out of memory. */
struct vsock_conn *vsock_conn_open(struct vsock_conn_table *table);

/* Frees the buffer and returns the slot to FREE (the caller closed the
 * fd). */
void vsock_conn_release(struct vsock_conn_table *table, struct vsock_conn *c);

/* A host-side port for a connection to the guest's peer_port that no live
 * connection uses with that peer port (spec: ports are the sender's
 * choice; tern counts up from 2^30, away from well-known ports). */
uint32_t vsock_conn_pick_local_port(struct vsock_conn_table *table,
				    uint32_t peer_port);

/* Takes the credit fields of a header the guest sent for this connection. */
void vsock_conn_peer_credit_update(struct vsock_conn *c, uint32_t buf_alloc,
				   uint32_t fwd_cnt);

/* Payload bytes tern may send the guest now (0 when the guest's counters
 * make no sense, e.g. a fwd_cnt ahead of what was sent). */
uint32_t vsock_conn_peer_credit(const struct vsock_conn *c);

/* Whether `len` more guest bytes fit within the credit tern gave. */
bool vsock_conn_can_receive(const struct vsock_conn *c, uint32_t len);

/* Where the next len bytes of guest payload go in the ring, as at most
 * two iovecs (returns their count); the caller checked
 * vsock_conn_can_receive(), fills them, then commits the bytes. */
int vsock_conn_receive_iov(const struct vsock_conn *c, uint32_t len,
			   struct iovec iov[2]);
void vsock_conn_commit_guest_data(struct vsock_conn *c, uint32_t len);

/* Queues tern's reply line to the host client; it must come before any
 * guest data and is counted in reply_len, not as guest data. 0 or -1. */
int vsock_conn_queue_reply(struct vsock_conn *c, const char *line);

/* Bytes waiting for the host socket as at most two iovecs (the ring's
 * wrap); returns the iovec count (0: nothing waits). */
int vsock_conn_pending_iov(const struct vsock_conn *c, struct iovec iov[2]);

/* n bytes were written to the host socket: frees them and advances
 * fwd_cnt by the guest data among them. */
void vsock_conn_consume(struct vsock_conn *c, uint32_t n);

/* Records that a header carrying fwd_cnt went to the guest. */
void vsock_conn_credit_sent(struct vsock_conn *c);

/* Whether the guest should be told of freed buffer space now (see
 * VSOCK_CREDIT_UPDATE_THRESHOLD). */
bool vsock_conn_wants_credit_update(const struct vsock_conn *c);

#endif
