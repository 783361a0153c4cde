#include "cli/disk_option.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/config_check.h"

/* Copies the len bytes at text into dst (size bytes), NUL-terminated;
 * false when they do not fit. */
static bool copy_value(char *dst, size_t size, const char *text, size_t len)
{
	if (len >= size)
		return false;
	memcpy(dst, text, len);
	dst[len] = '\0';
	return true;
}

static bool value_is(const char *value, size_t len, const char *word)
{
	return strlen(word) == len && !strncmp(value, word, len);
}

/* The value of one key=value item, NUL-terminated for the shared checks
 * (an over-long value is cut; the checks refuse it anyway). */
static const char *item_value(char *buf, size_t size, const char *value,
			      size_t len)
{
	if (!copy_value(buf, size, value, len))
		copy_value(buf, size, value, size - 1);
	return buf;
}

static int parse_item(const char *item, size_t len, struct vm_disk_config *d,
		      bool *have_path, struct tern_error *err)
{
	const char *eq = memchr(item, '=', len);
	size_t key_len = eq ? (size_t)(eq - item) : len;
	const char *value = eq ? eq + 1 : NULL;
	size_t value_len = eq ? len - key_len - 1 : 0;
	char buf[64];

	if (value_is(item, key_len, "readonly") && !eq) {
		d->readonly = true;
	} else if (value_is(item, key_len, "path") && eq) {
		if (!value_len ||
		    !copy_value(d->path, sizeof(d->path), value, value_len))
			return tern_error_set(err, EINVAL,
					      "--disk: path= needs a file name "
					      "(at most %d bytes)",
					      PATH_MAX - 1);
		*have_path = true;
	} else if (value_is(item, key_len, "id") && eq) {
		int ret;

		if (value_len > VM_DISK_ID_MAX)
			value_len = VM_DISK_ID_MAX + 1; /* refused below */
		ret = config_check_disk_id(
			"--disk: id=",
			item_value(buf, sizeof(buf), value, value_len), err);
		if (ret)
			return ret;
		copy_value(d->id, sizeof(d->id), value, value_len);
	} else if (value_is(item, key_len, "cache") && eq) {
		return config_parse_disk_cache(
			"--disk: cache=",
			item_value(buf, sizeof(buf), value, value_len),
			&d->cache, err);
	} else if (value_is(item, key_len, "engine") && eq) {
		return config_parse_disk_engine(
			"--disk: engine=",
			item_value(buf, sizeof(buf), value, value_len),
			&d->engine, err);
	} else {
		return tern_error_set(err, EINVAL,
				      "--disk: unknown key '%.*s' (keys: "
				      "path, readonly, id, cache, engine)",
				      (int)len, item);
	}
	return 0;
}

int disk_option_parse(const char *text, struct vm_config *config,
		      struct tern_error *err)
{
	struct vm_disk_config d;
	bool have_path = false;
	const char *item = text;
	int ret;

	if (config->disk_count >= VM_MAX_DISKS)
		return tern_error_set(err, EINVAL,
				      "--disk: at most %d disks are supported",
				      VM_MAX_DISKS);
	memset(&d, 0, sizeof(d));
	d.cache = BLOCK_CACHE_WRITEBACK;
	d.engine = BLOCK_ENGINE_AUTO;
	snprintf(d.id, sizeof(d.id), "disk%d", config->disk_count);
	for (;;) {
		const char *comma = strchr(item, ',');
		size_t len = comma ? (size_t)(comma - item) : strlen(item);

		if (len == 0)
			return tern_error_set(err, EINVAL,
					      "--disk '%s': empty item", text);
		ret = parse_item(item, len, &d, &have_path, err);
		if (ret)
			return ret;
		if (!comma)
			break;
		item = comma + 1;
	}
	if (!have_path)
		return tern_error_set(err, EINVAL,
				      "--disk '%s': path=FILE is required",
				      text);
	return config_add_disk("--disk", config, &d, 0, err);
}
