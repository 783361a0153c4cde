/* tern jailer's command line (Firecracker's jailer spelling), parsed and
 * checked without touching the file system, so every usage error is found
 * before the jail is built and can be unit-tested without root. */
#ifndef TERN_SANDBOX_JAILER_OPTIONS_H
#define TERN_SANDBOX_JAILER_OPTIONS_H

#include <stdint.h>

#include "util/error.h"

#define JAILER_ID_MAX 64
#define JAILER_DEFAULT_CHROOT_BASE "/srv/jailer"
/* Firecracker's jailer bounds no-file to this when no limit is given. */
#define JAILER_DEFAULT_NO_FILE 2048
#define JAILER_MAX_CGROUP_SETTINGS 32
#define JAILER_CGROUP_FILE_MAX 64

struct jailer_cgroup_setting {
	char file[JAILER_CGROUP_FILE_MAX]; /* e.g. "memory.max":
					      controller.property */
	const char *value; /* points into argv */
};

struct jailer_options {
	const char *id;
	const char *exec_file;
	uint32_t uid; /* UINT32_MAX until given */
	uint32_t gid;
	const char *chroot_base; /* default JAILER_DEFAULT_CHROOT_BASE */
	const char *netns; /* NULL: stay in this network namespace */
	const char *parent_cgroup; /* NULL: the exec file's name */
	int cgroup_version; /* 1 or 2; default 2 */
	int daemonize;
	int new_pid_ns;
	uint64_t fsize_limit; /* RLIM_INFINITY unless --resource-limit fsize */
	uint64_t no_file_limit;
	int fsize_given;
	unsigned cgroup_count;
	struct jailer_cgroup_setting cgroups[JAILER_MAX_CGROUP_SETTINGS];
	char **exec_args; /* after "--"; NULL-terminated (argv's own end) */
	int exec_arg_count;
	/* Not on the command line: a program running the jailer in-process
	 * (ternd, for its VMs) puts files into the root once it is built and
	 * owned by uid:gid, before it is entered (the jailer refuses a root
	 * that exists, so nothing can be put there earlier). A failure
	 * removes the root as any other step's does. NULL: nothing. */
	int (*populate)(const char *root, void *opaque, struct tern_error *err);
	void *populate_opaque;
};

/* Parses argv (argv[0] is the command's name, "jailer"). Returns 0, 1 for
 * --help, or -EINVAL with err set to one sentence naming the option. */
int jailer_options_parse(int argc, char **argv, struct jailer_options *opts,
			 struct tern_error *err);

/* 0 when id is 1-64 characters of [A-Za-z0-9-], else -EINVAL. */
int jailer_id_check(const char *id, struct tern_error *err);

/* A uid or gid: decimal, below 2^32 - 1 (that value means "unchanged" to
 * setresuid and cannot be anyone's). */
int jailer_id_number_parse(const char *text, const char *option, uint32_t *out,
			   struct tern_error *err);

/* "FILE=VALUE" with FILE a cgroup file name (controller.property). */
int jailer_cgroup_setting_parse(const char *text,
				struct jailer_cgroup_setting *setting,
				struct tern_error *err);

/* "fsize=N" or "no-file=N" into opts. */
int jailer_resource_limit_parse(const char *text, struct jailer_options *opts,
				struct tern_error *err);

/* A relative cgroup path without "." or ".." components or empty ones. */
int jailer_parent_cgroup_check(const char *path, struct tern_error *err);

#endif
