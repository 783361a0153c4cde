#ifndef TERN_CLI_SNAPSHOT_COMMAND_H
#define TERN_CLI_SNAPSHOT_COMMAND_H

#include <stdio.h>

void snapshot_command_print_help(FILE *out);

/* Runs `tern snapshot` (argv[0] is "snapshot"): a client of a running
 * tern's API. Returns the process exit status. */
int snapshot_command_main(int argc, char **argv);

#endif
