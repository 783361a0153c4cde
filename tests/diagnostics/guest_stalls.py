#!/usr/bin/python3
"""Diagnostic, not a test: is a guest stall tern's or the emulated test
host's? Runs one workload N times under tern and under QEMU's own devices
(Debian's QEMU with KVM, same kernel, initramfs, memory and vCPU count) in
one test-host run, and prints how each run ended and where its time went.

    tests/diagnostics/guest_stalls.py [--workload net|memory|vsock]
        [--runs N] [--configs tern1,tern2,qemu1,qemu2] [--transcripts DIR]
        [--trace-kvm]

Workloads, each the one a guest test stalled in:
  net     64 MiB TCP each way over virtio-net-pci (test_virtio_net.py's
          stream; README "Known open problem")
  memory  fill tmpfs with all but 48 MiB of the guest's memory, free it,
          then a 256 MiB balloon inflates while the guest frees and refills
          (test_virtio_balloon.py stalled at "rm /m/*; umount /m")
  vsock   the guest connects to a host echo server: a line, then 1 MiB
          each way, three times (test_virtio_vsock.py's guest-to-host
          test; the guest reported rcu_preempt stalls). tern's side is its
          Unix socket; QEMU's is vhost-vsock-pci with an AF_VSOCK listener.

--trace-kvm records the test host KVM's own view of each run (trace events
kvm_exit, kvm_inj_exception, kvm_inj_virq, kvm_page_fault and, on AMD,
the exit that a triple fault becomes) and prints the last of it when a run
fails: a triple fault on AMD leaves the VMM only the reset state, but the
exits just before it carry the guest's RIP and the exception being
delivered.

It runs itself inside the test host (testhost/run.sh). Each run prints
"ok (T s: phase seconds...)" or how the guest ended (triple fault, panic,
stall) and after which phase; a summary follows.
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "guest"))
import guestlib  # noqa: E402
import pexpect  # noqa: E402
import test_virtio_net as net  # noqa: E402
from test_virtio_vsock import HostEchoServer  # noqa: E402

MAC = "52:54:00:12:34:56"
STREAM_BYTES = 64 << 20
MIB = 1 << 20
BALLOON_MIB = 256
VSOCK_CID = 7
VSOCK_PORT = 5000
WORK = tempfile.mkdtemp(prefix="tern-stalls-")


class QemuGuest(guestlib.Guest):
    """guestlib.Guest driving Debian's QEMU (pc machine, KVM, -cpu host)
    with the given device arguments, so the only difference is the VMM."""

    def __init__(self, cpus, memory_mib, devices, wrapper=()):
        super().__init__(cpus=cpus, wrapper=wrapper)
        self.cpus = cpus
        self.memory_mib = memory_mib
        self.devices = devices
        self.monitor_path = os.path.join(WORK, f"qemu-monitor-{os.getpid()}-{time.time_ns()}")

    def __enter__(self):
        p = guestlib.paths()
        argv = list(self.wrapper) + [
            "qemu-system-x86_64", "-M", "pc", "-enable-kvm", "-cpu", "host",
            "-m", str(self.memory_mib), "-smp", str(self.cpus), "-nodefaults",
            "-display", "none", "-no-reboot", "-serial", "stdio",
            "-monitor", f"unix:{self.monitor_path},server=on,wait=off",
            "-kernel", p["GUEST_BZIMAGE"], "-initrd", p["GUEST_INITRAMFS"],
            "-append", "console=ttyS0 reboot=k quiet"] + self.devices
        self.child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8",
                                   codec_errors="replace", timeout=guestlib.BOOT_TIMEOUT,
                                   dimensions=(50, 200))
        self.child.logfile_read = guestlib._Collector(self._log)
        self.child.expect("TERN-GUEST-READY")
        self.child.expect("# ")
        self.shell("stty cols 4000")
        return self

    def monitor(self, command):
        """Runs a monitor command; returns what the monitor printed."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(self.monitor_path)
            s.sendall(command.encode() + b"\n")
            time.sleep(0.5)
            s.settimeout(1)
            out = b""
            try:
                while chunk := s.recv(65536):
                    out += chunk
            except OSError:
                pass
        return out.decode(errors="replace")

    def ask_vcpu_report(self):
        # QEMU's SIGUSR2 is not tern's: ask its monitor instead.
        try:
            self._registers = self.monitor("info registers -a")
        except OSError as e:
            self._registers = f"(monitor: {e})"

    def vcpu_report(self):
        """Each vCPU's RIP and CR3 as QEMU's monitor gave them, with the
        check tern's report makes: does CR3 point inside guest RAM?"""
        lines = []
        for cpu, block in enumerate(getattr(self, "_registers", "").split("CPU#")[1:]):
            rip = re.search(r"RIP=([0-9a-f]+)", block)
            cr3 = re.search(r"CR3=([0-9a-f]+)", block)
            if not rip or not cr3:
                continue
            root = int(cr3.group(1), 16) & 0x000ffffffffff000
            where = "" if root < self.memory_mib << 20 else " (outside guest RAM)"
            halted = " halted" if "HLT=1" in block else ""
            lines.append(f"CPU {cpu}{halted} RIP={rip.group(1)} CR3={cr3.group(1)}{where}")
        return lines


class KvmTrace:
    """The test host kernel's kvm trace events in its ring buffer, kept
    small enough to be cheap and read only when a run fails."""

    ROOT = "/sys/kernel/tracing"
    EVENTS = ("kvm_exit", "kvm_inj_exception", "kvm_inj_virq", "kvm_page_fault",
              "kvm_nested_vmexit", "kvm_fpu")

    def __init__(self):
        if not os.path.isdir(os.path.join(self.ROOT, "events")):
            subprocess.run(["mount", "-t", "tracefs", "tracefs", self.ROOT], check=True)
        self.write("tracing_on", "0")
        self.write("buffer_size_kb", "16384")
        for event in self.EVENTS:
            path = os.path.join(self.ROOT, "events", "kvm", event, "enable")
            if os.path.exists(path):
                self.write(os.path.join("events", "kvm", event, "enable"), "1")

    def write(self, name, value):
        with open(os.path.join(self.ROOT, name), "w") as f:
            f.write(value)

    def start(self):
        self.write("trace", "")
        self.write("tracing_on", "1")

    def stop_and_tail(self, lines=400):
        self.write("tracing_on", "0")
        with open(os.path.join(self.ROOT, "trace"), errors="replace") as f:
            tail = f.readlines()[-lines:]
        return "".join(tail)


class Phases:
    """Seconds spent in each named phase of one run, to see where a slow
    VMM's time goes."""

    def __init__(self):
        self.last = time.monotonic()
        self.spent = []

    def done(self, name):
        now = time.monotonic()
        self.spent.append(f"{name} {now - self.last:.1f}")
        self.last = now

    def __str__(self):
        return ", ".join(self.spent) or "nothing"


def meminfo_mib(guest, field):
    return int(guest.shell(f"grep '^{field}:' /proc/meminfo").split()[1]) // 1024


def fill_and_free(guest, leave_free_mib=48):
    """What test_virtio_balloon.py's touch_guest_memory does."""
    fill = meminfo_mib(guest, "MemAvailable") - leave_free_mib
    guest.shell("mkdir -p /m")
    guest.shell(f"mount -t tmpfs -o size={fill + 8}m t /m")
    for i in range(0, fill, 32):
        count = min(32, fill - i)
        guest.shell(f"dd if=/dev/zero of=/m/f{i} bs=1M count={count} 2>&1", timeout=120)
    guest.shell("rm /m/*; umount /m", timeout=120)


def wait_memtotal(guest, below_mib=None, above_mib=None, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        total = meminfo_mib(guest, "MemTotal")
        if (below_mib is None or total < below_mib) and (above_mib is None or total > above_mib):
            return
        guest.shell("sleep 1")
    raise AssertionError("the balloon did not reach its target")


def memory_workload(vmm, cpus, phases, ns, run):
    memory = 512
    if vmm == "tern":
        guest = guestlib.Guest(cpus=cpus, memory=f"{memory}M",
                               extra=["--balloon", f"size={BALLOON_MIB}M"])
    else:
        guest = QemuGuest(cpus, memory, ["-device", "virtio-balloon-pci,id=balloon0"])
    run["guest"] = guest
    with guest:
        phases.done("boot")
        total = meminfo_mib(guest, "MemTotal")
        fill_and_free(guest)
        phases.done("fill+free")
        if vmm == "qemu":
            guest.monitor(f"balloon {memory - BALLOON_MIB}")
        guest.shell("modprobe virtio_pci; modprobe virtio_balloon")
        wait_memtotal(guest, below_mib=total - BALLOON_MIB + 8)
        phases.done("inflate")
        fill_and_free(guest)
        phases.done("refill+free")
        if vmm == "tern":
            guest.child.send("\x01b0\r")
        else:
            guest.monitor(f"balloon {memory}")
        wait_memtotal(guest, above_mib=total - 8)
        phases.done("deflate")
        guest.reboot()
        phases.done("reboot")


def net_workload(vmm, cpus, phases, ns, run):
    if vmm == "tern":
        guest = guestlib.Guest(cpus=cpus, memory="256M", wrapper=ns,
                               extra=["--net", f"tap=tap0,mac={MAC}"])
    else:
        guest = QemuGuest(cpus, 256, [
            "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off",
            "-device", f"virtio-net-pci,netdev=n0,mac={MAC}"], wrapper=ns)
    run["guest"] = guest
    with guest:
        phases.done("boot")
        net.load_driver(guest)
        phases.done("driver")
        net.configure(guest, net.guest_iface_with_mac(guest, MAC), "10.0.2.15/24")
        phases.done("configure")
        server = net.start_host_server(ns, "receive", "10.0.2.1", 5003, STREAM_BYTES)
        guest.shell("dd if=/dev/zero bs=1M count=64 2>/dev/null | nc 10.0.2.1 5003",
                    timeout=300)
        net.finish_host_server(server)
        phases.done("to-host")
        server = net.start_host_server(ns, "send", "10.0.2.1", 5004, STREAM_BYTES)
        guest.shell("nc 10.0.2.1 5004 < /dev/null | sha256sum", timeout=300)
        net.finish_host_server(server)
        phases.done("to-guest")
        guest.reboot()
        phases.done("reboot")


def vsock_workload(vmm, cpus, phases, ns, run):
    if vmm == "tern":
        path = os.path.join(WORK, f"vsock-{time.time_ns()}.sock")
        server = HostEchoServer(f"{path}_{VSOCK_PORT}")
        guest = guestlib.Guest(cpus=cpus, memory="256M",
                               extra=["--vsock", f"cid={VSOCK_CID},socket={path}"])
    else:
        server = HostEchoServer((socket.VMADDR_CID_ANY, VSOCK_PORT), socket.AF_VSOCK)
        guest = QemuGuest(cpus, 256, ["-device", f"vhost-vsock-pci,guest-cid={VSOCK_CID}"])
    run["guest"] = guest
    try:
        with guest:
            phases.done("boot")
            guest.shell("modprobe virtio_pci; modprobe vmw_vsock_virtio_transport")
            phases.done("driver")
            out = guest.shell(f"echo ping | tern-vsock connect 2 {VSOCK_PORT}")
            assert out == "ping", out
            phases.done("ping")
            guest.shell("head -c 1048576 /dev/urandom >/tmp/blob")
            sent = guest.shell("sha256sum </tmp/blob").split()[0]
            for _ in range(3):
                guest.shell(f"tern-vsock connect 2 {VSOCK_PORT} </tmp/blob >/tmp/back",
                            timeout=120)
                assert guest.shell("sha256sum </tmp/back").split()[0] == sent
            phases.done("3x1MiB")
            guest.reboot()
            phases.done("reboot")
    finally:
        server.stop()


WORKLOADS = {"net": net_workload, "memory": memory_workload, "vsock": vsock_workload}


def how_it_ended(transcript):
    # Only what came after the guest's init was ready: under QEMU a program
    # in the initramfs' init reports "Segmentation fault" on every boot
    # (also in runs that pass), which says nothing about how a run ended.
    transcript = transcript.partition("TERN-GUEST-READY")[2] or transcript
    for marker, name in (("triple-faulted", "triple fault"), ("Kernel panic", "panic"),
                         ("rcu_preempt detected stalls", "RCU stall reported"),
                         ("soft lockup", "soft lockup reported"),
                         ("Segmentation fault", "userspace segfault")):
        if marker in transcript:
            return name
    return "stall (no progress, no message)"


def one_run(workload, config, transcript_dir, trace=None):
    vmm, cpus = config[:-1], int(config[-1])
    phases = Phases()
    started = time.monotonic()
    run = {}
    if trace:
        trace.start()
    with net.netns_with_taps([("tap0", "10.0.2.1/24")]) as ns:
        try:
            WORKLOADS[workload](vmm, cpus, phases, ns, run)
            return f"ok ({time.monotonic() - started:.0f} s: {phases})"
        except (pexpect.ExceptionPexpect, AssertionError, subprocess.SubprocessError,
                OSError) as e:
            guest = run.get("guest")
            ended = how_it_ended(guest.transcript() if guest else "")
            if vmm == "qemu" and isinstance(e, pexpect.EOF):
                # With -no-reboot QEMU exits 0 without a word when the guest
                # resets itself (a triple fault, as tern reports it).
                guest.child.close()
                if guest.child.exitstatus == 0:
                    ended = "guest reset (QEMU exited 0: a triple fault under -no-reboot)"
                else:
                    ended = f"QEMU died ({guest.child.exitstatus}, {guest.child.signalstatus})"
            if trace:
                tail = trace.stop_and_tail()
                run["trace"] = tail
                print("# last kvm trace events of the failed run:\n"
                      + "".join(tail.splitlines(True)[-60:]), flush=True)
            return f"{ended} after {phases} ({type(e).__name__})"
        finally:
            if transcript_dir and "guest" in run:
                name = f"{workload}-{config}-{time.strftime('%H%M%S')}.log"
                with open(os.path.join(transcript_dir, name), "w") as f:
                    f.write(run["guest"].transcript())
                if "trace" in run:
                    with open(os.path.join(transcript_dir, name[:-4] + ".trace"), "w") as f:
                        f.write(run["trace"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="net")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--configs", default="tern1,tern2,qemu1,qemu2",
                        help="VMM and vCPU count per config, comma-separated")
    parser.add_argument("--transcripts", metavar="DIR",
                        help="write each run's guest console to DIR/WORKLOAD-CONFIG-HHMMSS.log")
    parser.add_argument("--trace-kvm", action="store_true",
                        help="record the test host's kvm trace events; print their end "
                        "when a run fails (and write DIR/...trace with --transcripts)")
    args = parser.parse_args()
    if not os.environ.get("TERN_IN_TESTHOST"):
        extra = ["--transcripts", os.path.abspath(args.transcripts)] if args.transcripts else []
        extra += ["--trace-kvm"] if args.trace_kvm else []
        os.execvp(os.path.join(ROOT, "testhost/run.sh"),
                  ["testhost/run.sh", "--", sys.executable, os.path.abspath(__file__),
                   "--workload", args.workload, "--runs", str(args.runs),
                   "--configs", args.configs] + extra)
    configs = args.configs.split(",")
    trace = KvmTrace() if args.trace_kvm else None
    outcomes = {c: [] for c in configs}
    for run in range(args.runs):
        for config in configs:
            outcome = one_run(args.workload, config, args.transcripts, trace)
            outcomes[config].append(outcome)
            print(f"run {run + 1} {args.workload} {config}: {outcome}", flush=True)
    print(f"\nsummary ({args.workload}: runs that finished the whole workload):")
    for config, results in outcomes.items():
        good = sum(r.startswith("ok") for r in results)
        print(f"  {config}: {good}/{len(results)}")


if __name__ == "__main__":
    main()
