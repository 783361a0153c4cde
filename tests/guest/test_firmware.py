#!/usr/bin/python3
"""--firmware inside the nested test host: Debian's SeaBIOS (bios.bin of the
seabios package, unmodified) boots the Debian 12 system from a disk the way
a PC does, with no kernel given to tern: the disk of
guest/build-debian-disk.sh (an MBR partition table, GRUB for BIOS in the MBR
and the gap after it, the root file system in partition 1), as
`qemu-system-x86_64 -drive file=disk.img` boots it. The console shows
SeaBIOS's banner, GRUB's menu, then Linux and a shell; SeaBIOS's debug
port shows that it found the virtio-blk disk on PCI and the ACPI tables
tern handed it through fw_cfg reach Linux; the fixed ACPI power button
(full ACPI's PM1 PWRBTN on the SCI; the API's SendPowerButton) powers it
off and tern ends with status 0. With --on-reboot restart, `reboot` goes through SeaBIOS and
GRUB again (tern copies the firmware below 1 MiB again and the vCPUs start
at the reset vector) back to a shell that sees what the first boot wrote."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import run, test_with_timeout  # noqa: E402
from apiclient import Api, wait_for_socket  # noqa: E402
import guestlib  # noqa: E402

BIOS = "/usr/share/seabios/bios.bin"
PROMPT = "root@tern-debian:~# "
BOOT_TIMEOUT = 300


def disk_path():
    return subprocess.run(
        ["bash", "-c", "source guest/paths.sh >/dev/null && echo $DEBIAN_DISK"],
        cwd=guestlib.ROOT, capture_output=True, text=True, check=True).stdout.strip()


class FirmwareGuest(guestlib.Guest):
    """tern run --firmware BIOS --disk path=DISK, console on a pty."""

    def __init__(self, disk, log_path, extra=()):
        super().__init__(log_path=log_path)
        self.argv = ["run", "--firmware", BIOS, "--disk", f"path={disk}",
                     "--cpus", "2", "--memory", "512M", "--log-level", "debug"] + list(extra)

    def __enter__(self):
        self.child = pexpect.spawn(
            "/bin/sh", ["-c", 'exec "$0" "$@" 2>>"$TERN_LOG"', guestlib.TERN] + self.argv,
            encoding="utf-8", codec_errors="replace", timeout=BOOT_TIMEOUT,
            dimensions=(50, 200), env=dict(os.environ, TERN_LOG=self.log_path))
        self.child.logfile_read = guestlib._Collector(self._log)
        self.started = time.monotonic()
        return self

    def wait_for_shell(self):
        self.child.expect_exact(PROMPT)
        self.mark("a shell")
        self.child.sendline("bind 'set enable-bracketed-paste off'")
        self.child.expect_exact(PROMPT)
        self.shell("stty cols 4000")

    def mark(self, what):
        print(f"# {what} {time.monotonic() - self.started:.1f} s after tern started",
              flush=True)


@test_with_timeout(560)
def seabios_boots_debian_from_its_grub_disk():
    assert os.path.isfile(BIOS), f"{BIOS} missing: scripts/install-deps.sh installs seabios"
    work = tempfile.mkdtemp(prefix="tern-firmware-")
    try:
        disk = fresh_disk(work)
        log_path = os.path.join(work, "tern.log")
        sock = os.path.join(work, "api.sock")
        with FirmwareGuest(disk, log_path, ["--api-sock", sock]) as guest:
            wait_for_socket(sock, timeout=30)
            Api(sock).ok("PUT", "/actions", {"action_type": "InstanceStart"})
            guest.child.expect_exact("SeaBIOS (version")
            guest.mark("SeaBIOS's banner")
            guest.child.expect_exact("Booting from Hard Disk...")
            guest.child.expect_exact("GNU GRUB")
            guest.mark("GRUB's menu")
            guest.child.expect_exact("Loading Linux")
            guest.wait_for_shell()
            # Root is partition 1 of the virtio disk, as GRUB's entry says.
            assert guest.shell("findmnt -n -o SOURCE /") == "/dev/vda1"
            # The ACPI tables came through SeaBIOS's loader: Linux found
            # tern's (OEM ID TERN) at the RSDP SeaBIOS placed.
            dmesg = guest.shell("dmesg | grep -E 'ACPI: (RSDP|XSDT|DSDT)'")
            assert "TERN" in dmesg, f"no tern ACPI tables in dmesg:\n{dmesg}"
            # Full ACPI: Linux's button driver binds the fixed power button.
            devices = guest.shell("cat /proc/bus/input/devices")
            assert "LNXPWRBN" in devices, devices
            Api(sock).ok("PUT", "/actions", {"action_type": "SendPowerButton"})
            guest.child.expect(pexpect.EOF, timeout=BOOT_TIMEOUT)
            guest.child.close()
            status = guest.child.exitstatus
            log = open(log_path, errors="replace").read()
        assert status == 0, f"tern exited with {status} after the power button"
        # SeaBIOS's own account of it (port 0x402, logged at debug level).
        for line in ("firmware: Found QEMU fw_cfg", "firmware: found virtio-blk at 00:01.0",
                     "firmware: Booting from Hard Disk..."):
            assert line in log, f"{line!r} not in tern's log"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fresh_disk(work):
    image = disk_path()
    assert os.path.isfile(image), f"no {image}: run guest/build-debian-disk.sh"
    disk = os.path.join(work, "disk.img")
    subprocess.run(["cp", "--sparse=always", image, disk], check=True)
    return disk


@test_with_timeout(560)
def seabios_reboots_in_place():
    work = tempfile.mkdtemp(prefix="tern-firmware-")
    try:
        log_path = os.path.join(work, "tern.log")
        with FirmwareGuest(fresh_disk(work), log_path, ["--on-reboot", "restart"]) as guest:
            guest.wait_for_shell()
            guest.shell("echo written-before-the-reboot > /root/mark; sync")
            guest.child.sendline("reboot")
            guest.child.expect_exact("SeaBIOS (version")
            guest.mark("SeaBIOS again")
            guest.child.expect_exact("GNU GRUB")
            guest.wait_for_shell()
            assert guest.shell("cat /root/mark") == "written-before-the-reboot"
            guest.child.sendline("poweroff")
            guest.child.expect(pexpect.EOF, timeout=BOOT_TIMEOUT)
            guest.child.close()
            status = guest.child.exitstatus
            log = open(log_path, errors="replace").read()
        assert status == 0, f"tern exited with {status} after poweroff"
        assert "guest reset:" in log and "VM restarted" in log, log[-2000:]
    finally:
        shutil.rmtree(work, ignore_errors=True)


class RestoredGuest(FirmwareGuest):
    """tern restore of a firmware VM's snapshot: no --firmware given, the
    boot source and the image come from the snapshot."""

    def __init__(self, snapshot, mem, disk, log_path):
        super().__init__(disk, log_path)
        self.argv = ["restore", "--snapshot", snapshot, "--mem", mem,
                     "--disk", f"path={disk}", "--log-level", "debug"]


@test_with_timeout(560)
def snapshot_of_a_seabios_vm_restores_into_a_new_tern():
    """A VM SeaBIOS booted is snapshotted at its shell and restored by a
    new tern: the shell's variables (guest RAM), the disk and the firmware
    image (not RAM: the snapshot carries it) are there, and the restored
    guest powers off with status 0."""
    work = tempfile.mkdtemp(prefix="tern-firmware-")
    try:
        disk = fresh_disk(work)
        sock = os.path.join(work, "api.sock")
        snapshot, mem = os.path.join(work, "vm.snap"), os.path.join(work, "vm.mem")
        with FirmwareGuest(disk, os.path.join(work, "tern.log"), ["--api-sock", sock]) as guest:
            wait_for_socket(sock, timeout=30)
            api = Api(sock)
            api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
            guest.wait_for_shell()
            guest.shell("kept=in-memory-$((6 * 7)); echo on-disk > /root/mark; sync")
            api.ok("PATCH", "/vm", {"state": "Paused"})
            api.ok("PUT", "/snapshot/create", {"snapshot_path": snapshot, "mem_file_path": mem})
            guest.mark("snapshot written")
            guest.child.terminate(force=True)
        log_path = os.path.join(work, "restored.log")
        with RestoredGuest(snapshot, mem, disk, log_path) as restored:
            restored.child.sendline("")
            restored.child.expect_exact(PROMPT)
            restored.mark("the restored shell")
            assert restored.shell("echo $kept") == "in-memory-42"
            assert restored.shell("cat /root/mark") == "on-disk"
            restored.child.sendline("poweroff")
            restored.child.expect(pexpect.EOF, timeout=BOOT_TIMEOUT)
            restored.child.close()
            status = restored.child.exitstatus
            log = open(log_path, errors="replace").read()
        assert status == 0, f"the restored tern exited with {status}:\n{log[-2000:]}"
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run()
