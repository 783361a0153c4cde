/* The metrics registry: sources registered by anyone render as valid
 * Prometheus text (one HELP/TYPE per family, escaped labels) and as one
 * JSON object per flush. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

static void write_device(void *opaque, struct metrics_out *out)
{
	uint64_t *requests = opaque;

	metrics_family(out, "tern_dev_requests_total", METRICS_COUNTER,
		       "Requests served.");
	metrics_sample(out, "tern_dev_requests_total", (double)*requests,
		       "queue", "0", "path", "a\"b\\c", NULL);
	metrics_family(out, "tern_dev_ratio", METRICS_GAUGE, "A ratio.");
	metrics_sample(out, "tern_dev_ratio", 0.25, NULL);
}

static void prometheus_text_has_help_type_and_escaped_labels(void **state)
{
	struct metrics_registry reg;
	uint64_t requests = 42;
	char *text;

	metrics_registry_init(&reg);
	assert_int_equal(
		metrics_register(&reg, "dev0", write_device, &requests, NULL),
		0);
	text = metrics_render_prometheus(&reg);
	assert_non_null(text);
	assert_string_equal(
		text,
		"# HELP tern_dev_requests_total Requests served.\n"
		"# TYPE tern_dev_requests_total counter\n"
		"tern_dev_requests_total{queue=\"0\",path=\"a\\\"b\\\\c\"}"
		" 42\n"
		"# HELP tern_dev_ratio A ratio.\n"
		"# TYPE tern_dev_ratio gauge\n"
		"tern_dev_ratio 0.25\n");
	free(text);
	metrics_unregister(&reg, &requests);
	text = metrics_render_prometheus(&reg);
	assert_string_equal(text, "");
	free(text);
	metrics_registry_destroy(&reg);
}

static void json_groups_each_source(void **state)
{
	struct metrics_registry reg;
	uint64_t requests = 7;
	json_t *doc, *group, *list;

	metrics_registry_init(&reg);
	metrics_register(&reg, "dev0", write_device, &requests, NULL);
	doc = metrics_render_json(&reg);
	assert_true(json_is_integer(json_object_get(doc, "utc_timestamp_ms")));
	group = json_object_get(doc, "dev0");
	assert_non_null(group);
	list = json_object_get(group, "tern_dev_requests_total");
	assert_int_equal(json_array_size(list), 1);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(list, 0), "value")),
			 7);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 0), "queue")),
			    "0");
	assert_true(json_real_value(json_object_get(group, "tern_dev_ratio")) ==
		    0.25);
	json_decref(doc);
	metrics_registry_destroy(&reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			prometheus_text_has_help_type_and_escaped_labels),
		cmocka_unit_test(json_groups_each_source),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
