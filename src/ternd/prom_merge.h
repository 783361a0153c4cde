/* Prometheus text exposition (format 0.0.4) gathered from many sources into
 * one valid document: ternd's own families and every VM's tern's
 * `GET /metrics`, each VM's samples labelled vm="NAME". A family's
 * `# HELP` and `# TYPE` come once, its samples from every source together
 * (the format wants a family's lines contiguous and its TYPE once).
 *
 * A VM's text is hostile input (its tern runs next to a guest): it is
 * parsed strictly and taken whole or not at all. Label values are
 * unescaped and escaped again, so nothing a VM writes can break the
 * document or forge another VM's samples (a `vm` label of its own, a
 * `ternd_` family, a family whose TYPE disagrees with one already there
 * make the whole text refused). */
#ifndef TERN_TERND_PROM_MERGE_H
#define TERN_TERND_PROM_MERGE_H

#include <stddef.h>

#include "util/error.h"

/* A VM's text larger than this is refused (tern's is a few KiB). */
#define PROM_MERGE_MAX_TEXT (1024 * 1024)
/* At most this many families in one document. */
#define PROM_MERGE_MAX_FAMILIES 4096

struct prom_merge;

struct prom_merge *prom_merge_new(void);
void prom_merge_free(struct prom_merge *pm);

/* Declares one of ternd's own families (type "counter", "gauge",
 * "histogram"...); 0, or -1 when out of memory or already declared. */
int prom_merge_family(struct prom_merge *pm, const char *name, const char *type,
		      const char *help);
/* A sample of a declared family (for a histogram: NAME_bucket with "le",
 * NAME_sum, NAME_count). The labels are name, value, ..., NULL; values
 * are escaped here. */
int prom_merge_sample(struct prom_merge *pm, const char *name, double value,
		      ...) __attribute__((sentinel));

/* Adds a VM's whole text with vm="vm" on each sample: 0, or -EINVAL with
 * err naming the first offending line (nothing of this text is kept), or
 * -ENOMEM. */
int prom_merge_add_text(struct prom_merge *pm, const char *vm, const char *text,
			size_t len, struct tern_error *err);

/* The document, malloc'd and NUL-terminated; NULL when out of memory. */
char *prom_merge_render(const struct prom_merge *pm);

#endif
