/* What ternd accepts as a VM definition: a name it can use in paths and
 * URLs, and a tern configuration document (the shape `GET /vm/config`
 * returns and `tern run --config-file` reads) that tern's own parser and
 * checks accept. A definition refused here never reaches the database. */
#ifndef TERN_TERND_VM_DEFINITION_H
#define TERN_TERND_VM_DEFINITION_H

#include <jansson.h>
#include <stdint.h>

#include "util/error.h"

/* Names: 1 to VM_NAME_MAX of [A-Za-z0-9._-], starting with a letter or a
 * digit (never ".", "..", or anything with a slash). */
#define VM_NAME_MAX 64

/* The version of the configuration document stored with each definition:
 * a later tern that changes the document's shape converts older versions
 * when it reads them. */
#define VM_CONFIG_DOC_VERSION 1

struct vm_summary {
	int vcpus;
	uint64_t memory_mib;
};

/* 0, or -EINVAL with err saying what is wrong with the name. */
int vm_name_check(const char *name, struct tern_error *err);

/* Checks a document as tern would read it (vm_config_json_apply_document
 * plus "a kernel is named"); fills *summary when given. 0 or -EINVAL. */
int vm_definition_check(const json_t *doc, struct vm_summary *summary,
			struct tern_error *err);

#endif
