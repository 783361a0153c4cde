"""Drives a tern guest over its serial console with pexpect: boot, run shell
commands, reboot, and collect the exit status."""
import os
import bisect
import glob
import re
import signal
import subprocess
import time
import uuid

import pexpect

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# TERN=PATH tests another binary (a copy kept while the tree is rebuilt).
TERN = os.environ.get("TERN", os.path.join(ROOT, "build", "tern"))
BOOT_TIMEOUT = 180  # everything runs emulated inside the test host
COMMAND_TIMEOUT = 60

_paths = None


def paths():
    """GUEST_BZIMAGE, GUEST_VMLINUX, GUEST_INITRAMFS, GUEST_MPPARSE_BZIMAGE
    from guest/paths.sh."""
    global _paths
    if _paths is None:
        out = subprocess.run(
            ["bash", "-c", "source guest/paths.sh >/dev/null && "
             "echo $GUEST_BZIMAGE; echo $GUEST_VMLINUX; echo $GUEST_INITRAMFS; "
             "echo $GUEST_MPPARSE_BZIMAGE"],
            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
        _paths = dict(zip(("GUEST_BZIMAGE", "GUEST_VMLINUX", "GUEST_INITRAMFS",
                           "GUEST_MPPARSE_BZIMAGE"), out))
        # GUEST_INITRAMFS=PATH: an initramfs built with guest/build-initramfs.sh
        # outside the cache (a module added before the cache is rebuilt).
        if os.environ.get("GUEST_INITRAMFS"):
            _paths["GUEST_INITRAMFS"] = os.environ["GUEST_INITRAMFS"]
    return _paths


class Guest:
    # Class defaults, for subclasses that set up their own child (the API
    # and migration tests): where the kernel and its modules are, if known.
    kernel_text = None  # where the guest's kernel text starts (KASLR)
    modules = ()  # (start, size, name) of the guest's loaded modules
    def __init__(self, cpus=1, memory="256M", kernel=None, extra=(), cmdline=None,
                 log_path=None, wrapper=()):
        """log_path: tern's stderr (its log) goes to that file instead of the
        console, so debug logging cannot interleave with shell output."""
        p = paths()
        self.log_path = log_path
        self.argv = ["run", "--kernel", kernel or p["GUEST_BZIMAGE"],
                     "--initrd", p["GUEST_INITRAMFS"], "--cpus", str(cpus), "--memory", memory,
                     "--cmdline", cmdline or "console=ttyS0 reboot=k quiet"] + list(extra)
        # wrapper: a command tern runs under, e.g. ["ip", "netns", "exec", NS].
        self.wrapper = list(wrapper)
        self.child = None
        self._log = []

    def __enter__(self):
        program, argv = TERN, self.argv
        if self.log_path:
            # exec: the child's pid stays tern's own (tests read /proc/PID).
            program, argv = "/bin/sh", ["-c", 'exec "$0" "$@" 2>>"$TERN_LOG"', TERN] + argv
        command = list(self.wrapper) + [program] + argv
        self.child = pexpect.spawn(command[0], command[1:], encoding="utf-8",
                                   codec_errors="replace",
                                   timeout=BOOT_TIMEOUT, dimensions=(50, 200),
                                   env=dict(os.environ, TERN_LOG=self.log_path or ""))
        self.child.logfile_read = _Collector(self._log)
        self.child.expect("TERN-GUEST-READY")
        self.child.expect("# ")
        # The serial console has no size, so the guest's line editor wraps
        # typed lines at 80 columns, which would split shell()'s end marker
        # in long commands: give the terminal room first.
        self.shell("stty cols 4000")
        # Where KASLR put the kernel: a failed test symbolizes the vCPU
        # report's addresses against System.map with it.
        text = self.shell("grep -m1 ' _text$' /proc/kallsyms").split()
        if text and re.fullmatch(r"[0-9a-f]{16}", text[0]):
            self.kernel_text = int(text[0], 16)
        return self

    def _read_modules(self):
        self.modules = []
        for line in self.shell("cat /proc/modules").splitlines():
            fields = line.split()
            if len(fields) >= 6 and fields[5].startswith("0x"):
                self.modules.append((int(fields[5], 16), int(fields[1]), fields[0]))

    def __exit__(self, *exc):
        threads = None
        if exc[0] is not None and self.child and self.child.isalive():
            threads = _thread_activity(self.child.pid)
            self.ask_vcpu_report()
        if exc[0] is not None and self.child and not self.child.closed:
            # What tern or the guest printed while the test was not reading
            # the console (waiting on the API, say), tern's last words
            # included, belongs in the transcript.
            try:
                self.child.expect(pexpect.EOF, timeout=1)
            except (pexpect.TIMEOUT, pexpect.EOF, OSError):
                pass
        if exc[0] is not None and self.child and self.child.closed:
            # exit_with() ended it: how tern ended is the first clue.
            print(f"# tern ended with exit status {self.child.exitstatus}, "
                  f"signal {self.child.signalstatus}")
        if self.child and self.child.isalive():
            self.child.terminate(force=True)
        if exc[0] is not None:
            if threads:
                # Tells a guest that went quiet (vCPUs asleep in HLT: a lost
                # interrupt?) from one spinning or a VMM thread stuck.
                print("# tern's threads when the test failed (CPU time used in 2 s, state, kernel wait):")
                for line in threads:
                    print(f"#   {line}")
            try:
                report = self.vcpu_report()
            except Exception as e:  # a diagnosis must not hide the failure
                report = [f"(the vCPU report could not be read: {e!r})"]
            if report:
                print("# where the vCPUs were (the VMM's report, kernel addresses named):")
                for line in report:
                    print(f"#   {line}")
            tail = self.transcript()[-3000:]
            print("# console transcript (last 3000 chars):")
            for line in tail.splitlines():
                print(f"#   {line}")
            if self.log_path and os.path.exists(self.log_path):
                with open(self.log_path, errors="replace") as f:
                    log_tail = f.read()[-2000:]
                print("# tern's log (last 2000 chars):")
                for line in log_tail.splitlines():
                    print(f"#   {line}")
        return False

    def ask_vcpu_report(self):
        """tern's vCPU report (registers, pending events, LAPIC vectors,
        the guest's stack): where a quiet guest's vCPUs are. It lands in the
        console or the log file."""
        try:
            os.kill(self.child.pid, signal.SIGUSR2)
            time.sleep(1)
        except OSError:
            pass

    def vcpu_report(self):
        """The report's lines worth printing (see vcpu_report_symbols)."""
        return vcpu_report_symbols(self.transcript() + self._log_file_text(),
                                   self.kernel_text, self.modules)

    def _log_file_text(self):
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def transcript(self):
        return "".join(self._log)

    def shell(self, command, timeout=COMMAND_TIMEOUT):
        """Runs command in the guest shell and returns its output, stripped.
        A unique marker delimits the output so echoes and prompts never
        leak into it."""
        marker = f"__END_{uuid.uuid4().hex[:8]}__"
        self.child.sendline(f"{command}; echo {marker}")
        # The first match is the echo of the typed line; the second, the
        # marker printed on its own line by the shell.
        self.child.expect(re.escape(marker), timeout=timeout)
        self.child.expect(r"\r\n" + re.escape(marker), timeout=timeout)
        # Typed while the guest was still busy, the line is echoed twice
        # (by the tty at once, then redrawn by the shell's line editor): the
        # output starts after the last echo of the marker.
        output = self.child.before.rsplit(marker, 1)[-1]
        # getattr: the API, migration and snapshot tests call this method on
        # objects of their own classes.
        if "modprobe" in command and getattr(self, "kernel_text", None):
            # Where the modules landed, for a failed test's vCPU report.
            self._read_modules()
        return output.replace("\r", "").strip()

    def reboot(self):
        """Reboots the guest and returns tern's exit status."""
        return self.exit_with("reboot -f")

    def exit_with(self, command):
        """Runs a command that ends the guest (reboot, poweroff) and returns
        tern's exit status."""
        self.child.sendline(command)
        self.child.expect(pexpect.EOF, timeout=COMMAND_TIMEOUT)
        self.child.close()
        return self.child.exitstatus if self.child.exitstatus is not None \
            else 128 + (self.child.signalstatus or 0)


def expect_tick(child, at_least, timeout):
    """Waits for a counter loop's "TICK n" line with n >= at_least. Not the
    exact line "TICK at_least": tern's log shares the console, and a log
    line written in the middle of that one line splits it ("TI<log>CK 11"),
    which made migration and snapshot tests wait for ever for a tick that
    had been printed."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise pexpect.TIMEOUT(f"no TICK {at_least} or later within {timeout} s")
        child.expect(r"TICK (\d+)\r\n", timeout=left)
        if int(child.match.group(1)) >= at_least:
            return int(child.match.group(1))


def _thread_times(pid):
    times = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                wchan = f.read().strip() or "-"
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        # fields[0] is the state; utime and stime are stat fields 14 and 15.
        times[tid] = (name, fields[0], int(fields[11]) + int(fields[12]), wchan)
    return times


def _thread_activity(pid):
    """One line per thread of process pid: CPU ticks used over 2 s, state,
    kernel wait channel. Empty if the process is gone."""
    try:
        before = _thread_times(pid)
        time.sleep(2)
        after = _thread_times(pid)
    except OSError:
        return []
    hz = os.sysconf("SC_CLK_TCK")
    lines = []
    for tid, (name, state, ticks, wchan) in sorted(after.items(), key=lambda t: int(t[0])):
        used = (ticks - before.get(tid, (name, state, ticks, wchan))[2]) / hz
        lines.append(f"{tid} {name}: {used:.2f} s, state {state}, {wchan}")
    return lines


def _kernel_symbols():
    """(addresses, names) of the guest kernel's text symbols, sorted. Debian's
    System.map is a placeholder (the real one is in the -dbg package), but
    the test host runs the very kernel the guests boot, so its own
    /proc/kallsyms serves, once both are taken relative to _text (KASLR
    moves each by its own offset). Empty elsewhere."""
    kernels = glob.glob(os.path.join(ROOT, "build", "cache", "kernel-root", "boot", "vmlinuz-*"))
    if not kernels or os.path.basename(kernels[0]) != f"vmlinuz-{os.uname().release}":
        return [], []
    symbols = []
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[1] in "tT":
                    symbols.append((int(parts[0], 16), parts[2]))
    except OSError:
        return [], []
    symbols.sort()
    return [a for a, _ in symbols], [n for _, n in symbols]


def vcpu_report_symbols(text, kernel_text, modules=()):
    """For each vCPU in tern's SIGUSR2 report found in text: its state and
    rip, and the stack words that point into the kernel's text (as symbol
    names) or into a module (as module+offset; modules: (start, size, name)
    from the guest's /proc/modules)."""
    addresses, names = _kernel_symbols()
    if not addresses or not kernel_text or "_text" not in names or addresses[0] == 0:
        # No symbols, kallsyms hides its addresses (kptr_restrict), or the
        # guest's kernel was not placed (another kernel than the host's).
        addresses, names = [], []
    link_text = addresses[names.index("_text")] if addresses else 0
    offset = kernel_text - link_text if addresses else 0
    end = addresses[names.index("_etext")] if "_etext" in names else link_text

    def name(value):
        for start, size, module in modules:
            if start <= value < start + size:
                return f"[{module}]+0x{value - start:x}"
        unrelocated = value - offset
        if not addresses or not link_text <= unrelocated < end:
            return None
        i = bisect.bisect_right(addresses, unrelocated) - 1
        return f"{names[i]}+0x{unrelocated - addresses[i]:x}"

    lines = []
    for match in re.finditer(r"vCPU (\d+): (\S+) rip=0x([0-9a-f]+)", text):
        lines.append(f"vCPU {match.group(1)} {match.group(2)} at "
                     f"{name(int(match.group(3), 16)) or match.group(3)}")
    for match in re.finditer(r"vCPU (\d+): stack\+0x([0-9a-f]+):((?: [0-9a-f]{16})+)", text):
        called = [n for n in (name(int(w, 16)) for w in match.group(3).split()) if n]
        if called:
            lines.append(f"vCPU {match.group(1)} stack+0x{match.group(2)}: {' '.join(called)}")
    return lines


class _Collector:
    def __init__(self, sink):
        self.sink = sink

    def write(self, data):
        self.sink.append(data)

    def flush(self):
        pass
