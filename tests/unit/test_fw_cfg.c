/* fw_cfg as a guest reads it (16-bit selector write, byte reads), its
 * snapshot state, and the debug-exit port's value and exit status. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devices/debug_console.h"
#include "devices/debug_exit.h"
#include "devices/fw_cfg.h"

static struct device *make_fw_cfg(void)
{
	struct fw_cfg_machine machine = {.ram_size = 0x123456789ULL,
					 .cpu_count = 3};
	struct device *dev = fw_cfg_create(&machine);

	assert_non_null(dev);
	return dev;
}

static void select_key(struct device *dev, uint16_t key)
{
	uint8_t bytes[2] = {(uint8_t)key, (uint8_t)(key >> 8)};

	dev->ops->io_write(dev, 0, bytes, 2);
}

static uint64_t read_bytes(struct device *dev, int count)
{
	uint64_t value = 0;

	for (int i = 0; i < count; i++) {
		uint8_t b;

		dev->ops->io_read(dev, 1, &b, 1);
		value |= (uint64_t)b << (8 * i);
	}
	return value;
}

static void items_read_as_qemu_gives_them(void **state)
{
	struct device *dev = make_fw_cfg();

	select_key(dev, FW_CFG_SIGNATURE);
	assert_int_equal(read_bytes(dev, 4), 0x554d4551); /* "QEMU" */
	assert_int_equal(read_bytes(dev, 2), 0); /* past the end: zeros */
	select_key(dev, FW_CFG_ID);
	assert_int_equal(read_bytes(dev, 4), 1); /* traditional, no DMA */
	select_key(dev, FW_CFG_RAM_SIZE);
	assert_int_equal(read_bytes(dev, 8), 0x123456789ULL);
	select_key(dev, FW_CFG_NB_CPUS);
	assert_int_equal(read_bytes(dev, 2), 3);
	select_key(dev, FW_CFG_MAX_CPUS);
	assert_int_equal(read_bytes(dev, 2), 3);
	select_key(dev, FW_CFG_FILE_DIR);
	assert_int_equal(read_bytes(dev, 4), 0); /* no files */
	dev->ops->destroy(dev);
}

static void selecting_again_rewinds(void **state)
{
	struct device *dev = make_fw_cfg();

	select_key(dev, FW_CFG_SIGNATURE);
	assert_int_equal(read_bytes(dev, 2), 0x4551);
	select_key(dev, FW_CFG_SIGNATURE);
	assert_int_equal(read_bytes(dev, 1), 'Q');
	dev->ops->destroy(dev);
}

static void unknown_and_arch_keys_read_zero(void **state)
{
	struct device *dev = make_fw_cfg();

	select_key(dev, 0x1234);
	assert_int_equal(read_bytes(dev, 8), 0);
	select_key(dev, FW_CFG_ARCH_LOCAL | FW_CFG_NB_CPUS);
	assert_int_equal(read_bytes(dev, 2), 0);
	/* The write-channel bit does not hide the item. */
	select_key(dev, 0x4000 | FW_CFG_NB_CPUS);
	assert_int_equal(read_bytes(dev, 2), 3);
	dev->ops->destroy(dev);
}

static void only_16_bit_writes_select(void **state)
{
	struct device *dev = make_fw_cfg();
	uint8_t byte = FW_CFG_NB_CPUS;
	uint32_t wide = FW_CFG_NB_CPUS;

	select_key(dev, FW_CFG_SIGNATURE);
	dev->ops->io_write(dev, 0, &byte, 1); /* the old data write path */
	dev->ops->io_write(dev, 1, &byte, 1);
	dev->ops->io_write(dev, 0, &wide, 4);
	assert_int_equal(read_bytes(dev, 1), 'Q');
	dev->ops->destroy(dev);
}

static void wide_reads_take_consecutive_bytes(void **state)
{
	struct device *dev = make_fw_cfg();
	uint32_t value = 0;

	select_key(dev, FW_CFG_SIGNATURE);
	dev->ops->io_read(dev, 1, &value, 4);
	assert_memory_equal(&value, "QEMU", 4);
	dev->ops->destroy(dev);
}

static void state_survives_save_and_restore(void **state)
{
	struct device *dev = make_fw_cfg(), *copy = make_fw_cfg();
	uint8_t buf[64];
	size_t len = sizeof(buf);

	select_key(dev, FW_CFG_RAM_SIZE);
	assert_int_equal(read_bytes(dev, 3), 0x456789);
	assert_int_equal(dev->ops->save(dev, buf, &len), 0);
	assert_int_equal(copy->ops->restore(copy, buf, len), 0);
	assert_int_equal(read_bytes(copy, 5), 0x0123);
	len = 2;
	assert_int_equal(dev->ops->save(dev, buf, &len), -ENOSPC);
	dev->ops->destroy(dev);
	copy->ops->destroy(copy);
}

static void hostile_saved_state_is_refused(void **state)
{
	struct device *dev = make_fw_cfg();
	struct {
		uint16_t selector, pad;
		uint32_t offset;
	} st = {FW_CFG_NB_CPUS, 0, 3}; /* past the 2-byte item's end */

	assert_int_equal(dev->ops->restore(dev, &st, sizeof(st)), -EINVAL);
	st.offset = 1;
	st.pad = 1;
	assert_int_equal(dev->ops->restore(dev, &st, sizeof(st)), -EINVAL);
	st.pad = 0;
	assert_int_equal(dev->ops->restore(dev, &st, sizeof(st) - 1), -EINVAL);
	st.selector = 0x777; /* absent: only offset 0 */
	assert_int_equal(dev->ops->restore(dev, &st, sizeof(st)), -EINVAL);
	/* A refused restore changed nothing. */
	select_key(dev, FW_CFG_SIGNATURE);
	assert_int_equal(read_bytes(dev, 1), 'Q');
	st = (typeof(st)){FW_CFG_NB_CPUS, 0, 1};
	assert_int_equal(dev->ops->restore(dev, &st, sizeof(st)), 0);
	assert_int_equal(read_bytes(dev, 2), 0); /* 3 >> 8, then the end */
	dev->ops->destroy(dev);
}

static uint32_t read_be32(struct device *dev)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | (uint32_t)read_bytes(dev, 1);
	return v;
}

/* SeaBIOS's walk of the directory: a big-endian count, then 64-byte entries
 * (be32 size, be16 key, 2 reserved, 56 of name), each file's key selecting
 * its bytes. */
static void files_are_listed_and_read_by_key(void **state)
{
	struct device *dev = make_fw_cfg();
	uint16_t keys[2];
	char name[56];

	assert_int_equal(fw_cfg_add_file(dev, "etc/e820", "0123456789", 10), 0);
	assert_int_equal(fw_cfg_add_file(dev, "etc/sercon-port", "\xf8\x03", 2),
			 0);
	select_key(dev, FW_CFG_FILE_DIR);
	assert_int_equal(read_be32(dev), 2);
	for (int i = 0; i < 2; i++) {
		uint32_t size = read_be32(dev);
		uint16_t key = (uint16_t)(read_bytes(dev, 1) << 8);

		key |= (uint16_t)read_bytes(dev, 1);
		keys[i] = key;
		read_bytes(dev, 2);
		for (int c = 0; c < 56; c++)
			name[c] = (char)read_bytes(dev, 1);
		assert_string_equal(name, i ? "etc/sercon-port" : "etc/e820");
		assert_int_equal(size, i ? 2 : 10);
	}
	assert_int_equal(keys[0], FW_CFG_FILE_FIRST);
	select_key(dev, keys[1]);
	assert_int_equal(read_bytes(dev, 2), 0x3f8);
	select_key(dev, keys[0]);
	assert_int_equal(read_bytes(dev, 1), '0');
	dev->ops->destroy(dev);
}

static void bad_files_and_items_are_refused(void **state)
{
	struct device *dev = make_fw_cfg();
	char long_name[FW_CFG_FILE_NAME_SIZE + 1];
	char name[16];
	uint8_t zero[2] = {0, 0};

	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(fw_cfg_add_file(dev, long_name, "x", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_file(dev, "", "x", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_file(dev, "a", "x", 1), 0);
	assert_int_equal(fw_cfg_add_file(dev, "a", "y", 1), -EINVAL);
	/* Numbered items: new ones below the files, never a taken key. */
	assert_int_equal(fw_cfg_add_item(dev, FW_CFG_BOOT_MENU, zero, 2), 0);
	assert_int_equal(fw_cfg_add_item(dev, FW_CFG_BOOT_MENU, zero, 2),
			 -EINVAL);
	assert_int_equal(fw_cfg_add_item(dev, FW_CFG_SIGNATURE, zero, 2),
			 -EINVAL);
	assert_int_equal(fw_cfg_add_item(dev, FW_CFG_FILE_FIRST, zero, 2),
			 -EINVAL);
	for (int i = 1; i < FW_CFG_MAX_FILES; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		assert_int_equal(fw_cfg_add_file(dev, name, "x", 1), 0);
	}
	assert_int_equal(fw_cfg_add_file(dev, "one-more", "x", 1), -ENOSPC);
	dev->ops->destroy(dev);
}

/* SeaBIOS writes its debug output only when a read answers 0xe9. */
static void debug_console_answers_the_probe(void **state)
{
	struct device *dev = debug_console_create();
	uint8_t b = 0;

	assert_non_null(dev);
	dev->ops->io_read(dev, 0, &b, 1);
	assert_int_equal(b, DEBUG_CONSOLE_READBACK);
	for (int i = 0; i < 3 * DEBUG_CONSOLE_LINE_MAX; i++) {
		b = (uint8_t)(i % 7 ? 'x' : 0x01);
		dev->ops->io_write(dev, 0, &b, 1);
	}
	b = '\n';
	dev->ops->io_write(dev, 0, &b, 1);
	dev->ops->destroy(dev);
}

static uint32_t last_value;
static int exits;

static void record_exit(void *opaque, uint32_t value)
{
	(void)opaque;
	last_value = value;
	exits++;
}

static void debug_exit_takes_the_whole_value(void **state)
{
	struct device *dev = debug_exit_create(
		&(struct debug_exit_events){record_exit, NULL});
	uint32_t wide = 0x12345678;
	uint8_t byte = 0x2a, read[4];

	assert_non_null(dev);
	exits = 0;
	dev->ops->io_write(dev, 0, &wide, 4);
	assert_int_equal(last_value, 0x12345678);
	dev->ops->io_write(dev, 3, &byte, 1);
	assert_int_equal(last_value, 0x2a);
	assert_int_equal(exits, 2);
	dev->ops->io_read(dev, 0, read, 4);
	assert_memory_equal(read, "\xff\xff\xff\xff", 4);
	dev->ops->destroy(dev);
}

static void debug_exit_status_is_qemus(void **state)
{
	assert_int_equal(debug_exit_status(0), 1);
	assert_int_equal(debug_exit_status(1), 3);
	assert_int_equal(debug_exit_status(0x2a), 85);
	assert_int_equal(debug_exit_status(0x7f), 255);
	assert_int_equal(debug_exit_status(0x80), 1); /* low 8 bits */
	assert_int_equal(debug_exit_status(0xffffffffu), 255);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(items_read_as_qemu_gives_them),
		cmocka_unit_test(files_are_listed_and_read_by_key),
		cmocka_unit_test(bad_files_and_items_are_refused),
		cmocka_unit_test(debug_console_answers_the_probe),
		cmocka_unit_test(selecting_again_rewinds),
		cmocka_unit_test(unknown_and_arch_keys_read_zero),
		cmocka_unit_test(only_16_bit_writes_select),
		cmocka_unit_test(wide_reads_take_consecutive_bytes),
		cmocka_unit_test(state_survives_save_and_restore),
		cmocka_unit_test(hostile_saved_state_is_refused),
		cmocka_unit_test(debug_exit_takes_the_whole_value),
		cmocka_unit_test(debug_exit_status_is_qemus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
