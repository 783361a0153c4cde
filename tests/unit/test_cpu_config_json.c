#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/cpu_config_json.h"
#include "cpu/cpu_modifiers.h"

static void bitmap_full_width(void **state)
{
	uint64_t mask, value;

	assert_int_equal(cpu_bitmap_parse("0bxxxx000000000011xx00011011110010",
					  32, &mask, &value),
			 0);
	assert_int_equal(mask, 0x0fff3fff);
	assert_int_equal(value, 0x000306f2);
}

static void bitmap_short_separators_and_no_prefix(void **state)
{
	uint64_t mask, value;

	/* A short bitmap leaves the high bits alone ('x'). */
	assert_int_equal(cpu_bitmap_parse("0b1_0x1", 32, &mask, &value), 0);
	assert_int_equal(mask, 0xd);
	assert_int_equal(value, 0x9);
	assert_int_equal(cpu_bitmap_parse("10", 64, &mask, &value), 0);
	assert_int_equal(mask, 0x3);
	assert_int_equal(value, 0x2);
	/* 64 characters plus separators fit a 64-bit MSR. */
	assert_int_equal(
		cpu_bitmap_parse("0b1000000000000000_00000000000000000000"
				 "00000000000000000000000000x1",
				 64, &mask, &value),
		0);
	assert_int_equal(mask, ~0ull & ~2ull);
	assert_int_equal(value, (1ull << 63) | 1);
}

static void bitmap_refusals(void **state)
{
	uint64_t mask, value;

	assert_int_equal(cpu_bitmap_parse("0b", 32, &mask, &value), -EINVAL);
	assert_int_equal(cpu_bitmap_parse("0b___", 32, &mask, &value), -EINVAL);
	assert_int_equal(cpu_bitmap_parse("0b012", 32, &mask, &value), -EINVAL);
	assert_int_equal(cpu_bitmap_parse("0bX", 32, &mask, &value), -EINVAL);
	assert_int_equal(cpu_bitmap_parse("0b1 0", 32, &mask, &value), -EINVAL);
	/* 33 characters for a 32-bit register. */
	assert_int_equal(cpu_bitmap_parse("0b100000000000000000000000000000000",
					  32, &mask, &value),
			 -EINVAL);
	assert_int_equal(cpu_bitmap_parse(NULL, 32, &mask, &value), -EINVAL);
}

static void bitmap_format_and_apply(void **state)
{
	char text[67];

	cpu_bitmap_format(0xd, 0x9, 8, text);
	assert_string_equal(text, "0bxxxx10x1");
	/* Cleared, set and kept bits. */
	assert_int_equal(cpu_bitmap_apply(0xf6, 0xb, 0x9), 0xfd);
	assert_int_equal(cpu_bitmap_apply(0xff, 0x0f, 0x00), 0xf0);
	/* Value bits outside the mask change nothing. */
	assert_int_equal(cpu_bitmap_apply(0x00, 0x01, 0xff), 0x01);
}

static struct cpu_custom_template *parse_ok(const char *text)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr);
	struct cpu_custom_template *t = NULL;
	struct tern_error err = {{0}};

	assert_non_null(doc);
	if (cpu_config_json_parse(doc, "cpu-config", &t, &err))
		fail_msg("refused: %s", err.message);
	json_decref(doc);
	return t;
}

static void expect_refused(const char *text, const char *words)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr);
	struct cpu_custom_template *t = NULL;
	struct tern_error err = {{0}};

	assert_non_null(doc);
	assert_true(cpu_config_json_parse(doc, "cpu-config", &t, &err) < 0);
	assert_null(t);
	if (!strstr(err.message, words))
		fail_msg("'%s' lacks '%s'", err.message, words);
	json_decref(doc);
}

static const char *const firecracker_example =
	"{\"kvm_capabilities\": [\"!56\", \"171\"],"
	" \"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\","
	"   \"flags\": 0, \"modifiers\": ["
	"     {\"register\": \"eax\","
	"      \"bitmap\": \"0bxxxx000000000011xx00011011110010\"},"
	"     {\"register\": \"ecx\", \"bitmap\": \"0b0\"}]},"
	"  {\"leaf\": \"7\", \"subleaf\": \"0b1\", \"flags\": 1,"
	"   \"modifiers\": [{\"register\": \"edx\", \"bitmap\": \"1x\"}]}],"
	" \"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": "
	"\"0b0000000000000000000000000000000000000000000000000000000000000000"
	"\"}]}";

static void parses_firecracker_example(void **state)
{
	struct cpu_custom_template *t = parse_ok(firecracker_example);
	const struct cpu_modifiers *m = &t->mods;

	assert_int_equal(m->cap_count, 2);
	assert_int_equal(m->caps[0].cap, 56);
	assert_true(m->caps[0].removed);
	assert_int_equal(m->caps[1].cap, 171);
	assert_false(m->caps[1].removed);
	assert_int_equal(m->cpuid_count, 3);
	assert_int_equal(m->cpuid[0].leaf, 1);
	assert_int_equal(m->cpuid[0].reg, CPUID_EAX);
	assert_int_equal(m->cpuid[0].mask, 0x0fff3fff);
	assert_int_equal(m->cpuid[0].value, 0x000306f2);
	assert_int_equal(m->cpuid[1].reg, CPUID_ECX);
	assert_int_equal(m->cpuid[1].mask, 1);
	assert_int_equal(m->cpuid[2].leaf, 7);
	assert_int_equal(m->cpuid[2].subleaf, 1);
	assert_int_equal(m->cpuid[2].flags, 1);
	assert_int_equal(m->cpuid[2].mask, 2);
	assert_int_equal(m->cpuid[2].value, 2);
	assert_int_equal(m->msr_count, 1);
	assert_int_equal(m->msrs[0].addr, 0x10a);
	assert_int_equal(m->msrs[0].mask, ~0ull);
	assert_int_equal(m->msrs[0].value, 0);
	free(t);
}

static void export_round_trips(void **state)
{
	struct cpu_custom_template *t = parse_ok(firecracker_example), *again;
	json_t *doc = cpu_config_json_export(t);
	char *text = json_dumps(doc, JSON_COMPACT);
	const json_t *leaf;

	assert_non_null(text);
	/* Two leaves, their register modifiers grouped as they came. */
	assert_int_equal(
		json_array_size(json_object_get(doc, "cpuid_modifiers")), 2);
	leaf = json_array_get(json_object_get(doc, "cpuid_modifiers"), 1);
	assert_string_equal(json_string_value(json_object_get(leaf, "leaf")),
			    "0x7");
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(leaf, "modifiers"), 0),
			"bitmap")),
		"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx1x");
	again = parse_ok(text);
	assert_memory_equal(again->cpuid, t->cpuid,
			    3 * sizeof(struct cpuid_modifier));
	assert_memory_equal(again->msrs, t->msrs, sizeof(struct msr_modifier));
	assert_memory_equal(again->caps, t->caps,
			    2 * sizeof(struct kvm_cap_modifier));
	free(text);
	json_decref(doc);
	free(t);
	free(again);
}

static void empty_lists_give_no_template(void **state)
{
	json_t *doc = json_loads("{\"cpuid_modifiers\": [], \"msr_modifiers\":"
				 " null}",
				 0, NULL);
	struct cpu_custom_template *t = (void *)1;
	struct tern_error err;

	assert_int_equal(cpu_config_json_parse(doc, "cpu-config", &t, &err), 0);
	assert_null(t);
	json_decref(doc);
}

static void hostile_input_is_refused_by_field(void **state)
{
	expect_refused("{\"kvm_capabilities\": [\"x171\"]}",
		       "cpu-config.kvm_capabilities[0] 'x171'");
	expect_refused("{\"kvm_capabilities\": [\"!\"]}",
		       "kvm_capabilities[0]");
	expect_refused("{\"kvm_capabilities\": [\"-1\"]}",
		       "kvm_capabilities[0]");
	expect_refused("{\"kvm_capabilities\": [\"99999999999\"]}",
		       "kvm_capabilities[0]");
	expect_refused("{\"kvm_capabilities\": [171]}",
		       "kvm_capabilities[0]: expected a string");
	expect_refused("{\"kvm_capabilities\": {}}",
		       "cpu-config.kvm_capabilities: expected a JSON array");
	expect_refused("{\"cpuid_modifiers\": [{\"leaf\": \"0x1\"}]}",
		       "cpu-config.cpuid_modifiers[0].subleaf: required");
	expect_refused("{\"cpuid_modifiers\": [{\"leaf\": \"0x1g\", "
		       "\"subleaf\": \"0\", \"flags\": 0, \"modifiers\": []}]}",
		       "cpuid_modifiers[0].leaf '0x1g'");
	expect_refused("{\"cpuid_modifiers\": [{\"leaf\": \"0x100000000\", "
		       "\"subleaf\": \"0\", \"flags\": 0, \"modifiers\": []}]}",
		       "32-bit number");
	expect_refused("{\"cpuid_modifiers\": [{\"leaf\": \" 1\", "
		       "\"subleaf\": \"0\", \"flags\": 0, \"modifiers\": []}]}",
		       "cpuid_modifiers[0].leaf");
	expect_refused("{\"cpuid_modifiers\": [{\"leaf\": \"1\", "
		       "\"subleaf\": \"0\", \"flags\": 8, \"modifiers\": []}]}",
		       "cpuid_modifiers[0].flags: 8 is above the maximum 7");
	expect_refused("{\"cpuid_modifiers\": [{\"leaf\": \"1\", "
		       "\"subleaf\": \"0\", \"flags\": 0, \"modifiers\": "
		       "[{\"register\": \"rax\", \"bitmap\": \"0b1\"}]}]}",
		       "cpuid_modifiers[0].modifiers[0].register 'rax'");
	expect_refused("{\"cpuid_modifiers\": [{\"leaf\": \"1\", "
		       "\"subleaf\": \"0\", \"flags\": 0, \"modifiers\": "
		       "[{\"register\": \"eax\", \"bitmap\": \"0b2\"}]}]}",
		       "cpuid_modifiers[0].modifiers[0].bitmap '0b2'");
	expect_refused("{\"cpuid_modifiers\": [{\"leaf\": \"1\", "
		       "\"subleaf\": \"0\", \"flags\": 0, \"modifiers\": "
		       "[{\"register\": \"eax\", \"bitmap\": \"0b1\", "
		       "\"extra\": 1}]}]}",
		       "unknown field 'extra'");
	expect_refused(
		"{\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": "
		"\"0b1000000000000000000000000000000000000000000000000000"
		"0000000000000\"}]}",
		"msr_modifiers[0].bitmap");
	expect_refused("{\"msr_modifiers\": [{\"bitmap\": \"0b1\"}]}",
		       "msr_modifiers[0].addr: required");
	expect_refused("{\"msr_modifiers\": [\"0x10a\"]}",
		       "msr_modifiers[0]: expected a JSON object");
}

/* More register modifiers than a template holds: refused, not truncated. */
static void too_many_modifiers_are_refused(void **state)
{
	json_t *doc = json_object();
	json_t *leaves = json_array();
	struct cpu_custom_template *t = NULL;
	struct tern_error err;

	for (int i = 0; i <= CPU_CUSTOM_MAX_CPUID / 4; i++) {
		json_t *regs = json_array();

		for (int r = 0; r < 4; r++)
			json_array_append_new(regs,
					      json_pack("{s:s, s:s}",
							"register", "eax",
							"bitmap", "0b1"));
		json_array_append_new(leaves,
				      json_pack("{s:s, s:s, s:i, s:o}", "leaf",
						"0x1", "subleaf", "0x0",
						"flags", 0, "modifiers", regs));
	}
	json_object_set_new(doc, "cpuid_modifiers", leaves);
	assert_int_equal(cpu_config_json_parse(doc, "cpu-config", &t, &err),
			 -E2BIG);
	assert_null(t);
	assert_non_null(strstr(err.message, "more than 1024"));
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bitmap_full_width),
		cmocka_unit_test(bitmap_short_separators_and_no_prefix),
		cmocka_unit_test(bitmap_refusals),
		cmocka_unit_test(bitmap_format_and_apply),
		cmocka_unit_test(parses_firecracker_example),
		cmocka_unit_test(export_round_trips),
		cmocka_unit_test(empty_lists_give_no_template),
		cmocka_unit_test(hostile_input_is_refused_by_field),
		cmocka_unit_test(too_many_modifiers_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
