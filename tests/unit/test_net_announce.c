/* The RARP announcement a moved guest's interface sends (RFC 903 layout). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "virtio/virtio_net_announce.h"

static void frame_is_a_broadcast_rarp_from_the_mac(void **state)
{
	const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	const uint8_t expected[42] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* to everyone */
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56, /* from the guest */
		0x80, 0x35, /* RARP */
		0x00, 0x01, 0x08, 0x00, 6,    4,    0x00, 0x03, /* reverse
								 request */
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0,	  0,	0, 0,
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0,	  0,	0, 0,
	};
	uint8_t frame[NET_ANNOUNCE_FRAME_SIZE];

	memset(frame, 0xaa, sizeof(frame));
	net_announce_frame(frame, mac);
	assert_memory_equal(frame, expected, sizeof(expected));
	/* Padded with zeros to Ethernet's minimum. */
	for (size_t i = sizeof(expected); i < sizeof(frame); i++)
		assert_int_equal(frame[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frame_is_a_broadcast_rarp_from_the_mac),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
