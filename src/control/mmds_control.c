/* PUT, PATCH and GET /mmds: the data store is the instance's and takes
 * writes before and after the VM starts (its own lock orders them with
 * the guest's reads); PUT /mmds/config is instance_configure()'s. */
#include <errno.h>

#include "control/instance.h"
#include "mmds/mmds_store.h"

int instance_mmds_put(struct instance *inst, const json_t *doc,
		      struct tern_error *err)
{
	return mmds_store_put(inst->mmds, doc, err);
}

int instance_mmds_patch(struct instance *inst, const json_t *patch,
			struct tern_error *err)
{
	return mmds_store_patch(inst->mmds, patch, err);
}

json_t *instance_mmds_get(struct instance *inst, struct tern_error *err)
{
	json_t *doc = mmds_store_get(inst->mmds);

	if (!doc)
		tern_error_set(err, ENOMEM, "out of memory");
	return doc;
}
