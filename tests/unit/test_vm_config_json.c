/* The JSON spelling of a VM configuration: what GET /vm/config returns and
 * --config-file reads. Round trip, and every class of bad input refused with
 * a message that names the field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "config/config_check.h"
#include "config/vm_config_json.h"
#include "util/log.h"

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr);

	if (!doc)
		fail_msg("test JSON does not parse: %s", jerr.text);
	return doc;
}

/* Applies text as a whole document; returns the error message ("" on
 * success). */
static const char *apply_doc(struct vm_config *config,
			     struct vm_config_storage *storage,
			     const char *text)
{
	static struct tern_error err;
	json_t *doc = parse(text);
	int ret;

	memset(&err, 0, sizeof(err));
	ret = vm_config_json_apply_document(config, storage, doc, &err);
	json_decref(doc);
	return ret ? err.message : "";
}

static void expect_refused(const char *text, const char *words)
{
	struct vm_config config = {0};
	struct vm_config_storage storage = {0};
	const char *message;

	vm_config_release(&config);
	vm_config_set_defaults(&config);
	message = apply_doc(&config, &storage, text);
	if (!strstr(message, words))
		fail_msg("'%s' not in '%s' for %s", words, message, text);
	vm_config_storage_free(&storage);
	vm_config_release(&config);
}

static void full_document_round_trips(void **state)
{
	struct vm_config config = {0}, again = {0};
	struct vm_config_storage storage = {0}, storage2 = {0};
	json_t *exported, *reexported;

	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_string_equal(
		apply_doc(&config, &storage,
			  "{\"boot-source\": {\"kernel_image_path\": \"/k\", "
			  "\"initrd_path\": \"/i\", \"boot_args\": \"quiet\"},"
			  " \"machine-config\": {\"vcpu_count\": 3, "
			  "\"mem_size_mib\": 512, \"cpu_template\": "
			  "\"minimal\"}, \"logger\": {\"level\": \"Debug\", "
			  "\"show_level\": true}, \"metrics\": "
			  "{\"metrics_path\": \"/m\"}, \"drives\": [], "
			  "\"entropy\": {}, \"tern\": {\"serial\": "
			  "\"file:/s\", \"kvm_device\": \"/dev/kvm2\", "
			  "\"virtio_transport\": \"mmio\", \"on_reboot\": "
			  "\"restart\"}}"),
		"");
	assert_string_equal(config.kernel_path, "/k");
	assert_string_equal(config.initrd_path, "/i");
	assert_string_equal(config.cmdline, "quiet");
	assert_int_equal(config.cpu_count, 3);
	assert_int_equal(config.memory_size, 512ULL << 20);
	assert_string_equal(config.cpu_template->name, "minimal");
	assert_int_equal(config.log_level, LOG_DEBUG);
	assert_true(config.log_show_level);
	assert_string_equal(config.metrics_path, "/m");
	assert_int_equal(config.serial_mode, SERIAL_MODE_FILE);
	assert_string_equal(config.serial_path, "/s");
	assert_string_equal(config.kvm_path, "/dev/kvm2");
	assert_true(config.virtio_rng);
	assert_int_equal(config.virtio_transport, VIRTIO_TRANSPORT_MMIO);
	assert_int_equal(config.on_reboot, VM_REBOOT_RESTART);

	exported = vm_config_json_export(&config);
	assert_non_null(exported);
	vm_config_release(&again);
	vm_config_set_defaults(&again);
	{
		struct tern_error err;

		assert_int_equal(vm_config_json_apply_document(
					 &again, &storage2, exported, &err),
				 0);
	}
	reexported = vm_config_json_export(&again);
	assert_true(json_equal(exported, reexported));
	json_decref(exported);
	json_decref(reexported);
	vm_config_storage_free(&storage);
	vm_config_release(&config);
	vm_config_storage_free(&storage2);
	vm_config_release(&again);
}

/* tern.firmware: kept, exported beside a null boot source (a firmware VM
 * has no kernel), and the export applies again to the same document. */
static void firmware_round_trips(void **state)
{
	struct vm_config config = {0}, again = {0};
	struct vm_config_storage storage = {0}, storage2 = {0};
	struct tern_error err = {{0}};
	json_t *exported, *reexported;

	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_string_equal(
		apply_doc(&config, &storage,
			  "{\"tern\": {\"firmware\": \"/fw/bios.bin\"}}"),
		"");
	assert_string_equal(config.firmware_path, "/fw/bios.bin");
	assert_int_equal(config_check_bootable(&config, "boot-source", &err),
			 0);
	exported = vm_config_json_export(&config);
	assert_true(json_is_null(json_object_get(exported, "boot-source")));
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(exported, "tern"), "firmware")),
		"/fw/bios.bin");
	vm_config_release(&again);
	vm_config_set_defaults(&again);
	assert_int_equal(vm_config_json_apply_document(&again, &storage2,
						       exported, &err),
			 0);
	reexported = vm_config_json_export(&again);
	assert_true(json_equal(exported, reexported));
	/* A kernel beside it is refused when the VM would start. */
	again.kernel_path = "/k/bzImage";
	assert_int_equal(config_check_bootable(&again, "boot-source", &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "no kernel"));
	json_decref(exported);
	json_decref(reexported);
	vm_config_storage_free(&storage);
	vm_config_release(&config);
	vm_config_storage_free(&storage2);
	vm_config_release(&again);
	expect_refused("{\"tern\": {\"firmware\": 1}}", "tern.firmware");
}

static void defaults_fill_what_the_document_leaves_out(void **state)
{
	struct vm_config config = {0};
	struct vm_config_storage storage = {0};

	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_string_equal(apply_doc(&config, &storage,
				      "{\"boot-source\": "
				      "{\"kernel_image_path\": \"/k\"}}"),
			    "");
	assert_int_equal(config.cpu_count, 1);
	assert_int_equal(config.memory_size, VM_CONFIG_DEFAULT_MEMORY);
	assert_string_equal(config.cmdline, VM_CONFIG_DEFAULT_CMDLINE);
	assert_null(config.initrd_path);
	assert_int_equal(config.serial_mode, SERIAL_MODE_STDIO);
	vm_config_storage_free(&storage);
	vm_config_release(&config);
}

static void unknown_fields_and_sections_are_refused(void **state)
{
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\", "
		       "\"kernel\": \"/x\"}}",
		       "boot-source: unknown field 'kernel'");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"machines\": {}}",
		       "unknown section 'machines'");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"tern\": {\"serial\": \"none\", \"colour\": 1}}",
		       "tern: unknown field 'colour'");
}

static void wrong_types_are_refused(void **state)
{
	expect_refused("{\"boot-source\": {\"kernel_image_path\": 7}}",
		       "boot-source.kernel_image_path: expected a string");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"machine-config\": {\"vcpu_count\": \"2\", "
		       "\"mem_size_mib\": 256}}",
		       "machine-config.vcpu_count: expected an integer");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"machine-config\": {\"vcpu_count\": 2.5, "
		       "\"mem_size_mib\": 256}}",
		       "machine-config.vcpu_count: expected an integer");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"machine-config\": {\"vcpu_count\": 2, "
		       "\"mem_size_mib\": 256, \"smt\": \"no\"}}",
		       "machine-config.smt: expected true or false");
	expect_refused("[1, 2]", "must be a JSON object");
	expect_refused("{\"boot-source\": []}",
		       "boot-source: expected a JSON object");
}

static void out_of_range_values_are_refused(void **state)
{
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"machine-config\": {\"vcpu_count\": 0, "
		       "\"mem_size_mib\": 256}}",
		       "machine-config.vcpu_count 0 is not a positive number");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"machine-config\": {\"vcpu_count\": 65, "
		       "\"mem_size_mib\": 256}}",
		       "is too many");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"machine-config\": {\"vcpu_count\": 1, "
		       "\"mem_size_mib\": 32}}",
		       "machine-config.mem_size_mib 32 is too small");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"machine-config\": {\"vcpu_count\": 1, "
		       "\"mem_size_mib\": 1099511627776}}",
		       "machine-config.mem_size_mib");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"machine-config\": {\"vcpu_count\": 1, "
		       "\"mem_size_mib\": 256, \"cpu_template\": \"V1N1\"}}",
		       "aarch64");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"machine-config\": {\"vcpu_count\": 1, "
		       "\"mem_size_mib\": 256, \"cpu_template\": \"T3\"}}",
		       "machine-config.cpu_template 'T3' is unknown");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"cpu-config\": {\"reg_modifiers\": [{\"addr\": "
		       "\"0x1\", \"bitmap\": \"0b1\"}]}}",
		       "cpu-config.reg_modifiers: ARM");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"cpu-config\": {\"msr_modifiers\": [{\"addr\": "
		       "\"0x10a\", \"bitmap\": \"0b2\"}]}}",
		       "cpu-config.msr_modifiers[0].bitmap '0b2'");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"cpu-config\": \"/nonexistent/cpu.json\"}",
		       "cpu-config file /nonexistent/cpu.json");
	/* A file named in a document: a regular one, and what it holds is
	 * not echoed (ternd's definitions name files too). */
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"cpu-config\": \"/dev/null\"}",
		       "cpu-config file /dev/null is not a regular file");

	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"logger\": {\"level\": \"loud\"}}",
		       "logger.level 'loud'");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"tern\": {\"serial\": \"tcp:1\"}}",
		       "tern.serial 'tcp:1'");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"tern\": {\"virtio_transport\": \"isa\"}}",
		       "tern.virtio_transport 'isa'");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"tern\": {\"on_reboot\": \"reboot\"}}",
		       "tern.on_reboot 'reboot': use exit or restart");
	expect_refused(
		"{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		"\"entropy\": {\"rate_limiter\": {\"ops\": {\"size\": 1, "
		"\"refill_time\": -1}}}}",
		"entropy.rate_limiter.ops.refill_time -1: must not be "
		"negative");
}

static const char *apply_machine(struct vm_config *config,
				 struct vm_config_storage *storage,
				 const char *text, int partial)
{
	static struct tern_error err;
	json_t *body = parse(text);
	int ret;

	memset(&err, 0, sizeof(err));
	ret = vm_config_json_apply_machine(config, storage, body, partial,
					   &err);
	json_decref(body);
	return ret ? err.message : "";
}

/* machine-config.huge_pages: Firecracker's three names, kept and exported;
 * anything else refused by name; a size that is not whole 2 MiB pages
 * refused with any but None, on PUT and on a PATCH of either field. */
static void huge_pages_are_parsed_checked_and_exported(void **state)
{
	static const char *const names[] = {"None", "Transparent", "2M"};
	struct vm_config config = {0};
	struct vm_config_storage storage = {0};

	for (int i = 0; i < 3; i++) {
		char body[128];
		json_t *machine;

		vm_config_release(&config);
		vm_config_set_defaults(&config);
		snprintf(body, sizeof(body),
			 "{\"vcpu_count\": 1, \"mem_size_mib\": 256, "
			 "\"huge_pages\": \"%s\"}",
			 names[i]);
		assert_string_equal(apply_machine(&config, &storage, body, 0),
				    "");
		assert_int_equal(config.huge_pages, i);
		machine = vm_config_json_export_machine(&config);
		assert_string_equal(json_string_value(json_object_get(
					    machine, "huge_pages")),
				    names[i]);
		json_decref(machine);
	}
	/* PUT without the field goes back to None. */
	assert_string_equal(apply_machine(&config, &storage,
					  "{\"vcpu_count\": 1, "
					  "\"mem_size_mib\": 256}",
					  0),
			    "");
	assert_int_equal(config.huge_pages, VM_HUGE_PAGES_NONE);

	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_string_equal(apply_machine(&config, &storage,
					  "{\"vcpu_count\": 1, "
					  "\"mem_size_mib\": 256, "
					  "\"huge_pages\": \"1G\"}",
					  0),
			    "machine-config.huge_pages '1G': expected None, "
			    "Transparent or 2M");
	assert_string_equal(apply_machine(&config, &storage,
					  "{\"vcpu_count\": 1, "
					  "\"mem_size_mib\": 257, "
					  "\"huge_pages\": \"2M\"}",
					  0),
			    "machine-config.mem_size_mib (263168 KiB) must be "
			    "a multiple of 2 MiB with huge_pages 2M");
	/* An odd size is fine without huge pages, and a PATCH that asks
	 * for them then is refused. */
	assert_string_equal(apply_machine(&config, &storage,
					  "{\"vcpu_count\": 1, "
					  "\"mem_size_mib\": 257}",
					  0),
			    "");
	assert_string_not_equal(apply_machine(&config, &storage,
					      "{\"huge_pages\": "
					      "\"Transparent\"}",
					      1),
				"");
	assert_string_equal(
		apply_machine(&config, &storage, "{\"mem_size_mib\": 258}", 1),
		"");
	assert_string_equal(
		apply_machine(&config, &storage, "{\"huge_pages\": \"2M\"}", 1),
		"");
	assert_int_equal(config.huge_pages, VM_HUGE_PAGES_2M);
	assert_string_not_equal(
		apply_machine(&config, &storage, "{\"mem_size_mib\": 259}", 1),
		"");
	vm_config_storage_free(&storage);
	vm_config_release(&config);
}

/* machine-config.kvm_hyperv: off unless asked for, back off on a PUT
 * without it, kept by a PATCH of something else, exported only when on
 * (so a Firecracker client's document is unchanged), a boolean only. */
static void kvm_hyperv_is_opt_in(void **state)
{
	struct vm_config config = {0};
	struct vm_config_storage storage = {0};
	json_t *machine;

	(void)state;
	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_false(config.kvm_hyperv);
	machine = vm_config_json_export_machine(&config);
	assert_null(json_object_get(machine, "kvm_hyperv"));
	json_decref(machine);

	assert_string_equal(apply_machine(&config, &storage,
					  "{\"vcpu_count\": 2, "
					  "\"mem_size_mib\": 256, "
					  "\"kvm_hyperv\": true}",
					  0),
			    "");
	assert_true(config.kvm_hyperv);
	machine = vm_config_json_export_machine(&config);
	assert_true(json_is_true(json_object_get(machine, "kvm_hyperv")));
	json_decref(machine);
	assert_string_equal(
		apply_machine(&config, &storage, "{\"vcpu_count\": 4}", 1), "");
	assert_true(config.kvm_hyperv);

	assert_string_equal(apply_machine(&config, &storage,
					  "{\"vcpu_count\": 2, "
					  "\"mem_size_mib\": 256}",
					  0),
			    "");
	assert_false(config.kvm_hyperv);
	assert_string_equal(
		apply_machine(&config, &storage, "{\"kvm_hyperv\": \"on\"}", 1),
		"machine-config.kvm_hyperv: expected true or false");
	assert_false(config.kvm_hyperv);
	vm_config_storage_free(&storage);
	vm_config_release(&config);
}

/* Firecracker's pmem section: kept in order and exported; the same id
 * twice, two root devices (or a root drive beside a root pmem), more
 * than VM_MAX_PMEM devices and unknown fields refused by name. */
static void pmem_section_is_parsed_checked_and_exported(void **state)
{
	struct vm_config config = {0};
	struct vm_config_storage storage = {0};
	json_t *doc;
	const json_t *list;

	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_string_equal(
		apply_doc(
			&config, &storage,
			"{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
			" \"pmem\": [{\"id\": \"pm0\", \"path_on_host\": "
			"\"/a\", \"root_device\": true, \"read_only\": "
			"true}, {\"id\": \"pm1\", \"path_on_host\": \"/b\"}]}"),
		"");
	assert_int_equal(config.pmem_count, 2);
	assert_string_equal(config.pmems[0].path, "/a");
	assert_true(config.pmems[0].root && config.pmems[0].readonly);
	assert_false(config.pmems[1].root || config.pmems[1].readonly);
	doc = vm_config_json_export(&config);
	list = json_object_get(doc, "pmem");
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 1), "path_on_host")),
			    "/b");
	assert_true(json_is_true(
		json_object_get(json_array_get(list, 0), "read_only")));
	json_decref(doc);
	vm_config_storage_free(&storage);
	vm_config_release(&config);

	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"pmem\": [{\"id\": \"a\", \"path_on_host\": \"/a\"}, "
		       "{\"id\": \"a\", \"path_on_host\": \"/b\"}]}",
		       "pmem 'a' is listed twice");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"pmem\": [{\"id\": \"a\", \"path_on_host\": \"/a\", "
		       "\"root_device\": true}, {\"id\": \"b\", "
		       "\"path_on_host\": \"/b\", \"root_device\": true}]}",
		       "pmem 'b': 'a' is the root device already");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"pmem\": [{\"id\": \"a\", \"path_on_host\": \"\"}]}",
		       "pmem.path_on_host is empty");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"pmem\": [{\"id\": \"a\", \"path_on_host\": \"/a\", "
		       "\"dax\": true}]}",
		       "unknown field 'dax'");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"pmem\": [{\"id\": \"a\", \"path_on_host\": \"/a\"}, "
		       "{\"id\": \"b\", \"path_on_host\": \"/a\"}, "
		       "{\"id\": \"c\", \"path_on_host\": \"/a\"}, "
		       "{\"id\": \"d\", \"path_on_host\": \"/a\"}, "
		       "{\"id\": \"e\", \"path_on_host\": \"/a\"}]}",
		       "pmem: at most 4 devices");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"pmem\": {}}",
		       "pmem: expected a JSON array");
}

static void missing_required_fields_are_refused(void **state)
{
	expect_refused("{\"machine-config\": {\"vcpu_count\": 1, "
		       "\"mem_size_mib\": 256}}",
		       "boot-source: required section is missing");
	expect_refused("{\"boot-source\": {\"boot_args\": \"quiet\"}}",
		       "boot-source.kernel_image_path: required field is "
		       "missing");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"machine-config\": {\"vcpu_count\": 1}}",
		       "machine-config.mem_size_mib: required field is "
		       "missing");
}

/* Firecracker's memory-hotplug section: its size rules, and the export
 * (null without hotpluggable memory) read back the same. */
static void memory_hotplug_is_checked_and_round_trips(void **state)
{
	struct vm_config config = {0};
	struct vm_config_storage storage = {0};
	struct tern_error err;
	json_t *doc, *exported;

	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"memory-hotplug\": {\"total_size_mib\": 1}}",
		       "memory-hotplug: the total size must be at least the "
		       "slot size");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"memory-hotplug\": {\"total_size_mib\": 256, "
		       "\"block_size_mib\": 6}}",
		       "power of 2");
	vm_config_release(&config);
	vm_config_set_defaults(&config);
	doc = json_loads("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
			 "\"memory-hotplug\": null}",
			 0, NULL);
	assert_int_equal(
		vm_config_json_apply_document(&config, &storage, doc, &err), 0);
	json_decref(doc);
	assert_int_equal(config.memory_hotplug.total_bytes, 0);
	exported = vm_config_json_export(&config);
	assert_true(json_is_null(json_object_get(exported, "memory-hotplug")));
	json_decref(exported);
	doc = json_loads("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
			 "\"memory-hotplug\": {\"total_size_mib\": 1024, "
			 "\"slot_size_mib\": 256}}",
			 0, NULL);
	assert_int_equal(
		vm_config_json_apply_document(&config, &storage, doc, &err), 0);
	json_decref(doc);
	assert_int_equal(config.memory_hotplug.total_bytes, 1ULL << 30);
	assert_int_equal(config.memory_hotplug.slot_bytes, 256ULL << 20);
	assert_int_equal(config.memory_hotplug.block_bytes, 2ULL << 20);
	exported = vm_config_json_export(&config);
	doc = json_object_get(exported, "memory-hotplug");
	assert_int_equal(
		json_integer_value(json_object_get(doc, "total_size_mib")),
		1024);
	assert_int_equal(
		json_integer_value(json_object_get(doc, "slot_size_mib")), 256);
	assert_int_equal(
		json_integer_value(json_object_get(doc, "block_size_mib")), 2);
	json_decref(exported);
	vm_config_storage_free(&storage);
	vm_config_release(&config);
}

static void balloon_round_trips(void **state)
{
	struct vm_config config = {0}, again = {0};
	struct vm_config_storage storage = {0}, storage2 = {0};
	struct tern_error err;
	json_t *exported, *reexported;

	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_string_equal(
		apply_doc(&config, &storage,
			  "{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
			  " \"balloon\": {\"amount_mib\": 64, "
			  "\"deflate_on_oom\": true, "
			  "\"stats_polling_interval_s\": 5, "
			  "\"free_page_reporting\": true, "
			  "\"free_page_hinting\": true}}"),
		"");
	assert_true(config.balloon.enabled);
	assert_true(config.balloon.free_page_hinting);
	assert_int_equal(config.balloon.target_bytes, 64ULL << 20);
	assert_true(config.balloon.deflate_on_oom);
	assert_int_equal(config.balloon.stats_interval_s, 5);
	assert_true(config.balloon.free_page_reporting);
	exported = vm_config_json_export(&config);
	assert_non_null(exported);
	assert_int_equal(
		json_integer_value(json_object_get(
			json_object_get(exported, "balloon"), "amount_mib")),
		64);
	assert_true(json_is_true(json_object_get(
		json_object_get(exported, "balloon"), "free_page_hinting")));
	vm_config_release(&again);
	vm_config_set_defaults(&again);
	assert_int_equal(vm_config_json_apply_document(&again, &storage2,
						       exported, &err),
			 0);
	reexported = vm_config_json_export(&again);
	assert_true(json_equal(exported, reexported));
	json_decref(exported);
	json_decref(reexported);

	/* null: no balloon, and it exports as null. */
	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_string_equal(apply_doc(&config, &storage,
				      "{\"boot-source\": "
				      "{\"kernel_image_path\": \"/k\"}, "
				      "\"balloon\": null}"),
			    "");
	assert_false(config.balloon.enabled);
	exported = vm_config_json_export(&config);
	assert_true(json_is_null(json_object_get(exported, "balloon")));
	json_decref(exported);
	vm_config_storage_free(&storage);
	vm_config_release(&config);
	vm_config_storage_free(&storage2);
	vm_config_release(&again);
}

static void bad_balloon_is_refused(void **state)
{
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"balloon\": {\"amount_mib\": 0}}",
		       "balloon.deflate_on_oom: required field is missing");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"balloon\": {\"amount_mib\": -1, "
		       "\"deflate_on_oom\": false}}",
		       "balloon.amount_mib");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"balloon\": {\"amount_mib\": \"1\", "
		       "\"deflate_on_oom\": false}}",
		       "balloon.amount_mib: expected an integer");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"balloon\": {\"amount_mib\": 1, "
		       "\"deflate_on_oom\": false, \"size\": 1}}",
		       "balloon: unknown field 'size'");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"balloon\": {\"amount_mib\": 1, "
		       "\"deflate_on_oom\": false, "
		       "\"stats_polling_interval_s\": 86401}}",
		       "balloon.stats_polling_interval_s '86401'");
	expect_refused("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		       "\"balloon\": {\"amount_mib\": 1, "
		       "\"deflate_on_oom\": false, "
		       "\"free_page_hinting\": 1}}",
		       "balloon.free_page_hinting");
	/* Checked against the RAM whatever the order of the sections. */
	expect_refused("{\"balloon\": {\"amount_mib\": 128, "
		       "\"deflate_on_oom\": false}, \"boot-source\": "
		       "{\"kernel_image_path\": \"/k\"}, "
		       "\"machine-config\": {\"vcpu_count\": 1, "
		       "\"mem_size_mib\": 128}}",
		       "balloon.amount_mib (128 MiB) must be less than "
		       "machine-config.mem_size_mib (128 MiB)");
}

static void network_interfaces_round_trip(void **state)
{
	struct vm_config config = {0}, again = {0};
	struct vm_config_storage storage = {0}, storage2 = {0};
	struct tern_error err;
	json_t *exported, *reexported, *list, *put;

	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_string_equal(
		apply_doc(&config, &storage,
			  "{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
			  " \"network-interfaces\": [{\"iface_id\": \"eth0\", "
			  "\"host_dev_name\": \"tap0\", \"guest_mac\": "
			  "\"52:54:00:12:34:56\"}, {\"iface_id\": \"eth1\", "
			  "\"host_dev_name\": \"tap1\"}]}"),
		"");
	assert_int_equal(config.net_count, 2);
	assert_string_equal(config.nets[0].id, "eth0");
	assert_string_equal(config.nets[0].tap_name, "tap0");
	assert_true(config.nets[0].mac_given);
	assert_int_equal(config.nets[0].mac[5], 0x56);
	/* No guest_mac: derived from the tap name, as --net does. */
	assert_false(config.nets[1].mac_given);
	assert_int_equal(config.nets[1].mac[0], 0x52);
	exported = vm_config_json_export(&config);
	list = json_object_get(exported, "network-interfaces");
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 0), "guest_mac")),
			    "52:54:00:12:34:56");
	vm_config_release(&again);
	vm_config_set_defaults(&again);
	assert_int_equal(vm_config_json_apply_document(&again, &storage2,
						       exported, &err),
			 0);
	reexported = vm_config_json_export(&again);
	assert_true(json_equal(exported, reexported));
	json_decref(exported);
	json_decref(reexported);
	/* PUT of a known iface_id replaces it. */
	put = parse("{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap9\"}");
	assert_int_equal(vm_config_json_apply_net(&again, &storage2, put, &err),
			 0);
	json_decref(put);
	assert_int_equal(again.net_count, 2);
	assert_string_equal(again.nets[1].tap_name, "tap9");
	vm_config_storage_free(&storage);
	vm_config_release(&config);
	vm_config_storage_free(&storage2);
	vm_config_release(&again);
}

static void bad_network_interfaces_are_refused(void **state)
{
	const char *head = "{\"boot-source\": {\"kernel_image_path\": "
			   "\"/k\"}, \"network-interfaces\": ";
	char text[512];

	snprintf(text, sizeof(text), "%s[{\"iface_id\": \"eth0\"}]}", head);
	expect_refused(text, "network-interfaces.host_dev_name: required");
	snprintf(text, sizeof(text),
		 "%s[{\"iface_id\": \"eth0\", \"host_dev_name\": "
		 "\"tap0\", \"guest_mac\": \"01:00:5e:00:00:01\"}]}",
		 head);
	expect_refused(text,
		       "network-interfaces.guest_mac '01:00:5e:00:00:01' "
		       "is not a unicast MAC");
	snprintf(text, sizeof(text),
		 "%s[{\"iface_id\": \"eth0\", \"host_dev_name\": "
		 "\"a-name-longer-than-15\"}]}",
		 head);
	expect_refused(text, "network-interfaces.host_dev_name: ");
	snprintf(text, sizeof(text),
		 "%s[{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\","
		 " \"tx_rate_limiter\": {\"bandwidth\": {\"size\": 100, "
		 "\"refill_time\": 10, \"burst\": 1}}}]}",
		 head);
	expect_refused(text, "network-interfaces.tx_rate_limiter.bandwidth");
	snprintf(text, sizeof(text),
		 "%s[{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"},"
		 " {\"iface_id\": \"eth1\", \"host_dev_name\": \"tap0\"}]}",
		 head);
	expect_refused(text, "tap tap0 named twice");
	snprintf(text, sizeof(text),
		 "%s[{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"},"
		 " {\"iface_id\": \"eth0\", \"host_dev_name\": \"tap1\"}]}",
		 head);
	expect_refused(text, "two interfaces have the id 'eth0'");
	snprintf(text, sizeof(text), "%s{}}", head);
	expect_refused(text, "network-interfaces: expected a JSON array");
}

static void vsock_round_trips(void **state)
{
	struct vm_config config = {0}, again = {0};
	struct vm_config_storage storage = {0}, storage2 = {0};
	struct tern_error err;
	json_t *exported, *reexported, *vsock;

	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_string_equal(
		apply_doc(&config, &storage,
			  "{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
			  " \"vsock\": {\"guest_cid\": 4294967294, "
			  "\"uds_path\": \"/run/v.sock\", \"vsock_id\": "
			  "\"vsock0\"}}"),
		"");
	assert_int_equal(config.vsock_cid, 4294967294ULL);
	assert_string_equal(config.vsock_socket_path, "/run/v.sock");
	exported = vm_config_json_export(&config);
	vsock = json_object_get(exported, "vsock");
	assert_int_equal(
		json_integer_value(json_object_get(vsock, "guest_cid")),
		4294967294LL);
	assert_string_equal(
		json_string_value(json_object_get(vsock, "uds_path")),
		"/run/v.sock");
	vm_config_release(&again);
	vm_config_set_defaults(&again);
	assert_int_equal(vm_config_json_apply_document(&again, &storage2,
						       exported, &err),
			 0);
	reexported = vm_config_json_export(&again);
	assert_true(json_equal(exported, reexported));
	json_decref(exported);
	json_decref(reexported);
	vm_config_release(&config);
	vm_config_set_defaults(&config);
	exported = vm_config_json_export(&config);
	assert_true(json_is_null(json_object_get(exported, "vsock")));
	json_decref(exported);
	vm_config_storage_free(&storage);
	vm_config_release(&config);
	vm_config_storage_free(&storage2);
	vm_config_release(&again);
}

static void bad_vsock_is_refused(void **state)
{
	const char *head = "{\"boot-source\": {\"kernel_image_path\": "
			   "\"/k\"}, \"vsock\": ";
	char text[512];

	snprintf(text, sizeof(text), "%s{\"guest_cid\": 3}}", head);
	expect_refused(text, "vsock.uds_path: required field is missing");
	snprintf(text, sizeof(text),
		 "%s{\"guest_cid\": 2, \"uds_path\": \"/v\"}}", head);
	expect_refused(text, "vsock.guest_cid 2: use 3 to 4294967294");
	snprintf(text, sizeof(text),
		 "%s{\"guest_cid\": 4294967295, \"uds_path\": \"/v\"}}", head);
	expect_refused(text, "vsock.guest_cid 4294967295");
	snprintf(text, sizeof(text),
		 "%s{\"guest_cid\": -5, \"uds_path\": \"/v\"}}", head);
	expect_refused(text, "vsock.guest_cid");
	snprintf(text, sizeof(text),
		 "%s{\"guest_cid\": 3, \"uds_path\": \"\"}}", head);
	expect_refused(text, "vsock.uds_path needs a path");
	snprintf(text, sizeof(text),
		 "%s{\"guest_cid\": 3, \"uds_path\": \"/%0100d\"}}", head, 0);
	expect_refused(text, "vsock.uds_path is longer than 96 bytes");
	snprintf(text, sizeof(text),
		 "%s{\"guest_cid\": 3, \"uds_path\": \"/v\", \"port\": "
		 "1}}",
		 head);
	expect_refused(text, "vsock: unknown field 'port'");
}

/* Two image files for the drive tests (a drive's file must exist). */
static char image_a[64], image_b[64];

/* Limiters on an interface (rx and tx) and the entropy device come back
 * in GET /vm/config's shape; Kata's empty ones are shown as absent. */
static void rate_limiters_round_trip(void **state)
{
	struct vm_config config = {0}, again = {0};
	struct vm_config_storage storage = {0}, storage2 = {0};
	struct tern_error err;
	json_t *exported, *reexported, *net;

	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_string_equal(
		apply_doc(&config, &storage,
			  "{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
			  " \"network-interfaces\": [{\"iface_id\": \"eth0\", "
			  "\"host_dev_name\": \"tap0\", \"rx_rate_limiter\": "
			  "{}, \"tx_rate_limiter\": {\"bandwidth\": {\"size\": "
			  "1048576, \"refill_time\": 1000}}}], \"entropy\": "
			  "{\"rate_limiter\": {\"ops\": {\"size\": 10, "
			  "\"one_time_burst\": 5, \"refill_time\": 100}}}}"),
		"");
	assert_false(
		rate_limiter_config_limits(&config.nets[0].rx_rate_limiter));
	assert_int_equal(config.nets[0].tx_rate_limiter.bandwidth.size,
			 1048576);
	assert_int_equal(config.rng_rate_limiter.ops.one_time_burst, 5);
	exported = vm_config_json_export(&config);
	net = json_array_get(json_object_get(exported, "network-interfaces"),
			     0);
	assert_null(json_object_get(net, "rx_rate_limiter"));
	assert_int_equal(
		json_integer_value(json_object_get(
			json_object_get(json_object_get(net, "tx_rate_limiter"),
					"bandwidth"),
			"refill_time")),
		1000);
	vm_config_release(&again);
	vm_config_set_defaults(&again);
	assert_int_equal(vm_config_json_apply_document(&again, &storage2,
						       exported, &err),
			 0);
	reexported = vm_config_json_export(&again);
	assert_true(json_equal(exported, reexported));
	json_decref(exported);
	json_decref(reexported);
	vm_config_storage_free(&storage);
	vm_config_release(&config);
	vm_config_storage_free(&storage2);
	vm_config_release(&again);
}

static void make_images(void)
{
	int fd;

	snprintf(image_a, sizeof(image_a), "/tmp/tern-cfg-a-XXXXXX");
	snprintf(image_b, sizeof(image_b), "/tmp/tern-cfg-b-XXXXXX");
	fd = mkstemp(image_a);
	assert_true(fd >= 0);
	close(fd);
	fd = mkstemp(image_b);
	assert_true(fd >= 0);
	close(fd);
}

static void drives_round_trip(void **state)
{
	struct vm_config config = {0}, again = {0};
	struct vm_config_storage storage = {0}, storage2 = {0};
	struct tern_error err;
	json_t *exported, *reexported, *put;
	char text[1024];

	make_images();
	vm_config_release(&config);
	vm_config_set_defaults(&config);
	snprintf(text, sizeof(text),
		 "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		 "\"drives\": [{\"drive_id\": \"data\", \"path_on_host\": "
		 "\"%s\", \"is_root_device\": false, \"is_read_only\": true, "
		 "\"cache_type\": \"None\", \"io_engine\": \"Sync\"}, "
		 "{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", "
		 "\"is_root_device\": true, \"cache_type\": \"Writeback\"}]}",
		 image_a, image_b);
	assert_string_equal(apply_doc(&config, &storage, text), "");
	assert_int_equal(config.disk_count, 2);
	assert_string_equal(config.disks[0].id, "data");
	assert_string_equal(config.disks[0].path, image_a);
	assert_true(config.disks[0].readonly);
	assert_false(config.disks[0].root);
	assert_int_equal(config.disks[0].cache, BLOCK_CACHE_NONE);
	assert_int_equal(config.disks[0].engine, BLOCK_ENGINE_THREADS);
	assert_true(config.disks[1].root);
	assert_false(config.disks[1].readonly);
	assert_int_equal(config.disks[1].cache, BLOCK_CACHE_WRITEBACK);
	assert_int_equal(config.disks[1].engine, BLOCK_ENGINE_AUTO);

	exported = vm_config_json_export(&config);
	assert_non_null(exported);
	vm_config_release(&again);
	vm_config_set_defaults(&again);
	assert_int_equal(vm_config_json_apply_document(&again, &storage2,
						       exported, &err),
			 0);
	reexported = vm_config_json_export(&again);
	assert_true(json_equal(exported, reexported));
	json_decref(reexported);

	/* PUT of a known drive_id replaces that drive in place. */
	snprintf(text, sizeof(text),
		 "{\"drive_id\": \"data\", \"path_on_host\": \"%s\", "
		 "\"is_root_device\": false, \"io_engine\": \"Async\"}",
		 image_a);
	put = parse(text);
	assert_int_equal(
		vm_config_json_apply_drive(&again, &storage2, put, &err), 0);
	json_decref(put);
	assert_int_equal(again.disk_count, 2);
	assert_false(again.disks[0].readonly);
	assert_int_equal(again.disks[0].engine, BLOCK_ENGINE_IO_URING);
	json_decref(exported);
	vm_config_storage_free(&storage);
	vm_config_release(&config);
	vm_config_storage_free(&storage2);
	vm_config_release(&again);
	unlink(image_a);
	unlink(image_b);
}

/* A drive's or pmem device's path is at most PATH_MAX - 1 bytes, refused
 * by name when longer; a refused PUT /drives leaves the drive as it was
 * (the configuration owns its paths: vm_config.h). */
static void paths_are_bounded_and_kept_on_refusal(void **state)
{
	static const char *const fmt[] = {
		"{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		"\"drives\": [{\"drive_id\": \"d\", \"path_on_host\": "
		"\"/%s\", \"is_root_device\": false, \"is_read_only\": "
		"false}]}",
		"{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		"\"pmem\": [{\"id\": \"p\", \"path_on_host\": \"/%s\"}]}"};
	static const char *const words[] = {
		"drives.path_on_host is longer than 4095 bytes",
		"pmem.path_on_host is longer than 4095 bytes"};
	struct vm_config config = {0};
	struct vm_config_storage storage = {0};
	struct tern_error err;
	char *name = malloc(PATH_MAX + 1);
	char *text = malloc(PATH_MAX + 512);
	char small[512];
	json_t *put;

	assert_non_null(name);
	assert_non_null(text);
	memset(name, 'a', PATH_MAX);
	name[PATH_MAX] = '\0';
	for (int i = 0; i < 2; i++) {
		snprintf(text, PATH_MAX + 512, fmt[i], name);
		expect_refused(text, words[i]);
	}

	make_images();
	vm_config_set_defaults(&config);
	snprintf(small, sizeof(small),
		 "{\"drive_id\": \"d\", \"path_on_host\": \"%s\", "
		 "\"is_root_device\": false, \"is_read_only\": false}",
		 image_a);
	put = parse(small);
	assert_int_equal(
		vm_config_json_apply_drive(&config, &storage, put, &err), 0);
	json_decref(put);
	snprintf(small, sizeof(small),
		 "{\"drive_id\": \"d\", \"path_on_host\": "
		 "\"/nonexistent/x\", \"is_root_device\": false, "
		 "\"is_read_only\": true}");
	put = parse(small);
	assert_int_equal(
		vm_config_json_apply_drive(&config, &storage, put, &err),
		-EINVAL);
	json_decref(put);
	assert_int_equal(config.disk_count, 1);
	assert_string_equal(config.disks[0].path, image_a);
	assert_false(config.disks[0].readonly);
	vm_config_release(&config);
	vm_config_storage_free(&storage);
	unlink(image_a);
	unlink(image_b);
	free(name);
	free(text);
}

static void bad_drives_are_refused(void **state)
{
	char text[1024];
	const char *head = "{\"boot-source\": {\"kernel_image_path\": "
			   "\"/k\"}, \"drives\": ";

	make_images();
	snprintf(text, sizeof(text), "%s{}}", head);
	expect_refused(text, "drives: expected a JSON array");
	snprintf(text, sizeof(text),
		 "%s[{\"drive_id\": \"d\", \"is_root_device\": false}]}", head);
	expect_refused(text, "drives.path_on_host: required field is missing");
	snprintf(text, sizeof(text),
		 "%s[{\"drive_id\": \"d\", \"path_on_host\": "
		 "\"/nonexistent/x\", \"is_root_device\": false}]}",
		 head);
	expect_refused(text, "No such file");
	snprintf(text, sizeof(text),
		 "%s[{\"drive_id\": \"d\", \"path_on_host\": \"%s\", "
		 "\"is_root_device\": false, \"cache_type\": \"Fast\"}]}",
		 head, image_a);
	expect_refused(text, "drives.cache_type is Unsafe, Writeback or None");
	snprintf(text, sizeof(text),
		 "%s[{\"drive_id\": \"d\", \"path_on_host\": \"%s\", "
		 "\"is_root_device\": false, \"io_engine\": \"aio\"}]}",
		 head, image_a);
	expect_refused(text, "drives.io_engine is io_uring or threads");
	snprintf(text, sizeof(text),
		 "%s[{\"drive_id\": \"abcdefghijklmnopqrstu\", "
		 "\"path_on_host\": \"%s\", \"is_root_device\": false}]}",
		 head, image_a);
	expect_refused(text, "drives.drive_id must be 1 to 20 characters");
	snprintf(text, sizeof(text),
		 "%s[{\"drive_id\": \"d\", \"path_on_host\": \"%s\", "
		 "\"is_root_device\": false, \"rate_limiter\": {\"ops\": "
		 "{\"size\": 5}}}]}",
		 head, image_a);
	expect_refused(text, "drives.rate_limiter.ops");
	snprintf(text, sizeof(text),
		 "%s[{\"drive_id\": \"d\", \"path_on_host\": \"%s\", "
		 "\"is_root_device\": true}, {\"drive_id\": \"e\", "
		 "\"path_on_host\": \"%s\", \"is_root_device\": true}]}",
		 head, image_a, image_b);
	expect_refused(text, "both the root device");
	snprintf(text, sizeof(text),
		 "%s[{\"drive_id\": \"d\", \"path_on_host\": \"%s\", "
		 "\"is_root_device\": false}, {\"drive_id\": \"d\", "
		 "\"path_on_host\": \"%s\", \"is_root_device\": false}]}",
		 head, image_a, image_b);
	expect_refused(text, "two disks have the id 'd'");
	snprintf(text, sizeof(text),
		 "%s[{\"drive_id\": \"d\", \"path_on_host\": \"%s\", "
		 "\"is_root_device\": false}, {\"drive_id\": \"e\", "
		 "\"path_on_host\": \"%s\", \"is_root_device\": false}]}",
		 head, image_a, image_a);
	expect_refused(text, "is given twice");
	unlink(image_a);
	unlink(image_b);
}

static void a_refused_update_changes_nothing(void **state)
{
	struct vm_config config = {0};
	struct vm_config_storage storage = {0};
	struct tern_error err;
	json_t *good = parse("{\"vcpu_count\": 2, \"mem_size_mib\": 128}");
	json_t *bad = parse("{\"vcpu_count\": 4, \"mem_size_mib\": 1}");
	json_t *patch = parse("{\"vcpu_count\": 3}");
	/* PUT /boot-source opens the kernel: it must exist. */
	char kernel[] = "/tmp/tern-kernel-XXXXXX";
	int fd = mkstemp(kernel);
	json_t *boot, *bad_boot;

	assert_true(fd >= 0);
	close(fd);
	boot = json_pack("{s:s, s:s}", "kernel_image_path", kernel, "boot_args",
			 "a");
	bad_boot = json_pack("{s:s, s:i}", "kernel_image_path", kernel,
			     "boot_args", 5);

	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_int_equal(
		vm_config_json_apply_machine(&config, &storage, good, 0, &err),
		0);
	assert_int_not_equal(
		vm_config_json_apply_machine(&config, &storage, bad, 0, &err),
		0);
	assert_int_equal(config.cpu_count, 2);
	assert_int_equal(config.memory_size, 128ULL << 20);
	assert_int_equal(
		vm_config_json_apply_machine(&config, &storage, patch, 1, &err),
		0);
	assert_int_equal(config.cpu_count, 3);
	assert_int_equal(config.memory_size, 128ULL << 20);

	assert_int_equal(
		vm_config_json_apply_boot_source(&config, &storage, boot, &err),
		0);
	assert_int_not_equal(vm_config_json_apply_boot_source(&config, &storage,
							      bad_boot, &err),
			     0);
	assert_string_equal(config.kernel_path, kernel);
	unlink(kernel);
	assert_string_equal(config.cmdline, "a");
	json_decref(good);
	json_decref(bad);
	json_decref(patch);
	json_decref(boot);
	json_decref(bad_boot);
	vm_config_storage_free(&storage);
	vm_config_release(&config);
}

static void config_file_errors_name_the_file_and_position(void **state)
{
	char path[] = "/tmp/tern-config-XXXXXX";
	int fd = mkstemp(path);
	struct vm_config config = {0};
	struct vm_config_storage storage = {0};
	struct tern_error err;
	const char *text = "{\"boot-source\": {\"kernel_image_path\": \"/k\"\n"
			   "  \"machine-config\": {}}";

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_int_not_equal(
		vm_config_json_load_file(&config, &storage, path, &err), 0);
	assert_non_null(strstr(err.message, path));
	assert_non_null(strstr(err.message, "line 2"));
	unlink(path);
	assert_int_not_equal(
		vm_config_json_load_file(&config, &storage, path, &err), 0);
	assert_non_null(strstr(err.message, "No such file"));
	vm_config_storage_free(&storage);
	vm_config_release(&config);
}

#define CPU_CONFIG                                                             \
	"{\"kvm_capabilities\": [\"!56\"], \"cpuid_modifiers\": [{\"leaf\": "  \
	"\"0x1\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": "         \
	"[{\"register\": \"ecx\", \"bitmap\": \"0b0xxxxxxxx\"}]}]}"

/* Firecracker's static templates are tern templates; the custom one lives
 * beside whichever template it applies on top of, the last set winning as
 * in Firecracker, and both go through the exported document. */
static void cpu_templates_static_and_custom(void **state)
{
	struct vm_config config = {0}, again = {0};
	struct vm_config_storage storage = {0}, storage2 = {0};
	struct tern_error err;
	json_t *exported, *cpu;

	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_string_equal(
		apply_doc(&config, &storage,
			  "{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
			  " \"machine-config\": {\"vcpu_count\": 2, "
			  "\"mem_size_mib\": 256, \"cpu_template\": \"T2A\", "
			  "\"smt\": true}}"),
		"");
	assert_string_equal(config.cpu_template->name, "T2A");
	assert_true(config.smt);
	assert_null(config.cpu_custom);

	/* PUT /cpu-config: the custom template replaces T2A. */
	cpu = parse(CPU_CONFIG);
	assert_int_equal(
		vm_config_json_apply_cpu_config(&config, &storage, cpu, &err),
		0);
	json_decref(cpu);
	assert_string_equal(config.cpu_template->name, "host");
	assert_non_null(config.cpu_custom);
	assert_int_equal(config.cpu_custom->mods.cpuid_count, 1);
	assert_int_equal(config.cpu_custom->mods.cpuid[0].mask, 0x100);

	/* A PUT /machine-config without cpu_template keeps it. */
	cpu = parse("{\"vcpu_count\": 2, \"mem_size_mib\": 128}");
	assert_int_equal(
		vm_config_json_apply_machine(&config, &storage, cpu, 0, &err),
		0);
	json_decref(cpu);
	assert_non_null(config.cpu_custom);

	/* The document carries it and applies again to the same VM. */
	exported = vm_config_json_export(&config);
	assert_non_null(json_object_get(exported, "cpu-config"));
	vm_config_release(&again);
	vm_config_set_defaults(&again);
	assert_int_equal(vm_config_json_apply_document(&again, &storage2,
						       exported, &err),
			 0);
	assert_non_null(again.cpu_custom);
	assert_memory_equal(again.cpu_custom->cpuid, config.cpu_custom->cpuid,
			    sizeof(struct cpuid_modifier));
	assert_int_equal(again.cpu_custom->mods.caps[0].cap, 56);
	json_decref(exported);

	/* tern's "template" under it: the modifiers on top of minimal, and
	 * the export keeps that. */
	cpu = parse("{\"template\": \"minimal\", \"cpuid_modifiers\": []}");
	assert_int_equal(
		vm_config_json_apply_cpu_config(&config, &storage, cpu, &err),
		0);
	json_decref(cpu);
	assert_string_equal(config.cpu_template->name, "minimal");
	assert_null(config.cpu_custom);

	/* A static template set later replaces the custom one. */
	cpu = parse(CPU_CONFIG);
	assert_int_equal(
		vm_config_json_apply_cpu_config(&config, &storage, cpu, &err),
		0);
	json_decref(cpu);
	cpu = parse("{\"cpu_template\": \"C3\"}");
	assert_int_equal(
		vm_config_json_apply_machine(&config, &storage, cpu, 1, &err),
		0);
	json_decref(cpu);
	assert_string_equal(config.cpu_template->name, "C3");
	assert_null(config.cpu_custom);
	vm_config_storage_free(&storage);
	vm_config_release(&config);
	vm_config_storage_free(&storage2);
	vm_config_release(&again);
}

/* A cpu-config file that is not JSON: where, never what it holds. */
static void cpu_config_file_contents_are_not_echoed(void **state)
{
	char path[] = "/tmp/tern-cpu-config-XXXXXX";
	int fd = mkstemp(path);
	struct vm_config config = {0};
	struct vm_config_storage storage = {0};
	const char *message;
	char doc[256];

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "secret-word\n", 12), 12);
	close(fd);
	snprintf(doc, sizeof(doc),
		 "{\"cpu-config\": \"%s\", \"boot-source\": "
		 "{\"kernel_image_path\": \"/k\"}}",
		 path);
	vm_config_release(&config);
	vm_config_set_defaults(&config);
	message = apply_doc(&config, &storage, doc);
	assert_non_null(strstr(message, "is not valid JSON (line 1 column"));
	assert_null(strstr(message, "secret"));
	unlink(path);
	vm_config_storage_free(&storage);
	vm_config_release(&config);
}

/* Firecracker's config file may name a file holding the cpu-config. */
static void cpu_config_from_a_file(void **state)
{
	char path[] = "/tmp/tern-cpu-config-XXXXXX";
	int fd = mkstemp(path);
	struct vm_config config = {0};
	struct vm_config_storage storage = {0};
	char doc[256];

	assert_true(fd >= 0);
	assert_int_equal(write(fd, CPU_CONFIG, strlen(CPU_CONFIG)),
			 (ssize_t)strlen(CPU_CONFIG));
	close(fd);
	snprintf(doc, sizeof(doc),
		 "{\"cpu-config\": \"%s\", \"boot-source\": "
		 "{\"kernel_image_path\": \"/k\"}}",
		 path);
	vm_config_release(&config);
	vm_config_set_defaults(&config);
	assert_string_equal(apply_doc(&config, &storage, doc), "");
	assert_non_null(config.cpu_custom);
	assert_int_equal(config.cpu_custom->mods.cap_count, 1);
	unlink(path);
	vm_config_storage_free(&storage);
	vm_config_release(&config);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_document_round_trips),
		cmocka_unit_test(cpu_templates_static_and_custom),
		cmocka_unit_test(cpu_config_from_a_file),
		cmocka_unit_test(cpu_config_file_contents_are_not_echoed),
		cmocka_unit_test(firmware_round_trips),
		cmocka_unit_test(kvm_hyperv_is_opt_in),
		cmocka_unit_test(huge_pages_are_parsed_checked_and_exported),
		cmocka_unit_test(pmem_section_is_parsed_checked_and_exported),
		cmocka_unit_test(defaults_fill_what_the_document_leaves_out),
		cmocka_unit_test(unknown_fields_and_sections_are_refused),
		cmocka_unit_test(wrong_types_are_refused),
		cmocka_unit_test(out_of_range_values_are_refused),
		cmocka_unit_test(missing_required_fields_are_refused),
		cmocka_unit_test(memory_hotplug_is_checked_and_round_trips),
		cmocka_unit_test(balloon_round_trips),
		cmocka_unit_test(drives_round_trip),
		cmocka_unit_test(vsock_round_trips),
		cmocka_unit_test(network_interfaces_round_trip),
		cmocka_unit_test(rate_limiters_round_trip),
		cmocka_unit_test(bad_network_interfaces_are_refused),
		cmocka_unit_test(bad_vsock_is_refused),
		cmocka_unit_test(bad_drives_are_refused),
		cmocka_unit_test(paths_are_bounded_and_kept_on_refusal),
		cmocka_unit_test(bad_balloon_is_refused),
		cmocka_unit_test(a_refused_update_changes_nothing),
		cmocka_unit_test(config_file_errors_name_the_file_and_position),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
