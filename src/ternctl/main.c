/* ternctl: drives ternd from the command line, with virsh's habits
 * (docs/ternd.md). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ternctl/ternctl_client.h"
#include "ternctl/ternctl_console.h"
#include "ternctl/ternctl_migrate.h"
#include "ternctl/ternctl_print.h"
#include "ternctl/ternctl_print_snapshots.h"
#include "config/vm_config_json.h"
#include "ternd/ternd_name.h"
#include "util/version.h"

#define DEFAULT_SOCKET "/run/ternd.sock"
/* ternd's page of events (TERND_EVENTS_PAGE). */
#define EVENTS_PAGE 1000
/* ternd's CONSOLE_SCROLLBACK_MAX. */
#define CONSOLE_SCROLLBACK_LIMIT (1024 * 1024)

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* Options a verb may take, beyond -c and --help. */
enum {
	OPT_JSON = 1 << 0,
	OPT_ALL = 1 << 1,
	OPT_NAME = 1 << 2,
	OPT_SHRINK = 1 << 3,
	OPT_DISABLE = 1 << 4,
	OPT_FOLLOW = 1 << 5,
	OPT_NAT = 1 << 6,
	OPT_DHCP = 1 << 7,
	OPT_FORCE = 1 << 8,
	OPT_SNAPSHOTS_TOO = 1 << 12,
	OPT_UNDEFINE_SOURCE = 1 << 13,
};

static const struct {
	const char *flag;
	int bit;
} flags[] = {
	{"--json", OPT_JSON},
	{"--all", OPT_ALL},
	{"--name", OPT_NAME},
	{"--shrink", OPT_SHRINK},
	{"--disable", OPT_DISABLE},
	{"--follow", OPT_FOLLOW},
	{"--nat", OPT_NAT},
	{"--dhcp", OPT_DHCP},
	{"--snapshots-too", OPT_SNAPSHOTS_TOO},
	{"--force", OPT_FORCE},
	{"--undefine-source", OPT_UNDEFINE_SOURCE},
};

/* What one command line asked for. */
struct invocation {
	const char *verb;
	const char *socket;
	int options; /* OPT_* */
	const char *mode; /* shutdown --mode, NULL: ternd's default */
	/* net-define's --bridge, --subnet, --kind; NULL when not given. */
	const char *bridge, *subnet, *kind;
	const char *scrollback; /* console's --scrollback, NULL: default */
	/* migrate's --listen-address, --port, --timeout; NULL: defaults. */
	const char *listen_address, *port, *timeout;
	const char *args[2];
	int arg_count;
	struct ternctl_tls_files tls; /* --tls-cert, --tls-key, --tls-ca */
};

struct verb {
	const char *name;
	const char *synopsis;
	const char *help;
	int args; /* exact count of operands */
	int options; /* the OPT_* it takes */
	int (*run)(const struct verb *verb, const struct invocation *inv);
};

static const struct verb verbs[];

static void print_usage(FILE *out);

static int failed(const char *verb, const struct tern_error *err)
{
	fprintf(stderr, "ternctl: %s: %s\n", verb, err->message);
	return EXIT_FAILED;
}

/* How a verb shows ternd's answer (not called with --json, which prints
 * the answer as it came). */
typedef void (*shower)(const struct invocation *inv, json_t *answer);

/* Every verb's one request: sends body (NULL for none), then prints the
 * answer with --json, else through show (NULL: nothing). The exit
 * status. */
static int call(const struct verb *verb, const struct invocation *inv,
		const char *method, const char *path, const char *body,
		shower show)
{
	struct tern_error err;
	json_t *answer;

	if (ternctl_request(inv->socket, method, path, body, &answer, &err))
		return failed(verb->name, &err);
	if (inv->options & OPT_JSON)
		ternctl_print_json(stdout, answer);
	else if (show)
		show(inv, answer);
	json_decref(answer);
	return 0;
}

/* call() with a JSON body (taken). */
static int call_json(const struct verb *verb, const struct invocation *inv,
		     const char *method, const char *path, json_t *body,
		     shower show)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int ret;

	json_decref(body);
	if (!text) {
		fprintf(stderr, "ternctl: %s: out of memory\n", verb->name);
		return EXIT_FAILED;
	}
	ret = call(verb, inv, method, path, text, show);
	free(text);
	return ret;
}

/* The operand that names a VM or a volume, checked before anything is
 * sent; kind as ternd_name_check's. */
static int check_name(const struct verb *verb, const char *kind,
		      const char *name)
{
	struct tern_error err;

	if (ternd_name_check(kind, name, &err))
		return failed(verb->name, &err);
	return 0;
}

/* /v1/COLLECTION/NAME[/ACTION], the name checked. Nonzero: the exit
 * status, after the message. */
static int object_path(const struct verb *verb, const char *kind,
		       const char *name, const char *action, char *buf,
		       size_t size)
{
	if (check_name(verb, kind, name))
		return EXIT_FAILED;
	snprintf(buf, size, "/v1/%s/%s%s%s",
		 !strcmp(kind, "VM")		    ? "vms"
			 : !strcmp(kind, "network") ? "networks"
						    : "volumes",
		 name, action ? "/" : "", action ? action : "");
	return 0;
}

/* Without --all, only running and paused VMs: the table and the JSON
 * show the same selection. */
static void select_active(const struct invocation *inv, json_t *answer)
{
	json_t *vms = json_object_get(answer, "vms"), *vm;
	size_t i;

	if (inv->options & OPT_ALL)
		return;
	json_array_foreach(vms, i, vm)
	{
		const char *state =
			json_string_value(json_object_get(vm, "state"));

		if (state && !strcmp(state, "shut off")) {
			json_array_remove(vms, i);
			i--;
		}
	}
}

static void show_list(const struct invocation *inv, json_t *answer)
{
	select_active(inv, answer);
	if (inv->options & OPT_NAME)
		ternctl_print_names(stdout, json_object_get(answer, "vms"));
	else
		ternctl_print_list(stdout, answer, 1);
}

static int run_list(const struct verb *verb, const struct invocation *inv)
{
	struct tern_error err;
	json_t *answer;

	if (!(inv->options & OPT_JSON))
		return call(verb, inv, "GET", "/v1/vms", NULL, show_list);
	if (ternctl_request(inv->socket, "GET", "/v1/vms", NULL, &answer, &err))
		return failed(verb->name, &err);
	select_active(inv, answer);
	ternctl_print_json(stdout, answer);
	json_decref(answer);
	return 0;
}

static void show_info(const struct invocation *inv, json_t *answer)
{
	ternctl_print_info(stdout, answer);
}

static int run_info(const struct verb *verb, const struct invocation *inv)
{
	char path[128];

	if (object_path(verb, "VM", inv->args[0], NULL, path, sizeof(path)))
		return EXIT_FAILED;
	return call(verb, inv, "GET", path, NULL, show_info);
}

static char *read_file(const char *path, struct tern_error *err)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap + 1);
	ssize_t n;
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;

	if (fd < 0 || !buf) {
		tern_error_set(err, errno, "cannot read %s: %s", path,
			       strerror(errno));
		free(buf);
		return NULL;
	}
	while ((n = read(fd, buf + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len > VM_CONFIG_FILE_MAX) {
			tern_error_set(err, EFBIG,
				       "%s is larger than %d bytes: not a VM "
				       "definition",
				       path, VM_CONFIG_FILE_MAX);
			n = -2;
			break;
		}
		if (len == cap) {
			char *grown = realloc(buf, cap * 2 + 1);

			if (!grown) {
				tern_error_set(err, ENOMEM, "out of memory");
				n = -2;
				break;
			}
			buf = grown;
			cap *= 2;
		}
	}
	if (n == -1)
		tern_error_set(err, errno, "cannot read %s: %s", path,
			       strerror(errno));
	if (fd > 0)
		close(fd);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/* The line a verb without output prints once done: "VM 'web' started". */
static void show_done(const struct invocation *inv, json_t *answer)
{
	static const struct {
		const char *verb, *done;
	} done[] = {
		{"define", "VM '%s' defined from %s\n"},
		{"undefine", "VM '%s' undefined\n"},
		{"start", "VM '%s' started\n"},
		{"shutdown", "VM '%s' is being shut down\n"},
		{"destroy", "VM '%s' destroyed\n"},
		{"pause", "VM '%s' paused\n"},
		{"resume", "VM '%s' resumed\n"},
		{"reboot", "VM '%s' is being rebooted\n"},
		{"snapshot-delete", "Snapshot '%2$s' of VM '%1$s' deleted\n"},
		{"vol-create", "Volume '%s' created (%s)\n"},
		{"vol-delete", "Volume '%s' deleted\n"},
		{"net-define", "Network '%s' defined\n"},
		{"net-undefine", "Network '%s' undefined\n"},
		{"net-start", "Network '%s' started\n"},
		{"net-destroy", "Network '%s' destroyed\n"},
	};

	for (size_t i = 0; i < sizeof(done) / sizeof(done[0]); i++)
		if (!strcmp(done[i].verb, inv->verb))
			printf(done[i].done, inv->args[0],
			       inv->args[1] ? inv->args[1] : "");
}

static int run_define(const struct verb *verb, const struct invocation *inv)
{
	struct tern_error err;
	char path[128], *doc;
	int ret;

	if (object_path(verb, "VM", inv->args[0], NULL, path, sizeof(path)))
		return EXIT_FAILED;
	doc = read_file(inv->args[1], &err);
	if (!doc)
		return failed(verb->name, &err);
	/* Sent as written: ternd is the one that says what is wrong. */
	ret = call(verb, inv, "PUT", path, doc, show_done);
	free(doc);
	return ret;
}

static int run_undefine(const struct verb *verb, const struct invocation *inv)
{
	char path[160];

	if (object_path(verb, "VM", inv->args[0], NULL, path, sizeof(path)))
		return EXIT_FAILED;
	if (inv->options & OPT_SNAPSHOTS_TOO)
		strcat(path, "?snapshots=true");
	return call(verb, inv, "DELETE", path, NULL, show_done);
}

/* /v1/vms/VM/snapshots[/SNAP[/ACTION]], both names checked. */
static int snapshot_path(const struct verb *verb, const struct invocation *inv,
			 const char *snap, const char *action, char *buf,
			 size_t size)
{
	if (object_path(verb, "VM", inv->args[0], "snapshots", buf, size))
		return EXIT_FAILED;
	if (!snap)
		return 0;
	if (check_name(verb, "snapshot", snap))
		return EXIT_FAILED;
	snprintf(buf + strlen(buf), size - strlen(buf), "/%s%s%s", snap,
		 action ? "/" : "", action ? action : "");
	return 0;
}

static void show_snapshot(const struct invocation *inv, json_t *answer)
{
	if (!strcmp(inv->verb, "snapshot-create"))
		printf("Snapshot '%s' of VM '%s' created (the VM was %s)\n",
		       json_string_value(json_object_get(answer, "name")),
		       inv->args[0],
		       json_string_value(json_object_get(answer, "state")));
	else
		ternctl_print_snapshot(stdout, answer);
}

static int run_snapshot_create(const struct verb *verb,
			       const struct invocation *inv)
{
	char path[256];

	if (snapshot_path(verb, inv, NULL, NULL, path, sizeof(path)) ||
	    (inv->args[1] && check_name(verb, "snapshot", inv->args[1])))
		return EXIT_FAILED;
	if (!inv->args[1])
		return call(verb, inv, "POST", path, NULL, show_snapshot);
	return call_json(verb, inv, "POST", path,
			 json_pack("{s:s}", "name", inv->args[1]),
			 show_snapshot);
}

static void show_snapshots(const struct invocation *inv, json_t *answer)
{
	if (inv->options & OPT_NAME)
		ternctl_print_names(stdout,
				    json_object_get(answer, "snapshots"));
	else
		ternctl_print_snapshots(stdout, answer);
}

static int run_snapshot_list(const struct verb *verb,
			     const struct invocation *inv)
{
	char path[256];

	if (snapshot_path(verb, inv, NULL, NULL, path, sizeof(path)))
		return EXIT_FAILED;
	return call(verb, inv, "GET", path, NULL, show_snapshots);
}

static int run_snapshot_info(const struct verb *verb,
			     const struct invocation *inv)
{
	char path[256];

	if (snapshot_path(verb, inv, inv->args[1], NULL, path, sizeof(path)))
		return EXIT_FAILED;
	return call(verb, inv, "GET", path, NULL, show_snapshot);
}

static void show_reverted(const struct invocation *inv, json_t *answer)
{
	printf("VM '%s' reverted to snapshot '%s' (%s)\n", inv->args[0],
	       inv->args[1],
	       json_string_value(json_object_get(answer, "state")));
}

static int run_snapshot_revert(const struct verb *verb,
			       const struct invocation *inv)
{
	char path[256];

	if (snapshot_path(verb, inv, inv->args[1], "revert", path,
			  sizeof(path)))
		return EXIT_FAILED;
	return call(verb, inv, "POST", path, NULL, show_reverted);
}

static int run_snapshot_delete(const struct verb *verb,
			       const struct invocation *inv)
{
	char path[256];

	if (snapshot_path(verb, inv, inv->args[1], NULL, path, sizeof(path)))
		return EXIT_FAILED;
	return call(verb, inv, "DELETE", path, NULL, show_done);
}

/* start, shutdown, destroy, pause, resume. */
static int run_action(const struct verb *verb, const struct invocation *inv)
{
	char path[128], *body = NULL;
	int ret;

	if (object_path(verb, "VM", inv->args[0], verb->name, path,
			sizeof(path)))
		return EXIT_FAILED;
	/* ternd checks the mode's name and says what the modes are. */
	if (inv->mode) {
		json_t *doc = json_pack("{s:s}", "mode", inv->mode);

		body = doc ? json_dumps(doc, 0) : NULL;
		json_decref(doc);
	}
	ret = call(verb, inv, "POST", path, body, show_done);
	free(body);
	return ret;
}

static void show_autostart(const struct invocation *inv, json_t *answer)
{
	printf("VM '%s' %s\n", inv->args[0],
	       json_is_true(json_object_get(answer, "autostart"))
		       ? "starts when ternd starts (autostart)"
		       : "no longer starts when ternd starts");
}

static int run_autostart(const struct verb *verb, const struct invocation *inv)
{
	char path[128];

	if (object_path(verb, "VM", inv->args[0], "autostart", path,
			sizeof(path)))
		return EXIT_FAILED;
	return call_json(
		verb, inv, "PUT", path,
		json_pack("{s:b}", "enabled", !(inv->options & OPT_DISABLE)),
		show_autostart);
}

/* A size in bytes: N with an optional K, M, G, T or P (powers of 1024,
 * "KiB" and "K" alike). */
static int parse_size(const struct verb *verb, const char *text, uint64_t *size)
{
	static const char units[] = "KMGTP";
	unsigned long long n;
	const char *unit;
	char *end;
	int shift = 0;

	errno = 0;
	n = strtoull(text, &end, 10);
	if (*end && (unit = strchr(units, *end & ~0x20)) && *end) {
		shift = 10 * (int)(unit - units + 1);
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
	}
	if (text[0] < '0' || text[0] > '9' || errno || *end ||
	    (shift && n > (~0ULL >> shift))) {
		fprintf(stderr,
			"ternctl: %s: size '%s': expected bytes, or a number "
			"with K, M, G, T or P (powers of 1024), as 10G\n",
			verb->name, text);
		return EXIT_USAGE;
	}
	*size = (uint64_t)n << shift;
	return 0;
}

static void show_volume(const struct invocation *inv, json_t *answer)
{
	const char *how =
		json_string_value(json_object_get(answer, "clone_method"));
	char size[32];

	ternctl_format_size(size, sizeof(size),
			    json_object_get(answer, "capacity"));
	if (!strcmp(inv->verb, "vol-clone"))
		printf("Volume '%s' cloned from '%s' (%s)\n", inv->args[1],
		       inv->args[0],
		       how && !strcmp(how, "reflink")
			       ? "reflink: blocks shared until written"
			       : "copied: this file system shares no blocks");
	else if (!strcmp(inv->verb, "vol-resize"))
		printf("Volume '%s' resized to %s\n", inv->args[0], size);
	else
		ternctl_print_volume(stdout, answer);
}

static int run_vol_create(const struct verb *verb, const struct invocation *inv)
{
	char path[128];
	uint64_t size;
	int ret = parse_size(verb, inv->args[1], &size);

	if (ret)
		return ret;
	if (object_path(verb, "volume", inv->args[0], NULL, path, sizeof(path)))
		return EXIT_FAILED;
	return call_json(verb, inv, "PUT", path,
			 json_pack("{s:I}", "capacity", (json_int_t)size),
			 show_done);
}

static void show_setmem(const struct invocation *inv, json_t *answer)
{
	const json_t *b = json_object_get(answer, "balloon");

	printf("VM '%s': balloon target %lld MiB, the guest has %lld of "
	       "%lld MiB once its driver follows\n",
	       inv->args[0],
	       (long long)json_integer_value(json_object_get(b, "target_mib")),
	       (long long)json_integer_value(
		       json_object_get(b, "guest_memory_mib")),
	       (long long)json_integer_value(json_object_get(b, "memory_mib")));
}

static int run_setmem(const struct verb *verb, const struct invocation *inv)
{
	char path[128];
	uint64_t size;
	int ret = parse_size(verb, inv->args[1], &size);

	if (ret)
		return ret;
	/* A bare number is MiB here, as virsh setmem's is KiB: nobody
	 * means bytes. */
	if (strspn(inv->args[1], "0123456789") == strlen(inv->args[1]))
		size <<= 20;
	if (object_path(verb, "VM", inv->args[0], "setmem", path, sizeof(path)))
		return EXIT_FAILED;
	return call_json(verb, inv, "POST", path,
			 json_pack("{s:I}", "memory", (json_int_t)size),
			 show_setmem);
}

static int run_vol_clone(const struct verb *verb, const struct invocation *inv)
{
	char path[128];

	if (object_path(verb, "volume", inv->args[0], "clone", path,
			sizeof(path)) ||
	    check_name(verb, "volume", inv->args[1]))
		return EXIT_FAILED;
	return call_json(verb, inv, "POST", path,
			 json_pack("{s:s}", "name", inv->args[1]), show_volume);
}

static int run_vol_resize(const struct verb *verb, const struct invocation *inv)
{
	char path[128];
	uint64_t size;
	int ret = parse_size(verb, inv->args[1], &size);

	if (ret)
		return ret;
	if (object_path(verb, "volume", inv->args[0], "resize", path,
			sizeof(path)))
		return EXIT_FAILED;
	return call_json(verb, inv, "POST", path,
			 json_pack("{s:I, s:b}", "capacity", (json_int_t)size,
				   "shrink", !!(inv->options & OPT_SHRINK)),
			 show_volume);
}

static int run_vol_delete(const struct verb *verb, const struct invocation *inv)
{
	char path[128];

	if (object_path(verb, "volume", inv->args[0], NULL, path, sizeof(path)))
		return EXIT_FAILED;
	return call(verb, inv, "DELETE", path, NULL, show_done);
}

static int run_vol_info(const struct verb *verb, const struct invocation *inv)
{
	char path[128];

	if (object_path(verb, "volume", inv->args[0], NULL, path, sizeof(path)))
		return EXIT_FAILED;
	return call(verb, inv, "GET", path, NULL, show_volume);
}

static void show_volumes(const struct invocation *inv, json_t *answer)
{
	if (inv->options & OPT_NAME)
		ternctl_print_names(stdout, json_object_get(answer, "volumes"));
	else
		ternctl_print_volumes(stdout, answer);
}

static int run_vol_list(const struct verb *verb, const struct invocation *inv)
{
	return call(verb, inv, "GET", "/v1/volumes", NULL, show_volumes);
}

static int run_net_define(const struct verb *verb, const struct invocation *inv)
{
	char path[128];
	json_t *body;

	if (!inv->bridge) {
		fprintf(stderr,
			"ternctl: net-define: --bridge BRIDGE is needed\n");
		return EXIT_USAGE;
	}
	if (object_path(verb, "network", inv->args[0], NULL, path,
			sizeof(path)))
		return EXIT_FAILED;
	body = json_pack("{s:s}", "bridge", inv->bridge);
	if (body && inv->subnet)
		json_object_set_new(body, "subnet", json_string(inv->subnet));
	if (body && inv->kind)
		json_object_set_new(body, "kind", json_string(inv->kind));
	if (body && (inv->options & OPT_NAT))
		json_object_set_new(body, "nat", json_true());
	if (body && (inv->options & OPT_DHCP))
		json_object_set_new(body, "dhcp", json_true());
	return call_json(verb, inv, "PUT", path, body, show_done);
}

/* net-undefine, net-start, net-destroy. */
static int run_net_action(const struct verb *verb, const struct invocation *inv)
{
	char path[128];
	int undefine = !strcmp(verb->name, "net-undefine");

	if (object_path(verb, "network", inv->args[0],
			undefine ? NULL : verb->name + 4, path, sizeof(path)))
		return EXIT_FAILED;
	return call(verb, inv, undefine ? "DELETE" : "POST", path, NULL,
		    show_done);
}

static void show_network(const struct invocation *inv, json_t *answer)
{
	(void)inv;
	ternctl_print_network(stdout, answer);
}

static int run_net_info(const struct verb *verb, const struct invocation *inv)
{
	char path[128];

	if (object_path(verb, "network", inv->args[0], NULL, path,
			sizeof(path)))
		return EXIT_FAILED;
	return call(verb, inv, "GET", path, NULL, show_network);
}

static void show_networks(const struct invocation *inv, json_t *answer)
{
	if (inv->options & OPT_NAME)
		ternctl_print_names(stdout,
				    json_object_get(answer, "networks"));
	else
		ternctl_print_networks(stdout, answer);
}

static int run_net_list(const struct verb *verb, const struct invocation *inv)
{
	return call(verb, inv, "GET", "/v1/networks", NULL, show_networks);
}

static void show_events(const struct invocation *inv, json_t *answer)
{
	json_t *events = json_object_get(answer, "events"), *event;
	size_t i;

	json_array_foreach(events, i, event)
	{
		if (inv->options & OPT_JSON) {
			json_dumpf(event, stdout, JSON_COMPACT);
			fputc('\n', stdout);
		} else {
			ternctl_print_event(stdout, event);
		}
	}
	fflush(stdout);
}

/* Everything logged so far, then (--follow) long polls for what comes,
 * until interrupted. --json: one event per line (JSON lines), so a
 * follower's output can be read as it comes. */
static int run_events(const struct verb *verb, const struct invocation *inv)
{
	int follow = inv->options & OPT_FOLLOW, first = 1, more;
	struct tern_error err;
	long long since = 0;
	char path[96];
	json_t *answer;

	for (;;) {
		snprintf(path, sizeof(path), "/v1/events?since=%lld%s", since,
			 follow && !first ? "&wait=25" : "");
		if (ternctl_request(inv->socket, "GET", path, NULL, &answer,
				    &err))
			return failed(verb->name, &err);
		show_events(inv, answer);
		since = (long long)json_integer_value(
			json_object_get(answer, "last_id"));
		/* A full page: more are logged already, fetched at once. */
		more = json_array_size(json_object_get(answer, "events")) ==
			EVENTS_PAGE;
		json_decref(answer);
		if (!more && !follow)
			return 0;
		if (!more)
			first = 0;
	}
}

/* Prometheus text, as ternd answers it: for a look, or a script that
 * cannot reach the TCP port (ternd --metrics-listen). */
static int run_metrics(const struct verb *verb, const struct invocation *inv)
{
	struct tern_error err;
	char *text;

	if (ternctl_request_text(inv->socket, "/v1/metrics", &text, &err))
		return failed(verb->name, &err);
	fputs(text, stdout);
	free(text);
	return fflush(stdout) ? EXIT_FAILED : 0;
}

/* --scrollback's value: bytes, or with K or M (powers of 1024). -1 when it
 * is not one, or more than ternd keeps. */
static long long parse_scrollback(const char *text)
{
	unsigned long long n;
	char *end;

	if (!text[0] || text[0] == '-')
		return -1;
	errno = 0;
	n = strtoull(text, &end, 10);
	if (errno || end == text)
		return -1;
	if (*end == 'K' || *end == 'k')
		n <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		n <<= 20, end++;
	if (*end || n > CONSOLE_SCROLLBACK_LIMIT)
		return -1;
	return (long long)n;
}

/* Why a console that ternd closed ended, from the VM's state now. */
static int console_closed(const struct verb *verb, const char *name,
			  const struct invocation *inv)
{
	struct tern_error err;
	const char *state, *reason;
	char path[128];
	json_t *answer;

	snprintf(path, sizeof(path), "/v1/vms/%s", name);
	if (ternctl_request(inv->socket, "GET", path, NULL, &answer, &err)) {
		fprintf(stderr,
			"ternctl: %s: the console ended, and ternd does not "
			"answer: %s\n",
			verb->name, err.message);
		return EXIT_FAILED;
	}
	state = json_string_value(json_object_get(answer, "state"));
	reason = json_string_value(json_object_get(answer, "reason"));
	if (state && !strcmp(state, "shut off")) {
		fprintf(stderr, "ternctl: %s: VM '%s' is shut off (%s)\n",
			verb->name, name, reason ? reason : "");
		json_decref(answer);
		return 0;
	}
	json_decref(answer);
	fprintf(stderr,
		"ternctl: %s: ternd closed the console of VM '%s' (another "
		"client took it with --force, or its connection to the VM "
		"was lost)\n",
		verb->name, name);
	return EXIT_FAILED;
}

static int run_migrate(const struct verb *verb, const struct invocation *inv)
{
	struct ternctl_migrate_options o = {
		.source = inv->socket,
		.dest = inv->args[1],
		.name = inv->args[0],
		.listen_address = inv->listen_address,
		.port = inv->port,
		.timeout = inv->timeout,
		.undefine_source = !!(inv->options & OPT_UNDEFINE_SOURCE),
	};

	(void)verb;
	return ternctl_migrate(&o);
}

static int run_console(const struct verb *verb, const struct invocation *inv)
{
	struct ternctl_console_options o = {
		.socket = inv->socket,
		.name = inv->args[0],
		.scrollback = 4096,
		.force = !!(inv->options & OPT_FORCE),
	};
	enum ternctl_console_end end;
	struct tern_error err;
	long long scrollback;

	if (check_name(verb, "VM", o.name))
		return EXIT_FAILED;
	/* The console is a byte stream after an HTTP upgrade, which only
	 * the Unix socket's server allows (not yet the TLS listener). */
	if (ternctl_tls_is_uri(inv->socket)) {
		fprintf(stderr,
			"ternctl: %s: the console is reached through ternd's "
			"Unix socket on the VM's host, not over %s\n",
			verb->name, inv->socket);
		return EXIT_FAILED;
	}
	if (inv->scrollback) {
		scrollback = parse_scrollback(inv->scrollback);
		if (scrollback < 0) {
			fprintf(stderr,
				"ternctl: %s: --scrollback '%s': a number of "
				"bytes (K, M: powers of 1024), at most 1M\n",
				verb->name, inv->scrollback);
			return EXIT_USAGE;
		}
		o.scrollback = (size_t)scrollback;
	}
	if (ternctl_console(&o, &end, &err))
		return failed(verb->name, &err);
	switch (end) {
	case TERNCTL_CONSOLE_DETACHED:
		return 0;
	case TERNCTL_CONSOLE_SIGNAL:
		return EXIT_FAILED;
	case TERNCTL_CONSOLE_CLOSED:
		break;
	}
	return console_closed(verb, o.name, inv);
}

static const struct verb verbs[] = {
	{"define", "define NAME FILE",
	 "Stores a VM definition under NAME: FILE (- for standard input) is "
	 "tern's\n"
	 "configuration document, the JSON that `tern run --config-file` "
	 "reads and\n"
	 "tern's `GET /vm/config` returns (docs/api.md). ternd checks it as "
	 "tern\n"
	 "would, and refuses it with the reason otherwise. An existing NAME's "
	 "definition\n"
	 "is replaced; a running VM keeps its configuration until it is next "
	 "started.\n"
	 "A drive may name a pool volume, \"volume\": \"VOL\", in place of "
	 "\"path_on_host\"\n"
	 "(see vol-create); the volume must exist.\n"
	 "NAME: 1 to 64 letters, digits, '.', '_' or '-', starting with a "
	 "letter or digit.",
	 2, 0, run_define},
	{"undefine", "undefine NAME [--snapshots-too]",
	 "Removes a shut-off VM's definition, and its files under ternd's "
	 "state\n"
	 "directory (logs included). A running or paused VM is refused: "
	 "destroy or\n"
	 "shut it down first. The volumes it named stay. A VM with "
	 "snapshots is\n"
	 "refused unless --snapshots-too, which deletes them with it.",
	 1, OPT_SNAPSHOTS_TOO, run_undefine},
	{"start", "start NAME",
	 "Starts a shut-off VM: ternd runs a tern process for it and returns "
	 "once its\n"
	 "vCPUs run. If tern fails, the error names tern's last log line and "
	 "the log.",
	 1, 0, run_action},
	{"shutdown", "shutdown NAME [--mode acpi|ctrl-alt-del]",
	 "Asks the guest to shut down. The guest decides; the VM is shut off "
	 "when its\n"
	 "tern exits.\n"
	 "  --mode acpi          (default) presses the ACPI power button "
	 "(tern's\n"
	 "                       SendPowerButton): systemd-logind or acpid "
	 "power the\n"
	 "                       guest off\n"
	 "  --mode ctrl-alt-del  presses Ctrl-Alt-Del on its keyboard "
	 "(SendCtrlAltDel),\n"
	 "                       for guests whose init powers off on it; "
	 "most reboot\n"
	 "                       instead, and the VM stays running (see "
	 "reboot)\n"
	 "A guest that does not listen (no ACPI button driver, or no keyboard "
	 "driver)\n"
	 "cannot be asked: the error says so; use destroy.",
	 1, 0, run_action},
	{"destroy", "destroy NAME",
	 "Stops a running or paused VM at once: SIGTERM to its tern, and "
	 "SIGKILL\n"
	 "if it still runs 5 s later. The guest gets no warning, as if its "
	 "power cord\n"
	 "were pulled. The definition stays.",
	 1, 0, run_action},
	{"list", "list [--all] [--name] [--json]",
	 "One line per VM: name, state (running, paused, shut off), vCPUs "
	 "and memory.\n"
	 "Without --all only running and paused VMs are listed; --name "
	 "prints only\n"
	 "their names, one a line (for scripts and shell completion).",
	 0, OPT_JSON | OPT_ALL | OPT_NAME, run_list},
	{"info", "info NAME [--json]",
	 "The VM's state and why it last changed, vCPUs, memory, autostart, "
	 "its tern's\n"
	 "pid and API socket, and its log files. --json adds the definition.",
	 1, OPT_JSON, run_info},
	{"console", "console NAME [--force] [--scrollback BYTES]",
	 "Attaches this terminal to the VM's serial console (COM1, the "
	 "guest's ttyS0)\n"
	 "through ternd: first the newest BYTES of what the guest printed "
	 "(default\n"
	 "4096; K and M for powers of 1024, at most 1M; 0 for none; ternd "
	 "keeps the\n"
	 "newest 512 KiB to 1 MiB in the VM's console.log), then the live "
	 "console.\n"
	 "The terminal is raw: every key goes to the guest, except Ctrl-], "
	 "which\n"
	 "detaches (the VM runs on). One console per VM: a second is "
	 "refused unless\n"
	 "--force, which takes it over (the first is told, and ends).\n"
	 "Standard input need not be a terminal (scripts): it is sent as "
	 "is, and its\n"
	 "end detaches, as a Ctrl-] byte in it does.\n"
	 "Exit status: 0 detached, or the VM stopped; 1 the console could "
	 "not be had,\n"
	 "was taken over, or ternd went away.",
	 1, OPT_FORCE, run_console},
	{"reboot", "reboot NAME [--mode ctrl-alt-del|reset]",
	 "Reboots the guest; the VM stays running.\n"
	 "  --mode ctrl-alt-del  (default) presses Ctrl-Alt-Del on its "
	 "keyboard (tern's\n"
	 "                       SendCtrlAltDel): the guest's init reboots, "
	 "and tern\n"
	 "                       boots it again in the same process (ternd "
	 "starts VMs\n"
	 "                       with tern.on_reboot restart unless the "
	 "definition\n"
	 "                       says exit). The guest decides; one without "
	 "a\n"
	 "                       keyboard driver, or paused, is refused\n"
	 "  --mode reset         does not ask the guest: stops the VM's tern "
	 "and starts\n"
	 "                       a new one from the definition, as a reset "
	 "button",
	 1, 0, run_action},
	{"setmem", "setmem NAME SIZE",
	 "Sets how much memory a running VM's guest has, through its "
	 "virtio-balloon:\n"
	 "the balloon's target becomes the VM's memory minus SIZE (tern's "
	 "PATCH\n"
	 "/balloon), and the guest's driver gives or takes the difference. "
	 "SIZE is MiB,\n"
	 "or has K, M, G (powers of 1024), a whole number of MiB, at most "
	 "the VM's\n"
	 "memory. A VM whose definition has no \"balloon\" is refused; "
	 "'ternctl info'\n"
	 "shows the balloon's target and what the guest gave.",
	 2, 0, run_setmem},
	{"snapshot-create", "snapshot-create NAME [SNAP]",
	 "Saves a running or paused VM's state (vCPUs, devices, memory) as "
	 "the\n"
	 "snapshot SNAP (default: the time, as 1765432100): a running VM is "
	 "paused\n"
	 "while its tern writes the files, then resumed. A shut-off VM has "
	 "no state\n"
	 "and is refused. Disks are not copied: a volume's data stays as it "
	 "is.\n"
	 "Also spelled 'ternctl snapshot create NAME [SNAP]'.",
	 1, 0, run_snapshot_create},
	{"snapshot-list", "snapshot-list NAME [--name] [--json]",
	 "The VM's snapshots, oldest first: name, creation time, the VM's "
	 "state then,\n"
	 "size on disk. --name prints only their names.",
	 1, OPT_JSON | OPT_NAME, run_snapshot_list},
	{"snapshot-info", "snapshot-info NAME SNAP [--json]",
	 "One snapshot: its state, time, directory and size; --json adds the "
	 "definition\n"
	 "the VM had when it was taken.",
	 2, OPT_JSON, run_snapshot_info},
	{"snapshot-revert", "snapshot-revert NAME SNAP",
	 "Returns the VM to the snapshot: its tern (if running) is stopped, "
	 "its\n"
	 "definition becomes the one it had then, and a new tern restores "
	 "the\n"
	 "snapshot, running or paused as the VM was when it was taken. "
	 "Whatever the\n"
	 "guest did since is lost, except what it wrote to its disks.",
	 2, 0, run_snapshot_revert},
	{"snapshot-delete", "snapshot-delete NAME SNAP",
	 "Deletes the snapshot's files and its catalog entry. A VM running "
	 "from it\n"
	 "keeps running.",
	 2, 0, run_snapshot_delete},
	{"pause", "pause NAME",
	 "Stops the VM's vCPUs (tern's PATCH /vm Paused); its memory and "
	 "devices stay.",
	 1, 0, run_action},
	{"resume", "resume NAME", "Lets a paused VM's vCPUs run again.", 1, 0,
	 run_action},
	{"autostart", "autostart NAME [--disable]",
	 "Marks the VM to be started whenever ternd starts (or restarts) and "
	 "finds it\n"
	 "shut off; a VM ternd re-attaches to is left as it runs. --disable "
	 "removes the\n"
	 "mark. 'ternctl info' shows it.",
	 1, OPT_DISABLE, run_autostart},
	{"vol-create", "vol-create NAME SIZE",
	 "Creates a volume in ternd's storage pool: a sparse raw disk image "
	 "of SIZE\n"
	 "bytes (K, M, G, T or P for powers of 1024, as 10G; a multiple of "
	 "512).\n"
	 "A definition's drive names it with \"volume\": \"NAME\".",
	 2, OPT_JSON, run_vol_create},
	{"vol-clone", "vol-clone SRC NAME",
	 "Creates the volume NAME as a copy of SRC: a reflink (blocks shared "
	 "until\n"
	 "either is written) where the pool's file system can, else a copy "
	 "that keeps\n"
	 "the holes; the output says which. SRC must not be in use by a "
	 "running VM.",
	 2, OPT_JSON, run_vol_clone},
	{"vol-resize", "vol-resize NAME SIZE [--shrink]",
	 "Sets the volume's size (as vol-create's SIZE). Only grows it unless "
	 "--shrink\n"
	 "is given (shrinking loses the end of the disk). Refused while a "
	 "running or\n"
	 "paused VM uses it: the guest would not see the change.",
	 2, OPT_JSON | OPT_SHRINK, run_vol_resize},
	{"vol-delete", "vol-delete NAME",
	 "Deletes the volume and its data. Refused while a VM's definition "
	 "names it.",
	 1, 0, run_vol_delete},
	{"vol-list", "vol-list [--name] [--json]",
	 "One line per volume: name, size, the space it takes on disk, and "
	 "the VMs\n"
	 "whose definitions name it. --name prints only the names.",
	 0, OPT_JSON | OPT_NAME, run_vol_list},
	{"vol-info", "vol-info NAME [--json]",
	 "The volume's file, size, space on disk, origin and users.", 1,
	 OPT_JSON, run_vol_info},
	{"net-define",
	 "net-define NAME --bridge BRIDGE [--subnet A.B.C.D/N [--nat] "
	 "[--dhcp]] [--kind managed|bridge]",
	 "Defines a network (inactive until net-start).\n"
	 "With --subnet it is managed: ternd creates the bridge BRIDGE, gives "
	 "it the\n"
	 "subnet's first address, and with --nat masquerades the subnet's "
	 "traffic to\n"
	 "other networks (an nftables table 'ternd-NAME'), with --dhcp runs "
	 "dnsmasq\n"
	 "for DHCP and DNS on that bridge only. Without --subnet it is a "
	 "bridge\n"
	 "network: BRIDGE exists already, made and managed outside ternd, "
	 "and VMs\n"
	 "only join it. --kind says which explicitly.\n"
	 "A VM's interface names a network with \"network\": \"NAME\" in "
	 "place of\n"
	 "\"host_dev_name\"; ternd then makes its tap.",
	 1, OPT_NAT | OPT_DHCP, run_net_define},
	{"net-undefine", "net-undefine NAME",
	 "Removes an inactive network's definition and its files. Refused "
	 "while a\n"
	 "VM's definition names it.",
	 1, 0, run_net_action},
	{"net-start", "net-start NAME",
	 "Starts a network: for a managed one its bridge, address, NAT and "
	 "dnsmasq;\n"
	 "for a bridge network, the check that the bridge exists.",
	 1, 0, run_net_action},
	{"net-destroy", "net-destroy NAME",
	 "Stops a network: dnsmasq, the NAT table and the bridge of a "
	 "managed one go.\n"
	 "Refused while running VMs are on it.",
	 1, 0, run_net_action},
	{"net-list", "net-list [--name] [--json]",
	 "One line per network: name, state, kind, bridge, subnet, NAT and "
	 "DHCP.",
	 0, OPT_JSON | OPT_NAME, run_net_list},
	{"net-info", "net-info NAME [--json]",
	 "The network's definition, state, dnsmasq, the VMs that name it "
	 "and those on\n"
	 "it now, and its DHCP leases (with the VM each belongs to).",
	 1, OPT_JSON, run_net_info},
	{"migrate",
	 "migrate NAME DEST [--listen-address ADDR] [--port PORT] "
	 "[--timeout SECONDS] [--undefine-source]",
	 "Moves a running VM, live, from the ternd of -c to the ternd DEST "
	 "(a socket\n"
	 "path or tls://HOST:PORT, as -c takes it). ternctl drives both: the "
	 "destination\n"
	 "defines the VM (it must have no VM of that name, and the volumes "
	 "and networks\n"
	 "the definition names) and starts its tern waiting for the "
	 "migration, with a\n"
	 "one-time key; the source's tern sends the guest there over TLS "
	 "while it runs.\n"
	 "Afterwards the VM runs on DEST and is shut off on the source, its "
	 "definition\n"
	 "kept (--undefine-source removes it). On failure the guest runs on "
	 "at the\n"
	 "source, the destination drops what it made, and the message says "
	 "why.\n"
	 "  --listen-address ADDR  the destination's IP address that the "
	 "source reaches\n"
	 "                         (default: the HOST of a tls:// DEST; "
	 "required for a\n"
	 "                         socket DEST)\n"
	 "  --port PORT            the destination's TCP port for the stream "
	 "(default:\n"
	 "                         a free one)\n"
	 "  --timeout SECONDS      give up after this long (default 300): the "
	 "destination\n"
	 "                         is abandoned, the guest stays on the "
	 "source\n"
	 "Jailed VMs (ternd --jail-uid-base) too. Disks must be the "
	 "same files\n"
	 "on both hosts (shared storage as the pool directory).",
	 2, OPT_UNDEFINE_SOURCE, run_migrate},
	{"events", "events [--follow] [--json]",
	 "ternd's event log: VMs defined, undefined, started, stopped, "
	 "crashed, paused,\n"
	 "resumed, reverted, rebooted, autostart changes, snapshots created "
	 "and deleted,\n"
	 "setmem, migrations (migrating, migrated, incoming, migrated-in, "
	 "migration-failed);\n"
	 "volumes created, cloned, resized, deleted; each\n"
	 "with its time and reason, oldest first. --follow then waits for "
	 "new events\n"
	 "and prints them as they come, until interrupted. --json prints one "
	 "JSON\n"
	 "object per event and line.",
	 0, OPT_JSON | OPT_FOLLOW, run_events},
	{"metrics", "metrics",
	 "Prints the host's metrics in Prometheus text format: ternd's own "
	 "(ternd_*:\n"
	 "VMs by state, volumes, networks, requests, events, start "
	 "latency) and every\n"
	 "running or paused VM's tern's metrics (tern_*, docs/api.md), each "
	 "sample\n"
	 "labelled vm=\"NAME\". A VM whose tern does not answer within 1 s "
	 "is left out,\n"
	 "with ternd_vm_scrape_up{vm=\"NAME\"} 0. The same text is ternd's "
	 "GET /v1/metrics,\n"
	 "and GET /metrics on ternd's --metrics-listen port, for "
	 "Prometheus.",
	 0, 0, run_metrics},
};

#define VERB_COUNT (sizeof(verbs) / sizeof(verbs[0]))

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: ternctl [-c SOCKET] [--json] VERB [ARGS]\n"
		"\n"
		"ternctl drives ternd, the host's manager of tern virtual "
		"machines, through\n"
		"its API socket. Each VM is defined once (its tern "
		"configuration document),\n"
		"then started, paused, resumed, shut down or destroyed by "
		"name.\n"
		"\n"
		"Verbs:\n");
	for (size_t i = 0; i < VERB_COUNT; i++)
		fprintf(out, "  %s\n", verbs[i].synopsis);
	fprintf(out,
		"\n"
		"Options:\n"
		"  -c, --connect SOCKET  ternd's socket (default: "
		"$TERND_SOCKET, "
		"else\n"
		"                        " DEFAULT_SOCKET "), or "
		"tls://HOST:PORT for a ternd\n"
		"                        on another host (ternd --listen; "
		"https:// too)\n"
		"  --tls-cert FILE       with tls://: the client certificate "
		"(default:\n"
		"                        $TERNCTL_TLS_CERT, else "
		"client-cert.pem in\n"
		"                        ~/.pki/ternctl/ if it has one, else "
		"in "
		"/etc/pki/ternctl/)\n"
		"  --tls-key FILE        its key ($TERNCTL_TLS_KEY, else "
		"client-key.pem there)\n"
		"  --tls-ca FILE         the CA that signed ternd's "
		"certificate "
		"($TERNCTL_TLS_CA,\n"
		"                        else ca-cert.pem there); ternd's "
		"certificate must also\n"
		"                        name the HOST of -c\n"
		"  --json                machine-readable JSON output (the "
		"verbs that\n"
		"                        print something)\n"
		"  -h, --help            this help; 'ternctl VERB --help' "
		"describes a verb\n"
		"  -V, --version         the version\n"
		"\n"
		"Exit status: 0 done, 1 the request failed (the message says "
		"why: ternd not\n"
		"running, no such VM, the VM in the wrong state, a refused "
		"definition),\n"
		"2 a usage error.\n"
		"\n"
		"Example:\n"
		"  ternctl define web web.json && ternctl start web && ternctl "
		"list\n");
}

static void print_verb_help(FILE *out, const struct verb *verb)
{
	fprintf(out, "Usage: ternctl [-c SOCKET] %s\n\n%s\n", verb->synopsis,
		verb->help);
}

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < VERB_COUNT; i++)
		if (!strcmp(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

static int usage_error(const char *fmt, const char *what)
{
	fprintf(stderr, "ternctl: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, " ('ternctl --help' for usage)\n");
	return EXIT_USAGE;
}

static int flag_bit(const char *arg)
{
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (!strcmp(flags[i].flag, arg))
			return flags[i].bit;
	return 0;
}

/* net-define's --bridge, --subnet and --kind, console's --scrollback, the
 * TLS files (--tls-cert, --tls-key, --tls-ca), as "--NAME VALUE" or
 * "--NAME=VALUE": 1 when argv[*i] is one (stored, *i past its value), 0
 * when not, -1 when its value is missing. */
static int value_option(int argc, char **argv, int *i, struct invocation *inv)
{
	static const char *const names[] = {
		"--bridge",   "--subnet",  "--kind",   "--scrollback",
		"--tls-cert", "--tls-key", "--tls-ca", "--listen-address",
		"--port",     "--timeout"};
	const char **slots[] = {&inv->bridge,	&inv->subnet,
				&inv->kind,	&inv->scrollback,
				&inv->tls.cert, &inv->tls.key,
				&inv->tls.ca,	&inv->listen_address,
				&inv->port,	&inv->timeout};
	const char *arg = argv[*i];

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		size_t len = strlen(names[k]);

		if (strncmp(arg, names[k], len) ||
		    (arg[len] && arg[len] != '='))
			continue;
		if (arg[len] == '=') {
			*slots[k] = arg + len + 1;
			return 1;
		}
		if (*i + 1 == argc)
			return -1;
		*slots[k] = argv[++*i];
		return 1;
	}
	return 0;
}

/* Options may stand before or after the verb; "-c" takes a value. Returns
 * 0 to run, -1 when help or the version was printed, else EXIT_USAGE. */
static int parse(int argc, char **argv, struct invocation *inv,
		 const struct verb **verb)
{
	int help = 0, value;

	*verb = NULL;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (!strcmp(arg, "-c") || !strcmp(arg, "--connect")) {
			if (++i == argc)
				return usage_error("%s needs a socket path",
						   arg);
			inv->socket = argv[i];
		} else if (!strncmp(arg, "--connect=", 10)) {
			inv->socket = arg + 10;
		} else if (flag_bit(arg)) {
			inv->options |= flag_bit(arg);
		} else if (!strcmp(arg, "--mode")) {
			if (++i == argc)
				return usage_error(
					"%s needs a mode (shutdown: "
					"acpi, ctrl-alt-del; reboot: "
					"ctrl-alt-del, reset)",
					arg);
			inv->mode = argv[i];
		} else if (!strncmp(arg, "--mode=", 7)) {
			inv->mode = arg + 7;
		} else if ((value = value_option(argc, argv, &i, inv))) {
			if (value < 0)
				return usage_error(strncmp(arg, "--tls-", 6)
							   ? "%s needs a value"
							   : "%s needs a file",
						   arg);
		} else if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			help = 1;
		} else if (!strcmp(arg, "-V") || !strcmp(arg, "--version")) {
			printf("ternctl %s\n", TERN_VERSION);
			return -1;
		} else if (arg[0] == '-' && arg[1]) {
			return usage_error("unknown option '%s'", arg);
		} else if (!*verb && !strcmp(arg, "snapshot")) {
			/* "snapshot create" is "snapshot-create". */
			static char joined[32];

			if (i + 1 == argc || strlen(argv[i + 1]) > 16)
				return usage_error(
					"%s needs create, list, info, revert "
					"or delete",
					arg);
			snprintf(joined, sizeof(joined), "snapshot-%s",
				 argv[++i]);
			*verb = find_verb(joined);
			if (!*verb)
				return usage_error("unknown verb '%s'", joined);
		} else if (!*verb) {
			*verb = find_verb(arg);
			if (!*verb)
				return usage_error("unknown verb '%s'", arg);
		} else if (inv->arg_count < 2) {
			inv->args[inv->arg_count++] = arg;
		} else {
			return usage_error("too many arguments ('%s')", arg);
		}
	}
	if (help) {
		if (*verb)
			print_verb_help(stdout, *verb);
		else
			print_usage(stdout);
		return -1;
	}
	if (!*verb) {
		print_usage(stderr);
		return EXIT_USAGE;
	}
	return 0;
}

static int check_invocation(const struct verb *verb,
			    const struct invocation *inv)
{
	/* The one verb with an optional operand: snapshot-create's SNAP. */
	int optional = !strcmp(verb->name, "snapshot-create");

	if (inv->arg_count < verb->args ||
	    inv->arg_count > verb->args + optional) {
		fprintf(stderr, "ternctl: %s: expected %s\n", verb->name,
			verb->synopsis);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (!(inv->options & flags[i].bit & ~verb->options))
			continue;
		fprintf(stderr,
			"ternctl: %s: %s does not take %s%s ('ternctl %s "
			"--help' for usage)\n",
			flags[i].flag, verb->name, flags[i].flag,
			flags[i].bit == OPT_JSON ? " (it has no output to "
						   "format)"
						 : "",
			verb->name);
		return EXIT_USAGE;
	}
	if (inv->mode && strcmp(verb->name, "shutdown") &&
	    strcmp(verb->name, "reboot"))
		return usage_error("--mode belongs to shutdown and reboot, not "
				   "%s",
				   verb->name);
	if ((inv->tls.cert || inv->tls.key || inv->tls.ca) &&
	    !ternctl_tls_is_uri(inv->socket) &&
	    !(!strcmp(verb->name, "migrate") && inv->arg_count == 2 &&
	      ternctl_tls_is_uri(inv->args[1])))
		return usage_error("--tls-cert, --tls-key and --tls-ca belong "
				   "to -c tls://HOST:PORT, not to the socket "
				   "%s",
				   inv->socket);
	if ((inv->listen_address || inv->port || inv->timeout) &&
	    strcmp(verb->name, "migrate"))
		return usage_error("--listen-address, --port and --timeout "
				   "belong to migrate, not %s",
				   verb->name);
	if (inv->scrollback && strcmp(verb->name, "console"))
		return usage_error("--scrollback belongs to console, not %s",
				   verb->name);
	if ((inv->bridge || inv->subnet || inv->kind) &&
	    strcmp(verb->name, "net-define"))
		return usage_error("--bridge, --subnet and --kind belong to "
				   "net-define, not %s",
				   verb->name);
	return 0;
}

int main(int argc, char **argv)
{
	struct invocation inv = {0};
	const struct verb *verb;
	int ret;

	inv.socket = getenv("TERND_SOCKET");
	if (!inv.socket || !inv.socket[0])
		inv.socket = DEFAULT_SOCKET;
	ret = parse(argc, argv, &inv, &verb);
	if (ret)
		return ret < 0 ? 0 : ret;
	ret = check_invocation(verb, &inv);
	if (ret)
		return ret;
	inv.verb = verb->name;
	ternctl_client_set_tls_files(&inv.tls);
	return verb->run(verb, &inv);
}
