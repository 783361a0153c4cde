/* Giving back, once a VM is set up, the memory that only setting it up
 * used, so that an idle tern's resident set is what running the VM needs
 * (docs/benchmarks.md, "Memory per VM"; measured by bench/density-probe).
 *
 * - The heap: what set-up freed (libseccomp compiling the filters, copies
 *   of the configuration, kernel loading) goes back (malloc_trim).
 * - Code and read-only data: set-up runs most of tern's code once
 *   (option and JSON parsing, the kernel loader, ACPI tables, seccomp
 *   compilation), the dynamic loader reads every library's symbol tables
 *   and relocation records, and with the kernel's fault-around each
 *   touched page maps its 64 KiB neighbourhood; those pages stayed mapped,
 *   counted in tern's RSS, for the VM's life. The segments the ELF files
 *   load read-only (never written: no text relocations) of tern and its
 *   libraries are dropped from tern's page tables with MADV_DONTNEED; they
 *   stay in the page cache, shared with every other process, and what the
 *   running VM uses faults back in (a minor fault per 64 KiB, once).
 *   Writable segments (data, bss, RELRO, which the loader relocated) and
 *   the vDSO are left alone: dropping a written private page would revert
 *   it to the file's contents.
 *
 * Clean code pages are one page-cache copy for all tern processes, so the
 * second point shrinks the RSS figure rather than the host's memory per
 * additional VM; the first (anonymous memory) is real per VM. Neither
 * touches a hot path: called once per boot, before the main thread's
 * seccomp list (which allows brk and madvise(MADV_DONTNEED) anyway). */
#ifndef TERN_UTIL_IDLE_MEMORY_H
#define TERN_UTIL_IDLE_MEMORY_H

#include <stddef.h>

/* Returns the bytes whose mappings were dropped (for the log). */
size_t idle_memory_release(void);

#endif
