/* Firecracker's --seccomp-filter FILE: the filters seccompiler-bin
 * compiles, one BPF program per thread category ("vmm", "api", "vcpu"),
 * serialized as bincode does a map of name to instructions (every integer
 * little-endian and fixed-width: the map's entry count u64, then per
 * entry the name's length u64 and bytes, the instruction count u64 and
 * the instructions, 8 bytes each: code u16, jt u8, jf u8, k u32).
 *
 * Given one, tern installs these instead of its own lists, as Firecracker
 * does: "api" on the API thread, "vcpu" on each vCPU thread, "vmm" on the
 * main thread (once the vCPUs run) and every other thread (devices,
 * migration, workers). A filter written for Firecracker's calls is likely
 * to stop tern; the file is the operator's, and so is the choice. The
 * file is untrusted input: every length is checked before it is used. */
#ifndef TERN_SANDBOX_SECCOMP_FILTER_FILE_H
#define TERN_SANDBOX_SECCOMP_FILTER_FILE_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum seccomp_filter_category {
	SECCOMP_FILTER_VMM,
	SECCOMP_FILTER_API,
	SECCOMP_FILTER_VCPU,
	SECCOMP_FILTER_CATEGORY_COUNT,
};

/* The kernel's limit on one program (BPF_MAXINSNS). */
#define SECCOMP_FILTER_MAX_INSNS 4096
#define SECCOMP_FILTER_FILE_MAX_SIZE (1u << 20)

struct seccomp_filter_file {
	/* len 0: no filter for that category (an empty list in the file). */
	struct sock_fprog programs[SECCOMP_FILTER_CATEGORY_COUNT];
};

/* Parses a whole file's bytes; on error nothing is left to free. */
int seccomp_filter_file_parse(const uint8_t *data, size_t size,
			      struct seccomp_filter_file *out,
			      struct tern_error *err);
/* Reads and parses path; errors name it. */
int seccomp_filter_file_read(const char *path, struct seccomp_filter_file *out,
			     struct tern_error *err);
void seccomp_filter_file_free(struct seccomp_filter_file *file);

#endif
