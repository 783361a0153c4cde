/* Host paths from outside (util/host_path.h): a planted symbolic link is
 * never written through, and each kind of file is what the caller
 * expects. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/host_path.h"

static char dir[] = "/tmp/tern-host-path-XXXXXX";

static const char *in_dir(const char *name)
{
	static char paths[4][128];
	static int next;
	char *p = paths[next++ % 4];

	snprintf(p, 128, "%s/%s", dir, name);
	return p;
}

static void make_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void expect_text(const char *path, const char *text)
{
	char buf[64] = {0};
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_true(fread(buf, 1, sizeof(buf) - 1, f) <= strlen(text));
	fclose(f);
	assert_string_equal(buf, text);
}

static void output_refuses_a_symlink_and_odd_files(void **state)
{
	struct tern_error err = {{0}};
	int fd;

	make_file(in_dir("victim"), "precious");
	assert_int_equal(symlink(in_dir("victim"), in_dir("link")), 0);
	fd = host_path_open_output(in_dir("link"), 0, 0644, "serial output",
				   &err);
	assert_int_equal(fd, -ELOOP);
	assert_non_null(strstr(err.message, "symbolic link"));
	expect_text(in_dir("victim"), "precious");

	fd = host_path_open_output(dir, 0, 0644, "log file", &err);
	assert_true(fd < 0);

	/* A new file, an existing one, a FIFO: fine. */
	fd = host_path_open_output(in_dir("new"), 0, 0600, "log file", &err);
	assert_true(fd >= 0);
	close(fd);
	fd = host_path_open_output(in_dir("victim"), 0, 0600, "log file", &err);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mkfifo(in_dir("fifo"), 0600), 0);
	fd = host_path_open_output(in_dir("fifo"), O_NONBLOCK, 0600,
				   "metrics file", &err);
	/* No reader: ENXIO is the FIFO's own answer, not a refusal. */
	assert_true(fd >= 0 || fd == -ENXIO);
	if (fd >= 0)
		close(fd);
}

static void replaceable_is_a_regular_file_or_nothing(void **state)
{
	struct tern_error err = {{0}};

	assert_int_equal(
		host_path_check_replaceable(in_dir("absent"), "snapshot", &err),
		0);
	make_file(in_dir("old-snap"), "old");
	assert_int_equal(host_path_check_replaceable(in_dir("old-snap"),
						     "snapshot", &err),
			 0);
	assert_int_equal(symlink(in_dir("old-snap"), in_dir("snap-link")), 0);
	assert_true(host_path_check_replaceable(in_dir("snap-link"), "snapshot",
						&err) < 0);
	assert_non_null(strstr(err.message, "symbolic link"));
	assert_true(host_path_check_replaceable(dir, "memory file", &err) < 0);
	assert_non_null(strstr(err.message, "not a regular file"));
}

static void own_file_is_ours_regular_and_single(void **state)
{
	struct tern_error err = {{0}};
	int fd;

	make_file(in_dir("mem"), "pages");
	fd = host_path_open_own_file(in_dir("mem"), O_WRONLY, "memory file",
				     &err);
	assert_true(fd >= 0);
	close(fd);

	assert_int_equal(symlink(in_dir("mem"), in_dir("mem-link")), 0);
	assert_int_equal(host_path_open_own_file(in_dir("mem-link"), O_WRONLY,
						 "memory file", &err),
			 -ELOOP);
	assert_non_null(strstr(err.message, "symbolic link"));

	/* A second name: the file may be someone else's under that name. */
	assert_int_equal(link(in_dir("mem"), in_dir("mem-hard")), 0);
	assert_true(host_path_open_own_file(in_dir("mem"), O_WRONLY,
					    "memory file", &err) < 0);
	assert_non_null(strstr(err.message, "hard links"));
	assert_int_equal(unlink(in_dir("mem-hard")), 0);

	assert_true(host_path_open_own_file(dir, O_RDONLY, "memory file",
					    &err) < 0);

	/* Another user's file (root can make one to test with). */
	if (geteuid() == 0) {
		assert_int_equal(chown(in_dir("mem"), 65534, 65534), 0);
		assert_true(host_path_open_own_file(in_dir("mem"), O_WRONLY,
						    "memory file", &err) < 0);
		assert_non_null(strstr(err.message, "belongs to uid 65534"));
	}
	expect_text(in_dir("mem"), "pages");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(output_refuses_a_symlink_and_odd_files),
		cmocka_unit_test(replaceable_is_a_regular_file_or_nothing),
		cmocka_unit_test(own_file_is_ours_regular_and_single),
	};
	char cmd[128];
	int ret;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		ret = 1;
	return ret;
}
