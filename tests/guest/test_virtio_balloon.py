#!/usr/bin/python3
"""virtio-balloon under the stock Debian guest (inside the nested test host).

The guest first touches most of its RAM (a tmpfs filled, then emptied), so
tern's resident set is high; inflating the balloon must then give at least
0.8 of the inflated size back to the host (tern's VmRSS drops), the guest's
MemTotal shrinks by the balloon, statistics arrive every second, and
deflating through the console escape (Ctrl-A b 0 Enter) brings MemTotal
back. Free page reporting gives a deleted tmpfs file's memory back without
any inflation; free page hinting does when the API asks for it
(/balloon/hinting/start, status, stop). tern's log goes to a file (debug level: the statistics lines)
so it cannot mix with the guest's shell output."""
import os
import re
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from tap import run, test  # noqa: E402
import guestlib  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from apiclient import Api, parse_prometheus, wait_for_socket  # noqa: E402

MiB = 1 << 20
TERN_WARNING = re.compile(r"tern: \[[^\]]*\] (warning|error)")
STATS_LINE = re.compile(r"virtio-balloon: statistics:(.*)")


def log_file(name):
    fd, path = tempfile.mkstemp(prefix=f"tern-balloon-{name}-", suffix=".log")
    os.close(fd)
    return path


def read_log(path):
    with open(path, errors="replace") as f:
        return f.read()


def wait_for(what, condition, timeout=120, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def tern_rss(guest):
    """tern's resident set in bytes, from the host side."""
    with open(f"/proc/{guest.child.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def meminfo(guest, field):
    # Commands stay short: the guest's line editor wraps at 80 columns,
    # which would split guestlib's end marker.
    out = guest.shell(f"grep '^{field}:' /proc/meminfo")
    return int(out.split()[1]) * 1024


def fill_files(guest, mib, chunk=32):
    """Writes mib MiB of zeros into tmpfs files under /m, a chunk per
    command (each command has guestlib's timeout; the test host is slow)."""
    for i in range(0, mib, chunk):
        count = min(chunk, mib - i)
        out = guest.shell(f"dd if=/dev/zero of=/m/f{i} bs=1M count={count} 2>&1")
        assert f"{count}+0 records out" in out, out


def touch_guest_memory(guest, leave_free):
    """Fills a tmpfs with all but leave_free bytes of the guest's available
    memory, then deletes it: the pages are free in the guest but resident
    in tern."""
    fill = (meminfo(guest, "MemAvailable") - leave_free) // MiB
    guest.shell("mkdir -p /m")
    guest.shell(f"mount -t tmpfs -o size={fill + 8}m t /m")
    fill_files(guest, fill)
    guest.shell("rm /m/*; umount /m")
    return fill * MiB


def balloon_sysfs(guest):
    """The virtioN device the balloon driver is bound to."""
    names = guest.shell("ls /sys/bus/virtio/drivers/virtio_balloon").split()
    devices = [n for n in names if n.startswith("virtio")]
    assert len(devices) == 1, names
    return devices[0]


def features(guest, device):
    """The negotiated feature bits, '0'/'1' per bit from bit 0."""
    return guest.shell(f"cat /sys/bus/virtio/devices/{device}/features")


def stats_lines(path):
    return [dict(kv.split("=") for kv in m.group(1).split())
            for m in STATS_LINE.finditer(read_log(path)) if "=" in m.group(1)]


@test
def inflate_gives_memory_back_and_deflate_returns_it():
    log = log_file("inflate")
    target = 256 * MiB
    with guestlib.Guest(cpus=2, memory="512M", log_path=log,
                        extra=["--balloon", "size=256M,stats=1",
                               "--log-level", "debug"]) as guest:
        memtotal = meminfo(guest, "MemTotal")
        touched = touch_guest_memory(guest, leave_free=48 * MiB)
        rss_before = tern_rss(guest)
        assert rss_before > touched, (rss_before, touched)

        guest.shell("modprobe virtio_pci; modprobe virtio_balloon")
        wait_for("the guest to reach the 256 MiB target",
                 lambda: "reached the target: 256 MiB" in read_log(log))
        rss_after = tern_rss(guest)
        released = rss_before - rss_after
        print(f"# RSS {rss_before // MiB} MiB -> {rss_after // MiB} MiB "
              f"({released // MiB} MiB released for a {target // MiB} MiB balloon)")
        assert released >= 0.8 * target, (rss_before, rss_after)

        # Without deflate-on-oom the driver takes the pages out of MemTotal.
        shrunk = memtotal - meminfo(guest, "MemTotal")
        assert abs(shrunk - target) <= 4 * MiB, (memtotal, shrunk)
        device = balloon_sysfs(guest)
        assert device.startswith("virtio"), device
        bits = features(guest, device)
        assert bits[1] == "1", bits  # VIRTIO_BALLOON_F_STATS_VQ
        assert bits[2] == "0", bits  # no deflate-on-oom unless asked

        # The statistics buffer comes back every second: several sets,
        # with the guest's own totals in them.
        # The guest may send a set from before the balloon filled, so wait
        # for one that reports the shrunk total.
        now_total = meminfo(guest, "MemTotal")

        def current_stats():
            lines = stats_lines(log)
            if len(lines) >= 3 and \
                    abs(int(lines[-1]["total-memory"]) - now_total) <= 4 * MiB:
                return lines
            return None
        stats = wait_for("three statistics updates, the last with the shrunk total",
                         current_stats, timeout=60)
        last = stats[-1]
        assert int(last["free-memory"]) > 0, last

        # Deflate at run time: Ctrl-A b 0 Enter on the console.
        guest.child.send("\x01b0\r")
        wait_for("the new target", lambda: "balloon target set to 0 MiB" in read_log(log),
                 timeout=30)
        wait_for("the guest to empty the balloon",
                 lambda: "reached the target: 0 MiB" in read_log(log))
        assert abs(meminfo(guest, "MemTotal") - memtotal) <= 4 * MiB
        # The returned pages are usable: fill most of the memory again.
        touch_guest_memory(guest, leave_free=48 * MiB)
        text = read_log(log)
        assert not TERN_WARNING.search(text), text[-2000:]
        status = guest.reboot()
    assert status == 0, f"tern exited with {status} after reboot"
    os.unlink(log)


@test
def free_page_reporting_gives_freed_memory_back():
    log = log_file("reporting")
    with guestlib.Guest(cpus=2, memory="512M", log_path=log,
                        extra=["--balloon", "free-page-reporting,deflate-on-oom,size=64M",
                               "--log-level", "debug"]) as guest:
        memtotal = meminfo(guest, "MemTotal")
        guest.shell("modprobe virtio_pci; modprobe virtio_balloon")
        wait_for("the 64 MiB target", lambda: "reached the target: 64 MiB" in read_log(log))
        device = balloon_sysfs(guest)
        bits = features(guest, device)
        assert bits[2] == "1" and bits[5] == "1", bits  # DEFLATE_ON_OOM, REPORTING
        assert bits[1] == "0", bits  # no stats= given: no statistics queue
        # With deflate-on-oom the ballooned pages stay in MemTotal.
        assert abs(meminfo(guest, "MemTotal") - memtotal) <= 4 * MiB

        guest.shell("mkdir -p /m")
        guest.shell("mount -t tmpfs -o size=300m t /m")
        fill_files(guest, 256)
        rss_full = tern_rss(guest)
        guest.shell("rm /m/*")
        # Linux reports free 2 MiB blocks a couple of seconds after they
        # appear; the host gets most of the deleted file back.
        wait_for("freed pages to be reported",
                 lambda: rss_full - tern_rss(guest) >= 160 * MiB, timeout=90, interval=1)
        print(f"# RSS {rss_full // MiB} MiB -> {tern_rss(guest) // MiB} MiB after deleting "
              "256 MiB")
        assert not TERN_WARNING.search(read_log(log))
        assert guest.reboot() == 0
    os.unlink(log)


def start_through_the_api(sock):
    """tern run --api-sock waits for InstanceStart (the command line only
    pre-configures): sent from a thread while guestlib waits for the boot."""
    def start():
        wait_for_socket(sock, timeout=60)
        Api(sock).ok("PUT", "/actions", {"action_type": "InstanceStart"})
    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    return thread


def hint_status(api):
    status, body = api.get("/balloon/hinting/status")
    assert status == 200, (status, body)
    return body


@test
def free_page_hinting_gives_free_memory_back_when_asked():
    log = log_file("hinting")
    sock = log + ".sock"
    start_through_the_api(sock)
    with guestlib.Guest(cpus=2, memory="512M", log_path=log,
                        extra=["--balloon", "free-page-hinting", "--api-sock", sock,
                               "--log-level", "debug"]) as guest:
        api = Api(sock)
        # No driver yet: nothing asked, nothing answered, and a start is
        # refused (the device is not set up).
        assert hint_status(api) == {"host_cmd": 0, "guest_cmd": None}
        api.fault("PATCH", "/balloon/hinting/start", {}, words=["driver"])
        touched = touch_guest_memory(guest, leave_free=48 * MiB)
        guest.shell("modprobe virtio_pci; modprobe virtio_balloon")
        bits = features(guest, balloon_sysfs(guest))
        assert bits[3] == "1", bits  # VIRTIO_BALLOON_F_FREE_PAGE_HINT
        assert bits[1] == "0" and bits[5] == "0", bits  # no stats, reporting
        rss_before = tern_rss(guest)
        assert rss_before > touched, (rss_before, touched)

        # A run the host ends itself: the guest sends its free blocks,
        # then STOP, and holds them until told DONE.
        api.ok("PATCH", "/balloon/hinting/start", {"acknowledge_on_stop": False})
        assert hint_status(api)["host_cmd"] == 2
        wait_for("the guest to finish the run",
                 lambda: hint_status(api) == {"host_cmd": 2, "guest_cmd": 0},
                 timeout=120, interval=1)
        rss_after = tern_rss(guest)
        released = rss_before - rss_after
        print(f"# RSS {rss_before // MiB} MiB -> {rss_after // MiB} MiB after hinting "
              f"({touched // MiB} MiB freed in the guest before)")
        assert released >= 0.6 * touched, (rss_before, rss_after, touched)
        samples = parse_prometheus(api.get("/metrics")[1])
        hinted = samples[("tern_balloon_hinted_bytes_total", "")]
        assert hinted >= released * 0.9, (hinted, released)
        # The guest holds its blocks: its free memory is low until DONE.
        held_free = meminfo(guest, "MemFree")
        api.ok("PATCH", "/balloon/hinting/stop")
        assert hint_status(api)["host_cmd"] == 1
        wait_for("the guest to take its blocks back",
                 lambda: meminfo(guest, "MemFree") > held_free + touched // 2,
                 timeout=60, interval=1)

        # A second run with Firecracker's default (acknowledge_on_stop,
        # no body): tern sends DONE itself when the guest sends STOP. The
        # memory given back is usable again.
        touch_guest_memory(guest, leave_free=48 * MiB)
        rss_full = tern_rss(guest)
        api.ok("PATCH", "/balloon/hinting/start")
        wait_for("the run to end by itself",
                 lambda: hint_status(api) == {"host_cmd": 1, "guest_cmd": 0},
                 timeout=120, interval=1)
        assert rss_full - tern_rss(guest) >= 0.6 * touched, (rss_full, tern_rss(guest))
        out = guest.shell("mkdir -p /c; mount -t tmpfs t /c; "
                          "dd if=/dev/urandom of=/c/r bs=1M count=64 2>/dev/null; "
                          "md5sum /c/r | cut -c1-32; sync; md5sum /c/r | cut -c1-32")
        sums = out.split()
        assert len(sums) == 2 and sums[0] == sums[1], out
        assert not TERN_WARNING.search(read_log(log)), read_log(log)[-2000:]
        assert guest.reboot() == 0
    os.unlink(log)


@test
def balloon_over_virtio_mmio():
    """The same device on the other transport: the target is reached and
    statistics arrive through virtio-mmio (config interrupt and all)."""
    log = log_file("mmio")
    with guestlib.Guest(cpus=1, memory="256M", log_path=log,
                        extra=["--balloon", "size=32M,stats=1", "--transport", "mmio",
                               "--log-level", "debug"]) as guest:
        guest.shell("modprobe virtio_mmio; modprobe virtio_balloon")
        wait_for("the 32 MiB target", lambda: "reached the target: 32 MiB" in read_log(log))
        wait_for("two statistics updates", lambda: len(stats_lines(log)) >= 2, timeout=60)
        guest.child.send("\x01b16M\r")
        wait_for("the 16 MiB target", lambda: "reached the target: 16 MiB" in read_log(log))
        assert not TERN_WARNING.search(read_log(log))
        assert guest.reboot() == 0
    os.unlink(log)


def setup():
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm: these tests run inside the test host (testhost/run.sh)"
    return None


if __name__ == "__main__":
    run(setup)
