/* ternd's snapshot files (src/ternd/snapshots.c) around a VM manager on a
 * temporary state directory, without a tern: the pending-directory
 * protocol's recovery at start, delete, and the refusals that need no
 * running VM. */
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

#include "ternd/snapshots.h"
#include "ternd/ternd_db.h"
#include "ternd/vm_manager.h"

struct fixture {
	char dir[64];
	char doc[256];
	struct vm_manager *m;
};

static void open_manager(struct fixture *f)
{
	struct vm_manager_options options = {.state_dir = f->dir,
					     .tern_path = "/bin/false"};
	struct tern_error err;

	assert_int_equal(vm_manager_open(&options, &f->m, &err), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char kernel[128];
	struct tern_error err;
	int created, fd;

	snprintf(f->dir, sizeof(f->dir), "/tmp/ternd-snap-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(kernel, sizeof(kernel), "%s/kernel", f->dir);
	fd = open(kernel, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(f->doc, sizeof(f->doc),
		 "{\"boot-source\":{\"kernel_image_path\":\"%s\"},"
		 "\"machine-config\":{\"vcpu_count\":1,\"mem_size_mib\":64}}",
		 kernel);
	open_manager(f);
	assert_int_equal(vm_manager_define(f->m, "web", f->doc, strlen(f->doc),
					   &created, &err),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	vm_manager_close(f->m);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* DIR/vms/web/snapshots/ENTRY, made as a directory holding the two
 * files (with the given memory contents). */
static void make_snapshot_dir(struct fixture *f, const char *entry)
{
	char path[512];
	FILE *file;

	snprintf(path, sizeof(path), "%s/vms", f->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/vms/web", f->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/vms/web/snapshots", f->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/vms/web/snapshots/%s", f->dir, entry);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/vms/web/snapshots/%s/state", f->dir,
		 entry);
	file = fopen(path, "w");
	assert_non_null(file);
	fputs(entry, file);
	fclose(file);
	snprintf(path, sizeof(path), "%s/vms/web/snapshots/%s/mem", f->dir,
		 entry);
	file = fopen(path, "w");
	assert_non_null(file);
	fclose(file);
}

static int present(struct fixture *f, const char *entry)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/vms/web/snapshots/%s", f->dir, entry);
	return lstat(path, &st) == 0;
}

/* The contents of ENTRY/state: which directory became the snapshot. */
static void assert_state_is(struct fixture *f, const char *entry,
			    const char *want)
{
	char path[512], text[64] = "";
	FILE *file;

	snprintf(path, sizeof(path), "%s/vms/web/snapshots/%s/state", f->dir,
		 entry);
	file = fopen(path, "r");
	assert_non_null(file);
	assert_non_null(fgets(text, sizeof(text), file));
	fclose(file);
	assert_string_equal(text, want);
}

static void add_row(struct fixture *f, const char *name)
{
	struct tern_error err;

	assert_int_equal(ternd_db_snapshot_add(vm_manager_db(f->m), "web", name,
					       VM_STATE_RUNNING, f->doc, 1, "x",
					       &err),
			 0);
}

/* What a ternd killed at each point of the protocol leaves, and what the
 * next one makes of it. */
static void recovery_finishes_or_removes_pending_directories(void **state)
{
	struct fixture *f = *state;
	struct snapshot_record s;
	struct tern_error err;

	/* Committed, not renamed: becomes the snapshot. */
	add_row(f, "committed");
	make_snapshot_dir(f, ".committed.new");
	/* Moved aside for a delete that did not commit: comes back. */
	add_row(f, "undeleted");
	make_snapshot_dir(f, ".undeleted.del");
	/* A create that did not commit, a delete that did: removed. */
	make_snapshot_dir(f, ".uncommitted.new");
	make_snapshot_dir(f, ".deleted.del");
	/* In the catalog and in place: a stale pending one goes, the
	 * snapshot stays. */
	add_row(f, "whole");
	make_snapshot_dir(f, "whole");
	make_snapshot_dir(f, ".whole.new");
	/* Not ternd's: left alone. */
	make_snapshot_dir(f, "stray");
	make_snapshot_dir(f, ".-bad.new");
	make_snapshot_dir(f, ".x.tmp");

	vm_manager_close(f->m);
	open_manager(f);

	assert_true(present(f, "committed"));
	assert_false(present(f, ".committed.new"));
	assert_state_is(f, "committed", ".committed.new");
	assert_true(present(f, "undeleted"));
	assert_false(present(f, ".undeleted.del"));
	assert_false(present(f, ".uncommitted.new"));
	assert_false(present(f, "uncommitted"));
	assert_false(present(f, ".deleted.del"));
	assert_true(present(f, "whole"));
	assert_state_is(f, "whole", "whole");
	assert_false(present(f, ".whole.new"));
	assert_true(present(f, "stray"));
	assert_true(present(f, ".-bad.new"));
	assert_true(present(f, ".x.tmp"));
	assert_int_equal(snapshots_get(f->m, "web", "committed", &s, &err), 0);
	snapshot_record_free(&s);
	assert_int_equal(snapshots_get(f->m, "web", "uncommitted", &s, &err),
			 -ENOENT);
}

static void delete_and_undefine(void **state)
{
	struct fixture *f = *state;
	struct snapshot_record *list;
	struct tern_error err;
	char path[512];
	struct stat st;
	size_t count;

	add_row(f, "a");
	make_snapshot_dir(f, "a");
	add_row(f, "b");
	make_snapshot_dir(f, "b");
	assert_int_equal(snapshots_delete(f->m, "web", "a", &err), 0);
	assert_false(present(f, "a"));
	assert_false(present(f, ".a.del"));
	assert_int_equal(snapshots_delete(f->m, "web", "a", &err), -ENOENT);
	assert_non_null(strstr(err.message, "no snapshot named 'a'"));
	assert_int_equal(snapshots_list(f->m, "web", &list, &count, &err), 0);
	assert_int_equal(count, 1);
	assert_string_equal(list[0].name, "b");
	snapshot_records_free(list, count);

	assert_int_equal(vm_manager_undefine(f->m, "web", &err), -EBUSY);
	assert_non_null(strstr(err.message, "--snapshots-too"));
	assert_true(present(f, "b"));
	assert_int_equal(snapshots_delete_all(f->m, "web", &err), 0);
	assert_int_equal(vm_manager_undefine(f->m, "web", &err), 0);
	snprintf(path, sizeof(path), "%s/vms/web", f->dir);
	assert_int_not_equal(stat(path, &st), 0);
}

static void refusals(void **state)
{
	struct fixture *f = *state;
	struct snapshot_record s;
	struct tern_error err;
	char name[TERND_NAME_MAX + 1];

	assert_int_equal(snapshots_create(f->m, "web", "s1", name, &err),
			 -EBUSY);
	assert_non_null(strstr(err.message, "is shut off"));
	assert_int_equal(snapshots_create(f->m, "nope", "s1", name, &err),
			 -ENOENT);
	assert_int_equal(snapshots_revert(f->m, "web", "s1", &err), -ENOENT);
	assert_non_null(strstr(err.message, "no snapshot named 's1'"));
	assert_int_equal(snapshots_revert(f->m, "web", "../x", &err), -EINVAL);
	assert_int_equal(snapshots_get(f->m, "web", ".hidden", &s, &err),
			 -EINVAL);
	assert_int_equal(snapshots_delete(f->m, "web", "a/b", &err), -EINVAL);
	/* A catalog row whose files are gone: revert says so, touches
	 * nothing. */
	add_row(f, "lost");
	assert_int_equal(snapshots_revert(f->m, "web", "lost", &err), -EIO);
	assert_non_null(strstr(err.message, "has lost its files"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			recovery_finishes_or_removes_pending_directories, setup,
			teardown),
		cmocka_unit_test_setup_teardown(delete_and_undefine, setup,
						teardown),
		cmocka_unit_test_setup_teardown(refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
