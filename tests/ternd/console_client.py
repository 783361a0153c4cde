"""`ternctl console` driven as a person at a terminal drives it: on a
pseudo-terminal (or on pipes, for standard input that is not one)."""
import os
import pty
import select
import subprocess
import termios
import time

from ternd_host import TERNCTL

DETACH = b"\x1d"  # Ctrl-]


class Console:
    """One `ternctl console` run, on a pty (tty=True) or on pipes."""

    def __init__(self, h, name, *args, tty=True):
        cmd = [TERNCTL, "-c", h.sock, "console", name] + list(args)
        self.out = b""
        if tty:
            self.master, self.slave = pty.openpty()
            self.proc = subprocess.Popen(cmd, stdin=self.slave, stdout=self.slave,
                                         stderr=subprocess.PIPE)
            self.read_fd, self.write_fd = self.master, self.master
        else:
            self.master = self.slave = None
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE)
            self.read_fd = self.proc.stdout.fileno()
            self.write_fd = self.proc.stdin.fileno()

    def expect(self, text, timeout=20):
        """Reads until text has been seen; returns everything so far."""
        deadline = time.time() + timeout
        while text not in self.out:
            left = deadline - time.time()
            assert left > 0, f"{text!r} not seen on the console in {timeout} s; got {self.out!r}"
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if ready:
                try:
                    data = os.read(self.read_fd, 4096)
                except OSError:  # a pty whose other side is closed
                    data = b""
                if not data:
                    self.proc.wait(timeout=10)
                    raise AssertionError(f"{text!r} not seen before the end; got {self.out!r}; "
                                         f"ternctl: {self.proc.stderr.read()!r}")
                self.out += data
        return self.out

    def send(self, data):
        os.write(self.write_fd, data)

    def raw(self):
        return not termios.tcgetattr(self.slave)[3] & (termios.ICANON | termios.ECHO)

    def wait(self, timeout=20):
        status = self.proc.wait(timeout=timeout)
        err = self.proc.stderr.read().decode()
        return status, err

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.master, self.slave):
            if fd is not None:
                os.close(fd)
        if self.master is None:
            self.proc.stdin.close()
            self.proc.stdout.close()
        self.proc.stderr.close()
