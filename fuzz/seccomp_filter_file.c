/* Fuzz target: the reader of Firecracker's --seccomp-filter files
 * (sandbox/seccomp_filter_file.c), the operator's file but read as
 * untrusted bytes. A file is taken whole or refused with nothing left
 * allocated; a taken one has every category's program within the
 * kernel's limit. */
#include <stdint.h>
#include <stdlib.h>

#include "sandbox/seccomp_filter_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seccomp_filter_file file;
	struct tern_error err;

	if (seccomp_filter_file_parse(data, size, &file, &err)) {
		for (int c = 0; c < SECCOMP_FILTER_CATEGORY_COUNT; c++)
			if (file.programs[c].filter || file.programs[c].len)
				abort();
		return 0;
	}
	for (int c = 0; c < SECCOMP_FILTER_CATEGORY_COUNT; c++)
		if (file.programs[c].len > SECCOMP_FILTER_MAX_INSNS ||
		    (file.programs[c].len && !file.programs[c].filter))
			abort();
	seccomp_filter_file_free(&file);
	return 0;
}
