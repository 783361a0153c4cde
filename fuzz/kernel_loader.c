/* Fuzz target: the kernel loaders (src/arch/x86/boot/): the input is a
 * bzImage or a PVH vmlinux (the loader tells them apart from the bytes,
 * as for --kernel), after one byte choosing an initrd size and a short
 * command line, loaded into 64 MiB of guest RAM. A load that succeeds
 * must name an entry point inside RAM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot/kernel_loader.h"
#include "fuzz_input.h"
#include "util/log.h"

#define RAM_SIZE (64ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_memory mem;
	static uint8_t initrd[64 << 10];
	struct fuzz_input in = fuzz_input_of(data, size);
	uint8_t setup = fuzz_u8(&in);
	char cmdline[32];
	struct kernel_load_request req = {0};
	struct boot_entry entry;
	struct load_error err;
	uint8_t *kernel;

	if (!mem.region_count) {
		log_set_level(LOG_OFF);
		if (guest_memory_init(&mem, RAM_SIZE))
			abort();
	}
	fuzz_bytes(&in, cmdline, setup & 0x1f);
	cmdline[setup & 0x1f] = '\0';
	/* The image in a buffer of its own size, so ASan sees a read past
	 * its end. */
	kernel = malloc(in.left ? in.left : 1);
	memcpy(kernel, in.p, in.left);
	req.kernel = kernel;
	req.kernel_size = in.left;
	req.cmdline = cmdline;
	if (setup & 0x20) {
		req.initrd = initrd;
		req.initrd_size = (setup & 0x40) ? sizeof(initrd) : 4096;
	}
	req.rsdp_gpa = (setup & 0x80) ? 0xe0000 : 0;
	if (kernel_load(&mem, &req, &entry, &err) == 0) {
		if (!guest_memory_ptr(&mem, entry.entry_gpa, 1))
			abort();
	} else if (getenv("FUZZ_VERBOSE")) {
		fprintf(stderr, "refused: %s\n", err.message);
	}
	free(kernel);
	return 0;
}
