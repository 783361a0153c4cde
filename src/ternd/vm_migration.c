#include "ternd/vm_migration.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "migration/migration_wire.h"
#include "ternd/migration_address.h"
#include "ternd/vm_api.h"
#include "ternd/vm_jail.h"
#include "ternd/vm_jail_files.h"
#include "ternd/vm_process.h"
#include "util/log.h"
#include "util/last_line.h"

/* A source VM's `tern migrate` child. */
struct outgoing {
	char name[VM_NAME_MAX + 1];
	char destination[128];
	struct vm_process child; /* pidfd -1 once it ended */
	int child_ok; /* it ended with status 0 */
	int tern_gone; /* the VM's tern ended (vm_migrations_tern_exited) */
	int tern_clean;
	int undefine_source;
};

/* A destination VM ternd started with --incoming. */
struct incoming {
	char name[VM_NAME_MAX + 1];
	int defined_here; /* the prepare defined it: abandon undefines */
	int waiting; /* its tern waits for the stream */
};

struct vm_migrations {
	struct outgoing *out;
	size_t out_count;
	struct incoming *in;
	size_t in_count;
	int64_t last_check_ms;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct vm_migrations *vm_migrations_new(void)
{
	return calloc(1, sizeof(struct vm_migrations));
}

void vm_migrations_free(struct vm_migrations *migs)
{
	if (!migs)
		return;
	for (size_t i = 0; i < migs->out_count; i++)
		vm_process_forget(&migs->out[i].child);
	free(migs->out);
	free(migs->in);
	free(migs);
}

static struct outgoing *find_out(struct vm_migrations *migs, const char *name)
{
	for (size_t i = 0; i < migs->out_count; i++)
		if (!strcmp(migs->out[i].name, name))
			return &migs->out[i];
	return NULL;
}

static struct incoming *find_in(struct vm_migrations *migs, const char *name)
{
	for (size_t i = 0; i < migs->in_count; i++)
		if (!strcmp(migs->in[i].name, name))
			return &migs->in[i];
	return NULL;
}

static void drop_out(struct vm_migrations *migs, struct outgoing *o)
{
	size_t i = (size_t)(o - migs->out);

	vm_process_forget(&o->child);
	memmove(o, o + 1, (migs->out_count - i - 1) * sizeof(*o));
	migs->out_count--;
}

static void drop_in(struct vm_migrations *migs, struct incoming *in)
{
	size_t i = (size_t)(in - migs->in);

	memmove(in, in + 1, (migs->in_count - i - 1) * sizeof(*in));
	migs->in_count--;
}

int vm_migrations_follow_incoming(struct vm_migrations *migs, const char *name,
				  int defined_here)
{
	struct incoming *in = find_in(migs, name), *grown;

	if (!in) {
		grown = realloc(migs->in,
				(migs->in_count + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		migs->in = grown;
		in = &grown[migs->in_count++];
		memset(in, 0, sizeof(*in));
		snprintf(in->name, sizeof(in->name), "%s", name);
	}
	in->defined_here = defined_here;
	in->waiting = 1;
	return 0;
}

size_t vm_migrations_poll_count(const struct vm_migrations *migs)
{
	return migs->out_count;
}

void vm_migrations_poll_fill(const struct vm_migrations *migs,
			     struct pollfd *fds)
{
	/* fd -1 (a child that ended, its VM's tern not yet): poll skips
	 * it. */
	for (size_t i = 0; i < migs->out_count; i++)
		fds[i] = (struct pollfd){.fd = migs->out[i].child.pidfd,
					 .events = POLLIN};
}

int vm_migrations_timeout_ms(const struct vm_migrations *migs)
{
	for (size_t i = 0; i < migs->in_count; i++)
		if (migs->in[i].waiting)
			return VM_MIGRATION_CHECK_MS;
	return -1;
}

/* DIR/vms/NAME/FILE. */
static int vm_file(struct vm_manager *m, const char *name, const char *file,
		   char *buf, size_t size)
{
	char dir[4200];
	int n;

	if (vm_manager_path(m, name, VM_FILE_DIR, dir, sizeof(dir)))
		return -ENAMETOOLONG;
	n = snprintf(buf, size, "%s/%s", dir, file);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static void remove_psk(struct vm_manager *m, const char *name)
{
	char path[4300];

	if (!vm_file(m, name, "migration.psk", path, sizeof(path)))
		unlink(path);
	if (!vm_file(m, name, "", path, sizeof(path)))
		vm_jail_remove_psk(path);
}

/* The key, 0600 in the VM's directory (made 0700 if new), written anew:
 * tern refuses a key file others can read. */
static int write_psk(struct vm_manager *m, const char *name, const char *psk,
		     char *path, size_t size, struct tern_error *err)
{
	char dir[4200];
	size_t len = strlen(psk);
	int fd, ok;

	if (vm_manager_path(m, name, VM_FILE_DIR, dir, sizeof(dir)) ||
	    vm_file(m, name, "migration.psk", path, size))
		return tern_error_set(err, ENAMETOOLONG,
				      "VM '%s': its state directory's path is "
				      "too long",
				      name);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return tern_error_set(err, errno, "cannot create %s: %s", dir,
				      strerror(errno));
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return tern_error_set(err, errno, "cannot write %s: %s", path,
				      strerror(errno));
	ok = write(fd, psk, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
	ok = !close(fd) && ok;
	if (!ok) {
		unlink(path);
		return tern_error_set(err, EIO, "cannot write %s", path);
	}
	return 0;
}

void vm_migrations_tern_exited(struct vm_migrations *migs, const char *name,
			       int clean, int asked, const char *how,
			       char *reason, size_t size, const char **event)
{
	struct outgoing *o = find_out(migs, name);
	struct incoming *in = find_in(migs, name);

	if (o) {
		o->tern_gone = 1;
		/* The source's tern exits 0 once the destination took the
		 * guest (its ACK); any other end is a crash, or a destroy. */
		o->tern_clean = clean && !asked;
		if (o->tern_clean) {
			snprintf(reason, size, "migrated to %.100s",
				 o->destination);
			*event = "migrated";
		}
	}
	if (in && in->waiting) {
		in->waiting = 0;
		if (asked)
			return;
		snprintf(reason, size,
			 "the incoming migration did not complete (tern %s)",
			 how);
		*event = "migration-failed";
	}
}

/* Writes the runtime record (state, reason, event), keeping the rest. */
static void set_state(struct vm_manager *m, const char *name,
		      enum vm_state state, const char *reason,
		      const char *event)
{
	struct tern_error err;
	struct vm_record r;

	if (vm_manager_get(m, name, &r, &err)) {
		log_error("VM '%s': %s", name, err.message);
		return;
	}
	r.runtime.state = state;
	snprintf(r.runtime.reason, sizeof(r.runtime.reason), "%s", reason);
	if (ternd_db_set_runtime(vm_manager_db(m), name, &r.runtime, event,
				 &err))
		log_error("VM '%s': recording '%s' failed: %s", name, reason,
			  err.message);
	vm_record_free(&r);
}

/* The child ended: status 0 means the guest runs on the destination,
 * and the VM's tern ends (or has). Otherwise the guest runs on here. */
static void child_ended(struct vm_manager *m, struct outgoing *o)
{
	char how[64], log_path[4300], line[300], reason[512];
	struct tern_error err;
	struct vm_record r;
	enum vm_state now = VM_STATE_RUNNING;

	o->child_ok = vm_process_finish(&o->child, how, sizeof(how));
	if (o->child_ok) {
		log_info("VM '%s': migration to %s completed", o->name,
			 o->destination);
		return;
	}
	line[0] = '\0';
	if (!vm_manager_path(m, o->name, VM_FILE_MIGRATION_LOG, log_path,
			     sizeof(log_path)))
		file_last_line(log_path, line, sizeof(line));
	snprintf(reason, sizeof(reason), "migration to %s failed: %s",
		 o->destination, line[0] ? line : how);
	log_warn("VM '%s': %s", o->name, reason);
	if (o->tern_gone || vm_manager_get(m, o->name, &r, &err))
		return;
	/* A source that could not take its disks back stays paused
	 * (docs/migration.md): its tern says which. */
	if (r.runtime.state == VM_STATE_MIGRATING &&
	    vm_api_state(r.runtime.api_socket, &now, &err))
		now = VM_STATE_RUNNING;
	if (r.runtime.state == VM_STATE_MIGRATING)
		set_state(m, o->name, now, reason, "migration-failed");
	vm_record_free(&r);
}

/* Both ended: the job is done. */
static void finish_out(struct vm_manager *m, struct vm_migrations *migs,
		       struct outgoing *o)
{
	char name[VM_NAME_MAX + 1];
	struct tern_error err;
	int undefine = o->child_ok && o->tern_clean && o->undefine_source;

	snprintf(name, sizeof(name), "%s", o->name);
	remove_psk(m, name);
	drop_out(migs, o);
	if (!undefine)
		return;
	if (vm_manager_undefine(m, name, &err))
		log_error("VM '%s' migrated, but undefining it here failed: "
			  "%s",
			  name, err.message);
}

/* An incoming VM whose tern now runs the guest. */
static void check_incoming(struct vm_manager *m, struct vm_migrations *migs)
{
	for (size_t i = 0; i < migs->in_count;) {
		struct incoming *in = &migs->in[i];
		struct tern_error err;
		struct vm_record r;
		enum vm_state now;
		int answer;

		if (!in->waiting || vm_manager_get(m, in->name, &r, &err)) {
			i++;
			continue;
		}
		answer = r.runtime.state == VM_STATE_INCOMING
			? vm_api_state(r.runtime.api_socket, &now, &err)
			: -EAGAIN;
		vm_record_free(&r);
		if (answer) {
			i++;
			continue;
		}
		set_state(m, in->name, now, "migrated in", "migrated-in");
		log_info("VM '%s': its incoming migration completed: %s here",
			 in->name, vm_state_name(now));
		remove_psk(m, in->name);
		if (vm_manager_attach_console(m, in->name, &err))
			log_warn("VM '%s' has no console through ternd: %s",
				 in->name, err.message);
		drop_in(migs, in);
	}
}

void vm_migrations_reap(struct vm_manager *m, const struct pollfd *fds,
			size_t count)
{
	struct vm_migrations *migs = vm_manager_migrations(m);
	int64_t now = now_ms();

	for (size_t i = 0; i < count && i < migs->out_count; i++)
		if (migs->out[i].child.pidfd >= 0 && fds[i].revents &&
		    vm_process_exited(&migs->out[i].child))
			child_ended(m, &migs->out[i]);
	for (size_t i = 0; i < migs->out_count;) {
		struct outgoing *o = &migs->out[i];

		/* A failed child ends the job; a good one waits for the
		 * VM's tern to exit. */
		if (o->child.pidfd < 0 && (o->tern_gone || !o->child_ok))
			finish_out(m, migs, o);
		else
			i++;
	}
	if (now - migs->last_check_ms >= VM_MIGRATION_CHECK_MS) {
		migs->last_check_ms = now;
		check_incoming(m, migs);
	}
}

static json_t *load_object(const char *body, size_t len, const char *what,
			   struct tern_error *err)
{
	json_error_t json_err;
	json_t *doc = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES,
				 &json_err);

	if (!json_is_object(doc)) {
		json_decref(doc);
		tern_error_set(err, EINVAL,
			       "%s: the body is not a JSON object%s%s", what,
			       body && len ? ": " : "",
			       body && len ? json_err.text : "");
		return NULL;
	}
	return doc;
}

/* Every key of doc is among allowed (NULL-terminated). */
static int only_keys(json_t *doc, const char *const *allowed, const char *what,
		     struct tern_error *err)
{
	const char *key;
	json_t *value;

	json_object_foreach(doc, key, value)
	{
		size_t i = 0;

		while (allowed[i] && strcmp(allowed[i], key))
			i++;
		if (!allowed[i])
			return tern_error_set(err, EINVAL,
					      "%s: unknown field \"%.64s\"",
					      what, key);
	}
	return 0;
}

static int take_psk(json_t *doc, char *psk, const char *what,
		    struct tern_error *err)
{
	const char *text = json_string_value(json_object_get(doc, "psk"));
	char why[200];

	if (!text)
		return tern_error_set(err, EINVAL,
				      "%s: \"psk\" (64 hex digits) is needed",
				      what);
	if (migration_psk_check(text, err)) {
		snprintf(why, sizeof(why), "%.150s", err->message);
		return tern_error_set(err, EINVAL, "%s: %s", what, why);
	}
	snprintf(psk, MIGRATION_PSK_HEX, "%s", text);
	return 0;
}

int vm_migration_incoming_parse(const char *body, size_t len,
				struct vm_migration_incoming *req,
				struct tern_error *err)
{
	static const char *const fields[] = {"definition", "psk",
					     "listen_address", "port", NULL};
	static const char what[] = "incoming";
	json_t *doc = load_object(body, len, what, err);
	json_t *def, *port;
	const char *addr;
	int ret;

	memset(req, 0, sizeof(*req));
	if (!doc)
		return -EINVAL;
	ret = only_keys(doc, fields, what, err);
	def = json_object_get(doc, "definition");
	addr = json_string_value(json_object_get(doc, "listen_address"));
	port = json_object_get(doc, "port");
	if (!ret && !json_is_object(def))
		ret = tern_error_set(err, EINVAL,
				     "incoming: \"definition\" (the VM's "
				     "definition, an object) is needed");
	if (!ret)
		ret = take_psk(doc, req->psk, what, err);
	if (!ret && (!addr || strlen(addr) >= sizeof(req->listen_address)))
		ret = tern_error_set(err, EINVAL,
				     "incoming: \"listen_address\" (an IP "
				     "address of this host) is needed");
	if (!ret)
		ret = migration_host_check(addr, "incoming: listen_address",
					   err);
	if (!ret && port &&
	    (!json_is_integer(port) || json_integer_value(port) < 0 ||
	     json_integer_value(port) > 65535))
		ret = tern_error_set(err, EINVAL,
				     "incoming: \"port\" is 0 (any free one) "
				     "to 65535");
	if (!ret) {
		snprintf(req->listen_address, sizeof(req->listen_address), "%s",
			 addr);
		req->port = port ? (unsigned)json_integer_value(port) : 0;
		req->definition = json_dumps(def, JSON_COMPACT);
		if (!req->definition)
			ret = tern_error_set(err, ENOMEM, "out of memory");
	}
	json_decref(doc);
	return ret;
}

void vm_migration_incoming_free(struct vm_migration_incoming *req)
{
	free(req->definition);
	req->definition = NULL;
}

int vm_migration_outgoing_parse(const char *body, size_t len,
				struct vm_migration_outgoing *req,
				struct tern_error *err)
{
	static const char *const fields[] = {"destination", "psk",
					     "undefine_source", "check", NULL};
	static const char what[] = "migrate";
	json_t *doc = load_object(body, len, what, err);
	json_t *undefine, *check;
	const char *dest;
	char host[128], port[16];
	int ret;

	memset(req, 0, sizeof(*req));
	if (!doc)
		return -EINVAL;
	ret = only_keys(doc, fields, what, err);
	dest = json_string_value(json_object_get(doc, "destination"));
	undefine = json_object_get(doc, "undefine_source");
	check = json_object_get(doc, "check");
	/* {"check": true} alone: may the VM migrate? */
	if (!ret && json_is_true(check) && !dest) {
		req->check_only = 1;
		json_decref(doc);
		return 0;
	}
	if (!ret && check && !json_is_false(check))
		ret = tern_error_set(err, EINVAL,
				     "migrate: \"check\": true comes alone");
	if (!ret && (!dest || strlen(dest) >= sizeof(req->destination)))
		ret = tern_error_set(err, EINVAL,
				     "migrate: \"destination\" "
				     "(tcp:ADDR:PORT) is needed");
	if (!ret)
		ret = migration_parse_address(dest, host, sizeof(host), port,
					      sizeof(port), err);
	if (!ret)
		ret = migration_host_check(host,
					   "migrate: the destination's "
					   "address",
					   err);
	if (!ret)
		ret = take_psk(doc, req->psk, what, err);
	if (!ret && undefine && !json_is_boolean(undefine))
		ret = tern_error_set(err, EINVAL,
				     "migrate: \"undefine_source\" is true "
				     "or false");
	if (!ret) {
		snprintf(req->destination, sizeof(req->destination), "%s",
			 dest);
		req->undefine_source = json_is_true(undefine);
	}
	json_decref(doc);
	return ret;
}

/* Binds ADDR:port (0: any) to learn that the address is this host's and
 * the port free, and which port that is. */
static int probe_port(const char *addr, unsigned port, unsigned *chosen,
		      struct tern_error *err)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int fd, saved;

	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		len = sizeof(*v6);
	} else {
		return migration_host_check(addr, "listen address", err);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return tern_error_set(err, errno, "socket: %s",
				      strerror(errno));
	/* As tern's listener will: a port in TIME_WAIT is free. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		saved = errno;
		close(fd);
		if (saved == EADDRNOTAVAIL)
			return tern_error_set(err, EINVAL,
					      "listen address %s is not an "
					      "address of the destination "
					      "host",
					      addr);
		return tern_error_set(err, saved == EADDRINUSE ? EBUSY : saved,
				      "cannot listen on %s port %u: %s", addr,
				      port, strerror(saved));
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		saved = errno;
		close(fd);
		return tern_error_set(err, saved, "getsockname: %s",
				      strerror(saved));
	}
	close(fd);
	*chosen = ntohs(ss.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
	return 0;
}

int vm_migration_prepare(struct vm_manager *m, const char *name,
			 const struct vm_migration_incoming *req, char *address,
			 size_t size, struct tern_error *err)
{
	struct vm_migrations *migs = vm_manager_migrations(m);
	struct incoming *left = find_in(migs, name);
	char psk_path[4300], why[160];
	struct vm_record r;
	unsigned port = 0;
	int created = 0, defined_here, ret;

	ret = vm_manager_get(m, name, &r, err);
	if (!ret) {
		enum vm_state state = r.runtime.state;

		vm_record_free(&r);
		/* Only a target a failed attempt left, shut off, is taken
		 * again; any other VM of that name is this host's own. */
		if (vm_state_active(state))
			return tern_error_set(err, EBUSY,
					      "VM '%s' is %s on the "
					      "destination already",
					      name, vm_state_name(state));
		if (!left)
			return tern_error_set(err, EBUSY,
					      "the destination has a VM named "
					      "'%s' already (shut off, not a "
					      "migration's): undefine it "
					      "there first",
					      name);
	} else if (ret != -ENOENT) {
		return ret;
	}
	/* A jailed tern has no capabilities: no port below 1024. */
	if (vm_manager_jailed(m) && req->port && req->port < 1024)
		return tern_error_set(err, EINVAL,
				      "port %u: a jailed VM's tern (no "
				      "capabilities) cannot listen below 1024",
				      req->port);
	ret = probe_port(req->listen_address, req->port, &port, err);
	if (!ret)
		ret = migration_tcp_address(req->listen_address, port, address,
					    size, err);
	if (ret)
		return ret;
	ret = vm_manager_define(m, name, req->definition,
				strlen(req->definition), &created, err);
	if (ret)
		return ret;
	defined_here = created || (left && left->defined_here);
	ret = write_psk(m, name, req->psk, psk_path, sizeof(psk_path), err);
	snprintf(why, sizeof(why), "waiting for an incoming migration on %s",
		 address);
	if (!ret) {
		struct vm_restore incoming = {.incoming = address,
					      .psk_file = psk_path,
					      .why = why,
					      .event = "incoming"};

		ret = vm_manager_start_restore(m, name, &incoming, err);
	}
	if (!ret && vm_migrations_follow_incoming(migs, name, defined_here)) {
		struct tern_error ignored;

		vm_manager_destroy(m, name, &ignored);
		ret = tern_error_set(err, ENOMEM, "out of memory");
	}
	if (ret) {
		struct tern_error ignored;

		remove_psk(m, name);
		if (defined_here && vm_manager_undefine(m, name, &ignored))
			log_error("VM '%s': undefining it after its failed "
				  "incoming start failed: %s",
				  name, ignored.message);
		left = find_in(migs, name);
		if (left)
			drop_in(migs, left);
		return ret;
	}
	log_info("VM '%s': %s", name, why);
	return 0;
}

int vm_migration_abandon(struct vm_manager *m, const char *name,
			 struct tern_error *err)
{
	struct vm_migrations *migs = vm_manager_migrations(m);
	struct incoming *in = find_in(migs, name);
	struct vm_record r;
	enum vm_state state;
	int ret = vm_manager_get(m, name, &r, err), defined_here;

	if (ret)
		return ret;
	state = r.runtime.state;
	vm_record_free(&r);
	if (state != VM_STATE_INCOMING && !in)
		return tern_error_set(err, EBUSY,
				      "VM '%s' is %s here, not an incoming "
				      "migration",
				      name, vm_state_name(state));
	if (state == VM_STATE_INCOMING) {
		/* Its end is the abandon's, not a failed migration's. */
		if (in)
			in->waiting = 0;
		ret = vm_manager_stop(m, name,
				      "the incoming migration was "
				      "abandoned",
				      err);
		if (ret)
			return ret;
	} else if (vm_state_active(state)) {
		return tern_error_set(err, EBUSY,
				      "VM '%s' is %s here: its migration "
				      "completed",
				      name, vm_state_name(state));
	}
	in = find_in(migs, name);
	defined_here = in && in->defined_here;
	if (in)
		drop_in(migs, in);
	remove_psk(m, name);
	if (defined_here)
		ret = vm_manager_undefine(m, name, err);
	if (!ret)
		log_info("VM '%s': incoming migration abandoned%s", name,
			 defined_here ? ", definition removed" : "");
	return ret;
}

int vm_migration_start(struct vm_manager *m, const char *name,
		       const struct vm_migration_outgoing *req,
		       struct tern_error *err)
{
	struct vm_migrations *migs = vm_manager_migrations(m);
	char psk_path[4300], psk_arg[4400], log_path[4300], reason[160];
	char vm_dir[4300];
	struct outgoing *o, *grown;
	struct vm_process child;
	struct vm_record r;
	int ret = vm_manager_get(m, name, &r, err);

	if (ret)
		return ret;
	if (r.runtime.state != VM_STATE_RUNNING)
		ret = tern_error_set(
			err, EBUSY,
			"VM '%s' is %s: only a running VM migrates%s", name,
			vm_state_name(r.runtime.state),
			r.runtime.state == VM_STATE_PAUSED
				? " (resume it first)"
				: "");
	else if (find_out(migs, name))
		ret = tern_error_set(err, EBUSY,
				     "VM '%s': its last migration has not "
				     "ended yet",
				     name);
	if (ret || req->check_only) {
		vm_record_free(&r);
		return ret;
	}
	ret = write_psk(m, name, req->psk, psk_path, sizeof(psk_path), err);
	if (!ret && !vm_file(m, name, "", vm_dir, sizeof(vm_dir))) {
		/* A jailed tern opens the key inside its jail. */
		ret = vm_jail_put_psk(vm_dir, req->psk, err);
		if (!ret)
			snprintf(psk_path, sizeof(psk_path), "%s", VM_JAIL_PSK);
		else if (ret == -ENOENT)
			ret = 0;
	}
	if (!ret &&
	    vm_manager_path(m, name, VM_FILE_MIGRATION_LOG, log_path,
			    sizeof(log_path)))
		ret = tern_error_set(err, ENAMETOOLONG,
				     "VM '%s': path too long", name);
	if (!ret) {
		char *argv[] = {(char *)vm_manager_tern_path(m),
				"migrate",
				"--api-sock",
				r.runtime.api_socket,
				"--migration-tls",
				psk_arg,
				(char *)req->destination,
				NULL};

		snprintf(psk_arg, sizeof(psk_arg), "psk=%s", psk_path);
		/* Each migration's own log: its last line is the reason. */
		unlink(log_path);
		ret = vm_process_spawn_program(argv, log_path, &child, err);
	}
	grown = ret
		? NULL
		: realloc(migs->out, (migs->out_count + 1) * sizeof(*grown));
	if (!ret && !grown) {
		vm_process_abandon(&child);
		ret = tern_error_set(err, ENOMEM, "out of memory");
	}
	if (!ret) {
		migs->out = grown;
		o = &grown[migs->out_count];
		memset(o, 0, sizeof(*o));
		snprintf(o->name, sizeof(o->name), "%s", name);
		snprintf(o->destination, sizeof(o->destination), "%s",
			 req->destination);
		o->child = child;
		o->undefine_source = req->undefine_source;
		r.runtime.state = VM_STATE_MIGRATING;
		snprintf(reason, sizeof(reason), "migrating to %s",
			 req->destination);
		snprintf(r.runtime.reason, sizeof(r.runtime.reason), "%s",
			 reason);
		ret = ternd_db_set_runtime(vm_manager_db(m), name, &r.runtime,
					   "migrating", err);
		if (ret)
			vm_process_abandon(&o->child);
		else
			migs->out_count++;
	}
	if (!ret) {
		ret = vm_process_release(&migs->out[migs->out_count - 1].child,
					 err);
		/* Its pidfd shows the end: the loop records it as a
		 * failure. */
		if (ret)
			log_error("VM '%s': %s", name, err->message);
		ret = 0;
	}
	if (ret)
		remove_psk(m, name);
	else
		log_info("VM '%s': %s", name, reason);
	vm_record_free(&r);
	return ret;
}
