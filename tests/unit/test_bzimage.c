#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot/kernel_loader.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#define SETUP_SECTS 4
#define PAYLOAD_OFFSET ((SETUP_SECTS + 1) * 512)
#define IMAGE_SIZE (64 * 1024)

struct fixture {
	struct guest_memory mem;
	uint8_t image[IMAGE_SIZE];
	struct kernel_load_request req;
	struct boot_entry entry;
	struct load_error err;
};

static void put16(uint8_t *p, size_t off, uint16_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void put64(uint8_t *p, size_t off, uint64_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static uint32_t get32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

/* A header as a relocatable 64-bit Debian kernel has it. */
static void make_image(uint8_t *image)
{
	memset(image, 0, IMAGE_SIZE);
	image[0x1f1] = SETUP_SECTS;
	put16(image, 0x1fe, 0xaa55);
	image[0x200] = 0xeb;
	image[0x201] = 0x6a; /* header ends at 0x26c */
	memcpy(image + 0x202, "HdrS", 4);
	put16(image, 0x206, 0x020f);
	image[0x211] = 0x01;
	put32(image, 0x22c, 0x7fffffff);
	put32(image, 0x230, 0x200000);
	image[0x234] = 1;
	put16(image, 0x236, 0x1 | 0x2);
	put32(image, 0x238, 2047);
	put64(image, 0x258, 0x1000000);
	put32(image, 0x260, 0x800000);
	for (size_t i = PAYLOAD_OFFSET; i < IMAGE_SIZE; i++)
		image[i] = (uint8_t)i;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(guest_memory_init(&f->mem, MiB(256)), 0);
	make_image(f->image);
	f->req.kernel = f->image;
	f->req.kernel_size = IMAGE_SIZE;
	f->req.cmdline = "console=ttyS0";
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

static int load(struct fixture *f)
{
	memset(&f->err, 0, sizeof(f->err));
	return kernel_load(&f->mem, &f->req, &f->entry, &f->err);
}

static uint8_t *zero_page(struct fixture *f)
{
	return guest_memory_ptr(&f->mem, LAYOUT_ZERO_PAGE_GPA, 4096);
}

static void valid_image_loads_at_preferred_address(void **state)
{
	struct fixture *f = *state;
	uint8_t *loaded;

	assert_int_equal(load(f), 0);
	assert_int_equal(f->entry.format, KERNEL_FORMAT_BZIMAGE);
	assert_int_equal(f->entry.cpu_mode, BOOT_CPU_MODE_LONG64);
	assert_int_equal(f->entry.entry_gpa, 0x1000000 + 0x200);
	assert_int_equal(f->entry.rsi, LAYOUT_ZERO_PAGE_GPA);
	loaded = guest_memory_ptr(&f->mem, 0x1000000,
				  IMAGE_SIZE - PAYLOAD_OFFSET);
	assert_memory_equal(loaded, f->image + PAYLOAD_OFFSET,
			    IMAGE_SIZE - PAYLOAD_OFFSET);
}

static void zero_page_carries_header_cmdline_and_e820(void **state)
{
	struct fixture *f = *state;
	uint8_t *zp;
	char cmdline[64];
	struct e820_map map;

	assert_int_equal(load(f), 0);
	zp = zero_page(f);
	assert_memory_equal(zp + 0x202, "HdrS", 4);
	assert_int_equal(zp[0x210], 0xff); /* type_of_loader */
	assert_true(zp[0x211] & 0x80); /* CAN_USE_HEAP */
	assert_int_equal(get32(zp, 0x214), 0x1000000); /* code32_start */
	assert_int_equal(get32(zp, 0x228), LAYOUT_CMDLINE_GPA);
	assert_int_equal(
		guest_memory_read(&f->mem, LAYOUT_CMDLINE_GPA, cmdline, 14), 0);
	assert_string_equal(cmdline, "console=ttyS0");
	/* Nothing past the header is copied from the file. */
	assert_int_equal(get32(zp, 0x270), 0);

	e820_build(&f->mem, &map);
	assert_int_equal(zp[0x1e8], map.count);
	for (int i = 0; i < map.count; i++) {
		uint64_t addr, size;
		uint32_t type;

		memcpy(&addr, zp + 0x2d0 + i * 20, 8);
		memcpy(&size, zp + 0x2d0 + i * 20 + 8, 8);
		memcpy(&type, zp + 0x2d0 + i * 20 + 16, 4);
		assert_int_equal(addr, map.entries[i].addr);
		assert_int_equal(size, map.entries[i].size);
		assert_int_equal(type, map.entries[i].type);
	}
}

static void initrd_goes_high_and_page_aligned(void **state)
{
	struct fixture *f = *state;
	static const uint8_t initrd[10000] = {1, 2, 3};
	uint32_t addr, size;

	f->req.initrd = initrd;
	f->req.initrd_size = sizeof(initrd);
	assert_int_equal(load(f), 0);
	addr = get32(zero_page(f), 0x218);
	size = get32(zero_page(f), 0x21c);
	assert_int_equal(size, sizeof(initrd));
	assert_int_equal(addr % 4096, 0);
	assert_true(addr + size <= MiB(256));
	assert_true(addr + size > MiB(256) - 8192);
	assert_true(addr >= 0x1000000 + 0x800000); /* above init_size */
	assert_memory_equal(guest_memory_ptr(&f->mem, addr, size), initrd,
			    sizeof(initrd));
}

static void initrd_respects_initrd_addr_max(void **state)
{
	struct fixture *f = *state;
	static const uint8_t initrd[4096];

	put32(f->image, 0x22c, 0x0dffffff); /* 224 MiB */
	f->req.initrd = initrd;
	f->req.initrd_size = sizeof(initrd);
	assert_int_equal(load(f), 0);
	assert_true(get32(zero_page(f), 0x218) + sizeof(initrd) <= 0x0e000000);
}

static void initrd_that_does_not_fit_is_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t *initrd = calloc(1, MiB(240));

	f->req.initrd = initrd;
	f->req.initrd_size = MiB(240);
	assert_int_equal(load(f), -E2BIG);
	assert_non_null(strstr(f->err.message, "initrd"));
	free(initrd);
}

static void
relocatable_kernel_moves_when_preferred_address_is_too_high(void **state)
{
	struct fixture *f = *state;

	put64(f->image, 0x258, MiB(250));
	assert_int_equal(load(f), 0);
	assert_int_equal(f->entry.entry_gpa, MiB(2) + 0x200);
}

static void non_relocatable_kernel_that_does_not_fit_is_refused(void **state)
{
	struct fixture *f = *state;

	f->image[0x234] = 0;
	put64(f->image, 0x258, MiB(250));
	assert_int_equal(load(f), -E2BIG);
	assert_non_null(strstr(f->err.message, "--memory"));
}

static void corrupt_alignment_is_refused(void **state)
{
	struct fixture *f = *state;

	put64(f->image, 0x258, MiB(250));
	put32(f->image, 0x230, 0x300000);
	assert_int_equal(load(f), -EINVAL);
	assert_non_null(strstr(f->err.message, "kernel_alignment"));
}

static void truncated_images_are_refused_at_every_length(void **state)
{
	struct fixture *f = *state;

	/* Every cut inside the header or the setup code is an error, never a
	 * read past the end (ASan watches the heap copy). */
	for (size_t len = 1; len <= PAYLOAD_OFFSET; len++) {
		uint8_t *copy = malloc(len);

		memcpy(copy, f->image, len);
		f->req.kernel = copy;
		f->req.kernel_size = len;
		assert_true(load(f) < 0);
		assert_true(f->err.message[0] != '\0');
		free(copy);
	}
}

static void garbage_is_not_a_kernel(void **state)
{
	struct fixture *f = *state;

	memcpy(f->image + 0x202, "HdrX", 4);
	assert_int_equal(load(f), -ENOEXEC);
	assert_non_null(strstr(f->err.message, "not a Linux kernel"));
}

static void old_protocol_is_refused_with_its_version(void **state)
{
	struct fixture *f = *state;

	put16(f->image, 0x206, 0x020a);
	assert_int_equal(load(f), -ENOEXEC);
	assert_non_null(strstr(f->err.message, "2.10"));
}

static void kernel_without_64bit_entry_is_refused(void **state)
{
	struct fixture *f = *state;

	put16(f->image, 0x236, 0);
	assert_int_equal(load(f), -ENOEXEC);
	assert_non_null(strstr(f->err.message, "64-bit"));
}

static void zimage_is_refused(void **state)
{
	struct fixture *f = *state;

	f->image[0x211] = 0;
	assert_int_equal(load(f), -ENOEXEC);
}

static void overlong_cmdline_is_refused(void **state)
{
	struct fixture *f = *state;
	char cmdline[300];

	put32(f->image, 0x238, 255);
	memset(cmdline, 'a', sizeof(cmdline) - 1);
	cmdline[sizeof(cmdline) - 1] = '\0';
	f->req.cmdline = cmdline;
	assert_int_equal(load(f), -E2BIG);
	assert_non_null(strstr(f->err.message, "255"));
	cmdline[255] = '\0';
	assert_int_equal(load(f), 0);
}

static void kernel_larger_than_memory_is_refused(void **state)
{
	struct fixture *f = *state;

	put32(f->image, 0x260, 0xffffffff); /* init_size: 4 GiB */
	assert_int_equal(load(f), -E2BIG);
}

static void empty_file_is_refused(void **state)
{
	struct fixture *f = *state;

	f->req.kernel_size = 0;
	assert_int_equal(load(f), -ENOEXEC);
	assert_non_null(strstr(f->err.message, "empty"));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(valid_image_loads_at_preferred_address),
		T(zero_page_carries_header_cmdline_and_e820),
		T(initrd_goes_high_and_page_aligned),
		T(initrd_respects_initrd_addr_max),
		T(initrd_that_does_not_fit_is_refused),
		T(relocatable_kernel_moves_when_preferred_address_is_too_high),
		T(non_relocatable_kernel_that_does_not_fit_is_refused),
		T(corrupt_alignment_is_refused),
		T(truncated_images_are_refused_at_every_length),
		T(garbage_is_not_a_kernel),
		T(old_protocol_is_refused_with_its_version),
		T(kernel_without_64bit_entry_is_refused),
		T(zimage_is_refused),
		T(overlong_cmdline_is_refused),
		T(kernel_larger_than_memory_is_refused),
		T(empty_file_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
