#!/usr/bin/python3
"""The CMOS RTC as the Debian guest's rtc0, inside the nested test host:
rtc_cmos binds to the DSDT's PNP0B00 with IRQ 8 (no "probe of rtc_cmos
failed"), /dev/rtc0 exists, busybox hwclock reads the host's time, a date
set with date -s and hwclock -w is what the RTC reads from then on (and it
keeps running), an alarm interrupt arrives on IO-APIC pin 8, and a clock
the guest set survives a snapshot restored into a new tern, interrupts
included."""
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
from tap import run, test  # noqa: E402
from apiclient import Api, wait_for_socket  # noqa: E402
import guestlib  # noqa: E402

# A date far from the host's, so that a read of it cannot be host time.
SET_DATE = "2031-03-31 07:08:09"
SET_EPOCH = calendar.timegm((2031, 3, 31, 7, 8, 9))


def rtc_epoch(guest):
    return int(guest.shell("cat /sys/class/rtc/rtc0/since_epoch").splitlines()[-1])


def hwclock_epoch(guest):
    """busybox hwclock -r -u prints the RTC's time ("Mon Mar 31 07:08:10
    2031  0.000000 seconds"); the guest has no time zone, so it is UTC."""
    out = guest.shell("hwclock -r -u")
    m = re.search(r"\w{3} (\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4})", out)
    assert m, f"hwclock -r printed {out!r}"
    return calendar.timegm(time.strptime(" ".join(m.groups()), "%b %d %H %M %S %Y"))


def rtc_interrupts(guest):
    """rtc0's line of /proc/interrupts: its count over all CPUs, and the
    line itself (IO-APIC 8-edge)."""
    line = guest.shell("grep rtc0 /proc/interrupts")
    assert line, "rtc0 has no interrupt: " + guest.shell("cat /proc/interrupts")
    count = 0
    for field in line.split()[1:]:
        if not field.isdigit():
            break
        count += int(field)
    return count, line


def alarm_fires(guest):
    """An alarm 2 s ahead through sysfs: rtc_cmos programs the alarm
    registers and AIE, and the interrupt clears it when it comes."""
    before, line = rtc_interrupts(guest)
    assert "IO-APIC" in line and "8-edge" in line, line
    guest.shell("echo +2 > /sys/class/rtc/rtc0/wakealarm")
    assert guest.shell("cat /sys/class/rtc/rtc0/wakealarm") != ""
    guest.shell("sleep 4")
    after, _ = rtc_interrupts(guest)
    assert after > before, f"no RTC interrupt: {before} before the alarm, {after} after"
    assert guest.shell("cat /sys/class/rtc/rtc0/wakealarm") == "", "the alarm never fired"


def set_rtc(guest):
    guest.shell(f"date -s '{SET_DATE}'")
    guest.shell("hwclock -w -u")


@test
def rtc_cmos_is_rtc0_and_reads_the_host_time():
    with guestlib.Guest(cpus=1, memory="256M") as guest:
        dmesg = guest.shell("dmesg | grep -i rtc")
        assert "probe of rtc_cmos failed" not in dmesg, dmesg
        assert re.search(r"rtc_cmos 00:0\d: registered as rtc0", dmesg), dmesg
        assert "alarms up to one day" in dmesg, dmesg  # it has its IRQ
        assert guest.shell("test -c /dev/rtc0 && echo yes") == "yes"
        assert guest.shell("cat /sys/class/rtc/rtc0/name").startswith("rtc_cmos")
        for read in (hwclock_epoch, rtc_epoch):
            rtc, host = read(guest), time.time()
            assert abs(rtc - host) < 5, f"{read.__name__}: RTC {rtc}, host {host:.0f}"
        assert guest.reboot() == 0


@test
def hwclock_w_sets_the_rtc_and_it_keeps_running():
    with guestlib.Guest(cpus=1, memory="256M") as guest:
        set_rtc(guest)
        started = time.time()
        rtc = hwclock_epoch(guest)
        assert 0 <= rtc - SET_EPOCH < 30, f"RTC {rtc} after setting {SET_EPOCH}"
        # The system clock elsewhere; hwclock -s takes the RTC's back.
        guest.shell("date -s '2020-01-01 00:00:00'")
        guest.shell("hwclock -s -u")
        system = int(guest.shell("date +%s"))
        assert 0 <= system - SET_EPOCH < 30 + time.time() - started, system
        first = rtc_epoch(guest)
        guest.shell("sleep 2")
        assert rtc_epoch(guest) - first >= 1, "the RTC stopped"
        assert guest.reboot() == 0


@test
def alarm_interrupt_arrives_on_irq_8():
    with guestlib.Guest(cpus=2, memory="256M") as guest:
        alarm_fires(guest)
        assert guest.reboot() == 0


class Tern(guestlib.Guest):
    """guestlib.Guest with our own argv: `tern run --api-sock` started over
    the API, or `tern restore` (whose guest sits at its shell already)."""

    def __init__(self, argv, api_sock=None):
        super().__init__()
        self.argv, self.api_sock = argv, api_sock

    def __enter__(self):
        self.child = pexpect.spawn(guestlib.TERN, self.argv, encoding="utf-8",
                                   codec_errors="replace", timeout=guestlib.BOOT_TIMEOUT,
                                   dimensions=(50, 200))
        self.child.logfile_read = guestlib._Collector(self._log)
        if self.api_sock:
            deadline = time.time() + 30
            while not os.path.exists(self.api_sock):
                assert self.child.isalive() and time.time() < deadline, "no API socket"
                time.sleep(0.05)
            wait_for_socket(self.api_sock)
            Api(self.api_sock).ok("PUT", "/actions", {"action_type": "InstanceStart"})
            self.child.expect("TERN-GUEST-READY")
            self.child.expect("# ")
            self.shell("stty cols 4000")
        return self


@test
def a_set_clock_and_its_interrupts_survive_a_snapshot_restore():
    work = tempfile.mkdtemp(prefix="tern-rtc-")
    sock, snap, mem = (os.path.join(work, n) for n in ("api.sock", "snap", "mem"))
    p = guestlib.paths()
    try:
        with Tern(["run", "--api-sock", sock, "--log-level", "warn",
                   "--kernel", p["GUEST_BZIMAGE"], "--initrd", p["GUEST_INITRAMFS"],
                   "--cmdline", "console=ttyS0 reboot=k quiet", "--memory", "256M"],
                  api_sock=sock) as a:
            set_rtc(a)
            assert 0 <= rtc_epoch(a) - SET_EPOCH < 30
            subprocess.run([guestlib.TERN, "snapshot", "--api-sock", sock,
                            "--snapshot", snap, "--mem", mem], check=True, timeout=120)
            saved = time.time()
        # --log-level warn: tern's log shares the console with the shell.
        with Tern(["restore", "--log-level", "warn", "--snapshot", snap, "--mem", mem]) as b:
            rtc = rtc_epoch(b)
            # The offset moves with host time: the restored clock went on.
            assert 0 <= rtc - SET_EPOCH < 60 + time.time() - saved, rtc
            alarm_fires(b)
            assert b.reboot() == 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def setup():
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm: these tests run inside the test host (testhost/run.sh)"
    return None


if __name__ == "__main__":
    run(setup)
