/* tern jailer's options: Firecracker's jailer command line, checked. */
#include "sandbox/jailer_options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

enum {
	OPT_HELP = 'h',
	OPT_ID = 256,
	OPT_EXEC_FILE,
	OPT_UID,
	OPT_GID,
	OPT_CHROOT_BASE,
	OPT_NETNS,
	OPT_DAEMONIZE,
	OPT_NEW_PID_NS,
	OPT_CGROUP_VERSION,
	OPT_CGROUP,
	OPT_PARENT_CGROUP,
	OPT_RESOURCE_LIMIT,
};

static const struct option jailer_long_options[] = {
	{"id", required_argument, NULL, OPT_ID},
	{"exec-file", required_argument, NULL, OPT_EXEC_FILE},
	{"uid", required_argument, NULL, OPT_UID},
	{"gid", required_argument, NULL, OPT_GID},
	{"chroot-base-dir", required_argument, NULL, OPT_CHROOT_BASE},
	{"netns", required_argument, NULL, OPT_NETNS},
	{"daemonize", no_argument, NULL, OPT_DAEMONIZE},
	{"new-pid-ns", no_argument, NULL, OPT_NEW_PID_NS},
	{"cgroup-version", required_argument, NULL, OPT_CGROUP_VERSION},
	{"cgroup", required_argument, NULL, OPT_CGROUP},
	{"parent-cgroup", required_argument, NULL, OPT_PARENT_CGROUP},
	{"resource-limit", required_argument, NULL, OPT_RESOURCE_LIMIT},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

int jailer_id_check(const char *id, struct tern_error *err)
{
	size_t len = strlen(id);

	if (len == 0 || len > JAILER_ID_MAX)
		return tern_error_set(err, EINVAL,
				      "--id must be 1 to %d characters long",
				      JAILER_ID_MAX);
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '-')
			return tern_error_set(
				err, EINVAL,
				"--id '%.64s': only letters, digits and "
				"hyphens are allowed",
				id);
	return 0;
}

int jailer_id_number_parse(const char *text, const char *option, uint32_t *out,
			   struct tern_error *err)
{
	unsigned long long value;
	char *end;

	if (!isdigit((unsigned char)text[0]))
		goto bad;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno || *end || value >= UINT32_MAX)
		goto bad;
	*out = (uint32_t)value;
	return 0;
bad:
	return tern_error_set(err, EINVAL,
			      "%s '%.40s' is not a number from 0 to %u", option,
			      text, UINT32_MAX - 1);
}

static int path_length_check(const char *path, const char *option,
			     struct tern_error *err)
{
	if (!path[0])
		return tern_error_set(err, EINVAL, "%s needs a path", option);
	if (strlen(path) >= PATH_MAX)
		return tern_error_set(err, ENAMETOOLONG,
				      "%s: the path is longer than %d bytes",
				      option, PATH_MAX - 1);
	return 0;
}

/* One path component of a cgroup name: no "..", ".", or empty. */
static int is_plain_component(const char *start, size_t len)
{
	if (len == 0)
		return 0;
	if (len == 1 && start[0] == '.')
		return 0;
	if (len == 2 && start[0] == '.' && start[1] == '.')
		return 0;
	return 1;
}

int jailer_parent_cgroup_check(const char *path, struct tern_error *err)
{
	const char *p = path;

	if (strlen(path) >= PATH_MAX / 2)
		return tern_error_set(err, ENAMETOOLONG,
				      "--parent-cgroup is too long");
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (!is_plain_component(p, len))
			return tern_error_set(
				err, EINVAL,
				"--parent-cgroup '%.100s': a relative path "
				"of names, without '.', '..' or empty parts",
				path);
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

int jailer_cgroup_setting_parse(const char *text,
				struct jailer_cgroup_setting *setting,
				struct tern_error *err)
{
	const char *eq = strchr(text, '=');
	size_t len = eq ? (size_t)(eq - text) : 0;
	const char *dot;

	if (!eq || !len || !eq[1])
		return tern_error_set(err, EINVAL,
				      "--cgroup '%.100s': expected FILE=VALUE",
				      text);
	if (len >= sizeof(setting->file))
		return tern_error_set(err, ENAMETOOLONG,
				      "--cgroup '%.100s': the file name is "
				      "too long",
				      text);
	memcpy(setting->file, text, len);
	setting->file[len] = '\0';
	dot = strchr(setting->file, '.');
	if (strchr(setting->file, '/') || !dot || dot == setting->file ||
	    !dot[1])
		return tern_error_set(err, EINVAL,
				      "--cgroup '%.100s': FILE must be a "
				      "cgroup file name such as memory.max",
				      text);
	if (strchr(eq + 1, '\n'))
		return tern_error_set(err, EINVAL,
				      "--cgroup '%.100s': the value holds a "
				      "newline",
				      text);
	setting->value = eq + 1;
	return 0;
}

static int limit_value_parse(const char *text, const char *value, uint64_t *out,
			     struct tern_error *err)
{
	unsigned long long n;
	char *end;

	errno = 0;
	n = isdigit((unsigned char)value[0]) ? strtoull(value, &end, 10) : 0;
	if (!isdigit((unsigned char)value[0]) || errno || *end)
		return tern_error_set(err, EINVAL,
				      "--resource-limit '%.100s': the value "
				      "is not a number",
				      text);
	*out = n;
	return 0;
}

int jailer_resource_limit_parse(const char *text, struct jailer_options *opts,
				struct tern_error *err)
{
	const char *eq = strchr(text, '=');
	size_t len = eq ? (size_t)(eq - text) : 0;

	if (!eq)
		return tern_error_set(err, EINVAL,
				      "--resource-limit '%.100s': expected "
				      "fsize=N or no-file=N",
				      text);
	if (len == 5 && !strncmp(text, "fsize", len)) {
		opts->fsize_given = 1;
		return limit_value_parse(text, eq + 1, &opts->fsize_limit, err);
	}
	if (len == 7 && !strncmp(text, "no-file", len))
		return limit_value_parse(text, eq + 1, &opts->no_file_limit,
					 err);
	return tern_error_set(err, EINVAL,
			      "--resource-limit '%.100s': unknown resource "
			      "(fsize or no-file)",
			      text);
}

static int add_cgroup(struct jailer_options *opts, const char *text,
		      struct tern_error *err)
{
	if (opts->cgroup_count == JAILER_MAX_CGROUP_SETTINGS)
		return tern_error_set(err, EINVAL,
				      "more than %d --cgroup settings",
				      JAILER_MAX_CGROUP_SETTINGS);
	return jailer_cgroup_setting_parse(
		text, &opts->cgroups[opts->cgroup_count++], err);
}

static int cgroup_version_parse(const char *text, struct jailer_options *opts,
				struct tern_error *err)
{
	if (strcmp(text, "1") && strcmp(text, "2"))
		return tern_error_set(err, EINVAL,
				      "--cgroup-version '%.20s': 1 or 2", text);
	opts->cgroup_version = text[0] - '0';
	return 0;
}

static int take_option(int opt, const char *arg, struct jailer_options *opts,
		       struct tern_error *err)
{
	switch (opt) {
	case OPT_ID:
		opts->id = arg;
		return jailer_id_check(arg, err);
	case OPT_EXEC_FILE:
		opts->exec_file = arg;
		return path_length_check(arg, "--exec-file", err);
	case OPT_UID:
		return jailer_id_number_parse(arg, "--uid", &opts->uid, err);
	case OPT_GID:
		return jailer_id_number_parse(arg, "--gid", &opts->gid, err);
	case OPT_CHROOT_BASE:
		opts->chroot_base = arg;
		return path_length_check(arg, "--chroot-base-dir", err);
	case OPT_NETNS:
		opts->netns = arg;
		return path_length_check(arg, "--netns", err);
	case OPT_DAEMONIZE:
		opts->daemonize = 1;
		return 0;
	case OPT_NEW_PID_NS:
		opts->new_pid_ns = 1;
		return 0;
	case OPT_CGROUP_VERSION:
		return cgroup_version_parse(arg, opts, err);
	case OPT_CGROUP:
		return add_cgroup(opts, arg, err);
	case OPT_PARENT_CGROUP:
		opts->parent_cgroup = arg;
		return jailer_parent_cgroup_check(arg, err);
	case OPT_RESOURCE_LIMIT:
		return jailer_resource_limit_parse(arg, opts, err);
	}
	return tern_error_set(err, EINVAL, "unhandled option");
}

static void set_defaults(struct jailer_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->uid = UINT32_MAX;
	opts->gid = UINT32_MAX;
	opts->chroot_base = JAILER_DEFAULT_CHROOT_BASE;
	opts->cgroup_version = 2;
	opts->fsize_limit = RLIM_INFINITY;
	opts->no_file_limit = JAILER_DEFAULT_NO_FILE;
}

static int check_required(const struct jailer_options *opts,
			  struct tern_error *err)
{
	if (!opts->id)
		return tern_error_set(err, EINVAL, "--id is required");
	if (!opts->exec_file)
		return tern_error_set(err, EINVAL, "--exec-file is required");
	if (opts->uid == UINT32_MAX)
		return tern_error_set(err, EINVAL, "--uid is required");
	if (opts->gid == UINT32_MAX)
		return tern_error_set(err, EINVAL, "--gid is required");
	/* The jail's path: BASE/NAME/ID/root/NAME.pid must fit. */
	if (strlen(opts->chroot_base) + 2 * strlen(opts->exec_file) +
		    JAILER_ID_MAX + 32 >=
	    PATH_MAX)
		return tern_error_set(err, ENAMETOOLONG,
				      "--chroot-base-dir and --exec-file are "
				      "too long for the jail's paths");
	return 0;
}

/* Everything after "--" goes to the exec file; nothing else may stand
 * outside an option. */
static int take_exec_args(int argc, char **argv, struct jailer_options *opts,
			  struct tern_error *err)
{
	if (optind < argc && strcmp(argv[optind - 1], "--"))
		return tern_error_set(err, EINVAL,
				      "unexpected argument '%.100s' (the exec "
				      "file's arguments go after '--')",
				      argv[optind]);
	opts->exec_args = argv + optind;
	opts->exec_arg_count = argc - optind;
	return 0;
}

int jailer_options_parse(int argc, char **argv, struct jailer_options *opts,
			 struct tern_error *err)
{
	int opt, ret;

	set_defaults(opts);
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", jailer_long_options,
				  NULL)) != -1) {
		if (opt == OPT_HELP)
			return 1;
		if (opt == ':')
			return tern_error_set(err, EINVAL,
					      "option '%.100s' needs a value",
					      argv[optind - 1]);
		if (opt == '?')
			return tern_error_set(err, EINVAL,
					      "unknown option '%.100s'",
					      argv[optind - 1]);
		ret = take_option(opt, optarg, opts, err);
		if (ret)
			return ret;
	}
	ret = take_exec_args(argc, argv, opts, err);
	return ret ? ret : check_required(opts, err);
}
