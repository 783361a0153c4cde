#include "cli/disk_option.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

static int parse_item(const char *item, size_t len, struct vm_disk_config *d,
		      bool *have_path, struct tern_error *err)
{
	const char *eq = memchr(item, '=', len);
	size_t key_len = eq ? (size_t)(eq - item) : len;
	const char *value = eq ? eq + 1 : NULL;
	size_t value_len = eq ? len - key_len - 1 : 0;

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
		if (!value_len || value_len > VM_DISK_ID_MAX)
			return tern_error_set(err, EINVAL,
					      "--disk: id= must be 1 to %d "
					      "characters",
					      VM_DISK_ID_MAX);
		for (size_t i = 0; i < value_len; i++)
			if (value[i] <= ' ' || value[i] > '~')
				return tern_error_set(err, EINVAL,
						      "--disk: id= must be "
						      "printable ASCII without "
						      "spaces");
		copy_value(d->id, sizeof(d->id), value, value_len);
	} else if (value_is(item, key_len, "cache") && eq) {
		if (value_is(value, value_len, "writeback"))
			d->cache = BLOCK_CACHE_WRITEBACK;
		else if (value_is(value, value_len, "none"))
			d->cache = BLOCK_CACHE_NONE;
		else
			return tern_error_set(err, EINVAL,
					      "--disk: cache= is writeback or "
					      "none, not '%.*s'",
					      (int)value_len, value);
	} else if (value_is(item, key_len, "engine") && eq) {
		if (value_is(value, value_len, "io_uring"))
			d->engine = BLOCK_ENGINE_IO_URING;
		else if (value_is(value, value_len, "threads"))
			d->engine = BLOCK_ENGINE_THREADS;
		else
			return tern_error_set(err, EINVAL,
					      "--disk: engine= is io_uring or "
					      "threads, not '%.*s'",
					      (int)value_len, value);
	} else {
		return tern_error_set(err, EINVAL,
				      "--disk: unknown key '%.*s' (keys: "
				      "path, readonly, id, cache, engine)",
				      (int)len, item);
	}
	return 0;
}

static int check_against_others(const struct vm_config *config,
				const struct vm_disk_config *d,
				struct tern_error *err)
{
	struct stat st, other;

	if (stat(d->path, &st) < 0)
		return tern_error_set(err, EINVAL, "--disk path=%s: %s",
				      d->path, strerror(errno));
	for (int i = 0; i < config->disk_count; i++) {
		const struct vm_disk_config *o = &config->disks[i];

		if (!strcmp(o->id, d->id))
			return tern_error_set(err, EINVAL,
					      "--disk: two disks have the id "
					      "'%s'",
					      d->id);
		if (stat(o->path, &other) == 0 && other.st_dev == st.st_dev &&
		    other.st_ino == st.st_ino)
			return tern_error_set(err, EINVAL,
					      "--disk: %s is given twice",
					      d->path);
	}
	return 0;
}

int disk_option_parse(const char *text, struct vm_config *config,
		      struct tern_error *err)
{
	struct vm_disk_config *d;
	bool have_path = false;
	const char *item = text;
	int ret;

	if (config->disk_count >= VM_MAX_DISKS)
		return tern_error_set(err, EINVAL,
				      "--disk: at most %d disks are supported",
				      VM_MAX_DISKS);
	d = &config->disks[config->disk_count];
	memset(d, 0, sizeof(*d));
	d->cache = BLOCK_CACHE_WRITEBACK;
	d->engine = BLOCK_ENGINE_AUTO;
	snprintf(d->id, sizeof(d->id), "disk%d", config->disk_count);
	for (;;) {
		const char *comma = strchr(item, ',');
		size_t len = comma ? (size_t)(comma - item) : strlen(item);

		if (len == 0)
			return tern_error_set(err, EINVAL,
					      "--disk '%s': empty item", text);
		ret = parse_item(item, len, d, &have_path, err);
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
	ret = check_against_others(config, d, err);
	if (ret)
		return ret;
	config->disk_count++;
	return 0;
}
