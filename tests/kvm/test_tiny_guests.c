/* Runs the project's tiny real-mode guests (tests/kvm/guests/) on this
 * machine's /dev/kvm: port I/O, the platform devices, the boot marker and the
 * ways a VM stops, without needing a Linux guest. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "arch/x86/reset_rom.h"
#include "arch/x86/vcpu_setup.h"
#include "devices/boot_marker.h"
#include "util/file_map.h"
#include "util/log.h"
#include "vm/vm.h"
#include "vm/vm_reset.h"

#define GUEST_LOAD_GPA 0x1000

struct tiny_vm {
	struct vm vm;
	char serial_path[64];
};

static const char *guest_dir(void)
{
	const char *dir = getenv("TERN_TEST_GUEST_DIR");

	return dir ? dir : "build/guests";
}

static void load_guest(struct tiny_vm *t, const char *guest, uint64_t load_gpa)
{
	struct tern_error err = {{0}};
	struct file_map image;
	char path[256];

	snprintf(path, sizeof(path), "%s/%s.bin", guest_dir(), guest);
	if (file_map_open(&image, path, "guest", &err))
		fail_msg("%s", err.message);
	assert_int_equal(guest_memory_write(&t->vm.memory, load_gpa, image.data,
					    image.size),
			 0);
	file_map_close(&image);
}

static void create_vm_with_config(struct tiny_vm *t, const char *guest,
				  int cpus, uint64_t load_gpa,
				  enum vm_reboot_action on_reboot)
{
	struct tern_error err = {{0}};
	struct vm_config config = {
		.kvm_path = "/dev/kvm",
		.memory_size = 64ULL << 20,
		.cpu_count = cpus,
		.serial_mode = SERIAL_MODE_FILE,
		.serial_path = t->serial_path,
		.cpu_template = cpu_template_find("host"),
		.on_reboot = on_reboot,
	};
	int fd;

	snprintf(t->serial_path, sizeof(t->serial_path),
		 "/tmp/tern-serial-XXXXXX");
	fd = mkstemp(t->serial_path);
	assert_true(fd >= 0);
	close(fd);

	if (vm_create(&t->vm, &config, &err))
		fail_msg("vm_create: %s", err.message);
	load_guest(t, guest, load_gpa);
}

static void create_vm_with_guest(struct tiny_vm *t, const char *guest, int cpus,
				 uint64_t load_gpa)
{
	create_vm_with_config(t, guest, cpus, load_gpa, VM_REBOOT_EXIT);
}

static void start_tiny_vm(struct tiny_vm *t, const char *guest, int cpus)
{
	struct tern_error err = {{0}};

	create_vm_with_guest(t, guest, cpus, GUEST_LOAD_GPA);
	if (x86_vcpu_set_real_mode_entry(t->vm.vcpus[0].fd, GUEST_LOAD_GPA,
					 &err))
		fail_msg("%s", err.message);
}

static char *serial_output(struct tiny_vm *t)
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

static void finish_tiny_vm(struct tiny_vm *t)
{
	vm_destroy(&t->vm);
	unlink(t->serial_path);
}

static void port_io_devices_and_reset(void **state)
{
	struct tiny_vm *t = calloc(1, sizeof(*t));
	const char expected[] = "hello from a tiny guest\n"
				"rep outsb works\n"
				"\xff\x80";

	start_tiny_vm(t, "hello", 1);
	assert_int_equal(vm_run(&t->vm), VM_STOP_GUEST_RESET);
	assert_memory_equal(serial_output(t), expected, sizeof(expected));
	assert_true(boot_marker_elapsed_ns(t->vm.boot_marker) > 0);
	finish_tiny_vm(t);
	free(t);
}

/* A guest that fails to reset would run (or sleep) for ever: a watchdog
 * stops it as a signal would, so the test fails instead of hanging. */
struct watchdog {
	struct vm *vm;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	pthread_t thread;
};

#define WATCHDOG_S 10

static void *watchdog_thread(void *arg)
{
	struct watchdog *w = arg;
	struct timespec deadline;
	int fired = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += WATCHDOG_S;
	pthread_mutex_lock(&w->lock);
	while (!w->done && !fired)
		fired = pthread_cond_timedwait(&w->cond, &w->lock, &deadline) ==
			ETIMEDOUT;
	pthread_mutex_unlock(&w->lock);
	if (fired)
		vm_request_stop(w->vm, VM_STOP_SIGNAL);
	return NULL;
}

static enum vm_stop_reason run_watched(struct vm *vm)
{
	struct watchdog w = {.vm = vm};
	enum vm_stop_reason reason;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	pthread_create(&w.thread, NULL, watchdog_thread, &w);
	reason = vm_run(vm);
	pthread_mutex_lock(&w.lock);
	w.done = 1;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	pthread_join(w.thread, NULL);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return reason;
}

/* A triple fault is a reset, as on a PC (Linux's reboot=t relies on it):
 * tern logs the registers but ends or restarts the VM as for any reset. */
static void triple_fault_is_a_reset(void **state)
{
	struct tiny_vm *t = calloc(1, sizeof(*t));
	enum vm_stop_reason reason;

	start_tiny_vm(t, "triple_fault", 1);
	reason = run_watched(&t->vm);
	assert_int_equal(reason, VM_STOP_TRIPLE_FAULT);
	assert_true(vm_stop_is_reset(reason));
	finish_tiny_vm(t);
	free(t);
}

/* Each of a PC's reset paths a real-mode guest can take ends the VM as a
 * reset; `expected` is what the guest prints before (and between) its
 * writes, so a write that must not reset visibly did not. */
static void real_mode_guest_resets(const char *guest, const char *expected)
{
	struct tiny_vm *t = calloc(1, sizeof(*t));

	start_tiny_vm(t, guest, 1);
	assert_int_equal(run_watched(&t->vm), VM_STOP_GUEST_RESET);
	assert_string_equal(serial_output(t), expected);
	finish_tiny_vm(t);
	free(t);
}

static void jump_to_reset_vector_from_real_mode_resets(void **state)
{
	real_mode_guest_resets("reset_vector_real", "r");
}

static void reset_control_register_resets(void **state)
{
	real_mode_guest_resets("reset_control", "a");
}

static void acpi_reset_register_resets(void **state)
{
	real_mode_guest_resets("acpi_reset", "a");
}

/* The ROM's bytes are what its comments say they are: the reset port,
 * its value, and a HLT loop. */
static void reset_vector_rom_writes_the_reset_port(void **state)
{
	const uint8_t *v = reset_rom_vector();

	assert_int_equal(v[2] | v[4] << 8, TERN_RESET_PORT);
	assert_int_equal(v[6], TERN_RESET_PORT_VALUE);
	assert_int_equal(v[7], 0xee); /* out %al, %dx */
}

/* The CPU states tern enters kernels in: what a bzImage's 64-bit entry and
 * a PVH entry see. */
static void boot_entry_state(enum boot_cpu_mode mode, const char *guest,
			     const char *expected)
{
	struct tiny_vm *t = calloc(1, sizeof(*t));
	struct tern_error err = {{0}};
	struct boot_entry entry = {
		.cpu_mode = mode,
		.entry_gpa = LAYOUT_KERNEL_DEFAULT_GPA,
		.rsi = LAYOUT_ZERO_PAGE_GPA,
		.rbx = LAYOUT_PVH_START_INFO_GPA,
	};

	create_vm_with_guest(t, guest, 1, LAYOUT_KERNEL_DEFAULT_GPA);
	if (x86_vcpu_set_boot_entry(t->vm.vcpus[0].fd, &t->vm.memory, &entry,
				    &err))
		fail_msg("%s", err.message);
	assert_int_equal(run_watched(&t->vm), VM_STOP_GUEST_RESET);
	assert_string_equal(serial_output(t), expected);
	finish_tiny_vm(t);
	free(t);
}

static void jump_to_reset_vector_from_protected_mode_resets(void **state)
{
	boot_entry_state(BOOT_CPU_MODE_PROTECTED32, "reset_vector_protected",
			 "p");
}

static void jump_to_reset_vector_from_long_mode_resets(void **state)
{
	boot_entry_state(BOOT_CPU_MODE_LONG64, "reset_vector_long", "l");
}

/* --on-reboot restart at the VM level: after each reset the VM goes back to
 * its power-on state (vm_reset) and the test loads the guest again, as
 * tern loads the kernel again. The guest counts its boots in CMOS, checks
 * RAM came back empty, and takes another reset path each boot. */
static void restart_after_every_kind_of_reset(void **state)
{
	struct tiny_vm *t = calloc(1, sizeof(*t));
	struct tern_error err = {{0}};
	enum vm_stop_reason reason;
	int resets = 0;

	create_vm_with_config(t, "reboot_counter", 2, GUEST_LOAD_GPA,
			      VM_REBOOT_RESTART);
	if (x86_vcpu_set_real_mode_entry(t->vm.vcpus[0].fd, GUEST_LOAD_GPA,
					 &err))
		fail_msg("%s", err.message);
	reason = run_watched(&t->vm);
	while (vm_stop_is_reset(reason) && resets < 8) {
		resets++;
		if (vm_reset(&t->vm, &err))
			fail_msg("vm_reset: %s", err.message);
		load_guest(t, "reboot_counter", GUEST_LOAD_GPA);
		if (x86_vcpu_set_real_mode_entry(t->vm.vcpus[0].fd,
						 GUEST_LOAD_GPA, &err))
			fail_msg("%s", err.message);
		reason = run_watched(&t->vm);
	}
	assert_string_equal(serial_output(t), "12345");
	assert_int_equal(reason, VM_STOP_GUEST_POWEROFF);
	assert_int_equal(resets, 4);
	finish_tiny_vm(t);
	free(t);
}

/* A vCPU stopped by a triple fault (KVM's shutdown state) runs again after
 * a reset. */
static void restart_after_a_triple_fault(void **state)
{
	struct tiny_vm *t = calloc(1, sizeof(*t));
	struct tern_error err = {{0}};
	const char expected[] = "hello from a tiny guest\n";

	create_vm_with_config(t, "triple_fault", 1, GUEST_LOAD_GPA,
			      VM_REBOOT_RESTART);
	if (x86_vcpu_set_real_mode_entry(t->vm.vcpus[0].fd, GUEST_LOAD_GPA,
					 &err))
		fail_msg("%s", err.message);
	assert_int_equal(run_watched(&t->vm), VM_STOP_TRIPLE_FAULT);
	if (vm_reset(&t->vm, &err))
		fail_msg("vm_reset: %s", err.message);
	load_guest(t, "hello", GUEST_LOAD_GPA);
	if (x86_vcpu_set_real_mode_entry(t->vm.vcpus[0].fd, GUEST_LOAD_GPA,
					 &err))
		fail_msg("%s", err.message);
	assert_int_equal(run_watched(&t->vm), VM_STOP_GUEST_RESET);
	assert_memory_equal(serial_output(t), expected, sizeof(expected) - 1);
	finish_tiny_vm(t);
	free(t);
}

static void long_mode_entry_state(void **state)
{
	boot_entry_state(BOOT_CPU_MODE_LONG64, "long64", "647\n");
}

static void protected_mode_entry_state(void **state)
{
	boot_entry_state(BOOT_CPU_MODE_PROTECTED32, "protected32", "326\n");
}

static void *stop_after_delay(void *arg)
{
	usleep(300 * 1000);
	vm_request_stop(arg, VM_STOP_SIGNAL);
	return NULL;
}

/* A vCPU halted with interrupts off sleeps inside KVM_RUN; stopping the VM
 * must still get it out (the kick signal) and return. */
static void halted_vcpu_can_be_stopped(void **state)
{
	struct tiny_vm *t = calloc(1, sizeof(*t));
	pthread_t stopper;

	start_tiny_vm(t, "halt", 2);
	pthread_create(&stopper, NULL, stop_after_delay, &t->vm);
	assert_int_equal(vm_run(&t->vm), VM_STOP_SIGNAL);
	pthread_join(stopper, NULL);
	assert_string_equal(serial_output(t), "h");
	finish_tiny_vm(t);
	free(t);
}

static void missing_kvm_device_is_reported(void **state)
{
	struct tern_error err = {{0}};
	struct vm *vm = calloc(1, sizeof(*vm));
	struct vm_config config = {
		.kvm_path = "/nonexistent/kvm",
		.memory_size = 64ULL << 20,
		.cpu_count = 1,
		.serial_mode = SERIAL_MODE_NONE,
		.cpu_template = cpu_template_find("host"),
	};

	assert_true(vm_create(vm, &config, &err) < 0);
	assert_non_null(strstr(err.message, "does not exist"));
	vm_destroy(vm);
	free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(port_io_devices_and_reset),
		cmocka_unit_test(triple_fault_is_a_reset),
		cmocka_unit_test(jump_to_reset_vector_from_real_mode_resets),
		cmocka_unit_test(
			jump_to_reset_vector_from_protected_mode_resets),
		cmocka_unit_test(jump_to_reset_vector_from_long_mode_resets),
		cmocka_unit_test(reset_control_register_resets),
		cmocka_unit_test(acpi_reset_register_resets),
		cmocka_unit_test(reset_vector_rom_writes_the_reset_port),
		cmocka_unit_test(restart_after_every_kind_of_reset),
		cmocka_unit_test(restart_after_a_triple_fault),
		cmocka_unit_test(long_mode_entry_state),
		cmocka_unit_test(protected_mode_entry_state),
		cmocka_unit_test(halted_vcpu_can_be_stopped),
		cmocka_unit_test(missing_kvm_device_is_reported),
	};

	log_mark_start();
	log_set_level(LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
