#!/usr/bin/python3
"""ternctl console end to end, on echo32 (a tiny guest that prints
"echo32 ready" at boot and echoes what it receives on COM1): a round trip
through a real terminal (a pty: raw while attached, restored after), the
scrollback of what the guest printed while no console was attached, Ctrl-]
detaching with the VM left running, a second console refused and --force
taking over, kill -9 of ternd (the client told, the terminal restored, the
next ternd's console working with the old scrollback), a VM that stops
under its console, standard input that is not a terminal, and the refusals
(a shut-off VM, an unknown one, bad requests on the API).

TERND=build/asan/ternd TERNCTL=build/asan/ternctl runs the same tests
against the sanitizer build; the VMs always run build/tern."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import test  # noqa: E402
from console_client import DETACH, Console  # noqa: E402
from ternd_host import main, ROOT, Host, setup, wait_until  # noqa: E402

ECHO = os.path.join(ROOT, "build/guests/echo32-pvh.elf")


def started(h, name="echo"):
    h.define(name, kernel=ECHO)
    h.ok("start", name)
    # The banner reached ternd (and its log) with nobody attached.
    log = os.path.join(h.state, "vms", name, "console.log")
    wait_until(lambda: os.path.exists(log) and b"echo32 ready" in open(log, "rb").read(),
               what="the banner in console.log")
    return log


@test
def a_console_round_trip_through_a_terminal_and_ctrl_bracket_detaches():
    with Host() as h:
        h.start()
        log = started(h)
        c = Console(h, "echo")
        try:
            # The scrollback: printed at boot, before any console.
            c.expect(b"echo32 ready\r\n")
            assert c.raw(), "the terminal is not raw while attached"
            c.send(b"hello tern\r")
            c.expect(b"hello tern\r\n")
            # Ctrl-C is a byte for the guest, not a signal for ternctl.
            c.send(b"\x03x\r")
            c.expect(b"\x03x\r\n")
            assert c.proc.poll() is None
            c.send(DETACH)
            status, err = c.wait()
            assert status == 0, err
            assert "Connected to VM 'echo' (Ctrl-] detaches)" in err, err
            assert not c.raw(), "the terminal was not restored"
        finally:
            c.close()
        assert h.listing()["echo"]["state"] == "running"
        assert b"hello tern\r\n" in open(log, "rb").read()
        assert "console client attached" in h.stderr()
        assert "console client detached" in h.stderr()
        h.stop()


@test
def scrollback_is_what_the_guest_printed_before_the_console():
    with Host() as h:
        h.start()
        started(h)
        c = Console(h, "echo", tty=False)
        try:
            c.expect(b"echo32 ready")
            c.send(b"first line\r")
            c.expect(b"first line\r\n")
            c.send(DETACH)
            status, err = c.wait()
            assert status == 0, err
            assert "standard input is not a terminal" in err, err
        finally:
            c.close()
        # --scrollback 12: the newest 12 bytes only.
        c = Console(h, "echo", "--scrollback", "12", tty=False)
        try:
            c.expect(b"first line\r\n")
            assert c.out == b"first line\r\n", c.out
            c.send(b"second\r")
            c.expect(b"second\r\n")
            c.send(DETACH)
            assert c.wait()[0] == 0
        finally:
            c.close()
        # --scrollback 0: none; the console is live at once.
        c = Console(h, "echo", "--scrollback", "0", tty=False)
        try:
            c.send(b"third\r")
            c.expect(b"third\r\n")
            assert c.out == b"third\r\n", c.out
            c.send(DETACH)
            assert c.wait()[0] == 0
        finally:
            c.close()
        h.fails("console", "echo", "--scrollback", "2M", words=["--scrollback"], status=2)
        h.stop()


@test
def a_second_console_is_refused_and_force_takes_it_over():
    with Host() as h:
        h.start()
        started(h)
        first = Console(h, "echo")
        try:
            first.expect(b"echo32 ready")
            line = h.fails("console", "echo", words=["another client has its console",
                                                    "--force"])
            assert line.startswith("ternctl: console: VM 'echo'"), line
            second = Console(h, "echo", "--force", tty=False)
            try:
                second.expect(b"echo32 ready")
                first.expect(b"[console taken over by another client]")
                status, err = first.wait()
                assert status == 1, err
                assert "ternd closed the console of VM 'echo'" in err, err
                assert not first.raw(), "the terminal was not restored"
                second.send(b"mine now\r")
                second.expect(b"mine now\r\n")
                second.send(DETACH)
                assert second.wait()[0] == 0
            finally:
                second.close()
        finally:
            first.close()
        h.stop()


@test
def the_console_survives_kill_9_of_ternd():
    with Host() as h:
        h.start()
        started(h)
        pid = h.info("echo")["pid"]
        c = Console(h, "echo")
        try:
            c.expect(b"echo32 ready")
            c.send(b"before the kill\r")
            c.expect(b"before the kill\r\n")
            h.kill9()
            status, err = c.wait()
            assert status == 1, err
            assert "the console ended, and ternd does not answer" in err, err
            assert not c.raw(), "the terminal was not restored"
        finally:
            c.close()
        # The VM ran on; a new ternd re-attaches to its console too.
        assert pid in h.tern_pids()
        h.start()
        assert h.info("echo")["pid"] == pid
        c = Console(h, "echo", "--scrollback", "200")
        try:
            c.expect(b"before the kill\r\n")
            c.send(b"after the kill\r")
            c.expect(b"after the kill\r\n")
            c.send(DETACH)
            assert c.wait()[0] == 0
        finally:
            c.close()
        log = os.path.join(h.state, "vms", "echo", "console.log")
        data = open(log, "rb").read()
        assert data.count(b"echo32 ready") == 1, data
        assert b"before the kill\r\nafter the kill\r\n" in data, data
        h.ok("destroy", "echo")
        h.stop()


@test
def a_vm_that_stops_ends_its_console():
    with Host() as h:
        h.start()
        started(h)
        c = Console(h, "echo")
        try:
            c.expect(b"echo32 ready")
            h.ok("destroy", "echo")
            c.expect(b"[the VM stopped]")
            status, err = c.wait()
            assert status == 0, err
            assert "VM 'echo' is shut off (destroyed" in err, err
            assert not c.raw()
        finally:
            c.close()
        # Its socket went with its tern.
        assert not os.path.exists(os.path.join(h.state, "vms", "echo", "console.sock"))
        h.stop()


@test
def a_console_is_refused_with_the_reason():
    with Host() as h:
        h.start()
        h.define("off", kernel=ECHO)
        h.fails("console", "off", words=["VM 'off' is not running", "ternctl start off"])
        h.fails("console", "nosuch", words=["no VM named 'nosuch'"])
        h.fails("console", "../etc", words=["VM name"])
        h.fails("console", status=2)
        h.fails("list", "--force", status=2)
        h.fails("list", "--scrollback", "1", words=["--scrollback belongs to console"],
                status=2)
        api = h.api()
        h.ok("start", "off")
        # Not upgraded: an ordinary answer saying how.
        status, body = api.request("POST", "/v1/vms/off/console")
        assert status == 400 and "Upgrade: tern-console" in body["fault_message"], body
        status, body = api.request("GET", "/v1/vms/off/console")
        assert status == 405, body
        h.ok("destroy", "off")
        h.stop()


@test
def a_vm_without_a_console_socket_is_refused_with_the_reason():
    """A tern an older ternd started has --serial file: and no socket."""
    with Host() as h:
        h.start()
        started(h)
        h.kill9()
        os.unlink(os.path.join(h.state, "vms", "echo", "console.sock"))
        h.start()
        assert h.listing()["echo"]["state"] == "running"
        assert "VM 'echo' has no console through ternd" in h.stderr()
        h.fails("console", "echo", words=["VM 'echo' has no console",
                                          "until it is restarted"])
        h.ok("destroy", "echo")
        h.stop()


@test
def ternd_stops_cleanly_with_a_console_attached():
    with Host() as h:
        h.start()
        started(h)
        c = Console(h, "echo", tty=False)
        try:
            c.expect(b"echo32 ready")
            h.stop()  # SIGTERM: exit status 0 (and no leak under ASan)
            status, err = c.wait()
            assert status == 1, err
        finally:
            c.close()
        assert len(h.tern_pids()) == 1, "the VM stopped with ternd"


if __name__ == "__main__":
    main(lambda: setup() or (None if os.path.exists(ECHO) else f"{ECHO} is missing: make guests"))
