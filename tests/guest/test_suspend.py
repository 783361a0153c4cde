#!/usr/bin/python3
"""ACPI S3 with the Linux guest, inside the nested test host, with --acpi
full (with hardware-reduced ACPI Linux writes no waking vector, so tern
offers no \\_S3 there: src/arch/x86/acpi/acpi_tables.c): the DSDT's
\\_S3 makes /sys/power/state offer "mem"; `echo mem > /sys/power/state`
puts the guest to sleep (tern_acpi_sleeps_total counts it, its vCPUs stop)
and a wake event brings it back through the FACS waking vector: the RTC
alarm it set with /sys/class/rtc/rtc0/wakealarm, or the API's
SendPowerButton. After the resume the shell answers, both CPUs are online
again, and the kernel logged its resume."""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import run, test  # noqa: E402
from apiclient import Api, parse_prometheus  # noqa: E402
import guestlib  # noqa: E402

WORK = tempfile.mkdtemp(prefix="tern-suspend-")


def metric(api, name):
    return parse_prometheus(api.get("/metrics")[1])[(name, "")]


def wait_metric(api, name, value, timeout):
    deadline = time.time() + timeout
    while metric(api, name) < value:
        assert time.time() < deadline, f"{name} never reached {value}"
        time.sleep(0.5)


def suspend_and_resume(wake, acpi=None):
    sock = os.path.join(WORK, f"api-{wake}-{acpi}.sock")
    log = os.path.join(WORK, f"tern-{wake}-{acpi}.log")
    # With --api-sock tern boots at once only from a config file; the
    # command line's options (guestlib's kernel, initrd, vCPUs) win over it.
    config = os.path.join(WORK, f"vm-{wake}-{acpi}.json")
    p = guestlib.paths()
    with open(config, "w") as f:
        json.dump({"boot-source": {"kernel_image_path": p["GUEST_BZIMAGE"],
                                   "initrd_path": p["GUEST_INITRAMFS"]},
                   "machine-config": {"vcpu_count": 2, "mem_size_mib": 256}}, f)
    extra = ["--config-file", config, "--api-sock", sock] + (["--acpi", acpi] if acpi else [])
    with guestlib.Guest(cpus=2, memory="256M", extra=extra, log_path=log) as guest:
        api = Api(sock)
        assert "mem" in guest.shell("cat /sys/power/state").split()
        guest.shell("echo deep > /sys/power/mem_sleep")
        assert "[deep]" in guest.shell("cat /sys/power/mem_sleep")
        if wake == "rtc":
            guest.shell("echo +6 > /sys/class/rtc/rtc0/wakealarm")
        guest.child.sendline("echo mem > /sys/power/state; echo SUSPEND-RC-$?")
        wait_metric(api, "tern_acpi_sleeps_total", 1, 120)
        if wake == "button":
            time.sleep(2)
            assert metric(api, "tern_acpi_wakes_total") == 0
            api.ok("PUT", "/actions", {"action_type": "SendPowerButton"})
        wait_metric(api, "tern_acpi_wakes_total", 1, 120)
        guest.child.expect("SUSPEND-RC-0", timeout=240)
        guest.child.expect("# ", timeout=60)
        assert guest.shell("echo alive") == "alive"
        assert guest.shell("cat /sys/devices/system/cpu/online") == "0-1"
        dmesg = guest.shell("dmesg | grep -i -e 'PM: suspend' -e 'resume'")
        assert "PM: suspend exit" in dmesg, dmesg
        with open(log, errors="replace") as f:
            text = f.read()
        assert "entered ACPI S3" in text and "wakes from ACPI S3" in text, text[-2000:]
        # The guest runs on: a second command, and a clean power-off.
        assert guest.shell("cat /proc/uptime") != ""
        assert guest.exit_with("poweroff -f") == 0


@test
def linux_suspends_and_the_rtc_alarm_resumes_it():
    suspend_and_resume("rtc", "full")


@test
def linux_suspends_and_the_power_button_resumes_it():
    suspend_and_resume("button", "full")


if __name__ == "__main__":
    run()
