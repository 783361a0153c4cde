#include "cli/pmem_option.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/option_list.h"
#include "config/config_check.h"

struct pmem_items {
	struct vm_pmem_config pmem; /* pmem.path: path, lent */
	char path[PATH_MAX];
	bool have_path;
};

static int parse_item(const struct option_item *item, void *ctx,
		      struct tern_error *err)
{
	struct pmem_items *p = ctx;

	if (option_item_is(item, "readonly", false)) {
		p->pmem.readonly = true;
	} else if (option_item_is(item, "root", false)) {
		p->pmem.root = true;
	} else if (option_item_is(item, "path", true)) {
		if (!item->value_len ||
		    !option_item_copy(item, p->path, sizeof(p->path)))
			return tern_error_set(err, EINVAL,
					      "--pmem: path= needs a file name "
					      "(at most %d bytes)",
					      PATH_MAX - 1);
		p->have_path = true;
	} else if (option_item_is(item, "id", true)) {
		char id[64];
		struct option_item cut = *item;

		if (cut.value_len >= sizeof(id))
			cut.value_len = sizeof(id) - 1;
		option_item_copy(&cut, id, sizeof(id));
		if (config_check_disk_id("--pmem: id=", id, err))
			return -EINVAL;
		/* Checked above: it fits. */
		memcpy(p->pmem.id, id, strlen(id) + 1);
	} else {
		return tern_error_set(err, EINVAL,
				      "--pmem: unknown key '%.*s' (keys: "
				      "path, id, root, readonly)",
				      (int)item->len, item->text);
	}
	return 0;
}

int pmem_option_parse(const char *text, struct vm_config *config,
		      struct tern_error *err)
{
	struct pmem_items p;
	int ret;

	memset(&p, 0, sizeof(p));
	p.pmem.path = p.path;
	snprintf(p.pmem.id, sizeof(p.pmem.id), "pmem%d", config->pmem_count);
	ret = option_list_each("--pmem", text, parse_item, &p, err);
	if (ret)
		return ret;
	if (!p.have_path)
		return tern_error_set(err, EINVAL,
				      "--pmem '%s': path=FILE is required",
				      text);
	ret = config_check_input_file("--pmem path", p.pmem.path, err);
	if (ret)
		return -EINVAL;
	return config_add_pmem("--pmem", config, &p.pmem, 0, err);
}
