/* ternd's state database (src/ternd/ternd_db.c) and what it accepts as a
 * definition (src/ternd/vm_definition.c), on a database in a temporary
 * directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ternd/ternd_db.h"
#include "ternd/vm_definition.h"

#define DOC                                                                    \
	"{\"boot-source\":{\"kernel_image_path\":\"/k\"},"                     \
	"\"machine-config\":{\"vcpu_count\":2,\"mem_size_mib\":128}}"

struct fixture {
	char dir[64];
	char path[96];
	struct ternd_db *db;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tern_error err;

	snprintf(f->dir, sizeof(f->dir), "/tmp/ternd-db-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/ternd.db", f->dir);
	assert_int_equal(ternd_db_open(f->path, &f->db, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char journal[128];

	ternd_db_close(f->db);
	unlink(f->path);
	snprintf(journal, sizeof(journal), "%s-journal", f->path);
	unlink(journal);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void define_get_list_undefine(void **state)
{
	struct fixture *f = *state;
	struct vm_record r, *list;
	struct tern_error err;
	size_t count;
	int created = -1;

	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, &created, &err),
			 0);
	assert_int_equal(created, 1);
	assert_int_equal(ternd_db_define(f->db, "db", DOC, 1, &created, &err),
			 0);
	assert_int_equal(ternd_db_get(f->db, "web", &r, &err), 0);
	assert_string_equal(r.name, "web");
	assert_string_equal(r.config, DOC);
	assert_int_equal(r.config_version, 1);
	assert_int_equal(r.runtime.state, VM_STATE_SHUT_OFF);
	assert_int_equal(r.runtime.pid, 0);
	assert_string_equal(r.runtime.reason, "defined");
	vm_record_free(&r);

	assert_int_equal(ternd_db_list(f->db, &list, &count, &err), 0);
	assert_int_equal(count, 2);
	assert_string_equal(list[0].name, "db"); /* by name */
	assert_string_equal(list[1].name, "web");
	vm_records_free(list, count);

	assert_int_equal(ternd_db_undefine(f->db, "web", &err), 0);
	assert_int_equal(ternd_db_get(f->db, "web", &r, &err), -ENOENT);
	assert_int_equal(ternd_db_undefine(f->db, "web", &err), -ENOENT);
}

static void redefine_keeps_the_runtime_record(void **state)
{
	struct fixture *f = *state;
	struct vm_runtime rt = {.state = VM_STATE_RUNNING,
				.pid = 4242,
				.pid_start_time = 99,
				.api_socket = "/s/api.sock",
				.reason = "started"};
	struct tern_error err;
	struct vm_record r;
	int created;

	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, &created, &err),
			 0);
	assert_int_equal(ternd_db_set_runtime(f->db, "web", &rt, &err), 0);
	assert_int_equal(
		ternd_db_define(f->db, "web", "{\"x\":1}", 1, &created, &err),
		0);
	assert_int_equal(created, 0);
	assert_int_equal(ternd_db_get(f->db, "web", &r, &err), 0);
	assert_string_equal(r.config, "{\"x\":1}");
	assert_int_equal(r.runtime.state, VM_STATE_RUNNING);
	assert_int_equal(r.runtime.pid, 4242);
	assert_int_equal(r.runtime.pid_start_time, 99);
	assert_string_equal(r.runtime.api_socket, "/s/api.sock");
	vm_record_free(&r);

	/* Shut off: no pid, no socket. */
	rt = (struct vm_runtime){.state = VM_STATE_SHUT_OFF,
				 .reason = "destroyed"};
	assert_int_equal(ternd_db_set_runtime(f->db, "web", &rt, &err), 0);
	assert_int_equal(ternd_db_get(f->db, "web", &r, &err), 0);
	assert_int_equal(r.runtime.pid, 0);
	assert_string_equal(r.runtime.api_socket, "");
	assert_string_equal(r.runtime.reason, "destroyed");
	vm_record_free(&r);
	assert_int_equal(ternd_db_set_runtime(f->db, "nosuch", &rt, &err),
			 -ENOENT);
}

static void a_failed_define_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct tern_error err;
	struct vm_record r;
	int created;

	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, &created, &err),
			 0);
	/* The schema's CHECK refuses text that is not JSON: the replacement
	 * fails as a whole. */
	assert_true(ternd_db_define(f->db, "web", "{broken", 1, &created,
				    &err) < 0);
	assert_non_null(strstr(err.message, "state database"));
	assert_true(ternd_db_define(f->db, "new", "{broken", 1, &created,
				    &err) < 0);
	assert_int_equal(ternd_db_get(f->db, "web", &r, &err), 0);
	assert_string_equal(r.config, DOC);
	vm_record_free(&r);
	assert_int_equal(ternd_db_get(f->db, "new", &r, &err), -ENOENT);
}

static void the_state_survives_reopening(void **state)
{
	struct fixture *f = *state;
	struct tern_error err;
	struct vm_record r;
	int created;

	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, &created, &err),
			 0);
	ternd_db_close(f->db);
	assert_int_equal(ternd_db_open(f->path, &f->db, &err), 0);
	assert_int_equal(ternd_db_get(f->db, "web", &r, &err), 0);
	assert_string_equal(r.config, DOC);
	vm_record_free(&r);
}

static void a_newer_schema_is_refused(void **state)
{
	struct fixture *f = *state;
	struct ternd_db *other;
	struct tern_error err;
	sqlite3 *sql;

	assert_int_equal(sqlite3_open(f->path, &sql), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(sql, "PRAGMA user_version = 99", NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(sql);
	assert_int_equal(ternd_db_open(f->path, &other, &err), -EPROTO);
	assert_non_null(strstr(err.message, "newer"));
}

static void vm_names(void **state)
{
	const char *good[] = {"a", "web-1", "db_2.prod", "A9",
			      "0123456789012345678901234567890123456789012345"
			      "678901234567890123"};
	const char *bad[] = {"",
			     ".",
			     "..",
			     "../x",
			     "a/b",
			     ".hidden",
			     "-x",
			     "_x",
			     "sp ace",
			     "tab\t",
			     "é",
			     "a%2f",
			     "x\n",
			     "0123456789012345678901234567890123456789012345"
			     "6789012345678901234"};
	struct tern_error err;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(vm_name_check(good[i], &err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vm_name_check(bad[i], &err), -EINVAL);
}

static void definitions_are_checked_as_tern_would(void **state)
{
	struct vm_summary summary;
	struct tern_error err;
	json_t *doc = json_loads(DOC, 0, NULL);

	assert_int_equal(vm_definition_check(doc, &summary, &err), 0);
	assert_int_equal(summary.vcpus, 2);
	assert_int_equal(summary.memory_mib, 128);
	json_decref(doc);

	const char *bad[] = {
		"[]",
		"{}",
		"{\"boot-source\":{}}",
		"{\"boot-source\":{\"kernel_image_path\":\"/k\"},"
		"\"machine-config\":{\"vcpu_count\":0,\"mem_size_mib\":128}}",
		"{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"nope\":1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		doc = json_loads(bad[i], 0, NULL);
		assert_non_null(doc);
		assert_int_equal(vm_definition_check(doc, NULL, &err), -EINVAL);
		json_decref(doc);
	}
	assert_int_equal(vm_definition_check(NULL, NULL, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(define_get_list_undefine, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			redefine_keeps_the_runtime_record, setup, teardown),
		cmocka_unit_test_setup_teardown(a_failed_define_changes_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(the_state_survives_reopening,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_newer_schema_is_refused,
						setup, teardown),
		cmocka_unit_test(vm_names),
		cmocka_unit_test(definitions_are_checked_as_tern_would),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
