/* ternctl: drives ternd from the command line, with virsh's habits
 * (docs/ternd.md). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ternctl/ternctl_client.h"
#include "ternctl/ternctl_print.h"
#include "config/vm_config_json.h"
#include "ternd/vm_definition.h"
#include "util/version.h"

#define DEFAULT_SOCKET "/run/ternd.sock"

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* What one command line asked for. */
struct invocation {
	const char *socket;
	int json;
	int all;
	const char *args[2];
	int arg_count;
};

struct verb {
	const char *name;
	const char *synopsis;
	const char *help;
	int args; /* exact count of operands */
	int takes_json, takes_all;
	int (*run)(const struct verb *verb, const struct invocation *inv);
};

static const struct verb verbs[];

static void print_usage(FILE *out);

static int failed(const char *verb, const struct tern_error *err)
{
	fprintf(stderr, "ternctl: %s: %s\n", verb, err->message);
	return EXIT_FAILED;
}

static int run_list(const struct verb *verb, const struct invocation *inv)
{
	struct tern_error err;
	json_t *answer;

	if (ternctl_request(inv->socket, "GET", "/v1/vms", NULL, &answer, &err))
		return failed(verb->name, &err);
	if (inv->json) {
		/* The same selection as the table. */
		json_t *vms = json_object_get(answer, "vms"), *vm;
		size_t i;

		json_array_foreach(vms, i, vm)
		{
			const char *state =
				json_string_value(json_object_get(vm, "state"));

			if (!inv->all && state && !strcmp(state, "shut off")) {
				json_array_remove(vms, i);
				i--;
			}
		}
		ternctl_print_json(stdout, answer);
	} else {
		ternctl_print_list(stdout, answer, inv->all);
	}
	json_decref(answer);
	return 0;
}

static int vm_path(char *buf, size_t size, const char *name, const char *action)
{
	return snprintf(buf, size, "/v1/vms/%s%s%s", name, action ? "/" : "",
			action ? action : "");
}

static int check_name(const struct verb *verb, const char *name)
{
	struct tern_error err;

	if (vm_name_check(name, &err))
		return failed(verb->name, &err);
	return 0;
}

static int run_info(const struct verb *verb, const struct invocation *inv)
{
	struct tern_error err;
	json_t *answer;
	char path[128];

	if (check_name(verb, inv->args[0]))
		return EXIT_FAILED;
	vm_path(path, sizeof(path), inv->args[0], NULL);
	if (ternctl_request(inv->socket, "GET", path, NULL, &answer, &err))
		return failed(verb->name, &err);
	if (inv->json)
		ternctl_print_json(stdout, answer);
	else
		ternctl_print_info(stdout, answer);
	json_decref(answer);
	return 0;
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

static int run_define(const struct verb *verb, const struct invocation *inv)
{
	struct tern_error err;
	json_t *answer;
	char path[128], *doc;
	int ret;

	if (check_name(verb, inv->args[0]))
		return EXIT_FAILED;
	doc = read_file(inv->args[1], &err);
	if (!doc)
		return failed(verb->name, &err);
	vm_path(path, sizeof(path), inv->args[0], NULL);
	ret = ternctl_request(inv->socket, "PUT", path, doc, &answer, &err);
	free(doc);
	if (ret)
		return failed(verb->name, &err);
	json_decref(answer);
	printf("VM '%s' defined from %s\n", inv->args[0], inv->args[1]);
	return 0;
}

static int run_undefine(const struct verb *verb, const struct invocation *inv)
{
	struct tern_error err;
	json_t *answer;
	char path[128];

	if (check_name(verb, inv->args[0]))
		return EXIT_FAILED;
	vm_path(path, sizeof(path), inv->args[0], NULL);
	if (ternctl_request(inv->socket, "DELETE", path, NULL, &answer, &err))
		return failed(verb->name, &err);
	json_decref(answer);
	printf("VM '%s' undefined\n", inv->args[0]);
	return 0;
}

/* start, shutdown, destroy, pause, resume. */
static int run_action(const struct verb *verb, const struct invocation *inv)
{
	static const struct {
		const char *verb, *done;
	} done[] = {
		{"start", "started"},
		{"shutdown", "is being shut down (Ctrl-Alt-Del sent)"},
		{"destroy", "destroyed"},
		{"pause", "paused"},
		{"resume", "resumed"},
	};
	struct tern_error err;
	json_t *answer;
	char path[128];

	if (check_name(verb, inv->args[0]))
		return EXIT_FAILED;
	vm_path(path, sizeof(path), inv->args[0], verb->name);
	if (ternctl_request(inv->socket, "POST", path, NULL, &answer, &err))
		return failed(verb->name, &err);
	json_decref(answer);
	for (size_t i = 0; i < sizeof(done) / sizeof(done[0]); i++)
		if (!strcmp(done[i].verb, verb->name))
			printf("VM '%s' %s\n", inv->args[0], done[i].done);
	return 0;
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
	 "NAME: 1 to 64 letters, digits, '.', '_' or '-', starting with a "
	 "letter or digit.",
	 2, 0, 0, run_define},
	{"undefine", "undefine NAME",
	 "Removes a shut-off VM's definition, and its files under ternd's "
	 "state\n"
	 "directory (logs included). A running or paused VM is refused: "
	 "destroy or\n"
	 "shut it down first.",
	 1, 0, 0, run_undefine},
	{"start", "start NAME",
	 "Starts a shut-off VM: ternd runs a tern process for it and returns "
	 "once its\n"
	 "vCPUs run. If tern fails, the error names tern's last log line and "
	 "the log.",
	 1, 0, 0, run_action},
	{"shutdown", "shutdown NAME",
	 "Asks the guest to shut down: presses Ctrl-Alt-Del on its keyboard "
	 "(tern's\n"
	 "SendCtrlAltDel), like the power button. The guest decides; the VM "
	 "is shut off\n"
	 "when its tern exits (with tern's default --on-reboot exit, the "
	 "guest's\n"
	 "reboot ends it). A guest without a keyboard driver cannot be asked: "
	 "the error\n"
	 "says so; use destroy.",
	 1, 0, 0, run_action},
	{"destroy", "destroy NAME",
	 "Stops a running or paused VM at once: SIGTERM to its tern, and "
	 "SIGKILL\n"
	 "if it still runs 5 s later. The guest gets no warning, as if its "
	 "power cord\n"
	 "were pulled. The definition stays.",
	 1, 0, 0, run_action},
	{"list", "list [--all] [--json]",
	 "One line per VM: name, state (running, paused, shut off), vCPUs "
	 "and memory.\n"
	 "Without --all only running and paused VMs are listed.",
	 0, 1, 1, run_list},
	{"info", "info NAME [--json]",
	 "The VM's state and why it last changed, vCPUs, memory, its tern's "
	 "pid and\n"
	 "API socket, and its log files. --json adds the definition.",
	 1, 1, 0, run_info},
	{"pause", "pause NAME",
	 "Stops the VM's vCPUs (tern's PATCH /vm Paused); its memory and "
	 "devices stay.",
	 1, 0, 0, run_action},
	{"resume", "resume NAME", "Lets a paused VM's vCPUs run again.", 1, 0,
	 0, run_action},
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
		"                        " DEFAULT_SOCKET ")\n"
		"  --json                machine-readable JSON output (list, "
		"info)\n"
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

/* Options may stand before or after the verb; "-c" takes a value. Returns
 * 0 to run, -1 when help or the version was printed, else EXIT_USAGE. */
static int parse(int argc, char **argv, struct invocation *inv,
		 const struct verb **verb)
{
	int help = 0;

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
		} else if (!strcmp(arg, "--json")) {
			inv->json = 1;
		} else if (!strcmp(arg, "--all")) {
			inv->all = 1;
		} else if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			help = 1;
		} else if (!strcmp(arg, "-V") || !strcmp(arg, "--version")) {
			printf("ternctl %s\n", TERN_VERSION);
			return -1;
		} else if (arg[0] == '-' && arg[1]) {
			return usage_error("unknown option '%s'", arg);
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
	if (inv->arg_count != verb->args) {
		fprintf(stderr, "ternctl: %s: expected %s\n", verb->name,
			verb->synopsis);
		return EXIT_USAGE;
	}
	if (inv->json && !verb->takes_json)
		return usage_error("--json: %s has no output to format",
				   verb->name);
	if (inv->all && !verb->takes_all)
		return usage_error("--all belongs to list, not %s", verb->name);
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
	return verb->run(verb, &inv);
}
