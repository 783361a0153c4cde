#include "ternd/networks.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ternd/dnsmasq.h"
#include "ternd/net_link.h"
#include "ternd/net_nat.h"
#include "ternd/test_hooks.h"
#include "util/log.h"

/* How long a new dnsmasq has to show that it does not fail at once (a
 * configuration or bind error ends it within milliseconds). */
#define DNSMASQ_SETTLE_MS 300
#define DNSMASQ_STOP_MS 5000

/* A dnsmasq ternd follows. */
struct live_dnsmasq {
	char network[TERND_NAME_MAX + 1];
	struct vm_process proc;
	time_t started;
};

struct networks {
	struct ternd_db *db;
	char dir[4200]; /* STATE_DIR/networks */
	struct live_dnsmasq *live;
	size_t live_count;
};

static void network_dir(const struct networks *n, const char *name, char *buf,
			size_t size)
{
	snprintf(buf, size, "%s/%s", n->dir, name);
}

static void files_of(const struct networks *n, const char *name,
		     struct dnsmasq_files *files)
{
	char dir[4400];

	network_dir(n, name, dir, sizeof(dir));
	dnsmasq_files_for(dir, files);
}

static void nat_script_path(const struct networks *n, const char *name,
			    char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s/nat.nft", n->dir, name);
}

static int make_dir(const char *path, struct tern_error *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return tern_error_set(err, errno, "cannot create %s: %s", path,
				      strerror(errno));
	return 0;
}

int networks_open(struct ternd_db *db, const char *state_dir,
		  struct networks **out, struct tern_error *err)
{
	struct networks *n = calloc(1, sizeof(*n));
	int ret;

	if (!n)
		return tern_error_set(err, ENOMEM, "out of memory");
	n->db = db;
	snprintf(n->dir, sizeof(n->dir), "%s/networks", state_dir);
	ret = make_dir(n->dir, err);
	if (ret) {
		free(n);
		return ret;
	}
	*out = n;
	return 0;
}

void networks_close(struct networks *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->live_count; i++)
		vm_process_forget(&n->live[i].proc);
	free(n->live);
	free(n);
}

static struct live_dnsmasq *find_live(struct networks *n, const char *name)
{
	for (size_t i = 0; i < n->live_count; i++)
		if (!strcmp(n->live[i].network, name))
			return &n->live[i];
	return NULL;
}

static int add_live(struct networks *n, const char *name,
		    const struct vm_process *proc, struct tern_error *err)
{
	struct live_dnsmasq *grown =
		realloc(n->live, (n->live_count + 1) * sizeof(*n->live));

	if (!grown)
		return tern_error_set(err, ENOMEM, "out of memory");
	n->live = grown;
	snprintf(grown[n->live_count].network, sizeof(grown->network), "%s",
		 name);
	grown[n->live_count].proc = *proc;
	grown[n->live_count].started = time(NULL);
	n->live_count++;
	return 0;
}

static void remove_live(struct networks *n, struct live_dnsmasq *d)
{
	size_t i = (size_t)(d - n->live);

	memmove(&n->live[i], &n->live[i + 1],
		(n->live_count - i - 1) * sizeof(*n->live));
	n->live_count--;
}

static int get_network(struct networks *n, const char *name,
		       struct network_record *r, struct tern_error *err)
{
	int ret = ternd_name_check("network", name, err);

	if (ret)
		return ret;
	ret = ternd_db_network_get(n->db, name, r, err);
	if (ret == -ENOENT)
		tern_error_set(err, ENOENT,
			       "no network named '%s' ('ternctl net-list' "
			       "lists them)",
			       name);
	return ret;
}

/* --- dnsmasq ------------------------------------------------------------ */

static void stop_dnsmasq(struct networks *n, const char *name)
{
	struct live_dnsmasq *d = find_live(n, name);
	char how[64];

	if (!d)
		return;
	vm_process_signal(&d->proc, SIGTERM);
	if (!vm_process_wait_exit(&d->proc, DNSMASQ_STOP_MS)) {
		vm_process_signal(&d->proc, SIGKILL);
		vm_process_wait_exit(&d->proc, DNSMASQ_STOP_MS);
	}
	vm_process_finish(&d->proc, how, sizeof(how));
	remove_live(n, d);
}

/* The last line of a log: why a program stopped. */
static void last_line(const char *path, char *buf, size_t size)
{
	char tail[512];
	FILE *f = fopen(path, "re");

	snprintf(buf, size, "%s", "no message");
	if (!f)
		return;
	while (fgets(tail, sizeof(tail), f))
		if (tail[0] && tail[0] != '\n') {
			tail[strcspn(tail, "\n")] = '\0';
			snprintf(buf, size, "%.*s", (int)size - 1, tail);
		}
	fclose(f);
}

/* Spawns, records, releases, and waits a moment for an early failure. */
static int start_dnsmasq(struct networks *n, const struct network_def *def,
			 const char *reason, struct tern_error *err)
{
	struct dnsmasq_files files;
	struct vm_process proc;
	char how[64], line[200];
	int ret;

	files_of(n, def->name, &files);
	ret = dnsmasq_spawn(def, &files, &proc, err);
	if (ret)
		return ret;
	ret = ternd_db_network_set_state(n->db, def->name, 1, proc.pid,
					 proc.start_time, reason, NULL, err);
	if (ret) {
		vm_process_abandon(&proc);
		return ret;
	}
	ret = vm_process_release(&proc, err);
	if (!ret && vm_process_wait_exit(&proc, DNSMASQ_SETTLE_MS)) {
		vm_process_finish(&proc, how, sizeof(how));
		last_line(files.log, line, sizeof(line));
		return tern_error_set(err, EIO,
				      "dnsmasq for network '%s' %s: %s (log: "
				      "%s)",
				      def->name, how, line, files.log);
	}
	if (!ret)
		ret = add_live(n, def->name, &proc, err);
	if (ret) {
		vm_process_signal(&proc, SIGKILL);
		vm_process_abandon(&proc);
	}
	return ret;
}

/* A dnsmasq an earlier ternd started, followed again; else a new one. */
static int ensure_dnsmasq(struct networks *n, const struct network_record *r,
			  struct tern_error *err)
{
	struct dnsmasq_files files;
	struct vm_process proc;

	if (find_live(n, r->def.name))
		return 0;
	files_of(n, r->def.name, &files);
	if (r->dnsmasq_pid > 0 &&
	    !dnsmasq_attach(&files, r->dnsmasq_pid, r->dnsmasq_start_time,
			    &proc)) {
		log_info("network '%s': re-attached to its dnsmasq (pid %d)",
			 r->def.name, (int)r->dnsmasq_pid);
		return add_live(n, r->def.name, &proc, err);
	}
	if (r->dnsmasq_pid > 0)
		log_warn("network '%s': its dnsmasq (pid %d) stopped while "
			 "ternd was not running: starting it again",
			 r->def.name, (int)r->dnsmasq_pid);
	return start_dnsmasq(n, &r->def, "started", err);
}

size_t networks_poll_count(const struct networks *n)
{
	return n->live_count;
}

void networks_poll_fill(const struct networks *n, struct pollfd *fds)
{
	for (size_t i = 0; i < n->live_count; i++)
		fds[i] = (struct pollfd){.fd = n->live[i].proc.pidfd,
					 .events = POLLIN};
}

static void dnsmasq_exited(struct networks *n, struct live_dnsmasq *d)
{
	struct network_record r;
	struct tern_error err;
	char how[64], reason[160], name[TERND_NAME_MAX + 1];
	int soon = time(NULL) - d->started < NETWORK_DNSMASQ_RESTART_MIN_S;

	snprintf(name, sizeof(name), "%s", d->network);
	vm_process_finish(&d->proc, how, sizeof(how));
	remove_live(n, d);
	if (ternd_db_network_get(n->db, name, &r, &err))
		return;
	if (soon) {
		snprintf(reason, sizeof(reason),
			 "dnsmasq %s soon after its start: not restarted "
			 "(net-destroy and net-start try again)",
			 how);
		log_error("network '%s': %s", name, reason);
		if (ternd_db_network_set_state(n->db, name, 1, 0, 0, reason,
					       "dnsmasq", &err))
			log_error("network '%s': %s", name, err.message);
	} else {
		snprintf(reason, sizeof(reason), "dnsmasq %s: restarted", how);
		log_warn("network '%s': %s", name, reason);
		if (ternd_db_event_add(n->db, "network", name, "dnsmasq",
				       reason, &err) ||
		    start_dnsmasq(n, &r.def, reason, &err))
			log_error("network '%s': %s", name, err.message);
	}
	network_record_free(&r);
}

void networks_reap(struct networks *n)
{
	for (size_t i = 0; i < n->live_count;) {
		if (vm_process_exited(&n->live[i].proc))
			dnsmasq_exited(n, &n->live[i]);
		else
			i++;
	}
}

/* --- the host side of a network ----------------------------------------- */

/* Builds what a started managed network is; every step may find its
 * result there already (a restart, a kill in the middle). */
static int build_managed(struct networks *n, const struct network_record *r,
			 struct tern_error *err)
{
	const struct network_def *def = &r->def;
	char dir[4400], script[4400];
	uint8_t mac[6];
	int ret;

	network_dir(n, def->name, dir, sizeof(dir));
	ret = make_dir(dir, err);
	if (ret)
		return ret;
	if (!net_link_exists(def->bridge))
		ret = net_bridge_create(def->bridge, err);
	else if (!net_link_is_bridge(def->bridge))
		ret = tern_error_set(err, EEXIST,
				     "network '%s': %s exists and is not a "
				     "bridge",
				     def->name, def->bridge);
	network_bridge_mac(def->name, mac);
	if (!ret)
		ret = net_link_set_mac(def->bridge, mac, err);
	if (!ret)
		ret = net_link_set_ipv4(def->bridge, network_gateway(def),
					network_netmask(def), err);
	if (!ret)
		ret = net_link_set_up(def->bridge, err);
	nat_script_path(n, def->name, script, sizeof(script));
	if (!ret && def->nat)
		ret = net_nat_apply(def, script, err);
	/* Started, not finished: the next ternd builds the rest. */
	ternd_test_kill_point("network-build");
	if (!ret && def->dhcp)
		ret = ensure_dnsmasq(n, r, err);
	return ret;
}

/* Everything build_managed made, in reverse; what is not there is fine.
 * A dnsmasq ternd does not follow (it could not rebuild the network at
 * its start) but that is recorded and still runs is stopped too. */
static int teardown_managed(struct networks *n, const struct network_record *r,
			    struct tern_error *err)
{
	const struct network_def *def = &r->def;
	struct dnsmasq_files files;
	struct vm_process proc;
	char script[4400];
	int ret = 0;

	files_of(n, def->name, &files);
	if (!find_live(n, def->name) && r->dnsmasq_pid > 0 &&
	    !dnsmasq_attach(&files, r->dnsmasq_pid, r->dnsmasq_start_time,
			    &proc) &&
	    add_live(n, def->name, &proc, err)) {
		vm_process_signal(&proc, SIGTERM);
		vm_process_forget(&proc);
	}
	stop_dnsmasq(n, def->name);
	nat_script_path(n, def->name, script, sizeof(script));
	if (def->nat)
		ret = net_nat_remove(def, script, err);
	if (!ret)
		ret = net_bridge_delete(def->bridge, err);
	return ret;
}

static int check_bridge_there(const struct network_def *def,
			      struct tern_error *err)
{
	if (!net_link_exists(def->bridge))
		return tern_error_set(err, EINVAL,
				      "network '%s': bridge %s does not "
				      "exist (a bridge network names one "
				      "made outside ternd)",
				      def->name, def->bridge);
	if (!net_link_is_bridge(def->bridge))
		return tern_error_set(err, EINVAL,
				      "network '%s': %s is not a bridge",
				      def->name, def->bridge);
	return 0;
}

/* --- operations --------------------------------------------------------- */

int networks_define(struct networks *n, const char *name, const json_t *body,
		    struct tern_error *err)
{
	struct network_def def;
	int ret = network_def_from_json(name, body, &def, err);

	if (ret)
		return ret;
	if (def.kind == NETWORK_MANAGED && net_link_exists(def.bridge))
		return tern_error_set(err, EEXIST,
				      "an interface named %s exists already: "
				      "ternd creates a managed network's "
				      "bridge (define a bridge network, "
				      "\"kind\": \"bridge\", to use an "
				      "existing one)",
				      def.bridge);
	ret = ternd_db_network_add(n->db, &def, err);
	if (!ret)
		log_info("network '%s' defined (%s, bridge %s)", name,
			 network_kind_name(def.kind), def.bridge);
	return ret;
}

static void remove_network_files(struct networks *n, const char *name)
{
	static const char *const files[] = {"dnsmasq.conf", "dnsmasq.leases",
					    "dnsmasq.log", "nat.nft"};
	char dir[4400], path[4500];

	network_dir(n, name, dir, sizeof(dir));
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

int networks_undefine(struct networks *n, const char *name,
		      struct tern_error *err)
{
	struct network_record r;
	int ret = get_network(n, name, &r, err);

	if (ret)
		return ret;
	network_record_free(&r);
	ret = ternd_db_network_remove(n->db, name, err);
	if (ret)
		return ret;
	remove_network_files(n, name);
	log_info("network '%s' undefined", name);
	return 0;
}

int networks_start(struct networks *n, const char *name, struct tern_error *err)
{
	struct network_record r;
	struct tern_error ignored;
	char reason[200];
	int ret = get_network(n, name, &r, err);

	if (ret)
		return ret;
	if (r.active)
		ret = tern_error_set(err, EBUSY,
				     "network '%s' is already active", name);
	else if (r.def.kind == NETWORK_BRIDGE)
		ret = check_bridge_there(&r.def, err);
	else if (net_link_exists(r.def.bridge))
		ret = tern_error_set(err, EEXIST,
				     "network '%s': an interface named %s "
				     "exists already, and ternd did not "
				     "make it: remove it first",
				     name, r.def.bridge);
	/* Recorded first: whatever a kill leaves half built, the next
	 * ternd finishes. */
	if (!ret)
		ret = ternd_db_network_set_state(n->db, name, 1, 0, 0,
						 "started", NULL, err);
	if (!ret && r.def.kind == NETWORK_MANAGED) {
		ret = build_managed(n, &r, err);
		if (ret) {
			snprintf(reason, sizeof(reason),
				 "failed to start: %.160s", err->message);
			teardown_managed(n, &r, &ignored);
			ternd_db_network_set_state(n->db, name, 0, 0, 0, reason,
						   NULL, &ignored);
		}
	}
	if (!ret) {
		struct live_dnsmasq *d = find_live(n, name);

		ret = ternd_db_network_set_state(
			n->db, name, 1, d ? d->proc.pid : 0,
			d ? d->proc.start_time : 0, "started", "started", err);
	}
	network_record_free(&r);
	if (!ret)
		log_info("network '%s' started", name);
	return ret;
}

int networks_destroy(struct networks *n, const char *name,
		     struct tern_error *err)
{
	struct network_record r;
	int ret = get_network(n, name, &r, err);

	if (ret)
		return ret;
	if (!r.active)
		ret = tern_error_set(err, EBUSY, "network '%s' is not active",
				     name);
	else if (r.attached[0])
		ret = tern_error_set(err, EBUSY,
				     "network '%s' has running VMs on it "
				     "(%s): stop them first",
				     name, r.attached);
	if (!ret && r.def.kind == NETWORK_MANAGED)
		ret = teardown_managed(n, &r, err);
	if (!ret)
		ret = ternd_db_network_set_state(n->db, name, 0, 0, 0,
						 "destroyed", "stopped", err);
	network_record_free(&r);
	if (!ret)
		log_info("network '%s' destroyed", name);
	return ret;
}

static json_t *split_names(const char *list)
{
	json_t *out = json_array();
	char *copy = strdup(list);

	for (char *save, *p = copy ? strtok_r(copy, ",", &save) : NULL;
	     out && p; p = strtok_r(NULL, ",", &save))
		json_array_append_new(out, json_string(p));
	free(copy);
	return out;
}

/* The leases, each with the VM whose tap has its MAC (when one does). */
static json_t *leases_json(struct networks *n, const char *name)
{
	struct dnsmasq_files files;
	struct tap_record *taps = NULL;
	struct tern_error err;
	size_t count = 0, i;
	json_t *leases, *lease;

	files_of(n, name, &files);
	leases = dnsmasq_leases(files.leases);
	if (ternd_db_taps_list(n->db, NULL, &taps, &count, &err))
		count = 0;
	json_array_foreach(leases, i, lease)
	{
		const char *mac =
			json_string_value(json_object_get(lease, "mac"));
		json_t *vm = json_null();

		for (size_t t = 0; mac && t < count; t++)
			if (!strcmp(taps[t].network, name) &&
			    !strcasecmp(taps[t].mac, mac))
				vm = json_string(taps[t].vm);
		json_object_set_new(lease, "vm", vm);
	}
	free(taps);
	return leases;
}

static json_t *network_json(struct networks *n, const struct network_record *r)
{
	const struct network_def *def = &r->def;
	char subnet[24], gateway[16];
	struct live_dnsmasq *d = find_live(n, def->name);

	network_subnet_text(def, subnet, sizeof(subnet));
	network_ip_text(network_gateway(def), gateway, sizeof(gateway));
	return json_pack(
		"{s:s, s:s, s:s, s:o, s:o, s:b, s:b, s:b, s:s, s:o, s:o, s:o,"
		" s:o, s:I}",
		"name", def->name, "kind", network_kind_name(def->kind),
		"bridge", def->bridge, "subnet",
		def->prefix ? json_string(subnet) : json_null(), "gateway",
		def->prefix ? json_string(gateway) : json_null(), "nat",
		def->nat, "dhcp", def->dhcp, "active", r->active, "reason",
		r->reason, "dnsmasq_pid",
		d ? json_integer(d->proc.pid) : json_null(), "used_by",
		split_names(r->used_by), "attached", split_names(r->attached),
		"leases", def->dhcp ? leases_json(n, def->name) : json_array(),
		"defined_at", (json_int_t)r->defined_at);
}

int networks_get_json(struct networks *n, const char *name, json_t **out,
		      struct tern_error *err)
{
	struct network_record r;
	int ret = get_network(n, name, &r, err);

	if (ret)
		return ret;
	*out = network_json(n, &r);
	network_record_free(&r);
	return *out ? 0 : tern_error_set(err, ENOMEM, "out of memory");
}

int networks_list_json(struct networks *n, json_t **out, struct tern_error *err)
{
	struct network_record *records;
	size_t count;
	json_t *list;
	int ret = ternd_db_network_list(n->db, &records, &count, err);

	if (ret)
		return ret;
	list = json_array();
	for (size_t i = 0; list && i < count; i++)
		if (json_array_append_new(list, network_json(n, &records[i]))) {
			json_decref(list);
			list = NULL;
		}
	network_records_free(records, count);
	*out = list ? json_pack("{s:o}", "networks", list) : NULL;
	return *out ? 0 : tern_error_set(err, ENOMEM, "out of memory");
}

/* --- VMs' taps ---------------------------------------------------------- */

/* Deletes the tap, then forgets it: a kill in between leaves a record of
 * a tap that is gone, which the next cleanup passes over. */
static void tap_down(struct networks *n, const struct tap_record *t)
{
	struct tern_error err;

	if (net_tap_delete(t->tap, &err)) {
		log_error("VM '%s': %s", t->vm, err.message);
		return;
	}
	if (ternd_db_tap_remove(n->db, t->tap, &err))
		log_error("VM '%s': %s", t->vm, err.message);
}

void networks_vm_taps_down(struct networks *n, const char *vm)
{
	struct tap_record *taps;
	struct tern_error err;
	size_t count;

	if (ternd_db_taps_list(n->db, vm, &taps, &count, &err)) {
		log_error("VM '%s': %s", vm, err.message);
		return;
	}
	for (size_t i = 0; i < count; i++)
		tap_down(n, &taps[i]);
	free(taps);
}

/* Each network the VM names: defined, active, its bridge there. */
static int check_networks(struct networks *n, const char *vm,
			  const struct vm_network_refs *refs,
			  struct network_def *defs, struct tern_error *err)
{
	struct network_record r;
	int ret = 0;

	for (size_t i = 0; !ret && i < refs->count; i++) {
		ret = ternd_db_network_get(n->db, refs->names[i], &r, err);
		if (ret == -ENOENT)
			return tern_error_set(err, EINVAL,
					      "VM '%s' names network '%s', "
					      "which is not defined",
					      vm, refs->names[i]);
		if (ret)
			return ret;
		if (!r.active)
			ret = tern_error_set(err, EINVAL,
					     "VM '%s' names network '%s', "
					     "which is not active ('ternctl "
					     "net-start %s')",
					     vm, refs->names[i],
					     refs->names[i]);
		else
			ret = check_bridge_there(&r.def, err);
		defs[i] = r.def;
		network_record_free(&r);
	}
	return ret;
}

int networks_vm_taps_up(struct networks *n, const char *vm,
			const struct vm_network_refs *refs,
			struct tern_error *err)
{
	struct network_def defs[VM_MAX_NETS];
	struct tap_record taps[VM_MAX_NETS];
	int ret;

	if (!refs->count)
		return 0;
	ret = check_networks(n, vm, refs, defs, err);
	if (ret)
		return ret;
	for (size_t i = 0; i < refs->count; i++) {
		memset(&taps[i], 0, sizeof(taps[i]));
		snprintf(taps[i].tap, sizeof(taps[i].tap), "%s", refs->taps[i]);
		snprintf(taps[i].vm, sizeof(taps[i].vm), "%s", vm);
		snprintf(taps[i].network, sizeof(taps[i].network), "%s",
			 refs->names[i]);
		snprintf(taps[i].mac, sizeof(taps[i].mac), "%s", refs->macs[i]);
		taps[i].position = (int)i;
	}
	/* Recorded before created: a kill from here on leaves records the
	 * next ternd cleans up with the taps. */
	ret = ternd_db_taps_add(n->db, taps, refs->count, err);
	if (ret)
		return ret;
	ternd_test_kill_point("taps");
	for (size_t i = 0; !ret && i < refs->count; i++) {
		ret = net_tap_create(taps[i].tap, err);
		if (!ret)
			ret = net_bridge_add_port(defs[i].bridge, taps[i].tap,
						  err);
		if (!ret)
			ret = net_link_set_up(taps[i].tap, err);
	}
	if (ret)
		networks_vm_taps_down(n, vm);
	return ret;
}

/* --- ternd's start ------------------------------------------------------ */

static void recover_taps(struct networks *n)
{
	struct tap_record *taps;
	struct vm_record vm;
	struct tern_error err;
	size_t count;

	if (ternd_db_taps_list(n->db, NULL, &taps, &count, &err)) {
		log_error("networks: %s", err.message);
		return;
	}
	for (size_t i = 0; i < count; i++) {
		int running = 0;

		if (!ternd_db_get(n->db, taps[i].vm, &vm, &err)) {
			running = vm_state_active(vm.runtime.state);
			vm_record_free(&vm);
		}
		if (running)
			continue;
		log_info("VM '%s' is not running: deleting its tap %s",
			 taps[i].vm, taps[i].tap);
		tap_down(n, &taps[i]);
	}
	free(taps);
}

void networks_recover(struct networks *n)
{
	struct network_record *records;
	struct tern_error err;
	size_t count;

	recover_taps(n);
	if (ternd_db_network_list(n->db, &records, &count, &err)) {
		log_error("networks: %s", err.message);
		return;
	}
	for (size_t i = 0; i < count; i++) {
		const struct network_record *r = &records[i];

		if (!r->active)
			continue;
		if (r->def.kind == NETWORK_BRIDGE) {
			if (check_bridge_there(&r->def, &err))
				log_warn("%s", err.message);
			continue;
		}
		if (build_managed(n, r, &err)) {
			log_error("network '%s' could not be brought back: %s",
				  r->def.name, err.message);
			continue;
		}
		log_info("network '%s' is active (bridge %s)", r->def.name,
			 r->def.bridge);
	}
	network_records_free(records, count);
}
