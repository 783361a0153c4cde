/* ternd's state: one SQLite database (STATE_DIR/ternd.db) holding every VM
 * definition (name, tern's configuration document as JSON, the document's
 * version) and each VM's runtime record (state, the tern process's pid and
 * start time, its API socket, why it last changed). Every change is one
 * transaction: a ternd killed at any moment leaves each definition either
 * wholly there or not at all. The database's user_version is the schema
 * version; ternd_db_open() creates or upgrades it, and refuses a newer
 * one it does not know. */
#ifndef TERN_TERND_TERND_DB_H
#define TERN_TERND_TERND_DB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ternd/vm_definition.h"
#include "ternd/vm_state.h"
#include "util/error.h"

#define TERND_DB_SCHEMA_VERSION 1

struct ternd_db;

struct vm_runtime {
	enum vm_state state;
	pid_t pid; /* 0 when shut off */
	/* /proc/PID/stat's starttime (clock ticks after boot): with the pid,
	 * names one process for ever, whatever reuses the pid later. */
	uint64_t pid_start_time;
	char api_socket[108]; /* "" when shut off */
	char reason[160]; /* why the state last changed */
	int64_t changed_at; /* Unix time */
};

struct vm_record {
	char name[VM_NAME_MAX + 1];
	char *config; /* the JSON document; malloc'd */
	int config_version;
	int64_t defined_at;
	struct vm_runtime runtime;
};

void vm_record_free(struct vm_record *record);
void vm_records_free(struct vm_record *records, size_t count);

int ternd_db_open(const char *path, struct ternd_db **db,
		  struct tern_error *err);
void ternd_db_close(struct ternd_db *db);

/* Creates the VM (runtime "shut off") or replaces its document, keeping
 * its runtime record; *created says which. */
int ternd_db_define(struct ternd_db *db, const char *name, const char *config,
		    int config_version, int *created, struct tern_error *err);
/* Removes the definition and its runtime record. -ENOENT if unknown. */
int ternd_db_undefine(struct ternd_db *db, const char *name,
		      struct tern_error *err);
/* -ENOENT if unknown. */
int ternd_db_get(struct ternd_db *db, const char *name,
		 struct vm_record *record, struct tern_error *err);
/* Every VM, by name. */
int ternd_db_list(struct ternd_db *db, struct vm_record **records,
		  size_t *count, struct tern_error *err);
/* Replaces the runtime record (changed_at is set here). -ENOENT if the VM
 * is unknown. */
int ternd_db_set_runtime(struct ternd_db *db, const char *name,
			 const struct vm_runtime *runtime,
			 struct tern_error *err);

#endif
