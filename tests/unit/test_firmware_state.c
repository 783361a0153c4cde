/* A --firmware VM's image in a state file (src/snapshot/firmware_state.h):
 * saved byte for byte, restored over whatever the restoring tern read from
 * its own file, and refused by name when the two VMs do not agree (one
 * with a firmware and one without, or images of different sizes). A VM
 * booted from a kernel writes no section. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "snapshot/firmware_state.h"
#include "snapshot/snapshot_sections.h"

#define IMAGE_SIZE (128u << 10)

static struct vm *firmware_vm(uint8_t fill, size_t size)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	assert_non_null(vm);
	vm->config.firmware_path = "/usr/share/seabios/bios.bin";
	vm->reset_rom = malloc(size);
	assert_non_null(vm->reset_rom);
	memset(vm->reset_rom, fill, size);
	vm->reset_rom_size = size;
	return vm;
}

static void free_vm(struct vm *vm)
{
	free(vm->reset_rom);
	free(vm);
}

/* Through bytes, as a snapshot file and a migration carry it. */
static void reparse(struct state_file *written, struct state_file *read)
{
	struct tern_error err = {0};
	uint8_t *buf;
	size_t len;

	assert_int_equal(state_file_serialize(written, &buf, &len, &err), 0);
	assert_int_equal(state_file_parse(read, buf, len, &err), 0);
}

static void image_round_trips_over_the_restoring_file(void **state)
{
	struct vm *source = firmware_vm(0xaa, IMAGE_SIZE);
	struct vm *target = firmware_vm(0x55, IMAGE_SIZE);
	struct state_file sf, back;
	struct tern_error err = {0};

	source->reset_rom[0] = 0x12;
	source->reset_rom[IMAGE_SIZE - 1] = 0x34;
	state_file_init(&sf);
	assert_int_equal(firmware_state_save(source, &sf, &err), 0);
	reparse(&sf, &back);
	assert_int_equal(firmware_state_check(target, &back, &err), 0);
	assert_int_equal(firmware_state_restore(target, &back, &err), 0);
	assert_memory_equal(target->reset_rom, source->reset_rom, IMAGE_SIZE);
	state_file_free(&sf);
	state_file_free(&back);
	free_vm(source);
	free_vm(target);
}

static void kernel_vm_writes_nothing_and_refuses_an_image(void **state)
{
	struct vm *kernel = calloc(1, sizeof(*kernel));
	struct vm *firmware = firmware_vm(0, IMAGE_SIZE);
	struct state_file empty, with_image, back;
	struct tern_error err = {0};

	assert_non_null(kernel);
	state_file_init(&empty);
	assert_int_equal(firmware_state_save(kernel, &empty, &err), 0);
	assert_int_equal(empty.section_count, 0);
	assert_int_equal(firmware_state_check(kernel, &empty, &err), 0);
	/* The firmware VM cannot take a kernel VM's state ... */
	assert_int_not_equal(firmware_state_check(firmware, &empty, &err), 0);
	assert_non_null(strstr(err.message, "booted a kernel"));
	/* ... nor the kernel VM a firmware VM's. */
	state_file_init(&with_image);
	assert_int_equal(firmware_state_save(firmware, &with_image, &err), 0);
	reparse(&with_image, &back);
	assert_int_not_equal(firmware_state_check(kernel, &back, &err), 0);
	assert_non_null(strstr(err.message, "booted by a firmware"));
	state_file_free(&empty);
	state_file_free(&with_image);
	state_file_free(&back);
	free(kernel);
	free_vm(firmware);
}

static void image_of_another_size_is_refused_with_both_sizes(void **state)
{
	struct vm *source = firmware_vm(1, IMAGE_SIZE);
	struct vm *target = firmware_vm(2, 2 * IMAGE_SIZE);
	struct state_file sf, back;
	struct tern_error err = {0};

	state_file_init(&sf);
	assert_int_equal(firmware_state_save(source, &sf, &err), 0);
	reparse(&sf, &back);
	assert_int_not_equal(firmware_state_check(target, &back, &err), 0);
	assert_non_null(strstr(err.message, "131072 bytes"));
	assert_non_null(strstr(err.message, "262144"));
	/* restore refuses on its own too: nothing is copied past the slot. */
	assert_int_not_equal(firmware_state_restore(target, &back, &err), 0);
	assert_int_equal(target->reset_rom[0], 2);
	state_file_free(&sf);
	state_file_free(&back);
	free_vm(source);
	free_vm(target);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(image_round_trips_over_the_restoring_file),
		cmocka_unit_test(kernel_vm_writes_nothing_and_refuses_an_image),
		cmocka_unit_test(
			image_of_another_size_is_refused_with_both_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
