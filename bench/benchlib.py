"""Shared by bench/blk and bench/net: the guest image, and one VMM (tern or
QEMU) driven over its serial console with pexpect, so that a benchmark runs
the same shell commands in both guests. Every wait has a timeout: a guest
that hangs raises GuestFailed and its VMM is killed, so a benchmark reports
a failure instead of hanging."""
import os
import re
import statistics
import subprocess
import uuid

import pexpect

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TERN = os.path.join(ROOT, "build", "tern")
CMDLINE = "console=ttyS0 reboot=k quiet"
BOOT_TIMEOUT = 300  # seconds; everything runs emulated in the test host


class GuestFailed(Exception):
    pass


def run_inside_testhost(script, inner_args, timeout):
    """Builds tern and the benchmark initramfs here, then runs `script`
    (a path relative to the repository) with --inner and inner_args inside
    the nested test host, where KVM can boot the guest. The whole test-host
    run is bounded: a stuck test host ends as a failure (run.sh's timeout),
    not a hang. Returns the exit status."""
    subprocess.run(["make", "-s", "build/tern"], cwd=ROOT, check=True)
    subprocess.run(["guest/build-bench-initramfs.sh"], cwd=ROOT, check=True)
    argv = ["testhost/run.sh", "--timeout", str(timeout), "--", "/usr/bin/python3",
            script, "--inner"] + inner_args
    return subprocess.run(argv, cwd=ROOT).returncode


def guest_paths():
    """The guest bzImage and the benchmark initramfs (with fio, iperf3)."""
    out = subprocess.run(
        ["bash", "-c", "source guest/paths.sh >/dev/null && "
         "echo $GUEST_BZIMAGE; echo $GUEST_BENCH_INITRAMFS"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
    return out[0], out[1]


def test_guest_paths():
    """The guest bzImage and the test initramfs the guest tests boot (no
    fio or iperf3: the smaller one, for benchmarks that only idle)."""
    out = subprocess.run(
        ["bash", "-c", "source guest/paths.sh >/dev/null && "
         "echo $GUEST_BZIMAGE; echo $GUEST_INITRAMFS"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
    return out[0], out[1]


def process_memory_kib(pid, memory_mib):
    """A VMM's memory from /proc/PID/smaps, in KiB: (total RSS, the
    guest-RAM mapping's RSS, total Anonymous, the guest-RAM mapping's
    Anonymous). The guest-RAM mapping is the most resident one whose size
    is within [memory, memory + 4 MiB], as bench/boot and
    bench/density-probe find it. None when the process is gone."""
    maps = []
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    maps.append({})
                    continue
                key, _, rest = line.partition(":")
                fields = rest.split()
                if maps and len(fields) == 2 and fields[1] == "kB":
                    maps[-1][key] = int(fields[0])
    except (FileNotFoundError, ProcessLookupError):
        return None
    guest = {}
    for m in maps:
        if memory_mib * 1024 <= m.get("Size", 0) <= (memory_mib + 4) * 1024 and \
                m.get("Rss", 0) >= guest.get("Rss", 0):
            guest = m
    return (sum(m.get("Rss", 0) for m in maps), guest.get("Rss", 0),
            sum(m.get("Anonymous", 0) for m in maps), guest.get("Anonymous", 0))


def tern_argv(memory_mib, cpus, devices):
    bzimage, initrd = guest_paths()
    return [TERN, "run", "--kernel", bzimage, "--initrd", initrd, "--memory",
            f"{memory_mib}M", "--cpus", str(cpus), "--cmdline", CMDLINE] + devices


def qemu_argv(memory_mib, cpus, devices):
    bzimage, initrd = guest_paths()
    return ["qemu-system-x86_64", "-M", "pc", "-enable-kvm", "-cpu", "host",
            "-m", str(memory_mib), "-smp", str(cpus), "-nodefaults", "-display", "none",
            "-no-reboot", "-serial", "stdio", "-kernel", bzimage, "-initrd", initrd,
            "-append", CMDLINE] + devices


class Guest:
    """A VMM booting the benchmark guest; shell() runs a command in it."""

    def __init__(self, argv, wrapper=()):
        self.argv = list(wrapper) + list(argv)
        self.child = None
        self.log = []

    def __enter__(self):
        self.child = pexpect.spawn(self.argv[0], self.argv[1:], encoding="utf-8",
                                   codec_errors="replace", timeout=BOOT_TIMEOUT,
                                   dimensions=(50, 4000))
        self.child.logfile_read = self
        self._expect("TERN-GUEST-READY", BOOT_TIMEOUT)
        self._expect("# ", 60)
        # The console has no size: long typed lines would wrap at 80.
        self.shell("stty cols 4000")
        return self

    def __exit__(self, *exc):
        if self.child is not None and self.child.isalive():
            self.child.sendline("reboot -f")
            try:
                self.child.expect(pexpect.EOF, timeout=30)
            except (pexpect.TIMEOUT, pexpect.EOF):
                pass
            self.child.terminate(force=True)
        return False

    # pexpect's logfile_read interface: keep the transcript for errors.
    def write(self, data):
        self.log.append(data)

    def flush(self):
        pass

    def tail(self, chars=1500):
        return "".join(self.log)[-chars:]

    def _expect(self, pattern, timeout):
        try:
            self.child.expect(pattern, timeout=timeout)
        except pexpect.TIMEOUT:
            raise GuestFailed(f"timeout waiting for {pattern!r}; console:\n{self.tail()}")
        except pexpect.EOF:
            raise GuestFailed(f"VMM exited waiting for {pattern!r}; console:\n{self.tail()}")

    def shell(self, command, timeout=120):
        marker = f"__END_{uuid.uuid4().hex[:8]}__"
        self.child.sendline(f"{command}; echo {marker}")
        self._expect(re.escape(marker), timeout)  # the echoed command line
        self._expect(r"\r\n" + re.escape(marker), timeout)
        return self.child.before.replace("\r", "").strip()


def median_or_none(values):
    return statistics.median(values) if values else None


def print_table(title, unit, names, results, failures, baseline_pairs):
    """results: {figure: {vmm: [values]}}; prints medians per VMM and the
    ratio of each (first, second) pair in baseline_pairs."""
    print(f"\n{title}")
    header = f"{'figure':<28}" + "".join(f"{n:>16}" for n in names)
    header += "".join(f"{a + '/' + b:>28}" for a, b in baseline_pairs)
    print(header)
    for figure, per_vmm in results.items():
        line = f"{figure + ' (' + unit[figure] + ')':<28}"
        medians = {}
        for n in names:
            m = median_or_none(per_vmm.get(n, []))
            medians[n] = m
            line += f"{m:16.1f}" if m is not None else f"{'failed':>16}"
        for a, b in baseline_pairs:
            if medians.get(a) and medians.get(b):
                line += f"{medians[a] / medians[b]:28.2f}"
            else:
                line += f"{'-':>28}"
        print(line)
    print("failed runs: " + ", ".join(f"{n} {failures[n]}" for n in names))
    # Every run's figure, in run order: the spread the medians hide.
    for figure, per_vmm in results.items():
        print(f"{figure}: " + "; ".join(
            f"{n} " + " ".join(f"{v:.1f}" for v in per_vmm.get(n, [])) for n in names))
