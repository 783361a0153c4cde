#!/usr/bin/python3
"""Snapshots of the stock Debian kernel, inside the test host: a guest
counting on its console is paused and snapshotted over the API (Full, then
Diff after it ran on), tern is killed, and new terns load the snapshots
(PUT /snapshot/load): the counter goes on from where it was, a file the
guest wrote to its RAM-backed root is still there, and the console still
takes commands. The chained Full + Diff restores to the Diff's point."""
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

WORK = tempfile.mkdtemp(prefix="tern-snapshot-guest-")
BOOT_ARGS = "console=ttyS0 reboot=k quiet"
COUNTER = "i=0; while true; do i=$((i+1)); echo TICK $i; sleep 0.2; done"


class ApiTern:
    """tern run --api-sock ARGS on a pty: console through pexpect, API
    through the socket."""

    def __init__(self, *args):
        self.sock = os.path.join(WORK, f"api-{time.monotonic_ns()}.sock")
        self.log = []
        self.child = pexpect.spawn(guestlib.TERN,
                                   ["run", "--api-sock", self.sock, "--log-level", "warn"]
                                   + list(args),
                                   encoding="utf-8", codec_errors="replace",
                                   timeout=guestlib.BOOT_TIMEOUT, dimensions=(50, 200))
        self.child.logfile_read = guestlib._Collector(self.log)
        deadline = time.time() + 30
        while not os.path.exists(self.sock):
            assert self.child.isalive() and time.time() < deadline, "no API socket"
            time.sleep(0.05)
        wait_for_socket(self.sock)
        self.api = Api(self.sock)

    def shell(self, command):
        return guestlib.Guest.shell(self, command)

    def ticks(self, wait):
        """Reads the console for `wait` seconds; returns every TICK seen."""
        end = time.time() + wait
        while time.time() < end:
            try:
                self.child.read_nonblocking(4096, timeout=max(0.05, end - time.time()))
            except pexpect.TIMEOUT:
                pass
        return [int(n) for n in re.findall(r"TICK (\d+)\r\n", "".join(self.log))]

    def pause_and_last_tick(self):
        self.api.ok("PATCH", "/vm", {"state": "Paused"})
        # What the guest wrote before the pause is on the pty already.
        return max(self.ticks(0.5))

    def kill(self):
        if self.child.isalive():
            self.child.terminate(force=True)
        self.child.close()

    def dump(self):
        print("# console transcript (last 2000 chars):")
        for line in "".join(self.log)[-2000:].splitlines():
            print(f"#   {line}")


def load_and_check(snap, mem, last, marker, extra=(), after=None):
    """A new tern loads the snapshot; the counter goes on after `last`."""
    t = ApiTern(*extra)
    ok = False
    try:
        started = time.monotonic()
        t.api.ok("PUT", "/snapshot/load", {"snapshot_path": snap,
                                           "mem_backend": {"backend_path": mem,
                                                           "backend_type": "File"},
                                           "resume_vm": True})
        load_ms = (time.monotonic() - started) * 1000
        assert t.api.get("/")[1]["state"] == "Running"
        t.child.expect(f"TICK {last + 3}\r\n", timeout=60)
        seen = t.ticks(0.1)
        assert min(seen) >= last, f"the counter restarted: {seen[:5]} after {last}"
        t.child.sendcontrol("c")
        t.child.expect("# ")
        assert t.shell("cat /marker") == marker
        assert t.shell("echo $((6 * 7))") == "42"
        if after:
            after(t)
        print(f"# loaded in {load_ms:.1f} ms (API round trip); counter went on from {last}")
        status = guestlib.Guest.exit_with(t, "reboot -f")
        assert status == 0, f"tern exited with {status}"
        ok = True
    finally:
        if not ok:
            t.dump()
        t.kill()


@test
def full_then_diff_restore_into_new_terns():
    p = guestlib.paths()
    snap1, snap2 = os.path.join(WORK, "snap1"), os.path.join(WORK, "snap2")
    mem, mem1 = os.path.join(WORK, "mem"), os.path.join(WORK, "mem1")
    a = ApiTern("--kernel", p["GUEST_BZIMAGE"], "--initrd", p["GUEST_INITRAMFS"],
                "--cmdline", BOOT_ARGS, "--cpus", "2", "--memory", "256M")
    ok = False
    try:
        a.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        a.child.expect("TERN-GUEST-READY")
        a.child.expect("# ")
        a.shell("echo written-before-the-snapshot > /marker")
        a.child.sendline(COUNTER)
        a.child.expect("TICK 5\r\n", timeout=60)

        last1 = a.pause_and_last_tick()
        started = time.monotonic()
        a.api.ok("PUT", "/snapshot/create", {"snapshot_path": snap1, "mem_file_path": mem,
                                             "snapshot_type": "Full"})
        full_ms = (time.monotonic() - started) * 1000
        subprocess.run(["cp", "--sparse=always", mem, mem1], check=True)
        used = os.stat(mem).st_blocks * 512
        print(f"# Full: {full_ms:.0f} ms, memory file {used >> 20} MiB on disk of 256 MiB")
        assert used < 256 << 20

        a.api.ok("PATCH", "/vm", {"state": "Resumed"})
        a.child.expect(f"TICK {last1 + 5}\r\n", timeout=60)
        last2 = a.pause_and_last_tick()
        started = time.monotonic()
        a.api.ok("PUT", "/snapshot/create", {"snapshot_path": snap2, "mem_file_path": mem,
                                             "snapshot_type": "Diff"})
        print(f"# Diff: {(time.monotonic() - started) * 1000:.0f} ms")
        ok = True
    finally:
        if not ok:
            a.dump()
        a.kill()

    load_and_check(snap1, mem1, last1, "written-before-the-snapshot")
    load_and_check(snap2, mem, last2, "written-before-the-snapshot")
    shutil.rmtree(WORK, ignore_errors=True)


@test
def virtio_rng_works_after_restore():
    p = guestlib.paths()
    snap, mem = os.path.join(WORK, "snap-rng"), os.path.join(WORK, "mem-rng")
    os.makedirs(WORK, exist_ok=True)
    a = ApiTern("--kernel", p["GUEST_BZIMAGE"], "--initrd", p["GUEST_INITRAMFS"],
                "--cmdline", BOOT_ARGS, "--memory", "256M", "--rng")
    ok = False
    try:
        a.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        a.child.expect("TERN-GUEST-READY")
        a.child.expect("# ")
        a.shell("modprobe virtio_pci; modprobe virtio_rng")
        assert a.shell("head -c 16 /dev/hwrng | wc -c") == "16"
        a.shell("echo rng-guest > /marker")
        a.child.sendline(COUNTER)
        a.child.expect("TICK 3\r\n", timeout=60)
        last = a.pause_and_last_tick()
        a.api.fault("PUT", "/snapshot/create", {"snapshot_path": snap, "mem_file_path": mem,
                                                "snapshot_type": "Diff"},
                    words=["virtio devices"])
        a.api.ok("PUT", "/snapshot/create", {"snapshot_path": snap, "mem_file_path": mem})
        ok = True
    finally:
        if not ok:
            a.dump()
        a.kill()

    def rng_works(t):
        assert t.shell("head -c 64 /dev/hwrng | wc -c") == "64"

    load_and_check(snap, mem, last, "rng-guest", extra=("--rng",), after=rng_works)
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    run()
