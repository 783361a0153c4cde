#include "config/config_check.h"

#include <errno.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "util/log.h"
#include "virtio/virtio_balloon.h"

void vm_config_set_defaults(struct vm_config *config)
{
	memset(config, 0, sizeof(*config));
	config->kvm_path = "/dev/kvm";
	config->memory_size = VM_CONFIG_DEFAULT_MEMORY;
	config->cpu_count = 1;
	config->cmdline = VM_CONFIG_DEFAULT_CMDLINE;
	config->serial_mode = SERIAL_MODE_STDIO;
	config->cpu_template = cpu_template_find("host");
	config->log_level = LOG_INFO;
}

int config_check_cpu_count(const char *field, long long value,
			   struct tern_error *err)
{
	if (value < 1)
		return tern_error_set(err, EINVAL,
				      "%s %lld is not a positive number", field,
				      value);
	if (value > VM_MAX_CPUS)
		return tern_error_set(err, EINVAL,
				      "%s %lld is too many: tern supports "
				      "at most %d vCPUs",
				      field, value, VM_MAX_CPUS);
	return 0;
}

static uint64_t host_memory_limit(void)
{
	struct sysinfo info;

	if (sysinfo(&info) < 0)
		return UINT64_MAX;
	return ((uint64_t)info.totalram + info.totalswap) * info.mem_unit;
}

int config_check_memory(const char *field, uint64_t bytes, const char *shown,
			struct tern_error *err)
{
	uint64_t limit;

	if (bytes < VM_MIN_MEMORY)
		return tern_error_set(err, EINVAL,
				      "%s %s is too small: tern needs at least "
				      "64 MiB",
				      field, shown);
	if (bytes % (1ULL << 20))
		return tern_error_set(err, EINVAL,
				      "%s %s is not a whole number of MiB",
				      field, shown);
	limit = host_memory_limit();
	if (bytes > limit)
		return tern_error_set(err, EINVAL,
				      "%s %s is more than this host's RAM and "
				      "swap (%llu MiB)",
				      field, shown,
				      (unsigned long long)(limit >> 20));
	return 0;
}

int config_check_path(const char *field, const char *path,
		      struct tern_error *err)
{
	if (!path[0])
		return tern_error_set(err, EINVAL, "%s is empty", field);
	if (strchr(path, '\n'))
		return tern_error_set(err, EINVAL,
				      "%s holds a newline character", field);
	return 0;
}

int config_parse_serial(const char *field, const char *text,
			struct vm_config *config, struct tern_error *err)
{
	if (!strcmp(text, "stdio")) {
		config->serial_mode = SERIAL_MODE_STDIO;
		config->serial_path = NULL;
	} else if (!strcmp(text, "none")) {
		config->serial_mode = SERIAL_MODE_NONE;
		config->serial_path = NULL;
	} else if (!strncmp(text, "file:", 5) && text[5] &&
		   !strchr(text, '\n')) {
		config->serial_mode = SERIAL_MODE_FILE;
		config->serial_path = text + 5;
	} else {
		return tern_error_set(err, EINVAL,
				      "%s '%s': use stdio, none or file:PATH",
				      field, text);
	}
	return 0;
}

int config_parse_transport(const char *field, const char *text,
			   enum virtio_transport *transport,
			   struct tern_error *err)
{
	if (!strcmp(text, "pci"))
		*transport = VIRTIO_TRANSPORT_PCI;
	else if (!strcmp(text, "mmio"))
		*transport = VIRTIO_TRANSPORT_MMIO;
	else if (!strcmp(text, "auto"))
		*transport = VIRTIO_TRANSPORT_AUTO;
	else
		return tern_error_set(err, EINVAL,
				      "%s '%s': use pci, mmio or auto", field,
				      text);
	return 0;
}

const char *config_transport_name(enum virtio_transport transport)
{
	switch (transport) {
	case VIRTIO_TRANSPORT_PCI:
		return "pci";
	case VIRTIO_TRANSPORT_MMIO:
		return "mmio";
	case VIRTIO_TRANSPORT_AUTO:
		break;
	}
	return "auto";
}

int config_find_cpu_template(const char *field, const char *name,
			     const struct cpu_template **tmpl,
			     struct tern_error *err)
{
	*tmpl = cpu_template_find(name);
	if (!*tmpl)
		return tern_error_set(err, EINVAL,
				      "%s '%s' is unknown (tern's templates: "
				      "host, x86-64-v2, minimal; see tern run "
				      "--help)",
				      field, name);
	return 0;
}

int config_parse_log_level(const char *field, const char *text, int *level,
			   struct tern_error *err)
{
	enum log_level parsed;

	if (log_level_parse(text, &parsed))
		return tern_error_set(err, EINVAL,
				      "%s '%s': use error, warn, info, debug "
				      "or off",
				      field, text);
	*level = parsed;
	return 0;
}

int config_check_balloon_target(const char *field, uint64_t bytes,
				const char *shown, struct tern_error *err)
{
	if (bytes % 4096)
		return tern_error_set(err, EINVAL,
				      "%s %s is not a multiple of 4 KiB (the "
				      "balloon's page)",
				      field, shown);
	return 0;
}

int config_check_balloon_stats(const char *field, long long seconds,
			       const char *shown, struct tern_error *err)
{
	if (seconds < 0 || seconds > VIRTIO_BALLOON_MAX_STATS_INTERVAL_S)
		return tern_error_set(err, EINVAL,
				      "%s '%s' is not a number of seconds from "
				      "0 (off) to %d",
				      field, shown,
				      VIRTIO_BALLOON_MAX_STATS_INTERVAL_S);
	return 0;
}

int config_check_balloon_fits(const struct vm_config *config,
			      const char *balloon_field,
			      const char *memory_field, struct tern_error *err)
{
	const struct vm_balloon_config *balloon = &config->balloon;

	if (!balloon->enabled || balloon->target_bytes < config->memory_size)
		return 0;
	return tern_error_set(
		err, EINVAL, "%s (%llu MiB) must be less than %s (%llu MiB)",
		balloon_field,
		(unsigned long long)(balloon->target_bytes >> 20), memory_field,
		(unsigned long long)(config->memory_size >> 20));
}

int config_check_bootable(const struct vm_config *config, const char *field,
			  struct tern_error *err)
{
	if (!config->kernel_path)
		return tern_error_set(err, EINVAL, "%s is not set", field);
	return 0;
}
