/* tern snapshot: the command-line spelling of PATCH /vm + PUT
 * /snapshot/create against a running tern. All the work is done by that
 * tern (src/control/snapshot_control.c); this is only its client. */
#include "cli/snapshot_command.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/api_client.h"
#include "cli/exit_status.h"

/* Writing the memory file of a large guest takes time: the socket
 * timeout bounds each read, and the snapshot answer comes only at the end. */
#define SNAPSHOT_REPLY_TIMEOUT_S 600
#define CONTROL_REPLY_TIMEOUT_S 30

enum {
	OPT_HELP = 'h',
	OPT_API_SOCK = 256,
	OPT_SNAPSHOT,
	OPT_MEM,
	OPT_DIFF,
	OPT_RESUME,
};

static const struct option snapshot_options[] = {
	{"api-sock", required_argument, NULL, OPT_API_SOCK},
	{"snapshot", required_argument, NULL, OPT_SNAPSHOT},
	{"mem", required_argument, NULL, OPT_MEM},
	{"diff", no_argument, NULL, OPT_DIFF},
	{"resume", no_argument, NULL, OPT_RESUME},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

struct snapshot_request {
	const char *api_sock;
	const char *snapshot_path;
	const char *mem_path;
	int diff;
	int resume;
};

void snapshot_command_print_help(FILE *out)
{
	fprintf(out,
		"Usage: tern snapshot --api-sock PATH --snapshot FILE --mem "
		"FILE [--diff] [--resume]\n"
		"\n"
		"Save the VM of a running tern (started with --api-sock PATH) "
		"to two files:\n"
		"its state (vCPUs, devices) and its memory. tern snapshot is a "
		"client of that\n"
		"tern's API: it pauses the VM (PATCH /vm Paused) when it is "
		"running, then asks\n"
		"for PUT /snapshot/create. 'tern restore' starts a new VM from "
		"the files.\n"
		"\n"
		"Options:\n"
		"      --api-sock PATH    the running tern's API socket "
		"(required)\n"
		"      --snapshot FILE    where the state file goes "
		"(required)\n"
		"      --mem FILE         where the memory file goes "
		"(required); sparse, as\n"
		"                         large as the guest's RAM\n"
		"      --diff             a Diff snapshot: write only the "
		"pages "
		"dirtied since the\n"
		"                         last snapshot, onto the memory file "
		"that snapshot\n"
		"                         wrote (default: Full, every page)\n"
		"      --resume           resume the VM after the snapshot. "
		"Without it the VM\n"
		"                         stays paused, as with Firecracker: "
		"resume it with\n"
		"                         PATCH /vm {\"state\": \"Resumed\"} "
		"or "
		"tern snapshot --resume\n"
		"  -h, --help             show this help and exit\n"
		"\n"
		"Relative paths are made absolute here: the running tern "
		"writes the files.\n"
		"See docs/snapshots.md for what a snapshot holds.\n"
		"\n"
		"Exit status:\n"
		"  0    the snapshot was written\n"
		"  1    it was not: no tern on the socket, the VM not started, "
		"or the API's\n"
		"       error (printed as one line)\n"
		"  2    the command line is wrong\n");
}

static int parse_args(int argc, char **argv, struct snapshot_request *req,
		      struct tern_error *err)
{
	int opt;

	memset(req, 0, sizeof(*req));
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", snapshot_options, NULL)) !=
	       -1) {
		switch (opt) {
		case OPT_HELP:
			return 1;
		case OPT_API_SOCK:
			req->api_sock = optarg;
			break;
		case OPT_SNAPSHOT:
			req->snapshot_path = optarg;
			break;
		case OPT_MEM:
			req->mem_path = optarg;
			break;
		case OPT_DIFF:
			req->diff = 1;
			break;
		case OPT_RESUME:
			req->resume = 1;
			break;
		case ':':
			return tern_error_set(err, EINVAL,
					      "option '%s' needs a value",
					      argv[optind - 1]);
		default:
			return tern_error_set(err, EINVAL,
					      "unknown option '%s'",
					      argv[optind - 1]);
		}
	}
	if (optind < argc)
		return tern_error_set(err, EINVAL, "unexpected argument '%s'",
				      argv[optind]);
	if (!req->api_sock)
		return tern_error_set(err, EINVAL, "--api-sock is required");
	if (!req->snapshot_path)
		return tern_error_set(err, EINVAL, "--snapshot is required");
	if (!req->mem_path)
		return tern_error_set(err, EINVAL, "--mem is required");
	if (!req->snapshot_path[0] || !req->mem_path[0])
		return tern_error_set(err, EINVAL,
				      "--snapshot and --mem need a file name");
	return 0;
}

/* The running tern has its own working directory. */
static int absolute_path(const char *path, char *buf, size_t size,
			 struct tern_error *err)
{
	char cwd[PATH_MAX];
	int n;

	if (path[0] == '/') {
		n = snprintf(buf, size, "%s", path);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return tern_error_set(err, errno, "getcwd: %s",
					      strerror(errno));
		n = snprintf(buf, size, "%s/%s", cwd, path);
	}
	if (n < 0 || (size_t)n >= size)
		return tern_error_set(err, ENAMETOOLONG,
				      "path '%.100s' is too long", path);
	return 0;
}

/* One request; 0 on a 2xx answer, else err holds the API's message. */
static int call(const struct snapshot_request *req, const char *method,
		const char *path, json_t *body, int timeout_s, json_t **answer,
		struct tern_error *err)
{
	struct api_reply reply;
	char fault[200];
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int ret;

	if (body && !text)
		return tern_error_set(err, ENOMEM, "out of memory");
	ret = api_client_request(req->api_sock, method, path, text, timeout_s,
				 &reply, err);
	free(text);
	if (ret)
		return ret;
	if (reply.status < 200 || reply.status > 299)
		ret = tern_error_set(
			err, EIO, "%s %s: %s", method, path,
			api_client_fault(&reply, fault, sizeof(fault)));
	else if (answer)
		*answer = json_loads(reply.body, 0, NULL);
	free(reply.body);
	return ret;
}

static int set_vm_state(const struct snapshot_request *req, const char *state,
			struct tern_error *err)
{
	json_t *body = json_pack("{s:s}", "state", state);
	int ret = call(req, "PATCH", "/vm", body, CONTROL_REPLY_TIMEOUT_S, NULL,
		       err);

	json_decref(body);
	return ret;
}

static int take_snapshot(const struct snapshot_request *req,
			 struct tern_error *err)
{
	char snapshot_path[PATH_MAX], mem_path[PATH_MAX], state[32];
	json_t *info = NULL, *body;
	const char *name;
	int ret;

	ret = absolute_path(req->snapshot_path, snapshot_path,
			    sizeof(snapshot_path), err);
	if (!ret)
		ret = absolute_path(req->mem_path, mem_path, sizeof(mem_path),
				    err);
	if (!ret)
		ret = call(req, "GET", "/", NULL, CONTROL_REPLY_TIMEOUT_S,
			   &info, err);
	if (ret)
		return ret;
	name = json_string_value(json_object_get(info, "state"));
	snprintf(state, sizeof(state), "%s", name ? name : "unknown");
	json_decref(info);
	if (!strcmp(state, "Running")) {
		ret = set_vm_state(req, "Paused", err);
		if (ret)
			return ret;
	} else if (strcmp(state, "Paused")) {
		return tern_error_set(err, EPERM,
				      "the VM is not running (state: %s): "
				      "nothing to snapshot",
				      state);
	}

	body = json_pack("{s:s, s:s, s:s}", "snapshot_path", snapshot_path,
			 "mem_file_path", mem_path, "snapshot_type",
			 req->diff ? "Diff" : "Full");
	ret = call(req, "PUT", "/snapshot/create", body,
		   SNAPSHOT_REPLY_TIMEOUT_S, NULL, err);
	json_decref(body);
	if (ret)
		return ret;
	if (req->resume) {
		ret = set_vm_state(req, "Resumed", err);
		if (ret)
			return ret;
	}
	printf("%s snapshot written: state %s, memory %s; the VM is %s\n",
	       req->diff ? "Diff" : "Full", snapshot_path, mem_path,
	       req->resume ? "running" : "paused");
	return 0;
}

int snapshot_command_main(int argc, char **argv)
{
	struct tern_error err = {{0}};
	struct snapshot_request req;
	int ret = parse_args(argc, argv, &req, &err);

	if (ret == 1) {
		snapshot_command_print_help(stdout);
		return TERN_EXIT_OK;
	}
	if (ret) {
		fprintf(stderr, "tern: %s (see 'tern snapshot --help')\n",
			err.message);
		return TERN_EXIT_USAGE;
	}
	if (take_snapshot(&req, &err)) {
		fprintf(stderr, "tern: %s\n", err.message);
		return TERN_EXIT_RUNTIME_ERROR;
	}
	return TERN_EXIT_OK;
}
