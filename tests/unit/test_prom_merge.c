/* ternd's merge of many sources' Prometheus text into one document
 * (src/ternd/prom_merge.c) and its --metrics-listen address
 * (src/ternd/metrics_listen.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ternd/metrics_listen.h"
#include "ternd/prom_merge.h"

static const char vm_text[] =
	"# HELP tern_vm_running 1 while running\n"
	"# TYPE tern_vm_running gauge\n"
	"tern_vm_running 1\n"
	"# HELP tern_vcpu_exits_total KVM exits\n"
	"# TYPE tern_vcpu_exits_total counter\n"
	"tern_vcpu_exits_total{vcpu=\"0\",reason=\"io\"} 12\n"
	"tern_vcpu_exits_total{vcpu=\"0\",reason=\"hlt\"} 3\n"
	"# a comment\n"
	"\n"
	"# TYPE lat histogram\n"
	"lat_bucket{le=\"1\"} 2\n"
	"lat_bucket{le=\"+Inf\"} 3\n"
	"lat_sum 1.5e-3\n"
	"lat_count 3\n";

static int add(struct prom_merge *pm, const char *vm, const char *text)
{
	struct tern_error err;

	return prom_merge_add_text(pm, vm, text, strlen(text), &err);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void merges_families_once(void **state)
{
	struct prom_merge *pm = prom_merge_new();
	char *out;

	(void)state;
	assert_int_equal(
		prom_merge_family(pm, "ternd_vm_scrape_up", "gauge", "up"), 0);
	assert_int_equal(add(pm, "a", vm_text), 0);
	assert_int_equal(add(pm, "b\"\\\n", vm_text), 0);
	assert_int_equal(
		prom_merge_sample(pm, "ternd_vm_scrape_up", 1, "vm", "a", NULL),
		0);
	out = prom_merge_render(pm);
	assert_non_null(out);
	assert_int_equal(count(out, "# TYPE tern_vm_running gauge\n"), 1);
	assert_int_equal(count(out, "# HELP tern_vcpu_exits_total"), 1);
	assert_int_equal(count(out, "# TYPE lat histogram\n"), 1);
	assert_non_null(strstr(out,
			       "tern_vcpu_exits_total{vm=\"a\",vcpu="
			       "\"0\",reason=\"io\"} 12\n"));
	/* The name escaped; samples of both VMs after one TYPE. */
	assert_non_null(strstr(out,
			       "tern_vm_running{vm=\"a\"} 1\n"
			       "tern_vm_running{vm=\"b\\\"\\\\\\n\"} 1\n"));
	assert_non_null(strstr(out, "lat_sum{vm=\"a\"} 1.5e-3\n"));
	assert_non_null(strstr(out, "ternd_vm_scrape_up{vm=\"a\"} 1\n"));
	/* ternd's family first, as declared. */
	assert_ptr_equal(strstr(out, "# HELP ternd_vm_scrape_up up\n"), out);
	free(out);
	prom_merge_free(pm);
}

static void refuses_hostile_text_whole(void **state)
{
	static const char *const bad[] = {
		"tern_x{vm=\"other\"} 1\n", /* forging another VM */
		"ternd_vms 5\n", /* ternd's own family */
		"# TYPE tern_vm_running counter\ntern_vm_running 1\n",
		"tern_x{a=\"1\",a=\"2\"} 1\n",
		"tern_x{a=\"\\q\"} 1\n",
		"tern_x{a=\"open} 1\n",
		"tern_x 1 2 3\n",
		"tern_x abc\n",
		"tern_x 0x10\n",
		"9tern 1\n",
		"tern_x{9a=\"1\"} 1\n",
		"# TYPE tern_y gauge\n# TYPE tern_y gauge\n",
		"tern_z 1\n# TYPE tern_z gauge\n",
		"# HELP tern_h a\\x\n",
		"# TYPE tern_t bogus\n",
		"tern_x\n",
	};
	struct prom_merge *pm = prom_merge_new();
	char *before, *after;

	(void)state;
	assert_int_equal(add(pm, "a", vm_text), 0);
	before = prom_merge_render(pm);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];

		/* Good lines first: those must not stay either. */
		snprintf(text, sizeof(text),
			 "tern_new 1\ntern_vm_running 1\n%s", bad[i]);
		if (add(pm, "b", text) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		after = prom_merge_render(pm);
		assert_string_equal(before, after);
		free(after);
	}
	{
		/* A NUL byte inside. */
		struct tern_error err;

		assert_int_equal(
			prom_merge_add_text(pm, "b", "x 1\0y 2\n", 8, &err),
			-EINVAL);
	}
	free(before);
	prom_merge_free(pm);
}

static void listen_addresses(void **state)
{
	struct sockaddr_storage addr;
	struct tern_error err;
	char shown[80];
	socklen_t len;

	(void)state;
	assert_int_equal(metrics_listen_parse("9700", &addr, &len, shown,
					      sizeof(shown), &err),
			 0);
	assert_string_equal(shown, "127.0.0.1:9700");
	assert_int_equal(metrics_listen_parse("0.0.0.0:1", &addr, &len, shown,
					      sizeof(shown), &err),
			 0);
	assert_string_equal(shown, "0.0.0.0:1");
	assert_int_equal(metrics_listen_parse("[::1]:9700", &addr, &len, shown,
					      sizeof(shown), &err),
			 0);
	assert_int_equal(addr.ss_family, AF_INET6);
	assert_string_equal(shown, "[::1]:9700");
	static const char *const bad[] = {
		"",	  "0",	     "65536",	 "x:80",
		"::1:80", "[::1]80", "1.2.3:80", "localhost:80",
		"80x",	  "[zz]:80", "1.2.3.4:"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(metrics_listen_parse(bad[i], &addr, &len,
						      shown, sizeof(shown),
						      &err),
				 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(merges_families_once),
		cmocka_unit_test(refuses_hostile_text_whole),
		cmocka_unit_test(listen_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
