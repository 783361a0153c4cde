/* The Multiboot test guests (tests/kvm/guests/multiboot_*.S) booted through
 * vm_load_kernel on this machine's /dev/kvm: the loader, the 32-bit entry
 * state, the information structure as a guest reads it, fw_cfg, the
 * debug-exit port that ends the VM with the guest's value, and the 8259s,
 * PIT and IVT a PC BIOS would have left. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/debug_exit.h"
#include "util/log.h"
#include "vm/vm.h"

struct mb_vm {
	struct vm vm;
	struct vm_config config;
	char serial_path[64];
	char kernel_path[256];
	char module_paths[2][64];
};

static const char *guest_dir(void)
{
	const char *dir = getenv("TERN_TEST_GUEST_DIR");

	return dir ? dir : "build/guests";
}

static void write_temp(char *path, size_t size, const char *data)
{
	int fd;

	snprintf(path, size, "/tmp/tern-mb-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	if (data)
		assert_int_equal(write(fd, data, strlen(data)),
				 (ssize_t)strlen(data));
	close(fd);
}

static struct mb_vm *boot_acpi(const char *image, const char *cmdline,
			       enum vm_acpi_mode acpi);

static struct mb_vm *boot(const char *image, const char *cmdline)
{
	return boot_acpi(image, cmdline, VM_ACPI_DEFAULT);
}

static struct mb_vm *boot_acpi(const char *image, const char *cmdline,
			       enum vm_acpi_mode acpi)
{
	struct mb_vm *t = calloc(1, sizeof(*t));
	struct tern_error err = {{0}};

	write_temp(t->serial_path, sizeof(t->serial_path), NULL);
	write_temp(t->module_paths[0], sizeof(t->module_paths[0]),
		   "first module bytes");
	write_temp(t->module_paths[1], sizeof(t->module_paths[1]), "second");
	snprintf(t->kernel_path, sizeof(t->kernel_path), "%s/%s", guest_dir(),
		 image);
	t->config = (struct vm_config){
		.kvm_path = "/dev/kvm",
		.memory_size = 64ULL << 20,
		.cpu_count = 2,
		.kernel_path = t->kernel_path,
		.initrd_path = t->module_paths[0],
		.modules = {{t->module_paths[1], strlen(t->module_paths[1]),
			     "two,with,commas"}},
		.module_count = 1,
		.cmdline = cmdline,
		.serial_mode = SERIAL_MODE_FILE,
		.serial_path = t->serial_path,
		.cpu_template = cpu_template_find("host"),
		.debug_exit_port = DEBUG_EXIT_DEFAULT_PORT,
		.acpi_mode = acpi,
	};
	if (vm_create(&t->vm, &t->config, &err) || vm_load_kernel(&t->vm, &err))
		fail_msg("%s", err.message);
	return t;
}

static char *serial_output(struct mb_vm *t)
{
	static char buf[4096];
	FILE *f = fopen(t->serial_path, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void finish(struct mb_vm *t)
{
	vm_destroy(&t->vm);
	unlink(t->serial_path);
	unlink(t->module_paths[0]);
	unlink(t->module_paths[1]);
	free(t);
}

static void expect_line(const char *output, const char *line)
{
	if (!strstr(output, line))
		fail_msg("'%s' not in the guest's output:\n%s", line, output);
}

static void elf_guest_reads_info_and_fw_cfg(void **state)
{
	struct mb_vm *t = boot("multiboot_elf.elf", "hello=multiboot x");
	char line[512];
	const char *out;

	assert_int_equal(vm_run(&t->vm), VM_STOP_DEBUG_EXIT);
	assert_int_equal(t->vm.debug_exit_value, 0x2a);
	out = serial_output(t);
	/* mem, cmdline, mods, mmap, boot loader name */
	expect_line(out, "flags 0000024d\n");
	snprintf(line, sizeof(line), "cmdline %s hello=multiboot x\n",
		 t->kernel_path);
	expect_line(out, line);
	snprintf(line, sizeof(line), "module %s=first module bytes\n",
		 t->module_paths[0]);
	expect_line(out, line);
	expect_line(out, "module two,with,commas=second\n");
	expect_line(out,
		    "mmap 0000000000000000 000000000009f000 00000001\n"
		    "mmap 000000000009f000 0000000000061000 00000002\n"
		    "mmap 0000000000100000 0000000003f00000 00000001\n"
		    "mmap 00000000e0000000 0000000000100000 00000002\n");
	expect_line(out, "mem 0000027c 0000fc00\n");
	expect_line(out, "fwcfg QEMU 00000002 0000000004000000 00000000\n");
	finish(t);
}

static void aout_guest_loads_by_its_header(void **state)
{
	struct mb_vm *t = boot("multiboot_aout.bin", NULL);
	char line[512];

	assert_int_equal(vm_run(&t->vm), VM_STOP_DEBUG_EXIT);
	/* 0x33 would say the bytes past load_end_addr were loaded. */
	assert_int_equal(t->vm.debug_exit_value, 0x15);
	snprintf(line, sizeof(line), "aout cmdline %s\n", t->kernel_path);
	assert_string_equal(serial_output(t), line);
	finish(t);
}

/* What a PC BIOS hands a loader (arch/x86/bios_handover.c): the 8259s'
 * masks with the timer and cascade open, and in real mode the BIOS tick
 * through the IVT ending STI; HLT twice (0x7d: the LAPIC guard fired
 * instead, nothing ticked). */
static void realmode_guest_is_woken_by_the_bios_tick(void **state)
{
	struct mb_vm *t = boot("multiboot_realmode.elf", NULL);

	assert_int_equal(vm_run(&t->vm), VM_STOP_DEBUG_EXIT);
	assert_int_equal(t->vm.debug_exit_value, 0x2b);
	expect_line(serial_output(t), "imr 000000fa 000000ff\n");
	finish(t);
}

/* ACPI S3 (vm/vm_sleep.c) as an OS drives it: the waking vector in the
 * FACS, the RTC alarm armed, SLP_TYP 1 with SLP_EN; the alarm wakes the VM
 * and the boot vCPU (of two) resumes at the vector in real mode with RAM
 * kept and WAK_STS set. With full ACPI through PM1 (RTC_EN, RTC_STS) and
 * with hardware-reduced ACPI through the sleep registers. */
static void s3_guest_resumes_at_its_waking_vector(enum vm_acpi_mode acpi)
{
	struct mb_vm *t = boot_acpi("multiboot_s3.elf", NULL, acpi);

	assert_int_equal(vm_run(&t->vm), VM_STOP_DEBUG_EXIT);
	if (t->vm.debug_exit_value != 0x2c)
		fail_msg("exit 0x%x; the guest said:\n%s",
			 t->vm.debug_exit_value, serial_output(t));
	assert_string_equal(serial_output(t), "sleeping\nresumed\n");
	assert_int_equal(vm_sleep_count(&t->vm), 1);
	assert_int_equal(vm_wake_count(&t->vm), 1);
	finish(t);
}

static void s3_with_full_acpi_wakes_on_the_rtc_alarm(void **state)
{
	s3_guest_resumes_at_its_waking_vector(VM_ACPI_FULL);
}

static void s3_with_reduced_acpi_wakes_on_the_rtc_alarm(void **state)
{
	s3_guest_resumes_at_its_waking_vector(VM_ACPI_REDUCED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(elf_guest_reads_info_and_fw_cfg),
		cmocka_unit_test(aout_guest_loads_by_its_header),
		cmocka_unit_test(realmode_guest_is_woken_by_the_bios_tick),
		cmocka_unit_test(s3_with_full_acpi_wakes_on_the_rtc_alarm),
		cmocka_unit_test(s3_with_reduced_acpi_wakes_on_the_rtc_alarm),
	};

	log_mark_start();
	log_set_level(LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
