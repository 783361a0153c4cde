#!/usr/bin/python3
"""virtio-net under the stock Debian guest kernel, inside the nested test host
(tests/run starts it there through testhost/run.sh). Each test makes its own
network namespace with tap interfaces in it and runs tern there, so nothing
outside the namespace is touched; the namespace and its taps are deleted at
the end, also on failure.

Proven here: the guest's virtio_net driver binds the device and gets the MAC
tern gives it, ping works both ways, 4 MiB of random data crosses by TCP in
each direction with matching SHA-256 (busybox nc in the guest, a Python
socket on the host side), and two interfaces work at once."""
import contextlib
import hashlib
import os
import re
import subprocess
import sys
import textwrap
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from tap import run, test  # noqa: E402
import guestlib  # noqa: E402

TRANSFER_BYTES = 4 * 1024 * 1024
TERN_WARNING = re.compile(r"tern: \[[^\]]*\] (warning|error)")
TRANSFER_TIMEOUT = 300  # seconds; everything is emulated in the test host


def sh(*argv, check=True, timeout=120):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@contextlib.contextmanager
def netns_with_taps(taps):
    """A fresh network namespace holding tap interfaces; taps is a list of
    (name, host address/prefix). Yields the command prefix that runs a
    command inside it. The namespace lives as long as a holder process
    (unshare --net sleep) and whatever runs in it: no /run/netns file, so
    nothing is left on the shared file system. At the end the taps are
    deleted and the holder killed, also on failure."""
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
        for name, address in taps:
            sh(*ns, "ip", "tuntap", "add", name, "mode", "tap")
            sh(*ns, "ip", "addr", "add", address, "dev", name)
            sh(*ns, "ip", "link", "set", name, "up")
        yield ns
    finally:
        for name, _ in taps:
            sh(*ns, "ip", "link", "del", name, check=False)
        holder.kill()
        holder.wait(timeout=10)


def net_guest(ns, nets, cpus=1, transport=None):
    """One vCPU unless a test asks for more: two-vCPU guests are the ones
    that die or freeze the emulated test host most (README, "Known open
    problem"); the first test keeps two, for virtio-net on an SMP guest."""
    extra = ["--transport", transport] if transport else []
    for spec in nets:
        extra += ["--net", spec]
    return guestlib.Guest(cpus=cpus, memory="256M", extra=extra,
                          wrapper=ns)


def guest_iface_with_mac(guest, mac):
    out = guest.shell("for i in /sys/class/net/eth*; do echo ${i##*/} $(cat $i/address); done")
    for line in out.splitlines():
        name, _, address = line.partition(" ")
        if address.strip() == mac:
            return name
    raise AssertionError(f"no guest interface with MAC {mac}: {out!r}")


def load_driver(guest, transport="virtio_pci"):
    # The serial console has no size: busybox wraps typed lines at 80
    # columns, which would split the shell() marker in long commands.
    guest.shell("stty cols 4000")
    out = guest.shell(f"modprobe {transport} && modprobe virtio_net && echo loaded")
    assert out.endswith("loaded"), out
    # The driver probes asynchronously: wait for the interfaces.
    guest.shell("for i in $(seq 50); do ls /sys/class/net | grep -q eth && break; sleep 0.2; "
                "done")


def configure(guest, iface, address):
    out = guest.shell(f"ip link set {iface} up && ip addr add {address} dev {iface} && echo up")
    assert out.endswith("up"), out


def ping_ok(guest, address):
    out = guest.shell(f"ping -c 3 -W 5 {address}", timeout=60)
    assert re.search(r"3 packets transmitted, 3 (packets )?received", out), out


HOST_SERVER = textwrap.dedent("""
    import hashlib, os, socket, sys
    mode, address, port, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    fill = sys.argv[5] if len(sys.argv) > 5 else "random"
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((address, port))
    srv.listen(1)
    srv.settimeout(%d)
    print("LISTENING", flush=True)
    conn, _ = srv.accept()
    conn.settimeout(%d)
    digest, count = hashlib.sha256(), 0
    if mode == "receive":
        while True:
            data = conn.recv(1 << 16)
            if not data:
                break
            digest.update(data)
            count += len(data)
    else:
        chunk = 1 << 20
        while count < size:
            data = os.urandom(min(chunk, size - count))
            digest.update(data)
            count += len(data)
            conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)
    conn.close()
    print(count, digest.hexdigest(), flush=True)
""" % (TRANSFER_TIMEOUT, TRANSFER_TIMEOUT))


def start_host_server(ns, mode, address, port, size=TRANSFER_BYTES):
    proc = subprocess.Popen(ns + [sys.executable, "-c", HOST_SERVER,
                                  mode, address, str(port), str(size)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "LISTENING", (line, proc.stderr.read())
    return proc


def finish_host_server(proc):
    out, err = proc.communicate(timeout=TRANSFER_TIMEOUT)
    assert proc.returncode == 0, err
    count, digest = out.split()
    return int(count), digest


def tcp_both_ways(guest, ns, host_address, tso_tap=None):
    """4 MiB each way, hashed on both sides. With tso_tap, a frame above
    the MTU must cross that tap each way (the TSO offloads at work)."""
    guest.shell(f"dd if=/dev/urandom of=/tmp/out bs=1M count={TRANSFER_BYTES >> 20} 2>/dev/null")
    sent = guest.shell("sha256sum /tmp/out").split()[0]
    watcher = start_frame_watcher(ns, tso_tap, TRANSFER_TIMEOUT, "in") if tso_tap else None
    server = start_host_server(ns, "receive", host_address, 5001)
    started = time.monotonic()
    guest.shell(f"nc {host_address} 5001 < /tmp/out", timeout=TRANSFER_TIMEOUT)
    print(f"# guest to host: 4 MiB in {time.monotonic() - started:.1f} s", flush=True)
    count, digest = finish_host_server(server)
    assert (count, digest) == (TRANSFER_BYTES, sent), (count, digest, sent)
    if watcher:
        largest = largest_frame(watcher, TRANSFER_TIMEOUT)
        print(f"# guest to host: largest frame {largest}", flush=True)
        assert largest > LARGEST_FRAME_WITHOUT_TSO, largest

    watcher = start_frame_watcher(ns, tso_tap, TRANSFER_TIMEOUT, "out") if tso_tap else None
    server = start_host_server(ns, "send", host_address, 5002)
    started = time.monotonic()
    guest.shell(f"nc {host_address} 5002 < /dev/null > /tmp/in", timeout=TRANSFER_TIMEOUT)
    print(f"# host to guest: 4 MiB in {time.monotonic() - started:.1f} s", flush=True)
    count, digest = finish_host_server(server)
    got = guest.shell("wc -c < /tmp/in; sha256sum /tmp/in").split()
    assert (int(got[0]), got[1]) == (count, digest), (got, count, digest)
    assert count == TRANSFER_BYTES
    if watcher:
        largest = largest_frame(watcher, TRANSFER_TIMEOUT)
        print(f"# host to guest: largest frame {largest}", flush=True)
        assert largest > LARGEST_FRAME_WITHOUT_TSO, largest


# 16 MiB: still 16 times what the guest's receive ring holds. The 64 MiB
# this test streamed until 2026-12-03 kept the emulated test host's vCPU
# in the stream long enough that its CPU state broke in about half of full
# CI runs (README, "Known open problem": a guest CR3 with bit 32 set, an
# interrupt taken on a user stack); tests/diagnostics/guest_stalls.py
# --workload net streams 64 MiB for that investigation.
STREAM_MIB = 16
# Without segmentation offloads no frame exceeds the MTU plus the Ethernet
# header, so one frame above it proves TSO frames crossed. How many do
# varies with the guest's TCP pacing in the emulated test host (mean frames
# of 1.2 to 41 KB seen), so the mean is printed, not asserted.
LARGEST_FRAME_WITHOUT_TSO = 1500 + 14

# Watches the frames crossing the tap one way, "in" (the guest sent them)
# or "out" (the host sends them to the guest), and prints the largest one
# seen: as soon as one is above the MTU, or at the deadline. A packet
# socket sees a TSO frame whole: a guest's before the host segments it, the
# host's as tern must take it (the tap only gets TSO frames when tern told
# it, TUNSETOFFLOAD, that the guest takes them).
FRAME_WATCHER = textwrap.dedent("""
    import os, signal, socket, sys, time
    tap, limit, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
    outgoing = sys.argv[4] == "out"
    largest = 0

    def report(*_):
        print(largest, flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, report)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.bind((tap, 0))
    sock.settimeout(0.5)
    print("WATCHING", flush=True)
    while largest <= limit and time.monotonic() < deadline:
        try:
            frame, address = sock.recvfrom(1 << 17)
        except socket.timeout:
            continue
        if (address[2] == socket.PACKET_OUTGOING) == outgoing:
            largest = max(largest, len(frame))
    report()
""")


def start_frame_watcher(ns, tap, seconds, direction):
    proc = subprocess.Popen(ns + [sys.executable, "-c", FRAME_WATCHER, tap,
                                  str(LARGEST_FRAME_WITHOUT_TSO), str(seconds), direction],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "WATCHING", (line, proc.stderr.read())
    return proc


def largest_frame(watcher, seconds):
    if watcher.poll() is None:
        watcher.terminate()
    out, err = watcher.communicate(timeout=seconds + 30)
    assert watcher.returncode == 0, err
    return int(out.split()[-1])


def stream_both_ways(guest, ns, host_address, iface, tap):
    """STREAM_MIB each way without files, hashed on the fly: long enough for the
    guest to run out of receive buffers. Frames above the 1500-byte MTU on
    the tap prove the TSO offloads: the guest sends segments of up to 64 KiB
    (HOST_TSO4) and receives them whole in mergeable buffers (GUEST_TSO4)."""
    before = tap_rx(ns, tap)
    watcher = start_frame_watcher(ns, tap, TRANSFER_TIMEOUT, "in")
    server = start_host_server(ns, "receive", host_address, 5003, STREAM_MIB << 20)
    started = time.monotonic()
    guest.shell(f"dd if=/dev/zero bs=1M count={STREAM_MIB} 2>/dev/null | nc {host_address} 5003",
                timeout=TRANSFER_TIMEOUT)
    elapsed = time.monotonic() - started
    count, digest = finish_host_server(server)
    assert count == STREAM_MIB << 20, count
    assert digest == hashlib.sha256(bytes(STREAM_MIB << 20)).hexdigest()
    sent_frame = mean_frame(before, tap_rx(ns, tap))
    largest = largest_frame(watcher, TRANSFER_TIMEOUT)
    print(f"# guest to host: {STREAM_MIB} MiB streamed in {elapsed:.1f} s, "
          f"{sent_frame:.0f} bytes per frame, largest seen {largest}", flush=True)
    assert largest > LARGEST_FRAME_WITHOUT_TSO, largest

    before = guest_rx(guest, iface)
    watcher = start_frame_watcher(ns, tap, TRANSFER_TIMEOUT, "out")
    server = start_host_server(ns, "send", host_address, 5004, STREAM_MIB << 20)
    started = time.monotonic()
    got = guest.shell(f"nc {host_address} 5004 < /dev/null | sha256sum",
                      timeout=TRANSFER_TIMEOUT).split()[0]
    elapsed = time.monotonic() - started
    count, digest = finish_host_server(server)
    assert (count, got) == (STREAM_MIB << 20, digest), (count, got, digest)
    received_frame = mean_frame(before, guest_rx(guest, iface))
    largest = largest_frame(watcher, TRANSFER_TIMEOUT)
    print(f"# host to guest: {STREAM_MIB} MiB streamed in {elapsed:.1f} s, "
          f"{received_frame:.0f} bytes per frame, largest seen {largest}", flush=True)
    assert largest > LARGEST_FRAME_WITHOUT_TSO, largest


def rx_counters(proc_net_dev, iface):
    """(bytes, packets) an interface received, from /proc/net/dev text."""
    for line in proc_net_dev.splitlines():
        name, _, counters = line.partition(":")
        if name.strip() == iface:
            fields = counters.split()
            return int(fields[0]), int(fields[1])
    raise AssertionError(f"{iface} not in /proc/net/dev")


def tap_rx(ns, tap):
    """What the host side of a tap received from the guest."""
    return rx_counters(sh(*ns, "cat", "/proc/net/dev").stdout, tap)


def tap_rx_packets(ns, tap):
    return tap_rx(ns, tap)[1]


def guest_rx(guest, iface):
    return rx_counters(guest.shell("cat /proc/net/dev"), iface)


def mean_frame(before, after):
    return (after[0] - before[0]) / max(1, after[1] - before[1])


def check_tern_log(guest):
    """No warning from tern (no ring error, no NEEDS_RESET), and every queue
    kick came through KVM's ioeventfd, not an MMIO exit."""
    assert not TERN_WARNING.search(guest.transcript()), TERN_WARNING.search(guest.transcript())
    assert "by MMIO exit" not in guest.transcript()


@test
def one_interface_pings_and_moves_data_each_way():
    mac = "52:54:00:12:34:56"
    with netns_with_taps([("tap0", "10.0.2.1/24")]) as ns:
        with net_guest(ns, [f"tap=tap0,mac={mac}"], cpus=2) as guest:
            load_driver(guest)
            iface = guest_iface_with_mac(guest, mac)
            configure(guest, iface, "10.0.2.15/24")
            ping_ok(guest, "10.0.2.1")
            host_ping = sh(*ns, "busybox", "ping", "-c", "2", "-W", "5",
                           "10.0.2.15", check=False)
            assert host_ping.returncode == 0, host_ping.stdout + host_ping.stderr
            # The driver took the offloads tern offered.
            feats = guest.shell(f"cat /sys/class/net/{iface}/device/features")
            for bit in (0, 1, 5, 7, 11, 15, 16):  # CSUM GUEST_CSUM MAC GUEST_TSO4
                assert feats[bit] == "1", (bit, feats)  # HOST_TSO4 MRG_RXBUF STATUS
            tcp_both_ways(guest, ns, "10.0.2.1", tso_tap="tap0")
            check_tern_log(guest)
            assert guest.reboot() == 0


# Guests died while sending this stream to the host in the emulated test
# host (tern's in 4 of 7 runs on 2026-12-01/02, QEMU's own virtio-net-pci
# guest in 1 of 4: README, known problems). With the test host and guest
# kernel 6.1.0-57 tern's 2-vCPU guest finished 15 of 16 runs
# (tests/diagnostics/guest_stalls.py --workload net), so the stream runs in
# the suite again: a recurrence fails with the test host's record of the
# triple fault (testhost/kvm-trace.sh) or tern's vCPU report.
@test
def one_interface_streams_16_mib_each_way():
    mac = "52:54:00:12:34:56"
    with netns_with_taps([("tap0", "10.0.2.1/24")]) as ns:
        with net_guest(ns, [f"tap=tap0,mac={mac}"]) as guest:
            load_driver(guest)
            iface = guest_iface_with_mac(guest, mac)
            configure(guest, iface, "10.0.2.15/24")
            stream_both_ways(guest, ns, "10.0.2.1", iface, "tap0")
            check_tern_log(guest)
            assert guest.reboot() == 0


@test
def virtio_mmio_transport_pings_and_moves_data():
    """The same device behind --transport mmio (found through the DSDT)."""
    mac = "52:54:00:12:34:57"
    with netns_with_taps([("tap0", "10.0.2.1/24")]) as ns:
        with net_guest(ns, [f"tap=tap0,mac={mac}"], transport="mmio") as guest:
            load_driver(guest, "virtio_mmio")
            iface = guest_iface_with_mac(guest, mac)
            configure(guest, iface, "10.0.2.15/24")
            ping_ok(guest, "10.0.2.1")
            tcp_both_ways(guest, ns, "10.0.2.1")
            check_tern_log(guest)
            assert guest.reboot() == 0


@test
def derived_mac_is_stable_across_runs():
    with netns_with_taps([("tap0", "10.0.2.1/24")]) as ns:
        macs = []
        for _ in range(2):
            with net_guest(ns, ["tap=tap0"], cpus=1) as guest:
                load_driver(guest)
                macs.append(guest.shell("cat /sys/class/net/eth0/address"))
                assert guest.reboot() == 0
    assert macs[0] == macs[1] and macs[0].startswith("52:54:00:"), macs


@test
def two_interfaces_at_once():
    macs = ("52:54:00:00:00:0a", "52:54:00:00:00:0b")
    with netns_with_taps([("tap0", "10.0.2.1/24"), ("tap1", "10.0.3.1/24")]) as ns:
        with net_guest(ns, [f"tap=tap0,mac={macs[0]}", f"tap=tap1,mac={macs[1]}"]) as guest:
            load_driver(guest)
            guest.shell("for i in $(seq 50); do [ -e /sys/class/net/eth1 ] && break; sleep 0.2; "
                        "done")
            first = guest_iface_with_mac(guest, macs[0])
            second = guest_iface_with_mac(guest, macs[1])
            configure(guest, first, "10.0.2.15/24")
            configure(guest, second, "10.0.3.15/24")
            ping_ok(guest, "10.0.2.1")
            ping_ok(guest, "10.0.3.1")
            # Traffic really goes through the right tap.
            # (/proc/net/dev is the reader's namespace's; /sys is not.)
            assert min(tap_rx_packets(ns, "tap0"), tap_rx_packets(ns, "tap1")) >= 3
            assert guest.reboot() == 0


@test
def busy_tap_is_a_clear_start_up_error():
    with netns_with_taps([("tap0", "10.0.2.1/24")]) as ns:
        with net_guest(ns, ["tap=tap0"], cpus=1) as guest:
            p = guestlib.paths()
            second = sh(*ns, guestlib.TERN, "run", "--kernel",
                        p["GUEST_BZIMAGE"], "--serial", "none", "--net", "tap=tap0",
                        check=False)
            assert second.returncode == 1, second
            assert "tap0 is busy" in second.stderr, second.stderr
            assert guest.reboot() == 0


def setup():
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm: these tests run inside the test host (testhost/run.sh)"
    if os.environ.get("TERN_IN_TESTHOST") != "1":
        return "network tests run only inside the test host (testhost/run.sh)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun in the test host"
    return None


if __name__ == "__main__":
    run(setup)
