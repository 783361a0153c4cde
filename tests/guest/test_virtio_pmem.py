#!/usr/bin/python3
"""virtio-pmem under the stock Debian guest (inside the nested test host):
a host file given as Firecracker's pmem section is /dev/pmem0 in the guest
(virtio_pmem + nd_pmem), of the file's size rounded up to 2 MiB; the guest
reads what the host wrote in the file, and what the guest writes and
flushes (fsync: virtio-pmem's flush request) is in the host file after.
A read-only device shows the file, and the guest's writes never reach
it. A rate_limiter of one flush a second holds the guest's flushes back
(counted as throttled) until PATCH /pmem/{id} lifts it."""
import os
import shutil
import sys
import tempfile
import json
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import run, test  # noqa: E402
from apiclient import Api, parse_prometheus  # noqa: E402
import guestlib  # noqa: E402

MiB = 1 << 20
WORK = tempfile.mkdtemp(prefix="tern-pmem-")
FILE_SIZE = 3 * MiB + 100  # not whole 2 MiB pages: the device rounds up


def backing_file(name):
    path = os.path.join(WORK, name)
    with open(path, "wb") as f:
        f.truncate(FILE_SIZE)
        f.write(b"written-by-the-host")
        f.seek(MiB)
        f.write(b"one-MiB-in")
    return path


def config_file(pmem):
    path = os.path.join(WORK, "config.json")
    with open(path, "w") as f:
        json.dump({"boot-source": {"kernel_image_path": guestlib.paths()["GUEST_BZIMAGE"]},
                   "pmem": pmem}, f)
    return path


def load_driver(guest):
    out = guest.shell("modprobe virtio_pci; modprobe virtio_pmem && modprobe nd_pmem "
                      "&& ls /dev/pmem*")
    assert "/dev/pmem0" in out, out + guest.shell("dmesg | tail -20")


def read_at(guest, device, offset, length):
    # echo: the bytes end without a newline, guestlib's marker needs one.
    return guest.shell(f"dd if={device} bs=1 skip={offset} count={length} 2>/dev/null; echo")


@test
def guest_reads_the_host_file_and_its_flushed_writes_reach_it():
    path = backing_file("rw.img")
    conf = config_file([{"id": "pm0", "path_on_host": path, "root_device": False,
                         "read_only": False}])
    sock = os.path.join(WORK, "api.sock")
    with guestlib.Guest(extra=["--config-file", conf, "--api-sock", sock]) as guest:
        load_driver(guest)
        size = int(guest.shell("cat /sys/block/pmem0/size")) * 512
        assert size == 4 * MiB, size
        assert read_at(guest, "/dev/pmem0", 0, 19) == "written-by-the-host"
        assert read_at(guest, "/dev/pmem0", MiB, 10) == "one-MiB-in"
        guest.shell("printf guest-wrote-this | dd of=/dev/pmem0 bs=1 seek=2097152 "
                    "conv=notrunc,fsync 2>/dev/null")
        assert "virtio_pmem" in guest.shell("ls /sys/bus/virtio/drivers")
        # The fsync reached tern as flush requests (counted per device).
        metrics = parse_prometheus(Api(sock).get("/metrics")[1])
        flushes = [v for (name, labels), v in metrics.items()
                   if name == "tern_virtio_requests_total" and "pm0" in labels]
        print(f"# flush requests answered: {flushes}")
        assert flushes and flushes[0] >= 1, flushes
        status = guest.exit_with("poweroff -f")
        assert status == 0, status
    with open(path, "rb") as f:
        f.seek(2 * MiB)
        assert f.read(16) == b"guest-wrote-this"
    assert os.path.getsize(path) == FILE_SIZE


def throttled(sock):
    metrics = parse_prometheus(Api(sock).get("/metrics")[1])
    return sum(v for (name, labels), v in metrics.items()
               if name == "tern_virtio_rate_limiter_throttled_total" and "pm0" in labels)


@test
def rate_limited_flushes_wait_and_a_patch_lifts_the_limit():
    path = backing_file("limited.img")
    limiter = {"ops": {"size": 1, "refill_time": 1000}}
    conf = config_file([{"id": "pm0", "path_on_host": path, "rate_limiter": limiter}])
    sock = os.path.join(WORK, "limited.sock")
    with guestlib.Guest(extra=["--config-file", conf, "--api-sock", sock]) as guest:
        load_driver(guest)
        start = time.monotonic()
        for i in range(3):
            guest.shell(f"printf flush{i} | dd of=/dev/pmem0 bs=1 seek={2 * MiB + 8 * i} "
                        "conv=notrunc,fsync 2>/dev/null")
        took = time.monotonic() - start
        print(f"# 3 limited fsyncs took {took:.1f} s, throttled {throttled(sock)}")
        # One flush a second: at least the second and third waited.
        assert took >= 1.5, took
        assert throttled(sock) >= 1
        api = Api(sock)
        api.ok("PATCH", "/pmem/pm0", {"id": "pm0", "rate_limiter": {
            "ops": {"size": 0, "refill_time": 0}}})
        assert "rate_limiter" not in api.get("/vm/config")[1]["pmem"][0]
        guest.shell(f"printf after | dd of=/dev/pmem0 bs=1 seek={3 * MiB} "
                    "conv=notrunc,fsync 2>/dev/null")
        assert guest.exit_with("poweroff -f") == 0
    with open(path, "rb") as f:
        f.seek(2 * MiB)
        assert f.read(22) == b"flush0\0\0flush1\0\0flush2"
        f.seek(3 * MiB)
        assert f.read(5) == b"after"


@test
def read_only_device_never_writes_the_file():
    path = backing_file("ro.img")
    with open(path, "rb") as f:
        before = f.read()
    # The command line's spelling this time (--pmem, as the document's pmem).
    with guestlib.Guest(extra=["--pmem", f"path={path},id=pm0,readonly"]) as guest:
        load_driver(guest)
        assert read_at(guest, "/dev/pmem0", 0, 19) == "written-by-the-host"
        guest.shell("printf nope | dd of=/dev/pmem0 bs=1 conv=notrunc,fsync 2>/dev/null")
        assert guest.shell("echo $((6 * 7))") == "42"
        guest.exit_with("poweroff -f")
    with open(path, "rb") as f:
        assert f.read() == before


if __name__ == "__main__":
    try:
        run()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
