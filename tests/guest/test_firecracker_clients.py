#!/usr/bin/python3
"""The request sequences of Firecracker's real clients (firecracker-go-sdk,
firectl, Kata Containers' Firecracker driver), replayed against tern
started as `firecracker` (the build's link) with the stock Debian kernel
booted as those clients boot it (`pci=off`, `reboot=k`, their other
arguments), inside the test host.

Each sequence is written below as data (method, path, body, status
Firecracker answers), from a reading of the client's source at the commit
named in its comment; nothing of theirs is copied. Each test launches tern
with the client's own command line, sends the sequence step by step and
checks every status, sees the guest reach its init (TERN-GUEST-READY and
the shell), sends the client's requests after boot, then ends the VM the
way the client does: the Go SDK's Shutdown and firectl's SIGTERM handler
send `SendCtrlAltDel` and wait for the process to exit (tern exits 0 when
the guest reboots: `reboot=k`); Kata stops the VMM with SIGTERM.

What the clients need from their surroundings (a tap device, a jailer,
Kata's agent) is left out: no request of theirs goes unsent because of it
except the network ones (no tap device here; tests/api/test_firecracker_api.py
checks their bodies)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import run, test  # noqa: E402
from apiclient import Api, wait_for_socket  # noqa: E402
import guestlib  # noqa: E402

WORK = tempfile.mkdtemp(prefix="tern-fc-clients-")
FIRECRACKER = os.path.join(os.path.dirname(guestlib.TERN), "firecracker")

# Placeholders in the sequences, filled in per run.
KERNEL, INITRD, SOCK = "@KERNEL@", "@INITRD@", "@SOCK@"


def in_work(name):
    return os.path.join(WORK, name)


def empty_file(name, size=0):
    path = in_work(name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def fill(value, values):
    """The sequence's placeholders replaced, in strings nested anywhere."""
    if isinstance(value, str):
        for key, real in values.items():
            value = value.replace(key, real)
        return value
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    return value


class FifoReader:
    """Reads a FIFO the way the clients do (a goroutine scanning lines):
    opened before the VMM writes to it, kept open."""

    def __init__(self, path):
        self.path = path
        self.lines = []
        os.mkfifo(path)
        # O_RDWR: open does not wait for a writer, and EOF never comes
        # while the VMM reopens it.
        self.fd = os.open(path, os.O_RDWR)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        pending = b""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            *done, pending = pending.split(b"\n")
            self.lines.extend(line.decode(errors="replace") for line in done)

    def close(self):
        os.close(self.fd)


class Vmm:
    """build/firecracker with a client's command line, its console (the
    process's stdout, as the clients give it theirs) through pexpect."""

    def __init__(self, args, sock=None):
        self.sock = sock
        self.log = []
        self.child = pexpect.spawn(FIRECRACKER, args, encoding="utf-8", codec_errors="replace",
                                   timeout=guestlib.BOOT_TIMEOUT, dimensions=(50, 200))
        self.child.logfile_read = guestlib._Collector(self.log)
        if sock:
            deadline = time.time() + 30
            while not os.path.exists(sock):
                assert self.child.isalive() and time.time() < deadline, \
                    f"no API socket; tern said: {''.join(self.log)[-2000:]}"
                time.sleep(0.05)
            wait_for_socket(sock)
            self.api = Api(sock)

    def send(self, client, steps, values):
        """Each step (method, path, body, status): the status as Firecracker
        answers it. Returns the replies, for the steps that check them."""
        replies = []
        for method, path, body, expected in steps:
            body = fill(body, values)
            status, reply = self.api.request(method, path, body)
            print(f"# {client}: {method} {path} -> {status}")
            assert status == expected, \
                f"{client}: {method} {path} {json.dumps(body)}: status {status} " \
                f"(Firecracker: {expected}): {reply}"
            replies.append(reply)
        return replies

    def wait_for_init(self):
        self.child.expect("TERN-GUEST-READY")
        self.child.expect("# ")

    def shell(self, command):
        return guestlib.Guest.shell(self, command)

    def wait_exit(self, timeout=120):
        self.child.expect(pexpect.EOF, timeout=timeout)
        self.child.close()
        return self.child.exitstatus if self.child.exitstatus is not None \
            else 128 + (self.child.signalstatus or 0)

    def close(self, failed):
        if failed:
            try:
                self.child.expect(pexpect.EOF, timeout=1)
            except (pexpect.TIMEOUT, pexpect.EOF, OSError):
                pass
        if self.child.isalive():
            self.child.terminate(force=True)
        if failed:
            print("# console transcript (last 3000 chars):")
            for line in "".join(self.log)[-3000:].splitlines():
                print(f"#   {line}")


def keyboard_found(vmm):
    """Ctrl-Alt-Del needs the guest's i8042 keyboard driver: what dmesg
    says, printed for the transcript."""
    lines = vmm.shell("dmesg | grep -i -E 'i8042|serio|atkbd'")
    for line in lines.splitlines():
        print(f"# guest: {line}")
    return "i8042 KBD port" in lines


# --- firecracker-go-sdk -----------------------------------------------------
# firecracker-microvm/firecracker-go-sdk at 6fb280e993d4 (v1.0.0-166,
# 2025-12-24): machine.go (configureBuilder, seccompArgs, startVMM,
# waitForSocket, setupLogging, setupMetrics, createMachine and
# refreshMachineConfiguration, createBootSource, attachDrive, addVsock,
# startInstance, Shutdown/sendCtrlAltDel), handlers.go
# (defaultFcInitHandlerList: logs, machine, boot source, drives, network,
# vsocks, MMDS), drives.go (NewDrivesBuilder: "root_drive", then "1"...),
# client/models/*.go for which fields are left out when empty.
# Launch: `firecracker --api-sock SOCK --id VMID --no-seccomp` (the SDK's
# default Seccomp.Enabled is false). No network interface: no
# network-interfaces request, and no MMDS config (the SDK sends it only
# for interfaces with AllowMMDS).
GO_SDK_ARGS = ["--id", "go-sdk-vm", "--no-seccomp"]
GO_SDK_BOOT_ARGS = "console=ttyS0 reboot=k panic=1 pci=off"
GO_SDK_SEQUENCE = [
    ("GET", "/machine-config", None, 200),            # waitForSocket's probe
    ("PUT", "/logger", {"log_path": "@WORK@/go-sdk.log", "level": "Debug",
                        "show_level": True, "show_log_origin": False}, 204),
    ("PUT", "/metrics", {"metrics_path": "@WORK@/go-sdk.metrics"}, 204),
    ("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256, "smt": False}, 204),
    ("GET", "/machine-config", None, 200),            # refreshMachineConfiguration
    ("PUT", "/boot-source", {"kernel_image_path": KERNEL, "initrd_path": INITRD,
                             "boot_args": GO_SDK_BOOT_ARGS}, 204),
    ("PUT", "/drives/root_drive", {"drive_id": "root_drive", "path_on_host": "@WORK@/go-root.img",
                                   "is_root_device": True, "is_read_only": False}, 204),
    ("PUT", "/drives/1", {"drive_id": "1", "path_on_host": "@WORK@/go-data.img",
                          "is_root_device": False, "is_read_only": True}, 204),
    ("PUT", "/vsock", {"guest_cid": 3, "uds_path": "@WORK@/go-sdk.vsock"}, 204),
    ("PUT", "/actions", {"action_type": "InstanceStart"}, 204),
]
# After boot: Machine's GetFirecrackerVersion, DescribeInstanceInfo,
# PauseVM, ResumeVM, UpdateGuestDrive (a PartialDrive), then Shutdown.
GO_SDK_AFTER_BOOT = [
    ("GET", "/version", None, 200),
    ("GET", "/", None, 200),
    ("PATCH", "/vm", {"state": "Paused"}, 204),
    ("PATCH", "/vm", {"state": "Resumed"}, 204),
    ("PATCH", "/drives/1", {"drive_id": "1", "path_on_host": "@WORK@/go-data2.img"}, 204),
    ("GET", "/machine-config", None, 200),
]
CTRL_ALT_DEL = [("PUT", "/actions", {"action_type": "SendCtrlAltDel"}, 204)]


@test
def firecracker_go_sdk():
    p = guestlib.paths()
    for name in ("go-root.img", "go-data.img", "go-data2.img"):
        empty_file(name, 1 << 20)
    # CreateLogFilesHandler: the SDK creates the log and metrics files.
    empty_file("go-sdk.log")
    empty_file("go-sdk.metrics")
    sock = in_work("go-sdk.sock")
    values = {KERNEL: p["GUEST_BZIMAGE"], INITRD: p["GUEST_INITRAMFS"], "@WORK@": WORK}
    vmm = Vmm(["--api-sock", sock] + GO_SDK_ARGS, sock)
    failed = True
    try:
        replies = vmm.send("go-sdk", GO_SDK_SEQUENCE, values)
        # The SDK keeps the machine it reads back as its own.
        machine = replies[4]
        assert machine["vcpu_count"] == 2 and machine["mem_size_mib"] == 256, machine
        assert machine["smt"] is False, machine
        vmm.wait_for_init()
        assert vmm.shell("nproc") == "2"
        replies = vmm.send("go-sdk", GO_SDK_AFTER_BOOT, values)
        assert replies[1]["id"] == "go-sdk-vm" and replies[1]["state"] == "Running", replies[1]
        assert replies[0]["firecracker_version"][0].isdigit(), replies[0]
        has_keyboard = keyboard_found(vmm)
        assert has_keyboard, "no i8042 keyboard in the guest: SendCtrlAltDel cannot work"
        vmm.send("go-sdk", CTRL_ALT_DEL, values)
        status = vmm.wait_exit()
        assert status == 0, f"tern exited with {status} after SendCtrlAltDel"
        assert not os.path.exists(sock), "API socket left behind"
        with open(in_work("go-sdk.log")) as f:
            log = f.read()
        assert "sent Ctrl-Alt-Del to the guest keyboard" in log, log[-2000:]
        failed = False
    finally:
        vmm.close(failed)


# --- firectl ----------------------------------------------------------------
# firecracker-microvm/firectl at df2fb87a83a2 (v0.2.0-26, 2025-05-16):
# options.go (defaults: --kernel-opts "ro console=ttyS0 noapic reboot=k
# panic=1 pci=off nomodules", 1 vCPU, 512 MiB, SMT on unless
# --disable-smt, log level Debug, root drive id "1", no cpu_template unless
# given; -l FILE makes two FIFOs, fc_fifo and fc_metrics_fifo, and copies
# the first to FILE), main.go (its own VMCommandBuilder: only --api-sock;
# SIGTERM and SIGINT call Machine.Shutdown), and the go-sdk above for the
# requests. Run as `firectl --kernel K --initrd-path I --root-drive R -l LOG`,
# with firectl's default kernel arguments, `noapic` included: the guest
# takes its interrupts from the 8259 PIC, as on Firecracker's machines
# without ACPI (tern gives a `noapic` guest full ACPI, whose FADT lets
# Linux set the PIC up: docs/api.md, "Firecracker's clients"). Every
# request is as firectl sends it.
FIRECTL_BOOT_ARGS = "ro console=ttyS0 noapic reboot=k panic=1 pci=off nomodules"
FIRECTL_SEQUENCE = [
    ("GET", "/machine-config", None, 200),
    ("PUT", "/logger", {"log_path": "@WORK@/fc_fifo", "level": "Debug",
                        "show_level": True, "show_log_origin": False}, 204),
    # Nobody reads firectl's metrics FIFO.
    ("PUT", "/metrics", {"metrics_path": "@WORK@/fc_metrics_fifo"}, 204),
    ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 512, "smt": True}, 204),
    ("GET", "/machine-config", None, 200),
    ("PUT", "/boot-source", {"kernel_image_path": KERNEL, "initrd_path": INITRD,
                             "boot_args": FIRECTL_BOOT_ARGS}, 204),
    ("PUT", "/drives/1", {"drive_id": "1", "path_on_host": "@WORK@/firectl-root.img",
                          "is_root_device": True, "is_read_only": False}, 204),
    ("PUT", "/actions", {"action_type": "InstanceStart"}, 204),
]


@test
def firectl():
    p = guestlib.paths()
    empty_file("firectl-root.img", 1 << 20)
    log_fifo = FifoReader(in_work("fc_fifo"))
    os.mkfifo(in_work("fc_metrics_fifo"))
    sock = in_work("firectl.sock")
    values = {KERNEL: p["GUEST_BZIMAGE"], INITRD: p["GUEST_INITRAMFS"], "@WORK@": WORK}
    vmm = Vmm(["--api-sock", sock], sock)
    failed = True
    try:
        replies = vmm.send("firectl", FIRECTL_SEQUENCE, values)
        assert replies[4]["smt"] is True and replies[4]["mem_size_mib"] == 512, replies[4]
        vmm.wait_for_init()
        assert FIRECTL_BOOT_ARGS in vmm.shell("cat /proc/cmdline")
        # noapic: the console's and the keyboard's interrupts come through
        # the PIC, none through the IOAPIC.
        interrupts = vmm.shell("cat /proc/interrupts")
        for line in interrupts.splitlines():
            print(f"# guest: {line}")
        assert re.search(r"^\s*4:\s+[1-9]\d*\s.*XT-PIC\s+ttyS0$", interrupts, re.M), interrupts
        assert re.search(r"^\s*1:\s.*XT-PIC\s+i8042$", interrupts, re.M), interrupts
        assert "IO-APIC" not in interrupts, interrupts
        assert keyboard_found(vmm), "no i8042 keyboard in the guest: SendCtrlAltDel cannot work"
        vmm.send("firectl", CTRL_ALT_DEL, values)        # firectl's SIGTERM handler
        status = vmm.wait_exit()
        assert status == 0, f"tern exited with {status} after SendCtrlAltDel"
        assert log_fifo.lines, "nothing came through firectl's log FIFO"
        print(f"# firectl's log FIFO: {len(log_fifo.lines)} lines")
        failed = False
    finally:
        vmm.close(failed)
        log_fifo.close()


# --- Kata Containers --------------------------------------------------------
# kata-containers/kata-containers at 7c6ba40c54ea (4.1.0-23, 2026-08-22):
# src/runtime/virtcontainers/fc.go (fcInit: `firecracker --version`, then
# without a jailer `firecracker --api-sock SOCK --config-file CONFIG`;
# waitVMMRunning polls GET / until "Running"; fcInitConfiguration,
# fcSetVMBaseConfig (SMT off), fcSetBootSource (no initrd_path),
# fcSetVMRootfs ("rootfs", read-only, not the root device), createDiskPool
# (drive_0..drive_7: empty files, read-write), fcSetLogger/fcSetMetrics
# (FIFOs Kata reads; level Debug with debug on), fcAddVsock (vsock_id
# "root"); hotplugBlockDevice/fcUpdateBlockDrive: PATCH /drives/drive_N
# with only drive_id and path_on_host; fcEnd: SIGTERM, then waits 15 s),
# src/runtime/virtcontainers/types/fcConfig.go (the config file's keys),
# hypervisor.go (GetKernelRootParams: virtio-blk root, ext4).
# Kata's guest image is a disk; the test's guest is an initramfs, so the
# config file adds initrd_path, and the "rootfs" drive is that initramfs,
# as Kata given an initrd asset puts that file in the "rootfs" drive: a
# file whose size is not a multiple of 512 bytes, which tern takes as
# Firecracker does (the guest sees its whole sectors; a warning in the log).
# Debug on: console=ttyS0 instead of 8250.nr_uarts=0, so the console shows
# the guest.
KATA_BOOT_ARGS = ("root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4 "
                  "pci=off reboot=k panic=1 iommu=off net.ifnames=0 random.trust_cpu=on "
                  "acpi=off console=ttyS0")


def guest_bytes(vmm, gpa, length):
    """Guest memory below 1 MiB as the guest reads it (/dev/mem allows
    that range even with STRICT_DEVMEM)."""
    # Short: a command wider than the console's line is echoed wrapped.
    out = vmm.shell(f"od -An -v -tx1 -j{gpa} -N{length} /dev/mem")
    data = bytes(int(x, 16) for x in out.split())
    assert len(data) == length, out
    return data


def check_mp_table(vmm, cpus):
    """An acpi=off guest finds its vCPUs and the IOAPIC in the MP table
    (src/arch/x86/mptable.h), as under Firecracker. The Debian cloud
    kernel is built without CONFIG_X86_MPPARSE, so it cannot use it and
    runs one vCPU; a kernel built for Firecracker (Kata's) reads it, as
    Debian's generic kernel does in test_boot.py. So the test reads the
    table as such a kernel would: the floating pointer where Linux scans
    (the last KiB of base memory), checksums, one enabled processor entry
    per vCPU (the first the boot processor), the IOAPIC."""
    floating = guest_bytes(vmm, 0x9fc00, 16)
    assert floating[:4] == b"_MP_" and sum(floating) % 256 == 0, floating
    assert floating[8] == 1 and floating[9] == 4, floating
    address = int.from_bytes(floating[4:8], "little")
    header = guest_bytes(vmm, address, 44)
    assert header[:4] == b"PCMP", header
    length = int.from_bytes(header[4:6], "little")
    table = guest_bytes(vmm, address, length)
    assert sum(table) % 256 == 0, table
    processors, ioapics, off = [], 0, 44
    while off < length:
        kind = table[off]
        if kind == 0:
            processors.append(table[off + 3])
        ioapics += kind == 2
        off += 20 if kind == 0 else 8
    assert off == length
    assert processors == [3] + [1] * (cpus - 1), processors  # enabled; BSP first
    assert ioapics == 1


def kata_rootfs(p):
    """The initrd asset, of a size that is not a multiple of 512 (a copy
    with a byte more should the build's ever be one)."""
    path = in_work("kata-initrd.img")
    shutil.copyfile(p["GUEST_INITRAMFS"], path)
    if os.path.getsize(path) % 512 == 0:
        with open(path, "ab") as f:
            f.write(b"\0")
    return path


def kata_config(p):
    drives = [{"drive_id": "rootfs", "path_on_host": kata_rootfs(p),
               "is_root_device": False, "is_read_only": True}]
    for i in range(8):
        drives.append({"drive_id": f"drive_{i}", "path_on_host": empty_file(f"drive_{i}"),
                       "is_root_device": False, "is_read_only": False})
    return {
        "boot-source": {"kernel_image_path": p["GUEST_BZIMAGE"],
                        "initrd_path": p["GUEST_INITRAMFS"], "boot_args": KATA_BOOT_ARGS},
        # Kata's default_vcpus is 1; 2 here, so that the acpi=off guest's
        # MP table must list a second processor (check_mp_table).
        "machine-config": {"smt": False, "mem_size_mib": 256, "vcpu_count": 2},
        "vsock": {"guest_cid": 3, "uds_path": in_work("kata-hvsock"), "vsock_id": "root"},
        "logger": {"level": "Debug", "log_path": in_work("logs.fifo")},
        "metrics": {"metrics_path": in_work("metrics.fifo")},
        "drives": drives,
    }


KATA_AFTER_BOOT = [
    ("GET", "/", None, 200),                          # waitVMMRunning
    # A container's block device hot-plugged into the pool's first slot,
    # then unplugged: the slot's empty file back.
    ("PATCH", "/drives/drive_0",
     {"drive_id": "drive_0", "path_on_host": "@WORK@/container.img"}, 204),
    ("PATCH", "/drives/drive_0", {"drive_id": "drive_0", "path_on_host": "@WORK@/drive_0"}, 204),
]


@test
def kata_containers():
    p = guestlib.paths()
    version = subprocess.run([FIRECRACKER, "--version"], capture_output=True, text=True)
    assert version.returncode == 0, version
    # fc.parseVersion: the first line's second word, "v" dropped, a
    # semantic version (a pre-release part allowed) at least 0.21.1.
    words = version.stdout.split("\n")[0].split(" ")
    assert len(words) > 1, version.stdout
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?", words[1].strip().lstrip("v"))
    assert match, version.stdout
    assert tuple(int(x) for x in match.groups()[:3]) >= (0, 21, 1), version.stdout
    log_fifo = FifoReader(in_work("logs.fifo"))
    metrics_fifo = FifoReader(in_work("metrics.fifo"))
    empty_file("container.img", 4 << 20)
    config = in_work("fcConfig.json")
    with open(config, "w") as f:
        json.dump(kata_config(p), f, indent="\t")
    sock = in_work("kata.sock")
    vmm = Vmm(["--api-sock", sock, "--config-file", config], sock)
    failed = True
    try:
        deadline = time.time() + 10                   # fcTimeout
        while vmm.api.get("/")[1]["state"] != "Running":
            assert time.time() < deadline, vmm.api.get("/")
            time.sleep(0.01)
        vmm.wait_for_init()
        assert "acpi=off" in vmm.shell("cat /proc/cmdline")
        check_mp_table(vmm, cpus=2)
        vmm.send("kata", KATA_AFTER_BOOT, {"@WORK@": WORK})
        doc = vmm.api.get("/vm/config")[1]
        assert len(doc["drives"]) == 9, doc["drives"]
        assert doc["drives"][1]["path_on_host"] == in_work("drive_0"), doc["drives"][1]
        # fcEnd: SIGTERM, and the process gone within 15 s.
        os.kill(vmm.child.pid, signal.SIGTERM)
        status = vmm.wait_exit(timeout=15)
        assert status in (0, 128 + signal.SIGTERM), f"tern exited with {status} on SIGTERM"
        assert log_fifo.lines, "nothing came through Kata's log FIFO"
        rootfs = in_work("kata-initrd.img")
        hidden = os.path.getsize(rootfs) % 512
        assert any(f"disk {rootfs}: its size" in line and
                   f"the last {hidden} bytes are hidden" in line
                   for line in log_fifo.lines + "".join(vmm.log).splitlines()), \
            "no warning about the rootfs drive's partial sector"
        print(f"# Kata's FIFOs: {len(log_fifo.lines)} log lines, "
              f"{len(metrics_fifo.lines)} metrics lines")
        for line in metrics_fifo.lines:
            json.loads(line)                           # Kata's updateMetrics parses each
        failed = False
    finally:
        vmm.close(failed)
        log_fifo.close()
        metrics_fifo.close()


def setup():
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm: these tests run inside the test host (testhost/run.sh)"
    if not os.access(FIRECRACKER, os.X_OK):
        return f"{FIRECRACKER} is missing: the build failed"
    return None


if __name__ == "__main__":
    run(setup)
