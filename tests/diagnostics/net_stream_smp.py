#!/usr/bin/python3
"""Diagnostic, not a test: how often a Debian guest survives a 64 MiB TCP
stream each way over virtio-net-pci in the nested test host, under tern and
under QEMU's own virtio-net-pci, with 1 and 2 vCPUs.

    tests/diagnostics/net_stream_smp.py [--runs N] [--configs tern1,tern2,qemu2]

It runs itself inside the test host (testhost/run.sh) and prints one line
per run (ok, or how the guest ended: triple fault, panic, stall) and a
summary. Written for the open problem in README.md ("Known open problem"):
two-vCPU guests die during this stream under both VMMs in the emulated
test host, one-vCPU guests do not.
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "guest"))
import guestlib  # noqa: E402
import pexpect  # noqa: E402
import test_virtio_net as net  # noqa: E402

MAC = "52:54:00:12:34:56"
STREAM_BYTES = 64 << 20


class QemuGuest(guestlib.Guest):
    """guestlib.Guest driving Debian's QEMU with the same kernel, initramfs
    and tap, so the only difference is the VMM."""

    def __enter__(self):
        p = guestlib.paths()
        argv = list(self.wrapper) + [
            "qemu-system-x86_64", "-M", "pc", "-enable-kvm", "-cpu", "host",
            "-m", "256", "-smp", str(self.cpus), "-nodefaults", "-display", "none",
            "-no-reboot", "-serial", "stdio", "-kernel", p["GUEST_BZIMAGE"],
            "-initrd", p["GUEST_INITRAMFS"], "-append", "console=ttyS0 reboot=k quiet",
            "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off",
            "-device", f"virtio-net-pci,netdev=n0,mac={MAC}"]
        self.child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8",
                                   codec_errors="replace", timeout=guestlib.BOOT_TIMEOUT,
                                   dimensions=(50, 200))
        self.child.logfile_read = guestlib._Collector(self._log)
        self.child.expect("TERN-GUEST-READY")
        self.child.expect("# ")
        self.shell("stty cols 4000")
        return self


def make_guest(config, ns):
    vmm, cpus = config[:-1], int(config[-1])
    if vmm == "tern":
        return guestlib.Guest(cpus=cpus, memory="256M", wrapper=ns,
                              extra=["--net", f"tap=tap0,mac={MAC}"])
    guest = QemuGuest(cpus=cpus, wrapper=ns)
    guest.cpus = cpus
    return guest


def how_it_ended(transcript):
    for marker, name in (("triple-faulted", "triple fault"), ("Kernel panic", "panic"),
                         ("Segmentation fault", "userspace segfault")):
        if marker in transcript:
            return name
    return "stall (no progress, no message)"


class Phases:
    """Seconds spent in each named phase of one run, to see where a slow
    VMM's time goes (boot, driver load, each stream, the reboot)."""

    def __init__(self):
        self.last = time.monotonic()
        self.spent = []

    def done(self, name):
        now = time.monotonic()
        self.spent.append(f"{name} {now - self.last:.1f}")
        self.last = now

    def __str__(self):
        return ", ".join(self.spent)


def one_run(config, transcript_dir):
    with net.netns_with_taps([("tap0", "10.0.2.1/24")]) as ns:
        guest = make_guest(config, ns)
        started = time.monotonic()
        phases = Phases()
        try:
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
            return f"ok ({time.monotonic() - started:.0f} s: {phases})"
        except (pexpect.ExceptionPexpect, AssertionError, subprocess.SubprocessError):
            return f"{how_it_ended(guest.transcript())} (after {phases or 'nothing'})"
        finally:
            if transcript_dir:
                name = f"{config}-{time.strftime('%H%M%S')}.log"
                with open(os.path.join(transcript_dir, name), "w") as f:
                    f.write(guest.transcript())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--configs", default="tern1,tern2,qemu1,qemu2",
                        help="VMM and vCPU count per config, comma-separated")
    parser.add_argument("--transcripts", metavar="DIR",
                        help="write each run's guest console to DIR/CONFIG-HHMMSS.log")
    args = parser.parse_args()
    if not os.environ.get("TERN_IN_TESTHOST"):
        extra = ["--transcripts", os.path.abspath(args.transcripts)] if args.transcripts else []
        os.execvp(os.path.join(ROOT, "testhost/run.sh"),
                  ["testhost/run.sh", "--", sys.executable, os.path.abspath(__file__),
                   "--runs", str(args.runs), "--configs", args.configs] + extra)
    configs = args.configs.split(",")
    outcomes = {c: [] for c in configs}
    for run in range(args.runs):
        for config in configs:
            outcome = one_run(config, args.transcripts)
            outcomes[config].append(outcome)
            print(f"run {run + 1} {config}: {outcome}", flush=True)
    print("\nsummary (runs that completed both streams):")
    for config, results in outcomes.items():
        good = sum(r.startswith("ok") for r in results)
        print(f"  {config}: {good}/{len(results)}")


if __name__ == "__main__":
    main()
