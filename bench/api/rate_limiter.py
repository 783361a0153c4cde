#!/usr/bin/python3
"""Rate-limiter accuracy: what the guest gets against what the limiter
allows, for several limits set by PATCH on one running guest. Disk:
O_DIRECT reads of a drive at 1, 2, 4 and 8 MiB/s, each 4 s worth at the
limit; network: 4 MiB sent
(tx) and received (rx) over TCP at 512 KiB/s and 2 MiB/s, bytes counted on
the tap (as the limiter counts frames). Each bucket starts full, so the
rate is what moved beyond the bucket's size over the time taken (as
tests/guest/test_rate_limiter.py, which asserts 10% on two of these).

Runs in the nested test host (no /dev/kvm here: it starts the test host
itself). Firecracker publishes no accuracy figure; the error against the
configured rate is the figure.

usage: bench/api/rate_limiter.py"""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
sys.path.insert(0, os.path.join(ROOT, "tests", "guest"))
import guestlib  # noqa: E402
from apiclient import Api, wait_for_socket  # noqa: E402
import test_rate_limiter as rl  # noqa: E402

MIB = 1 << 20
DISK_RATES = (1, 2, 4, 8)  # MiB/s
NET_RATES = (512 << 10, 2 * MIB)  # bytes/s; buckets of half a second


def bucket(rate):
    return {"bandwidth": {"size": rate // 2, "refill_time": 500}}


def disk_rate(guest, skip_mib, rate):
    """Bytes per second beyond the (full) bucket for a read of 4 s worth."""
    size = 4 * rate
    seconds = rl.timed(guest, f"dd if=/dev/vda of=/dev/null bs=1M count={size // MIB} "
                              f"skip={skip_mib} iflag=direct 2>/dev/null")
    return (size - rate) / seconds


def net_rates(guest, ns, port):
    """(tx, rx) bytes per second beyond the bucket, 4 MiB each way."""
    guest.shell(f"dd if=/dev/urandom of=/tmp/out bs=1M count={rl.NET_BYTES // MIB} "
                "2>/dev/null")
    time.sleep(1)
    before = rl.tap_bytes(ns, "rx")
    server = rl.host_side(ns, "receive", port)
    guest.shell(f"nc {rl.HOST_IP} {port} < /tmp/out", timeout=240)
    count, _, seconds = rl.host_result(server)
    assert count == rl.NET_BYTES, count
    tx = (rl.tap_bytes(ns, "rx") - before, seconds)
    time.sleep(1)
    before = rl.tap_bytes(ns, "tx")
    server = rl.host_side(ns, "send", port + 1)
    seconds = rl.timed(guest, f"nc {rl.HOST_IP} {port + 1} < /dev/null > /tmp/in")
    rl.host_result(server)
    rx = (rl.tap_bytes(ns, "tx") - before, seconds)
    return tx, rx


def inner():
    disk = os.path.join(rl.WORK, "data.img")
    with open(disk, "wb") as f:
        f.write(os.urandom(4 * sum(DISK_RATES) * MIB))
    sock = os.path.join(rl.WORK, "api.sock")
    rows = []
    with rl.netns_with_tap() as ns, \
            guestlib.Guest(memory="256M", wrapper=ns,
                           extra=["--config-file", rl.write_config(disk),
                                  "--api-sock", sock]) as guest:
        api = Api(sock)
        wait_for_socket(sock)
        rl.bring_up_devices(guest)
        skip = 0
        for mib in DISK_RATES:
            rate = mib * MIB
            # A bucket of a second's worth, at least the guest's 1 MiB
            # requests: one larger than the bucket passes whole and its
            # excess is waited for after it (as Firecracker), which a read
            # ending with it would not show.
            api.ok("PATCH", "/drives/data", {"drive_id": "data", "rate_limiter": {
                "bandwidth": {"size": rate, "refill_time": 1000}}})
            time.sleep(0.5)
            rows.append((f"disk read, {mib} MiB/s", rate, disk_rate(guest, skip, rate)))
            skip += 4 * mib
        for i, rate in enumerate(NET_RATES):
            api.ok("PATCH", "/network-interfaces/eth0", {
                "iface_id": "eth0", "rx_rate_limiter": bucket(rate),
                "tx_rate_limiter": bucket(rate)})
            (tx_wire, tx_s), (rx_wire, rx_s) = net_rates(guest, ns, 5200 + 2 * i)
            rows.append((f"network tx, {rate >> 10} KiB/s", rate,
                         (tx_wire - rate // 2) / tx_s))
            rows.append((f"network rx, {rate >> 10} KiB/s", rate,
                         (rx_wire - rate // 2) / rx_s))
        assert guest.reboot() == 0
    print("Rate-limiter accuracy (bytes beyond the full bucket / seconds taken)")
    print("| limit | configured KiB/s | measured KiB/s | error |")
    print("|---|---|---|---|")
    for name, limit, got in rows:
        print(f"| {name} | {limit / 1024:.0f} | {got / 1024:.0f} | "
              f"{(got - limit) / limit:+.1%} |")
    return 0


def main():
    if "--inner" in sys.argv or os.path.exists("/dev/kvm"):
        return inner()
    subprocess.run(["make", "-s", "build/tern"], cwd=ROOT, check=True)
    return subprocess.run(["testhost/run.sh", "--timeout", "1500", "--",
                           "/usr/bin/python3", "-u", os.path.abspath(__file__), "--inner"],
                          cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
