/* The configuration in a snapshot (section vm.config): a round trip, host
 * paths that may differ, every mismatch that matters refused by name, and a
 * missing or hostile section refused with a message (never a crash: this
 * runs under ASan/UBSan too). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_check.h"
#include "snapshot/config_state.h"
#include "snapshot/snapshot_sections.h"

static void full_config(struct vm_config *c)
{
	vm_config_set_defaults(c);
	c->cpu_count = 2;
	c->memory_size = 512ull << 20;
	c->huge_pages = VM_HUGE_PAGES_2M;
	c->kernel_path = "/boot/vmlinuz";
	c->cmdline = "console=ttyS0 pci=off";
	c->virtio_transport = VIRTIO_TRANSPORT_AUTO;
	c->disk_count = 2;
	snprintf(c->disks[0].id, sizeof(c->disks[0].id), "rootfs");
	c->disks[0].path = strdup("/img/root.ext4");
	c->disks[0].root = 1;
	c->disks[0].readonly = 1;
	snprintf(c->disks[1].id, sizeof(c->disks[1].id), "data");
	c->disks[1].path = strdup("/img/data");
	c->net_count = 1;
	snprintf(c->nets[0].id, sizeof(c->nets[0].id), "eth0");
	snprintf(c->nets[0].tap_name, sizeof(c->nets[0].tap_name), "tap0");
	memcpy(c->nets[0].mac, "\x52\x54\x00\x01\x02\x03", 6);
	c->vsock_cid = 3;
	snprintf(c->vsock_socket_path, sizeof(c->vsock_socket_path),
		 "/run/v.sock");
	c->balloon.enabled = 1;
	c->balloon.target_bytes = 64ull << 20;
	c->balloon.deflate_on_oom = 1;
	c->balloon.stats_interval_s = 5;
	c->virtio_rng = 1;
	c->pmem_count = 1;
	snprintf(c->pmems[0].id, sizeof(c->pmems[0].id), "pm0");
	c->pmems[0].path = strdup("/img/pm");
	c->pmems[0].readonly = 1;
}

/* A state file holding only this section (text, len), parsed. */
static int parse_section(const void *text, size_t len,
			 struct snapshot_config *out, struct tern_error *err)
{
	struct state_file sf;
	int ret;

	state_file_init(&sf);
	assert_int_equal(state_file_add(&sf, SNAP_VM_CONFIG, "vm.config", text,
					len, err),
			 0);
	ret = config_state_parse(&sf, out, err);
	state_file_free(&sf);
	return ret;
}

static void saved(const struct vm_config *c, struct snapshot_config *out)
{
	struct state_file sf;
	struct tern_error err = {{0}};

	state_file_init(&sf);
	assert_int_equal(config_state_save(c, &sf, &err), 0);
	if (config_state_parse(&sf, out, &err))
		fail_msg("parse: %s", err.message);
	state_file_free(&sf);
}

static void round_trip(void **state)
{
	struct vm_config c;
	struct snapshot_config snap;
	struct tern_error err = {{0}};

	full_config(&c);
	saved(&c, &snap);
	assert_int_equal(snap.config.cpu_count, 2);
	assert_int_equal(snap.config.memory_size, 512ull << 20);
	assert_int_equal(snap.config.huge_pages, VM_HUGE_PAGES_2M);
	assert_int_equal(snap.config.pmem_count, 1);
	assert_string_equal(snap.config.pmems[0].path, "/img/pm");
	assert_true(snap.config.pmems[0].readonly);
	assert_string_equal(snap.config.kernel_path, "/boot/vmlinuz");
	assert_string_equal(snap.config.cmdline, "console=ttyS0 pci=off");
	assert_int_equal(snap.transport, VIRTIO_TRANSPORT_MMIO);
	assert_int_equal(snap.config.disk_count, 2);
	assert_string_equal(snap.config.disks[1].id, "data");
	assert_string_equal(snap.config.disks[0].path, "/img/root.ext4");
	assert_true(snap.config.disks[0].readonly && snap.config.disks[0].root);
	assert_int_equal(snap.config.net_count, 1);
	assert_memory_equal(snap.config.nets[0].mac, c.nets[0].mac, 6);
	assert_int_equal(snap.config.vsock_cid, 3);
	assert_true(snap.config.balloon.enabled);
	assert_int_equal(snap.config.balloon.stats_interval_s, 5);
	assert_true(snap.config.virtio_rng);
	assert_int_equal(
		config_state_compare(&snap, &c, VIRTIO_TRANSPORT_MMIO, &err),
		0);
	config_state_free(&snap);
	vm_config_release(&c);
}

/* Another host: other image paths, tap, vsock socket, cache, serial. */
static void host_paths_may_differ(void **state)
{
	struct vm_config c, here;
	struct snapshot_config snap;
	struct tern_error err = {{0}};

	full_config(&c);
	saved(&c, &snap);
	here = c;
	/* A view of c's configuration (it owns the paths): compared only. */
	here.disks[0].path = (char *)"/x/root";
	here.disks[1].path = (char *)"/x/data";
	here.disks[1].cache = BLOCK_CACHE_NONE;
	snprintf(here.nets[0].tap_name, sizeof(here.nets[0].tap_name), "tap9");
	snprintf(here.vsock_socket_path, sizeof(here.vsock_socket_path),
		 "/tmp/other.sock");
	here.serial_mode = SERIAL_MODE_NONE;
	here.pmems[0].path = (char *)"/x/pm";
	here.balloon.target_bytes = 0;
	if (config_state_compare(&snap, &here, VIRTIO_TRANSPORT_MMIO, &err))
		fail_msg("refused: %s", err.message);
	config_state_free(&snap);
	vm_config_release(&c);
}

static void expect_mismatch(const struct snapshot_config *snap,
			    const struct vm_config *here,
			    enum virtio_transport transport, const char *needle)
{
	struct tern_error err = {{0}};

	assert_int_equal(config_state_compare(snap, here, transport, &err),
			 -EINVAL);
	if (!strstr(err.message, needle))
		fail_msg("expected '%s' in '%s'", needle, err.message);
}

static void mismatches_are_named(void **state)
{
	struct vm_config c, h;
	struct snapshot_config snap;
	const enum virtio_transport mmio = VIRTIO_TRANSPORT_MMIO;

	full_config(&c);
	saved(&c, &snap);

	/* Each h is a view of c (c owns the paths), compared only. */
	h = c;
	h.cpu_count = 1;
	expect_mismatch(&snap, &h, mmio, "the snapshot has 2 vCPUs, this VM 1");
	h = c;
	h.memory_size = 256ull << 20;
	expect_mismatch(&snap, &h, mmio,
			"the snapshot has 512 MiB of memory, this VM 256 MiB");
	expect_mismatch(&snap, &c, VIRTIO_TRANSPORT_PCI,
			"virtio devices are on mmio, this VM's on pci");
	h = c;
	h.disk_count = 1;
	expect_mismatch(&snap, &h, mmio,
			"has 2 drives (rootfs, data), this VM 1 (rootfs)");
	h = c;
	snprintf(h.disks[1].id, sizeof(h.disks[1].id), "scratch");
	expect_mismatch(&snap, &h, mmio,
			"(rootfs, data), this VM 2 "
			"(rootfs, scratch)");
	h = c;
	h.disks[0] = c.disks[1];
	h.disks[1] = c.disks[0];
	expect_mismatch(&snap, &h, mmio, "in the same order");
	h = c;
	h.disks[0].readonly = 0;
	expect_mismatch(&snap, &h, mmio,
			"drive 'rootfs' is read-only in the snapshot and "
			"writable here");
	h = c;
	h.net_count = 0;
	expect_mismatch(&snap, &h, mmio,
			"1 network interfaces (eth0), this VM 0 ()");
	h = c;
	h.nets[0].mac[5] = 9;
	expect_mismatch(&snap, &h, mmio,
			"52:54:00:01:02:03 in the snapshot "
			"and 52:54:00:01:02:09 here");
	h = c;
	h.vsock_cid = 0;
	expect_mismatch(&snap, &h, mmio,
			"has a vsock device, this VM has none");
	h = c;
	h.vsock_cid = 7;
	expect_mismatch(&snap, &h, mmio, "guest CID 3, this VM's 7");
	h = c;
	h.balloon.enabled = 0;
	expect_mismatch(&snap, &h, mmio, "has a balloon, this VM has none");
	h = c;
	h.balloon.free_page_reporting = 1;
	expect_mismatch(&snap, &h, mmio,
			"free_page_reporting off and free_page_hinting off");
	h = c;
	h.balloon.free_page_hinting = 1;
	expect_mismatch(&snap, &h, mmio, "free_page_hinting off, this VM's");
	h = c;
	h.virtio_rng = 0;
	expect_mismatch(&snap, &h, mmio,
			"has an entropy device (virtio-rng), this VM has none");
	h = c;
	h.pmem_count = 0;
	expect_mismatch(&snap, &h, mmio,
			"the snapshot's VM has 1 pmem devices, this VM 0");
	h = c;
	h.pmems[0].readonly = 0;
	expect_mismatch(&snap, &h, mmio,
			"pmem device 0 is 'pm0' (read-only), this VM's 'pm0'");
	config_state_free(&snap);

	/* The other way round: this VM has devices the snapshot lacks. */
	vm_config_release(&c);
	vm_config_set_defaults(&c);
	saved(&c, &snap);
	full_config(&h);
	h.cpu_count = 1;
	h.memory_size = c.memory_size;
	h.balloon.target_bytes = 0;
	expect_mismatch(&snap, &h, VIRTIO_TRANSPORT_PCI,
			"has 0 drives (), this VM 2 (rootfs, data)");
	config_state_free(&snap);
	vm_config_release(&h);
}

/* A --firmware VM has no boot source (null in the document): its
 * snapshot's configuration reads back with the firmware as its boot. */
static void firmware_vm_round_trips(void **state)
{
	struct vm_config c;
	struct snapshot_config snap;

	full_config(&c);
	c.kernel_path = NULL;
	c.cmdline = NULL;
	c.firmware_path = "/usr/share/seabios/bios.bin";
	c.virtio_transport = VIRTIO_TRANSPORT_PCI;
	saved(&c, &snap);
	assert_null(snap.config.kernel_path);
	assert_non_null(snap.config.firmware_path);
	assert_string_equal(snap.config.firmware_path,
			    "/usr/share/seabios/bios.bin");
	config_state_free(&snap);
	vm_config_release(&c);
}

static void missing_section(void **state)
{
	struct state_file sf;
	struct snapshot_config snap;
	struct tern_error err = {{0}};

	state_file_init(&sf);
	assert_int_equal(config_state_parse(&sf, &snap, &err), -ENOENT);
	assert_non_null(strstr(err.message, "has no configuration"));
	config_state_free(&snap);
	state_file_free(&sf);
}

static void expect_invalid(const char *text, const char *needle)
{
	struct snapshot_config snap;
	struct tern_error err = {{0}};

	assert_true(parse_section(text, strlen(text), &snap, &err) < 0);
	if (!strstr(err.message, needle))
		fail_msg("for %s: expected '%s' in '%s'", text, needle,
			 err.message);
	config_state_free(&snap);
}

#define MACHINE "\"machine-config\":{\"vcpu_count\":1,\"mem_size_mib\":128}"

static void hostile_sections(void **state)
{
	struct snapshot_config snap;
	struct tern_error err = {{0}};
	static const char nul[] = "{\"machine-config\"\0}";
	char *big;

	assert_true(parse_section("", 0, &snap, &err) < 0);
	assert_non_null(strstr(err.message, "has 0 bytes"));
	config_state_free(&snap);
	assert_true(parse_section(nul, sizeof(nul), &snap, &err) < 0);
	assert_non_null(strstr(err.message, "not JSON text"));
	config_state_free(&snap);
	big = malloc(CONFIG_STATE_MAX_SIZE + 1);
	assert_non_null(big);
	memset(big, ' ', CONFIG_STATE_MAX_SIZE + 1);
	assert_true(parse_section(big, CONFIG_STATE_MAX_SIZE + 1, &snap, &err) <
		    0);
	assert_non_null(strstr(err.message, "bytes (1 to"));
	config_state_free(&snap);
	free(big);

	expect_invalid("{\"machine-config\":", "not valid JSON");
	expect_invalid("[1,2]", "not a JSON object");
	expect_invalid("{}", "machine-config is missing");
	expect_invalid("{\"a\":1,\"a\":2}", "not valid JSON");
	expect_invalid("{\"machine-config\":{\"vcpu_count\":0,"
		       "\"mem_size_mib\":128}}",
		       "vm.config) is invalid: machine-config.vcpu_count");
	expect_invalid("{\"machine-config\":{\"vcpu_count\":1}}",
		       "mem_size_mib");
	expect_invalid("{" MACHINE ",\"memory-hotplug\":{}}",
		       "memory-hotplug.total_size_mib");
	expect_invalid("{" MACHINE ",\"pmem\":{}}",
		       "pmem: expected a JSON array");
	expect_invalid("{" MACHINE ",\"pmem\":[{\"id\":\"p\"}]}",
		       "pmem.path_on_host");
	expect_invalid("{" MACHINE ",\"drives\":{}}", "expected a JSON array");
	expect_invalid("{" MACHINE ",\"drives\":[7]}", "drives");
	expect_invalid("{" MACHINE ",\"drives\":[{\"drive_id\":\"a\","
		       "\"path_on_host\":\"/p\",\"is_root_device\":false}]}",
		       "is_read_only");
	expect_invalid("{" MACHINE ",\"drives\":[{\"drive_id\":\"a\","
		       "\"path_on_host\":\"/p\",\"is_root_device\":false,"
		       "\"is_read_only\":false},{\"drive_id\":\"a\","
		       "\"path_on_host\":\"/q\",\"is_root_device\":false,"
		       "\"is_read_only\":false}]}",
		       "drive 'a' is listed twice");
	expect_invalid("{" MACHINE ",\"drives\":[{\"drive_id\":\"a b\","
		       "\"path_on_host\":\"/p\",\"is_root_device\":false,"
		       "\"is_read_only\":false}]}",
		       "drive_id");
	expect_invalid("{" MACHINE ",\"network-interfaces\":[{\"iface_id\":"
		       "\"n\",\"host_dev_name\":\"tap0\",\"guest_mac\":"
		       "\"zz\"}]}",
		       "guest_mac");
	expect_invalid("{" MACHINE ",\"network-interfaces\":[{\"iface_id\":"
		       "\"n\",\"host_dev_name\":\"tap0\"},{\"iface_id\":"
		       "\"n\",\"host_dev_name\":\"tap1\"}]}",
		       "listed twice");
	expect_invalid("{" MACHINE ",\"vsock\":{\"guest_cid\":2,\"uds_path\":"
		       "\"/v\"}}",
		       "vsock.guest_cid");
	expect_invalid("{" MACHINE ",\"balloon\":{\"amount_mib\":4096,"
		       "\"deflate_on_oom\":false}}",
		       "balloon.amount_mib");
	expect_invalid("{" MACHINE ",\"tern\":{\"virtio_transport\":\"usb\"}}",
		       "tern.virtio_transport");
	expect_invalid("{" MACHINE ",\"tern\":{\"virtio_transport\":1}}",
		       "tern.virtio_transport");
	expect_invalid("{" MACHINE ",\"boot-source\":{\"boot_args\":5}}",
		       "boot-source.boot_args");
	expect_invalid("{" MACHINE ",\"logger\":7}", "logger");
}

/* Random damage to a valid section: refused or accepted, never a crash. */
static void random_corruption(void **state)
{
	struct vm_config c;
	struct state_file sf;
	struct tern_error err = {{0}};
	const struct state_section *s;
	uint8_t *text;
	size_t len;

	full_config(&c);
	state_file_init(&sf);
	assert_int_equal(config_state_save(&c, &sf, &err), 0);
	s = state_file_find(&sf, SNAP_VM_CONFIG);
	len = s->length;
	text = malloc(len);
	assert_non_null(text);
	srand(7);
	for (int round = 0; round < 2000; round++) {
		struct snapshot_config snap;
		size_t cut = round % 5 == 0 ? (size_t)rand() % len + 1 : len;

		memcpy(text, s->data, len);
		for (int n = 0; n < 1 + round % 4; n++)
			text[(size_t)rand() % len] = (uint8_t)rand();
		(void)parse_section(text, cut, &snap, &err);
		config_state_free(&snap);
	}
	free(text);
	state_file_free(&sf);
	vm_config_release(&c);
}

/* The CPU configuration goes with the snapshot: SMT, the template and a
 * custom template (tern's own on top of one of its templates, too). */
static void cpu_configuration_round_trips(void **state)
{
	struct vm_config c;
	struct snapshot_config snap;
	struct cpu_custom_template *custom = calloc(1, sizeof(*custom));

	assert_non_null(custom);
	custom->mods.cpuid = custom->cpuid;
	custom->mods.msrs = custom->msrs;
	custom->mods.caps = custom->caps;
	custom->cpuid[0] = (struct cpuid_modifier){
		.leaf = 1, .reg = CPUID_ECX, .mask = 1u << 23, .value = 0};
	custom->mods.cpuid_count = 1;
	custom->msrs[0] = (struct msr_modifier){
		.addr = 0x10a, .mask = 0xff, .value = 0x0c};
	custom->mods.msr_count = 1;
	full_config(&c);
	c.smt = 1;
	c.cpu_template = cpu_template_find("minimal");
	c.cpu_custom = custom;
	saved(&c, &snap);
	assert_true(snap.config.smt);
	assert_string_equal(snap.config.cpu_template->name, "minimal");
	assert_non_null(snap.config.cpu_custom);
	assert_memory_equal(snap.config.cpu_custom->cpuid, custom->cpuid,
			    sizeof(custom->cpuid[0]));
	assert_memory_equal(snap.config.cpu_custom->msrs, custom->msrs,
			    sizeof(custom->msrs[0]));
	config_state_free(&snap);

	/* A Firecracker template, no custom one. */
	c.cpu_custom = NULL;
	c.cpu_template = cpu_template_find("T2CL");
	saved(&c, &snap);
	assert_string_equal(snap.config.cpu_template->name, "T2CL");
	assert_null(snap.config.cpu_custom);
	config_state_free(&snap);
	free(custom);
	vm_config_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(cpu_configuration_round_trips),
		cmocka_unit_test(host_paths_may_differ),
		cmocka_unit_test(mismatches_are_named),
		cmocka_unit_test(firmware_vm_round_trips),
		cmocka_unit_test(missing_section),
		cmocka_unit_test(hostile_sections),
		cmocka_unit_test(random_corruption),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
