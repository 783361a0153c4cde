#include "cli/firecracker_command.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api_server.h"
#include "cli/exit_status.h"
#include "cli/run_command.h"
#include "config/config_check.h"
#include "control/instance.h"
#include "snapshot/state_file.h"
#include "util/log.h"
#include "util/version.h"
#include "virtio/virtio_mmio.h"

/* Firecracker's defaults, which its clients count on. */
#define FC_DEFAULT_API_SOCK "/run/firecracker.socket"
#define FC_DEFAULT_MAX_PAYLOAD 51200
#define FC_DEFAULT_MEMORY (128ULL << 20)
/* tern holds a request body in memory while it parses it. */
#define FC_MAX_PAYLOAD_LIMIT (64ULL << 20)

enum {
	FC_API_SOCK = 256,
	FC_ID,
	FC_SECCOMP_FILTER,
	FC_NO_SECCOMP,
	FC_START_TIME_US,
	FC_START_TIME_CPU_US,
	FC_PARENT_CPU_TIME_US,
	FC_CONFIG_FILE,
	FC_METADATA,
	FC_NO_API,
	FC_LOG_PATH,
	FC_LEVEL,
	FC_MODULE,
	FC_SHOW_LEVEL,
	FC_SHOW_LOG_ORIGIN,
	FC_METRICS_PATH,
	FC_BOOT_TIMER,
	FC_VERSION,
	FC_SNAPSHOT_VERSION,
	FC_DESCRIBE_SNAPSHOT,
	FC_MAX_PAYLOAD,
	FC_MMDS_SIZE_LIMIT,
	FC_ENABLE_PCI,
	FC_HELP,
};

static const struct option fc_options[] = {
	{"api-sock", required_argument, NULL, FC_API_SOCK},
	{"id", required_argument, NULL, FC_ID},
	{"seccomp-filter", required_argument, NULL, FC_SECCOMP_FILTER},
	{"no-seccomp", no_argument, NULL, FC_NO_SECCOMP},
	{"start-time-us", required_argument, NULL, FC_START_TIME_US},
	{"start-time-cpu-us", required_argument, NULL, FC_START_TIME_CPU_US},
	{"parent-cpu-time-us", required_argument, NULL, FC_PARENT_CPU_TIME_US},
	{"config-file", required_argument, NULL, FC_CONFIG_FILE},
	{"metadata", required_argument, NULL, FC_METADATA},
	{"no-api", no_argument, NULL, FC_NO_API},
	{"log-path", required_argument, NULL, FC_LOG_PATH},
	{"level", required_argument, NULL, FC_LEVEL},
	{"module", required_argument, NULL, FC_MODULE},
	{"show-level", no_argument, NULL, FC_SHOW_LEVEL},
	{"show-log-origin", no_argument, NULL, FC_SHOW_LOG_ORIGIN},
	{"metrics-path", required_argument, NULL, FC_METRICS_PATH},
	{"boot-timer", no_argument, NULL, FC_BOOT_TIMER},
	{"version", no_argument, NULL, FC_VERSION},
	{"snapshot-version", no_argument, NULL, FC_SNAPSHOT_VERSION},
	{"describe-snapshot", required_argument, NULL, FC_DESCRIBE_SNAPSHOT},
	{"http-api-max-payload-size", required_argument, NULL, FC_MAX_PAYLOAD},
	{"mmds-size-limit", required_argument, NULL, FC_MMDS_SIZE_LIMIT},
	{"enable-pci", no_argument, NULL, FC_ENABLE_PCI},
	{"help", no_argument, NULL, FC_HELP},
	{NULL, 0, NULL, 0},
};

/* What the command line asked for, before it becomes a run request. */
struct fc_args {
	const char *api_sock;
	const char *id;
	const char *config_file;
	const char *log_path;
	const char *level;
	const char *module;
	const char *metrics_path;
	const char *describe_snapshot;
	const char *metadata; /* --metadata FILE */
	const char *seccomp_filter; /* --seccomp-filter FILE */
	struct instance_start_times start_times; /* the jailer's */
	int no_api, no_seccomp, show_level, show_log_origin, enable_pci;
	int version, snapshot_version, help;
	unsigned long long max_payload;
	unsigned long long mmds_size_limit; /* 0: max_payload */
};

void firecracker_command_print_version(FILE *out)
{
	/* Clients read the first line's second word (Kata Containers:
	 * "Firecracker vX.Y.Z", at least 0.21.1). */
	fprintf(out,
		"Firecracker v%s\n"
		"(tern %s, a Firecracker-compatible VMM: this is not "
		"Firecracker; see docs/api.md)\n",
		TERN_FIRECRACKER_API_VERSION, TERN_VERSION);
}

void firecracker_command_print_help(FILE *out)
{
	firecracker_command_print_version(out);
	fprintf(out,
		"\n"
		"Usage: firecracker [OPTIONS]\n"
		"       tern firecracker [OPTIONS]\n"
		"\n"
		"Run tern with Firecracker's command line, for tools that "
		"start "
		"Firecracker\n"
		"(Kata Containers, firecracker-containerd, firectl, the Go "
		"SDK). tern serves\n"
		"Firecracker's HTTP API (version %s) on a Unix socket and "
		"waits for\n"
		"PUT /actions InstanceStart, or boots at once from "
		"--config-file. The guest's\n"
		"console is this process's stdin and stdout, as in "
		"Firecracker. tern exits when\n"
		"the guest powers off or reboots (reboot=k).\n"
		"\n"
		"Options (each as --name VALUE or --name=VALUE):\n"
		"  --api-sock PATH        the API's Unix socket (default: "
		"%s);\n"
		"                         a stale socket file is replaced, a "
		"live one refused\n"
		"  --no-api               serve no API; needs --config-file\n"
		"  --config-file FILE     boot at once the VM this JSON "
		"document describes\n"
		"                         (Firecracker's shape, as GET "
		"/vm/config returns it)\n"
		"  --id ID                the microVM's name: GET /'s id, and "
		"each metrics line\n"
		"                         with metrics emit_id; 1 to 64 "
		"letters, digits, '-'\n"
		"                         (default: %s)\n"
		"  --level LEVEL          log level: Error, Warning, Info, "
		"Debug, Trace (tern\n"
		"                         logs Trace as Debug) or Off, any "
		"case (default: Info)\n"
		"  --log-path PATH        send the log there (a file, "
		"appended, or a named pipe,\n"
		"                         which needs no reader yet) instead "
		"of stderr; errors\n"
		"                         also go to stderr\n"
		"  --show-level           put each event's level in the log "
		"file\n"
		"  --show-log-origin      put each event's source file and "
		"line in the log file\n"
		"  --module PATH          log only events of this module and "
		"below: tern's\n"
		"                         source path under src/ with '::' "
		"for '/', such as\n"
		"                         api or virtio::virtio_blk "
		"(errors always pass)\n"
		"  --metrics-path PATH    write Firecracker-style JSON metrics "
		"lines there (a file\n"
		"                         or a named pipe) on FlushMetrics and "
		"every 60 s\n"
		"  --http-api-max-payload-size BYTES\n"
		"                         the largest request body; a larger "
		"one is answered\n"
		"                         413 (default: %d; at most %llu)\n"
		"  --mmds-size-limit BYTES\n"
		"                         the most bytes the MMDS data store "
		"holds (its compact\n"
		"                         JSON text; default: the API's body "
		"limit)\n"
		"  --metadata FILE        fill the MMDS data store from this "
		"JSON file at start\n"
		"                         (as PUT /mmds; within the size "
		"limit)\n"
		"  --boot-timer           accepted: tern's boot marker (a "
		"guest write of 123 to\n"
		"                         I/O port 0x3f0 logs the time since "
		"start) is always on;\n"
		"                         Firecracker's MMIO boot timer "
		"address is not\n"
		"  --enable-pci           virtio devices on PCI (modern "
		"virtio-pci, MSI-X);\n"
		"                         without it they are virtio-mmio "
		"devices, as in\n"
		"                         Firecracker (at most %d in all)\n"
		"  --no-seccomp           no system call filters: UNSAFE\n"
		"  --seccomp-filter FILE  seccompiler-bin's compiled filters "
		"(vmm, api, vcpu)\n"
		"                         instead of tern's own: api on the "
		"API thread, vcpu on\n"
		"                         the vCPUs, vmm on every other "
		"thread. A file made for\n"
		"                         Firecracker's system calls is "
		"likely to stop tern;\n"
		"                         without the option tern's "
		"built-in filters apply\n"
		"                         (docs/security.md)\n"
		"  --start-time-us US, --start-time-cpu-us US, "
		"--parent-cpu-time-us US\n"
		"                         what Firecracker's jailer passes: "
		"the metrics'\n"
		"                         api_server start-up times count "
		"from them\n"
		"  --version              print the Firecracker API version "
		"tern speaks and\n"
		"                         tern's own version, then exit\n"
		"  --snapshot-version     print the snapshot format version "
		"tern writes\n"
		"  --describe-snapshot FILE\n"
		"                         print the format version of a tern "
		"snapshot state\n"
		"                         file (Firecracker's snapshots cannot "
		"be loaded)\n"
		"  --help                 show this help and exit\n"
		"\n"
		"Differences from Firecracker: the default machine is 1 vCPU "
		"and 128 MiB, as\n"
		"Firecracker's; tern run's own default stays 256 MiB. The "
		"API's "
		"supported\n"
		"fields and refusals are listed in docs/api.md.\n"
		"\n"
		"Exit status: as 'tern run' (0 the guest stopped, 1 tern could "
		"not set up the\n"
		"VM, 2 the command line is wrong; see 'tern run --help').\n",
		TERN_FIRECRACKER_API_VERSION, FC_DEFAULT_API_SOCK,
		INSTANCE_ID_DEFAULT, FC_DEFAULT_MAX_PAYLOAD,
		FC_MAX_PAYLOAD_LIMIT, VIRTIO_MMIO_MAX_DEVICES);
}

static int parse_u64(const char *option, const char *text,
		     unsigned long long *value, struct tern_error *err)
{
	char *end;

	errno = 0;
	*value = strtoull(text, &end, 10);
	if (!isdigit((unsigned char)text[0]) || errno || *end)
		return tern_error_set(err, EINVAL,
				      "--%s '%s' is not a whole number", option,
				      text);
	return 0;
}

/* Firecracker's rule for instance ids. */
static int check_instance_id(const char *id, struct tern_error *err)
{
	size_t len = strlen(id);

	if (len < 1 || len > INSTANCE_ID_MAX)
		return tern_error_set(err, EINVAL,
				      "--id must be 1 to %d characters",
				      INSTANCE_ID_MAX);
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '-')
			return tern_error_set(err, EINVAL,
					      "--id '%s': character %zu is "
					      "not a letter, digit or '-'",
					      id, i + 1);
	return 0;
}

static int take_option(int opt, const char *arg, struct fc_args *a,
		       struct tern_error *err)
{
	unsigned long long n;

	switch (opt) {
	case FC_API_SOCK:
		a->api_sock = arg;
		return 0;
	case FC_ID:
		a->id = arg;
		return check_instance_id(arg, err);
	case FC_SECCOMP_FILTER:
		a->seccomp_filter = arg;
		return 0;
	case FC_NO_SECCOMP:
		a->no_seccomp = 1;
		return 0;
	case FC_START_TIME_US:
		a->start_times.has_start = 1;
		return parse_u64("start-time-us", arg, &a->start_times.start_us,
				 err);
	case FC_START_TIME_CPU_US:
		a->start_times.has_start_cpu = 1;
		return parse_u64("start-time-cpu-us", arg,
				 &a->start_times.start_cpu_us, err);
	case FC_PARENT_CPU_TIME_US:
		return parse_u64("parent-cpu-time-us", arg,
				 &a->start_times.parent_cpu_us, err);
	case FC_CONFIG_FILE:
		a->config_file = arg;
		return 0;
	case FC_METADATA:
		a->metadata = arg;
		return 0;
	case FC_NO_API:
		a->no_api = 1;
		return 0;
	case FC_LOG_PATH:
		a->log_path = arg;
		return config_check_path("--log-path", arg, err);
	case FC_LEVEL:
		a->level = arg;
		return 0;
	case FC_MODULE:
		a->module = arg;
		return config_check_log_module("--module", arg, err);
	case FC_SHOW_LEVEL:
		a->show_level = 1;
		return 0;
	case FC_SHOW_LOG_ORIGIN:
		a->show_log_origin = 1;
		return 0;
	case FC_METRICS_PATH:
		a->metrics_path = arg;
		return config_check_path("--metrics-path", arg, err);
	case FC_BOOT_TIMER:
		return 0;
	case FC_VERSION:
		a->version = 1;
		return 0;
	case FC_SNAPSHOT_VERSION:
		a->snapshot_version = 1;
		return 0;
	case FC_DESCRIBE_SNAPSHOT:
		a->describe_snapshot = arg;
		return 0;
	case FC_MAX_PAYLOAD:
		if (parse_u64("http-api-max-payload-size", arg, &n, err))
			return -EINVAL;
		if (n < 1 || n > FC_MAX_PAYLOAD_LIMIT)
			return tern_error_set(err, EINVAL,
					      "--http-api-max-payload-size "
					      "%llu: use 1 to %llu bytes",
					      n, FC_MAX_PAYLOAD_LIMIT);
		a->max_payload = n;
		return 0;
	case FC_MMDS_SIZE_LIMIT:
		if (parse_u64("mmds-size-limit", arg, &n, err))
			return -EINVAL;
		if (n < 1)
			return tern_error_set(err, EINVAL,
					      "--mmds-size-limit 0: use at "
					      "least 1 byte");
		a->mmds_size_limit = n;
		return 0;
	case FC_ENABLE_PCI:
		a->enable_pci = 1;
		return 0;
	case FC_HELP:
		a->help = 1;
		return 0;
	}
	return tern_error_set(err, EINVAL, "unknown option");
}

static int parse_args(int argc, char **argv, struct fc_args *a,
		      struct tern_error *err)
{
	int opt;

	memset(a, 0, sizeof(*a));
	a->api_sock = FC_DEFAULT_API_SOCK;
	a->max_payload = FC_DEFAULT_MAX_PAYLOAD;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", fc_options, NULL)) != -1) {
		if (opt == '?')
			return tern_error_set(err, EINVAL,
					      "unknown option '%s'",
					      argv[optind - 1]);
		if (opt == ':')
			return tern_error_set(err, EINVAL,
					      "option '%s' needs a value",
					      argv[optind - 1]);
		if (take_option(opt, optarg, a, err))
			return -EINVAL;
	}
	if (optind < argc)
		return tern_error_set(err, EINVAL, "unexpected argument '%s'",
				      argv[optind]);
	if (a->no_api && !a->config_file)
		return tern_error_set(err, EINVAL,
				      "--no-api needs --config-file (without "
				      "an API nothing else can configure the "
				      "VM)");
	return 0;
}

/* The snapshot format as a version string: tern's format number N is
 * shown as vN.0.0, the shape Firecracker's clients expect. */
static int describe_snapshot(const char *path)
{
	struct state_file sf;
	struct tern_error err = {{0}};

	if (state_file_read(&sf, path, &err)) {
		fprintf(stderr, "tern: --describe-snapshot: %s\n", err.message);
		return TERN_EXIT_RUNTIME_ERROR;
	}
	printf("v%u.0.0\n", (unsigned)sf.format_version);
	state_file_free(&sf);
	return TERN_EXIT_OK;
}

/* The run request tern run's own parser would build, from Firecracker's
 * options: the same checks (config_check, vm_config_json) fill it. */
/* A file this many times the store's limit is refused unread: its
 * compact text could not fit (whitespace aside), and reading it whole
 * would only cost memory. */
#define FC_METADATA_FILE_FACTOR 16

/* --metadata FILE: the JSON document the MMDS starts with. The store
 * checks its size against --mmds-size-limit when it is put. */
static int load_metadata(const char *path, unsigned long long limit,
			 json_t **out, struct tern_error *err)
{
	json_error_t jerr;
	struct stat st;

	if (stat(path, &st))
		return tern_error_set(err, errno, "--metadata %s: %s", path,
				      strerror(errno));
	if (S_ISDIR(st.st_mode))
		return tern_error_set(err, EISDIR,
				      "--metadata %s: is a directory", path);
	if (S_ISREG(st.st_mode) &&
	    (unsigned long long)st.st_size > limit * FC_METADATA_FILE_FACTOR)
		return tern_error_set(
			err, EFBIG,
			"--metadata %s: the file has %lld bytes, more than the "
			"MMDS size limit (%llu bytes, --mmds-size-limit) can "
			"hold",
			path, (long long)st.st_size, limit);
	*out = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out)
		return tern_error_set(err, EINVAL,
				      "--metadata %s: not valid JSON: %s "
				      "(line %d, column %d)",
				      path, jerr.text, jerr.line, jerr.column);
	return 0;
}

static int build_request(const struct fc_args *a, struct run_request *req,
			 struct tern_error *err)
{
	struct vm_config *config = &req->config;
	int ret;

	memset(req, 0, sizeof(*req));
	vm_config_set_defaults(config);
	config->memory_size = FC_DEFAULT_MEMORY;
	config->virtio_transport =
		a->enable_pci ? VIRTIO_TRANSPORT_PCI : VIRTIO_TRANSPORT_MMIO;
	if (a->level) {
		ret = config_parse_log_level("--level", a->level,
					     &config->log_level, err);
		if (ret)
			return ret;
	}
	config->log_path = a->log_path;
	config->log_show_level = a->show_level;
	config->log_show_origin = a->show_log_origin;
	config->log_module = a->module;
	config->metrics_path = a->metrics_path;
	config->drive_cache_unsafe_by_default = 1;
	/* As in Firecracker, the file's logger and metrics sections, read
	 * after the command line's, win. */
	if (a->config_file) {
		ret = vm_config_json_load_file(config, &req->storage,
					       a->config_file, err);
		if (ret)
			return ret;
	}
	req->config_file = a->config_file;
	req->api_sock = a->no_api ? NULL : a->api_sock;
	if (a->no_seccomp && a->seccomp_filter)
		return tern_error_set(err, EINVAL,
				      "give --seccomp-filter or --no-seccomp, "
				      "not both");
	if (a->seccomp_filter) {
		/* Read with the command line: a bad file is its one error,
		 * and what is checked is what goes in. */
		req->seccomp_filters = calloc(1, sizeof(*req->seccomp_filters));
		if (!req->seccomp_filters)
			return tern_error_set(err, ENOMEM, "out of memory");
		ret = seccomp_filter_file_read(a->seccomp_filter,
					       req->seccomp_filters, err);
		if (ret) {
			free(req->seccomp_filters);
			req->seccomp_filters = NULL;
			return ret;
		}
		req->seccomp_filter_path = a->seccomp_filter;
	}
	req->seccomp = a->no_seccomp ? TERN_SECCOMP_OFF : TERN_SECCOMP_KILL;
	req->instance_id = a->id;
	req->api_max_body = (size_t)a->max_payload;
	/* Firecracker's default: the API's body limit. */
	config->mmds_size_limit =
		a->mmds_size_limit ? a->mmds_size_limit : a->max_payload;
	req->firecracker = 1;
	req->start_times = a->start_times;
	if (a->metadata)
		return load_metadata(a->metadata, config->mmds_size_limit,
				     &req->mmds_metadata, err);
	return 0;
}

int firecracker_command_main(int argc, char **argv)
{
	struct tern_error err = {{0}};
	struct run_request *request;
	struct fc_args args;

	if (parse_args(argc, argv, &args, &err)) {
		fprintf(stderr, "tern: %s (see 'firecracker --help')\n",
			err.message);
		return TERN_EXIT_USAGE;
	}
	if (args.help) {
		firecracker_command_print_help(stdout);
		return TERN_EXIT_OK;
	}
	if (args.version) {
		firecracker_command_print_version(stdout);
		return TERN_EXIT_OK;
	}
	if (args.snapshot_version) {
		printf("v%u.0.0\n", (unsigned)STATE_FILE_FORMAT_VERSION);
		return TERN_EXIT_OK;
	}
	if (args.describe_snapshot)
		return describe_snapshot(args.describe_snapshot);
	/* On the heap, as in run_command.c: ~70 KiB that would stay
	 * resident on this long-lived frame. */
	request = malloc(sizeof(*request));
	if (!request) {
		fprintf(stderr, "tern: out of memory\n");
		return TERN_EXIT_USAGE;
	}
	if (build_request(&args, request, &err)) {
		run_request_free(request);
		free(request);
		fprintf(stderr, "tern: %s\n", err.message);
		return TERN_EXIT_USAGE;
	}
	log_info("running as Firecracker v%s (tern %s)",
		 TERN_FIRECRACKER_API_VERSION, TERN_VERSION);
	return run_command_execute(request, NULL);
}
