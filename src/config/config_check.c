#include "config/config_check.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>

#include "backends/tap.h"
#include "memory/guest_memory.h"
#include "util/log.h"
#include "virtio/virtio_balloon.h"
#include "virtio/virtio_vsock.h"
#include "virtio/vsock/vsock_unix.h"

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

int config_check_input_file(const char *field, const char *path,
			    struct tern_error *err)
{
	struct stat st;
	int ret = config_check_path(field, path, err);
	int fd;

	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tern_error_set(err, errno, "%s %s: %s", field, path,
				      strerror(errno));
	ret = fstat(fd, &st);
	close(fd);
	if (ret < 0)
		return tern_error_set(err, errno, "%s %s: %s", field, path,
				      strerror(errno));
	if (!S_ISREG(st.st_mode))
		return tern_error_set(err, EINVAL,
				      "%s %s is not a regular file", field,
				      path);
	return 0;
}

int config_check_log_module(const char *field, const char *module,
			    struct tern_error *err)
{
	size_t len = strlen(module);

	if (len == 0 || len > 128)
		return tern_error_set(err, EINVAL,
				      "%s must be 1 to 128 characters", field);
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)module[i]) && module[i] != '_' &&
		    module[i] != ':')
			return tern_error_set(err, EINVAL,
					      "%s '%.128s': use letters, "
					      "digits, '_' and '::' (a module "
					      "path such as api::api_server)",
					      field, module);
	return 0;
}

int config_check_partuuid(const char *field, const char *text,
			  struct tern_error *err)
{
	size_t len = strlen(text);

	if (len == 0 || len > VM_DISK_PARTUUID_MAX)
		return tern_error_set(err, EINVAL,
				      "%s must be 1 to %d characters", field,
				      VM_DISK_PARTUUID_MAX);
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)text[i]) && text[i] != '-')
			return tern_error_set(err, EINVAL,
					      "%s '%.40s' is not a partition "
					      "UUID (hex digits and '-')",
					      field, text);
	return 0;
}

const char *config_disk_cache_name(enum block_cache_mode cache)
{
	switch (cache) {
	case BLOCK_CACHE_NONE:
		return "None";
	case BLOCK_CACHE_UNSAFE:
		return "Unsafe";
	case BLOCK_CACHE_WRITEBACK:
		break;
	}
	return "Writeback";
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
	} else if (!strncmp(text, "unix:", 5) && text[5] &&
		   !strchr(text, '\n')) {
		config->serial_mode = SERIAL_MODE_UNIX;
		config->serial_path = text + 5;
	} else {
		return tern_error_set(err, EINVAL,
				      "%s '%s': use stdio, none, file:PATH or "
				      "unix:PATH",
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

int config_parse_on_reboot(const char *field, const char *text,
			   enum vm_reboot_action *action,
			   struct tern_error *err)
{
	if (!strcmp(text, "exit"))
		*action = VM_REBOOT_EXIT;
	else if (!strcmp(text, "restart"))
		*action = VM_REBOOT_RESTART;
	else
		return tern_error_set(err, EINVAL,
				      "%s '%s': use exit or restart", field,
				      text);
	return 0;
}

int config_parse_acpi_mode(const char *field, const char *text,
			   enum vm_acpi_mode *mode, struct tern_error *err)
{
	if (!strcmp(text, "full"))
		*mode = VM_ACPI_FULL;
	else if (!strcmp(text, "reduced"))
		*mode = VM_ACPI_REDUCED;
	else
		return tern_error_set(err, EINVAL,
				      "%s '%s': use full or reduced", field,
				      text);
	return 0;
}

const char *config_on_reboot_name(enum vm_reboot_action action)
{
	return action == VM_REBOOT_RESTART ? "restart" : "exit";
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
		return tern_error_set(
			err, EINVAL,
			"%s '%.64s' is unknown (tern's templates: "
			"host, x86-64-v2, minimal; Firecracker's: "
			"C3, T2, T2S, T2CL, T2A)",
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

static const char *const huge_pages_names[] = {
	[VM_HUGE_PAGES_NONE] = "None",
	[VM_HUGE_PAGES_TRANSPARENT] = "Transparent",
	[VM_HUGE_PAGES_2M] = "2M",
};

int config_parse_huge_pages(const char *field, const char *text,
			    enum vm_huge_pages *out, struct tern_error *err)
{
	for (int i = 0; i <= VM_HUGE_PAGES_2M; i++)
		if (!strcmp(text, huge_pages_names[i])) {
			*out = (enum vm_huge_pages)i;
			return 0;
		}
	return tern_error_set(err, EINVAL,
			      "%s '%.32s': expected None, Transparent or 2M",
			      field, text);
}

const char *config_huge_pages_name(enum vm_huge_pages huge_pages)
{
	return (unsigned)huge_pages <= VM_HUGE_PAGES_2M
		? huge_pages_names[huge_pages]
		: "None";
}

int config_check_huge_pages_fit(const struct vm_config *config,
				const char *memory_field,
				struct tern_error *err)
{
	if (config->huge_pages == VM_HUGE_PAGES_NONE ||
	    config->memory_size % GUEST_MEMORY_HUGE_PAGE_SIZE == 0)
		return 0;
	return tern_error_set(err, EINVAL,
			      "%s (%llu KiB) must be a multiple of 2 MiB with "
			      "huge_pages %s",
			      memory_field,
			      (unsigned long long)(config->memory_size >> 10),
			      config_huge_pages_name(config->huge_pages));
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

int config_check_disk_id(const char *field, const char *id,
			 struct tern_error *err)
{
	size_t len = strlen(id);

	if (!len || len > VM_DISK_ID_MAX)
		return tern_error_set(err, EINVAL,
				      "%s must be 1 to %d characters", field,
				      VM_DISK_ID_MAX);
	for (size_t i = 0; i < len; i++)
		if (id[i] <= ' ' || id[i] > '~')
			return tern_error_set(err, EINVAL,
					      "%s must be printable ASCII "
					      "without spaces",
					      field);
	return 0;
}

int config_parse_disk_cache(const char *field, const char *text,
			    enum block_cache_mode *cache,
			    struct tern_error *err)
{
	if (!strcasecmp(text, "writeback"))
		*cache = BLOCK_CACHE_WRITEBACK;
	else if (!strcasecmp(text, "none"))
		*cache = BLOCK_CACHE_NONE;
	else if (!strcasecmp(text, "unsafe"))
		/* Unsafe lets a VMM ignore the guest's flushes; tern honours
		 * them anyway (the same data path as writeback). */
		*cache = BLOCK_CACHE_UNSAFE;
	else
		return tern_error_set(err, EINVAL,
				      "%s is Unsafe, Writeback or None, not "
				      "'%.32s'",
				      field, text);
	return 0;
}

int config_parse_disk_engine(const char *field, const char *text,
			     enum block_engine *engine, struct tern_error *err)
{
	if (!strcmp(text, "io_uring") || !strcmp(text, "Async"))
		*engine = BLOCK_ENGINE_IO_URING;
	else if (!strcmp(text, "threads") || !strcmp(text, "Sync"))
		*engine = BLOCK_ENGINE_THREADS;
	else
		return tern_error_set(
			err, EINVAL,
			"%s is io_uring or threads (Firecracker's "
			"Async or Sync), not '%.32s'",
			field, text);
	return 0;
}

/* The config's own copy of a disk's or pmem device's path. */
static char *config_path_copy(const char *where, const char *path, int *ret,
			      struct tern_error *err)
{
	char *copy = vm_config_path_dup(path);

	if (copy)
		return copy;
	*ret = errno == ENAMETOOLONG
		? tern_error_set(err, ENAMETOOLONG,
				 "%s: the path is longer than %d bytes", where,
				 PATH_MAX - 1)
		: tern_error_set(err, ENOMEM, "out of memory");
	return NULL;
}

int config_add_disk(const char *where, struct vm_config *config,
		    const struct vm_disk_config *disk, int replace,
		    struct tern_error *err)
{
	struct stat st, other;
	int slot = config->disk_count;
	char *path;
	int ret;

	if (stat(disk->path, &st) < 0)
		return tern_error_set(err, EINVAL, "%s path=%s: %s", where,
				      disk->path, strerror(errno));
	for (int i = 0; i < config->disk_count; i++) {
		const struct vm_disk_config *o = &config->disks[i];

		if (!strcmp(o->id, disk->id)) {
			if (!replace)
				return tern_error_set(err, EINVAL,
						      "%s: two disks have the "
						      "id '%s'",
						      where, disk->id);
			slot = i;
		}
	}
	for (int i = 0; i < config->disk_count; i++) {
		const struct vm_disk_config *o = &config->disks[i];

		if (i == slot)
			continue;
		if (stat(o->path, &other) == 0 && other.st_dev == st.st_dev &&
		    other.st_ino == st.st_ino)
			return tern_error_set(err, EINVAL,
					      "%s: %s is given twice (as '%s' "
					      "and '%s')",
					      where, disk->path, o->id,
					      disk->id);
		if (o->root && disk->root)
			return tern_error_set(err, EINVAL,
					      "%s: '%s' and '%s' are both the "
					      "root device",
					      where, o->id, disk->id);
	}
	if (slot == config->disk_count && config->disk_count >= VM_MAX_DISKS)
		return tern_error_set(err, EINVAL,
				      "%s: at most %d disks are supported",
				      where, VM_MAX_DISKS);
	path = config_path_copy(where, disk->path, &ret, err);
	if (!path)
		return ret;
	if (slot == config->disk_count)
		config->disk_count++;
	free(config->disks[slot].path);
	config->disks[slot] = *disk;
	config->disks[slot].path = path;
	return 0;
}

int config_add_pmem(const char *where, struct vm_config *config,
		    const struct vm_pmem_config *pmem, int replace,
		    struct tern_error *err)
{
	char *path;
	int slot, ret;

	for (slot = 0; slot < config->pmem_count; slot++)
		if (!strcmp(config->pmems[slot].id, pmem->id))
			break;
	if (slot < config->pmem_count && !replace)
		return tern_error_set(err, EINVAL, "%s '%s' is listed twice",
				      where, pmem->id);
	if (slot == config->pmem_count && slot >= VM_MAX_PMEM)
		return tern_error_set(err, EINVAL, "%s: at most %d devices",
				      where, VM_MAX_PMEM);
	for (int i = 0; pmem->root && i < config->pmem_count; i++)
		if (i != slot && config->pmems[i].root)
			return tern_error_set(err, EINVAL,
					      "%s '%s': '%s' is the root "
					      "device already",
					      where, pmem->id,
					      config->pmems[i].id);
	for (int i = 0; pmem->root && i < config->disk_count; i++)
		if (config->disks[i].root)
			return tern_error_set(err, EINVAL,
					      "%s '%s': drive '%s' is the "
					      "root device already",
					      where, pmem->id,
					      config->disks[i].id);
	path = config_path_copy(where, pmem->path, &ret, err);
	if (!path)
		return ret;
	free(config->pmems[slot].path);
	config->pmems[slot] = *pmem;
	config->pmems[slot].path = path;
	if (slot == config->pmem_count)
		config->pmem_count++;
	return 0;
}

int config_check_vsock_cid(const char *field, unsigned long long cid,
			   struct tern_error *err)
{
	if (cid < VIRTIO_VSOCK_MIN_CID || cid > VIRTIO_VSOCK_MAX_CID)
		return tern_error_set(err, EINVAL,
				      "%s%llu: use 3 to %llu (0-2 are "
				      "reserved)",
				      field, cid, VIRTIO_VSOCK_MAX_CID);
	return 0;
}

int config_check_vsock_path(const char *field, const char *path,
			    struct tern_error *err)
{
	if (!path[0])
		return tern_error_set(err, EINVAL, "%s needs a path", field);
	if (strlen(path) > VSOCK_UNIX_PATH_MAX)
		return tern_error_set(err, EINVAL,
				      "%s is longer than %d bytes (it must fit "
				      "a Unix socket address with _PORT after "
				      "it)",
				      field, VSOCK_UNIX_PATH_MAX);
	if (strchr(path, '\n'))
		return tern_error_set(err, EINVAL,
				      "%s holds a newline character", field);
	return 0;
}

int config_parse_mac(const char *field, const char *text, uint8_t mac[6],
		     struct tern_error *err)
{
	uint8_t parsed[6];
	int zero = 1;

	for (int i = 0; i < 6; i++) {
		const char *p = text + 3 * i;

		if (!isxdigit((unsigned char)p[0]) ||
		    !isxdigit((unsigned char)p[1]) ||
		    p[2] != (i == 5 ? '\0' : ':'))
			goto bad;
		sscanf(p, "%2hhx", &parsed[i]);
		zero &= parsed[i] == 0;
	}
	/* Bit 0 of the first octet marks a group address, which no NIC
	 * may use as its own. */
	if (zero || parsed[0] & 1)
		goto bad;
	memcpy(mac, parsed, 6);
	return 0;
bad:
	return tern_error_set(err, EINVAL,
			      "%s '%.32s' is not a unicast MAC address "
			      "(example: 52:54:00:12:34:56)",
			      field, text);
}

int config_check_tap_name(const char *field, const char *name,
			  struct tern_error *err)
{
	struct tern_error name_err = {{0}};

	if (tap_check_name(name, &name_err))
		return tern_error_set(err, EINVAL, "%s: %s", field,
				      name_err.message);
	return 0;
}

/* FNV-1a: a fixed, well-spread hash, so the same tap name gives the same
 * MAC on every run (the guest's view of its NIC stays put). */
static uint32_t hash_name(const char *name, uint32_t salt)
{
	uint32_t h = 2166136261u ^ salt;

	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

static int mac_in_use(const struct vm_config *config, int self)
{
	for (int i = 0; i < config->net_count; i++)
		if (i != self && (config->nets[i].mac_given || i < self) &&
		    !memcmp(config->nets[i].mac, config->nets[self].mac, 6))
			return 1;
	return 0;
}

int config_finish_nets(const char *where, struct vm_config *config,
		       struct tern_error *err)
{
	for (int i = 0; i < config->net_count; i++) {
		struct vm_net_config *net = &config->nets[i];

		for (int j = 0; j < i; j++) {
			if (!strcmp(config->nets[j].tap_name, net->tap_name))
				return tern_error_set(err, EINVAL,
						      "%s: tap %s named twice",
						      where, net->tap_name);
			if (!strcmp(config->nets[j].id, net->id))
				return tern_error_set(err, EINVAL,
						      "%s: two interfaces have "
						      "the id '%s'",
						      where, net->id);
		}
		if (net->mac_given) {
			if (mac_in_use(config, i))
				return tern_error_set(
					err, EINVAL,
					"%s: MAC %02x:%02x:%02x:%02x:%02x:"
					"%02x given twice",
					where, net->mac[0], net->mac[1],
					net->mac[2], net->mac[3], net->mac[4],
					net->mac[5]);
			continue;
		}
		/* 52:54:00 has the locally administered bit set and is
		 * the prefix people know from QEMU guests. */
		for (uint32_t salt = 0;; salt++) {
			uint32_t h = hash_name(net->tap_name, salt);

			net->mac[0] = 0x52;
			net->mac[1] = 0x54;
			net->mac[2] = 0x00;
			net->mac[3] = (uint8_t)(h >> 16);
			net->mac[4] = (uint8_t)(h >> 8);
			net->mac[5] = (uint8_t)h;
			if (!mac_in_use(config, i))
				break;
		}
	}
	return 0;
}

int config_add_net(const char *where, struct vm_config *config,
		   const struct vm_net_config *net, int replace,
		   struct tern_error *err)
{
	int slot = config->net_count;

	for (int i = 0; i < config->net_count; i++)
		if (!strcmp(config->nets[i].id, net->id)) {
			if (!replace)
				return tern_error_set(err, EINVAL,
						      "%s: two interfaces have "
						      "the id '%s'",
						      where, net->id);
			slot = i;
		}
	if (slot == config->net_count) {
		if (config->net_count >= VM_MAX_NETS)
			return tern_error_set(err, EINVAL,
					      "%s: at most %d interfaces",
					      where, VM_MAX_NETS);
		config->net_count++;
	}
	config->nets[slot] = *net;
	return config_finish_nets(where, config, err);
}

int config_check_firmware(const struct vm_config *config,
			  struct tern_error *err)
{
	if (!config->firmware_path)
		return 0;
	/* SeaBIOS boots what is on the disk; its direct kernel boot needs
	 * QEMU's own option ROM (linuxboot), which tern does not have. */
	if (config->kernel_path || config->initrd_path || config->module_count)
		return tern_error_set(err, EINVAL,
				      "a firmware boots the guest from its "
				      "disk: no kernel, initrd or module "
				      "beside it");
	if (config->cmdline &&
	    strcmp(config->cmdline, VM_CONFIG_DEFAULT_CMDLINE))
		return tern_error_set(err, EINVAL,
				      "a firmware boots the guest from its "
				      "disk: the kernel command line is the "
				      "boot loader's");
	/* pc-testdev's MMIO window (0xff000000) lies inside the last 16 MiB
	 * below 4 GiB, where a firmware image is mapped. */
	if (config->pc_testdev)
		return tern_error_set(err, EINVAL,
				      "--pc-testdev is for test kernels, "
				      "not with a firmware");
	/* The BIOS leaves the 8259 PIC programmed: an OS told by a
	 * hardware-reduced FADT that there is none never masks it
	 * (devices/acpi_pm1.h). */
	if (config->acpi_mode == VM_ACPI_REDUCED)
		return tern_error_set(err, EINVAL,
				      "--acpi reduced is for direct kernel "
				      "boots: a firmware VM has full ACPI");
	/* SeaBIOS finds virtio-blk disks on PCI only. */
	if (config->virtio_transport == VIRTIO_TRANSPORT_MMIO)
		return tern_error_set(err, EINVAL,
				      "a firmware needs the pci transport "
				      "(its boot disk is a virtio-pci "
				      "device)");
	return 0;
}

int config_check_bootable(const struct vm_config *config, const char *field,
			  struct tern_error *err)
{
	if (!config->kernel_path && !config->firmware_path)
		return tern_error_set(err, EINVAL, "%s is not set", field);
	return config_check_firmware(config, err);
}
