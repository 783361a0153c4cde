#!/usr/bin/python3
"""Live migration of the stock Debian kernel between two tern processes
over loopback TCP, inside the test host. The guest counts on its console
while a background loop keeps rewriting 16 MiB of its RAM; after PUT
/migration the source exits 0, the counter goes on in the destination, and
a 32 MiB file in the guest's RAM-backed root has the same sha256 as before.
A migration whose destination is killed mid-way leaves the source running:
GET /migration says failed, and its console still answers."""
import os
import re
import shutil
import signal
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

WORK = tempfile.mkdtemp(prefix="tern-migration-guest-")
BOOT_ARGS = "console=ttyS0 reboot=k quiet"
COUNTER = "i=0; while true; do i=$((i+1)); echo TICK $i; sleep 0.2; done"
BUSY = ("(while true; do dd if=/dev/urandom of=/busy bs=1M count=16 "
        "2>/dev/null; done) & true")
# The idle guest's size: TERN_MIGRATION_IDLE_MEMORY=1G for the benchmark.
IDLE_MEMORY = os.environ.get("TERN_MIGRATION_IDLE_MEMORY", "256M")
PORT = 47000 + os.getpid() % 1000
# The test host may leave loopback down; both terns talk over it.
subprocess.run(["ip", "link", "set", "lo", "up"], check=False)


class Tern:
    """tern run ARGS on a pty: console and log through pexpect, the API
    through its socket."""

    def __init__(self, *args):
        self.sock = os.path.join(WORK, f"api-{time.monotonic_ns()}.sock")
        self.log = []
        self.child = pexpect.spawn(guestlib.TERN,
                                   ["run", "--api-sock", self.sock, "--log-level", "info"]
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

    def shell(self, command, timeout=guestlib.COMMAND_TIMEOUT):
        return guestlib.Guest.shell(self, command, timeout)

    def text(self):
        return "".join(self.log)

    def ticks(self):
        return [int(n) for n in re.findall(r"TICK (\d+)\r\n", self.text())]

    def drain(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            try:
                self.child.read_nonblocking(4096, timeout=max(0.05, end - time.time()))
            except (pexpect.TIMEOUT, pexpect.EOF):
                if not self.child.isalive():
                    return

    def kill(self):
        if self.child.isalive():
            self.child.terminate(force=True)
        self.child.close()

    def dump(self, name):
        print(f"# {name} transcript (last 2500 chars):")
        for line in self.text()[-2500:].splitlines():
            print(f"#   {line}")


def answer(t, command, timeout=guestlib.COMMAND_TIMEOUT):
    """The command's last output line (tern's log may share the console)."""
    lines = t.shell(command, timeout).splitlines()
    return lines[-1].strip() if lines else ""


def sha256(t, path):
    out = t.shell(f"sha256sum {path}", timeout=120)
    m = re.search(r"\b([0-9a-f]{64})\s+" + re.escape(path), out)
    assert m, out
    return m.group(1)


def breakdown(t):
    m = re.search(r"migration downtime: ([^\r\n]*)", t.text())
    return m.group(1) if m else "?"


def busy_source(memory="256M"):
    p = guestlib.paths()
    src = Tern("--kernel", p["GUEST_BZIMAGE"], "--initrd", p["GUEST_INITRAMFS"],
               "--cmdline", BOOT_ARGS, "--memory", memory)
    src.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
    src.child.expect("TERN-GUEST-READY")
    src.child.expect("# ")
    src.shell("dd if=/dev/urandom of=/data bs=1M count=32 2>/dev/null", timeout=120)
    digest = sha256(src, "/data")
    src.shell(BUSY)
    src.child.sendline(COUNTER)
    src.child.expect("TICK 5\r\n", timeout=60)
    return src, digest


def destination(port):
    dst = Tern("--incoming", f"tcp:127.0.0.1:{port}")
    dst.child.expect("waiting for an incoming migration", timeout=30)
    return dst


def wait_migration(src, states, timeout=600):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = src.api.get("/migration")[1]
        except OSError:
            # The source exits as soon as the destination acknowledged:
            # its exit status tells the rest.
            return {"state": "exited", "last": last}
        if last.get("state") in states:
            return last
        src.drain(0.2)
    raise AssertionError(f"migration still {last} after {timeout} s")


@test
def busy_guest_migrates_and_keeps_counting():
    src, digest = busy_source()
    dst = None
    ok = False
    try:
        dst = destination(PORT)
        src.api.fault("PUT", "/migration", {"destination": "tcp:127.0.0.1:1"},
                      words=["cannot connect"])
        started = time.monotonic()
        src.api.ok("PUT", "/migration", {"destination": f"tcp:127.0.0.1:{PORT}"})
        progress = wait_migration(src, ("completed", "failed"))
        assert progress["state"] in ("completed", "exited"), progress
        src.child.expect(pexpect.EOF, timeout=120)
        src.child.close()
        assert src.child.exitstatus == 0, f"source exited with {src.child.exitstatus}"
        total_s = time.monotonic() - started
        last = max(src.ticks())
        m = re.search(r"migration to \S+ completed: ([\d.]+) ms total, downtime ([\d.]+) ms"
                      r".*?(\d+) passes, (\d+) MiB sent", src.text(), re.S)
        assert m, "no completion line in the source's log"
        dst.child.expect(f"TICK {last + 3}\r\n", timeout=120)
        seen = dst.ticks()
        assert min(seen) > last - 2, f"the counter restarted: {seen[:5]} after {last}"
        assert dst.api.get("/")[1]["state"] == "Running"
        dst.child.sendcontrol("c")
        dst.child.expect("# ")
        assert sha256(dst, "/data") == digest
        assert answer(dst, "echo $((6 * 7))") == "42"
        print(f"# busy 256 MiB guest: total {m.group(1)} ms (API to exit {total_s:.1f} s), "
              f"downtime {m.group(2)} ms, {m.group(3)} passes, {m.group(4)} MiB sent")
        print(f"# downtime: {breakdown(src)}")
        status = guestlib.Guest.exit_with(dst, "reboot -f")
        assert status == 0, f"destination exited with {status}"
        ok = True
    finally:
        if not ok:
            src.dump("source")
            if dst:
                dst.dump("destination")
        src.kill()
        if dst:
            dst.kill()


@test
def idle_guest_downtime():
    p = guestlib.paths()
    src = Tern("--kernel", p["GUEST_BZIMAGE"], "--initrd", p["GUEST_INITRAMFS"],
               "--cmdline", BOOT_ARGS, "--memory", IDLE_MEMORY)
    dst = None
    ok = False
    try:
        src.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        src.child.expect("TERN-GUEST-READY")
        src.child.expect("# ")
        dst = destination(PORT + 1)
        src.api.ok("PUT", "/migration", {"destination": f"tcp:127.0.0.1:{PORT + 1}"})
        src.child.expect(pexpect.EOF, timeout=300)
        src.child.close()
        assert src.child.exitstatus == 0, f"source exited with {src.child.exitstatus}"
        m = re.search(r"completed: ([\d.]+) ms total, downtime ([\d.]+) ms"
                      r".*?(\d+) passes, (\d+) MiB sent", src.text(), re.S)
        assert m, "no completion line in the source's log"
        assert answer(dst, "echo $((6 * 7))") == "42"
        print(f"# idle {IDLE_MEMORY} guest: total {m.group(1)} ms, downtime {m.group(2)} ms, "
              f"{m.group(3)} passes, {m.group(4)} MiB sent")
        print(f"# downtime: {breakdown(src)}")
        status = guestlib.Guest.exit_with(dst, "reboot -f")
        assert status == 0, f"destination exited with {status}"
        ok = True
    finally:
        if not ok:
            src.dump("source")
            if dst:
                dst.dump("destination")
        src.kill()
        if dst:
            dst.kill()


@test
def killed_destination_leaves_source_running():
    src, digest = busy_source()
    dst = None
    ok = False
    try:
        dst = destination(PORT + 2)
        src.api.ok("PUT", "/migration", {"destination": f"tcp:127.0.0.1:{PORT + 2}"})
        # Cut in the middle of pre-copy: once RAM is flowing.
        deadline = time.time() + 60
        while src.api.get("/migration")[1].get("bytes_sent", 0) < (8 << 20):
            assert time.time() < deadline, "no RAM sent"
            time.sleep(0.02)
        os.kill(dst.child.pid, signal.SIGKILL)
        progress = wait_migration(src, ("failed", "completed"), timeout=300)
        assert progress["state"] == "failed", progress
        print(f"# source after the cut: {progress.get('error')}")
        assert src.child.isalive()
        assert src.api.get("/")[1]["state"] == "Running"
        before = max(src.ticks())
        src.child.expect(f"TICK {before + 3}\r\n", timeout=60)
        src.child.sendcontrol("c")
        src.child.expect("# ")
        assert sha256(src, "/data") == digest
        assert answer(src, "echo $((6 * 7))") == "42"
        dst.kill()
        ok = True
    finally:
        if not ok:
            src.dump("source")
            if dst:
                dst.dump("destination")
        src.kill()
        if dst:
            dst.kill()
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    run()
