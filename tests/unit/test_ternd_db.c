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

	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, NULL, NULL,
					 &created, &err),
			 0);
	assert_int_equal(created, 1);
	assert_int_equal(ternd_db_define(f->db, "db", DOC, 1, NULL, NULL,
					 &created, &err),
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

	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, NULL, NULL,
					 &created, &err),
			 0);
	assert_int_equal(
		ternd_db_set_runtime(f->db, "web", &rt, "started", &err), 0);
	assert_int_equal(ternd_db_define(f->db, "web", "{\"x\":1}", 1, NULL,
					 NULL, &created, &err),
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
	assert_int_equal(
		ternd_db_set_runtime(f->db, "web", &rt, "started", &err), 0);
	assert_int_equal(ternd_db_get(f->db, "web", &r, &err), 0);
	assert_int_equal(r.runtime.pid, 0);
	assert_string_equal(r.runtime.api_socket, "");
	assert_string_equal(r.runtime.reason, "destroyed");
	vm_record_free(&r);
	assert_int_equal(ternd_db_set_runtime(f->db, "nosuch", &rt, NULL, &err),
			 -ENOENT);
}

static void a_failed_define_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct tern_error err;
	struct vm_record r;
	int created;

	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, NULL, NULL,
					 &created, &err),
			 0);
	/* The schema's CHECK refuses text that is not JSON: the replacement
	 * fails as a whole. */
	assert_true(ternd_db_define(f->db, "web", "{broken", 1, NULL, NULL,
				    &created, &err) < 0);
	assert_non_null(strstr(err.message, "state database"));
	assert_true(ternd_db_define(f->db, "new", "{broken", 1, NULL, NULL,
				    &created, &err) < 0);
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

	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, NULL, NULL,
					 &created, &err),
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

	assert_int_equal(
		vm_definition_check(doc, NULL, &summary, NULL, NULL, &err), 0);
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
		assert_int_equal(
			vm_definition_check(doc, NULL, NULL, NULL, NULL, &err),
			-EINVAL);
		json_decref(doc);
	}
	assert_int_equal(
		vm_definition_check(NULL, NULL, NULL, NULL, NULL, &err),
		-EINVAL);
}

static void volumes_catalog_and_references(void **state)
{
	struct fixture *f = *state;
	struct vm_volume_refs refs = {.count = 1};
	struct volume_record v, *list;
	struct tern_error err;
	size_t count;
	int created;

	snprintf(refs.names[0], sizeof(refs.names[0]), "disk");
	/* A definition may name only a volume in the catalog. */
	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, &refs, NULL,
					 &created, &err),
			 -ENOENT);
	assert_non_null(strstr(err.message, "no volume named 'disk'"));
	assert_int_equal(
		ternd_db_get(f->db, "web", &(struct vm_record){0}, &err),
		-ENOENT);

	assert_int_equal(
		ternd_db_volume_add(f->db, "disk", NULL, "created", &err), 0);
	assert_int_equal(
		ternd_db_volume_add(f->db, "disk", NULL, "created", &err),
		-EEXIST);
	assert_int_equal(
		ternd_db_volume_add(f->db, "copy", "disk", "cloned", &err), 0);
	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, &refs, NULL,
					 &created, &err),
			 0);
	assert_int_equal(ternd_db_volume_get(f->db, "disk", &v, &err), 0);
	assert_string_equal(v.used_by, "web");
	assert_int_equal(v.in_use, 0);
	volume_record_free(&v);

	/* Named by a definition: not removable. */
	assert_int_equal(ternd_db_volume_remove(f->db, "disk", &err), -EBUSY);
	assert_non_null(strstr(err.message, "web"));

	/* In use while the VM runs. */
	struct vm_runtime rt = {.state = VM_STATE_RUNNING,
				.pid = 42,
				.api_socket = "/s",
				.reason = "started"};
	assert_int_equal(ternd_db_set_runtime(f->db, "web", &rt, NULL, &err),
			 0);
	assert_int_equal(ternd_db_volume_get(f->db, "disk", &v, &err), 0);
	assert_int_equal(v.in_use, 1);
	volume_record_free(&v);

	assert_int_equal(ternd_db_volume_list(f->db, &list, &count, &err), 0);
	assert_int_equal(count, 2);
	assert_string_equal(list[0].name, "copy");
	assert_string_equal(list[0].origin, "disk");
	assert_string_equal(list[0].used_by, "");
	volume_records_free(list, count);

	/* A redefinition without the volume frees it; so does undefine. */
	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, NULL, NULL,
					 &created, &err),
			 0);
	assert_int_equal(ternd_db_volume_remove(f->db, "disk", &err), 0);
	assert_int_equal(ternd_db_volume_remove(f->db, "disk", &err), -ENOENT);
	snprintf(refs.names[0], sizeof(refs.names[0]), "copy");
	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, &refs, NULL,
					 &created, &err),
			 0);
	assert_int_equal(ternd_db_undefine(f->db, "web", &err), 0);
	assert_int_equal(ternd_db_volume_remove(f->db, "copy", &err), 0);
}

static void events_are_logged_with_their_changes(void **state)
{
	struct fixture *f = *state;
	struct vm_runtime rt = {.state = VM_STATE_PAUSED,
				.pid = 42,
				.api_socket = "/s",
				.reason = "paused"};
	struct ternd_event *events;
	struct tern_error err;
	size_t count;
	int created;

	assert_int_equal(ternd_db_last_event_id(f->db), 0);
	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, NULL, NULL,
					 &created, &err),
			 0);
	assert_int_equal(
		ternd_db_set_runtime(f->db, "web", &rt, "paused", &err), 0);
	/* No event asked for: none logged. */
	assert_int_equal(ternd_db_set_runtime(f->db, "web", &rt, NULL, &err),
			 0);
	assert_int_equal(ternd_db_set_autostart(f->db, "web", 1, &err), 0);
	assert_int_equal(ternd_db_set_autostart(f->db, "nosuch", 1, &err),
			 -ENOENT);
	assert_int_equal(ternd_db_volume_add(f->db, "disk", NULL,
					     "created, 512 bytes", &err),
			 0);
	assert_int_equal(ternd_db_event_add(f->db, "volume", "disk", "resized",
					    "to 1024", &err),
			 0);
	/* A failed change logs nothing. */
	assert_true(ternd_db_define(f->db, "web", "{broken", 1, NULL, NULL,
				    &created, &err) < 0);
	assert_int_equal(ternd_db_undefine(f->db, "web", &err), 0);

	assert_int_equal(ternd_db_events(f->db, 0, 100, &events, &count, &err),
			 0);
	const char *kinds[] = {"defined", "paused",  "autostart",
			       "created", "resized", "undefined"};
	assert_int_equal(count, 6);
	for (size_t i = 0; i < count; i++) {
		assert_string_equal(events[i].kind, kinds[i]);
		assert_int_equal(events[i].id, (int64_t)i + 1);
	}
	assert_string_equal(events[1].reason, "paused");
	assert_string_equal(events[3].object, "volume");
	assert_string_equal(events[4].reason, "to 1024");
	free(events);
	assert_int_equal(ternd_db_events(f->db, 4, 1, &events, &count, &err),
			 0);
	assert_int_equal(count, 1);
	assert_int_equal(events[0].id, 5);
	free(events);
	assert_int_equal(ternd_db_last_event_id(f->db), 6);

	/* The autostart mark is read back with the VM. */
	struct vm_record r;
	assert_int_equal(ternd_db_define(f->db, "db", DOC, 1, NULL, NULL,
					 &created, &err),
			 0);
	assert_int_equal(ternd_db_set_autostart(f->db, "db", 1, &err), 0);
	assert_int_equal(ternd_db_get(f->db, "db", &r, &err), 0);
	assert_int_equal(r.autostart, 1);
	vm_record_free(&r);
}

static void a_version_1_database_is_upgraded(void **state)
{
	struct fixture *f = *state;
	struct tern_error err;
	struct vm_record r;
	sqlite3 *sql;

	/* Version 1 as the first ternd wrote it: one VM. */
	ternd_db_close(f->db);
	f->db = NULL;
	unlink(f->path);
	assert_int_equal(sqlite3_open(f->path, &sql), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(
			sql,
			"CREATE TABLE vm (name TEXT PRIMARY KEY NOT NULL,"
			" config TEXT NOT NULL, config_version INTEGER NOT "
			"NULL, defined_at INTEGER NOT NULL, updated_at "
			"INTEGER NOT NULL);"
			"CREATE TABLE vm_runtime (name TEXT PRIMARY KEY NOT "
			"NULL, state TEXT NOT NULL, pid INTEGER, "
			"pid_start_time INTEGER, api_socket TEXT, reason TEXT "
			"NOT NULL DEFAULT '', changed_at INTEGER NOT NULL);"
			"INSERT INTO vm VALUES ('old', '{}', 1, 1, 1);"
			"INSERT INTO vm_runtime (name, state, changed_at) "
			"VALUES ('old', 'shut off', 1);"
			"PRAGMA user_version = 1;",
			NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(sql);
	assert_int_equal(ternd_db_open(f->path, &f->db, &err), 0);
	assert_int_equal(ternd_db_get(f->db, "old", &r, &err), 0);
	assert_int_equal(r.autostart, 0);
	vm_record_free(&r);
	assert_int_equal(ternd_db_volume_add(f->db, "disk", NULL, "x", &err),
			 0);
}

/* A version-2 database (events logged) becomes version 3: the event ids
 * and the AUTOINCREMENT counter survive the event table's copy, and
 * network events can be logged. */
static void a_version_2_database_keeps_its_events(void **state)
{
	struct fixture *f = *state;
	struct ternd_event *events;
	struct tern_error err;
	size_t count;
	sqlite3 *sql;

	assert_int_equal(
		ternd_db_event_add(f->db, "vm", "a", "defined", "x", &err), 0);
	assert_int_equal(
		ternd_db_event_add(f->db, "vm", "b", "defined", "x", &err), 0);
	ternd_db_close(f->db);
	f->db = NULL;
	/* Back to version 2's event table: the CHECK without 'network'. */
	assert_int_equal(sqlite3_open(f->path, &sql), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(sql,
			     "DROP TABLE snapshot;"
			     "DROP TABLE vm_tap; DROP TABLE vm_network;"
			     "DROP TABLE network;"
			     "CREATE TABLE e2 (id INTEGER PRIMARY KEY "
			     "AUTOINCREMENT, at INTEGER NOT NULL, object TEXT "
			     "NOT NULL CHECK (object IN ('vm', 'volume')), "
			     "name TEXT NOT NULL, kind TEXT NOT NULL, reason "
			     "TEXT NOT NULL DEFAULT '');"
			     "INSERT INTO e2 SELECT * FROM event;"
			     "DELETE FROM event WHERE id = 1;"
			     "DROP TABLE event; ALTER TABLE e2 RENAME TO event;"
			     "UPDATE sqlite_sequence SET seq = 40 WHERE name = "
			     "'event';"
			     "PRAGMA user_version = 2;",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(sql);
	assert_int_equal(ternd_db_open(f->path, &f->db, &err), 0);
	assert_int_equal(ternd_db_event_add(f->db, "network", "default",
					    "defined", "x", &err),
			 0);
	assert_int_equal(ternd_db_events(f->db, 0, 10, &events, &count, &err),
			 0);
	assert_int_equal(count, 3);
	assert_int_equal(events[0].id, 1);
	assert_int_equal(events[1].id, 2);
	/* After the highest id ever given, not after the highest kept. */
	assert_int_equal(events[2].id, 41);
	assert_string_equal(events[2].object, "network");
	free(events);
}

static void networks_catalog_and_taps(void **state)
{
	struct fixture *f = *state;
	struct network_def def = {.name = "default",
				  .kind = NETWORK_MANAGED,
				  .bridge = "br0",
				  .subnet = 0xc0a87a00,
				  .prefix = 24,
				  .nat = 1,
				  .dhcp = 1};
	struct vm_network_refs nets = {.count = 1};
	struct tap_record tap = {.tap = "tn1-0",
				 .vm = "web",
				 .network = "default",
				 .mac = "52:54:00:01:02:03"};
	struct network_record r, *list;
	struct tap_record *taps;
	struct tern_error err;
	size_t count;
	int created;

	assert_int_equal(ternd_db_network_add(f->db, &def, &err), 0);
	assert_int_equal(ternd_db_network_add(f->db, &def, &err), -EEXIST);
	snprintf(def.name, sizeof(def.name), "other");
	assert_int_equal(ternd_db_network_add(f->db, &def, &err), -EEXIST);
	assert_non_null(strstr(err.message, "belongs to network 'default'"));
	assert_int_equal(ternd_db_network_get(f->db, "default", &r, &err), 0);
	assert_int_equal(r.def.subnet, 0xc0a87a00);
	assert_int_equal(r.def.prefix, 24);
	assert_true(r.def.nat && r.def.dhcp && !r.active);
	network_record_free(&r);

	/* A definition naming it, and one naming an unknown network. */
	snprintf(nets.names[0], sizeof(nets.names[0]), "nosuch");
	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, NULL, &nets,
					 &created, &err),
			 -ENOENT);
	snprintf(nets.names[0], sizeof(nets.names[0]), "default");
	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, NULL, &nets,
					 &created, &err),
			 0);
	assert_int_equal(ternd_db_network_remove(f->db, "default", &err),
			 -EBUSY);

	assert_int_equal(ternd_db_network_set_state(f->db, "default", 1, 42, 7,
						    "started", "started", &err),
			 0);
	assert_int_equal(ternd_db_taps_add(f->db, &tap, 1, &err), 0);
	assert_int_equal(ternd_db_taps_add(f->db, &tap, 1, &err), -EEXIST);
	assert_int_equal(ternd_db_network_list(f->db, &list, &count, &err), 0);
	assert_int_equal(count, 1);
	assert_true(list[0].active);
	assert_int_equal(list[0].dnsmasq_pid, 42);
	assert_string_equal(list[0].used_by, "web");
	assert_string_equal(list[0].attached, "web");
	network_records_free(list, count);
	assert_int_equal(ternd_db_taps_list(f->db, "web", &taps, &count, &err),
			 0);
	assert_int_equal(count, 1);
	assert_string_equal(taps[0].mac, "52:54:00:01:02:03");
	free(taps);
	assert_int_equal(ternd_db_tap_remove(f->db, "tn1-0", &err), 0);
	assert_int_equal(ternd_db_taps_list(f->db, NULL, &taps, &count, &err),
			 0);
	assert_int_equal(count, 0);
	free(taps);

	assert_int_equal(ternd_db_network_remove(f->db, "default", &err),
			 -EBUSY);
	assert_non_null(strstr(err.message, "active"));
	assert_int_equal(ternd_db_network_set_state(f->db, "default", 0, 0, 0,
						    "destroyed", "stopped",
						    &err),
			 0);
	assert_int_equal(ternd_db_undefine(f->db, "web", &err), 0);
	assert_int_equal(ternd_db_network_remove(f->db, "default", &err), 0);
	assert_int_equal(ternd_db_network_get(f->db, "default", &r, &err),
			 -ENOENT);
}

/* Snapshots in the catalog: added with their event, one name per VM,
 * only for a known VM and a running or paused state; a VM with snapshots
 * cannot be undefined, and the refusal names the way out. */
static void snapshots_catalog(void **state)
{
	struct fixture *f = *state;
	struct snapshot_record s, *list;
	struct ternd_event *events;
	struct tern_error err;
	size_t count;
	int created;

	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, NULL, NULL,
					 &created, &err),
			 0);
	assert_int_equal(ternd_db_define(f->db, "db", DOC, 1, NULL, NULL,
					 &created, &err),
			 0);
	assert_int_equal(ternd_db_snapshot_add(f->db, "web", "s1",
					       VM_STATE_RUNNING, DOC, 1,
					       "snapshot 's1' created", &err),
			 0);
	assert_int_equal(ternd_db_snapshot_add(f->db, "web", "s2",
					       VM_STATE_PAUSED, "{\"a\":1}", 1,
					       "x", &err),
			 0);
	/* The same name on another VM is another snapshot. */
	assert_int_equal(ternd_db_snapshot_add(f->db, "db", "s1",
					       VM_STATE_PAUSED, DOC, 1, "x",
					       &err),
			 0);
	assert_int_equal(ternd_db_snapshot_add(f->db, "web", "s1",
					       VM_STATE_PAUSED, DOC, 1, "x",
					       &err),
			 -EEXIST);
	assert_non_null(strstr(err.message, "'s1' already"));
	assert_int_equal(ternd_db_snapshot_add(f->db, "nope", "s1",
					       VM_STATE_PAUSED, DOC, 1, "x",
					       &err),
			 -ENOENT);
	assert_int_equal(ternd_db_snapshot_add(f->db, "web", "s3",
					       VM_STATE_SHUT_OFF, DOC, 1, "x",
					       &err),
			 -EINVAL);
	/* Not JSON: the CHECK refuses it. */
	assert_int_not_equal(ternd_db_snapshot_add(f->db, "web", "s4",
						   VM_STATE_PAUSED, "{", 1, "x",
						   &err),
			     0);

	assert_int_equal(ternd_db_snapshot_get(f->db, "web", "s2", &s, &err),
			 0);
	assert_string_equal(s.vm, "web");
	assert_string_equal(s.name, "s2");
	assert_int_equal(s.state, VM_STATE_PAUSED);
	assert_string_equal(s.config, "{\"a\":1}");
	assert_true(s.created_at > 0);
	snapshot_record_free(&s);
	assert_int_equal(ternd_db_snapshot_get(f->db, "web", "s9", &s, &err),
			 -ENOENT);

	assert_int_equal(
		ternd_db_snapshot_list(f->db, "web", &list, &count, &err), 0);
	assert_int_equal(count, 2);
	assert_string_equal(list[0].name, "s1");
	assert_int_equal(list[0].state, VM_STATE_RUNNING);
	assert_string_equal(list[1].name, "s2");
	snapshot_records_free(list, count);
	assert_int_equal(
		ternd_db_snapshot_list(f->db, NULL, &list, &count, &err), 0);
	assert_int_equal(count, 3);
	assert_string_equal(list[0].vm, "db");
	snapshot_records_free(list, count);

	assert_int_equal(ternd_db_undefine(f->db, "web", &err), -EBUSY);
	assert_non_null(strstr(err.message, "2 snapshots (s1, s2)"));
	assert_non_null(strstr(err.message, "--snapshots-too"));
	{
		struct vm_record kept;

		assert_int_equal(ternd_db_get(f->db, "web", &kept, &err), 0);
		vm_record_free(&kept);
	}

	assert_int_equal(ternd_db_snapshot_remove(f->db, "web", "s1",
						  "snapshot 's1' deleted",
						  &err),
			 0);
	assert_int_equal(
		ternd_db_snapshot_remove(f->db, "web", "s1", "x", &err),
		-ENOENT);
	assert_int_equal(ternd_db_undefine(f->db, "web", &err), -EBUSY);
	assert_non_null(strstr(err.message, "1 snapshot (s2)"));
	assert_int_equal(
		ternd_db_snapshot_remove(f->db, "web", "s2", "x", &err), 0);
	assert_int_equal(ternd_db_undefine(f->db, "web", &err), 0);
	/* db's snapshot is its own. */
	assert_int_equal(ternd_db_snapshot_get(f->db, "db", "s1", &s, &err), 0);
	snapshot_record_free(&s);

	assert_int_equal(ternd_db_events(f->db, 0, 100, &events, &count, &err),
			 0);
	assert_true(count >= 7);
	assert_string_equal(events[2].kind, "snapshot-created");
	assert_string_equal(events[2].name, "web");
	assert_string_equal(events[2].reason, "snapshot 's1' created");
	assert_string_equal(events[count - 3].kind, "snapshot-deleted");
	assert_string_equal(events[count - 3].reason, "snapshot 's1' deleted");
	assert_string_equal(events[count - 1].kind, "undefined");
	free(events);
}

/* A version-3 database (before snapshots) becomes version 4: its VMs
 * and events stay, and snapshots can be added. */
static void a_version_3_database_is_upgraded(void **state)
{
	struct fixture *f = *state;
	struct ternd_event *events;
	struct snapshot_record s;
	struct tern_error err;
	struct vm_record r;
	sqlite3_stmt *st;
	size_t count;
	sqlite3 *sql;
	int created;

	assert_int_equal(ternd_db_define(f->db, "old", DOC, 1, NULL, NULL,
					 &created, &err),
			 0);
	ternd_db_close(f->db);
	f->db = NULL;
	assert_int_equal(sqlite3_open(f->path, &sql), SQLITE_OK);
	assert_int_equal(sqlite3_exec(sql,
				      "DROP TABLE snapshot;"
				      "PRAGMA user_version = 3;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(sql);

	assert_int_equal(ternd_db_open(f->path, &f->db, &err), 0);
	assert_int_equal(ternd_db_get(f->db, "old", &r, &err), 0);
	vm_record_free(&r);
	assert_int_equal(ternd_db_snapshot_add(f->db, "old", "first",
					       VM_STATE_RUNNING, DOC, 1, "x",
					       &err),
			 0);
	assert_int_equal(ternd_db_snapshot_get(f->db, "old", "first", &s, &err),
			 0);
	snapshot_record_free(&s);
	assert_int_equal(ternd_db_events(f->db, 0, 10, &events, &count, &err),
			 0);
	assert_int_equal(count, 2);
	assert_string_equal(events[0].kind, "defined");
	assert_int_equal(events[0].id, 1);
	assert_int_equal(events[1].id, 2);
	free(events);
	ternd_db_close(f->db);
	f->db = NULL;
	assert_int_equal(sqlite3_open(f->path, &sql), SQLITE_OK);
	assert_int_equal(
		sqlite3_prepare_v2(sql, "PRAGMA user_version", -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), TERND_DB_SCHEMA_VERSION);
	sqlite3_finalize(st);
	sqlite3_close(sql);
	assert_int_equal(ternd_db_open(f->path, &f->db, &err), 0);
}

/* A version-4 database (runtime states without a migration's) becomes
 * version 5: a running VM's record stays, and 'migrating' and 'incoming'
 * can be recorded; the CHECK still refuses other words. */
static void a_version_4_database_learns_the_migration_states(void **state)
{
	struct fixture *f = *state;
	struct vm_runtime rt = {.state = VM_STATE_RUNNING,
				.pid = 4242,
				.pid_start_time = 99,
				.api_socket = "/run/x.sock",
				.reason = "started"};
	struct tern_error err;
	struct vm_record r;
	sqlite3 *sql;
	int created;

	assert_int_equal(ternd_db_define(f->db, "web", DOC, 1, NULL, NULL,
					 &created, &err),
			 0);
	assert_int_equal(
		ternd_db_set_runtime(f->db, "web", &rt, "started", &err), 0);
	ternd_db_close(f->db);
	f->db = NULL;
	assert_int_equal(sqlite3_open(f->path, &sql), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(sql,
			     "CREATE TABLE old_runtime ("
			     " name TEXT PRIMARY KEY NOT NULL"
			     "  REFERENCES vm(name) ON DELETE CASCADE,"
			     " state TEXT NOT NULL"
			     "  CHECK (state IN ('shut off', 'running', "
			     "'paused')),"
			     " pid INTEGER, pid_start_time INTEGER,"
			     " api_socket TEXT,"
			     " reason TEXT NOT NULL DEFAULT '',"
			     " changed_at INTEGER NOT NULL);"
			     "INSERT INTO old_runtime SELECT * FROM vm_runtime;"
			     "DROP TABLE vm_runtime;"
			     "ALTER TABLE old_runtime RENAME TO vm_runtime;"
			     "PRAGMA user_version = 4;",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(sql);

	assert_int_equal(ternd_db_open(f->path, &f->db, &err), 0);
	assert_int_equal(ternd_db_get(f->db, "web", &r, &err), 0);
	assert_int_equal(r.runtime.state, VM_STATE_RUNNING);
	assert_int_equal(r.runtime.pid, 4242);
	assert_string_equal(r.runtime.api_socket, "/run/x.sock");
	vm_record_free(&r);
	rt.state = VM_STATE_MIGRATING;
	assert_int_equal(
		ternd_db_set_runtime(f->db, "web", &rt, "migrating", &err), 0);
	assert_int_equal(ternd_db_get(f->db, "web", &r, &err), 0);
	assert_int_equal(r.runtime.state, VM_STATE_MIGRATING);
	assert_string_equal(vm_state_name(r.runtime.state), "migrating");
	vm_record_free(&r);
	rt.state = VM_STATE_INCOMING;
	assert_int_equal(ternd_db_set_runtime(f->db, "web", &rt, NULL, &err),
			 0);
	assert_int_equal(ternd_db_get(f->db, "web", &r, &err), 0);
	assert_int_equal(r.runtime.state, VM_STATE_INCOMING);
	vm_record_free(&r);
	/* The undefine cascades to the copied table as to the old one. */
	assert_int_equal(ternd_db_undefine(f->db, "web", &err), 0);
	assert_int_equal(ternd_db_get(f->db, "web", &r, &err), -ENOENT);
}

static void migration_state_names(void **state)
{
	enum vm_state parsed;

	assert_int_equal(vm_state_parse("migrating", &parsed), 0);
	assert_int_equal(parsed, VM_STATE_MIGRATING);
	assert_int_equal(vm_state_parse("incoming", &parsed), 0);
	assert_int_equal(parsed, VM_STATE_INCOMING);
	assert_true(vm_state_active(VM_STATE_MIGRATING));
	assert_true(vm_state_migration(VM_STATE_INCOMING));
	assert_false(vm_state_migration(VM_STATE_RUNNING));
	assert_int_equal(vm_state_parse("migrated", &parsed), -1);
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
		cmocka_unit_test_setup_teardown(volumes_catalog_and_references,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			events_are_logged_with_their_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_version_1_database_is_upgraded, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_version_2_database_keeps_its_events, setup, teardown),
		cmocka_unit_test_setup_teardown(networks_catalog_and_taps,
						setup, teardown),
		cmocka_unit_test_setup_teardown(snapshots_catalog, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			a_version_3_database_is_upgraded, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_version_4_database_learns_the_migration_states, setup,
			teardown),
		cmocka_unit_test(migration_state_names),
		cmocka_unit_test(vm_names),
		cmocka_unit_test(definitions_are_checked_as_tern_would),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
