/* The jail's root directory on the host: BASE/NAME/ID/root holding a copy
 * of the exec file and the few device nodes a VMM needs, owned by the
 * jailed uid/gid. It is built under a temporary name and renamed into
 * place in one step, so a jail root either exists whole or not at all. */
#ifndef TERN_SANDBOX_JAIL_ROOT_H
#define TERN_SANDBOX_JAIL_ROOT_H

#include <stdint.h>

#include "util/error.h"

struct jail_root_spec {
	const char *exec_path; /* canonical path of the exec file */
	const char *exec_name; /* its file name: the copy is /NAME */
	const char *id_dir; /* BASE/NAME/ID, created here if missing */
	const char *root; /* BASE/NAME/ID/root: must not exist */
	uint32_t uid;
	uint32_t gid;
};

/* 0 when path is an ELF executable that needs no program interpreter
 * (the jail holds no loader, no libraries and no shell), else -errno with
 * err naming the path and what it is. */
int jail_exec_file_check(const char *path, struct tern_error *err);

/* Builds spec->root. -EEXIST (err says so) when a jail with this ID is
 * there already; on any failure nothing of the new root is left. */
int jail_root_build(const struct jail_root_spec *spec, struct tern_error *err);

/* Removes a root built by jail_root_build (after a later step failed). */
void jail_root_remove(const char *root);

#endif
