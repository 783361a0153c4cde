#!/usr/bin/python3
"""Memory hotplug (virtio-mem, Firecracker's /hotplug/memory) under the stock
Debian guest, inside the nested test host.

A guest configured through PUT /hotplug/memory boots with none of it
plugged; PATCH /hotplug/memory asks for 256 MiB and the guest's virtio_mem
driver plugs it (GET shows plugged_size_mib reach it, /proc/meminfo's
MemTotal grows by it, memhp_default_state=online_movable onlines it). The
guest fills it with a file whose checksum must hold; after the file is
deleted, a request of 0 makes the guest unplug every block: MemTotal
shrinks back and tern's resident set drops (the blocks went back to the
host). A second guest, configured with --memory-hotplug, is snapshotted with
memory plugged and a file in it; a new tern loads the snapshot (taking the
snapshot's memory-hotplug), the file reads back the same, and the restored
guest can unplug and plug again."""
import os
import re
import shutil
import sys
import tempfile
import threading
import time

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import run, test  # noqa: E402
from apiclient import Api, parse_prometheus, wait_for_socket  # noqa: E402
import guestlib  # noqa: E402

MiB = 1 << 20
WORK = tempfile.mkdtemp(prefix="tern-virtio-mem-")
# Hotplugged memory onlined as movable, so that it can be unplugged again
# (Firecracker's recommendation, docs/memory-hotplug.md there).
CMDLINE = "console=ttyS0 reboot=k quiet memhp_default_state=online_movable"
TERN_WARNING = re.compile(r"tern: \[[^\]]*\] (warning|error)")


def wait_for(what, condition, timeout=180, interval=1):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def mem_total(shell):
    return int(shell("grep '^MemTotal:' /proc/meminfo").split()[1]) * 1024


def status(api):
    code, body = api.get("/hotplug/memory")
    assert code == 200, (code, body)
    return body


def plugged(api, mib):
    return lambda: status(api)["plugged_size_mib"] == mib


def fill(shell, mib, name):
    """A file of mib MiB in a tmpfs: 32 MiB of random bytes (urandom is
    slow in the emulated test host) repeated, a chunk per command; returns
    its checksum."""
    shell("mkdir -p /h; mountpoint -q /h || mount -t tmpfs -o size=90% h /h")
    out = shell("dd if=/dev/urandom of=/tmp/seed bs=1M count=32 2>&1 | tail -n1",
                timeout=120)
    assert "32+0 records out" in out, out
    for i in range(0, mib, 32):
        out = shell(f"dd if=/tmp/seed of=/h/{name} bs=1M seek={i} conv=notrunc "
                    f"2>&1 | tail -n1", timeout=120)
        assert "32+0 records out" in out, out
    shell("rm /tmp/seed")
    return shell(f"md5sum /h/{name} | cut -c1-32", timeout=120)


def start_through_the_api(sock):
    def start():
        wait_for_socket(sock, timeout=60)
        api = Api(sock)
        # Before the start: the configuration only; no status yet.
        api.ok("PUT", "/hotplug/memory", {"total_size_mib": 512})
        api.fault("GET", "/hotplug/memory", words=["started"])
        api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    return thread


@test
def guest_plugs_and_unplugs_hotplugged_memory():
    log = os.path.join(WORK, "plug.log")
    sock = os.path.join(WORK, "plug.sock")
    start_through_the_api(sock)
    with guestlib.Guest(cpus=2, memory="256M", cmdline=CMDLINE, log_path=log,
                        extra=["--api-sock", sock]) as guest:
        api = Api(sock)
        assert status(api) == {"total_size_mib": 512, "slot_size_mib": 128,
                               "block_size_mib": 2, "plugged_size_mib": 0,
                               "requested_size_mib": 0}
        # Started: the configuration cannot change any more.
        api.fault("PUT", "/hotplug/memory", {"total_size_mib": 1024})
        before = mem_total(guest.shell)
        out = guest.shell("modprobe virtio_pci; modprobe virtio_mem && echo loaded")
        assert out.endswith("loaded"), out
        api.ok("PATCH", "/hotplug/memory", {"requested_size_mib": 256})
        wait_for("the guest to plug 256 MiB", plugged(api, 256))
        grown = wait_for("MemTotal to grow",
                         lambda: mem_total(guest.shell) - before >= 250 * MiB
                         and mem_total(guest.shell))
        print(f"# MemTotal {before // MiB} MiB -> {grown // MiB} MiB")
        assert status(api)["requested_size_mib"] == 256

        # The new memory holds data: more than the boot RAM could.
        rss_empty = rss(guest.child.pid)
        checksum = fill(guest.shell, 320, "data")
        assert guest.shell("md5sum /h/data | cut -c1-32", timeout=120) == checksum
        rss_full = rss(guest.child.pid)
        print(f"# tern RSS {rss_empty // MiB} MiB -> {rss_full // MiB} MiB with 320 MiB written")
        assert rss_full - rss_empty >= 250 * MiB, (rss_empty, rss_full)
        samples = parse_prometheus(api.get("/metrics")[1])
        assert samples[("tern_memory_hotplug_plugged_bytes", "")] == 256 * MiB
        assert samples[("tern_memory_hotplug_slots_present", "")] == 2

        # Unplug everything: the guest empties the blocks and gives them back.
        guest.shell("rm /h/data; umount /h")
        api.ok("PATCH", "/hotplug/memory", {"requested_size_mib": 0})
        wait_for("the guest to unplug all", plugged(api, 0), timeout=300)
        wait_for("MemTotal to shrink back",
                 lambda: mem_total(guest.shell) <= before + 2 * MiB)
        rss_after = rss(guest.child.pid)
        print(f"# tern RSS {rss_full // MiB} MiB -> {rss_after // MiB} MiB after unplugging")
        assert rss_full - rss_after >= 200 * MiB, (rss_full, rss_after)
        samples = parse_prometheus(api.get("/metrics")[1])
        assert samples[("tern_memory_hotplug_slots_present", "")] == 0
        assert samples[("tern_memory_hotplug_unplugged_bytes_total", "")] >= 256 * MiB

        # Wrong sizes are the client's error; the device is unchanged.
        api.fault("PATCH", "/hotplug/memory", {"requested_size_mib": 1024},
                  words=["total_size_mib"])
        api.fault("PATCH", "/hotplug/memory", {"requested_size_mib": 3},
                  words=["block_size_mib"])
        # Plug again after a full unplug: the slots come back.
        api.ok("PATCH", "/hotplug/memory", {"requested_size_mib": 128})
        wait_for("the guest to plug 128 MiB", plugged(api, 128))
        assert not TERN_WARNING.search(open(log, errors="replace").read())
        assert guest.reboot() == 0


class ApiTern:
    """tern run --api-sock ARGS on a pty: console through pexpect, API
    through the socket (as test_snapshot.py)."""

    def __init__(self, *args):
        self.sock = os.path.join(WORK, f"api-{time.monotonic_ns()}.sock")
        self.log = []
        self.child = pexpect.spawn(guestlib.TERN,
                                   ["run", "--api-sock", self.sock, "--log-level", "warn"]
                                   + list(args),
                                   encoding="utf-8", codec_errors="replace",
                                   timeout=guestlib.BOOT_TIMEOUT, dimensions=(50, 200))
        self.child.logfile_read = guestlib._Collector(self.log)
        wait_for_socket(self.sock, timeout=30)
        self.api = Api(self.sock)

    def shell(self, command, timeout=guestlib.COMMAND_TIMEOUT):
        return guestlib.Guest.shell(self, command, timeout=timeout)

    def kill(self):
        if self.child.isalive():
            self.child.terminate(force=True)
        self.child.close()

    def dump(self):
        print("# console transcript (last 2000 chars):")
        for line in "".join(self.log)[-2000:].splitlines():
            print(f"#   {line}")


@test
def snapshot_with_plugged_memory_restores():
    p = guestlib.paths()
    snap, mem = os.path.join(WORK, "snap"), os.path.join(WORK, "mem")
    a = ApiTern("--kernel", p["GUEST_BZIMAGE"], "--initrd", p["GUEST_INITRAMFS"],
                "--cmdline", CMDLINE + " tern.modules=virtio_pci,virtio_mem",
                "--cpus", "2", "--memory", "256M",
                "--memory-hotplug", "total=512,slot=128,block=2")
    ok = False
    try:
        a.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        a.child.expect("TERN-GUEST-READY")
        a.child.expect("# ")
        # As guestlib.Guest does: long commands must not wrap at 80.
        a.shell("stty cols 4000")
        before = mem_total(a.shell)
        a.api.ok("PATCH", "/hotplug/memory", {"requested_size_mib": 256})
        wait_for("the guest to plug 256 MiB", plugged(a.api, 256))
        total = wait_for("MemTotal to grow",
                         lambda: mem_total(a.shell) - before >= 250 * MiB
                         and mem_total(a.shell))
        checksum = fill(a.shell, 300, "kept")
        a.api.ok("PATCH", "/vm", {"state": "Paused"})
        a.api.ok("PUT", "/snapshot/create", {"snapshot_path": snap, "mem_file_path": mem})
        size = os.stat(mem).st_size
        assert size == (256 + 512) * MiB, size
        ok = True
    finally:
        if not ok:
            a.dump()
        a.kill()

    # No --memory-hotplug: a load takes the snapshot's, as Firecracker.
    t = ApiTern()
    ok = False
    try:
        t.api.ok("PUT", "/snapshot/load", {"snapshot_path": snap,
                                           "mem_backend": {"backend_path": mem,
                                                           "backend_type": "File"},
                                           "resume_vm": True})
        assert status(t.api) == {"total_size_mib": 512, "slot_size_mib": 128,
                                 "block_size_mib": 2, "plugged_size_mib": 256,
                                 "requested_size_mib": 256}
        assert t.api.get("/vm/config")[1]["memory-hotplug"] == {
            "total_size_mib": 512, "slot_size_mib": 128, "block_size_mib": 2}
        t.child.sendline("")
        t.child.expect("# ")
        assert mem_total(t.shell) == total
        assert t.shell("md5sum /h/kept | cut -c1-32", timeout=120) == checksum
        t.shell("rm /h/kept; umount /h")
        t.api.ok("PATCH", "/hotplug/memory", {"requested_size_mib": 0})
        wait_for("the restored guest to unplug all", plugged(t.api, 0), timeout=300)
        t.api.ok("PATCH", "/hotplug/memory", {"requested_size_mib": 64})
        wait_for("the restored guest to plug 64 MiB", plugged(t.api, 64))
        assert t.shell("echo $((6 * 7))") == "42"
        assert guestlib.Guest.exit_with(t, "reboot -f") == 0
        ok = True
    finally:
        if not ok:
            t.dump()
        t.kill()
    shutil.rmtree(WORK, ignore_errors=True)


def setup():
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm: these tests run inside the test host (testhost/run.sh)"
    return None


if __name__ == "__main__":
    run(setup)
