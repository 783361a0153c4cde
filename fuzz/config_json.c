/* Fuzz target: the JSON configuration (src/config/): a whole document as
 * --config-file reads it, or one API section body (first input byte picks
 * which), applied over the defaults. What a document accepted exports
 * must be accepted again (the GET /vm/config round trip). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config_check.h"
#include "config/vm_config_json.h"
#include "util/log.h"

typedef int (*apply_fn)(struct vm_config *, struct vm_config_storage *,
			const json_t *, struct tern_error *);

static int apply_machine_put(struct vm_config *c, struct vm_config_storage *s,
			     const json_t *body, struct tern_error *err)
{
	return vm_config_json_apply_machine(c, s, body, 0, err);
}

static int apply_machine_patch(struct vm_config *c, struct vm_config_storage *s,
			       const json_t *body, struct tern_error *err)
{
	return vm_config_json_apply_machine(c, s, body, 1, err);
}

static const apply_fn sections[] = {
	vm_config_json_apply_document,
	apply_machine_put,
	apply_machine_patch,
	vm_config_json_apply_boot_source,
	vm_config_json_apply_logger,
	vm_config_json_apply_metrics,
	vm_config_json_apply_serial,
	vm_config_json_apply_entropy,
	vm_config_json_apply_drive,
	vm_config_json_apply_net,
	vm_config_json_apply_vsock,
	vm_config_json_apply_balloon,
	vm_config_json_apply_cpu_config,
	vm_config_json_apply_pmem,
};
#define SECTION_COUNT (sizeof(sections) / sizeof(sections[0]))

static void round_trip(const struct vm_config *config)
{
	struct vm_config again;
	struct vm_config_storage storage = {0};
	struct tern_error err = {{0}};
	json_t *doc = vm_config_json_export(config);

	if (!doc)
		abort();
	vm_config_set_defaults(&again);
	if (vm_config_json_apply_document(&again, &storage, doc, &err)) {
		char *text = json_dumps(doc, JSON_COMPACT);

		fprintf(stderr, "exported config refused: %s\n%s\n",
			err.message, text ? text : "");
		abort();
	}
	json_decref(doc);
	vm_config_release(&again);
	vm_config_storage_free(&storage);
}

/* Files the seed documents name (paths are checked for existence). */
static void make_files(void)
{
	static const char *const paths[] = {"/tmp/tern-fuzz-kernel",
					    "/tmp/tern-fuzz-disk"};

	for (unsigned i = 0; i < 2; i++) {
		FILE *f = fopen(paths[i], "a");

		if (!f || ftruncate(fileno(f), 1 << 20))
			abort();
		fclose(f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	struct vm_config config;
	struct vm_config_storage storage = {0};
	struct tern_error err = {{0}};
	json_error_t json_err;
	unsigned which;
	json_t *doc;

	if (!quiet) {
		log_set_level(LOG_OFF);
		make_files();
		quiet = true;
	}
	if (size < 1)
		return 0;
	which = data[0] % SECTION_COUNT;
	doc = json_loadb((const char *)data + 1, size - 1,
			 JSON_REJECT_DUPLICATES, &json_err);
	if (!doc)
		return 0;
	vm_config_set_defaults(&config);
	if (sections[which](&config, &storage, doc, &err) == 0) {
		if (which == 0)
			round_trip(&config);
	} else if (getenv("FUZZ_VERBOSE")) {
		fprintf(stderr, "refused: %s\n", err.message);
	}
	json_decref(doc);
	vm_config_release(&config);
	vm_config_storage_free(&storage);
	return 0;
}
