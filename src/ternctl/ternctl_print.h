/* How ternctl shows ternd's answers: virsh-like tables and key-value
 * lines for people, or the JSON as ternd sent it (--json) for programs. */
#ifndef TERN_TERNCTL_TERNCTL_PRINT_H
#define TERN_TERNCTL_TERNCTL_PRINT_H

#include <jansson.h>
#include <stdio.h>

/* One line per VM: name, state, vCPUs, memory. With all = 0 only the
 * running and paused ones. */
void ternctl_print_list(FILE *out, const json_t *answer, int all);
void ternctl_print_info(FILE *out, const json_t *vm);
/* Indented JSON and a newline. */
void ternctl_print_json(FILE *out, const json_t *doc);

#endif
