#!/usr/bin/python3
"""ACPI S3 (suspend to RAM) seen from the API: a guest asleep with no wake
event enabled (build/guests/multiboot_s3button.elf, which arms no RTC
alarm) keeps tern controllable. Its vCPUs use no CPU, the metrics count the
sleep, a pause pauses it, a snapshot is refused with a reason, SIGTERM ends
it, and SendPowerButton wakes it: the guest resumes at its waking vector in
real mode, checks RAM and the PM1 (or sleep status) bits, prints "resumed"
and exits through the debug-exit port with 0x2c (tern exits 89). For full
ACPI (--acpi full: the PM1 blocks) and hardware-reduced ACPI."""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from tap import run, test  # noqa: E402
from apiclient import parse_prometheus, needs_kvm, missing, TernProcess  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TERN = os.path.join(ROOT, os.environ.get("TERN", "build/tern"))
GUEST = os.path.join(ROOT, "build/guests/multiboot_s3button.elf")
WORK = tempfile.mkdtemp(prefix="tern-s3-")
RESUMED_STATUS = (0x2c << 1) | 1


class SleepingGuest(TernProcess):
    """The test guest started, and asleep (S3) once this returns."""

    def __init__(self, acpi):
        super().__init__(TERN, WORK, "--kernel", GUEST, "--debug-exit", "--acpi", acpi,
                         "--cpus", "2", "--memory", "64M", serial=True)
        self.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        deadline = time.time() + 30
        while self.metric("tern_acpi_sleeps_total") < 1:
            assert time.time() < deadline, f"the guest never slept: {self.output()!r}"
            time.sleep(0.1)

    def metric(self, name):
        return parse_prometheus(self.api.get("/metrics")[1])[(name, "")]

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"tern did not exit; stderr:\n{self.stderr()}")


def setup():
    return missing(TERN, GUEST)


def sleeps_until_the_power_button(acpi):
    g = SleepingGuest(acpi)
    try:
        assert g.output() == "sleeping\n", g.output()
        assert g.metric("tern_acpi_wakes_total") == 0
        assert "entered ACPI S3" in g.stderr()
        # Parked, not spinning: both vCPUs are asleep.
        before = g.cpu_seconds()
        time.sleep(1.0)
        used = g.cpu_seconds() - before
        assert used < 0.2, f"a sleeping VM used {used:.2f} s of CPU in 1 s"
        assert g.api.get("/")[1]["state"] == "Running"
        # Paused while asleep; a snapshot is refused, saying why.
        g.api.ok("PATCH", "/vm", {"state": "Paused"})
        g.api.fault("PUT", "/snapshot/create",
                    {"snapshot_path": os.path.join(WORK, "snap"),
                     "mem_file_path": os.path.join(WORK, "mem")},
                    words=["asleep", "S3"])
        g.api.ok("PATCH", "/vm", {"state": "Resumed"})
        time.sleep(0.3)
        assert g.output() == "sleeping\n", g.output()
        assert g.proc.poll() is None
        # The power button wakes it, whether or not the guest enabled it.
        g.api.ok("PUT", "/actions", {"action_type": "SendPowerButton"})
        status = g.wait()
        assert status == RESUMED_STATUS, \
            f"exit {status}, guest said {g.output()!r}; stderr:\n{g.stderr()}"
        assert g.output() == "sleeping\nresumed\n", g.output()
        assert "wakes from ACPI S3: the power button" in g.stderr()
    finally:
        if g.proc.poll() is None:
            g.proc.kill()
            g.proc.wait()


@test
def full_acpi_guest_sleeps_until_the_power_button():
    needs_kvm()
    sleeps_until_the_power_button("full")


@test
def reduced_acpi_guest_sleeps_until_the_power_button():
    needs_kvm()
    sleeps_until_the_power_button("reduced")


@test
def sigterm_ends_a_sleeping_vm():
    needs_kvm()
    g = SleepingGuest("full")
    g.proc.send_signal(signal.SIGTERM)
    assert g.wait(timeout=10) == 128 + signal.SIGTERM
    assert g.output() == "sleeping\n"


if __name__ == "__main__":
    run(setup)
