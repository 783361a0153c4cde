#include "ternd/volumes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ternd/test_hooks.h"
#include "util/log.h"

const char *volume_clone_method_name(enum volume_clone_method how)
{
	return how == VOLUME_CLONE_REFLINK ? "reflink" : "copy";
}

/* The catalog's record; -ENOENT with a message naming vol-list. */
static int get_volume(struct vm_manager *m, const char *name,
		      struct volume_record *r, struct tern_error *err)
{
	int ret = ternd_name_check("volume", name, err);

	if (ret)
		return ret;
	ret = ternd_db_volume_get(vm_manager_db(m), name, r, err);
	if (ret == -ENOENT)
		tern_error_set(err, ENOENT,
			       "no volume named '%s' ('ternctl vol-list' "
			       "lists them)",
			       name);
	return ret;
}

/* A new name: valid, not in the catalog, no file under it in the pool. */
static int check_new_name(struct vm_manager *m, const char *name,
			  struct tern_error *err)
{
	const struct volume_pool *pool = vm_manager_pool(m);
	uint64_t capacity, allocation;
	struct volume_record r;
	char path[4200];
	int ret = ternd_name_check("volume", name, err);

	if (ret)
		return ret;
	ret = ternd_db_volume_get(vm_manager_db(m), name, &r, err);
	if (!ret) {
		volume_record_free(&r);
		return tern_error_set(err, EEXIST,
				      "a volume named '%s' already exists",
				      name);
	}
	if (ret != -ENOENT)
		return ret;
	if (volume_pool_path(pool, name, path, sizeof(path)))
		return tern_error_set(err, EINVAL,
				      "volume name '%s' is too long for the "
				      "pool %s",
				      name, pool->dir);
	if (!volume_pool_stat(pool, name, &capacity, &allocation))
		return tern_error_set(err, EEXIST,
				      "the pool already has a file %s that "
				      "is not a volume: move it away first",
				      path);
	return 0;
}

/* The pending file is written; the catalog's commit makes it the volume,
 * the rename then gives it its name (volume_pool.h). */
static int add_pending(struct vm_manager *m, const char *name,
		       const char *origin, const char *reason,
		       struct tern_error *err)
{
	const struct volume_pool *pool = vm_manager_pool(m);
	int ret = ternd_db_volume_add(vm_manager_db(m), name, origin, reason,
				      err);

	if (ret) {
		volume_pool_discard_new(pool, name);
		return ret;
	}
	/* Committed, not yet renamed: the next ternd finishes it. */
	ternd_test_kill_point("volume-rename");
	ret = volume_pool_commit_new(pool, name, err);
	if (ret)
		log_error("volume '%s' is in the catalog but its file was not "
			  "renamed: %s (the next ternd finishes it)",
			  name, err->message);
	return ret;
}

int volumes_create(struct vm_manager *m, const char *name, uint64_t size,
		   struct tern_error *err)
{
	char reason[64];
	int ret = check_new_name(m, name, err);

	if (!ret)
		ret = volume_size_check(size, err);
	if (!ret)
		ret = volume_pool_create_pending(vm_manager_pool(m), name, size,
						 err);
	if (ret)
		return ret;
	snprintf(reason, sizeof(reason), "created, %llu bytes",
		 (unsigned long long)size);
	ret = add_pending(m, name, NULL, reason, err);
	if (!ret)
		log_info("volume '%s' %s", name, reason);
	return ret;
}

int volumes_clone(struct vm_manager *m, const char *src, const char *name,
		  enum volume_clone_method *how, struct tern_error *err)
{
	struct volume_record r;
	char reason[160];
	int ret = get_volume(m, src, &r, err);

	if (ret)
		return ret;
	if (r.in_use)
		ret = tern_error_set(err, EBUSY,
				     "volume '%s' is in use by a running VM "
				     "(%s): a disk being written cannot be "
				     "copied consistently; stop the VM first",
				     src, r.used_by);
	volume_record_free(&r);
	if (!ret)
		ret = check_new_name(m, name, err);
	if (!ret)
		ret = volume_pool_clone_pending(vm_manager_pool(m), src, name,
						how, err);
	if (ret)
		return ret;
	snprintf(reason, sizeof(reason), "cloned from '%s' (%s)", src,
		 volume_clone_method_name(*how));
	ret = add_pending(m, name, src, reason, err);
	if (!ret)
		log_info("volume '%s' %s", name, reason);
	return ret;
}

int volumes_resize(struct vm_manager *m, const char *name, uint64_t size,
		   int shrink, struct tern_error *err)
{
	const struct volume_pool *pool = vm_manager_pool(m);
	uint64_t capacity, allocation;
	struct volume_record r;
	char reason[96];
	int ret = get_volume(m, name, &r, err);

	if (ret)
		return ret;
	if (r.in_use)
		ret = tern_error_set(err, EBUSY,
				     "volume '%s' is in use by a running VM "
				     "(%s): tern does not follow a disk's "
				     "size while it runs; stop the VM first",
				     name, r.used_by);
	volume_record_free(&r);
	if (!ret)
		ret = volume_size_check(size, err);
	if (!ret && volume_pool_stat(pool, name, &capacity, &allocation))
		ret = tern_error_set(err, ENOENT,
				     "volume '%s' has no file in the pool",
				     name);
	if (!ret && size < capacity && !shrink)
		ret = tern_error_set(err, EINVAL,
				     "volume '%s' has %llu bytes: shrinking "
				     "it to %llu loses its end (say shrink, "
				     "--shrink in ternctl, if that is meant)",
				     name, (unsigned long long)capacity,
				     (unsigned long long)size);
	if (ret || size == capacity)
		return ret;
	ret = volume_pool_resize(pool, name, size, err);
	if (ret)
		return ret;
	snprintf(reason, sizeof(reason), "resized from %llu to %llu bytes",
		 (unsigned long long)capacity, (unsigned long long)size);
	log_info("volume '%s' %s", name, reason);
	if (ternd_db_event_add(vm_manager_db(m), "volume", name, "resized",
			       reason, err))
		log_error("volume '%s': %s", name, err->message);
	return 0;
}

int volumes_delete(struct vm_manager *m, const char *name,
		   struct tern_error *err)
{
	const struct volume_pool *pool = vm_manager_pool(m);
	struct volume_record r;
	int ret = get_volume(m, name, &r, err);

	if (ret)
		return ret;
	if (r.used_by[0])
		ret = tern_error_set(err, EBUSY,
				     "volume '%s' is named by the definition "
				     "of %s: undefine or redefine first",
				     name, r.used_by);
	volume_record_free(&r);
	if (!ret)
		ret = volume_pool_delete_pending(pool, name, err);
	if (ret)
		return ret;
	ret = ternd_db_volume_remove(vm_manager_db(m), name, err);
	if (ret) {
		volume_pool_undo_delete(pool, name);
		return ret;
	}
	volume_pool_finish_delete(pool, name);
	log_info("volume '%s' deleted", name);
	return 0;
}

static json_t *volume_json(struct vm_manager *m, const struct volume_record *r)
{
	const struct volume_pool *pool = vm_manager_pool(m);
	uint64_t capacity, allocation;
	json_t *out, *users = json_array();
	char path[4200], *list = strdup(r->used_by);
	int have = !volume_pool_stat(pool, r->name, &capacity, &allocation);

	for (char *save, *vm = list ? strtok_r(list, ",", &save) : NULL;
	     users && vm; vm = strtok_r(NULL, ",", &save))
		json_array_append_new(users, json_string(vm));
	free(list);
	volume_pool_path(pool, r->name, path, sizeof(path));
	out = json_pack(
		"{s:s, s:s, s:o, s:o, s:o, s:I, s:o, s:b}", "name", r->name,
		"path", path, "capacity",
		have ? json_integer((json_int_t)capacity) : json_null(),
		"allocation",
		have ? json_integer((json_int_t)allocation) : json_null(),
		"origin", r->origin[0] ? json_string(r->origin) : json_null(),
		"created_at", (json_int_t)r->created_at, "used_by",
		users ? users : json_array(), "in_use", r->in_use);
	return out;
}

int volumes_get_json(struct vm_manager *m, const char *name, json_t **out,
		     struct tern_error *err)
{
	struct volume_record r;
	int ret = get_volume(m, name, &r, err);

	if (ret)
		return ret;
	*out = volume_json(m, &r);
	volume_record_free(&r);
	return *out ? 0 : tern_error_set(err, ENOMEM, "out of memory");
}

int volumes_list_json(struct vm_manager *m, json_t **out,
		      struct tern_error *err)
{
	struct volume_record *records;
	size_t count;
	json_t *list;
	int ret = ternd_db_volume_list(vm_manager_db(m), &records, &count, err);

	if (ret)
		return ret;
	list = json_array();
	for (size_t i = 0; list && i < count; i++)
		if (json_array_append_new(list, volume_json(m, &records[i]))) {
			json_decref(list);
			list = NULL;
		}
	volume_records_free(records, count);
	*out = list ? json_pack("{s:s, s:o}", "pool", vm_manager_pool(m)->dir,
				"volumes", list)
		    : NULL;
	return *out ? 0 : tern_error_set(err, ENOMEM, "out of memory");
}
