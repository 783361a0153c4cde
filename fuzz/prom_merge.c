/* Fuzz target: ternd's merger of VMs' Prometheus texts (ternd/prom_merge.c),
 * whose input is what a VM's tern answers on GET /metrics: hostile, since
 * that tern runs beside a guest. The input is split at NUL bytes into up
 * to four VM texts, added after ternd's own families; each is taken whole
 * or refused, and the rendered document must keep ternd's family first,
 * end with a newline and hold no NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ternd/prom_merge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const vms[] = {"a", "b", "c", "d"};
	struct prom_merge *pm = prom_merge_new();
	const char *text = (const char *)data;
	struct tern_error err;
	char *doc;

	if (!pm || prom_merge_family(pm, "ternd_vms", "gauge", "VMs") ||
	    prom_merge_sample(pm, "ternd_vms", 1.0, "state", "running", NULL))
		abort();
	for (int i = 0; i < 4 && size; i++) {
		const char *nul = memchr(text, '\0', size);
		size_t len = nul ? (size_t)(nul - text) : size;

		prom_merge_add_text(pm, vms[i], text, len, &err);
		if (!nul)
			break;
		text = nul + 1;
		size -= len + 1;
	}
	doc = prom_merge_render(pm);
	if (!doc)
		abort();
	if (strncmp(doc, "# HELP ternd_vms ", 17) ||
	    (doc[0] && doc[strlen(doc) - 1] != '\n'))
		abort();
	free(doc);
	prom_merge_free(pm);
	return 0;
}
