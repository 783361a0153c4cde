#!/usr/bin/python3
"""The README's first command at a terminal: scripts/demo run in a
pseudo-terminal (as a person runs it, so the terminal's foreground process
group, raw mode and the path through the test host's console are all the
real ones) gives an interactive guest shell that runs what is typed, and
`reboot` typed there (what the guest tells a person to type) ends the demo with status 0.

On a machine whose KVM cannot boot Linux the demo runs inside the nested
test host (testhost/run.sh), so this file runs on the build machine itself,
not inside the test host. A demo stopped by SIGTTIN (a program that reads
the terminal from a background process group, the hang of issue 13) never
shows the prompt, and the test fails on its timeout."""
import os
import signal
import sys
import time

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tap import run, test  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The demo builds (make is a no-op after tests/run's build), may boot the test
# host, then the guest: all emulated there.
BOOT_TIMEOUT = 300
COMMAND_TIMEOUT = 60


@test
def demo_at_a_terminal_gives_a_shell_and_reboot_ends_it():
    started = time.monotonic()
    child = pexpect.spawn("scripts/demo", cwd=ROOT, encoding="utf-8", codec_errors="replace",
                          timeout=BOOT_TIMEOUT, dimensions=(40, 120))
    transcript = []
    child.logfile_read = Collector(transcript)
    try:
        child.expect("Type 'reboot' to leave")
        child.expect("# ")
        # The answer is not in the typed line, so only the guest's shell
        # can print it.
        child.sendline("echo demo-answer-$((6 * 7)) $(uname -s)")
        child.expect("demo-answer-42 Linux", timeout=COMMAND_TIMEOUT)
        child.expect("# ", timeout=COMMAND_TIMEOUT)
        # Ctrl-C interrupts what the shell runs (the shell is not left with
        # the signals ignored that init's background start would give it).
        child.sendline("sleep 1000; echo sleep-$?-done")
        time.sleep(3)
        child.sendcontrol("c")
        child.expect("# ", timeout=COMMAND_TIMEOUT)
        child.sendline("echo after-ctrl-$((3 * 5))")
        child.expect("after-ctrl-15", timeout=COMMAND_TIMEOUT)
        child.expect("# ", timeout=COMMAND_TIMEOUT)
        # What the guest's banner tells a person to type (busybox's plain
        # reboot, which signals init), not the tests' usual `reboot -f`.
        child.sendline("reboot")
        child.expect(pexpect.EOF, timeout=COMMAND_TIMEOUT)
        child.close()
        print(f"# the demo ran {time.monotonic() - started:.0f} s", flush=True)
        assert child.exitstatus == 0, \
            f"the demo ended with status {child.exitstatus}, signal {child.signalstatus}"
    except BaseException:
        # The demo's whole session: the test host's QEMU and virtiofsd too.
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        print("# the demo's terminal (last 3000 chars):")
        for line in "".join(transcript)[-3000:].splitlines():
            print(f"#   {line}")
        raise


class Collector:
    def __init__(self, sink):
        self.sink = sink

    def write(self, data):
        self.sink.append(data)

    def flush(self):
        pass


run()
