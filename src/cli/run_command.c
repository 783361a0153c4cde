#include "cli/run_command.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "arch/x86/layout.h"
#include "cli/disk_option.h"
#include "cli/exit_status.h"
#include "cli/net_option.h"
#include "util/log.h"
#include "util/size.h"
#include "vm/vm.h"

#define DEFAULT_MEMORY (256ULL << 20)
/* reboot=k: the i8042 reset is the path tern turns into a clean exit. */
#define DEFAULT_CMDLINE "console=ttyS0 reboot=k"

enum {
	OPT_KERNEL = 'k',
	OPT_INITRD = 'i',
	OPT_CMDLINE = 'c',
	OPT_CPUS = 'n',
	OPT_MEMORY = 'm',
	OPT_HELP = 'h',
	OPT_SERIAL = 256,
	OPT_CPU_TEMPLATE,
	OPT_KVM_DEVICE,
	OPT_LOG_LEVEL,
	OPT_DISK,
	OPT_NET,
	OPT_RNG,
	OPT_TRANSPORT,
};

static const struct option run_options[] = {
	{"kernel", required_argument, NULL, OPT_KERNEL},
	{"initrd", required_argument, NULL, OPT_INITRD},
	{"cmdline", required_argument, NULL, OPT_CMDLINE},
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"serial", required_argument, NULL, OPT_SERIAL},
	{"cpu-template", required_argument, NULL, OPT_CPU_TEMPLATE},
	{"kvm-device", required_argument, NULL, OPT_KVM_DEVICE},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"disk", required_argument, NULL, OPT_DISK},
	{"net", required_argument, NULL, OPT_NET},
	{"rng", no_argument, NULL, OPT_RNG},
	{"transport", required_argument, NULL, OPT_TRANSPORT},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

void run_command_print_help(FILE *out)
{
	fprintf(out,
		"Usage: tern run --kernel PATH [OPTIONS]\n"
		"\n"
		"Boot a Linux kernel in a new KVM virtual machine and connect "
		"its serial\n"
		"console to this terminal. tern exits when the guest reboots "
		"or powers off.\n"
		"\n"
		"Options:\n"
		"  -k, --kernel PATH      kernel to boot: a bzImage (Linux "
		"boot protocol 2.12+,\n"
		"                         64-bit entry) or an uncompressed "
		"vmlinux ELF with a\n"
		"                         PVH entry note (CONFIG_PVH=y). "
		"Required.\n"
		"  -i, --initrd PATH      initial ramdisk to load beside the "
		"kernel\n"
		"  -c, --cmdline STR      kernel command line (default: "
		"\"%s\")\n"
		"  -n, --cpus N           number of vCPUs, 1 to %d (default: "
		"1)\n"
		"  -m, --memory SIZE      guest RAM; a number with an optional "
		"suffix K, M, G, T\n"
		"                         (powers of 1024); a bare number is "
		"MiB. At least 64M,\n"
		"                         at most the host's RAM plus swap "
		"(default: 256M)\n"
		"      --serial MODE      where the guest console (COM1) "
		"goes:\n"
		"                           stdio      this terminal, in raw "
		"mode (default)\n"
		"                           file:PATH  append the output to "
		"PATH, no input\n"
		"                           none       discard it\n"
		"      --cpu-template NAME\n"
		"                         CPU features the guest sees "
		"(default: host):\n",
		DEFAULT_CMDLINE, VM_MAX_CPUS);
	cpu_template_print_all(out);
	fprintf(out,
		"      --disk path=FILE[,readonly][,id=NAME][,cache=MODE]"
		"[,engine=ENGINE]\n"
		"                         a raw disk image (a file or a block "
		"device) as a\n"
		"                         virtio-blk disk: /dev/vda, /dev/vdb, "
		"... in order.\n"
		"                         Repeatable, up to %d disks. Its size "
		"must be a multiple\n"
		"                         of 512 bytes; tern locks it so no "
		"other VM writes it.\n"
		"                           readonly   the guest cannot write "
		"it\n"
		"                           id=NAME    serial the guest reads "
		"(/sys/block/vdX/serial),\n"
		"                                      up to 20 characters "
		"(default: diskN)\n"
		"                           cache=writeback  host page cache; "
		"guest flushes\n"
		"                                      call fdatasync "
		"(default)\n"
		"                           cache=none O_DIRECT, no host "
		"page cache\n"
		"                           engine=io_uring|threads  how I/O "
		"runs (default:\n"
		"                                      io_uring, threads where "
		"it is unavailable)\n",
		VM_MAX_DISKS);
	fprintf(out,
		"      --net tap=NAME[,mac=MAC]\n"
		"                         a virtio-net interface on the host "
		"tap NAME (made with\n"
		"                         'ip tuntap add NAME mode tap', or "
		"created by tern when\n"
		"                         it may); MAC default: 52:54:00 "
		"plus a hash of NAME.\n"
		"                         Repeat for more interfaces (at most "
		"%d)\n"
		"      --rng              add a virtio-rng device (PCI) fed by "
		"the host's\n"
		"                         getrandom(): the guest's "
		"/dev/hwrng\n"
		"      --transport T      how virtio devices appear: pci "
		"(modern virtio-pci,\n"
		"                         MSI-X) or mmio (virtio-mmio, "
		"announced in the ACPI\n"
		"                         DSDT and on the command line). "
		"Default: pci, or mmio\n"
		"                         when the command line has pci=off\n"
		"      --kvm-device PATH  KVM device node (default: /dev/kvm)\n"
		"      --log-level LEVEL  error, warn, info or debug (default: "
		"info)\n"
		"  -h, --help             show this help and exit\n"
		"\n"
		"Console: with --serial stdio, every key goes to the guest. "
		"Ctrl-A x quits\n"
		"tern; Ctrl-A Ctrl-A sends a Ctrl-A.\n"
		"\n"
		"Boot-time marker: a guest byte write of %d to I/O port 0x%x "
		"makes tern log\n"
		"the time since it started: from the guest's init, a "
		"program doing\n"
		"outb(%d, 0x%x) after ioperm() (see "
		"guest/tools/boot-marker.c), "
		"or, on\n"
		"kernels with /dev/port, printf '\\173' | dd of=/dev/port bs=1 "
		"seek=%d.\n"
		"\n"
		"Exit status:\n"
		"  0    the guest rebooted or powered off, or Ctrl-A x\n"
		"  1    tern could not set up the VM (KVM, files, kernel "
		"format)\n"
		"  2    the command line is wrong\n"
		"  3    the guest triple-faulted (registers on stderr)\n"
		"  4    KVM internal error or failed VM entry (registers on "
		"stderr)\n"
		"  5    the guest caused an exit tern cannot handle\n"
		"  128+N  tern was stopped by signal N\n",
		VM_MAX_NETS, TERN_BOOT_MARKER_VALUE, TERN_BOOT_MARKER_PORT,
		TERN_BOOT_MARKER_VALUE, TERN_BOOT_MARKER_PORT,
		TERN_BOOT_MARKER_PORT);
}

static int parse_cpus(const char *text, int *cpus, struct tern_error *err)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno || *end || end == text || value < 1)
		return tern_error_set(err, EINVAL,
				      "--cpus '%s' is not a positive number",
				      text);
	if (value > VM_MAX_CPUS)
		return tern_error_set(err, EINVAL,
				      "--cpus %ld is too many: tern supports "
				      "at most %d vCPUs",
				      value, VM_MAX_CPUS);
	*cpus = (int)value;
	return 0;
}

static uint64_t host_memory_limit(void)
{
	struct sysinfo info;

	if (sysinfo(&info) < 0)
		return UINT64_MAX;
	return ((uint64_t)info.totalram + info.totalswap) * info.mem_unit;
}

static int parse_memory(const char *text, uint64_t *bytes,
			struct tern_error *err)
{
	uint64_t limit;

	if (size_parse(text, bytes))
		return tern_error_set(err, EINVAL,
				      "--memory '%s' is not a size (examples: "
				      "512M, 2G, 1024)",
				      text);
	if (*bytes < VM_MIN_MEMORY)
		return tern_error_set(err, EINVAL,
				      "--memory %s is too small: tern needs at "
				      "least 64 MiB",
				      text);
	limit = host_memory_limit();
	if (*bytes > limit)
		return tern_error_set(err, EINVAL,
				      "--memory %s is more than this host's "
				      "RAM and swap (%llu MiB)",
				      text, (unsigned long long)(limit >> 20));
	return 0;
}

static int parse_serial(const char *text, struct vm_config *config,
			struct tern_error *err)
{
	if (!strcmp(text, "stdio")) {
		config->serial_mode = SERIAL_MODE_STDIO;
	} else if (!strcmp(text, "none")) {
		config->serial_mode = SERIAL_MODE_NONE;
	} else if (!strncmp(text, "file:", 5) && text[5]) {
		config->serial_mode = SERIAL_MODE_FILE;
		config->serial_path = text + 5;
	} else {
		return tern_error_set(err, EINVAL,
				      "--serial '%s': use stdio, none or "
				      "file:PATH",
				      text);
	}
	return 0;
}

static int parse_log_level(const char *text, struct tern_error *err)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	for (int i = 0; i < 4; i++) {
		if (!strcmp(text, names[i])) {
			log_set_level((enum log_level)i);
			return 0;
		}
	}
	return tern_error_set(
		err, EINVAL, "--log-level '%s': use error, warn, info or debug",
		text);
}

static int parse_option(int opt, const char *arg, struct vm_config *config,
			struct tern_error *err)
{
	switch (opt) {
	case OPT_KERNEL:
		config->kernel_path = arg;
		return 0;
	case OPT_INITRD:
		config->initrd_path = arg;
		return 0;
	case OPT_CMDLINE:
		config->cmdline = arg;
		return 0;
	case OPT_CPUS:
		return parse_cpus(arg, &config->cpu_count, err);
	case OPT_MEMORY:
		return parse_memory(arg, &config->memory_size, err);
	case OPT_SERIAL:
		return parse_serial(arg, config, err);
	case OPT_CPU_TEMPLATE:
		config->cpu_template = cpu_template_find(arg);
		if (!config->cpu_template)
			return tern_error_set(err, EINVAL,
					      "--cpu-template '%s' is unknown "
					      "(see tern run --help)",
					      arg);
		return 0;
	case OPT_KVM_DEVICE:
		config->kvm_path = arg;
		return 0;
	case OPT_LOG_LEVEL:
		return parse_log_level(arg, err);
	case OPT_DISK:
		return disk_option_parse(arg, config, err);
	case OPT_NET:
		return net_option_parse(arg, config, err);
	case OPT_RNG:
		config->virtio_rng = 1;
		return 0;
	case OPT_TRANSPORT:
		if (!strcmp(arg, "pci"))
			config->virtio_transport = VIRTIO_TRANSPORT_PCI;
		else if (!strcmp(arg, "mmio"))
			config->virtio_transport = VIRTIO_TRANSPORT_MMIO;
		else
			return tern_error_set(err, EINVAL,
					      "--transport '%s': use pci or "
					      "mmio",
					      arg);
		return 0;
	}
	return tern_error_set(err, EINVAL, "unknown option");
}

int run_command_parse(int argc, char **argv, struct vm_config *config,
		      struct tern_error *err)
{
	int opt, ret;

	memset(config, 0, sizeof(*config));
	config->kvm_path = "/dev/kvm";
	config->memory_size = DEFAULT_MEMORY;
	config->cpu_count = 1;
	config->cmdline = DEFAULT_CMDLINE;
	config->serial_mode = SERIAL_MODE_STDIO;
	config->cpu_template = cpu_template_find("host");

	optind = 0; /* reset getopt: tests parse several command lines */
	opterr = 0; /* tern reports unknown options itself, in one line */
	while ((opt = getopt_long(argc, argv, ":k:i:c:n:m:h", run_options,
				  NULL)) != -1) {
		if (opt == OPT_HELP)
			return 1;
		if (opt == '?')
			return tern_error_set(err, EINVAL,
					      "unknown option '%s'",
					      argv[optind - 1]);
		if (opt == ':')
			return tern_error_set(err, EINVAL,
					      "option '%s' needs a value",
					      argv[optind - 1]);
		ret = parse_option(opt, optarg, config, err);
		if (ret)
			return ret;
	}
	if (optind < argc)
		return tern_error_set(err, EINVAL, "unexpected argument '%s'",
				      argv[optind]);
	if (!config->kernel_path)
		return tern_error_set(err, EINVAL, "--kernel is required");
	return net_options_finish(config, err);
}

static int exit_status_for(const struct vm *vm, enum vm_stop_reason reason)
{
	switch (reason) {
	case VM_STOP_NONE:
	case VM_STOP_GUEST_RESET:
	case VM_STOP_GUEST_POWEROFF:
	case VM_STOP_USER_QUIT:
		return TERN_EXIT_OK;
	case VM_STOP_SIGNAL:
		return TERN_EXIT_SIGNAL_BASE + vm->stop_signal;
	case VM_STOP_TRIPLE_FAULT:
		return TERN_EXIT_TRIPLE_FAULT;
	case VM_STOP_INTERNAL_ERROR:
		return TERN_EXIT_KVM_ERROR;
	case VM_STOP_UNHANDLED_EXIT:
		return TERN_EXIT_UNHANDLED_EXIT;
	}
	return TERN_EXIT_UNHANDLED_EXIT;
}

static const char *stop_reason_text(enum vm_stop_reason reason)
{
	switch (reason) {
	case VM_STOP_GUEST_RESET:
		return "guest rebooted";
	case VM_STOP_GUEST_POWEROFF:
		return "guest powered off";
	case VM_STOP_USER_QUIT:
		return "quit from the console";
	case VM_STOP_SIGNAL:
		return "stopped by a signal";
	case VM_STOP_TRIPLE_FAULT:
		return "guest triple-faulted";
	case VM_STOP_INTERNAL_ERROR:
		return "KVM internal error";
	case VM_STOP_UNHANDLED_EXIT:
		return "unhandled exit";
	case VM_STOP_NONE:
		break;
	}
	return "stopped";
}

int run_command_main(int argc, char **argv)
{
	struct tern_error err = {{0}};
	struct vm_config config;
	enum vm_stop_reason reason;
	struct vm *vm;
	int ret, status;

	ret = run_command_parse(argc, argv, &config, &err);
	if (ret == 1) {
		run_command_print_help(stdout);
		return TERN_EXIT_OK;
	}
	if (ret) {
		fprintf(stderr, "tern: %s (see 'tern run --help')\n",
			err.message);
		return TERN_EXIT_USAGE;
	}

	vm = malloc(sizeof(*vm));
	if (!vm) {
		fprintf(stderr, "tern: out of memory\n");
		return TERN_EXIT_RUNTIME_ERROR;
	}
	ret = vm_create(vm, &config, &err);
	if (!ret)
		ret = vm_load_kernel(vm, &err);
	if (ret) {
		fprintf(stderr, "tern: %s\n", err.message);
		vm_destroy(vm);
		free(vm);
		return TERN_EXIT_RUNTIME_ERROR;
	}
	log_debug("VM ready: %d vCPUs, %llu MiB", config.cpu_count,
		  (unsigned long long)(config.memory_size >> 20));
	reason = vm_run(vm);
	status = exit_status_for(vm, reason);
	if (status != TERN_EXIT_OK)
		log_error("%s, exit status %d", stop_reason_text(reason),
			  status);
	else
		log_debug("%s", stop_reason_text(reason));
	vm_destroy(vm);
	free(vm);
	return status;
}
