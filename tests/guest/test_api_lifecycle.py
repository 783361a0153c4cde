#!/usr/bin/python3
"""The stock Debian kernel driven through tern's API, inside the test host:
configure (logger, metrics, machine, boot source, a drive, vsock, a
balloon) over the socket, InstanceStart, the console reaches the shell, the
guest reads the drive, a host program talks to a guest vsock echo server
through uds_path, the balloon follows PATCH /balloon and reports
statistics, GET /vm/config round-trips,
pause stops a guest counter and tern's CPU use, resume lets it go on,
/metrics is valid Prometheus text with non-zero exit and block counters,
SendCtrlAltDel reboots the guest cleanly (tern exits 0; skipped, with the
reason, when the guest kernel finds no i8042 keyboard). Then the same VM
from --config-file. Last, the sandbox: while a guest configured through the
API reads its disks (both block engines) and /dev/hwrng, every thread of
tern is under seccomp (`Seccomp: 2`, its own list on top of the process's
ceiling) with `NoNewPrivs: 1` (tests/api/test_seccomp.py checks the same
with tiny guests outside the test host)."""
import json
import os
import re
import socket
import sys
import tempfile
import time

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import run, skip, test  # noqa: E402
from apiclient import Api, parse_prometheus, wait_for_socket  # noqa: E402
import guestlib  # noqa: E402

WORK = tempfile.mkdtemp(prefix="tern-api-guest-")
CLK_TCK = os.sysconf("SC_CLK_TCK")
# SendCtrlAltDel types on the i8042 keyboard. With tern's hardware-reduced
# FADT, Linux maps IRQ 1 only for a PS/2 keyboard (PNP0303) listed in the
# DSDT, found through PNP: so no i8042.nopnp here.
BOOT_ARGS = "console=ttyS0 reboot=k quiet i8042.noaux i8042.nomux"
SAVED_CONFIG = os.path.join(WORK, "vm-config.json")
DATA_IMAGE = os.path.join(WORK, "data.img")
VSOCK_UDS = os.path.join(WORK, "v.sock")
VSOCK_CID = 7


def vsock_echo(port, payload):
    """CONNECT through tern's Unix socket to the guest's port, send payload,
    read the echo back."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(VSOCK_UDS)
    sock.sendall(f"CONNECT {port}\n".encode())
    answer = b""
    while not answer.endswith(b"\n"):
        chunk = sock.recv(1)
        assert chunk, f"tern closed the connection after {answer!r}"
        answer += chunk
    assert answer.startswith(b"OK "), answer
    sock.sendall(payload)
    sock.shutdown(socket.SHUT_WR)
    echoed = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        echoed += chunk
    sock.close()
    return echoed


def write_data_image():
    """4 MiB: 1 MiB of a repeated line, then zeros."""
    with open(DATA_IMAGE, "wb") as f:
        f.write((b"tern-api-drive\n" * 65536)[:1 << 20])
        f.truncate(4 << 20)


def wait_for(what, probe, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class ApiGuest:
    """tern run --api-sock (and extra args) on a pty, console through
    pexpect, API through the socket."""

    def __init__(self, *args):
        self.sock = os.path.join(WORK, f"api-{time.monotonic_ns()}.sock")
        self.log = []
        self.child = pexpect.spawn(guestlib.TERN, ["run", "--api-sock", self.sock] + list(args),
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

    def ticks_seen(self, wait):
        """Reads the console for `wait` seconds; returns the TICK numbers."""
        end = time.time() + wait
        while time.time() < end:
            try:
                self.child.read_nonblocking(4096, timeout=max(0.05, end - time.time()))
            except pexpect.TIMEOUT:
                pass
        return [int(n) for n in re.findall(r"TICK (\d+)", "".join(self.log))]

    def wait_exit(self, timeout=120):
        self.child.expect(pexpect.EOF, timeout=timeout)
        self.child.close()
        return self.child.exitstatus if self.child.exitstatus is not None \
            else 128 + (self.child.signalstatus or 0)

    def close(self, failed, log_path=None):
        if failed:
            try:  # what the console printed while the test waited on the API
                self.child.expect(pexpect.EOF, timeout=1)
            except (pexpect.TIMEOUT, pexpect.EOF, OSError):
                pass
        if self.child.isalive():
            self.child.terminate(force=True)
        if failed:
            print("# console transcript (last 3000 chars):")
            for line in "".join(self.log)[-3000:].splitlines():
                print(f"#   {line}")
            if log_path and os.path.exists(log_path):
                with open(log_path, errors="replace") as f:
                    print("# tern's log (last 2000 chars):")
                    for line in f.read()[-2000:].splitlines():
                        print(f"#   {line}")


@test
def configure_start_pause_resume_and_metrics():
    p = guestlib.paths()
    log_path = os.path.join(WORK, "tern.log")
    metrics_path = os.path.join(WORK, "metrics.json")
    guest = ApiGuest()
    failed = True
    try:
        api = guest.api
        assert api.get("/")[1]["state"] == "Not started"
        api.ok("PUT", "/logger", {"log_path": log_path, "level": "Info", "show_level": True})
        api.ok("PUT", "/metrics", {"metrics_path": metrics_path})
        api.ok("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256})
        api.ok("PUT", "/entropy", {})     # Firecracker's entropy = tern's virtio-rng
        write_data_image()
        api.ok("PUT", "/drives/data", {"drive_id": "data", "path_on_host": DATA_IMAGE,
                                       "is_root_device": False, "is_read_only": True})
        api.ok("PUT", "/vsock", {"guest_cid": VSOCK_CID, "uds_path": VSOCK_UDS})
        api.ok("PUT", "/balloon", {"amount_mib": 0, "deflate_on_oom": True,
                                   "stats_polling_interval_s": 1})
        api.ok("PUT", "/boot-source", {"kernel_image_path": p["GUEST_BZIMAGE"],
                                       "initrd_path": p["GUEST_INITRAMFS"],
                                       "boot_args": BOOT_ARGS})
        before_start = api.get("/vm/config")[1]
        api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        assert api.get("/")[1]["state"] == "Running"
        guest.child.expect("TERN-GUEST-READY")
        guest.child.expect("# ")
        assert guest.shell("echo $((6 * 7))") == "42"
        assert guest.shell("nproc") == "2"
        guest.shell("modprobe virtio_pci; modprobe virtio_rng")
        assert guest.shell("head -c 16 /dev/hwrng | wc -c") == "16"
        # The drive: /dev/vda, its serial is the drive_id, the data reads back.
        guest.shell("modprobe virtio_blk; modprobe virtio_balloon")
        # (sysfs serial has no newline)
        assert guest.shell("cat /sys/block/vda/serial; echo") == "data"
        assert guest.shell("cat /sys/block/vda/ro") == "1"
        assert guest.shell("head -c 15 /dev/vda") == "tern-api-drive"
        assert guest.shell("dd if=/dev/vda bs=64k 2>/dev/null | wc -c") == str(4 << 20)
        # Vsock: a guest echo server reached from the host through uds_path.
        guest.shell("modprobe vmw_vsock_virtio_transport")
        guest.shell("(tern-vsock listen 1234 >/tmp/l.log 2>&1 &)")
        wait_for("the guest echo server", lambda: "listening" in guest.shell("cat /tmp/l.log"))
        assert vsock_echo(1234, b"hello over vsock\n") == b"hello over vsock\n"
        # The balloon follows PATCH /balloon; the guest sends statistics.
        api.ok("PATCH", "/balloon", {"amount_mib": 32})
        stats = wait_for("the balloon to reach 32 MiB", lambda: (
            lambda s: s if s["actual_mib"] == 32 else None)(
                api.get("/balloon/statistics")[1]))
        stats = wait_for("balloon statistics", lambda: (
            lambda s: s if "free_memory" in s else None)(
                api.get("/balloon/statistics")[1]))
        print(f"# balloon statistics: {stats}")
        assert stats["target_mib"] == 32 and stats["total_memory"] > 100 << 20
        api.ok("PATCH", "/balloon", {"amount_mib": 0})
        wait_for("the balloon to deflate", lambda: (
            api.get("/balloon/statistics")[1]["actual_mib"] == 0))
        api.ok("PATCH", "/balloon/statistics", {"stats_polling_interval_s": 2})
        assert api.get("/balloon")[1]["stats_polling_interval_s"] == 2
        # Short commands: the guest shell wraps lines at 80 columns.
        clocksource = guest.shell("cat /sys/d*/s*/clocksource/c*/current_c*")
        print(f"# guest clocksource: {clocksource}")

        # The configuration reads back the same after boot (the balloon
        # as it now is), and serves as the config file of the third test.
        after_start = api.get("/vm/config")[1]
        before_start["balloon"]["stats_polling_interval_s"] = 2
        assert after_start == before_start, (after_start, before_start)
        with open(SAVED_CONFIG, "w") as f:
            json.dump(after_start, f)
        api.fault("PUT", "/boot-source", {"kernel_image_path": "/x"}, words=["before the VM"])
        api.fault("PUT", "/actions", {"action_type": "InstanceStart"}, words=["before the VM"])

        # A counter on the console: it stops while paused, goes on after.
        guest.child.sendline("for i in $(seq 1 60); do echo TICK $i; sleep 0.2; done")
        guest.child.expect("TICK 3\r\n", timeout=60)
        api.ok("PATCH", "/vm", {"state": "Paused"})
        host_paused_at = time.time()
        assert api.get("/")[1]["state"] == "Paused"
        settled = guest.ticks_seen(0.5)       # output already in flight
        cpu_before = cpu_seconds(guest.child.pid)
        during = guest.ticks_seen(3.0)
        cpu_paused = cpu_seconds(guest.child.pid) - cpu_before
        assert max(during) == max(settled), f"counter moved while paused: {settled} -> {during}"
        assert cpu_paused < 0.15, f"paused tern used {cpu_paused:.2f} CPU s in 3 s"
        status, text = api.get("/metrics")       # the API still answers while paused
        assert status == 200
        api.ok("PATCH", "/vm", {"state": "Resumed"})
        paused_for = time.time() - host_paused_at
        last = max(during)
        guestlib.expect_tick(guest.child, last + 2, timeout=60)
        guest.child.expect("TICK 60\r\n", timeout=120)
        guest.child.expect("# ")
        print(f"# paused {paused_for:.1f} s; tern CPU while paused {cpu_paused:.3f} s")

        # kvmclock: the guest's uptime does not count the pause (tern puts
        # back the clock it read when pausing; docs/api.md).
        uptime_before = float(guest.shell("cat /proc/uptime").split()[0])
        host_before = time.time()
        api.ok("PATCH", "/vm", {"state": "Paused"})
        time.sleep(4)
        api.ok("PATCH", "/vm", {"state": "Resumed"})
        uptime_after = float(guest.shell("cat /proc/uptime").split()[0])
        host_elapsed = time.time() - host_before
        guest_elapsed = uptime_after - uptime_before
        print(f"# across a 4 s pause: host {host_elapsed:.2f} s, guest uptime {guest_elapsed:.2f} s")
        assert guest_elapsed < host_elapsed - 3, (guest_elapsed, host_elapsed)

        samples = parse_prometheus(api.get("/metrics")[1])
        io_exits = samples.get(("tern_vcpu_exits_total", '{vcpu="0",reason="io"}'), 0)
        assert io_exits > 0, [k for k in samples if k[0] == "tern_vcpu_exits_total"]
        assert samples[("tern_guest_boot_seconds", "")] > 0
        assert samples[("tern_process_resident_memory_bytes", "")] > 50 << 20
        blk = '{device="virtio-blk",id="data"}'
        for name in ("tern_virtio_requests_total", "tern_virtio_written_bytes_total",
                     "tern_virtio_interrupts_total"):
            assert samples[(name, blk)] > 0, (name, samples.get((name, blk)))
        assert samples[("tern_virtio_written_bytes_total", blk)] >= 4 << 20
        assert samples[("tern_balloon_inflated_pages_total", "")] >= 32 * 256
        assert samples[("tern_balloon_stats_updates_total", "")] > 0
        assert samples[("tern_vsock_connections_opened_total", "")] >= 1
        vsock = '{device="virtio-vsock",id="vsock0"}'
        assert samples[("tern_virtio_requests_total", vsock)] > 0
        api.ok("PUT", "/actions", {"action_type": "FlushMetrics"})
        with open(metrics_path) as f:
            line = json.loads(f.read().splitlines()[-1])
        assert any(e["reason"] == "io" and e["value"] > 0
                   for e in line["vm"]["tern_vcpu_exits_total"]), line["vm"]
        assert any(e["id"] == "data" and e["value"] > 0
                   for e in line["devices"]["tern_virtio_requests_total"]), line["devices"]

        # The API still answers while the guest goes down; tern exits 0.
        guest.child.sendline("reboot -f")
        status = guest.wait_exit()
        assert status == 0, f"tern exited with {status} after reboot"
        assert not os.path.exists(guest.sock), "API socket left behind"
        with open(log_path) as f:
            log = f.read()
        for event in ("vm state: Not started -> Running", "vm state: Running -> Paused",
                      "vm state: Paused -> Running", "vm state: Running -> Stopped",
                      "api request method=PUT path=/actions status=204"):
            assert event in log, f"{event!r} not in the log"
        failed = False
    finally:
        guest.close(failed, log_path)


@test
def send_ctrl_alt_del_reboots_the_guest():
    p = guestlib.paths()
    guest = ApiGuest("--kernel", p["GUEST_BZIMAGE"], "--initrd", p["GUEST_INITRAMFS"],
                     "--cmdline", BOOT_ARGS, "--log-level", "warn")
    failed = True
    try:
        guest.api.fault("PUT", "/actions", {"action_type": "SendCtrlAltDel"},
                        words=["running VM"])
        guest.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        guest.child.expect("TERN-GUEST-READY")
        guest.child.expect("# ")
        keyboard = guest.shell("dmesg | grep -i -E 'i8042|serio|atkbd'")
        for line in keyboard.splitlines():
            print(f"# guest: {line}")
        if "i8042 KBD port" not in keyboard:
            # No key press is pretended: the API says why.
            guest.api.fault("PUT", "/actions", {"action_type": "SendCtrlAltDel"},
                            words=["no keyboard driver"])
            failed = False
            skip("the guest has no i8042 keyboard driver: with a hardware-reduced "
                 "FADT Linux maps IRQ 1 only for a PNP0303 device in the DSDT "
                 "(see docs/api.md, Ctrl-Alt-Del)")
        guest.api.ok("PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        status = guest.wait_exit()
        assert status == 0, f"tern exited with {status} after Ctrl-Alt-Del"
        failed = False
    finally:
        guest.close(failed)


def ged_interrupts(guest):
    """The GED's line of /proc/interrupts (Linux names it "ACPI:Ged"): the
    sum of its per-CPU counts, or None when there is no such line."""
    for line in guest.shell("cat /proc/interrupts").splitlines():
        if "ACPI:Ged" in line:
            counts = [f for f in line.split()[1:] if f.isdigit()]
            return sum(int(c) for c in counts)
    return None


@test
def send_power_button_reaches_the_guests_ged():
    """The test initramfs has no ACPI button module (and no logind), so the
    guest does not shut down: what shows the press arrived is the GED's
    interrupt, counted in /proc/interrupts, and tern's metric."""
    p = guestlib.paths()
    guest = ApiGuest("--kernel", p["GUEST_BZIMAGE"], "--initrd", p["GUEST_INITRAMFS"],
                     "--cmdline", BOOT_ARGS, "--log-level", "warn")
    failed = True
    try:
        guest.api.fault("PUT", "/actions", {"action_type": "SendPowerButton"},
                        words=["running VM"])
        guest.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        guest.child.expect("TERN-GUEST-READY")
        guest.child.expect("# ")
        before = ged_interrupts(guest)
        assert before is not None, guest.shell("cat /proc/interrupts")
        for line in guest.shell("dmesg | grep -i -E 'ged|button'").splitlines():
            print(f"# guest: {line}")
        guest.api.ok("PUT", "/actions", {"action_type": "SendPowerButton"})
        guest.api.ok("PUT", "/actions", {"action_type": "SendPowerButton"})
        deadline = time.time() + 30
        while ged_interrupts(guest) < before + 2:
            assert time.time() < deadline, guest.shell("cat /proc/interrupts")
            time.sleep(0.5)
        samples = parse_prometheus(guest.api.get("/metrics")[1])
        assert samples[("tern_power_button_presses_total", "")] == 2
        failed = False
    finally:
        guest.close(failed)


@test
def the_same_vm_from_a_config_file():
    with open(SAVED_CONFIG) as f:
        saved = json.load(f)
    guest = ApiGuest("--config-file", SAVED_CONFIG)   # boots at once
    failed = True
    try:
        assert guest.api.get("/vm/config")[1] == saved
        guest.child.expect("TERN-GUEST-READY")
        guest.child.expect("# ")
        assert guest.shell("nproc") == "2"
        assert BOOT_ARGS in guest.shell("cat /proc/cmdline")
        guest.shell("modprobe virtio_pci; modprobe virtio_rng")
        assert guest.shell("head -c 16 /dev/hwrng | wc -c") == "16"
        guest.shell("modprobe virtio_blk")
        assert guest.shell("head -c 15 /dev/vda") == "tern-api-drive"
        guest.shell("modprobe vmw_vsock_virtio_transport")
        guest.shell("(tern-vsock listen 1234 >/tmp/l.log 2>&1 &)")
        wait_for("the guest echo server", lambda: "listening" in guest.shell("cat /tmp/l.log"))
        assert vsock_echo(1234, b"again\n") == b"again\n"
        guest.child.sendline("reboot -f")
        assert guest.wait_exit() == 0
        failed = False
    finally:
        guest.close(failed)


def tern_threads(pid):
    """[(tid, comm, {status field: value})] of every thread of process pid."""
    threads = []
    for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                status = dict((k, v.strip()) for k, v in (
                    line.split(":", 1) for line in f.read().splitlines() if ":" in line))
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
        threads.append((int(tid), comm, status))
    return threads


def assert_sandboxed(tid, comm, status):
    """One thread of tern: filtered, no_new_privs, narrowed below the
    ceiling. The message names the thread."""
    where = f"tern thread {comm} (tid {tid})"
    assert status.get("Seccomp") == "2", \
        f"{where}: Seccomp {status.get('Seccomp')!r}, expected 2 (filter mode)"
    assert status.get("NoNewPrivs") == "1", \
        f"{where}: NoNewPrivs {status.get('NoNewPrivs')!r}, expected 1"
    # The process's ceiling plus the thread's own list (kernels from 5.9
    # show the count). io_uring's kernel workers (iou-*) copy the filters
    # of the thread that made them, so only they may hold the ceiling alone.
    if "Seccomp_filters" in status and not comm.startswith("iou-"):
        assert int(status["Seccomp_filters"]) >= 2, \
            f"{where}: Seccomp_filters {status['Seccomp_filters']}: only the ceiling, " \
            "the thread never installed its own list"


# The kinds of tern thread this guest must have while it does I/O (names as
# /proc/PID/task/*/comm shows them; io_uring's iou-wrk-* come and go).
# "main" is the thread whose tid is tern's pid (its comm is the program's
# file name).
SANDBOX_THREADS = ("main", "api", "metrics", "vcpu0", "vcpu1", "rtc", "virtio-blk",
                   "block-worker", "virtio-rng", "virtio-balloon", "virtio-vsock")
# Reads both disks from the device (page cache dropped first) and the
# hwrng in a loop until /tmp/stop exists, counting rounds in /tmp/rounds
# (replaced whole, so a read never finds it empty).
GUEST_IO_LOOP = ("(n=0; while [ ! -e /tmp/stop ]; do echo 3 >/proc/sys/vm/drop_caches; "
                 "dd if=/dev/vda of=/dev/null bs=64k 2>/dev/null; "
                 "dd if=/dev/vdb of=/dev/null bs=64k 2>/dev/null; "
                 "head -c 4096 /dev/hwrng >/dev/null; "
                 "n=$((n+1)); echo $n >/tmp/r; mv /tmp/r /tmp/rounds; done) >/dev/null 2>&1 & true")


@test
def every_tern_thread_is_sandboxed_while_the_guest_does_io():
    p = guestlib.paths()
    second_image = os.path.join(WORK, "data-threads.img")
    with open(second_image, "wb") as f:
        f.write(b"tern-threads-drive\n")
        f.truncate(4 << 20)
    write_data_image()
    guest = ApiGuest()       # seccomp as by default: kill
    failed = True
    try:
        api = guest.api
        api.ok("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256})
        api.ok("PUT", "/entropy", {})
        # One drive per block engine: io_uring (with the kernel's iou-*
        # workers) and the thread pool (block-worker threads).
        api.ok("PUT", "/drives/data", {"drive_id": "data", "path_on_host": DATA_IMAGE,
                                       "is_root_device": False, "is_read_only": True,
                                       "io_engine": "Async"})
        api.ok("PUT", "/drives/more", {"drive_id": "more", "path_on_host": second_image,
                                       "is_root_device": False, "is_read_only": False,
                                       "io_engine": "Sync"})
        api.ok("PUT", "/balloon", {"amount_mib": 0, "deflate_on_oom": False,
                                   "stats_polling_interval_s": 1})
        api.ok("PUT", "/vsock", {"guest_cid": VSOCK_CID,
                                 "uds_path": os.path.join(WORK, "sandbox-v.sock")})
        api.ok("PUT", "/boot-source", {"kernel_image_path": p["GUEST_BZIMAGE"],
                                       "initrd_path": p["GUEST_INITRAMFS"],
                                       "boot_args": BOOT_ARGS})
        api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        guest.child.expect("TERN-GUEST-READY")
        guest.child.expect("# ")
        guest.shell("modprobe virtio_pci; modprobe virtio_rng; modprobe virtio_blk; "
                    "modprobe virtio_balloon")
        assert guest.shell("head -c 15 /dev/vda") == "tern-api-drive"
        assert guest.shell("head -c 19 /dev/vdb") == "tern-threads-drive"
        assert guest.shell("head -c 16 /dev/hwrng | wc -c") == "16"
        guest.shell(GUEST_IO_LOOP)
        wait_for("the guest's I/O loop", lambda: guest.shell("cat /tmp/rounds 2>/dev/null"))
        rounds_before = int(guest.shell("cat /tmp/rounds"))

        # Every thread, sampled for a few seconds while the disks and the
        # hwrng are read: threads that come and go (block workers, io_uring
        # workers) are seen in the act.
        seen = {}
        deadline = time.time() + 6
        while time.time() < deadline:
            for tid, comm, status in tern_threads(guest.child.pid):
                assert_sandboxed(tid, comm, status)
                seen.setdefault("main" if tid == guest.child.pid else comm, set()).add(tid)
            time.sleep(0.2)
        rounds_after = int(guest.shell("cat /tmp/rounds"))
        print("# tern's threads seen (name: count): " + ", ".join(
            f"{comm}: {len(tids)}" for comm, tids in sorted(seen.items())))
        print(f"# guest I/O rounds while sampling: {rounds_after - rounds_before}")
        missing = [name for name in SANDBOX_THREADS if name not in seen]
        assert not missing, f"no tern thread named {missing} among {sorted(seen)}"
        assert len(seen["virtio-blk"]) == 2, f"virtio-blk threads: {seen['virtio-blk']}"
        assert rounds_after > rounds_before, \
            f"the guest's disk and hwrng reads made no progress: {rounds_before} rounds"
        guest.shell("touch /tmp/stop")
        guest.child.sendline("reboot -f")
        status = guest.wait_exit()
        assert status == 0, f"tern exited with {status} after reboot (killed by a filter?)"
        failed = False
    finally:
        guest.close(failed)


def setup():
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm: these tests run inside the test host (testhost/run.sh)"
    return None


if __name__ == "__main__":
    run(setup)
