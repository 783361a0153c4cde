"""What the ternd suite's files share: the paths of the binaries under test,
Host (one state directory and socket with a ternd started and stopped on
it and ternctl run against it), network namespaces for ternds of their
own, and the Linux guest's files and console log."""
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from apiclient import Api, wait_for_socket  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TERND = os.path.join(ROOT, os.environ.get("TERND", "build/ternd"))
TERNCTL = os.path.join(ROOT, os.environ.get("TERNCTL", "build/ternctl"))
TERN = os.path.join(ROOT, "build/tern")
GUEST = os.path.join(ROOT, "build/guests/idle32-pvh.elf")
WORK = tempfile.mkdtemp(prefix="ternd-test-")


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=60,
                          stdin=subprocess.DEVNULL)


@contextlib.contextmanager
def netns():
    """A fresh network namespace held by a sleeping process (no /run/netns
    file), its loopback up; yields the nsenter prefix. Its interfaces go
    with it."""
    holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
    ns_path = f"/proc/{holder.pid}/ns/net"
    try:
        own = os.readlink("/proc/self/ns/net")
        wait_until(lambda: os.readlink(ns_path) != own, what="unshare --net")
        prefix = ["nsenter", f"--net={ns_path}"]
        sh(*prefix, "ip", "link", "set", "lo", "up")
        yield prefix
    finally:
        holder.kill()
        holder.wait(timeout=10)


def network_tools_missing():
    """Why ternd's managed networks cannot be made here, or None."""
    for tool in ("/usr/sbin/dnsmasq", "/usr/sbin/nft"):
        if not os.access(tool, os.X_OK):
            return f"{tool} is missing: scripts/install-deps.sh installs it"
    return None


def guest_paths():
    """The Debian kernel and the busybox initramfs (guest/build.sh)."""
    out = subprocess.run(["bash", "-c", "source guest/paths.sh >/dev/null && "
                          "echo $GUEST_BZIMAGE; echo $GUEST_INITRAMFS"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return out[0], out[1]


def console_log(h, name):
    """What VM name's guest printed, from ternd's scrollback file."""
    try:
        with open(os.path.join(h.state, "vms", name, "console.log"), errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def report_quiet_guest(h, name):
    """For a Linux guest that stopped answering: tern's own view (SIGUSR2:
    each vCPU's state, the UART's registers and unread input) and the
    console's last lines, in the TAP output, so a failure says whether the
    guest or tern stalled."""
    vm_dir = os.path.join(h.state, "vms", name)
    for pid in h.tern_pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if vm_dir.encode() not in f.read():
                    continue
            os.kill(pid, signal.SIGUSR2)
        except (OSError, ProcessLookupError):
            continue
    time.sleep(2)
    for what, path in (("tern.log", os.path.join(vm_dir, "tern.log")),
                       ("console.log", os.path.join(vm_dir, "console.log"))):
        try:
            with open(path, errors="replace") as f:
                lines = f.read().splitlines()[-30:]
        except OSError as e:
            lines = [f"(unreadable: {e})"]
        print(f"# {name}'s {what}, its end:")
        print("\n".join(f"#   {line}" for line in lines), flush=True)


def wait_console(h, name, pattern, timeout=240, after=0):
    """The first match of pattern in VM name's console log from offset
    after on; the log's last lines go to the TAP output when it never
    comes. The log is read while the guest writes it: a pattern whose
    group has no fixed length (an address) must end with the line's end,
    or it can match a line still being written ("192.168.122.6" of .62)."""
    found = []

    def seen():
        match = re.compile(pattern).search(console_log(h, name), after)
        if match:
            found.append(match)
        return bool(match)
    try:
        wait_until(seen, timeout=timeout, what=f"{name}: {pattern}")
    except AssertionError:
        print("\n".join(f"#   {line}" for line in console_log(h, name).splitlines()[-20:]))
        raise
    return found[0]


def has_test_hooks():
    out = subprocess.run([TERND, "--version"], capture_output=True, text=True).stdout
    return "(test hooks)" in out


def pid_alive(pid):
    """True while any thread of pid is not yet a zombie: a multi-threaded
    process's leader turns Z first, while its other threads still hold the
    shared file table (its listening API socket among them)."""
    # A task being reaped can answer ESRCH (ProcessLookupError) rather
    # than ENOENT while its /proc entry goes away: gone all the same.
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return False
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] not in "ZX":
                    return True
        except (FileNotFoundError, ProcessLookupError):
            continue
    return False


def wait_until(condition, timeout=10, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not true after {timeout} s")


class Host:
    """One state directory and socket; ternd started and stopped on it."""
    counter = 0

    def __init__(self):
        Host.counter += 1
        self.dir = os.path.join(WORK, f"h{Host.counter}")
        os.makedirs(self.dir)
        self.state = os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "ternd.sock")
        self.log = os.path.join(self.dir, "ternd.stderr")
        self.proc = None

    def start(self, env=None, wait=True, relative=False, args=(), wrapper=()):
        # relative: started in the host's directory with "--state-dir state".
        # wrapper: a command ternd runs under (nsenter --net=... for the
        # network tests).
        self.proc = subprocess.Popen(
            list(wrapper) + [TERND, "--foreground", "--state-dir", "state" if relative else self.state,
             "--socket", self.sock, "--tern", TERN] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.log, "a"), env=dict(os.environ, **(env or {})),
            start_new_session=True, cwd=self.dir if relative else None)
        if wait:
            wait_for_socket(self.sock, self.proc)
        return self

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            status = self.proc.wait(timeout=20)
            # Under ASan a leak or an error changes the exit status.
            assert status == 0, f"ternd exited with {status}: {self.stderr()[-2000:]}"

    def stderr(self):
        with open(self.log) as f:
            return f.read()

    def ctl(self, *args, check=None):
        result = subprocess.run([TERNCTL, "-c", self.sock] + list(args), capture_output=True,
                                text=True, timeout=90, stdin=subprocess.DEVNULL)
        if check is not None:
            assert result.returncode == check, \
                f"ternctl {' '.join(args)}: status {result.returncode}, " \
                f"stdout {result.stdout!r}, stderr {result.stderr!r}"
        return result

    def ok(self, *args):
        return self.ctl(*args, check=0).stdout

    def fails(self, *args, words=(), status=1):
        result = self.ctl(*args, check=status)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ternctl: "), result.stderr
        for word in words:
            assert word in lines[0], f"{word!r} not in {lines[0]!r}"
        return lines[0]

    def info(self, name):
        return json.loads(self.ok("info", name, "--json"))

    def listing(self, *flags):
        return {vm["name"]: vm for vm in json.loads(self.ok("list", "--json", *flags))["vms"]}

    def api(self):
        return Api(self.sock)

    def events(self):
        return [json.loads(line) for line in self.ok("events", "--json").splitlines()]

    def define(self, name, vcpus=1, mem=64, kernel=GUEST, **extra):
        path = os.path.join(self.dir, f"{name}.json")
        doc = {"boot-source": {"kernel_image_path": kernel},
               "machine-config": {"vcpu_count": vcpus, "mem_size_mib": mem}}
        doc.update(extra)
        with open(path, "w") as f:
            json.dump(doc, f)
        self.ok("define", name, path)
        return doc

    def tern_pids(self):
        """Every process whose command line names this host's state
        directory: the VMs' terns (and nothing else this test did not
        start)."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            # "restore": a VM reverted to a snapshot.
            if len(argv) > 1 and argv[1] in (b"run", b"restore") and \
                    any(self.state.encode() in a for a in argv) and pid_alive(int(entry)):
                pids.append(int(entry))
        return pids

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in self.tern_pids() + self.dnsmasq_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def dnsmasq_pids(self):
        """The dnsmasq of this host's networks (a failed test leaves them
        running otherwise: they hold their network namespace)."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv[0].endswith(b"dnsmasq") and any(self.state.encode() in a for a in argv):
                pids.append(int(entry))
        return pids

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None and os.path.exists(self.log):
            for line in self.stderr().splitlines()[-25:]:
                print(f"#   {line}")
        self.cleanup()
        return False


# Two hosts for migration: SRC_IP and DST_IP on a veth pair.
SRC_IP, DST_IP = "10.77.0.1", "10.77.0.2"


@contextlib.contextmanager
def two_namespaces():
    """Two fresh network namespaces held by sleeping processes, joined by a
    veth pair with SRC_IP and DST_IP; yields their nsenter prefixes. The
    namespaces, and the pair with them, go when the holders are killed."""
    holders = [subprocess.Popen(["unshare", "--net", "sleep", "infinity"]) for _ in range(2)]
    try:
        own = os.readlink("/proc/self/ns/net")
        prefixes = []
        for holder in holders:
            ns_path = f"/proc/{holder.pid}/ns/net"
            wait_until(lambda: os.readlink(ns_path) != own, what="unshare --net")
            prefixes.append(["nsenter", f"--net={ns_path}"])
            sh(*prefixes[-1], "ip", "link", "set", "lo", "up")
        a, b = prefixes
        sh(*a, "ip", "link", "add", "mig0", "type", "veth", "peer", "name", "mig1",
           "netns", str(holders[1].pid))
        sh(*a, "ip", "addr", "add", f"{SRC_IP}/24", "dev", "mig0")
        sh(*a, "ip", "link", "set", "mig0", "up")
        sh(*b, "ip", "addr", "add", f"{DST_IP}/24", "dev", "mig1")
        sh(*b, "ip", "link", "set", "mig1", "up")
        yield a, b
    finally:
        for holder in holders:
            holder.kill()
            holder.wait(timeout=10)


@contextlib.contextmanager
def two_hosts(src_args=(), dst_args=()):
    with two_namespaces() as (ns_a, ns_b), Host() as src, Host() as dst:
        src.start(wrapper=ns_a, args=src_args)
        dst.start(wrapper=ns_b, args=dst_args)
        yield src, dst


def migrate(src, dst, name, *extra, listen=DST_IP, check=None):
    args = ["migrate", name, dst.sock] + (["--listen-address", listen] if listen else [])
    return src.ctl(*args, *extra, check=check)


def setup():
    for path in (TERND, TERNCTL, TERN):
        if not os.access(path, os.X_OK):
            return f"{path} is missing: the build failed"
    if not os.path.exists(GUEST):
        return f"{GUEST} is missing: make guests"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "no usable /dev/kvm (tests/run runs this suite in the test host then)"
    return None


def main(file_setup):
    """Runs the file's tests, then removes every Host's directory."""
    import tap
    try:
        tap.run(file_setup)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
