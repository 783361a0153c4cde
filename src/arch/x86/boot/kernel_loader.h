/* Loads a kernel (a Linux bzImage, a PVH-capable vmlinux ELF, or a Multiboot
 * v1 image) with its initrd or modules and its command line into guest
 * memory, and says how the boot vCPU must enter it.
 * The image bytes are hostile input: every header field is checked before it
 * is used as an offset, a size or an address. */
#ifndef TERN_ARCH_X86_BOOT_KERNEL_LOADER_H
#define TERN_ARCH_X86_BOOT_KERNEL_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "memory/guest_memory.h"

enum kernel_format {
	KERNEL_FORMAT_BZIMAGE,
	KERNEL_FORMAT_ELF_PVH,
	KERNEL_FORMAT_MULTIBOOT,
};

/* CPU state the boot vCPU starts in. */
enum boot_cpu_mode {
	/* 64-bit long mode, identity-mapped 4 GiB, flat GDT; rsi = zero page
	 * (Linux boot protocol "64-bit boot protocol"). */
	BOOT_CPU_MODE_LONG64,
	/* 32-bit protected mode, paging off, flat GDT, interrupts off; rbx =
	 * hvm_start_info (Xen PVH boot ABI as Linux implements it), or rax =
	 * 0x2BADB002 and rbx = the Multiboot information structure. */
	BOOT_CPU_MODE_PROTECTED32,
};

struct boot_entry {
	enum kernel_format format;
	enum boot_cpu_mode cpu_mode;
	uint64_t entry_gpa;
	uint64_t rax;
	uint64_t rsi;
	uint64_t rbx;
};

/* One Multiboot module beyond the initrd (--module PATH[,STRING]). */
struct boot_module {
	const uint8_t *data;
	size_t size;
	const char *string; /* the module's command line, never NULL */
};

#define BOOT_MAX_MODULES 16

struct kernel_load_request {
	const uint8_t *kernel;
	size_t kernel_size;
	const uint8_t *initrd; /* NULL: no initrd */
	size_t initrd_size;
	/* A Multiboot kernel gets the initrd as its first module, with this
	 * string (its path, as QEMU's -initrd gives it); NULL: "". */
	const char *initrd_string;
	/* Further Multiboot modules, after the initrd; Linux kernels refuse
	 * them. */
	const struct boot_module *modules;
	int module_count;
	const char *cmdline; /* NUL-terminated, never NULL */
	/* Multiboot: the command line's first word, as GRUB and QEMU give
	 * the image's path; NULL: "kernel". */
	const char *kernel_name;
	/* cmdline is tern's default for Linux (console=ttyS0 ...), which a
	 * Multiboot kernel is not given. */
	int cmdline_is_linux_default;
	/* Where the ACPI RSDP is, handed to the kernel through the zero page
	 * or the PVH start info so it need not scan for it; 0 if none. */
	uint64_t rsdp_gpa;
};

/* Fixed-size message buffer so errors carry the reason up to main, which
 * prints one line: "kernel: setup header version 2.05 is older than 2.12". */
struct load_error {
	char message[256];
};

/* Detects the format from the bytes, loads the kernel, the initrd (or
 * modules) and the command line, writes the zero page (bzImage), the PVH
 * start_info and memory map (ELF), or the Multiboot information structure,
 * and fills *entry. Returns 0, or a negative errno with
 * err->message set: -ENOEXEC not a kernel / unsupported, -EINVAL malformed or
 * truncated, -E2BIG does not fit in guest memory or protocol limits. */
int kernel_load(struct guest_memory *mem, const struct kernel_load_request *req,
		struct boot_entry *entry, struct load_error *err);

#endif
