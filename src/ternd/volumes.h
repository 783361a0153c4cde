/* ternd's volume operations: the pool's files (volume_pool.h) and the
 * catalog (ternd_db.h) kept in step, each change logged as an event.
 * Errors as vm_manager.h's: -ENOENT no such volume, -EINVAL bad input,
 * -EBUSY in use (a definition names it, or a running VM has it open),
 * -EEXIST the name is taken, anything else ternd's own trouble. */
#ifndef TERN_TERND_VOLUMES_H
#define TERN_TERND_VOLUMES_H

#include <jansson.h>
#include <stdint.h>

#include "ternd/vm_manager.h"
#include "ternd/volume_pool.h"
#include "util/error.h"

/* A sparse raw image of size bytes (volume_size_check()). */
int volumes_create(struct vm_manager *m, const char *name, uint64_t size,
		   struct tern_error *err);
/* A copy of src (not in use by a running or paused VM: a disk being
 * written does not copy consistently); *how says reflink or copy. */
int volumes_clone(struct vm_manager *m, const char *src, const char *name,
		  enum volume_clone_method *how, struct tern_error *err);
/* Grows the volume; shrinks it only with shrink set. Refused while a
 * running or paused VM uses it. */
int volumes_resize(struct vm_manager *m, const char *name, uint64_t size,
		   int shrink, struct tern_error *err);
/* Refused while a definition names it. */
int volumes_delete(struct vm_manager *m, const char *name,
		   struct tern_error *err);

/* {"name", "path", "capacity", "allocation", "origin", "created_at",
 * "used_by": [VM...], "in_use"}; capacity and allocation are null when
 * the file is missing. */
int volumes_get_json(struct vm_manager *m, const char *name, json_t **out,
		     struct tern_error *err);
/* {"pool": DIR, "volumes": [...]} */
int volumes_list_json(struct vm_manager *m, json_t **out,
		      struct tern_error *err);

const char *volume_clone_method_name(enum volume_clone_method how);

#endif
