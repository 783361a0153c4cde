#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "util/host_port.h"

static void names_ipv4_and_bracketed_ipv6_split(void **state)
{
	struct tern_error err;
	char host[64];
	unsigned port;
	int bracketed;

	assert_int_equal(host_port_split("127.0.0.1:16514", "-c", host,
					 sizeof(host), &port, &bracketed, &err),
			 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 16514);
	assert_false(bracketed);
	assert_int_equal(host_port_split("[::1]:1", "-c", host, sizeof(host),
					 &port, &bracketed, &err),
			 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 1);
	assert_true(bracketed);
	assert_int_equal(host_port_split("ternd.example:65535", "-c", host,
					 sizeof(host), &port, &bracketed, &err),
			 0);
	assert_string_equal(host, "ternd.example");
	assert_int_equal(port, 65535);
}

static void bad_text_is_refused_with_the_reason(void **state)
{
	static const struct {
		const char *text, *why;
	} cases[] = {
		{"", "no port"},
		{"host", "no port"},
		{"host:", "no port"},
		{":80", "no host"},
		{"[]:80", "no host"},
		{"::1:80", "brackets"},
		{"[::1]", "no ':PORT'"},
		{"[::1]80", "no ':PORT'"},
		{"[::1:80", "no ']'"},
		{"host:0", "not 1 to 65535"},
		{"host:65536", "not 1 to 65535"},
		{"host:-1", "no port"},
		{"host:+80", "no port"},
		{"host:80x", "not 1 to 65535"},
		{"host:99999999999999999999", "not 1 to 65535"},
	};
	struct tern_error err;
	char host[64];
	unsigned port;
	int bracketed;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(host_port_split(cases[i].text, "--listen",
						 host, sizeof(host), &port,
						 &bracketed, &err),
				 -EINVAL);
		if (!strstr(err.message, cases[i].why) ||
		    !strstr(err.message, "--listen"))
			fail_msg("'%s': '%s'", cases[i].text, err.message);
	}
}

static void a_host_longer_than_the_buffer_is_refused(void **state)
{
	struct tern_error err;
	char host[8];
	unsigned port;
	int bracketed;

	assert_int_equal(host_port_split("1234567:80", "-c", host, sizeof(host),
					 &port, &bracketed, &err),
			 0);
	assert_int_equal(host_port_split("12345678:80", "-c", host,
					 sizeof(host), &port, &bracketed, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "too long"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_ipv4_and_bracketed_ipv6_split),
		cmocka_unit_test(bad_text_is_refused_with_the_reason),
		cmocka_unit_test(a_host_longer_than_the_buffer_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
