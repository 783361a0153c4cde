/* What ternd accepts as a network (src/ternd/network_definition.c), the
 * names and addresses it derives, and "network" in a VM definition's
 * interfaces (src/ternd/vm_definition.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ternd/net_nat.h"
#include "ternd/network_definition.h"
#include "ternd/vm_definition.h"

static int define(const char *name, const char *body, struct network_def *def,
		  struct tern_error *err)
{
	json_t *doc = json_loads(body, 0, NULL);
	int ret = network_def_from_json(name, doc, def, err);

	json_decref(doc);
	return ret;
}

static void subnets(void **state)
{
	struct tern_error err;
	uint32_t subnet;
	int prefix;

	(void)state;
	assert_int_equal(network_subnet_parse("192.168.122.0/24", &subnet,
					      &prefix, &err),
			 0);
	assert_int_equal(subnet, 0xc0a87a00);
	assert_int_equal(prefix, 24);
	assert_int_equal(
		network_subnet_parse("10.0.0.0/8", &subnet, &prefix, &err), 0);
	static const char *const bad[] = {
		"192.168.122.1/24", "10.0.0.0/31",  "10.0.0.0/7",
		"10.0.0/24",	    "10.0.0.0",	    "256.0.0.0/8",
		"010.0.0.0/8",	    "10.0.0.0/24x", "",
		"10.0.0.0/",	    "1.2.3.4.5/24", " 10.0.0.0/24",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
			network_subnet_parse(bad[i], &subnet, &prefix, &err),
			-EINVAL);
}

static void addresses(void **state)
{
	struct network_def def;
	struct tern_error err;
	uint32_t first, last;
	char text[24];

	(void)state;
	assert_int_equal(define("default",
				"{\"bridge\": \"virbr0\", \"subnet\": "
				"\"192.168.122.0/24\", \"nat\": true, "
				"\"dhcp\": true}",
				&def, &err),
			 0);
	assert_int_equal(def.kind, NETWORK_MANAGED);
	assert_true(def.nat && def.dhcp);
	network_ip_text(network_gateway(&def), text, sizeof(text));
	assert_string_equal(text, "192.168.122.1");
	network_dhcp_range(&def, &first, &last);
	network_ip_text(first, text, sizeof(text));
	assert_string_equal(text, "192.168.122.2");
	network_ip_text(last, text, sizeof(text));
	assert_string_equal(text, "192.168.122.254");
	network_ip_text(network_netmask(&def), text, sizeof(text));
	assert_string_equal(text, "255.255.255.0");
	network_subnet_text(&def, text, sizeof(text));
	assert_string_equal(text, "192.168.122.0/24");
}

static void kinds_and_refusals(void **state)
{
	struct network_def def;
	struct tern_error err;

	(void)state;
	assert_int_equal(define("lan", "{\"bridge\": \"br0\"}", &def, &err), 0);
	assert_int_equal(def.kind, NETWORK_BRIDGE);
	static const char *const bad[] = {
		"{\"bridge\": \"br0\", \"nat\": true}",
		"{\"bridge\": \"br0\", \"kind\": \"managed\"}",
		"{\"bridge\": \"br0\", \"subnet\": \"10.0.0.0/24\", \"kind\": "
		"\"bridge\"}",
		"{\"bridge\": \"br0\", \"kind\": \"nat\"}",
		"{\"subnet\": \"10.0.0.0/24\"}",
		"{\"bridge\": \"\"}",
		"{\"bridge\": \"a/b\"}",
		"{\"bridge\": \"0123456789abcdef\"}",
		"{\"bridge\": \"br0\", \"vlan\": 3}",
		"{\"bridge\": 7}",
		"{\"bridge\": \"br0\", \"nat\": \"yes\"}",
		"[]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(define("n", bad[i], &def, &err), -EINVAL);
	assert_int_equal(define("../x", "{\"bridge\": \"br0\"}", &def, &err),
			 -EINVAL);
}

static void derived_names(void **state)
{
	char tap[IFNAMSIZ], other[IFNAMSIZ], mac[18];
	uint8_t a[6], b[6];
	char long_name[65];

	(void)state;
	memset(long_name, 'x', 64);
	long_name[64] = '\0';
	network_tap_name(long_name, 7, tap);
	assert_true(strlen(tap) < IFNAMSIZ);
	assert_int_equal(strncmp(tap, "tn", 2), 0);
	network_tap_name("web", 0, tap);
	network_tap_name("web", 0, other);
	assert_string_equal(tap, other);
	network_tap_name("web", 1, other);
	assert_string_not_equal(tap, other);
	network_tap_name("db", 0, other);
	assert_string_not_equal(tap, other);
	network_vm_mac("web", 0, a);
	network_vm_mac("web", 0, b);
	assert_memory_equal(a, b, 6);
	network_vm_mac("web", 1, b);
	assert_memory_not_equal(a, b, 6);
	network_mac_text(a, mac, sizeof(mac));
	assert_int_equal(strncmp(mac, "52:54:00:", 9), 0);
	/* Unicast and locally administered. */
	assert_int_equal(a[0] & 1, 0);
	assert_int_equal(a[0] & 2, 2);
}

static void nat_script(void **state)
{
	struct network_def def = {.name = "default",
				  .kind = NETWORK_MANAGED,
				  .bridge = "br0",
				  .subnet = 0x0a000000,
				  .prefix = 24,
				  .nat = 1};
	char script[1024];

	(void)state;
	assert_int_equal(net_nat_script(&def, 0, script, sizeof(script)), 0);
	assert_non_null(strstr(script, "delete table ip ternd-default\n"));
	assert_non_null(strstr(script,
			       "ip saddr 10.0.0.0/24 ip daddr != "
			       "10.0.0.0/24 masquerade"));
	assert_int_equal(net_nat_script(&def, 1, script, sizeof(script)), 0);
	assert_null(strstr(script, "masquerade"));
	assert_int_equal(net_nat_script(&def, 0, script, 40), -ENAMETOOLONG);
}

static void interfaces_name_networks(void **state)
{
	struct vm_network_refs refs;
	struct tern_error err;
	json_t *doc = json_loads(
		"{\"network-interfaces\": ["
		"{\"iface_id\": \"a\", \"network\": \"default\"},"
		"{\"iface_id\": \"b\", \"host_dev_name\": \"tap9\"},"
		"{\"iface_id\": \"c\", \"network\": \"lan\", \"guest_mac\": "
		"\"02:00:00:00:00:01\"}]}",
		0, NULL);
	json_t *ifaces = json_object_get(doc, "network-interfaces");
	char tap[IFNAMSIZ];

	(void)state;
	assert_int_equal(
		vm_definition_resolve_networks(doc, "web", &refs, &err), 0);
	assert_int_equal(refs.count, 2);
	assert_string_equal(refs.names[0], "default");
	assert_string_equal(refs.names[1], "lan");
	network_tap_name("web", 0, tap);
	assert_string_equal(refs.taps[0], tap);
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(ifaces, 0),
						  "host_dev_name")),
		tap);
	assert_null(json_object_get(json_array_get(ifaces, 0), "network"));
	assert_string_equal(refs.macs[1], "02:00:00:00:00:01");
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(ifaces, 1),
						  "host_dev_name")),
		"tap9");
	json_decref(doc);

	static const char *const bad[] = {
		"{\"network-interfaces\": [{\"iface_id\": \"a\", \"network\": "
		"\"x\", \"host_dev_name\": \"t\"}]}",
		"{\"network-interfaces\": [{\"iface_id\": \"a\", \"network\": "
		"3}]}",
		"{\"network-interfaces\": [{\"iface_id\": \"a\", \"network\": "
		"\"../x\"}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		doc = json_loads(bad[i], 0, NULL);
		assert_int_equal(
			vm_definition_resolve_networks(doc, "web", &refs, &err),
			-EINVAL);
		json_decref(doc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(subnets),
		cmocka_unit_test(addresses),
		cmocka_unit_test(kinds_and_refusals),
		cmocka_unit_test(derived_names),
		cmocka_unit_test(nat_script),
		cmocka_unit_test(interfaces_name_networks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
