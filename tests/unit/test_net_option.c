/* --net parsing: keys, MAC syntax, and the derived default MAC. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "cli/net_option.h"

static void derived_mac_is_stable_unicast_and_local(void **state)
{
	struct tern_error err = {{0}};
	struct vm_config a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_int_equal(net_option_parse("tap=tap0", &a, &err), 0);
	assert_int_equal(net_option_parse("tap=tap1", &a, &err), 0);
	assert_int_equal(net_options_finish(&a, &err), 0);
	assert_int_equal(net_option_parse("tap=tap0", &b, &err), 0);
	assert_int_equal(net_options_finish(&b, &err), 0);

	assert_string_equal(a.nets[0].tap_name, "tap0");
	assert_memory_equal(a.nets[0].mac, b.nets[0].mac, 6);
	assert_memory_not_equal(a.nets[0].mac, a.nets[1].mac, 6);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(a.nets[i].mac[0], 0x52); /* local, unicast */
		assert_int_equal(a.nets[i].mac[1], 0x54);
		assert_int_equal(a.nets[i].mac[2], 0x00);
		assert_int_equal(a.nets[i].mac_given, 0);
	}
}

static void given_mac_is_kept_and_derived_ones_avoid_it(void **state)
{
	struct tern_error err = {{0}};
	struct vm_config c, probe;

	/* Find what tap0 would get, then give that MAC to another tap:
	 * tap0 must move away from it. */
	memset(&probe, 0, sizeof(probe));
	assert_int_equal(net_option_parse("tap=tap0", &probe, &err), 0);
	assert_int_equal(net_options_finish(&probe, &err), 0);

	memset(&c, 0, sizeof(c));
	assert_int_equal(net_option_parse("tap=tap0", &c, &err), 0);
	assert_int_equal(
		net_option_parse("tap=tapX,mac=52:54:00:00:00:00", &c, &err),
		0);
	memcpy(c.nets[1].mac, probe.nets[0].mac, 6);
	assert_int_equal(net_options_finish(&c, &err), 0);
	assert_memory_equal(c.nets[1].mac, probe.nets[0].mac, 6);
	assert_memory_not_equal(c.nets[0].mac, c.nets[1].mac, 6);
}

static void mac_syntax(void **state)
{
	uint8_t mac[6];

	assert_int_equal(net_parse_mac("52:54:00:Ab:cD:ef", mac), 0);
	assert_memory_equal(mac, ((uint8_t[]){0x52, 0x54, 0, 0xab, 0xcd, 0xef}),
			    6);
	assert_int_equal(net_parse_mac("", mac), -EINVAL);
	assert_int_equal(net_parse_mac("52:54", mac), -EINVAL);
	assert_int_equal(net_parse_mac("52:54:00:ab:cd:ef:", mac), -EINVAL);
	assert_int_equal(net_parse_mac("5:54:00:ab:cd:ef", mac), -EINVAL);
	assert_int_equal(net_parse_mac("ff:ff:ff:ff:ff:ff", mac), -EINVAL);
	assert_int_equal(net_parse_mac("00:00:00:00:00:00", mac), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(derived_mac_is_stable_unicast_and_local),
		cmocka_unit_test(given_mac_is_kept_and_derived_ones_avoid_it),
		cmocka_unit_test(mac_syntax),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
