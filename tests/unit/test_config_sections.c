/* The table of configuration sections (config/config_sections.h): every
 * section the export writes has a row, a snapshot record holding every
 * row's section parses, and the readers of a document and of a record
 * treat the rows as the table says (order rules, host settings, files
 * left unopened in a record). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_check.h"
#include "config/config_sections.h"
#include "config/vm_config_json.h"
#include "snapshot/config_state.h"
#include "snapshot/snapshot_sections.h"

/* Every section holding something (paths that exist nowhere: a record
 * opens no file). */
static const char every_section[] =
	"{\"boot-source\": {\"kernel_image_path\": \"/nowhere/vmlinux\","
	" \"boot_args\": \"console=ttyS0\"},"
	" \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 256},"
	" \"logger\": {\"level\": \"Info\"},"
	" \"metrics\": {\"metrics_path\": \"/nowhere/metrics\"},"
	" \"entropy\": {},"
	" \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"/nowhere/v.sock\"},"
	" \"network-interfaces\": [{\"iface_id\": \"eth0\","
	" \"host_dev_name\": \"tap0\", \"guest_mac\": \"52:54:00:01:02:03\"}],"
	" \"drives\": [{\"drive_id\": \"rootfs\", \"is_root_device\": true,"
	" \"is_read_only\": false, \"path_on_host\": \"/nowhere/root.ext4\"}],"
	" \"pmem\": [{\"id\": \"pm0\", \"path_on_host\": \"/nowhere/pm\"}],"
	" \"balloon\": {\"amount_mib\": 64, \"deflate_on_oom\": true},"
	" \"memory-hotplug\": {\"total_size_mib\": 1024},"
	" \"mmds-config\": {\"network_interfaces\": [\"eth0\"]},"
	" \"cpu-config\": {\"kvm_capabilities\": [\"171\"]},"
	" \"tern\": {\"virtio_transport\": \"mmio\", \"serial\": \"none\"}}";

static json_t *load(const char *text)
{
	json_error_t json_err;
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &json_err);

	if (!doc)
		fail_msg("test document: %s", json_err.text);
	return doc;
}

static int parse_record(const char *text, struct snapshot_config *out,
			struct tern_error *err)
{
	struct state_file sf;
	int ret;

	state_file_init(&sf);
	assert_int_equal(state_file_add(&sf, SNAP_VM_CONFIG, "vm.config", text,
					strlen(text), err),
			 0);
	ret = config_state_parse(&sf, out, err);
	state_file_free(&sf);
	return ret;
}

static void rows_are_consistent(void **state)
{
	int first = 0;

	(void)state;
	assert_true(config_section_count > 0);
	for (size_t i = 0; i < config_section_count; i++) {
		const struct config_section *row = &config_sections[i];

		assert_ptr_equal(config_section_find(row->name), row);
		assert_non_null(row->apply);
		if (row->phase == CONFIG_SECTION_AFTER) {
			assert_non_null(row->after);
			assert_non_null(config_section_find(row->after));
		}
		first += row->record == CONFIG_SECTION_RECORD_FIRST;
	}
	assert_int_equal(first, 1);
	assert_null(config_section_find("bogus"));
}

/* Every section name export writes, in each shape, is a row. */
static void export_names_only_rows(void **state)
{
	static const enum vm_config_export_shape shapes[] = {
		VM_CONFIG_EXPORT_FULL, VM_CONFIG_EXPORT_API,
		VM_CONFIG_EXPORT_FIRECRACKER};
	struct vm_config config;
	struct vm_config_storage storage = {0};
	struct tern_error err = {{0}};
	json_t *doc = load(every_section);
	const char *key;
	json_t *value;
	size_t seen = 0;

	(void)state;
	vm_config_set_defaults(&config);
	/* A document's drives and pmem must exist: leave them out. */
	json_object_set_new(doc, "drives", json_null());
	json_object_set_new(doc, "pmem", json_null());
	if (vm_config_json_apply_document(&config, &storage, doc, &err))
		fail_msg("apply: %s", err.message);
	json_decref(doc);
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		json_t *out = vm_config_json_export_shaped(&config, shapes[i]);

		assert_non_null(out);
		json_object_foreach(out, key, value)
		{
			if (!config_section_find(key))
				fail_msg("export writes '%s', which the "
					 "table lacks",
					 key);
			seen++;
		}
		if (shapes[i] == VM_CONFIG_EXPORT_FULL)
			assert_int_equal(json_object_size(out),
					 config_section_count);
		json_decref(out);
	}
	assert_true(seen > 0);
	vm_config_release(&config);
	vm_config_storage_free(&storage);
}

/* A record with every row's section parses, and each one's value shows
 * in the result; without one, it still parses (only the first row is
 * required, and its absence is named). */
static void record_with_every_section(void **state)
{
	struct snapshot_config snap;
	struct tern_error err = {{0}};
	json_t *doc = load(every_section);
	char *text;

	(void)state;
	for (size_t i = 0; i < config_section_count; i++)
		assert_non_null(json_object_get(doc, config_sections[i].name));
	assert_int_equal(json_object_size(doc), config_section_count);
	text = json_dumps(doc, JSON_COMPACT);
	if (parse_record(text, &snap, &err))
		fail_msg("record: %s", err.message);
	assert_string_equal(snap.config.kernel_path, "/nowhere/vmlinux");
	assert_int_equal(snap.config.cpu_count, 2);
	assert_int_equal(snap.config.disk_count, 1);
	assert_string_equal(snap.config.disks[0].path, "/nowhere/root.ext4");
	assert_int_equal(snap.config.net_count, 1);
	assert_int_equal(snap.config.pmem_count, 1);
	assert_int_equal(snap.config.vsock_cid, 3);
	assert_true(snap.config.balloon.enabled);
	assert_true(snap.config.virtio_rng);
	assert_true(snap.config.mmds.enabled);
	assert_non_null(snap.config.cpu_custom);
	assert_int_equal(snap.config.memory_hotplug.total_bytes, 1024ull << 20);
	assert_int_equal(snap.config.virtio_transport, VIRTIO_TRANSPORT_MMIO);
	/* Host settings: not taken from the record. */
	assert_null(snap.config.metrics_path);
	assert_int_equal(snap.config.serial_mode, SERIAL_MODE_STDIO);
	config_state_free(&snap);
	free(text);

	for (size_t i = 0; i < config_section_count; i++) {
		const struct config_section *row = &config_sections[i];
		json_t *less = json_deep_copy(doc);
		int ret;

		json_object_del(less, row->name);
		/* mmds-config names the interfaces. */
		if (!strcmp(row->name, CONFIG_SECTION_NETS))
			json_object_del(less, CONFIG_SECTION_MMDS);
		text = json_dumps(less, JSON_COMPACT);
		ret = parse_record(text, &snap, &err);
		if (row->record == CONFIG_SECTION_RECORD_FIRST) {
			assert_int_not_equal(ret, 0);
			assert_non_null(strstr(err.message, row->name));
		} else if (ret) {
			fail_msg("record without %s: %s", row->name,
				 err.message);
		}
		config_state_free(&snap);
		free(text);
		json_decref(less);
	}
	json_decref(doc);
}

/* A row of phase AFTER is read after what it follows, whatever the
 * document's order; unknown sections are named. */
static void order_rules(void **state)
{
	struct vm_config config;
	struct vm_config_storage storage = {0};
	struct tern_error err = {{0}};
	json_t *doc = load(
		"{\"mmds-config\": {\"network_interfaces\": [\"eth0\"]},"
		" \"network-interfaces\": [{\"iface_id\": \"eth0\","
		" \"host_dev_name\": \"tap0\"}],"
		" \"boot-source\": {\"kernel_image_path\": \"/nowhere\"},"
		" \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": "
		"128}}");

	(void)state;
	vm_config_set_defaults(&config);
	if (vm_config_json_apply_document(&config, &storage, doc, &err))
		fail_msg("apply: %s", err.message);
	assert_true(config.mmds.enabled);
	json_object_set_new(doc, "bogus", json_object());
	assert_int_not_equal(
		vm_config_json_apply_document(&config, &storage, doc, &err), 0);
	assert_string_equal(err.message, "unknown section 'bogus'");
	json_object_del(doc, "bogus");
	json_object_del(doc, "boot-source");
	assert_int_not_equal(
		vm_config_json_apply_document(&config, &storage, doc, &err), 0);
	assert_string_equal(err.message,
			    "boot-source: required section is missing");
	json_decref(doc);
	vm_config_release(&config);
	vm_config_storage_free(&storage);
}

/* What a record's reader does differently from a document's: the host's
 * settings only checked for shape, no file opened, only null skipped. */
static void record_reads_as_the_table_says(void **state)
{
	struct snapshot_config snap;
	struct vm_config config;
	struct vm_config_storage storage = {0};
	struct tern_error err = {{0}};
	json_t *doc = load(every_section);
	char *text;

	(void)state;
	/* A document's drive must exist on this host. */
	vm_config_set_defaults(&config);
	assert_int_not_equal(
		vm_config_json_apply_document(&config, &storage, doc, &err), 0);
	assert_non_null(strstr(err.message, "/nowhere/root.ext4"));
	vm_config_release(&config);
	vm_config_storage_free(&storage);

	json_object_set_new(doc, "logger", json_pack("{s:s}", "level", "?"));
	text = json_dumps(doc, JSON_COMPACT);
	if (parse_record(text, &snap, &err))
		fail_msg("record: %s", err.message);
	config_state_free(&snap);
	free(text);

	json_object_set_new(doc, "logger", json_integer(5));
	text = json_dumps(doc, JSON_COMPACT);
	assert_int_not_equal(parse_record(text, &snap, &err), 0);
	assert_string_equal(err.message,
			    "the snapshot's configuration (section vm.config) "
			    "is invalid: logger: expected a JSON object");
	config_state_free(&snap);
	free(text);

	json_object_set_new(doc, "logger", json_null());
	json_object_set_new(doc, "memory-hotplug", json_object());
	text = json_dumps(doc, JSON_COMPACT);
	assert_int_not_equal(parse_record(text, &snap, &err), 0);
	assert_non_null(strstr(err.message, "memory-hotplug"));
	config_state_free(&snap);
	free(text);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rows_are_consistent),
		cmocka_unit_test(export_names_only_rows),
		cmocka_unit_test(record_with_every_section),
		cmocka_unit_test(order_rules),
		cmocka_unit_test(record_reads_as_the_table_says),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
