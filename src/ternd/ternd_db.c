#include "ternd/ternd_db.h"

#include <errno.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ternd/test_hooks.h"

struct ternd_db {
	sqlite3 *sql;
};

/* Each version's step, run in order from the database's version; a later
 * schema adds its own step and raises TERND_DB_SCHEMA_VERSION. */
static const char schema_v1[] =
	"CREATE TABLE vm ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" config TEXT NOT NULL CHECK (json_valid(config)),"
	" config_version INTEGER NOT NULL,"
	" defined_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"CREATE TABLE vm_runtime ("
	" name TEXT PRIMARY KEY NOT NULL"
	"  REFERENCES vm(name) ON DELETE CASCADE,"
	" state TEXT NOT NULL"
	"  CHECK (state IN ('shut off', 'running', 'paused')),"
	" pid INTEGER,"
	" pid_start_time INTEGER,"
	" api_socket TEXT,"
	" reason TEXT NOT NULL DEFAULT '',"
	" changed_at INTEGER NOT NULL);";

/* Version 2: autostart, the volume catalog (vm_volume: which definition
 * names which volume; its foreign keys keep a named volume from being
 * removed), the event log. AUTOINCREMENT: an event's id is never reused,
 * even after the oldest events are dropped, so "since ID" stays
 * meaningful. */
static const char schema_v2[] =
	"ALTER TABLE vm ADD COLUMN autostart INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE volume ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" origin TEXT NOT NULL DEFAULT '',"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE vm_volume ("
	" vm TEXT NOT NULL REFERENCES vm(name) ON DELETE CASCADE,"
	" volume TEXT NOT NULL REFERENCES volume(name),"
	" PRIMARY KEY (vm, volume));"
	"CREATE INDEX vm_volume_by_volume ON vm_volume(volume);"
	"CREATE TABLE event ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" at INTEGER NOT NULL,"
	" object TEXT NOT NULL CHECK (object IN ('vm', 'volume')),"
	" name TEXT NOT NULL,"
	" kind TEXT NOT NULL,"
	" reason TEXT NOT NULL DEFAULT '');";

/* Version 3: networks (network_definition.h), which definitions name which
 * network (vm_network, as vm_volume), and the taps ternd made for running
 * VMs (vm_tap: written before a tap is created and removed after it is
 * deleted, so a ternd killed in between knows what to clean up). The
 * event log's CHECK learns 'network': SQLite cannot alter a CHECK, so the
 * table is copied, its ids and AUTOINCREMENT counter kept. */
static const char schema_v3[] =
	"CREATE TABLE network ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind IN ('managed', 'bridge')),"
	" bridge TEXT NOT NULL UNIQUE,"
	" subnet TEXT NOT NULL DEFAULT '',"
	" nat INTEGER NOT NULL DEFAULT 0,"
	" dhcp INTEGER NOT NULL DEFAULT 0,"
	" defined_at INTEGER NOT NULL,"
	" active INTEGER NOT NULL DEFAULT 0,"
	" dnsmasq_pid INTEGER,"
	" dnsmasq_start_time INTEGER,"
	" reason TEXT NOT NULL DEFAULT '',"
	" changed_at INTEGER NOT NULL);"
	"CREATE TABLE vm_network ("
	" vm TEXT NOT NULL REFERENCES vm(name) ON DELETE CASCADE,"
	" network TEXT NOT NULL REFERENCES network(name),"
	" PRIMARY KEY (vm, network));"
	"CREATE INDEX vm_network_by_network ON vm_network(network);"
	"CREATE TABLE vm_tap ("
	" tap TEXT PRIMARY KEY NOT NULL,"
	" vm TEXT NOT NULL REFERENCES vm(name) ON DELETE CASCADE,"
	" network TEXT NOT NULL REFERENCES network(name),"
	" position INTEGER NOT NULL,"
	" mac TEXT NOT NULL);"
	"CREATE TABLE event_v3 ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" at INTEGER NOT NULL,"
	" object TEXT NOT NULL"
	"  CHECK (object IN ('vm', 'volume', 'network')),"
	" name TEXT NOT NULL,"
	" kind TEXT NOT NULL,"
	" reason TEXT NOT NULL DEFAULT '');"
	"INSERT INTO event_v3 SELECT id, at, object, name, kind, reason"
	" FROM event;"
	"DELETE FROM sqlite_sequence WHERE name = 'event_v3';"
	"INSERT INTO sqlite_sequence (name, seq)"
	" SELECT 'event_v3', seq FROM sqlite_sequence WHERE name = 'event';"
	"DROP TABLE event;"
	"ALTER TABLE event_v3 RENAME TO event;";

/* Version 4: the VMs' snapshots (snapshots.h): one row per snapshot whose
 * files are complete under DIR/vms/VM/snapshots/NAME/, with the
 * definition the VM had when it was taken (a revert starts tern from
 * it) and whether the VM was running or paused. The VM is a foreign key
 * without a cascade: a VM's row cannot go while it has snapshots. */
static const char schema_v4[] =
	"CREATE TABLE snapshot ("
	" vm TEXT NOT NULL REFERENCES vm(name),"
	" name TEXT NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('running', 'paused')),"
	" config TEXT NOT NULL CHECK (json_valid(config)),"
	" config_version INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" PRIMARY KEY (vm, name));";

/* Version 5: a VM's runtime state may be 'migrating' (the source of a
 * live migration) or 'incoming' (its destination, vm_migration.h). The
 * CHECK widens, which SQLite cannot alter: the table is copied. */
static const char schema_v5[] =
	"CREATE TABLE vm_runtime_v5 ("
	" name TEXT PRIMARY KEY NOT NULL"
	"  REFERENCES vm(name) ON DELETE CASCADE,"
	" state TEXT NOT NULL"
	"  CHECK (state IN ('shut off', 'running', 'paused', 'migrating',"
	"   'incoming')),"
	" pid INTEGER,"
	" pid_start_time INTEGER,"
	" api_socket TEXT,"
	" reason TEXT NOT NULL DEFAULT '',"
	" changed_at INTEGER NOT NULL);"
	"INSERT INTO vm_runtime_v5 SELECT name, state, pid, pid_start_time,"
	" api_socket, reason, changed_at FROM vm_runtime;"
	"DROP TABLE vm_runtime;"
	"ALTER TABLE vm_runtime_v5 RENAME TO vm_runtime;";

static int db_fail(struct ternd_db *db, struct tern_error *err,
		   const char *what)
{
	return tern_error_set(err, EIO, "state database: %s: %s", what,
			      sqlite3_errmsg(db->sql));
}

static int exec(struct ternd_db *db, const char *sql, struct tern_error *err)
{
	char *message = NULL;

	if (sqlite3_exec(db->sql, sql, NULL, NULL, &message) == SQLITE_OK)
		return 0;
	tern_error_set(err, EIO, "state database: %s", message ? message : "?");
	sqlite3_free(message);
	return -EIO;
}

static int begin(struct ternd_db *db, struct tern_error *err)
{
	/* IMMEDIATE: the write lock is taken now, so a second ternd on the
	 * same database waits (busy timeout) instead of failing mid-way. */
	return exec(db, "BEGIN IMMEDIATE", err);
}

/* Commits when ret is 0, else rolls back; returns the outcome. */
static int finish(struct ternd_db *db, int ret, struct tern_error *err)
{
	if (!ret)
		ret = exec(db, "COMMIT", err);
	if (ret)
		sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

static int vquery(struct ternd_db *db, sqlite3_stmt **st,
		  struct tern_error *err, const char *sql, const char *types,
		  va_list ap)
{
	int n = 1;

	if (sqlite3_prepare_v2(db->sql, sql, -1, st, NULL) != SQLITE_OK)
		return db_fail(db, err, "preparing a statement");
	for (const char *t = types; *t; t++, n++) {
		if (*t == 't') {
			const char *text = va_arg(ap, const char *);

			if (text)
				sqlite3_bind_text(*st, n, text, -1,
						  SQLITE_TRANSIENT);
		} else if (*t == 'i') {
			sqlite3_bind_int(*st, n, va_arg(ap, int));
		} else {
			sqlite3_bind_int64(*st, n, va_arg(ap, int64_t));
		}
	}
	return 0;
}

/* Prepares sql and binds one argument per letter of types: 't' text
 * (const char *, NULL binds NULL), 'i' int, 'l' int64_t. Bound values are
 * copied (SQLITE_TRANSIENT), so callers may pass any buffer. */
static int query(struct ternd_db *db, sqlite3_stmt **st, struct tern_error *err,
		 const char *sql, const char *types, ...)
{
	va_list ap;
	int ret;

	va_start(ap, types);
	ret = vquery(db, st, err, sql, types, ap);
	va_end(ap);
	return ret;
}

/* One statement that returns no rows: prepared and bound as query(),
 * run, finalized. */
static int run(struct ternd_db *db, struct tern_error *err, const char *sql,
	       const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc, ret;

	va_start(ap, types);
	ret = vquery(db, &st, err, sql, types, ap);
	va_end(ap);
	if (ret)
		return ret;
	rc = sqlite3_step(st);
	/* The message before finalizing, which resets it. */
	ret = rc == SQLITE_DONE ? 0 : db_fail(db, err, "writing");
	sqlite3_finalize(st);
	return ret;
}

/* 1 when the statement returns a row, 0 when none, else an error. */
static int exists(struct ternd_db *db, struct tern_error *err, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, err, "reading");
	return rc == SQLITE_ROW;
}

static int user_version(struct ternd_db *db, int *version,
			struct tern_error *err)
{
	sqlite3_stmt *st;
	int rc, ret = query(db, &st, err, "PRAGMA user_version", "");

	if (ret)
		return ret;
	rc = sqlite3_step(st);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW
		? 0
		: db_fail(db, err, "reading the schema version");
}

static int migrate(struct ternd_db *db, struct tern_error *err)
{
	int version, ret;
	char set_version[64];

	ret = begin(db, err);
	if (ret)
		return ret;
	ret = user_version(db, &version, err);
	if (!ret && version > TERND_DB_SCHEMA_VERSION)
		ret = tern_error_set(err, EPROTO,
				     "state database: schema version %d is "
				     "newer than this ternd's (%d): a newer "
				     "ternd wrote it",
				     version, TERND_DB_SCHEMA_VERSION);
	if (!ret && version < 1)
		ret = exec(db, schema_v1, err);
	if (!ret && version < 2)
		ret = exec(db, schema_v2, err);
	if (!ret && version < 3)
		ret = exec(db, schema_v3, err);
	if (!ret && version < 4)
		ret = exec(db, schema_v4, err);
	if (!ret && version < 5)
		ret = exec(db, schema_v5, err);
	if (!ret && version < TERND_DB_SCHEMA_VERSION) {
		snprintf(set_version, sizeof(set_version),
			 "PRAGMA user_version = %d", TERND_DB_SCHEMA_VERSION);
		ret = exec(db, set_version, err);
	}
	return finish(db, ret, err);
}

int ternd_db_open(const char *path, struct ternd_db **out,
		  struct tern_error *err)
{
	struct ternd_db *db = calloc(1, sizeof(*db));
	int ret;

	if (!db)
		return tern_error_set(err, ENOMEM, "out of memory");
	if (sqlite3_open_v2(path, &db->sql,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		ret = tern_error_set(err, EIO, "cannot open %s: %s", path,
				     db->sql ? sqlite3_errmsg(db->sql)
					     : "out of memory");
		ternd_db_close(db);
		return ret;
	}
	sqlite3_busy_timeout(db->sql, 5000);
	/* The write-ahead log with synchronous=FULL: a committed change
	 * survives a killed ternd and a host crash (the log is synced at
	 * each commit); an uncommitted one is gone when the database is
	 * next opened. A commit costs one fsync, where the rollback
	 * journal's cost three (the journal, the database, and the
	 * journal's removal): each start commits twice. A file system
	 * without shared memory maps keeps the rollback journal (SQLite
	 * answers the pragma with the mode it stays in). */
	ret = exec(db,
		   "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;"
		   "PRAGMA journal_mode = WAL;",
		   err);
	if (!ret)
		ret = migrate(db, err);
	if (ret) {
		ternd_db_close(db);
		return ret;
	}
	*out = db;
	return 0;
}

void ternd_db_close(struct ternd_db *db)
{
	if (!db)
		return;
	sqlite3_close(db->sql);
	free(db);
}

void vm_record_free(struct vm_record *record)
{
	free(record->config);
	record->config = NULL;
}

void vm_records_free(struct vm_record *records, size_t count)
{
	for (size_t i = 0; i < count; i++)
		vm_record_free(&records[i]);
	free(records);
}

void volume_record_free(struct volume_record *record)
{
	free(record->used_by);
	record->used_by = NULL;
}

void volume_records_free(struct volume_record *records, size_t count)
{
	for (size_t i = 0; i < count; i++)
		volume_record_free(&records[i]);
	free(records);
}

static const char *column_text(sqlite3_stmt *st, int col)
{
	const unsigned char *text = sqlite3_column_text(st, col);

	return text ? (const char *)text : "";
}

/* Reads one row of a statement into one element; frees it on error. */
typedef int (*row_reader)(struct ternd_db *db, sqlite3_stmt *st, void *out,
			  struct tern_error *err);

/* Every row of st (finalized here) read into a malloc'd array. */
static int collect(struct ternd_db *db, sqlite3_stmt *st, size_t elem_size,
		   row_reader read, void (*free_one)(void *), void **out,
		   size_t *count, struct tern_error *err)
{
	char *list = NULL;
	size_t n = 0;
	int rc, ret = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char *grown = realloc(list, (n + 1) * elem_size);

		if (!grown) {
			ret = tern_error_set(err, ENOMEM, "out of memory");
			break;
		}
		list = grown;
		ret = read(db, st, list + n * elem_size, err);
		if (ret)
			break;
		n++;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_fail(db, err, "reading");
	sqlite3_finalize(st);
	if (ret) {
		for (size_t i = 0; free_one && i < n; i++)
			free_one(list + i * elem_size);
		free(list);
		return ret;
	}
	*out = list;
	*count = n;
	return 0;
}

/* The one row st returns: 0, -ENOENT for none. */
static int collect_one(struct ternd_db *db, sqlite3_stmt *st, row_reader read,
		       void *out, struct tern_error *err)
{
	int rc = sqlite3_step(st), ret;

	if (rc == SQLITE_ROW)
		ret = read(db, st, out, err);
	else if (rc == SQLITE_DONE)
		ret = -ENOENT;
	else
		ret = db_fail(db, err, "reading");
	sqlite3_finalize(st);
	return ret;
}

/* Inside the caller's transaction, so an event is logged exactly when its
 * change is committed. The oldest events beyond TERND_DB_EVENTS_KEPT go. */
static int log_event(struct ternd_db *db, const char *object, const char *name,
		     const char *kind, const char *reason,
		     struct tern_error *err)
{
	int ret = run(db, err,
		      "INSERT INTO event (at, object, name, kind, reason)"
		      " VALUES (?1, ?2, ?3, ?4, ?5)",
		      "ltttt", (int64_t)time(NULL), object, name, kind,
		      reason ? reason : "");

	if (!ret)
		ret = run(db, err, "DELETE FROM event WHERE id <= ?1 - ?2",
			  "li", (int64_t)sqlite3_last_insert_rowid(db->sql),
			  TERND_DB_EVENTS_KEPT);
	return ret;
}

static int set_networks(struct ternd_db *db, const char *name,
			const struct vm_network_refs *networks,
			struct tern_error *err)
{
	sqlite3_stmt *st;
	int ret =
		run(db, err, "DELETE FROM vm_network WHERE vm = ?1", "t", name);

	for (size_t i = 0; !ret && networks && i < networks->count; i++) {
		const char *network = networks->names[i];

		ret = query(db, &st, err,
			    "SELECT 1 FROM network WHERE name = ?1", "t",
			    network);
		if (!ret)
			ret = exists(db, err, st);
		if (ret == 0)
			return tern_error_set(err, ENOENT,
					      "no network named '%s' "
					      "('ternctl net-list' lists them)",
					      network);
		if (ret > 0)
			ret = run(
				db, err,
				"INSERT OR IGNORE INTO vm_network (vm, network)"
				" VALUES (?1, ?2)",
				"tt", name, network);
	}
	return ret < 0 ? ret : 0;
}

static int set_volumes(struct ternd_db *db, const char *name,
		       const struct vm_volume_refs *volumes,
		       struct tern_error *err)
{
	sqlite3_stmt *st;
	int ret =
		run(db, err, "DELETE FROM vm_volume WHERE vm = ?1", "t", name);

	for (size_t i = 0; !ret && volumes && i < volumes->count; i++) {
		const char *volume = volumes->names[i];

		ret = query(db, &st, err,
			    "SELECT 1 FROM volume WHERE name = ?1", "t",
			    volume);
		if (!ret)
			ret = exists(db, err, st);
		if (ret == 0)
			return tern_error_set(
				err, ENOENT,
				"no volume named '%s' in the pool "
				"('ternctl vol-list' lists them)",
				volume);
		ret = run(db, err,
			  "INSERT INTO vm_volume (vm, volume) VALUES (?1, ?2)",
			  "tt", name, volume);
	}
	return ret < 0 ? ret : 0;
}

int ternd_db_define(struct ternd_db *db, const char *name, const char *config,
		    int config_version, const struct vm_volume_refs *volumes,
		    const struct vm_network_refs *networks, int *created,
		    struct tern_error *err)
{
	int64_t now = (int64_t)time(NULL);
	sqlite3_stmt *st;
	int found = 0, ret;

	ret = begin(db, err);
	if (ret)
		return ret;
	ret = query(db, &st, err, "SELECT 1 FROM vm WHERE name = ?1", "t",
		    name);
	if (!ret)
		ret = found = exists(db, err, st);
	if (ret > 0)
		ret = run(db, err,
			  "UPDATE vm SET config = ?2, config_version = ?3, "
			  "updated_at = ?4 WHERE name = ?1",
			  "ttil", name, config, config_version, now);
	else if (ret == 0)
		ret = run(db, err,
			  "INSERT INTO vm (name, config, config_version, "
			  "defined_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
			  "ttil", name, config, config_version, now);
	if (!ret && !found)
		ret = run(db, err,
			  "INSERT INTO vm_runtime (name, state, reason, "
			  "changed_at) VALUES (?1, 'shut off', 'defined', ?2)",
			  "tl", name, now);
	if (!ret)
		ret = set_volumes(db, name, volumes, err);
	if (!ret)
		ret = set_networks(db, name, networks, err);
	if (!ret)
		ret = log_event(db, "vm", name, "defined",
				found ? "redefined" : "defined", err);
	/* Written but not committed: a kill here must leave nothing. */
	ternd_test_kill_point("define");
	ret = finish(db, ret, err);
	if (!ret)
		*created = !found;
	return ret;
}

/* A VM with snapshots stays (snapshots.h deletes them first, when
 * asked): -EBUSY naming them and the way out. */
static int refuse_snapshots(struct ternd_db *db, const char *name,
			    struct tern_error *err)
{
	sqlite3_stmt *st;
	int rc,
		ret = query(db, &st, err,
			    "SELECT count(*), group_concat(name, ', ') FROM"
			    " (SELECT name FROM snapshot WHERE vm = ?1"
			    "  ORDER BY created_at, name)",
			    "t", name);

	if (ret)
		return ret;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		ret = db_fail(db, err, "reading");
	else if (sqlite3_column_int(st, 0) > 0)
		ret = tern_error_set(err, EBUSY,
				     "VM '%s' has %d snapshot%s (%.120s): "
				     "'ternctl undefine %s --snapshots-too' "
				     "deletes them with it",
				     name, sqlite3_column_int(st, 0),
				     sqlite3_column_int(st, 0) == 1 ? "" : "s",
				     column_text(st, 1), name);
	sqlite3_finalize(st);
	return ret;
}

int ternd_db_undefine(struct ternd_db *db, const char *name,
		      struct tern_error *err)
{
	int ret;

	ret = begin(db, err);
	if (ret)
		return ret;
	ret = refuse_snapshots(db, name, err);
	/* Every row explicitly: a database opened without foreign keys
	 * (the sqlite3 shell) must not keep an orphan. */
	if (!ret)
		ret = run(db, err, "DELETE FROM vm_runtime WHERE name = ?1",
			  "t", name);
	if (!ret)
		ret = run(db, err, "DELETE FROM vm_volume WHERE vm = ?1", "t",
			  name);
	if (!ret)
		ret = run(db, err, "DELETE FROM vm_network WHERE vm = ?1", "t",
			  name);
	if (!ret)
		ret = run(db, err, "DELETE FROM vm_tap WHERE vm = ?1", "t",
			  name);
	if (!ret)
		ret = run(db, err, "DELETE FROM vm WHERE name = ?1", "t", name);
	if (!ret && sqlite3_changes(db->sql) == 0)
		ret = -ENOENT;
	if (!ret)
		ret = log_event(db, "vm", name, "undefined", "undefined", err);
	return finish(db, ret, err);
}

static const char select_vm[] =
	"SELECT vm.name, vm.config, vm.config_version, vm.defined_at,"
	" r.state, r.pid, r.pid_start_time, r.api_socket, r.reason,"
	" r.changed_at, vm.autostart FROM vm"
	" JOIN vm_runtime AS r ON r.name = vm.name";

static int read_vm(struct ternd_db *db, sqlite3_stmt *st, void *out,
		   struct tern_error *err)
{
	struct vm_record *record = out;
	struct vm_runtime *rt = &record->runtime;

	memset(record, 0, sizeof(*record));
	snprintf(record->name, sizeof(record->name), "%s", column_text(st, 0));
	record->config = strdup(column_text(st, 1));
	if (!record->config)
		return tern_error_set(err, ENOMEM, "out of memory");
	record->config_version = sqlite3_column_int(st, 2);
	record->defined_at = sqlite3_column_int64(st, 3);
	if (vm_state_parse(column_text(st, 4), &rt->state)) {
		vm_record_free(record);
		return db_fail(db, err,
			       "a runtime record has an unknown state");
	}
	rt->pid = (pid_t)sqlite3_column_int64(st, 5);
	rt->pid_start_time = (uint64_t)sqlite3_column_int64(st, 6);
	snprintf(rt->api_socket, sizeof(rt->api_socket), "%s",
		 column_text(st, 7));
	snprintf(rt->reason, sizeof(rt->reason), "%s", column_text(st, 8));
	rt->changed_at = sqlite3_column_int64(st, 9);
	record->autostart = sqlite3_column_int(st, 10);
	return 0;
}

static void free_vm(void *record)
{
	vm_record_free(record);
}

int ternd_db_get(struct ternd_db *db, const char *name,
		 struct vm_record *record, struct tern_error *err)
{
	char sql[sizeof(select_vm) + 32];
	sqlite3_stmt *st;
	int ret;

	snprintf(sql, sizeof(sql), "%s WHERE vm.name = ?1", select_vm);
	ret = query(db, &st, err, sql, "t", name);
	return ret ? ret : collect_one(db, st, read_vm, record, err);
}

int ternd_db_list(struct ternd_db *db, struct vm_record **records,
		  size_t *count, struct tern_error *err)
{
	char sql[sizeof(select_vm) + 32];
	sqlite3_stmt *st;
	int ret;

	snprintf(sql, sizeof(sql), "%s ORDER BY vm.name", select_vm);
	ret = query(db, &st, err, sql, "");
	return ret ? ret
		   : collect(db, st, sizeof(**records), read_vm, free_vm,
			     (void **)records, count, err);
}

int ternd_db_set_runtime(struct ternd_db *db, const char *name,
			 const struct vm_runtime *rt, const char *event,
			 struct tern_error *err)
{
	int ret;

	ret = begin(db, err);
	if (ret)
		return ret;
	/* pid, its start time and the socket are NULL when shut off. */
	ret = run(db, err,
		  "UPDATE vm_runtime SET state = ?2, pid = nullif(?3, 0),"
		  " pid_start_time = CASE WHEN ?3 > 0 THEN ?4 END,"
		  " api_socket = CASE WHEN ?3 > 0 THEN ?5 END, reason = ?6,"
		  " changed_at = ?7 WHERE name = ?1",
		  "ttllttl", name, vm_state_name(rt->state),
		  (int64_t)(rt->pid > 0 ? rt->pid : 0),
		  (int64_t)rt->pid_start_time, rt->api_socket, rt->reason,
		  (int64_t)time(NULL));
	if (!ret && sqlite3_changes(db->sql) == 0)
		ret = -ENOENT;
	if (!ret && event)
		ret = log_event(db, "vm", name, event, rt->reason, err);
	return finish(db, ret, err);
}

int ternd_db_set_autostart(struct ternd_db *db, const char *name, int autostart,
			   struct tern_error *err)
{
	int ret;

	ret = begin(db, err);
	if (ret)
		return ret;
	ret = run(db, err, "UPDATE vm SET autostart = ?2 WHERE name = ?1", "ti",
		  name, autostart ? 1 : 0);
	if (!ret && sqlite3_changes(db->sql) == 0)
		ret = -ENOENT;
	if (!ret)
		ret = log_event(db, "vm", name, "autostart",
				autostart ? "autostart enabled"
					  : "autostart disabled",
				err);
	return finish(db, ret, err);
}

int ternd_db_volume_add(struct ternd_db *db, const char *name,
			const char *origin, const char *reason,
			struct tern_error *err)
{
	sqlite3_stmt *st;
	int ret;

	ret = begin(db, err);
	if (ret)
		return ret;
	ret = query(db, &st, err, "SELECT 1 FROM volume WHERE name = ?1", "t",
		    name);
	if (!ret)
		ret = exists(db, err, st);
	if (ret > 0)
		ret = tern_error_set(err, EEXIST,
				     "a volume named '%s' already exists",
				     name);
	if (!ret)
		ret = run(db, err,
			  "INSERT INTO volume (name, origin, created_at)"
			  " VALUES (?1, ?2, ?3)",
			  "ttl", name, origin ? origin : "",
			  (int64_t)time(NULL));
	if (!ret)
		ret = log_event(db, "volume", name,
				origin && origin[0] ? "cloned" : "created",
				reason, err);
	/* Written but not committed: a kill here must leave no volume. */
	ternd_test_kill_point("volume");
	return finish(db, ret, err);
}

static const char select_volume[] =
	"SELECT v.name, v.origin, v.created_at,"
	" (SELECT group_concat(vm, ',') FROM"
	"  (SELECT vm FROM vm_volume WHERE volume = v.name ORDER BY vm)),"
	" EXISTS (SELECT 1 FROM vm_volume AS u"
	"  JOIN vm_runtime AS r ON r.name = u.vm"
	"  WHERE u.volume = v.name AND r.state != 'shut off')"
	" FROM volume AS v";

static int read_volume(struct ternd_db *db, sqlite3_stmt *st, void *out,
		       struct tern_error *err)
{
	struct volume_record *record = out;

	memset(record, 0, sizeof(*record));
	snprintf(record->name, sizeof(record->name), "%s", column_text(st, 0));
	snprintf(record->origin, sizeof(record->origin), "%s",
		 column_text(st, 1));
	record->created_at = sqlite3_column_int64(st, 2);
	record->used_by = strdup(column_text(st, 3));
	record->in_use = sqlite3_column_int(st, 4);
	if (!record->used_by)
		return tern_error_set(err, ENOMEM, "out of memory");
	return 0;
}

static void free_volume(void *record)
{
	volume_record_free(record);
}

int ternd_db_volume_get(struct ternd_db *db, const char *name,
			struct volume_record *record, struct tern_error *err)
{
	char sql[sizeof(select_volume) + 32];
	sqlite3_stmt *st;
	int ret;

	snprintf(sql, sizeof(sql), "%s WHERE v.name = ?1", select_volume);
	ret = query(db, &st, err, sql, "t", name);
	return ret ? ret : collect_one(db, st, read_volume, record, err);
}

int ternd_db_volume_list(struct ternd_db *db, struct volume_record **records,
			 size_t *count, struct tern_error *err)
{
	char sql[sizeof(select_volume) + 32];
	sqlite3_stmt *st;
	int ret;

	snprintf(sql, sizeof(sql), "%s ORDER BY v.name", select_volume);
	ret = query(db, &st, err, sql, "");
	return ret ? ret
		   : collect(db, st, sizeof(**records), read_volume,
			     free_volume, (void **)records, count, err);
}

int ternd_db_volume_remove(struct ternd_db *db, const char *name,
			   struct tern_error *err)
{
	struct volume_record record = {0};
	int ret;

	ret = begin(db, err);
	if (ret)
		return ret;
	ret = ternd_db_volume_get(db, name, &record, err);
	if (!ret && record.used_by[0])
		ret = tern_error_set(err, EBUSY,
				     "volume '%s' is named by the definition "
				     "of %s: undefine or redefine first",
				     name, record.used_by);
	if (!ret)
		ret = run(db, err, "DELETE FROM volume WHERE name = ?1", "t",
			  name);
	if (!ret)
		ret = log_event(db, "volume", name, "deleted", "deleted", err);
	volume_record_free(&record);
	return finish(db, ret, err);
}

int ternd_db_event_add(struct ternd_db *db, const char *object,
		       const char *name, const char *kind, const char *reason,
		       struct tern_error *err)
{
	int ret = begin(db, err);

	if (ret)
		return ret;
	return finish(db, log_event(db, object, name, kind, reason, err), err);
}

static int read_event(struct ternd_db *db, sqlite3_stmt *st, void *out,
		      struct tern_error *err)
{
	struct ternd_event *ev = out;

	memset(ev, 0, sizeof(*ev));
	ev->id = sqlite3_column_int64(st, 0);
	ev->at = sqlite3_column_int64(st, 1);
	snprintf(ev->object, sizeof(ev->object), "%s", column_text(st, 2));
	snprintf(ev->name, sizeof(ev->name), "%s", column_text(st, 3));
	snprintf(ev->kind, sizeof(ev->kind), "%s", column_text(st, 4));
	snprintf(ev->reason, sizeof(ev->reason), "%s", column_text(st, 5));
	return 0;
}

int ternd_db_events(struct ternd_db *db, int64_t since, size_t max,
		    struct ternd_event **events, size_t *count,
		    struct tern_error *err)
{
	sqlite3_stmt *st;
	int ret = query(db, &st, err,
			"SELECT id, at, object, name, kind, reason FROM event"
			" WHERE id > ?1 ORDER BY id LIMIT ?2",
			"ll", since, (int64_t)max);

	return ret ? ret
		   : collect(db, st, sizeof(**events), read_event, NULL,
			     (void **)events, count, err);
}

int64_t ternd_db_last_event_id(struct ternd_db *db)
{
	sqlite3_stmt *st;
	int64_t id = 0;

	if (sqlite3_prepare_v2(db->sql, "SELECT max(id) FROM event", -1, &st,
			       NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

void network_record_free(struct network_record *record)
{
	free(record->used_by);
	free(record->attached);
	record->used_by = record->attached = NULL;
}

void network_records_free(struct network_record *records, size_t count)
{
	for (size_t i = 0; i < count; i++)
		network_record_free(&records[i]);
	free(records);
}

int ternd_db_network_add(struct ternd_db *db, const struct network_def *def,
			 struct tern_error *err)
{
	int64_t now = (int64_t)time(NULL);
	sqlite3_stmt *st;
	char subnet[24], other[TERND_NAME_MAX + 1] = "";
	int ret;

	network_subnet_text(def, subnet, sizeof(subnet));
	ret = begin(db, err);
	if (ret)
		return ret;
	ret = query(db, &st, err,
		    "SELECT name FROM network WHERE name = ?1 OR bridge = ?2",
		    "tt", def->name, def->bridge);
	if (!ret) {
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(other, sizeof(other), "%s",
				 column_text(st, 0));
		sqlite3_finalize(st);
	}
	if (!ret && !strcmp(other, def->name))
		ret = tern_error_set(err, EEXIST,
				     "a network named '%s' already exists",
				     def->name);
	else if (!ret && other[0])
		ret = tern_error_set(err, EEXIST,
				     "bridge %s belongs to network '%s' "
				     "already",
				     def->bridge, other);
	if (!ret)
		ret = run(
			db, err,
			"INSERT INTO network (name, kind, bridge, subnet, nat,"
			" dhcp, defined_at, reason, changed_at)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'defined', ?7)",
			"ttttiil", def->name, network_kind_name(def->kind),
			def->bridge, subnet, def->nat, def->dhcp, now);
	if (!ret)
		ret = log_event(db, "network", def->name, "defined", "defined",
				err);
	ternd_test_kill_point("network");
	return finish(db, ret, err);
}

static const char select_network[] =
	"SELECT n.name, n.kind, n.bridge, n.subnet, n.nat, n.dhcp,"
	" n.defined_at, n.active, n.dnsmasq_pid, n.dnsmasq_start_time,"
	" n.reason, n.changed_at,"
	" (SELECT group_concat(vm, ',') FROM"
	"  (SELECT vm FROM vm_network WHERE network = n.name ORDER BY vm)),"
	" (SELECT group_concat(vm, ',') FROM"
	"  (SELECT DISTINCT vm FROM vm_tap WHERE network = n.name"
	"   ORDER BY vm))"
	" FROM network AS n";

static int read_network(struct ternd_db *db, sqlite3_stmt *st, void *out,
			struct tern_error *err)
{
	struct network_record *r = out;
	struct network_def *def = &r->def;
	const char *subnet = column_text(st, 3);
	struct tern_error ignored;

	memset(r, 0, sizeof(*r));
	snprintf(def->name, sizeof(def->name), "%s", column_text(st, 0));
	if (network_kind_parse(column_text(st, 1), &def->kind))
		return db_fail(db, err, "a network has an unknown kind");
	snprintf(def->bridge, sizeof(def->bridge), "%s", column_text(st, 2));
	if (subnet[0] &&
	    network_subnet_parse(subnet, &def->subnet, &def->prefix, &ignored))
		return db_fail(db, err, "a network has a malformed subnet");
	def->nat = sqlite3_column_int(st, 4);
	def->dhcp = sqlite3_column_int(st, 5);
	r->defined_at = sqlite3_column_int64(st, 6);
	r->active = sqlite3_column_int(st, 7);
	r->dnsmasq_pid = (pid_t)sqlite3_column_int64(st, 8);
	r->dnsmasq_start_time = (uint64_t)sqlite3_column_int64(st, 9);
	snprintf(r->reason, sizeof(r->reason), "%s", column_text(st, 10));
	r->changed_at = sqlite3_column_int64(st, 11);
	r->used_by = strdup(column_text(st, 12));
	r->attached = strdup(column_text(st, 13));
	if (!r->used_by || !r->attached) {
		network_record_free(r);
		return tern_error_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

static void free_network(void *record)
{
	network_record_free(record);
}

int ternd_db_network_get(struct ternd_db *db, const char *name,
			 struct network_record *record, struct tern_error *err)
{
	char sql[sizeof(select_network) + 32];
	sqlite3_stmt *st;
	int ret;

	snprintf(sql, sizeof(sql), "%s WHERE n.name = ?1", select_network);
	ret = query(db, &st, err, sql, "t", name);
	return ret ? ret : collect_one(db, st, read_network, record, err);
}

int ternd_db_network_list(struct ternd_db *db, struct network_record **records,
			  size_t *count, struct tern_error *err)
{
	char sql[sizeof(select_network) + 32];
	sqlite3_stmt *st;
	int ret;

	snprintf(sql, sizeof(sql), "%s ORDER BY n.name", select_network);
	ret = query(db, &st, err, sql, "");
	return ret ? ret
		   : collect(db, st, sizeof(**records), read_network,
			     free_network, (void **)records, count, err);
}

int ternd_db_network_remove(struct ternd_db *db, const char *name,
			    struct tern_error *err)
{
	struct network_record r = {0};
	int ret = begin(db, err);

	if (ret)
		return ret;
	ret = ternd_db_network_get(db, name, &r, err);
	if (!ret && r.active)
		ret = tern_error_set(err, EBUSY,
				     "network '%s' is active: 'ternctl "
				     "net-destroy %s' first",
				     name, name);
	else if (!ret && r.used_by[0])
		ret = tern_error_set(err, EBUSY,
				     "network '%s' is named by the definition "
				     "of %s: undefine or redefine first",
				     name, r.used_by);
	if (!ret)
		ret = run(db, err, "DELETE FROM network WHERE name = ?1", "t",
			  name);
	if (!ret)
		ret = log_event(db, "network", name, "undefined", "undefined",
				err);
	network_record_free(&r);
	return finish(db, ret, err);
}

int ternd_db_network_set_state(struct ternd_db *db, const char *name,
			       int active, pid_t dnsmasq_pid,
			       uint64_t dnsmasq_start_time, const char *reason,
			       const char *event, struct tern_error *err)
{
	int ret = begin(db, err);

	if (ret)
		return ret;
	ret = run(db, err,
		  "UPDATE network SET active = ?2, dnsmasq_pid = nullif(?3, 0),"
		  " dnsmasq_start_time = CASE WHEN ?3 > 0 THEN ?4 END,"
		  " reason = ?5, changed_at = ?6 WHERE name = ?1",
		  "tilltl", name, active ? 1 : 0, (int64_t)dnsmasq_pid,
		  (int64_t)dnsmasq_start_time, reason, (int64_t)time(NULL));
	if (!ret && sqlite3_changes(db->sql) == 0)
		ret = -ENOENT;
	if (!ret && event)
		ret = log_event(db, "network", name, event, reason, err);
	return finish(db, ret, err);
}

int ternd_db_taps_add(struct ternd_db *db, const struct tap_record *taps,
		      size_t count, struct tern_error *err)
{
	sqlite3_stmt *st;
	int ret = begin(db, err);

	for (size_t i = 0; !ret && i < count; i++) {
		ret = query(db, &st, err, "SELECT 1 FROM vm_tap WHERE tap = ?1",
			    "t", taps[i].tap);
		if (!ret)
			ret = exists(db, err, st);
		if (ret > 0) {
			ret = tern_error_set(err, EEXIST,
					     "tap %s is recorded for another "
					     "VM already",
					     taps[i].tap);
			break;
		}
		if (!ret)
			ret = run(db, err,
				  "INSERT INTO vm_tap (tap, vm, network,"
				  " position, mac) VALUES (?1, ?2, ?3, ?4, ?5)",
				  "tttit", taps[i].tap, taps[i].vm,
				  taps[i].network, taps[i].position,
				  taps[i].mac);
	}
	return finish(db, ret, err);
}

static int read_tap(struct ternd_db *db, sqlite3_stmt *st, void *out,
		    struct tern_error *err)
{
	struct tap_record *t = out;

	(void)db;
	(void)err;
	memset(t, 0, sizeof(*t));
	snprintf(t->tap, sizeof(t->tap), "%s", column_text(st, 0));
	snprintf(t->vm, sizeof(t->vm), "%s", column_text(st, 1));
	snprintf(t->network, sizeof(t->network), "%s", column_text(st, 2));
	t->position = sqlite3_column_int(st, 3);
	snprintf(t->mac, sizeof(t->mac), "%s", column_text(st, 4));
	return 0;
}

int ternd_db_taps_list(struct ternd_db *db, const char *vm,
		       struct tap_record **taps, size_t *count,
		       struct tern_error *err)
{
	sqlite3_stmt *st;
	int ret = query(db, &st, err,
			"SELECT tap, vm, network, position, mac FROM vm_tap"
			" WHERE ?1 IS NULL OR vm = ?1 ORDER BY vm, position",
			"t", vm);

	return ret ? ret
		   : collect(db, st, sizeof(**taps), read_tap, NULL,
			     (void **)taps, count, err);
}

int ternd_db_tap_remove(struct ternd_db *db, const char *tap,
			struct tern_error *err)
{
	int ret = begin(db, err);

	if (!ret)
		ret = run(db, err, "DELETE FROM vm_tap WHERE tap = ?1", "t",
			  tap);
	return finish(db, ret, err);
}

/* Snapshots (schema version 4). */

int ternd_db_snapshot_add(struct ternd_db *db, const char *vm, const char *name,
			  enum vm_state state, const char *config,
			  int config_version, const char *reason,
			  struct tern_error *err)
{
	sqlite3_stmt *st;
	int ret;

	if (state != VM_STATE_RUNNING && state != VM_STATE_PAUSED)
		return tern_error_set(err, EINVAL,
				      "a snapshot is of a running or paused "
				      "VM");
	ret = begin(db, err);
	if (ret)
		return ret;
	ret = query(db, &st, err, "SELECT 1 FROM vm WHERE name = ?1", "t", vm);
	if (!ret)
		ret = exists(db, err, st);
	if (ret == 0)
		ret = tern_error_set(err, ENOENT, "no VM named '%s'", vm);
	else if (ret > 0)
		ret = query(
			db, &st, err,
			"SELECT 1 FROM snapshot WHERE vm = ?1 AND name = ?2",
			"tt", vm, name);
	if (!ret)
		ret = exists(db, err, st);
	if (ret > 0)
		ret = tern_error_set(err, EEXIST,
				     "VM '%s' has a snapshot named '%s' "
				     "already",
				     vm, name);
	if (!ret)
		ret = run(db, err,
			  "INSERT INTO snapshot (vm, name, state, config,"
			  " config_version, created_at)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
			  "ttttil", vm, name, vm_state_name(state), config,
			  config_version, (int64_t)time(NULL));
	if (!ret)
		ret = log_event(db, "vm", vm, "snapshot-created", reason, err);
	/* Written but not committed: a kill here must leave no snapshot. */
	ternd_test_kill_point("snapshot");
	return finish(db, ret, err);
}

int ternd_db_snapshot_remove(struct ternd_db *db, const char *vm,
			     const char *name, const char *reason,
			     struct tern_error *err)
{
	int ret = begin(db, err);

	if (ret)
		return ret;
	ret = run(db, err, "DELETE FROM snapshot WHERE vm = ?1 AND name = ?2",
		  "tt", vm, name);
	if (!ret && sqlite3_changes(db->sql) == 0)
		ret = -ENOENT;
	if (!ret)
		ret = log_event(db, "vm", vm, "snapshot-deleted", reason, err);
	return finish(db, ret, err);
}

static const char select_snapshot[] =
	"SELECT vm, name, state, config, config_version, created_at"
	" FROM snapshot";

static int read_snapshot(struct ternd_db *db, sqlite3_stmt *st, void *out,
			 struct tern_error *err)
{
	struct snapshot_record *record = out;

	(void)db;
	memset(record, 0, sizeof(*record));
	snprintf(record->vm, sizeof(record->vm), "%s", column_text(st, 0));
	snprintf(record->name, sizeof(record->name), "%s", column_text(st, 1));
	if (vm_state_parse(column_text(st, 2), &record->state))
		record->state = VM_STATE_PAUSED;
	record->config = strdup(column_text(st, 3));
	record->config_version = sqlite3_column_int(st, 4);
	record->created_at = sqlite3_column_int64(st, 5);
	if (!record->config)
		return tern_error_set(err, ENOMEM, "out of memory");
	return 0;
}

static void free_snapshot(void *record)
{
	snapshot_record_free(record);
}

void snapshot_record_free(struct snapshot_record *record)
{
	free(record->config);
	record->config = NULL;
}

void snapshot_records_free(struct snapshot_record *records, size_t count)
{
	for (size_t i = 0; i < count; i++)
		snapshot_record_free(&records[i]);
	free(records);
}

int ternd_db_snapshot_get(struct ternd_db *db, const char *vm, const char *name,
			  struct snapshot_record *record,
			  struct tern_error *err)
{
	char sql[sizeof(select_snapshot) + 48];
	sqlite3_stmt *st;
	int ret;

	snprintf(sql, sizeof(sql), "%s WHERE vm = ?1 AND name = ?2",
		 select_snapshot);
	ret = query(db, &st, err, sql, "tt", vm, name);
	return ret ? ret : collect_one(db, st, read_snapshot, record, err);
}

int ternd_db_snapshot_list(struct ternd_db *db, const char *vm,
			   struct snapshot_record **records, size_t *count,
			   struct tern_error *err)
{
	char sql[sizeof(select_snapshot) + 80];
	sqlite3_stmt *st;
	int ret;

	snprintf(sql, sizeof(sql),
		 "%s WHERE ?1 IS NULL OR vm = ?1 ORDER BY vm, created_at, name",
		 select_snapshot);
	ret = query(db, &st, err, sql, "t", vm);
	return ret ? ret
		   : collect(db, st, sizeof(**records), read_snapshot,
			     free_snapshot, (void **)records, count, err);
}
