#ifndef TERN_CLI_RUN_COMMAND_H
#define TERN_CLI_RUN_COMMAND_H

#include <stdio.h>

#include "util/error.h"
#include "vm/vm_config.h"

/* Parses `tern run` arguments (argv[0] is "run") into a checked config.
 * Returns 0, 1 when help was printed (exit 0), or -EINVAL with err set. */
int run_command_parse(int argc, char **argv, struct vm_config *config,
		      struct tern_error *err);

void run_command_print_help(FILE *out);

/* Runs `tern run`; returns the process exit status. */
int run_command_main(int argc, char **argv);

#endif
