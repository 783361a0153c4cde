#ifndef TERN_CLI_RUN_COMMAND_H
#define TERN_CLI_RUN_COMMAND_H

#include <stdio.h>

#include "config/vm_config_json.h"
#include "control/instance.h"
#include "migration/migration_transport.h"
#include "sandbox/seccomp.h"
#include "sandbox/seccomp_filter_file.h"
#include "util/error.h"
#include "vm/vm_config.h"

struct run_request {
	struct vm_config config;
	struct vm_config_storage storage; /* strings from --config-file */
	const char *config_file; /* NULL: none */
	const char *api_sock; /* NULL: no API */
	const char *incoming; /* --incoming tcp:ADDR:PORT; NULL: none */
	/* --migration-tls, --insecure-plain-tcp: owned */
	struct migration_transport_config migration_transport;
	int cpus_given, memory_given; /* --cpus, --memory on the command line */
	enum tern_seccomp_mode seccomp; /* --seccomp, --no-seccomp */
	/* tern firecracker --seccomp-filter: the file's programs, read with
	 * the command line, replace seccomp's lists; owned; NULL: none */
	struct seccomp_filter_file *seccomp_filters;
	const char *seccomp_filter_path;
	/* Set by tern firecracker (src/cli/firecracker_command.c): */
	const char *instance_id; /* --id; NULL: "anonymous-instance" */
	size_t api_max_body; /* --http-api-max-payload-size; 0: default */
	int firecracker; /* API answers strictly in Firecracker's shapes */
	json_t *mmds_metadata; /* --metadata: the MMDS at start; owned */
	struct instance_start_times start_times; /* --start-time-us, ... */
};

/* Parses `tern run` arguments (argv[0] is "run") into a checked config.
 * Returns 0, 1 when help was printed (exit 0), or -EINVAL with err set.
 * run_request_free() releases it in every case. */
int run_command_parse(int argc, char **argv, struct run_request *request,
		      struct tern_error *err);
void run_request_free(struct run_request *request);

void run_command_print_help(FILE *out);

/* Runs `tern run`; returns the process exit status. */
int run_command_main(int argc, char **argv);

/* tern restore: `tern run` whose VM is loaded from a snapshot at start
 * instead of booting a kernel. */
struct run_from_snapshot {
	const char *snapshot_path;
	const char *mem_file_path;
	int mem_uffd; /* mem_file_path is a page fault handler's socket */
	int paused; /* leave the restored VM paused (resume through the API) */
};

/* Runs a parsed request (the VM, the API, until the guest stops). Takes
 * the request, which must come from malloc: it is freed as soon as the
 * instance holds its configuration (before the VM runs). Returns the
 * process exit status. from_snapshot may be NULL. */
int run_command_execute(struct run_request *request,
			const struct run_from_snapshot *from_snapshot);

/* argv: the `tern run` device options (argv[0] is "restore"); --help
 * must have been handled by the caller. Returns the exit status. */
int run_command_main_from_snapshot(int argc, char **argv,
				   const struct run_from_snapshot *start);

#endif
