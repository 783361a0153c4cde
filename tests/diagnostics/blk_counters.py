#!/usr/bin/python3
"""Diagnostic, not a test: what a virtio-blk fio job costs under tern and
under QEMU besides its throughput, which the shared build machine makes
vary up to 4x from run to run.

    tests/diagnostics/blk_counters.py [--runtime SECS] [VMM ...]

VMM is tern, tern-threads, qemu or qemu-threads (default: tern qemu), or
NAME=BINARY[:ENGINE] for another tern binary. It runs itself inside the
test host (testhost/run.sh), boots each VMM as bench/blk does, and prints
the guest's block queue limits (/sys/block/vda/queue), then per fio job
(1 MiB sequential read and write at queue depth 8, 4 KiB random read at
32): the guest's requests and their mean size (/sys/block/vda/stat), its
virtio interrupts (/proc/interrupts), the test host's KVM exits and
interrupt injections per MB (debugfs), the VMM's host CPU ms per MB with
the guest's own time apart, and after the jobs how KVM maps the guest
(pages_4k / pages_2m) and how much of the VMM's memory is huge pages.
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import benchlib  # noqa: E402

DEBUGFS = "/sys/kernel/debug/kvm"
JOBS = {
    "seqread 1M qd8": "--rw=read --bs=1M --iodepth=8",
    "seqwrite 1M qd8": "--rw=write --bs=1M --iodepth=8",
    "randread 4k qd32": "--rw=randread --bs=4k --iodepth=32",
}
KVM_COUNTERS = ("exits", "irq_injections", "io_exits", "irq_exits", "halt_exits")


def kvm_counters():
    values = {}
    for name in KVM_COUNTERS:
        try:
            with open(f"{DEBUGFS}/{name}") as f:
                values[name] = int(f.read())
        except OSError:
            pass
    return values


def cpu_ticks(pid):
    """(user + system, guest) clock ticks of the whole VMM process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12]), int(fields[40])


def guest_io(guest):
    out = guest.shell("cat /sys/block/vda/stat; grep virtio /proc/interrupts")
    lines = out.splitlines()
    stat = [int(x) for x in lines[0].split()]
    irqs = sum(int(x) for line in lines[1:] for x in line.split(":", 1)[1].split()
               if x.isdigit())
    # reads, read sectors, writes, written sectors, virtio interrupts
    return stat[0], stat[2], stat[4], stat[6], irqs


def vmm_argv(spec, image):
    if "=" in spec:
        name, rest = spec.split("=", 1)
        binary, _, engine = rest.partition(":")
        argv = benchlib.tern_argv(512, 1, [
            "--disk", f"path={image},cache=writeback,engine={engine or 'io_uring'}"])
        argv[0] = os.path.abspath(binary)
        return name, argv
    engine = "threads" if spec.endswith("-threads") else "io_uring"
    if spec.startswith("tern"):
        return spec, benchlib.tern_argv(512, 1, [
            "--disk", f"path={image},cache=writeback,engine={engine}"])
    return spec, benchlib.qemu_argv(512, 1, [
        "-drive", f"file={image},format=raw,if=none,id=disk0,cache=writeback,aio={engine}",
        "-device", "virtio-blk-pci,drive=disk0,num-queues=1"])


def one_vmm(spec, image, runtime):
    name, argv = vmm_argv(spec, image)
    with benchlib.Guest(argv) as guest:
        guest.shell("modprobe virtio_pci && modprobe virtio_blk && for i in $(seq 50); do "
                    "[ -b /dev/vda ] && break; sleep 0.2; done")
        limits = guest.shell("cd /sys/block/vda/queue && for f in max_segments "
                             "max_segment_size max_sectors_kb logical_block_size; do "
                             "echo -n \"$f=$(cat $f) \"; done; echo; cd /")
        print(f"{name}: {limits}", flush=True)
        for job, args in JOBS.items():
            before, kvm0, cpu0 = guest_io(guest), kvm_counters(), cpu_ticks(guest.child.pid)
            out = guest.shell(f"fio --name=probe --filename=/dev/vda --direct=1 --ioengine=libaio "
                              f"--time_based --ramp_time=1 --runtime={runtime} "
                              f"--output-format=terse {args}", timeout=120 + 10 * runtime)
            cpu1, kvm1, after = cpu_ticks(guest.child.pid), kvm_counters(), guest_io(guest)
            fio = next(line for line in out.splitlines() if line.startswith("3;fio-")).split(";")
            reads, writes = after[0] - before[0], after[2] - before[2]
            mb = ((after[1] - before[1]) + (after[3] - before[3])) / 2048
            per_mb = max(mb, 1)
            host_ms = 10 * ((cpu1[0] - cpu0[0]) - (cpu1[1] - cpu0[1])) / per_mb
            guest_ms = 10 * (cpu1[1] - cpu0[1]) / per_mb
            kvm = " ".join(f"{k} {(kvm1[k] - kvm0[k]) / per_mb:.1f}" for k in kvm1)
            print(f"{name} {job}: {(float(fio[6]) + float(fio[47])) / 1024:.1f} MiB/s, "
                  f"{reads + writes} requests of {mb * 1024 / max(reads + writes, 1):.0f} KiB, "
                  f"{after[4] - before[4]} interrupts; per MB: VMM host CPU {host_ms:.2f} ms, "
                  f"guest {guest_ms:.2f} ms, KVM {kvm}", flush=True)
        pages = []
        for counter in ("pages_4k", "pages_2m"):
            try:
                with open(f"{DEBUGFS}/{counter}") as f:
                    pages.append(f"{counter} {f.read().strip()}")
            except OSError:
                pass
        with open(f"/proc/{guest.child.pid}/smaps_rollup") as f:
            huge = [line.split()[1] for line in f if line.startswith("AnonHugePages")]
        print(f"{name}: KVM maps the guest with {', '.join(pages)}; "
              f"VMM AnonHugePages {huge[0] if huge else '?'} kB", flush=True)


def inner(args):
    if not os.path.exists(DEBUGFS):
        subprocess.run(["mount", "-t", "debugfs", "none", "/sys/kernel/debug"])
    fd, image = tempfile.mkstemp(prefix="tern-probe-", suffix=".img", dir="/dev/shm")
    os.close(fd)
    try:
        subprocess.run(["fallocate", "-l", "1024M", image], check=True)
        for spec in args.vmm or ["tern", "qemu"]:
            try:
                one_vmm(spec, image, args.runtime)
            except benchlib.GuestFailed as e:
                print(f"{spec}: failed: {e}", flush=True)
    finally:
        os.unlink(image)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runtime", type=int, default=4, help="seconds per fio job")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("vmm", nargs="*")
    args = parser.parse_args()
    if args.inner:
        return inner(args)
    return benchlib.run_inside_testhost(os.path.relpath(__file__, ROOT),
                                        ["--runtime", str(args.runtime)] + args.vmm, 1800)


if __name__ == "__main__":
    sys.exit(main())
