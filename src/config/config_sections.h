/* The sections of a VM configuration document (Firecracker's shape plus
 * tern's own "tern"), one row each: the config file, the API's document
 * (PUT /vm/config, ternd's definitions) and a snapshot's configuration
 * record (section vm.config) are all read by walking this table, and the
 * export names its sections from it. A new section is one row here and
 * its apply and export functions (config/vm_config_json.c). The readers
 * of a whole document (vm_config_json_apply_document, _load_file) are
 * here too. */
#ifndef TERN_CONFIG_CONFIG_SECTIONS_H
#define TERN_CONFIG_CONFIG_SECTIONS_H

#include <jansson.h>
#include <stddef.h>

#include "config/config_section_names.h"
#include "config/vm_config_json.h"
#include "util/error.h"
#include "vm/vm_config.h"

/* A check on the whole configuration, once every section is read. */
typedef int (*config_section_check_fn)(const struct vm_config *config,
				       struct tern_error *err);

enum config_section_phase {
	/* In the document's order. */
	CONFIG_SECTION_ANY_ORDER,
	/* Once the sections in any order are read (in the table's order),
	 * because its value depends on the section named by after. */
	CONFIG_SECTION_AFTER,
};

enum config_section_empty {
	/* The value goes to apply whatever it is (null is refused there). */
	CONFIG_SECTION_EMPTY_APPLIED,
	/* null: as if the section were absent. */
	CONFIG_SECTION_NULL_SKIPPED,
	/* null, {} or [] in a document (null only in a record, where the
	 * export writes null for a section that is not there). */
	CONFIG_SECTION_EMPTY_SKIPPED,
	/* null or absent in a document: apply judges it with
	 * CONFIG_SECTION_LATE after the sections in any order (boot-source:
	 * allowed once tern.firmware names a firmware). null in a record:
	 * skipped. */
	CONFIG_SECTION_NULL_JUDGED_LATER,
};

/* How a snapshot's configuration record reads the section. */
enum config_section_record {
	/* apply with CONFIG_SECTION_FROM_RECORD. */
	CONFIG_SECTION_RECORD_APPLIED,
	/* The same, before every other section, and the record must have
	 * it (machine-config: the balloon is checked against its memory
	 * size, cpu-config replaces its template). */
	CONFIG_SECTION_RECORD_FIRST,
	/* The recording host's setting (logger, metrics): checked to be an
	 * object or null, not used. */
	CONFIG_SECTION_RECORD_HOST_SETTING,
};

struct config_section {
	const char *name;
	enum config_section_phase phase;
	/* CONFIG_SECTION_AFTER: the section this one follows. */
	const char *after;
	enum config_section_empty empty;
	vm_config_apply_fn apply;
	enum config_section_record record;
	/* Run after every document and record (NULL: none). */
	config_section_check_fn check;
};

extern const struct config_section config_sections[];
extern const size_t config_section_count;

/* The row named name; NULL for an unknown section. */
const struct config_section *config_section_find(const char *name);

/* Applies every section of doc, a JSON object, to config, in the order
 * the table says; flags: 0 (a config file or the API's document) or
 * CONFIG_SECTION_FROM_RECORD. Not all-or-nothing: callers apply to a
 * copy. */
int config_sections_apply(struct vm_config *config,
			  struct vm_config_storage *storage, const json_t *doc,
			  int flags, struct tern_error *err);

#endif
