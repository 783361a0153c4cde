/* A VM as ternd's API shows it (docs/ternd-openapi.yaml, "Vm" and
 * "VmSummary"): the summary list entry, or the whole record with the
 * definition and the runtime. */
#ifndef TERN_TERND_VM_VIEW_H
#define TERN_TERND_VM_VIEW_H

#include <jansson.h>

#include "ternd/ternd_db.h"
#include "ternd/vm_manager.h"

/* New reference; NULL only when out of memory. */
json_t *vm_view_summary(const struct vm_manager *m,
			const struct vm_record *record);
json_t *vm_view_detail(const struct vm_manager *m,
		       const struct vm_record *record);

#endif
