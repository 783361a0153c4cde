#ifndef TERN_CLI_MIGRATE_COMMAND_H
#define TERN_CLI_MIGRATE_COMMAND_H

#include <stdio.h>

#include "migration/migration_transport.h"
#include "util/error.h"

struct migrate_request {
	const char *api_sock;
	const char *destination; /* tcp:HOST:PORT */
	int timeout_s; /* 0: wait as long as it takes */
	int quiet;
	/* --migration-tls, --insecure-plain-tcp; none: the source tern's own
	 * (its tern run --migration-tls). Owned: migrate_request_free(). */
	struct migration_transport_config transport;
};

void migrate_request_free(struct migrate_request *req);

void migrate_command_print_help(FILE *out);

/* argv[0] is "migrate". Returns 0, 1 for --help, or a negative errno with
 * err set (a usage error). */
int migrate_command_parse(int argc, char **argv, struct migrate_request *req,
			  struct tern_error *err);

/* Runs `tern migrate`: a client of a running tern's API. Returns the
 * process exit status. */
int migrate_command_main(int argc, char **argv);

#endif
