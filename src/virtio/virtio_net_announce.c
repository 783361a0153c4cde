#include "virtio/virtio_net_announce.h"

#include <string.h>

#define ETHERTYPE_RARP 0x8035
#define ARP_HTYPE_ETHERNET 1
#define ARP_PTYPE_IPV4 0x0800
#define RARP_OP_REQUEST_REVERSE 3

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void net_announce_frame(uint8_t buf[NET_ANNOUNCE_FRAME_SIZE],
			const uint8_t mac[6])
{
	uint8_t *arp = buf + 14;

	memset(buf, 0, NET_ANNOUNCE_FRAME_SIZE);
	memset(buf, 0xff, 6); /* broadcast: every port hears the source */
	memcpy(buf + 6, mac, 6);
	put_be16(buf + 12, ETHERTYPE_RARP);
	put_be16(arp, ARP_HTYPE_ETHERNET);
	put_be16(arp + 2, ARP_PTYPE_IPV4);
	arp[4] = 6; /* hardware address length */
	arp[5] = 4; /* protocol address length */
	put_be16(arp + 6, RARP_OP_REQUEST_REVERSE);
	/* "Who am I?" about itself: sender and target hardware address are
	 * the guest's, both protocol addresses unknown (zero). */
	memcpy(arp + 8, mac, 6);
	memcpy(arp + 18, mac, 6);
}
