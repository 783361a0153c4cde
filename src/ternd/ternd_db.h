/* ternd's state: one SQLite database (STATE_DIR/ternd.db) holding every VM
 * definition (name, tern's configuration document as JSON, the document's
 * version, autostart) and each VM's runtime record (state, the tern
 * process's pid and start time, its API socket, why it last changed), the
 * pool's volume catalog with which VMs name which volume, and the event
 * log. Every change is one transaction, its event written in the same
 * one: a ternd killed at any moment leaves each change either wholly there
 * (event included) or not at all. The database's user_version is the
 * schema version; ternd_db_open() creates or upgrades it, and refuses a
 * newer one it does not know. */
#ifndef TERN_TERND_TERND_DB_H
#define TERN_TERND_TERND_DB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ternd/network_definition.h"
#include "ternd/vm_definition.h"
#include "ternd/vm_state.h"
#include "util/error.h"

#define TERND_DB_SCHEMA_VERSION 5
/* The event log keeps this many of the newest events. */
#define TERND_DB_EVENTS_KEPT 10000

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
	int autostart;
	struct vm_runtime runtime;
};

struct volume_record {
	char name[TERND_NAME_MAX + 1];
	char origin[TERND_NAME_MAX + 1]; /* cloned from; "" when created */
	int64_t created_at;
	/* The VMs whose definitions name it, comma-separated, by name. */
	char *used_by; /* malloc'd */
	int in_use; /* one of them is running or paused */
};

struct network_record {
	struct network_def def;
	int64_t defined_at;
	int active; /* started: its bridge (and NAT, dnsmasq) are up */
	pid_t dnsmasq_pid; /* 0 for none */
	uint64_t dnsmasq_start_time;
	char reason[160]; /* why it last changed */
	int64_t changed_at;
	/* The VMs whose definitions name it, comma-separated. */
	char *used_by; /* malloc'd */
	/* The VMs that have a tap on it now, comma-separated. */
	char *attached; /* malloc'd */
};

/* A tap ternd made for a VM (vm_tap): the VM's position-th interface that
 * names a network. */
struct tap_record {
	char tap[IFNAMSIZ];
	char vm[TERND_NAME_MAX + 1];
	char network[TERND_NAME_MAX + 1];
	int position;
	char mac[18]; /* the guest's, as text */
};

/* One line of the event log. object is "vm", "volume" or "network"; kind
 * one of defined, undefined, started, stopped, crashed, paused, resumed,
 * autostart (VMs), created, cloned, resized, deleted (volumes), defined,
 * undefined, started, stopped, dnsmasq (networks); snapshot-created,
 * snapshot-deleted, reverted, rebooted (VMs, snapshots.h, vm_reboot.h);
 * migrating, migrated, incoming, migrated-in, migration-failed (VMs,
 * vm_migration.h). */
struct ternd_event {
	int64_t id; /* increasing, never reused */
	int64_t at; /* Unix time */
	char object[8];
	char name[TERND_NAME_MAX + 1];
	char kind[24];
	char reason[200];
};

void vm_record_free(struct vm_record *record);
void network_record_free(struct network_record *record);
void network_records_free(struct network_record *records, size_t count);
void vm_records_free(struct vm_record *records, size_t count);
void volume_record_free(struct volume_record *record);
void volume_records_free(struct volume_record *records, size_t count);

int ternd_db_open(const char *path, struct ternd_db **db,
		  struct tern_error *err);
void ternd_db_close(struct ternd_db *db);

/* Creates the VM (runtime "shut off") or replaces its document, keeping
 * its runtime record; *created says which. volumes: the pool volumes the
 * document names, each of which must be in the catalog (-ENOENT naming it
 * otherwise); networks likewise, each of which must be defined. */
int ternd_db_define(struct ternd_db *db, const char *name, const char *config,
		    int config_version, const struct vm_volume_refs *volumes,
		    const struct vm_network_refs *networks, int *created,
		    struct tern_error *err);
/* Removes the definition and its runtime record. -ENOENT if unknown. */
int ternd_db_undefine(struct ternd_db *db, const char *name,
		      struct tern_error *err);
/* -ENOENT if unknown. */
int ternd_db_get(struct ternd_db *db, const char *name,
		 struct vm_record *record, struct tern_error *err);
/* Every VM, by name. */
int ternd_db_list(struct ternd_db *db, struct vm_record **records,
		  size_t *count, struct tern_error *err);
/* Replaces the runtime record (changed_at is set here) and, when event is
 * not NULL, logs that event with the record's reason. -ENOENT if the VM
 * is unknown. */
int ternd_db_set_runtime(struct ternd_db *db, const char *name,
			 const struct vm_runtime *runtime, const char *event,
			 struct tern_error *err);
int ternd_db_set_autostart(struct ternd_db *db, const char *name, int autostart,
			   struct tern_error *err);

/* Adds a volume to the catalog (kind "created" or "cloned", origin "" or
 * the source) with its event. -EEXIST if the name is taken. */
int ternd_db_volume_add(struct ternd_db *db, const char *name,
			const char *origin, const char *reason,
			struct tern_error *err);
/* Removes it, with its event; -EBUSY naming the VMs while definitions
 * name it, -ENOENT if unknown. */
int ternd_db_volume_remove(struct ternd_db *db, const char *name,
			   struct tern_error *err);
int ternd_db_volume_get(struct ternd_db *db, const char *name,
			struct volume_record *record, struct tern_error *err);
/* Every volume, by name. */
int ternd_db_volume_list(struct ternd_db *db, struct volume_record **records,
			 size_t *count, struct tern_error *err);

/* Adds a network (inactive) with its event. -EEXIST if the name or the
 * bridge is taken (by another network). */
int ternd_db_network_add(struct ternd_db *db, const struct network_def *def,
			 struct tern_error *err);
/* Removes an inactive network, with its event; -EBUSY while it is active
 * or a definition names it, -ENOENT if unknown. */
int ternd_db_network_remove(struct ternd_db *db, const char *name,
			    struct tern_error *err);
int ternd_db_network_get(struct ternd_db *db, const char *name,
			 struct network_record *record, struct tern_error *err);
/* Every network, by name. */
int ternd_db_network_list(struct ternd_db *db, struct network_record **records,
			  size_t *count, struct tern_error *err);
/* Records the network active or not, its dnsmasq (pid 0: none) and why;
 * logs event (NULL: none) with the reason. -ENOENT if unknown. */
int ternd_db_network_set_state(struct ternd_db *db, const char *name,
			       int active, pid_t dnsmasq_pid,
			       uint64_t dnsmasq_start_time, const char *reason,
			       const char *event, struct tern_error *err);

/* Records the taps a VM is about to get, in one transaction, before they
 * are created; -EEXIST if one is recorded already (another VM's tap with
 * the same name). */
int ternd_db_taps_add(struct ternd_db *db, const struct tap_record *taps,
		      size_t count, struct tern_error *err);
/* The taps recorded for vm (NULL: every VM), by VM and position. */
int ternd_db_taps_list(struct ternd_db *db, const char *vm,
		       struct tap_record **taps, size_t *count,
		       struct tern_error *err);
/* Forgets one tap, once it is deleted. */
int ternd_db_tap_remove(struct ternd_db *db, const char *tap,
			struct tern_error *err);

/* Logs an event on its own (a change the catalog does not hold, such as a
 * volume's new size). */
int ternd_db_event_add(struct ternd_db *db, const char *object,
		       const char *name, const char *kind, const char *reason,
		       struct tern_error *err);
/* The events after since (at most max), oldest first. */
int ternd_db_events(struct ternd_db *db, int64_t since, size_t max,
		    struct ternd_event **events, size_t *count,
		    struct tern_error *err);
/* The newest event's id, 0 for none. */
int64_t ternd_db_last_event_id(struct ternd_db *db);

/* A VM's snapshot in the catalog (snapshots.h has its files). */
struct snapshot_record {
	char vm[TERND_NAME_MAX + 1];
	char name[TERND_NAME_MAX + 1];
	enum vm_state state; /* the VM's when taken: running or paused */
	char *config; /* the VM's definition then; malloc'd */
	int config_version;
	int64_t created_at;
};

void snapshot_record_free(struct snapshot_record *record);
void snapshot_records_free(struct snapshot_record *records, size_t count);

/* Adds a snapshot whose files are complete, with its event (reason).
 * -ENOENT if the VM is unknown, -EEXIST if the VM has one of that name. */
int ternd_db_snapshot_add(struct ternd_db *db, const char *vm, const char *name,
			  enum vm_state state, const char *config,
			  int config_version, const char *reason,
			  struct tern_error *err);
/* Removes it, with its event; -ENOENT if unknown. */
int ternd_db_snapshot_remove(struct ternd_db *db, const char *vm,
			     const char *name, const char *reason,
			     struct tern_error *err);
/* -ENOENT if unknown. */
int ternd_db_snapshot_get(struct ternd_db *db, const char *vm, const char *name,
			  struct snapshot_record *record,
			  struct tern_error *err);
/* vm's snapshots (NULL: every VM's), oldest first. */
int ternd_db_snapshot_list(struct ternd_db *db, const char *vm,
			   struct snapshot_record **records, size_t *count,
			   struct tern_error *err);

#endif
