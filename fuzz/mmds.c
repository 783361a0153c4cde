/* Fuzz target: the MMDS stack (src/mmds/) as a hostile guest reaches it,
 * through frames on virtio-net's transmit path: ARP, IPv4 and TCP headers
 * of any shape, TCP sessions (SYN, data, FIN, RST, retransmissions, many
 * connections at once, more than the table holds) and the HTTP/1.x requests
 * they carry, V1 and V2, with and without session tokens; meanwhile the API
 * replaces and patches the store and time passes (retransmission, idle and
 * token expiry).
 *
 * The input is a setup byte, then a stream of operations (op & 7):
 *   0 a raw frame: u16 length, the bytes (Ethernet header first); it goes
 *     through the same gate as virtio_net.c's (peek, size limit)
 *   1 a TCP segment the target frames (so the fuzzer need not find
 *     checksums or lengths): guest port (who & 31) and address (who &
 *     32), port 80 or not (who & 0xc0), flags, how seq and
 *     ack are chosen (tracked from the conversation or raw), options,
 *     window and payload; "$TOKEN" in a payload becomes a valid token, so
 *     V2's authorised path is reached without guessing an HMAC
 *   2 drain: the guest takes every frame the MMDS has for it
 *   3 time passes (u16, in ms or s) and the device's timer ticks
 *   4 device reset
 *   5 API: switch V1/V2 and IMDS compatibility
 *   6 API: PUT a new document or PATCH with input JSON
 *   7 drain one frame
 * Every frame the MMDS writes is checked: its size, MAC, addresses, IPv4
 * and TCP checksums and lengths; a broken one is abort(). So is a guest
 * making the MMDS produce frames without end, or state outside its bounds
 * (connections, receive buffers, sequence numbers). FUZZ_VERBOSE=1 prints
 * each TCP segment to the guest (replay: build/fuzz/mmds FILE). */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz_input.h"
#include "mmds/mmds_net.h"
#include "mmds/mmds_store.h"
#include "mmds/mmds_token.h"
#include "util/log.h"

/* virtio_net.c's gate: it reads 42 bytes to decide, and takes frames up
 * to 8 KiB whole. */
#define PEEK 42
#define FRAME_MAX 8192
/* Guest source ports 40000-40031 from two addresses: more connections
 * than the table holds. */
#define PORTS 32
/* More frames than any guest input can legitimately queue: every
 * connection's whole window in 64-byte segments, the resets, an ARP
 * reply. A drain that does not end is the device thread stuck. */
#define DRAIN_LIMIT (MMDS_TCP_MAX_CONNS * (65536 / 64 + 4) + 64)

static const uint8_t mmds_mac[6] = MMDS_MAC;
static bool verbose;
static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

struct session {
	struct mmds_store *store;
	struct mmds_net *net;
	uint32_t mmds_ip, guest_ip[2];
	uint64_t now_ms;
	/* What the guest side knows per source port: its own next sequence
	 * number and the MMDS's next one (from the frames it was sent). */
	uint32_t cli_next[PORTS], srv_next[PORTS];
	uint8_t frame[MMDS_FRAME_MAX + 64];
};

/* Built once: every PUT copies it. */
static const json_t *document(void)
{
	static json_t *value;
	static const char text[] =
		"{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-12345678\","
		"\"instance-id\":\"i-0123456789\",\"tags\":{\"a~b\":\"c/d\","
		"\"e/f\":\"g\"},\"list\":[\"x\",{\"y\":\"z\"},3,true,null],"
		"\"number\":42,\"real\":1.5,\"empty\":{}}},\"big\":\"%s\"}";
	char big[3001], *doc;

	if (value)
		return value;
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	if (asprintf(&doc, text, big) < 0)
		abort();
	value = json_loads(doc, 0, NULL);
	free(doc);
	if (!value)
		abort();
	return value;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static int port_index(uint16_t port)
{
	return port >= 40000 && port < 40000 + PORTS ? port - 40000 : -1;
}

/* The frame as virtio_net.c hands it over: peeked, then copied whole into
 * a buffer of exactly its size (ASan sees any read past it). */
static void transmit(struct session *s, const uint8_t *frame, size_t len)
{
	uint8_t *copy;

	if (!mmds_net_is_for_mmds(s->net, frame, len < PEEK ? len : PEEK))
		return;
	if (len > FRAME_MAX)
		return;
	copy = malloc(len ? len : 1);
	if (!copy)
		abort();
	memcpy(copy, frame, len);
	mmds_net_receive(s->net, copy, len, s->now_ms);
	free(copy);
}

/* A frame from the MMDS to the guest, as a guest's NIC would check it. */
static void check_ipv4(struct session *s, const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + 14, *tcp = ip + 20;
	size_t tcp_len, doff, plen;
	uint32_t sum;
	int p;

	if (len < 14 + 20 + 20 || ip[0] != 0x45 ||
	    (size_t)get16(ip + 2) != len - 14 || fold(sum16(0, ip, 20)) != 0 ||
	    ip[9] != 6 || memcmp(ip + 12, &s->mmds_ip, 4))
		abort();
	tcp_len = len - 34;
	doff = (size_t)(tcp[12] >> 4) * 4;
	if (doff < 20 || doff > tcp_len)
		abort();
	sum = sum16(0, ip + 12, 8) + 6 + (uint32_t)tcp_len;
	if (fold(sum16(sum, tcp, tcp_len)) != 0)
		abort();
	plen = tcp_len - doff;
	if (plen > MMDS_TCP_MSS_MAX)
		abort();
	if (verbose) {
		const uint8_t *data = tcp + doff;
		const uint8_t *eol = memchr(data, '\r', plen);

		printf("mmds: to port %u flags 0x%02x seq %u ack %u len %zu "
		       "%.*s\n",
		       get16(tcp + 2), tcp[13], get32(tcp + 4), get32(tcp + 8),
		       plen,
		       plen >= 5 && !memcmp(data, "HTTP/", 5) && eol
			       ? (int)(eol - data)
			       : 0,
		       (const char *)data);
	}
	/* What the guest learns: where the MMDS's stream goes on. */
	p = port_index(get16(tcp + 2));
	if (p < 0 || (tcp[13] & TCP_RST))
		return;
	s->srv_next[p] = get32(tcp + 4) + (uint32_t)plen +
		!!(tcp[13] & TCP_SYN) + !!(tcp[13] & TCP_FIN);
}

static void check_frame(struct session *s, const uint8_t *f, size_t len)
{
	if (len < 42 || len > MMDS_FRAME_MAX || memcmp(f + 6, mmds_mac, 6))
		abort();
	if (get16(f + 12) == 0x0806) {
		if (len != 42 || get16(f + 20) != 2 ||
		    memcmp(f + 22, mmds_mac, 6) ||
		    memcmp(f + 28, &s->mmds_ip, 4))
			abort();
		return;
	}
	if (get16(f + 12) != 0x0800)
		abort();
	check_ipv4(s, f, len);
}

/* The bounds the stack keeps whatever the guest sends. */
static void check_state(const struct session *s)
{
	const struct mmds_tcp *tcp = &s->net->tcp;

	if (tcp->reset_count > MMDS_TCP_MAX_RESETS ||
	    mmds_tcp_conn_count(tcp) > MMDS_TCP_MAX_CONNS)
		abort();
	for (int i = 0; i < MMDS_TCP_MAX_CONNS; i++) {
		const struct mmds_conn *c = &tcp->conns[i];

		if (!c->used)
			continue;
		if (c->rx_len > sizeof(c->rx) || c->mss < 64 ||
		    c->mss > MMDS_TCP_MSS_MAX ||
		    (int32_t)(c->snd_nxt - c->snd_una) < 0)
			abort();
	}
}

static size_t drain(struct session *s, size_t most)
{
	size_t n = 0, len;

	while (n < most &&
	       (len = mmds_net_next_frame(s->net, s->frame, sizeof(s->frame),
					  s->now_ms))) {
		check_frame(s, s->frame, len);
		if (++n > DRAIN_LIMIT)
			abort();
	}
	if (n < most && mmds_net_has_output(s->net))
		abort(); /* says it has output, gives none */
	return n;
}

/* The payload from the input, "$TOKEN" replaced by a token valid now. */
static size_t payload(struct session *s, struct fuzz_input *in, uint8_t *out,
		      size_t room)
{
	static const char mark[] = "$TOKEN";
	uint8_t raw[1600];
	size_t len = fuzz_bytes(in, raw, fuzz_u16(in) % sizeof(raw)), n = 0;

	for (size_t i = 0; i < len && n < room;) {
		if (len - i >= 6 && !memcmp(raw + i, mark, 6) &&
		    room - n >= MMDS_TOKEN_LEN) {
			char token[MMDS_TOKEN_SIZE];

			mmds_token_issue(&s->store->token_key, 60, s->now_ms,
					 token);
			memcpy(out + n, token, MMDS_TOKEN_LEN);
			n += MMDS_TOKEN_LEN;
			i += 6;
		} else {
			out[n++] = raw[i++];
		}
	}
	return n;
}

static void segment(struct session *s, struct fuzz_input *in)
{
	uint8_t who = fuzz_u8(in), flags = fuzz_u8(in), how = fuzz_u8(in);
	uint8_t f[14 + 60 + 60 + 2048];
	uint8_t *ip = f + 14, *tcp = ip + 20, *opt = tcp + 20;
	int p = who % PORTS;
	const uint32_t *src = &s->guest_ip[(who >> 5) & 1];
	size_t olen = 0, plen, tcp_len;
	uint32_t seq, ack, sum;

	switch (how & 3) {
	case 0: /* in order */
		seq = s->cli_next[p];
		break;
	case 1:
		seq = fuzz_u32(in);
		break;
	case 2: /* behind: a retransmission */
		seq = s->cli_next[p] - fuzz_u16(in);
		break;
	default: /* ahead: a lost segment */
		seq = s->cli_next[p] + fuzz_u16(in);
		break;
	}
	switch ((how >> 2) & 3) {
	case 0: /* acknowledges everything seen */
		ack = s->srv_next[p];
		break;
	case 1:
		ack = fuzz_u32(in);
		break;
	case 2:
		ack = s->srv_next[p] - fuzz_u16(in);
		break;
	default:
		ack = s->srv_next[p] + fuzz_u8(in);
		break;
	}
	if (how & 0x10) { /* an MSS option */
		opt[0] = 2;
		opt[1] = 4;
		put16(opt + 2, fuzz_u16(in));
		olen = 4;
	}
	if (how & 0x20) /* options of the input's making */
		olen += fuzz_bytes(in, opt + olen, fuzz_u8(in) % 37);
	while (olen % 4)
		opt[olen++] = 0;
	plen = payload(s, in, opt + olen, 2048);
	tcp_len = 20 + olen + plen;

	memcpy(f, mmds_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + tcp_len));
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, &s->mmds_ip, 4);
	put16(ip + 10, fold(sum16(0, ip, 20)));
	/* Port 80, now and then another. */
	put16(tcp, (uint16_t)(40000 + p));
	put16(tcp + 2, (who & 0xc0) == 0xc0 ? 443 : MMDS_TCP_PORT);
	put32(tcp + 4, seq);
	put32(tcp + 8, ack);
	tcp[12] = (uint8_t)(((20 + olen) / 4) << 4);
	tcp[13] = flags;
	put16(tcp + 14, how & 0x40 ? fuzz_u16(in) : 65535);
	put16(tcp + 16, 0);
	put16(tcp + 18, 0);
	sum = sum16(0, ip + 12, 8) + 6 + (uint32_t)tcp_len;
	put16(tcp + 16, fold(sum16(sum, tcp, tcp_len)));
	if ((how & 3) == 0 || (how & 0x80))
		s->cli_next[p] = seq + (uint32_t)plen + !!(flags & TCP_SYN) +
			!!(flags & TCP_FIN);
	transmit(s, f, 14 + 20 + tcp_len);
}

static void raw_frame(struct session *s, struct fuzz_input *in)
{
	uint8_t f[FRAME_MAX + 16];
	size_t len = fuzz_bytes(in, f, fuzz_u16(in) % sizeof(f));

	/* Frames not for the MMDS go to the tap: make most name it. */
	if (len >= 34 && get16(f + 12) == 0x0800)
		memcpy(f + 30, &s->mmds_ip, 4);
	else if (len >= 42 && get16(f + 12) == 0x0806)
		memcpy(f + 38, &s->mmds_ip, 4);
	transmit(s, f, len);
}

static void time_passes(struct session *s, struct fuzz_input *in, uint8_t op)
{
	uint64_t step = fuzz_u16(in);

	s->now_ms += op & 0x80 ? step * 1000 : step;
	mmds_net_tick(s->net, s->now_ms);
}

static void api_write(struct session *s, struct fuzz_input *in, uint8_t op)
{
	struct tern_error err;
	char text[256];
	size_t len = fuzz_bytes(in, text, fuzz_u8(in));
	json_t *doc;

	if (op & 0x80) {
		doc = json_loadb(text, len, JSON_DECODE_ANY, NULL);
		if (doc)
			mmds_store_patch(s->store, doc, &err);
	} else {
		doc = json_loadb(text, len, 0, NULL);
		mmds_store_put(s->store, op & 0x40 || !doc ? document() : doc,
			       &err);
	}
	json_decref(doc);
}

static void setup(struct session *s, uint8_t how)
{
	struct tern_error err;

	memset(s, 0, sizeof(*s));
	inet_pton(AF_INET, MMDS_DEFAULT_IPV4, &s->mmds_ip);
	inet_pton(AF_INET, "10.0.2.15", &s->guest_ip[0]);
	inet_pton(AF_INET, "10.0.2.16", &s->guest_ip[1]);
	s->now_ms = 1000000;
	s->store = mmds_store_create(how & 8 ? 256 : MMDS_DEFAULT_SIZE_LIMIT,
				     &err);
	if (!s->store)
		abort();
	mmds_store_set_mode(s->store, how & 1 ? MMDS_V2 : MMDS_V1, how & 2);
	if (!(how & 4))
		mmds_store_put(s->store, document(), &err);
	/* A store no VM prepared has no key (PUT of a token is a 500);
	 * otherwise a fixed key, so that runs replay. */
	if (!(how & 0x10)) {
		if (mmds_store_prepare_tokens(s->store, &err))
			abort();
		memset(&s->store->token_key, 0x5a, sizeof(s->store->token_key));
	}
	s->net = mmds_net_create(s->store, s->mmds_ip, 42);
	if (!s->net)
		abort();
	for (int p = 0; p < PORTS; p++)
		s->cli_next[p] = 1000u * (uint32_t)(p + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct session s;
	struct fuzz_input in = fuzz_input_of(data, size);

	log_set_level(LOG_OFF);
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	setup(&s, fuzz_u8(&in));
	while (!fuzz_done(&in)) {
		uint8_t op = fuzz_u8(&in);

		switch (op & 7) {
		case 0:
			raw_frame(&s, &in);
			break;
		case 1:
			segment(&s, &in);
			break;
		case 2:
			drain(&s, SIZE_MAX);
			break;
		case 3:
			time_passes(&s, &in, op);
			break;
		case 4:
			mmds_net_reset(s.net);
			break;
		case 5:
			mmds_store_set_mode(s.store,
					    op & 0x10 ? MMDS_V2 : MMDS_V1,
					    op & 0x20);
			break;
		case 6:
			api_write(&s, &in, op);
			break;
		default:
			drain(&s, 1);
			break;
		}
		check_state(&s);
	}
	drain(&s, SIZE_MAX);
	mmds_net_destroy(s.net);
	mmds_store_destroy(s.store);
	return 0;
}
