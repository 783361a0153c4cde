/* How ternctl shows snapshots and a VM's balloon (docs/ternd.md). */
#ifndef TERN_TERNCTL_TERNCTL_PRINT_SNAPSHOTS_H
#define TERN_TERNCTL_TERNCTL_PRINT_SNAPSHOTS_H

#include <jansson.h>
#include <stdio.h>

/* GET /v1/vms/NAME/snapshots: name, creation time, state, size. */
void ternctl_print_snapshots(FILE *out, const json_t *answer);
/* One snapshot. */
void ternctl_print_snapshot(FILE *out, const json_t *snapshot);
/* info's balloon lines, nothing for a VM without one. */
void ternctl_print_balloon(FILE *out, const json_t *vm);

#endif
