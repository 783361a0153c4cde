"""A tiny client for tern's API over its Unix socket (Python's http.client,
no curl needed), shared by the API and guest tests."""
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import time


def fake_bzimage(size=64 * 1024):
    """A bzImage's setup header and zero code: InstanceStart creates and
    runs a real VM whose vCPU spins without exits."""
    image = bytearray(size)
    image[0x1f1] = 4                                   # setup_sects
    struct.pack_into("<H", image, 0x1fe, 0xAA55)       # boot_flag
    image[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", image, 0x206, 0x020f)       # protocol 2.15
    image[0x211] = 0x01                                # LOADED_HIGH
    struct.pack_into("<H", image, 0x236, 0x1)          # XLF_KERNEL_64
    struct.pack_into("<I", image, 0x238, 2047)         # cmdline_size, as Linux's
    return bytes(image)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Api:
    def __init__(self, path):
        self.path = path

    def request(self, method, url, body=None, raw=None, headers=None):
        """Returns (status, parsed JSON or text or None)."""
        conn = UnixHTTPConnection(self.path)
        try:
            data = raw if raw is not None else (json.dumps(body) if body is not None else None)
            hdrs = {"Content-Type": "application/json"} if data is not None else {}
            hdrs.update(headers or {})
            conn.request(method, url, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            ctype = resp.getheader("Content-Type") or ""
            if not payload:
                return resp.status, None
            if ctype.startswith("application/json"):
                return resp.status, json.loads(payload)
            return resp.status, payload.decode()
        finally:
            conn.close()

    def get(self, url):
        return self.request("GET", url)

    def put(self, url, body=None, **kw):
        return self.request("PUT", url, body, **kw)

    def patch(self, url, body=None, **kw):
        return self.request("PATCH", url, body, **kw)

    def ok(self, method, url, body=None, **kw):
        status, reply = self.request(method, url, body, **kw)
        assert status in (200, 204), f"{method} {url}: {status} {reply}"
        return reply

    def fault(self, method, url, body=None, status=400, words=(), **kw):
        """Expects an error status with a fault_message holding words."""
        got, reply = self.request(method, url, body, **kw)
        assert got == status, f"{method} {url}: status {got}, {reply}"
        assert isinstance(reply, dict) and isinstance(reply.get("fault_message"), str), reply
        for word in words:
            assert word in reply["fault_message"], (word, reply["fault_message"])
        return reply["fault_message"]


def wait_for_socket(path, proc=None, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                s.close()
                return
            except OSError:
                pass
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"tern exited with {proc.returncode} before its API came up")
        time.sleep(0.02)
    raise AssertionError(f"no API socket at {path} after {timeout} s")


PROMETHEUS_SAMPLE = r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.eE+-]+$'


def parse_prometheus(text):
    """Checks the text exposition format (every sample's family declared by
    # HELP and # TYPE before it, once) and returns {(name, labels): value}."""
    import re
    declared_help, declared_type, samples = set(), {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in declared_help, f"second HELP for {name}"
            declared_help.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in declared_type, f"second TYPE for {name}"
            declared_type[name] = kind
        elif line.startswith("#") or not line:
            continue
        else:
            assert re.match(PROMETHEUS_SAMPLE, line), f"bad sample line {line!r}"
            head, value = line.rsplit(" ", 1)
            name = head.split("{")[0]
            assert name in declared_help and name in declared_type, f"{name} not declared"
            labels = head[len(name):]
            samples[(name, labels)] = float(value)
    return samples


def needs_kvm():
    """Skips the calling test where this machine has no usable /dev/kvm."""
    from tap import skip
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip("no usable /dev/kvm on this machine")


def missing(tern, guest=None):
    """setup()'s reason to skip a file: tern or the test guest not built."""
    if not os.access(tern, os.X_OK):
        return f"{tern} is missing: the build failed"
    if guest is not None and not os.path.exists(guest):
        return f"{guest} is missing: make guests"
    return None


class TernProcess:
    """`tern run --api-sock` in the background, its files (socket, serial
    output, stderr) numbered in work; a context manager that stops it with
    SIGTERM and checks its exit status (under ASan, a leak or an error
    changes it), printing the end of its stderr when the block failed.
    serial: False (--serial none), True (a file the guest's console goes
    to: output()) or None (no --serial: tern's default, stdout, discarded).
    firecracker: tern is the `firecracker` link, started with Firecracker's
    options only (its serial is stdout). command: tern's command ("run",
    or "restore" with its own options in extra)."""
    counter = 0
    STOP_TIMEOUT = 30
    # A tern that handles SIGTERM exits 0 or 128 + SIGTERM; killed by the
    # signal itself (-SIGTERM) it had not installed its handler yet.
    EXIT_STATUSES = (0, 128 + signal.SIGTERM)

    def __init__(self, tern, work, *extra, serial=False, wait=True, wrapper=(),
                 firecracker=False, command="run"):
        TernProcess.counter += 1
        n = TernProcess.counter
        self.sock = os.path.join(work, f"api{n}.sock")
        self.serial = os.path.join(work, f"serial{n}") if serial else None
        self.stderr_path = os.path.join(work, f"stderr{n}")
        argv = [tern] + ([] if firecracker else [command]) + ["--api-sock", self.sock]
        if not firecracker and serial is not None:
            argv += ["--serial", f"file:{self.serial}" if serial else "none"]
        with open(self.stderr_path, "w") as stderr:
            self.proc = subprocess.Popen(
                list(wrapper) + argv + list(extra), cwd=work,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        self.api = Api(self.sock)
        if wait:
            wait_for_socket(self.sock, self.proc)

    def output(self):
        try:
            with open(self.serial) as f:
                return f.read()
        except (FileNotFoundError, TypeError):
            return ""

    def stderr(self):
        with open(self.stderr_path) as f:
            return f.read()

    def state(self):
        return self.api.get("/")[1]["state"]

    def wait_for_lines(self, count, timeout=60):
        deadline = time.time() + timeout
        while self.output().count("\n") < count:
            assert self.proc.poll() is None, f"tern exited: {self.stderr()}"
            assert time.time() < deadline, \
                f"{count} lines not printed in {timeout} s: {self.output()!r}"
            time.sleep(0.1)

    def cpu_seconds(self):
        """utime + stime of the whole process so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=self.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"tern did not stop; stderr:\n{self.stderr()}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        status = self.stop()
        if exc[0] is not None:
            for line in self.stderr().splitlines()[-30:]:
                print(f"#   {line}")
        assert status in self.EXIT_STATUSES, \
            f"tern exited with {status}: {self.stderr()[-2000:]}"
        return False


def firecracker_setup(tern, link, kernel):
    """The Firecracker files' setup: tern built, its `firecracker` link at
    link, a fake bzImage at kernel. None, or why the tests cannot run."""
    if not os.access(tern, os.X_OK):
        return f"{tern} is missing: the build failed"
    os.symlink(tern, link)
    with open(kernel, "wb") as f:
        f.write(fake_bzimage())
    return None
