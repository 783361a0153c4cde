#!/usr/bin/python3
"""machine-config.huge_pages 2M (tern run --huge-pages 2M) inside the nested
test host, whose kernel has a 2 MiB hugetlbfs pool the test sizes through
/proc/sys/vm/nr_hugepages: the stock Debian guest boots on RAM from the pool
(the pool's available pages drop by the guest's whole size at start, as
tern reserves them; HugePages_Free drops as the guest touches its RAM, and
by the guest's size once it has touched all of it); the pool is whole again
when tern ends; a pool too small is refused before the VM starts, with the
numbers, on the command line (status 1) and over the API (InstanceStart
400); a snapshot of a huge-page guest loads into huge pages again."""
import os
import shutil
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

MiB = 1 << 20
GUEST_MIB = 256
GUEST_PAGES = GUEST_MIB // 2
NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"
WORK = tempfile.mkdtemp(prefix="tern-huge-pages-")


def host_meminfo():
    """The host's HugePages_* counts."""
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("HugePages_"):
                key, value = line.split(":")
                out[key[len("HugePages_"):]] = int(value)
    return out


class Pool:
    """The host's 2 MiB pool set to `pages` for the block, put back after."""

    def __init__(self, pages):
        self.pages = pages

    def __enter__(self):
        with open(NR_HUGEPAGES) as f:
            self.old = int(f.read())
        with open(NR_HUGEPAGES, "w") as f:
            f.write(str(self.pages))
        got = host_meminfo()["Total"]
        if got < self.pages:
            skip(f"the host gave {got} of {self.pages} 2 MiB pages")
        return self

    def __exit__(self, *exc):
        with open(NR_HUGEPAGES, "w") as f:
            f.write(str(self.old))
        return False


def hugetlb_mapping_mib(pid):
    """MiB of tern's mappings whose VmFlags hold ht (hugetlbfs)."""
    total, size = 0, 0
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if line.startswith("Size:"):
                size = int(line.split()[1])
            elif line.startswith("VmFlags:") and " ht" in line:
                total += size
    return total // 1024


def wait_for(what, condition, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@test
def guest_boots_on_the_hugetlb_pool_and_gives_it_back():
    with Pool(GUEST_PAGES + 16):
        before = host_meminfo()
        with guestlib.Guest(memory=f"{GUEST_MIB}M",
                            extra=["--huge-pages", "2M"]) as guest:
            running = host_meminfo()
            available = (before["Free"] - before["Rsvd"]) - (running["Free"] - running["Rsvd"])
            taken = before["Free"] - running["Free"]
            print(f"# pool {before['Total']} pages: Free {before['Free']} -> {running['Free']}, "
                  f"Rsvd {before['Rsvd']} -> {running['Rsvd']} with the guest booted")
            assert available == GUEST_PAGES, (before, running)
            assert 0 < taken <= GUEST_PAGES, (before, running)
            assert hugetlb_mapping_mib(guest.child.pid) == GUEST_MIB
            memtotal = int(guest.shell("grep MemTotal /proc/meminfo").split()[1])
            assert memtotal > (GUEST_MIB - 64) * 1024, memtotal

            # The guest touches most of its RAM (a tmpfs filled to 16 MiB
            # short of MemAvailable): Free then has dropped by nearly the
            # guest's size, less what Linux has not touched yet.
            fill = int(guest.shell("grep MemAvailable /proc/meminfo").split()[1]) // 1024 - 16
            guest.shell(f"mkdir -p /m && mount -t tmpfs -o size={fill + 8}m t /m")
            for i in range(0, fill, 32):
                count = min(32, fill - i)
                guest.shell(f"dd if=/dev/zero of=/m/f{i} bs=1M count={count} 2>/dev/null")
            touched = host_meminfo()
            dropped = before["Free"] - touched["Free"]
            print(f"# after the guest filled {fill} MiB: HugePages_Free dropped by {dropped} "
                  f"of {GUEST_PAGES}, Rsvd {touched['Rsvd']}")
            assert dropped >= 0.85 * GUEST_PAGES, (before, touched)
            assert touched["Rsvd"] == GUEST_PAGES - dropped, touched
            guest.shell("rm /m/*; umount /m")
            assert guest.shell("echo $((6 * 7))") == "42"
            status = guest.exit_with("poweroff -f")
            assert status == 0, status
        wait_for("the pool to be whole again",
                 lambda: host_meminfo()["Free"] == before["Free"]
                 and host_meminfo()["Rsvd"] == before["Rsvd"])


@test
def a_short_pool_is_refused_on_the_command_line():
    p = guestlib.paths()
    with Pool(GUEST_PAGES // 2):
        free = host_meminfo()["Free"] - host_meminfo()["Rsvd"]
        r = subprocess.run([guestlib.TERN, "run", "--kernel", p["GUEST_BZIMAGE"],
                            "--memory", f"{GUEST_MIB}M", "--huge-pages", "2M",
                            "--serial", "none"],
                           capture_output=True, text=True, timeout=60)
        print(f"# status {r.returncode}: {r.stderr.strip()}")
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert (f"huge_pages 2M: the host has {free} free 2 MiB hugetlbfs pages, "
                f"the guest's {GUEST_MIB} MiB need {GUEST_PAGES}") in r.stderr, r.stderr
    # Not whole 2 MiB pages: a usage error before anything is mapped.
    r = subprocess.run([guestlib.TERN, "run", "--kernel", p["GUEST_BZIMAGE"],
                        "--memory", "255M", "--huge-pages", "2M"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "--memory (261120 KiB) must be a multiple of 2 MiB with huge_pages 2M" \
        in r.stderr, r.stderr


@test
def a_short_pool_fails_instance_start_over_the_api():
    p = guestlib.paths()
    sock = os.path.join(WORK, "short.sock")
    with Pool(GUEST_PAGES // 2):
        child = subprocess.Popen([guestlib.TERN, "run", "--api-sock", sock,
                                  "--serial", "none"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_socket(sock)
            api = Api(sock)
            api.ok("PUT", "/boot-source", {"kernel_image_path": p["GUEST_BZIMAGE"],
                                           "boot_args": "console=ttyS0"})
            api.ok("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": GUEST_MIB,
                                              "huge_pages": "2M"})
            status, body = api.get("/machine-config")
            assert status == 200 and body["huge_pages"] == "2M", body
            status, body = api.request("PUT", "/actions", {"action_type": "InstanceStart"})
            print(f"# InstanceStart: {status} {body}")
            assert status == 400, (status, body)
            assert "huge_pages 2M: the host has" in body["fault_message"], body
        finally:
            child.kill()
            child.wait()


class Console:
    """A tern on a pty whose console guestlib's shell() drives."""

    def __init__(self, argv):
        self.log = []
        self.child = pexpect.spawn(guestlib.TERN, argv, encoding="utf-8",
                                   codec_errors="replace",
                                   timeout=guestlib.BOOT_TIMEOUT, dimensions=(50, 200))
        self.child.logfile_read = guestlib._Collector(self.log)

    def shell(self, command):
        return guestlib.Guest.shell(self, command)


@test
def a_huge_page_snapshot_loads_into_huge_pages():
    """The snapshot records huge_pages 2M; the loading tern takes it (as
    Firecracker's snapshot-load default does) and reads the memory file
    into a fresh reservation: every page taken, the guest's data there."""
    snap, mem = os.path.join(WORK, "snap"), os.path.join(WORK, "mem")
    sock = os.path.join(WORK, "a.sock")
    p = guestlib.paths()
    with Pool(GUEST_PAGES + 16):
        a = Console(["run", "--kernel", p["GUEST_BZIMAGE"], "--initrd", p["GUEST_INITRAMFS"],
                     "--memory", f"{GUEST_MIB}M", "--huge-pages", "2M",
                     "--cmdline", "console=ttyS0 reboot=k quiet", "--api-sock", sock])
        try:
            wait_for_socket(sock, timeout=60)
            api = Api(sock)
            api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
            a.child.expect("TERN-GUEST-READY")
            a.child.expect("# ")
            a.shell("echo kept-in-huge-pages > /marker")
            api.ok("PATCH", "/vm", {"state": "Paused"})
            api.ok("PUT", "/snapshot/create", {"snapshot_path": snap, "mem_file_path": mem})
        finally:
            a.child.terminate(force=True)
            a.child.close()
        wait_for("the first guest's pages back in the pool",
                 lambda: host_meminfo()["Rsvd"] == 0 and
                 host_meminfo()["Free"] == host_meminfo()["Total"])
        before = host_meminfo()
        t = Console(["restore", "--snapshot", snap, "--mem", mem,
                     "--api-sock", os.path.join(WORK, "b.sock")])
        try:
            wait_for_socket(os.path.join(WORK, "b.sock"), timeout=60)
            t.child.sendline("")
            t.child.expect("# ")
            assert t.shell("cat /marker") == "kept-in-huge-pages"
            after = host_meminfo()
            print(f"# restored: Free {before['Free']} -> {after['Free']}")
            assert before["Free"] - after["Free"] == GUEST_PAGES, (before, after)
            assert hugetlb_mapping_mib(t.child.pid) == GUEST_MIB
            status, body = Api(os.path.join(WORK, "b.sock")).get("/machine-config")
            assert body["huge_pages"] == "2M", body
            status = guestlib.Guest.exit_with(t, "poweroff -f")
            assert status == 0, status
        finally:
            if t.child.isalive():
                print("".join(t.log)[-2000:])
                t.child.terminate(force=True)


if __name__ == "__main__":
    if os.geteuid() != 0 or not os.path.exists(NR_HUGEPAGES):
        print("1..0 # SKIP needs root and a hugetlbfs pool to size")
        sys.exit(0)
    try:
        run()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
