/* tern jailer's command line: required options, ID, uid/gid, --cgroup,
 * --resource-limit, --parent-cgroup, path lengths and the exec arguments
 * after "--". Pure parsing: no root, no file system. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "sandbox/jailer_options.h"

#define MAX_ARGS 100

struct args {
	int argc;
	char *argv[MAX_ARGS + 1];
};

/* "jailer" plus the four required options, then extra ones. */
static void base_args(struct args *a)
{
	static char *base[] = {"jailer",      "--id",	       "vm-1",
			       "--exec-file", "/usr/bin/tern", "--uid",
			       "123",	      "--gid",	       "100"};

	memset(a, 0, sizeof(*a));
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		a->argv[a->argc++] = base[i];
}

static void add(struct args *a, const char *arg)
{
	assert_true(a->argc < MAX_ARGS);
	a->argv[a->argc++] = (char *)arg;
}

static int parse(struct args *a, struct jailer_options *opts,
		 struct tern_error *err)
{
	memset(err, 0, sizeof(*err));
	return jailer_options_parse(a->argc, a->argv, opts, err);
}

static void expect_usage_error(struct args *a, const char *words)
{
	struct jailer_options opts;
	struct tern_error err;
	int ret = parse(a, &opts, &err);

	assert_true(ret < 0);
	if (!strstr(err.message, words))
		fail_msg("'%s' not in '%s'", words, err.message);
}

static void minimal_command_line_gets_firecracker_defaults(void **state)
{
	struct jailer_options opts;
	struct tern_error err;
	struct args a;

	base_args(&a);
	assert_int_equal(parse(&a, &opts, &err), 0);
	assert_string_equal(opts.id, "vm-1");
	assert_string_equal(opts.exec_file, "/usr/bin/tern");
	assert_int_equal(opts.uid, 123);
	assert_int_equal(opts.gid, 100);
	assert_string_equal(opts.chroot_base, "/srv/jailer");
	assert_null(opts.netns);
	assert_null(opts.parent_cgroup);
	assert_int_equal(opts.cgroup_version, 2);
	assert_int_equal(opts.daemonize, 0);
	assert_int_equal(opts.new_pid_ns, 0);
	assert_int_equal(opts.no_file_limit, 2048);
	assert_int_equal(opts.fsize_given, 0);
	assert_int_equal(opts.cgroup_count, 0);
	assert_int_equal(opts.exec_arg_count, 0);
}

static void every_option_is_taken(void **state)
{
	static const char *extra[] = {"--chroot-base-dir",
				      "/var/jail",
				      "--netns",
				      "/var/run/netns/a",
				      "--daemonize",
				      "--new-pid-ns",
				      "--cgroup-version",
				      "2",
				      "--cgroup",
				      "memory.max=512M",
				      "--cgroup",
				      "cpu.max=50000 100000",
				      "--parent-cgroup",
				      "vms/fast",
				      "--resource-limit",
				      "fsize=1000",
				      "--resource-limit",
				      "no-file=64",
				      "--",
				      "--api-sock",
				      "/run/api.sock"};
	struct jailer_options opts;
	struct tern_error err;
	struct args a;

	base_args(&a);
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		add(&a, extra[i]);
	assert_int_equal(parse(&a, &opts, &err), 0);
	assert_string_equal(opts.chroot_base, "/var/jail");
	assert_string_equal(opts.netns, "/var/run/netns/a");
	assert_int_equal(opts.daemonize, 1);
	assert_int_equal(opts.new_pid_ns, 1);
	assert_int_equal(opts.cgroup_count, 2);
	assert_string_equal(opts.cgroups[0].file, "memory.max");
	assert_string_equal(opts.cgroups[0].value, "512M");
	assert_string_equal(opts.cgroups[1].file, "cpu.max");
	assert_string_equal(opts.cgroups[1].value, "50000 100000");
	assert_string_equal(opts.parent_cgroup, "vms/fast");
	assert_int_equal(opts.fsize_given, 1);
	assert_int_equal(opts.fsize_limit, 1000);
	assert_int_equal(opts.no_file_limit, 64);
	assert_int_equal(opts.exec_arg_count, 2);
	assert_string_equal(opts.exec_args[0], "--api-sock");
	assert_string_equal(opts.exec_args[1], "/run/api.sock");
	assert_null(opts.exec_args[2]);
}

static void cgroup_version_1_is_taken(void **state)
{
	struct jailer_options opts;
	struct tern_error err;
	struct args a;

	base_args(&a);
	add(&a, "--cgroup-version");
	add(&a, "1");
	add(&a, "--cgroup");
	add(&a, "memory.limit_in_bytes=1G");
	assert_int_equal(parse(&a, &opts, &err), 0);
	assert_int_equal(opts.cgroup_version, 1);
	assert_string_equal(opts.cgroups[0].file, "memory.limit_in_bytes");
}

static void help_wins(void **state)
{
	struct jailer_options opts;
	struct tern_error err;
	struct args a = {.argc = 2, .argv = {"jailer", "--help"}};

	assert_int_equal(parse(&a, &opts, &err), 1);
	a.argv[1] = "-h";
	assert_int_equal(parse(&a, &opts, &err), 1);
}

static void each_required_option_is_named_when_missing(void **state)
{
	static const char *names[] = {"--id", "--exec-file", "--uid", "--gid"};

	for (size_t skip = 0; skip < 4; skip++) {
		struct args full, a = {.argc = 1, .argv = {"jailer"}};
		char expected[40];

		base_args(&full);
		for (size_t i = 0; i < 4; i++)
			if (i != skip) {
				add(&a, full.argv[1 + 2 * i]);
				add(&a, full.argv[2 + 2 * i]);
			}
		snprintf(expected, sizeof(expected), "%s is required",
			 names[skip]);
		expect_usage_error(&a, expected);
	}
}

static void ids_are_checked(void **state)
{
	struct tern_error err;
	char long_id[80];

	assert_int_equal(jailer_id_check("a", &err), 0);
	assert_int_equal(
		jailer_id_check("551e7604-e35c-42b3-b825-416853441234", &err),
		0);
	memset(long_id, 'x', 64);
	long_id[64] = '\0';
	assert_int_equal(jailer_id_check(long_id, &err), 0);
	long_id[64] = 'x';
	long_id[65] = '\0';
	assert_int_equal(jailer_id_check(long_id, &err), -EINVAL);
	assert_non_null(strstr(err.message, "1 to 64"));
	assert_int_equal(jailer_id_check("", &err), -EINVAL);
	for (const char *const *bad =
		     (const char *const[]){"a_b", "a/b", "..", "a b", "a.b",
					   "vm\n", "é", NULL};
	     *bad; bad++) {
		assert_int_equal(jailer_id_check(*bad, &err), -EINVAL);
		assert_non_null(strstr(err.message, "hyphens"));
	}
}

static void bad_id_on_the_command_line(void **state)
{
	struct args a;

	base_args(&a);
	a.argv[2] = "../etc";
	expect_usage_error(&a, "--id");
}

static void uids_and_gids_are_checked(void **state)
{
	struct tern_error err;
	uint32_t v;

	assert_int_equal(jailer_id_number_parse("0", "--uid", &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(
		jailer_id_number_parse("4294967294", "--uid", &v, &err), 0);
	assert_int_equal(v, 4294967294u);
	for (const char *const *bad =
		     (const char *const[]){"", "-1", "+5", " 5", "5 ", "12a",
					   "0x10", "4294967295",
					   "99999999999999999999", "root",
					   NULL};
	     *bad; bad++) {
		assert_int_equal(
			jailer_id_number_parse(*bad, "--gid", &v, &err),
			-EINVAL);
		assert_non_null(strstr(err.message, "--gid"));
	}
}

static void bad_uid_on_the_command_line(void **state)
{
	struct args a;

	base_args(&a);
	a.argv[6] = "nobody";
	expect_usage_error(&a, "--uid 'nobody' is not a number");
}

static void cgroup_settings_are_checked(void **state)
{
	struct jailer_cgroup_setting s;
	struct tern_error err;
	char long_file[100];

	assert_int_equal(
		jailer_cgroup_setting_parse("cpuset.cpus=0-3", &s, &err), 0);
	assert_string_equal(s.file, "cpuset.cpus");
	assert_string_equal(s.value, "0-3");
	assert_int_equal(
		jailer_cgroup_setting_parse("cgroup.max.depth=2", &s, &err), 0);
	assert_string_equal(s.file, "cgroup.max.depth");
	for (const char *const *bad =
		     (const char *const[]){"memory.max", "=5",
					   "memory.max=", "memory", NULL};
	     *bad; bad++)
		assert_int_equal(jailer_cgroup_setting_parse(*bad, &s, &err),
				 -EINVAL);
	for (const char *const *bad =
		     (const char *const[]){
			     "max=5", "../memory.max=1", "a/memory.max=1",
			     ".max=1", "memory.=1", "memory.max=1\n2", NULL};
	     *bad; bad++)
		assert_int_equal(jailer_cgroup_setting_parse(*bad, &s, &err),
				 -EINVAL);
	memset(long_file, 'm', sizeof(long_file));
	memcpy(long_file + 80, ".max=1", 7);
	assert_int_equal(jailer_cgroup_setting_parse(long_file, &s, &err),
			 -ENAMETOOLONG);
}

static void bad_cgroup_forms_on_the_command_line(void **state)
{
	struct args a;

	base_args(&a);
	add(&a, "--cgroup");
	add(&a, "memory.max");
	expect_usage_error(&a, "expected FILE=VALUE");
	base_args(&a);
	add(&a, "--cgroup-version");
	add(&a, "3");
	expect_usage_error(&a, "1 or 2");
	base_args(&a);
	add(&a, "--cgroup-version");
	add(&a, "v1");
	expect_usage_error(&a, "1 or 2");
}

static void too_many_cgroup_settings(void **state)
{
	struct args a;

	base_args(&a);
	for (int i = 0; i <= JAILER_MAX_CGROUP_SETTINGS; i++) {
		add(&a, "--cgroup");
		add(&a, "pids.max=5");
	}
	expect_usage_error(&a, "more than 32 --cgroup settings");
}

static void resource_limits_are_checked(void **state)
{
	struct jailer_options opts;
	struct tern_error err;

	memset(&opts, 0, sizeof(opts));
	assert_int_equal(
		jailer_resource_limit_parse("fsize=250000000", &opts, &err), 0);
	assert_int_equal(opts.fsize_limit, 250000000);
	assert_int_equal(opts.fsize_given, 1);
	assert_int_equal(
		jailer_resource_limit_parse("no-file=1024", &opts, &err), 0);
	assert_int_equal(opts.no_file_limit, 1024);
	for (const char *const *bad =
		     (const char *const[]){
			     "fsize", "fsize=", "fsize=-1", "fsize=1k",
			     "fsize= 1", "no-file=99999999999999999999", NULL};
	     *bad; bad++)
		assert_int_equal(jailer_resource_limit_parse(*bad, &opts, &err),
				 -EINVAL);
	assert_int_equal(jailer_resource_limit_parse("nofile=5", &opts, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "unknown resource"));
	assert_int_equal(jailer_resource_limit_parse("cpu=5", &opts, &err),
			 -EINVAL);
}

static void bad_resource_limit_on_the_command_line(void **state)
{
	struct args a;

	base_args(&a);
	add(&a, "--resource-limit");
	add(&a, "no-file:5");
	expect_usage_error(&a, "fsize=N or no-file=N");
}

static void parent_cgroups_are_checked(void **state)
{
	struct tern_error err;

	assert_int_equal(jailer_parent_cgroup_check("vms", &err), 0);
	assert_int_equal(
		jailer_parent_cgroup_check("all_uvms/external_uvms", &err), 0);
	for (const char *const *bad =
		     (const char *const[]){"", "/vms", "vms/", "a//b", "..",
					   "a/../b", "./a", ".", NULL};
	     *bad; bad++)
		assert_int_equal(jailer_parent_cgroup_check(*bad, &err),
				 -EINVAL);
}

static void paths_too_long_are_refused(void **state)
{
	static char long_path[PATH_MAX + 10];
	struct args a;

	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	for (const char *const *opt =
		     (const char *const[]){"--exec-file", "--chroot-base-dir",
					   "--netns", NULL};
	     *opt; opt++) {
		base_args(&a);
		add(&a, *opt);
		add(&a, long_path);
		expect_usage_error(&a, "longer than");
	}
	/* Each fits alone, but not BASE/NAME/ID/root/NAME.pid together. */
	long_path[3000] = '\0';
	base_args(&a);
	a.argv[4] = long_path;
	add(&a, "--chroot-base-dir");
	add(&a, long_path);
	expect_usage_error(&a, "too long for the jail's paths");
	base_args(&a);
	add(&a, "--parent-cgroup");
	add(&a, long_path + 1);
	expect_usage_error(&a, "--parent-cgroup is too long");
}

static void empty_paths_are_refused(void **state)
{
	struct args a;

	base_args(&a);
	a.argv[4] = "";
	expect_usage_error(&a, "--exec-file needs a path");
}

static void stray_and_unknown_arguments_are_refused(void **state)
{
	struct args a;

	base_args(&a);
	add(&a, "--api-sock");
	expect_usage_error(&a, "unknown option '--api-sock'");
	base_args(&a);
	add(&a, "extra");
	expect_usage_error(&a, "unexpected argument 'extra'");
	base_args(&a);
	add(&a, "--netns");
	expect_usage_error(&a, "needs a value");
}

static void exec_args_may_look_like_jailer_options(void **state)
{
	struct jailer_options opts;
	struct tern_error err;
	struct args a;

	base_args(&a);
	add(&a, "--");
	add(&a, "--id");
	add(&a, "--");
	assert_int_equal(parse(&a, &opts, &err), 0);
	assert_int_equal(opts.exec_arg_count, 2);
	assert_string_equal(opts.exec_args[0], "--id");
	assert_string_equal(opts.exec_args[1], "--");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			minimal_command_line_gets_firecracker_defaults),
		cmocka_unit_test(every_option_is_taken),
		cmocka_unit_test(cgroup_version_1_is_taken),
		cmocka_unit_test(help_wins),
		cmocka_unit_test(each_required_option_is_named_when_missing),
		cmocka_unit_test(ids_are_checked),
		cmocka_unit_test(bad_id_on_the_command_line),
		cmocka_unit_test(uids_and_gids_are_checked),
		cmocka_unit_test(bad_uid_on_the_command_line),
		cmocka_unit_test(cgroup_settings_are_checked),
		cmocka_unit_test(bad_cgroup_forms_on_the_command_line),
		cmocka_unit_test(too_many_cgroup_settings),
		cmocka_unit_test(resource_limits_are_checked),
		cmocka_unit_test(bad_resource_limit_on_the_command_line),
		cmocka_unit_test(parent_cgroups_are_checked),
		cmocka_unit_test(paths_too_long_are_refused),
		cmocka_unit_test(empty_paths_are_refused),
		cmocka_unit_test(stray_and_unknown_arguments_are_refused),
		cmocka_unit_test(exec_args_may_look_like_jailer_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
