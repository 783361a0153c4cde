#include "vm/vm_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *vm_config_path_dup(const char *path)
{
	size_t len = strnlen(path, PATH_MAX);
	char *copy;

	if (len >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	copy = malloc(len + 1);
	if (!copy) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(copy, path, len + 1);
	return copy;
}

static void forget_strings(struct vm_config *config)
{
	for (int i = 0; i < VM_MAX_DISKS; i++)
		config->disks[i].path = NULL;
	for (int i = 0; i < VM_MAX_PMEM; i++)
		config->pmems[i].path = NULL;
}

/* The slots past the counts are not copied: nothing reads them. */
int vm_config_copy(struct vm_config *dst, const struct vm_config *src)
{
	*dst = *src;
	forget_strings(dst);
	for (int i = 0; i < src->disk_count; i++) {
		if (!src->disks[i].path)
			continue;
		dst->disks[i].path = strdup(src->disks[i].path);
		if (!dst->disks[i].path)
			goto fail;
	}
	for (int i = 0; i < src->pmem_count; i++) {
		if (!src->pmems[i].path)
			continue;
		dst->pmems[i].path = strdup(src->pmems[i].path);
		if (!dst->pmems[i].path)
			goto fail;
	}
	return 0;
fail:
	vm_config_release(dst);
	return -ENOMEM;
}

void vm_config_move(struct vm_config *dst, struct vm_config *src)
{
	*dst = *src;
	forget_strings(src);
}

void vm_config_release(struct vm_config *config)
{
	for (int i = 0; i < VM_MAX_DISKS; i++)
		free(config->disks[i].path);
	for (int i = 0; i < VM_MAX_PMEM; i++)
		free(config->pmems[i].path);
	forget_strings(config);
}
