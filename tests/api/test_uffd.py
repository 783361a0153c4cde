#!/usr/bin/python3
"""PUT /snapshot/load with mem_backend Uffd (docs/snapshots.md, "Memory
from a page fault handler"): a guest that counts and prints its count
(build/guests/tick32-pvh.elf) is snapshotted, then loaded into a new tern
whose memory a page fault handler serves (tests/api/uffd_handler.py, made
as Firecracker's example handlers are). The guest's console goes on from
the snapshot's count, the handler served the pages, tern's own reads of all
of memory (a Full snapshot of the loaded VM) go through the handler too,
and every refusal is a 400 that leaves the tern Not started: no socket,
nobody listening, a handler that closes at once, an unknown backend_type.

TERN=build/asan/tern runs the same tests against the sanitizer build."""
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from tap import run, skip, test  # noqa: E402
from apiclient import needs_kvm, missing, TernProcess  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TERN = os.path.join(ROOT, os.environ.get("TERN", "build/tern"))
GUEST = os.path.join(ROOT, "build/guests/tick32-pvh.elf")
HANDLER = os.path.join(ROOT, "tests/api/uffd_handler.py")
WORK = tempfile.mkdtemp(prefix="tern-uffd-")
MEMORY = "64M"
COUNTER_GPA = 0x70000


class Tern(TernProcess):
    """The guest's console in a file (output()); a tern killed by SIGTERM
    before its handler is installed counts as stopped."""
    EXIT_STATUSES = TernProcess.EXIT_STATUSES + (-signal.SIGTERM,)

    def __init__(self, *extra, command="run", wait=True):
        super().__init__(TERN, WORK, *extra, serial=True, command=command, wait=wait)


class Handler:
    counter = 0

    def __init__(self, memory_file, *extra):
        Handler.counter += 1
        n = Handler.counter
        self.sock = os.path.join(WORK, f"uffd{n}.sock")
        self.counts_path = os.path.join(WORK, f"uffd{n}.counts")
        self.log = os.path.join(WORK, f"uffd{n}.log")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", HANDLER, self.sock, memory_file, self.counts_path]
            + list(extra), stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while not os.path.exists(self.sock):
            assert self.proc.poll() is None, f"the handler exited: {self.output()}"
            assert time.time() < deadline, "the handler never listened"
            time.sleep(0.05)

    def output(self):
        with open(self.log) as f:
            return f.read()

    def counts(self):
        try:
            with open(self.counts_path) as f:
                return {k: int(v) for k, v in (line.split() for line in f)}
        except FileNotFoundError:
            return {}

    def message(self):
        with open(self.counts_path + ".message") as f:
            return f.read()

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"the handler did not end: {self.output()}")


def setup():
    return missing(TERN, GUEST)


def counter_in(memory_file):
    with open(memory_file, "rb") as f:
        f.seek(COUNTER_GPA)
        count, marker = struct.unpack("<II", f.read(8))
    assert marker == 0x4b434954, f"no TICK marker in {memory_file}"
    return count


SNAPSHOT = {}


def snapshot_of_a_ticking_guest():
    """Once: the state and memory files of the guest after a few ticks,
    and what its console had printed."""
    if SNAPSHOT:
        return SNAPSHOT
    snap, mem = os.path.join(WORK, "snap"), os.path.join(WORK, "mem")
    with Tern("--kernel", GUEST, "--memory", MEMORY) as t:
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        t.wait_for_lines(3)
        t.api.ok("PATCH", "/vm", {"state": "Paused"})
        t.api.ok("PUT", "/snapshot/create", {"snapshot_path": snap, "mem_file_path": mem,
                                             "snapshot_type": "Full"})
        printed = t.output()
    SNAPSHOT.update(snap=snap, mem=mem, printed=printed, count=counter_in(mem))
    return SNAPSHOT


def ticks(text):
    """The complete lines of the console as numbers."""
    return [int(line, 16) for line in text.split("\n")[:-1]]


def load_body(snapshot, backend_path, backend_type="Uffd", resume=True):
    return {"snapshot_path": snapshot["snap"],
            "mem_backend": {"backend_path": backend_path, "backend_type": backend_type},
            "resume_vm": resume}


@test
def guest_goes_on_with_memory_from_the_handler():
    needs_kvm()
    s = snapshot_of_a_ticking_guest()
    before = ticks(s["printed"])
    assert before == list(range(1, len(before) + 1)), s["printed"]
    handler = Handler(s["mem"])
    try:
        run_loaded_guest(s, handler, before)
    except BaseException:
        print(f"# handler: {handler.counts()} {handler.output()!r}")
        raise
    # The message: Firecracker's field names, the regions covering the file.
    import json
    regions = json.loads(handler.message())
    assert sum(r["size"] for r in regions) == os.path.getsize(s["mem"]), regions
    for r in regions:
        assert set(r) == {"base_host_virt_addr", "size", "offset", "page_size",
                          "page_size_kib"}, r
        assert r["page_size"] == r["page_size_kib"] == 4096, r
    # tern's exit closes its end: the handler ends.
    assert handler.wait() == 0, handler.output()


def run_loaded_guest(s, handler, before):
    with Tern() as t:
        t.api.ok("PUT", "/snapshot/load", load_body(s, handler.sock))
        assert t.state() == "Running"
        t.wait_for_lines(3)
        # The console goes on from the snapshot's count: source then
        # restored output read as one stream count 1, 2, 3, ... (a pause
        # in the middle of a line finishes that line here).
        whole = ticks(s["printed"] + t.output())
        assert whole == list(range(1, len(whole) + 1)), (s["printed"], t.output())
        assert len(whole) >= len(before) + 2, whole
        counts = handler.counts()
        # At least the guest's code and its counter's page, and tern's probe.
        assert counts.get("pages", 0) >= 2, counts
        served_before = counts["pages"]
        # tern reads all of memory for a Full snapshot: the API thread's
        # reads fault to the handler too, and the guest's count is on.
        snap2, mem2 = os.path.join(WORK, "snap-of-loaded"), os.path.join(WORK, "mem-of-loaded")
        t.api.ok("PATCH", "/vm", {"state": "Paused"})
        t.api.ok("PUT", "/snapshot/create", {"snapshot_path": snap2, "mem_file_path": mem2})
        assert counter_in(mem2) > s["count"], (counter_in(mem2), s["count"])
        pages = (64 << 20) // 4096
        deadline = time.time() + 10
        while handler.counts()["pages"] < pages and time.time() < deadline:
            time.sleep(0.1)
        counts = handler.counts()
        assert served_before < counts["pages"] <= pages, (served_before, counts)
        t.api.ok("PATCH", "/vm", {"state": "Resumed"})
        lines = len(ticks(t.output()))
        t.wait_for_lines(lines + 1)


NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"


@test
def huge_page_guest_is_served_in_2_mib_pages():
    """A huge_pages 2M VM (the snapshot records it; the load takes it):
    the handler is told page_size 2 MiB and copies whole huge pages
    (userfaultfd's MISSING_HUGETLBFS), as Firecracker's handlers do."""
    needs_kvm()
    if not os.path.exists(NR_HUGEPAGES):
        skip("no hugetlbfs pool on this host")
    with open(NR_HUGEPAGES) as f:
        old = int(f.read())
    try:
        with open(NR_HUGEPAGES, "w") as f:
            f.write(str(old + 64))
        with open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") as f:
            if int(f.read()) < 64:
                skip("the host gave fewer than 64 free 2 MiB pages")
        snap, mem = os.path.join(WORK, "snap-2m"), os.path.join(WORK, "mem-2m")
        with Tern("--kernel", GUEST, "--memory", MEMORY, "--huge-pages", "2M") as t:
            t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
            t.wait_for_lines(2)
            t.api.ok("PATCH", "/vm", {"state": "Paused"})
            t.api.ok("PUT", "/snapshot/create", {"snapshot_path": snap, "mem_file_path": mem})
            printed = t.output()
        handler = Handler(mem)
        with Tern() as t:
            t.api.ok("PUT", "/snapshot/load", load_body({"snap": snap}, handler.sock))
            assert t.api.get("/machine-config")[1]["huge_pages"] == "2M"
            t.wait_for_lines(2)
            whole = ticks(printed + t.output())
            assert whole == list(range(1, len(whole) + 1)), (printed, t.output())
            assert len(whole) > len(ticks(printed)), whole
        import json
        regions = json.loads(handler.message())
        assert all(r["page_size"] == r["page_size_kib"] == 2 << 20 for r in regions), regions
        assert handler.counts().get("pages", 0) >= 1, handler.counts()
        assert handler.wait() == 0, handler.output()
    finally:
        with open(NR_HUGEPAGES, "w") as f:
            f.write(str(old))


@test
def missing_or_silent_sockets_are_refused():
    needs_kvm()
    s = snapshot_of_a_ticking_guest()
    with Tern() as t:
        t.api.fault("PUT", "/snapshot/load", load_body(s, os.path.join(WORK, "nothing.sock")),
                    words=["Failed to connect to UDS Unix stream",
                           "No such file or directory (os error 2)"])
        assert t.state() == "Not started"
        # A socket file nobody listens on any more.
        import socket
        stale = os.path.join(WORK, "stale.sock")
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(stale)
        listener.close()
        t.api.fault("PUT", "/snapshot/load", load_body(s, stale),
                    words=["Failed to connect to UDS Unix stream",
                           "Connection refused (os error 111)"])
        assert t.state() == "Not started"
        t.api.fault("PUT", "/snapshot/load", load_body(s, s["mem"], backend_type="Mmap"),
                    words=["backend_type 'Mmap'", "use File or Uffd"])
        # Nothing was left behind: a File load into the same tern works.
        t.api.ok("PUT", "/snapshot/load", load_body(s, s["mem"], backend_type="File"))
        assert t.state() == "Running"
        t.wait_for_lines(1)


@test
def handler_closing_at_once_is_refused():
    needs_kvm()
    s = snapshot_of_a_ticking_guest()
    handler = Handler(s["mem"], "--close-at-once")
    with Tern() as t:
        started = time.time()
        fault = t.api.fault("PUT", "/snapshot/load", load_body(s, handler.sock))
        assert "closed the connection" in fault or "Failed to send" in fault, fault
        assert time.time() - started < 15, "the refusal took the whole time limit"
        assert t.state() == "Not started"
        assert handler.wait() == 0, handler.output()
        # A handler that serves, next: the same tern loads.
        good = Handler(s["mem"])
        t.api.ok("PUT", "/snapshot/load", load_body(s, good.sock))
        t.wait_for_lines(1)
    assert good.wait() == 0, good.output()


@test
def tern_restore_takes_its_memory_from_a_handler():
    """`tern restore --uffd SOCKET`: the command line's way to the same
    load; a socket nobody listens on is its one error (exit 1)."""
    needs_kvm()
    s = snapshot_of_a_ticking_guest()
    before = ticks(s["printed"])
    handler = Handler(s["mem"])
    with Tern("--snapshot", s["snap"], "--uffd", handler.sock, command="restore") as t:
        t.wait_for_lines(2)
        whole = ticks(s["printed"] + t.output())
        assert whole == list(range(1, len(whole) + 1)), (s["printed"], t.output())
        assert len(whole) >= len(before) + 2, whole
        assert handler.counts().get("pages", 0) >= 2, handler.counts()
    assert handler.wait() == 0, handler.output()
    nothing = os.path.join(WORK, "nobody.sock")
    refused = subprocess.run([TERN, "restore", "--snapshot", s["snap"], "--uffd", nothing,
                              "--serial", "none"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1, (refused.returncode, refused.stderr)
    assert "nobody.sock" in refused.stderr and "No such file" in refused.stderr, \
        refused.stderr


if __name__ == "__main__":
    run(setup)
