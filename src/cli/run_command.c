#include "cli/run_command.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "api/api_server.h"
#include "arch/x86/firmware.h"
#include "arch/x86/layout.h"
#include "cli/disk_option.h"
#include "cli/pmem_option.h"
#include "config/memory_hotplug_json.h"
#include "cli/exit_status.h"
#include "cli/net_option.h"
#include "devices/debug_exit.h"
#include "devices/fw_cfg.h"
#include "config/config_check.h"
#include "control/instance.h"
#include "control/migration_control.h"
#include "control/snapshot_control.h"
#include "util/log.h"
#include "util/size.h"
#include "virtio/virtio_vsock.h"
#include "virtio/vsock/vsock_unix.h"
#include "vm/vm.h"

#define DEFAULT_CMDLINE VM_CONFIG_DEFAULT_CMDLINE

enum {
	OPT_KERNEL = 'k',
	OPT_INITRD = 'i',
	OPT_CMDLINE = 'c',
	OPT_CPUS = 'n',
	OPT_MEMORY = 'm',
	OPT_HELP = 'h',
	OPT_SERIAL = 256,
	OPT_CPU_TEMPLATE,
	OPT_HUGE_PAGES,
	OPT_KVM_DEVICE,
	OPT_LOG_LEVEL,
	OPT_DISK,
	OPT_PMEM,
	OPT_NET,
	OPT_RNG,
	OPT_TRANSPORT,
	OPT_CONFIG_FILE,
	OPT_API_SOCK,
	OPT_BALLOON,
	OPT_VSOCK,
	OPT_INCOMING,
	OPT_SERIAL_FILE_LIMIT,
	OPT_ALLOW_BLOCK_DEVICES,
	OPT_MIGRATION_TLS,
	OPT_INSECURE_PLAIN_TCP,
	OPT_MODULE,
	OPT_DEBUG_EXIT,
	OPT_PC_TESTDEV,
	OPT_HYPERV,
	OPT_HYPERV_TESTDEV,
	OPT_ON_REBOOT,
	OPT_SECCOMP,
	OPT_NO_SECCOMP,
	OPT_FIRMWARE,
	OPT_ACPI,
	OPT_MEMORY_HOTPLUG,
};

static const struct option run_options[] = {
	{"kernel", required_argument, NULL, OPT_KERNEL},
	{"firmware", required_argument, NULL, OPT_FIRMWARE},
	{"initrd", required_argument, NULL, OPT_INITRD},
	{"cmdline", required_argument, NULL, OPT_CMDLINE},
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"serial", required_argument, NULL, OPT_SERIAL},
	{"cpu-template", required_argument, NULL, OPT_CPU_TEMPLATE},
	{"huge-pages", required_argument, NULL, OPT_HUGE_PAGES},
	{"kvm-device", required_argument, NULL, OPT_KVM_DEVICE},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"disk", required_argument, NULL, OPT_DISK},
	{"pmem", required_argument, NULL, OPT_PMEM},
	{"net", required_argument, NULL, OPT_NET},
	{"rng", no_argument, NULL, OPT_RNG},
	{"transport", required_argument, NULL, OPT_TRANSPORT},
	{"config-file", required_argument, NULL, OPT_CONFIG_FILE},
	{"api-sock", required_argument, NULL, OPT_API_SOCK},
	{"balloon", optional_argument, NULL, OPT_BALLOON},
	{"memory-hotplug", required_argument, NULL, OPT_MEMORY_HOTPLUG},
	{"vsock", required_argument, NULL, OPT_VSOCK},
	{"incoming", required_argument, NULL, OPT_INCOMING},
	{"serial-file-limit", required_argument, NULL, OPT_SERIAL_FILE_LIMIT},
	{"allow-block-devices", no_argument, NULL, OPT_ALLOW_BLOCK_DEVICES},
	{"migration-tls", required_argument, NULL, OPT_MIGRATION_TLS},
	{"insecure-plain-tcp", no_argument, NULL, OPT_INSECURE_PLAIN_TCP},
	{"module", required_argument, NULL, OPT_MODULE},
	{"debug-exit", optional_argument, NULL, OPT_DEBUG_EXIT},
	{"pc-testdev", no_argument, NULL, OPT_PC_TESTDEV},
	{"hyperv", no_argument, NULL, OPT_HYPERV},
	{"hyperv-testdev", no_argument, NULL, OPT_HYPERV_TESTDEV},
	{"on-reboot", required_argument, NULL, OPT_ON_REBOOT},
	{"acpi", required_argument, NULL, OPT_ACPI},
	{"seccomp", required_argument, NULL, OPT_SECCOMP},
	{"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

void run_command_print_help(FILE *out)
{
	fprintf(out,
		"Usage: tern run --kernel PATH [OPTIONS]\n"
		"       tern run --firmware PATH --disk path=IMAGE [OPTIONS]\n"
		"       tern run --config-file FILE [OPTIONS]\n"
		"       tern run --api-sock PATH [OPTIONS]\n"
		"\n"
		"Boot a Linux kernel (or a Multiboot image) in a new KVM "
		"virtual machine and\n"
		"connect its serial console to this terminal. tern exits when "
		"the guest powers\n"
		"off, and when it reboots unless --on-reboot restart.\n"
		"\n"
		"Options:\n"
		"  -k, --kernel PATH      kernel to boot: a bzImage (Linux "
		"boot protocol 2.12+,\n"
		"                         64-bit entry), an uncompressed "
		"vmlinux ELF with a PVH\n"
		"                         entry note (CONFIG_PVH=y), or a "
		"Multiboot v1 image (a\n"
		"                         32-bit ELF, or any file using the "
		"a.out kludge), such\n"
		"                         as kvm-unit-tests' x86 tests. "
		"Required, unless\n"
		"                         --config-file or the API gives "
		"it.\n"
		"      --firmware PATH    boot a PC BIOS image instead of a "
		"kernel: SeaBIOS's\n"
		"                         bios.bin (Debian package seabios, "
		"/usr/share/seabios/),\n"
		"                         64 KiB to 16 MiB, a multiple of 64 "
		"KiB. It boots the\n"
		"                         first --disk (a partitioned image "
		"with a boot loader)\n"
		"                         and shows its screen on the serial "
		"console; its debug\n"
		"                         messages (port 0x402) go to the log "
		"at --log-level\n"
		"                         debug. Not with --kernel, --initrd, "
		"--module,\n"
		"                         --cmdline or --transport mmio\n"
		"  -i, --initrd PATH      initial ramdisk to load beside the "
		"kernel; a Multiboot\n"
		"                         kernel gets it as its first module, "
		"named PATH\n"
		"      --module PATH[,STRING]\n"
		"                         Multiboot kernels only: one more "
		"module after the\n"
		"                         initrd, with STRING (everything "
		"after the first comma)\n"
		"                         as its command line (default: "
		"PATH). Repeatable, up\n"
		"                         to %d, in order. A Multiboot "
		"kernel's "
		"command line is\n"
		"                         \"PATH ARGS\" as GRUB and QEMU give "
		"it, ARGS from\n"
		"                         --cmdline (no default there)\n"
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
		"                           unix:PATH  listen on the Unix "
		"socket PATH (0600): one\n"
		"                                      client at a time gets "
		"the output (what\n"
		"                                      came with none "
		"connected waits, the\n"
		"                                      newest 64 KiB) and "
		"types input; a new\n"
		"                                      client takes over "
		"(ternd's consoles)\n"
		"                           none       discard it\n"
		"                         PATH is never written through a "
		"symbolic link\n"
		"      --serial-file-limit SIZE\n"
		"                         with file:PATH, write at most SIZE "
		"bytes of guest\n"
		"                         output (suffix K, M, G; a bare "
		"number is bytes), then\n"
		"                         drop the rest with one warning; 0: "
		"no limit\n"
		"                         (default: 256M)\n"
		"      --cpu-template NAME\n"
		"                         CPU features the guest sees "
		"(default: host):\n",
		VM_MAX_MODULES, DEFAULT_CMDLINE, VM_MAX_CPUS);
	cpu_template_print_all(out);
	fprintf(out,
		"      --huge-pages MODE  what backs guest RAM: None or "
		"Transparent (anonymous\n"
		"                         memory, transparent huge pages asked "
		"for), 2M (the\n"
		"                         host's 2 MiB hugetlbfs pool, "
		"reserved at start; --memory\n"
		"                         a multiple of 2 MiB) (default: "
		"None)\n"
		"      --hyperv           Hyper-V enlightenments "
		"(machine-config.kvm_hyperv):\n"
		"                         the Hyper-V CPUID leaves, MSRs, "
		"SynIC and timers KVM\n"
		"                         offers, as QEMU's hv_passthrough; "
		"for Windows guests\n"
		"                         (default: off)\n");
	fprintf(out,
		"      --disk path=FILE[,readonly][,id=NAME][,cache=MODE]"
		"[,engine=ENGINE]\n"
		"                         a raw disk image (a regular file, or "
		"a block device\n"
		"                         with --allow-block-devices) as a\n"
		"                         virtio-blk disk: /dev/vda, /dev/vdb, "
		"... in order.\n"
		"                         Repeatable, up to %d disks. The "
		"guest sees its whole\n"
		"                         512-byte sectors (a partial one at "
		"the end is hidden,\n"
		"                         with a warning); tern locks it so no "
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
		"it is unavailable)\n"
		"      --allow-block-devices\n"
		"                         a --disk (or an API drive) may be a "
		"host block device;\n"
		"                         without it only regular files are "
		"accepted\n",
		VM_MAX_DISKS);
	fprintf(out,
		"      --pmem path=FILE[,id=NAME][,root][,readonly]\n"
		"                         a host file mapped into the guest as "
		"persistent memory\n"
		"                         (virtio-pmem: /dev/pmem0, "
		"/dev/pmem1, "
		"... in order;\n"
		"                         1 byte to 1 TiB, shown rounded up to "
		"2 MiB with zeros).\n"
		"                         Repeatable, up to %d.\n"
		"                           id=NAME    its name in the API "
		"(default: pmemN)\n"
		"                           root       root=/dev/pmem0 on a "
		"command line that\n"
		"                                      names no root= (not "
		"beside a root drive)\n"
		"                           readonly   mapped read-only; the "
		"guest's writes are\n"
		"                                      dropped\n",
		VM_MAX_PMEM);
	fprintf(out,
		"      --memory-hotplug total=MiB[,slot=MiB][,block=MiB]\n"
		"                         hotpluggable memory (virtio-mem; "
		"Firecracker's\n"
		"                         /hotplug/memory): total MiB above "
		"--memory, plugged\n"
		"                         as PATCH /hotplug/memory asks. "
		"slot: KVM slot size\n"
		"                         (default 128, at least 128), block: "
		"the guest's unit\n"
		"                         (default 2, a power of 2); total a "
		"multiple of slot,\n"
		"                         slot of block\n");
	fprintf(out,
		"      --net tap=NAME[,mac=MAC]\n"
		"                         a virtio-net interface on the host "
		"tap NAME (made with\n"
		"                         'ip tuntap add NAME mode tap', or "
		"created by tern when\n"
		"                         it may); MAC default: 52:54:00 "
		"plus a hash of NAME.\n"
		"                         Repeat for more interfaces (at most "
		"%d)\n",
		VM_MAX_NETS);
	fprintf(out,
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
		"      --balloon [SETTINGS]\n"
		"                         add a virtio-balloon device; "
		"SETTINGS, comma-separated:\n"
		"                           size=SIZE  how much memory the "
		"guest should give\n"
		"                                      back at boot (default "
		"0), below --memory\n"
		"                           deflate-on-oom  the guest may take "
		"pages back when\n"
		"                                      it runs out of memory\n"
		"                           stats=SECONDS  ask for memory "
		"statistics this often\n"
		"                           free-page-reporting  the guest "
		"gives free pages back\n"
		"                           free-page-hinting  the guest "
		"gives free pages back\n"
		"                                      when asked (API)\n"
		"                         Ctrl-A b SIZE Enter on the console "
		"sets a new size.\n"
		"      --vsock cid=N,socket=PATH\n"
		"                         add a virtio-vsock device: the "
		"guest's CID is N (3 to\n"
		"                         4294967294). Host programs reach "
		"guest port P by\n"
		"                         connecting to the Unix socket PATH "
		"and writing\n"
		"                         \"CONNECT P\\n\" (tern answers \"OK "
		"<host port>\\n\"); a\n"
		"                         guest connection to CID 2 port P "
		"goes to the Unix\n"
		"                         socket PATH_P. PATH must not contain "
		"a comma\n"
		"      --debug-exit[=PORT]\n"
		"                         QEMU's isa-debug-exit: a guest write "
		"of value V to I/O\n"
		"                         port PORT (default 0x%x; decimal or "
		"0x hex; 4 ports\n"
		"                         wide) ends tern with exit status "
		"(V << 1) | 1, low\n"
		"                         8 bits, as QEMU does: how "
		"kvm-unit-tests report.\n"
		"                         tern restore needs it again when "
		"the snapshotted VM\n"
		"                         had it\n"
		"      --pc-testdev       QEMU's pc-testdev, kvm-unit-tests' "
		"x86 test device: a\n"
		"                         scratch register at ports 0xe0-0xe3, "
		"\"flush page\" at\n"
		"                         0xe4 (taken, no effect), ISA "
		"interrupt line N set by\n"
		"                         a write to port 0x2000+N (N < 24), "
		"64 KiB of scratch\n"
		"                         MMIO at 0xff000000. For test "
		"guests; not with\n"
		"                         --firmware\n"
		"      --hyperv-testdev   QEMU's hyperv-testdev at port "
		"0x3000, kvm-unit-tests'\n"
		"                         Hyper-V test device: SINT routes, "
		"message and event\n"
		"                         connections. For test guests; needs "
		"--hyperv\n"
		"      --on-reboot ACTION what a guest reset does: exit (tern "
		"exits with status 0;\n"
		"                         the default) or restart (the VM "
		"boots its kernel,\n"
		"                         initrd and command line again in "
		"this process, with\n"
		"                         fresh vCPUs, devices and RAM; "
		"disks, taps, the vsock\n"
		"                         socket and the API socket stay). "
		"A reset is any of a\n"
		"                         PC's: the keyboard controller's "
		"reset line, the ACPI\n"
		"                         reset register, port 0xcf9, a jump "
		"to the reset vector,\n"
		"                         or a triple fault (its registers "
		"are logged)\n"
		"      --acpi MODE        the ACPI the guest sees: reduced "
		"(hardware-reduced, as\n"
		"                         QEMU's microvm; the default for a "
		"kernel) or full (PM1\n"
		"                         event and control blocks, as QEMU's "
		"pc; always with\n"
		"                         --firmware, and the default for a "
		"kernel whose\n"
		"                         command line has noapic: Linux uses "
		"the 8259 PIC then).\n"
		"                         Both offer ACPI S3 sleep "
		"(docs/api.md)\n"
		"      --kvm-device PATH  KVM device node (default: /dev/kvm)\n"
		"      --log-level LEVEL  error, warn, info, debug or off "
		"(default: info)\n"
		"      --config-file FILE boot the VM this JSON document "
		"describes (the shape\n"
		"                         GET /vm/config returns; see "
		"docs/api.md); options\n"
		"                         given too override the file\n"
		"      --api-sock PATH    serve the Firecracker-compatible "
		"HTTP API on this Unix\n"
		"                         socket. Without --config-file, tern "
		"waits for\n"
		"                         PUT /actions InstanceStart; the "
		"other options\n"
		"                         pre-configure the VM\n"
		"      --incoming tcp:ADDR:PORT\n"
		"                         wait for one live migration on "
		"this address (PUT\n"
		"                         /migration on the source) and run "
		"the VM it brings;\n"
		"                         no --kernel needed\n"
		"      --migration-tls ca=FILE,cert=FILE,key=FILE\n"
		"      --migration-tls psk=FILE\n"
		"                         secure live migration with TLS 1.3, "
		"for --incoming and\n"
		"                         for PUT /migration requests that "
		"name no transport:\n"
		"                           ca=,cert=,key=  PEM files: the CA "
		"both ends' certificates\n"
		"                                      come from, this tern's "
		"certificate (a\n"
		"                                      destination's must name "
		"the address the\n"
		"                                      source connects to) and "
		"its private key\n"
		"                           psk=FILE   a pre-shared key, the "
		"same file on both\n"
		"                                      ends: at least 32 "
		"random "
		"bytes as hex\n"
		"                                      ('openssl rand -hex 32 "
		"> "
		"FILE')\n"
		"                         Key files must not be readable by "
		"other users. With\n"
		"                         --incoming, a peer that fails the "
		"handshake is turned\n"
		"                         away and tern goes on waiting\n"
		"      --insecure-plain-tcp\n"
		"                         migrate over plain TCP instead: the "
		"guest's memory\n"
		"                         crosses the network unencrypted and "
		"anyone who can\n"
		"                         connect first can send a VM. "
		"--incoming needs this or\n"
		"                         --migration-tls\n"
		"      --seccomp MODE     system call filters, one list per "
		"kind of tern thread\n"
		"                         (vCPU, device I/O, API, ...; see "
		"docs/security.md):\n"
		"                           kill  a call outside the thread's "
		"list ends tern,\n"
		"                                 killed by SIGSYS, after one "
		"line on stderr\n"
		"                                 naming the call and the "
		"thread (default)\n"
		"                           log   such calls run, and the "
		"kernel logs each\n"
		"                                 (dmesg: comm=THREAD "
		"syscall=NUMBER); for\n"
		"                                 finding a missing call, "
		"not for production\n"
		"                           off   no filters: UNSAFE, a guest "
		"that takes over a\n"
		"                                 tern thread can make any "
		"system call\n"
		"      --no-seccomp       the same as --seccomp off (UNSAFE)\n"
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
		"Signals: SIGINT, SIGTERM and SIGHUP stop the VM and tern. "
		"SIGUSR2 leaves it\n"
		"running and logs, per vCPU, its run state (runnable, "
		"halted...), registers,\n"
		"pending events, the LAPIC's in-service and requested vectors "
		"and the top of\n"
		"the guest's stack: where a guest that stopped answering is.\n"
		"\n"
		"Exit status:\n"
		"  0    the guest rebooted (any reset, a triple fault "
		"included) or powered\n"
		"       off, or Ctrl-A x\n"
		"  1    tern could not set up the VM (KVM, files, kernel "
		"format), or\n"
		"       could not boot it again after a reset (--on-reboot "
		"restart)\n"
		"  2    the command line is wrong\n"
		"  3    not used any more (was: the guest triple-faulted)\n"
		"  4    KVM internal error or failed VM entry (registers on "
		"stderr)\n"
		"  5    the guest caused an exit tern cannot handle\n"
		"  128+N  tern was stopped by signal N\n"
		"  (V << 1) | 1  with --debug-exit, the guest wrote V to its "
		"port\n"
		"\n"
		"Firmware configuration: QEMU's fw_cfg at ports 0x%x-0x%x "
		"(signature, ID, RAM\n"
		"size, CPU count, an empty file directory; no DMA).\n",
		DEBUG_EXIT_DEFAULT_PORT, TERN_BOOT_MARKER_VALUE,
		TERN_BOOT_MARKER_PORT, TERN_BOOT_MARKER_VALUE,
		TERN_BOOT_MARKER_PORT, TERN_BOOT_MARKER_PORT, FW_CFG_PORT,
		FW_CFG_PORT + FW_CFG_PORT_COUNT - 1);
}

static int parse_cpus(const char *text, int *cpus, struct tern_error *err)
{
	char *end;
	long value;
	int ret;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno || *end || end == text || value < 1)
		return tern_error_set(err, EINVAL,
				      "--cpus '%s' is not a positive number",
				      text);
	ret = config_check_cpu_count("--cpus", value, err);
	if (!ret)
		*cpus = (int)value;
	return ret;
}

static int parse_memory(const char *text, uint64_t *bytes,
			struct tern_error *err)
{
	if (size_parse(text, bytes))
		return tern_error_set(err, EINVAL,
				      "--memory '%s' is not a size (examples: "
				      "512M, 2G, 1024)",
				      text);
	return config_check_memory("--memory", *bytes, text, err);
}

static int parse_balloon_size(const char *text, uint64_t *bytes,
			      struct tern_error *err)
{
	if (size_parse(text, bytes))
		return tern_error_set(err, EINVAL,
				      "--balloon size='%s' is not a size "
				      "(examples: 256M, 1G)",
				      text);
	return config_check_balloon_target("--balloon size", *bytes, text, err);
}

static int parse_balloon_stats(const char *text, uint32_t *seconds,
			       struct tern_error *err)
{
	char *end;
	long long value;
	int ret;

	errno = 0;
	value = strtoll(text, &end, 10);
	if (errno || *end || end == text)
		value = -1; /* refused below, with the range */
	ret = config_check_balloon_stats("--balloon stats", value, text, err);
	if (!ret)
		*seconds = (uint32_t)value;
	return ret;
}

/* --balloon's settings are optional; "--balloon size=1G" (space, not '=')
 * names them too: tern run takes no positional argument that this could
 * swallow. Both getopt passes must agree on it. */
static void balloon_settings_after_space(int opt, int argc, char **argv)
{
	if (opt == OPT_BALLOON && !optarg && optind < argc &&
	    argv[optind][0] != '-')
		optarg = argv[optind++];
}

/* --balloon [size=SIZE][,deflate-on-oom][,stats=SECONDS]
 * [,free-page-reporting]; each --balloon starts from the defaults. */
static int parse_balloon(const char *text, struct vm_balloon_config *balloon,
			 struct tern_error *err)
{
	char settings[256], *save = NULL;
	int ret = 0;

	memset(balloon, 0, sizeof(*balloon));
	balloon->enabled = 1;
	if (!text)
		return 0;
	if (strlen(text) >= sizeof(settings))
		return tern_error_set(err, EINVAL, "--balloon: too long");
	strcpy(settings, text);
	for (char *item = strtok_r(settings, ",", &save); item && !ret;
	     item = strtok_r(NULL, ",", &save)) {
		if (!strncmp(item, "size=", 5))
			ret = parse_balloon_size(item + 5,
						 &balloon->target_bytes, err);
		else if (!strncmp(item, "stats=", 6))
			ret = parse_balloon_stats(
				item + 6, &balloon->stats_interval_s, err);
		else if (!strcmp(item, "deflate-on-oom"))
			balloon->deflate_on_oom = 1;
		else if (!strcmp(item, "free-page-reporting"))
			balloon->free_page_reporting = 1;
		else if (!strcmp(item, "free-page-hinting"))
			balloon->free_page_hinting = 1;
		else
			ret = tern_error_set(
				err, EINVAL,
				"--balloon: unknown setting '%s' (use "
				"size=SIZE, deflate-on-oom, stats=SECONDS, "
				"free-page-reporting, free-page-hinting)",
				item);
	}
	return ret;
}

/* --vsock cid=N,socket=PATH (one device; keys in any order). */
static int parse_vsock(const char *text, struct vm_config *config,
		       struct tern_error *err)
{
	const char *p = text;
	int have_cid = 0, ret;

	if (config->vsock_cid)
		return tern_error_set(err, EINVAL,
				      "--vsock given twice: tern has one vsock "
				      "device");
	while (*p) {
		size_t len = strcspn(p, ",");

		if (!strncmp(p, "cid=", 4)) {
			char digits[24], *end;
			unsigned long long cid;

			if (len - 4 >= sizeof(digits))
				len = 4 + sizeof(digits) - 1;
			memcpy(digits, p + 4, len - 4);
			digits[len - 4] = 0;
			errno = 0;
			cid = strtoull(digits, &end, 10);
			if (errno || *end || end == digits || digits[0] == '-')
				return tern_error_set(err, EINVAL,
						      "--vsock cid '%s' is not "
						      "a number",
						      digits);
			ret = config_check_vsock_cid("--vsock cid=", cid, err);
			if (ret)
				return ret;
			config->vsock_cid = cid;
			have_cid = 1;
		} else if (!strncmp(p, "socket=", 7)) {
			char path[sizeof(config->vsock_socket_path) + 1];
			size_t path_len = len - 7;

			if (path_len >= sizeof(path))
				path_len = sizeof(path) - 1; /* refused below */
			memcpy(path, p + 7, path_len);
			path[path_len] = 0;
			ret = config_check_vsock_path("--vsock socket=", path,
						      err);
			if (ret)
				return ret;
			memcpy(config->vsock_socket_path, path, path_len + 1);
		} else {
			return tern_error_set(err, EINVAL,
					      "--vsock '%.*s': unknown key "
					      "(use cid=N,socket=PATH)",
					      (int)len, p);
		}
		p += len;
		if (*p == ',')
			p++;
	}
	if (!have_cid || !config->vsock_socket_path[0])
		return tern_error_set(err, EINVAL,
				      "--vsock '%s' needs both cid=N and "
				      "socket=PATH",
				      text);
	return 0;
}

/* Bytes, or a size with a K/M/G/T suffix; 0 is no limit (stored as
 * UINT64_MAX, 0 being the default's mark in vm_config). */
static int parse_serial_file_limit(const char *text, uint64_t *limit,
				   struct tern_error *err)
{
	uint64_t bytes;
	char *end;

	errno = 0;
	bytes = strtoull(text, &end, 10);
	/* A bare number is bytes here (size_parse() reads it as MiB). */
	if (text[0] < '0' || text[0] > '9' || errno ||
	    (*end && size_parse(text, &bytes)))
		return tern_error_set(err, EINVAL,
				      "--serial-file-limit '%s' is not a size "
				      "(examples: 1048576, 64M, 1G; 0 for no "
				      "limit)",
				      text);
	*limit = bytes ? bytes : UINT64_MAX;
	return 0;
}

/* --module PATH[,STRING]: the path ends at the first comma, so STRING may
 * hold commas (a module's command line often does); a path with a comma
 * cannot be given, as in --disk. */
static int parse_module(const char *arg, struct vm_config *config,
			struct tern_error *err)
{
	const char *comma = strchr(arg, ',');
	size_t path_len = comma ? (size_t)(comma - arg) : strlen(arg);

	if (config->module_count == VM_MAX_MODULES)
		return tern_error_set(err, EINVAL,
				      "--module: at most %d modules",
				      VM_MAX_MODULES);
	if (path_len == 0)
		return tern_error_set(err, EINVAL,
				      "--module '%s' names no file (use "
				      "PATH[,STRING])",
				      arg);
	config->modules[config->module_count++] = (struct vm_module_config){
		.spec = arg,
		.path_len = path_len,
		.string = comma ? comma + 1 : NULL,
	};
	return 0;
}

/* --debug-exit[=PORT]: decimal or 0x hexadecimal, the 4 ports inside the
 * 16-bit I/O space. */
static int parse_debug_exit(const char *text, uint16_t *port,
			    struct tern_error *err)
{
	unsigned long value = DEBUG_EXIT_DEFAULT_PORT;
	char *end;

	if (text) {
		errno = 0;
		value = strtoul(text, &end, 0);
		if (errno || *end || end == text || text[0] == '-' ||
		    value == 0 || value > 0x10000 - DEBUG_EXIT_PORT_COUNT)
			return tern_error_set(err, EINVAL,
					      "--debug-exit port '%s' is not "
					      "an I/O port from 1 to 0x%x",
					      text,
					      0x10000 - DEBUG_EXIT_PORT_COUNT);
	}
	*port = (uint16_t)value;
	return 0;
}

static int parse_option(int opt, const char *arg, struct vm_config *config,
			struct tern_error *err)
{
	switch (opt) {
	case OPT_KERNEL:
		config->kernel_path = arg;
		return 0;
	case OPT_FIRMWARE:
		config->firmware_path = arg;
		return 0;
	case OPT_INITRD:
		config->initrd_path = arg;
		return 0;
	case OPT_MODULE:
		return parse_module(arg, config, err);
	case OPT_DEBUG_EXIT:
		return parse_debug_exit(arg, &config->debug_exit_port, err);
	case OPT_PC_TESTDEV:
		config->pc_testdev = 1;
		return 0;
	case OPT_HYPERV:
		config->kvm_hyperv = 1;
		return 0;
	case OPT_HYPERV_TESTDEV:
		config->hyperv_testdev = 1;
		return 0;
	case OPT_ACPI:
		return config_parse_acpi_mode("--acpi", arg, &config->acpi_mode,
					      err);
	case OPT_CMDLINE:
		config->cmdline = arg;
		return 0;
	case OPT_CPUS:
		return parse_cpus(arg, &config->cpu_count, err);
	case OPT_MEMORY:
		return parse_memory(arg, &config->memory_size, err);
	case OPT_SERIAL:
		return config_parse_serial("--serial", arg, config, err);
	case OPT_CPU_TEMPLATE:
		return config_find_cpu_template("--cpu-template", arg,
						&config->cpu_template, err);
	case OPT_HUGE_PAGES:
		return config_parse_huge_pages("--huge-pages", arg,
					       &config->huge_pages, err);
	case OPT_KVM_DEVICE:
		config->kvm_path = arg;
		return 0;
	case OPT_LOG_LEVEL:
		return config_parse_log_level("--log-level", arg,
					      &config->log_level, err);
	case OPT_CONFIG_FILE:
	case OPT_API_SOCK:
	case OPT_INCOMING:
	case OPT_MIGRATION_TLS:
	case OPT_INSECURE_PLAIN_TCP:
	case OPT_SECCOMP:
	case OPT_NO_SECCOMP:
		return 0; /* taken in the first pass */
	case OPT_DISK:
		return disk_option_parse(arg, config, err);
	case OPT_PMEM:
		return pmem_option_parse(arg, config, err);
	case OPT_NET:
		return net_option_parse(arg, config, err);
	case OPT_RNG:
		config->virtio_rng = 1;
		return 0;
	case OPT_BALLOON:
		return parse_balloon(arg, &config->balloon, err);
	case OPT_MEMORY_HOTPLUG:
		return memory_hotplug_parse_option(arg, &config->memory_hotplug,
						   err);
	case OPT_VSOCK:
		return parse_vsock(arg, config, err);
	case OPT_TRANSPORT:
		return config_parse_transport("--transport", arg,
					      &config->virtio_transport, err);
	case OPT_SERIAL_FILE_LIMIT:
		return parse_serial_file_limit(arg, &config->serial_file_limit,
					       err);
	case OPT_ALLOW_BLOCK_DEVICES:
		config->allow_block_devices = 1;
		return 0;
	case OPT_ON_REBOOT:
		return config_parse_on_reboot("--on-reboot", arg,
					      &config->on_reboot, err);
	}
	return tern_error_set(err, EINVAL, "unknown option");
}

/* Pass one finds --config-file and --api-sock (and --help): the file is
 * the base the other options then override, wherever they stand. */
static int scan_control_options(int argc, char **argv,
				struct run_request *request,
				struct tern_error *err)
{
	int opt;

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
		balloon_settings_after_space(opt, argc, argv);
		if (opt == OPT_CONFIG_FILE)
			request->config_file = optarg;
		else if (opt == OPT_API_SOCK)
			request->api_sock = optarg;
		else if (opt == OPT_INCOMING)
			request->incoming = optarg;
		else if (opt == OPT_INSECURE_PLAIN_TCP)
			request->migration_transport.insecure_plain_tcp = 1;
		else if (opt == OPT_MIGRATION_TLS &&
			 migration_transport_parse_tls(
				 "--migration-tls", optarg,
				 &request->migration_transport, err))
			return -EINVAL;
		else if (opt == OPT_NO_SECCOMP)
			request->seccomp = TERN_SECCOMP_OFF;
		else if (opt == OPT_SECCOMP &&
			 tern_seccomp_parse_mode(optarg, &request->seccomp,
						 err))
			return -EINVAL;
	}
	if (optind < argc)
		return tern_error_set(err, EINVAL, "unexpected argument '%s'",
				      argv[optind]);
	return 0;
}

static int parse_request(int argc, char **argv, struct run_request *request,
			 int kernel_needed, struct tern_error *err)
{
	struct vm_config *config = &request->config;
	int opt, ret, vsock_seen = 0;

	memset(request, 0, sizeof(*request));
	vm_config_set_defaults(config);
	ret = scan_control_options(argc, argv, request, err);
	if (ret)
		return ret;
	if (request->config_file) {
		ret = vm_config_json_load_file(config, &request->storage,
					       request->config_file, err);
		if (ret)
			return ret;
	}

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":k:i:c:n:m:h", run_options,
				  NULL)) != -1) {
		balloon_settings_after_space(opt, argc, argv);
		/* The command line's vsock replaces the config file's. */
		if (opt == OPT_VSOCK && !vsock_seen++) {
			config->vsock_cid = 0;
			config->vsock_socket_path[0] = '\0';
		}
		ret = parse_option(opt, optarg, config, err);
		if (ret)
			return ret;
		request->cpus_given |= opt == OPT_CPUS;
		request->memory_given |= opt == OPT_MEMORY;
	}
	if (kernel_needed && !config->kernel_path && !config->firmware_path &&
	    !request->api_sock && !request->incoming)
		return tern_error_set(err, EINVAL,
				      request->config_file
					      ? "the config file sets no "
						"boot-source.kernel_image_path"
					      : "--kernel is required");
	ret = config_check_firmware(config, err);
	if (!ret && config->firmware_path)
		ret = firmware_check_file(config->firmware_path, "--firmware",
					  err);
	if (ret)
		return ret;
	/* --incoming needs a transport (tern restore refuses --incoming
	 * itself); without it one given is the source's default, and must be
	 * complete too. */
	if ((request->incoming && kernel_needed) ||
	    migration_transport_given(&request->migration_transport)) {
		ret = migration_transport_check(&request->migration_transport,
						"--migration-tls",
						"--insecure-plain-tcp", err);
		if (ret)
			return ret;
	}
	ret = config_check_balloon_fits(config, "--balloon size", "--memory",
					err);
	if (!ret)
		ret = config_check_huge_pages_fit(config, "--memory", err);
	return ret ? ret : net_options_finish(config, err);
}

int run_command_parse(int argc, char **argv, struct run_request *request,
		      struct tern_error *err)
{
	return parse_request(argc, argv, request, 1, err);
}

void run_request_free(struct run_request *request)
{
	vm_config_release(&request->config);
	vm_config_storage_free(&request->storage);
	migration_transport_config_free(&request->migration_transport);
	json_decref(request->mmds_metadata);
	request->mmds_metadata = NULL;
	if (request->seccomp_filters) {
		seccomp_filter_file_free(request->seccomp_filters);
		free(request->seccomp_filters);
		request->seccomp_filters = NULL;
	}
}

static void discard_request(struct run_request *request)
{
	run_request_free(request);
	free(request);
}

static int exit_status_for(enum vm_stop_reason reason, int stop_signal,
			   uint32_t debug_exit_value)
{
	switch (reason) {
	case VM_STOP_DEBUG_EXIT:
		return debug_exit_status(debug_exit_value);
	case VM_STOP_NONE:
	case VM_STOP_GUEST_RESET:
	case VM_STOP_TRIPLE_FAULT: /* a reset, as on a PC */
	case VM_STOP_GUEST_POWEROFF:
	case VM_STOP_USER_QUIT:
	case VM_STOP_MIGRATED:
		return TERN_EXIT_OK;
	case VM_STOP_SIGNAL:
		return TERN_EXIT_SIGNAL_BASE + stop_signal;
	case VM_STOP_INTERNAL_ERROR:
		return TERN_EXIT_KVM_ERROR;
	case VM_STOP_UNHANDLED_EXIT:
		return TERN_EXIT_UNHANDLED_EXIT;
	case VM_STOP_RESTART_FAILED:
		return TERN_EXIT_RUNTIME_ERROR;
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
	case VM_STOP_MIGRATED:
		return "migrated to the destination";
	case VM_STOP_DEBUG_EXIT:
		return "guest wrote to the debug-exit port";
	case VM_STOP_RESTART_FAILED:
		return "the VM could not restart after a guest reset";
	case VM_STOP_NONE:
		break;
	}
	return "stopped";
}

/* tern restore: the machine is the snapshot's; a --cpus or --memory that
 * says otherwise is a mistake worth saying, not something to ignore. */
static int restore_machine_conflicts(const struct run_request *request,
				     const struct vm_config *snapshot,
				     struct tern_error *err)
{
	if (request->cpus_given &&
	    request->config.cpu_count != snapshot->cpu_count)
		return tern_error_set(err, EINVAL,
				      "--cpus %d: the snapshot's VM has %d "
				      "vCPUs, and a restored VM keeps them "
				      "(leave --cpus out)",
				      request->config.cpu_count,
				      snapshot->cpu_count);
	if (request->memory_given &&
	    request->config.memory_size != snapshot->memory_size)
		return tern_error_set(
			err, EINVAL,
			"--memory %llu MiB: the snapshot's VM has %llu MiB, "
			"and a restored VM keeps it (leave --memory out)",
			(unsigned long long)(request->config.memory_size >> 20),
			(unsigned long long)(snapshot->memory_size >> 20));
	return 0;
}

/* Everything after the command line: the request is checked and complete
 * (tern run's parser or tern firecracker's filled it). Frees it. */
int run_command_execute(struct run_request *request,
			const struct run_from_snapshot *from_snapshot)
{
	struct tern_error err = {{0}};
	struct api_server *server = NULL;
	struct instance *instance;
	struct instance_outcome outcome;
	int ret, status, boot_now;

	/* Before the first thread and before anything a guest or client
	 * sends: every thread tern creates starts under the ceiling. */
	if (request->seccomp_filters
		    ? seccomp_start_process_with_filters(
			      request->seccomp_filters,
			      request->seccomp_filter_path, &err)
		    : seccomp_start_process(request->seccomp, &err)) {
		discard_request(request);
		fprintf(stderr, "tern: %s\n", err.message);
		return TERN_EXIT_RUNTIME_ERROR;
	}
	instance = instance_create(&request->config, &request->storage, &err);
	if (instance) {
		instance->incoming_address = request->incoming;
		instance->migration_transport = request->migration_transport;
		instance->firecracker_api = request->firecracker;
		if (request->instance_id)
			snprintf(instance->id, sizeof(instance->id), "%s",
				 request->instance_id);
		memset(&request->migration_transport, 0,
		       sizeof(request->migration_transport));
	} else {
		migration_transport_config_free(&request->migration_transport);
	}
	/* Firecracker's --metadata: the store's own checks (size limit) as
	 * for PUT /mmds. */
	if (instance && request->mmds_metadata &&
	    instance_mmds_put(instance, request->mmds_metadata, &err)) {
		fprintf(stderr, "tern: --metadata: %s\n", err.message);
		instance_destroy(instance);
		discard_request(request);
		return TERN_EXIT_USAGE;
	}
	json_decref(request->mmds_metadata);
	request->mmds_metadata = NULL;
	if (instance && from_snapshot &&
	    instance_snapshot_load_at_start(
		    instance, from_snapshot->snapshot_path,
		    from_snapshot->mem_file_path, from_snapshot->mem_uffd,
		    !from_snapshot->paused, &err)) {
		fprintf(stderr, "tern: %s\n", err.message);
		instance_destroy(instance);
		discard_request(request);
		return TERN_EXIT_RUNTIME_ERROR;
	}
	if (instance && from_snapshot &&
	    restore_machine_conflicts(request, &instance->config, &err)) {
		fprintf(stderr, "tern: %s (see 'tern restore --help')\n",
			err.message);
		instance_destroy(instance);
		discard_request(request);
		return TERN_EXIT_USAGE;
	}
	/* The migration listener before the API socket: whoever sees the API
	 * answer may send the source at once (ternd does). */
	if (instance && instance->incoming_address &&
	    instance_migration_listen(instance, &err)) {
		fprintf(stderr, "tern: %s\n", err.message);
		instance_destroy(instance);
		discard_request(request);
		return TERN_EXIT_RUNTIME_ERROR;
	}
	if (instance && request->api_sock)
		server = api_server_start(request->api_sock, instance,
					  request->api_max_body, &err);
	if (!instance || (request->api_sock && !server)) {
		fprintf(stderr, "tern: %s\n", err.message);
		instance_destroy(instance);
		discard_request(request);
		return TERN_EXIT_RUNTIME_ERROR;
	}
	instance_report_start_times(instance, &request->start_times);
	/* Without an API socket, or with a config file (as Firecracker
	 * does), the VM boots at once; otherwise it waits for InstanceStart. */
	boot_now = !request->api_sock || request->config_file || from_snapshot;
	/* The instance has its own copy of the configuration now: the
	 * request's (~70 KiB) goes before the VM runs, so the trim after
	 * set-up (util/idle_memory.h) gives its pages back to the host. */
	discard_request(request);
	ret = instance_run(instance, boot_now, &outcome, &err);
	api_server_stop(server);
	if (ret) {
		fprintf(stderr, "tern: %s\n", err.message);
		instance_destroy(instance);
		return TERN_EXIT_RUNTIME_ERROR;
	}
	status = exit_status_for(outcome.reason, outcome.stop_signal,
				 outcome.debug_exit_value);
	if (outcome.reason == VM_STOP_DEBUG_EXIT)
		log_debug("%s (value %u), exit status %d",
			  stop_reason_text(outcome.reason),
			  outcome.debug_exit_value, status);
	else if (status != TERN_EXIT_OK)
		log_error("%s, exit status %d",
			  stop_reason_text(outcome.reason), status);
	else if (outcome.reason == VM_STOP_TRIPLE_FAULT)
		log_warn("%s (a reset), exit status 0",
			 stop_reason_text(outcome.reason));
	else
		log_debug("%s", stop_reason_text(outcome.reason));
	instance_destroy(instance);
	return status;
}

static int run_main(int argc, char **argv,
		    const struct run_from_snapshot *from_snapshot)
{
	struct tern_error err = {{0}};
	/* On the heap: a request holds a whole configuration (~70 KiB), and
	 * this frame lives as long as tern, so on the stack its pages would
	 * stay resident for the VM's life (bench/density-probe). */
	struct run_request *request = malloc(sizeof(*request));
	int ret;

	if (!request) {
		fprintf(stderr, "tern: out of memory\n");
		return TERN_EXIT_USAGE;
	}
	ret = parse_request(argc, argv, request, !from_snapshot, &err);
	if (ret == 1 && from_snapshot)
		ret = tern_error_set(&err, EINVAL, "--help");
	if (!ret && from_snapshot && request->incoming)
		ret = tern_error_set(&err, EINVAL,
				     "--incoming: a restored VM comes from its "
				     "snapshot, not from a migration");
	if (ret == 1) {
		run_request_free(request);
		free(request);
		run_command_print_help(stdout);
		return TERN_EXIT_OK;
	}
	if (ret) {
		run_request_free(request);
		free(request);
		fprintf(stderr, "tern: %s (see 'tern %s --help')\n",
			err.message, from_snapshot ? "restore" : "run");
		return TERN_EXIT_USAGE;
	}
	return run_command_execute(request, from_snapshot);
}

int run_command_main(int argc, char **argv)
{
	return run_main(argc, argv, NULL);
}

int run_command_main_from_snapshot(int argc, char **argv,
				   const struct run_from_snapshot *start)
{
	return run_main(argc, argv, start);
}
