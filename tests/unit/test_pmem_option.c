/* --pmem parsing: keys, defaults, and the checks it shares with the
 * document's and the API's pmem (config_add_pmem). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/disk_option.h"
#include "cli/pmem_option.h"

static char file[64];

static int make_file(void **state)
{
	int fd;

	snprintf(file, sizeof(file), "/tmp/tern-pmem-opt-XXXXXX");
	fd = mkstemp(file);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	return 0;
}

static int remove_file(void **state)
{
	unlink(file);
	return 0;
}

static int parse(struct vm_config *config, struct tern_error *err,
		 const char *fmt)
{
	char text[256];

	snprintf(text, sizeof(text), fmt, file);
	return pmem_option_parse(text, config, err);
}

static void keys_and_defaults(void **state)
{
	struct vm_config *c = calloc(1, sizeof(*c));
	struct tern_error err = {{0}};

	assert_int_equal(parse(c, &err, "path=%s"), 0);
	assert_int_equal(parse(c, &err, "path=%s,id=data,readonly,root"), 0);
	assert_int_equal(c->pmem_count, 2);
	assert_string_equal(c->pmems[0].id, "pmem0");
	assert_string_equal(c->pmems[0].path, file);
	assert_false(c->pmems[0].root || c->pmems[0].readonly);
	assert_string_equal(c->pmems[1].id, "data");
	assert_true(c->pmems[1].root && c->pmems[1].readonly);
	vm_config_release(c);
	free(c);
}

static void expect_refused(const char *fmt, const char *words)
{
	struct vm_config *c = calloc(1, sizeof(*c));
	struct tern_error err = {{0}};

	assert_int_equal(parse(c, &err, "path=%s,id=first,root"), 0);
	assert_int_equal(parse(c, &err, fmt), -EINVAL);
	if (!strstr(err.message, words))
		fail_msg("'%s' not in '%s'", words, err.message);
	assert_int_equal(c->pmem_count, 1);
	vm_config_release(c);
	free(c);
}

static void bad_values_are_refused_naming_the_reason(void **state)
{
	expect_refused("id=x", "path=FILE is required");
	expect_refused("path=/nonexistent/pmem", "No such file");
	expect_refused("path=%s,colour=red", "unknown key 'colour=red'");
	expect_refused("path=%s,,", "empty item");
	expect_refused("path=%s,id=first", "listed twice");
	expect_refused("path=%s,id=second,root", "root device already");
	expect_refused("path=%s,id=has space", "id=");
	expect_refused("path=%s,id=123456789012345678901", "1 to 20");
	expect_refused("path=%s,readonly=yes", "unknown key 'readonly=yes'");
	expect_refused("path=", "path= needs a file name");
}

static void at_most_four(void **state)
{
	struct vm_config *c = calloc(1, sizeof(*c));
	struct tern_error err = {{0}};

	for (int i = 0; i < VM_MAX_PMEM; i++)
		assert_int_equal(parse(c, &err, "path=%s"), 0);
	assert_int_equal(parse(c, &err, "path=%s"), -EINVAL);
	assert_non_null(strstr(err.message, "at most"));
	vm_config_release(c);
	free(c);
}

/* --disk shares the item splitting: its keys still parse. */
static void disk_items_still_parse(void **state)
{
	struct vm_config *c = calloc(1, sizeof(*c));
	struct tern_error err = {{0}};
	char text[256];

	snprintf(text, sizeof(text),
		 "path=%s,readonly,id=serial1,cache=none,engine=threads", file);
	assert_int_equal(disk_option_parse(text, c, &err), 0);
	assert_true(c->disks[0].readonly);
	assert_string_equal(c->disks[0].id, "serial1");
	assert_int_equal(c->disks[0].cache, BLOCK_CACHE_NONE);
	snprintf(text, sizeof(text), "path=%s,bogus", file);
	assert_int_equal(disk_option_parse(text, c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "unknown key 'bogus'"));
	vm_config_release(c);
	free(c);
}

/* A path is bounded (PATH_MAX - 1 bytes) and refused by name when longer,
 * for --pmem and --disk alike. */
static void over_long_paths_are_refused(void **state)
{
	static const char *const options[] = {"--pmem", "--disk"};
	struct vm_config *c = calloc(1, sizeof(*c));
	struct tern_error err = {{0}};
	char *text = malloc(PATH_MAX + 16);

	assert_non_null(c);
	assert_non_null(text);
	snprintf(text, PATH_MAX + 16, "path=/");
	memset(text + 6, 'a', PATH_MAX);
	text[6 + PATH_MAX] = '\0';
	for (int i = 0; i < 2; i++) {
		int ret = i ? disk_option_parse(text, c, &err)
			    : pmem_option_parse(text, c, &err);

		assert_int_equal(ret, -EINVAL);
		if (!strstr(err.message, options[i]) ||
		    !strstr(err.message, "at most 4095 bytes"))
			fail_msg("unexpected: %s", err.message);
	}
	assert_int_equal(c->pmem_count + c->disk_count, 0);
	free(text);
	vm_config_release(c);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keys_and_defaults),
		cmocka_unit_test(bad_values_are_refused_naming_the_reason),
		cmocka_unit_test(at_most_four),
		cmocka_unit_test(disk_items_still_parse),
		cmocka_unit_test(over_long_paths_are_refused),
	};

	return cmocka_run_group_tests(tests, make_file, remove_file);
}
