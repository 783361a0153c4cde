#!/usr/bin/python3
"""A real distribution under tern, inside the nested test host: the Debian 12
system of guest/build-debian.sh (systemd, udev, root on virtio-blk) boots
with the distribution's own cloud kernel and initramfs and an ordinary
command line (root=/dev/vda, no reboot=), reaches multi-user.target with no
failed unit, reads the RTC with hwclock and timedatectl, and the ACPI power
button (the API's SendPowerButton: the kernel's button driver, then
systemd-logind) powers it off, tern ending with status 0. Rebooting with `systemctl reboot` under --on-reboot restart, back
to a shell in the same tern process with what it wrote to its disk, is the
second test."""
import calendar
import os
import re
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
from apiclient import Api, parse_prometheus, wait_for_socket  # noqa: E402
import guestlib  # noqa: E402

# Debian's ordinary command line (GRUB's default adds quiet); no reboot=, so
# the guest resets the way Linux picks on tern's machine. TERN_DEBIAN_CMDLINE
# replaces it to look closer (e.g. without quiet, with ignore_loglevel).
CMDLINE = os.environ.get("TERN_DEBIAN_CMDLINE", "root=/dev/vda ro quiet console=ttyS0")
# bash's prompt for root in Debian's /root/.bashrc, after the serial
# console's autologin (the image's getty override).
PROMPT = "root@tern-debian:~# "
# A Debian boot to the prompt: ~1.5 min in the emulated test host when it
# is idle; several times that when the machine is loaded.
DEBIAN_BOOT_TIMEOUT = 300
_paths = {}


def debian_paths():
    if not _paths:
        out = subprocess.run(
            ["bash", "-c", "source guest/paths.sh >/dev/null && "
             "echo $DEBIAN_IMAGE; echo $DEBIAN_KERNEL; echo $DEBIAN_INITRD"],
            cwd=guestlib.ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
        _paths.update(zip(("image", "kernel", "initrd"), out))
    return _paths


class Debian(guestlib.Guest):
    """guestlib.Guest booting the Debian system from a disk of its own."""

    def __init__(self, disk, log_path, with_api=False):
        """with_api: tern serves its API (on api.sock beside the disk), and
        the VM starts with the API's InstanceStart."""
        super().__init__(log_path=log_path)
        p = debian_paths()
        self.api_sock = os.path.join(os.path.dirname(disk), "api.sock") if with_api else None
        self.argv = ["run", "--kernel", p["kernel"], "--initrd", p["initrd"],
                     "--cmdline", CMDLINE, "--cpus", "2", "--memory", "512M",
                     "--disk", f"path={disk}", "--on-reboot", "restart"]
        if with_api:
            self.argv += ["--api-sock", self.api_sock]

    def api(self):
        return Api(self.api_sock)

    def __enter__(self):
        self.child = pexpect.spawn(
            "/bin/sh", ["-c", 'exec "$0" "$@" 2>>"$TERN_LOG"', guestlib.TERN] + self.argv,
            encoding="utf-8", codec_errors="replace", timeout=DEBIAN_BOOT_TIMEOUT,
            dimensions=(50, 200), env=dict(os.environ, TERN_LOG=self.log_path))
        self.child.logfile_read = guestlib._Collector(self._log)
        self.started = time.monotonic()
        try:
            if self.api_sock:
                wait_for_socket(self.api_sock, timeout=30)
                self.api().ok("PUT", "/actions", {"action_type": "InstanceStart"})
            self.wait_for_shell()
        except BaseException:
            # The with body never ran, so __exit__ will not: the transcript
            # and tern's log still belong in the report.
            self.__exit__(*sys.exc_info())
            raise
        return self

    def wait_for_shell(self, since="tern started"):
        self.child.expect_exact(PROMPT)
        print(f"# a shell {time.monotonic() - self.started:.0f} s after {since}", flush=True)
        # bash's bracketed-paste mode writes escape sequences around each
        # command's output, which would hide shell()'s end marker.
        self.child.sendline("bind 'set enable-bracketed-paste off'")
        self.child.expect_exact(PROMPT)
        self.shell("stty cols 4000")


def check_system_running(guest):
    """multi-user.target reached with nothing failed: `is-system-running`
    says "running", not "degraded"; when it does not, the failed units and
    their logs say why."""
    state = guest.shell("systemctl is-system-running --wait", timeout=DEBIAN_BOOT_TIMEOUT)
    if state.splitlines()[-1:] != ["running"]:
        failed = guest.shell("systemctl --failed --no-legend --plain")
        logs = guest.shell("journalctl -b --no-pager -p warning | tail -n 60")
        raise AssertionError(f"system state {state!r}; failed units:\n{failed}\n"
                             f"warnings of this boot:\n{logs}")
    assert guest.shell("systemctl is-active multi-user.target") == "active"


def check_clock(guest):
    """util-linux hwclock reads rtc0 (tern's CMOS RTC, UTC), and timedatectl
    (systemd-timedated over D-Bus) shows the same RTC, in UTC."""
    out = guest.shell("hwclock --show --utc")
    m = re.search(r"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)", out)
    assert m, f"hwclock --show printed {out!r}"
    rtc = calendar.timegm(tuple(int(g) for g in m.groups()) + (0, 0, 0))
    assert abs(rtc - time.time()) < 30, f"hwclock: RTC {out!r}, host {time.ctime()}"
    info = guest.shell("timedatectl")
    rtc_line = re.search(r"RTC time: (.*)", info)
    assert rtc_line and "n/a" not in rtc_line.group(1), f"timedatectl:\n{info}"
    assert re.search(r"RTC in local TZ: no", info), f"timedatectl:\n{info}"


def fresh_disk(work):
    """A copy of the image (the guest writes to its root disk), so the
    cached image stays as built."""
    p = debian_paths()
    missing = [path for path in p.values() if not os.path.isfile(path)]
    assert not missing, f"no Debian system at {missing}: run guest/build-debian.sh"
    disk = os.path.join(work, "root.ext4")
    subprocess.run(["cp", "--sparse=always", p["image"], disk], check=True)
    return disk


def press_power_button(guest):
    """The guest's kernel binds its ACPI button driver to the DSDT's PNP0C0C
    (udev loads the module), logind listens on that input device, and one
    press of tern's power button shuts the system down."""
    assert "button" in guest.shell("lsmod").split(), guest.shell("lsmod")
    devices = guest.shell("cat /proc/bus/input/devices")
    assert "Power Button" in devices, devices
    api = guest.api()
    api.ok("PUT", "/actions", {"action_type": "SendPowerButton"})
    samples = parse_prometheus(api.get("/metrics")[1])
    assert samples[("tern_power_button_presses_total", "")] == 1
    guest.child.expect(pexpect.EOF, timeout=DEBIAN_BOOT_TIMEOUT)
    guest.child.close()
    return guest.child.exitstatus


def power_off(guest):
    guest.child.sendline("systemctl poweroff")
    guest.child.expect(pexpect.EOF, timeout=DEBIAN_BOOT_TIMEOUT)
    guest.child.close()
    return guest.child.exitstatus


@test_with_timeout(560)
def debian_boots_to_multi_user_keeps_its_clock_and_powers_off_on_the_button():
    work = tempfile.mkdtemp(prefix="tern-debian-")
    try:
        with Debian(fresh_disk(work), os.path.join(work, "tern.log"),
                    with_api=True) as guest:
            check_system_running(guest)
            print("# " + guest.shell("systemd-analyze time").splitlines()[0], flush=True)
            check_clock(guest)
            status = press_power_button(guest)
        assert status == 0, f"tern exited with {status} after the power button"
    finally:
        shutil.rmtree(work, ignore_errors=True)


@test_with_timeout(560)
def debian_reboots_in_place():
    # The second boot hung in start_kernel in 3 of 3 runs on 2026-12-02
    # (README, known problems) and came back in 3 of 3 the same day with
    # the Debian kernel 6.1.0-57: it runs again so that a recurrence shows,
    # with the vCPU report, in the suite.
    work = tempfile.mkdtemp(prefix="tern-debian-")
    try:
        with Debian(fresh_disk(work), os.path.join(work, "tern.log")) as guest:
            boot_id = guest.shell("cat /proc/sys/kernel/random/boot_id")
            guest.shell("echo written-before-the-reboot > /root/mark")
            guest.started = time.monotonic()
            guest.child.sendline("systemctl reboot")
            # bash prompts again before the system goes down: the new
            # boot's own words first (agetty's autologin).
            guest.child.expect_exact("(automatic login)")
            guest.wait_for_shell("systemctl reboot")
            assert guest.shell("cat /root/mark") == "written-before-the-reboot"
            assert guest.shell("cat /proc/sys/kernel/random/boot_id") != boot_id
            check_system_running(guest)
            status = power_off(guest)
            log = open(guest.log_path, errors="replace").read()
        assert status == 0, f"tern exited with {status} after poweroff"
        assert "guest reset:" in log, f"no reset in tern's log:\n{log[-2000:]}"
    finally:
        shutil.rmtree(work, ignore_errors=True)

run()
