#include "mmds/mmds_net.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define ETH_HDR 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ARP_LEN 28
#define IPV4_HDR_MIN 20
#define TCP_HDR_MIN 20
#define IPPROTO_TCP_NUM 6

static const uint8_t mmds_mac[6] = MMDS_MAC;

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		(uint32_t)p[2] << 8 | p[3];
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

struct mmds_net *mmds_net_create(struct mmds_store *store, uint32_t ipv4,
				 uint64_t seed)
{
	struct mmds_net *net = calloc(1, sizeof(*net));

	if (!net)
		return NULL;
	net->ipv4 = ipv4;
	mmds_tcp_init(&net->tcp, store, ipv4, seed);
	return net;
}

void mmds_net_destroy(struct mmds_net *net)
{
	if (!net)
		return;
	mmds_tcp_reset(&net->tcp);
	free(net);
}

void mmds_net_reset(struct mmds_net *net)
{
	mmds_tcp_reset(&net->tcp);
	net->arp_due = false;
}

bool mmds_net_is_for_mmds(const struct mmds_net *net, const uint8_t *frame,
			  size_t len)
{
	uint16_t type;

	if (len < ETH_HDR)
		return false;
	type = get16(frame + 12);
	/* ARP: the target protocol address at 24..27 of the ARP packet. */
	if (type == ETHERTYPE_ARP)
		return len >= ETH_HDR + ARP_LEN &&
			!memcmp(frame + ETH_HDR + 24, &net->ipv4, 4);
	/* IPv4: the destination address at 16..19 of its header. */
	if (type == ETHERTYPE_IPV4)
		return len >= ETH_HDR + IPV4_HDR_MIN &&
			!memcmp(frame + ETH_HDR + 16, &net->ipv4, 4);
	return false;
}

/* An ARP request for our address (RFC 826, Ethernet and IPv4 only). */
static void receive_arp(struct mmds_net *net, const uint8_t *arp, size_t len)
{
	if (len < ARP_LEN || get16(arp) != 1 || get16(arp + 2) != 0x0800 ||
	    arp[4] != 6 || arp[5] != 4 || get16(arp + 6) != 1) {
		net->stats.rx_dropped++;
		MMDS_COUNT(net->tcp.store, rx_bad_eth, 1);
		return;
	}
	/* One reply pending: a newer request replaces an older one (the
	 * guest asks again if it needs to). */
	memcpy(net->arp_mac, arp + 8, 6);
	memcpy(&net->arp_ip, arp + 14, 4);
	net->arp_due = true;
}

/* Internet checksum (RFC 1071) of len bytes, folded into sum. */
static uint32_t sum_bytes(uint32_t sum, const uint8_t *p, size_t len)
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

/* The MSS option among the TCP options (RFC 9293 3.2); 0 when absent or
 * the options are malformed. */
static uint16_t find_mss(const uint8_t *opt, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t kind = opt[i], olen;

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len)
			break;
		olen = opt[i + 1];
		if (olen < 2 || i + olen > len)
			break;
		if (kind == 2 && olen == 4)
			return get16(opt + i + 2);
		i += olen;
	}
	return 0;
}

static void receive_ipv4(struct mmds_net *net, const uint8_t *eth,
			 const uint8_t *ip, size_t len, uint64_t now_ms)
{
	struct mmds_segment seg;
	size_t ihl, total, doff;
	const uint8_t *tcp;

	if (len < IPV4_HDR_MIN || ip[0] >> 4 != 4) {
		net->stats.rx_dropped++;
		MMDS_COUNT(net->tcp.store, rx_bad_eth, 1);
		return;
	}
	ihl = (size_t)(ip[0] & 15) * 4;
	total = get16(ip + 2);
	/* The IP length rules: an Ethernet frame may carry padding after
	 * it, never less than it says. */
	if (ihl < IPV4_HDR_MIN || total < ihl || total > len ||
	    ip[9] != IPPROTO_TCP_NUM) {
		net->stats.rx_dropped++;
		MMDS_COUNT(net->tcp.store, rx_bad_eth, 1);
		return;
	}
	/* Fragments (MF set or an offset): the MMDS's requests are small and
	 * the guest sends them whole; tern reassembles nothing. */
	if (get16(ip + 6) & 0x3fff) {
		net->stats.rx_dropped++;
		MMDS_COUNT(net->tcp.store, rx_bad_eth, 1);
		return;
	}
	tcp = ip + ihl;
	len = total - ihl;
	if (len < TCP_HDR_MIN) {
		net->stats.rx_dropped++;
		MMDS_COUNT(net->tcp.store, rx_bad_eth, 1);
		return;
	}
	doff = (size_t)(tcp[12] >> 4) * 4;
	if (doff < TCP_HDR_MIN || doff > len) {
		net->stats.rx_dropped++;
		MMDS_COUNT(net->tcp.store, rx_bad_eth, 1);
		return;
	}
	/* Checksums are not verified: the "wire" is a copy in memory that
	 * cannot corrupt, the guest offloads them (VIRTIO_NET_F_CSUM leaves
	 * them partial), and a wrong one would harm only the guest's own
	 * connection. */
	memset(&seg, 0, sizeof(seg));
	memcpy(seg.peer_mac, eth + 6, 6);
	memcpy(&seg.peer_ip, ip + 12, 4);
	seg.peer_port = get16(tcp);
	seg.local_port = get16(tcp + 2);
	seg.seq = get32(tcp + 4);
	seg.ack = get32(tcp + 8);
	seg.flags = tcp[13] & 0x3f;
	seg.window = get16(tcp + 14);
	if (seg.flags & TCP_SYN)
		seg.mss = find_mss(tcp + TCP_HDR_MIN, doff - TCP_HDR_MIN);
	seg.payload = tcp + doff;
	seg.len = len - doff;
	MMDS_COUNT(net->tcp.store, rx_count, 1);
	mmds_tcp_receive(&net->tcp, &seg, now_ms);
}

void mmds_net_receive(struct mmds_net *net, const uint8_t *frame, size_t len,
		      uint64_t now_ms)
{
	if (!mmds_net_is_for_mmds(net, frame, len))
		return;
	net->stats.rx_frames++;
	MMDS_COUNT(net->tcp.store, rx_accepted, 1);
	if (get16(frame + 12) == ETHERTYPE_ARP)
		receive_arp(net, frame + ETH_HDR, len - ETH_HDR);
	else
		receive_ipv4(net, frame, frame + ETH_HDR, len - ETH_HDR,
			     now_ms);
}

bool mmds_net_has_output(const struct mmds_net *net)
{
	return net->arp_due || mmds_tcp_has_output(&net->tcp);
}

static void put_eth(uint8_t *buf, const uint8_t *dst, uint16_t type)
{
	memcpy(buf, dst, 6);
	memcpy(buf + 6, mmds_mac, 6);
	put16(buf + 12, type);
}

static size_t write_arp_reply(struct mmds_net *net, uint8_t *buf)
{
	uint8_t *arp = buf + ETH_HDR;

	put_eth(buf, net->arp_mac, ETHERTYPE_ARP);
	put16(arp, 1);
	put16(arp + 2, 0x0800);
	arp[4] = 6;
	arp[5] = 4;
	put16(arp + 6, 2); /* reply */
	memcpy(arp + 8, mmds_mac, 6);
	memcpy(arp + 14, &net->ipv4, 4);
	memcpy(arp + 18, net->arp_mac, 6);
	memcpy(arp + 24, &net->arp_ip, 4);
	net->arp_due = false;
	return ETH_HDR + ARP_LEN;
}

static size_t write_segment(struct mmds_net *net, uint8_t *buf,
			    const struct mmds_segment_out *s)
{
	uint8_t *ip = buf + ETH_HDR, *tcp = ip + IPV4_HDR_MIN;
	size_t doff = TCP_HDR_MIN + (s->mss ? 4 : 0);
	size_t tcp_len = doff + s->len;
	uint32_t sum;

	put_eth(buf, s->peer_mac, ETHERTYPE_IPV4);
	memset(ip, 0, IPV4_HDR_MIN);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(IPV4_HDR_MIN + tcp_len));
	put16(ip + 4, net->ip_id++);
	put16(ip + 6, 0x4000); /* don't fragment */
	ip[8] = 64;
	ip[9] = IPPROTO_TCP_NUM;
	memcpy(ip + 12, &net->ipv4, 4);
	memcpy(ip + 16, &s->peer_ip, 4);
	put16(ip + 10, fold(sum_bytes(0, ip, IPV4_HDR_MIN)));

	memset(tcp, 0, doff);
	put16(tcp, s->local_port);
	put16(tcp + 2, s->peer_port);
	put32(tcp + 4, s->seq);
	put32(tcp + 8, s->ack);
	tcp[12] = (uint8_t)((doff / 4) << 4);
	tcp[13] = s->flags;
	put16(tcp + 14, s->window);
	if (s->mss) {
		tcp[20] = 2;
		tcp[21] = 4;
		put16(tcp + 22, s->mss);
	}
	if (s->len)
		memcpy(tcp + doff, s->payload, s->len);
	/* The pseudo-header (RFC 9293 3.1), then the segment. */
	sum = sum_bytes(0, ip + 12, 8);
	sum += IPPROTO_TCP_NUM + (uint32_t)tcp_len;
	sum = sum_bytes(sum, tcp, tcp_len);
	put16(tcp + 16, fold(sum));
	return ETH_HDR + IPV4_HDR_MIN + tcp_len;
}

size_t mmds_net_next_frame(struct mmds_net *net, uint8_t *buf, size_t cap,
			   uint64_t now_ms)
{
	struct mmds_segment_out seg;
	size_t len;

	if (cap < MMDS_FRAME_MAX)
		return 0;
	if (net->arp_due)
		len = write_arp_reply(net, buf);
	else if (mmds_tcp_next(&net->tcp, &seg, now_ms))
		len = write_segment(net, buf, &seg);
	else
		return 0;
	net->stats.tx_frames++;
	MMDS_COUNT(net->tcp.store, tx_frames, 1);
	MMDS_COUNT(net->tcp.store, tx_bytes, len);
	return len;
}

bool mmds_net_tick(struct mmds_net *net, uint64_t now_ms)
{
	return mmds_tcp_tick(&net->tcp, now_ms);
}
