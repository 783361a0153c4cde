#include "ternd/vm_manager.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ternd/net_link.h"
#include "ternd/networks.h"
#include "ternd/snapshots.h"
#include "ternd/test_hooks.h"
#include "ternd/ternd_stats.h"
#include "ternd/vm_consoles.h"
#include "ternd/vm_api.h"
#include "ternd/vm_jail.h"
#include "ternd/vm_migration.h"
#include "ternd/vm_process.h"
#include "util/log.h"
#include "util/last_line.h"

/* A VM whose tern process ternd follows (running or paused). */
struct live_vm {
	char name[VM_NAME_MAX + 1];
	struct vm_process proc;
};

struct vm_manager {
	char state_dir[4096];
	char tern_path[4096];
	struct volume_pool pool;
	struct ternd_db *db;
	struct networks *nets;
	struct vm_consoles *consoles;
	struct live_vm *live;
	size_t live_count;
	const struct vm_jail_config *jail; /* NULL: no jails */
	struct vm_migrations *migrations; /* vm_migration.h */
	struct pending_start *starts; /* tern launched, not yet answering */
	size_t start_count;
};

/* A start whose tern has not answered yet: the loop probes it
 * (vm_manager_reap), so a boot holds no request and no other start. */
struct pending_start {
	char name[VM_NAME_MAX + 1];
	pid_t pid; /* its tern's: a later start of the name is another */
	char api_socket[108];
	char why[96], event[32];
	int incoming;
	int64_t began_us, launched_us; /* ternd_stats_now_us() */
	int64_t deadline_ms, next_probe_ms; /* monotonic */
	int interval_ms, probes;
	int probing; /* probe_start() is at it: record_exit leaves it */
	vm_start_done done; /* NULL: nobody waits (autostart, adopted) */
	const char *what; /* for the log without done: "autostart", ... */
	void *opaque;
};

/* The first probe soon after the launch, then less often: tern answers
 * within milliseconds on real hardware, and a probe of a tern not yet
 * listening is a stat() or a refused connect. */
#define START_PROBE_FIRST_MS 2
#define START_PROBE_MAX_MS 25

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct pending_start *find_start(struct vm_manager *m, const char *name)
{
	for (size_t i = 0; i < m->start_count; i++)
		if (!strcmp(m->starts[i].name, name))
			return &m->starts[i];
	return NULL;
}

static int add_start(struct vm_manager *m, const struct pending_start *p,
		     struct tern_error *err)
{
	struct pending_start *grown =
		realloc(m->starts, (m->start_count + 1) * sizeof(*m->starts));

	if (!grown)
		return tern_error_set(err, ENOMEM, "out of memory");
	m->starts = grown;
	grown[m->start_count++] = *p;
	return 0;
}

static void remove_start(struct vm_manager *m, struct pending_start *p)
{
	size_t i = (size_t)(p - m->starts);

	memmove(&m->starts[i], &m->starts[i + 1],
		(m->start_count - i - 1) * sizeof(*m->starts));
	m->start_count--;
}

static const char *const file_names[] = {
	[VM_FILE_DIR] = "",
	[VM_FILE_CONFIG] = "/config.json",
	[VM_FILE_API_SOCKET] = "/api.sock",
	[VM_FILE_LOG] = "/tern.log",
	[VM_FILE_CONSOLE] = "/console.log",
	[VM_FILE_CONSOLE_SOCKET] = "/console.sock",
	[VM_FILE_SNAPSHOTS] = "/snapshots",
	[VM_FILE_MIGRATION_LOG] = "/migration.log",
};

int vm_manager_path(const struct vm_manager *m, const char *name,
		    enum vm_file file, char *buf, size_t size)
{
	size_t need = strlen(m->state_dir) + strlen("/vms/") + strlen(name) +
		strlen(file_names[file]);

	if (need >= size)
		return -ENAMETOOLONG;
	strcpy(buf, m->state_dir);
	strcat(buf, "/vms/");
	strcat(buf, name);
	strcat(buf, file_names[file]);
	return 0;
}

static struct live_vm *find_live(struct vm_manager *m, const char *name)
{
	for (size_t i = 0; i < m->live_count; i++)
		if (!strcmp(m->live[i].name, name))
			return &m->live[i];
	return NULL;
}

static int add_live(struct vm_manager *m, const char *name,
		    const struct vm_process *proc, struct tern_error *err)
{
	struct live_vm *grown =
		realloc(m->live, (m->live_count + 1) * sizeof(*m->live));

	if (!grown)
		return tern_error_set(err, ENOMEM, "out of memory");
	m->live = grown;
	snprintf(grown[m->live_count].name, sizeof(grown->name), "%s", name);
	grown[m->live_count].proc = *proc;
	m->live_count++;
	return 0;
}

static void remove_live(struct vm_manager *m, struct live_vm *vm)
{
	size_t i = (size_t)(vm - m->live);

	memmove(&m->live[i], &m->live[i + 1],
		(m->live_count - i - 1) * sizeof(*m->live));
	m->live_count--;
}

static struct vm_runtime shut_off(const char *reason)
{
	struct vm_runtime rt = {.state = VM_STATE_SHUT_OFF};

	snprintf(rt.reason, sizeof(rt.reason), "%s", reason);
	return rt;
}

/* A jailed VM's jail and cgroup, once its tern is gone. */
static void jail_cleanup(struct vm_manager *m, const char *name)
{
	char dir[4200];

	if (!vm_manager_path(m, name, VM_FILE_DIR, dir, sizeof(dir)))
		vm_jail_cleanup(dir);
}

static void end_start(struct vm_manager *m, const char *name,
		      const char *reason, int asked);
static void serve_starts(struct vm_manager *m);

/* Records the end of a followed VM's process and stops following it. */
static void record_exit(struct vm_manager *m, struct live_vm *vm,
			const char *why, int asked)
{
	struct tern_error err;
	char how[64], reason[160];
	struct vm_runtime rt;
	int clean = vm_process_finish(&vm->proc, how, sizeof(how));
	const char *event = asked || clean ? "stopped" : "crashed";

	/* A tern that ends on its own while its start waits failed to start,
	 * whichever of the loop's exit watch and the start's probe sees it
	 * first (probe_start says the same). */
	if (!asked && find_start(m, vm->name))
		why = "failed to start";
	snprintf(reason, sizeof(reason), "%s (tern %s)", why, how);
	/* A migration's end: "migrated to ...", or why it failed. */
	vm_migrations_tern_exited(m->migrations, vm->name, clean, asked, how,
				  reason, sizeof(reason), &event);
	rt = shut_off(reason);
	/* What the guest said last is logged before the console goes. */
	vm_consoles_vm_stopped(m->consoles, vm->name);
	/* Its tern is gone, so its taps can go (and must: a tap names the
	 * VM's MAC on the bridge). */
	networks_vm_taps_down(m->nets, vm->name);
	jail_cleanup(m, vm->name);
	/* A crash: an end ternd did not ask for, other than status 0. */
	if (ternd_db_set_runtime(m->db, vm->name, &rt, event, &err))
		log_error("VM '%s' stopped, but recording it failed: %s",
			  vm->name, err.message);
	log_info("VM '%s' is shut off: %s", vm->name, reason);
	end_start(m, vm->name, reason, asked);
	remove_live(m, vm);
}

size_t vm_manager_poll_count(const struct vm_manager *m)
{
	return m->live_count + networks_poll_count(m->nets) +
		vm_consoles_poll_count(m->consoles) +
		vm_migrations_poll_count(m->migrations);
}

int vm_manager_timeout_ms(const struct vm_manager *m)
{
	int migrations = vm_migrations_timeout_ms(m->migrations);
	int starts = vm_manager_starts_timeout_ms(m);

	if (starts < 0 || (migrations >= 0 && migrations < starts))
		return migrations;
	return starts;
}

void vm_manager_poll_fill(struct vm_manager *m, struct pollfd *fds)
{
	for (size_t i = 0; i < m->live_count; i++)
		fds[i] = (struct pollfd){.fd = m->live[i].proc.pidfd,
					 .events = POLLIN};
	networks_poll_fill(m->nets, fds + m->live_count);
	vm_consoles_poll_fill(m->consoles,
			      fds + m->live_count +
				      networks_poll_count(m->nets));
	vm_migrations_poll_fill(m->migrations,
				fds + m->live_count +
					networks_poll_count(m->nets) +
					vm_consoles_poll_count(m->consoles));
}

void vm_manager_reap(struct vm_manager *m, const struct pollfd *fds)
{
	/* Counted before anything below changes the counts. */
	const struct pollfd *migration_fds = fds + m->live_count +
		networks_poll_count(m->nets) +
		vm_consoles_poll_count(m->consoles);
	size_t migration_count = vm_migrations_poll_count(m->migrations);

	/* The consoles first: an exit below drops its console. */
	vm_consoles_serve(m->consoles,
			  fds + m->live_count + networks_poll_count(m->nets));
	/* Then the starts: a tern that ended while starting is a failed
	 * start, with its log's last line. */
	serve_starts(m);
	for (size_t i = 0; i < m->live_count;) {
		if (vm_process_exited(&m->live[i].proc))
			record_exit(m, &m->live[i], "its tern process ended",
				    0);
		else
			i++;
	}
	networks_reap(m->nets);
	vm_migrations_reap(m, migration_fds, migration_count);
}

static int connect_console(struct vm_manager *m, const char *name,
			   struct tern_error *err)
{
	char socket_path[4200], log_path[4200];

	vm_manager_path(m, name, VM_FILE_CONSOLE_SOCKET, socket_path,
			sizeof(socket_path));
	vm_manager_path(m, name, VM_FILE_CONSOLE, log_path, sizeof(log_path));
	return vm_consoles_attach(m->consoles, name, socket_path, log_path,
				  err);
}

/* The VM's console: ternd relays it for as long as the VM runs. */
static void attach_console(struct vm_manager *m, const char *name)
{
	struct tern_error err;

	/* A jailed tern writes its console to a file (see start). */
	if (m->jail)
		return;
	if (connect_console(m, name, &err))
		log_warn("VM '%s' has no console through ternd: %s", name,
			 err.message);
}

int vm_manager_attach_console(struct vm_manager *m, const char *name,
			      struct tern_error *err)
{
	char why[sizeof(err->message)];

	if (vm_consoles_has(m->consoles, name))
		return 0;
	if (m->jail)
		return tern_error_set(err, EBUSY,
				      "VM '%s' is jailed: its console is the "
				      "file console.log in its state "
				      "directory; ternctl console does not "
				      "reach into jails yet",
				      name);
	if (!connect_console(m, name, err)) {
		log_info("VM '%s': console connection to its tern made", name);
		return 0;
	}
	snprintf(why, sizeof(why), "%s", err->message);
	return tern_error_set(err, EBUSY,
			      "VM '%s' has no console: %s (a VM started by an "
			      "older ternd has none until it is restarted)",
			      name, why);
}

/* A VM whose start an earlier ternd did not see through (killed while
 * its tern set up): followed as any start, finished when its tern
 * answers, or ended and recorded shut off when it does not in time. */
static void adopt_start(struct vm_manager *m, const struct vm_record *r)
{
	struct pending_start p = {
		.pid = r->runtime.pid,
		.began_us = ternd_stats_now_us(),
		.launched_us = ternd_stats_now_us(),
		.deadline_ms = monotonic_ms() + VM_START_TIMEOUT_MS,
		.next_probe_ms = monotonic_ms(),
		.interval_ms = START_PROBE_FIRST_MS,
	};
	struct tern_error err;

	snprintf(p.name, sizeof(p.name), "%s", r->name);
	snprintf(p.api_socket, sizeof(p.api_socket), "%s",
		 r->runtime.api_socket);
	snprintf(p.why, sizeof(p.why), "started (its start adopted by ternd)");
	snprintf(p.event, sizeof(p.event), "started");
	p.what = "adopted start";
	log_info("VM '%s' (pid %d) was starting when ternd stopped: its start "
		 "goes on",
		 r->name, (int)r->runtime.pid);
	if (add_start(m, &p, &err))
		log_error("VM '%s': %s", r->name, err.message);
}

static void reattach_one(struct vm_manager *m, const struct vm_record *r)
{
	const struct vm_runtime *rec = &r->runtime;
	struct vm_runtime rt = *rec;
	struct tern_error err;
	struct vm_process proc;
	enum vm_state now;

	if (vm_process_attach(rec->pid, rec->pid_start_time, rec->api_socket,
			      &proc)) {
		rt = shut_off("stopped while ternd was not running");
		log_warn("VM '%s' (pid %d) stopped while ternd was not "
			 "running: recorded as shut off",
			 r->name, (int)rec->pid);
		jail_cleanup(m, r->name);
		if (ternd_db_set_runtime(m->db, r->name, &rt, "stopped", &err))
			log_error("VM '%s': %s", r->name, err.message);
		return;
	}
	if (add_live(m, r->name, &proc, &err)) {
		log_error("VM '%s': %s", r->name, err.message);
		vm_process_forget(&proc);
		return;
	}
	if (!strcmp(rec->reason, "starting") &&
	    rec->state != VM_STATE_INCOMING) {
		adopt_start(m, r);
		return;
	}
	if (rec->state == VM_STATE_INCOMING &&
	    vm_api_state(rec->api_socket, &now, &err) == -EAGAIN) {
		/* Still waiting for its migration: looked at again. */
		log_info("re-attached to VM '%s' (pid %d, incoming)", r->name,
			 (int)rec->pid);
		if (vm_migrations_follow_incoming(m->migrations, r->name, 0))
			log_error("VM '%s': out of memory", r->name);
		return;
	}
	if (vm_api_state(rec->api_socket, &now, &err)) {
		log_warn("VM '%s' (pid %d) runs but does not answer on %s: %s",
			 r->name, (int)rec->pid, rec->api_socket, err.message);
		return;
	}
	log_info("re-attached to VM '%s' (pid %d, %s)", r->name, (int)rec->pid,
		 vm_state_name(now));
	attach_console(m, r->name);
	if (now != rec->state) {
		rt.state = now;
		snprintf(rt.reason, sizeof(rt.reason),
			 "found %s when ternd re-attached", vm_state_name(now));
		if (ternd_db_set_runtime(m->db, r->name, &rt,
					 now == VM_STATE_PAUSED ? "paused"
								: "resumed",
					 &err))
			log_error("VM '%s': %s", r->name, err.message);
	}
}

static int reattach_all(struct vm_manager *m, struct tern_error *err)
{
	struct vm_record *records;
	size_t count;
	int ret = ternd_db_list(m->db, &records, &count, err);

	if (ret)
		return ret;
	for (size_t i = 0; i < count; i++)
		if (vm_state_active(records[i].runtime.state))
			reattach_one(m, &records[i]);
	vm_records_free(records, count);
	return 0;
}

static int volume_in_catalog(void *ctx, const char *name)
{
	struct vm_manager *m = ctx;
	struct volume_record r;
	struct tern_error err;

	if (ternd_db_volume_get(m->db, name, &r, &err))
		return 0;
	volume_record_free(&r);
	return 1;
}

static void report_recovered(void *ctx, const char *file, const char *what)
{
	struct vm_manager *m = ctx;

	log_warn("pool %s: %s was left by an interrupted volume change: %s",
		 m->pool.dir, file, what);
}

static int make_dir(const char *path, struct tern_error *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return tern_error_set(err, errno, "cannot create %s: %s", path,
				      strerror(errno));
	return 0;
}

int vm_manager_open(const struct vm_manager_options *options,
		    struct vm_manager **out, struct tern_error *err)
{
	struct vm_manager *m = calloc(1, sizeof(*m));
	char path[4200];
	int ret;

	if (!m)
		return tern_error_set(err, ENOMEM, "out of memory");
	m->jail = options->jail;
	if (snprintf(m->state_dir, sizeof(m->state_dir), "%s",
		     options->state_dir) >= (int)sizeof(m->state_dir) ||
	    snprintf(m->tern_path, sizeof(m->tern_path), "%s",
		     options->tern_path) >= (int)sizeof(m->tern_path)) {
		free(m);
		return tern_error_set(err, ENAMETOOLONG, "path too long");
	}
	snprintf(path, sizeof(path), "%s/vms", m->state_dir);
	ret = make_dir(m->state_dir, err);
	if (!ret)
		ret = make_dir(path, err);
	snprintf(path, sizeof(path), "%s/pools", m->state_dir);
	if (!ret && !options->pool_dir)
		ret = make_dir(path, err);
	snprintf(path, sizeof(path), "%s/pools/default", m->state_dir);
	if (!ret)
		ret = volume_pool_open(
			&m->pool, options->pool_dir ? options->pool_dir : path,
			err);
	snprintf(path, sizeof(path), "%s/ternd.db", m->state_dir);
	if (!ret)
		ret = ternd_db_open(path, &m->db, err);
	if (!ret)
		volume_pool_recover(&m->pool, volume_in_catalog,
				    report_recovered, m);
	if (!ret) {
		m->consoles = vm_consoles_new();
		m->migrations = vm_migrations_new();
		if (!m->consoles || !m->migrations)
			ret = tern_error_set(err, ENOMEM, "out of memory");
	}
	if (!ret)
		snapshots_recover(m);
	if (!ret)
		ret = networks_open(m->db, m->state_dir, &m->nets, err);
	if (!ret)
		ret = reattach_all(m, err);
	/* After the VMs: the taps of those found shut off go. */
	if (!ret)
		networks_recover(m->nets);
	if (ret) {
		vm_manager_close(m);
		return ret;
	}
	*out = m;
	return 0;
}

struct ternd_db *vm_manager_db(struct vm_manager *m)
{
	return m->db;
}

const struct volume_pool *vm_manager_pool(const struct vm_manager *m)
{
	return &m->pool;
}

struct networks *vm_manager_networks(struct vm_manager *m)
{
	return m->nets;
}

struct vm_consoles *vm_manager_consoles(struct vm_manager *m)
{
	return m->consoles;
}

struct vm_migrations *vm_manager_migrations(struct vm_manager *m)
{
	return m->migrations;
}

const char *vm_manager_tern_path(const struct vm_manager *m)
{
	return m->tern_path;
}

void vm_manager_close(struct vm_manager *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->live_count; i++)
		vm_process_forget(&m->live[i].proc);
	free(m->live);
	free(m->starts);
	vm_consoles_free(m->consoles);
	vm_migrations_free(m->migrations);
	networks_close(m->nets);
	ternd_db_close(m->db);
	free(m);
}

int vm_manager_get(struct vm_manager *m, const char *name,
		   struct vm_record *record, struct tern_error *err)
{
	int ret = vm_name_check(name, err);

	if (ret)
		return ret;
	ret = ternd_db_get(m->db, name, record, err);
	if (ret == -ENOENT)
		tern_error_set(err, ENOENT,
			       "no VM named '%s' ('ternctl list --all' shows "
			       "the defined VMs)",
			       name);
	return ret;
}

int vm_manager_list(struct vm_manager *m, struct vm_record **records,
		    size_t *count, struct tern_error *err)
{
	return ternd_db_list(m->db, records, count, err);
}

/* The VM's API socket path must fit a sockaddr_un. */
static int check_socket_fits(const struct vm_manager *m, const char *name,
			     struct tern_error *err)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	if (vm_manager_path(m, name, VM_FILE_API_SOCKET, path, sizeof(path)) ||
	    vm_manager_path(m, name, VM_FILE_CONSOLE_SOCKET, path,
			    sizeof(path)))
		return tern_error_set(err, EINVAL,
				      "VM name '%s' is too long for this "
				      "state directory: %s/vms/%s/console.sock "
				      "must fit in %zu bytes",
				      name, m->state_dir, name,
				      sizeof(path) - 1);
	return 0;
}

/* Each volume the document names is in the catalog. */
static int check_volumes(struct vm_manager *m, const json_t *doc,
			 struct tern_error *err)
{
	struct vm_volume_refs volumes;
	struct volume_record r;
	json_t *resolved = vm_definition_resolve(doc, NULL, &volumes, err);

	if (!resolved)
		return -EINVAL;
	json_decref(resolved);
	for (size_t i = 0; i < volumes.count; i++) {
		if (ternd_db_volume_get(m->db, volumes.names[i], &r, err))
			return tern_error_set(err, EINVAL,
					      "no volume named '%s' in the "
					      "pool ('ternctl vol-list' lists "
					      "them)",
					      volumes.names[i]);
		volume_record_free(&r);
	}
	return 0;
}

int vm_manager_define(struct vm_manager *m, const char *name,
		      const char *document, size_t len, int *created,
		      struct tern_error *err)
{
	struct vm_volume_refs volumes;
	struct vm_network_refs networks;
	json_error_t json_err;
	json_t *doc;
	char *text;
	int ret;

	ret = vm_name_check(name, err);
	if (!ret)
		ret = check_socket_fits(m, name, err);
	if (ret)
		return ret;
	doc = json_loadb(document ? document : "", len, JSON_REJECT_DUPLICATES,
			 &json_err);
	if (!doc)
		return tern_error_set(err, EINVAL,
				      "the definition is not JSON: %s (line "
				      "%d, column %d)",
				      json_err.text, json_err.line,
				      json_err.column);
	/* The volumes first: "no such volume" says more than tern's "no
	 * such file" for the path it would have. */
	ret = check_volumes(m, doc, err);
	if (!ret)
		ret = vm_definition_check(doc, m->pool.dir, NULL, &volumes,
					  &networks, err);
	text = ret ? NULL : json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (ret)
		return -EINVAL;
	if (!text)
		return tern_error_set(err, ENOMEM, "out of memory");
	/* The catalog checks them again in the define's transaction. */
	ret = ternd_db_define(m->db, name, text, VM_CONFIG_DOC_VERSION,
			      &volumes, &networks, created, err);
	if (ret == -ENOENT)
		ret = -EINVAL;
	free(text);
	if (!ret)
		log_info("VM '%s' %s", name,
			 *created ? "defined" : "redefined");
	return ret;
}

/* The files ternd made for the VM; its logs go with the definition. */
static void remove_vm_files(struct vm_manager *m, const char *name)
{
	static const enum vm_file files[] = {VM_FILE_CONFIG,
					     VM_FILE_API_SOCKET,
					     VM_FILE_LOG,
					     VM_FILE_CONSOLE,
					     VM_FILE_CONSOLE_SOCKET,
					     VM_FILE_MIGRATION_LOG,
					     VM_FILE_SNAPSHOTS,
					     VM_FILE_DIR};
	char path[4200];

	/* A jailed VM's uid is free again. */
	if (!vm_manager_path(m, name, VM_FILE_DIR, path, sizeof(path)))
		vm_jail_forget(path);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (vm_manager_path(m, name, files[i], path, sizeof(path)))
			continue;
		if ((files[i] == VM_FILE_DIR || files[i] == VM_FILE_SNAPSHOTS
			     ? rmdir(path)
			     : unlink(path)) < 0 &&
		    errno != ENOENT)
			log_warn("undefine '%s': cannot remove %s: %s", name,
				 path, strerror(errno));
	}
}

int vm_manager_migration_busy(const struct vm_record *r, struct tern_error *err)
{
	return tern_error_set(err, EBUSY,
			      "VM '%s' is %s: wait for the migration's end "
			      "(or destroy it)",
			      r->name, vm_state_name(r->runtime.state));
}

static int require_state(const struct vm_record *r, int want_active,
			 struct tern_error *err)
{
	enum vm_state state = r->runtime.state;

	if (want_active && !vm_state_active(state))
		return tern_error_set(err, EBUSY, "VM '%s' is not running",
				      r->name);
	if (!want_active && vm_state_active(state))
		return tern_error_set(err, EBUSY, "VM '%s' is already %s",
				      r->name, vm_state_name(state));
	return 0;
}

int vm_manager_undefine(struct vm_manager *m, const char *name,
			struct tern_error *err)
{
	struct vm_record r;
	int ret = vm_manager_get(m, name, &r, err);

	if (ret)
		return ret;
	if (vm_state_active(r.runtime.state))
		ret = tern_error_set(err, EBUSY,
				     "VM '%s' is %s: 'ternctl destroy %s' or "
				     "'ternctl shutdown %s' first",
				     name, vm_state_name(r.runtime.state), name,
				     name);
	vm_record_free(&r);
	if (!ret) {
		/* None while shut off, unless a tap could not be deleted
		 * when the VM stopped. */
		networks_vm_taps_down(m->nets, name);
		ret = ternd_db_undefine(m->db, name, err);
	}
	if (ret)
		return ret;
	remove_vm_files(m, name);
	log_info("VM '%s' undefined", name);
	return 0;
}

/* Written beside and renamed: tern never reads half a file. */
static int write_config(const char *path, const char *text,
			struct tern_error *err)
{
	char tmp[4300];
	size_t len = strlen(text);
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return tern_error_set(err, errno, "cannot write %s: %s", tmp,
				      strerror(errno));
	ok = write(fd, text, len) == (ssize_t)len;
	ok = !close(fd) && ok;
	if (!ok || rename(tmp, path) < 0) {
		unlink(tmp);
		return tern_error_set(err, EIO, "cannot write %s", path);
	}
	return 0;
}

int vm_manager_starting(struct vm_manager *m, const char *name)
{
	return find_start(m, name) != NULL;
}

static int refuse_starting(struct vm_manager *m, const char *name,
			   struct tern_error *err)
{
	if (!find_start(m, name))
		return 0;
	return tern_error_set(err, EBUSY,
			      "VM '%s' is starting: wait until its tern "
			      "answers (or destroy it)",
			      name);
}

/* The start's end, told to whoever waits (a suspended request) or
 * logged; a failure is counted in GET /v1/metrics. */
static void start_told(struct pending_start *p, struct vm_manager *m, int ret,
		       const struct tern_error *err)
{
	if (ret) {
		ternd_stats_start(p->began_us, 0);
		if (!p->done)
			log_error("%s of VM '%s' failed: %s",
				  p->what ? p->what : "start", p->name,
				  err->message);
	}
	if (p->done)
		p->done(p->opaque, m, p->name, ret, err);
}

/* record_exit's: a VM that ends while its start waits (a destroy, or a
 * tern that ended between two probes) fails that start. */
static void end_start(struct vm_manager *m, const char *name,
		      const char *reason, int asked)
{
	struct pending_start *p = find_start(m, name);
	struct pending_start copy;
	struct tern_error err;
	char log_path[4200], line[300];
	int ret;

	if (!p || p->probing)
		return;
	copy = *p;
	remove_start(m, p);
	if (asked) {
		ret = tern_error_set(&err, EBUSY,
				     "VM '%s' did not finish starting: %s",
				     copy.name, reason);
	} else {
		vm_manager_path(m, copy.name, VM_FILE_LOG, log_path,
				sizeof(log_path));
		file_last_line(log_path, line, sizeof(line));
		ret = tern_error_set(&err, EREMOTEIO,
				     "VM '%s' failed to start: %s (log: %s)",
				     copy.name, line[0] ? line : reason,
				     log_path);
	}
	start_told(&copy, m, ret, &err);
}

/* One look at a starting VM: 1 when its tern answers with the VM
 * running (or paused; an incoming tern, at all), 0 while it may still,
 * else a failure with the VM recorded shut off. */
static int probe_start(struct vm_manager *m, struct pending_start *p,
		       struct tern_error *err)
{
	char log_path[4200], line[300];
	struct live_vm *vm = find_live(m, p->name);
	struct tern_error probe;
	enum vm_state state;
	int64_t now = monotonic_ms();
	int answer;

	if (!vm || vm->proc.pid != p->pid)
		return tern_error_set(err, EBUSY,
				      "VM '%s' stopped before it finished "
				      "starting",
				      p->name);
	if (vm_process_exited(&vm->proc)) {
		vm_manager_path(m, p->name, VM_FILE_LOG, log_path,
				sizeof(log_path));
		file_last_line(log_path, line, sizeof(line));
		record_exit(m, vm, "failed to start", 0);
		return tern_error_set(
			err, EREMOTEIO, "VM '%s' failed to start: %s (log: %s)",
			p->name, line[0] ? line : "tern ended", log_path);
	}
	if (now < p->next_probe_ms)
		return 0;
	p->probes++;
	/* No socket yet: tern is still setting its VM up. */
	answer = access(p->api_socket, F_OK)
		? -ENOENT
		: vm_api_state(p->api_socket, &state, &probe);
	if (answer == 0 || (p->incoming && answer == -EAGAIN))
		return 1;
	now = monotonic_ms();
	if (now >= p->deadline_ms) {
		vm_process_signal(&vm->proc, SIGKILL);
		vm_process_wait_exit(&vm->proc, 5000);
		record_exit(m, vm, "did not answer on its API socket in time",
			    1);
		return tern_error_set(err, EREMOTEIO,
				      "VM '%s': tern did not answer on %s "
				      "within %d s",
				      p->name, p->api_socket,
				      VM_START_TIMEOUT_MS / 1000);
	}
	p->next_probe_ms = now + p->interval_ms;
	if (p->interval_ms < START_PROBE_MAX_MS)
		p->interval_ms = p->interval_ms * 2 < START_PROBE_MAX_MS
			? p->interval_ms * 2
			: START_PROBE_MAX_MS;
	return 0;
}

/* A start's last steps once its tern answers: the console, and the event
 * (the runtime record says running since the launch; its reason
 * "starting" becomes why). */
static void finish_start(struct vm_manager *m, const struct pending_start *p)
{
	struct tern_error err;
	struct vm_record r;
	struct vm_runtime rt;
	int64_t answered = ternd_stats_now_us();

	log_info("VM '%s' %s (pid %d)", p->name, p->why, (int)p->pid);
	/* An incoming VM's console comes once its guest runs here
	 * (vm_migration.c). */
	if (!p->incoming)
		attach_console(m, p->name);
	if (!vm_manager_get(m, p->name, &r, &err)) {
		rt = r.runtime;
		vm_record_free(&r);
		snprintf(rt.reason, sizeof(rt.reason), "%s", p->why);
		if (ternd_db_set_runtime(m->db, p->name, &rt, p->event, &err))
			log_error("VM '%s': %s", p->name, err.message);
	}
	ternd_stats_start(p->began_us, 1);
	log_debug("VM '%s' start: %lld ms to launch, %lld ms until tern "
		  "answered (%d probes), %lld ms to record",
		  p->name, (long long)(p->launched_us - p->began_us) / 1000,
		  (long long)(answered - p->launched_us) / 1000, p->probes,
		  (long long)(ternd_stats_now_us() - answered) / 1000);
}

/* Probes the starts due, finishes those whose tern answered and fails
 * those that cannot start any more. */
static void serve_starts(struct vm_manager *m)
{
	for (size_t i = 0; i < m->start_count;) {
		struct pending_start *p = &m->starts[i], copy;
		struct tern_error err;
		int ret;

		p->probing = 1;
		ret = probe_start(m, p, &err);
		p = &m->starts[i]; /* unmoved: record_exit left it */
		p->probing = 0;
		if (!ret) {
			i++;
			continue;
		}
		copy = *p;
		remove_start(m, p);
		if (ret > 0)
			finish_start(m, &copy);
		start_told(&copy, m, ret > 0 ? 0 : ret, &err);
	}
}

int vm_manager_starts_timeout_ms(const struct vm_manager *m)
{
	int64_t now = monotonic_ms(), timeout = -1;

	for (size_t i = 0; i < m->start_count; i++) {
		int64_t left = m->starts[i].next_probe_ms - now;

		if (left < 0)
			left = 0;
		if (timeout < 0 || left < timeout)
			timeout = left;
	}
	return (int)timeout;
}

void vm_manager_starts_abandon(struct vm_manager *m)
{
	struct tern_error err;

	while (m->start_count) {
		struct pending_start copy = m->starts[m->start_count - 1];

		m->start_count--;
		tern_error_set(&err, ESHUTDOWN,
			       "ternd is stopping while VM '%s' starts: the "
			       "next ternd adopts it",
			       copy.name);
		if (copy.done)
			copy.done(copy.opaque, m, copy.name, -ESHUTDOWN, &err);
	}
}

struct start_files {
	char dir[4200], config[4200], log[4200];
	char api_socket[108], console_socket[108];
};

static int prepare_files(struct vm_manager *m, const struct vm_record *r,
			 const char *config, struct start_files *f,
			 struct tern_error *err)
{
	int ret = check_socket_fits(m, r->name, err);

	if (ret)
		return ret;
	vm_manager_path(m, r->name, VM_FILE_DIR, f->dir, sizeof(f->dir));
	vm_manager_path(m, r->name, VM_FILE_CONFIG, f->config,
			sizeof(f->config));
	vm_manager_path(m, r->name, VM_FILE_LOG, f->log, sizeof(f->log));
	vm_manager_path(m, r->name, VM_FILE_CONSOLE_SOCKET, f->console_socket,
			sizeof(f->console_socket));
	vm_manager_path(m, r->name, VM_FILE_API_SOCKET, f->api_socket,
			sizeof(f->api_socket));
	ret = make_dir(f->dir, err);
	if (!ret)
		ret = write_config(f->config, config, err);
	return ret;
}

/* Spawns, records, and only then lets the process become tern. */
static int launch(struct vm_manager *m, const struct vm_record *r,
		  const struct start_files *f, const struct vm_restore *restore,
		  struct vm_jail *jail, struct tern_error *err)
{
	struct vm_launch l = {.tern_path = m->tern_path,
			      .config_path = f->config,
			      .api_socket = f->api_socket,
			      .log_path = f->log,
			      .console_socket = f->console_socket,
			      .enter = jail ? vm_jail_enter : NULL,
			      .enter_opaque = jail};
	struct vm_runtime rt = {.state = VM_STATE_RUNNING};

	if (restore) {
		l.snapshot_path = restore->snapshot_path;
		l.mem_path = restore->mem_path;
		l.paused = restore->paused;
		l.incoming = restore->incoming;
		l.psk_file = restore->psk_file;
		if (restore->paused)
			rt.state = VM_STATE_PAUSED;
		if (restore->incoming)
			rt.state = VM_STATE_INCOMING;
	}
	struct vm_process proc;
	int ret;

	ret = vm_process_spawn(&l, &proc, err);
	if (ret)
		return ret;
	rt.pid = proc.pid;
	rt.pid_start_time = proc.start_time;
	snprintf(rt.api_socket, sizeof(rt.api_socket), "%s", f->api_socket);
	/* "starting" until tern answers (finish_start): a ternd that finds
	 * it so after a restart adopts the start (reattach_one). */
	snprintf(rt.reason, sizeof(rt.reason), "starting");
	/* The event comes once tern answers (finish_start). */
	ret = ternd_db_set_runtime(m->db, r->name, &rt, NULL, err);
	if (!ret)
		ret = add_live(m, r->name, &proc, err);
	if (ret) {
		vm_process_abandon(&proc);
		return ret;
	}
	/* Recorded, not yet tern: a kill here must leave no VM running. */
	ternd_test_kill_point("start");
	return vm_process_release(&find_live(m, r->name)->proc, err);
}

/* A guest that reboots keeps running, in the same tern (libvirt's
 * on_reboot default, "restart"), unless its definition says otherwise:
 * tern's own default, exit, would record every guest reboot as a
 * shutdown. */
static int default_on_reboot(json_t *doc, struct tern_error *err)
{
	json_t *tern = json_object_get(doc, "tern");

	if (json_is_object(tern) && json_object_get(tern, "on_reboot") &&
	    !json_is_null(json_object_get(tern, "on_reboot")))
		return 0;
	if (!json_is_object(tern)) {
		tern = json_object();
		if (!tern || json_object_set_new(doc, "tern", tern))
			return tern_error_set(err, ENOMEM, "out of memory");
	}
	if (json_object_set_new(tern, "on_reboot", json_string("restart")))
		return tern_error_set(err, ENOMEM, "out of memory");
	return 0;
}

/* The document tern gets: the definition checked again (an older
 * ternd's may not pass), its volumes resolved to their files in the
 * pool, each of which must be there. */
static char *config_for_tern(struct vm_manager *m, const struct vm_record *r,
			     struct vm_network_refs *networks,
			     struct tern_error *err)
{
	struct vm_volume_refs volumes = {0};
	uint64_t capacity, allocation;
	json_t *doc = json_loads(r->config, 0, NULL);
	json_t *resolved =
		vm_definition_resolve(doc, m->pool.dir, &volumes, err);
	char *text = NULL;
	int ret = resolved ? 0 : -EINVAL;

	if (!ret)
		ret = vm_definition_resolve_networks(resolved, r->name,
						     networks, err);
	/* The volumes first: tern's "no such file" says less. */
	for (size_t i = 0; !ret && i < volumes.count; i++)
		if (volume_pool_stat(&m->pool, volumes.names[i], &capacity,
				     &allocation))
			ret = tern_error_set(err, EINVAL,
					     "VM '%s' names volume '%s', which "
					     "has no file in the pool %s",
					     r->name, volumes.names[i],
					     m->pool.dir);
	if (!ret)
		ret = vm_definition_check(doc, m->pool.dir, NULL, NULL, NULL,
					  err);
	if (!ret)
		ret = default_on_reboot(resolved, err);
	if (!ret) {
		text = json_dumps(resolved, JSON_COMPACT);
		if (!text)
			tern_error_set(err, ENOMEM, "out of memory");
	}
	json_decref(doc);
	json_decref(resolved);
	return text;
}

/* A jailed tern has no CAP_NET_ADMIN: the taps ternd made for it become
 * its uid's. */
static int give_taps(struct vm_manager *m, const char *name, uint32_t uid,
		     struct tern_error *err)
{
	struct tap_record *taps;
	size_t count;
	int ret = ternd_db_taps_list(m->db, name, &taps, &count, err);

	if (ret)
		return ret;
	for (size_t i = 0; !ret && i < count; i++)
		ret = net_tap_set_owner(taps[i].tap, uid, uid, err);
	free(taps);
	return ret;
}

/* A start up to its released tern, recorded running (reason "starting");
 * p says what to wait for. */
static int launch_start(struct vm_manager *m, const char *name, const char *why,
			const struct vm_restore *restore,
			struct pending_start *p, struct tern_error *err)
{
	struct vm_network_refs networks = {0};
	const char *event = "started";
	struct vm_jail jail = {0};
	struct start_files files;
	struct vm_record r;
	char *config = NULL;
	int launched = 0, ret;

	*p = (struct pending_start){.began_us = ternd_stats_now_us()};
	ret = vm_manager_get(m, name, &r, err);
	if (ret)
		return ret;
	if (restore && restore->why)
		why = restore->why;
	if (restore && restore->event)
		event = restore->event;
	ret = require_state(&r, 0, err);
	if (!ret) {
		/* A revert's tern gets the snapshot's definition. */
		char *own = r.config;

		if (restore && restore->config)
			r.config = (char *)restore->config;
		config = config_for_tern(m, &r, &networks, err);
		r.config = own;
		ret = config ? 0 : -EINVAL;
	}
	if (!ret)
		ret = prepare_files(m, &r, config, &files, err);
	if (!ret && m->jail) {
		/* A jailed tern writes its console to a file in the jail
		 * (linked to the VM's console.log): ternd relays no socket
		 * from inside a jail yet. */
		char console_log[4200];

		if (vm_manager_path(m, name, VM_FILE_CONSOLE, console_log,
				    sizeof(console_log)))
			ret = tern_error_set(err, ENAMETOOLONG,
					     "VM '%s': its console path is too "
					     "long",
					     name);
		else
			ret = vm_jail_prepare(m->jail, m->state_dir, files.dir,
					      config, console_log, &jail, err);
		if (!ret && restore && restore->snapshot_path)
			ret = vm_jail_set_restore(&jail, restore->snapshot_path,
						  restore->mem_path,
						  restore->paused, err);
		else if (!ret && restore && restore->incoming)
			ret = vm_jail_set_incoming(&jail, restore->incoming,
						   restore->psk_file, err);
		if (!ret)
			memcpy(files.api_socket, jail.api_socket,
			       sizeof(files.api_socket));
	}
	free(config);
	/* The taps last: nothing before can fail and leave them behind. */
	if (!ret)
		ret = networks_vm_taps_up(m->nets, name, &networks, err);
	if (!ret && m->jail) {
		ret = give_taps(m, name, jail.uid, err);
		if (ret)
			networks_vm_taps_down(m->nets, name);
	}
	if (!ret) {
		launched = 1;
		ret = launch(m, &r, &files, restore, m->jail ? &jail : NULL,
			     err);
	}
	vm_jail_free(&jail);
	if (ret && !launched)
		jail_cleanup(m, name);
	vm_record_free(&r);
	if (ret && launched) {
		/* Only a process this start launched: never a VM that was
		 * already running under this name. */
		struct live_vm *vm = find_live(m, name);

		if (vm) {
			vm_process_signal(&vm->proc, SIGKILL);
			vm_process_wait_exit(&vm->proc, 5000);
			record_exit(m, vm, "failed to start", 1);
		} else {
			/* No process: this start's taps (record_exit
			 * deletes them otherwise). */
			networks_vm_taps_down(m->nets, name);
		}
	}
	if (ret)
		return ret;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->pid = find_live(m, name)->proc.pid;
	snprintf(p->api_socket, sizeof(p->api_socket), "%s", files.api_socket);
	snprintf(p->why, sizeof(p->why), "%s", why);
	snprintf(p->event, sizeof(p->event), "%s", event);
	p->incoming = restore && restore->incoming;
	p->launched_us = ternd_stats_now_us();
	p->deadline_ms = monotonic_ms() + VM_START_TIMEOUT_MS;
	p->next_probe_ms = monotonic_ms() + START_PROBE_FIRST_MS;
	p->interval_ms = START_PROBE_FIRST_MS;
	return 0;
}

/* A refusal (no such VM, wrong state) is not a failed start in GET
 * /v1/metrics. */
static void count_refused(const struct pending_start *p, int ret)
{
	if (ret != -ENOENT && ret != -EBUSY)
		ternd_stats_start(p->began_us, 0);
}

/* Waits here for a launched start: ternd's loop does nothing else
 * meanwhile (a revert, a reboot, a migration's destination). */
static int wait_start(struct vm_manager *m, struct pending_start *p,
		      struct tern_error *err)
{
	int ret;

	p->probing = 1;
	while (!(ret = probe_start(m, p, err))) {
		struct live_vm *vm = find_live(m, p->name);
		int64_t left = p->next_probe_ms - monotonic_ms();

		if (vm && left > 0)
			vm_process_wait_exit(&vm->proc, (int)left);
	}
	if (ret < 0) {
		ternd_stats_start(p->began_us, 0);
		return ret;
	}
	finish_start(m, p);
	return 0;
}

static int start_vm(struct vm_manager *m, const char *name, const char *why,
		    const struct vm_restore *restore, struct tern_error *err)
{
	struct pending_start p;
	int ret = launch_start(m, name, why, restore, &p, err);

	if (ret) {
		count_refused(&p, ret);
		return ret;
	}
	return wait_start(m, &p, err);
}

/* Launches the VM and leaves the rest to the loop (serve_starts). */
static int start_async(struct vm_manager *m, const char *name, const char *why,
		       const char *what, vm_start_done done, void *opaque,
		       struct tern_error *err)
{
	struct pending_start p;
	int ret = launch_start(m, name, why, NULL, &p, err);

	if (ret) {
		count_refused(&p, ret);
		return ret;
	}
	p.done = done;
	p.opaque = opaque;
	p.what = what;
	/* Out of memory for the list: waited for here instead. */
	if (add_start(m, &p, err)) {
		ret = wait_start(m, &p, err);
		return ret ? ret : 1;
	}
	return 0;
}

int vm_manager_start(struct vm_manager *m, const char *name,
		     struct tern_error *err)
{
	return start_vm(m, name, "started", NULL, err);
}

int vm_manager_start_async(struct vm_manager *m, const char *name,
			   vm_start_done done, void *opaque,
			   struct tern_error *err)
{
	return start_async(m, name, "started", "start", done, opaque, err);
}

int vm_manager_start_restore(struct vm_manager *m, const char *name,
			     const struct vm_restore *restore,
			     struct tern_error *err)
{
	return start_vm(m, name, "started", restore, err);
}

int vm_manager_jailed(const struct vm_manager *m)
{
	return m->jail != NULL;
}

void vm_manager_autostart(struct vm_manager *m)
{
	struct vm_record *records;
	struct tern_error err;
	size_t count;

	if (ternd_db_list(m->db, &records, &count, &err)) {
		log_error("autostart: %s", err.message);
		return;
	}
	for (size_t i = 0; i < count; i++) {
		if (!records[i].autostart ||
		    vm_state_active(records[i].runtime.state))
			continue;
		/* All launched at once; the loop sees them answer. */
		if (start_async(m, records[i].name, "started by autostart",
				"autostart", NULL, NULL, &err) < 0)
			log_error("autostart of VM '%s' failed: %s",
				  records[i].name, err.message);
	}
	vm_records_free(records, count);
}

int vm_manager_set_autostart(struct vm_manager *m, const char *name,
			     int autostart, struct tern_error *err)
{
	int ret = vm_name_check(name, err);

	if (!ret)
		ret = ternd_db_set_autostart(m->db, name, autostart, err);
	if (ret == -ENOENT)
		tern_error_set(err, ENOENT,
			       "no VM named '%s' ('ternctl list --all' shows "
			       "the defined VMs)",
			       name);
	if (!ret)
		log_info("VM '%s': autostart %s", name,
			 autostart ? "enabled" : "disabled");
	return ret;
}

/* The record and the live process of a running or paused VM. */
static int get_active(struct vm_manager *m, const char *name,
		      struct vm_record *r, struct live_vm **vm,
		      struct tern_error *err)
{
	int ret = vm_manager_get(m, name, r, err);

	if (ret)
		return ret;
	ret = require_state(r, 1, err);
	if (!ret) {
		*vm = find_live(m, name);
		if (!*vm)
			ret = tern_error_set(
				err, EIO,
				"VM '%s' is recorded as %s but "
				"ternd does not follow its process",
				name, vm_state_name(r->runtime.state));
	}
	if (ret)
		vm_record_free(r);
	return ret;
}

int vm_shutdown_mode_parse(const char *text, enum vm_shutdown_mode *mode,
			   struct tern_error *err)
{
	if (!strcmp(text, "acpi"))
		*mode = VM_SHUTDOWN_ACPI;
	else if (!strcmp(text, "ctrl-alt-del"))
		*mode = VM_SHUTDOWN_CTRL_ALT_DEL;
	else
		return tern_error_set(err, EINVAL,
				      "shutdown mode '%.32s': use acpi or "
				      "ctrl-alt-del",
				      text);
	return 0;
}

int vm_manager_shutdown(struct vm_manager *m, const char *name,
			enum vm_shutdown_mode mode, struct tern_error *err)
{
	const char *what = mode == VM_SHUTDOWN_ACPI ? "pressed the power button"
						    : "sent Ctrl-Alt-Del";
	struct live_vm *vm;
	struct vm_record r;
	int ret = get_active(m, name, &r, &vm, err);

	if (ret)
		return ret;
	if (vm_state_migration(r.runtime.state))
		ret = vm_manager_migration_busy(&r, err);
	else if (find_start(m, name))
		ret = refuse_starting(m, name, err);
	else if (r.runtime.state == VM_STATE_PAUSED)
		ret = tern_error_set(err, EBUSY,
				     "VM '%s' is paused: resume it first, "
				     "so the guest can see the %s",
				     name,
				     mode == VM_SHUTDOWN_ACPI ? "power button"
							      : "key press");
	if (!ret)
		ret = vm_api_call(
			r.runtime.api_socket, "PUT", "/actions",
			mode == VM_SHUTDOWN_ACPI
				? "{\"action_type\": \"SendPowerButton\"}"
				: "{\"action_type\": \"SendCtrlAltDel\"}",
			err);
	if (ret == -EREMOTEIO) {
		char why[sizeof(err->message)];

		snprintf(why, sizeof(why), "%s", err->message);
		tern_error_set(err, EREMOTEIO,
			       "VM '%s' cannot be shut down by the guest: %s "
			       "('ternctl destroy %s' stops it at once)",
			       name, why, name);
	}
	vm_record_free(&r);
	if (!ret)
		log_info("VM '%s': %s", name, what);
	return ret;
}

int vm_manager_destroy(struct vm_manager *m, const char *name,
		       struct tern_error *err)
{
	return vm_manager_stop(m, name, "destroyed", err);
}

int vm_manager_stop(struct vm_manager *m, const char *name, const char *why,
		    struct tern_error *err)
{
	struct live_vm *vm;
	struct vm_record r;
	int ret = get_active(m, name, &r, &vm, err);

	if (ret)
		return ret;
	vm_record_free(&r);
	vm_process_signal(&vm->proc, SIGTERM);
	if (!vm_process_wait_exit(&vm->proc, VM_DESTROY_GRACE_MS)) {
		log_warn("VM '%s' (pid %d) still runs %d s after SIGTERM: "
			 "SIGKILL",
			 name, (int)vm->proc.pid, VM_DESTROY_GRACE_MS / 1000);
		vm_process_signal(&vm->proc, SIGKILL);
		if (!vm_process_wait_exit(&vm->proc, VM_DESTROY_GRACE_MS))
			return tern_error_set(err, EIO,
					      "VM '%s' (pid %d) did not end "
					      "after SIGKILL",
					      name, (int)vm->proc.pid);
	}
	record_exit(m, vm, why, 1);
	return 0;
}

static int set_paused(struct vm_manager *m, const char *name, int pause,
		      struct tern_error *err)
{
	enum vm_state want = pause ? VM_STATE_PAUSED : VM_STATE_RUNNING;
	struct live_vm *vm;
	struct vm_record r;
	int ret = get_active(m, name, &r, &vm, err);

	if (ret)
		return ret;
	if (vm_state_migration(r.runtime.state))
		ret = vm_manager_migration_busy(&r, err);
	else if (find_start(m, name))
		ret = refuse_starting(m, name, err);
	else if (r.runtime.state == want)
		ret = tern_error_set(err, EBUSY, "VM '%s' is already %s", name,
				     vm_state_name(want));
	if (!ret)
		ret = vm_api_call(r.runtime.api_socket, "PATCH", "/vm",
				  pause ? "{\"state\": \"Paused\"}"
					: "{\"state\": \"Resumed\"}",
				  err);
	if (!ret) {
		r.runtime.state = want;
		snprintf(r.runtime.reason, sizeof(r.runtime.reason), "%s",
			 pause ? "paused" : "resumed");
		ret = ternd_db_set_runtime(m->db, name, &r.runtime,
					   pause ? "paused" : "resumed", err);
	}
	vm_record_free(&r);
	if (!ret)
		log_info("VM '%s' %s", name, pause ? "paused" : "resumed");
	return ret;
}

int vm_manager_pause(struct vm_manager *m, const char *name,
		     struct tern_error *err)
{
	return set_paused(m, name, 1, err);
}

int vm_manager_resume(struct vm_manager *m, const char *name,
		      struct tern_error *err)
{
	return set_paused(m, name, 0, err);
}
