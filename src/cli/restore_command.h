#ifndef TERN_CLI_RESTORE_COMMAND_H
#define TERN_CLI_RESTORE_COMMAND_H

#include <stdio.h>

void restore_command_print_help(FILE *out);

/* Runs `tern restore` (argv[0] is "restore"): `tern run` with the VM
 * loaded from a snapshot. Returns the process exit status. */
int restore_command_main(int argc, char **argv);

#endif
