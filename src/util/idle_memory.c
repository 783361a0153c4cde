#include "util/idle_memory.h"

#include <link.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

struct drop_state {
	uintptr_t vdso;
	uintptr_t page;
	size_t dropped;
};

/* Only whole pages inside a segment the ELF file loads read-only (code,
 * read-only data, symbol tables and relocation records): nothing ever
 * writes there. RELRO, which the loader writes before making it
 * read-only, lies in a writable PT_LOAD and is never dropped; a page at a
 * segment's edge is left mapped. */
static void drop_segment(struct drop_state *st, uintptr_t start, size_t len)
{
	uintptr_t first = (start + st->page - 1) & ~(st->page - 1);
	uintptr_t end = (start + len) & ~(st->page - 1);

	if (end <= first)
		return;
	if (madvise((void *)first, end - first, MADV_DONTNEED) == 0)
		st->dropped += end - first;
}

static int drop_object_code(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct drop_state *st = arg;
	uintptr_t phdr = (uintptr_t)info->dlpi_phdr;

	(void)size;
	/* The vDSO is the kernel's special mapping, not a file's. */
	if (st->vdso && phdr >= st->vdso && phdr < st->vdso + 65536)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && !(ph->p_flags & PF_W))
			drop_segment(st, info->dlpi_addr + ph->p_vaddr,
				     ph->p_memsz);
	}
	return 0;
}

size_t idle_memory_release(void)
{
	struct drop_state st = {
		.vdso = getauxval(AT_SYSINFO_EHDR),
		.page = (uintptr_t)sysconf(_SC_PAGESIZE),
	};

	malloc_trim(0);
	dl_iterate_phdr(drop_object_code, &st);
	return st.dropped;
}
