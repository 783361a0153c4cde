#!/usr/bin/python3
"""tern's command line on this machine: every usage and runtime error is one
clear line on stderr with its documented exit status (2 usage, 1 runtime).
Kernel-format errors are found before any guest code runs, so these tests
need this machine's /dev/kvm only to open a VM, not to boot one."""
import glob
import json
import os
import re
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tap import run, skip, test  # noqa: E402
from tlskeys import TlsKeys  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TERN = os.path.join(ROOT, "build", "tern")
WORK = tempfile.mkdtemp(prefix="tern-cli-")


def tern(*args, user=None, timeout=60):
    argv = [TERN] + list(args)
    if user:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] + argv
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def expect_error(result, status, *words):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == status, f"status {result.returncode}, stderr: {result.stderr!r}"
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    assert lines[0].startswith("tern: ")


def write_file(name, data):
    path = os.path.join(WORK, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def fake_bzimage(version=0x020f, size=64 * 1024, xloadflags=0x1, magic=b"HdrS"):
    """A bzImage-shaped file: setup header per the boot protocol, no code."""
    image = bytearray(size)
    image[0x1f1] = 4                                   # setup_sects
    struct.pack_into("<H", image, 0x1fe, 0xAA55)       # boot_flag
    image[0x202:0x206] = magic
    struct.pack_into("<H", image, 0x206, version)
    image[0x211] = 0x01                                # loadflags: LOADED_HIGH
    struct.pack_into("<H", image, 0x236, xloadflags)
    return bytes(image)


KERNEL_OK = None


def setup():
    global KERNEL_OK
    if not os.access(TERN, os.X_OK):
        return "build/tern is missing: the build failed"
    KERNEL_OK = write_file("kernel", fake_bzimage())
    return None


@test
def help_describes_every_option_and_exit_status():
    result = tern("run", "--help")
    assert result.returncode == 0
    for option in ("--kernel", "--initrd", "--cmdline", "--cpus", "--memory", "--serial",
                   "--cpu-template", "minimal", "--rng", "--transport", "--config-file",
                   "--api-sock", "--balloon", "deflate-on-oom", "free-page-reporting",
                   "free-page-hinting", "Ctrl-A b",
                   "--disk", "readonly", "cache=none", "engine=io_uring|threads",
                   "--vsock", "CONNECT", "--net tap=NAME[,mac=MAC]", "Exit status", "128+N",
                   "--serial-file-limit", "--allow-block-devices", "--on-reboot", "restart",
                   "0xcf9",
                   "Multiboot", "--module PATH[,STRING]", "--debug-exit[=PORT]", "(V << 1) | 1",
                   "--hyperv", "hv_passthrough", "--hyperv-testdev", "0x3000",
                   "fw_cfg", "--firmware PATH", "bios.bin", "--seccomp MODE", "--no-seccomp", "UNSAFE", "SIGSYS",
                   "--memory-hotplug total=MiB[,slot=MiB][,block=MiB]", "virtio-mem"):
        assert option in result.stdout, option


@test
def top_level_help_and_version():
    assert tern("--help").returncode == 0
    assert "tern" in tern("--version").stdout
    expect_error(tern("launch"), 2, "unknown command")
    assert tern().returncode == 2


@test
def unknown_option_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--frobnicate"), 2, "--frobnicate")


@test
def missing_kernel_option_is_a_usage_error():
    expect_error(tern("run"), 2, "--kernel is required")


@test
def option_without_value_is_a_usage_error():
    expect_error(tern("run", "--kernel"), 2, "needs a value")


@test
def bad_size_syntax_is_a_usage_error():
    for bad in ("12X", "1.5G", "-1", "lots"):
        expect_error(tern("run", "--kernel", "k", "--memory", bad), 2, "not a size")


@test
def memory_too_small_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--memory", "32M"), 2, "too small")


@test
def memory_too_large_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--memory", "1000T"), 2, "RAM and swap")


@test
def too_many_or_zero_vcpus_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--cpus", "65"), 2, "too many")
    expect_error(tern("run", "--kernel", "k", "--cpus", "0"), 2, "not a positive number")


@test
def unknown_cpu_template_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--cpu-template", "pentium"), 2, "pentium")


@test
def bad_serial_mode_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--serial", "tcp:1"), 2, "--serial")


@test
def net_without_tap_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--net", "mac=52:54:00:12:34:56"), 2, "tap=NAME")
    expect_error(tern("run", "--kernel", "k", "--net", "tap"), 2, "KEY=VALUE")


@test
def net_bad_mac_is_a_usage_error():
    for bad in ("52:54:00:12:34", "52:54:00:12:34:567", "52-54-00-12-34-56", "zz:54:00:12:34:56",
                "00:00:00:00:00:00", "01:00:5e:00:00:01", "52:54:00:12:34:56:"):
        expect_error(tern("run", "--kernel", "k", "--net", f"tap=tap0,mac={bad}"), 2,
                     "not a unicast MAC")


@test
def net_bad_tap_name_or_key_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--net", "tap=a-name-longer-than-15"), 2,
                 "longer than 15")
    expect_error(tern("run", "--kernel", "k", "--net", "tap=tap/0"), 2, "tap/0")
    expect_error(tern("run", "--kernel", "k", "--net", "tap="), 2, "empty")
    expect_error(tern("run", "--kernel", "k", "--net", "tap=tap0,speed=10"), 2, "unknown key")
    expect_error(tern("run", "--kernel", "k", "--net", "tap=tap0,tap=tap1"), 2, "twice")


@test
def net_same_tap_or_mac_twice_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--net", "tap=tap0", "--net", "tap=tap0"), 2,
                 "named twice")
    expect_error(tern("run", "--kernel", "k", "--net", "tap=tap0,mac=52:54:00:00:00:01",
                      "--net", "tap=tap1,mac=52:54:00:00:00:01"), 2, "given twice")
    too_many = []
    for i in range(9):
        too_many += ["--net", f"tap=tap{i}"]
    expect_error(tern("run", "--kernel", "k", *too_many), 2, "at most 8")


@test
def bad_pmem_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--pmem", "colour=red"), 2,
                 "--pmem: unknown key 'colour=red'")
    expect_error(tern("run", "--kernel", "k", "--pmem", "path=/nonexistent/pm"), 2,
                 "--pmem path /nonexistent/pm")


@test
def bad_virtio_transport_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--transport", "isa"), 2, "--transport")


@test
def bad_on_reboot_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--on-reboot", "reboot"), 2,
                 "--on-reboot 'reboot': use exit or restart")
    expect_error(tern("run", "--kernel", "k", "--on-reboot"), 2, "needs a value")


@test
def bad_vsock_options_are_usage_errors():
    sock = os.path.join(WORK, "v.sock")
    for value, words in (
            (f"cid=2,socket={sock}", ("cid=2", "3 to 4294967294")),
            (f"cid=0,socket={sock}", ("cid=0", "reserved")),
            (f"cid=4294967295,socket={sock}", ("4294967295",)),
            (f"cid=-3,socket={sock}", ("not a number",)),
            (f"cid=seven,socket={sock}", ("'seven' is not a number",)),
            ("cid=3", ("needs both",)),
            (f"socket={sock}", ("needs both",)),
            ("cid=3,socket=", ("needs a path",)),
            (f"cid=3,socket={sock},port=5", ("'port=5'", "unknown key")),
            ("cid=3,socket=/" + "a" * 100, ("longer than 96 bytes",))):
        expect_error(tern("run", "--kernel", "k", "--vsock", value), 2, "--vsock", *words)
    expect_error(tern("run", "--kernel", "k", "--vsock", f"cid=3,socket={sock}",
                      "--vsock", f"cid=4,socket={sock}2"), 2, "twice")
    assert not os.path.exists(sock)


@test
def unusable_vsock_socket_path_is_a_runtime_error():
    needs_kvm()
    expect_error(tern("run", "--kernel", KERNEL_OK, "--vsock",
                      "socket=/nonexistent/dir/v.sock,cid=3"), 1,
                 "cannot listen on '/nonexistent/dir/v.sock'")
    not_socket = write_file("not-a-socket", b"")
    expect_error(tern("run", "--kernel", KERNEL_OK, "--vsock", f"cid=3,socket={not_socket}"), 1,
                 "not a socket")
    assert os.path.exists(not_socket)
    # A socket something listens on is not taken over; a stale one is.
    live = os.path.join(WORK, "live.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(live)
    server.listen(1)
    expect_error(tern("run", "--kernel", KERNEL_OK, "--vsock", f"cid=3,socket={live}"), 1,
                 "in use")
    server.close()
    assert os.path.exists(live)
    result = tern("run", "--kernel", KERNEL_OK, "--vsock", f"cid=3,socket={live}",
                  "--initrd", os.path.join(WORK, "none"))
    expect_error(result, 1, "initrd")
    assert not os.path.exists(live), "tern left its socket behind"


@test
def api_socket_path_too_long_is_a_runtime_error():
    expect_error(tern("run", "--api-sock", "/tmp/" + "s" * 120), 1, "--api-sock")


@test
def bad_seccomp_mode_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--seccomp", "strict"), 2,
                 "--seccomp 'strict'", "kill, log or off")
    expect_error(tern("run", "--kernel", "k", "--seccomp"), 2, "needs a value")


# --firmware (a PC BIOS image such as SeaBIOS's bios.bin): every mistake is
# a usage error before any VM exists, so these run without KVM.
@test
def firmware_file_errors_are_usage_errors():
    expect_error(tern("run", "--firmware", "/nonexistent/bios.bin"), 2,
                 "--firmware /nonexistent/bios.bin", "No such file")
    expect_error(tern("run", "--firmware", WORK), 2, "not a regular file")
    for size, shown in ((3, "3 bytes"), (128 * 1024 + 512, "131584 bytes"),
                        (32 * 1024, "32768 bytes"), (17 * 1024 * 1024, "17825792 bytes")):
        path = write_file("bios-bad.bin", bytes(size))
        expect_error(tern("run", "--firmware", path), 2, shown,
                     "64 KiB to 16 MiB, a multiple of 64 KiB")


@test
def firmware_goes_without_a_kernel_and_with_pci():
    bios = write_file("bios.bin", bytes(128 * 1024))
    for extra, words in ((["--kernel", KERNEL_OK], ["no kernel, initrd or module"]),
                         (["--initrd", KERNEL_OK], ["no kernel, initrd or module"]),
                         (["--cmdline", "quiet"], ["command line is the boot loader's"]),
                         (["--transport", "mmio"], ["needs the pci transport"])):
        expect_error(tern("run", "--firmware", bios, *extra), 2, *words)
    # The config file's spelling, tern.firmware, is checked the same way.
    doc = write_file("firmware.json", json.dumps({
        "boot-source": {"kernel_image_path": KERNEL_OK},
        "tern": {"firmware": bios}}).encode())
    expect_error(tern("run", "--config-file", doc), 2, "no kernel, initrd or module")
    doc = write_file("firmware-bad.json", json.dumps({"tern": {"firmware": 12}}).encode())
    expect_error(tern("run", "--config-file", doc), 2, "tern.firmware")


# --acpi (ACPI S3's machine shapes, docs/api.md): a bad mode, and reduced
# with a firmware (whose BIOS programs the 8259 PIC), are usage errors, on
# the command line and as tern.acpi.
@test
def acpi_mode_errors_are_usage_errors():
    assert "--acpi MODE" in tern("run", "--help").stdout
    expect_error(tern("run", "--kernel", KERNEL_OK, "--acpi", "half"), 2,
                 "--acpi 'half'", "full or reduced")
    bios = write_file("bios-acpi.bin", bytes(128 * 1024))
    expect_error(tern("run", "--firmware", bios, "--acpi", "reduced"), 2,
                 "--acpi reduced", "full ACPI")
    doc = write_file("acpi-bad.json", json.dumps({
        "boot-source": {"kernel_image_path": KERNEL_OK},
        "tern": {"acpi": "none"}}).encode())
    expect_error(tern("run", "--config-file", doc), 2, "tern.acpi", "full or reduced")


@test
def missing_config_file_is_a_usage_error():
    expect_error(tern("run", "--config-file", "/nonexistent/vm.json"), 2, "/nonexistent/vm.json")


@test
def bad_balloon_settings_are_usage_errors():
    cases = [
        (["--balloon", "size=lots"], "not a size"),
        (["--balloon", "size=6K"], "multiple of 4 KiB"),
        (["--balloon", "size=256M"], "less than --memory"),  # default memory 256M
        (["--memory", "512M", "--balloon=size=1G"], "less than --memory"),
        (["--balloon", "stats=soon"], "seconds"),
        (["--balloon", "stats=-1"], "seconds"),
        (["--balloon", "stats=100000"], "seconds"),
        (["--balloon", "size=64M,inflate-now"], "unknown setting 'inflate-now'"),
    ]
    for args, words in cases:
        expect_error(tern("run", "--kernel", "k", *args), 2, "--balloon", words)


@test
def bad_memory_hotplug_settings_are_usage_errors():
    cases = [
        (["--memory-hotplug", "slot=128"], "total= is required"),
        (["--memory-hotplug", "total=1G"], "whole MiB"),
        (["--memory-hotplug", "total=1024,size=2"], "whole MiB"),
        (["--memory-hotplug", "total=100"], "at least the slot size"),
        (["--memory-hotplug", "total=1024,block=3"], "power of 2"),
        (["--memory-hotplug", "total=1024,slot=64"], "at least 128 MiB"),
        (["--memory-hotplug", "total=384,slot=256"], "multiple of the slot size"),
        (["--memory-hotplug", "total=2097152"], "at most 1 TiB"),
    ]
    for args, words in cases:
        expect_error(tern("run", "--kernel", "k", *args), 2, "--memory-hotplug", words)


@test
def memory_hotplug_sizes_are_accepted():
    """Valid sizes get past the command line (to the missing kernel)."""
    needs_kvm()
    for args in (["--memory-hotplug", "total=128"],
                 ["--memory-hotplug=total=1024,slot=256,block=4"]):
        expect_error(tern("run", "--kernel", os.path.join(WORK, "absent"), *args), 1,
                     "absent")


@test
def balloon_settings_are_accepted_in_both_spellings():
    """Valid settings get past the command line (to the missing kernel), with
    the settings after a space or after '=', and --balloon alone."""
    needs_kvm()
    for args in (["--balloon"], ["--balloon", "size=128M,stats=1"],
                 ["--memory", "512M", "--balloon=size=256M,deflate-on-oom,free-page-reporting"],
                 ["--balloon", "free-page-hinting,free-page-reporting,stats=1"],
                 ["--balloon", "stats=0", "--rng"]):
        expect_error(tern("run", "--kernel", os.path.join(WORK, "absent"), *args), 1,
                     "absent")


@test
def missing_kvm_device_is_a_runtime_error():
    expect_error(tern("run", "--kernel", KERNEL_OK, "--kvm-device", "/nonexistent/kvm"), 1,
                 "does not exist")


@test
def a_device_that_is_not_kvm_is_a_runtime_error():
    expect_error(tern("run", "--kernel", KERNEL_OK, "--kvm-device", "/dev/null"), 1,
                 "not a KVM device")


@test
def no_permission_on_kvm_is_a_runtime_error():
    if not os.path.exists("/dev/kvm"):
        skip("no /dev/kvm on this machine")
    if os.stat("/dev/kvm").st_mode & 0o006:
        skip("/dev/kvm is world-accessible here")
    os.chmod(WORK, 0o755)
    os.chmod(KERNEL_OK, 0o644)
    expect_error(tern("run", "--kernel", KERNEL_OK, user="65534"), 1, "no permission")


def needs_kvm():
    if not os.path.exists("/dev/kvm"):
        skip("no /dev/kvm on this machine")


@test
def missing_kernel_file_is_a_runtime_error():
    needs_kvm()
    expect_error(tern("run", "--kernel", os.path.join(WORK, "nope")), 1, "No such file")


@test
def empty_kernel_is_a_runtime_error():
    needs_kvm()
    expect_error(tern("run", "--kernel", write_file("empty", b"")), 1, "empty")


@test
def not_a_kernel_is_a_runtime_error():
    needs_kvm()
    garbage = write_file("garbage", os.urandom(8192))
    expect_error(tern("run", "--kernel", garbage), 1, "not a Linux kernel")


@test
def truncated_kernel_is_a_runtime_error():
    needs_kvm()
    whole = fake_bzimage()
    for length in (0x210, 0x300, 4 * 512 + 100):
        path = write_file(f"truncated-{length}", whole[:length])
        result = tern("run", "--kernel", path)
        expect_error(result, 1, path)


@test
def old_boot_protocol_is_a_runtime_error():
    needs_kvm()
    path = write_file("old", fake_bzimage(version=0x020a))
    expect_error(tern("run", "--kernel", path), 1, "2.10")


@test
def kernel_without_64_bit_entry_is_a_runtime_error():
    needs_kvm()
    path = write_file("no64", fake_bzimage(xloadflags=0))
    expect_error(tern("run", "--kernel", path), 1, "64-bit")


@test
def missing_initrd_is_a_runtime_error():
    needs_kvm()
    expect_error(tern("run", "--kernel", KERNEL_OK, "--initrd", os.path.join(WORK, "none")), 1,
                 "initrd")


def tern_in_netns(*args):
    """tern in a network namespace of its own (unshare -n), which vanishes
    with it: the host's interfaces are never touched."""
    return subprocess.run(["unshare", "-n", TERN] + list(args), capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


@test
def net_on_a_device_that_is_not_a_tap_is_a_runtime_error():
    needs_kvm()
    expect_error(tern_in_netns("run", "--kernel", KERNEL_OK, "--net", "tap=lo"), 1,
                 "lo is not a tap interface")


@test
def net_on_a_busy_tap_is_a_runtime_error():
    needs_kvm()
    if not os.path.exists("/dev/net/tun"):
        skip("no /dev/net/tun on this machine")
    # Inside one fresh namespace: a holder attaches to tap0, then tern
    # tries the same tap.
    holder = f"""
import fcntl, struct, subprocess, sys
tun = open("/dev/net/tun", "r+b", buffering=0)
fcntl.ioctl(tun, 0x400454ca, struct.pack("16sH", b"tap0", 0x0002 | 0x1000 | 0x4000))
r = subprocess.run([{TERN!r}, "run", "--kernel", {KERNEL_OK!r}, "--net", "tap=tap0"],
                   capture_output=True, text=True, stdin=subprocess.DEVNULL)
sys.stderr.write(r.stderr)
sys.exit(r.returncode)
"""
    result = subprocess.run(["unshare", "-n", sys.executable, "-c", holder],
                            capture_output=True, text=True, timeout=60)
    expect_error(result, 1, "tap0 is busy")


@test
def unwritable_serial_file_is_a_runtime_error():
    needs_kvm()
    expect_error(tern("run", "--kernel", KERNEL_OK, "--serial", "file:/nonexistent/dir/log"), 1,
                 "serial output")


@test
def serial_file_through_a_symlink_is_a_runtime_error():
    needs_kvm()
    victim = write_file("serial-victim", b"precious")
    link = os.path.join(WORK, "serial-link")
    os.symlink(victim, link)
    expect_error(tern("run", "--kernel", KERNEL_OK, "--serial", f"file:{link}"), 1,
                 "serial output", link, "symbolic link")
    with open(victim, "rb") as f:
        assert f.read() == b"precious"


@test
def bad_serial_file_limit_is_a_usage_error():
    for bad in ("lots", "-1", "12Q", ""):
        expect_error(tern("run", "--kernel", "k", "--serial-file-limit", bad), 2,
                     "--serial-file-limit", "not a size")


def disk_image(name, size=1 << 20):
    path = os.path.join(WORK, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


@test
def disk_without_path_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--disk", "readonly"), 2, "path=FILE is required")
    expect_error(tern("run", "--kernel", "k", "--disk", "path="), 2, "path= needs a file name")
    expect_error(tern("run", "--kernel", "k", "--disk", ""), 2, "empty item")


@test
def disk_with_unknown_key_or_value_is_a_usage_error():
    image = disk_image("keys.img")
    expect_error(tern("run", "--kernel", "k", "--disk", f"path={image},frob=1"), 2,
                 "unknown key 'frob=1'")
    expect_error(tern("run", "--kernel", "k", "--disk", f"path={image},,readonly"), 2,
                 "empty item")
    expect_error(tern("run", "--kernel", "k", "--disk", f"path={image},readonly=yes"), 2,
                 "unknown key")
    expect_error(tern("run", "--kernel", "k", "--disk", f"path={image},cache=fast"), 2,
                 "cache= is Unsafe, Writeback or None")
    expect_error(tern("run", "--kernel", "k", "--disk", f"path={image},engine=aio"), 2,
                 "engine= is io_uring or threads")
    expect_error(tern("run", "--kernel", "k", "--disk", f"path={image},id=" + "x" * 21), 2,
                 "1 to 20 characters")
    expect_error(tern("run", "--kernel", "k", "--disk", f"path={image},id=a b"), 2,
                 "printable ASCII")


@test
def missing_disk_file_is_a_usage_error():
    expect_error(tern("run", "--kernel", "k", "--disk", f"path={WORK}/no-such.img"), 2,
                 "No such file")


@test
def duplicate_disk_id_or_file_is_a_usage_error():
    a, b = disk_image("dup-a.img"), disk_image("dup-b.img")
    expect_error(tern("run", "--kernel", "k", "--disk", f"path={a},id=data",
                      "--disk", f"path={b},id=data"), 2, "two disks have the id 'data'")
    # the default ids are disk0, disk1, ...: an explicit one can clash
    expect_error(tern("run", "--kernel", "k", "--disk", f"path={a}",
                      "--disk", f"path={b},id=disk0"), 2, "'disk0'")
    os.symlink(a, os.path.join(WORK, "dup-link.img"))
    expect_error(tern("run", "--kernel", "k", "--disk", f"path={a}",
                      "--disk", f"path={WORK}/dup-link.img"), 2, "given twice")


@test
def more_than_16_disks_is_a_usage_error():
    args = []
    for i in range(17):
        args += ["--disk", f"path={disk_image(f'many-{i}.img')}"]
    expect_error(tern("run", "--kernel", "k", *args), 2, "at most 16 disks")


@test
def disk_image_that_is_not_a_file_is_a_runtime_error():
    needs_kvm()
    expect_error(tern("run", "--kernel", KERNEL_OK, "--disk", f"path={WORK}"), 1,
                 "Is a directory")


@test
def block_device_disk_needs_allow_block_devices():
    needs_kvm()
    # An unbound loop device: a block device that holds nothing.
    devices = [d for d in sorted(glob.glob("/dev/loop[0-9]*"))
               if stat.S_ISBLK(os.stat(d).st_mode)]
    if not devices:
        skip("no loop device node on this machine")
    expect_error(tern("run", "--kernel", KERNEL_OK, "--disk", f"path={devices[0]},readonly"), 1,
                 devices[0], "block device", "--allow-block-devices")


@test
def disk_image_locked_by_another_process_is_a_runtime_error():
    needs_kvm()
    import fcntl
    image = disk_image("locked.img")
    with open(image, "r+b") as holder:
        # A POSIX lock conflicts with tern's OFD lock, as another tern's would.
        fcntl.lockf(holder, fcntl.LOCK_SH)
        expect_error(tern("run", "--kernel", KERNEL_OK, "--disk", f"path={image}"), 1,
                     "is locked")


# Multiboot images and QEMU's debug-exit port: the project's Multiboot test
# guests (tests/kvm/guests/multiboot_*.S) boot on this machine's /dev/kvm and
# end tern through the port with (value << 1) | 1.
GUESTS = os.path.join(ROOT, "build", "guests")


def built_guest(name):
    path = os.path.join(GUESTS, name)
    if not os.path.exists(path):
        raise AssertionError(f"{path} is missing: the guests build failed")
    return path


@test
def multiboot_guest_exits_through_debug_exit():
    needs_kvm()
    kernel = built_guest("multiboot_elf.elf")
    env = write_file("env", b"NR_CPUS=1\n")
    extra = write_file("extra", b"extra bytes")
    result = tern("run", "--kernel", kernel, "--cmdline", "a b", "--initrd", env,
                  "--module", f"{extra},extra,string", "--debug-exit", "--memory", "64M",
                  "--serial", "stdio", "--log-level", "warn")
    assert result.returncode == 85, (result.returncode, result.stdout, result.stderr)
    assert f"cmdline {kernel} a b\n" in result.stdout, result.stdout
    assert f"module {env}=NR_CPUS=1\n" in result.stdout, result.stdout
    assert "module extra,string=extra bytes\n" in result.stdout, result.stdout
    assert "fwcfg QEMU 00000001 0000000004000000 00000000\n" in result.stdout, result.stdout
    assert result.stderr == "", result.stderr


@test
def aout_kludge_guest_exits_through_debug_exit_port():
    needs_kvm()
    kernel = built_guest("multiboot_aout.bin")
    result = tern("run", "--kernel", kernel, "--debug-exit=0xf4", "--memory", "64M",
                  "--log-level", "warn")
    assert result.returncode == 43, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == f"aout cmdline {kernel}\n", result.stdout


@test
def disk_image_of_odd_size_hides_its_partial_sector_with_a_warning():
    """As Firecracker: a file of 1 MiB + 100 bytes is a disk of 2048
    sectors; tern warns, naming the file and the bytes left out, and runs
    the guest (tests/unit/test_virtio_blk.c writes such a disk to its end)."""
    needs_kvm()
    kernel = built_guest("multiboot_aout.bin")
    image = disk_image("odd.img")
    with open(image, "ab") as f:
        f.write(b"\xe7" * 100)
    result = tern("run", "--kernel", kernel, "--debug-exit=0xf4", "--memory", "64M",
                  "--disk", f"path={image}", "--log-level", "warn")
    assert result.returncode == 43, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for words in (image, "1048676 bytes", "not a multiple of 512", "2048 sectors",
                  "the last 100 bytes are hidden"):
        assert words in lines[0], (words, lines[0])
    with open(image, "rb") as f:
        assert f.read() == bytes(1 << 20) + b"\xe7" * 100


@test
def noapic_with_reduced_acpi_is_warned_about():
    """A noapic command line gets full ACPI unless --acpi says otherwise
    (docs/api.md, "Firecracker's clients"); --acpi reduced with noapic
    leaves a Linux guest no interrupt controller: tern says so and runs."""
    needs_kvm()
    kernel = built_guest("multiboot_aout.bin")
    base = ["run", "--kernel", kernel, "--debug-exit=0xf4", "--memory", "64M",
            "--log-level", "warn", "--cmdline", "console=ttyS0 noapic"]
    result = tern(*base, "--acpi", "reduced")
    assert result.returncode == 43, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "noapic" in lines[0] and \
        "no interrupt controller" in lines[0], lines
    for extra in ([], ["--acpi", "full"]):
        result = tern(*base, *extra)
        assert result.returncode == 43, (extra, result.returncode, result.stderr)
        assert result.stderr == "", (extra, result.stderr)


@test
def sigusr2_logs_each_vcpus_report_and_tern_runs_on():
    needs_kvm()
    kernel = built_guest("spin32-pvh.elf")
    # The API's and devices' threads start before the VM runs: the signal
    # must reach the main loop all the same, not a thread that drops it.
    log = os.path.join(WORK, "report.log")
    with open(log, "w") as err:
        proc = subprocess.Popen([TERN, "run", "--kernel", kernel, "--cpus", "2", "--memory", "64M",
                                 "--serial", "none", "--rng", "--balloon",
                                 "--api-sock", os.path.join(WORK, "report.sock")], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, cwd=WORK)
    try:
        wait_for_socket(os.path.join(WORK, "report.sock"), proc)
        Api(os.path.join(WORK, "report.sock")).ok("PUT", "/actions",
                                                  {"action_type": "InstanceStart"})
        deadline = time.monotonic() + 30
        while "Not started -> Running" not in open(log).read():
            assert proc.poll() is None and time.monotonic() < deadline, open(log).read()
            time.sleep(0.05)
        # The boot vCPU spins with two marker words on its stack; the second
        # vCPU was never started (PVH boots one), so KVM keeps it waiting.
        # On a loaded machine the first report can come before vCPU 0 ran
        # its first instructions: ask again until the markers are there.
        while "vCPU 0: stack+0x000: cafe0002cafe0001" not in open(log).read():
            reports = open(log).read().count("each vCPU reports its state")
            proc.send_signal(signal.SIGUSR2)
            while open(log).read().count("vCPU 0: stack+0x0e0") <= reports or \
                    open(log).read().count("vCPU 1: stack+0x0e0") <= reports:
                assert proc.poll() is None and time.monotonic() < deadline, open(log).read()
                time.sleep(0.05)
        text = open(log).read()
        assert re.search(r"vCPU 0: runnable rip=0x1010[0-9a-f]{2} rsp=0x7fff8 ", text), text
        assert "vCPU 0: stack+0x000: cafe0002cafe0001 " in text, text
        assert re.search(r"vCPU 1: uninitialized rip=0xfff0 ", text), text
        assert re.search(r"vCPU 0: pending exception=none:0 interrupt=none:0", text), text
        assert "vCPU 0: lapic tpr=0x0 in-service=- requested=-" in text, text
        assert proc.poll() is None, "SIGUSR2 ended tern"
    finally:
        proc.terminate()
        status = proc.wait(timeout=30)
    assert status == 128 + signal.SIGTERM, (status, open(log).read())


def read_until(fd, wanted, proc, timeout=30):
    """What fd gave until it holds wanted (bytes), or fails saying what came."""
    data = b""
    deadline = time.monotonic() + timeout
    while wanted not in data:
        assert proc.poll() is None and time.monotonic() < deadline, (wanted, data, proc.poll())
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            data += os.read(fd, 4096)
    return data


@test
def console_ctrl_a_keys_reach_tern_and_the_rest_the_guest():
    """--serial stdio end to end, on echo32 (it echoes what COM1 receives,
    CR as CR LF): Ctrl-A Ctrl-A is one Ctrl-A to the guest, an unknown
    escape is swallowed, Ctrl-A b SIZE Enter is tern's (here: no balloon,
    a warning) with the LF after its CR the guest's, and Ctrl-A x, split
    across two writes, ends tern with status 0. The cases one by one:
    tests/unit/test_console_escape.c."""
    needs_kvm()
    kernel = built_guest("echo32-pvh.elf")
    log = os.path.join(WORK, "escape.log")
    with open(log, "w") as err:
        proc = subprocess.Popen([TERN, "run", "--kernel", kernel, "--memory", "64M",
                                 "--serial", "stdio", "--log-level", "warn"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                cwd=WORK)
    try:
        out = proc.stdout.fileno()
        # Whole lines: the guest's output comes a few bytes per read, so a
        # read may end inside a line; each echo is waited for exactly.
        read_until(out, b"echo32 ready\r\n", proc)
        proc.stdin.write(b"a\x01\x01b\x01zc\r")
        proc.stdin.flush()
        got = read_until(out, b"\r\n", proc)
        assert got == b"a\x01bc\r\n", got
        proc.stdin.write(b"\x01b1G\r\nd\r")
        proc.stdin.flush()
        got = read_until(out, b"d\r\n", proc)
        assert got == b"\nd\r\n", got
        proc.stdin.write(b"e\x01")
        proc.stdin.flush()
        read_until(out, b"e", proc)
        time.sleep(0.2)
        assert proc.poll() is None, "Ctrl-A alone ended tern"
        proc.stdin.write(b"x")
        proc.stdin.flush()
        status = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = open(log).read()
    assert status == 0, (status, text)
    assert "no balloon to set" in text, text


@test
def debug_exit_and_module_usage_errors():
    for bad in ("0", "0x10000", "0xfffd", "-1", "f4", "0xf4x"):
        expect_error(tern("run", "--kernel", "k", f"--debug-exit={bad}"), 2,
                     f"--debug-exit port '{bad}'")
    expect_error(tern("run", "--kernel", "k", "--module", ",x"), 2, "names no file")
    too_many = []
    for i in range(17):
        too_many += ["--module", f"m{i}"]
    expect_error(tern("run", "--kernel", "k", *too_many), 2, "at most 16 modules")


@test
def hyperv_testdev_needs_hyperv():
    needs_kvm()
    kernel = built_guest("multiboot_aout.bin")
    expect_error(tern("run", "--kernel", kernel, "--memory", "64M", "--hyperv-testdev"), 1,
                 "--hyperv-testdev needs --hyperv")
    # With it, the guest runs as before (it never looks at the Hyper-V
    # leaves) and ends through the debug-exit port.
    result = tern("run", "--kernel", kernel, "--debug-exit=0xf4", "--memory", "64M",
                  "--hyperv", "--hyperv-testdev", "--log-level", "warn")
    assert result.returncode == 43, (result.returncode, result.stdout, result.stderr)


@test
def multiboot_runtime_errors():
    needs_kvm()
    expect_error(tern("run", "--kernel", KERNEL_OK, "--module", KERNEL_OK), 1,
                 "only for Multiboot")
    kernel = built_guest("multiboot_elf.elf")
    expect_error(tern("run", "--kernel", kernel, "--module", os.path.join(WORK, "nope")), 1,
                 "nope")
    image = bytearray(open(kernel, "rb").read())
    offset = image.find(struct.pack("<I", 0x1BADB002))
    assert 0 <= offset < 8192
    image[offset + 8] ^= 1
    expect_error(tern("run", "--kernel", write_file("badsum.elf", bytes(image))), 1,
                 "bad checksum")
    image[offset + 8] ^= 1
    phoff = struct.unpack_from("<I", image, 0x1c)[0]
    struct.pack_into("<I", image, phoff + 12, 0x6000)   # the PT_LOAD's p_paddr
    expect_error(tern("run", "--kernel", write_file("low.elf", bytes(image))), 1,
                 "overlaps the Multiboot information")
    struct.pack_into("<I", image, phoff + 12, 0x7ffff000)
    expect_error(tern("run", "--kernel", write_file("high.elf", bytes(image)), "--memory", "64M"),
                 1, "outside the guest's RAM")


# tern snapshot / tern restore: clients of a running tern's API and `tern
# run` loading a snapshot. The fake bzImage gives InstanceStart a real VM on
# this machine's /dev/kvm (its vCPU spins without exits), enough for a
# snapshot round trip without a guest.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from apiclient import Api, wait_for_socket  # noqa: E402


class Background:
    """tern run/restore with an API socket, stopped with SIGTERM."""
    counter = 0

    def __init__(self, command, *args):
        Background.counter += 1
        self.sock = os.path.join(WORK, f"api{Background.counter}.sock")
        self.proc = subprocess.Popen(
            [TERN, command, "--api-sock", self.sock, "--serial", "none"] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        wait_for_socket(self.sock, self.proc)
        self.api = Api(self.sock)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, self.stderr = self.proc.communicate(timeout=20)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        status = self.stop()
        assert status in (0, 128 + signal.SIGTERM), (status, self.stderr)
        return False


def tern_in_work(*args):
    return subprocess.run([TERN] + list(args), capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, cwd=WORK)


@test
def snapshot_and_restore_help_and_command_list():
    result = tern("--help")
    assert result.returncode == 0 and "snapshot" in result.stdout and "restore" in result.stdout
    result = tern("snapshot", "--help")
    assert result.returncode == 0
    for word in ("--api-sock", "--snapshot", "--mem", "--diff", "--resume", "paused",
                 "Exit status"):
        assert word in result.stdout, word
    result = tern("restore", "--help")
    assert result.returncode == 0
    for word in ("--snapshot", "--mem", "--uffd", "--paused", "--api-sock", "--serial",
                 "--disk", "Exit status"):
        assert word in result.stdout, word


@test
def snapshot_usage_errors():
    expect_error(tern("snapshot"), 2, "--api-sock is required")
    expect_error(tern("snapshot", "--api-sock", "s"), 2, "--snapshot is required")
    expect_error(tern("snapshot", "--api-sock", "s", "--snapshot", "a"), 2, "--mem is required")
    expect_error(tern("snapshot", "--api-sock", "s", "--snapshot", "a", "--mem", "b", "--full"),
                 2, "unknown option '--full'")
    expect_error(tern("snapshot", "--api-sock", "s", "--snapshot", "a", "--mem", "b", "extra"),
                 2, "unexpected argument 'extra'")
    expect_error(tern("snapshot", "--api-sock"), 2, "needs a value")


@test
def snapshot_without_a_tern_on_the_socket_is_a_runtime_error():
    expect_error(tern("snapshot", "--api-sock", os.path.join(WORK, "nope.sock"),
                      "--snapshot", "a", "--mem", "b"), 1, "cannot connect", "nope.sock")
    plain = os.path.join(WORK, "not-a-socket")
    write_file("not-a-socket", b"")
    expect_error(tern("snapshot", "--api-sock", plain, "--snapshot", "a", "--mem", "b"), 1,
                 "cannot connect")


@test
def restore_usage_errors():
    expect_error(tern("restore"), 2, "--snapshot is required")
    expect_error(tern("restore", "--snapshot", "a"), 2, "--mem is required")
    expect_error(tern("restore", "--snapshot", "a", "--mem"), 2, "need a value")
    expect_error(tern("restore", "--snapshot", "a", "--uffd"), 2, "need a value")
    expect_error(tern("restore", "--snapshot", "a", "--mem", "b", "--uffd", "c"), 2,
                 "one of --mem and --uffd")
    expect_error(tern("restore", "--snapshot", "a", "--mem", "b", "--paused"), 2,
                 "--paused needs --api-sock")
    expect_error(tern("restore", "--snapshot", "a", "--mem", "b", "--bogus"), 2,
                 "unknown option '--bogus'", "tern restore --help")
    expect_error(tern("restore", "--snapshot", "a", "--mem", "b", "--incoming", "tcp:127.0.0.1:1"),
                 2, "--incoming")


@test
def restore_from_missing_or_bad_files_is_a_runtime_error():
    needs_kvm()
    mem = write_file("restore-mem", b"\0" * 4096)
    expect_error(tern("restore", "--snapshot", os.path.join(WORK, "nope"), "--mem", mem,
                      "--serial", "none"), 1, "nope")
    expect_error(tern("restore", "--snapshot", mem, "--mem", os.path.join(WORK, "nomem"),
                      "--serial", "none"), 1, "nomem", "No such file")
    junk = write_file("junk-snapshot", b"not a snapshot at all")
    expect_error(tern("restore", "--snapshot", junk, "--mem", mem, "--serial", "none"), 1)


def settled_state(t, timeout=10):
    """The instance state once a restore's load, which runs at start beside
    the API, has finished (it reads "Not started" until then)."""
    deadline = time.monotonic() + timeout
    state = t.api.get("/")[1]["state"]
    while state == "Not started" and time.monotonic() < deadline:
        time.sleep(0.05)
        state = t.api.get("/")[1]["state"]
    return state


@test
def snapshot_then_restore_round_trip():
    needs_kvm()
    snap, mem = "rt-snap", "rt-mem"       # relative: made absolute by the client
    with Background("run", "--kernel", KERNEL_OK, "--cpus", "2") as t:
        expect_error(tern_in_work("snapshot", "--api-sock", t.sock, "--snapshot", snap,
                                  "--mem", mem), 1, "not running", "Not started")
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        # The API's own error comes through as one line.
        expect_error(tern_in_work("snapshot", "--api-sock", t.sock, "--snapshot", snap,
                                  "--mem", mem, "--diff"), 1, "needs a Full snapshot")
        t.api.ok("PATCH", "/vm", {"state": "Resumed"})
        result = tern_in_work("snapshot", "--api-sock", t.sock, "--snapshot", snap, "--mem", mem)
        assert result.returncode == 0, result.stderr
        assert "Full snapshot written" in result.stdout and "paused" in result.stdout, result.stdout
        assert t.api.get("/")[1]["state"] == "Paused"     # left paused by default
        result = tern_in_work("snapshot", "--api-sock", t.sock, "--snapshot", snap + "2",
                              "--mem", mem, "--diff", "--resume")
        assert result.returncode == 0, result.stderr
        assert "Diff snapshot written" in result.stdout, result.stdout
        assert t.api.get("/")[1]["state"] == "Running"
    assert os.path.getsize(os.path.join(WORK, mem)) == 256 << 20
    snap, mem = os.path.join(WORK, snap), os.path.join(WORK, mem)
    with Background("restore", "--snapshot", snap + "2", "--mem", mem) as t:
        assert settled_state(t) == "Running"
        machine = t.api.get("/machine-config")[1]
        assert machine["vcpu_count"] == 2 and machine["mem_size_mib"] == 256, machine
        # The snapshot's configuration: its boot source, too.
        config = t.api.get("/vm/config")[1]
        assert config["boot-source"]["kernel_image_path"] == KERNEL_OK, config
        assert config["machine-config"]["vcpu_count"] == 2, config
    # --cpus / --memory other than the snapshot's: refused, not ignored;
    # the same values are fine.
    expect_error(tern("restore", "--snapshot", snap, "--mem", mem, "--serial", "none",
                      "--cpus", "1"), 2, "--cpus 1: the snapshot's VM has 2 vCPUs")
    expect_error(tern("restore", "--snapshot", snap, "--mem", mem, "--serial", "none",
                      "-m", "128M"), 2, "--memory 128 MiB: the snapshot's VM has 256 MiB")
    with Background("restore", "--snapshot", snap, "--mem", mem, "--cpus", "2",
                    "--memory", "256M", "--paused") as t:
        assert settled_state(t) == "Paused"
    with Background("restore", "--snapshot", snap, "--mem", mem, "--paused") as t:
        assert settled_state(t) == "Paused"
        t.api.ok("PATCH", "/vm", {"state": "Resumed"})
        assert t.api.get("/")[1]["state"] == "Running"
    # Without an API socket it runs like tern run until a signal.
    proc = subprocess.Popen([TERN, "restore", "--snapshot", snap, "--mem", mem, "--serial", "none"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        proc.wait(timeout=1.5)
    except subprocess.TimeoutExpired:
        pass
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, err)
    # The devices must match the snapshot's.
    result = tern("restore", "--snapshot", snap, "--mem", mem, "--serial", "none", "--rng")
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "no entropy device (virtio-rng), this VM has one" in result.stderr, result.stderr


# tern migrate: a client of the source's API (PUT /migration, then GET
# /migration until it ends).
@test
def migrate_help_and_usage_errors():
    result = tern("--help")
    assert result.returncode == 0 and "migrate" in result.stdout
    result = tern("migrate", "--help")
    assert result.returncode == 0
    for word in ("--api-sock", "tcp:HOST:PORT", "--timeout", "--quiet", "--incoming",
                 "downtime", "Exit status", "--migration-tls", "psk=FILE",
                 "--insecure-plain-tcp"):
        assert word in result.stdout, word
    expect_error(tern("migrate"), 2, "--api-sock is required")
    expect_error(tern("migrate", "--api-sock", "s"), 2, "destination", "required")
    expect_error(tern("migrate", "--api-sock", "s", "unix:/x"), 2, "tcp:HOST:PORT")
    expect_error(tern("migrate", "--api-sock", "s", "tcp:h"), 2, "no port")
    expect_error(tern("migrate", "--api-sock", "s", "tcp:h:44x"), 2, "not a number")
    expect_error(tern("migrate", "--api-sock", "s", "tcp::4444"), 2, "names no host")
    expect_error(tern("migrate", "--api-sock", "s", "tcp:h:1", "tcp:h:2"), 2,
                 "unexpected argument 'tcp:h:2'")
    expect_error(tern("migrate", "--api-sock", "s", "--timeout", "-1", "tcp:h:1"), 2,
                 "--timeout")
    expect_error(tern("migrate", "--api-sock", "s", "--timeout", "x", "tcp:h:1"), 2,
                 "--timeout")
    expect_error(tern("migrate", "--api-sock", "s", "--bogus", "tcp:h:1"), 2,
                 "unknown option '--bogus'", "tern migrate --help")
    expect_error(tern("migrate", "--api-sock"), 2, "needs a value")
    expect_error(tern("migrate", "--api-sock", "s", "--migration-tls", "ca=a,cert=b", "tcp:h:1"),
                 2, "--migration-tls", "the key file is missing")
    expect_error(tern("migrate", "--api-sock", "s", "--migration-tls", "psk=a",
                      "--insecure-plain-tcp", "tcp:h:1"), 2, "exclude each other")
    expect_error(tern("migrate", "--api-sock", "s", "--migration-tls", "pks=a", "tcp:h:1"),
                 2, "use ca=FILE,cert=FILE,key=FILE or psk=FILE")


@test
def incoming_needs_tls_or_plain_tcp_by_name():
    expect_error(tern("run", "--incoming", "tcp:127.0.0.1:1"), 2, "migration needs TLS",
                 "--migration-tls", "--insecure-plain-tcp")
    expect_error(tern("run", "--incoming", "tcp:127.0.0.1:1", "--migration-tls", "psk=x",
                      "--insecure-plain-tcp"), 2, "exclude each other")
    expect_error(tern("run", "--kernel", "k", "--migration-tls", "cert=a,key=b"), 2,
                 "the CA file is missing")
    # Files are read when the listener is set up: before anything listens.
    expect_error(tern("run", "--incoming", "tcp:127.0.0.1:1", "--migration-tls",
                      "psk=" + os.path.join(WORK, "nope")), 1, "PSK file", "No such file")
    result = tern("run", "--help")
    for word in ("--migration-tls", "ca=FILE,cert=FILE,key=FILE", "psk=FILE",
                 "--insecure-plain-tcp", "unencrypted"):
        assert word in result.stdout, word


@test
def migrate_runtime_errors():
    expect_error(tern("migrate", "--api-sock", os.path.join(WORK, "nope.sock"),
                      "tcp:127.0.0.1:1"), 1, "cannot connect", "nope.sock")
    needs_kvm()
    with Background("run", "--kernel", KERNEL_OK) as t:
        expect_error(tern("migrate", "--api-sock", t.sock, "tcp:127.0.0.1:1"), 1,
                     "needs a running VM", "Not started")
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        expect_error(tern("migrate", "--api-sock", t.sock, "tcp:127.0.0.1:1"), 1,
                     "migration needs TLS")
        expect_error(tern("migrate", "--api-sock", t.sock, "--insecure-plain-tcp",
                          "tcp:127.0.0.1:1"), 1, "cannot connect")
        assert t.api.get("/")[1]["state"] == "Running"


@test
def migrate_moves_a_vm_with_a_disk_and_reports():
    """The fake guest with a disk moves to a destination naming the same
    image; tern migrate prints the passes and the downtime, exits 0, and the
    source exits 0 too."""
    needs_kvm()
    port = 45500 + os.getpid() % 1000
    image = disk_image("migrate.img")
    keys = TlsKeys(os.path.join(WORK, "tls"))
    # Relative paths: tern migrate makes them absolute for the source.
    src_tls = "ca=tls/ca.pem,cert=tls/src.pem,key=tls/src.key"
    with Background("run", "--kernel", KERNEL_OK, "--disk", f"path={image}", "--rng") as src, \
            Background("run", "--incoming", f"tcp:127.0.0.1:{port}", "--disk",
                       f"path={image}", "--rng", "--migration-tls",
                       keys.tls_option("dst")) as dst:
        src.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        for _ in range(50):   # the destination listens just after its socket appears
            result = subprocess.run([TERN, "migrate", "--api-sock", src.sock,
                                     "--migration-tls", src_tls, f"tcp:127.0.0.1:{port}"],
                                    capture_output=True, text=True, timeout=60, cwd=WORK,
                                    stdin=subprocess.DEVNULL)
            if "cannot connect" not in result.stderr:
                break
            time.sleep(0.1)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.strip().splitlines()
        assert lines[0] == f"migrating to tcp:127.0.0.1:{port}", lines
        # The fake guest moves within one poll: no pass line need show.
        assert re.match(rf"migrated to tcp:127.0.0.1:{port}: [\d.]+ ms in all, downtime "
                        r"[\d.]+ ms, \d+ passes, [\d.]+ MiB sent$", lines[-1]), lines
        assert src.proc.wait(timeout=30) == 0, src.proc.communicate()
        assert dst.api.get("/")[1]["state"] == "Running"


# --- tern as Firecracker (tern firecracker, or the build/firecracker link) ---

FIRECRACKER = os.path.join(ROOT, "build", "firecracker")


def firecracker(*args, timeout=60):
    return subprocess.run([FIRECRACKER] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@test
def firecracker_version_is_what_kata_parses_and_says_tern():
    for result in (firecracker("--version"), tern("firecracker", "--version")):
        assert result.returncode == 0, result.stderr
        first, second = result.stdout.splitlines()[:2]
        # Kata Containers: the first line's second word, "v" stripped, is
        # a semantic version at least 0.21.1.
        words = first.split(" ")
        assert words[0] == "Firecracker" and words[1].startswith("v"), first
        m = re.match(r"(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$", words[1][1:])
        assert m, first
        assert tuple(int(x) for x in m.groups()[:3]) >= (0, 21, 1), first
        assert "tern" in second and "not Firecracker" in second, second


@test
def firecracker_help_describes_every_option():
    result = firecracker("--help")
    assert result.returncode == 0, result.stderr
    for option in ("--api-sock", "/run/firecracker.socket", "--config-file", "--no-api", "--id",
                   "--boot-timer", "--level", "--log-path", "--show-level", "--show-log-origin",
                   "--module", "--metrics-path", "--no-seccomp", "--seccomp-filter",
                   "--http-api-max-payload-size", "51200", "--mmds-size-limit",
                   "--describe-snapshot", "--snapshot-version", "--version", "--enable-pci",
                   "--start-time-us", "128 MiB", "--metadata", "Exit status"):
        assert option in result.stdout, option
    assert "firecracker" in tern("--help").stdout


@test
def firecracker_usage_errors():
    expect_error(firecracker("--frobnicate"), 2, "--frobnicate")
    expect_error(firecracker("--no-api"), 2, "--no-api needs --config-file")
    expect_error(firecracker("--id", "a_b"), 2, "--id", "character 2")
    expect_error(firecracker("--id", "x" * 65), 2, "--id", "64")
    expect_error(firecracker("--level", "Loud", "--api-sock", os.path.join(WORK, "l.sock")),
                 2, "--level")
    expect_error(firecracker("--http-api-max-payload-size", "lots"), 2, "whole number")
    expect_error(firecracker("--start-time-us", "-1"), 2, "--start-time-us")
    expect_error(firecracker("--metadata", "/etc/hostname"), 2, "--metadata", "not valid JSON")
    expect_error(firecracker("--api-sock"), 2, "needs a value")


@test
def firecracker_metadata_fills_the_mmds():
    expect_error(firecracker("--metadata", os.path.join(WORK, "none.json")), 2,
                 "--metadata", "No such file")
    expect_error(firecracker("--metadata", write_file("bad.json", b'{"a": ')), 2,
                 "--metadata", "not valid JSON", "line 1")
    expect_error(firecracker("--metadata", write_file("dup.json", b'{"a": 1, "a": 2}')), 2,
                 "--metadata", "duplicate")
    expect_error(firecracker("--metadata", WORK), 2, "--metadata", "directory")
    # Over the store's limit: the same check and words as PUT /mmds.
    big = write_file("big.json", json_bytes({"k": "x" * 300}))
    result = firecracker("--metadata", big, "--mmds-size-limit", "100",
                         "--api-sock", os.path.join(WORK, "md-big.sock"))
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "--metadata" in last and "limit" in last and "100" in last, last
    # Far over it: refused before the file is read.
    huge = write_file("huge.json", b" " * 2000 + b"{}")
    result = firecracker("--metadata", huge, "--mmds-size-limit", "100")
    expect_error(result, 2, "--metadata", "2002 bytes")
    doc = {"latest": {"meta-data": {"ami-id": "ami-12345678", "list": [1, 2]}}}
    sock = os.path.join(WORK, "md.sock")
    proc = subprocess.Popen([FIRECRACKER, "--api-sock", sock, "--metadata",
                             write_file("md.json", json_bytes(doc))],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for_socket(sock, proc)
        status, body = Api(sock).get("/mmds")
        assert status == 200 and body == doc, (status, body)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


@test
def firecracker_seccomp_filter_file_is_checked_before_anything_runs():
    """A missing or malformed --seccomp-filter file, or one beside
    --no-seccomp, is the command line's one error (the filters themselves:
    tests/api/test_firecracker_api.py)."""
    sock = os.path.join(WORK, "fc-filter.sock")
    expect_error(firecracker("--api-sock", sock, "--seccomp-filter",
                             os.path.join(WORK, "no-such.bpf")),
                 2, "--seccomp-filter", "no-such.bpf", "No such file")
    short = write_file("short.bpf", b"\x03\x00")
    expect_error(firecracker("--api-sock", sock, "--seccomp-filter", short),
                 2, "--seccomp-filter", "short.bpf", "ends early")
    expect_error(firecracker("--api-sock", sock, "--seccomp-filter", short, "--no-seccomp"),
                 2, "not both")
    assert not os.path.exists(sock)


@test
def firecracker_snapshot_versions():
    result = firecracker("--snapshot-version")
    assert result.returncode == 0 and re.match(r"v\d+\.0\.0$", result.stdout.strip())
    expect_error(firecracker("--describe-snapshot", "/etc/hostname"), 1, "describe-snapshot")
    expect_error(firecracker("--describe-snapshot", os.path.join(WORK, "none")), 1,
                 "describe-snapshot")


@test
def firecracker_no_api_boots_from_the_config_file():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip("no usable /dev/kvm on this machine")
    doc = write_file("fc.json", json_bytes({"boot-source": {"kernel_image_path": KERNEL_OK}}))
    proc = subprocess.Popen([FIRECRACKER, "--no-api", "--config-file", doc, "--level", "Info"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        # The fake kernel spins; tern has booted it once it logs so.
        deadline = time.monotonic() + 20
        err = ""
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if os.path.exists(f"/proc/{proc.pid}/task") and \
                    len(os.listdir(f"/proc/{proc.pid}/task")) > 1:
                break
        assert proc.poll() is None, proc.communicate()[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=20)[1]
    assert "running as Firecracker" in err, err
    assert not os.path.exists("/run/firecracker.socket") or "API listening" not in err, err


def json_bytes(doc):
    import json
    return json.dumps(doc).encode()


if __name__ == "__main__":
    run(setup)
