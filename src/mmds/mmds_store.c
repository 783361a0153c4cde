#include "mmds/mmds_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Compact text, keys sorted (as Firecracker's serde_json prints them), any
 * value at the top (a leaf read by the guest is a bare string or number).
 * Reals keep jansson's 17 significant digits: they read back as the same
 * number, which a shorter form does not promise. */
#define MMDS_JSON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)

struct mmds_store *mmds_store_create(size_t limit, struct tern_error *err)
{
	struct mmds_store *store = calloc(1, sizeof(*store));

	if (!store) {
		tern_error_set(err, ENOMEM, "out of memory for the MMDS");
		return NULL;
	}
	pthread_mutex_init(&store->lock, NULL);
	store->data = json_null();
	store->limit = limit;
	store->version = MMDS_V1;
	return store;
}

int mmds_store_prepare_tokens(struct mmds_store *store, struct tern_error *err)
{
	int ret = 0;

	pthread_mutex_lock(&store->lock);
	if (!store->tokens_ready) {
		ret = mmds_token_key_init(&store->token_key, err);
		store->tokens_ready = ret == 0;
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

void mmds_store_destroy(struct mmds_store *store)
{
	if (!store)
		return;
	json_decref(store->data);
	pthread_mutex_destroy(&store->lock);
	/* The key signs tokens: it does not outlive the store in memory. */
	explicit_bzero(&store->token_key, sizeof(store->token_key));
	free(store);
}

void mmds_store_set_mode(struct mmds_store *store, enum mmds_version version,
			 bool imds_compat)
{
	pthread_mutex_lock(&store->lock);
	store->version = version;
	store->imds_compat = imds_compat;
	pthread_mutex_unlock(&store->lock);
}

enum mmds_version mmds_store_version(struct mmds_store *store)
{
	enum mmds_version version;

	pthread_mutex_lock(&store->lock);
	version = store->version;
	pthread_mutex_unlock(&store->lock);
	return version;
}

/* The size the limit applies to: the compact text's length. */
static int text_size(const json_t *doc, size_t *size)
{
	char *text = json_dumps(doc, MMDS_JSON_FLAGS);

	if (!text)
		return -ENOMEM;
	*size = strlen(text);
	free(text);
	return 0;
}

static int check_limit(const struct mmds_store *store, const json_t *doc,
		       struct tern_error *err)
{
	size_t size;

	if (text_size(doc, &size))
		return tern_error_set(err, ENOMEM, "out of memory");
	if (size > store->limit)
		return tern_error_set(err, EFBIG,
				      "MMDS limit exceeded error: the data "
				      "store would be %zu bytes, over its "
				      "limit of %zu (--mmds-size-limit)",
				      size, store->limit);
	return 0;
}

int mmds_store_put(struct mmds_store *store, const json_t *doc,
		   struct tern_error *err)
{
	json_t *copy = json_deep_copy(doc);
	int ret;

	if (!copy)
		return tern_error_set(err, ENOMEM, "out of memory");
	pthread_mutex_lock(&store->lock);
	ret = check_limit(store, copy, err);
	if (!ret) {
		json_decref(store->data);
		store->data = copy;
		store->initialized = true;
		copy = NULL;
	}
	pthread_mutex_unlock(&store->lock);
	json_decref(copy);
	return ret;
}

json_t *mmds_merge_patch(json_t *target, const json_t *patch)
{
	const char *key;
	json_t *value;

	if (!json_is_object(patch)) {
		json_decref(target);
		return json_deep_copy(patch);
	}
	if (!json_is_object(target)) {
		json_decref(target);
		target = json_object();
		if (!target)
			return NULL;
	}
	json_object_foreach((json_t *)patch, key, value)
	{
		json_t *merged;

		if (json_is_null(value)) {
			json_object_del(target, key);
			continue;
		}
		merged = json_object_get(target, key);
		merged = mmds_merge_patch(json_incref(merged) ?: json_null(),
					  value);
		if (!merged || json_object_set_new(target, key, merged)) {
			json_decref(target);
			return NULL;
		}
	}
	return target;
}

int mmds_store_patch(struct mmds_store *store, const json_t *patch,
		     struct tern_error *err)
{
	json_t *merged;
	int ret;

	pthread_mutex_lock(&store->lock);
	if (!store->initialized) {
		pthread_mutex_unlock(&store->lock);
		/* Firecracker's words, which its tests match. */
		return tern_error_set(err, ENOENT,
				      "The MMDS data store is not initialized. "
				      "PUT /mmds first.");
	}
	/* Merged into a copy: a patch over the limit changes nothing. */
	merged = mmds_merge_patch(json_deep_copy(store->data), patch);
	if (!merged)
		ret = tern_error_set(err, ENOMEM, "out of memory");
	else
		ret = check_limit(store, merged, err);
	if (!ret) {
		json_decref(store->data);
		store->data = merged;
		merged = NULL;
	}
	pthread_mutex_unlock(&store->lock);
	json_decref(merged);
	return ret;
}

json_t *mmds_store_get(struct mmds_store *store)
{
	json_t *copy;

	pthread_mutex_lock(&store->lock);
	copy = json_is_null(store->data) ? json_object()
					 : json_deep_copy(store->data);
	pthread_mutex_unlock(&store->lock);
	return copy;
}

/* RFC 6901 3: "~1" is '/', "~0" is '~', any other '~' is malformed. Writes
 * the unescaped token into out (at least len bytes); returns its length
 * or -1. */
static long unescape_token(const char *token, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (token[i] != '~') {
			out[n++] = token[i];
			continue;
		}
		if (i + 1 >= len ||
		    (token[i + 1] != '0' && token[i + 1] != '1'))
			return -1;
		out[n++] = token[++i] == '0' ? '~' : '/';
	}
	return (long)n;
}

/* An array index: decimal digits, no leading zero (RFC 6901 4). */
static bool array_index(const char *token, size_t len, size_t *index)
{
	size_t v = 0;

	if (len == 0 || len > 9 || (token[0] == '0' && len > 1))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (token[i] < '0' || token[i] > '9')
			return false;
		v = v * 10 + (size_t)(token[i] - '0');
	}
	*index = v;
	return true;
}

/* The value at path, borrowed from root; NULL when there is none. scratch
 * holds path_len bytes. */
static json_t *walk(json_t *root, const char *path, size_t path_len,
		    char *scratch)
{
	json_t *node = root;
	size_t i = 0;

	while (i < path_len && node) {
		size_t start, end, index;
		long len;

		while (i < path_len && path[i] == '/')
			i++;
		if (i == path_len)
			break;
		start = i;
		while (i < path_len && path[i] != '/')
			i++;
		end = i;
		len = unescape_token(path + start, end - start, scratch);
		if (len < 0)
			return NULL;
		if (json_is_object(node))
			node = json_object_getn(node, scratch, (size_t)len);
		else if (json_is_array(node) &&
			 array_index(scratch, (size_t)len, &index))
			node = json_array_get(node, index);
		else
			return NULL;
	}
	return node;
}

static int compare_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* An object's keys, sorted, one a line, with '/' after an object's. */
static enum mmds_lookup imds_listing(const json_t *object, char **out,
				     size_t *out_len)
{
	size_t count = json_object_size(object), total = 0, n = 0, at = 0;
	const char **keys = calloc(count ? count : 1, sizeof(*keys));
	const char *key;
	json_t *value;
	char *text;

	if (!keys)
		return MMDS_NO_MEMORY;
	json_object_foreach((json_t *)object, key, value)
	{
		keys[n++] = key;
		total += strlen(key) + 2;
	}
	qsort(keys, n, sizeof(*keys), compare_keys);
	text = malloc(total + 1);
	if (!text) {
		free(keys);
		return MMDS_NO_MEMORY;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(keys[i]);

		if (i)
			text[at++] = '\n';
		memcpy(text + at, keys[i], len);
		at += len;
		if (json_is_object(json_object_get(object, keys[i])))
			text[at++] = '/';
	}
	text[at] = '\0';
	free(keys);
	*out = text;
	*out_len = at;
	return MMDS_FOUND;
}

static enum mmds_lookup render_value(const json_t *value, bool as_json,
				     char **out, size_t *out_len)
{
	if (as_json) {
		*out = json_dumps(value, MMDS_JSON_FLAGS);
		if (!*out)
			return MMDS_NO_MEMORY;
		*out_len = strlen(*out);
		return MMDS_FOUND;
	}
	if (json_is_object(value))
		return imds_listing(value, out, out_len);
	if (!json_is_string(value))
		return MMDS_UNSUPPORTED;
	*out_len = json_string_length(value);
	*out = malloc(*out_len + 1);
	if (!*out)
		return MMDS_NO_MEMORY;
	memcpy(*out, json_string_value(value), *out_len);
	(*out)[*out_len] = '\0';
	return MMDS_FOUND;
}

enum mmds_lookup mmds_store_render(struct mmds_store *store, const char *path,
				   size_t path_len, bool as_json, char **out,
				   size_t *out_len, bool *is_json)
{
	char *scratch = malloc(path_len + 1);
	enum mmds_lookup result;
	json_t *value;

	*out = NULL;
	*out_len = 0;
	if (!scratch)
		return MMDS_NO_MEMORY;
	pthread_mutex_lock(&store->lock);
	*is_json = as_json && !store->imds_compat;
	value = walk(store->data, path, path_len, scratch);
	if (!value)
		result = MMDS_NOT_FOUND;
	else
		result = render_value(value, *is_json, out, out_len);
	pthread_mutex_unlock(&store->lock);
	free(scratch);
	return result;
}
