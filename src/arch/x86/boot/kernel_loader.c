#include "arch/x86/boot/kernel_loader.h"

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/boot/boot_image.h"
#include "arch/x86/layout.h"

#define PAGE_SIZE 4096ULL

int load_fail(struct load_error *err, int errnum, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, args);
	va_end(args);
	return -errnum;
}

int boot_write_cmdline(struct guest_memory *mem, const char *cmdline,
		       uint64_t max_length, uint64_t *gpa,
		       struct load_error *err)
{
	size_t length = strlen(cmdline);

	if (max_length > LAYOUT_CMDLINE_MAX - 1)
		max_length = LAYOUT_CMDLINE_MAX - 1;
	if (length > max_length)
		return load_fail(err, E2BIG,
				 "command line is %zu bytes; this kernel "
				 "accepts at most %llu",
				 length, (unsigned long long)max_length);
	if (guest_memory_write(mem, LAYOUT_CMDLINE_GPA, cmdline, length + 1))
		return load_fail(err, EFAULT,
				 "no guest memory for the command line");
	*gpa = LAYOUT_CMDLINE_GPA;
	return 0;
}

int boot_place_initrd(struct guest_memory *mem, const uint8_t *initrd,
		      uint64_t size, uint64_t lowest_gpa, uint64_t highest_end,
		      uint64_t *gpa, struct load_error *err)
{
	uint64_t top = guest_memory_low_end(mem);
	uint64_t start;

	if (highest_end < top)
		top = highest_end;
	if (size == 0)
		return load_fail(err, EINVAL, "initrd is empty");
	/* Written so that no step can wrap: size is bounded by top first. */
	if (size > top || ((top - size) & ~(PAGE_SIZE - 1)) < lowest_gpa)
		return load_fail(err, E2BIG,
				 "initrd of %llu KiB does not fit in guest "
				 "memory between the kernel (ends at %#llx) "
				 "and %#llx; give the guest more --memory",
				 (unsigned long long)(size >> 10),
				 (unsigned long long)lowest_gpa,
				 (unsigned long long)top);
	start = (top - size) & ~(PAGE_SIZE - 1);
	if (guest_memory_write(mem, start, initrd, size))
		return load_fail(err, EFAULT,
				 "no guest memory at %#llx for the initrd",
				 (unsigned long long)start);
	*gpa = start;
	return 0;
}

static int is_elf(const struct kernel_load_request *req)
{
	return req->kernel_size >= 4 &&
		memcmp(req->kernel,
		       "\x7f"
		       "ELF",
		       4) == 0;
}

static int is_elf64(const struct kernel_load_request *req)
{
	return is_elf(req) && req->kernel_size > EI_CLASS &&
		req->kernel[EI_CLASS] == ELFCLASS64;
}

/* A Linux kernel, which takes one initrd and no further modules. */
static int load_linux(struct guest_memory *mem,
		      const struct kernel_load_request *req,
		      struct boot_entry *entry, struct load_error *err)
{
	if (req->module_count)
		return load_fail(err, EINVAL,
				 "--module is only for Multiboot kernels; "
				 "this is a Linux kernel (give it one "
				 "--initrd)");
	if (is_elf(req))
		return elf_pvh_load(mem, req, entry, err);
	return bzimage_load(mem, req, entry, err);
}

/* A 64-bit ELF is a PVH kernel even if it also carries a Multiboot header
 * (Multiboot v1 cannot load ELF64 without the a.out kludge); anything else
 * with a valid Multiboot header is a Multiboot image. A header whose
 * checksum is wrong is named only when nothing else recognises the file,
 * since four bytes of a bzImage may spell the magic by chance. */
int kernel_load(struct guest_memory *mem, const struct kernel_load_request *req,
		struct boot_entry *entry, struct load_error *err)
{
	struct multiboot_header mb;
	enum multiboot_probe probe;
	int ret;

	memset(entry, 0, sizeof(*entry));
	if (req->kernel_size == 0)
		return load_fail(err, ENOEXEC, "file is empty");
	if (req->initrd && req->initrd_size == 0)
		return load_fail(err, EINVAL, "initrd is empty");
	if (is_elf64(req))
		return load_linux(mem, req, entry, err);
	probe = multiboot_find_header(req->kernel, req->kernel_size, &mb);
	if (probe == MULTIBOOT_FOUND)
		return multiboot_load(mem, req, &mb, entry, err);
	ret = load_linux(mem, req, entry, err);
	if (ret == -ENOEXEC && probe == MULTIBOOT_BAD_CHECKSUM)
		return load_fail(err, ENOEXEC,
				 "Multiboot header at offset %#zx has a bad "
				 "checksum (magic + flags + checksum must be "
				 "0 modulo 2^32)",
				 mb.offset);
	return ret;
}
