#include "mmds/mmds_tcp.h"

#include <stdlib.h>
#include <string.h>

/* Sequence numbers compare modulo 2^32 (RFC 9293 3.4). */
static bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static bool seq_le(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

static uint32_t next_random(struct mmds_tcp *tcp)
{
	uint64_t x = tcp->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	tcp->rng = x;
	return (uint32_t)(x >> 16);
}

void mmds_tcp_init(struct mmds_tcp *tcp, struct mmds_store *store,
		   uint32_t local_ip, uint64_t seed)
{
	memset(tcp, 0, sizeof(*tcp));
	tcp->store = store;
	tcp->local_ip = local_ip;
	tcp->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

static void conn_free(struct mmds_tcp *tcp, struct mmds_conn *c)
{
	if (c->used)
		MMDS_COUNT(tcp->store, connections_destroyed, 1);
	free(c->reply.data);
	memset(c, 0, offsetof(struct mmds_conn, rx));
	c->reply.data = NULL;
	c->rx_len = 0;
}

void mmds_tcp_reset(struct mmds_tcp *tcp)
{
	for (int i = 0; i < MMDS_TCP_MAX_CONNS; i++)
		if (tcp->conns[i].used)
			conn_free(tcp, &tcp->conns[i]);
	tcp->reset_count = 0;
}

unsigned mmds_tcp_conn_count(const struct mmds_tcp *tcp)
{
	unsigned n = 0;

	for (int i = 0; i < MMDS_TCP_MAX_CONNS; i++)
		n += tcp->conns[i].used;
	return n;
}

/* RFC 9293 3.10.7.1: the answer to a segment no connection takes. */
static void queue_reset(struct mmds_tcp *tcp, const struct mmds_segment *seg)
{
	struct mmds_reset *r;

	if (seg->flags & TCP_RST)
		return;
	/* A full queue drops the reset: the guest's own retries bring the
	 * question again. */
	if (tcp->reset_count == MMDS_TCP_MAX_RESETS)
		return;
	r = &tcp->resets[tcp->reset_count++];
	memcpy(r->peer_mac, seg->peer_mac, 6);
	r->peer_ip = seg->peer_ip;
	r->peer_port = seg->peer_port;
	r->local_port = seg->local_port;
	if (seg->flags & TCP_ACK) {
		r->seq = seg->ack;
		r->ack = 0;
		r->flags = TCP_RST;
	} else {
		r->seq = 0;
		r->ack = seg->seq + (uint32_t)seg->len +
			!!(seg->flags & TCP_SYN) + !!(seg->flags & TCP_FIN);
		r->flags = TCP_RST | TCP_ACK;
	}
}

static struct mmds_conn *find_conn(struct mmds_tcp *tcp,
				   const struct mmds_segment *seg)
{
	for (int i = 0; i < MMDS_TCP_MAX_CONNS; i++) {
		struct mmds_conn *c = &tcp->conns[i];

		if (c->used && c->peer_ip == seg->peer_ip &&
		    c->peer_port == seg->peer_port)
			return c;
	}
	return NULL;
}

/* A free slot; failing that, the connection the guest left alone longest
 * if it has been quiet for MMDS_TCP_EVICT_MS. */
static struct mmds_conn *take_slot(struct mmds_tcp *tcp, uint64_t now_ms)
{
	struct mmds_conn *oldest = NULL;

	for (int i = 0; i < MMDS_TCP_MAX_CONNS; i++) {
		struct mmds_conn *c = &tcp->conns[i];

		if (!c->used)
			return c;
		if (!oldest || c->last_rx_ms < oldest->last_rx_ms)
			oldest = c;
	}
	if (oldest && now_ms - oldest->last_rx_ms >= MMDS_TCP_EVICT_MS) {
		conn_free(tcp, oldest);
		return oldest;
	}
	return NULL;
}

static void passive_open(struct mmds_tcp *tcp, const struct mmds_segment *seg,
			 uint64_t now_ms)
{
	struct mmds_conn *c = take_slot(tcp, now_ms);

	if (!c) {
		tcp->stats.conns_refused++;
		MMDS_COUNT(tcp->store, rx_accepted_err, 1);
		queue_reset(tcp, seg);
		return;
	}
	c->used = true;
	memcpy(c->peer_mac, seg->peer_mac, 6);
	c->peer_ip = seg->peer_ip;
	c->peer_port = seg->peer_port;
	c->mss = seg->mss ? seg->mss : MMDS_TCP_MSS_DEFAULT;
	if (c->mss > MMDS_TCP_MSS_MAX)
		c->mss = MMDS_TCP_MSS_MAX;
	/* A guest announcing a tiny MSS would make tern cut a reply into
	 * thousands of frames; 64 bytes keeps that bounded. */
	if (c->mss < 64)
		c->mss = 64;
	c->iss = next_random(tcp);
	c->snd_una = c->snd_nxt = c->iss;
	c->rcv_nxt = seg->seq + 1;
	c->snd_wnd = seg->window;
	c->synack_due = true;
	c->last_rx_ms = c->sent_ms = now_ms;
	tcp->stats.conns_opened++;
	MMDS_COUNT(tcp->store, connections_created, 1);
}

/* Cuts the next request out of the receive buffer and answers it, when
 * no earlier reply is still being sent. */
static void serve(struct mmds_tcp *tcp, struct mmds_conn *c, uint64_t now_ms)
{
	size_t end;

	if (c->reply.data || c->close_after_reply || c->reset_due)
		return;
	end = mmds_http_request_end(c->rx, c->rx_len);
	if (!end) {
		if (c->rx_len == sizeof(c->rx)) {
			/* Headers longer than the buffer: no request tern
			 * answers can be that long. */
			c->reset_due = true;
		} else if (c->fin_received) {
			c->close_after_reply = true;
		}
		return;
	}
	if (mmds_http_answer(tcp->store, c->rx, end, now_ms, &c->reply)) {
		c->reset_due = true;
		return;
	}
	memmove(c->rx, c->rx + end, c->rx_len - end);
	c->rx_len -= end;
	c->reply_seq = c->snd_nxt;
	c->ack_due = true; /* the window opened */
	if (c->reply.close || c->fin_received) {
		c->close_after_reply = true;
		c->rx_len = 0; /* nothing after this request is answered */
	}
}

/* An acknowledgment of what we sent (RFC 9293 3.10.7.4, fifth check). */
static bool take_ack(struct mmds_conn *c, const struct mmds_segment *seg,
		     uint64_t now_ms)
{
	if (seq_lt(c->snd_nxt, seg->ack)) {
		/* Acknowledges something never sent. */
		c->ack_due = true;
		return false;
	}
	c->snd_wnd = seg->window;
	if (!seq_lt(c->snd_una, seg->ack))
		return true;
	c->snd_una = seg->ack;
	c->sent_ms = now_ms;
	c->retries = 0;
	if (!c->established && seq_le(c->iss + 1, seg->ack)) {
		c->established = true;
		c->synack_due = false;
	}
	if (c->reply.data &&
	    seq_le(c->reply_seq + (uint32_t)c->reply.len, c->snd_una)) {
		free(c->reply.data);
		c->reply.data = NULL;
		c->reply.len = 0;
	}
	return true;
}

/* In-order data (and FIN) into the receive buffer; anything else is
 * dropped and answered with an ACK of what we have. */
static void take_data(struct mmds_conn *c, const struct mmds_segment *seg)
{
	uint32_t off = c->rcv_nxt - seg->seq;
	size_t room = sizeof(c->rx) - c->rx_len, n;
	bool fin = seg->flags & TCP_FIN;

	if (!seg->len && !fin)
		return;
	c->ack_due = true;
	if (c->fin_received)
		return;
	/* Ahead of rcv_nxt (a segment was lost): dropped. */
	if ((int32_t)off < 0)
		return;
	/* All of it seen before (a retransmission), FIN included. */
	if (off > seg->len || (off == seg->len && !fin))
		return;
	n = seg->len - off;
	if (c->close_after_reply) {
		/* After the last request we answer: taken and dropped, so
		 * the guest's FIN behind it is in order. */
	} else {
		if (n > room)
			n = room;
		memcpy(c->rx + c->rx_len, seg->payload + off, n);
		c->rx_len += n;
	}
	c->rcv_nxt += (uint32_t)n;
	if (fin && off + n == seg->len) {
		c->rcv_nxt++;
		c->fin_received = true;
	}
}

void mmds_tcp_receive(struct mmds_tcp *tcp, const struct mmds_segment *seg,
		      uint64_t now_ms)
{
	struct mmds_conn *c;

	if (seg->local_port != MMDS_TCP_PORT) {
		queue_reset(tcp, seg);
		return;
	}
	c = find_conn(tcp, seg);
	if (c && (seg->flags & TCP_SYN) && !(seg->flags & TCP_ACK) &&
	    seg->seq != c->rcv_nxt - 1 && c->fin_received && c->fin_sent) {
		/* The guest reuses the port of a connection that is over. */
		conn_free(tcp, c);
		c = NULL;
	}
	if (!c) {
		if ((seg->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN)
			passive_open(tcp, seg, now_ms);
		else
			queue_reset(tcp, seg);
		return;
	}
	c->last_rx_ms = now_ms;
	if (seg->flags & TCP_RST) {
		/* RFC 5961 3: only a reset inside the window ends it. */
		if (seg->len == 0 &&
		    (uint32_t)(seg->seq - c->rcv_nxt) <= sizeof(c->rx))
			conn_free(tcp, c);
		return;
	}
	if (seg->flags & TCP_SYN) {
		/* Our SYN-ACK was lost (the same SYN again), or a SYN inside
		 * a live connection: either way, say where we are. */
		if (!c->established)
			c->synack_due = true;
		else
			c->ack_due = true;
		return;
	}
	if (!(seg->flags & TCP_ACK)) {
		tcp->stats.segments_dropped++;
		MMDS_COUNT(tcp->store, rx_accepted_unusual, 1);
		return;
	}
	if (!take_ack(c, seg, now_ms) || !c->established)
		return;
	take_data(c, seg);
	serve(tcp, c, now_ms);
	if (c->fin_received && c->fin_sent && c->snd_una == c->snd_nxt)
		conn_free(tcp, c); /* both sides closed, our FIN acknowledged */
}

/* How many reply bytes are ready to go now: unsent, inside the guest's
 * window. */
static size_t sendable(const struct mmds_conn *c)
{
	uint32_t reply_end, win_end;
	size_t n;

	if (!c->reply.data || !c->established)
		return 0;
	reply_end = c->reply_seq + (uint32_t)c->reply.len;
	if (!seq_lt(c->snd_nxt, reply_end))
		return 0;
	n = reply_end - c->snd_nxt;
	win_end = c->snd_una + c->snd_wnd;
	if (!seq_lt(c->snd_nxt, win_end))
		return 0;
	if (n > win_end - c->snd_nxt)
		n = win_end - c->snd_nxt;
	return n > c->mss ? c->mss : n;
}

static bool fin_ready(const struct mmds_conn *c)
{
	return c->established && c->close_after_reply && !c->fin_sent &&
		!c->reply.data;
}

static bool conn_has_output(const struct mmds_conn *c)
{
	return c->used &&
		(c->reset_due || c->synack_due || c->ack_due || sendable(c) ||
		 fin_ready(c));
}

bool mmds_tcp_has_output(const struct mmds_tcp *tcp)
{
	if (tcp->reset_count)
		return true;
	for (int i = 0; i < MMDS_TCP_MAX_CONNS; i++)
		if (conn_has_output(&tcp->conns[i]))
			return true;
	return false;
}

static void out_from_conn(const struct mmds_tcp *tcp, const struct mmds_conn *c,
			  struct mmds_segment_out *out)
{
	size_t room = sizeof(c->rx) - c->rx_len;

	memset(out, 0, sizeof(*out));
	memcpy(out->peer_mac, c->peer_mac, 6);
	out->peer_ip = c->peer_ip;
	out->peer_port = c->peer_port;
	out->local_port = MMDS_TCP_PORT;
	out->seq = c->snd_nxt;
	out->ack = c->rcv_nxt;
	out->flags = TCP_ACK;
	out->window = (uint16_t)(room > 65535 ? 65535 : room);
	(void)tcp;
}

/* Fills out with this connection's next segment. */
static void conn_next(struct mmds_tcp *tcp, struct mmds_conn *c,
		      struct mmds_segment_out *out, uint64_t now_ms)
{
	size_t n;

	if (c->snd_una == c->snd_nxt)
		c->sent_ms = now_ms; /* the retransmission clock starts */
	out_from_conn(tcp, c, out);
	c->ack_due = false;
	if (c->reset_due) {
		out->flags = TCP_RST | TCP_ACK;
		conn_free(tcp, c);
		return;
	}
	if (c->synack_due) {
		out->seq = c->iss;
		out->flags = TCP_SYN | TCP_ACK;
		out->mss = MMDS_TCP_MSS_MAX;
		c->synack_due = false;
		c->snd_nxt = c->iss + 1;
		return;
	}
	n = sendable(c);
	if (n) {
		out->payload = (const uint8_t *)c->reply.data +
			(c->snd_nxt - c->reply_seq);
		out->len = n;
		c->snd_nxt += (uint32_t)n;
		if (c->snd_nxt == c->reply_seq + (uint32_t)c->reply.len)
			out->flags |= TCP_PSH;
		return;
	}
	if (fin_ready(c)) {
		out->flags |= TCP_FIN;
		c->fin_sent = true;
		c->snd_nxt++;
	}
}

bool mmds_tcp_next(struct mmds_tcp *tcp, struct mmds_segment_out *out,
		   uint64_t now_ms)
{
	if (tcp->reset_count) {
		struct mmds_reset *r = &tcp->resets[--tcp->reset_count];

		memset(out, 0, sizeof(*out));
		memcpy(out->peer_mac, r->peer_mac, 6);
		out->peer_ip = r->peer_ip;
		out->peer_port = r->peer_port;
		out->local_port = r->local_port;
		out->seq = r->seq;
		out->ack = r->ack;
		out->flags = r->flags;
		return true;
	}
	for (int i = 0; i < MMDS_TCP_MAX_CONNS; i++) {
		unsigned k =
			(tcp->next_conn + (unsigned)i) % MMDS_TCP_MAX_CONNS;
		struct mmds_conn *c = &tcp->conns[k];

		if (!conn_has_output(c))
			continue;
		tcp->next_conn = (k + 1) % MMDS_TCP_MAX_CONNS;
		conn_next(tcp, c, out, now_ms);
		return true;
	}
	return false;
}

/* Go back to the first unacknowledged byte (RFC 9293 3.8.1's
 * retransmission, go-back-N: the guest drops nothing it was given in
 * order, so resending from there is all the recovery needed). */
static void retransmit(struct mmds_tcp *tcp, struct mmds_conn *c,
		       uint64_t now_ms)
{
	c->retries++;
	c->sent_ms = now_ms;
	tcp->stats.retransmits++;
	if (!c->established) {
		c->synack_due = true;
		c->snd_nxt = c->iss;
		return;
	}
	c->fin_sent = false; /* not acknowledged either: sent again */
	c->snd_nxt = c->snd_una;
	if (!c->reply.data && !c->fin_sent)
		c->ack_due = true;
}

bool mmds_tcp_tick(struct mmds_tcp *tcp, uint64_t now_ms)
{
	bool any = false;

	for (int i = 0; i < MMDS_TCP_MAX_CONNS; i++) {
		struct mmds_conn *c = &tcp->conns[i];

		if (!c->used)
			continue;
		if (now_ms - c->last_rx_ms >= MMDS_TCP_IDLE_MS ||
		    c->retries >= MMDS_TCP_RETRIES_MAX) {
			conn_free(tcp, c);
			continue;
		}
		any = true;
		if (c->snd_una != c->snd_nxt &&
		    now_ms - c->sent_ms >= MMDS_TCP_RTO_MS)
			retransmit(tcp, c, now_ms);
	}
	return any;
}
