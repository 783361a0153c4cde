#!/usr/bin/python3
"""Live migration of the stock Debian kernel between two tern processes
over loopback TCP, inside the test host. The guest counts on its console
while a background loop keeps rewriting 16 MiB of its RAM; after PUT
/migration the source exits 0, the counter goes on in the destination, and
a 32 MiB file in the guest's RAM-backed root has the same sha256 as before.
A migration whose destination is killed mid-way leaves the source running:
GET /migration says failed, and its console still answers.
A guest with virtio-blk, virtio-net (a tap on a bridge in a network
namespace the test makes), virtio-vsock, virtio-rng and virtio-balloon on
virtio-pci, then on virtio-mmio, migrates with `tern migrate` while it
writes a counter to its disk with sync: the destination names the same disk
image, another tap on the same bridge and its own vsock socket; the counter
goes on, the host pings the guest before and after, a new vsock connection
echoes, the balloon follows a new target, and after the destination exits
every counted sector is on the disk. A destination that refuses that guest's
state (it has a device more) after the source paused and released its disk
leaves the source running with its devices: disk lock taken back, counter,
ping and the open vsock connection go on."""
import atexit
import contextlib
import fcntl
import glob
import os
import socket
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import run, skip, test  # noqa: E402
from apiclient import Api, wait_for_socket  # noqa: E402
import guestlib  # noqa: E402

WORK = tempfile.mkdtemp(prefix="tern-migration-guest-")
# Every migration here runs over TLS 1.3 with this pre-shared key. Its own
# directory: the device tests remove WORK when they end.
PSK_DIR = tempfile.mkdtemp(prefix="tern-migration-psk-")
atexit.register(shutil.rmtree, PSK_DIR, ignore_errors=True)
PSK = os.path.join(PSK_DIR, "psk")
with open(os.open(PSK, os.O_WRONLY | os.O_CREAT, 0o600), "w") as _f:
    _f.write(secrets.token_hex(32) + "\n")
TLS = {"tls": {"psk_file": PSK}}
BOOT_ARGS = "console=ttyS0 reboot=k quiet"
COUNTER = "i=0; while true; do i=$((i+1)); echo TICK $i; sleep 0.2; done"
BUSY = ("(while true; do dd if=/dev/urandom of=/busy bs=1M count=16 "
        "2>/dev/null; done) & true")
# The idle guest's size: TERN_MIGRATION_IDLE_MEMORY=1G for the benchmark.
IDLE_MEMORY = os.environ.get("TERN_MIGRATION_IDLE_MEMORY", "256M")
PORT = 47000 + os.getpid() % 1000
# The test host may leave loopback down; both terns talk over it.
subprocess.run(["ip", "link", "set", "lo", "up"], check=False)


class Tern:
    """tern run ARGS on a pty: console and log through pexpect, the API
    through its socket."""

    def __init__(self, *args, wrapper=()):
        self.sock = os.path.join(WORK, f"api-{time.monotonic_ns()}.sock")
        self.log = []
        command = list(wrapper) + [guestlib.TERN, "run", "--api-sock", self.sock,
                                   "--log-level", "info"] + list(args)
        self.child = pexpect.spawn(command[0], command[1:],
                                   encoding="utf-8", codec_errors="replace",
                                   timeout=guestlib.BOOT_TIMEOUT, dimensions=(50, 200))
        self.child.logfile_read = guestlib._Collector(self.log)
        deadline = time.time() + 30
        while not os.path.exists(self.sock):
            assert self.child.isalive() and time.time() < deadline, "no API socket"
            time.sleep(0.05)
        wait_for_socket(self.sock)
        self.api = Api(self.sock)

    def shell(self, command, timeout=guestlib.COMMAND_TIMEOUT):
        return guestlib.Guest.shell(self, command, timeout)

    def text(self):
        return "".join(self.log)

    def ticks(self):
        return [int(n) for n in re.findall(r"TICK (\d+)\r\n", self.text())]

    def drain(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            try:
                self.child.read_nonblocking(4096, timeout=max(0.05, end - time.time()))
            except (pexpect.TIMEOUT, pexpect.EOF):
                if not self.child.isalive():
                    return

    def kill(self):
        if self.child.isalive():
            self.child.terminate(force=True)
        self.child.close()

    def dump(self, name):
        print(f"# {name} transcript (last 2500 chars):")
        for line in self.text()[-2500:].splitlines():
            print(f"#   {line}")


def answer(t, command, timeout=guestlib.COMMAND_TIMEOUT):
    """The command's last output line (tern's log may share the console)."""
    lines = t.shell(command, timeout).splitlines()
    return lines[-1].strip() if lines else ""


def sha256(t, path):
    out = t.shell(f"sha256sum {path}", timeout=120)
    m = re.search(r"\b([0-9a-f]{64})\s+" + re.escape(path), out)
    assert m, out
    return m.group(1)


def breakdown(t):
    m = re.search(r"migration downtime: ([^\r\n]*)", t.text())
    return m.group(1) if m else "?"


def busy_source(memory="256M"):
    p = guestlib.paths()
    src = Tern("--kernel", p["GUEST_BZIMAGE"], "--initrd", p["GUEST_INITRAMFS"],
               "--cmdline", BOOT_ARGS, "--memory", memory)
    src.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
    src.child.expect("TERN-GUEST-READY")
    src.child.expect("# ")
    src.shell("dd if=/dev/urandom of=/data bs=1M count=32 2>/dev/null", timeout=120)
    digest = sha256(src, "/data")
    src.shell(BUSY)
    src.child.sendline(COUNTER)
    src.child.expect("TICK 5\r\n", timeout=60)
    return src, digest


def destination(port, *args, wrapper=()):
    dst = Tern("--incoming", f"tcp:127.0.0.1:{port}", "--migration-tls", f"psk={PSK}", *args,
               wrapper=wrapper)
    dst.child.expect("waiting for an incoming migration", timeout=30)
    return dst


def wait_migration(src, states, timeout=600):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = src.api.get("/migration")[1]
        except OSError:
            # The source exits as soon as the destination acknowledged:
            # its exit status tells the rest.
            return {"state": "exited", "last": last}
        if last.get("state") in states:
            return last
        src.drain(0.2)
    raise AssertionError(f"migration still {last} after {timeout} s")


@test
def busy_guest_migrates_and_keeps_counting():
    src, digest = busy_source()
    dst = None
    ok = False
    try:
        dst = destination(PORT)
        src.api.fault("PUT", "/migration", {"destination": "tcp:127.0.0.1:1", **TLS},
                      words=["cannot connect"])
        started = time.monotonic()
        src.api.ok("PUT", "/migration", {"destination": f"tcp:127.0.0.1:{PORT}", **TLS})
        progress = wait_migration(src, ("completed", "failed"))
        assert progress["state"] in ("completed", "exited"), progress
        src.child.expect(pexpect.EOF, timeout=120)
        src.child.close()
        assert src.child.exitstatus == 0, f"source exited with {src.child.exitstatus}"
        total_s = time.monotonic() - started
        last = max(src.ticks())
        m = re.search(r"migration to \S+ completed: ([\d.]+) ms total, downtime ([\d.]+) ms"
                      r".*?(\d+) passes, (\d+) MiB sent", src.text(), re.S)
        assert m, "no completion line in the source's log"
        guestlib.expect_tick(dst.child, last + 3, timeout=120)
        seen = dst.ticks()
        assert min(seen) > last - 2, f"the counter restarted: {seen[:5]} after {last}"
        assert dst.api.get("/")[1]["state"] == "Running"
        dst.child.sendcontrol("c")
        dst.child.expect("# ")
        assert sha256(dst, "/data") == digest
        assert answer(dst, "echo $((6 * 7))") == "42"
        print(f"# busy 256 MiB guest: total {m.group(1)} ms (API to exit {total_s:.1f} s), "
              f"downtime {m.group(2)} ms, {m.group(3)} passes, {m.group(4)} MiB sent")
        print(f"# downtime: {breakdown(src)}")
        status = guestlib.Guest.exit_with(dst, "reboot -f")
        assert status == 0, f"destination exited with {status}"
        ok = True
    finally:
        end_both(src, dst, ok, remove_work=False)


@test
def idle_guest_downtime():
    p = guestlib.paths()
    src = Tern("--kernel", p["GUEST_BZIMAGE"], "--initrd", p["GUEST_INITRAMFS"],
               "--cmdline", BOOT_ARGS, "--memory", IDLE_MEMORY)
    dst = None
    ok = False
    try:
        src.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        src.child.expect("TERN-GUEST-READY")
        src.child.expect("# ")
        dst = destination(PORT + 1)
        src.api.ok("PUT", "/migration", {"destination": f"tcp:127.0.0.1:{PORT + 1}", **TLS})
        src.child.expect(pexpect.EOF, timeout=300)
        src.child.close()
        assert src.child.exitstatus == 0, f"source exited with {src.child.exitstatus}"
        m = re.search(r"completed: ([\d.]+) ms total, downtime ([\d.]+) ms"
                      r".*?(\d+) passes, (\d+) MiB sent", src.text(), re.S)
        assert m, "no completion line in the source's log"
        assert answer(dst, "echo $((6 * 7))") == "42"
        print(f"# idle {IDLE_MEMORY} guest: total {m.group(1)} ms, downtime {m.group(2)} ms, "
              f"{m.group(3)} passes, {m.group(4)} MiB sent")
        print(f"# downtime: {breakdown(src)}")
        status = guestlib.Guest.exit_with(dst, "reboot -f")
        assert status == 0, f"destination exited with {status}"
        ok = True
    finally:
        end_both(src, dst, ok, remove_work=False)


@test
def killed_destination_leaves_source_running():
    src, digest = busy_source()
    dst = None
    ok = False
    try:
        dst = destination(PORT + 2)
        src.api.ok("PUT", "/migration", {"destination": f"tcp:127.0.0.1:{PORT + 2}", **TLS})
        # Cut in the middle of pre-copy: once RAM is flowing.
        deadline = time.time() + 60
        while src.api.get("/migration")[1].get("bytes_sent", 0) < (8 << 20):
            assert time.time() < deadline, "no RAM sent"
            time.sleep(0.02)
        os.kill(dst.child.pid, signal.SIGKILL)
        progress = wait_migration(src, ("failed", "completed"), timeout=300)
        assert progress["state"] == "failed", progress
        print(f"# source after the cut: {progress.get('error')}")
        assert src.child.isalive()
        assert src.api.get("/")[1]["state"] == "Running"
        before = max(src.ticks())
        guestlib.expect_tick(src.child, before + 3, timeout=60)
        src.child.sendcontrol("c")
        src.child.expect("# ")
        assert sha256(src, "/data") == digest
        assert answer(src, "echo $((6 * 7))") == "42"
        dst.kill()
        ok = True
    finally:
        end_both(src, dst, ok, remove_work=False)


def sh(*argv, check=True, timeout=60):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def load_bridge_modules():
    """The test host's kernel has the bridge as a module; its files are the
    ones of the kernel it runs (build/cache/kernel-root). Returns why not,
    or None."""
    if os.path.isdir("/sys/module/bridge"):
        return None
    release = os.uname().release
    root = os.path.join(guestlib.ROOT, "build", "cache", "kernel-root", "lib", "modules",
                        release, "kernel", "net")
    for name in ("llc/llc.ko", "802/stp.ko", "bridge/bridge.ko"):
        found = glob.glob(os.path.join(root, name + "*"))
        if not found:
            return f"no {name} for kernel {release}"
        r = sh("insmod", found[0], check=False)
        if r.returncode and "File exists" not in r.stderr:
            return f"insmod {name}: {r.stderr.strip()}"
    return None


@contextlib.contextmanager
def bridged_taps():
    """A fresh network namespace (alive as long as its holder process,
    unshare --net sleep) with bridge br0 (10.0.9.1/24) and two taps on it:
    the source's tap0 and the destination's tap1. Yields the command prefix
    that runs a command inside it; deletes it all at the end."""
    holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
    ns_path = f"/proc/{holder.pid}/ns/net"
    ns = ["nsenter", f"--net={ns_path}"]
    try:
        own = os.readlink("/proc/self/ns/net")
        for _ in range(100):
            if os.readlink(ns_path) != own:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("unshare --net did not make a namespace")
        sh(*ns, "ip", "link", "set", "lo", "up")
        sh(*ns, "ip", "link", "add", "br0", "type", "bridge")
        sh(*ns, "ip", "addr", "add", f"{HOST_IP}/24", "dev", "br0")
        sh(*ns, "ip", "link", "set", "br0", "up")
        for tap in ("tap0", "tap1"):
            sh(*ns, "ip", "tuntap", "add", tap, "mode", "tap")
            sh(*ns, "ip", "link", "set", tap, "master", "br0")
            sh(*ns, "ip", "link", "set", tap, "up")
        yield ns
    finally:
        for dev in ("tap0", "tap1", "br0"):
            sh(*ns, "ip", "link", "del", dev, check=False)
        holder.kill()
        holder.wait(timeout=10)


# Each tick writes "BLK i" into sector i of the disk and syncs before it
# prints: a tick on the console means its sector reached tern.
DISK_COUNTER = ("i=0; while true; do i=$((i+1)); echo BLK $i | "
                "dd of=/dev/vda bs=512 seek=$i 2>/dev/null; sync; "
                "echo TICK $i; sleep 0.2; done")
VSOCK_CID = 7
ECHO_PORT = 1234
MAC = "52:54:00:4d:19:01"
GUEST_IP, HOST_IP = "10.0.9.2", "10.0.9.1"


def sector(img, i):
    with open(img, "rb") as f:
        f.seek(512 * i)
        return f.read(512).split(b"\n")[0].decode(errors="replace")


def vsock_echo(path, payload):
    """Connects through tern's socket to the guest's echo server."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(path)
    sock.sendall(f"CONNECT {ECHO_PORT}\n".encode())
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = sock.recv(1)
        assert chunk, f"tern closed the connection: {reply!r}"
        reply += chunk
    assert re.fullmatch(rb"OK \d+\n", reply), reply
    return sock, echo_on(sock, payload)


def echo_on(conn, payload):
    """Sends payload on an open vsock connection and reads the echo."""
    conn.sendall(payload)
    echoed = b""
    while len(echoed) < len(payload):
        chunk = conn.recv(4096)
        assert chunk, f"the echo ended early: {echoed!r}"
        echoed += chunk
    return echoed


def assert_counted_sectors_on_disk(img, top):
    for i in range(1, top + 1):
        assert sector(img, i) == f"BLK {i}", (i, sector(img, i))


def end_both(src, dst, ok, remove_work=True):
    """The end of a test: the consoles when it failed, then both tern
    processes (and the work directory of the device tests) go."""
    if not ok:
        src.dump("source")
        if dst:
            dst.dump("destination")
    src.kill()
    if dst:
        dst.kill()
    if remove_work:
        shutil.rmtree(WORK, ignore_errors=True)


def host_pings_guest(ns, tries=3):
    for _ in range(tries):
        r = sh(*ns, "busybox", "ping", "-c", "2", "-W", "5", GUEST_IP, check=False)
        if r.returncode == 0:
            return
    diag = [sh(*ns, *cmd, check=False) for cmd in
            (["ip", "-s", "link", "show"], ["bridge", "fdb", "show", "br", "br0"],
             ["ip", "neigh", "show"])]
    raise AssertionError(f"ping {GUEST_IP}: {r.stdout}{r.stderr}\n"
                         + "\n".join(d.stdout + d.stderr for d in diag))


def stop_counter(t, tries=5):
    """Ctrl-C to the foreground counter loop. Busybox's shell may miss a
    SIGINT that lands between two commands of the loop: retried."""
    for _ in range(tries):
        t.child.sendcontrol("c")
        try:
            t.child.expect("# ", timeout=15)
            return
        except pexpect.TIMEOUT:
            pass
    raise AssertionError(f"the counter loop ignored {tries} Ctrl-C")


def tern_migrate(src, port):
    """`tern migrate` waits for the end and reports; exit status 0."""
    r = subprocess.run([guestlib.TERN, "migrate", "--api-sock", src.sock,
                        "--migration-tls", f"psk={PSK}", f"tcp:127.0.0.1:{port}"],
                       capture_output=True, text=True,
                       timeout=600, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"tern migrate: {r.returncode} {r.stdout} {r.stderr}"
    assert "downtime" in r.stdout, r.stdout
    return r.stdout.strip().splitlines()[-1]


@test
def guest_with_disk_tap_and_vsock_migrates():
    migrate_guest_with_devices("pci", PORT + 3)


@test
def guest_with_disk_tap_and_vsock_migrates_on_virtio_mmio():
    migrate_guest_with_devices("mmio", PORT + 4)


def shared_disk():
    os.makedirs(WORK, exist_ok=True)
    img = os.path.join(WORK, "shared-disk.img")
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    return img


def device_args(img, tap, vsock, transport, balloon=True):
    return (("--disk", f"path={img}", "--net", f"tap={tap},mac={MAC}",
             "--vsock", f"cid={VSOCK_CID},socket={vsock}", "--rng", "--transport", transport)
            + (("--balloon", "stats=1") if balloon else ()))


def device_source(ns, transport, devices, vsock):
    """Boots the source with its devices in the namespace, brings the
    drivers, the interface and a vsock echo server up, pings it, opens a
    vsock connection and starts the disk counter. Returns (tern, the open
    vsock connection)."""
    p = guestlib.paths()
    src = Tern("--kernel", p["GUEST_BZIMAGE"], "--initrd", p["GUEST_INITRAMFS"],
               "--cmdline", BOOT_ARGS, "--cpus", "2", "--memory", "256M", *devices,
               wrapper=ns)
    try:
        src.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        src.child.expect("TERN-GUEST-READY")
        src.child.expect("# ")
        src.shell("stty cols 4000")
        src.shell(f"for m in virtio_{transport} virtio_blk virtio_net virtio_rng "
                  "virtio_balloon vmw_vsock_virtio_transport; do modprobe $m; done")
        m = re.search(r"/sys/class/net/(\w+)/address",
                      src.shell(f"grep -l {MAC} /sys/class/net/*/address"))
        assert m, "no interface with the MAC"
        src.shell(f"ip link set {m.group(1)} up; ip addr add {GUEST_IP}/24 dev {m.group(1)}")
        src.shell(f"(tern-vsock listen {ECHO_PORT} >/tmp/l.log 2>&1 &)")
        src.shell("sleep 1")
        host_pings_guest(ns)
        conn, echoed = vsock_echo(vsock, b"before\n")
        assert echoed == b"before\n", echoed
        src.child.sendline(DISK_COUNTER)
        src.child.expect("TICK 5\r\n", timeout=60)
    except BaseException:
        src.dump("source")
        src.kill()
        raise
    return src, conn


def migrate_guest_with_devices(transport, port):
    reason = load_bridge_modules()
    if reason:
        skip(f"no bridge in the test host: {reason}")
    img = shared_disk()
    src_vsock, dst_vsock = os.path.join(WORK, "v-src.sock"), os.path.join(WORK, "v-dst.sock")
    with bridged_taps() as ns:
        src, old_conn = device_source(ns, transport,
                                      device_args(img, "tap0", src_vsock, transport), src_vsock)
        dst = None
        ok = False
        try:
            dst = destination(port, *device_args(img, "tap1", dst_vsock, transport),
                              wrapper=ns)
            report = tern_migrate(src, port)
            src.child.expect(pexpect.EOF, timeout=60)
            src.child.close()
            assert src.child.exitstatus == 0, f"source exited with {src.child.exitstatus}"
            last = max(src.ticks())
            # The source's host connections end with it.
            old_conn.settimeout(30)
            assert old_conn.recv(16) == b"", "the old vsock connection is still open"
            old_conn.close()

            guestlib.expect_tick(dst.child, last + 3, timeout=120)
            seen = dst.ticks()
            assert min(seen) > last - 2, f"the counter restarted: {seen[:5]} after {last}"
            host_pings_guest(ns)
            # The guest's echo server was blocked on the old connection:
            # only the transport reset ends it, so this echo proves both.
            conn, echoed = vsock_echo(dst_vsock, b"after migration\n")
            conn.close()
            assert echoed == b"after migration\n", echoed
            dst.api.ok("PATCH", "/balloon", {"amount_mib": 32})
            deadline = time.time() + 120
            while dst.api.get("/balloon/statistics")[1].get("actual_mib") != 32:
                assert time.time() < deadline, "the balloon did not follow its new target"
                dst.drain(0.5)
            stop_counter(dst)
            assert dst.shell("head -c 16 /dev/hwrng | wc -c").splitlines()[-1].strip() == "16"
            top = max(dst.ticks())
            status = guestlib.Guest.exit_with(dst, "reboot -f")
            assert status == 0, f"destination exited with {status}"
            assert_counted_sectors_on_disk(img, top)
            print(f"# virtio-{transport}: {report}")
            print(f"# counter {last} on the source, {top} at the end: sectors 1..{top} on "
                  f"the disk; ping and a new vsock connection work after the migration")
            ok = True
        finally:
            end_both(src, dst, ok)


def image_locked(path):
    """Whether a process holds the image's lock (tern's OFD lock conflicts
    with this POSIX one)."""
    with open(path, "r+b") as f:
        try:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.lockf(f, fcntl.LOCK_UN)
        return False


@test
def refusal_after_stop_and_copy_leaves_the_source_and_its_devices_working():
    """The destination has one device more (a balloon): it refuses the
    state, after the source paused, saved its devices and released its
    disk's lock. The source takes the lock back and runs on: the counter
    goes on, the host pings the guest, the vsock connection opened before
    still echoes, and every counted sector is on the disk."""
    reason = load_bridge_modules()
    if reason:
        skip(f"no bridge in the test host: {reason}")
    img = shared_disk()
    src_vsock, dst_vsock = os.path.join(WORK, "v-src.sock"), os.path.join(WORK, "v-dst.sock")
    port = PORT + 5
    with bridged_taps() as ns:
        src, conn = device_source(ns, "pci",
                                  device_args(img, "tap0", src_vsock, "pci", balloon=False),
                                  src_vsock)
        dst = None
        ok = False
        try:
            dst = destination(port, *device_args(img, "tap1", dst_vsock, "pci"), wrapper=ns)
            r = subprocess.run([guestlib.TERN, "migrate", "--api-sock", src.sock,
                                "--migration-tls", f"psk={PSK}",
                                f"tcp:127.0.0.1:{port}"], capture_output=True, text=True,
                               timeout=300, stdin=subprocess.DEVNULL)
            assert r.returncode == 1, f"tern migrate: {r.returncode} {r.stdout} {r.stderr}"
            assert "refused" in r.stderr and "balloon" in r.stderr, r.stderr
            dst.child.expect(pexpect.EOF, timeout=60)
            dst.child.close()
            assert dst.child.exitstatus == 1, f"destination exited with {dst.child.exitstatus}"
            state = src.api.get("/migration")[1]
            assert state["state"] == "failed", state
            assert src.api.get("/")[1]["state"] == "Running"
            assert image_locked(img), "the source did not take its disk's lock back"
            src.drain(2)   # the console up to now: ticks from before the refusal
            last = max(src.ticks())
            guestlib.expect_tick(src.child, last + 3, timeout=120)
            host_pings_guest(ns)
            echoed = echo_on(conn, b"still here\n")
            assert echoed == b"still here\n", echoed
            conn.close()
            stop_counter(src)
            top = max(src.ticks())
            status = guestlib.Guest.exit_with(src, "reboot -f")
            assert status == 0, f"source exited with {status}"
            assert_counted_sectors_on_disk(img, top)
            print(f"# {r.stderr.strip()}")
            print(f"# the source ran on: counter {last} at the refusal, {top} at the end, "
                  f"ping and the old vsock connection work")
            ok = True
        finally:
            end_both(src, dst, ok)


if __name__ == "__main__":
    run()
