#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/filter.h>
#include <string.h>

#include "sandbox/seccomp_filter_file.h"

/* A file as seccompiler-bin writes it, built here a field at a time. */
struct file {
	uint8_t bytes[4096];
	size_t len;
};

static void put_u64(struct file *f, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		f->bytes[f->len++] = (uint8_t)(v >> (8 * i));
}

static void put_filter(struct file *f, const char *name, uint64_t count,
		       uint32_t k)
{
	put_u64(f, strlen(name));
	memcpy(f->bytes + f->len, name, strlen(name));
	f->len += strlen(name);
	put_u64(f, count);
	for (uint64_t i = 0; i < count; i++) {
		/* BPF_RET | BPF_K, jt 1, jf 2, k */
		f->bytes[f->len++] = 0x06;
		f->bytes[f->len++] = 0x00;
		f->bytes[f->len++] = 1;
		f->bytes[f->len++] = 2;
		for (int b = 0; b < 4; b++)
			f->bytes[f->len++] = (uint8_t)(k >> (8 * b));
	}
}

static int parse(const struct file *f, struct seccomp_filter_file *out,
		 struct tern_error *err)
{
	return seccomp_filter_file_parse(f->bytes, f->len, out, err);
}

static void a_file_of_three_categories_reads_back(void **state)
{
	struct file f = {.len = 0};
	struct seccomp_filter_file out;
	struct tern_error err = {{0}};

	(void)state;
	put_u64(&f, 3);
	put_filter(&f, "vcpu", 2, 0x7fff0000);
	put_filter(&f, "api", 1, 0x80000000);
	put_filter(&f, "vmm", 0, 0);
	assert_int_equal(parse(&f, &out, &err), 0);
	assert_int_equal(out.programs[SECCOMP_FILTER_VCPU].len, 2);
	assert_int_equal(out.programs[SECCOMP_FILTER_VCPU].filter[1].code,
			 0x06);
	assert_int_equal(out.programs[SECCOMP_FILTER_VCPU].filter[1].jt, 1);
	assert_int_equal(out.programs[SECCOMP_FILTER_VCPU].filter[1].jf, 2);
	assert_int_equal(out.programs[SECCOMP_FILTER_VCPU].filter[1].k,
			 0x7fff0000);
	assert_int_equal(out.programs[SECCOMP_FILTER_API].len, 1);
	/* An empty list: no filter for that category. */
	assert_int_equal(out.programs[SECCOMP_FILTER_VMM].len, 0);
	assert_null(out.programs[SECCOMP_FILTER_VMM].filter);
	seccomp_filter_file_free(&out);
}

static void expect_refused(const struct file *f, const char *words)
{
	struct seccomp_filter_file out;
	struct tern_error err = {{0}};

	assert_int_not_equal(parse(f, &out, &err), 0);
	if (!strstr(err.message, words))
		fail_msg("'%s' does not say '%s'", err.message, words);
	for (int c = 0; c < SECCOMP_FILTER_CATEGORY_COUNT; c++)
		assert_null(out.programs[c].filter);
}

static void hostile_files_are_refused_by_name(void **state)
{
	struct file f;

	(void)state;
	f = (struct file){.len = 0};
	expect_refused(&f, "ends early");

	f = (struct file){.len = 0};
	put_u64(&f, 2);
	put_filter(&f, "vmm", 1, 0);
	put_filter(&f, "api", 1, 0);
	expect_refused(&f, "'vcpu' is missing");

	f = (struct file){.len = 0};
	put_u64(&f, 3);
	put_filter(&f, "vmm", 1, 0);
	put_filter(&f, "vmm", 1, 0);
	put_filter(&f, "api", 1, 0);
	expect_refused(&f, "'vmm' is there twice");

	f = (struct file){.len = 0};
	put_u64(&f, 1);
	put_filter(&f, "io", 1, 0);
	expect_refused(&f, "unknown thread category 'io'");

	f = (struct file){.len = 0};
	put_u64(&f, 1ULL << 40);
	expect_refused(&f, "thread categories");

	/* An instruction count far past the bytes that follow. */
	f = (struct file){.len = 0};
	put_u64(&f, 1);
	put_u64(&f, 3);
	memcpy(f.bytes + f.len, "api", 3);
	f.len += 3;
	put_u64(&f, 4000);
	expect_refused(&f, "ends early");

	f = (struct file){.len = 0};
	put_u64(&f, 1);
	put_u64(&f, 3);
	memcpy(f.bytes + f.len, "api", 3);
	f.len += 3;
	put_u64(&f, UINT64_MAX / 4);
	expect_refused(&f, "instructions");

	f = (struct file){.len = 0};
	put_u64(&f, 1);
	put_u64(&f, UINT64_MAX);
	expect_refused(&f, "bytes long");

	f = (struct file){.len = 0};
	put_u64(&f, 3);
	put_filter(&f, "vmm", 1, 0);
	put_filter(&f, "api", 1, 0);
	put_filter(&f, "vcpu", 1, 0);
	f.bytes[f.len++] = 0;
	expect_refused(&f, "1 bytes follow");
}

static void a_missing_file_is_named(void **state)
{
	struct seccomp_filter_file out;
	struct tern_error err = {{0}};

	(void)state;
	assert_int_not_equal(seccomp_filter_file_read(
				     "/nonexistent/filters.bpf", &out, &err),
			     0);
	assert_non_null(strstr(err.message, "/nonexistent/filters.bpf"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_file_of_three_categories_reads_back),
		cmocka_unit_test(hostile_files_are_refused_by_name),
		cmocka_unit_test(a_missing_file_is_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
