#include "ternd/snapshots.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ternd/ternd_name.h"
#include "ternd/test_hooks.h"
#include "ternd/vm_api.h"
#include "ternd/vm_jail.h"
#include "ternd/vm_jail_files.h"
#include "util/log.h"

#define STATE_FILE "state"
#define MEM_FILE "mem"

/* DIR/vms/VM/snapshots and its entries. */
struct snap_paths {
	char root[4200]; /* .../snapshots */
	char dir[4300]; /* .../snapshots/SNAP */
	char pending[4300]; /* .../snapshots/.SNAP.new or .del */
	char state[4400], mem[4400]; /* the files, in dir */
};

static int paths_for(const struct vm_manager *m, const char *vm,
		     const char *snap, const char *pending_suffix,
		     struct snap_paths *p, struct tern_error *err)
{
	if (vm_manager_path(m, vm, VM_FILE_SNAPSHOTS, p->root, sizeof(p->root)))
		return tern_error_set(err, ENAMETOOLONG,
				      "VM '%s': the state directory's path is "
				      "too long",
				      vm);
	snprintf(p->dir, sizeof(p->dir), "%s/%s", p->root, snap);
	snprintf(p->pending, sizeof(p->pending), "%s/.%s.%s", p->root, snap,
		 pending_suffix ? pending_suffix : "new");
	snprintf(p->state, sizeof(p->state), "%s/" STATE_FILE, p->dir);
	snprintf(p->mem, sizeof(p->mem), "%s/" MEM_FILE, p->dir);
	return 0;
}

/* A snapshot directory holds files only (tern's two, and the temporary
 * file it renames its state file from): removed with them. */
static int remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int ret = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
			ret = -errno;
	}
	closedir(d);
	if (rmdir(path) < 0 && errno != ENOENT)
		ret = -errno;
	if (ret)
		log_warn("cannot remove %s: %s", path, strerror(-ret));
	return ret;
}

static int sync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

static int make_dir(const char *path, struct tern_error *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return tern_error_set(err, errno, "cannot create %s: %s", path,
				      strerror(errno));
	return 0;
}

static int check_snapshot_name(const char *snap, struct tern_error *err)
{
	return ternd_name_check("snapshot", snap, err);
}

static int no_such_snapshot(const char *vm, const char *snap,
			    struct tern_error *err)
{
	return tern_error_set(err, ENOENT,
			      "VM '%s' has no snapshot named '%s' ('ternctl "
			      "snapshot list %s' lists them)",
			      vm, snap, vm);
}

int snapshots_get(struct vm_manager *m, const char *vm, const char *snap,
		  struct snapshot_record *record, struct tern_error *err)
{
	struct vm_record r;
	int ret = vm_manager_get(m, vm, &r, err);

	if (ret)
		return ret;
	vm_record_free(&r);
	ret = check_snapshot_name(snap, err);
	if (ret)
		return ret;
	ret = ternd_db_snapshot_get(vm_manager_db(m), vm, snap, record, err);
	if (ret == -ENOENT)
		no_such_snapshot(vm, snap, err);
	return ret;
}

int snapshots_list(struct vm_manager *m, const char *vm,
		   struct snapshot_record **records, size_t *count,
		   struct tern_error *err)
{
	struct vm_record r;
	int ret = vm_manager_get(m, vm, &r, err);

	if (ret)
		return ret;
	vm_record_free(&r);
	return ternd_db_snapshot_list(vm_manager_db(m), vm, records, count,
				      err);
}

/* The space a file takes on disk (the memory file is sparse), 0 when it
 * is missing. */
static json_int_t disk_usage(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (json_int_t)st.st_blocks * 512;
}

json_t *snapshots_view(const struct vm_manager *m,
		       const struct snapshot_record *r, int with_config)
{
	struct tern_error err;
	struct snap_paths p;
	struct stat st;
	json_t *out;

	if (paths_for(m, r->vm, r->name, NULL, &p, &err))
		return NULL;
	out = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:b}", "name",
			r->name, "vm", r->vm, "state", vm_state_name(r->state),
			"created_at", (json_int_t)r->created_at, "directory",
			p.dir, "state_file", p.state, "memory_file", p.mem,
			"disk_usage", disk_usage(p.state) + disk_usage(p.mem),
			"files_present",
			!stat(p.state, &st) && !stat(p.mem, &st));
	if (out && with_config) {
		json_object_set_new(out, "config_version",
				    json_integer(r->config_version));
		json_object_set_new(out, "config",
				    json_loads(r->config, 0, NULL));
	}
	return out;
}

/* PUT /snapshot/create on the VM's own socket, with a long timeout: the
 * memory file is as large as the guest's RAM. dir is the directory as the
 * VM's tern sees it: the pending one, or in its jail. */
static int tern_snapshot(const char *api_socket, const char *dir,
			 struct tern_error *err)
{
	char state[4400], mem[4400];
	json_t *body;
	char *text;
	int ret;

	snprintf(state, sizeof(state), "%s/" STATE_FILE, dir);
	snprintf(mem, sizeof(mem), "%s/" MEM_FILE, dir);
	body = json_pack("{s:s, s:s, s:s}", "snapshot_path", state,
			 "mem_file_path", mem, "snapshot_type", "Full");
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return tern_error_set(err, ENOMEM, "out of memory");
	ret = vm_api_call_within(api_socket, "PUT", "/snapshot/create", text,
				 SNAPSHOT_CREATE_TIMEOUT_S, err);
	free(text);
	return ret;
}

/* A jailed tern writes into a directory of its jail (vm_jail_files.h);
 * its files are then moved into the pending directory, root's. */
static int jailed_snapshot(const struct vm_record *r,
			   const struct vm_jail_stage *stage,
			   const struct snap_paths *p, struct tern_error *err)
{
	struct vm_jail_stage st = *stage;
	int to = open(p->pending, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = to < 0 ? tern_error_set(err, errno, "cannot open %s: %s",
					  p->pending, strerror(errno))
			 : 0;

	if (!ret)
		ret = tern_snapshot(r->runtime.api_socket,
				    "/" VM_JAIL_SNAPSHOT_DIR, err);
	if (!ret)
		ret = vm_jail_stage_take(&st, MEM_FILE, to, p->pending, err);
	if (!ret)
		ret = vm_jail_stage_take(&st, STATE_FILE, to, p->pending, err);
	if (to >= 0)
		close(to);
	return ret;
}

/* The files and the directories that name them, on disk before the
 * catalog says the snapshot exists. */
static int sync_snapshot(const struct snap_paths *p, struct tern_error *err)
{
	char state[4400], mem[4400];
	int ret;

	snprintf(state, sizeof(state), "%s/" STATE_FILE, p->pending);
	snprintf(mem, sizeof(mem), "%s/" MEM_FILE, p->pending);
	ret = sync_path(mem, 0);
	if (!ret)
		ret = sync_path(state, 0);
	if (!ret)
		ret = sync_path(p->pending, O_DIRECTORY);
	if (!ret)
		ret = sync_path(p->root, O_DIRECTORY);
	if (ret)
		return tern_error_set(err, -ret,
				      "cannot write the snapshot's files in "
				      "%s: %s",
				      p->pending, strerror(-ret));
	return 0;
}

/* Pauses a running VM, has its tern write the files, and resumes it; the
 * VM's state then is *taken. */
static int write_files(const struct vm_record *r, const struct snap_paths *p,
		       const struct vm_jail_stage *stage, enum vm_state *taken,
		       struct tern_error *err)
{
	const char *sock = r->runtime.api_socket;
	struct tern_error resume_err;
	int ret = vm_api_state(sock, taken, err);

	if (ret)
		return tern_error_set(err, EREMOTEIO,
				      "VM '%s' does not answer on %s", r->name,
				      sock);
	if (*taken == VM_STATE_RUNNING)
		ret = vm_api_call(sock, "PATCH", "/vm",
				  "{\"state\": \"Paused\"}", err);
	if (!ret && stage)
		ret = jailed_snapshot(r, stage, p, err);
	else if (!ret)
		ret = tern_snapshot(sock, p->pending, err);
	if (*taken == VM_STATE_RUNNING &&
	    vm_api_call(sock, "PATCH", "/vm", "{\"state\": \"Resumed\"}",
			&resume_err))
		log_error("VM '%s': cannot resume it after its snapshot: %s",
			  r->name, resume_err.message);
	if (ret) {
		char why[sizeof(err->message)];

		snprintf(why, sizeof(why), "%s", err->message);
		tern_error_set(err, EREMOTEIO,
			       "the snapshot of VM '%s' failed: %s", r->name,
			       why);
	}
	return ret;
}

/* A free name after the time, as virsh names snapshots: "1765432100",
 * "1765432100-2" for a second one within the second. */
static int time_name(struct vm_manager *m, const char *vm, char *name,
		     struct tern_error *err)
{
	struct snapshot_record r;
	long long now = (long long)time(NULL);

	for (int i = 1; i < 100; i++) {
		if (i == 1)
			snprintf(name, TERND_NAME_MAX + 1, "%lld", now);
		else
			snprintf(name, TERND_NAME_MAX + 1, "%lld-%d", now, i);
		if (ternd_db_snapshot_get(vm_manager_db(m), vm, name, &r,
					  err) == -ENOENT)
			return 0;
		snapshot_record_free(&r);
	}
	return tern_error_set(err, EEXIST, "no free snapshot name");
}

int snapshots_create(struct vm_manager *m, const char *vm, const char *snap,
		     char *name_out, struct tern_error *err)
{
	struct snapshot_record existing;
	enum vm_state taken = VM_STATE_PAUSED;
	char name[TERND_NAME_MAX + 1], reason[200];
	struct snap_paths p;
	struct vm_record r;
	struct vm_jail_stage stage;
	char vm_dir[4200];
	struct stat st;
	int jailed = 0, ret = vm_manager_get(m, vm, &r, err);

	if (ret)
		return ret;
	if (vm_state_migration(r.runtime.state))
		ret = vm_manager_migration_busy(&r, err);
	else if (!vm_state_active(r.runtime.state))
		ret = tern_error_set(err, EBUSY,
				     "VM '%s' is shut off: a snapshot saves a "
				     "running or paused VM's memory and "
				     "devices, and a shut-off VM has none "
				     "('ternctl start %s' first)",
				     vm, vm);
	if (!ret && snap)
		ret = check_snapshot_name(snap, err);
	if (!ret && snap)
		snprintf(name, sizeof(name), "%s", snap);
	else if (!ret)
		ret = time_name(m, vm, name, err);
	if (!ret &&
	    !ternd_db_snapshot_get(vm_manager_db(m), vm, name, &existing,
				   err)) {
		snapshot_record_free(&existing);
		ret = tern_error_set(err, EEXIST,
				     "VM '%s' has a snapshot named '%s' "
				     "already",
				     vm, name);
	}
	if (!ret)
		ret = paths_for(m, vm, name, "new", &p, err);
	if (!ret && !lstat(p.dir, &st))
		ret = tern_error_set(err, EEXIST,
				     "%s is in the way, and ternd did not make "
				     "it (no snapshot '%s' in its catalog)",
				     p.dir, name);
	if (!ret && vm_manager_path(m, vm, VM_FILE_DIR, vm_dir, sizeof(vm_dir)))
		ret = tern_error_set(err, ENAMETOOLONG,
				     "VM '%s': path too long", vm);
	if (!ret) {
		/* A jailed VM's tern (the jail-dir it runs with, whatever
		 * this ternd's options) writes inside its jail. */
		ret = vm_jail_stage_open(vm_dir, &stage, err);
		jailed = !ret;
		if (ret == -ENOENT)
			ret = 0;
	}
	if (!ret)
		ret = make_dir(p.root, err);
	if (!ret) {
		/* Only a snapshot that failed mid-way leaves one (and the
		 * next start removes it). */
		remove_tree(p.pending);
		ret = make_dir(p.pending, err);
	}
	if (ret && jailed)
		vm_jail_stage_close(&stage);
	if (!ret) {
		ret = write_files(&r, &p, jailed ? &stage : NULL, &taken, err);
		/* Nothing of the snapshot stays in the jail. */
		if (jailed)
			vm_jail_stage_close(&stage);
		if (!ret)
			ret = sync_snapshot(&p, err);
		if (!ret) {
			snprintf(reason, sizeof(reason),
				 "snapshot '%s' created (the VM was %s)", name,
				 vm_state_name(taken));
			ret = ternd_db_snapshot_add(
				vm_manager_db(m), vm, name, taken, r.config,
				r.config_version, reason, err);
		}
		if (ret)
			remove_tree(p.pending);
	}
	vm_record_free(&r);
	if (ret)
		return ret;
	/* Committed: from here the snapshot exists, and a ternd killed
	 * before the rename finishes it at its next start. */
	ternd_test_kill_point("snapshot-rename");
	if (rename(p.pending, p.dir) < 0 || sync_path(p.root, O_DIRECTORY))
		log_error("VM '%s': snapshot '%s' is committed but %s could "
			  "not become %s: %s (the next ternd start finishes "
			  "it)",
			  vm, name, p.pending, p.dir, strerror(errno));
	log_info("VM '%s': snapshot '%s' created (%s)", vm, name,
		 vm_state_name(taken));
	if (name_out)
		snprintf(name_out, TERND_NAME_MAX + 1, "%s", name);
	return 0;
}

int snapshots_revert(struct vm_manager *m, const char *vm, const char *snap,
		     struct tern_error *err)
{
	struct snapshot_record s;
	char why[160], stop_why[160];
	struct vm_restore restore;
	struct snap_paths p;
	struct vm_record r;
	struct stat st;
	int created, ret = snapshots_get(m, vm, snap, &s, err);

	if (ret)
		return ret;
	ret = paths_for(m, vm, snap, NULL, &p, err);
	if (!ret && (stat(p.state, &st) || stat(p.mem, &st)))
		ret = tern_error_set(err, EIO,
				     "snapshot '%s' of VM '%s' has lost its "
				     "files (%s, %s): 'ternctl snapshot delete "
				     "%s %s' removes it",
				     snap, vm, p.state, p.mem, vm, snap);
	if (!ret)
		ret = vm_manager_get(m, vm, &r, err);
	if (ret) {
		snapshot_record_free(&s);
		return ret;
	}
	/* The definition first, while the VM is untouched: one the catalog
	 * refuses now (a volume or network gone since) stops the revert
	 * here. A running VM keeps its tern until it is stopped below. */
	if (vm_state_migration(r.runtime.state))
		ret = vm_manager_migration_busy(&r, err);
	else if (strcmp(r.config, s.config))
		ret = vm_manager_define(m, vm, s.config, strlen(s.config),
					&created, err);
	if (!ret && vm_state_active(r.runtime.state)) {
		snprintf(stop_why, sizeof(stop_why),
			 "stopped to revert to snapshot '%s'", snap);
		ret = vm_manager_stop(m, vm, stop_why, err);
	}
	vm_record_free(&r);
	snprintf(why, sizeof(why), "reverted to snapshot '%s'", snap);
	restore = (struct vm_restore){.snapshot_path = p.state,
				      .mem_path = p.mem,
				      .config = s.config,
				      .paused = s.state == VM_STATE_PAUSED,
				      .why = why,
				      .event = "reverted"};
	if (!ret)
		ret = vm_manager_start_restore(m, vm, &restore, err);
	snapshot_record_free(&s);
	if (!ret)
		log_info("VM '%s' %s", vm, why);
	return ret;
}

int snapshots_delete(struct vm_manager *m, const char *vm, const char *snap,
		     struct tern_error *err)
{
	struct snapshot_record s;
	char reason[160];
	struct snap_paths p;
	int moved, ret = snapshots_get(m, vm, snap, &s, err);

	if (ret)
		return ret;
	snapshot_record_free(&s);
	ret = paths_for(m, vm, snap, "del", &p, err);
	if (ret)
		return ret;
	moved = rename(p.dir, p.pending) == 0;
	if (!moved && errno != ENOENT)
		return tern_error_set(err, errno, "cannot move %s aside: %s",
				      p.dir, strerror(errno));
	/* Moved aside, not committed: a kill here keeps the snapshot. */
	ternd_test_kill_point("snapshot-delete");
	snprintf(reason, sizeof(reason), "snapshot '%s' deleted", snap);
	ret = ternd_db_snapshot_remove(vm_manager_db(m), vm, snap, reason, err);
	if (ret) {
		if (moved && rename(p.pending, p.dir) < 0)
			log_error("VM '%s': snapshot '%s' stays, but %s "
				  "could not go back to %s: %s (the next "
				  "ternd start puts it back)",
				  vm, snap, p.pending, p.dir, strerror(errno));
		return ret == -ENOENT ? no_such_snapshot(vm, snap, err) : ret;
	}
	remove_tree(p.pending);
	log_info("VM '%s': snapshot '%s' deleted", vm, snap);
	return 0;
}

int snapshots_delete_all(struct vm_manager *m, const char *vm,
			 struct tern_error *err)
{
	struct snapshot_record *list;
	size_t count;
	int ret = snapshots_list(m, vm, &list, &count, err);

	if (ret)
		return ret;
	for (size_t i = 0; !ret && i < count; i++)
		ret = snapshots_delete(m, vm, list[i].name, err);
	snapshot_records_free(list, count);
	return ret;
}

/* ".NAME.new" or ".NAME.del" with a valid NAME: copied into name. */
static const char *pending_kind(const char *entry, char *name)
{
	size_t len = strlen(entry);
	struct tern_error err;
	const char *kind;

	if (entry[0] != '.' || len < 6 || len - 5 > TERND_NAME_MAX)
		return NULL;
	kind = entry + len - 4;
	if (strcmp(kind, ".new") && strcmp(kind, ".del"))
		return NULL;
	memcpy(name, entry + 1, len - 5);
	name[len - 5] = '\0';
	if (ternd_name_check("snapshot", name, &err))
		return NULL;
	return kind + 1;
}

static void recover_vm(struct vm_manager *m, const char *vm)
{
	char name[TERND_NAME_MAX + 1], pending[4600];
	struct snapshot_record s;
	struct tern_error err;
	struct snap_paths p;
	struct dirent *e;
	struct stat st;
	const char *kind;
	DIR *d;

	if (paths_for(m, vm, "x", NULL, &p, &err))
		return;
	d = opendir(p.root);
	if (!d)
		return;
	while ((e = readdir(d))) {
		int committed;

		kind = pending_kind(e->d_name, name);
		if (!kind || paths_for(m, vm, name, NULL, &p, &err))
			continue;
		snprintf(pending, sizeof(pending), "%s/%s", p.root, e->d_name);
		committed = !ternd_db_snapshot_get(vm_manager_db(m), vm, name,
						   &s, &err);
		if (committed)
			snapshot_record_free(&s);
		/* In the catalog and not in place: a create that committed,
		 * a delete that did not. */
		if (committed && lstat(p.dir, &st) && errno == ENOENT &&
		    rename(pending, p.dir) == 0) {
			log_warn("VM '%s': snapshot '%s' was left as %s by an "
				 "interrupted %s; it is complete and is now %s",
				 vm, name, e->d_name,
				 strcmp(kind, "new") ? "delete" : "create",
				 p.dir);
			continue;
		}
		log_warn("VM '%s': %s was left by an interrupted snapshot %s; "
			 "removed",
			 vm, e->d_name,
			 strcmp(kind, "new") ? "delete" : "create");
		remove_tree(pending);
	}
	closedir(d);
}

void snapshots_recover(struct vm_manager *m)
{
	struct snapshot_record *snaps;
	struct vm_record *records;
	struct tern_error err;
	struct snap_paths p;
	struct stat st;
	size_t count;

	if (ternd_db_list(vm_manager_db(m), &records, &count, &err)) {
		log_error("snapshot recovery: %s", err.message);
		return;
	}
	for (size_t i = 0; i < count; i++)
		recover_vm(m, records[i].name);
	vm_records_free(records, count);
	if (ternd_db_snapshot_list(vm_manager_db(m), NULL, &snaps, &count,
				   &err))
		return;
	for (size_t i = 0; i < count; i++)
		if (!paths_for(m, snaps[i].vm, snaps[i].name, NULL, &p, &err) &&
		    stat(p.state, &st))
			log_warn("VM '%s': snapshot '%s' has no file %s "
				 "('ternctl snapshot delete %s %s' removes "
				 "it)",
				 snaps[i].vm, snaps[i].name, p.state,
				 snaps[i].vm, snaps[i].name);
	snapshot_records_free(snaps, count);
}
