/* How ternctl shows ternd's answers: virsh-like tables and key-value
 * lines for people, or the JSON as ternd sent it (--json) for programs. */
#ifndef TERN_TERNCTL_TERNCTL_PRINT_H
#define TERN_TERNCTL_TERNCTL_PRINT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* One line per VM: name, state, vCPUs, memory. With all = 0 only the
 * running and paused ones. */
void ternctl_print_list(FILE *out, const json_t *answer, int all);
void ternctl_print_info(FILE *out, const json_t *vm);
/* One name a line: the "name" of each object in list (completion). */
void ternctl_print_names(FILE *out, const json_t *list);
/* "1.50 GiB", from a byte count; "-" for null. */
void ternctl_format_size(char *buf, size_t size, const json_t *bytes);
/* GET /v1/volumes: name, size, allocation, users; then the pool. */
void ternctl_print_volumes(FILE *out, const json_t *answer);
void ternctl_print_volume(FILE *out, const json_t *volume);
/* GET /v1/networks: name, state, kind, bridge, subnet, NAT, DHCP. */
void ternctl_print_networks(FILE *out, const json_t *answer);
/* One network, with its leases. */
void ternctl_print_network(FILE *out, const json_t *network);
/* "2026-01-02 03:04:05 UTC  #12  vm web started: reason" */
void ternctl_print_event(FILE *out, const json_t *event);
/* Indented JSON and a newline. */
void ternctl_print_json(FILE *out, const json_t *doc);

#endif
