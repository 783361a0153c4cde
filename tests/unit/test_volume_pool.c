/* ternd's storage pool (src/ternd/volume_pool.c) on a temporary
 * directory: the pending-file protocol, sparse copies, and the recovery
 * a ternd killed mid-change relies on; and how a definition names a
 * volume (src/ternd/vm_definition.c). */
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

#include "ternd/vm_definition.h"
#include "ternd/volume_pool.h"

struct fixture {
	char dir[64];
	struct volume_pool pool;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tern_error err;

	snprintf(f->dir, sizeof(f->dir), "/tmp/ternd-pool-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(volume_pool_open(&f->pool, f->dir, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int exists(const struct fixture *f, const char *file)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", f->dir, file);
	return lstat(path, &st) == 0;
}

static void create_is_pending_until_committed(void **state)
{
	struct fixture *f = *state;
	uint64_t capacity, allocation;
	struct tern_error err;

	assert_int_equal(
		volume_pool_create_pending(&f->pool, "disk", 1 << 20, &err), 0);
	assert_true(exists(f, ".disk.new"));
	assert_false(exists(f, "disk"));
	assert_int_equal(
		volume_pool_stat(&f->pool, "disk", &capacity, &allocation),
		-ENOENT);
	assert_int_equal(volume_pool_commit_new(&f->pool, "disk", &err), 0);
	assert_false(exists(f, ".disk.new"));
	assert_int_equal(
		volume_pool_stat(&f->pool, "disk", &capacity, &allocation), 0);
	assert_int_equal(capacity, 1 << 20);
	assert_int_equal(allocation, 0); /* sparse */

	/* Never over an existing volume. */
	assert_int_equal(
		volume_pool_create_pending(&f->pool, "disk", 512, &err), 0);
	assert_true(volume_pool_commit_new(&f->pool, "disk", &err) < 0);
	volume_pool_discard_new(&f->pool, "disk");
	assert_false(exists(f, ".disk.new"));

	assert_int_equal(volume_pool_resize(&f->pool, "disk", 4096, &err), 0);
	assert_int_equal(
		volume_pool_stat(&f->pool, "disk", &capacity, &allocation), 0);
	assert_int_equal(capacity, 4096);

	assert_int_equal(volume_pool_delete_pending(&f->pool, "disk", &err), 0);
	assert_true(exists(f, ".disk.del"));
	volume_pool_undo_delete(&f->pool, "disk");
	assert_true(exists(f, "disk"));
	assert_int_equal(volume_pool_delete_pending(&f->pool, "disk", &err), 0);
	volume_pool_finish_delete(&f->pool, "disk");
	assert_false(exists(f, "disk") || exists(f, ".disk.del"));
}

static void sizes(void **state)
{
	struct tern_error err;

	assert_int_equal(volume_size_check(512, &err), 0);
	assert_int_equal(volume_size_check(10ULL << 30, &err), 0);
	assert_int_equal(volume_size_check(0, &err), -EINVAL);
	assert_int_equal(volume_size_check(1000, &err), -EINVAL);
	assert_non_null(strstr(err.message, "512"));
	assert_int_equal(volume_size_check(VOLUME_MAX_SIZE + 512, &err),
			 -EINVAL);
}

static void a_clone_has_the_data_and_keeps_the_holes(void **state)
{
	struct fixture *f = *state;
	enum volume_clone_method how;
	uint64_t capacity, allocation;
	struct tern_error err;
	char path[256], block[4096], back[4096];
	int fd;

	/* 64 MiB with data at 1 MiB and 40 MiB, holes elsewhere. */
	assert_int_equal(
		volume_pool_create_pending(&f->pool, "src", 64 << 20, &err), 0);
	assert_int_equal(volume_pool_commit_new(&f->pool, "src", &err), 0);
	snprintf(path, sizeof(path), "%s/src", f->dir);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	memset(block, 0xa5, sizeof(block));
	assert_int_equal(pwrite(fd, block, sizeof(block), 1 << 20),
			 sizeof(block));
	memset(block, 0x5a, sizeof(block));
	assert_int_equal(pwrite(fd, block, sizeof(block), 40 << 20),
			 sizeof(block));
	close(fd);

	assert_int_equal(
		volume_pool_clone_pending(&f->pool, "src", "copy", &how, &err),
		0);
	assert_int_equal(volume_pool_commit_new(&f->pool, "copy", &err), 0);
	assert_int_equal(
		volume_pool_stat(&f->pool, "copy", &capacity, &allocation), 0);
	assert_int_equal(capacity, 64 << 20);
	/* Either way, not 64 MiB on disk: a reflink shares, a copy skips
	 * the holes. */
	assert_true(allocation <= 1 << 20);
	snprintf(path, sizeof(path), "%s/copy", f->dir);
	fd = open(path, O_RDONLY);
	assert_int_equal(pread(fd, back, sizeof(back), 40 << 20), sizeof(back));
	assert_memory_equal(back, block, sizeof(block));
	assert_int_equal(pread(fd, back, 16, 0), 16);
	assert_memory_equal(back, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	close(fd);

	assert_true(volume_pool_clone_pending(&f->pool, "nosuch", "x", &how,
					      &err) < 0);
	assert_false(exists(f, ".x.new"));
}

static int catalog_has(void *ctx, const char *name)
{
	return strstr((const char *)ctx, name) != NULL;
}

static void reported(void *ctx, const char *file, const char *what)
{
}

static void touch(const struct fixture *f, const char *file)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->dir, file);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static void recovery_finishes_what_the_catalog_says(void **state)
{
	struct fixture *f = *state;

	/* committed create, not yet renamed: becomes the volume */
	touch(f, ".made.new");
	/* uncommitted create: goes */
	touch(f, ".half.new");
	/* uncommitted delete: the volume comes back */
	touch(f, ".kept.del");
	/* committed delete: goes */
	touch(f, ".gone.del");
	/* a volume with a stray pending file beside it: the volume stays */
	touch(f, "both");
	touch(f, ".both.new");
	/* not ternd's: left alone */
	touch(f, ".bashrc");
	touch(f, "..new");
	volume_pool_recover(&f->pool, catalog_has, reported,
			    (void *)"made kept both");
	assert_true(exists(f, "made"));
	assert_false(exists(f, ".made.new"));
	assert_false(exists(f, ".half.new") || exists(f, "half"));
	assert_true(exists(f, "kept"));
	assert_false(exists(f, ".gone.del") || exists(f, "gone"));
	assert_true(exists(f, "both"));
	assert_false(exists(f, ".both.new"));
	assert_true(exists(f, ".bashrc"));
	assert_true(exists(f, "..new"));
}

static void definitions_name_volumes(void **state)
{
	struct vm_volume_refs refs;
	struct tern_error err;
	json_t *doc = json_loads(
		"{\"boot-source\":{\"kernel_image_path\":\"/k\"},"
		"\"drives\":[{\"drive_id\":\"a\",\"is_root_device\":true,"
		"\"volume\":\"root\"},{\"drive_id\":\"b\",\"is_root_device\":"
		"false,\"path_on_host\":\"/x\"}]}",
		0, NULL);
	json_t *out = vm_definition_resolve(doc, "/pool", &refs, &err);
	json_t *drive;

	assert_non_null(out);
	assert_int_equal(refs.count, 1);
	assert_string_equal(refs.names[0], "root");
	drive = json_array_get(json_object_get(out, "drives"), 0);
	assert_string_equal(
		json_string_value(json_object_get(drive, "path_on_host")),
		"/pool/root");
	assert_null(json_object_get(drive, "volume"));
	/* The stored document keeps the name. */
	drive = json_array_get(json_object_get(doc, "drives"), 0);
	assert_non_null(json_object_get(drive, "volume"));
	json_decref(out);
	json_decref(doc);

	const char *bad[] = {
		"{\"drives\":[{\"volume\":\"../etc/passwd\"}]}",
		"{\"drives\":[{\"volume\":\".hidden\"}]}",
		"{\"drives\":[{\"volume\":\"a/b\"}]}",
		"{\"drives\":[{\"volume\":\"\"}]}",
		"{\"drives\":[{\"volume\":7}]}",
		"{\"drives\":[{\"volume\":\"a\",\"path_on_host\":\"/x\"}]}",
		"{\"drives\":[{\"volume\":\"a\"},{\"volume\":\"a\"}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		doc = json_loads(bad[i], 0, NULL);
		assert_non_null(doc);
		assert_null(vm_definition_resolve(doc, "/pool", &refs, &err));
		json_decref(doc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			create_is_pending_until_committed, setup, teardown),
		cmocka_unit_test(sizes),
		cmocka_unit_test_setup_teardown(
			a_clone_has_the_data_and_keeps_the_holes, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			recovery_finishes_what_the_catalog_says, setup,
			teardown),
		cmocka_unit_test(definitions_name_volumes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
