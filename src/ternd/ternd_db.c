#include "ternd/ternd_db.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ternd/test_hooks.h"

struct ternd_db {
	sqlite3 *sql;
};

/* Version 1. A later schema adds its own step after this one and
 * raises TERND_DB_SCHEMA_VERSION. */
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

static int commit(struct ternd_db *db, struct tern_error *err)
{
	return exec(db, "COMMIT", err);
}

static void rollback(struct ternd_db *db)
{
	sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
}

static int user_version(struct ternd_db *db, int *version,
			struct tern_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db->sql, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return db_fail(db, err, "reading the schema version");
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
	if (!ret && version < TERND_DB_SCHEMA_VERSION) {
		snprintf(set_version, sizeof(set_version),
			 "PRAGMA user_version = %d", TERND_DB_SCHEMA_VERSION);
		ret = exec(db, set_version, err);
	}
	if (!ret)
		ret = commit(db, err);
	if (ret)
		rollback(db);
	return ret;
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
	/* The rollback journal with synchronous=FULL: a committed change
	 * survives a killed ternd and a host crash; an uncommitted one is
	 * rolled back when the database is next opened. */
	ret = exec(db,
		   "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;"
		   "PRAGMA journal_mode = DELETE;",
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

/* Bound values are copied (SQLITE_TRANSIENT), so callers may pass any
 * buffer. */
static int prepare(struct ternd_db *db, const char *sql, sqlite3_stmt **st,
		   struct tern_error *err)
{
	if (sqlite3_prepare_v2(db->sql, sql, -1, st, NULL) != SQLITE_OK)
		return db_fail(db, err, "preparing a statement");
	return 0;
}

static int step_done(struct ternd_db *db, sqlite3_stmt *st,
		     struct tern_error *err)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, err, "writing");
}

static int vm_exists(struct ternd_db *db, const char *name, int *exists,
		     struct tern_error *err)
{
	sqlite3_stmt *st;
	int rc, ret;

	ret = prepare(db, "SELECT 1 FROM vm WHERE name = ?1", &st, err);
	if (ret)
		return ret;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, err, "reading");
	*exists = rc == SQLITE_ROW;
	return 0;
}

static int insert_vm(struct ternd_db *db, const char *name, const char *config,
		     int config_version, int64_t now, struct tern_error *err)
{
	sqlite3_stmt *st;
	int ret;

	ret = prepare(db,
		      "INSERT INTO vm (name, config, config_version, "
		      "defined_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
		      &st, err);
	if (ret)
		return ret;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, config, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, config_version);
	sqlite3_bind_int64(st, 4, now);
	ret = step_done(db, st, err);
	if (ret)
		return ret;
	ret = prepare(db,
		      "INSERT INTO vm_runtime (name, state, reason, changed_at)"
		      " VALUES (?1, 'shut off', 'defined', ?2)",
		      &st, err);
	if (ret)
		return ret;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	return step_done(db, st, err);
}

static int update_vm(struct ternd_db *db, const char *name, const char *config,
		     int config_version, int64_t now, struct tern_error *err)
{
	sqlite3_stmt *st;
	int ret;

	ret = prepare(db,
		      "UPDATE vm SET config = ?2, config_version = ?3, "
		      "updated_at = ?4 WHERE name = ?1",
		      &st, err);
	if (ret)
		return ret;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, config, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, config_version);
	sqlite3_bind_int64(st, 4, now);
	return step_done(db, st, err);
}

int ternd_db_define(struct ternd_db *db, const char *name, const char *config,
		    int config_version, int *created, struct tern_error *err)
{
	int64_t now = (int64_t)time(NULL);
	int exists = 0, ret;

	ret = begin(db, err);
	if (ret)
		return ret;
	ret = vm_exists(db, name, &exists, err);
	if (!ret)
		ret = exists
			? update_vm(db, name, config, config_version, now, err)
			: insert_vm(db, name, config, config_version, now, err);
	/* Written but not committed: a kill here must leave nothing. */
	ternd_test_kill_point("define");
	if (!ret)
		ret = commit(db, err);
	if (ret) {
		rollback(db);
		return ret;
	}
	*created = !exists;
	return 0;
}

int ternd_db_undefine(struct ternd_db *db, const char *name,
		      struct tern_error *err)
{
	sqlite3_stmt *st;
	int ret;

	ret = begin(db, err);
	if (ret)
		return ret;
	/* Both rows explicitly: a database opened without foreign keys
	 * (the sqlite3 shell) must not keep an orphan runtime row. */
	ret = prepare(db, "DELETE FROM vm_runtime WHERE name = ?1", &st, err);
	if (!ret) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		ret = step_done(db, st, err);
	}
	if (!ret)
		ret = prepare(db, "DELETE FROM vm WHERE name = ?1", &st, err);
	if (!ret) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		ret = step_done(db, st, err);
	}
	if (!ret && sqlite3_changes(db->sql) == 0)
		ret = -ENOENT;
	if (!ret)
		ret = commit(db, err);
	if (ret)
		rollback(db);
	return ret;
}

static const char select_vm[] =
	"SELECT vm.name, vm.config, vm.config_version, vm.defined_at,"
	" r.state, r.pid, r.pid_start_time, r.api_socket, r.reason,"
	" r.changed_at FROM vm JOIN vm_runtime AS r ON r.name = vm.name";

static const char *column_text(sqlite3_stmt *st, int col)
{
	const unsigned char *text = sqlite3_column_text(st, col);

	return text ? (const char *)text : "";
}

static int read_row(struct ternd_db *db, sqlite3_stmt *st,
		    struct vm_record *record, struct tern_error *err)
{
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
	return 0;
}

int ternd_db_get(struct ternd_db *db, const char *name,
		 struct vm_record *record, struct tern_error *err)
{
	char sql[sizeof(select_vm) + 32];
	sqlite3_stmt *st;
	int rc, ret;

	snprintf(sql, sizeof(sql), "%s WHERE vm.name = ?1", select_vm);
	ret = prepare(db, sql, &st, err);
	if (ret)
		return ret;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		ret = read_row(db, st, record, err);
	else if (rc == SQLITE_DONE)
		ret = -ENOENT;
	else
		ret = db_fail(db, err, "reading");
	sqlite3_finalize(st);
	return ret;
}

int ternd_db_list(struct ternd_db *db, struct vm_record **records,
		  size_t *count, struct tern_error *err)
{
	char sql[sizeof(select_vm) + 32];
	struct vm_record *list = NULL;
	size_t n = 0;
	sqlite3_stmt *st;
	int rc, ret;

	snprintf(sql, sizeof(sql), "%s ORDER BY vm.name", select_vm);
	ret = prepare(db, sql, &st, err);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct vm_record *grown =
			realloc(list, (n + 1) * sizeof(*list));

		if (!grown) {
			ret = tern_error_set(err, ENOMEM, "out of memory");
			break;
		}
		list = grown;
		ret = read_row(db, st, &list[n], err);
		if (ret)
			break;
		n++;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_fail(db, err, "reading");
	sqlite3_finalize(st);
	if (ret) {
		vm_records_free(list, n);
		return ret;
	}
	*records = list;
	*count = n;
	return 0;
}

int ternd_db_set_runtime(struct ternd_db *db, const char *name,
			 const struct vm_runtime *rt, struct tern_error *err)
{
	sqlite3_stmt *st;
	int ret;

	ret = begin(db, err);
	if (ret)
		return ret;
	ret = prepare(db,
		      "UPDATE vm_runtime SET state = ?2, pid = ?3,"
		      " pid_start_time = ?4, api_socket = ?5, reason = ?6,"
		      " changed_at = ?7 WHERE name = ?1",
		      &st, err);
	if (!ret) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, vm_state_name(rt->state), -1,
				  SQLITE_TRANSIENT);
		if (rt->pid > 0) {
			sqlite3_bind_int64(st, 3, rt->pid);
			sqlite3_bind_int64(st, 4, (int64_t)rt->pid_start_time);
			sqlite3_bind_text(st, 5, rt->api_socket, -1,
					  SQLITE_TRANSIENT);
		}
		sqlite3_bind_text(st, 6, rt->reason, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 7, (int64_t)time(NULL));
		ret = step_done(db, st, err);
	}
	if (!ret && sqlite3_changes(db->sql) == 0)
		ret = -ENOENT;
	if (!ret)
		ret = commit(db, err);
	if (ret)
		rollback(db);
	return ret;
}
