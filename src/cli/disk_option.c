#include "cli/disk_option.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/option_list.h"
#include "config/config_check.h"

struct disk_items {
	struct vm_disk_config disk; /* disk.path: path, lent */
	char path[PATH_MAX];
	bool have_path;
};

/* The value of one item, NUL-terminated for the shared checks (an
 * over-long value is cut; the checks refuse it anyway). */
static const char *item_value(const struct option_item *item, char *buf,
			      size_t size)
{
	struct option_item cut = *item;

	if (cut.value_len >= size)
		cut.value_len = size - 1;
	option_item_copy(&cut, buf, size);
	return buf;
}

static int parse_item(const struct option_item *item, void *ctx,
		      struct tern_error *err)
{
	struct disk_items *d = ctx;
	char buf[64];

	if (option_item_is(item, "readonly", false)) {
		d->disk.readonly = true;
	} else if (option_item_is(item, "path", true)) {
		if (!item->value_len ||
		    !option_item_copy(item, d->path, sizeof(d->path)))
			return tern_error_set(err, EINVAL,
					      "--disk: path= needs a file name "
					      "(at most %d bytes)",
					      PATH_MAX - 1);
		d->have_path = true;
	} else if (option_item_is(item, "id", true)) {
		int ret = config_check_disk_id(
			"--disk: id=", item_value(item, buf, sizeof(buf)), err);

		if (ret)
			return ret;
		option_item_copy(item, d->disk.id, sizeof(d->disk.id));
	} else if (option_item_is(item, "cache", true)) {
		return config_parse_disk_cache(
			"--disk: cache=", item_value(item, buf, sizeof(buf)),
			&d->disk.cache, err);
	} else if (option_item_is(item, "engine", true)) {
		return config_parse_disk_engine(
			"--disk: engine=", item_value(item, buf, sizeof(buf)),
			&d->disk.engine, err);
	} else {
		return tern_error_set(err, EINVAL,
				      "--disk: unknown key '%.*s' (keys: "
				      "path, readonly, id, cache, engine)",
				      (int)item->len, item->text);
	}
	return 0;
}

int disk_option_parse(const char *text, struct vm_config *config,
		      struct tern_error *err)
{
	struct disk_items d;
	int ret;

	memset(&d, 0, sizeof(d));
	if (config->disk_count >= VM_MAX_DISKS)
		return tern_error_set(err, EINVAL,
				      "--disk: at most %d disks are supported",
				      VM_MAX_DISKS);
	d.disk.path = d.path;
	d.disk.cache = BLOCK_CACHE_WRITEBACK;
	d.disk.engine = BLOCK_ENGINE_AUTO;
	snprintf(d.disk.id, sizeof(d.disk.id), "disk%d", config->disk_count);
	ret = option_list_each("--disk", text, parse_item, &d, err);
	if (ret)
		return ret;
	if (!d.have_path)
		return tern_error_set(err, EINVAL,
				      "--disk '%s': path=FILE is required",
				      text);
	return config_add_disk("--disk", config, &d.disk, 0, err);
}
