/* The words of a ternd-to-ternd migration (ternd/migration_address.h) and
 * the bodies of its two requests (ternd/vm_migration.h), which come from
 * a client and are checked before anything is done. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "ternctl/ternctl_migrate.h"
#include "ternd/migration_address.h"
#include "ternd/vm_migration.h"

#define PSK "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef"

static void the_destination_s_host_is_the_default_listen_address(void **state)
{
	struct tern_error err;
	char host[64];

	assert_int_equal(migration_dest_host("tls://10.0.0.2:16514", host,
					     sizeof(host), &err),
			 0);
	assert_string_equal(host, "10.0.0.2");
	assert_int_equal(migration_dest_host("https://[fd00::2]:16514/", host,
					     sizeof(host), &err),
			 0);
	assert_string_equal(host, "fd00::2");
	assert_int_equal(migration_dest_host("/run/ternd.sock", host,
					     sizeof(host), &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "--listen-address"));
	assert_int_equal(
		migration_dest_host("tls://10.0.0.2", host, sizeof(host), &err),
		-EINVAL);
	assert_int_equal(
		migration_dest_host("tls://:1", host, sizeof(host), &err),
		-EINVAL);
}

static void only_address_literals_are_hosts(void **state)
{
	struct tern_error err;

	assert_int_equal(migration_host_check("192.0.2.1", "x", &err), 0);
	assert_int_equal(migration_host_check("::1", "x", &err), 0);
	assert_int_equal(migration_host_check("dst.example", "--listen", &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "--listen 'dst.example'"));
	assert_int_equal(migration_host_check("", "x", &err), -EINVAL);
	assert_int_equal(migration_host_check("10.0.0.1:80", "x", &err),
			 -EINVAL);
}

static void tcp_addresses_bracket_ipv6(void **state)
{
	struct tern_error err;
	char buf[64], small[12];

	assert_int_equal(
		migration_tcp_address("10.0.0.2", 4444, buf, sizeof(buf), &err),
		0);
	assert_string_equal(buf, "tcp:10.0.0.2:4444");
	assert_int_equal(
		migration_tcp_address("fd00::2", 1, buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "tcp:[fd00::2]:1");
	assert_int_equal(
		migration_tcp_address("10.0.0.2", 0, buf, sizeof(buf), &err),
		-EINVAL);
	assert_int_equal(migration_tcp_address("10.0.0.2", 65536, buf,
					       sizeof(buf), &err),
			 -EINVAL);
	assert_int_equal(migration_tcp_address("10.0.0.2", 4444, small,
					       sizeof(small), &err),
			 -EINVAL);
}

static void keys_are_64_hex_digits(void **state)
{
	unsigned char bytes[MIGRATION_PSK_BYTES];
	char hex[MIGRATION_PSK_HEX];
	struct tern_error err;

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 37 + 5);
	migration_psk_format(bytes, hex);
	assert_int_equal(strlen(hex), 64);
	assert_memory_equal(hex, "052a4f74", 8);
	assert_int_equal(migration_psk_check(hex, &err), 0);
	assert_int_equal(migration_psk_check(PSK, &err), 0);
	assert_int_equal(migration_psk_check(PSK "0", &err), -EINVAL);
	assert_int_equal(migration_psk_check("abcd", &err), -EINVAL);
	hex[10] = 'g';
	assert_int_equal(migration_psk_check(hex, &err), -EINVAL);
	assert_int_equal(migration_psk_check("", &err), -EINVAL);
}

static void an_incoming_request_is_checked_field_by_field(void **state)
{
	static const struct {
		const char *body, *words;
	} bad[] = {
		{"", "not a JSON object"},
		{"[1]", "not a JSON object"},
		{"{\"psk\": \"" PSK "\", \"listen_address\": \"10.0.0.2\"}",
		 "definition"},
		{"{\"definition\": 1, \"psk\": \"" PSK
		 "\", \"listen_address\": \"10.0.0.2\"}",
		 "definition"},
		{"{\"definition\": {}, \"listen_address\": \"10.0.0.2\"}",
		 "psk"},
		{"{\"definition\": {}, \"psk\": \"ab\", \"listen_address\": "
		 "\"10.0.0.2\"}",
		 "hex digits"},
		{"{\"definition\": {}, \"psk\": \"" PSK "\"}",
		 "listen_address"},
		{"{\"definition\": {}, \"psk\": \"" PSK
		 "\", \"listen_address\": \"dst.example\"}",
		 "not an IPv4 or IPv6"},
		{"{\"definition\": {}, \"psk\": \"" PSK
		 "\", \"listen_address\": \"10.0.0.2\", \"port\": 65536}",
		 "port"},
		{"{\"definition\": {}, \"psk\": \"" PSK
		 "\", \"listen_address\": \"10.0.0.2\", \"port\": \"1\"}",
		 "port"},
		{"{\"definition\": {}, \"psk\": \"" PSK
		 "\", \"listen_address\": \"10.0.0.2\", \"evil\": 1}",
		 "unknown field \"evil\""},
	};
	struct vm_migration_incoming req;
	struct tern_error err;
	const char *good = "{\"definition\": {\"a\": 1}, \"psk\": \"" PSK
			   "\", \"listen_address\": \"::1\", \"port\": 4444}";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
			vm_migration_incoming_parse(
				bad[i].body, strlen(bad[i].body), &req, &err),
			-EINVAL);
		assert_null(req.definition);
		if (!strstr(err.message, bad[i].words))
			fail_msg("%s: '%s' lacks '%s'", bad[i].body,
				 err.message, bad[i].words);
	}
	assert_int_equal(
		vm_migration_incoming_parse(good, strlen(good), &req, &err), 0);
	assert_string_equal(req.definition, "{\"a\":1}");
	assert_string_equal(req.psk, PSK);
	assert_string_equal(req.listen_address, "::1");
	assert_int_equal(req.port, 4444);
	vm_migration_incoming_free(&req);
	assert_null(req.definition);
}

static void a_migrate_request_is_checked_field_by_field(void **state)
{
	static const struct {
		const char *body, *words;
	} bad[] = {
		{"{}", "destination"},
		{"{\"destination\": \"10.0.0.2:1\", \"psk\": \"" PSK "\"}",
		 "tcp:HOST:PORT"},
		{"{\"destination\": \"tcp:dst.example:1\", \"psk\": \"" PSK
		 "\"}",
		 "not an IPv4 or IPv6"},
		{"{\"destination\": \"tcp:10.0.0.2:1\"}", "psk"},
		{"{\"destination\": \"tcp:10.0.0.2:1\", \"psk\": \"" PSK
		 "\", \"undefine_source\": 1}",
		 "undefine_source"},
		{"{\"destination\": \"tcp:10.0.0.2:1\", \"psk\": \"" PSK
		 "\", \"check\": true}",
		 "alone"},
		{"{\"destination\": \"tcp:10.0.0.2:1\", \"psk\": \"" PSK
		 "\", \"x\": 1}",
		 "unknown field"},
	};
	struct vm_migration_outgoing req;
	struct tern_error err;
	const char *good = "{\"destination\": \"tcp:[fd00::2]:4444\", \"psk\": "
			   "\"" PSK "\", \"undefine_source\": true}";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
			vm_migration_outgoing_parse(
				bad[i].body, strlen(bad[i].body), &req, &err),
			-EINVAL);
		if (!strstr(err.message, bad[i].words))
			fail_msg("%s: '%s' lacks '%s'", bad[i].body,
				 err.message, bad[i].words);
	}
	assert_int_equal(
		vm_migration_outgoing_parse(good, strlen(good), &req, &err), 0);
	assert_string_equal(req.destination, "tcp:[fd00::2]:4444");
	assert_true(req.undefine_source);
	assert_false(req.check_only);
	assert_int_equal(vm_migration_outgoing_parse("{\"check\": true}", 15,
						     &req, &err),
			 0);
	assert_true(req.check_only);
}

static void ternctl_numbers_are_whole_and_in_range(void **state)
{
	long n;

	assert_int_equal(ternctl_migrate_number("4444", 1, 65535, &n), 0);
	assert_int_equal(n, 4444);
	assert_int_equal(ternctl_migrate_number("0", 1, 65535, &n), -1);
	assert_int_equal(ternctl_migrate_number("65536", 1, 65535, &n), -1);
	assert_int_equal(ternctl_migrate_number("-1", 1, 65535, &n), -1);
	assert_int_equal(ternctl_migrate_number("10s", 1, 86400, &n), -1);
	assert_int_equal(ternctl_migrate_number("", 1, 86400, &n), -1);
	assert_int_equal(ternctl_migrate_number(NULL, 1, 86400, &n), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			the_destination_s_host_is_the_default_listen_address),
		cmocka_unit_test(only_address_literals_are_hosts),
		cmocka_unit_test(tcp_addresses_bracket_ipv6),
		cmocka_unit_test(keys_are_64_hex_digits),
		cmocka_unit_test(an_incoming_request_is_checked_field_by_field),
		cmocka_unit_test(a_migrate_request_is_checked_field_by_field),
		cmocka_unit_test(ternctl_numbers_are_whole_and_in_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
