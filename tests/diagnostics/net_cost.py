#!/usr/bin/python3
"""Diagnostic, not a test: where a virtio-net byte's cost goes, per VMM,
during bench/net's iperf3 runs (same namespace, tap, guest and commands).

    tests/diagnostics/net_cost.py [--time SECS] [--vmms tern,qemu,tern=PATH]
                                  [--figures guest->host,host->guest]

It runs itself inside the test host (testhost/run.sh). For every VMM in
turn (`tern=PATH` is another tern binary, e.g. an older build to compare)
and figure it prints the throughput and, per MB moved: the VMM's threads'
CPU time (/proc/PID/task), the whole test host's busy time (/proc/stat),
KVM's per-VM counters (debugfs: exits, irq_injections, halt_exits, ...) and
the guest's virtio interrupts (/proc/interrupts). The throughput in the
emulated test host swings by 2x with the machine's other load; the per-MB
CPU and exit counts are the steadier measure.
"""
import argparse
import glob
import importlib.machinery
import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import benchlib  # noqa: E402

_loader = importlib.machinery.SourceFileLoader("bench_net", os.path.join(ROOT, "bench", "net"))
bench_net = importlib.util.module_from_spec(importlib.util.spec_from_loader("bench_net", _loader))
_loader.exec_module(bench_net)

KVM_COUNTERS = ["exits", "io_exits", "irq_exits", "halt_exits", "irq_injections",
                "irq_window_exits", "insn_emulation"]


def kvm_counters(pid):
    dirs = glob.glob(f"/sys/kernel/debug/kvm/{pid}-*")
    out = {}
    for name in KVM_COUNTERS:
        try:
            with open(os.path.join(dirs[0], name)) as f:
                out[name] = int(f.read().split()[0])
        except (IndexError, OSError, ValueError):
            pass
    return out


def thread_ticks(pid):
    out = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            with open(task + "/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[name] = out.get(name, 0) + int(fields[11]) + int(fields[12])
    return out


def host_ticks():
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    return sum(values) - values[3] - values[4]


def virtio_interrupts(guest):
    out = {}
    for line in guest.shell("grep virtio /proc/interrupts").splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[1].isdigit():
            out[parts[-1]] = int(parts[1])
    return out


def measure(name, argv, figures, args, ns):
    hz = os.sysconf("SC_CLK_TCK")
    with benchlib.Guest(argv, wrapper=ns) as guest:
        pid = guest.child.pid
        out = guest.shell("modprobe virtio_pci && modprobe virtio_net && "
                          "for i in $(seq 50); do [ -e /sys/class/net/eth0 ] && break; "
                          "sleep 0.2; done; "
                          f"ip addr add {bench_net.GUEST_ADDRESS}/24 dev eth0 && "
                          f"ip link set eth0 up && "
                          f"ping -c 1 -W 10 {bench_net.HOST_ADDRESS} >/dev/null && echo NET-UP")
        if not out.endswith("NET-UP"):
            raise benchlib.GuestFailed(f"guest network not up: {out!r}")
        for figure in figures:
            flag = bench_net.FIGURES[figure]
            irq0, kvm0, thr0, host0 = (virtio_interrupts(guest), kvm_counters(pid),
                                       thread_ticks(pid), host_ticks())
            out = guest.shell(f"iperf3 -c {bench_net.HOST_ADDRESS} -t {args.time} -f m {flag}",
                              timeout=120 + 10 * args.time)
            irq1, kvm1, thr1, host1 = (virtio_interrupts(guest), kvm_counters(pid),
                                       thread_ticks(pid), host_ticks())
            mbit = bench_net.mbits(out)
            mb = mbit * args.time / 8
            print(f"{name} {figure}: {mbit:.0f} Mbit/s, {mb:.0f} MB")
            threads = ", ".join(f"{t} {(thr1[t] - thr0.get(t, 0)) * 1000 / hz / mb:.2f}"
                                for t in thr1 if thr1[t] - thr0.get(t, 0))
            print(f"  CPU ms/MB: {threads}; test host busy "
                  f"{(host1 - host0) * 1000 / hz / mb:.2f}")
            print("  KVM per MB: " + ", ".join(f"{k} {(kvm1[k] - kvm0[k]) / mb:.1f}"
                                                for k in KVM_COUNTERS if k in kvm0 and k in kvm1))
            print("  guest interrupts per MB: " + ", ".join(
                f"{k} {(irq1[k] - irq0.get(k, 0)) / mb:.2f}" for k in irq1
                if not k.endswith("config")), flush=True)


def inner(args):
    if not os.path.isdir("/sys/kernel/debug/kvm"):
        subprocess.run(["mount", "-t", "debugfs", "none", "/sys/kernel/debug"],
                       capture_output=True)
    bench_args = argparse.Namespace(memory=512, cpus=1, time=args.time)
    figures = args.figures.split(",")
    with bench_net.namespace_with_tap() as ns:
        for vmm in args.vmms.split(","):
            name, _, binary = vmm.partition("=")
            argv = bench_net.vmm_argv(name, bench_args)
            if binary:
                argv[0] = binary
            try:
                measure(vmm, argv, figures, args, ns)
            except benchlib.GuestFailed as e:
                print(f"{vmm} failed: {e}", flush=True)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time", type=int, default=4, help="seconds per iperf3 run")
    parser.add_argument("--vmms", default="tern,qemu")
    parser.add_argument("--figures", default=",".join(bench_net.FIGURES))
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        return inner(args)
    return benchlib.run_inside_testhost(
        "tests/diagnostics/net_cost.py",
        ["--time", str(args.time), "--vmms", args.vmms, "--figures", args.figures], 1800)


if __name__ == "__main__":
    sys.exit(main())
