#!/usr/bin/python3
"""tern's seccomp filters on a running VM (this machine's /dev/kvm, a fake
bzImage whose vCPU spins, every device kind, the API socket): every thread
of tern is filtered with no_new_privs, and a forbidden call from each kind
of thread ends tern by SIGSYS with one line naming the call and the thread.

The forbidden call comes from a test-only trigger, TERN_TEST_FORBIDDEN_SYSCALL
=<thread kind>, compiled only into test builds (make asan defines
TERN_TEST_HOOKS): with TERN=build/asan/tern those tests run; with the
release build they are not part of the run, and a test (release builds
only) checks the release build ignores the variable.

TERN=build/asan/tern runs the same tests against the sanitizer build."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from tap import run, test, test_in_builds_where  # noqa: E402
from apiclient import Api, fake_bzimage, wait_for_socket  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TERN = os.path.join(ROOT, os.environ.get("TERN", "build/tern"))
WORK = tempfile.mkdtemp(prefix="tern-seccomp-")
KERNEL = os.path.join(WORK, "kernel")
TEST_BUILD = None  # whether TERN honours TERN_TEST_FORBIDDEN_SYSCALL

# Each kind of tern thread, as /proc/PID/task/*/comm shows it.
THREAD_NAMES = ("tern", "metrics", "api", "vcpu0", "vcpu1", "virtio-blk", "virtio-net",
                "virtio-vsock", "virtio-balloon", "virtio-rng", "block-worker", "rtc")


class Vm:
    """tern run --api-sock with every device kind, in a network namespace
    of its own (unshare -n: tern creates the tap there)."""
    counter = 0

    def __init__(self, *extra, env=None, net=True, devices=True):
        Vm.counter += 1
        n = Vm.counter
        self.sock = os.path.join(WORK, f"api{n}.sock")
        self.stderr_path = os.path.join(WORK, f"stderr{n}")
        disks = []
        for engine in ("io_uring", "threads"):
            image = os.path.join(WORK, f"disk{n}-{engine}.img")
            with open(image, "wb") as f:
                f.truncate(1 << 20)
            disks += ["--disk", f"path={image},engine={engine}"]
        net = net and devices
        wrapper = ["unshare", "-n"] if net else []
        argv = wrapper + [TERN, "run", "--api-sock", self.sock, "--serial", "none",
                          "--cpus", "2", "--rng"]
        if devices:
            argv += ["--balloon", "--vsock",
                     f"cid=3,socket={os.path.join(WORK, f'vsock{n}.sock')}"] + disks
        argv += (["--net", "tap=tap0"] if net else []) + list(extra)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr_path, "w"),
                                     env=dict(os.environ, **(env or {})))
        self.api = Api(self.sock)

    def wait_for_api(self):
        wait_for_socket(self.sock, self.proc)

    def start(self):
        self.wait_for_api()
        self.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        self.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})

    def stderr(self):
        with open(self.stderr_path) as f:
            return f.read()

    def threads(self):
        """{tid: (comm, status fields)} of every task of tern."""
        found = {}
        task_dir = f"/proc/{self.proc.pid}/task"
        for tid in os.listdir(task_dir):
            try:
                with open(f"{task_dir}/{tid}/comm") as f:
                    comm = f.read().strip()
                with open(f"{task_dir}/{tid}/status") as f:
                    fields = dict(line.split(":", 1) for line in f.read().splitlines()
                                  if ":" in line)
            except FileNotFoundError:
                continue  # the thread ended meanwhile
            found[int(tid)] = (comm, {k: v.strip() for k, v in fields.items()})
        return found

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        status = self.stop()
        if exc[0] is not None:
            for line in self.stderr().splitlines()[-20:]:
                print(f"#   {line}")
            return False
        assert status in (0, 128 + signal.SIGTERM), \
            f"tern exited with {status}: {self.stderr()[-2000:]}"
        return False


def setup():
    global TEST_BUILD
    if not os.access(TERN, os.X_OK):
        return f"{TERN} is missing: the build failed"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "no usable /dev/kvm on this machine"
    if shutil.which("unshare") is None or not os.path.exists("/dev/net/tun"):
        return "no unshare or /dev/net/tun: no network namespace for the tap"
    with open(KERNEL, "wb") as f:
        f.write(fake_bzimage())
    # A test build stops at once on the ceiling's trigger; a release build
    # runs on (release_builds_ignore_the_trigger checks it further).
    TEST_BUILD = probe_trigger()
    return None


def probe_trigger():
    proc = subprocess.Popen([TERN, "run", "--api-sock", os.path.join(WORK, "probe.sock")],
                            env=dict(os.environ, TERN_TEST_FORBIDDEN_SYSCALL="process"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for_socket(os.path.join(WORK, "probe.sock"), proc)
    except AssertionError:
        proc.wait(timeout=30)
        return proc.returncode == -signal.SIGSYS
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    return False


def wait_until(predicate, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@test
def every_thread_is_filtered_with_no_new_privs():
    with Vm() as vm:
        vm.start()
        vm.api.ok("GET", "/")
        names = {comm for comm, _ in vm.threads().values()}
        wait_until(lambda: set(THREAD_NAMES) <= {c for c, _ in vm.threads().values()},
                   f"every kind of thread ({', '.join(THREAD_NAMES)}); seen {sorted(names)}")
        # The main thread narrows itself once both vCPUs run.
        time.sleep(0.5)
        for tid, (comm, status) in sorted(vm.threads().items()):
            assert status.get("Seccomp") == "2", f"{comm} ({tid}): Seccomp {status.get('Seccomp')}"
            assert status.get("NoNewPrivs") == "1", f"{comm} ({tid}): NoNewPrivs"
            # The ceiling plus the thread's own list (kernels from 5.9 say).
            if "Seccomp_filters" in status and not comm.startswith("iou-"):
                assert int(status["Seccomp_filters"]) >= 2, \
                    f"{comm} ({tid}) has not narrowed the ceiling: {status['Seccomp_filters']}"


@test
def no_seccomp_leaves_threads_unfiltered():
    with Vm("--no-seccomp", net=False) as vm:
        vm.start()
        vm.api.ok("GET", "/")
        for tid, (comm, status) in vm.threads().items():
            assert status.get("Seccomp") == "0", f"{comm}: Seccomp {status.get('Seccomp')}"


def free_port_listener():
    """A TCP listener that takes one connection and holds it (a migration
    destination that never answers)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    held = []

    def take():
        try:
            conn, _ = listener.accept()
            held.append(conn)
        except OSError:
            pass
    threading.Thread(target=take, daemon=True).start()
    return listener, held


# kind -> what makes tern start a thread of that kind (after InstanceStart
# for all but the ceiling, the metrics thread and the API thread).
KINDS = ("process", "metrics", "api", "main", "vcpu", "virtio-blk", "virtio-net",
         "virtio-vsock", "virtio-balloon", "virtio-rng", "block-worker", "rtc",
         "migration")


def forbidden_call_from(kind):
    # A migration needs devices that can move (not vsock, not a tap).
    vm = Vm(env={"TERN_TEST_FORBIDDEN_SYSCALL": kind}, devices=kind != "migration")
    listener = None
    try:
        if kind not in ("process", "metrics"):
            vm.wait_for_api()
            if kind == "api":
                vm.api.request("GET", "/")
            else:
                vm.start()
        if kind == "migration":
            listener, held = free_port_listener()
            port = listener.getsockname()[1]
            reply = vm.api.request("PUT", "/migration",
                                   {"destination": f"tcp:127.0.0.1:{port}",
                                    "insecure_plain_tcp": True})
            assert reply[0] == 204, f"PUT /migration: {reply}"
        status = vm.proc.wait(timeout=60)
    except (AssertionError, OSError, ConnectionError) as e:
        # The API went away mid-request: tern stopped, as it should.
        status = vm.proc.wait(timeout=60)
        if status != -signal.SIGSYS:
            raise AssertionError(f"{kind}: {e}; status {status}; {vm.stderr()[-2000:]}")
    finally:
        if listener:
            listener.close()
        if vm.proc.poll() is None:
            vm.proc.kill()
            vm.proc.wait()
    return status, vm.stderr()


# The trigger exists only in test builds (TERN=build/asan/tern).
@test_in_builds_where(lambda: TEST_BUILD)
def a_forbidden_call_from_each_kind_of_thread_stops_tern_naming_both():
    for kind in KINDS:
        status, stderr = forbidden_call_from(kind)
        assert status == -signal.SIGSYS, f"{kind}: status {status}, stderr: {stderr[-2000:]}"
        line = re.search(rf"tern: seccomp: thread (\S+) \({re.escape(kind)} filter\) made the "
                         r"forbidden system call syslog \(103\): stopping tern", stderr)
        assert line, f"{kind}: no report line in: {stderr[-2000:]}"
        print(f"# {kind}: {line.group(0)}")


@test_in_builds_where(lambda: TEST_BUILD)
def log_mode_lets_a_forbidden_call_run():
    with Vm("--seccomp", "log", env={"TERN_TEST_FORBIDDEN_SYSCALL": "vcpu"}) as vm:
        vm.start()
        time.sleep(0.5)
        assert vm.proc.poll() is None, vm.stderr()
        assert "seccomp: log mode" in vm.stderr()
        for tid, (comm, status) in vm.threads().items():
            assert status.get("Seccomp") == "2", f"{comm}: Seccomp {status.get('Seccomp')}"


@test_in_builds_where(lambda: not TEST_BUILD)
def release_builds_ignore_the_trigger():
    with Vm(env={"TERN_TEST_FORBIDDEN_SYSCALL": "vcpu"}, net=False) as vm:
        vm.start()
        time.sleep(0.5)
        assert vm.proc.poll() is None, vm.stderr()


if __name__ == "__main__":
    run(setup)
