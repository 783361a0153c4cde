#ifndef TERN_CLI_JAILER_COMMAND_H
#define TERN_CLI_JAILER_COMMAND_H

#include <stdio.h>

void jailer_command_print_help(FILE *out);

/* Runs `tern jailer` (argv[0] is "jailer"; also how tern runs when its
 * binary is called jailer). Returns the process exit status, or does not
 * return: it execs the jailed program. */
int jailer_command_main(int argc, char **argv);

#endif
