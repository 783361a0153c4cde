/* The MMDS's TCP: the server side of a few connections from the guest to
 * port 80 of the MMDS address, carrying HTTP requests to mmds_http.c. Just
 * enough TCP for that (RFC 9293's passive open, in-order data, ACKs, FIN,
 * RST): the receive window is a small fixed buffer per connection (a
 * request line and its headers), data arriving out of order is dropped
 * and acknowledged (the guest sends it again), segments are at most the
 * guest's MSS, and what the guest does not acknowledge in time is sent
 * again from the first unacknowledged byte. No options but MSS, no window
 * scaling, no SACK, no timestamps: the guest's stack falls back.
 *
 * Everything here runs on the virtio-net device's I/O thread; the guest
 * controls every field of every segment, and a connection table, a buffer
 * per connection and a short queue of resets bound what it can make tern
 * hold. Time comes in as CLOCK_MONOTONIC milliseconds. */
#ifndef TERN_MMDS_MMDS_TCP_H
#define TERN_MMDS_MMDS_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mmds/mmds_http.h"
#include "mmds/mmds_store.h"

#define MMDS_TCP_PORT 80
/* Firecracker's limit on simultaneous MMDS connections. */
#define MMDS_TCP_MAX_CONNS 30
/* One request's header block must fit (Firecracker: 2500 bytes). */
#define MMDS_TCP_RX_BUF 2500
#define MMDS_TCP_MAX_RESETS 16
/* Our MSS towards the guest: a standard Ethernet frame's. */
#define MMDS_TCP_MSS_MAX 1460
/* Without an MSS option, RFC 9293 3.7.1's default. */
#define MMDS_TCP_MSS_DEFAULT 536
/* Sent data unacknowledged this long is sent again, up to this often. */
#define MMDS_TCP_RTO_MS 1000
#define MMDS_TCP_RETRIES_MAX 15
/* A connection the guest has not sent anything on for this long is
 * dropped; one idle for EVICT_MS gives its place to a new one. */
#define MMDS_TCP_IDLE_MS 60000
#define MMDS_TCP_EVICT_MS 1000
/* How often mmds_tcp_tick() wants to run while connections exist. */
#define MMDS_TCP_TICK_MS 200

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* One segment from the guest, its headers parsed by mmds_net.c. */
struct mmds_segment {
	uint8_t peer_mac[6];
	uint32_t peer_ip; /* network byte order, as the addresses below */
	uint16_t peer_port; /* host byte order */
	uint16_t local_port;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window;
	uint16_t mss; /* the MSS option; 0: none */
	const uint8_t *payload;
	size_t len;
};

/* One segment to the guest, for mmds_net.c to frame. payload points into
 * tern's own buffers and stays valid until the next call. */
struct mmds_segment_out {
	uint8_t peer_mac[6];
	uint32_t peer_ip;
	uint16_t peer_port, local_port;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window;
	uint16_t mss; /* put an MSS option in (SYN-ACK); 0: none */
	const uint8_t *payload;
	size_t len;
};

struct mmds_conn {
	bool used;
	bool established; /* our SYN is acknowledged */
	bool synack_due; /* send (again) our SYN-ACK */
	bool ack_due;
	bool fin_received;
	bool close_after_reply; /* FIN once the reply is sent */
	bool fin_sent;
	bool reset_due; /* send RST and forget the connection */
	uint8_t peer_mac[6];
	uint32_t peer_ip;
	uint16_t peer_port;
	uint16_t mss;
	uint32_t iss, rcv_nxt, snd_una, snd_nxt, snd_wnd;
	uint64_t last_rx_ms; /* the guest's last segment */
	uint64_t sent_ms; /* the oldest unacknowledged send was made */
	unsigned retries;
	size_t rx_len;
	uint8_t rx[MMDS_TCP_RX_BUF];
	struct mmds_http_reply reply; /* being sent; data NULL: none */
	uint32_t reply_seq; /* sequence number of the reply's first byte */
};

struct mmds_reset {
	uint8_t peer_mac[6];
	uint32_t peer_ip;
	uint16_t peer_port, local_port;
	uint32_t seq, ack;
	uint8_t flags;
};

struct mmds_tcp_stats {
	uint64_t conns_opened;
	uint64_t conns_refused; /* table full: reset */
	uint64_t segments_dropped; /* unusable segments */
	uint64_t retransmits;
};

struct mmds_tcp {
	struct mmds_store *store;
	uint32_t local_ip;
	uint64_t rng; /* xorshift state: initial sequence numbers */
	unsigned next_conn; /* round robin over connections with output */
	struct mmds_conn conns[MMDS_TCP_MAX_CONNS];
	struct mmds_reset resets[MMDS_TCP_MAX_RESETS];
	unsigned reset_count;
	struct mmds_tcp_stats stats;
};

/* seed: any value (getrandom at creation); local_ip network order. */
void mmds_tcp_init(struct mmds_tcp *tcp, struct mmds_store *store,
		   uint32_t local_ip, uint64_t seed);
/* Forgets every connection (device reset, restore, teardown). */
void mmds_tcp_reset(struct mmds_tcp *tcp);

void mmds_tcp_receive(struct mmds_tcp *tcp, const struct mmds_segment *seg,
		      uint64_t now_ms);

/* Whether mmds_tcp_next() has a segment now. */
bool mmds_tcp_has_output(const struct mmds_tcp *tcp);
/* The next segment to the guest; false when there is none. */
bool mmds_tcp_next(struct mmds_tcp *tcp, struct mmds_segment_out *out,
		   uint64_t now_ms);

/* Sends unacknowledged data again, drops dead and idle connections.
 * Returns whether connections remain (call again in MMDS_TCP_TICK_MS). */
bool mmds_tcp_tick(struct mmds_tcp *tcp, uint64_t now_ms);

unsigned mmds_tcp_conn_count(const struct mmds_tcp *tcp);

#endif
