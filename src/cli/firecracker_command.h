/* tern firecracker (or tern started under the name "firecracker"):
 * Firecracker's command line, mapped onto tern run's request
 * (run_command_execute), so Firecracker's clients can start tern as they
 * start Firecracker. */
#ifndef TERN_CLI_FIRECRACKER_COMMAND_H
#define TERN_CLI_FIRECRACKER_COMMAND_H

#include <stdio.h>

/* argv[0] is "firecracker" (or the program's path). Returns the process
 * exit status. */
int firecracker_command_main(int argc, char **argv);

/* "Firecracker vX.Y.Z" on the first line (what clients parse), tern's own
 * version on the second. */
void firecracker_command_print_version(FILE *out);
void firecracker_command_print_help(FILE *out);

#endif
