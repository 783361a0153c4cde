#!/usr/bin/python3
"""Firecracker's rate limiters under the stock Debian guest kernel, inside
the nested test host (one boot, to keep it short). The VM comes from a
config file with a drive limited to 1 MiB/s and an interface whose rx and
tx are limited to 512 KiB/s, and an API socket for the live change.

Proven here, each within 10% of the configured rate (the bucket starts
full, so what the guest moved beyond the bucket's size is what the refill
allowed): an 8 MiB O_DIRECT read of the drive; after PATCH /drives to
2 MiB/s, the next 8 MiB read at the new rate; 4 MiB sent by the guest over
TCP (bytes counted on the tap, as the limiter counts frames) and 4 MiB
received by it. Nothing is lost: the data's hashes match, and tern's
throttled-event counters moved."""
import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
sys.path.insert(0, os.path.dirname(__file__))
from tap import run, test  # noqa: E402
from apiclient import Api, parse_prometheus, wait_for_socket  # noqa: E402
import guestlib  # noqa: E402

guestlib.COMMAND_TIMEOUT = 240
MIB = 1 << 20
TOLERANCE = 0.10
DISK_RATE = MIB  # bytes per second
DISK_READ = 8 * MIB
NET_BUCKET = 256 << 10
NET_RATE = 512 << 10  # the bucket refills in 500 ms
NET_BYTES = 4 * MIB
TAP, HOST_IP, GUEST_IP = "rltap0", "10.0.7.1", "10.0.7.2"
GUEST_MAC = "52:54:00:00:07:02"
WORK = tempfile.mkdtemp(prefix="tern-ratelimit-",
                        dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)


@contextlib.contextmanager
def netns_with_tap():
    """A network namespace of this test's own (held by an unshare'd sleep,
    as in test_virtio_net.py) with the tap in it; gone at the end."""
    holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
    ns = ["nsenter", f"--net=/proc/{holder.pid}/ns/net"]
    try:
        own = os.readlink("/proc/self/ns/net")
        for _ in range(100):
            if os.readlink(f"/proc/{holder.pid}/ns/net") != own:
                break
            time.sleep(0.05)
        for command in (["ip", "link", "set", "lo", "up"],
                        ["ip", "tuntap", "add", TAP, "mode", "tap"],
                        ["ip", "addr", "add", f"{HOST_IP}/24", "dev", TAP],
                        ["ip", "link", "set", TAP, "up"]):
            subprocess.run(ns + command, check=True, capture_output=True, timeout=60)
        yield ns
    finally:
        subprocess.run(ns + ["ip", "link", "del", TAP], capture_output=True, timeout=60)
        holder.kill()
        holder.wait(timeout=10)


def within(rate, limit, what):
    error = abs(rate - limit) / limit
    print(f"# {what}: {rate / 1024:.0f} KiB/s for a limit of {limit / 1024:.0f} KiB/s "
          f"({error:.1%} off)", flush=True)
    assert error <= TOLERANCE, f"{what}: {rate:.0f} B/s, limit {limit} B/s"


def uptime_of(out):
    """The two /proc/uptime readings a timed guest command printed."""
    marks = re.findall(r"T=([0-9.]+)", out)
    assert len(marks) == 2, out
    return float(marks[1]) - float(marks[0])


def timed(guest, command):
    """Runs command in the guest and returns its duration by the guest's
    clock, so the console's round trips are not counted."""
    out = guest.shell(f"echo T=$(cut -d' ' -f1 /proc/uptime); {command}; "
                      f"echo status=$?; echo T=$(cut -d' ' -f1 /proc/uptime)")
    assert "status=0" in out, out
    return uptime_of(out)


def disk_read_rate(guest, skip_mib, bucket):
    """Bytes per second beyond the (full) bucket for an 8 MiB O_DIRECT read."""
    seconds = timed(guest, f"dd if=/dev/vda of=/dev/null bs=1M count={DISK_READ // MIB} "
                           f"skip={skip_mib} iflag=direct 2>/dev/null")
    return (DISK_READ - bucket) / seconds


def tap_bytes(ns, direction):
    """The tap's byte counter in the namespace ("rx": what the guest sent).
    /proc/net/dev is the reading process's namespace's; /sys/class/net
    would be the one sysfs was mounted in."""
    out = subprocess.run(ns + ["cat", "/proc/net/dev"],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        name, _, counters = line.partition(":")
        if name.strip() == TAP:
            fields = counters.split()
            return int(fields[0] if direction == "rx" else fields[8])
    raise AssertionError(f"no {TAP} in /proc/net/dev: {out!r}")


# The host side of one transfer: receives (and hashes) or sends random
# bytes; prints the byte count, the hash and the time from the first byte
# to the last.
HOST_SIDE = textwrap.dedent("""
    import hashlib, os, socket, sys, time
    mode, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((sys.argv[4], port))
    srv.listen(1)
    srv.settimeout(300)
    print("LISTENING", flush=True)
    conn, _ = srv.accept()
    conn.settimeout(300)
    digest, count, first = hashlib.sha256(), 0, None
    if mode == "receive":
        while True:
            data = conn.recv(1 << 16)
            if not data:
                break
            first = first or time.monotonic()
            digest.update(data)
            count += len(data)
    else:
        first = time.monotonic()
        data = os.urandom(size)
        digest.update(data)
        conn.sendall(data)
        count = size
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)
    last = time.monotonic()
    conn.close()
    print(count, digest.hexdigest(), last - first, flush=True)
""")


def host_side(ns, mode, port):
    proc = subprocess.Popen(ns + [sys.executable, "-c", HOST_SIDE, mode, str(port),
                                  str(NET_BYTES), HOST_IP],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "LISTENING", (line, proc.stderr.read())
    return proc


def host_result(proc):
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    count, digest, seconds = out.split()
    return int(count), digest, float(seconds)


def bring_up_devices(guest):
    """The drive as /dev/vda, eth0 up at GUEST_IP."""
    out = guest.shell("modprobe virtio_pci; modprobe virtio_blk; modprobe virtio_net; "
                      "for i in $(seq 100); do [ -b /dev/vda ] && "
                      "[ -e /sys/class/net/eth0 ] && break; sleep 0.1; done; "
                      f"ip link set eth0 up && ip addr add {GUEST_IP}/24 dev eth0 && "
                      "echo ready")
    assert out.endswith("ready"), out


def write_config(disk):
    limited = {"bandwidth": {"size": NET_BUCKET, "refill_time": 500}}
    doc = {
        "boot-source": {"kernel_image_path": guestlib.paths()["GUEST_BZIMAGE"]},
        "drives": [{"drive_id": "data", "path_on_host": disk, "is_root_device": False,
                    "is_read_only": True,
                    "rate_limiter": {"bandwidth": {"size": DISK_RATE, "refill_time": 1000}}}],
        "network-interfaces": [{"iface_id": "eth0", "host_dev_name": TAP,
                                "guest_mac": GUEST_MAC,
                                "rx_rate_limiter": limited, "tx_rate_limiter": limited}],
    }
    path = os.path.join(WORK, "vm.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


@test
def disk_and_network_limits_hold():
    disk = os.path.join(WORK, "data.img")
    with open(disk, "wb") as f:
        f.write(os.urandom(24 * MIB))
    sock = os.path.join(WORK, "api.sock")
    with netns_with_tap() as ns, \
            guestlib.Guest(memory="256M", wrapper=ns,
                           extra=["--config-file", write_config(disk),
                                  "--api-sock", sock]) as guest:
        api = Api(sock)
        wait_for_socket(sock)
        bring_up_devices(guest)
        # Let the buckets fill after the drivers' probes.
        time.sleep(1.5)

        within(disk_read_rate(guest, 0, DISK_RATE), DISK_RATE, "disk, 8 MiB read")
        api.ok("PATCH", "/drives/data", {"drive_id": "data", "rate_limiter": {
            "bandwidth": {"size": 2 * DISK_RATE, "refill_time": 1000}}})
        time.sleep(0.5)
        # The PATCHed bucket starts full: 2 MiB.
        within(disk_read_rate(guest, 8, 2 * DISK_RATE), 2 * DISK_RATE,
               "disk after PATCH to 2 MiB/s, 8 MiB read")
        config = api.get("/vm/config")[1]
        assert config["drives"][0]["rate_limiter"] == {
            "bandwidth": {"size": 2 * DISK_RATE, "refill_time": 1000}}, config
        with open(disk, "rb") as f:
            expected = hashlib.sha256(f.read(4 * MIB)).hexdigest()
        assert guest.shell("dd if=/dev/vda bs=1M count=4 iflag=direct 2>/dev/null | "
                           "sha256sum").split()[0] == expected

        # Guest to host through the tx limiter.
        guest.shell(f"dd if=/dev/urandom of=/tmp/out bs=1M count={NET_BYTES // MIB} "
                    "2>/dev/null")
        sent = guest.shell("sha256sum /tmp/out").split()[0]
        time.sleep(1)
        before = tap_bytes(ns, "rx")
        server = host_side(ns, "receive", 5101)
        guest.shell(f"nc {HOST_IP} 5101 < /tmp/out", timeout=240)
        count, digest, seconds = host_result(server)
        wire = tap_bytes(ns, "rx") - before
        assert (count, digest) == (NET_BYTES, sent), (count, digest, sent)
        within((wire - NET_BUCKET) / seconds, NET_RATE, "network tx, 4 MiB")

        # Host to guest through the rx limiter.
        time.sleep(1)
        before = tap_bytes(ns, "tx")
        server = host_side(ns, "send", 5102)
        seconds = timed(guest, f"nc {HOST_IP} 5102 < /dev/null > /tmp/in")
        count, digest, _ = host_result(server)
        wire = tap_bytes(ns, "tx") - before
        got = guest.shell("wc -c < /tmp/in; sha256sum /tmp/in").split()
        assert (int(got[0]), got[1]) == (count, digest), (got, count, digest)
        within((wire - NET_BUCKET) / seconds, NET_RATE, "network rx, 4 MiB")

        samples = parse_prometheus(api.get("/metrics")[1])
        throttled = {k[1]: v for k, v in samples.items()
                     if k[0] == "tern_virtio_rate_limiter_throttled_total"}
        print(f"# throttled events: {throttled}", flush=True)
        assert throttled['{device="virtio-blk",id="data"}'] > 0, throttled
        assert throttled['{device="virtio-net",id="eth0"}'] > 0, throttled
        assert guest.reboot() == 0


if __name__ == "__main__":
    run()
